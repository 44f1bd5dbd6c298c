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

/// Draws `widths` (`[top, right, bottom, left]`) of `color` around the image.
pub fn border(img: DynamicImage, widths: [u32; 4], color: [u8; 4]) -> DynamicImage {
    let [top, right, bottom, left] = widths;
    if widths == [0; 4] {
        return img;
    }
    let canvas = (
        img.width().saturating_add(left).saturating_add(right),
        img.height().saturating_add(top).saturating_add(bottom),
    );
    pad(img, canvas, (left, top), color)
}

/// The rectangle left when a uniform border is cut away: the border's colour is the top-left
/// pixel's, a pixel belongs to it when every channel (alpha too) is within `tolerance`, and
/// `keep` pixels of it stay on each side. `None` when there is no border, or when the whole
/// image is border (a flat image is left alone).
pub fn border_box(img: &DynamicImage, tolerance: u8, keep: u32) -> Option<(u32, u32, u32, u32)> {
    let rgba;
    let (buf, channels): (&[u8], usize) = match img {
        DynamicImage::ImageRgb8(i) => (i.as_raw(), 3),
        DynamicImage::ImageRgba8(i) => (i.as_raw(), 4),
        other => {
            rgba = other.to_rgba8();
            (rgba.as_raw(), 4)
        }
    };
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return None;
    }
    let corner = &buf[..channels];
    let t = i16::from(tolerance);
    let is_border = |x: usize, y: usize| {
        let i = (y * w + x) * channels;
        buf[i..i + channels]
            .iter()
            .zip(corner)
            .all(|(a, b)| (i16::from(*a) - i16::from(*b)).abs() <= t)
    };
    let row_is_border = |y: usize| (0..w).all(|x| is_border(x, y));
    let col_is_border = |x: usize, y0: usize, y1: usize| (y0..y1).all(|y| is_border(x, y));
    let top = (0..h).find(|&y| !row_is_border(y))?;
    let bottom = (top..h).rev().find(|&y| !row_is_border(y))? + 1;
    let left = (0..w).find(|&x| !col_is_border(x, top, bottom))?;
    let right = (left..w).rev().find(|&x| !col_is_border(x, top, bottom))? + 1;
    let keep = keep as usize;
    let (x0, y0) = (left.saturating_sub(keep), top.saturating_sub(keep));
    let (x1, y1) = ((right + keep).min(w), (bottom + keep).min(h));
    if (x0, y0, x1, y1) == (0, 0, w, h) {
        return None;
    }
    Some((x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32))
}
