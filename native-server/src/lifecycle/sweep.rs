//! Applying a policy: the sweeper and the moves it makes.
//!
//! **Sweeps.** A sweep reads the metadata in batches of `batch` rows in id order. After each
//! batch it saves its position (the cursor `lifecycle`), so a restarted server resumes where it
//! stopped. A sweep that starts at a saved position goes to the end, then wraps around to the
//! start. Before anything else, a sweep finishes the moves that a crash left half done.
//!
//! **Moves.** Every move claims its row first, by writing a journal entry into `pending`. The
//! write only succeeds if nothing else is pending there, so two instances never run the same
//! action. Then the move runs, in phases:
//! - **demote:** [`Chain::demote`] under the claim: copy the variant to cold, verify its size,
//!   switch the row to cold with the journal at `cleanup`, delete the warm copy, then clear
//!   the journal (the same demotion warm's evictions use, without a claim);
//! - **storage class:** rewrite the original in place with the new class, verify it, then
//!   record the class;
//! - **expire:** delete the object from every tier ([`Chain::expire`]) or, for an original,
//!   from the store, then delete the row.
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

use serde::Serialize;

use super::journal::{real_now_ms, Journal, Phase};
use super::plan::{plan_record, Op, Planned};
use super::{MoveError, Policy, SweepError};
use crate::config::Config;
use crate::index::{Class, Index, Record};
use crate::metrics as m;
use crate::originals::{Originals, StorageError};
use crate::runtime::background::Stop;
use crate::runtime::clock::Clock;
use crate::runtime::fault;
use crate::tiers::{Chain, Claim};

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
}

#[derive(Debug)]
enum Outcome {
    Applied,
    Skipped,
}

impl Sweeper {
    /// A sweeper over opened stores (the server's own, or the CLI's): the chain's index and
    /// clock, the batch and lease from `config`.
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

    /// One sweep: recover, then every row once, from the saved cursor around to it again.
    /// When `stop` is requested, the sweep ends after the batch in progress; the next one
    /// resumes from the cursor.
    pub async fn run(&self, stop: &Stop) -> Result<Report, SweepError> {
        let started = Instant::now();
        let (recovered, pending) = self.recover().await?;
        let mut report = Report {
            recovered,
            pending,
            ..Report::default()
        };
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
                for row in &rows {
                    let Some(planned) = plan_record(&self.policy, row, now) else {
                        continue;
                    };
                    match self.apply(&planned).await {
                        Ok(Outcome::Applied) => report.applied += 1,
                        Ok(Outcome::Skipped) => report.skipped += 1,
                        Err(e) => {
                            report.failed += 1;
                            metrics::counter!(m::LIFECYCLE_ERRORS, "rule" => planned.rule.clone())
                                .increment(1);
                            tracing::warn!(rule = %planned.rule, "lifecycle: {e}");
                        }
                    }
                }
                self.index.set_cursor(CURSOR, &after).await?;
            }
        }
        self.index.set_cursor(CURSOR, "").await?;
        metrics::histogram!(m::LIFECYCLE_SWEEP_SECONDS).record(started.elapsed().as_secs_f64());
        publish_totals(&self.index).await;
        Ok(report)
    }

    async fn apply(&self, p: &Planned) -> Result<Outcome, SweepError> {
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
        let journal = Journal {
            rule: p.rule.clone(),
            op: p.op.clone(),
            phase: Phase::Move,
            started_ms: real_now_ms(),
            version,
        };
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
        // applied it since. Plan again from the row as it is now, under the claim.
        let mut fresh = row.clone();
        fresh.pending = None;
        let still = plan_record(&self.policy, &fresh, self.clock.now_ms());
        if still.as_ref().map(|s| &s.op) != Some(&p.op) {
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

    /// Runs a claimed move from its journal's phase to the end. Every step is idempotent.
    pub(super) async fn execute(
        &self,
        row: &Record,
        journal: &Journal,
        text: &str,
    ) -> Result<(), SweepError> {
        let failed = |cause: MoveError| SweepError::Move {
            id: row.id.clone(),
            action: journal.op.name(),
            cause,
        };
        self.execute_move(row, journal, text).await.map_err(failed)
    }

    async fn execute_move(
        &self,
        row: &Record,
        journal: &Journal,
        text: &str,
    ) -> Result<(), MoveError> {
        if row.class == Class::Original {
            self.check_version(row, journal, text).await?;
        }
        match (&journal.op, row.class) {
            (Op::Demote, Class::Variant) => {
                let id = Record::variant_id_of(&row.id).unwrap_or(&row.id);
                let cleanup = journal.at_cleanup().text();
                let claim = Claim {
                    held: text,
                    cleanup: &cleanup,
                };
                Ok(self.chain.demote(id, Some(claim)).await?)
            }
            (Op::SetStorageClass { to, .. }, Class::Original) => {
                let head = match self.originals.set_storage_class(&row.key, to).await {
                    Ok(head) => head,
                    Err(StorageError::NotFound(_)) => return self.forget(row).await,
                    Err(e) => return Err(e.into()),
                };
                fault::point("copied");
                let mut next = row.clone();
                next.storage_class = to.clone();
                next.size = head.size;
                match self.index.finish(&next, text, None).await? {
                    true => Ok(()),
                    false => Err(MoveError::ClaimLost),
                }
            }
            (Op::Expire, Class::Variant) => {
                let id = Record::variant_id_of(&row.id).unwrap_or(&row.id);
                Ok(self.chain.expire(id).await?)
            }
            (Op::Expire, Class::Original) => {
                match self.originals.delete(&row.key).await {
                    Ok(()) | Err(StorageError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                fault::point("cleaned");
                Ok(self.chain.original_deleted(&row.key).await?)
            }
            (op, _) => {
                let _ = self.index.release(&row.id, text).await;
                Err(MoveError::NotApplicable(match op {
                    Op::Demote => "demote applies to variants",
                    Op::SetStorageClass { .. } => "storage_class applies to originals",
                    Op::Expire => "expire applies to originals and variants",
                }))
            }
        }
    }

    /// Under the claim, the original must still be the version the move was planned for (its
    /// journal's): one replaced since is left alone, the claim released and the move given up
    /// ([`MoveError::Replaced`]). Uploads hold the row while they write, so no new version can
    /// land between this check and the move.
    async fn check_version(
        &self,
        row: &Record,
        journal: &Journal,
        text: &str,
    ) -> Result<(), MoveError> {
        let Some(planned) = &journal.version else {
            return Ok(());
        };
        match self.originals.head(&row.key).await {
            Ok(head) if head.etag != *planned => {
                self.index.release(&row.id, text).await?;
                Err(MoveError::Replaced)
            }
            Ok(_) | Err(StorageError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn forget(&self, row: &Record) -> Result<(), MoveError> {
        self.index.delete(&row.id).await?;
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
