//! The index (metadata store): one row per object Refract keeps (originals and variants),
//! recording where it lives, how big it is, and how it is used. It is an index, not the record
//! of what exists: `refract storage reindex` rebuilds it from the object stores.
//!
//! Two backends behind one API, chosen by URL: SQLite (`sqlite:///path/meta.db`, embedded, WAL;
//! the default, in the data directory) and PostgreSQL (`postgres://…`, for several instances
//! sharing one bucket). Both pass the same conformance suite (`tests/index.rs`).
//!
//! Times are Unix milliseconds from the caller's clock (never the database's), so tests and
//! `lifecycle plan --now` control time.
//!
//! Concurrency: [`Index::claim`] sets a row's `pending` move only when none is set, atomically
//! in both backends, so two instances never start the same lifecycle action twice.

pub mod journal;
mod postgres;
mod record;
mod sqlite;

pub use record::{Access, Class, Presence, Record};

use std::collections::HashSet;
use std::fmt;

#[derive(Debug)]
pub enum IndexError {
    /// The URL names no supported backend, or the database cannot be opened.
    Open(String),
    /// A query failed (connection lost, disk full, …).
    Backend(String),
    /// A row holds something this version cannot read.
    Corrupt(String),
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexError::Open(m) => write!(f, "cannot open the metadata store: {m}"),
            IndexError::Backend(m) => write!(f, "metadata store error: {m}"),
            IndexError::Corrupt(m) => write!(f, "unreadable metadata: {m}"),
        }
    }
}

impl std::error::Error for IndexError {}

pub type Result<T> = std::result::Result<T, IndexError>;

/// The metadata store.
#[derive(Debug, Clone)]
pub enum Index {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

macro_rules! dispatch {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            Index::Sqlite($b) => $e,
            Index::Postgres($b) => $e,
        }
    };
}

impl Index {
    /// Opens (and creates or migrates) the store at `url`: `sqlite:///abs/path.db`,
    /// `sqlite://relative/path.db`, `sqlite::memory:` or `postgres://user@host:port/db`.
    pub async fn open(url: &str) -> Result<Index> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            return Ok(Index::Sqlite(sqlite::Sqlite::open(path).await?));
        }
        if url == "sqlite::memory:" {
            return Ok(Index::Sqlite(sqlite::Sqlite::open(":memory:").await?));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Index::Postgres(postgres::Postgres::open(url).await?));
        }
        Err(IndexError::Open(format!(
            "{:?}: expected sqlite://PATH, sqlite::memory: or postgres://…",
            crate::config::redact_url(url)
        )))
    }

    /// Which backend, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Index::Sqlite(_) => "sqlite",
            Index::Postgres(_) => "postgres",
        }
    }

    /// Inserts the row, or replaces an existing one's fields except `pending`: a claim is only
    /// ever changed by [`Index::finish`] or [`Index::release`] of the move holding it.
    pub async fn upsert(&self, r: &Record) -> Result<()> {
        dispatch!(self, b => b.upsert(r).await)
    }

    /// Inserts the row only if no row has this id; returns whether it was inserted.
    pub async fn insert_new(&self, r: &Record) -> Result<bool> {
        dispatch!(self, b => b.insert_new(r).await)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Record>> {
        dispatch!(self, b => b.get(id).await)
    }

    /// Deletes the row; returns whether it existed.
    pub async fn delete(&self, id: &str) -> Result<bool> {
        dispatch!(self, b => b.delete(id).await)
    }

    /// Applies a batch of accesses in one transaction: `last_access` only moves forward and
    /// `hits` adds up, so flushing the same batch from two instances is harmless.
    pub async fn record_access(&self, batch: &[Access<'_>]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        dispatch!(self, b => b.record_access(batch).await)
    }

    /// Up to `limit` rows with `id > after`, in id order: the sweeper's resumable scan.
    pub async fn scan(&self, after: &str, limit: usize) -> Result<Vec<Record>> {
        dispatch!(self, b => b.scan(after, limit).await)
    }

    /// Every row about the original `key` (the original and its variants).
    pub async fn by_key(&self, key: &str) -> Result<Vec<Record>> {
        dispatch!(self, b => b.by_key(key).await)
    }

    /// Up to `limit` variant rows whose original's key starts with `prefix` (`""`: all), with
    /// `id > after`, in id order: a purge's resumable scan.
    pub async fn variants_under(
        &self,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Record>> {
        dispatch!(self, b => b.variants_under(prefix, after, limit).await)
    }

    /// Sets `pending` to `journal` if no move is pending; returns whether this caller won.
    pub async fn claim(&self, id: &str, journal: &str) -> Result<bool> {
        dispatch!(self, b => b.claim(id, journal).await)
    }

    /// Replaces the row (all but access times) and sets `pending` to `next` (`None` clears
    /// it), but only while `pending` still equals `journal`, the claim this caller holds;
    /// returns whether it did. A move advances its journal through its phases this way.
    pub async fn finish(&self, r: &Record, journal: &str, next: Option<&str>) -> Result<bool> {
        dispatch!(self, b => b.finish(r, journal, next).await)
    }

    /// Clears `pending` if it still equals `journal`, changing nothing else; returns whether
    /// it did.
    pub async fn release(&self, id: &str, journal: &str) -> Result<bool> {
        dispatch!(self, b => b.release(id, journal).await)
    }

    /// Rows with a move pending, for crash recovery.
    pub async fn pending(&self, limit: usize) -> Result<Vec<Record>> {
        dispatch!(self, b => b.pending(limit).await)
    }

    pub async fn cursor(&self, name: &str) -> Result<Option<String>> {
        dispatch!(self, b => b.cursor(name).await)
    }

    pub async fn set_cursor(&self, name: &str, value: &str) -> Result<()> {
        dispatch!(self, b => b.set_cursor(name, value).await)
    }

    /// Tells every instance listening on this store (PostgreSQL's `NOTIFY` on
    /// [`FLEET_CHANNEL`]); an embedded SQLite store has no other instance, so it is a no-op.
    pub async fn notify(&self, payload: &str) -> Result<()> {
        match self {
            Index::Sqlite(_) => Ok(()),
            Index::Postgres(b) => b.notify(payload).await,
        }
    }

    /// Whether other instances may share this store (and so need to hear of changes).
    pub fn shared(&self) -> bool {
        matches!(self, Index::Postgres(_))
    }

    /// Number of rows, and their total size, by class and tier, for metrics.
    pub async fn totals(&self) -> Result<Vec<Total>> {
        dispatch!(self, b => b.totals().await)
    }

    /// Applies a batch of accesses as [`Index::record_access`] does, and returns the ids in it
    /// that have no row (objects read but not registered yet), each once.
    pub async fn record_access_missing(&self, batch: &[Access<'_>]) -> Result<Vec<String>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        dispatch!(self, b => b.record_access_missing(batch).await)
    }

    /// Which of `ids` have a row.
    pub async fn existing(&self, ids: &[String]) -> Result<HashSet<String>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        dispatch!(self, b => b.existing(ids).await)
    }

    /// Rows of originals whose key sorts after `after` and, given `until`, not after it, in
    /// the byte order of the keys (the order object stores list in), at most `limit`, in that
    /// order: the window a reconcile compares with a page of the store's listing.
    pub async fn originals_between(
        &self,
        after: &str,
        until: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        dispatch!(self, b => b.originals_between(after, until, limit).await)
    }

    /// Deletes the row unless a move or an upload holds it (`pending` is set); returns whether
    /// it did.
    pub async fn forget(&self, id: &str) -> Result<bool> {
        dispatch!(self, b => b.forget(id).await)
    }

    /// The total size of the variants in the cold tier (rows whose tiers include `cold`).
    pub async fn cold_bytes(&self) -> Result<u64> {
        dispatch!(self, b => b.cold_bytes().await)
    }

    /// Variants in the cold tier with no move pending, least recently used first (ties by
    /// id), after `after` (the previous page's last `(last_access_ms, id)`), at most `limit`.
    pub async fn coldest(&self, after: Option<(i64, &str)>, limit: usize) -> Result<Vec<Record>> {
        dispatch!(self, b => b.coldest(after, limit).await)
    }
}

/// Objects and bytes for one (class, tiers, storage class) group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Total {
    pub class: Class,
    pub tiers: Presence,
    pub storage_class: String,
    pub objects: u64,
    pub bytes: u64,
}

/// The PostgreSQL channel instances announce changes of originals on (`tiers::fleet`).
pub const FLEET_CHANNEL: &str = "refract_fleet";

/// The columns, in the order both backends select them.
const COLUMNS: &str = "id, class, key, spec, tiers, size, content_type, storage_class, \
                       created_ms, last_access_ms, hits, pending";
