//! The server's one error type and its single mapping to HTTP.
//!
//! Every failure a handler can meet becomes an [`ApiError`]: a [`Code`] and a human message,
//! answered as `{"code": "...", "message": "..."}`. [`Code::status`] and [`Code::as_str`] are
//! the one table of statuses and codes; the core's own errors carry the core's table
//! (`refract_core::ErrorKind::http_status`, `Error::code`). Client mistakes are 4xx and logged
//! at debug level only. Overload and storage outages are 503 with `Retry-After`, so clients
//! and CDNs back off instead of retrying at once; storage and deadline 503s are logged as
//! warnings, refusals for overload only counted in metrics (a log line per refusal would add
//! to the load), and 500s logged as errors.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::originals::StorageError;
use crate::runtime::pool::PoolError;

/// Seconds a client is told to wait after a 503.
pub const RETRY_AFTER_SECS: u32 = 1;

/// The server's own error codes (the core's come with its errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    NotFound,
    MethodNotAllowed,
    /// `PUT`/`DELETE` without the upload token.
    Unauthorized,
    /// `PUT`/`DELETE` while no upload token is configured.
    UploadsDisabled,
    /// A key under `cdn-cgi/image/`, reserved for transforms.
    BadKey,
    OptionsNotAllowed,
    EmptyBody,
    BadBody,
    MissingFile,
    /// `POST /purge` on the admin listener without exactly one of `key` and `prefix`.
    BadPurge,
    InputTooLarge,
    Overloaded,
    /// Over a rate limit (`[rate_limit]`): 429 with `Retry-After` and the `RateLimit` fields.
    RateLimited,
    /// An upload to an original a lifecycle move holds (an expire or a storage-class rewrite).
    OriginalBusy,
    DeadlineExceeded,
    ShuttingDown,
    StorageUnavailable,
    Internal,
}

impl Code {
    pub fn status(self) -> StatusCode {
        match self {
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::UploadsDisabled => StatusCode::FORBIDDEN,
            Code::BadKey
            | Code::OptionsNotAllowed
            | Code::EmptyBody
            | Code::BadBody
            | Code::MissingFile
            | Code::BadPurge => StatusCode::BAD_REQUEST,
            Code::InputTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::OriginalBusy => StatusCode::CONFLICT,
            Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Code::Overloaded
            | Code::DeadlineExceeded
            | Code::ShuttingDown
            | Code::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::Unauthorized => "unauthorized",
            Code::UploadsDisabled => "uploads_disabled",
            Code::BadKey => "bad_key",
            Code::OptionsNotAllowed => "options_not_allowed",
            Code::EmptyBody => "empty_body",
            Code::BadBody => "bad_body",
            Code::MissingFile => "missing_file",
            Code::BadPurge => "bad_purge",
            Code::InputTooLarge => "input_too_large",
            Code::Overloaded => "overloaded",
            Code::RateLimited => "rate_limited",
            Code::OriginalBusy => "original_busy",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::ShuttingDown => "shutting_down",
            Code::StorageUnavailable => "storage_unavailable",
            Code::Internal => "internal",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Server(Code),
    /// A core error's status and code.
    Core {
        status: StatusCode,
        code: &'static str,
        /// Whether `onerror=redirect` answers it with the original (`OnError::redirects`).
        redirects: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    source: Source,
    /// What the client reads: what it did wrong, or that the server could not serve it now.
    pub message: String,
    /// What only the log gets: the store's own error (paths, endpoints, buckets), a panic.
    detail: Option<String>,
    /// Headers the response carries besides the usual ones (a 429's `Retry-After` and
    /// `RateLimit` fields).
    headers: Option<Box<HeaderMap>>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            source: Source::Server(code),
            message: message.into(),
            detail: None,
            headers: None,
        }
    }

    /// With headers for the response (they replace any of the same name it would have).
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = Some(Box::new(headers));
        self
    }

    /// With internal details for the log, never for the response body.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn status(&self) -> StatusCode {
        match &self.source {
            Source::Server(code) => code.status(),
            Source::Core { status, .. } => *status,
        }
    }

    pub fn code(&self) -> &'static str {
        match &self.source {
            Source::Server(code) => code.as_str(),
            Source::Core { code, .. } => code,
        }
    }

    pub fn unauthorized() -> Self {
        ApiError::new(
            Code::Unauthorized,
            "this request needs `Authorization: Bearer <upload token>`",
        )
    }

    pub fn overloaded() -> Self {
        ApiError::new(
            Code::Overloaded,
            "the transform queue is full; retry shortly",
        )
    }

    pub fn deadline() -> Self {
        ApiError::new(
            Code::DeadlineExceeded,
            "the request did not finish within the server's deadline",
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(Code::Internal, message)
    }

    pub fn is_server_error(&self) -> bool {
        self.status().is_server_error()
    }

    /// Whether a request with `onerror=redirect` is answered with a redirect to the original
    /// instead: a core error that the core says so of, or an original over the input limit
    /// (served untouched, it is streamed); not the server's other faults (storage, load,
    /// deadline, rate limits), which the original's URL would meet as well.
    pub fn on_error_redirects(&self) -> bool {
        matches!(
            self.source,
            Source::Core {
                redirects: true,
                ..
            } | Source::Server(Code::InputTooLarge)
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status().as_u16(),
            self.code(),
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl From<refract_core::Error> for ApiError {
    fn from(e: refract_core::Error) -> Self {
        let status = StatusCode::from_u16(e.kind().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError {
            source: Source::Core {
                status,
                code: e.code(),
                redirects: refract_core::spec::OnError::Redirect.redirects(&e),
            },
            message: e.to_string(),
            detail: None,
            headers: None,
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(_) => ApiError::new(Code::NotFound, e.to_string()),
            StorageError::TooLarge { .. } => ApiError::new(Code::InputTooLarge, e.to_string()),
            StorageError::BadName(_) => ApiError::new(Code::BadKey, e.to_string()),
            // The store's own words name paths, endpoints and buckets: the log's, not the
            // client's.
            StorageError::Unavailable(detail) => ApiError::new(
                Code::StorageUnavailable,
                "storage is unavailable; retry shortly",
            )
            .with_detail(detail),
        }
    }
}

impl From<PoolError> for ApiError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Busy => ApiError::overloaded(),
            PoolError::ShutDown => ApiError::new(Code::ShuttingDown, "the server is shutting down"),
            PoolError::Panicked(m) => {
                ApiError::internal("the transform failed").with_detail(format!("panic: {m}"))
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Only server faults are errors. Overload is expected under load and counted by
        // `refract_rejected_total`; a log line per refusal would only add to the load.
        let (status, code) = (self.status(), self.code());
        let logged = match &self.detail {
            Some(detail) => format!("{} ({detail})", self.message),
            None => self.message.clone(),
        };
        match &self.source {
            Source::Server(Code::Overloaded | Code::ShuttingDown) => {
                tracing::debug!(code, status = status.as_u16(), "{logged}")
            }
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                tracing::warn!(code, status = status.as_u16(), "{logged}")
            }
            _ if status.is_server_error() => {
                tracing::error!(code, status = status.as_u16(), "{logged}")
            }
            _ => tracing::debug!(code, status = status.as_u16(), "{logged}"),
        }
        let body = refract_core::json_body(code, &self.message);
        let mut res = (status, body).into_response();
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        if let Source::Server(Code::MethodNotAllowed) = self.source {
            headers.insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, PUT, DELETE"),
            );
        }
        if let Some(extra) = self.headers {
            // `None` names: further values of the name before.
            let mut last = None;
            for (name, value) in extra.into_iter() {
                match name {
                    Some(name) => {
                        headers.insert(name.clone(), value);
                        last = Some(name);
                    }
                    None => {
                        if let Some(name) = &last {
                            headers.append(name.clone(), value);
                        }
                    }
                }
            }
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn storage_faults_keep_their_details_out_of_the_body() {
        let e = ApiError::from(StorageError::Unavailable(
            "Generic LocalFileSystem error: /srv/originals/secret.jpg: I/O error".into(),
        ));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        let res = e.into_response();
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .expect("body");
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("storage_unavailable"), "{body}");
        assert!(!body.contains("/srv/originals"), "{body}");
        let panicked = ApiError::from(PoolError::Panicked("index out of bounds at x.rs".into()));
        assert!(!panicked.message.contains("x.rs"));
    }
}
