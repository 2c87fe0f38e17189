//! The MCP server: the state it shares, `initialize`, and `tools/list` as policy shapes it.
//!
//! Every `tools/call` goes through [`call`]'s gate, which checks policy, hands the tool a
//! [`CallCx`] (upstream trace, touched keys, outcome), runs it, and appends exactly one audit
//! record before the result is returned — whatever the outcome.
//!
//! - [`call`]: the gate, [`CallCx`], [`ToolError`], the audit entry.
//! - [`router`]: every tool's route, summed; checked against [`crate::catalog`] by a test.
//! - [`tool_list`]: `tools/list` as sent (trimmed schemas), stored in `tools.json` and read
//!   back at run time; a test keeps the file equal to what the types generate.
//! - [`jira`], [`confluence`], [`whoami`], [`local_search`]: the tools, one file per tool.
//! - [`bulk`]: the bulk tools' shared result, progress and journal opening; [`confirm`]: asking
//!   the person before a write.
//! - [`resources`]: `jira://issue/{key}` and `confluence://page/{id}` as Markdown;
//!   [`completion`]: argument completion; [`prompts`]: prompts that lead into the tools. All
//!   three go through policy and the audit like a tool call.
//! - [`digest`]: the summarize tools' deterministic digests (pure); [`sampling`]: asking the
//!   client's own model for a prose summary of one.
//! - [`offline`]: answers from the local cache when the site is unreachable, their age label,
//!   and the write-through that keeps what every read returned.
//! - [`outbox`]: writes queued while offline (the write tools' queueing, sending them exactly
//!   once through the tools' own code, the background run and the failure note).
//! - [`proxied`]: tools of an upstream MCP server (SPEC §11), listed with a prefix and called
//!   through policy, confirmation and the audit like the bridge's own.
//! - [`render`]: compact text for the model; [`args`]: lenient argument parsing.

pub mod args;
pub mod bulk;
pub mod call;
pub mod completion;
pub mod confirm;
pub mod confluence;
pub mod digest;
pub mod jira;
pub mod local_search;
pub mod offline;
pub mod outbox;
pub mod prompts;
pub mod proxied;
pub mod render;
pub mod resources;
pub mod router;
pub mod sampling;
pub mod tool_list;
pub mod whoami;

use std::sync::{Arc, OnceLock, RwLock};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};

pub use call::{CallCx, Nothing, ToolError};

use crate::atlassian::Api;
use crate::audit::{Actor, AuditLog};
use crate::catalog;
use crate::policy::Policy;

/// Instructions sent in `initialize`: how to use the tools well (kept short; clients cap them).
const INSTRUCTIONS: &str = "Jira and Confluence through the user's own account. Search first \
(jira_search with JQL, confluence_search with CQL), then read single items (jira_get_issue, \
confluence_get_page). For overviews use jira_summarize_search (exact counts without listing \
every issue), jira_summarize_issue and confluence_summarize_page. Results are compact; pass \
next_page_token / cursor back to page. atlassian_local_search searches the local copy of what \
was read or synced, also offline. Every call is recorded in the user's local audit log.";

/// Shared state of one server process.
#[derive(Debug)]
pub struct State {
    /// The Atlassian site.
    pub api: Api,
    /// Guard rails.
    pub policy: Policy,
    /// Audit log.
    pub audit: AuditLog,
    /// On whose behalf calls run; the account id is filled in once known.
    pub actor: RwLock<Actor>,
    /// Where the audit log lives (shown by `atlassian_whoami`).
    pub audit_path: String,
    /// Where bulk operations keep their journals (`<home>/journal`).
    pub journal_dir: std::path::PathBuf,
    /// The local cache (SPEC §10): `None` when `[cache].enabled = false` or it could not be
    /// opened (the server then works online only).
    pub cache: Option<crate::cache::Cache>,
    /// When reads are answered from the cache and writes queued (`[cache].offline`).
    pub offline: crate::config::OfflineMode,
    /// Where queued offline writes wait (`<home>/outbox`).
    pub outbox_dir: std::path::PathBuf,
    /// The upstream MCP server whose tools are proxied (`[upstream]`), if any.
    pub upstream: Option<proxied::Upstream>,
}

/// The MCP server handed to rmcp.
#[derive(Clone)]
pub struct BridgeServer {
    state: Arc<State>,
    /// The tool router and `tools/list`, made from `tools.json` when first needed.
    tools: Arc<OnceLock<Tools>>,
    /// The recently updated issues `resources/list` offers, briefly cached.
    recent: Arc<resources::RecentCache>,
}

/// The bridge's own tools: the router that runs them and the list `tools/list` sends.
struct Tools {
    router: ToolRouter<BridgeServer>,
    /// `tools/list` as filtered by policy and trimmed.
    visible: Vec<Tool>,
}

impl Tools {
    fn build(state: &State) -> Self {
        let listed = tool_list::listed();
        let router = router::all(&listed);
        let own = state
            .upstream
            .as_ref()
            .is_none_or(proxied::Upstream::with_own_tools);
        let visible = listed
            .into_iter()
            .filter(|_| own)
            .filter(|t| {
                catalog::find(&t.name).is_some_and(|info| state.policy.admit_tool(info).is_ok())
            })
            .collect();
        Self { router, visible }
    }
}

impl std::fmt::Debug for BridgeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeServer")
            .field("tools", &self.tools.get().map(|t| t.visible.len()))
            .finish()
    }
}

impl BridgeServer {
    /// Builds the server; its tool router and policy-filtered tool list are made when first
    /// needed (from `tools.json`: no schema is generated at run time).
    pub fn new(state: State) -> Self {
        Self {
            state: Arc::new(state),
            tools: Arc::new(OnceLock::new()),
            recent: Arc::default(),
        }
    }

    /// The router and tool list, made on first use.
    fn tools(&self) -> &Tools {
        self.tools.get_or_init(|| Tools::build(&self.state))
    }

    /// The router that runs the bridge's own tools.
    pub(crate) fn router(&self) -> &ToolRouter<BridgeServer> {
        &self.tools().router
    }

    /// The shared state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Every tool this build defines, before policy and before trimming: the full schemas,
    /// with a description on every input and output field (for docs and tests).
    pub fn all_tools_documented() -> Vec<Tool> {
        router::documented().list_all()
    }
}

impl ServerHandler for BridgeServer {
    fn get_info(&self) -> ServerConfig {
        // With `upstream.tools = "upstream"` the bridge's own resources, prompts and
        // completion are off, like its tools.
        let mut capabilities = if self.own_tools_offered() {
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .enable_completions()
                .build()
        } else {
            ServerCapabilities::builder().enable_tools().build()
        };
        // The upstream's tool list can change while we run (SPEC §11).
        if self.state.upstream.is_some()
            && let Some(tools) = capabilities.tools.as_mut()
        {
            tools.list_changed = Some(true);
        }
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(
                "atlassian-mcp-bridge",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut tools = self.tools().visible.clone();
        tools.extend(self.upstream_tools(&context).await);
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if self.is_upstream_call(&request.name) {
            return self.proxied_call(request, context).await;
        }
        self.gate(request, context).await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        if !self.own_tools_offered() {
            return Ok(ListResourcesResult::default());
        }
        Ok(self.recent_resources(&context).await)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        if !self.own_tools_offered() {
            return Ok(ListResourceTemplatesResult::default());
        }
        Ok(self.resource_templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        if !self.own_tools_offered() {
            return Err(upstream_only());
        }
        self.read(request, &context).await.map(Into::into)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        if !self.own_tools_offered() {
            return Ok(ListPromptsResult::default());
        }
        Ok(self.prompt_list())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        if !self.own_tools_offered() {
            return Err(upstream_only());
        }
        self.prompt(request, &context).await.map(Into::into)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        if !self.own_tools_offered() {
            return Err(upstream_only());
        }
        self.complete_argument(request, &context).await
    }
}

/// The error for the bridge's own features when only the upstream's tools are served.
fn upstream_only() -> McpError {
    McpError::invalid_request(
        "this bridge serves only the upstream MCP server's tools (upstream.tools = \"upstream\")",
        None,
    )
}

/// The actor for audit records before the account id is known.
pub fn initial_actor(api: &Api, auth: &str) -> Actor {
    Actor {
        account_id: None,
        site: Some(api.site().as_str().trim_end_matches('/').to_string()),
        auth: Some(auth.to_string()),
    }
}
