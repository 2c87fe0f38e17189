//! Sending a queued `confluence_create_page` exactly once.
//!
//! Titles are unique in a space, so a page is found by its title, as
//! `confluence_bulk_create_pages` finds one after a lost answer; a page that already had the
//! title before the first send is noted (`seen`) so it is never taken for ours.

use serde_json::{Value, json};

use super::single::{self, Opened};
use super::{Attempt, api_attempt, error_attempt, parse_args};
use crate::convert;
use crate::mcp::args::non_empty;
use crate::mcp::bulk::{fingerprint, in_doubt, unknown_outcome};
use crate::mcp::confluence::create_page::{CreatePageArgs, TOOL};
use crate::mcp::confluence::{page_id, target_space};
use crate::mcp::{BridgeServer, CallCx, ToolError};
use crate::outbox::{EntryLock, Outbox, QueuedWrite};

/// Creates the queued page, unless an earlier try already did.
pub(super) async fn send(
    server: &BridgeServer,
    cx: &CallCx,
    outbox: &Outbox,
    lock: &EntryLock,
    entry: &QueuedWrite,
) -> Attempt {
    match run(server, cx, outbox, lock, entry).await {
        Ok(a) | Err(a) => a,
    }
}

async fn run(
    server: &BridgeServer,
    cx: &CallCx,
    outbox: &Outbox,
    lock: &EntryLock,
    entry: &QueuedWrite,
) -> Result<Attempt, Attempt> {
    let state = server.state();
    let args: CreatePageArgs = parse_args(entry)?;
    let fail = |e: ToolError| error_attempt(e, &entry.id);
    let title = non_empty(&args.title, "title").map_err(fail)?;
    let parent = args
        .parent_id
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(page_id)
        .transpose()
        .map_err(fail)?;
    // Policy again (the allowlist may have changed), and the space's id.
    let space = target_space(state, &cx.trace, &args.space)
        .await
        .map_err(fail)?;
    let storage = convert::markdown_to_storage(&args.body);
    let fp = fingerprint(&(&space.key, title, &storage, &parent));
    let mut one = match single::open(&state.journal_dir, &entry.id, TOOL, &fp)? {
        Opened::Finished(result) => return Ok(sent(result)),
        Opened::Run(one) => one,
    };
    if let Some(id) = one.created().and_then(|r| r.id.clone()) {
        return one.finish(json!({"id": id, "title": title})).map(sent);
    }
    let confluence = state.api.confluence();
    if one.in_doubt() || entry.seen.is_none() {
        let found = confluence
            .find_page_by_title(&cx.trace, &space, title)
            .await
            .map_err(|e| api_attempt(&e))?;
        let before = entry.seen.clone().unwrap_or_default();
        if one.in_doubt()
            && let Some(page) = found.as_ref().filter(|p| !before.contains(&p.id))
        {
            one.settle(single::created(None, page.id.clone()))?;
            let result = serde_json::to_value(page).unwrap_or(Value::Null);
            return one.finish(result).map(sent);
        }
        if entry.seen.is_none() {
            let mut noted = entry.clone();
            noted.seen = Some(found.map(|p| p.id).into_iter().collect());
            outbox
                .update(lock, &noted)
                .map_err(|e| Attempt::waiting(e.to_string()))?;
        }
    }
    one.sending()?;
    match confluence
        .create_page(&cx.trace, &space, title, &storage, parent.as_deref())
        .await
    {
        Ok(page) => {
            one.settle(single::created(None, page.id.clone()))?;
            let result = serde_json::to_value(&page).unwrap_or(Value::Null);
            one.finish(result).map(sent)
        }
        Err(e) if in_doubt(&e) => Ok(Attempt::Waiting {
            reason: unknown_outcome(&e),
            // No connection at all: the site is down, stop the run. A connection dropped
            // after the request went out says nothing about the next write.
            unreachable: super::never_sent(&e),
        }),
        Err(e) => {
            let attempt = fail(ToolError::Api(e));
            if let Attempt::Refused { reason, .. } = &attempt {
                one.settle(single::failed(reason.clone()))?;
            }
            Ok(attempt)
        }
    }
}

fn sent(result: Value) -> Attempt {
    let touched = result["id"]
        .as_str()
        .map(String::from)
        .into_iter()
        .collect();
    Attempt::Sent { result, touched }
}
