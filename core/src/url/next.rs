//! Next.js's image optimizer grammar: `/_next/image?url=<src>&w=<width>&q=<quality>`, what
//! `next/image` requests with its default loader. Pointing `images.path` at Refract then needs
//! no code on the site:
//!
//! - `url` is the image's `src` as the page wrote it: a local path (`/photos/cat.jpg`), read
//!   as the browser would read that path (percent-decoded once). Absolute and protocol-relative
//!   URLs are refused (`bad_key`): Refract only serves its own originals, never a fetch.
//! - `w` is `width`; the format is negotiated (`format=auto`), as Next.js's optimizer does.
//! - `q` is `quality` on Refract's scale, except 75, Next.js's default, which asks for
//!   Refract's own default quality (so the default loader's URLs carry only a width and a
//!   format, which signed deployments serve unsigned under `signing.allowed_widths`).
//!
//! Any other parameter is an `unknown_option`: Next.js sends only these three.

use crate::spec::{split_query, Pair};
use crate::Error;

/// The path of Next.js's image optimizer.
pub const PATH: &str = "/_next/image";

/// Next.js's default quality, which stands for "no quality asked".
pub const DEFAULT_QUALITY: &str = "75";

/// The original's path (still percent-encoded, without its leading `/`) and the options of a
/// `/_next/image` query.
pub(super) fn parse(query: &str) -> Result<(String, Vec<Result<Pair, Error>>), Error> {
    let (mut url, mut width, mut quality) = (None, None, None);
    for part in split_query(query) {
        let (k, v) = part?;
        let slot = match k.as_str() {
            "url" => &mut url,
            "w" => &mut width,
            "q" => &mut quality,
            _ => return Err(Error::UnknownOption { key: k }),
        };
        if slot.is_some() {
            return Err(Error::DuplicateOption {
                key: match k.as_str() {
                    "url" => "url",
                    "w" => "width",
                    _ => "quality",
                },
            });
        }
        *slot = Some(v);
    }
    let url = url.ok_or(Error::BadKey {
        reason: "expected /_next/image?url=/<path>&w=<width>",
    })?;
    let local = url.strip_prefix('/').filter(|rest| {
        !rest.starts_with('/') && !rest.starts_with('\\') && !rest.contains(['?', '#'])
    });
    let Some(path) = local else {
        return Err(Error::BadKey {
            reason: "url must be a local path (/...) without a query: only local images",
        });
    };
    let width = width.ok_or_else(|| Error::invalid("width", "", "expected w=<width>"))?;
    let mut pairs = vec![
        Ok(("width".to_owned(), width)),
        Ok(("format".to_owned(), "auto".to_owned())),
    ];
    if let Some(q) = quality.filter(|q| q != DEFAULT_QUALITY) {
        pairs.push(Ok(("quality".to_owned(), q)));
    }
    Ok((path.to_owned(), pairs))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::url::Access;

    fn resolve(access: &Access, query: &str) -> Result<crate::url::Request, crate::Error> {
        access.resolve(super::PATH, Some(query))
    }

    #[test]
    fn the_default_loader_url_is_the_same_request_as_refracts_own() {
        let open = Access::default();
        let next = resolve(&open, "url=%2Fphotos%2Fcat.jpg&w=640&q=75").expect("next");
        let own = open
            .resolve("/photos/cat.jpg", Some("width=640&format=auto"))
            .expect("own");
        assert_eq!(next, own);
        // Another quality is Refract's quality; src is read as the browser reads the path.
        let q = resolve(&open, "url=/photos/my%2520cat.jpg&w=1080&q=50").expect("q");
        assert_eq!(q.key, "photos/my cat.jpg");
        let spec = q.spec.expect("a transform");
        assert_eq!(spec.to_string(), "width=1080,quality=50,format=auto");
    }

    #[test]
    fn only_local_paths_and_next_parameters() {
        let open = Access::default();
        for bad in [
            "url=https%3A%2F%2Fevil.example%2Fa.jpg&w=640",
            "url=%2F%2Fevil.example%2Fa.jpg&w=640",
            "url=a.jpg&w=640",
            "url=%2Fa.jpg%3Fv%3D1&w=640",
            "w=640",
            "url=%2F..%2Fetc%2Fpasswd&w=640",
        ] {
            let e = resolve(&open, bad).expect_err(bad);
            assert_eq!(e.code(), "bad_key", "{bad}: {e}");
        }
        let e = resolve(&open, "url=%2Fa.jpg&w=640&fit=cover").expect_err("unknown");
        assert_eq!((e.code(), e.key()), ("unknown_option", Some("fit")));
        let e = resolve(&open, "url=%2Fa.jpg&w=640&w=320").expect_err("twice");
        assert_eq!(e.code(), "duplicate_option");
        let e = resolve(&open, "url=%2Fa.jpg").expect_err("no width");
        assert_eq!(e.code(), "invalid_value");
        let e = resolve(&open, "url=%2Fa.jpg&w=abc").expect_err("bad width");
        assert_eq!((e.code(), e.key()), ("invalid_value", Some("width")));
    }

    #[test]
    fn signed_deployments_serve_the_default_loader_within_the_allowed_widths() {
        let signed =
            Access::new(&["secret".into()], &[640, 1080], &BTreeMap::new()).expect("valid access");
        assert!(resolve(&signed, "url=%2Fa.jpg&w=640&q=75").is_ok());
        let e = resolve(&signed, "url=%2Fa.jpg&w=700&q=75").expect_err("width");
        assert_eq!(e.code(), "signature_required");
        let e = resolve(&signed, "url=%2Fa.jpg&w=640&q=90").expect_err("quality");
        assert_eq!(e.code(), "signature_required");
    }
}
