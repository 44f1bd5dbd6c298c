//! `refract sign <url>`: appends the `sig` parameter a URL needs when signing is configured.
//! The signature rules themselves live in `refract_core::url`, shared with the edge worker.

use refract_core::url::{signature, Access};

use crate::config::Config;

/// Signs `url` (absolute, or a path with its query) with the first configured key.
pub fn sign_url(config: &Config, url: &str) -> Result<String, SignError> {
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
    if query.is_some_and(|q| q.split('&').any(|p| p == "sig" || p.starts_with("sig="))) {
        return Err(bad("the URL already carries a signature"));
    }
    // Resolve without secrets (so no signature is asked for) but with the same presets.
    let access = Access::new(&[], &[], &config.presets).map_err(|e| bad(&e.to_string()))?;
    let request = access
        .resolve(path, query)
        .map_err(|e| bad(&e.to_string()))?;
    let spec = request
        .spec
        .ok_or_else(|| bad("the URL has no options: originals are served without a signature"))?;
    let sig = signature(secret.as_bytes(), &request.key, &spec);
    let sep = if query.is_some_and(|q| !q.is_empty()) {
        "&"
    } else if url.ends_with('?') {
        ""
    } else {
        "?"
    };
    Ok(format!("{url}{sep}sig={sig}"))
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
            let signed = sign_url(&c, url).expect(url);
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
            sign_url(&Config::default(), "/a.jpg?w=1").is_err(),
            "no key"
        );
        let c = config();
        assert!(sign_url(&c, "/a.jpg").is_err(), "original");
        assert!(sign_url(&c, "/a.jpg?w=1&sig=00").is_err(), "already signed");
        assert!(sign_url(&c, "/a.jpg?w=abc").is_err(), "bad option");
    }
}
