//! Token buckets, one per key, for rate limits: a rate (units per second) and a burst, charged
//! some units at a time. The buckets are governor's (GCRA: one 8-byte timestamp per key, no
//! timer), kept in its sharded map; this module adds what governor leaves to its caller:
//!
//! - **A bound on keys.** The map holds at most `max_keys` keys. A key that is not in it,
//!   arriving while it is full, is charged to one shared `overflow` bucket instead of getting
//!   its own, so memory stays bounded whatever the number of distinct keys.
//!   [`Buckets::retain_recent`] (run periodically) drops the keys whose bucket has refilled,
//!   which are no different from a fresh one.
//! - **What a charge came to**, for the `RateLimit` header fields: the units left, and how
//!   long until the bucket is full again or until the refused units would fit.
//!
//! Nothing here knows about HTTP: keys are what the caller makes of a request ([`ClientKey`]
//! for network clients: an IPv4 address, or the /64 of an IPv6 address, so a host given a
//! whole /64 cannot mint fresh buckets by changing addresses).

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, MonotonicClock};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::StateStore;
use governor::{Quota, RateLimiter};

/// `burst` units at once, refilled at `per_sec` units per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_sec: f64,
    pub burst: u32,
}

impl Rate {
    /// governor's quota, or why this rate is not one.
    pub fn quota(&self) -> Result<Quota, String> {
        if self.per_sec > 1e9 {
            return Err(format!(
                "rate {} is too high (at most 1e9 units per second)",
                self.per_sec
            ));
        }
        if !(self.per_sec.is_finite() && self.per_sec > 0.0) {
            return Err(format!(
                "rate must be a number of units per second above 0, not {}",
                self.per_sec
            ));
        }
        let burst = NonZeroU32::new(self.burst).ok_or("burst must be at least 1")?;
        Duration::try_from_secs_f64(1.0 / self.per_sec)
            .ok()
            .and_then(Quota::with_period)
            .map(|q| q.allow_burst(burst))
            .ok_or_else(|| format!("rate {} is out of range", self.per_sec))
    }

    /// Whole seconds an empty bucket takes to fill: the window the `RateLimit-Policy` field
    /// gives with the burst as its quota (at least 1).
    pub fn window_secs(&self) -> u64 {
        // `as` saturates: an absurdly slow rate reads as u64::MAX seconds.
        ((f64::from(self.burst) / self.per_sec).ceil() as u64).max(1)
    }
}

/// What a charge came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// Taken: `remaining` units are left, and the bucket is full again after `full_in`.
    Taken { remaining: u32, full_in: Duration },
    /// Refused, nothing taken: `remaining` units are left now, and the units asked for will
    /// be there after `wait`.
    Refused { remaining: u32, wait: Duration },
}

/// Whole seconds, rounded up.
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// governor's sharded map, with a bound on its keys.
struct Capped<K: Hash + Eq + Clone> {
    map: DashMapStateStore<K>,
    max_keys: usize,
    overflow: K,
}

impl<K: Hash + Eq + Clone> StateStore for Capped<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // A known key is one lookup; only a new one asks for the size (a read of each shard).
        let key = if !self.map.contains_key(key) && self.map.len() >= self.max_keys {
            &self.overflow
        } else {
            key
        };
        self.map.measure_and_replace(key, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for Capped<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        self.map.retain_recent(drop_below);
    }

    fn shrink_to_fit(&self) {
        // Rehashing costs a pass over the map: only worth it once most of it is empty.
        if self.map.capacity() > 4 * self.map.len() + 1024 {
            self.map.shrink_to_fit();
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// One token bucket per key, all with the same rate.
pub struct Buckets<K: Hash + Eq + Clone, C: Clock = MonotonicClock> {
    limiter: RateLimiter<K, Capped<K>, C, StateInformationMiddleware>,
    rate: Rate,
    /// The time one unit takes to come back.
    every: Duration,
}

impl<K: Hash + Eq + Clone, C: Clock> std::fmt::Debug for Buckets<K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buckets")
            .field("rate", &self.rate)
            .field("keys", &self.limiter.len())
            .finish()
    }
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    /// Buckets on the monotonic clock, at most `max_keys` of them besides `overflow`'s.
    pub fn new(rate: Rate, max_keys: usize, overflow: K) -> Result<Self, String> {
        Buckets::with_clock(rate, max_keys, overflow, MonotonicClock)
    }
}

impl<K: Hash + Eq + Clone, C: Clock> Buckets<K, C> {
    /// As [`Buckets::new`], on the given clock (tests move a fake one).
    pub fn with_clock(rate: Rate, max_keys: usize, overflow: K, clock: C) -> Result<Self, String> {
        let quota = rate.quota()?;
        let store = Capped {
            map: DashMapStateStore::default(),
            max_keys: max_keys.max(1),
            overflow,
        };
        Ok(Buckets {
            limiter: RateLimiter::new(quota, store, clock),
            rate,
            every: quota.replenish_interval(),
        })
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Takes `units` from `key`'s bucket if they are all there, else nothing. More than the
    /// burst counts as the burst: the costliest work needs a full bucket.
    pub fn charge(&self, key: &K, units: u32) -> Charge {
        let units = NonZeroU32::new(units.clamp(1, self.rate.burst)).unwrap_or(NonZeroU32::MIN);
        match self.limiter.check_key_n(key, units) {
            Ok(Ok(state)) => {
                let remaining = state.remaining_burst_capacity();
                Charge::Taken {
                    remaining,
                    full_in: self
                        .every
                        .saturating_mul(self.rate.burst.saturating_sub(remaining)),
                }
            }
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                // `units` fit after `wait`, one more coming back every `every`: so the units
                // there now are those not still to come.
                let to_come = wait.as_nanos().div_ceil(self.every.as_nanos().max(1));
                let remaining = u128::from(units.get()).saturating_sub(to_come);
                Charge::Refused {
                    remaining: u32::try_from(remaining).unwrap_or(0),
                    wait,
                }
            }
            // Not reached: `units` is at most the burst.
            Err(_) => Charge::Refused {
                remaining: 0,
                wait: self.every.saturating_mul(self.rate.burst),
            },
        }
    }

    /// Forgets the keys whose bucket has refilled (and frees the map's memory once it has
    /// mostly emptied).
    pub fn retain_recent(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Keys with a bucket of their own now (the overflow's included once used).
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

/// A network client, as its buckets are keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4(u32),
    /// The first 64 bits: the network of one host or one site.
    V6(u64),
    /// The bucket new clients share while the map is full.
    Overflow,
}

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip.to_canonical() {
            IpAddr::V4(a) => ClientKey::V4(u32::from(a)),
            IpAddr::V6(a) => ClientKey::V6((u128::from(a) >> 64) as u64),
        }
    }
}

/// The server's rate limits (`[rate_limit]`), built once from the configuration.
#[derive(Debug)]
pub struct RateLimits {
    /// Per client: 1 unit a request, more for a transform. `None` when rate limits are off.
    pub client: Option<Buckets<ClientKey>>,
    /// Per upload token (there is one): 1 unit a `PUT` or `DELETE`.
    pub upload: Option<Buckets<()>>,
    /// Peers whose `client_header` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header a trusted proxy names the client in (lower case); `None`: the peer is the
    /// client.
    pub client_header: Option<String>,
    /// A transform's estimated CPU time (reference ms) per unit it costs beyond its first.
    pub transform_unit_ms: u64,
}

impl RateLimits {
    /// No limits at all.
    pub fn off() -> RateLimits {
        RateLimits {
            client: None,
            upload: None,
            trusted_proxies: Vec::new(),
            client_header: None,
            transform_unit_ms: 1,
        }
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// What a transform estimated at `cpu_ms` costs beyond its first unit: a unit per
    /// `transform_unit_ms` begun, at most the burst less that first unit.
    pub fn transform_units(&self, cpu_ms: u64) -> u32 {
        let Some(client) = &self.client else { return 0 };
        let units = cpu_ms.div_ceil(self.transform_unit_ms.max(1));
        u32::try_from(units)
            .unwrap_or(u32::MAX)
            .min(client.rate().burst.saturating_sub(1))
    }

    /// The periodic upkeep: forget refilled buckets. Returns the keys kept, per limit.
    pub fn retain_recent(&self) -> [(&'static str, usize); 2] {
        let mut kept = [("client", 0), ("upload", 0)];
        if let Some(b) = &self.client {
            b.retain_recent();
            kept[0].1 = b.len();
        }
        if let Some(b) = &self.upload {
            b.retain_recent();
            kept[1].1 = b.len();
        }
        kept
    }
}

#[cfg(test)]
mod tests;
