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

#[cfg(feature = "avif")]
pub mod adjust;
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
        mut plan,
        preference,
        ..
    } = estimate;
    if spec.format == Some(Format::Json) {
        return Ok(json_output(input.len(), &header, &plan));
    }

    let clock = Clock::new(ctx.clock);
    let decoded = decode::decode(input, &header, plan.shrink, limits)?;
    let t_decode = clock.lap();

    // Geometry, in the order the plan documents. Without flip or rotate, trim and crop fold
    // into the single resampling step, at the exact shrink-on-load scale.
    let s = decoded.scale;
    let img = ops::orient(decoded.image, plan.orientation);
    let (img, region) = if plan.flip == Flip::None && plan.rotate == Rotate::None {
        (img, plan.trim.scaled(s, s))
    } else {
        let img = ops::flip_rotate(
            ops::crop(img, plan.trim.scaled(s, s)),
            plan.flip,
            plan.rotate,
        );
        let whole = plan::Rect {
            x: 0.0,
            y: 0.0,
            width: f64::from(img.width()),
            height: f64::from(img.height()),
        };
        (img, whole)
    };
    if spec.gravity == Gravity::Auto && plan.crops() {
        let focal = saliency::focal_point(
            &img,
            region,
            plan.crop.width / f64::from(plan.rotated.0),
            plan.crop.height / f64::from(plan.rotated.1),
        );
        plan.position_crop(focal);
    }
    let (rx, ry) = (
        region.width / f64::from(plan.rotated.0),
        region.height / f64::from(plan.rotated.1),
    );
    let mut crop = plan.crop.scaled(rx, ry);
    crop.x += region.x;
    crop.y += region.y;
    let mut img = ops::resize(img, crop, plan.resize.0, plan.resize.1)?;
    let icc = match (decoded.icc_done, &header.icc) {
        (Some(done), _) => done,
        (None, Some(profile)) => color::to_srgb(&mut img, profile),
        (None, None) => Icc::None,
    };
    // Brightness, contrast, gamma and saturation, on the image's own pixels in sRGB (before
    // any background or padding is added).
    img = adjust::apply(img, &spec.adjust);

    // Background and format: an opaque background flattens transparency under the image.
    if let Some(bg) = spec.background.filter(|bg| bg.0[3] == 255) {
        img = ops::flatten(img, bg.0);
    }
    let padded = plan.canvas != plan.resize;
    let pad_bg = spec
        .background
        .map(|b| b.0)
        .unwrap_or(if img.color().has_alpha() {
            [0, 0, 0, 0]
        } else {
            [255, 255, 255, 255]
        });
    let has_alpha = img.color().has_alpha() || (padded && pad_bg[3] < 255);
    let format = choose_format(spec, preference, has_alpha, plan.canvas)?;
    if padded {
        img = ops::pad(img, plan.canvas, plan.offset, pad_bg);
    }
    if !format.supports_alpha() {
        img = ops::flatten(img, [255, 255, 255, 255]);
    }
    if let Some(radius) = spec.blur {
        img = ops::blur(img, radius);
    }
    if let Some(strength) = spec.sharpen {
        img = ops::sharpen(img, strength);
    }
    let t_resize = clock.lap();

    let quality = spec
        .quality
        .map_or(ctx.policy.default_quality, Quality::value);
    let exif = output_exif(spec.metadata, header.exif.as_deref());
    let graphic = matches!(header.format, InputFormat::Png | InputFormat::Gif);
    let bytes = encode::encode(&img, format, quality, &ctx.policy, exif.as_deref(), graphic)?;
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

fn output_exif(metadata: Metadata, exif: Option<&[u8]>) -> Option<Vec<u8>> {
    let exif = exif?;
    match metadata {
        Metadata::None => None,
        Metadata::Copyright => exif::copyright_only(exif),
        Metadata::Keep => exif::with_normal_orientation(exif),
    }
}

fn json_output(file_size: usize, header: &Header, plan: &Plan) -> Output {
    let body = serde_json::json!({
        "width": plan.canvas.0,
        "height": plan.canvas.1,
        "original": {
            "width": header.width,
            "height": header.height,
            "file_size": file_size,
            "format": header.format.mime_type(),
            "orientation": header.orientation.to_exif(),
            "icc_profile": header.icc.is_some(),
        }
    });
    Output {
        bytes: body.to_string().into_bytes(),
        format: OutputFormat::Json,
        width: plan.canvas.0,
        height: plan.canvas.1,
        input_format: header.format,
        input_width: header.width,
        input_height: header.height,
        icc: Icc::None,
        shrink: 1,
        timings: Timings::default(),
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
