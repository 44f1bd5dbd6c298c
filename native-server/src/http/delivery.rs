//! `GET`/`HEAD` of images: `/<key>?<options>` and `/cdn-cgi/image/<options>/<key>`.
//!
//! Order of work, cheapest first: resolve the URL (grammar, key, presets, signature) → the
//! variant's identity ([`VariantKey`]) → the tiers → `If-None-Match` against the ETag of the
//! original's current version (a `HEAD` on storage, no transform) → one transform per variant
//! (admission, the original read within the memory budget, the cost estimated from its header
//! and reserved, the transform on the CPU pool) → keep and answer.
//!
//! The request waits under the configured deadline; the transform does not. It runs in a task
//! of its own (`runtime::flights`) that keeps its admission and memory until it ends and stores
//! its result, so a request that timed out is answered from the cache when retried, and a retry
//! arriving while it runs joins it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use refract_core::spec::ClientHints;
use refract_core::{Spec, VariantKey};

use super::reply::{header_str, not_modified, quote, respond, validators, Reply};
use crate::error::ApiError;
use crate::metrics as m;
use crate::originals::StorageError;
use crate::runtime::memory::Reserved;
use crate::state::{AppState, Shared, State};
use crate::tiers::Variant;

/// Serves one image request; never fails (errors become JSON responses).
pub async fn handle(state: AppState, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let client = match super::limit::admit(&state, &parts) {
        Ok(client) => client,
        Err(refused) => return refused.into_response(),
    };
    let deadline = state.request_timeout();
    let result = tokio::time::timeout(
        deadline,
        serve(&state, &parts.method, &parts.uri, &parts.headers, client),
    )
    .await;
    match result {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => super::fallback::on_error(&state, &parts, e),
        Err(_) => {
            metrics::counter!(m::REJECTED, "reason" => "deadline").increment(1);
            ApiError::deadline().into_response()
        }
    }
}

async fn serve(
    state: &AppState,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    client: super::limit::Client,
) -> Result<Response, ApiError> {
    let request = state.access.resolve(uri.path(), uri.query())?;
    let if_none_match = header_str(headers, &header::IF_NONE_MATCH);
    // A URL that expires is cached no longer than it is valid, and never as immutable; only
    // a URL that names its version (`v=`) is.
    let expiring;
    let http = &state.config.http;
    let cache_control = match request.expires {
        Some(t) => {
            let left = t.saturating_sub(crate::runtime::clock::unix_secs());
            expiring = format!("public, max-age={left}");
            &expiring
        }
        None if request.version.is_some() => &http.versioned_cache_control,
        None if request.signed => &http.signed_cache_control,
        None => &http.cache_control,
    };
    let mut reply = Reply {
        head: method == Method::HEAD,
        if_none_match,
        vary: String::new(),
        accept_ch: false,
        cache_control,
        cache_tag: refract_core::url::cache_tags(&request.key),
    };
    let key = request.key;
    let Some(spec) = request.spec else {
        return original(state, &key, &reply).await;
    };

    let accept = header_str(headers, &header::ACCEPT).map(str::to_owned);
    (reply.vary, reply.accept_ch) = (refract_core::url::vary(&spec), true);
    // `width=auto` / `dpr=auto` resolved first: the variant is the resolved one.
    let hints = ClientHints::from_headers(|name| headers.get(name)?.to_str().ok());
    let spec = state.access.with_client_hints(&spec, request.signed, hints);
    let variant = VariantKey::new(&key, &spec, accept.as_deref().unwrap_or(""), &state.policy);

    if let Some((v, tier)) = state.tiers.lookup(&variant).await {
        if still_valid(state, &key, &v).await? {
            metrics::counter!(m::CACHE_HITS, "tier" => tier.as_str()).increment(1);
            let timing = format!("cache;desc=\"{}\"", tier.as_str());
            return Ok(respond(&v, &reply, &timing));
        }
        state.tiers.discard(&variant);
    }
    metrics::counter!(m::CACHE_MISSES).increment(1);

    if let Some(inm) = if_none_match {
        // Answer a revalidation from the original's version alone: no fetch, no transform.
        let head = state.originals.head(&key).await?;
        let etag = variant.etag(&head.etag);
        if refract_core::etag::matches(inm, &etag) {
            return Ok(not_modified(&etag, &reply));
        }
    }

    let flight = variant.id().to_owned();
    let job = || Job {
        state: Arc::clone(state),
        variant: variant.clone(),
        spec: spec.clone(),
        accept: accept.clone(),
        client,
    };
    let (mut result, joined) = state.flights.run(flight.clone(), || job().produce()).await;
    if joined {
        metrics::counter!(m::COALESCED).increment(1);
        // Refused for the rate of the client that started it, not this one's: run it anew.
        if super::limit::refused(&result) {
            result = state.flights.run(flight, || job().produce()).await.0;
        }
    }
    let made = result?;
    Ok(respond(&made, &reply, &made.server_timing))
}

/// One transform, run by the first of the identical concurrent requests.
struct Job {
    state: AppState,
    variant: VariantKey,
    spec: Spec,
    accept: Option<String>,
    /// Charged for the transform's cost (`http::limit`).
    client: super::limit::Client,
}

impl Job {
    async fn produce(self) -> Shared {
        let state = self.state;
        // Admission first: past the workers and the queue, refuse before reading anything.
        let Ok(_admitted) = state.admission.try_acquire() else {
            metrics::counter!(m::REJECTED, "reason" => "overloaded").increment(1);
            return Err(ApiError::overloaded());
        };
        let started = Instant::now();
        let key = self.variant.key();
        // The version read is confirmed as of before the read: a change heard of from now on
        // is newer than this variant.
        let read_at = Instant::now();
        let opened = state.originals.open(key).await?;
        let mut reserved = reserve(&state, opened.meta.size).await?;
        let original = state.originals.read(key, opened).await?;
        let meta = &original.meta; // an access of the original; registered if it has no row
        let tiers = &state.tiers;
        tiers.original_read(key, meta.size, meta.modified_ms, &original.bytes);
        let fetch = started.elapsed();
        metrics::counter!(m::BYTES_IN).increment(original.bytes.len() as u64);
        metrics::histogram!(m::STAGE_DURATION, "stage" => "fetch").record(fetch.as_secs_f64());

        // What the transform will cost, from the header alone (a parse of a few bytes to a few
        // KiB, done here rather than queued behind other transforms): refused at once when
        // over the caps, or when the work already booked would keep it past the deadline;
        // else its estimated peak is reserved before any pixel exists.
        let (limits, policy) = (state.limits, state.policy);
        let (input, spec, accept) = (original.bytes, self.spec, self.accept);
        let estimate =
            refract_core::estimate(&input, &spec, &context(limits, policy, accept.as_deref()))?;
        let cost = estimate.cost;
        super::limit::charge_transform(&state, self.client, cost.cpu_ms)?;
        let Some(_booked) = state.cpu.book(cost.cpu_ms) else {
            metrics::counter!(m::REJECTED, "reason" => "cpu").increment(1);
            return Err(ApiError::overloaded());
        };
        let more = cost.memory_bytes.saturating_sub(reserved.bytes());
        reserved.merge(reserve(&state, more).await?);

        let output = state
            .pool
            .run(move || {
                let ctx = context(limits, policy, accept.as_deref());
                refract_core::transform_estimated(&input, estimate, &spec, &ctx)
            })
            .await
            .inspect_err(|e| {
                if *e == crate::runtime::pool::PoolError::Busy {
                    metrics::counter!(m::REJECTED, "reason" => "overloaded").increment(1);
                }
            })??;
        drop(reserved);
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
        let variant = Arc::new(Variant::made(
            self.variant,
            original.meta.etag,
            read_at,
            Bytes::from(output.bytes),
            output.format.content_type(),
            server_timing,
        ));
        state.tiers.store(&variant);
        Ok(variant)
    }
}

fn context(
    limits: refract_core::Limits,
    policy: refract_core::Policy,
    accept: Option<&str>,
) -> refract_core::Context<'_> {
    refract_core::Context {
        limits,
        accept,
        policy,
        clock: Some(crate::runtime::clock::monotonic_ms),
    }
}

/// Holds `bytes` of the memory budget, waiting at most the request deadline for them (a
/// transform's original and estimate, an upload's body).
pub(super) async fn reserve(state: &State, bytes: u64) -> Result<Reserved, ApiError> {
    match tokio::time::timeout(state.request_timeout(), state.memory.reserve(bytes)).await {
        Ok(Ok(reserved)) => Ok(reserved),
        Ok(Err(over)) => Err(refract_core::Error::TooCostly {
            resource: refract_core::Resource::Memory,
            what: "this original".into(),
            estimate: over.bytes,
            limit: over.budget,
        }
        .into()),
        Err(_) => {
            metrics::counter!(m::REJECTED, "reason" => "memory").increment(1);
            Err(ApiError::overloaded())
        }
    }
}

/// Whether a cached result may be served: confirmed recently with no change heard of since
/// (`tiers::fresh`), or its original's ETag still matches. While storage is unreachable, the
/// cached result is served as it is (stale-if-error).
async fn still_valid(state: &AppState, key: &str, v: &Variant) -> Result<bool, ApiError> {
    let revalidate = Duration::from_secs(state.config.cache.revalidate_secs);
    if state.tiers.trusted(key, v.checked(), revalidate) {
        return Ok(true);
    }
    match state.originals.head(key).await {
        Ok(head) if head.etag == v.version => {
            v.confirm();
            Ok(true)
        }
        Ok(_) => Ok(false),
        Err(StorageError::Unavailable(_)) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// The policy of SVG originals served untouched (`http.svg_passthrough`): the document may
/// use its own inline styles and nothing else; `sandbox` keeps scripts and forms from running
/// even when it is opened on its own.
pub const SVG_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// The original, untouched.
async fn original(state: &AppState, key: &str, reply: &Reply<'_>) -> Result<Response, ApiError> {
    if let Some(inm) = reply.if_none_match {
        let head = state.originals.head(key).await?;
        let etag = quote(&head.etag);
        if refract_core::etag::matches(inm, &etag) {
            return Ok(not_modified(&etag, reply));
        }
    }
    // Streamed, not buffered: serving a 100 MB original costs one chunk of memory at a time.
    let started = Instant::now();
    let o = state.originals.stream(key).await?;
    metrics::counter!(m::BYTES_IN).increment(o.meta.size);
    state
        .tiers
        .original_read(key, o.meta.size, o.meta.modified_ms, &o.first);
    // Only images are served from the originals' store, with the type their bytes say; SVG
    // (which can carry scripts) only when allowed, under a policy that runs nothing.
    let svg = state.config.http.svg_passthrough
        && matches!(
            refract_core::decode::sniff(&o.first),
            Ok(refract_core::InputFormat::Svg)
        );
    let content_type = refract_core::decode::servable_type(&o.first)
        .or(svg.then_some("image/svg+xml"))
        .ok_or(refract_core::Error::UnsupportedInput { detected: None })?;
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
    if svg {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(SVG_CSP),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    let timing = format!("fetch;dur={:.1}", started.elapsed().as_secs_f64() * 1000.0);
    if let Ok(st) = HeaderValue::from_str(&timing) {
        h.insert("server-timing", st);
    }
    validators(h, &etag, reply);
    Ok(res)
}
