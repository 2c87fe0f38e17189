//! `jira_create_issue`: one issue, validated against the project's create screen before it is
//! sent; Markdown description → ADF (Cloud) or wiki markup (Data Center).
//!
//! When the site cannot be reached before anything is sent (or with `offline = "always"`),
//! the issue is checked as far as it can be without the site, confirmed, and queued in the
//! outbox; the outbox later sends it as a one-item `jira_bulk_create_issues` under the queued
//! operation id, so it is created exactly once.

use std::sync::Arc;

use rmcp::handler::server::tool::{Extension, InputResponses, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, schemars, tool, tool_router};
use serde::Serialize;

use super::issue_input::{IssueInput, MetaCache, check_offline, prepare};
use crate::mcp::confirm::confirm;
use crate::mcp::outbox;
use crate::mcp::render::{Render, one_line};
use crate::mcp::{BridgeServer, CallCx, ToolError};

/// Result of `jira_create_issue`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CreatedOut {
    /// The new issue's key (not yet known when `status` is `queued`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The new issue's id (not yet known when `status` is `queued`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Link for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Summary as sent.
    pub summary: String,
    /// `queued` when the site could not be reached (or `offline = "always"`): nothing was
    /// sent; it waits in the outbox and is created once, later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The queued write's id (`outbox list`, `outbox drop`), when `status` is `queued`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
}

impl Render for CreatedOut {
    fn render(&self) -> String {
        match (&self.key, &self.operation_id) {
            (None, Some(op)) => format!(
                "{}\nIssue: {}\n",
                outbox::queued_text(op),
                one_line(&self.summary)
            ),
            _ => format!(
                "Created {}: {}\n{}\n",
                self.key.as_deref().unwrap_or_default(),
                one_line(&self.summary),
                self.url.as_deref().unwrap_or_default()
            ),
        }
    }
}

/// The tool's name (also its outbox entries').
pub(crate) const TOOL: &str = "jira_create_issue";

#[tool_router(router = jira_create_issue_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "jira_create_issue",
        description = "Create one Jira issue. Checked against the project's create screen first (required fields, allowed values by name). Description in Markdown. For many issues use jira_bulk_create_issues.",
        annotations(title = "Create a Jira issue", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true),
        output_schema = schema_for_output::<CreatedOut>()
    )]
    pub(crate) async fn jira_create_issue(
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
        if self.offline_now() {
            return self.queue_issue(cx, context, answers, args).await;
        }
        let mut cache = MetaCache::default();
        let checked = match prepare(state, &cx.trace, &mut cache, &args, Vec::new()).await {
            // Nothing was sent: the site cannot be reached now, so the issue waits for it.
            Err(e) if self.queue_instead(&e) => {
                return self.queue_issue(cx, context, answers, args).await;
            }
            other => other?,
        };
        let issue = match checked {
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
            url: Some(state.api.issue_url(&created.key)),
            key: Some(created.key),
            id: Some(created.id),
            summary,
            status: None,
            operation_id: None,
        })
    }

    /// Checks what can be checked without the site, asks the person, and queues the issue.
    async fn queue_issue(
        &self,
        cx: &CallCx,
        context: &RequestContext<RoleServer>,
        answers: Option<&rmcp::model::InputResponses>,
        args: IssueInput,
    ) -> Result<CreatedOut, ToolError> {
        let state = self.state();
        let problems = check_offline(state, &args)?;
        if !problems.is_empty() {
            return Err(ToolError::Invalid(format!(
                "nothing was sent or queued; fix these and call again: {}",
                problems.join("; ")
            )));
        }
        confirm(
            state,
            context,
            answers,
            &format!(
                "Create a Jira issue in {}: “{}”? The site cannot be reached now: it is queued and sent once it can.",
                args.project.trim().to_ascii_uppercase(),
                one_line(args.summary.trim())
            ),
        )
        .await?;
        let op = uuid::Uuid::new_v4().to_string();
        self.queue_write(cx, TOOL, &op, &args)?;
        Ok(CreatedOut {
            key: None,
            id: None,
            url: None,
            summary: args.summary.trim().to_string(),
            status: Some(outbox::QUEUED.to_string()),
            operation_id: Some(op),
        })
    }
}
