//! SVG inputs (feature `svg`): parsed by usvg and rasterized by resvg (tiny-skia), pure Rust.
//!
//! Nothing outside the document is ever read: no resource directory, an `<image>` resolver that
//! resolves nothing (neither `data:` nor file or network hrefs), no font database (so `<text>`
//! draws nothing), no svgz. resvg has no scripting. The document is parsed twice, once by
//! [`probe`] (for the intrinsic size and the hostile-parameter checks, before any pixel buffer)
//! and once by [`decode`]: keeping the tree between the two would tie [`Header`] to usvg's
//! types, and parsing is cheap beside rendering: 0.01 to 0.03 ms for the samples, 28 ms for
//! 1 MiB of paths, against 2 to 20 ms per rendered megapixel (`examples/svg_render.rs`).
//!
//! The canvas is rendered at the scale the plan asks for (never at the intrinsic size and
//! then resampled): [`render_size`].

use super::{Decoded, Header, InputFormat};
use crate::plan::Plan;
use crate::{Error, Limits};
#[cfg(feature = "svg")]
use {
    crate::exif::Orientation,
    image::{DynamicImage, RgbaImage},
};

#[cfg(feature = "svg")]
mod guard;
#[cfg(feature = "svg")]
mod markers;

/// Decodes for `plan`: a JPEG shrunk on load by `plan.shrink`, an SVG rendered at the plan's
/// scale ([`render_size`]), anything else whole ([`super::decode`]).
pub fn decode_planned(
    bytes: &[u8],
    header: &Header,
    plan: &Plan,
    limits: &Limits,
) -> Result<Decoded, Error> {
    match header.format {
        InputFormat::Svg => decode(bytes, header, render_size(header, plan), limits),
        _ => super::decode(bytes, header, plan.shrink, limits),
    }
}

/// An SVG rendered at its intrinsic size.
pub(super) fn decode_whole(
    bytes: &[u8],
    header: &Header,
    limits: &Limits,
) -> Result<Decoded, Error> {
    decode(bytes, header, (header.width, header.height), limits)
}

/// Layers (isolated groups, masks, clips, filter results, pattern tiles) alive at once while
/// rendering, in canvases: documents that need more are refused ([`guard`]), and the cost
/// model counts this many ([`crate::cost`]).
pub const MAX_LAYERS: u64 = 20;

/// Rendering an enlarged SVG never produces more than this many times the resized pixels
/// (or the intrinsic size's, when larger): a tiny crop of a vector blown up to a large output
/// renders the whole document at a bounded size and lets the resize enlarge the rest.
const MAX_RENDER_OVER_RESIZE: f64 = 4.0;

/// The size the document is rendered at for `plan`: the intrinsic size scaled so that the
/// plan's crop comes out at (or, for `fit=squeeze`, on the longer axis just above) its resize
/// size, which leaves the resize nothing to do for a plain `width=`. Enlarging is bounded by
/// [`MAX_RENDER_OVER_RESIZE`].
pub fn render_size(header: &Header, plan: &Plan) -> (u32, u32) {
    let (w, h) = (f64::from(header.width), f64::from(header.height));
    let want = (f64::from(plan.resize.0) / plan.crop.width.max(1.0))
        .max(f64::from(plan.resize.1) / plan.crop.height.max(1.0));
    let resized = f64::from(plan.resize.0) * f64::from(plan.resize.1);
    let budget = (w * h).max(MAX_RENDER_OVER_RESIZE * resized);
    let scale = want.min((budget / (w * h)).sqrt());
    let px = |v: f64| (v * scale).round().clamp(1.0, f64::from(u32::MAX)) as u32;
    (px(w), px(h))
}

/// Reads the document's intrinsic size (usvg's: `width`/`height`, else the `viewBox`, in CSS
/// pixels at 96 dpi), rounded up, and refuses what it must not render.
#[cfg(feature = "svg")]
pub(super) fn probe(bytes: &[u8], limits: &Limits) -> Result<Header, Error> {
    let tree = parse(bytes, limits, 1.0)?;
    let size = tree.size();
    let px = |v: f32| (v.ceil() as u32).max(1);
    Ok(Header {
        format: InputFormat::Svg,
        width: px(size.width()),
        height: px(size.height()),
        orientation: Orientation::Normal,
        icc: None,
        exif: None,
        progressive: false,
        progressive_scaled: false,
        dct_blocks: 0,
        bytes_per_pixel: 4,
        alpha: true,
        animation: None,
    })
}

/// Renders the document at `size` (the whole of it, stretched to exactly that many pixels),
/// after checking the canvas against the input limits.
#[cfg(feature = "svg")]
pub(super) fn decode(
    bytes: &[u8],
    header: &Header,
    (width, height): (u32, u32),
    limits: &Limits,
) -> Result<Decoded, Error> {
    limits.check_input_dimensions(width, height)?;
    let scale = f64::from(width) / f64::from(header.width.max(1));
    let tree = parse(bytes, limits, scale)?;
    let rgba = render(&tree, width, height)?;
    let image = RgbaImage::from_raw(width, height, rgba)
        .ok_or_else(|| Error::internal("rendering SVG", "the canvas has the wrong size"))?;
    Ok(Decoded {
        image: super::drop_opaque_alpha(DynamicImage::ImageRgba8(image)),
        icc_done: None,
        shrink: 1,
        scale,
    })
}

#[cfg(feature = "svg")]
use resvg::{tiny_skia, usvg};

#[cfg(feature = "svg")]
fn options() -> usvg::Options<'static> {
    usvg::Options {
        resources_dir: None,
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: Box::new(|_, _, _| None),
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    }
}

#[cfg(feature = "svg")]
/// Parses the document and checks it ([`guard`]) for rendering at `scale` (rendered pixels
/// per intrinsic pixel).
fn parse(bytes: &[u8], limits: &Limits, scale: f64) -> Result<usvg::Tree, Error> {
    let len = bytes.len() as u64;
    if len > limits.max_svg_bytes {
        return Err(Error::InputTooLarge {
            bytes: len,
            limit: limits.max_svg_bytes,
        });
    }
    markers::check(bytes)?;
    let tree = caught(|| usvg::Tree::from_data(bytes, &options()))?
        .map_err(|e| Error::undecodable("SVG", e))?;
    guard::check_tree(&tree, scale)?;
    Ok(tree)
}

#[cfg(feature = "svg")]
fn render(tree: &usvg::Tree, width: u32, height: u32) -> Result<Vec<u8>, Error> {
    let mut pixmap = tiny_skia::Pixmap::new(width, height)
        .ok_or_else(|| Error::undecodable("SVG", "the canvas is too large to render"))?;
    let size = tree.size();
    let transform = tiny_skia::Transform::from_scale(
        width as f32 / size.width(),
        height as f32 / size.height(),
    );
    caught(|| resvg::render(tree, transform, &mut pixmap.as_mut()))?;
    Ok(pixmap.take_demultiplied())
}

/// Runs usvg or resvg, turning a panic into a 422: the guard refuses the inputs known to make
/// them panic (huge blurs and strokes), and this catches the ones not known yet. Nothing they
/// leave half-done is used afterwards: the tree or canvas is dropped with the error.
#[cfg(feature = "svg")]
fn caught<T>(f: impl FnOnce() -> T) -> Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|_| Error::undecodable("SVG", "the renderer failed on this document"))
}

/// Builds without the `svg` feature (the edge's wasm) refuse SVG as an unsupported format.
#[cfg(not(feature = "svg"))]
pub(super) fn probe(_: &[u8], _: &Limits) -> Result<Header, Error> {
    Err(Error::UnsupportedInput {
        detected: Some("SVG"),
    })
}

#[cfg(not(feature = "svg"))]
pub(super) fn decode(_: &[u8], _: &Header, _: (u32, u32), _: &Limits) -> Result<Decoded, Error> {
    Err(Error::UnsupportedInput {
        detected: Some("SVG"),
    })
}
