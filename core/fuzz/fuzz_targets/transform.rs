//! The whole pipeline on arbitrary image bytes. The first input byte picks a spec from
//! `SPECS` (modulo its length); the rest is the image. `transform` must never panic, and a
//! successful output must respect the limits and be non-empty.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use refract_core::{transform, Context, Limits, Policy, Spec};

/// Specs that reach the interesting parts of the pipeline. The seed corpus (seed.sh) prefixes
/// each image with the index of a spec here: keep the order stable, append new ones at the end.
const SPECS: &[&str] = &[
    "",
    "width=64",
    "width=32,height=32,fit=cover,gravity=auto",
    "width=50,height=20,fit=pad,background=red",
    "rotate=90,flip=h,trim=1;1;1;1",
    "format=png",
    "format=json",
    "width=16,format=webp",
    "width=16,format=avif,quality=30",
    "blur=3,sharpen=2,width=40",
    "width=24,height=48,fit=crop,gravity=0.2x0.8,format=baseline-jpeg,quality=low,metadata=keep",
    "width=40,dpr=1.5,fit=contain,background=%2380808080,format=auto",
];

/// `format=auto` picks from this header.
const ACCEPT: &str = "image/avif,image/webp,image/*,*/*;q=0.8";

const MAX_OUTPUT_DIMENSION: u32 = 512;

fn specs() -> &'static [Spec] {
    static PARSED: OnceLock<Vec<Spec>> = OnceLock::new();
    PARSED.get_or_init(|| {
        SPECS
            .iter()
            .map(|s| Spec::parse(s).unwrap_or_else(|e| panic!("fuzz spec {s:?} does not parse: {e}")))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, image)) = data.split_first() else {
        return;
    };
    let specs = specs();
    let spec = &specs[usize::from(selector) % specs.len()];
    let ctx = Context {
        limits: Limits {
            max_input_bytes: 1024 * 1024,
            max_input_pixels: 4_000_000,
            max_output_dimension: MAX_OUTPUT_DIMENSION,
            max_output_pixels: u64::from(MAX_OUTPUT_DIMENSION) * u64::from(MAX_OUTPUT_DIMENSION),
            max_memory_bytes: 256 << 20,
            // Animations and SVG documents small enough for the fuzzer's pace.
            max_svg_bytes: 256 * 1024,
            max_frames: 64,
            max_animation_pixels: 16_000_000,
        },
        accept: Some(ACCEPT),
        policy: Policy {
            avif_speed: 10,
            max_cpu_ms: 5_000,
            ..Policy::default()
        },
        clock: None,
    };
    let estimated = refract_core::estimate(image, spec, &ctx);
    let result = transform(image, spec, &ctx);
    // The estimate is the transform's own first step: whatever it refuses, the transform
    // refuses the same way, before decoding.
    if let Err(e) = &estimated {
        let t = result.as_ref().err().map(|t| t.code());
        assert_eq!(t, Some(e.code()), "estimate refused ({e}), the transform did not");
    }
    if let Ok(out) = result {
        assert!(
            out.width <= MAX_OUTPUT_DIMENSION && out.height <= MAX_OUTPUT_DIMENSION,
            "output {}x{} exceeds the limit {MAX_OUTPUT_DIMENSION} (spec {:?})",
            out.width,
            out.height,
            SPECS[usize::from(selector) % SPECS.len()]
        );
        assert!(out.width > 0 && out.height > 0, "empty output size {}x{}", out.width, out.height);
        assert!(!out.bytes.is_empty(), "empty output bytes");
    }
});
