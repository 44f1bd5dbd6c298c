//! The playground (`/_refract/playground/`): the page and its assets with their content types
//! and policy, on by default on loopback and 404 when off, the listing of originals (bounded,
//! nothing outside the originals' prefix), and the `http.playground` setting in each layer.
//! The page's behaviour in a browser is `tests/e2e-playground.mjs`.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use object_store::local::LocalFileSystem;
use refract_server::config::{Config, PlaygroundMode};
use refract_server::http::playground::{PAGE_CSP, PATH};
use support::app::*;

const PAGE: &str = "/_refract/playground/";

fn assets() -> [(String, &'static str, &'static str); 3] {
    [
        (
            PAGE.into(),
            "text/html; charset=utf-8",
            "<script src=\"?asset=playground.js\"",
        ),
        (
            format!("{PAGE}?asset=playground.js"),
            "text/javascript; charset=utf-8",
            "textContent",
        ),
        (
            format!("{PAGE}?asset=playground.css"),
            "text/css; charset=utf-8",
            ".stage",
        ),
    ]
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_on_loopback_by_default() {
    assert_eq!(PATH, PAGE);
    let f = fixture(|_| {});
    assert_eq!(f.state.config.http.playground, PlaygroundMode::Auto);
    assert!(f.state.config.listen.ip().is_loopback());
    for (uri, content_type, needle) in assets() {
        let r = send(&f.app, get(&uri)).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.header("content-type"), content_type, "{uri}");
        assert_eq!(r.header("content-security-policy"), PAGE_CSP, "{uri}");
        assert_eq!(r.header("x-content-type-options"), "nosniff", "{uri}");
        let text = std::str::from_utf8(&r.body).expect("utf-8");
        assert!(text.contains(needle), "{uri} lacks {needle:?}");
    }
    // Only this origin, nothing inline.
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
    ] {
        assert!(PAGE_CSP.contains(directive), "{directive}");
    }
    assert!(!PAGE_CSP.contains("unsafe"));
    let html = send(&f.app, get(PAGE)).await;
    let html = std::str::from_utf8(&html.body).expect("utf-8");
    assert!(!html.contains("<script>") && !html.contains(" style="));
    assert!(!html.contains("http://") && !html.contains("https://"));
    // The script never turns strings into markup or code.
    let js = send(&f.app, get(&format!("{PAGE}?asset=playground.js"))).await;
    let js = std::str::from_utf8(&js.body).expect("utf-8");
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "localStorage",
        "sessionStorage",
    ] {
        assert!(!js.contains(sink), "playground.js uses {sink}");
    }
    // An unknown resource of the page is 404, and delivery still answers everything else.
    let r = send(&f.app, get(&format!("{PAGE}?asset=../../etc/passwd"))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(&f.app, get("/cat-small.jpg?width=50&format=png")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.image(), ("png".into(), 50, 33));
}

#[tokio::test]
async fn every_control_has_a_label() {
    let f = fixture(|_| {});
    let r = send(&f.app, get(PAGE)).await;
    let html = std::str::from_utf8(&r.body).expect("utf-8");
    let mut controls = 0;
    for tag in ["<input", "<select", "<textarea"] {
        for (at, _) in html.match_indices(tag) {
            let rest = &html[at..];
            let id = rest
                .split("id=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_else(|| panic!("a control without an id at {at}"));
            assert!(
                html.contains(&format!("<label for=\"{id}\"")),
                "no <label for=\"{id}\">"
            );
            controls += 1;
        }
    }
    assert!(controls >= 17, "{controls} controls");
}

#[tokio::test]
async fn off_and_auto_off_loopback_are_404() {
    let public: SocketAddr = "0.0.0.0:8080".parse().expect("addr");
    for (mode, listen) in [
        (PlaygroundMode::Off, None),
        (PlaygroundMode::Auto, Some(public)),
    ] {
        let f = fixture(|c| {
            c.http.playground = mode;
            if let Some(l) = listen {
                c.listen = l;
            }
        });
        for (uri, _, _) in assets() {
            let r = send(&f.app, get(&uri)).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{mode:?} {uri}");
            assert_eq!(r.code(), "not_found");
        }
        let r = send(&f.app, get(&format!("{PAGE}?list"))).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    // `on` serves it whatever the address.
    let f = fixture(|c| {
        c.http.playground = PlaygroundMode::On;
        c.listen = public;
    });
    assert_eq!(send(&f.app, get(PAGE)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_bare_path_redirects_unless_an_original_has_that_key() {
    let f = fixture(|_| {});
    let r = send(&f.app, get("/_refract/playground")).await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.header("location"), PAGE);
    // An original at that key is served as any other: the playground hides no image.
    std::fs::create_dir(f.dir.path().join("_refract")).expect("mkdir");
    std::fs::write(
        f.dir.path().join("_refract/playground"),
        sample("cat-small.jpg"),
    )
    .expect("write");
    let r = send(&f.app, get("/_refract/playground")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, sample("cat-small.jpg"));
    // And the page's own path can never be a key: its last segment is empty.
    assert!(refract_core::url::decode_key(PAGE.trim_start_matches('/')).is_err());
}

fn listing(body: &[u8]) -> (Vec<(String, u64)>, bool, serde_json::Value) {
    let v: serde_json::Value = serde_json::from_slice(body).expect("json");
    let keys = v["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|e| {
            (
                e["key"].as_str().expect("key").to_owned(),
                e["size"].as_u64().expect("size"),
            )
        })
        .collect();
    let truncated = v["truncated"].as_bool().expect("truncated");
    (keys, truncated, v)
}

#[tokio::test]
async fn the_listing_names_image_originals_only() {
    let f = fixture(|_| {});
    let r = send(&f.app, get(&format!("{PAGE}?list"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.header("cache-control"), "no-store");
    let (keys, truncated, v) = listing(&r.body);
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "cat-small.jpg",
            "logo-alpha.png",
            "orientation-6.jpg",
            "photos/cat.jpg",
            "truncated.jpg"
        ],
        "no notes.txt"
    );
    assert_eq!(keys[0].1, sample("cat-small.jpg").len() as u64);
    assert!(!truncated);
    assert_eq!(v["upload"], true);
    assert_eq!(v["signing"], false);
}

#[tokio::test]
async fn the_listing_is_bounded_and_stays_inside_the_prefix() {
    let dir = tempfile::tempdir().expect("dir");
    let inside = dir.path().join("originals");
    std::fs::create_dir_all(inside.join("deep")).expect("mkdir");
    let jpeg = sample("cat-small.jpg");
    for i in 0..230 {
        std::fs::write(inside.join(format!("img-{i:03}.jpg")), &jpeg).expect("write");
    }
    std::fs::write(inside.join("deep/nested.jpg"), &jpeg).expect("write");
    // Beside the prefix: never listed.
    std::fs::write(dir.path().join("outside.jpg"), &jpeg).expect("write");
    std::fs::create_dir(dir.path().join("originals-2")).expect("mkdir");
    std::fs::write(dir.path().join("originals-2/sibling.jpg"), &jpeg).expect("write");

    let config = Config::default();
    let fs = LocalFileSystem::new_with_prefix(dir.path()).expect("fs");
    let originals = refract_server::originals::Originals::new(
        Arc::new(fs),
        "originals",
        std::time::Duration::from_secs(10),
        config.limits.max_input_bytes,
        true,
    );
    let state = refract_server::state::State::with_originals(config, originals).expect("state");
    let app = refract_server::http::router(state);
    let r = send(&app, get(&format!("{PAGE}?list"))).await;
    assert_eq!(r.status, StatusCode::OK);
    let (keys, truncated, v) = listing(&r.body);
    assert_eq!(keys.len(), 200, "bounded");
    assert!(truncated);
    assert_eq!(v["upload"], false);
    assert_eq!(
        keys[0].0, "deep/nested.jpg",
        "keys are relative to the prefix"
    );
    for (key, _) in &keys {
        assert!(
            key.starts_with("img-") || key == "deep/nested.jpg",
            "{key} is outside the originals"
        );
    }
    // A listed key is that original.
    let r = send(&app, get("/deep/nested.jpg?width=20&format=png")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.image(), ("png".into(), 20, 13));
}

#[test]
fn the_setting_loads_from_each_layer() {
    let f = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(f.path(), "[http]\nplayground = \"off\"\n").expect("write");
    let c = Config::load(Some(f.path()), Vec::new(), &[]).expect("file");
    assert_eq!(c.http.playground, PlaygroundMode::Off);
    let env = vec![("REFRACT_HTTP__PLAYGROUND".to_owned(), "on".to_owned())];
    let c = Config::load(Some(f.path()), env, &[]).expect("env");
    assert_eq!(c.http.playground, PlaygroundMode::On);
    std::fs::write(f.path(), "[http]\nplayground = \"maybe\"\n").expect("write");
    let e = Config::load(Some(f.path()), Vec::new(), &[]).expect_err("bad value");
    assert!(e.to_string().contains("maybe"), "{e}");
    let sample_config =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/refract.toml");
    let c = Config::load(Some(&sample_config), Vec::new(), &[]).expect("sample");
    assert_eq!(c.http.playground, PlaygroundMode::Auto);
}
