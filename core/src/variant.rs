//! A variant's identity: which bytes a request for a transformed image gets.
//!
//! Both hosts name a variant with a [`VariantKey`], built once per request by
//! [`VariantKey::new`] from the original's key, the [`Spec`], the `Accept` header and the host's
//! [`Policy`]:
//!
//! - **the original's key**;
//! - **the canonical spec** (`Spec`'s `Display`), so both URL grammars name one variant;
//! - **the negotiated output** ([`Output`]): the encoder the request leads to, `format=auto`
//!   resolved against `Accept` by the same rule the transform uses;
//! - **a fingerprint of every setting that can change the bytes** of that output: the
//!   effective quality (the spec's, or the policy's default), the AVIF speed,
//!   the WebP method, the AVIF cap of `format=auto` with what it steps down to, the versions of
//!   the crates that decode, resize and encode ([`CODECS`]), [`OUTPUT_GENERATION`], and the
//!   target-dependent code paths this build runs ([`pixel_paths`]): the JPEG decoder's and the
//!   colour engine's SIMD code round differently from their portable code, so a JPEG or an
//!   image with an ICC profile decodes to other pixels natively than in wasm.
//!
//! The key plus the original's version (its ETag) identify the bytes: same key, same version
//! ⇒ same bytes. From them, and only from them, come
//! - [`VariantKey::id`]: 32 hex digits naming the variant's slot in every cache (the origin's
//!   tiers and metadata rows, the edge's Cache API). The version is not part of it, so a
//!   replaced original's new variant takes the old one's slot; caches keep the version beside
//!   the bytes and check it before use;
//! - [`VariantKey::etag`]: the strong ETag, which changes with the version.
//!
//! A change of encoder settings changes the fingerprint, so old variants become misses and old
//! ETags stop matching. Settings that cannot affect this output (the WebP method of a JPEG, the
//! default quality when the spec sets one) are left out, so changing them keeps what is cached.
//!
//! The only spelling is `Display`/`FromStr`: `<key>?<spec>#<output>.<fingerprint>`, e.g.
//! `photos/cat.jpg?width=400,format=auto#avif.3fa1c2d4e5b60718`. Keys may hold `?` and `#`;
//! the spec, output and fingerprint never do, so the string is read from the right.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::negotiate::{accepts, preference, Preference};
use crate::spec::{Format, Quality, Spec};
use crate::{OutputFormat, Policy};

mod paths;
pub use paths::pixel_paths;

/// Bumped whenever a change to the core changes output bytes for the same input, spec and
/// settings (a new resampling step, another colour conversion, …). `pinned_outputs` in this
/// module's tests fails until it is bumped. 3: jpeg-decoder's 1/8 of subsampled frames (a
/// halved 1/4) and AVIF's own quality table at libaom speeds 0–6.
pub const OUTPUT_GENERATION: u32 = 3;

/// The crates whose code shapes output pixels and bytes, at the versions this build uses. A
/// test checks them against `Cargo.lock`, so upgrading one changes every fingerprint.
pub const CODECS: &[(&str, &str)] = &[
    ("avif-serialize", "0.8.9"),
    ("fast_image_resize", "6.1.0"),
    ("gif", "0.14.2"),
    ("image", "0.25.10"),
    ("image-webp", "0.2.4"),
    ("jpeg-decoder", "0.3.2"),
    ("jpeg-encoder", "0.7.1"),
    ("libaom-sys", "0.17.2+libaom.3.11.0"),
    ("libwebp-sys", "0.9.6"),
    ("png", "0.18.1"),
    ("qcms", "0.3.0"),
    ("turbojpeg-sys", "1.2.0"),
];

/// The encoder a request leads to, after `format=auto` is negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    Avif,
    Webp,
    Jpeg,
    Png,
    /// `format=gif`: an animated (or still) GIF.
    Gif,
    /// `format=json`: metadata only.
    Json,
    /// `format=placeholder`: a tiny blurred preview.
    Placeholder,
    /// No format asked for, or `format=auto` for a client that lists neither AVIF nor WebP:
    /// JPEG, or PNG for an image with transparency.
    Fallback,
}

impl Output {
    const ALL: [Output; 8] = [
        Output::Avif,
        Output::Webp,
        Output::Jpeg,
        Output::Png,
        Output::Gif,
        Output::Json,
        Output::Placeholder,
        Output::Fallback,
    ];

    /// A short stable name: `avif`, `webp`, `jpeg`, `png`, `json`, `fallback`.
    pub fn as_str(self) -> &'static str {
        match self {
            Output::Avif => "avif",
            Output::Webp => "webp",
            Output::Jpeg => "jpeg",
            Output::Png => "png",
            Output::Gif => "gif",
            Output::Json => "json",
            Output::Placeholder => "placeholder",
            Output::Fallback => "fallback",
        }
    }

    /// The output of `spec` for a client sending `accept` (`format=auto` only looks at it).
    pub fn negotiate(spec: &Spec, accept: &str) -> Output {
        match spec.format {
            None => Output::Fallback,
            // compression=fast: the JPEG/PNG fallback, the quickest to encode.
            Some(Format::Auto) if spec.compression == crate::spec::Compression::Fast => {
                Output::Fallback
            }
            Some(Format::Auto) => match preference(accept) {
                Preference::Avif => Output::Avif,
                Preference::Webp => Output::Webp,
                Preference::Fallback => Output::Fallback,
            },
            Some(Format::Avif) => Output::Avif,
            Some(Format::Webp) => Output::Webp,
            Some(Format::Jpeg | Format::BaselineJpeg) => Output::Jpeg,
            Some(Format::Png) => Output::Png,
            Some(Format::Gif) => Output::Gif,
            Some(Format::Json) => Output::Json,
            Some(Format::Placeholder) => Output::Placeholder,
        }
    }
}

/// What `format=auto` steps down to from `output` (Policy::step_down).
fn below(output: Output, accept: &str) -> Output {
    let webp =
        (OutputFormat::Webp { lossless: false }).available() && accepts(accept, "image/webp");
    match output {
        Output::Avif if webp => Output::Webp,
        _ => Output::Fallback,
    }
}

/// The identity of a variant, without the original's version. See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VariantKey {
    key: String,
    spec: String,
    output: Output,
    fingerprint: String,
    /// [`VariantKey::id`], computed once.
    id: String,
}

/// Why a string is not a [`VariantKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadVariantKey(pub &'static str);

impl fmt::Display for BadVariantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a variant key: {}", self.0)
    }
}

impl std::error::Error for BadVariantKey {}

impl VariantKey {
    /// The variant a request names: the original at `key`, transformed by `spec`, for a client
    /// sending `accept`, on a host encoding with `policy`.
    pub fn new(key: &str, spec: &Spec, accept: &str, policy: &Policy) -> VariantKey {
        let output = Output::negotiate(spec, accept);
        let mut settings = encoder_settings(output, spec, policy);
        // Past the cap, `format=auto` steps AVIF down (Policy::auto_preference): the settings
        // of what it steps down to matter too.
        if output == Output::Avif
            && spec.format == Some(Format::Auto)
            && policy.max_avif_pixels != u64::MAX
        {
            settings.push_str(&format!(" cap={}", policy.max_avif_pixels));
            settings.push_str(&encoder_settings(below(output, accept), spec, policy));
        }
        // An animation asked for as AVIF by format=auto is an animated WebP (crate::anim).
        if output == Output::Avif && spec.format == Some(Format::Auto) {
            settings.push_str(&encoder_settings(Output::Webp, spec, policy));
        }
        // Past the CPU cap, auto steps down as far as the fallback (crate::estimate).
        if spec.format == Some(Format::Auto)
            && policy.max_cpu_ms != u64::MAX
            && output != Output::Fallback
        {
            settings.push_str(&format!(" cpu_cap={}", policy.max_cpu_ms));
            let mut step = output;
            while step != Output::Fallback {
                step = below(step, accept);
                settings.push_str(&encoder_settings(step, spec, policy));
            }
        }
        let digest = build_hasher()
            .clone()
            .chain_update(settings.as_bytes())
            .finalize();
        VariantKey::from_parts(key.to_owned(), spec.to_string(), output, hex(&digest[..8]))
    }

    fn from_parts(key: String, spec: String, output: Output, fingerprint: String) -> VariantKey {
        let mut v = VariantKey {
            key,
            spec,
            output,
            fingerprint,
            id: String::new(),
        };
        v.id = hex(&v.spelling_hash().finalize()[..16]);
        v
    }

    /// A hasher fed with the spelling (`Display`), without building the string: this runs on
    /// every request, cache hits included.
    fn spelling_hash(&self) -> Sha256 {
        Sha256::new()
            .chain_update(self.key.as_bytes())
            .chain_update(b"?")
            .chain_update(self.spec.as_bytes())
            .chain_update(b"#")
            .chain_update(self.output.as_str().as_bytes())
            .chain_update(b".")
            .chain_update(self.fingerprint.as_bytes())
    }

    /// The original's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The canonical spec.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    pub fn output(&self) -> Output {
        self.output
    }

    /// 16 hex digits: a hash of the settings that shape this output's bytes.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The variant's slot in every cache: 32 hex digits of a hash of the key's spelling.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The strong ETag (quoted) of this variant made from the original at `version` (its
    /// ETag, unquoted).
    pub fn etag(&self, version: &str) -> String {
        let digest = self
            .spelling_hash()
            .chain_update([0])
            .chain_update(version.as_bytes())
            .finalize();
        format!("\"{}\"", hex(&digest[..16]))
    }
}

/// What every fingerprint of this build starts with: the output generation, the codec
/// versions and the target-dependent code paths, hashed once (each request hashes only its
/// own settings after them).
fn build_hasher() -> &'static Sha256 {
    static BUILD: OnceLock<Sha256> = OnceLock::new();
    BUILD.get_or_init(|| {
        let mut s = format!("generation={OUTPUT_GENERATION}");
        for (name, version) in CODECS {
            s.push_str(&format!(" {name}={version}"));
        }
        s.push_str(&format!(" pixels={}", pixel_paths()));
        Sha256::new().chain_update(s.as_bytes())
    })
}

/// The encoder settings of `output` for `spec`, as ` name=value` pairs.
fn encoder_settings(output: Output, spec: &Spec, policy: &Policy) -> String {
    let quality = |default: u8| spec.quality.map_or(default, Quality::value);
    let jpeg = || {
        format!(
            " jpeg.quality={} jpeg.simd={}",
            quality(policy.default_quality),
            jpeg_simd()
        )
    };
    match output {
        Output::Avif => format!(
            " avif.quality={} avif.speed={} avif.arch={}",
            quality(policy.default_quality),
            policy.avif_speed,
            // libaom's SIMD kernels are meant to match its C code bit for bit, but the
            // natively tuned build and the edge's generic one are not proven to agree.
            std::env::consts::ARCH
        ),
        Output::Webp => format!(
            " webp.quality={} webp.method={}",
            quality(policy.default_quality),
            policy.webp_method
        ),
        Output::Jpeg => jpeg(),
        Output::Png => " png".to_owned(),
        Output::Gif => " gif".to_owned(),
        Output::Json => " json".to_owned(),
        Output::Placeholder => " placeholder".to_owned(),
        // No format: JPEG or PNG for a still image; an animation keeps its own format, so an
        // animated WebP is encoded with WebP's settings (a GIF with the fixed `gif` ones).
        Output::Fallback => {
            jpeg()
                + " png"
                + &encoder_settings(Output::Webp, spec, policy)
                + &encoder_settings(Output::Gif, spec, policy)
        }
    }
}

/// Which code path jpeg-encoder takes: its AVX2 code (native x86 builds, when the CPU has
/// it) rounds differently from its portable code (measured: a few bytes apart).
fn jpeg_simd() -> &'static str {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if std::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
    }
    "none"
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

impl fmt::Display for VariantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}?{}#{}.{}",
            self.key,
            self.spec,
            self.output.as_str(),
            self.fingerprint
        )
    }
}

impl FromStr for VariantKey {
    type Err = BadVariantKey;

    fn from_str(s: &str) -> Result<VariantKey, BadVariantKey> {
        let (rest, tail) = s.rsplit_once('#').ok_or(BadVariantKey("no `#`"))?;
        let (output, fingerprint) = tail.split_once('.').ok_or(BadVariantKey("no `.`"))?;
        let output = Output::ALL
            .into_iter()
            .find(|o| o.as_str() == output)
            .ok_or(BadVariantKey("unknown output"))?;
        let hex_digits = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        if fingerprint.len() != 16 || !fingerprint.chars().all(hex_digits) {
            return Err(BadVariantKey("the fingerprint is not 16 hex digits"));
        }
        let (key, spec) = rest.rsplit_once('?').ok_or(BadVariantKey("no `?`"))?;
        if key.is_empty() {
            return Err(BadVariantKey("empty key"));
        }
        let canonical = Spec::parse_options(spec)
            .map_err(|_| BadVariantKey("the spec does not parse"))?
            .to_string();
        if canonical != spec {
            return Err(BadVariantKey("the spec is not canonical"));
        }
        Ok(VariantKey::from_parts(
            key.to_owned(),
            spec.to_owned(),
            output,
            fingerprint.to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests;
