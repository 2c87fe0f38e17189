//! Answers from the local cache (SPEC §10): when a read may use the cache instead of the site,
//! the label every offline answer carries (`offline: true`, `as_of`, a first line with its
//! age), and the write-through that keeps what every successful read returned.
//!
//! "Unreachable" means no HTTP answer at all ([`crate::atlassian::ApiError::is_unreachable`]);
//! an HTTP error status is reported as it is, never papered over with a cached copy.

use std::collections::HashMap;

use serde::Serialize;

use super::render::Render;
use super::{BridgeServer, CallCx, ToolError};
use crate::atlassian::confluence::Page;
use crate::atlassian::jira::{Comments, Issue, IssueDetail};
use crate::cache::{Batch, Cache, Cached, Confine, IssueRecord, PageRecord};
use crate::config::OfflineMode;
use crate::sync::records;

/// A tool's answer, from the site or (with `as_of`) from the local cache.
#[derive(Debug)]
pub struct Served<T> {
    /// The tool's own output.
    pub out: T,
    /// When the cached copy was fetched (Unix ms); `None` for a live answer.
    pub as_of: Option<i64>,
}

impl<T> Served<T> {
    /// A live answer.
    pub fn online(out: T) -> Self {
        Self { out, as_of: None }
    }

    /// An answer from the cache, fetched at `fetched_at` (Unix ms).
    pub fn offline(out: T, fetched_at: i64) -> Self {
        Self {
            out,
            as_of: Some(fetched_at),
        }
    }
}

impl<T: Serialize> Serialize for Served<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a, T> {
            #[serde(flatten)]
            out: &'a T,
            #[serde(skip_serializing_if = "Option::is_none")]
            offline: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            as_of: Option<String>,
        }
        Wire {
            out: &self.out,
            offline: self.as_of.map(|_| true),
            as_of: self.as_of.map(rfc3339),
        }
        .serialize(serializer)
    }
}

impl<T: Render> Render for Served<T> {
    fn render(&self) -> String {
        match self.as_of {
            None => self.out.render(),
            Some(at) => format!(
                "{}\n{}",
                offline_label(at, crate::cache::now_ms()),
                self.out.render()
            ),
        }
    }
}

/// Unix ms as RFC 3339 UTC, to the second.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// An age as a person says it: `under a minute`, `12 min`, `5 h`, `3 days`.
pub fn age_text(ms: i64) -> String {
    let mins = ms.max(0) / 60_000;
    match mins {
        0 => "under a minute".to_string(),
        1..=59 => format!("{mins} min"),
        60..=2879 => format!("{} h", mins / 60),
        _ => format!("{} days", mins / 1440),
    }
}

/// The first line of every offline answer: `Offline copy from 2026-12-02 09:12 UTC (5 h old).`
pub fn offline_label(fetched_at: i64, now: i64) -> String {
    let when = time::OffsetDateTime::from_unix_timestamp(fetched_at.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .ok()
        })
        .unwrap_or_default();
    format!(
        "Offline copy from {when} UTC ({} old); the site was not contacted or could not be reached.",
        age_text(now - fetched_at)
    )
}

/// Why a read is answered from the cache.
#[derive(Debug, Clone)]
pub enum Why {
    /// `[cache].offline = "always"`: the site is never contacted.
    Always,
    /// The site gave no answer; the message says how it failed.
    Unreachable(String),
}

impl Why {
    /// Words for error messages: why the site was not asked, or what happened when it was.
    pub fn text(&self) -> String {
        match self {
            Why::Always => "the bridge is set to work offline (cache.offline = \"always\")".into(),
            Why::Unreachable(m) => m.clone(),
        }
    }
}

impl BridgeServer {
    /// The cache, when there is one.
    pub(crate) fn cache(&self) -> Option<&Cache> {
        self.state().cache.as_ref()
    }

    /// `Some` when the site must not be contacted at all (`[cache].offline = "always"`).
    pub(crate) fn offline_only(&self) -> Option<Why> {
        (self.state().offline == OfflineMode::Always).then_some(Why::Always)
    }

    /// After a read failed: `Some` when the cache may answer instead (the site is unreachable,
    /// the cache is on, and `[cache].offline` is not `never`).
    pub(crate) fn fallback(&self, e: &ToolError) -> Option<Why> {
        if self.state().offline == OfflineMode::Never || self.cache().is_none() {
            return None;
        }
        match e {
            ToolError::Api(a) if a.is_unreachable() => Some(Why::Unreachable(a.user_message())),
            _ => None,
        }
    }

    /// Who `currentUser()` is and what "now" is, for the offline query subsets.
    pub(crate) fn query_context(&self) -> crate::cache::query::QueryContext {
        crate::cache::query::QueryContext {
            current_user: self
                .state()
                .actor
                .read()
                .ok()
                .and_then(|a| a.account_id.clone()),
            now_ms: crate::cache::now_ms(),
        }
    }

    /// JQL compiled for the cache, or an error naming the clause and what the subset holds.
    pub(crate) fn offline_jql(
        &self,
        jql: &str,
        why: &Why,
    ) -> Result<crate::cache::query::SqlFilter, ToolError> {
        use crate::cache::query::{JQL_SUBSET, compile_jql};
        compile_jql(jql, &self.query_context()).map_err(|e| {
            ToolError::Invalid(format!(
                "{e}. The site is not available ({}), so the JQL runs over the local cache, which understands: {JQL_SUBSET}",
                why.text()
            ))
        })
    }

    /// CQL compiled for the cache, as [`BridgeServer::offline_jql`].
    pub(crate) fn offline_cql(
        &self,
        cql: &str,
        why: &Why,
    ) -> Result<crate::cache::query::SqlFilter, ToolError> {
        use crate::cache::query::{CQL_SUBSET, compile_cql};
        compile_cql(cql, &self.query_context()).map_err(|e| {
            ToolError::Invalid(format!(
                "{e}. The site is not available ({}), so the CQL runs over the local cache, which understands: {CQL_SUBSET}",
                why.text()
            ))
        })
    }

    /// What policy lets the cache answer for.
    pub(crate) fn confine(&self) -> Confine {
        let p = self.state().policy.settings();
        Confine {
            projects: (!p.jira_projects.is_empty()).then(|| p.jira_projects.clone()),
            spaces: (!p.confluence_spaces.is_empty()).then(|| p.confluence_spaces.clone()),
        }
    }

    /// The error for a read the cache cannot answer: names what is missing and how to keep it
    /// next time.
    pub(crate) fn not_cached(&self, what: &str, why: &Why, hint: &str) -> ToolError {
        let cache = match self.cache() {
            None => "the local cache is off (cache.enabled = false)".to_string(),
            Some(_) => format!("{what} is not in the local cache"),
        };
        ToolError::NotFound(format!(
            "{cache}, and {}; {hint}",
            why.text().trim_end_matches('.')
        ))
    }

    /// One cached issue, for an offline answer: the write-behind queue is drained first, the
    /// call is marked offline and the key touched.
    pub(crate) async fn cached_issue(
        &self,
        cx: &CallCx,
        key: &str,
        why: &Why,
    ) -> Result<Cached<IssueRecord>, ToolError> {
        let project = key.rsplit_once('-').map(|(p, _)| p).unwrap_or(key);
        let hint = format!(
            "once online, `atlassian-mcp-bridge sync --jira {project}` keeps the project readable offline"
        );
        // Answered without the site, found or not: the audit record says so.
        cx.mark_offline();
        let Some(cache) = self.cache().cloned() else {
            return Err(self.not_cached(key, why, &hint));
        };
        let confine = self.confine();
        let wanted = key.to_string();
        let found = blocking(move || {
            cache.flush();
            cache.issue(&wanted, &confine)
        })
        .await?;
        match found {
            Some(c) => {
                cx.touch([c.record.key.clone()]);
                Ok(c)
            }
            None => Err(self.not_cached(key, why, &hint)),
        }
    }

    /// One cached page, for an offline answer (as [`BridgeServer::cached_issue`]).
    pub(crate) async fn cached_page(
        &self,
        cx: &CallCx,
        id: &str,
        why: &Why,
    ) -> Result<Cached<PageRecord>, ToolError> {
        let hint = "once online, `atlassian-mcp-bridge sync --confluence SPACE` keeps a space readable offline";
        let what = format!("page {id}");
        cx.mark_offline();
        let Some(cache) = self.cache().cloned() else {
            return Err(self.not_cached(&what, why, hint));
        };
        let confine = self.confine();
        let wanted = id.to_string();
        let found = blocking(move || {
            cache.flush();
            cache.page(&wanted, &confine)
        })
        .await?;
        match found {
            Some(c) => {
                cx.touch([c.record.id.clone()]);
                Ok(c)
            }
            None => Err(self.not_cached(&what, why, hint)),
        }
    }

    /// Keeps issues a read returned (write-behind: conversion and storing happen on the
    /// cache's own thread, not on this call's path). Only issues policy lets through. `full`:
    /// the read fetched the whole issue (description, links …); `false` for search rows,
    /// which keep what the cache already holds beyond them.
    pub(crate) fn keep_issues(&self, issues: Vec<Issue>, full: bool, comments: Option<Comments>) {
        let Some(cache) = self.cache() else { return };
        let state = self.state();
        let issues: Vec<Issue> = issues
            .into_iter()
            .filter(|i| {
                state.policy.issue_visible(&i.key, i.project_key.as_deref())
                    && state.policy.project_allowed(&records::project_of(i))
            })
            .collect();
        if issues.is_empty() {
            return;
        }
        // Links are built on the cache's writer thread, not on the call's path.
        let site = state.api.site().clone();
        cache.put_later(move || {
            Batch::Issues(
                issues
                    .iter()
                    .map(|i| {
                        let url = crate::atlassian::issue_url(&site, &i.key);
                        let mut r = records::issue_record(i, url, full, comments.as_ref());
                        r.partial = !full;
                        r
                    })
                    .collect(),
            )
        });
    }

    /// Keeps a page a read returned (write-behind), when policy lets its space through.
    pub(crate) fn keep_page(&self, page: Page, names: HashMap<String, String>) {
        let Some(cache) = self.cache() else { return };
        let state = self.state();
        let Some(space) = page.space_key.as_deref() else {
            return;
        };
        if !state.policy.space_allowed(space) {
            return;
        }
        let wiki_base = Some(state.api.confluence().wiki_base());
        cache.put_later(move || {
            Batch::Pages(
                records::page_record(&page, &names, wiki_base)
                    .into_iter()
                    .collect(),
            )
        });
    }
}

/// Where an offline page starts: 0 without a token, else the offset in an `offline:<n>` token
/// from an earlier offline answer. `what` names the argument (`next_page_token`, `cursor`); a
/// token the site issued cannot page the cache.
pub(crate) fn offline_offset(
    given: Option<&str>,
    prefix: &str,
    what: &str,
    why: &Why,
) -> Result<u64, ToolError> {
    match given.map(str::trim) {
        None | Some("") => Ok(0),
        Some(t) => t
            .strip_prefix(prefix)
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| {
                ToolError::Invalid(format!(
                    "this {what} came from the site, which is not available now ({}); search again without it to page the local cache",
                    why.text()
                ))
            }),
    }
}

/// A cached issue in the client's own types, for code that builds from them (the summarize
/// digest): descriptions and comments are Markdown already; the changelog is not kept.
pub(crate) fn issue_from_record(r: &IssueRecord) -> (IssueDetail, Comments) {
    use crate::atlassian::jira::{Comment, IssueLink, RichText, User};
    let user = |p: &Option<crate::cache::Person>| {
        p.as_ref().map(|p| User {
            id: p.id.clone(),
            display_name: p.name.clone(),
            email: None,
        })
    };
    let issue = Issue {
        key: r.key.clone(),
        summary: Some(r.summary.clone()),
        status: r.status.clone(),
        status_category: r.status_category.clone(),
        issue_type: r.issue_type.clone(),
        priority: r.priority.clone(),
        assignee: user(&r.assignee),
        reporter: user(&r.reporter),
        created: r.created.clone(),
        updated: r.updated.clone(),
        due: r.due.clone(),
        resolution: r.resolution.clone(),
        labels: r.labels.clone(),
        project_key: Some(r.project.clone()),
        parent: r.parent.clone(),
        components: r.components.clone(),
        description: r.description.clone().map(RichText::Markdown),
        links: r
            .links
            .iter()
            .map(|l| IssueLink {
                relation: l.relation.clone(),
                key: l.key.clone(),
                summary: l.summary.clone(),
                status: l.status.clone(),
            })
            .collect(),
        subtasks: r.subtasks.clone(),
        ..Issue::default()
    };
    let comments = Comments {
        comments: r
            .comments
            .iter()
            .flatten()
            .map(|c| Comment {
                id: None,
                author: Some(User {
                    display_name: Some(c.author.clone()),
                    ..User::default()
                }),
                created: c.created.clone(),
                body: Some(RichText::Markdown(c.body.clone())),
            })
            .collect(),
        total: r.comment_total,
    };
    (
        IssueDetail {
            issue,
            ..IssueDetail::default()
        },
        comments,
    )
}

/// Runs cache work on the blocking pool, mapping its errors to a tool error.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, crate::cache::CacheError> + Send + 'static,
) -> Result<T, ToolError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ToolError::Invalid(format!(
            "{e}; `atlassian-mcp-bridge cache clear` starts a new cache"
        ))),
        Err(e) => Err(ToolError::Invalid(format!(
            "the local cache could not be read: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_a_person_says_them() {
        assert_eq!(age_text(10_000), "under a minute");
        assert_eq!(age_text(12 * 60_000), "12 min");
        assert_eq!(age_text(5 * 3_600_000 + 59 * 60_000), "5 h");
        assert_eq!(age_text(3 * 86_400_000), "3 days");
        assert_eq!(age_text(-5), "under a minute");
    }

    #[test]
    fn the_label_names_the_time_and_age() {
        let at = 1_795_255_200_000; // 2026-11-21 10:00 UTC
        let label = offline_label(at, at + 5 * 3_600_000);
        assert!(
            label.starts_with("Offline copy from 2026-11-21 10:00 UTC (5 h old)"),
            "{label}"
        );
        assert_eq!(rfc3339(at), "2026-11-21T10:00:00Z");
    }

    #[test]
    fn an_offline_answer_carries_offline_and_as_of_next_to_the_tool_fields() {
        #[derive(Serialize)]
        struct Out {
            key: String,
        }
        let v = serde_json::to_value(Served::offline(
            Out {
                key: "ENG-1".into(),
            },
            1_795_255_200_000,
        ))
        .unwrap_or_default();
        assert_eq!(v["key"], "ENG-1");
        assert_eq!(v["offline"], true);
        assert_eq!(v["as_of"], "2026-11-21T10:00:00Z");
        let live = serde_json::to_value(Served::online(Out {
            key: "ENG-1".into(),
        }))
        .unwrap_or_default();
        assert!(live.get("offline").is_none() && live.get("as_of").is_none());
    }
}
