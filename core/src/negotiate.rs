//! `format=auto`: choose the output format from the request's `Accept` header.
//!
//! AVIF when the client lists `image/avif`, else WebP when it lists `image/webp`, else PNG for
//! images with real transparency and JPEG otherwise. Only explicit media types count:
//! `*/*` and `image/*` are sent by clients that cannot decode AVIF or WebP, so they do not.
//! A media type with `q=0` is refused by the client and is not chosen.

use crate::OutputFormat;

/// What `format=auto` picks for an `Accept` header before looking at the image. Hosts put it in
/// their cache keys: two requests with the same preference get the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preference {
    Avif,
    Webp,
    /// Neither: JPEG, or PNG for an image with transparency.
    Fallback,
}

impl Preference {
    /// A short stable name, for cache keys and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Preference::Avif => "avif",
            Preference::Webp => "webp",
            Preference::Fallback => "fallback",
        }
    }
}

/// The preference for `accept`, among the formats this build can encode.
pub fn preference(accept: &str) -> Preference {
    if OutputFormat::Avif.available() && accepts(accept, OutputFormat::Avif.content_type()) {
        Preference::Avif
    } else if (OutputFormat::Webp { lossless: false }).available() && accepts(accept, "image/webp")
    {
        Preference::Webp
    } else {
        Preference::Fallback
    }
}

/// Whether `accept` explicitly lists `mime` with a non-zero quality.
pub fn accepts(accept: &str, mime: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let ty = parts.next().unwrap_or("").trim();
        if !ty.eq_ignore_ascii_case(mime) {
            return false;
        }
        parts.all(|p| {
            let p = p.trim();
            match p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")) {
                Some(q) => q.trim().parse::<f32>().map(|q| q > 0.0).unwrap_or(false),
                None => true,
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_parsing() {
        let chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
        assert!(accepts(chrome, "image/avif"));
        assert!(accepts(chrome, "image/webp"));
        assert!(!accepts("image/*,*/*", "image/webp"));
        assert!(!accepts("image/webp;q=0, image/avif", "image/webp"));
        assert!(accepts("image/webp;q=0.5", "image/webp"));
        assert!(accepts(" IMAGE/WEBP ", "image/webp"));
        assert!(!accepts("", "image/avif"));
        assert!(!accepts("image/webp;q=x", "image/webp"));
    }
}
