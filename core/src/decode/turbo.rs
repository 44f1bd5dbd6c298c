//! Native JPEG decoding through libjpeg-turbo 3.1 (its TurboJPEG 3 API, vendored in
//! `turbojpeg-sys` and built by cmake with nasm, so with its SIMD code), with DCT-domain
//! scaling by 1/2, 1/4 and 1/8. Built only with the `turbojpeg` feature on non-wasm targets; the
//! edge and every build without the feature decode with jpeg-decoder.
//!
//! It produces what the jpeg-decoder path produces: 8-bit RGB (grey expanded by libjpeg-turbo's
//! own colour conversion), CMYK and YCCK converted through [`crate::color::cmyk_to_rgb`] with
//! the header's ICC profile, the same shrink and dimensions. Memory is checked from the header
//! before anything is allocated: the output buffer (and, for a progressive file, the full-size
//! coefficients libjpeg-turbo keeps until the last scan) must fit
//! [`crate::Limits::max_decode_alloc`], which also caps libjpeg-turbo's own coefficient arrays.
//!
//! Damaged input: libjpeg-turbo reports errors as return codes (the TurboJPEG 3 API catches
//! libjpeg's `error_exit` with a `setjmp` inside each C call, so nothing unwinds or jumps
//! across Rust frames). It also decodes through some damage with a warning: a truncated file
//! comes back grey-filled, bad entropy data comes back as garbage blocks. Any warning or error
//! here hands the file to jpeg-decoder ([`decode`] returns `Ok(None)`), whose verdict (its
//! pixels or its error) is the answer: damaged files are decoded or refused exactly as they
//! were before this decoder existed. `TJPARAM_STOPONWARNING` stops libjpeg-turbo at the first
//! warning, so a damaged file costs at most one partial libjpeg-turbo pass on top.
//!
//! Also handed over: what libjpeg-turbo's 8-bit API does not decode (12-bit and lossless
//! JPEGs, which jpeg-decoder reads or refuses as before).
#![allow(unsafe_code)]

use std::ffi::c_int;
use std::ptr::NonNull;

use image::{DynamicImage, RgbImage};
use turbojpeg_sys as tj;

use super::Header;
use crate::color::Icc;
use crate::{Error, Limits};

/// Decoded pixels, the colour handling done while decoding, and the shrink actually used.
pub type Pixels = (DynamicImage, Option<Icc>, u32);

/// Bytes of coefficients a progressive JPEG keeps per 8×8 block until its last scan.
const PROGRESSIVE_BLOCK_BYTES: u64 = 128;

/// Decodes `bytes` (whose probed header is `header`) at 1/`shrink` scale through
/// libjpeg-turbo. `Ok(None)`: this file is for jpeg-decoder (damaged, 12-bit, lossless).
/// [`super::decode`] is the entry point; this one is public for benchmarks, which compare the
/// decoders on the same file.
pub fn decode(
    bytes: &[u8],
    header: &Header,
    shrink: u32,
    limits: &Limits,
) -> Result<Option<Pixels>, Error> {
    let Some(mut d) = Decompressor::new() else {
        return Ok(None);
    };
    let max_alloc = limits.max_decode_alloc();
    // Second lines of defence (the probe checked the pixels, `check_memory` the buffers):
    // libjpeg-turbo refuses a frame over the pixel limit and coefficient arrays over the
    // memory limit (in MiB) instead of allocating them.
    let configured = d.set(tj::TJPARAM_TJPARAM_STOPONWARNING, 1)
        && d.set(tj::TJPARAM_TJPARAM_SAVEMARKERS, 0)
        && d.set(
            tj::TJPARAM_TJPARAM_MAXPIXELS,
            clamp(limits.max_input_pixels),
        )
        && d.set(
            tj::TJPARAM_TJPARAM_MAXMEMORY,
            clamp(max_alloc.div_ceil(1 << 20)),
        );
    if !configured || !d.read_header(bytes) {
        return Ok(None);
    }
    let (width, height) = (
        d.get(tj::TJPARAM_TJPARAM_JPEGWIDTH),
        d.get(tj::TJPARAM_TJPARAM_JPEGHEIGHT),
    );
    if d.get(tj::TJPARAM_TJPARAM_PRECISION) != 8
        || d.get(tj::TJPARAM_TJPARAM_LOSSLESS) != 0
        || (i64::from(width), i64::from(height))
            != (i64::from(header.width), i64::from(header.height))
    {
        return Ok(None);
    }
    let cmyk = matches!(
        u32::try_from(d.get(tj::TJPARAM_TJPARAM_COLORSPACE)),
        Ok(tj::TJCS_TJCS_CMYK | tj::TJCS_TJCS_YCCK)
    );
    let denom = scale_denominator(shrink);
    let (w, h) = (header.width.div_ceil(denom), header.height.div_ceil(denom));
    let channels: u32 = if cmyk { 4 } else { 3 };
    check_memory(header, u64::from(w) * u64::from(h), channels, max_alloc)?;
    if !d.set_scaling_factor(denom) {
        return Ok(None);
    }
    let pitch = w as usize * channels as usize;
    let Some(len) = pitch.checked_mul(h as usize) else {
        return Ok(None);
    };
    let mut pixels = vec![0u8; len];
    let format = if cmyk {
        tj::TJPF_TJPF_CMYK
    } else {
        tj::TJPF_TJPF_RGB
    };
    if !d.decompress(bytes, &mut pixels, pitch, format) {
        return Ok(None);
    }
    drop(d);
    // As the jpeg-decoder path reports it: the shrink whose ceiling gives this width.
    let used = if denom > 1 {
        header.width.div_ceil(w.max(1))
    } else {
        1
    };
    let short = || Error::undecodable("JPEG", "decoded fewer pixels than the header declares");
    if cmyk {
        // libjpeg-turbo gives CMYK as stored (Adobe's inverted convention, YCCK converted to
        // it); jpeg-decoder, whose convention crate::color expects, gives 255 minus that.
        for v in &mut pixels {
            *v = 255 - *v;
        }
        let (rgb, icc) = crate::color::cmyk_to_rgb(&pixels, header.icc.as_deref());
        drop(pixels);
        let img = RgbImage::from_raw(w, h, rgb).ok_or_else(short)?;
        return Ok(Some((DynamicImage::ImageRgb8(img), Some(icc), used)));
    }
    let img = RgbImage::from_raw(w, h, pixels).ok_or_else(short)?;
    Ok(Some((DynamicImage::ImageRgb8(img), None, used)))
}

/// The DCT scale denominator libjpeg-turbo is asked for: the plan's shrink (1, 2, 4 or 8); any
/// other value is rounded down to one of those, as jpeg-decoder's `scale` would.
fn scale_denominator(shrink: u32) -> u32 {
    match shrink {
        0 | 1 => 1,
        2 | 3 => 2,
        4..=7 => 4,
        _ => 8,
    }
}

/// Refuses, from the header alone, a decode whose buffers would exceed `max_alloc`: the output
/// (`channels` bytes per decoded pixel, plus the RGB copy a CMYK image is converted into) and,
/// for a progressive file, the full-size coefficients libjpeg-turbo keeps.
fn check_memory(header: &Header, pixels: u64, channels: u32, max_alloc: u64) -> Result<(), Error> {
    let output = pixels.saturating_mul(u64::from(channels));
    let converted = if channels == 4 { pixels * 3 } else { 0 };
    let coefficients = if header.progressive {
        header.dct_blocks.saturating_mul(PROGRESSIVE_BLOCK_BYTES)
    } else {
        0
    };
    let needed = output
        .saturating_add(converted)
        .saturating_add(coefficients);
    if needed > max_alloc {
        return Err(Error::undecodable(
            "JPEG",
            format!("decoding needs {needed} bytes, over the limit of {max_alloc}"),
        ));
    }
    Ok(())
}

fn clamp(v: u64) -> c_int {
    c_int::try_from(v).unwrap_or(c_int::MAX)
}

/// A TurboJPEG decompression instance, destroyed on drop. Every method returns whether
/// libjpeg-turbo reported success: a warning counts as a failure (see the module docs).
struct Decompressor {
    handle: NonNull<std::ffi::c_void>,
    /// The input whose header the instance holds (address and length), from `read_header`.
    header_of: Option<(*const u8, usize)>,
    /// The scale denominator set by `set_scaling_factor` (1 until then).
    denom: u32,
}

impl Decompressor {
    fn new() -> Option<Self> {
        // SAFETY: tj3Init takes an integer only and returns a new instance or NULL.
        let handle = unsafe { tj::tj3Init(tj::TJINIT_TJINIT_DECOMPRESS as c_int) };
        Some(Decompressor {
            handle: NonNull::new(handle)?,
            header_of: None,
            denom: 1,
        })
    }

    fn set(&mut self, param: tj::TJPARAM, value: c_int) -> bool {
        // SAFETY: `handle` is a live instance from tj3Init (destroyed only in Drop, and
        // `&mut` means no other call uses it meanwhile); tj3Set reads its integer arguments
        // only and range-checks the value.
        unsafe { tj::tj3Set(self.handle.as_ptr(), param as c_int, value) == 0 }
    }

    fn get(&self, param: tj::TJPARAM) -> c_int {
        // SAFETY: a live instance (see `set`); tj3Get only reads a field of it.
        unsafe { tj::tj3Get(self.handle.as_ptr(), param as c_int) }
    }

    /// Reads the frame header of `jpeg` (size, colour space, precision) into the instance.
    fn read_header(&mut self, jpeg: &[u8]) -> bool {
        self.header_of = None;
        let Ok(len) = tj::size_t::try_from(jpeg.len()) else {
            return false;
        };
        // SAFETY: a live instance (see `set`). `jpeg` is valid for reads of `len` bytes for
        // the whole call, and libjpeg-turbo's memory source reads only inside
        // `jpeg[..len]`. The pointer it keeps in the instance is not read again: the call
        // ends with jpeg_abort_decompress, and the next decompression (or tj3Destroy, which
        // reads no input) installs its own source first.
        let ok = unsafe { tj::tj3DecompressHeader(self.handle.as_ptr(), jpeg.as_ptr(), len) == 0 };
        if ok {
            self.header_of = Some((jpeg.as_ptr(), jpeg.len()));
        }
        ok
    }

    fn set_scaling_factor(&mut self, denom: u32) -> bool {
        let Ok(c_denom) = c_int::try_from(denom) else {
            return false;
        };
        let factor = tj::tjscalingfactor {
            num: 1,
            denom: c_denom,
        };
        // SAFETY: a live instance (see `set`); the factor is passed by value and checked
        // against libjpeg-turbo's list of supported factors.
        let ok = unsafe { tj::tj3SetScalingFactor(self.handle.as_ptr(), factor) == 0 };
        if ok {
            self.denom = denom;
        }
        ok
    }

    /// The size `decompress` writes: the header's size scaled by the factor set, rounded up
    /// (TJSCALED, and libjpeg's jdiv_round_up for the output size).
    fn scaled_size(&self) -> Option<(usize, usize)> {
        let w = u32::try_from(self.get(tj::TJPARAM_TJPARAM_JPEGWIDTH)).ok()?;
        let h = u32::try_from(self.get(tj::TJPARAM_TJPARAM_JPEGHEIGHT)).ok()?;
        Some((
            w.div_ceil(self.denom) as usize,
            h.div_ceil(self.denom) as usize,
        ))
    }

    /// Decodes `jpeg`, whose header [`Self::read_header`] read last, into `out`: rows of
    /// `pitch` bytes, in `format` (RGB or CMYK), at the scaling factor set. Refuses (false)
    /// unless `out` holds exactly the scaled size's rows of `pitch` bytes and a row of
    /// pixels fits `pitch`.
    fn decompress(&mut self, jpeg: &[u8], out: &mut [u8], pitch: usize, format: tj::TJPF) -> bool {
        let bytes_per_pixel = match format {
            tj::TJPF_TJPF_RGB => 3,
            tj::TJPF_TJPF_CMYK => 4,
            _ => return false,
        };
        let Some((w, h)) = self.scaled_size() else {
            return false;
        };
        let sized = w
            .checked_mul(bytes_per_pixel)
            .is_some_and(|row| row <= pitch)
            && pitch.checked_mul(h) == Some(out.len());
        if self.header_of != Some((jpeg.as_ptr(), jpeg.len())) || !sized {
            return false;
        }
        let (Ok(len), Ok(c_pitch)) = (tj::size_t::try_from(jpeg.len()), c_int::try_from(pitch))
        else {
            return false;
        };
        // SAFETY: a live instance (see `set`). `jpeg` is valid for reads of `len` bytes and
        // is read only inside them (see `read_header`). libjpeg-turbo parses the frame header
        // again from these bytes, the very slice `read_header` read (checked above; `&[u8]`
        // is immutable), so its output size is the scaled size computed above from that
        // header and the scaling factor set (jdiv_round_up is the same ceiling). It writes
        // that many rows of `w` pixels of `format` (3 or 4 bytes each, ≤ `pitch` bytes), row
        // `i` at `out + i * pitch`, and `out` holds `pitch * h` bytes, checked above. Nothing
        // is kept past the call.
        unsafe {
            tj::tj3Decompress8(
                self.handle.as_ptr(),
                jpeg.as_ptr(),
                len,
                out.as_mut_ptr(),
                c_pitch,
                format,
            ) == 0
        }
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: `handle` came from tj3Init and is destroyed exactly once, here.
        unsafe { tj::tj3Destroy(self.handle.as_ptr()) }
    }
}

#[cfg(test)]
#[path = "turbo_tests.rs"]
mod tests;
