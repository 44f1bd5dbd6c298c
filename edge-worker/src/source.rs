//! Originals: from the `ORIGINALS` R2 binding, or from the HTTP origin in `ORIGIN_URL`. Nothing
//! else is ever fetched: the key is the only part of the URL that reaches storage, and it has
//! been checked by the core (no `..`, no empty segments, no control characters).

use futures::StreamExt;
use worker::{Conditional, Env, Fetch, Headers, Method, Range, Request, RequestInit, Response};

use crate::budget;
use crate::config::EdgeConfig;
use crate::reply::{Code, EdgeError};

/// The R2 binding name.
pub const R2_BINDING: &str = "ORIGINALS";

/// An original read whole into memory, for a transform.
#[derive(Debug)]
pub struct Original {
    pub bytes: Vec<u8>,
    /// Its storage ETag, unquoted.
    pub etag: String,
}

/// Why an original could not be read.
#[derive(Debug)]
pub enum Fetched {
    /// It is larger than the budget (`input_too_large`): the transform goes to the origin, or
    /// is refused with this error.
    OverBudget(refract_core::Error),
    Failed(EdgeError),
}

impl From<EdgeError> for Fetched {
    fn from(e: EdgeError) -> Self {
        Fetched::Failed(e)
    }
}

impl From<worker::Error> for Fetched {
    fn from(e: worker::Error) -> Self {
        Fetched::Failed(EdgeError::storage(e.to_string()))
    }
}

/// Reads `key` whole, refusing anything over the budget's input size from its stored size
/// (before the body), or while streaming when the origin sends no length.
pub async fn read(env: &Env, cfg: &EdgeConfig, key: &str) -> Result<Original, Fetched> {
    let fits = |bytes: u64| budget::check_size(bytes, &cfg.budget).map_err(Fetched::OverBudget);
    if let Ok(bucket) = env.bucket(R2_BINDING) {
        let object = bucket
            .get(key)
            .execute()
            .await?
            .ok_or_else(|| EdgeError::not_found(key))?;
        fits(object.size())?;
        let body = object
            .body()
            .ok_or_else(|| EdgeError::unavailable("R2 returned an object without a body"))?;
        return Ok(Original {
            bytes: body.bytes().await?,
            etag: object.etag(),
        });
    }
    collect(cfg, http_get(cfg, key, &Headers::new()).await?).await
}

/// Reads an HTTP origin's 200 whole, within the budget's input size.
pub async fn collect(cfg: &EdgeConfig, mut res: Response) -> Result<Original, Fetched> {
    let fits = |bytes: u64| budget::check_size(bytes, &cfg.budget).map_err(Fetched::OverBudget);
    if let Some(len) = content_length(&res) {
        fits(len)?;
    }
    let etag = storage_etag(res.headers());
    let mut stream = res.stream()?;
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        fits((bytes.len() + chunk.len()) as u64)?;
        bytes.extend_from_slice(&chunk);
    }
    Ok(Original { bytes, etag })
}

/// What became of an original since a cached result was made from its version `etag`.
#[derive(Debug)]
pub enum Check {
    /// The same version: the cached result stands.
    Same,
    /// Another version. From an HTTP origin, its answer, a 200 with the new body (read it with
    /// [`collect`]); from R2, nothing yet.
    Changed(Option<Response>),
    /// No original at that key any more.
    Gone,
    /// Storage failed or answered an error: whether it changed is unknown.
    Failed(EdgeError),
}

/// Checks the original at `key` against `etag` (unquoted) without downloading it when it is
/// unchanged: R2 `head`, or a GET with `If-None-Match` that an HTTP origin answers 304 (a 200
/// carrying the same ETag counts as unchanged too, for an origin that ignores the condition).
/// An origin that sends no ETag cannot be checked: every check is a change.
pub async fn check(env: &Env, cfg: &EdgeConfig, key: &str, etag: &str) -> Check {
    if let Ok(bucket) = env.bucket(R2_BINDING) {
        return match bucket.head(key).await {
            Ok(Some(object)) if object.etag() == etag => Check::Same,
            Ok(Some(_)) => Check::Changed(None),
            Ok(None) => Check::Gone,
            Err(e) => Check::Failed(EdgeError::storage(format!("R2 head {key:?}: {e}"))),
        };
    }
    let conditional = Headers::new();
    if !etag.is_empty() {
        let _ = conditional.set("if-none-match", &format!("\"{etag}\""));
    }
    let res = match http_fetch(cfg, key, &conditional).await {
        Ok(res) => res,
        Err(e) => return Check::Failed(e),
    };
    match res.status_code() {
        304 => Check::Same,
        404 => Check::Gone,
        200..=299 if !etag.is_empty() && storage_etag(res.headers()) == etag => Check::Same,
        200..=299 => Check::Changed(Some(res)),
        s => Check::Failed(EdgeError::storage(format!(
            "the origin answered {s} for {key:?}"
        ))),
    }
}

/// The original, untouched, streamed from storage: status, headers and body for the client.
pub async fn passthrough(
    env: &Env,
    cfg: &EdgeConfig,
    key: &str,
    if_none_match: Option<&str>,
    cache_control: &str,
    cache_tag: &str,
) -> Result<Response, EdgeError> {
    if let Ok(bucket) = env.bucket(R2_BINDING) {
        // The type comes from the first bytes (a ranged read), never from stored metadata or
        // the name; the body is then read at that version only (an upload in between fails
        // the condition instead of serving other bytes under this type).
        let head = bucket
            .get(key)
            .range(Range::Prefix {
                length: refract_core::decode::SNIFF_BYTES as u64,
            })
            .execute()
            .await
            .map_err(|e| EdgeError::storage(e.to_string()))?
            .ok_or_else(|| EdgeError::not_found(key))?;
        let etag = head.http_etag();
        let first = match head.body() {
            Some(body) => body.bytes().await?,
            None => Vec::new(),
        };
        let content_type = servable(&first)?;
        let headers = Headers::new();
        let _ = headers.set("etag", &etag);
        let _ = headers.set("cache-control", cache_control);
        crate::reply::set_cache_tag(&headers, cache_tag);
        let _ = headers.set("content-type", content_type);
        if if_none_match.is_some_and(|inm| refract_core::etag::matches(inm, &etag)) {
            return Ok(Response::empty()?.with_status(304).with_headers(headers));
        }
        let object = bucket
            .get(key)
            .only_if(Conditional {
                etag_matches: Some(head.etag()),
                ..Conditional::default()
            })
            .execute()
            .await
            .map_err(|e| EdgeError::storage(e.to_string()))?
            .ok_or_else(|| EdgeError::not_found(key))?;
        let body = object.body().ok_or_else(|| {
            EdgeError::unavailable("the original changed while it was read; retry")
        })?;
        let _ = headers.set("content-length", &object.size().to_string());
        return Ok(Response::from_body(body.response_body()?)?.with_headers(headers));
    }
    let conditional = Headers::new();
    if let Some(inm) = if_none_match {
        let _ = conditional.set("if-none-match", inm);
    }
    let mut res = http_get(cfg, key, &conditional).await?;
    if res.status_code() == 304 {
        let headers = Headers::new();
        if let Ok(Some(etag)) = res.headers().get("etag") {
            let _ = headers.set("etag", &etag);
        }
        let _ = headers.set("cache-control", cache_control);
        crate::reply::set_cache_tag(&headers, cache_tag);
        return Ok(Response::empty()?.with_status(304).with_headers(headers));
    }
    // The type comes from the first bytes, read off the stream; the body goes on streaming.
    // Of the origin's headers, only the validators and the length are passed on.
    let mut stream = res.stream()?;
    let mut first = Vec::new();
    while first.len() < refract_core::decode::SNIFF_BYTES {
        match stream.next().await {
            Some(chunk) => first.extend_from_slice(&chunk?),
            None => break,
        }
    }
    let content_type = servable(&first)?;
    let headers = Headers::new();
    for name in ["etag", "last-modified", "content-length"] {
        if let Ok(Some(v)) = res.headers().get(name) {
            let _ = headers.set(name, &v);
        }
    }
    let _ = headers.set("cache-control", cache_control);
    crate::reply::set_cache_tag(&headers, cache_tag);
    let _ = headers.set("content-type", content_type);
    let body = futures::stream::once(async move { Ok(first) }).chain(stream);
    Ok(Response::from_stream(body)?.with_headers(headers))
}

/// The type an original is served with, or 415 when it is not an image a browser shows.
fn servable(first: &[u8]) -> Result<&'static str, EdgeError> {
    refract_core::decode::servable_type(first)
        .ok_or_else(|| refract_core::Error::UnsupportedInput { detected: None }.into())
}

/// GET `ORIGIN_URL/<key>`; a 404 is `not_found`, any other failure `storage_unavailable`.
async fn http_get(cfg: &EdgeConfig, key: &str, headers: &Headers) -> Result<Response, EdgeError> {
    let res = http_fetch(cfg, key, headers).await?;
    match res.status_code() {
        200..=299 | 304 => Ok(res),
        404 => Err(EdgeError::not_found(key)),
        s => Err(EdgeError::storage(format!(
            "the origin answered {s} for {key:?}"
        ))),
    }
}

/// GET `ORIGIN_URL/<key>` with `headers`, whatever the status; unreachable is
/// `storage_unavailable`.
async fn http_fetch(cfg: &EdgeConfig, key: &str, headers: &Headers) -> Result<Response, EdgeError> {
    let base = cfg.origin_url.as_deref().ok_or_else(|| {
        EdgeError::new(
            Code::BadConfig,
            "no originals: bind an R2 bucket as ORIGINALS or set ORIGIN_URL",
        )
    })?;
    let url = format!("{base}/{}", encode_key(key));
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(copy(headers));
    let req = Request::new_with_init(&url, &init)?;
    Fetch::Request(req)
        .send()
        .await
        .map_err(|e| EdgeError::storage(format!("the origin is unreachable: {e}")))
}

fn copy(h: &Headers) -> Headers {
    crate::reply::copy_headers(h)
}

fn content_length(res: &Response) -> Option<u64> {
    res.headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse().ok())
}

/// The origin's ETag without quotes or weakness marker: the same string the native server
/// reads from its store, so both hosts derive the same variant ETags.
fn storage_etag(headers: &Headers) -> String {
    let raw = headers.get("etag").ok().flatten().unwrap_or_default();
    raw.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_owned()
}

/// Percent-encodes each path segment of a decoded key.
pub fn encode_key(key: &str) -> String {
    key.split('/')
        .map(|seg| {
            let mut out = String::with_capacity(seg.len());
            for b in seg.bytes() {
                match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        out.push(b as char)
                    }
                    _ => out.push_str(&format!("%{b:02X}")),
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("/")
}
