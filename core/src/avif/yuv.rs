//! RGB(A) → Y′CbCr planes for the AV1 encoder: BT.601 coefficients, full range (what the AVIF
//! `colr` box written by avif-serialize declares by default, and what Safari assumes without
//! one). Chroma is either kept per pixel (4:4:4) or averaged over 2×2 pixels (4:2:0); Cb and Cr
//! are linear in R′G′B′, so averaging the pixels first and converting once is the same.

/// Three 8-bit planes; the chroma planes are `cw` wide.
#[derive(Debug)]
pub(crate) struct Planes {
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
    pub cw: usize,
}

// Fixed point, 16 fractional bits. BT.601: Kr = 0.299, Kb = 0.114.
const ONE: i32 = 1 << 16;
const YR: i32 = 19_595; // 0.299
const YG: i32 = 38_470; // 0.587
const YB: i32 = 7_471; // 0.114
const UR: i32 = -11_059; // -0.168736
const UG: i32 = -21_709; // -0.331264
const UB: i32 = 32_768; // 0.5
const VR: i32 = 32_768; // 0.5
const VG: i32 = -27_439; // -0.418688
const VB: i32 = -5_329; // -0.081312

fn clamp8(v: i32) -> u8 {
    // `v` is in 16.16 fixed point with the rounding half already added.
    (v >> 16).clamp(0, 255) as u8
}

/// Luma of one pixel.
fn luma(r: i32, g: i32, b: i32) -> u8 {
    clamp8(YR * r + YG * g + YB * b + ONE / 2)
}

/// Cb and Cr of the sum of `n` pixels' R, G and B.
fn chroma(r: i32, g: i32, b: i32, n: i32) -> (u8, u8) {
    let half = n * ONE / 2;
    let u = (UR * r + UG * g + UB * b + 128 * n * ONE + half) / n;
    let v = (VR * r + VG * g + VB * b + 128 * n * ONE + half) / n;
    (clamp8(u), clamp8(v))
}

/// Converts interleaved 8-bit pixels with `channels` (3 or 4) values each; only the first three
/// are read. `subsample` selects 4:2:0.
pub(crate) fn planes(
    pixels: &[u8],
    channels: usize,
    width: usize,
    height: usize,
    subsample: bool,
) -> Planes {
    let (cw, ch) = if subsample {
        (width.div_ceil(2), height.div_ceil(2))
    } else {
        (width, height)
    };
    let mut y = vec![0u8; width * height];
    let mut u = vec![0u8; cw * ch];
    let mut v = vec![0u8; cw * ch];
    let px = |x: usize, yy: usize| {
        let i = (yy * width + x) * channels;
        (
            i32::from(pixels[i]),
            i32::from(pixels[i + 1]),
            i32::from(pixels[i + 2]),
        )
    };
    for row in 0..height {
        for x in 0..width {
            let (r, g, b) = px(x, row);
            y[row * width + x] = luma(r, g, b);
        }
    }
    let step = if subsample { 2 } else { 1 };
    for cy in 0..ch {
        for cx in 0..cw {
            let (mut r, mut g, mut b, mut n) = (0, 0, 0, 0);
            for yy in cy * step..((cy + 1) * step).min(height) {
                for x in cx * step..((cx + 1) * step).min(width) {
                    let (pr, pg, pb) = px(x, yy);
                    r += pr;
                    g += pg;
                    b += pb;
                    n += 1;
                }
            }
            let (cu, cv) = chroma(r, g, b, n);
            u[cy * cw + cx] = cu;
            v[cy * cw + cx] = cv;
        }
    }
    Planes { y, u, v, cw }
}

/// The alpha channel of interleaved RGBA pixels, as a plane.
pub(crate) fn alpha(pixels: &[u8]) -> Vec<u8> {
    pixels.chunks_exact(4).map(|p| p[3]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greys_have_neutral_chroma_and_exact_luma() {
        for l in [0u8, 1, 17, 128, 200, 254, 255] {
            let p = planes(&[l, l, l], 3, 1, 1, false);
            assert_eq!((p.y[0], p.u[0], p.v[0]), (l, 128, 128));
        }
    }

    #[test]
    fn primaries_match_bt601_full_range() {
        // Red: Y = 0.299·255 = 76.2, Cb = 128 − 0.1687·255 = 85.0, Cr = 255.5 → 255.
        let p = planes(&[255, 0, 0], 3, 1, 1, false);
        assert_eq!((p.y[0], p.u[0], p.v[0]), (76, 85, 255));
        // Blue: Y = 29.1, Cb = 255.5 → 255, Cr = 128 − 0.0813·255 = 107.3.
        let p = planes(&[0, 0, 255], 3, 1, 1, false);
        assert_eq!((p.y[0], p.u[0], p.v[0]), (29, 255, 107));
    }

    #[test]
    fn subsampling_averages_two_by_two_and_covers_odd_edges() {
        // 3×3: the chroma planes are 2×2; the right column and bottom row average what exists.
        let mut px = Vec::new();
        for i in 0..9u8 {
            px.extend_from_slice(if i % 3 == 2 {
                &[0, 0, 255, 255]
            } else {
                &[255, 0, 0, 255]
            });
        }
        let p = planes(&px, 4, 3, 3, true);
        assert_eq!((p.cw, p.y.len(), p.u.len()), (2, 9, 4));
        let red = planes(&[255, 0, 0], 3, 1, 1, false);
        let blue = planes(&[0, 0, 255], 3, 1, 1, false);
        assert_eq!((p.u[0], p.v[0]), (red.u[0], red.v[0]));
        assert_eq!((p.u[1], p.v[1]), (blue.u[0], blue.v[0]));
        assert_eq!(alpha(&px), vec![255; 9]);
    }
}
