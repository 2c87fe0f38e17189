//! The MCP server: tool routing, the per-call audit wrapper, policy on `tools/list`.
//!
//! Every `tools/call` goes through [`BridgeServer::call_tool`], which checks policy, hands the
//! tool a [`CallCx`] (upstream trace, touched keys, outcome), runs it, and appends exactly one
//! audit record before the result is returned — whatever the outcome.
//!
//! - [`jira_tools`], [`confluence_tools`], [`whoami`]: the tools, one file per group.
//! - [`render`]: compact text for the model; [`args`]: lenient argument parsing.

pub mod args;
pub mod confluence_tools;
pub mod jira_tools;
pub mod render;
pub mod whoami;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde::Serialize;

use crate::atlassian::{Api, ApiError, CallTrace};
use crate::audit::{Actor, AuditLog, ClientInfo, Entry, Outcome};
use crate::policy::Policy;

/// Instructions sent in `initialize`: how to use the tools well (kept short; clients cap them).
const INSTRUCTIONS: &str = "Jira and Confluence through the user's own account. Search first \
(jira_search with JQL, confluence_search with CQL), then read single items (jira_get_issue, \
confluence_get_page). Results are compact; pass next_page_token / cursor back to page. \
Every call is recorded in the user's local audit log.";

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
}

/// The MCP server handed to rmcp.
#[derive(Clone)]
pub struct BridgeServer {
    state: Arc<State>,
    router: Arc<ToolRouter<BridgeServer>>,
    /// `tools/list` as filtered by policy, computed once.
    visible: Arc<Vec<Tool>>,
}

impl std::fmt::Debug for BridgeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeServer")
            .field("tools", &self.visible.len())
            .finish()
    }
}

impl BridgeServer {
    /// Builds the server and its policy-filtered tool list.
    pub fn new(state: State) -> Self {
        let router = Self::jira_router() + Self::confluence_router() + Self::whoami_router();
        let visible = router
            .list_all()
            .into_iter()
            .filter(|t| state.policy.check_tool(&t.name, is_read_only(t)).is_ok())
            .map(slim_tool)
            .collect();
        Self {
            state: Arc::new(state),
            router: Arc::new(router),
            visible: Arc::new(visible),
        }
    }

    /// The shared state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Every tool this build defines, before policy and before trimming: the full schemas,
    /// with a description on every input and output field (for docs and tests).
    pub fn all_tools_documented() -> Vec<Tool> {
        (Self::jira_router() + Self::confluence_router() + Self::whoami_router()).list_all()
    }

    fn client_info(context: &RequestContext<RoleServer>) -> Option<ClientInfo> {
        context.client_info().map(|i| ClientInfo {
            name: i.name,
            version: i.version,
        })
    }

    async fn audit(&self, entry: Entry) -> Result<(), String> {
        match self.state.audit.append(entry).await {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::error!(error = %e, "audit record could not be written");
                Err(format!(
                    "the audit log could not be written ({e}); the result is withheld so that no call goes unrecorded — fix the audit path or disk and retry"
                ))
            }
        }
    }
}

fn is_read_only(tool: &Tool) -> bool {
    tool.annotations
        .as_ref()
        .and_then(|a| a.read_only_hint)
        .unwrap_or(false)
}

/// Trims what `tools/list` sends: every byte of it sits in the model's context in most clients.
///
/// Input schemas keep their per-field descriptions (the model reads them to call the tool) and
/// lose only `$schema`, `title` and the integer `format`/`minimum: 0` noise. Output schemas are
/// used by clients to validate `structuredContent`, not shown to the model, so they are sent
/// without per-field prose; the Rust types (and `BridgeServer::all_tools_documented`) keep it.
fn slim_tool(mut tool: Tool) -> Tool {
    tool.input_schema = Arc::new(slim_schema(&tool.input_schema, false));
    tool.output_schema = tool
        .output_schema
        .as_ref()
        .map(|s| Arc::new(slim_schema(s, true)));
    tool
}

fn slim_schema(
    schema: &rmcp::model::JsonObject,
    drop_descriptions: bool,
) -> rmcp::model::JsonObject {
    fn walk(value: &mut serde_json::Value, drop_descriptions: bool, depth: usize) {
        match value {
            serde_json::Value::Object(map) => {
                map.remove("$schema");
                if depth == 0 {
                    map.remove("title");
                }
                let is_uint = map
                    .get("format")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|f| f.starts_with("uint"));
                if is_uint {
                    map.remove("format");
                    if map.get("minimum") == Some(&serde_json::json!(0)) {
                        map.remove("minimum");
                    }
                }
                if drop_descriptions {
                    map.remove("description");
                }
                for (key, child) in map.iter_mut() {
                    // Property *names* live under "properties"; never treat them as keywords.
                    if key == "properties" || key == "$defs" {
                        if let serde_json::Value::Object(props) = child {
                            for prop in props.values_mut() {
                                walk(prop, drop_descriptions, depth + 1);
                            }
                        }
                    } else {
                        walk(child, drop_descriptions, depth + 1);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    walk(item, drop_descriptions, depth + 1);
                }
            }
            _ => {}
        }
    }
    let mut value = serde_json::Value::Object(schema.clone());
    walk(&mut value, drop_descriptions, 0);
    match value {
        serde_json::Value::Object(map) => map,
        _ => schema.clone(),
    }
}

/// Per-call context handed to every tool through rmcp's request extensions.
#[derive(Debug, Default)]
pub struct CallCx {
    /// Upstream requests and retry budget.
    pub trace: CallTrace,
    touched: Mutex<Vec<String>>,
    outcome: Mutex<Option<(Outcome, String)>>,
}

impl CallCx {
    /// Records keys / ids a call read or changed.
    pub fn touch(&self, keys: impl IntoIterator<Item = String>) {
        if let Ok(mut t) = self.touched.lock() {
            t.extend(keys);
        }
    }

    /// Turns a tool's result into the MCP result, remembering the outcome for the audit.
    pub fn finish<T: Serialize + render::Render>(
        &self,
        result: Result<T, ToolError>,
    ) -> CallToolResult {
        match result {
            Ok(out) => {
                let text = out.render();
                let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
                match serde_json::to_value(&out) {
                    Ok(v) => r.structured_content = Some(v),
                    Err(e) => {
                        return self.finish::<whoami::Nothing>(Err(ToolError::Invalid(format!(
                            "internal error: result could not be serialized ({e})"
                        ))));
                    }
                }
                r
            }
            Err(e) => {
                let (outcome, message) = match &e {
                    ToolError::Denied(m) => (Outcome::Denied, m.clone()),
                    ToolError::Invalid(m) => (Outcome::Error, m.clone()),
                    ToolError::Api(a) => (Outcome::Error, a.user_message()),
                };
                if let Ok(mut o) = self.outcome.lock() {
                    *o = Some((outcome, message.clone()));
                }
                CallToolResult::error(vec![ContentBlock::text(message)])
            }
        }
    }

    fn take(&self) -> (Vec<String>, Option<(Outcome, String)>) {
        let touched = self.touched.lock().map(|t| t.clone()).unwrap_or_default();
        let outcome = self.outcome.lock().ok().and_then(|o| o.clone());
        (touched, outcome)
    }
}

/// Why a tool call failed, in terms the model can act on.
#[derive(Debug)]
pub enum ToolError {
    /// Bad arguments (the model can fix them).
    Invalid(String),
    /// Refused by policy.
    Denied(String),
    /// Atlassian said no, or could not be reached.
    Api(ApiError),
}

impl From<ApiError> for ToolError {
    fn from(e: ApiError) -> Self {
        ToolError::Api(e)
    }
}

impl ServerHandler for BridgeServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "atlassian-mcp-bridge",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items((*self.visible).clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let started = Instant::now();
        let name = request.name.to_string();
        let args = request.arguments.clone().map(serde_json::Value::Object);
        let client = Self::client_info(&context);
        let actor = self.state.actor.read().ok().map(|a| a.clone());
        let cx = Arc::new(CallCx::default());
        let ct = context.ct.clone();

        let mut cancelled = false;
        let known = self.router.get(&name).cloned();
        let result: Result<CallToolResult, McpError> = match known {
            None => Err(McpError::invalid_params(
                format!("unknown tool `{name}`; call tools/list for the tools this server offers"),
                None,
            )),
            Some(tool) => match self.state.policy.check_tool(&name, is_read_only(&tool)) {
                Err(reason) => Ok(cx.finish::<whoami::Nothing>(Err(ToolError::Denied(reason)))),
                Ok(()) => {
                    context.extensions.insert(cx.clone());
                    let call = self
                        .router
                        .call(ToolCallContext::new(self, request, context));
                    tokio::select! {
                        r = call => r.and_then(|resp| match resp {
                            CallToolResponse::Complete(r) => Ok(r),
                            _ => Err(McpError::internal_error("unexpected tool response kind", None)),
                        }).map(improve_argument_error),
                        () = ct.cancelled() => {
                            cancelled = true;
                            Ok(CallToolResult::error(vec![ContentBlock::text("cancelled by the client")]))
                        }
                    }
                }
            },
        };

        let (touched, recorded) = cx.take();
        let (outcome, error) = if cancelled {
            (
                Outcome::Cancelled,
                Some("cancelled by the client".to_string()),
            )
        } else {
            match (&result, recorded) {
                (_, Some((outcome, message))) => (outcome, Some(message)),
                (Ok(r), None) if r.is_error == Some(true) => (Outcome::Error, Some(first_text(r))),
                (Ok(_), None) => (Outcome::Ok, None),
                (Err(e), None) => (Outcome::Error, Some(e.message.to_string())),
            }
        };
        let result_bytes = match &result {
            Ok(r) => serde_json::to_vec(r).map(|v| v.len() as u64).unwrap_or(0),
            Err(_) => 0,
        };
        let entry = Entry {
            event: "tool_call".to_string(),
            client,
            actor,
            tool: Some(name),
            args,
            outcome,
            error,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            upstream: cx.trace.upstream(),
            touched,
            result_bytes,
        };
        if let Err(message) = self.audit(entry).await {
            return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
        }
        result.map(CallToolResponse::from)
    }
}

fn first_text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
        .unwrap_or_default()
}

/// rmcp reports bad arguments as "failed to deserialize parameters: …"; say what to do instead.
fn improve_argument_error(mut r: CallToolResult) -> CallToolResult {
    if r.is_error != Some(true) {
        return r;
    }
    let text = first_text(&r);
    if let Some(detail) = text.strip_prefix("failed to deserialize parameters: ") {
        r.content = vec![ContentBlock::text(format!(
            "invalid arguments: {detail}; check the tool's input schema"
        ))];
    }
    r
}

/// The actor for audit records before the account id is known.
pub fn initial_actor(api: &Api, auth: &str) -> Actor {
    Actor {
        account_id: None,
        site: Some(api.site().as_str().trim_end_matches('/').to_string()),
        auth: Some(auth.to_string()),
    }
}
