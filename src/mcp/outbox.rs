//! Writes made while offline (SPEC §10): queueing a write tool's checked arguments in the
//! outbox ([`crate::outbox`]), and sending what is queued through the tools' own write paths,
//! each exactly once, with one `outbox_send` audit record per try.
//!
//! - Queueing: the four write tools ask [`BridgeServer::offline_now`] and
//!   [`BridgeServer::queue_instead`], then [`BridgeServer::queue_write`]; the call's audit
//!   record is marked `offline`.
//! - Sending (`send`: [`BridgeServer::send_outbox`], oldest first, policy checked again, no
//!   second confirmation): `jira_create_issue` as a one-item `jira_bulk_create_issues` and
//!   `jira_bulk_create_issues` as itself, both under the entry's operation id through the bulk
//!   journal; `jira_add_comment` and `confluence_create_page` through a one-write journal of
//!   their own (`comment`, `page`, `single`), which looks at the site before sending again
//!   after a lost answer.
//! - After a call that reached the site, the gate starts [`BridgeServer::send_outbox_in_background`]
//!   and adds [`BridgeServer::outbox_failures_note`] to the result's text.
//!
//! Two processes never send one entry at once (the entry's lock, then the journal's); a send
//! whose answer was lost is found at the site before anything is sent again.

mod comment;
mod page;
mod send;
mod single;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde_json::Value;

use super::confluence::create_page;
use super::jira::bulk_create_issues;
use super::jira::{add_comment, create_issue};
use super::render::{clip, one_line};
use super::{BridgeServer, CallCx, ToolError};
use crate::atlassian::ApiError;
use crate::config::OfflineMode;
use crate::outbox::{Outbox, QueuedWrite, Status};
use send::{Attempt, api_attempt, error_attempt, parse_args};

/// The `status` of a queued write's answer.
pub const QUEUED: &str = "queued";

/// The text a queued write answers with.
pub fn queued_text(operation_id: &str) -> String {
    format!(
        "Queued (offline): will be sent at the next call that reaches the site, or by `atlassian-mcp-bridge outbox send`; operation_id {operation_id}"
    )
}

/// True when no HTTP answer came at all (SPEC §10 "unreachable"): connection refused or
/// reset, DNS failure, timeout. An HTTP error status is never "unreachable".
pub(crate) fn unreachable(e: &ApiError) -> bool {
    e.is_unreachable()
}

/// True when the connection was never made (refused, DNS, TLS), so not a byte of the request
/// was sent: even a write may be queued after it. A timeout or a reset may come after the
/// site received the write, so they are not.
pub(crate) fn never_sent(e: &ApiError) -> bool {
    // `describe_transport_error` (atlassian/http/response.rs) names connect failures so.
    matches!(e, ApiError::Transport { message, timeout: false, .. } if message.starts_with("connection failed"))
}

/// What one queued write came to in a send run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Sent; what the site made (issue keys, comment id, page id).
    Sent(Vec<String>),
    /// Refused by the site or by policy; kept as `failed` with this reason until dropped.
    Failed(String),
    /// Still queued: the site could not be reached, or the outcome is not known yet.
    Waiting(String),
    /// Not tried: another process is sending it, or it was queued for another site.
    Skipped(String),
}

/// One queued write in a send run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendItem {
    /// The entry's id (its operation id).
    pub id: String,
    /// The tool that was called.
    pub tool: String,
    /// Where it goes (`ENG`, `ENG-42`, a space key).
    pub target: String,
    /// What it is (a summary, a title, the start of a comment).
    pub summary: String,
    /// What happened.
    pub outcome: SendOutcome,
}

/// What a send run did, for `outbox send` and the logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    /// One item per queued write looked at, oldest first.
    pub items: Vec<SendItem>,
    /// Why nothing was tried at all (`offline = "always"`, an unreadable outbox).
    pub not_run: Option<String>,
}

impl SendReport {
    fn count(&self, f: impl Fn(&SendOutcome) -> bool) -> usize {
        self.items.iter().filter(|i| f(&i.outcome)).count()
    }

    /// Writes sent in this run.
    pub fn sent(&self) -> usize {
        self.count(|o| matches!(o, SendOutcome::Sent(_)))
    }

    /// Writes refused in this run.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, SendOutcome::Failed(_)))
    }

    /// Writes still queued after this run (the site could not be reached …).
    pub fn waiting(&self) -> usize {
        self.count(|o| matches!(o, SendOutcome::Waiting(_)))
    }

    /// True when everything tried was sent (skipped entries are another process's).
    pub fn all_sent(&self) -> bool {
        self.not_run.is_none() && self.failed() == 0 && self.waiting() == 0
    }
}

/// Where a queued write goes and what it is: (`ENG`, `Fix the login page`).
pub fn describe(entry: &QueuedWrite) -> (String, String) {
    let text = |k: &str| {
        entry
            .args
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let short = |s: &str| clip(&one_line(s), 60);
    match entry.tool.as_str() {
        create_issue::TOOL => (
            text("project").trim().to_ascii_uppercase(),
            short(text("summary")),
        ),
        bulk_create_issues::TOOL => {
            let issues = entry.args["issues"].as_array().cloned().unwrap_or_default();
            let projects: BTreeSet<String> = issues
                .iter()
                .filter_map(|i| i["project"].as_str())
                .map(|p| p.trim().to_ascii_uppercase())
                .collect();
            let first = issues
                .first()
                .and_then(|i| i["summary"].as_str())
                .unwrap_or_default();
            let n = issues.len();
            (
                projects.into_iter().collect::<Vec<_>>().join(","),
                format!(
                    "{n} issue{}: {}",
                    if n == 1 { "" } else { "s" },
                    short(first)
                ),
            )
        }
        add_comment::TOOL => (text("key").to_string(), short(text("body"))),
        create_page::TOOL => (text("space").to_string(), short(text("title"))),
        _ => (String::new(), String::new()),
    }
}

/// True while a background send run is under way in this process.
static BACKGROUND: AtomicBool = AtomicBool::new(false);

/// Failed entries already reported in a result's text by this process.
static REPORTED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Clears [`BACKGROUND`] when the background run ends, however it ends.
struct BackgroundDone;

impl Drop for BackgroundDone {
    fn drop(&mut self) {
        BACKGROUND.store(false, Ordering::SeqCst);
    }
}

impl BridgeServer {
    /// True when writes go straight to the outbox (`offline = "always"`: never contact the site).
    pub(crate) fn offline_now(&self) -> bool {
        self.state().offline == OfflineMode::Always
    }

    /// True when a failure before anything was sent means "queue it": the site gave no answer
    /// at all, and `offline` is not `never`.
    pub(crate) fn queue_instead(&self, e: &ToolError) -> bool {
        matches!(e, ToolError::Api(a) if unreachable(a))
            && self.state().offline != OfflineMode::Never
    }

    /// True when a write request itself failed without any connection being made (so it was
    /// never sent), and `offline` is not `never`.
    pub(crate) fn queue_unsent(&self, e: &ApiError) -> bool {
        never_sent(e) && self.state().offline != OfflineMode::Never
    }

    /// Queues a confirmed write under `operation_id` with its checked arguments, and marks
    /// the call's audit record `offline`.
    pub(crate) fn queue_write(
        &self,
        cx: &CallCx,
        tool: &str,
        operation_id: &str,
        args: &impl Serialize,
    ) -> Result<(), ToolError> {
        let state = self.state();
        let args = serde_json::to_value(args).map_err(|e| {
            ToolError::Invalid(format!(
                "internal error: arguments could not be queued ({e})"
            ))
        })?;
        Outbox::new(&state.outbox_dir)
            .queue(
                operation_id,
                tool,
                args,
                cx.record_id(),
                state.api.site().as_str(),
            )
            .map_err(|e| ToolError::Invalid(format!("{e}; nothing was sent or queued")))?;
        cx.mark_offline();
        Ok(())
    }

    /// Starts a send run in the background when something is queued and no run is going on;
    /// returns at once.
    pub fn send_outbox_in_background(&self) {
        if self.offline_now() || BACKGROUND.swap(true, Ordering::SeqCst) {
            return;
        }
        let server = self.clone();
        tokio::spawn(async move {
            let _done = BackgroundDone;
            let outbox = Outbox::new(&server.state().outbox_dir);
            let pending = tokio::task::spawn_blocking(move || outbox.has_queued())
                .await
                .unwrap_or(false);
            if !pending {
                return;
            }
            let report = server.send_outbox().await;
            tracing::info!(
                sent = report.sent(),
                failed = report.failed(),
                waiting = report.waiting(),
                "outbox sent in the background"
            );
        });
    }

    /// A line for a result's text naming queued writes that failed and were not yet reported
    /// by this process, e.g. "1 queued write failed: jira_create_issue ENG (Fix login): …; see
    /// `atlassian-mcp-bridge outbox list`"; `None` when there is nothing new.
    pub fn outbox_failures_note(&self) -> Option<String> {
        let entries = Outbox::new(&self.state().outbox_dir).list().ok()?;
        let mut reported = REPORTED.lock().ok()?;
        let new: Vec<String> = entries
            .iter()
            .filter(|e| e.status == Status::Failed && reported.insert(e.id.clone()))
            .map(|e| {
                let (target, summary) = describe(e);
                format!(
                    "{} {target} ({summary}): {}",
                    e.tool,
                    e.error.as_deref().unwrap_or("refused")
                )
            })
            .collect();
        if new.is_empty() {
            return None;
        }
        Some(format!(
            "{} queued write{} failed: {}; see `atlassian-mcp-bridge outbox list`",
            new.len(),
            if new.len() == 1 { "" } else { "s" },
            new.join("; ")
        ))
    }
}
