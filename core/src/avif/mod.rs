//! AVIF output: libaom's AV1 encoder in all-intra mode ([`aom`]), fed Y′CbCr planes converted
//! here ([`yuv`]), wrapped into an AVIF file by avif-serialize. An alpha channel is a second,
//! monochrome AV1 image (the AVIF auxiliary alpha item).
//!
//! Chroma: 4:2:0 for photos (the web's default, and at equal quality smaller and faster than
//! 4:4:4; docs/cost.md and BENCHMARKS.md have the measurements), 4:4:4 where subsampling shows,
//! as [`crate::encode::encode`] decides: `quality=` 90 and above, and images from lossless
//! sources (PNG, GIF: text, line art, flat colours with sharp edges).

mod aom;
#[cfg(not(target_arch = "wasm32"))]
mod dx;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod input;
mod yuv;

use image::DynamicImage;

use crate::Error;

/// How to encode: `quality` 0–100 on libavif's scale, `speed` libaom's cpu-used (0 slowest …
/// 9 fastest), `full_chroma` 4:4:4 instead of 4:2:0 (decided by the caller,
/// [`crate::encode::encode`], on Refract's quality scale).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub quality: u8,
    pub speed: u8,
    pub full_chroma: bool,
}

/// The cq-level for a quality: libavif's linear map of 0–100 onto quantizers 63–0.
fn cq_level(quality: u8) -> u32 {
    let q = u32::from(quality.min(100));
    ((100 - q) * 63 + 50) / 100
}

pub(crate) fn encode(img: &DynamicImage, settings: Settings) -> Result<Vec<u8>, Error> {
    let (w, h) = (img.width(), img.height());
    let (pixels, channels) = match img {
        DynamicImage::ImageRgb8(i) => (i.as_raw(), 3),
        DynamicImage::ImageRgba8(i) => (i.as_raw(), 4),
        _ => {
            return Err(Error::Internal {
                context: "encoding AVIF from a non-8-bit image",
                source: None,
            })
        }
    };
    let subsample = !settings.full_chroma;
    let planes = yuv::planes(pixels, channels, w as usize, h as usize, subsample);
    let params = aom::Params {
        cq: cq_level(settings.quality),
        speed: u32::from(settings.speed),
    };
    let fail = |e: String| Error::Internal {
        context: "encoding AVIF",
        source: Some(e.into()),
    };
    let color = aom::encode(
        &aom::Frame {
            width: w,
            height: h,
            planes: [&planes.y, &planes.u, &planes.v],
            chroma_width: planes.cw,
            subsampled: subsample,
            monochrome: false,
        },
        params,
    )
    .map_err(fail)?;
    let alpha = if channels == 4 {
        let a = yuv::alpha(pixels);
        let (cw, ch) = (w.div_ceil(2) as usize, h.div_ceil(2) as usize);
        let neutral = vec![128u8; cw * ch];
        Some(
            aom::encode(
                &aom::Frame {
                    width: w,
                    height: h,
                    planes: [&a, &neutral, &neutral],
                    chroma_width: cw,
                    subsampled: true,
                    monochrome: true,
                },
                params,
            )
            .map_err(fail)?,
        )
    } else {
        None
    };
    let mut file = avif_serialize::Aviffy::new();
    file.set_seq_profile(if subsample { 0 } else { 1 })
        .set_chroma_subsampling((subsample, subsample))
        .set_full_color_range(true);
    Ok(file.to_vec(&color, alpha.as_deref(), w, h, 8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_maps_onto_the_whole_quantizer_range() {
        assert_eq!(cq_level(100), 0);
        assert_eq!(cq_level(0), 63);
        assert_eq!(cq_level(50), 32);
        let mut last = 64;
        for q in 0..=100 {
            let cq = cq_level(q);
            assert!(cq <= last, "cq must fall as quality rises");
            last = cq;
        }
    }

    #[test]
    fn encodes_rgb_and_rgba_that_the_image_crate_can_probe() {
        let mut rgba = image::RgbaImage::new(33, 17);
        for (x, y, p) in rgba.enumerate_pixels_mut() {
            *p = image::Rgba([
                (x * 7) as u8,
                (y * 15) as u8,
                90,
                if x < 16 { 255 } else { 100 },
            ]);
        }
        for (img, full) in [
            (DynamicImage::ImageRgba8(rgba.clone()), false),
            (
                DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba).to_rgb8()),
                true,
            ),
        ] {
            let out = encode(
                &img,
                Settings {
                    quality: 60,
                    speed: 9,
                    full_chroma: full,
                },
            )
            .expect("encode");
            assert_eq!(&out[4..12], b"ftypavif");
        }
    }
}
