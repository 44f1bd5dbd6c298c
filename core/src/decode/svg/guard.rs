//! What an SVG must not contain to be rendered: a walk over usvg's tree (after `<use>` is
//! expanded) that bounds the work and memory resvg would spend, run before the canvas exists.
//!
//! resvg has no limits of its own: a blur's box sizes overflow past a huge `stdDeviation`, a
//! pattern tile is allocated at its full size however large, `feMorphology` costs the square of
//! its radius per pixel, `feTurbulence` one noise pass per octave, and every group with opacity,
//! a mask or a filter draws into a layer of its own (a filter's up to 25 canvases large). The
//! walk measures, in canvases (the rendered image's area): the drawing done ("overdraw") and the
//! layers alive at once, and refuses past [`MAX_OVERDRAW`] and [`super::MAX_LAYERS`], as well as
//! parameters no real document uses. Refusals are 422 `undecodable_image`, naming the reason.

use resvg::usvg::{self, filter::Kind, Node, NonZeroRect, Transform};

use crate::Error;

/// Group nesting (resvg renders groups recursively).
const MAX_DEPTH: usize = 256;
/// Elements after `<use>` is expanded (usvg's own limit is 1,000,000 before it).
const MAX_NODES: usize = 200_000;
/// Drawing, in canvases: each fill, stroke, layer composite and filter primitive over the
/// area it covers. The samples draw theirs 1.3 to 3 times.
const MAX_OVERDRAW: f64 = 400.0;
/// Drawing in rendered pixels (overdraw × the rendered canvas): bounds the worst render's
/// CPU time whatever its size: about 5 s on the reference machine (`examples/svg_render.rs`).
const MAX_WORK_PIXELS: f64 = 1e9;
/// How far outside the image a shape may reach, in image sides.
const MAX_COORDINATE_SIDES: f64 = 1000.0;
/// Noise octaves: each one is a full pass, and past about 10 they are below 8 bits.
const MAX_OCTAVES: u32 = 24;
/// `feMorphology` radius and `feConvolveMatrix` order, in rendered pixels per side.
const MAX_KERNEL_SIDE: f64 = 33.0;

/// The tree and the scale it is rendered at (rendered pixels per document pixel).
pub(super) fn check_tree(tree: &usvg::Tree, scale: f64) -> Result<(), Error> {
    let size = tree.size();
    let mut walk = Walk {
        canvas: (f64::from(size.width()), f64::from(size.height())),
        scale,
        nodes: 0,
        overdraw: 0.0,
    };
    walk.group(tree.root(), 0, 0.0)?;
    let work = walk.overdraw * walk.canvas.0 * walk.canvas.1 * scale * scale;
    if walk.overdraw > MAX_OVERDRAW || work > MAX_WORK_PIXELS {
        return Err(refuse(format!(
            "it draws {:.0} times its canvas, {:.1} billion pixels (the limits are \
             {MAX_OVERDRAW} and {:.0} billion)",
            walk.overdraw,
            work / 1e9,
            MAX_WORK_PIXELS / 1e9
        )));
    }
    Ok(())
}

fn refuse(why: String) -> Error {
    Error::undecodable("SVG", format!("refused to render: {why}"))
}

struct Walk {
    canvas: (f64, f64),
    scale: f64,
    nodes: usize,
    overdraw: f64,
}

impl Walk {
    /// The rendered image's longer side, in pixels.
    fn side(&self) -> f64 {
        self.canvas.0.max(self.canvas.1) * self.scale
    }

    /// The area `rect` covers, in canvases: resvg clips layers and filter regions to the
    /// 5 × 5 canvases around the canvas, so 0 to 25.
    fn area(&self, rect: Option<NonZeroRect>) -> f64 {
        let Some(r) = rect else { return 0.0 };
        let (w, h) = self.canvas;
        let clip = |lo: f32, hi: f32, side: f64| {
            (f64::from(hi).min(3.0 * side) - f64::from(lo).max(-2.0 * side)).max(0.0)
        };
        let covered = clip(r.left(), r.right(), w) * clip(r.top(), r.bottom(), h);
        if w * h > 0.0 {
            (covered / (w * h)).min(25.0)
        } else {
            0.0
        }
    }

    fn group(&mut self, g: &usvg::Group, depth: usize, layers: f64) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(refuse(format!("groups nest deeper than {MAX_DEPTH}")));
        }
        let area = self.area(Some(g.abs_layer_bounding_box()));
        let mut layers = layers;
        if g.should_isolate() {
            self.overdraw += 2.0 * area;
            layers += area;
        }
        if g.mask().is_some() || g.clip_path().is_some() {
            self.overdraw += 2.0 * area;
            layers += area;
        }
        for f in g.filters() {
            let n = f.primitives().len() as f64;
            layers += (n + 2.0) * area;
            for p in f.primitives() {
                self.overdraw += area * self.primitive(p.kind(), g.abs_transform())?;
            }
        }
        if layers > super::MAX_LAYERS as f64 {
            return Err(refuse(format!(
                "it keeps {layers:.0} canvases of layers at once (the limit is {})",
                super::MAX_LAYERS
            )));
        }
        for node in g.children() {
            self.nodes += 1;
            if self.nodes > MAX_NODES {
                return Err(refuse(format!("it has over {MAX_NODES} elements")));
            }
            match node {
                Node::Group(child) => self.group(child, depth + 1, layers)?,
                Node::Path(p) => self.path(p)?,
                Node::Image(_) | Node::Text(_) => {}
            }
            let mut sub = Ok(());
            node.subroots(|root| {
                if sub.is_ok() {
                    sub = self.group(root, depth + 1, layers + 1.0);
                }
            });
            sub?;
        }
        Ok(())
    }

    /// A fill costs its bounding box at most; a stroke its length times its width (plus a
    /// pixel of antialiasing either side) when that is less: a long thin diagonal line covers
    /// little of its bounding box.
    fn path(&mut self, p: &usvg::Path) -> Result<(), Error> {
        // A straight line (a `<path>` or `<line>` drawn with a stroke, whose default fill is
        // black) fills nothing.
        // tiny-skia's rasterizer fails (asserts, panics) on coordinates far out of range.
        let far = MAX_COORDINATE_SIDES * self.side();
        let r = p.abs_stroke_bounding_box();
        if [r.left(), r.top(), r.right(), r.bottom()]
            .iter()
            .any(|v| !(f64::from(*v) * self.scale).abs().le(&far))
        {
            return Err(refuse("a shape lies too far outside the image".into()));
        }
        let fill_area = if flat(p.data().points()) {
            0.0
        } else {
            self.area(p.abs_bounding_box().to_non_zero_rect())
        };
        let stroke_area = p.stroke().map_or(Ok(0.0), |s| {
            let ts = scale_of(p.abs_transform());
            let points = p.data().points();
            let length: f64 = points
                .windows(2)
                .map(|w| f64::from(w[0].distance(w[1])))
                .sum();
            let width = f64::from(s.width().get()) * ts + 2.0 / self.scale.max(1e-9);
            if width * self.scale > 4.0 * self.side() {
                return Err(refuse(format!(
                    "a stroke {:.0} pixels wide is wider than the image",
                    width * self.scale
                )));
            }
            let band = length * ts * width / (self.canvas.0 * self.canvas.1).max(1e-9);
            Ok(band.min(self.area(p.abs_stroke_bounding_box().to_non_zero_rect())))
        })?;
        let paints = [
            (p.fill().map(usvg::Fill::paint), fill_area),
            (p.stroke().map(usvg::Stroke::paint), stroke_area),
        ];
        for (paint, area) in paints {
            let Some(paint) = paint else { continue };
            self.overdraw += area;
            if let usvg::Paint::Pattern(pattern) = paint {
                let ts = p.abs_transform().pre_concat(pattern.transform());
                let tile = f64::from(pattern.rect().width())
                    * f64::from(pattern.rect().height())
                    * scale_of(ts).powi(2);
                // resvg allocates the tile whole, at its rendered size.
                if tile > self.canvas.0 * self.canvas.1 + 65_536.0 || !tile.is_finite() {
                    return Err(refuse("a pattern tile is larger than the canvas".into()));
                }
            }
        }
        Ok(())
    }

    /// The cost of one filter primitive per pixel of its region, relative to a fill.
    fn primitive(&self, kind: &Kind, ts: Transform) -> Result<f64, Error> {
        let px = |v: f32| f64::from(v) * scale_of(ts) * self.scale;
        let side = self.side();
        Ok(match kind {
            Kind::GaussianBlur(b) => {
                blur(px(b.std_dev_x().get()).max(px(b.std_dev_y().get())), side)?
            }
            Kind::DropShadow(d) => {
                blur(px(d.std_dev_x().get()).max(px(d.std_dev_y().get())), side)? + 2.0
            }
            Kind::Turbulence(t) if t.num_octaves() > MAX_OCTAVES => {
                return Err(refuse(format!(
                    "feTurbulence has {} octaves (the limit is {MAX_OCTAVES})",
                    t.num_octaves()
                )))
            }
            Kind::Turbulence(t) => 4.0 * f64::from(t.num_octaves().max(1)),
            Kind::Morphology(m) => {
                let (rx, ry) = (px(m.radius_x().get()), px(m.radius_y().get()));
                kernel(2.0 * rx.ceil() + 1.0, 2.0 * ry.ceil() + 1.0, "feMorphology")?
            }
            Kind::ConvolveMatrix(c) => {
                let m = c.matrix();
                kernel(
                    f64::from(m.columns()),
                    f64::from(m.rows()),
                    "feConvolveMatrix",
                )?
            }
            Kind::DiffuseLighting(_) | Kind::SpecularLighting(_) => 8.0,
            _ => 2.0,
        })
    }
}

/// A blur costs the same whatever its size (three box passes or a recursive filter), but
/// resvg's box sizes overflow an `i32` past a `stdDeviation` of about a billion pixels; one
/// larger than the image blurs it to its mean anyway.
fn blur(sigma_px: f64, side: f64) -> Result<f64, Error> {
    if sigma_px.is_nan() || sigma_px > side.max(1.0) * 4.0 {
        return Err(refuse(format!(
            "a blur's stdDeviation of {sigma_px:.0} pixels is larger than the image"
        )));
    }
    Ok(10.0)
}

fn kernel(w: f64, h: f64, what: &str) -> Result<f64, Error> {
    if w.is_nan() || h.is_nan() || w.max(h) > MAX_KERNEL_SIDE {
        return Err(refuse(format!(
            "{what} covers {w:.0}×{h:.0} pixels (the limit is {MAX_KERNEL_SIDE} a side)"
        )));
    }
    Ok(w * h)
}

/// Whether all the points lie on one straight line (within a thousandth of its length).
fn flat(points: &[usvg::tiny_skia_path::Point]) -> bool {
    let Some(&a) = points.first() else {
        return true;
    };
    let far = points
        .iter()
        .copied()
        .max_by(|p, q| a.distance(*p).total_cmp(&a.distance(*q)))
        .unwrap_or(a);
    let len = a.distance(far);
    let (dx, dy) = (far.x - a.x, far.y - a.y);
    len == 0.0
        || points
            .iter()
            .all(|p| ((p.x - a.x) * dy - (p.y - a.y) * dx).abs() <= len * len * 1e-3)
}

/// How much `ts` enlarges areas, as a length factor.
fn scale_of(ts: Transform) -> f64 {
    let (sx, sy) = ts.get_scale();
    (f64::from(sx) * f64::from(sy)).sqrt()
}
