//! Lifecycle sweeps that crash, and originals replaced while a move of them is half done:
//! `refract lifecycle run` SIGKILLed at random moments (with a simulated `--now` in the
//! future, the case that once left claims stamped in the future and never taken over), and an
//! expire of an original killed at each of its steps while a new version arrives, through an
//! upload or written into the store by another tool. The end state is checked exactly.

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use refract_server::config::Config;
use refract_server::http::router;
use refract_server::index::Class;
use refract_server::lifecycle::sweep::Sweeper;
use refract_server::lifecycle::Policy;
use refract_server::runtime::clock::{Clock, DAY_MS};
use refract_server::state::State;
use support::app::*;
use support::lifecycle::{assert_consistent, populated, VARIANT_POLICY};
use support::process::refract;

const T0: i64 = 20_000 * DAY_MS;

const VARIANTS: &str = VARIANT_POLICY;

const TMP_UPLOADS: &str = r#"
[[rule]]
id = "tmp-uploads"
filter = { class = "original", prefix = "tmp/" }
actions = [{ type = "expire", days_since_creation = 1 }]
"#;

/// Writes the config and policy for the CLI; returns their paths.
fn write_config(
    data: &Path,
    config: &Config,
    policy: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let policy_path = data.join("policy.toml");
    std::fs::write(&policy_path, policy).expect("policy");
    let config_path = data.join("refract.toml");
    std::fs::write(&config_path, toml::to_string(config).expect("toml")).expect("config");
    (config_path, policy_path)
}

/// `refract lifecycle run`, at a simulated time (`now`, possibly in the future) or the real one.
fn lifecycle_run(config: &Path, policy: &Path, now: Option<&str>) -> Command {
    let mut c = refract();
    c.args(["lifecycle", "run", "--config"])
        .arg(config)
        .arg("--policy")
        .arg(policy)
        .env("REFRACT_LOG", "warn")
        .env_remove("REFRACT_LIFECYCLE_FAULT");
    if let Some(now) = now {
        c.args(["--now", now, "--allow-future-now"]);
    }
    c
}

fn report(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("report")
}

/// Copies a directory tree (`cp -a`), replacing `to`.
fn copy_tree(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(ok.success());
}

#[tokio::test]
async fn sweeps_killed_at_random_moments_converge_to_the_exact_end_state() {
    let f = fixture(|_| {});
    let root = tempfile::tempdir().expect("root");
    let data = root.path().join("data");
    let (config, state) = populated(&f, &data, &Clock::manual(T0)).await;
    // More variants than the shared fixture makes, so a sweep lasts long enough to be cut.
    let app = router(state.clone());
    for w in (120..=400).step_by(10) {
        let r = send(&app, get(&format!("/cat-small.jpg?width={w}&format=png"))).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    state.tiers.settle().await;
    state.tiers.flush_access().await;
    drop((app, state));
    let (config_path, policy_path) = write_config(root.path(), &config, VARIANTS);
    let snapshot = root.path().join("snapshot");
    copy_tree(&data, &snapshot);
    // A month past the real date: every variant (last used at T0, in 2024) is due to expire.
    let now = (Clock::System.now_ms() + 30 * DAY_MS).to_string();
    let run = |now: Option<&str>, lease: Option<&str>| {
        let mut c = lifecycle_run(&config_path, &policy_path, now);
        if let Some(secs) = lease {
            c.env("REFRACT_LIFECYCLE__LEASE_SECS", secs);
        }
        c
    };
    // How long an uninterrupted sweep takes: kills land anywhere in it.
    let started = std::time::Instant::now();
    let full = report(&run(Some(&now), None).output().expect("run"));
    let span = started.elapsed().as_millis() as u64 + 5;
    assert!(full["applied"].as_u64() > Some(20), "{full}");

    // A fixed pseudo-random sequence of kill moments, so a failure reproduces.
    let mut seed: u64 = 0x5eed;
    let mut cut = 0;
    for trial in 0..12 {
        copy_tree(&snapshot, &data);
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis((seed >> 33) % span);
        let mut child = run(Some(&now), None)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(delay);
        let _ = child.kill();
        cut += usize::from(child.wait().expect("wait").signal() == Some(9));
        // The crashed run's claims are seconds old in real time, however far ahead its
        // simulated clock was: a sweep on the real clock (the server's, say) with the lease
        // run out (0 here) takes every one over, and finishes the rest.
        let last = report(&run(None, Some("0")).output().expect("run"));
        let case = format!("trial {trial}, killed after {delay:?}: {last}");
        assert_eq!(last["pending"], 0, "{case}");
        assert_eq!(last["failed"], 0, "{case}");
        // Every variant expired, from every tier and the index; originals untouched.
        assert_eq!(assert_consistent(&config).await, (0, 0), "{case}");
        for name in ["cat-small.jpg", "logo-alpha.png", "orientation-6.jpg"] {
            assert_eq!(
                std::fs::read(f.dir.path().join(name)).expect("original"),
                sample(name),
                "{name}: {case}"
            );
        }
    }
    assert!(
        cut >= 6,
        "only {cut} of 12 runs were cut short (a sweep takes {span} ms)"
    );
}

/// How the new version of `tmp/a.jpg` arrives while the expire of the old one is half done.
#[derive(Debug, Clone, Copy)]
enum Replacement {
    /// `PUT` through the server (which holds the row while it writes).
    Upload,
    /// Written into the originals' directory by another tool, unknown to the index.
    Direct,
}

#[tokio::test]
async fn an_original_replaced_while_its_expire_is_half_done_is_never_deleted() {
    for step in ["claimed", "cleaned"] {
        for how in [Replacement::Upload, Replacement::Direct] {
            replaced_during_expire(step, how).await;
        }
    }
}

async fn replaced_during_expire(step: &str, how: Replacement) {
    let case = format!("{how:?} after a kill at {step}");
    let f = fixture(|_| {});
    let data = tempfile::tempdir().expect("data");
    let mut config = f.state.config.clone();
    config.data_dir = data.path().display().to_string();
    let old = sample("cat-small.jpg");
    let new = sample("logo-alpha.png");
    let path = f.dir.path().join("tmp/a.jpg");
    {
        let state = State::open(config.clone(), Clock::manual(T0))
            .await
            .expect("state");
        let app = router(state.clone());
        let r = send(
            &app,
            put("/tmp/a.jpg", Some(TOKEN), None, Body::from(old.clone())),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{case}");
        state.tiers.settle().await;
    }
    let (config_path, policy_path) = write_config(data.path(), &config, TMP_UPLOADS);
    let day2 = (T0 + 2 * DAY_MS).to_string();
    let mut killed = lifecycle_run(&config_path, &policy_path, Some(&day2));
    let killed = killed
        .env("REFRACT_LIFECYCLE_FAULT", step)
        .output()
        .expect("run");
    assert_eq!(killed.status.signal(), Some(9), "{case}: {killed:?}");
    assert_eq!(path.exists(), step == "claimed", "{case}");

    let state = State::open(config.clone(), Clock::manual(T0 + 2 * DAY_MS))
        .await
        .expect("state");
    match how {
        Replacement::Upload => {
            let app = router(state.clone());
            // While the crashed move's claim is within its lease, the upload waits its turn.
            let r = send(
                &app,
                put("/tmp/a.jpg", Some(TOKEN), None, Body::from(new.clone())),
            )
            .await;
            assert_eq!(r.status, StatusCode::CONFLICT, "{case}");
            assert_eq!(r.code(), "original_busy", "{case}");
            // Past the lease (0 here), the upload takes the row over and writes.
            let mut lapsed = config.clone();
            lapsed.lifecycle.lease_secs = 0;
            let lapsed = State::open(lapsed, Clock::manual(T0 + 2 * DAY_MS))
                .await
                .expect("state");
            let r = send(
                &router(lapsed.clone()),
                put("/tmp/a.jpg", Some(TOKEN), None, Body::from(new.clone())),
            )
            .await;
            assert_eq!(r.status, StatusCode::CREATED, "{case}");
            lapsed.tiers.settle().await;
        }
        Replacement::Direct => std::fs::write(&path, &new).expect("write"),
    }

    // Recovery, with the crashed move's lease run out.
    let sweeper = Sweeper {
        policy: Policy::parse(TMP_UPLOADS).expect("policy"),
        index: state.tiers.index().cloned().expect("index"),
        originals: state.originals.clone(),
        chain: Arc::clone(&state.tiers),
        clock: Clock::manual(T0 + 2 * DAY_MS),
        batch: 10,
        lease_ms: 0,
        concurrency: 4,
        reconcile_keys: 0,
        cold_bytes: 0,
    };
    let (_, pending) = sweeper.recover().await.expect("recover");
    assert_eq!(pending, 0, "{case}");
    assert_eq!(
        std::fs::read(&path).expect("the new version is there"),
        new,
        "{case}"
    );
    let index = state.tiers.index().expect("index");
    let row = index.get("o/tmp/a.jpg").await.expect("get");
    match how {
        // Uploaded: the row describes the new version, created now, not pending.
        Replacement::Upload => {
            let row = row.expect("row");
            assert_eq!(
                (row.class, row.pending.as_deref()),
                (Class::Original, None),
                "{case}"
            );
            assert_eq!(row.created_ms, T0 + 2 * DAY_MS, "{case}");
            // And a sweep now leaves it alone: it is a day younger than the rule's threshold.
            let report = sweeper.run_once().await.expect("sweep");
            assert_eq!(report.applied, 0, "{case}: {report:?}");
            assert_eq!(std::fs::read(&path).expect("still there"), new, "{case}");
        }
        // Written behind the server's back: the move is given up, the row released.
        Replacement::Direct => {
            if let Some(row) = row {
                assert_eq!(row.pending, None, "{case}");
            }
        }
    }
}

#[tokio::test]
async fn awkward_keys_round_trip_through_reindex_and_an_expire() {
    let f = fixture(|_| {});
    let data = tempfile::tempdir().expect("data");
    let mut config = f.state.config.clone();
    config.data_dir = data.path().display().to_string();
    let keys: Vec<String> = support::awkward_keys()
        .into_iter()
        .map(|k| format!("tmp/{k}"))
        .collect();
    let state = State::open(config.clone(), Clock::manual(T0))
        .await
        .expect("state");
    let app = router(state.clone());
    for key in &keys {
        let r = send(
            &app,
            put(
                &support::url_path(key),
                Some(TOKEN),
                None,
                Body::from(sample("cat-small.jpg")),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{key}");
    }
    state.tiers.settle().await;
    // Rebuilt from the store's listing, the index names exactly these keys.
    let index = state.tiers.index().cloned().expect("index");
    for key in &keys {
        index.delete(&format!("o/{key}")).await.expect("forget");
    }
    refract_server::lifecycle::reindex::reindex(&state.originals, &state.tiers)
        .await
        .expect("reindex");
    let rows = index.scan("o/tmp/", 1000).await.expect("scan");
    let indexed: Vec<String> = rows
        .iter()
        .filter(|r| r.key.starts_with("tmp/"))
        .map(|r| r.key.clone())
        .collect();
    support::assert_same_keys(indexed, &keys);
    // The lifecycle expires them by those keys: every object and row gone.
    let sweeper = Sweeper {
        policy: Policy::parse(TMP_UPLOADS).expect("policy"),
        index: index.clone(),
        originals: state.originals.clone(),
        chain: Arc::clone(&state.tiers),
        // Reindexed rows are created at the files' modification time (now): two days on.
        clock: Clock::manual(Clock::System.now_ms() + 2 * DAY_MS),
        batch: 50,
        lease_ms: 0,
        concurrency: 4,
        reconcile_keys: 0,
        cold_bytes: 0,
    };
    let report = sweeper.run_once().await.expect("sweep");
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(report.applied, keys.len() as u64, "{report:?}");
    let listed = state.originals.list().await.expect("list");
    assert!(
        listed.iter().all(|(k, _, _)| !k.starts_with("tmp/")),
        "left: {listed:?}"
    );
    assert!(index
        .scan("o/tmp/", 1000)
        .await
        .expect("scan")
        .iter()
        .all(|r| !r.key.starts_with("tmp/")));
}
