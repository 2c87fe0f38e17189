//! `doctor [--json]`: ordered checks, each PASS/WARN/FAIL/SKIP with a one-line fix.
//!
//! The checks run in the order a person would debug a broken setup, and a check whose
//! premise an earlier one disproved is skipped rather than reported as a second failure:
//!
//! 1. `config`: the config file is found and valid (`local`);
//! 2. `credentials`: the auth mode's credentials are present, and an OAuth sign-in is
//!    usable — refreshed once through the normal [`TokenManager`] path only when the access
//!    token has expired (`account`);
//! 3. `site`: every host the bridge talks to answers HTTP, or why not (DNS, refused, TLS,
//!    timeout, status) (`net`);
//! 4. `identity`: whom the credentials belong to (the call `status` makes) (`account`);
//! 5. `scopes`: the granted OAuth scopes cover the tools policy enables (`account`);
//! 6. `upstream`: with `[upstream]`, the upstream MCP server's sign-in is there and the server
//!    lists its tools with it (`upstream`);
//! 7. `audit`: the audit directory and file are writable and the hash chain verifies (`local`);
//! 8. `cache` and `outbox`: the local cache and queued writes (`cache`);
//! 9. `clients`: AI desktop configs that launch this bridge point at this binary (`local`).
//!
//! Doctor writes no audit record of its own and creates no config or credentials. The one
//! record it can cause is the `token_refresh` that the normal token manager appends when an
//! expired access token is refreshed, because a refresh rotates the stored credentials and
//! every rotation belongs in the log. It creates the audit directory when it is missing, and
//! makes existing log files private, as `serve` would.
//!
//! [`TokenManager`]: crate::auth::tokens::TokenManager

mod account;
mod cache;
mod local;
mod net;
mod upstream;

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use super::CliError;
use crate::config::Auth;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Works.
    Pass,
    /// Works, but something will bite later (or needs a look); does not fail the run.
    Warn,
    /// Broken; the run exits 1.
    Fail,
    /// Not checked, because an earlier result makes the check meaningless.
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One check's result: what was found and, for a WARN or FAIL, the one thing to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable id (`config`, `credentials`, `site`, `identity`, `scopes`, `upstream`, `audit`, `cache`, `outbox`, `clients`).
    pub name: &'static str,
    /// The verdict.
    pub status: Status,
    /// What was found, on one line; never a secret.
    pub detail: String,
    /// The fix, for WARN and FAIL.
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Pass, detail.into(), None)
    }

    fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, Status::Warn, detail.into(), Some(fix.into()))
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, Status::Fail, detail.into(), Some(fix.into()))
    }

    fn skip(name: &'static str, why: impl Into<String>) -> Self {
        Self::new(name, Status::Skip, why.into(), None)
    }

    fn new(name: &'static str, status: Status, detail: String, fix: Option<String>) -> Self {
        Self {
            name,
            status,
            detail: one_line(&detail),
            fix: fix.map(|f| one_line(&f)),
        }
    }

    /// True when later checks may build on this one.
    fn usable(&self) -> bool {
        matches!(self.status, Status::Pass | Status::Warn)
    }
}

/// Server text and error chains may carry newlines; a check is one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every check, in order.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True when no check failed (warnings allowed).
    pub ok: bool,
    /// The checks in the order they ran.
    pub checks: Vec<Check>,
}

impl Report {
    fn new(checks: Vec<Check>) -> Self {
        Self {
            ok: !checks.iter().any(|c| c.status == Status::Fail),
            checks,
        }
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The text form: one aligned line per check (a WARN or FAIL adds its fix on the line
    /// below), then a summary line.
    pub fn to_text(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for c in &self.checks {
            out.push_str(&format!(
                "{}  {:<width$}  {}\n",
                c.status.label(),
                c.name,
                c.detail
            ));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("{:<w$}fix: {fix}\n", "", w = width + 8));
            }
        }
        let (pass, warn, fail, skip) = (
            self.count(Status::Pass),
            self.count(Status::Warn),
            self.count(Status::Fail),
            self.count(Status::Skip),
        );
        let verdict = if fail > 0 {
            "fix the failures above, then run `atlassian-mcp-bridge doctor` again"
        } else if warn > 0 {
            "working, with warnings"
        } else {
            "all good"
        };
        out.push_str(&format!(
            "{pass} passed, {warn} warned, {fail} failed, {skip} skipped: {verdict}\n"
        ));
        out
    }
}

/// Runs `doctor`: every check, printed as text or as one JSON object; exit 1 when any failed.
pub async fn run(config: Option<&Path>, json: bool) -> Result<ExitCode, CliError> {
    let report = diagnose(config).await;
    let text = if json {
        let mut s = serde_json::to_string(&report)
            .map_err(|e| CliError::Runtime(anyhow::anyhow!("cannot write the report: {e}")))?;
        s.push('\n');
        s
    } else {
        report.to_text()
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // `doctor | head` closing the pipe early is not a failure of the checks.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(CliError::Runtime(anyhow::anyhow!(
                "cannot print the report: {e}"
            )));
        }
        _ => {}
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs the checks in order; each later check looks at what the earlier ones established.
pub async fn diagnose(config: Option<&Path>) -> Report {
    let mut checks = Vec::with_capacity(7);
    let (config_check, settings) = local::config(config);
    let config_ok = config_check.usable();
    checks.push(config_check);
    let site = settings
        .as_ref()
        .filter(|_| config_ok)
        .and_then(|s| s.site.clone());

    match (&settings, &site) {
        (Some(settings), Some(site)) => {
            let creds = account::credentials(settings, site).await;
            let creds_ok = creds.check.usable();
            checks.push(creds.check.clone());
            let site_check = net::site(settings, site).await;
            let site_ok = site_check.usable();
            checks.push(site_check);
            checks.push(match (creds_ok, site_ok) {
                (true, true) => account::identity(settings, site, creds.tokens.clone()).await,
                (false, _) => Check::skip("identity", "no usable credentials (see credentials)"),
                (true, false) => Check::skip("identity", "the site is unreachable (see site)"),
            });
            checks.push(match &site.auth {
                Auth::OAuth => account::scopes(settings, &creds),
                other => Check::skip(
                    "scopes",
                    format!(
                        "not applicable: {} requests carry the account's own permissions",
                        other.mode()
                    ),
                ),
            });
        }
        _ => {
            let why = "no site configured (see config)";
            for name in ["credentials", "site", "identity", "scopes"] {
                checks.push(Check::skip(name, why));
            }
        }
    }

    checks.push(match &settings {
        Some(settings) => upstream::upstream(settings).await,
        None => Check::skip("upstream", "the config could not be read (see config)"),
    });
    checks.push(match &settings {
        Some(settings) => local::audit(&settings.audit),
        None => Check::skip("audit", "the config could not be read (see config)"),
    });
    checks.push(match &settings {
        Some(settings) => cache::cache(settings),
        None => Check::skip("cache", "the config could not be read (see config)"),
    });
    checks.push(match &settings {
        Some(settings) => cache::outbox(settings),
        None => Check::skip("outbox", "the config could not be read (see config)"),
    });
    checks.push(local::clients());
    Report::new(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_aligned_with_fix_lines_and_a_summary() {
        let report = Report::new(vec![
            Check::pass("config", "ok"),
            Check::fail("credentials", "bad\nthing", "do this"),
            Check::skip("identity", "because"),
        ]);
        assert!(!report.ok);
        let text = report.to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "PASS  config       ok");
        assert_eq!(lines[1], "FAIL  credentials  bad thing");
        assert_eq!(lines[2], "                   fix: do this");
        assert_eq!(lines[3], "SKIP  identity     because");
        assert!(lines[4].starts_with("1 passed, 0 warned, 1 failed, 1 skipped"));
    }

    #[test]
    fn warnings_do_not_fail_and_json_has_the_documented_shape() {
        let report = Report::new(vec![Check::warn("clients", "none", "install")]);
        assert!(report.ok);
        let v = serde_json::to_value(&report).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"ok": true, "checks": [
                {"name": "clients", "status": "warn", "detail": "none", "fix": "install"}
            ]})
        );
    }
}
