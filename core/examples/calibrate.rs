//! Measures what the cost model in `refract_core::cost` is built from: milliseconds per
//! megapixel for each decoder, the resize and each encoder at each effort, on this machine.
//!
//!     cargo run --release -p refract-core --example calibrate
//!
//! Prints one Markdown table row per measurement (median of `ROUNDS`), for docs/cost.md and
//! BENCHMARKS.md. Single-threaded, like one transform on the server's pool.

use std::path::Path;
use std::time::Instant;

use refract_core::decode::{decode, probe};
use refract_core::encode::encode;
use refract_core::plan::Rect;
use refract_core::{ops, Limits, OutputFormat, Policy};

const ROUNDS: usize = 3;

fn sample(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn median_ms(mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[ROUNDS / 2]
}

fn row(what: &str, mp: f64, ms: f64) {
    println!("| {what} | {mp:.2} | {ms:.1} | {:.1} |", ms / mp);
}

fn main() {
    let limits = Limits::default();
    println!("| stage | megapixels | ms | ms per MP |");
    println!("|---|---:|---:|---:|");
    for (name, shrinks) in [
        ("bird-20mp.jpg", &[1u32, 2, 4, 8][..]),
        ("bridge-10mp.jpg", &[1, 2, 4, 8][..]),
        ("grayscale.jpg", &[1][..]),
        ("palette.png", &[1][..]),
        ("photo-16bit.png", &[1][..]),
        ("photo.webp", &[1][..]),
        ("alpha-lossless.webp", &[1][..]),
    ] {
        let bytes = sample(name);
        let header = probe(&bytes, &limits).expect("probe");
        let mp = f64::from(header.width) * f64::from(header.height) / 1e6;
        for &shrink in shrinks {
            let ms = median_ms(|| {
                decode(&bytes, &header, shrink, &limits).expect("decode");
            });
            row(
                &format!("decode {name} at 1/{shrink} (per source MP)"),
                mp,
                ms,
            );
        }
    }

    // Resize and encoders work on the same 8-bit RGB photo, cut to each size.
    let bytes = sample("bird-20mp.jpg");
    let header = probe(&bytes, &limits).expect("probe");
    let full = decode(&bytes, &header, 1, &limits).expect("decode").image;
    let whole = Rect {
        x: 0.0,
        y: 0.0,
        width: f64::from(full.width()),
        height: f64::from(full.height()),
    };
    let src_mp = f64::from(full.width()) * f64::from(full.height()) / 1e6;
    for out_w in [800u32, 3000] {
        let out_h = out_w * full.height() / full.width();
        let ms = median_ms(|| {
            ops::resize(full.clone(), whole, out_w, out_h).expect("resize");
        });
        row(&format!("resize to {out_w} px (per source MP)"), src_mp, ms);
    }

    let policy = Policy::default();
    for out_w in [400u32, 1200] {
        let out_h = out_w * full.height() / full.width();
        let img = ops::resize(full.clone(), whole, out_w, out_h).expect("resize");
        let mp = f64::from(out_w) * f64::from(out_h) / 1e6;
        let mut cases: Vec<(String, OutputFormat, Policy)> = vec![
            (
                "jpeg".into(),
                OutputFormat::Jpeg { progressive: false },
                policy,
            ),
            (
                "jpeg progressive".into(),
                OutputFormat::Jpeg { progressive: true },
                policy,
            ),
            ("png".into(), OutputFormat::Png, policy),
            (
                "webp lossless".into(),
                OutputFormat::Webp { lossless: true },
                policy,
            ),
        ];
        for method in 0..=6 {
            cases.push((
                format!("webp method {method}"),
                OutputFormat::Webp { lossless: false },
                Policy {
                    webp_method: method,
                    ..policy
                },
            ));
        }
        // libaom's all-intra speeds below 4 take seconds per megapixel: small outputs only.
        let slowest = if out_w > 400 { 4 } else { 0 };
        for speed in slowest..=9 {
            cases.push((
                format!("avif speed {speed}"),
                OutputFormat::Avif,
                Policy {
                    avif_speed: speed,
                    ..policy
                },
            ));
        }
        for (what, format, p) in cases {
            let ms = median_ms(|| {
                encode(&img, format, 85, &p, None, false).expect("encode");
            });
            row(&format!("encode {what}, {out_w} px"), mp, ms);
        }
        // 4:4:4 (lossless sources, quality >= 90) at the default speed.
        let ms = median_ms(|| {
            encode(&img, OutputFormat::Avif, 85, &policy, None, true).expect("encode");
        });
        row(
            &format!("encode avif speed {} 4:4:4, {out_w} px", policy.avif_speed),
            mp,
            ms,
        );
    }
}
