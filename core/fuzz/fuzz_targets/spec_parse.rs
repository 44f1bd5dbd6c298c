//! Arbitrary bytes (as lossy UTF-8) through the three spec parsers. None may panic, and every
//! spec that parses must survive the canonical round trips:
//! `Spec::parse(&spec.to_string()) == spec` and `Spec::parse_query(&spec.to_query()) == spec`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use refract_core::Spec;

fn check_round_trip(input: &str, spec: &Spec) {
    let canonical = spec.to_string();
    assert_eq!(
        Spec::parse(&canonical).ok().as_ref(),
        Some(spec),
        "Display round trip failed\n  input:     {input:?}\n  canonical: {canonical:?}\n  reparsed:  {:?}",
        Spec::parse(&canonical)
    );
    let query = spec.to_query();
    assert_eq!(
        Spec::parse_query(&query).ok().as_ref(),
        Some(spec),
        "query round trip failed\n  input: {input:?}\n  query: {query:?}\n  reparsed: {:?}",
        Spec::parse_query(&query)
    );
    // The canonical form is a fixed point.
    assert_eq!(Spec::parse(&canonical).ok().map(|s| s.to_string()), Some(canonical));
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Ok(spec) = Spec::parse(&s) {
        check_round_trip(&s, &spec);
    }
    if let Ok(spec) = Spec::parse_query(&s) {
        check_round_trip(&s, &spec);
    }
    if let Ok(spec) = Spec::parse_options(&s) {
        check_round_trip(&s, &spec);
    }
});
