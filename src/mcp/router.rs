//! The router: every tool file's handler, summed into one. [`crate::catalog`] is the list of
//! record; a test here checks that this router serves exactly the catalog's served tools with
//! honest read-only annotations.
//!
//! Two routers exist. [`all`] is what serves calls: each handler with the attributes
//! `tools/list` sends, read from `tools.json` ([`super::tool_list`]), so that no JSON schema is
//! generated at run time. [`documented`] is each tool file's own router (attributes generated
//! from the Rust types, with every field's description): what `tools.json` is made from, and
//! the documentation.

use std::sync::Arc;

use rmcp::handler::server::router::tool::{ToolRoute, ToolRouter};
use rmcp::model::{JsonObject, Tool};

use super::BridgeServer;

/// Every tool this build serves, with `listed`'s attributes (see [`super::tool_list::listed`]).
pub(crate) fn all(listed: &[Tool]) -> ToolRouter<BridgeServer> {
    let attr = |name: &str| {
        listed
            .iter()
            .find(|t| t.name == name)
            .cloned()
            // `listed` names every served tool (it is regenerated otherwise).
            .unwrap_or_else(|| Tool::new(name.to_string(), "", Arc::new(JsonObject::new())))
    };
    macro_rules! routes {
        ($($tool:ident),* $(,)?) => {
            ToolRouter::new()
                $(.with_route(ToolRoute::new(attr(stringify!($tool)), BridgeServer::$tool)))*
        };
    }
    routes!(
        jira_search,
        jira_get_issue,
        jira_list_projects,
        jira_get_create_fields,
        confluence_search,
        confluence_get_page,
        confluence_list_spaces,
        jira_create_issue,
        jira_bulk_create_issues,
        jira_update_issue,
        jira_add_comment,
        jira_transition_issue,
        confluence_create_page,
        confluence_update_page,
        confluence_bulk_create_pages,
        jira_summarize_issue,
        jira_summarize_search,
        confluence_summarize_page,
        atlassian_whoami,
        atlassian_local_search,
    )
}

/// Every tool file's own router, summed: attributes generated from the Rust types, with a
/// description on every input and output field.
pub(crate) fn documented() -> ToolRouter<BridgeServer> {
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
        let tools = super::all(&crate::mcp::tool_list::listed()).list_all();
        let documented: Vec<_> = super::documented()
            .list_all()
            .into_iter()
            .map(|t| t.name)
            .collect();
        let names: Vec<_> = tools.iter().map(|t| t.name.clone()).collect();
        assert_eq!(
            names, documented,
            "the served and the documented routers differ"
        );
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
