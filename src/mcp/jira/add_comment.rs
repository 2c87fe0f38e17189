//! `jira_add_comment`: a Markdown comment on one issue.
//!
//! When the site cannot be reached before the comment is sent (or with `offline = "always"`),
//! the comment is confirmed and queued in the outbox, which posts it later exactly once
//! (`mcp/outbox/comment.rs`).

use std::sync::Arc;

use rmcp::handler::server::tool::{Extension, InputResponses, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

use super::{admit_existing_issue, issue_key_on};
use crate::mcp::args::non_empty;
use crate::mcp::confirm::confirm;
use crate::mcp::outbox;
use crate::mcp::render::Render;
use crate::mcp::{BridgeServer, CallCx, ToolError};

/// The tool's name (also its outbox entries').
pub(crate) const TOOL: &str = "jira_add_comment";

/// Arguments of `jira_add_comment`.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddCommentArgs {
    /// Issue key, e.g. `ENG-42`.
    pub key: String,
    /// Comment text in Markdown.
    pub body: String,
}

/// Result of `jira_add_comment`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CommentedOut {
    /// The issue.
    pub key: String,
    /// The new comment's id (not yet known when `status` is `queued`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<String>,
    /// Link for people.
    pub url: String,
    /// `queued` when the site could not be reached (or `offline = "always"`): nothing was
    /// sent; the comment waits in the outbox and is posted once, later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The queued write's id (`outbox list`, `outbox drop`), when `status` is `queued`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
}

impl Render for CommentedOut {
    fn render(&self) -> String {
        match (&self.comment_id, &self.operation_id) {
            (None, Some(op)) => format!("{}\nComment on {}\n", outbox::queued_text(op), self.key),
            _ => format!(
                "Comment {} added to {}\n{}\n",
                self.comment_id.as_deref().unwrap_or_default(),
                self.key,
                self.url
            ),
        }
    }
}

#[tool_router(router = jira_add_comment_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "jira_add_comment",
        description = "Add a comment (Markdown) to a Jira issue.",
        annotations(title = "Comment on a Jira issue", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true),
        output_schema = schema_for_output::<CommentedOut>()
    )]
    pub(crate) async fn jira_add_comment(
        &self,
        Parameters(args): Parameters<AddCommentArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
        context: RequestContext<RoleServer>,
        InputResponses(answers): InputResponses,
    ) -> CallToolResponse {
        cx.finish(
            self.add_comment_impl(&cx, &context, answers.as_ref(), args)
                .await,
        )
    }
}

impl BridgeServer {
    async fn add_comment_impl(
        &self,
        cx: &CallCx,
        context: &RequestContext<RoleServer>,
        answers: Option<&rmcp::model::InputResponses>,
        args: AddCommentArgs,
    ) -> Result<CommentedOut, ToolError> {
        let state = self.state();
        let body = non_empty(&args.body, "body")?;
        let key = if self.offline_now() {
            None
        } else {
            match admit_existing_issue(state, &cx.trace, &args.key).await {
                // The issue could not be looked up: nothing was sent, the comment waits.
                Err(e) if self.queue_instead(&e) => None,
                other => Some(other?),
            }
        };
        let Some(key) = key else {
            return self.queue_comment(cx, context, answers, args).await;
        };
        confirm(state, context, answers, &format!("Add a comment to {key}?")).await?;
        let jira = state.api.jira();
        let comment_id = match jira
            .add_comment(&cx.trace, &key, jira.rich_text(body))
            .await
        {
            Ok(id) => id,
            // No connection was made, so nothing was sent (this may be the call's first
            // request): the comment waits in the outbox; the person has just said yes.
            Err(e) if self.queue_unsent(&e) => return self.queue_confirmed(cx, &key, &args),
            Err(e) => return Err(ToolError::naming(&key)(e)),
        };
        cx.touch([key.clone()]);
        Ok(CommentedOut {
            url: state.api.issue_url(&key),
            key,
            comment_id: Some(comment_id),
            status: None,
            operation_id: None,
        })
    }

    /// Checks the key and policy without the site, asks the person, and queues the comment.
    async fn queue_comment(
        &self,
        cx: &CallCx,
        context: &RequestContext<RoleServer>,
        answers: Option<&rmcp::model::InputResponses>,
        args: AddCommentArgs,
    ) -> Result<CommentedOut, ToolError> {
        let state = self.state();
        let key = issue_key_on(state.api.site(), &args.key)?;
        state.policy.admit_issue(&key)?;
        confirm(
            state,
            context,
            answers,
            &format!(
                "Add a comment to {key}? The site cannot be reached now: it is queued and sent once it can."
            ),
        )
        .await?;
        self.queue_confirmed(cx, &key, &args)
    }

    fn queue_confirmed(
        &self,
        cx: &CallCx,
        key: &str,
        args: &AddCommentArgs,
    ) -> Result<CommentedOut, ToolError> {
        let op = uuid::Uuid::new_v4().to_string();
        let args = AddCommentArgs {
            key: key.to_string(),
            body: args.body.clone(),
        };
        self.queue_write(cx, TOOL, &op, &args)?;
        Ok(CommentedOut {
            url: self.state().api.issue_url(key),
            key: key.to_string(),
            comment_id: None,
            status: Some(outbox::QUEUED.to_string()),
            operation_id: Some(op),
        })
    }
}
