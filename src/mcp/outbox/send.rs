//! Sending what is queued: each entry under its lock, through its tool's own write path,
//! policy checked again, no second confirmation; the outcome recorded in the outbox (sent →
//! removed, refused → `failed`, anything else → still `queued`) and in one `outbox_send`
//! audit record naming the queuing call's record (`origin`).

use std::sync::OnceLock;
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{SendItem, SendOutcome, SendReport, comment, describe, page, unreachable};
use crate::atlassian::ApiError;
use crate::audit::{Entry, Outcome};
use crate::catalog;
use crate::journal::JournalError;
use crate::mcp::bulk::{BulkOut, Caller, is_unknown_outcome};
use crate::mcp::confluence::create_page;
use crate::mcp::jira::bulk_create_issues::{self, BulkCreateArgs};
use crate::mcp::jira::issue_input::IssueInput;
use crate::mcp::jira::{add_comment, create_issue};
use crate::mcp::{BridgeServer, CallCx, ToolError};
use crate::outbox::{EntryLock, Outbox, QueuedWrite, Status};

/// How one try ended, before it is recorded.
pub(super) enum Attempt {
    /// Done; the result to keep, and the keys / ids made.
    Sent { result: Value, touched: Vec<String> },
    /// Refused for good (`denied` when by policy).
    Refused { reason: String, denied: bool },
    /// Not sent (or not known to be): stays queued.
    Waiting { reason: String, unreachable: bool },
    /// Another process holds the operation.
    Busy,
}

impl Attempt {
    /// Not sent, for a reason that may heal (stays queued).
    pub(super) fn waiting(reason: impl Into<String>) -> Self {
        Attempt::Waiting {
            reason: reason.into(),
            unreachable: false,
        }
    }

    /// Refused for good (kept as `failed`).
    pub(super) fn refused(reason: impl Into<String>) -> Self {
        Attempt::Refused {
            reason: reason.into(),
            denied: false,
        }
    }
}

/// Sorts a site's refusal (kept as `failed`) from a failure that may heal (stays queued).
pub(super) fn api_attempt(e: &ApiError) -> Attempt {
    let reason = e.user_message();
    if unreachable(e) {
        return Attempt::Waiting {
            reason,
            unreachable: true,
        };
    }
    match (e, e.status()) {
        (ApiError::MissingScope { .. }, _) => Attempt::refused(reason),
        (ApiError::SignIn(_) | ApiError::RateLimited { .. }, _) => Attempt::waiting(reason),
        (_, Some(401 | 408 | 429)) => Attempt::waiting(reason),
        (_, Some(s)) if (400..500).contains(&s) => Attempt::refused(reason),
        _ => Attempt::waiting(reason),
    }
}

/// A tool's failure as a try's outcome; `op` names the operation (for the journal's "busy").
pub(super) fn error_attempt(e: ToolError, op: &str) -> Attempt {
    match e {
        ToolError::Invalid(m) if m == JournalError::Busy(op.to_string()).to_string() => {
            Attempt::Busy
        }
        // The journal could not be written here: a local problem, not the site's answer.
        ToolError::Invalid(m) if m.starts_with("the write journal ") => Attempt::waiting(m),
        ToolError::Invalid(m) | ToolError::NotFound(m) => Attempt::refused(m),
        ToolError::Denied(m) => Attempt::Refused {
            reason: m,
            denied: true,
        },
        ToolError::Api(a) => api_attempt(&a),
        ToolError::NeedsInput(_) => {
            Attempt::waiting("internal error: a queued write asked for input")
        }
    }
}

/// The entry's arguments as the tool's own type.
pub(super) fn parse_args<T: DeserializeOwned>(entry: &QueuedWrite) -> Result<T, Attempt> {
    serde_json::from_value(entry.args.clone())
        .map_err(|e| Attempt::refused(format!("the queued arguments cannot be read ({e})")))
}

/// One send run at a time in this process.
fn sender() -> &'static tokio::sync::Mutex<()> {
    static SENDER: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    SENDER.get_or_init(|| tokio::sync::Mutex::new(()))
}

impl BridgeServer {
    /// Sends every queued write once, oldest first, and says what became of each. Stops
    /// trying (the rest stay queued) once the site cannot be reached. Waits for a run already
    /// going on in this process; entries another process is sending are skipped.
    pub async fn send_outbox(&self) -> SendReport {
        let _one = sender().lock().await;
        let state = self.state();
        if self.offline_now() {
            return SendReport {
                items: Vec::new(),
                not_run: Some(
                    "cache.offline is \"always\" (config or ATLASSIAN_MCP_BRIDGE_OFFLINE): the site is never contacted, so nothing was sent".into(),
                ),
            };
        }
        let outbox = Outbox::new(&state.outbox_dir);
        let entries = match outbox.list() {
            Ok(e) => e,
            Err(e) => {
                return SendReport {
                    items: Vec::new(),
                    not_run: Some(e.to_string()),
                };
            }
        };
        let mut report = SendReport::default();
        let mut offline: Option<String> = None;
        for entry in entries.into_iter().filter(|e| e.status == Status::Queued) {
            let (target, summary) = describe(&entry);
            let outcome = match &offline {
                Some(why) => SendOutcome::Waiting(format!("not tried: {why}")),
                None => {
                    let (outcome, unreachable) = self.send_entry(&outbox, entry.clone()).await;
                    if unreachable && let SendOutcome::Waiting(why) = &outcome {
                        offline = Some(why.clone());
                    }
                    outcome
                }
            };
            report.items.push(SendItem {
                id: entry.id,
                tool: entry.tool,
                target,
                summary,
                outcome,
            });
        }
        report
    }

    /// Sends one entry under its lock, records the outcome in the outbox and the audit log;
    /// the flag is true when the site could not be reached.
    async fn send_entry(&self, outbox: &Outbox, entry: QueuedWrite) -> (SendOutcome, bool) {
        let lock = match outbox.lock(&entry.id) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                return (
                    SendOutcome::Skipped("another process is sending it right now".into()),
                    false,
                );
            }
            Err(e) => return (SendOutcome::Waiting(e.to_string()), false),
        };
        // Read again under the lock: another process may have sent or dropped it meanwhile.
        let entry = match outbox.get(&entry.id) {
            Ok(Some(e)) if e.status == Status::Queued => e,
            Ok(_) => {
                outbox.unlock(lock);
                return (
                    SendOutcome::Skipped("already sent or dropped".into()),
                    false,
                );
            }
            Err(e) => return (SendOutcome::Waiting(e.to_string()), false),
        };
        let site = self.state().api.site().as_str();
        if entry.site != site {
            return (
                SendOutcome::Skipped(format!(
                    "queued for {}, but this server is connected to {site}; drop it or connect to that site",
                    entry.site
                )),
                false,
            );
        }
        let started = Instant::now();
        let cx = CallCx::default();
        let admitted = catalog::find(&entry.tool)
            .ok_or_else(|| format!("`{}` is not a tool of this build", entry.tool))
            .and_then(|info| self.state().policy.admit_tool(info));
        let attempt = match admitted {
            Err(reason) => Attempt::Refused {
                reason,
                denied: true,
            },
            Ok(()) => self.attempt(&cx, outbox, &lock, &entry).await,
        };
        self.settle(outbox, lock, entry, &cx, attempt, started)
            .await
    }

    /// Runs the entry's write through its tool's own code.
    async fn attempt(
        &self,
        cx: &CallCx,
        outbox: &Outbox,
        lock: &EntryLock,
        entry: &QueuedWrite,
    ) -> Attempt {
        match entry.tool.as_str() {
            create_issue::TOOL => {
                let input: IssueInput = match parse_args(entry) {
                    Ok(i) => i,
                    Err(a) => return a,
                };
                let args = BulkCreateArgs {
                    issues: vec![input],
                    dry_run: None,
                    operation_id: Some(entry.id.clone()),
                };
                match self.bulk_issues_impl(cx, Caller::Outbox, args).await {
                    Ok(out) => self.bulk_attempt(out, true),
                    Err(e) => error_attempt(e, &entry.id),
                }
            }
            bulk_create_issues::TOOL => {
                let args: BulkCreateArgs = match parse_args(entry) {
                    Ok(a) => a,
                    Err(a) => return a,
                };
                let args = BulkCreateArgs {
                    dry_run: None,
                    operation_id: Some(entry.id.clone()),
                    ..args
                };
                match self.bulk_issues_impl(cx, Caller::Outbox, args).await {
                    Ok(out) => self.bulk_attempt(out, false),
                    Err(e) => error_attempt(e, &entry.id),
                }
            }
            add_comment::TOOL => comment::send(self, cx, outbox, lock, entry).await,
            create_page::TOOL => page::send(self, cx, outbox, lock, entry).await,
            other => Attempt::refused(format!("`{other}` writes cannot be sent from the outbox")),
        }
    }

    /// A bulk result as a try's outcome: all created → sent; anything in doubt → still
    /// queued (the journal finds it next time); refused items → failed, naming them.
    fn bulk_attempt(&self, out: BulkOut, single: bool) -> Attempt {
        let touched: Vec<String> = out
            .items
            .iter()
            .filter_map(|i| i.key.clone().or_else(|| i.id.clone()))
            .collect();
        if out.complete {
            let result = match (single, out.items.first()) {
                (true, Some(item)) => json!({
                    "key": item.key,
                    "id": item.id,
                    "url": item.key.as_deref().map(|k| self.state().api.issue_url(k)),
                }),
                _ => serde_json::to_value(&out).unwrap_or(Value::Null),
            };
            return Attempt::Sent { result, touched };
        }
        if let Some(doubt) = out
            .items
            .iter()
            .find(|i| is_unknown_outcome(i) || i.status == "skipped")
        {
            return Attempt::waiting(doubt.error.clone().unwrap_or_else(|| "not sent".into()));
        }
        let failed: Vec<String> = out
            .items
            .iter()
            .filter(|i| i.status != "created")
            .map(|i| {
                let why = i.error.as_deref().unwrap_or("failed");
                if single {
                    why.to_string()
                } else {
                    format!("#{}: {why}", i.index)
                }
            })
            .collect();
        let mut reason = failed.join(" | ");
        if !single && !touched.is_empty() {
            reason = format!("{reason} (created: {})", touched.join(", "));
        }
        Attempt::refused(reason)
    }

    /// Records a try in the outbox and, unless another process had it, in the audit log.
    async fn settle(
        &self,
        outbox: &Outbox,
        lock: EntryLock,
        entry: QueuedWrite,
        cx: &CallCx,
        attempt: Attempt,
        started: Instant,
    ) -> (SendOutcome, bool) {
        // The entry as it is now (a try may have recorded what it saw at the site).
        let current = outbox.get(&entry.id).ok().flatten().unwrap_or(entry);
        let (tool, args, origin) = (
            current.tool.clone(),
            current.args.clone(),
            current.record.clone(),
        );
        let (outcome, unreachable, audit, error, touched, result_bytes) = match attempt {
            Attempt::Busy => {
                return (
                    SendOutcome::Skipped("another process is sending it right now".into()),
                    false,
                );
            }
            Attempt::Sent { result, touched } => {
                let bytes = serde_json::to_vec(&result)
                    .map(|b| b.len() as u64)
                    .unwrap_or(0);
                if let Err(e) = outbox.mark_sent(lock, current, result) {
                    // The journal has the result: the next run answers from it, sending nothing.
                    tracing::warn!("sent, but the outbox entry could not be updated: {e}");
                }
                (
                    SendOutcome::Sent(touched.clone()),
                    false,
                    Outcome::Ok,
                    None,
                    touched,
                    bytes,
                )
            }
            Attempt::Refused { reason, denied } => {
                if let Err(e) = outbox.mark_failed(&lock, current, &reason) {
                    tracing::warn!("the outbox entry could not be updated: {e}");
                }
                let audit = if denied {
                    Outcome::Denied
                } else {
                    Outcome::Error
                };
                (
                    SendOutcome::Failed(reason.clone()),
                    false,
                    audit,
                    Some(reason),
                    Vec::new(),
                    0,
                )
            }
            Attempt::Waiting {
                reason,
                unreachable,
            } => {
                if let Err(e) = outbox.mark_retry(&lock, current, &reason) {
                    tracing::warn!("the outbox entry could not be updated: {e}");
                }
                (
                    SendOutcome::Waiting(reason.clone()),
                    unreachable,
                    Outcome::Error,
                    Some(reason),
                    Vec::new(),
                    0,
                )
            }
        };
        let record = Entry {
            actor: self.state().actor.read().ok().map(|a| a.clone()),
            tool: Some(tool),
            args: Some(args),
            outcome: audit,
            error,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            upstream: cx.trace.upstream(),
            touched,
            result_bytes,
            origin: Some(origin),
            offline: false,
            ..Entry::event("outbox_send")
        };
        if let Err(e) = self.state().audit.append(record).await {
            tracing::error!(error = %e, "the audit record of an outbox send could not be written");
        }
        (outcome, unreachable)
    }
}
