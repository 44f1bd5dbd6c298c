//! The calls into libaom's AV1 encoder (C, through libaom-sys's pre-generated bindings), driven
//! the way still-image encoders drive it: `AOM_USAGE_ALL_INTRA`, constant quality (`AOM_Q`
//! with a cq-level), one frame, one thread, tune SSIM, post-processing filters skipped.
//!
//! Everything unsafe in the AVIF encoder is in this file. The contract libaom documents and we
//! rely on: an encoder context is initialised by `aom_codec_enc_init_ver` and released by
//! `aom_codec_destroy` exactly once ([`Context`]'s `Drop`); an `aom_image_t` only borrows the
//! planes we point it at, which outlive the `aom_codec_encode` call that reads them; packets
//! returned by `aom_codec_get_cx_data` stay valid until the next call on the context, so they
//! are copied out at once.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_uint, CStr};
use std::mem::MaybeUninit;
use std::ptr;

use libaom_sys as ffi;

/// One frame's 8-bit planes: luma `width × height`, chroma `chroma_width` wide and either
/// subsampled 2×2 (4:2:0) or not (4:4:4). A monochrome frame (the alpha plane) still passes
/// neutral chroma planes, which libaom does not code.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub width: u32,
    pub height: u32,
    pub planes: [&'a [u8]; 3],
    pub chroma_width: usize,
    pub subsampled: bool,
    pub monochrome: bool,
}

/// Encoder settings: `cq` is libaom's cq-level, 0 (lossless) to 63; `speed` its cpu-used, 0 to 9.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    pub cq: u32,
    pub speed: u32,
}

/// An initialised encoder context; destroyed on drop.
struct Context(ffi::aom_codec_ctx_t);

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: the context was initialised by aom_codec_enc_init_ver (Context is only built
        // after it returned OK) and is destroyed only here, once.
        unsafe {
            ffi::aom_codec_destroy(&mut self.0);
        }
    }
}

impl Context {
    fn check(&mut self, err: ffi::aom_codec_err_t, what: &str) -> Result<(), String> {
        if err == ffi::AOM_CODEC_OK {
            return Ok(());
        }
        // SAFETY: aom_codec_error and aom_codec_error_detail accept an initialised context
        // and return NULL or a NUL-terminated string owned by libaom, read before any other
        // call on the context.
        let detail = unsafe {
            let d = ffi::aom_codec_error_detail(&self.0);
            let e = ffi::aom_codec_error(&self.0);
            let text = |p: *const std::ffi::c_char| {
                if p.is_null() {
                    String::new()
                } else {
                    CStr::from_ptr(p).to_string_lossy().into_owned()
                }
            };
            format!("{} {}", text(e), text(d))
        };
        Err(format!("libaom {what}: {}", detail.trim()))
    }

    fn control(&mut self, id: ffi::aome_enc_control_id, value: c_int) -> Result<(), String> {
        // SAFETY: every control set here takes an int (or unsigned int of the same size and
        // a non-negative value) as its single variadic argument, as aomcx.h declares.
        let err = unsafe { ffi::aom_codec_control(&mut self.0, id as c_int, value) };
        self.check(err, "control")
    }
}

/// Encodes one frame to an AV1 bitstream (OBUs), ready to be wrapped into an AVIF item.
pub(crate) fn encode(frame: &Frame<'_>, params: Params) -> Result<Vec<u8>, String> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let ch = if frame.subsampled { h.div_ceil(2) } else { h };
    let cw = frame.chroma_width;
    if frame.planes[0].len() < w * h
        || frame.planes[1].len() < cw * ch
        || frame.planes[2].len() < cw * ch
    {
        return Err("a plane is shorter than the frame".into());
    }
    let (fmt, profile) = if frame.subsampled || frame.monochrome {
        (ffi::AOM_IMG_FMT_I420, 0)
    } else {
        (ffi::AOM_IMG_FMT_I444, 1)
    };
    // SAFETY: aom_codec_av1_cx returns a pointer to a static interface table.
    let iface = unsafe { ffi::aom_codec_av1_cx() };
    let mut cfg = MaybeUninit::<ffi::aom_codec_enc_cfg_t>::zeroed();
    // SAFETY: cfg points to writable memory of the configuration's size; libaom fills every
    // field of it for the usage (all-intra exists in libaom ≥ 3.2; this is 3.11).
    let err = unsafe {
        ffi::aom_codec_enc_config_default(iface, cfg.as_mut_ptr(), ffi::AOM_USAGE_ALL_INTRA)
    };
    if err != ffi::AOM_CODEC_OK {
        return Err(format!(
            "libaom has no all-intra configuration (error {err})"
        ));
    }
    // SAFETY: aom_codec_enc_config_default returned OK, so every field is initialised (and the
    // zeroed start already made the bytes valid for this plain C struct).
    let mut cfg = unsafe { cfg.assume_init() };
    cfg.g_w = frame.width;
    cfg.g_h = frame.height;
    cfg.g_threads = 1;
    cfg.g_limit = 1;
    cfg.g_profile = profile;
    cfg.g_bit_depth = ffi::AOM_BITS_8;
    cfg.g_input_bit_depth = 8;
    cfg.monochrome = c_uint::from(frame.monochrome);
    cfg.rc_end_usage = ffi::AOM_Q;
    cfg.rc_min_quantizer = 0;
    cfg.rc_max_quantizer = 63;

    let mut raw = MaybeUninit::<ffi::aom_codec_ctx_t>::zeroed();
    // SAFETY: raw and cfg are valid for the call; on failure libaom leaves nothing to free
    // (its documentation: "it is not necessary to call aom_codec_destroy()").
    let err = unsafe {
        ffi::aom_codec_enc_init_ver(
            raw.as_mut_ptr(),
            iface,
            &cfg,
            0,
            ffi::AOM_ENCODER_ABI_VERSION as c_int,
        )
    };
    if err != ffi::AOM_CODEC_OK {
        return Err(format!("libaom encoder init failed (error {err})"));
    }
    // SAFETY: initialised by aom_codec_enc_init_ver above.
    let mut ctx = Context(unsafe { raw.assume_init() });
    let speed = params.speed.min(9) as c_int;
    ctx.control(ffi::AOME_SET_CPUUSED, speed)?;
    ctx.control(ffi::AOME_SET_CQ_LEVEL, params.cq.min(63) as c_int)?;
    ctx.control(ffi::AOME_SET_TUNING, ffi::AOM_TUNE_SSIM as c_int)?;
    ctx.control(ffi::AV1E_SET_SKIP_POSTPROC_FILTERING, 1)?;
    ctx.control(ffi::AV1E_SET_COLOR_RANGE, 1)?; // full range
    ctx.control(ffi::AV1E_SET_COLOR_PRIMARIES, 1)?; // BT.709 (sRGB primaries)
    ctx.control(ffi::AV1E_SET_TRANSFER_CHARACTERISTICS, 13)?; // sRGB
    ctx.control(ffi::AV1E_SET_MATRIX_COEFFICIENTS, 6)?; // BT.601

    let mut img = MaybeUninit::<ffi::aom_image_t>::zeroed();
    // SAFETY: with a non-null data pointer aom_img_wrap allocates nothing and only fills the
    // descriptor; the plane pointers and strides are then set to our own planes, which are
    // long enough (checked above) and outlive every use of `img` in this function. libaom
    // reads the planes only (no denoising is configured, so it never writes to them).
    unsafe {
        let p = ffi::aom_img_wrap(
            img.as_mut_ptr(),
            fmt,
            frame.width,
            frame.height,
            1,
            frame.planes[0].as_ptr().cast_mut(),
        );
        if p.is_null() {
            return Err("libaom rejected the frame size".into());
        }
    }
    // SAFETY: aom_img_wrap succeeded, so the descriptor is initialised.
    let mut img = unsafe { img.assume_init() };
    for (i, plane) in frame.planes.iter().enumerate() {
        img.planes[i] = plane.as_ptr().cast_mut();
        img.stride[i] = stride(if i == 0 { w } else { cw })?;
    }
    img.monochrome = c_int::from(frame.monochrome);
    img.range = ffi::AOM_CR_FULL_RANGE;
    img.cp = 1;
    img.tc = 13;
    img.mc = 6;

    // SAFETY: ctx is initialised and img describes readable planes (above).
    let err = unsafe { ffi::aom_codec_encode(&mut ctx.0, &img, 0, 1, 0) };
    ctx.check(err, "encode")?;
    let mut out = Vec::new();
    drain(&mut ctx, &mut out);
    // Flush: libaom may hold the frame until it is told the stream ended.
    // SAFETY: a NULL image is the documented end-of-stream signal.
    let err = unsafe { ffi::aom_codec_encode(&mut ctx.0, ptr::null(), 0, 0, 0) };
    ctx.check(err, "flush")?;
    drain(&mut ctx, &mut out);
    if out.is_empty() {
        return Err("libaom produced no frame".into());
    }
    Ok(out)
}

fn stride(n: usize) -> Result<c_int, String> {
    c_int::try_from(n).map_err(|_| "plane too wide".to_string())
}

/// Appends every compressed-frame packet waiting on the context.
fn drain(ctx: &mut Context, out: &mut Vec<u8>) {
    let mut iter: ffi::aom_codec_iter_t = ptr::null();
    loop {
        // SAFETY: ctx is initialised; iter starts NULL and is only advanced by libaom.
        let pkt = unsafe { ffi::aom_codec_get_cx_data(&mut ctx.0, &mut iter) };
        if pkt.is_null() {
            break;
        }
        // SAFETY: a non-null packet is valid until the next call on the context; for a frame
        // packet the `frame` union member is the active one, and buf/sz describe its data.
        unsafe {
            if (*pkt).kind == ffi::AOM_CODEC_CX_FRAME_PKT {
                let f = (*pkt).data.frame;
                if !f.buf.is_null() && f.sz > 0 {
                    out.extend_from_slice(std::slice::from_raw_parts(f.buf.cast::<u8>(), f.sz));
                }
            }
        }
    }
}
