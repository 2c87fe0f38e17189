//! `atlassian_whoami`: who the bridge acts as, where, and under which policy.

use std::fmt::Write as _;
use std::sync::Arc;

use rmcp::handler::server::tool::{Extension, schema_for_output};
use rmcp::model::CallToolResponse;
use rmcp::{schemars, tool, tool_router};
use serde::Serialize;

use super::render::Render;
use super::{BridgeServer, CallCx, ToolError};

/// The signed-in user.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct UserOut {
    /// Account id (Cloud) or user key (Data Center).
    pub account_id: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Email, when visible.
    pub email: Option<String>,
}

/// The policy in force.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PolicyOut {
    /// Write tools hidden and refused.
    pub read_only: bool,
    /// Only these tools (empty = all).
    pub allow_tools: Vec<String>,
    /// Never these tools.
    pub deny_tools: Vec<String>,
    /// Jira confined to these projects (empty = all).
    pub jira_projects: Vec<String>,
    /// Confluence confined to these spaces (empty = all).
    pub confluence_spaces: Vec<String>,
    /// Most items per bulk call.
    pub max_bulk_items: u32,
    /// auto, always or never.
    pub confirm_writes: String,
}

/// Result of `atlassian_whoami`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WhoamiOut {
    /// The user the bridge acts as.
    pub user: UserOut,
    /// Site URL.
    pub site: String,
    /// cloud or data-center.
    pub deployment: String,
    /// api-token, pat or oauth.
    pub auth: String,
    /// Granted OAuth scopes (null for token auth, which has the user's full rights).
    pub scopes: Option<Vec<String>>,
    /// Policy in force.
    pub policy: PolicyOut,
    /// Local audit log file.
    pub audit_log: String,
    /// Bridge version.
    pub version: String,
    /// The policy as one line of text (rendered, not part of the structured output).
    #[serde(skip)]
    #[schemars(skip)]
    pub policy_summary: String,
}

impl Render for WhoamiOut {
    fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "User: {} ({}){}",
            self.user.display_name.as_deref().unwrap_or("unknown"),
            self.user.account_id.as_deref().unwrap_or("-"),
            self.user
                .email
                .as_ref()
                .map(|e| format!(" <{e}>"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "Site: {} ({}, auth {})",
            self.site, self.deployment, self.auth
        );
        let _ = writeln!(out, "Policy: {}", self.policy_summary);
        let _ = writeln!(out, "Audit log: {}", self.audit_log);
        out
    }
}

#[tool_router(router = whoami_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "atlassian_whoami",
        description = "Who the bridge acts as: user, site, deployment, auth mode, scopes, the local policy in force and the audit log path.",
        annotations(title = "Who am I", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<WhoamiOut>()
    )]
    pub(crate) async fn atlassian_whoami(
        &self,
        Extension(cx): Extension<Arc<CallCx>>,
    ) -> CallToolResponse {
        cx.finish(self.whoami_impl(&cx).await)
    }
}

impl BridgeServer {
    async fn whoami_impl(&self, cx: &CallCx) -> Result<WhoamiOut, ToolError> {
        let state = self.state();
        let me = state.api.current_user(&cx.trace).await?;
        if let Ok(mut actor) = state.actor.write() {
            actor.account_id = me.id.clone();
        }
        let actor = state.actor.read().map(|a| a.clone()).unwrap_or_default();
        let s = state.policy.settings();
        Ok(WhoamiOut {
            user: UserOut {
                account_id: me.id,
                display_name: me.display_name,
                email: me.email,
            },
            site: actor.site.unwrap_or_default(),
            deployment: state.api.deployment().as_str().to_string(),
            auth: actor.auth.unwrap_or_default(),
            scopes: None,
            policy: PolicyOut {
                read_only: s.read_only,
                allow_tools: s.allow_tools.clone(),
                deny_tools: s.deny_tools.clone(),
                jira_projects: s.jira_projects.clone(),
                confluence_spaces: s.confluence_spaces.clone(),
                max_bulk_items: s.max_bulk_items,
                confirm_writes: s.confirm_writes.as_str().to_string(),
            },
            audit_log: state.audit_path.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            policy_summary: s.summary(),
        })
    }
}
