//! What an animation kept animated costs: every frame is decoded, composited on the canvas,
//! shaped and encoded, so the still estimate of one canvas-sized frame counts once per frame,
//! plus the frames' own decoding (GIF frames may be larger than the canvas) and the encoders'
//! frame buffers.

use super::Info;
use crate::decode::Header;
use crate::plan::Plan;
use crate::{cost, Cost, OutputFormat, Policy};

/// libwebp's animation encoder tries each frame as a keyframe and as a sub-rectangle, with
/// and without blending: measured with `examples/calibrate_anim.rs` (docs/cost.md) against
/// a still encode of the same canvas.
const WEBP_ENCODES_PER_FRAME: f64 = 3.0;

/// Each frame's own bookkeeping (the decoder's frame header, the encoder's frame record).
const PER_FRAME_MS: f64 = 0.1;

/// GIF and WebP decoding per stored megapixel, the same as a still's (crate::cost).
const DECODE_MS_PER_MP: f64 = 20.0;

/// libwebp's animation encoder keeps the previous and current canvases, the candidate
/// sub-frames and their encodings: bytes per output pixel.
const WEBP_ANIM_BYTES_PER_PIXEL: u64 = 32;

/// The encoded animation grows in one buffer while frames are added (a GIF keeps up to a byte
/// per pixel; the buffer doubles, so the old and new copies are alive at once).
const GROWING_OUTPUT_BYTES_PER_PIXEL: u64 = 2;

/// The cost of keeping `info`'s animation animated in `format`.
pub fn estimate(
    input_len: usize,
    header: &Header,
    plan: &Plan,
    format: OutputFormat,
    policy: &Policy,
    info: &Info,
) -> Cost {
    // One frame: the composited canvas is RGBA, decoded whole.
    let frame_header = Header {
        alpha: true,
        bytes_per_pixel: 4,
        animation: None,
        ..header.clone()
    };
    let one = cost::estimate(0, &frame_header, plan, format, policy);
    // What any transform pays once (setup, headers): a 1×1 image's cost. The rest grows with
    // the pixels, and is paid by every frame.
    let dot = Header {
        width: 1,
        height: 1,
        ..frame_header.clone()
    };
    let dot_plan = Plan::new(1, 1, crate::exif::Orientation::Normal, &crate::Spec::new())
        .unwrap_or_else(|_| plan.clone());
    let fixed = cost::estimate(0, &dot, &dot_plan, format, policy).cpu_ms;
    let per_frame = one.cpu_ms.saturating_sub(fixed) as f64 + PER_FRAME_MS;
    let frames = f64::from(info.frames.max(1));
    let encodes = match format {
        OutputFormat::Webp { .. } => WEBP_ENCODES_PER_FRAME,
        _ => 1.0,
    };
    let decode = DECODE_MS_PER_MP * info.frame_pixels as f64 / 1e6;
    let cpu_ms = (fixed as f64 + frames * per_frame * encodes + decode).ceil() as u64;
    let output = one.output_pixels;
    let frame_buffer = info.largest_frame * 4;
    Cost {
        decoded_pixels: one.decoded_pixels.saturating_mul(u64::from(info.frames)),
        output_pixels: output.saturating_mul(u64::from(info.frames)),
        memory_bytes: input_len as u64
            + one.memory_bytes
            + frame_buffer
            + output * WEBP_ANIM_BYTES_PER_PIXEL
            + output.saturating_mul(u64::from(info.frames)) * GROWING_OUTPUT_BYTES_PER_PIXEL,
        cpu_ms,
    }
}
