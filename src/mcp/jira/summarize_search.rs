//! `jira_summarize_search`: exact counts over a whole JQL result set (by status, assignee,
//! priority …), plus the few issues worth naming (overdue, oldest open, recently updated),
//! without putting every issue into the model's context.
//!
//! The search asks Jira only for the fields the summary reads and pages through at most
//! `max_issues` issues ([`crate::atlassian::jira::SearchScan`]); the counting itself is pure
//! ([`tally`]). Policy confinement is that of `jira_search`: the JQL is wrapped in the project
//! allowlist and every issue must prove its project. Only the issues the answer names are
//! recorded as `touched` in the audit log, not every issue counted: the record lists what the
//! model was shown, and stays small for a 5,000-issue count.

pub mod tally;
#[cfg(test)]
mod tally_tests;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;

use rmcp::handler::server::tool::{Extension, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResponse, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, schemars, tool, tool_router};
use serde::{Deserialize, Deserializer, Serialize};

use self::tally::{Bucket, GroupField, IssueBrief, Tally};
use crate::mcp::args::{count_schema, opt_u32};
use crate::mcp::offline::{Served, Why, issue_from_record};
use crate::mcp::render::{Render, clip};
use crate::mcp::{BridgeServer, CallCx, ToolError};

/// Issues counted when `max_issues` is not given.
pub const DEFAULT_MAX_ISSUES: u32 = 1000;
/// Largest `max_issues`: 50 pages of 100 on Cloud, a few MB of memory at most, and still
/// inside the time an MCP client usually waits for one call.
pub const MAX_ISSUES: u32 = 5000;
/// Grouping when `group_by` is not given: what state the work is in, who has it and how
/// urgent it is, the three questions of a status report. Type, project and label are on
/// request (project is redundant for the usual one-project JQL, labels are often noisy).
pub const DEFAULT_GROUP_BY: [GroupField; 3] = [
    GroupField::Status,
    GroupField::Assignee,
    GroupField::Priority,
];

/// Arguments of `jira_summarize_search`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummarizeSearchArgs {
    /// JQL selecting the issues, e.g. `project = ENG AND updated >= -7d`.
    pub jql: String,
    /// Fields to count by: any of `status`, `assignee`, `priority`, `type`, `project`,
    /// `label` (default status, assignee, priority).
    #[serde(default, deserialize_with = "list_or_text")]
    pub group_by: Option<Vec<String>>,
    /// Most issues to count; past it the answer says `capped`.
    #[serde(default, deserialize_with = "opt_u32")]
    #[schemars(range(min = 1, max = MAX_ISSUES), extend("default" = DEFAULT_MAX_ISSUES), transform = count_schema)]
    pub max_issues: Option<u32>,
}

/// Counts per requested field, largest first (only the requested fields are present).
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Groups {
    /// By status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<Bucket>>,
    /// By assignee; unassigned issues are the `(unassigned)` bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Vec<Bucket>>,
    /// By priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Vec<Bucket>>,
    /// By issue type.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub issue_type: Option<Vec<Bucket>>,
    /// By project key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<Vec<Bucket>>,
    /// By label: an issue counts once per label; issues without one are `(no label)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<Vec<Bucket>>,
}

impl Groups {
    fn slot(&mut self, field: GroupField) -> &mut Option<Vec<Bucket>> {
        match field {
            GroupField::Status => &mut self.status,
            GroupField::Assignee => &mut self.assignee,
            GroupField::Priority => &mut self.priority,
            GroupField::Type => &mut self.issue_type,
            GroupField::Project => &mut self.project,
            GroupField::Label => &mut self.label,
        }
    }
}

/// Result of `jira_summarize_search`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SummarizeSearchOut {
    /// The JQL actually run (after policy confinement).
    pub jql: String,
    /// Issues counted; every number here is exact for these.
    pub counted: u64,
    /// True when more issues matched than `max_issues`: the first `max_issues` in the JQL's
    /// order were counted.
    pub capped: bool,
    /// Total matches as Jira reports it (Data Center only; Cloud's search reports none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Counted issues whose status is not in the done category.
    pub open: u64,
    /// Counted issues whose status is in the done category.
    pub done: u64,
    /// Counted issues with no assignee.
    pub unassigned: u64,
    /// Counted issues past their due date and not done (`overdue` lists at most 10).
    pub overdue_count: u64,
    /// The UTC date overdue is measured against (`YYYY-MM-DD`).
    pub today: String,
    /// Counts by the requested fields, largest first; past 20 values the rest are one
    /// `(N other values)` bucket.
    pub groups: Groups,
    /// Overdue issues (due date before `today`, not done), most overdue first; at most 10.
    pub overdue: Vec<IssueBrief>,
    /// Open issues, oldest created first; at most 10.
    pub oldest_open: Vec<IssueBrief>,
    /// Issues of any status, most recently updated first; at most 10.
    pub recently_updated: Vec<IssueBrief>,
    /// The requested fields, in order (the order `groups` is rendered in).
    #[serde(skip)]
    pub order: Vec<GroupField>,
}

impl Render for SummarizeSearchOut {
    fn render(&self) -> String {
        let mut out = String::with_capacity(1024);
        let n = self.counted;
        let _ = write!(out, "{n} issue{} counted", if n == 1 { "" } else { "s" });
        if self.capped {
            match self.total {
                Some(t) => {
                    let _ = write!(
                        out,
                        " (capped: {t} match; raise max_issues or narrow the JQL)"
                    );
                }
                None => out.push_str(" (capped: more match; raise max_issues or narrow the JQL)"),
            }
        }
        let _ = writeln!(
            out,
            ": open {} · done {} · unassigned {} · overdue {} (as of {})",
            self.open, self.done, self.unassigned, self.overdue_count, self.today
        );
        let _ = writeln!(out, "JQL: {}", clip(&self.jql, 300));
        let slots = [
            (GroupField::Status, &self.groups.status),
            (GroupField::Assignee, &self.groups.assignee),
            (GroupField::Priority, &self.groups.priority),
            (GroupField::Type, &self.groups.issue_type),
            (GroupField::Project, &self.groups.project),
            (GroupField::Label, &self.groups.label),
        ];
        for field in &self.order {
            let Some((_, Some(buckets))) = slots.iter().find(|(f, _)| f == field) else {
                continue;
            };
            let list: Vec<String> = buckets
                .iter()
                .map(|b| format!("{} {}", b.value, b.count))
                .collect();
            let _ = writeln!(out, "{}: {}", field.name(), list.join(", "));
        }
        let lists: [(&str, &Vec<IssueBrief>, DateOf); 3] = [
            ("overdue, most overdue first", &self.overdue, |i| {
                format!("due {}", i.due.as_deref().unwrap_or("-"))
            }),
            ("oldest open", &self.oldest_open, |i| {
                format!("created {}", i.created.as_deref().unwrap_or("-"))
            }),
            ("recently updated", &self.recently_updated, |i| {
                format!("upd {}", i.updated.as_deref().unwrap_or("-"))
            }),
        ];
        for (title, items, date) in lists {
            if items.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{title}:");
            for i in items {
                let _ = writeln!(
                    out,
                    "{} | {} | {} | {} | {}",
                    i.key,
                    date(i),
                    i.status.as_deref().unwrap_or("-"),
                    i.assignee.as_deref().unwrap_or("unassigned"),
                    clip(&i.summary, 80),
                );
            }
        }
        out
    }
}

/// The date a list row shows first (due, created or updated).
type DateOf = fn(&IssueBrief) -> String;

#[tool_router(router = jira_summarize_search_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "jira_summarize_search",
        description = "Summarize a JQL result without listing it: exact counts (open/done, unassigned, overdue, by group_by fields) and the top overdue, oldest open and recently updated issues; up to max_issues.",
        annotations(title = "Summarize a Jira search", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<SummarizeSearchOut>()
    )]
    pub(crate) async fn jira_summarize_search(
        &self,
        Parameters(args): Parameters<SummarizeSearchArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResponse {
        cx.finish(self.summarize_search_served(&cx, &context, args).await)
    }
}

/// The answer from a finished tally: the keys it shows are touched, groups in their slots.
fn summary_out(
    cx: &CallCx,
    jql: String,
    summary: tally::Summary,
    (capped, total): (bool, Option<u64>),
    today: time::Date,
    group_by: Vec<GroupField>,
) -> SummarizeSearchOut {
    cx.touch(
        summary
            .overdue
            .iter()
            .chain(&summary.oldest_open)
            .chain(&summary.recently_updated)
            .map(|i| i.key.clone()),
    );
    let mut groups = Groups::default();
    for (field, buckets) in summary.groups {
        *groups.slot(field) = Some(buckets);
    }
    SummarizeSearchOut {
        jql,
        counted: summary.counted,
        capped,
        total,
        open: summary.open,
        done: summary.done,
        unassigned: summary.unassigned,
        overdue_count: summary.overdue_count,
        today: today.to_string(),
        groups,
        overdue: summary.overdue,
        oldest_open: summary.oldest_open,
        recently_updated: summary.recently_updated,
        order: group_by,
    }
}

/// `max_issues`, checked.
fn max_issues(given: Option<u32>) -> Result<u32, ToolError> {
    match given {
        None => Ok(DEFAULT_MAX_ISSUES),
        Some(n) if (1..=MAX_ISSUES).contains(&n) => Ok(n),
        Some(n) => Err(ToolError::Invalid(format!(
            "max_issues must be 1–{MAX_ISSUES} (got {n}; default {DEFAULT_MAX_ISSUES}); to count more, split the JQL (by project or created date)"
        ))),
    }
}

impl BridgeServer {
    /// `jira_summarize_search`: at the site, or over the local cache when the site is
    /// unreachable or `[cache].offline = "always"`.
    async fn summarize_search_served(
        &self,
        cx: &CallCx,
        context: &RequestContext<RoleServer>,
        args: SummarizeSearchArgs,
    ) -> Result<Served<SummarizeSearchOut>, ToolError> {
        if let Some(why) = self.offline_only() {
            return self.summarize_search_offline(cx, &args, &why).await;
        }
        let retry = SummarizeSearchArgs {
            jql: args.jql.clone(),
            group_by: args.group_by.clone(),
            max_issues: args.max_issues,
        };
        match self.summarize_search_impl(cx, context, args).await {
            Ok(out) => Ok(Served::online(out)),
            Err(e) => match self.fallback(&e) {
                Some(why) => self.summarize_search_offline(cx, &retry, &why).await,
                None => Err(e),
            },
        }
    }

    async fn summarize_search_offline(
        &self,
        cx: &CallCx,
        args: &SummarizeSearchArgs,
        why: &Why,
    ) -> Result<Served<SummarizeSearchOut>, ToolError> {
        let state = self.state();
        let max = max_issues(args.max_issues)?;
        let group_by = group_fields(args.group_by.as_deref())?;
        let jql = state.policy.admit_jql(&args.jql)?;
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
            cache.search_issues(&filter, &confine, 0, u64::from(max))
        })
        .await?;
        cx.mark_offline();
        let today = time::OffsetDateTime::now_utc().date();
        let mut tally = Tally::new(&group_by, today);
        let oldest = found.iter().map(|c| c.fetched_at).min();
        for c in &found {
            tally.add(&issue_from_record(&c.record).0.issue);
        }
        let out = summary_out(
            cx,
            jql,
            tally.finish(),
            (total > u64::from(max), Some(total)),
            today,
            group_by,
        );
        Ok(Served::offline(
            out,
            oldest.unwrap_or_else(crate::cache::now_ms),
        ))
    }

    async fn summarize_search_impl(
        &self,
        cx: &CallCx,
        context: &RequestContext<RoleServer>,
        args: SummarizeSearchArgs,
    ) -> Result<SummarizeSearchOut, ToolError> {
        let state = self.state();
        let max = max_issues(args.max_issues)?;
        let group_by = group_fields(args.group_by.as_deref())?;
        let jql = state.policy.admit_jql(&args.jql)?;
        let confined = !state.policy.settings().jira_projects.is_empty();
        let fields = fields_for(&group_by, confined);
        let today = time::OffsetDateTime::now_utc().date();

        let mut tally = Tally::new(&group_by, today);
        let mut counted_keys: HashSet<String> = HashSet::new();
        let jira = state.api.jira();
        let mut scan = jira.scan(&jql, &fields, max as usize);
        let mut reported = 0;
        while let Some(issues) = scan.next_page(&cx.trace).await? {
            for issue in issues {
                // As in `jira_search`: with an allowlist, an issue must prove its project.
                // A key seen twice (offset paging over a changing result) counts once.
                if state
                    .policy
                    .issue_visible(&issue.key, issue.project_key.as_deref())
                    && counted_keys.insert(issue.key.clone())
                {
                    tally.add(&issue);
                }
            }
            if let Some((counted, total)) =
                progress_step(reported, tally.counted(), scan.total(), u64::from(max))
            {
                reported = counted;
                progress(context, counted, total).await;
            }
        }
        let summary = tally.finish();
        Ok(summary_out(
            cx,
            jql,
            summary,
            (scan.capped(), scan.total()),
            today,
            group_by,
        ))
    }
}

/// The requested grouping: validated, duplicates dropped, the default when absent.
fn group_fields(raw: Option<&[String]>) -> Result<Vec<GroupField>, ToolError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_GROUP_BY.to_vec());
    };
    let mut out = Vec::new();
    for r in raw {
        if r.trim().is_empty() {
            continue;
        }
        match GroupField::parse(r) {
            Some(f) if !out.contains(&f) => out.push(f),
            Some(_) => {}
            None => {
                let shown: String = r.chars().take(40).collect();
                let allowed: Vec<&str> = GroupField::ALL.iter().map(|f| f.name()).collect();
                return Err(ToolError::Invalid(format!(
                    "group_by `{shown}` is not one of {}",
                    allowed.join(", ")
                )));
            }
        }
    }
    Ok(out)
}

/// The Jira fields the summary reads, and no others (Cloud sends ~0.5 KB per issue for an
/// assignee or project object, so each one left out matters over 1,000 issues). The project
/// is needed to prove an issue's project under an allowlist, or to group by it.
fn fields_for(group_by: &[GroupField], confined: bool) -> Vec<&'static str> {
    let mut fields = vec![
        "summary", "status", "assignee", "created", "updated", "duedate",
    ];
    let extra = group_by
        .iter()
        .map(|g| g.jira_field())
        .chain(confined.then_some("project"));
    for f in extra {
        if !fields.contains(&f) {
            fields.push(f);
        }
    }
    fields
}

/// The progress notification due after a page, as (progress, total), if any. MCP requires
/// progress to grow from one notification to the next, so a page that counted nothing new (an
/// empty last page, repeats, issues outside the allowlist) sends none. The total is Jira's
/// match count capped at `max` (counting stops there), and left out when it would be smaller
/// than the progress (a count Jira reported before the result set grew).
fn progress_step(
    reported: u64,
    counted: u64,
    total: Option<u64>,
    max: u64,
) -> Option<(u64, Option<u64>)> {
    (counted > reported).then(|| (counted, total.map(|t| t.min(max)).filter(|t| *t >= counted)))
}

/// Sends `notifications/progress` (issues counted so far) when the request asked for it, so
/// clients that reset their timeout on progress keep waiting through a long count.
async fn progress(context: &RequestContext<RoleServer>, counted: u64, total: Option<u64>) {
    if let Some(token) = context.meta.get_progress_token() {
        let mut p = ProgressNotificationParam::new(token, counted as f64)
            .with_message(format!("{counted} issues counted"));
        if let Some(t) = total {
            p = p.with_total(t as f64);
        }
        let _ = context.peer.notify_progress(p).await;
    }
}

/// Accepts a list of strings, or one comma-separated string (some clients send that).
fn list_or_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrText {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Option::<ListOrText>::deserialize(d)? {
        None => None,
        Some(ListOrText::List(l)) => Some(l),
        Some(ListOrText::Text(t)) => Some(t.split(',').map(str::to_string).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::progress_step;

    #[test]
    fn progress_only_grows_and_never_trails_its_total() {
        // Pages of a capped count: Jira reports 5,000 matches, 1,000 are counted.
        let mut reported = 0;
        let mut sent = Vec::new();
        for counted in [100, 200, 200, 350, 350, 1000, 1000] {
            if let Some((n, total)) = progress_step(reported, counted, Some(5000), 1000) {
                reported = n;
                sent.push((n, total));
            }
        }
        assert_eq!(
            sent,
            [
                (100, Some(1000)),
                (200, Some(1000)),
                (350, Some(1000)),
                (1000, Some(1000))
            ]
        );
        // Nothing counted yet (a first page of hidden issues): nothing to report.
        assert_eq!(progress_step(0, 0, Some(10), 1000), None);
        // A total under the progress is left out; Cloud reports none.
        assert_eq!(progress_step(10, 12, Some(11), 1000), Some((12, None)));
        assert_eq!(progress_step(0, 7, None, 1000), Some((7, None)));
        assert_eq!(progress_step(0, 7, Some(7), 1000), Some((7, Some(7))));
    }
}
