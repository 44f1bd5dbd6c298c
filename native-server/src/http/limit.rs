//! Rate limits on the image listener (`[rate_limit]`; `docs/server.md`, "Rate limits").
//!
//! - Every `GET`/`HEAD` takes 1 unit from its client's bucket before anything else is done
//!   ([`admit`]). A transform then takes its cost beyond that unit ([`charge_transform`]),
//!   once its original's header has been read and before any pixel is decoded. Only the
//!   request that runs the transform pays for it: requests that join it paid their one unit.
//! - `PUT`/`DELETE` with the upload token take 1 unit from the token's bucket; without it (a
//!   guess, or a mistake), 1 unit from the client's ([`upload`]).
//! - Over a limit: 429 `rate_limited` with `Retry-After` (whole seconds, rounded up) and the
//!   `RateLimit-Policy` and `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers-11.
//!   Answers to uploads and deletes carry those two fields too; image responses do not, as a
//!   shared cache would replay one client's numbers to every other.
//!
//! The client is the peer's address, which the accept loop puts in each request
//! ([`ConnectInfo`]); when the peer is a trusted proxy, it is the right-most address of the
//! client header that is not one ([`client_ip`]). A request with no peer address (the router
//! driven in process) has no client limit.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::http::request::Parts;
use axum::http::{header, Extensions, HeaderMap, HeaderValue};
use axum::response::Response;

use crate::error::{ApiError, Code};
use crate::metrics as m;
use crate::runtime::background::AtStop;
use crate::runtime::limit::{ceil_secs, Buckets, Charge, ClientKey, Rate, RateLimits};
use crate::state::{AppState, State};

/// How often buckets that have refilled are forgotten.
const UPKEEP: Duration = Duration::from_secs(10);

/// Whom a request's units are charged to; `None` when it has no client limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client(Option<ClientKey>);

/// What a charge took from, for the `RateLimit` fields of the answer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Charged {
    limit: &'static str,
    rate: Rate,
    remaining: u32,
    full_in: Duration,
}

/// Takes a `GET`/`HEAD`'s first unit from its client's bucket.
pub(super) fn admit(state: &State, parts: &Parts) -> Result<Client, ApiError> {
    let limits = &state.rate_limits;
    let Some(buckets) = &limits.client else {
        return Ok(Client(None));
    };
    let Some(key) = client_key(limits, &parts.extensions, &parts.headers) else {
        return Ok(Client(None));
    };
    take(buckets, &key, 1, "client", |_| {
        "too many requests from this client".into()
    })?;
    Ok(Client(Some(key)))
}

/// Takes what a transform estimated at `cpu_ms` costs beyond its first unit, before it runs.
pub(super) fn charge_transform(state: &State, client: Client, cpu_ms: u64) -> Result<(), ApiError> {
    let limits = &state.rate_limits;
    let (Some(buckets), Client(Some(key))) = (&limits.client, client) else {
        return Ok(());
    };
    let units = limits.transform_units(cpu_ms);
    if units == 0 {
        return Ok(());
    }
    take(buckets, &key, units, "client", |left| {
        format!(
            "this transform (estimated at {cpu_ms} ms of CPU) costs {units} units of this \
             client's rate limit besides the request's own, and {left} are left"
        )
    })
    .map(drop)
}

/// Takes a `PUT`/`DELETE`'s unit: from the upload token's bucket when it carries the token,
/// else from its client's.
pub(super) fn upload(
    state: &State,
    req: &Request,
    authorized: bool,
) -> Result<Option<Charged>, ApiError> {
    let limits = &state.rate_limits;
    if authorized {
        let Some(buckets) = &limits.upload else {
            return Ok(None);
        };
        return take(buckets, &(), 1, "upload", |_| {
            "too many uploads and deletes with this token".into()
        })
        .map(Some);
    }
    let Some(buckets) = &limits.client else {
        return Ok(None);
    };
    let Some(key) = client_key(limits, req.extensions(), req.headers()) else {
        return Ok(None);
    };
    take(buckets, &key, 1, "client", |_| {
        "too many requests from this client".into()
    })
    .map(Some)
}

/// Whether a transform was refused for its client's rate.
pub(super) fn refused<T>(result: &Result<T, ApiError>) -> bool {
    matches!(result, Err(e) if e.code() == Code::RateLimited.as_str())
}

/// The answer to a `PUT`/`DELETE`, with the `RateLimit` fields of the bucket it was charged to.
pub(super) fn label(mut res: Response, charged: Option<Charged>) -> Response {
    if let Some(c) = charged {
        fields(
            res.headers_mut(),
            c.limit,
            c.rate,
            c.remaining,
            ceil_secs(c.full_in),
        );
    }
    res
}

/// Takes `units` from `key`'s bucket, or answers 429 saying `what` (given the units left).
fn take<K: std::hash::Hash + Eq + Clone>(
    buckets: &Buckets<K>,
    key: &K,
    units: u32,
    limit: &'static str,
    what: impl FnOnce(u32) -> String,
) -> Result<Charged, ApiError> {
    let rate = buckets.rate();
    match buckets.charge(key, units) {
        Charge::Taken { remaining, full_in } => {
            metrics::counter!(m::RATE_LIMIT_UNITS, "limit" => limit)
                .increment(u64::from(units.min(rate.burst)));
            Ok(Charged {
                limit,
                rate,
                remaining,
                full_in,
            })
        }
        Charge::Refused { remaining, wait } => {
            metrics::counter!(m::RATE_LIMITED, "limit" => limit).increment(1);
            let secs = ceil_secs(wait).max(1);
            let mut h = HeaderMap::new();
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            // The effective window ends when the refused units are there, as Retry-After says.
            fields(&mut h, limit, rate, remaining, secs);
            let message = format!("{}; retry in {secs} s", what(remaining));
            Err(ApiError::new(Code::RateLimited, message).with_headers(h))
        }
    }
}

/// `RateLimit-Policy: "<limit>";q=<burst>;w=<seconds to fill>` and
/// `RateLimit: "<limit>";r=<units left>;t=<seconds>` (structured-field lists).
fn fields(h: &mut HeaderMap, limit: &str, rate: Rate, remaining: u32, reset_secs: u64) {
    let policy = format!("\"{limit}\";q={};w={}", rate.burst, rate.window_secs());
    let now = format!("\"{limit}\";r={remaining};t={reset_secs}");
    if let (Ok(policy), Ok(now)) = (HeaderValue::from_str(&policy), HeaderValue::from_str(&now)) {
        h.insert("ratelimit-policy", policy);
        h.insert("ratelimit", now);
    }
}

fn client_key(limits: &RateLimits, ext: &Extensions, headers: &HeaderMap) -> Option<ClientKey> {
    let ConnectInfo(peer) = ext.get::<ConnectInfo<SocketAddr>>()?;
    Some(ClientKey::of(client_ip(limits, peer.ip(), headers)))
}

/// The client of a request from `peer`: the peer itself, unless it is a trusted proxy and
/// names the client in the client header. That header is read right to left (the nearest
/// hop last, values of repeated headers in order): each trusted address is one more proxy
/// that passed the request on, and the first that is not trusted is the client. An element
/// that is not an address (`unknown`, an obfuscated `Forwarded` name) ends the walk at the
/// last trusted hop; a header of trusted addresses only gives its left-most.
pub fn client_ip(limits: &RateLimits, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let mut client = peer.to_canonical();
    let Some(name) = limits.client_header.as_deref() else {
        return client;
    };
    if !limits.trusts(client) {
        return client;
    }
    let values: Vec<&[u8]> = headers.get_all(name).iter().map(|v| v.as_bytes()).collect();
    let hops = values
        .iter()
        .rev()
        .flat_map(|v| v.rsplit(|b| *b == b','))
        .filter(|hop| !hop.trim_ascii().is_empty());
    for hop in hops {
        let Some(ip) = hop_address(hop) else { break };
        client = ip;
        if !limits.trusts(ip) {
            break;
        }
    }
    client
}

/// An address as forwarding headers write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`, or a `Forwarded` element's `for=` (quoted or not).
fn hop_address(hop: &[u8]) -> Option<IpAddr> {
    let hop = std::str::from_utf8(hop).ok()?.trim();
    let hop = if hop.contains('=') {
        hop.split(';').find_map(|param| {
            let (k, v) = param.split_once('=')?;
            k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
        })?
    } else {
        hop
    };
    let hop = hop.trim_matches('"');
    let ip = hop
        .parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())?;
    Some(ip.to_canonical())
}

/// Every 10 s on the background runner: forget the buckets that have refilled, and publish
/// how many are kept (`refract_rate_limit_keys`).
pub fn start_upkeep(state: &AppState) {
    let limits = Arc::clone(&state.rate_limits);
    if limits.client.is_none() && limits.upload.is_none() {
        return;
    }
    state
        .background
        .every("rate-limit-upkeep", UPKEEP, AtStop::Exit, move |_| {
            let limits = Arc::clone(&limits);
            async move {
                // A pass over every key: off the executor's threads.
                let kept = tokio::task::spawn_blocking(move || limits.retain_recent()).await;
                for (limit, keys) in kept.into_iter().flatten() {
                    metrics::gauge!(m::RATE_LIMIT_KEYS, "limit" => limit).set(keys as f64);
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(trusted: &[&str], header: Option<&str>) -> RateLimits {
        RateLimits {
            trusted_proxies: trusted.iter().map(|n| n.parse().expect("net")).collect(),
            client_header: header.map(str::to_owned),
            ..RateLimits::off()
        }
    }

    fn client(limits: &RateLimits, peer: &str, header: &[(&str, &str)]) -> String {
        let mut h = HeaderMap::new();
        for (k, v) in header {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        client_ip(limits, peer.parse().expect("peer"), &h).to_string()
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_peer() {
        let l = limits(&["10.0.0.0/8"], Some("x-forwarded-for"));
        let xff = [("x-forwarded-for", "203.0.113.9")];
        assert_eq!(client(&l, "10.1.1.1", &xff), "203.0.113.9");
        assert_eq!(client(&l, "198.51.100.7", &xff), "198.51.100.7", "spoofed");
        let none = limits(&["10.0.0.0/8"], None);
        assert_eq!(client(&none, "10.1.1.1", &xff), "10.1.1.1", "no header");
        assert_eq!(client(&l, "10.1.1.1", &[]), "10.1.1.1", "header missing");
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_hop() {
        let l = limits(&["10.0.0.0/8", "2001:db8::/32"], Some("x-forwarded-for"));
        // The client forged the left part; our proxies appended the rest.
        let chain = [(
            "x-forwarded-for",
            "1.1.1.1, 203.0.113.9, 10.0.0.2,2001:db8::5",
        )];
        assert_eq!(client(&l, "10.0.0.1", &chain), "203.0.113.9");
        // Repeated headers are one list, in order.
        let split = [
            ("x-forwarded-for", "1.1.1.1, 203.0.113.9"),
            ("x-forwarded-for", "10.0.0.2"),
        ];
        assert_eq!(client(&l, "10.0.0.1", &split), "203.0.113.9");
        // Only proxies: the left-most. Garbage: the last trusted hop.
        let inner = [("x-forwarded-for", "10.9.9.9, 10.0.0.2")];
        assert_eq!(client(&l, "10.0.0.1", &inner), "10.9.9.9");
        let junk = [("x-forwarded-for", "203.0.113.9, unknown, 10.0.0.2")];
        assert_eq!(client(&l, "10.0.0.1", &junk), "10.0.0.2");
    }

    #[test]
    fn addresses_are_read_as_proxies_write_them() {
        for (hop, want) in [
            ("192.0.2.1", "192.0.2.1"),
            (" 192.0.2.1:4711 ", "192.0.2.1"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]:4711", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("::ffff:192.0.2.1", "192.0.2.1"),
            ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
            ("For=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
        ] {
            let ip = hop_address(hop.as_bytes()).map(|ip| ip.to_string());
            assert_eq!(ip.as_deref(), Some(want), "{hop}");
        }
        for hop in ["unknown", "for=_hidden", "proto=https", "", "1.2.3"] {
            assert_eq!(hop_address(hop.as_bytes()), None, "{hop}");
        }
    }

    #[test]
    fn a_forwarded_header_works_the_same() {
        let l = limits(&["127.0.0.1/32"], Some("forwarded"));
        let h = [("forwarded", "for=198.51.100.17;proto=https, for=127.0.0.1")];
        assert_eq!(client(&l, "127.0.0.1", &h), "198.51.100.17");
    }
}
