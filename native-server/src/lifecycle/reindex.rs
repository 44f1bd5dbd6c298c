//! `refract storage reindex`: rebuilds the index (metadata store) from what the stores hold. The
//! metadata is an index, not the record of what exists: the originals' store, the warm
//! directory and the cold store are.
//!
//! - Every original gets a row (new rows take the object's modification time as created and
//!   last access).
//! - Every variant in warm or cold gets a row from its blob header (its identity).
//! - Rows that point at nothing are deleted.
//! - Existing rows keep their access times, hit counts and storage class.
//!
//! Storage classes cannot be read through `object_store`, so a row created by reindex says
//! `STANDARD` until the lifecycle changes it. Rows with a move pending are left to the
//! lifecycle's recovery.

use std::collections::HashSet;

use serde::Serialize;

use crate::index::{Index, IndexError, Record};
use crate::originals::{Originals, StorageError};
use crate::tiers::{Chain, TierError};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reindexed {
    pub originals: u64,
    pub variants: u64,
    pub added: u64,
    pub updated: u64,
    pub removed: u64,
}

/// Why a reindex stopped.
#[derive(Debug)]
pub enum ReindexError {
    /// `meta.url` is off: there is no index to rebuild.
    NoIndex,
    Originals(StorageError),
    Tiers(TierError),
    Index(IndexError),
}

impl std::fmt::Display for ReindexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReindexError::NoIndex => f.write_str("the metadata store is off (meta.url)"),
            ReindexError::Originals(e) => write!(f, "listing originals: {e}"),
            ReindexError::Tiers(e) => write!(f, "listing variants: {e}"),
            ReindexError::Index(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReindexError {}

impl From<IndexError> for ReindexError {
    fn from(e: IndexError) -> Self {
        ReindexError::Index(e)
    }
}

pub async fn reindex(originals: &Originals, chain: &Chain) -> Result<Reindexed, ReindexError> {
    let index = chain.index().ok_or(ReindexError::NoIndex)?;
    let now = chain.clock().now_ms();
    let mut report = Reindexed::default();
    let mut present = HashSet::new();

    for (key, size, modified) in originals.list().await.map_err(ReindexError::Originals)? {
        let head = originals
            .head_bytes(&key, 64)
            .await
            .map_err(ReindexError::Originals)?;
        let content_type = refract_core::decode::sniff(&head)
            .map(|f| f.mime_type())
            .unwrap_or("application/octet-stream");
        // New rows take the object's modification time as created and last access.
        let fresh = Record::original(&key, size, content_type, modified);
        present.insert(fresh.id.clone());
        upsert_keeping_history(index, fresh, &mut report).await?;
        report.originals += 1;
    }

    for stored in chain.inventory().await.map_err(ReindexError::Tiers)? {
        let fresh = Record::variant(
            &stored.key,
            stored.tiers,
            stored.size,
            &stored.content_type,
            now,
        );
        // A blob under another name than its identity's (copied by hand) is not indexed.
        if fresh.id != Record::variant_id(&stored.id) {
            continue;
        }
        present.insert(fresh.id.clone());
        upsert_keeping_history(index, fresh, &mut report).await?;
        report.variants += 1;
    }

    // Rows that point at nothing.
    let mut after = String::new();
    loop {
        let rows = index.scan(&after, 1000).await?;
        let Some(last) = rows.last() else { break };
        after = last.id.clone();
        for r in rows {
            if !present.contains(&r.id) && r.pending.is_none() {
                index.delete(&r.id).await?;
                report.removed += 1;
            }
        }
    }
    Ok(report)
}

async fn upsert_keeping_history(
    index: &Index,
    fresh: Record,
    report: &mut Reindexed,
) -> Result<(), ReindexError> {
    match index.get(&fresh.id).await? {
        None => {
            index.upsert(&fresh).await?;
            report.added += 1;
        }
        Some(old) if old.pending.is_some() => {}
        Some(old) => {
            let merged = Record {
                created_ms: old.created_ms,
                last_access_ms: old.last_access_ms,
                hits: old.hits,
                storage_class: old.storage_class.clone(),
                ..fresh
            };
            if merged != old {
                index.upsert(&merged).await?;
                report.updated += 1;
            }
        }
    }
    Ok(())
}
