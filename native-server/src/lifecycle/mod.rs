//! Lifecycle policies: rules in TOML, in the spirit of S3 lifecycle rules and Azure's
//! last-access rules, applied by a sweeper to the rows of the metadata store.
//!
//! ```toml
//! [[rule]]
//! id = "variants"
//! filter = { class = "variant", prefix = "photos/" }
//! actions = [
//!   { type = "demote", to = "cold", days_since_access = 7 },
//!   { type = "expire", days_since_access = 90 },
//! ]
//! ```
//!
//! - A rule has an `id`, a `filter` (class, required; key `prefix`; `min_size`/`max_size` in
//!   bytes) and `actions`, each with one threshold: `days_since_access` or `days_since_creation`.
//! - Actions: `demote` (a variant from warm to cold), `storage_class` (an original's class in
//!   the object store: `STANDARD_IA`, `GLACIER_IR`, …), and `expire` (delete). Promotion back to
//!   memory happens on every access and needs no rule.
//! - Of all actions whose rule matches and whose threshold is met, the strongest one that would
//!   change something is taken: expire, then demote, then storage class. So applying a plan
//!   twice does what applying it once did.
//! - An original is only ever deleted by a rule whose filter says `class = "original"` and
//!   whose action is `expire`: the class is required, so no rule matches originals by accident.

pub mod apply;
pub mod plan;

use serde::Deserialize;

use crate::meta::Class;

/// A policy file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub filter: Filter,
    pub actions: Vec<Action>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub class: ClassName,
    #[serde(default)]
    pub prefix: String,
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassName {
    Original,
    Variant,
}

impl ClassName {
    pub fn class(self) -> Class {
        match self {
            ClassName::Original => Class::Original,
            ClassName::Variant => Class::Variant,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Move a variant out of the warm tier into the cold one.
    Demote {
        to: DemoteTo,
        days_since_access: Option<f64>,
        days_since_creation: Option<f64>,
    },
    /// Change an original's storage class (S3: a copy in place with the new class).
    StorageClass {
        class: String,
        days_since_access: Option<f64>,
        days_since_creation: Option<f64>,
    },
    /// Delete the object.
    Expire {
        days_since_access: Option<f64>,
        days_since_creation: Option<f64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DemoteTo {
    Cold,
}

/// When an action applies: exactly one of the two is set (checked by [`Policy::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Threshold {
    pub days_since_access: Option<f64>,
    pub days_since_creation: Option<f64>,
}

impl Action {
    pub fn threshold(&self) -> Threshold {
        let (a, c) = match self {
            Action::Demote {
                days_since_access,
                days_since_creation,
                ..
            }
            | Action::StorageClass {
                days_since_access,
                days_since_creation,
                ..
            }
            | Action::Expire {
                days_since_access,
                days_since_creation,
            } => (*days_since_access, *days_since_creation),
        };
        Threshold {
            days_since_access: a,
            days_since_creation: c,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Action::Demote { .. } => "demote",
            Action::StorageClass { .. } => "storage_class",
            Action::Expire { .. } => "expire",
        }
    }
}

/// Storage classes an S3-compatible store accepts, warmest first. Lifecycle transitions only
/// go down this list, as S3's own lifecycle transitions do.
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "INTELLIGENT_TIERING",
    "STANDARD_IA",
    "ONEZONE_IA",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
];

/// Whether moving from `from` to `to` goes to a colder class. An unknown current class (set
/// outside Refract) counts as the warmest.
pub fn is_colder(from: &str, to: &str) -> bool {
    let rank = |c: &str| STORAGE_CLASSES.iter().position(|s| *s == c);
    rank(to) > Some(rank(from).unwrap_or(0))
}

/// Opens what a sweep needs from the configuration: the policy (`policy` overrides
/// `lifecycle.policy`), the metadata store, the originals and the tiers.
pub async fn open(
    config: &crate::config::Config,
    policy: Option<&std::path::Path>,
    clock: crate::clock::Clock,
) -> Result<apply::Lifecycle, String> {
    let path = match policy {
        Some(p) => p.to_owned(),
        None if !config.lifecycle.policy.is_empty() => config.lifecycle.policy.clone().into(),
        None => return Err("no lifecycle policy: set lifecycle.policy or pass --policy".into()),
    };
    let tiers = crate::tiers::Tiers::open(config, clock).await?;
    let originals = crate::storage::Originals::from_config(config)?;
    with_parts(config, &path, originals, std::sync::Arc::new(tiers))
}

/// A sweep over already opened stores (the server's own, or the CLI's): the policy file at
/// `path`, the tiers' metadata store and clock, and the batch and lease from `config`.
pub fn with_parts(
    config: &crate::config::Config,
    path: &std::path::Path,
    originals: crate::storage::Originals,
    tiers: std::sync::Arc<crate::tiers::Tiers>,
) -> Result<apply::Lifecycle, String> {
    let policy = Policy::load(path)?;
    let meta = tiers
        .meta
        .clone()
        .ok_or("the lifecycle needs the metadata store (meta.url is off)")?;
    Ok(apply::Lifecycle {
        policy,
        meta,
        originals,
        clock: tiers.clock.clone(),
        tiers,
        batch: config.lifecycle.batch.max(1),
        lease_ms: lease_ms(config),
    })
}

/// `lifecycle.lease_secs` in milliseconds.
pub fn lease_ms(config: &crate::config::Config) -> i64 {
    i64::try_from(config.lifecycle.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Parses `--now`: Unix milliseconds, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || format!("{s:?}: expected Unix milliseconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, t.strip_suffix('Z').ok_or_else(bad)?),
        None => (s, "00:00:00"),
    };
    let num = |x: &str| x.parse::<i64>().map_err(|_| bad());
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.split(':').collect();
    let ([y, m, dd], [hh, mm, ss]) = (d.as_slice(), t.as_slice()) else {
        return Err(bad());
    };
    let (y, m, dd) = (num(y)?, num(m)?, num(dd)?);
    let (hh, mm, ss) = (num(hh)?, num(mm)?, num(ss)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&dd) || hh > 23 || mm > 59 || ss > 60 {
        return Err(bad());
    }
    // Days from the civil date (proleptic Gregorian), 1970-01-01 = 0.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000)
}

impl Policy {
    /// Parses and checks a policy; every mistake names its rule.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let policy: Policy = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut ids = std::collections::HashSet::new();
        for rule in &policy.rules {
            let at = |m: &str| format!("rule {:?}: {m}", rule.id);
            if rule.id.is_empty() || !ids.insert(rule.id.clone()) {
                return Err(at("ids must be present and unique"));
            }
            if rule.actions.is_empty() {
                return Err(at("has no actions"));
            }
            if let (Some(lo), Some(hi)) = (rule.filter.min_size, rule.filter.max_size) {
                if lo > hi {
                    return Err(at("min_size is larger than max_size"));
                }
            }
            for action in &rule.actions {
                let t = action.threshold();
                match (t.days_since_access, t.days_since_creation) {
                    (Some(d), None) | (None, Some(d)) if d >= 0.0 && d.is_finite() => {}
                    _ => {
                        return Err(at(&format!(
                            "action {} needs exactly one of days_since_access or days_since_creation, not negative",
                            action.name()
                        )))
                    }
                }
                match (action, rule.filter.class) {
                    (Action::Demote { .. }, ClassName::Original) => {
                        return Err(at(
                            "demote applies to variants; originals change storage_class",
                        ))
                    }
                    (Action::StorageClass { .. }, ClassName::Variant) => {
                        return Err(at("storage_class applies to originals"))
                    }
                    (Action::StorageClass { class, .. }, _)
                        if !STORAGE_CLASSES.contains(&class.as_str()) =>
                    {
                        return Err(at(&format!(
                            "unknown storage class {class:?} (one of {})",
                            STORAGE_CLASSES.join(", ")
                        )))
                    }
                    _ => {}
                }
            }
        }
        Ok(policy)
    }

    pub fn load(path: &std::path::Path) -> Result<Policy, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Policy::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests;
