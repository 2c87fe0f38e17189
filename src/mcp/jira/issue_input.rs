//! The issue an agent asks to create (shared by `jira_create_issue` and
//! `jira_bulk_create_issues`) and its validation against Jira's create screen before anything
//! is sent: project and issue type resolved, required fields present, allowed values resolved
//! from names to ids, unknown fields named — every problem of every item reported at once.

use std::collections::HashMap;

use rmcp::schemars;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::atlassian::jira::{IssueType, Jira};
use crate::atlassian::jira_write::{Choice, FieldSpec, NewIssue};
use crate::atlassian::{ApiError, CallTrace};
use crate::config::Deployment;
use crate::mcp::{State, ToolError};

/// One issue to create.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueInput {
    /// Project key, e.g. `ENG`.
    pub project: String,
    /// Issue type name or id, e.g. `Task`, `Bug`, `Sub-task`.
    pub issue_type: String,
    /// One-line summary.
    pub summary: String,
    /// Description in Markdown (converted to Jira's format).
    #[serde(default)]
    pub description: Option<String>,
    /// Labels (no spaces).
    #[serde(default, deserialize_with = "crate::mcp::args::opt_list")]
    pub labels: Option<Vec<String>>,
    /// Priority name or id, e.g. `High`.
    #[serde(default)]
    pub priority: Option<String>,
    /// Assignee account id (Data Center: username).
    #[serde(default)]
    pub assignee: Option<String>,
    /// Parent issue key (sub-tasks, child issues).
    #[serde(default)]
    pub parent: Option<String>,
    /// Other fields by id, e.g. `{"customfield_10020": "Platform"}`; option names are resolved
    /// to ids.
    #[serde(default)]
    pub fields: Option<Map<String, Value>>,
}

/// Create screens looked up once per call, per (project, issue type).
#[derive(Debug, Default)]
pub struct MetaCache {
    types: HashMap<String, Result<Vec<IssueType>, String>>,
    screens: HashMap<(String, String), Result<Vec<FieldSpec>, String>>,
}

impl MetaCache {
    async fn types(
        &mut self,
        jira: &Jira<'_>,
        trace: &CallTrace,
        project: &str,
    ) -> Result<&Result<Vec<IssueType>, String>, ApiError> {
        if !self.types.contains_key(project) {
            let got = match jira.create_issue_types(trace, project).await {
                Ok(t) => Ok(t),
                Err(e) if e.status() == Some(404) || e.status() == Some(400) => Err(format!(
                    "project `{project}` does not exist or this account cannot create issues in it"
                )),
                Err(e) => return Err(e),
            };
            self.types.insert(project.to_string(), got);
        }
        Ok(&self.types[project])
    }

    async fn screen(
        &mut self,
        jira: &Jira<'_>,
        trace: &CallTrace,
        project: &str,
        type_id: &str,
    ) -> Result<&Result<Vec<FieldSpec>, String>, ApiError> {
        let k = (project.to_string(), type_id.to_string());
        if !self.screens.contains_key(&k) {
            let got = match jira.create_screen(trace, project, type_id).await {
                Ok(f) => Ok(f),
                Err(e) if e.status() == Some(404) => Err(format!(
                    "issue type {type_id} cannot be created in `{project}`"
                )),
                Err(e) => return Err(e),
            };
            self.screens.insert(k.clone(), got);
        }
        Ok(&self.screens[&k])
    }
}

/// Validates one item and builds exactly what would be sent; the inner `Err` lists every
/// problem with the item. The outer `Err` stops the whole call: a policy refusal (a project or
/// parent outside `policy.jira_projects` — nothing is sent, outcome `denied`) or a failure to
/// read the create screen.
pub async fn prepare(
    state: &State,
    trace: &CallTrace,
    cache: &mut MetaCache,
    input: &IssueInput,
    properties: Vec<(String, Value)>,
) -> Result<Result<NewIssue, Vec<String>>, ToolError> {
    let mut problems = Vec::new();
    let jira = state.api.jira();
    let project = match super::project_key(&input.project) {
        Ok(p) => p,
        Err(e) => return Ok(Err(vec![e.message()])),
    };
    state.policy.admit_project(&project)?;
    let summary = input.summary.trim();
    problems.extend(summary_problem(summary));
    let wanted = input.issue_type.trim();
    let types = match cache.types(&jira, trace, &project).await? {
        Ok(t) => t.clone(),
        Err(m) => return Ok(Err(vec![m.clone()])),
    };
    let Some(issue_type) = types
        .iter()
        .find(|t| t.id == wanted || t.name.eq_ignore_ascii_case(wanted))
        .cloned()
    else {
        let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
        problems.push(format!(
            "issue type `{}` does not exist in {project}; available: {}",
            clip(wanted),
            names.join(", ")
        ));
        return Ok(Err(problems));
    };
    let screen = match cache.screen(&jira, trace, &project, &issue_type.id).await? {
        Ok(s) => s.clone(),
        Err(m) => return Ok(Err(vec![m.clone()])),
    };
    let on_screen = |id: &str| screen.iter().find(|f| f.id == id);
    let dc = state.api.deployment() == Deployment::DataCenter;

    let mut fields = Map::new();
    fields.insert("project".into(), json!({ "key": project }));
    fields.insert("issuetype".into(), json!({ "id": issue_type.id }));
    fields.insert("summary".into(), json!(summary));
    if let Some(d) = input
        .description
        .as_deref()
        .filter(|d| !d.trim().is_empty())
    {
        fields.insert("description".into(), jira.rich_text(d));
    }
    if let Some(labels) = &input.labels {
        let clean: Vec<String> = labels.iter().map(|l| l.trim().to_string()).collect();
        problems.extend(label_problems(&clean));
        if !clean.is_empty() {
            fields.insert("labels".into(), json!(clean));
        }
    }
    if let Some(p) = input
        .priority
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        match on_screen("priority") {
            None => problems.push(format!(
                "priority cannot be set on {project} {}: it is not on the create screen",
                issue_type.name
            )),
            Some(f) => match resolve_choice(&f.choices, p) {
                Some(id) => {
                    fields.insert("priority".into(), json!({ "id": id }));
                }
                None => problems.push(format!(
                    "priority `{}` is not one of: {}",
                    clip(p),
                    choice_names(&f.choices)
                )),
            },
        }
    }
    if let Some(a) = input
        .assignee
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        let v = if dc {
            json!({ "name": a })
        } else {
            json!({ "accountId": a })
        };
        fields.insert("assignee".into(), v);
    }
    if let Some(parent) = input
        .parent
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        match super::issue_key_on(state.api.site(), parent) {
            Err(_) => problems.push(format!("parent `{}` is not an issue key", clip(parent))),
            Ok(key) => {
                state.policy.admit_issue(&key)?;
                fields.insert("parent".into(), json!({ "key": key }));
            }
        }
    } else if issue_type.subtask {
        problems.push(format!(
            "a {} needs a parent issue key (`parent`)",
            issue_type.name
        ));
    }
    for (id, value) in input.fields.iter().flatten() {
        if fields.contains_key(id) {
            problems.push(format!(
                "`{id}` is set twice (as an argument and in `fields`); keep one"
            ));
            continue;
        }
        let Some(spec) = on_screen(id) else {
            let known: Vec<&str> = screen.iter().map(|f| f.id.as_str()).collect();
            problems.push(format!(
                "unknown field `{}` for {project} {}: it is not on the create screen (fields: {})",
                clip(id),
                issue_type.name,
                known.join(", ")
            ));
            continue;
        };
        match resolve_value(spec, value) {
            Ok(v) => {
                fields.insert(id.clone(), v);
            }
            Err(m) => problems.push(m),
        }
    }
    for f in &screen {
        let covered = fields.contains_key(&f.id) || f.id == "reporter";
        if f.required && !f.has_default && !covered {
            let choices = if f.choices.is_empty() {
                String::new()
            } else {
                format!("; one of: {}", choice_names(&f.choices))
            };
            problems.push(format!(
                "missing required field `{}` ({}) for {project} {}{choices}",
                f.name, f.id, issue_type.name
            ));
        }
    }
    if problems.is_empty() {
        Ok(Ok(NewIssue { fields, properties }))
    } else {
        Ok(Err(problems))
    }
}

/// What can be checked of one item without the site (SPEC §10, writes offline): the project
/// key, the summary, labels, the parent key, fields given twice, and policy (a refusal is the
/// outer `Err`, as in [`prepare`]). The create screen (issue type, required fields, allowed
/// values) is checked when the queued item is sent.
pub fn check_offline(state: &State, input: &IssueInput) -> Result<Vec<String>, ToolError> {
    let mut problems = Vec::new();
    let project = match super::project_key(&input.project) {
        Ok(p) => p,
        Err(e) => return Ok(vec![e.message()]),
    };
    state.policy.admit_project(&project)?;
    problems.extend(summary_problem(input.summary.trim()));
    if input.issue_type.trim().is_empty() {
        problems.push("issue_type must not be empty".to_string());
    }
    if let Some(labels) = &input.labels {
        let clean: Vec<String> = labels.iter().map(|l| l.trim().to_string()).collect();
        problems.extend(label_problems(&clean));
    }
    if let Some(parent) = input
        .parent
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        match super::issue_key_on(state.api.site(), parent) {
            Err(_) => problems.push(format!("parent `{}` is not an issue key", clip(parent))),
            Ok(key) => state.policy.admit_issue(&key)?,
        }
    }
    let named = [
        ("description", input.description.is_some()),
        ("labels", input.labels.is_some()),
        ("priority", input.priority.is_some()),
        ("assignee", input.assignee.is_some()),
        ("parent", input.parent.is_some()),
    ];
    for id in input.fields.iter().flat_map(|f| f.keys()) {
        let twice = ["project", "issuetype", "summary"].contains(&id.as_str())
            || named.iter().any(|(n, set)| *set && n == id);
        if twice {
            problems.push(format!(
                "`{id}` is set twice (as an argument and in `fields`); keep one"
            ));
        }
    }
    Ok(problems)
}

fn summary_problem(summary: &str) -> Option<String> {
    if summary.is_empty() {
        Some("summary must not be empty".to_string())
    } else if summary.chars().count() > 255 {
        Some("summary is longer than Jira's 255 characters".to_string())
    } else {
        None
    }
}

fn label_problems(labels: &[String]) -> Vec<String> {
    labels
        .iter()
        .filter(|l| l.is_empty() || l.chars().any(char::is_whitespace))
        .map(|l| format!("label `{}` must be one word (no spaces)", clip(l)))
        .collect()
}

/// The id of the choice named (case-insensitively) or numbered `wanted`.
fn resolve_choice(choices: &[Choice], wanted: &str) -> Option<String> {
    choices
        .iter()
        .find(|c| {
            c.id.as_deref() == Some(wanted)
                || c.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
                || c.value
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
        })
        .and_then(|c| c.id.clone())
}

fn choice_names(choices: &[Choice]) -> String {
    let names: Vec<&str> = choices
        .iter()
        .filter_map(|c| c.name.as_deref().or(c.value.as_deref()))
        .take(30)
        .collect();
    names.join(", ")
}

/// A raw field value with option names resolved to `{"id"}` where the field is a choice.
fn resolve_value(spec: &FieldSpec, value: &Value) -> Result<Value, String> {
    if spec.choices.is_empty() {
        return Ok(value.clone());
    }
    let one = |v: &Value| -> Result<Value, String> {
        match v {
            Value::String(s) => resolve_choice(&spec.choices, s.trim())
                .map(|id| json!({ "id": id }))
                .ok_or_else(|| {
                    format!(
                        "`{}` is not an allowed value of {} ({}); one of: {}",
                        clip(s),
                        spec.name,
                        spec.id,
                        choice_names(&spec.choices)
                    )
                }),
            other => Ok(other.clone()),
        }
    };
    match value {
        Value::Array(items) => items
            .iter()
            .map(one)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        v if spec.schema_type == "array" => one(v).map(|x| Value::Array(vec![x])),
        v => one(v),
    }
}

/// Quotes at most a short prefix of user text in messages.
fn clip(s: &str) -> String {
    if s.chars().count() <= 60 {
        s.to_string()
    } else {
        let cut: String = s.chars().take(60).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(id: &str, name: &str) -> Choice {
        Choice {
            id: Some(id.into()),
            name: Some(name.into()),
            value: None,
        }
    }

    #[test]
    fn choices_resolve_by_name_or_id() {
        let c = vec![choice("1", "Highest"), choice("2", "High")];
        assert_eq!(resolve_choice(&c, "high").as_deref(), Some("2"));
        assert_eq!(resolve_choice(&c, "1").as_deref(), Some("1"));
        assert_eq!(resolve_choice(&c, "Urgent"), None);
    }

    #[test]
    fn option_fields_take_names_and_arrays() {
        let spec = FieldSpec {
            id: "customfield_1".into(),
            name: "Team".into(),
            required: true,
            has_default: false,
            schema_type: "array".into(),
            items: Some("option".into()),
            system: None,
            custom: None,
            choices: vec![choice("10", "Platform"), choice("11", "Web")],
        };
        assert_eq!(
            resolve_value(&spec, &json!("web")).unwrap(),
            json!([{"id": "11"}])
        );
        assert_eq!(
            resolve_value(&spec, &json!(["Platform", {"id": "11"}])).unwrap(),
            json!([{"id": "10"}, {"id": "11"}])
        );
        let err = resolve_value(&spec, &json!("Mobile")).unwrap_err();
        assert!(err.contains("Platform, Web"), "{err}");
    }
}
