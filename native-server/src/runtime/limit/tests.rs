use std::net::IpAddr;
use std::time::Duration;

use governor::clock::FakeRelativeClock;

use super::*;

const MS: Duration = Duration::from_millis(1);

/// 10 units a second (one every 100 ms), 5 at once, on a clock the test moves.
fn buckets(max_keys: usize) -> (Buckets<u32, FakeRelativeClock>, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    let rate = Rate {
        per_sec: 10.0,
        burst: 5,
    };
    let b = Buckets::with_clock(rate, max_keys, u32::MAX, clock.clone()).expect("valid rate");
    (b, clock)
}

fn taken(remaining: u32, full_in_ms: u64) -> Charge {
    Charge::Taken {
        remaining,
        full_in: Duration::from_millis(full_in_ms),
    }
}

fn refused(remaining: u32, wait_ms: u64) -> Charge {
    Charge::Refused {
        remaining,
        wait: Duration::from_millis(wait_ms),
    }
}

#[test]
fn a_burst_is_taken_then_refused_until_a_unit_comes_back() {
    let (b, clock) = buckets(100);
    for left in (0..5).rev() {
        assert_eq!(b.charge(&1, 1), taken(left, 100 * u64::from(5 - left)));
    }
    assert_eq!(b.charge(&1, 1), refused(0, 100));
    clock.advance(40 * MS);
    assert_eq!(b.charge(&1, 1), refused(0, 60), "refusals take nothing");
    clock.advance(60 * MS);
    assert_eq!(b.charge(&1, 1), taken(0, 500));
}

#[test]
fn a_charge_of_several_units_takes_all_or_nothing() {
    let (b, clock) = buckets(100);
    assert_eq!(b.charge(&1, 3), taken(2, 300));
    // 2 left, 3 asked: the third comes back in 100 ms.
    assert_eq!(b.charge(&1, 3), refused(2, 100));
    assert_eq!(b.charge(&1, 2), taken(0, 500), "the refusal took nothing");
    clock.advance(250 * MS);
    assert_eq!(b.charge(&1, 4), refused(2, 150));
    // More than the burst needs a full bucket, and takes all of it.
    clock.advance(1000 * MS);
    assert_eq!(b.charge(&1, 1000), taken(0, 500));
}

#[test]
fn keys_have_buckets_of_their_own() {
    let (b, _clock) = buckets(100);
    assert_eq!(b.charge(&1, 5), taken(0, 500));
    assert!(matches!(b.charge(&1, 1), Charge::Refused { .. }));
    assert_eq!(b.charge(&2, 1), taken(4, 100));
    assert_eq!(b.len(), 2);
}

#[test]
fn past_the_cap_new_keys_share_the_overflow_bucket() {
    let (b, clock) = buckets(2);
    assert_eq!(b.charge(&1, 1), taken(4, 100));
    assert_eq!(b.charge(&2, 1), taken(4, 100));
    // Full: 3 and 4 are charged to one bucket, and known keys keep their own.
    assert_eq!(b.charge(&3, 5), taken(0, 500));
    assert_eq!(b.charge(&4, 1), refused(0, 100));
    assert_eq!(b.charge(&1, 1), taken(3, 200));
    assert_eq!(b.len(), 3, "1, 2 and the overflow");
    // Once every bucket has refilled, the upkeep forgets them and 3 gets one of its own.
    clock.advance(Duration::from_secs(1));
    b.retain_recent();
    assert!(b.is_empty());
    assert_eq!(b.charge(&3, 5), taken(0, 500));
    assert_eq!(b.charge(&4, 1), taken(4, 100), "4 is no longer 3's");
}

#[test]
fn the_upkeep_keeps_buckets_that_have_not_refilled() {
    let (b, clock) = buckets(100);
    b.charge(&1, 5);
    b.charge(&2, 1);
    clock.advance(200 * MS);
    b.retain_recent();
    assert_eq!(b.len(), 1, "2 refilled, 1 has 3 units to come");
    assert_eq!(b.charge(&1, 3), refused(2, 100), "1's bucket is as it was");
}

#[test]
fn rates_are_checked() {
    let rate = |per_sec, burst| Rate { per_sec, burst }.quota().map(|_| ());
    assert!(rate(100.0, 2000).is_ok());
    assert!(rate(0.001, 1).is_ok());
    for (per_sec, burst) in [
        (0.0, 10),
        (-1.0, 10),
        (f64::NAN, 10),
        (f64::INFINITY, 10),
        (2e9, 10),
        (10.0, 0),
    ] {
        assert!(rate(per_sec, burst).is_err(), "{per_sec} {burst}");
    }
}

#[test]
fn the_policy_window_is_the_time_to_fill_a_bucket() {
    let w = |per_sec, burst| Rate { per_sec, burst }.window_secs();
    assert_eq!(w(100.0, 2000), 20);
    assert_eq!(w(10.0, 5), 1);
    assert_eq!(w(3.0, 10), 4);
    assert_eq!(w(0.001, 1), 1000);
    assert_eq!(ceil_secs(Duration::from_millis(1001)), 2);
    assert_eq!(ceil_secs(Duration::from_secs(3)), 3);
}

#[test]
fn ipv6_clients_are_keyed_by_their_64() {
    let key = |s: &str| ClientKey::of(s.parse::<IpAddr>().expect("ip"));
    assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff:1:2:3"));
    assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    assert_eq!(key("192.0.2.7"), key("::ffff:192.0.2.7"), "mapped IPv4");
    assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
}

#[test]
fn a_transform_costs_a_unit_per_unit_of_cpu_begun_within_the_burst() {
    let limits = RateLimits {
        client: Some(
            Buckets::new(
                Rate {
                    per_sec: 100.0,
                    burst: 50,
                },
                10,
                ClientKey::Overflow,
            )
            .expect("rate"),
        ),
        transform_unit_ms: 100,
        ..RateLimits::off()
    };
    assert_eq!(limits.transform_units(0), 0);
    assert_eq!(limits.transform_units(1), 1);
    assert_eq!(limits.transform_units(100), 1);
    assert_eq!(limits.transform_units(101), 2);
    assert_eq!(
        limits.transform_units(1_000_000),
        49,
        "the burst less the first"
    );
    assert_eq!(RateLimits::off().transform_units(1000), 0);
}

#[test]
fn trusted_proxies_match_by_network() {
    let limits = RateLimits {
        trusted_proxies: vec![
            "10.0.0.0/8".parse().expect("net"),
            "2001:db8::/32".parse().expect("net"),
        ],
        ..RateLimits::off()
    };
    for (ip, trusted) in [
        ("10.1.2.3", true),
        ("::ffff:10.1.2.3", true),
        ("11.0.0.1", false),
        ("2001:db8:5::1", true),
        ("2001:db9::1", false),
    ] {
        assert_eq!(limits.trusts(ip.parse().expect("ip")), trusted, "{ip}");
    }
}
