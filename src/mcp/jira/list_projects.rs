//! `jira_list_projects`: the projects the user can see, within policy.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::mcp::args::{bounded, count_schema, opt_u32};
use crate::mcp::render::Render;
use crate::mcp::{BridgeServer, CallCx, ToolError};
use rmcp::handler::server::tool::{Extension, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::{schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

/// Projects listed when `max_results` is not given.
pub const DEFAULT_PROJECTS: u32 = 50;
/// Most projects one call lists (Jira Cloud's own page limit).
pub const MAX_PROJECTS: u32 = 100;

/// Arguments of `jira_list_projects`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListProjectsArgs {
    /// Text matched against project key and name.
    #[serde(default)]
    pub query: Option<String>,
    /// Most projects to return.
    #[serde(default, deserialize_with = "opt_u32")]
    #[schemars(range(min = 1, max = MAX_PROJECTS), extend("default" = DEFAULT_PROJECTS), transform = count_schema)]
    pub max_results: Option<u32>,
}

/// A project.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ProjectOut {
    /// Key.
    pub key: String,
    /// Name.
    pub name: Option<String>,
    /// Project type.
    #[serde(rename = "type")]
    pub project_type: Option<String>,
    /// Lead.
    pub lead: Option<String>,
}

/// Result of `jira_list_projects`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ProjectsOut {
    /// Projects.
    pub projects: Vec<ProjectOut>,
    /// Total matching, when known.
    pub total: Option<u64>,
}

impl Render for ProjectsOut {
    fn render(&self) -> String {
        let mut out = format!("{} project(s)", self.projects.len());
        if let Some(t) = self.total
            && t as usize > self.projects.len()
        {
            let _ = write!(out, " of {t}");
        }
        out.push('\n');
        for p in &self.projects {
            let _ = writeln!(
                out,
                "{} | {} | {}{}",
                p.key,
                p.name.as_deref().unwrap_or("-"),
                p.project_type.as_deref().unwrap_or("-"),
                p.lead
                    .as_ref()
                    .map(|l| format!(" | lead {l}"))
                    .unwrap_or_default()
            );
        }
        out
    }
}

#[tool_router(router = jira_list_projects_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "jira_list_projects",
        description = "List Jira projects the user can see (key, name, type, lead), optionally matching a text query.",
        annotations(title = "List Jira projects", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<ProjectsOut>()
    )]
    pub(crate) async fn jira_list_projects(
        &self,
        Parameters(args): Parameters<ListProjectsArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
    ) -> CallToolResponse {
        cx.finish(self.list_projects_impl(&cx, args).await)
    }
}

impl BridgeServer {
    async fn list_projects_impl(
        &self,
        cx: &CallCx,
        args: ListProjectsArgs,
    ) -> Result<ProjectsOut, ToolError> {
        let state = self.state();
        let max = bounded(
            args.max_results,
            DEFAULT_PROJECTS,
            MAX_PROJECTS,
            "max_results",
        )?;
        let query = args
            .query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty());
        let keys = &state.policy.settings().jira_projects;
        let list = state
            .api
            .jira()
            .projects(&cx.trace, query, keys, max)
            .await?;
        let projects: Vec<ProjectOut> = list
            .projects
            .into_iter()
            .filter(|p| state.policy.project_allowed(&p.key))
            .map(|p| ProjectOut {
                key: p.key,
                name: p.name,
                project_type: p.project_type,
                lead: p.lead,
            })
            .collect();
        cx.touch(projects.iter().map(|p| p.key.clone()));
        Ok(ProjectsOut {
            projects,
            total: list.total,
        })
    }
}
