//! Assembling the configuration from its layers (see the module documentation of
//! [`crate::config`]), checking it, and printing it with secrets redacted.

use std::path::Path;

use toml::{Table, Value};

use super::Config;

/// A configuration that could not be loaded, with the layer that is wrong.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The environment variable prefix.
pub const ENV_PREFIX: &str = "REFRACT_";

/// `REFRACT_*` variables that are not configuration keys: the config file's path, and the
/// lifecycle's fault-injection hook for crash tests.
const NOT_CONFIG: &[&str] = &["REFRACT_CONFIG", "REFRACT_LIFECYCLE_FAULT"];

impl Config {
    /// Assembles the configuration from its layers. `flags` are `(dotted.key, value)` pairs.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &[(&str, String)],
    ) -> Result<Config, ConfigError> {
        let defaults = Table::try_from(Config::default())
            .map_err(|e| ConfigError(format!("default configuration: {e}")))?;
        let mut merged = defaults.clone();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
            let table: Table = toml::from_str(&text)
                .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
            merge(&mut merged, table);
        }
        let mut env_vars: Vec<_> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX) && !NOT_CONFIG.contains(&k.as_str()))
            .collect();
        env_vars.sort();
        for (name, raw) in env_vars {
            let path: Vec<String> = name[ENV_PREFIX.len()..]
                .to_ascii_lowercase()
                .split("__")
                .map(str::to_owned)
                .collect();
            let value = typed_value(&defaults, &path, &raw)
                .map_err(|e| ConfigError(format!("environment variable {name}: {e}")))?;
            merge(&mut merged, nested(&path, value));
        }
        for (key, raw) in flags {
            let path: Vec<String> = key.split('.').map(str::to_owned).collect();
            let value = typed_value(&defaults, &path, raw)
                .map_err(|e| ConfigError(format!("flag for {key}: {e}")))?;
            merge(&mut merged, nested(&path, value));
        }
        let config: Config = Value::Table(merged)
            .try_into()
            .map_err(|e| ConfigError(format!("configuration: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.transform;
        if t.queue == 0 {
            return Err(ConfigError("transform.queue must be at least 1".into()));
        }
        if t.avif_speed > 10 || t.webp_method > 6 {
            return Err(ConfigError(
                "transform.avif_speed must be 0–10 and transform.webp_method 0–6".into(),
            ));
        }
        if !(1..=100).contains(&t.default_quality) {
            return Err(ConfigError(
                "transform.default_quality must be 1–100".into(),
            ));
        }
        if self.signing.keys.iter().any(|k| k.len() < 16) {
            return Err(ConfigError(
                "signing.keys: each key must be at least 16 bytes long".into(),
            ));
        }
        if self.upload.token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError(
                "upload.token must be at least 16 bytes long".into(),
            ));
        }
        self.signing.access(&self.presets).map_err(ConfigError)?;
        self.rate_limit.check().map_err(ConfigError)?;
        self.check_namespaces()
    }

    /// Warnings about deprecated keys that are set, for the log at start-up.
    pub fn deprecations(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(q) = self.transform.default_avif_quality {
            out.push(format!(
                "transform.default_avif_quality = {q} is deprecated and ignored: quality= now \
                 means the same in JPEG, WebP and AVIF, and transform.default_quality ({}) \
                 applies to AVIF too",
                self.transform.default_quality
            ));
        }
        out
    }

    /// The server's own state (warm tier, cold tier, SQLite index) must not sit inside the
    /// originals, nor the originals inside it: variants would be served (and reindexed) as
    /// originals, or originals evicted and expired as variants.
    fn check_namespaces(&self) -> Result<(), ConfigError> {
        let originals = Location::of(&self.originals);
        let mut own: Vec<(&str, Location)> = Vec::new();
        if let Some(dir) = self.warm_dir() {
            own.push(("tiers.warm_dir", Location::of(&dir.display().to_string())));
        }
        if let Some(url) = self.cold_url() {
            let mut cold = Location::of(&url);
            cold.path
                .extend(segments(&self.tiers.cold_prefix).map(str::to_owned));
            own.push(("tiers.cold", cold));
        }
        if let Some(path) = self
            .meta_url()
            .and_then(|u| u.strip_prefix("sqlite://").map(str::to_owned))
        {
            let mut db = Location::of(&path);
            db.path.pop(); // the database's directory: SQLite keeps -wal and -shm files beside it
            own.push(("meta.url", db));
        }
        for (what, at) in own {
            if at.overlaps(&originals) {
                return Err(ConfigError(format!(
                    "{what} and originals overlap ({} and {}): keep the server's state out of \
                     the originals and the originals out of it (set data_dir, or {what}, elsewhere)",
                    at.display(),
                    originals.display()
                )));
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML, with secrets replaced by `"<redacted>"`.
    pub fn to_toml_redacted(&self) -> String {
        let mut c = self.clone();
        let redact = |s: &mut String| *s = "<redacted>".into();
        c.signing.keys.iter_mut().for_each(redact);
        c.upload.token.as_mut().map(redact);
        c.storage.s3.secret_access_key.as_mut().map(redact);
        // URLs may carry credentials: `postgres://user:password@host/db`, `?password=…`.
        for url in [&mut c.meta.url, &mut c.originals, &mut c.tiers.cold] {
            *url = redact_url(url);
        }
        toml::to_string(&c).unwrap_or_else(|e| format!("# cannot print configuration: {e}\n"))
    }
}

/// Where a store or directory is: a bucket (`s3://bucket`, or `""` for local paths) and the
/// path segments inside it, made absolute and normalised for local paths.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Location {
    bucket: String,
    path: Vec<String>,
}

fn segments(s: &str) -> impl Iterator<Item = &str> {
    s.split('/').filter(|p| !p.is_empty() && *p != ".")
}

impl Location {
    fn of(url: &str) -> Location {
        let url = url.trim();
        match url.split_once("://") {
            Some((scheme, rest)) if scheme != "file" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                Location {
                    bucket: format!("{scheme}://{bucket}"),
                    path: segments(prefix).map(str::to_owned).collect(),
                }
            }
            other => {
                let dir = other.map_or(url, |(_, rest)| rest);
                let absolute = std::env::current_dir()
                    .unwrap_or_default()
                    .join(dir)
                    .display()
                    .to_string();
                let mut path: Vec<String> = Vec::new();
                for part in segments(&absolute) {
                    if part == ".." {
                        path.pop();
                    } else {
                        path.push(part.to_owned());
                    }
                }
                Location {
                    bucket: String::new(),
                    path,
                }
            }
        }
    }

    /// One contains the other (or they are the same).
    fn overlaps(&self, other: &Location) -> bool {
        let shorter = self.path.len().min(other.path.len());
        self.bucket == other.bucket && self.path[..shorter] == other.path[..shorter]
    }

    fn display(&self) -> String {
        format!("{}/{}", self.bucket, self.path.join("/"))
    }
}

/// `url` with the password of its user info and the values of query parameters that hold
/// secrets replaced by `<redacted>`, for printing and logs.
pub fn redact_url(url: &str) -> String {
    const SECRET_PARAMS: &[&str] = &[
        "password",
        "passwd",
        "sslpassword",
        "secret",
        "token",
        "key",
    ];
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:<redacted>@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if SECRET_PARAMS.iter().any(|s| k.eq_ignore_ascii_case(s)) => {
                        format!("{k}=<redacted>")
                    }
                    _ => p.to_owned(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Merges `over` into `base`, recursing into tables; anything else is replaced.
fn merge(base: &mut Table, over: Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn nested(path: &[String], value: Value) -> Table {
    let mut value = value;
    for key in path.iter().skip(1).rev() {
        let mut t = Table::new();
        t.insert(key.clone(), value);
        value = Value::Table(t);
    }
    let mut root = Table::new();
    if let Some(first) = path.first() {
        root.insert(first.clone(), value);
    }
    root
}

/// Reads `raw` as the type the default at `path` has: TOML for numbers, booleans and lists,
/// a string for everything else (strings, unset options, preset names).
fn typed_value(defaults: &Table, path: &[String], raw: &str) -> Result<Value, String> {
    let mut current: Option<&Value> = None;
    let mut table = Some(defaults);
    for key in path {
        current = table.and_then(|t| t.get(key));
        table = current.and_then(Value::as_table);
    }
    match current {
        Some(Value::Integer(_) | Value::Boolean(_) | Value::Float(_) | Value::Array(_)) => {
            let doc: Table = toml::from_str(&format!("v = {raw}"))
                .map_err(|e| format!("`{raw}` is not a valid value: {e}"))?;
            doc.get("v").cloned().ok_or_else(|| "missing value".into())
        }
        _ => Ok(Value::String(raw.to_owned())),
    }
}

impl super::SigningConfig {
    /// The URL rules: keys, widths, presets, who may fetch originals, and the clock that checks
    /// `expires`.
    pub fn access(
        &self,
        presets: &std::collections::BTreeMap<String, String>,
    ) -> Result<refract_core::url::Access, String> {
        let originals =
            refract_core::url::OriginalsAccess::parse(&self.originals, !self.keys.is_empty())
                .ok_or_else(|| {
                    format!(
                        "signing.originals: `{}` is not public, signed or off",
                        self.originals
                    )
                })?;
        let access = refract_core::url::Access::new(&self.keys, &self.allowed_widths, presets)
            .map_err(|e| format!("presets: {e}"))?;
        Ok(access
            .with_originals(originals)
            .with_clock(crate::runtime::clock::unix_secs))
    }
}
