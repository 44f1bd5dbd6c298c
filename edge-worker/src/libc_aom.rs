//! The rest of the C library libaom's encoder links against on `wasm32-unknown-unknown`
//! (memory functions are in `libc.rs`; `memcpy`, `strlen` and the maths functions come from
//! Rust's compiler-builtins). libaom calls these only at the edges of its work:
//!
//! - string and number parsing (`strcmp`, `strncmp`, `strtol`, `strtoul`) for its
//!   key/value option API, which Refract does not use, and `lrint` in rate control;
//! - `rand` for a film-grain seed (film grain is off);
//! - `snprintf`/`vsnprintf` to format error details, and stdio (`fopen`, `fprintf`, …) for
//!   first-pass statistics files and debug dumps, which are never enabled here: `fopen` fails,
//!   so no `FILE` exists and the other stdio calls are unreachable (they fail too).
//!
//! **Variadic functions.** Stable Rust cannot define C-variadic functions, but on wasm32 the
//! C ABI (clang's WebAssembly lowering, as emscripten and wasi-libc rely on) passes the
//! variadic arguments in a buffer in linear memory and hands the callee one extra `i32`
//! pointer to it: `int snprintf(char *, size_t, const char *, ...)` is the wasm function
//! `(i32, i32, i32, i32) -> i32`. Each function below takes that pointer as its last
//! parameter, so its wasm signature is exactly the caller's (wasm-ld refuses a mismatch), and
//! ignores it: error details are copied from the format string unformatted.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_long, c_ulong, c_void};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

/// C `strcmp`.
///
/// # Safety
/// `a` and `b` are NUL-terminated strings (C's contract).
#[no_mangle]
pub unsafe extern "C" fn strcmp(a: *const c_char, b: *const c_char) -> c_int {
    // SAFETY: forwarded contract; usize::MAX never limits a NUL-terminated comparison.
    unsafe { strncmp(a, b, usize::MAX) }
}

/// C `strncmp`: compares at most `n` bytes, as unsigned chars.
///
/// # Safety
/// `a` and `b` are readable up to their NUL or `n` bytes (C's contract).
#[no_mangle]
pub unsafe extern "C" fn strncmp(a: *const c_char, b: *const c_char, n: usize) -> c_int {
    for i in 0..n {
        // SAFETY: i is before both strings' terminators (the loop stops at the first NUL).
        let (x, y) = unsafe { (*a.add(i) as u8, *b.add(i) as u8) };
        if x != y || x == 0 {
            return c_int::from(x) - c_int::from(y);
        }
    }
    0
}

/// Parses an integer as C's `strtoul` does (whitespace, sign, base 0/8/10/16 with `0x`), with
/// the magnitude saturated at `u64::MAX`; sets `*end` past the digits (or to `s` when none).
///
/// # Safety
/// `s` is a NUL-terminated string; `end` is null or writable.
unsafe fn parse(s: *const c_char, end: *mut *mut c_char, base: c_int) -> (bool, u64) {
    // SAFETY: every read below stops at the terminating NUL, which is not a digit or sign.
    let at = |i: usize| unsafe { *s.add(i) as u8 };
    let mut i = 0;
    while matches!(at(i), b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let negative = at(i) == b'-';
    if matches!(at(i), b'-' | b'+') {
        i += 1;
    }
    let mut base = base as u32;
    if (base == 0 || base == 16) && at(i) == b'0' && matches!(at(i + 1), b'x' | b'X') {
        base = 16;
        i += 2;
    } else if base == 0 {
        base = if at(i) == b'0' { 8 } else { 10 };
    }
    let (start, mut value) = (i, 0u64);
    while let Some(d) = (at(i) as char).to_digit(36).filter(|&d| d < base) {
        value = value
            .saturating_mul(u64::from(base))
            .saturating_add(u64::from(d));
        i += 1;
    }
    if !end.is_null() {
        // SAFETY: `end` is writable (contract); the pointer written stays inside `s`.
        unsafe { *end = s.add(if i == start { 0 } else { i }).cast_mut() };
    }
    (negative, value)
}

/// C `strtol` (saturating at `LONG_MIN`/`LONG_MAX`).
///
/// # Safety
/// As [`parse`].
#[no_mangle]
pub unsafe extern "C" fn strtol(s: *const c_char, end: *mut *mut c_char, base: c_int) -> c_long {
    // SAFETY: forwarded contract.
    let (negative, v) = unsafe { parse(s, end, base) };
    if negative {
        c_long::try_from(v).map_or(c_long::MIN, |v| -v)
    } else {
        c_long::try_from(v).unwrap_or(c_long::MAX)
    }
}

/// C `strtoul` (a negative number wraps, as C specifies).
///
/// # Safety
/// As [`parse`].
#[no_mangle]
pub unsafe extern "C" fn strtoul(s: *const c_char, end: *mut *mut c_char, base: c_int) -> c_ulong {
    // SAFETY: forwarded contract.
    let (negative, v) = unsafe { parse(s, end, base) };
    let v = c_ulong::try_from(v).unwrap_or(c_ulong::MAX);
    if negative {
        v.wrapping_neg()
    } else {
        v
    }
}

/// C `lrint`: rounds to the nearest integer, ties to even (the default rounding mode).
#[no_mangle]
pub extern "C" fn lrint(x: f64) -> c_long {
    x.round_ties_even() as c_long
}

static SEED: AtomicU32 = AtomicU32::new(1);

/// C `rand`: a linear congruential generator (the C standard's example constants), 0..=32767.
#[no_mangle]
pub extern "C" fn rand() -> c_int {
    let next = SEED
        .load(Ordering::Relaxed)
        .wrapping_mul(1_103_515_245)
        .wrapping_add(12_345);
    SEED.store(next, Ordering::Relaxed);
    ((next / 65_536) % 32_768) as c_int
}

/// C `vsnprintf`, unformatted: copies the format string itself (truncated, NUL-terminated).
///
/// # Safety
/// `buf` is writable for `n` bytes (or `n` is 0); `fmt` is NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn vsnprintf(
    buf: *mut c_char,
    n: usize,
    fmt: *const c_char,
    _args: *mut c_void,
) -> c_int {
    let mut len = 0;
    // SAFETY: reads stop at fmt's NUL; writes stay below n − 1 and the NUL goes at most at n − 1.
    unsafe {
        while *fmt.add(len) != 0 {
            if len + 1 < n {
                *buf.add(len) = *fmt.add(len);
            }
            len += 1;
        }
        if n > 0 {
            *buf.add(len.min(n - 1)) = 0;
        }
    }
    c_int::try_from(len).unwrap_or(c_int::MAX)
}

/// C `snprintf` (variadic; see the module documentation).
///
/// # Safety
/// As [`vsnprintf`].
#[no_mangle]
pub unsafe extern "C" fn snprintf(
    buf: *mut c_char,
    n: usize,
    fmt: *const c_char,
    args: *mut c_void,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { vsnprintf(buf, n, fmt, args) }
}

/// C `fopen`: there are no files at the edge.
#[no_mangle]
pub extern "C" fn fopen(_path: *const c_char, _mode: *const c_char) -> *mut c_void {
    ptr::null_mut()
}

/// C `fclose`, `feof`, `fputc`, `fseek`: fail (no `FILE` can exist, `fopen` never gives one).
#[no_mangle]
pub extern "C" fn fclose(_f: *mut c_void) -> c_int {
    -1
}

/// See [`fclose`].
#[no_mangle]
pub extern "C" fn feof(_f: *mut c_void) -> c_int {
    1
}

/// See [`fclose`].
#[no_mangle]
pub extern "C" fn fputc(_c: c_int, _f: *mut c_void) -> c_int {
    -1
}

/// See [`fclose`].
#[no_mangle]
pub extern "C" fn fseek(_f: *mut c_void, _offset: c_long, _whence: c_int) -> c_int {
    -1
}

/// C `fread`/`fwrite`: nothing is read or written.
#[no_mangle]
pub extern "C" fn fread(_p: *mut c_void, _size: usize, _n: usize, _f: *mut c_void) -> usize {
    0
}

/// See [`fread`].
#[no_mangle]
pub extern "C" fn fwrite(_p: *const c_void, _size: usize, _n: usize, _f: *mut c_void) -> usize {
    0
}

/// C `fprintf` (variadic): nothing is written.
#[no_mangle]
pub extern "C" fn fprintf(_f: *mut c_void, _fmt: *const c_char, _args: *mut c_void) -> c_int {
    -1
}

/// C `fscanf` (variadic): nothing is read (EOF).
#[no_mangle]
pub extern "C" fn fscanf(_f: *mut c_void, _fmt: *const c_char, _args: *mut c_void) -> c_int {
    -1
}
