//! `confluence_create_page`: one page from Markdown (→ storage XHTML) in a space, optionally
//! under a parent page.

use std::sync::Arc;

use rmcp::handler::server::tool::{Extension, InputResponses, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

use super::{page_id, target_space};
use crate::convert;
use crate::mcp::args::non_empty;
use crate::mcp::confirm::confirm;
use crate::mcp::render::{Render, one_line};
use crate::mcp::{BridgeServer, CallCx, ToolError};

/// Arguments of `confluence_create_page`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePageArgs {
    /// Space key, e.g. `ENG`.
    pub space: String,
    /// Page title (unique within the space).
    pub title: String,
    /// Page body in Markdown.
    pub body: String,
    /// Parent page id; omit for the space's home page.
    #[serde(default)]
    pub parent_id: Option<String>,
}

/// A page that was written.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PageWrittenOut {
    /// Page id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Version now current (pass it to confluence_update_page for the next edit).
    pub version: u64,
    /// Link for people, when known.
    pub url: Option<String>,
}

impl Render for PageWrittenOut {
    fn render(&self) -> String {
        format!(
            "Page {} “{}” is at version {}{}\n",
            self.id,
            one_line(&self.title),
            self.version,
            self.url
                .as_ref()
                .map(|u| format!("\n{u}"))
                .unwrap_or_default()
        )
    }
}

#[tool_router(router = confluence_create_page_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "confluence_create_page",
        description = "Create a Confluence page from Markdown in a space (by key), optionally under a parent page. Titles are unique per space.",
        annotations(title = "Create a Confluence page", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true),
        output_schema = schema_for_output::<PageWrittenOut>()
    )]
    async fn confluence_create_page(
        &self,
        Parameters(args): Parameters<CreatePageArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
        context: RequestContext<RoleServer>,
        InputResponses(answers): InputResponses,
    ) -> CallToolResponse {
        cx.finish(
            self.create_page_impl(&cx, &context, answers.as_ref(), args)
                .await,
        )
    }
}

impl BridgeServer {
    async fn create_page_impl(
        &self,
        cx: &CallCx,
        context: &RequestContext<RoleServer>,
        answers: Option<&rmcp::model::InputResponses>,
        args: CreatePageArgs,
    ) -> Result<PageWrittenOut, ToolError> {
        let state = self.state();
        let title = non_empty(&args.title, "title")?;
        let parent = args
            .parent_id
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(page_id)
            .transpose()?;
        let space = target_space(state, &cx.trace, &args.space).await?;
        let storage = convert::markdown_to_storage(&args.body);
        confirm(
            state,
            context,
            answers,
            &format!(
                "Create the Confluence page “{}” in {}?",
                one_line(title),
                space.key
            ),
        )
        .await?;
        let page = state
            .api
            .confluence()
            .create_page(&cx.trace, &space, title, &storage, parent.as_deref())
            .await?;
        cx.touch([page.id.clone()]);
        Ok(PageWrittenOut {
            id: page.id,
            title: page.title,
            version: page.version,
            url: page.url,
        })
    }
}
