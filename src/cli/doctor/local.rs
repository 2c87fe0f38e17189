//! The checks that need no network: the config file, the audit log, and the AI desktops'
//! configs that launch this bridge.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use super::Check;
use crate::audit::AuditLog;
use crate::audit::reader;
use crate::cli::install::{self, Client, ConfiguredEntry};
use crate::config::{AuditSettings, CONFIG_ENV, HOME_ENV, Locations, Settings};

/// Where the config file was looked for, in words (the brief answer to "which file?").
fn origin(locations: &Locations) -> String {
    let from_env = std::env::var_os(CONFIG_ENV)
        .filter(|v| !v.is_empty())
        .is_some_and(|v| Path::new(&v) == locations.config_file);
    match (locations.explicit, from_env) {
        (true, true) => format!("named by {CONFIG_ENV}"),
        (true, false) => "named by --config".to_string(),
        (false, _) if std::env::var_os(HOME_ENV).is_some_and(|v| !v.is_empty()) => {
            format!("from {HOME_ENV}")
        }
        (false, _) => format!(
            "the platform config directory; neither --config, {CONFIG_ENV} nor {HOME_ENV} is set"
        ),
    }
}

/// Check 1: the config file is found and valid. Returns the settings whenever they could be
/// loaded (even without a `[site]`), so that the audit check can still run.
pub(super) fn config(cli_config: Option<&Path>) -> (Check, Option<Settings>) {
    const NAME: &str = "config";
    let locations = match Locations::discover(cli_config) {
        Ok(l) => l,
        Err(e) => {
            return (
                Check::fail(
                    NAME,
                    e.to_string(),
                    format!("set {HOME_ENV} to the directory that should hold config.toml"),
                ),
                None,
            );
        }
    };
    let file = locations.config_file.display().to_string();
    let settings = match Settings::load(&locations) {
        Ok(s) => s,
        Err(e) => {
            return (
                Check::fail(
                    NAME,
                    e.to_string(),
                    format!(
                        "edit {file} as the message says (config/example.toml describes every key)"
                    ),
                ),
                None,
            );
        }
    };
    let check = match (&settings.config_file, &settings.site) {
        (None, _) => Check::fail(
            NAME,
            format!("no config file: searched {file} ({})", origin(&locations)),
            format!(
                "create {file} with a [site] section (url, auth and its credentials; see config/example.toml)"
            ),
        ),
        (Some(_), None) => Check::fail(
            NAME,
            format!("{file} ({}) has no [site] section", origin(&locations)),
            format!("add [site] with url and auth to {file} (see config/example.toml)"),
        ),
        (Some(_), Some(site)) => Check::pass(
            NAME,
            format!(
                "{file} ({}): {} ({}, auth {})",
                origin(&locations),
                site.url.as_str().trim_end_matches('/'),
                site.deployment.as_str(),
                site.auth.mode()
            ),
        ),
    };
    (check, Some(settings))
}

/// Check 6: the audit log can be appended to (without writing a record), its files are
/// private, and its hash chain verifies, across rotated files.
///
/// Opening the log as `serve` does tightens loose permissions the bridge may change (PASS,
/// saying what was tightened); what it may not change is a WARN with the `chmod` that fixes it.
pub(super) fn audit(settings: &AuditSettings) -> Check {
    const NAME: &str = "audit";
    let path = &settings.path;
    let shown = path.display();
    let writable_fix =
        "make the directory writable for this user, or point `audit.path` at one that is";
    // Creates the directory (0700) when missing and makes existing files private, as `serve`
    // would.
    let log = match AuditLog::open(settings) {
        Ok(log) => log,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("cannot prepare the audit log: {e}"),
                writable_fix,
            );
        }
    };
    if let Err(e) = writable(path) {
        return Check::fail(
            NAME,
            format!("the audit log is not writable: {e}"),
            writable_fix,
        );
    }
    let report = match reader::verify(path) {
        Ok(r) => r,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("the audit log cannot be read: {e}"),
                writable_fix,
            );
        }
    };
    if let Some(f) = &report.failure {
        return Check::fail(
            NAME,
            format!(
                "audit verify failed at {}: {} ({} records verified before it)",
                f.at.compact(),
                f.reason,
                report.records
            ),
            format!(
                "the log was changed after it was written: keep the files for investigation (`atlassian-mcp-bridge audit verify` shows the line), then move {shown}* aside to start a new chain"
            ),
        );
    }
    let torn = report
        .torn
        .as_ref()
        .map(|t| {
            format!(
                "; incomplete last line at {t} (an interrupted write; the next append repairs it)"
            )
        })
        .unwrap_or_default();
    let what = if report.files.is_empty() {
        "no records yet".to_string()
    } else {
        format!(
            "{} verified in {}",
            plural(report.records as usize, "record"),
            plural(report.files.len(), "file")
        )
    };
    let perms = log.permissions();
    let detail = format!("{shown} is writable; {what}{torn}");
    if !perms.loose.is_empty() {
        return Check::warn(
            NAME,
            format!("{detail}; open to other users: {}", perms.summary()),
            perms.fixes(),
        );
    }
    if !perms.tightened.is_empty() {
        return Check::pass(
            NAME,
            format!(
                "{detail}; permissions tightened (other users could read the log): {}",
                perms.summary()
            ),
        );
    }
    Check::pass(NAME, detail)
}

/// Proves that an append could open what it opens, without writing a record and without
/// creating the lock file (whose presence tells `audit verify` that a log was written here):
/// the lock file and the live file for writing when they exist, else a temporary file in the
/// directory.
fn writable(path: &Path) -> Result<(), String> {
    let lock = PathBuf::from(format!("{}.lock", path.display()));
    let mut needs_create = false;
    for file in [&lock, &path.to_path_buf()] {
        match OpenOptions::new().append(true).open(file) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => needs_create = true,
            Err(e) => return Err(format!("{}: {e}", file.display())),
        }
    }
    if needs_create {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        tempfile::tempfile_in(dir)
            .map_err(|e| format!("cannot create files in {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// This binary, as the clients should launch it.
fn this_binary() -> Result<PathBuf, String> {
    std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| format!("cannot find this binary's path: {e}"))
}

/// Where a configured command leads: a path is taken as written (relative to nothing a
/// client would agree on, so only absolute paths resolve), a bare name is looked up on `PATH`.
fn resolve_command(command: &str) -> Option<PathBuf> {
    let path = Path::new(command);
    if path.components().count() > 1 || path.is_absolute() {
        return std::fs::canonicalize(path).ok();
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs).find_map(|dir| {
        let candidate = dir.join(command);
        #[cfg(windows)]
        let candidate = if candidate.extension().is_none() {
            candidate.with_extension("exe")
        } else {
            candidate
        };
        candidate
            .is_file()
            .then(|| std::fs::canonicalize(&candidate).ok())
            .flatten()
    })
}

fn describe(e: &ConfiguredEntry) -> String {
    format!("{} ({} `{}`)", e.client.arg(), e.file.display(), e.name)
}

/// Check 7: every AI desktop entry that launches an `atlassian-mcp-bridge` points at this one.
pub(super) fn clients() -> Check {
    const NAME: &str = "clients";
    let me = match this_binary() {
        Ok(p) => p,
        Err(e) => return Check::warn(NAME, e, "run doctor from the installed binary"),
    };
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut unreadable = Vec::new();
    for client in Client::ALL {
        match install::bridge_entries(client) {
            Ok(entries) => {
                for e in entries {
                    match resolve_command(&e.command) {
                        Some(p) if p == me => good.push(describe(&e)),
                        Some(p) => bad.push((
                            client,
                            format!("{} runs {}, not this binary", describe(&e), p.display()),
                        )),
                        None => bad.push((
                            client,
                            format!("{} runs {}, which does not exist", describe(&e), e.command),
                        )),
                    }
                }
            }
            Err(e) => unreadable.push((client, e)),
        }
    }
    if !bad.is_empty() {
        let fix = bad
            .iter()
            .map(|(c, _)| format!("`atlassian-mcp-bridge install {} --force`", c.arg()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", ");
        let detail = bad
            .into_iter()
            .map(|(_, d)| d)
            .chain(good.iter().map(|g| format!("{g} is this binary")))
            .collect::<Vec<_>>()
            .join("; ");
        return Check::fail(NAME, detail, format!("point them here: run {fix}"));
    }
    if !unreadable.is_empty() {
        let detail = unreadable
            .iter()
            .map(|(_, e)| e.as_str())
            .chain(good.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("; ");
        return Check::warn(
            NAME,
            detail,
            "fix the JSON in that file (the client cannot read it either), then run doctor again",
        );
    }
    if good.is_empty() {
        let names = Client::ALL
            .iter()
            .map(|c| c.arg())
            .collect::<Vec<_>>()
            .join(" | ");
        return Check::warn(
            NAME,
            format!(
                "no AI desktop config launches atlassian-mcp-bridge (this binary: {})",
                me.display()
            ),
            format!("run `atlassian-mcp-bridge install <client>` ({names})"),
        );
    }
    Check::pass(
        NAME,
        format!(
            "this binary ({}) is launched by {}",
            me.display(),
            good.join(", ")
        ),
    )
}

/// `1 record`, `3 records`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
