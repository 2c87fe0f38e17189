//! Audit durability under load: records per second with `fsync = true` for 1, 4 and 16
//! concurrent callers in one process (threads, as tool calls finishing together do), and for 4
//! processes appending to one log (several bridges, or a bridge and `sync`).
//!
//! Run: `cargo bench --bench audit` (release build; prints a Markdown table). Every run ends
//! with `audit verify` over the log it wrote, so a faster but broken chain cannot pass.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use atlassian_mcp_bridge::audit::{AuditLog, Entry, Outcome, Upstream};
use atlassian_mcp_bridge::config::{ArgsMode, AuditSettings};
use serde_json::json;

/// How long each configuration appends for.
const RUN_FOR: Duration = Duration::from_secs(3);

fn settings(path: &Path) -> AuditSettings {
    AuditSettings {
        path: path.to_path_buf(),
        args: ArgsMode::Full,
        fsync: true,
        max_bytes: 1 << 30,
    }
}

/// A record the size of a `jira_search` call's.
fn entry(i: usize) -> Entry {
    Entry {
        tool: Some("jira_search".into()),
        args: Some(
            json!({"jql": format!("project = ENG AND text ~ \"bench {i}\""), "max_results": 50}),
        ),
        outcome: Outcome::Ok,
        duration_ms: 12.5,
        upstream: vec![Upstream {
            method: "GET".into(),
            path: "/rest/api/3/search/jql".into(),
            status: 200,
            ms: 11.0,
        }],
        touched: (1..=50).map(|n| format!("ENG-{n}")).collect(),
        result_bytes: 21_000,
        ..Entry::event("tool_call")
    }
}

/// `threads` callers appending as fast as they can for [`RUN_FOR`]: (records, seconds,
/// per-append latencies in ms).
fn run_threads(path: &Path, threads: usize) -> (usize, f64, Vec<f64>) {
    let log = AuditLog::open(&settings(path)).expect("open");
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let log = log.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                let began = Instant::now();
                let mut times = Vec::new();
                let mut i = t * 1_000_000;
                while began.elapsed() < RUN_FOR {
                    let t0 = Instant::now();
                    log.append_blocking(entry(i)).expect("append");
                    times.push(t0.elapsed().as_secs_f64() * 1000.0);
                    i += 1;
                }
                (times, began.elapsed().as_secs_f64())
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut secs: f64 = 0.0;
    for h in handles {
        let (times, s) = h.join().expect("thread");
        all.extend(times);
        secs = secs.max(s);
    }
    (all.len(), secs, all)
}

/// `n` child processes (this bench binary again), one caller each.
fn run_processes(path: &Path, n: usize) -> (usize, f64) {
    let exe = std::env::current_exe().expect("exe");
    let began = Instant::now();
    let children: Vec<_> = (0..n)
        .map(|_| {
            Command::new(&exe)
                .env("AUDIT_BENCH_CHILD", path)
                .spawn()
                .expect("spawn child")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success(), "child failed");
    }
    let secs = began.elapsed().as_secs_f64();
    (count_lines(path), secs)
}

fn count_lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

fn verify(path: &Path, records: usize) {
    let report = atlassian_mcp_bridge::audit::verify::verify(path).expect("verify");
    assert!(report.ok, "chain broken: {:?}", report.failure);
    assert_eq!(report.records, records as u64, "records on disk");
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    if let Some(path) = std::env::var_os("AUDIT_BENCH_CHILD") {
        run_threads(&PathBuf::from(path), 1);
        return;
    }
    // The system's temporary directory: on the project's machines the same ext4 disk as home.
    let dir = tempfile::tempdir().expect("dir");
    println!("| callers (fsync = true) | records/s | append latency p50 / p95 |");
    println!("|---|---|---|");
    for threads in [1, 4, 16] {
        let path = dir.path().join(format!("threads-{threads}.jsonl"));
        let (n, secs, mut times) = run_threads(&path, threads);
        verify(&path, n);
        times.sort_by(f64::total_cmp);
        println!(
            "| {threads} thread{} in one process | {:.0} | {:.2} ms / {:.2} ms |",
            if threads == 1 { "" } else { "s" },
            n as f64 / secs,
            pct(&times, 0.5),
            pct(&times, 0.95)
        );
    }
    let path = dir.path().join("processes-4.jsonl");
    let (n, secs) = run_processes(&path, 4);
    verify(&path, n);
    println!(
        "| 4 processes, one caller each | {:.0} | — |",
        n as f64 / secs
    );
}
