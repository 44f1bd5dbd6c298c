//! Signed URLs, presets and allowed widths through the router, and `refract sign` as a process
//! whose URLs a running server accepts.

mod support;

use axum::http::StatusCode;
use support::app::*;
use support::process::{refract, Serve};

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
async fn sign_appends_a_signature_the_server_accepts() {
    let key = "process-test-signing-key";
    let out = refract()
        .args([
            "sign",
            "http://127.0.0.1/cat-small.jpg?width=90&format=webp",
        ])
        .env("REFRACT_SIGNING__KEYS", format!("[\"{key}\"]"))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).expect("utf-8");
    let path = &url.trim()["http://127.0.0.1".len()..];
    assert!(path.contains("&sig="), "{path}");
    let keys = format!("[\"{key}\"]");
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Serve::new(dir.path())
        .env("REFRACT_SIGNING__KEYS", &keys)
        .start();
    let client = support::process::client();
    let signed = client.get(server.url(path)).send().await.expect("get");
    assert_eq!(signed.status(), 200, "{path}");
    let unsigned = server.url("/cat-small.jpg?width=90&format=webp");
    let unsigned = client.get(unsigned).send().await.expect("get");
    assert_eq!(unsigned.status(), 403);
}
