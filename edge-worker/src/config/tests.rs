use std::collections::BTreeMap;

use super::*;

fn load(vars: &[(&str, &str)]) -> Result<EdgeConfig, ConfigError> {
    let map: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    EdgeConfig::from_lookup(|k| map.get(k).cloned(), &BTreeMap::new())
}

#[test]
fn defaults_need_no_vars() {
    let c = load(&[]).expect("defaults load");
    assert_eq!(c.origin_url, None);
    assert_eq!(c.handoff, None);
    assert_eq!(c.budget.max_input_bytes, defaults::MAX_INPUT_BYTES);
    assert_eq!(c.budget.max_decode_pixels, defaults::MAX_DECODE_PIXELS);
    assert_eq!(c.policy.avif_speed, defaults::AVIF_SPEED);
    assert_eq!(c.policy.max_avif_pixels, defaults::MAX_AVIF_PIXELS);
    assert_eq!(
        c.cache_control,
        "public, max-age=86400, stale-while-revalidate=3600, stale-if-error=604800"
    );
    assert_eq!(c.signed_cache_control, c.cache_control);
    assert_eq!(
        c.versioned_cache_control,
        "public, max-age=31536000, immutable"
    );
    assert_eq!(c.revalidate_secs, 60);
    assert_eq!(c.rate_limit, None);
    assert_eq!(c.transform_rate_limit, None);
    assert!(!c.access.requires_signature());
    assert!(!expose_memory(None));
    assert!(!expose_memory(Some("yes".into())));
    assert!(expose_memory(Some(" true".into())));
}

#[test]
fn origin_and_handoff() {
    let c = load(&[
        ("ORIGIN_URL", "http://127.0.0.1:8080/"),
        ("HANDOFF_URL", "https://origin.example"),
        ("HANDOFF", "redirect"),
    ])
    .expect("loads");
    assert_eq!(c.origin_url.as_deref(), Some("http://127.0.0.1:8080"));
    assert_eq!(
        c.handoff,
        Some(Handoff {
            url: "https://origin.example".into(),
            mode: HandoffMode::Redirect
        })
    );
    let proxy = load(&[("HANDOFF_URL", "http://a.example")]).expect("loads");
    assert_eq!(proxy.handoff.map(|h| h.mode), Some(HandoffMode::Proxy));
}

#[test]
fn bad_values_name_the_var() {
    for (vars, var) in [
        (vec![("ORIGIN_URL", "ftp://x")], "ORIGIN_URL"),
        (vec![("ORIGIN_URL", "http://x/?a=1")], "ORIGIN_URL"),
        (vec![("HANDOFF_URL", "origin.example")], "HANDOFF_URL"),
        (vec![("HANDOFF", "teleport")], "HANDOFF"),
        (vec![("MAX_INPUT_BYTES", "lots")], "MAX_INPUT_BYTES"),
        (vec![("AVIF_SPEED", "11")], "AVIF_SPEED"),
        (vec![("WEBP_METHOD", "7")], "WEBP_METHOD"),
        (vec![("ALLOWED_WIDTHS", "320,wide")], "ALLOWED_WIDTHS"),
        (vec![("REVALIDATE_SECS", "a minute")], "REVALIDATE_SECS"),
        (vec![("RATE_LIMIT_QUOTA", "600/30")], "RATE_LIMIT_QUOTA"),
        (
            vec![("TRANSFORM_RATE_LIMIT_QUOTA", "lots")],
            "TRANSFORM_RATE_LIMIT_QUOTA",
        ),
    ] {
        let err = load(&vars).expect_err("refused");
        assert_eq!(err.var, var, "{err}");
    }
}

#[test]
fn signing_keys_and_presets() {
    let presets = BTreeMap::from([("thumb".to_owned(), "width=200,fit=cover".to_owned())]);
    let vars = BTreeMap::from([
        ("SIGNING_KEYS".to_owned(), "k1, k2".to_owned()),
        ("ALLOWED_WIDTHS".to_owned(), "320,640".to_owned()),
    ]);
    let c = EdgeConfig::from_lookup(|k| vars.get(k).cloned(), &presets).expect("loads");
    assert!(c.access.requires_signature());
    let r = c
        .access
        .resolve("/a.jpg", Some("preset=thumb"))
        .expect("preset allowed unsigned");
    assert_eq!(
        r.spec.map(|s| s.to_string()).as_deref(),
        Some("width=200,fit=cover")
    );
    assert!(c.access.resolve("/a.jpg", Some("width=640")).is_ok());
    assert!(c.access.resolve("/a.jpg", Some("width=641")).is_err());

    let broken = BTreeMap::from([("x".to_owned(), "width=huge".to_owned())]);
    let err = EdgeConfig::from_lookup(|_| None, &broken).expect_err("bad preset");
    assert_eq!(err.var, "PRESETS");
}

#[test]
fn freshness_and_rate_limit_settings() {
    let c = load(&[
        ("REVALIDATE_SECS", "0"),
        ("VERSIONED_CACHE_CONTROL", "public, max-age=600"),
        ("RATE_LIMIT_QUOTA", "600/60"),
        ("TRANSFORM_RATE_LIMIT_QUOTA", "20/10"),
    ])
    .expect("loads");
    assert_eq!(c.revalidate_secs, 0);
    assert_eq!(c.versioned_cache_control, "public, max-age=600");
    assert_eq!(
        c.rate_limit,
        Some(Quota {
            limit: 600,
            period: 60
        })
    );
    assert_eq!(
        c.transform_rate_limit,
        Some(Quota {
            limit: 20,
            period: 10
        })
    );
}
