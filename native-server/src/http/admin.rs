//! The admin listener: liveness, readiness, Prometheus metrics and purges. It is separate from
//! the image listener so that probes, scrapes and purges never share a port (or a key
//! namespace) with images; it listens on loopback unless configured otherwise, and whoever
//! reaches it may purge.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, Code};
use crate::metrics as m;
use crate::state::AppState;

/// `/health`: the process is alive and serving.
pub async fn health() -> &'static str {
    "ok\n"
}

/// `/ready`: the originals' store, the metadata store and the cold tier answer, and (in a
/// fleet) the instance hears the others' changes, so requests can be served as configured.
pub async fn ready(State(state): State<AppState>) -> Response {
    if let Err(e) = state.originals.ready().await {
        return ApiError::from(e).into_response();
    }
    match state.tiers.ready().await {
        Ok(()) => "ready\n".into_response(),
        Err(e) => {
            tracing::warn!("not ready: {e}");
            ApiError::new(
                Code::StorageUnavailable,
                "not ready: a store does not answer",
            )
            .into_response()
        }
    }
}

/// `POST /purge?key=K` or `POST /purge?prefix=P`: removes every stored variant of the original
/// `K` (or of every original whose key starts with `P`) from every tier and the index, on
/// every instance of the fleet. Answers `{"purged": N}`, N the variants the index knew of.
pub async fn purge(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let target = match (q.get("key"), q.get("prefix"), q.len()) {
        (Some(k), None, 1) if !k.is_empty() => Some((k, false)),
        (None, Some(p), 1) if !p.is_empty() => Some((p, true)),
        _ => None,
    };
    let Some((key, prefix)) = target else {
        return ApiError::new(
            Code::BadPurge,
            "give exactly one of key=<original key> or prefix=<key prefix>, not empty",
        )
        .into_response();
    };
    match state.tiers.purge(key, prefix).await {
        Ok(n) => {
            metrics::counter!(m::PURGED).increment(n as u64);
            axum::Json(serde_json::json!({ "purged": n })).into_response()
        }
        Err(e) => {
            tracing::warn!("purge of {key:?}: {e}");
            ApiError::new(
                Code::StorageUnavailable,
                "the purge did not finish; retry it",
            )
            .into_response()
        }
    }
}

/// `/metrics`: the Prometheus text format, with live gauges read now.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let handle = m::handle();
    metrics::gauge!(m::QUEUE_DEPTH).set(state.pool.queued() as f64);
    metrics::gauge!(m::IN_FLIGHT).set(state.pool.running() as f64);
    let up = if state.tiers.fleet_channel_ok() {
        1.0
    } else {
        0.0
    };
    metrics::gauge!(m::FLEET_CHANNEL_UP).set(up);
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
