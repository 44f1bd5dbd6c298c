//! SQLite backend: one connection, WAL journal, `synchronous=NORMAL` (a crash may lose the last
//! transactions' access times, never the database). Every call runs on the blocking pool.
//!
//! Why this file is over 400 lines: it is one backend of the index, every statement with its row
//! mapping, laid out in the same order as `postgres.rs` so the two can be read side by side.

use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{Access, Class, IndexError, Presence, Record, Result, Total, COLUMNS};

mod upkeep;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (
    id TEXT PRIMARY KEY,
    class TEXT NOT NULL,
    key TEXT NOT NULL,
    spec TEXT,
    tiers INTEGER NOT NULL,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    storage_class TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    last_access_ms INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    pending TEXT
);
CREATE INDEX IF NOT EXISTS objects_key ON objects (key);
CREATE INDEX IF NOT EXISTS objects_pending ON objects (pending) WHERE pending IS NOT NULL;
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL);
";

#[derive(Clone)]
pub struct Sqlite {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sqlite")
    }
}

fn backend(e: impl std::fmt::Display) -> IndexError {
    IndexError::Backend(e.to_string())
}

impl Sqlite {
    pub async fn open(path: &str) -> Result<Sqlite> {
        let path = path.to_owned();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
            if let Some(dir) = std::path::Path::new(&path).parent() {
                if !dir.as_os_str().is_empty() && path != ":memory:" {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| IndexError::Open(format!("{}: {e}", dir.display())))?;
                }
            }
            let conn =
                Connection::open(&path).map_err(|e| IndexError::Open(format!("{path}: {e}")))?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL"))
                .and_then(|()| conn.busy_timeout(std::time::Duration::from_secs(5)))
                .and_then(|()| conn.execute_batch(SCHEMA))
                .map_err(|e| IndexError::Open(format!("{path}: {e}")))?;
            Ok(conn)
        })
        .await
        .map_err(backend)??;
        Ok(Sqlite {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(backend)?
        .map_err(backend)
    }

    pub async fn upsert(&self, r: &Record) -> Result<()> {
        let r = r.clone();
        self.with(move |c| {
            // A new row as given; an existing one keeps its `pending` claim, which only the
            // move holding it may change.
            c.execute(
                &format!(
                    "INSERT INTO objects ({COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
                     ON CONFLICT (id) DO UPDATE SET class = excluded.class, key = excluded.key, \
                     spec = excluded.spec, tiers = excluded.tiers, size = excluded.size, \
                     content_type = excluded.content_type, storage_class = excluded.storage_class, \
                     created_ms = excluded.created_ms, last_access_ms = excluded.last_access_ms, \
                     hits = excluded.hits"
                ),
                row_params(&r),
            )
            .map(drop)
        })
        .await
    }

    pub async fn insert_new(&self, r: &Record) -> Result<bool> {
        let r = r.clone();
        self.with(move |c| write_row(c, "IGNORE", &r).map(|n| n == 1))
            .await
    }

    pub async fn get(&self, id: &str) -> Result<Option<Record>> {
        let id = id.to_owned();
        let row = self
            .with(move |c| {
                c.query_row(
                    &format!("SELECT {COLUMNS} FROM objects WHERE id = ?1"),
                    [&id],
                    raw_row,
                )
                .optional()
            })
            .await?;
        row.map(record).transpose()
    }

    pub async fn delete(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.with(move |c| {
            c.execute("DELETE FROM objects WHERE id = ?1", [&id])
                .map(|n| n > 0)
        })
        .await
    }

    pub async fn record_access(&self, batch: &[Access<'_>]) -> Result<()> {
        let batch: Vec<(String, i64, i64)> = batch
            .iter()
            .map(|a| (a.id.to_owned(), a.last_access_ms, to_i64(a.hits)))
            .collect();
        self.with(move |c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "UPDATE objects SET last_access_ms = MAX(last_access_ms, ?2), hits = hits + ?3 WHERE id = ?1",
                )?;
                for (id, t, n) in &batch {
                    stmt.execute(params![id, t, n])?;
                }
            }
            tx.commit()
        })
        .await
    }

    pub async fn scan(&self, after: &str, limit: usize) -> Result<Vec<Record>> {
        let after = after.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.rows(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM objects WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![after, limit], raw_row)?;
            rows.collect()
        })
        .await
    }

    pub async fn by_key(&self, key: &str) -> Result<Vec<Record>> {
        let key = key.to_owned();
        self.rows(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM objects WHERE key = ?1 ORDER BY id"
            ))?;
            let rows = stmt.query_map([key], raw_row)?;
            rows.collect()
        })
        .await
    }

    pub async fn variants_under(
        &self,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Record>> {
        let (prefix, after) = (prefix.to_owned(), after.to_owned());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.rows(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM objects WHERE class = 'variant' AND id > ?2 \
                 AND substr(key, 1, length(?1)) = ?1 ORDER BY id LIMIT ?3"
            ))?;
            let rows = stmt.query_map(rusqlite::params![prefix, after, limit], raw_row)?;
            rows.collect()
        })
        .await
    }

    pub async fn claim(&self, id: &str, journal: &str) -> Result<bool> {
        let (id, journal) = (id.to_owned(), journal.to_owned());
        self.with(move |c| {
            c.execute(
                "UPDATE objects SET pending = ?2 WHERE id = ?1 AND pending IS NULL",
                params![id, journal],
            )
            .map(|n| n == 1)
        })
        .await
    }

    pub async fn finish(&self, r: &Record, journal: &str, next: Option<&str>) -> Result<bool> {
        let (r, journal, next) = (r.clone(), journal.to_owned(), next.map(str::to_owned));
        self.with(move |c| {
            c.execute(
                "UPDATE objects SET class = ?2, key = ?3, spec = ?4, tiers = ?5, size = ?6, \
                 content_type = ?7, storage_class = ?8, created_ms = ?9, pending = ?11 \
                 WHERE id = ?1 AND pending = ?10",
                params![
                    r.id,
                    r.class.as_str(),
                    r.key,
                    r.spec,
                    i64::from(r.tiers.0),
                    to_i64(r.size),
                    r.content_type,
                    r.storage_class,
                    r.created_ms,
                    journal,
                    next
                ],
            )
            .map(|n| n == 1)
        })
        .await
    }

    pub async fn pending(&self, limit: usize) -> Result<Vec<Record>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.rows(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM objects WHERE pending IS NOT NULL ORDER BY id LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit], raw_row)?;
            rows.collect()
        })
        .await
    }

    pub async fn release(&self, id: &str, journal: &str) -> Result<bool> {
        let (id, journal) = (id.to_owned(), journal.to_owned());
        self.with(move |c| {
            c.execute(
                "UPDATE objects SET pending = NULL WHERE id = ?1 AND pending = ?2",
                params![id, journal],
            )
            .map(|n| n == 1)
        })
        .await
    }

    pub async fn cursor(&self, name: &str) -> Result<Option<String>> {
        let name = name.to_owned();
        self.with(move |c| {
            c.query_row("SELECT value FROM cursors WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
        })
        .await
    }

    pub async fn set_cursor(&self, name: &str, value: &str) -> Result<()> {
        let (name, value) = (name.to_owned(), value.to_owned());
        self.with(move |c| {
            c.execute(
                "INSERT INTO cursors (name, value) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )
            .map(drop)
        })
        .await
    }

    pub async fn totals(&self) -> Result<Vec<Total>> {
        type Group = (String, i64, String, i64, i64);
        let rows: Vec<Group> = self
            .with(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT class, tiers, storage_class, COUNT(*), COALESCE(SUM(size), 0) \
                     FROM objects GROUP BY class, tiers, storage_class ORDER BY 1, 2, 3",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })?;
                rows.collect::<rusqlite::Result<Vec<Group>>>()
            })
            .await?;
        rows.into_iter()
            .map(|(class, tiers, storage_class, n, bytes)| {
                Ok(Total {
                    class: Class::parse(&class)?,
                    tiers: tiers_of(tiers)?,
                    storage_class,
                    objects: n.max(0).unsigned_abs(),
                    bytes: bytes.max(0).unsigned_abs(),
                })
            })
            .collect()
    }

    async fn rows(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<Vec<RawRow>> + Send + 'static,
    ) -> Result<Vec<Record>> {
        self.with(f).await?.into_iter().map(record).collect()
    }
}

/// A row as stored, before validation.
type RawRow = (
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    String,
    String,
    i64,
    i64,
    i64,
    Option<String>,
);

fn raw_row(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
    ))
}

fn record(raw: RawRow) -> Result<Record> {
    let (
        id,
        class,
        key,
        spec,
        tiers,
        size,
        content_type,
        storage_class,
        created,
        last,
        hits,
        pending,
    ) = raw;
    Ok(Record {
        id,
        class: Class::parse(&class)?,
        key,
        spec,
        tiers: tiers_of(tiers)?,
        size: u64::try_from(size).map_err(|_| IndexError::Corrupt(format!("size {size}")))?,
        content_type,
        storage_class,
        created_ms: created,
        last_access_ms: last,
        hits: u64::try_from(hits).map_err(|_| IndexError::Corrupt(format!("hits {hits}")))?,
        pending,
    })
}

fn tiers_of(v: i64) -> Result<Presence> {
    u8::try_from(v)
        .map(Presence)
        .map_err(|_| IndexError::Corrupt(format!("tiers {v}")))
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `INSERT OR <conflict> INTO objects …` of the whole row.
fn write_row(c: &Connection, conflict: &str, r: &Record) -> rusqlite::Result<usize> {
    c.execute(
        &format!(
            "INSERT OR {conflict} INTO objects ({COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ),
        row_params(r),
    )
}

/// The whole row as `?1`…`?12`, in [`COLUMNS`] order.
fn row_params(r: &Record) -> impl rusqlite::Params + '_ {
    rusqlite::params_from_iter([
        Box::new(r.id.as_str()) as Box<dyn rusqlite::ToSql + '_>,
        Box::new(r.class.as_str()),
        Box::new(r.key.as_str()),
        Box::new(r.spec.as_deref()),
        Box::new(i64::from(r.tiers.0)),
        Box::new(to_i64(r.size)),
        Box::new(r.content_type.as_str()),
        Box::new(r.storage_class.as_str()),
        Box::new(r.created_ms),
        Box::new(r.last_access_ms),
        Box::new(to_i64(r.hits)),
        Box::new(r.pending.as_deref()),
    ])
}
