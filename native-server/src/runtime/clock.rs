//! Wall-clock time in Unix milliseconds, injectable: the server uses the system clock, tests
//! and `refract lifecycle plan --now` use a fixed or manually advanced one, so rules about 30
//! days run in milliseconds.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum Clock {
    System,
    /// A clock that moves only when told to.
    Manual(Arc<AtomicI64>),
}

pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Unix seconds from the system clock (signature expiry).
pub fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Monotonic milliseconds since the first call: the clock the core's stage timings use
/// (`refract_core::Context::clock`), which has none of its own.
pub fn monotonic_ms() -> f64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs_f64()
        * 1000.0
}

impl Clock {
    pub fn manual(now_ms: i64) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(now_ms)))
    }

    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward; a no-op on the system clock.
    pub fn advance_ms(&self, ms: i64) {
        if let Clock::Manual(t) = self {
            t.fetch_add(ms, Ordering::SeqCst);
        }
    }
}

/// Parses `--now`: Unix milliseconds, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn parse_time(s: &str) -> Result<i64, BadTime> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || BadTime(s.to_owned());
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, t.strip_suffix('Z').ok_or_else(bad)?),
        None => (s, "00:00:00"),
    };
    let num = |x: &str| x.parse::<i64>().map_err(|_| bad());
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.split(':').collect();
    let ([y, m, dd], [hh, mm, ss]) = (d.as_slice(), t.as_slice()) else {
        return Err(bad());
    };
    let (y, m, dd) = (num(y)?, num(m)?, num(dd)?);
    let (hh, mm, ss) = (num(hh)?, num(mm)?, num(ss)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&dd) || hh > 23 || mm > 59 || ss > 60 {
        return Err(bad());
    }
    // Days from the civil date (proleptic Gregorian), 1970-01-01 = 0.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000)
}

/// A `--now` that is none of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTime(pub String);

impl std::fmt::Display for BadTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}: expected Unix milliseconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
            self.0
        )
    }
}

impl std::error::Error for BadTime {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("0"), Ok(0));
        assert_eq!(parse_time("1970-01-02"), Ok(DAY_MS));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2000-03-01"), Ok(951_868_800_000));
        for bad in ["2023-13-01", "yesterday", "2023-11-14T22:13:20", "2023-11"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
