//! `gravity=auto`: find the most interesting region to keep when cropping.
//!
//! The image is reduced to at most [`ANALYSIS_SIZE`] pixels on its long side. Each pixel's
//! interest is its edge energy (absolute luma differences to its right and lower neighbours)
//! plus half its colourfulness (max − min channel). A window with the crop's proportions is
//! slid over every position, scored with a summed-area table, and the best window wins; ties
//! go to the window nearest the centre. The result is the window's centre as a focal point.

use image::DynamicImage;

use crate::ops;
use crate::plan::Rect;

/// Long side of the image the saliency measure looks at.
pub const ANALYSIS_SIZE: u32 = 96;

/// Focal point (fractions of `region`) of the most salient `crop_w` × `crop_h` window inside
/// `region` of `img`, where the crop size is given as fractions (`0..=1`) of the region.
pub fn focal_point(img: &DynamicImage, region: Rect, crop_w: f64, crop_h: f64) -> (f32, f32) {
    let (w, h) = (
        region.width.round().max(1.0) as u32,
        region.height.round().max(1.0) as u32,
    );
    let scale = f64::from(ANALYSIS_SIZE) / f64::from(w.max(h));
    let (sw, sh) = if scale < 1.0 {
        (
            ((f64::from(w) * scale).round() as u32).max(1),
            ((f64::from(h) * scale).round() as u32).max(1),
        )
    } else {
        (w, h)
    };
    let Ok(small) = ops::resize(img.clone(), region, sw, sh) else {
        return (0.5, 0.5);
    };
    let rgb = small.into_rgb8();
    let (sw, sh) = (sw as usize, sh as usize);
    let luma: Vec<i32> = rgb
        .pixels()
        .map(|p| {
            (i32::from(p.0[0]) * 299 + i32::from(p.0[1]) * 587 + i32::from(p.0[2]) * 114) / 1000
        })
        .collect();
    // Summed-area table with a zero row and column in front.
    let mut sat = vec![0u64; (sw + 1) * (sh + 1)];
    for y in 0..sh {
        let mut row = 0u64;
        for x in 0..sw {
            let i = y * sw + x;
            let l = luma[i];
            let dx = if x + 1 < sw {
                (luma[i + 1] - l).abs()
            } else {
                0
            };
            let dy = if y + 1 < sh {
                (luma[i + sw] - l).abs()
            } else {
                0
            };
            let p = rgb.as_raw();
            let c = &p[i * 3..i * 3 + 3];
            let chroma =
                i32::from(*c.iter().max().unwrap_or(&0)) - i32::from(*c.iter().min().unwrap_or(&0));
            row += (dx + dy + chroma / 2) as u64;
            sat[(y + 1) * (sw + 1) + x + 1] = sat[y * (sw + 1) + x + 1] + row;
        }
    }
    let ww = ((crop_w * sw as f64).round() as usize).clamp(1, sw);
    let wh = ((crop_h * sh as f64).round() as usize).clamp(1, sh);
    let sum = |x: usize, y: usize| {
        let (x1, y1) = (x + ww, y + wh);
        sat[y1 * (sw + 1) + x1] + sat[y * (sw + 1) + x]
            - sat[y * (sw + 1) + x1]
            - sat[y1 * (sw + 1) + x]
    };
    let (cx, cy) = ((sw - ww) as f64 / 2.0, (sh - wh) as f64 / 2.0);
    let mut best = (0u64, f64::MAX, cx, cy);
    for y in 0..=sh - wh {
        for x in 0..=sw - ww {
            let score = sum(x, y);
            let dist = (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2);
            if score > best.0 || (score == best.0 && dist < best.1) {
                best = (score, dist, x as f64, y as f64);
            }
        }
    }
    let fx = (best.2 + ww as f64 / 2.0) / sw as f64;
    let fy = (best.3 + wh as f64 / 2.0) / sh as f64;
    (fx as f32, fy as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    /// A flat grey image with a small busy checkerboard patch at (px, py).
    fn busy_patch(w: u32, h: u32, px: u32, py: u32) -> DynamicImage {
        let mut img = RgbImage::from_pixel(w, h, Rgb([128, 128, 128]));
        for y in py..py + 20 {
            for x in px..px + 20 {
                let v = if (x / 2 + y / 2) % 2 == 0 { 0 } else { 255 };
                img.put_pixel(x, y, Rgb([v, 255 - v, v]));
            }
        }
        DynamicImage::ImageRgb8(img)
    }

    fn whole(img: &DynamicImage) -> Rect {
        Rect {
            x: 0.0,
            y: 0.0,
            width: f64::from(img.width()),
            height: f64::from(img.height()),
        }
    }

    #[test]
    fn finds_the_busy_region() {
        let img = busy_patch(400, 200, 330, 90);
        let (fx, _) = focal_point(&img, whole(&img), 0.25, 1.0);
        assert!(fx > 0.75, "focal x {fx} should be on the right");
        let img = busy_patch(400, 200, 20, 90);
        let (fx, _) = focal_point(&img, whole(&img), 0.25, 1.0);
        assert!(fx < 0.25, "focal x {fx} should be on the left");
    }

    #[test]
    fn looks_only_inside_the_region() {
        // The busy patch is at the far right, outside the analysed left half.
        let img = busy_patch(400, 200, 330, 90);
        let left_half = Rect {
            x: 0.0,
            y: 0.0,
            width: 200.0,
            height: 200.0,
        };
        let (fx, _) = focal_point(&img, left_half, 0.5, 1.0);
        assert!(
            (fx - 0.5).abs() < 0.05,
            "flat region keeps the centre, got {fx}"
        );
    }

    #[test]
    fn flat_image_prefers_centre() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(300, 300, Rgb([9, 9, 9])));
        let (fx, fy) = focal_point(&img, whole(&img), 0.5, 0.5);
        assert!(
            (fx - 0.5).abs() < 0.02 && (fy - 0.5).abs() < 0.02,
            "{fx},{fy}"
        );
    }
}
