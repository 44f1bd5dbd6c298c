//! The planner: which action, if any, applies to one metadata row now. Pure: no I/O, time
//! passed in, so `refract lifecycle plan --now …` and tests of 30-day rules need no waiting.

use serde::Serialize;

use super::policy::{is_colder, Action, Policy, Rule};
use crate::index::{Class, Presence as Tiers, Record};
use crate::runtime::clock::DAY_MS;

/// The moves a plan names (their format is the journal's: `index::journal`).
pub use crate::index::journal::Op;

/// What the sweeper would do to one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    pub rule: String,
    pub id: String,
    pub key: String,
    pub class: &'static str,
    pub size: u64,
    pub op: Op,
    /// Why, in words: `last access 31.0 days ago >= 30`.
    pub reason: String,
}

fn matches(rule: &Rule, r: &Record) -> bool {
    let f = &rule.filter;
    rule.enabled
        && f.class.class() == r.class
        && r.key.starts_with(&f.prefix)
        && f.min_size.is_none_or(|lo| r.size >= lo)
        && f.max_size.is_none_or(|hi| r.size <= hi)
}

/// The threshold an action sets, whether it is met, and the reason in words.
fn due(action: &Action, r: &Record, now_ms: i64) -> Option<(f64, String)> {
    let t = action.threshold();
    let days = |since: i64| (now_ms - since) as f64 / DAY_MS as f64;
    if let Some(d) = t.days_since_access {
        let age = days(r.last_access_ms);
        return (age >= d).then(|| (d, format!("last access {age:.1} days ago >= {d}")));
    }
    if let Some(d) = t.days_since_creation {
        let age = days(r.created_ms);
        return (age >= d).then(|| (d, format!("created {age:.1} days ago >= {d}")));
    }
    None
}

/// The action for `r` at `now_ms`, or `None`. Rows with a move pending are left to recovery.
pub fn plan_record(policy: &Policy, r: &Record, now_ms: i64) -> Option<Planned> {
    if r.pending.is_some() {
        return None;
    }
    // (strength, threshold days) orders candidates: expire > demote > storage class, and
    // among storage classes the most advanced transition that is due.
    let mut best: Option<((u8, f64), Planned)> = None;
    for rule in policy.rules.iter().filter(|rule| matches(rule, r)) {
        for action in &rule.actions {
            let Some((days, reason)) = due(action, r, now_ms) else {
                continue;
            };
            let (strength, op) = match action {
                Action::Expire { .. } => (3, Op::Expire),
                Action::Demote { .. } if r.class == Class::Variant => {
                    if !r.tiers.contains(Tiers::WARM) {
                        continue;
                    }
                    (2, Op::Demote)
                }
                Action::StorageClass { class, .. } if r.class == Class::Original => (
                    1,
                    Op::SetStorageClass {
                        from: r.storage_class.clone(),
                        to: class.clone(),
                    },
                ),
                _ => continue,
            };
            let rank = (strength, days);
            if best.as_ref().is_none_or(|(b, _)| rank > *b) {
                let planned = Planned {
                    rule: rule.id.clone(),
                    id: r.id.clone(),
                    key: r.key.clone(),
                    class: r.class.as_str(),
                    size: r.size,
                    op,
                    reason,
                };
                best = Some((rank, planned));
            }
        }
    }
    // The chosen transition may already be done, or the object already colder (classes
    // only move down): then nothing changes.
    best.map(|(_, p)| p).filter(|p| match &p.op {
        Op::SetStorageClass { from, to } => is_colder(from, to),
        _ => true,
    })
}

/// A plan as a fixed-width table for people.
pub fn render_table(plans: &[Planned]) -> String {
    let mut out = format!(
        "{:<20} {:<14} {:<24} {:>10}  {:<40} {}\n",
        "RULE", "ACTION", "CHANGE", "BYTES", "OBJECT", "REASON"
    );
    for p in plans {
        let object = if p.class == "original" {
            p.key.clone()
        } else {
            format!("{} ({})", p.id, p.key)
        };
        out.push_str(&format!(
            "{:<20} {:<14} {:<24} {:>10}  {:<40} {}\n",
            p.rule,
            p.op.name(),
            p.op.describe(),
            p.size,
            object,
            p.reason
        ));
    }
    let bytes: u64 = plans.iter().map(|p| p.size).sum();
    out.push_str(&format!("{} actions, {} bytes\n", plans.len(), bytes));
    out
}
