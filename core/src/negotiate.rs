//! `format=auto`: choose the output format from the request's `Accept` header.
//!
//! AVIF when the client lists `image/avif`, else WebP when it lists `image/webp`, else PNG for
//! images with real transparency and JPEG otherwise. Only explicit media types count:
//! `*/*` and `image/*` are sent by clients that cannot decode AVIF or WebP, so they do not.
//! A media type with `q=0` is refused by the client and is not chosen.

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
