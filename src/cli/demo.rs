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
use std::time::Duration;

use crate::auth::login::{LoginOptions, LoginUi, login};
use crate::auth::store::CredentialStore;
use crate::auth::upstream_login::login_upstream;
use crate::config::{
    ArgsMode, AuditSettings, Auth, DEFAULT_AUDIT_MAX_BYTES, Deployment, OAuthSettings,
    PolicySettings, Settings, UpstreamSettings,
};
use crate::sandbox;
use crate::secret::Secret;

/// Prints a line for the person. A closed stdout (`demo | head`) is not an error: the tour
/// goes on quietly and still cleans up.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Runs the tour and prints what happened; exit 0 when every step behaved as expected.
///
/// Everything it writes (sandbox credentials, audit log, journals) goes into a fresh temporary
/// directory that is removed when the tour ends, whatever `ATLASSIAN_MCP_BRIDGE_HOME` says: the
/// demo signs in, and must never replace a person's real credentials.
pub async fn run() -> Result<ExitCode, CliError> {
    let temp = tempfile::Builder::new()
        .prefix("atlassian-mcp-bridge-demo-")
        .tempdir()
        .context("cannot create a temporary directory for the demo")?;
    let home = temp.path().to_path_buf();
    let audit_path = home.join("audit").join("audit.jsonl");
    say!("atlassian-mcp-bridge {} — demo", env!("CARGO_PKG_VERSION"));
    say!(
        "Files for this run: {} (temporary; removed when the demo ends)",
        home.display()
    );
    let sb = sandbox::start(sandbox::SandboxOptions::default())
        .await
        .context("cannot start the sandbox")?;
    say!(
        "Sandbox site (Jira + Confluence + OAuth): {}",
        sb.base_url()
    );
    say!("Policy for this demo: jira_projects = [\"ENG\", \"OPS\"]\n");
    let oauth = sandbox_oauth(&sb.base_url())?;
    let mut site = sandbox_site(&sb.base_url(), Deployment::Cloud)?;
    site.auth = Auth::OAuth;
    let settings = Settings {
        data_dir: home.clone(),
        config_file: None,
        site: Some(site.clone()),
        oauth: Some(oauth.clone()),
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
        cache: crate::config::CacheSettings::defaults(&home),
        upstream: Some(UpstreamSettings::for_url(
            url::Url::parse(&sb.upstream_url())
                .map_err(|e| CliError::Runtime(anyhow!("sandbox upstream URL: {e}")))?,
        )),
    };

    sign_in(&settings, &site, &oauth).await?;
    sign_in_upstream(&settings).await?;
    let server = build_server(&settings, &site, false).await?;
    let upstream = server.state().upstream.clone();
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
    // The upstream session is ended while the sandbox still answers (rmcp would otherwise try
    // its DELETE after the site is gone and log an error into the tour).
    if let Some(up) = upstream {
        up.remote.close().await;
    }
    sb.shutdown().await;
    outcome?;

    step(11, "Audit log");
    say!("   {}", audit_path.display());
    let text = std::fs::read_to_string(&audit_path).context("cannot read the demo audit log")?;
    for line in text.lines() {
        let Ok(r) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let what = r["tool"].as_str().or(r["event"].as_str()).unwrap_or("?");
        say!(
            "   #{:<2} {:<24} {:<7} {:>7.1} ms  {} upstream request(s)  touched {}",
            r["seq"],
            what,
            r["outcome"].as_str().unwrap_or("?"),
            r["duration_ms"].as_f64().unwrap_or(0.0),
            r["upstream"].as_array().map_or(0, Vec::len),
            r["touched"]
                .as_array()
                .map(|t| t
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","))
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "-".to_string())
        );
    }
    let report = verify_log(&audit_path)?;
    say!("   audit verify: {report}");
    say!("");
    say!("Next steps:");
    say!(
        "   1. Connect your site: write config.toml (see config/example.toml), then `atlassian-mcp-bridge login` (OAuth) or set ATLASSIAN_API_TOKEN"
    );
    say!(
        "   2. Add the bridge to your AI desktop: `atlassian-mcp-bridge install claude-desktop` (or claude-code, vscode, cursor)"
    );
    say!("   3. Check everything: `atlassian-mcp-bridge doctor`");
    say!(
        "   4. Put Atlassian's hosted MCP server behind the bridge: add [upstream] url = \"https://mcp.atlassian.com/v1/mcp\", then `atlassian-mcp-bridge login --upstream` (no app registration)"
    );
    Ok(ExitCode::SUCCESS)
}

/// `[oauth]` settings for the sandbox's authorization server (any free callback port).
fn sandbox_oauth(base: &str) -> Result<OAuthSettings, CliError> {
    let url = |path: &str| {
        url::Url::parse(&format!("{base}{path}"))
            .map_err(|e| CliError::Runtime(anyhow!("sandbox URL {base}{path}: {e}")))
    };
    Ok(OAuthSettings {
        client_id: sandbox::SANDBOX_OAUTH_CLIENT_ID.to_string(),
        client_secret: Some(Secret::new(sandbox::SANDBOX_OAUTH_CLIENT_SECRET)),
        public_client: false,
        audience: Some("api.atlassian.com".to_string()),
        redirect_port: 0,
        scopes: [
            "read:jira-work",
            "write:jira-work",
            "read:jira-user",
            "read:page:confluence",
            "write:page:confluence",
            "read:space:confluence",
            "search:confluence",
            "read:user:confluence",
            "read:me",
            "offline_access",
        ]
        .map(String::from)
        .to_vec(),
        authorize_url: url("/authorize")?,
        token_url: url("/oauth/token")?,
        resources_url: url("/oauth/token/accessible-resources")?,
        api_base: url("")?,
        revocation_url: Some(url("/oauth/revoke")?),
    })
}

/// Plays the browser for the demo: follows the authorize redirect to the loopback callback.
struct DemoBrowser(&'static str);

impl LoginUi for DemoBrowser {
    fn authorize_url(&self, url: &str, _opened: bool) {
        say!("   authorize URL ({}):", self.0);
        say!("   {}…", &url[..url.len().min(110)]);
        let url = url.to_string();
        tokio::spawn(async move {
            let Ok(http) = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
            else {
                return;
            };
            let Ok(consent) = http.get(&url).send().await else {
                return;
            };
            let Some(callback) = consent
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_string)
            else {
                return;
            };
            let _ = http.get(callback).send().await;
        });
    }

    fn message(&self, text: &str) {
        say!("   {text}");
    }
}

async fn sign_in(
    settings: &Settings,
    site: &crate::config::SiteSettings,
    oauth: &OAuthSettings,
) -> Result<(), CliError> {
    step(0, "Sign in (OAuth 2.0 authorization code + PKCE)");
    let store = CredentialStore::in_dir(&settings.data_dir);
    let options = LoginOptions {
        open_browser: false,
        timeout: Duration::from_secs(30),
    };
    let started = std::time::Instant::now();
    let done = login(
        site,
        oauth,
        &store,
        &options,
        &DemoBrowser("PKCE S256, state, prompt=consent"),
    )
    .await
    .map_err(|e| anyhow!("demo sign-in failed: {e}"))?;
    let c = &done.credentials;
    let audit =
        crate::audit::AuditLog::open(&settings.audit).context("cannot open the audit log")?;
    audit
        .append(crate::audit::Entry {
            actor: Some(crate::audit::Actor {
                account_id: c.account.account_id.clone(),
                site: Some(c.site_url.clone()),
                auth: Some("oauth".to_string()),
            }),
            upstream: done.trace.upstream(),
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            ..crate::audit::Entry::event("login")
        })
        .await
        .context("cannot write the login audit record")?;
    say!(
        "   signed in as {} to {} (cloud id {}), scopes: {}",
        c.account.name.as_deref().unwrap_or("unknown"),
        c.site_url,
        c.cloud_id,
        c.scopes.join(" ")
    );
    say!(
        "   tokens stored in {} (mode 0600); the refresh token rotates on every use\n",
        store.path().display()
    );
    Ok(())
}

/// Upstream mode (SPEC §11): signs in to the sandbox's imitation of Atlassian's hosted MCP
/// server with no app registration (discovery, registration, PKCE), as `login --upstream` does.
async fn sign_in_upstream(settings: &Settings) -> Result<(), CliError> {
    let Some(up) = &settings.upstream else {
        return Ok(());
    };
    step(
        0,
        "Sign in to the hosted MCP server (discovery, registration, PKCE)",
    );
    let store = CredentialStore::in_dir(&settings.data_dir);
    let options = LoginOptions {
        open_browser: false,
        timeout: Duration::from_secs(30),
    };
    let started = std::time::Instant::now();
    let done = login_upstream(
        up,
        &store,
        &options,
        &DemoBrowser("PKCE S256, state, resource = the MCP URL"),
    )
    .await
    .map_err(|e| anyhow!("demo upstream sign-in failed: {e}"))?;
    let audit =
        crate::audit::AuditLog::open(&settings.audit).context("cannot open the audit log")?;
    audit
        .append(crate::audit::Entry {
            actor: Some(crate::audit::Actor {
                account_id: None,
                site: Some(up.url.as_str().to_string()),
                auth: Some("oauth-upstream".to_string()),
            }),
            upstream: done.trace.upstream(),
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            ..crate::audit::Entry::event("login")
        })
        .await
        .context("cannot write the login audit record")?;
    let client = done
        .entry
        .registration
        .as_ref()
        .map(|r| r.client_id.as_str())
        .unwrap_or("-");
    say!(
        "   registered as client {client} and signed in to {} in {} requests; its tools appear as rovo_…\n",
        up.url,
        done.trace.upstream().len()
    );
    Ok(())
}

fn step(n: u32, title: &str) {
    say!(
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
        say!("   {l}");
    }
    if lines.len() > max_lines {
        say!("   … ({} more lines)", lines.len() - max_lines);
    }
    say!("");
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
    say!("   {} tools, {bytes} bytes of schema:", tools.len());
    for t in &tools {
        let ro = t
            .annotations
            .as_ref()
            .and_then(|a| a.read_only_hint)
            .unwrap_or(false);
        say!("   - {}{}", t.name, if ro { " (read-only)" } else { "" });
    }
    say!("");

    let jql = "project = ENG AND statusCategory != Done ORDER BY priority DESC, key ASC";
    step(2, "jira_search");
    say!("   jql: {jql}\n");
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
    say!("   cql: {cql}\n");
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

    step(6, "jira_summarize_search: what is going on in ENG?");
    let r = expect_ok(
        peer,
        "jira_summarize_search",
        json!({"jql": "project = ENG", "group_by": ["status", "assignee"]}),
    )
    .await?;
    show(&text_of(&r), 16);

    step(7, "jira_bulk_create_issues: meeting notes → three tickets");
    let notes = json!({"operation_id": "demo-notes-1", "issues": [
        {"project": "OPS", "issue_type": "Task", "summary": "Rotate the staging TLS certificates",
         "description": "From the ops sync:\n\n- expires **Friday**\n- owner: platform", "priority": "High"},
        {"project": "OPS", "issue_type": "Task", "summary": "Write the runbook for the queue failover",
         "labels": ["runbook"]},
        {"project": "ENG", "issue_type": "Bug", "summary": "Search times out on long JQL",
         "fields": {"customfield_10020": "Search"}}
    ]});
    let r = expect_ok(peer, "jira_bulk_create_issues", notes.clone()).await?;
    show(&text_of(&r), 8);

    step(
        8,
        "the same operation_id again: its recorded result, nothing sent",
    );
    let r = expect_ok(peer, "jira_bulk_create_issues", notes).await?;
    show(&text_of(&r), 3);

    step(9, "policy denial: jira_get_issue SEC-1");
    let r = call(peer, "jira_get_issue", json!({"key": "SEC-1"})).await?;
    if r.is_error != Some(true) {
        return Err(anyhow!("expected a policy denial for SEC-1, got a result").into());
    }
    say!("   refused (isError): {}\n", text_of(&r));

    step(
        10,
        "rovo_getJiraIssue: Atlassian's hosted MCP server, through the bridge",
    );
    let r = expect_ok(
        peer,
        "rovo_getJiraIssue",
        json!({"cloudId": sandbox::SANDBOX_CLOUD_ID, "issueIdOrKey": "ENG-1"}),
    )
    .await?;
    let summary = r
        .structured_content
        .as_ref()
        .and_then(|v| v["fields"]["summary"].as_str())
        .unwrap_or("?")
        .to_string();
    say!("   ENG-1: {summary} (forwarded as the hosted server sent it, and audited)");
    let r = call(
        peer,
        "rovo_getJiraIssue",
        json!({"cloudId": sandbox::SANDBOX_CLOUD_ID, "issueIdOrKey": "SEC-1"}),
    )
    .await?;
    if r.is_error != Some(true) {
        return Err(anyhow!("expected a policy denial for rovo_getJiraIssue SEC-1").into());
    }
    say!("   the same policy applies: {}\n", text_of(&r));
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
