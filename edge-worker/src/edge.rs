//! The fetch handler: URL → spec → Cache API → original → budget → core transform → response.

use std::collections::BTreeMap;

use refract_core::{Context, Format, Spec, VariantKey};
use worker::{Cache, Env, Headers, Method, Request, RequestInit, Response, Url};

use crate::budget;
use crate::config::{self, ConfigError, EdgeConfig, HandoffMode};
use crate::reply::{copy_headers, forward, not_modified, Code, EdgeError, Labels};
use crate::source::{self, Fetched};

#[worker::event(fetch)]
pub async fn fetch(req: Request, env: Env, ctx: worker::Context) -> worker::Result<Response> {
    // Read apart from the rest of the settings, so that errors (a bad setting too) carry it.
    let expose_memory = config::expose_memory(env.var("EXPOSE_MEMORY").ok().map(|v| v.to_string()));
    if config::expose_memory(env.var("DEBUG_TRAP").ok().map(|v| v.to_string()))
        && req.path() == "/.refract-debug/trap"
    {
        // For the test of entry.mjs's recovery: run out of memory in the middle of a
        // transform, as a hostile image would. The allocation failure aborts (a trap) with the
        // memory still held, and wasm memory never shrinks: without a rebuild, every later
        // request in this isolate fails too.
        let _busy = Transforming::enter();
        let mut size = 256usize << 20;
        while size >= 64 {
            let mut block: Vec<u8> = Vec::new();
            if block.try_reserve_exact(size).is_ok() {
                std::mem::forget(block);
            } else {
                size /= 2;
            }
        }
        let last: Vec<u8> = Vec::with_capacity(1 << 20);
        std::mem::forget(last);
        panic!("DEBUG_TRAP: memory was not exhausted");
    }
    let mut res = match handle(req, &env, &ctx).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    };
    // As the origin does: no response is sniffed into another type, and one that is not an
    // image (a JSON error, anything a handoff passed on) may not run or frame anything.
    let headers = copy_headers(res.headers());
    let _ = headers.set("x-content-type-options", "nosniff");
    let is_image = headers
        .get("content-type")
        .ok()
        .flatten()
        .is_some_and(|t| t.starts_with("image/"));
    if !is_image {
        let _ = headers.set("content-security-policy", refract_core::NON_IMAGE_CSP);
    }
    if expose_memory {
        let bytes = core::arch::wasm32::memory_size(0) * 65_536;
        let _ = headers.set("x-refract-memory", &bytes.to_string());
    }
    res = res.with_headers(headers);
    Ok(res)
}

fn config(env: &Env) -> Result<EdgeConfig, EdgeError> {
    // `[vars.PRESETS]` is an object var; one that is there but not a table of strings is a
    // mistake to report, not a reason to serve without presets.
    let presets = match env.object_var::<BTreeMap<String, String>>("PRESETS") {
        Ok(presets) => presets,
        Err(e) => {
            let bound = worker::js_sys::Reflect::get(env, &"PRESETS".into())
                .is_ok_and(|v| !v.is_undefined());
            if bound {
                return Err(ConfigError {
                    var: "PRESETS",
                    reason: format!("expected a table of name = \"options\" strings ({e})"),
                }
                .into());
            }
            BTreeMap::new()
        }
    };
    let var = |name: &str| {
        env.secret(name)
            .or_else(|_| env.var(name))
            .ok()
            .map(|v| v.to_string())
            .filter(|v| !v.trim().is_empty())
    };
    let mut cfg = EdgeConfig::from_lookup(var, &presets)?;
    cfg.access = cfg.access.with_clock(unix_secs);
    Ok(cfg)
}

/// Unix seconds, for `expires`.
fn unix_secs() -> u64 {
    (worker::js_sys::Date::now() / 1000.0) as u64
}

/// Everything the request asks for besides the image, resolved once.
struct Ask {
    url: Url,
    head: bool,
    accept: String,
    if_none_match: Option<String>,
}

async fn handle(req: Request, env: &Env, ctx: &worker::Context) -> Result<Response, EdgeError> {
    let head = match req.method() {
        Method::Get => false,
        Method::Head => true,
        other => {
            return Err(EdgeError::new(
                Code::MethodNotAllowed,
                format!("{other:?} is not served here; use GET or HEAD"),
            ))
        }
    };
    let cfg = config(env)?;
    let url = req.url()?;
    let request = cfg.access.resolve(url.path(), url.query())?;
    let header = |name| req.headers().get(name).ok().flatten();
    let ask = Ask {
        head,
        accept: header("accept").unwrap_or_default(),
        if_none_match: header("if-none-match"),
        url,
    };
    // A URL that expires is cached no longer than it is valid, and never as immutable.
    let expiring;
    let cache_control = match request.expires {
        Some(t) => {
            expiring = format!("public, max-age={}", t.saturating_sub(unix_secs()));
            expiring.as_str()
        }
        None if request.signed => cfg.signed_cache_control.as_str(),
        None => cfg.cache_control.as_str(),
    };
    let Some(spec) = request.spec else {
        let res = source::passthrough(
            env,
            &cfg,
            &request.key,
            ask.if_none_match.as_deref(),
            cache_control,
        )
        .await?;
        return Ok(strip_body(res, head));
    };

    let vary_accept = spec.format == Some(Format::Auto);
    // The variant's identity, by the origin's rule: the Cache API key and the ETag come from it.
    let variant = VariantKey::new(&request.key, &spec, &ask.accept, &cfg.policy);
    let cache_key = cache_key(&ask.url, &variant);
    let cache = Cache::default();
    if let Some(mut hit) = cache.get(cache_key.as_str(), false).await? {
        let etag = hit.headers().get("etag")?.unwrap_or_default();
        let labels = Labels {
            etag: &etag,
            cache_control,
            vary_accept,
        };
        if let Some(res) = revalidated(&ask, &labels, "hit") {
            return Ok(res);
        }
        let content_type = hit.headers().get("content-type")?.unwrap_or_default();
        let body = if head { Vec::new() } else { hit.bytes().await? };
        let headers = labels.headers();
        let _ = headers.set("content-type", &content_type);
        let _ = headers.set("x-refract-cache", "hit");
        return Ok(Response::from_bytes(body)?.with_headers(headers));
    }

    let original = match source::read(env, &cfg, &request.key).await {
        Ok(o) => o,
        Err(Fetched::Failed(e)) => return Err(e),
        Err(Fetched::OverBudget(over)) => return handoff(&cfg, &ask, over).await,
    };
    // What the transform would cost, from the header alone: over the edge budget (or the CPU
    // cap), the request goes to the origin before any pixel is decoded.
    let estimate = match refract_core::estimate(&original.bytes, &spec, &context(&ask.accept, &cfg))
    {
        Ok(e) => e,
        Err(over @ refract_core::Error::TooCostly { .. }) => {
            return handoff(&cfg, &ask, over).await
        }
        Err(e) => return Err(e.into()),
    };
    if let Err(over) = budget::check_plan(
        &estimate.header,
        &estimate.plan,
        &estimate.cost,
        &spec,
        &cfg.budget,
    ) {
        return handoff(&cfg, &ask, over).await;
    }
    let etag = variant.etag(&original.etag);
    let labels = Labels {
        etag: &etag,
        cache_control,
        vary_accept,
    };
    if let Some(res) = revalidated(&ask, &labels, "miss") {
        return Ok(res);
    }

    let output = {
        let _busy = Transforming::enter();
        transform(&original.bytes, estimate, &spec, &ask.accept, &cfg)?
    };
    drop(original);
    let headers = labels.headers();
    let _ = headers.set("content-type", output.format.content_type());
    let t = &output.timings;
    let _ = headers.set(
        "server-timing",
        &format!(
            "decode;dur={:.1}, resize;dur={:.1}, encode;dur={:.1}",
            t.decode_ms, t.resize_ms, t.encode_ms
        ),
    );
    let stored = Response::from_bytes(output.bytes.clone())?.with_headers(copy_headers(&headers));
    ctx.wait_until(async move {
        if let Err(e) = cache.put(cache_key.as_str(), stored).await {
            worker::console_warn!("cache put failed: {e}");
        }
    });
    let _ = headers.set("x-refract-cache", "miss");
    let body = if head { Vec::new() } else { output.bytes };
    Ok(Response::from_bytes(body)?.with_headers(headers))
}

/// The transform, after the estimate the budget was checked with.
fn transform(
    input: &[u8],
    estimate: refract_core::Estimate,
    spec: &Spec,
    accept: &str,
    cfg: &EdgeConfig,
) -> Result<refract_core::Output, EdgeError> {
    Ok(refract_core::transform_estimated(
        input,
        estimate,
        spec,
        &context(accept, cfg),
    )?)
}

/// Marks the synchronous transform in a JS global (`__refractTransforming`). JS runs one thing
/// at a time, so when a request arrives and finds the mark set, the transform that set it
/// never returned: the instance trapped (out of memory, a panic), and entry.mjs rebuilds it
/// before handing it the request.
struct Transforming;

impl Transforming {
    const MARK: &'static str = "__refractTransforming";

    fn enter() -> Transforming {
        Transforming::set(true);
        Transforming
    }

    fn set(on: bool) {
        let global = worker::js_sys::global();
        let _ = worker::js_sys::Reflect::set(&global, &Self::MARK.into(), &on.into());
    }
}

impl Drop for Transforming {
    fn drop(&mut self) {
        Transforming::set(false);
    }
}

fn context<'a>(accept: &'a str, cfg: &EdgeConfig) -> Context<'a> {
    Context {
        limits: cfg.limits,
        accept: Some(accept),
        policy: cfg.policy,
        clock: Some(now_ms),
    }
}

fn now_ms() -> f64 {
    worker::js_sys::Date::now()
}

/// The Cache API key of a variant: on the request's own host (the Cache API is per zone), under
/// a path no image URL can have, named by the variant's id.
fn cache_key(url: &Url, variant: &VariantKey) -> Url {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.set_path(&format!("/.refract-cache/v2/{}", variant.id()));
    u
}

/// A request over the edge budget: to the native origin when one is configured, else the core
/// error that names the limit.
async fn handoff(
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
            let mut init = RequestInit::new();
            let method = if ask.head { Method::Head } else { Method::Get };
            init.with_method(method).with_headers(headers);
            let req = Request::new_with_init(&target, &init)?;
            let res = worker::Fetch::Request(req).send().await.map_err(|e| {
                EdgeError::storage(format!("the origin for over-budget requests failed: {e}"))
            })?;
            Ok(forward(res, &[("x-refract-handoff", "proxy")]))
        }
    }
}

/// A 304 when the request's `If-None-Match` names the ETag in `labels`.
fn revalidated(ask: &Ask, labels: &Labels<'_>, cache_state: &str) -> Option<Response> {
    let inm = ask.if_none_match.as_deref()?;
    refract_core::etag::matches(inm, labels.etag)
        .then(|| with_cache_state(not_modified(labels), cache_state))
}

fn with_cache_state(res: Response, state: &str) -> Response {
    let headers = copy_headers(res.headers());
    let _ = headers.set("x-refract-cache", state);
    res.with_headers(headers)
}

fn strip_body(res: Response, head: bool) -> Response {
    if !head {
        return res;
    }
    let status = res.status_code();
    let headers = copy_headers(res.headers());
    match Response::empty() {
        Ok(r) => r.with_status(status).with_headers(headers),
        Err(e) => EdgeError::from(e).into_response(),
    }
}
