//! Requests over the edge budget, handed to the native origin in `HANDOFF_URL` (by proxy or by
//! redirect), with what the client asked for besides the image.

use worker::{Headers, Method, Request, RequestInit, RequestRedirect, Response, Url};

use crate::config::{EdgeConfig, HandoffMode};
use crate::reply::{forward, EdgeError};

/// Everything the request asks for besides the image, resolved once.
#[derive(Debug)]
pub struct Ask {
    pub url: Url,
    pub head: bool,
    pub accept: String,
    pub if_none_match: Option<String>,
    /// The client hint headers sent (`hints::headers`), passed on to the origin.
    pub hints: Vec<(&'static str, String)>,
}

/// A request over the edge budget: to the native origin when one is configured, else the core
/// error that names the limit.
pub async fn handoff(
    cfg: &EdgeConfig,
    ask: &Ask,
    over: refract_core::Error,
) -> Result<Response, EdgeError> {
    let Some(h) = &cfg.handoff else {
        return Err(over.into());
    };
    let target = match ask.url.query() {
        Some(q) => format!("{}{}?{q}", h.url, ask.url.path()),
        None => format!("{}{}", h.url, ask.url.path()),
    };
    match h.mode {
        HandoffMode::Redirect => {
            let headers = Headers::new();
            let _ = headers.set("location", &target);
            let _ = headers.set("cache-control", "no-store");
            let _ = headers.set("x-refract-handoff", "redirect");
            Ok(Response::empty()?.with_status(307).with_headers(headers))
        }
        HandoffMode::Proxy => {
            let headers = Headers::new();
            if !ask.accept.is_empty() {
                let _ = headers.set("accept", &ask.accept);
            }
            if let Some(inm) = &ask.if_none_match {
                let _ = headers.set("if-none-match", inm);
            }
            for (name, value) in &ask.hints {
                let _ = headers.set(name, value);
            }
            let mut init = RequestInit::new();
            let method = if ask.head { Method::Head } else { Method::Get };
            // The origin's own redirects (`onerror=redirect`: a path-absolute `Location`, so on
            // this host) are answered as they are, not followed.
            init.with_method(method)
                .with_headers(headers)
                .with_redirect(RequestRedirect::Manual);
            let req = Request::new_with_init(&target, &init)?;
            let res = worker::Fetch::Request(req).send().await.map_err(|e| {
                EdgeError::storage(format!("the origin for over-budget requests failed: {e}"))
            })?;
            Ok(forward(res, &[("x-refract-handoff", "proxy")]))
        }
    }
}
