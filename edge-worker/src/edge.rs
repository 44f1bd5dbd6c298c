//! The fetch handler: rate limit → URL → spec → Cache API (the original's version checked past
//! `REVALIDATE_SECS`) → original → budget → core transform → response.

use std::collections::BTreeMap;

use refract_core::{Context, Spec, VariantKey};
use worker::{Cache, Env, Method, Request, Response, Url};

use crate::cached::{self, Entry, Stored};
use crate::config::{self, ConfigError, EdgeConfig};
use crate::handoff::{handoff, Ask};
use crate::limit::{self, Limit};
use crate::reply::{copy_headers, not_modified, Code, EdgeError, Labels};
use crate::source::{self, Check, Fetched, Original};
use crate::transforming::Transforming;
use crate::{budget, fresh, throttle};

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
    let url = req.url().ok();
    let mut res = match handle(req, &env, &ctx).await {
        Ok(res) => res,
        Err(e) => crate::fallback::on_error(e, url.as_ref(), || Some(config(&env).ok()?.access)),
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
    let header = |name| req.headers().get(name).ok().flatten();
    let client = limit::client_key(header("cf-connecting-ip").as_deref());
    throttle::admit(env, &cfg, Limit::Requests, &client).await?;
    let url = req.url()?;
    let request = cfg.access.resolve(url.path(), url.query())?;
    let ask = Ask {
        head,
        accept: header("accept").unwrap_or_default(),
        if_none_match: header("if-none-match"),
        hints: crate::hints::headers(req.headers()),
        url,
    };
    let cache_control = cache_control(&cfg, &request);
    let cache_tag = refract_core::url::cache_tags(&request.key);
    let Some(spec) = request.spec else {
        let res = source::passthrough(
            env,
            &cfg,
            &request.key,
            ask.if_none_match.as_deref(),
            &cache_control,
            &cache_tag,
        )
        .await?;
        return Ok(strip_body(res, head));
    };

    // `width=auto` / `dpr=auto` resolved first: the variant (cache key, ETag) is the resolved one.
    let vary = refract_core::url::vary(&spec);
    let hints = crate::hints::read(&ask.hints);
    let spec = cfg.access.with_client_hints(&spec, request.signed, hints);
    // The variant's identity, by the origin's rule: the Cache API key and the ETag come from it.
    let variant = VariantKey::new(&request.key, &spec, &ask.accept, &cfg.policy);
    let cache_key = cache_key(&ask.url, &variant);
    // An HTTP origin's answer with a new version, when checking a cached result found one.
    let mut changed = None;
    if let Some(hit) = Cache::default().get(cache_key.as_str(), false).await? {
        let entry = Entry::new(hit);
        let state = if !fresh::due(entry.confirmed_ms, now_ms(), cfg.revalidate_secs) {
            Some("hit")
        } else {
            match source::check(env, &cfg, &request.key, &entry.original_etag).await {
                Check::Same => Some("revalidated"),
                Check::Failed(e) => {
                    worker::console_warn!("serving a stale result: {}", e.for_log());
                    Some("stale")
                }
                Check::Gone => {
                    cached::delete_later(ctx, cache_key);
                    return Err(EdgeError::not_found(&request.key));
                }
                Check::Changed(res) => {
                    changed = res;
                    None
                }
            }
        };
        if let Some(state) = state {
            let etag = entry.etag.clone();
            let labels = Labels {
                etag: &etag,
                cache_control: &cache_control,
                vary: &vary,
                cache_tag: &cache_tag,
            };
            // A confirmed entry is stored again, with the time of this confirmation.
            let refresh = (state == "revalidated").then_some((ctx, cache_key));
            return from_cache(entry, state, &ask, &labels, refresh).await;
        }
    }

    // Not answered from the cache: the original is read, and perhaps transformed.
    throttle::admit(env, &cfg, Limit::Transforms, &client).await?;
    let read = match changed {
        Some(res) => source::collect(&cfg, res).await,
        None => source::read(env, &cfg, &request.key).await,
    };
    let original = match read {
        Ok(o) => o,
        Err(Fetched::Failed(e)) => return Err(e),
        Err(Fetched::OverBudget(over)) => return handoff(&cfg, &ask, over).await,
    };
    // What the transform would cost, from the header alone: over the edge budget (or the CPU
    // cap), the request goes to the origin before any pixel is decoded. So do AVIF originals,
    // which the origin decodes and the edge cannot (no safe AV1 decoder in wasm32), and SVG
    // ones, which the origin rasterizes (resvg stays out of the edge's bundle budget); without
    // an origin they stay 415 `unsupported_format`.
    let estimate = match refract_core::estimate(&original.bytes, &spec, &context(&ask.accept, &cfg))
    {
        Ok(e) => e,
        Err(over @ refract_core::Error::TooCostly { .. }) => {
            return handoff(&cfg, &ask, over).await
        }
        Err(
            origin_only @ refract_core::Error::UnsupportedInput {
                detected: Some("AVIF" | "SVG"),
            },
        ) => return handoff(&cfg, &ask, origin_only).await,
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
        cache_control: &cache_control,
        vary: &vary,
        cache_tag: &cache_tag,
    };
    if let Some(res) = revalidated(&ask, &labels, "miss") {
        return Ok(res);
    }

    let output = {
        let _busy = Transforming::enter();
        transform(&original.bytes, estimate, &spec, &ask.accept, &cfg)?
    };
    let Original {
        etag: original_etag,
        ..
    } = original;
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
    let stored = Stored {
        etag: &etag,
        content_type: output.format.content_type(),
        cache_tag: &cache_tag,
        original_etag: &original_etag,
    };
    if let Some(res) = cached::entry(output.bytes.clone(), &stored, &cache_control, now_ms())? {
        cached::put_later(ctx, cache_key, res);
    }
    let _ = headers.set("x-refract-cache", "miss");
    let body = if head { Vec::new() } else { output.bytes };
    Ok(Response::from_bytes(body)?.with_headers(headers))
}

/// The answer from a cached result: `state` is `hit`, `revalidated` or `stale`
/// (`x-refract-cache`). With `refresh`, the entry is stored again, confirmed now.
async fn from_cache(
    mut entry: Entry,
    state: &str,
    ask: &Ask,
    labels: &Labels<'_>,
    refresh: Option<(&worker::Context, Url)>,
) -> Result<Response, EdgeError> {
    let not_modified = revalidated(ask, labels, state);
    let body = if refresh.is_some() || (!ask.head && not_modified.is_none()) {
        entry.bytes().await?
    } else {
        Vec::new()
    };
    if let Some((ctx, key)) = refresh {
        let stored = Stored {
            etag: labels.etag,
            content_type: &entry.content_type,
            cache_tag: labels.cache_tag,
            original_etag: &entry.original_etag,
        };
        if let Some(res) = cached::entry(body.clone(), &stored, labels.cache_control, now_ms())? {
            cached::put_later(ctx, key, res);
        }
    }
    if let Some(res) = not_modified {
        return Ok(res);
    }
    let headers = labels.headers();
    let _ = headers.set("content-type", &entry.content_type);
    let _ = headers.set("x-refract-cache", state);
    let body = if ask.head { Vec::new() } else { body };
    Ok(Response::from_bytes(body)?.with_headers(headers))
}

/// The `Cache-Control` a result or an original is answered with. A URL that expires is cached
/// no longer than it is valid, and never as immutable; one that names the version (`v=`) may
/// be kept for good; the others get a bounded `max-age` with `stale-while-revalidate` and
/// `stale-if-error` (`SIGNED_CACHE_CONTROL` when signed, `CACHE_CONTROL` otherwise).
fn cache_control(cfg: &EdgeConfig, request: &refract_core::url::Request) -> String {
    match request.expires {
        Some(t) => format!("public, max-age={}", t.saturating_sub(unix_secs())),
        None if request.version.is_some() => cfg.versioned_cache_control.clone(),
        None if request.signed => cfg.signed_cache_control.clone(),
        None => cfg.cache_control.clone(),
    }
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
    u.set_path(&format!("/.refract-cache/v3/{}", variant.id()));
    u
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
