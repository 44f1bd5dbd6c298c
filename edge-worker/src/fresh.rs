//! How long a cached result is kept and served, the parts that decide (pure, tested natively;
//! `cached.rs` applies them to the Cache API).
//!
//! Every entry remembers the original's version it was made from (its storage ETag) and when
//! that version was last confirmed. Within `REVALIDATE_SECS` of that, a hit is served as it
//! is; past it, the original is checked first (R2 `head`, or a conditional GET answered 304).
//! The entry itself is kept in the Cache API for the response's `max-age` plus its
//! `stale-if-error`, so that it can still be served when storage fails.

/// The Cache API lifetime, in seconds, of an entry answered with `cache_control`: its
/// `s-maxage` (else `max-age`) plus its `stale-if-error`. `None` when the response may not be
/// kept (`no-store`, `private`, `no-cache`, no positive max-age).
pub fn lifetime(cache_control: &str) -> Option<u64> {
    let mut max_age = None;
    let mut s_maxage = None;
    let mut if_error = 0u64;
    for directive in cache_control.split(',') {
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        let seconds = || value.and_then(|v| v.parse::<u64>().ok());
        match name.to_ascii_lowercase().as_str() {
            "no-store" | "private" | "no-cache" => return None,
            "max-age" => max_age = seconds(),
            "s-maxage" => s_maxage = seconds(),
            "stale-if-error" => if_error = seconds().unwrap_or(0),
            _ => {}
        }
    }
    let fresh = s_maxage.or(max_age).filter(|&s| s > 0)?;
    Some(fresh.saturating_add(if_error).min(MAX_LIFETIME))
}

/// The longest an entry is kept: a year, what any cache keeps an `immutable` response.
pub const MAX_LIFETIME: u64 = 365 * 24 * 3600;

/// Whether an entry confirmed at `confirmed_ms` (Unix milliseconds) must be checked against its
/// original before it is served at `now_ms`: `window_secs` or more have passed. A window of 0
/// checks every time; an entry without a confirmation time is always checked.
pub fn due(confirmed_ms: Option<f64>, now_ms: f64, window_secs: u64) -> bool {
    match confirmed_ms {
        Some(t) => now_ms - t >= (window_secs as f64) * 1000.0,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetime_is_max_age_plus_stale_if_error() {
        let default = "public, max-age=86400, stale-while-revalidate=3600, stale-if-error=604800";
        assert_eq!(lifetime(default), Some(86_400 + 604_800));
        assert_eq!(
            lifetime("public, max-age=31536000, immutable"),
            Some(MAX_LIFETIME)
        );
        assert_eq!(lifetime("public, max-age=600"), Some(600));
        assert_eq!(lifetime("max-age=600, s-maxage=60"), Some(60));
        assert_eq!(
            lifetime("Public, Max-Age=\"120\", Stale-If-Error=30"),
            Some(150)
        );
        for never in [
            "no-store",
            "private, max-age=600",
            "public, no-cache, max-age=600",
            "public, max-age=0",
            "public",
            "",
            "max-age=soon",
        ] {
            assert_eq!(lifetime(never), None, "{never:?}");
        }
    }

    #[test]
    fn checked_once_the_window_has_passed() {
        let t = 1_700_000_000_000.0;
        assert!(!due(Some(t), t + 59_999.0, 60));
        assert!(due(Some(t), t + 60_000.0, 60));
        assert!(due(Some(t), t, 0), "a window of 0 checks every hit");
        assert!(due(None, t, 3600), "no confirmation time: checked");
        assert!(!due(Some(t), t - 5_000.0, 60), "a clock behind the entry");
    }
}
