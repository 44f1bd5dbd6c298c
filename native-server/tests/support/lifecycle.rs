//! What the lifecycle tests share: a populated server state over the fixture, and the check
//! that metadata and tiers agree.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use refract_server::config::Config;
use refract_server::http::router;
use refract_server::index::{Class, Presence, Record};
use refract_server::runtime::background::Background;
use refract_server::runtime::clock::Clock;
use refract_server::state::State;
use refract_server::tiers::Chain;

use super::app::{get, send, Fixture};

/// Variants to cold after a week without a request, deleted after 90 days.
pub const VARIANT_POLICY: &str = r#"
[[rule]]
id = "variants"
filter = { class = "variant" }
actions = [
  { type = "demote", to = "cold", days_since_access = 7 },
  { type = "expire", days_since_access = 90 },
]
"#;

pub const WIDTHS: [u32; 6] = [60, 70, 80, 90, 100, 110];

/// A server state over the fixture's originals with warm, cold and SQLite in `data`, and
/// `WIDTHS.len()` variants made through it, written down and flushed.
pub async fn populated(f: &Fixture, data: &Path, clock: &Clock) -> (Config, Arc<State>) {
    let mut config = f.state.config.clone();
    config.data_dir = data.display().to_string();
    config.lifecycle.batch = 2;
    let state = State::open(config.clone(), clock.clone())
        .await
        .expect("state");
    let app = router(state.clone());
    for w in WIDTHS {
        let r = send(&app, get(&format!("/cat-small.jpg?width={w}&format=png"))).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    state.tiers.settle().await;
    state.tiers.flush_access().await;
    (config, state)
}

/// Metadata and tiers agree: every row's tiers exist, every stored variant has a row, and
/// nothing is pending.
pub async fn assert_consistent(config: &Config) -> (usize, usize) {
    let chain = Chain::open(config, Clock::System, Background::new())
        .await
        .expect("reopen tiers");
    let index = chain.index().expect("index");
    let rows = index.scan("", 10_000).await.expect("scan");
    let cold_ids = chain.cold_ids().await.expect("cold ids");
    let (mut in_warm, mut in_cold) = (0, 0);
    for r in rows.iter().filter(|r| r.class == Class::Variant) {
        assert_eq!(r.pending, None, "{r:?}");
        let id = Record::variant_id_of(&r.id).expect("variant id");
        assert_eq!(
            chain.in_warm(id),
            r.tiers.contains(Presence::WARM),
            "warm vs row: {r:?}"
        );
        assert_eq!(
            cold_ids.iter().any(|c| c == id),
            r.tiers.contains(Presence::COLD),
            "cold vs row: {r:?}"
        );
        assert!(
            r.tiers.contains(Presence::WARM) || r.tiers.contains(Presence::COLD),
            "{r:?}"
        );
        in_warm += usize::from(r.tiers.contains(Presence::WARM));
        in_cold += usize::from(r.tiers.contains(Presence::COLD));
    }
    for id in chain.warm_ids().into_iter().chain(cold_ids) {
        assert!(
            rows.iter().any(|r| r.id == format!("v/{id}")),
            "orphan {id}"
        );
    }
    (in_warm, in_cold)
}
