//! The cold tier's byte budget (`tiers.cold_bytes`), kept by each sweep: while the variants the
//! index says are in cold add up to more than the budget, the least recently used of them are
//! expired (from every tier, like an `expire` rule), a batch at a time, `concurrency` at once.
//!
//! Each expiry is a move like the rules' (rule `tiers.cold_bytes`, action `expire`): it claims
//! its row, and goes on only if the row is still in cold and was not used since it was picked,
//! so a variant read meanwhile is kept. Several instances sharing the index keep the same
//! budget; the total is read again before each batch, so one instance's expiries count for the
//! others. Between sweeps the tier can grow past the budget by what is written in one interval.

use futures::StreamExt;

use super::plan::{Op, Planned};
use super::sweep::{Outcome, Report, Sweeper};
use super::SweepError;
use crate::index::{Presence, Record};
use crate::metrics as m;
use crate::runtime::background::Stop;

/// The journal's rule for these expiries (in claims, logs and metrics).
pub const BUDGET_RULE: &str = "tiers.cold_bytes";

impl Sweeper {
    /// Expires least recently used cold variants until the cold tier is within its budget
    /// (nothing when `cold_bytes` is 0).
    pub(super) async fn keep_cold_budget(
        &self,
        stop: &Stop,
        report: &mut Report,
    ) -> Result<(), SweepError> {
        if self.cold_bytes == 0 {
            return Ok(());
        }
        let mut after: Option<(i64, String)> = None;
        loop {
            let used = self.index.cold_bytes().await?;
            if used <= self.cold_bytes || stop.requested() {
                return Ok(());
            }
            let page = after.as_ref().map(|(t, id)| (*t, id.as_str()));
            let rows = self.index.coldest(page, self.batch).await?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            after = Some((last.last_access_ms, last.id.clone()));
            let mut excess = used - self.cold_bytes;
            let mut picked = Vec::new();
            for row in &rows {
                if excess == 0 {
                    break;
                }
                excess = excess.saturating_sub(row.size);
                picked.push((planned(row, used, self.cold_bytes), row.last_access_ms));
            }
            let moves: Vec<_> = picked
                .iter()
                .map(|(p, last_access)| async move {
                    // Still in cold, and not used since it was picked.
                    let still = |fresh: &Record, _| {
                        fresh.tiers.contains(Presence::COLD) && fresh.last_access_ms <= *last_access
                    };
                    (p, self.apply_if(p, still).await)
                })
                .collect();
            let mut moves = futures::stream::iter(moves).buffer_unordered(self.concurrency.max(1));
            let (mut applied, mut failed) = (0, 0);
            while let Some((p, result)) = moves.next().await {
                match result {
                    Ok(Outcome::Applied) => applied += 1,
                    Ok(Outcome::Skipped) => report.skipped += 1,
                    Err(e) => {
                        failed += 1;
                        metrics::counter!(m::LIFECYCLE_ERRORS, "rule" => p.rule.clone())
                            .increment(1);
                        tracing::warn!(rule = %p.rule, "lifecycle: {e}");
                    }
                }
            }
            report.evicted += applied;
            report.failed += failed;
            if applied == 0 && failed > 0 {
                // The cold store (or the index) is failing: the next sweep tries again.
                return Ok(());
            }
        }
    }
}

/// The expiry of one cold variant, for being over the budget.
fn planned(row: &Record, used: u64, budget: u64) -> Planned {
    Planned {
        rule: BUDGET_RULE.to_owned(),
        id: row.id.clone(),
        key: row.key.clone(),
        class: row.class.as_str(),
        size: row.size,
        op: Op::Expire,
        reason: format!("cold tier {used} bytes > {budget}; least recently used"),
    }
}
