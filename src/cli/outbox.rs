//! `outbox list|send|drop ID`: writes made while offline, waiting to be sent (SPEC §10).
//!
//! `list` and `drop` read the outbox directory only; `send` builds the server state the way
//! `serve` does ([`super::serve::build_server`], which also leaves its `server_start` record)
//! and sends through the tools' own code ([`crate::mcp::BridgeServer::send_outbox`]).

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{CliError, write_stdout};
use crate::config::{Auth, Settings};
use crate::mcp::outbox::{SendOutcome, SendReport, describe};
use crate::outbox::{Outbox, OutboxError, QueuedWrite};
use crate::sanitize::escape_invisible;

/// The outbox commands.
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Queued writes, and those the site rejected.
    List {
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send every queued write now.
    Send,
    /// Remove one queued write without sending it.
    Drop {
        /// Its id (the operation id `outbox list` shows).
        id: String,
    },
}

/// Runs an outbox command.
pub async fn run(cmd: OutboxCommand, settings: Settings) -> Result<ExitCode, CliError> {
    let outbox = Outbox::new(&settings.cache.outbox_dir);
    match cmd {
        OutboxCommand::List { json } => {
            let entries = outbox.list().map_err(runtime)?;
            let now = time::OffsetDateTime::now_utc();
            let text = if json {
                list_json(&entries, now)
            } else {
                list_text(&entries, now)
            };
            write_stdout(text.as_bytes())
        }
        OutboxCommand::Drop { id } => {
            let entry = outbox.drop(id.trim()).map_err(runtime)?;
            let (target, summary) = describe(&entry);
            write_stdout(
                format!(
                    "dropped {} ({} {target} “{summary}”); it will not be sent\n",
                    entry.id, entry.tool
                )
                .as_bytes(),
            )
        }
        OutboxCommand::Send => send(settings, &outbox).await,
    }
}

fn runtime(e: OutboxError) -> CliError {
    CliError::Runtime(anyhow::anyhow!(e))
}

async fn send(settings: Settings, outbox: &Outbox) -> Result<ExitCode, CliError> {
    let queued = outbox
        .list()
        .map_err(runtime)?
        .into_iter()
        .filter(|e| e.status == crate::outbox::Status::Queued)
        .count();
    if queued == 0 {
        return write_stdout(b"nothing queued; nothing to send\n");
    }
    let Some(site) = settings.site.clone() else {
        return Err(CliError::Usage(
            "no Atlassian site configured: add a [site] section to config.toml to send the queued writes".into(),
        ));
    };
    let server = super::serve::build_server(&settings, &site, false).await?;
    // Token auth learns the account from the site (OAuth credentials already name it), so
    // the audit records of the sends name who sent them.
    if !matches!(site.auth, Auth::OAuth) {
        let trace = crate::atlassian::CallTrace::new();
        if let Ok(me) = server.state().api.current_user(&trace).await
            && let Ok(mut actor) = server.state().actor.write()
        {
            actor.account_id = me.id;
        }
    }
    let report = server.send_outbox().await;
    let text = report_text(&report);
    write_stdout(text.as_bytes())?;
    Ok(if report.all_sent() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What `outbox send` prints: one line per queued write, then the counts.
pub fn report_text(report: &SendReport) -> String {
    let mut out = String::new();
    if let Some(why) = &report.not_run {
        let _ = writeln!(out, "nothing sent: {}", escape_invisible(why));
        return out;
    }
    for item in &report.items {
        let (word, detail) = match &item.outcome {
            SendOutcome::Sent(made) if made.is_empty() => ("sent", String::new()),
            SendOutcome::Sent(made) => ("sent", format!(": {}", made.join(", "))),
            SendOutcome::Failed(why) => ("failed", format!(": {why}")),
            SendOutcome::Waiting(why) => ("queued", format!(" (not sent: {why})")),
            SendOutcome::Skipped(why) => ("skipped", format!(" ({why})")),
        };
        let _ = writeln!(
            out,
            "{word:<8}{}  {} {} “{}”{}",
            item.id,
            item.tool,
            escape_invisible(&item.target),
            escape_invisible(&item.summary),
            escape_invisible(&detail)
        );
    }
    let _ = writeln!(
        out,
        "{} sent, {} failed, {} still queued",
        report.sent(),
        report.failed(),
        report.waiting()
    );
    if report.failed() > 0 {
        out.push_str(
            "failed writes stay in the outbox: `atlassian-mcp-bridge outbox list` shows why, `outbox drop ID` removes one\n",
        );
    }
    out
}

/// Seconds since `queued_at` (0 when it cannot be read).
fn age_secs(entry: &QueuedWrite, now: time::OffsetDateTime) -> i64 {
    time::OffsetDateTime::parse(
        &entry.queued_at,
        &time::format_description::well_known::Rfc3339,
    )
    .map(|t| (now - t).whole_seconds().max(0))
    .unwrap_or(0)
}

/// `45 s`, `20 min`, `5 h`, `3 days`.
fn age_text(secs: i64) -> String {
    match secs {
        ..120 => format!("{secs} s"),
        120..7_200 => format!("{} min", secs / 60),
        7_200..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

fn list_json(entries: &[QueuedWrite], now: time::OffsetDateTime) -> String {
    let mut out = String::new();
    for e in entries {
        let (target, summary) = describe(e);
        let line = json!({
            "id": e.id,
            "tool": e.tool,
            "target": target,
            "summary": summary,
            "queued_at": e.queued_at,
            "age_secs": age_secs(e, now),
            "status": e.status.as_str(),
            "error": e.error,
            "attempts": e.attempts,
            "site": e.site,
            "record": e.record,
        });
        let _ = writeln!(out, "{line}");
    }
    out
}

fn list_text(entries: &[QueuedWrite], now: time::OffsetDateTime) -> String {
    if entries.is_empty() {
        return "the outbox is empty\n".to_string();
    }
    let mut out = String::new();
    for e in entries {
        let (target, summary) = describe(e);
        let _ = writeln!(
            out,
            "{:<7} {}  {} {} “{}”  queued {} ({} ago){}",
            e.status.as_str(),
            e.id,
            e.tool,
            escape_invisible(&target),
            escape_invisible(&summary),
            e.queued_at,
            age_text(age_secs(e, now)),
            match e.attempts {
                0 => String::new(),
                1 => ", 1 try".to_string(),
                n => format!(", {n} tries"),
            }
        );
        if let Some(error) = &e.error {
            let label = if e.status == crate::outbox::Status::Failed {
                "error"
            } else {
                "last try"
            };
            let _ = writeln!(out, "        {label}: {}", escape_invisible(error));
        }
    }
    let queued = entries
        .iter()
        .filter(|e| e.status == crate::outbox::Status::Queued)
        .count();
    let _ = writeln!(
        out,
        "{queued} queued, {} failed; `outbox send` sends the queued ones now, `outbox drop ID` removes one",
        entries.len() - queued
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::outbox::SendItem;

    fn entry(status: crate::outbox::Status, error: Option<&str>) -> QueuedWrite {
        QueuedWrite {
            v: 1,
            id: "op-1".into(),
            tool: "jira_create_issue".into(),
            args: json!({"project": "eng", "issue_type": "Task", "summary": "Fix\nlogin \u{202e}page"}),
            queued_at: "2026-01-01T10:00:00Z".into(),
            record: "rec".into(),
            site: "https://acme.atlassian.net/".into(),
            status,
            error: error.map(String::from),
            result: None,
            attempts: 2,
            seen: None,
        }
    }

    #[test]
    fn list_shows_target_summary_age_status_and_error() {
        let now = time::macros::datetime!(2026-01-01 10:30:00 UTC);
        let text = list_text(
            &[entry(
                crate::outbox::Status::Failed,
                Some("Jira answered 400"),
            )],
            now,
        );
        assert!(text.starts_with("failed  op-1  jira_create_issue ENG “Fix login \\u{202e}page”  queued 2026-01-01T10:00:00Z (30 min ago), 2 tries\n"), "{text}");
        assert!(
            text.contains("        error: Jira answered 400\n"),
            "{text}"
        );
        assert!(text.contains("0 queued, 1 failed"), "{text}");
        assert_eq!(list_text(&[], now), "the outbox is empty\n");
        let line: serde_json::Value = serde_json::from_str(
            list_json(&[entry(crate::outbox::Status::Queued, None)], now).trim(),
        )
        .unwrap();
        assert_eq!(line["status"], "queued");
        assert_eq!(line["age_secs"], 1800);
        assert_eq!(line["target"], "ENG");
    }

    #[test]
    fn send_report_names_each_outcome() {
        let item = |outcome| SendItem {
            id: "op".into(),
            tool: "jira_add_comment".into(),
            target: "ENG-1".into(),
            summary: "hi".into(),
            outcome,
        };
        let report = SendReport {
            items: vec![
                item(SendOutcome::Sent(vec!["ENG-1".into()])),
                item(SendOutcome::Failed("Jira answered 404".into())),
                item(SendOutcome::Waiting("could not reach Jira".into())),
            ],
            not_run: None,
        };
        let text = report_text(&report);
        assert!(
            text.contains("sent    op  jira_add_comment ENG-1 “hi”: ENG-1\n"),
            "{text}"
        );
        assert!(text.contains("failed  op  "), "{text}");
        assert!(
            text.contains(
                "queued  op  jira_add_comment ENG-1 “hi” (not sent: could not reach Jira)"
            ),
            "{text}"
        );
        assert!(text.contains("1 sent, 1 failed, 1 still queued"), "{text}");
        assert!(!report.all_sent());
    }
}
