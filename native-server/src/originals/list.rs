//! Listing the originals (for `refract storage reindex`), with stored names turned back into
//! keys.

use futures::StreamExt;
use object_store::path::Path;

use super::{Originals, StorageError};

impl Originals {
    /// Every original: its key (relative to the prefix), size and modification time in Unix
    /// ms. Bounded per page by the storage timeout.
    pub async fn list(&self) -> Result<Vec<(String, u64, i64)>, StorageError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let mut list = self.store.list(prefix);
        let skip = self.prefix.parts().count();
        let mut out = Vec::new();
        loop {
            let next = tokio::time::timeout(self.timeout, list.next())
                .await
                .map_err(|_| StorageError::Unavailable("listing timed out".into()))?;
            let Some(item) = next else { break };
            let meta = item.map_err(|e| StorageError::Unavailable(e.to_string()))?;
            match key_of(&meta.location, skip) {
                Some(key) => out.push((key, meta.size, meta.last_modified.timestamp_millis())),
                None => tracing::warn!(
                    name = %meta.location,
                    "an object whose name is no key Refract stores is left out"
                ),
            }
        }
        Ok(out)
    }
}

/// The key an object was stored under: `object_store` percent-encodes characters a backend
/// cannot hold literally (`~`, `#`, `%`, `?`, …) in each path part, so each part is decoded
/// back, and checked as a key segment. A name Refract could not have written (one whose part
/// decodes to a `/`, or to a segment keys refuse) is `None`.
pub(super) fn key_of(location: &Path, skip: usize) -> Option<String> {
    let mut parts = Vec::new();
    for part in location.parts().skip(skip) {
        let segment = refract_core::url::decode_key(part.as_ref()).ok()?;
        if segment.contains('/') {
            return None;
        }
        parts.push(segment);
    }
    Some(parts.join("/"))
}
