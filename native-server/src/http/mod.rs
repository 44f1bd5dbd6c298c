//! The application as a route table: the image listener and the admin listener, built from
//! the shared [`State`](crate::state::State); one file per concern below.
//!
//! `refract serve` serves [`router`] and [`admin_router`]; tests call the same functions and
//! drive them with `oneshot`.

pub mod admin;
pub mod delivery;
mod fallback;
pub mod limit;
pub mod listen;
pub mod playground;
mod reply;
pub mod upload;

use std::time::Instant;

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::{ApiError, Code};
use crate::metrics as m;
use crate::state::AppState;

/// The image listener: delivery (both grammars), upload and delete.
pub fn router(state: AppState) -> Router {
    m::handle();
    // Multipart uploads go through axum's extractor, whose body limit must admit the largest
    // original plus the form's framing; the handler enforces the exact limit itself.
    let body_limit = usize::try_from(state.limits.max_input_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    Router::new()
        .fallback(by_method)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(track))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::map_response(security_headers))
        .with_state(state)
}

/// The admin listener: `/health`, `/ready`, `/metrics`.
pub fn admin_router(state: AppState) -> Router {
    m::handle();
    Router::new()
        .route("/health", get(admin::health))
        .route("/ready", get(admin::ready))
        .route("/metrics", get(admin::metrics))
        .route("/purge", axum::routing::post(admin::purge))
        .layer(middleware::map_response(security_headers))
        .with_state(state)
}

/// On every response: `X-Content-Type-Options: nosniff`, so a browser takes the content type
/// as sent; and on everything that is not an image (JSON errors, metadata, the admin pages), a
/// `Content-Security-Policy` that lets the document load nothing and be framed nowhere.
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let image = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("image/"));
    // A response with a policy of its own keeps it (the playground's page, which runs a script).
    if !image && !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(NON_IMAGE_CSP),
        );
    }
    res
}

/// The policy of non-image responses (the edge sends the same).
pub use refract_core::NON_IMAGE_CSP;

async fn by_method(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
) -> Response {
    let req = match playground::route(&state, req).await {
        Ok(res) => return res,
        Err(req) => req,
    };
    match *req.method() {
        Method::GET | Method::HEAD => delivery::handle(state, req).await,
        Method::PUT => upload::put(state, req).await,
        Method::DELETE => upload::delete(state, req).await,
        _ => ApiError::new(Code::MethodNotAllowed, "use GET, HEAD, PUT or DELETE").into_response(),
    }
}

/// Counts every request by route and status and times it.
async fn track(req: Request, next: Next) -> Response {
    let route = route_label(req.method(), req.uri().path());
    let start = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!(m::REQUESTS, "route" => route, "status" => status).increment(1);
    metrics::histogram!(m::REQUEST_DURATION, "route" => route)
        .record(start.elapsed().as_secs_f64());
    res
}

fn route_label(method: &Method, path: &str) -> &'static str {
    match *method {
        Method::PUT => "upload",
        Method::DELETE => "delete",
        Method::GET | Method::HEAD if path == playground::PATH => "playground",
        Method::GET | Method::HEAD if path.starts_with(refract_core::url::CDN_CGI_PREFIX) => {
            "cdn_cgi"
        }
        Method::GET | Method::HEAD => "image",
        _ => "other",
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("the request handler panicked").into_response()
}
