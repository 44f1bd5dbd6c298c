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
    assert_eq!(c.cache_control, "public, max-age=86400");
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
