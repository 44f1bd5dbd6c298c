//! `refract storage reindex`: rebuilds the metadata store from what the stores hold. The
//! metadata is an index, not the record of what exists: the originals' store, the warm
//! directory and the cold store are.
//!
//! - Every original gets a row (new rows take the object's modification time as created and
//!   last access).
//! - Every variant in warm or cold gets a row from its blob header.
//! - Rows that point at nothing are deleted.
//! - Existing rows keep their access times, hit counts and storage class.
//!
//! Storage classes cannot be read through `object_store`, so a row created by reindex says
//! `STANDARD` until the lifecycle changes it. Rows with a move pending are left to the
//! lifecycle's recovery.

use std::collections::HashSet;

use serde::Serialize;

use crate::meta::{Class, Meta, Record, Tiers as Present};
use crate::storage::Originals;
use crate::tiers::{original_record_id, variant_record, variant_record_id, Tiers};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reindexed {
    pub originals: u64,
    pub variants: u64,
    pub added: u64,
    pub updated: u64,
    pub removed: u64,
}

pub async fn reindex(originals: &Originals, tiers: &Tiers) -> Result<Reindexed, String> {
    let meta = tiers
        .meta
        .as_ref()
        .ok_or("the metadata store is off (meta.url)")?;
    let now = tiers.clock.now_ms();
    let mut report = Reindexed::default();
    let mut present = HashSet::new();

    for (key, size, modified) in originals.list().await.map_err(|e| format!("{e:?}"))? {
        let head = originals
            .head_bytes(&key, 64)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let content_type = refract_core::decode::sniff(&head)
            .map(|f| f.mime_type())
            .unwrap_or("application/octet-stream");
        let id = original_record_id(&key);
        let fresh = Record {
            id: id.clone(),
            class: Class::Original,
            key,
            spec: None,
            tiers: Present::STORE,
            size,
            content_type: content_type.to_owned(),
            storage_class: "STANDARD".into(),
            created_ms: modified,
            last_access_ms: modified,
            hits: 0,
            pending: None,
        };
        upsert_keeping_history(meta, fresh, &mut report).await?;
        present.insert(id);
        report.originals += 1;
    }

    let mut variants: Vec<(String, Present, Option<crate::tiers::blob::Blob>, u64)> = Vec::new();
    if let Some(warm) = &tiers.warm {
        for id in warm.ids() {
            let w = std::sync::Arc::clone(warm);
            let wid = id.clone();
            let blob = tokio::task::spawn_blocking(move || w.get(&wid))
                .await
                .map_err(|e| e.to_string())?;
            if let Some(blob) = blob {
                let size = blob.body.len() as u64;
                variants.push((id, Present::WARM, Some(blob), size));
            }
        }
    }
    if let Some(cold) = &tiers.cold {
        for id in cold.ids().await.map_err(|e| format!("{e:?}"))? {
            if let Some((blob, total)) = cold.header(&id).await.map_err(|e| format!("{e:?}"))? {
                // Only the start was read: the body's size is the object's minus the header.
                let size = total.saturating_sub(blob.header_len() as u64);
                variants.push((id, Present::COLD, Some(blob), size));
            }
        }
    }
    // One row per variant, with every tier it is in.
    variants.sort_by(|a, b| a.0.cmp(&b.0));
    let mut i = 0;
    while i < variants.len() {
        let id = variants[i].0.clone();
        let mut tiers_in = Present::default();
        let mut first = None;
        while i < variants.len() && variants[i].0 == id {
            tiers_in = tiers_in.with(variants[i].1);
            if first.is_none() {
                first = variants[i].2.take().map(|b| (b, variants[i].3));
            }
            i += 1;
        }
        let Some((blob, size)) = first else { continue };
        let fresh = variant_record(
            &id,
            &blob.cache_key,
            tiers_in,
            size,
            &blob.content_type,
            now,
        );
        upsert_keeping_history(meta, fresh, &mut report).await?;
        present.insert(variant_record_id(&id));
        report.variants += 1;
    }

    // Rows that point at nothing.
    let mut after = String::new();
    loop {
        let rows = meta.scan(&after, 1000).await.map_err(|e| e.to_string())?;
        let Some(last) = rows.last() else { break };
        after = last.id.clone();
        for r in rows {
            if !present.contains(&r.id) && r.pending.is_none() {
                meta.delete(&r.id).await.map_err(|e| e.to_string())?;
                report.removed += 1;
            }
        }
    }
    Ok(report)
}

async fn upsert_keeping_history(
    meta: &Meta,
    fresh: Record,
    report: &mut Reindexed,
) -> Result<(), String> {
    match meta.get(&fresh.id).await.map_err(|e| e.to_string())? {
        None => {
            meta.upsert(&fresh).await.map_err(|e| e.to_string())?;
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
                meta.upsert(&merged).await.map_err(|e| e.to_string())?;
                report.updated += 1;
            }
        }
    }
    Ok(())
}
