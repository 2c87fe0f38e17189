//! The one list of the product's tools (SPEC §5): names, whether they write, and whether this
//! build serves them. Config validation, policy, the MCP router and the tests all read it; a
//! test in `mcp` checks that the router serves exactly the tools marked [`Status::Served`] here,
//! with matching read-only annotations.

/// Whether a tool only reads or also changes something at Atlassian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only; allowed under `policy.read_only`.
    Read,
    /// Creates or changes issues, comments or pages; hidden and refused under `read_only`.
    Write,
}

/// Whether this build serves a tool yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Listed in `tools/list` (policy permitting) and callable.
    Served,
    /// Part of the product's interface but not in this build; config may still name it in
    /// `allow_tools` / `deny_tools`, so a config written for a later version keeps working.
    Planned,
}

/// One tool of the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolInfo {
    /// The MCP tool name.
    pub name: &'static str,
    /// Read or write.
    pub access: Access,
    /// Served by this build or not yet.
    pub status: Status,
}

const fn tool(name: &'static str, access: Access, status: Status) -> ToolInfo {
    ToolInfo {
        name,
        access,
        status,
    }
}

use Access::{Read, Write};
use Status::{Planned, Served};

/// Every tool the product defines, sorted by name.
pub const TOOLS: &[ToolInfo] = &[
    tool("atlassian_local_search", Read, Planned),
    tool("atlassian_whoami", Read, Served),
    tool("confluence_bulk_create_pages", Write, Served),
    tool("confluence_create_page", Write, Served),
    tool("confluence_get_page", Read, Served),
    tool("confluence_list_spaces", Read, Served),
    tool("confluence_search", Read, Served),
    tool("confluence_summarize_page", Read, Planned),
    tool("confluence_update_page", Write, Served),
    tool("jira_add_comment", Write, Served),
    tool("jira_bulk_create_issues", Write, Served),
    tool("jira_create_issue", Write, Served),
    tool("jira_get_create_fields", Read, Served),
    tool("jira_get_issue", Read, Served),
    tool("jira_list_projects", Read, Served),
    tool("jira_search", Read, Served),
    tool("jira_summarize_issue", Read, Planned),
    tool("jira_summarize_search", Read, Planned),
    tool("jira_transition_issue", Write, Served),
    tool("jira_update_issue", Write, Served),
];

/// Looks a tool up by name.
pub fn find(name: &str) -> Option<&'static ToolInfo> {
    TOOLS.iter().find(|t| t.name == name)
}

/// Every tool name, for error messages that list them.
pub fn names() -> impl Iterator<Item = &'static str> {
    TOOLS.iter().map(|t| t.name)
}

/// The tools this build serves.
pub fn served() -> impl Iterator<Item = &'static ToolInfo> {
    TOOLS.iter().filter(|t| t.status == Status::Served)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_unique() {
        let names: Vec<&str> = names().collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }

    #[test]
    fn spec_names_are_all_here() {
        assert_eq!(TOOLS.len(), 20, "SPEC §5 defines 20 tools");
        assert_eq!(find("jira_update_issue").map(|t| t.access), Some(Write));
        assert_eq!(find("jira_search").map(|t| t.access), Some(Read));
        assert!(find("jira_serch").is_none());
    }
}
