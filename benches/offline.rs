//! SPEC §8 offline measurements against the built-in sandbox, in one run: `sync` of 5,000
//! issues at 50 ms per request and its no-change repeat, `atlassian_local_search` over 10,000
//! cached issues + 2,000 pages, an offline read's bridge time (site set to "always offline", and
//! site refusing connections), RSS and `cache.db` size after the sync.
//!
//! Run: `cargo bench --bench offline` (release build; prints a Markdown table).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Bridge, bin, last_record, pct, sorted};
use serde_json::json;

const WORDS: [&str; 12] = [
    "login",
    "timeout",
    "release",
    "dashboard",
    "payment",
    "migration",
    "cache",
    "retry",
    "export",
    "search index",
    "onboarding",
    "\"error budget\"",
];

fn sync(home: &std::path::Path, args: &[&str]) -> (f64, String) {
    let t0 = Instant::now();
    let out = Command::new(bin())
        .arg("sync")
        .args(args)
        .env("ATLASSIAN_MCP_BRIDGE_HOME", home)
        .output()
        .expect("run sync");
    let wall = t0.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "sync {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        wall,
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sb = rt
        .block_on(atlassian_mcp_bridge::sandbox::start(Default::default()))
        .expect("sandbox");
    // 5,000 issues for the timed sync, 10,000 + 2,000 pages in all for local search.
    sb.generate("OPS", 5_000 - sb.issue_count("OPS"), "ENG", 2_000);
    sb.generate("ENG", 5_000 - sb.issue_count("ENG"), "ENG", 0);
    let home = tempfile::tempdir().expect("home");
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "[site]\nurl = \"{}\"\ndeployment = \"cloud\"\nemail = \"{}\"\napi_token = \"{}\"\n[audit]\nfsync = false\n",
            sb.base_url(),
            atlassian_mcp_bridge::sandbox::SANDBOX_EMAIL,
            atlassian_mcp_bridge::sandbox::SANDBOX_API_TOKEN
        ),
    )
    .expect("config");

    // sync: 5,000 issues with every request answered after 50 ms, then again with no change.
    sb.faults().set_latency(Duration::from_millis(50));
    sb.clear_requests();
    let (first, first_line) = sync(home.path(), &["--jira", "OPS"]);
    let first_requests = sb.requests().len();
    sb.clear_requests();
    let (repeat, repeat_line) = sync(home.path(), &["--jira", "OPS"]);
    let repeat_requests = sb.requests().len();
    sb.faults().set_latency(Duration::ZERO);
    let (rest, rest_line) = sync(home.path(), &["--jira", "ENG", "--confluence", "ENG"]);
    let db = home.path().join("cache.db");
    let db_bytes = std::fs::metadata(&db).map_or(0, |m| m.len())
        + std::fs::metadata(home.path().join("cache.db-wal")).map_or(0, |m| m.len());

    // Local search and offline reads, never contacting the site.
    let (mut b, _) = Bridge::spawn_with(home.path(), &[("ATLASSIAN_MCP_BRIDGE_OFFLINE", "always")]);
    b.initialize();
    let mut search_ms = Vec::new();
    let mut search_rtt = Vec::new();
    let mut hits = 0;
    for i in 0..300 {
        let t0 = Instant::now();
        let r = b.call(
            "atlassian_local_search",
            json!({"query": WORDS[i % WORDS.len()], "limit": 10}),
        );
        search_rtt.push(t0.elapsed().as_secs_f64() * 1000.0);
        hits += r["result"]["structuredContent"]["results"]
            .as_array()
            .map_or(0, Vec::len);
        search_ms.push(
            last_record(home.path())["duration_ms"]
                .as_f64()
                .unwrap_or(0.0),
        );
    }
    let mut read_always = Vec::new();
    for i in 0..300 {
        let r = b.call(
            "jira_get_issue",
            json!({"key": format!("OPS-{}", i * 13 % 4_900 + 1)}),
        );
        assert_eq!(r["result"]["structuredContent"]["offline"], true, "{r}");
        read_always.push(
            last_record(home.path())["duration_ms"]
                .as_f64()
                .unwrap_or(0.0),
        );
    }
    let rss = b.rss_kb();
    b.close();

    // Offline because the site refuses connections (`offline = "auto"`): the refused connect
    // is part of the bridge time.
    sb.set_reachable(false);
    let (mut b, _) = Bridge::spawn(home.path());
    b.initialize();
    let mut read_refused = Vec::new();
    for i in 0..300 {
        let r = b.call(
            "jira_get_issue",
            json!({"key": format!("OPS-{}", i * 17 % 4_900 + 1)}),
        );
        assert_eq!(r["result"]["structuredContent"]["offline"], true, "{r}");
        read_refused.push(
            last_record(home.path())["duration_ms"]
                .as_f64()
                .unwrap_or(0.0),
        );
    }
    b.close();
    sb.set_reachable(true);

    let (search_ms, search_rtt) = (sorted(search_ms), sorted(search_rtt));
    let (read_always, read_refused) = (sorted(read_always), sorted(read_refused));
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| sync of 5,000 issues, sandbox at 50 ms/request | {first:.2} s wall, {first_requests} requests — `{first_line}` |"
    );
    println!(
        "| the same sync again, nothing changed | {repeat:.2} s wall, {repeat_requests} requests — `{repeat_line}` |"
    );
    println!(
        "| sync of the rest (5,000 issues + 2,000 pages), no latency | {rest:.2} s wall — `{rest_line}` |"
    );
    println!(
        "| cache.db after syncing 10,000 issues + 2,000 pages | {:.1} MB |",
        db_bytes as f64 / 1_000_000.0
    );
    println!(
        "| atlassian_local_search over 10,000 issues + 2,000 pages (300 queries, {hits} hits) | bridge time median {:.2} ms, p95 {:.2} ms; client round trip median {:.2} ms |",
        pct(&search_ms, 0.5),
        pct(&search_ms, 0.95),
        pct(&search_rtt, 0.5)
    );
    println!(
        "| offline read, jira_get_issue, offline = always (300 calls) | bridge time median {:.2} ms, p95 {:.2} ms |",
        pct(&read_always, 0.5),
        pct(&read_always, 0.95)
    );
    println!(
        "| offline read, site refusing connections, offline = auto (300 calls) | bridge time median {:.2} ms, p95 {:.2} ms |",
        pct(&read_refused, 0.5),
        pct(&read_refused, 0.95)
    );
    println!(
        "| RSS of serve after 600 offline calls over the 12,000-item cache | {:.1} MB |",
        rss as f64 / 1024.0
    );
    rt.block_on(sb.shutdown());
}
