//! Measures the memory libaom's AVIF encoder (C, so invisible to Rust's allocator) adds at its
//! peak, per output pixel: the process's high-water mark (`VmHWM` in /proc/self/status) before
//! and after one encode of a synthetic photo-like image. Linux only; one encode per process so
//! the high-water mark is this encode's.
//!
//!     cargo run --release -p refract-core --example avif_memory -- <megapixels> <420|444|alpha>

use image::{DynamicImage, RgbaImage};
use refract_core::encode::encode;
use refract_core::{OutputFormat, Policy};

fn high_water_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mp: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let mode = args.get(2).map_or("420", String::as_str);
    let w = (mp * 1e6 * 4.0 / 3.0).sqrt() as u32;
    let h = w * 3 / 4;
    let img = RgbaImage::from_fn(w, h, |x, y| {
        let n = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 27;
        image::Rgba([
            (x * 255 / w) as u8 ^ n as u8,
            (y * 255 / h) as u8,
            ((x + y) % 256) as u8,
            if mode == "alpha" {
                (x % 256) as u8
            } else {
                255
            },
        ])
    });
    let img = if mode == "alpha" {
        DynamicImage::ImageRgba8(img)
    } else {
        DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(img).to_rgb8())
    };
    let policy = Policy::default();
    let before = high_water_kib();
    let out = encode(&img, OutputFormat::Avif, 85, &policy, None, mode == "444").expect("encode");
    let after = high_water_kib();
    let pixels = f64::from(w) * f64::from(h);
    println!(
        "| {w}×{h} ({:.2} MP) | {mode} | speed {} | {} KiB → {} KiB | {:.1} bytes/pixel | {} bytes out |",
        pixels / 1e6,
        policy.avif_speed,
        before,
        after,
        (after - before) as f64 * 1024.0 / pixels,
        out.len()
    );
}
