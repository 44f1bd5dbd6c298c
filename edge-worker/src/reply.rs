//! Responses: errors as the core's JSON body, and the headers a 200 and a 304 share.

use worker::{Headers, Response};

/// An answer other than an image: a core error, a storage fault, a bad setting.
#[derive(Debug)]
pub struct EdgeError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl EdgeError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        EdgeError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(key: &str) -> Self {
        EdgeError::new(404, "not_found", format!("no original at key {key:?}"))
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        EdgeError::new(503, "storage_unavailable", message)
    }

    pub fn into_response(self) -> Response {
        if self.status >= 500 {
            worker::console_error!("{} {}: {}", self.status, self.code, self.message);
        }
        let headers = Headers::new();
        let _ = headers.set("content-type", "application/json");
        let _ = headers.set("cache-control", "no-store");
        if self.status == 503 {
            let _ = headers.set("retry-after", "1");
        }
        let body = refract_core::json_body(self.code, &self.message);
        Response::from_bytes(body.into_bytes())
            .map(|r| r.with_status(self.status).with_headers(headers))
            .unwrap_or_else(|_| {
                Response::empty()
                    .expect("an empty response")
                    .with_status(500)
            })
    }
}

impl From<refract_core::Error> for EdgeError {
    fn from(e: refract_core::Error) -> Self {
        EdgeError::new(e.kind().http_status(), e.code(), e.to_string())
    }
}

impl From<worker::Error> for EdgeError {
    fn from(e: worker::Error) -> Self {
        EdgeError::new(500, "internal", e.to_string())
    }
}

impl From<crate::config::ConfigError> for EdgeError {
    fn from(e: crate::config::ConfigError) -> Self {
        EdgeError::new(500, "bad_config", e.to_string())
    }
}

/// How a response is labelled besides its body.
#[derive(Debug)]
pub struct Labels<'a> {
    pub etag: &'a str,
    pub cache_control: &'a str,
    pub vary_accept: bool,
}

impl Labels<'_> {
    /// The headers a 200 and a 304 share.
    pub fn headers(&self) -> Headers {
        let h = Headers::new();
        let _ = h.set("etag", self.etag);
        let _ = h.set("cache-control", self.cache_control);
        if self.vary_accept {
            let _ = h.set("vary", "Accept");
        }
        h
    }
}

pub fn not_modified(labels: &Labels<'_>) -> Response {
    Response::empty()
        .map(|r| r.with_status(304).with_headers(labels.headers()))
        .unwrap_or_else(|e| EdgeError::from(e).into_response())
}

/// Another server's response passed on: its status, a mutable copy of its headers with `set`
/// applied, and its body as it is (none for a 304 or a HEAD, else streamed, never buffered).
pub fn forward(res: Response, set: &[(&str, &str)]) -> Response {
    let status = res.status_code();
    let headers = copy_headers(res.headers());
    for (k, v) in set {
        let _ = headers.set(k, v);
    }
    let (_, body) = res.into_parts();
    match Response::from_body(body) {
        Ok(r) => r.with_status(status).with_headers(headers),
        Err(e) => EdgeError::from(e).into_response(),
    }
}

/// A copy of `headers` that this worker may change (fetched responses' headers are immutable).
pub fn copy_headers(headers: &Headers) -> Headers {
    let out = Headers::new();
    for (k, v) in headers.entries() {
        let _ = out.append(&k, &v);
    }
    out
}
