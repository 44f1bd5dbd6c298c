//! The lifecycle sees every object and every use, and storage is bounded (issue 12), over real
//! tiers (local directories) and the SQLite index, with a clock the test controls:
//!
//! - a variant's use (made, or a hit from memory, warm or cold) is a use of its original, so
//!   an access rule on originals spares the ones in use;
//! - an original read for the first time gets its row (at the next flush, created when the
//!   store last modified it), so creation rules reach objects put behind the server's back;
//! - the reconcile registers the objects of the store's listing a page per sweep, resumes
//!   where it stopped, and drops rows whose object is gone;
//! - the cold tier is kept within `tiers.cold_bytes`, least recently used first;
//! - an original keeps at most `tiers.max_variants_per_original` stored variants;
//! - `refract serve` sweeps by default, without a policy.
//!
//! The same against SeaweedFS is in `s3_lifecycle.rs`.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use axum::body::Body;
use axum::http::StatusCode;
use axum::Router;
use refract_core::{Spec, VariantKey};
use refract_server::config::Config;
use refract_server::http::router;
use refract_server::index::{Class, Index, Presence, Record};
use refract_server::lifecycle::reconcile::RECONCILE_CURSOR;
use refract_server::lifecycle::sweep::Sweeper;
use refract_server::lifecycle::Policy;
use refract_server::runtime::clock::{Clock, DAY_MS};
use refract_server::state::{AppState, State};
use support::app::{get, put, send, TOKEN};
use support::lifecycle::assert_consistent;
use support::process::Serve;
use support::sample;

const HOUR_MS: i64 = 60 * 60 * 1000;

/// A server over the originals in `originals`, with warm, cold and SQLite in `data`.
async fn open(
    originals: &Path,
    data: &Path,
    clock: &Clock,
    configure: impl FnOnce(&mut Config),
) -> (Config, AppState, Router) {
    let mut config = Config {
        originals: originals.display().to_string(),
        data_dir: data.display().to_string(),
        ..Config::default()
    };
    config.upload.token = Some(TOKEN.into());
    config.lifecycle.batch = 2;
    configure(&mut config);
    let state = State::open(config.clone(), clock.clone())
        .await
        .expect("state");
    let app = router(state.clone());
    (config, state, app)
}

/// A sweeper over the server's stores with `policy`; no reconcile, no cold budget unless set.
fn sweeper(config: &Config, state: &AppState, policy: &str) -> Sweeper {
    let policy = Policy::parse(policy).expect("policy");
    let mut s = Sweeper::new(
        config,
        policy,
        state.originals.clone(),
        Arc::clone(&state.tiers),
    )
    .expect("sweeper");
    s.reconcile_keys = 0;
    s.cold_bytes = 0;
    s
}

/// Writes `bytes` at `key` under `dir`, as another tool would: no upload, no row.
fn put_behind_the_back(dir: &Path, key: &str, bytes: &[u8]) -> i64 {
    let path = dir.join(key);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, bytes).expect("write");
    mtime_ms(&path)
}

fn mtime_ms(path: &Path) -> i64 {
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime");
    modified
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

async fn ok(app: &Router, uri: &str) -> support::app::Reply {
    let r = send(app, get(uri)).await;
    assert_eq!(r.status, StatusCode::OK, "{uri}");
    r
}

/// Background writes done, accesses written.
async fn settle(state: &AppState) {
    state.tiers.settle().await;
    state.tiers.flush_access().await;
}

fn variant(state: &State, key: &str, query: &str) -> VariantKey {
    let spec = Spec::parse_query(query).expect("spec");
    VariantKey::new(key, &spec, "", &state.policy)
}

/// Ids of the variants of `key` the index holds, by width of their spec.
async fn widths_stored(index: &Index, key: &str) -> Vec<u32> {
    let mut widths: Vec<u32> = index
        .by_key(key)
        .await
        .expect("by_key")
        .iter()
        .filter(|r| r.class == Class::Variant)
        .filter_map(|r| {
            let spec = r.spec.as_deref()?;
            let w = spec.split("width=").nth(1)?;
            w.split([',', '#']).next()?.parse().ok()
        })
        .collect();
    widths.sort_unstable();
    widths
}

const VARIANTS_TO_COLD: &str = r#"
[[rule]]
id = "variants"
filter = { class = "variant" }
actions = [{ type = "demote", to = "cold", days_since_access = 7 }]
"#;

const IDLE_ORIGINALS: &str = r#"
[[rule]]
id = "idle-originals"
filter = { class = "original", prefix = "photos/" }
actions = [{ type = "expire", days_since_access = 30 }]
"#;

/// An access rule on originals acts on time since the last use of the image, through any of
/// its variants (made, or served from memory, warm or cold), not since its last download.
#[tokio::test]
async fn an_original_whose_variants_are_in_use_is_not_expired_by_an_access_rule() {
    let root = tempfile::tempdir().expect("root");
    let originals = root.path().join("originals");
    put_behind_the_back(&originals, "photos/used.jpg", &sample("cat-small.jpg"));
    put_behind_the_back(&originals, "photos/idle.jpg", &sample("cat-small.jpg"));
    let t0 = Clock::System.now_ms();
    let clock = Clock::manual(t0);
    let (config, state, app) = open(&originals, &root.path().join("data"), &clock, |_| {}).await;
    let demote = sweeper(&config, &state, VARIANTS_TO_COLD);
    let lc = sweeper(&config, &state, IDLE_ORIGINALS);
    let index = lc.index.clone();
    let uri = "/photos/used.jpg?width=60&format=png";
    let key = variant(&state, "photos/used.jpg", "width=60&format=png");
    let served_from = |r: support::app::Reply| r.header("server-timing").to_owned();

    // Day 0: a variant of each is made (reading the original is a use of it). Day 8: both
    // variants leave warm for cold.
    ok(&app, uri).await;
    ok(&app, "/photos/idle.jpg?width=60&format=png").await;
    settle(&state).await;
    clock.advance_ms(8 * DAY_MS);
    assert_eq!(demote.run_once().await.expect("demote").applied, 2);
    // Never downloaded again, but its variant is served: from cold on day 20, from memory on
    // day 30, from warm on day 35.
    clock.advance_ms(12 * DAY_MS);
    state.tiers.discard(&key);
    assert_eq!(served_from(ok(&app, uri).await), "cache;desc=\"cold\"");
    settle(&state).await;
    clock.advance_ms(10 * DAY_MS);
    assert_eq!(served_from(ok(&app, uri).await), "cache;desc=\"memory\"");
    clock.advance_ms(5 * DAY_MS);
    state.tiers.discard(&key);
    assert_eq!(served_from(ok(&app, uri).await), "cache;desc=\"warm\"");
    settle(&state).await;
    let row = index
        .get("o/photos/used.jpg")
        .await
        .expect("get")
        .expect("row");
    assert_eq!(
        (row.last_access_ms, row.hits),
        (t0 + 35 * DAY_MS, 4),
        "{row:?}"
    );

    // Day 40: the idle original (last used on day 0) is expired; the one in use stays.
    clock.advance_ms(5 * DAY_MS);
    let report = lc.run_once().await.expect("sweep");
    assert_eq!((report.applied, report.failed), (1, 0), "{report:?}");
    assert!(!originals.join("photos/idle.jpg").exists());
    assert!(originals.join("photos/used.jpg").exists());
    // It becomes idle 30 days after its last use, not after its last download.
    clock.advance_ms(24 * DAY_MS);
    assert!(lc.plan(clock.now_ms()).await.expect("plan").1.is_empty());
    clock.advance_ms(DAY_MS);
    let (_, plans) = lc.plan(clock.now_ms()).await.expect("plan");
    assert_eq!(plans.len(), 1, "{plans:?}");
    assert_eq!(
        (plans[0].id.as_str(), plans[0].op.name()),
        ("o/photos/used.jpg", "expire")
    );
}

const TMP_BY_CREATION: &str = r#"
[[rule]]
id = "tmp"
filter = { class = "original", prefix = "tmp/" }
actions = [{ type = "expire", days_since_creation = 1 }]
"#;

/// An object put into the store by another tool gets its row the first time the server reads
/// it (untouched, or to make a variant), created when the store last modified it, at the next
/// flush rather than on the request: then a creation rule expires it.
#[tokio::test]
async fn an_original_read_for_the_first_time_is_registered_and_comes_under_the_rules() {
    let root = tempfile::tempdir().expect("root");
    let originals = root.path().join("originals");
    let jpeg = sample("cat-small.jpg");
    let dropped = put_behind_the_back(&originals, "tmp/dropped.jpg", &jpeg);
    let other = put_behind_the_back(&originals, "tmp/other.png", &sample("logo-alpha.png"));
    let t0 = Clock::System.now_ms();
    let clock = Clock::manual(t0);
    let (config, state, app) = open(&originals, &root.path().join("data"), &clock, |_| {}).await;
    let lc = sweeper(&config, &state, TMP_BY_CREATION);
    let index = lc.index.clone();

    assert!(lc.plan(t0 + 2 * DAY_MS).await.expect("plan").1.is_empty());
    let r = ok(&app, "/tmp/dropped.jpg").await;
    assert!(r.body == jpeg);
    ok(&app, "/tmp/other.png?width=32&format=png").await;
    state.tiers.settle().await;
    // No write on the request's path: the rows come with the batched flush.
    assert_eq!(index.get("o/tmp/dropped.jpg").await.expect("get"), None);
    state.tiers.flush_access().await;
    for (id, size, modified, content_type) in [
        ("o/tmp/dropped.jpg", jpeg.len(), dropped, "image/jpeg"),
        (
            "o/tmp/other.png",
            sample("logo-alpha.png").len(),
            other,
            "image/png",
        ),
    ] {
        let row = index.get(id).await.expect("get").expect("registered");
        assert_eq!(
            (row.class, row.tiers, row.size, row.content_type.as_str()),
            (Class::Original, Presence::STORE, size as u64, content_type),
            "{row:?}"
        );
        assert_eq!(
            (row.created_ms, row.last_access_ms, row.hits),
            (modified, t0, 1),
            "{row:?}"
        );
    }
    // A second read adds an access, not a row.
    ok(&app, "/tmp/dropped.jpg").await;
    settle(&state).await;
    assert_eq!(
        index
            .get("o/tmp/dropped.jpg")
            .await
            .expect("get")
            .expect("row")
            .hits,
        2
    );

    clock.advance_ms(2 * DAY_MS);
    let report = lc.run_once().await.expect("sweep");
    assert_eq!((report.applied, report.failed), (2, 0), "{report:?}");
    assert!(!originals.join("tmp/dropped.jpg").exists());
    assert!(!originals.join("tmp/other.png").exists());
    assert_eq!(index.get("o/tmp/dropped.jpg").await.expect("get"), None);
}

/// The reconcile registers what the store holds a page (`reconcile_keys`) per sweep, resuming
/// from its cursor, forgets rows whose object is gone, starts over after the last page, and
/// lets a creation rule expire what was put into the store behind the server's back.
#[tokio::test]
async fn the_reconcile_registers_the_store_a_page_per_sweep_and_forgets_what_is_gone() {
    let root = tempfile::tempdir().expect("root");
    let originals = root.path().join("originals");
    let jpeg = sample("cat-small.jpg");
    let mut modified = Vec::new();
    for key in ["a.jpg", "tmp/1.jpg", "tmp/2.jpg", "tmp/3.jpg", "z.png"] {
        let body = if key.ends_with(".png") {
            sample("logo-alpha.png")
        } else {
            jpeg.clone()
        };
        modified.push((key, put_behind_the_back(&originals, key, &body)));
    }
    let t0 = Clock::System.now_ms();
    let clock = Clock::manual(t0);
    let (config, state, app) = open(&originals, &root.path().join("data"), &clock, |_| {}).await;
    // One uploaded (it has its row), one whose file is removed behind the server's back.
    for key in ["up.jpg", "gone.jpg"] {
        let r = send(
            &app,
            put(
                &format!("/{key}"),
                Some(TOKEN),
                None,
                Body::from(jpeg.clone()),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    std::fs::remove_file(originals.join("gone.jpg")).expect("rm");
    let mut lc = sweeper(&config, &state, TMP_BY_CREATION);
    lc.reconcile_keys = 2;
    let index = lc.index.clone();

    // The listing, in byte order: a.jpg tmp/1.jpg | tmp/2.jpg tmp/3.jpg | up.jpg z.png, the
    // end (a local directory is walked whole, so its last page knows it is the last).
    let mut reports = Vec::new();
    for _ in 0..3 {
        reports.push(lc.run_once().await.expect("sweep"));
    }
    let registered: Vec<u64> = reports.iter().map(|r| r.registered).collect();
    assert_eq!(registered, [2, 2, 1], "{reports:?}");
    let forgotten: u64 = reports.iter().map(|r| r.forgotten).sum();
    assert_eq!(forgotten, 1, "{reports:?}");
    assert!(
        reports.iter().all(|r| r.failed == 0 && r.applied == 0),
        "{reports:?}"
    );
    assert_eq!(index.get("o/gone.jpg").await.expect("get"), None);
    for (key, mtime) in &modified {
        let row = index
            .get(&format!("o/{key}"))
            .await
            .expect("get")
            .unwrap_or_else(|| panic!("{key} registered"));
        assert_eq!(
            (row.created_ms, row.last_access_ms, row.hits),
            (*mtime, *mtime, 0),
            "{row:?}"
        );
    }
    assert_eq!(
        index
            .get("o/up.jpg")
            .await
            .expect("get")
            .expect("row")
            .created_ms,
        t0,
        "an existing row keeps its history"
    );
    // After the last page the cursor starts over; a second cycle finds nothing new.
    let cursor = index.cursor(RECONCILE_CURSOR).await.expect("cursor");
    assert_eq!(cursor.as_deref(), Some(r#"{"path":"","key":""}"#));
    for _ in 0..3 {
        let again = lc.run_once().await.expect("sweep");
        assert_eq!((again.registered, again.forgotten), (0, 0), "{again:?}");
    }

    // Two days on, the creation rule expires what was put under tmp/ straight into the store.
    clock.advance_ms(2 * DAY_MS);
    let report = lc.run_once().await.expect("sweep");
    assert_eq!((report.applied, report.failed), (3, 0), "{report:?}");
    for n in 1..=3 {
        assert!(!originals.join(format!("tmp/{n}.jpg")).exists());
    }
    for key in ["a.jpg", "z.png", "up.jpg"] {
        assert!(originals.join(key).exists(), "{key}");
    }
}

/// Past `tiers.cold_bytes`, a sweep expires the least recently used cold variants until the
/// tier fits, and a variant read since it was picked is kept.
#[tokio::test]
async fn the_cold_tier_is_kept_within_its_budget_least_recently_used_first() {
    let root = tempfile::tempdir().expect("root");
    let originals = root.path().join("originals");
    put_behind_the_back(&originals, "cat.jpg", &sample("cat-small.jpg"));
    let t0 = 20_000 * DAY_MS;
    let clock = Clock::manual(t0);
    let (config, state, app) = open(&originals, &root.path().join("data"), &clock, |_| {}).await;
    // Made an hour apart (a new row takes the time it is written: settled each time).
    for w in [60, 70, 80, 90, 100, 110] {
        clock.advance_ms(HOUR_MS);
        ok(&app, &format!("/cat.jpg?width={w}&format=png")).await;
        settle(&state).await;
    }
    // Day 8: all six to cold. Day 9: the 60 px one is read again (from cold).
    let mut lc = sweeper(&config, &state, support::lifecycle::VARIANT_POLICY);
    clock.advance_ms(8 * DAY_MS);
    assert_eq!(lc.run_once().await.expect("demote").applied, 6);
    clock.advance_ms(DAY_MS);
    let k60 = variant(&state, "cat.jpg", "width=60&format=png");
    state.tiers.discard(&k60);
    assert_eq!(
        ok(&app, "/cat.jpg?width=60&format=png")
            .await
            .header("server-timing"),
        "cache;desc=\"cold\""
    );
    settle(&state).await;
    let index = lc.index.clone();
    let size = |w: u32| {
        let index = index.clone();
        let id =
            Record::variant_id(variant(&state, "cat.jpg", &format!("width={w}&format=png")).id());
        async move { index.get(&id).await.expect("get").expect("row").size }
    };
    let total = index.cold_bytes().await.expect("cold bytes");
    // Room for all but the two least recently used (70 and 80 px; 60 was just read).
    lc.cold_bytes = total - size(70).await - size(80).await + 1;
    let report = lc.run_once().await.expect("sweep");
    assert_eq!(
        (report.evicted, report.failed, report.applied),
        (2, 0, 0),
        "{report:?}"
    );
    assert_eq!(widths_stored(&index, "cat.jpg").await, [60, 90, 100, 110]);
    assert!(index.cold_bytes().await.expect("cold bytes") <= lc.cold_bytes);
    assert_eq!(
        assert_consistent(&config).await,
        (1, 4),
        "60 px is in warm and cold"
    );
    assert_eq!(lc.run_once().await.expect("again").evicted, 0);
    // An expired variant is made again when asked for.
    ok(&app, "/cat.jpg?width=70&format=png").await;
}

/// Storing one variant more than `tiers.max_variants_per_original` expires the original's
/// least recently used other, from every tier and the index; other originals are untouched.
#[tokio::test]
async fn an_original_keeps_at_most_max_variants_per_original() {
    let root = tempfile::tempdir().expect("root");
    let originals = root.path().join("originals");
    put_behind_the_back(&originals, "cat.jpg", &sample("cat-small.jpg"));
    put_behind_the_back(&originals, "logo.png", &sample("logo-alpha.png"));
    let clock = Clock::manual(20_000 * DAY_MS);
    let (config, state, app) = open(&originals, &root.path().join("data"), &clock, |c| {
        c.tiers.max_variants_per_original = 3;
    })
    .await;
    let index = state.tiers.index().cloned().expect("index");
    let get_width = |w: u32| format!("/cat.jpg?width={w}&format=png");
    // Made an hour apart (a new row takes the time it is written: settled each time).
    for w in [60, 70, 80] {
        clock.advance_ms(HOUR_MS);
        ok(&app, &get_width(w)).await;
        settle(&state).await;
    }
    ok(&app, "/logo.png?width=64&format=png").await;
    settle(&state).await;
    // 60 px is used again: 70 px is now the least recently used.
    clock.advance_ms(HOUR_MS);
    ok(&app, &get_width(60)).await;
    settle(&state).await;
    assert_eq!(widths_stored(&index, "cat.jpg").await, [60, 70, 80]);

    clock.advance_ms(HOUR_MS);
    ok(&app, &get_width(90)).await;
    settle(&state).await;
    assert_eq!(widths_stored(&index, "cat.jpg").await, [60, 80, 90]);
    let k70 = variant(&state, "cat.jpg", "width=70&format=png");
    assert!(!state.tiers.in_warm(k70.id()) && !state.tiers.in_memory(k70.id()));
    clock.advance_ms(HOUR_MS);
    ok(&app, &get_width(100)).await;
    settle(&state).await;
    assert_eq!(widths_stored(&index, "cat.jpg").await, [60, 90, 100]);
    assert_eq!(widths_stored(&index, "logo.png").await, [64]);
    assert_eq!(assert_consistent(&config).await, (4, 0));
    // An evicted variant is simply made again (and evicts the next least recently used).
    clock.advance_ms(HOUR_MS);
    ok(&app, &get_width(70)).await;
    settle(&state).await;
    assert_eq!(widths_stored(&index, "cat.jpg").await, [70, 90, 100]);
}

/// `refract serve` with no policy and default settings sweeps at start-up: the reconcile
/// registers the originals already in the store (and keeps the cold budget).
#[tokio::test]
async fn refract_serve_reconciles_by_default_without_a_policy() {
    let root = tempfile::tempdir().expect("root");
    let originals = root.path().join("originals");
    let mtime = put_behind_the_back(&originals, "photos/cat.jpg", &sample("cat-small.jpg"));
    put_behind_the_back(&originals, "tmp/x.png", &sample("logo-alpha.png"));
    let mut server = Serve::new(root.path())
        .args(["--originals", &originals.display().to_string()])
        .start();
    let url = format!("sqlite://{}", root.path().join("data/meta.db").display());
    let deadline = Instant::now() + Duration::from_secs(30);
    let index = loop {
        if let Ok(index) = Index::open(&url).await {
            if index.get("o/tmp/x.png").await.is_ok_and(|r| r.is_some()) {
                break index;
            }
        }
        assert!(Instant::now() < deadline, "no rows registered within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let row = index
        .get("o/photos/cat.jpg")
        .await
        .expect("get")
        .expect("row");
    assert_eq!(
        (row.created_ms, row.content_type.as_str()),
        (mtime, "image/jpeg")
    );
    server.stop();
}
