//! What the server's tests share. Each test file includes it with `mod support;` and uses what
//! it needs:
//!
//! - [`app`]: the real router over a temporary directory of samples, driven in process with
//!   `oneshot` (most tests);
//! - [`process`]: `refract` as a process, the one way tests start `refract serve`, and a real
//!   S3-compatible server (SeaweedFS);
//! - [`pg`]: a private PostgreSQL server; [`sigv4`]: the tests' own S3 client, for asking S3
//!   itself what it holds.
#![allow(dead_code)]

pub mod app;
pub mod lifecycle;
pub mod pg;
pub mod process;
pub mod sigv4;

use std::path::Path;

pub fn sample(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Keys with every ASCII punctuation character the key grammar accepts (all but `\`, which
/// keys refuse, and `/`, the separator), and non-ASCII keys: each must round-trip through
/// upload, serving, listing (reindex) and delete on every store.
#[allow(dead_code)]
pub fn awkward_keys() -> Vec<String> {
    let mut keys: Vec<String> = "!\"#$%&'()*+,-.:;<=>?@[]^_`{|}~"
        .chars()
        .map(|c| format!("punct/a{c}b.jpg"))
        .collect();
    keys.extend(
        [
            "punct/100%25.jpg",
            "punct/%7E.jpg",
            "unicode/café/naïve.jpg",
            "unicode/日本/写真.jpg",
            "unicode/emoji 😀.jpg",
            "unicode/space at end .jpg",
        ]
        .map(String::from),
    );
    keys
}

/// A key as a URL path: every byte outside the unreserved set percent-encoded, `/` kept.
#[allow(dead_code)]
pub fn url_path(key: &str) -> String {
    let mut out = String::from("/");
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Asserts that `listed` holds exactly `keys`, in any order.
#[allow(dead_code)]
pub fn assert_same_keys(mut listed: Vec<String>, keys: &[String]) {
    let mut expected = keys.to_vec();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
}
