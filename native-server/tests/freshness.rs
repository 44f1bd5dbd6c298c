//! Freshness: what deleting or purging an original's variants removes, the headers a cache in
//! front is given (`Cache-Control` by whether the URL names a version, `Cache-Tag`), `v=` as
//! part of a variant's identity, and — with PostgreSQL — two instances hearing each other's
//! changes at once.

mod support;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use refract_core::{Spec, VariantKey};
use refract_server::config::Config;
use refract_server::http::{admin_router, router};
use refract_server::index::Record;
use refract_server::runtime::clock::Clock;
use refract_server::state::{AppState, State};
use support::app::*;

const DEFAULT_CC: &str =
    "public, max-age=86400, stale-while-revalidate=3600, stale-if-error=604800";
const VERSIONED_CC: &str = "public, max-age=31536000, immutable";

/// A server with every tier (memory, warm, cold in the data dir, SQLite index) over the
/// fixture's originals.
async fn tiered(f: &Fixture, data: &std::path::Path) -> (AppState, Router, Router) {
    let mut config: Config = f.state.config.clone();
    config.data_dir = data.display().to_string();
    let state = State::open(config, Clock::System).await.expect("state");
    (state.clone(), router(state.clone()), admin_router(state))
}

fn variant(state: &AppState, key: &str, spec: &str) -> VariantKey {
    let spec = Spec::parse(spec).expect("spec");
    VariantKey::new(key, &spec, "", &state.policy)
}

/// Makes the variants, lets their background writes finish, and sends one to cold.
async fn make(state: &AppState, app: &Router, uris: &[(&str, &str)]) -> Vec<String> {
    let mut ids = Vec::new();
    for (key, spec) in uris {
        let r = send(app, get(&format!("/{key}?{spec}"))).await;
        assert_eq!(r.status, StatusCode::OK, "{key}?{spec}");
        ids.push(variant(state, key, spec).id().to_owned());
    }
    state.tiers.settle().await;
    state.tiers.demote(&ids[0], None).await.expect("demote");
    ids
}

async fn rows_of(state: &AppState, key: &str) -> usize {
    let index = state.tiers.index().expect("index");
    index.by_key(key).await.expect("by_key").len()
}

async fn stored_anywhere(state: &AppState, id: &str) -> bool {
    let cold = state.tiers.cold_ids().await.expect("cold ids");
    let row = state.tiers.index().expect("index");
    let row = row.get(&Record::variant_id(id)).await.expect("row");
    state.tiers.in_memory(id)
        || state.tiers.in_warm(id)
        || cold.iter().any(|c| c == id)
        || row.is_some()
}

fn delete(uri: &str) -> Request<Body> {
    Request::delete(uri)
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .expect("request")
}

fn post(uri: &str) -> Request<Body> {
    Request::post(uri).body(Body::empty()).expect("request")
}

#[tokio::test]
async fn deleting_an_original_removes_its_variants_from_every_tier_and_the_index() {
    let f = fixture(|_| {});
    let data = tempfile::tempdir().expect("data");
    let (state, app, _) = tiered(&f, data.path()).await;
    let doomed = make(
        &state,
        &app,
        &[
            ("photos/cat.jpg", "width=40&format=png"),
            ("photos/cat.jpg", "width=50&format=webp"),
            ("photos/cat.jpg", "width=60"),
        ],
    )
    .await;
    let kept = make(&state, &app, &[("cat-small.jpg", "width=40&format=png")]).await;
    assert!(state
        .tiers
        .cold_ids()
        .await
        .expect("cold")
        .contains(&doomed[0]));
    assert_eq!(rows_of(&state, "photos/cat.jpg").await, 3);

    // Downloaded untouched just before: the read's pending access must not bring the
    // original's row back when access times are flushed after the delete.
    let r = send(&app, get("/photos/cat.jpg")).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(&app, delete("/photos/cat.jpg")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    state.tiers.flush_access().await;
    for id in &doomed {
        assert!(!stored_anywhere(&state, id).await, "{id} is still stored");
    }
    assert_eq!(rows_of(&state, "photos/cat.jpg").await, 0);
    assert!(
        stored_anywhere(&state, &kept[0]).await,
        "another original's variant went too"
    );
    let r = send(&app, get("/photos/cat.jpg?width=40&format=png")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_admin_listener_purges_by_key_and_by_prefix() {
    let f = fixture(|_| {});
    let data = tempfile::tempdir().expect("data");
    let (state, app, admin) = tiered(&f, data.path()).await;
    let under = make(
        &state,
        &app,
        &[
            ("photos/cat.jpg", "width=40&format=png"),
            ("photos/cat.jpg", "width=50"),
        ],
    )
    .await;
    let other = make(&state, &app, &[("cat-small.jpg", "width=40&format=png")]).await;

    let r = send(&admin, post("/purge?prefix=photos/")).await;
    assert_eq!(r.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(body, serde_json::json!({ "purged": 2 }));
    for id in &under {
        assert!(
            !stored_anywhere(&state, id).await,
            "{id} survived the purge"
        );
    }
    assert!(stored_anywhere(&state, &other[0]).await);
    // The original stays: asked again, the variant is made again (not a hit).
    let r = send(&app, get("/photos/cat.jpg?width=50")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        !r.header("server-timing").starts_with("cache"),
        "served a purged copy"
    );

    let r = send(&admin, post("/purge?key=cat-small.jpg")).await;
    assert_eq!(r.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(body, serde_json::json!({ "purged": 1 }));
    assert!(!stored_anywhere(&state, &other[0]).await);

    for uri in [
        "/purge",
        "/purge?key=",
        "/purge?key=a.jpg&prefix=b/",
        "/purge?all=1",
    ] {
        let r = send(&admin, post(uri)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(r.code(), "bad_purge", "{uri}");
    }
    let r = send(&admin, get("/purge?key=cat-small.jpg")).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn cache_headers_say_how_long_and_name_the_original() {
    let f = fixture(|c| {
        c.signing.keys = vec![SECRET.into()];
        c.signing.allowed_widths = vec![50];
        c.signing.originals = "public".into();
    });
    let original = sample("cat-small.jpg");
    let sign = |spec: &str| {
        let spec = Spec::parse(spec).expect("spec");
        refract_core::url::signature(SECRET.as_bytes(), "photos/cat.jpg", &spec)
    };
    let cases = [
        ("/photos/cat.jpg?w=50".to_owned(), DEFAULT_CC),
        (
            format!("/photos/cat.jpg?w=60&sig={}", sign("width=60")),
            DEFAULT_CC,
        ),
        (
            format!("/photos/cat.jpg?w=60&v=3&sig={}", sign("width=60,v=3")),
            VERSIONED_CC,
        ),
        (
            format!(
                "/cdn-cgi/image/w=60/photos/cat.jpg?v=3&sig={}",
                sign("width=60,v=3")
            ),
            VERSIONED_CC,
        ),
        ("/photos/cat.jpg".to_owned(), DEFAULT_CC),
        ("/photos/cat.jpg?v=7".to_owned(), VERSIONED_CC),
    ];
    for (uri, cc) in &cases {
        let r = send(&f.app, get(uri)).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.header("cache-control"), *cc, "{uri}");
        assert_eq!(r.header("cache-tag"), "photos/cat.jpg,photos/", "{uri}");
    }
    // `v=` alone is the original untouched.
    let r = send(&f.app, get("/photos/cat.jpg?v=7")).await;
    assert_eq!(r.body.as_ref(), original.as_slice());
    // A 304 carries the same headers.
    let r = send(&f.app, get(&cases[0].0)).await;
    let etag = r.header("etag").to_owned();
    let r = send(&f.app, get_with(&cases[0].0, &[("if-none-match", &etag)])).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert_eq!(r.header("cache-tag"), "photos/cat.jpg,photos/");
    assert_eq!(r.header("cache-control"), DEFAULT_CC);
    // An unsigned version would mint cache entries at will: it needs a signature.
    let r = send(&f.app, get("/photos/cat.jpg?w=50&v=3")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "signature_required");
}

#[tokio::test]
async fn a_version_is_part_of_the_variant_in_both_grammars() {
    let f = fixture(|_| {});
    let a = send(&f.app, get("/photos/cat.jpg?w=50&v=1")).await;
    let plain = send(&f.app, get("/photos/cat.jpg?w=50")).await;
    let b = send(&f.app, get("/cdn-cgi/image/w=50/photos/cat.jpg?v=2")).await;
    let a_again = send(&f.app, get("/cdn-cgi/image/width=50,v=1/photos/cat.jpg")).await;
    for r in [&a, &plain, &b, &a_again] {
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.image().0, "jpeg");
        assert_eq!(r.image().1, 50);
    }
    let etags = [&a, &plain, &b].map(|r| r.header("etag").to_owned());
    assert!(
        etags[0] != etags[1] && etags[1] != etags[2] && etags[0] != etags[2],
        "{etags:?}"
    );
    // The same version through the other grammar is the same variant, from the cache.
    assert_eq!(a_again.header("etag"), etags[0]);
    assert!(a_again.header("server-timing").starts_with("cache"));
    let r = send(&f.app, get("/photos/cat.jpg?w=50&v=a%2Fb")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "invalid_value");
}

#[tokio::test]
async fn a_cached_result_is_served_while_storage_is_down() {
    use object_store::memory::InMemory;
    use object_store::throttle::{ThrottleConfig, ThrottledStore};
    use object_store::ObjectStoreExt;
    // Every hit checks its original (revalidate 0), and storage answers within 300 ms.
    let base = fixture(|c| {
        c.cache.revalidate_secs = 0;
        c.storage.timeout_ms = 300;
    });
    let memory = InMemory::new();
    let path = object_store::path::Path::from("photos/cat.jpg");
    memory
        .put(&path, sample("cat-small.jpg").into())
        .await
        .expect("put");
    let store = std::sync::Arc::new(ThrottledStore::new(memory, ThrottleConfig::default()));
    let config = base.state.config.clone();
    let f = fixture_with_store(base.dir, config, store.clone(), false);
    let uri = "/photos/cat.jpg?width=40&format=png";
    let made = send(&f.app, get(uri)).await;
    assert_eq!(made.status, StatusCode::OK);
    store.config_mut(|c| c.wait_get_per_call = Duration::from_secs(3600));
    // Storage does not answer: the cached result is served as it is (stale-if-error) ...
    let stale = send(&f.app, get(uri)).await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(stale.body, made.body);
    assert_eq!(stale.header("server-timing"), "cache;desc=\"memory\"");
    // ... while what is not cached is a clean 503.
    let r = send(&f.app, get("/photos/cat.jpg?width=41&format=png")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.code(), "storage_unavailable");
}

/// Two `refract serve` processes sharing a PostgreSQL metadata store, an originals directory
/// and a cold directory; their memory hits are trusted for an hour, so only the fleet channel
/// can make one see the other's changes.
#[tokio::test]
#[ignore = "needs PostgreSQL: run by tests/run.sh"]
async fn two_instances_hear_each_others_replacements_deletes_and_purges() {
    use support::pg::PgServer;
    use support::process::{client, Serve};

    let root = tempfile::tempdir().expect("root");
    let originals = root.path().join("originals");
    std::fs::create_dir_all(originals.join("photos")).expect("originals");
    std::fs::write(originals.join("photos/cat.jpg"), sample("cat-small.jpg")).expect("cat");
    let pg = PgServer::start();
    let start = |name: &str| {
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        Serve::new(&dir)
            .args(["--originals", &originals.display().to_string()])
            .env("REFRACT_META__URL", &pg.url)
            .env("REFRACT_TIERS__COLD", root.path().join("cold"))
            .env("REFRACT_CACHE__REVALIDATE_SECS", "3600")
            .env("REFRACT_UPLOAD__TOKEN", TOKEN)
            .start()
    };
    let (a, b) = (start("a"), start("b"));
    let http = client();
    let fetch = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.expect("request");
            let status = r.status().as_u16();
            let timing = r
                .headers()
                .get("server-timing")
                .map(|v| v.to_str().expect("ascii").to_owned())
                .unwrap_or_default();
            (status, timing, r.bytes().await.expect("body").to_vec())
        }
    };
    // Bounded polling of a condition; never a sleep standing in for one.
    async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check().await {
            assert!(Instant::now() < deadline, "gave up waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let notes = |server: &support::process::Server| {
        let (http, url) = (http.clone(), server.admin_url("/metrics"));
        async move {
            let text = http
                .get(url)
                .send()
                .await
                .expect("metrics")
                .text()
                .await
                .expect("text");
            text.lines()
                .filter(|l| l.starts_with("refract_fleet_notes_total{direction=\"received\"}"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>() as u64
        }
    };
    for s in [&a, &b] {
        let url = s.admin_url("/ready");
        until("both instances ready and listening", async || {
            http.get(url.clone())
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
    }

    // Both instances hold the variant in memory.
    let uri = "/photos/cat.jpg?width=48&format=png";
    let old_a = fetch(a.url(uri)).await;
    let old_b = fetch(b.url(uri)).await;
    assert_eq!((old_a.0, old_b.0), (200, 200));
    let hit = fetch(b.url(uri)).await;
    assert_eq!(hit.1, "cache;desc=\"memory\"");

    // Replaced through A: B hears of it and makes the variant again from the new original.
    let heard = notes(&b).await;
    let put = http
        .put(a.url("/photos/cat.jpg"))
        .bearer_auth(TOKEN)
        .body(sample("logo-alpha.png"))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 201);
    until("B hears of the replacement", async || {
        notes(&b).await > heard
    })
    .await;
    let fresh = fetch(b.url(uri)).await;
    assert_eq!(fresh.0, 200);
    assert_ne!(fresh.2, old_b.2, "B served the replaced original's variant");
    assert!(!fresh.1.starts_with("cache"), "{}", fresh.1);
    let via_a = fetch(a.url(uri)).await;
    assert_eq!(via_a.2, fresh.2, "the instances disagree");

    // Deleted through B: A forgets its copies, every tier and the index lose the variants.
    let index = refract_server::index::Index::open(&pg.url)
        .await
        .expect("index");
    until("the variant's row in the index", async || {
        let rows = index.by_key("photos/cat.jpg").await.expect("rows");
        rows.iter()
            .any(|r| r.class == refract_server::index::Class::Variant)
    })
    .await;
    let heard = notes(&a).await;
    let del = http
        .delete(b.url("/photos/cat.jpg"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("delete");
    assert_eq!(del.status(), 204);
    until("A hears of the delete", async || notes(&a).await > heard).await;
    assert_eq!(fetch(a.url(uri)).await.0, 404);
    assert!(index
        .by_key("photos/cat.jpg")
        .await
        .expect("rows")
        .is_empty());
    for dir in ["a/data/warm", "b/data/warm", "cold"] {
        let files = walk(&root.path().join(dir));
        assert!(files.is_empty(), "{dir} still holds {files:?}");
    }

    // A purge through A's admin listener drops B's memory copy too.
    std::fs::write(originals.join("photos/cat.jpg"), sample("cat-small.jpg")).expect("cat");
    assert_eq!(fetch(b.url(uri)).await.0, 200);
    assert_eq!(fetch(b.url(uri)).await.1, "cache;desc=\"memory\"");
    // A purge removes what is stored when it runs (a variant being written meanwhile may
    // survive it): wait for B's write to be in the index.
    until("B's variant row in the index", async || {
        let rows = index.by_key("photos/cat.jpg").await.expect("rows");
        rows.iter()
            .any(|r| r.class == refract_server::index::Class::Variant)
    })
    .await;
    let heard = notes(&b).await;
    let purge = http
        .post(a.admin_url("/purge?prefix=photos/"))
        .send()
        .await
        .expect("purge");
    assert_eq!(purge.status(), 200);
    until("B hears of the purge", async || notes(&b).await > heard).await;
    let after = fetch(b.url(uri)).await;
    assert_eq!(after.0, 200);
    assert!(
        !after.1.starts_with("cache"),
        "B served a purged copy: {}",
        after.1
    );
    assert!(walk(&root.path().join("a/data/warm")).is_empty());
}

/// Every regular file under `dir` (none when it does not exist).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
