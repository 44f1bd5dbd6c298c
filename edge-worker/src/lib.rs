//! Refract at the edge: the core as a Cloudflare Worker.
//!
//! This crate is a stub until the edge-worker issue lands: it proves that the core builds for
//! `wasm32-unknown-unknown` behind the same entry point the worker will call, with the
//! encoders that work there (JPEG, PNG, AVIF; lossy WebP needs libwebp built for wasm).

use refract_core::{Context, Error, Limits, Output, Spec};

/// Limits for a 128 MB Workers isolate: JPEGs are shrunk on load, everything else is decoded
/// whole at 4 bytes per pixel, so the pixel cap keeps the worst case near 100 MB.
pub const EDGE_LIMITS: Limits = Limits {
    max_input_bytes: 25 * 1024 * 1024,
    max_input_pixels: 25_000_000,
    max_output_dimension: 4_096,
    max_output_pixels: 16_000_000,
};

/// Transforms `input` with options in Cloudflare's comma form (`width=800,format=auto`).
pub fn transform_options(
    input: &[u8],
    options: &str,
    accept: Option<&str>,
) -> Result<Output, Error> {
    let spec = Spec::parse_options(options)?;
    let ctx = Context {
        limits: EDGE_LIMITS,
        accept,
        ..Context::default()
    };
    refract_core::transform(input, &spec, &ctx)
}
