//! `jira_get_issue`: one issue with description and comments as Markdown, links, and optionally
//! its changelog and available transitions.

use std::fmt::Write as _;
use std::sync::Arc;

use super::{issue_key_on, user_name, value_text, wanted_fields};
use crate::atlassian::jira::fields::is_issue_field;
use crate::atlassian::jira::{IssueInclude, User};
use crate::mcp::args::{bounded_or_zero, count_schema, opt_list, opt_u32};
use crate::mcp::offline::{Served, Why};
use crate::mcp::render::{Render, clip, day, one_line};
use crate::mcp::{BridgeServer, CallCx, ToolError};
use rmcp::handler::server::tool::{Extension, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::{schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

/// Extra parts of an issue to include (comments come anyway unless `comment_limit` is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline, transform = bare_values)]
pub enum IncludePart {
    // No per-value docs: they would turn the schema's plain `enum` into a `oneOf` with prose.
    Comments,
    Changelog,
    Transitions,
}

/// Sends [`IncludePart`] as a bare list of values: `tools/list` is read into the model's
/// context, and the `include` argument's description already says what each value adds.
fn bare_values(schema: &mut schemars::Schema) {
    schema.remove("description");
}

/// Comments shown when `comment_limit` is not given.
pub const DEFAULT_COMMENT_LIMIT: u32 = 5;
/// Most comments one read shows.
pub const MAX_COMMENT_LIMIT: u32 = 50;

/// Arguments of `jira_get_issue`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetIssueArgs {
    /// Issue key (`ENG-42`) or a link to it on this site.
    pub key: String,
    /// Besides the latest comments: `changelog` (history), `transitions` (available now).
    #[serde(default, deserialize_with = "opt_list")]
    pub include: Option<Vec<IncludePart>>,
    /// How many of the latest comments; 0 leaves comments out.
    #[serde(default, deserialize_with = "opt_u32")]
    #[schemars(range(min = 0, max = MAX_COMMENT_LIMIT), extend("default" = DEFAULT_COMMENT_LIMIT), transform = count_schema)]
    pub comment_limit: Option<u32>,
    /// More fields by id or name, custom fields too (`["Severity","resolutiondate"]`); those
    /// shown anyway (status, dates, description …) are not repeated.
    #[serde(default, deserialize_with = "opt_list")]
    pub fields: Option<Vec<String>>,
}

/// A requested field and its value.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct FieldOut {
    /// Field id (what writes take).
    pub id: String,
    /// Name shown in Jira.
    pub name: String,
    /// Value as text (dates as Jira gives them); null when the issue has none.
    pub value: Option<String>,
    /// Dates are shown as days in the text.
    #[serde(skip)]
    pub date: bool,
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
    /// The requested `fields`, by name, in the order asked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldOut>,
    /// Requested fields that do not exist on this site.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_fields: Vec<String>,
    /// What to do about `unknown_fields`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
        // Short values share a line; long or multi-line ones (rich text) get a section below.
        let mut long = Vec::new();
        let mut short = Vec::new();
        for f in &self.fields {
            let value = f.value.as_deref().unwrap_or("-");
            if f.date {
                short.push(format!("{}: {}", f.name, day(value)));
            } else if value.contains('\n') || value.chars().count() > 120 {
                long.push(f);
            } else {
                short.push(format!("{}: {value}", f.name));
            }
        }
        if !short.is_empty() {
            let _ = writeln!(out, "{}", short.join(" · "));
        }
        if let Some(note) = &self.note {
            let _ = writeln!(out, "Note: {note}");
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
        for f in long {
            let _ = write!(
                out,
                "\n## {}\n{}\n",
                f.name,
                f.value.as_deref().unwrap_or("").trim_end()
            );
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

#[tool_router(router = jira_get_issue_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "jira_get_issue",
        description = "Read one Jira issue (by key or link): fields, description and latest comments as Markdown, links; optionally changelog, available transitions and more fields by name.",
        annotations(title = "Read a Jira issue", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<IssueOut>()
    )]
    pub(crate) async fn jira_get_issue(
        &self,
        Parameters(args): Parameters<GetIssueArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
    ) -> CallToolResponse {
        cx.finish(self.get_issue_impl(&cx, args).await)
    }
}

impl BridgeServer {
    /// `jira_get_issue`: from the site, or from the local cache when the site is unreachable
    /// (or `[cache].offline = "always"`).
    pub(crate) async fn get_issue_impl(
        &self,
        cx: &CallCx,
        args: GetIssueArgs,
    ) -> Result<Served<IssueOut>, ToolError> {
        let key = issue_key_on(self.state().api.site(), &args.key)?;
        self.state().policy.admit_issue(&key)?;
        let comment_limit = bounded_or_zero(
            args.comment_limit,
            DEFAULT_COMMENT_LIMIT,
            MAX_COMMENT_LIMIT,
            "comment_limit",
        )?;
        if let Some(why) = self.offline_only() {
            return self.get_issue_offline(cx, &key, comment_limit, &why).await;
        }
        match self.get_issue_online(cx, args).await {
            Ok(out) => Ok(Served::online(out)),
            Err(e) => match self.fallback(&e) {
                Some(why) => self.get_issue_offline(cx, &key, comment_limit, &why).await,
                None => Err(e),
            },
        }
    }

    async fn get_issue_offline(
        &self,
        cx: &CallCx,
        key: &str,
        comment_limit: u32,
        why: &Why,
    ) -> Result<Served<IssueOut>, ToolError> {
        let cached = self.cached_issue(cx, key, why).await?;
        let r = cached.record;
        let visible = |k: &str| self.state().policy.admit_issue(k).is_ok();
        let comments = r.comments.unwrap_or_default();
        let skip = comments.len().saturating_sub(comment_limit as usize);
        Ok(Served::offline(
            IssueOut {
                url: r.url.unwrap_or_else(|| self.state().api.issue_url(&r.key)),
                summary: r.summary,
                status: r.status,
                status_category: r.status_category,
                issue_type: r.issue_type,
                priority: r.priority,
                assignee: r.assignee.and_then(|p| p.label()),
                reporter: r.reporter.and_then(|p| p.label()),
                created: r.created,
                updated: r.updated,
                due: r.due,
                resolution: r.resolution,
                project: Some(r.project),
                parent: r.parent.filter(|p| visible(p)),
                labels: r.labels,
                components: r.components,
                subtasks: r.subtasks.into_iter().filter(|k| visible(k)).collect(),
                links: r
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
                description: r.description.unwrap_or_default(),
                comments: comments
                    .into_iter()
                    .skip(skip)
                    .map(|c| CommentOut {
                        author: c.author,
                        created: c.created,
                        body: c.body,
                    })
                    .collect(),
                comment_total: r.comment_total,
                changelog: None,
                transitions: None,
                fields: Vec::new(),
                unknown_fields: Vec::new(),
                note: Some(
                    "offline copy: changelog, transitions and extra fields are not kept offline"
                        .to_string(),
                ),
                key: r.key,
            },
            cached.fetched_at,
        ))
    }

    async fn get_issue_online(
        &self,
        cx: &CallCx,
        args: GetIssueArgs,
    ) -> Result<IssueOut, ToolError> {
        let state = self.state();
        let key = issue_key_on(state.api.site(), &args.key)?;
        let parts = args.include.unwrap_or_default();
        let comment_limit = bounded_or_zero(
            args.comment_limit,
            DEFAULT_COMMENT_LIMIT,
            MAX_COMMENT_LIMIT,
            "comment_limit",
        )?;
        let include = IssueInclude {
            changelog: parts.contains(&IncludePart::Changelog),
            transitions: parts.contains(&IncludePart::Transitions),
        };
        let wanted = wanted_fields(state, &cx.trace, args.fields).await?;
        let jira = state.api.jira();
        let detail = jira
            .issue_with_fields(&cx.trace, &key, include, &wanted.ids())
            .await
            .map_err(ToolError::naming(&key))?;
        let mut issue = detail.issue;
        // The key may have resolved to a moved issue: check the project it is in now, before
        // anything else is fetched from it.
        state
            .policy
            .admit_fetched_issue(&key, issue.project_key.as_deref())?;
        let comments = if comment_limit > 0 {
            jira.latest_comments(&cx.trace, &issue.key, comment_limit)
                .await?
        } else {
            Default::default()
        };
        self.keep_issues(
            vec![issue.clone()],
            true,
            (comment_limit > 0).then(|| comments.clone()),
        );
        // Fields the output has anyway (status, description …) are not repeated.
        let fields = wanted
            .found
            .iter()
            .filter(|f| !is_issue_field(&f.id))
            .map(|f| FieldOut {
                id: f.id.clone(),
                name: f.name.clone(),
                value: issue
                    .extra
                    .remove(&f.id)
                    .filter(|v| !v.is_null())
                    .map(|v| clip(&value_text(&v), 2000)),
                date: f.is_date(),
            })
            .collect();
        cx.touch([issue.key.clone()]);
        let visible = |k: &str| state.policy.admit_issue(k).is_ok();
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
            fields,
            unknown_fields: wanted.unknown,
            note: wanted.note,
            key: issue.key,
        })
    }
}
