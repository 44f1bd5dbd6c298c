//! Running the server: behaviour under load and failure through the real routers (coalescing,
//! overload, storage outages, deadlines, the admin listener), and `refract serve` and `refract
//! config` as processes (defaults over samples/, configuration errors at start-up, graceful
//! shutdown on SIGTERM). The in-process tests read process-wide metrics: no other test file's
//! requests move them, since each test file is its own binary.

mod support;

use std::sync::Arc;
use std::time::Duration;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;

use axum::http::StatusCode;
use object_store::local::LocalFileSystem;
use object_store::throttle::{ThrottleConfig, ThrottledStore};
use refract_server::http::admin_router;
use support::app::*;
use support::process::{refract, Serve};

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

/// Waits (polling, bounded) until `cond` holds: for work running on the pool's own threads.
/// The bound is generous: a debug-build AVIF on a loaded 2-core machine can take a minute.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..18_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: not reached within 180 s");
}

/// Holds the only worker of `f`'s pool until the returned sender is used.
async fn hold_the_worker(
    f: &Fixture,
) -> (std::sync::mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let pool = f.state.pool.clone();
    let held = tokio::spawn(async move {
        pool.run(move || hold.recv().ok()).await.expect("held job");
    });
    while f.state.pool.running() < 1 {
        tokio::task::yield_now().await;
    }
    (release, held)
}

#[tokio::test]
async fn a_transform_past_the_deadline_finishes_holds_its_admission_and_keeps_its_result() {
    let f = fixture(|c| {
        c.transform.workers = 1;
        c.transform.queue = 4;
        c.http.request_timeout_ms = 200;
    });
    let permits = f.state.admission.available_permits();
    // The transform waits behind a job we hold, so its request's deadline passes first.
    let (release, held) = hold_the_worker(&f).await;
    let uri = "/cat-small.jpg?width=91&format=webp";
    let r = send(&f.app, get(uri)).await;
    assert_eq!(r.code(), "deadline_exceeded");
    // The work goes on, and admission still counts it.
    assert_eq!(f.state.flights.in_flight(), 1);
    assert_eq!(f.state.admission.available_permits(), permits - 1);
    release.send(()).expect("release");
    held.await.expect("join");
    eventually("the transform ends", || f.state.flights.in_flight() == 0).await;
    assert_eq!(f.state.admission.available_permits(), permits);
    // Its result was kept: the retry is a hit, not a second transform.
    let r = send(&f.app, get(uri)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("server-timing"), "cache;desc=\"memory\"");
    assert_eq!(r.image(), ("webp".to_owned(), 91, 61));
}

#[tokio::test]
async fn a_retry_joins_the_running_transform() {
    let f = fixture(|c| {
        c.transform.workers = 1;
        c.http.request_timeout_ms = 200;
    });
    let (release, held) = hold_the_worker(&f).await;
    let uri = "/cat-small.jpg?width=92";
    for _ in 0..3 {
        let r = send(&f.app, get(uri)).await;
        assert_eq!(r.code(), "deadline_exceeded");
        assert_eq!(
            f.state.flights.in_flight(),
            1,
            "one transform, however many retries"
        );
    }
    release.send(()).expect("release");
    held.await.expect("join");
    eventually("the transform ends", || f.state.flights.in_flight() == 0).await;
    assert_eq!(
        send(&f.app, get(uri)).await.header("server-timing"),
        "cache;desc=\"memory\""
    );
}

#[tokio::test]
async fn work_that_could_not_finish_within_the_deadline_is_refused_at_once() {
    // One worker and a 1 s deadline: at most 500 reference ms of work may be booked. A slow
    // libaom speed makes one AVIF cost seconds (speed 9 encodes this size in tens of ms).
    let f = fixture(|c| {
        c.transform.avif_speed = 4;
        c.transform.workers = 1;
        c.transform.queue = 4;
        c.http.request_timeout_ms = 1000;
    });
    let (release, held) = hold_the_worker(&f).await;
    // An AVIF estimated over a second is booked alone (its request then times out, waiting).
    let r = send(
        &f.app,
        get("/cat-small.jpg?width=900&fit=contain&format=avif"),
    )
    .await;
    assert_eq!(r.code(), "deadline_exceeded");
    assert!(
        f.state.cpu.booked_ms() > 1000,
        "{}",
        f.state.cpu.booked_ms()
    );
    // Anything more could not finish in time behind it: 503 `overloaded` at once (waiting
    // would have ended in `deadline_exceeded`, as above).
    let r = send(&f.app, get("/cat-small.jpg?width=50")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.code(), "overloaded");
    assert_eq!(r.header("retry-after"), "1");
    release.send(()).expect("release");
    held.await.expect("join");
    eventually("the booked work ends", || f.state.cpu.booked_ms() == 0).await;
    let r = send(&f.app, get("/cat-small.jpg?width=50")).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn transforms_wait_for_the_memory_budget_and_what_can_never_fit_is_refused() {
    let f = fixture(|c| {
        c.transform.memory_bytes = 64 << 20;
        c.http.request_timeout_ms = 300;
    });
    // With the budget taken, a transform waits for memory, and its request gives up at the
    // deadline (the work itself waits at most as long, then is refused as overloaded).
    let all = f
        .state
        .memory
        .reserve(f.state.memory.total())
        .await
        .expect("whole budget");
    let r = send(&f.app, get("/cat-small.jpg?width=93")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.header("retry-after"), "1");
    assert_eq!(f.state.flights.in_flight(), 1, "waiting for memory");
    drop(all);
    eventually("the budget is free again", || {
        f.state.memory.available() == f.state.memory.total()
    })
    .await;
    let r = send(&f.app, get("/cat-small.jpg?width=93")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        f.state.memory.available(),
        f.state.memory.total(),
        "released"
    );

    // A transform whose estimate is larger than the whole budget cannot ever run.
    let f = fixture(|c| c.transform.memory_bytes = 4 << 20);
    let r = send(
        &f.app,
        get("/cat-small.jpg?width=3000&fit=contain&format=png"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "too_costly");
    let body = String::from_utf8_lossy(&r.body);
    assert!(body.contains("MiB of memory"), "{body}");
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

/// One HTTP/1.1 request on a fresh connection; returns the status line, headers and body.
fn request(addr: &str, raw: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(raw.as_bytes()).expect("send");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    (head, buf[split + 4..].to_vec())
}

fn get_raw(addr: &str, path: &str, accept: &str) -> (String, Vec<u8>) {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"),
    )
}

#[test]
fn serves_samples_with_no_configuration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Serve::new(dir.path()).start();
    let (head, body) = get_raw(
        &server.http.to_string(),
        "/cat-small.jpg?width=120&format=auto",
        "image/webp,*/*",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("content-type: image/webp"), "{head}");
    assert!(head.contains("vary: Accept"), "{head}");
    let h = refract_core::decode::probe(&body, &refract_core::Limits::default()).expect("webp");
    assert_eq!(h.width, 120);
    let (head, body) = get_raw(&server.admin.to_string(), "/ready", "*/*");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"ready\n");
}

#[test]
fn config_prints_the_effective_configuration() {
    let out = refract().arg("config").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("listen = \"127.0.0.1:8080\""), "{text}");
    assert!(text.contains("originals = \"samples\""), "{text}");
    let out = refract()
        .args([
            "config",
            "--listen",
            "127.0.0.1:9999",
            "--config",
            "samples/refract.toml",
        ])
        .env("REFRACT_CACHE__MEMORY_BYTES", "1234")
        .output()
        .expect("run");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("listen = \"127.0.0.1:9999\""), "{text}");
    assert!(text.contains("memory_bytes = 1234"), "{text}");
    assert!(text.contains("thumb = "), "{text}");
}

#[test]
fn unknown_configuration_is_an_error_at_start_up() {
    for (k, v) in [("REFRACT_LISTEN_ADDR", "x"), ("REFRACT_CACHE__BYTES", "1")] {
        let out = refract().arg("serve").env(k, v).output().expect("run");
        assert!(!out.status.success(), "{k}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error[bad_config]:"), "{err}");
        assert!(err.contains("unknown field"), "{err}");
    }
    let out = refract()
        .args(["serve", "--originals", "/nonexistent/refract-originals"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("originals directory"));
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The originals beside the server's state (Serve keeps it in `dir/data`), not around it.
    let originals_dir = dir.path().join("originals");
    std::fs::create_dir(&originals_dir).expect("mkdir");
    let originals = originals_dir.display().to_string();
    let token = "graceful-shutdown-token";
    let mut server = Serve::new(dir.path())
        .args(["--originals", &originals, "--upload-token", token])
        .start();
    let png =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/logo-alpha.png"))
            .expect("sample");
    // An upload whose body we hold back: the server answers `100 Continue` only once the
    // handler reads the body, which proves the request is in flight.
    let mut s = TcpStream::connect(&server.http).expect("connect");
    let head = format!(
        "PUT /kept.png HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        png.len()
    );
    s.write_all(head.as_bytes()).expect("send head");
    let mut reader = BufReader::new(s.try_clone().expect("clone"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("100 continue");
    assert!(line.starts_with("HTTP/1.1 100"), "{line}");
    let mut blank = String::new();
    reader.read_line(&mut blank).expect("blank line");

    let pid = server.pid().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    s.write_all(&png).expect("send body after SIGTERM");
    let mut rest = String::new();
    reader.read_to_string(&mut rest).expect("response");
    assert!(rest.starts_with("HTTP/1.1 201"), "{rest}");
    let status = server.wait();
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        std::fs::read(originals_dir.join("kept.png")).expect("stored"),
        png
    );
    // And it no longer accepts connections.
    assert!(TcpStream::connect(&server.http).is_err());
}

/// SIGTERM waits for the background work: the variant written to warm and its index row, and
/// the access times still in memory (the flush interval is far longer than the test).
#[tokio::test]
async fn sigterm_finishes_the_background_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Serve::new(dir.path())
        .env("REFRACT_META__FLUSH_MS", "3600000")
        .start();
    let client = support::process::client();
    let uri = "/cat-small.jpg?width=77&format=png";
    for _ in 0..2 {
        let r = client.get(server.url(uri)).send().await.expect("get");
        assert_eq!(r.status(), 200);
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert!(server.wait().success());

    let url = format!("sqlite://{}", dir.path().join("data/meta.db").display());
    let index = refract_server::index::Index::open(&url)
        .await
        .expect("the server's index");
    let spec = refract_core::Spec::parse_query("width=77&format=png").expect("spec");
    let policy = refract_server::config::Config::default().transform.policy();
    let id = refract_core::VariantKey::new("cat-small.jpg", &spec, "", &policy)
        .id()
        .to_owned();
    let row = index
        .get(&refract_server::index::Record::variant_id(&id))
        .await
        .expect("get")
        .expect("the variant's row was written before exit");
    assert!(
        row.tiers.contains(refract_server::index::Presence::WARM),
        "{row:?}"
    );
    assert!(
        dir.path()
            .join("data/warm")
            .join(&id[..2])
            .join(&id)
            .is_file(),
        "the warm file"
    );
    assert!(
        row.hits >= 1,
        "the access times were flushed at exit: {row:?}"
    );
}
