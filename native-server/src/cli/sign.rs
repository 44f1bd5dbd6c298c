//! `refract sign <url> [--expires-in <seconds>]`: appends the `sig` parameter (and `expires`)
//! a URL needs when signing is configured. A URL without options signs the original itself.
//! The signature rules themselves live in `refract_core::url`, shared with the edge worker.

use refract_core::url::{signature_until, Access};

use crate::config::Config;

/// Signs `url` (absolute, or a path with its query) with the first configured key, valid
/// until `expires` (unix seconds) when given.
pub fn sign_url(config: &Config, url: &str, expires: Option<u64>) -> Result<String, SignError> {
    let bad = |m: &str| SignError(m.to_owned());
    let secret = config.signing.keys.first().ok_or_else(|| {
        bad("no signing key is configured (signing.keys / REFRACT_SIGNING__KEYS)")
    })?;
    // The path and query, without scheme and host.
    let path_and_query = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => url,
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let ours = |p: &str| {
        ["sig", "expires"]
            .iter()
            .any(|n| p == *n || p.starts_with(&format!("{n}=")))
    };
    if query.is_some_and(|q| q.split('&').any(ours)) {
        return Err(bad("the URL already carries a signature"));
    }
    // Resolve without secrets (so no signature is asked for) but with the same presets.
    let access = Access::new(&[], &[], &config.presets).map_err(|e| bad(&e.to_string()))?;
    let request = access
        .resolve(path, query)
        .map_err(|e| bad(&e.to_string()))?;
    // No options: the original itself (signing.originals = "signed").
    let spec = request.spec.unwrap_or_default();
    let sig = signature_until(secret.as_bytes(), &request.key, &spec, expires);
    let params = match expires {
        Some(t) => format!("expires={t}&sig={sig}"),
        None => format!("sig={sig}"),
    };
    let sep = if query.is_some_and(|q| !q.is_empty()) {
        "&"
    } else if url.ends_with('?') {
        ""
    } else {
        "?"
    };
    Ok(format!("{url}{sep}{params}"))
}

/// Why a URL cannot be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignError(pub String);

impl std::fmt::Display for SignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SignError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut c = Config::default();
        c.signing.keys = vec!["0123456789abcdef-secret".into()];
        c.presets.insert("thumb".into(), "width=200".into());
        c
    }

    #[test]
    fn signed_urls_verify_against_the_same_config() {
        let c = config();
        let access = Access::new(&c.signing.keys, &[], &c.presets).expect("access");
        for url in [
            "https://img.example.com/photos/cat.jpg?width=400&format=auto",
            "/photos/cat.jpg?w=400",
            "http://h/cdn-cgi/image/width=400,fit=cover/photos/cat.jpg",
            "/a%20b.jpg?preset=thumb&blur=3",
        ] {
            let signed = sign_url(&c, url, None).expect(url);
            let rest = signed.split_once("://").map_or(signed.as_str(), |(_, r)| r);
            let pq = &rest[rest.find('/').expect("path")..];
            let (path, query) = pq.split_once('?').expect("query");
            let r = access.resolve(path, Some(query)).expect(&signed);
            assert!(r.signed, "{signed}");
        }
    }

    #[test]
    fn refusals_are_clear() {
        assert!(
            sign_url(&Config::default(), "/a.jpg?w=1", None).is_err(),
            "no key"
        );
        let c = config();
        assert!(
            sign_url(&c, "/a.jpg?w=1&sig=00", None).is_err(),
            "already signed"
        );
        assert!(
            sign_url(&c, "/a.jpg?w=1&expires=5", None).is_err(),
            "already expiring"
        );
        assert!(sign_url(&c, "/a.jpg?w=abc", None).is_err(), "bad option");
    }

    #[test]
    fn originals_and_expiring_urls_are_signed_too() {
        let mut c = config();
        c.signing.originals = "signed".into();
        let access = c.signing.access(&c.presets).expect("access");
        let far = crate::runtime::clock::unix_secs() + 3600;
        for (url, expires) in [
            ("/photos/cat.jpg", None),
            ("/photos/cat.jpg?w=400", Some(far)),
        ] {
            let signed = sign_url(&c, url, expires).expect(url);
            let (path, query) = signed.split_once('?').expect("query");
            let r = access.resolve(path, Some(query)).expect(&signed);
            assert!(r.signed, "{signed}");
            assert_eq!(r.expires, expires);
        }
        let past = sign_url(&c, "/photos/cat.jpg?w=400", Some(1)).expect("signs");
        let (path, query) = past.split_once('?').expect("query");
        let e = access.resolve(path, Some(query)).expect_err("expired");
        assert_eq!(e.code(), "signature_expired");
    }
}
