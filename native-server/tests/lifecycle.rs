//! Lifecycle sweeps over real tiers (local directories) and the SQLite metadata store, with a
//! clock the test controls: demotion, expiry, idempotence, resuming from the cursor, two
//! sweepers at once, and a process SIGKILLed at every step of a move.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use axum::http::StatusCode;
use common::*;
use refract_server::app::{router, State};
use refract_server::clock::{Clock, DAY_MS};
use refract_server::config::Config;
use refract_server::lifecycle::apply::{Lifecycle, Report, CURSOR, LEASE_MS};
use refract_server::lifecycle::Policy;
use refract_server::meta::{Class, Meta, Tiers as Present};
use refract_server::storage::Originals;
use refract_server::tiers::Tiers;

const T0: i64 = 20_000 * DAY_MS;

const POLICY: &str = r#"
[[rule]]
id = "variants"
filter = { class = "variant" }
actions = [
  { type = "demote", to = "cold", days_since_access = 7 },
  { type = "expire", days_since_access = 90 },
]
"#;

const WIDTHS: [u32; 6] = [60, 70, 80, 90, 100, 110];

/// A server state over the fixture's originals with warm, cold and SQLite in `data`, and
/// `WIDTHS.len()` variants made through it, written down and flushed.
async fn populated(f: &Fixture, data: &Path, clock: &Clock) -> (Config, Arc<State>) {
    let mut config = f.state.config.clone();
    config.data_dir = data.display().to_string();
    config.lifecycle.batch = 2;
    let tiers = Tiers::open(&config, clock.clone()).await.expect("tiers");
    let originals = Originals::from_config(&config).expect("originals");
    let state = State::with_tiers(config.clone(), originals, tiers).expect("state");
    let app = router(state.clone());
    for w in WIDTHS {
        let r = send(&app, get(&format!("/cat-small.jpg?width={w}&format=png"))).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    state.tiers.settle().await;
    state.tiers.flush_access().await;
    (config, state)
}

fn lifecycle(state: &Arc<State>, policy: &str, clock: &Clock) -> Lifecycle {
    Lifecycle {
        policy: Policy::parse(policy).expect("policy"),
        meta: state.tiers.meta.clone().expect("meta"),
        originals: state.originals.clone(),
        tiers: Arc::clone(&state.tiers),
        clock: clock.clone(),
        batch: 2,
        lease_ms: LEASE_MS,
    }
}

/// Metadata and tiers agree: every row's tiers exist, every stored variant has a row, and
/// nothing is pending.
async fn assert_consistent(config: &Config) -> (usize, usize) {
    let tiers = Tiers::open(config, Clock::System)
        .await
        .expect("reopen tiers");
    let meta = tiers.meta.as_ref().expect("meta");
    let rows = meta.scan("", 10_000).await.expect("scan");
    let warm = tiers.warm.as_ref().expect("warm");
    let cold = tiers.cold.as_ref().expect("cold");
    let cold_ids = cold.ids().await.expect("cold ids");
    let (mut in_warm, mut in_cold) = (0, 0);
    for r in rows.iter().filter(|r| r.class == Class::Variant) {
        assert_eq!(r.pending, None, "{r:?}");
        let id = r.id.strip_prefix("v/").expect("variant id");
        assert_eq!(
            warm.contains(id),
            r.tiers.contains(Present::WARM),
            "warm vs row: {r:?}"
        );
        assert_eq!(
            cold_ids.iter().any(|c| c == id),
            r.tiers.contains(Present::COLD),
            "cold vs row: {r:?}"
        );
        assert!(
            r.tiers.contains(Present::WARM) || r.tiers.contains(Present::COLD),
            "{r:?}"
        );
        in_warm += usize::from(r.tiers.contains(Present::WARM));
        in_cold += usize::from(r.tiers.contains(Present::COLD));
    }
    for id in warm.ids().into_iter().chain(cold_ids) {
        assert!(
            rows.iter().any(|r| r.id == format!("v/{id}")),
            "orphan {id}"
        );
    }
    (in_warm, in_cold)
}

#[tokio::test]
async fn sweeps_demote_then_expire_and_repeat_nothing() {
    let f = fixture(|_| {});
    let data = tempfile::tempdir().expect("data");
    let clock = Clock::manual(T0);
    let (config, state) = populated(&f, data.path(), &clock).await;
    let lc = lifecycle(&state, POLICY, &clock);
    assert_eq!(assert_consistent(&config).await, (6, 0));

    // Nothing is due on day 1.
    clock.advance_ms(DAY_MS);
    assert!(lc.plan(clock.now_ms()).await.expect("plan").1.is_empty());
    assert_eq!(lc.run_once().await.expect("run").applied, 0);

    // Day 8: every variant leaves warm for cold, once.
    clock.advance_ms(7 * DAY_MS);
    let (scanned, plans) = lc.plan(clock.now_ms()).await.expect("plan");
    assert_eq!((scanned, plans.len()), (6, 6));
    assert!(plans
        .iter()
        .all(|p| p.op.name() == "demote" && p.rule == "variants"));
    let report = lc.run_once().await.expect("run");
    assert_eq!(
        report,
        Report {
            scanned: 6,
            applied: 6,
            ..Report::default()
        }
    );
    assert_eq!(assert_consistent(&config).await, (0, 6));
    let again = lc.run_once().await.expect("run again");
    assert_eq!(again.applied, 0, "idempotent: {again:?}");
    assert_eq!(
        lc.meta.cursor(CURSOR).await.expect("cursor").as_deref(),
        Some("")
    );

    // Still served, now from cold, byte for byte what memory had.
    let app = router(state.clone());
    let before = state
        .tiers
        .hot
        .get("cat-small.jpg\nwidth=60,format=png\n-")
        .expect("hot copy");
    state
        .tiers
        .hot
        .remove("cat-small.jpg\nwidth=60,format=png\n-");
    let r = send(&app, get("/cat-small.jpg?width=60&format=png")).await;
    assert_eq!(r.header("server-timing"), "cache;desc=\"cold\"");
    assert_eq!(r.body, before.bytes);
    state.tiers.settle().await;
    state.tiers.flush_access().await;

    // Day 95: expired, except the one just read (last access day 8, 87 days ago). Reading it
    // promoted it back to warm, so it is demoted again instead.
    clock.advance_ms(87 * DAY_MS);
    let (_, plans) = lc.plan(clock.now_ms()).await.expect("plan");
    let ops: Vec<&str> = plans.iter().map(|p| p.op.name()).collect();
    assert_eq!(ops.iter().filter(|o| **o == "expire").count(), 5, "{ops:?}");
    assert_eq!(ops.iter().filter(|o| **o == "demote").count(), 1, "{ops:?}");
    let report = lc.run_once().await.expect("expire");
    assert_eq!(report.applied, 6, "{report:?}");
    let rows = lc.meta.scan("", 100).await.expect("scan");
    assert_eq!(rows.len(), 1);
    assert_eq!(assert_consistent(&config).await, (0, 1));
    // An expired variant is simply made again.
    let r = send(&app, get("/cat-small.jpg?width=70&format=png")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.image().1, 70);
}

#[tokio::test]
async fn two_sweepers_never_apply_the_same_action_twice() {
    let f = fixture(|_| {});
    let data = tempfile::tempdir().expect("data");
    let clock = Clock::manual(T0);
    let (config, state) = populated(&f, data.path(), &clock).await;
    clock.advance_ms(8 * DAY_MS);
    let a = lifecycle(&state, POLICY, &clock);
    let mut b = lifecycle(&state, POLICY, &clock);
    // A second handle on the database, as a second instance would have.
    b.meta = Meta::open(&config.meta_url().expect("url"))
        .await
        .expect("second handle");
    let (ra, rb) = tokio::join!(a.run_once(), b.run_once());
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    assert_eq!(ra.applied + rb.applied, 6, "{ra:?} {rb:?}");
    assert_eq!(ra.failed + rb.failed, 0, "{ra:?} {rb:?}");
    assert_eq!(assert_consistent(&config).await, (0, 6));
}

/// `refract lifecycle run` killed with SIGKILL at each step of a move, then run again: the
/// originals are untouched, metadata and tiers agree, and no variant is lost.
#[tokio::test]
async fn a_sweep_killed_at_any_step_is_finished_by_the_next() {
    use std::os::unix::process::ExitStatusExt;
    for (step, policy, days, expect) in [
        ("claimed", POLICY, 8, (0, 6)),
        ("copied", POLICY, 8, (0, 6)),
        ("switched", POLICY, 8, (0, 6)),
        ("cleaned", POLICY, 8, (0, 6)),
        ("claimed", POLICY, 100, (0, 0)),
        ("cleaned", POLICY, 100, (0, 0)),
    ] {
        let f = fixture(|_| {});
        let data = tempfile::tempdir().expect("data");
        let clock = Clock::manual(T0);
        let (config, state) = populated(&f, data.path(), &clock).await;
        drop(state);
        let policy_path = data.path().join("policy.toml");
        std::fs::write(&policy_path, policy).expect("policy");
        let config_path = data.path().join("refract.toml");
        std::fs::write(&config_path, toml::to_string(&config).expect("toml")).expect("config");
        let now = (T0 + days * DAY_MS).to_string();
        // The crashed sweep's claim is taken over once its lease has run out.
        let later = (T0 + days * DAY_MS + LEASE_MS + 60_000).to_string();
        let run = |fault: Option<&str>, now: &str| {
            let mut c = Command::new(env!("CARGO_BIN_EXE_refract"));
            c.args(["lifecycle", "run", "--config"])
                .arg(&config_path)
                .arg("--policy")
                .arg(&policy_path)
                .args(["--now", now])
                .env("REFRACT_LOG", "warn");
            match fault {
                Some(step) => c.env("REFRACT_LIFECYCLE_FAULT", step),
                None => c.env_remove("REFRACT_LIFECYCLE_FAULT"),
            };
            c.output().expect("run refract lifecycle")
        };
        let killed = run(Some(step), &now);
        assert_eq!(killed.status.signal(), Some(9), "{step}: {killed:?}");
        // Within the lease the claim belongs to a (possibly live) sweeper: left alone.
        let early = run(None, &now);
        assert!(early.status.success(), "{step}: {early:?}");
        let early: serde_json::Value = serde_json::from_slice(&early.stdout).expect("report");
        assert_eq!(early["recovered"], 0, "{step}: {early}");
        let finished = run(None, &later);
        assert!(finished.status.success(), "{step}: {finished:?}");
        let report: serde_json::Value = serde_json::from_slice(&finished.stdout).expect("report");
        assert!(
            report["recovered"].as_u64().expect("recovered") <= 1,
            "{report}"
        );
        assert_eq!(
            assert_consistent(&config).await,
            expect,
            "after a kill at {step}, day {days}"
        );
        for name in ["cat-small.jpg", "logo-alpha.png", "orientation-6.jpg"] {
            assert_eq!(
                std::fs::read(f.dir.path().join(name)).expect("original"),
                sample(name),
                "{name}"
            );
        }
    }
}

#[tokio::test]
async fn reindex_rebuilds_the_metadata_from_the_stores() {
    let f = fixture(|_| {});
    let data = tempfile::tempdir().expect("data");
    let clock = Clock::manual(T0);
    let (config, state) = populated(&f, data.path(), &clock).await;
    // The smaller half of the variants to cold, so both tiers are indexed.
    let meta = state.tiers.meta.clone().expect("meta");
    let mut sizes: Vec<u64> = meta
        .scan("", 100)
        .await
        .expect("scan")
        .iter()
        .map(|r| r.size)
        .collect();
    sizes.sort_unstable();
    let policy = format!(
        "[[rule]]\nid = \"d\"\nfilter = {{ class = \"variant\", max_size = {} }}\nactions = [{{ type = \"demote\", to = \"cold\", days_since_access = 7 }}]",
        sizes[2]
    );
    let lc = lifecycle(&state, &policy, &clock);
    clock.advance_ms(8 * DAY_MS);
    lc.run_once().await.expect("demote some");
    let shape = |rows: Vec<refract_server::meta::Record>| {
        let mut v: Vec<_> = rows
            .into_iter()
            .filter(|r| r.class == Class::Variant)
            .map(|r| (r.id, r.key, r.spec, r.tiers.0, r.size, r.content_type))
            .collect();
        v.sort();
        v
    };
    let before = shape(lc.meta.scan("", 1000).await.expect("scan"));
    let (warm, cold) = assert_consistent(&config).await;
    assert!(warm > 0 && cold > 0, "both tiers in use: {warm} {cold}");
    drop((lc, state));

    // Lose the database entirely, and plant a row that points at nothing.
    for name in ["meta.db", "meta.db-wal", "meta.db-shm"] {
        let _ = std::fs::remove_file(data.path().join(name));
    }
    let tiers = Tiers::open(&config, Clock::System).await.expect("tiers");
    let meta = tiers.meta.clone().expect("meta");
    assert!(meta.scan("", 10).await.expect("scan").is_empty());
    let mut ghost = refract_server::tiers::variant_record(
        "deadbeefdeadbeefdeadbeefdeadbeef",
        "gone.jpg\nwidth=1\n-",
        Present::WARM,
        1,
        "image/png",
        T0,
    );
    ghost.hits = 1;
    meta.upsert(&ghost).await.expect("ghost");

    let originals = Originals::from_config(&config).expect("originals");
    let report = refract_server::reindex::reindex(&originals, &tiers)
        .await
        .expect("reindex");
    assert_eq!((report.variants, report.removed), (6, 1), "{report:?}");
    assert_eq!(report.originals, 6, "every file of the fixture: {report:?}");
    let after = shape(meta.scan("", 1000).await.expect("scan"));
    assert_eq!(after, before, "the rebuilt index matches the original one");
    assert!(meta.get("o/photos/cat.jpg").await.expect("get").is_some());
    // Running it again changes nothing.
    let again = refract_server::reindex::reindex(&originals, &tiers)
        .await
        .expect("again");
    assert_eq!(
        (again.added, again.updated, again.removed),
        (0, 0, 0),
        "{again:?}"
    );
    assert_consistent(&config).await;
}
