//! `[rate_limit]`: token buckets per client and per upload token (`docs/server.md`, "Rate
//! limits"), checked at start-up and turned into the server's
//! [`RateLimits`](crate::runtime::limit::RateLimits).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::runtime::limit::{Buckets, ClientKey, Rate, RateLimits};

/// See `docs/server.md`, "Rate limits".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Off: no request is ever refused for its rate.
    pub enabled: bool,
    /// Per client (an IPv4 address or an IPv6 /64): every `GET`/`HEAD` 1 unit, a transform
    /// more (`transform_unit_ms`).
    pub client: BucketConfig,
    /// Per upload token: every `PUT`/`DELETE` that carries it, 1 unit.
    pub upload: BucketConfig,
    /// A transform costs 1 unit plus one per this many estimated CPU milliseconds
    /// (`docs/cost.md`), at most the client burst.
    pub transform_unit_ms: u64,
    /// Clients with a bucket of their own at once; past it, new clients share one bucket.
    pub max_clients: usize,
    /// Peers (IP addresses or CIDRs) whose `client_ip_header` names the client.
    pub trusted_proxies: Vec<String>,
    /// The header a trusted proxy names the client in: the right-most address in it that is
    /// not itself a trusted proxy. Empty: the peer is always the client.
    pub client_ip_header: String,
}

/// A token bucket: `burst` units at once, refilled at `rate` units per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    pub rate: f64,
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            client: BucketConfig {
                rate: 100.0,
                burst: 2000,
            },
            upload: BucketConfig {
                rate: 10.0,
                burst: 100,
            },
            transform_unit_ms: 100,
            max_clients: 1_000_000,
            trusted_proxies: Vec::new(),
            client_ip_header: "x-forwarded-for".into(),
        }
    }
}

impl BucketConfig {
    fn rate(&self) -> Rate {
        Rate {
            per_sec: self.rate,
            burst: self.burst,
        }
    }
}

impl RateLimitConfig {
    /// Every value checked, whether or not the limits are on, naming the key that is wrong.
    pub fn check(&self) -> Result<(), String> {
        for (name, bucket) in [("client", &self.client), ("upload", &self.upload)] {
            bucket
                .rate()
                .quota()
                .map_err(|e| format!("rate_limit.{name}: {e}"))?;
        }
        if self.transform_unit_ms == 0 {
            return Err("rate_limit.transform_unit_ms must be at least 1".into());
        }
        if self.max_clients == 0 {
            return Err("rate_limit.max_clients must be at least 1".into());
        }
        self.proxies()?;
        if !self.client_ip_header.is_empty()
            && axum::http::HeaderName::from_bytes(self.client_ip_header.as_bytes()).is_err()
        {
            return Err(format!(
                "rate_limit.client_ip_header: `{}` is not a header name",
                self.client_ip_header
            ));
        }
        Ok(())
    }

    fn proxies(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                let p = p.trim();
                p.parse::<ipnet::IpNet>()
                    .map(|net| net.trunc())
                    .or_else(|_| p.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!(
                            "rate_limit.trusted_proxies: `{p}` is not an IP address or a CIDR \
                             (like 10.0.0.0/8 or 2001:db8::/32)"
                        )
                    })
            })
            .collect()
    }

    /// The limits the server applies.
    pub fn limits(&self) -> Result<RateLimits, String> {
        self.check()?;
        if !self.enabled {
            return Ok(RateLimits::off());
        }
        let client = Buckets::new(self.client.rate(), self.max_clients, ClientKey::Overflow)?;
        let upload = Buckets::new(self.upload.rate(), 1, ())?;
        Ok(RateLimits {
            client: Some(client),
            upload: Some(upload),
            trusted_proxies: self.proxies()?,
            client_header: (!self.client_ip_header.is_empty())
                .then(|| self.client_ip_header.to_ascii_lowercase()),
            transform_unit_ms: self.transform_unit_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_make_limits() {
        let limits = RateLimitConfig::default().limits().expect("defaults");
        assert!(limits.client.is_some() && limits.upload.is_some());
        assert_eq!(limits.client_header.as_deref(), Some("x-forwarded-for"));
        let off = RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        };
        assert!(off.limits().expect("off").client.is_none());
    }

    #[test]
    fn proxies_are_addresses_or_networks() {
        let c = RateLimitConfig {
            trusted_proxies: vec![
                "127.0.0.1".into(),
                "10.1.2.3/8".into(),
                "::1".into(),
                "2001:db8::/32".into(),
            ],
            ..RateLimitConfig::default()
        };
        let limits = c.limits().expect("valid");
        let nets: Vec<String> = limits
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            nets,
            ["127.0.0.1/32", "10.0.0.0/8", "::1/128", "2001:db8::/32"]
        );
    }
}
