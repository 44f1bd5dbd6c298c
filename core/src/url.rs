//! From a request URL to what to serve: the object key, the [`Spec`], and whether the request is
//! allowed. Both hosts (origin server and edge worker) call [`Access::resolve`], so the two URL
//! grammars, presets and signatures behave identically everywhere.
//!
//! - `/<key>?<options>`: every query parameter is an option, except `sig`.
//! - `/cdn-cgi/image/<options>/<key>`: options in Cloudflare's comma form; in the query only
//!   `sig` is read, anything else there is ignored (on Cloudflare it belongs to the origin URL).
//! - `/_next/image?url=/<key>&w=<width>&q=<quality>`: Next.js's image optimizer grammar
//!   ([`next`]), so a Next.js site can point `images.path` at Refract unchanged.
//!
//! The key is percent-decoded exactly once. Empty segments, `.` and `..` segments, backslashes
//! and control characters are refused, so a key can never climb out of the originals' prefix.
//!
//! `preset=<name>` expands to the options configured for that name; the request may add other
//! options but not repeat one the preset sets (that is a `duplicate_option` error).
//!
//! Signatures: `sig` is the lowercase hex HMAC-SHA256, under one of the configured secrets, of
//! [`string_to_sign`]: the canonical spec, a `/`, and the decoded key, e.g.
//! `format=auto,width=400/photos/cat.jpg`. It signs what will be produced, not how the URL spells
//! it, so both grammars and any option order share one signature. With secrets configured, an
//! unsigned request is served only when it uses nothing but `preset`, `format` and a `width` from
//! the allow-list (or `width=auto`, whose hint is rounded up to the allow-list); anything else
//! is `signature_required` (403) and a wrong `sig` is
//! `bad_signature` (403). Several secrets may be configured at once to rotate them.
//!
//! Expiry: `expires=<unix seconds>` beside `sig` (in the query, in both grammars) is covered by
//! the signature (`<spec>/<key>?expires=<t>`); past that second the URL is `signature_expired`
//! (403). Hosts give [`Access`] their clock ([`Access::with_clock`]); without one, an expiring URL
//! is refused, since its expiry cannot be checked.
//!
//! Originals (a URL with no options): [`OriginalsAccess`] says whether they are served to
//! anyone (`public`), only with a signature of the empty spec (`signed`, the string to sign is
//! `/<key>`), or not at all (`off`, `originals_disabled`, 403).

use std::collections::BTreeMap;

use hmac::Mac;

use crate::spec::{canonical_name, split_options, split_query, Pair};
use crate::{Error, Spec};

mod auto;
pub mod next;
mod originals;
mod sign;
mod tags;
pub use auto::{encode_key, vary};
pub use originals::OriginalsAccess;
use sign::{decode_hex, new_mac};
pub use sign::{signature, signature_until, string_to_sign, string_to_sign_until};
pub use tags::{cache_tags, MAX_TAGGED_DIRS};

/// The path prefix of Cloudflare's URL grammar.
pub const CDN_CGI_PREFIX: &str = "/cdn-cgi/image/";
/// Longest accepted object key, in bytes (S3's limit).
pub const MAX_KEY_BYTES: usize = 1024;
/// The longest path segment of a key, in bytes (a file name's limit on common file systems).
pub const MAX_SEGMENT_BYTES: usize = 255;

/// A resolved request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The object key of the original, decoded.
    pub key: String,
    /// The transform; `None` serves the original untouched.
    pub spec: Option<Spec>,
    /// Whether the request carried a valid signature.
    pub signed: bool,
    /// The signed expiry (unix seconds), when the URL has one: caches must not keep the answer
    /// past it.
    pub expires: Option<u64>,
    /// The URL's `v=` cache-buster, when it has one (in the query in both grammars, or among
    /// the `/cdn-cgi/image/` options). For a transform it is also in the spec (so in the
    /// variant's identity and the signed string); a URL that names a version may be cached as
    /// immutable.
    pub version: Option<String>,
}

/// Who may ask for what: signing secrets, presets and the widths allowed without a signature.
#[derive(Clone, Default)]
pub struct Access {
    secrets: Vec<Vec<u8>>,
    allowed_widths: Vec<u32>,
    presets: BTreeMap<String, Vec<Pair>>,
    originals: OriginalsAccess,
    /// Unix seconds now, for `expires`.
    clock: Option<fn() -> u64>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("allowed_widths", &self.allowed_widths)
            .field("presets", &self.presets.keys().collect::<Vec<_>>())
            .field("originals", &self.originals)
            .finish()
    }
}

impl Access {
    /// Checks every preset (option form, e.g. `width=200,height=200,fit=cover`) now, so a bad
    /// preset fails at start-up rather than on the first request that names it.
    pub fn new(
        secrets: &[String],
        allowed_widths: &[u32],
        presets: &BTreeMap<String, String>,
    ) -> Result<Access, Error> {
        let mut parsed = BTreeMap::new();
        for (name, options) in presets {
            let pairs = split_options(options)
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?;
            if pairs.iter().any(|(k, _)| k == "preset" || k == "sig") {
                return Err(Error::invalid(
                    "preset",
                    name,
                    "a preset cannot name another preset or carry a signature",
                ));
            }
            Spec::from_pairs(&pairs)?;
            parsed.insert(name.clone(), pairs);
        }
        Ok(Access {
            secrets: secrets.iter().map(|s| s.as_bytes().to_vec()).collect(),
            allowed_widths: allowed_widths.to_vec(),
            presets: parsed,
            originals: OriginalsAccess::Public,
            clock: None,
        })
    }

    /// Who may fetch originals untouched (default: public).
    pub fn with_originals(mut self, originals: OriginalsAccess) -> Access {
        self.originals = originals;
        self
    }

    /// The host's clock, in unix seconds, for `expires`.
    pub fn with_clock(mut self, now: fn() -> u64) -> Access {
        self.clock = Some(now);
        self
    }

    /// Whether unsigned transform URLs are restricted.
    pub fn requires_signature(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// Resolves a request path (still percent-encoded, with its leading `/`) and query.
    pub fn resolve(&self, path: &str, query: Option<&str>) -> Result<Request, Error> {
        let query = query.unwrap_or("");
        let next_url;
        let (raw_key, mut pairs, sig, expires) = match path.strip_prefix(CDN_CGI_PREFIX) {
            _ if path == next::PATH => {
                let (url, pairs) = next::parse(query)?;
                next_url = url;
                (next_url.as_str(), pairs, None, None)
            }
            Some(rest) => {
                let (options, key) = rest.split_once('/').ok_or(Error::BadKey {
                    reason: "expected /cdn-cgi/image/<options>/<key>",
                })?;
                let mut query = split_query(query);
                let sig = take(&mut query, "sig")?;
                let expires = take(&mut query, "expires")?;
                // On Cloudflare the query belongs to the origin URL, so a cache-buster written
                // there busts the cache: it joins the options.
                let mut options = split_options(options);
                if let Some(v) = take(&mut query, "v")? {
                    options.push(Ok(("v".to_owned(), v)));
                }
                (key, options, sig, expires)
            }
            None => {
                let mut pairs = split_query(query);
                let sig = take(&mut pairs, "sig")?;
                let expires = take(&mut pairs, "expires")?;
                (path.strip_prefix('/').unwrap_or(path), pairs, sig, expires)
            }
        };
        for name in ["sig", "expires"] {
            if pairs.iter().flatten().any(|(k, _)| k == name) {
                return Err(Error::DuplicateOption { key: name });
            }
        }
        let expires = expires
            .map(|t| {
                t.parse::<u64>()
                    .map_err(|_| Error::invalid("expires", &t, "expected unix seconds"))
            })
            .transpose()?;
        let key = decode_key(raw_key)?;
        if pairs.is_empty() {
            return self.resolve_original(key, sig, expires, &Spec::default());
        }

        let preset = take(&mut pairs, "preset")?;
        let unsigned_ok = self.unsigned_allowed(&pairs);
        let preset_pairs = match &preset {
            Some(name) => self
                .presets
                .get(name)
                .cloned()
                .ok_or_else(|| Error::UnknownPreset { name: name.clone() })?,
            None => Vec::new(),
        };
        let spec = Spec::from_parts(preset_pairs.into_iter().map(Ok).chain(pairs))?;
        let version = spec.version.clone();
        if spec.changes_nothing() {
            // `?v=…` alone: the original untouched, under a URL that names its version.
            let mut original = self.resolve_original(key, sig, expires, &spec)?;
            original.version = version;
            return Ok(original);
        }

        let signed = match sig {
            Some(sig) if self.requires_signature() => {
                self.verify(&key, &spec, &sig, expires)?;
                true
            }
            // Without secrets a signature (and its expiry) means nothing; it is ignored.
            _ => {
                unsigned_ok?;
                false
            }
        };
        Ok(Request {
            key,
            spec: Some(spec),
            signed,
            expires: expires.filter(|_| signed),
            version,
        })
    }

    /// A request for the original untouched (`spec` asks for nothing but perhaps a version,
    /// which the signature then covers).
    fn resolve_original(
        &self,
        key: String,
        sig: Option<String>,
        expires: Option<u64>,
        spec: &Spec,
    ) -> Result<Request, Error> {
        let signed = match self.originals {
            OriginalsAccess::Off => return Err(Error::OriginalsOff),
            OriginalsAccess::Public => false,
            OriginalsAccess::Signed => {
                let sig = sig.ok_or(Error::SignatureRequired)?;
                self.verify(&key, spec, &sig, expires)?;
                true
            }
        };
        Ok(Request {
            key,
            spec: None,
            signed,
            expires: expires.filter(|_| signed),
            version: None,
        })
    }

    /// The `sig` value for `key` and `spec` under the first (current) secret.
    pub fn sign(&self, key: &str, spec: &Spec) -> Option<String> {
        self.secrets.first().map(|s| signature(s, key, spec))
    }

    /// Checks `sig` (and then the expiry it covers); refuses when no secret is configured.
    fn verify(&self, key: &str, spec: &Spec, sig: &str, expires: Option<u64>) -> Result<(), Error> {
        let given = decode_hex(sig).ok_or(Error::BadSignature)?;
        let message = string_to_sign_until(key, spec, expires);
        let valid = self.secrets.iter().any(|secret| {
            let mut mac = new_mac(secret);
            mac.update(message.as_bytes());
            mac.verify_slice(&given).is_ok()
        });
        if !valid {
            return Err(Error::BadSignature);
        }
        match (expires, self.clock) {
            (None, _) => Ok(()),
            (Some(t), Some(now)) if now() <= t => Ok(()),
            (Some(t), _) => Err(Error::SignatureExpired { expires: t }),
        }
    }

    /// Checks the request's own options (not the preset's) against the unsigned policy.
    fn unsigned_allowed(&self, pairs: &[Result<Pair, Error>]) -> Result<(), Error> {
        for (k, v) in pairs.iter().flatten() {
            match canonical_name(k) {
                Some("format") => {}
                Some("width") => {
                    let width = v.parse::<u32>().ok();
                    // `auto` is rounded to the allow-list (`Access::with_client_hints`).
                    let allowed = width.is_some_and(|w| self.allowed_widths.contains(&w))
                        || (v == "auto" && !self.allowed_widths.is_empty());
                    if allowed || (self.allowed_widths.is_empty() && !self.requires_signature()) {
                        continue;
                    }
                    return Err(match width {
                        _ if self.requires_signature() => Error::SignatureRequired,
                        Some(width) => Error::WidthNotAllowed { width },
                        None => Error::invalid("width", v, "expected one of the allowed widths"),
                    });
                }
                _ if self.requires_signature() => return Err(Error::SignatureRequired),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Removes the single pair named `name`; given twice is an error. Malformed parts stay, to be
/// reported in order by the spec parser.
fn take(pairs: &mut Vec<Result<Pair, Error>>, name: &'static str) -> Result<Option<String>, Error> {
    let mut found = None;
    let mut err = None;
    pairs.retain(|part| {
        let Ok((k, v)) = part else {
            return true;
        };
        if k != name {
            return true;
        }
        if found.replace(v.clone()).is_some() {
            err = Some(Error::DuplicateOption { key: name });
        }
        false
    });
    match err {
        Some(e) => Err(e),
        None => Ok(found),
    }
}

/// Decodes and checks an object key (see the module documentation).
pub fn decode_key(raw: &str) -> Result<String, Error> {
    let bad = |reason| Error::BadKey { reason };
    if raw.is_empty() {
        return Err(bad("the key is empty"));
    }
    let key = crate::spec::percent_decode(raw, false)
        .map_err(|_| bad("invalid percent-encoding or UTF-8"))?;
    if key.len() > MAX_KEY_BYTES {
        return Err(bad("the key is longer than 1024 bytes"));
    }
    if key.contains('\\') {
        return Err(bad("backslashes are not allowed"));
    }
    if key.chars().any(char::is_control) {
        return Err(bad("control characters are not allowed"));
    }
    for segment in key.split('/') {
        match segment {
            "" => return Err(bad("empty path segments are not allowed")),
            "." | ".." => return Err(bad("`.` and `..` segments are not allowed")),
            // File systems (a local originals directory) cap a name at 255 bytes.
            s if s.len() > MAX_SEGMENT_BYTES => {
                return Err(bad("a path segment is longer than 255 bytes"))
            }
            _ => {}
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests;
