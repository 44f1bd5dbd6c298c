//! The lifecycle against a real S3-compatible server (SeaweedFS's `weed mini`, started per test
//! on free ports): originals in `s3://BUCKET/originals`, the cold tier in `s3://BUCKET/variants`,
//! and every check of what happened asked of S3 itself (the tests' own SigV4 client), not of
//! Refract. One test drives the sweeper in process with a clock it controls; one SIGKILLs
//! `refract lifecycle run` in the middle of a storage-class change; one runs two `refract
//! serve` instances and two sweepers over one PostgreSQL and one bucket.
//!
//! Ignored by plain `cargo test`; tests/run.sh runs them with
//! `cargo test -p refract-server --test s3_lifecycle -- --ignored --test-threads=1`.

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::StatusCode;
use bytes::Bytes;
use refract_core::{Spec, VariantKey};
use refract_server::config::{Config, S3Config};
use refract_server::http::router;
use refract_server::index::{Class, Index, Presence, Record};
use refract_server::lifecycle::plan::Planned;
use refract_server::lifecycle::sweep::{Report, Sweeper, LEASE_MS};
use refract_server::lifecycle::Policy;
use refract_server::runtime::clock::{Clock, DAY_MS};
use refract_server::state::{AppState, State};
use refract_server::tiers::blob::Blob;
use support::app::{get, put, send};
use support::pg::PgServer;
use support::process::{sample, Serve, Weed, ACCESS_KEY_ID, BUCKET, SECRET_ACCESS_KEY, TOKEN};
use support::sigv4::{get_object, head_object, put_object, ObjectHead};

const REGION: &str = "us-east-1";
/// The manual clock's start: a day in 2024.
const T0: i64 = 20_000 * DAY_MS;
/// 914,024 bytes, 4352×2448: over the `min_size` of the photo rule.
const BIG: &str = "bridge-10mp.jpg";
/// 30,973 bytes, 451×300: under it.
const SMALL: &str = "cat-small.jpg";
/// 7,554 bytes, 256×256.
const LOGO: &str = "logo-alpha.png";

/// Bounds on waiting for processes and for a condition polled every `POLL`.
const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

const POLICY: &str = r#"
[[rule]]
id = "variants"
filter = { class = "variant" }
actions = [
  { type = "demote", to = "cold", days_since_access = 7 },
  { type = "expire", days_since_access = 90 },
]

[[rule]]
id = "photo-originals"
filter = { class = "original", prefix = "photos/", min_size = 131072 }
actions = [{ type = "storage_class", class = "STANDARD_IA", days_since_access = 30 }]

[[rule]]
id = "tmp-uploads"
filter = { class = "original", prefix = "tmp/" }
actions = [{ type = "expire", days_since_creation = 1 }]
"#;

/// The bucket as S3 itself reports it.
struct S3 {
    endpoint: String,
}

impl S3 {
    fn of(weed: &Weed) -> S3 {
        S3 {
            endpoint: weed.endpoint(),
        }
    }

    async fn head(&self, key: &str) -> ObjectHead {
        head_object(
            &self.endpoint,
            REGION,
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            BUCKET,
            key,
        )
        .await
    }

    /// Puts an object straight into the bucket, as another tool would (no row in the index).
    async fn put(&self, key: &str, body: Vec<u8>) {
        let status = put_object(
            &self.endpoint,
            REGION,
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            BUCKET,
            key,
            body,
        )
        .await;
        assert_eq!(status, 200, "PUT {key}");
    }

    async fn get(&self, key: &str) -> (u16, Vec<u8>) {
        get_object(
            &self.endpoint,
            REGION,
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            BUCKET,
            key,
        )
        .await
    }

    /// An original's storage class and bytes: HEAD must be 200, GET 200 with `expected`.
    async fn assert_original(&self, key: &str, class: Option<&str>, expected: &[u8]) {
        let at = format!("originals/{key}");
        let head = self.head(&at).await;
        assert_eq!(head.status, 200, "{at}: {head:?}");
        assert_eq!(head.storage_class.as_deref(), class, "{at}: {head:?}");
        assert_eq!(head.size, Some(expected.len() as u64), "{at}: {head:?}");
        let (status, body) = self.get(&at).await;
        assert_eq!(status, 200, "{at}");
        assert!(body == expected, "{at}: S3 returned other bytes");
    }

    /// The variant stored in the cold tier under `variants/<id>`, decoded, or `None` on 404.
    async fn cold_blob(&self, id: &str) -> Option<Blob> {
        let (status, body) = self.get(&format!("variants/{id}")).await;
        match status {
            200 => Some(Blob::decode(Bytes::from(body)).expect("a cold object is an RFV2 blob")),
            404 => None,
            s => panic!("GET variants/{id}: status {s}"),
        }
    }
}

/// Originals in `s3://BUCKET/originals`, cold tier `s3://BUCKET` + `variants`, warm tier and
/// SQLite metadata in `data`.
fn s3_config(weed: &Weed, data: &Path) -> Config {
    let mut config = Config {
        originals: format!("s3://{BUCKET}/originals"),
        data_dir: data.display().to_string(),
        ..Config::default()
    };
    config.tiers.cold = format!("s3://{BUCKET}");
    config.tiers.cold_prefix = "variants".into();
    config.storage.s3 = S3Config {
        endpoint: Some(weed.endpoint()),
        region: Some(REGION.into()),
        access_key_id: Some(ACCESS_KEY_ID.into()),
        secret_access_key: Some(SECRET_ACCESS_KEY.into()),
        allow_http: true,
    };
    config.upload.token = Some(TOKEN.into());
    config.lifecycle.batch = 2;
    config
}

async fn open_state(config: &Config, clock: &Clock) -> AppState {
    State::open(config.clone(), clock.clone())
        .await
        .expect("state")
}

fn lifecycle(state: &AppState, clock: &Clock) -> Sweeper {
    Sweeper {
        policy: Policy::parse(POLICY).expect("policy"),
        index: state.tiers.index().cloned().expect("index"),
        originals: state.originals.clone(),
        chain: Arc::clone(&state.tiers),
        clock: clock.clone(),
        batch: 2,
        lease_ms: LEASE_MS,
        concurrency: 4,
        reconcile_keys: 0,
        cold_bytes: 0,
    }
}

/// The identity a server with the default encoder settings gives `/<key>?<query>`.
fn variant(key: &str, query: &str) -> VariantKey {
    let spec = Spec::parse_query(query).expect("spec");
    VariantKey::new(key, &spec, "", &Config::default().transform.policy())
}

async fn upload(app: &axum::Router, key: &str, body: Vec<u8>) {
    let r = send(
        app,
        put(&format!("/{key}"), Some(TOKEN), None, Body::from(body)),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "PUT {key}: {:?}",
        String::from_utf8_lossy(&r.body)
    );
}

/// A plan as sorted `(rule, action, id)` triples.
fn actions(plans: &[Planned]) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = plans
        .iter()
        .map(|p| (p.rule.clone(), p.op.name().to_owned(), p.id.clone()))
        .collect();
    out.sort();
    out
}

fn triple(rule: &str, action: &str, id: &str) -> (String, String, String) {
    (rule.to_owned(), action.to_owned(), id.to_owned())
}

async fn row(meta: &Index, id: &str) -> Record {
    meta.get(id)
        .await
        .expect("meta get")
        .unwrap_or_else(|| panic!("no row {id}"))
}

/// A variant made through the router.
struct Made {
    uri: String,
    key: VariantKey,
    id: String,
    bytes: Bytes,
}

/// `(original key, query, expected (format, width, height))`.
const VARIANTS: [(&str, &str, (&str, u32, u32)); 4] = [
    ("photos/small.jpg", "width=60&format=png", ("png", 60, 40)),
    ("photos/small.jpg", "width=80&format=png", ("png", 80, 53)),
    ("logos/logo.png", "width=64&format=png", ("png", 64, 64)),
    (
        "photos/big.jpg",
        "width=200&format=jpeg",
        ("jpeg", 200, 113),
    ),
];

/// Reads each variant from memory-less state: the answer comes from `tier` with the same bytes.
async fn assert_served_from(app: &axum::Router, state: &AppState, made: &[&Made], tier: &str) {
    for m in made {
        state.tiers.discard(&m.key);
        let r = send(app, get(&m.uri)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", m.uri);
        assert_eq!(
            r.header("server-timing"),
            format!("cache;desc=\"{tier}\""),
            "{}",
            m.uri
        );
        assert!(
            r.body == m.bytes,
            "{}: other bytes than first served",
            m.uri
        );
    }
    state.tiers.settle().await;
    state.tiers.flush_access().await;
}

#[tokio::test]
#[ignore = "needs SeaweedFS and PostgreSQL: run by tests/run.sh"]
async fn every_rule_action_against_s3() {
    let started = Instant::now();
    let root = tempfile::Builder::new()
        .prefix("refract-s3-lifecycle-")
        .tempdir()
        .expect("temp dir");
    let weed = Weed::start(root.path()).await;
    let s3 = S3::of(&weed);
    let data = root.path().join("refract");
    let clock = Clock::manual(T0);
    let config = s3_config(&weed, &data);
    let state = open_state(&config, &clock).await;
    let app = router(state.clone());
    let lc = lifecycle(&state, &clock);
    let meta = lc.index.clone();
    let (big, small, logo) = (sample(BIG), sample(SMALL), sample(LOGO));

    // Day 0: four originals uploaded through the router, each with its row.
    let originals: [(&str, &Vec<u8>, &str); 4] = [
        ("photos/big.jpg", &big, "image/jpeg"),
        ("photos/small.jpg", &small, "image/jpeg"),
        ("tmp/upload.jpg", &small, "image/jpeg"),
        ("logos/logo.png", &logo, "image/png"),
    ];
    for (key, body, content_type) in originals {
        upload(&app, key, body.clone()).await;
        let r = row(&meta, &format!("o/{key}")).await;
        assert_eq!(
            (r.class, r.key.as_str(), r.tiers, r.size),
            (Class::Original, key, Presence::STORE, body.len() as u64),
            "{r:?}"
        );
        assert_eq!(
            (r.content_type.as_str(), r.storage_class.as_str()),
            (content_type, "STANDARD")
        );
        assert_eq!((r.created_ms, r.last_access_ms, r.hits), (T0, T0, 0));
        assert_eq!(r.pending, None);
        s3.assert_original(key, None, body).await;
    }
    let big_etag = s3.head("originals/photos/big.jpg").await.etag;
    assert!(big_etag.is_some());

    // Four variants, written to warm (not cold) with their rows.
    let mut made = Vec::new();
    for (key, query, (format, w, h)) in VARIANTS {
        let uri = format!("/{key}?{query}");
        let r = send(&app, get(&uri)).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.image(), (format.to_owned(), w, h), "{uri}");
        let key = variant(key, query);
        made.push(Made {
            uri,
            id: key.id().to_owned(),
            key,
            bytes: r.body,
        });
    }
    state.tiers.settle().await;
    state.tiers.flush_access().await;
    for (m, (key, query, _)) in made.iter().zip(VARIANTS) {
        let r = row(&meta, &format!("v/{}", m.id)).await;
        let spec = m.key.to_string();
        assert_eq!(
            (r.class, r.key.as_str(), r.spec.as_deref(), r.tiers),
            (Class::Variant, key, Some(spec.as_str()), Presence::WARM),
            "{r:?} for {query}"
        );
        assert_eq!(r.size, m.bytes.len() as u64);
        assert!(state.tiers.in_warm(&m.id));
        assert_eq!(s3.cold_blob(&m.id).await, None, "not in cold yet");
    }
    let all: Vec<&Made> = made.iter().collect();
    eprintln!("day 0 ready after {} ms", started.elapsed().as_millis());

    // Half a day later nothing is due (thresholds are inclusive: 1.0 days is due).
    clock.advance_ms(DAY_MS / 2);
    assert_eq!(lc.plan(clock.now_ms()).await.expect("plan").1, []);

    // Day 2: the temporary upload expires, from S3 and from the metadata; nothing else.
    clock.advance_ms(DAY_MS * 3 / 2);
    let (scanned, plans) = lc.plan(clock.now_ms()).await.expect("plan");
    assert_eq!(scanned, 8);
    assert_eq!(
        actions(&plans),
        [triple("tmp-uploads", "expire", "o/tmp/upload.jpg")]
    );
    let report = lc.run_once().await.expect("run");
    let expected = Report {
        scanned: 8,
        applied: 1,
        ..Report::default()
    };
    assert_eq!(report, expected);
    assert_eq!(s3.head("originals/tmp/upload.jpg").await.status, 404);
    assert_eq!(s3.get("originals/tmp/upload.jpg").await.0, 404);
    assert_eq!(meta.get("o/tmp/upload.jpg").await.expect("get"), None);
    assert_eq!(
        send(&app, get("/tmp/upload.jpg")).await.status,
        StatusCode::NOT_FOUND
    );
    let again = lc.run_once().await.expect("run again");
    let expected = Report {
        scanned: 7,
        ..Report::default()
    };
    assert_eq!(again, expected);

    // Day 8: every variant leaves warm for objects under variants/, once.
    clock.advance_ms(6 * DAY_MS);
    let (_, plans) = lc.plan(clock.now_ms()).await.expect("plan");
    let mut demotes: Vec<_> = made
        .iter()
        .map(|m| triple("variants", "demote", &format!("v/{}", m.id)))
        .collect();
    demotes.sort();
    assert_eq!(actions(&plans), demotes);
    let report = lc.run_once().await.expect("run");
    let expected = Report {
        scanned: 7,
        applied: 4,
        ..Report::default()
    };
    assert_eq!(report, expected);
    for m in &made {
        let r = row(&meta, &format!("v/{}", m.id)).await;
        assert_eq!((r.tiers, r.pending.as_deref()), (Presence::COLD, None));
        assert!(!state.tiers.in_warm(&m.id), "{}: still in warm", m.uri);
        let blob = s3.cold_blob(&m.id).await.expect("in cold");
        assert_eq!(blob.key, m.key);
        assert!(blob.body == m.bytes, "{}: the cold copy differs", m.uri);
    }
    let again = lc.run_once().await.expect("run again");
    assert_eq!(again.applied, 0, "{again:?}");
    // Still served, from cold, byte for byte. Reading promotes them back into warm.
    assert_served_from(&app, &state, &all, "cold").await;
    for m in &made {
        let r = row(&meta, &format!("v/{}", m.id)).await;
        assert_eq!(r.tiers, Presence::COLD.with(Presence::WARM), "{r:?}");
        assert_eq!((r.last_access_ms, r.hits), (T0 + 8 * DAY_MS, 1), "{r:?}");
    }

    // Day 31: a month since the photos were uploaded, and nobody downloaded the big one, but
    // its variant was served on day 8: a use of the original, so it keeps its class for now.
    clock.advance_ms(23 * DAY_MS);
    let (_, plans) = lc.plan(clock.now_ms()).await.expect("plan");
    assert_eq!(actions(&plans), demotes, "the big photo is in use");
    let r = row(&meta, "o/photos/big.jpg").await;
    assert_eq!(r.last_access_ms, T0 + 8 * DAY_MS, "{r:?}");

    // Day 38, 30 days after that use: the big photo (not the small one: min_size) goes to
    // STANDARD_IA; the variants read on day 8 are back in warm and leave it again.
    clock.advance_ms(7 * DAY_MS);
    let (_, plans) = lc.plan(clock.now_ms()).await.expect("plan");
    let mut expected_plan = demotes.clone();
    expected_plan.push(triple(
        "photo-originals",
        "storage_class",
        "o/photos/big.jpg",
    ));
    expected_plan.sort();
    assert_eq!(actions(&plans), expected_plan);
    let report = lc.run_once().await.expect("run");
    let expected = Report {
        scanned: 7,
        applied: 5,
        ..Report::default()
    };
    assert_eq!(report, expected);
    s3.assert_original("photos/big.jpg", Some("STANDARD_IA"), &big)
        .await;
    assert_eq!(
        s3.head("originals/photos/big.jpg").await.etag,
        big_etag,
        "the rewrite kept the ETag (same bytes), so variants stay valid"
    );
    let r = row(&meta, "o/photos/big.jpg").await;
    assert_eq!(
        (r.storage_class.as_str(), r.size, r.pending.as_deref()),
        ("STANDARD_IA", big.len() as u64, None)
    );
    s3.assert_original("photos/small.jpg", None, &small).await;
    s3.assert_original("logos/logo.png", None, &logo).await;
    for key in ["photos/small.jpg", "logos/logo.png"] {
        assert_eq!(
            row(&meta, &format!("o/{key}")).await.storage_class,
            "STANDARD"
        );
    }
    let again = lc.run_once().await.expect("run again");
    assert_eq!(again.applied, 0, "{again:?}");
    // The original in its new class is served as before, and so is its variant, from cold.
    let r = send(&app, get("/photos/big.jpg")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body == big, "the IA original is served with other bytes");
    assert_served_from(&app, &state, &[&made[3]], "cold").await;

    // Day 107: the variants last read on day 8 expire, from every tier; the one read on day 38
    // is demoted again instead. Originals stay (no rule expires them but tmp/).
    clock.advance_ms(69 * DAY_MS);
    let (_, plans) = lc.plan(clock.now_ms()).await.expect("plan");
    let mut expected_plan: Vec<_> = made[..3]
        .iter()
        .map(|m| triple("variants", "expire", &format!("v/{}", m.id)))
        .collect();
    expected_plan.push(triple("variants", "demote", &format!("v/{}", made[3].id)));
    expected_plan.sort();
    assert_eq!(actions(&plans), expected_plan);
    let report = lc.run_once().await.expect("run");
    let expected = Report {
        scanned: 7,
        applied: 4,
        ..Report::default()
    };
    assert_eq!(report, expected);
    for m in &made[..3] {
        assert_eq!(meta.get(&format!("v/{}", m.id)).await.expect("get"), None);
        assert_eq!(s3.head(&format!("variants/{}", m.id)).await.status, 404);
        assert!(!state.tiers.in_warm(&m.id));
        assert!(!state.tiers.in_memory(&m.id));
    }
    let kept = row(&meta, &format!("v/{}", made[3].id)).await;
    assert_eq!(kept.tiers, Presence::COLD);
    assert!(s3.cold_blob(&made[3].id).await.expect("in cold").body == made[3].bytes);
    s3.assert_original("photos/big.jpg", Some("STANDARD_IA"), &big)
        .await;
    s3.assert_original("photos/small.jpg", None, &small).await;
    s3.assert_original("logos/logo.png", None, &logo).await;
    assert_eq!(s3.head("originals/tmp/upload.jpg").await.status, 404);
    let ids: Vec<String> = meta
        .scan("", 100)
        .await
        .expect("scan")
        .into_iter()
        .map(|r| r.id)
        .collect();
    let mut expected_ids = vec![
        "o/logos/logo.png".to_owned(),
        "o/photos/big.jpg".to_owned(),
        "o/photos/small.jpg".to_owned(),
        format!("v/{}", made[3].id),
    ];
    expected_ids.sort();
    assert_eq!(ids, expected_ids);
    let again = lc.run_once().await.expect("run again");
    let expected = Report {
        scanned: 4,
        ..Report::default()
    };
    assert_eq!(again, expected);
    // An expired variant is simply made again.
    let r = send(&app, get(&made[0].uri)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.image(), ("png".to_owned(), 60, 40));
    eprintln!(
        "every_rule_action_against_s3: {} ms",
        started.elapsed().as_millis()
    );
}

/// Objects put straight into the bucket (not through Refract) come under the rules: the
/// reconcile registers them a page per sweep, created at S3's Last-Modified, drops the row of an
/// object gone from the bucket, and the creation rule then expires the `tmp/` ones from S3.
#[tokio::test]
#[ignore = "needs SeaweedFS and PostgreSQL: run by tests/run.sh"]
async fn objects_put_straight_into_the_bucket_come_under_the_rules() {
    let root = tempfile::Builder::new()
        .prefix("refract-s3-reconcile-")
        .tempdir()
        .expect("temp dir");
    let weed = Weed::start(root.path()).await;
    let s3 = S3::of(&weed);
    let before = unix_ms() / 1000 * 1000;
    let (small, logo) = (sample(SMALL), sample(LOGO));
    let direct = ["tmp/a.jpg", "tmp/b.jpg", "tmp/c.jpg", "keep/d.png"];
    for key in direct {
        let body = if key.ends_with(".png") { &logo } else { &small };
        s3.put(&format!("originals/{key}"), body.clone()).await;
    }
    let after = unix_ms();
    let clock = Clock::manual(after);
    let config = s3_config(&weed, &root.path().join("refract"));
    let state = open_state(&config, &clock).await;
    upload(&router(state.clone()), "up.jpg", small.clone()).await;
    let mut lc = lifecycle(&state, &clock);
    lc.reconcile_keys = 2;
    let meta = lc.index.clone();
    // A row whose object is not in the bucket (deleted there by another tool).
    meta.upsert(&Record::original("gone.jpg", 10, "image/jpeg", after))
        .await
        .expect("row");

    // Nothing is known of them before the reconcile: no row, nothing planned.
    for key in direct {
        assert_eq!(meta.get(&format!("o/{key}")).await.expect("get"), None);
    }
    // A page of two keys per sweep, until the listing starts over (bounded).
    let mut reports = Vec::new();
    while reports.len() < 10 {
        reports.push(lc.run_once().await.expect("sweep"));
        let cursor = meta.cursor("reconcile").await.expect("cursor");
        if cursor.as_deref() == Some(r#"{"path":"","key":""}"#) {
            break;
        }
    }
    eprintln!("reconcile sweeps: {reports:?}");
    assert!(reports.len() >= 3, "at least three pages: {reports:?}");
    assert!(reports
        .iter()
        .all(|r| r.registered <= 2 && r.failed == 0 && r.applied == 0));
    let registered: u64 = reports.iter().map(|r| r.registered).sum();
    let forgotten: u64 = reports.iter().map(|r| r.forgotten).sum();
    assert_eq!((registered, forgotten), (4, 1), "{reports:?}");
    assert_eq!(meta.get("o/gone.jpg").await.expect("get"), None);
    for key in direct {
        let r = row(&meta, &format!("o/{key}")).await;
        let (size, content_type) = match key.ends_with(".png") {
            true => (logo.len(), "image/png"),
            false => (small.len(), "image/jpeg"),
        };
        assert_eq!(
            (r.size, r.content_type.as_str(), r.tiers),
            (size as u64, content_type, Presence::STORE),
            "{r:?}"
        );
        assert!(
            (before..=after).contains(&r.created_ms),
            "created at S3's Last-Modified: {r:?}"
        );
    }

    // A day and more later, the `tmp/` objects put straight into the bucket are expired.
    clock.advance_ms(2 * DAY_MS);
    let report = lc.run_once().await.expect("sweep");
    assert_eq!((report.applied, report.failed), (3, 0), "{report:?}");
    for key in ["tmp/a.jpg", "tmp/b.jpg", "tmp/c.jpg"] {
        assert_eq!(
            s3.head(&format!("originals/{key}")).await.status,
            404,
            "{key}"
        );
        assert_eq!(meta.get(&format!("o/{key}")).await.expect("get"), None);
    }
    s3.assert_original("keep/d.png", None, &logo).await;
    s3.assert_original("up.jpg", None, &small).await;
}

/// `refract` with `env` added to a clean environment (see `support::process::refract`).
fn refract(env: &[(String, String)]) -> Command {
    let mut c = support::process::refract();
    c.envs(env.iter().map(|(k, v)| (k, v))).stdin(Stdio::null());
    c
}

/// The JSON report `refract lifecycle run` prints.
fn report_of(out: &Output) -> Report {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "report is not JSON ({e}): {:?} {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}"));
    Report {
        scanned: n("scanned"),
        applied: n("applied"),
        skipped: n("skipped"),
        failed: n("failed"),
        recovered: n("recovered"),
        pending: n("pending"),
        registered: n("registered"),
        forgotten: n("forgotten"),
        evicted: n("evicted"),
    }
}

#[tokio::test]
#[ignore = "needs SeaweedFS and PostgreSQL: run by tests/run.sh"]
async fn storage_class_change_survives_a_kill() {
    let started = Instant::now();
    let root = tempfile::Builder::new()
        .prefix("refract-s3-lifecycle-kill-")
        .tempdir()
        .expect("temp dir");
    let weed = Weed::start(root.path()).await;
    let s3 = S3::of(&weed);
    let big = sample(BIG);
    // `claimed`: killed after the row is claimed, before S3 is touched. `copied`: killed after
    // the in-place rewrite with the new class, before the row records it.
    for (case, (step, class_after_kill)) in [("claimed", None), ("copied", Some("STANDARD_IA"))]
        .into_iter()
        .enumerate()
    {
        // The cases share the bucket: each sweep's reconcile registers the earlier cases'
        // originals too, so it scans them (no rule is due for them: registered from the
        // listing, they were modified today, after the simulated date of these sweeps).
        let rows = case as u64 + 1;
        let data = root.path().join(format!("refract-{step}"));
        let key = format!("photos/{step}.jpg");
        let id = format!("o/{key}");
        let config = s3_config(&weed, &data);
        {
            let state = open_state(&config, &Clock::manual(T0)).await;
            upload(&router(state.clone()), &key, big.clone()).await;
        }
        let policy_path = data.join("policy.toml");
        std::fs::write(&policy_path, POLICY).expect("policy");
        let config_path = data.join("refract.toml");
        std::fs::write(&config_path, toml::to_string(&config).expect("toml")).expect("config");
        let now = (T0 + 31 * DAY_MS).to_string();
        // The killed sweep's claim is taken over once its lease has run out, in real time
        // (the finishing runs set it to 0).
        let run_at = |fault: Option<&str>, lease: Option<&str>| {
            let mut c = refract(&[]);
            c.args(["lifecycle", "run", "--config"])
                .arg(&config_path)
                .arg("--policy")
                .arg(&policy_path)
                .args(["--now", &now]);
            if let Some(step) = fault {
                c.env("REFRACT_LIFECYCLE_FAULT", step);
            }
            if let Some(secs) = lease {
                c.env("REFRACT_LIFECYCLE__LEASE_SECS", secs);
            }
            c.output().expect("run refract lifecycle")
        };

        let run = |fault: Option<&str>| run_at(fault, Some("0"));
        let killed = run_at(Some(step), None);
        assert_eq!(killed.status.signal(), Some(9), "{step}: {killed:?}");
        // Half done: the row is claimed and still says STANDARD; S3 has the old or the new
        // class, and the original reads back whole either way.
        let meta = Index::open(&config.meta_url().expect("meta url"))
            .await
            .expect("index");
        let r = row(&meta, &id).await;
        assert!(r.pending.is_some(), "{step}: {r:?}");
        assert_eq!(r.storage_class, "STANDARD", "{step}");
        s3.assert_original(&key, class_after_kill, &big).await;

        let finished = run(None);
        assert!(finished.status.success(), "{step}: {finished:?}");
        let expected = Report {
            scanned: rows,
            recovered: 1,
            ..Report::default()
        };
        assert_eq!(report_of(&finished), expected, "{step}");
        s3.assert_original(&key, Some("STANDARD_IA"), &big).await;
        let r = row(&meta, &id).await;
        assert_eq!(
            (r.storage_class.as_str(), r.pending.as_deref(), r.size),
            ("STANDARD_IA", None, big.len() as u64),
            "{step}"
        );

        // Nothing is left to do.
        let third = run(None);
        assert!(third.status.success(), "{step}: {third:?}");
        let expected = Report {
            scanned: rows,
            ..Report::default()
        };
        assert_eq!(report_of(&third), expected, "{step}");
    }
    eprintln!(
        "storage_class_change_survives_a_kill: {} ms",
        started.elapsed().as_millis()
    );
}

async fn fetch(request: reqwest::RequestBuilder) -> (u16, Vec<u8>) {
    let resp = request.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

/// Format and size from an image's header.
fn image(bytes: &[u8]) -> (String, u32, u32) {
    let h = refract_core::decode::probe(bytes, &refract_core::Limits::default()).expect("image");
    (h.format.name().to_ascii_lowercase(), h.width, h.height)
}

/// Polls the row `id` until `done` holds, bounded by `DEADLINE`.
async fn poll_row(meta: &Index, id: &str, done: impl Fn(&Record) -> bool) -> Record {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let r = meta.get(id).await.expect("meta get");
        match r {
            Some(r) if done(&r) => return r,
            other => assert!(
                Instant::now() < deadline,
                "row {id} did not get there within {DEADLINE:?}: {other:?}"
            ),
        }
        tokio::time::sleep(POLL).await;
    }
}

fn unix_ms() -> i64 {
    Clock::System.now_ms()
}

const SHARED_POLICY: &str = r#"
[[rule]]
id = "variants"
filter = { class = "variant" }
actions = [{ type = "demote", to = "cold", days_since_access = 7 }]

[[rule]]
id = "photos"
filter = { class = "original", prefix = "photos/" }
actions = [{ type = "storage_class", class = "STANDARD_IA", days_since_access = 30 }]
"#;

#[tokio::test]
#[ignore = "needs SeaweedFS and PostgreSQL: run by tests/run.sh"]
async fn two_instances_share_postgres_and_a_bucket() {
    let started = Instant::now();
    let root = tempfile::Builder::new()
        .prefix("refract-s3-lifecycle-pg-")
        .tempdir()
        .expect("temp dir");
    let pg = PgServer::start();
    let weed = Weed::start(root.path()).await;
    let s3 = S3::of(&weed);
    eprintln!(
        "PostgreSQL and weed up after {} ms",
        started.elapsed().as_millis()
    );
    let shared: Vec<(String, String)> = [
        ("REFRACT_ORIGINALS", format!("s3://{BUCKET}/originals")),
        ("REFRACT_TIERS__COLD", format!("s3://{BUCKET}")),
        ("REFRACT_TIERS__COLD_PREFIX", "variants".to_owned()),
        ("REFRACT_META__URL", pg.url.clone()),
        ("REFRACT_META__FLUSH_MS", "200".to_owned()),
        ("REFRACT_STORAGE__S3__ENDPOINT", weed.endpoint()),
        ("REFRACT_STORAGE__S3__REGION", REGION.to_owned()),
        (
            "REFRACT_STORAGE__S3__ACCESS_KEY_ID",
            ACCESS_KEY_ID.to_owned(),
        ),
        (
            "REFRACT_STORAGE__S3__SECRET_ACCESS_KEY",
            SECRET_ACCESS_KEY.to_owned(),
        ),
        ("REFRACT_UPLOAD__TOKEN", TOKEN.to_owned()),
        ("REFRACT_LISTEN", "127.0.0.1:0".to_owned()),
        ("REFRACT_ADMIN_LISTEN", "127.0.0.1:0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let instance_env = |name: &str| {
        let mut env = shared.clone();
        let dir = root.path().join(format!("refract-{name}"));
        env.push(("REFRACT_DATA_DIR".into(), dir.display().to_string()));
        env
    };
    let (env_a, env_b) = (instance_env("a"), instance_env("b"));
    let start = |name: &str, env: &[(String, String)]| {
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir).expect("instance dir");
        env.iter()
            .fold(Serve::new(&dir), |serve, (k, v)| serve.env(k, v))
            .start()
    };
    let (a, b) = (start("a", &env_a), start("b", &env_b));
    let client = support::process::client();
    let meta = Index::open(&pg.url).await.expect("open PostgreSQL");
    assert_eq!(meta.backend(), "postgres");

    // Uploads through A: in the bucket, and a row in PostgreSQL at once.
    let (cat, logo) = (sample(SMALL), sample(LOGO));
    let before = unix_ms();
    for (key, body, content_type) in [
        ("photos/cat.jpg", &cat, "image/jpeg"),
        ("photos/logo.png", &logo, "image/png"),
    ] {
        let put = client
            .put(a.url(&format!("/{key}")))
            .bearer_auth(TOKEN)
            .body(body.clone());
        let (status, reply) = fetch(put).await;
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&reply));
        let r = row(&meta, &format!("o/{key}")).await;
        assert_eq!(
            (r.class, r.key.as_str(), r.tiers, r.size, r.hits),
            (Class::Original, key, Presence::STORE, body.len() as u64, 0),
            "{r:?}"
        );
        assert_eq!(
            (r.content_type.as_str(), r.storage_class.as_str()),
            (content_type, "STANDARD")
        );
        assert!((before..=unix_ms()).contains(&r.created_ms), "{r:?}");
        s3.assert_original(key, None, body).await;
    }

    // Through B: the original A stored, and variants B makes.
    let before_b = unix_ms();
    let (status, body) = fetch(client.get(b.url("/photos/cat.jpg"))).await;
    assert_eq!(status, 200);
    assert!(body == cat, "B serves other bytes than A stored");
    let widths = [40, 60, 80, 100, 120, 140];
    let mut variant_ids = Vec::new();
    for w in widths {
        let (status, body) =
            fetch(client.get(b.url(&format!("/photos/cat.jpg?width={w}&format=png")))).await;
        assert_eq!(status, 200);
        assert_eq!(image(&body).0, "png");
        assert_eq!(image(&body).1, w);
        let id = variant("photos/cat.jpg", &format!("width={w}&format=png"))
            .id()
            .to_owned();
        variant_ids.push(Record::variant_id(&id));
    }
    let (status, body) = fetch(client.get(b.url("/photos/logo.png?width=64&format=png"))).await;
    assert_eq!(status, 200);
    assert_eq!(image(&body), ("png".to_owned(), 64, 64));
    let id = variant("photos/logo.png", "width=64&format=png")
        .id()
        .to_owned();
    variant_ids.push(Record::variant_id(&id));
    // B writes each variant to its warm tier and PostgreSQL in the background.
    for id in &variant_ids {
        let r = poll_row(&meta, id, |_| true).await;
        assert_eq!(
            (r.class, r.tiers),
            (Class::Variant, Presence::WARM),
            "{r:?}"
        );
    }
    // A second read of one variant is a hit in B's memory; B flushes its accesses every 200 ms.
    let (status, _) = fetch(client.get(b.url("/photos/cat.jpg?width=100&format=png"))).await;
    assert_eq!(status, 200);
    // Each use of the original counts: the download, the six reads that made variants, and
    // the hit of one of them.
    let original = poll_row(&meta, "o/photos/cat.jpg", |r| r.hits >= 8).await;
    assert_eq!(original.hits, 8, "{original:?}");
    assert!(original.last_access_ms >= before_b, "{original:?}");
    let hit = poll_row(&meta, &variant_ids[3], |r| r.hits > 0).await;
    assert_eq!(hit.hits, 1, "{hit:?}");
    assert!(hit.last_access_ms >= before_b, "{hit:?}");
    let logo_row = poll_row(&meta, "o/photos/logo.png", |r| r.hits > 0).await;
    assert_eq!(
        logo_row.hits, 1,
        "nobody downloaded the logo, but one variant was made of it: {logo_row:?}"
    );

    // Two sweepers at once over the same PostgreSQL. Both run with B's data dir: a row says
    // `warm` but not whose, and a sweeper that lacks the warm copy drops the row instead of
    // demoting it, so only B's host can demote what B made.
    let policy = root.path().join("policy.toml");
    std::fs::write(&policy, SHARED_POLICY).expect("policy");
    let now = (unix_ms() + 400 * DAY_MS).to_string();
    let sweep = |verb: &str| {
        let mut c = refract(&env_b);
        c.args(["lifecycle", verb, "--policy"]).arg(&policy).args([
            "--now",
            &now,
            "--allow-future-now",
        ]);
        if verb == "plan" {
            c.arg("--json");
        }
        c
    };
    let plan = sweep("plan").output().expect("lifecycle plan");
    assert!(plan.status.success(), "{plan:?}");
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan JSON");
    let mut listed: Vec<(String, String)> = plan["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            let action = a["op"]["action"].as_str().expect("action").to_owned();
            (action, a["id"].as_str().expect("id").to_owned())
        })
        .collect();
    listed.sort();
    // The JSON names the operation (`set_storage_class`), where the table and the policy
    // say `storage_class`.
    let mut expected: Vec<(String, String)> = variant_ids
        .iter()
        .map(|id| ("demote".to_owned(), id.clone()))
        .chain(
            ["o/photos/cat.jpg", "o/photos/logo.png"].map(|id| ("storage_class".into(), id.into())),
        )
        .collect();
    expected.sort();
    assert_eq!(listed, expected, "{plan}");

    let first = sweep("run")
        .stdout(Stdio::piped())
        .spawn()
        .expect("sweep 1");
    let second = sweep("run")
        .stdout(Stdio::piped())
        .spawn()
        .expect("sweep 2");
    let (first, second) = (
        first.wait_with_output().expect("sweep 1"),
        second.wait_with_output().expect("sweep 2"),
    );
    assert!(first.status.success(), "{first:?}");
    assert!(second.status.success(), "{second:?}");
    let (r1, r2) = (report_of(&first), report_of(&second));
    eprintln!("sweeps: {r1:?} {r2:?}");
    assert_eq!(
        r1.applied + r2.applied,
        listed.len() as u64,
        "each action applied exactly once, by one sweeper (a `recovered` here is a move the \
         other sweeper had claimed and was still running, taken over by this one's recovery): \
         {r1:?} {r2:?}"
    );
    assert_eq!((r1.failed, r2.failed), (0, 0), "{r1:?} {r2:?}");
    assert_eq!((r1.recovered, r2.recovered), (0, 0), "{r1:?} {r2:?}");

    // S3 and PostgreSQL agree on the result.
    for (key, body) in [("photos/cat.jpg", &cat), ("photos/logo.png", &logo)] {
        s3.assert_original(key, Some("STANDARD_IA"), body).await;
        let r = row(&meta, &format!("o/{key}")).await;
        assert_eq!(
            (r.storage_class.as_str(), r.pending.as_deref()),
            ("STANDARD_IA", None)
        );
    }
    for id in &variant_ids {
        let r = row(&meta, id).await;
        assert_eq!(
            (r.tiers, r.pending.as_deref()),
            (Presence::COLD, None),
            "{r:?}"
        );
        let blob = s3
            .cold_blob(id.strip_prefix("v/").expect("variant id"))
            .await
            .expect("in cold");
        assert_eq!(blob.body.len() as u64, r.size);
    }
    let again = sweep("plan").output().expect("plan again");
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).expect("plan JSON");
    assert_eq!(again["actions"], serde_json::json!([]), "{again}");

    // Both instances still serve the original, now STANDARD_IA.
    for server in [&a, &b] {
        let (status, body) = fetch(client.get(server.url("/photos/cat.jpg"))).await;
        assert_eq!(status, 200);
        assert!(body == cat);
    }
    eprintln!(
        "two_instances_share_postgres_and_a_bucket: {} ms",
        started.elapsed().as_millis()
    );
}
