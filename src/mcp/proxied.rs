//! Tools proxied from an upstream MCP server (SPEC §11): listed with the configured prefix next
//! to (or instead of) the bridge's own, called through the same policy, confirmation and audit
//! as every other tool, with results, errors, progress and cancellation forwarded faithfully.
//!
//! The connection is lazy ([`crate::remote::Remote`]): `initialize` never waits for the
//! upstream; the first `tools/list` or call connects.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    ProgressNotificationParam, Tool,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer};
use serde_json::Value;

use super::confirm::confirm;
use super::{BridgeServer, CallCx, ToolError};
use crate::audit::{Entry, Outcome};
use crate::config::{UpstreamSettings, UpstreamTools};
use crate::policy::upstream::{is_issue_key, walk};
use crate::remote::{Remote, RemoteError};

/// How long `tools/list` waits for the upstream's list before answering without it.
const LIST_WAIT: Duration = Duration::from_secs(10);

/// The upstream MCP server as the server sees it.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// `[upstream]`.
    pub settings: UpstreamSettings,
    /// The lazy client.
    pub remote: Remote,
    /// The downstream client to tell when the upstream's tool list changes (set on the first
    /// `tools/list`).
    watcher: Arc<Mutex<Option<Peer<RoleServer>>>>,
}

impl Upstream {
    /// Wraps a client for these settings.
    pub fn new(settings: UpstreamSettings, remote: Remote) -> Self {
        Self {
            settings,
            remote,
            watcher: Arc::default(),
        }
    }

    /// The upstream name of a prefixed tool name, when it is one.
    pub fn upstream_name<'a>(&self, name: &'a str) -> Option<&'a str> {
        name.strip_prefix(self.settings.prefix.as_str())
            .filter(|rest| !rest.is_empty())
    }

    /// True when the bridge's own tools are offered too.
    pub fn with_own_tools(&self) -> bool {
        self.settings.tools == UpstreamTools::Both
    }
}

/// The prefixed, policy-filtered form of an upstream tool; `None` when policy hides it.
fn offered(server: &BridgeServer, up: &Upstream, tool: &Tool) -> Option<Tool> {
    let prefixed = format!("{}{}", up.settings.prefix, tool.name);
    let read_only = read_only_hint(tool);
    server
        .state()
        .policy
        .admit_upstream_tool(&prefixed, &tool.name, read_only)
        .ok()?;
    let mut out = tool.clone();
    out.name = prefixed.into();
    Some(out)
}

fn read_only_hint(tool: &Tool) -> bool {
    tool.annotations
        .as_ref()
        .and_then(|a| a.read_only_hint)
        .unwrap_or(false)
}

impl BridgeServer {
    /// The upstream's tools as offered, or nothing when it cannot be listed now (the reason is
    /// logged; the next `tools/list` tries again). Also starts following its list changes.
    pub(crate) async fn upstream_tools(&self, context: &RequestContext<RoleServer>) -> Vec<Tool> {
        let Some(up) = &self.state().upstream else {
            return Vec::new();
        };
        self.follow_list_changes(up, context);
        match tokio::time::timeout(LIST_WAIT, up.remote.tools()).await {
            Ok(Ok(tools)) => tools.iter().filter_map(|t| offered(self, up, t)).collect(),
            Ok(Err(e)) => {
                tracing::warn!("upstream tools are not listed: {}", e);
                Vec::new()
            }
            Err(_) => {
                tracing::warn!(
                    "upstream tools are not listed: {} did not answer within {} s",
                    up.settings.url,
                    LIST_WAIT.as_secs()
                );
                Vec::new()
            }
        }
    }

    /// Tells this server's client `tools/list_changed` whenever the upstream says so.
    fn follow_list_changes(&self, up: &Upstream, context: &RequestContext<RoleServer>) {
        let Ok(mut watcher) = up.watcher.lock() else {
            return;
        };
        if watcher.is_some() {
            return;
        }
        *watcher = Some(context.peer.clone());
        let peer = context.peer.clone();
        let mut changes = up.remote.changes();
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                if peer.notify_tool_list_changed().await.is_err() {
                    break;
                }
            }
        });
    }

    /// True when `name` is to be served by the upstream: it carries the prefix and is not one
    /// of the bridge's own tools.
    pub(crate) fn is_upstream_call(&self, name: &str) -> bool {
        self.state()
            .upstream
            .as_ref()
            .is_some_and(|up| up.upstream_name(name).is_some())
            && (self.router.get(name).is_none() || !self.own_tools_offered())
    }

    /// Runs one proxied `tools/call`: policy, confirmation, the forwarded call, and exactly one
    /// audit record (`upstream: [{method: "MCP", path: "tools/call <name>"}]`).
    pub(crate) async fn proxied_call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let started = Instant::now();
        let name = request.name.to_string();
        let args = request.arguments.clone().map(Value::Object);
        let cx = CallCx::default();
        let result = self.proxy(&request, &context, &cx).await;
        let (response, outcome, error) = match result {
            Ok(r) => {
                let failed = r.is_error == Some(true);
                let error = failed.then(|| first_text(&r));
                let outcome = if failed { Outcome::Error } else { Outcome::Ok };
                (Ok(CallToolResponse::from(r)), outcome, error)
            }
            Err(ToolError::NeedsInput(asks)) => (
                Ok(CallToolResponse::InputRequired(*asks)),
                Outcome::Ok,
                None,
            ),
            Err(e) => {
                let outcome = match (&e, context.ct.is_cancelled()) {
                    (_, true) => Outcome::Cancelled,
                    (ToolError::Denied(_), _) => Outcome::Denied,
                    _ => Outcome::Error,
                };
                let message = e.message();
                (
                    Ok(CallToolResult::error(vec![ContentBlock::text(message.clone())]).into()),
                    outcome,
                    Some(message),
                )
            }
        };
        let result_bytes = match &response {
            Ok(CallToolResponse::Complete(r)) => {
                serde_json::to_vec(r).map(|v| v.len() as u64).unwrap_or(0)
            }
            _ => 0,
        };
        let (touched, _) = cx.take();
        let entry = Entry {
            event: "tool_call".to_string(),
            client: Self::client_info(&context),
            actor: self.state().actor.read().ok().map(|a| a.clone()),
            tool: Some(name),
            args,
            outcome,
            error,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            upstream: cx.trace.upstream(),
            touched,
            result_bytes,
            id: Some(cx.record_id().to_string()),
            offline: false,
            origin: None,
        };
        if let Err(message) = self.audit(entry).await {
            return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
        }
        response
    }

    async fn proxy(
        &self,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
        cx: &CallCx,
    ) -> Result<CallToolResult, ToolError> {
        let Some(up) = &self.state().upstream else {
            return Err(ToolError::Invalid(
                "no upstream MCP server is configured".into(),
            ));
        };
        let name = request.name.as_ref();
        let Some(upstream_name) = up.upstream_name(name) else {
            return Err(ToolError::Invalid(format!("unknown tool `{name}`")));
        };
        let tools = up.remote.tools().await.map_err(remote_error)?;
        let Some(tool) = tools.iter().find(|t| t.name == upstream_name) else {
            return Err(ToolError::Invalid(format!(
                "unknown tool `{name}`: the upstream MCP server {} offers no `{upstream_name}`; call tools/list for the tools it offers",
                up.settings.url
            )));
        };
        let read_only = read_only_hint(tool);
        let policy = &self.state().policy;
        policy
            .admit_upstream_tool(name, upstream_name, read_only)
            .map_err(ToolError::Denied)?;
        let arguments = policy.admit_upstream_args(request.arguments.as_ref())?;
        if let Some(a) = &arguments {
            cx.touch(touched_in(&Value::Object(a.clone())));
        }
        if !read_only {
            let what = format!(
                "Run `{name}` on the upstream MCP server {}{}?",
                up.settings.url,
                describe(arguments.as_ref())
            );
            confirm(
                self.state(),
                context,
                request.input_responses.as_ref(),
                &what,
            )
            .await?;
        }
        let (progress, forwarder) = forward_progress(context);
        let started = Instant::now();
        let called = up
            .remote
            .call(upstream_name, arguments, progress, context.ct.clone())
            .await;
        if let Some(f) = forwarder {
            // Every progress notification that arrived before the result is sent first.
            let _ = f.await;
        }
        let method = reqwest::Method::from_bytes(b"MCP").unwrap_or(reqwest::Method::POST);
        let path = format!("tools/call {upstream_name}");
        let status = match &called {
            Ok(_) => 200,
            Err(e) => e.status(),
        };
        cx.trace.record(&method, &path, status, started.elapsed());
        let result = called.map_err(remote_error)?;
        let seen = result_json(&result);
        for v in &seen {
            policy.admit_upstream_result(v).map_err(|r| match r {
                crate::policy::Refusal::Denied(m) => {
                    ToolError::Denied(format!("the upstream's answer was withheld: {m}"))
                }
                crate::policy::Refusal::Invalid(m) => ToolError::Invalid(m),
            })?;
            cx.touch(touched_in(v));
        }
        Ok(result)
    }

    /// False when `[upstream].tools = "upstream"`: the bridge's own tools are neither listed
    /// nor served.
    pub(crate) fn own_tools_offered(&self) -> bool {
        self.state()
            .upstream
            .as_ref()
            .is_none_or(Upstream::with_own_tools)
    }
}

/// Forwards the upstream's progress for this call to this server's client, under the client's
/// own progress token; `None` when the client asked for no progress.
fn forward_progress(
    context: &RequestContext<RoleServer>,
) -> (
    Option<crate::remote::ProgressSink>,
    Option<tokio::task::JoinHandle<()>>,
) {
    let Some(token) = context.meta.get_progress_token() else {
        return (None, None);
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ProgressNotificationParam>();
    let peer = context.peer.clone();
    let task = tokio::spawn(async move {
        while let Some(mut p) = rx.recv().await {
            p.progress_token = token.clone();
            let _ = peer.notify_progress(p).await;
        }
    });
    (Some(tx), Some(task))
}

fn remote_error(e: RemoteError) -> ToolError {
    match e {
        RemoteError::Cancelled => ToolError::Invalid("cancelled by the client".to_string()),
        other => ToolError::Invalid(other.to_string()),
    }
}

/// What a proxied result says, as JSON: its structured content, and each text block that is
/// JSON (Atlassian's server answers in JSON text).
fn result_json(result: &CallToolResult) -> Vec<Value> {
    let mut out: Vec<Value> = result.structured_content.iter().cloned().collect();
    for block in &result.content {
        if let Some(t) = block.as_text()
            && let Ok(v) = serde_json::from_str::<Value>(&t.text)
            && (v.is_object() || v.is_array())
        {
            out.push(v);
        }
    }
    out
}

/// Issue keys and page ids a proxied call named or returned, for the audit's `touched`.
fn touched_in(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(value, &mut |key, v| {
        let lower = key.to_ascii_lowercase();
        match v {
            Value::String(s) if is_issue_key(s) => out.push(s.clone()),
            Value::String(s)
                if lower == "pageid" && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) =>
            {
                out.push(format!("page:{s}"));
            }
            Value::Object(map)
                if map.contains_key("title")
                    && (map.contains_key("spaceId") || map.contains_key("spaceKey")) =>
            {
                if let Some(id) = map.get("id").and_then(|i| match i {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }) {
                    out.push(format!("page:{id}"));
                }
            }
            _ => {}
        }
    });
    out
}

/// A short description of the arguments for the confirmation question.
fn describe(args: Option<&serde_json::Map<String, Value>>) -> String {
    let Some(args) = args else {
        return String::new();
    };
    let parts: Vec<String> = args
        .iter()
        .filter(|(k, _)| k.as_str() != "cloudId")
        .take(4)
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let short: String = text.chars().take(60).collect();
            let ellipsis = if text.chars().count() > 60 { "…" } else { "" };
            format!("{k}: {short}{ellipsis}")
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

fn first_text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn touched_names_issue_keys_and_pages() {
        let v = json!({
            "issueIdOrKey": "ENG-1",
            "issues": [{"key": "OPS-2", "fields": {"summary": "x"}}],
            "pageId": "100101",
            "page": {"id": 200100, "title": "Home", "spaceId": "98306"}
        });
        let mut t = touched_in(&v);
        t.sort();
        assert_eq!(t, vec!["ENG-1", "OPS-2", "page:100101", "page:200100"]);
    }

    #[test]
    fn the_question_names_the_arguments_briefly() {
        let args = json!({"cloudId": "c", "projectKey": "ENG", "summary": "x".repeat(100)});
        let d = describe(args.as_object());
        assert!(d.contains("projectKey: ENG"), "{d}");
        assert!(!d.contains("cloudId"), "{d}");
        assert!(d.contains('…') && d.len() < 120, "{d}");
    }
}
