//! Delivery of originals and variants through the real router (`oneshot`) over a real
//! directory of samples: both grammars, negotiation, validators and 304s, JSON, and every
//! client mistake's status and code.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use support::app::*;

#[tokio::test]
async fn no_options_serves_the_original_untouched() {
    let f = fixture(|_| {});
    let r = send(&f.app, get("/photos/cat.jpg")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, sample("cat-small.jpg"));
    assert_eq!(r.header("content-type"), "image/jpeg");
    assert_eq!(r.header("content-length"), r.body.len().to_string());
    assert_eq!(
        r.header("cache-control"),
        "public, max-age=86400, stale-while-revalidate=3600, stale-if-error=604800"
    );
    assert!(r.header("etag").starts_with('"'));
    assert!(r.headers.get("vary").is_none());
    let again = send(
        &f.app,
        get_with("/photos/cat.jpg", &[("if-none-match", r.header("etag"))]),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
}

#[tokio::test]
async fn both_grammars_give_the_same_result() {
    let f = fixture(|_| {});
    let q = send(&f.app, get("/photos/cat.jpg?width=100&format=webp")).await;
    let p = send(
        &f.app,
        get("/cdn-cgi/image/format=webp,w=100/photos/cat.jpg"),
    )
    .await;
    assert_eq!(q.status, StatusCode::OK);
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(q.image().0, "webp");
    assert_eq!(q.image().1, 100);
    assert_eq!(q.header("content-type"), "image/webp");
    assert_eq!(q.header("etag"), p.header("etag"));
    assert_eq!(q.body, p.body);
    assert_eq!(q.header("content-length"), q.body.len().to_string());
    // One identity: the second grammar's request is the first one's cached variant.
    assert!(q.header("server-timing").starts_with("fetch;"));
    assert_eq!(p.header("server-timing"), "cache;desc=\"memory\"");
    assert_eq!(f.state.tiers.usage().memory_entries, 1);
}

#[tokio::test]
async fn format_auto_negotiates_and_varies_on_accept() {
    let f = fixture(|_| {});
    let uri = "/cat-small.jpg?width=80&format=auto";
    let avif = send(
        &f.app,
        get_with(uri, &[("accept", "image/avif,image/webp,*/*")]),
    )
    .await;
    let webp = send(&f.app, get_with(uri, &[("accept", "image/webp,*/*")])).await;
    let jpeg = send(&f.app, get_with(uri, &[("accept", "*/*")])).await;
    let png = send(&f.app, get("/logo-alpha.png?width=80&format=auto")).await;
    assert_eq!((avif.image().0.as_str(), avif.image().1), ("avif", 80));
    assert_eq!(avif.header("content-type"), "image/avif");
    assert_eq!((webp.image().0.as_str(), webp.image().1), ("webp", 80));
    assert_eq!((jpeg.image().0.as_str(), jpeg.image().1), ("jpeg", 80));
    assert_eq!(
        png.image().0,
        "png",
        "transparency keeps a format with alpha"
    );
    for r in [&avif, &webp, &jpeg, &png] {
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("vary"), "Accept");
    }
    let tags = [
        avif.header("etag"),
        webp.header("etag"),
        jpeg.header("etag"),
    ];
    assert!(
        tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2],
        "{tags:?}"
    );
    // An explicit format does not vary.
    let fixed = send(&f.app, get("/cat-small.jpg?width=80&format=png")).await;
    assert!(fixed.headers.get("vary").is_none());
}

#[tokio::test]
async fn transforms_carry_validators_timing_and_cache_headers() {
    let f = fixture(|_| {});
    let r = send(&f.app, get("/orientation-6.jpg?width=50")).await;
    assert_eq!(r.status, StatusCode::OK);
    let timing = r.header("server-timing");
    for stage in ["fetch;dur=", "decode;dur=", "resize;dur=", "encode;dur="] {
        assert!(timing.contains(stage), "{timing}");
    }
    let etag = r.header("etag").to_owned();
    assert_eq!(etag.len(), 34, "strong quoted ETag: {etag}");
    // Second request: a memory-cache hit with the same ETag and bytes.
    let hit = send(&f.app, get("/orientation-6.jpg?width=50")).await;
    assert_eq!(hit.header("server-timing"), "cache;desc=\"memory\"");
    assert_eq!(hit.header("etag"), etag);
    assert_eq!(hit.body, r.body);
    // HEAD: same headers, no body.
    let head = send(
        &f.app,
        Request::head("/orientation-6.jpg?width=50")
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), r.body.len().to_string());
    assert_eq!(head.header("etag"), etag);
    assert_eq!(head.header("content-type"), "image/jpeg");
}

#[tokio::test]
async fn if_none_match_is_answered_without_transforming() {
    let f = fixture(|_| {});
    let etag = send(&f.app, get("/cat-small.jpg?w=70&format=png"))
        .await
        .header("etag")
        .to_owned();
    // A fresh server has nothing cached: it answers 304 from the original's ETag alone.
    let (state, app) = fresh_app(&f);
    let r = send(
        &app,
        get_with(
            "/cat-small.jpg?w=70&format=png",
            &[("if-none-match", &etag)],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), etag);
    assert_eq!(
        r.header("cache-control"),
        "public, max-age=86400, stale-while-revalidate=3600, stale-if-error=604800"
    );
    assert_eq!(state.tiers.usage().memory_entries, 0, "no transform ran");
    // A stale ETag gets the full response.
    let r = send(
        &app,
        get_with(
            "/cat-small.jpg?w=70&format=png",
            &[("if-none-match", "\"old\"")],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.image().0, "png");
    assert_eq!(r.image().1, 70);
}

#[tokio::test]
async fn format_json_reports_metadata() {
    let f = fixture(|_| {});
    let r = send(&f.app, get("/cat-small.jpg?width=100&format=json")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/json");
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let text = v.to_string();
    assert!(text.contains("\"width\":100"), "{text}");
}

#[tokio::test]
async fn client_mistakes_get_stable_codes() {
    let f = fixture(|_| {});
    for (uri, status, code) in [
        ("/cat-small.jpg?w=10&bogus=1", 400, "unknown_option"),
        ("/cat-small.jpg?w=abc", 400, "invalid_value"),
        ("/cat-small.jpg?w=10&width=20", 400, "duplicate_option"),
        ("/a/../cat-small.jpg?w=10", 400, "bad_key"),
        ("/a//cat-small.jpg", 400, "bad_key"),
        ("/a%5Ccat-small.jpg", 400, "bad_key"),
        ("/cat-small.jpg?preset=nope", 400, "unknown_preset"),
        ("/missing.jpg?w=10", 404, "not_found"),
        ("/missing.jpg", 404, "not_found"),
        ("/notes.txt?w=10", 415, "unsupported_format"),
        ("/truncated.jpg?w=10", 422, "undecodable_image"),
    ] {
        let r = send(&f.app, get(uri)).await;
        assert_eq!(r.status.as_u16(), status, "{uri}: {:?}", r.body);
        assert_eq!(r.code(), code, "{uri}");
        assert_eq!(r.header("cache-control"), "no-store");
    }
    let r = send(
        &f.app,
        Request::post("/cat-small.jpg")
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.code(), "method_not_allowed");
}

#[tokio::test]
async fn over_limit_originals_are_413() {
    let f = fixture(|c| c.limits.max_input_bytes = 1000);
    let r = send(&f.app, get("/cat-small.jpg?w=10")).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "input_too_large");
    // The limit is for transforms: the original itself is streamed whatever its size.
    let r = send(&f.app, get("/cat-small.jpg")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, sample("cat-small.jpg"));
    assert_eq!(r.header("content-length"), r.body.len().to_string());
    let f = fixture(|c| c.limits.max_input_pixels = 1000);
    let r = send(&f.app, get("/cat-small.jpg?w=10")).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "too_many_pixels");
}

/// A key the store cannot name (each `~` becomes `%7E` on a local directory: 100 of them pass
/// the 255-byte segment limit but make a 300-byte file name) is the client's mistake, 400
/// `bad_key`, and the answer names nothing of the server's (its originals directory).
#[tokio::test]
async fn a_key_the_store_cannot_name_is_a_client_error_without_internals() {
    let f = fixture(|_| {});
    let key = format!("/{}.jpg", "~".repeat(100));
    let dir = f.dir.path().display().to_string();
    let requests = [
        get(&key),
        get(&format!("{key}?width=10")),
        put(&key, Some(TOKEN), None, Body::from(sample("cat-small.jpg"))),
    ];
    for req in requests {
        let what = format!("{} {}", req.method(), req.uri());
        let r = send(&f.app, req).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}");
        assert_eq!(r.code(), "bad_key", "{what}");
        let body = String::from_utf8_lossy(&r.body);
        assert!(!body.contains(&dir), "{what} leaks the directory: {body}");
    }
}

/// Every answer says `nosniff`; every answer that is not an image carries a CSP that lets it
/// load nothing; and only images are served from the originals' store.
#[tokio::test]
async fn responses_are_nosniff_and_only_images_are_originals() {
    let f = fixture(|_| {});
    let admin = refract_server::http::admin_router(f.state.clone());
    for (app, uri, image) in [
        (&f.app, "/cat-small.jpg", true),
        (&f.app, "/cat-small.jpg?width=40&format=webp", true),
        (&f.app, "/cat-small.jpg?width=40&format=json", false),
        (&f.app, "/cat-small.jpg?width=abc", false),
        (&f.app, "/missing.jpg", false),
        (&admin, "/health", false),
        (&admin, "/metrics", false),
    ] {
        let r = send(app, get(uri)).await;
        assert_eq!(r.header("x-content-type-options"), "nosniff", "{uri}");
        match image {
            true => assert!(r.headers.get("content-security-policy").is_none(), "{uri}"),
            false => assert_eq!(
                r.header("content-security-policy"),
                refract_server::http::NON_IMAGE_CSP,
                "{uri}"
            ),
        }
    }
    // A stored file that is not an image is never served, whatever its name.
    let r = send(&f.app, get("/notes.txt")).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.code(), "unsupported_format");
    std::fs::write(
        f.dir.path().join("page.jpg"),
        b"<html><script>alert(1)</script>",
    )
    .expect("write");
    let r = send(&f.app, get("/page.jpg")).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(!String::from_utf8_lossy(&r.body).contains("<script>"));
}

#[tokio::test]
async fn an_expensive_transform_is_refused_before_decoding_and_auto_steps_down() {
    // The review's URL: 49 MP of AVIF, on the default cap. At libaom's default speed (9) it
    // costs seconds and fits the cap; at a slow speed it is over it.
    let f = fixture(|c| c.transform.avif_speed = 4);
    let r = send(
        &f.app,
        get("/cat-small.jpg?width=7000&height=7000&fit=squeeze&format=avif"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "too_costly");
    // The truncated original cannot be decoded: a cost refusal comes before any decode.
    let r = send(
        &f.app,
        get("/truncated.jpg?width=7000&height=7000&fit=squeeze&format=avif"),
    )
    .await;
    assert_eq!(r.code(), "too_costly");

    // On a tight cap, format=auto takes the next format the client accepts instead (at
    // speed 6 AVIF is dearer than WebP; at 9 it is cheaper).
    let f = fixture(|c| {
        c.limits.max_cpu_ms = 300;
        c.transform.avif_speed = 6;
    });
    let avif_webp = [("accept", "image/avif,image/webp,*/*")];
    let r = send(
        &f.app,
        get_with(
            "/cat-small.jpg?width=1600&fit=contain&format=auto",
            &avif_webp,
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.image(), ("webp".to_owned(), 1600, 1064));
    let r = send(
        &f.app,
        get("/cat-small.jpg?width=1600&fit=contain&format=avif"),
    )
    .await;
    assert_eq!(r.code(), "too_costly");
    // 0 turns the cap off.
    let f = fixture(|c| c.limits.max_cpu_ms = 0);
    let r = send(
        &f.app,
        get_with(
            "/cat-small.jpg?width=600&fit=contain&format=auto",
            &avif_webp,
        ),
    )
    .await;
    assert_eq!(r.image().0, "avif");
}
