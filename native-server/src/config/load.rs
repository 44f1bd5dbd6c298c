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
        if !(1..=10).contains(&t.avif_speed) || t.webp_method > 6 {
            return Err(ConfigError(
                "transform.avif_speed must be 1–10 and transform.webp_method 0–6".into(),
            ));
        }
        if !(1..=100).contains(&t.default_quality) || !(1..=100).contains(&t.default_avif_quality) {
            return Err(ConfigError("default qualities must be 1–100".into()));
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
        refract_core::url::Access::new(
            &self.signing.keys,
            &self.signing.allowed_widths,
            &self.presets,
        )
        .map_err(|e| ConfigError(format!("presets: {e}")))?;
        Ok(())
    }

    /// The effective configuration as TOML, with secrets replaced by `"<redacted>"`.
    pub fn to_toml_redacted(&self) -> String {
        let mut c = self.clone();
        let redact = |s: &mut String| *s = "<redacted>".into();
        c.signing.keys.iter_mut().for_each(redact);
        c.upload.token.as_mut().map(redact);
        c.storage.s3.secret_access_key.as_mut().map(redact);
        toml::to_string(&c).unwrap_or_else(|e| format!("# cannot print configuration: {e}\n"))
    }
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
