//! `sandbox [--port N]`: the built-in Atlassian sandbox as a standalone HTTP server.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use super::CliError;
use crate::sandbox::{self, SANDBOX_API_TOKEN, SANDBOX_EMAIL, SANDBOX_PAT};

/// Serves the sandbox until Ctrl-C, after printing how to point the bridge at it.
pub async fn run(port: u16, latency_ms: u64) -> Result<ExitCode, CliError> {
    let sb = sandbox::start(sandbox::SandboxOptions {
        port,
        latency: Duration::from_millis(latency_ms),
    })
    .await
    .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
    let base = sb.base_url();
    println!("Sandbox Atlassian site listening on {base} (Ctrl-C to stop)");
    println!();
    println!("Cloud site:        {base}");
    println!("  auth: api-token  email = \"{SANDBOX_EMAIL}\"  api_token = \"{SANDBOX_API_TOKEN}\"");
    println!("Data Center site:  {}", sb.dc_base_url());
    println!("  auth: pat        pat = \"{SANDBOX_PAT}\"");
    println!();
    println!("config.toml for the Cloud flavour:");
    println!(
        "  [site]\n  url = \"{base}\"\n  deployment = \"cloud\"\n  auth = \"api-token\"\n  email = \"{SANDBOX_EMAIL}\"\n  api_token = \"{SANDBOX_API_TOKEN}\""
    );
    println!();
    println!(
        "OAuth 2.0 (3LO):   client_id = \"{}\"  client_secret = \"{}\"",
        sandbox::SANDBOX_OAUTH_CLIENT_ID,
        sandbox::SANDBOX_OAUTH_CLIENT_SECRET
    );
    println!("  authorize_url = \"{base}/authorize\"  token_url = \"{base}/oauth/token\"");
    println!(
        "  resources_url = \"{base}/oauth/token/accessible-resources\"  api_base = \"{base}\"  (redirect_port = 0 works here)"
    );
    println!();
    println!(
        "Switches: POST {base}/__sandbox/latency {{\"ms\":50}} · POST {base}/__sandbox/faults {{\"status\":429,\"count\":2,\"retry_after\":1}} · DELETE {base}/__sandbox/faults"
    );
    println!(
        "Offline: POST {base}/__sandbox/unreachable {{\"secs\":30}} (connections refused) · POST {base}/__sandbox/generate {{\"project\":\"ENG\",\"issues\":5000,\"space\":\"ENG\",\"pages\":2000}} · docs/sandbox.md lists every switch"
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    sb.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
