//! Signatures: the string a signature covers, and its HMAC-SHA256 in lowercase hex.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::Spec;

/// The exact string a signature covers: `<canonical spec>/<decoded key>`.
pub fn string_to_sign(key: &str, spec: &Spec) -> String {
    string_to_sign_until(key, spec, None)
}

/// As [`string_to_sign`], with `?expires=<t>` appended when the URL expires.
pub fn string_to_sign_until(key: &str, spec: &Spec, expires: Option<u64>) -> String {
    match expires {
        Some(t) => format!("{spec}/{key}?expires={t}"),
        None => format!("{spec}/{key}"),
    }
}

/// Lowercase hex HMAC-SHA256 of [`string_to_sign`] under `secret`.
pub fn signature(secret: &[u8], key: &str, spec: &Spec) -> String {
    signature_until(secret, key, spec, None)
}

/// Lowercase hex HMAC-SHA256 of [`string_to_sign_until`] under `secret`.
pub fn signature_until(secret: &[u8], key: &str, spec: &Spec, expires: Option<u64>) -> String {
    let mut mac = new_mac(secret);
    mac.update(string_to_sign_until(key, spec, expires).as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn new_mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length (long keys are hashed first), so this cannot fail.
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

/// The bytes of a signature in its one valid spelling: 64 lowercase hex digits. Uppercase, a
/// sign (`u8::from_str_radix` takes `+a`) or any other length is not a signature.
pub(super) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    if s.len() != 64 {
        return None;
    }
    s.as_bytes()
        .chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}
