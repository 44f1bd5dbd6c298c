//! The server's one error type and its single mapping to HTTP.
//!
//! Every failure a handler can meet becomes an [`ApiError`]: a status, a stable machine-readable
//! `code` and a human `message`, answered as `{"code": "...", "message": "..."}`. Client
//! mistakes are 4xx and logged at debug level only. Overload and storage outages are 503 with
//! `Retry-After`, so clients and CDNs back off instead of retrying at once; storage and deadline
//! 503s are logged as warnings, refusals for overload only counted in metrics (a log line per
//! refusal would add to the load), and 500s logged as errors.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::pool::PoolError;
use crate::storage::StorageError;

/// Seconds a client is told to wait after a 503.
pub const RETRY_AFTER_SECS: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_key(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_key", message)
    }

    pub fn not_found(key: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no original at key {key:?}"),
        )
    }

    pub fn bad_signature(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "bad_signature", message)
    }

    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this request needs `Authorization: Bearer <upload token>`",
        )
    }

    pub fn overloaded() -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the transform queue is full; retry shortly",
        )
    }

    pub fn deadline() -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "deadline_exceeded",
            "the request did not finish within the server's deadline",
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn is_server_error(&self) -> bool {
        self.status.is_server_error()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl From<refract_core::Error> for ApiError {
    fn from(e: refract_core::Error) -> Self {
        let status = StatusCode::from_u16(e.kind().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(key) => ApiError::not_found(&key),
            StorageError::TooLarge { limit } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "input_too_large",
                format!("the original is larger than the {limit}-byte input limit"),
            ),
            StorageError::Unavailable(message) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                format!("storage is unavailable: {message}"),
            ),
        }
    }
}

impl From<PoolError> for ApiError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Busy => ApiError::overloaded(),
            PoolError::ShutDown => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down",
            ),
            PoolError::Panicked(m) => ApiError::internal(format!("transform panicked: {m}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Only server faults are errors. Overload is expected under load and counted by
        // `refract_rejected_total`; a log line per refusal would only add to the load.
        let status = self.status.as_u16();
        match (status, self.code) {
            (503, "overloaded" | "shutting_down") => {
                tracing::debug!(code = self.code, status, "{}", self.message)
            }
            (503, _) => tracing::warn!(code = self.code, status, "{}", self.message),
            (500.., _) => tracing::error!(code = self.code, status, "{}", self.message),
            _ => tracing::debug!(code = self.code, status, "{}", self.message),
        }
        let body = refract_core::json_body(self.code, &self.message);
        let mut res = (self.status, body).into_response();
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        res
    }
}
