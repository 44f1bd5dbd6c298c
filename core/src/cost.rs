//! What one transform will cost, computed from the image header and the [`Plan`] before any
//! pixel exists: the pixels decoded (after shrink-on-load), the pixels encoded, the bytes held
//! in memory at the peak, and the CPU time.
//!
//! CPU time is in *reference milliseconds*: single-threaded milliseconds on the machine the
//! coefficients below were measured on (`cargo run --release -p refract-core --example
//! calibrate`; the numbers and the machine are in docs/cost.md and BENCHMARKS.md). A host caps
//! it with [`crate::Policy::max_cpu_ms`]; memory is capped with
//! [`crate::Limits::max_memory_bytes`], and a server sums it over the transforms it runs at once.
//!
//! The model, per stage:
//! - **decode**: JPEG costs per *source* megapixel (entropy decoding reads every coefficient
//!   whatever the scale) plus per *decoded* megapixel (IDCT, colour conversion); progressive
//!   JPEGs cost more per source megapixel. PNG, GIF and WebP decode whole, per source megapixel.
//! - **resize**: per decoded megapixel plus per output megapixel.
//! - **encode**: per output (canvas) megapixel, by format and effort (WebP method, AVIF speed).
//!
//! Memory, in bytes, is an upper bound of the sum of what can be alive at once: the input; the
//! decoder's output and working buffers (for a progressive JPEG decoded at full size, or by
//! jpeg-decoder, two bytes per coefficient of the *full-size* image, counted from its frame
//! header's sampling factors, which it keeps until the last scan: 3 bytes per pixel at 4:2:0,
//! 6 at 4:4:4; shrunk on load by `decode/progressive`, only the k×k coefficients per block
//! that scale reads, their planes and a few history bits: at most 54, 20 or 3 bytes per block
//! at 1/2, 1/4, 1/8); the
//! decoded image converted to 8-bit RGB(A) and one geometry copy of it; the resize's intermediate
//! and output; the canvas; the encoder's buffers. A test measures the real peak with a counting
//! allocator and checks the estimate covers it.

use crate::decode::{Header, InputFormat};
use crate::plan::Plan;
use crate::{OutputFormat, Policy};

/// The estimated cost of one transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Pixels the decoder produces (after shrink-on-load).
    pub decoded_pixels: u64,
    /// Pixels of the output canvas.
    pub output_pixels: u64,
    /// Upper bound of the bytes held at once.
    pub memory_bytes: u64,
    /// Estimated CPU time in reference milliseconds.
    pub cpu_ms: u64,
}

/// Reference milliseconds, measured by `examples/calibrate.rs` on the reference machine and
/// rounded up (docs/cost.md has the table they come from).
mod ms_per_mp {
    /// JPEG: per source megapixel (entropy decoding; more for progressive files) and per
    /// decoded megapixel (IDCT, upsampling, colour conversion).
    pub const JPEG_SOURCE: f64 = 3.5;
    pub const JPEG_PROGRESSIVE_SOURCE: f64 = 19.0;
    pub const JPEG_DECODED: f64 = 6.0;
    /// PNG per megapixel of 8-bit RGB; scaled by the bytes per pixel (16-bit costs twice).
    pub const PNG: f64 = 8.0;
    pub const GIF: f64 = 12.0;
    pub const WEBP: f64 = 20.0;
    /// AVIF inputs (libaom's decoder, then Y′CbCr to RGB in Rust).
    pub const AVIF_DECODE: f64 = 60.0;
    /// SVG inputs: per rendered megapixel (resvg; the samples take 2 to 19 ms, drawing their
    /// canvas 1.3 to 3 times), and per megabyte of markup (two parses, probe and decode, of
    /// 28 ms each, and 61 ms setting up 17,000 small paths). `examples/svg_render.rs`.
    pub const SVG_RENDER: f64 = 20.0;
    pub const SVG_MARKUP_PER_MB: f64 = 120.0;
    /// Resize, per decoded and per output megapixel.
    pub const RESIZE_IN: f64 = 2.5;
    pub const RESIZE_OUT: f64 = 8.0;
    /// Encoders: a fixed part (headers, tables, setup) and a part per output megapixel.
    pub const JPEG: (f64, f64) = (1.0, 11.0);
    pub const PNG_OUT: (f64, f64) = (25.0, 270.0);
    pub const WEBP_LOSSLESS: (f64, f64) = (100.0, 240.0);
    /// Lossy WebP by method 0..=6.
    pub const WEBP_BY_METHOD: [f64; 7] = [10.0, 14.0, 19.0, 51.0, 50.0, 57.0, 89.0];
    pub const WEBP_FIXED: f64 = 25.0;
    /// AVIF (libaom, all-intra) by speed 0..=9, at 4:4:4 (1.5 times 4:2:0's time at speed 9;
    /// the estimate does not know the quality, so it takes the dearer chroma). Speeds 0 to 3
    /// were measured at 0.09 MP only and scaled from speed 4 by their ratio there. Measured on
    /// a loaded machine and divided by the factor JPEG's encode was slowed by in the same run
    /// (2.2; WebP's was 3.6, so these err on the dear side). docs/cost.md.
    pub const AVIF_BY_SPEED: [f64; 10] = [
        22_100.0, 10_100.0, 7_900.0, 6_140.0, 3_000.0, 2_560.0, 400.0, 345.0, 211.0, 55.0,
    ];
    pub const AVIF_FIXED: f64 = 10.0;
    /// GIF frames: NeuQuant colour quantization (sample factor 10) and LZW.
    pub const GIF_OUT: (f64, f64) = (2.0, 120.0);
    /// Every transform pays a little whatever its size.
    pub const FIXED_MS: f64 = 1.0;
}

/// Bytes per pixel of the encoders' own buffers, on top of the canvas they read.
fn encoder_bytes_per_pixel(format: OutputFormat) -> u64 {
    match format {
        OutputFormat::Jpeg { progressive: false } => 1,
        // A progressive JPEG keeps every coefficient until the last scan is written.
        OutputFormat::Jpeg { progressive: true } => 7,
        OutputFormat::Png => 2,
        OutputFormat::Webp { .. } => 12,
        // libaom's frames and analysis (C) and our Y′CbCr planes, measured with
        // examples/avif_memory.rs: 19 bytes per pixel at 4:2:0, 31 at 4:4:4, 23 with alpha
        // (encoded after the colour, so the peaks do not add) at 1 MP, less per pixel above.
        OutputFormat::Avif => 32,
        // The quantizer's network and the indexed frame.
        OutputFormat::Gif => 2,
        OutputFormat::Json => 0,
    }
}

/// The cost of transforming an input of `input_len` bytes with this header and plan into
/// `format` with the policy's efforts.
pub fn estimate(
    input_len: usize,
    header: &Header,
    plan: &Plan,
    format: OutputFormat,
    policy: &Policy,
) -> Cost {
    let mp = |px: u64| px as f64 / 1e6;
    let source = u64::from(header.width) * u64::from(header.height);
    let shrink = if header.format == InputFormat::Jpeg {
        plan.shrink.max(1)
    } else {
        1
    };
    let at = |s: u32| u64::from(header.width.div_ceil(s)) * u64::from(header.height.div_ceil(s));
    // An SVG is rendered at the plan's scale, not at its intrinsic size.
    let (decoded_width, decoded_height) = match header.format {
        InputFormat::Svg => crate::decode::svg::render_size(header, plan),
        _ => (
            header.width.div_ceil(shrink),
            header.height.div_ceil(shrink),
        ),
    };
    let decoded = u64::from(decoded_width) * u64::from(decoded_height);
    // jpeg-decoder reads a subsampled baseline frame wanted at 1/8 at 1/4 and halves it
    // (decode/pure_jpeg.rs); counted for every baseline JPEG at 1/8, which errs dear natively.
    let via_quarter = header.format == InputFormat::Jpeg && !header.progressive && shrink == 8;
    let planes = if via_quarter { at(4) } else { decoded };
    let output = u64::from(plan.canvas.0) * u64::from(plan.canvas.1);
    let resized = u64::from(plan.resize.0) * u64::from(plan.resize.1);
    if format == OutputFormat::Json {
        return Cost {
            decoded_pixels: 0,
            output_pixels: output,
            memory_bytes: input_len as u64,
            cpu_ms: 1,
        };
    }

    use ms_per_mp as k;
    let decode_ms = match header.format {
        // At 1/8, decode/progressive reads the DC scans only and skips every AC scan: less
        // than a baseline file's entropy decoding (1 to 1.6 ms per source MP measured on a
        // loaded machine, BENCHMARKS.md, issue 13), so it is costed as one.
        InputFormat::Jpeg if header.progressive && !(header.progressive_scaled && shrink == 8) => {
            k::JPEG_PROGRESSIVE_SOURCE * mp(source) + k::JPEG_DECODED * mp(decoded)
        }
        InputFormat::Jpeg => k::JPEG_SOURCE * mp(source) + k::JPEG_DECODED * mp(planes),
        InputFormat::Png => k::PNG * mp(source) * f64::from(header.bytes_per_pixel.max(3)) / 3.0,
        InputFormat::Gif => k::GIF * mp(source),
        InputFormat::Webp => k::WEBP * mp(source),
        InputFormat::Avif => k::AVIF_DECODE * mp(source),
        InputFormat::Svg => {
            k::SVG_RENDER * mp(decoded) + k::SVG_MARKUP_PER_MB * mp(input_len as u64)
        }
    };
    let resize_ms = k::RESIZE_IN * mp(decoded) + k::RESIZE_OUT * mp(resized.max(output));
    let (fixed, per_mp) = match format {
        OutputFormat::Jpeg { .. } => k::JPEG,
        OutputFormat::Png => k::PNG_OUT,
        OutputFormat::Webp { lossless: true } => k::WEBP_LOSSLESS,
        OutputFormat::Webp { lossless: false } => (
            k::WEBP_FIXED,
            k::WEBP_BY_METHOD[usize::from(policy.webp_method.min(6))],
        ),
        OutputFormat::Avif => (
            k::AVIF_FIXED,
            k::AVIF_BY_SPEED[usize::from(policy.avif_speed.min(9))],
        ),
        OutputFormat::Gif => k::GIF_OUT,
        OutputFormat::Json => (0.0, 0.0),
    };
    let encode_ms = fixed + per_mp * mp(output);
    let cpu_ms = (k::FIXED_MS + decode_ms + resize_ms + encode_ms).ceil() as u64;

    // Memory: what the decoder holds, the image in 8-bit RGB(A) when that is a conversion,
    // a geometry copy when EXIF orientation, flip or rotate move pixels, the resize's
    // intermediate (output width × decoded height) and output, the canvas and one more copy
    // of it (pad, flatten, blur, sharpen), the encoder's buffers.
    let bpp = u64::from(header.bytes_per_pixel.max(1));
    let px = if header.alpha { 4 } else { 3 };
    let decoder = match header.format {
        InputFormat::Jpeg => {
            // Output plus component planes at the decoded scale, plus for a progressive file
            // every coefficient (64 of 2 bytes per block) of every component at full size,
            // or, shrunk on load by Refract's own decoder, the few per block that scale uses.
            let scaled = crate::decode::progressive::bytes_per_block(shrink)
                .filter(|_| header.progressive_scaled);
            let coefficients = match scaled {
                _ if !header.progressive => 0,
                Some(per_block) => header.dct_blocks * per_block,
                None => header.dct_blocks * 128,
            };
            let halved = if via_quarter { decoded * bpp } else { 0 };
            planes * (2 * bpp) + halved + coefficients
        }
        // libaom's frame buffers (C), the planes copied out as 16-bit samples, the RGB(A).
        InputFormat::Avif => decoded * (AVIF_DECODER_BYTES_PER_PIXEL + bpp),
        // The canvas, resvg's layers (groups with opacity, masks, filters), and usvg's tree.
        InputFormat::Svg => {
            decoded * SVG_LAYER_BYTES_PER_PIXEL + input_len as u64 * SVG_TREE_BYTES_PER_BYTE
        }
        // The image crate's buffer in the file's own colour type, and the decoder's rows.
        _ => decoded * bpp + u64::from(header.width) * bpp * 4,
    };
    let converted = if bpp == px && !header.alpha {
        0
    } else {
        decoded * px
    };
    let moved = plan.orientation != crate::exif::Orientation::Normal
        || plan.flip != crate::Flip::None
        || plan.rotate != crate::Rotate::None;
    let geometry = if moved { decoded * px } else { 0 };
    let resize = if plan.is_geometry_identity() {
        0
    } else {
        u64::from(plan.resize.0) * u64::from(decoded_height) * px + resized * px
    };
    let canvas = output.max(resized) * 4;
    let memory_bytes = input_len as u64
        + decoder
        + converted
        + geometry
        + resize
        + 2 * canvas
        + output * encoder_bytes_per_pixel(format)
        + FIXED_BYTES;
    Cost {
        decoded_pixels: decoded,
        output_pixels: output,
        memory_bytes,
        cpu_ms,
    }
}

/// libaom's decoder holds its frame and a few working buffers (1.5 bytes per pixel each at
/// 4:2:0, 16-bit samples for deep images), and the planes copied out are 3 × 2 bytes.
const AVIF_DECODER_BYTES_PER_PIXEL: u64 = 24;

/// resvg's canvas (4 bytes a pixel, premultiplied RGBA), the layers isolated groups, masks,
/// clips, filters and pattern tiles draw into (the guard in `decode/svg` refuses documents that
/// keep more than [`crate::decode::svg::MAX_LAYERS`] canvases of them at once), and the RGB
/// copy of an opaque render.
const SVG_LAYER_BYTES_PER_PIXEL: u64 = 4 * (1 + crate::decode::svg::MAX_LAYERS) + 3;

/// usvg's tree per byte of markup (paths in f32, styles resolved, `<use>` instantiated):
/// 12 measured for 1 MiB of small paths (tests/svg_memory.rs).
const SVG_TREE_BYTES_PER_BYTE: u64 = 16;

/// Tables, small buffers and the encoded output of any transform.
const FIXED_BYTES: u64 = 1 << 20;

#[cfg(test)]
mod tests;
