//! The reconcile: the index compared with the originals' store, a page of its listing per
//! sweep, so the rules apply to every object in the bucket (as S3's lifecycle rules do), not
//! only to those uploaded through Refract or read since.
//!
//! Each sweep lists up to `lifecycle.reconcile_keys` objects after the saved position (the
//! cursor `reconcile`), in the store's order (byte order of the names), and:
//! - **registers** every listed object that has no row: created at its last-modified time
//!   (so `days_since_creation` counts from when it was put in the bucket), type sniffed from
//!   its first bytes (one ranged read, only for objects without a row);
//! - **forgets** the rows of originals in the same stretch of keys that the listing no longer
//!   holds, once a `HEAD` confirms the object is gone, and only if no move or upload holds the
//!   row. The object is never touched; its variants are checked against it when read (so they
//!   are never served) and leave with the rules and budgets.
//!
//! The stretch of keys a page covers runs from the last key compared to the page's last key
//! (to the end of the keys when the listing ended). Keys compare in byte order in the index
//! too, so the stretches of successive pages cover every key once per cycle; a key whose name
//! the store escapes may sort elsewhere, which at worst costs a confirming `HEAD`. After the
//! last page the position goes back to the start. A stop between sweeps loses nothing: the
//! position is saved after each page.

use std::collections::HashSet;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::sweep::{Report, Sweeper};
use super::SweepError;
use crate::index::Record;
use crate::metrics as m;
use crate::originals::page::Listed;
use crate::originals::StorageError;

/// The cursor's name in the index.
pub const RECONCILE_CURSOR: &str = "reconcile";

/// Bytes read to tell a newly found object's type.
const SNIFF: u64 = 64;

/// Where the next page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    /// The store name the next listing starts after (empty: the start).
    path: String,
    /// The key the index has been compared up to.
    key: String,
}

impl Sweeper {
    /// One page of the reconcile (nothing when `reconcile_keys` is 0).
    pub(super) async fn reconcile(&self, report: &mut Report) -> Result<(), SweepError> {
        if self.reconcile_keys == 0 {
            return Ok(());
        }
        let at: Position = self
            .index
            .cursor(RECONCILE_CURSOR)
            .await?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        let page = self
            .originals
            .list_page(&at.path, self.reconcile_keys)
            .await
            .map_err(SweepError::Listing)?;
        let listed: Vec<(&str, &Listed)> = page
            .objects
            .iter()
            .filter_map(|o| o.key.as_deref().map(|k| (k, o)))
            .collect();

        // The stretch of keys this page covers, and where the next one starts.
        let mut until = match (page.done, listed.last()) {
            (true, _) => None,
            (false, Some((last, _))) => Some((*last).to_owned()),
            (false, None) => Some(at.key.clone()),
        };
        let mut next = Position {
            path: page
                .objects
                .last()
                .map_or(at.path.clone(), |o| o.path.clone()),
            key: until.clone().unwrap_or_default(),
        };
        // Rows for the listed keys, and as many again of objects gone.
        let most = self.reconcile_keys.saturating_mul(2);
        let window = self
            .index
            .originals_between(&at.key, until.as_deref(), most)
            .await?;
        if let Some(last) = window.last().filter(|_| window.len() >= most) {
            // More rows than a page: this sweep compares up to the last one read, and the
            // next lists again from there.
            until = Some(last.key.clone());
            next = Position {
                path: self.originals.name_of(&last.key),
                key: last.key.clone(),
            };
        } else if page.done {
            next = Position::default();
        }
        tracing::debug!(from = %at.key, to = ?until, listed = listed.len(), rows = window.len(), "reconcile");

        self.register_new(&listed, report).await?;
        let present: HashSet<&str> = listed.iter().map(|(k, _)| *k).collect();
        let missing: Vec<&Record> = window
            .iter()
            .filter(|r| !present.contains(r.key.as_str()) && r.pending.is_none())
            .collect();
        self.forget_gone(&missing, report).await;

        let text = serde_json::to_string(&next).unwrap_or_default();
        self.index.set_cursor(RECONCILE_CURSOR, &text).await?;
        Ok(())
    }

    /// Registers the listed objects that have no row.
    async fn register_new(
        &self,
        listed: &[(&str, &Listed)],
        report: &mut Report,
    ) -> Result<(), SweepError> {
        let ids: Vec<String> = listed.iter().map(|(k, _)| Record::original_id(k)).collect();
        let known = self.index.existing(&ids).await?;
        let added: Vec<_> = listed
            .iter()
            .zip(&ids)
            .filter(|(_, id)| !known.contains(*id))
            .map(|((key, object), _)| self.register(key, object))
            .collect();
        let mut added = futures::stream::iter(added).buffer_unordered(self.concurrency.max(1));
        while let Some(result) = added.next().await {
            match result {
                Ok(true) => {
                    report.registered += 1;
                    metrics::counter!(m::LIFECYCLE_ACTIONS, "rule" => "reconcile", "action" => "register", "outcome" => "applied")
                        .increment(1);
                }
                Ok(false) => {}
                Err(e) => {
                    report.failed += 1;
                    metrics::counter!(m::LIFECYCLE_ERRORS, "rule" => "reconcile").increment(1);
                    tracing::warn!("reconcile: registering {e}");
                }
            }
        }
        Ok(())
    }

    /// A row for one listed object; `false` when it went in between or got a row meanwhile.
    async fn register(&self, key: &str, object: &Listed) -> Result<bool, String> {
        let first = match self.originals.first_bytes(key, object.size, SNIFF).await {
            Ok(bytes) => bytes,
            Err(StorageError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(format!("{key}: {e}")),
        };
        let content_type = refract_core::decode::sniff(&first)
            .map(|f| f.mime_type())
            .unwrap_or("application/octet-stream");
        let row = Record::original(key, object.size, content_type, object.modified_ms);
        self.index
            .insert_new(&row)
            .await
            .map_err(|e| format!("{key}: {e}"))
    }

    /// Drops the rows whose object a `HEAD` confirms gone.
    async fn forget_gone(&self, rows: &[&Record], report: &mut Report) {
        let checked: Vec<_> = rows
            .iter()
            .map(|row| async move {
                match self.originals.head(&row.key).await {
                    Err(StorageError::NotFound(_)) => self
                        .index
                        .forget(&row.id)
                        .await
                        .map_err(|e| format!("{}: {e}", row.id)),
                    Ok(_) => Ok(false),
                    Err(e) => Err(format!("{}: {e}", row.id)),
                }
            })
            .collect();
        let mut checked = futures::stream::iter(checked).buffer_unordered(self.concurrency.max(1));
        while let Some(result) = checked.next().await {
            match result {
                Ok(true) => {
                    report.forgotten += 1;
                    metrics::counter!(m::LIFECYCLE_ACTIONS, "rule" => "reconcile", "action" => "forget", "outcome" => "applied")
                        .increment(1);
                }
                Ok(false) => {}
                Err(e) => {
                    report.failed += 1;
                    metrics::counter!(m::LIFECYCLE_ERRORS, "rule" => "reconcile").increment(1);
                    tracing::warn!("reconcile: checking {e}");
                }
            }
        }
    }
}
