//! The cold tier: variants as objects in an object store under a prefix (by default a local
//! directory in the data dir; in production a bucket, possibly another than the originals').
//! Every call is bounded by the storage timeout, like the originals' store.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::blob::Blob;
use super::TierError;

#[derive(Debug, Clone)]
pub struct Cold {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    timeout: Duration,
}

impl Cold {
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, timeout: Duration) -> Cold {
        Cold {
            store,
            prefix: Path::from(prefix.trim_matches('/')),
            timeout,
        }
    }

    fn path(&self, id: &str) -> Path {
        self.prefix.clone().join(id)
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = object_store::Result<T>>,
    ) -> Result<Option<T>, TierError> {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(TierError::Cold("cold tier timed out".into())),
            Ok(Err(object_store::Error::NotFound { .. })) => Ok(None),
            Ok(Err(e)) => Err(TierError::Cold(e.to_string())),
            Ok(Ok(v)) => Ok(Some(v)),
        }
    }

    /// The variant, or `None` when it is not in this tier (or unreadable).
    pub async fn get(&self, id: &str) -> Result<Option<Blob>, TierError> {
        let Some(result) = self.bounded(self.store.get(&self.path(id))).await? else {
            return Ok(None);
        };
        let bytes: Option<Bytes> = self.bounded(result.bytes()).await?;
        Ok(bytes.and_then(Blob::decode))
    }

    /// The variant's header (identity and content type) and size, reading only its start
    /// when the header fits in it.
    pub async fn header(&self, id: &str) -> Result<Option<(Blob, u64)>, TierError> {
        let path = self.path(id);
        let Some(meta) = self.bounded(self.store.head(&path)).await? else {
            return Ok(None);
        };
        let start = self
            .bounded(self.store.get_range(&path, 0..meta.size.min(8192)))
            .await?;
        if let Some(blob) = start.and_then(Blob::decode) {
            return Ok(Some((blob, meta.size)));
        }
        Ok(self.get(id).await?.map(|b| (b, meta.size)))
    }

    /// Whether the variant is present and complete (its size matches `len`).
    pub async fn verify(&self, id: &str, len: u64) -> Result<bool, TierError> {
        let meta = self.bounded(self.store.head(&self.path(id))).await?;
        Ok(meta.is_some_and(|m| m.size == len))
    }

    /// Whether the variant is in the tier.
    pub async fn contains(&self, id: &str) -> Result<bool, TierError> {
        Ok(self
            .bounded(self.store.head(&self.path(id)))
            .await?
            .is_some())
    }

    pub async fn put(&self, id: &str, blob: &Blob) -> Result<u64, TierError> {
        let data = blob.encode();
        let len = data.len() as u64;
        let path = self.path(id);
        self.bounded(self.store.put(&path, PutPayload::from(data)))
            .await?;
        Ok(len)
    }

    pub async fn delete(&self, id: &str) -> Result<(), TierError> {
        self.bounded(self.store.delete(&self.path(id)))
            .await
            .map(drop)
    }

    /// Ids of every variant in the tier, for reindexing.
    pub async fn ids(&self) -> Result<Vec<String>, TierError> {
        let mut list = self.store.list(Some(&self.prefix));
        let mut out = Vec::new();
        while let Some(item) = tokio::time::timeout(self.timeout, list.next())
            .await
            .map_err(|_| TierError::Cold("cold tier listing timed out".into()))?
        {
            let meta = item.map_err(|e| TierError::Cold(e.to_string()))?;
            if let Some(name) = meta.location.filename() {
                out.push(name.to_owned());
            }
        }
        Ok(out)
    }
}
