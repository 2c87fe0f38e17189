//! `confluence_list_spaces`: the spaces the user can see, within policy.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::mcp::args::{bounded_paged, opt_list, opt_u32};
use crate::mcp::render::Render;
use crate::mcp::{BridgeServer, CallCx, ToolError};
use rmcp::handler::server::tool::{Extension, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::{schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

/// Arguments of `confluence_list_spaces`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSpacesArgs {
    /// Only these space keys (a list, or one comma-separated string).
    #[serde(default, deserialize_with = "opt_list")]
    pub keys: Option<Vec<String>>,
    /// Spaces per page.
    #[serde(default, deserialize_with = "opt_u32")]
    #[schemars(range(min = 1, max = 100), extend("default" = 25))]
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

#[tool_router(router = confluence_list_spaces_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "confluence_list_spaces",
        description = "List Confluence spaces (key, name, type, id, homepage), optionally only given keys.",
        annotations(title = "List Confluence spaces", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<SpacesOut>()
    )]
    pub(crate) async fn confluence_list_spaces(
        &self,
        Parameters(args): Parameters<ListSpacesArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
    ) -> CallToolResponse {
        cx.finish(self.list_spaces_impl(&cx, args).await)
    }
}

impl BridgeServer {
    async fn list_spaces_impl(
        &self,
        cx: &CallCx,
        args: ListSpacesArgs,
    ) -> Result<SpacesOut, ToolError> {
        let state = self.state();
        let limit = bounded_paged(
            args.limit,
            25,
            100,
            "limit",
            "pass the returned next_cursor as cursor",
        )?;
        let mut keys: Vec<String> = args
            .keys
            .unwrap_or_default()
            .into_iter()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .collect();
        let allowed = &state.policy.settings().confluence_spaces;
        if !allowed.is_empty() {
            for k in &keys {
                state.policy.admit_space(k)?;
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
