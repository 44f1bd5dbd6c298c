//! Rate limits through the Workers Rate Limiting bindings `RATE_LIMIT` (every request) and
//! `TRANSFORM_RATE_LIMIT` (requests the Cache API did not answer). What decides is in
//! `limit.rs`; without a binding there is no limit.

use worker::Env;

use crate::config::{ConfigError, EdgeConfig};
use crate::limit::{self, Limit};
use crate::reply::{Code, EdgeError};

/// Charges one request to `client` under `limit`: `Ok` when allowed (or when the binding is
/// absent), 429 `rate_limited` when not. A binding that fails to answer lets the request
/// through (logged): the limit protects the service, it must not take it down.
pub async fn admit(
    env: &Env,
    cfg: &EdgeConfig,
    limit: Limit,
    client: &str,
) -> Result<(), EdgeError> {
    let name = limit.binding();
    let bound = worker::js_sys::Reflect::get(env, &name.into()).is_ok_and(|v| !v.is_undefined());
    if !bound {
        return Ok(());
    }
    let limiter = env.rate_limiter(name).map_err(|e| ConfigError {
        var: name,
        reason: format!("expected a [[ratelimits]] binding ({e})"),
    })?;
    match limiter.limit(client.to_owned()).await {
        Ok(outcome) if outcome.success => Ok(()),
        Ok(_) => {
            let quota = match limit {
                Limit::Requests => cfg.rate_limit,
                Limit::Transforms => cfg.transform_rate_limit,
            };
            let what = match limit {
                Limit::Requests => "requests",
                Limit::Transforms => "requests that transform",
            };
            Err(EdgeError::new(
                Code::RateLimited,
                format!("too many {what} from this client; retry later"),
            )
            .with_headers(limit::refused_headers(limit, quota)))
        }
        Err(e) => {
            worker::console_warn!("rate limit {name} failed, request allowed: {e}");
            Ok(())
        }
    }
}
