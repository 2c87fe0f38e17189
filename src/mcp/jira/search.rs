//! `jira_search`: one page of compact issue rows for a JQL query.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::tool::{Extension, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::{schemars, tool, tool_router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{user_name, value_text, wanted_fields};
use crate::atlassian::jira::{Issue, Jira};
use crate::mcp::args::{bounded_paged, count_schema, opt_list, opt_u32};
use crate::mcp::offline::{Served, Why, offline_offset};
use crate::mcp::render::{Render, clip, day, one_line};
use crate::mcp::{BridgeServer, CallCx, ToolError};

/// How page tokens of offline answers begin (the rest is the offset into the cached result).
const OFFLINE_TOKEN: &str = "offline:";

/// Issues per page when `max_results` is not given.
pub const DEFAULT_MAX_RESULTS: u32 = 20;
/// Largest page: full rows for more than 100 issues would crowd the model's context (and
/// Cloud may cap pages with many fields near there anyway).
pub const MAX_RESULTS: u32 = 100;
/// How long a search waits for the approximate count before answering without it.
const COUNT_WAIT: Duration = Duration::from_secs(5);

/// Arguments of `jira_search`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// JQL query, e.g. `project = ENG AND status != Done ORDER BY updated DESC`. Must restrict
    /// something (Jira rejects a bare ORDER BY).
    pub jql: String,
    /// Extra fields besides summary, status, type, priority, assignee, updated, due, labels
    /// and parent: ids or names, custom fields too (`["reporter","Story Points"]`).
    #[serde(default, deserialize_with = "opt_list")]
    pub fields: Option<Vec<String>>,
    /// Issues per page.
    #[serde(default, deserialize_with = "opt_u32")]
    #[schemars(range(min = 1, max = MAX_RESULTS), extend("default" = DEFAULT_MAX_RESULTS), transform = count_schema)]
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
    /// Extra requested fields by id (names in the result's `fields`), simplified to text.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub fields: serde_json::Map<String, Value>,
}

/// A requested field, as found.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FieldRef {
    /// Field id (the key in each row's `fields`; what writes take).
    pub id: String,
    /// Name shown in Jira.
    pub name: String,
    /// Dates are shown as days in the text.
    #[serde(skip)]
    pub date: bool,
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
    /// About how many issues match (Jira Cloud's approximate count, on a first page with more
    /// to come; recent changes may be missing from it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approximate_total: Option<u64>,
    /// The extra fields asked for, as found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldRef>,
    /// Requested fields that do not exist on this site (not sent to Jira).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_fields: Vec<String>,
    /// What to do about `unknown_fields`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
        } else if let Some(t) = self.approximate_total {
            let _ = write!(out, " of ≈{t} (approximate)");
        }
        match &self.next_page_token {
            Some(t) => {
                let _ = writeln!(out, "; more: next_page_token=\"{t}\"");
            }
            None => out.push_str("; last page\n"),
        }
        if let Some(note) = &self.note {
            let _ = writeln!(out, "Note: {note}");
        }
        let field = |id: &str| self.fields.iter().find(|f| f.id == id);
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
            for (id, v) in &i.fields {
                let f = field(id);
                let value = match f {
                    Some(f) if f.date => day(&value_text(v)).to_string(),
                    _ => clip(&one_line(&value_text(v)), 80),
                };
                let _ = write!(out, " | {}: {value}", f.map_or(id.as_str(), |f| &f.name));
            }
            out.push('\n');
        }
        out
    }
}

fn row(issue: &Issue) -> IssueRow {
    IssueRow {
        key: issue.key.clone(),
        summary: issue.summary.clone().unwrap_or_default(),
        status: issue.status.clone(),
        issue_type: issue.issue_type.clone(),
        priority: issue.priority.clone(),
        assignee: user_name(&issue.assignee),
        updated: issue.updated.clone(),
        due: issue.due.clone(),
        labels: issue.labels.clone(),
        parent: issue.parent.clone(),
        // A field the issue has no value for is left out of its row.
        fields: issue
            .extra
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), Value::String(clip(&value_text(v), 2000))))
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
    pub(crate) async fn jira_search(
        &self,
        Parameters(args): Parameters<SearchArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
    ) -> CallToolResponse {
        cx.finish(self.search_impl(&cx, args).await)
    }
}

impl BridgeServer {
    /// `jira_search`: at the site, or over the local cache (the JQL subset of
    /// [`crate::cache::query`]) when the site is unreachable or `[cache].offline = "always"`.
    async fn search_impl(
        &self,
        cx: &CallCx,
        args: SearchArgs,
    ) -> Result<Served<SearchOut>, ToolError> {
        if let Some(why) = self.offline_only() {
            return self.search_offline(cx, args, &why).await;
        }
        let offline_token = args
            .next_page_token
            .as_deref()
            .is_some_and(|t| t.starts_with(OFFLINE_TOKEN));
        if offline_token {
            // A page token from an offline answer: go on paging the cache, so the pages fit.
            let why = Why::Unreachable("the previous page came from the local cache".into());
            return self.search_offline(cx, args, &why).await;
        }
        let retry = SearchArgs {
            jql: args.jql.clone(),
            fields: args.fields.clone(),
            max_results: args.max_results,
            next_page_token: None,
        };
        match self.search_online(cx, args).await {
            Ok(out) => Ok(Served::online(out)),
            Err(e) => match self.fallback(&e) {
                Some(why) => self.search_offline(cx, retry, &why).await,
                None => Err(e),
            },
        }
    }

    async fn search_offline(
        &self,
        cx: &CallCx,
        args: SearchArgs,
        why: &Why,
    ) -> Result<Served<SearchOut>, ToolError> {
        let state = self.state();
        let max = bounded_paged(
            args.max_results,
            DEFAULT_MAX_RESULTS,
            MAX_RESULTS,
            "max_results",
            "pass the returned next_page_token as next_page_token",
        )?;
        let jql = state.policy.admit_jql(&args.jql)?;
        let offset = offline_offset(
            args.next_page_token.as_deref(),
            OFFLINE_TOKEN,
            "next_page_token",
            why,
        )?;
        let Some(cache) = self.cache().cloned() else {
            return Err(self.not_cached(
                "nothing",
                why,
                "turn cache.enabled on to keep what is read",
            ));
        };
        let filter = self.offline_jql(&jql, why)?;
        let confine = self.confine();
        let (found, total) = crate::mcp::offline::blocking(move || {
            cache.flush();
            cache.search_issues(&filter, &confine, offset, u64::from(max))
        })
        .await?;
        cx.mark_offline();
        let oldest = found.iter().map(|c| c.fetched_at).min();
        let issues: Vec<IssueRow> = found
            .into_iter()
            .map(|c| {
                let r = c.record;
                IssueRow {
                    key: r.key,
                    summary: r.summary,
                    status: r.status,
                    issue_type: r.issue_type,
                    priority: r.priority,
                    assignee: r.assignee.and_then(|p| p.label()),
                    updated: r.updated,
                    due: r.due,
                    labels: r.labels,
                    parent: r.parent,
                    fields: serde_json::Map::new(),
                }
            })
            .collect();
        cx.touch(issues.iter().map(|i| i.key.clone()));
        let next = offset + issues.len() as u64;
        let more = next < total;
        let mut notes = Vec::new();
        if args.fields.as_ref().is_some_and(|f| !f.is_empty()) {
            notes.push("extra fields are not kept offline".to_string());
        }
        if total == 0 {
            notes.push(
                "nothing in the local cache matches; `atlassian-mcp-bridge sync --jira KEY` mirrors a project before you go offline".to_string(),
            );
        }
        let out = SearchOut {
            issues,
            next_page_token: more.then(|| format!("{OFFLINE_TOKEN}{next}")),
            is_last: !more,
            total: Some(total),
            approximate_total: None,
            fields: Vec::new(),
            unknown_fields: Vec::new(),
            note: (!notes.is_empty()).then(|| notes.join("; ")),
            jql,
        };
        // Each row may be of a different age: the label gives the oldest.
        Ok(Served::offline(
            out,
            oldest.unwrap_or_else(crate::cache::now_ms),
        ))
    }

    async fn search_online(&self, cx: &CallCx, args: SearchArgs) -> Result<SearchOut, ToolError> {
        let state = self.state();
        let max = bounded_paged(
            args.max_results,
            DEFAULT_MAX_RESULTS,
            MAX_RESULTS,
            "max_results",
            "pass the returned next_page_token as next_page_token",
        )?;
        let jql = state.policy.admit_jql(&args.jql)?;
        let wanted = wanted_fields(state, &cx.trace, args.fields).await?;
        let token = args
            .next_page_token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let jira = state.api.jira();
        let page = jira
            .search(&cx.trace, &jql, &wanted.ids(), max, token)
            .await?;
        let on_page = page.issues.len() as u64;
        // Only a first page with more to come needs a total: later pages had theirs, and a
        // single page is its own count.
        let approximate_total = match (token, &page.next_page_token, page.total) {
            (None, Some(_), None) => approximate_count(&jira, cx, &jql)
                .await
                // A count below what this page already shows is stale: say nothing.
                .filter(|n| *n > on_page),
            _ => None,
        };
        // A result outside the allowlist can only come from a misbehaving server (or a query
        // that slipped past the wrapper); with an allowlist, an issue must prove its project.
        let kept: Vec<Issue> = page
            .issues
            .into_iter()
            .filter(|i| state.policy.issue_visible(&i.key, i.project_key.as_deref()))
            .collect();
        let issues: Vec<IssueRow> = kept.iter().map(row).collect();
        self.keep_issues(kept, false, None);
        cx.touch(issues.iter().map(|i| i.key.clone()));
        Ok(SearchOut {
            is_last: page.next_page_token.is_none(),
            next_page_token: page.next_page_token,
            total: page.total,
            approximate_total,
            fields: wanted
                .found
                .iter()
                .map(|f| FieldRef {
                    id: f.id.clone(),
                    name: f.name.clone(),
                    date: f.is_date(),
                })
                .collect(),
            unknown_fields: wanted.unknown,
            note: wanted.note,
            issues,
            jql,
        })
    }
}

/// Jira Cloud's approximate count for `jql`, best effort: any failure (a missing scope, an
/// error, no answer within [`COUNT_WAIT`]) leaves the search without a total, never failed.
async fn approximate_count(jira: &Jira<'_>, cx: &CallCx, jql: &str) -> Option<u64> {
    match tokio::time::timeout(COUNT_WAIT, jira.approximate_count(&cx.trace, jql)).await {
        Ok(Ok(count)) => count,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "approximate count unavailable");
            None
        }
        Err(_) => {
            tracing::debug!("approximate count took too long");
            None
        }
    }
}
