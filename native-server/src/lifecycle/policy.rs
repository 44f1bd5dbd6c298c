//! The policy file: rules in TOML, checked when loaded (every mistake names its rule).

use serde::Deserialize;

use crate::index::Class;

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

impl Policy {
    /// Parses and checks a policy; every mistake names its rule.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = toml::from_str(text).map_err(|e| PolicyError(e.to_string()))?;
        let mut ids = std::collections::HashSet::new();
        for rule in &policy.rules {
            let at = |m: &str| PolicyError(format!("rule {:?}: {m}", rule.id));
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

    pub fn load(path: &std::path::Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PolicyError(format!("cannot read {}: {e}", path.display())))?;
        Policy::parse(&text).map_err(|e| PolicyError(format!("{}: {}", path.display(), e.0)))
    }
}

/// A policy file that cannot be read or is wrong, with the rule at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}
