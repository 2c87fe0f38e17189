//! `login [--no-browser]`, `logout` and `status`: the sign-in lifecycle, each audited
//! (`--upstream` and the upstream lines of `status` are in `cli/upstream.rs`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use time::OffsetDateTime;

use super::CliError;
use crate::atlassian::{Api, CallTrace, DEFAULT_API_BASE, RetryPolicy};
use crate::audit::{Actor, AuditLog, Entry, Outcome};
use crate::auth::login::{LoginError, LoginOptions, LoginUi, login};
use crate::auth::store::{CredentialStore, Credentials};
use crate::auth::tokens::TokenManager;
use crate::config::{Auth, OAuthSettings, Settings, SiteSettings};

/// Prints the authorize URL (alone on stdout with `--no-browser`) and progress on stderr.
pub(super) struct TerminalUi {
    /// With `--no-browser`: the URL alone on stdout.
    pub(super) no_browser: bool,
}

impl LoginUi for TerminalUi {
    fn authorize_url(&self, url: &str, opened_browser: bool) {
        if self.no_browser {
            println!("{url}");
        } else if opened_browser {
            eprintln!("Opened your browser to sign in. If it did not open, visit:\n{url}");
        } else {
            eprintln!("Open this link in your browser to sign in:\n{url}");
        }
    }

    fn message(&self, text: &str) {
        eprintln!("{text}");
    }
}

/// The `[site]` and `[oauth]` sections, when the site signs in with OAuth.
fn oauth_settings(settings: &Settings) -> Result<(SiteSettings, OAuthSettings), CliError> {
    let file = settings
        .config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "config.toml".to_string());
    let site = settings.site.clone().ok_or_else(|| {
        CliError::Usage(format!(
            "no Atlassian site configured: add [site] with auth = \"oauth\" and an [oauth] section to {file} (see config/example.toml)"
        ))
    })?;
    if !matches!(site.auth, Auth::OAuth) {
        return Err(CliError::Usage(format!(
            "{file}: site.auth is \"{}\", which needs no sign-in; set site.auth = \"oauth\" to sign in with OAuth",
            site.auth.mode()
        )));
    }
    let oauth = settings.oauth.clone().ok_or_else(|| {
        CliError::Usage(format!("{file}: auth = \"oauth\" needs an [oauth] section"))
    })?;
    Ok((site, oauth))
}

fn actor_of(c: &Credentials) -> Actor {
    Actor {
        account_id: c.account.account_id.clone(),
        site: Some(c.site_url.clone()),
        auth: Some("oauth".to_string()),
    }
}

async fn append(audit: &AuditLog, entry: Entry) -> Result<(), CliError> {
    let event = entry.event.clone();
    audit
        .append(entry)
        .await
        .map(|_| ())
        .with_context(|| format!("cannot write the {event} audit record"))
        .map_err(CliError::Runtime)
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

pub(super) fn until(t: OffsetDateTime) -> String {
    let left = t - OffsetDateTime::now_utc();
    let when = t
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    if left.is_negative() {
        format!("{when} (expired; refreshed on next use)")
    } else {
        let secs = left.whole_seconds();
        if secs < 120 {
            format!("{when} (in {secs} s)")
        } else {
            format!("{when} (in {} min)", left.whole_minutes())
        }
    }
}

/// `login`: runs the OAuth flow, stores the tokens, prints who signed in where.
pub async fn run_login(
    settings: Settings,
    no_browser: bool,
    timeout: Duration,
) -> Result<ExitCode, CliError> {
    let (site, oauth) = oauth_settings(&settings)?;
    let audit = AuditLog::open(&settings.audit).context("cannot open the audit log")?;
    let store = CredentialStore::in_dir(&settings.data_dir);
    let started = Instant::now();
    let ui = TerminalUi { no_browser };
    let options = LoginOptions {
        open_browser: !no_browser,
        timeout,
    };
    let args = Some(serde_json::json!({
        "site": site.url.as_str().trim_end_matches('/'),
        "scopes": oauth.scopes,
    }));
    match login(&site, &oauth, &store, &options, &ui).await {
        Ok(done) => {
            let c = &done.credentials;
            append(
                &audit,
                Entry {
                    actor: Some(actor_of(c)),
                    args,
                    duration_ms: ms(started),
                    upstream: done.trace.upstream(),
                    ..Entry::event("login")
                },
            )
            .await?;
            let who = c.account.name.as_deref().unwrap_or("unknown user");
            let email = c
                .account
                .email
                .as_ref()
                .map(|e| format!(" <{e}>"))
                .unwrap_or_default();
            let summary = format!(
                "Signed in as {who}{email} to {} (cloud id {}).\nScopes: {}\nAccess token valid until {}; {}.\nCredentials: {}",
                c.site_url,
                c.cloud_id,
                c.scopes.join(" "),
                until(c.expires_at),
                if c.refresh_token.is_some() {
                    "it refreshes itself"
                } else {
                    "no refresh token, so sign in again when it expires"
                },
                store.path().display()
            );
            // With --no-browser stdout carries only the URL (scripts read it); the rest is stderr.
            if no_browser {
                eprintln!("{summary}");
            } else {
                println!("{summary}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            append(
                &audit,
                Entry {
                    args,
                    outcome: Outcome::Error,
                    error: Some(e.to_string()),
                    duration_ms: ms(started),
                    ..Entry::event("login")
                },
            )
            .await?;
            match e {
                LoginError::Config(m) => Err(CliError::Usage(m)),
                LoginError::Failed(m) => Err(CliError::Runtime(anyhow::anyhow!(m))),
            }
        }
    }
}

/// `logout`: revokes where the server supports it, then deletes the stored tokens.
pub async fn run_logout(settings: Settings) -> Result<ExitCode, CliError> {
    let audit = AuditLog::open(&settings.audit).context("cannot open the audit log")?;
    let store = CredentialStore::in_dir(&settings.data_dir);
    let started = Instant::now();
    let (lock, creds) = store
        .lock_and_read(std::time::Duration::from_secs(30), CredentialStore::load)
        .await
        .context("cannot read the credential store")?;
    let Some(creds) = creds else {
        drop(lock);
        println!("Not signed in; nothing to forget.");
        return Ok(ExitCode::SUCCESS);
    };
    let trace = CallTrace::new();
    let mut note = "Atlassian has no token revocation endpoint: the app stays listed under your account's Connected apps (id.atlassian.com → Security) until you remove it there".to_string();
    if let Some(oauth) = settings.oauth.as_ref()
        && let Some(url) = &oauth.revocation_url
    {
        note = revoke(oauth, url, &creds, &trace).await;
    }
    store
        .delete()
        .context("cannot delete the stored credentials")?;
    drop(lock);
    append(
        &audit,
        Entry {
            actor: Some(actor_of(&creds)),
            duration_ms: ms(started),
            upstream: trace.upstream(),
            ..Entry::event("logout")
        },
    )
    .await?;
    println!(
        "Signed out of {}: tokens deleted from {}.\n{note}.",
        creds.site_url,
        store.path().display()
    );
    Ok(ExitCode::SUCCESS)
}

/// RFC 7009 revocation of the refresh token (its family), best effort.
async fn revoke(
    oauth: &OAuthSettings,
    url: &url::Url,
    creds: &Credentials,
    trace: &CallTrace,
) -> String {
    let Some(token) = creds.refresh_token.as_ref().or(Some(&creds.access_token)) else {
        return "nothing to revoke".to_string();
    };
    let Ok(http) = crate::auth::http_client() else {
        return "could not revoke (no HTTP client)".to_string();
    };
    let mut form = vec![
        ("token", token.expose().to_string()),
        ("client_id", oauth.client_id.clone()),
    ];
    if let Some(secret) = &oauth.client_secret {
        form.push(("client_secret", secret.expose().to_string()));
    }
    let started = Instant::now();
    let result = http.post(url.clone()).form(&form).send().await;
    let status = result.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
    trace.record(
        &reqwest::Method::POST,
        url.path(),
        status,
        started.elapsed(),
    );
    match result {
        Ok(r) if r.status().is_success() => {
            "The grant was revoked at the authorization server".to_string()
        }
        Ok(r) => format!(
            "The authorization server refused the revocation ({})",
            r.status()
        ),
        Err(e) => format!("The revocation request failed ({})", e.without_url()),
    }
}

/// `status`: who am I, which site, auth mode, token expiry, policy in force.
pub async fn run_status(settings: Settings) -> Result<ExitCode, CliError> {
    let Some(site) = settings.site.clone() else {
        if settings.upstream.is_some() {
            println!("Site:       none configured (only the upstream MCP server's tools)");
            let healthy = super::upstream::print_status(&settings);
            println!("Policy:     {}", settings.policy.summary());
            println!("Audit log:  {}", settings.audit.path.display());
            return Ok(if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        println!("No Atlassian site configured (see config/example.toml).");
        return Ok(ExitCode::from(1));
    };
    println!(
        "Config:     {}",
        settings
            .config_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(none)".to_string())
    );
    println!(
        "Site:       {} ({})",
        site.url.as_str().trim_end_matches('/'),
        site.deployment.as_str()
    );
    println!("Auth:       {}", site.auth.mode());
    let audit = AuditLog::open(&settings.audit).context("cannot open the audit log")?;
    let api_base = match &settings.oauth {
        Some(o) => o.api_base.clone(),
        None => url::Url::parse(DEFAULT_API_BASE).context("default API base")?,
    };
    let mut healthy = true;
    let tokens = if matches!(site.auth, Auth::OAuth) {
        let (_, oauth) = oauth_settings(&settings)?;
        let store = CredentialStore::in_dir(&settings.data_dir);
        match store.load() {
            Ok(Some(c)) => {
                println!(
                    "Signed in:  {} (account {})",
                    c.account.name.as_deref().unwrap_or("unknown"),
                    c.account.account_id.as_deref().unwrap_or("-")
                );
                println!("Cloud id:   {}", c.cloud_id);
                println!("Scopes:     {}", c.scopes.join(" "));
                println!("Token:      valid until {}", until(c.expires_at));
                println!(
                    "Refresh:    {}",
                    if c.refresh_token.is_some() {
                        "yes (rotating)"
                    } else {
                        "no refresh token"
                    }
                );
            }
            Ok(None) => {
                println!("Signed in:  no — run `atlassian-mcp-bridge login`");
                healthy = false;
            }
            Err(e) => {
                println!("Signed in:  unreadable credentials ({e})");
                healthy = false;
            }
        }
        Some(
            TokenManager::new(oauth, store, Some(audit.clone()))
                .map_err(|e| CliError::Runtime(anyhow::anyhow!(e)))?,
        )
    } else {
        None
    };
    if healthy {
        let api = Api::new(&site, &api_base, tokens.clone(), RetryPolicy::default())
            .map_err(CliError::Usage)?;
        let trace = CallTrace::new();
        match api.current_user(&trace).await {
            Ok(me) => println!(
                "Check:      ok — Atlassian knows you as {}{}",
                me.display_name.as_deref().unwrap_or("unknown"),
                me.email.map(|e| format!(" <{e}>")).unwrap_or_default()
            ),
            Err(e) => {
                println!("Check:      failed — {}", e.user_message());
                healthy = false;
            }
        }
        if let Some(c) = tokens.as_ref().and_then(|t| t.credentials()) {
            println!("Token now:  valid until {}", until(c.expires_at));
        }
    }
    if !super::upstream::print_status(&settings) {
        healthy = false;
    }
    println!("Policy:     {}", settings.policy.summary());
    println!("Audit log:  {}", settings.audit.path.display());
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
