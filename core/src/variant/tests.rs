use super::*;

const CHROME: &str = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8";

fn key(query: &str, accept: &str, policy: &Policy) -> VariantKey {
    let spec = Spec::parse(query).expect("spec");
    VariantKey::new("photos/cat.jpg", &spec, accept, policy)
}

#[test]
fn both_grammars_name_one_variant() {
    let p = Policy::default();
    let query = key("w=400&q=75&f=auto", CHROME, &p);
    let options = key("width=400,quality=75,format=auto", CHROME, &p);
    assert_eq!(query, options);
    assert_eq!(query.id(), options.id());
    assert_eq!(query.etag("o1"), options.etag("o1"));
    assert_eq!(query.spec(), "width=400,quality=75,format=auto");
}

#[test]
fn spelling_round_trips_and_reads_from_the_right() {
    let p = Policy::default();
    let spec = Spec::parse("width=400,background=%23ff000080").expect("spec");
    for k in ["photos/cat.jpg", "odd?name#1.jpg", "a b/c?d#e.f"] {
        let v = VariantKey::new(k, &spec, "", &p);
        let s = v.to_string();
        assert!(s.starts_with(&format!("{k}?width=400,")), "{s}");
        assert_eq!(s.parse::<VariantKey>(), Ok(v), "{s}");
    }
    let v = key("width=1", "", &p);
    assert_eq!(
        v.to_string(),
        format!("photos/cat.jpg?width=1#fallback.{}", v.fingerprint())
    );
    // An empty spec is a spec too (the defaults).
    let empty = VariantKey::new("k", &Spec::default(), "", &p);
    assert_eq!(empty.to_string().parse::<VariantKey>(), Ok(empty));
}

#[test]
fn malformed_spellings_are_refused() {
    let fp = key("width=1", "", &Policy::default())
        .fingerprint()
        .to_owned();
    for bad in [
        String::new(),
        "photos/cat.jpg?width=1".to_owned(),
        format!("photos/cat.jpg?width=1#tiff.{fp}"),
        "photos/cat.jpg?width=1#png.xyz".to_owned(),
        format!("photos/cat.jpg?width=1#png.{}", fp.to_uppercase()),
        format!("photos/cat.jpg#png.{fp}"),
        format!("?width=1#png.{fp}"),
        format!("k?w=1#png.{fp}"),
        format!("k?format=png,width=1#png.{fp}"),
        format!("k?width=abc#png.{fp}"),
    ] {
        assert!(bad.parse::<VariantKey>().is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn ids_and_etags_depend_on_every_part() {
    let p = Policy::default();
    let base = key("width=10,format=auto", CHROME, &p);
    assert_eq!(base.id().len(), 32);
    assert_eq!(base.etag("o1").len(), 34);
    let others = [
        VariantKey::new(
            "photos/dog.jpg",
            &Spec::parse("width=10,format=auto").expect("spec"),
            CHROME,
            &p,
        ),
        key("width=11,format=auto", CHROME, &p),
        key("width=10,format=auto", "image/webp", &p),
        key("width=10,format=auto", "image/jpeg", &p),
        key(
            "width=10,format=auto",
            CHROME,
            &Policy { avif_speed: 8, ..p },
        ),
    ];
    for other in &others {
        assert_ne!(other.id(), base.id(), "{other}");
        assert_ne!(other.etag("o1"), base.etag("o1"), "{other}");
    }
    // The version changes the ETag, not the slot.
    assert_ne!(base.etag("o1"), base.etag("o2"));
    assert_eq!(base.etag("o1"), base.etag("o1"));
}

#[test]
fn only_settings_that_shape_the_output_count() {
    let p = Policy::default();
    let slower_avif = Policy { avif_speed: 3, ..p };
    let other_webp = Policy {
        webp_method: 6,
        ..p
    };
    let lower_default = Policy {
        default_quality: 70,
        ..p
    };
    let same = |q: &str, a: &Policy, b: &Policy| key(q, CHROME, a) == key(q, CHROME, b);
    // AVIF: speed and the default quality (one scale for every format); not WebP's method.
    assert!(!same("width=10,format=avif", &p, &slower_avif));
    assert!(!same("width=10,format=avif", &p, &lower_default));
    assert!(same("width=10,format=avif,quality=60", &p, &lower_default));
    assert!(same("width=10,format=avif", &p, &other_webp));
    // WebP: its method and the default quality, unless the spec sets one.
    assert!(!same("width=10,format=webp", &p, &other_webp));
    assert!(!same("width=10,format=webp", &p, &lower_default));
    assert!(same("width=10,format=webp,quality=80", &p, &lower_default));
    assert!(same("width=10,format=webp", &p, &slower_avif));
    // JPEG and the fallback: the default quality only.
    assert!(!same("width=10,format=jpeg", &p, &lower_default));
    assert!(!same("width=10", &p, &lower_default));
    assert!(same("width=10,format=jpeg", &p, &slower_avif));
    // Two hosts of one build whose AVIF speeds differ share the ETag of a WebP or a PNG, not of
    // an AVIF.
    for (q, shared) in [
        ("width=10,format=webp", true),
        ("width=10,format=png", true),
        ("width=10,format=avif", false),
    ] {
        let (a, b) = (key(q, CHROME, &p), key(q, CHROME, &slower_avif));
        assert_eq!(a.etag("o1") == b.etag("o1"), shared, "{q}");
    }
    // PNG and JSON: none of them.
    for q in ["width=10,format=png", "width=10,format=json"] {
        for other in [&slower_avif, &other_webp, &lower_default] {
            assert!(same(q, &p, other), "{q}");
        }
    }
}

#[test]
fn the_auto_avif_cap_and_its_step_down_are_part_of_the_fingerprint() {
    // Without the CPU cap, whose step-downs count as well (next test).
    let p = Policy {
        max_cpu_ms: u64::MAX,
        ..Policy::default()
    };
    let capped = Policy {
        max_avif_pixels: 1_000_000,
        ..p
    };
    let auto = "width=10,format=auto";
    assert_ne!(key(auto, CHROME, &p), key(auto, CHROME, &capped));
    // The cap steps down to WebP (or, in a build without WebP, to the JPEG/PNG fallback), so
    // WebP's method (or the default quality) counts.
    let stepped_down = if (OutputFormat::Webp { lossless: false }).available() {
        Policy {
            webp_method: 6,
            ..capped
        }
    } else {
        Policy {
            default_quality: 70,
            ..capped
        }
    };
    assert_ne!(key(auto, CHROME, &capped), key(auto, CHROME, &stepped_down));
    // Uncapped too: an animated original asked for as AVIF by format=auto is an animated
    // WebP, so WebP's method counts (the AVIF speed does as always).
    assert_ne!(
        key(auto, CHROME, &p),
        key(
            auto,
            CHROME,
            &Policy {
                webp_method: 6,
                ..p
            }
        )
    );
    // An explicit AVIF is never stepped down: the cap does not count.
    let avif = "width=10,format=avif";
    assert_eq!(key(avif, CHROME, &p), key(avif, CHROME, &capped));
    // Nor does it for a client that gets WebP anyway.
    assert_eq!(
        key(auto, "image/webp", &p),
        key(auto, "image/webp", &capped)
    );
}

#[test]
fn the_cpu_cap_and_every_step_down_are_part_of_the_auto_fingerprint() {
    let p = Policy::default();
    let other_cap = Policy {
        max_cpu_ms: 5_000,
        ..p
    };
    let auto = "width=10,format=auto";
    assert_ne!(key(auto, CHROME, &p), key(auto, CHROME, &other_cap));
    // AVIF may step down as far as the fallback: its quality counts.
    let fallback_quality = Policy {
        default_quality: 70,
        ..p
    };
    assert_ne!(key(auto, CHROME, &p), key(auto, CHROME, &fallback_quality));
    // An explicit format is refused past the cap, never changed: the cap does not count.
    let avif = "width=10,format=avif";
    assert_eq!(key(avif, CHROME, &p), key(avif, CHROME, &other_cap));
    // Nor for the fallback itself, which has nowhere to step down to.
    assert_eq!(
        key(auto, "image/jpeg", &p),
        key(auto, "image/jpeg", &other_cap)
    );
}

#[test]
fn the_pixel_paths_of_this_build_are_named() {
    let paths = pixel_paths();
    assert!(paths.starts_with("jpeg-decoder:"), "{paths}");
    assert!(paths.contains(",qcms:"), "{paths}");
    if cfg!(target_arch = "wasm32") {
        assert!(paths.ends_with("qcms:scalar"), "{paths}");
    }
    let turbo = cfg!(all(feature = "turbojpeg", not(target_arch = "wasm32")));
    assert_eq!(paths.contains(",libjpeg-turbo,"), turbo, "{paths}");
}

#[test]
fn outputs_follow_the_spec_and_accept() {
    let o = |q: &str, accept: &str| Output::negotiate(&Spec::parse(q).expect("spec"), accept);
    assert_eq!(o("width=1", CHROME), Output::Fallback);
    assert_eq!(o("format=jpeg", CHROME), Output::Jpeg);
    assert_eq!(o("format=baseline-jpeg", ""), Output::Jpeg);
    assert_eq!(o("format=png", ""), Output::Png);
    assert_eq!(o("format=json", ""), Output::Json);
    assert_eq!(o("format=avif", ""), Output::Avif);
    assert_eq!(o("format=auto", "image/*,*/*"), Output::Fallback);
    if (OutputFormat::Webp { lossless: false }).available() {
        assert_eq!(o("format=webp", ""), Output::Webp);
        assert_eq!(o("format=auto", "image/webp"), Output::Webp);
    }
    assert_eq!(o("format=auto", CHROME), Output::Avif);
}

/// Each crate in `CODECS` is in Cargo.lock at exactly that version, and only that one.
#[test]
fn codec_versions_match_the_lock_file() {
    let lock = include_str!("../../../Cargo.lock");
    for (name, version) in CODECS {
        let versions: Vec<&str> = lock
            .split("[[package]]")
            .filter(|p| p.contains(&format!("\nname = \"{name}\"\n")))
            .filter_map(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
            .map(|v| v.trim_matches('"'))
            .collect();
        assert_eq!(
            versions,
            vec![*version],
            "{name}: Cargo.lock has {versions:?}; update CODECS in core/src/variant.rs"
        );
    }
}
