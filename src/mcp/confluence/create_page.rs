//! `confluence_create_page`: one page from Markdown (→ storage XHTML) in a space, optionally
//! under a parent page.
//!
//! When the site cannot be reached before the page is sent (or with `offline = "always"`), the
//! page is confirmed and queued in the outbox, which creates it later exactly once
//! (`mcp/outbox/page.rs`).

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
use crate::mcp::outbox;
use crate::mcp::render::{Render, one_line};
use crate::mcp::{BridgeServer, CallCx, ToolError};

/// The tool's name (also its outbox entries').
pub(crate) const TOOL: &str = "confluence_create_page";

/// Arguments of `confluence_create_page`.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePageArgs {
    /// Space key, e.g. `ENG`.
    pub space: String,
    /// Page title (unique within the space).
    pub title: String,
    /// Page body in Markdown.
    pub body: String,
    /// Parent page id; omit for the space's home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
}

/// Result of `confluence_create_page`: the page written, or (offline) the queued write.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PageCreatedOut {
    /// Page id (not yet known when `status` is `queued`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Title.
    pub title: String,
    /// Version now current (pass it to confluence_update_page for the next edit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Link for people, when known.
    pub url: Option<String>,
    /// `queued` when the site could not be reached (or `offline = "always"`): nothing was
    /// sent; the page waits in the outbox and is created once, later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The queued write's id (`outbox list`, `outbox drop`), when `status` is `queued`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
}

impl Render for PageCreatedOut {
    fn render(&self) -> String {
        match (&self.id, &self.version, &self.operation_id) {
            (Some(id), Some(version), _) => PageWrittenOut {
                id: id.clone(),
                title: self.title.clone(),
                version: *version,
                url: self.url.clone(),
            }
            .render(),
            (_, _, op) => format!(
                "{}\nPage: “{}”\n",
                outbox::queued_text(op.as_deref().unwrap_or_default()),
                one_line(&self.title)
            ),
        }
    }
}

/// A page that was written (`confluence_update_page`'s result).
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
        output_schema = schema_for_output::<PageCreatedOut>()
    )]
    pub(crate) async fn confluence_create_page(
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
    ) -> Result<PageCreatedOut, ToolError> {
        let state = self.state();
        let title = non_empty(&args.title, "title")?;
        let parent = args
            .parent_id
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(page_id)
            .transpose()?;
        let space = if self.offline_now() {
            None
        } else {
            match target_space(state, &cx.trace, &args.space).await {
                // The space could not be looked up: nothing was sent, the page waits.
                Err(e) if self.queue_instead(&e) => None,
                other => Some(other?),
            }
        };
        let Some(space) = space else {
            return self.queue_page(cx, context, answers, args).await;
        };
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
        Ok(PageCreatedOut {
            id: Some(page.id),
            title: page.title,
            version: Some(page.version),
            url: page.url,
            status: None,
            operation_id: None,
        })
    }

    /// Checks the space key and policy without the site, asks the person, and queues the page.
    async fn queue_page(
        &self,
        cx: &CallCx,
        context: &RequestContext<RoleServer>,
        answers: Option<&rmcp::model::InputResponses>,
        args: CreatePageArgs,
    ) -> Result<PageCreatedOut, ToolError> {
        let state = self.state();
        let space = args.space.trim().to_string();
        if space.is_empty()
            || !space
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '~')
        {
            let shown: String = args.space.chars().take(60).collect();
            return Err(ToolError::Invalid(format!(
                "`{shown}` is not a space key; expected something like ENG"
            )));
        }
        state.policy.admit_space(&space)?;
        let title = args.title.trim().to_string();
        confirm(
            state,
            context,
            answers,
            &format!(
                "Create the Confluence page “{}” in {space}? The site cannot be reached now: it is queued and sent once it can.",
                one_line(&title)
            ),
        )
        .await?;
        let op = uuid::Uuid::new_v4().to_string();
        let args = CreatePageArgs {
            space,
            title: title.clone(),
            parent_id: args
                .parent_id
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty()),
            ..args
        };
        self.queue_write(cx, TOOL, &op, &args)?;
        Ok(PageCreatedOut {
            id: None,
            title,
            version: None,
            url: None,
            status: Some(outbox::QUEUED.to_string()),
            operation_id: Some(op),
        })
    }
}
