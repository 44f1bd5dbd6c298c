//! The admin listener: liveness, readiness and Prometheus metrics. It is separate from the image
//! listener so that probes and scrapes never share a port (or a key namespace) with images.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::metrics as m;
use crate::state::AppState;

/// `/health`: the process is alive and serving.
pub async fn health() -> &'static str {
    "ok\n"
}

/// `/ready`: storage answers, so requests can be served.
pub async fn ready(State(state): State<AppState>) -> Response {
    match state.originals.ready().await {
        Ok(()) => "ready\n".into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `/metrics`: the Prometheus text format, with live gauges read now.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let handle = m::handle();
    metrics::gauge!(m::QUEUE_DEPTH).set(state.pool.queued() as f64);
    metrics::gauge!(m::IN_FLIGHT).set(state.pool.running() as f64);
    let usage = state.tiers.usage();
    metrics::gauge!(m::CACHE_BYTES, "tier" => "memory").set(usage.memory_bytes as f64);
    metrics::gauge!(m::CACHE_ENTRIES, "tier" => "memory").set(usage.memory_entries as f64);
    if let Some((bytes, entries)) = usage.warm {
        metrics::gauge!(m::CACHE_BYTES, "tier" => "warm").set(bytes as f64);
        metrics::gauge!(m::CACHE_ENTRIES, "tier" => "warm").set(entries as f64);
    }
    let mut res = handle.render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}
