//! Results in the Cache API, each stored with the version of the original it was made from and
//! when that version was last confirmed (`fresh.rs` decides what that allows).

use worker::{Cache, Headers, Response, Url};

use crate::fresh;
use crate::reply::set_cache_tag;

/// The original's storage ETag (unquoted) a stored result was made from.
const ORIGINAL_ETAG: &str = "x-refract-original-etag";
/// When that version was last confirmed, in Unix milliseconds.
const CONFIRMED: &str = "x-refract-confirmed";

/// A cached result, its body not read yet.
#[derive(Debug)]
pub struct Entry {
    /// The result's own ETag.
    pub etag: String,
    pub content_type: String,
    pub original_etag: String,
    pub confirmed_ms: Option<f64>,
    res: Response,
}

impl Entry {
    pub fn new(res: Response) -> Entry {
        let get = |name| res.headers().get(name).ok().flatten().unwrap_or_default();
        Entry {
            etag: get("etag"),
            content_type: get("content-type"),
            original_etag: get(ORIGINAL_ETAG),
            confirmed_ms: get(CONFIRMED).parse().ok(),
            res,
        }
    }

    pub async fn bytes(&mut self) -> worker::Result<Vec<u8>> {
        self.res.bytes().await
    }
}

/// What a stored result is labelled with besides its body.
#[derive(Debug)]
pub struct Stored<'a> {
    pub etag: &'a str,
    pub content_type: &'a str,
    pub cache_tag: &'a str,
    pub original_etag: &'a str,
}

/// The response to put in the Cache API for a result answered with `cache_control`, confirmed
/// at `confirmed_ms`: kept for the answer's `max-age` plus `stale-if-error`
/// ([`fresh::lifetime`]), with its `Cache-Tag` so that a purge by tag drops it too. `None`
/// when `cache_control` does not let it be kept.
pub fn entry(
    body: Vec<u8>,
    stored: &Stored<'_>,
    cache_control: &str,
    confirmed_ms: f64,
) -> worker::Result<Option<Response>> {
    let Some(secs) = fresh::lifetime(cache_control) else {
        return Ok(None);
    };
    let h = Headers::new();
    let _ = h.set("etag", stored.etag);
    let _ = h.set("content-type", stored.content_type);
    let _ = h.set("cache-control", &format!("public, max-age={secs}"));
    set_cache_tag(&h, stored.cache_tag);
    let _ = h.set(ORIGINAL_ETAG, stored.original_etag);
    let _ = h.set(CONFIRMED, &format!("{confirmed_ms:.0}"));
    Ok(Some(Response::from_bytes(body)?.with_headers(h)))
}

/// Stores `res` under `key` once the answer is sent.
pub fn put_later(ctx: &worker::Context, key: Url, res: Response) {
    ctx.wait_until(async move {
        if let Err(e) = Cache::default().put(key.as_str(), res).await {
            worker::console_warn!("cache put failed: {e}");
        }
    });
}

/// Drops the entry under `key` once the answer is sent.
pub fn delete_later(ctx: &worker::Context, key: Url) {
    ctx.wait_until(async move {
        if let Err(e) = Cache::default().delete(key.as_str(), false).await {
            worker::console_warn!("cache delete failed: {e}");
        }
    });
}
