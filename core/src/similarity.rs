//! Image similarity for tests, parity checks and benchmarks: mean SSIM over the luma of two
//! same-sized images (8×8 windows, stride 4), and PSNR over RGB.

use image::DynamicImage;

/// Similarity of two images of equal size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// Mean structural similarity of the luma channel, 1.0 for identical images.
    pub ssim: f64,
    /// Peak signal-to-noise ratio over RGB in dB (`f64::INFINITY` for identical images).
    pub psnr: f64,
}

/// Compares `a` and `b` (alpha is composited over white first). `None` if sizes differ.
pub fn compare(a: &DynamicImage, b: &DynamicImage) -> Option<Similarity> {
    let (w, h) = (a.width() as usize, a.height() as usize);
    if (a.width(), a.height()) != (b.width(), b.height()) || w == 0 || h == 0 {
        return None;
    }
    let (a, b) = (rgb_over_white(a), rgb_over_white(b));
    let (la, lb) = (luma(&a), luma(&b));
    Some(Similarity {
        ssim: mean_ssim(&la, &lb, w, h),
        psnr: psnr(&a, &b),
    })
}

/// PSNR in dB of two 8-bit sample buffers, compared sample by sample over the shorter one
/// (`f64::INFINITY` when they are equal).
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let n = a.len().min(b.len()).max(1);
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / n as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

fn rgb_over_white(img: &DynamicImage) -> Vec<u8> {
    crate::ops::flatten(img.clone(), [255, 255, 255, 255])
        .into_rgb8()
        .into_raw()
}

fn luma(rgb: &[u8]) -> Vec<f64> {
    rgb.chunks_exact(3)
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect()
}

fn mean_ssim(a: &[f64], b: &[f64], w: usize, h: usize) -> f64 {
    const WIN: usize = 8;
    const STRIDE: usize = 4;
    const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
    const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);
    let (ww, wh) = (WIN.min(w), WIN.min(h));
    let mut total = 0.0;
    let mut count = 0usize;
    let mut y = 0;
    loop {
        let mut x = 0;
        loop {
            let n = (ww * wh) as f64;
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for yy in y..y + wh {
                for xx in x..x + ww {
                    let (p, q) = (a[yy * w + xx], b[yy * w + xx]);
                    sa += p;
                    sb += q;
                    saa += p * p;
                    sbb += q * q;
                    sab += p * q;
                }
            }
            let (ma, mb) = (sa / n, sb / n);
            let va = saa / n - ma * ma;
            let vb = sbb / n - mb * mb;
            let cov = sab / n - ma * mb;
            total += ((2.0 * ma * mb + C1) * (2.0 * cov + C2))
                / ((ma * ma + mb * mb + C1) * (va + vb + C2));
            count += 1;
            if x + ww >= w {
                break;
            }
            x = (x + STRIDE).min(w - ww);
        }
        if y + wh >= h {
            break;
        }
        y = (y + STRIDE).min(h - wh);
    }
    total / count as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn gradient(w: u32, h: u32, shift: u8) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, shift])
        }))
    }

    #[test]
    fn identical_images_score_one() {
        let a = gradient(40, 30, 0);
        let s = compare(&a, &a).expect("same size");
        assert!((s.ssim - 1.0).abs() < 1e-9);
        assert!(s.psnr.is_infinite());
    }

    #[test]
    fn different_images_score_lower() {
        let a = gradient(40, 30, 0);
        let noise = DynamicImage::ImageRgb8(RgbImage::from_fn(40, 30, |x, y| {
            let v = ((x * 131 + y * 71) % 256) as u8;
            Rgb([v, v, v])
        }));
        let s = compare(&a, &noise).expect("same size");
        assert!(s.ssim < 0.5, "{s:?}");
        assert!(compare(&a, &gradient(41, 30, 0)).is_none());
    }
}
