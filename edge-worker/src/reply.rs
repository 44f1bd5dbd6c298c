//! Responses: errors as the core's JSON body, and the headers a 200 and a 304 share.

use worker::{Headers, Response};

/// The worker's own error codes, with their statuses: the one table (the core's errors carry
/// the core's). The codes and statuses are the origin's for the same faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    NotFound,
    MethodNotAllowed,
    /// R2 or the HTTP origin failed.
    StorageUnavailable,
    /// A var or secret the worker cannot use.
    BadConfig,
    /// Over a rate limit (the `RATE_LIMIT` or `TRANSFORM_RATE_LIMIT` binding).
    RateLimited,
    Internal,
}

impl Code {
    pub fn status(self) -> u16 {
        match self {
            Code::NotFound => 404,
            Code::MethodNotAllowed => 405,
            Code::RateLimited => 429,
            Code::StorageUnavailable => 503,
            Code::BadConfig | Code::Internal => 500,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::StorageUnavailable => "storage_unavailable",
            Code::BadConfig => "bad_config",
            Code::RateLimited => "rate_limited",
            Code::Internal => "internal",
        }
    }
}

/// An answer other than an image: a core error, a storage fault, a bad setting.
#[derive(Debug)]
pub struct EdgeError {
    status: u16,
    code: &'static str,
    /// What the client reads.
    pub message: String,
    /// What only the log gets: R2's or the origin's own error, which may name URLs.
    detail: Option<String>,
    /// Headers of the answer besides the JSON ones (a 429's `Retry-After` and `RateLimit`).
    headers: Vec<(&'static str, String)>,
    /// Whether `onerror=redirect` answers it with the original (a core error the core says
    /// so of: `OnError::redirects`).
    redirects: bool,
}

impl EdgeError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        EdgeError {
            status: code.status(),
            code: code.as_str(),
            message: message.into(),
            detail: None,
            headers: Vec::new(),
            redirects: false,
        }
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Whether a request with `onerror=redirect` is answered with the original instead.
    pub fn on_error_redirects(&self) -> bool {
        self.redirects
    }

    /// The message with the detail only the log gets.
    pub fn for_log(&self) -> String {
        match &self.detail {
            Some(d) => format!("{} ({d})", self.message),
            None => self.message.clone(),
        }
    }

    /// The same error, answered with these headers as well.
    pub fn with_headers(mut self, headers: Vec<(&'static str, String)>) -> Self {
        self.headers.extend(headers);
        self
    }

    /// Storage (R2 or the origin) failed: a generic message for the client, `detail` for the
    /// log.
    pub fn storage(detail: impl Into<String>) -> Self {
        EdgeError {
            detail: Some(detail.into()),
            ..EdgeError::unavailable("storage is unavailable; retry shortly")
        }
    }

    pub fn not_found(key: &str) -> Self {
        EdgeError::new(Code::NotFound, format!("no original at key {key:?}"))
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        EdgeError::new(Code::StorageUnavailable, message)
    }

    pub fn into_response(self) -> Response {
        if self.status >= 500 {
            let detail = self.detail.as_deref().unwrap_or("");
            worker::console_error!("{} {}: {} {detail}", self.status, self.code, self.message);
        }
        let headers = Headers::new();
        let _ = headers.set("content-type", "application/json");
        let _ = headers.set("cache-control", "no-store");
        if self.status == 503 {
            let _ = headers.set("retry-after", "1");
        }
        for (name, value) in &self.headers {
            let _ = headers.set(name, value);
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
        EdgeError {
            status: e.kind().http_status(),
            code: e.code(),
            message: e.to_string(),
            detail: None,
            headers: Vec::new(),
            redirects: refract_core::spec::OnError::Redirect.redirects(&e),
        }
    }
}

impl From<worker::Error> for EdgeError {
    fn from(e: worker::Error) -> Self {
        EdgeError {
            detail: Some(e.to_string()),
            ..EdgeError::new(Code::Internal, "the worker failed")
        }
    }
}

impl From<crate::config::ConfigError> for EdgeError {
    fn from(e: crate::config::ConfigError) -> Self {
        EdgeError::new(Code::BadConfig, e.to_string())
    }
}

/// How a response is labelled besides its body.
#[derive(Debug)]
pub struct Labels<'a> {
    pub etag: &'a str,
    pub cache_control: &'a str,
    /// `Vary` (`refract_core::url::vary`); empty for none.
    pub vary: &'a str,
    /// `Cache-Tag`: the original's tags, to purge everything made from it.
    pub cache_tag: &'a str,
}

impl Labels<'_> {
    /// The headers a 200 and a 304 share (of a transform; `Accept-CH` says which client hints
    /// `width=auto` and `dpr=auto` read).
    pub fn headers(&self) -> Headers {
        let h = Headers::new();
        let _ = h.set("etag", self.etag);
        let _ = h.set("cache-control", self.cache_control);
        set_cache_tag(&h, self.cache_tag);
        if !self.vary.is_empty() {
            let _ = h.set("vary", self.vary);
        }
        let _ = h.set("accept-ch", refract_core::spec::ACCEPT_CH);
        h
    }
}

pub fn not_modified(labels: &Labels<'_>) -> Response {
    Response::empty()
        .map(|r| r.with_status(304).with_headers(labels.headers()))
        .unwrap_or_else(|e| EdgeError::from(e).into_response())
}

/// The headers of another server's response that [`forward`] passes on.
const FORWARDED: [&str; 11] = [
    "content-type",
    "content-length",
    "etag",
    "last-modified",
    "cache-control",
    "vary",
    "accept-ch",
    "retry-after",
    "server-timing",
    "location",
    "cache-tag",
];

/// Another server's response passed on: its status, a mutable copy of its headers with `set`
/// applied, and its body as it is (none for a 304 or a HEAD, else streamed, never buffered).
pub fn forward(res: Response, set: &[(&str, &str)]) -> Response {
    let status = res.status_code();
    // Only what describes the answer is passed on, never the origin's cookies, server
    // details or anything else it happens to send.
    let headers = Headers::new();
    for name in FORWARDED {
        if let Ok(Some(v)) = res.headers().get(name) {
            let _ = headers.set(name, &v);
        }
    }
    for (k, v) in set {
        let _ = headers.set(k, v);
    }
    let (_, body) = res.into_parts();
    match Response::from_body(body) {
        Ok(r) => r.with_status(status).with_headers(headers),
        Err(e) => EdgeError::from(e).into_response(),
    }
}

/// `Cache-Tag` (from `refract_core::url::cache_tags`), unless the key has no tag that fits.
pub fn set_cache_tag(headers: &Headers, tag: &str) {
    if !tag.is_empty() {
        let _ = headers.set("cache-tag", tag);
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
