//! What a row's `pending` column holds while a move of the object is under way: the move's
//! journal (which rule, which action, which phase, since when, and for an original the version
//! it acts on). A claim is the row holding this text; the move advances it through its phases
//! with [`super::Index::finish`].
//!
//! The format lives with the index, below both writers of claims: the lifecycle's sweeper
//! (`lifecycle::sweep`, which also finishes any journal a crash left behind) and the tier
//! chain, which expires a variant under such a claim when an original has more stored variants
//! than `tiers.max_variants_per_original` allows.
//!
//! Claims are stamped with the real clock, never the simulated one of `lifecycle run --now`:
//! the lease that lets a later sweep take over a crashed move is real time.

use serde::{Deserialize, Serialize};

/// A move, as the planner names it and the journal records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Op {
    /// Warm → cold.
    Demote,
    #[serde(rename = "storage_class")]
    SetStorageClass {
        from: String,
        to: String,
    },
    Expire,
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Demote => "demote",
            Op::SetStorageClass { .. } => "storage_class",
            Op::Expire => "expire",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Op::Demote => "warm → cold".into(),
            Op::SetStorageClass { from, to } => format!("{from} → {to}"),
            Op::Expire => "delete".into(),
        }
    }
}

/// A move's entry in its row's `pending` column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    /// The rule's id, or the setting that asked for the move (`tiers.cold_bytes`,
    /// `tiers.max_variants_per_original`).
    pub rule: String,
    pub op: Op,
    pub phase: Phase,
    /// When the move was claimed, in real (system) milliseconds.
    pub started_ms: i64,
    /// For an original: the ETag it had when the move was planned. A move acts only on that
    /// version; an original replaced since is left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Copying (or rewriting, or deleting) the object.
    Move,
    /// The row points at the new copy; the old one is being deleted.
    Cleanup,
}

impl Journal {
    /// A move of `op` for `rule`, claimed now (real time), at its first phase.
    pub fn start(rule: &str, op: Op, version: Option<String>) -> Journal {
        Journal {
            rule: rule.to_owned(),
            op,
            phase: Phase::Move,
            started_ms: crate::runtime::clock::Clock::System.now_ms(),
            version,
        }
    }

    /// The journal's text, as stored in `pending`.
    pub fn text(&self) -> String {
        // A struct of strings, an enum and an integer always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a `pending` text; `None` for one this version did not write.
    pub fn read(text: &str) -> Option<Journal> {
        serde_json::from_str(text).ok()
    }

    /// The same move, at its cleanup phase.
    pub fn at_cleanup(&self) -> Journal {
        Journal {
            phase: Phase::Cleanup,
            ..self.clone()
        }
    }
}
