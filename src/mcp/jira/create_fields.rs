//! `jira_get_create_fields`: a project's issue types, or one type's create screen (createmeta).

use std::fmt::Write as _;
use std::sync::Arc;

use crate::mcp::args::non_empty;
use crate::mcp::render::Render;
use crate::mcp::{BridgeServer, CallCx, ToolError};
use rmcp::handler::server::tool::{Extension, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::{schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

/// Arguments of `jira_get_create_fields`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFieldsArgs {
    /// Project key, e.g. `ENG`.
    pub project: String,
    /// Issue type name or id; omit to list the project's issue types.
    #[serde(default)]
    pub issue_type: Option<String>,
}

/// An issue type.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct IssueTypeOut {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Sub-task type.
    pub subtask: bool,
}

/// A field on the create screen.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct FieldOut {
    /// Field id to use in `fields`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Required on create.
    pub required: bool,
    /// Jira fills a default.
    pub has_default: bool,
    /// Value type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Allowed values (first 50), if a choice.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_values: Vec<String>,
}

/// Result of `jira_get_create_fields`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CreateFieldsOut {
    /// Project key.
    pub project: String,
    /// Issue types (when no type was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue_types: Option<Vec<IssueTypeOut>>,
    /// The chosen issue type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue_type: Option<IssueTypeOut>,
    /// Fields of the chosen type, required first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldOut>>,
}

impl Render for CreateFieldsOut {
    fn render(&self) -> String {
        let mut out = String::new();
        if let Some(types) = &self.issue_types {
            let _ = writeln!(out, "Issue types in {}:", self.project);
            for t in types {
                let _ = writeln!(
                    out,
                    "- {} (id {}){}",
                    t.name,
                    t.id,
                    if t.subtask { " sub-task" } else { "" }
                );
            }
        }
        if let (Some(t), Some(fields)) = (&self.issue_type, &self.fields) {
            let _ = writeln!(
                out,
                "Create fields for {} / {} (id {}):",
                self.project, t.name, t.id
            );
            for f in fields {
                let _ = write!(
                    out,
                    "- {} `{}` {}{}",
                    f.name,
                    f.id,
                    f.kind,
                    if f.required && !f.has_default {
                        " REQUIRED"
                    } else if f.required {
                        " required (has default)"
                    } else {
                        ""
                    }
                );
                if !f.allowed_values.is_empty() {
                    let _ = write!(out, " one of: {}", f.allowed_values.join(", "));
                }
                out.push('\n');
            }
        }
        out
    }
}

#[tool_router(router = jira_get_create_fields_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "jira_get_create_fields",
        description = "What creating an issue needs: without issue_type, the project's issue types; with it, every field on the create screen (required first) and allowed values.",
        annotations(title = "Jira create fields", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<CreateFieldsOut>()
    )]
    pub(crate) async fn jira_get_create_fields(
        &self,
        Parameters(args): Parameters<CreateFieldsArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
    ) -> CallToolResponse {
        cx.finish(self.create_fields_impl(&cx, args).await)
    }
}

impl BridgeServer {
    async fn create_fields_impl(
        &self,
        cx: &CallCx,
        args: CreateFieldsArgs,
    ) -> Result<CreateFieldsOut, ToolError> {
        let state = self.state();
        non_empty(&args.project, "project")?;
        let project = super::project_key(&args.project)?;
        state.policy.admit_project(&project)?;
        let jira = state.api.jira();
        let types = jira.create_issue_types(&cx.trace, &project).await?;
        let type_out = |t: &crate::atlassian::jira::IssueType| IssueTypeOut {
            id: t.id.clone(),
            name: t.name.clone(),
            subtask: t.subtask,
        };
        let Some(wanted) = args
            .issue_type
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        else {
            return Ok(CreateFieldsOut {
                issue_types: Some(types.iter().map(type_out).collect()),
                project,
                issue_type: None,
                fields: None,
            });
        };
        let Some(chosen) = types
            .iter()
            .find(|t| t.id == wanted || t.name.eq_ignore_ascii_case(wanted))
        else {
            let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
            return Err(ToolError::Invalid(format!(
                "issue type `{wanted}` does not exist in {project}; available: {}",
                names.join(", ")
            )));
        };
        let mut fields = jira.create_fields(&cx.trace, &project, &chosen.id).await?;
        fields.sort_by_key(|f| (!f.required, f.has_default));
        Ok(CreateFieldsOut {
            issue_type: Some(type_out(chosen)),
            fields: Some(
                fields
                    .into_iter()
                    .map(|f| FieldOut {
                        id: f.id,
                        name: f.name,
                        required: f.required,
                        has_default: f.has_default,
                        kind: f.kind,
                        allowed_values: f.allowed.into_iter().take(50).collect(),
                    })
                    .collect(),
            ),
            project,
            issue_types: None,
        })
    }
}
