//! The memory estimate is an upper bound: a counting allocator measures the peak heap of real
//! transforms, and `estimate` must cover it (and not by more than a small factor, or the
//! budget would refuse work it could do). One test, so nothing else allocates meanwhile.
// The counting allocator (common/counting.rs) is the only unsafe code here; its safety
// comment proves it.
#![allow(unsafe_code)]

mod common;
#[path = "common/counting.rs"]
mod counting;

use std::sync::atomic::Ordering;

use common::{can_encode, sample};
use counting::{CURRENT, PEAK};
use refract_core::{estimate, transform, Context, Limits, OutputFormat, Policy, Spec};

#[test]
fn the_memory_estimate_covers_the_measured_peak() {
    let cases = [
        ("bird-20mp.jpg", "width=800,format=jpeg"),
        ("bird-20mp.jpg", "width=3000,format=webp"),
        ("bridge-10mp.jpg", "width=200,format=jpeg"),
        ("bridge-10mp.jpg", "width=1200,format=avif"),
        ("baseline.jpg", "width=1600,format=png"),
        (
            "progressive.jpg",
            "width=400,height=400,fit=cover,format=avif",
        ),
        ("grayscale.jpg", "width=1000,format=jpeg"),
        ("cmyk.jpg", "width=600,rotate=90,format=webp"),
        ("orientation-6.jpg", "width=500,blur=10"),
        ("palette.png", "width=2048,format=png"),
        ("photo-16bit.png", "width=700,format=webp"),
        (
            "logo-alpha.png",
            "width=1024,height=1024,fit=pad,format=avif",
        ),
        ("photo.webp", "width=1920,format=jpeg"),
        ("alpha-lossless.webp", "width=400,format=webp,quality=100"),
        ("animated.gif", "width=300,format=png"),
        ("animated-pan.gif", "width=240,format=webp"),
        ("animated-pan.gif", "format=gif"),
        ("animated-alpha.webp", "width=70,rotate=90"),
        ("cat-small.jpg", "width=2000,fit=contain,format=jpeg"),
    ];
    let ctx = Context {
        limits: Limits::default(),
        accept: None,
        policy: Policy {
            max_cpu_ms: u64::MAX,
            ..Policy::default()
        },
        clock: None,
    };
    let mut report = Vec::new();
    for (name, spec) in cases {
        if (spec.contains("webp") && !can_encode("webp"))
            || (spec.contains("avif") && !can_encode("avif"))
        {
            continue;
        }
        let input = sample(name);
        let spec = Spec::parse(spec).unwrap();
        let planned = estimate(&input, &spec, &ctx).unwrap();
        let cost = planned.cost;
        let estimated = cost.memory_bytes;
        // libaom allocates in C, where this allocator does not see it: add what
        // examples/avif_memory.rs measured it to hold (at least 16 bytes per output pixel at
        // 4:2:0, beside the planes Rust allocates), so both bounds below keep their meaning.
        let unseen = if planned.format == OutputFormat::Avif {
            cost.output_pixels * 16
        } else {
            0
        };
        let base = CURRENT.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let out = transform(&input, &spec, &ctx).unwrap();
        drop(out);
        // What the transform added on top of what was already allocated (the input).
        let peak = PEAK.load(Ordering::Relaxed) - base + input.len() as u64 + unseen;
        report.push(format!(
            "{name} {spec}: peak {:.1} MiB, estimate {:.1} MiB",
            peak as f64 / 1048576.0,
            estimated as f64 / 1048576.0
        ));
        assert!(estimated >= peak, "{}", report.join("\n"));
        assert!(estimated <= 4 * peak + (4 << 20), "{}", report.join("\n"));
    }
    println!("{}", report.join("\n"));
}
