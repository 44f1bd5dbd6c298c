//! The PostgreSQL statements of the index's upkeep: registering what was read without a row
//! (accesses that find no row), the reconcile's window over the originals, forgetting rows
//! whose object is gone, and the cold tier's budget. Keys are compared `COLLATE "C"`, byte
//! order, as object stores list (and as SQLite compares), whatever the database's collation.

use std::collections::HashSet;

use super::{backend, limit_of, to_i64, Postgres};
use crate::index::{Access, Presence, Record, Result, COLUMNS};

impl Postgres {
    pub async fn record_access_missing(&self, batch: &[Access<'_>]) -> Result<Vec<String>> {
        // The same statement as `record_access`, returning the ids it found.
        let ids: Vec<&str> = batch.iter().map(|a| a.id).collect();
        let times: Vec<i64> = batch.iter().map(|a| a.last_access_ms).collect();
        let hits: Vec<i64> = batch.iter().map(|a| to_i64(a.hits)).collect();
        let rows = self
            .client()
            .query(
                "UPDATE objects o SET last_access_ms = GREATEST(o.last_access_ms, a.t), \
                 hits = o.hits + a.n \
                 FROM (SELECT id, MAX(t) AS t, SUM(n)::BIGINT AS n \
                       FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BIGINT[]) AS u(id, t, n) \
                       GROUP BY id) a \
                 WHERE o.id = a.id RETURNING o.id",
                &[&ids, &times, &hits],
            )
            .await
            .map_err(backend)?;
        let found: HashSet<String> = rows
            .iter()
            .map(|r| r.try_get(0).map_err(backend))
            .collect::<Result<_>>()?;
        let mut missing: Vec<String> = Vec::new();
        for id in ids {
            if !found.contains(id) && !missing.iter().any(|m| m == id) {
                missing.push(id.to_owned());
            }
        }
        Ok(missing)
    }

    pub async fn existing(&self, ids: &[String]) -> Result<HashSet<String>> {
        let rows = self
            .client()
            .query("SELECT id FROM objects WHERE id = ANY($1)", &[&ids])
            .await
            .map_err(backend)?;
        rows.iter().map(|r| r.try_get(0).map_err(backend)).collect()
    }

    pub async fn originals_between(
        &self,
        after: &str,
        until: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        let limit = limit_of(limit);
        match until {
            Some(until) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM objects WHERE class = 'original' \
                     AND key COLLATE \"C\" > $1 AND key COLLATE \"C\" <= $2 \
                     ORDER BY key COLLATE \"C\" LIMIT $3"
                );
                self.rows(&sql, &[&after, &until, &limit]).await
            }
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM objects WHERE class = 'original' \
                     AND key COLLATE \"C\" > $1 ORDER BY key COLLATE \"C\" LIMIT $2"
                );
                self.rows(&sql, &[&after, &limit]).await
            }
        }
    }

    pub async fn forget(&self, id: &str) -> Result<bool> {
        let n = self
            .client()
            .execute(
                "DELETE FROM objects WHERE id = $1 AND pending IS NULL",
                &[&id],
            )
            .await
            .map_err(backend)?;
        Ok(n == 1)
    }

    pub async fn cold_bytes(&self) -> Result<u64> {
        let cold = i16::from(Presence::COLD.0);
        let row = self
            .client()
            .query_one(
                "SELECT COALESCE(SUM(size), 0)::BIGINT FROM objects \
                 WHERE class = 'variant' AND (tiers & $1) != 0",
                &[&cold],
            )
            .await
            .map_err(backend)?;
        let total: i64 = row.try_get(0).map_err(backend)?;
        Ok(total.max(0).unsigned_abs())
    }

    pub async fn coldest(&self, after: Option<(i64, &str)>, limit: usize) -> Result<Vec<Record>> {
        let cold = i16::from(Presence::COLD.0);
        let (t, id) = after.unwrap_or((i64::MIN, ""));
        let sql = format!(
            "SELECT {COLUMNS} FROM objects WHERE class = 'variant' AND (tiers & $1) != 0 \
             AND pending IS NULL AND (last_access_ms, id COLLATE \"C\") > ($2, $3 COLLATE \"C\") \
             ORDER BY last_access_ms, id COLLATE \"C\" LIMIT $4"
        );
        self.rows(&sql, &[&cold, &t, &id, &limit_of(limit)]).await
    }
}
