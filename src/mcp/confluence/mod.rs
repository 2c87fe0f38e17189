//! Confluence tools, one file per tool (its arguments, output, rendering and handler together),
//! and the small helpers they share.

pub mod bulk_create_pages;
pub mod create_page;
pub mod get_page;
pub mod list_spaces;
pub mod search;
pub mod summarize_page;
pub mod update_page;

use crate::atlassian::CallTrace;
use crate::atlassian::confluence_write::SpaceRef;
use crate::mcp::{State, ToolError};

/// Validates a page id (digits).
pub(crate) fn page_id(raw: &str) -> Result<String, ToolError> {
    let id = raw.trim();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        let shown: String = raw.chars().take(60).collect();
        return Err(ToolError::Invalid(format!(
            "`{shown}` is not a page id; page ids are digits, e.g. from confluence_search"
        )));
    }
    Ok(id.to_string())
}

/// The space a write goes to: allowed by policy and existing.
pub(crate) async fn target_space(
    state: &State,
    trace: &CallTrace,
    raw: &str,
) -> Result<SpaceRef, ToolError> {
    let key = raw.trim();
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '~')
    {
        let shown: String = raw.chars().take(60).collect();
        return Err(ToolError::Invalid(format!(
            "`{shown}` is not a space key; expected something like ENG"
        )));
    }
    state.policy.admit_space(key)?;
    state
        .api
        .confluence()
        .space_ref(trace, key)
        .await?
        .ok_or_else(|| {
            ToolError::Invalid(format!(
                "space `{key}` was not found, or this account cannot see it"
            ))
        })
}
