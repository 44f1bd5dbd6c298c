//! Tiered storage of variants: hot (memory), warm (a local directory), cold (an object store
//! under a variants prefix). See `docs/storage.md`.
//!
//! - A lookup goes hot → warm → cold; a hit in a lower tier is promoted upward (into memory at
//!   once; from cold into warm in the background).
//! - A new variant goes into memory at once and into the warm tier in the background: the
//!   response never waits for a disk or network write. (Without a warm tier it goes to cold.)
//! - Budgets are bytes, enforced by evicting the least recently used. Eviction from memory
//!   loses nothing (warm holds a copy); eviction from warm demotes to cold when
//!   `tiers.demote_on_evict` is set, else the variant is dropped and regenerated when needed.
//! - Every variant written to warm or cold has a metadata row (`v/<id>`), kept in step with
//!   the tiers it is in; accesses are counted in memory and flushed in batches.

pub mod access;
pub mod blob;
pub mod cold;
pub mod warm;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::app::Variant;
use crate::cache::HotCache;
use crate::clock::Clock;
use crate::meta::{self, Class, Meta, Record};
use access::AccessLog;
use blob::Blob;
use cold::Cold;
use warm::{Evicted, Warm};

/// Where a variant was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Hot,
    Warm,
    Cold,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Hot => "memory",
            Tier::Warm => "warm",
            Tier::Cold => "cold",
        }
    }
}

/// The variant id of a cache key: 32 hex digits of its SHA-256.
pub fn variant_id(cache_key: &str) -> String {
    Sha256::digest(cache_key.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The metadata id of a variant id, and of an original's key.
pub fn variant_record_id(id: &str) -> String {
    format!("v/{id}")
}
pub fn original_record_id(key: &str) -> String {
    format!("o/{key}")
}

#[derive(Debug)]
pub struct Tiers {
    pub hot: HotCache<Variant>,
    pub warm: Option<Arc<Warm>>,
    pub cold: Option<Cold>,
    pub meta: Option<Meta>,
    pub access: AccessLog,
    pub clock: Clock,
    pub demote_on_evict: bool,
    /// Background writes in flight, so tests and shutdown can wait for them.
    background: std::sync::atomic::AtomicUsize,
    settled: tokio::sync::Notify,
}

impl Tiers {
    /// Memory only: no warm, cold or metadata (tests and `cache.memory_bytes`-only setups).
    pub fn memory_only(hot_bytes: usize) -> Tiers {
        Tiers {
            hot: HotCache::new(hot_bytes),
            warm: None,
            cold: None,
            meta: None,
            access: AccessLog::default(),
            clock: Clock::System,
            demote_on_evict: true,
            background: std::sync::atomic::AtomicUsize::new(0),
            settled: tokio::sync::Notify::new(),
        }
    }

    /// Runs `work` off the request path, counted until it finishes.
    fn in_background(
        self: &Arc<Self>,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        use std::sync::atomic::Ordering;
        self.background.fetch_add(1, Ordering::SeqCst);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            work.await;
            if this.background.fetch_sub(1, Ordering::SeqCst) == 1 {
                this.settled.notify_waiters();
            }
        });
    }

    /// Waits until every background write started so far has finished.
    pub async fn settle(&self) {
        use std::sync::atomic::Ordering;
        loop {
            let notified = self.settled.notified();
            if self.background.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Opens the tiers and the metadata store the configuration names.
    pub async fn open(config: &crate::config::Config, clock: Clock) -> Result<Tiers, String> {
        let hot = usize::try_from(config.cache.memory_bytes).unwrap_or(usize::MAX);
        let mut tiers = Tiers::memory_only(hot);
        tiers.clock = clock;
        tiers.demote_on_evict = config.tiers.demote_on_evict;
        if let Some(url) = config.meta_url() {
            let meta = Meta::open(&url).await.map_err(|e| e.to_string())?;
            tiers.meta = Some(meta);
        }
        if let Some(url) = config.cold_url() {
            let opened = crate::storage::open_store(&url, config, true)?;
            let timeout = std::time::Duration::from_millis(config.storage.timeout_ms.max(1));
            let prefix = [opened.prefix.as_str(), config.tiers.cold_prefix.as_str()]
                .iter()
                .filter(|p| !p.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("/");
            tiers.cold = Some(Cold::new(opened.store, &prefix, timeout));
        }
        if let Some(dir) = config.warm_dir() {
            let budget = config.tiers.warm_bytes;
            let open = tokio::task::spawn_blocking(move || Warm::open(&dir, budget))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("warm tier: {e}"))?;
            let (warm, evicted) = open;
            tiers.warm = Some(Arc::new(warm));
            tiers.demote(evicted).await;
        }
        Ok(tiers)
    }

    /// Looks a variant up, tier by tier, promoting what it finds.
    pub async fn lookup(self: &Arc<Self>, cache_key: &str) -> Option<(Arc<Variant>, Tier)> {
        let id = variant_id(cache_key);
        if let Some(v) = self.hot.get(cache_key) {
            self.touch(&id);
            return Some((v, Tier::Hot));
        }
        if let Some(warm) = &self.warm {
            let (warm, wid) = (Arc::clone(warm), id.clone());
            let found = tokio::task::spawn_blocking(move || warm.get(&wid))
                .await
                .ok()
                .flatten();
            if let Some(blob) = found.filter(|b| b.cache_key == cache_key) {
                let v = Arc::new(variant_of(blob));
                self.hot.insert(cache_key.to_owned(), Arc::clone(&v));
                self.touch(&id);
                return Some((v, Tier::Warm));
            }
        }
        if let Some(cold) = &self.cold {
            match cold.get(&id).await {
                Ok(Some(blob)) if blob.cache_key == cache_key => {
                    let v = Arc::new(variant_of(blob.clone()));
                    self.hot.insert(cache_key.to_owned(), Arc::clone(&v));
                    self.touch(&id);
                    let this = Arc::clone(self);
                    self.in_background(async move { this.promote_from_cold(&id, blob).await });
                    return Some((v, Tier::Cold));
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("cold tier read of {id}: {e:?}"),
            }
        }
        None
    }

    /// Keeps a new variant: memory now, the lower tier in the background.
    pub fn store(self: &Arc<Self>, cache_key: &str, v: &Arc<Variant>) {
        self.hot.insert(cache_key.to_owned(), Arc::clone(v));
        if self.warm.is_none() && self.cold.is_none() {
            return;
        }
        let blob = blob_of(cache_key, v);
        let this = Arc::clone(self);
        self.in_background(async move { this.write_lower(blob).await });
    }

    /// Forgets everything cached in memory for an original (after an upload or delete). Lower
    /// tiers are checked against the original's ETag when read, so they cannot serve stale
    /// bytes; the lifecycle expires them.
    pub fn purge_memory(&self, key: &str) {
        self.hot.remove_prefix(&format!("{key}\n"));
    }

    pub fn touch(&self, variant_id: &str) {
        if self.meta.is_some() {
            self.access
                .record(&variant_record_id(variant_id), self.clock.now_ms());
        }
    }

    pub fn touch_original(&self, key: &str) {
        if self.meta.is_some() {
            self.access
                .record(&original_record_id(key), self.clock.now_ms());
        }
    }

    /// Writes recorded accesses to the metadata store.
    pub async fn flush_access(&self) {
        if let Some(meta) = &self.meta {
            if let Err(e) = self.access.flush(meta).await {
                tracing::warn!("flushing access times: {e}");
            }
        }
    }

    async fn write_lower(self: Arc<Self>, blob: Blob) {
        let id = variant_id(&blob.cache_key);
        let size = blob.body.len() as u64;
        let (content_type, cache_key) = (blob.content_type.clone(), blob.cache_key.clone());
        let mut tier = None;
        if let Some(warm) = &self.warm {
            let (warm, wid, b) = (Arc::clone(warm), id.clone(), blob.clone());
            match tokio::task::spawn_blocking(move || warm.put(&wid, &b)).await {
                Ok(Ok(Some(evicted))) => {
                    tier = Some(meta::Tiers::WARM);
                    self.demote(evicted).await;
                }
                Ok(Ok(None)) => {} // too large for warm: cold keeps it
                Ok(Err(e)) => tracing::warn!("warm tier write of {id}: {e}"),
                Err(e) => tracing::warn!("warm tier write of {id}: {e}"),
            }
        }
        if tier.is_none() {
            if let Some(cold) = &self.cold {
                match cold.put(&id, &blob).await {
                    Ok(_) => tier = Some(meta::Tiers::COLD),
                    Err(e) => tracing::warn!("cold tier write of {id}: {e:?}"),
                }
            }
        }
        let (Some(tier), Some(meta)) = (tier, &self.meta) else {
            return;
        };
        let now = self.clock.now_ms();
        let record = variant_record(&id, &cache_key, tier, size, &content_type, now);
        if let Err(e) = meta.upsert(&record).await {
            tracing::warn!("metadata for {id}: {e}");
        }
    }

    /// Moves variants evicted from warm to cold (or drops them), keeping metadata in step.
    /// Copy to cold and verify first; only then does the row stop saying `warm`.
    async fn demote(&self, evicted: Vec<Evicted>) {
        for mut e in evicted {
            let rid = variant_record_id(&e.id);
            let described = e.blob.as_ref().map(|b| {
                (
                    b.cache_key.clone(),
                    b.content_type.clone(),
                    b.body.len() as u64,
                )
            });
            let target = match (&self.cold, e.blob.take(), self.demote_on_evict) {
                (Some(cold), Some(blob), true) => match cold.put(&e.id, &blob).await {
                    Ok(len) if cold.verify(&e.id, len).await.unwrap_or(false) => {
                        Some(meta::Tiers::COLD)
                    }
                    Ok(_) | Err(_) => None,
                },
                _ => None,
            };
            let Some(meta) = &self.meta else { continue };
            let result = match (target, meta.get(&rid).await) {
                (Some(t), Ok(Some(mut r))) => {
                    r.tiers = r.tiers.without(meta::Tiers::WARM).with(t);
                    meta.upsert(&r).await
                }
                // Untracked (expired by another instance while this one kept a warm copy):
                // the cold copy gets a row, so nothing in a store is unknown to the index.
                (Some(t), Ok(None)) => match &described {
                    Some((key, content_type, size)) => {
                        let now = self.clock.now_ms();
                        let r = variant_record(&e.id, key, t, *size, content_type, now);
                        meta.upsert(&r).await
                    }
                    None => Ok(()),
                },
                (None, Ok(Some(_))) => meta.delete(&rid).await.map(drop),
                (_, Ok(None)) => Ok(()),
                (_, Err(e)) => Err(e),
            };
            if let Err(err) = result {
                tracing::warn!("metadata after evicting {}: {err}", e.id);
            }
        }
    }

    async fn promote_from_cold(&self, id: &str, blob: Blob) {
        let Some(warm) = &self.warm else { return };
        let (warm, wid) = (Arc::clone(warm), id.to_owned());
        let written = tokio::task::spawn_blocking(move || warm.put(&wid, &blob)).await;
        let Ok(Ok(Some(evicted))) = written else {
            return;
        };
        self.demote(evicted).await;
        if let Some(meta) = &self.meta {
            let rid = variant_record_id(id);
            if let Ok(Some(mut r)) = meta.get(&rid).await {
                r.tiers = r.tiers.with(meta::Tiers::WARM);
                let _ = meta.upsert(&r).await;
            }
        }
    }
}

/// A variant read back from a lower tier: to be revalidated against its original before use.
fn variant_of(blob: Blob) -> Variant {
    Variant {
        bytes: blob.body,
        content_type: blob.content_type,
        etag: blob.etag,
        original_etag: blob.original_etag,
        server_timing: String::new(),
        checked: std::sync::Mutex::new(None),
    }
}

fn blob_of(cache_key: &str, v: &Variant) -> Blob {
    Blob {
        cache_key: cache_key.to_owned(),
        content_type: v.content_type.clone(),
        etag: v.etag.clone(),
        original_etag: v.original_etag.clone(),
        body: Bytes::clone(&v.bytes),
    }
}

/// The metadata row of a variant: key and spec come from its cache key
/// (`<key>\n<canonical spec>\n<format class>`).
pub fn variant_record(
    id: &str,
    cache_key: &str,
    tiers: meta::Tiers,
    size: u64,
    content_type: &str,
    now_ms: i64,
) -> Record {
    let mut parts = cache_key.splitn(3, '\n');
    let key = parts.next().unwrap_or_default().to_owned();
    let spec = parts.collect::<Vec<_>>().join("|");
    Record {
        id: variant_record_id(id),
        class: Class::Variant,
        key,
        spec: Some(spec),
        tiers,
        size,
        content_type: content_type.to_owned(),
        storage_class: "STANDARD".into(),
        created_ms: now_ms,
        last_access_ms: now_ms,
        hits: 0,
        pending: None,
    }
}

/// Seconds since `t`, or `None` for a variant that was never checked.
pub fn age_of(checked: Option<Instant>) -> Option<std::time::Duration> {
    checked.map(|t| t.elapsed())
}
