//! MCP resources: the templates `jira://issue/{key}` and `confluence://page/{id}` read as
//! Markdown, and a few concrete resources for the person's recently updated open issues.
//!
//! A resource read is the same read as `jira_get_issue` / `confluence_get_page` (same policy
//! checks, same rendering) and leaves one audit record (event `resource_read`) like a tool call.
//! The templates are offered only while the tool behind them is allowed by policy.

use std::time::{Duration, Instant};

use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceRequestParams,
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};
use serde_json::json;

use super::confluence::get_page::GetPageArgs;
use super::jira::get_issue::{GetIssueArgs, IncludePart};
use super::render::{Render, clip, one_line};
use super::{BridgeServer, CallCx, ToolError};
use crate::catalog;

/// URI prefix of Jira issue resources.
pub const ISSUE_PREFIX: &str = "jira://issue/";
/// URI prefix of Confluence page resources.
pub const PAGE_PREFIX: &str = "confluence://page/";
/// The tool whose policy governs issue resources (and issue-key completion).
const ISSUE_TOOL: &str = "jira_get_issue";
/// The tool whose policy governs page resources (and page completion).
const PAGE_TOOL: &str = "confluence_get_page";
/// How many recent issues `resources/list` offers.
const RECENT_ISSUES: u32 = 10;
/// How long the recent-issues list is reused before Atlassian is asked again (clients list
/// resources on every connect and after every change notification).
const RECENT_TTL: Duration = Duration::from_secs(60);
/// The JQL behind the concrete resources: the person's open issues, most recently updated first.
pub const RECENT_JQL: &str =
    "assignee = currentUser() AND statusCategory != Done ORDER BY updated DESC";

/// What `resources/list` last found, and when.
#[derive(Debug, Default)]
pub struct RecentCache {
    inner: tokio::sync::Mutex<Option<(Instant, Vec<Resource>)>>,
}

/// A parsed resource URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceRef {
    /// `jira://issue/{key}`.
    Issue(String),
    /// `confluence://page/{id}`.
    Page(String),
}

impl ResourceRef {
    /// Parses one of our URIs; anything else is a clear error naming the two forms.
    pub fn parse(uri: &str) -> Result<Self, ToolError> {
        let rest = |prefix: &str| {
            uri.strip_prefix(prefix)
                .map(|r| r.trim_end_matches('/').to_string())
        };
        match (rest(ISSUE_PREFIX), rest(PAGE_PREFIX)) {
            (Some(key), _) if !key.is_empty() && !key.contains('/') => Ok(Self::Issue(key)),
            (_, Some(id)) if !id.is_empty() && !id.contains('/') => Ok(Self::Page(id)),
            _ => {
                let shown: String = uri.chars().take(80).collect();
                Err(ToolError::NotFound(format!(
                    "unknown resource `{shown}`; this server offers {ISSUE_PREFIX}{{key}} and {PAGE_PREFIX}{{id}}"
                )))
            }
        }
    }
}

impl BridgeServer {
    /// True when policy allows the tool of that name.
    pub(crate) fn tool_allowed(&self, name: &str) -> bool {
        catalog::find(name).is_some_and(|t| self.state().policy.admit_tool(t).is_ok())
    }

    /// The resource templates policy allows.
    pub(crate) fn resource_templates(&self) -> ListResourceTemplatesResult {
        let mut templates = Vec::new();
        if self.tool_allowed(ISSUE_TOOL) {
            templates.push(
                ResourceTemplate::new(format!("{ISSUE_PREFIX}{{key}}"), "jira-issue")
                    .with_title("Jira issue")
                    .with_description(
                        "A Jira issue with description and latest comments, as Markdown",
                    )
                    .with_mime_type("text/markdown"),
            );
        }
        if self.tool_allowed(PAGE_TOOL) {
            templates.push(
                ResourceTemplate::new(format!("{PAGE_PREFIX}{{id}}"), "confluence-page")
                    .with_title("Confluence page")
                    .with_description("A Confluence page as Markdown")
                    .with_mime_type("text/markdown"),
            );
        }
        ListResourceTemplatesResult::with_all_items(templates)
    }

    /// The person's recently updated open issues as concrete resources (cached briefly; empty
    /// when Atlassian cannot be reached — listing must not fail a client's start-up).
    pub(crate) async fn recent_resources(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> ListResourcesResult {
        if !self.tool_allowed(ISSUE_TOOL) || !self.tool_allowed("jira_search") {
            return ListResourcesResult::with_all_items(Vec::new());
        }
        let mut cached = self.recent.inner.lock().await;
        if let Some((at, items)) = cached.as_ref()
            && at.elapsed() < RECENT_TTL
        {
            return ListResourcesResult::with_all_items(items.clone());
        }
        let found = self
            .audited(
                "resource_list",
                json!({ "jql": RECENT_JQL }),
                context,
                |cx| async move { self.recent_issues(&cx).await },
            )
            .await;
        let items = match found {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!("resources/list: recent issues unavailable: {}", e.message);
                Vec::new()
            }
        };
        *cached = Some((Instant::now(), items.clone()));
        ListResourcesResult::with_all_items(items)
    }

    async fn recent_issues(&self, cx: &CallCx) -> Result<Vec<Resource>, ToolError> {
        let state = self.state();
        let jql = state.policy.admit_jql(RECENT_JQL)?;
        let online = match self.offline_only() {
            Some(why) => Err(why),
            None => match state
                .api
                .jira()
                .search(&cx.trace, &jql, &[], RECENT_ISSUES, None)
                .await
                .map_err(ToolError::from)
            {
                Ok(page) => Ok(page.issues),
                Err(e) => Err(self.fallback(&e).ok_or(e)?),
            },
        };
        let issues = match online {
            Ok(issues) => {
                let kept: Vec<_> = issues
                    .into_iter()
                    .filter(|i| state.policy.issue_visible(&i.key, i.project_key.as_deref()))
                    .collect();
                self.keep_issues(kept.clone(), false, None);
                kept
            }
            Err(_) => self.recent_issues_offline(cx, &jql).await?,
        };
        let items: Vec<Resource> = issues
            .into_iter()
            .map(|i| {
                let summary = clip(&one_line(i.summary.as_deref().unwrap_or("")), 100);
                let status = i.status.unwrap_or_default();
                Resource::new(format!("{ISSUE_PREFIX}{}", i.key), i.key.clone())
                    .with_title(format!("{}: {summary}", i.key))
                    .with_description(format!("{status} · assigned to you"))
                    .with_mime_type("text/markdown")
            })
            .collect();
        cx.touch(items.iter().map(|r| r.name.clone()));
        Ok(items)
    }

    /// The same list from the local cache (the site is unreachable or not to be contacted).
    async fn recent_issues_offline(
        &self,
        cx: &CallCx,
        jql: &str,
    ) -> Result<Vec<crate::atlassian::jira::Issue>, ToolError> {
        let Some(cache) = self.cache().cloned() else {
            return Ok(Vec::new());
        };
        // Without a known account, `currentUser()` cannot be evaluated: list nothing.
        let Ok(filter) = crate::cache::query::compile_jql(jql, &self.query_context()) else {
            return Ok(Vec::new());
        };
        let confine = self.confine();
        let (found, _) = crate::mcp::offline::blocking(move || {
            cache.flush();
            cache.search_issues(&filter, &confine, 0, u64::from(RECENT_ISSUES))
        })
        .await?;
        cx.mark_offline();
        Ok(found
            .iter()
            .map(|c| crate::mcp::offline::issue_from_record(&c.record).0.issue)
            .collect())
    }

    /// `resources/read`: one issue or page as Markdown, audited as `resource_read`.
    pub(crate) async fn read(
        &self,
        request: ReadResourceRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<ReadResourceResult, McpError> {
        let uri = request.uri.clone();
        self.audited(
            "resource_read",
            json!({ "uri": uri }),
            context,
            |cx| async move {
                let text = match ResourceRef::parse(&uri)? {
                    ResourceRef::Issue(key) => {
                        self.admit_named_tool(ISSUE_TOOL)?;
                        let args = GetIssueArgs {
                            key,
                            include: Some(vec![IncludePart::Comments]),
                            comment_limit: None,
                            fields: None,
                        };
                        self.get_issue_impl(&cx, args).await?.render()
                    }
                    ResourceRef::Page(page_id) => {
                        self.admit_named_tool(PAGE_TOOL)?;
                        let args = GetPageArgs {
                            page_id,
                            format: None,
                        };
                        self.get_page_impl(&cx, args).await?.render()
                    }
                };
                Ok(ReadResourceResult::new(vec![
                    ResourceContents::text(text, uri).with_mime_type("text/markdown"),
                ]))
            },
        )
        .await
    }

    /// Refuses when policy does not allow the tool a resource, completion or prompt stands for.
    pub(crate) fn admit_named_tool(&self, name: &str) -> Result<(), ToolError> {
        match catalog::find(name) {
            Some(t) => self.state().policy.admit_tool(t).map_err(ToolError::Denied),
            None => Err(ToolError::Denied(format!("`{name}` is not available"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_our_uris_and_refuses_others() {
        assert_eq!(
            ResourceRef::parse("jira://issue/ENG-1").ok(),
            Some(ResourceRef::Issue("ENG-1".into()))
        );
        assert_eq!(
            ResourceRef::parse("confluence://page/123/").ok(),
            Some(ResourceRef::Page("123".into()))
        );
        for bad in [
            "jira://issue/",
            "jira://issue/ENG-1/x",
            "file:///etc/passwd",
            "confluence://space/ENG",
        ] {
            let e = ResourceRef::parse(bad).unwrap_err();
            assert!(
                matches!(&e, ToolError::NotFound(m) if m.contains("jira://issue/{key}")),
                "{bad}: {e:?}"
            );
        }
    }
}
