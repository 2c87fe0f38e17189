//! The write journal: one append-only JSONL file per bulk operation under `<home>/journal/`,
//! so that a bulk call cut short by a crash, a timeout or a cancel can be finished later
//! without creating anything twice.
//!
//! Before a chunk is sent its item indexes are recorded (`sent`); after Jira or Confluence
//! answers, each item's outcome (`result`); at the end the whole result (`done`). Every line is
//! fsync'd before the next step. Replaying the lines gives, for each input index, one of:
//! settled (created, or failed and safe to try again), in doubt (sent, answer never recorded —
//! the caller must look at the site before sending it again), or not yet sent.
//!
//! A journal is held under an exclusive lock for as long as an operation runs, so two
//! processes resuming the same operation cannot both send. It knows nothing of MCP or of
//! Atlassian's types: items are indexes, outcomes are small records.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Another process (or call) is running this operation right now.
    #[error(
        "operation `{0}` is being run by another call right now; wait for it to finish, then call again with the same operation_id to get its result"
    )]
    Busy(String),
    /// The operation id cannot name a file.
    #[error(
        "operation_id `{0}` is not valid: use 1–64 letters, digits, `-` or `_` (or omit it and one is generated)"
    )]
    BadId(String),
    /// Reading or writing the journal failed.
    #[error("the write journal {path} could not be {what}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// "read", "written", "locked" …
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What happened to one input item, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// Input index.
    pub i: usize,
    /// `created` or `failed`.
    pub status: String,
    /// Issue key, when created (Jira).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Issue or page id, when created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ItemRecord {
    /// True for an item that exists at the site.
    pub fn created(&self) -> bool {
        self.status == "created"
    }
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum JournalEntry {
    /// The operation started: which tool, when (RFC 3339), how many items, and a fingerprint
    /// of the items so that an id reused for different items is caught.
    Begin {
        /// Tool name.
        tool: String,
        /// Start time, RFC 3339.
        started: String,
        /// Number of input items.
        items: usize,
        /// SHA-256 of the canonical items.
        fingerprint: String,
    },
    /// These items are about to be sent.
    Sent {
        /// Input indexes.
        indexes: Vec<usize>,
    },
    /// The site answered for these items.
    Result {
        /// One record per item.
        items: Vec<ItemRecord>,
    },
    /// The operation finished; later calls return this result and send nothing.
    Done {
        /// The tool's structured result.
        result: Value,
    },
}

/// What the lines recorded so far say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replay {
    /// The `begin` line, if any.
    pub begin: Option<(String, String, usize, String)>,
    /// The final result, when the operation finished.
    pub done: Option<Value>,
    /// Latest recorded outcome per input index.
    pub settled: BTreeMap<usize, ItemRecord>,
    /// Indexes sent without a recorded answer: they may or may not exist at the site.
    pub in_doubt: BTreeSet<usize>,
}

impl Replay {
    /// Folds journal lines into the state they describe.
    pub fn of(entries: &[JournalEntry]) -> Self {
        let mut r = Replay::default();
        for e in entries {
            match e {
                JournalEntry::Begin {
                    tool,
                    started,
                    items,
                    fingerprint,
                } => {
                    r.begin = Some((tool.clone(), started.clone(), *items, fingerprint.clone()));
                }
                JournalEntry::Sent { indexes } => r.in_doubt.extend(indexes.iter().copied()),
                JournalEntry::Result { items } => {
                    for item in items {
                        r.in_doubt.remove(&item.i);
                        // A created item stays created, whatever a later line says.
                        let keep = r.settled.get(&item.i).is_some_and(ItemRecord::created);
                        if !keep {
                            r.settled.insert(item.i, item.clone());
                        }
                    }
                }
                JournalEntry::Done { result } => r.done = Some(result.clone()),
            }
        }
        r
    }
}

/// An open, locked journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    // Held for the journal's lifetime: the exclusive lock is released when it is dropped.
    _lock: File,
}

/// Checks that an operation id can name a journal file.
pub fn valid_operation_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Journal {
    /// Opens (creating if needed) the journal of `operation_id` in `dir`, takes its exclusive
    /// lock, and returns it with the lines already recorded (a torn last line is ignored).
    pub fn open(
        dir: &Path,
        operation_id: &str,
    ) -> Result<(Journal, Vec<JournalEntry>), JournalError> {
        if !valid_operation_id(operation_id) {
            return Err(JournalError::BadId(operation_id.chars().take(80).collect()));
        }
        let io = |path: &Path, what: &'static str| {
            let path = path.to_path_buf();
            move |source| JournalError::Io { path, what, source }
        };
        create_private_dir(dir).map_err(io(dir, "created"))?;
        let path = dir.join(format!("{operation_id}.jsonl"));
        let lock_path = dir.join(format!("{operation_id}.lock"));
        let lock = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io(&lock_path, "opened"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Busy(operation_id.to_string()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path, "locked")(e)),
        }
        let mut entries = Vec::new();
        match File::open(&path) {
            Ok(f) => {
                for line in BufReader::new(f).lines() {
                    let line = line.map_err(io(&path, "read"))?;
                    // A line cut by a crash is not valid JSON: it recorded nothing durable.
                    if let Ok(entry) = serde_json::from_str::<JournalEntry>(&line) {
                        entries.push(entry);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path, "read")(e)),
        }
        let mut file = private_options()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io(&path, "opened"))?;
        // Start on a fresh line if the last one was torn.
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len > 0 && !ends_with_newline(&path) {
            file.write_all(b"\n").map_err(io(&path, "written"))?;
        }
        Ok((
            Journal {
                path,
                file,
                _lock: lock,
            },
            entries,
        ))
    }

    /// Appends one line and makes it durable before returning.
    pub fn append(&mut self, entry: &JournalEntry) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(entry).map_err(|e| JournalError::Io {
            path: self.path.clone(),
            what: "written",
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                what: "written",
                source,
            })
    }

    /// The journal file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn ends_with_newline(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else {
        return true;
    };
    let mut last = [0u8; 1];
    f.seek(SeekFrom::End(-1))
        .and_then(|_| f.read_exact(&mut last))
        .map(|()| last[0] == b'\n')
        .unwrap_or(true)
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
mod tests {
    use super::*;

    fn rec(i: usize, status: &str) -> ItemRecord {
        ItemRecord {
            i,
            status: status.into(),
            key: (status == "created").then(|| format!("ENG-{i}")),
            id: None,
            error: (status == "failed").then(|| "nope".into()),
        }
    }

    #[test]
    fn replay_tracks_doubt_and_outcomes() {
        let entries = vec![
            JournalEntry::Sent {
                indexes: vec![0, 1, 2],
            },
            JournalEntry::Result {
                items: vec![rec(0, "created"), rec(1, "failed")],
            },
            JournalEntry::Sent { indexes: vec![3] },
            JournalEntry::Result {
                items: vec![rec(0, "failed")],
            },
        ];
        let r = Replay::of(&entries);
        assert_eq!(r.in_doubt, BTreeSet::from([2, 3]));
        assert!(r.settled[&0].created(), "created stays created");
        assert!(!r.settled[&1].created());
        assert!(r.done.is_none());
    }

    #[test]
    fn lines_survive_reopen_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, old) = Journal::open(dir.path(), "op-1").unwrap();
            assert!(old.is_empty());
            j.append(&JournalEntry::Sent { indexes: vec![7] }).unwrap();
        }
        let path = dir.path().join("op-1.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"t":"result","items":[{"i":7,"sta"#)
            .unwrap();
        drop(f);
        let (mut j, old) = Journal::open(dir.path(), "op-1").unwrap();
        assert_eq!(old, vec![JournalEntry::Sent { indexes: vec![7] }]);
        j.append(&JournalEntry::Result {
            items: vec![rec(7, "created")],
        })
        .unwrap();
        drop(j);
        let (_, old) = Journal::open(dir.path(), "op-1").unwrap();
        assert_eq!(old.len(), 2, "the torn line is skipped, the new one kept");
        assert!(Replay::of(&old).in_doubt.is_empty());
    }

    #[test]
    fn one_holder_at_a_time_and_ids_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let (held, _) = Journal::open(dir.path(), "op").unwrap();
        assert!(matches!(
            Journal::open(dir.path(), "op"),
            Err(JournalError::Busy(_))
        ));
        drop(held);
        assert!(Journal::open(dir.path(), "op").is_ok());
        for bad in ["", "../x", "a/b", "x y", &"a".repeat(65)] {
            assert!(matches!(
                Journal::open(dir.path(), bad),
                Err(JournalError::BadId(_))
            ));
        }
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let jdir = dir.path().join("journal");
        let (mut j, _) = Journal::open(&jdir, "op").unwrap();
        j.append(&JournalEntry::Sent { indexes: vec![1] }).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&jdir), 0o700);
        assert_eq!(mode(&jdir.join("op.jsonl")), 0o600);
    }
}
