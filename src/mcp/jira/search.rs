//! `jira_search`: one page of compact issue rows for a JQL query.

use std::fmt::Write as _;
use std::sync::Arc;

use rmcp::handler::server::tool::{Extension, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::{schemars, tool, tool_router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{user_name, value_text};
use crate::atlassian::jira::Issue;
use crate::mcp::args::{bounded_paged, opt_u32};
use crate::mcp::render::{Render, clip, day, one_line};
use crate::mcp::{BridgeServer, CallCx, ToolError};

/// Arguments of `jira_search`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// JQL query, e.g. `project = ENG AND status != Done ORDER BY updated DESC`. Must restrict
    /// something (Jira rejects a bare ORDER BY).
    pub jql: String,
    /// Extra field ids to return besides the defaults (summary, status, type, priority,
    /// assignee, updated, due, labels, parent), e.g. `["reporter","customfield_10016"]`.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Issues per page, 1–100 (default 20).
    #[serde(default, deserialize_with = "opt_u32")]
    pub max_results: Option<u32>,
    /// `next_page_token` from the previous page; omit for the first page.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// One issue in a search result.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct IssueRow {
    /// Issue key.
    pub key: String,
    /// Summary.
    pub summary: String,
    /// Status name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Issue type.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub issue_type: Option<String>,
    /// Priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Assignee display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Last update (Jira timestamp).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// Due date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// Labels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Parent issue key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Extra requested fields, simplified to text.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub fields: serde_json::Map<String, Value>,
}

/// Result of `jira_search`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SearchOut {
    /// Issues on this page.
    pub issues: Vec<IssueRow>,
    /// Pass back as `next_page_token` for the next page; null on the last page.
    pub next_page_token: Option<String>,
    /// True when there are no more pages.
    pub is_last: bool,
    /// Total matches (Data Center only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// The JQL actually sent (after policy confinement).
    pub jql: String,
}

impl Render for SearchOut {
    fn render(&self) -> String {
        let mut out = String::with_capacity(64 + self.issues.len() * 120);
        let n = self.issues.len();
        let _ = write!(out, "{n} issue{}", if n == 1 { "" } else { "s" });
        if let Some(t) = self.total {
            let _ = write!(out, " of {t}");
        }
        match &self.next_page_token {
            Some(t) => {
                let _ = writeln!(out, "; more: next_page_token=\"{t}\"");
            }
            None => out.push_str("; last page\n"),
        }
        for i in &self.issues {
            let _ = write!(
                out,
                "{} | {} | {} | {} | {}",
                i.key,
                i.issue_type.as_deref().unwrap_or("-"),
                i.status.as_deref().unwrap_or("-"),
                i.priority.as_deref().unwrap_or("-"),
                i.assignee.as_deref().unwrap_or("unassigned"),
            );
            if let Some(u) = &i.updated {
                let _ = write!(out, " | upd {}", day(u));
            }
            if let Some(d) = &i.due {
                let _ = write!(out, " | due {}", day(d));
            }
            let _ = write!(out, " | {}", clip(&one_line(&i.summary), 140));
            if let Some(p) = &i.parent {
                let _ = write!(out, " (parent {p})");
            }
            if !i.labels.is_empty() {
                let _ = write!(out, " [{}]", i.labels.join(", "));
            }
            for (k, v) in &i.fields {
                let _ = write!(out, " | {k}: {}", clip(&one_line(&value_text(v)), 80));
            }
            out.push('\n');
        }
        out
    }
}

fn row(issue: Issue) -> IssueRow {
    IssueRow {
        key: issue.key,
        summary: issue.summary.unwrap_or_default(),
        status: issue.status,
        issue_type: issue.issue_type,
        priority: issue.priority,
        assignee: user_name(&issue.assignee),
        updated: issue.updated,
        due: issue.due,
        labels: issue.labels,
        parent: issue.parent,
        fields: issue
            .extra
            .into_iter()
            .map(|(k, v)| (k, Value::String(clip(&value_text(&v), 2000))))
            .collect(),
    }
}

#[tool_router(router = jira_search_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "jira_search",
        description = "Search Jira issues with JQL. Returns one page of compact rows (key, type, status, priority, assignee, updated, due, summary) and a next_page_token.",
        annotations(title = "Search Jira issues", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<SearchOut>()
    )]
    async fn jira_search(
        &self,
        Parameters(args): Parameters<SearchArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
    ) -> CallToolResponse {
        cx.finish(self.search_impl(&cx, args).await)
    }
}

impl BridgeServer {
    async fn search_impl(&self, cx: &CallCx, args: SearchArgs) -> Result<SearchOut, ToolError> {
        let state = self.state();
        let max = bounded_paged(
            args.max_results,
            20,
            100,
            "max_results",
            "pass the returned next_page_token as next_page_token",
        )?;
        let jql = state.policy.admit_jql(&args.jql)?;
        let extra: Vec<String> = args
            .fields
            .unwrap_or_default()
            .into_iter()
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect();
        if let Some(bad) = extra.iter().find(|f| {
            !f.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        }) {
            return Err(ToolError::Invalid(format!(
                "`{bad}` is not a field id; use ids like `reporter` or `customfield_10016`"
            )));
        }
        state.policy.admit_search_fields(&extra)?;
        let token = args
            .next_page_token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let page = state
            .api
            .jira()
            .search(&cx.trace, &jql, &extra, max, token)
            .await?;
        // A result outside the allowlist can only come from a misbehaving server (or a query
        // that slipped past the wrapper); with an allowlist, an issue must prove its project.
        let issues: Vec<IssueRow> = page
            .issues
            .into_iter()
            .filter(|i| state.policy.issue_visible(&i.key, i.project_key.as_deref()))
            .map(row)
            .collect();
        cx.touch(issues.iter().map(|i| i.key.clone()));
        Ok(SearchOut {
            is_last: page.next_page_token.is_none(),
            next_page_token: page.next_page_token,
            total: page.total,
            issues,
            jql,
        })
    }
}
