//! A move's entry in its row's `pending` column: which rule, which action, which phase, since
//! when. A claim is the row holding this text; the move advances it through its phases with
//! the index's compare-and-set (`Index::finish`).

use serde::{Deserialize, Serialize};

use super::plan::Op;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Journal {
    pub rule: String,
    pub op: Op,
    pub phase: Phase,
    pub started_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Phase {
    /// Copying (or rewriting) the object.
    Move,
    /// The row points at the new copy; the old one is being deleted.
    Cleanup,
}

impl Journal {
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
