//! Every route, header and error of the image listener, through `tower::ServiceExt::oneshot`
//! on the real router over a real directory of samples.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;

#[tokio::test]
async fn no_options_serves_the_original_untouched() {
    let f = fixture(|_| {});
    let r = send(&f.app, get("/photos/cat.jpg")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, sample("cat-small.jpg"));
    assert_eq!(r.header("content-type"), "image/jpeg");
    assert_eq!(r.header("content-length"), r.body.len().to_string());
    assert_eq!(r.header("cache-control"), "public, max-age=86400");
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
    assert_eq!(r.header("cache-control"), "public, max-age=86400");
    assert_eq!(state.tiers.hot.len(), 0, "no transform ran");
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

#[tokio::test]
async fn signed_urls_presets_and_allowed_widths() {
    let f = fixture(|c| {
        c.signing.keys = vec![SECRET.into(), "previous-secret-0123".into()];
        c.signing.allowed_widths = vec![64, 128];
    });
    let spec = refract_core::Spec::parse("width=90,format=webp").expect("spec");
    let sig = refract_core::url::signature(SECRET.as_bytes(), "cat-small.jpg", &spec);
    let r = send(
        &f.app,
        get(&format!("/cat-small.jpg?format=webp&width=90&sig={sig}")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(r.image().1, 90);
    let r = send(
        &f.app,
        get(&format!(
            "/cdn-cgi/image/w=90,f=webp/cat-small.jpg?sig={sig}"
        )),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "same signature in the path grammar"
    );
    let old = refract_core::url::signature(b"previous-secret-0123", "cat-small.jpg", &spec);
    let r = send(
        &f.app,
        get(&format!("/cat-small.jpg?w=90&f=webp&sig={old}")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "rotated key still verifies");

    for (uri, code) in [
        (
            format!("/cat-small.jpg?w=91&format=webp&sig={sig}"),
            "bad_signature",
        ),
        (
            format!("/photos/cat.jpg?w=90&format=webp&sig={sig}"),
            "bad_signature",
        ),
        (
            "/cat-small.jpg?w=90&format=webp".to_owned(),
            "signature_required",
        ),
        ("/cat-small.jpg?blur=3".to_owned(), "signature_required"),
    ] {
        let r = send(&f.app, get(&uri)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}");
        assert_eq!(r.code(), code, "{uri}");
    }
    // Unsigned but safe: presets, allowed widths, format, and originals.
    for uri in [
        "/cat-small.jpg?preset=thumb",
        "/cat-small.jpg?w=128&format=webp",
        "/cat-small.jpg",
    ] {
        let r = send(&f.app, get(uri)).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.header("cache-control"), "public, max-age=86400", "{uri}");
    }
    let thumb = send(&f.app, get("/cat-small.jpg?preset=thumb")).await;
    assert_eq!(thumb.image(), ("jpeg".to_owned(), 64, 64));
}

#[tokio::test]
async fn upload_serve_replace_and_delete() {
    let f = fixture(|_| {});
    let png = sample("logo-alpha.png");
    // Without the token: 401; with a wrong one: 401.
    for token in [None, Some("wrong-token-0000000000")] {
        let r = send(
            &f.app,
            put("/up/logo.png", token, None, Body::from(png.clone())),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.code(), "unauthorized");
    }
    let r = send(
        &f.app,
        put("/up/logo.png", Some(TOKEN), None, Body::from(png.clone())),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(v["key"], "up/logo.png");
    assert_eq!(v["format"], "png");
    assert_eq!(v["size"], png.len());
    assert_eq!(
        std::fs::read(f.dir.path().join("up/logo.png")).expect("stored"),
        png
    );

    let small = send(&f.app, get("/up/logo.png?width=40&format=png")).await;
    assert_eq!(small.image().1, 40);
    let before = small.header("etag").to_owned();
    // Replacing the original invalidates cached results at once.
    let jpeg = sample("cat-small.jpg");
    let r = send(
        &f.app,
        put(
            "/up/logo.png",
            Some(TOKEN),
            Some("image/jpeg"),
            Body::from(jpeg),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let after = send(&f.app, get("/up/logo.png?width=40&format=png")).await;
    assert_ne!(after.header("etag"), before);
    assert_ne!(after.body, small.body);

    let del = |token| {
        let mut b = Request::delete("/up/logo.png");
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        b.body(Body::empty()).expect("req")
    };
    assert_eq!(
        send(&f.app, del(None)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&f.app, del(Some(TOKEN))).await.status,
        StatusCode::NO_CONTENT
    );
    let gone = send(&f.app, get("/up/logo.png?width=40&format=png")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.code(), "not_found");
    let again = send(&f.app, del(Some(TOKEN))).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn uploads_are_checked_before_they_are_stored() {
    let f = fixture(|c| c.limits.max_input_bytes = 20_000);
    let r = send(
        &f.app,
        put(
            "/t.txt",
            Some(TOKEN),
            None,
            Body::from("hello, not an image"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.code(), "unsupported_format");
    let r = send(&f.app, put("/empty.png", Some(TOKEN), None, Body::empty())).await;
    assert_eq!(r.code(), "empty_body");
    // Over the limit, streamed without a Content-Length: refused while streaming.
    let big = sample("cat-small.jpg");
    assert!(big.len() > 20_000);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(4096).map(|c| Ok(c.to_vec())).collect();
    let body = Body::from_stream(futures::stream::iter(chunks));
    let r = send(&f.app, put("/big.jpg", Some(TOKEN), None, body)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "input_too_large");
    // A header claiming a bomb is refused by the limits check.
    let r = send(
        &f.app,
        put(
            "/bomb.png",
            Some(TOKEN),
            None,
            Body::from(png_header(100_000, 100_000)),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "too_many_pixels");
    for name in ["t.txt", "empty.png", "big.jpg", "bomb.png"] {
        assert!(!f.dir.path().join(name).exists(), "{name} was stored");
    }
    let r = send(
        &f.app,
        put(
            "/cdn-cgi/image/w=1/x.png",
            Some(TOKEN),
            None,
            Body::from("x"),
        ),
    )
    .await;
    assert_eq!(r.code(), "bad_key");
    let r = send(
        &f.app,
        put("/x.png?w=1", Some(TOKEN), None, Body::from("x")),
    )
    .await;
    assert_eq!(r.code(), "options_not_allowed");
}

#[tokio::test]
async fn multipart_uploads_store_the_file_field() {
    let f = fixture(|_| {});
    let png = sample("logo-alpha.png");
    let boundary = "refract-test-boundary";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&png);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    let r = send(
        &f.app,
        put("/form/x.png", Some(TOKEN), Some(&ct), Body::from(body)),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        std::fs::read(f.dir.path().join("form/x.png")).expect("stored"),
        png
    );
}

#[tokio::test]
async fn uploads_are_disabled_without_a_token() {
    let f = fixture(|c| c.upload.token = None);
    let r = send(
        &f.app,
        put(
            "/x.png",
            Some(TOKEN),
            None,
            Body::from(sample("logo-alpha.png")),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "uploads_disabled");
}

/// A PNG signature and IHDR declaring `w`×`h`, and nothing else.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    v
}
