//! Confluence read tools: `confluence_search`, `confluence_get_page`, `confluence_list_spaces`.

use std::fmt::Write as _;
use std::sync::Arc;

use rmcp::handler::server::tool::{Extension, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

use super::args::{bounded, opt_u32};
use super::render::{Render, clip, day, one_line};
use super::{BridgeServer, CallCx, ToolError};
use crate::convert;
use crate::sanitize::clean_text;

/// Longest page body returned, in characters; longer bodies are cut with a note.
const MAX_BODY_CHARS: usize = 60_000;

// ---------------------------------------------------------------------------------------------
// confluence_search
// ---------------------------------------------------------------------------------------------

/// Arguments of `confluence_search`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// CQL query, e.g. `type = page AND space = ENG AND text ~ "release"`.
    pub cql: String,
    /// Results per page, 1–50 (default 10).
    #[serde(default, deserialize_with = "opt_u32")]
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
}

impl Render for SearchOut {
    fn render(&self) -> String {
        let mut out = format!("{} result(s)", self.results.len());
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

// ---------------------------------------------------------------------------------------------
// confluence_get_page
// ---------------------------------------------------------------------------------------------

/// Body format for `confluence_get_page`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PageFormat {
    /// Markdown converted from storage format (default).
    #[default]
    Markdown,
    /// Raw Confluence storage XHTML.
    Storage,
}

/// Arguments of `confluence_get_page`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetPageArgs {
    /// Page id (digits), e.g. from confluence_search.
    pub page_id: String,
    /// `markdown` (default) or `storage`.
    #[serde(default)]
    pub format: Option<PageFormat>,
}

/// Result of `confluence_get_page`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PageOut {
    /// Page id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Space id (Cloud) or key (Data Center).
    pub space_id: Option<String>,
    /// Space key, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub space_key: Option<String>,
    /// Version number.
    pub version: Option<u64>,
    /// Last change time.
    pub updated: Option<String>,
    /// Parent page id.
    pub parent_id: Option<String>,
    /// Format of `body`.
    pub format: PageFormat,
    /// Page body.
    pub body: String,
    /// True when the body was cut to its first 60,000 characters.
    pub truncated: bool,
    /// Link for people.
    pub url: Option<String>,
}

impl Render for PageOut {
    fn render(&self) -> String {
        let mut out = format!("# {}\n", one_line(&self.title));
        let _ = write!(out, "Page {}", self.id);
        if let Some(s) = self.space_key.as_ref().or(self.space_id.as_ref()) {
            let _ = write!(out, " · space {s}");
        }
        if let Some(v) = self.version {
            let _ = write!(out, " · v{v}");
        }
        if let Some(u) = &self.updated {
            let _ = write!(out, " · updated {}", day(u));
        }
        if let Some(url) = &self.url {
            let _ = write!(out, "\nURL: {url}");
        }
        let _ = write!(out, "\n\n{}\n", self.body.trim_end());
        if self.truncated {
            out.push_str("\n[body truncated at 60,000 characters]\n");
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// confluence_list_spaces
// ---------------------------------------------------------------------------------------------

/// Arguments of `confluence_list_spaces`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSpacesArgs {
    /// Only these space keys.
    #[serde(default)]
    pub keys: Option<Vec<String>>,
    /// Spaces per page, 1–100 (default 25).
    #[serde(default, deserialize_with = "opt_u32")]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A space.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SpaceOut {
    /// Space id.
    pub id: Option<String>,
    /// Key.
    pub key: String,
    /// Name.
    pub name: Option<String>,
    /// global or personal.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Homepage id.
    pub homepage_id: Option<String>,
    /// Link for people.
    pub url: Option<String>,
}

/// Result of `confluence_list_spaces`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SpacesOut {
    /// Spaces.
    pub spaces: Vec<SpaceOut>,
    /// Pass back as `cursor`; null on the last page.
    pub next_cursor: Option<String>,
}

impl Render for SpacesOut {
    fn render(&self) -> String {
        let mut out = format!("{} space(s)", self.spaces.len());
        match &self.next_cursor {
            Some(c) => {
                let _ = writeln!(out, "; more: cursor=\"{c}\"");
            }
            None => out.push('\n'),
        }
        for s in &self.spaces {
            let _ = writeln!(
                out,
                "{} | {} | {} | id {} | home {}",
                s.key,
                s.name.as_deref().unwrap_or("-"),
                s.kind.as_deref().unwrap_or("-"),
                s.id.as_deref().unwrap_or("-"),
                s.homepage_id.as_deref().unwrap_or("-"),
            );
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

#[tool_router(router = confluence_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "confluence_search",
        description = "Search Confluence with CQL. Returns one page of hits (id, space, date, title, excerpt) and a next_cursor.",
        annotations(title = "Search Confluence", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<SearchOut>()
    )]
    async fn confluence_search(
        &self,
        Parameters(args): Parameters<SearchArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
    ) -> CallToolResult {
        cx.finish(self.confluence_search_impl(&cx, args).await)
    }

    #[tool(
        name = "confluence_get_page",
        description = "Read one Confluence page as Markdown (or raw storage XHTML) with title, space, version and link.",
        annotations(title = "Read a Confluence page", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<PageOut>()
    )]
    async fn confluence_get_page(
        &self,
        Parameters(args): Parameters<GetPageArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
    ) -> CallToolResult {
        cx.finish(self.get_page_impl(&cx, args).await)
    }

    #[tool(
        name = "confluence_list_spaces",
        description = "List Confluence spaces (key, name, type, id, homepage), optionally only given keys.",
        annotations(title = "List Confluence spaces", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<SpacesOut>()
    )]
    async fn confluence_list_spaces(
        &self,
        Parameters(args): Parameters<ListSpacesArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
    ) -> CallToolResult {
        cx.finish(self.list_spaces_impl(&cx, args).await)
    }
}

impl BridgeServer {
    async fn confluence_search_impl(
        &self,
        cx: &CallCx,
        args: SearchArgs,
    ) -> Result<SearchOut, ToolError> {
        let state = self.state();
        let limit = bounded(args.limit, 10, 50, "limit")?;
        let cql = args.cql.trim();
        if cql.is_empty() && state.policy.settings().confluence_spaces.is_empty() {
            return Err(ToolError::Invalid(
                "cql must not be empty; e.g. `type = page AND text ~ \"onboarding\"`".to_string(),
            ));
        }
        let cql = state
            .policy
            .confine_cql(cql)
            .map_err(|e| ToolError::Invalid(format!("{e}; fix the CQL and try again")))?;
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
        Ok(SearchOut {
            results,
            next_cursor: found.next_cursor,
            cql,
        })
    }

    async fn get_page_impl(&self, cx: &CallCx, args: GetPageArgs) -> Result<PageOut, ToolError> {
        let state = self.state();
        let id = args.page_id.trim();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(ToolError::Invalid(format!(
                "`{}` is not a page id; page ids are digits, e.g. from confluence_search",
                args.page_id
            )));
        }
        let confluence = state.api.confluence();
        let page = confluence.page(&cx.trace, id).await?;
        if !state.policy.settings().confluence_spaces.is_empty() {
            match page.space_key.as_deref() {
                Some(key) if state.policy.space_allowed(key) => {}
                Some(key) => {
                    return Err(ToolError::Denied(format!(
                        "page {id} is in space {key}; {}",
                        state.policy.space_denial(key)
                    )));
                }
                None => {
                    return Err(ToolError::Denied(format!(
                        "page {id}'s space could not be determined, so policy.confluence_spaces cannot allow it"
                    )));
                }
            }
        }
        cx.touch([page.id.clone()]);
        let format = args.format.unwrap_or_default();
        let body = match format {
            PageFormat::Markdown => convert::storage_to_markdown(&page.storage),
            PageFormat::Storage => clean_text(&page.storage),
        };
        let truncated = body.chars().count() > MAX_BODY_CHARS;
        let body = if truncated {
            body.chars().take(MAX_BODY_CHARS).collect()
        } else {
            body
        };
        Ok(PageOut {
            id: page.id,
            title: page.title,
            space_id: page.space_id,
            space_key: page.space_key,
            version: page.version,
            updated: page.updated,
            parent_id: page.parent_id,
            format,
            body,
            truncated,
            url: page.url,
        })
    }

    async fn list_spaces_impl(
        &self,
        cx: &CallCx,
        args: ListSpacesArgs,
    ) -> Result<SpacesOut, ToolError> {
        let state = self.state();
        let limit = bounded(args.limit, 25, 100, "limit")?;
        let mut keys: Vec<String> = args
            .keys
            .unwrap_or_default()
            .into_iter()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .collect();
        let allowed = &state.policy.settings().confluence_spaces;
        if !allowed.is_empty() {
            if let Some(outside) = keys.iter().find(|k| !state.policy.space_allowed(k)) {
                return Err(ToolError::Denied(state.policy.space_denial(outside)));
            }
            if keys.is_empty() {
                keys = allowed.clone();
            }
        }
        let cursor = args
            .cursor
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let list = state
            .api
            .confluence()
            .spaces(&cx.trace, &keys, limit, cursor)
            .await?;
        let spaces: Vec<SpaceOut> = list
            .spaces
            .into_iter()
            .filter(|s| state.policy.space_allowed(&s.key))
            .map(|s| SpaceOut {
                id: s.id,
                key: s.key,
                name: s.name,
                kind: s.kind,
                homepage_id: s.homepage_id,
                url: s.url,
            })
            .collect();
        cx.touch(spaces.iter().map(|s| s.key.clone()));
        Ok(SpacesOut {
            spaces,
            next_cursor: list.next_cursor,
        })
    }
}
