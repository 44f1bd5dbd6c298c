//! Client hints (`width=auto`, `dpr=auto`: `Accept-CH`, `Vary`, the ladder, one cached variant
//! per step) and `onerror=redirect` (a failed transform answered with the original's URL)
//! through the real router.

mod support;

use axum::http::StatusCode;
use support::app::*;

const ACCEPT_CH: &str = "Sec-CH-Width, Sec-CH-DPR, Width, DPR";

/// The fixture's samples plus baseline.jpg (1600x1200), and originals that cannot be
/// transformed: a text file and a truncated JPEG under image names, one with a space.
fn app(configure: impl FnOnce(&mut refract_server::config::Config)) -> Fixture {
    let f = fixture(configure);
    let dir = f.dir.path();
    std::fs::write(dir.join("baseline.jpg"), sample("baseline.jpg")).expect("copy");
    std::fs::write(dir.join("notes.jpg"), b"just some text, not a JPEG\n").expect("txt");
    let jpeg = sample("cat-small.jpg");
    std::fs::write(dir.join("photos/half cat.jpg"), &jpeg[..jpeg.len() / 3]).expect("trunc");
    f
}

/// Exactly one header of `name`, with this value.
fn assert_one(r: &Reply, name: &str, value: &str) {
    let all: Vec<_> = r.headers.get_all(name).iter().collect();
    assert_eq!(all.len(), 1, "{name} in {:?}", r.headers);
    assert_eq!(all[0], value, "{name}");
}

#[tokio::test]
async fn width_auto_resolves_the_hint_up_the_ladder() {
    let f = app(|_| {});
    for (hint, width) in [("500", 640), ("1100", 1200), ("1100.5", 1200), ("40", 48)] {
        let r = send(
            &f.app,
            get_with("/baseline.jpg?width=auto", &[("sec-ch-width", hint)]),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{hint}");
        assert_eq!(r.image(), ("jpeg".into(), width, width * 3 / 4), "{hint}");
        assert_one(&r, "accept-ch", ACCEPT_CH);
        assert_one(&r, "vary", "Sec-CH-Width, Width");
    }
    // The older `Width` is read too; `Sec-CH-Width` wins when both are sent.
    let r = send(
        &f.app,
        get_with("/baseline.jpg?w=auto", &[("width", "300")]),
    )
    .await;
    assert_eq!(r.image().1, 384);
    let both = [("width", "300"), ("sec-ch-width", "700")];
    let r = send(&f.app, get_with("/baseline.jpg?w=auto", &both)).await;
    assert_eq!(r.image().1, 750);
    // Without a hint (or with a malformed one), `auto` asks for no width: the original's.
    for headers in [&[][..], &[("sec-ch-width", "wide")][..]] {
        let r = send(&f.app, get_with("/baseline.jpg?width=auto", headers)).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.image().1, 1600, "{headers:?}");
        assert_one(&r, "vary", "Sec-CH-Width, Width");
    }
}

#[tokio::test]
async fn one_variant_per_ladder_step_in_both_grammars() {
    let f = app(|_| {});
    let at = |hint: &'static str| {
        get_with(
            "/baseline.jpg?width=auto&format=webp",
            &[("sec-ch-width", hint)],
        )
    };
    let a = send(&f.app, at("500")).await;
    let b = send(&f.app, at("600")).await;
    let c = send(
        &f.app,
        get_with(
            "/cdn-cgi/image/format=webp,width=auto/baseline.jpg",
            &[("sec-ch-width", "641")],
        ),
    )
    .await;
    for r in [&a, &b, &c] {
        assert_eq!(r.status, StatusCode::OK);
        assert_one(r, "vary", "Sec-CH-Width, Width");
        assert_one(r, "accept-ch", ACCEPT_CH);
    }
    assert_eq!((a.image().0.as_str(), a.image().1), ("webp", 640));
    assert_eq!(
        a.header("etag"),
        b.header("etag"),
        "500 and 600 both round to 640"
    );
    assert_eq!(a.body, b.body);
    assert!(a.header("server-timing").starts_with("fetch;"));
    assert_eq!(b.header("server-timing"), "cache;desc=\"memory\"");
    assert_eq!(c.image().1, 750);
    assert_ne!(a.header("etag"), c.header("etag"), "641 is the next step");
    assert_eq!(f.state.tiers.usage().memory_entries, 2);

    // A revalidation with another hint of the same step: 304, labelled like the 200.
    let r = send(
        &f.app,
        get_with(
            "/baseline.jpg?width=auto&format=webp",
            &[("sec-ch-width", "620"), ("if-none-match", a.header("etag"))],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());
    assert_one(&r, "vary", "Sec-CH-Width, Width");
    assert_one(&r, "accept-ch", ACCEPT_CH);
    assert_eq!(r.header("etag"), a.header("etag"));
}

#[tokio::test]
async fn vary_lists_accept_and_the_hints_read_exactly_once() {
    let f = app(|_| {});
    let chromium = "image/avif,image/webp,*/*";
    let r = send(
        &f.app,
        get_with(
            "/baseline.jpg?width=auto&format=auto",
            &[("sec-ch-width", "100"), ("accept", chromium)],
        ),
    )
    .await;
    assert_eq!((r.image().0.as_str(), r.image().1), ("avif", 128));
    assert_one(&r, "vary", "Accept, Sec-CH-Width, Width");
    assert_one(&r, "accept-ch", ACCEPT_CH);

    // dpr=auto: the ratio rounded up to 1, 1.5 or 2.
    let uri = "/baseline.jpg?width=400&dpr=auto";
    let r = send(&f.app, get_with(uri, &[("sec-ch-dpr", "1.3")])).await;
    assert_eq!(r.image().1, 600);
    assert_one(&r, "vary", "Sec-CH-DPR, DPR");
    let r = send(&f.app, get_with(uri, &[("dpr", "3")])).await;
    assert_eq!(r.image().1, 800, "capped at 2");

    // A transform without hints still says which ones Refract reads, and varies on nothing.
    let r = send(&f.app, get("/baseline.jpg?width=100")).await;
    assert_eq!(r.image().1, 100);
    assert_one(&r, "accept-ch", ACCEPT_CH);
    assert!(r.headers.get("vary").is_none());
    // `width=auto` with an explicit ratio is a mistake in the URL.
    let r = send(&f.app, get("/baseline.jpg?width=auto&dpr=2")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn under_a_width_allow_list_the_hint_rounds_to_an_allowed_width() {
    let f = app(|c| c.signing.allowed_widths = vec![800, 320]);
    for (hint, width) in [("100", 320), ("500", 800), ("3000", 800)] {
        let r = send(
            &f.app,
            get_with("/baseline.jpg?width=auto", &[("sec-ch-width", hint)]),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{hint}");
        assert_eq!(r.image().1, width, "{hint}");
    }
    let r = send(&f.app, get("/baseline.jpg?width=640")).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "width_not_allowed")
    );
}

#[tokio::test]
async fn onerror_redirect_answers_failures_with_the_original() {
    let f = app(|c| {
        c.limits.max_input_pixels = 1_000_000;
        c.limits.max_input_bytes = 400_000;
    });
    for (uri, location, code) in [
        (
            "/notes.jpg?width=100&onerror=redirect",
            "/notes.jpg",
            "unsupported_format",
        ),
        (
            "/photos/half%20cat.jpg?width=100&format=webp&onerror=redirect",
            "/photos/half%20cat.jpg",
            "undecodable_image",
        ),
        (
            "/cdn-cgi/image/width=100,onerror=redirect/photos/half%20cat.jpg",
            "/photos/half%20cat.jpg",
            "undecodable_image",
        ),
        // 1065x1600 is over the 1 MP input limit; 574,672 bytes over the 400,000 byte one.
        (
            "/orientation-6.jpg?width=100&onerror=redirect",
            "/orientation-6.jpg",
            "too_many_pixels",
        ),
        (
            "/baseline.jpg?width=100&onerror=redirect",
            "/baseline.jpg",
            "input_too_large",
        ),
    ] {
        let plain = uri
            .replace("&onerror=redirect", "")
            .replace(",onerror=redirect", "");
        let failed = send(&f.app, get(&plain)).await;
        assert!(
            failed.status.is_client_error(),
            "{plain}: {:?}",
            failed.status
        );
        assert_eq!(failed.code(), code, "{plain}");
        let r = send(&f.app, get(uri)).await;
        assert_eq!(r.status, StatusCode::FOUND, "{uri}: {:?}", r.body);
        assert_eq!(r.header("location"), location, "{uri}");
        assert_eq!(r.header("cache-control"), "no-store", "{uri}");
        assert_eq!(r.header("x-refract-error"), failed.code(), "{uri}");
        assert!(r.body.is_empty(), "{uri}");
        // HEAD redirects alike.
        let head = axum::http::Request::head(uri)
            .body(axum::body::Body::empty())
            .expect("request");
        let h = send(&f.app, head).await;
        assert_eq!(
            (h.status, h.header("location")),
            (StatusCode::FOUND, location)
        );
    }
    // The redirect's target is served, untouched.
    let r = send(&f.app, get("/photos/half%20cat.jpg")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), sample("cat-small.jpg").len() / 3);
    let r = send(&f.app, get("/baseline.jpg")).await;
    assert_eq!(r.body, sample("baseline.jpg"));
    // A transform that works is not redirected.
    let r = send(&f.app, get("/cat-small.jpg?width=100&onerror=redirect")).await;
    assert_eq!((r.status, r.image().1), (StatusCode::OK, 100));
}

#[tokio::test]
async fn mistakes_and_refusals_are_not_redirected() {
    let f = app(|_| {});
    for (uri, status, code) in [
        (
            "/baseline.jpg?width=abc&onerror=redirect",
            400,
            "invalid_value",
        ),
        (
            "/baseline.jpg?width=100&onerror=sometimes",
            400,
            "invalid_value",
        ),
        (
            "/baseline.jpg?width=100&bogus=1&onerror=redirect",
            400,
            "unknown_option",
        ),
        (
            "/baseline.jpg?preset=nope&onerror=redirect",
            400,
            "unknown_preset",
        ),
        ("/missing.jpg?width=100&onerror=redirect", 404, "not_found"),
    ] {
        let r = send(&f.app, get(uri)).await;
        assert_eq!(r.status.as_u16(), status, "{uri}");
        assert_eq!(r.code(), code, "{uri}");
        assert!(r.headers.get("location").is_none(), "{uri}");
    }
}

#[tokio::test]
async fn no_redirect_where_originals_are_not_served_to_anyone() {
    // Originals off: the redirect would be refused, so the error stands.
    let f = app(|c| c.signing.originals = "off".into());
    let r = send(&f.app, get("/notes.jpg?width=100&onerror=redirect")).await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (415, "unsupported_format")
    );

    // Signed URLs, originals behind signatures (the default then): a signed transform that
    // fails keeps its error rather than pointing at an unsigned URL that would be 403.
    let f = app(|c| c.signing.keys = vec![SECRET.into()]);
    let spec = refract_core::Spec::parse("width=100,onerror=redirect").expect("spec");
    let sig = refract_core::url::signature(SECRET.as_bytes(), "notes.jpg", &spec);
    let r = send(
        &f.app,
        get(&format!("/notes.jpg?width=100&onerror=redirect&sig={sig}")),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.code().as_str()),
        (415, "unsupported_format")
    );

    // Signed URLs with public originals: redirected.
    let f = app(|c| {
        c.signing.keys = vec![SECRET.into()];
        c.signing.originals = "public".into();
    });
    let r = send(
        &f.app,
        get(&format!("/notes.jpg?width=100&onerror=redirect&sig={sig}")),
    )
    .await;
    assert_eq!(
        (r.status, r.header("location")),
        (StatusCode::FOUND, "/notes.jpg")
    );
}
