//! Pixel operations on 8-bit RGB/RGBA images: orientation, crop, resize, pad, effects.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{imageops, DynamicImage, Rgb, RgbImage, Rgba, RgbaImage};

use crate::exif::Orientation;
use crate::plan::Rect;
use crate::spec::{Flip, Rotate};
use crate::Error;

/// Applies an EXIF orientation so the image is upright.
pub fn orient(img: DynamicImage, o: Orientation) -> DynamicImage {
    match o {
        Orientation::Normal => img,
        Orientation::FlipH => img.fliph(),
        Orientation::Rotate180 => img.rotate180(),
        Orientation::FlipV => img.flipv(),
        Orientation::Transpose => img.rotate90().fliph(),
        Orientation::Rotate90 => img.rotate90(),
        Orientation::Transverse => img.rotate90().flipv(),
        Orientation::Rotate270 => img.rotate270(),
    }
}

/// Applies `flip` then `rotate` (clockwise).
pub fn flip_rotate(img: DynamicImage, flip: Flip, rotate: Rotate) -> DynamicImage {
    let img = match flip {
        Flip::None => img,
        Flip::Horizontal => img.fliph(),
        Flip::Vertical => img.flipv(),
        Flip::Both => img.rotate180(),
    };
    match rotate {
        Rotate::None => img,
        Rotate::Cw90 => img.rotate90(),
        Rotate::Cw180 => img.rotate180(),
        Rotate::Cw270 => img.rotate270(),
    }
}

/// Rounds `r` to whole pixels inside a `w` × `h` image (at least one pixel).
pub fn pixel_rect(r: Rect, w: u32, h: u32) -> (u32, u32, u32, u32) {
    let x = (r.x.round().max(0.0) as u32).min(w.saturating_sub(1));
    let y = (r.y.round().max(0.0) as u32).min(h.saturating_sub(1));
    let cw = (r.width.round().max(1.0) as u32).min(w - x);
    let ch = (r.height.round().max(1.0) as u32).min(h - y);
    (x, y, cw, ch)
}

/// Copies out a whole-pixel crop; returns the image itself when the crop is everything.
pub fn crop(img: DynamicImage, r: Rect) -> DynamicImage {
    let (x, y, w, h) = pixel_rect(r, img.width(), img.height());
    if (x, y, w, h) == (0, 0, img.width(), img.height()) {
        return img;
    }
    img.crop_imm(x, y, w, h)
}

/// Resizes the `src` region of `img` to `width` × `height` with Lanczos3 (alpha premultiplied
/// during filtering). Returns the input untouched when nothing would change.
pub fn resize(
    img: DynamicImage,
    src: Rect,
    width: u32,
    height: u32,
) -> Result<DynamicImage, Error> {
    let (iw, ih) = (img.width(), img.height());
    let src = Rect {
        x: src.x.clamp(0.0, f64::from(iw)),
        y: src.y.clamp(0.0, f64::from(ih)),
        width: src.width.min(f64::from(iw) - src.x.max(0.0)).max(1.0),
        height: src.height.min(f64::from(ih) - src.y.max(0.0)).max(1.0),
    };
    let whole = src.x < 0.5
        && src.y < 0.5
        && (src.width - f64::from(iw)).abs() < 0.5
        && (src.height - f64::from(ih)).abs() < 0.5;
    if whole && (width, height) == (iw, ih) {
        return Ok(img);
    }
    let (pt, alpha) = match &img {
        DynamicImage::ImageRgba8(_) => (PixelType::U8x4, true),
        _ => (PixelType::U8x3, false),
    };
    let buf: &[u8] = match &img {
        DynamicImage::ImageRgba8(i) => i.as_raw(),
        DynamicImage::ImageRgb8(i) => i.as_raw(),
        _ => {
            return Err(Error::Internal {
                context: "resizing a non-8-bit image",
                source: None,
            })
        }
    };
    let src_view = ImageRef::new(iw, ih, buf, pt).map_err(|e| Error::internal("resizing", e))?;
    let mut dst = Image::new(width, height, pt);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(src.x, src.y, src.width, src.height)
        .use_alpha(alpha);
    Resizer::new()
        .resize(&src_view, &mut dst, &options)
        .map_err(|e| Error::internal("resizing", e))?;
    let raw = dst.into_vec();
    let bad = || Error::Internal {
        context: "resizing",
        source: None,
    };
    Ok(if alpha {
        DynamicImage::ImageRgba8(RgbaImage::from_raw(width, height, raw).ok_or_else(bad)?)
    } else {
        DynamicImage::ImageRgb8(RgbImage::from_raw(width, height, raw).ok_or_else(bad)?)
    })
}

/// Composites an RGBA image over an opaque colour; RGB images are returned unchanged.
pub fn flatten(img: DynamicImage, bg: [u8; 4]) -> DynamicImage {
    let DynamicImage::ImageRgba8(rgba) = img else {
        return img;
    };
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(p.0[3]);
        let mix = |c: u8, b: u8| ((u32::from(c) * a + u32::from(b) * (255 - a) + 127) / 255) as u8;
        *o = Rgb([mix(p.0[0], bg[0]), mix(p.0[1], bg[1]), mix(p.0[2], bg[2])]);
    }
    DynamicImage::ImageRgb8(out)
}

/// Places `img` at `offset` on a `canvas`-sized background.
pub fn pad(img: DynamicImage, canvas: (u32, u32), offset: (u32, u32), bg: [u8; 4]) -> DynamicImage {
    if canvas == (img.width(), img.height()) {
        return img;
    }
    let (x, y) = (i64::from(offset.0), i64::from(offset.1));
    if bg[3] == 255 && !img.color().has_alpha() {
        let mut out = RgbImage::from_pixel(canvas.0, canvas.1, Rgb([bg[0], bg[1], bg[2]]));
        imageops::replace(&mut out, &img.into_rgb8(), x, y);
        DynamicImage::ImageRgb8(out)
    } else {
        let mut out = RgbaImage::from_pixel(canvas.0, canvas.1, Rgba(bg));
        imageops::replace(&mut out, &img.into_rgba8(), x, y);
        DynamicImage::ImageRgba8(out)
    }
}

/// Gaussian-like blur; `radius` 1–250 maps to σ = radius / 2.
pub fn blur(img: DynamicImage, radius: u8) -> DynamicImage {
    let sigma = f32::from(radius) / 2.0;
    match img {
        DynamicImage::ImageRgba8(i) => DynamicImage::ImageRgba8(imageops::fast_blur(&i, sigma)),
        other => DynamicImage::ImageRgb8(imageops::fast_blur(&other.into_rgb8(), sigma)),
    }
}

/// Unsharp mask with σ = 1 px and amount `strength` / 2 (so `sharpen=1` adds half the detail
/// back, `sharpen=10` five times). Alpha is left alone.
pub fn sharpen(img: DynamicImage, strength: f32) -> DynamicImage {
    let amount = strength / 2.0;
    let blurred = img.blur(1.0);
    let mut out = img;
    let (dst, src, channels): (&mut [u8], &[u8], usize) = match (&mut out, &blurred) {
        (DynamicImage::ImageRgba8(d), DynamicImage::ImageRgba8(b)) => (d.as_mut(), b.as_raw(), 4),
        (DynamicImage::ImageRgb8(d), DynamicImage::ImageRgb8(b)) => (d.as_mut(), b.as_raw(), 3),
        _ => return out,
    };
    for (i, (d, &b)) in dst.iter_mut().zip(src).enumerate() {
        if channels == 4 && i % 4 == 3 {
            continue;
        }
        let v = f32::from(*d) + amount * (f32::from(*d) - f32::from(b));
        *d = v.round().clamp(0.0, 255.0) as u8;
    }
    out
}
