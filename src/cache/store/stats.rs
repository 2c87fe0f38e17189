//! Counts, ages and sizes per project and space, for `cache stats` and `doctor`.

use std::path::Path;

use super::db::{Db, SUM_BYTES, db_err};
use super::{CacheError, CacheStats, ScopeStats, sibling};

impl Db {
    /// Per project / space: rows held, oldest and newest `fetched_at`, last finished sync
    /// (scopes synced without any rows included); the data and file sizes.
    pub(super) fn stats(&self) -> Result<CacheStats, CacheError> {
        let err = |e| db_err(&self.path, e);
        let mut out = CacheStats {
            projects: self.scopes("jira", "issues", "project")?,
            spaces: self.scopes("confluence", "pages", "space")?,
            ..CacheStats::default()
        };
        let data: i64 = self
            .conn
            .query_row(SUM_BYTES, [], |r| r.get(0))
            .map_err(err)?;
        out.data_bytes = u64::try_from(data).unwrap_or(0);
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        out.file_bytes = size(&self.path) + size(&sibling(&self.path, "-wal"));
        Ok(out)
    }

    fn scopes(&self, kind: &str, table: &str, col: &str) -> Result<Vec<ScopeStats>, CacheError> {
        let sql = format!(
            "SELECT s.scope, coalesce(c.n, 0), coalesce(c.oldest, 0), coalesce(c.newest, 0),
                    w.synced_at
             FROM (SELECT {col} AS scope FROM {table}
                   UNION SELECT scope FROM watermarks WHERE kind = ?1 AND synced_at > 0) s
             LEFT JOIN (SELECT {col} AS scope, COUNT(*) AS n, MIN(fetched_at) AS oldest,
                               MAX(fetched_at) AS newest
                        FROM {table} GROUP BY {col}) c ON c.scope = s.scope
             LEFT JOIN watermarks w ON w.kind = ?1 AND w.scope = s.scope AND w.synced_at > 0
             ORDER BY s.scope"
        );
        let err = |e| db_err(&self.path, e);
        let mut stmt = self.conn.prepare(&sql).map_err(err)?;
        stmt.query_map([kind], |r| {
            Ok(ScopeStats {
                scope: r.get(0)?,
                count: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                oldest: r.get(2)?,
                newest: r.get(3)?,
                synced_at: r.get(4)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(err)
    }
}
