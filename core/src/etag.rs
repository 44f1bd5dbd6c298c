//! Validators shared by both hosts, so the origin and the edge give the same ETag for the same
//! result and answer `If-None-Match` alike.

use sha2::{Digest, Sha256};

/// A result's strong ETag (quoted): a hash of the original's ETag, the canonical spec and the
/// negotiated format class (`avif`, `webp`, `fallback`, or `-` when the spec fixes the
/// format), so it changes exactly when the bytes may change.
pub fn variant(original_etag: &str, canonical_spec: &str, class: &str) -> String {
    let digest = Sha256::new()
        .chain_update(original_etag.as_bytes())
        .chain_update([0])
        .chain_update(canonical_spec.as_bytes())
        .chain_update([0])
        .chain_update(class.as_bytes())
        .finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether an `If-None-Match` header matches `etag`, with the weak comparison the header uses:
/// `W/` prefixes are ignored, a list matches if any member does, and `*` matches anything.
pub fn matches(if_none_match: &str, etag: &str) -> bool {
    let bare = |s: &str| s.trim().trim_start_matches("W/").to_owned();
    let etag = bare(etag);
    if_none_match
        .split(',')
        .any(|candidate| candidate.trim() == "*" || bare(candidate) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_weak_forms_and_star() {
        let e = "\"abc\"";
        assert!(matches("\"abc\"", e));
        assert!(matches("W/\"abc\"", e));
        assert!(matches("\"x\", \"abc\"", e));
        assert!(matches("*", e));
        assert!(!matches("\"abd\"", e));
        assert!(!matches("", e));
    }

    #[test]
    fn variant_etags_depend_on_every_input() {
        let base = variant("o1", "width=10", "-");
        assert_eq!(base.len(), 34);
        assert_eq!(base, variant("o1", "width=10", "-"));
        assert_ne!(base, variant("o2", "width=10", "-"));
        assert_ne!(base, variant("o1", "width=11", "-"));
        assert_ne!(base, variant("o1", "width=10", "avif"));
    }
}
