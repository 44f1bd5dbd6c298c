//! jpeg-decoder (pure Rust, the same on every target): the header probe of every JPEG, and the
//! decoder of wasm builds, of builds without the `turbojpeg` feature, and of whatever the other
//! decoders hand back ([`super::decode_jpeg`] says which runs when).

use std::io::Cursor;

use image::DynamicImage;

use super::{Header, InputFormat};
use crate::color::Icc;
use crate::exif;
use crate::{Error, Limits};

fn jpeg_error(e: jpeg_decoder::Error) -> Error {
    Error::undecodable("JPEG", e)
}

/// The header as jpeg-decoder reads it (every build probes JPEG this way), with the frame's
/// DCT blocks and whether the progressive decoder reads it scaled.
pub(super) fn probe(bytes: &[u8]) -> Result<Header, Error> {
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
        progressive_scaled: super::progressive::handles(bytes),
        // The frame header was parsed by read_info, so it is there; the fallback (every
        // component at full size) only errs on the side of more memory.
        dct_blocks: super::frame::dct_blocks(bytes).unwrap_or_else(|| {
            let components = info.pixel_format.pixel_bytes().min(4) as u64;
            u64::from(info.width.div_ceil(8) + 1)
                * u64::from(info.height.div_ceil(8) + 1)
                * components
        }),
        bytes_per_pixel: u8::try_from(info.pixel_format.pixel_bytes()).unwrap_or(u8::MAX),
        alpha: false,
    })
}

/// jpeg-decoder (pure Rust, the same on every target), with its own 1/2, 1/4 and 1/8 IDCT.
pub(super) fn decode(
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
