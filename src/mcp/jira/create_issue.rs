//! `jira_create_issue`: one issue, validated against the project's create screen before it is
//! sent; Markdown description → ADF (Cloud) or wiki markup (Data Center).

use std::sync::Arc;

use rmcp::handler::server::tool::{Extension, InputResponses, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, schemars, tool, tool_router};
use serde::Serialize;

use super::issue_input::{IssueInput, MetaCache, prepare};
use crate::mcp::confirm::confirm;
use crate::mcp::render::{Render, one_line};
use crate::mcp::{BridgeServer, CallCx, ToolError};

/// Result of `jira_create_issue`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CreatedOut {
    /// The new issue's key.
    pub key: String,
    /// The new issue's id.
    pub id: String,
    /// Link for people.
    pub url: String,
    /// Summary as sent.
    pub summary: String,
}

impl Render for CreatedOut {
    fn render(&self) -> String {
        format!(
            "Created {}: {}\n{}\n",
            self.key,
            one_line(&self.summary),
            self.url
        )
    }
}

#[tool_router(router = jira_create_issue_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "jira_create_issue",
        description = "Create one Jira issue. Checked against the project's create screen first (required fields, allowed values by name). Description in Markdown. For many issues use jira_bulk_create_issues.",
        annotations(title = "Create a Jira issue", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true),
        output_schema = schema_for_output::<CreatedOut>()
    )]
    async fn jira_create_issue(
        &self,
        Parameters(args): Parameters<IssueInput>,
        Extension(cx): Extension<Arc<CallCx>>,
        context: RequestContext<RoleServer>,
        InputResponses(answers): InputResponses,
    ) -> CallToolResponse {
        cx.finish(
            self.create_issue_impl(&cx, &context, answers.as_ref(), args)
                .await,
        )
    }
}

impl BridgeServer {
    async fn create_issue_impl(
        &self,
        cx: &CallCx,
        context: &RequestContext<RoleServer>,
        answers: Option<&rmcp::model::InputResponses>,
        args: IssueInput,
    ) -> Result<CreatedOut, ToolError> {
        let state = self.state();
        let mut cache = MetaCache::default();
        let issue = match prepare(state, &cx.trace, &mut cache, &args, Vec::new()).await? {
            Ok(issue) => issue,
            Err(problems) => {
                return Err(ToolError::Invalid(format!(
                    "nothing was sent; fix these and call again: {}",
                    problems.join("; ")
                )));
            }
        };
        let project = args.project.trim().to_ascii_uppercase();
        let summary = args.summary.trim().to_string();
        confirm(
            state,
            context,
            answers,
            &format!(
                "Create a Jira issue in {project}: “{}”?",
                one_line(&summary)
            ),
        )
        .await?;
        let created = state.api.jira().create_issue(&cx.trace, &issue).await?;
        cx.touch([created.key.clone()]);
        Ok(CreatedOut {
            url: state.api.issue_url(&created.key),
            key: created.key,
            id: created.id,
            summary,
        })
    }
}
