//! Dequantization and the inverse DCT at a reduced size (A.3.3, scaled).
//!
//! The 8×8 inverse DCT is `f(x, y) = Σu Σv m(x, u) m(y, v) F(u, v)` with
//! `m(x, u) = C(u) / 2 · cos((2x + 1) u π / 16)` and `C(0) = 1/√2`, `C(u) = 1` otherwise. To get
//! k×k pixels per block (k = 4, 2, 1), only the coefficients `u, v < k` are used and the cosines
//! are taken on the k-point grid: `m_k(x, u) = C(u) / 2 · cos((2x + 1) u π / 2k)`. The DC term
//! still gives the block's mean (`F(0,0) / 8`), and each output pixel is the low-pass image at
//! the centre of the k×k area it stands for.

use super::store::{Blocks, Layout};

/// `m_k(x, u)` for `k` = 1, 2, 4, 8, as rows of `k` (x) by `k` (u), concatenated.
fn basis(k: usize) -> Vec<f32> {
    let mut m = Vec::with_capacity(k * k);
    for x in 0..k {
        for u in 0..k {
            let c = if u == 0 {
                std::f64::consts::FRAC_1_SQRT_2
            } else {
                1.0
            };
            let angle = (2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / (2 * k) as f64;
            m.push((c / 2.0 * angle.cos()) as f32);
        }
    }
    m
}

/// The 4-point inverse DCT (even and odd halves of `m_4`).
#[inline(always)]
fn idct4([f0, f1, f2, f3]: [f32; 4]) -> [f32; 4] {
    // m_4(x, 0) = 1/(2√2); m_4(x, 2) = ±cos(π/4)/2; m_4(x, 1), m_4(x, 3) = ±cos(π/8)/2 or
    // ±cos(3π/8)/2, with the signs of the cosines of (2x + 1)uπ/8.
    const C0: f32 = 0.353_553_38; // 1 / (2√2), also cos(π/4) / 2
    const C1: f32 = 0.461_939_77; // cos(π/8) / 2
    const C3: f32 = 0.191_341_72; // cos(3π/8) / 2
    let (e0, e1) = (C0 * (f0 + f2), C0 * (f0 - f2));
    let (o0, o1) = (C1 * f1 + C3 * f3, C3 * f1 - C1 * f3);
    [e0 + o0, e1 + o1, e1 - o1, e0 - o0]
}

/// The k×k pixels (minus 128) of one block from its dequantized coefficients `f` (natural
/// order within the k×k corner), row-major into `out`.
fn block(k: usize, f: &[f32; 64], m: &[f32], out: &mut [f32; 64]) {
    match k {
        1 => out[0] = f[0] / 8.0,
        2 => {
            // Every m_2(x, u) is ±1/(2√2), negative only for x = 1, u = 1: each pixel is
            // (F00 ± F01 ± F10 ± F11) / 8 (slots: F00, F01 | F10, F11).
            let (even, odd) = (f[0] + f[2], f[0] - f[2]);
            let (even1, odd1) = (f[1] + f[3], f[1] - f[3]);
            out[..4].copy_from_slice(&[
                (even + even1) / 8.0,
                (even - even1) / 8.0,
                (odd + odd1) / 8.0,
                (odd - odd1) / 8.0,
            ]);
        }
        4 => {
            // Along each row of coefficients (u), then down each column (v).
            let mut t = [[0f32; 4]; 4];
            for (v, row) in t.iter_mut().enumerate() {
                *row = idct4([f[v * 4], f[v * 4 + 1], f[v * 4 + 2], f[v * 4 + 3]]);
            }
            for x in 0..4 {
                let col = idct4([t[0][x], t[1][x], t[2][x], t[3][x]]);
                for (y, p) in col.into_iter().enumerate() {
                    out[y * 4 + x] = p;
                }
            }
        }
        _ => {
            let mut tmp = [0f32; 64];
            for v in 0..k {
                for x in 0..k {
                    tmp[v * k + x] = (0..k).map(|u| m[x * k + u] * f[v * k + u]).sum();
                }
            }
            for y in 0..k {
                for x in 0..k {
                    out[y * k + x] = (0..k).map(|v| m[y * k + v] * tmp[v * k + x]).sum();
                }
            }
        }
    }
}

/// Writes the k×k pixels of every block of one component into `plane` (its rows are
/// `blocks.across * k` bytes). Without a quantization table (the component was in no scan)
/// the plane is mid-grey.
pub(super) fn component(blocks: &Blocks, layout: &Layout, plane: &mut [u8]) {
    let (k, kk) = (layout.k, layout.kk);
    let stride = blocks.across * k;
    let Some(quant) = blocks.quant else {
        plane.fill(128);
        return;
    };
    // The quantizer of each kept slot (natural order within the k×k corner).
    let mut q = [0f32; 64];
    for (s, q) in q.iter_mut().enumerate().take(kk) {
        *q = f32::from(quant[(s / k) * 8 + s % k]);
    }
    let m = if k > 4 { basis(k) } else { Vec::new() };
    let mut f = [0f32; 64];
    let mut out = [0f32; 64];
    let rows = blocks.coefs.chunks_exact(kk * blocks.across.max(1));
    for (row_of_blocks, dst) in rows.zip(plane.chunks_exact_mut(stride * k)) {
        for (bx, coefs) in row_of_blocks.chunks_exact(kk).enumerate() {
            if coefs[1..].iter().all(|&c| c == 0) {
                // Flat: every pixel is the DC term's mean (most blocks at 1/4 and 1/8).
                out[..kk].fill(f32::from(coefs[0]) * q[0] / 8.0);
            } else {
                for ((f, &c), &q) in f.iter_mut().zip(coefs).zip(&q) {
                    *f = f32::from(c) * q;
                }
                block(k, &f, &m, &mut out);
            }
            for y in 0..k {
                let at = y * stride + bx * k;
                for (p, &v) in dst[at..at + k].iter_mut().zip(&out[y * k..y * k + k]) {
                    // Rounded; `as` saturates to 0..=255.
                    *p = (v + 128.5) as u8;
                }
            }
        }
    }
}
