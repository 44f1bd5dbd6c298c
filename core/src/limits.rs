//! Resource limits, checked from the image header before any pixel buffer is allocated.

use crate::Error;

/// Bounds on what one transform may consume. [`Limits::default`] is safe for a public server;
/// hosts with less memory (the edge) pass tighter values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes. Default 100 MiB.
    pub max_input_bytes: u64,
    /// Largest accepted input area (width × height from the header), in pixels.
    /// Default 100,000,000 (100 MP). A JPEG that is shrunk on load needs far less memory than
    /// its full area; any other input needs about 4 bytes per pixel.
    pub max_input_pixels: u64,
    /// Largest output width or height, in pixels. Default 12,000.
    pub max_output_dimension: u32,
    /// Largest output area (width × height of the canvas), in pixels. Default 50,000,000:
    /// without it, `w=12000,h=12000,fit=squeeze` on a thumbnail would ask for 144 MP.
    pub max_output_pixels: u64,
    /// Largest estimated memory of one transform, in bytes ([`crate::cost`]): the input, the
    /// decoder's buffers (a progressive JPEG keeps its full-size coefficients even when it is
    /// shrunk on load), the pixel buffers and the encoder's. Default 2 GiB.
    pub max_memory_bytes: u64,
    /// Largest accepted SVG document, in bytes. Default 1 MiB: an SVG's cost is in its
    /// markup (parsing, and paths, filters and patterns to render), not in its canvas.
    /// Rendered, it is bounded by `max_input_pixels` like any decoded image.
    pub max_svg_bytes: u64,
    /// Most frames of an animation kept animated. Default 1,000.
    pub max_frames: u32,
    /// Largest animation, in pixels decoded over all frames (each frame's full canvas):
    /// frames × width × height. Default 300,000,000 (300 frames of 1000×1000).
    pub max_animation_pixels: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 100 * 1024 * 1024,
            max_input_pixels: 100_000_000,
            max_output_dimension: 12_000,
            max_output_pixels: 50_000_000,
            max_memory_bytes: 2 << 30,
            max_svg_bytes: 1 << 20,
            max_frames: 1_000,
            max_animation_pixels: 300_000_000,
        }
    }
}

impl Limits {
    pub(crate) fn check_input_bytes(&self, len: usize) -> Result<(), Error> {
        let bytes = len as u64;
        if bytes > self.max_input_bytes {
            return Err(Error::InputTooLarge {
                bytes,
                limit: self.max_input_bytes,
            });
        }
        Ok(())
    }

    pub(crate) fn check_input_dimensions(&self, width: u32, height: u32) -> Result<(), Error> {
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_input_pixels {
            return Err(Error::TooManyPixels {
                width,
                height,
                limit: self.max_input_pixels,
            });
        }
        Ok(())
    }

    pub(crate) fn check_output_dimensions(&self, width: u64, height: u64) -> Result<(), Error> {
        let limit = u64::from(self.max_output_dimension);
        if width > limit || height > limit {
            return Err(Error::OutputTooLarge {
                width,
                height,
                limit: self.max_output_dimension,
            });
        }
        if width.saturating_mul(height) > self.max_output_pixels {
            return Err(Error::OutputTooManyPixels {
                width,
                height,
                limit: self.max_output_pixels,
            });
        }
        Ok(())
    }

    /// The byte budget handed to the decoders as a second line of defence.
    pub(crate) fn max_decode_alloc(&self) -> u64 {
        // 8 bytes per pixel covers 16-bit RGBA, plus slack for decoder tables.
        self.max_input_pixels
            .saturating_mul(8)
            .saturating_add(64 << 20)
    }
}
