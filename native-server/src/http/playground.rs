//! The playground: a page served by `refract serve` where a developer picks an original (or
//! uploads one), sets options with controls and sees the result beside the original, the bytes
//! saved, the same request in JPEG/WebP/AVIF with SSIM, the URL in both grammars and a ready
//! `<img srcset>`/`<picture>` snippet (`docs/playground.md`).
//!
//! Everything lives at one path, [`PATH`] (`/_refract/playground/`), told apart by its query:
//! the page, `?asset=playground.js`, `?asset=playground.css`, and `?list` (the originals'
//! keys). Its last segment is empty, and the URL grammar refuses empty segments in a key
//! (`refract_core::url::decode_key`), so no original can ever live there: the playground never
//! hides an image. `/_refract/playground` (no slash) redirects to it only when no original has
//! that key.
//!
//! The page and its assets are embedded in the binary (no build step, nothing fetched from
//! elsewhere: it works offline) and served under a Content-Security-Policy that allows only this
//! origin: no inline script, no third-party anything. The page itself builds its DOM with
//! `textContent` and attributes, never from HTML text, and percent-encodes keys and option values
//! into the URLs it requests. Served when `http.playground` says so
//! ([`PlaygroundMode`](crate::config::PlaygroundMode)); otherwise [`PATH`] is 404.

mod list;

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, Code};
use crate::originals::StorageError;
use crate::state::AppState;

/// Where the playground lives.
pub const PATH: &str = "/_refract/playground/";

/// The page's policy: scripts, styles, requests and images from this origin only (images also
/// from the `blob:` URLs the page makes of fetched bodies); nothing inline, no frames, no forms.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("playground/index.html");
const PLAYGROUND_JS: &str = include_str!("playground/playground.js");
const PLAYGROUND_CSS: &str = include_str!("playground/playground.css");

/// Whether this server shows the playground.
pub fn enabled(state: &AppState) -> bool {
    state.config.http.playground.enabled(state.config.listen)
}

/// The playground's answer to `req`, or the request back when it is not for the playground
/// (delivery then handles it). Every answer is charged one unit of the client's rate limit, as
/// any `GET` is.
pub async fn route(state: &AppState, req: Request) -> Result<Response, Request> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Err(req);
    }
    let path = req.uri().path();
    let bare = path == PATH.trim_end_matches('/') && req.uri().query().is_none();
    if path != PATH && !(bare && enabled(state)) {
        return Err(req);
    }
    if bare {
        return match redirect_to_page(state).await {
            Some(res) => Ok(res),
            None => Err(req),
        };
    }
    if !enabled(state) {
        return Ok(not_found("the playground is off (http.playground)"));
    }
    let (parts, _) = req.into_parts();
    if let Err(refused) = super::limit::admit(state, &parts) {
        return Ok(refused.into_response());
    }
    Ok(match parts.uri.query().unwrap_or("") {
        "" => asset(INDEX_HTML, "text/html; charset=utf-8"),
        "asset=playground.js" => asset(PLAYGROUND_JS, "text/javascript; charset=utf-8"),
        "asset=playground.css" => asset(PLAYGROUND_CSS, "text/css; charset=utf-8"),
        "list" => list::originals(state).await,
        _ => not_found("no such playground resource"),
    })
}

/// `/_refract/playground` → the page, unless an original has that very key.
async fn redirect_to_page(state: &AppState) -> Option<Response> {
    let key = PATH.trim_matches('/');
    match state.originals.head(key).await {
        Err(StorageError::NotFound(_)) => {
            let mut res = StatusCode::PERMANENT_REDIRECT.into_response();
            res.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static(PATH));
            Some(res)
        }
        _ => None,
    }
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    page_headers(&mut res);
    res
}

/// The headers every playground answer carries. The router's own layer adds `nosniff` and
/// keeps this policy.
fn page_headers(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn not_found(message: &'static str) -> Response {
    ApiError::new(Code::NotFound, message).into_response()
}
