use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn write(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(f.path(), text).expect("write config");
    f
}

#[test]
fn defaults_need_no_config_at_all() {
    let c = Config::load(None, env(&[("PATH", "/bin")]), &[]).expect("defaults");
    assert_eq!(c, Config::default());
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.originals, "samples");
}

#[test]
fn layers_apply_in_order_file_env_flags() {
    let f = write(
        r#"
        listen = "127.0.0.1:7000"
        originals = "/srv/images"
        [cache]
        memory_bytes = 1000
        [presets]
        thumb = "width=100"
        "#,
    );
    let c = Config::load(
        Some(f.path()),
        env(&[
            ("REFRACT_LISTEN", "127.0.0.1:7001"),
            ("REFRACT_CACHE__REVALIDATE_SECS", "5"),
            ("REFRACT_SIGNING__ALLOWED_WIDTHS", "[320, 640]"),
            ("REFRACT_UPLOAD__TOKEN", "1234567890123456"),
            ("REFRACT_PRESETS__HERO", "width=1600,format=auto"),
        ]),
        &[("listen", "127.0.0.1:7002".into())],
    )
    .expect("layers");
    assert_eq!(
        c.listen.to_string(),
        "127.0.0.1:7002",
        "flag beats env and file"
    );
    assert_eq!(c.originals, "/srv/images");
    assert_eq!(c.cache.memory_bytes, 1000);
    assert_eq!(c.cache.revalidate_secs, 5);
    assert_eq!(c.signing.allowed_widths, vec![320, 640]);
    assert_eq!(
        c.upload.token.as_deref(),
        Some("1234567890123456"),
        "numeric-looking string"
    );
    assert_eq!(c.presets.len(), 2);
    assert_eq!(c.presets["hero"], "width=1600,format=auto");
}

#[test]
fn unknown_keys_are_errors_in_every_layer() {
    let f = write("listen = \"127.0.0.1:1\"\nlisten_addr = \"x\"\n");
    let e = Config::load(Some(f.path()), env(&[]), &[]).expect_err("file");
    assert!(e.to_string().contains("listen_addr"), "{e}");
    let f = write("[cache]\nmemory = 1\n");
    let e = Config::load(Some(f.path()), env(&[]), &[]).expect_err("nested");
    assert!(e.to_string().contains("memory"), "{e}");
    let e = Config::load(None, env(&[("REFRACT_LISTN", "x")]), &[]).expect_err("env");
    assert!(e.to_string().contains("listn"), "{e}");
    let e = Config::load(None, env(&[("REFRACT_CACHE__MEMORY_BYTES", "lots")]), &[])
        .expect_err("typed env");
    assert!(e.to_string().contains("REFRACT_CACHE__MEMORY_BYTES"), "{e}");
}

#[test]
fn bad_values_are_refused_at_start_up() {
    for (k, v) in [
        ("REFRACT_TRANSFORM__QUEUE", "0"),
        ("REFRACT_TRANSFORM__AVIF_SPEED", "11"),
        ("REFRACT_SIGNING__KEYS", "[\"short\"]"),
        ("REFRACT_PRESETS__BAD", "width=huge"),
        ("REFRACT_LISTEN", "not an address"),
    ] {
        assert!(Config::load(None, env(&[(k, v)]), &[]).is_err(), "{k}={v}");
    }
}

#[test]
fn printing_redacts_secrets_and_round_trips() {
    let c = Config::load(
        None,
        env(&[
            ("REFRACT_SIGNING__KEYS", "[\"a-very-secret-signing-key\"]"),
            ("REFRACT_UPLOAD__TOKEN", "another-secret-token"),
        ]),
        &[],
    )
    .expect("config");
    let text = c.to_toml_redacted();
    assert!(!text.contains("a-very-secret"), "{text}");
    let mut with_urls = c.clone();
    with_urls.meta.url = "postgres://refract:pg-secret-1@db:5432/refract?sslpassword=x2".into();
    with_urls.tiers.cold = "s3://bucket/variants?token=tok-3".into();
    let printed = with_urls.to_toml_redacted();
    for secret in ["pg-secret-1", "x2", "tok-3"] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
    assert!(
        printed.contains("postgres://refract:<redacted>@db:5432/refract?sslpassword=<redacted>")
    );
    assert!(!text.contains("another-secret"), "{text}");
    assert!(text.contains("<redacted>"));
    let plain = Config::default().to_toml_redacted();
    let f = write(&plain);
    assert_eq!(
        Config::load(Some(f.path()), env(&[]), &[]).expect("reload"),
        Config::default()
    );
}

#[test]
fn the_sample_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/refract.toml");
    let c = Config::load(Some(&path), env(&[]), &[]).expect("samples/refract.toml");
    assert!(!c.presets.is_empty());
    // The sample spells out the defaults of the freshness settings.
    let d = Config::default();
    assert_eq!(c.cache, d.cache);
    assert_eq!(c.rate_limit, d.rate_limit, "[rate_limit] is the defaults");
    assert_eq!(
        (
            &c.http.cache_control,
            &c.http.signed_cache_control,
            &c.http.versioned_cache_control
        ),
        (
            &d.http.cache_control,
            &d.http.signed_cache_control,
            &d.http.versioned_cache_control
        )
    );
}

#[test]
fn urls_keep_everything_but_their_secrets() {
    for (url, want) in [
        ("postgres://u:p@h:5/db", "postgres://u:<redacted>@h:5/db"),
        ("postgres://u@h/db", "postgres://u@h/db"),
        ("postgres://u:p:q@h", "postgres://u:<redacted>@h"),
        (
            "postgres://h/db?user=u&password=p&x=1",
            "postgres://h/db?user=u&password=<redacted>&x=1",
        ),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
        ("samples", "samples"),
        ("", ""),
    ] {
        assert_eq!(redact_url(url), want, "{url}");
    }
}

#[test]
fn the_servers_state_may_not_overlap_the_originals() {
    let dir = tempfile::tempdir().expect("dir");
    let originals = dir.path().join("images").display().to_string();
    let load = |pairs: &[(&str, &str)]| Config::load(None, env(pairs), &[]);
    let inside = dir.path().join("images/state").display().to_string();
    let outside = dir.path().join("state").display().to_string();
    // The default data dir inside the originals: warm, cold and the SQLite file all would be.
    let e = load(&[
        ("REFRACT_ORIGINALS", &originals),
        ("REFRACT_DATA_DIR", &inside),
    ])
    .expect_err("state inside the originals");
    assert!(e.0.contains("overlap"), "{e}");
    // The originals inside the state: warm would index them as variants.
    let e = load(&[
        ("REFRACT_ORIGINALS", &originals),
        ("REFRACT_DATA_DIR", &dir.path().display().to_string()),
    ])
    .expect_err("originals inside the state");
    assert!(e.0.contains("overlap"), "{e}");
    // Relative spellings are resolved before comparing.
    let dotted = format!("{originals}/../images/./state");
    assert!(load(&[
        ("REFRACT_ORIGINALS", &originals),
        ("REFRACT_DATA_DIR", &dotted)
    ])
    .is_err());
    assert!(load(&[
        ("REFRACT_ORIGINALS", &originals),
        ("REFRACT_DATA_DIR", &outside)
    ])
    .is_ok());
    // In a bucket: the cold prefix inside the originals' prefix, or the other way round.
    for (o, cold, prefix, ok) in [
        ("s3://b/originals", "s3://b", "variants", true),
        ("s3://b/originals", "s3://b/originals", "variants", false),
        ("s3://b", "s3://b", "variants", false),
        ("s3://b/originals", "s3://other", "originals", true),
        ("s3://b/img", "s3://b/images", "v", true),
    ] {
        let r = load(&[
            ("REFRACT_ORIGINALS", o),
            ("REFRACT_TIERS__COLD", cold),
            ("REFRACT_TIERS__COLD_PREFIX", prefix),
            ("REFRACT_DATA_DIR", &outside),
        ]);
        assert_eq!(r.is_ok(), ok, "{o} vs {cold} + {prefix}: {r:?}");
    }
    // The default configuration (samples/ and refract-data/) is fine.
    assert!(load(&[]).is_ok());
}

#[test]
fn rate_limits_load_from_every_layer_and_bad_ones_are_refused() {
    let f = write(
        r#"
        [rate_limit]
        trusted_proxies = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]
        client_ip_header = "X-Real-IP"
        [rate_limit.client]
        rate = 5
        burst = 50
        "#,
    );
    let c = Config::load(
        Some(f.path()),
        env(&[("REFRACT_RATE_LIMIT__UPLOAD__RATE", "0.5")]),
        &[],
    )
    .expect("rate limits");
    let r = &c.rate_limit;
    assert!(r.enabled);
    assert_eq!((r.client.rate, r.client.burst), (5.0, 50), "integer rate");
    assert_eq!(r.upload.rate, 0.5);
    assert_eq!(r.upload.burst, RateLimitConfig::default().upload.burst);
    let limits = r.limits().expect("limits");
    assert_eq!(limits.trusted_proxies.len(), 3);
    assert_eq!(limits.client_header.as_deref(), Some("x-real-ip"));

    for (k, v, says) in [
        ("CLIENT__RATE", "0", "rate_limit.client"),
        ("CLIENT__RATE", "-3", "rate_limit.client"),
        ("CLIENT__BURST", "0", "rate_limit.client"),
        ("UPLOAD__RATE", "0", "rate_limit.upload"),
        ("TRANSFORM_UNIT_MS", "0", "transform_unit_ms"),
        ("MAX_CLIENTS", "0", "max_clients"),
        ("TRUSTED_PROXIES", r#"["10.0.0.0/33"]"#, "10.0.0.0/33"),
        ("TRUSTED_PROXIES", r#"["proxy.example"]"#, "trusted_proxies"),
        ("CLIENT_IP_HEADER", "x:y", "client_ip_header"),
        ("CLIENT__PER_SECOND", "1", "per_second"),
    ] {
        let k = format!("REFRACT_RATE_LIMIT__{k}");
        let e = Config::load(None, env(&[(&k, v)]), &[]).expect_err(&k);
        assert!(e.0.contains(says), "{k}={v}: {e}");
    }
    // Checked even while off.
    let off = [
        ("REFRACT_RATE_LIMIT__ENABLED", "false"),
        ("REFRACT_RATE_LIMIT__CLIENT__RATE", "0"),
    ];
    assert!(Config::load(None, env(&off), &[]).is_err());
}

#[test]
fn the_retired_avif_default_still_loads_and_warns() {
    let f = write("[transform]\ndefault_quality = 80\ndefault_avif_quality = 64\n");
    let c = Config::load(Some(f.path()), env(&[]), &[]).expect("an older file loads");
    assert_eq!(c.transform.default_avif_quality, Some(64));
    // Ignored: the policy has one default quality, the file's default_quality.
    assert_eq!(c.transform.policy().default_quality, 80);
    let warnings = c.deprecations();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("default_avif_quality"), "{warnings:?}");
    assert!(Config::default().deprecations().is_empty());
    assert!(!Config::default()
        .to_toml_redacted()
        .contains("default_avif_quality"));
}
