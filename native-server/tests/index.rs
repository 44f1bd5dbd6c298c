//! The index's conformance suite: one named case per behaviour, each on a fresh database with
//! two independent handles (as two instances would have). Every backend runs every case:
//! SQLite on a temporary file (one test per case, always), and PostgreSQL on a real server that
//! this test starts itself with `initdb` and `pg_ctl` on a private port and socket directory
//! (`postgres_conforms`, `--ignored`; tests/run.sh runs it).

mod support;

use std::future::Future;
use std::pin::Pin;

use refract_server::index::{Access, Class, Index, Presence, Record};
use support::pg::PgServer;

type Case = fn(Index, Index) -> Pin<Box<dyn Future<Output = ()>>>;

/// Declares the cases: the list `CASES` (for backends that run them in one test) and one
/// SQLite test per case.
macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        const CASES: &[(&str, Case)] = &[$((stringify!($name), |a, b| Box::pin($name(a, b)))),*];

        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (a, b, _dir) = super::on_sqlite().await;
                    super::$name(a, b).await;
                }
            )*
        }
    };
}

cases!(
    round_trips_every_field,
    upsert_replaces_and_insert_new_does_not,
    accesses_move_time_forward_and_add_hits,
    rows_by_key,
    scan_pages_in_id_order_exactly_once,
    one_claim_wins_and_only_its_holder_finishes,
    upserts_never_erase_a_claim_and_release_clears_only_it,
    cursors_are_shared,
    totals_by_class_tiers_and_storage_class,
    delete_says_whether_the_row_existed,
);

/// Two handles on a fresh SQLite database in a temporary directory.
async fn on_sqlite() -> (Index, Index, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("nested/meta.db").display());
    let a = Index::open(&url).await.expect("open a");
    let b = Index::open(&url).await.expect("open b");
    assert_eq!(a.backend(), "sqlite");
    (a, b, dir)
}

fn record(id: &str, class: Class, key: &str) -> Record {
    Record {
        id: id.to_owned(),
        class,
        key: key.to_owned(),
        spec: (class == Class::Variant)
            .then(|| format!("{key}?width=100#fallback.0123456789abcdef")),
        tiers: match class {
            Class::Original => Presence::STORE,
            Class::Variant => Presence::HOT.with(Presence::WARM),
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

/// An original and three variants, two of them of the original.
async fn seed(a: &Index) -> Record {
    let mut orig = record("o/photos/cat.jpg", Class::Original, "photos/cat.jpg");
    orig.storage_class = "STANDARD_IA".into();
    a.upsert(&orig).await.expect("upsert");
    for (id, key) in [
        ("v/aaa", "photos/cat.jpg"),
        ("v/bbb", "photos/cat.jpg"),
        ("v/ccc", "photos/dog.jpg"),
    ] {
        a.upsert(&record(id, Class::Variant, key))
            .await
            .expect("upsert");
    }
    orig
}

async fn round_trips_every_field(a: Index, b: Index) {
    let orig = seed(&a).await;
    assert_eq!(
        b.get(&orig.id).await.expect("get"),
        Some(orig.clone()),
        "visible to the other handle"
    );
    let v = record("v/aaa", Class::Variant, "photos/cat.jpg");
    assert_eq!(b.get("v/aaa").await.expect("get"), Some(v));
    assert_eq!(a.get("o/missing").await.expect("get"), None);
}

async fn upsert_replaces_and_insert_new_does_not(a: Index, b: Index) {
    let orig = seed(&a).await;
    let mut changed = orig.clone();
    changed.size = 99;
    b.upsert(&changed).await.expect("replace");
    assert_eq!(a.get(&orig.id).await.expect("get").expect("row").size, 99);
    assert!(
        !a.insert_new(&orig).await.expect("insert_new"),
        "exists already"
    );
    assert_eq!(a.get(&orig.id).await.expect("get").expect("row").size, 99);
    let fresh = record("v/new", Class::Variant, "photos/cat.jpg");
    assert!(b.insert_new(&fresh).await.expect("insert_new"));
    assert_eq!(a.get("v/new").await.expect("get"), Some(fresh));
}

async fn accesses_move_time_forward_and_add_hits(a: Index, b: Index) {
    seed(&a).await;
    // Time only moves forward, hits add up, unknown ids are ignored, duplicates sum.
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
    let got = b.get("v/aaa").await.expect("get").expect("row");
    assert_eq!((got.last_access_ms, got.hits), (5_000, 6));
    let got = b.get("v/bbb").await.expect("get").expect("row");
    assert_eq!(
        (got.last_access_ms, got.hits),
        (2_000, 13),
        "older time ignored, hits added"
    );
    assert_eq!(a.get("v/unknown").await.expect("get"), None);
    // The same batch from a second instance adds up again, and never moves time back.
    b.record_access(&batch[2..3]).await.expect("again");
    let got = a.get("v/bbb").await.expect("get").expect("row");
    assert_eq!((got.last_access_ms, got.hits), (2_000, 23));
}

async fn rows_by_key(a: Index, b: Index) {
    seed(&a).await;
    let ids: Vec<String> = b
        .by_key("photos/cat.jpg")
        .await
        .expect("by_key")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["o/photos/cat.jpg", "v/aaa", "v/bbb"]);
    assert!(b
        .by_key("photos/none.jpg")
        .await
        .expect("by_key")
        .is_empty());
}

async fn scan_pages_in_id_order_exactly_once(a: Index, b: Index) {
    seed(&a).await;
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
    // A scan from an id starts after it.
    let tail = b.scan("v/page-0248", 10).await.expect("scan");
    let ids: Vec<&str> = tail.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["v/page-0249"]);
}

async fn one_claim_wins_and_only_its_holder_finishes(a: Index, b: Index) {
    seed(&a).await;
    let (ca, cb) = tokio::join!(a.claim("v/aaa", "move-1"), b.claim("v/aaa", "move-2"));
    let (ca, cb) = (ca.expect("claim a"), cb.expect("claim b"));
    assert!(ca ^ cb, "exactly one instance wins the claim: {ca} {cb}");
    let journal = if ca { "move-1" } else { "move-2" };
    let loser = if ca { "move-2" } else { "move-1" };
    assert_eq!(a.pending(10).await.expect("pending").len(), 1);
    let mut moved = a.get("v/aaa").await.expect("get").expect("row");
    assert_eq!(moved.pending.as_deref(), Some(journal));
    moved.tiers = Presence::COLD;
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
        (Presence::COLD, Some("phase-2"))
    );
    assert!(
        !b.finish(&moved, journal, None).await.expect("old phase"),
        "the journal moved on"
    );
    a.record_access(&[Access {
        id: "v/aaa",
        last_access_ms: 3_000,
        hits: 1,
    }])
    .await
    .expect("access");
    assert!(b.finish(&moved, "phase-2", None).await.expect("finish"));
    let done = a.get("v/aaa").await.expect("get").expect("row");
    assert_eq!((done.tiers, done.pending), (Presence::COLD, None));
    assert_eq!(
        (done.hits, done.last_access_ms),
        (4, 3_000),
        "finish keeps access counts"
    );
    assert!(a.pending(10).await.expect("pending").is_empty());
    assert!(a.claim("v/aaa", "move-3").await.expect("claim again"));
}

async fn upserts_never_erase_a_claim_and_release_clears_only_it(a: Index, b: Index) {
    seed(&a).await;
    assert!(a.claim("v/aaa", "move-3").await.expect("claim"));
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
    assert!(b.release("v/aaa", "move-3").await.expect("release"));
    let released = a.get("v/aaa").await.expect("get").expect("row");
    assert_eq!((released.size, released.pending), (777, None));
}

async fn cursors_are_shared(a: Index, b: Index) {
    assert_eq!(a.cursor("sweep").await.expect("cursor"), None);
    a.set_cursor("sweep", "v/bbb").await.expect("set");
    b.set_cursor("sweep", "v/ccc").await.expect("overwrite");
    assert_eq!(
        a.cursor("sweep").await.expect("cursor").as_deref(),
        Some("v/ccc")
    );
    assert_eq!(b.cursor("other").await.expect("cursor"), None);
}

async fn totals_by_class_tiers_and_storage_class(a: Index, b: Index) {
    let mut orig = seed(&a).await;
    orig.size = 99;
    a.upsert(&orig).await.expect("upsert");
    let totals = b.totals().await.expect("totals");
    let count = |class: Class| -> u64 {
        totals
            .iter()
            .filter(|t| t.class == class)
            .map(|t| t.objects)
            .sum()
    };
    assert_eq!((count(Class::Original), count(Class::Variant)), (1, 3));
    let ia = totals
        .iter()
        .find(|t| t.storage_class == "STANDARD_IA")
        .expect("IA group");
    assert_eq!((ia.objects, ia.bytes), (1, 99));
    let warm = totals
        .iter()
        .find(|t| t.class == Class::Variant)
        .expect("variants");
    assert_eq!(
        (warm.tiers, warm.objects, warm.bytes),
        (Presence::HOT.with(Presence::WARM), 3, 3 * 12_345)
    );
}

async fn delete_says_whether_the_row_existed(a: Index, b: Index) {
    seed(&a).await;
    assert!(a.delete("v/ccc").await.expect("delete"));
    assert!(!b.delete("v/ccc").await.expect("delete again"));
    assert_eq!(b.get("v/ccc").await.expect("get"), None);
    assert!(b.get("v/aaa").await.expect("get").is_some());
}

#[tokio::test]
async fn sqlite_data_survives_reopening() {
    let (a, _, dir) = on_sqlite().await;
    seed(&a).await;
    drop(a);
    let url = format!("sqlite://{}", dir.path().join("nested/meta.db").display());
    let c = Index::open(&url).await.expect("reopen");
    assert!(c.get("o/photos/cat.jpg").await.expect("get").is_some());
}

#[tokio::test]
async fn bad_urls_are_refused() {
    for url in ["mysql://x", "sqlite", "postgres://nobody@127.0.0.1:1/none"] {
        assert!(Index::open(url).await.is_err(), "{url}");
    }
}

/// Every case on PostgreSQL, each on a database of its own, named in the output as it runs.
#[tokio::test]
#[ignore = "starts a PostgreSQL server: run by tests/run.sh"]
async fn postgres_conforms() {
    let pg = PgServer::start();
    for (name, case) in CASES {
        let url = pg.database(name).await;
        let a = Index::open(&url).await.expect("open a");
        let b = Index::open(&url).await.expect("open b");
        assert_eq!(a.backend(), "postgres");
        eprintln!("postgres: {name}");
        case(a, b).await;
        eprintln!("postgres: {name} ok");
    }
    assert_eq!(CASES.len(), 10);
}
