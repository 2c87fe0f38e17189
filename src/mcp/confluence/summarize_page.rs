//! `confluence_summarize_page`: a digest of one page built locally (outline, word count, the
//! first paragraph of each section within `max_words`, tables by shape, last editor), plus a
//! prose summary from the client's own model when the client offers MCP sampling.

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::handler::server::tool::{Extension, InputResponses, RequestState, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::service::RequestContext;
use rmcp::{schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

use crate::convert;
use crate::mcp::args::{bounded, opt_u32};
use crate::mcp::digest::page::{self, PageDigest, PageFacts};
use crate::mcp::digest::{DEFAULT_MAX_WORDS, MAX_MAX_WORDS};
use crate::mcp::offline::{Served, Why};
use crate::mcp::render::Render;
use crate::mcp::sampling::{self, ModelSummary};
use crate::mcp::{BridgeServer, CallCx, ToolError};

/// Arguments of `confluence_summarize_page`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummarizePageArgs {
    /// Page id (digits, e.g. from confluence_search), or a link to the page on this site.
    pub page_id: String,
    /// Most words of page text to keep (the first paragraph of each section, whole
    /// sentences); the outline and tables do not count.
    #[serde(default, deserialize_with = "opt_u32")]
    #[schemars(range(min = 1, max = 1000), extend("default" = 150))]
    pub max_words: Option<u32>,
}

/// Result of `confluence_summarize_page`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PageSummaryOut {
    /// The digest, built locally from the page (no model involved).
    pub digest: PageDigest,
    /// The client's model's prose summary of the digest, when the client offers sampling.
    #[serde(flatten)]
    pub model: ModelSummary,
}

impl Render for PageSummaryOut {
    fn render(&self) -> String {
        format!(
            "Digest (built locally)\n{}{}",
            self.digest.render(),
            self.model.render()
        )
    }
}

#[tool_router(router = confluence_summarize_page_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "confluence_summarize_page",
        description = "Summarize a Confluence page: a local digest (outline, word count, each section's first paragraph within max_words, tables) plus, if your client offers sampling, a short prose summary by its model.",
        annotations(title = "Summarize a Confluence page", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<PageSummaryOut>()
    )]
    pub(crate) async fn confluence_summarize_page(
        &self,
        Parameters(args): Parameters<SummarizePageArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
        context: RequestContext<RoleServer>,
        InputResponses(answers): InputResponses,
        RequestState(state): RequestState,
    ) -> CallToolResponse {
        cx.finish(
            self.summarize_page_impl(&cx, &context, answers.as_ref(), state.as_deref(), args)
                .await,
        )
    }
}

impl BridgeServer {
    async fn summarize_page_impl(
        &self,
        cx: &CallCx,
        context: &RequestContext<RoleServer>,
        answers: Option<&rmcp::model::InputResponses>,
        request_state: Option<&str>,
        args: SummarizePageArgs,
    ) -> Result<Served<PageSummaryOut>, ToolError> {
        let max_words = bounded(
            args.max_words,
            DEFAULT_MAX_WORDS,
            MAX_MAX_WORDS,
            "max_words",
        )? as usize;
        let (digest, as_of) = match self.offline_only() {
            Some(why) => {
                let id = super::page_ref_offline(self.state(), &args.page_id)?;
                self.page_digest_offline(cx, &id, max_words, &why).await?
            }
            None => match self.page_digest_online(cx, &args.page_id, max_words).await {
                Ok(d) => (d, None),
                Err(e) => match self.fallback(&e) {
                    Some(why) => {
                        let id = super::page_ref_offline(self.state(), &args.page_id)?;
                        self.page_digest_offline(cx, &id, max_words, &why).await?
                    }
                    None => return Err(e),
                },
            },
        };
        let what = format!("Confluence page {}", digest.id);
        let subject = sampling::Subject {
            tool: "confluence_summarize_page",
            id: &digest.id,
            what: &what,
        };
        let model = sampling::summarize(context, answers, request_state, subject, &digest).await?;
        Ok(Served {
            out: PageSummaryOut { digest, model },
            as_of,
        })
    }

    async fn page_digest_offline(
        &self,
        cx: &CallCx,
        id: &str,
        max_words: usize,
        why: &Why,
    ) -> Result<(PageDigest, Option<i64>), ToolError> {
        let cached = self.cached_page(cx, id, why).await?;
        let r = cached.record;
        let Some(markdown) = r.body.clone() else {
            return Err(ToolError::NotFound(format!(
                "only the title of page {id} is in the local cache, not its text, and {}; once online, `atlassian-mcp-bridge sync --confluence {}` keeps the space readable offline",
                why.text(),
                r.space
            )));
        };
        let digest = page::build(
            PageFacts {
                id: r.id,
                title: r.title,
                space: Some(r.space),
                version: r.version,
                last_editor: r.last_editor,
                last_edited: r.last_modified,
                url: r.url,
            },
            &markdown,
            max_words,
        );
        Ok((digest, Some(cached.fetched_at)))
    }

    async fn page_digest_online(
        &self,
        cx: &CallCx,
        raw: &str,
        max_words: usize,
    ) -> Result<PageDigest, ToolError> {
        let state = self.state();
        let id = super::page_ref(state, &cx.trace, raw).await?;
        let confluence = state.api.confluence();
        let page = confluence
            .page(&cx.trace, &id)
            .await
            .map_err(ToolError::naming(&format!("page {id}")))?;
        state
            .policy
            .admit_fetched_page(&id, page.space_key.as_deref())?;
        cx.touch([page.id.clone()]);
        let last_editor = match &page.last_editor {
            Some(u) if u.display_name.is_some() => Some(u.label()),
            Some(u) => match u.id.as_deref() {
                Some(account) => Some(
                    confluence
                        .display_name(&cx.trace, account)
                        .await
                        .unwrap_or_else(|| account.to_string()),
                ),
                None => None,
            },
            None => None,
        };
        let mut names = std::collections::HashMap::new();
        if let (Some(name), Some(account)) = (
            &last_editor,
            page.last_editor.as_ref().and_then(|u| u.id.clone()),
        ) {
            names.insert(account, name.clone());
        }
        self.keep_page(page.clone(), names);
        let markdown = convert::storage_to_markdown(&page.storage);
        Ok(page::build(
            PageFacts {
                id: page.id,
                title: page.title,
                space: page.space_key.or(page.space_id),
                version: page.version,
                last_editor,
                last_edited: page.updated,
                url: page.url,
            },
            &markdown,
            max_words,
        ))
    }
}
