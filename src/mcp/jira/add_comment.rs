//! `jira_add_comment`: a Markdown comment on one issue.

use std::sync::Arc;

use rmcp::handler::server::tool::{Extension, InputResponses, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

use super::admit_existing_issue;
use crate::mcp::args::non_empty;
use crate::mcp::confirm::confirm;
use crate::mcp::render::Render;
use crate::mcp::{BridgeServer, CallCx, ToolError};

/// Arguments of `jira_add_comment`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
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
    /// The new comment's id.
    pub comment_id: String,
    /// Link for people.
    pub url: String,
}

impl Render for CommentedOut {
    fn render(&self) -> String {
        format!(
            "Comment {} added to {}\n{}\n",
            self.comment_id, self.key, self.url
        )
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
    async fn jira_add_comment(
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
        let key = admit_existing_issue(state, &cx.trace, &args.key).await?;
        confirm(state, context, answers, &format!("Add a comment to {key}?")).await?;
        let jira = state.api.jira();
        let comment_id = jira
            .add_comment(&cx.trace, &key, jira.rich_text(body))
            .await
            .map_err(ToolError::naming(&key))?;
        cx.touch([key.clone()]);
        Ok(CommentedOut {
            url: state.api.issue_url(&key),
            key,
            comment_id,
        })
    }
}
