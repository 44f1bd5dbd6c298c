//! Refract's native origin server and command-line tool, on top of `refract-core`. The
//! modules follow the data path of a request (see `docs/architecture.md`):
//!
//! - [`http`]: the route table and handlers (delivery, upload/delete, admin), over
//!   [`state`], the shared state; [`error`] is their one error type and status/code table;
//! - [`originals`]: originals in object storage, opened by [`objects`];
//! - [`tiers`]: the chain memory → warm → cold that keeps variants, and its moves;
//! - [`index`]: the metadata store (SQLite or PostgreSQL) the tiers keep in step;
//! - [`lifecycle`]: policies, the planner, the sweeper and reindexing;
//! - [`runtime`]: the CPU pool, coalescing, the background runner, clocks;
//! - [`config`]: the one configuration struct; [`metrics`]: every metric name;
//! - [`cli`]: the `refract` command, one file per command group.

pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod index;
pub mod lifecycle;
pub mod metrics;
pub mod objects;
pub mod originals;
pub mod runtime;
pub mod state;
pub mod tiers;
