//! The SQLite statements of the index's upkeep: registering what was read without a row
//! (accesses that find no row), the reconcile's window over the originals, forgetting rows
//! whose object is gone, and the cold tier's budget. SQLite compares `TEXT` with `memcmp`
//! (the `BINARY` collation), so key order is byte order, as object stores list.

use std::collections::HashSet;

use rusqlite::params;

use super::{raw_row, to_i64, Sqlite};
use crate::index::{Access, Presence, Record, Result, COLUMNS};

/// Ids per `IN (…)` list, well under SQLite's limit on bound parameters.
const IDS_PER_QUERY: usize = 500;

impl Sqlite {
    pub async fn record_access_missing(&self, batch: &[Access<'_>]) -> Result<Vec<String>> {
        let batch: Vec<(String, i64, i64)> = batch
            .iter()
            .map(|a| (a.id.to_owned(), a.last_access_ms, to_i64(a.hits)))
            .collect();
        self.with(move |c| {
            let tx = c.transaction()?;
            let mut missing = Vec::new();
            {
                let mut stmt = tx.prepare_cached(
                    "UPDATE objects SET last_access_ms = MAX(last_access_ms, ?2), hits = hits + ?3 WHERE id = ?1",
                )?;
                for (id, t, n) in &batch {
                    if stmt.execute(params![id, t, n])? == 0 && !missing.contains(id) {
                        missing.push(id.clone());
                    }
                }
            }
            tx.commit()?;
            Ok(missing)
        })
        .await
    }

    pub async fn existing(&self, ids: &[String]) -> Result<HashSet<String>> {
        let ids = ids.to_vec();
        self.with(move |c| {
            let mut found = HashSet::new();
            for chunk in ids.chunks(IDS_PER_QUERY) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let mut stmt =
                    c.prepare(&format!("SELECT id FROM objects WHERE id IN ({marks})"))?;
                let rows = stmt.query_map(rusqlite::params_from_iter(chunk), |r| r.get(0))?;
                for id in rows {
                    found.insert(id?);
                }
            }
            Ok(found)
        })
        .await
    }

    pub async fn originals_between(
        &self,
        after: &str,
        until: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        let (after, until) = (after.to_owned(), until.map(str::to_owned));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.rows(move |c| {
            // Without an upper bound the window runs to the end of the keys.
            let until_clause = if until.is_some() { "AND key <= ?3" } else { "" };
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM objects WHERE class = 'original' AND key > ?1 \
                 {until_clause} ORDER BY key LIMIT ?2"
            ))?;
            let rows = match &until {
                Some(u) => stmt.query_map(params![after, limit, u], raw_row)?,
                None => stmt.query_map(params![after, limit], raw_row)?,
            };
            rows.collect()
        })
        .await
    }

    pub async fn forget(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.with(move |c| {
            c.execute(
                "DELETE FROM objects WHERE id = ?1 AND pending IS NULL",
                [&id],
            )
            .map(|n| n == 1)
        })
        .await
    }

    pub async fn cold_bytes(&self) -> Result<u64> {
        let cold = i64::from(Presence::COLD.0);
        let total: i64 = self
            .with(move |c| {
                c.query_row(
                    "SELECT COALESCE(SUM(size), 0) FROM objects \
                     WHERE class = 'variant' AND (tiers & ?1) != 0",
                    [cold],
                    |r| r.get(0),
                )
            })
            .await?;
        Ok(total.max(0).unsigned_abs())
    }

    pub async fn coldest(&self, after: Option<(i64, &str)>, limit: usize) -> Result<Vec<Record>> {
        let cold = i64::from(Presence::COLD.0);
        let (t, id) = match after {
            Some((t, id)) => (t, id.to_owned()),
            None => (i64::MIN, String::new()),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.rows(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM objects WHERE class = 'variant' AND (tiers & ?1) != 0 \
                 AND pending IS NULL AND (last_access_ms, id) > (?2, ?3) \
                 ORDER BY last_access_ms, id LIMIT ?4"
            ))?;
            let rows = stmt.query_map(params![cold, t, id, limit], raw_row)?;
            rows.collect()
        })
        .await
    }
}
