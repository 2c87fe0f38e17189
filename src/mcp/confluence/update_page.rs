//! `confluence_update_page`: a new version of a page, only if the caller's `version` is still
//! current — a stale edit is refused naming the current version and who made it, never a
//! silent overwrite.

use std::sync::Arc;

use rmcp::handler::server::tool::{Extension, InputResponses, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, schemars, tool, tool_router};
use serde::Deserialize;

use super::create_page::PageWrittenOut;
use crate::atlassian::confluence_write::CurrentVersion;
use crate::convert;
use crate::mcp::confirm::confirm;
use crate::mcp::render::one_line;
use crate::mcp::{BridgeServer, CallCx, ToolError};

/// Arguments of `confluence_update_page`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePageArgs {
    /// Page id.
    pub page_id: String,
    /// The version your edit is based on (from confluence_get_page).
    pub version: u64,
    /// New title; omit to keep it.
    #[serde(default)]
    pub title: Option<String>,
    /// New body in Markdown (replaces the whole body); omit to keep it.
    #[serde(default)]
    pub body: Option<String>,
    /// Version comment.
    #[serde(default)]
    pub message: Option<String>,
}

/// The refusal for an edit based on an old version.
fn stale(id: &str, based_on: u64, now: &CurrentVersion) -> ToolError {
    let by = now
        .by
        .as_deref()
        .map(|b| format!(" by {b}"))
        .unwrap_or_default();
    let when = now
        .when
        .as_deref()
        .map(|w| format!(" at {w}"))
        .unwrap_or_default();
    ToolError::Invalid(format!(
        "page {id} is at version {}{by}{when}, not {based_on}: it changed since you read it; nothing was written — read it again with confluence_get_page, merge, and retry with version {}",
        now.number, now.number
    ))
}

#[tool_router(router = confluence_update_page_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "confluence_update_page",
        description = "Write a new version of a Confluence page (title and/or Markdown body). Pass the version you read; if the page changed since, nothing is written and the current version is named.",
        annotations(title = "Edit a Confluence page", read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true),
        output_schema = schema_for_output::<PageWrittenOut>()
    )]
    pub(crate) async fn confluence_update_page(
        &self,
        Parameters(args): Parameters<UpdatePageArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
        context: RequestContext<RoleServer>,
        InputResponses(answers): InputResponses,
    ) -> CallToolResponse {
        cx.finish(
            self.update_page_impl(&cx, &context, answers.as_ref(), args)
                .await,
        )
    }
}

impl BridgeServer {
    async fn update_page_impl(
        &self,
        cx: &CallCx,
        context: &RequestContext<RoleServer>,
        answers: Option<&rmcp::model::InputResponses>,
        args: UpdatePageArgs,
    ) -> Result<PageWrittenOut, ToolError> {
        let state = self.state();
        let id = super::page_ref(state, &cx.trace, &args.page_id).await?;
        let title = args
            .title
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        if title.is_none() && args.body.is_none() {
            return Err(ToolError::Invalid(
                "nothing to change: give a title, a body, or both".into(),
            ));
        }
        let confluence = state.api.confluence();
        let current = confluence
            .current_version(&cx.trace, &id)
            .await
            .map_err(ToolError::naming(&format!("page {id}")))?;
        state
            .policy
            .admit_fetched_page(&id, current.space_key.as_deref())?;
        if current.number != args.version {
            return Err(stale(&id, args.version, &current));
        }
        let title = title.unwrap_or(&current.title).to_string();
        let storage = match &args.body {
            Some(md) => convert::markdown_to_storage(md),
            None => current.storage.clone(),
        };
        confirm(
            state,
            context,
            answers,
            &format!(
                "Write version {} of page “{}” ({id})?",
                current.number + 1,
                one_line(&title)
            ),
        )
        .await?;
        let message = args
            .message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty());
        let written = confluence
            .update_page(
                &cx.trace,
                &id,
                &title,
                &storage,
                current.number + 1,
                message,
            )
            .await;
        let page = match written {
            Ok(p) => p,
            // Someone saved in between our read and our write.
            Err(e) if e.status() == Some(409) => {
                let now = confluence.current_version(&cx.trace, &id).await?;
                return Err(stale(&id, args.version, &now));
            }
            Err(e) => return Err(ToolError::naming(&format!("page {id}"))(e)),
        };
        cx.touch([page.id.clone()]);
        Ok(PageWrittenOut {
            id: page.id,
            title: page.title,
            version: page.version,
            url: page.url,
        })
    }
}
