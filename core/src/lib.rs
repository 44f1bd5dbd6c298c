//! Refract's core: a pure, synchronous image transform engine.
//!
//! One entry point, [`transform`]: image bytes + a typed [`Spec`] + a [`Context`] (limits,
//! the client's `Accept` header, host policy) → [`Output`] (bytes, format, size, timings) or an
//! [`Error`] whose [`ErrorKind`] says who is at fault. No I/O, no async, no clock of its own:
//! it builds for native targets and for `wasm32-unknown-unknown`.
//!
//! The pipeline: sniff → read header → check [`Limits`] → [`Plan`] → decode (JPEG at reduced
//! DCT scale when the plan shrinks by 2× or more) → EXIF orientation → trim → flip/rotate →
//! `gravity=auto` saliency → crop and resize → ICC to sRGB → brightness/contrast/gamma/saturation
//! → background/pad → blur/sharpen → encode. Same input and spec give the same bytes on the same
//! target.

pub mod adjust;
pub mod anim;
#[cfg(feature = "avif")]
mod avif;
pub mod color;
pub mod cost;
pub mod decode;
pub mod encode;
mod error;
pub mod etag;
pub mod exif;
mod limits;
pub mod negotiate;
pub mod ops;
mod pipeline;
pub mod placeholder;
pub mod plan;
mod policy;
mod preflight;
pub mod quality;
pub mod saliency;
pub mod similarity;
pub mod spec;
pub mod url;
pub mod variant;

pub use color::Icc;
pub use cost::Cost;
pub use decode::{Header, InputFormat};
pub use encode::OutputFormat;
pub use error::{json_body, Error, ErrorKind, Resource};
pub use limits::Limits;
pub use plan::Plan;
pub use policy::Policy;
pub use preflight::{estimate, Estimate};
pub use spec::{Fit, Flip, Format, Gravity, Metadata, Quality, Rotate, Spec, Trim};
pub use variant::{Output as VariantOutput, VariantKey};

use image::DynamicImage;
use preflight::choose_format;

/// The Content-Security-Policy both hosts send on every response that is not an image (JSON
/// errors and metadata): nothing loads, nothing runs, nothing frames it.
pub const NON_IMAGE_CSP: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

/// Everything besides the image and the spec that a transform depends on.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    pub limits: Limits,
    /// The request's `Accept` header, for `format=auto`.
    pub accept: Option<&'a str>,
    pub policy: Policy,
    /// A monotonic clock in milliseconds, for [`Timings`]. The core has no clock of its own
    /// (there is none on `wasm32-unknown-unknown`); without one, timings are zero.
    pub clock: Option<fn() -> f64>,
}

/// Where the time went, in milliseconds (zero when the context has no clock).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    pub decode_ms: f64,
    pub resize_ms: f64,
    pub encode_ms: f64,
}

/// A finished transform.
#[derive(Debug, Clone)]
pub struct Output {
    pub bytes: Vec<u8>,
    pub format: OutputFormat,
    /// Output size in pixels (for JSON output: the size the image would have).
    pub width: u32,
    pub height: u32,
    /// The input's format and size as stored.
    pub input_format: InputFormat,
    pub input_width: u32,
    pub input_height: u32,
    /// What was done with the input's ICC profile.
    pub icc: Icc,
    /// JPEG shrink-on-load denominator used (1 = full-size decode).
    pub shrink: u32,
    pub timings: Timings,
}

/// Transforms `input` according to `spec`. See the crate documentation for the pipeline.
pub fn transform(input: &[u8], spec: &Spec, ctx: &Context) -> Result<Output, Error> {
    transform_estimated(input, estimate(input, spec, ctx)?, spec, ctx)
}

/// [`transform`] after its first step: for hosts that called [`estimate`] already (to budget
/// or hand off the work) with the same input, spec and context, so the header is not read
/// twice.
pub fn transform_estimated(
    input: &[u8],
    estimate: Estimate,
    spec: &Spec,
    ctx: &Context,
) -> Result<Output, Error> {
    let limits = &ctx.limits;
    let Estimate {
        header,
        plan,
        preference,
        format: planned,
        ..
    } = estimate;
    match spec.format {
        Some(Format::Json) => return placeholder::json(input, &header, plan, spec, limits),
        Some(Format::Placeholder) => return placeholder::image(input, &header, plan, spec, ctx),
        _ => {}
    }
    let policy = ctx.policy.for_spec(spec);
    let clock = Clock::new(ctx.clock);
    if let (Some(info), true) = (header.animation, spec.anim && anim::animates(planned)) {
        return animate(input, &header, plan, spec, ctx, info, planned, &clock);
    }
    let decoded = decode::decode_planned(input, &header, &plan, limits)?;
    let t_decode = clock.lap();

    let mut shaper = pipeline::Shaper::new(&header, spec, plan, decoded.scale);
    let (img, icc) = shaper.shape(decoded.image, decoded.icc_done)?;
    let plan = shaper.plan;
    let alpha = pipeline::has_alpha(&img, spec, &plan);
    let format = choose_format(spec, preference, alpha, plan.canvas, None)?;
    let img = pipeline::finish(img, &plan, spec, format);
    let t_resize = clock.lap();

    let quality = spec.quality.map_or(policy.default_quality, Quality::value);
    let exif = output_exif(spec.metadata, header.exif.as_deref());
    let graphic = matches!(header.format, InputFormat::Png | InputFormat::Gif);
    let bytes = encode::encode(&img, format, quality, &policy, exif.as_deref(), graphic)?;
    let t_encode = clock.lap();

    Ok(Output {
        bytes,
        format,
        width: img.width(),
        height: img.height(),
        input_format: header.format,
        input_width: header.width,
        input_height: header.height,
        icc,
        shrink: decoded.shrink,
        timings: Timings {
            decode_ms: t_decode,
            resize_ms: t_resize,
            encode_ms: t_encode,
        },
    })
}

/// An animation kept animated: every frame decoded, shaped, finished and encoded in turn.
#[allow(clippy::too_many_arguments)]
fn animate(
    input: &[u8],
    header: &Header,
    plan: Plan,
    spec: &Spec,
    ctx: &Context,
    info: anim::Info,
    format: OutputFormat,
    clock: &Clock,
) -> Result<Output, Error> {
    let policy = ctx.policy.for_spec(spec);
    let quality = spec.quality.map_or(policy.default_quality, Quality::value);
    let native = quality::encoder_quality(format, quality, &policy);
    let mut shaper = pipeline::Shaper::new(header, spec, plan, 1.0);
    let mut sink: Option<anim::Sink> = None;
    let mut icc = Icc::None;
    let mut size = (0, 0);
    let (mut decode_ms, mut resize_ms, mut encode_ms) = (0.0, 0.0, 0.0);
    for frame in anim::frames(input, header, &ctx.limits)? {
        let (canvas, duration) = frame?;
        decode_ms += clock.lap();
        let (img, done) = shaper.shape(DynamicImage::ImageRgba8(canvas), None)?;
        icc = done;
        let img = pipeline::finish(img, &shaper.plan, spec, format);
        resize_ms += clock.lap();
        size = (img.width(), img.height());
        let sink = match &mut sink {
            Some(s) => s,
            None => sink.insert(anim::Sink::new(
                format,
                size,
                native,
                policy.webp_method,
                info.loop_count,
            )?),
        };
        sink.add(img.into_rgba8(), duration)?;
        encode_ms += clock.lap();
    }
    let sink = sink.ok_or_else(|| Error::undecodable(header.format.name(), "no frames"))?;
    let bytes = sink.finish()?;
    encode_ms += clock.lap();
    Ok(Output {
        bytes,
        format,
        width: size.0,
        height: size.1,
        input_format: header.format,
        input_width: header.width,
        input_height: header.height,
        icc,
        shrink: 1,
        timings: Timings {
            decode_ms,
            resize_ms,
            encode_ms,
        },
    })
}

fn output_exif(metadata: Metadata, exif: Option<&[u8]>) -> Option<Vec<u8>> {
    let exif = exif?;
    match metadata {
        Metadata::None => None,
        Metadata::Copyright => exif::copyright_only(exif),
        Metadata::Keep => exif::with_normal_orientation(exif),
    }
}

struct Clock {
    now: Option<fn() -> f64>,
    last: std::cell::Cell<f64>,
}

impl Clock {
    fn new(now: Option<fn() -> f64>) -> Self {
        let start = now.map(|f| f()).unwrap_or(0.0);
        Clock {
            now,
            last: std::cell::Cell::new(start),
        }
    }

    /// Milliseconds since the previous lap.
    fn lap(&self) -> f64 {
        let Some(now) = self.now else { return 0.0 };
        let t = now();
        let d = t - self.last.get();
        self.last.set(t);
        d
    }
}

/// Decodes an image at full size, upright (EXIF orientation applied), without colour
/// conversion: for comparing outputs (`refract compare`, golden and parity tests), not for
/// serving. Default limits apply.
pub fn decode_upright(input: &[u8]) -> Result<DynamicImage, Error> {
    let limits = Limits::default();
    let header = decode::probe(input, &limits)?;
    Ok(ops::orient(
        decode::decode(input, &header, 1, &limits)?.image,
        header.orientation,
    ))
}
