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
//! - **demote:** copy the variant to cold, verify its size, switch the row to cold with the
//!   journal at `cleanup`, delete the warm copy, then clear the journal;
//! - **storage class:** rewrite the original in place with the new class, verify it, then
//!   record the class;
//! - **expire:** delete the object from every tier (or, for an original rule, from the store),
//!   then delete the row.
//!
//! Each step can be repeated safely. After a crash, the journal says which phase the move was
//! in, and the next sweep runs the move again from that phase.
//! - At every point, the row names only copies that exist. The source is deleted only after
//!   the row points at the verified copy.
//! - An original is only ever rewritten in place, atomically.
//!
//! `REFRACT_LIFECYCLE_FAULT=<step>` makes the process SIGKILL itself at that step, so tests
//! can kill it at every step (`claimed`, `copied`, `switched`, `cleaned`).

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::plan::{plan_record, Op, Planned};
use super::Policy;
use crate::clock::Clock;
use crate::meta::{Class, Meta, Record, Tiers as Present};
use crate::storage::{Originals, StorageError};
use crate::tiers::Tiers;

/// The cursor's name in the metadata store.
pub const CURSOR: &str = "lifecycle";

pub const ACTIONS: &str = "refract_lifecycle_actions_total";
pub const SWEEP_SECONDS: &str = "refract_lifecycle_sweep_seconds";
pub const ERRORS: &str = "refract_lifecycle_errors_total";

/// A move's entry in `pending`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Journal {
    rule: String,
    op: Op,
    phase: Phase,
    started_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Phase {
    Move,
    Cleanup,
}

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
}

/// Everything a sweep needs.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    pub policy: Policy,
    pub meta: Meta,
    pub originals: Originals,
    pub tiers: Arc<Tiers>,
    pub clock: Clock,
    pub batch: usize,
    /// How old a move's journal must be before a sweep takes it over as abandoned. Moves
    /// take seconds; a claim younger than this belongs to a live sweeper (this one or
    /// another instance's) and is left alone.
    pub lease_ms: i64,
}

/// The default [`Lifecycle::lease_ms`]: ten minutes.
pub const LEASE_MS: i64 = 10 * 60 * 1000;

#[derive(Debug)]
enum Outcome {
    Applied,
    Skipped,
}

impl Lifecycle {
    /// What a sweep would do now, without doing it (and without moving the cursor).
    pub async fn plan(&self, now_ms: i64) -> Result<(u64, Vec<Planned>), String> {
        let mut after = String::new();
        let mut scanned = 0;
        let mut plans = Vec::new();
        loop {
            let rows = self
                .meta
                .scan(&after, self.batch)
                .await
                .map_err(|e| e.to_string())?;
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

    /// One sweep: recover, then every row once, from the saved cursor around to it again.
    pub async fn run_once(&self) -> Result<Report, String> {
        let started = Instant::now();
        let mut report = Report {
            recovered: self.recover().await?,
            ..Report::default()
        };
        let start = self.meta.cursor(CURSOR).await.map_err(|e| e.to_string())?;
        let start = start.unwrap_or_default();
        let passes: Vec<(String, Option<String>)> = if start.is_empty() {
            vec![(String::new(), None)]
        } else {
            vec![(start.clone(), None), (String::new(), Some(start))]
        };
        for (from, until) in passes {
            let mut after = from;
            loop {
                let rows = self
                    .meta
                    .scan(&after, self.batch)
                    .await
                    .map_err(|e| e.to_string())?;
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
                            metrics::counter!(ERRORS, "rule" => planned.rule.clone()).increment(1);
                            tracing::warn!(rule = %planned.rule, id = %planned.id, "lifecycle: {e}");
                        }
                    }
                }
                self.meta
                    .set_cursor(CURSOR, &after)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        self.meta
            .set_cursor(CURSOR, "")
            .await
            .map_err(|e| e.to_string())?;
        metrics::histogram!(SWEEP_SECONDS).record(started.elapsed().as_secs_f64());
        publish_totals(&self.meta).await;
        Ok(report)
    }

    /// Finishes every move a crash left pending: those whose journal is older than the lease.
    pub async fn recover(&self) -> Result<u64, String> {
        let now = self.clock.now_ms();
        let mut done = 0;
        let mut failed = std::collections::HashSet::new();
        loop {
            let rows = self
                .meta
                .pending(self.batch)
                .await
                .map_err(|e| e.to_string())?;
            let rows: Vec<Record> = rows
                .into_iter()
                .filter(|r| !failed.contains(&r.id))
                .collect();
            if rows.is_empty() {
                return Ok(done);
            }
            for row in rows {
                let Some(text) = row.pending.clone() else {
                    continue;
                };
                let result = match serde_json::from_str::<Journal>(&text) {
                    // A live move, perhaps another instance's: not ours to take over yet.
                    Ok(journal) if now - journal.started_ms < self.lease_ms => {
                        failed.insert(row.id.clone());
                        continue;
                    }
                    Ok(journal) => self.execute(&row, journal, &text).await,
                    // Not ours (or unreadable): release the row untouched.
                    Err(_) => self.release(&row, &text).await,
                };
                match result {
                    Ok(()) => done += 1,
                    Err(e) => {
                        tracing::warn!(id = %row.id, "lifecycle recovery: {e}");
                        failed.insert(row.id.clone());
                    }
                }
            }
        }
    }

    async fn apply(&self, p: &Planned) -> Result<Outcome, String> {
        let journal = Journal {
            rule: p.rule.clone(),
            op: p.op.clone(),
            phase: Phase::Move,
            started_ms: self.clock.now_ms(),
        };
        let text = serde_json::to_string(&journal).map_err(|e| e.to_string())?;
        if !self
            .meta
            .claim(&p.id, &text)
            .await
            .map_err(|e| e.to_string())?
        {
            metrics::counter!(ACTIONS, "rule" => p.rule.clone(), "action" => p.op.name(), "outcome" => "skipped")
                .increment(1);
            return Ok(Outcome::Skipped);
        }
        fault("claimed");
        let Some(row) = self.meta.get(&p.id).await.map_err(|e| e.to_string())? else {
            return Ok(Outcome::Skipped);
        };
        // The plan was made from a row read before the claim; another instance may have
        // applied it since. Plan again from the row as it is now, under the claim.
        let mut fresh = row.clone();
        fresh.pending = None;
        let still = plan_record(&self.policy, &fresh, self.clock.now_ms());
        if still.as_ref().map(|s| &s.op) != Some(&p.op) {
            self.release(&row, &text).await?;
            metrics::counter!(ACTIONS, "rule" => p.rule.clone(), "action" => p.op.name(), "outcome" => "skipped")
                .increment(1);
            return Ok(Outcome::Skipped);
        }
        match self.execute(&row, journal, &text).await {
            Ok(()) => {
                metrics::counter!(ACTIONS, "rule" => p.rule.clone(), "action" => p.op.name(), "outcome" => "applied")
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

    async fn release(&self, row: &Record, text: &str) -> Result<(), String> {
        self.meta
            .release(&row.id, text)
            .await
            .map_err(|e| e.to_string())
            .map(drop)
    }

    /// Runs a claimed move from its journal's phase to the end. Every step is idempotent.
    async fn execute(&self, row: &Record, journal: Journal, text: &str) -> Result<(), String> {
        match (&journal.op, row.class) {
            (Op::Demote, Class::Variant) => self.demote(row, journal, text).await,
            (Op::SetStorageClass { to, .. }, Class::Original) => {
                let meta = self.originals.set_storage_class(&row.key, to).await;
                let meta = match meta {
                    Ok(m) => m,
                    Err(StorageError::NotFound(_)) => return self.forget(row).await,
                    Err(e) => return Err(format!("{e:?}")),
                };
                fault("copied");
                let mut next = row.clone();
                next.storage_class = to.clone();
                next.size = meta.size;
                self.finish(&next, text, None).await
            }
            (Op::Expire, Class::Variant) => {
                self.drop_variant(row).await?;
                fault("cleaned");
                self.forget(row).await
            }
            (Op::Expire, Class::Original) => {
                match self.originals.delete(&row.key).await {
                    Ok(()) | Err(StorageError::NotFound(_)) => {}
                    Err(e) => return Err(format!("{e:?}")),
                }
                self.tiers.purge_memory(&row.key);
                fault("cleaned");
                self.forget(row).await
            }
            (op, class) => {
                let _ = self.release(row, text).await;
                Err(format!(
                    "{} does not apply to a {}",
                    op.name(),
                    class.as_str()
                ))
            }
        }
    }

    /// Warm → cold: copy, verify, switch the row (journal at cleanup), delete warm, finish.
    async fn demote(&self, row: &Record, journal: Journal, text: &str) -> Result<(), String> {
        let id = row.id.strip_prefix("v/").unwrap_or(&row.id).to_owned();
        let cold = self
            .tiers
            .cold
            .as_ref()
            .ok_or("no cold tier is configured")?;
        let warm = self.tiers.warm.clone();
        let mut text = text.to_owned();
        if journal.phase == Phase::Move {
            let blob = match &warm {
                Some(w) => {
                    let (w, wid) = (Arc::clone(w), id.clone());
                    tokio::task::spawn_blocking(move || w.get(&wid))
                        .await
                        .map_err(|e| e.to_string())?
                }
                None => None,
            };
            let in_cold = match blob {
                Some(blob) => {
                    let len = cold.put(&id, &blob).await.map_err(|e| format!("{e:?}"))?;
                    fault("copied");
                    cold.verify(&id, len).await.map_err(|e| format!("{e:?}"))?
                }
                // The warm copy is gone (evicted and demoted meanwhile, or a crash after the
                // switch): the cold copy decides.
                None => cold.get(&id).await.map_err(|e| format!("{e:?}"))?.is_some(),
            };
            if !in_cold {
                // Not in this instance's warm directory and not in cold: another instance's
                // warm tier holds it (warm tiers are per instance). Leave it to that one.
                return Err("the warm copy is on another instance".into());
            }
            let cleanup = Journal {
                phase: Phase::Cleanup,
                ..journal
            };
            let next_text = serde_json::to_string(&cleanup).map_err(|e| e.to_string())?;
            let mut next = row.clone();
            next.tiers = row.tiers.without(Present::WARM).with(Present::COLD);
            if !self
                .meta
                .finish(&next, &text, Some(&next_text))
                .await
                .map_err(|e| e.to_string())?
            {
                return Err("the claim was lost".into());
            }
            fault("switched");
            text = next_text;
        }
        if let Some(w) = warm {
            tokio::task::spawn_blocking(move || w.remove(&id))
                .await
                .map_err(|e| e.to_string())?;
        }
        fault("cleaned");
        let mut done = row.clone();
        done.tiers = row.tiers.without(Present::WARM).with(Present::COLD);
        self.finish(&done, &text, None).await
    }

    async fn drop_variant(&self, row: &Record) -> Result<(), String> {
        let id = row.id.strip_prefix("v/").unwrap_or(&row.id).to_owned();
        if let Some(spec) = &row.spec {
            let (canonical, class) = spec.split_once('|').unwrap_or((spec, "-"));
            self.tiers
                .hot
                .remove(&format!("{}\n{canonical}\n{class}", row.key));
        }
        if let Some(w) = self.tiers.warm.clone() {
            let wid = id.clone();
            tokio::task::spawn_blocking(move || w.remove(&wid))
                .await
                .map_err(|e| e.to_string())?;
        }
        if let Some(cold) = &self.tiers.cold {
            cold.delete(&id).await.map_err(|e| format!("{e:?}"))?;
        }
        Ok(())
    }

    async fn finish(&self, next: &Record, text: &str, then: Option<&str>) -> Result<(), String> {
        match self.meta.finish(next, text, then).await {
            Ok(true) => Ok(()),
            Ok(false) => Err("the claim was lost".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn forget(&self, row: &Record) -> Result<(), String> {
        self.meta
            .delete(&row.id)
            .await
            .map_err(|e| e.to_string())
            .map(drop)
    }
}

pub const OBJECTS: &str = "refract_objects";
pub const OBJECT_BYTES: &str = "refract_object_bytes";

/// Objects and bytes by class, tiers and storage class, as gauges. Computed after each sweep
/// (and at start-up) rather than per scrape: it is a full pass over the metadata.
pub async fn publish_totals(meta: &Meta) {
    match meta.totals().await {
        Ok(totals) => {
            for t in totals {
                let labels = [
                    ("class", t.class.as_str().to_owned()),
                    ("tiers", t.tiers.to_string()),
                    ("storage_class", t.storage_class.clone()),
                ];
                metrics::gauge!(OBJECTS, &labels).set(t.objects as f64);
                metrics::gauge!(OBJECT_BYTES, &labels).set(t.bytes as f64);
            }
        }
        Err(e) => tracing::warn!("metadata totals: {e}"),
    }
}

/// Test hook: SIGKILL this process at `step` when `REFRACT_LIFECYCLE_FAULT` names it.
fn fault(step: &str) {
    if std::env::var("REFRACT_LIFECYCLE_FAULT").is_ok_and(|s| s == step) {
        let pid = std::process::id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status();
        // SIGKILL cannot be caught; should `kill` be missing, stop just as abruptly.
        std::process::abort();
    }
}
