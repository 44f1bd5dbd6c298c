//! The tiers under their budgets: filling memory and the warm directory past their byte
//! budgets keeps each within budget, demotes what warm evicts to cold, records it all in the
//! metadata store, and serves every variant again, correctly, from the tier it ended in.

mod common;

use std::collections::HashMap;

use axum::http::StatusCode;
use common::*;
use refract_server::app::{router, State};
use refract_server::clock::Clock;
use refract_server::meta::Tiers as Present;
use refract_server::storage::Originals;
use refract_server::tiers::{variant_id, variant_record_id, Tiers};

#[tokio::test]
async fn budgets_hold_and_every_variant_is_served_from_its_tier() {
    let f = fixture(|_| {});
    let data = tempfile::tempdir().expect("data dir");
    let mut config = f.state.config.clone();
    config.data_dir = data.path().display().to_string();
    config.cache.memory_bytes = 48 * 1024;
    config.tiers.warm_bytes = 64 * 1024;
    let tiers = Tiers::open(&config, Clock::manual(1_000_000))
        .await
        .expect("tiers");
    let originals = Originals::from_config(&config).expect("originals");
    let state = State::with_tiers(config.clone(), originals, tiers).expect("state");
    let app = router(state.clone());

    // 30 distinct variants of about 2–6 KB each: well past both budgets together.
    let uris: Vec<String> = (0..30)
        .map(|i| format!("/cat-small.jpg?width={}&format=webp", 120 + i * 5))
        .collect();
    let mut first = HashMap::new();
    for uri in &uris {
        let r = send(&app, get(uri)).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        first.insert(uri.clone(), r.body.clone());
        state.tiers.settle().await;
        assert!(state.tiers.hot.bytes() <= 48 * 1024, "memory over budget");
        let warm = state.tiers.warm.as_ref().expect("warm tier");
        assert!(
            warm.bytes() <= 64 * 1024,
            "warm over budget: {}",
            warm.bytes()
        );
    }
    let meta = state.tiers.meta.as_ref().expect("metadata");

    // Where each variant is now, by the metadata store and by the tiers themselves.
    // Most recent first, as a page's visitors would: the newest are in memory, older ones in
    // warm, the oldest demoted to cold. Each is classified right before it is served, since
    // serving one promotes it and may push another down.
    let mut seen = HashMap::new();
    for uri in uris.iter().rev() {
        let cache_key = format!(
            "cat-small.jpg\n{}\n-",
            refract_core::Spec::parse_query(uri.split_once('?').expect("query").1).expect("spec")
        );
        let id = variant_id(&cache_key);
        let row = meta
            .get(&variant_record_id(&id))
            .await
            .expect("meta")
            .unwrap_or_else(|| panic!("no metadata for {uri}"));
        let in_hot = state.tiers.hot.get(&cache_key).is_some();
        let in_warm = state.tiers.warm.as_ref().expect("warm").contains(&id);
        assert_eq!(row.tiers.contains(Present::WARM), in_warm, "{uri}: {row:?}");
        assert!(
            in_warm || row.tiers.contains(Present::COLD),
            "{uri} lost: {row:?}"
        );
        let expected = if in_hot {
            "memory"
        } else if in_warm {
            "warm"
        } else {
            "cold"
        };
        *seen.entry(expected).or_insert(0) += 1;

        // Served again: same bytes, from the tier it was in.
        let again = send(&app, get(uri)).await;
        assert_eq!(again.status, StatusCode::OK, "{uri}");
        assert_eq!(again.body, first[uri], "{uri} changed");
        assert_eq!(
            again.header("server-timing"),
            format!("cache;desc=\"{expected}\""),
            "{uri}"
        );
        state.tiers.settle().await;
        assert!(state.tiers.hot.bytes() <= 48 * 1024);
        assert!(state.tiers.warm.as_ref().expect("warm").bytes() <= 64 * 1024);
    }
    for tier in ["memory", "warm", "cold"] {
        assert!(
            seen.get(tier).copied().unwrap_or(0) > 0,
            "nothing ended in {tier}: {seen:?}"
        );
    }

    // Accesses were counted in memory and land in the metadata store on flush.
    state.tiers.flush_access().await;
    let rows = meta.scan("v/", 100).await.expect("scan");
    assert_eq!(rows.len(), 30);
    assert!(
        rows.iter()
            .all(|r| r.hits >= 1 && r.last_access_ms == 1_000_000),
        "{rows:?}"
    );
}

#[tokio::test]
async fn a_replaced_original_is_never_served_from_a_lower_tier() {
    let f = fixture(|_| {});
    let data = tempfile::tempdir().expect("data dir");
    let mut config = f.state.config.clone();
    config.data_dir = data.path().display().to_string();
    config.cache.memory_bytes = 0; // every hit comes from the warm tier
    let build = |config: &refract_server::config::Config| {
        let config = config.clone();
        async move {
            let tiers = Tiers::open(&config, Clock::System).await.expect("tiers");
            let originals = Originals::from_config(&config).expect("originals");
            let state = State::with_tiers(config, originals, tiers).expect("state");
            (state.clone(), router(state))
        }
    };
    let (state, app) = build(&config).await;
    let uri = "/photos/cat.jpg?width=64&format=png";
    let before = send(&app, get(uri)).await;
    state.tiers.settle().await;
    let hit = send(&app, get(uri)).await;
    assert_eq!(hit.header("server-timing"), "cache;desc=\"warm\"");
    // Replace the original behind the server's back (no upload through it).
    std::fs::write(
        f.dir.path().join("photos/cat.jpg"),
        sample("orientation-6.jpg"),
    )
    .expect("replace");
    let after = send(&app, get(uri)).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_ne!(after.body, before.body, "stale variant served");
    assert_ne!(after.header("etag"), before.header("etag"));
}
