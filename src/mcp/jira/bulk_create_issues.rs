//! `jira_bulk_create_issues`: many issues in one call — every item validated first (all problems
//! reported at once), one confirmation, chunks of 50 to Jira's bulk endpoint with a few in
//! flight, progress per chunk, one result per input item in input order, and a journal that
//! lets a call cut short be finished with the same `operation_id` without a single duplicate.
//!
//! When the site cannot be reached while the items are checked (nothing sent yet), or with
//! `offline = "always"`, the call is checked as far as it can be without the site, confirmed,
//! and queued in the outbox under its `operation_id`; the outbox later runs it through this
//! same code ([`Caller::Outbox`]).
//!
//! Every created issue carries the entity property `atlassian-mcp-bridge` =
//! `{"operation_id", "index"}`. When a chunk's answer was lost (crash, timeout, dropped
//! connection), resuming first searches the issues the user created in that project since the
//! operation started and reads that property, so only what is really missing is sent again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use rmcp::handler::server::tool::{Extension, InputResponses, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, schemars, tool, tool_router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::issue_input::{IssueInput, MetaCache, check_offline, prepare};
use crate::atlassian::jira_write::{BULK_MAX, ItemOutcome, MARKER_PROPERTY, NewIssue};
use crate::journal::{ItemRecord, JournalEntry};
use crate::mcp::bulk::{
    BulkItem, BulkOut, Caller, IN_FLIGHT, Opened, conclude, fingerprint, in_doubt, journal_error,
    lock, open_operation, operation_id, unknown_outcome,
};
use crate::mcp::{BridgeServer, CallCx, ToolError};

/// The tool's name (also the journal's and the outbox entry's).
pub(crate) const TOOL: &str = "jira_bulk_create_issues";

/// Arguments of `jira_bulk_create_issues`.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkCreateArgs {
    /// The issues, each like jira_create_issue's arguments; at most policy.max_bulk_items.
    pub issues: Vec<IssueInput>,
    /// Validate and show exactly what would be sent, without sending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Repeat the id of an interrupted call to finish it without duplicates; omit for a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
}

#[tool_router(router = jira_bulk_create_issues_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "jira_bulk_create_issues",
        description = "Create many Jira issues in one call: all items validated first, then sent in chunks of 50 with progress. One result per item. If interrupted, call again with the returned operation_id: only what is missing is created.",
        annotations(title = "Create Jira issues in bulk", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true),
        output_schema = schema_for_output::<BulkOut>()
    )]
    pub(crate) async fn jira_bulk_create_issues(
        &self,
        Parameters(args): Parameters<BulkCreateArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
        context: RequestContext<RoleServer>,
        InputResponses(answers): InputResponses,
    ) -> CallToolResponse {
        let caller = Caller::Call {
            context: &context,
            answers: answers.as_ref(),
        };
        cx.finish(self.bulk_issues_impl(&cx, caller, args).await)
    }
}

/// The marker stamped on item `index` of operation `op`.
fn marker(op: &str, index: usize) -> Value {
    json!({ "operation_id": op, "index": index })
}

/// An item's record from Jira's per-item outcome.
fn record(index: usize, outcome: &ItemOutcome) -> ItemRecord {
    match outcome {
        ItemOutcome::Created(c) => ItemRecord {
            i: index,
            status: "created".into(),
            key: Some(c.key.clone()),
            id: Some(c.id.clone()),
            error: None,
        },
        ItemOutcome::Failed(m) => ItemRecord {
            i: index,
            status: "failed".into(),
            key: None,
            id: None,
            error: Some(m.clone()),
        },
    }
}

impl BridgeServer {
    /// Runs (or resumes) a bulk create for a call or for the outbox (see [`Caller`]).
    pub(crate) async fn bulk_issues_impl(
        &self,
        cx: &CallCx,
        caller: Caller<'_>,
        args: BulkCreateArgs,
    ) -> Result<BulkOut, ToolError> {
        let state = self.state();
        let total = args.issues.len();
        if total == 0 {
            return Err(ToolError::Invalid("issues must not be empty".into()));
        }
        state.policy.admit_bulk(total)?;
        let op = operation_id(args.operation_id.as_deref())?;
        let dry_run = args.dry_run.unwrap_or(false);
        let offline = caller.may_queue() && self.offline_now();
        if offline && dry_run {
            return Err(ToolError::Invalid(
                "a dry run needs the site's create screens, and cache.offline is \"always\": nothing is contacted; call without dry_run to queue the issues".into(),
            ));
        }

        let opened = if dry_run {
            None
        } else {
            let fp = fingerprint(&args.issues);
            match open_operation(&state.journal_dir, &op, TOOL, total, &fp)? {
                Opened::Finished(out) => {
                    cx.touch(out.items.iter().filter_map(|i| i.key.clone()));
                    return Ok(*out);
                }
                Opened::Run(o) => Some(o),
            }
        };
        if offline {
            return self.queue_bulk(cx, caller, args, op).await;
        }

        // Validate every item before anything is sent; report every problem at once.
        let mut cache = MetaCache::default();
        let mut prepared: Vec<Option<NewIssue>> = Vec::with_capacity(total);
        let mut items: Vec<BulkItem> = Vec::with_capacity(total);
        let mut unreachable = false;
        for (i, input) in args.issues.iter().enumerate() {
            let props = vec![(MARKER_PROPERTY.to_string(), marker(&op, i))];
            let checked = match prepare(state, &cx.trace, &mut cache, input, props).await {
                // Nothing is sent while items are checked: a site that cannot be reached
                // now gets the call later, from the outbox.
                Err(e) if caller.may_queue() && !dry_run && self.queue_instead(&e) => {
                    unreachable = true;
                    break;
                }
                other => other?,
            };
            match checked {
                Ok(issue) => {
                    prepared.push(Some(issue));
                    items.push(BulkItem::new(i, "valid"));
                }
                Err(problems) => {
                    prepared.push(None);
                    items.push(BulkItem::new(i, "invalid").with_error(problems.join("; ")));
                }
            }
        }
        if unreachable {
            drop(opened);
            return self.queue_bulk(cx, caller, args, op).await;
        }
        if dry_run {
            let mut out = BulkOut::new(op, true, false, items);
            out.requests = Some(prepared.iter().flatten().map(NewIssue::to_body).collect());
            return Ok(out);
        }
        let invalid: Vec<String> = items
            .iter()
            .filter(|i| i.status == "invalid")
            .map(|i| format!("#{}: {}", i.index, i.error.as_deref().unwrap_or_default()))
            .collect();
        if !invalid.is_empty() {
            return Err(ToolError::Invalid(format!(
                "nothing was sent: {} of {total} items have problems; fix them and call again (a dry_run shows what would be sent): {}",
                invalid.len(),
                invalid.join(" | ")
            )));
        }
        let Some(mut operation) = opened.map(|o| *o) else {
            return Err(ToolError::Invalid("internal error: no journal".into()));
        };
        let resumed = !operation.replay.settled.is_empty() || !operation.replay.in_doubt.is_empty();

        let to_check: BTreeSet<usize> = operation.replay.in_doubt.clone();
        let already: usize = operation
            .replay
            .settled
            .values()
            .filter(|r| r.created())
            .count();
        let pending = total - already;
        if pending > 0 {
            let projects: BTreeSet<String> = args
                .issues
                .iter()
                .map(|i| i.project.trim().to_ascii_uppercase())
                .collect();
            let projects: Vec<String> = projects.into_iter().collect();
            caller
                .confirm(
                    state,
                    &format!(
                        "Create {pending} Jira issue{} in {}?",
                        if pending == 1 { "" } else { "s" },
                        projects.join(", ")
                    ),
                )
                .await?;
        }

        // Items sent before without a recorded answer: find out what Jira has.
        if !to_check.is_empty() {
            let since = time::OffsetDateTime::parse(
                &operation.started,
                &time::format_description::well_known::Rfc3339,
            )
            .map(|t| (time::OffsetDateTime::now_utc() - t).unsigned_abs())
            .unwrap_or(Duration::from_secs(24 * 3600))
                + Duration::from_secs(600);
            let projects: BTreeSet<String> = to_check
                .iter()
                .filter_map(|i| args.issues.get(*i))
                .map(|i| i.project.trim().to_ascii_uppercase())
                .collect();
            let mut found = Vec::new();
            for project in projects {
                for (created, prop) in state
                    .api
                    .jira()
                    .find_marked(&cx.trace, &project, since)
                    .await?
                {
                    let Some(prop) = prop else { continue };
                    if prop.get("operation_id").and_then(Value::as_str) != Some(op.as_str()) {
                        continue;
                    }
                    let Some(index) = prop
                        .get("index")
                        .and_then(Value::as_u64)
                        .and_then(|i| usize::try_from(i).ok())
                    else {
                        continue;
                    };
                    if to_check.contains(&index) {
                        found.push(record(index, &ItemOutcome::Created(created)));
                    }
                }
            }
            let found_set: BTreeSet<usize> = found.iter().map(|r| r.i).collect();
            if !found.is_empty() {
                operation
                    .journal
                    .append(&JournalEntry::Result {
                        items: found.clone(),
                    })
                    .map_err(journal_error)?;
            }
            for r in found {
                operation.replay.settled.insert(r.i, r);
            }
            for i in &to_check {
                if !found_set.contains(i) {
                    operation.replay.in_doubt.remove(i);
                }
            }
        }

        // What still has to be sent, in input order, in chunks of at most 50.
        let send: Vec<usize> = (0..total)
            .filter(|i| {
                !operation
                    .replay
                    .settled
                    .get(i)
                    .is_some_and(ItemRecord::created)
            })
            .collect();
        let chunks: Vec<Vec<usize>> = send.chunks(BULK_MAX).map(<[usize]>::to_vec).collect();
        let journal = Mutex::new(operation.journal);
        let settled_count = Mutex::new(total - send.len());
        let outcomes: Mutex<BTreeMap<usize, BulkItem>> = Mutex::new(BTreeMap::new());
        let jira = state.api.jira();
        let prepared = &prepared;
        let caller = &caller;
        futures::stream::iter(chunks)
            .map(|chunk| {
                let journal = &journal;
                let outcomes = &outcomes;
                let settled_count = &settled_count;
                async move {
                    let mark = |items: Vec<BulkItem>| {
                        if let Ok(mut o) = outcomes.lock() {
                            for item in items {
                                o.insert(item.index, item);
                            }
                        }
                    };
                    if caller.cancelled() {
                        mark(
                            chunk
                                .iter()
                                .map(|i| {
                                    BulkItem::new(*i, "skipped")
                                        .with_error("cancelled before it was sent")
                                })
                                .collect(),
                        );
                        return Ok::<(), ToolError>(());
                    }
                    let body: Vec<NewIssue> =
                        chunk.iter().filter_map(|i| prepared[*i].clone()).collect();
                    lock(journal)?
                        .append(&JournalEntry::Sent {
                            indexes: chunk.clone(),
                        })
                        .map_err(journal_error)?;
                    match jira.bulk_create(&cx.trace, &body).await {
                        Ok(results) => {
                            let records: Vec<ItemRecord> = chunk
                                .iter()
                                .zip(results.iter())
                                .map(|(i, r)| record(*i, r))
                                .collect();
                            lock(journal)?
                                .append(&JournalEntry::Result {
                                    items: records.clone(),
                                })
                                .map_err(journal_error)?;
                            cx.touch(records.iter().filter_map(|r| r.key.clone()));
                            mark(records.into_iter().map(BulkItem::from).collect());
                        }
                        Err(e) if in_doubt(&e) => {
                            let why = unknown_outcome(&e);
                            mark(
                                chunk
                                    .iter()
                                    .map(|i| BulkItem::new(*i, "failed").with_error(why.clone()))
                                    .collect(),
                            );
                        }
                        Err(e) => {
                            let why = e.user_message();
                            let records: Vec<ItemRecord> = chunk
                                .iter()
                                .map(|i| record(*i, &ItemOutcome::Failed(why.clone())))
                                .collect();
                            lock(journal)?
                                .append(&JournalEntry::Result { items: records })
                                .map_err(journal_error)?;
                            mark(
                                chunk
                                    .iter()
                                    .map(|i| BulkItem::new(*i, "failed").with_error(why.clone()))
                                    .collect(),
                            );
                        }
                    }
                    let settled = {
                        let mut n = lock(settled_count)?;
                        *n += chunk.len();
                        *n
                    };
                    caller.progress(settled, total).await;
                    Ok(())
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<Result<(), ToolError>>>()
            .await
            .into_iter()
            .collect::<Result<Vec<()>, ToolError>>()?;

        conclude(
            cx,
            op,
            resumed,
            total,
            &operation.replay.settled,
            outcomes.into_inner().unwrap_or_default(),
            journal,
        )
    }
}

impl BridgeServer {
    /// Checks what can be checked without the site, asks the person, and queues the call in
    /// the outbox under `op`; answers `queued`.
    async fn queue_bulk(
        &self,
        cx: &CallCx,
        caller: Caller<'_>,
        args: BulkCreateArgs,
        op: String,
    ) -> Result<BulkOut, ToolError> {
        let state = self.state();
        let total = args.issues.len();
        let mut problems = Vec::new();
        for (i, input) in args.issues.iter().enumerate() {
            for p in check_offline(state, input)? {
                problems.push(format!("#{i}: {p}"));
            }
        }
        if !problems.is_empty() {
            return Err(ToolError::Invalid(format!(
                "nothing was sent or queued: fix these and call again: {}",
                problems.join(" | ")
            )));
        }
        let projects: BTreeSet<String> = args
            .issues
            .iter()
            .map(|i| i.project.trim().to_ascii_uppercase())
            .collect();
        let projects: Vec<String> = projects.into_iter().collect();
        caller
            .confirm(
                state,
                &format!(
                    "Create {total} Jira issue{} in {}? The site cannot be reached now: {} queued and sent once it can.",
                    if total == 1 { "" } else { "s" },
                    projects.join(", "),
                    if total == 1 { "it is" } else { "they are" }
                ),
            )
            .await?;
        let args = BulkCreateArgs {
            dry_run: None,
            operation_id: Some(op.clone()),
            ..args
        };
        self.queue_write(cx, TOOL, &op, &args)?;
        Ok(BulkOut::queued(op, total))
    }
}
