//! `jira_transition_issue`: move an issue through its workflow by transition id or name (or the
//! target status name), optionally with a comment; an unknown name lists the available ones.

use std::sync::Arc;

use rmcp::handler::server::tool::{Extension, InputResponses, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

use super::admit_existing_issue;
use crate::atlassian::jira::Transition;
use crate::mcp::args::non_empty;
use crate::mcp::confirm::confirm;
use crate::mcp::render::Render;
use crate::mcp::{BridgeServer, CallCx, ToolError};

/// Arguments of `jira_transition_issue`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionArgs {
    /// Issue key, e.g. `ENG-42`.
    pub key: String,
    /// Transition id or name (e.g. `In Review`); the target status name also works.
    pub transition: String,
    /// A comment to add with the transition, in Markdown.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Result of `jira_transition_issue`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TransitionedOut {
    /// The issue.
    pub key: String,
    /// The transition taken.
    pub transition: String,
    /// Its id.
    pub transition_id: String,
    /// The status it leads to.
    pub to: Option<String>,
    /// Whether a comment was added.
    pub commented: bool,
}

impl Render for TransitionedOut {
    fn render(&self) -> String {
        format!(
            "{} moved via “{}” (id {}){}{}\n",
            self.key,
            self.transition,
            self.transition_id,
            self.to
                .as_ref()
                .map(|t| format!(" to {t}"))
                .unwrap_or_default(),
            if self.commented {
                ", with a comment"
            } else {
                ""
            }
        )
    }
}

/// Finds the transition by id, name or target status (case-insensitive).
fn pick<'a>(list: &'a [Transition], wanted: &str) -> Option<&'a Transition> {
    list.iter()
        .find(|t| t.id == wanted)
        .or_else(|| list.iter().find(|t| t.name.eq_ignore_ascii_case(wanted)))
        .or_else(|| {
            list.iter().find(|t| {
                t.to.as_deref()
                    .is_some_and(|to| to.eq_ignore_ascii_case(wanted))
            })
        })
}

#[tool_router(router = jira_transition_issue_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "jira_transition_issue",
        description = "Move a Jira issue to another status by transition id or name (or the target status), optionally adding a comment. An unknown name lists the transitions available now.",
        annotations(title = "Transition a Jira issue", read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true),
        output_schema = schema_for_output::<TransitionedOut>()
    )]
    pub(crate) async fn jira_transition_issue(
        &self,
        Parameters(args): Parameters<TransitionArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
        context: RequestContext<RoleServer>,
        InputResponses(answers): InputResponses,
    ) -> CallToolResponse {
        cx.finish(
            self.transition_impl(&cx, &context, answers.as_ref(), args)
                .await,
        )
    }
}

impl BridgeServer {
    async fn transition_impl(
        &self,
        cx: &CallCx,
        context: &RequestContext<RoleServer>,
        answers: Option<&rmcp::model::InputResponses>,
        args: TransitionArgs,
    ) -> Result<TransitionedOut, ToolError> {
        let state = self.state();
        let wanted = non_empty(&args.transition, "transition")?;
        let key = admit_existing_issue(state, &cx.trace, &args.key).await?;
        let jira = state.api.jira();
        let list = jira
            .transitions(&cx.trace, &key)
            .await
            .map_err(ToolError::naming(&key))?;
        let Some(t) = pick(&list, wanted).cloned() else {
            let names: Vec<String> = list
                .iter()
                .map(|t| match &t.to {
                    Some(to) => format!("{} (id {}, → {to})", t.name, t.id),
                    None => format!("{} (id {})", t.name, t.id),
                })
                .collect();
            let wanted: String = wanted.chars().take(60).collect();
            return Err(ToolError::Invalid(if names.is_empty() {
                format!("no transitions are available for {key} now, so `{wanted}` cannot be used")
            } else {
                format!(
                    "`{wanted}` is not a transition available for {key} now; available: {}",
                    names.join(", ")
                )
            }));
        };
        let comment = args
            .comment
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| jira.rich_text(c));
        let target = t.to.as_deref().unwrap_or(&t.name);
        confirm(
            state,
            context,
            answers,
            &format!("Move {key} to {target} (“{}”)?", t.name),
        )
        .await?;
        let commented = comment.is_some();
        jira.transition(&cx.trace, &key, &t.id, comment)
            .await
            .map_err(ToolError::naming(&key))?;
        cx.touch([key.clone()]);
        Ok(TransitionedOut {
            key,
            transition: t.name,
            transition_id: t.id,
            to: t.to,
            commented,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_by_id_name_or_target() {
        let t = |id: &str, name: &str, to: &str| Transition {
            id: id.into(),
            name: name.into(),
            to: Some(to.into()),
        };
        let list = vec![
            t("11", "Start Progress", "In Progress"),
            t("21", "Review", "In Review"),
        ];
        assert_eq!(pick(&list, "21").unwrap().id, "21");
        assert_eq!(pick(&list, "start progress").unwrap().id, "11");
        assert_eq!(pick(&list, "in review").unwrap().id, "21");
        assert!(pick(&list, "Done").is_none());
    }
}
