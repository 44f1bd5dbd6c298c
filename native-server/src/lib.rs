//! Refract's native origin server: delivery of optimized images over HTTP from originals in
//! object storage, on top of `refract-core`.
//!
//! - [`config`]: the one configuration struct, layered defaults → file → env → flags;
//! - [`app`]: shared state and the routers (`fn router(state) -> Router`);
//! - [`http`]: the handlers: delivery, upload/delete, admin;
//! - [`storage`]: originals through `object_store`, every call time-bounded;
//! - [`meta`]: the metadata store (SQLite or PostgreSQL);
//! - [`pool`], [`coalesce`], [`cache`]: the CPU worker pool, single-flight and the memory tier;
//! - [`serve`]: binding, graceful shutdown; [`sign`]: `refract sign`.

pub mod app;
pub mod cache;
pub mod clock;
pub mod coalesce;
pub mod config;
pub mod error;
pub mod http;
pub mod lifecycle;
pub mod meta;
pub mod metrics;
pub mod pool;
pub mod reindex;
pub mod serve;
pub mod sign;
pub mod storage;
#[cfg(test)]
mod test_util;
pub mod tiers;
