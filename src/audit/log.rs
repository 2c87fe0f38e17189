//! The appender: exclusive lock, hash chain, fsync, rotation, torn-line repair, group commit.
//!
//! Every flush runs the same critical section, serialized across processes by an exclusive lock
//! on `<path>.lock` (a separate file, so that renaming the live file during rotation never
//! changes which file is locked):
//!
//! 1. repair a torn last line of the live file (keep it when it is a complete, self-verifying
//!    record that only lacks its `\n`; otherwise cut it off);
//! 2. read the last record (of the live file, or of the newest rotated file when the live file
//!    is empty) by scanning backwards from the end, to get `prev` and `seq`;
//! 3. chain the batch's records one after another; rotate when the next line would push the
//!    live file past `max_bytes` (after making what the old file holds durable);
//! 4. write the lines with one `write_all`.
//!
//! Then, with `fsync = true`, `sync_data` runs after the lock is released (so other processes
//! can write meanwhile; a sync covers every line written to the file before it, theirs too) and
//! only then are the batch's callers answered. Within a process, records that arrive while a
//! flush is under way wait and go together in the next one (`audit/group.rs`): N calls finishing
//! at once cost one disk flush, not N. The lock is released between flushes, so several bridge
//! processes share one log.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::audit::group::GroupCommit;
use crate::audit::perms::{self, PermsReport};
use crate::audit::record::{
    AuditRecord, Entry, RECORD_VERSION, ZERO_HASH, chain_hash, jcs_sha256, round_ms,
};
use crate::audit::redact;
use crate::config::AuditSettings;

/// Bytes read per step when scanning backwards for the last line.
const BACK_CHUNK: usize = 8 * 1024;

/// Why the audit log could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// An I/O error on the named file.
    #[error("audit log {path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The record could not be serialized (for example a non-string map key in the arguments).
    #[error("audit log {path}: cannot serialize record: {source}")]
    Serialize {
        /// The log file.
        path: String,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// The session's first record (`server_start`, written while `initialize` was answered)
    /// could not be written; nothing is run or recorded after it.
    #[error(
        "audit log {path}: the session's first record could not be written ({reason}); restart the server once the audit path or disk is fixed"
    )]
    FirstRecord {
        /// The log file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The blocking writer task died (panicked or was cancelled by runtime shutdown).
    #[error("audit log {path}: writer task failed: {reason}")]
    Task {
        /// The log file.
        path: String,
        /// What the runtime reported.
        reason: String,
    },
}

impl AuditError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        AuditError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// The same failure for another record of a batch (I/O errors cannot be cloned).
    fn again(&self) -> Self {
        match self {
            AuditError::Io { path, source } => AuditError::Io {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            AuditError::Serialize { path, source } => AuditError::Task {
                path: path.clone(),
                reason: source.to_string(),
            },
            AuditError::Task { path, reason } => AuditError::Task {
                path: path.clone(),
                reason: reason.clone(),
            },
            AuditError::FirstRecord { path, reason } => AuditError::FirstRecord {
                path: path.clone(),
                reason: reason.clone(),
            },
        }
    }
}

/// Appends records to the audit log; cheap to clone, safe to share between tasks and processes.
#[derive(Debug, Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: AuditSettings,
    session: String,
    pid: u32,
    lock_path: PathBuf,
    /// What opening found about the permissions of existing log files (for `doctor`).
    perms: PermsReport,
    /// Records waiting for a flush; whoever is free flushes them together.
    group: GroupCommit<AuditRecord, Result<AuditRecord, AuditError>>,
    /// The session's first record while it is being written ([`AuditLog::append_first`]):
    /// `Some(result)` once done.
    first: std::sync::Mutex<Option<FirstRecord>>,
    /// Flushes so far (tests check that concurrent records share them).
    flushes: std::sync::atomic::AtomicU64,
}

/// Watches the session's first record: `None` while it is written, then its outcome.
type FirstRecord = tokio::sync::watch::Receiver<Option<Result<(), String>>>;

/// `prev` and `seq` of the last record in the log.
#[derive(Debug, Clone, PartialEq)]
struct Tail {
    seq: u64,
    hash: String,
}

impl AuditLog {
    /// Prepares the log: creates its directory (`0700`), and makes an existing directory and
    /// existing log files private when other users can read them (or warns, once, on stderr
    /// when it cannot; see [`crate::audit::perms`]). Records are written by [`AuditLog::append`].
    pub fn open(settings: &AuditSettings) -> Result<Self, AuditError> {
        if let Some(dir) = settings.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(|e| AuditError::io(dir, e))?;
        }
        let perms = perms::secure(&settings.path);
        perms.warn_once();
        Ok(Self {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                session: uuid::Uuid::new_v4().to_string(),
                pid: std::process::id(),
                lock_path: lock_path(&settings.path),
                perms,
                group: GroupCommit::default(),
                first: std::sync::Mutex::new(None),
                flushes: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// This process's session id, stamped on every record it writes.
    pub fn session(&self) -> &str {
        &self.inner.session
    }

    /// The live log file this appender writes to.
    pub fn path(&self) -> &Path {
        &self.inner.settings.path
    }

    /// What [`AuditLog::open`] found and did about loose permissions (`doctor` reports it).
    pub fn permissions(&self) -> &PermsReport {
        &self.inner.perms
    }

    /// Appends one record (durable before returning when `fsync = true`) and returns it.
    ///
    /// The file work runs on tokio's blocking pool so that an fsync never stalls the runtime.
    /// When a record was started with [`AuditLog::append_first`], this waits for it first (and
    /// fails if it failed), so that record keeps its place.
    pub async fn append(&self, entry: Entry) -> Result<AuditRecord, AuditError> {
        self.ready().await?;
        self.append_now(entry).await
    }

    /// Waits for the record started with [`AuditLog::append_first`] (if any) and fails if it
    /// could not be written: a call must not run when its record could not follow it.
    pub async fn ready(&self) -> Result<(), AuditError> {
        let first = self
            .inner
            .first
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(mut first) = first else {
            return Ok(());
        };
        let failed = match first.wait_for(Option::is_some).await {
            Ok(done) => done.as_ref().and_then(|r| r.as_ref().err()).cloned(),
            Err(_) => Some("its writer stopped".to_string()),
        };
        match failed {
            None => Ok(()),
            Some(reason) => Err(AuditError::FirstRecord {
                path: self.inner.settings.path.display().to_string(),
                reason,
            }),
        }
    }

    /// Starts appending a session's first record (`server_start`) without waiting for it, so
    /// that start-up does not wait for the disk; every later [`AuditLog::append`] waits until it
    /// is written. Call it before any other append.
    pub fn append_first(&self, entry: Entry) {
        let (done, first) = tokio::sync::watch::channel(None);
        *self.inner.first.lock().unwrap_or_else(|p| p.into_inner()) = Some(first);
        let log = self.clone();
        tokio::spawn(async move {
            let result = log.append_now(entry).await;
            if let Err(e) = &result {
                tracing::error!(error = %e, "the audit log could not be written; every call is refused until the server is restarted");
            }
            let _ = done.send(Some(result.map(drop).map_err(|e| e.to_string())));
        });
    }

    async fn append_now(&self, entry: Entry) -> Result<AuditRecord, AuditError> {
        let inner = Arc::clone(&self.inner);
        match tokio::task::spawn_blocking(move || inner.append(entry)).await {
            Ok(result) => result,
            Err(e) => Err(AuditError::Task {
                path: self.inner.settings.path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// How many flushes (lock, write, sync) this appender has run.
    #[cfg(test)]
    fn flushes(&self) -> u64 {
        self.inner
            .flushes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The same as [`AuditLog::append`], for callers outside an async runtime (CLI commands such
    /// as `login`/`logout`). Blocks for the lock and, with `fsync = true`, for the disk. It does
    /// not wait for a record started with [`AuditLog::append_first`]: do not mix the two.
    pub fn append_blocking(&self, entry: Entry) -> Result<AuditRecord, AuditError> {
        self.inner.append(entry)
    }
}

impl Inner {
    fn append(&self, entry: Entry) -> Result<AuditRecord, AuditError> {
        let path = &self.settings.path;
        let ser_err = |source| AuditError::Serialize {
            path: path.display().to_string(),
            source,
        };
        let args_sha256 = entry
            .args
            .as_ref()
            .map(jcs_sha256)
            .transpose()
            .map_err(ser_err)?;
        let args = entry
            .args
            .as_ref()
            .and_then(|a| redact::apply(a, self.settings.args));
        let rec = AuditRecord {
            v: RECORD_VERSION,
            ts: String::new(),
            seq: 0,
            id: record_id(entry.id.as_deref()),
            event: entry.event,
            session: self.session.clone(),
            pid: self.pid,
            client: entry.client,
            actor: entry.actor,
            tool: entry.tool,
            args,
            args_sha256,
            outcome: entry.outcome,
            // Error texts can echo arguments: bounded always, opaque under `digest`.
            error: entry
                .error
                .as_deref()
                .map(|e| redact::error(e, self.settings.args)),
            duration_ms: round_ms(entry.duration_ms),
            upstream: entry
                .upstream
                .into_iter()
                .map(|mut u| {
                    u.ms = round_ms(u.ms);
                    u
                })
                .collect(),
            touched: entry.touched,
            result_bytes: entry.result_bytes,
            offline: entry.offline,
            origin: entry.origin,
            prev: String::new(),
            hash: String::new(),
        };

        let path_text = || path.display().to_string();
        self.group.submit(
            rec,
            |batch| self.flush(batch),
            || {
                Err(AuditError::Task {
                    path: path_text(),
                    reason: "the flush carrying this record failed unexpectedly".to_string(),
                })
            },
        )
    }

    /// Writes a batch under the file lock, then makes it durable: one result per record, in
    /// order. A record is `Ok` only once its line is written and, with `fsync = true`, synced.
    fn flush(&self, batch: Vec<AuditRecord>) -> Vec<Result<AuditRecord, AuditError>> {
        self.flushes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let n = batch.len();
        let fail_all = |e: AuditError| (0..n).map(|_| Err(e.again())).collect();
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            // Private from the start (otherwise the next start finds it loose and tightens it).
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let lock = match options.open(&self.lock_path) {
            Ok(f) => f,
            Err(e) => return fail_all(AuditError::io(&self.lock_path, e)),
        };
        // `File::lock` is stable since Rust 1.89; the toolchain is newer than the declared MSRV.
        #[allow(clippy::incompatible_msrv)]
        if let Err(e) = lock.lock() {
            return fail_all(AuditError::io(&self.lock_path, e));
        }
        let mut written = self.write_locked(batch);
        // Closing the file releases the lock anyway; unlocking explicitly just does it sooner.
        #[allow(clippy::incompatible_msrv)]
        let _ = lock.unlock();
        drop(lock);
        if let Some((file, from)) = written.unsynced.take()
            && let Err(e) = file.sync_data()
        {
            written.fail_from(from, &AuditError::io(&self.settings.path, e));
        }
        written.results
    }

    /// The critical section; the caller holds the exclusive lock. Chains and writes the batch
    /// (rotating as needed) and leaves the last file's sync to the caller.
    fn write_locked(&self, batch: Vec<AuditRecord>) -> Written {
        let path = &self.settings.path;
        let io = |e| AuditError::io(path, e);
        let mut written = Written {
            results: Vec::with_capacity(batch.len()),
            unsynced: None,
        };
        let opened = (|| {
            let existed = path.exists();
            let mut file = open_live(path).map_err(io)?;
            if !existed && self.settings.fsync {
                sync_parent(path).map_err(io)?;
            }
            let len = file.metadata().map_err(io)?.len();
            let len = repair_torn_tail(&mut file, path, len).map_err(io)?;
            let tail = match last_record(&mut file, len).map_err(io)? {
                Some(t) => Some(t),
                None => last_rotated_record(path)?,
            };
            Ok::<_, AuditError>((file, len, tail))
        })();
        let (mut file, mut len, tail) = match opened {
            Ok(o) => o,
            Err(e) => {
                written.results.extend(batch.iter().map(|_| Err(e.again())));
                return written;
            }
        };
        let (mut seq, mut prev) = match tail {
            Some(t) => (t.seq + 1, t.hash),
            None => (1, ZERO_HASH.to_owned()),
        };
        // Lines not yet written to `file`, and the index of the first record they hold.
        let mut buf: Vec<u8> = Vec::new();
        let mut segment = 0;
        let mut batch = batch.into_iter();
        while let Some(mut rec) = batch.next() {
            rec.seq = seq;
            rec.prev = prev.clone();
            // Stamped under the lock so that timestamps never go backwards along the chain
            // (barring clock changes).
            rec.ts = now_rfc3339();
            let line = rec.compute_hash().and_then(|hash| {
                rec.hash = hash;
                serde_json::to_vec(&rec)
            });
            let mut line = match line {
                Ok(l) => l,
                Err(source) => {
                    // This record alone is lost to the caller; the chain goes on without it.
                    written.results.push(Err(AuditError::Serialize {
                        path: path.display().to_string(),
                        source,
                    }));
                    continue;
                }
            };
            line.push(b'\n');
            let used = len + buf.len() as u64;
            if used > 0 && used.saturating_add(line.len() as u64) > self.settings.max_bytes {
                // Finish the old file durably (its unsynced lines may be other processes'
                // too), then start a new one.
                let rotated = file
                    .write_all(&buf)
                    .and_then(|()| {
                        if self.settings.fsync {
                            file.sync_data()
                        } else {
                            Ok(())
                        }
                    })
                    .map_err(io);
                if let Err(e) = rotated {
                    written.fail_from(segment, &e);
                    written.results.push(Err(e.again()));
                    written.results.extend(batch.map(|_| Err(e.again())));
                    return written;
                }
                buf.clear();
                drop(file);
                let reopened = rotate(path).and_then(|()| {
                    let f = open_live(path).map_err(io)?;
                    if self.settings.fsync {
                        sync_parent(path).map_err(io)?;
                    }
                    Ok(f)
                });
                file = match reopened {
                    Ok(f) => f,
                    Err(e) => {
                        written.results.push(Err(e.again()));
                        written.results.extend(batch.map(|_| Err(e.again())));
                        return written;
                    }
                };
                len = 0;
                segment = written.results.len();
            }
            buf.extend_from_slice(&line);
            seq += 1;
            prev = rec.hash.clone();
            written.results.push(Ok(rec));
        }
        if let Err(e) = file.write_all(&buf) {
            written.fail_from(segment, &io(e));
            return written;
        }
        if self.settings.fsync && !buf.is_empty() {
            written.unsynced = Some((file, segment));
        }
        written
    }
}

/// What a flush wrote: one result per record, and the file still to be synced with the index of
/// the first record whose line is in it unsynced.
struct Written {
    results: Vec<Result<AuditRecord, AuditError>>,
    unsynced: Option<(File, usize)>,
}

impl Written {
    /// Fails every record from `from` on that was on its way to success.
    fn fail_from(&mut self, from: usize, e: &AuditError) {
        for r in self.results.iter_mut().skip(from) {
            if r.is_ok() {
                *r = Err(e.again());
            }
        }
    }
}

/// `<path>.lock`: the file that appenders lock (and readers lock shared to take a snapshot).
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// `<path>.<n>`: the n-th rotated file (1 = newest).
pub(crate) fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// The highest `n` for which `<path>.<n>` exists, counting up from 1 without gaps.
pub(crate) fn highest_rotated(path: &Path) -> u32 {
    let mut n = 0;
    while rotated_path(path, n + 1).exists() {
        n += 1;
    }
    n
}

/// The id a record is written with: the caller's, when it is a UUID (in its hyphenated
/// lower-case form, as the log writes ids), else a fresh UUID v4 (with a warning, since a
/// caller that chose an id expects to find it again).
fn record_id(chosen: Option<&str>) -> String {
    match chosen.map(|c| (c, uuid::Uuid::try_parse(c))) {
        Some((_, Ok(id))) => id.hyphenated().to_string(),
        Some((c, Err(_))) => {
            tracing::warn!(id = %c.escape_debug(), "audit log: a chosen record id is not a UUID; writing a fresh one");
            uuid::Uuid::new_v4().to_string()
        }
        None => uuid::Uuid::new_v4().to_string(),
    }
}

fn now_rfc3339() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let now = time::OffsetDateTime::now_utc();
    // Formatting a UTC date with a fixed description fails only for years beyond 9999.
    now.format(&format)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

fn open_live(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Makes a file creation or rename durable (directory entries live in the directory).
fn sync_parent(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Renames `.N` → `.N+1` from the highest down, then the live file → `.1`.
fn rotate(path: &Path) -> Result<(), AuditError> {
    for n in (1..=highest_rotated(path)).rev() {
        let from = rotated_path(path, n);
        std::fs::rename(&from, rotated_path(path, n + 1)).map_err(|e| AuditError::io(&from, e))?;
    }
    std::fs::rename(path, rotated_path(path, 1)).map_err(|e| AuditError::io(path, e))?;
    tracing::info!(path = %path.display(), "audit log rotated");
    Ok(())
}

/// Position just after the last `\n` in `file[..end]` (0 when there is none).
fn line_start(file: &mut File, end: u64) -> std::io::Result<u64> {
    let mut buf = vec![0u8; BACK_CHUNK];
    let mut pos = end;
    while pos > 0 {
        let step = pos.min(BACK_CHUNK as u64);
        let from = pos - step;
        let chunk = &mut buf[..step as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(from + i as u64 + 1);
        }
        pos = from;
    }
    Ok(0)
}

fn read_range(file: &mut File, start: u64, end: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; (end - start) as usize];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// A line that parses as a JSON object whose `hash` matches its content, as `(seq, hash)`.
fn self_verifying(line: &[u8]) -> Option<Tail> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(line) else {
        return None;
    };
    let hash = map.get("hash")?.as_str()?;
    let prev = map.get("prev")?.as_str()?;
    let seq = map.get("seq")?.as_u64()?;
    (chain_hash(prev, &map).ok()? == hash).then(|| Tail {
        seq,
        hash: hash.to_owned(),
    })
}

/// If the file does not end with `\n`, its tail is a torn write: keep it (adding the `\n`) when
/// it is a complete, self-verifying record, else cut it off. Returns the new length.
fn repair_torn_tail(file: &mut File, path: &Path, len: u64) -> std::io::Result<u64> {
    if len == 0 {
        return Ok(0);
    }
    let last = read_range(file, len - 1, len)?;
    if last == b"\n" {
        return Ok(len);
    }
    let start = line_start(file, len)?;
    let tail = read_range(file, start, len)?;
    if self_verifying(&tail).is_some() {
        tracing::warn!(path = %path.display(), offset = start, "audit log: last record lacked its newline; completed it");
        file.write_all(b"\n")?;
        Ok(len + 1)
    } else {
        tracing::warn!(
            path = %path.display(),
            offset = start,
            bytes = len - start,
            "audit log: removed a torn last line (incomplete write, e.g. after a crash)"
        );
        file.set_len(start)?;
        Ok(start)
    }
}

/// The line that ends at `end` (where `file[end - 1]` is its `\n`): its start and its bytes
/// without the `\n`. Reads backwards in chunks, reusing what it read.
fn line_ending_at(file: &mut File, end: u64) -> std::io::Result<(u64, Vec<u8>)> {
    let stop = end.saturating_sub(1);
    let mut pos = stop;
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let mut start = 0;
    while pos > 0 {
        let step = pos.min(BACK_CHUNK as u64);
        let from = pos - step;
        let mut chunk = read_range(file, from, pos)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            start = from + i as u64 + 1;
            pieces.push(chunk.split_off(i + 1));
            break;
        }
        pieces.push(chunk);
        pos = from;
    }
    let line = pieces.into_iter().rev().flatten().collect();
    Ok((start, line))
}

/// `seq` and `hash` of the last parseable record in `file[..len]`, scanning backwards line by
/// line. Unparseable lines are skipped with a warning (`audit verify` reports them); the chain
/// continues from the last good record.
fn last_record(file: &mut File, len: u64) -> std::io::Result<Option<Tail>> {
    if len == 0 {
        return Ok(None);
    }
    // Ignore anything after the last newline (a torn tail, only possible in rotated files).
    let mut end = if read_range(file, len - 1, len)? == b"\n" {
        len
    } else {
        line_start(file, len)?
    };
    while end > 0 {
        let (start, line) = line_ending_at(file, end)?;
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&line) {
            let seq = map.get("seq").and_then(Value::as_u64);
            let hash = map.get("hash").and_then(Value::as_str);
            if let (Some(seq), Some(hash)) = (seq, hash) {
                return Ok(Some(Tail {
                    seq,
                    hash: hash.to_owned(),
                }));
            }
        }
        tracing::warn!(
            offset = start,
            "audit log: skipping an unreadable line while looking for the last record"
        );
        end = start;
    }
    Ok(None)
}

/// The last record of the newest non-empty rotated file, when the live file has none.
fn last_rotated_record(path: &Path) -> Result<Option<Tail>, AuditError> {
    let mut n = 1;
    loop {
        let rotated = rotated_path(path, n);
        let mut file = match File::open(&rotated) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AuditError::io(&rotated, e)),
        };
        let io = |e| AuditError::io(&rotated, e);
        let len = file.metadata().map_err(io)?.len();
        if let Some(tail) = last_record(&mut file, len).map_err(io)? {
            return Ok(Some(tail));
        }
        n += 1;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::audit::reader::{self, VerifyReport};
    use crate::audit::record::{Outcome, Upstream};
    use crate::config::ArgsMode;
    use serde_json::json;

    pub(crate) fn settings(
        path: &Path,
        args: ArgsMode,
        max_bytes: u64,
        fsync: bool,
    ) -> AuditSettings {
        AuditSettings {
            path: path.to_path_buf(),
            args,
            fsync,
            max_bytes,
        }
    }

    pub(crate) fn entry(tool: &str, i: usize) -> Entry {
        Entry {
            event: "tool_call".into(),
            client: Some(crate::audit::ClientInfo {
                name: "test-client".into(),
                version: "1.0".into(),
            }),
            actor: None,
            tool: Some(tool.into()),
            args: Some(json!({"jql": format!("project = ABC AND n = {i}")})),
            outcome: if i % 5 == 4 {
                Outcome::Error
            } else {
                Outcome::Ok
            },
            error: (i % 5 == 4).then(|| "boom".to_owned()),
            duration_ms: 10.0 + i as f64 * 1.234,
            upstream: vec![Upstream {
                method: "GET".into(),
                path: "/rest/api/3/search/jql".into(),
                status: 200,
                ms: 5.0 + i as f64 / 3.0,
            }],
            touched: vec![format!("ABC-{i}")],
            result_bytes: 100 + i as u64,
            id: None,
            offline: false,
            origin: None,
        }
    }

    fn write_n(log: &AuditLog, n: usize) -> Vec<AuditRecord> {
        (0..n)
            .map(|i| log.append_blocking(entry("jira_search", i)).unwrap())
            .collect()
    }

    fn verify_ok(path: &Path, records: u64) -> VerifyReport {
        let report = reader::verify(path).unwrap();
        assert!(report.ok, "verify failed: {:?}", report.failure);
        assert_eq!(report.records, records);
        report
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn write_lines(path: &Path, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(path, text).unwrap();
    }

    #[tokio::test]
    async fn append_builds_a_chain_that_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/audit.jsonl");
        let log = AuditLog::open(&settings(&path, ArgsMode::Redacted, 1 << 20, true)).unwrap();
        assert_eq!(log.session().len(), 36);
        let mut recs = Vec::new();
        for i in 0..5 {
            recs.push(log.append(entry("jira_search", i)).await.unwrap());
        }
        assert_eq!(recs[0].prev, ZERO_HASH);
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(r.seq, i as u64 + 1);
            assert_eq!(r.v, 1);
            assert_eq!(r.session, log.session());
            assert_eq!(r.pid, std::process::id());
            assert_eq!(r.hash, r.compute_hash().unwrap());
            assert_eq!(r.hash.len(), 64);
            assert!(r.ts.ends_with('Z') && r.ts.len() == 24, "{}", r.ts);
            if i > 0 {
                assert_eq!(r.prev, recs[i - 1].hash);
            }
        }
        // Durations are rounded to 0.1 ms.
        assert_eq!(recs[3].duration_ms, 13.7);
        assert_eq!(recs[3].upstream[0].ms, 6.0);
        // What is on disk is what append returned, in SPEC field order.
        let on_disk = lines(&path);
        assert_eq!(on_disk.len(), 5);
        for (line, rec) in on_disk.iter().zip(&recs) {
            assert_eq!(&serde_json::from_str::<AuditRecord>(line).unwrap(), rec);
            assert!(line.starts_with("{\"v\":1,\"ts\":"), "{line}");
            assert!(line.ends_with(&format!(
                "\"prev\":\"{}\",\"hash\":\"{}\"}}",
                rec.prev, rec.hash
            )));
        }
        let report = verify_ok(&path, 5);
        assert_eq!(report.last_hash.as_deref(), Some(recs[4].hash.as_str()));
        // A second appender (another session) continues the same chain.
        let log2 = AuditLog::open(&settings(&path, ArgsMode::Redacted, 1 << 20, false)).unwrap();
        assert_ne!(log2.session(), log.session());
        let r = log2.append(entry("jira_get_issue", 9)).await.unwrap();
        assert_eq!((r.seq, r.prev.as_str()), (6, recs[4].hash.as_str()));
        verify_ok(&path, 6);
    }

    #[test]
    fn chosen_record_id_is_used_when_it_is_a_uuid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&settings(&path, ArgsMode::Redacted, 1 << 20, false)).unwrap();
        let chosen = uuid::Uuid::new_v4().to_string();
        let mut e = entry("jira_create_issue", 0);
        e.id = Some(chosen.clone());
        assert_eq!(log.append_blocking(e).unwrap().id, chosen);
        // Written in the log's own form, so that an outbox file names what the log holds.
        let mut e = entry("jira_create_issue", 1);
        e.id = Some(chosen.to_ascii_uppercase());
        assert_eq!(log.append_blocking(e).unwrap().id, chosen);
        for bad in ["not-a-uuid", "", "../../etc/passwd"] {
            let mut e = entry("jira_create_issue", 2);
            e.id = Some(bad.to_owned());
            let id = log.append_blocking(e).unwrap().id;
            assert_ne!(id, bad);
            assert!(uuid::Uuid::try_parse(&id).is_ok(), "{id}");
        }
        assert_ne!(log.append_blocking(entry("x", 3)).unwrap().id, chosen);
        verify_ok(&path, 6);
    }

    #[cfg(unix)]
    #[test]
    fn open_creates_private_directory_and_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/audit.jsonl");
        let log = AuditLog::open(&settings(&path, ArgsMode::Redacted, 1 << 20, false)).unwrap();
        let mode = std::fs::metadata(dir.path().join("new"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        write_n(&log, 1);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "log readable by others: {mode:o}");
    }

    #[test]
    fn args_modes_and_secret_keys() {
        let dir = tempfile::tempdir().unwrap();
        let long = "L".repeat(1000);
        let raw = json!({"summary": "s", "description": long, "api_token": "hunter2",
                         "nested": {"Authorization": "Bearer hunter2"}});
        let expected_sha = crate::audit::record::jcs_sha256(&raw).unwrap();
        for mode in [ArgsMode::Full, ArgsMode::Redacted, ArgsMode::Digest] {
            let path = dir.path().join(format!("{}.jsonl", mode.as_str()));
            let log = AuditLog::open(&settings(&path, mode, 1 << 20, false)).unwrap();
            let mut e = entry("jira_create_issue", 0);
            e.args = Some(raw.clone());
            let r = log.append_blocking(e).unwrap();
            assert_eq!(r.args_sha256.as_deref(), Some(expected_sha.as_str()));
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                !text.contains("hunter2"),
                "{mode:?} leaked a secret: {text}"
            );
            match mode {
                ArgsMode::Digest => assert_eq!(r.args, None),
                ArgsMode::Full => {
                    let a = r.args.unwrap();
                    assert_eq!(a["description"], json!(long));
                    assert_eq!(a["api_token"], json!("[redacted]"));
                    assert_eq!(a["nested"]["Authorization"], json!("[redacted]"));
                }
                ArgsMode::Redacted => {
                    let a = r.args.unwrap();
                    let d = a["description"].as_str().unwrap();
                    assert!(
                        d.starts_with(&"L".repeat(64)) && d.ends_with(", 1000 chars]"),
                        "{d}"
                    );
                    assert!(d.chars().count() < 120);
                    assert_eq!(a["summary"], json!("s"));
                    assert_eq!(a["api_token"], json!("[redacted]"));
                }
            }
            verify_ok(&path, 1);
        }
        // No arguments at all: both null.
        let path = dir.path().join("none.jsonl");
        let log = AuditLog::open(&settings(&path, ArgsMode::Full, 1 << 20, false)).unwrap();
        let mut e = entry("server_start", 0);
        e.args = None;
        let r = log.append_blocking(e).unwrap();
        assert_eq!((r.args, r.args_sha256), (None, None));
    }

    /// Issue 4: an error that echoes a huge argument is bounded in every mode, and under
    /// `digest` it keeps no text at all.
    #[test]
    fn error_text_is_bounded_and_follows_args_mode() {
        let dir = tempfile::tempdir().unwrap();
        let key = "SECRETPROJECT-".repeat(400_000);
        let message = format!("`key` must look like PROJ-123, got `{key}`");
        for mode in [ArgsMode::Full, ArgsMode::Redacted, ArgsMode::Digest] {
            let path = dir.path().join(format!("err-{}.jsonl", mode.as_str()));
            let log = AuditLog::open(&settings(&path, mode, 1 << 24, false)).unwrap();
            let mut e = entry("jira_get_issue", 4);
            e.args = Some(json!({"key": key}));
            e.error = Some(message.clone());
            let r = log.append_blocking(e).unwrap();
            let stored = r.error.unwrap();
            let chars = message.chars().count();
            assert!(
                stored.chars().count() <= 1100,
                "{mode:?}: {} chars",
                stored.len()
            );
            assert!(
                stored.contains(&format!("{chars} chars]")),
                "{mode:?}: {stored}"
            );
            match mode {
                ArgsMode::Digest => assert!(!stored.contains("SECRETPROJECT"), "{stored}"),
                ArgsMode::Redacted => assert!(stored.chars().count() < 150, "{stored}"),
                ArgsMode::Full => assert!(stored.starts_with("`key` must look like"), "{stored}"),
            }
            if mode != ArgsMode::Full {
                assert!(std::fs::metadata(&path).unwrap().len() < 4096);
            }
            verify_ok(&path, 1);
        }
    }

    #[test]
    fn tampering_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&settings(&path, ArgsMode::Redacted, 1 << 20, false)).unwrap();
        write_n(&log, 6);
        let good = lines(&path);
        verify_ok(&path, 6);

        let expect_fail = |lines: &[String], line: usize, reason: &str| {
            write_lines(&path, lines);
            let r = reader::verify(&path).unwrap();
            let f = r.failure.expect("tampering not detected");
            assert!(!r.ok);
            assert_eq!((f.at.file.as_path(), f.at.line), (path.as_path(), line));
            assert!(f.reason.contains(reason), "{}", f.reason);
            assert_eq!(r.records, line as u64 - 1);
        };
        // Edit one field of a middle line.
        let mut edited = good.clone();
        edited[2] = edited[2].replace("\"outcome\":\"ok\"", "\"outcome\":\"denied\"");
        assert_ne!(edited[2], good[2]);
        expect_fail(&edited, 3, "hash mismatch");
        // Add a member.
        let mut added = good.clone();
        added[3] = added[3].replacen('{', "{\"extra\":1,", 1);
        expect_fail(&added, 4, "hash mismatch");
        // Delete a line: the next one no longer chains.
        let mut deleted = good.clone();
        deleted.remove(2);
        expect_fail(&deleted, 3, "prev does not match");
        // Reorder two lines.
        let mut swapped = good.clone();
        swapped.swap(1, 2);
        expect_fail(&swapped, 2, "prev does not match");
        // Drop the first line: the new first record does not start from zeros.
        expect_fail(&good[1..], 1, "earlier records are missing");
        // Garbage line.
        let mut garbage = good.clone();
        garbage.insert(4, "not json".into());
        expect_fail(&garbage, 5, "not valid JSON");
        // A forged seq with a recomputed hash chain is still caught by the seq rule.
        let mut forged: Vec<Value> = good
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        forged[1]["seq"] = json!(7);
        let mut prev = ZERO_HASH.to_owned();
        for v in &mut forged {
            v["prev"] = json!(prev);
            let h = chain_hash(&prev, v.as_object().unwrap()).unwrap();
            v["hash"] = json!(h);
            prev = h;
        }
        let forged: Vec<String> = forged.iter().map(|v| v.to_string()).collect();
        expect_fail(&forged, 2, "seq is 7, expected 2");
        // Restored: fine again.
        write_lines(&path, &good);
        verify_ok(&path, 6);
    }

    #[test]
    fn rotation_keeps_one_chain_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&settings(&path, ArgsMode::Full, 4096, true)).unwrap();
        let mut recs = Vec::new();
        for i in 0..60 {
            let mut e = entry("jira_search", i);
            e.args = Some(json!({"jql": "x".repeat(200)}));
            recs.push(log.append_blocking(e).unwrap());
        }
        let files = reader::log_files(&path);
        assert!(files.len() >= 4, "expected several files, got {files:?}");
        assert_eq!(files.last().unwrap(), &path);
        assert_eq!(files[files.len() - 2], rotated_path(&path, 1));
        for f in &files {
            let len = std::fs::metadata(f).unwrap().len();
            assert!(len <= 4096, "{} is {len} bytes", f.display());
        }
        let report = verify_ok(&path, 60);
        assert_eq!(report.files, files);
        assert_eq!(report.last_seq, Some(60));
        // Oldest file starts at seq 1.
        let first: AuditRecord = serde_json::from_str(&lines(&files[0])[0]).unwrap();
        assert_eq!((first.seq, first.prev.as_str()), (1, ZERO_HASH));
        // Tampering inside a rotated file names that file.
        let victim = &files[1];
        let mut l = lines(victim);
        l[1] = l[1].replace("jira_search", "jira_searcX");
        write_lines(victim, &l);
        let f = reader::verify(&path).unwrap().failure.unwrap();
        assert_eq!((&f.at.file, f.at.line), (victim, 2));
    }

    #[test]
    fn missing_live_file_continues_from_newest_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&settings(&path, ArgsMode::Redacted, 1 << 20, false)).unwrap();
        let recs = write_n(&log, 2);
        std::fs::rename(&path, rotated_path(&path, 1)).unwrap();
        let r = log.append_blocking(entry("x", 3)).unwrap();
        assert_eq!((r.seq, r.prev.as_str()), (3, recs[1].hash.as_str()));
        // An empty live file behaves the same.
        std::fs::rename(rotated_path(&path, 1), rotated_path(&path, 2)).unwrap();
        std::fs::rename(&path, rotated_path(&path, 1)).unwrap();
        std::fs::write(&path, "").unwrap();
        let r2 = log.append_blocking(entry("x", 4)).unwrap();
        assert_eq!((r2.seq, r2.prev.as_str()), (4, r.hash.as_str()));
        verify_ok(&path, 4);
    }

    #[test]
    fn torn_last_line_is_tolerated_then_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&settings(&path, ArgsMode::Redacted, 1 << 20, true)).unwrap();
        let recs = write_n(&log, 3);
        let good = std::fs::read(&path).unwrap();

        // A partial record at the end.
        let mut torn = good.clone();
        torn.extend_from_slice(b"{\"v\":1,\"ts\":\"2026-");
        std::fs::write(&path, &torn).unwrap();
        let report = verify_ok(&path, 3);
        let t = report.torn.unwrap();
        assert_eq!((t.file.as_path(), t.line), (path.as_path(), 4));
        let r = log.append_blocking(entry("x", 4)).unwrap();
        assert_eq!((r.seq, r.prev.as_str()), (4, recs[2].hash.as_str()));
        let report = verify_ok(&path, 4);
        assert!(report.torn.is_none());
        assert_eq!(lines(&path).len(), 4);

        // A complete record that only lost its newline is kept.
        std::fs::write(&path, &good[..good.len() - 1]).unwrap();
        let report = verify_ok(&path, 3);
        assert!(report.torn.is_none());
        let r = log.append_blocking(entry("x", 5)).unwrap();
        assert_eq!((r.seq, r.prev.as_str()), (4, recs[2].hash.as_str()));
        verify_ok(&path, 4);

        // A complete-looking line whose hash is wrong is cut off, not chained onto.
        let mut bad = good.clone();
        let forged = lines(&path)[3].replace("\"outcome\":\"ok\"", "\"outcome\":\"denied\"");
        bad.extend_from_slice(forged.as_bytes());
        std::fs::write(&path, &bad).unwrap();
        let report = verify_ok(&path, 3);
        assert!(report.torn.is_some());
        let r = log.append_blocking(entry("x", 6)).unwrap();
        assert_eq!(r.seq, 4);
        verify_ok(&path, 4);
    }

    #[test]
    fn garbage_last_line_is_skipped_and_reported_by_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&settings(&path, ArgsMode::Redacted, 1 << 20, false)).unwrap();
        let recs = write_n(&log, 2);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"garbage\n").unwrap();
        let r = log.append_blocking(entry("x", 3)).unwrap();
        assert_eq!((r.seq, r.prev.as_str()), (3, recs[1].hash.as_str()));
        let f = reader::verify(&path).unwrap().failure.unwrap();
        assert_eq!(f.at.line, 3);
        assert!(f.reason.contains("not valid JSON"), "{}", f.reason);
    }

    #[test]
    fn long_records_are_found_by_the_backward_scan() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&settings(&path, ArgsMode::Full, 1 << 24, false)).unwrap();
        for i in 0..3 {
            let mut e = entry("jira_create_issue", i);
            // Longer than several backward-scan chunks.
            e.args = Some(json!({"body": "z".repeat(3 * BACK_CHUNK + 17)}));
            log.append_blocking(e).unwrap();
        }
        verify_ok(&path, 3);
    }

    #[test]
    fn threads_with_separate_appenders_share_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let s = settings(&path, ArgsMode::Redacted, 8192, false);
                std::thread::spawn(move || {
                    let log = AuditLog::open(&s).unwrap();
                    for i in 0..50 {
                        log.append_blocking(entry(&format!("tool_{t}"), i)).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        verify_ok(&path, 200);
    }

    /// Group commit: 16 callers sharing one appender with `fsync = true` need far fewer
    /// flushes than records, every record is on disk when its call returns, and the chain
    /// holds across the rotations that happen inside batches.
    #[test]
    fn concurrent_records_share_flushes_and_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&settings(&path, ArgsMode::Full, 16 * 1024, true)).unwrap();
        let start = std::sync::Arc::new(std::sync::Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|t| {
                let (log, start, path) = (log.clone(), start.clone(), path.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for i in 0..10 {
                        let rec = log.append_blocking(entry(&format!("tool_{t}"), i)).unwrap();
                        // Returned means written: the record is in the live file or a rotated one.
                        // (A rotation by another thread may rename files while we look: a
                        // record only ever moves to an older name, so look again.)
                        let id = format!("\"id\":\"{}\"", rec.id);
                        let found = (0..20).any(|_| {
                            reader::log_files(&path)
                                .iter()
                                .any(|f| std::fs::read_to_string(f).is_ok_and(|t| t.contains(&id)))
                        });
                        assert!(found, "record {} not on disk when append returned", rec.seq);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let report = verify_ok(&path, 160);
        assert!(
            report.files.len() > 1,
            "no rotation happened: {:?}",
            report.files
        );
        let flushes = log.flushes();
        assert!(
            flushes < 100,
            "160 concurrent records took {flushes} flushes: they were not grouped"
        );
    }

    /// A record started with `append_first` keeps its place: a record appended right after it
    /// (before it reached the disk) comes second, and `ready` waits for it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_first_record_written_in_the_background_stays_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&settings(&path, ArgsMode::Full, 1 << 20, true)).unwrap();
        log.append_first(Entry::event("server_start"));
        let second = log.append(entry("jira_search", 1)).await.unwrap();
        assert_eq!(second.seq, 2);
        let recs: Vec<AuditRecord> = lines(&path)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(recs[0].event, "server_start");
        assert_eq!(recs[1].tool.as_deref(), Some("jira_search"));

        // Alone, it is on disk once `ready` returns.
        let path2 = dir.path().join("other.jsonl");
        let log2 = AuditLog::open(&settings(&path2, ArgsMode::Full, 1 << 20, true)).unwrap();
        log2.append_first(Entry::event("server_start"));
        log2.ready().await.unwrap();
        verify_ok(&path2, 1);
    }

    /// When the first record cannot be written, every later record says so (and none is
    /// written ahead of it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_first_record_fails_the_records_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let logdir = dir.path().join("audit");
        let path = logdir.join("audit.jsonl");
        let log = AuditLog::open(&settings(&path, ArgsMode::Full, 1 << 20, false)).unwrap();
        // The directory turns into a file: nothing can be written there.
        std::fs::remove_dir_all(&logdir).unwrap();
        std::fs::write(&logdir, b"not a directory").unwrap();
        log.append_first(Entry::event("server_start"));
        let e = log.append(entry("jira_search", 1)).await.unwrap_err();
        assert!(e.to_string().contains("first record"), "{e}");
        let e = log.ready().await.unwrap_err();
        assert!(matches!(e, AuditError::FirstRecord { .. }), "{e}");
        assert!(e.to_string().contains("restart the server"), "{e}");
    }

    const CHILD_ENV: &str = "AUDIT_CHILD_PATH";
    const CHILD_RECORDS: usize = 200;

    /// Re-exec target and driver: as a child (env var set) it appends records; as the parent it
    /// starts two children of this same test binary and checks their interleaved output.
    #[test]
    fn two_processes_append_concurrently() {
        if let Some(path) = std::env::var_os(CHILD_ENV) {
            let path = PathBuf::from(path);
            // Small max_bytes so that rotation races are exercised too.
            let log =
                AuditLog::open(&settings(&path, ArgsMode::Redacted, 16 * 1024, false)).unwrap();
            for i in 0..CHILD_RECORDS {
                log.append_blocking(entry("child", i)).unwrap();
            }
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let exe = std::env::current_exe().unwrap();
        let name = "audit::log::tests::two_processes_append_concurrently";
        let children: Vec<_> = (0..2)
            .map(|_| {
                std::process::Command::new(&exe)
                    .args([name, "--exact", "--nocapture", "--test-threads=1"])
                    .env(CHILD_ENV, &path)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "child failed: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            // Make sure the child really ran this test (and not zero tests).
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                stdout.contains("1 passed"),
                "child did not run the test: {stdout}"
            );
        }
        let report = verify_ok(&path, 2 * CHILD_RECORDS as u64);
        assert!(report.files.len() > 1, "expected rotation during the race");
        let snapshot = reader::Snapshot::take(&path).unwrap();
        let mut seqs = Vec::new();
        let mut pids = std::collections::BTreeSet::new();
        for item in snapshot.items() {
            if let reader::LogItem::Record(r) = item.unwrap() {
                seqs.push(r.record.seq);
                pids.insert(r.record.pid);
            }
        }
        assert_eq!(seqs, (1..=2 * CHILD_RECORDS as u64).collect::<Vec<_>>());
        assert_eq!(pids.len(), 2, "both children wrote");
    }

    /// Extracts the verifier from docs/audit.md, checks it matches docs/verify_audit.py, and runs
    /// it on a good and a tampered log.
    #[test]
    fn python_verifier_agrees() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let script = root.join("docs/verify_audit.py");
        let script_text = std::fs::read_to_string(&script).unwrap();
        let md = std::fs::read_to_string(root.join("docs/audit.md")).unwrap();
        let start = md
            .find("```python\n")
            .expect("python block in docs/audit.md")
            + 10;
        let end = start + md[start..].find("\n```").unwrap() + 1;
        assert_eq!(
            &md[start..end],
            script_text,
            "docs/audit.md and docs/verify_audit.py differ"
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&settings(&path, ArgsMode::Full, 4096, false)).unwrap();
        // Numbers and strings that stress JCS: integral floats, exponents, tiny and huge values,
        // -0, non-ASCII and control characters, keys that sort differently in UTF-16.
        let mut specials = vec![
            0.0,
            -0.0,
            5.0,
            41.2,
            0.1 + 0.2,
            1e21,
            1e20,
            123456789012345680000.0,
            1e-6,
            1e-7,
            1.5e-7,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            -1e-300,
            9007199254740993.0,
            1234.5678e10,
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..400 {
            // xorshift: arbitrary bit patterns, keeping the finite ones.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            if f.is_finite() {
                specials.push(f);
            }
        }
        for (i, chunk) in specials.chunks(20).enumerate() {
            let mut e = entry("jira_search", i);
            e.args = Some(json!({
                "nums": chunk,
                "ints": [u64::MAX, i64::MIN, 9007199254740993u64, 0, -1],
                "text": "é\u{1}\t\"\\/\u{2028}\u{10ffff}😀",
                "\u{e9}": 1, "\u{1f600}": 2, "\u{ff61}": 3, "a": 4, "B": 5,
                "deep": {"x": [null, true, false, {"y": 1.0}]}
            }));
            e.duration_ms = 1000.0 * i as f64 + 0.25;
            log.append_blocking(e).unwrap();
        }
        let n = specials.chunks(20).count();
        assert!(reader::log_files(&path).len() > 1);
        verify_ok(&path, n as u64);

        let run = || {
            std::process::Command::new("python3")
                .arg(&script)
                .arg(&path)
                .output()
                .unwrap()
        };
        let out = run();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "python verifier rejected a good log: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.trim(), format!("ok: {n} records verified"));

        // Tamper with the second line of the live file.
        let mut l = lines(&path);
        assert!(l.len() >= 2);
        l[1] = l[1].replace("\"result_bytes\":", "\"result_bytes\":9");
        write_lines(&path, &l);
        let out = run();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(
            stdout.contains(&format!("{}:2:", path.display())) && stdout.contains("hash mismatch"),
            "{stdout}"
        );
        // And the Rust verifier says the same.
        let f = reader::verify(&path).unwrap().failure.unwrap();
        assert_eq!((&f.at.file, f.at.line), (&path, 2));

        // A torn last line is tolerated by the script too.
        write_lines(&path, &l[..1]);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"{\"v\":1,\"ts");
        std::fs::write(&path, bytes).unwrap();
        let out = run();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{stdout}");
        assert!(stdout.contains("torn"), "{stdout}");
    }

    /// Not a pass/fail test: `cargo test --lib append_latency -- --ignored --nocapture`.
    #[test]
    #[ignore = "measurement, run by hand"]
    fn append_latency() {
        let dir = tempfile::tempdir().unwrap();
        for fsync in [false, true] {
            let path = dir.path().join(format!("lat-{fsync}.jsonl"));
            let log =
                AuditLog::open(&settings(&path, ArgsMode::Redacted, 50 << 20, fsync)).unwrap();
            let mut times = Vec::new();
            for i in 0..1000 {
                let t = std::time::Instant::now();
                log.append_blocking(entry("jira_search", i)).unwrap();
                times.push(t.elapsed().as_secs_f64() * 1e6);
            }
            times.sort_by(f64::total_cmp);
            eprintln!(
                "fsync={fsync}: 1000 appends, p50 {:.0} µs, p95 {:.0} µs, p99 {:.0} µs, total {:.1} ms",
                times[500],
                times[950],
                times[990],
                times.iter().sum::<f64>() / 1000.0
            );
            verify_ok(&path, 1000);
        }
    }
}
