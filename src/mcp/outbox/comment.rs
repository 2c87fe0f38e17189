//! Sending a queued `jira_add_comment` exactly once.
//!
//! Comments carry no marker, so before the first send the comments already on the issue by
//! this user with the same text are noted (`seen`); a send whose answer was lost is then
//! settled by looking for such a comment that is not one of them.

use serde_json::{Value, json};

use super::single::{self, Opened};
use super::{Attempt, api_attempt, error_attempt, parse_args};
use crate::atlassian::{ApiError, CallTrace};
use crate::convert;
use crate::mcp::args::non_empty;
use crate::mcp::bulk::{fingerprint, in_doubt, unknown_outcome};
use crate::mcp::jira::add_comment::{AddCommentArgs, TOOL};
use crate::mcp::jira::admit_existing_issue;
use crate::mcp::{BridgeServer, CallCx, State, ToolError};
use crate::outbox::{EntryLock, Outbox, QueuedWrite};

/// How many of the issue's latest comments are searched for a look-alike.
const LOOK_BACK: u32 = 100;

/// Posts the queued comment, unless an earlier try already did.
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
    let args: AddCommentArgs = parse_args(entry)?;
    let fail = |e: ToolError| error_attempt(e, &entry.id);
    let body = non_empty(&args.body, "body").map_err(fail)?;
    // Policy again: the allowlist may have changed since the comment was queued.
    let key = admit_existing_issue(state, &cx.trace, &args.key)
        .await
        .map_err(fail)?;
    let jira = state.api.jira();
    let doc = jira.rich_text(body);
    let mut one = match single::open(
        &state.journal_dir,
        &entry.id,
        TOOL,
        &fingerprint(&(&key, &doc)),
    )? {
        Opened::Finished(result) => return Ok(sent(result)),
        Opened::Run(one) => one,
    };
    let result_of = |comment_id: &str| json!({"key": key, "comment_id": comment_id, "url": state.api.issue_url(&key)});
    if let Some(id) = one.created().and_then(|r| r.id.clone()) {
        return one.finish(result_of(&id)).map(sent);
    }
    if one.in_doubt() || entry.seen.is_none() {
        let found = look_alikes(state, &cx.trace, &key, &doc)
            .await
            .map_err(|e| api_attempt(&e))?;
        let before = entry.seen.clone().unwrap_or_default();
        if one.in_doubt()
            && let Some(id) = found.iter().find(|id| !before.contains(id))
        {
            one.settle(single::created(Some(key.clone()), id.clone()))?;
            return one.finish(result_of(id)).map(sent);
        }
        if entry.seen.is_none() {
            let mut noted = entry.clone();
            noted.seen = Some(found);
            outbox
                .update(lock, &noted)
                .map_err(|e| Attempt::waiting(e.to_string()))?;
        }
    }
    one.sending()?;
    match jira.add_comment(&cx.trace, &key, doc).await {
        Ok(id) => {
            one.settle(single::created(Some(key.clone()), id.clone()))?;
            one.finish(result_of(&id)).map(sent)
        }
        Err(e) if in_doubt(&e) => Ok(Attempt::Waiting {
            reason: unknown_outcome(&e),
            // No connection at all: the site is down, stop the run. A connection dropped
            // after the request went out says nothing about the next write.
            unreachable: super::never_sent(&e),
        }),
        Err(e) => {
            let attempt = fail(ToolError::naming(&key)(e));
            if let Attempt::Refused { reason, .. } = &attempt {
                one.settle(single::failed(reason.clone()))?;
            }
            Ok(attempt)
        }
    }
}

fn sent(result: Value) -> Attempt {
    let touched = result["key"]
        .as_str()
        .map(String::from)
        .into_iter()
        .collect();
    Attempt::Sent { result, touched }
}

/// Ids of the issue's latest comments by this user whose text is `doc`'s.
async fn look_alikes(
    state: &State,
    trace: &CallTrace,
    key: &str,
    doc: &Value,
) -> Result<Vec<String>, ApiError> {
    let me = my_id(state, trace).await;
    let want = normalize(&markdown_of(doc));
    let comments = state
        .api
        .jira()
        .latest_comments(trace, key, LOOK_BACK)
        .await?;
    Ok(comments
        .comments
        .into_iter()
        .filter(|c| me.is_none() || c.author.as_ref().and_then(|a| a.id.as_ref()) == me.as_ref())
        .filter(|c| {
            c.body
                .as_ref()
                .is_some_and(|b| normalize(&b.to_markdown()) == want)
        })
        .filter_map(|c| c.id)
        .collect())
}

/// The signed-in user's id: from the audit actor, else asked once and remembered there.
async fn my_id(state: &State, trace: &CallTrace) -> Option<String> {
    if let Some(id) = state.actor.read().ok().and_then(|a| a.account_id.clone()) {
        return Some(id);
    }
    let id = state.api.current_user(trace).await.ok()?.id?;
    if let Ok(mut actor) = state.actor.write() {
        actor.account_id = Some(id.clone());
    }
    Some(id)
}

/// What was sent (ADF or wiki markup) read back as Markdown, like a comment read from the site.
fn markdown_of(doc: &Value) -> String {
    match doc {
        Value::String(wiki) => convert::wiki_to_markdown(wiki),
        adf => convert::adf_to_markdown(adf),
    }
}

fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
