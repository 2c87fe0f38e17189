//! `confluence_search`: CQL search with cleaned excerpts.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::mcp::args::{bounded_paged, opt_u32};
use crate::mcp::offline::{Served, Why, offline_offset};
use crate::mcp::render::{Render, clip, day, one_line};
use crate::mcp::{BridgeServer, CallCx, ToolError};

/// How cursors of offline answers begin (the rest is the offset into the cached result).
const OFFLINE_CURSOR: &str = "offline:";
use rmcp::handler::server::tool::{Extension, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::{schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

/// Arguments of `confluence_search`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// CQL query, e.g. `type = page AND space = ENG AND text ~ "release"`. Plain words with no
    /// CQL operator are searched as `text ~ "<words>"`.
    pub cql: String,
    /// Results per page.
    #[serde(default, deserialize_with = "opt_u32")]
    #[schemars(range(min = 1, max = 50), extend("default" = 10))]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One search hit.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct HitOut {
    /// Content id (page id for pages).
    pub id: Option<String>,
    /// Title.
    pub title: String,
    /// Space key.
    pub space: Option<String>,
    /// Matching text.
    pub excerpt: String,
    /// Link for people.
    pub url: Option<String>,
    /// Last modified.
    pub last_modified: Option<String>,
    /// Content type (page, blogpost…).
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// Result of `confluence_search`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SearchOut {
    /// Hits on this page.
    pub results: Vec<HitOut>,
    /// Pass back as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// The CQL actually sent (after policy confinement).
    pub cql: String,
    /// Set when the query had no CQL operator and was searched as `text ~ "…"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub searched_as_text: Option<String>,
}

impl Render for SearchOut {
    fn render(&self) -> String {
        let mut out = String::new();
        if let Some(q) = &self.searched_as_text {
            let _ = writeln!(out, "(no CQL operator in the query: searched as {q})");
        }
        let _ = write!(out, "{} result(s)", self.results.len());
        match &self.next_cursor {
            Some(c) => {
                let _ = writeln!(out, "; more: cursor=\"{c}\"");
            }
            None => out.push_str("; last page\n"),
        }
        for r in &self.results {
            let _ = write!(
                out,
                "{} | {} | {} | {}",
                r.id.as_deref().unwrap_or("-"),
                r.space.as_deref().unwrap_or("-"),
                r.last_modified.as_deref().map(day).unwrap_or("-"),
                one_line(&r.title)
            );
            if !r.excerpt.is_empty() {
                let _ = write!(out, " — {}", clip(&one_line(&r.excerpt), 160));
            }
            out.push('\n');
        }
        out
    }
}

#[tool_router(router = confluence_search_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "confluence_search",
        description = "Search Confluence with CQL. Returns one page of hits (id, space, date, title, excerpt) and a next_cursor.",
        annotations(title = "Search Confluence", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<SearchOut>()
    )]
    pub(crate) async fn confluence_search(
        &self,
        Parameters(args): Parameters<SearchArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
    ) -> CallToolResponse {
        cx.finish(self.confluence_search_impl(&cx, args).await)
    }
}

impl BridgeServer {
    /// `confluence_search`: at the site, or over the local cache (the CQL subset of
    /// [`crate::cache::query`]) when the site is unreachable or `[cache].offline = "always"`.
    async fn confluence_search_impl(
        &self,
        cx: &CallCx,
        args: SearchArgs,
    ) -> Result<Served<SearchOut>, ToolError> {
        if let Some(why) = self.offline_only() {
            return self.confluence_search_offline(cx, args, &why).await;
        }
        if args
            .cursor
            .as_deref()
            .is_some_and(|c| c.starts_with(OFFLINE_CURSOR))
        {
            let why = Why::Unreachable("the previous page came from the local cache".into());
            return self.confluence_search_offline(cx, args, &why).await;
        }
        let retry = SearchArgs {
            cql: args.cql.clone(),
            limit: args.limit,
            cursor: None,
        };
        match self.confluence_search_online(cx, args).await {
            Ok(out) => Ok(Served::online(out)),
            Err(e) => match self.fallback(&e) {
                Some(why) => self.confluence_search_offline(cx, retry, &why).await,
                None => Err(e),
            },
        }
    }

    async fn confluence_search_offline(
        &self,
        cx: &CallCx,
        args: SearchArgs,
        why: &Why,
    ) -> Result<Served<SearchOut>, ToolError> {
        let state = self.state();
        let limit = bounded_paged(
            args.limit,
            10,
            50,
            "limit",
            "pass the returned next_cursor as cursor",
        )?;
        let (query, searched_as_text) = match as_text_search(&args.cql) {
            Some(text) => (text.clone(), Some(text)),
            None => (args.cql.clone(), None),
        };
        let cql = state.policy.admit_cql(&query)?;
        let offset = offline_offset(args.cursor.as_deref(), OFFLINE_CURSOR, "cursor", why)?;
        let Some(cache) = self.cache().cloned() else {
            return Err(self.not_cached(
                "nothing",
                why,
                "turn cache.enabled on to keep what is read",
            ));
        };
        let filter = self.offline_cql(&cql, why)?;
        let confine = self.confine();
        let (found, total) = crate::mcp::offline::blocking(move || {
            cache.flush();
            cache.search_pages(&filter, &confine, offset, u64::from(limit))
        })
        .await?;
        cx.mark_offline();
        let oldest = found.iter().map(|c| c.fetched_at).min();
        let results: Vec<HitOut> = found
            .into_iter()
            .map(|c| {
                let r = c.record;
                HitOut {
                    excerpt: r
                        .body
                        .as_deref()
                        .map(|b| clip(&one_line(b), 200))
                        .unwrap_or_default(),
                    id: Some(r.id),
                    title: r.title,
                    space: Some(r.space),
                    url: r.url,
                    last_modified: r.last_modified,
                    kind: Some(r.kind),
                }
            })
            .collect();
        cx.touch(results.iter().filter_map(|r| r.id.clone()));
        let next = offset + results.len() as u64;
        Ok(Served::offline(
            SearchOut {
                results,
                next_cursor: (next < total).then(|| format!("{OFFLINE_CURSOR}{next}")),
                cql,
                searched_as_text,
            },
            oldest.unwrap_or_else(crate::cache::now_ms),
        ))
    }

    async fn confluence_search_online(
        &self,
        cx: &CallCx,
        args: SearchArgs,
    ) -> Result<SearchOut, ToolError> {
        let state = self.state();
        let limit = bounded_paged(
            args.limit,
            10,
            50,
            "limit",
            "pass the returned next_cursor as cursor",
        )?;
        let (query, searched_as_text) = match as_text_search(&args.cql) {
            Some(text) => (text.clone(), Some(text)),
            None => (args.cql.clone(), None),
        };
        let cql = state.policy.admit_cql(&query)?;
        let cursor = args
            .cursor
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let found = state
            .api
            .confluence()
            .search(&cx.trace, &cql, limit, cursor)
            .await?;
        let results: Vec<HitOut> = found
            .results
            .into_iter()
            // With an allowlist, a hit must prove its space (the CQL wrapper is the first line,
            // this is the second).
            .filter(|h| match h.space.as_deref() {
                Some(s) => state.policy.space_allowed(s),
                None => state.policy.settings().confluence_spaces.is_empty(),
            })
            .map(|h| HitOut {
                id: h.id,
                title: h.title,
                space: h.space,
                excerpt: h.excerpt,
                url: h.url,
                last_modified: h.last_modified,
                kind: h.kind,
            })
            .collect();
        cx.touch(results.iter().filter_map(|r| r.id.clone()));
        self.keep_hits(&results);
        Ok(SearchOut {
            results,
            next_cursor: found.next_cursor,
            cql,
            searched_as_text,
        })
    }
}

impl BridgeServer {
    /// Keeps search hits that are pages or blog posts (titles and dates; no body) in the cache.
    fn keep_hits(&self, hits: &[HitOut]) {
        let Some(cache) = self.cache() else { return };
        let records: Vec<crate::cache::PageRecord> = hits
            .iter()
            .filter(|h| matches!(h.kind.as_deref(), Some("page" | "blogpost")))
            .filter_map(|h| {
                Some(crate::cache::PageRecord {
                    id: h.id.clone()?,
                    space: h.space.clone()?,
                    title: h.title.clone(),
                    kind: h.kind.clone().unwrap_or_else(|| "page".into()),
                    last_modified: h.last_modified.clone(),
                    url: h.url.clone(),
                    ..Default::default()
                })
            })
            .collect();
        if !records.is_empty() {
            cache.put_later(move || crate::cache::Batch::NewPages(records));
        }
    }
}

/// Plain words given where CQL is expected (`release notes 2027`) become `text ~ "…"`; a
/// query with any CQL operator is left alone. `None` when the query is already CQL (or empty).
fn as_text_search(query: &str) -> Option<String> {
    let q = query.trim();
    if q.is_empty() || q.contains(['=', '~', '<', '>', '!', '(', ')']) {
        return None;
    }
    let lower = format!(" {} ", q.to_ascii_lowercase());
    if [" order by ", " in ", " and ", " or ", " not "]
        .iter()
        .any(|w| lower.contains(w))
    {
        return None;
    }
    let words: String = q
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '"' || c == '\\' { ' ' } else { c })
        .collect();
    let words = words.split_whitespace().collect::<Vec<_>>().join(" ");
    (!words.is_empty()).then(|| format!("text ~ \"{words}\""))
}

#[cfg(test)]
mod tests {
    use super::as_text_search;

    #[test]
    fn plain_words_become_a_text_search() {
        assert_eq!(
            as_text_search("release notes 2027").as_deref(),
            Some("text ~ \"release notes 2027\"")
        );
        assert_eq!(
            as_text_search("say \"hi\"").as_deref(),
            Some("text ~ \"say hi\"")
        );
        for cql in [
            "type = page",
            "text ~ \"x\"",
            "space in (ENG, OPS)",
            "title !~ x",
            "lastmodified > now(\"-7d\")",
            "",
        ] {
            assert_eq!(as_text_search(cql), None, "{cql}");
        }
    }
}
