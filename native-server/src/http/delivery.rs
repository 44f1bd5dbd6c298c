//! `GET`/`HEAD` of images: `/<key>?<options>` and `/cdn-cgi/image/<options>/<key>`.
//!
//! Order of work, cheapest first: resolve the URL (grammar, key, presets, signature) → memory
//! cache → `If-None-Match` against the original's current ETag (a `HEAD` on storage, no
//! transform) → one coalesced transform per (key, canonical spec, negotiated format) on the CPU
//! pool → cache and answer. The whole request runs under the configured deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use refract_core::negotiate::preference;
use refract_core::{Format, Spec};

use crate::app::{AppState, Shared, Variant};
use crate::error::ApiError;
use crate::metrics as m;
use crate::storage::StorageError;

/// Serves one image request; never fails (errors become JSON responses).
pub async fn handle(state: AppState, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let deadline = state.request_timeout();
    let result = tokio::time::timeout(
        deadline,
        serve(&state, &parts.method, &parts.uri, &parts.headers),
    )
    .await;
    match result {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => e.into_response(),
        Err(_) => {
            metrics::counter!(m::REJECTED, "reason" => "deadline").increment(1);
            ApiError::deadline().into_response()
        }
    }
}

/// How a response should be labelled, besides its bytes.
struct Reply<'a> {
    head: bool,
    if_none_match: Option<&'a str>,
    vary_accept: bool,
    cache_control: &'a str,
}

async fn serve(
    state: &AppState,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let request = state.access.resolve(uri.path(), uri.query())?;
    let if_none_match = header_str(headers, &header::IF_NONE_MATCH);
    let cache_control = if request.signed {
        &state.config.http.signed_cache_control
    } else {
        &state.config.http.cache_control
    };
    let mut reply = Reply {
        head: method == Method::HEAD,
        if_none_match,
        vary_accept: false,
        cache_control,
    };
    let key = request.key;
    let Some(spec) = request.spec else {
        return original(state, &key, &reply).await;
    };

    let accept = header_str(headers, &header::ACCEPT).map(str::to_owned);
    reply.vary_accept = spec.format == Some(Format::Auto);
    let class = match reply.vary_accept {
        true => preference(accept.as_deref().unwrap_or("")).as_str(),
        false => "-",
    };
    let canonical = spec.to_string();
    let cache_key = format!("{key}\n{canonical}\n{class}");

    if let Some((v, tier)) = state.tiers.lookup(&cache_key).await {
        if still_valid(state, &key, &v).await? {
            metrics::counter!(m::CACHE_HITS, "tier" => tier.as_str()).increment(1);
            let timing = format!("cache;desc=\"{}\"", tier.as_str());
            return Ok(respond(&v, &reply, &timing));
        }
        state.tiers.hot.remove(&cache_key);
    }
    metrics::counter!(m::CACHE_MISSES).increment(1);

    if let Some(inm) = if_none_match {
        // Answer a revalidation from the original's ETag alone: no fetch, no transform.
        let meta = state.originals.head(&key).await?;
        let etag = refract_core::etag::variant(&meta.etag, &canonical, class);
        if refract_core::etag::matches(inm, &etag) {
            return Ok(not_modified(&etag, &reply));
        }
    }

    let job = Job {
        state: Arc::clone(state),
        key,
        spec,
        accept,
        canonical,
        class,
        cache_key: cache_key.clone(),
    };
    let (result, shared) = state.flights.run(cache_key, || job.produce()).await;
    if shared {
        metrics::counter!(m::COALESCED).increment(1);
    }
    let variant = result?;
    Ok(respond(&variant, &reply, &variant.server_timing))
}

/// One transform, run by the first of the identical concurrent requests.
struct Job {
    state: AppState,
    key: String,
    spec: Spec,
    accept: Option<String>,
    canonical: String,
    class: &'static str,
    cache_key: String,
}

impl Job {
    async fn produce(self) -> Shared {
        let state = self.state;
        // Admission first: past the workers and the queue, refuse before reading anything.
        let Ok(_permit) = state.admission.try_acquire() else {
            metrics::counter!(m::REJECTED, "reason" => "overloaded").increment(1);
            return Err(ApiError::overloaded());
        };
        let started = Instant::now();
        let original = state.originals.get(&self.key).await?;
        let fetch = started.elapsed();
        metrics::counter!(m::BYTES_IN).increment(original.bytes.len() as u64);
        metrics::histogram!(m::STAGE_DURATION, "stage" => "fetch").record(fetch.as_secs_f64());

        let etag = refract_core::etag::variant(&original.meta.etag, &self.canonical, self.class);
        let (limits, policy) = (state.limits, state.policy);
        let (input, spec, accept) = (original.bytes, self.spec, self.accept);
        let output = state
            .pool
            .run(move || {
                let ctx = refract_core::Context {
                    limits,
                    accept: accept.as_deref(),
                    policy,
                    clock: Some(crate::clock::monotonic_ms),
                };
                refract_core::transform(&input, &spec, &ctx)
            })
            .await
            .inspect_err(|e| {
                if *e == crate::pool::PoolError::Busy {
                    metrics::counter!(m::REJECTED, "reason" => "overloaded").increment(1);
                }
            })??;
        metrics::counter!(m::TRANSFORMS, "format" => output.format.name()).increment(1);
        let t = output.timings;
        for (stage, ms) in [
            ("decode", t.decode_ms),
            ("resize", t.resize_ms),
            ("encode", t.encode_ms),
        ] {
            metrics::histogram!(m::STAGE_DURATION, "stage" => stage).record(ms / 1000.0);
        }
        let server_timing = format!(
            "fetch;dur={:.1}, decode;dur={:.1}, resize;dur={:.1}, encode;dur={:.1}",
            fetch.as_secs_f64() * 1000.0,
            t.decode_ms,
            t.resize_ms,
            t.encode_ms
        );
        let variant = Arc::new(Variant {
            bytes: Bytes::from(output.bytes),
            content_type: output.format.content_type().to_owned(),
            etag,
            original_etag: original.meta.etag,
            server_timing,
            checked: std::sync::Mutex::new(Some(Instant::now())),
        });
        state.tiers.store(&self.cache_key, &variant);
        Ok(variant)
    }
}

/// Whether a cached result may be served: recently confirmed, or its original's ETag still
/// matches. While storage is unreachable, the cached result is served as it is.
async fn still_valid(state: &AppState, key: &str, v: &Variant) -> Result<bool, ApiError> {
    let max_age = Duration::from_secs(state.config.cache.revalidate_secs);
    let checked = *v.checked.lock().unwrap_or_else(|p| p.into_inner());
    if checked.is_some_and(|t| t.elapsed() < max_age) {
        return Ok(true);
    }
    match state.originals.head(key).await {
        Ok(meta) if meta.etag == v.original_etag => {
            *v.checked.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            Ok(true)
        }
        Ok(_) => Ok(false),
        Err(StorageError::Unavailable(_)) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// The original, untouched.
async fn original(state: &AppState, key: &str, reply: &Reply<'_>) -> Result<Response, ApiError> {
    if let Some(inm) = reply.if_none_match {
        let meta = state.originals.head(key).await?;
        let etag = quote(&meta.etag);
        if refract_core::etag::matches(inm, &etag) {
            return Ok(not_modified(&etag, reply));
        }
    }
    // Streamed, not buffered: serving a 100 MB original costs one chunk of memory at a time.
    let started = Instant::now();
    let o = state.originals.stream(key).await?;
    metrics::counter!(m::BYTES_IN).increment(o.meta.size);
    state.tiers.touch_original(key);
    let content_type = refract_core::decode::sniff(&o.first)
        .map(|f| f.mime_type())
        .unwrap_or("application/octet-stream");
    let etag = quote(&o.meta.etag);
    let body = if reply.head {
        axum::body::Body::empty()
    } else {
        metrics::counter!(m::BYTES_OUT).increment(o.meta.size);
        let first = futures::stream::once(async move { Ok::<_, std::io::Error>(o.first) });
        axum::body::Body::from_stream(first.chain(o.rest))
    };
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(o.meta.size));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
    let timing = format!("fetch;dur={:.1}", started.elapsed().as_secs_f64() * 1000.0);
    if let Ok(st) = HeaderValue::from_str(&timing) {
        h.insert("server-timing", st);
    }
    validators(h, &etag, reply);
    Ok(res)
}

fn respond(v: &Variant, reply: &Reply<'_>, server_timing: &str) -> Response {
    if reply
        .if_none_match
        .is_some_and(|inm| refract_core::etag::matches(inm, &v.etag))
    {
        return not_modified(&v.etag, reply);
    }
    let body = if reply.head {
        axum::body::Body::empty()
    } else {
        metrics::counter!(m::BYTES_OUT).increment(v.bytes.len() as u64);
        axum::body::Body::from(v.bytes.clone())
    };
    let mut res = Response::new(body);
    let h = res.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(&v.content_type) {
        h.insert(header::CONTENT_TYPE, ct);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(v.bytes.len()));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
    if let Ok(st) = HeaderValue::from_str(server_timing) {
        h.insert("server-timing", st);
    }
    validators(h, &v.etag, reply);
    res
}

fn not_modified(etag: &str, reply: &Reply<'_>) -> Response {
    let mut res = StatusCode::NOT_MODIFIED.into_response();
    validators(res.headers_mut(), etag, reply);
    res
}

/// Headers a 200 and a 304 share.
fn validators(h: &mut HeaderMap, etag: &str, reply: &Reply<'_>) {
    if let Ok(etag) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, etag);
    }
    if let Ok(cc) = HeaderValue::from_str(reply.cache_control) {
        h.insert(header::CACHE_CONTROL, cc);
    }
    if reply.vary_accept {
        h.insert(header::VARY, HeaderValue::from_static("Accept"));
    }
}

fn quote(etag: &str) -> String {
    format!("\"{etag}\"")
}

fn header_str<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
