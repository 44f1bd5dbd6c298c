//! Accesses recorded in memory and flushed to the index in batches: one write per
//! object per flush instead of one per request. A crash loses at most one interval of access
//! times, never an object.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::index::{Access, Index};

#[derive(Debug, Default)]
pub struct AccessLog {
    pending: Mutex<HashMap<String, (i64, u64)>>,
}

impl AccessLog {
    pub fn record(&self, id: &str, now_ms: i64) {
        let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(id) {
            Some((t, n)) => {
                *t = (*t).max(now_ms);
                *n += 1;
            }
            None => {
                map.insert(id.to_owned(), (now_ms, 1));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes everything recorded so far; on failure the batch is put back for the next try.
    pub async fn flush(&self, index: &Index) -> crate::index::Result<usize> {
        let batch: Vec<(String, (i64, u64))> = {
            let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            map.drain().collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let accesses: Vec<Access<'_>> = batch
            .iter()
            .map(|(id, (t, n))| Access {
                id,
                last_access_ms: *t,
                hits: *n,
            })
            .collect();
        match index.record_access(&accesses).await {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                for (id, (t, n)) in batch {
                    let entry = map.entry(id).or_insert((t, 0));
                    entry.0 = entry.0.max(t);
                    entry.1 += n;
                }
                Err(e)
            }
        }
    }
}
