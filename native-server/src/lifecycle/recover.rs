//! Recovery at the start of a sweep: moves a crash left half done are finished (or given up,
//! for an original replaced since), claims still within their lease are left to their owner.

use super::journal::{claim_started_ms, real_now_ms, Journal, UploadHold};
use super::sweep::Sweeper;
use super::{MoveError, SweepError};
use crate::index::Record;

impl Sweeper {
    /// Finishes every move a crash left pending: those whose claim is older than the lease, in
    /// real time (a claim stamped by a `--now` sweep is judged by when it really started).
    /// Returns the moves finished and the claims left pending.
    pub async fn recover(&self) -> Result<(u64, u64), SweepError> {
        let now = real_now_ms();
        let mut done = 0;
        let mut left = std::collections::HashSet::new();
        loop {
            let rows: Vec<Record> = self
                .index
                .pending(self.batch)
                .await?
                .into_iter()
                .filter(|r| !left.contains(&r.id))
                .collect();
            if rows.is_empty() {
                return Ok((done, left.len() as u64));
            }
            for row in rows {
                let Some(text) = row.pending.clone() else {
                    continue;
                };
                // A live claim, perhaps another instance's or an upload's: not ours yet.
                if claim_started_ms(&text).is_some_and(|t| now - t < self.lease_ms) {
                    left.insert(row.id.clone());
                    continue;
                }
                let result = match Journal::read(&text) {
                    Some(journal) => match self.execute(&row, &journal, &text).await {
                        Err(SweepError::Move {
                            cause: MoveError::Replaced,
                            ..
                        }) => Ok(()),
                        other => other,
                    },
                    // An upload that died holding the row, or a claim this version did not
                    // write: release the row untouched.
                    None => {
                        if UploadHold::read(&text).is_some() {
                            tracing::info!(
                                "released the hold of an upload that did not finish: {}",
                                row.id
                            );
                        }
                        self.release(&row, &text).await
                    }
                };
                match result {
                    Ok(()) => done += 1,
                    Err(e) => {
                        tracing::warn!("lifecycle recovery of {}: {e}", row.id);
                        left.insert(row.id.clone());
                    }
                }
            }
        }
    }
}
