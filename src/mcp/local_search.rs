//! `atlassian_local_search`: ranked full-text search over the issues and pages in the local
//! cache (SPEC §5, §10): online or offline, in milliseconds, policy applied.

use std::fmt::Write as _;
use std::sync::Arc;

use rmcp::handler::server::tool::{Extension, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::{schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

use super::args::{bounded, count_schema, opt_list, opt_u32};
use super::offline::{age_text, blocking};
use super::render::{Render, clip, day, one_line};
use super::{BridgeServer, CallCx, ToolError};
use crate::cache::{HitKind, LocalQuery};

/// Hits when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 10;
/// Most hits one call returns.
pub const MAX_LIMIT: u32 = 50;
/// Longest query accepted, in characters.
const MAX_QUERY_CHARS: usize = 500;

/// Which products to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Product {
    /// Jira issues.
    Jira,
    /// Confluence pages.
    Confluence,
}

/// Arguments of `atlassian_local_search`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalSearchArgs {
    /// Words to find (a "quoted phrase" stays together); plain text, not JQL or CQL.
    pub query: String,
    /// `jira`, `confluence` or both (default).
    #[serde(default, deserialize_with = "opt_list")]
    pub products: Option<Vec<Product>>,
    /// Most hits.
    #[serde(default, deserialize_with = "opt_u32")]
    #[schemars(range(min = 1, max = MAX_LIMIT), extend("default" = DEFAULT_LIMIT), transform = count_schema)]
    pub limit: Option<u32>,
}

/// One hit.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct HitOut {
    /// `issue` or `page`.
    pub kind: String,
    /// Issue key or page id (for jira_get_issue / confluence_get_page).
    pub id: String,
    /// Summary or title.
    pub title: String,
    /// Project or space key.
    pub scope: String,
    /// Status (issues).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Text around the match, matched words in **bold**.
    pub snippet: String,
    /// Last change at the site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// When the local copy was fetched (RFC 3339).
    pub cached_at: String,
}

/// Result of `atlassian_local_search`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LocalSearchOut {
    /// The query as searched.
    pub query: String,
    /// Hits, best first.
    pub results: Vec<HitOut>,
    /// How old the oldest copy among the hits is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest: Option<String>,
    /// Set when nothing is cached yet, or nothing matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Render for LocalSearchOut {
    fn render(&self) -> String {
        let mut out = String::new();
        let n = self.results.len();
        let _ = write!(
            out,
            "{n} local result{} for \"{}\"",
            if n == 1 { "" } else { "s" },
            one_line(&self.query)
        );
        if let Some(o) = &self.oldest {
            let _ = write!(out, " (oldest copy {o} old)");
        }
        out.push('\n');
        if let Some(note) = &self.note {
            let _ = writeln!(out, "Note: {note}");
        }
        for h in &self.results {
            let _ = write!(out, "{} {} | {}", h.kind, h.id, h.scope);
            if let Some(s) = &h.status {
                let _ = write!(out, " | {s}");
            }
            if let Some(u) = &h.updated {
                let _ = write!(out, " | {}", day(u));
            }
            let _ = write!(out, " | {}", clip(&one_line(&h.title), 120));
            if !h.snippet.is_empty() {
                let _ = write!(out, " — {}", clip(&one_line(&h.snippet), 200));
            }
            out.push('\n');
        }
        out
    }
}

#[tool_router(router = local_search_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "atlassian_local_search",
        description = "Ranked full-text search with snippets over the issues and pages in the local cache (all read before, or mirrored by sync). Fast, works offline; may miss recent changes.",
        annotations(title = "Search the local copy", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<LocalSearchOut>()
    )]
    pub(crate) async fn atlassian_local_search(
        &self,
        Parameters(args): Parameters<LocalSearchArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
    ) -> CallToolResponse {
        cx.finish(self.local_search_impl(&cx, args).await)
    }
}

impl BridgeServer {
    async fn local_search_impl(
        &self,
        cx: &CallCx,
        args: LocalSearchArgs,
    ) -> Result<LocalSearchOut, ToolError> {
        let limit = bounded(args.limit, DEFAULT_LIMIT, MAX_LIMIT, "limit")?;
        let query = args.query.trim().to_string();
        if query.is_empty() {
            return Err(ToolError::Invalid(
                "query is empty; give the words to look for".to_string(),
            ));
        }
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(ToolError::Invalid(format!(
                "query is {} characters long; at most {MAX_QUERY_CHARS}",
                query.chars().count()
            )));
        }
        let products = args.products.unwrap_or_default();
        let all = products.is_empty();
        let Some(cache) = self.cache().cloned() else {
            return Err(ToolError::Invalid(
                "the local cache is off (cache.enabled = false); turn it on to search what was read".to_string(),
            ));
        };
        let q = LocalQuery {
            text: query.clone(),
            jira: all || products.contains(&Product::Jira),
            confluence: all || products.contains(&Product::Confluence),
            limit: limit as usize,
        };
        let confine = self.confine();
        let hits = blocking(move || {
            cache.flush();
            cache.local_search(&q, &confine)
        })
        .await?;
        let now = crate::cache::now_ms();
        let oldest = hits.iter().map(|h| h.fetched_at).min();
        let results: Vec<HitOut> = hits
            .into_iter()
            .map(|h| HitOut {
                kind: match h.kind {
                    HitKind::Issue => "issue",
                    HitKind::Page => "page",
                }
                .to_string(),
                id: h.id,
                title: h.title,
                scope: h.scope,
                status: h.status,
                snippet: h.snippet,
                updated: h.updated,
                cached_at: super::offline::rfc3339(h.fetched_at),
            })
            .collect();
        cx.touch(results.iter().map(|r| r.id.clone()));
        let note = results.is_empty().then(|| {
            "nothing in the local cache matches; the cache holds what was read before and what `atlassian-mcp-bridge sync` mirrored".to_string()
        });
        Ok(LocalSearchOut {
            query,
            results,
            oldest: oldest.map(|o| age_text(now - o)),
            note,
        })
    }
}
