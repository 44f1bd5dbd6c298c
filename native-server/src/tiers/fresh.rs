//! When a cached variant may be served without asking storage for its original's version.
//!
//! A variant remembers when its original's version was last confirmed (read to make it, or
//! checked with a `HEAD`). It may be served on that word alone while all of these hold:
//!
//! - it was confirmed less than `cache.revalidate_secs` ago (originals replaced behind
//!   Refract's back, straight in the bucket, are noticed within that);
//! - no change of its original has been heard of since it was confirmed: uploads, deletes and
//!   purges through this instance are recorded here at once, and those through other
//!   instances arrive over the fleet channel ([`super::fleet`]);
//! - when instances share PostgreSQL, the channel was listening without a break since the
//!   confirmation, and proved itself (a round trip on its connection) within
//!   `cache.notify_window_ms`: a notification that may have been missed makes every hit check
//!   its original until the channel is back.
//!
//! Otherwise the hit costs a `HEAD` of the original, and a changed one is made again.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

/// How many recent changes are remembered by key; older ones raise [`Freshness`]'s floor.
const REMEMBERED: usize = 16_384;
/// How many prefix purges are remembered; past it, they become the floor.
const PREFIXES: usize = 256;

#[derive(Debug)]
pub struct Freshness {
    window: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// When each recently changed original's change was heard of.
    changed: LruCache<String, Instant>,
    /// Prefixes purged, with when.
    prefixes: Vec<(String, Instant)>,
    /// Variants confirmed before this are not trusted: the latest change forgotten from
    /// `changed`, or a purge of everything.
    floor: Option<Instant>,
    channel: Channel,
}

#[derive(Debug, Clone, Copy)]
enum Channel {
    /// One instance alone: every change goes through it.
    Alone,
    /// Instances share PostgreSQL and the channel is down (or not yet up).
    Down,
    /// Listening without a break since `since`, proven at `proven`.
    Up { since: Instant, proven: Instant },
}

impl Freshness {
    /// For an instance alone with its storage (no shared metadata store).
    pub fn alone() -> Freshness {
        Freshness::new(Duration::ZERO, Channel::Alone)
    }

    /// For an instance of a fleet: nothing is trusted until the channel is up, nor when it
    /// has not proven itself within `window`.
    pub fn fleet(window: Duration) -> Freshness {
        Freshness::new(window, Channel::Down)
    }

    fn new(window: Duration, channel: Channel) -> Freshness {
        Freshness {
            window,
            state: Mutex::new(State {
                changed: LruCache::new(NonZeroUsize::new(REMEMBERED).unwrap_or(NonZeroUsize::MIN)),
                prefixes: Vec::new(),
                floor: None,
                channel,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a variant of the original at `key`, confirmed at `checked`, may be served
    /// without a check, when confirmations are good for `revalidate`.
    pub fn trusted(&self, key: &str, checked: Option<Instant>, revalidate: Duration) -> bool {
        let Some(checked) = checked else { return false };
        let now = Instant::now();
        if now.saturating_duration_since(checked) >= revalidate {
            return false;
        }
        let mut s = self.state();
        match s.channel {
            Channel::Alone => {}
            Channel::Down => return false,
            Channel::Up { since, proven } => {
                if checked < since || now.saturating_duration_since(proven) > self.window {
                    return false;
                }
            }
        }
        if s.floor.is_some_and(|f| checked <= f) {
            return false;
        }
        if s.changed.get(key).is_some_and(|t| checked <= *t) {
            return false;
        }
        !s.prefixes
            .iter()
            .any(|(p, t)| key.starts_with(p.as_str()) && checked <= *t)
    }

    /// The original at `key` changed (stored, replaced, deleted or purged) now.
    pub fn changed(&self, key: &str) {
        let now = Instant::now();
        let mut s = self.state();
        if let Some((_, forgotten)) = s.changed.push(key.to_owned(), now) {
            s.floor = Some(s.floor.map_or(forgotten, |f| f.max(forgotten)));
        }
    }

    /// Every original under `prefix` changed now (a purge by prefix; `""` is everything).
    pub fn changed_under(&self, prefix: &str) {
        let now = Instant::now();
        let mut s = self.state();
        if prefix.is_empty() {
            s.floor = Some(now);
            return;
        }
        if s.prefixes.len() >= PREFIXES {
            s.prefixes.clear();
            s.floor = Some(now);
            return;
        }
        s.prefixes.push((prefix.to_owned(), now));
    }

    /// The fleet channel is listening (again): changes before now may have been missed, so
    /// nothing confirmed before now is trusted.
    pub fn channel_up(&self) {
        let now = Instant::now();
        self.state().channel = Channel::Up {
            since: now,
            proven: now,
        };
    }

    /// A round trip on the channel's connection succeeded: every notification sent before it
    /// has arrived.
    pub fn channel_proven(&self) {
        let mut s = self.state();
        if let Channel::Up { since, .. } = s.channel {
            s.channel = Channel::Up {
                since,
                proven: Instant::now(),
            };
        }
    }

    /// The channel broke: until it is back, every hit checks its original.
    pub fn channel_down(&self) {
        self.state().channel = Channel::Down;
    }

    /// Whether the channel is listening (always true for an instance alone), for `/ready`
    /// and metrics.
    pub fn channel_ok(&self) -> bool {
        !matches!(self.state().channel, Channel::Down)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn alone_trusts_until_a_change_or_the_revalidation_age() {
        let f = Freshness::alone();
        let before = Instant::now();
        assert!(f.trusted("a.jpg", Some(before), HOUR));
        assert!(!f.trusted("a.jpg", None, HOUR));
        f.changed("a.jpg");
        assert!(!f.trusted("a.jpg", Some(before), HOUR));
        assert!(f.trusted("b.jpg", Some(before), HOUR));
        // Confirmed after the change: trusted again.
        assert!(f.trusted("a.jpg", Some(Instant::now()), HOUR));
        assert!(!f.trusted("b.jpg", Some(Instant::now()), Duration::ZERO));
    }

    #[test]
    fn a_fleet_trusts_only_what_was_confirmed_while_listening() {
        let f = Freshness::fleet(HOUR);
        let early = Instant::now();
        assert!(!f.trusted("a.jpg", Some(early), HOUR), "channel not up yet");
        f.channel_up();
        assert!(
            !f.trusted("a.jpg", Some(early), HOUR),
            "confirmed before listening"
        );
        let later = Instant::now();
        assert!(f.trusted("a.jpg", Some(later), HOUR));
        f.channel_down();
        assert!(!f.trusted("a.jpg", Some(later), HOUR));
        assert!(!f.channel_ok());
        f.channel_up();
        assert!(
            !f.trusted("a.jpg", Some(later), HOUR),
            "a break may have lost a change"
        );
    }

    #[test]
    fn an_unproven_channel_is_not_trusted_past_the_window() {
        let f = Freshness::fleet(Duration::ZERO);
        f.channel_up();
        let t = Instant::now();
        // The proof is older than a zero window as soon as any time passes.
        while Instant::now() == t {}
        assert!(!f.trusted("a.jpg", Some(t), HOUR));
    }

    #[test]
    fn prefixes_and_forgotten_changes_stay_conservative() {
        let f = Freshness::alone();
        let before = Instant::now();
        f.changed_under("photos/");
        assert!(!f.trusted("photos/a.jpg", Some(before), HOUR));
        assert!(f.trusted("other/a.jpg", Some(before), HOUR));
        f.changed_under("");
        assert!(!f.trusted("other/a.jpg", Some(before), HOUR));
        let g = Freshness::alone();
        let before = Instant::now();
        for i in 0..=REMEMBERED {
            g.changed(&format!("k{i}"));
        }
        // "k0" was forgotten, but the floor still covers what was confirmed before it.
        assert!(!g.trusted("k0", Some(before), HOUR));
    }
}
