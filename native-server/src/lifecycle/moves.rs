//! The moves themselves, each run under its claim from the phase its journal names, every
//! step idempotent (see [`super::sweep`] for the guarantees):
//! - **demote:** [`Chain::demote`] under the claim: copy the variant to cold, verify its size,
//!   switch the row to cold with the journal at `cleanup`, delete the warm copy, then clear
//!   the journal (the same demotion warm's evictions use, without a claim);
//! - **storage class:** rewrite the original in place with the new class, verify it, then
//!   record the class;
//! - **expire:** delete the object from every tier ([`Chain::expire`]) or, for an original,
//!   from the store, then delete the row.

use super::journal::Journal;
use super::plan::Op;
use super::sweep::Sweeper;
use super::{MoveError, SweepError};
use crate::index::{Class, Record};
use crate::originals::StorageError;
use crate::runtime::fault;
use crate::tiers::Claim;

impl Sweeper {
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
