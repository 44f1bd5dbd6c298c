//! Applies [`Adjust`] (brightness, contrast, gamma, saturation) to 8-bit RGB(A) pixels.
//!
//! On the sRGB-encoded values `v` in 0–1 of each colour channel, in this order: brightness
//! `v·b`, contrast `(v − ½)·c + ½`, gamma `v^(1/g)`, each clamped to 0–1 — one 256-entry
//! table per image. Then saturation moves each channel away from the pixel's luma `Y` (BT.709
//! weights on the same values): `Y + (v − Y)·s`, clamped. Alpha is not touched.

use image::DynamicImage;

use crate::spec::Adjust;

/// The tone curve of brightness, contrast and gamma, as a table over the 256 input levels.
fn tone_table(a: &Adjust) -> [u8; 256] {
    let b = a.brightness.unwrap_or(1.0);
    let c = a.contrast.unwrap_or(1.0);
    let inv_g = 1.0 / a.gamma.unwrap_or(1.0);
    std::array::from_fn(|i| {
        let v = (i as f32 / 255.0 * b).clamp(0.0, 1.0);
        let v = ((v - 0.5) * c + 0.5).clamp(0.0, 1.0);
        (v.powf(inv_g) * 255.0).round() as u8
    })
}

fn saturate(px: &mut [u8], s: f32) {
    let [r, g, b] = [px[0], px[1], px[2]].map(f32::from);
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    for c in &mut px[..3] {
        *c = (y + (f32::from(*c) - y) * s).round().clamp(0.0, 255.0) as u8;
    }
}

/// Applies the adjustments; the image comes back unchanged when they are the identity.
pub fn apply(img: DynamicImage, a: &Adjust) -> DynamicImage {
    if a.is_identity() {
        return img;
    }
    let tone = (a.brightness.is_some() || a.contrast.is_some() || a.gamma.is_some())
        .then(|| tone_table(a));
    let run = |pixels: &mut [u8], stride: usize| {
        for px in pixels.chunks_exact_mut(stride) {
            if let Some(t) = &tone {
                for c in &mut px[..3] {
                    *c = t[usize::from(*c)];
                }
            }
            if let Some(s) = a.saturation {
                saturate(px, s);
            }
        }
    };
    match img {
        DynamicImage::ImageRgba8(mut i) => {
            run(&mut i, 4);
            DynamicImage::ImageRgba8(i)
        }
        other => {
            let mut i = other.into_rgb8();
            run(&mut i, 3);
            DynamicImage::ImageRgb8(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn one(px: [u8; 3], a: Adjust) -> [u8; 3] {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb(px)));
        apply(img, &a).into_rgb8().get_pixel(0, 0).0
    }

    #[test]
    fn each_factor_does_what_its_name_says() {
        let none = Adjust::default();
        assert_eq!(one([10, 128, 250], none), [10, 128, 250]);
        let half = Adjust {
            brightness: Some(0.5),
            ..none
        };
        assert_eq!(one([10, 128, 250], half), [5, 64, 125]);
        let twice = Adjust {
            brightness: Some(2.0),
            ..none
        };
        assert_eq!(one([10, 128, 250], twice), [20, 255, 255]);
        // Contrast pivots on mid-grey: 2 doubles the distance from 127.5.
        let contrast = Adjust {
            contrast: Some(2.0),
            ..none
        };
        assert_eq!(one([100, 128, 200], contrast), [73, 129, 255]);
        // Gamma 2 lightens (v^0.5), 0.5 darkens (v^2); black and white stay.
        let light = Adjust {
            gamma: Some(2.0),
            ..none
        };
        assert_eq!(one([0, 64, 255], light), [0, 128, 255]);
        let dark = Adjust {
            gamma: Some(0.5),
            ..none
        };
        assert_eq!(one([0, 128, 255], dark), [0, 64, 255]);
        // Saturation 0 is the grey of the same BT.709 luma; greys do not change at any factor.
        let grey = Adjust {
            saturation: Some(0.0),
            ..none
        };
        assert_eq!(one([255, 0, 0], grey), [54, 54, 54]);
        let vivid = Adjust {
            saturation: Some(3.0),
            ..none
        };
        assert_eq!(one([90, 90, 90], vivid), [90, 90, 90]);
    }

    #[test]
    fn alpha_is_kept() {
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            2,
            1,
            image::Rgba([200, 100, 50, 7]),
        ));
        let a = Adjust {
            brightness: Some(0.5),
            saturation: Some(0.0),
            ..Adjust::default()
        };
        let out = apply(img, &a).into_rgba8();
        assert_eq!(out.get_pixel(1, 0).0[3], 7);
    }
}
