//! The calls into libaom's AV1 decoder for AVIF inputs (native builds only: the edge's wasm
//! build has no decoder, because libaom reports decoding errors with longjmp, which wasm32
//! cannot do safely; natively its setjmp/longjmp stay inside the C library, which returns an
//! error code for a corrupt bitstream).
//!
//! Contract relied on: a decoder context is initialised by `aom_codec_dec_init_ver` and
//! destroyed once ([`Context`]'s `Drop`); `aom_codec_decode` reads only the `data_sz` bytes it
//! is given; the image from `aom_codec_get_frame` stays valid until the next call on the
//! context, so its planes are copied out before anything else happens.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_uint};
use std::mem::MaybeUninit;
use std::ptr;

use libaom_sys as ffi;

/// A decoded frame, planes copied out as 16-bit samples (8-bit streams widened) without
/// padding. Chroma planes are `(width + x_shift) >> x_shift` wide (likewise in height); a
/// monochrome frame has empty chroma planes.
#[derive(Debug)]
pub(crate) struct Picture {
    pub width: usize,
    pub height: usize,
    pub bit_depth: u32,
    pub x_shift: u32,
    pub y_shift: u32,
    pub monochrome: bool,
    pub full_range: bool,
    /// CICP matrix coefficients (0 identity, 1 BT.709, 5/6 BT.601, 9 BT.2020, …).
    pub matrix: u32,
    pub planes: [Vec<u16>; 3],
}

struct Context(ffi::aom_codec_ctx_t);

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: built only after aom_codec_dec_init_ver returned OK; destroyed only here.
        unsafe {
            ffi::aom_codec_destroy(&mut self.0);
        }
    }
}

/// Decodes the first frame of an AV1 bitstream (an AVIF item's OBUs). `max_pixels` bounds the
/// frame the stream may produce: a larger frame is an error before its planes are copied.
pub(crate) fn decode(obus: &[u8], max_pixels: u64) -> Result<Picture, String> {
    let cfg = ffi::aom_codec_dec_cfg_t {
        threads: 1,
        w: 0,
        h: 0,
        allow_lowbitdepth: 1,
    };
    let mut raw = MaybeUninit::<ffi::aom_codec_ctx_t>::zeroed();
    // SAFETY: raw and cfg are valid for the call; aom_codec_av1_dx returns a static table; on
    // failure nothing needs freeing (libaom's documentation).
    let err = unsafe {
        ffi::aom_codec_dec_init_ver(
            raw.as_mut_ptr(),
            ffi::aom_codec_av1_dx(),
            &cfg,
            0,
            ffi::AOM_DECODER_ABI_VERSION as c_int,
        )
    };
    if err != ffi::AOM_CODEC_OK {
        return Err(format!("decoder init failed (error {err})"));
    }
    // SAFETY: initialised above.
    let mut ctx = Context(unsafe { raw.assume_init() });
    // SAFETY: ctx is initialised; data/len describe the caller's slice, only read.
    let err =
        unsafe { ffi::aom_codec_decode(&mut ctx.0, obus.as_ptr(), obus.len(), ptr::null_mut()) };
    if err != ffi::AOM_CODEC_OK {
        return Err(format!("the AV1 bitstream is invalid (error {err})"));
    }
    let mut iter: ffi::aom_codec_iter_t = ptr::null();
    // SAFETY: ctx is initialised; iter starts NULL.
    let img = unsafe { ffi::aom_codec_get_frame(&mut ctx.0, &mut iter) };
    if img.is_null() {
        return Err("the AV1 bitstream holds no frame".into());
    }
    // SAFETY: a non-null image from aom_codec_get_frame is valid until the next call on ctx;
    // everything below reads it before any such call.
    let img = unsafe { &*img };
    let (w, h) = (img.d_w as usize, img.d_h as usize);
    if w == 0 || h == 0 || (w as u64).saturating_mul(h as u64) > max_pixels {
        return Err(format!("the AV1 frame is {w}×{h}, over the pixel limit"));
    }
    let high = img.fmt & ffi::AOM_IMG_FMT_HIGHBITDEPTH != 0;
    let (xs, ys) = (img.x_chroma_shift.min(1), img.y_chroma_shift.min(1));
    let monochrome = img.monochrome != 0;
    let mut planes: [Vec<u16>; 3] = Default::default();
    for (i, plane) in planes.iter_mut().enumerate() {
        if i > 0 && monochrome {
            break;
        }
        let (pw, ph) = if i == 0 {
            (w, h)
        } else {
            ((w + xs as usize) >> xs, (h + ys as usize) >> ys)
        };
        let stride = img.stride[i];
        let base = img.planes[i];
        let bytes = if high { 2 } else { 1 };
        if base.is_null() || stride < 0 || (stride as usize) < pw * bytes {
            return Err("the decoder returned an unusable plane".into());
        }
        plane.reserve_exact(pw * ph);
        for row in 0..ph {
            // SAFETY: libaom allocated each plane with `stride` bytes per row for at least the
            // plane's rows; the row read is `pw * bytes` ≤ stride bytes (checked above). For
            // high bit depth the rows are u16-aligned buffers from libaom's aligned allocator.
            unsafe {
                let start = base.add(row * stride as usize);
                if high {
                    let r = std::slice::from_raw_parts(start.cast::<u16>(), pw);
                    plane.extend_from_slice(r);
                } else {
                    let r = std::slice::from_raw_parts(start, pw);
                    plane.extend(r.iter().map(|&v| u16::from(v)));
                }
            }
        }
    }
    Ok(Picture {
        width: w,
        height: h,
        bit_depth: img.bit_depth.clamp(8, 12) as c_uint,
        x_shift: xs,
        y_shift: ys,
        monochrome,
        full_range: img.range == ffi::AOM_CR_FULL_RANGE,
        matrix: img.mc,
        planes,
    })
}
