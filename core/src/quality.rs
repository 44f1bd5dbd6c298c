//! One `quality=` scale for every lossy encoder.
//!
//! JPEG's scale is the reference: `quality=q` is what jpeg-encoder makes of q (libjpeg's
//! quantization tables scaled by q). For WebP and AVIF, `q` is translated into the encoder's
//! own quality (libwebp's 0–100, and libavif's 0–100 that [`crate::avif`] maps onto libaom's
//! cq-level 63–0) that gives the same mean SSIMULACRA2 score as JPEG at `q`, measured over the
//! sample photos at 800 px by `core/examples/quality_curves.rs` (BENCHMARKS.md, "Quality
//! mapping (issue 13)"). Between the table's knots the translation is linear.
//!
//! From [`FULL_CHROMA_FROM`] on, JPEG and AVIF keep full-resolution chroma (4:4:4), so the AVIF
//! knots from there were measured on AVIF's 4:4:4 curve. WebP is always 4:2:0 and tops out
//! below JPEG's best: it reaches its own 100 at `quality=95`.
//!
//! The ends stay put: `quality=100` is the best each encoder can do (its own 100), and
//! `quality=1` its lowest (its own 0).

use crate::{OutputFormat, Policy};

/// The quality from which JPEG and AVIF encode chroma at full resolution (4:4:4).
pub const FULL_CHROMA_FROM: u8 = 90;

/// `(Refract quality, libwebp quality)` knots, ascending in both. Measured on 2026-11-26 at
/// method 4 (BENCHMARKS.md); 1 and 100 are the ends.
const WEBP: &[(u8, f32)] = &[
    (1, 0.0),
    (20, 14.5),
    (25, 23.3),
    (30, 30.4),
    (35, 37.8),
    (40, 42.9),
    (45, 48.7),
    (50, 54.9),
    (55, 59.5),
    (60, 64.4),
    (65, 71.3),
    (70, 76.0),
    (75, 78.5),
    (80, 81.6),
    (85, 84.8),
    (90, 94.6),
    (95, 100.0),
    (100, 100.0),
];

/// `(Refract quality, libavif quality)` knots for libaom speeds 7 to 9, ascending in both.
/// Measured on 2026-11-26 at speed 9 (the edge's default), 4:2:0 below [`FULL_CHROMA_FROM`] and
/// 4:4:4 from it (BENCHMARKS.md); 1 and 100 are the ends. At speeds 7 and 8 the same cq-level
/// scores within 0.5 points of speed 9 (and makes 8–10% smaller files).
const AVIF_FAST: &[(u8, f32)] = &[
    (1, 0.0),
    (20, 32.8),
    (25, 38.2),
    (30, 42.0),
    (35, 45.3),
    (40, 47.9),
    (45, 50.2),
    (50, 52.1),
    (55, 53.4),
    (60, 54.7),
    (65, 57.3),
    (70, 60.1),
    (75, 63.8),
    (80, 69.0),
    (85, 74.4),
    (90, 84.2),
    (95, 92.0),
    (100, 100.0),
];

/// `(Refract quality, libavif quality)` knots for libaom speeds 0 to 6, ascending in both.
/// Measured on 2026-11-26 at speed 6 (the native default), as [`AVIF_FAST`] (BENCHMARKS.md,
/// "AVIF's speed"); slower speeds score higher still at the same cq-level.
const AVIF_SLOW: &[(u8, f32)] = &[
    (1, 0.0),
    (20, 28.3),
    (25, 33.8),
    (30, 37.8),
    (35, 41.3),
    (40, 43.7),
    (45, 46.1),
    (50, 48.5),
    (55, 50.0),
    (60, 51.6),
    (65, 53.7),
    (70, 56.1),
    (75, 59.4),
    (80, 64.1),
    (85, 70.5),
    (90, 83.0),
    (95, 91.1),
    (100, 100.0),
];

/// The encoder's own quality for Refract's `quality` (1–100; values outside are clamped) and
/// an output format: JPEG (and every format without a quality) keeps it, WebP and AVIF follow
/// their tables (AVIF's depends on the policy's libaom speed).
pub fn encoder_quality(format: OutputFormat, quality: u8, policy: &Policy) -> f32 {
    let q = quality.clamp(1, 100);
    match knots(format, policy) {
        [] => f32::from(q),
        table => interpolate(table, q),
    }
}

/// The knots of a format's table at a policy's efforts, for tests and the measurement tool:
/// `(Refract quality, encoder quality)`. Empty for formats that use Refract's scale as it is.
pub fn knots(format: OutputFormat, policy: &Policy) -> &'static [(u8, f32)] {
    match format {
        OutputFormat::Webp { .. } => WEBP,
        OutputFormat::Avif if policy.avif_speed >= 7 => AVIF_FAST,
        OutputFormat::Avif => AVIF_SLOW,
        _ => &[],
    }
}

/// Piecewise-linear interpolation over `knots` (ascending in `.0`, from 1 to 100).
fn interpolate(knots: &[(u8, f32)], q: u8) -> f32 {
    let mut prev = knots[0];
    for &knot in knots {
        if q <= knot.0 {
            if knot.0 == prev.0 {
                return knot.1;
            }
            let t = f32::from(q - prev.0) / f32::from(knot.0 - prev.0);
            return prev.1 + t * (knot.1 - prev.1);
        }
        prev = knot;
    }
    prev.1
}

#[cfg(test)]
mod tests;
