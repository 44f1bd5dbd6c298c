use super::*;

fn open() -> Access {
    Access::default()
}

fn presets() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "thumb".to_owned(),
        "width=200,height=200,fit=cover".to_owned(),
    )])
}

fn signed() -> Access {
    Access::new(
        &["new-secret".into(), "old-secret".into()],
        &[320, 640],
        &presets(),
    )
    .expect("valid access")
}

#[test]
fn both_grammars_resolve_to_the_same_request() {
    let a = open()
        .resolve("/photos/cat.jpg", Some("w=400&format=auto"))
        .expect("query form");
    let b = open()
        .resolve("/cdn-cgi/image/format=auto,width=400/photos/cat.jpg", None)
        .expect("path form");
    assert_eq!(a, b);
    assert_eq!(a.key, "photos/cat.jpg");
    assert_eq!(a.spec.expect("spec").to_string(), "width=400,format=auto");
}

#[test]
fn no_options_is_the_original() {
    let r = open().resolve("/a/b.png", None).expect("original");
    assert_eq!(r.spec, None);
    let r = open().resolve("/a/b.png", Some("")).expect("original");
    assert_eq!(r.spec, None);
}

#[test]
fn keys_are_decoded_once_and_checked() {
    let r = open()
        .resolve("/my%20photos/caf%C3%A9%2541.jpg", None)
        .expect("key");
    assert_eq!(r.key, "my photos/café%41.jpg");
    for (path, reason) in [
        ("/", "empty"),
        ("/a//b.jpg", "empty path segments"),
        ("/a/../b.jpg", "`..`"),
        ("/a/%2E%2E/b.jpg", "`..`"),
        ("/./b.jpg", "`..`"),
        ("/a/b.jpg/", "empty path segments"),
        ("/a%5Cb.jpg", "backslash"),
        ("/a\\b.jpg", "backslash"),
        ("/a%00b.jpg", "control"),
        ("/a%ZZ.jpg", "percent"),
        ("/a%FF.jpg", "percent"),
        ("/cdn-cgi/image/width=100", "expected /cdn-cgi"),
    ] {
        let e = open().resolve(path, Some("w=1")).expect_err(path);
        assert_eq!(e.code(), "bad_key", "{path}");
        assert!(e.to_string().contains(reason), "{path}: {e}");
        assert_eq!(e.kind().http_status(), 400);
    }
    let long = format!("/{}", "a".repeat(MAX_KEY_BYTES + 1));
    assert_eq!(
        open().resolve(&long, None).expect_err("long").code(),
        "bad_key"
    );
    // A segment past a file name's 255 bytes; the same bytes split into segments are fine.
    let segment = "é".repeat(128);
    let e = open()
        .resolve(&format!("/a/{segment}.jpg"), None)
        .expect_err("long segment");
    assert!(e.to_string().contains("255 bytes"), "{e}");
    let split = format!("/{}/{}.jpg", &segment[..128], &segment[128..]);
    assert!(open().resolve(&split, None).is_ok());
}

#[test]
fn presets_expand_and_conflicts_are_duplicates() {
    let a = Access::new(&[], &[], &presets()).expect("access");
    let r = a
        .resolve("/x.jpg", Some("preset=thumb&format=webp"))
        .expect("preset");
    assert_eq!(
        r.spec.expect("spec").to_string(),
        "width=200,height=200,fit=cover,format=webp"
    );
    let e = a
        .resolve("/x.jpg", Some("preset=thumb&w=10"))
        .expect_err("dup");
    assert_eq!(e.code(), "duplicate_option");
    let e = a
        .resolve("/x.jpg", Some("preset=nope"))
        .expect_err("unknown");
    assert_eq!(e.code(), "unknown_preset");
    let e = a
        .resolve("/x.jpg", Some("preset=thumb&preset=thumb"))
        .expect_err("twice");
    assert_eq!(e.code(), "duplicate_option");
    let bad = BTreeMap::from([("p".to_owned(), "width=abc".to_owned())]);
    assert_eq!(
        Access::new(&[], &[], &bad).expect_err("bad preset").code(),
        "invalid_value"
    );
}

#[test]
fn signatures_cover_the_canonical_spec_and_key() {
    let a = signed();
    let spec = Spec::parse("width=400,format=auto").expect("spec");
    let sig = a.sign("photos/cat.jpg", &spec).expect("sig");
    assert_eq!(sig.len(), 64);
    assert_eq!(
        string_to_sign("photos/cat.jpg", &spec),
        "width=400,format=auto/photos/cat.jpg"
    );
    // Any spelling of the same transform carries the same signature.
    for (path, query) in [
        ("/photos/cat.jpg", format!("format=auto&w=400&sig={sig}")),
        (
            "/cdn-cgi/image/w=400,f=auto/photos/cat.jpg",
            format!("sig={sig}"),
        ),
    ] {
        let r = a.resolve(path, Some(&query)).expect(path);
        assert!(r.signed);
    }
    // The old secret still verifies (rotation).
    let old = signature(b"old-secret", "photos/cat.jpg", &spec);
    assert!(a
        .resolve(
            "/photos/cat.jpg",
            Some(&format!("w=400&format=auto&sig={old}"))
        )
        .is_ok());
    // Tampering with the key, the spec or the signature is refused.
    for (path, query) in [
        ("/photos/dog.jpg", format!("w=400&format=auto&sig={sig}")),
        ("/photos/cat.jpg", format!("w=401&format=auto&sig={sig}")),
        ("/photos/cat.jpg", "w=400&format=auto&sig=00".to_owned()),
        ("/photos/cat.jpg", "w=400&format=auto&sig=zz".to_owned()),
        (
            "/photos/cat.jpg",
            format!(
                "w=400&format=auto&sig={}",
                signature(b"other", "photos/cat.jpg", &spec)
            ),
        ),
    ] {
        let e = a.resolve(path, Some(&query)).expect_err(&query);
        assert_eq!(e.code(), "bad_signature", "{path}?{query}");
        assert_eq!(e.kind().http_status(), 403);
    }
}

/// A signature has one valid spelling: 64 lowercase hex digits. Uppercase and a `+` standing
/// for a leading zero digit (`%2Ba` for `0a`, which `u8::from_str_radix` reads alike) are refused.
#[test]
fn signatures_have_one_spelling() {
    let a = signed();
    // A width whose signature has a byte written `0x`, for the `+x` spelling.
    let (spec, sig) = (400..500)
        .map(|w| {
            let spec = Spec::parse(&format!("width={w}")).expect("spec");
            let sig = a.sign("cat.jpg", &spec).expect("sig");
            (spec, sig)
        })
        .find(|(_, sig)| sig.as_bytes().chunks(2).any(|p| p[0] == b'0'))
        .expect("a signature with a 0x byte");
    let width = spec.width.expect("width");
    let ok = a.resolve("/cat.jpg", Some(&format!("width={width}&sig={sig}")));
    assert!(ok.expect("the lowercase spelling").signed);
    let plus: String = sig
        .as_bytes()
        .chunks(2)
        .map(|p| match p {
            [b'0', d] => format!("%2B{}", char::from(*d)),
            [a, b] => format!("{}{}", char::from(*a), char::from(*b)),
            _ => unreachable!("pairs"),
        })
        .collect();
    for bad in [
        sig.to_uppercase(),
        plus,
        format!("{sig}00"),
        sig[..62].to_owned(),
    ] {
        let e = a
            .resolve("/cat.jpg", Some(&format!("width={width}&sig={bad}")))
            .expect_err(&bad);
        assert_eq!(e.code(), "bad_signature", "{bad}");
    }
}

#[test]
fn unsigned_requests_are_limited_to_presets_formats_and_allowed_widths() {
    let a = signed();
    for query in [
        "preset=thumb",
        "preset=thumb&format=auto",
        "w=320",
        "width=640&f=webp",
    ] {
        let r = a.resolve("/x.jpg", Some(query)).expect(query);
        assert!(!r.signed, "{query}");
    }
    assert!(
        a.resolve("/x.jpg", None).is_ok(),
        "originals need no signature"
    );
    for query in ["w=500", "w=320&q=50", "blur=5", "h=100"] {
        let e = a.resolve("/x.jpg", Some(query)).expect_err(query);
        assert_eq!(e.code(), "signature_required", "{query}: {e}");
    }
    // Without secrets, the width allow-list still bounds the variants.
    let widths = Access::new(&[], &[100], &BTreeMap::new()).expect("access");
    assert!(widths.resolve("/x.jpg", Some("w=100&blur=2")).is_ok());
    let e = widths.resolve("/x.jpg", Some("w=101")).expect_err("101");
    assert_eq!(e.code(), "width_not_allowed");
    assert_eq!(e.kind().http_status(), 400);
    // Without secrets, a stray sig is ignored.
    assert!(open().resolve("/x.jpg", Some("w=1&sig=abc")).is_ok());
}

#[test]
fn the_path_form_ignores_other_query_parameters() {
    let r = open()
        .resolve("/cdn-cgi/image/w=10/x.jpg", Some("utm_source=x&page=2"))
        .expect("ignored");
    assert_eq!(r.spec.expect("spec").to_string(), "width=10");
}

#[test]
fn a_version_is_read_in_both_grammars_and_names_the_variant() {
    let a = open();
    let plain = a.resolve("/x.jpg", Some("w=10&v=7")).expect("plain");
    let query = a
        .resolve("/cdn-cgi/image/w=10/x.jpg", Some("v=7"))
        .expect("cdn-cgi, query");
    let option = a
        .resolve("/cdn-cgi/image/w=10,v=7/x.jpg", None)
        .expect("cdn-cgi, option");
    for r in [&plain, &query, &option] {
        assert_eq!(r.version.as_deref(), Some("7"));
        assert_eq!(r.spec.as_ref().expect("spec").to_string(), "width=10,v=7");
    }
    let other = a.resolve("/x.jpg", Some("w=10&v=8")).expect("v=8");
    assert_ne!(other.spec, plain.spec);
    let none = a.resolve("/x.jpg", Some("w=10")).expect("no v");
    assert_eq!(none.version, None);
    // Named twice (options and query) is a mistake, not a choice.
    let e = a
        .resolve("/cdn-cgi/image/w=10,v=7/x.jpg", Some("v=8"))
        .unwrap_err();
    assert_eq!(e.code(), "duplicate_option");
    // `v` alone asks for the original, untouched, under a versioned URL.
    for (path, query) in [("/x.jpg", Some("v=7")), ("/cdn-cgi/image/v=7/x.jpg", None)] {
        let r = a.resolve(path, query).expect("original");
        assert_eq!((r.spec, r.version.as_deref()), (None, Some("7")));
    }
}

#[test]
fn a_version_is_signed_like_any_option() {
    let a = Access::new(&["k".into()], &[320], &Default::default()).expect("access");
    // Unsigned, a version would let anyone mint cache entries: it needs a signature.
    let e = a.resolve("/x.jpg", Some("w=320&v=1")).unwrap_err();
    assert_eq!(e.code(), "signature_required");
    let spec = Spec::parse("width=320,v=1").expect("spec");
    let sig = a.sign("x.jpg", &spec).expect("sig");
    let r = a
        .resolve("/x.jpg", Some(&format!("w=320&v=1&sig={sig}")))
        .expect("signed");
    assert!(r.signed);
    let e = a
        .resolve("/x.jpg", Some(&format!("w=320&v=2&sig={sig}")))
        .unwrap_err();
    assert_eq!(e.code(), "bad_signature");
}

fn at_1000() -> u64 {
    1000
}

#[test]
fn expires_is_signed_and_checked_against_the_hosts_clock() {
    let access = signed().with_clock(at_1000);
    let spec = Spec::parse("width=400").unwrap();
    let sig = |t: u64| signature_until(b"new-secret", "cat.jpg", &spec, Some(t));
    // Valid until (and including) its second, in both grammars.
    for t in [1000, 5000] {
        let q = format!("width=400&expires={t}&sig={}", sig(t));
        let r = access
            .resolve("/cat.jpg", Some(&q))
            .expect("not yet expired");
        assert!(r.signed);
        assert_eq!(r.expires, Some(t));
        let path = access
            .resolve(
                "/cdn-cgi/image/width=400/cat.jpg",
                Some(&format!("expires={t}&sig={}", sig(t))),
            )
            .expect("path form");
        assert_eq!(path, r);
    }
    let q = format!("width=400&expires=999&sig={}", sig(999));
    let e = access.resolve("/cat.jpg", Some(&q)).unwrap_err();
    assert_eq!(e.code(), "signature_expired");
    assert_eq!(e.kind().http_status(), 403);
    // The expiry is covered: moving it breaks the signature.
    let q = format!("width=400&expires=9999&sig={}", sig(5000));
    assert_eq!(
        access.resolve("/cat.jpg", Some(&q)).unwrap_err().code(),
        "bad_signature"
    );
    // Dropping it breaks it too, and a host without a clock cannot accept expiring URLs.
    let q = format!("width=400&sig={}", sig(5000));
    assert_eq!(
        access.resolve("/cat.jpg", Some(&q)).unwrap_err().code(),
        "bad_signature"
    );
    let q = format!("width=400&expires=5000&sig={}", sig(5000));
    assert_eq!(
        signed().resolve("/cat.jpg", Some(&q)).unwrap_err().code(),
        "signature_expired"
    );
    // Malformed or repeated.
    let e = access
        .resolve("/cat.jpg", Some("width=400&expires=soon&sig=00"))
        .unwrap_err();
    assert_eq!(e.code(), "invalid_value");
    let e = access
        .resolve("/cat.jpg", Some("width=400&expires=1&expires=2&sig=00"))
        .unwrap_err();
    assert_eq!(e.code(), "duplicate_option");
}

#[test]
fn originals_can_be_public_signed_or_off() {
    assert_eq!(
        OriginalsAccess::parse("", true),
        Some(OriginalsAccess::Signed)
    );
    assert_eq!(
        OriginalsAccess::parse("", false),
        Some(OriginalsAccess::Public)
    );
    assert_eq!(OriginalsAccess::parse("sometimes", false), None);
    let sig = signature(b"old-secret", "photos/cat.jpg", &Spec::default());
    assert_eq!(
        string_to_sign("photos/cat.jpg", &Spec::default()),
        "/photos/cat.jpg"
    );

    let public = signed();
    let r = public.resolve("/photos/cat.jpg", None).expect("public");
    assert!(!r.signed && r.spec.is_none());

    let guarded = signed().with_originals(OriginalsAccess::Signed);
    let e = guarded.resolve("/photos/cat.jpg", None).unwrap_err();
    assert_eq!(e.code(), "signature_required");
    let e = guarded
        .resolve("/photos/cat.jpg", Some(&format!("sig={}", "0".repeat(64))))
        .unwrap_err();
    assert_eq!(e.code(), "bad_signature");
    let r = guarded
        .resolve("/photos/cat.jpg", Some(&format!("sig={sig}")))
        .expect("signed original");
    assert!(r.signed && r.spec.is_none());
    // A transform's signature does not open the original.
    let transform_sig = signature(
        b"new-secret",
        "photos/cat.jpg",
        &Spec::parse("width=10").unwrap(),
    );
    let e = guarded
        .resolve("/photos/cat.jpg", Some(&format!("sig={transform_sig}")))
        .unwrap_err();
    assert_eq!(e.code(), "bad_signature");

    let off = signed().with_originals(OriginalsAccess::Off);
    let e = off
        .resolve("/photos/cat.jpg", Some(&format!("sig={sig}")))
        .unwrap_err();
    assert_eq!(e.code(), "originals_disabled");
    assert_eq!(e.kind().http_status(), 403);
    // Transforms are unaffected.
    assert!(off.resolve("/photos/cat.jpg", Some("width=320")).is_ok());
}
