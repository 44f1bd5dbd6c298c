//! Behaviour under load and failure, through the real routers: coalescing, overload, storage
//! outages, deadlines, and the admin listener. Its own test binary, so the process-wide metrics
//! it reads are moved only by these tests.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use object_store::local::LocalFileSystem;
use object_store::throttle::{ThrottleConfig, ThrottledStore};
use refract_server::app::admin_router;

/// A counter's value in the Prometheus text (0 when not yet recorded).
fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

async fn metrics_text(f: &Fixture) -> String {
    let admin = admin_router(f.state.clone());
    let r = send(&admin, get("/metrics")).await;
    assert_eq!(r.status, StatusCode::OK);
    String::from_utf8(r.body.to_vec()).expect("utf-8")
}

/// A store that never answers gets and lists within a test's lifetime.
fn stuck(f: Fixture, configure: impl FnOnce(&mut refract_server::config::Config)) -> Fixture {
    let mut config = f.state.config.clone();
    configure(&mut config);
    let fs = LocalFileSystem::new_with_prefix(f.dir.path()).expect("fs");
    let wait = Duration::from_secs(3600);
    let throttle = ThrottleConfig {
        wait_get_per_call: wait,
        wait_list_per_call: wait,
        ..ThrottleConfig::default()
    };
    fixture_with_store(
        f.dir,
        config,
        Arc::new(ThrottledStore::new(fs, throttle)),
        true,
    )
}

#[tokio::test]
async fn identical_concurrent_requests_share_one_transform() {
    let f = fixture(|_| {});
    refract_server::metrics::handle();
    let before = metrics_text(&f).await;
    let uri = "/cat-small.jpg?width=123&format=webp";
    let replies = futures::future::join_all((0..16).map(|_| send(&f.app, get(uri)))).await;
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, replies[0].body);
        assert_eq!(r.image().1, 123);
    }
    let after = metrics_text(&f).await;
    let delta = |name| counter(&after, name) - counter(&before, name);
    let transforms = "refract_transforms_total{format=\"webp\"}";
    assert_eq!(delta(transforms), 1, "{after}");
    assert_eq!(delta("refract_coalesced_total"), 15, "{after}");
    // A later identical request is a memory hit, not a transform.
    let r = send(&f.app, get(uri)).await;
    assert_eq!(r.header("server-timing"), "cache;desc=\"memory\"");
    let later = metrics_text(&f).await;
    assert_eq!(
        counter(&later, "refract_transforms_total"),
        counter(&after, "refract_transforms_total")
    );
    for name in [
        "refract_http_requests_total{route=\"image\",status=\"200\"}",
        "refract_cache_hits_total{tier=\"memory\"}",
        "refract_cache_misses_total",
        "refract_bytes_in_total",
        "refract_bytes_out_total",
    ] {
        assert!(counter(&later, name) > 0, "{name} in {later}");
    }
    for name in [
        "refract_queue_depth",
        "refract_transforms_in_flight",
        "refract_stage_duration_seconds_bucket{stage=\"decode\"",
        "refract_http_request_duration_seconds_bucket{route=\"image\"",
    ] {
        assert!(later.contains(name), "{name} in {later}");
    }
}

#[tokio::test]
async fn a_full_queue_answers_503_at_once() {
    let f = fixture(|c| {
        c.transform.workers = 1;
        c.transform.queue = 1;
    });
    // Hold the only worker and the only queue slot with jobs that wait for our signal.
    let (release_a, hold_a) = std::sync::mpsc::channel::<()>();
    let (release_b, hold_b) = std::sync::mpsc::channel::<()>();
    let pool = f.state.pool.clone();
    let a = tokio::spawn(async move { pool.run(move || hold_a.recv().ok()).await });
    while f.state.pool.running() < 1 {
        tokio::task::yield_now().await;
    }
    let pool = f.state.pool.clone();
    let b = tokio::spawn(async move { pool.run(move || hold_b.recv().ok()).await });
    while f.state.pool.queued() < 1 {
        tokio::task::yield_now().await;
    }
    let r = send(&f.app, get("/cat-small.jpg?width=77")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.code(), "overloaded");
    assert_eq!(r.header("retry-after"), "1");
    release_a.send(()).expect("release a");
    release_b.send(()).expect("release b");
    a.await.expect("join").expect("job a");
    b.await.expect("join").expect("job b");
    let r = send(&f.app, get("/cat-small.jpg?width=77")).await;
    assert_eq!(r.status, StatusCode::OK, "served once the queue drains");

    // Admission is checked before the original is read: with every permit taken, a request is
    // refused without touching storage (the store here would answer, so 503 can only come
    // from admission).
    let held = f.state.admission.try_acquire_many(2).expect("all permits");
    let r = send(&f.app, get("/cat-small.jpg?width=78")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.code(), "overloaded");
    drop(held);
    let r = send(&f.app, get("/cat-small.jpg?width=78")).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn unreachable_storage_is_503_with_retry_after() {
    let f = stuck(fixture(|_| {}), |c| c.storage.timeout_ms = 200);
    for uri in ["/cat-small.jpg?width=10", "/cat-small.jpg"] {
        let r = send(&f.app, get(uri)).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert_eq!(r.code(), "storage_unavailable");
        assert_eq!(r.header("retry-after"), "1");
    }
    let admin = admin_router(f.state.clone());
    let ready = send(&admin, get("/ready")).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.code(), "storage_unavailable");
    let health = send(&admin, get("/health")).await;
    assert_eq!(health.status, StatusCode::OK, "the process itself is alive");
}

#[tokio::test]
async fn the_request_deadline_bounds_every_request() {
    let f = stuck(fixture(|_| {}), |c| {
        c.storage.timeout_ms = 60_000;
        c.http.request_timeout_ms = 200;
    });
    let r = send(&f.app, get("/cat-small.jpg?width=10")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.code(), "deadline_exceeded");
    assert_eq!(r.header("retry-after"), "1");
}

#[tokio::test]
async fn admin_routes_report_health_and_readiness() {
    let f = fixture(|_| {});
    let admin = admin_router(f.state.clone());
    let r = send(&admin, get("/health")).await;
    assert_eq!(
        (r.status, r.body.as_ref()),
        (StatusCode::OK, b"ok\n".as_slice())
    );
    let r = send(&admin, get("/ready")).await;
    assert_eq!(
        (r.status, r.body.as_ref()),
        (StatusCode::OK, b"ready\n".as_slice())
    );
    let r = send(&admin, get("/metrics")).await;
    assert_eq!(
        r.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    // Image keys never collide with admin routes: they are on another listener.
    let r = send(&f.app, get("/health")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
