//! Client hints at the edge: the request's hint headers, kept as sent so that a proxied handoff
//! passes them on to the origin (which resolves `width=auto` the same way), and read into the
//! core's [`ClientHints`].

use refract_core::spec::ClientHints;
use worker::Headers;

/// The hint headers Refract reads (`refract_core::spec::ACCEPT_CH`), lowercase.
const NAMES: [&str; 4] = ["sec-ch-width", "width", "sec-ch-dpr", "dpr"];

/// The request's hint headers that are present, by lowercase name.
pub fn headers(h: &Headers) -> Vec<(&'static str, String)> {
    NAMES
        .iter()
        .filter_map(|name| h.get(name).ok().flatten().map(|v| (*name, v)))
        .collect()
}

/// The hints in `headers` (from [`headers`]).
pub fn read(headers: &[(&'static str, String)]) -> ClientHints {
    ClientHints::from_headers(|name| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    })
}
