//! The pixel pipeline of one image (or of every frame of an animation), in the order
//! [`crate::transform`] documents: [`shape`] (geometry and colour) then [`finish`] (background,
//! padding, effects, border), with the output format chosen between them for still images.

use image::DynamicImage;

use crate::decode::Header;
use crate::plan::{Plan, Rect};
use crate::spec::{Trim, TrimBorder};
use crate::{adjust, color, ops, saliency, Error, Flip, Gravity, Icc, OutputFormat, Rotate, Spec};

/// What the first image (or frame) decided for those after it.
pub(crate) struct Shaper<'a> {
    pub header: &'a Header,
    pub spec: &'a Spec,
    pub plan: Plan,
    /// Decoded pixels per source pixel.
    pub scale: f64,
    /// Whether `gravity=auto` and `trim=border` have been decided (on the first frame).
    decided: bool,
    /// A thumbnail's longest side: a plan made again for `trim=border` is scaled to it.
    preview: Option<u32>,
}

impl<'a> Shaper<'a> {
    pub fn new(header: &'a Header, spec: &'a Spec, plan: Plan, scale: f64) -> Self {
        Shaper {
            header,
            spec,
            plan,
            scale,
            decided: false,
            preview: None,
        }
    }

    /// A shaper for a thumbnail of at most `max` pixels on a side.
    pub fn with_preview(self, max: u32) -> Self {
        Shaper {
            preview: Some(max),
            ..self
        }
    }

    /// Orientation → trim → flip/rotate → `gravity=auto` → crop and resize → ICC to sRGB →
    /// brightness/contrast/gamma/saturation. `icc_done` is the colour handling the decoder
    /// finished already.
    pub fn shape(
        &mut self,
        img: DynamicImage,
        icc_done: Option<Icc>,
    ) -> Result<(DynamicImage, Icc), Error> {
        let s = self.scale;
        let img = ops::orient(img, self.plan.orientation);
        if !self.decided {
            if let Some(Trim::Border(b)) = self.spec.trim {
                self.trim_border(&img, b)?;
            }
        }
        let plan = &self.plan;
        // Without flip or rotate, trim and crop fold into the single resampling step, at the
        // exact shrink-on-load scale.
        let (img, region) = if plan.flip == Flip::None && plan.rotate == Rotate::None {
            (img, plan.trim.scaled(s, s))
        } else {
            let img = ops::flip_rotate(
                ops::crop(img, plan.trim.scaled(s, s)),
                plan.flip,
                plan.rotate,
            );
            let whole = Rect {
                x: 0.0,
                y: 0.0,
                width: f64::from(img.width()),
                height: f64::from(img.height()),
            };
            (img, whole)
        };
        if !self.decided && self.spec.gravity == Gravity::Auto && self.plan.crops() {
            let focal = saliency::focal_point(
                &img,
                region,
                self.plan.crop.width / f64::from(self.plan.rotated.0),
                self.plan.crop.height / f64::from(self.plan.rotated.1),
            );
            self.plan.position_crop(focal);
        }
        self.decided = true;
        let plan = &self.plan;
        let (rx, ry) = (
            region.width / f64::from(plan.rotated.0),
            region.height / f64::from(plan.rotated.1),
        );
        let mut crop = plan.crop.scaled(rx, ry);
        crop.x += region.x;
        crop.y += region.y;
        let mut img = ops::resize(img, crop, plan.resize.0, plan.resize.1)?;
        let icc = match (icc_done, &self.header.icc) {
            (Some(done), _) => done,
            (None, Some(profile)) => color::to_srgb(&mut img, profile),
            (None, None) => Icc::None,
        };
        // On the image's own pixels in sRGB, before any background or padding is added.
        Ok((adjust::apply(img, &self.spec.adjust), icc))
    }

    /// `trim=border` on the first (oriented) image: the plan is made again for the trimmed
    /// rectangle, in source pixels, keeping the decoder's scale.
    fn trim_border(&mut self, img: &DynamicImage, b: TrimBorder) -> Result<(), Error> {
        let Some((x, y, w, h)) = ops::border_box(img, b.tolerance, b.keep) else {
            return Ok(());
        };
        let s = self.scale;
        let (ow, oh) = self.plan.oriented;
        let left = ((f64::from(x) / s).floor() as u32).min(ow - 1);
        let top = ((f64::from(y) / s).floor() as u32).min(oh - 1);
        let right = ((f64::from(x + w) / s).ceil() as u32).clamp(left + 1, ow);
        let bottom = ((f64::from(y + h) / s).ceil() as u32).clamp(top + 1, oh);
        let spec = Spec {
            trim: Some(Trim::Rect {
                left,
                top,
                width: Some(right - left),
                height: Some(bottom - top),
            }),
            ..self.spec.clone()
        };
        let shrink = self.plan.shrink;
        self.plan = Plan::new(
            self.header.width,
            self.header.height,
            self.header.orientation,
            &spec,
        )?;
        self.plan.shrink = shrink;
        if let Some(max) = self.preview {
            self.plan = self.plan.preview(max, self.spec);
            self.plan.shrink = shrink;
        }
        Ok(())
    }
}

/// Whether the finished image will have transparency: its own (unless an opaque background
/// flattens it), or a translucent pad or border.
pub(crate) fn has_alpha(img: &DynamicImage, spec: &Spec, plan: &Plan) -> bool {
    let opaque_bg = spec.background.is_some_and(|b| b.0[3] == 255);
    let own = img.color().has_alpha() && !opaque_bg;
    let padded = plan.canvas != plan.resize;
    let pad = padded && spec.background.is_some_and(|b| b.0[3] < 255);
    let border = spec.border.is_some_and(|b| b.color.0[3] < 255);
    own || pad || border
}

/// Background → pad → blur → sharpen → border → flatten for formats without alpha.
pub(crate) fn finish(
    mut img: DynamicImage,
    plan: &Plan,
    spec: &Spec,
    format: OutputFormat,
) -> DynamicImage {
    // An opaque background flattens transparency under the image.
    if let Some(bg) = spec.background.filter(|bg| bg.0[3] == 255) {
        img = ops::flatten(img, bg.0);
    }
    if plan.canvas != plan.resize {
        let pad_bg = spec
            .background
            .map(|b| b.0)
            .unwrap_or(if img.color().has_alpha() {
                [0, 0, 0, 0]
            } else {
                [255, 255, 255, 255]
            });
        img = ops::pad(img, plan.canvas, plan.offset, pad_bg);
    }
    if !format.supports_alpha() {
        img = ops::flatten(img, [255, 255, 255, 255]);
    }
    if let Some(radius) = spec.blur {
        img = ops::blur(img, radius);
    }
    if let Some(strength) = spec.sharpen {
        img = ops::sharpen(img, strength);
    }
    if let Some(b) = spec.border {
        img = ops::border(img, b.device_widths(spec.dpr), b.color.0);
        if !format.supports_alpha() {
            img = ops::flatten(img, [255, 255, 255, 255]);
        }
    }
    img
}
