//! A move's entry in its row's `pending` column: which rule, which action, which phase, since
//! when, and for an original the version (ETag) the move acts on. A claim is the row holding
//! this text; the move advances it through its phases with the index's compare-and-set
//! (`Index::finish`).
//!
//! Claims are stamped with the real clock, never the simulated one of `lifecycle run --now`:
//! the lease that lets a later sweep take over a crashed move is real time.
//!
//! Uploads hold an original's row too ([`UploadHold`]) while they write the object, so an
//! upload and a lifecycle move of the same original never overlap.

use serde::{Deserialize, Serialize};

use super::plan::Op;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Journal {
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

/// An upload's hold on an original's row while it stores the object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadHold {
    /// Real milliseconds.
    pub upload_started_ms: i64,
}

impl UploadHold {
    pub fn now() -> UploadHold {
        UploadHold {
            upload_started_ms: real_now_ms(),
        }
    }

    pub fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn read(text: &str) -> Option<UploadHold> {
        serde_json::from_str(text).ok()
    }
}

/// When a claim started, for any claim this version writes.
pub(crate) fn claim_started_ms(text: &str) -> Option<i64> {
    Journal::read(text)
        .map(|j| j.started_ms)
        .or_else(|| UploadHold::read(text).map(|h| h.upload_started_ms))
}

/// The system clock in milliseconds: leases are real time.
pub(crate) fn real_now_ms() -> i64 {
    crate::runtime::clock::Clock::System.now_ms()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Phase {
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
