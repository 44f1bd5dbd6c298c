//! SVG originals through the real router: rasterized by any transform, never served untouched
//! unless `http.svg_passthrough` allows it, and then under a policy that runs nothing.

mod support;

use axum::http::StatusCode;
use support::app::*;

fn with_logo(configure: impl FnOnce(&mut refract_server::config::Config)) -> Fixture {
    let f = fixture(configure);
    std::fs::write(f.dir.path().join("logo.svg"), sample("logo.svg")).expect("copy logo.svg");
    f
}

#[tokio::test]
async fn an_svg_original_is_rasterized_to_the_requested_size_and_format() {
    let f = with_logo(|_| {});
    let r = send(&f.app, get("/logo.svg?width=400&format=webp")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "image/webp");
    // Rendered at 400 px wide from a 240×120 document: fit=contain enlarges a vector.
    let r = send(&f.app, get("/logo.svg?width=400&fit=contain&format=webp")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.image(), ("webp".into(), 400, 200));
    // The default fit (scale-down) never enlarges, as for any image.
    let r = send(&f.app, get("/cdn-cgi/image/width=400,format=png/logo.svg")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.image(), ("png".into(), 240, 120));
    let r = send(&f.app, get("/logo.svg?width=120&format=json")).await;
    let json: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(json["original"]["format"], "image/svg+xml");
    assert_eq!(
        (json["width"].as_u64(), json["height"].as_u64()),
        (Some(120), Some(60))
    );
}

#[tokio::test]
async fn an_svg_original_is_not_served_untouched_by_default() {
    let f = with_logo(|_| {});
    let r = send(&f.app, get("/logo.svg")).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.code(), "unsupported_format");
    assert!(!r.body.windows(4).any(|w| w == b"<svg"));
}

#[tokio::test]
async fn svg_passthrough_serves_the_document_under_a_policy_that_runs_nothing() {
    let f = with_logo(|c| c.http.svg_passthrough = true);
    let r = send(&f.app, get("/logo.svg")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, sample("logo.svg"));
    assert_eq!(r.header("content-type"), "image/svg+xml");
    assert_eq!(
        r.header("content-security-policy"),
        "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    );
    assert_eq!(r.header("x-content-type-options"), "nosniff");
    // Raster originals are served as before, without the SVG policy.
    let r = send(&f.app, get("/cat-small.jpg")).await;
    assert_eq!(r.header("content-type"), "image/jpeg");
    assert!(r.headers.get("content-security-policy").is_none());
    // And options still rasterize.
    let r = send(&f.app, get("/logo.svg?width=100&format=png")).await;
    assert_eq!(r.image(), ("png".into(), 100, 50));
}
