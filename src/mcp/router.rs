//! The router: every tool file's route, summed into one. [`crate::catalog`] is the list of
//! record; a test here checks that this router serves exactly the catalog's served tools with
//! honest read-only annotations.

use rmcp::handler::server::router::tool::ToolRouter;

use super::BridgeServer;

/// Every tool this build serves.
pub(crate) fn all() -> ToolRouter<BridgeServer> {
    BridgeServer::jira_search_router()
        + BridgeServer::jira_get_issue_router()
        + BridgeServer::jira_list_projects_router()
        + BridgeServer::jira_get_create_fields_router()
        + BridgeServer::confluence_search_router()
        + BridgeServer::confluence_get_page_router()
        + BridgeServer::confluence_list_spaces_router()
        + BridgeServer::jira_create_issue_router()
        + BridgeServer::jira_bulk_create_issues_router()
        + BridgeServer::jira_update_issue_router()
        + BridgeServer::jira_add_comment_router()
        + BridgeServer::jira_transition_issue_router()
        + BridgeServer::confluence_create_page_router()
        + BridgeServer::confluence_update_page_router()
        + BridgeServer::confluence_bulk_create_pages_router()
        + BridgeServer::jira_summarize_issue_router()
        + BridgeServer::jira_summarize_search_router()
        + BridgeServer::confluence_summarize_page_router()
        + BridgeServer::whoami_router()
        + BridgeServer::local_search_router()
}

#[cfg(test)]
mod tests {
    use crate::catalog::{self, Access};

    #[test]
    fn instructions_name_only_served_tools() {
        let words = crate::mcp::INSTRUCTIONS
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| {
                ["jira_", "confluence_", "atlassian_"]
                    .iter()
                    .any(|p| w.starts_with(p))
            });
        for w in words {
            assert!(
                catalog::served().any(|t| t.name == w),
                "INSTRUCTIONS names `{w}`, which this build does not serve"
            );
        }
    }

    #[test]
    fn router_and_catalog_agree() {
        let tools = super::all().list_all();
        let mut served: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        served.sort_unstable();
        let listed: Vec<&str> = catalog::served().map(|t| t.name).collect();
        assert_eq!(served, listed, "router and catalog::TOOLS disagree");
        for t in &tools {
            let info = catalog::find(&t.name).unwrap();
            let a = t.annotations.as_ref().expect("every tool has annotations");
            let read_only = a.read_only_hint == Some(true);
            assert_eq!(read_only, info.access == Access::Read, "{}", t.name);
            assert!(a.destructive_hint.is_some(), "{}: destructiveHint", t.name);
            assert!(a.idempotent_hint.is_some(), "{}: idempotentHint", t.name);
            assert!(a.open_world_hint.is_some(), "{}: openWorldHint", t.name);
            if read_only {
                assert_eq!(a.destructive_hint, Some(false), "{}", t.name);
            }
        }
    }
}
