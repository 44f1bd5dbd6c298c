//! The tiers under their budgets: filling memory and the warm directory past their byte
//! budgets keeps each within budget, demotes what warm evicts to cold, records it all in the
//! index, and serves every variant again, correctly, from the tier it ended in. And what the
//! tiers must never serve: a variant of a replaced original, or one made with other encoder
//! settings.

mod support;

use std::collections::HashMap;

use axum::http::StatusCode;
use refract_core::{Spec, VariantKey};
use refract_server::config::Config;
use refract_server::http::router;
use refract_server::index::{Presence, Record};
use refract_server::runtime::clock::Clock;
use refract_server::state::State;
use support::app::*;

#[tokio::test]
async fn budgets_hold_and_every_variant_is_served_from_its_tier() {
    let f = fixture(|_| {});
    let data = tempfile::tempdir().expect("data dir");
    let mut config = f.state.config.clone();
    config.data_dir = data.path().display().to_string();
    config.cache.memory_bytes = 48 * 1024;
    config.tiers.warm_bytes = 64 * 1024;
    let state = State::open(config.clone(), Clock::manual(1_000_000))
        .await
        .expect("state");
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
        let usage = state.tiers.usage();
        assert!(usage.memory_bytes <= 48 * 1024, "memory over budget");
        let (warm_bytes, _) = usage.warm.expect("warm tier");
        assert!(warm_bytes <= 64 * 1024, "warm over budget: {warm_bytes}");
    }
    let index = state.tiers.index().expect("index");

    // Where each variant is now, by the metadata store and by the tiers themselves.
    // Most recent first, as a page's visitors would: the newest are in memory, older ones in
    // warm, the oldest demoted to cold. Each is classified right before it is served, since
    // serving one promotes it and may push another down.
    let mut seen = HashMap::new();
    for uri in uris.iter().rev() {
        let spec = Spec::parse_query(uri.split_once('?').expect("query").1).expect("spec");
        let id = VariantKey::new("cat-small.jpg", &spec, "", &state.policy)
            .id()
            .to_owned();
        let row = index
            .get(&Record::variant_id(&id))
            .await
            .expect("index")
            .unwrap_or_else(|| panic!("no index row for {uri}"));
        let in_hot = state.tiers.in_memory(&id);
        let in_warm = state.tiers.in_warm(&id);
        assert_eq!(
            row.tiers.contains(Presence::WARM),
            in_warm,
            "{uri}: {row:?}"
        );
        assert!(
            in_warm || row.tiers.contains(Presence::COLD),
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
        let usage = state.tiers.usage();
        assert!(usage.memory_bytes <= 48 * 1024);
        assert!(usage.warm.expect("warm").0 <= 64 * 1024);
    }
    for tier in ["memory", "warm", "cold"] {
        assert!(
            seen.get(tier).copied().unwrap_or(0) > 0,
            "nothing ended in {tier}: {seen:?}"
        );
    }

    // Accesses were counted in memory and land in the metadata store on flush.
    state.tiers.flush_access().await;
    let rows = index.scan("v/", 100).await.expect("scan");
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

/// A server over the fixture's originals with memory, warm, cold and the index in the config's
/// data directory.
async fn build(config: &Config) -> (refract_server::state::AppState, axum::Router) {
    let state = State::from_config(config.clone()).await.expect("state");
    (state.clone(), router(state))
}

/// Changing an encoder setting changes the identity of every variant it shapes: the same URL
/// gets a new ETag and a fresh transform, the variant kept in warm or cold under the old
/// settings is never served, and a client holding the old ETag gets the new bytes, not a 304.
#[tokio::test]
async fn changed_encoder_settings_are_never_served_stale() {
    let f = fixture(|_| {});
    let uri = "/photos/cat.jpg?width=96&format=webp";
    type Change = fn(&mut Config);
    let changes: [(&str, Change); 2] = [
        ("default_quality", |c| c.transform.default_quality = 60),
        ("webp_method", |c| c.transform.webp_method = 6),
    ];
    for lower in ["warm", "cold"] {
        let data = tempfile::tempdir().expect("data dir");
        let mut base = f.state.config.clone();
        base.data_dir = data.path().display().to_string();
        // Nothing in memory: every hit comes from warm, or, with warm off, from cold.
        base.cache.memory_bytes = 0;
        if lower == "cold" {
            base.tiers.warm_dir = "off".into();
        }
        let (state, app) = build(&base).await;
        let first = send(&app, get(uri)).await;
        assert_eq!(first.status, StatusCode::OK);
        state.tiers.settle().await;
        let kept = send(&app, get(uri)).await;
        assert_eq!(
            kept.header("server-timing"),
            format!("cache;desc=\"{lower}\"")
        );
        assert_eq!(kept.header("etag"), first.header("etag"));
        drop((state, app));

        for (setting, change) in changes {
            let mut changed = base.clone();
            change(&mut changed);
            let (state, app) = build(&changed).await;
            let r = send(
                &app,
                get_with(uri, &[("if-none-match", first.header("etag"))]),
            )
            .await;
            let at = format!("{setting} changed, old variant in {lower}");
            assert_eq!(r.status, StatusCode::OK, "{at}: the old ETag matched");
            assert_ne!(r.header("etag"), first.header("etag"), "{at}");
            assert!(
                r.header("server-timing").starts_with("fetch;"),
                "{at}: not a fresh transform: {}",
                r.header("server-timing")
            );
            if setting == "default_quality" {
                assert_ne!(r.body, first.body, "{at}: the old bytes");
            }
            let (format, width, _) = r.image();
            assert_eq!((format.as_str(), width), ("webp", 96), "{at}");
            state.tiers.settle().await;
        }

        // A setting that cannot change WebP bytes (AVIF's speed) keeps the WebP variant.
        let mut unrelated = base.clone();
        unrelated.transform.avif_speed = 8;
        let (_, app) = build(&unrelated).await;
        let r = send(&app, get(uri)).await;
        assert_eq!(r.header("etag"), first.header("etag"), "{lower}");
        assert_eq!(r.header("server-timing"), format!("cache;desc=\"{lower}\""));
        assert_eq!(r.body, first.body);
    }

    // And AVIF's speed does change an AVIF.
    let data = tempfile::tempdir().expect("data dir");
    let mut base = f.state.config.clone();
    base.data_dir = data.path().display().to_string();
    let avif = "/photos/cat.jpg?width=64&format=avif";
    let (state, app) = build(&base).await;
    let before = send(&app, get(avif)).await;
    state.tiers.settle().await;
    base.transform.avif_speed = 8;
    let (_, app) = build(&base).await;
    let after = send(&app, get(avif)).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_ne!(after.header("etag"), before.header("etag"));
    assert!(after.header("server-timing").starts_with("fetch;"));
}
