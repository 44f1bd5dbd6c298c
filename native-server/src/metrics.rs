//! Every metric name, in one place, and the Prometheus recorder behind `/metrics`.
//!
//! Code records through the `metrics` facade with these constants; the recorder is installed
//! once per process. Gauges that mirror live state (queue depth, in-flight transforms, cache
//! bytes) are read from their owners when `/metrics` is scraped, so they are never stale.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const REQUESTS: &str = "refract_http_requests_total";
pub const REQUEST_DURATION: &str = "refract_http_request_duration_seconds";
pub const STAGE_DURATION: &str = "refract_stage_duration_seconds";
pub const CACHE_HITS: &str = "refract_cache_hits_total";
pub const CACHE_MISSES: &str = "refract_cache_misses_total";
pub const TRANSFORMS: &str = "refract_transforms_total";
pub const COALESCED: &str = "refract_coalesced_total";
pub const BYTES_IN: &str = "refract_bytes_in_total";
pub const BYTES_OUT: &str = "refract_bytes_out_total";
pub const QUEUE_DEPTH: &str = "refract_queue_depth";
pub const IN_FLIGHT: &str = "refract_transforms_in_flight";
pub const REJECTED: &str = "refract_rejected_total";
pub const CACHE_BYTES: &str = "refract_cache_bytes";
pub const CACHE_ENTRIES: &str = "refract_cache_entries";
pub const OBJECTS: &str = "refract_objects";
pub const OBJECT_BYTES: &str = "refract_object_bytes";
pub const LIFECYCLE_ACTIONS: &str = "refract_lifecycle_actions_total";
pub const LIFECYCLE_SWEEP_SECONDS: &str = "refract_lifecycle_sweep_seconds";
pub const LIFECYCLE_ERRORS: &str = "refract_lifecycle_errors_total";
pub const FLEET_NOTES: &str = "refract_fleet_notes_total";
pub const FLEET_CHANNEL_UP: &str = "refract_fleet_channel_up";
pub const PURGED: &str = "refract_purged_variants_total";
pub const RATE_LIMITED: &str = "refract_rate_limited_total";
pub const RATE_LIMIT_UNITS: &str = "refract_rate_limit_units_total";
pub const RATE_LIMIT_KEYS: &str = "refract_rate_limit_keys";

/// Latency buckets in seconds, from a cached hit (~0.1 ms) to a slow AVIF (~10 s).
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often buffered histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (an embedding program's); then ours
        // renders empty but the server still works.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        describe();
        // Histogram samples are buffered until they are folded into buckets: by a scrape, or
        // by this upkeep. Without it, an unscraped server's memory would grow with every
        // request.
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("refract-metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start metrics upkeep ({e}); only scrapes will drain histograms");
        }
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(REQUESTS, "HTTP requests by route and status");
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "HTTP request latency by route"
    );
    describe_histogram!(
        STAGE_DURATION,
        Unit::Seconds,
        "Time per stage: fetch, decode, resize, encode"
    );
    describe_counter!(CACHE_HITS, "Results served from a cache tier");
    describe_counter!(CACHE_MISSES, "Results not found in any cache tier");
    describe_counter!(
        TRANSFORMS,
        "Transforms run, by output format (coalesced waiters not counted)"
    );
    describe_counter!(
        COALESCED,
        "Requests that shared another request's transform"
    );
    describe_counter!(BYTES_IN, Unit::Bytes, "Bytes of originals read or uploaded");
    describe_counter!(BYTES_OUT, Unit::Bytes, "Bytes of response bodies sent");
    describe_gauge!(QUEUE_DEPTH, "Transforms waiting for a worker");
    describe_gauge!(IN_FLIGHT, "Transforms running now");
    describe_counter!(REJECTED, "Requests refused before work, by reason");
    describe_gauge!(CACHE_BYTES, Unit::Bytes, "Bytes held by a cache tier");
    describe_gauge!(CACHE_ENTRIES, "Entries in a cache tier");
    describe_gauge!(OBJECTS, "Objects by class, tiers and storage class");
    describe_gauge!(
        OBJECT_BYTES,
        Unit::Bytes,
        "Bytes by class, tiers and storage class"
    );
    describe_counter!(
        LIFECYCLE_ACTIONS,
        "Lifecycle actions by rule, action and outcome"
    );
    describe_histogram!(
        LIFECYCLE_SWEEP_SECONDS,
        Unit::Seconds,
        "Lifecycle sweep duration"
    );
    describe_counter!(LIFECYCLE_ERRORS, "Lifecycle actions that failed, by rule");
    describe_counter!(
        FLEET_NOTES,
        "Changes of originals told to or heard from other instances (sent, received, failed)"
    );
    describe_gauge!(
        FLEET_CHANNEL_UP,
        "1 while this instance hears the fleet's changes (or runs alone), else 0"
    );
    describe_counter!(
        PURGED,
        "Stored variants removed by deletes of originals and purges"
    );
    describe_counter!(
        RATE_LIMITED,
        "Requests refused with 429, by limit (client, upload)"
    );
    describe_counter!(
        RATE_LIMIT_UNITS,
        "Units taken from rate-limit buckets, by limit (client, upload)"
    );
    describe_gauge!(
        RATE_LIMIT_KEYS,
        "Rate-limit buckets kept, by limit (as of the last upkeep)"
    );
}
