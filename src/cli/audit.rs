//! `audit tail|query|verify|stats`: read the audit log from the command line (SPEC §6, §9).
//!
//! Text output shows stored text with every control, bidirectional and invisible character
//! escaped (`\u{202e}`), since the log holds what clients and Atlassian sent; `--json` prints the
//! stored lines exactly. Usage errors (a `--since` that is not a time) exit 2, a failed
//! verification 1.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;

use super::CliError;
use crate::audit::reader::{self, Anchor, Filter, LogItem, Snapshot, StatsBuilder};
use crate::audit::record::{AuditRecord, Outcome};
use crate::config::AuditSettings;
use crate::sanitize::escape_invisible;

/// How often `tail --follow` looks for new records.
const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// The `audit` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AuditCommand {
    /// Show the last records (and, with --follow, new ones as they are written).
    Tail {
        /// How many records to show.
        #[arg(short = 'n', long = "lines", default_value_t = 20)]
        lines: usize,
        /// Keep running and print new records as they arrive (Ctrl-C to stop).
        #[arg(short = 'f', long)]
        follow: bool,
        /// Print records as stored, one JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Print the records that match every given condition.
    Query {
        /// Tool name (or event: server_start, login, logout, token_refresh).
        #[arg(long)]
        tool: Option<String>,
        /// Outcome.
        #[arg(long, value_enum)]
        outcome: Option<OutcomeArg>,
        /// From this time: RFC 3339, a date (YYYY-MM-DD, UTC) or an age (30m, 1h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Before this time: RFC 3339, a date (the whole day is included) or an age.
        #[arg(long)]
        until: Option<String>,
        /// Only records whose `touched` list holds this issue key or page id.
        #[arg(long)]
        touched: Option<String>,
        /// Print matching records exactly as stored, one JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Recompute the hash chain across all files; exit 1 naming the first bad line. On
    /// success prints the last record's seq and hash: note them elsewhere and pass them back
    /// as --anchor later to detect a log that was cut off or replaced.
    Verify {
        /// Print the result as a JSON object.
        #[arg(long)]
        json: bool,
        /// A record noted earlier, as SEQ:HASH: the log must still reach it with that hash.
        #[arg(long, value_name = "SEQ:HASH")]
        anchor: Option<Anchor>,
    },
    /// Calls, errors and p50/p95 duration per tool.
    Stats {
        /// Print the figures as a JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `--outcome` values (the record's `outcome` spellings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutcomeArg {
    /// The call succeeded.
    Ok,
    /// Invalid arguments, unknown tool, upstream failure.
    Error,
    /// Refused by policy or by the user.
    Denied,
    /// Cancelled by the client.
    Cancelled,
}

impl From<OutcomeArg> for Outcome {
    fn from(o: OutcomeArg) -> Self {
        match o {
            OutcomeArg::Ok => Outcome::Ok,
            OutcomeArg::Error => Outcome::Error,
            OutcomeArg::Denied => Outcome::Denied,
            OutcomeArg::Cancelled => Outcome::Cancelled,
        }
    }
}

/// Runs an `audit` subcommand, printing to stdout. Exit codes: 1 when `verify` finds a bad
/// record or a missing log (or reading fails), 2 for usage errors such as a `--since` that is
/// not a time.
pub fn run(cmd: AuditCommand, settings: &AuditSettings) -> Result<ExitCode, CliError> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let stop = AtomicBool::new(false);
    match run_to(cmd, settings, &mut out, &stop) {
        // `audit tail | head` closes the pipe early; that is not a failure.
        Err(CliError::Runtime(e))
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        other => other,
    }
}

/// [`run`] with the output and the `--follow` stop flag supplied by the caller (tests).
pub fn run_to(
    cmd: AuditCommand,
    settings: &AuditSettings,
    out: &mut dyn Write,
    stop: &AtomicBool,
) -> Result<ExitCode, CliError> {
    // Usage errors first, before anything is read or printed.
    let filter = match &cmd {
        AuditCommand::Query {
            tool,
            outcome,
            since,
            until,
            touched,
            ..
        } => Some(filter(
            tool.clone(),
            *outcome,
            since.as_deref(),
            until.as_deref(),
            touched.clone(),
        )?),
        _ => None,
    };
    Ok(execute(cmd, filter, settings, out, stop)?)
}

/// Builds the `query` filter; a bad time or an empty range is a usage error naming the flag
/// and the accepted formats.
fn filter(
    tool: Option<String>,
    outcome: Option<OutcomeArg>,
    since: Option<&str>,
    until: Option<&str>,
    touched: Option<String>,
) -> Result<Filter, CliError> {
    let now = time::OffsetDateTime::now_utc();
    let time_arg = |s: Option<&str>, end_of_day: bool, flag: &str| {
        s.map(|s| reader::parse_time_arg(s, now, end_of_day))
            .transpose()
            .map_err(|e| CliError::Usage(format!("--{flag}: {e}")))
    };
    let since_t = time_arg(since, false, "since")?;
    let until_t = time_arg(until, true, "until")?;
    if let (Some(s), Some(u)) = (since_t, until_t)
        && s >= u
    {
        return Err(CliError::Usage(format!(
            "--since {} is not before --until {}: no record can match; --since is inclusive, --until exclusive",
            since.unwrap_or_default(),
            until.unwrap_or_default()
        )));
    }
    Ok(Filter {
        tool,
        outcome: outcome.map(Outcome::from),
        since: since_t,
        until: until_t,
        touched,
    })
}

/// Runs a validated command.
fn execute(
    cmd: AuditCommand,
    filter: Option<Filter>,
    settings: &AuditSettings,
    out: &mut dyn Write,
    stop: &AtomicBool,
) -> anyhow::Result<ExitCode> {
    let path = settings.path.as_path();
    let snapshot = Snapshot::take(path)?;
    match cmd {
        AuditCommand::Verify { json, anchor } => {
            verify(&snapshot, path, json, anchor.as_ref(), out)
        }
        _ if snapshot.is_empty() && !matches!(cmd, AuditCommand::Tail { follow: true, .. }) => {
            writeln!(out, "no audit log at {} yet", path.display())?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Tail {
            lines,
            follow,
            json,
        } => {
            tail(&snapshot, lines, json, out)?;
            if follow {
                out.flush()?;
                follow_log(path, &snapshot, json, out, stop)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Query { json, .. } => {
            query(&snapshot, &filter.unwrap_or_default(), json, out)?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Stats { json } => {
            stats(&snapshot, json, out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn verify(
    snapshot: &Snapshot,
    path: &Path,
    json: bool,
    anchor: Option<&Anchor>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let report = reader::verify_log(path, snapshot, anchor)?;
    if json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else if let Some(f) = &report.failure {
        writeln!(out, "{}: {}", f.at.compact(), f.reason)?;
        writeln!(
            out,
            "verification failed at {} ({} records verified before it)",
            f.at, report.records
        )?;
    } else if report.never_written {
        writeln!(
            out,
            "no audit log at {} yet: nothing has been recorded there, so there is nothing to verify (the bridge creates it when it first starts)",
            path.display()
        )?;
    } else {
        writeln!(out, "ok: {} records verified", report.records)?;
        if let (Some(seq), Some(hash)) = (report.last_seq, &report.last_hash) {
            writeln!(out, "last record: seq {seq}, hash {hash}")?;
        }
        if let Some(a) = anchor {
            writeln!(out, "anchor: seq {} found with the same hash", a.seq)?;
        }
        if let Some(t) = &report.torn {
            writeln!(
                out,
                "note: incomplete last line at {t} ignored (an interrupted write; the next append repairs it)"
            )?;
        }
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Text from the log made safe for a terminal: tool names, keys, arguments and errors come
/// from clients and upstream, so control characters (ANSI escapes, newlines) and invisible or
/// bidirectional ones (`\u{202e}` can reverse what a line appears to say) are shown escaped.
fn clean(text: &str) -> String {
    escape_invisible(text)
}

/// Argument names shown in listings, most telling first; the first one a record's `args`
/// holds is shown (what `[audit].args` kept of it: nothing under `digest`).
const ESSENTIAL_ARGS: &[&str] = &[
    "jql",
    "cql",
    "key",
    "page_id",
    "uri",
    "title",
    "summary",
    "prompt",
    "project_key",
    "space",
    "operation_id",
    "issues",
    "pages",
];

/// Longest argument value shown in a listing, in characters (`query --json` has it all).
const SHOWN_ARG_CHARS: usize = 80;

/// `name=value` for the record's essential argument, if its stored `args` hold one.
fn essential_arg(r: &AuditRecord) -> Option<String> {
    let args = r.args.as_ref()?.as_object()?;
    ESSENTIAL_ARGS.iter().find_map(|name| {
        let value = match args.get(*name)? {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Array(items) => format!("[{} items]", items.len()),
            _ => return None,
        };
        let mut shown: String = value.chars().take(SHOWN_ARG_CHARS).collect();
        if value.chars().nth(SHOWN_ARG_CHARS).is_some() {
            shown.push('…');
        }
        Some(pair(name, &shown))
    })
}

/// `name=value`, the value escaped, and quoted when it is empty or holds a space or quote.
fn pair(name: &str, value: &str) -> String {
    let value = clean(value);
    if value.is_empty() || value.contains([' ', '"']) {
        format!("{name}=\"{value}\"")
    } else {
        format!("{name}={value}")
    }
}

/// One record in the compact human form: time, seq, tool/event, outcome, duration, client,
/// the essential argument, touched keys, error.
fn human(r: &AuditRecord) -> String {
    let mut s = format!(
        "{}  #{:<6} {:<28} {:<9} {:>9}",
        clean(&r.ts),
        r.seq,
        clean(r.label()),
        r.outcome.as_str(),
        format!("{:.1}ms", r.duration_ms)
    );
    if let Some(c) = r.client.as_ref().filter(|c| !c.name.is_empty()) {
        s.push_str("  ");
        s.push_str(&pair("client", &c.name));
    }
    if let Some(arg) = essential_arg(r) {
        s.push_str("  ");
        s.push_str(&arg);
    }
    if !r.touched.is_empty() {
        const SHOWN: usize = 5;
        let mut t = r
            .touched
            .iter()
            .take(SHOWN)
            .map(|k| clean(k))
            .collect::<Vec<_>>()
            .join(",");
        if r.touched.len() > SHOWN {
            t.push_str(&format!(" +{} more", r.touched.len() - SHOWN));
        }
        s.push_str("  touched=");
        s.push_str(&t);
    }
    if let Some(e) = &r.error {
        s.push_str("  error: ");
        s.push_str(&clean(e));
    }
    s
}

fn print_record(r: &reader::StoredRecord, json: bool, out: &mut dyn Write) -> std::io::Result<()> {
    if json {
        writeln!(out, "{}", r.line)
    } else {
        writeln!(out, "{}", human(&r.record))
    }
}

/// Reports lines that are not records on stderr (verify is the command that judges them).
fn note_item(item: &LogItem) {
    match item {
        LogItem::Bad { at, reason } => eprintln!("warning: skipping {at}: {reason}"),
        LogItem::Torn { at } => eprintln!("note: incomplete last line at {at} ignored"),
        LogItem::Record(_) => {}
    }
}

fn tail(snapshot: &Snapshot, n: usize, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    // Read files newest first and stop once there are enough records.
    let mut chunks: Vec<Vec<reader::StoredRecord>> = Vec::new();
    let mut have = 0;
    for idx in (0..snapshot.file_count()).rev() {
        if have >= n {
            break;
        }
        let mut recs = Vec::new();
        for item in snapshot.items_in(idx..idx + 1) {
            match item? {
                LogItem::Record(r) => recs.push(*r),
                other => note_item(&other),
            }
        }
        have += recs.len();
        chunks.push(recs);
    }
    let all: Vec<_> = chunks.into_iter().rev().flatten().collect();
    for r in &all[all.len().saturating_sub(n)..] {
        print_record(r, json, out)?;
    }
    Ok(())
}

fn query(
    snapshot: &Snapshot,
    filter: &Filter,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut matched = 0u64;
    for item in snapshot.items() {
        match item? {
            LogItem::Record(r) if filter.matches(&r.record) => {
                matched += 1;
                print_record(&r, json, out)?;
            }
            LogItem::Record(_) => {}
            other => note_item(&other),
        }
    }
    if matched == 0 && !json {
        writeln!(out, "no matching records")?;
    }
    Ok(())
}

fn stats(snapshot: &Snapshot, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut b = StatsBuilder::default();
    for item in snapshot.items() {
        match item? {
            LogItem::Record(r) => b.add(&r.record),
            other => note_item(&other),
        }
    }
    let s = b.finish();
    if json {
        writeln!(out, "{}", serde_json::to_string(&s)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{} records, {} … {}",
        s.records,
        s.first.as_deref().unwrap_or("-"),
        s.last.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "{:<28} {:>7} {:>7} {:>7} {:>9} {:>10} {:>10}",
        "tool/event", "calls", "errors", "denied", "cancelled", "p50", "p95"
    )?;
    for (tool, t) in &s.tools {
        writeln!(
            out,
            "{:<28} {:>7} {:>7} {:>7} {:>9} {:>10} {:>10}",
            clean(tool),
            t.calls,
            t.errors,
            t.denied,
            t.cancelled,
            format!("{:.1}ms", t.p50_ms),
            format!("{:.1}ms", t.p95_ms)
        )?;
    }
    Ok(())
}

/// Identity of a file, to notice that the live file was rotated away.
#[cfg(unix)]
fn file_id(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// The file being followed: an open handle (which follows the file through a rename), how far
/// it has been printed, and any incomplete line read so far.
struct Followed {
    file: std::fs::File,
    pos: u64,
    partial: Vec<u8>,
}

impl Followed {
    /// Prints every complete line between `pos` and the current end of the file.
    fn drain(&mut self, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        self.file.seek(SeekFrom::Start(self.pos))?;
        let mut buf = Vec::new();
        let n = self.file.read_to_end(&mut buf)?;
        self.pos += n as u64;
        self.partial.extend_from_slice(&buf);
        while let Some(i) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            if text.is_empty() {
                continue;
            }
            match serde_json::from_str::<AuditRecord>(&text) {
                Ok(_) if json => writeln!(out, "{text}")?,
                Ok(r) => writeln!(out, "{}", human(&r))?,
                Err(e) => eprintln!("warning: skipping a line that is not a record: {e}"),
            }
        }
        out.flush()?;
        Ok(())
    }
}

/// `tail --follow`: polls the live file; on rotation finishes the old file (through its open
/// handle, now `<path>.1`) and continues with the new one from its start.
fn follow_log(
    path: &Path,
    snapshot: &Snapshot,
    json: bool,
    out: &mut dyn Write,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let live_in_snapshot = snapshot.newest().filter(|(p, _, _)| *p == path);
    let mut current = match live_in_snapshot {
        Some((_, file, len)) => Some(Followed {
            file: file
                .try_clone()
                .with_context(|| format!("audit log {}", path.display()))?,
            pos: len,
            partial: Vec::new(),
        }),
        None => None,
    };
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(FOLLOW_POLL);
        if let Some(f) = &mut current {
            f.drain(json, out)?;
        }
        // Has the live path changed under us (rotation), or appeared?
        let on_disk = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("audit log {}", path.display())),
        };
        let replaced = match &current {
            None => true,
            Some(f) => {
                let ours = f.file.metadata()?;
                match (file_id(&ours), file_id(&on_disk)) {
                    (Some(a), Some(b)) => a != b,
                    // Without file ids, a live file shorter than what we printed was rotated.
                    _ => on_disk.len() < f.pos,
                }
            }
        };
        if replaced {
            if let Some(f) = &mut current {
                f.drain(json, out)?;
            }
            let file = std::fs::File::open(path)
                .with_context(|| format!("audit log {}", path.display()))?;
            let mut f = Followed {
                file,
                pos: 0,
                partial: Vec::new(),
            };
            f.drain(json, out)?;
            current = Some(f);
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::audit::AuditLog;
    use crate::audit::record::{Entry, Upstream};
    use crate::config::ArgsMode;
    use clap::Parser;
    use serde_json::{Value, json};

    #[derive(Debug, clap::Parser)]
    struct TestCli {
        #[command(subcommand)]
        cmd: AuditCommand,
    }

    fn parse(args: &[&str]) -> AuditCommand {
        TestCli::try_parse_from(std::iter::once("audit").chain(args.iter().copied()))
            .unwrap()
            .cmd
    }

    fn settings(path: &Path, max_bytes: u64) -> AuditSettings {
        AuditSettings {
            path: path.to_path_buf(),
            args: ArgsMode::Redacted,
            fsync: false,
            max_bytes,
        }
    }

    fn entry(tool: &str, outcome: Outcome, ms: f64, touched: &[&str]) -> Entry {
        Entry {
            event: "tool_call".into(),
            client: Some(crate::audit::ClientInfo {
                name: "test-client".into(),
                version: "1".into(),
            }),
            actor: None,
            tool: Some(tool.into()),
            args: Some(match touched.first() {
                Some(key) => json!({"key": key, "include": ["comments"]}),
                None => json!({"q": tool}),
            }),
            outcome,
            error: (outcome != Outcome::Ok).then(|| format!("{} happened", outcome.as_str())),
            duration_ms: ms,
            upstream: vec![Upstream {
                method: "GET".into(),
                path: "/x".into(),
                status: 200,
                ms: 1.0,
            }],
            touched: touched.iter().map(|s| s.to_string()).collect(),
            result_bytes: 10,
            id: None,
            offline: false,
            origin: None,
        }
    }

    fn run_cli(s: &AuditSettings, args: &[&str]) -> (u8, String) {
        let mut out = Vec::new();
        let stop = AtomicBool::new(false);
        let code = run_to(parse(args), s, &mut out, &stop).unwrap();
        let code = if code == ExitCode::SUCCESS { 0 } else { 1 };
        (code, String::from_utf8(out).unwrap())
    }

    /// A log with 10 tool calls: 6 jira_search (one error), 3 jira_get_issue (one denied), one
    /// server_start event.
    fn sample(dir: &Path) -> AuditSettings {
        let s = settings(&dir.join("audit.jsonl"), 1 << 20);
        let log = AuditLog::open(&s).unwrap();
        let mut start = entry("x", Outcome::Ok, 0.0, &[]);
        start.event = "server_start".into();
        start.tool = None;
        start.args = None;
        log.append_blocking(start).unwrap();
        for i in 0..6 {
            let outcome = if i == 5 { Outcome::Error } else { Outcome::Ok };
            let key = format!("ABC-{i}");
            log.append_blocking(entry(
                "jira_search",
                outcome,
                10.0 * (i + 1) as f64,
                &[&key],
            ))
            .unwrap();
        }
        for i in 0..3 {
            let outcome = if i == 2 { Outcome::Denied } else { Outcome::Ok };
            log.append_blocking(entry("jira_get_issue", outcome, 5.0, &["XYZ-9"]))
                .unwrap();
        }
        s
    }

    #[test]
    fn missing_log_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(&dir.path().join("audit.jsonl"), 1 << 20);
        for cmd in [&["tail"][..], &["query", "--tool", "x"], &["stats"]] {
            let (code, out) = run_cli(&s, cmd);
            assert_eq!(code, 0);
            assert_eq!(out, format!("no audit log at {} yet\n", s.path.display()));
        }
        // Never written: said as such, and not as "ok".
        let (code, out) = run_cli(&s, &["verify"]);
        assert_eq!(code, 0);
        assert!(
            out.starts_with(&format!("no audit log at {} yet", s.path.display()))
                && out.contains("nothing to verify"),
            "{out}"
        );
        let (_, out) = run_cli(&s, &["verify", "--json"]);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (v["ok"].clone(), v["never_written"].clone()),
            (json!(true), json!(true))
        );
    }

    /// Issue 8: a log that was written and has gone away is a verification failure naming the
    /// path, not "ok, 0 records".
    #[test]
    fn a_log_that_disappeared_fails_verify() {
        let dir = tempfile::tempdir().unwrap();
        let s = sample(dir.path());
        std::fs::remove_file(&s.path).unwrap();
        let (code, out) = run_cli(&s, &["verify"]);
        assert_eq!(code, 1, "{out}");
        let shown = s.path.display().to_string();
        assert!(
            out.starts_with(&format!("{shown}: the audit log is missing")),
            "{out}"
        );
        let (code, out) = run_cli(&s, &["verify", "--json"]);
        assert_eq!(code, 1);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["failure"]["file"], json!(shown));
        assert_eq!(v["failure"]["line"], json!(0));
        assert_eq!(v["never_written"], json!(false));

        // Rotated files without the live file: the newest records are gone.
        let s = settings(&dir.path().join("rot/audit.jsonl"), 4096);
        let log = AuditLog::open(&s).unwrap();
        for i in 0..30 {
            log.append_blocking(entry(&format!("t{i}"), Outcome::Ok, 1.0, &[]))
                .unwrap();
        }
        std::fs::remove_file(&s.path).unwrap();
        let (code, out) = run_cli(&s, &["verify"]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("live file is missing"), "{out}");
    }

    /// Issue 12: success names the last record, and `--anchor` checks a noted one later.
    #[test]
    fn verify_prints_the_last_record_and_checks_anchors() {
        let dir = tempfile::tempdir().unwrap();
        let s = sample(dir.path());
        let last: AuditRecord = serde_json::from_str(
            std::fs::read_to_string(&s.path)
                .unwrap()
                .lines()
                .last()
                .unwrap(),
        )
        .unwrap();
        let (code, out) = run_cli(&s, &["verify"]);
        assert_eq!(code, 0);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "ok: 10 records verified");
        assert_eq!(lines[1], format!("last record: seq 10, hash {}", last.hash));

        let seven: AuditRecord = serde_json::from_str(
            std::fs::read_to_string(&s.path)
                .unwrap()
                .lines()
                .nth(6)
                .unwrap(),
        )
        .unwrap();
        let anchor = format!("7:{}", seven.hash);
        let (code, out) = run_cli(&s, &["verify", "--anchor", &anchor]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("anchor: seq 7 found"), "{out}");
        // A wrong hash at that seq, and an anchor past the end, both fail.
        let (code, out) = run_cli(&s, &["verify", "--anchor", &format!("7:{}", last.hash)]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(&format!("{}:7:", s.path.display())), "{out}");
        let (code, out) = run_cli(&s, &["verify", "--anchor", &format!("11:{}", last.hash)]);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("ends at seq 10") && out.contains("cut off"),
            "{out}"
        );
        // Cutting off the last three records is caught by the anchor of the last one.
        let text = std::fs::read_to_string(&s.path).unwrap();
        let kept: Vec<&str> = text.lines().take(7).collect();
        std::fs::write(&s.path, kept.join("\n") + "\n").unwrap();
        assert_eq!(run_cli(&s, &["verify"]).0, 0);
        let (code, out) = run_cli(&s, &["verify", "--anchor", &format!("10:{}", last.hash)]);
        assert_eq!(code, 1, "{out}");
        assert!(TestCli::try_parse_from(["audit", "verify", "--anchor", "7"]).is_err());
        assert!(TestCli::try_parse_from(["audit", "verify", "--anchor", "x:abc"]).is_err());
    }

    #[test]
    fn verify_output_and_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let s = sample(dir.path());
        let (code, out) = run_cli(&s, &["verify"]);
        assert_eq!(
            (code, out.lines().next()),
            (0, Some("ok: 10 records verified"))
        );
        let (code, out) = run_cli(&s, &["verify", "--json"]);
        assert_eq!(code, 0);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (v["ok"].clone(), v["records"].clone()),
            (json!(true), json!(10))
        );
        assert_eq!(v["last_seq"], json!(10));

        let text = std::fs::read_to_string(&s.path).unwrap();
        std::fs::write(&s.path, text.replacen("ABC-3", "ABC-4", 1)).unwrap();
        let (code, out) = run_cli(&s, &["verify"]);
        assert_eq!(code, 1);
        let first = out.lines().next().unwrap();
        assert_eq!(
            first,
            format!(
                "{}:5: hash mismatch: the record was modified",
                s.path.display()
            )
        );
        let (code, out) = run_cli(&s, &["verify", "--json"]);
        assert_eq!(code, 1);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["ok"], json!(false));
        assert_eq!(v["failure"]["line"], json!(5));
        assert_eq!(v["failure"]["file"], json!(s.path.display().to_string()));
        assert_eq!(v["records"], json!(4));
    }

    #[test]
    fn tail_shows_the_last_records() {
        let dir = tempfile::tempdir().unwrap();
        let s = sample(dir.path());
        let (_, out) = run_cli(&s, &["tail", "-n", "3"]);
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(
            lines[0].contains("#8 ") && lines[0].contains("jira_get_issue"),
            "{out}"
        );
        assert!(lines[2].contains("denied") && lines[2].contains("error: denied happened"));
        assert!(lines[2].contains("5.0ms") && lines[2].contains("XYZ-9"));
        // The client and the call's essential argument (what the record's args hold).
        assert!(
            lines[2].contains("client=test-client") && lines[2].contains("key=XYZ-9"),
            "{out}"
        );
        let (_, out) = run_cli(&s, &["tail", "--json"]);
        let stored: Vec<_> = std::fs::read_to_string(&s.path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(out.lines().collect::<Vec<_>>(), stored);
    }

    #[test]
    fn human_output_escapes_control_characters() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(&dir.path().join("audit.jsonl"), 1 << 20);
        let log = AuditLog::open(&s).unwrap();
        let mut e = entry("evil\u{1b}[2J", Outcome::Error, 1.0, &["K-1\r"]);
        e.error = Some("line1\nline2\u{7}".into());
        log.append_blocking(e).unwrap();
        let (_, out) = run_cli(&s, &["tail"]);
        assert_eq!(out.lines().count(), 1, "{out:?}");
        assert!(!out.trim_end().chars().any(char::is_control), "{out:?}");
        assert!(
            out.contains("evil\\u{1b}[2J") && out.contains("line1\\nline2"),
            "{out}"
        );
    }

    /// Issue 10: bidirectional and invisible characters from the log are shown escaped in
    /// text output, while `--json` stays the exact stored line.
    #[test]
    fn human_output_escapes_bidi_and_invisible_characters() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(&dir.path().join("audit.jsonl"), 1 << 20);
        let log = AuditLog::open(&s).unwrap();
        let mut e = entry("jira_search", Outcome::Error, 1.0, &["ENG-1"]);
        e.args = Some(json!({"jql": "project = ENG\u{202e}DROP\u{2066}"}));
        e.error = Some("bad\u{200b}jql\u{e0041}".into());
        e.client = Some(crate::audit::ClientInfo {
            name: "Visual\u{202d} Studio".into(),
            version: "1".into(),
        });
        log.append_blocking(e).unwrap();
        for cmd in [&["tail"][..], &["query"]] {
            let (_, out) = run_cli(&s, cmd);
            let hidden = |c: char| c.is_control() && c != '\n' || crate::sanitize::is_invisible(c);
            assert!(!out.chars().any(hidden), "{cmd:?}: {out:?}");
            for shown in [
                "jql=\"project = ENG\\u{202e}DROP\\u{2066}\"",
                "error: bad\\u{200b}jql\\u{e0041}",
                "client=\"Visual\\u{202d} Studio\"",
            ] {
                assert!(out.contains(shown), "{cmd:?}: {shown} not in {out}");
            }
        }
        let (_, out) = run_cli(&s, &["query", "--json"]);
        assert_eq!(out, std::fs::read_to_string(&s.path).unwrap());
        assert!(out.contains('\u{202e}'));
    }

    #[test]
    fn listings_show_what_the_args_mode_kept() {
        let dir = tempfile::tempdir().unwrap();
        let long = "x = 1 AND ".repeat(40);
        for mode in [ArgsMode::Full, ArgsMode::Redacted, ArgsMode::Digest] {
            let mut s = settings(
                &dir.path().join(format!("{}.jsonl", mode.as_str())),
                1 << 20,
            );
            s.args = mode;
            let log = AuditLog::open(&s).unwrap();
            let mut e = entry("jira_search", Outcome::Ok, 1.0, &[]);
            e.args = Some(json!({"max_results": 5, "jql": long}));
            log.append_blocking(e).unwrap();
            let (_, out) = run_cli(&s, &["tail"]);
            match mode {
                // The first 80 characters of the stored value.
                ArgsMode::Full => assert!(
                    out.contains(&format!("jql=\"{}…\"", "x = 1 AND ".repeat(8))),
                    "{out}"
                ),
                // The stored value is already cut (64 characters and the marker).
                ArgsMode::Redacted => assert!(
                    out.contains(&format!("jql=\"{}… [sha256:", &long[..64])),
                    "{out}"
                ),
                ArgsMode::Digest => assert!(!out.contains("jql="), "{out}"),
            }
        }
    }

    /// Issue 11: usage errors are `CliError::Usage` (exit 2) and name the accepted formats.
    #[test]
    fn usage_errors_exit_2_and_name_the_formats() {
        let dir = tempfile::tempdir().unwrap();
        let s = sample(dir.path());
        let stop = AtomicBool::new(false);
        for (args, flag) in [
            (&["query", "--since", "garbage"][..], "--since"),
            (&["query", "--until", "5x"], "--until"),
            (&["query", "--since", "2026-13-45"], "--since"),
            (&["query", "--since", "99999999999999999w"], "--since"),
            (&["query", "--since", "1h", "--until", "2h"], "--since"),
        ] {
            let err = run_to(parse(args), &s, &mut Vec::new(), &stop).unwrap_err();
            assert!(matches!(err, CliError::Usage(_)), "{args:?}: {err:?}");
            assert_eq!(err.exit_code(), ExitCode::from(2));
            let text = err.to_string();
            assert!(text.contains(flag), "{text}");
            if !args.contains(&"2h") {
                assert!(
                    text.contains("RFC 3339") && text.contains("2026-11-21") && text.contains("7d"),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn tail_reads_back_through_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(&dir.path().join("audit.jsonl"), 4096);
        let log = AuditLog::open(&s).unwrap();
        for i in 0..40 {
            log.append_blocking(entry(&format!("t{i}"), Outcome::Ok, 1.0, &[]))
                .unwrap();
        }
        assert!(crate::audit::reader::log_files(&s.path).len() > 2);
        let (_, out) = run_cli(&s, &["tail", "-n", "25", "--json"]);
        let seqs: Vec<u64> = out
            .lines()
            .map(|l| serde_json::from_str::<AuditRecord>(l).unwrap().seq)
            .collect();
        assert_eq!(seqs, (16..=40).collect::<Vec<_>>());
    }

    #[test]
    fn query_filters_combine() {
        let dir = tempfile::tempdir().unwrap();
        let s = sample(dir.path());
        let count = |args: &[&str]| {
            let mut a = vec!["query", "--json"];
            a.extend_from_slice(args);
            run_cli(&s, &a).1.lines().count()
        };
        assert_eq!(count(&[]), 10);
        assert_eq!(count(&["--tool", "jira_search"]), 6);
        assert_eq!(count(&["--tool", "server_start"]), 1);
        assert_eq!(count(&["--tool", "jira_search", "--outcome", "error"]), 1);
        assert_eq!(count(&["--outcome", "denied"]), 1);
        assert_eq!(count(&["--touched", "xyz-9"]), 3);
        assert_eq!(count(&["--touched", "XYZ-9", "--outcome", "ok"]), 2);
        assert_eq!(count(&["--since", "1h"]), 10);
        assert_eq!(count(&["--until", "1h"]), 0);
        assert_eq!(
            count(&["--since", "2000-01-01", "--until", "2999-01-01T00:00:00Z"]),
            10
        );
        let today = time::OffsetDateTime::now_utc().date().to_string();
        assert_eq!(count(&["--since", &today, "--until", &today]), 10);
        assert_eq!(count(&["--since", "2999-01-01"]), 0);
        // --json prints the stored lines exactly.
        let (_, out) = run_cli(&s, &["query", "--json", "--outcome", "error"]);
        let stored = std::fs::read_to_string(&s.path).unwrap();
        assert!(stored.contains(&out), "{out}");
        let (_, out) = run_cli(&s, &["query", "--tool", "nope"]);
        assert_eq!(out, "no matching records\n");
        // Bad time values are usage errors with a hint.
        let stop = AtomicBool::new(false);
        let err = run_to(
            parse(&["query", "--since", "yesterday"]),
            &s,
            &mut Vec::new(),
            &stop,
        )
        .unwrap_err();
        assert!(matches!(err, CliError::Usage(_)), "{err:?}");
        assert!(
            err.to_string().contains("--since") && err.to_string().contains("7d"),
            "{err}"
        );
        assert!(TestCli::try_parse_from(["audit", "query", "--outcome", "weird"]).is_err());
    }

    #[test]
    fn stats_per_tool() {
        let dir = tempfile::tempdir().unwrap();
        let s = sample(dir.path());
        let (_, out) = run_cli(&s, &["stats", "--json"]);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["records"], json!(10));
        let search = &v["tools"]["jira_search"];
        assert_eq!(search["calls"], json!(6));
        assert_eq!(search["errors"], json!(1));
        assert_eq!(search["p50_ms"], json!(30.0));
        assert_eq!(search["p95_ms"], json!(60.0));
        assert_eq!(v["tools"]["jira_get_issue"]["denied"], json!(1));
        assert_eq!(v["tools"]["server_start"]["calls"], json!(1));
        assert!(v["first"].as_str().unwrap() <= v["last"].as_str().unwrap());
        let (_, out) = run_cli(&s, &["stats"]);
        assert!(out.starts_with("10 records, "), "{out}");
        let row = out.lines().find(|l| l.starts_with("jira_search")).unwrap();
        let cols: Vec<_> = row.split_whitespace().collect();
        assert_eq!(
            cols,
            ["jira_search", "6", "1", "0", "0", "30.0ms", "60.0ms"]
        );
    }

    #[test]
    fn follow_prints_new_records_across_rotation() {
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        let dir = tempfile::tempdir().unwrap();
        let s = settings(&dir.path().join("audit.jsonl"), 4096);
        let log = AuditLog::open(&s).unwrap();
        for _ in 0..3 {
            log.append_blocking(entry("before", Outcome::Ok, 1.0, &[]))
                .unwrap();
        }
        let buf = Shared::default();
        let stop = Arc::new(AtomicBool::new(false));
        let follower = {
            let (s, mut buf, stop) = (s.clone(), buf.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                run_to(
                    parse(&["tail", "-n", "2", "-f", "--json"]),
                    &s,
                    &mut buf,
                    &stop,
                )
                .unwrap()
            })
        };
        // Wait for the initial `tail -n 2` output, so the snapshot predates the new records.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while buf
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            < 2
        {
            assert!(
                std::time::Instant::now() < deadline,
                "follow printed nothing"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Enough records to rotate several times, written in bursts between polls.
        for burst in 0..6 {
            for _ in 0..5 {
                log.append_blocking(entry(&format!("after{burst}"), Outcome::Ok, 1.0, &[]))
                    .unwrap();
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let seqs = loop {
            let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
            let seqs: Vec<u64> = text
                .lines()
                .map(|l| serde_json::from_str::<AuditRecord>(l).unwrap().seq)
                .collect();
            if seqs.len() >= 32 || std::time::Instant::now() > deadline {
                break seqs;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        stop.store(true, Ordering::Relaxed);
        follower.join().unwrap();
        assert!(crate::audit::reader::log_files(&s.path).len() > 2);
        assert_eq!(seqs, (2..=33).collect::<Vec<_>>());
    }
}
