//! Changes of originals as the tiers see them: stored (uploaded or replaced), deleted, purged,
//! and what decides whether a cached copy may still be served. Each change forgets this
//! instance's copies and is announced to the fleet ([`super::fleet`]).

use std::sync::Arc;

use super::{Chain, Note};
use crate::index::{IndexError, Record};

impl Chain {
    /// Whether a copy of a variant of the original at `key`, confirmed at `checked`, may be
    /// served without checking the original ([`Freshness`]).
    pub fn trusted(
        &self,
        key: &str,
        checked: Option<std::time::Instant>,
        revalidate: std::time::Duration,
    ) -> bool {
        self.fresh.trusted(key, checked, revalidate)
    }

    /// Whether this instance hears of changes made through the others (always true alone).
    pub fn fleet_channel_ok(&self) -> bool {
        self.fresh.channel_ok()
    }

    /// An original was stored (uploaded, or replaced): every instance forgets its copies of
    /// the old one's variants (lower tiers are checked against the new version when read and
    /// replaced), the index records it.
    pub async fn original_stored(&self, key: &str, size: u64, content_type: &str) {
        if let Some(index) = &self.index {
            let record = Record::original(key, size, content_type, self.clock.now_ms());
            // The object is stored; an index failure is repaired by `refract storage reindex`.
            if let Err(e) = index.upsert(&record).await {
                tracing::warn!("index row for upload {key}: {e}");
            }
        }
        self.announce(Note {
            key: key.to_owned(),
            prefix: false,
            ids: Vec::new(),
        })
        .await;
    }

    /// An original was deleted: its variants go from every tier and the index, its row goes,
    /// and every instance forgets its copies.
    pub async fn original_deleted(&self, key: &str) -> Result<(), IndexError> {
        // The note announcing it (sent before the row goes) makes every instance, this one
        // included, drop its pending access of the original, so that a read just before the
        // delete does not register the original again at the next flush of access times.
        let removed = self.remove_variants(key, false).await;
        if let Some(index) = &self.index {
            index.delete(&Record::original_id(key)).await?;
        }
        removed.map(drop)
    }

    /// Removes every stored variant of the original at `key` (with `prefix`, of every original
    /// under it) from every tier and the index, on every instance; returns how many the index
    /// knew of. The originals stay: what is asked for again is made again.
    pub async fn purge(&self, key: &str, prefix: bool) -> Result<usize, IndexError> {
        self.remove_variants(key, prefix).await
    }

    async fn remove_variants(&self, key: &str, prefix: bool) -> Result<usize, IndexError> {
        let mut ids = Vec::new();
        let mut failed = None;
        if let Some(index) = &self.index {
            let mut after = String::new();
            loop {
                let rows = index.variants_under(key, &after, 500).await?;
                let Some(last) = rows.last() else { break };
                after = last.id.clone();
                for row in rows.iter().filter(|r| prefix || r.key == key) {
                    let Some(id) = Record::variant_id_of(&row.id) else {
                        continue;
                    };
                    if let Err(e) = self.expire(id).await {
                        tracing::warn!("removing variant {id} of {}: {e}", row.key);
                        failed = Some(e);
                    }
                    ids.push(id.to_owned());
                }
            }
        }
        let count = ids.len();
        self.announce(Note {
            key: key.to_owned(),
            prefix,
            ids,
        })
        .await;
        match failed {
            // The row of a variant whose removal failed stays, so a retry finds it.
            Some(e) => Err(IndexError::Backend(e.to_string())),
            None => Ok(count),
        }
    }

    /// Whether the index and the cold tier answer (`/ready`): a trivial query, and a `HEAD`
    /// of an object that need not exist.
    pub async fn ready(&self) -> Result<(), String> {
        if let Some(index) = &self.index {
            index
                .cursor("ready")
                .await
                .map_err(|e| format!("metadata store: {e}"))?;
        }
        if let Some(cold) = &self.cold {
            cold.contains("ready-probe")
                .await
                .map_err(|e| format!("cold tier: {e}"))?;
        }
        if !self.fresh.channel_ok() {
            return Err("not listening to the fleet's changes".into());
        }
        Ok(())
    }

    /// Drops a warm file (a variant removed through another instance).
    pub(super) async fn warm_drop(&self, id: &str) {
        let Some(warm) = &self.warm else { return };
        let (warm, id) = (Arc::clone(warm), id.to_owned());
        if let Err(e) = tokio::task::spawn_blocking(move || warm.remove(&id)).await {
            tracing::warn!("warm tier removal: {e}");
        }
    }
}
