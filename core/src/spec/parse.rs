//! Parsing both URL grammars into a [`Spec`].
//!
//! - query form: `width=800&quality=75&format=auto` (values percent-decoded, `+` is a space);
//! - option form (Cloudflare's `/cdn-cgi/image/<options>/…`): `width=800,quality=75`; commas
//!   inside parentheses (`background=rgb(1,2,3)`) do not split, values are percent-decoded.
//!
//! Keys come from an allow-list with Cloudflare's names and aliases. Unknown keys, duplicates
//! (an alias and its long name count as the same key) and bad values are errors naming the key.
//!
//! Why this file is over 400 lines: it is one grammar, the allow-list of keys and the value
//! parser of each, which read best as one table.

use super::{
    Border, Compression, Fit, Flip, Format, Gravity, Metadata, OnError, Quality, Rgba, Rotate,
    Spec, Trim, TrimBorder, MAX_DIMENSION,
};
use crate::Error;

/// Canonical option names, with the aliases accepted for them.
const KEYS: &[(&str, &[&str])] = &[
    ("width", &["w"]),
    ("height", &["h"]),
    ("dpr", &[]),
    ("fit", &[]),
    ("gravity", &["g"]),
    ("trim", &[]),
    ("trim.left", &[]),
    ("trim.top", &[]),
    ("trim.width", &[]),
    ("trim.height", &[]),
    ("trim.border.tolerance", &[]),
    ("trim.border.keep", &[]),
    ("flip", &[]),
    ("rotate", &[]),
    ("background", &[]),
    ("blur", &[]),
    ("sharpen", &[]),
    ("brightness", &[]),
    ("contrast", &[]),
    ("gamma", &[]),
    ("saturation", &[]),
    ("border", &[]),
    ("quality", &["q"]),
    ("format", &["f"]),
    ("metadata", &[]),
    ("compression", &[]),
    ("anim", &[]),
    ("onerror", &[]),
    ("v", &["version"]),
];

/// Every option name and alias the parser accepts, for documentation and tests.
pub fn option_names() -> impl Iterator<Item = &'static str> {
    KEYS.iter()
        .flat_map(|(k, aliases)| std::iter::once(*k).chain(aliases.iter().copied()))
}

fn canonical_key(key: &str) -> Option<&'static str> {
    KEYS.iter()
        .find(|(k, aliases)| *k == key || aliases.contains(&key))
        .map(|(k, _)| *k)
}

impl Spec {
    /// Parses either grammar: query form when the string contains `&`, option form otherwise.
    /// A leading `?` is ignored. The empty string is the identity spec.
    pub fn parse(s: &str) -> Result<Spec, Error> {
        let s = s.strip_prefix('?').unwrap_or(s);
        if s.contains('&') {
            Spec::parse_query(s)
        } else {
            Spec::parse_options(s)
        }
    }

    /// Parses the query-string form: `width=800&quality=75`.
    pub fn parse_query(s: &str) -> Result<Spec, Error> {
        Spec::from_parts(split_query(s))
    }

    /// Parses Cloudflare's option form: `width=800,quality=75,format=auto`.
    pub fn parse_options(s: &str) -> Result<Spec, Error> {
        Spec::from_parts(split_options(s))
    }

    /// Builds a spec from already split and decoded `(key, value)` pairs, in order.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Spec, Error> {
        Spec::from_parts(pairs.iter().cloned().map(Ok))
    }

    /// Builds a spec from split parts, in order: the first error, whether a malformed part or
    /// a bad value, is the one reported.
    pub fn from_parts(parts: impl IntoIterator<Item = Result<Pair, Error>>) -> Result<Spec, Error> {
        let mut b = Builder::default();
        for part in parts {
            let (k, v) = part?;
            b.set(&k, &v)?;
        }
        b.finish()
    }
}

/// One decoded `key=value` option.
pub type Pair = (String, String);

/// Splits the query form into decoded `(key, value)` parts (`+` is a space), each one a
/// result of its own so that errors keep their position.
pub fn split_query(s: &str) -> Vec<Result<Pair, Error>> {
    s.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = split_pair(part)?;
            Ok((percent_decode(k, true)?, percent_decode(v, true)?))
        })
        .collect()
}

/// Splits the option form into decoded `(key, value)` parts (commas inside parentheses stay).
pub fn split_options(s: &str) -> Vec<Result<Pair, Error>> {
    split_top_level_commas(s)
        .into_iter()
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = split_pair(part)?;
            Ok((percent_decode(k, false)?, percent_decode(v, false)?))
        })
        .collect()
}

/// The canonical name of an option or alias (`w` → `width`), if it is one.
pub fn canonical_name(key: &str) -> Option<&'static str> {
    canonical_key(key)
}

fn split_pair(part: &str) -> Result<(&str, &str), Error> {
    part.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| Error::MalformedSpec {
            part: part.chars().take(64).collect(),
        })
}

/// Splits on commas that are not inside parentheses.
fn split_top_level_commas(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Decodes `%XX` escapes once (and `+` as a space when asked); invalid escapes and invalid
/// UTF-8 are errors.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, Error> {
    if !s.contains(['%', '+']) {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                // Exactly two hex digits: `from_str_radix` alone would also accept `%+1`.
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| {
                        let h = std::str::from_utf8(h).ok()?;
                        u8::from_str_radix(h, 16).ok()
                    });
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        return Err(Error::MalformedSpec {
                            part: s.chars().take(64).collect(),
                        })
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| Error::MalformedSpec {
        part: s.chars().take(64).collect(),
    })
}

#[derive(Default)]
struct Builder {
    spec: Spec,
    seen: Vec<&'static str>,
    trim_rect: [Option<u32>; 4],
    trim_border: TrimBorder,
}

impl Builder {
    fn set(&mut self, key: &str, value: &str) -> Result<(), Error> {
        let Some(k) = canonical_key(key) else {
            return Err(Error::UnknownOption {
                key: key.to_owned(),
            });
        };
        if self.seen.contains(&k) {
            return Err(Error::DuplicateOption { key: k });
        }
        self.seen.push(k);
        let s = &mut self.spec;
        match k {
            "width" if value == "auto" => s.width_auto = true,
            "width" => s.width = Some(parse_dimension(k, value)?),
            "height" => s.height = Some(parse_dimension(k, value)?),
            "dpr" if value == "auto" => s.dpr_auto = true,
            "dpr" => {
                let d = parse_float(k, value, 0.0, 2.0, "a number greater than 0 and at most 2")?;
                if d <= 0.0 {
                    return Err(Error::invalid(k, value, "must be greater than 0"));
                }
                s.dpr = (d != 1.0).then_some(d);
            }
            "fit" => s.fit = parse_named(k, value, &Fit::ALL)?,
            "gravity" => s.gravity = parse_gravity(value)?,
            "trim" if value == "border" => s.trim = Some(Trim::Border(TrimBorder::default())),
            "trim" => s.trim = parse_trim_edges(value)?,
            "trim.border.tolerance" => {
                self.trim_border.tolerance = parse_u32(k, value, 0, 255)? as u8;
            }
            "trim.border.keep" => self.trim_border.keep = parse_u32(k, value, 0, MAX_DIMENSION)?,
            "trim.left" => self.trim_rect[0] = Some(parse_u32(k, value, 0, MAX_DIMENSION)?),
            "trim.top" => self.trim_rect[1] = Some(parse_u32(k, value, 0, MAX_DIMENSION)?),
            "trim.width" => self.trim_rect[2] = Some(parse_u32(k, value, 1, MAX_DIMENSION)?),
            "trim.height" => self.trim_rect[3] = Some(parse_u32(k, value, 1, MAX_DIMENSION)?),
            "flip" => s.flip = parse_named(k, value, &Flip::ALL)?,
            "rotate" => {
                s.rotate = match value {
                    "0" => Rotate::None,
                    "90" => Rotate::Cw90,
                    "180" => Rotate::Cw180,
                    "270" => Rotate::Cw270,
                    _ => return Err(Error::invalid(k, value, "expected 0, 90, 180 or 270")),
                }
            }
            "background" => s.background = Some(parse_color(value)?),
            "blur" => {
                let b = parse_u32(k, value, 0, 250)?;
                s.blur = u8::try_from(b).ok().filter(|b| *b > 0);
            }
            "sharpen" => {
                let v = parse_float(k, value, 0.0, 10.0, "a number from 0 to 10")?;
                s.sharpen = (v > 0.0).then_some(v);
            }
            "brightness" | "contrast" | "gamma" | "saturation" => {
                s.adjust.set(k, value)?;
            }
            "border" => s.border = Border::parse(value)?,
            "quality" => s.quality = Some(parse_quality(value)?),
            "format" => s.format = Some(parse_named(k, value, &Format::ALL)?),
            "metadata" => s.metadata = parse_named(k, value, &Metadata::ALL)?,
            "compression" => {
                s.compression = parse_named(k, value, &[(Compression::Fast, "fast")])?;
            }
            "onerror" => s.on_error = parse_named(k, value, &[(OnError::Redirect, "redirect")])?,
            "anim" => {
                s.anim = match value {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(Error::invalid(k, value, "expected true or false")),
                }
            }
            "v" => s.version = Some(parse_version(value)?),
            _ => unreachable!("every key in KEYS is handled"),
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Spec, Error> {
        if self.seen.iter().any(|k| k.starts_with("trim.border.")) {
            let Some(Trim::Border(b)) = &mut self.spec.trim else {
                return Err(Error::invalid(
                    "trim",
                    "trim.border.*",
                    "trim.border.tolerance and trim.border.keep need trim=border",
                ));
            };
            *b = self.trim_border;
        }
        if self.spec.width_auto && (self.spec.dpr.is_some() || self.spec.dpr_auto) {
            return Err(Error::invalid(
                "dpr",
                "with width=auto",
                "width=auto already counts device pixels; drop dpr",
            ));
        }
        let [left, top, width, height] = self.trim_rect;
        if left.is_some() || top.is_some() || width.is_some() || height.is_some() {
            if self.seen.contains(&"trim") {
                return Err(Error::invalid(
                    "trim",
                    "trim and trim.*",
                    "use either trim=top;right;bottom;left or trim.left/top/width/height",
                ));
            }
            let rect = Trim::Rect {
                left: left.unwrap_or(0),
                top: top.unwrap_or(0),
                width,
                height,
            };
            let empty = Trim::Rect {
                left: 0,
                top: 0,
                width: None,
                height: None,
            };
            self.spec.trim = (rect != empty).then_some(rect);
        }
        Ok(self.spec)
    }
}

/// The longest `v=` cache-buster accepted.
pub const MAX_VERSION_BYTES: usize = 64;

/// `v=`: 1–64 characters that need no escaping in a URL (letters, digits, `-._~`).
fn parse_version(value: &str) -> Result<String, Error> {
    let ok = (1..=MAX_VERSION_BYTES).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !ok {
        return Err(Error::invalid(
            "v",
            value,
            "expected 1 to 64 letters, digits, '-', '.', '_' or '~'",
        ));
    }
    Ok(value.to_owned())
}

pub(super) fn parse_u32(key: &'static str, value: &str, min: u32, max: u32) -> Result<u32, Error> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(key, value, "expected a whole number"));
    }
    match value.parse::<u32>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(Error::invalid(
            key,
            value,
            format!("must be between {min} and {max}"),
        )),
    }
}

fn parse_dimension(key: &'static str, value: &str) -> Result<u32, Error> {
    if value == "auto" {
        return Err(Error::invalid(
            key,
            value,
            "only width takes auto (from client hints); give height in pixels",
        ));
    }
    parse_u32(key, value, 1, MAX_DIMENSION)
}

pub(super) fn parse_float(
    key: &'static str,
    value: &str,
    min: f32,
    max: f32,
    what: &str,
) -> Result<f32, Error> {
    let ok = !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && value.bytes().filter(|b| *b == b'.').count() <= 1;
    match value.parse::<f32>() {
        Ok(v) if ok && v.is_finite() && (min..=max).contains(&v) => Ok(v),
        _ => Err(Error::invalid(key, value, format!("expected {what}"))),
    }
}

fn parse_named<T: Copy>(
    key: &'static str,
    value: &str,
    table: &[(T, &'static str)],
) -> Result<T, Error> {
    table
        .iter()
        .find(|(_, name)| *name == value)
        .map(|(t, _)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(_, n)| *n).collect();
            Error::invalid(key, value, format!("expected one of {}", names.join(", ")))
        })
}

fn parse_gravity(value: &str) -> Result<Gravity, Error> {
    const K: &str = "gravity";
    if let Ok(g) = parse_named(K, value, &Gravity::NAMED) {
        return Ok(g);
    }
    if value == "face" {
        return Err(Error::invalid(
            K,
            value,
            "face detection is not supported; use auto",
        ));
    }
    let what =
        "expected auto, center, left, right, top, bottom or a point XxY with X and Y from 0 to 1";
    let (x, y) = value
        .split_once('x')
        .ok_or_else(|| Error::invalid(K, value, what))?;
    let x = parse_float(K, x, 0.0, 1.0, "X from 0 to 1 in XxY")?;
    let y = parse_float(K, y, 0.0, 1.0, "Y from 0 to 1 in XxY")?;
    if x == 0.5 && y == 0.5 {
        return Ok(Gravity::Center);
    }
    Ok(Gravity::Focal { x, y })
}

fn parse_trim_edges(value: &str) -> Result<Option<Trim>, Error> {
    const K: &str = "trim";
    let parts: Vec<&str> = value.split(';').collect();
    if parts.len() != 4 {
        return Err(Error::invalid(
            K,
            value,
            "expected top;right;bottom;left in pixels",
        ));
    }
    let mut v = [0u32; 4];
    for (slot, p) in v.iter_mut().zip(&parts) {
        *slot = parse_u32(K, p, 0, MAX_DIMENSION)?;
    }
    let [top, right, bottom, left] = v;
    Ok((v != [0; 4]).then_some(Trim::Edges {
        top,
        right,
        bottom,
        left,
    }))
}

fn parse_quality(value: &str) -> Result<Quality, Error> {
    const K: &str = "quality";
    if let Ok(q) = parse_named(K, value, &Quality::NAMED) {
        return Ok(q);
    }
    let v = parse_u32(K, value, 1, 100).map_err(|_| {
        Error::invalid(
            K,
            value,
            "expected 1 to 100, high, medium-high, medium-low or low",
        )
    })?;
    Ok(Quality::Value(v as u8))
}

fn parse_color(value: &str) -> Result<Rgba, Error> {
    parse_color_for("background", value)
}

/// A CSS colour as the value of option `key`.
pub(super) fn parse_color_for(key: &'static str, value: &str) -> Result<Rgba, Error> {
    if value.len() > 64 {
        return Err(Error::invalid(key, value, "colour is too long"));
    }
    csscolorparser::parse(value)
        .map(|c| Rgba(c.to_rgba8()))
        .map_err(|e| Error::invalid(key, value, format!("not a CSS colour ({e})")))
}
