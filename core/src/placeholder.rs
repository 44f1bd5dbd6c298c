//! Placeholders: a ThumbHash of the finished image (in `format=json`) and the tiny blurred
//! image it stands for (`format=placeholder`), so a page can show something the moment the
//! HTML arrives. Both come from a thumbnail of the transformed image, at most [`PREVIEW`]
//! pixels on a side (ThumbHash's own maximum), decoded with shrink-on-load: the spec's
//! geometry and colour apply; border, blur and sharpen, which a hash cannot show, do not.

use image::{DynamicImage, RgbaImage};

use crate::decode::{self, Header};
use crate::pipeline::{self, Shaper};
use crate::{encode, Context, Error, Icc, Limits, Output, OutputFormat, Plan, Spec, Timings};

/// The thumbnail's longest side: ThumbHash encodes at most 100 × 100.
pub const PREVIEW: u32 = 100;

/// The thumbnail of what `spec` makes of the image, and whether it has transparency.
fn thumbnail(
    input: &[u8],
    header: &Header,
    plan: &Plan,
    spec: &Spec,
    limits: &Limits,
) -> Result<(RgbaImage, bool), Error> {
    let small = plan.preview(PREVIEW, spec);
    let decoded = decode::decode_planned(input, header, &small, limits)?;
    let spec = Spec {
        border: None,
        blur: None,
        sharpen: None,
        ..spec.clone()
    };
    let mut shaper = Shaper::new(header, &spec, small, decoded.scale).with_preview(PREVIEW);
    let (img, _) = shaper.shape(decoded.image, decoded.icc_done)?;
    let alpha = pipeline::has_alpha(&img, &spec, &shaper.plan);
    let format = if alpha {
        OutputFormat::Png
    } else {
        OutputFormat::Jpeg { progressive: false }
    };
    let img = pipeline::finish(img, &shaper.plan, &spec, format);
    Ok((img.into_rgba8(), alpha))
}

/// The ThumbHash of an RGBA thumbnail at most [`PREVIEW`] on a side.
fn hash(thumb: &RgbaImage) -> Vec<u8> {
    let (w, h) = thumb.dimensions();
    thumbhash::rgba_to_thumb_hash(w as usize, h as usize, thumb.as_raw())
}

/// `format=json`: the planned output size, the original's metadata, its frames and
/// transparency, and the ThumbHash of the finished image (base64).
pub(crate) fn json(
    input: &[u8],
    header: &Header,
    plan: Plan,
    spec: &Spec,
    limits: &Limits,
) -> Result<Output, Error> {
    let (thumb, alpha) = thumbnail(input, header, &plan, spec, limits)?;
    let [bt, br, bb, bl] = spec.border.map_or([0; 4], |b| b.device_widths(spec.dpr));
    let (width, height) = (plan.canvas.0 + bl + br, plan.canvas.1 + bt + bb);
    let frames = header.animation.map_or(1, |a| a.frames);
    let body = serde_json::json!({
        "width": width,
        "height": height,
        "placeholder": base64(&hash(&thumb)),
        "original": {
            "width": header.width,
            "height": header.height,
            "file_size": input.len(),
            "format": header.format.mime_type(),
            "orientation": header.orientation.to_exif(),
            "icc_profile": header.icc.is_some(),
            "alpha": alpha,
            "frames": frames,
            "animated": frames > 1,
        }
    });
    Ok(output(
        body.to_string().into_bytes(),
        OutputFormat::Json,
        (width, height),
        header,
    ))
}

/// `format=placeholder`: the image the ThumbHash decodes to (at most 32 px on a side),
/// encoded small: lossy WebP (PNG in builds without WebP).
pub(crate) fn image(
    input: &[u8],
    header: &Header,
    plan: Plan,
    spec: &Spec,
    ctx: &Context,
) -> Result<Output, Error> {
    let (thumb, _) = thumbnail(input, header, &plan, spec, &ctx.limits)?;
    let (w, h, rgba) =
        thumbhash::thumb_hash_to_rgba(&hash(&thumb)).map_err(|()| Error::Internal {
            context: "decoding a ThumbHash",
            source: None,
        })?;
    let img = RgbaImage::from_raw(w as u32, h as u32, rgba).ok_or(Error::Internal {
        context: "a ThumbHash image",
        source: None,
    })?;
    let img = drop_opaque(img);
    let format = crate::preflight::choose_format(
        spec,
        crate::negotiate::Preference::Fallback,
        img.color().has_alpha(),
        (img.width(), img.height()),
        None,
    )?;
    let bytes = encode::encode(&img, format, PLACEHOLDER_QUALITY, &ctx.policy, None, false)?;
    Ok(output(bytes, format, (img.width(), img.height()), header))
}

/// A placeholder is a blur: low quality costs nothing visible.
const PLACEHOLDER_QUALITY: u8 = 50;

fn drop_opaque(img: RgbaImage) -> DynamicImage {
    if img.pixels().all(|p| p.0[3] == 255) {
        DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(img).into_rgb8())
    } else {
        DynamicImage::ImageRgba8(img)
    }
}

fn output(
    bytes: Vec<u8>,
    format: OutputFormat,
    (width, height): (u32, u32),
    header: &Header,
) -> Output {
    Output {
        bytes,
        format,
        width,
        height,
        input_format: header.format,
        input_width: header.width,
        input_height: header.height,
        icc: Icc::None,
        shrink: 1,
        timings: Timings::default(),
    }
}

/// Standard base64 with padding (RFC 4648 §4), as ThumbHash's own tools print it.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(super::base64(plain.as_bytes()), encoded);
        }
    }
}
