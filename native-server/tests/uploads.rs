//! `PUT` and `DELETE` of originals through the router: authorisation, checks before storing,
//! multipart forms, and what a replaced or deleted original does to its variants.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use support::app::*;

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
    // Reserved prefixes, however the path spells them.
    for path in [
        "/cdn-cgi/image/w=1/x.png",
        "/cdn-cgi%2Fimage/x.png",
        "/cdn-cgi/image%2Fx.png",
        "/.refract-cache/v2/0123456789abcdef0123456789abcdef",
        "/%2Erefract-cache/v1/x",
    ] {
        let r = send(
            &f.app,
            put(
                path,
                Some(TOKEN),
                None,
                Body::from(sample("logo-alpha.png")),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(r.code(), "bad_key", "{path}");
    }
    assert!(!f.dir.path().join("cdn-cgi").exists());
    assert!(!f.dir.path().join(".refract-cache").exists());
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

#[tokio::test]
async fn every_key_the_grammar_accepts_round_trips_through_a_directory() {
    let f = fixture(|_| {});
    let jpeg = sample("cat-small.jpg");
    let keys = support::awkward_keys();
    for key in &keys {
        let path = support::url_path(key);
        let r = send(
            &f.app,
            put(&path, Some(TOKEN), None, Body::from(jpeg.clone())),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{key}: {:?}", r.body);
        let r = send(&f.app, get(&path)).await;
        assert_eq!(r.status, StatusCode::OK, "{key}");
        assert_eq!(r.body.as_ref(), jpeg.as_slice(), "{key}");
        let r = send(&f.app, get(&format!("{path}?width=20"))).await;
        assert_eq!(r.image(), ("jpeg".to_owned(), 20, 13), "{key}");
    }
    // Listing (what reindex and the lifecycle see) gives back the keys exactly.
    let listed = f.state.originals.list().await.expect("list");
    support::assert_same_keys(
        listed
            .into_iter()
            .map(|(k, _, _)| k)
            .filter(|k| k.starts_with("punct/") || k.starts_with("unicode/"))
            .collect(),
        &keys,
    );
    for key in &keys {
        let path = support::url_path(key);
        let req = Request::delete(path.as_str())
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .expect("request");
        let r = send(&f.app, req).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{key}");
        assert_eq!(
            send(&f.app, get(&path)).await.status,
            StatusCode::NOT_FOUND,
            "{key}"
        );
    }
}
