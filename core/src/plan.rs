//! Pure geometry: from the source size, its EXIF orientation and a [`Spec`] to the crop, the
//! resize target, the canvas and the JPEG shrink-on-load factor. No pixels are touched here,
//! so every fit × gravity × rotate combination is tested without images.
//!
//! Order of operations (Cloudflare's documented order): EXIF orientation → trim → flip →
//! rotate → fit (crop and resize) → pad → effects. `width` and `height` refer to the axes
//! after rotation.

use crate::exif::Orientation;
use crate::spec::{Fit, Flip, Rotate, Spec, Trim};
use crate::Error;

/// An axis-aligned rectangle in pixels; fractional so that crops stay exact after shrink-on-load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl Rect {
    fn full(width: u32, height: u32) -> Rect {
        Rect {
            x: 0.0,
            y: 0.0,
            width: f64::from(width),
            height: f64::from(height),
        }
    }

    /// This rectangle in an image scaled by `sx`, `sy`.
    pub fn scaled(self, sx: f64, sy: f64) -> Rect {
        Rect {
            x: self.x * sx,
            y: self.y * sy,
            width: self.width * sx,
            height: self.height * sy,
        }
    }
}

/// The geometry of one transform.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Size as stored in the file.
    pub source: (u32, u32),
    /// EXIF orientation applied first.
    pub orientation: Orientation,
    /// Size after EXIF orientation.
    pub oriented: (u32, u32),
    /// Trim rectangle in oriented coordinates (whole pixels).
    pub trim: Rect,
    pub flip: Flip,
    pub rotate: Rotate,
    /// Size after trim, flip and rotate: the coordinate space of `crop`.
    pub rotated: (u32, u32),
    /// Region of the rotated image that is resized, positioned by gravity.
    pub crop: Rect,
    /// Size the cropped region is resized to.
    pub resize: (u32, u32),
    /// Final output size (larger than `resize` only for `fit=pad`).
    pub canvas: (u32, u32),
    /// Where the resized image sits on the canvas.
    pub offset: (u32, u32),
    /// JPEG shrink-on-load denominator (1, 2, 4 or 8): the source may be decoded at
    /// 1/`shrink` scale and still have [`SHRINK_MARGIN`] times the pixels the resize needs.
    pub shrink: u32,
}

impl Plan {
    /// Plans `spec` for a `width` × `height` source with the given EXIF orientation. `gravity=auto`
    /// is planned as centre; the pipeline repositions the crop with [`Plan::position_crop`] once
    /// it has pixels to look at.
    pub fn new(
        width: u32,
        height: u32,
        orientation: Orientation,
        spec: &Spec,
    ) -> Result<Plan, Error> {
        let oriented = if orientation.swaps_axes() {
            (height, width)
        } else {
            (width, height)
        };
        let trim = trim_rect(spec.trim, oriented)?;
        let trimmed = (trim.width as u32, trim.height as u32);
        let rotated = if spec.rotate.swaps_axes() {
            (trimmed.1, trimmed.0)
        } else {
            trimmed
        };
        let fitted = fit(rotated, spec.device_width(), spec.device_height(), spec.fit);
        let mut plan = Plan {
            source: (width, height),
            orientation,
            oriented,
            trim,
            flip: spec.flip,
            rotate: spec.rotate,
            rotated,
            crop: Rect {
                x: 0.0,
                y: 0.0,
                width: fitted.crop.0,
                height: fitted.crop.1,
            },
            resize: fitted.resize,
            canvas: fitted.canvas,
            offset: (
                (fitted.canvas.0 - fitted.resize.0) / 2,
                (fitted.canvas.1 - fitted.resize.1) / 2,
            ),
            shrink: 1,
        };
        plan.position_crop(spec.gravity.focal_point().unwrap_or((0.5, 0.5)));
        // `trim=border` is found in the pixels, so the trimmed region (which may be small)
        // is unknown before decoding: no shrink-on-load.
        if !matches!(spec.trim, Some(Trim::Border(_))) {
            plan.shrink = shrink_factor(&plan);
        }
        Ok(plan)
    }

    /// This plan (made for `spec`) with the output scaled down to fit `max` × `max` (same
    /// crop, same aspect), shrunk on load for that size: for placeholders, which need only a
    /// thumbnail of the finished image.
    pub fn preview(&self, max: u32, spec: &Spec) -> Plan {
        let (cw, ch) = self.canvas;
        let k = f64::from(max) / f64::from(cw.max(ch).max(1));
        if k >= 1.0 {
            return self.clone();
        }
        let sc = |v: u32| ((f64::from(v) * k).round() as u32).max(1);
        let mut p = self.clone();
        p.canvas = (sc(cw), sc(ch));
        p.resize = (
            sc(self.resize.0).min(p.canvas.0),
            sc(self.resize.1).min(p.canvas.1),
        );
        p.offset = ((p.canvas.0 - p.resize.0) / 2, (p.canvas.1 - p.resize.1) / 2);
        if !matches!(spec.trim, Some(Trim::Border(_))) {
            p.shrink = shrink_factor(&p);
        }
        p
    }

    /// Moves the crop window so that the focal point (`0..=1` fractions of the rotated image)
    /// is as close to its centre as the image edges allow.
    pub fn position_crop(&mut self, (fx, fy): (f32, f32)) {
        let (rw, rh) = (f64::from(self.rotated.0), f64::from(self.rotated.1));
        let place = |focal: f32, full: f64, size: f64| {
            (f64::from(focal) * full - size / 2.0).clamp(0.0, (full - size).max(0.0))
        };
        self.crop.x = place(fx, rw, self.crop.width);
        self.crop.y = place(fy, rh, self.crop.height);
    }

    /// Whether the plan crops part of the image away (so gravity matters).
    pub fn crops(&self) -> bool {
        self.crop.width + 0.5 < f64::from(self.rotated.0)
            || self.crop.height + 0.5 < f64::from(self.rotated.1)
    }

    /// Whether pixels change position or size at all.
    pub fn is_geometry_identity(&self) -> bool {
        self.orientation == Orientation::Normal
            && self.flip == Flip::None
            && self.rotate == Rotate::None
            && self.resize == self.source
            && self.canvas == self.source
            && self.trim == Rect::full(self.source.0, self.source.1)
            && !self.crops()
    }
}

fn trim_rect(trim: Option<Trim>, (w, h): (u32, u32)) -> Result<Rect, Error> {
    let not_applicable = |reason: String| Error::NotApplicable {
        key: "trim",
        reason,
    };
    let (x, y, tw, th) = match trim {
        None | Some(Trim::Border(_)) => return Ok(Rect::full(w, h)),
        Some(Trim::Edges {
            top,
            right,
            bottom,
            left,
        }) => {
            let tw = i64::from(w) - i64::from(left) - i64::from(right);
            let th = i64::from(h) - i64::from(top) - i64::from(bottom);
            if tw <= 0 || th <= 0 {
                return Err(not_applicable(format!(
                    "trimming {top};{right};{bottom};{left} leaves nothing of a {w}x{h} image"
                )));
            }
            (left, top, tw as u32, th as u32)
        }
        Some(Trim::Rect {
            left,
            top,
            width,
            height,
        }) => {
            if left >= w || top >= h {
                return Err(not_applicable(format!(
                    "trim origin {left},{top} is outside the {w}x{h} image"
                )));
            }
            let tw = width.unwrap_or(w - left).min(w - left);
            let th = height.unwrap_or(h - top).min(h - top);
            (left, top, tw, th)
        }
    };
    Ok(Rect {
        x: f64::from(x),
        y: f64::from(y),
        width: f64::from(tw),
        height: f64::from(th),
    })
}

struct Fitted {
    /// Size of the region of the rotated image that is kept.
    crop: (f64, f64),
    resize: (u32, u32),
    canvas: (u32, u32),
}

fn px(v: f64) -> u32 {
    v.round().clamp(1.0, f64::from(u32::MAX)) as u32
}

fn fit((rw, rh): (u32, u32), w: Option<u64>, h: Option<u64>, mode: Fit) -> Fitted {
    let (fw, fh) = (f64::from(rw), f64::from(rh));
    let whole = |s: f64| {
        let size = (px(fw * s), px(fh * s));
        Fitted {
            crop: (fw, fh),
            resize: size,
            canvas: size,
        }
    };
    let never_enlarges = matches!(mode, Fit::ScaleDown | Fit::Crop | Fit::AspectCrop);
    let (w, h) = match (w, h) {
        (None, None) => return whole(1.0),
        (Some(w), None) => {
            let s = w as f64 / fw;
            return whole(if never_enlarges { s.min(1.0) } else { s });
        }
        (None, Some(h)) => {
            let s = h as f64 / fh;
            return whole(if never_enlarges { s.min(1.0) } else { s });
        }
        (Some(w), Some(h)) => (w as f64, h as f64),
    };
    let (sx, sy) = (w / fw, h / fh);
    match mode {
        Fit::ScaleDown => whole(sx.min(sy).min(1.0)),
        Fit::Contain => whole(sx.min(sy)),
        Fit::Pad => {
            let mut f = whole(sx.min(sy));
            f.canvas = (px(w), px(h));
            // Rounding may make the image a pixel larger than the box; keep it inside.
            f.resize = (f.resize.0.min(f.canvas.0), f.resize.1.min(f.canvas.1));
            f
        }
        Fit::Squeeze => Fitted {
            crop: (fw, fh),
            resize: (px(w), px(h)),
            canvas: (px(w), px(h)),
        },
        Fit::Cover => {
            let s = sx.max(sy);
            Fitted {
                crop: ((w / s).min(fw), (h / s).min(fh)),
                resize: (px(w), px(h)),
                canvas: (px(w), px(h)),
            }
        }
        Fit::Crop => {
            let s = sx.max(sy).min(1.0);
            let out = (w.min(fw * s), h.min(fh * s));
            let size = (px(out.0), px(out.1));
            Fitted {
                crop: ((out.0 / s).min(fw), (out.1 / s).min(fh)),
                resize: size,
                canvas: size,
            }
        }
        Fit::AspectCrop => {
            let aspect = w / h;
            let region = if fw / fh > aspect {
                (fh * aspect, fh)
            } else {
                (fw, fw / aspect)
            };
            let s = (w / region.0).min(1.0);
            let size = (px(region.0 * s), px(region.1 * s));
            Fitted {
                crop: region,
                resize: size,
                canvas: size,
            }
        }
    }
}

/// Shrink-on-load leaves at least this much downscaling to the Lanczos3 resize. Reduced-DCT
/// decoding is a block filter: used all the way to the output size (a margin of 1), it softens
/// and aliases fine texture measurably (SSIM 0.966 against ImageMagick on a 1/8 cover crop,
/// 0.99 with the margin). libvips keeps a margin of 2; 1.25 keeps nearly all of the speed.
pub const SHRINK_MARGIN: f64 = 1.25;

fn shrink_factor(plan: &Plan) -> u32 {
    let tw = f64::from(plan.resize.0) * SHRINK_MARGIN;
    let th = f64::from(plan.resize.1) * SHRINK_MARGIN;
    [8u32, 4, 2]
        .into_iter()
        .find(|&d| {
            let d = f64::from(d);
            plan.crop.width / d >= tw && plan.crop.height / d >= th
        })
        .unwrap_or(1)
}

#[cfg(test)]
mod tests;
