//! Benchmark of the lifecycle sweeper's metadata work over many rows (issue 4). Not a test: it
//! asserts nothing about speed, it measures. `bench/sweep.sh` runs it against SQLite and a
//! private PostgreSQL server and prints a summary.
//!
//! ```text
//! cargo run --release -p refract-server --example sweep_bench -- \
//!     --url sqlite:///tmp/meta.db --rows 1000000 --batch 500
//! ```
//!
//! The database must be empty (a new SQLite file, a new PostgreSQL database). Steps, each timed
//! with `Instant`; progress goes to stderr and the results to stdout, as one JSON line at the end:
//!
//! 1. **fill**: `--rows` rows written with [`Index::upsert`], one call (and, in both backends, one
//!    transaction) per row, as the server writes them. 10% are originals (`o/photos/…`, 100 KB to
//!    5 MB, storage class STANDARD, STANDARD_IA or GLACIER_IR) and 90% variants (`v/<32 hex>`, warm
//!    or cold, 2 to 200 KB). Creation is spread over the 365 days before [`NOW`], the last access
//!    between creation and [`NOW`]. Every row comes from a xorshift generator seeded by the row
//!    number, so the data set does not depend on how the rows are split between tasks. The first
//!    `--serial` rows are written by one task, one row after the other; the rest in chunks of
//!    `--batch` rows, taken by `--tasks` tokio tasks over `--conns` handles ([`Index::open`] once
//!    per handle: one connection each), like concurrent requests on several server instances.
//! 2. **totals**: [`Index::totals`] (the metrics query); checks that the store holds `--rows` rows.
//! 3. **plan**: [`Sweeper::plan`] at [`NOW`] with [`POLICY`]: scan every row in batches of
//!    `--batch` and plan each one. Counts the planned actions by class and type, and the storage
//!    class transitions. A sweep (`run_once`) would also perform the moves; that is not measured.
//! 4. **scan**: the same paging through every row with [`Index::scan`]: the floor under a sweep.
//!    Only the scan calls are timed; between them, `plan_record` is timed apart on each page (the
//!    planner's own cost), and the rows are planned once more at `NOW` + 1 hour, untimed, to count
//!    the actions that would become due during the next hour (what the next hourly sweep finds
//!    once this one has applied its plan, leaving new accesses and new rows aside).
//! 5. **access**: `--access-rounds` calls of [`Index::record_access`], each with a batch of
//!    `--access` accesses to existing rows (the flush of the server's access log).

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use refract_server::index::{Access, Class, Index, Presence as Tiers, Record};
use refract_server::lifecycle::plan::{plan_record, Op};
use refract_server::lifecycle::sweep::{Sweeper, LEASE_MS};
use refract_server::lifecycle::Policy;
use refract_server::originals::Originals;
use refract_server::runtime::background::Background;
use refract_server::runtime::clock::{parse_time, Clock, DAY_MS};
use refract_server::tiers::Chain;
use serde_json::json;

type BoxError = Box<dyn Error + Send + Sync>;

/// The bench's "now": the data is generated relative to it and the plan is made at it, so the
/// numbers do not depend on the day the bench runs.
const NOW: &str = "2026-12-01T00:00:00Z";

/// The policy planned: last-access rules for both classes.
const POLICY: &str = r#"
[[rule]]
id = "variants"
filter = { class = "variant" }
actions = [
  { type = "demote", to = "cold", days_since_access = 7 },
  { type = "expire", days_since_access = 90 },
]

[[rule]]
id = "originals"
filter = { class = "original", prefix = "photos/" }
actions = [
  { type = "storage_class", class = "STANDARD_IA", days_since_access = 30 },
  { type = "storage_class", class = "GLACIER_IR", days_since_access = 180 },
]
"#;

const HOUR_MS: i64 = 60 * 60 * 1000;

/// Every tenth row is an original.
const ORIGINAL_EVERY: u64 = 10;

/// Command-line options.
#[derive(Debug)]
struct Options {
    url: String,
    rows: u64,
    batch: usize,
    serial: u64,
    tasks: usize,
    conns: usize,
    access: usize,
    access_rounds: usize,
    seed: u64,
}

const USAGE: &str = "usage: sweep_bench --url URL [--rows N] [--batch B] [--serial S] \
                     [--tasks T] [--conns C] [--access N] [--access-rounds R] [--seed X]";

impl Options {
    fn parse() -> Result<Options, BoxError> {
        let mut o = Options {
            url: String::new(),
            rows: 1_000_000,
            batch: 500,
            serial: 0,
            tasks: 1,
            conns: 1,
            access: 10_000,
            access_rounds: 3,
            seed: 4,
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            match flag.as_str() {
                "--url" => o.url = value,
                "--rows" => o.rows = value.parse()?,
                "--batch" => o.batch = value.parse()?,
                "--serial" => o.serial = value.parse()?,
                "--tasks" => o.tasks = value.parse()?,
                "--conns" => o.conns = value.parse()?,
                "--access" => o.access = value.parse()?,
                "--access-rounds" => o.access_rounds = value.parse()?,
                "--seed" => o.seed = value.parse()?,
                _ => return Err(format!("unknown option {flag}\n{USAGE}").into()),
            }
        }
        if o.url.is_empty() {
            return Err(USAGE.into());
        }
        if o.batch == 0 || o.tasks == 0 || o.conns == 0 || o.access_rounds == 0 {
            return Err("--batch, --tasks, --conns and --access-rounds must be at least 1".into());
        }
        o.serial = o.serial.min(o.rows);
        Ok(o)
    }
}

/// xorshift64: small, fast and deterministic; enough for spreading test data.
struct XorShift(u64);

impl XorShift {
    /// The generator for one stream (a row): splitmix64 of the seed and stream, so neighbouring
    /// streams start from unrelated states.
    fn new(seed: u64, stream: u64) -> XorShift {
        let mut z = seed.wrapping_add(stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        XorShift((z ^ (z >> 31)) | 1) // never 0, xorshift's fixed point
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `0..n` (modulo bias is negligible for the small `n` used here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn original_key(n: u64) -> String {
    format!("photos/{:04}/{n:08}.jpg", 2020 + n % 6)
}

/// Row `i` of the data set: a pure function of (seed, i, rows).
fn record(seed: u64, i: u64, rows: u64, now_ms: i64) -> Record {
    let mut rng = XorShift::new(seed, i);
    let year_ms = 365 * DAY_MS.unsigned_abs();
    let created_ago = rng.below(year_ms);
    let accessed_ago = rng.below(created_ago + 1);
    let created_ms = now_ms - i64::try_from(created_ago).unwrap_or(0);
    let last_access_ms = now_ms - i64::try_from(accessed_ago).unwrap_or(0);
    let hits = rng.below(50);
    if i % ORIGINAL_EVERY == 0 {
        let key = original_key(i / ORIGINAL_EVERY);
        let storage_class = match rng.below(10) {
            0..=6 => "STANDARD",
            7 | 8 => "STANDARD_IA",
            _ => "GLACIER_IR",
        };
        Record {
            id: format!("o/{key}"),
            class: Class::Original,
            key,
            spec: None,
            tiers: Tiers::STORE,
            size: rng.between(100_000, 5_000_000),
            content_type: "image/jpeg".to_owned(),
            storage_class: storage_class.to_owned(),
            created_ms,
            last_access_ms,
            hits,
            pending: None,
        }
    } else {
        let id = format!("v/{:016x}{:016x}", rng.next(), rng.next());
        let key = original_key(rng.below(rows.div_ceil(ORIGINAL_EVERY)));
        let width = rng.pick(&["160", "320", "640", "800", "1200", "1600"]);
        let format = rng.pick(&["avif", "webp", "jpeg"]);
        Record {
            id,
            class: Class::Variant,
            key,
            spec: Some(format!("width={width},format=auto|{format}")),
            tiers: if rng.below(10) < 7 {
                Tiers::WARM
            } else {
                Tiers::COLD
            },
            size: rng.between(2_000, 200_000),
            content_type: format!("image/{format}"),
            storage_class: "STANDARD".to_owned(),
            created_ms,
            last_access_ms,
            hits,
            pending: None,
        }
    }
}

fn per_second(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// Fill progress: the time at which every 100,000th row was written, to show how the write
/// rate changes as the table grows.
struct Progress {
    started: Instant,
    written: AtomicU64,
    marks: Mutex<Vec<f64>>,
}

const MARK_EVERY: u64 = 100_000;

impl Progress {
    fn add(&self, rows: u64) {
        let before = self.written.fetch_add(rows, Ordering::Relaxed);
        let after = before + rows;
        if before / MARK_EVERY != after / MARK_EVERY {
            let secs = self.started.elapsed().as_secs_f64();
            let mut marks = self.marks.lock().unwrap_or_else(|p| p.into_inner());
            marks.push(secs);
            let n = after / MARK_EVERY * MARK_EVERY;
            eprintln!("  {n} rows written, {secs:.1} s");
        }
    }
}

/// What the fill measured.
struct Fill {
    serial: Duration,
    concurrent: Duration,
    /// Rows/s of each successive 100,000 rows.
    segments: Vec<f64>,
}

/// Step 1: writes rows `0..rows`: `serial` of them from one task, the rest from `tasks` tasks
/// that take chunks of `batch` rows.
async fn fill(o: &Options, handles: &[Index], now_ms: i64) -> Result<Fill, BoxError> {
    let progress = Arc::new(Progress {
        started: Instant::now(),
        written: AtomicU64::new(0),
        marks: Mutex::new(Vec::new()),
    });
    for i in 0..o.serial {
        handles[0]
            .upsert(&record(o.seed, i, o.rows, now_ms))
            .await?;
        progress.add(1);
    }
    let serial = progress.started.elapsed();
    if o.serial > 0 {
        eprintln!(
            "  serial: {} rows in {:.1} s ({:.0} rows/s)",
            o.serial,
            serial.as_secs_f64(),
            per_second(o.serial, serial)
        );
    }

    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(o.serial)); // first row of the next chunk
    let batch = o.batch as u64;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..o.tasks {
        let meta = handles[t % handles.len()].clone();
        let (next, progress) = (Arc::clone(&next), Arc::clone(&progress));
        let (seed, rows) = (o.seed, o.rows);
        tasks.spawn(async move {
            loop {
                let start = next.fetch_add(batch, Ordering::Relaxed);
                if start >= rows {
                    return Ok::<(), BoxError>(());
                }
                let end = (start + batch).min(rows);
                for i in start..end {
                    meta.upsert(&record(seed, i, rows, now_ms)).await?;
                }
                progress.add(end - start);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let concurrent = started.elapsed();
    let marks = progress.marks.lock().unwrap_or_else(|p| p.into_inner());
    let segments = marks
        .iter()
        .scan(0.0, |prev, &t| {
            let rate = MARK_EVERY as f64 / (t - *prev).max(1e-9);
            *prev = t;
            Some(rate)
        })
        .collect();
    Ok(Fill {
        serial,
        concurrent,
        segments,
    })
}

/// What the scan-only step measured.
struct Scan {
    rows: u64,
    pages: u64,
    /// Time spent in `Index::scan` calls only.
    scan: Duration,
    /// Time spent planning the rows with `plan_record` (done between the pages, not counted in
    /// `scan`): the planner's own cost.
    planner: Duration,
    /// Rows whose planned action at `now + 1 h` is a different one than at `now` (or one where
    /// there was none): what the next hourly sweep would find to do after this one.
    new_next_hour: u64,
}

/// Step 4: pages through every row with `Index::scan`, as a sweep does. The scan calls alone are
/// timed; between them, the planner is timed separately on each page.
async fn scan_all(
    meta: &Index,
    policy: &Policy,
    batch: usize,
    now_ms: i64,
) -> Result<Scan, BoxError> {
    let mut s = Scan {
        rows: 0,
        pages: 0,
        scan: Duration::ZERO,
        planner: Duration::ZERO,
        new_next_hour: 0,
    };
    let mut after = String::new();
    loop {
        let started = Instant::now();
        let page = meta.scan(&after, batch).await?;
        s.scan += started.elapsed();
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        s.rows += page.len() as u64;
        s.pages += 1;

        let started = Instant::now();
        let now: Vec<Option<Op>> = page
            .iter()
            .map(|r| plan_record(policy, r, now_ms).map(|p| p.op))
            .collect();
        s.planner += started.elapsed();
        for (r, op) in page.iter().zip(&now) {
            let later = plan_record(policy, r, now_ms + HOUR_MS).map(|p| p.op);
            if later.is_some() && later != *op {
                s.new_next_hour += 1;
            }
        }
    }
    Ok(s)
}

/// Peak resident memory of this process, in MiB (Linux only; 0 elsewhere).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let o = Options::parse()?;
    let now_ms = parse_time(NOW)?;
    let policy = Policy::parse(POLICY)?;

    // One handle per connection; handle 0 serves every step after the fill.
    let mut handles = Vec::new();
    for _ in 0..o.conns {
        handles.push(Index::open(&o.url).await?);
    }
    let meta = handles[0].clone();
    if !meta.scan("", 1).await?.is_empty() {
        return Err(format!("{}: the store is not empty", o.url).into());
    }
    eprintln!(
        "sweep_bench: {} ({}), {} rows, batch {}",
        o.url,
        meta.backend(),
        o.rows,
        o.batch
    );

    // 1. Fill.
    eprintln!(
        "fill: {} rows serially, then {} tasks over {} connection(s)",
        o.serial, o.tasks, o.conns
    );
    let filled = fill(&o, &handles, now_ms).await?;
    let (serial, concurrent) = (filled.serial, filled.concurrent);
    let fill_total = serial + concurrent;
    let rest = o.rows - o.serial;
    eprintln!(
        "fill: {} rows in {:.1} s ({:.0} rows/s)",
        o.rows,
        fill_total.as_secs_f64(),
        per_second(o.rows, fill_total)
    );

    // 2. Totals: the metrics query, and a check that every row is there.
    let started = Instant::now();
    let totals = meta.totals().await?;
    let totals_time = started.elapsed();
    let objects: u64 = totals.iter().map(|t| t.objects).sum();
    let bytes: u64 = totals.iter().map(|t| t.bytes).sum();
    if objects != o.rows {
        return Err(format!("the store holds {objects} rows, expected {}", o.rows).into());
    }
    eprintln!(
        "totals: {objects} rows, {bytes} bytes in {:.2} s",
        totals_time.as_secs_f64()
    );

    // 3. Plan. Sweeper::plan reads only `index` and `policy`; the originals and tiers are
    // in-memory stand-ins that it never touches.
    let lifecycle = Sweeper {
        policy,
        index: meta.clone(),
        originals: Originals::new(
            Arc::new(object_store::memory::InMemory::new()),
            "",
            Duration::from_secs(5),
            u64::MAX,
            false,
        ),
        chain: Arc::new(Chain::memory_only(0, Background::new())),
        clock: Clock::manual(now_ms),
        batch: o.batch,
        lease_ms: LEASE_MS,
        concurrency: 1,
        reconcile_keys: 0,
        cold_bytes: 0,
    };
    let started = Instant::now();
    let (scanned, plans) = lifecycle.plan(now_ms).await?;
    let plan_time = started.elapsed();
    let mut actions: BTreeMap<String, u64> = BTreeMap::new();
    let mut transitions: BTreeMap<String, u64> = BTreeMap::new();
    for p in &plans {
        *actions
            .entry(format!("{} {}", p.class, p.op.name()))
            .or_default() += 1;
        if let Op::SetStorageClass { from, to } = &p.op {
            *transitions.entry(format!("{from} -> {to}")).or_default() += 1;
        }
    }
    let planned_bytes: u64 = plans.iter().map(|p| p.size).sum();
    eprintln!(
        "plan: {scanned} rows, {} actions in {:.2} s ({:.0} rows/s)",
        plans.len(),
        plan_time.as_secs_f64(),
        per_second(scanned, plan_time)
    );
    drop(plans);

    // 4. Scan only, with the planner timed apart.
    let scanned_only = scan_all(&meta, &lifecycle.policy, o.batch, now_ms).await?;
    let Scan {
        rows: scan_rows,
        pages,
        scan: scan_time,
        planner: planner_time,
        new_next_hour,
    } = scanned_only;
    eprintln!(
        "scan: {scan_rows} rows in {pages} pages, {:.2} s ({:.0} rows/s); planner alone {:.2} s; \
         {new_next_hour} new actions due in the next hour",
        scan_time.as_secs_f64(),
        per_second(scan_rows, scan_time),
        planner_time.as_secs_f64()
    );

    // 5. Access batches: ids of existing rows, drawn from a stream of their own.
    let mut rng = XorShift::new(o.seed ^ 0xACCE55, u64::MAX);
    let mut rounds = Vec::new();
    for round in 0..o.access_rounds {
        let ids: Vec<String> = (0..o.access)
            .map(|_| record(o.seed, rng.below(o.rows), o.rows, now_ms).id)
            .collect();
        let batch: Vec<Access<'_>> = ids
            .iter()
            .map(|id| Access {
                id,
                last_access_ms: now_ms,
                hits: 1,
            })
            .collect();
        let started = Instant::now();
        meta.record_access(&batch).await?;
        let took = started.elapsed();
        eprintln!(
            "access round {round}: {} accesses in {:.3} s",
            o.access,
            took.as_secs_f64()
        );
        rounds.push(took.as_secs_f64());
    }
    let mut sorted = rounds.clone();
    sorted.sort_by(f64::total_cmp);
    let access_median = sorted[sorted.len() / 2];

    let sqlite_version = match meta.backend() {
        "sqlite" => Some(rusqlite::version()),
        _ => None,
    };
    let report = json!({
        "backend": meta.backend(),
        "sqlite_version": sqlite_version,
        "rows": o.rows,
        "batch": o.batch,
        "now": NOW,
        "fill": {
            "secs": fill_total.as_secs_f64(),
            "rows_per_s": per_second(o.rows, fill_total),
            "serial_rows": o.serial,
            "serial_secs": serial.as_secs_f64(),
            "serial_rows_per_s": (o.serial > 0).then(|| per_second(o.serial, serial)),
            "concurrent_rows": rest,
            "concurrent_secs": concurrent.as_secs_f64(),
            "concurrent_rows_per_s": (rest > 0).then(|| per_second(rest, concurrent)),
            "per_100k_rows_per_s": filled.segments,
            "tasks": o.tasks,
            "conns": o.conns,
        },
        "totals": { "secs": totals_time.as_secs_f64(), "objects": objects, "bytes": bytes },
        "plan": {
            "secs": plan_time.as_secs_f64(),
            "rows_per_s": per_second(scanned, plan_time),
            "scanned": scanned,
            "actions": actions,
            "storage_class_transitions": transitions,
            "planned_bytes": planned_bytes,
        },
        "scan": {
            "secs": scan_time.as_secs_f64(),
            "rows_per_s": per_second(scan_rows, scan_time),
            "rows": scan_rows,
            "pages": pages,
            "planner_secs": planner_time.as_secs_f64(),
            "new_actions_next_hour": new_next_hour,
        },
        "access": {
            "batch": o.access,
            "rounds_secs": rounds,
            "median_secs": access_median,
            "rows_per_s": per_second(o.access as u64, Duration::from_secs_f64(access_median)),
        },
        "peak_rss_mib": peak_rss_mib(),
    });
    println!("{report}");
    Ok(())
}
