//! Rate limits (`[rate_limit]`): per client and per upload token, transforms weighted by their
//! estimated cost, 429 with `Retry-After` and the `RateLimit` fields, the trusted-proxy header,
//! and the peer address the accept loop gives each request.
//!
//! In process, a request's peer is the `ConnectInfo` extension the accept loop would add; a
//! request without one has no client limit (these tests warm caches that way). Rates are
//! 0.001 units a second, so nothing refills while a test runs and every count is exact; the
//! waits the server announces are bounded by what the test itself measured, never timed.

mod support;

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use refract_server::config::{BucketConfig, Config};
use support::app::*;

/// A unit every 1000 s: no refill within a test.
const SLOW: f64 = 0.001;

fn limited(burst: u32) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.rate_limit.client = BucketConfig { rate: SLOW, burst };
    }
}

/// `req` as it comes from `peer` (an IP address; the port is arbitrary).
fn from(peer: &str, mut req: Request<Body>) -> Request<Body> {
    let ip: std::net::IpAddr = peer.parse().expect("peer ip");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(ip, 40000)));
    req
}

/// Checks a 429 and returns its Retry-After: `remaining` units left, and `to_come` more
/// needed, for a bucket whose units were all taken at or after `since` (each comes back
/// 1000 s after it was taken). The `RateLimit` field's window ends with Retry-After.
fn refused(r: &Reply, limit: &str, remaining: u32, to_come: u64, since: Instant) -> u64 {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert_eq!(r.code(), "rate_limited");
    assert_eq!(r.header("cache-control"), "no-store");
    let secs: u64 = r.header("retry-after").parse().expect("whole seconds");
    let full = to_come * 1000;
    assert!(
        secs <= full && secs + since.elapsed().as_secs() + 1 >= full,
        "Retry-After {secs}, expected about {full}"
    );
    assert_eq!(
        r.header("ratelimit"),
        format!("\"{limit}\";r={remaining};t={secs}")
    );
    secs
}

#[tokio::test]
async fn a_burst_gets_429_with_the_headers_and_other_clients_are_unaffected() {
    let f = fixture(limited(5));
    let since = Instant::now();
    for _ in 0..5 {
        let r = send(&f.app, from("192.0.2.1", get("/cat-small.jpg"))).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.headers.get("ratelimit").is_none(),
            "cacheable answers carry no RateLimit"
        );
    }
    let r = send(&f.app, from("192.0.2.1", get("/cat-small.jpg"))).await;
    refused(&r, "client", 0, 1, since);
    assert_eq!(r.header("ratelimit-policy"), "\"client\";q=5;w=5000");
    let message = serde_json::from_slice::<serde_json::Value>(&r.body).expect("json")["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(message.contains("retry in"), "{message}");
    // Refused before anything is looked up: a missing key is 429 too, not 404.
    let r = send(&f.app, from("192.0.2.1", get("/missing.jpg"))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);

    // Another address has a bucket of its own.
    let r = send(&f.app, from("192.0.2.2", get("/cat-small.jpg"))).await;
    assert_eq!(r.status, StatusCode::OK);
    // An IPv6 client is its /64: another address in it shares the bucket, the next /64 not.
    for _ in 0..5 {
        let r = send(&f.app, from("2001:db8:1:2::1", get("/cat-small.jpg"))).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = send(&f.app, from("2001:db8:1:2:ffff::9", get("/cat-small.jpg"))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = send(&f.app, from("2001:db8:1:3::1", get("/cat-small.jpg"))).await;
    assert_eq!(r.status, StatusCode::OK);
    // No peer known (embedded router): no client limit.
    let r = send(&f.app, get("/cat-small.jpg")).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn the_proxy_header_counts_only_from_a_trusted_proxy() {
    let f = fixture(|c| {
        limited(2)(c);
        c.rate_limit.trusted_proxies = vec!["10.0.0.0/8".into()];
    });
    let via = |peer: &str, client: &str| {
        from(
            peer,
            get_with("/cat-small.jpg", &[("x-forwarded-for", client)]),
        )
    };
    // Through the proxy: each client has its own bucket, keyed on the header.
    for _ in 0..2 {
        let r = send(&f.app, via("10.0.0.1", "198.51.100.1")).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = send(&f.app, via("10.0.0.1", "198.51.100.1")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // Through another proxy of the same network, with a forged address before it.
    let r = send(&f.app, via("10.0.0.7", "198.51.100.1, 198.51.100.2")).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the right-most address is the client"
    );
    // The proxy itself was never charged.
    let r = send(&f.app, from("10.0.0.1", get("/cat-small.jpg"))).await;
    assert_eq!(r.status, StatusCode::OK);

    // From a peer that is not a trusted proxy, the header is ignored: fresh addresses in it
    // do not buy fresh buckets.
    for (i, forged) in ["198.51.100.3", "198.51.100.4", "198.51.100.5"]
        .iter()
        .enumerate()
    {
        let r = send(&f.app, via("203.0.113.5", forged)).await;
        let want = if i < 2 {
            StatusCode::OK
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(r.status, want, "request {i} with X-Forwarded-For {forged}");
    }
}

#[tokio::test]
async fn a_transform_costs_more_than_a_hit() {
    let _alone = MISSES.lock().await;
    // 10 units; a transform costs 1 + one per estimated CPU millisecond, at most the burst.
    let f = fixture(|c| {
        limited(10)(c);
        c.rate_limit.transform_unit_ms = 1;
    });
    let hit = "/cat-small.jpg?width=60&format=avif";
    let warm = send(&f.app, get(hit)).await;
    assert_eq!(warm.status, StatusCode::OK);

    // Hits are 1 unit: ten of them pass.
    for i in 0..10 {
        let r = send(&f.app, from("192.0.2.10", get(hit))).await;
        assert_eq!(r.status, StatusCode::OK, "hit {i}");
        assert_eq!(r.header("server-timing"), "cache;desc=\"memory\"");
    }
    let r = send(&f.app, from("192.0.2.10", get(hit))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);

    // One transform (AVIF: libaom's fixed part alone is 10 estimated ms) takes the whole bucket.
    let r = send(
        &f.app,
        from("192.0.2.11", get("/cat-small.jpg?width=70&format=avif")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header("server-timing").starts_with("fetch;"),
        "a transform"
    );
    let r = send(&f.app, from("192.0.2.11", get(hit))).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "not even a hit is left"
    );

    // A transform that does not fit what is left is refused before it runs, and takes
    // nothing beyond the request's own unit.
    let since = Instant::now();
    for _ in 0..5 {
        let r = send(&f.app, from("192.0.2.12", get(hit))).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let fresh = "/cat-small.jpg?width=80&format=avif";
    let r = send(&f.app, from("192.0.2.12", get(fresh))).await;
    refused(&r, "client", 4, 5, since);
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let message = body["message"].as_str().expect("message");
    assert!(
        message.contains("costs 9 units") && message.contains("4 are left"),
        "{message}"
    );
    // It did not run: the next request for it is the transform.
    let r = send(&f.app, get(fresh)).await;
    assert!(
        r.header("server-timing").starts_with("fetch;"),
        "not cached"
    );
    // The 4 units are still there for hits.
    for _ in 0..4 {
        let r = send(&f.app, from("192.0.2.12", get(hit))).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = send(&f.app, from("192.0.2.12", get(hit))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

/// Held by the tests that transform: [`joined`] counts misses in the process-wide metrics.
static MISSES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The value of an unlabelled counter in the process-wide metrics (0 before its first use).
async fn counter(f: &Fixture, name: &str) -> u64 {
    let admin = refract_server::http::admin_router(f.state.clone());
    let text = send(&admin, get("/metrics")).await.body;
    let text = String::from_utf8_lossy(&text);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// Polls `cond` (bounded: 30 s) until it holds.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut cond: impl FnMut() -> F) {
    for _ in 0..3000 {
        if cond().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{what}: not reached within 30 s");
}

/// Sends `leader`'s request for `uri`, then `joiner`'s once it has joined that transform
/// (held back until then by the memory budget, which the test holds), and returns both
/// replies. A request counts its miss and joins the transform in one poll of its task, so a
/// second miss counted means the joiner is in: the tests of this binary that miss hold
/// [`MISSES`], so no other moves `refract_cache_misses_total` meanwhile.
async fn joined(f: &Fixture, uri: &str, leader: &str, joiner: &str) -> (Reply, Reply) {
    let held = f.state.memory.try_reserve(f.state.memory.total());
    assert!(held.is_some(), "the whole memory budget");
    let misses = "refract_cache_misses_total";
    let before = counter(f, misses).await;
    let spawn = |peer: &str| {
        let (app, req) = (f.app.clone(), from(peer, get(uri)));
        tokio::spawn(async move { send(&app, req).await })
    };
    let first = spawn(leader);
    until("the leader's transform runs", || async {
        f.state.flights.in_flight() == 1
    })
    .await;
    let second = spawn(joiner);
    until("the joiner joined it", || async {
        counter(f, misses).await == before + 2
    })
    .await;
    drop(held);
    (first.await.expect("leader"), second.await.expect("joiner"))
}

#[tokio::test]
async fn requests_that_join_a_transform_pay_for_a_hit_and_not_for_another_clients_refusal() {
    let _alone = MISSES.lock().await;
    let f = fixture(|c| {
        limited(10)(c);
        c.rate_limit.transform_unit_ms = 1;
    });
    let hit = "/cat-small.jpg?width=60&format=avif";
    assert_eq!(send(&f.app, get(hit)).await.status, StatusCode::OK);
    let spend = |peer: &'static str, n: usize, want: StatusCode| {
        let app = f.app.clone();
        async move {
            for i in 0..n {
                let r = send(&app, from(peer, get(hit))).await;
                assert_eq!(r.status, want, "{peer}, request {i}");
            }
        }
    };

    // The leader pays 1 + 9; the joiner only its 1.
    let (lead, join) = joined(
        &f,
        "/cat-small.jpg?width=90&format=avif",
        "192.0.2.40",
        "192.0.2.41",
    )
    .await;
    assert_eq!((lead.status, join.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(lead.body, join.body);
    spend("192.0.2.40", 1, StatusCode::TOO_MANY_REQUESTS).await;
    spend("192.0.2.41", 9, StatusCode::OK).await;
    spend("192.0.2.41", 1, StatusCode::TOO_MANY_REQUESTS).await;

    // A leader over its limit is refused; its joiner runs the transform for itself, and pays
    // for it.
    spend("192.0.2.42", 5, StatusCode::OK).await;
    let (lead, join) = joined(
        &f,
        "/cat-small.jpg?width=100&format=avif",
        "192.0.2.42",
        "192.0.2.43",
    )
    .await;
    assert_eq!(lead.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(lead.header("ratelimit").starts_with("\"client\";r=4;t="));
    assert_eq!(join.status, StatusCode::OK, "{:?}", join.body);
    assert!(join.header("server-timing").starts_with("fetch;"));
    spend("192.0.2.43", 1, StatusCode::TOO_MANY_REQUESTS).await;
    spend("192.0.2.42", 4, StatusCode::OK).await;
}

#[tokio::test]
async fn uploads_are_charged_to_the_token() {
    let f = fixture(|c| {
        limited(1)(c);
        c.rate_limit.upload = BucketConfig {
            rate: SLOW,
            burst: 3,
        };
    });
    let png = sample("logo-alpha.png");
    let upload = |token: Option<&str>| {
        from(
            "192.0.2.20",
            put("/up/a.png", token, None, Body::from(png.clone())),
        )
    };
    // Three PUTs and DELETEs with the token, whatever the client's own bucket holds.
    let since = Instant::now();
    let r = send(&f.app, upload(Some(TOKEN))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("ratelimit-policy"), "\"upload\";q=3;w=3000");
    let t: u64 = r
        .header("ratelimit")
        .strip_prefix("\"upload\";r=2;t=")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{}", r.header("ratelimit")));
    assert!((999..=1000).contains(&t), "one unit to come back: {t}");
    let r = send(&f.app, upload(Some(TOKEN))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let del = from(
        "192.0.2.21",
        Request::delete("/up/a.png")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .expect("request"),
    );
    let r = send(&f.app, del).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.header("ratelimit").starts_with("\"upload\";r=0;t="));
    // The fourth, from any client: 429 for the token.
    let r = send(&f.app, upload(Some(TOKEN))).await;
    refused(&r, "upload", 0, 1, since);
    assert_eq!(r.header("ratelimit-policy"), "\"upload\";q=3;w=3000");
    // The client's own unit was never spent on them: a GET passes.
    let r = send(&f.app, from("192.0.2.20", get("/cat-small.jpg"))).await;
    assert_eq!(r.status, StatusCode::OK);
    // Guessing the token is charged to the client: its first guess is a 401, the next a 429.
    let r = send(
        &f.app,
        from(
            "192.0.2.22",
            put(
                "/up/b.png",
                Some("wrong-token-0000000000"),
                None,
                Body::from(png.clone()),
            ),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.header("ratelimit").starts_with("\"client\";r=0;t="));
    let r = send(
        &f.app,
        from(
            "192.0.2.22",
            put(
                "/up/b.png",
                Some("wrong-token-0000000001"),
                None,
                Body::from(png),
            ),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.code(), "rate_limited");
}

#[tokio::test]
async fn limits_off_refuse_nothing() {
    let f = fixture(|c| {
        limited(1)(c);
        c.rate_limit.enabled = false;
    });
    for _ in 0..5 {
        let r = send(&f.app, from("192.0.2.30", get("/cat-small.jpg"))).await;
        assert_eq!(r.status, StatusCode::OK);
    }
}

mod process {
    use super::support::process::{client, Serve};

    /// `refract serve` over samples/ with a 3-unit client bucket, plus `env`.
    fn serve(dir: &std::path::Path, env: &[(&str, &str)]) -> super::support::process::Server {
        let mut s = Serve::new(dir)
            .env("REFRACT_RATE_LIMIT__CLIENT__RATE", "0.001")
            .env("REFRACT_RATE_LIMIT__CLIENT__BURST", "3");
        for (k, v) in env {
            s = s.env(k, v);
        }
        s.start()
    }

    async fn status(c: &reqwest::Client, url: &str, xff: Option<&str>) -> reqwest::Response {
        let mut req = c.get(url);
        if let Some(xff) = xff {
            req = req.header("x-forwarded-for", xff);
        }
        req.send().await.expect("request")
    }

    #[tokio::test]
    async fn the_listener_keys_on_the_peer_and_trusts_only_its_proxies() {
        let dir = tempfile::tempdir().expect("temp dir");
        let c = client();
        // Loopback is not a trusted proxy: forged headers change nothing.
        let server = serve(dir.path(), &[]);
        let url = server.url("/cat-small.jpg");
        for i in 0..3 {
            let r = status(&c, &url, Some(&format!("198.51.100.{i}"))).await;
            assert_eq!(r.status(), 200);
        }
        let r = status(&c, &url, Some("198.51.100.9")).await;
        assert_eq!(r.status(), 429);
        let h = r.headers();
        assert_eq!(h["ratelimit-policy"], "\"client\";q=3;w=3000");
        let retry = h["retry-after"].to_str().expect("ascii").to_owned();
        assert_eq!(
            h["ratelimit"].to_str().expect("ascii"),
            format!("\"client\";r=0;t={retry}")
        );
        let metrics = c
            .get(server.admin_url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(
            metrics.contains("refract_rate_limited_total{limit=\"client\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("refract_rate_limit_units_total{limit=\"client\"} 3"),
            "{metrics}"
        );
        drop(server);

        // Loopback trusted: each forwarded client has its own bucket.
        let dir = tempfile::tempdir().expect("temp dir");
        let server = serve(
            dir.path(),
            &[(
                "REFRACT_RATE_LIMIT__TRUSTED_PROXIES",
                "[\"127.0.0.1\", \"::1\"]",
            )],
        );
        let url = server.url("/cat-small.jpg");
        for _ in 0..3 {
            assert_eq!(status(&c, &url, Some("198.51.100.1")).await.status(), 200);
        }
        assert_eq!(status(&c, &url, Some("198.51.100.1")).await.status(), 429);
        assert_eq!(status(&c, &url, Some("198.51.100.2")).await.status(), 200);
        assert_eq!(
            status(&c, &url, None).await.status(),
            200,
            "the proxy's own"
        );
    }

    #[test]
    fn bad_limits_stop_the_server_at_start_up() {
        for (k, v, says) in [
            ("REFRACT_RATE_LIMIT__CLIENT__RATE", "0", "rate_limit.client"),
            (
                "REFRACT_RATE_LIMIT__UPLOAD__BURST",
                "0",
                "rate_limit.upload",
            ),
            (
                "REFRACT_RATE_LIMIT__TRUSTED_PROXIES",
                "[\"10.0.0.0/33\"]",
                "rate_limit.trusted_proxies",
            ),
            (
                "REFRACT_RATE_LIMIT__CLIENT_IP_HEADER",
                "x forwarded",
                "rate_limit.client_ip_header",
            ),
            ("REFRACT_RATE_LIMIT__BURST", "5", "unknown field"),
        ] {
            let out = super::support::process::refract()
                .arg("serve")
                .env(k, v)
                .output()
                .expect("run");
            assert!(!out.status.success(), "{k}={v}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.starts_with("error[bad_config]:"), "{k}={v}: {err}");
            assert!(err.contains(says), "{k}={v}: {err}");
        }
    }
}
