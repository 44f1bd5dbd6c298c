//! `border`, `trim=border`, `compression`, `onerror`, `width=auto` / `dpr=auto` and the
//! client hints that resolve them.

use super::*;

fn ok(s: &str) -> Spec {
    Spec::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> (String, Option<String>, String) {
    let e = Spec::parse(s).expect_err(s);
    (
        e.code().to_owned(),
        e.key().map(str::to_owned),
        e.to_string(),
    )
}

#[test]
fn border_all_sides_or_each_side() {
    let all = ok("border=4;red").border.expect("border");
    assert_eq!([all.top, all.right, all.bottom, all.left], [4; 4]);
    assert_eq!(all.color, Rgba([255, 0, 0, 255]));
    assert_eq!(ok("border=4;red").to_string(), "border=4;%23ff0000");
    let sides = ok("border=1;2;3;4;%2300000080").border.expect("border");
    assert_eq!(
        [sides.top, sides.right, sides.bottom, sides.left],
        [1, 2, 3, 4]
    );
    assert_eq!(sides.color, Rgba([0, 0, 0, 0x80]));
    assert_eq!(
        ok("border=1;2;3;4;%2300000080").to_string(),
        "border=1;2;3;4;%2300000080"
    );
    // No width is no border; dpr multiplies the widths.
    assert!(ok("border=0;red").is_identity());
    let b = ok("border=3;blue,dpr=2,width=10");
    assert_eq!(b.border.unwrap().device_widths(b.dpr), [6; 4]);
    for bad in [
        "border=4",
        "border=red",
        "border=1;2;red",
        "border=1001;red",
        "border=-1;red",
        "border=4;notacolour",
        "border=1;2;3;4;5;red",
    ] {
        let (code, key, _) = err(bad);
        assert_eq!(
            (code.as_str(), key.as_deref()),
            ("invalid_value", Some("border")),
            "{bad}"
        );
    }
}

#[test]
fn trim_border_with_tolerance_and_keep() {
    assert_eq!(
        ok("trim=border").trim,
        Some(Trim::Border(TrimBorder {
            tolerance: 10,
            keep: 0
        }))
    );
    let spec = ok("trim=border&trim.border.tolerance=30&trim.border.keep=2");
    assert_eq!(
        spec.trim,
        Some(Trim::Border(TrimBorder {
            tolerance: 30,
            keep: 2
        }))
    );
    assert_eq!(
        spec.to_string(),
        "trim=border,trim.border.tolerance=30,trim.border.keep=2"
    );
    // The border options need trim=border, and trim=border takes no rectangle.
    assert_eq!(err("trim.border.keep=2").1.as_deref(), Some("trim"));
    assert_eq!(
        err("trim=1;2;3;4&trim.border.keep=2").1.as_deref(),
        Some("trim")
    );
    assert_eq!(err("trim=border&trim.left=3").1.as_deref(), Some("trim"));
    assert_eq!(
        err("trim=border&trim.border.tolerance=256").1.as_deref(),
        Some("trim.border.tolerance")
    );
}

#[test]
fn compression_and_onerror() {
    assert_eq!(ok("compression=fast").compression, Compression::Fast);
    assert_eq!(ok("compression=fast").to_string(), "compression=fast");
    assert_eq!(ok("onerror=redirect").on_error, OnError::Redirect);
    assert_eq!(ok("onerror=redirect").to_string(), "onerror=redirect");
    assert_eq!(err("compression=slow").1.as_deref(), Some("compression"));
    assert_eq!(err("onerror=ignore").1.as_deref(), Some("onerror"));
}

#[test]
fn onerror_redirects_only_failures_of_the_image() {
    let r = OnError::Redirect;
    let undecodable = crate::Error::undecodable("JPEG", "truncated");
    let too_big = crate::Error::TooManyPixels {
        width: 1,
        height: 1,
        limit: 0,
    };
    assert!(r.redirects(&undecodable));
    assert!(r.redirects(&too_big));
    assert!(!OnError::Status.redirects(&undecodable));
    // Mistakes in the URL and refusals are answered as such.
    let bad_value = Spec::parse("width=abc").unwrap_err();
    assert!(!r.redirects(&bad_value));
    assert!(!r.redirects(&crate::Error::BadSignature));
}

#[test]
fn width_auto_and_dpr_auto_resolve_from_hints_to_a_bounded_set() {
    let spec = ok("width=auto&format=auto");
    assert!(spec.width_auto && spec.uses_client_hints());
    assert_eq!(spec.to_string(), "width=auto,format=auto");
    assert_eq!(spec.hint_vary(), ["Sec-CH-Width", "Width"]);
    let at =
        |w: Option<u32>, d: Option<f32>| spec.with_client_hints(ClientHints { width: w, dpr: d });
    // Rounded up to the ladder, capped at its top; no hint asks for no width.
    assert_eq!(at(Some(500), None).width, Some(640));
    assert_eq!(at(Some(640), None).width, Some(640));
    assert_eq!(at(Some(1100), None).width, Some(1200));
    assert_eq!(at(Some(9000), None).width, Some(3840));
    assert_eq!(at(Some(1), None).width, Some(16));
    assert_eq!(at(None, None).width, None);
    assert!(!at(Some(500), None).width_auto);
    assert_eq!(at(Some(500), None).to_string(), "width=640,format=auto");

    let spec = ok("width=300&dpr=auto");
    assert_eq!(spec.hint_vary(), ["Sec-CH-DPR", "DPR"]);
    let dpr = |d: f32| {
        spec.with_client_hints(ClientHints {
            width: None,
            dpr: Some(d),
        })
        .dpr
    };
    assert_eq!(dpr(1.0), None);
    assert_eq!(dpr(1.25), Some(1.5));
    assert_eq!(dpr(2.0), Some(2.0));
    assert_eq!(dpr(3.5), Some(2.0));
    // A spec without auto is left alone; width=auto takes no dpr.
    assert_eq!(
        ok("width=300").with_client_hints(ClientHints {
            width: Some(10),
            dpr: Some(2.0)
        }),
        ok("width=300")
    );
    assert_eq!(err("width=auto&dpr=2").1.as_deref(), Some("dpr"));
    assert_eq!(err("width=auto&dpr=auto").1.as_deref(), Some("dpr"));
}

#[test]
fn client_hints_are_read_from_headers() {
    let headers = |pairs: &'static [(&'static str, &'static str)]| {
        ClientHints::from_headers(move |name| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        })
    };
    assert_eq!(
        headers(&[("Sec-CH-Width", "411"), ("Sec-CH-DPR", "2.625")]),
        ClientHints {
            width: Some(411),
            dpr: Some(2.625)
        }
    );
    // The older names, fractional widths rounded up, Sec-CH- winning, garbage ignored.
    assert_eq!(
        headers(&[("Width", "320.5"), ("DPR", "1")]).width,
        Some(321)
    );
    assert_eq!(
        headers(&[("Width", "100"), ("Sec-CH-Width", "200")]).width,
        Some(200)
    );
    assert_eq!(
        headers(&[("Sec-CH-Width", "-5"), ("Sec-CH-DPR", "NaN")]),
        ClientHints::default()
    );
}

#[test]
fn gif_and_placeholder_formats() {
    assert_eq!(ok("format=gif").format, Some(Format::Gif));
    assert_eq!(ok("f=placeholder").to_string(), "format=placeholder");
}
