//! Lifecycle policies: rules in TOML, in the spirit of S3 lifecycle rules and Azure's
//! last-access rules, applied by a sweeper to the rows of the metadata store.
//!
//! ```toml
//! [[rule]]
//! id = "variants"
//! filter = { class = "variant", prefix = "photos/" }
//! actions = [
//!   { type = "demote", to = "cold", days_since_access = 7 },
//!   { type = "expire", days_since_access = 90 },
//! ]
//! ```
//!
//! - A rule has an `id`, a `filter` (class, required; key `prefix`; `min_size`/`max_size` in
//!   bytes) and `actions`, each with one threshold: `days_since_access` or `days_since_creation`.
//! - Actions: `demote` (a variant from warm to cold), `storage_class` (an original's class in
//!   the object store: `STANDARD_IA`, `GLACIER_IR`, …), and `expire` (delete). Promotion back to
//!   memory happens on every access and needs no rule.
//! - Of all actions whose rule matches and whose threshold is met, the strongest one that would
//!   change something is taken: expire, then demote, then storage class. So applying a plan
//!   twice does what applying it once did.
//! - An original is only ever deleted by a rule whose filter says `class = "original"` and
//!   whose action is `expire`: the class is required, so no rule matches originals by accident.
//!
//! - Beyond the rules, every sweep of the server reconciles the index with the originals'
//!   store ([`reconcile`]: objects put in the bucket behind Refract's back get a row, rows of
//!   objects gone are dropped) and keeps the cold tier within its byte budget ([`budget`]).
//!
//! The parts: [`policy`] (the file), [`plan`] (which action applies to a row, pure), [`sweep`]
//! (the sweeper: its passes, and moves applied `concurrency` at a time), [`moves`] (each move,
//! journaled in [`journal`]'s form), [`reconcile`], [`budget`], [`background`] (the server's
//! sweeps), [`reindex`] (rebuilding the index from the stores). The moves between tiers
//! themselves are the tier chain's.

pub mod background;
pub mod budget;
pub(crate) mod journal;
mod moves;
pub mod plan;
pub mod policy;
pub mod reconcile;
mod recover;
pub mod reindex;
pub mod sweep;

use std::sync::Arc;

use crate::config::Config;
use crate::index::IndexError;
use crate::originals::{Originals, StorageError};
use crate::runtime::clock::Clock;
use crate::tiers::{Chain, TierError};
pub use policy::{Policy, PolicyError};
pub use sweep::{Report, Sweeper};

/// Opens what a sweep needs from the configuration: the policy (`policy` overrides
/// `lifecycle.policy`), the originals, and the tiers with their index (run on `background`).
pub async fn open(
    config: &Config,
    policy: Option<&std::path::Path>,
    clock: Clock,
    background: Arc<crate::runtime::background::Background>,
) -> Result<Sweeper, SweepError> {
    let path = match policy {
        Some(p) => p.to_owned(),
        None if !config.lifecycle.policy.is_empty() => config.lifecycle.policy.clone().into(),
        None => return Err(SweepError::NoPolicy),
    };
    let chain = Chain::open(config, clock, background)
        .await
        .map_err(|e| SweepError::Open(e.to_string()))?;
    let originals = Originals::from_config(config).map_err(|e| SweepError::Open(e.to_string()))?;
    Sweeper::new(config, Policy::load(&path)?, originals, Arc::new(chain))
}

/// What went wrong in a sweep, or in one of its moves: the phase and the object.
#[derive(Debug)]
pub enum SweepError {
    /// Neither `lifecycle.policy` nor `--policy` names a policy.
    NoPolicy,
    Policy(PolicyError),
    /// The stores or the index could not be opened.
    Open(String),
    /// The lifecycle needs the index, and `meta.url` is off.
    NoIndex,
    /// Reading or writing the index (scans, claims, the cursor).
    Index(IndexError),
    /// Listing the originals' store (the reconcile).
    Listing(StorageError),
    /// A move of one object failed.
    Move {
        id: String,
        action: &'static str,
        cause: MoveError,
    },
}

/// Why a move failed.
#[derive(Debug)]
pub enum MoveError {
    Storage(StorageError),
    Tier(TierError),
    Index(IndexError),
    /// Another sweeper took the claim over.
    ClaimLost,
    /// The original was replaced since the move was planned: the move was given up and the
    /// new version left alone.
    Replaced,
    /// The action does not apply to the object's class (a journal this version cannot run).
    NotApplicable(&'static str),
}

impl std::fmt::Display for SweepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SweepError::NoPolicy => {
                f.write_str("no lifecycle policy: set lifecycle.policy or pass --policy")
            }
            SweepError::Policy(e) => write!(f, "{e}"),
            SweepError::Open(m) => f.write_str(m),
            SweepError::NoIndex => {
                f.write_str("the lifecycle needs the metadata store (meta.url is off)")
            }
            SweepError::Index(e) => write!(f, "{e}"),
            SweepError::Listing(e) => write!(f, "listing the originals: {e}"),
            SweepError::Move { id, action, cause } => write!(f, "{action} of {id}: {cause}"),
        }
    }
}

impl std::fmt::Display for MoveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MoveError::Storage(e) => write!(f, "{e}"),
            MoveError::Tier(e) => write!(f, "{e}"),
            MoveError::Index(e) => write!(f, "{e}"),
            MoveError::ClaimLost => f.write_str("the claim was lost"),
            MoveError::Replaced => f.write_str("the original was replaced since it was planned"),
            MoveError::NotApplicable(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for SweepError {}
impl std::error::Error for MoveError {}

impl From<PolicyError> for SweepError {
    fn from(e: PolicyError) -> Self {
        SweepError::Policy(e)
    }
}

impl From<IndexError> for SweepError {
    fn from(e: IndexError) -> Self {
        SweepError::Index(e)
    }
}

impl From<StorageError> for MoveError {
    fn from(e: StorageError) -> Self {
        MoveError::Storage(e)
    }
}

impl From<TierError> for MoveError {
    fn from(e: TierError) -> Self {
        match e {
            TierError::ClaimLost => MoveError::ClaimLost,
            e => MoveError::Tier(e),
        }
    }
}

impl From<IndexError> for MoveError {
    fn from(e: IndexError) -> Self {
        MoveError::Index(e)
    }
}

#[cfg(test)]
mod tests;
