//! The metadata store's conformance suite, run against every backend: SQLite on a temporary
//! file (always), and PostgreSQL on a real server that this test starts itself with `initdb` and
//! `pg_ctl` on a private port and socket directory (`--ignored`; tests/run.sh runs it).

// This test uses the PostgreSQL server, not the rest of `support` (weed, refract, SigV4).
#[allow(dead_code)]
mod support;

use refract_server::meta::{Access, Class, Meta, Record, Tiers};
use support::pg::PgServer;

fn record(id: &str, class: Class, key: &str) -> Record {
    Record {
        id: id.to_owned(),
        class,
        key: key.to_owned(),
        spec: (class == Class::Variant).then(|| "width=100|fallback".to_owned()),
        tiers: match class {
            Class::Original => Tiers::STORE,
            Class::Variant => Tiers::HOT.with(Tiers::WARM),
        },
        size: 12_345,
        content_type: "image/jpeg".to_owned(),
        storage_class: "STANDARD".to_owned(),
        created_ms: 1_000,
        last_access_ms: 2_000,
        hits: 3,
        pending: None,
    }
}

/// The suite. `a` and `b` are two independent handles on the same database (two instances).
async fn conformance(a: Meta, b: Meta) {
    // Round trip of every field, and a missing id.
    let mut orig = record("o/photos/cat.jpg", Class::Original, "photos/cat.jpg");
    orig.storage_class = "STANDARD_IA".into();
    orig.spec = None;
    a.upsert(&orig).await.expect("upsert");
    assert_eq!(
        b.get(&orig.id).await.expect("get"),
        Some(orig.clone()),
        "visible to the other handle"
    );
    assert_eq!(a.get("o/missing").await.expect("get"), None);

    // Upsert replaces; insert_new does not.
    let mut changed = orig.clone();
    changed.size = 99;
    a.upsert(&changed).await.expect("replace");
    assert_eq!(a.get(&orig.id).await.expect("get").expect("row").size, 99);
    assert!(
        !a.insert_new(&orig).await.expect("insert_new"),
        "exists already"
    );
    assert_eq!(a.get(&orig.id).await.expect("get").expect("row").size, 99);
    let v1 = record("v/aaa", Class::Variant, "photos/cat.jpg");
    let v2 = record("v/bbb", Class::Variant, "photos/cat.jpg");
    assert!(a.insert_new(&v1).await.expect("insert_new"));
    a.upsert(&v2).await.expect("upsert");
    a.upsert(&record("v/ccc", Class::Variant, "photos/dog.jpg"))
        .await
        .expect("upsert");

    // Accesses: time only moves forward, hits add up, unknown ids are ignored, duplicates sum.
    let batch = [
        Access {
            id: "v/aaa",
            last_access_ms: 5_000,
            hits: 2,
        },
        Access {
            id: "v/aaa",
            last_access_ms: 4_000,
            hits: 1,
        },
        Access {
            id: "v/bbb",
            last_access_ms: 1_500,
            hits: 10,
        },
        Access {
            id: "v/unknown",
            last_access_ms: 9_000,
            hits: 1,
        },
    ];
    a.record_access(&batch).await.expect("access");
    b.record_access(&[]).await.expect("empty batch");
    let got = a.get("v/aaa").await.expect("get").expect("row");
    assert_eq!((got.last_access_ms, got.hits), (5_000, 6));
    let got = a.get("v/bbb").await.expect("get").expect("row");
    assert_eq!(
        (got.last_access_ms, got.hits),
        (2_000, 13),
        "older time ignored, hits added"
    );
    assert_eq!(a.get("v/unknown").await.expect("get"), None);

    // By key.
    let ids: Vec<String> = a
        .by_key("photos/cat.jpg")
        .await
        .expect("by_key")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["o/photos/cat.jpg", "v/aaa", "v/bbb"]);

    // Scan pages through everything in id order, exactly once.
    for i in 0..250 {
        a.upsert(&record(&format!("v/page-{i:04}"), Class::Variant, "p.jpg"))
            .await
            .expect("upsert");
    }
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = b.scan(&after, 100).await.expect("scan");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 100);
        after = page.last().expect("row").id.clone();
        seen.extend(page.into_iter().map(|r| r.id));
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "ordered, no duplicates");
    assert_eq!(seen.len(), 254);

    // Claims: one winner across instances; finish only with the held journal.
    let (ca, cb) = tokio::join!(a.claim("v/aaa", "move-1"), b.claim("v/aaa", "move-2"));
    let (ca, cb) = (ca.expect("claim a"), cb.expect("claim b"));
    assert!(ca ^ cb, "exactly one instance wins the claim: {ca} {cb}");
    let journal = if ca { "move-1" } else { "move-2" };
    let loser = if ca { "move-2" } else { "move-1" };
    assert_eq!(a.pending(10).await.expect("pending").len(), 1);
    let mut moved = a.get("v/aaa").await.expect("get").expect("row");
    assert_eq!(moved.pending.as_deref(), Some(journal));
    moved.tiers = Tiers::COLD;
    assert!(
        !b.finish(&moved, loser, None).await.expect("finish"),
        "not the holder"
    );
    assert!(b
        .finish(&moved, journal, Some("phase-2"))
        .await
        .expect("advance"));
    let mid = a.get("v/aaa").await.expect("get").expect("row");
    assert_eq!(
        (mid.tiers, mid.pending.as_deref()),
        (Tiers::COLD, Some("phase-2"))
    );
    assert!(
        !b.finish(&moved, journal, None).await.expect("old phase"),
        "the journal moved on"
    );
    assert!(b.finish(&moved, "phase-2", None).await.expect("finish"));
    let done = a.get("v/aaa").await.expect("get").expect("row");
    assert_eq!((done.tiers, done.pending), (Tiers::COLD, None));
    assert_eq!(done.hits, 6, "finish keeps access counts");
    assert!(a.pending(10).await.expect("pending").is_empty());
    assert!(a.claim("v/aaa", "move-3").await.expect("claim again"));
    // An upsert (an upload, a tier write) never erases a claim; a release clears only it.
    let mut rewritten = a.get("v/aaa").await.expect("get").expect("row");
    rewritten.pending = None;
    rewritten.size = 777;
    b.upsert(&rewritten).await.expect("upsert over a claim");
    let kept = a.get("v/aaa").await.expect("get").expect("row");
    assert_eq!((kept.size, kept.pending.as_deref()), (777, Some("move-3")));
    assert!(
        !a.release("v/aaa", "move-2").await.expect("release"),
        "not the holder"
    );
    assert!(a.release("v/aaa", "move-3").await.expect("release"));
    let released = a.get("v/aaa").await.expect("get").expect("row");
    assert_eq!((released.size, released.pending), (777, None));

    // Cursors.
    assert_eq!(a.cursor("sweep").await.expect("cursor"), None);
    a.set_cursor("sweep", "v/bbb").await.expect("set");
    b.set_cursor("sweep", "v/ccc").await.expect("overwrite");
    assert_eq!(
        a.cursor("sweep").await.expect("cursor").as_deref(),
        Some("v/ccc")
    );

    // Totals by class, tiers and storage class.
    let totals = a.totals().await.expect("totals");
    let originals: u64 = totals
        .iter()
        .filter(|t| t.class == Class::Original)
        .map(|t| t.objects)
        .sum();
    let variants: u64 = totals
        .iter()
        .filter(|t| t.class == Class::Variant)
        .map(|t| t.objects)
        .sum();
    assert_eq!((originals, variants), (1, 253));
    let ia = totals
        .iter()
        .find(|t| t.storage_class == "STANDARD_IA")
        .expect("IA group");
    assert_eq!((ia.objects, ia.bytes), (1, 99));

    // Delete.
    assert!(a.delete("v/ccc").await.expect("delete"));
    assert!(!b.delete("v/ccc").await.expect("delete again"));
    assert_eq!(b.get("v/ccc").await.expect("get"), None);
}

#[tokio::test]
async fn sqlite_conforms() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("nested/meta.db").display());
    let a = Meta::open(&url).await.expect("open a");
    let b = Meta::open(&url).await.expect("open b");
    assert_eq!(a.backend(), "sqlite");
    conformance(a, b).await;
    // The data survives reopening.
    let c = Meta::open(&url).await.expect("reopen");
    assert!(c.get("o/photos/cat.jpg").await.expect("get").is_some());
}

#[tokio::test]
async fn bad_urls_are_refused() {
    for url in ["mysql://x", "sqlite", "postgres://nobody@127.0.0.1:1/none"] {
        assert!(Meta::open(url).await.is_err(), "{url}");
    }
}

#[tokio::test]
#[ignore = "starts a PostgreSQL server: run by tests/run.sh"]
async fn postgres_conforms() {
    let pg = PgServer::start();
    let a = Meta::open(&pg.url).await.expect("open a");
    let b = Meta::open(&pg.url).await.expect("open b");
    assert_eq!(a.backend(), "postgres");
    conformance(a, b).await;
}
