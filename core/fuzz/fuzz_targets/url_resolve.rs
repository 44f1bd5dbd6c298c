//! Arbitrary request lines through `Access::resolve`, the first thing both hosts do with a
//! request: the bytes before the first NUL are the path, the rest the query. Signing, presets,
//! signed originals and a clock are configured, so every branch (keys, both grammars, presets,
//! `sig`, `expires`) is reachable. Nothing may panic, and what resolves must be consistent:
//! keys are never empty and never hold `.`/`..` segments or control characters, a signed
//! request's signature verifies against the key and spec it resolved to, and the spec's
//! canonical form resolves to the same spec.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use refract_core::url::{signature_until, Access, OriginalsAccess};
use refract_core::Spec;

const SECRET: &str = "fuzz-secret-0123456789";

fn now() -> u64 {
    1_800_000_000
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (path, query) = match text.split_once('\0') {
        Some((p, q)) => (p, Some(q)),
        None => (text.as_ref(), None),
    };
    let presets = BTreeMap::from([("thumb".to_owned(), "width=64,height=64,fit=cover".to_owned())]);
    let access = Access::new(&[SECRET.to_owned()], &[320, 640], &presets)
        .expect("valid access")
        .with_originals(OriginalsAccess::Signed)
        .with_clock(now);
    let Ok(request) = access.resolve(path, query) else {
        return;
    };
    assert!(!request.key.is_empty());
    for segment in request.key.split('/') {
        assert!(!segment.is_empty() && segment != "." && segment != "..", "{:?}", request.key);
    }
    assert!(!request.key.chars().any(char::is_control), "{:?}", request.key);
    if let Some(spec) = &request.spec {
        assert_eq!(Spec::parse(&spec.to_string()).ok().as_ref(), Some(spec));
    }
    if request.signed {
        let spec = request.spec.clone().unwrap_or_default();
        let sig = signature_until(SECRET.as_bytes(), &request.key, &spec, request.expires);
        assert!(text.contains(&sig), "a signed request carries its own signature");
        assert!(request.expires.is_none_or(|t| t >= now()));
    }
});
