//! Animations: animated GIF and WebP inputs kept animated, as animated WebP or GIF.
//!
//! An animation is read frame by frame (the image crate composites each GIF or WebP frame
//! onto the full canvas, applying the source's blending and disposal), every frame goes
//! through the same pipeline as a still image ([`crate::transform`]: geometry, colour,
//! effects, border; `gravity=auto` and `trim=border` are decided on the first frame and kept),
//! and is handed to the encoder at once, so memory holds one canvas, not the whole animation.
//! Frame durations and the loop count are kept; the encoders choose their own disposal for the
//! frames they write, so what is kept of the source's disposal is how every frame looks.
//!
//! Cost: every frame is decoded, resized and encoded, so the estimate is the still one times
//! the frames ([`estimate`]), and [`crate::Limits::max_frames`] and
//! [`crate::Limits::max_animation_pixels`] bound it before anything is decoded. The frame
//! count and sizes come from [`scan`], a walk over the container's block lengths.

use std::io::Cursor;

use image::codecs::gif::GifDecoder;
use image::codecs::webp::WebPDecoder;
use image::{AnimationDecoder, DynamicImage, RgbaImage};

use crate::decode::{Header, InputFormat};
use crate::{Error, Limits, OutputFormat};

mod cost;
mod scan;
#[cfg(feature = "webp")]
mod webp;

pub use cost::estimate;
pub use scan::scan;

/// What the container says about an animation (or a GIF's single frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    pub frames: u32,
    /// How many times the animation plays; 0 is forever. (A GIF's NETSCAPE2.0 count is of
    /// repeats, one less; a GIF without one plays once.)
    pub loop_count: u16,
    /// Pixels stored over all frames (each frame's own rectangle).
    pub frame_pixels: u64,
    /// The largest frame's area.
    pub largest_frame: u64,
}

impl Info {
    /// Refuses a frame larger than [`Limits::max_input_pixels`]: GIF frames may be larger
    /// than the screen they are drawn on, and each one is decoded whole.
    pub(crate) fn check_frames(&self, limits: &Limits) -> Result<(), Error> {
        if self.largest_frame > limits.max_input_pixels {
            let side = (self.largest_frame as f64).sqrt().min(f64::from(u32::MAX)) as u32;
            return Err(Error::TooManyPixels {
                width: side,
                height: side,
                limit: limits.max_input_pixels,
            });
        }
        Ok(())
    }

    /// Refuses an animation over [`Limits::max_frames`] or [`Limits::max_animation_pixels`]
    /// (counted as every frame composited on the full canvas) before it is decoded.
    pub(crate) fn check_animation(&self, header: &Header, limits: &Limits) -> Result<(), Error> {
        let canvas = u64::from(header.width) * u64::from(header.height);
        let pixels = u64::from(self.frames).saturating_mul(canvas.max(self.largest_frame));
        if self.frames > limits.max_frames || pixels > limits.max_animation_pixels {
            return Err(Error::AnimationTooLarge {
                frames: u64::from(self.frames),
                pixels,
                max_frames: limits.max_frames,
                max_pixels: limits.max_animation_pixels,
            });
        }
        Ok(())
    }
}

/// Whether `format` is written as an animation when the input is one.
pub fn animates(format: OutputFormat) -> bool {
    matches!(format, OutputFormat::Webp { .. } | OutputFormat::Gif)
}

/// One decoded frame: the full canvas and how long it shows, in milliseconds.
pub(crate) type Decoded = (RgbaImage, u32);

/// The frames of an animated GIF or WebP, decoded one at a time within `limits`.
pub(crate) fn frames<'a>(
    bytes: &'a [u8],
    header: &Header,
    limits: &Limits,
) -> Result<impl Iterator<Item = Result<Decoded, Error>> + 'a, Error> {
    let format = header.format;
    let err = move |e: image::ImageError| Error::undecodable(format.name(), e);
    let mut image_limits = image::Limits::default();
    image_limits.max_alloc = Some(limits.max_decode_alloc());
    let frames = match format {
        InputFormat::Gif => {
            let mut d = GifDecoder::new(Cursor::new(bytes)).map_err(err)?;
            image::ImageDecoder::set_limits(&mut d, image_limits).map_err(err)?;
            d.into_frames()
        }
        InputFormat::Webp => {
            let mut d = WebPDecoder::new(Cursor::new(bytes)).map_err(err)?;
            image::ImageDecoder::set_limits(&mut d, image_limits).map_err(err)?;
            // A frame disposed to the background is cleared to transparent, as browsers and
            // libwebp's own decoder do; without a colour set, image-webp skips the disposal
            // and leaves a trail.
            d.set_background_color(image::Rgba([0, 0, 0, 0]))
                .map_err(err)?;
            d.into_frames()
        }
        other => {
            return Err(Error::undecodable(other.name(), "not an animation format"));
        }
    };
    let max_frames = limits.max_frames as usize;
    Ok(frames.take(max_frames).map(move |f| {
        let f = f.map_err(err)?;
        let (numer, denom) = f.delay().numer_denom_ms();
        let ms = numer.checked_div(denom).unwrap_or(0);
        Ok((f.into_buffer(), ms))
    }))
}

/// Where finished frames go.
pub(crate) enum Sink {
    #[cfg(feature = "webp")]
    Webp(webp::Encoder),
    Gif(Box<GifSink>),
}

/// A GIF being written: the gif crate's encoder, created with the first frame's size.
pub(crate) struct GifSink {
    enc: gif::Encoder<Vec<u8>>,
    size: (u16, u16),
}

/// NeuQuant's sampling factor for GIF frames: 1 is best and slowest, 30 fastest; 10 is the
/// image crate's own default.
const GIF_SPEED: i32 = 10;

impl Sink {
    /// A sink for `format` (animated WebP or GIF) of `width` × `height` frames. `quality`
    /// (libwebp's scale) and `method` are WebP's.
    #[cfg_attr(not(feature = "webp"), allow(unused_variables))]
    pub(crate) fn new(
        format: OutputFormat,
        (width, height): (u32, u32),
        quality: f32,
        method: u8,
        loop_count: u16,
    ) -> Result<Sink, Error> {
        match format {
            #[cfg(feature = "webp")]
            OutputFormat::Webp { lossless } => Ok(Sink::Webp(webp::Encoder::new(
                width,
                height,
                webp::Settings {
                    quality,
                    lossless,
                    method,
                    loop_count,
                },
            )?)),
            OutputFormat::Gif => {
                let size = match (u16::try_from(width), u16::try_from(height)) {
                    (Ok(w), Ok(h)) => (w, h),
                    _ => {
                        return Err(Error::OutputTooLarge {
                            width: u64::from(width),
                            height: u64::from(height),
                            limit: u32::from(u16::MAX),
                        })
                    }
                };
                let gif_err = |e| Error::internal("writing a GIF", e);
                let mut enc =
                    gif::Encoder::new(Vec::new(), size.0, size.1, &[]).map_err(gif_err)?;
                // A GIF without the loop extension plays once; its count is of repeats.
                if loop_count != 1 {
                    let repeat = match loop_count {
                        0 => gif::Repeat::Infinite,
                        plays => gif::Repeat::Finite(plays - 1),
                    };
                    enc.set_repeat(repeat).map_err(gif_err)?;
                }
                Ok(Sink::Gif(Box::new(GifSink { enc, size })))
            }
            other => Err(Error::UnsupportedOutput {
                format: other.name(),
            }),
        }
    }

    pub(crate) fn add(&mut self, frame: RgbaImage, duration_ms: u32) -> Result<(), Error> {
        match self {
            #[cfg(feature = "webp")]
            Sink::Webp(enc) => enc.add(&frame, duration_ms),
            Sink::Gif(g) => {
                if frame.dimensions() != (u32::from(g.size.0), u32::from(g.size.1)) {
                    return Err(Error::Internal {
                        context: "a GIF frame of another size",
                        source: None,
                    });
                }
                let mut pixels = frame.into_raw();
                // GIF transparency is all or nothing: soft edges (a resampled outline) are cut
                // at half coverage, not made opaque down to the faintest pixel.
                for p in pixels.chunks_exact_mut(4) {
                    p[3] = if p[3] >= 128 { 255 } else { 0 };
                }
                let mut f = gif::Frame::from_rgba_speed(g.size.0, g.size.1, &mut pixels, GIF_SPEED);
                // Every frame is a whole canvas: cleared before the next one is drawn.
                f.dispose = gif::DisposalMethod::Background;
                f.delay = u16::try_from(duration_ms.div_ceil(10)).unwrap_or(u16::MAX);
                g.enc
                    .write_frame(&f)
                    .map_err(|e| Error::internal("encoding a GIF frame", e))
            }
        }
    }

    pub(crate) fn finish(self) -> Result<Vec<u8>, Error> {
        match self {
            #[cfg(feature = "webp")]
            Sink::Webp(enc) => enc.finish(),
            Sink::Gif(g) => g
                .enc
                .into_inner()
                .map_err(|e| Error::internal("finishing the GIF", e)),
        }
    }
}

/// A still image as a one-frame GIF.
pub(crate) fn gif_still(img: &DynamicImage) -> Result<Vec<u8>, Error> {
    let mut sink = Sink::new(OutputFormat::Gif, (img.width(), img.height()), 0.0, 0, 1)?;
    sink.add(img.to_rgba8(), 0)?;
    sink.finish()
}
