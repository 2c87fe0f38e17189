//! Local guard rails: which tools exist for this session and what data they may touch.

/// Every tool name the product defines (SPEC §5), including tools that later versions add.
///
/// Config validation checks `allow_tools`/`deny_tools` against this list so that a typo is an
/// error instead of a silently ineffective rule.
pub const KNOWN_TOOLS: &[&str] = &[
    "atlassian_whoami",
    "confluence_bulk_create_pages",
    "confluence_create_page",
    "confluence_get_page",
    "confluence_list_spaces",
    "confluence_search",
    "confluence_summarize_page",
    "jira_add_comment",
    "jira_bulk_create_issues",
    "jira_create_issue",
    "jira_get_create_fields",
    "jira_get_issue",
    "jira_list_projects",
    "jira_search",
    "jira_summarize_issue",
    "jira_summarize_search",
    "jira_transition_issue",
];
