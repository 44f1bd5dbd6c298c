//! Benchmark of a sweep working off a backlog of moves (issue 12): `--actions` small variants,
//! all due, applied by one `Sweeper::run_once` with each `--concurrency` in turn. Not a test:
//! it asserts that every move was applied, and measures how long that took. `bench/backlog.sh`
//! runs it against a local cold tier and SeaweedFS, and prints a summary.
//!
//! ```text
//! cargo run --release -p refract-server --example sweep_backlog -- \
//!     --work /tmp/backlog --actions 100000 --concurrency 1,16 --action demote
//! ```
//!
//! For each concurrency, on fresh stores under `--work/c<N>`:
//!
//! 1. **fill** (untimed in the result's `secs`, reported apart): `--actions` variants of
//!    `--size` bytes, four per original, written straight into the warm directory (as the
//!    server's writes leave them) with their index rows (`Index::upsert`, 16 at once), created
//!    and last used 30 days before now;
//! 2. the server's tiers and index are opened over them (`Chain::open`, as `refract lifecycle
//!    run` does), and one sweep runs with a policy that makes every variant due: `demote` to
//!    cold after 7 days without access (copy, verify, switch the row, delete the warm file),
//!    or `expire` after 7 days (delete from every tier, then the row). Timed with `Instant`
//!    around `run_once`; the sweep's own batch is `--batch` (the server's default, 500);
//! 3. checks: every move applied, none failed, and the index totals agree (every variant
//!    cold after a demote; no row left after an expire).
//!
//! The cold tier is `<work>/c<N>/cold` (a local directory) unless `--cold s3://bucket` names
//! a bucket (`--s3-endpoint`, and the usual `AWS_*` variables for credentials); each run then
//! uses its own prefix. The index is SQLite in the run's directory unless `--meta` gives a
//! PostgreSQL URL, in which `{c}` is replaced by the concurrency, or by `before<N>` with
//! `--legacy` (one database per run; the database must exist and be empty). Progress goes to stderr; one JSON line per run to
//! stdout.
//!
//! `--legacy` leaves out the settings that issue 12 added (`lifecycle.concurrency` and the
//! others), so this file also builds and runs against the code before it, whose sweeps apply
//! one move at a time: `bench/backlog.sh` measures that "before" with `BEFORE_REF`.

use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use refract_core::{Policy as Encoding, Spec, VariantKey};
use refract_server::config::{Config, S3Config};
use refract_server::index::{Class, Index, Presence, Record};
use refract_server::lifecycle::{Policy, Sweeper};
use refract_server::originals::Originals;
use refract_server::runtime::background::Background;
use refract_server::runtime::clock::{Clock, DAY_MS};
use refract_server::tiers::blob::Blob;
use refract_server::tiers::warm::Warm;
use refract_server::tiers::Chain;
use serde_json::json;

type BoxError = Box<dyn Error + Send + Sync>;

const USAGE: &str = "usage: sweep_backlog --work DIR [--actions N] [--concurrency 1,16] \
                     [--action demote|expire] [--size BYTES] [--batch B] [--cold s3://BUCKET] \
                     [--s3-endpoint URL] [--meta postgres://…/db_{c}] [--legacy]";

#[derive(Debug)]
struct Options {
    work: std::path::PathBuf,
    actions: u64,
    concurrency: Vec<usize>,
    action: String,
    size: usize,
    batch: usize,
    cold: String,
    s3_endpoint: Option<String>,
    meta: String,
    legacy: bool,
}

impl Options {
    fn parse() -> Result<Options, BoxError> {
        let mut o = Options {
            work: std::path::PathBuf::new(),
            actions: 100_000,
            concurrency: vec![1, 16],
            action: "demote".into(),
            size: 2048,
            batch: 500,
            cold: String::new(),
            s3_endpoint: None,
            meta: String::new(),
            legacy: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "--legacy" {
                o.legacy = true;
                continue;
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            match flag.as_str() {
                "--work" => o.work = value.into(),
                "--actions" => o.actions = value.parse()?,
                "--concurrency" => {
                    o.concurrency = value
                        .split(',')
                        .map(|c| c.trim().parse())
                        .collect::<Result<_, _>>()?
                }
                "--action" => o.action = value,
                "--size" => o.size = value.parse()?,
                "--batch" => o.batch = value.parse()?,
                "--cold" => o.cold = value,
                "--s3-endpoint" => o.s3_endpoint = Some(value),
                "--meta" => o.meta = value,
                _ => return Err(format!("unknown option {flag}\n{USAGE}").into()),
            }
        }
        if o.work.as_os_str().is_empty() || !["demote", "expire"].contains(&o.action.as_str()) {
            return Err(USAGE.into());
        }
        if o.concurrency.contains(&0) || o.batch == 0 {
            return Err("--concurrency and --batch must be at least 1".into());
        }
        Ok(o)
    }
}

/// The server's configuration for one run's stores.
fn config(o: &Options, concurrency: usize, dir: &std::path::Path) -> Result<Config, BoxError> {
    // The settings issue 12 added are given as TOML, so that `--legacy` builds without them.
    let added = match o.legacy {
        true => String::new(),
        false => format!(
            "[tiers]\ncold_bytes = 0\n[lifecycle]\nconcurrency = {concurrency}\nreconcile_keys = 0\n"
        ),
    };
    let mut c: Config = toml::from_str(&added)?;
    c.originals = dir.join("originals").display().to_string();
    c.data_dir = dir.join("data").display().to_string();
    c.tiers.warm_bytes = 64 << 30;
    c.lifecycle.batch = o.batch;
    if !o.cold.is_empty() {
        c.tiers.cold = o.cold.clone();
        c.tiers.cold_prefix = format!("backlog-{}-c{concurrency}", std::process::id());
        c.storage.s3 = S3Config {
            endpoint: o.s3_endpoint.clone(),
            allow_http: o
                .s3_endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://")),
            ..S3Config::default()
        };
    }
    if !o.meta.is_empty() {
        let run = match o.legacy {
            true => format!("before{concurrency}"),
            false => concurrency.to_string(),
        };
        c.meta.url = o.meta.replace("{c}", &run);
    }
    Ok(c)
}

/// Variant `i`: four sizes of original `i / 4`.
fn variant(i: u64) -> VariantKey {
    let spec = Spec::parse(&format!("width={}", 100 + i % 4)).expect("spec");
    VariantKey::new(
        &format!("backlog/{:06}.jpg", i / 4),
        &spec,
        "",
        &Encoding::default(),
    )
}

/// Writes the variants into the warm directory and their rows into the index; returns the
/// seconds it took.
async fn fill(o: &Options, config: &Config, index: &Index, now_ms: i64) -> Result<f64, BoxError> {
    let started = Instant::now();
    let dir = config.warm_dir().ok_or("no warm tier")?;
    let (n, size) = (o.actions, o.size);
    tokio::task::spawn_blocking(move || -> Result<(), BoxError> {
        let (warm, _) = Warm::open(&dir, u64::MAX)?;
        let body = Bytes::from(vec![0x5a; size]);
        for i in 0..n {
            let key = variant(i);
            let blob = Blob {
                version: "backlog".into(),
                content_type: "image/jpeg".into(),
                body: body.clone(),
                key: key.clone(),
            };
            warm.put(key.id(), &blob)?;
        }
        Ok(())
    })
    .await??;
    let created = now_ms - 30 * DAY_MS;
    let mut rows = futures::stream::iter(0..n)
        .map(|i| {
            let index = index.clone();
            async move {
                let key = variant(i);
                let row = Record::variant(&key, Presence::WARM, size as u64, "image/jpeg", created);
                index.upsert(&row).await
            }
        })
        .buffer_unordered(16);
    while let Some(r) = rows.next().await {
        r?;
    }
    Ok(started.elapsed().as_secs_f64())
}

fn policy(action: &str) -> Result<Policy, BoxError> {
    let act = match action {
        "demote" => r#"{ type = "demote", to = "cold", days_since_access = 7 }"#,
        _ => r#"{ type = "expire", days_since_access = 7 }"#,
    };
    let text = format!(
        "[[rule]]\nid = \"backlog\"\nfilter = {{ class = \"variant\" }}\nactions = [{act}]\n"
    );
    Ok(Policy::parse(&text)?)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let o = Options::parse()?;
    let now_ms = Clock::System.now_ms();
    for &concurrency in &o.concurrency {
        let dir = o.work.join(format!("c{concurrency}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("originals"))?;
        let config = config(&o, concurrency, &dir)?;
        let meta = config.meta_url().ok_or("no index")?;
        let index = Index::open(&meta).await?;
        if !index.scan("", 1).await?.is_empty() {
            return Err(format!("{meta}: the store is not empty").into());
        }
        eprintln!("[backlog] c={concurrency}: filling {} variants", o.actions);
        let fill_secs = fill(&o, &config, &index, now_ms).await?;

        let background = Background::new();
        let chain = Chain::open(&config, Clock::manual(now_ms), Arc::clone(&background)).await?;
        let originals = Originals::from_config(&config)?;
        let sweeper = Sweeper::new(&config, policy(&o.action)?, originals, Arc::new(chain))?;
        eprintln!(
            "[backlog] c={concurrency}: sweeping ({} batch {}, cold {})",
            o.action,
            o.batch,
            config.cold_url().unwrap_or_default()
        );
        let started = Instant::now();
        let report = sweeper.run_once().await?;
        let secs = started.elapsed().as_secs_f64();
        background.stop().await;

        // Every move applied, and the index says so.
        let totals = index.totals().await?;
        let variants = |tiers: Presence| -> u64 {
            totals
                .iter()
                .filter(|t| t.class == Class::Variant && t.tiers == tiers)
                .map(|t| t.objects)
                .sum()
        };
        let all: u64 = totals.iter().map(|t| t.objects).sum();
        let end_state_ok = match o.action.as_str() {
            "demote" => variants(Presence::COLD) == o.actions && all == o.actions,
            _ => all == 0,
        };
        let ok = report.applied == o.actions && report.failed == 0 && end_state_ok;
        eprintln!(
            "[backlog] c={concurrency}: {} applied in {secs:.1} s ({:.0}/s){}",
            report.applied,
            report.applied as f64 / secs,
            if ok { "" } else { "  CHECK FAILED" }
        );
        let line = json!({
            "action": o.action,
            "actions": o.actions,
            "size": o.size,
            "batch": o.batch,
            "concurrency": concurrency,
            "legacy": o.legacy,
            "cold": config.cold_url(),
            "meta": if o.meta.is_empty() { "sqlite" } else { "postgres" },
            "fill_secs": fill_secs,
            "secs": secs,
            "per_s": report.applied as f64 / secs,
            "report": report,
            "ok": ok,
        });
        println!("{line}");
        if !ok {
            return Err(format!("c={concurrency}: {report:?}, totals {totals:?}").into());
        }
    }
    Ok(())
}
