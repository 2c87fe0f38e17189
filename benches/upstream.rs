//! SPEC §11 measurements against the sandbox's imitation of Atlassian's hosted MCP server: the
//! bridge's added latency per proxied call (audit `duration_ms` minus the upstream call's own
//! `ms`), the round trip a client sees, and the cold start (spawn → `initialize` answered) with
//! `[upstream]` configured, which must not wait for the upstream.
//!
//! Run: `cargo bench --bench upstream` (release build; prints a Markdown table).

mod common;

use std::time::Instant;

use atlassian_mcp_bridge::auth::store::{
    CredentialStore, Registration, UpstreamEntry, UpstreamTokens,
};
use atlassian_mcp_bridge::secret::Secret;
use common::{Bridge, cold_starts, last_record, pct, sandbox_config, sorted};
use serde_json::json;

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sb = rt
        .block_on(atlassian_mcp_bridge::sandbox::start(Default::default()))
        .expect("sandbox");
    let home = tempfile::tempdir().expect("home");
    std::fs::write(
        home.path().join("config.toml"),
        sandbox_config(
            &sb,
            &format!(
                "[audit]\nfsync = false\n[upstream]\nurl = \"{}\"\n",
                sb.upstream_url()
            ),
        ),
    )
    .expect("config");
    // A signed-in upstream without the browser: the sandbox mints a grant, stored as
    // `login --upstream` would store it.
    let grant = sb.upstream().mint("http://127.0.0.1:1/callback");
    let base = sb.base_url();
    let now = time::OffsetDateTime::now_utc();
    CredentialStore::in_dir(home.path())
        .save_upstream(&UpstreamEntry {
            url: sb.upstream_url(),
            registration: Some(Registration {
                client_id: grant.client_id.clone(),
                client_secret: None,
                auth_method: "none".into(),
                redirect_uri: grant.redirect_uri.clone(),
                issuer: sb.upstream_issuer(),
                authorization_endpoint: format!("{base}/auth/authorize"),
                token_endpoint: format!("{base}/auth/oauth/token"),
                revocation_endpoint: Some(format!("{base}/auth/oauth/revoke")),
                registration_endpoint: Some(format!("{base}/auth/dcr/register")),
                iss_in_response: true,
            }),
            tokens: Some(UpstreamTokens {
                access_token: Secret::new(grant.access_token.clone()),
                refresh_token: Some(Secret::new(grant.refresh_token.clone())),
                expires_at: now + time::Duration::hours(1),
                obtained_at: now,
                scopes: Vec::new(),
            }),
        })
        .expect("store the upstream sign-in");

    // Cold start with [upstream] configured: initialize must not wait for the upstream.
    sb.clear_requests();
    let cold = cold_starts(home.path(), 20);
    let upstream_during_start = sb
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v1/mcp"))
        .count();

    // Proxied calls: the first connects; the rest are measured.
    let (mut b, _) = Bridge::spawn(home.path());
    b.initialize();
    let first = Instant::now();
    let r = b.call(
        "rovo_getJiraIssue",
        json!({"cloudId": atlassian_mcp_bridge::sandbox::SANDBOX_CLOUD_ID, "issueIdOrKey": "ENG-1"}),
    );
    let first_ms = first.elapsed().as_secs_f64() * 1000.0;
    assert!(r["result"]["isError"] != json!(true), "{r}");
    let (mut added, mut upstream_ms, mut rtt, mut bridge_total) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..300 {
        let t0 = Instant::now();
        let r = b.call(
            "rovo_getJiraIssue",
            json!({"cloudId": atlassian_mcp_bridge::sandbox::SANDBOX_CLOUD_ID,
                   "issueIdOrKey": format!("ENG-{}", i % 60 + 1)}),
        );
        rtt.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert!(r["result"]["isError"] != json!(true), "{r}");
        let rec = last_record(home.path());
        let total = rec["duration_ms"].as_f64().unwrap_or(0.0);
        let up = rec["upstream"][0]["ms"].as_f64().unwrap_or(0.0);
        bridge_total.push(total);
        upstream_ms.push(up);
        added.push((total - up).max(0.0));
    }
    let rss = b.rss_kb();
    b.close();
    rt.block_on(sb.shutdown());

    let (cold, added, upstream_ms, rtt, bridge_total) = (
        cold,
        sorted(added),
        sorted(upstream_ms),
        sorted(rtt),
        sorted(bridge_total),
    );
    println!("| measure | median | p95 |");
    println!("|---|---|---|");
    println!(
        "| cold start with [upstream], spawn → initialize answered | {:.1} ms | {:.1} ms |",
        pct(&cold, 0.5),
        pct(&cold, 0.95)
    );
    println!(
        "| bridge's added time per proxied call (audit duration − upstream call) | {:.2} ms | {:.2} ms |",
        pct(&added, 0.5),
        pct(&added, 0.95)
    );
    println!(
        "| upstream call as the bridge timed it (HTTP + sandbox) | {:.2} ms | {:.2} ms |",
        pct(&upstream_ms, 0.5),
        pct(&upstream_ms, 0.95)
    );
    println!(
        "| whole proxied call in the bridge (audit duration_ms) | {:.2} ms | {:.2} ms |",
        pct(&bridge_total, 0.5),
        pct(&bridge_total, 0.95)
    );
    println!(
        "| round trip seen by the client (stdio) | {:.2} ms | {:.2} ms |",
        pct(&rtt, 0.5),
        pct(&rtt, 0.95)
    );
    println!("\nfirst proxied call (connect + list + call): {first_ms:.1} ms");
    println!("requests to the upstream during 20 cold starts: {upstream_during_start}");
    println!("RSS after 301 proxied calls: {:.1} MB", rss as f64 / 1024.0);
}
