//! Refract at the edge: the core as a Cloudflare Worker.
//!
//! Same URLs as the native origin (`/<key>?<options>` and `/cdn-cgi/image/<options>/<key>`),
//! parsed, signed and answered with the core's own code. Originals come from the `ORIGINALS`
//! R2 binding or the HTTP origin in `ORIGIN_URL`, and nothing else. Results go to the Cache API
//! under the canonical spec and the negotiated format, each checked against its original once it
//! is older than `REVALIDATE_SECS` ([`fresh`]). Requests are rate limited through the Workers
//! Rate Limiting bindings ([`limit`]). A request over the edge budget (see
//! [`budget`]) is handed to the native origin in `HANDOFF_URL`, or refused with the core error
//! that names the limit. Settings: [`config`]; docs/edge.md lists them all.
//!
//! The modules that decide ([`config`], [`budget`], [`fresh`], [`limit`]) are plain Rust, tested natively; the ones
//! that talk to the Workers runtime build only for `wasm32`.

pub mod budget;
pub mod config;
pub mod fresh;
pub mod limit;

#[cfg(target_arch = "wasm32")]
mod cached;
#[cfg(target_arch = "wasm32")]
mod edge;
#[cfg(target_arch = "wasm32")]
mod fallback;
#[cfg(target_arch = "wasm32")]
mod handoff;
#[cfg(target_arch = "wasm32")]
mod hints;
#[cfg(target_arch = "wasm32")]
mod libc;
#[cfg(target_arch = "wasm32")]
mod libc_aom;
#[cfg(target_arch = "wasm32")]
mod reply;
#[cfg(target_arch = "wasm32")]
mod source;
#[cfg(target_arch = "wasm32")]
mod throttle;
#[cfg(target_arch = "wasm32")]
mod transforming;
