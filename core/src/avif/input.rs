//! AVIF inputs (native builds): the container is read by avif-parse (fallible allocations, no
//! unsafe), the colour and alpha items' AV1 payloads are decoded by libaom ([`super::dx`]), and
//! the Y′CbCr planes are converted to 8-bit RGB(A) here.
//!
//! Supported: one still image (the primary item) with an optional alpha item, 8 to 12 bits,
//! 4:2:0, 4:2:2, 4:4:4 and monochrome, full or limited range, the BT.601, BT.709, BT.2020 and
//! identity matrices. Not applied: the container's rotation, mirror and clean-aperture
//! properties and ICC profiles (avif-parse does not read them), and HDR transfer functions.

use image::{DynamicImage, RgbImage, RgbaImage};

use super::dx;
use crate::Error;

fn bad(e: impl std::fmt::Display) -> Error {
    Error::undecodable("AVIF", e.to_string())
}

/// What the header says: the frame size the sequence allows, whether there is alpha, the bit
/// depth.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Info {
    pub width: u32,
    pub height: u32,
    pub alpha: bool,
    pub bit_depth: u8,
}

fn parse(bytes: &[u8]) -> Result<avif_parse::AvifData, Error> {
    // avif-parse checks its own state with a debug assertion that malformed boxes can trip
    // (turned off for it in the workspace's dev profile too); a panic in the parser is a
    // malformed file, not a crash.
    std::panic::catch_unwind(|| avif_parse::read_avif(&mut std::io::Cursor::new(bytes)))
        .map_err(|_| bad("malformed container"))?
        .map_err(bad)
}

pub(crate) fn probe(bytes: &[u8]) -> Result<Info, Error> {
    let data = parse(bytes)?;
    let meta = data.primary_item_metadata().map_err(bad)?;
    Ok(Info {
        width: meta.max_frame_width.get(),
        height: meta.max_frame_height.get(),
        alpha: data.alpha_item.is_some(),
        bit_depth: meta.bit_depth,
    })
}

/// Decodes to 8-bit RGB, or RGBA when there is an alpha item. `max_pixels` bounds each frame.
pub(crate) fn decode(bytes: &[u8], max_pixels: u64) -> Result<DynamicImage, Error> {
    let data = parse(bytes)?;
    let color = dx::decode(&data.primary_item, max_pixels).map_err(bad)?;
    let rgb = to_rgb(&color);
    let Some(alpha_item) = data.alpha_item.as_ref() else {
        let img = RgbImage::from_raw(color.width as u32, color.height as u32, rgb)
            .ok_or_else(|| bad("colour planes do not fill the frame"))?;
        return Ok(DynamicImage::ImageRgb8(img));
    };
    let alpha = dx::decode(alpha_item, max_pixels).map_err(bad)?;
    if (alpha.width, alpha.height) != (color.width, color.height) {
        return Err(bad("the alpha item's size differs from the image's"));
    }
    let a = samples_8bit(&alpha.planes[0], alpha.bit_depth, alpha.full_range);
    let mut rgba = Vec::with_capacity(a.len() * 4);
    for (px, &a) in rgb.chunks_exact(3).zip(&a) {
        if data.premultiplied_alpha && a > 0 {
            for &c in px {
                rgba.push(((u32::from(c) * 255 + u32::from(a) / 2) / u32::from(a)).min(255) as u8);
            }
        } else {
            rgba.extend_from_slice(px);
        }
        rgba.push(a);
    }
    let img = RgbaImage::from_raw(color.width as u32, color.height as u32, rgba)
        .ok_or_else(|| bad("alpha plane does not fill the frame"))?;
    Ok(DynamicImage::ImageRgba8(img))
}

/// `(offset, scale)` that map a luma (or alpha) sample to 0.0–1.0: `(v − offset) / scale`.
/// Limited range stretches 16–235 (scaled to the bit depth) to full.
fn luma_range(bit_depth: u32, full: bool) -> (f32, f32) {
    let shift = bit_depth - 8;
    if full {
        (0.0, f32::from((1u16 << bit_depth) - 1))
    } else {
        (f32::from(16u16 << shift), f32::from(219u16 << shift))
    }
}

/// `(offset, scale)` that map a chroma sample to −0.5–0.5.
fn chroma_range(bit_depth: u32, full: bool) -> (f32, f32) {
    let shift = bit_depth - 8;
    if full {
        (
            f32::from(1u16 << (bit_depth - 1)),
            f32::from((1u16 << bit_depth) - 1),
        )
    } else {
        (f32::from(128u16 << shift), f32::from(224u16 << shift))
    }
}

fn to8(x: f32) -> u8 {
    (x * 255.0).round().clamp(0.0, 255.0) as u8
}

/// A plane's samples scaled to 0–255 (limited range stretched to full).
fn samples_8bit(plane: &[u16], bit_depth: u32, full: bool) -> Vec<u8> {
    let (y0, ys) = luma_range(bit_depth, full);
    plane
        .iter()
        .map(|&v| to8((f32::from(v) - y0) / ys))
        .collect()
}

/// Kr and Kb of a CICP matrix; `None` for identity (planes are G, B, R).
fn coefficients(matrix: u32) -> Option<(f32, f32)> {
    match matrix {
        0 => None,
        1 => Some((0.2126, 0.0722)),
        9 | 10 => Some((0.2627, 0.0593)),
        // 5, 6 (BT.601), 2 (unspecified: what browsers assume) and anything else.
        _ => Some((0.299, 0.114)),
    }
}

fn to_rgb(p: &dx::Picture) -> Vec<u8> {
    let (w, h) = (p.width, p.height);
    let (y0, ys) = luma_range(p.bit_depth, p.full_range);
    let (c0, cs) = chroma_range(p.bit_depth, p.full_range);
    let luma = |v: u16| (f32::from(v) - y0) / ys;
    let chroma = |v: u16| (f32::from(v) - c0) / cs;
    let matrix = coefficients(p.matrix);
    let cw = (w + p.x_shift as usize) >> p.x_shift;
    let mut out = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let l = luma(p.planes[0][y * w + x]);
            if p.monochrome {
                let v = to8(l);
                out.extend_from_slice(&[v, v, v]);
                continue;
            }
            let ci = (y >> p.y_shift) * cw + (x >> p.x_shift);
            let (cb, cr) = (p.planes[1][ci], p.planes[2][ci]);
            match matrix {
                None => {
                    // Identity: Y is G, Cb is B, Cr is R, all coded like luma.
                    out.extend_from_slice(&[to8(luma(cr)), to8(l), to8(luma(cb))]);
                }
                Some((kr, kb)) => {
                    let (u, v) = (chroma(cb), chroma(cr));
                    let r = l + 2.0 * (1.0 - kr) * v;
                    let b = l + 2.0 * (1.0 - kb) * u;
                    let g = (l - kr * r - kb * b) / (1.0 - kr - kb);
                    out.extend_from_slice(&[to8(r), to8(g), to8(b)]);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avif::{encode, Settings};

    fn photo(w: u32, h: u32, alpha: bool) -> DynamicImage {
        let img = RgbaImage::from_fn(w, h, |x, y| {
            image::Rgba([
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                ((x + y) * 128 / (w + h)) as u8 + 60,
                if alpha { (x * 255 / w) as u8 } else { 255 },
            ])
        });
        if alpha {
            DynamicImage::ImageRgba8(img)
        } else {
            DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(img).to_rgb8())
        }
    }

    #[test]
    fn our_own_avif_decodes_back_to_its_pixels() {
        for (alpha, full_chroma) in [(false, false), (true, false), (false, true)] {
            let src = photo(67, 45, alpha);
            let settings = Settings {
                quality: 90,
                speed: 9,
                full_chroma,
            };
            let file = encode(&src, settings).expect("encode");
            let info = probe(&file).expect("probe");
            assert_eq!((info.width, info.height, info.alpha), (67, 45, alpha));
            let back = decode(&file, 1 << 20).expect("decode");
            assert_eq!((back.width(), back.height()), (67, 45));
            assert_eq!(back.color().has_alpha(), alpha);
            let db = crate::similarity::psnr(back.as_bytes(), src.as_bytes());
            assert!(
                db > 35.0,
                "PSNR {db:.1} dB (alpha {alpha}, 4:4:4 {full_chroma})"
            );
        }
    }

    #[test]
    fn broken_and_oversized_inputs_are_clean_errors() {
        let file = encode(
            &photo(64, 64, false),
            Settings {
                quality: 50,
                speed: 9,
                full_chroma: false,
            },
        )
        .expect("encode");
        assert!(decode(&file, 64 * 64 - 1).is_err(), "over the pixel limit");
        for cut in [0, 12, 40, file.len() / 2, file.len() - 10] {
            assert!(decode(&file[..cut], 1 << 20).is_err(), "truncated at {cut}");
        }
        // Flip bits in the AV1 payload (the tail of the file): an error or some picture, never
        // a crash.
        for i in (file.len() - 200..file.len()).step_by(7) {
            let mut broken = file.clone();
            broken[i] ^= 0x5a;
            let _ = decode(&broken, 1 << 20);
        }
    }
}
