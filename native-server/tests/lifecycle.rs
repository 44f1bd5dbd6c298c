//! Lifecycle sweeps over real tiers (local directories) and the SQLite index, with a clock the
//! test controls: demotion, expiry, idempotence, resuming from the cursor, two sweepers at
//! once, a process SIGKILLed at every step of a move, reindexing, and `refract lifecycle plan`
//! as a user runs it.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use axum::http::StatusCode;
use refract_core::{Policy as Encoding, Spec, VariantKey};
use refract_server::http::router;
use refract_server::index::{Class, Index, Presence, Record};
use refract_server::lifecycle::sweep::{Report, Sweeper, CURSOR, LEASE_MS};
use refract_server::lifecycle::Policy;
use refract_server::originals::Originals;
use refract_server::runtime::background::Background;
use refract_server::runtime::clock::{Clock, DAY_MS};
use refract_server::state::State;
use refract_server::tiers::Chain;
use support::app::*;
use support::lifecycle::{assert_consistent, populated, VARIANT_POLICY};
use support::process::refract;

const T0: i64 = 20_000 * DAY_MS;

const POLICY: &str = VARIANT_POLICY;

fn lifecycle(state: &Arc<State>, policy: &str, clock: &Clock) -> Sweeper {
    Sweeper {
        policy: Policy::parse(policy).expect("policy"),
        index: state.tiers.index().cloned().expect("index"),
        originals: state.originals.clone(),
        chain: Arc::clone(&state.tiers),
        clock: clock.clone(),
        batch: 2,
        lease_ms: LEASE_MS,
        // Moves of a batch run at once; the reconcile and the cold budget have tests of
        // their own (lifecycle_bounds.rs).
        concurrency: 4,
        reconcile_keys: 0,
        cold_bytes: 0,
    }
}

/// The identity of `/cat-small.jpg?<query>` as the fixture's server names it.
fn variant(state: &State, query: &str) -> VariantKey {
    let spec = Spec::parse_query(query).expect("spec");
    VariantKey::new("cat-small.jpg", &spec, "", &state.policy)
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

    // Day 8: every variant leaves warm for cold, once. (The seventh row is their original's,
    // registered when it was first read.)
    clock.advance_ms(7 * DAY_MS);
    let (scanned, plans) = lc.plan(clock.now_ms()).await.expect("plan");
    assert_eq!((scanned, plans.len()), (7, 6));
    assert!(plans
        .iter()
        .all(|p| p.op.name() == "demote" && p.rule == "variants"));
    let report = lc.run_once().await.expect("run");
    assert_eq!(
        report,
        Report {
            scanned: 7,
            applied: 6,
            ..Report::default()
        }
    );
    assert_eq!(assert_consistent(&config).await, (0, 6));
    let again = lc.run_once().await.expect("run again");
    assert_eq!(again.applied, 0, "idempotent: {again:?}");
    assert_eq!(
        lc.index.cursor(CURSOR).await.expect("cursor").as_deref(),
        Some("")
    );

    // Still served, now from cold, byte for byte what memory had.
    let app = router(state.clone());
    let key = variant(&state, "width=60&format=png");
    assert!(state.tiers.in_memory(key.id()), "memory still has it");
    let (before, tier) = state.tiers.lookup(&key).await.expect("memory copy");
    assert_eq!(tier.as_str(), "memory");
    state.tiers.discard(&key);
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
    let rows = lc.index.scan("", 100).await.expect("scan");
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 2, "the original and the variant read: {ids:?}");
    assert!(ids.contains(&"o/cat-small.jpg"), "{ids:?}");
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
    b.index = Index::open(&config.meta_url().expect("url"))
        .await
        .expect("second handle");
    let (ra, rb) = tokio::join!(a.run_once(), b.run_once());
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    assert_eq!(ra.applied + rb.applied, 6, "{ra:?} {rb:?}");
    assert_eq!(ra.failed + rb.failed, 0, "{ra:?} {rb:?}");
    assert_eq!(assert_consistent(&config).await, (0, 6));
}

/// `refract lifecycle run` killed with SIGKILL at each step of a move, then run again: the
/// originals are untouched, metadata and tiers agree, and no variant is lost. Once with one
/// move at a time, once with the batch's two moves at once (both may then be half done).
#[tokio::test]
async fn a_sweep_killed_at_any_step_is_finished_by_the_next() {
    for concurrency in [1, 2] {
        killed_at_every_step(concurrency).await;
    }
}

async fn killed_at_every_step(concurrency: usize) {
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
        let (mut config, state) = populated(&f, data.path(), &clock).await;
        drop(state);
        config.lifecycle.concurrency = concurrency;
        let policy_path = data.path().join("policy.toml");
        std::fs::write(&policy_path, policy).expect("policy");
        let config_path = data.path().join("refract.toml");
        std::fs::write(&config_path, toml::to_string(&config).expect("toml")).expect("config");
        let now = (T0 + days * DAY_MS).to_string();
        // `lease` is the takeover lease in real seconds (None: the default, ten minutes).
        let run = |fault: Option<&str>, now: &str, lease: Option<&str>| {
            let mut c = refract();
            c.args(["lifecycle", "run", "--config"])
                .arg(&config_path)
                .arg("--policy")
                .arg(&policy_path)
                .args(["--now", now, "--allow-future-now"])
                .env("REFRACT_LOG", "warn");
            match fault {
                Some(step) => c.env("REFRACT_LIFECYCLE_FAULT", step),
                None => c.env_remove("REFRACT_LIFECYCLE_FAULT"),
            };
            if let Some(secs) = lease {
                c.env("REFRACT_LIFECYCLE__LEASE_SECS", secs);
            }
            c.output().expect("run refract lifecycle")
        };
        let case = format!("{step}, day {days}, {concurrency} at once");
        let killed = run(Some(step), &now, None);
        assert_eq!(killed.status.signal(), Some(9), "{case}: {killed:?}");
        // Within the lease (real time) the claims belong to a possibly live sweeper: left
        // alone, and counted as pending. One move at a time leaves exactly one; two at once,
        // one or both (the other may have got as far as its claim).
        let early = run(None, &now, None);
        assert!(early.status.success(), "{case}: {early:?}");
        let early: serde_json::Value = serde_json::from_slice(&early.stdout).expect("report");
        assert_eq!(early["recovered"], 0, "{case}: {early}");
        let pending = early["pending"].as_u64().expect("pending");
        assert!(
            (1..=concurrency as u64).contains(&pending),
            "{case}: {early}"
        );
        // Once the lease has run out (here: a lease of 0), the next sweep takes them over.
        let finished = run(None, &now, Some("0"));
        assert!(finished.status.success(), "{case}: {finished:?}");
        let report: serde_json::Value = serde_json::from_slice(&finished.stdout).expect("report");
        assert!(
            report["recovered"].as_u64().expect("recovered") <= pending,
            "{case}: {report}"
        );
        assert_eq!(
            (report["pending"].as_u64(), report["failed"].as_u64()),
            (Some(0), Some(0)),
            "{case}: {report}"
        );
        assert_eq!(
            assert_consistent(&config).await,
            expect,
            "after a kill at {case}"
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
    let index = state.tiers.index().cloned().expect("index");
    let mut sizes: Vec<u64> = index
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
    let shape = |rows: Vec<Record>| {
        let mut v: Vec<_> = rows
            .into_iter()
            .filter(|r| r.class == Class::Variant)
            .map(|r| (r.id, r.key, r.spec, r.tiers.0, r.size, r.content_type))
            .collect();
        v.sort();
        v
    };
    let before = shape(lc.index.scan("", 1000).await.expect("scan"));
    let (warm, cold) = assert_consistent(&config).await;
    assert!(warm > 0 && cold > 0, "both tiers in use: {warm} {cold}");
    drop((lc, state));

    // Lose the database entirely, and plant a row that points at nothing.
    for name in ["meta.db", "meta.db-wal", "meta.db-shm"] {
        let _ = std::fs::remove_file(data.path().join(name));
    }
    let chain = Chain::open(&config, Clock::System, Background::new())
        .await
        .expect("tiers");
    let index = chain.index().cloned().expect("index");
    assert!(index.scan("", 10).await.expect("scan").is_empty());
    let gone = VariantKey::new(
        "gone.jpg",
        &Spec::parse("width=1").expect("spec"),
        "",
        &Encoding::default(),
    );
    let mut ghost = Record::variant(&gone, Presence::WARM, 1, "image/png", T0);
    ghost.hits = 1;
    index.upsert(&ghost).await.expect("ghost");

    let originals = Originals::from_config(&config).expect("originals");
    let report = refract_server::lifecycle::reindex::reindex(&originals, &chain)
        .await
        .expect("reindex");
    assert_eq!((report.variants, report.removed), (6, 1), "{report:?}");
    assert_eq!(report.originals, 6, "every file of the fixture: {report:?}");
    let after = shape(index.scan("", 1000).await.expect("scan"));
    assert_eq!(after, before, "the rebuilt index matches the original one");
    assert!(index.get("o/photos/cat.jpg").await.expect("get").is_some());
    // Running it again changes nothing.
    let again = refract_server::lifecycle::reindex::reindex(&originals, &chain)
        .await
        .expect("again");
    assert_eq!(
        (again.added, again.updated, again.removed),
        (0, 0, 0),
        "{again:?}"
    );
    assert_consistent(&config).await;
}

#[test]
fn lifecycle_plan_prints_a_readable_plan_of_the_sample_policy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let originals = dir.path().join("originals");
    std::fs::create_dir_all(originals.join("photos")).expect("mkdir");
    std::fs::create_dir_all(originals.join("tmp")).expect("mkdir");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
    std::fs::copy(
        samples.join("bird-20mp.jpg"),
        originals.join("photos/bird.jpg"),
    )
    .expect("copy");
    std::fs::copy(
        samples.join("cat-small.jpg"),
        originals.join("tmp/upload.jpg"),
    )
    .expect("copy");
    let data = dir.path().join("data").display().to_string();
    let originals = originals.display().to_string();
    let with_env = |c: &mut Command| {
        c.env("REFRACT_DATA_DIR", &data)
            .env("REFRACT_ORIGINALS", &originals)
            .env("REFRACT_LOG", "warn");
    };
    let mut reindex = refract();
    with_env(reindex.args(["storage", "reindex"]));
    let out = reindex.output().expect("reindex");
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["originals"], 2, "{report}");

    let plan = |json: bool| {
        let mut c = refract();
        with_env(c.args(["lifecycle", "plan", "--policy", "samples/lifecycle.toml"]));
        c.args(["--now", "2099-01-01"]);
        if json {
            c.arg("--json");
        }
        let out = c.output().expect("plan");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let table = plan(false);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("RULE"), "{table}");
    assert!(
        lines.iter().any(|l| l.starts_with("photo-originals")
            && l.contains("STANDARD → GLACIER_IR")
            && l.contains("photos/bird.jpg")),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("tmp-uploads") && l.contains("expire")),
        "{table}"
    );
    assert!(table.contains("2 actions"), "{table}");
    assert!(table.contains("2 objects scanned"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&plan(true)).expect("json plan");
    assert_eq!(
        json["actions"].as_array().expect("actions").len(),
        2,
        "{json}"
    );
}

/// `lifecycle run` at a future `--now` would expire real objects early: refused unless the
/// operator says so. `plan` at a future time is a forecast, and allowed.
#[test]
fn a_run_at_a_future_now_needs_the_explicit_flag() {
    let dir = tempfile::tempdir().expect("temp dir");
    let originals = dir.path().join("originals");
    std::fs::create_dir_all(originals.join("tmp")).expect("mkdir");
    let kept = originals.join("tmp/upload.jpg");
    std::fs::write(&kept, sample("cat-small.jpg")).expect("copy");
    let run = |extra: &[&str]| {
        refract()
            .args(["lifecycle", "run", "--policy", "samples/lifecycle.toml"])
            .args(["--now", "2099-01-01"])
            .args(extra)
            .env("REFRACT_DATA_DIR", dir.path().join("data"))
            .env("REFRACT_ORIGINALS", &originals)
            .env("REFRACT_LOG", "warn")
            .output()
            .expect("run")
    };
    let refused = run(&[]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.starts_with("error[future_now]:"), "{err}");
    assert!(kept.exists(), "nothing was expired");
    let reindex = refract()
        .args(["storage", "reindex"])
        .env("REFRACT_DATA_DIR", dir.path().join("data"))
        .env("REFRACT_ORIGINALS", &originals)
        .env("REFRACT_LOG", "warn")
        .output()
        .expect("reindex");
    assert!(reindex.status.success(), "{reindex:?}");
    let allowed = run(&["--allow-future-now"]);
    assert!(allowed.status.success(), "{allowed:?}");
    assert!(
        !kept.exists(),
        "the tmp-uploads rule expired the upload, as asked"
    );
}
