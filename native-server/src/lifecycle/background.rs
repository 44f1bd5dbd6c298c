//! The running server's sweeps: every `lifecycle.interval_secs`, on the server's own tiers and
//! index. They run whenever there is something to keep, with or without a policy: the rules
//! when `lifecycle.policy` names one, the reconcile of the index with the originals' store
//! (`lifecycle.reconcile_keys`) and the cold tier's budget (`tiers.cold_bytes`) by default. A
//! sweep stopped with the server ends at a batch boundary and resumes from its cursor.

use std::sync::Arc;
use std::time::Duration;

use super::sweep::{publish_totals, Sweeper};
use super::{Policy, SweepError};
use crate::config::Config;
use crate::originals::Originals;
use crate::runtime::background::{AtStop, Background};
use crate::tiers::Chain;

/// Starts the sweeps on `background`; returns whether it did (not when `interval_secs` is 0,
/// without an index, or with nothing to do).
pub fn start(
    config: &Config,
    originals: Originals,
    chain: Arc<Chain>,
    background: &Arc<Background>,
) -> Result<bool, SweepError> {
    if config.lifecycle.interval_secs == 0 || chain.index().is_none() {
        return Ok(false);
    }
    let policy = match config.lifecycle.policy.as_str() {
        "" => Policy { rules: Vec::new() },
        path => Policy::load(std::path::Path::new(path))?,
    };
    let sweeper = Sweeper::new(config, policy, originals, chain)?;
    if sweeper.policy.rules.is_empty() && sweeper.reconcile_keys == 0 && sweeper.cold_bytes == 0 {
        return Ok(false);
    }
    let totals = sweeper.index.clone();
    background.spawn(async move { publish_totals(&totals).await });
    let sweeper = Arc::new(sweeper);
    let every = Duration::from_secs(config.lifecycle.interval_secs);
    background.every("lifecycle", every, AtStop::Exit, move |stop| {
        let sweeper = Arc::clone(&sweeper);
        async move {
            match sweeper.run(&stop).await {
                Ok(report) => tracing::info!(?report, "lifecycle sweep"),
                Err(e) => tracing::warn!("lifecycle sweep failed: {e}"),
            }
        }
    });
    Ok(true)
}
