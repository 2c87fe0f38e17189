//! `confluence_get_page`: one page, its storage body as Markdown (or raw storage).

use std::fmt::Write as _;
use std::sync::Arc;

use crate::atlassian::jira::User;
use crate::convert;
use crate::mcp::offline::{Served, Why};
use crate::mcp::render::{Render, day, one_line};
use crate::mcp::{BridgeServer, CallCx, ToolError};
use crate::sanitize::clean_text;
use rmcp::handler::server::tool::{Extension, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::{schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

/// Longest page body returned, in characters; longer bodies are cut with a note.
const MAX_BODY_CHARS: usize = 60_000;

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
    /// Page id (digits, e.g. from confluence_search), or a link to the page on this site
    /// (`…/pages/12345/Title`, a tiny link `…/x/AgAB`).
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
    /// Parent page title, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_title: Option<String>,
    /// Who created the page (display name, or account id when the name cannot be looked up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Who made the current version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_editor: Option<String>,
    /// Labels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
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
            if let Some(e) = &self.last_editor {
                let _ = write!(out, " by {e}");
            }
        }
        if let Some(a) = &self.author {
            let _ = write!(out, " · created by {a}");
        }
        let mut extra = Vec::new();
        if let Some(p) = &self.parent_id {
            match &self.parent_title {
                Some(t) => extra.push(format!("Parent: {} (page {p})", one_line(t))),
                None => extra.push(format!("Parent: page {p}")),
            }
        }
        if !self.labels.is_empty() {
            extra.push(format!("Labels: {}", self.labels.join(", ")));
        }
        if !extra.is_empty() {
            let _ = write!(out, "\n{}", extra.join(" · "));
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

#[tool_router(router = confluence_get_page_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "confluence_get_page",
        description = "Read one Confluence page as Markdown (or raw storage XHTML) with title, space, version and link.",
        annotations(title = "Read a Confluence page", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<PageOut>()
    )]
    pub(crate) async fn confluence_get_page(
        &self,
        Parameters(args): Parameters<GetPageArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
    ) -> CallToolResponse {
        cx.finish(self.get_page_impl(&cx, args).await)
    }
}

impl BridgeServer {
    /// `confluence_get_page`: from the site, or from the local cache when the site is
    /// unreachable (or `[cache].offline = "always"`).
    pub(crate) async fn get_page_impl(
        &self,
        cx: &CallCx,
        args: GetPageArgs,
    ) -> Result<Served<PageOut>, ToolError> {
        let format = args.format.unwrap_or_default();
        if let Some(why) = self.offline_only() {
            let id = super::page_ref_offline(self.state(), &args.page_id)?;
            return self.get_page_offline(cx, &id, format, &why).await;
        }
        let raw = args.page_id.clone();
        match self.get_page_online(cx, args).await {
            Ok(out) => Ok(Served::online(out)),
            Err(e) => match self.fallback(&e) {
                Some(why) => {
                    let id = super::page_ref_offline(self.state(), &raw)?;
                    self.get_page_offline(cx, &id, format, &why).await
                }
                None => Err(e),
            },
        }
    }

    async fn get_page_offline(
        &self,
        cx: &CallCx,
        id: &str,
        format: PageFormat,
        why: &Why,
    ) -> Result<Served<PageOut>, ToolError> {
        let cached = self.cached_page(cx, id, why).await?;
        let r = cached.record;
        if r.body.is_none() && r.storage.is_none() {
            return Err(ToolError::NotFound(format!(
                "only the title of page {id} (\"{}\") is in the local cache, not its text, and {}; once online, `atlassian-mcp-bridge sync --confluence {}` keeps the space readable offline",
                r.title,
                why.text(),
                r.space
            )));
        }
        let body = match format {
            PageFormat::Markdown => without_title(r.body.as_deref().unwrap_or(""), &r.title),
            PageFormat::Storage => clean_text(r.storage.as_deref().unwrap_or("")),
        };
        let truncated = body.chars().count() > MAX_BODY_CHARS;
        let body = if truncated {
            body.chars().take(MAX_BODY_CHARS).collect()
        } else {
            body
        };
        let parent_title = r.ancestors.last().and_then(|a| a.title.clone());
        Ok(Served::offline(
            PageOut {
                id: r.id,
                title: r.title,
                space_id: r.space_id,
                space_key: Some(r.space),
                version: r.version,
                updated: r.last_modified,
                parent_id: r.parent_id,
                parent_title,
                author: r.author,
                last_editor: r.last_editor,
                labels: r.labels,
                format,
                body,
                truncated,
                url: r.url,
            },
            cached.fetched_at,
        ))
    }

    async fn get_page_online(&self, cx: &CallCx, args: GetPageArgs) -> Result<PageOut, ToolError> {
        let state = self.state();
        let id = super::page_ref(state, &cx.trace, &args.page_id).await?;
        let id = id.as_str();
        let confluence = state.api.confluence();
        let page = confluence
            .page(&cx.trace, id)
            .await
            .map_err(ToolError::naming(&format!("page {id}")))?;
        state
            .policy
            .admit_fetched_page(id, page.space_key.as_deref())?;
        cx.touch([page.id.clone()]);
        let format = args.format.unwrap_or_default();
        // Names for the people the page mentions and for its author and last editor, and the
        // parent's title: asked together, each best-effort.
        let mut people = convert::mentioned_users(&page.storage);
        for u in [&page.author, &page.last_editor].into_iter().flatten() {
            if u.display_name.is_none()
                && let Some(id) = &u.id
                && !people.contains(id)
            {
                people.push(id.clone());
            }
        }
        let parent_title = async {
            match (&page.parent_title, &page.parent_id) {
                (Some(t), _) => Some(t.clone()),
                (None, Some(pid)) => confluence.page_title(&cx.trace, pid).await,
                (None, None) => None,
            }
        };
        let (names, parent_title) =
            futures::join!(confluence.display_names(&cx.trace, &people), parent_title);
        let who = |u: &Option<User>| {
            u.as_ref().and_then(|u| {
                u.display_name
                    .clone()
                    .or_else(|| u.id.as_ref().and_then(|i| names.get(i).cloned()))
                    .or_else(|| u.id.clone())
            })
        };
        let mut kept = page.clone();
        kept.parent_title.clone_from(&parent_title);
        self.keep_page(kept, names.clone());
        let body = match format {
            PageFormat::Markdown => {
                let links = convert::StorageLinks {
                    users: names.clone(),
                    wiki_base: Some(confluence.wiki_base()),
                    space: page.space_key.clone(),
                };
                without_title(
                    &convert::storage_to_markdown_with(&page.storage, &links),
                    &page.title,
                )
            }
            PageFormat::Storage => clean_text(&page.storage),
        };
        let truncated = body.chars().count() > MAX_BODY_CHARS;
        let body = if truncated {
            body.chars().take(MAX_BODY_CHARS).collect()
        } else {
            body
        };
        Ok(PageOut {
            author: who(&page.author),
            last_editor: who(&page.last_editor),
            labels: page.labels.iter().map(|l| clean_text(l)).collect(),
            parent_title: parent_title.map(|t| clean_text(&t)),
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
}

/// The body without a first heading that only repeats the title (the header names it already).
fn without_title(markdown: &str, title: &str) -> String {
    let mut lines = markdown.lines();
    match lines.next() {
        Some(first)
            if first.starts_with("# ") && first[2..].trim().eq_ignore_ascii_case(title.trim()) =>
        {
            lines
                .collect::<Vec<_>>()
                .join("\n")
                .trim_start_matches('\n')
                .to_string()
        }
        _ => markdown.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_heading_that_repeats_the_title_goes() {
        let body = "# Architecture Overview\n\nThe bridge…\n\n# Other";
        assert_eq!(
            super::without_title(body, "Architecture overview"),
            "The bridge…\n\n# Other"
        );
        assert_eq!(
            super::without_title("# Intro\n\nx", "Title"),
            "# Intro\n\nx"
        );
        assert_eq!(super::without_title("", "Title"), "");
    }
}
