//! Validators shared by both hosts, so the origin and the edge answer `If-None-Match` alike. A
//! variant's ETag comes from its identity ([`crate::VariantKey::etag`]).

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
}
