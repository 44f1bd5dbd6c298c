//! Response building shared by the delivery paths: a variant's 200 or 304, and the headers
//! both carry.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::metrics as m;
use crate::tiers::Variant;

/// How a response should be labelled, besides its bytes.
pub(super) struct Reply<'a> {
    pub head: bool,
    pub if_none_match: Option<&'a str>,
    /// `Vary` (`refract_core::url::vary`); empty for none.
    pub vary: String,
    /// Whether to send `Accept-CH` (on every answer of a transform, so a page learns which
    /// hints `width=auto` and `dpr=auto` read).
    pub accept_ch: bool,
    pub cache_control: &'a str,
    /// `Cache-Tag`: the original's key and its directories, for purging a CDN in front.
    pub cache_tag: String,
}

pub(super) fn respond(v: &Variant, reply: &Reply<'_>, server_timing: &str) -> Response {
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

pub(super) fn not_modified(etag: &str, reply: &Reply<'_>) -> Response {
    let mut res = StatusCode::NOT_MODIFIED.into_response();
    validators(res.headers_mut(), etag, reply);
    res
}

/// Headers a 200 and a 304 share.
pub(super) fn validators(h: &mut HeaderMap, etag: &str, reply: &Reply<'_>) {
    if let Ok(etag) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, etag);
    }
    if let Ok(cc) = HeaderValue::from_str(reply.cache_control) {
        h.insert(header::CACHE_CONTROL, cc);
    }
    if !reply.vary.is_empty() {
        if let Ok(vary) = HeaderValue::from_str(&reply.vary) {
            h.insert(header::VARY, vary);
        }
    }
    if reply.accept_ch {
        h.insert(
            "accept-ch",
            HeaderValue::from_static(refract_core::spec::ACCEPT_CH),
        );
    }
    if let Ok(tag) = HeaderValue::from_str(&reply.cache_tag) {
        if !tag.is_empty() {
            h.insert("cache-tag", tag);
        }
    }
}

pub(super) fn quote(etag: &str) -> String {
    format!("\"{etag}\"")
}

pub(super) fn header_str<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
