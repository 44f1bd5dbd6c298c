//! Tiered storage of variants as one chain: memory, warm (a local directory), cold (an object
//! store under a variants prefix), with the index kept in step. See `docs/storage.md`.
//!
//! [`Chain`] owns every behaviour that crosses tiers; handlers and the lifecycle sweeper call
//! its methods and never reach into a tier:
//!
//! - [`Chain::lookup`] goes memory → warm → cold and promotes what it finds (into memory at
//!   once; from cold into warm in the background).
//! - [`Chain::store`] keeps a new variant: memory at once, the warm tier in the background (the
//!   response never waits for a disk or network write); without a warm tier, cold.
//! - Budgets are bytes, enforced by evicting the least recently used. Eviction from memory
//!   loses nothing (warm holds a copy); what warm evicts is demoted to cold
//!   (`tiers.demote_on_evict`) by the same [`Chain::demote`] the sweeper uses, else dropped
//!   and made again when needed.
//! - [`Chain::expire`] removes a variant from every tier and the index; [`Chain::purge`]
//!   forgets what memory holds for an original.
//! - Every variant in warm or cold has an index row ([`Record::variant`]), kept in step with
//!   the tiers it is in; accesses are counted in memory and flushed in batches.
//!
//! Every tier is addressed by the variant's id ([`VariantKey::id`]), and a variant read back
//! is used only if its stored identity is the one asked for.

pub mod access;
pub mod blob;
pub mod bounds;
mod changes;
pub mod cold;
mod error;
pub mod fleet;
mod fresh;
pub mod memory;
mod moves;
pub mod variant;
pub mod warm;

use std::sync::Arc;

use refract_core::VariantKey;

use crate::config::Config;
use crate::index::{Index, Presence, Record};
use crate::runtime::background::Background;
use crate::runtime::clock::Clock;
use access::AccessLog;
use cold::Cold;
use memory::HotCache;
use warm::Warm;

pub use error::{OpenError, TierError};
pub use fleet::Note;
pub use fresh::Freshness;
pub use moves::Claim;
pub use variant::Variant;

/// Where a variant was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Memory,
    Warm,
    Cold,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Memory => "memory",
            Tier::Warm => "warm",
            Tier::Cold => "cold",
        }
    }
}

/// Bytes and entries held now, for the admin listener's gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub memory_bytes: usize,
    pub memory_entries: usize,
    /// `None` without a warm tier.
    pub warm: Option<(u64, usize)>,
}

/// The tiers, memory first, and the index.
#[derive(Debug)]
pub struct Chain {
    memory: HotCache<Variant>,
    warm: Option<Arc<Warm>>,
    cold: Option<Cold>,
    index: Option<Index>,
    access: AccessLog,
    clock: Clock,
    demote_on_evict: bool,
    /// `tiers.max_variants_per_original` (0: no cap); see [`bounds`].
    max_variants: usize,
    background: Arc<Background>,
    /// Which cached copies may be served without checking their original.
    fresh: Freshness,
}

impl Chain {
    /// Memory only: no warm, cold or index (tests, and setups with the other tiers off).
    pub fn memory_only(memory_bytes: usize, background: Arc<Background>) -> Chain {
        Chain {
            memory: HotCache::new(memory_bytes),
            warm: None,
            cold: None,
            index: None,
            access: AccessLog::default(),
            clock: Clock::System,
            demote_on_evict: true,
            max_variants: 0,
            background,
            fresh: Freshness::alone(),
        }
    }

    /// Opens the tiers and the index the configuration names. Writes run on `background`.
    pub async fn open(
        config: &Config,
        clock: Clock,
        background: Arc<Background>,
    ) -> Result<Chain, OpenError> {
        let memory = usize::try_from(config.cache.memory_bytes).unwrap_or(usize::MAX);
        let mut chain = Chain::memory_only(memory, background);
        chain.clock = clock;
        chain.demote_on_evict = config.tiers.demote_on_evict;
        chain.max_variants = config.tiers.max_variants_per_original;
        if let Some(url) = config.meta_url() {
            let index = Index::open(&url).await.map_err(OpenError::Index)?;
            if index.shared() {
                let window = std::time::Duration::from_millis(config.cache.notify_window_ms);
                chain.fresh = Freshness::fleet(window);
            }
            chain.index = Some(index);
        }
        if let Some(url) = config.cold_url() {
            let opened = crate::objects::open(&url, config, true).map_err(OpenError::Cold)?;
            let timeout = std::time::Duration::from_millis(config.storage.timeout_ms.max(1));
            let prefix = [opened.prefix.as_str(), config.tiers.cold_prefix.as_str()]
                .iter()
                .filter(|p| !p.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("/");
            chain.cold = Some(Cold::new(opened.store, &prefix, timeout));
        }
        if let Some(dir) = config.warm_dir() {
            let budget = config.tiers.warm_bytes;
            let (warm, evicted) = tokio::task::spawn_blocking(move || Warm::open(&dir, budget))
                .await
                .map_err(|e| OpenError::Warm(e.to_string()))?
                .map_err(|e| OpenError::Warm(e.to_string()))?;
            chain.warm = Some(Arc::new(warm));
            chain.demote_evicted(evicted).await;
        }
        Ok(chain)
    }

    /// The index, when one is configured.
    pub fn index(&self) -> Option<&Index> {
        self.index.as_ref()
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Waits until every background write started so far has finished.
    pub async fn settle(&self) {
        self.background.settle().await;
    }

    /// Looks a variant up, tier by tier, promoting what it finds.
    pub async fn lookup(self: &Arc<Self>, key: &VariantKey) -> Option<(Arc<Variant>, Tier)> {
        if let Some(v) = self.memory.get(key.id()).filter(|v| v.key == *key) {
            self.touch(key);
            return Some((v, Tier::Memory));
        }
        let id = key.id().to_owned();
        if let Some(blob) = self.warm_get(&id).await.filter(|b| b.key == *key) {
            let v = Arc::new(Variant::read_back(blob));
            self.memory.insert(id.clone(), Arc::clone(&v));
            self.touch(key);
            return Some((v, Tier::Warm));
        }
        let cold = self.cold.as_ref()?;
        match cold.get(&id).await {
            Ok(Some(blob)) if blob.key == *key => {
                let v = Arc::new(Variant::read_back(blob.clone()));
                self.memory.insert(id.clone(), Arc::clone(&v));
                self.touch(key);
                let this = Arc::clone(self);
                self.background
                    .spawn(async move { this.promote(&id, blob).await });
                Some((v, Tier::Cold))
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!("cold tier read of {id}: {e}");
                None
            }
        }
    }

    /// Keeps a new variant: memory now, the lower tier in the background, then the cap on
    /// its original's stored variants ([`bounds`]).
    pub fn store(self: &Arc<Self>, v: &Arc<Variant>) {
        let id = v.key.id().to_owned();
        self.memory.insert(id, Arc::clone(v));
        if self.warm.is_none() && self.cold.is_none() {
            return;
        }
        let (this, blob) = (Arc::clone(self), v.blob());
        self.background.spawn(async move {
            let key = blob.key.clone();
            Arc::clone(&this).write_lower(blob).await;
            this.bound_variants(&key).await;
        });
    }

    /// Forgets the memory copy of a variant (found stale: its original changed). The lower
    /// tiers' copies are replaced when the new variant is stored.
    pub fn discard(&self, key: &VariantKey) {
        self.memory.remove(key.id());
    }

    pub fn touch_original(&self, key: &str) {
        if self.index.is_some() {
            self.access
                .record(&Record::original_id(key), self.clock.now_ms());
        }
    }

    /// Writes recorded accesses to the index.
    pub async fn flush_access(&self) {
        if let Some(index) = &self.index {
            if let Err(e) = self.access.flush(index).await {
                tracing::warn!("flushing access times: {e}");
            }
        }
    }

    pub fn usage(&self) -> Usage {
        Usage {
            memory_bytes: self.memory.bytes(),
            memory_entries: self.memory.len(),
            warm: self.warm.as_ref().map(|w| (w.bytes(), w.len())),
        }
    }

    /// Whether memory holds the variant with this id.
    pub fn in_memory(&self, id: &str) -> bool {
        self.memory.get(id).is_some()
    }

    /// Whether this instance's warm tier holds the variant with this id.
    pub fn in_warm(&self, id: &str) -> bool {
        self.warm.as_ref().is_some_and(|w| w.contains(id))
    }

    /// Ids in the warm tier, least recently used first.
    pub fn warm_ids(&self) -> Vec<String> {
        self.warm.as_ref().map(|w| w.ids()).unwrap_or_default()
    }

    /// Ids in the cold tier.
    pub async fn cold_ids(&self) -> Result<Vec<String>, TierError> {
        match &self.cold {
            Some(cold) => cold.ids().await,
            None => Ok(Vec::new()),
        }
    }

    /// Every variant the warm and cold tiers hold, with the tiers it is in: what reindexing
    /// rebuilds the index from. Cold blobs are read only as far as their header.
    pub async fn inventory(&self) -> Result<Vec<Stored>, TierError> {
        let mut found: Vec<Stored> = Vec::new();
        for id in self.warm_ids() {
            if let Some(blob) = self.warm_get(&id).await {
                found.push(Stored::of(
                    id,
                    Presence::WARM,
                    &blob,
                    blob.body.len() as u64,
                ));
            }
        }
        if let Some(cold) = &self.cold {
            for id in cold.ids().await? {
                if let Some((blob, total)) = cold.header(&id).await? {
                    // Only the start was read: the body's size is the object's minus the header.
                    let size = total.saturating_sub(blob.header_len() as u64);
                    match found.iter_mut().find(|s| s.id == id) {
                        Some(s) => s.tiers = s.tiers.with(Presence::COLD),
                        None => found.push(Stored::of(id, Presence::COLD, &blob, size)),
                    }
                }
            }
        }
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found)
    }

    /// A warm-tier read on the blocking pool; `None` without a warm tier.
    async fn warm_get(&self, id: &str) -> Option<blob::Blob> {
        let (warm, id) = (Arc::clone(self.warm.as_ref()?), id.to_owned());
        tokio::task::spawn_blocking(move || warm.get(&id))
            .await
            .ok()
            .flatten()
    }
}

/// A variant found in the lower tiers by [`Chain::inventory`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub id: String,
    pub tiers: Presence,
    pub key: VariantKey,
    pub content_type: String,
    /// The image's size, without the blob header.
    pub size: u64,
}

impl Stored {
    fn of(id: String, tiers: Presence, blob: &blob::Blob, size: u64) -> Stored {
        Stored {
            id,
            tiers,
            key: blob.key.clone(),
            content_type: blob.content_type.clone(),
            size,
        }
    }
}
