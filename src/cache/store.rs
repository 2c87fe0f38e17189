//! Opening `cache.db` (0600, WAL, busy timeout, migrations) and everything that reads or writes
//! its rows: upserts that keep what a partial read lacks, reads that mark recency, sync
//! watermarks committed with their batch, deletions, stats and eviction.
//!
//! - `db.rs`: the connection (open, pragmas, migrations), write transactions, size accounting
//!   and eviction.
//! - `rows.rs`: records ↔ rows (upserts with their FTS entries, reads, deletions).
//! - `stats.rs`: counts, ages and sizes for `cache stats`.
//! - `writer.rs`: the write-behind thread behind [`Cache::put_later`].
//!
//! Issue keys and Jira project keys are stored upper case (as Jira spells them), so that
//! `eng-12` finds `ENG-12` through the primary key; space keys are stored as given and compared
//! without regard to case.

mod db;
mod rows;
mod stats;
mod writer;

#[cfg(test)]
pub(in crate::cache) mod tests;
#[cfg(test)]
mod tests_sync;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::OptionalExtension;

use super::query::SqlFilter;
use super::{Cached, Confine, IssueRecord, PageRecord};
use db::{Db, db_err};
use rows::Rows;
pub(super) use rows::ScopeSql;

/// Why the cache could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// SQLite refused (corrupt file, disk full, locked past the busy timeout …).
    #[error("the local cache {path} failed: {message}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// SQLite's message.
        message: String,
    },
    /// Creating the file or setting its permissions failed.
    #[error("the local cache {path} could not be {what}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// "created", "removed" …
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file was written by a newer build (its schema version is higher than this build's).
    #[error(
        "the local cache {path} has schema version {found}, newer than this build's {supported}; update atlassian-mcp-bridge or run `atlassian-mcp-bridge cache clear`"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
}

/// A sync watermark: the newest change committed for one project or space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    /// `updated` / `lastModified` as the site gave it.
    pub value: String,
    /// The same, Unix ms.
    pub value_ms: i64,
    /// When the last sync of this scope finished (Unix ms); 0 while one is under way.
    pub synced_at: i64,
}

/// Counts and age of one project or space in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeStats {
    /// Project or space key.
    pub scope: String,
    /// Issues or pages held.
    pub count: u64,
    /// Oldest `fetched_at` (Unix ms).
    pub oldest: i64,
    /// Newest `fetched_at` (Unix ms).
    pub newest: i64,
    /// Last finished sync (Unix ms), if any.
    pub synced_at: Option<i64>,
}

/// What `cache stats` and `doctor` show.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Per Jira project.
    pub projects: Vec<ScopeStats>,
    /// Per Confluence space.
    pub spaces: Vec<ScopeStats>,
    /// Sum of the rows' sizes (what `[cache].max_bytes` bounds).
    pub data_bytes: u64,
    /// Size of the database files on disk (db + WAL).
    pub file_bytes: u64,
}

/// Records for the write-behind thread, built off the caller's path (see [`Cache::put_later`]).
#[derive(Debug)]
pub enum Batch {
    /// Issues to store as [`Cache::put_issues`] does.
    Issues(Vec<IssueRecord>),
    /// Pages to store as [`Cache::put_pages`] does.
    Pages(Vec<PageRecord>),
    /// Pages known only from a search hit (title, space, date): stored only when the cache
    /// has no copy yet, so that a hit never blanks a full copy's labels or version.
    NewPages(Vec<PageRecord>),
}

impl Batch {
    fn rows(&self) -> Rows<'_> {
        match self {
            Batch::Issues(r) => Rows::Issues(r),
            Batch::Pages(r) | Batch::NewPages(r) => Rows::Pages(r),
        }
    }

    /// The batch to store given what `db` holds: [`Batch::NewPages`] loses the pages already
    /// cached.
    fn against(self, db: &Db) -> Batch {
        match self {
            Batch::NewPages(pages) => Batch::Pages(
                pages
                    .into_iter()
                    .filter(|p| {
                        db.conn
                            .query_row("SELECT 1 FROM pages WHERE id = ?1", [&p.id], |_| Ok(()))
                            .optional()
                            .is_ok_and(|found| found.is_none())
                    })
                    .collect(),
            ),
            other => other,
        }
    }
}

/// The open cache. Cheap to clone; every clone shares one connection per kind of use.
#[derive(Debug, Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    max_bytes: u64,
    /// The connection for calls made through this handle.
    db: Mutex<Db>,
    /// The write-behind thread (it owns its own connection), once started.
    writer: writer::Writer,
}

impl Cache {
    /// Opens (creating when missing) the cache at `path`: mode 0600, WAL, a busy timeout so
    /// that several processes can share it, migrations applied.
    pub fn open(path: &Path, max_bytes: u64) -> Result<Cache, CacheError> {
        let db = Db::open(path, max_bytes)?;
        Ok(Cache {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                max_bytes,
                db: Mutex::new(db),
                writer: writer::Writer::default(),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn db(&self) -> MutexGuard<'_, Db> {
        // A panic while the lock was held rolled its transaction back (rusqlite's Drop).
        self.inner.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores issues (one transaction), keeping cached description/comments where a record has
    /// `None`; updates the full-text index; evicts past `max_bytes`.
    pub fn put_issues(&self, records: &[IssueRecord]) -> Result<(), CacheError> {
        self.db().put(Rows::Issues(records), None)
    }

    /// Stores pages (one transaction), keeping a cached body where a record has `None`.
    pub fn put_pages(&self, records: &[PageRecord]) -> Result<(), CacheError> {
        self.db().put(Rows::Pages(records), None)
    }

    /// Queues `job` for the cache's one write-behind thread (started on first use), which
    /// runs it (building the records: conversions happen there, not on the tool call's path)
    /// and stores the batch; failures are logged, never returned. Jobs run in order.
    pub fn put_later(&self, job: impl FnOnce() -> Batch + Send + 'static) {
        let inner = &self.inner;
        if let Some(job) = inner
            .writer
            .send(&inner.path, inner.max_bytes, Box::new(job))
        {
            // No thread could be started: store on the caller's path rather than lose it.
            let mut db = self.db();
            let batch = job().against(&db);
            if let Err(e) = db.put(batch.rows(), None) {
                tracing::warn!(error = %e, "the local cache could not store a batch");
            }
        }
    }

    /// Waits until every job queued by [`Cache::put_later`] so far is stored (or failed).
    pub fn flush(&self) {
        self.inner.writer.flush();
    }

    /// One issue by key (case-insensitive), if cached and within `confine`; marks it read.
    pub fn issue(
        &self,
        key: &str,
        confine: &Confine,
    ) -> Result<Option<Cached<IssueRecord>>, CacheError> {
        let db = self.db();
        let sql = format!("SELECT {} FROM issues WHERE key = ?1", rows::ISSUE_COLS);
        let key = key.trim().to_ascii_uppercase();
        let found = db
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([&key], rows::issue_from_row).optional())
            .map_err(|e| db_err(&db.path, e))?;
        Ok(found.and_then(|(rowid, record)| {
            confine.project(&record.project).then(|| {
                db.touch("issues", &[rowid]);
                cached_issue(record)
            })
        }))
    }

    /// One page by id, if cached and within `confine`; marks it read.
    pub fn page(
        &self,
        id: &str,
        confine: &Confine,
    ) -> Result<Option<Cached<PageRecord>>, CacheError> {
        let db = self.db();
        let sql = format!("SELECT {} FROM pages WHERE id = ?1", rows::PAGE_COLS);
        let found = db
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([id.trim()], rows::page_from_row).optional())
            .map_err(|e| db_err(&db.path, e))?;
        Ok(found.and_then(|(rowid, record)| {
            confine.space(&record.space).then(|| {
                db.touch("pages", &[rowid]);
                cached_page(record)
            })
        }))
    }

    /// Issues matching a compiled JQL filter, within `confine`, in the filter's order;
    /// `offset`/`limit` page through them. Returns the page and the total count.
    pub fn search_issues(
        &self,
        filter: &SqlFilter,
        confine: &Confine,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<Cached<IssueRecord>>, u64), CacheError> {
        let scope = ScopeSql::projects(confine);
        let db = self.db();
        let (found, total) = db.search(
            ("issues", rows::ISSUE_COLS),
            filter,
            &scope,
            (offset, limit),
            rows::issue_from_row,
        )?;
        let rowids: Vec<i64> = found.iter().map(|(r, _)| *r).collect();
        db.touch("issues", &rowids);
        Ok((
            found.into_iter().map(|(_, r)| cached_issue(r)).collect(),
            total,
        ))
    }

    /// Pages matching a compiled CQL filter, within `confine`; as [`Cache::search_issues`].
    pub fn search_pages(
        &self,
        filter: &SqlFilter,
        confine: &Confine,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<Cached<PageRecord>>, u64), CacheError> {
        let scope = ScopeSql::spaces(confine);
        let db = self.db();
        let (found, total) = db.search(
            ("pages", rows::PAGE_COLS),
            filter,
            &scope,
            (offset, limit),
            rows::page_from_row,
        )?;
        let rowids: Vec<i64> = found.iter().map(|(r, _)| *r).collect();
        db.touch("pages", &rowids);
        Ok((
            found.into_iter().map(|(_, r)| cached_page(r)).collect(),
            total,
        ))
    }

    /// The watermark of `kind` (`jira`/`confluence`) and `scope`, if a sync committed one.
    pub fn watermark(&self, kind: &str, scope: &str) -> Result<Option<Watermark>, CacheError> {
        let db = self.db();
        let sql =
            "SELECT value, value_ms, synced_at FROM watermarks WHERE kind = ?1 AND scope = ?2";
        let found = db
            .conn
            .query_row(sql, [kind, &scope_key(kind, scope)], |r| {
                Ok(Watermark {
                    value: r.get(0)?,
                    value_ms: r.get(1)?,
                    synced_at: r.get(2)?,
                })
            })
            .optional()
            .map_err(|e| db_err(&db.path, e))?;
        // A row without a value only records that a sync finished having committed nothing.
        Ok(found.filter(|w| !(w.value.is_empty() && w.value_ms == 0)))
    }

    /// Stores one sync batch of issues and, in the same transaction, moves the project's
    /// watermark to `mark` (`synced_at` 0 until [`Cache::finish_sync`]): a watermark never
    /// gets ahead of what is committed.
    pub fn commit_issue_batch(
        &self,
        project: &str,
        records: &[IssueRecord],
        mark: Option<(&str, i64)>,
    ) -> Result<(), CacheError> {
        let mark = mark.map(|(v, ms)| ("jira", scope_key("jira", project), v, ms));
        self.db().put(Rows::Issues(records), mark)
    }

    /// As [`Cache::commit_issue_batch`] for a space's pages.
    pub fn commit_page_batch(
        &self,
        space: &str,
        records: &[PageRecord],
        mark: Option<(&str, i64)>,
    ) -> Result<(), CacheError> {
        let mark = mark.map(|(v, ms)| ("confluence", scope_key("confluence", space), v, ms));
        self.db().put(Rows::Pages(records), mark)
    }

    /// Records that a sync of `kind`/`scope` finished now.
    pub fn finish_sync(&self, kind: &str, scope: &str) -> Result<(), CacheError> {
        let scope = scope_key(kind, scope);
        self.db().write(|tx, _| {
            tx.execute(
                "INSERT INTO watermarks (kind, scope, value, value_ms, synced_at)
                 VALUES (?1, ?2, '', 0, ?3)
                 ON CONFLICT (kind, scope) DO UPDATE SET synced_at = excluded.synced_at",
                rusqlite::params![kind, scope, super::now_ms()],
            )
            .map(drop)
        })
    }

    /// Every cached issue key of `project`.
    pub fn issue_keys(&self, project: &str) -> Result<Vec<String>, CacheError> {
        let sql = "SELECT key FROM issues WHERE project = ?1 ORDER BY num";
        self.db().strings(sql, &project.trim().to_ascii_uppercase())
    }

    /// Every cached page id of `space`.
    pub fn page_ids(&self, space: &str) -> Result<Vec<String>, CacheError> {
        let sql = "SELECT id FROM pages WHERE space = ?1 COLLATE NOCASE ORDER BY id";
        self.db().strings(sql, space.trim())
    }

    /// Removes issues (and their index entries); returns how many were cached.
    pub fn delete_issues(&self, keys: &[String]) -> Result<usize, CacheError> {
        let keys: Vec<String> = keys.iter().map(|k| k.trim().to_ascii_uppercase()).collect();
        self.db()
            .write(|tx, delta| rows::delete_by_key(tx, "issues", "key", &keys, delta))
    }

    /// Removes pages (and their index entries); returns how many were cached.
    pub fn delete_pages(&self, ids: &[String]) -> Result<usize, CacheError> {
        let ids: Vec<String> = ids.iter().map(|k| k.trim().to_string()).collect();
        self.db()
            .write(|tx, delta| rows::delete_by_key(tx, "pages", "id", &ids, delta))
    }

    /// Counts, sizes and ages.
    pub fn stats(&self) -> Result<CacheStats, CacheError> {
        self.db().stats()
    }

    /// Ranked full-text search (see `search.rs`).
    pub fn local_search(
        &self,
        query: &super::LocalQuery,
        confine: &Confine,
    ) -> Result<Vec<super::Hit>, CacheError> {
        let db = self.db();
        super::search::run(&db.conn, query, confine).map_err(|e| db_err(&db.path, e))
    }
}

fn cached_issue(record: IssueRecord) -> Cached<IssueRecord> {
    Cached {
        fetched_at: record.fetched_at,
        record,
    }
}

fn cached_page(record: PageRecord) -> Cached<PageRecord> {
    Cached {
        fetched_at: record.fetched_at,
        record,
    }
}

/// Jira project keys are kept upper case; space keys as given.
fn scope_key(kind: &str, scope: &str) -> String {
    let scope = scope.trim();
    if kind == "jira" {
        scope.to_ascii_uppercase()
    } else {
        scope.to_string()
    }
}

/// `cache.db` + `suffix` (`-wal`, `-shm`) next to it.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Removes the cache files (`cache.db`, `-wal`, `-shm`) under `path`; true when any existed.
///
/// `path` is the database file (as [`Cache::open`] takes it) or the directory holding
/// `cache.db`.
pub fn clear(path: &Path) -> Result<bool, CacheError> {
    let db = if path.is_dir() {
        path.join("cache.db")
    } else {
        path.to_path_buf()
    };
    let mut any = false;
    for file in [db.clone(), sibling(&db, "-wal"), sibling(&db, "-shm")] {
        match std::fs::remove_file(&file) {
            Ok(()) => any = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(CacheError::Io {
                    path: file,
                    what: "removed",
                    source,
                });
            }
        }
    }
    Ok(any)
}

impl Cache {
    /// A small fact the cache keeps besides items (e.g. who `currentUser()` is offline).
    pub fn meta(&self, key: &str) -> Result<Option<String>, CacheError> {
        let db = self.db();
        db.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| db_err(&db.path, e))
    }

    /// Keeps a fact (replacing the old value).
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), CacheError> {
        let db = self.db();
        db.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
            .map(|_| ())
            .map_err(|e| db_err(&db.path, e))
    }
}
