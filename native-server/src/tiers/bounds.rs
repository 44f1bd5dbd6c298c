//! A cap on the variants stored per original (`tiers.max_variants_per_original`): distinct
//! specs are cheap to ask for, so without it one original could fill the lower tiers and the
//! index with variants of itself.
//!
//! After a new variant is written to warm or cold and indexed, the original's variants are
//! counted in the index. Past the cap, its least recently used others (by the index's access
//! times, which are flushed every `meta.flush_ms`) are expired, so the new one is kept and an
//! original never holds more than the cap for longer than that write. Each expiry claims its
//! row with a lifecycle journal first (rule `tiers.max_variants_per_original`, action
//! `expire`), exactly as the sweeper's own expiries do: a row another move holds is left alone,
//! and a crash half-way is finished by the next sweep's recovery.

use refract_core::VariantKey;

use super::Chain;
use crate::index::journal::{Journal, Op};
use crate::index::{Class, Record};

/// The journal's rule for these expiries (in claims, logs and metrics).
pub const CAP_RULE: &str = "tiers.max_variants_per_original";

impl Chain {
    /// Expires the least recently used variants of `just_stored`'s original past the cap,
    /// never `just_stored` itself. Returns how many it expired.
    pub(super) async fn bound_variants(&self, just_stored: &VariantKey) -> usize {
        let (Some(index), cap) = (&self.index, self.max_variants) else {
            return 0;
        };
        if cap == 0 {
            return 0;
        }
        let rows = match index.by_key(just_stored.key()).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!("counting the variants of {}: {e}", just_stored.key());
                return 0;
            }
        };
        let mut variants: Vec<Record> = rows
            .into_iter()
            .filter(|r| r.class == Class::Variant)
            .collect();
        let excess = variants.len().saturating_sub(cap);
        if excess == 0 {
            return 0;
        }
        let kept = Record::variant_id(just_stored.id());
        variants.retain(|r| r.id != kept && r.pending.is_none());
        variants.sort_by(|a, b| (a.last_access_ms, &a.id).cmp(&(b.last_access_ms, &b.id)));
        let mut expired = 0;
        for victim in &variants {
            if expired == excess {
                break;
            }
            let text = Journal::start(CAP_RULE, Op::Expire, None).text();
            match index.claim(&victim.id, &text).await {
                Ok(true) => {}
                Ok(false) => continue, // another move holds it
                Err(e) => {
                    tracing::warn!("claiming {} to expire it: {e}", victim.id);
                    return expired;
                }
            }
            let id = Record::variant_id_of(&victim.id).unwrap_or(&victim.id);
            match self.expire(id).await {
                Ok(()) => {
                    expired += 1;
                    metrics::counter!(crate::metrics::LIFECYCLE_ACTIONS, "rule" => CAP_RULE, "action" => "expire", "outcome" => "applied")
                        .increment(1);
                }
                Err(e) => {
                    tracing::warn!("expiring {} past the cap of {}: {e}", victim.id, cap);
                    // Given back unchanged; a later store of this original tries again.
                    let _ = index.release(&victim.id, &text).await;
                }
            }
        }
        expired
    }
}
