//! What hosts do with a resolved request besides the transform: `width=auto` / `dpr=auto`
//! filled from the client hints within the host's width rules, the `Vary` the answer carries,
//! and where `onerror=redirect` sends a failed transform.

use super::{Access, OriginalsAccess, CDN_CGI_PREFIX};
use crate::spec::{ClientHints, Format};
use crate::Spec;

impl Access {
    /// `spec` with `width=auto` and `dpr=auto` resolved from `hints` ([`Spec::with_client_hints`],
    /// rounded up to [`crate::spec::AUTO_WIDTHS`]), before the variant's identity is derived, so
    /// that the cache key and the ETag are the resolved variant's.
    ///
    /// An unsigned request under a width allow-list (`signing.allowed_widths`) gets the hint
    /// rounded up to the next allowed width instead (the largest when the hint is wider than
    /// all of them): its variants stay the allowed ones, however the URL was written.
    pub fn with_client_hints(&self, spec: &Spec, signed: bool, hints: ClientHints) -> Spec {
        let mut resolved = spec.with_client_hints(hints);
        if spec.width_auto && !signed && !self.allowed_widths.is_empty() {
            let mut allowed = self.allowed_widths.clone();
            allowed.sort_unstable();
            resolved.width = hints.width.map(|w| {
                allowed
                    .iter()
                    .copied()
                    .find(|a| *a >= w)
                    .unwrap_or(allowed[allowed.len() - 1])
            });
        }
        resolved
    }

    /// Where `onerror=redirect` sends a request for `key` whose transform failed: the
    /// original's own URL on this host, path-absolute (`/<key>`, each segment percent-encoded),
    /// never another host. `None` (the error stands) unless this host serves originals to
    /// anyone: with originals `off` the URL would be refused, and with `signed` an unsigned one
    /// would be too (and minting a signature here would hand out originals the deployment keeps
    /// behind signatures). Also `None` for a key the URL grammar cannot name as an original
    /// (one under `cdn-cgi/image/`), checked by resolving the URL back to the same key.
    pub fn original_location(&self, key: &str) -> Option<String> {
        if self.originals != OriginalsAccess::Public {
            return None;
        }
        let location = format!("/{}", encode_key(key));
        if location.starts_with(CDN_CGI_PREFIX) {
            return None;
        }
        match self.resolve(&location, None) {
            Ok(r) if r.spec.is_none() && r.key == key => Some(location),
            _ => None,
        }
    }
}

/// The `Vary` of a transform's answer: `Accept` when the format is negotiated, then each client
/// hint the spec reads ([`Spec::hint_vary`]), comma-separated; empty when it varies on nothing.
pub fn vary(spec: &Spec) -> String {
    let mut names = Vec::new();
    if spec.format == Some(Format::Auto) {
        names.push("Accept");
    }
    for name in spec.hint_vary() {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.join(", ")
}

/// A decoded key as a URL path (without its leading `/`): each segment's bytes outside the
/// unreserved set percent-encoded, the `/` between segments kept.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests;
