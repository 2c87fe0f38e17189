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
use crate::policy::upstream::{is_issue_key, upstream_writes_nothing, walk};
use crate::remote::{Remote, RemoteError};

/// How long `tools/list` waits for the upstream's list before answering without it.
const LIST_WAIT: Duration = Duration::from_secs(10);

/// How often a failed listing is tried again in the background, so the client learns of the
/// upstream's tools (`tools/list_changed`) once a sign-in or the network is back.
const RELIST_EVERY: Duration = Duration::from_secs(10);

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
    /// The last tool list the upstream gave (`<home>/upstream-tools.json`): offered while the
    /// sign-in is dead, so every upstream tool can say to run `login --upstream`.
    known_file: std::path::PathBuf,
    /// True while a background task retries a failed listing.
    relisting: Arc<std::sync::atomic::AtomicBool>,
}

impl Upstream {
    /// Wraps a client for these settings; the last known tool list is kept in `data_dir`.
    pub fn new(settings: UpstreamSettings, remote: Remote, data_dir: &std::path::Path) -> Self {
        Self {
            settings,
            remote,
            watcher: Arc::default(),
            known_file: data_dir.join("upstream-tools.json"),
            relisting: Arc::default(),
        }
    }

    /// Keeps the list for [`Upstream::known_tools`] (best effort, off the runtime's threads).
    async fn remember(&self, tools: Arc<Vec<Tool>>) {
        let file = self.known_file.clone();
        let url = self.settings.url.to_string();
        let _ = tokio::task::spawn_blocking(move || {
            let body = serde_json::json!({ "url": url, "tools": *tools });
            let text = serde_json::to_string(&body).ok()?;
            if std::fs::read_to_string(&file).ok().as_deref() == Some(text.as_str()) {
                return Some(());
            }
            std::fs::write(&file, text).ok()
        })
        .await;
    }

    /// The tool list kept by [`Upstream::remember`] for this URL, if any.
    async fn known_tools(&self) -> Vec<Tool> {
        let file = self.known_file.clone();
        let url = self.settings.url.to_string();
        tokio::task::spawn_blocking(move || {
            let text = std::fs::read_to_string(&file).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            if v["url"].as_str() != Some(url.as_str()) {
                return None;
            }
            serde_json::from_value::<Vec<Tool>>(v["tools"].clone()).ok()
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
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
    // A prefix such as `jira_` could make an upstream name collide with one of the bridge's
    // own tools: the bridge's own wins, and the upstream one is not offered.
    if up.with_own_tools() && server.router().get(&prefixed).is_some() {
        tracing::warn!(
            "upstream tool `{}` is not offered: `{prefixed}` is one of the bridge's own tools; choose another upstream.prefix",
            tool.name
        );
        return None;
    }
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
        let tools = match tokio::time::timeout(LIST_WAIT, up.remote.tools()).await {
            Ok(Ok(tools)) => {
                up.remember(tools.clone()).await;
                return tools.iter().filter_map(|t| offered(self, up, t)).collect();
            }
            Ok(Err(RemoteError::SignIn(why))) => {
                // A dead sign-in: the tools last seen stay listed, and each says what to run.
                tracing::warn!("upstream tools cannot be listed: {why}");
                up.known_tools().await
            }
            Ok(Err(e)) => {
                tracing::warn!("upstream tools are not listed: {e}");
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
        };
        self.relist_later(up, context);
        tools.iter().filter_map(|t| offered(self, up, t)).collect()
    }

    /// After a failed listing: tries again every [`RELIST_EVERY`] in the background and, once
    /// the upstream answers (signed in again, back online), tells the client its tool list
    /// changed.
    fn relist_later(&self, up: &Upstream, context: &RequestContext<RoleServer>) {
        if up.relisting.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let up = up.clone();
        let peer = context.peer.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RELIST_EVERY).await;
                if peer.is_transport_closed() {
                    break;
                }
                if let Ok(Ok(tools)) = tokio::time::timeout(LIST_WAIT, up.remote.tools()).await {
                    up.remember(tools).await;
                    let _ = peer.notify_tool_list_changed().await;
                    break;
                }
            }
            up.relisting
                .store(false, std::sync::atomic::Ordering::SeqCst);
        });
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
            && (self.router().get(name).is_none() || !self.own_tools_offered())
    }

    /// Runs one proxied `tools/call`: policy, confirmation, the forwarded call, and exactly one
    /// audit record (`upstream: [{method: "MCP", path: "tools/call <name>"}]`).
    pub(crate) async fn proxied_call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let started = Instant::now();
        if let Err(message) = self.audit_ready().await {
            return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
        }
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
            Ok(CallToolResponse::Complete(r)) => crate::mcp::call::json_len(r),
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
        let policy = &self.state().policy;
        // Refusals by name come first: a denied tool never connects to the upstream.
        policy
            .admit_upstream_tool(name, upstream_name, true)
            .map_err(ToolError::Denied)?;
        let tools = tokio::select! {
            listed = up.remote.tools() => listed.map_err(remote_error)?,
            () = context.ct.cancelled() => return Err(remote_error(RemoteError::Cancelled)),
        };
        let Some(tool) = tools.iter().find(|t| t.name == upstream_name) else {
            return Err(ToolError::Invalid(format!(
                "unknown tool `{name}`: the upstream MCP server {} offers no `{upstream_name}`; call tools/list for the tools it offers",
                up.settings.url
            )));
        };
        let writes = !upstream_writes_nothing(upstream_name, read_only_hint(tool));
        policy
            .admit_upstream_tool(name, upstream_name, !writes)
            .map_err(ToolError::Denied)?;
        let arguments = policy.admit_upstream_args(request.arguments.as_ref(), writes)?;
        if let Some(a) = &arguments {
            cx.touch(touched_in(&Value::Object(a.clone())));
        }
        if writes {
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
        let result = called.map_err(|e| match e {
            RemoteError::Timeout(d) => ToolError::Invalid(format!(
                "the upstream MCP server {} did not answer within {} s",
                up.settings.url,
                d.as_secs()
            )),
            other => remote_error(other),
        })?;
        let (seen, text) = result_json(&result);
        for v in &seen {
            cx.touch(touched_in(v));
        }
        let checked = seen
            .iter()
            .try_for_each(|v| policy.admit_upstream_result(v))
            .and_then(|()| policy.admit_upstream_text(&text));
        if let Err(r) = checked {
            let why = match r {
                crate::policy::Refusal::Denied(m) | crate::policy::Refusal::Invalid(m) => m,
            };
            let message = format!("the upstream's answer was withheld: {why}");
            // A write has happened by now: its record says so (an error), not "denied".
            return Err(if writes {
                ToolError::Invalid(format!(
                    "{message} (the call itself was sent and may have changed something)"
                ))
            } else {
                ToolError::Denied(message)
            });
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
        RemoteError::Rpc { code, message } => ToolError::Invalid(format!(
            "the upstream MCP server returned error {code}: {}",
            crate::sanitize::clean_text(&message)
        )),
        other => ToolError::Invalid(other.to_string()),
    }
}

/// What a proxied result says: its structured content and each text block that is JSON
/// (Atlassian's server answers in JSON text), and the rest of its text.
fn result_json(result: &CallToolResult) -> (Vec<Value>, String) {
    let mut out: Vec<Value> = result.structured_content.iter().cloned().collect();
    let mut text = String::new();
    for block in &result.content {
        match block.as_text() {
            Some(t) => match serde_json::from_str::<Value>(&t.text) {
                Ok(v) if v.is_object() || v.is_array() => out.push(v),
                _ => {
                    text.push_str(&t.text);
                    text.push('\n');
                }
            },
            // Embedded resources and links: checked as JSON.
            None => {
                if let Ok(v) = serde_json::to_value(block) {
                    out.push(v);
                }
            }
        }
    }
    (out, text)
}

/// Issue keys and page ids a proxied call named or returned, for the audit's `touched`.
fn touched_in(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(value, &mut |key, v| {
        let lower = key.to_ascii_lowercase();
        match v {
            Value::String(s)
                if matches!(
                    lower.as_str(),
                    "key" | "issuekey" | "issueidorkey" | "issuekeys" | "parent" | "parentkey"
                ) && is_issue_key(&s.to_ascii_uppercase()) =>
            {
                out.push(s.to_ascii_uppercase());
            }
            Value::String(s)
                if lower == "pageid" && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) =>
            {
                out.push(format!("page:{s}"));
            }
            Value::Number(n) if lower == "pageid" => out.push(format!("page:{n}")),
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
#[path = "proxied_tests.rs"]
mod tests;
