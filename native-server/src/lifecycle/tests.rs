use super::plan::{plan_record, Op};
use super::policy::*;
use crate::index::{Class, Presence as Tiers, Record};
use crate::runtime::clock::DAY_MS;

const POLICY: &str = r#"
[[rule]]
id = "variants"
filter = { class = "variant" }
actions = [
  { type = "demote", to = "cold", days_since_access = 7 },
  { type = "expire", days_since_access = 90 },
]

[[rule]]
id = "originals"
filter = { class = "original", prefix = "photos/", min_size = 1000 }
actions = [
  { type = "storage_class", class = "STANDARD_IA", days_since_access = 30 },
  { type = "storage_class", class = "GLACIER_IR", days_since_access = 180 },
]

[[rule]]
id = "tmp-uploads"
filter = { class = "original", prefix = "tmp/" }
actions = [{ type = "expire", days_since_creation = 1 }]
"#;

fn row(id: &str, class: Class, key: &str, tiers: Tiers, idle_days: f64, now: i64) -> Record {
    Record {
        id: id.into(),
        class,
        key: key.into(),
        spec: None,
        tiers,
        size: 5000,
        content_type: "image/jpeg".into(),
        storage_class: "STANDARD".into(),
        created_ms: now - (idle_days * DAY_MS as f64) as i64,
        last_access_ms: now - (idle_days * DAY_MS as f64) as i64,
        hits: 1,
        pending: None,
    }
}

#[test]
fn the_sample_policy_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/lifecycle.toml");
    let p = Policy::load(&path).expect("samples/lifecycle.toml");
    assert!(!p.rules.is_empty());
}

#[test]
fn thresholds_pick_the_strongest_due_action() {
    let p = Policy::parse(POLICY).expect("policy");
    let now = 1_000 * DAY_MS;
    let op = |r: &Record| plan_record(&p, r, now).map(|x| (x.rule, x.op));
    let warm = Tiers::WARM;
    assert_eq!(
        op(&row("v/a", Class::Variant, "x.jpg", warm, 1.0, now)),
        None
    );
    assert_eq!(
        op(&row("v/a", Class::Variant, "x.jpg", warm, 8.0, now)),
        Some(("variants".into(), Op::Demote))
    );
    // Already cold: nothing to demote.
    assert_eq!(
        op(&row("v/a", Class::Variant, "x.jpg", Tiers::COLD, 8.0, now)),
        None
    );
    assert_eq!(
        op(&row("v/a", Class::Variant, "x.jpg", warm, 91.0, now)),
        Some(("variants".into(), Op::Expire))
    );
    let ia = |from: &str, to: &str| Op::SetStorageClass {
        from: from.into(),
        to: to.into(),
    };
    let o = row(
        "o/photos/a.jpg",
        Class::Original,
        "photos/a.jpg",
        Tiers::STORE,
        31.0,
        now,
    );
    assert_eq!(
        op(&o),
        Some(("originals".into(), ia("STANDARD", "STANDARD_IA")))
    );
    let o = row(
        "o/photos/a.jpg",
        Class::Original,
        "photos/a.jpg",
        Tiers::STORE,
        200.0,
        now,
    );
    assert_eq!(
        op(&o),
        Some(("originals".into(), ia("STANDARD", "GLACIER_IR")))
    );
    let mut done = o.clone();
    done.storage_class = "GLACIER_IR".into();
    assert_eq!(op(&done), None, "idempotent: already in the target class");
    // Never back up to a warmer class: an object already in GLACIER_IR at 31 days stays.
    let mut colder = row(
        "o/photos/a.jpg",
        Class::Original,
        "photos/a.jpg",
        Tiers::STORE,
        31.0,
        now,
    );
    colder.storage_class = "GLACIER_IR".into();
    assert_eq!(op(&colder), None);
    assert!(is_colder("STANDARD", "GLACIER_IR") && !is_colder("GLACIER", "STANDARD_IA"));
    assert!(is_colder("SOMETHING_ELSE", "STANDARD_IA"));
    // Filters: prefix and size.
    let other = row(
        "o/other/a.jpg",
        Class::Original,
        "other/a.jpg",
        Tiers::STORE,
        400.0,
        now,
    );
    assert_eq!(op(&other), None);
    let mut small = row(
        "o/photos/s.jpg",
        Class::Original,
        "photos/s.jpg",
        Tiers::STORE,
        400.0,
        now,
    );
    small.size = 10;
    assert_eq!(op(&small), None);
    // Originals are expired only by a rule for originals.
    let tmp = row(
        "o/tmp/u.jpg",
        Class::Original,
        "tmp/u.jpg",
        Tiers::STORE,
        2.0,
        now,
    );
    assert_eq!(op(&tmp), Some(("tmp-uploads".into(), Op::Expire)));
    let photo = row(
        "o/photos/a.jpg",
        Class::Original,
        "photos/a.jpg",
        Tiers::STORE,
        10_000.0,
        now,
    );
    assert_ne!(op(&photo).map(|x| x.1), Some(Op::Expire));
    // A pending move is left to recovery.
    let mut pending = row("v/a", Class::Variant, "x.jpg", warm, 91.0, now);
    pending.pending = Some("{}".into());
    assert_eq!(op(&pending), None);
}

#[test]
fn bad_policies_are_refused_with_the_rule_named() {
    for (text, needle) in [
        ("[[rule]]\nid = \"a\"\nfilter = { class = \"variant\" }\nactions = []", "no actions"),
        ("[[rule]]\nid = \"a\"\nfilter = { class = \"original\" }\nactions = [{ type = \"demote\", to = \"cold\", days_since_access = 1 }]", "demote applies"),
        ("[[rule]]\nid = \"a\"\nfilter = { class = \"variant\" }\nactions = [{ type = \"storage_class\", class = \"STANDARD_IA\", days_since_access = 1 }]", "applies to originals"),
        ("[[rule]]\nid = \"a\"\nfilter = { class = \"original\" }\nactions = [{ type = \"storage_class\", class = \"COLDISH\", days_since_access = 1 }]", "unknown storage class"),
        ("[[rule]]\nid = \"a\"\nfilter = { class = \"variant\" }\nactions = [{ type = \"expire\" }]", "exactly one"),
        ("[[rule]]\nid = \"a\"\nfilter = { class = \"variant\" }\nactions = [{ type = \"expire\", days_since_access = 1, days_since_creation = 2 }]", "exactly one"),
        ("[[rule]]\nid = \"a\"\nfilter = { class = \"variant\" }\nactions = [{ type = \"expire\", days_since_acess = 1 }]", "unknown field"),
        ("[[rule]]\nid = \"a\"\nfilter = { prefix = \"x\" }\nactions = [{ type = \"expire\", days_since_access = 1 }]", "class"),
        ("[[rule]]\nid = \"a\"\nfilter = { class = \"variant\" }\nactions = [{ type = \"expire\", days_since_access = 1 }]\n[[rule]]\nid = \"a\"\nfilter = { class = \"variant\" }\nactions = [{ type = \"expire\", days_since_access = 1 }]", "unique"),
        ("[[rules]]\nid = \"a\"", "unknown field"),
    ] {
        let e = Policy::parse(text).expect_err(text);
        assert!(e.0.contains(needle), "{text}\n→ {e}");
    }
}
