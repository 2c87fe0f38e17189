//! Reading the log across rotated files: snapshots, query filters and stats (the chain check
//! lives in [`crate::audit::verify`] and is re-exported here).
//!
//! Readers never block writers for long: [`Snapshot::take`] holds a shared lock on `<path>.lock`
//! only while it opens every file and notes its length, then reads those open handles up to the
//! noted lengths. Renames by a concurrent rotation do not affect open handles, and appends after
//! the snapshot lie beyond the noted lengths, so a snapshot is a consistent prefix of the log.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::audit::log::{highest_rotated, lock_path, rotated_path};
use crate::audit::record::{AuditRecord, Outcome, RECORD_VERSION, chain_hash};

pub use crate::audit::verify::{
    Anchor, Failure, VerifyReport, verify, verify_log, verify_snapshot,
};

/// Why the log could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReaderError {
    /// An I/O error on the named file.
    #[error("audit log {path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl ReaderError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        ReaderError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// A line in one of the log files, for messages that must point at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file (live or rotated).
    pub file: PathBuf,
    /// 1-based line number within that file.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{} line {}", self.file.display(), self.line)
        }
    }
}

impl Location {
    /// `FILE:LINE`, or `FILE` alone for problems with a whole file (line 0).
    pub fn compact(&self) -> String {
        if self.line == 0 {
            self.file.display().to_string()
        } else {
            format!("{}:{}", self.file.display(), self.line)
        }
    }
}

/// The files of a log, oldest first: `<path>.N` … `<path>.1`, `<path>` (existing ones only).
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..=highest_rotated(path))
        .rev()
        .map(|n| rotated_path(path, n))
        .collect();
    if path.exists() {
        files.push(path.to_path_buf());
    }
    files
}

struct SnapFile {
    path: PathBuf,
    file: File,
    len: u64,
}

/// A consistent view of the whole log (every file open, lengths fixed), oldest file first.
pub struct Snapshot {
    files: Vec<SnapFile>,
}

impl Snapshot {
    /// Opens every file of the log under a brief shared lock (when the lock file exists).
    pub fn take(path: &Path) -> Result<Self, ReaderError> {
        let lock = File::open(lock_path(path)).ok();
        if let Some(lock) = &lock {
            // Best effort: a filesystem without locks still gets a (possibly racy) snapshot.
            #[allow(clippy::incompatible_msrv)] // stable since 1.89
            let _ = lock.lock_shared();
        }
        let mut files = Vec::new();
        for p in log_files(path) {
            let file = match File::open(&p) {
                Ok(f) => f,
                // Rotated away between listing and opening cannot happen under the lock, but
                // without one it can: skip rather than fail.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ReaderError::io(&p, e)),
            };
            let len = file.metadata().map_err(|e| ReaderError::io(&p, e))?.len();
            files.push(SnapFile { path: p, file, len });
        }
        if let Some(lock) = &lock {
            #[allow(clippy::incompatible_msrv)]
            let _ = lock.unlock();
        }
        Ok(Self { files })
    }

    /// True when the log has no files yet.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The files in the snapshot, oldest first.
    pub fn files(&self) -> Vec<PathBuf> {
        self.files.iter().map(|f| f.path.clone()).collect()
    }

    /// The newest file and the snapshot's length of it (where `tail --follow` starts).
    pub fn newest(&self) -> Option<(&Path, &File, u64)> {
        self.files
            .last()
            .map(|f| (f.path.as_path(), &f.file, f.len))
    }

    /// Every line of the log, oldest first, classified.
    pub fn items(&self) -> Items<'_> {
        self.items_in(0..self.files.len())
    }

    /// The lines of the files with these indexes (0 = oldest), classified.
    pub fn items_in(&self, files: std::ops::Range<usize>) -> Items<'_> {
        Items {
            snapshot: self,
            next_file: files.start,
            end_file: files.end.min(self.files.len()),
            current: None,
        }
    }

    /// Number of files in the snapshot.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }
}

/// Reads a file by position, so several readers can share one handle without a shared offset.
struct PosReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for PosReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        if left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = read_at(self.file, &mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, pos)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, pos)
}

/// A record as stored, with where it is and its exact text.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// Where the record is.
    pub at: Location,
    /// The line exactly as stored (without the `\n`), for `query --json`.
    pub line: String,
    /// The line parsed as JSON (what the hash covers).
    pub object: Map<String, Value>,
    /// The line parsed as a v1 record.
    pub record: AuditRecord,
}

/// One line of the log, classified.
#[derive(Debug, Clone)]
pub enum LogItem {
    /// A well-formed record (its hash is not checked here; see [`verify`]).
    Record(Box<StoredRecord>),
    /// A line that is not a record; `audit verify` reports it as the first bad line.
    Bad {
        /// Where.
        at: Location,
        /// Why it is not a record.
        reason: String,
    },
    /// An incomplete last line (a write cut short by a crash); tolerated, repaired by the next
    /// append, not counted.
    Torn {
        /// Where.
        at: Location,
    },
}

/// Iterator over the classified lines of a [`Snapshot`].
pub struct Items<'a> {
    snapshot: &'a Snapshot,
    next_file: usize,
    end_file: usize,
    current: Option<(usize, usize, BufReader<PosReader<'a>>)>,
}

impl Iterator for Items<'_> {
    type Item = Result<LogItem, ReaderError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some((idx, line_no, reader)) = &mut self.current else {
                if self.next_file >= self.end_file {
                    return None;
                }
                let f = &self.snapshot.files[self.next_file];
                let reader = PosReader {
                    file: &f.file,
                    pos: 0,
                    end: f.len,
                };
                self.current = Some((
                    self.next_file,
                    0,
                    BufReader::with_capacity(64 * 1024, reader),
                ));
                self.next_file += 1;
                continue;
            };
            let f = &self.snapshot.files[*idx];
            let mut buf = Vec::new();
            match reader.read_until(b'\n', &mut buf) {
                Err(e) => {
                    self.current = None;
                    return Some(Err(ReaderError::io(&f.path, e)));
                }
                Ok(0) => {
                    self.current = None;
                    continue;
                }
                Ok(_) => {}
            }
            *line_no += 1;
            let terminated = buf.last() == Some(&b'\n');
            if terminated {
                buf.pop();
            }
            let at = Location {
                file: f.path.clone(),
                line: *line_no,
            };
            let last_file = *idx + 1 == self.snapshot.files.len();
            return Some(Ok(classify(at, buf, terminated, last_file)));
        }
    }
}

fn classify(at: Location, bytes: Vec<u8>, terminated: bool, last_file: bool) -> LogItem {
    let parsed = parse_line(bytes);
    if terminated {
        return match parsed {
            Ok(rec) => LogItem::Record(Box::new(StoredRecord {
                at,
                line: rec.0,
                object: rec.1,
                record: rec.2,
            })),
            Err(reason) => LogItem::Bad { at, reason },
        };
    }
    // No newline: only the very last line of the log may lack one (a torn write). The appender
    // keeps such a line when it is a complete record whose hash checks out, so do the same.
    match parsed {
        Ok((line, object, record)) if last_file && hash_ok(&object, &record) => {
            LogItem::Record(Box::new(StoredRecord {
                at,
                line,
                object,
                record,
            }))
        }
        _ if last_file => LogItem::Torn { at },
        _ => LogItem::Bad {
            at,
            reason: "line has no newline but is not the end of the log".to_owned(),
        },
    }
}

type Parsed = (String, Map<String, Value>, AuditRecord);

fn parse_line(bytes: Vec<u8>) -> Result<Parsed, String> {
    let line = String::from_utf8(bytes).map_err(|_| "line is not valid UTF-8".to_owned())?;
    let object = match serde_json::from_str::<Value>(&line) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err("line is not a JSON object".to_owned()),
        Err(e) if line.is_empty() => return Err(format!("empty line ({e})")),
        Err(e) => return Err(format!("line is not valid JSON: {e}")),
    };
    let record = serde_json::from_str::<AuditRecord>(&line)
        .map_err(|e| format!("line is not an audit record: {e}"))?;
    if record.v != RECORD_VERSION {
        return Err(format!(
            "unsupported record version {} (expected {RECORD_VERSION})",
            record.v
        ));
    }
    Ok((line, object, record))
}

fn hash_ok(object: &Map<String, Value>, record: &AuditRecord) -> bool {
    chain_hash(&record.prev, object).is_ok_and(|h| h == record.hash)
}

/// Parses a record's `ts` (RFC 3339).
pub fn parse_ts(ts: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok()
}

/// What `--since` / `--until` accept, for error messages.
pub const TIME_FORMATS: &str = "RFC 3339 (2026-11-21T20:00:00Z), a date (2026-11-21, UTC) or an age before now (90s, 30m, 1h, 7d, 2w)";

/// Parses a `--since`/`--until` value: RFC 3339, a date `YYYY-MM-DD` (midnight UTC; with
/// `end_of_day`, the following midnight, so `--until 2026-11-21` includes that day), or a
/// relative age such as `90s`, `30m`, `1h`, `7d`, `2w` (that long before `now`). The error
/// names every accepted form.
pub fn parse_time_arg(
    s: &str,
    now: OffsetDateTime,
    end_of_day: bool,
) -> Result<OffsetDateTime, String> {
    let s = s.trim();
    let bad = |why: &str| format!("`{s}` is not a time{why}; expected {TIME_FORMATS}");
    if let Some(t) = parse_ts(s) {
        return Ok(t);
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = time::Date::parse(s, &date_format) {
        let start = date.midnight().assume_utc();
        return if end_of_day {
            start
                .checked_add(time::Duration::days(1))
                .ok_or_else(|| bad(" (out of range)"))
        } else {
            Ok(start)
        };
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let Ok(n) = num.parse::<i64>() else {
        return Err(bad(""));
    };
    let unit_secs: i64 = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        "" => return Err(bad(" (an age needs a unit: s, m, h, d or w)")),
        _ if unit.chars().all(char::is_alphabetic) => {
            return Err(bad(&format!(" (unknown unit `{unit}`)")));
        }
        _ => return Err(bad("")),
    };
    n.checked_mul(unit_secs)
        .and_then(|secs| now.checked_sub(time::Duration::seconds(secs)))
        .ok_or_else(|| bad(" (too far in the past)"))
}

/// A conjunction of `audit query` conditions; `None` fields match everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Tool name (or event name for non-tool records), exact.
    pub tool: Option<String>,
    /// Outcome.
    pub outcome: Option<Outcome>,
    /// Records at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Records strictly before this time.
    pub until: Option<OffsetDateTime>,
    /// An issue key / page id in `touched` (ASCII case-insensitive).
    pub touched: Option<String>,
}

impl Filter {
    /// True when the record satisfies every condition.
    pub fn matches(&self, r: &AuditRecord) -> bool {
        if self.tool.as_deref().is_some_and(|t| t != r.label()) {
            return false;
        }
        if self.outcome.is_some_and(|o| o != r.outcome) {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(ts) = parse_ts(&r.ts) else {
                return false;
            };
            if self.since.is_some_and(|s| ts < s) || self.until.is_some_and(|u| ts >= u) {
                return false;
            }
        }
        if let Some(key) = &self.touched
            && !r.touched.iter().any(|t| t.eq_ignore_ascii_case(key))
        {
            return false;
        }
        true
    }
}

/// Per-tool figures for `audit stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ToolStats {
    /// Records.
    pub calls: u64,
    /// Outcome `ok`.
    pub ok: u64,
    /// Outcome `error`.
    pub errors: u64,
    /// Outcome `denied`.
    pub denied: u64,
    /// Outcome `cancelled`.
    pub cancelled: u64,
    /// Median duration (nearest rank), ms.
    pub p50_ms: f64,
    /// 95th percentile duration (nearest rank), ms.
    pub p95_ms: f64,
}

/// What `audit stats` reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// All records.
    pub records: u64,
    /// `ts` of the first record.
    pub first: Option<String>,
    /// `ts` of the last record.
    pub last: Option<String>,
    /// Per tool (or event, for non-tool records), sorted by name.
    pub tools: BTreeMap<String, ToolStats>,
}

/// Nearest-rank percentile of sorted values (0 when empty).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Accumulates records into [`Stats`].
#[derive(Debug, Default)]
pub struct StatsBuilder {
    stats: Stats,
    durations: BTreeMap<String, Vec<f64>>,
}

impl StatsBuilder {
    /// Counts one record.
    pub fn add(&mut self, r: &AuditRecord) {
        let s = &mut self.stats;
        s.records += 1;
        if s.first.is_none() {
            s.first = Some(r.ts.clone());
        }
        s.last = Some(r.ts.clone());
        let t = s.tools.entry(r.label().to_owned()).or_default();
        t.calls += 1;
        match r.outcome {
            Outcome::Ok => t.ok += 1,
            Outcome::Error => t.errors += 1,
            Outcome::Denied => t.denied += 1,
            Outcome::Cancelled => t.cancelled += 1,
        }
        self.durations
            .entry(r.label().to_owned())
            .or_default()
            .push(r.duration_ms);
    }

    /// The figures, with percentiles computed.
    pub fn finish(mut self) -> Stats {
        for (tool, mut d) in self.durations {
            d.sort_by(f64::total_cmp);
            if let Some(t) = self.stats.tools.get_mut(&tool) {
                t.p50_ms = percentile(&d, 50.0);
                t.p95_ms = percentile(&d, 95.0);
            }
        }
        self.stats
    }
}
