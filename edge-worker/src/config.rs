//! The worker's settings, read from `wrangler.toml` vars and secrets.
//!
//! Every setting is a string var (Workers vars are strings, except `PRESETS`, a JSON object), so
//! parsing is a pure function of a lookup, tested natively. Unknown or malformed values are an
//! operator error: the worker answers 500 `bad_config` naming the var, rather than guessing.

use std::collections::BTreeMap;

use refract_core::url::{Access, OriginalsAccess};
use refract_core::{Limits, Policy};

use crate::limit::Quota;

/// Defaults measured in workerd on the reference machine (BENCHMARKS.md, "Edge worker in
/// workerd"; docs/edge.md has the figures). Wasm memory peaks near 9 bytes per decoded pixel
/// and never shrinks, and an isolate has 128 MB: 16 MiB of input plus 8 MP decoded stays near
/// 100 MB.
pub mod defaults {
    /// Largest original the worker downloads, in bytes.
    pub const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;
    /// Most pixels the worker decodes for one request (after JPEG shrink-on-load), and the
    /// largest output area it produces.
    pub const MAX_DECODE_PIXELS: u64 = 8_000_000;
    /// Largest AVIF output area; `format=auto` steps down to WebP past it. At speed 9, AVIF costs
    /// about 1 µs of CPU per output pixel in workerd: 1 MP is about 1 s and 47 MB.
    pub const MAX_AVIF_PIXELS: u64 = 1_000_000;
    /// Largest estimated memory of one transform (`refract_core::cost`), which counts what the
    /// pixel budget cannot see: a progressive JPEG keeps its full-size coefficients even when
    /// it is shrunk on load. Measured in workerd: a 16.8 MP progressive photo at 800 px took
    /// 57 MiB of wasm memory at 4:2:0 and 108 MiB at 4:4:4 (of the isolate's 128 MB); their
    /// estimates are 67 and 116 MiB, so 96 MiB keeps the first at the edge and hands the second
    /// to the origin.
    pub const MAX_MEMORY_BYTES: u64 = 96 * 1024 * 1024;
    /// Largest estimated CPU time of one transform, in the core's reference milliseconds
    /// (native; wasm in workerd takes two to three times as long). `format=auto` steps down
    /// to fit; an explicit format over it is handed off.
    pub const MAX_CPU_MS: u64 = 5_000;
    /// libaom all-intra speed at the edge (0 slowest … 9 fastest; 10 = 9): 9 is about six
    /// times as fast as 8 in wasm (../shared/CODECS.md §1.2), and the edge's CPU is the limit.
    pub const AVIF_SPEED: u8 = 9;
    /// libwebp method at the edge (0 fastest … 6 smallest).
    pub const WEBP_METHOD: u8 = 4;
    /// `Cache-Control` of results whose URL does not name the original's version, signed or
    /// not: the native server's default. A day in browsers and CDNs, an hour served stale
    /// while they revalidate, a week served stale when the origin fails.
    pub const CACHE_CONTROL: &str =
        "public, max-age=86400, stale-while-revalidate=3600, stale-if-error=604800";
    pub const SIGNED_CACHE_CONTROL: &str = CACHE_CONTROL;
    /// `Cache-Control` of results whose URL names the version (`v=`): a new version is a new
    /// URL, so the old one may be kept for a year.
    pub const VERSIONED_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
    /// Age in seconds after which a cached result is checked against its original (an R2
    /// `head` or a conditional GET) before it is served: the native server's
    /// `cache.revalidate_secs`.
    pub const REVALIDATE_SECS: u64 = 60;
}

/// What to do with a request that is over the edge budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    /// Base URL of a native Refract origin, without a trailing `/`.
    pub url: String,
    pub mode: HandoffMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffMode {
    /// The worker fetches the same path and query from the origin and returns its answer.
    Proxy,
    /// The worker answers `307` with `Location` on the origin.
    Redirect,
}

/// What one request may cost at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub max_input_bytes: u64,
    pub max_decode_pixels: u64,
    pub max_avif_pixels: u64,
    pub max_memory_bytes: u64,
    pub max_cpu_ms: u64,
}

/// The whole configuration of one worker.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    pub access: Access,
    /// HTTP origin of originals, used when there is no `ORIGINALS` R2 binding.
    pub origin_url: Option<String>,
    pub handoff: Option<Handoff>,
    pub budget: Budget,
    pub limits: Limits,
    pub policy: Policy,
    pub cache_control: String,
    pub signed_cache_control: String,
    pub versioned_cache_control: String,
    /// Seconds a cached result is served without checking its original; 0 checks every time.
    pub revalidate_secs: u64,
    /// What the `RATE_LIMIT` binding is configured with (`RATE_LIMIT_QUOTA`), for the
    /// headers of a 429: the binding itself only answers allowed or not.
    pub rate_limit: Option<Quota>,
    /// The same for the `TRANSFORM_RATE_LIMIT` binding (`TRANSFORM_RATE_LIMIT_QUOTA`).
    pub transform_rate_limit: Option<Quota>,
}

/// A var that cannot be used as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "worker setting {}: {}", self.var, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn bad(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        reason: reason.into(),
    }
}

impl EdgeConfig {
    /// Reads the configuration: `var` looks a string var or secret up by name (`None` when
    /// unset or empty), `presets` is the `PRESETS` object var.
    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
        presets: &BTreeMap<String, String>,
    ) -> Result<EdgeConfig, ConfigError> {
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match var(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| bad(name, format!("`{v}` is not a whole number"))),
            }
        };
        let quota = |name: &'static str| {
            var(name)
                .map(|v| Quota::parse(&v).map_err(|reason| bad(name, reason)))
                .transpose()
        };
        let effort = |name: &'static str, default: u8, range: std::ops::RangeInclusive<u64>| {
            let n = number(name, u64::from(default))?;
            if !range.contains(&n) {
                return Err(bad(
                    name,
                    format!("{n} is outside {}..={}", range.start(), range.end()),
                ));
            }
            Ok(n as u8)
        };

        let keys: Vec<String> = var("SIGNING_KEYS")
            .map(|k| {
                k.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let widths = match var("ALLOWED_WIDTHS") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|w| {
                    w.parse::<u32>()
                        .map_err(|_| bad("ALLOWED_WIDTHS", format!("`{w}` is not a width")))
                })
                .collect::<Result<_, _>>()?,
        };
        let originals = var("ORIGINALS_ACCESS").unwrap_or_default();
        let originals = OriginalsAccess::parse(&originals, !keys.is_empty()).ok_or_else(|| {
            bad(
                "ORIGINALS_ACCESS",
                format!("`{originals}` is not public, signed or off"),
            )
        })?;
        let access = Access::new(&keys, &widths, presets)
            .map_err(|e| bad("PRESETS", e.to_string()))?
            .with_originals(originals);

        let origin_url = var("ORIGIN_URL")
            .map(|u| base_url("ORIGIN_URL", &u))
            .transpose()?;
        let mode = match var("HANDOFF").as_deref().map(str::trim) {
            None | Some("proxy") => HandoffMode::Proxy,
            Some("redirect") => HandoffMode::Redirect,
            Some(other) => {
                return Err(bad(
                    "HANDOFF",
                    format!("`{other}` is not proxy or redirect"),
                ))
            }
        };
        let handoff = var("HANDOFF_URL")
            .map(|u| base_url("HANDOFF_URL", &u))
            .transpose()?
            .map(|url| Handoff { url, mode });

        let budget = Budget {
            max_input_bytes: number("MAX_INPUT_BYTES", defaults::MAX_INPUT_BYTES)?,
            max_decode_pixels: number("MAX_DECODE_PIXELS", defaults::MAX_DECODE_PIXELS)?,
            max_avif_pixels: number("MAX_AVIF_PIXELS", defaults::MAX_AVIF_PIXELS)?,
            max_memory_bytes: number("MAX_MEMORY_BYTES", defaults::MAX_MEMORY_BYTES)?,
            max_cpu_ms: number("MAX_CPU_MS", defaults::MAX_CPU_MS)?,
        };
        // The core's own limits stay as a second line: the budget decides first, from the header.
        let limits = Limits {
            max_input_bytes: budget.max_input_bytes,
            ..Limits::default()
        };
        let policy = Policy {
            avif_speed: effort("AVIF_SPEED", defaults::AVIF_SPEED, 0..=10)?,
            webp_method: effort("WEBP_METHOD", defaults::WEBP_METHOD, 0..=6)?,
            max_avif_pixels: budget.max_avif_pixels,
            max_cpu_ms: budget.max_cpu_ms,
            ..Policy::default()
        };
        Ok(EdgeConfig {
            access,
            origin_url,
            handoff,
            budget,
            limits,
            policy,
            cache_control: var("CACHE_CONTROL").unwrap_or_else(|| defaults::CACHE_CONTROL.into()),
            signed_cache_control: var("SIGNED_CACHE_CONTROL")
                .unwrap_or_else(|| defaults::SIGNED_CACHE_CONTROL.into()),
            versioned_cache_control: var("VERSIONED_CACHE_CONTROL")
                .unwrap_or_else(|| defaults::VERSIONED_CACHE_CONTROL.into()),
            revalidate_secs: number("REVALIDATE_SECS", defaults::REVALIDATE_SECS)?,
            rate_limit: quota("RATE_LIMIT_QUOTA")?,
            transform_rate_limit: quota("TRANSFORM_RATE_LIMIT_QUOTA")?,
        })
    }
}

/// `EXPOSE_MEMORY`: whether responses report the wasm memory size in `x-refract-memory` (for
/// tests and benchmarks). Only `true` turns it on.
pub fn expose_memory(value: Option<String>) -> bool {
    value.is_some_and(|v| v.trim() == "true")
}

/// An absolute http(s) URL with no query, fragment or trailing `/`.
fn base_url(var: &'static str, raw: &str) -> Result<String, ConfigError> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad(var, format!("`{raw}` is not an http:// or https:// URL")))?;
    if rest.is_empty() || rest.contains(['?', '#']) || rest.starts_with('/') {
        return Err(bad(
            var,
            format!("`{raw}` must be a base URL, like https://origin.example"),
        ));
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests;
