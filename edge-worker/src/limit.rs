//! Rate limits at the edge, the parts that decide: who a request is charged to, and what a 429
//! says. The counting is the Workers Rate Limiting binding's (`[[ratelimits]]` in
//! `wrangler.toml`), called from `throttle.rs`. The binding answers only "allowed or not"
//! for a key, with a fixed limit per period of 10 or 60 seconds per Cloudflare location, so the
//! 429's headers are derived from the limit and period the operator states in a var
//! (`RATE_LIMIT_QUOTA`, `TRANSFORM_RATE_LIMIT_QUOTA`), which must match the binding's.

use std::net::IpAddr;

/// A limit as `[ratelimits.simple]` states it: `limit` requests per `period` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub period: u32,
}

/// The periods the binding accepts.
pub const PERIODS: [u32; 2] = [10, 60];

impl Quota {
    /// `LIMIT/PERIOD`, e.g. `600/60`: the binding's `simple.limit` and `simple.period`.
    pub fn parse(raw: &str) -> Result<Quota, String> {
        let bad = || format!("`{raw}` is not LIMIT/PERIOD, like 600/60 (period 10 or 60)");
        let (limit, period) = raw.trim().split_once('/').ok_or_else(bad)?;
        let limit: u32 = limit.trim().parse().map_err(|_| bad())?;
        let period: u32 = period.trim().parse().map_err(|_| bad())?;
        if limit == 0 || !PERIODS.contains(&period) {
            return Err(bad());
        }
        Ok(Quota { limit, period })
    }
}

/// One of the worker's two limits: every request, and requests the Cache API did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Every request (binding `RATE_LIMIT`), hits included.
    Requests,
    /// Requests that read an original and may transform it (binding `TRANSFORM_RATE_LIMIT`):
    /// misses, changed originals, handoffs.
    Transforms,
}

impl Limit {
    pub fn binding(self) -> &'static str {
        match self {
            Limit::Requests => "RATE_LIMIT",
            Limit::Transforms => "TRANSFORM_RATE_LIMIT",
        }
    }

    /// The policy's name in `RateLimit-Policy` and `RateLimit`.
    pub fn policy(self) -> &'static str {
        match self {
            Limit::Requests => "requests",
            Limit::Transforms => "transforms",
        }
    }
}

/// Whom a request is charged to: the client address Cloudflare puts in `CF-Connecting-IP`
/// (which clients cannot set), an IPv6 client by its /64, as one host usually owns a whole
/// /64 and could otherwise take a fresh address for each request. Without the header (local
/// development), every request shares one key.
pub fn client_key(connecting_ip: Option<&str>) -> String {
    match connecting_ip.map(str::trim).map(str::parse::<IpAddr>) {
        Some(Ok(IpAddr::V4(ip))) => ip.to_string(),
        Some(Ok(IpAddr::V6(ip))) => match ip.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = ip.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        _ => "unknown".to_owned(),
    }
}

/// The seconds a refused client is told to wait when the quota is not stated: the longest
/// period the binding has, so never too short.
pub const DEFAULT_RETRY_SECS: u32 = 60;

/// The headers of a 429 for `limit`: `Retry-After`, and the IETF `RateLimit-Policy` and
/// `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers-11, structured fields) when the
/// quota is known. The binding counts in fixed windows whose position it does not reveal:
/// the wait is the whole period, an upper bound.
pub fn refused_headers(limit: Limit, quota: Option<Quota>) -> Vec<(&'static str, String)> {
    let wait = quota.map_or(DEFAULT_RETRY_SECS, |q| q.period);
    let mut headers = vec![("retry-after", wait.to_string())];
    if let Some(q) = quota {
        let name = limit.policy();
        headers.push((
            "ratelimit-policy",
            format!("\"{name}\";q={};w={}", q.limit, q.period),
        ));
        headers.push(("ratelimit", format!("\"{name}\";r=0;t={wait}")));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_the_bindings_shape() {
        assert_eq!(
            Quota::parse("600/60"),
            Ok(Quota {
                limit: 600,
                period: 60
            })
        );
        assert_eq!(
            Quota::parse(" 5 / 10 "),
            Ok(Quota {
                limit: 5,
                period: 10
            })
        );
        for bad in ["600", "0/60", "10/30", "a/60", "10/60/1", "-1/60", ""] {
            assert!(Quota::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn clients_by_address_and_ipv6_by_64() {
        assert_eq!(client_key(Some("203.0.113.7")), "203.0.113.7");
        assert_eq!(
            client_key(Some("2001:db8:1:2:aaaa::1")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            client_key(Some("2001:db8:1:2:bbbb:cccc:dddd:eeee")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(client_key(Some("::ffff:198.51.100.1")), "198.51.100.1");
        assert_eq!(client_key(None), "unknown");
        assert_eq!(client_key(Some("not an address")), "unknown");
    }

    #[test]
    fn a_429_says_when_to_come_back() {
        let q = Quota {
            limit: 30,
            period: 10,
        };
        assert_eq!(
            refused_headers(Limit::Transforms, Some(q)),
            vec![
                ("retry-after", "10".to_owned()),
                ("ratelimit-policy", "\"transforms\";q=30;w=10".to_owned()),
                ("ratelimit", "\"transforms\";r=0;t=10".to_owned()),
            ]
        );
        assert_eq!(
            refused_headers(Limit::Requests, None),
            vec![("retry-after", "60".to_owned())]
        );
    }
}
