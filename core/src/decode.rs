//! Sniffing, header probing and decoding.
//!
//! [`probe`] reads only the header (size, orientation, ICC, EXIF) so that limits are checked
//! before any pixel buffer exists. [`decode`] then produces 8-bit RGB or RGBA pixels; JPEGs
//! are decoded at a reduced DCT scale when the plan allows it (shrink-on-load).

use std::io::Cursor;

use image::codecs::{gif::GifDecoder, png::PngDecoder, webp::WebPDecoder};
use image::{DynamicImage, ImageDecoder};

use crate::color::Icc;
use crate::exif::{self, Orientation};
use crate::{Error, Limits};

mod frame;
pub mod progressive;
mod pure_jpeg;
mod sniff;
pub mod svg;
pub use svg::decode_planned;
#[cfg(all(feature = "turbojpeg", not(target_arch = "wasm32")))]
pub mod turbo;
pub use sniff::{servable_type, sniff, SNIFF_BYTES};

/// Input formats the core reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
    /// Decoded natively only (libaom); the edge's build refuses it as unsupported.
    Avif,
    /// Rasterized by resvg with the `svg` feature (not in the edge's build): [`svg`].
    Svg,
}

impl InputFormat {
    pub fn mime_type(self) -> &'static str {
        match self {
            InputFormat::Jpeg => "image/jpeg",
            InputFormat::Png => "image/png",
            InputFormat::Gif => "image/gif",
            InputFormat::Webp => "image/webp",
            InputFormat::Avif => "image/avif",
            InputFormat::Svg => "image/svg+xml",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Jpeg => "JPEG",
            InputFormat::Png => "PNG",
            InputFormat::Gif => "GIF",
            InputFormat::Webp => "WebP",
            InputFormat::Avif => "AVIF",
            InputFormat::Svg => "SVG",
        }
    }
}

/// What the header says, read without decoding pixels.
#[derive(Debug, Clone)]
pub struct Header {
    pub format: InputFormat,
    pub width: u32,
    pub height: u32,
    pub orientation: Orientation,
    pub icc: Option<Vec<u8>>,
    pub exif: Option<Vec<u8>>,
    /// A progressive JPEG: the decoder keeps every coefficient of the full-size image until
    /// the last scan, whatever the shrink-on-load ([`crate::cost`] counts it).
    pub progressive: bool,
    /// JPEG: the 8×8 DCT blocks of all components at full size, padded to whole MCUs as the
    /// decoder allocates them (a progressive file keeps 128 bytes of coefficients per block
    /// until its last scan). 0 for other formats.
    pub dct_blocks: u64,
    /// A progressive JPEG that Refract's own decoder reads at 1/2, 1/4 and 1/8 scale keeping
    /// only the coefficients that scale uses (8-bit, 1 or 3 components; `decode/progressive`):
    /// shrunk on load, it costs a fraction of its full-size coefficients ([`crate::cost`]).
    pub progressive_scaled: bool,
    /// Bytes per pixel of the decoder's own output at full scale: 1 (grey) to 8 (16-bit RGBA).
    pub bytes_per_pixel: u8,
    /// Whether the colour type can hold transparency (the pixels may still all be opaque).
    pub alpha: bool,
    /// An animated GIF or WebP: its frames, loop count and stored pixels (from a scan of the
    /// container, [`crate::anim`]). `None` for a still image.
    pub animation: Option<crate::anim::Info>,
}

/// Reads the header and checks the pixel limit. Allocates no pixel buffer.
pub fn probe(bytes: &[u8], limits: &Limits) -> Result<Header, Error> {
    let format = sniff(bytes)?;
    // Checked from the fixed-position size fields first, so a bomb is refused even when the
    // rest of its header is missing and before any decoder state exists.
    if let Some((w, h)) = declared_size(format, bytes) {
        limits.check_input_dimensions(w, h)?;
    }
    let header = match format {
        InputFormat::Jpeg => pure_jpeg::probe(bytes)?,
        InputFormat::Png => probe_image(format, png_decoder(bytes, limits)?)?,
        InputFormat::Gif => probe_image(format, gif_decoder(bytes, limits)?)?,
        InputFormat::Webp => probe_image(format, webp_decoder(bytes, limits)?)?,
        InputFormat::Avif => probe_avif(bytes)?,
        InputFormat::Svg => svg::probe(bytes, limits)?,
    };
    if header.width == 0 || header.height == 0 {
        return Err(Error::undecodable(
            format.name(),
            "the header declares an empty image",
        ));
    }
    limits.check_input_dimensions(header.width, header.height)?;
    // GIF frames may be larger than the screen they are drawn on; each is decoded whole.
    let mut header = header;
    let frames = crate::anim::scan(format, bytes);
    if let Some(f) = &frames {
        f.check_frames(limits)?;
    }
    header.animation = frames.filter(|f| f.frames > 1);
    Ok(header)
}

/// The size stated at a fixed position in the container header (not for JPEG, whose frame
/// header can sit anywhere; jpeg-decoder reads it without allocating pixel memory).
fn declared_size(format: InputFormat, b: &[u8]) -> Option<(u32, u32)> {
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let le16 = |i: usize| {
        Some(u32::from(u16::from_le_bytes(
            b.get(i..i + 2)?.try_into().ok()?,
        )))
    };
    let le24 = |i: usize| {
        let v = b.get(i..i + 3)?;
        Some(u32::from(v[0]) | u32::from(v[1]) << 8 | u32::from(v[2]) << 16)
    };
    match format {
        InputFormat::Png if b.get(12..16) == Some(b"IHDR") => Some((be32(16)?, be32(20)?)),
        InputFormat::Gif => Some((le16(6)?, le16(8)?)),
        InputFormat::Webp => match b.get(12..16)? {
            b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
            b"VP8 " => Some((le16(26)? & 0x3FFF, le16(28)? & 0x3FFF)),
            b"VP8L" => {
                let v = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
                Some(((v & 0x3FFF) + 1, ((v >> 14) & 0x3FFF) + 1))
            }
            _ => None,
        },
        _ => None,
    }
}

fn image_error(format: InputFormat, e: image::ImageError) -> Error {
    Error::undecodable(format.name(), e)
}

#[cfg(all(feature = "avif", not(target_arch = "wasm32")))]
fn probe_avif(bytes: &[u8]) -> Result<Header, Error> {
    let info = crate::avif::input::probe(bytes)?;
    let wide = if info.bit_depth > 8 { 2 } else { 1 };
    Ok(Header {
        animation: None,
        format: InputFormat::Avif,
        width: info.width,
        height: info.height,
        orientation: Orientation::default(),
        icc: None,
        exif: None,
        progressive: false,
        progressive_scaled: false,
        dct_blocks: 0,
        bytes_per_pixel: if info.alpha { 4 * wide } else { 3 * wide },
        alpha: info.alpha,
    })
}

/// Builds without libaom's decoder (the edge's wasm, `--no-default-features`) refuse AVIF
/// inputs as an unsupported format.
#[cfg(not(all(feature = "avif", not(target_arch = "wasm32"))))]
fn probe_avif(_: &[u8]) -> Result<Header, Error> {
    Err(Error::UnsupportedInput {
        detected: Some("AVIF"),
    })
}

fn image_limits(limits: &Limits) -> image::Limits {
    let mut l = image::Limits::default();
    l.max_alloc = Some(limits.max_decode_alloc());
    l
}

fn png_decoder<'a>(
    bytes: &'a [u8],
    limits: &Limits,
) -> Result<PngDecoder<Cursor<&'a [u8]>>, Error> {
    PngDecoder::with_limits(Cursor::new(bytes), image_limits(limits))
        .map_err(|e| image_error(InputFormat::Png, e))
}

fn gif_decoder<'a>(
    bytes: &'a [u8],
    limits: &Limits,
) -> Result<GifDecoder<Cursor<&'a [u8]>>, Error> {
    let d = GifDecoder::new(Cursor::new(bytes)).map_err(|e| image_error(InputFormat::Gif, e))?;
    with_limits(InputFormat::Gif, d, limits)
}

fn webp_decoder<'a>(
    bytes: &'a [u8],
    limits: &Limits,
) -> Result<WebPDecoder<Cursor<&'a [u8]>>, Error> {
    let d = WebPDecoder::new(Cursor::new(bytes)).map_err(|e| image_error(InputFormat::Webp, e))?;
    with_limits(InputFormat::Webp, d, limits)
}

fn with_limits<D: ImageDecoder>(
    format: InputFormat,
    mut d: D,
    limits: &Limits,
) -> Result<D, Error> {
    d.set_limits(image_limits(limits))
        .map_err(|e| image_error(format, e))?;
    Ok(d)
}

fn probe_image(format: InputFormat, mut d: impl ImageDecoder) -> Result<Header, Error> {
    let (width, height) = d.dimensions();
    // Metadata is optional: a broken ICC or EXIF chunk must not make the image undecodable.
    let icc = d.icc_profile().ok().flatten();
    let exif = d.exif_metadata().ok().flatten();
    let color = d.color_type();
    Ok(Header {
        animation: None,
        format,
        width,
        height,
        orientation: exif.as_deref().map(exif::orientation).unwrap_or_default(),
        icc,
        exif,
        progressive: false,
        progressive_scaled: false,
        dct_blocks: 0,
        bytes_per_pixel: color.bytes_per_pixel(),
        alpha: color.has_alpha(),
    })
}

/// Decoded pixels: always 8-bit RGB or RGBA (RGBA only when some pixel is not opaque).
#[derive(Debug)]
pub struct Decoded {
    pub image: DynamicImage,
    /// Colour handling already finished while decoding (CMYK JPEGs are converted to sRGB
    /// here). `None`: the header's ICC profile, if any, is still to be applied.
    pub icc_done: Option<Icc>,
    /// The JPEG scale denominator actually used (1 when not shrunk).
    pub shrink: u32,
    /// Decoded pixels per source pixel: exactly `1 / shrink` when the decoder scaled by the
    /// requested factor (the last row and column may then cover a partial block).
    pub scale: f64,
}

/// Decodes the image the header describes. `shrink` (1, 2, 4 or 8) is honoured for JPEG; an
/// SVG is rendered at its intrinsic size.
pub fn decode(
    bytes: &[u8],
    header: &Header,
    shrink: u32,
    limits: &Limits,
) -> Result<Decoded, Error> {
    let (image, icc_done, shrink) = match header.format {
        InputFormat::Svg => return svg::decode_whole(bytes, header, limits),
        InputFormat::Jpeg => decode_jpeg(bytes, header, shrink, limits)?,
        InputFormat::Png => (
            from_decoder(header.format, png_decoder(bytes, limits)?)?,
            None,
            1,
        ),
        InputFormat::Gif => (
            from_decoder(header.format, gif_decoder(bytes, limits)?)?,
            None,
            1,
        ),
        InputFormat::Webp => (
            from_decoder(header.format, webp_decoder(bytes, limits)?)?,
            None,
            1,
        ),
        InputFormat::Avif => (decode_avif(bytes, header)?, None, 1),
    };
    let exact = (
        header.width.div_ceil(shrink),
        header.height.div_ceil(shrink),
    );
    let scale = if (image.width(), image.height()) == exact {
        1.0 / f64::from(shrink)
    } else {
        f64::from(image.width()) / f64::from(header.width.max(1))
    };
    Ok(Decoded {
        image: drop_opaque_alpha(image),
        icc_done,
        shrink,
        scale,
    })
}

#[cfg(all(feature = "avif", not(target_arch = "wasm32")))]
fn decode_avif(bytes: &[u8], header: &Header) -> Result<DynamicImage, Error> {
    // The frame may not exceed the sequence's declared maximum, which probe checked.
    let max = u64::from(header.width) * u64::from(header.height);
    crate::avif::input::decode(bytes, max)
}

#[cfg(not(all(feature = "avif", not(target_arch = "wasm32"))))]
fn decode_avif(bytes: &[u8], _: &Header) -> Result<DynamicImage, Error> {
    probe_avif(bytes).map(|_| DynamicImage::new_rgb8(1, 1))
}

fn from_decoder(format: InputFormat, d: impl ImageDecoder) -> Result<DynamicImage, Error> {
    DynamicImage::from_decoder(d).map_err(|e| image_error(format, e))
}

/// Converts to 8-bit RGB/RGBA and drops an alpha channel that is opaque everywhere.
fn drop_opaque_alpha(image: DynamicImage) -> DynamicImage {
    match image {
        DynamicImage::ImageRgb8(_) => image,
        img if !img.color().has_alpha() => DynamicImage::ImageRgb8(img.into_rgb8()),
        img => {
            let rgba = img.into_rgba8();
            if rgba.pixels().all(|p| p.0[3] == 255) {
                DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba).into_rgb8())
            } else {
                DynamicImage::ImageRgba8(rgba)
            }
        }
    }
}

/// Which JPEG decoder runs (docs/architecture.md, "Decoders"): natively with the `turbojpeg`
/// feature, libjpeg-turbo for baseline files at every scale and progressive files at full
/// size, with jpeg-decoder for what it hands back (damaged, 12-bit, lossless); progressive files
/// shrunk on load go to [`decode_progressive_scaled`]; everything else (wasm, no feature) to
/// jpeg-decoder.
fn decode_jpeg(
    bytes: &[u8],
    header: &Header,
    shrink: u32,
    limits: &Limits,
) -> Result<(DynamicImage, Option<Icc>, u32), Error> {
    if header.progressive && shrink >= 2 {
        return decode_progressive_scaled(bytes, header, shrink, limits);
    }
    #[cfg(all(feature = "turbojpeg", not(target_arch = "wasm32")))]
    if let Some(decoded) = turbo::decode(bytes, header, shrink, limits)? {
        return Ok(decoded);
    }
    pure_jpeg::decode(bytes, header, shrink, limits)
}

/// A progressive JPEG decoded at 1/2, 1/4 or 1/8 scale. libjpeg-turbo and jpeg-decoder both
/// keep every coefficient of the full-size image until the last scan, whatever the scale;
/// [`progressive`] keeps only those the scaled IDCT reads. What it does not read (12-bit,
/// CMYK, odd sampling factors) goes to jpeg-decoder.
fn decode_progressive_scaled(
    bytes: &[u8],
    header: &Header,
    shrink: u32,
    limits: &Limits,
) -> Result<(DynamicImage, Option<Icc>, u32), Error> {
    if let Some(d) = progressive::decode(bytes, shrink, limits)? {
        let image = image::RgbImage::from_raw(d.width, d.height, d.rgb)
            .ok_or_else(|| Error::undecodable("JPEG", "decoded fewer pixels than declared"))?;
        return Ok((DynamicImage::ImageRgb8(image), None, shrink));
    }
    pure_jpeg::decode(bytes, header, shrink, limits)
}
