//! `onerror=redirect` (Cloudflare's option): a transform that failed is answered with a redirect
//! to the original's own URL on this host, so the page shows the image untransformed.
//!
//! Only errors the core says so of redirect (`OnError::redirects`: the image could not be
//! transformed, not a mistake in the URL nor a refusal), and only where this host serves
//! originals to anyone (`Access::original_location`). The redirect is `302` with a
//! path-absolute `Location` (`/<key>`, percent-encoded; never a host, never anything the request
//! supplied but its key), `Cache-Control: no-store` (the failure may pass: a replaced original,
//! a busy server, a raised limit; a cached redirect would outlive it) and an empty body.

use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use refract_core::spec::OnError;

use crate::error::ApiError;
use crate::state::AppState;

/// The answer to a request that failed with `e`: the redirect when it asked for one and may have
/// it, else the error.
pub(super) fn on_error(state: &AppState, parts: &Parts, e: ApiError) -> Response {
    match location(state, parts, &e) {
        Some(location) => {
            tracing::debug!(code = e.code(), %location, "onerror=redirect: {}", e.message);
            redirect(&location, e.code())
        }
        None => e.into_response(),
    }
}

fn location(state: &AppState, parts: &Parts, e: &ApiError) -> Option<String> {
    if !e.on_error_redirects() {
        return None;
    }
    // Resolved again (only on this path): the request was resolved once before it failed, so
    // this gives the same key and spec.
    let request = state
        .access
        .resolve(parts.uri.path(), parts.uri.query())
        .ok()?;
    let spec = request.spec?;
    (spec.on_error == OnError::Redirect)
        .then(|| state.access.original_location(&request.key))
        .flatten()
}

/// `302` to `location`; `x-refract-error` names the error it stands for.
pub(super) fn redirect(location: &str, code: &str) -> Response {
    let mut res = StatusCode::FOUND.into_response();
    let h = res.headers_mut();
    if let Ok(l) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, l);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    if let Ok(c) = HeaderValue::from_str(code) {
        h.insert("x-refract-error", c);
    }
    res
}
