//! `demo`: a one-shot tour — sandbox + server + a scripted MCP client — printed for people.

use std::process::ExitCode;

use anyhow::{Context as _, anyhow};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
};
use rmcp::service::{Peer, RoleClient};
use serde_json::{Value, json};

use super::CliError;
use super::serve::{build_server, sandbox_site};
use crate::config::{
    ArgsMode, AuditSettings, DEFAULT_AUDIT_MAX_BYTES, Deployment, PolicySettings, Settings,
};
use crate::sandbox;

/// Runs the tour and prints what happened; exit 0 when every step behaved as expected.
pub async fn run() -> Result<ExitCode, CliError> {
    let home = tempfile::Builder::new()
        .prefix("atlassian-mcp-bridge-demo-")
        .tempdir()
        .context("cannot create a temporary directory for the demo")?
        .keep();
    let audit_path = home.join("audit").join("audit.jsonl");
    let settings = Settings {
        data_dir: home.clone(),
        config_file: None,
        site: None,
        oauth: None,
        policy: PolicySettings {
            jira_projects: vec!["ENG".to_string(), "OPS".to_string()],
            ..PolicySettings::default()
        },
        audit: AuditSettings {
            path: audit_path.clone(),
            args: ArgsMode::Redacted,
            fsync: true,
            max_bytes: DEFAULT_AUDIT_MAX_BYTES,
        },
    };

    println!("atlassian-mcp-bridge {} — demo", env!("CARGO_PKG_VERSION"));
    println!("Files for this run: {}", home.display());
    let sb = sandbox::start(sandbox::SandboxOptions::default())
        .await
        .context("cannot start the sandbox")?;
    println!("Sandbox site (Jira + Confluence): {}", sb.base_url());
    println!("Policy for this demo: jira_projects = [\"ENG\", \"OPS\"]\n");

    let site = sandbox_site(&sb.base_url(), Deployment::Cloud)?;
    let server = build_server(&settings, &site).await?;
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let server_task = tokio::spawn(async move {
        match server.serve(server_io).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => tracing::error!("demo server failed: {e}"),
        }
    });
    let client_info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("atlassian-mcp-bridge-demo", env!("CARGO_PKG_VERSION")),
    );
    let client = client_info
        .serve(client_io)
        .await
        .map_err(|e| anyhow!("demo client could not connect: {e}"))?;

    let outcome = tour(client.peer()).await;
    let _ = client.cancel().await;
    let _ = server_task.await;
    sb.shutdown().await;
    outcome?;

    step(7, "Audit log");
    println!("{}", audit_path.display());
    let report = verify_log(&audit_path)?;
    println!("audit verify: {report}");
    Ok(ExitCode::SUCCESS)
}

fn step(n: u32, title: &str) {
    println!(
        "── {n}. {title} {}",
        "─".repeat(60usize.saturating_sub(title.len()))
    );
}

fn text_of(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn show(text: &str, max_lines: usize) {
    let lines: Vec<&str> = text.lines().collect();
    for l in lines.iter().take(max_lines) {
        println!("   {l}");
    }
    if lines.len() > max_lines {
        println!("   … ({} more lines)", lines.len() - max_lines);
    }
    println!();
}

async fn call(
    peer: &Peer<RoleClient>,
    tool: &'static str,
    args: Value,
) -> Result<CallToolResult, CliError> {
    let Value::Object(map) = args else {
        return Err(anyhow!("demo arguments must be an object").into());
    };
    peer.call_tool(CallToolRequestParams::new(tool).with_arguments(map))
        .await
        .map_err(|e| anyhow!("{tool} failed: {e}").into())
}

async fn expect_ok(
    peer: &Peer<RoleClient>,
    tool: &'static str,
    args: Value,
) -> Result<CallToolResult, CliError> {
    let r = call(peer, tool, args).await?;
    if r.is_error == Some(true) {
        return Err(anyhow!("{tool} returned an error: {}", text_of(&r)).into());
    }
    Ok(r)
}

async fn tour(peer: &Peer<RoleClient>) -> Result<(), CliError> {
    step(1, "tools/list");
    let tools = peer
        .list_all_tools()
        .await
        .map_err(|e| anyhow!("tools/list failed: {e}"))?;
    let bytes = serde_json::to_vec(&tools).map(|v| v.len()).unwrap_or(0);
    println!("   {} tools, {bytes} bytes of schema:", tools.len());
    for t in &tools {
        let ro = t
            .annotations
            .as_ref()
            .and_then(|a| a.read_only_hint)
            .unwrap_or(false);
        println!("   - {}{}", t.name, if ro { " (read-only)" } else { "" });
    }
    println!();

    let jql = "project = ENG AND statusCategory != Done ORDER BY priority DESC, key ASC";
    step(2, "jira_search");
    println!("   jql: {jql}\n");
    let r = expect_ok(peer, "jira_search", json!({"jql": jql, "max_results": 5})).await?;
    show(&text_of(&r), 8);
    let first_key = r
        .structured_content
        .as_ref()
        .and_then(|v| v["issues"][0]["key"].as_str())
        .unwrap_or("ENG-1")
        .to_string();

    step(3, &format!("jira_get_issue {first_key}"));
    let r = expect_ok(peer, "jira_get_issue", json!({"key": first_key})).await?;
    show(&text_of(&r), 24);

    let cql = "type = page AND text ~ \"architecture\"";
    step(4, "confluence_search");
    println!("   cql: {cql}\n");
    let r = expect_ok(peer, "confluence_search", json!({"cql": cql, "limit": 5})).await?;
    show(&text_of(&r), 8);
    let page_id = r
        .structured_content
        .as_ref()
        .and_then(|v| v["results"][0]["id"].as_str())
        .map(str::to_string);

    if let Some(page_id) = page_id {
        step(5, &format!("confluence_get_page {page_id}"));
        let r = expect_ok(peer, "confluence_get_page", json!({"page_id": page_id})).await?;
        show(&text_of(&r), 24);
    }

    step(6, "policy denial: jira_get_issue SEC-1");
    let r = call(peer, "jira_get_issue", json!({"key": "SEC-1"})).await?;
    if r.is_error != Some(true) {
        return Err(anyhow!("expected a policy denial for SEC-1, got a result").into());
    }
    println!("   refused (isError): {}\n", text_of(&r));
    Ok(())
}

/// Verifies the demo's audit log with the same code as `audit verify`.
fn verify_log(path: &std::path::Path) -> Result<String, CliError> {
    let report = crate::audit::reader::verify(path).context("cannot read the demo audit log")?;
    match &report.failure {
        None => Ok(format!(
            "ok: {} records verified (hash chain intact)",
            report.records
        )),
        Some(f) => Err(anyhow!("audit log failed verification at {}: {}", f.at, f.reason).into()),
    }
}
