//! What the two bulk tools share: the result shape (SPEC §9: one item per input, in input
//! order), its text, progress notifications per settled chunk, and opening an operation's
//! journal (a finished operation answers with its recorded result and sends nothing); and
//! [`Caller`], which lets the outbox run a bulk write without a client to ask or to notify.

use std::fmt::Write as _;

use rmcp::RoleServer;
use rmcp::model::{InputResponses, ProgressNotificationParam};
use rmcp::schemars;
use rmcp::service::RequestContext;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::confirm::confirm;
use super::render::Render;
use super::{CallCx, State, ToolError};
use crate::atlassian::ApiError;
use crate::journal::{ItemRecord, Journal, JournalEntry, JournalError, Replay};

/// How many chunks (Jira) or sibling pages (Confluence) are in flight at once.
pub const IN_FLIGHT: usize = 4;

/// What happened to one input item.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BulkItem {
    /// Input index (0-based).
    pub index: usize,
    /// `created`, `failed`, `skipped`, `invalid`; with `dry_run` `valid`; offline `queued`.
    pub status: String,
    /// Issue key, when created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Issue or page id, when created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why it failed, was skipped or is invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl BulkItem {
    /// An item with a status and nothing else.
    pub fn new(index: usize, status: &str) -> Self {
        Self {
            index,
            status: status.to_string(),
            key: None,
            id: None,
            error: None,
        }
    }

    /// The same item with an error message.
    pub fn with_error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }
}

impl From<ItemRecord> for BulkItem {
    fn from(r: ItemRecord) -> Self {
        BulkItem {
            index: r.i,
            status: r.status,
            key: r.key,
            id: r.id,
            error: r.error,
        }
    }
}

/// Result of a bulk tool.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BulkOut {
    /// Pass this again to finish an interrupted call (nothing is created twice).
    pub operation_id: String,
    /// True when nothing was sent (validation only).
    pub dry_run: bool,
    /// Items created.
    pub created: usize,
    /// Items that failed.
    pub failed: usize,
    /// Items not sent (cancelled, or their parent page failed).
    pub skipped: usize,
    /// Items with problems found before sending.
    pub invalid: usize,
    /// True when this call finished or replayed an earlier call with the same id.
    pub resumed: bool,
    /// True when every item is settled, so calling again sends nothing.
    pub complete: bool,
    /// One entry per input item, in input order.
    pub items: Vec<BulkItem>,
    /// With `dry_run`: exactly the request body each valid item would be sent as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<Vec<Value>>,
    /// `queued` when the site could not be reached (or `offline = "always"`): nothing was
    /// sent; the call waits in the outbox under `operation_id` and is sent once, later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl BulkOut {
    /// Counts the items' statuses into a result.
    pub fn new(operation_id: String, dry_run: bool, resumed: bool, items: Vec<BulkItem>) -> Self {
        let count = |s: &str| items.iter().filter(|i| i.status == s).count();
        let (created, failed, skipped, invalid) = (
            count("created"),
            count("failed"),
            count("skipped"),
            count("invalid"),
        );
        let complete = !dry_run && failed == 0 && skipped == 0 && invalid == 0;
        Self {
            operation_id,
            dry_run,
            created,
            failed,
            skipped,
            invalid,
            resumed,
            complete,
            items,
            requests: None,
            status: None,
        }
    }

    /// The answer for a call queued in the outbox: every item `queued`, nothing sent.
    pub fn queued(operation_id: String, total: usize) -> Self {
        let items = (0..total).map(|i| BulkItem::new(i, "queued")).collect();
        let mut out = Self::new(operation_id, false, false, items);
        out.complete = false;
        out.status = Some(crate::mcp::outbox::QUEUED.to_string());
        out
    }
}

impl Render for BulkOut {
    fn render(&self) -> String {
        let mut out = String::new();
        let total = self.items.len();
        if self.status.as_deref() == Some(crate::mcp::outbox::QUEUED) {
            return format!(
                "{} ({total} item{})\n",
                crate::mcp::outbox::queued_text(&self.operation_id),
                if total == 1 { "" } else { "s" }
            );
        }
        if self.dry_run {
            let _ = writeln!(
                out,
                "Dry run (nothing sent): {} of {total} valid, {} invalid",
                total - self.invalid,
                self.invalid
            );
        } else {
            let _ = writeln!(
                out,
                "operation_id {}: {} created, {} failed, {} skipped of {total}{}",
                self.operation_id,
                self.created,
                self.failed,
                self.skipped,
                if self.resumed { " (resumed)" } else { "" }
            );
        }
        let made: Vec<&str> = self
            .items
            .iter()
            .filter_map(|i| i.key.as_deref().or(i.id.as_deref()))
            .collect();
        if !made.is_empty() {
            let _ = writeln!(out, "Created: {}", made.join(", "));
        }
        for i in self.items.iter().filter(|i| i.error.is_some()) {
            let _ = writeln!(
                out,
                "#{} {}: {}",
                i.index,
                i.status,
                i.error.as_deref().unwrap_or_default()
            );
        }
        if !self.dry_run && !self.complete {
            let _ = writeln!(
                out,
                "Call again with operation_id \"{}\" to retry what is not created; nothing is created twice.",
                self.operation_id
            );
        }
        out
    }
}

/// Sends `notifications/progress` (items settled of total) when the request asked for it.
pub async fn progress(context: &RequestContext<RoleServer>, settled: usize, total: usize) {
    if let Some(token) = context.meta.get_progress_token() {
        let p = ProgressNotificationParam::new(token, settled as f64)
            .with_total(total as f64)
            .with_message(format!("{settled} of {total} items settled"));
        let _ = context.peer.notify_progress(p).await;
    }
}

/// The operation id to use: the caller's (checked) or a new one.
pub fn operation_id(given: Option<&str>) -> Result<String, ToolError> {
    match given.map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) if crate::journal::valid_operation_id(id) => Ok(id.to_string()),
        Some(id) => Err(ToolError::Invalid(
            JournalError::BadId(id.chars().take(80).collect()).to_string(),
        )),
        None => Ok(uuid::Uuid::new_v4().to_string()),
    }
}

/// A fingerprint of the items, so an id reused for different items is caught.
pub fn fingerprint(items: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(items).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

/// An operation's open journal and what it recorded.
#[derive(Debug)]
pub struct Operation {
    /// The locked journal.
    pub journal: Journal,
    /// What earlier calls recorded.
    pub replay: Replay,
    /// When the operation first started (RFC 3339).
    pub started: String,
}

/// What opening an operation found.
#[derive(Debug)]
pub enum Opened {
    /// Finished earlier: its recorded result.
    Finished(Box<BulkOut>),
    /// To run (or to go on with).
    Run(Box<Operation>),
}

/// Opens the journal of `operation_id`, checking that it was started for the same items.
pub fn open_operation(
    dir: &std::path::Path,
    operation_id: &str,
    tool: &str,
    items: usize,
    fingerprint: &str,
) -> Result<Opened, ToolError> {
    let (mut journal, entries) =
        Journal::open(dir, operation_id).map_err(|e| ToolError::Invalid(e.to_string()))?;
    let replay = Replay::of(&entries);
    // Nothing sent yet (validation failed, or the person said no): the id may be used again
    // for corrected items.
    let sent_something =
        !replay.settled.is_empty() || !replay.in_doubt.is_empty() || replay.done.is_some();
    let same = |(t, _, n, fp): &(String, String, usize, String)| {
        t == tool && *n == items && fp == fingerprint
    };
    let started = match &replay.begin {
        Some(begin) if same(begin) => begin.1.clone(),
        Some((t, _, n, _)) if sent_something => {
            return Err(ToolError::Invalid(format!(
                "operation_id `{operation_id}` was used for a different {t} call ({n} items); use a new operation_id for new items, or repeat the original items exactly"
            )));
        }
        _ => {
            let started = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            journal
                .append(&JournalEntry::Begin {
                    tool: tool.to_string(),
                    started: started.clone(),
                    items,
                    fingerprint: fingerprint.to_string(),
                })
                .map_err(journal_error)?;
            started
        }
    };
    if let Some(done) = &replay.done
        && let Ok(mut out) = serde_json::from_value::<BulkOut>(done.clone())
    {
        out.resumed = true;
        return Ok(Opened::Finished(Box::new(out)));
    }
    Ok(Opened::Run(Box::new(Operation {
        journal,
        replay,
        started,
    })))
}

/// A journal that cannot be written stops the operation: without it, a crash could duplicate.
pub fn journal_error(e: JournalError) -> ToolError {
    ToolError::Invalid(format!(
        "{e}; stopped so that nothing can be created twice — fix the disk or permissions and call again with the same operation_id"
    ))
}

/// True when a failed write may still have been carried out: no answer arrived (a timeout or
/// a dropped connection) or the server failed. Such items are left "in doubt" in the journal
/// and looked for at the site before they are sent again.
pub fn in_doubt(e: &ApiError) -> bool {
    match e.status() {
        // A success answer too large to read still means the write was carried out.
        None => matches!(e, ApiError::Transport { .. } | ApiError::TooLarge { .. }),
        Some(s) => s >= 500,
    }
}

/// The start of the message for an item whose outcome is unknown.
const UNKNOWN_OUTCOME: &str = "outcome unknown (";

/// The message for an item whose outcome is unknown.
pub fn unknown_outcome(e: &ApiError) -> String {
    format!(
        "{UNKNOWN_OUTCOME}{}); call again with the same operation_id to finish without duplicates",
        e.user_message()
    )
}

/// True for an item left in doubt by this call ([`unknown_outcome`]): not refused, so it may
/// be sent again (the journal looks for it first).
pub fn is_unknown_outcome(item: &BulkItem) -> bool {
    item.status == "failed"
        && item
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with(UNKNOWN_OUTCOME))
}

/// Who runs a bulk write: a live `tools/call` (asks the person, reports progress, stops when
/// the client cancels), or the outbox sending a write the person confirmed when it was queued
/// (no one to ask or notify, never cancelled midway).
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// A `tools/call` from a client.
    Call {
        /// The request (peer, progress token, cancellation).
        context: &'a RequestContext<RoleServer>,
        /// Answers to an earlier input-required round (2026-07-28 lifecycle).
        answers: Option<&'a InputResponses>,
    },
    /// The outbox sending a queued write.
    Outbox,
}

impl Caller<'_> {
    /// Asks the person before the write (a call) or goes ahead (the outbox: asked at queue time).
    pub async fn confirm(&self, state: &State, question: &str) -> Result<(), ToolError> {
        match self {
            Caller::Call { context, answers } => confirm(state, context, *answers, question).await,
            Caller::Outbox => Ok(()),
        }
    }

    /// Reports items settled of total to a client that asked for progress.
    pub async fn progress(&self, settled: usize, total: usize) {
        if let Caller::Call { context, .. } = self {
            progress(context, settled, total).await;
        }
    }

    /// True once the client cancelled the call.
    pub fn cancelled(&self) -> bool {
        match self {
            Caller::Call { context, .. } => context.ct.is_cancelled(),
            Caller::Outbox => false,
        }
    }

    /// True when a write that cannot reach the site may be queued instead (a call; the
    /// outbox itself leaves the entry queued).
    pub fn may_queue(&self) -> bool {
        matches!(self, Caller::Call { .. })
    }
}

/// Locks shared bulk state.
pub fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, ToolError> {
    m.lock()
        .map_err(|_| ToolError::Invalid("internal error: a lock was poisoned".into()))
}

/// Puts together one item per input in input order — created earlier (from the journal),
/// settled in this call, or not sent — and, when nothing is left to do, records the result as
/// the operation's end so a repeat returns it and sends nothing.
pub fn conclude(
    cx: &CallCx,
    operation_id: String,
    resumed: bool,
    total: usize,
    earlier: &BTreeMap<usize, ItemRecord>,
    mut now: BTreeMap<usize, BulkItem>,
    journal: Mutex<Journal>,
) -> Result<BulkOut, ToolError> {
    let items: Vec<BulkItem> = (0..total)
        .map(|i| match earlier.get(&i) {
            Some(r) if r.created() => BulkItem::from(r.clone()),
            _ => now
                .remove(&i)
                .unwrap_or_else(|| BulkItem::new(i, "skipped").with_error("not sent")),
        })
        .collect();
    cx.touch(
        items
            .iter()
            .filter_map(|i| i.key.clone().or_else(|| i.id.clone())),
    );
    let out = BulkOut::new(operation_id, false, resumed, items);
    if out.complete {
        let mut journal = journal
            .into_inner()
            .map_err(|_| ToolError::Invalid("internal error: journal lock poisoned".into()))?;
        let value = serde_json::to_value(&out).unwrap_or(Value::Null);
        journal
            .append(&JournalEntry::Done { result: value })
            .map_err(journal_error)?;
    }
    Ok(out)
}
