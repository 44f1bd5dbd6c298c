//! The typed transform request.
//!
//! A [`Spec`] is parsed once from either URL grammar (see [`Spec::parse_query`],
//! [`Spec::parse_options`]) and written back by `Display` in its canonical form: options in a
//! fixed order, defaults omitted, comma-separated. `Spec::parse(&spec.to_string()) == Ok(spec)`
//! always holds, so the canonical string is part of every variant's identity
//! ([`crate::VariantKey`]).
//!
//! Why this file is over 400 lines: it is the spec's types and their canonical spelling side by
//! side, one block per option, so that adding an option touches one place in this file.

mod adjust;
mod extra;
mod hints;
mod parse;

pub use adjust::Adjust;
pub use extra::{Border, Compression, OnError, TrimBorder, MAX_BORDER};
pub use hints::{ClientHints, ACCEPT_CH, AUTO_DPRS, AUTO_WIDTHS};

pub use parse::{canonical_name, option_names, percent_decode, split_options, split_query, Pair};

use std::fmt;

/// How the image is fitted into `width` × `height` (Cloudflare's `fit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Fit {
    /// Fit inside the box, never enlarge (the default).
    #[default]
    ScaleDown,
    /// Fit inside the box, enlarging if needed.
    Contain,
    /// Fill the box exactly, cropping the overflow; may enlarge.
    Cover,
    /// Like `cover` for large images, like `scale-down` for small ones: never enlarges.
    Crop,
    /// Always crop to the box's aspect ratio, never enlarge.
    AspectCrop,
    /// Like `contain`, then pad to exactly the box with `background`.
    Pad,
    /// Stretch to exactly the box, ignoring the aspect ratio.
    Squeeze,
}

impl Fit {
    pub(crate) const ALL: [(Fit, &'static str); 7] = [
        (Fit::ScaleDown, "scale-down"),
        (Fit::Contain, "contain"),
        (Fit::Cover, "cover"),
        (Fit::Crop, "crop"),
        (Fit::AspectCrop, "aspect-crop"),
        (Fit::Pad, "pad"),
        (Fit::Squeeze, "squeeze"),
    ];

    /// The option value naming this mode.
    pub fn as_str(self) -> &'static str {
        name_of(&Self::ALL, self)
    }
}

/// Which part of the image survives a crop (Cloudflare's `gravity`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Gravity {
    /// Keep the centre (the default).
    #[default]
    Center,
    Left,
    Right,
    Top,
    Bottom,
    /// Keep the most salient region (edge energy and colourfulness; see `saliency`).
    Auto,
    /// Keep this point as close to the centre as the crop allows; `x`, `y` in `0.0..=1.0`,
    /// `0x0` is top left.
    Focal {
        x: f32,
        y: f32,
    },
}

impl Gravity {
    pub(crate) const NAMED: [(Gravity, &'static str); 6] = [
        (Gravity::Center, "center"),
        (Gravity::Left, "left"),
        (Gravity::Right, "right"),
        (Gravity::Top, "top"),
        (Gravity::Bottom, "bottom"),
        (Gravity::Auto, "auto"),
    ];

    /// The focal point this gravity stands for, `None` for `auto`.
    pub fn focal_point(self) -> Option<(f32, f32)> {
        match self {
            Gravity::Center => Some((0.5, 0.5)),
            Gravity::Left => Some((0.0, 0.5)),
            Gravity::Right => Some((1.0, 0.5)),
            Gravity::Top => Some((0.5, 0.0)),
            Gravity::Bottom => Some((0.5, 1.0)),
            Gravity::Auto => None,
            Gravity::Focal { x, y } => Some((x, y)),
        }
    }
}

/// Requested output quality: a number or one of Cloudflare's perceptual levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quality {
    /// 1–100.
    Value(u8),
    High,
    MediumHigh,
    MediumLow,
    Low,
}

impl Quality {
    pub(crate) const NAMED: [(Quality, &'static str); 4] = [
        (Quality::High, "high"),
        (Quality::MediumHigh, "medium-high"),
        (Quality::MediumLow, "medium-low"),
        (Quality::Low, "low"),
    ];

    /// The 1–100 number used by the encoders. Named levels map to 90, 80, 65 and 50.
    pub fn value(self) -> u8 {
        match self {
            Quality::Value(v) => v,
            Quality::High => 90,
            Quality::MediumHigh => 80,
            Quality::MediumLow => 65,
            Quality::Low => 50,
        }
    }
}

/// Requested output format (Cloudflare's `format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Best format the client accepts (see [`crate::negotiate`]).
    Auto,
    Avif,
    Webp,
    /// Progressive JPEG (baseline for very small or very large outputs, as Cloudflare does).
    Jpeg,
    BaselineJpeg,
    Png,
    /// GIF: for animations (a still image asks for PNG).
    Gif,
    /// No image: the image's metadata and planned output size as JSON.
    Json,
    /// A tiny blurred preview (its ThumbHash rendered, at most 32 px) to inline while the
    /// image loads.
    Placeholder,
}

impl Format {
    pub(crate) const ALL: [(Format, &'static str); 9] = [
        (Format::Auto, "auto"),
        (Format::Avif, "avif"),
        (Format::Webp, "webp"),
        (Format::Jpeg, "jpeg"),
        (Format::BaselineJpeg, "baseline-jpeg"),
        (Format::Png, "png"),
        (Format::Gif, "gif"),
        (Format::Json, "json"),
        (Format::Placeholder, "placeholder"),
    ];

    pub fn as_str(self) -> &'static str {
        name_of(&Self::ALL, self)
    }
}

/// Mirroring, applied before `rotate` (as Cloudflare documents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Flip {
    #[default]
    None,
    /// Mirror left-right.
    Horizontal,
    /// Mirror top-bottom.
    Vertical,
    Both,
}

impl Flip {
    pub(crate) const ALL: [(Flip, &'static str); 3] = [
        (Flip::Horizontal, "h"),
        (Flip::Vertical, "v"),
        (Flip::Both, "hv"),
    ];
}

/// Clockwise rotation in quarter turns, applied after EXIF orientation, trim and flip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Rotate {
    #[default]
    None,
    Cw90,
    Cw180,
    Cw270,
}

impl Rotate {
    pub fn degrees(self) -> u16 {
        match self {
            Rotate::None => 0,
            Rotate::Cw90 => 90,
            Rotate::Cw180 => 180,
            Rotate::Cw270 => 270,
        }
    }

    /// Whether width and height swap.
    pub fn swaps_axes(self) -> bool {
        matches!(self, Rotate::Cw90 | Rotate::Cw270)
    }
}

/// Which metadata survives into the output (JPEG output only; other formats always strip).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Metadata {
    /// Strip everything (the default).
    #[default]
    None,
    /// Keep only the EXIF copyright (and artist) tags.
    Copyright,
    /// Keep the EXIF block, with its orientation reset since it has been applied.
    Keep,
}

impl Metadata {
    pub(crate) const ALL: [(Metadata, &'static str); 3] = [
        (Metadata::None, "none"),
        (Metadata::Copyright, "copyright"),
        (Metadata::Keep, "keep"),
    ];

    pub fn as_str(self) -> &'static str {
        name_of(&Self::ALL, self)
    }
}

/// Pixels cut from the image before resizing and rotation, in source pixels (after EXIF
/// orientation). Either four edges (`trim=top;right;bottom;left`) or a rectangle
/// (`trim.left`, `trim.top`, `trim.width`, `trim.height`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trim {
    Edges {
        top: u32,
        right: u32,
        bottom: u32,
        left: u32,
    },
    Rect {
        left: u32,
        top: u32,
        width: Option<u32>,
        height: Option<u32>,
    },
    /// `trim=border`: a uniform border found in the pixels.
    Border(TrimBorder),
}

/// An sRGB colour with straight (not premultiplied) alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgba(pub [u8; 4]);

/// A complete, validated transform request. `Default` is "no transform".
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Target width in CSS pixels (multiplied by `dpr`), 1–[`MAX_DIMENSION`].
    pub width: Option<u32>,
    /// `width=auto`: the host fills `width` from the client's `Sec-CH-Width` / `Width` hint
    /// ([`Spec::with_client_hints`]); without a hint, no width is asked.
    pub width_auto: bool,
    /// Target height in CSS pixels (multiplied by `dpr`), 1–[`MAX_DIMENSION`].
    pub height: Option<u32>,
    /// Device pixel ratio, in `(0, 2]` as Cloudflare documents; `None` means 1.
    pub dpr: Option<f32>,
    /// `dpr=auto`: the host fills `dpr` from the `Sec-CH-DPR` / `DPR` hint.
    pub dpr_auto: bool,
    pub fit: Fit,
    pub gravity: Gravity,
    pub trim: Option<Trim>,
    pub flip: Flip,
    pub rotate: Rotate,
    pub background: Option<Rgba>,
    /// Gaussian blur radius, 1–250.
    pub blur: Option<u8>,
    /// Unsharp-mask strength, `(0, 10]`.
    pub sharpen: Option<f32>,
    /// Brightness, contrast, gamma and saturation.
    pub adjust: Adjust,
    /// A border around the finished image.
    pub border: Option<Border>,
    pub quality: Option<Quality>,
    pub format: Option<Format>,
    pub metadata: Metadata,
    pub compression: Compression,
    /// Keep animation (`true`, the default): an animated input gives an animated WebP or GIF;
    /// `false` gives its first frame.
    pub anim: bool,
    pub on_error: OnError,
    /// The cache-buster (`v=`): changes no pixel, only the variant's identity, so a page that
    /// names the original's version in its URLs gets new bytes when it changes, and such a
    /// response may be cached as immutable.
    pub version: Option<String>,
}

/// The largest `width` or `height` a spec accepts. Output size is further bounded by
/// [`crate::Limits::max_output_dimension`].
pub const MAX_DIMENSION: u32 = 65_535;

impl Default for Spec {
    fn default() -> Self {
        Spec {
            width: None,
            width_auto: false,
            height: None,
            dpr: None,
            dpr_auto: false,
            fit: Fit::ScaleDown,
            gravity: Gravity::Center,
            trim: None,
            flip: Flip::None,
            rotate: Rotate::None,
            background: None,
            blur: None,
            sharpen: None,
            adjust: Adjust::default(),
            border: None,
            quality: None,
            format: None,
            metadata: Metadata::None,
            compression: Compression::Default,
            anim: true,
            on_error: OnError::Status,
            version: None,
        }
    }
}

impl Spec {
    /// A spec that asks for nothing: the host serves the original.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when the spec asks for nothing at all (the canonical string is empty).
    pub fn is_identity(&self) -> bool {
        *self == Spec::new()
    }

    /// True when the spec changes no pixel: nothing is asked but, perhaps, a `v=` version.
    pub fn changes_nothing(&self) -> bool {
        Spec {
            version: None,
            ..self.clone()
        }
        .is_identity()
    }

    /// `width` × `dpr`, rounded, at least 1.
    pub fn device_width(&self) -> Option<u64> {
        self.width.map(|w| scale_by_dpr(w, self.dpr))
    }

    /// `height` × `dpr`, rounded, at least 1.
    pub fn device_height(&self) -> Option<u64> {
        self.height.map(|h| scale_by_dpr(h, self.dpr))
    }

    /// The canonical string in query form (`&` between options). Same content as `Display`.
    pub fn to_query(&self) -> String {
        self.to_string().replace(',', "&")
    }
}

fn scale_by_dpr(v: u32, dpr: Option<f32>) -> u64 {
    let d = f64::from(dpr.unwrap_or(1.0));
    ((f64::from(v) * d).round() as u64).max(1)
}

pub(crate) fn name_of<T: PartialEq + Copy>(table: &[(T, &'static str)], v: T) -> &'static str {
    table
        .iter()
        .find(|(t, _)| *t == v)
        .map(|(_, n)| *n)
        .unwrap_or("?")
}

impl fmt::Display for Spec {
    /// The canonical form: fixed order, defaults omitted, comma-separated, URL-safe.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(w) = self.width {
            parts.push(format!("width={w}"));
        } else if self.width_auto {
            parts.push("width=auto".to_owned());
        }
        if let Some(h) = self.height {
            parts.push(format!("height={h}"));
        }
        if let Some(d) = self.dpr {
            parts.push(format!("dpr={d}"));
        } else if self.dpr_auto {
            parts.push("dpr=auto".to_owned());
        }
        if self.fit != Fit::ScaleDown {
            parts.push(format!("fit={}", self.fit.as_str()));
        }
        match self.gravity {
            Gravity::Center => {}
            Gravity::Focal { x, y } => parts.push(format!("gravity={x}x{y}")),
            g => parts.push(format!("gravity={}", name_of(&Gravity::NAMED, g))),
        }
        match self.trim {
            None => {}
            Some(Trim::Edges {
                top,
                right,
                bottom,
                left,
            }) => parts.push(format!("trim={top};{right};{bottom};{left}")),
            Some(Trim::Rect {
                left,
                top,
                width,
                height,
            }) => {
                parts.push(format!("trim.left={left}"));
                parts.push(format!("trim.top={top}"));
                if let Some(w) = width {
                    parts.push(format!("trim.width={w}"));
                }
                if let Some(h) = height {
                    parts.push(format!("trim.height={h}"));
                }
            }
            Some(Trim::Border(b)) => b.write(&mut parts),
        }
        if self.flip != Flip::None {
            parts.push(format!("flip={}", name_of(&Flip::ALL, self.flip)));
        }
        if self.rotate != Rotate::None {
            parts.push(format!("rotate={}", self.rotate.degrees()));
        }
        if let Some(Rgba([r, g, b, a])) = self.background {
            if a == 255 {
                parts.push(format!("background=%23{r:02x}{g:02x}{b:02x}"));
            } else {
                parts.push(format!("background=%23{r:02x}{g:02x}{b:02x}{a:02x}"));
            }
        }
        if let Some(b) = self.blur {
            parts.push(format!("blur={b}"));
        }
        if let Some(s) = self.sharpen {
            parts.push(format!("sharpen={s}"));
        }
        self.adjust.write_parts(&mut parts);
        if let Some(b) = &self.border {
            b.write(&mut parts);
        }
        match self.quality {
            None => {}
            Some(Quality::Value(q)) => parts.push(format!("quality={q}")),
            Some(q) => parts.push(format!("quality={}", name_of(&Quality::NAMED, q))),
        }
        if let Some(fm) = self.format {
            parts.push(format!("format={}", fm.as_str()));
        }
        if self.metadata != Metadata::None {
            parts.push(format!("metadata={}", self.metadata.as_str()));
        }
        if self.compression == Compression::Fast {
            parts.push("compression=fast".to_owned());
        }
        if !self.anim {
            parts.push("anim=false".to_owned());
        }
        if self.on_error == OnError::Redirect {
            parts.push("onerror=redirect".to_owned());
        }
        if let Some(v) = &self.version {
            parts.push(format!("v={v}"));
        }
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_delivery;
