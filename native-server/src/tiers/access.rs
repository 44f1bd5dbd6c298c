//! Accesses recorded in memory and flushed to the index in batches: one write per
//! object per flush instead of one per request. A crash loses at most one interval of access
//! times, never an object.
//!
//! - **A variant's use is a use of its original.** A hit (memory, warm or cold) records an
//!   access of the variant and of its original; reading an original (to make a variant, or to
//!   send it untouched) records an access of it. So access-based rules on originals see every
//!   image in use, whether it is downloaded or only served through variants.
//! - **Originals are registered the first time they are read.** A read also notes what the
//!   store said about the object (size, type, last modified). The flush learns from the same
//!   batched update which ids have no row, and inserts a row for each original among them that
//!   was read (created at its last-modified time), so an object put into the bucket behind the
//!   server's back comes under the lifecycle's rules as soon as it is used. No request waits
//!   for, or adds, a write of its own.

use std::collections::HashMap;
use std::sync::Mutex;

use refract_core::VariantKey;

use super::Chain;
use crate::index::{Access, Index, Record};

/// What a read learned about an original, for its row if it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub size: u64,
    pub content_type: &'static str,
    /// The object's last-modified time (Unix ms), when the store gave one.
    pub modified_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    last_access_ms: i64,
    hits: u64,
    seen: Option<Seen>,
}

#[derive(Debug, Default)]
pub struct AccessLog {
    pending: Mutex<HashMap<String, Pending>>,
}

impl AccessLog {
    pub fn record(&self, id: &str, now_ms: i64) {
        self.add(id, now_ms, 1, None);
    }

    /// An access of an original that was just read, with what the read learned about it.
    pub fn record_read(&self, id: &str, now_ms: i64, seen: Seen) {
        self.add(id, now_ms, 1, Some(seen));
    }

    fn add(&self, id: &str, at_ms: i64, hits: u64, seen: Option<Seen>) {
        let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(id) {
            Some(p) => {
                p.last_access_ms = p.last_access_ms.max(at_ms);
                p.hits += hits;
                p.seen = seen.or(p.seen);
            }
            None => {
                let p = Pending {
                    last_access_ms: at_ms,
                    hits,
                    seen,
                };
                map.insert(id.to_owned(), p);
            }
        }
    }

    /// Drops what is pending for `id` (its object was deleted: a flush must not register it
    /// again).
    pub fn forget(&self, id: &str) {
        let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(id);
    }

    pub fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes everything recorded so far, and registers the originals read that have no row;
    /// on failure the batch (or the rows not registered) is put back for the next try.
    /// Returns the number of objects written.
    pub async fn flush(&self, index: &Index) -> crate::index::Result<usize> {
        let batch: Vec<(String, Pending)> = {
            let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            map.drain().collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let accesses: Vec<Access<'_>> = batch
            .iter()
            .map(|(id, p)| Access {
                id,
                last_access_ms: p.last_access_ms,
                hits: p.hits,
            })
            .collect();
        let missing = match index.record_access_missing(&accesses).await {
            Ok(missing) => missing,
            Err(e) => {
                self.put_back(batch.iter());
                return Err(e);
            }
        };
        let by_id: HashMap<&str, &Pending> = batch.iter().map(|(id, p)| (id.as_str(), p)).collect();
        let mut failed = None;
        for id in &missing {
            let Some(p) = by_id.get(id.as_str()) else {
                continue;
            };
            let Some(record) = registration(id, p) else {
                continue; // a variant's row, gone (expired); or an original never read
            };
            if let Err(e) = index.insert_new(&record).await {
                // Its access was not recorded either (it had no row): both are tried again.
                self.add(id, p.last_access_ms, p.hits, p.seen);
                failed = Some(e);
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(batch.len()),
        }
    }

    fn put_back<'a>(&self, entries: impl Iterator<Item = &'a (String, Pending)>) {
        for (id, p) in entries {
            self.add(id, p.last_access_ms, p.hits, p.seen);
        }
    }
}

/// The row of an original first seen by a read: created when the store last modified it (else
/// when it was read), last accessed by these reads.
fn registration(id: &str, p: &Pending) -> Option<Record> {
    let key = id.strip_prefix("o/")?;
    let seen = p.seen?;
    let created = seen.modified_ms.unwrap_or(p.last_access_ms);
    let mut record = Record::original(key, seen.size, seen.content_type, created);
    record.last_access_ms = p.last_access_ms.max(created);
    record.hits = p.hits;
    Some(record)
}

impl Chain {
    /// A hit of a variant (memory, warm or cold): an access of it, and of its original.
    pub(super) fn touch(&self, key: &VariantKey) {
        if self.index.is_some() {
            let now = self.clock.now_ms();
            self.access.record(&Record::variant_id(key.id()), now);
            self.access.record(&Record::original_id(key.key()), now);
        }
    }

    /// An original was read from the store (to make a variant, or to send it untouched): an
    /// access of it, and, if it has no row yet, its registration at the next flush. `first`
    /// is the start of its bytes (enough to tell its type); `modified_ms` the store's
    /// last-modified time.
    pub fn original_read(&self, key: &str, size: u64, modified_ms: Option<i64>, first: &[u8]) {
        if self.index.is_none() {
            return;
        }
        let content_type = refract_core::decode::sniff(first)
            .map(|f| f.mime_type())
            .unwrap_or("application/octet-stream");
        let seen = Seen {
            size,
            content_type,
            modified_ms,
        };
        self.access
            .record_read(&Record::original_id(key), self.clock.now_ms(), seen);
    }
}
