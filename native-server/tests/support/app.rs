//! The router in process: a state over a temporary directory of real samples, and a one-call
//! way to send a request through it.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use refract_server::config::Config;
use refract_server::http::router;
use refract_server::originals::Originals;
use refract_server::state::{AppState, State};
use tower::ServiceExt;

#[allow(unused_imports)]
pub use super::sample;

pub const TOKEN: &str = "test-upload-token-0123";
pub const SECRET: &str = "test-signing-secret-0123";

/// A directory with a few samples, and the server state over it.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub state: AppState,
    pub app: Router,
}

pub fn fixture(configure: impl FnOnce(&mut Config)) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["cat-small.jpg", "logo-alpha.png", "orientation-6.jpg"] {
        std::fs::write(dir.path().join(name), sample(name)).expect("copy sample");
    }
    std::fs::create_dir(dir.path().join("photos")).expect("mkdir");
    std::fs::write(dir.path().join("photos/cat.jpg"), sample("cat-small.jpg")).expect("copy");
    std::fs::write(
        dir.path().join("notes.txt"),
        b"just some text, not an image\n",
    )
    .expect("txt");
    let jpeg = sample("cat-small.jpg");
    std::fs::write(dir.path().join("truncated.jpg"), &jpeg[..jpeg.len() / 3]).expect("trunc");

    let mut config = Config {
        originals: dir.path().display().to_string(),
        ..Config::default()
    };
    config.upload.token = Some(TOKEN.into());
    config
        .presets
        .insert("thumb".into(), "width=64,height=64,fit=cover".into());
    configure(&mut config);
    let fs = LocalFileSystem::new_with_prefix(dir.path()).expect("fs");
    fixture_with_store(dir, config, Arc::new(fs), true)
}

pub fn fixture_with_store(
    dir: tempfile::TempDir,
    config: Config,
    store: Arc<dyn ObjectStore>,
    local: bool,
) -> Fixture {
    let originals = Originals::new(
        store,
        "",
        Duration::from_millis(config.storage.timeout_ms),
        config.limits.max_input_bytes,
        local,
    );
    let state = State::with_originals(config, originals).expect("state");
    let app = router(state.clone());
    Fixture { dir, state, app }
}

/// A second server state over the same directory as `f`, with nothing cached.
pub fn fresh_app(f: &Fixture) -> (AppState, Router) {
    let fs = LocalFileSystem::new_with_prefix(f.dir.path()).expect("fs");
    let config = f.state.config.clone();
    let originals = Originals::new(
        Arc::new(fs),
        "",
        Duration::from_millis(config.storage.timeout_ms),
        config.limits.max_input_bytes,
        true,
    );
    let state = State::with_originals(config, originals).expect("state");
    (state.clone(), router(state))
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header"))
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    /// The JSON error body's `code`.
    pub fn code(&self) -> String {
        assert_eq!(self.header("content-type"), "application/json");
        let v: serde_json::Value = serde_json::from_slice(&self.body).expect("json body");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        v["code"].as_str().expect("code").to_owned()
    }

    /// Format and size read from the body's header.
    pub fn image(&self) -> (String, u32, u32) {
        if self.body.get(4..12) == Some(b"ftypavif".as_slice()) {
            let img = image_size_of_avif(&self.body);
            return ("avif".into(), img.0, img.1);
        }
        let h = refract_core::decode::probe(&self.body, &refract_core::Limits::default())
            .expect("decodable body");
        (h.format.name().to_ascii_lowercase(), h.width, h.height)
    }
}

/// Width and height from an AVIF's `ispe` box.
fn image_size_of_avif(bytes: &[u8]) -> (u32, u32) {
    let at = bytes
        .windows(4)
        .position(|w| w == b"ispe")
        .expect("ispe box");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    (be(at + 8), be(at + 12))
}

pub async fn send(app: &Router, req: Request<Body>) -> Reply {
    let res = app.clone().oneshot(req).await.expect("infallible");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

pub fn get_with(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::get(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::empty()).expect("request")
}

pub fn put(
    uri: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Body,
) -> Request<Body> {
    let mut b = Request::put(uri);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    b.body(body).expect("request")
}
