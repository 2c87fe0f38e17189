//! The one list of the product's tools (SPEC §5): names, whether they write, whether this
//! build serves them, and the OAuth scopes their calls need. Config validation, policy, the MCP
//! router, `doctor` and the tests all read it; a test in `mcp` checks that the router serves
//! exactly the tools marked [`Status::Served`] here, with matching read-only annotations.

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
    /// The OAuth (3LO) scopes the tool's Atlassian Cloud requests need, all of them: the
    /// classic Jira scopes and the granular Confluence ones the client asks for, including
    /// reads made before a write (an issue looked up under `policy.jira_projects`, a space
    /// key resolved for a page). `doctor` compares them with the granted scopes; API tokens
    /// and PATs carry the account's own permissions and need none.
    pub scopes: &'static [&'static str],
}

const fn tool(
    name: &'static str,
    access: Access,
    status: Status,
    scopes: &'static [&'static str],
) -> ToolInfo {
    ToolInfo {
        name,
        access,
        status,
        scopes,
    }
}

const JIRA_READ: &str = "read:jira-work";
const JIRA_WRITE: &str = "write:jira-work";
const JIRA_USER: &str = "read:jira-user";
const PAGE_READ: &str = "read:page:confluence";
const PAGE_WRITE: &str = "write:page:confluence";
const SPACE_READ: &str = "read:space:confluence";
const CQL_SEARCH: &str = "search:confluence";

use Access::{Read, Write};
use Status::Served;

/// Every tool the product defines, sorted by name.
pub const TOOLS: &[ToolInfo] = &[
    tool("atlassian_local_search", Read, Served, &[]),
    tool("atlassian_whoami", Read, Served, &[JIRA_USER]),
    tool(
        "confluence_bulk_create_pages",
        Write,
        Served,
        &[PAGE_READ, SPACE_READ, PAGE_WRITE],
    ),
    tool(
        "confluence_create_page",
        Write,
        Served,
        &[SPACE_READ, PAGE_WRITE],
    ),
    tool(
        "confluence_get_page",
        Read,
        Served,
        &[PAGE_READ, SPACE_READ],
    ),
    tool("confluence_list_spaces", Read, Served, &[SPACE_READ]),
    tool("confluence_search", Read, Served, &[CQL_SEARCH]),
    tool(
        "confluence_summarize_page",
        Read,
        Served,
        &[PAGE_READ, SPACE_READ],
    ),
    tool(
        "confluence_update_page",
        Write,
        Served,
        &[PAGE_READ, SPACE_READ, PAGE_WRITE],
    ),
    tool("jira_add_comment", Write, Served, &[JIRA_READ, JIRA_WRITE]),
    tool(
        "jira_bulk_create_issues",
        Write,
        Served,
        &[JIRA_READ, JIRA_WRITE],
    ),
    tool("jira_create_issue", Write, Served, &[JIRA_READ, JIRA_WRITE]),
    tool("jira_get_create_fields", Read, Served, &[JIRA_READ]),
    tool("jira_get_issue", Read, Served, &[JIRA_READ]),
    tool("jira_list_projects", Read, Served, &[JIRA_READ]),
    tool("jira_search", Read, Served, &[JIRA_READ]),
    tool("jira_summarize_issue", Read, Served, &[JIRA_READ]),
    tool("jira_summarize_search", Read, Served, &[JIRA_READ]),
    tool(
        "jira_transition_issue",
        Write,
        Served,
        &[JIRA_READ, JIRA_WRITE],
    ),
    tool("jira_update_issue", Write, Served, &[JIRA_READ, JIRA_WRITE]),
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

    #[test]
    fn served_tools_name_their_scopes() {
        for t in served() {
            // The local search reads only the local cache: no request, no scope.
            if t.name == "atlassian_local_search" {
                assert!(t.scopes.is_empty());
                continue;
            }
            assert!(!t.scopes.is_empty(), "{} names no OAuth scope", t.name);
            let writes = t.scopes.iter().any(|s| s.starts_with("write:"));
            assert_eq!(
                writes,
                t.access == Write,
                "{}: a write scope exactly when the tool writes",
                t.name
            );
        }
    }

    #[test]
    fn default_oauth_scopes_cover_every_served_tool() {
        let raw = crate::config::parse(
            "[site]\nurl = \"https://a.atlassian.net\"\nauth = \"oauth\"\n[oauth]\nclient_id = \"c\"\nclient_secret = \"s\"\n",
            "t.toml",
        )
        .unwrap();
        let env = |_: &str| None;
        let settings =
            crate::config::Settings::resolve(raw, "t.toml", None, std::path::Path::new("/d"), &env)
                .unwrap();
        let granted = settings.oauth.unwrap().scopes;
        for t in served() {
            for s in t.scopes {
                assert!(
                    granted.iter().any(|g| g == s),
                    "{}: {s} not in the defaults",
                    t.name
                );
            }
        }
    }
}
