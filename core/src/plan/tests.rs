use super::*;
use crate::exif::Orientation;
use crate::spec::*;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const EPS: f64 = 1e-6;

const FITS: [Fit; 7] = [
    Fit::ScaleDown,
    Fit::Contain,
    Fit::Cover,
    Fit::Crop,
    Fit::AspectCrop,
    Fit::Pad,
    Fit::Squeeze,
];

const ROTATIONS: [Rotate; 4] = [Rotate::None, Rotate::Cw90, Rotate::Cw180, Rotate::Cw270];

const ORIENTATIONS: [Orientation; 8] = [
    Orientation::Normal,
    Orientation::FlipH,
    Orientation::Rotate180,
    Orientation::FlipV,
    Orientation::Transpose,
    Orientation::Rotate90,
    Orientation::Transverse,
    Orientation::Rotate270,
];

fn spec_of(
    width: Option<u32>,
    height: Option<u32>,
    fit: Fit,
    gravity: Gravity,
    rotate: Rotate,
) -> Spec {
    Spec {
        width,
        height,
        fit,
        gravity,
        rotate,
        ..Spec::new()
    }
}

fn parsed(s: &str) -> Spec {
    Spec::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn plan(width: u32, height: u32, spec: &Spec) -> Plan {
    plan_oriented(width, height, Orientation::Normal, spec)
}

fn plan_oriented(width: u32, height: u32, orientation: Orientation, spec: &Spec) -> Plan {
    Plan::new(width, height, orientation, spec)
        .unwrap_or_else(|e| panic!("{width}x{height} {orientation:?} {spec}: {e}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < EPS
}

/// Positions come from `f32` focal points, so they are compared to a thousandth of a pixel.
fn near(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-3
}

fn assert_rect(r: Rect, x: f64, y: f64, w: f64, h: f64, ctx: &str) {
    assert!(
        near(r.x, x) && near(r.y, y) && close(r.width, w) && close(r.height, h),
        "{ctx}: expected rect ({x}, {y}, {w}x{h}), got {r:?}"
    );
}

/// Invariants every plan satisfies, whatever the spec.
fn check_invariants(p: &Plan, spec: &Spec, ctx: &str) {
    let (rw, rh) = (f64::from(p.rotated.0), f64::from(p.rotated.1));
    let c = p.crop;
    // The crop is a non-empty region inside the rotated image.
    assert!(c.width > 0.0 && c.height > 0.0, "{ctx}: empty crop {c:?}");
    assert!(c.x >= 0.0 && c.y >= 0.0, "{ctx}: crop {c:?} starts outside");
    assert!(
        c.x + c.width <= rw + EPS && c.y + c.height <= rh + EPS,
        "{ctx}: crop {c:?} leaves the {rw}x{rh} rotated image"
    );
    // Rotated is the trimmed size, swapped for quarter turns.
    let trimmed = (p.trim.width as u32, p.trim.height as u32);
    let expected_rotated = if spec.rotate.swaps_axes() {
        (trimmed.1, trimmed.0)
    } else {
        trimmed
    };
    assert_eq!(p.rotated, expected_rotated, "{ctx}");
    // The trim is inside the oriented image.
    assert!(
        p.trim.x >= 0.0
            && p.trim.y >= 0.0
            && p.trim.x + p.trim.width <= f64::from(p.oriented.0)
            && p.trim.y + p.trim.height <= f64::from(p.oriented.1),
        "{ctx}: trim {:?} outside {:?}",
        p.trim,
        p.oriented
    );
    // Orientation 5–8 swap the stored axes.
    if p.orientation.swaps_axes() {
        assert_eq!(p.oriented, (p.source.1, p.source.0), "{ctx}");
    } else {
        assert_eq!(p.oriented, p.source, "{ctx}");
    }
    // Output sizes.
    assert!(p.resize.0 >= 1 && p.resize.1 >= 1, "{ctx}: {:?}", p.resize);
    assert!(
        p.resize.0 <= p.canvas.0 && p.resize.1 <= p.canvas.1,
        "{ctx}: resize {:?} larger than canvas {:?}",
        p.resize,
        p.canvas
    );
    assert!(
        p.offset.0 + p.resize.0 <= p.canvas.0 && p.offset.1 + p.resize.1 <= p.canvas.1,
        "{ctx}: offset {:?} + resize {:?} outside canvas {:?}",
        p.offset,
        p.resize,
        p.canvas
    );
    if spec.fit != Fit::Pad || spec.width.is_none() || spec.height.is_none() {
        assert_eq!(p.canvas, p.resize, "{ctx}: only pad has a larger canvas");
        assert_eq!(p.offset, (0, 0), "{ctx}");
    } else {
        // Centred, to within the odd pixel.
        assert_eq!(p.offset.0, (p.canvas.0 - p.resize.0) / 2, "{ctx}");
        assert_eq!(p.offset.1, (p.canvas.1 - p.resize.1) / 2, "{ctx}");
    }
    // The requested box is filled exactly by cover, pad and squeeze.
    if let (Some(dw), Some(dh)) = (spec.device_width(), spec.device_height()) {
        if matches!(spec.fit, Fit::Cover | Fit::Pad | Fit::Squeeze) {
            assert_eq!(
                (u64::from(p.canvas.0), u64::from(p.canvas.1)),
                (dw, dh),
                "{ctx}: canvas is not the requested box"
            );
        }
        // Nothing exceeds the requested box (within rounding).
        assert!(
            u64::from(p.canvas.0) <= dw && u64::from(p.canvas.1) <= dh,
            "{ctx}: canvas {:?} exceeds the box {dw}x{dh}",
            p.canvas
        );
    }
    // Never enlarges: neither past the rotated image nor past the kept region (beyond rounding).
    if matches!(spec.fit, Fit::ScaleDown | Fit::Crop | Fit::AspectCrop) {
        assert!(
            p.resize.0 <= p.rotated.0 && p.resize.1 <= p.rotated.1,
            "{ctx}: {:?} enlarges {:?}",
            p.resize,
            p.rotated
        );
        // (A region thinner than a pixel still gives a one-pixel output.)
        assert!(
            f64::from(p.resize.0) <= (c.width + 0.5).max(1.0) + EPS
                && f64::from(p.resize.1) <= (c.height + 0.5).max(1.0) + EPS,
            "{ctx}: {:?} enlarges the crop {c:?}",
            p.resize
        );
    }
    // Aspect ratio of the kept region is preserved within a pixel (squeeze stretches; a size
    // clamped to u32::MAX cannot keep it and is refused later by the output limits).
    if spec.fit != Fit::Squeeze && p.resize.0 < u32::MAX && p.resize.1 < u32::MAX {
        let (w, h) = (f64::from(p.resize.0), f64::from(p.resize.1));
        let off = if c.width >= c.height {
            (w * c.height / c.width - h).abs()
        } else {
            (h * c.width / c.height - w).abs()
        };
        assert!(
            off <= 1.0 + EPS,
            "{ctx}: resize {:?} distorts the crop {c:?} by {off}px",
            p.resize
        );
    }
    // Everything but cover, crop and aspect-crop keeps the whole image.
    if !matches!(spec.fit, Fit::Cover | Fit::Crop | Fit::AspectCrop) {
        assert!(
            close(c.width, rw) && close(c.height, rh),
            "{ctx}: {c:?} crops"
        );
        assert!(!p.crops(), "{ctx}");
    }
    check_shrink(p, ctx);
}

/// `shrink` is the largest of 8, 4, 2 that still leaves `SHRINK_MARGIN` times the pixels, else 1.
fn check_shrink(p: &Plan, ctx: &str) {
    assert!(
        [1, 2, 4, 8].contains(&p.shrink),
        "{ctx}: shrink {}",
        p.shrink
    );
    let enough = |d: u32| {
        let d = f64::from(d);
        p.crop.width / d >= f64::from(p.resize.0) * SHRINK_MARGIN
            && p.crop.height / d >= f64::from(p.resize.1) * SHRINK_MARGIN
    };
    if p.shrink > 1 {
        assert!(
            enough(p.shrink),
            "{ctx}: shrink {} loses pixels: {p:?}",
            p.shrink
        );
    }
    if p.shrink < 8 {
        assert!(
            !enough(p.shrink * 2),
            "{ctx}: shrink {} could be larger: {p:?}",
            p.shrink
        );
    }
}

/// Where a crop of `size` lands in `full` for a focal fraction, written out independently of
/// `position_crop`.
fn expected_position(focal: f64, full: f64, size: f64) -> f64 {
    let centred = focal * full - size / 2.0;
    if centred < 0.0 {
        0.0
    } else if centred > full - size {
        full - size
    } else {
        centred
    }
}

// ---------------------------------------------------------------------------------------------
// Fit × gravity × rotate
// ---------------------------------------------------------------------------------------------

/// Expected crop size, resize, canvas and offset for one fit, rotated image size and request.
struct Row {
    fit: Fit,
    rotated: (u32, u32),
    request: (Option<u32>, Option<u32>),
    crop: (f64, f64),
    resize: (u32, u32),
    canvas: (u32, u32),
    offset: (u32, u32),
}

const L: (u32, u32) = (1000, 500);
const P: (u32, u32) = (500, 1000);

fn boxed(
    fit: Fit,
    rotated: (u32, u32),
    (w, h): (u32, u32),
    crop: (f64, f64),
    resize: (u32, u32),
    canvas: (u32, u32),
    offset: (u32, u32),
) -> Row {
    Row {
        fit,
        rotated,
        request: (Some(w), Some(h)),
        crop,
        resize,
        canvas,
        offset,
    }
}

fn same(fit: Fit, rotated: (u32, u32), wh: (u32, u32), crop: (f64, f64), size: (u32, u32)) -> Row {
    boxed(fit, rotated, wh, crop, size, size, (0, 0))
}

/// Worked by hand from the documented semantics.
fn table() -> Vec<Row> {
    use Fit::*;
    let full_l = (1000.0, 500.0);
    let full_p = (500.0, 1000.0);
    let mut rows = vec![
        // 400x400, landscape: sx = 0.4, sy = 0.8.
        same(ScaleDown, L, (400, 400), full_l, (400, 200)),
        same(Contain, L, (400, 400), full_l, (400, 200)),
        boxed(Pad, L, (400, 400), full_l, (400, 200), (400, 400), (0, 100)),
        same(Squeeze, L, (400, 400), full_l, (400, 400)),
        same(Cover, L, (400, 400), (500.0, 500.0), (400, 400)),
        same(Crop, L, (400, 400), (500.0, 500.0), (400, 400)),
        same(AspectCrop, L, (400, 400), (500.0, 500.0), (400, 400)),
        // 400x400, portrait.
        same(ScaleDown, P, (400, 400), full_p, (200, 400)),
        same(Contain, P, (400, 400), full_p, (200, 400)),
        boxed(Pad, P, (400, 400), full_p, (200, 400), (400, 400), (100, 0)),
        same(Squeeze, P, (400, 400), full_p, (400, 400)),
        same(Cover, P, (400, 400), (500.0, 500.0), (400, 400)),
        same(Crop, P, (400, 400), (500.0, 500.0), (400, 400)),
        same(AspectCrop, P, (400, 400), (500.0, 500.0), (400, 400)),
        // 2000x1500 (larger than the image), landscape: sx = 2, sy = 3.
        same(ScaleDown, L, (2000, 1500), full_l, (1000, 500)),
        same(Contain, L, (2000, 1500), full_l, (2000, 1000)),
        boxed(
            Pad,
            L,
            (2000, 1500),
            full_l,
            (2000, 1000),
            (2000, 1500),
            (0, 250),
        ),
        same(Squeeze, L, (2000, 1500), full_l, (2000, 1500)),
        same(Cover, L, (2000, 1500), (2000.0 / 3.0, 500.0), (2000, 1500)),
        same(Crop, L, (2000, 1500), full_l, (1000, 500)),
        same(
            AspectCrop,
            L,
            (2000, 1500),
            (2000.0 / 3.0, 500.0),
            (667, 500),
        ),
        // 2000x1500, portrait: sx = 4, sy = 1.5.
        same(ScaleDown, P, (2000, 1500), full_p, (500, 1000)),
        same(Contain, P, (2000, 1500), full_p, (750, 1500)),
        boxed(
            Pad,
            P,
            (2000, 1500),
            full_p,
            (750, 1500),
            (2000, 1500),
            (625, 0),
        ),
        same(Squeeze, P, (2000, 1500), full_p, (2000, 1500)),
        same(Cover, P, (2000, 1500), (500.0, 375.0), (2000, 1500)),
        same(Crop, P, (2000, 1500), full_p, (500, 1000)),
        same(AspectCrop, P, (2000, 1500), (500.0, 375.0), (500, 375)),
        // 600x100 (wide box), landscape: sx = 0.6, sy = 0.2.
        same(ScaleDown, L, (600, 100), full_l, (200, 100)),
        same(Contain, L, (600, 100), full_l, (200, 100)),
        boxed(Pad, L, (600, 100), full_l, (200, 100), (600, 100), (200, 0)),
        same(Squeeze, L, (600, 100), full_l, (600, 100)),
        same(Cover, L, (600, 100), (1000.0, 500.0 / 3.0), (600, 100)),
        same(Crop, L, (600, 100), (1000.0, 500.0 / 3.0), (600, 100)),
        same(AspectCrop, L, (600, 100), (1000.0, 500.0 / 3.0), (600, 100)),
        // 600x100, portrait: sx = 1.2, sy = 0.1.
        same(ScaleDown, P, (600, 100), full_p, (50, 100)),
        same(Contain, P, (600, 100), full_p, (50, 100)),
        boxed(Pad, P, (600, 100), full_p, (50, 100), (600, 100), (275, 0)),
        same(Squeeze, P, (600, 100), full_p, (600, 100)),
        same(Cover, P, (600, 100), (500.0, 250.0 / 3.0), (600, 100)),
        // Crop does not enlarge the 500px width to 600: it keeps 500x100 of the image.
        same(Crop, P, (600, 100), (500.0, 100.0), (500, 100)),
        same(AspectCrop, P, (600, 100), (500.0, 250.0 / 3.0), (500, 83)),
    ];
    // One dimension only: every fit keeps the whole image and its aspect ratio; only the
    // never-enlarging fits stop at the original size.
    for fit in FITS {
        let never_enlarges = matches!(fit, ScaleDown | Crop | AspectCrop);
        for (rotated, full, req, size, big) in [
            (L, full_l, (Some(400), None), (400, 200), false),
            (P, full_p, (Some(400), None), (400, 800), false),
            (L, full_l, (None, Some(400)), (800, 400), false),
            (P, full_p, (None, Some(400)), (200, 400), false),
            (L, full_l, (Some(3000), None), (3000, 1500), true),
            (P, full_p, (None, Some(1500)), (750, 1500), true),
        ] {
            let size = if big && never_enlarges { rotated } else { size };
            rows.push(Row {
                fit,
                rotated,
                request: req,
                crop: full,
                resize: size,
                canvas: size,
                offset: (0, 0),
            });
        }
        // Nothing requested: the image as it is.
        for (rotated, full) in [(L, full_l), (P, full_p)] {
            rows.push(Row {
                fit,
                rotated,
                request: (None, None),
                crop: full,
                resize: rotated,
                canvas: rotated,
                offset: (0, 0),
            });
        }
    }
    rows
}

#[test]
fn every_fit_gravity_and_rotation() {
    let gravities = [
        Gravity::Center,
        Gravity::Left,
        Gravity::Right,
        Gravity::Top,
        Gravity::Bottom,
        Gravity::Auto,
        Gravity::Focal { x: 0.0, y: 0.0 },
        Gravity::Focal { x: 1.0, y: 1.0 },
        Gravity::Focal { x: 0.25, y: 0.75 },
        Gravity::Focal { x: 0.9, y: 0.1 },
        Gravity::Focal { x: 0.5, y: 0.33 },
    ];
    let rows = table();
    let mut checked = 0;
    for source in [L, P] {
        for rotate in ROTATIONS {
            let rotated = if rotate.swaps_axes() {
                (source.1, source.0)
            } else {
                source
            };
            for row in rows.iter().filter(|r| r.rotated == rotated) {
                for gravity in gravities {
                    let spec = spec_of(row.request.0, row.request.1, row.fit, gravity, rotate);
                    let ctx = format!("{}x{} {spec:?}", source.0, source.1);
                    let p = plan(source.0, source.1, &spec);
                    assert_eq!(p.source, source, "{ctx}");
                    assert_eq!(p.oriented, source, "{ctx}");
                    assert_eq!(p.rotated, rotated, "{ctx}");
                    assert_eq!(p.rotate, rotate, "{ctx}");
                    assert_rect(
                        p.trim,
                        0.0,
                        0.0,
                        f64::from(source.0),
                        f64::from(source.1),
                        &ctx,
                    );
                    assert!(
                        close(p.crop.width, row.crop.0) && close(p.crop.height, row.crop.1),
                        "{ctx}: crop {:?}, expected {:?}",
                        p.crop,
                        row.crop
                    );
                    assert_eq!(p.resize, row.resize, "{ctx}");
                    assert_eq!(p.canvas, row.canvas, "{ctx}");
                    assert_eq!(p.offset, row.offset, "{ctx}");

                    // Position: named gravities written out, focal points via the formula.
                    let (rw, rh) = (f64::from(rotated.0), f64::from(rotated.1));
                    let (cw, ch) = row.crop;
                    let (mid_x, mid_y) = ((rw - cw) / 2.0, (rh - ch) / 2.0);
                    let (x, y) = match gravity {
                        Gravity::Center | Gravity::Auto => (mid_x, mid_y),
                        Gravity::Left => (0.0, mid_y),
                        Gravity::Right => (rw - cw, mid_y),
                        Gravity::Top => (mid_x, 0.0),
                        Gravity::Bottom => (mid_x, rh - ch),
                        Gravity::Focal { x, y } => (
                            expected_position(f64::from(x), rw, cw),
                            expected_position(f64::from(y), rh, ch),
                        ),
                    };
                    assert_rect(p.crop, x, y, cw, ch, &ctx);
                    check_invariants(&p, &spec, &ctx);
                    checked += 1;
                }
            }
        }
    }
    // 2 sources × 4 rotations × (42 boxed rows / 2 + 8 per fit × 7 / 2) × 11 gravities.
    assert_eq!(checked, 2 * 4 * (21 + 28) * 11);
}

#[test]
fn gravity_matters_only_when_cropping() {
    // Cover of a landscape image into a square crops the sides: left/right move x, top/bottom
    // cannot move y.
    let cover = |g: Gravity| {
        plan(
            1000,
            500,
            &spec_of(Some(400), Some(400), Fit::Cover, g, Rotate::None),
        )
    };
    assert_rect(
        cover(Gravity::Center).crop,
        250.0,
        0.0,
        500.0,
        500.0,
        "center",
    );
    assert_rect(cover(Gravity::Left).crop, 0.0, 0.0, 500.0, 500.0, "left");
    assert_rect(
        cover(Gravity::Right).crop,
        500.0,
        0.0,
        500.0,
        500.0,
        "right",
    );
    assert_rect(cover(Gravity::Top).crop, 250.0, 0.0, 500.0, 500.0, "top");
    assert_rect(
        cover(Gravity::Bottom).crop,
        250.0,
        0.0,
        500.0,
        500.0,
        "bottom",
    );
    assert_rect(
        cover(Gravity::Focal { x: 0.3, y: 0.9 }).crop,
        50.0,
        0.0,
        500.0,
        500.0,
        "0.3x0.9",
    );
    assert!(cover(Gravity::Center).crops());
    // Portrait: top/bottom move y.
    let cover = |g: Gravity| {
        plan(
            500,
            1000,
            &spec_of(Some(400), Some(400), Fit::Cover, g, Rotate::None),
        )
    };
    assert_rect(cover(Gravity::Top).crop, 0.0, 0.0, 500.0, 500.0, "top");
    assert_rect(
        cover(Gravity::Bottom).crop,
        0.0,
        500.0,
        500.0,
        500.0,
        "bottom",
    );
    assert_rect(cover(Gravity::Left).crop, 0.0, 250.0, 500.0, 500.0, "left");
    assert_rect(
        cover(Gravity::Focal { x: 0.5, y: 0.6 }).crop,
        0.0,
        350.0,
        500.0,
        500.0,
        "0.5x0.6",
    );
    // Rotating the portrait source by 90 makes it landscape: left/right move x again.
    let p = plan(
        500,
        1000,
        &spec_of(
            Some(400),
            Some(400),
            Fit::Cover,
            Gravity::Right,
            Rotate::Cw90,
        ),
    );
    assert_eq!(p.rotated, (1000, 500));
    assert_rect(p.crop, 500.0, 0.0, 500.0, 500.0, "right after rotate");
    // Scale-down never crops, so gravity is irrelevant.
    for g in [
        Gravity::Left,
        Gravity::Bottom,
        Gravity::Focal { x: 1.0, y: 0.0 },
    ] {
        let p = plan(
            1000,
            500,
            &spec_of(Some(400), Some(400), Fit::ScaleDown, g, Rotate::None),
        );
        assert_rect(p.crop, 0.0, 0.0, 1000.0, 500.0, "scale-down");
        assert!(!p.crops());
    }
}

// ---------------------------------------------------------------------------------------------
// Cloudflare's documented examples
// ---------------------------------------------------------------------------------------------

#[test]
fn cloudflare_scale_down_example() {
    let p = plan(1080, 720, &parsed("width=500,height=500,fit=scale-down"));
    assert_eq!(p.resize, (500, 333));
    assert_eq!(p.canvas, (500, 333));
    assert_rect(p.crop, 0.0, 0.0, 1080.0, 720.0, "whole image");
    assert!(!p.crops());
    // The default fit is scale-down.
    assert_eq!(plan(1080, 720, &parsed("width=500,height=500")), p);
}

#[test]
fn cloudflare_cover_example() {
    let p = plan(1080, 720, &parsed("width=500,height=500,fit=cover"));
    assert_eq!(p.resize, (500, 500));
    assert_eq!(p.canvas, (500, 500));
    // The middle 720x720.
    assert_rect(p.crop, 180.0, 0.0, 720.0, 720.0, "cover");
    assert!(p.crops());
    // Gravity moves it, clamped to the edges.
    let left = plan(
        1080,
        720,
        &parsed("width=500,height=500,fit=cover,gravity=left"),
    );
    assert_rect(left.crop, 0.0, 0.0, 720.0, 720.0, "left");
    let right = plan(
        1080,
        720,
        &parsed("width=500,height=500,fit=cover,gravity=right"),
    );
    assert_rect(right.crop, 360.0, 0.0, 720.0, 720.0, "right");
    let focal = plan(
        1080,
        720,
        &parsed("width=500,height=500,fit=cover,gravity=0.4x0.5"),
    );
    assert_rect(focal.crop, 72.0, 0.0, 720.0, 720.0, "0.4x0.5");
    let far = plan(
        1080,
        720,
        &parsed("width=500,height=500,fit=cover,gravity=0.9x0.5"),
    );
    assert_rect(far.crop, 360.0, 0.0, 720.0, 720.0, "0.9x0.5");
    let near = plan(
        1080,
        720,
        &parsed("width=500,height=500,fit=cover,gravity=0.1x0"),
    );
    assert_rect(near.crop, 0.0, 0.0, 720.0, 720.0, "0.1x0");
}

#[test]
fn cloudflare_aspect_crop_example() {
    let p = plan(612, 613, &parsed("width=1920,height=1120,fit=aspect-crop"));
    assert_eq!(p.resize, (612, 357));
    assert_eq!(p.canvas, (612, 357));
    assert_rect(p.crop, 0.0, 128.0, 612.0, 357.0, "aspect-crop");
    assert_eq!(p.shrink, 1);
}

#[test]
fn cloudflare_crop_of_a_smaller_image_is_scale_down() {
    for (w, h) in [(400, 300), (300, 400), (500, 500), (1, 1), (499, 12)] {
        let crop = plan(w, h, &parsed("width=500,height=500,fit=crop"));
        let scale_down = plan(w, h, &parsed("width=500,height=500,fit=scale-down"));
        assert_eq!(crop.resize, (w, h));
        assert_eq!(crop.resize, scale_down.resize);
        assert_eq!(crop.canvas, scale_down.canvas);
        assert_eq!(crop.crop, scale_down.crop);
        assert!(!crop.crops());
    }
    // And for a larger image it is cover.
    let crop = plan(1080, 720, &parsed("width=500,height=500,fit=crop"));
    let cover = plan(1080, 720, &parsed("width=500,height=500,fit=cover"));
    assert_eq!((crop.resize, crop.canvas), (cover.resize, cover.canvas));
    let c = cover.crop;
    assert_rect(
        crop.crop,
        c.x,
        c.y,
        c.width,
        c.height,
        "crop of a larger image",
    );
}

// ---------------------------------------------------------------------------------------------
// EXIF orientation and rotate
// ---------------------------------------------------------------------------------------------

#[test]
fn exif_orientation_swaps_axes_before_fitting() {
    let spec = parsed("width=250");
    for o in ORIENTATIONS {
        let p = plan_oriented(1000, 500, o, &spec);
        let ctx = format!("{o:?}");
        assert_eq!(p.source, (1000, 500), "{ctx}");
        assert_eq!(p.orientation, o, "{ctx}");
        if o.to_exif() >= 5 {
            assert!(o.swaps_axes(), "{ctx}");
            assert_eq!(p.oriented, (500, 1000), "{ctx}");
            assert_eq!(p.rotated, (500, 1000), "{ctx}");
            assert_eq!(p.resize, (250, 500), "{ctx}");
        } else {
            assert!(!o.swaps_axes(), "{ctx}");
            assert_eq!(p.oriented, (1000, 500), "{ctx}");
            assert_eq!(p.resize, (250, 125), "{ctx}");
        }
        check_invariants(&p, &spec, &ctx);
        assert!(!p.is_geometry_identity(), "{ctx}");
    }
    // Cover on an upright-portrait (stored landscape, orientation 6) image crops vertically.
    let p = plan_oriented(
        1000,
        500,
        Orientation::Rotate90,
        &parsed("width=100,height=100,fit=cover,gravity=bottom"),
    );
    assert_rect(p.crop, 0.0, 500.0, 500.0, 500.0, "orientation 6 cover");
}

#[test]
fn rotate_swaps_the_axes_width_and_height_refer_to() {
    for (rotate, swaps) in [
        (Rotate::None, false),
        (Rotate::Cw90, true),
        (Rotate::Cw180, false),
        (Rotate::Cw270, true),
    ] {
        let spec = Spec {
            width: Some(250),
            rotate,
            ..Spec::new()
        };
        let p = plan(1000, 500, &spec);
        if swaps {
            assert_eq!(p.rotated, (500, 1000));
            assert_eq!(
                p.resize,
                (250, 500),
                "{rotate:?}: width is the rotated width"
            );
        } else {
            assert_eq!(p.rotated, (1000, 500));
            assert_eq!(p.resize, (250, 125), "{rotate:?}");
        }
        check_invariants(&p, &spec, &format!("{rotate:?}"));
    }
    // EXIF 6 then rotate=90 gives back the stored axes.
    let spec = parsed("width=250,rotate=90");
    let p = plan_oriented(1000, 500, Orientation::Rotate90, &spec);
    assert_eq!(p.oriented, (500, 1000));
    assert_eq!(p.rotated, (1000, 500));
    assert_eq!(p.resize, (250, 125));
    // EXIF 8 then rotate=270.
    let spec = parsed("height=100,rotate=270");
    let p = plan_oriented(1000, 500, Orientation::Rotate270, &spec);
    assert_eq!(p.rotated, (1000, 500));
    assert_eq!(p.resize, (200, 100));
}

#[test]
fn identity_and_flip() {
    let p = plan(640, 480, &Spec::new());
    assert!(p.is_geometry_identity());
    assert_eq!(p.resize, (640, 480));
    assert_eq!(p.canvas, (640, 480));
    assert_eq!(p.shrink, 1);
    assert!(!p.crops());
    // Asking for the size it already has changes nothing either.
    assert!(plan(640, 480, &parsed("width=640")).is_geometry_identity());
    assert!(plan(640, 480, &parsed("width=1000")).is_geometry_identity());
    for s in [
        "flip=h",
        "rotate=180",
        "width=320",
        "width=1000,fit=contain",
        "trim=1;0;0;0",
        "width=640,height=640,fit=pad",
        "width=640,height=240,fit=cover",
    ] {
        let p = plan(640, 480, &parsed(s));
        assert!(!p.is_geometry_identity(), "{s}");
    }
    let p = plan(640, 480, &parsed("flip=hv"));
    assert_eq!(p.flip, Flip::Both);
    assert_eq!(p.rotated, (640, 480), "flip does not change the size");
    assert!(!plan_oriented(640, 480, Orientation::FlipH, &Spec::new()).is_geometry_identity());
}

// ---------------------------------------------------------------------------------------------
// Trim
// ---------------------------------------------------------------------------------------------

#[test]
fn trim_edges() {
    let spec = parsed("trim=10;20;30;40");
    let p = plan(1000, 500, &spec);
    assert_rect(p.trim, 40.0, 10.0, 940.0, 460.0, "edges");
    assert_eq!(p.rotated, (940, 460));
    assert_eq!(p.resize, (940, 460));
    check_invariants(&p, &spec, "edges");
    // Edges are in oriented coordinates: after EXIF 6 the image is 500x1000.
    let p = plan_oriented(1000, 500, Orientation::Rotate90, &spec);
    assert_eq!(p.oriented, (500, 1000));
    assert_rect(p.trim, 40.0, 10.0, 440.0, 960.0, "edges, EXIF 6");
    assert_eq!(p.rotated, (440, 960));
    // Then rotate: trim first, rotate after.
    let spec = parsed("trim=0;100;0;0,rotate=90,width=250");
    let p = plan(1000, 500, &spec);
    assert_rect(p.trim, 0.0, 0.0, 900.0, 500.0, "trim then rotate");
    assert_eq!(p.rotated, (500, 900));
    assert_eq!(p.resize, (250, 450));
    check_invariants(&p, &spec, "trim then rotate");
    // Trimming to a single pixel is fine.
    let p = plan(10, 10, &parsed("trim=9;0;0;9"));
    assert_rect(p.trim, 9.0, 9.0, 1.0, 1.0, "single pixel");
    assert_eq!(p.resize, (1, 1));
    // Then fit applies to the trimmed image.
    let spec = parsed("trim=0;500;0;0,width=100,height=100,fit=cover");
    let p = plan(1000, 500, &spec);
    assert_eq!(p.rotated, (500, 500));
    assert_rect(p.crop, 0.0, 0.0, 500.0, 500.0, "trimmed square");
    assert_eq!(p.shrink, 4);
}

#[test]
fn trim_rect() {
    let spec = parsed("trim.left=100,trim.top=50,trim.width=200,trim.height=100");
    let p = plan(1000, 500, &spec);
    assert_rect(p.trim, 100.0, 50.0, 200.0, 100.0, "rect");
    assert_eq!(p.rotated, (200, 100));
    check_invariants(&p, &spec, "rect");
    // Missing width/height run to the edge; oversized ones are clamped to it.
    let p = plan(1000, 500, &parsed("trim.left=100,trim.top=50"));
    assert_rect(p.trim, 100.0, 50.0, 900.0, 450.0, "to the edge");
    let p = plan(
        1000,
        500,
        &parsed("trim.left=900,trim.width=500,trim.height=9999"),
    );
    assert_rect(p.trim, 900.0, 0.0, 100.0, 500.0, "clamped");
    let p = plan(1000, 500, &parsed("trim.width=10"));
    assert_rect(p.trim, 0.0, 0.0, 10.0, 500.0, "width only");
    // In oriented coordinates.
    let p = plan_oriented(
        1000,
        500,
        Orientation::Rotate270,
        &parsed("trim.left=100,trim.top=800"),
    );
    assert_rect(p.trim, 100.0, 800.0, 400.0, 200.0, "rect, EXIF 8");
    assert_eq!(p.rotated, (400, 200));
    // Rotate applies after the trim.
    let p = plan(
        1000,
        500,
        &parsed("trim.left=100,trim.width=200,rotate=270"),
    );
    assert_eq!(p.rotated, (500, 200));
    // The last pixel is a valid origin.
    let p = plan(1000, 500, &parsed("trim.left=999,trim.top=499"));
    assert_rect(p.trim, 999.0, 499.0, 1.0, 1.0, "last pixel");
}

#[test]
fn trim_that_removes_everything_is_not_applicable() {
    for (w, h, o, s) in [
        (1000, 500, Orientation::Normal, "trim=500;0;0;0"),
        (1000, 500, Orientation::Normal, "trim=250;0;250;0"),
        (1000, 500, Orientation::Normal, "trim=0;500;0;500"),
        (1000, 500, Orientation::Normal, "trim=0;1000;0;0"),
        (
            1000,
            500,
            Orientation::Normal,
            "trim=65535;65535;65535;65535",
        ),
        (1000, 500, Orientation::Normal, "trim.left=1000"),
        (1000, 500, Orientation::Normal, "trim.top=500"),
        (
            1000,
            500,
            Orientation::Normal,
            "trim.left=65535,trim.top=65535",
        ),
        // Fine for the stored size, too much after EXIF 6 makes it 500x1000.
        (1000, 500, Orientation::Rotate90, "trim=0;0;0;500"),
        (1000, 500, Orientation::Rotate90, "trim.left=600"),
        (1, 1, Orientation::Normal, "trim=1;0;0;0"),
    ] {
        let e = Plan::new(w, h, o, &parsed(s)).expect_err(s);
        assert_eq!(e.code(), "not_applicable", "{s}");
        assert_eq!(e.key(), Some("trim"), "{s}");
        assert_eq!(e.kind(), crate::ErrorKind::BadSpec, "{s}");
        assert!(e.to_string().contains("trim"), "{s}: {e}");
    }
    // The same trims fit when the orientation does not swap.
    assert!(Plan::new(1000, 500, Orientation::Normal, &parsed("trim=0;0;0;500")).is_ok());
    assert!(Plan::new(1000, 500, Orientation::Normal, &parsed("trim.left=600")).is_ok());
}

// ---------------------------------------------------------------------------------------------
// dpr
// ---------------------------------------------------------------------------------------------

#[test]
fn dpr_multiplies_the_requested_size() {
    let p = plan(2000, 1000, &parsed("w=400,dpr=2"));
    assert_eq!(p.resize, (800, 400));
    let p = plan(2000, 1000, &parsed("h=400,dpr=1.5"));
    assert_eq!(p.resize, (1200, 600));
    let p = plan(2000, 1000, &parsed("w=400,dpr=0.5"));
    assert_eq!(p.resize, (200, 100));
    let p = plan(2000, 1000, &parsed("w=300,h=300,dpr=2,fit=cover"));
    assert_eq!(p.resize, (600, 600));
    assert_eq!(p.canvas, (600, 600));
    assert_rect(p.crop, 500.0, 0.0, 1000.0, 1000.0, "cover dpr");
    let p = plan(2000, 1000, &parsed("w=300,h=300,dpr=2,fit=pad"));
    assert_eq!(p.resize, (600, 300));
    assert_eq!(p.canvas, (600, 600));
    assert_eq!(p.offset, (0, 150));
    // Scale-down still does not enlarge.
    let p = plan(600, 300, &parsed("w=400,dpr=2"));
    assert_eq!(p.resize, (600, 300));
    // Contain does.
    let p = plan(600, 300, &parsed("w=400,dpr=2,fit=contain"));
    assert_eq!(p.resize, (800, 400));
}

// ---------------------------------------------------------------------------------------------
// Shrink-on-load
// ---------------------------------------------------------------------------------------------

#[test]
fn shrink_factor() {
    for (spec, shrink, resize) in [
        ("w=600", 8, (600, 400)),
        ("w=601", 4, (601, 401)),
        ("w=750", 4, (750, 500)),
        ("w=1000", 4, (1000, 667)),
        ("w=1200", 4, (1200, 800)),
        ("w=1201", 2, (1201, 801)),
        ("w=2000", 2, (2000, 1333)),
        ("w=2400", 2, (2400, 1600)),
        ("w=2401", 1, (2401, 1601)),
        ("w=4000", 1, (4000, 2667)),
        ("w=6000", 1, (6000, 4000)),
        ("w=9000", 1, (6000, 4000)),
        ("w=9000,fit=contain", 1, (9000, 6000)),
        ("", 1, (6000, 4000)),
        ("w=1", 8, (1, 1)),
        ("h=400", 8, (600, 400)),
        ("h=500", 4, (750, 500)),
        // Cover keeps 4000x4000 for a 400x400 output: 4000/8 = 500 = 400 × 1.25.
        ("w=400,h=400,fit=cover", 8, (400, 400)),
        ("w=401,h=401,fit=cover", 4, (401, 401)),
        // Squeeze: both axes must have enough pixels.
        ("w=600,h=400,fit=squeeze", 8, (600, 400)),
        ("w=600,h=401,fit=squeeze", 4, (600, 401)),
    ] {
        let p = plan(6000, 4000, &parsed(spec));
        assert_eq!(p.resize, resize, "{spec}");
        assert_eq!(p.shrink, shrink, "{spec}");
        check_shrink(&p, spec);
    }
    // Shrink is relative to the crop, not the whole image.
    let p = plan(6000, 4000, &parsed("trim.width=800,trim.height=800,w=80"));
    assert_eq!(p.shrink, 8);
    let p = plan(6000, 4000, &parsed("trim.width=800,trim.height=800,w=100"));
    assert_eq!(p.shrink, 4);
}

// ---------------------------------------------------------------------------------------------
// position_crop
// ---------------------------------------------------------------------------------------------

#[test]
fn position_crop_clamps_to_the_edges() {
    // A 500x500 crop of a 1000x500 image (cover into a square).
    let mut p = plan(1000, 500, &parsed("w=100,h=100,fit=cover"));
    for ((fx, fy), (x, y)) in [
        ((0.5, 0.5), (250.0, 0.0)),
        ((0.0, 0.0), (0.0, 0.0)),
        ((1.0, 1.0), (500.0, 0.0)),
        ((0.25, 0.5), (0.0, 0.0)),
        ((0.3, 0.5), (50.0, 0.0)),
        ((0.7, 0.5), (450.0, 0.0)),
        ((0.75, 0.5), (500.0, 0.0)),
        // Out-of-range points (from saliency, say) are clamped too.
        ((-3.0, -3.0), (0.0, 0.0)),
        ((7.0, 7.0), (500.0, 0.0)),
    ] {
        p.position_crop((fx, fy));
        assert_rect(p.crop, x, y, 500.0, 500.0, &format!("{fx}x{fy}"));
    }
    // A tall box on a landscape image: a 250x500 window slides along x.
    let mut p = plan(1000, 500, &parsed("w=100,h=200,fit=cover"));
    assert_rect(p.crop, 375.0, 0.0, 250.0, 500.0, "centre");
    p.position_crop((0.0, 1.0));
    assert_rect(p.crop, 0.0, 0.0, 250.0, 500.0, "left");
    p.position_crop((1.0, 0.0));
    assert_rect(p.crop, 750.0, 0.0, 250.0, 500.0, "right");
    p.position_crop((0.2, 0.5));
    assert_rect(p.crop, 75.0, 0.0, 250.0, 500.0, "0.2");
    // Size and everything else stay put.
    let before = p.clone();
    p.position_crop((0.9, 0.9));
    assert_eq!(
        (p.resize, p.canvas, p.shrink),
        (before.resize, before.canvas, before.shrink)
    );
    assert!(close(p.crop.width, before.crop.width) && close(p.crop.height, before.crop.height));
    // A crop of the whole image does not move.
    let mut p = plan(1000, 500, &parsed("w=100"));
    for f in [(0.0, 0.0), (1.0, 1.0), (0.3, 0.8)] {
        p.position_crop(f);
        assert_rect(p.crop, 0.0, 0.0, 1000.0, 500.0, "whole");
    }
}

#[test]
fn auto_gravity_is_planned_as_centre() {
    let auto = plan(1000, 500, &parsed("w=100,h=100,fit=cover,gravity=auto"));
    let centre = plan(1000, 500, &parsed("w=100,h=100,fit=cover"));
    assert_eq!(auto.crop, centre.crop);
}

#[test]
fn rect_scaled() {
    let r = Rect {
        x: 10.0,
        y: 20.0,
        width: 100.0,
        height: 50.0,
    };
    assert_rect(r.scaled(0.5, 0.25), 5.0, 5.0, 50.0, 12.5, "scaled");
    assert_rect(r.scaled(1.0, 1.0), 10.0, 20.0, 100.0, 50.0, "unit");
}

#[test]
fn extreme_sizes() {
    // Tiny sources, huge requests, extreme aspect ratios: sane plans, no panics.
    for (w, h) in [(1, 1), (1, 65535), (65535, 1), (3, 2), (100_000, 7)] {
        for fit in FITS {
            for (rw, rh) in [
                (Some(1), Some(1)),
                (Some(65535), Some(65535)),
                (Some(1), Some(65535)),
                (Some(65535), None),
                (None, Some(1)),
            ] {
                for dpr in [None, Some(2.0)] {
                    let spec = Spec {
                        width: rw,
                        height: rh,
                        dpr,
                        fit,
                        ..Spec::new()
                    };
                    let ctx = format!("{w}x{h} {spec}");
                    let p = plan(w, h, &spec);
                    check_invariants(&p, &spec, &ctx);
                }
            }
        }
    }
    // A 1x1 image squeezed into the largest box.
    let p = plan(1, 1, &parsed("w=65535,h=65535,dpr=2,fit=squeeze"));
    assert_eq!(p.resize, (131_070, 131_070));
}

// ---------------------------------------------------------------------------------------------
// Property test
// ---------------------------------------------------------------------------------------------

fn arb_request() -> impl Strategy<Value = Option<u32>> {
    proptest::option::of(prop_oneof![1u32..=MAX_DIMENSION, 1u32..=2000, 1u32..=20])
}

fn arb_gravity() -> impl Strategy<Value = Gravity> {
    prop_oneof![
        prop::sample::select(vec![
            Gravity::Center,
            Gravity::Left,
            Gravity::Right,
            Gravity::Top,
            Gravity::Bottom,
            Gravity::Auto,
        ]),
        (0.0f32..=1.0, 0.0f32..=1.0).prop_map(|(x, y)| Gravity::Focal { x, y }),
    ]
}

fn arb_trim() -> impl Strategy<Value = Option<Trim>> {
    let n = || prop_oneof![0u32..=20, 0u32..=MAX_DIMENSION];
    proptest::option::of(prop_oneof![
        (n(), n(), n(), n()).prop_map(|(top, right, bottom, left)| Trim::Edges {
            top,
            right,
            bottom,
            left,
        }),
        (
            n(),
            n(),
            proptest::option::of(1u32..=MAX_DIMENSION),
            proptest::option::of(1u32..=MAX_DIMENSION)
        )
            .prop_map(|(left, top, width, height)| Trim::Rect {
                left,
                top,
                width,
                height,
            }),
    ])
}

fn arb_plan_input() -> impl Strategy<Value = (u32, u32, Orientation, Spec)> {
    let size = || prop_oneof![1u32..=10_000, 1u32..=50, 1u32..=100_000];
    (
        size(),
        size(),
        prop::sample::select(ORIENTATIONS.to_vec()),
        (
            arb_request(),
            arb_request(),
            proptest::option::of(prop_oneof![0.01f32..=2.0, Just(2.0f32), Just(0.5f32)]),
            prop::sample::select(FITS.to_vec()),
            arb_gravity(),
            prop::sample::select(ROTATIONS.to_vec()),
            prop_oneof![3 => Just(None), 1 => arb_trim()],
        ),
    )
        .prop_map(
            |(w, h, o, (width, height, dpr, fit, gravity, rotate, trim))| {
                (
                    w,
                    h,
                    o,
                    Spec {
                        width,
                        height,
                        dpr,
                        fit,
                        gravity,
                        rotate,
                        trim,
                        ..Spec::new()
                    },
                )
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn plans_are_sound((w, h, o, spec) in arb_plan_input()) {
        let ctx = format!("{w}x{h} {o:?} {spec}");
        match Plan::new(w, h, o, &spec) {
            Ok(p) => {
                check_invariants(&p, &spec, &ctx);
                prop_assert!([1, 2, 4, 8].contains(&p.shrink));
                if p.shrink > 1 {
                    let d = f64::from(p.shrink);
                    prop_assert!(p.crop.width / d >= f64::from(p.resize.0), "{}", ctx);
                    prop_assert!(p.crop.height / d >= f64::from(p.resize.1), "{}", ctx);
                }
                // Repositioning anywhere keeps the crop inside and its size unchanged.
                let mut q = p.clone();
                q.position_crop((0.0, 1.0));
                check_invariants(&q, &spec, &ctx);
                q.position_crop((1.0, 0.0));
                check_invariants(&q, &spec, &ctx);
            }
            Err(e) => {
                // Only a trim can make a valid spec inapplicable.
                prop_assert!(spec.trim.is_some(), "{}: {}", ctx, e);
                prop_assert_eq!(e.code(), "not_applicable");
                prop_assert_eq!(e.key(), Some("trim"));
            }
        }
    }

    #[test]
    fn shrink_for_downscales((w, h) in (1u32..=12_000, 1u32..=12_000), target in 1u32..=12_000,
                             fit in prop::sample::select(FITS.to_vec())) {
        // Without a trim, never-enlarging fits also satisfy the bound at shrink 1.
        let spec = Spec { width: Some(target), fit, ..Spec::new() };
        let p = plan(w, h, &spec);
        let d = f64::from(p.shrink);
        if p.shrink > 1 || matches!(fit, Fit::ScaleDown | Fit::Crop | Fit::AspectCrop) {
            prop_assert!(p.crop.width / d >= f64::from(p.resize.0), "{:?}", p);
            prop_assert!(p.crop.height / d >= f64::from(p.resize.1), "{:?}", p);
        }
        check_invariants(&p, &spec, &format!("{w}x{h} {spec}"));
    }
}
