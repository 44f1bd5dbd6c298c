use std::collections::BTreeMap;

use super::*;
use crate::url::Access;

fn hint(width: u32) -> ClientHints {
    ClientHints {
        width: Some(width),
        dpr: None,
    }
}

fn spec_of(a: &Access, query: &str) -> (Spec, bool) {
    let r = a.resolve("/x.jpg", Some(query)).expect(query);
    (r.spec.expect("a transform"), r.signed)
}

#[test]
fn width_auto_rounds_up_the_ladder_without_an_allow_list() {
    let a = Access::default();
    let (spec, signed) = spec_of(&a, "width=auto&format=auto");
    for (h, w) in [
        (500, 640),
        (640, 640),
        (641, 750),
        (1100, 1200),
        (9000, 3840),
    ] {
        let r = a.with_client_hints(&spec, signed, hint(h));
        assert_eq!(r.width, Some(w), "{h}");
        assert!(!r.width_auto);
        assert_eq!(r.to_string(), format!("width={w},format=auto"));
    }
    assert_eq!(
        a.with_client_hints(&spec, signed, ClientHints::default())
            .width,
        None
    );
}

#[test]
fn under_an_allow_list_width_auto_is_allowed_and_rounded_to_it() {
    let a = Access::new(&[], &[800, 320], &BTreeMap::new()).expect("access");
    let (spec, signed) = spec_of(&a, "width=auto");
    for (h, w) in [(1, 320), (320, 320), (321, 800), (500, 800), (5000, 800)] {
        assert_eq!(
            a.with_client_hints(&spec, signed, hint(h)).width,
            Some(w),
            "{h}"
        );
    }
    // An explicit width off the list is still refused, and so is a malformed one.
    let e = a.resolve("/x.jpg", Some("width=500")).expect_err("500");
    assert_eq!(e.code(), "width_not_allowed");
    let e = a.resolve("/x.jpg", Some("width=autox")).expect_err("autox");
    assert_eq!(e.kind().http_status(), 400);
}

#[test]
fn with_secrets_unsigned_width_auto_needs_an_allow_list() {
    let keys = ["k".to_owned()];
    let none = Access::new(&keys, &[], &BTreeMap::new()).expect("access");
    let e = none
        .resolve("/x.jpg", Some("width=auto"))
        .expect_err("unsigned");
    assert_eq!(e.code(), "signature_required");

    let listed = Access::new(&keys, &[256, 1024], &BTreeMap::new()).expect("access");
    let (spec, signed) = spec_of(&listed, "width=auto");
    assert!(!signed);
    assert_eq!(
        listed.with_client_hints(&spec, signed, hint(700)).width,
        Some(1024)
    );
    // A signed width=auto is the signer's: the ladder, not the unsigned allow-list.
    let sig = listed.sign("x.jpg", &spec).expect("sig");
    let (spec, signed) = spec_of(&listed, &format!("width=auto&sig={sig}"));
    assert!(signed);
    assert_eq!(
        listed.with_client_hints(&spec, signed, hint(700)).width,
        Some(750)
    );
}

#[test]
fn vary_names_accept_and_the_hints_read_once_each() {
    let a = Access::default();
    for (query, expected) in [
        ("width=100", ""),
        ("format=auto", "Accept"),
        ("width=auto", "Sec-CH-Width, Width"),
        ("width=auto&format=auto", "Accept, Sec-CH-Width, Width"),
        ("dpr=auto&width=100", "Sec-CH-DPR, DPR"),
        ("dpr=auto&format=auto", "Accept, Sec-CH-DPR, DPR"),
    ] {
        assert_eq!(vary(&spec_of(&a, query).0), expected, "{query}");
    }
}

#[test]
fn the_original_location_is_its_own_path_percent_encoded() {
    let a = Access::default();
    for (key, location) in [
        ("cat.jpg", "/cat.jpg"),
        ("photos/my cat.jpg", "/photos/my%20cat.jpg"),
        ("a?b#c&d=e+f.jpg", "/a%3Fb%23c%26d%3De%2Bf.jpg"),
        ("100%.jpg", "/100%25.jpg"),
        ("café/写真.jpg", "/caf%C3%A9/%E5%86%99%E7%9C%9F.jpg"),
        ("//evil.example/x.jpg", ""),
        ("cdn-cgi/image/width=1/x.jpg", ""),
    ] {
        let got = a.original_location(key).unwrap_or_default();
        assert_eq!(got, location, "{key}");
        if !got.is_empty() {
            let back = a.resolve(&got, None).expect("resolves");
            assert_eq!((back.key.as_str(), back.spec), (key, None));
        }
    }
}

#[test]
fn no_location_unless_originals_are_public() {
    use crate::url::OriginalsAccess;
    for (originals, some) in [
        (OriginalsAccess::Public, true),
        (OriginalsAccess::Signed, false),
        (OriginalsAccess::Off, false),
    ] {
        let a = Access::default().with_originals(originals);
        assert_eq!(
            a.original_location("cat.jpg").is_some(),
            some,
            "{originals:?}"
        );
    }
}
