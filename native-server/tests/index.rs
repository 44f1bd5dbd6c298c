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
    accesses_name_the_ids_without_a_row,
    existing_names_the_ids_with_a_row,
    originals_between_pages_keys_in_byte_order,
    forget_leaves_a_held_row,
    cold_bytes_and_the_least_recently_used_cold_variants,
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

async fn accesses_name_the_ids_without_a_row(a: Index, b: Index) {
    seed(&a).await;
    let batch = [
        Access {
            id: "v/aaa",
            last_access_ms: 5_000,
            hits: 2,
        },
        Access {
            id: "o/new.jpg",
            last_access_ms: 6_000,
            hits: 1,
        },
        Access {
            id: "o/photos/cat.jpg",
            last_access_ms: 7_000,
            hits: 4,
        },
        Access {
            id: "o/new.jpg",
            last_access_ms: 6_500,
            hits: 1,
        },
    ];
    // Applied like `record_access`, and the ids with no row named, each once.
    let missing = a.record_access_missing(&batch).await.expect("access");
    assert_eq!(missing, ["o/new.jpg"]);
    let got = b.get("v/aaa").await.expect("get").expect("row");
    assert_eq!((got.last_access_ms, got.hits), (5_000, 5));
    let got = b.get("o/photos/cat.jpg").await.expect("get").expect("row");
    assert_eq!((got.last_access_ms, got.hits), (7_000, 7));
    assert_eq!(
        b.get("o/new.jpg").await.expect("get"),
        None,
        "nothing inserted"
    );
    assert!(b
        .record_access_missing(&[])
        .await
        .expect("empty")
        .is_empty());
    assert!(b
        .record_access_missing(&batch[..1])
        .await
        .expect("all known")
        .is_empty());
}

async fn existing_names_the_ids_with_a_row(a: Index, b: Index) {
    seed(&a).await;
    // More ids than one statement binds in SQLite's chunks.
    let mut ids: Vec<String> = (0..1_200).map(|i| format!("o/none-{i}")).collect();
    ids.extend(["v/aaa", "o/photos/cat.jpg", "v/ccc"].map(String::from));
    let found = b.existing(&ids).await.expect("existing");
    let mut found: Vec<String> = found.into_iter().collect();
    found.sort();
    assert_eq!(found, ["o/photos/cat.jpg", "v/aaa", "v/ccc"]);
    assert!(a.existing(&[]).await.expect("none").is_empty());
}

async fn originals_between_pages_keys_in_byte_order(a: Index, b: Index) {
    seed(&a).await;
    // Byte order: upper case before lower case, `~` after letters, non-ASCII last, whatever
    // the database's collation.
    for key in [
        "a/b.jpg",
        "B.jpg",
        "a~.jpg",
        "a-.jpg",
        "é.jpg",
        "photos/cat.jpg.bak",
    ] {
        a.upsert(&record(&format!("o/{key}"), Class::Original, key))
            .await
            .expect("upsert");
    }
    let keys = |rows: Vec<Record>| -> Vec<String> { rows.into_iter().map(|r| r.key).collect() };
    let all = keys(b.originals_between("", None, 100).await.expect("all"));
    assert_eq!(
        all,
        [
            "B.jpg",
            "a-.jpg",
            "a/b.jpg",
            "a~.jpg",
            "photos/cat.jpg",
            "photos/cat.jpg.bak",
            "é.jpg"
        ],
        "originals only, in byte order"
    );
    let window = keys(
        b.originals_between("a-.jpg", Some("photos/cat.jpg"), 100)
            .await
            .expect("window"),
    );
    assert_eq!(
        window,
        ["a/b.jpg", "a~.jpg", "photos/cat.jpg"],
        "after, up to"
    );
    let page = keys(b.originals_between("B.jpg", None, 2).await.expect("page"));
    assert_eq!(page, ["a-.jpg", "a/b.jpg"], "at most the limit");
    assert!(b
        .originals_between("z", Some("a"), 10)
        .await
        .expect("empty")
        .is_empty());
}

async fn forget_leaves_a_held_row(a: Index, b: Index) {
    seed(&a).await;
    assert!(a.claim("v/aaa", "held").await.expect("claim"));
    assert!(
        !b.forget("v/aaa").await.expect("forget held"),
        "held rows stay"
    );
    assert!(a.get("v/aaa").await.expect("get").is_some());
    assert!(b.forget("v/bbb").await.expect("forget"));
    assert_eq!(a.get("v/bbb").await.expect("get"), None);
    assert!(!b.forget("v/bbb").await.expect("again"), "gone already");
}

async fn cold_bytes_and_the_least_recently_used_cold_variants(a: Index, b: Index) {
    assert_eq!(a.cold_bytes().await.expect("empty"), 0);
    seed(&a).await;
    // Cold variants of several ages; one also in warm, one claimed, one only in warm.
    for (id, tiers, size, last) in [
        ("v/c1", Presence::COLD, 100, 50),
        ("v/c2", Presence::COLD.with(Presence::WARM), 200, 10),
        ("v/c3", Presence::COLD, 300, 30),
        ("v/c4", Presence::COLD, 400, 30),
        ("v/held", Presence::COLD, 500, 1),
    ] {
        let mut r = record(id, Class::Variant, "photos/cold.jpg");
        (r.tiers, r.size, r.last_access_ms) = (tiers, size, last);
        a.upsert(&r).await.expect("upsert");
    }
    assert!(a.claim("v/held", "move").await.expect("claim"));
    // The seed's warm variants and the original do not count; a claimed cold one does.
    assert_eq!(b.cold_bytes().await.expect("total"), 1_500);
    let ids = |rows: Vec<Record>| -> Vec<String> { rows.into_iter().map(|r| r.id).collect() };
    let first = ids(b.coldest(None, 3).await.expect("page 1"));
    assert_eq!(
        first,
        ["v/c2", "v/c3", "v/c4"],
        "least recently used, then id"
    );
    let rest = ids(b.coldest(Some((30, "v/c4")), 3).await.expect("page 2"));
    assert_eq!(rest, ["v/c1"]);
    let mid = ids(b
        .coldest(Some((30, "v/c3")), 3)
        .await
        .expect("within a tie"));
    assert_eq!(mid, ["v/c4", "v/c1"]);
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
    assert_eq!(CASES.len(), 15);
}

/// A restarted PostgreSQL breaks the connection: queries fail until the store has connected
/// again by itself, then work, with nothing lost.
#[tokio::test]
#[ignore = "starts a PostgreSQL server: run by tests/run.sh"]
async fn postgres_reconnects_after_a_restart() {
    let pg = PgServer::start();
    let index = Index::open(&pg.url).await.expect("open");
    index
        .set_cursor("kept", "1")
        .await
        .expect("before the restart");
    pg.restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let value = loop {
        match index.cursor("kept").await {
            Ok(v) => break v,
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "never reconnected: {e}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(value.as_deref(), Some("1"));
    index
        .set_cursor("kept", "2")
        .await
        .expect("after the restart");
}
