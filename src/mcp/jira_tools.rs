//! Jira read tools: `jira_search`, `jira_get_issue`, `jira_list_projects`, `jira_get_create_fields`.

use std::fmt::Write as _;
use std::sync::Arc;

use rmcp::handler::server::tool::{Extension, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{schemars, tool, tool_router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::args::{bounded, non_empty, opt_u32};
use super::render::{Render, clip, day, one_line};
use super::{BridgeServer, CallCx, ToolError};
use crate::atlassian::jira::{Issue, IssueInclude, User};
use crate::convert;
use crate::sanitize::clean_text;

// ---------------------------------------------------------------------------------------------
// jira_search
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// jira_get_issue
// ---------------------------------------------------------------------------------------------

/// Extra parts of an issue to include.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncludePart {
    /// Latest comments.
    Comments,
    /// Change history.
    Changelog,
    /// Workflow transitions available now.
    Transitions,
}

/// Arguments of `jira_get_issue`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetIssueArgs {
    /// Issue key, e.g. `ENG-42`.
    pub key: String,
    /// Extra parts to include; default `["comments"]`.
    #[serde(default)]
    pub include: Option<Vec<IncludePart>>,
    /// How many of the latest comments, 1–50 (default 5).
    #[serde(default, deserialize_with = "opt_u32")]
    pub comment_limit: Option<u32>,
}

/// A comment.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CommentOut {
    /// Author.
    pub author: String,
    /// Created (Jira timestamp).
    pub created: Option<String>,
    /// Body as Markdown.
    pub body: String,
}

/// A link to another issue.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LinkOut {
    /// Relation from this issue, e.g. `blocks`.
    pub relation: String,
    /// Other issue key.
    pub key: String,
    /// Other issue status.
    pub status: Option<String>,
    /// Other issue summary.
    pub summary: Option<String>,
}

/// One change-history entry.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ChangeOut {
    /// Who.
    pub author: String,
    /// When.
    pub created: Option<String>,
    /// What changed, as `field: from → to`.
    pub changes: Vec<String>,
}

/// An available transition.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TransitionOut {
    /// Transition id.
    pub id: String,
    /// Transition name.
    pub name: String,
    /// Target status.
    pub to: Option<String>,
}

/// Result of `jira_get_issue`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct IssueOut {
    /// Issue key.
    pub key: String,
    /// Link for people.
    pub url: String,
    /// Summary.
    pub summary: String,
    /// Status.
    pub status: Option<String>,
    /// Status category: new, indeterminate, done.
    pub status_category: Option<String>,
    /// Issue type.
    #[serde(rename = "type")]
    pub issue_type: Option<String>,
    /// Priority.
    pub priority: Option<String>,
    /// Assignee.
    pub assignee: Option<String>,
    /// Reporter.
    pub reporter: Option<String>,
    /// Created.
    pub created: Option<String>,
    /// Updated.
    pub updated: Option<String>,
    /// Due date.
    pub due: Option<String>,
    /// Resolution.
    pub resolution: Option<String>,
    /// Project key.
    pub project: Option<String>,
    /// Parent key.
    pub parent: Option<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// Components.
    pub components: Vec<String>,
    /// Sub-task keys.
    pub subtasks: Vec<String>,
    /// Issue links.
    pub links: Vec<LinkOut>,
    /// Description as Markdown.
    pub description: String,
    /// Latest comments, oldest first.
    pub comments: Vec<CommentOut>,
    /// Total comments on the issue.
    pub comment_total: Option<u64>,
    /// Change history (when requested).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changelog: Option<Vec<ChangeOut>>,
    /// Transitions (when requested).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transitions: Option<Vec<TransitionOut>>,
}

impl Render for IssueOut {
    fn render(&self) -> String {
        let mut out = String::new();
        let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".to_string());
        let _ = writeln!(
            out,
            "{} · {} · {} · {} — {}",
            self.key,
            dash(&self.issue_type),
            dash(&self.status),
            dash(&self.priority),
            one_line(&self.summary)
        );
        let _ = write!(
            out,
            "Assignee: {} · Reporter: {}",
            self.assignee.as_deref().unwrap_or("unassigned"),
            dash(&self.reporter)
        );
        if let Some(c) = &self.created {
            let _ = write!(out, " · Created {}", day(c));
        }
        if let Some(u) = &self.updated {
            let _ = write!(out, " · Updated {}", day(u));
        }
        if let Some(d) = &self.due {
            let _ = write!(out, " · Due {}", day(d));
        }
        if let Some(r) = &self.resolution {
            let _ = write!(out, " · Resolution {r}");
        }
        out.push('\n');
        let mut extras = Vec::new();
        if !self.labels.is_empty() {
            extras.push(format!("Labels: {}", self.labels.join(", ")));
        }
        if !self.components.is_empty() {
            extras.push(format!("Components: {}", self.components.join(", ")));
        }
        if let Some(p) = &self.parent {
            extras.push(format!("Parent: {p}"));
        }
        if !self.subtasks.is_empty() {
            extras.push(format!("Sub-tasks: {}", self.subtasks.join(", ")));
        }
        if !extras.is_empty() {
            let _ = writeln!(out, "{}", extras.join(" · "));
        }
        for l in &self.links {
            let _ = writeln!(
                out,
                "Link: {} {} ({}){}",
                l.relation,
                l.key,
                dash(&l.status),
                l.summary
                    .as_ref()
                    .map(|s| format!(" {}", clip(&one_line(s), 80)))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(out, "URL: {}", self.url);
        if !self.description.is_empty() {
            let _ = write!(out, "\n## Description\n{}\n", self.description.trim_end());
        }
        if !self.comments.is_empty() {
            let total = self
                .comment_total
                .map(|t| format!(" (latest {} of {t})", self.comments.len()))
                .unwrap_or_default();
            let _ = writeln!(out, "\n## Comments{total}");
            for c in &self.comments {
                let _ = writeln!(
                    out,
                    "**{}** {}:\n{}\n",
                    c.author,
                    c.created.as_deref().map(day).unwrap_or(""),
                    c.body.trim_end()
                );
            }
        }
        if let Some(changes) = &self.changelog {
            let _ = writeln!(out, "\n## Changelog ({} entries)", changes.len());
            for c in changes {
                let _ = writeln!(
                    out,
                    "- {} {}: {}",
                    c.created.as_deref().map(day).unwrap_or(""),
                    c.author,
                    c.changes.join("; ")
                );
            }
        }
        if let Some(ts) = &self.transitions {
            let list: Vec<String> = ts
                .iter()
                .map(|t| format!("{} (id {}) → {}", t.name, t.id, dash(&t.to)))
                .collect();
            let _ = writeln!(out, "\nTransitions: {}", list.join(", "));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// jira_list_projects
// ---------------------------------------------------------------------------------------------

/// Arguments of `jira_list_projects`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListProjectsArgs {
    /// Text matched against project key and name.
    #[serde(default)]
    pub query: Option<String>,
    /// Most projects to return, 1–100 (default 50).
    #[serde(default, deserialize_with = "opt_u32")]
    pub max_results: Option<u32>,
}

/// A project.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ProjectOut {
    /// Key.
    pub key: String,
    /// Name.
    pub name: Option<String>,
    /// Project type.
    #[serde(rename = "type")]
    pub project_type: Option<String>,
    /// Lead.
    pub lead: Option<String>,
}

/// Result of `jira_list_projects`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ProjectsOut {
    /// Projects.
    pub projects: Vec<ProjectOut>,
    /// Total matching, when known.
    pub total: Option<u64>,
}

impl Render for ProjectsOut {
    fn render(&self) -> String {
        let mut out = format!("{} project(s)", self.projects.len());
        if let Some(t) = self.total
            && t as usize > self.projects.len()
        {
            let _ = write!(out, " of {t}");
        }
        out.push('\n');
        for p in &self.projects {
            let _ = writeln!(
                out,
                "{} | {} | {}{}",
                p.key,
                p.name.as_deref().unwrap_or("-"),
                p.project_type.as_deref().unwrap_or("-"),
                p.lead
                    .as_ref()
                    .map(|l| format!(" | lead {l}"))
                    .unwrap_or_default()
            );
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// jira_get_create_fields
// ---------------------------------------------------------------------------------------------

/// Arguments of `jira_get_create_fields`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFieldsArgs {
    /// Project key, e.g. `ENG`.
    pub project: String,
    /// Issue type name or id; omit to list the project's issue types.
    #[serde(default)]
    pub issue_type: Option<String>,
}

/// An issue type.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct IssueTypeOut {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Sub-task type.
    pub subtask: bool,
}

/// A field on the create screen.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct FieldOut {
    /// Field id to use in `fields`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Required on create.
    pub required: bool,
    /// Jira fills a default.
    pub has_default: bool,
    /// Value type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Allowed values (first 50), if a choice.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_values: Vec<String>,
}

/// Result of `jira_get_create_fields`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CreateFieldsOut {
    /// Project key.
    pub project: String,
    /// Issue types (when no type was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue_types: Option<Vec<IssueTypeOut>>,
    /// The chosen issue type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue_type: Option<IssueTypeOut>,
    /// Fields of the chosen type, required first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldOut>>,
}

impl Render for CreateFieldsOut {
    fn render(&self) -> String {
        let mut out = String::new();
        if let Some(types) = &self.issue_types {
            let _ = writeln!(out, "Issue types in {}:", self.project);
            for t in types {
                let _ = writeln!(
                    out,
                    "- {} (id {}){}",
                    t.name,
                    t.id,
                    if t.subtask { " sub-task" } else { "" }
                );
            }
        }
        if let (Some(t), Some(fields)) = (&self.issue_type, &self.fields) {
            let _ = writeln!(
                out,
                "Create fields for {} / {} (id {}):",
                self.project, t.name, t.id
            );
            for f in fields {
                let _ = write!(
                    out,
                    "- {} `{}` {}{}",
                    f.name,
                    f.id,
                    f.kind,
                    if f.required && !f.has_default {
                        " REQUIRED"
                    } else if f.required {
                        " required (has default)"
                    } else {
                        ""
                    }
                );
                if !f.allowed_values.is_empty() {
                    let _ = write!(out, " one of: {}", f.allowed_values.join(", "));
                }
                out.push('\n');
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// Fields whose values describe *other* issues (possibly outside the project allowlist).
const CROSS_PROJECT_FIELDS: &[&str] = &["issuelinks", "subtasks", "parent"];

fn user_name(u: &Option<User>) -> Option<String> {
    u.as_ref().map(User::label)
}

/// A compact text form of an arbitrary field value (names of objects, ADF as Markdown).
fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => clean_text(s),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(", "),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("doc") => {
            convert::adf_to_markdown(v)
        }
        Value::Object(o) => ["displayName", "name", "value", "key"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str).map(clean_text))
            .unwrap_or_else(|| clean_text(&v.to_string())),
        other => other.to_string(),
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

/// Validates an issue key (or numeric id) and normalizes its case.
pub(crate) fn issue_key(raw: &str) -> Result<String, ToolError> {
    let key = raw.trim().to_ascii_uppercase();
    let valid_key = key.split_once('-').is_some_and(|(p, n)| {
        p.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit())
    });
    let valid_id = !key.is_empty() && key.chars().all(|c| c.is_ascii_digit());
    if valid_key || valid_id {
        Ok(key)
    } else {
        Err(ToolError::Invalid(format!(
            "`{raw}` is not an issue key; expected something like ENG-42"
        )))
    }
}

#[tool_router(router = jira_router, vis = "pub(crate)")]
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
    ) -> CallToolResult {
        cx.finish(self.search_impl(&cx, args).await)
    }

    #[tool(
        name = "jira_get_issue",
        description = "Read one Jira issue: fields, description and latest comments as Markdown, links; optionally changelog and available transitions.",
        annotations(title = "Read a Jira issue", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<IssueOut>()
    )]
    async fn jira_get_issue(
        &self,
        Parameters(args): Parameters<GetIssueArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
    ) -> CallToolResult {
        cx.finish(self.get_issue_impl(&cx, args).await)
    }

    #[tool(
        name = "jira_list_projects",
        description = "List Jira projects the user can see (key, name, type, lead), optionally matching a text query.",
        annotations(title = "List Jira projects", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<ProjectsOut>()
    )]
    async fn jira_list_projects(
        &self,
        Parameters(args): Parameters<ListProjectsArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
    ) -> CallToolResult {
        cx.finish(self.list_projects_impl(&cx, args).await)
    }

    #[tool(
        name = "jira_get_create_fields",
        description = "What creating an issue needs: without issue_type, the project's issue types; with it, every field on the create screen (required first) and allowed values.",
        annotations(title = "Jira create fields", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<CreateFieldsOut>()
    )]
    async fn jira_get_create_fields(
        &self,
        Parameters(args): Parameters<CreateFieldsArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
    ) -> CallToolResult {
        cx.finish(self.create_fields_impl(&cx, args).await)
    }
}

impl BridgeServer {
    async fn search_impl(&self, cx: &CallCx, args: SearchArgs) -> Result<SearchOut, ToolError> {
        let state = self.state();
        let max = bounded(args.max_results, 20, 100, "max_results")?;
        let jql = args.jql.trim();
        if jql.is_empty() && state.policy.settings().jira_projects.is_empty() {
            return Err(ToolError::Invalid(
                "jql must not be empty; e.g. `assignee = currentUser() AND resolution = Unresolved ORDER BY updated DESC`".to_string(),
            ));
        }
        let jql = state
            .policy
            .confine_jql(jql)
            .map_err(|e| ToolError::Invalid(format!("{e}; fix the JQL and try again")))?;
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
        if !state.policy.settings().jira_projects.is_empty()
            && let Some(f) = extra
                .iter()
                .find(|f| CROSS_PROJECT_FIELDS.contains(&f.as_str()))
        {
            return Err(ToolError::Denied(format!(
                "field `{f}` can show issues from other projects, so it is not available while policy.jira_projects is set"
            )));
        }
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
        let confined = !state.policy.settings().jira_projects.is_empty();
        let issues: Vec<IssueRow> = page
            .issues
            .into_iter()
            .filter(|i| match i.project_key.as_deref() {
                Some(p) => state.policy.project_allowed(p),
                None => !confined && state.policy.check_issue_key(&i.key).is_ok(),
            })
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

    async fn get_issue_impl(&self, cx: &CallCx, args: GetIssueArgs) -> Result<IssueOut, ToolError> {
        let state = self.state();
        let key = issue_key(&args.key)?;
        state
            .policy
            .check_issue_key(&key)
            .map_err(ToolError::Denied)?;
        let parts = args.include.unwrap_or_else(|| vec![IncludePart::Comments]);
        let comment_limit = bounded(args.comment_limit, 5, 50, "comment_limit")?;
        let include = IssueInclude {
            changelog: parts.contains(&IncludePart::Changelog),
            transitions: parts.contains(&IncludePart::Transitions),
        };
        let jira = state.api.jira();
        let detail = jira.issue(&cx.trace, &key, include).await?;
        let issue = detail.issue;
        // The key may have resolved to a moved issue: check the project it is in now, before
        // anything else is fetched from it.
        match issue.project_key.as_deref() {
            Some(project) if state.policy.project_allowed(project) => {}
            Some(project) => return Err(ToolError::Denied(state.policy.project_denial(project))),
            None if state.policy.settings().jira_projects.is_empty() => {}
            None => {
                return Err(ToolError::Denied(format!(
                    "issue {key} names no project, so policy.jira_projects cannot allow it"
                )));
            }
        }
        let comments = if parts.contains(&IncludePart::Comments) {
            jira.latest_comments(&cx.trace, &issue.key, comment_limit)
                .await?
        } else {
            Default::default()
        };
        cx.touch([issue.key.clone()]);
        let visible = |k: &str| state.policy.check_issue_key(k).is_ok();
        Ok(IssueOut {
            url: state.api.issue_url(&issue.key),
            summary: issue.summary.unwrap_or_default(),
            status: issue.status,
            status_category: issue.status_category,
            issue_type: issue.issue_type,
            priority: issue.priority,
            assignee: user_name(&issue.assignee),
            reporter: user_name(&issue.reporter),
            created: issue.created,
            updated: issue.updated,
            due: issue.due,
            resolution: issue.resolution,
            project: issue.project_key,
            parent: issue.parent.filter(|p| visible(p)),
            labels: issue.labels,
            components: issue.components,
            subtasks: issue.subtasks.into_iter().filter(|k| visible(k)).collect(),
            // Links into projects outside the allowlist would leak their summaries.
            links: issue
                .links
                .into_iter()
                .filter(|l| visible(&l.key))
                .map(|l| LinkOut {
                    relation: l.relation,
                    key: l.key,
                    status: l.status,
                    summary: l.summary,
                })
                .collect(),
            description: issue
                .description
                .as_ref()
                .map(|d| d.to_markdown())
                .unwrap_or_default(),
            comments: comments
                .comments
                .iter()
                .map(|c| CommentOut {
                    author: c.author.as_ref().map(User::label).unwrap_or_default(),
                    created: c.created.clone(),
                    body: c.body.as_ref().map(|b| b.to_markdown()).unwrap_or_default(),
                })
                .collect(),
            comment_total: comments.total,
            changelog: include.changelog.then(|| {
                detail
                    .changelog
                    .iter()
                    .rev()
                    .take(20)
                    .rev()
                    .map(|c| ChangeOut {
                        author: c.author.as_ref().map(User::label).unwrap_or_default(),
                        created: c.created.clone(),
                        changes: c
                            .items
                            .iter()
                            .map(|(f, from, to)| {
                                format!(
                                    "{f}: {} → {}",
                                    from.as_deref().unwrap_or("∅"),
                                    to.as_deref().unwrap_or("∅")
                                )
                            })
                            .collect(),
                    })
                    .collect()
            }),
            transitions: include.transitions.then(|| {
                detail
                    .transitions
                    .into_iter()
                    .map(|t| TransitionOut {
                        id: t.id,
                        name: t.name,
                        to: t.to,
                    })
                    .collect()
            }),
            key: issue.key,
        })
    }

    async fn list_projects_impl(
        &self,
        cx: &CallCx,
        args: ListProjectsArgs,
    ) -> Result<ProjectsOut, ToolError> {
        let state = self.state();
        let max = bounded(args.max_results, 50, 100, "max_results")?;
        let query = args
            .query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty());
        let keys = &state.policy.settings().jira_projects;
        let list = state
            .api
            .jira()
            .projects(&cx.trace, query, keys, max)
            .await?;
        let projects: Vec<ProjectOut> = list
            .projects
            .into_iter()
            .filter(|p| state.policy.project_allowed(&p.key))
            .map(|p| ProjectOut {
                key: p.key,
                name: p.name,
                project_type: p.project_type,
                lead: p.lead,
            })
            .collect();
        cx.touch(projects.iter().map(|p| p.key.clone()));
        Ok(ProjectsOut {
            projects,
            total: list.total,
        })
    }

    async fn create_fields_impl(
        &self,
        cx: &CallCx,
        args: CreateFieldsArgs,
    ) -> Result<CreateFieldsOut, ToolError> {
        let state = self.state();
        let project = non_empty(&args.project, "project")?.to_ascii_uppercase();
        if !project
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(ToolError::Invalid(format!(
                "`{}` is not a project key; expected something like ENG",
                args.project
            )));
        }
        if !state.policy.project_allowed(&project) {
            return Err(ToolError::Denied(state.policy.project_denial(&project)));
        }
        let jira = state.api.jira();
        let types = jira.create_issue_types(&cx.trace, &project).await?;
        let type_out = |t: &crate::atlassian::jira::IssueType| IssueTypeOut {
            id: t.id.clone(),
            name: t.name.clone(),
            subtask: t.subtask,
        };
        let Some(wanted) = args
            .issue_type
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        else {
            return Ok(CreateFieldsOut {
                issue_types: Some(types.iter().map(type_out).collect()),
                project,
                issue_type: None,
                fields: None,
            });
        };
        let Some(chosen) = types
            .iter()
            .find(|t| t.id == wanted || t.name.eq_ignore_ascii_case(wanted))
        else {
            let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
            return Err(ToolError::Invalid(format!(
                "issue type `{wanted}` does not exist in {project}; available: {}",
                names.join(", ")
            )));
        };
        let mut fields = jira.create_fields(&cx.trace, &project, &chosen.id).await?;
        fields.sort_by_key(|f| (!f.required, f.has_default));
        Ok(CreateFieldsOut {
            issue_type: Some(type_out(chosen)),
            fields: Some(
                fields
                    .into_iter()
                    .map(|f| FieldOut {
                        id: f.id,
                        name: f.name,
                        required: f.required,
                        has_default: f.has_default,
                        kind: f.kind,
                        allowed_values: f.allowed.into_iter().take(50).collect(),
                    })
                    .collect(),
            ),
            project,
            issue_types: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_keys() {
        assert_eq!(issue_key(" eng-42 ").unwrap(), "ENG-42");
        assert_eq!(issue_key("10001").unwrap(), "10001");
        for bad in ["", "ENG", "ENG-", "-1", "ENG-1a", "EN G-1", "../x"] {
            assert!(issue_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn value_text_simplifies() {
        assert_eq!(value_text(&serde_json::json!({"name": "High"})), "High");
        assert_eq!(
            value_text(&serde_json::json!([{"value": "a"}, "b"])),
            "a, b"
        );
        assert_eq!(value_text(&serde_json::json!(3)), "3");
    }
}
