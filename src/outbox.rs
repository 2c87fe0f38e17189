//! The outbox (SPEC §10): writes made while the site could not be reached (or with
//! `offline = "always"`), one JSON file per write under `<home>/outbox/`, waiting to be sent.
//!
//! Each entry is `<operation_id>.json` (mode 0600, in a 0700 directory), replaced atomically
//! (temporary file, fsync, rename, fsync of the directory) on every change. It holds the tool's
//! validated arguments, the audit record id of the call that queued it, the site it was meant
//! for, and its status: `queued` (waiting), `failed` (the site or policy refused it; kept until
//! dropped) or `sent` (removed at once). A sender holds the entry's exclusive lock
//! (`<operation_id>.lock`) while it works, so two processes never send the same entry at once;
//! the write journal ([`crate::journal`]) under the same operation id is what makes a send
//! exactly-once across crashes.
//!
//! It knows nothing of MCP or of the tools: arguments are opaque JSON.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::journal::valid_operation_id;

/// The entry format this code writes (`v`).
pub const ENTRY_VERSION: u32 = 1;

/// Where a queued write stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting to be sent.
    Queued,
    /// Refused by the site or by policy when it was sent; kept (with the reason) until dropped.
    Failed,
    /// Sent; the file is removed right after this is recorded.
    Sent,
}

impl Status {
    /// The spelling used in files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Failed => "failed",
            Status::Sent => "sent",
        }
    }
}

/// One queued write, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedWrite {
    /// Entry format version ([`ENTRY_VERSION`]).
    pub v: u32,
    /// The operation id: the file name, the journal's name, and what the caller was told.
    pub id: String,
    /// The tool that was called (`jira_create_issue` …).
    pub tool: String,
    /// The tool's arguments as validated when it was queued.
    pub args: Value,
    /// When it was queued (RFC 3339, UTC).
    pub queued_at: String,
    /// The audit record id of the call that queued it (`origin` of the record of its send).
    pub record: String,
    /// The site it is meant for; it is never sent anywhere else.
    pub site: String,
    /// Where it stands.
    pub status: Status,
    /// Why it failed (`failed`), or why the last try did not send it (`queued`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the site made of it (`sent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// How many times sending it was tried.
    #[serde(default)]
    pub attempts: u32,
    /// Ids of look-alikes (same comment text, same page title) that existed at the site before
    /// it was first sent, recorded so that a send whose answer was lost is not mistaken for one
    /// of them when the site is searched for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<Vec<String>>,
}

/// Why the outbox could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// No entry has this id (or it was sent meanwhile).
    #[error("no queued write has the id `{0}`; `atlassian-mcp-bridge outbox list` shows them")]
    NotFound(String),
    /// The id cannot name a file.
    #[error(
        "`{0}` is not a valid outbox id: ids are 1–64 letters, digits, `-` or `_`, as `outbox list` shows them"
    )]
    BadId(String),
    /// The id is already queued for a different write.
    #[error(
        "operation_id `{0}` is already queued for a different write; use a new operation_id (or omit it)"
    )]
    Conflict(String),
    /// Another process (or task) is sending this entry right now.
    #[error("the queued write `{0}` is being sent right now; try again in a moment")]
    Busy(String),
    /// Reading or writing the outbox failed.
    #[error("the outbox {path} could not be {what}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// "read", "written", "locked" …
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The outbox directory.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

/// An entry's exclusive lock, held while it is sent, changed or dropped; released on drop.
#[derive(Debug)]
pub struct EntryLock {
    id: String,
    _file: File,
}

impl EntryLock {
    /// The entry this lock is for.
    pub fn id(&self) -> &str {
        &self.id
    }
}

fn io(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> OutboxError {
    let path = path.to_path_buf();
    move |source| OutboxError::Io { path, what, source }
}

/// The current time as RFC 3339 (UTC).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Outbox {
    /// The outbox in `dir` (`<home>/outbox`); nothing is created until something is queued.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory, for messages.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn lock_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.lock"))
    }

    fn check_id(id: &str) -> Result<(), OutboxError> {
        if valid_operation_id(id) {
            Ok(())
        } else {
            Err(OutboxError::BadId(id.chars().take(80).collect()))
        }
    }

    /// Takes the entry's exclusive lock; `None` when someone else holds it. Whoever holds it
    /// must read the entry again ([`Outbox::get`]): it may have been sent meanwhile.
    pub fn lock(&self, id: &str) -> Result<Option<EntryLock>, OutboxError> {
        Self::check_id(id)?;
        create_private_dir(&self.dir).map_err(io(&self.dir, "created"))?;
        let path = self.lock_path(id);
        let file = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path, "opened"))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(EntryLock {
                id: id.to_string(),
                _file: file,
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(io(&path, "locked")(e)),
        }
    }

    /// Queues a write under `id`. Queuing the same write again (same tool, arguments and site)
    /// returns the entry already there; a different write under a used id is refused.
    pub fn queue(
        &self,
        id: &str,
        tool: &str,
        args: Value,
        record: &str,
        site: &str,
    ) -> Result<QueuedWrite, OutboxError> {
        let lock = self
            .lock(id)?
            .ok_or_else(|| OutboxError::Busy(id.to_string()))?;
        if let Some(existing) = self.get(id)? {
            let same = existing.tool == tool && existing.args == args && existing.site == site;
            return match existing.status {
                Status::Queued | Status::Failed if same => Ok(existing),
                _ => Err(OutboxError::Conflict(id.to_string())),
            };
        }
        let entry = QueuedWrite {
            v: ENTRY_VERSION,
            id: id.to_string(),
            tool: tool.to_string(),
            args,
            queued_at: now_rfc3339(),
            record: record.to_string(),
            site: site.to_string(),
            status: Status::Queued,
            error: None,
            result: None,
            attempts: 0,
            seen: None,
        };
        self.write(&lock, &entry)?;
        Ok(entry)
    }

    /// One entry, if there is one with this id (a `sent` one is reported as gone).
    pub fn get(&self, id: &str) -> Result<Option<QueuedWrite>, OutboxError> {
        Self::check_id(id)?;
        let path = self.entry_path(id);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path, "read")(e)),
        };
        let entry: QueuedWrite =
            serde_json::from_str(&text).map_err(|e| io(&path, "read")(std::io::Error::other(e)))?;
        Ok(Some(entry).filter(|e| e.status != Status::Sent))
    }

    /// Every queued and failed entry, oldest first. Sent entries left by an interrupted
    /// clean-up are removed; unreadable files are skipped with a warning.
    pub fn list(&self) -> Result<Vec<QueuedWrite>, OutboxError> {
        let dir = match std::fs::read_dir(&self.dir) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.dir, "read")(e)),
        };
        let mut entries = Vec::new();
        for item in dir {
            let item = item.map_err(io(&self.dir, "read"))?;
            let path = item.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<QueuedWrite>(&t).map_err(|e| e.to_string()));
            match parsed {
                Ok(e) if e.status == Status::Sent => {
                    let _ = std::fs::remove_file(&path);
                }
                Ok(e) => entries.push(e),
                Err(e) => tracing::warn!(file = %path.display(), "unreadable outbox entry: {e}"),
            }
        }
        entries.sort_by(|a, b| (&a.queued_at, &a.id).cmp(&(&b.queued_at, &b.id)));
        Ok(entries)
    }

    /// True when at least one entry waits to be sent (cheap enough to ask after every call).
    pub fn has_queued(&self) -> bool {
        self.list()
            .map(|l| l.iter().any(|e| e.status == Status::Queued))
            .unwrap_or(false)
    }

    /// Removes a queued or failed entry without sending it, and returns it.
    pub fn drop(&self, id: &str) -> Result<QueuedWrite, OutboxError> {
        let lock = self
            .lock(id)?
            .ok_or_else(|| OutboxError::Busy(id.to_string()))?;
        let Some(entry) = self.get(id)? else {
            self.unlock(lock);
            return Err(OutboxError::NotFound(id.to_string()));
        };
        self.remove(lock)?;
        Ok(entry)
    }

    /// Releases a lock taken for an entry that turned out not to exist (sent or dropped
    /// meanwhile), removing the lock file it left.
    pub fn unlock(&self, lock: EntryLock) {
        if !self.entry_path(&lock.id).exists() {
            let _ = std::fs::remove_file(self.lock_path(&lock.id));
        }
    }

    /// Replaces the entry (under its lock) with `entry`.
    pub fn update(&self, lock: &EntryLock, entry: &QueuedWrite) -> Result<(), OutboxError> {
        self.write(lock, entry)
    }

    /// Records that the entry was sent (with what the site made of it), then removes it.
    pub fn mark_sent(
        &self,
        lock: EntryLock,
        mut entry: QueuedWrite,
        result: Value,
    ) -> Result<(), OutboxError> {
        entry.status = Status::Sent;
        entry.error = None;
        entry.result = Some(result);
        entry.attempts += 1;
        self.write(&lock, &entry)?;
        self.remove(lock)
    }

    /// Records that the site or policy refused the entry; it stays, with the reason, until
    /// dropped.
    pub fn mark_failed(
        &self,
        lock: &EntryLock,
        mut entry: QueuedWrite,
        error: &str,
    ) -> Result<(), OutboxError> {
        entry.status = Status::Failed;
        entry.error = Some(error.to_string());
        entry.attempts += 1;
        self.write(lock, &entry)
    }

    /// Records a try that did not send the entry (site unreachable, outcome unknown); it stays
    /// queued.
    pub fn mark_retry(
        &self,
        lock: &EntryLock,
        mut entry: QueuedWrite,
        reason: &str,
    ) -> Result<(), OutboxError> {
        entry.error = Some(reason.to_string());
        entry.attempts += 1;
        self.write(lock, &entry)
    }

    fn remove(&self, lock: EntryLock) -> Result<(), OutboxError> {
        let path = self.entry_path(&lock.id);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path, "removed")(e)),
        }
        // Whoever opened the lock file before it goes reads the entry again after locking,
        // and finds it gone.
        let _ = std::fs::remove_file(self.lock_path(&lock.id));
        sync_dir(&self.dir);
        Ok(())
    }

    fn write(&self, lock: &EntryLock, entry: &QueuedWrite) -> Result<(), OutboxError> {
        let path = self.entry_path(&lock.id);
        let bytes = serde_json::to_vec_pretty(entry)
            .map_err(|e| io(&path, "written")(std::io::Error::other(e)))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.dir)
            .map_err(io(&self.dir, "written"))?;
        tmp.write_all(&bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(io(&path, "written"))?;
        tmp.persist(&path)
            .map_err(|e| io(&path, "written")(e.error))?;
        sync_dir(&self.dir);
        Ok(())
    }
}

/// Makes a rename or removal in `dir` durable (best effort: not every platform can).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn private_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

#[cfg(test)]
mod tests;
