//! `audit verify`: recomputes the hash chain across rotated files (SPEC §9), tells a log that
//! was never written from one that went missing, and checks an anchor (`--anchor SEQ:HASH`)
//! noted from an earlier run, which catches what a chain alone cannot: a cut-off end.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::audit::log::lock_path;
use crate::audit::reader::{Location, LogItem, ReaderError, Snapshot};
use crate::audit::record::{ZERO_HASH, chain_hash};

/// The first bad line found by [`verify`] (line 0 when a whole file is missing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The file and 1-based line; 0 when the problem is the file itself.
    #[serde(flatten)]
    pub at: Location,
    /// What is wrong with it.
    pub reason: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// True when every record checked out.
    pub ok: bool,
    /// Records verified (before the failure, if any).
    pub records: u64,
    /// Files read, oldest first.
    pub files: Vec<PathBuf>,
    /// `seq` of the last good record.
    pub last_seq: Option<u64>,
    /// `hash` of the last good record (note it somewhere else to detect truncation later).
    pub last_hash: Option<String>,
    /// A torn last line that was tolerated.
    pub torn: Option<Location>,
    /// True when nothing was ever written at this path: no log file and no lock file (which
    /// every writer creates first). Then `ok` is true with 0 records.
    pub never_written: bool,
    /// The anchor that was checked (`--anchor`), when one was given.
    pub anchor: Option<Anchor>,
    /// The first bad record.
    pub failure: Option<Failure>,
}

/// A record a person noted earlier (`seq` and `hash`, as `audit verify` prints them), checked
/// by a later `audit verify --anchor SEQ:HASH`: the log must still reach that `seq`, with that
/// `hash`. This catches what the chain cannot show on its own: records cut off at the end, or
/// the whole log replaced by a different, internally consistent one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anchor {
    /// The record's `seq`.
    pub seq: u64,
    /// The record's `hash` (64 lowercase hex digits).
    pub hash: String,
}

impl std::str::FromStr for Anchor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let expected =
            "expected SEQ:HASH as `audit verify` prints them, e.g. 42:5f0c…(64 hex digits)";
        let (seq, hash) = s
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("`{s}` is not an anchor: {expected}"))?;
        let seq: u64 = seq
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{seq}` is not a record number: {expected}"))?;
        let hash = hash.trim().to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{hash}` is not a record hash: {expected}"));
        }
        Ok(Anchor { seq, hash })
    }
}

/// Recomputes the hash chain across all files (SPEC §9): every record's hash, `prev` equal to the
/// previous record's hash (zeros first), `seq` one more than the previous (1 first); and checks
/// that the log is there at all (see [`verify_log`]).
pub fn verify(path: &Path) -> Result<VerifyReport, ReaderError> {
    verify_log(path, &Snapshot::take(path)?, None)
}

/// [`verify_snapshot`], plus what only the path can tell: a log that is missing although it
/// was written (its lock file exists), or a live file that is missing while rotated files
/// exist, fails (line 0: the file itself); a log never written at all is `ok` with
/// [`VerifyReport::never_written`] set.
pub fn verify_log(
    path: &Path,
    snapshot: &Snapshot,
    anchor: Option<&Anchor>,
) -> Result<VerifyReport, ReaderError> {
    let mut report = verify_snapshot(snapshot, anchor)?;
    if report.failure.is_some() {
        return Ok(report);
    }
    let whole_file = |reason: String| Failure {
        at: Location {
            file: path.to_path_buf(),
            line: 0,
        },
        reason,
    };
    let live_present = report.files.last().is_some_and(|f| f == path);
    let failure = if snapshot.is_empty() {
        let lock = lock_path(path);
        if lock.exists() {
            Some(whole_file(format!(
                "the audit log is missing, but {} exists, so it was written here before: it has been moved or deleted",
                lock.display()
            )))
        } else {
            report.never_written = true;
            None
        }
    } else if !live_present {
        Some(whole_file(format!(
            "the live file is missing while rotated files exist: records after seq {} (the end of {}) may have been deleted",
            report.last_seq.unwrap_or(0),
            report
                .files
                .last()
                .map(|f| f.display().to_string())
                .unwrap_or_default()
        )))
    } else {
        None
    };
    // An anchor past the end of a log that is otherwise fine: records were cut off.
    let failure = failure.or_else(|| {
        let a = anchor?;
        (report.last_seq.unwrap_or(0) < a.seq).then(|| {
            whole_file(format!(
                "the log ends at seq {}, before the anchor's seq {}: records were cut off (or this is a different log)",
                report.last_seq.unwrap_or(0),
                a.seq
            ))
        })
    });
    if let Some(f) = failure {
        report.ok = false;
        report.failure = Some(f);
    }
    Ok(report)
}

/// The chain check of [`verify`] over an existing snapshot, and the anchor's record when it is
/// reached (whether the log reaches the anchor at all is [`verify_log`]'s part).
pub fn verify_snapshot(
    snapshot: &Snapshot,
    anchor: Option<&Anchor>,
) -> Result<VerifyReport, ReaderError> {
    let mut report = VerifyReport {
        files: snapshot.files(),
        anchor: anchor.cloned(),
        ..VerifyReport::default()
    };
    let mut prev = ZERO_HASH.to_owned();
    let mut expected_seq = 1u64;
    for item in snapshot.items() {
        let failure = match item? {
            LogItem::Torn { at } => {
                report.torn = Some(at);
                continue;
            }
            LogItem::Bad { at, reason } => Failure { at, reason },
            LogItem::Record(stored) => {
                let rec = &stored.record;
                match chain_hash(&rec.prev, &stored.object) {
                    Err(e) => Failure {
                        at: stored.at.clone(),
                        reason: format!("cannot canonicalize record: {e}"),
                    },
                    Ok(h) if h != rec.hash => Failure {
                        at: stored.at.clone(),
                        reason: "hash mismatch: the record was modified".to_owned(),
                    },
                    Ok(_) if rec.prev != prev => Failure {
                        at: stored.at.clone(),
                        reason: if report.records == 0 {
                            "prev of the first record is not 64 zeros: earlier records are missing"
                                .to_owned()
                        } else {
                            "prev does not match the previous record's hash: a record was removed, inserted or reordered before this line".to_owned()
                        },
                    },
                    Ok(_) if rec.seq != expected_seq => Failure {
                        at: stored.at.clone(),
                        reason: format!("seq is {}, expected {expected_seq}", rec.seq),
                    },
                    Ok(_) if anchor.is_some_and(|a| a.seq == rec.seq && a.hash != rec.hash) => {
                        Failure {
                            at: stored.at.clone(),
                            reason: format!(
                                "seq {} has a different hash than the anchor: this record or an earlier one was changed and the chain recomputed, or this is a different log",
                                rec.seq
                            ),
                        }
                    }
                    Ok(_) => {
                        report.records += 1;
                        prev.clone_from(&rec.hash);
                        expected_seq = rec.seq + 1;
                        report.last_seq = Some(rec.seq);
                        report.last_hash = Some(rec.hash.clone());
                        continue;
                    }
                }
            }
        };
        report.failure = Some(failure);
        return Ok(report);
    }
    report.ok = true;
    Ok(report)
}
