//! From component planes at the reduced scale to RGB: chroma upsampling (a triangle filter for
//! factors of 2, as JPEG decoders commonly do, and replication for larger integer factors) and
//! the JFIF YCbCr → RGB conversion (or none, for RGB-coded and grey images).

use super::markers::{Colour, Frame};

/// One component's pixels at the reduced scale.
#[derive(Debug)]
pub(super) struct Plane {
    pub pixels: Vec<u8>,
    pub stride: usize,
    /// The component's own size at this scale (the plane is padded past it).
    pub width: usize,
    pub height: usize,
    /// Output pixels per plane pixel, across and down.
    pub ratio: (usize, usize),
}

impl Plane {
    fn row(&self, y: usize) -> &[u8] {
        let y = y.min(self.height.saturating_sub(1));
        self.pixels
            .get(y * self.stride..y * self.stride + self.width)
            .unwrap_or(&[])
    }
}

/// Bytes of the rows [`to_rgb`] works in, for an output `width` pixels wide.
pub(super) fn row_bytes(width: u64, components: u64) -> u64 {
    width * (components + 2)
}

/// The size at scale `k / 8` of component `c` (as jpeg-decoder sizes it).
pub(super) fn scaled_size(frame: &Frame, c: usize, k: usize) -> (usize, usize) {
    let comp = frame.comps[c];
    let k = k as u64;
    let w = (u64::from(frame.width) * u64::from(comp.h) * k).div_ceil(u64::from(frame.hmax) * 8);
    let h = (u64::from(frame.height) * u64::from(comp.v) * k).div_ceil(u64::from(frame.vmax) * 8);
    (w as usize, h as usize)
}

/// One output row of a component, upsampled to `out.len()` pixels.
fn upsample(p: &Plane, y: usize, out: &mut [u8], sums: &mut [u16]) {
    let last = p.width.saturating_sub(1);
    match p.ratio {
        (1, 1) => {
            let row = p.row(y);
            let n = out.len().min(row.len());
            out[..n].copy_from_slice(&row[..n]);
        }
        (2, 1) => {
            let row = p.row(y);
            triangle(
                out,
                |i| u16::from(row.get(i.min(last)).copied().unwrap_or(0)),
                2,
                2,
            );
        }
        (1, 2) => {
            let (near, far) = (p.row(y / 2), p.row(vertical_neighbour(y)));
            for (x, o) in out.iter_mut().enumerate() {
                let (a, b) = (near.get(x), far.get(x));
                let v = 3 * u16::from(a.copied().unwrap_or(0)) + u16::from(b.copied().unwrap_or(0));
                *o = ((v + 2) >> 2) as u8;
            }
        }
        (2, 2) => {
            let (near, far) = (p.row(y / 2), p.row(vertical_neighbour(y)));
            let n = sums.len().min(near.len()).min(far.len());
            for i in 0..n {
                sums[i] = 3 * u16::from(near[i]) + u16::from(far[i]);
            }
            let last = n.saturating_sub(1);
            triangle(out, |i| sums.get(i.min(last)).copied().unwrap_or(0), 8, 4);
        }
        (rx, ry) => {
            let row = p.row(y / ry.max(1));
            for (x, o) in out.iter_mut().enumerate() {
                *o = row.get((x / rx.max(1)).min(last)).copied().unwrap_or(0);
            }
        }
    }
}

/// The row of the plane that the output row `y` (of a plane upsampled twice down) blends in:
/// the one above for even rows, below for odd ones.
fn vertical_neighbour(y: usize) -> usize {
    if y % 2 == 0 {
        (y / 2).saturating_sub(1)
    } else {
        y / 2 + 1
    }
}

/// Doubles a row across: each output pixel is ¾ of the nearer input and ¼ of the other
/// neighbour. `at(i)` gives input `i` (clamped); `round` and `shift` undo its scale.
fn triangle(out: &mut [u8], at: impl Fn(usize) -> u16, round: u16, shift: u32) {
    for (x, o) in out.iter_mut().enumerate() {
        let i = x / 2;
        let other = if x % 2 == 0 {
            i.saturating_sub(1)
        } else {
            i + 1
        };
        let v = 3 * u32::from(at(i)) + u32::from(at(other));
        // Alternate the rounding so that it has no bias.
        let bias = u32::from(round) - (x % 2) as u32;
        *o = ((v + bias) >> shift).min(255) as u8;
    }
}

/// JFIF (ITU-T T.871) YCbCr → RGB in 16-bit fixed point.
fn ycbcr(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    // 1.402, 0.344136, 0.714136 and 1.772, times 2^16, rounded.
    const ONE: i32 = 1 << 16;
    const CR_R: i32 = 91_881;
    const CB_G: i32 = 22_554;
    const CR_G: i32 = 46_802;
    const CB_B: i32 = 116_130;
    let (y, cb, cr) = (
        i32::from(y) * ONE + ONE / 2,
        i32::from(cb) - 128,
        i32::from(cr) - 128,
    );
    let r = y + CR_R * cr;
    let g = y - CB_G * cb - CR_G * cr;
    let b = y + CB_B * cb;
    let clamp = |v: i32| (v >> 16).clamp(0, 255) as u8;
    [clamp(r), clamp(g), clamp(b)]
}

/// Upsamples and converts the planes into an RGB image of `width` × `height`.
pub(super) fn to_rgb(colour: Colour, planes: &[Plane], width: usize, height: usize) -> Vec<u8> {
    let mut rgb = vec![0u8; width * height * 3];
    if width == 0 {
        return rgb;
    }
    let mut rows = vec![0u8; width * planes.len()];
    let mut sums = vec![0u16; width];
    for (y, out) in rgb.chunks_exact_mut(width * 3).enumerate() {
        for (p, row) in planes.iter().zip(rows.chunks_exact_mut(width)) {
            upsample(p, y, row, &mut sums);
        }
        match (colour, planes.len()) {
            (Colour::Grey, _) | (_, 1) => {
                for (px, &l) in out.chunks_exact_mut(3).zip(&rows[..width]) {
                    px.copy_from_slice(&[l, l, l]);
                }
            }
            (Colour::Rgb, _) => {
                let (r, rest) = rows.split_at(width);
                let (g, b) = rest.split_at(width);
                for (x, px) in out.chunks_exact_mut(3).enumerate() {
                    px.copy_from_slice(&[r[x], g[x], b[x]]);
                }
            }
            (Colour::YCbCr, _) => {
                let (l, rest) = rows.split_at(width);
                let (cb, cr) = rest.split_at(width);
                for (x, px) in out.chunks_exact_mut(3).enumerate() {
                    px.copy_from_slice(&ycbcr(l[x], cb[x], cr[x]));
                }
            }
        }
    }
    rgb
}
