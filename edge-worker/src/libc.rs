//! The C library's memory and sorting functions that libwebp and libaom need on
//! `wasm32-unknown-unknown`, which has no libc: `malloc`, `calloc`, `realloc`, `free`, `qsort`
//! and `bsearch` (Debian's wasi-libc provides the headers the C code is compiled against, not
//! the implementations; the rest of libaom's needs are in `libc_aom.rs`). Memory comes from Rust's global
//! allocator, so the C and Rust halves share one heap and one accounting.
//!
//! Every block carries a 16-byte header holding its requested size, because `free` is not told
//! the size and Rust's allocator must be given the layout back. 16 bytes keeps the returned
//! pointer aligned to 16, the alignment of `max_align_t` that C allocators promise.
#![allow(unsafe_code)]

use std::alloc::{self, Layout};
use std::ffi::{c_int, c_void};
use std::ptr;

const HEADER: usize = 16;

fn layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER)?, HEADER).ok()
}

/// Allocates `size` bytes (zeroed when `zeroed`), returning null when the size overflows or the
/// allocator fails, as C callers expect.
fn allocate(size: usize, zeroed: bool) -> *mut c_void {
    let Some(layout) = layout(size) else {
        return ptr::null_mut();
    };
    // SAFETY: `layout` has a non-zero size (at least HEADER bytes), as `alloc` requires.
    let base = unsafe {
        if zeroed {
            alloc::alloc_zeroed(layout)
        } else {
            alloc::alloc(layout)
        }
    };
    if base.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: `base` is valid for `HEADER + size` bytes and aligned to 16, so writing one
    // `usize` at its start is in bounds and aligned, and `base + HEADER` is within the block.
    unsafe {
        base.cast::<usize>().write(size);
        base.add(HEADER).cast()
    }
}

/// C `malloc`.
#[no_mangle]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    allocate(size, false)
}

/// C `calloc`: `n` elements of `size` bytes, zeroed; null when the product overflows.
#[no_mangle]
pub extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        Some(total) => allocate(total, true),
        None => ptr::null_mut(),
    }
}

/// C `realloc`: a new block of `size` bytes holding the old block's bytes (as many as fit);
/// `realloc(NULL, n)` is `malloc(n)`. On failure the old block is left alone and null returned.
///
/// # Safety
/// `p` is null or a live pointer from this module's allocators (C's contract).
#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return allocate(size, false);
    }
    // SAFETY: by the contract, `p` is `base + HEADER` of a live block whose header holds its size.
    let old = unsafe { p.cast::<u8>().sub(HEADER).cast::<usize>().read() };
    let new = allocate(size, false);
    if new.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: both blocks are live and distinct, `old` and `size` bytes long respectively.
    unsafe {
        ptr::copy_nonoverlapping(p.cast::<u8>(), new.cast::<u8>(), old.min(size));
        free(p);
    }
    new
}

/// C `free`.
///
/// # Safety
/// `p` is null or a pointer returned by [`malloc`] or [`calloc`] and not freed since: the C
/// contract of `free`, which libwebp honours.
#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: by the contract above, `p` is `base + HEADER` for a live block whose header holds
    // the size it was allocated with, so `layout(size)` is exactly the allocation's layout
    // (it succeeded when the block was allocated).
    unsafe {
        let base = p.cast::<u8>().sub(HEADER);
        let size = base.cast::<usize>().read();
        if let Some(layout) = layout(size) {
            alloc::dealloc(base, layout);
        }
    }
}

type Compare = unsafe extern "C" fn(*const c_void, *const c_void) -> c_int;

/// C `qsort`: sorts `n` elements of `size` bytes at `base` by `compare`.
///
/// # Safety
/// `base` points to `n * size` initialised, writable bytes and `compare` is a valid comparison
/// function for them (C's contract).
#[no_mangle]
pub unsafe extern "C" fn qsort(base: *mut c_void, n: usize, size: usize, compare: Compare) {
    if n < 2 || size == 0 {
        return;
    }
    let Some(total) = n.checked_mul(size) else {
        return;
    };
    let base = base.cast::<u8>();
    // Sort indices, comparing the elements where they lie, then permute once. `sort_by` is a
    // stable merge sort that never calls the comparator with an element outside the array.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        // SAFETY: a, b < n, so both pointers address whole elements inside the array, which is
        // not modified while sorting.
        let r = unsafe { compare(base.add(a * size).cast(), base.add(b * size).cast()) };
        r.cmp(&0)
    });
    let mut sorted = Vec::with_capacity(total);
    for &i in &order {
        // SAFETY: element `i` is `size` readable bytes inside the array (i < n).
        sorted.extend_from_slice(unsafe { std::slice::from_raw_parts(base.add(i * size), size) });
    }
    // SAFETY: `sorted` holds exactly `total` bytes and `base` is writable for `total` bytes; the
    // two buffers do not overlap (`sorted` is a fresh allocation).
    unsafe { ptr::copy_nonoverlapping(sorted.as_ptr(), base, total) };
}

/// C `bsearch`: finds an element equal to `key` in `n` sorted elements of `size` bytes.
///
/// # Safety
/// `base` points to `n * size` readable bytes sorted by `compare`, and `key` is valid for
/// `compare` (C's contract).
#[no_mangle]
pub unsafe extern "C" fn bsearch(
    key: *const c_void,
    base: *const c_void,
    n: usize,
    size: usize,
    compare: Compare,
) -> *mut c_void {
    let base = base.cast::<u8>();
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        // SAFETY: mid < n, so the element pointer is inside the array.
        let elem = unsafe { base.add(mid * size) };
        // SAFETY: `key` and `elem` are valid for `compare` by the contract above.
        match unsafe { compare(key, elem.cast()) } {
            0 => return elem.cast_mut().cast(),
            r if r < 0 => hi = mid,
            _ => lo = mid + 1,
        }
    }
    ptr::null_mut()
}
