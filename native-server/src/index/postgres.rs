//! PostgreSQL backend, for several server instances sharing one bucket. One connection per
//! instance (tokio-postgres pipelines concurrent queries on it); the schema is created on open.

use std::sync::Arc;

use tokio_postgres::{Client, NoTls, Row};

use super::{Access, Class, IndexError, Presence, Record, Result, Total, COLUMNS};

mod upkeep;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (
    id TEXT PRIMARY KEY,
    class TEXT NOT NULL,
    key TEXT NOT NULL,
    spec TEXT,
    tiers SMALLINT NOT NULL,
    size BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    storage_class TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    last_access_ms BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    pending TEXT
);
CREATE INDEX IF NOT EXISTS objects_key ON objects (key);
CREATE INDEX IF NOT EXISTS objects_key_bytes ON objects (key COLLATE \"C\") WHERE class = 'original';
CREATE INDEX IF NOT EXISTS objects_pending ON objects (pending) WHERE pending IS NOT NULL;
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL);
";

const INSERT: &str = "INSERT INTO objects (id, class, key, spec, tiers, size, content_type, \
    storage_class, created_ms, last_access_ms, hits, pending) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// The connection in use, replaced by a new one when it breaks (see [`keep_connected`]).
type Slot = Arc<std::sync::RwLock<Arc<Client>>>;

#[derive(Clone)]
pub struct Postgres {
    slot: Slot,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Postgres")
    }
}

/// Drives the connection; when it ends (the server restarted, the network broke), connects
/// again, after 250 ms and then up to 5 s between attempts, and puts the new connection in
/// the slot. Ends when the store is dropped.
async fn keep_connected(
    url: String,
    slot: std::sync::Weak<std::sync::RwLock<Arc<Client>>>,
    mut connection: std::pin::Pin<
        Box<
            dyn std::future::Future<Output = std::result::Result<(), tokio_postgres::Error>> + Send,
        >,
    >,
) {
    loop {
        match connection.await {
            Ok(()) => tracing::warn!("metadata store connection closed; reconnecting"),
            Err(e) => tracing::error!("metadata store connection: {e}; reconnecting"),
        }
        let mut pause = std::time::Duration::from_millis(250);
        connection = loop {
            tokio::time::sleep(pause).await;
            let Some(current) = slot.upgrade() else {
                return;
            };
            match tokio_postgres::connect(&url, NoTls).await {
                Ok((client, next)) => {
                    *current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(client);
                    tracing::info!("metadata store connection re-established");
                    break Box::pin(next);
                }
                Err(e) => {
                    tracing::warn!("metadata store reconnect: {e}");
                    pause = (pause * 2).min(std::time::Duration::from_secs(5));
                }
            }
        };
    }
}

fn backend(e: tokio_postgres::Error) -> IndexError {
    IndexError::Backend(e.to_string())
}

impl Postgres {
    pub async fn open(url: &str) -> Result<Postgres> {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| IndexError::Open(e.to_string()))?;
        let slot: Slot = Arc::new(std::sync::RwLock::new(Arc::new(client)));
        tokio::spawn(keep_connected(
            url.to_owned(),
            Arc::downgrade(&slot),
            Box::pin(connection),
        ));
        let client = Arc::clone(&slot.read().unwrap_or_else(|p| p.into_inner()));
        // Two instances may start together: serialize schema creation on an advisory lock.
        client
            .batch_execute(&format!(
                "SELECT pg_advisory_lock(4242); {SCHEMA} SELECT pg_advisory_unlock(4242);"
            ))
            .await
            .map_err(|e| IndexError::Open(e.to_string()))?;
        Ok(Postgres { slot })
    }

    /// The connection in use now. Queries on a broken one fail (the caller sees a backend
    /// error) while [`keep_connected`] makes a new one.
    fn client(&self) -> Arc<Client> {
        Arc::clone(&self.slot.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub async fn upsert(&self, r: &Record) -> Result<()> {
        let sql = format!(
            "{INSERT} ON CONFLICT (id) DO UPDATE SET class = excluded.class, key = excluded.key, \
             spec = excluded.spec, tiers = excluded.tiers, size = excluded.size, \
             content_type = excluded.content_type, storage_class = excluded.storage_class, \
             created_ms = excluded.created_ms, last_access_ms = excluded.last_access_ms, \
             hits = excluded.hits"
        );
        self.write(&sql, r).await.map(drop)
    }

    pub async fn insert_new(&self, r: &Record) -> Result<bool> {
        let sql = format!("{INSERT} ON CONFLICT (id) DO NOTHING");
        self.write(&sql, r).await.map(|n| n == 1)
    }

    async fn write(&self, sql: &str, r: &Record) -> Result<u64> {
        let tiers = i16::from(r.tiers.0);
        let (size, hits) = (to_i64(r.size), to_i64(r.hits));
        self.client()
            .execute(
                sql,
                &[
                    &r.id,
                    &r.class.as_str(),
                    &r.key,
                    &r.spec,
                    &tiers,
                    &size,
                    &r.content_type,
                    &r.storage_class,
                    &r.created_ms,
                    &r.last_access_ms,
                    &hits,
                    &r.pending,
                ],
            )
            .await
            .map_err(backend)
    }

    pub async fn notify(&self, payload: &str) -> Result<()> {
        self.client()
            .execute(
                "SELECT pg_notify($1, $2)",
                &[&super::FLEET_CHANNEL, &payload],
            )
            .await
            .map(drop)
            .map_err(backend)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Record>> {
        let sql = format!("SELECT {COLUMNS} FROM objects WHERE id = $1");
        let row = self
            .client()
            .query_opt(&sql, &[&id])
            .await
            .map_err(backend)?;
        row.as_ref().map(record).transpose()
    }

    pub async fn delete(&self, id: &str) -> Result<bool> {
        let n = self
            .client()
            .execute("DELETE FROM objects WHERE id = $1", &[&id])
            .await
            .map_err(backend)?;
        Ok(n > 0)
    }

    pub async fn record_access(&self, batch: &[Access<'_>]) -> Result<()> {
        // One statement for the whole batch: arrays unnested into rows.
        let ids: Vec<&str> = batch.iter().map(|a| a.id).collect();
        let times: Vec<i64> = batch.iter().map(|a| a.last_access_ms).collect();
        let hits: Vec<i64> = batch.iter().map(|a| to_i64(a.hits)).collect();
        self.client()
            .execute(
                "UPDATE objects o SET last_access_ms = GREATEST(o.last_access_ms, a.t), \
                 hits = o.hits + a.n \
                 FROM (SELECT id, MAX(t) AS t, SUM(n)::BIGINT AS n \
                       FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BIGINT[]) AS u(id, t, n) \
                       GROUP BY id) a \
                 WHERE o.id = a.id",
                &[&ids, &times, &hits],
            )
            .await
            .map_err(backend)
            .map(drop)
    }

    pub async fn scan(&self, after: &str, limit: usize) -> Result<Vec<Record>> {
        let sql = format!("SELECT {COLUMNS} FROM objects WHERE id > $1 ORDER BY id LIMIT $2");
        self.rows(&sql, &[&after, &limit_of(limit)]).await
    }

    pub async fn by_key(&self, key: &str) -> Result<Vec<Record>> {
        let sql = format!("SELECT {COLUMNS} FROM objects WHERE key = $1 ORDER BY id");
        self.rows(&sql, &[&key]).await
    }

    pub async fn variants_under(
        &self,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Record>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM objects WHERE class = 'variant' AND id > $2 \
             AND starts_with(key, $1) ORDER BY id LIMIT $3"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.rows(&sql, &[&prefix, &after, &limit]).await
    }

    pub async fn claim(&self, id: &str, journal: &str) -> Result<bool> {
        let n = self
            .client()
            .execute(
                "UPDATE objects SET pending = $2 WHERE id = $1 AND pending IS NULL",
                &[&id, &journal],
            )
            .await
            .map_err(backend)?;
        Ok(n == 1)
    }

    pub async fn finish(&self, r: &Record, journal: &str, next: Option<&str>) -> Result<bool> {
        let tiers = i16::from(r.tiers.0);
        let size = to_i64(r.size);
        let n = self
            .client()
            .execute(
                "UPDATE objects SET class = $2, key = $3, spec = $4, tiers = $5, size = $6, \
                 content_type = $7, storage_class = $8, created_ms = $9, pending = $11 \
                 WHERE id = $1 AND pending = $10",
                &[
                    &r.id,
                    &r.class.as_str(),
                    &r.key,
                    &r.spec,
                    &tiers,
                    &size,
                    &r.content_type,
                    &r.storage_class,
                    &r.created_ms,
                    &journal,
                    &next,
                ],
            )
            .await
            .map_err(backend)?;
        Ok(n == 1)
    }

    pub async fn pending(&self, limit: usize) -> Result<Vec<Record>> {
        let sql =
            format!("SELECT {COLUMNS} FROM objects WHERE pending IS NOT NULL ORDER BY id LIMIT $1");
        self.rows(&sql, &[&limit_of(limit)]).await
    }

    pub async fn release(&self, id: &str, journal: &str) -> Result<bool> {
        let n = self
            .client()
            .execute(
                "UPDATE objects SET pending = NULL WHERE id = $1 AND pending = $2",
                &[&id, &journal],
            )
            .await
            .map_err(backend)?;
        Ok(n == 1)
    }

    pub async fn cursor(&self, name: &str) -> Result<Option<String>> {
        let row = self
            .client()
            .query_opt("SELECT value FROM cursors WHERE name = $1", &[&name])
            .await
            .map_err(backend)?;
        row.map(|r| r.try_get(0).map_err(backend)).transpose()
    }

    pub async fn set_cursor(&self, name: &str, value: &str) -> Result<()> {
        self.client()
            .execute(
                "INSERT INTO cursors (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[&name, &value],
            )
            .await
            .map_err(backend)
            .map(drop)
    }

    pub async fn totals(&self) -> Result<Vec<Total>> {
        let rows = self
            .client()
            .query(
                "SELECT class, tiers, storage_class, COUNT(*)::BIGINT, COALESCE(SUM(size), 0)::BIGINT \
                 FROM objects GROUP BY class, tiers, storage_class ORDER BY 1, 2, 3",
                &[],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| {
                let class: String = r.try_get(0).map_err(backend)?;
                let tiers: i16 = r.try_get(1).map_err(backend)?;
                let n: i64 = r.try_get(3).map_err(backend)?;
                let bytes: i64 = r.try_get(4).map_err(backend)?;
                Ok(Total {
                    class: Class::parse(&class)?,
                    tiers: tiers_of(tiers)?,
                    storage_class: r.try_get(2).map_err(backend)?,
                    objects: n.max(0).unsigned_abs(),
                    bytes: bytes.max(0).unsigned_abs(),
                })
            })
            .collect()
    }

    async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Record>> {
        let rows = self.client().query(sql, params).await.map_err(backend)?;
        rows.iter().map(record).collect()
    }
}

fn record(r: &Row) -> Result<Record> {
    let class: String = r.try_get(1).map_err(backend)?;
    let tiers: i16 = r.try_get(4).map_err(backend)?;
    let size: i64 = r.try_get(5).map_err(backend)?;
    let hits: i64 = r.try_get(10).map_err(backend)?;
    Ok(Record {
        id: r.try_get(0).map_err(backend)?,
        class: Class::parse(&class)?,
        key: r.try_get(2).map_err(backend)?,
        spec: r.try_get(3).map_err(backend)?,
        tiers: tiers_of(tiers)?,
        size: u64::try_from(size).map_err(|_| IndexError::Corrupt(format!("size {size}")))?,
        content_type: r.try_get(6).map_err(backend)?,
        storage_class: r.try_get(7).map_err(backend)?,
        created_ms: r.try_get(8).map_err(backend)?,
        last_access_ms: r.try_get(9).map_err(backend)?,
        hits: u64::try_from(hits).map_err(|_| IndexError::Corrupt(format!("hits {hits}")))?,
        pending: r.try_get(11).map_err(backend)?,
    })
}

fn tiers_of(v: i16) -> Result<Presence> {
    u8::try_from(v)
        .map(Presence)
        .map_err(|_| IndexError::Corrupt(format!("tiers {v}")))
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
