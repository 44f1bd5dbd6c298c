//! Moves between tiers, each written once: writing a new variant down, promoting a cold hit to
//! warm, demoting warm to cold (on eviction and for the sweeper alike), and expiring.
//!
//! A demotion is copy → verify → switch the index row → delete the warm copy. Every step can
//! be repeated, and at every point the row names only copies that exist, so a crash anywhere
//! loses nothing: the next demotion of the same variant (the sweeper's recovery, or the
//! eviction of the file indexed again at start-up) finishes it.

use std::sync::Arc;

use super::blob::Blob;
use super::{Chain, TierError};
use crate::index::{Presence, Record};
use crate::runtime::fault;

/// A lifecycle claim on a variant's row (see `lifecycle::sweep`): the journal the row holds
/// now, and the one it holds after the switch until the move is finished.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub held: &'a str,
    pub cleanup: &'a str,
}

/// Where the warm copy of a variant being demoted is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Indexed in warm (the sweeper's demotions).
    Indexed,
    /// Already out of warm's index, its file awaiting demotion (an eviction).
    Evicted,
}

impl Chain {
    /// Writes a new variant to warm, or to cold without a warm tier (or when it is too large
    /// for warm), and records it in the index.
    pub(super) async fn write_lower(self: Arc<Self>, blob: Blob) {
        let id = blob.key.id().to_owned();
        let size = blob.body.len() as u64;
        let mut tier = None;
        if let Some(warm) = &self.warm {
            let (warm, wid, b) = (Arc::clone(warm), id.clone(), blob.clone());
            match tokio::task::spawn_blocking(move || warm.put(&wid, &b)).await {
                Ok(Ok(Some(evicted))) => {
                    tier = Some(Presence::WARM);
                    self.demote_evicted(evicted).await;
                }
                Ok(Ok(None)) => {} // too large for warm: cold keeps it
                Ok(Err(e)) => tracing::warn!("warm tier write of {id}: {e}"),
                Err(e) => tracing::warn!("warm tier write of {id}: {e}"),
            }
        }
        if tier.is_none() {
            if let Some(cold) = &self.cold {
                match cold.put(&id, &blob).await {
                    Ok(_) => tier = Some(Presence::COLD),
                    Err(e) => tracing::warn!("cold tier write of {id}: {e}"),
                }
            }
        }
        let (Some(tier), Some(index)) = (tier, &self.index) else {
            return;
        };
        let now = self.clock.now_ms();
        let record = Record::variant(&blob.key, tier, size, &blob.content_type, now);
        if let Err(e) = index.upsert(&record).await {
            tracing::warn!("index row of {id}: {e}");
        }
    }

    /// A cold hit is copied into warm, and its row says so.
    pub(super) async fn promote(&self, id: &str, blob: Blob) {
        let Some(warm) = &self.warm else { return };
        let (warm, wid) = (Arc::clone(warm), id.to_owned());
        let written = tokio::task::spawn_blocking(move || warm.put(&wid, &blob)).await;
        let Ok(Ok(Some(evicted))) = written else {
            return;
        };
        self.demote_evicted(evicted).await;
        if let Some(index) = &self.index {
            if let Ok(Some(mut r)) = index.get(&Record::variant_id(id)).await {
                r.tiers = r.tiers.with(Presence::WARM);
                let _ = index.upsert(&r).await;
            }
        }
    }

    /// Moves a variant from warm to cold: copy, verify, switch its row, delete the warm copy.
    /// With a claim (the sweeper), the row is switched only while the claim holds, and the
    /// claim is finished at the end; each fault point of the crash tests is on this path.
    pub async fn demote(&self, id: &str, claim: Option<Claim<'_>>) -> Result<(), TierError> {
        self.move_down(id, Source::Indexed, claim).await
    }

    /// Variants warm evicted to make room: demoted to cold (`tiers.demote_on_evict`), or
    /// dropped when they cannot be (no cold tier, a failed copy). A dropped variant loses its
    /// row's `warm`, and the row itself when nothing else holds the variant.
    pub(super) async fn demote_evicted(&self, evicted: Vec<String>) {
        for id in evicted {
            if self.demote_on_evict {
                match self.move_down(&id, Source::Evicted, None).await {
                    Ok(()) => continue,
                    Err(e) => tracing::warn!("demoting {id} to cold: {e}"),
                }
            }
            if let Err(e) = self.drop_evicted(&id).await {
                tracing::warn!("index row after evicting {id}: {e}");
            }
        }
    }

    async fn move_down(
        &self,
        id: &str,
        source: Source,
        claim: Option<Claim<'_>>,
    ) -> Result<(), TierError> {
        let cold = self.cold.as_ref().ok_or(TierError::NoCold)?;
        let row_id = Record::variant_id(id);
        let row = match &self.index {
            Some(index) => index.get(&row_id).await?,
            None => None,
        };
        // A row already switched (a crash after the switch) needs no second copy.
        let switched = row
            .as_ref()
            .is_some_and(|r| r.tiers.contains(Presence::COLD) && !r.tiers.contains(Presence::WARM));
        let mut described = None;
        if !switched {
            match self.warm_read(id).await {
                Some(blob) => {
                    let len = cold.put(id, &blob).await?;
                    if claim.is_some() {
                        fault::point("copied");
                    }
                    if !cold.verify(id, len).await? {
                        return Err(TierError::Cold(format!("{id}: the copy is incomplete")));
                    }
                    described = Some(blob);
                }
                // The warm copy is gone (demoted meanwhile, or a crash after the switch): the
                // cold copy decides.
                None if cold.contains(id).await? => {}
                None => return Err(TierError::Elsewhere),
            }
        }
        // Written again since its eviction: the new warm copy stays, and so does `warm`.
        let rewritten = source == Source::Evicted && self.in_warm(id);
        if let Some(index) = &self.index {
            let next = match (row, &described) {
                (Some(mut r), _) => {
                    if !rewritten {
                        r.tiers = r.tiers.without(Presence::WARM);
                    }
                    r.tiers = r.tiers.with(Presence::COLD);
                    Some(r)
                }
                // Unknown to the index (expired by another instance while this one kept a
                // warm copy): the cold copy gets a row, so nothing stored is unknown.
                (None, Some(blob)) => Some(Record::variant(
                    &blob.key,
                    Presence::COLD,
                    blob.body.len() as u64,
                    &blob.content_type,
                    self.clock.now_ms(),
                )),
                (None, None) => None,
            };
            if let Some(next) = &next {
                match claim {
                    Some(c) => {
                        if !index.finish(next, c.held, Some(c.cleanup)).await? {
                            return Err(TierError::ClaimLost);
                        }
                    }
                    None => index.upsert(next).await?,
                }
            }
            if claim.is_some() {
                fault::point("switched");
            }
            self.warm_remove(id, source).await;
            if let Some(c) = claim {
                fault::point("cleaned");
                if let Some(next) = &next {
                    if !index.finish(next, c.cleanup, None).await? {
                        return Err(TierError::ClaimLost);
                    }
                }
            }
        } else {
            self.warm_remove(id, source).await;
        }
        Ok(())
    }

    /// An evicted variant that was not demoted: its file and its row's `warm` go.
    async fn drop_evicted(&self, id: &str) -> Result<(), TierError> {
        self.warm_remove(id, Source::Evicted).await;
        if self.in_warm(id) {
            return Ok(());
        }
        let Some(index) = &self.index else {
            return Ok(());
        };
        let row_id = Record::variant_id(id);
        if let Some(mut r) = index.get(&row_id).await? {
            r.tiers = r.tiers.without(Presence::WARM);
            if r.tiers.is_empty() {
                index.delete(&row_id).await?;
            } else {
                index.upsert(&r).await?;
            }
        }
        Ok(())
    }

    /// Removes a variant from every tier, then its row.
    pub async fn expire(&self, id: &str) -> Result<(), TierError> {
        self.memory.remove(id);
        self.warm_remove(id, Source::Indexed).await;
        if let Some(cold) = &self.cold {
            cold.delete(id).await?;
        }
        fault::point("cleaned");
        if let Some(index) = &self.index {
            index.delete(&Record::variant_id(id)).await?;
        }
        Ok(())
    }

    /// Reads a warm file, indexed or evicted, on the blocking pool.
    async fn warm_read(&self, id: &str) -> Option<Blob> {
        let (warm, id) = (Arc::clone(self.warm.as_ref()?), id.to_owned());
        tokio::task::spawn_blocking(move || warm.read(&id))
            .await
            .ok()
            .flatten()
    }

    async fn warm_remove(&self, id: &str, source: Source) {
        let Some(warm) = &self.warm else { return };
        let (warm, id) = (Arc::clone(warm), id.to_owned());
        let removed = tokio::task::spawn_blocking(move || match source {
            Source::Indexed => drop(warm.remove(&id)),
            Source::Evicted => warm.discard(&id),
        })
        .await;
        if let Err(e) = removed {
            tracing::warn!("warm tier removal: {e}");
        }
    }
}
