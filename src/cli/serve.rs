//! `serve [--sandbox]`: the stdio MCP server that AI desktops launch.

use std::process::ExitCode;
use std::sync::RwLock;
use std::time::Instant;

use anyhow::Context as _;
use rmcp::ServiceExt;
use url::Url;

use super::CliError;
use crate::atlassian::{Api, CallTrace, DEFAULT_API_BASE, RetryPolicy};
use crate::audit::{AuditLog, Entry};
use crate::auth::store::CredentialStore;
use crate::auth::tokens::TokenManager;
use crate::config::{Auth, Deployment, Settings, SiteSettings};
use crate::mcp::{BridgeServer, State, initial_actor};
use crate::policy::Policy;
use crate::sandbox;
use crate::secret::Secret;

/// Site settings that point at a running sandbox (Cloud flavour, API-token auth).
pub fn sandbox_site(base_url: &str, deployment: Deployment) -> Result<SiteSettings, CliError> {
    let (url, auth) = match deployment {
        Deployment::Cloud => (
            base_url.to_string(),
            Auth::ApiToken {
                email: sandbox::SANDBOX_EMAIL.to_string(),
                token: Secret::new(sandbox::SANDBOX_API_TOKEN),
            },
        ),
        Deployment::DataCenter => (
            format!("{base_url}/dc"),
            Auth::Pat {
                token: Secret::new(sandbox::SANDBOX_PAT),
            },
        ),
    };
    Ok(SiteSettings {
        url: Url::parse(&url)
            .map_err(|e| CliError::Runtime(anyhow::anyhow!("sandbox URL {url}: {e}")))?,
        deployment,
        auth,
        cloud_id: None,
        confluence_url: None,
        timeout: std::time::Duration::from_secs(crate::config::DEFAULT_TIMEOUT_SECS),
    })
}

/// Builds the MCP server for a site and writes the `server_start` audit record.
pub async fn build_server(
    settings: &Settings,
    site: &SiteSettings,
) -> Result<BridgeServer, CliError> {
    let api_base = match &settings.oauth {
        Some(o) => o.api_base.clone(),
        None => Url::parse(DEFAULT_API_BASE)
            .map_err(|e| CliError::Runtime(anyhow::anyhow!("default API base: {e}")))?,
    };
    let audit = AuditLog::open(&settings.audit).context("cannot open the audit log")?;
    let tokens = match (&site.auth, &settings.oauth) {
        (Auth::OAuth, Some(oauth)) => Some(
            TokenManager::new(
                oauth.clone(),
                CredentialStore::in_dir(&settings.data_dir),
                Some(audit.clone()),
            )
            .map_err(|e| CliError::Runtime(anyhow::anyhow!(e)))?,
        ),
        _ => None,
    };
    let api = Api::new(site, &api_base, tokens.clone(), RetryPolicy::default())
        .map_err(CliError::Usage)?;
    let mut actor = initial_actor(&api, site.auth.mode());
    if let Some(c) = tokens.as_ref().and_then(|t| t.credentials()) {
        actor.account_id = c.account.account_id;
    }
    audit
        .append(Entry {
            actor: Some(actor.clone()),
            args: Some(serde_json::json!({
                "version": env!("CARGO_PKG_VERSION"),
                "deployment": site.deployment.as_str(),
            })),
            ..Entry::event("server_start")
        })
        .await
        .context("cannot write the audit log")?;
    Ok(BridgeServer::new(State {
        api,
        policy: Policy::new(settings.policy.clone()),
        audit,
        actor: RwLock::new(actor),
        audit_path: settings.audit.path.display().to_string(),
        journal_dir: settings.data_dir.join("journal"),
    }))
}

/// Learns the account id in the background so audit records can name the actor.
pub fn resolve_actor(server: &BridgeServer) {
    let server = server.clone();
    tokio::spawn(async move {
        let trace = CallTrace::new();
        match server.state().api.current_user(&trace).await {
            Ok(me) => {
                if let Ok(mut actor) = server.state().actor.write() {
                    actor.account_id = me.id;
                }
            }
            Err(e) => tracing::warn!("could not look up the signed-in user: {}", e.user_message()),
        }
    });
}

/// Runs the server on stdin/stdout until the client closes stdin.
pub async fn run(settings: Settings, use_sandbox: bool) -> Result<ExitCode, CliError> {
    let started = Instant::now();
    let mut sandbox_handle = None;
    let site = if use_sandbox {
        let sb = sandbox::start(sandbox::SandboxOptions::default())
            .await
            .context("cannot start the sandbox")?;
        let deployment = settings
            .site
            .as_ref()
            .map(|s| s.deployment)
            .unwrap_or(Deployment::Cloud);
        let site = sandbox_site(&sb.base_url(), deployment)?;
        tracing::info!(url = %sb.base_url(), "sandbox started");
        sandbox_handle = Some(sb);
        site
    } else {
        match &settings.site {
            Some(site) => site.clone(),
            None => {
                let file = settings
                    .config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "config.toml".to_string());
                return Err(CliError::Usage(format!(
                    "no Atlassian site configured: add a [site] section to {file} (see config/example.toml), or run `atlassian-mcp-bridge serve --sandbox` to try the built-in sandbox"
                )));
            }
        }
    };
    let server = build_server(&settings, &site).await?;
    // OAuth credentials already name the account; token auth learns it from the site.
    if !matches!(site.auth, Auth::OAuth) {
        resolve_actor(&server);
    }
    let service = server
        .serve(rmcp::transport::io::stdio_pipes())
        .await
        .map_err(|e| CliError::Runtime(anyhow::anyhow!("MCP session failed to start: {e}")))?;
    tracing::info!(ms = started.elapsed().as_secs_f64() * 1000.0, "initialized");
    let quit = tokio::select! {
        r = service.waiting() => r.map(|q| format!("{q:?}")).map_err(|e| anyhow::anyhow!("{e}")),
        _ = tokio::signal::ctrl_c() => Ok("interrupted".to_string()),
        _ = terminated() => Ok("terminated".to_string()),
    };
    if let Some(sb) = sandbox_handle {
        sb.shutdown().await;
    }
    match quit {
        Ok(reason) => {
            tracing::info!(%reason, "server stopped");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(CliError::Runtime(e)),
    }
}

/// Resolves when the process is asked to stop (SIGTERM on Unix; never elsewhere), so that the
/// sandbox's temporary home is still removed when a client stops the server that way.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await
}
