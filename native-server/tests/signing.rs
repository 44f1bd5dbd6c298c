//! Signed URLs, presets and allowed widths through the router, and `refract sign` as a process
//! whose URLs a running server accepts.

mod support;

use axum::http::StatusCode;
use support::app::*;
use support::process::{refract, Serve};

/// `http.cache_control` and `http.signed_cache_control` by default.
const DEFAULT_CACHE_CONTROL: &str =
    "public, max-age=86400, stale-while-revalidate=3600, stale-if-error=604800";

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
    assert_eq!(r.header("cache-control"), DEFAULT_CACHE_CONTROL);
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
    // Unsigned but safe: presets, allowed widths, format.
    for uri in [
        "/cat-small.jpg?preset=thumb",
        "/cat-small.jpg?w=128&format=webp",
    ] {
        let r = send(&f.app, get(uri)).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.header("cache-control"), DEFAULT_CACHE_CONTROL, "{uri}");
    }
    let thumb = send(&f.app, get("/cat-small.jpg?preset=thumb")).await;
    assert_eq!(thumb.image(), ("jpeg".to_owned(), 64, 64));
}

#[tokio::test]
async fn with_signing_on_originals_need_a_signature_by_default() {
    let f = fixture(|c| c.signing.keys = vec![SECRET.into()]);
    let r = send(&f.app, get("/cat-small.jpg")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "signature_required");
    let sig = refract_core::url::signature(
        SECRET.as_bytes(),
        "cat-small.jpg",
        &refract_core::Spec::default(),
    );
    let r = send(&f.app, get(&format!("/cat-small.jpg?sig={sig}"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.as_ref(), sample("cat-small.jpg").as_slice());
    assert_eq!(r.header("cache-control"), DEFAULT_CACHE_CONTROL);

    for (setting, unsigned, signed) in [
        ("public", StatusCode::OK, StatusCode::OK),
        ("off", StatusCode::FORBIDDEN, StatusCode::FORBIDDEN),
    ] {
        let f = fixture(|c| {
            c.signing.keys = vec![SECRET.into()];
            c.signing.originals = setting.into();
        });
        let r = send(&f.app, get("/cat-small.jpg")).await;
        assert_eq!(r.status, unsigned, "{setting}");
        let r = send(&f.app, get(&format!("/cat-small.jpg?sig={sig}"))).await;
        assert_eq!(r.status, signed, "{setting}");
        if setting == "off" {
            assert_eq!(r.code(), "originals_disabled");
        }
    }
}

#[tokio::test]
async fn expiring_urls_are_cached_no_longer_than_they_are_valid() {
    let f = fixture(|c| c.signing.keys = vec![SECRET.into()]);
    let spec = refract_core::Spec::parse("width=80").expect("spec");
    let now = refract_server::runtime::clock::unix_secs();
    let sign = |t: u64| {
        refract_core::url::signature_until(SECRET.as_bytes(), "cat-small.jpg", &spec, Some(t))
    };
    let t = now + 600;
    let r = send(
        &f.app,
        get(&format!("/cat-small.jpg?w=80&expires={t}&sig={}", sign(t))),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let max_age: u64 = r
        .header("cache-control")
        .strip_prefix("public, max-age=")
        .expect("max-age")
        .parse()
        .expect("seconds");
    assert!((590..=600).contains(&max_age), "{max_age}");
    let t = now - 1;
    let r = send(
        &f.app,
        get(&format!("/cat-small.jpg?w=80&expires={t}&sig={}", sign(t))),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "signature_expired");
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

    // An expiring URL, and the original itself.
    for (url, expires) in [
        ("http://127.0.0.1/cat-small.jpg?width=70", Some("600")),
        ("http://127.0.0.1/cat-small.jpg", None),
    ] {
        let mut cmd = refract();
        cmd.args(["sign", url]).env("REFRACT_SIGNING__KEYS", &keys);
        if let Some(secs) = expires {
            cmd.args(["--expires-in", secs]);
        }
        let out = cmd.output().expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).expect("utf-8");
        let path = &url.trim()["http://127.0.0.1".len()..];
        assert_eq!(path.contains("expires="), expires.is_some(), "{path}");
        let res = client.get(server.url(path)).send().await.expect("get");
        assert_eq!(res.status(), 200, "{path}");
    }
}
