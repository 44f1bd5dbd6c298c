//! `onerror=redirect` at the edge, as at the origin (native-server's `http::fallback`): a
//! transform that failed is answered with `302` to the original's own URL on this host
//! (`Access::original_location`: path-absolute, percent-encoded, only where originals are
//! public), `Cache-Control: no-store` and no body. Only errors the core says so of redirect
//! (`OnError::redirects`); a request handed to the origin is not an error and is not
//! redirected here (the origin applies the option itself, and its path-absolute `Location`
//! names the same original on this host when proxied).

use refract_core::spec::OnError;
use refract_core::url::Access;
use worker::{Headers, Response, Url};

use crate::reply::EdgeError;

/// The answer to a request for `url` that failed with `e`: the redirect when it asked for one
/// and may have it, else the error. `access` is read only on that path.
pub fn on_error(
    e: EdgeError,
    url: Option<&Url>,
    access: impl FnOnce() -> Option<Access>,
) -> Response {
    match location(&e, url, access) {
        Some(location) => redirect(&location, e.code()).unwrap_or_else(|_| e.into_response()),
        None => e.into_response(),
    }
}

fn location(
    e: &EdgeError,
    url: Option<&Url>,
    access: impl FnOnce() -> Option<Access>,
) -> Option<String> {
    if !e.on_error_redirects() {
        return None;
    }
    let (url, access) = (url?, access()?);
    // Resolved again (only on this path): the same key and spec as when it failed.
    let request = access.resolve(url.path(), url.query()).ok()?;
    let spec = request.spec?;
    (spec.on_error == OnError::Redirect)
        .then(|| access.original_location(&request.key))
        .flatten()
}

fn redirect(location: &str, code: &str) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("location", location)?;
    headers.set("cache-control", "no-store")?;
    headers.set("x-refract-error", code)?;
    Ok(Response::empty()?.with_status(302).with_headers(headers))
}
