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
mod sniff;
pub use sniff::{servable_type, sniff, SNIFF_BYTES};

/// Input formats the core reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
}

impl InputFormat {
    pub fn mime_type(self) -> &'static str {
        match self {
            InputFormat::Jpeg => "image/jpeg",
            InputFormat::Png => "image/png",
            InputFormat::Gif => "image/gif",
            InputFormat::Webp => "image/webp",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Jpeg => "JPEG",
            InputFormat::Png => "PNG",
            InputFormat::Gif => "GIF",
            InputFormat::Webp => "WebP",
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
    /// Bytes per pixel of the decoder's own output at full scale: 1 (grey) to 8 (16-bit RGBA).
    pub bytes_per_pixel: u8,
    /// Whether the colour type can hold transparency (the pixels may still all be opaque).
    pub alpha: bool,
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
        InputFormat::Jpeg => probe_jpeg(bytes)?,
        InputFormat::Png => probe_image(format, png_decoder(bytes, limits)?)?,
        InputFormat::Gif => probe_image(format, gif_decoder(bytes, limits)?)?,
        InputFormat::Webp => probe_image(format, webp_decoder(bytes, limits)?)?,
    };
    if header.width == 0 || header.height == 0 {
        return Err(Error::undecodable(
            format.name(),
            "the header declares an empty image",
        ));
    }
    limits.check_input_dimensions(header.width, header.height)?;
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

fn jpeg_error(e: jpeg_decoder::Error) -> Error {
    Error::undecodable("JPEG", e)
}

fn image_error(format: InputFormat, e: image::ImageError) -> Error {
    Error::undecodable(format.name(), e)
}

fn probe_jpeg(bytes: &[u8]) -> Result<Header, Error> {
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    d.read_info().map_err(jpeg_error)?;
    let info = d
        .info()
        .ok_or_else(|| Error::undecodable("JPEG", "no frame header"))?;
    let exif = d.exif_data().map(<[u8]>::to_vec);
    Ok(Header {
        format: InputFormat::Jpeg,
        width: u32::from(info.width),
        height: u32::from(info.height),
        orientation: exif.as_deref().map(exif::orientation).unwrap_or_default(),
        icc: d.icc_profile(),
        exif,
        progressive: info.coding_process == jpeg_decoder::CodingProcess::DctProgressive,
        // The frame header was parsed by read_info, so it is there; the fallback (every
        // component at full size) only errs on the side of more memory.
        dct_blocks: frame::dct_blocks(bytes).unwrap_or_else(|| {
            let components = info.pixel_format.pixel_bytes().min(4) as u64;
            u64::from(info.width.div_ceil(8) + 1)
                * u64::from(info.height.div_ceil(8) + 1)
                * components
        }),
        bytes_per_pixel: u8::try_from(info.pixel_format.pixel_bytes()).unwrap_or(u8::MAX),
        alpha: false,
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
        format,
        width,
        height,
        orientation: exif.as_deref().map(exif::orientation).unwrap_or_default(),
        icc,
        exif,
        progressive: false,
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

/// Decodes the image the header describes. `shrink` (1, 2, 4 or 8) is honoured for JPEG.
pub fn decode(
    bytes: &[u8],
    header: &Header,
    shrink: u32,
    limits: &Limits,
) -> Result<Decoded, Error> {
    let (image, icc_done, shrink) = match header.format {
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

fn decode_jpeg(
    bytes: &[u8],
    header: &Header,
    shrink: u32,
    limits: &Limits,
) -> Result<(DynamicImage, Option<Icc>, u32), Error> {
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    d.set_max_decoding_buffer_size(
        usize::try_from(limits.max_decode_alloc()).unwrap_or(usize::MAX),
    );
    d.read_info().map_err(jpeg_error)?;
    let (mut w, mut h) = (header.width, header.height);
    let mut used = 1;
    if shrink > 1 {
        let want_w = header.width.div_ceil(shrink);
        let want_h = header.height.div_ceil(shrink);
        let (sw, sh) = d
            .scale(to_u16(want_w), to_u16(want_h))
            .map_err(jpeg_error)?;
        (w, h) = (u32::from(sw), u32::from(sh));
        used = header.width.div_ceil(w.max(1));
    }
    let pixels = d.decode().map_err(jpeg_error)?;
    let info = d
        .info()
        .ok_or_else(|| Error::undecodable("JPEG", "no frame header"))?;
    let short = || Error::undecodable("JPEG", "decoded fewer pixels than the header declares");
    use jpeg_decoder::PixelFormat as P;
    let rgb: Vec<u8> = match info.pixel_format {
        P::RGB24 => pixels,
        P::L8 => pixels.iter().flat_map(|&l| [l, l, l]).collect(),
        P::L16 => pixels
            .chunks_exact(2)
            .flat_map(|c| {
                let l = c[0]; // big-endian: the high byte is the 8-bit value
                [l, l, l]
            })
            .collect(),
        P::CMYK32 => {
            let (rgb, icc) = crate::color::cmyk_to_rgb(&pixels, header.icc.as_deref());
            let img = image::RgbImage::from_raw(w, h, rgb).ok_or_else(short)?;
            return Ok((DynamicImage::ImageRgb8(img), Some(icc), used));
        }
    };
    let img = image::RgbImage::from_raw(w, h, rgb).ok_or_else(short)?;
    Ok((DynamicImage::ImageRgb8(img), None, used))
}

fn to_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}
