//! The server's one configuration struct and how it is assembled.
//!
//! Precedence, lowest first: built-in defaults → TOML file (`--config`) → environment → flags.
//! Each layer is a TOML table merged key by key over the one below, and the result is
//! deserialized once with unknown keys refused, so a typo anywhere is an error at start-up.
//!
//! Environment variables are `REFRACT_` followed by the key path in upper case, with `__`
//! between a section and its key: `REFRACT_LISTEN`, `REFRACT_CACHE__MEMORY_BYTES`,
//! `REFRACT_PRESETS__THUMB`. A value is read as TOML when the default at that path is a number,
//! boolean or list (`REFRACT_SIGNING__KEYS='["k1","k2"]'`), and as a plain string otherwise.
//! The AWS SDK's usual variables (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`, …) are read by the
//! S3 client itself; `[storage.s3]` overrides them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Everything `refract serve` can be told. See `docs/server.md` for each key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the image listener.
    pub listen: SocketAddr,
    /// Address of the admin listener: `/health`, `/ready`, `/metrics`.
    pub admin_listen: SocketAddr,
    /// Where originals live: a directory, `file:///dir`, `s3://bucket/prefix`,
    /// `gs://bucket/prefix` or `az://container/prefix`.
    pub originals: String,
    /// Log filter in `tracing` syntax, e.g. `info` or `refract_server=debug`.
    pub log: String,
    /// Directory for the server's own state: the warm tier, the SQLite metadata, the default
    /// cold tier.
    pub data_dir: String,
    pub storage: StorageConfig,
    pub tiers: TiersConfig,
    pub meta: MetaConfig,
    pub lifecycle: LifecycleConfig,
    pub limits: LimitsConfig,
    pub transform: TransformConfig,
    pub cache: CacheConfig,
    pub http: HttpConfig,
    pub signing: SigningConfig,
    pub upload: UploadConfig,
    pub rate_limit: RateLimitConfig,
    /// Named option sets: `thumb = "width=200,height=200,fit=cover"`, used as `preset=thumb`.
    pub presets: BTreeMap<String, String>,
}

/// The metadata store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetaConfig {
    /// `sqlite://path`, `postgres://…`; empty means `sqlite://<data_dir>/meta.db`, `off`
    /// disables metadata (and with it the lifecycle).
    pub url: String,
    /// How often access times are written, in milliseconds.
    pub flush_ms: u64,
}

impl Default for MetaConfig {
    fn default() -> Self {
        MetaConfig {
            url: String::new(),
            flush_ms: 5_000,
        }
    }
}

impl Config {
    /// The warm tier's directory, if enabled.
    pub fn warm_dir(&self) -> Option<std::path::PathBuf> {
        match self.tiers.warm_dir.as_str() {
            "off" => None,
            "" => Some(Path::new(&self.data_dir).join("warm")),
            dir => Some(dir.into()),
        }
    }

    /// The cold tier's store URL, if enabled.
    pub fn cold_url(&self) -> Option<String> {
        match self.tiers.cold.as_str() {
            "off" => None,
            "" => Some(Path::new(&self.data_dir).join("cold").display().to_string()),
            url => Some(url.to_owned()),
        }
    }

    /// The metadata store's URL, if enabled.
    pub fn meta_url(&self) -> Option<String> {
        match self.meta.url.as_str() {
            "off" => None,
            "" => Some(format!(
                "sqlite://{}",
                Path::new(&self.data_dir).join("meta.db").display()
            )),
            url => Some(url.to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// A storage call slower than this fails with 503 `storage_unavailable`.
    pub timeout_ms: u64,
    pub s3: S3Config,
}

/// S3 settings; each one unset falls back to the matching `AWS_*` environment variable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    /// Allow plain-HTTP endpoints (implied when `endpoint` starts with `http://`).
    pub allow_http: bool,
}

/// See `refract_core::Limits`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub max_input_bytes: u64,
    pub max_input_pixels: u64,
    pub max_output_dimension: u32,
    pub max_output_pixels: u64,
    /// Largest estimated memory of one transform (`refract_core::cost`).
    pub max_memory_bytes: u64,
    /// Largest estimated CPU time of one transform, in reference milliseconds; `format=auto`
    /// steps down to fit, anything else over it is 400 `too_costly`. 0 turns the cap off.
    pub max_cpu_ms: u64,
    /// Largest SVG original, in bytes (413 `input_too_large` past it).
    pub max_svg_bytes: u64,
    /// Most frames of an animation kept animated (413 `animation_too_large` past it;
    /// `anim=false` asks for the first frame).
    pub max_frames: u32,
    /// Largest animation kept animated, in pixels over all frames (frames × width × height).
    pub max_animation_pixels: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransformConfig {
    /// CPU worker threads; 0 means one per core.
    pub workers: usize,
    /// Transforms allowed to wait for a worker; beyond that the server answers 503 at once.
    pub queue: usize,
    /// Bytes that transforms may hold at once: the originals they read and their estimated
    /// peaks. Past it, a transform waits (within the request deadline) for memory to free.
    pub memory_bytes: u64,
    pub avif_speed: u8,
    pub webp_method: u8,
    /// Quality when the URL gives none, for every lossy format: `quality=` means the same in
    /// JPEG, WebP and AVIF (`refract_core::quality`).
    pub default_quality: u8,
    /// Deprecated and ignored: AVIF's own default from before `quality=` was one scale. Still
    /// accepted so older files load; `refract serve` warns when it is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_avif_quality: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Byte budget of the in-memory cache of results; 0 disables it.
    pub memory_bytes: u64,
    /// A cached result confirmed longer ago than this is checked against the original's ETag
    /// before reuse, so originals replaced behind the server's back (straight in the bucket)
    /// are noticed. Changes made through Refract are heard of at once (see
    /// `notify_window_ms`).
    pub revalidate_secs: u64,
    /// With a shared PostgreSQL metadata store: how long an instance may go without proof
    /// that it hears the others' changes (a round trip on its `LISTEN` connection, made every
    /// third of this). Past it, or while the connection is down, every hit checks its
    /// original. The bound on serving a replaced original's old variants across instances.
    pub notify_window_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `Cache-Control` of unsigned results and originals.
    pub cache_control: String,
    /// `Cache-Control` of results of signed URLs. A signature fixes the options, not the
    /// original's bytes, which can be replaced: not immutable by default.
    pub signed_cache_control: String,
    /// `Cache-Control` of responses to URLs that name a version (`v=`), signed or not: the
    /// URL changes when the original does, so they may be kept for ever.
    pub versioned_cache_control: String,
    /// Deadline for a whole request; past it the answer is 503 `deadline_exceeded`.
    pub request_timeout_ms: u64,
    /// Time a client has to send a request's headers, counted from when the connection opens
    /// or falls idle after a response; past it the connection is closed. Bounds slow-header
    /// clients and idle keep-alive connections alike.
    pub header_timeout_ms: u64,
    /// Open connections per listener; past it, new ones get 503 and are closed.
    pub max_connections: usize,
    /// Serve SVG originals untouched (a URL with no options), as `image/svg+xml` under a
    /// `Content-Security-Policy` that loads and runs nothing. Off: SVG originals are only
    /// served rasterized, and untouched they are 415 like any file that is not an image.
    pub svg_passthrough: bool,
    /// The playground page at `/_refract/playground/`: `auto` (on when `listen` is a loopback
    /// address), `on` or `off` (`docs/playground.md`).
    pub playground: PlaygroundMode,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// HMAC secrets; the first signs (`refract sign`), all verify. Empty: no signing.
    pub keys: Vec<String>,
    /// Widths an unsigned URL may ask for.
    pub allowed_widths: Vec<u32>,
    /// Who may fetch an original untouched (a URL with no options): `public`, `signed` (a
    /// signature of the empty spec, `refract sign` makes it) or `off`. Empty: `signed` when
    /// `keys` are set (untouched originals keep full resolution and their EXIF, GPS included),
    /// else `public`.
    pub originals: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadConfig {
    /// Bearer token for `PUT` and `DELETE`; unset disables both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            originals: "samples".into(),
            log: "info".into(),
            data_dir: "refract-data".into(),
            storage: StorageConfig::default(),
            tiers: TiersConfig::default(),
            meta: MetaConfig::default(),
            lifecycle: LifecycleConfig::default(),
            limits: LimitsConfig::default(),
            transform: TransformConfig::default(),
            cache: CacheConfig::default(),
            http: HttpConfig::default(),
            signing: SigningConfig::default(),
            upload: UploadConfig::default(),
            rate_limit: RateLimitConfig::default(),
            presets: BTreeMap::new(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            timeout_ms: 10_000,
            s3: S3Config::default(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let l = refract_core::Limits::default();
        LimitsConfig {
            max_input_bytes: l.max_input_bytes,
            max_input_pixels: l.max_input_pixels,
            max_output_dimension: l.max_output_dimension,
            max_output_pixels: l.max_output_pixels,
            max_memory_bytes: l.max_memory_bytes,
            max_cpu_ms: refract_core::Policy::DEFAULT_MAX_CPU_MS,
            max_svg_bytes: l.max_svg_bytes,
            max_frames: l.max_frames,
            max_animation_pixels: l.max_animation_pixels,
        }
    }
}

impl Default for TransformConfig {
    fn default() -> Self {
        let p = refract_core::Policy::default();
        TransformConfig {
            workers: 0,
            queue: 64,
            memory_bytes: 4 << 30,
            avif_speed: p.avif_speed,
            webp_method: p.webp_method,
            default_quality: p.default_quality,
            default_avif_quality: None,
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            memory_bytes: 256 * 1024 * 1024,
            revalidate_secs: 60,
            notify_window_ms: 1000,
        }
    }
}

/// A day fresh; then a stale copy may be served for an hour while a shared cache refetches
/// it, and for a week when the origin fails.
const DEFAULT_CACHE_CONTROL: &str =
    "public, max-age=86400, stale-while-revalidate=3600, stale-if-error=604800";

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            cache_control: DEFAULT_CACHE_CONTROL.into(),
            signed_cache_control: DEFAULT_CACHE_CONTROL.into(),
            versioned_cache_control: "public, max-age=31536000, immutable".into(),
            request_timeout_ms: 30_000,
            header_timeout_ms: 10_000,
            max_connections: 1024,
            svg_passthrough: false,
            playground: PlaygroundMode::Auto,
        }
    }
}

impl LimitsConfig {
    pub fn to_core(&self) -> refract_core::Limits {
        refract_core::Limits {
            max_input_bytes: self.max_input_bytes,
            max_input_pixels: self.max_input_pixels,
            max_output_dimension: self.max_output_dimension,
            max_output_pixels: self.max_output_pixels,
            max_memory_bytes: self.max_memory_bytes,
            max_svg_bytes: self.max_svg_bytes,
            max_frames: self.max_frames,
            max_animation_pixels: self.max_animation_pixels,
        }
    }

    /// The CPU cap as the core takes it.
    pub fn max_cpu_ms(&self) -> u64 {
        match self.max_cpu_ms {
            0 => u64::MAX,
            n => n,
        }
    }
}

impl TransformConfig {
    pub fn policy(&self) -> refract_core::Policy {
        refract_core::Policy {
            avif_speed: self.avif_speed,
            webp_method: self.webp_method,
            default_quality: self.default_quality,
            ..refract_core::Policy::default()
        }
    }

    /// Worker threads to start: the configured number, or one per core.
    pub fn worker_threads(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }
}

mod load;
mod playground;
mod rate_limit;
mod tiers;

pub use load::{redact_url, ConfigError, ENV_PREFIX};
pub use playground::PlaygroundMode;
pub use rate_limit::{BucketConfig, RateLimitConfig};
pub use tiers::{LifecycleConfig, TiersConfig};

#[cfg(test)]
mod tests;
