//! The tiers' and the lifecycle's settings (see `docs/storage.md` and `docs/lifecycle.md`),
//! with the bounds the stored variants are kept within by default.

use serde::{Deserialize, Serialize};

/// Where variants are kept besides memory (see `docs/storage.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TiersConfig {
    /// Warm tier directory; empty means `<data_dir>/warm`, `off` disables the tier.
    pub warm_dir: String,
    /// Byte budget of the warm tier.
    pub warm_bytes: u64,
    /// Cold tier: an object store URL (as for `originals`); empty means `<data_dir>/cold`,
    /// `off` disables the tier.
    pub cold: String,
    /// Prefix of variants inside the cold store.
    pub cold_prefix: String,
    /// Whether a variant evicted from warm is moved to cold (true) or dropped (false).
    pub demote_on_evict: bool,
    /// Byte budget of the cold tier, kept by each lifecycle sweep expiring the least recently
    /// used cold variants (it runs without a policy too); 0: no budget.
    pub cold_bytes: u64,
    /// Variants stored (warm or cold) per original; storing one more expires the original's
    /// least recently used other. 0: no cap.
    pub max_variants_per_original: usize,
}

impl Default for TiersConfig {
    fn default() -> Self {
        TiersConfig {
            warm_dir: String::new(),
            warm_bytes: 1024 * 1024 * 1024,
            cold: String::new(),
            cold_prefix: "variants".into(),
            demote_on_evict: true,
            cold_bytes: 10 * 1024 * 1024 * 1024,
            max_variants_per_original: 64,
        }
    }
}

/// The lifecycle sweeper (see `docs/lifecycle.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// Policy file; empty means no rules (the server's sweeps still reconcile the index with
    /// the originals' store and keep the cold tier within `tiers.cold_bytes`).
    pub policy: String,
    /// Seconds between sweeps of the running server; 0 runs none (use `refract lifecycle run`).
    pub interval_secs: u64,
    /// Rows per batch; the cursor is saved after each.
    pub batch: usize,
    /// Age after which a move's claim counts as abandoned (its sweeper crashed) and the next
    /// sweep finishes it.
    pub lease_secs: u64,
    /// Moves a sweep runs at once (within a batch, and for the cold budget and the
    /// reconcile's storage calls).
    pub concurrency: usize,
    /// Keys of the originals' store listing compared with the index per sweep (registering
    /// objects without a row, dropping rows of objects gone), resuming where the last sweep
    /// stopped; 0: no reconcile.
    pub reconcile_keys: usize,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            policy: String::new(),
            interval_secs: 3600,
            batch: 500,
            lease_secs: 600,
            concurrency: 16,
            reconcile_keys: 10_000,
        }
    }
}
