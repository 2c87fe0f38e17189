//! The connection under a [`super::Cache`]: opening (0600 file, WAL, busy timeout, migrations
//! under `BEGIN IMMEDIATE`), write transactions, the size meter and eviction of the least
//! recently read rows.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, Row, Transaction, TransactionBehavior, params_from_iter};

use super::rows::{self, Rows, ScopeSql};
use super::{CacheError, SqlFilter};
use crate::cache::schema::MIGRATIONS;

/// How long a statement waits for another process's write lock.
const BUSY: Duration = Duration::from_millis(5000);

/// Exact size re-measured after this many write transactions (other processes write too).
const REMEASURE_EVERY: u32 = 100;

/// `SUM(bytes)` over both tables.
pub(super) const SUM_BYTES: &str = "SELECT (SELECT coalesce(SUM(bytes), 0) FROM issues)
     + (SELECT coalesce(SUM(bytes), 0) FROM pages)";

/// A watermark to move with a batch: kind, scope, value, value_ms.
pub(super) type Mark<'a> = (&'a str, String, &'a str, i64);

/// Maps an SQLite error to [`CacheError::Db`] naming the file.
pub(super) fn db_err(path: &Path, e: rusqlite::Error) -> CacheError {
    CacheError::Db {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Why one attempt to open the cache failed: a lock race worth another try, or for good.
enum Opening {
    /// SQLite said "database is locked" / "busy" without waiting.
    Busy(rusqlite::Error),
    /// Anything else.
    Failed(CacheError),
}

impl Opening {
    fn from_sqlite(path: &Path, e: rusqlite::Error) -> Self {
        let busy = matches!(
            &e,
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        if busy {
            Opening::Busy(e)
        } else {
            Opening::Failed(db_err(path, e))
        }
    }
}

/// One connection and what it knows about the data's size.
#[derive(Debug)]
pub(super) struct Db {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
    max_bytes: u64,
    meter: Meter,
}

/// A running estimate of `SUM(bytes)`, so that most writes need no scan.
#[derive(Debug, Default)]
struct Meter {
    /// Last measured total plus what this connection changed since; `None` = unknown.
    total: Option<i64>,
    /// Write transactions since the last measurement.
    writes: u32,
}

impl Db {
    /// Opens `path` as described on [`super::Cache::open`].
    pub(super) fn open(path: &Path, max_bytes: u64) -> Result<Db, CacheError> {
        prepare_file(path)?;
        // Several processes opening a new file at once race to switch it to WAL and migrate
        // it; SQLite answers some of those races with "database is locked" at once, without
        // waiting in the busy handler (to avoid a deadlock), so the whole open is tried again.
        let deadline = std::time::Instant::now() + BUSY;
        let mut attempt: u64 = 0;
        loop {
            match Self::open_once(path, max_bytes) {
                Err(Opening::Busy(_)) if std::time::Instant::now() < deadline => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(5 + (attempt * 7) % 40));
                }
                Err(Opening::Busy(e)) => return Err(db_err(path, e)),
                Err(Opening::Failed(e)) => return Err(e),
                Ok(db) => return Ok(db),
            }
        }
    }

    fn open_once(path: &Path, max_bytes: u64) -> Result<Db, Opening> {
        let err = |e| Opening::from_sqlite(path, e);
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(BUSY).map_err(err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::debug!(mode, "the local cache is not in WAL mode");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.set_prepared_statement_cache_capacity(64);
        let mut db = Db {
            conn,
            path: path.to_path_buf(),
            max_bytes,
            meter: Meter::default(),
        };
        db.migrate()?;
        Ok(db)
    }

    /// Brings the schema to this build's version; several processes may race here.
    fn migrate(&mut self) -> Result<(), Opening> {
        let supported = MIGRATIONS.len() as i64;
        let path = self.path.clone();
        let err = |e| Opening::from_sqlite(&path, e);
        let version =
            |c: &Connection| c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0));
        let found = version(&self.conn).map_err(err)?;
        if found == supported {
            return Ok(());
        }
        let too_new = |found| {
            Opening::Failed(CacheError::TooNew {
                path: path.clone(),
                found,
                supported,
            })
        };
        if found > supported {
            return Err(too_new(found));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        // Another process may have migrated while we waited for the lock.
        let found = version(&tx).map_err(err)?;
        if found > supported {
            return Err(too_new(found));
        }
        for (i, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(found).unwrap_or(0))
        {
            tx.execute_batch(sql).map_err(err)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction; `f` adds the bytes it stored (minus
    /// those it removed) to its second argument. Evicts past `max_bytes` before committing.
    pub(super) fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>, &mut i64) -> rusqlite::Result<T>,
    ) -> Result<T, CacheError> {
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut delta = 0;
            let out = f(&tx, &mut delta)?;
            self.meter.settle(&tx, self.max_bytes, delta)?;
            tx.commit()?;
            Ok(out)
        })();
        result.map_err(|e| {
            self.meter.total = None;
            db_err(&self.path, e)
        })
    }

    /// Stores a batch and moves `mark` with it (never backwards), in one transaction.
    pub(super) fn put(
        &mut self,
        batch: Rows<'_>,
        mark: Option<Mark<'_>>,
    ) -> Result<(), CacheError> {
        self.write(|tx, delta| {
            let now = crate::cache::now_ms();
            match batch {
                Rows::Issues(records) => {
                    for r in records {
                        *delta += rows::put_issue(tx, r, now)?;
                    }
                }
                Rows::Pages(records) => {
                    for r in records {
                        *delta += rows::put_page(tx, r, now)?;
                    }
                }
            }
            if let Some((kind, scope, value, value_ms)) = mark {
                tx.execute(
                    "INSERT INTO watermarks (kind, scope, value, value_ms, synced_at)
                     VALUES (?1, ?2, ?3, ?4, 0)
                     ON CONFLICT (kind, scope) DO UPDATE
                     SET value = excluded.value, value_ms = excluded.value_ms, synced_at = 0
                     WHERE excluded.value_ms > watermarks.value_ms",
                    rusqlite::params![kind, scope, value, value_ms],
                )?;
            }
            Ok(())
        })
    }

    /// Marks rows as read now, for eviction order. Best effort: a read must not wait for
    /// another process's write, so a busy database skips it.
    pub(super) fn touch(&self, table: &str, rowids: &[i64]) {
        if rowids.is_empty() {
            return;
        }
        let _ = self.conn.busy_timeout(Duration::ZERO);
        let marks = vec!["?"; rowids.len()].join(", ");
        let sql = format!("UPDATE {table} SET read_at = ? WHERE rowid IN ({marks})");
        let now = crate::cache::now_ms();
        let args = std::iter::once(&now).chain(rowids);
        let done = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.execute(params_from_iter(args)));
        let _ = self.conn.busy_timeout(BUSY);
        if let Err(e) = done {
            tracing::debug!(error = %e, "the local cache did not mark a read");
        }
    }

    /// One page of a filtered, ordered query over `table` and the total count.
    pub(super) fn search<T>(
        &self,
        (table, cols): (&str, &str),
        filter: &SqlFilter,
        scope: &ScopeSql,
        (offset, limit): (u64, u64),
        map: fn(&Row<'_>) -> rusqlite::Result<(i64, T)>,
    ) -> Result<(Vec<(i64, T)>, u64), CacheError> {
        let err = |e| db_err(&self.path, e);
        let cond = format!("({}) AND {}", filter.where_sql, scope.sql);
        let args = || filter.params.iter().chain(&scope.params);
        let count = format!("SELECT COUNT(*) FROM {table} WHERE {cond}");
        let total: i64 = self
            .conn
            .query_row(&count, params_from_iter(args()), |r| r.get(0))
            .map_err(err)?;
        let page = format!(
            "SELECT {cols} FROM {table} WHERE {cond} ORDER BY {} LIMIT ? OFFSET ?",
            filter.order_sql
        );
        let bounds = [clamp(limit), clamp(offset)].map(rusqlite::types::Value::Integer);
        let mut stmt = self.conn.prepare_cached(&page).map_err(err)?;
        let found = stmt
            .query_map(params_from_iter(args().chain(&bounds)), map)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(err)?;
        Ok((found, u64::try_from(total).unwrap_or(0)))
    }

    /// The first column of every row of `sql` with one text parameter.
    pub(super) fn strings(&self, sql: &str, param: &str) -> Result<Vec<String>, CacheError> {
        let err = |e| db_err(&self.path, e);
        let mut stmt = self.conn.prepare_cached(sql).map_err(err)?;
        stmt.query_map([param], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(err)
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Meter {
    /// Brings the estimate up to date after a write of `delta` bytes and evicts when the data
    /// exceeds `max_bytes`, down to 90 % of it.
    fn settle(&mut self, tx: &Transaction<'_>, max_bytes: u64, delta: i64) -> rusqlite::Result<()> {
        let max = i64::try_from(max_bytes).unwrap_or(i64::MAX);
        self.writes += 1;
        // Every stored byte of text is in the file, so a file whose used pages fit under the
        // limit cannot hold more data than the limit: no need to count.
        let pragma =
            |name: &str| tx.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0));
        let used = (pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?;
        if used <= max {
            self.total = self.total.map(|t| t + delta);
            return Ok(());
        }
        let estimate = match self.total {
            Some(t) if self.writes < REMEASURE_EVERY => t + delta,
            _ => self.measure(tx)?,
        };
        self.total = Some(estimate);
        if estimate <= max {
            return Ok(());
        }
        let exact = self.measure(tx)?;
        if exact > max {
            let target = max / 10 * 9;
            self.total = Some(evict(tx, exact, target)?);
        }
        Ok(())
    }

    fn measure(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<i64> {
        let total: i64 = tx.query_row(SUM_BYTES, [], |r| r.get(0))?;
        self.total = Some(total);
        self.writes = 0;
        Ok(total)
    }
}

/// Deletes the least recently read rows of both tables until the data is at most `target`
/// bytes; returns the new total.
fn evict(tx: &Transaction<'_>, mut total: i64, target: i64) -> rusqlite::Result<i64> {
    let (mut issues, mut pages) = (Vec::new(), Vec::new());
    {
        let sql =
            |t: &str| format!("SELECT rowid, bytes, read_at FROM {t} ORDER BY read_at, rowid");
        let (mut si, mut sp) = (tx.prepare(&sql("issues"))?, tx.prepare(&sql("pages"))?);
        let (mut ri, mut rp) = (si.query([])?, sp.query([])?);
        let next = |rows: &mut rusqlite::Rows<'_>| -> rusqlite::Result<Option<(i64, i64, i64)>> {
            rows.next()?
                .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .transpose()
        };
        let (mut ni, mut np) = (next(&mut ri)?, next(&mut rp)?);
        while total > target {
            let take_issue = match (ni, np) {
                (Some(i), Some(p)) => i.2 <= p.2,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let (victim, list, rows) = if take_issue {
                (ni, &mut issues, &mut ri)
            } else {
                (np, &mut pages, &mut rp)
            };
            if let Some((rowid, bytes, _)) = victim {
                list.push(rowid);
                total -= bytes;
            }
            let following = next(rows)?;
            if take_issue {
                ni = following
            } else {
                np = following
            }
        }
    }
    rows::delete_rowids(tx, "issues", &issues)?;
    rows::delete_rowids(tx, "pages", &pages)?;
    tracing::debug!(
        issues = issues.len(),
        pages = pages.len(),
        "the local cache evicted rows"
    );
    Ok(total)
}

/// Creates the directory and the file (0600) before SQLite opens it; tightens an existing
/// file to 0600.
fn prepare_file(path: &Path) -> Result<(), CacheError> {
    let io = |path: &Path, what, source| CacheError::Io {
        path: path.to_path_buf(),
        what,
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, "created", e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(|e| io(path, "created", e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = file.metadata().map_err(|e| io(path, "read", e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| io(path, "made private (0600)", e))?;
        }
    }
    drop(file);
    Ok(())
}
