//! SVG inputs in the cost model: the estimate counts the pixels rendered at the plan's scale
//! (not the intrinsic size), and its memory covers the measured peak, also for documents near
//! the guard's layer bound. A counting allocator measures the heap; one test, so nothing else
//! allocates meanwhile.
#![cfg(feature = "svg")]
// The counting allocator (common/counting.rs) is the only unsafe code here; its safety
// comment proves it.
#![allow(unsafe_code)]

mod common;
#[path = "common/counting.rs"]
mod counting;

use std::sync::atomic::Ordering;

use common::sample;
use counting::{CURRENT, PEAK};
use refract_core::{estimate, transform, Context, Limits, Policy, Spec};

/// 1 MiB of small paths: the markup's share of the estimate.
fn many_paths() -> Vec<u8> {
    let mut doc =
        String::from(r#"<svg xmlns="http://www.w3.org/2000/svg" width="500" height="500">"#);
    let mut i = 0u32;
    while doc.len() < (1 << 20) - 200 {
        let (x, y) = (i % 47 * 10, i % 43 * 11);
        doc.push_str(&format!(
            r##"<path d="M{x} {y} L{} {y} L{x} {} Z" fill="#{:06x}"/>"##,
            x + 9,
            y + 9,
            i.wrapping_mul(2_654_435_761) % 0xFF_FFFF
        ));
        i += 1;
    }
    doc.push_str("</svg>");
    doc.into_bytes()
}

/// Layers near the guard's bound: nested groups with opacity, a mask, and a filter whose
/// region reaches far outside the canvas.
fn layered() -> Vec<u8> {
    let mut doc = String::from(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300"><defs><mask id="m"><rect width="400" height="300" fill="#fff"/></mask><filter id="f" x="-0.2" y="-0.2" width="1.4" height="1.4"><feGaussianBlur stdDeviation="4" result="a"/><feOffset dx="3" dy="3" in="a" result="b"/><feMerge><feMergeNode in="b"/><feMergeNode in="SourceGraphic"/></feMerge></filter></defs>"##,
    );
    doc.push_str(&r#"<g opacity="0.9">"#.repeat(5));
    doc.push_str(r##"<g mask="url(#m)"><g filter="url(#f)"><rect x="20" y="20" width="360" height="260" fill="#c33"/></g></g>"##);
    doc.push_str(&"</g>".repeat(5));
    doc.push_str("</svg>");
    doc.into_bytes()
}

#[test]
fn svg_estimates_count_the_rendered_pixels_and_cover_the_peak() {
    let ctx = Context {
        limits: Limits {
            max_svg_bytes: 2 << 20,
            ..Limits::default()
        },
        accept: None,
        policy: Policy {
            max_cpu_ms: u64::MAX,
            ..Policy::default()
        },
        clock: None,
    };
    let cases: [(&str, Vec<u8>, &str, u64); 5] = [
        // Rendered at the output size, never at 240×120 then resampled, nor the reverse.
        (
            "logo.svg",
            sample("logo.svg"),
            "width=120,format=png",
            120 * 60,
        ),
        (
            "logo.svg",
            sample("logo.svg"),
            "width=2000,fit=contain,format=jpeg",
            2000 * 1000,
        ),
        (
            "icon-viewbox.svg",
            sample("icon-viewbox.svg"),
            "width=640,height=640,fit=cover,format=png",
            // Covering a square crops the 4:3 icon: the whole is rendered 640 high.
            853 * 640,
        ),
        (
            "1 MiB of paths",
            many_paths(),
            "width=500,format=png",
            500 * 500,
        ),
        (
            "layers",
            layered(),
            "width=1600,fit=contain,format=png",
            1600 * 1200,
        ),
    ];
    let mut report = Vec::new();
    for (name, input, spec, rendered) in cases {
        let spec = Spec::parse(spec).unwrap();
        let planned = estimate(&input, &spec, &ctx).unwrap();
        assert_eq!(planned.cost.decoded_pixels, rendered, "{name} {spec:?}");
        let base = CURRENT.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let out = transform(&input, &spec, &ctx).unwrap();
        drop(out);
        let peak = PEAK.load(Ordering::Relaxed) - base + input.len() as u64;
        report.push(format!(
            "{name}: peak {:.1} MiB, estimate {:.1} MiB, cpu estimate {} ms",
            peak as f64 / 1048576.0,
            planned.cost.memory_bytes as f64 / 1048576.0,
            planned.cost.cpu_ms
        ));
        assert!(planned.cost.memory_bytes >= peak, "{}", report.join("\n"));
    }
    println!("{}", report.join("\n"));
}
