//! `login --upstream`, `logout --upstream` and the upstream lines of `status` (SPEC §11): the
//! sign-in to an upstream MCP server, with no app registration, each audited.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::CliError;
use super::login::{TerminalUi, until};
use crate::audit::{Actor, AuditLog, Entry, Outcome};
use crate::auth::login::{LoginError, LoginOptions};
use crate::auth::store::{CredentialStore, UpstreamEntry};
use crate::auth::upstream_login::{login_upstream, revoke_upstream};
use crate::auth::upstream_tokens::same_url;
use crate::config::{Settings, UpstreamSettings};
use crate::upstream::CallTrace;

/// The `[upstream]` section, or a usage error that shows how to add it.
pub fn upstream_settings(settings: &Settings) -> Result<UpstreamSettings, CliError> {
    settings.upstream.clone().ok_or_else(|| {
        let file = settings
            .config_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "config.toml".to_string());
        CliError::Usage(format!(
            "no upstream MCP server configured: add to {file}\n\n[upstream]\nurl = \"https://mcp.atlassian.com/v1/mcp\"\n\n(or set ATLASSIAN_MCP_BRIDGE_UPSTREAM_URL), then run `atlassian-mcp-bridge login --upstream` again"
        ))
    })
}

fn actor(url: &str) -> Actor {
    Actor {
        account_id: None,
        site: Some(url.to_string()),
        auth: Some("oauth-upstream".to_string()),
    }
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// `login --upstream`: discovery, registration (when needed), sign-in; prints what was stored.
pub async fn run_login(
    settings: Settings,
    no_browser: bool,
    timeout: Duration,
) -> Result<ExitCode, CliError> {
    let up = upstream_settings(&settings)?;
    let audit = AuditLog::open(&settings.audit).context("cannot open the audit log")?;
    let store = CredentialStore::in_dir(&settings.data_dir);
    let started = Instant::now();
    let ui = TerminalUi { no_browser };
    let options = LoginOptions {
        open_browser: !no_browser,
        timeout,
    };
    let url = up.url.as_str().to_string();
    let args =
        Some(serde_json::json!({ "upstream": url, "callback_host": up.callback_host.as_str() }));
    match login_upstream(&up, &store, &options, &ui).await {
        Ok(done) => {
            audit
                .append(Entry {
                    actor: Some(actor(&url)),
                    args,
                    duration_ms: ms(started),
                    upstream: done.trace.upstream(),
                    ..Entry::event("login")
                })
                .await
                .context("cannot write the login audit record")?;
            let summary = summary(&done.entry, done.registered, &store);
            if no_browser {
                eprintln!("{summary}");
            } else {
                println!("{summary}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            audit
                .append(Entry {
                    actor: Some(actor(&url)),
                    args,
                    outcome: Outcome::Error,
                    error: Some(e.to_string()),
                    duration_ms: ms(started),
                    ..Entry::event("login")
                })
                .await
                .context("cannot write the login audit record")?;
            match e {
                LoginError::Config(m) => Err(CliError::Usage(m)),
                LoginError::Failed(m) => Err(CliError::Runtime(anyhow::anyhow!(m))),
            }
        }
    }
}

fn summary(entry: &UpstreamEntry, registered: bool, store: &CredentialStore) -> String {
    let mut out = format!("Signed in to the upstream MCP server {}.", entry.url);
    if let Some(reg) = &entry.registration {
        out.push_str(&format!(
            "\nClient:     {} ({}, redirect {})",
            reg.client_id,
            if registered {
                "registered now"
            } else {
                "registration reused"
            },
            reg.redirect_uri
        ));
        out.push_str(&format!("\nIssuer:     {}", reg.issuer));
    }
    if let Some(t) = &entry.tokens {
        if !t.scopes.is_empty() {
            out.push_str(&format!("\nScopes:     {}", t.scopes.join(" ")));
        }
        out.push_str(&format!(
            "\nToken:      valid until {}; {}",
            until(t.expires_at),
            if t.refresh_token.is_some() {
                "it refreshes itself"
            } else {
                "no refresh token, so sign in again when it expires"
            }
        ));
    }
    out.push_str(&format!("\nCredentials: {}", store.path().display()));
    out.push_str("\nThe AI desktops that launch `atlassian-mcp-bridge serve` now see its tools.");
    out
}

/// `logout --upstream`: revokes at the upstream's revocation endpoint when it has one, then
/// forgets the upstream entry (the site's sign-in stays).
pub async fn run_logout(settings: Settings) -> Result<ExitCode, CliError> {
    let audit = AuditLog::open(&settings.audit).context("cannot open the audit log")?;
    let store = CredentialStore::in_dir(&settings.data_dir);
    let started = Instant::now();
    let (lock, entry) = store
        .lock_and_read(Duration::from_secs(30), CredentialStore::load_upstream)
        .await
        .context("cannot read the credential store")?;
    let Some(entry) = entry else {
        drop(lock);
        println!("Not signed in to an upstream MCP server; nothing to forget.");
        return Ok(ExitCode::SUCCESS);
    };
    let trace = CallTrace::new();
    let note = match crate::auth::http_client() {
        Err(e) => format!("could not revoke ({e})"),
        Ok(http) => match revoke_upstream(&http, &trace, &entry).await {
            Ok(true) => "The tokens were revoked at the authorization server".to_string(),
            Ok(false) => {
                "The authorization server advertises no revocation endpoint: the grant lapses when its refresh token expires".to_string()
            }
            Err(e) => format!("The revocation failed ({e}); the tokens are forgotten here anyway"),
        },
    };
    store
        .delete_upstream()
        .context("cannot delete the stored upstream sign-in")?;
    drop(lock);
    audit
        .append(Entry {
            actor: Some(actor(&entry.url)),
            args: Some(serde_json::json!({ "upstream": entry.url })),
            duration_ms: ms(started),
            upstream: trace.upstream(),
            ..Entry::event("logout")
        })
        .await
        .context("cannot write the logout audit record")?;
    println!(
        "Signed out of the upstream MCP server {}: registration and tokens deleted from {}.\n{note}.",
        entry.url,
        store.path().display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The upstream lines of `status`; false when the upstream sign-in is missing or unusable.
pub fn print_status(settings: &Settings) -> bool {
    let Some(up) = &settings.upstream else {
        return true;
    };
    println!(
        "Upstream:   {} (tools: {}, prefix `{}`)",
        up.url,
        up.tools.as_str(),
        up.prefix
    );
    let store = CredentialStore::in_dir(&settings.data_dir);
    match store.load_upstream() {
        Ok(Some(e)) if same_url(&e.url, up.url.as_str()) => match (&e.registration, &e.tokens) {
            (Some(reg), Some(t)) => {
                println!("  Client:   {} at {}", reg.client_id, reg.issuer);
                println!("  Token:    valid until {}", until(t.expires_at));
                println!(
                    "  Refresh:  {}",
                    if t.refresh_token.is_some() {
                        "yes (rotating)"
                    } else {
                        "no refresh token"
                    }
                );
                true
            }
            _ => {
                println!("  Signed in: no — run `atlassian-mcp-bridge login --upstream`");
                false
            }
        },
        Ok(Some(e)) => {
            println!(
                "  Signed in: no — the stored upstream sign-in is for {}; run `atlassian-mcp-bridge login --upstream`",
                e.url
            );
            false
        }
        Ok(None) => {
            println!("  Signed in: no — run `atlassian-mcp-bridge login --upstream`");
            false
        }
        Err(e) => {
            println!("  Signed in: unreadable credentials ({e})");
            false
        }
    }
}
