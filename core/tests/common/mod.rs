//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;

use refract_core::{transform, Context, Output, Spec};

/// Whether this build can encode the named output format (`webp` needs the `webp` feature,
/// which the wasm builds leave out).
pub fn can_encode(name: &str) -> bool {
    use refract_core::OutputFormat as F;
    match name {
        "webp" => F::Webp { lossless: false }.available(),
        "avif" => F::Avif.available(),
        _ => true,
    }
}

pub fn sample(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

pub fn run(input: &[u8], spec: &str) -> Result<Output, refract_core::Error> {
    let spec = Spec::parse(spec).expect("valid spec");
    transform(input, &spec, &Context::default())
}

pub fn run_ok(input: &[u8], spec: &str) -> Output {
    run(input, spec).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

/// CRC-32 (IEEE), for building PNG chunks by hand.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG signature plus an IHDR chunk that claims `w` × `h` RGBA pixels, and nothing else.
pub fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut chunk = b"IHDR".to_vec();
    chunk.extend_from_slice(&w.to_be_bytes());
    chunk.extend_from_slice(&h.to_be_bytes());
    chunk.extend_from_slice(&[8, 6, 0, 0, 0]);
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    out
}

/// A JPEG with SOI and a baseline frame header claiming `w` × `h`, and nothing else.
pub fn jpeg_header_only(w: u16, h: u16) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08];
    out.extend_from_slice(&h.to_be_bytes());
    out.extend_from_slice(&w.to_be_bytes());
    out.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    out
}

/// A GIF header whose logical screen is `w` × `h`.
pub fn gif_header_only(w: u16, h: u16) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&w.to_le_bytes());
    out.extend_from_slice(&h.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&[0x2C, 0, 0, 0, 0]);
    out.extend_from_slice(&w.to_le_bytes());
    out.extend_from_slice(&h.to_le_bytes());
    out.extend_from_slice(&[0, 2, 2, 0x4C, 0x01, 0, 0x3B]);
    out
}
