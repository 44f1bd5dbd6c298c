//! Animated WebP output through libwebp's `WebPAnimEncoder` (C, through libwebp-sys), fed one
//! full-canvas frame at a time: the encoder picks each frame's changed rectangle, blending and
//! disposal itself, so what is kept of the source's own disposal is how the frames look.
//!
//! Everything unsafe about animated WebP is in this file. libwebp's contract, which the code
//! below keeps: `WebPAnimEncoderNewInternal` returns an encoder (or null) that
//! `WebPAnimEncoderDelete` releases exactly once ([`Encoder`]'s `Drop`); a `WebPPicture` is
//! initialised by `WebPPictureInit`, owns the ARGB buffer `WebPPictureImportRGBA` allocates in
//! it, and is released by `WebPPictureFree`; `WebPAnimEncoderAdd` copies the picture into its
//! own canvas before it returns; the `WebPData` filled by `WebPAnimEncoderAssemble` is owned by
//! the caller and freed by `WebPDataClear`.
#![allow(unsafe_code)]

use std::mem::MaybeUninit;

use image::RgbaImage;
use libwebp_sys as ffi;

use crate::Error;

fn failed(context: &'static str) -> Error {
    Error::Internal {
        context,
        source: None,
    }
}

/// The settings of every frame.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// libwebp's 0–100.
    pub quality: f32,
    pub lossless: bool,
    /// 0–6.
    pub method: u8,
    /// 0 loops forever.
    pub loop_count: u16,
}

/// An animation being encoded.
pub struct Encoder {
    enc: *mut ffi::WebPAnimEncoder,
    config: ffi::WebPConfig,
    width: u32,
    height: u32,
    /// Start of the next frame, in milliseconds.
    timestamp: i32,
}

impl Encoder {
    pub fn new(width: u32, height: u32, s: Settings) -> Result<Encoder, Error> {
        let w = i32::try_from(width).map_err(|_| failed("animated WebP width"))?;
        let h = i32::try_from(height).map_err(|_| failed("animated WebP height"))?;
        let mut config = ffi::WebPConfig::new().map_err(|()| failed("configuring WebP"))?;
        config.lossless = i32::from(s.lossless);
        config.quality = if s.lossless { 75.0 } else { s.quality };
        config.method = i32::from(s.method.min(6));
        config.alpha_compression = i32::from(!s.lossless);
        let mut options = MaybeUninit::<ffi::WebPAnimEncoderOptions>::uninit();
        // SAFETY: the options struct is written in full by the init call, which returns 0 only
        // on an ABI mismatch; it is read (assume_init) only after a non-zero return.
        let mut options = unsafe {
            if ffi::WebPAnimEncoderOptionsInitInternal(
                options.as_mut_ptr(),
                ffi::WebPGetMuxABIVersion(),
            ) == 0
            {
                return Err(failed("initialising the WebP animation options"));
            }
            options.assume_init()
        };
        options.anim_params.loop_count = i32::from(s.loop_count);
        // Transparent: what shows where no frame has drawn yet.
        options.anim_params.bgcolor = 0;
        // SAFETY: width and height are positive i32 (checked above and by libwebp, which
        // returns null for a bad size); `options` is a valid, initialised struct that libwebp
        // copies. A null result is handled before the pointer is stored.
        let enc =
            unsafe { ffi::WebPAnimEncoderNewInternal(w, h, &options, ffi::WebPGetMuxABIVersion()) };
        if enc.is_null() {
            return Err(failed("creating the WebP animation encoder"));
        }
        Ok(Encoder {
            enc,
            config,
            width,
            height,
            timestamp: 0,
        })
    }

    /// Adds one full-canvas frame shown for `duration_ms`.
    pub fn add(&mut self, frame: &RgbaImage, duration_ms: u32) -> Result<(), Error> {
        if frame.dimensions() != (self.width, self.height) {
            return Err(failed("an animation frame of another size"));
        }
        let mut pic = ffi::WebPPicture::new().map_err(|()| failed("a WebP picture"))?;
        pic.use_argb = 1;
        pic.width = self.width as i32;
        pic.height = self.height as i32;
        let stride = (self.width * 4) as i32;
        // SAFETY: `pic` was initialised by WebPPicture::new (WebPPictureInit); the import
        // reads `height` rows of `stride` bytes from the frame's buffer, which holds exactly
        // width × height RGBA pixels (checked above), and allocates the picture's own ARGB
        // buffer. The encoder copies the picture during `WebPAnimEncoderAdd`; the picture's
        // buffer is then freed once, on every path, by WebPPictureFree. `self.enc` is the live
        // encoder this struct owns, and `self.config` a valid configuration.
        let ok = unsafe {
            let imported = ffi::WebPPictureImportRGBA(&mut pic, frame.as_raw().as_ptr(), stride);
            let added = imported != 0
                && ffi::WebPAnimEncoderAdd(self.enc, &mut pic, self.timestamp, &self.config) != 0;
            ffi::WebPPictureFree(&mut pic);
            added
        };
        if !ok {
            return Err(self.error("encoding an animation frame"));
        }
        let duration = i32::try_from(duration_ms).unwrap_or(i32::MAX);
        self.timestamp = self
            .timestamp
            .checked_add(duration)
            .ok_or_else(|| failed("an animation longer than 24 days"))?;
        Ok(())
    }

    /// Ends the animation (the last frame lasts its own duration) and returns the file.
    pub fn finish(self) -> Result<Vec<u8>, Error> {
        let mut data = MaybeUninit::<ffi::WebPData>::zeroed();
        // SAFETY: the null picture is libwebp's documented end-of-stream marker; `data` is a
        // zeroed WebPData (null pointer, size 0, a valid empty value) that Assemble fills with
        // a buffer the caller owns. Its bytes are copied into a Vec and the buffer freed once
        // by WebPDataClear before `data` goes out of scope. `self.enc` is live until Drop.
        unsafe {
            if ffi::WebPAnimEncoderAdd(
                self.enc,
                std::ptr::null_mut(),
                self.timestamp,
                std::ptr::null(),
            ) == 0
                || ffi::WebPAnimEncoderAssemble(self.enc, data.as_mut_ptr()) == 0
            {
                return Err(self.error("assembling the WebP animation"));
            }
            let mut data = data.assume_init();
            let bytes = if data.bytes.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts(data.bytes, data.size).to_vec()
            };
            ffi::WebPDataClear(&mut data);
            Ok(bytes)
        }
    }

    fn error(&self, context: &'static str) -> Error {
        // SAFETY: `self.enc` is live; the returned string is owned by the encoder, NUL
        // terminated (or null), and copied before the encoder can change it.
        let message = unsafe {
            let p = ffi::WebPAnimEncoderGetError(self.enc);
            (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
        };
        Error::Internal {
            context,
            source: message.map(Into::into),
        }
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: `enc` came from WebPAnimEncoderNewInternal, is not null (checked in `new`),
        // and is deleted exactly once, here.
        unsafe { ffi::WebPAnimEncoderDelete(self.enc) }
    }
}
