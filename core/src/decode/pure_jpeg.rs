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
        animation: None,
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
///
/// At 1/8, jpeg-decoder keeps one chroma sample per 16×16 pixels of a 4:2:0 photo (the DC of
/// each chroma block) and upsamples it, so colours bleed across edges: 33.5 dB PSNR against
/// the area average of the full-size image on icc-p3.jpg, where libjpeg-turbo, which decodes
/// chroma at twice the scale instead, scores 49.8. A subsampled frame wanted at 1/8 is
/// therefore decoded at 1/4 and averaged 2×2 (42.2 dB; 46.1–50.5 on the other samples): four
/// times the pixels of a 1/8 decode, which is small by construction ([`crate::cost`] counts
/// them).
pub(super) fn decode(
    bytes: &[u8],
    header: &Header,
    shrink: u32,
    limits: &Limits,
) -> Result<(DynamicImage, Option<Icc>, u32), Error> {
    if shrink == 8 && super::frame::chroma_subsampled(bytes) {
        let (image, icc, used) = decode_at(bytes, header, 4, limits)?;
        if let (DynamicImage::ImageRgb8(rgb), None, 4) = (&image, &icc, used) {
            return Ok((DynamicImage::ImageRgb8(halve(rgb)), None, 8));
        }
        return Ok((image, icc, used));
    }
    decode_at(bytes, header, shrink, limits)
}

/// An RGB image averaged over 2×2 pixels (the last row and column over what is there).
fn halve(src: &image::RgbImage) -> image::RgbImage {
    let (w, h) = (src.width() as usize, src.height() as usize);
    let (hw, hh) = (w.div_ceil(2), h.div_ceil(2));
    let raw = src.as_raw();
    let mut out = vec![0u8; hw * hh * 3];
    for (oy, row) in out.chunks_exact_mut(hw * 3).enumerate() {
        let rows = [2 * oy, (2 * oy + 1).min(h - 1)];
        for (ox, px) in row.chunks_exact_mut(3).enumerate() {
            let cols = [2 * ox, (2 * ox + 1).min(w - 1)];
            for (c, v) in px.iter_mut().enumerate() {
                let sum: u32 = rows
                    .iter()
                    .flat_map(|&y| cols.iter().map(move |&x| (y * w + x) * 3 + c))
                    .map(|i| u32::from(raw[i]))
                    .sum();
                *v = ((sum + 2) / 4) as u8;
            }
        }
    }
    image::RgbImage::from_raw(hw as u32, hh as u32, out).unwrap_or_default()
}

fn decode_at(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::similarity::compare;

    fn sample(name: &str) -> Vec<u8> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/");
        std::fs::read(format!("{dir}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// 4:2:0 photos at 1/8 against the area average of their full-size decode: colour stays
    /// where it belongs (jpeg-decoder's own 1/8 scored 33.5–41.8 dB here; the halved 1/4
    /// decode 42.2–48.7).
    #[test]
    fn subsampled_photos_at_an_eighth_keep_their_colours_in_place() {
        let limits = Limits::default();
        for name in [
            "icc-p3.jpg",
            "baseline.jpg",
            "cat-small.jpg",
            "orientation-6.jpg",
        ] {
            let bytes = sample(name);
            let header = crate::decode::probe(&bytes, &limits).expect("probe");
            let (full, ..) = decode(&bytes, &header, 1, &limits).expect("full size");
            let reference = (0..3).fold(full.into_rgb8(), |img, _| halve(&img));
            let (got, icc, used) = decode(&bytes, &header, 8, &limits).expect("1/8");
            assert_eq!((icc, used), (None, 8), "{name}");
            let got = got.into_rgb8();
            assert_eq!(
                got.dimensions(),
                (header.width.div_ceil(8), header.height.div_ceil(8)),
                "{name}"
            );
            let s = compare(
                &DynamicImage::ImageRgb8(got),
                &DynamicImage::ImageRgb8(reference),
            )
            .expect("same size");
            assert!(s.psnr >= 40.0, "{name}: {s:?}");
        }
    }

    #[test]
    fn halving_averages_and_keeps_the_odd_edge() {
        let src = image::RgbImage::from_fn(3, 3, |x, y| image::Rgb([(x * 10 + y * 100) as u8; 3]));
        let half = halve(&src);
        assert_eq!(half.dimensions(), (2, 2));
        // (0+10+100+110)/4, (20+120)/2 over the column that is there, ...
        assert_eq!(half.get_pixel(0, 0).0[0], 55);
        assert_eq!(half.get_pixel(1, 0).0[0], 70);
        assert_eq!(half.get_pixel(0, 1).0[0], 205);
        assert_eq!(half.get_pixel(1, 1).0[0], 220);
    }
}
