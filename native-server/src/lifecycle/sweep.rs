//! Applying a policy: the sweeper, its passes, and how it applies moves.
//!
//! **A sweep** runs, in order:
//! 1. **recovery:** the moves a crash left half done are finished ([`super::recover`]);
//! 2. **reconcile:** a page of the originals' store listing is compared with the index
//!    (registering objects without a row, dropping rows of objects gone), resuming where the
//!    last sweep stopped ([`super::reconcile`]);
//! 3. **rules:** the metadata, in batches of `batch` rows in id order. After each batch it saves
//!    its position (the cursor `lifecycle`), so a restarted server resumes where it stopped. A
//!    sweep that starts at a saved position goes to the end, then wraps around to the start;
//! 4. **cold budget:** the least recently used cold variants are expired until the cold tier is
//!    within `tiers.cold_bytes` ([`super::budget`]).
//!
//! **Moves.** Every move claims its row first, by writing a journal entry into `pending`. The
//! write only succeeds if nothing else is pending there, so two instances never run the same
//! action. Then the move runs, in phases ([`super::moves`]). The moves of a batch run
//! `concurrency` at a time: each holds its own row's claim, so they never touch the same
//! object, and the cursor moves past a batch only once all its moves have ended.
//!
//! Each step can be repeated safely. After a crash, the journal says which phase the move was
//! in, and the next sweep runs the move again from that phase.
//! - At every point, the row names only copies that exist. The source is deleted only after
//!   the row points at the verified copy.
//! - An original is only ever rewritten in place, atomically.
//!
//! `REFRACT_LIFECYCLE_FAULT=<step>` makes the process SIGKILL itself at that step, so tests
//! can kill it at every step (`claimed`, `copied`, `switched`, `cleaned`; see
//! [`crate::runtime::fault`]).

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde::Serialize;

use super::journal::Journal;
use super::plan::{plan_record, Planned};
use super::{MoveError, Policy, SweepError};
use crate::config::Config;
use crate::index::{Index, Record};
use crate::metrics as m;
use crate::originals::{Originals, StorageError};
use crate::runtime::background::Stop;
use crate::runtime::clock::Clock;
use crate::runtime::fault;
use crate::tiers::Chain;

/// The cursor's name in the index.
pub const CURSOR: &str = "lifecycle";

/// The default [`Sweeper::lease_ms`]: ten minutes.
pub const LEASE_MS: i64 = 10 * 60 * 1000;

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub scanned: u64,
    pub applied: u64,
    /// Claimed by another instance (or pending) when this one tried.
    pub skipped: u64,
    pub failed: u64,
    /// Half-done moves finished at the start of the sweep.
    pub recovered: u64,
    /// Moves left pending after recovery: claims younger than the lease (a live sweeper's,
    /// or an upload's), or ones that failed again; a later sweep finishes them.
    pub pending: u64,
    /// Objects of the originals' store without a row, registered by the reconcile.
    pub registered: u64,
    /// Rows of originals no longer in the store, dropped by the reconcile.
    pub forgotten: u64,
    /// Cold variants expired to keep the cold tier within `tiers.cold_bytes`.
    pub evicted: u64,
}

/// Everything a sweep needs.
#[derive(Debug, Clone)]
pub struct Sweeper {
    pub policy: Policy,
    pub index: Index,
    pub originals: Originals,
    pub chain: Arc<Chain>,
    pub clock: Clock,
    pub batch: usize,
    /// How old a move's journal must be before a sweep takes it over as abandoned. Moves
    /// take seconds; a claim younger than this belongs to a live sweeper (this one or
    /// another instance's) and is left alone.
    pub lease_ms: i64,
    /// Moves (and the reconcile's storage calls) run at once.
    pub concurrency: usize,
    /// Keys of the originals' listing reconciled per sweep; 0: no reconcile.
    pub reconcile_keys: usize,
    /// The cold tier's byte budget; 0: none.
    pub cold_bytes: u64,
}

/// What became of one planned move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Applied,
    Skipped,
}

impl Sweeper {
    /// A sweeper over opened stores (the server's own, or the CLI's): the chain's index and
    /// clock; the batch, lease, concurrency, reconcile and cold budget from `config`.
    pub fn new(
        config: &Config,
        policy: Policy,
        originals: Originals,
        chain: Arc<Chain>,
    ) -> Result<Sweeper, SweepError> {
        let index = chain.index().cloned().ok_or(SweepError::NoIndex)?;
        Ok(Sweeper {
            policy,
            index,
            originals,
            clock: chain.clock().clone(),
            chain,
            batch: config.lifecycle.batch.max(1),
            lease_ms: i64::try_from(config.lifecycle.lease_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            concurrency: config.lifecycle.concurrency.max(1),
            reconcile_keys: config.lifecycle.reconcile_keys,
            cold_bytes: config.tiers.cold_bytes,
        })
    }

    /// What a sweep would do now, without doing it (and without moving the cursor).
    pub async fn plan(&self, now_ms: i64) -> Result<(u64, Vec<Planned>), SweepError> {
        let mut after = String::new();
        let mut scanned = 0;
        let mut plans = Vec::new();
        loop {
            let rows = self.index.scan(&after, self.batch).await?;
            let Some(last) = rows.last() else { break };
            after = last.id.clone();
            scanned += rows.len() as u64;
            plans.extend(
                rows.iter()
                    .filter_map(|r| plan_record(&self.policy, r, now_ms)),
            );
        }
        Ok((scanned, plans))
    }

    /// One whole sweep (the CLI's, and tests').
    pub async fn run_once(&self) -> Result<Report, SweepError> {
        self.run(&Stop::never()).await
    }

    /// One sweep: recover, reconcile a page of the originals' listing, then every row once,
    /// from the saved cursor around to it again, then the cold budget. When `stop` is
    /// requested, the sweep ends after the batch in progress; the next one resumes from the
    /// cursor.
    pub async fn run(&self, stop: &Stop) -> Result<Report, SweepError> {
        let started = Instant::now();
        let (recovered, pending) = self.recover().await?;
        let mut report = Report {
            recovered,
            pending,
            ..Report::default()
        };
        if stop.requested() {
            return Ok(report);
        }
        // A store that cannot be listed now does not hold the rules back.
        if let Err(e) = self.reconcile(&mut report).await {
            tracing::warn!("lifecycle reconcile: {e}");
        }
        let start = self.index.cursor(CURSOR).await?.unwrap_or_default();
        let passes: Vec<(String, Option<String>)> = if start.is_empty() {
            vec![(String::new(), None)]
        } else {
            vec![(start.clone(), None), (String::new(), Some(start))]
        };
        for (from, until) in passes {
            let mut after = from;
            loop {
                if stop.requested() {
                    return Ok(report);
                }
                let rows = self.index.scan(&after, self.batch).await?;
                let rows: Vec<Record> = rows
                    .into_iter()
                    .filter(|r| until.as_ref().is_none_or(|u| r.id <= *u))
                    .collect();
                let Some(last) = rows.last() else { break };
                after = last.id.clone();
                report.scanned += rows.len() as u64;
                let now = self.clock.now_ms();
                let planned: Vec<Planned> = rows
                    .iter()
                    .filter_map(|row| plan_record(&self.policy, row, now))
                    .collect();
                self.apply_all(&planned, &mut report).await;
                self.index.set_cursor(CURSOR, &after).await?;
            }
        }
        self.index.set_cursor(CURSOR, "").await?;
        if let Err(e) = self.keep_cold_budget(stop, &mut report).await {
            tracing::warn!("lifecycle cold budget: {e}");
        }
        metrics::histogram!(m::LIFECYCLE_SWEEP_SECONDS).record(started.elapsed().as_secs_f64());
        publish_totals(&self.index).await;
        Ok(report)
    }

    /// Applies planned moves `concurrency` at a time, counting their outcomes.
    async fn apply_all(&self, planned: &[Planned], report: &mut Report) {
        // Futures made first, then polled as a stream (a stream's `map` over borrowed items
        // would not be `Send` for every lifetime, as the server's loop needs).
        let moves: Vec<_> = planned
            .iter()
            .map(|p| async move { (p, self.apply(p).await) })
            .collect();
        let mut moves = futures::stream::iter(moves).buffer_unordered(self.concurrency.max(1));
        while let Some((p, result)) = moves.next().await {
            match result {
                Ok(Outcome::Applied) => report.applied += 1,
                Ok(Outcome::Skipped) => report.skipped += 1,
                Err(e) => {
                    report.failed += 1;
                    metrics::counter!(m::LIFECYCLE_ERRORS, "rule" => p.rule.clone()).increment(1);
                    tracing::warn!(rule = %p.rule, "lifecycle: {e}");
                }
            }
        }
    }

    /// Applies a move the policy planned, if the policy still plans it under the claim.
    async fn apply(&self, p: &Planned) -> Result<Outcome, SweepError> {
        self.apply_if(p, |fresh, now| {
            plan_record(&self.policy, fresh, now).map(|s| s.op) == Some(p.op.clone())
        })
        .await
    }

    /// Claims the row and runs the move, if `still` holds for the row as it is under the
    /// claim (at the clock's now): another instance may have applied it, or the row changed,
    /// since it was planned.
    pub(super) async fn apply_if(
        &self,
        p: &Planned,
        still: impl Fn(&Record, i64) -> bool,
    ) -> Result<Outcome, SweepError> {
        // An original's move acts on the version there is now; read before the claim, so an
        // upload that lands after it is seen under the claim (and one during it is held off).
        let version = if p.class == "original" {
            match self.originals.head(&p.key).await {
                Ok(head) => Some(head.etag),
                Err(StorageError::NotFound(_)) => None,
                Err(e) => {
                    return Err(SweepError::Move {
                        id: p.id.clone(),
                        action: p.op.name(),
                        cause: e.into(),
                    })
                }
            }
        } else {
            None
        };
        let journal = Journal::start(&p.rule, p.op.clone(), version);
        let text = journal.text();
        let skipped = || {
            metrics::counter!(m::LIFECYCLE_ACTIONS, "rule" => p.rule.clone(), "action" => p.op.name(), "outcome" => "skipped")
                .increment(1);
            Ok(Outcome::Skipped)
        };
        if !self.index.claim(&p.id, &text).await? {
            return skipped();
        }
        fault::point("claimed");
        let Some(row) = self.index.get(&p.id).await? else {
            return skipped();
        };
        // The plan was made from a row read before the claim; another instance may have
        // applied it since. Check again from the row as it is now, under the claim.
        let mut fresh = row.clone();
        fresh.pending = None;
        if !still(&fresh, self.clock.now_ms()) {
            self.release(&row, &text).await?;
            return skipped();
        }
        match self.execute(&row, &journal, &text).await {
            Err(SweepError::Move {
                cause: MoveError::Replaced,
                ..
            }) => skipped(),
            Ok(()) => {
                metrics::counter!(m::LIFECYCLE_ACTIONS, "rule" => p.rule.clone(), "action" => p.op.name(), "outcome" => "applied")
                    .increment(1);
                Ok(Outcome::Applied)
            }
            Err(e) => {
                // Give the row back unchanged; the next sweep tries again.
                let _ = self.release(&row, &text).await;
                Err(e)
            }
        }
    }

    pub(super) async fn release(&self, row: &Record, text: &str) -> Result<(), SweepError> {
        self.index.release(&row.id, text).await?;
        Ok(())
    }
}

/// Objects and bytes by class, tiers and storage class, as gauges. Computed after each sweep
/// (and at start-up) rather than per scrape: it is a full pass over the index.
pub async fn publish_totals(index: &Index) {
    match index.totals().await {
        Ok(totals) => {
            for t in totals {
                let labels = [
                    ("class", t.class.as_str().to_owned()),
                    ("tiers", t.tiers.to_string()),
                    ("storage_class", t.storage_class.clone()),
                ];
                metrics::gauge!(m::OBJECTS, &labels).set(t.objects as f64);
                metrics::gauge!(m::OBJECT_BYTES, &labels).set(t.bytes as f64);
            }
        }
        Err(e) => tracing::warn!("index totals: {e}"),
    }
}
