//! `jira_update_issue`: edit one issue; only the named fields change, and the answer says which.

use std::sync::Arc;

use rmcp::handler::server::tool::{Extension, InputResponses, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, schemars, tool, tool_router};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

use super::admit_existing_issue;
use crate::config::Deployment;
use crate::mcp::confirm::confirm;
use crate::mcp::render::Render;
use crate::mcp::{BridgeServer, CallCx, ToolError};

/// Arguments of `jira_update_issue`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIssueArgs {
    /// Issue key, e.g. `ENG-42`.
    pub key: String,
    /// New summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// New description in Markdown (replaces the old one).
    #[serde(default)]
    pub description: Option<String>,
    /// Labels to add.
    #[serde(default, deserialize_with = "crate::mcp::args::opt_list")]
    pub labels_add: Option<Vec<String>>,
    /// Labels to remove.
    #[serde(default, deserialize_with = "crate::mcp::args::opt_list")]
    pub labels_remove: Option<Vec<String>>,
    /// Priority name or id, e.g. `High`.
    #[serde(default)]
    pub priority: Option<String>,
    /// Assignee account id (Data Center: username); `null` unassigns.
    #[serde(default, deserialize_with = "present")]
    pub assignee: Option<Option<String>>,
    /// Other fields by id, set as given (Jira's own value shapes).
    #[serde(default)]
    pub fields: Option<Map<String, Value>>,
}

/// `null` is a value here (unassign), distinct from leaving the argument out.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Result of `jira_update_issue`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct UpdatedOut {
    /// The issue.
    pub key: String,
    /// Fields that were changed.
    pub changed: Vec<String>,
    /// Link for people.
    pub url: String,
}

impl Render for UpdatedOut {
    fn render(&self) -> String {
        format!(
            "Updated {}: {}\n{}\n",
            self.key,
            self.changed.join(", "),
            self.url
        )
    }
}

#[tool_router(router = jira_update_issue_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "jira_update_issue",
        description = "Edit a Jira issue: summary, description (Markdown), labels to add/remove, priority, assignee (null unassigns), other fields. Only the named fields change.",
        annotations(title = "Edit a Jira issue", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<UpdatedOut>()
    )]
    pub(crate) async fn jira_update_issue(
        &self,
        Parameters(args): Parameters<UpdateIssueArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
        context: RequestContext<RoleServer>,
        InputResponses(answers): InputResponses,
    ) -> CallToolResponse {
        cx.finish(
            self.update_issue_impl(&cx, &context, answers.as_ref(), args)
                .await,
        )
    }
}

/// The `fields` and `update` parts of an edit, and the names of what changes.
type Edit = (Map<String, Value>, Map<String, Value>, Vec<String>);

/// Builds the edit from the arguments.
fn edit_body(
    args: &UpdateIssueArgs,
    rich: impl Fn(&str) -> Value,
    dc: bool,
) -> Result<Edit, ToolError> {
    let mut fields = Map::new();
    let mut update = Map::new();
    let mut changed = Vec::new();
    if let Some(s) = &args.summary {
        let s = s.trim();
        if s.is_empty() {
            return Err(ToolError::Invalid("summary must not be empty".into()));
        }
        fields.insert("summary".into(), json!(s));
        changed.push("summary".to_string());
    }
    if let Some(d) = &args.description {
        fields.insert("description".into(), rich(d));
        changed.push("description".to_string());
    }
    if let Some(p) = args
        .priority
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let v = if p.chars().all(|c| c.is_ascii_digit()) {
            json!({ "id": p })
        } else {
            json!({ "name": p })
        };
        fields.insert("priority".into(), v);
        changed.push("priority".to_string());
    }
    if let Some(a) = &args.assignee {
        let v = match a.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            None => Value::Null,
            Some(a) if dc => json!({ "name": a }),
            Some(a) => json!({ "accountId": a }),
        };
        fields.insert("assignee".into(), v);
        changed.push("assignee".to_string());
    }
    let mut label_ops = Vec::new();
    for (op, list) in [("add", &args.labels_add), ("remove", &args.labels_remove)] {
        for l in list.iter().flatten() {
            let l = l.trim();
            if l.is_empty() || l.chars().any(char::is_whitespace) {
                let shown: String = l.chars().take(60).collect();
                return Err(ToolError::Invalid(format!(
                    "label `{shown}` must be one word (no spaces)"
                )));
            }
            label_ops.push(json!({ op: l }));
        }
    }
    if !label_ops.is_empty() {
        update.insert("labels".into(), Value::Array(label_ops));
        changed.push("labels".to_string());
    }
    for (id, v) in args.fields.iter().flatten() {
        if fields.contains_key(id) || (id == "labels" && update.contains_key("labels")) {
            return Err(ToolError::Invalid(format!(
                "`{id}` is set twice (as an argument and in `fields`); keep one"
            )));
        }
        fields.insert(id.clone(), v.clone());
        changed.push(id.clone());
    }
    if changed.is_empty() {
        return Err(ToolError::Invalid(
            "nothing to change: name at least one of summary, description, labels_add, labels_remove, priority, assignee, fields".into(),
        ));
    }
    Ok((fields, update, changed))
}

impl BridgeServer {
    async fn update_issue_impl(
        &self,
        cx: &CallCx,
        context: &RequestContext<RoleServer>,
        answers: Option<&rmcp::model::InputResponses>,
        args: UpdateIssueArgs,
    ) -> Result<UpdatedOut, ToolError> {
        let state = self.state();
        let jira = state.api.jira();
        let dc = state.api.deployment() == Deployment::DataCenter;
        let (fields, update, changed) = edit_body(&args, |md| jira.rich_text(md), dc)?;
        let key = admit_existing_issue(state, &cx.trace, &args.key).await?;
        confirm(
            state,
            context,
            answers,
            &format!("Edit {key} ({})?", changed.join(", ")),
        )
        .await?;
        jira.edit_issue(&cx.trace, &key, &fields, &update)
            .await
            .map_err(ToolError::naming(&key))?;
        cx.touch([key.clone()]);
        Ok(UpdatedOut {
            url: state.api.issue_url(&key),
            key,
            changed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> UpdateIssueArgs {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn only_named_fields_change() {
        let a = args(json!({"key": "ENG-1", "assignee": null, "labels_add": ["x"]}));
        let (fields, update, changed) = edit_body(&a, |m| json!(m), false).unwrap();
        assert_eq!(
            fields,
            json!({"assignee": null}).as_object().unwrap().clone()
        );
        assert_eq!(update["labels"], json!([{"add": "x"}]));
        assert_eq!(changed, vec!["assignee", "labels"]);
        let a = args(json!({"key": "ENG-1"}));
        assert!(a.assignee.is_none(), "absent is not null");
        assert!(
            edit_body(&a, |m| json!(m), false).is_err(),
            "nothing to change"
        );
        let a = args(json!({"key": "ENG-1", "priority": "High", "labels_add": ["two words"]}));
        assert!(edit_body(&a, |m| json!(m), false).is_err());
    }
}
