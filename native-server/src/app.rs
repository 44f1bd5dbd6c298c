//! The application as a value: shared state and the two routers built from it.
//!
//! `main` loads the config, calls [`State::from_config`] and serves [`router`] and
//! [`admin_router`]; tests call the same functions and drive them with `oneshot`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use refract_core::url::Access;
use tower_http::catch_panic::CatchPanicLayer;

use crate::cache::Weigh;
use crate::coalesce::Coalescer;
use crate::config::Config;
use crate::error::ApiError;
use crate::http::{admin, delivery, upload};
use crate::metrics as m;
use crate::pool::Pool;
use crate::storage::Originals;
use crate::tiers::Tiers;

/// A finished result, as cached and as sent.
#[derive(Debug)]
pub struct Variant {
    pub bytes: Bytes,
    pub content_type: String,
    /// Strong ETag, quoted.
    pub etag: String,
    /// The original's ETag it was made from (unquoted), for revalidation.
    pub original_etag: String,
    /// `Server-Timing` value of the transform that made it.
    pub server_timing: String,
    /// When the original's ETag was last confirmed; `None` when never (read back from a lower
    /// tier), which forces a check before the first use.
    pub checked: std::sync::Mutex<Option<Instant>>,
}

impl Weigh for Variant {
    fn weight(&self) -> usize {
        self.bytes.len() + self.etag.len() + self.server_timing.len() + 128
    }
}

/// What one transform request resolves to, shared by coalesced waiters.
pub type Shared = Result<Arc<Variant>, ApiError>;

/// Everything handlers share.
#[derive(Debug)]
pub struct State {
    pub config: Config,
    pub access: Access,
    pub originals: Originals,
    pub pool: Pool,
    /// Where results are kept: memory, and the warm and cold tiers when configured.
    pub tiers: Arc<Tiers>,
    pub flights: Coalescer<String, Shared>,
    /// Admission to a fetch + transform: one permit per worker and queue slot. Taken before the
    /// original is read, so a request that would be refused never holds an original in memory.
    pub admission: tokio::sync::Semaphore,
    pub limits: refract_core::Limits,
    pub policy: refract_core::Policy,
}

pub type AppState = Arc<State>;

impl State {
    /// Builds the state: opens the originals' store, the metadata store and the tiers.
    pub async fn from_config(config: Config) -> Result<AppState, String> {
        let originals = Originals::from_config(&config)?;
        let tiers = Tiers::open(&config, crate::clock::Clock::System).await?;
        State::with_tiers(config, originals, tiers)
    }

    /// Builds the state around an already opened store, with results kept in memory only
    /// (tests use this).
    pub fn with_originals(config: Config, originals: Originals) -> Result<AppState, String> {
        let cache_bytes = usize::try_from(config.cache.memory_bytes).unwrap_or(usize::MAX);
        State::with_tiers(config, originals, Tiers::memory_only(cache_bytes))
    }

    /// Builds the state from opened parts.
    pub fn with_tiers(
        config: Config,
        originals: Originals,
        tiers: Tiers,
    ) -> Result<AppState, String> {
        let access = Access::new(
            &config.signing.keys,
            &config.signing.allowed_widths,
            &config.presets,
        )
        .map_err(|e| format!("presets: {e}"))?;
        let pool = Pool::new(config.transform.worker_threads(), config.transform.queue);
        let admission = tokio::sync::Semaphore::new(pool.threads() + config.transform.queue);
        Ok(Arc::new(State {
            access,
            originals,
            pool,
            tiers: Arc::new(tiers),
            flights: Coalescer::new(),
            admission,
            limits: config.limits.to_core(),
            policy: config.transform.policy(),
            config,
        }))
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.config.http.request_timeout_ms.max(1))
    }
}

/// The image listener: delivery (both grammars), upload and delete.
pub fn router(state: AppState) -> Router {
    m::handle();
    // Multipart uploads go through axum's extractor, whose body limit must admit the largest
    // original plus the form's framing; the handler enforces the exact limit itself.
    let body_limit = usize::try_from(state.limits.max_input_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    Router::new()
        .fallback(delivery_or_upload)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(track))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

/// The admin listener: `/health`, `/ready`, `/metrics`.
pub fn admin_router(state: AppState) -> Router {
    m::handle();
    Router::new()
        .route("/health", get(admin::health))
        .route("/ready", get(admin::ready))
        .route("/metrics", get(admin::metrics))
        .with_state(state)
}

async fn delivery_or_upload(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
) -> Response {
    use axum::http::Method;
    match *req.method() {
        Method::GET | Method::HEAD => delivery::handle(state, req).await,
        Method::PUT => upload::put(state, req).await,
        Method::DELETE => upload::delete(state, req).await,
        _ => {
            let mut res = axum::response::IntoResponse::into_response(ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "use GET, HEAD, PUT or DELETE",
            ));
            res.headers_mut().insert(
                axum::http::header::ALLOW,
                axum::http::HeaderValue::from_static("GET, HEAD, PUT, DELETE"),
            );
            res
        }
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

fn route_label(method: &axum::http::Method, path: &str) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::PUT => "upload",
        Method::DELETE => "delete",
        Method::GET | Method::HEAD if path.starts_with(refract_core::url::CDN_CGI_PREFIX) => {
            "cdn_cgi"
        }
        Method::GET | Method::HEAD => "image",
        _ => "other",
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    axum::response::IntoResponse::into_response(ApiError::internal("the request handler panicked"))
}
