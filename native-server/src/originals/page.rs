//! The originals' listing one page at a time, from a position (the lifecycle's reconcile: a
//! bounded number of keys per sweep, resumed by the next).

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use object_store::ObjectStoreExt;

use super::list::key_of;
use super::{Originals, StorageError};

/// One object of a listed page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its name in the store (the position a next page starts after).
    pub path: String,
    /// The key it was stored under; `None` for a name Refract could not have written.
    pub key: Option<String>,
    pub size: u64,
    /// Last modified, Unix ms.
    pub modified_ms: i64,
}

/// Objects in the store's order (byte order of their names), and whether the listing ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    pub objects: Vec<Listed>,
    pub done: bool,
}

impl Originals {
    /// Up to `limit` objects after the store name `after` (empty: from the start), in byte
    /// order of their names. Object stores list in that order, so a page costs what it holds
    /// (S3: one request per 1,000 keys); a local directory is walked whole and sorted. Each
    /// step of the listing is bounded by the storage timeout.
    pub async fn list_page(&self, after: &str, limit: usize) -> Result<Page, StorageError> {
        let limit = limit.max(1);
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let mut list = if after.is_empty() {
            self.store.list(prefix)
        } else {
            let offset = Path::parse(after)
                .map_err(|e| StorageError::Unavailable(format!("listing position: {e}")))?;
            self.store.list_with_offset(prefix, &offset)
        };
        let skip = self.prefix.parts().count();
        let mut objects = Vec::new();
        let mut ended = false;
        while self.local || objects.len() < limit {
            let next = tokio::time::timeout(self.timeout, list.next())
                .await
                .map_err(|_| StorageError::Unavailable("listing timed out".into()))?;
            let Some(item) = next else {
                ended = true;
                break;
            };
            let meta = item.map_err(|e| StorageError::Unavailable(e.to_string()))?;
            objects.push(Listed {
                key: key_of(&meta.location, skip),
                path: meta.location.to_string(),
                size: meta.size,
                modified_ms: meta.last_modified.timestamp_millis(),
            });
        }
        // Object stores list in order already; a local directory does not.
        objects.sort_by(|a, b| a.path.cmp(&b.path));
        let done = ended && objects.len() <= limit;
        objects.truncate(limit);
        Ok(Page { objects, done })
    }

    /// The first `n` bytes of an original whose size is known (to sniff its type): one ranged
    /// read.
    pub async fn first_bytes(&self, key: &str, size: u64, n: u64) -> Result<Bytes, StorageError> {
        let end = n.min(size);
        if end == 0 {
            return Ok(Bytes::new());
        }
        let path = self.path(key);
        self.bounded(key, self.store.get_range(&path, 0..end)).await
    }
}

impl Originals {
    /// The store name of the original at `key` (a listing position).
    pub fn name_of(&self, key: &str) -> String {
        self.path(key).to_string()
    }
}
