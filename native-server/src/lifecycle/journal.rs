//! A move's entry in its row's `pending` column ([`Journal`], whose format lives with the index
//! in `index::journal`, so the tier chain can write one too), and an upload's hold on an
//! original's row ([`UploadHold`]) while it writes the object, so an upload and a lifecycle move
//! of the same original never overlap.
//!
//! Claims are stamped with the real clock, never the simulated one of `lifecycle run --now`:
//! the lease that lets a later sweep take over a crashed move is real time.

use serde::{Deserialize, Serialize};

pub(crate) use crate::index::journal::Journal;

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
