//! `sync [--jira KEY]… [--confluence SPACE]… [--full]`: mirrors projects and spaces into the
//! local cache (SPEC §10), with a progress bar on a terminal (plain lines otherwise, both on
//! stderr), a one-line summary on stdout, and one `sync` audit record per scope.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use url::Url;

use super::CliError;
use crate::atlassian::{Api, DEFAULT_API_BASE, RetryPolicy};
use crate::audit::{Actor, AuditLog, Entry, Outcome};
use crate::auth::store::CredentialStore;
use crate::auth::tokens::TokenManager;
use crate::cache::Cache;
use crate::config::{Auth, OfflineMode, Settings, SiteSettings};
use crate::outbox::Outbox;
use crate::policy::Policy;
use crate::sync::{MAX_CHANGED_IDS, Progress, Scope, ScopeReport, SyncError, Syncer};

/// Runs `sync`.
pub async fn run(
    settings: Settings,
    jira: Vec<String>,
    confluence: Vec<String>,
    full: bool,
) -> Result<ExitCode, CliError> {
    let file = config_name(&settings);
    if !settings.cache.enabled {
        return Err(CliError::Usage(format!(
            "{file} turns the local cache off (cache.enabled = false), and sync only fills the cache; set cache.enabled = true to mirror projects and spaces"
        )));
    }
    if settings.cache.offline == OfflineMode::Always {
        return Err(CliError::Usage(format!(
            "cache.offline is \"always\" ({file} or {}), which never contacts the site, and sync needs it; set cache.offline = \"auto\" or run with {}=auto",
            crate::config::OFFLINE_ENV,
            crate::config::OFFLINE_ENV
        )));
    }
    let scopes = plan(&settings, &jira, &confluence)?;
    let site = settings.site.clone().ok_or_else(|| {
        CliError::Usage(format!(
            "no Atlassian site configured: add a [site] section to {file} (see config/example.toml)"
        ))
    })?;
    let audit = AuditLog::open(&settings.audit).context("cannot open the audit log")?;
    let (api, actor) = connect(&settings, &site, &audit)?;
    send_outbox_first(&settings, &site).await;
    let cache = Cache::open(&settings.cache.path, settings.cache.max_bytes)
        .context("cannot open the local cache")?;
    let policy = Policy::new(settings.policy.clone());
    let terminal = std::io::stderr().is_terminal();
    let syncer = Syncer::new(&api, &cache, &policy).with_totals(terminal);
    let started = Instant::now();
    let mut parts = Vec::new();
    let mut failed = Vec::new();
    for scope in &scopes {
        let bar = terminal.then(|| bar_for(scope));
        let shown = bar.clone();
        let show = move |p: &Progress| {
            if let Some(bar) = &shown {
                show_progress(bar, p);
            }
        };
        let result = syncer.sync(scope, full, &show).await;
        let line = match &result {
            Ok(report) => format!(
                "{} in {}",
                scope_text(report, full),
                seconds(report.elapsed)
            ),
            Err(e) => format!("{}: failed: {}", e.scope.key, failure_text(e)),
        };
        match bar {
            Some(bar) => {
                // The scope's line stays on the terminal in place of its bar.
                if let Ok(style) = ProgressStyle::with_template("{msg}") {
                    bar.set_style(style);
                }
                bar.finish_with_message(line);
            }
            None => eprintln!("{line}"),
        }
        audit_scope(&audit, &actor, full, &result).await?;
        match result {
            Ok(report) => parts.push(scope_text(&report, full)),
            Err(e) => {
                parts.push(format!("{}: failed", e.scope.key));
                failed.push(e.scope);
            }
        }
    }
    println!("{} in {}", parts.join(", "), seconds(started.elapsed()));
    // Each failed scope's line on stderr said why.
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Sends the writes queued while offline before mirroring (SPEC §10: sent "by `sync` / `outbox
/// send`"), through the same path as `outbox send`; what became of them goes to stderr. A
/// write that cannot be sent stays queued and never fails the sync.
async fn send_outbox_first(settings: &Settings, site: &SiteSettings) {
    let outbox = Outbox::new(&settings.cache.outbox_dir);
    let queued = match outbox.list() {
        Ok(entries) => entries
            .iter()
            .filter(|e| e.status == crate::outbox::Status::Queued)
            .count(),
        Err(e) => {
            eprintln!("outbox: cannot read the queued writes ({e}); syncing anyway");
            return;
        }
    };
    if queued == 0 {
        return;
    }
    let server = match super::serve::build_server(settings, site, false).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("outbox: {queued} queued writes not sent ({e}); syncing anyway");
            return;
        }
    };
    // Token auth learns the account from the site, so the sends' audit records name it.
    if !matches!(site.auth, Auth::OAuth) {
        let trace = crate::atlassian::CallTrace::new();
        if let Ok(me) = server.state().api.current_user(&trace).await
            && let Ok(mut actor) = server.state().actor.write()
        {
            actor.account_id = me.id;
        }
    }
    let report = server.send_outbox().await;
    for line in super::outbox::report_text(&report).lines() {
        eprintln!("outbox: {line}");
    }
}

/// The scopes to sync: those named on the command line (comma lists allowed), else
/// `[cache].sync_jira_projects` and `sync_confluence_spaces`; none at all is a usage error.
fn plan(
    settings: &Settings,
    jira: &[String],
    confluence: &[String],
) -> Result<Vec<Scope>, CliError> {
    let split = |list: &[String]| -> Vec<String> {
        list.iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (mut projects, mut spaces) = (split(jira), split(confluence));
    if projects.is_empty() && spaces.is_empty() {
        projects = settings.cache.sync_jira_projects.clone();
        spaces = settings.cache.sync_confluence_spaces.clone();
    }
    if projects.is_empty() && spaces.is_empty() {
        return Err(CliError::Usage(format!(
            "nothing to sync: name a project or space (`atlassian-mcp-bridge sync --jira KEY --confluence SPACE`), or list them in cache.sync_jira_projects / cache.sync_confluence_spaces in {}",
            config_name(settings)
        )));
    }
    let mut scopes: Vec<Scope> = Vec::new();
    for key in &projects {
        let ok = key.len() <= 255
            && key.starts_with(|c: char| c.is_ascii_alphabetic())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(CliError::Usage(format!(
                "--jira takes a project key such as ENG, not `{}`",
                crate::sanitize::clean_text(&key.chars().take(60).collect::<String>())
            )));
        }
        scopes.push(Scope::jira(key));
    }
    for key in &spaces {
        let ok = key.len() <= 255
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '~'));
        if !ok {
            return Err(CliError::Usage(format!(
                "--confluence takes a space key such as DOCS or ~username, not `{}`",
                crate::sanitize::clean_text(&key.chars().take(60).collect::<String>())
            )));
        }
        scopes.push(Scope::confluence(key));
    }
    let mut unique = Vec::with_capacity(scopes.len());
    for s in scopes {
        if !unique.contains(&s) {
            unique.push(s);
        }
    }
    Ok(unique)
}

/// The client for the configured site, as `serve` builds it, and the actor audit records name.
fn connect(
    settings: &Settings,
    site: &SiteSettings,
    audit: &AuditLog,
) -> Result<(Api, Actor), CliError> {
    let api_base = match &settings.oauth {
        Some(o) => o.api_base.clone(),
        None => Url::parse(DEFAULT_API_BASE)
            .map_err(|e| CliError::Runtime(anyhow::anyhow!("default API base: {e}")))?,
    };
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
    let mut actor = crate::mcp::initial_actor(&api, site.auth.mode());
    if let Some(c) = tokens.as_ref().and_then(|t| t.credentials()) {
        actor.account_id = c.account.account_id;
    }
    Ok((api, actor))
}

/// One `sync` record for a scope: its arguments, outcome, requests and what changed.
async fn audit_scope(
    audit: &AuditLog,
    actor: &Actor,
    full: bool,
    result: &Result<ScopeReport, SyncError>,
) -> Result<(), CliError> {
    let (scope, outcome, error, upstream, elapsed, touched) = match result {
        Ok(r) => (
            &r.scope,
            Outcome::Ok,
            None,
            r.upstream.clone(),
            r.elapsed,
            // Every changed key, unless there were too many to list.
            if r.changed as usize <= MAX_CHANGED_IDS {
                r.changed_ids.clone()
            } else {
                Vec::new()
            },
        ),
        Err(e) => (
            &e.scope,
            if e.is_denied() {
                Outcome::Denied
            } else {
                Outcome::Error
            },
            Some(failure_text(e)),
            e.upstream.clone(),
            e.elapsed,
            Vec::new(),
        ),
    };
    let mut args = serde_json::Map::new();
    args.insert(scope.kind.as_str().to_string(), scope.key.clone().into());
    args.insert("full".to_string(), full.into());
    audit
        .append(Entry {
            actor: Some(actor.clone()),
            args: Some(serde_json::Value::Object(args)),
            outcome,
            error,
            duration_ms: elapsed.as_secs_f64() * 1000.0,
            upstream,
            touched,
            ..Entry::event("sync")
        })
        .await
        .context("cannot write the sync audit record")?;
    Ok(())
}

/// `ENG: 4,812 issues (37 changed)`, with `, 2 removed` after `--full`.
fn scope_text(r: &ScopeReport, full: bool) -> String {
    let removed = if full {
        format!(", {} removed", thousands(r.removed))
    } else {
        String::new()
    };
    format!(
        "{}: {} {} ({} changed{removed})",
        r.scope.key,
        thousands(r.held),
        r.scope.kind.noun(),
        thousands(r.changed)
    )
}

/// Why a scope failed, with what to do about it and what became of the cache.
fn failure_text(e: &SyncError) -> String {
    let kept = if e.changed == 0 {
        "the cache was left as it was".to_string()
    } else {
        format!(
            "the {} {} fetched before that stay cached, and the next sync resumes from there",
            thousands(e.changed),
            e.scope.kind.noun()
        )
    };
    if e.is_denied() {
        format!("refused: {}; nothing of it is cached", e.failure)
    } else {
        format!("{}; {kept}", e.failure)
    }
}

fn bar_for(scope: &Scope) -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        bar.set_style(style);
    }
    bar.set_message(format!("{} {}", scope.key, scope.kind.noun()));
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// "ENG issues 1,200/4,812" (or without the total when the site gave none).
fn show_progress(bar: &ProgressBar, p: &Progress) {
    let of = p
        .total
        .map(|t| format!("/{}", thousands(t.max(p.listed))))
        .unwrap_or_default();
    bar.set_message(format!(
        "{} {} {}{of}",
        p.scope.key,
        p.scope.kind.noun(),
        thousands(p.listed)
    ));
}

/// `4,812`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `4.1 s`.
fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The config file's name for messages.
fn config_name(settings: &Settings) -> String {
    settings
        .config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "config.toml".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::ScopeKind;

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(4_812), "4,812");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn scope_lines_say_count_changes_and_removals() {
        let report = ScopeReport {
            scope: Scope::jira("eng"),
            held: 4812,
            listed: 40,
            changed: 37,
            removed: 2,
            changed_ids: Vec::new(),
            upstream: Vec::new(),
            elapsed: Duration::from_millis(4100),
        };
        assert_eq!(scope_text(&report, false), "ENG: 4,812 issues (37 changed)");
        assert_eq!(
            scope_text(&report, true),
            "ENG: 4,812 issues (37 changed, 2 removed)"
        );
        let report = ScopeReport {
            scope: Scope::confluence("DOCS"),
            held: 612,
            changed: 3,
            ..report
        };
        assert_eq!(scope_text(&report, false), "DOCS: 612 pages (3 changed)");
        assert_eq!(seconds(Duration::from_millis(4100)), "4.1 s");
    }

    #[test]
    fn kinds_name_their_items() {
        assert_eq!(ScopeKind::Jira.noun(), "issues");
        assert_eq!(ScopeKind::Confluence.as_str(), "confluence");
    }
}
