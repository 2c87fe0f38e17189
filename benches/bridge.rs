//! SPEC §8 measurements against the built-in sandbox: cold start, tools/list size, per-call
//! overhead, text size of a 20-issue search, memory after 1,000 calls, and 500 issues through
//! `jira_bulk_create_issues` at 50 ms per request beside a naive one-request-per-issue loop.
//!
//! Run: `cargo bench --bench bridge` (release build; prints a Markdown table).
//! The bridge under test is the real binary over stdio; the sandbox runs in this process.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
use common::{Bridge, cold_starts, last_record, pct, ready_times, sandbox_config, sorted};

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sb = rt
        .block_on(atlassian_mcp_bridge::sandbox::start(Default::default()))
        .expect("sandbox");
    let home = tempfile::tempdir().expect("home");
    // fsync off so the per-call figure is the bridge's own work (SPEC §8 excludes fsync).
    std::fs::write(
        home.path().join("config.toml"),
        sandbox_config(
            &sb,
            "[audit]\nfsync = false\n[policy]\nmax_bulk_items = 500\n",
        ),
    )
    .expect("config");

    // Cold start: spawn → initialize answered.
    let starts = cold_starts(home.path(), 30);
    // The same with the default configuration (`audit.fsync = true`, cache on): what a person's
    // desktop sees.
    let home_default = tempfile::tempdir().expect("home");
    std::fs::write(
        home_default.path().join("config.toml"),
        sandbox_config(&sb, ""),
    )
    .expect("config");
    let starts_default = cold_starts(home_default.path(), 30);
    // Until the client can call tools: `initialize` and then `tools/list` answered.
    let ready_default = ready_times(home_default.path(), 30);

    let (mut b, _) = Bridge::spawn(home.path());
    b.initialize();
    // Once start-up has settled (the account lookup after `initialize`).
    std::thread::sleep(Duration::from_millis(300));
    let rss_started = b.rss_kb();
    let list = b.request("tools/list", json!({}));
    let list_bytes = serde_json::to_vec(&list["result"]).expect("json").len();
    let tool_count = list["result"]["tools"].as_array().map_or(0, Vec::len);

    // Text the model reads for a 20-issue search.
    let r = b.call(
        "jira_search",
        json!({"jql": "project = ENG ORDER BY key", "max_results": 20}),
    );
    let text20 = r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .len();
    let structured20 = serde_json::to_vec(&r["result"]["structuredContent"]).map_or(0, |v| v.len());

    // The sandbox's largest project two ways: one jira_summarize_search answer, and every issue
    // through jira_search pages of 100 (what an agent without the summary would pull in).
    let answer_bytes = |r: &Value| {
        serde_json::to_vec(&r["result"]["content"]).map_or(0, |v| v.len())
            + serde_json::to_vec(&r["result"]["structuredContent"]).map_or(0, |v| v.len())
    };
    let jql = "project = ENG";
    let summary = b.call("jira_summarize_search", json!({"jql": jql}));
    let summary_counted = summary["result"]["structuredContent"]["counted"]
        .as_u64()
        .unwrap_or(0);
    let summary_bytes = answer_bytes(&summary);
    let (mut pages, mut page_bytes, mut page_issues) = (0, 0, 0);
    let mut token: Option<String> = None;
    loop {
        let mut args = json!({"jql": jql, "max_results": 100});
        if let Some(t) = &token {
            args["next_page_token"] = json!(t);
        }
        let r = b.call("jira_search", args);
        pages += 1;
        page_bytes += answer_bytes(&r);
        page_issues += r["result"]["structuredContent"]["issues"]
            .as_array()
            .map_or(0, Vec::len);
        token = r["result"]["structuredContent"]["next_page_token"]
            .as_str()
            .map(String::from);
        if token.is_none() || pages > 100 {
            break;
        }
    }

    // Per-call overhead for a 50-issue page: duration minus upstream time, from the audit record,
    // and client-observed round trip minus upstream time (adds stdio + JSON framing + audit write).
    let mut inside = Vec::new();
    let mut round_trip = Vec::new();
    for _ in 0..200 {
        let t0 = Instant::now();
        let r = b.call(
            "jira_search",
            json!({"jql": "project = ENG ORDER BY key", "max_results": 50}),
        );
        let rtt = t0.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(
            r["result"]["structuredContent"]["issues"]
                .as_array()
                .map_or(0, Vec::len),
            50
        );
        let rec = last_record(home.path());
        let upstream: f64 = rec["upstream"]
            .as_array()
            .map(|u| u.iter().filter_map(|x| x["ms"].as_f64()).sum())
            .unwrap_or(0.0);
        inside.push(rec["duration_ms"].as_f64().unwrap_or(0.0) - upstream);
        round_trip.push(rtt - upstream);
    }
    let inside = sorted(inside);
    let round_trip = sorted(round_trip);
    // What the site sent for that page: the fields the tool asks for, Jira's full shapes.
    let site_page_bytes = rt.block_on(search_page_bytes(&sb, "project = ENG ORDER BY key", 50));

    // Memory after 1,000 calls of mixed kinds.
    let rss_before = b.rss_kb();
    for i in 0..1000 {
        match i % 4 {
            0 => b.call(
                "jira_search",
                json!({"jql": "project = ENG", "max_results": 20}),
            ),
            1 => b.call(
                "jira_get_issue",
                json!({"key": format!("ENG-{}", i % 50 + 1)}),
            ),
            2 => b.call(
                "confluence_search",
                json!({"cql": "type = page", "limit": 10}),
            ),
            _ => b.call("jira_list_projects", json!({})),
        };
    }
    let rss_after = b.rss_kb();

    // Bulk create: 500 issues in one call, the sandbox answering every request after 50 ms.
    sb.faults().set_latency(Duration::from_millis(50));
    let items: Vec<Value> = (0..500)
        .map(|n| {
            json!({"project": "OPS", "issue_type": "Task", "summary": format!("Bench item {n}"),
                        "description": format!("From the **bench**, item {n}")})
        })
        .collect();
    sb.clear_requests();
    let t0 = Instant::now();
    let r = b.call("jira_bulk_create_issues", json!({"issues": items}));
    let bulk_wall = t0.elapsed().as_secs_f64();
    let bulk_created = r["result"]["structuredContent"]["created"]
        .as_u64()
        .unwrap_or(0);
    let bulk_requests = sb.requests().len();
    b.close();

    // The naive way: one POST /rest/api/3/issue per issue, one after another.
    sb.clear_requests();
    let naive_wall = rt.block_on(naive_loop(&sb, 500));
    let naive_requests = sb.requests().len();
    sb.faults().set_latency(Duration::ZERO);

    // OAuth refresh: lock the store, re-read it, POST the refresh, persist the rotated token.
    let refresh_ms = oauth_refresh_times(&rt, &sb);

    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| cold start, spawn → initialize answered (30 runs) | median {:.1} ms, p95 {:.1} ms |",
        pct(&starts, 0.5),
        pct(&starts, 0.95)
    );
    println!(
        "| cold start, default config (audit fsync on, cache on) (30 runs) | median {:.1} ms, p95 {:.1} ms |",
        pct(&starts_default, 0.5),
        pct(&starts_default, 0.95)
    );
    println!(
        "| the same until `tools/list` is answered too (30 runs) | median {:.1} ms, p95 {:.1} ms |",
        pct(&ready_default, 0.5),
        pct(&ready_default, 0.95)
    );
    println!("| tools/list payload ({tool_count} tools) | {list_bytes} bytes |");
    println!(
        "| bridge time per 50-issue jira_search of {site_page_bytes} bytes from the site, excluding upstream (200 calls) | median {:.3} ms, p95 {:.3} ms |",
        pct(&inside, 0.5),
        pct(&inside, 0.95)
    );
    println!(
        "| client round trip minus upstream, incl. stdio + audit append without fsync | median {:.3} ms, p95 {:.3} ms |",
        pct(&round_trip, 0.5),
        pct(&round_trip, 0.95)
    );
    println!(
        "| text the model reads, 20-issue jira_search | {text20} bytes (structuredContent {structured20} bytes) |"
    );
    println!(
        "| ENG ({summary_counted} issues): jira_summarize_search answer vs the same issues through jira_search (pages of 100) | {summary_bytes} bytes vs {page_bytes} bytes ({page_issues} issues, {pages} page(s)) |"
    );
    println!(
        "| RSS right after initialize / after the calls above (~230) / after 1,000 more calls | {:.1} MB / {:.1} MB / {:.1} MB |",
        rss_started as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
    println!(
        "| OAuth token refresh, sandbox, fsync'd store write (50 refreshes) | median {:.2} ms, p95 {:.2} ms |",
        pct(&refresh_ms, 0.5),
        pct(&refresh_ms, 0.95)
    );
    println!(
        "| bulk create 500 issues, sandbox at 50 ms/request, one jira_bulk_create_issues call | {bulk_wall:.2} s wall, {bulk_requests} requests, {bulk_created} created |"
    );
    println!(
        "| naive loop: one POST per issue, sequential, same latency | {naive_wall:.2} s wall, {naive_requests} requests |"
    );
    rt.block_on(sb.shutdown());
}

/// Bytes of the search page the sandbox sends for `jql`, asked for as `jira_search` asks.
async fn search_page_bytes(
    sb: &atlassian_mcp_bridge::sandbox::Sandbox,
    jql: &str,
    max: u32,
) -> usize {
    let url = format!(
        "{}/rest/api/3/search/jql",
        sb.base_url().trim_end_matches('/')
    );
    let fields = atlassian_mcp_bridge::atlassian::jira::SEARCH_FIELDS.join(",");
    let r = reqwest::Client::new()
        .get(&url)
        .query(&[
            ("jql", jql),
            ("maxResults", &max.to_string()),
            ("fields", &fields),
        ])
        .basic_auth(
            atlassian_mcp_bridge::sandbox::SANDBOX_EMAIL,
            Some(atlassian_mcp_bridge::sandbox::SANDBOX_API_TOKEN),
        )
        .send()
        .await
        .expect("search page");
    r.bytes().await.expect("body").len()
}

/// 500 sequential single creates straight at the sandbox: what a client without bulk does.
async fn naive_loop(sb: &atlassian_mcp_bridge::sandbox::Sandbox, n: usize) -> f64 {
    let http = reqwest::Client::new();
    let url = format!("{}/rest/api/3/issue", sb.base_url().trim_end_matches('/'));
    let t0 = Instant::now();
    for i in 0..n {
        let body = json!({"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Task"},
                                     "summary": format!("Naive item {i}")}});
        let r = http
            .post(&url)
            .basic_auth(
                atlassian_mcp_bridge::sandbox::SANDBOX_EMAIL,
                Some(atlassian_mcp_bridge::sandbox::SANDBOX_API_TOKEN),
            )
            .json(&body)
            .send()
            .await
            .expect("naive create");
        assert_eq!(r.status().as_u16(), 201, "naive create");
    }
    t0.elapsed().as_secs_f64()
}

fn oauth_refresh_times(
    rt: &tokio::runtime::Runtime,
    sb: &atlassian_mcp_bridge::sandbox::Sandbox,
) -> Vec<f64> {
    use atlassian_mcp_bridge::auth::store::{Account, CredentialStore, Credentials};
    use atlassian_mcp_bridge::auth::tokens::TokenManager;
    use atlassian_mcp_bridge::secret::Secret;
    let home = tempfile::tempdir().expect("home");
    let store = CredentialStore::in_dir(home.path());
    let minted = sb.oauth().mint("read:jira-work offline_access");
    let now = time::OffsetDateTime::now_utc();
    store
        .save(&Credentials {
            client_id: atlassian_mcp_bridge::sandbox::SANDBOX_OAUTH_CLIENT_ID.to_string(),
            access_token: Secret::new(minted.access_token),
            refresh_token: minted.refresh_token.map(Secret::new),
            expires_at: now + time::Duration::hours(1),
            obtained_at: now,
            scopes: vec!["read:jira-work".into()],
            cloud_id: atlassian_mcp_bridge::sandbox::SANDBOX_CLOUD_ID.to_string(),
            site_url: sb.base_url(),
            site_name: None,
            account: Account::default(),
        })
        .expect("save");
    let base = sb.base_url();
    let config = format!(
        "[site]\nurl = \"{base}\"\ndeployment = \"cloud\"\nauth = \"oauth\"\n[oauth]\nclient_id = \"{}\"\nclient_secret = \"{}\"\ntoken_url = \"{base}/oauth/token\"\n",
        atlassian_mcp_bridge::sandbox::SANDBOX_OAUTH_CLIENT_ID,
        atlassian_mcp_bridge::sandbox::SANDBOX_OAUTH_CLIENT_SECRET
    );
    let raw = atlassian_mcp_bridge::config::parse(&config, "bench.toml").expect("config");
    let settings = atlassian_mcp_bridge::config::Settings::resolve(
        raw,
        "bench.toml",
        None,
        home.path(),
        &|_| None,
    )
    .expect("settings");
    let tokens = TokenManager::new(settings.oauth.expect("oauth"), store, None).expect("tokens");
    let mut times = Vec::new();
    for _ in 0..50 {
        let current = tokens.credentials().expect("creds").access_token;
        let t0 = Instant::now();
        // Passing the current token as "rejected by the server" forces a refresh.
        rt.block_on(tokens.bearer(Some(&current))).expect("refresh");
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    sorted(times)
}
