//! Options beyond geometry and colour: `border`, `trim=border`, `compression`, `onerror`, and
//! the client-hint forms `width=auto` and `dpr=auto`.

use super::parse::{parse_color_for, parse_u32};
use super::Rgba;
use crate::Error;

/// The widest border side accepted, in CSS pixels (multiplied by `dpr`).
pub const MAX_BORDER: u32 = 1000;

/// A border drawn around the finished image (after resizing and padding), as Cloudflare's
/// `border`: widths in CSS pixels, multiplied by `dpr`, so the output grows by the borders.
/// Written `border=W;COLOR` (all sides) or `border=TOP;RIGHT;BOTTOM;LEFT;COLOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Border {
    pub top: u32,
    pub right: u32,
    pub bottom: u32,
    pub left: u32,
    pub color: Rgba,
}

impl Border {
    /// The widths in output pixels for a device pixel ratio: `[top, right, bottom, left]`.
    pub fn device_widths(&self, dpr: Option<f32>) -> [u32; 4] {
        let d = f64::from(dpr.unwrap_or(1.0));
        [self.top, self.right, self.bottom, self.left].map(|w| (f64::from(w) * d).round() as u32)
    }

    pub(super) fn parse(value: &str) -> Result<Option<Border>, Error> {
        const K: &str = "border";
        let what = "expected WIDTH;COLOR or TOP;RIGHT;BOTTOM;LEFT;COLOR (widths in pixels)";
        let parts: Vec<&str> = value.split(';').collect();
        let (widths, color) = match parts.as_slice() {
            [w, c] => (vec![*w; 4], *c),
            [t, r, b, l, c] => (vec![*t, *r, *b, *l], *c),
            _ => return Err(Error::invalid(K, value, what)),
        };
        let mut v = [0u32; 4];
        for (slot, w) in v.iter_mut().zip(&widths) {
            *slot = parse_u32(K, w, 0, MAX_BORDER)?;
        }
        let color = parse_color_for(K, color)?;
        let [top, right, bottom, left] = v;
        Ok((v != [0; 4]).then_some(Border {
            top,
            right,
            bottom,
            left,
            color,
        }))
    }

    pub(super) fn write(&self, parts: &mut Vec<String>) {
        let Rgba([r, g, b, a]) = self.color;
        let color = if a == 255 {
            format!("%23{r:02x}{g:02x}{b:02x}")
        } else {
            format!("%23{r:02x}{g:02x}{b:02x}{a:02x}")
        };
        let Border {
            top,
            right,
            bottom,
            left,
            ..
        } = *self;
        if top == right && right == bottom && bottom == left {
            parts.push(format!("border={top};{color}"));
        } else {
            parts.push(format!("border={top};{right};{bottom};{left};{color}"));
        }
    }
}

/// `trim=border`: cut away a uniform border found in the pixels, as Cloudflare does. The
/// border's colour is the top-left pixel's; a pixel belongs to it when every channel (alpha
/// included) is within `tolerance`; `keep` pixels of the border are left on each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrimBorder {
    /// 0–255; default [`TrimBorder::DEFAULT_TOLERANCE`].
    pub tolerance: u8,
    /// Pixels of the border kept on each side; default 0.
    pub keep: u32,
}

impl TrimBorder {
    pub const DEFAULT_TOLERANCE: u8 = 10;

    pub(super) fn write(&self, parts: &mut Vec<String>) {
        parts.push("trim=border".to_owned());
        if self.tolerance != Self::DEFAULT_TOLERANCE {
            parts.push(format!("trim.border.tolerance={}", self.tolerance));
        }
        if self.keep != 0 {
            parts.push(format!("trim.border.keep={}", self.keep));
        }
    }
}

impl Default for TrimBorder {
    fn default() -> Self {
        TrimBorder {
            tolerance: Self::DEFAULT_TOLERANCE,
            keep: 0,
        }
    }
}

/// `compression=fast`: trade bytes for encoding time on a miss (Cloudflare's option): JPEG
/// instead of WebP or AVIF for `format=auto`, and each encoder's quickest setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    #[default]
    Default,
    Fast,
}

/// What a failed transform answers (Cloudflare's `onerror`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnError {
    /// The error itself, as a JSON body with its status (the default).
    #[default]
    Status,
    /// A redirect to the original's own URL (the same path without options) when the image
    /// cannot be transformed ([`OnError::redirects`]).
    Redirect,
}

impl OnError {
    /// Whether `error` is answered with a redirect under `onerror=redirect`: every failure to
    /// transform this image (undecodable, unsupported, over limits, too costly, not applicable,
    /// an encoder fault), but not mistakes in the URL itself or refusals (bad signature).
    pub fn redirects(self, error: &Error) -> bool {
        self == OnError::Redirect
            && error.kind() != crate::ErrorKind::Forbidden
            && !matches!(
                error,
                Error::UnknownOption { .. }
                    | Error::DuplicateOption { .. }
                    | Error::InvalidValue { .. }
                    | Error::MalformedSpec { .. }
                    | Error::BadKey { .. }
                    | Error::UnknownPreset { .. }
                    | Error::WidthNotAllowed { .. }
            )
    }
}
