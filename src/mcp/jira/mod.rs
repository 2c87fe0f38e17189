//! Jira tools, one file per tool (its arguments, output, rendering and handler together), and
//! the small helpers they share.

pub mod add_comment;
pub mod bulk_create_issues;
pub mod create_fields;
pub mod create_issue;
pub mod get_issue;
pub mod issue_input;
pub mod list_projects;
pub mod search;
pub mod summarize_issue;
pub mod summarize_search;
pub mod transition_issue;
pub mod update_issue;

use serde_json::Value;

use crate::atlassian::CallTrace;
use crate::atlassian::jira::{IssueInclude, User};
use crate::convert;
use crate::mcp::{State, ToolError};
use crate::sanitize::clean_text;

/// A user's display label, if there is a user.
pub(crate) fn user_name(u: &Option<User>) -> Option<String> {
    u.as_ref().map(User::label)
}

/// A compact text form of an arbitrary field value (names of objects, ADF as Markdown).
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => clean_text(s),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(", "),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("doc") => {
            convert::adf_to_markdown(v)
        }
        Value::Object(o) => ["displayName", "name", "value", "key"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str).map(clean_text))
            .unwrap_or_else(|| clean_text(&v.to_string())),
        other => other.to_string(),
    }
}

/// Validates an issue key (or numeric id) and normalizes its case.
pub(crate) fn issue_key(raw: &str) -> Result<String, ToolError> {
    let key = raw.trim().to_ascii_uppercase();
    let valid_key = key.split_once('-').is_some_and(|(p, n)| {
        p.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit())
    });
    let valid_id = !key.is_empty() && key.chars().all(|c| c.is_ascii_digit());
    if valid_key || valid_id {
        Ok(key)
    } else {
        let shown: String = raw.chars().take(60).collect();
        Err(ToolError::Invalid(format!(
            "`{shown}` is not an issue key; expected something like ENG-42"
        )))
    }
}

/// Validates a project key and normalizes its case.
pub(crate) fn project_key(raw: &str) -> Result<String, ToolError> {
    let key = raw.trim().to_ascii_uppercase();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        let shown: String = raw.chars().take(60).collect();
        return Err(ToolError::Invalid(format!(
            "`{shown}` is not a project key; expected something like ENG"
        )));
    }
    Ok(key)
}

/// Admits a write to an existing issue: its key must be allowed, and with a project allowlist
/// the issue is looked up first, because a key can resolve to an issue that has moved to
/// another project. Returns the normalized key; a missing issue is named.
pub(crate) async fn admit_existing_issue(
    state: &State,
    trace: &CallTrace,
    raw: &str,
) -> Result<String, ToolError> {
    let key = issue_key(raw)?;
    state.policy.admit_issue(&key)?;
    if !state.policy.settings().jira_projects.is_empty() {
        let found = state
            .api
            .jira()
            .issue(trace, &key, IssueInclude::default())
            .await
            .map_err(ToolError::naming(&key))?;
        state
            .policy
            .admit_fetched_issue(&key, found.issue.project_key.as_deref())?;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_keys() {
        assert_eq!(issue_key(" eng-42 ").unwrap(), "ENG-42");
        assert_eq!(issue_key("10001").unwrap(), "10001");
        for bad in ["", "ENG", "ENG-", "-1", "ENG-1a", "EN G-1", "../x"] {
            assert!(issue_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn value_text_simplifies() {
        assert_eq!(value_text(&serde_json::json!({"name": "High"})), "High");
        assert_eq!(
            value_text(&serde_json::json!([{"value": "a"}, "b"])),
            "a, b"
        );
        assert_eq!(value_text(&serde_json::json!(3)), "3");
    }
}
