//! Decompression bombs are refused from the header, before any pixel buffer exists. A counting
//! global allocator records the peak heap use of the whole refusal; this file holds one test
//! so nothing else allocates concurrently.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's own layout and pointer, which
// upholds `GlobalAlloc`'s contract exactly as `System` does; the counters are plain atomics
// and never touch the memory being managed.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        // SAFETY: same layout the caller gave us; `System` has the same contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: `ptr` was allocated by `System` above with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn bombs_are_refused_with_next_to_no_memory() {
    let cases = [
        ("png", common::png_header_only(100_000, 100_000)),
        ("jpeg", common::jpeg_header_only(65_000, 65_000)),
        ("gif", common::gif_header_only(65_000, 65_000)),
    ];
    for (name, bytes) in cases {
        assert!(bytes.len() <= 64, "{name} bomb is {} bytes", bytes.len());
        let spec = refract_core::Spec::parse("width=100").expect("spec");
        let ctx = refract_core::Context::default();
        let base = CURRENT.load(Ordering::SeqCst);
        PEAK.store(base, Ordering::SeqCst);
        let err = refract_core::transform(&bytes, &spec, &ctx).expect_err("bomb must be refused");
        let peak = PEAK.load(Ordering::SeqCst) - base;
        assert_eq!(err.code(), "too_many_pixels", "{name}: {err}");
        assert_eq!(err.kind().http_status(), 413);
        assert!(
            peak < 1 << 20,
            "{name}: refusing the bomb allocated {peak} bytes at peak"
        );
    }
}
