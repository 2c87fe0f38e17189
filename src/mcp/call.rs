//! The per-call machinery: the policy gate, the [`CallCx`] each tool receives, turning a tool's
//! result into an MCP result, and the one audit record every `tools/call` leaves.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, InputRequiredResult,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};
use serde::Serialize;

use super::BridgeServer;
use super::render::Render;
use crate::atlassian::{ApiError, CallTrace};
use crate::audit::{ClientInfo, Entry, Outcome};
use crate::catalog;
use crate::policy::Refusal;

/// How long a cancelled write may take to wind down (finish requests already in flight).
const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A result with no content, for calls that can only fail (policy denials before a tool runs).
#[derive(Debug, Serialize)]
pub struct Nothing {}

impl Render for Nothing {
    fn render(&self) -> String {
        String::new()
    }
}

/// Per-call context handed to every tool through rmcp's request extensions.
#[derive(Debug)]
pub struct CallCx {
    /// Upstream requests and retry budget.
    pub trace: CallTrace,
    touched: Mutex<Vec<String>>,
    outcome: Mutex<Option<(Outcome, String)>>,
    /// The id this call's audit record will have (chosen now, so a queued write can name it).
    record_id: String,
    /// The answer came from the local cache, or the write was queued (SPEC §10).
    offline: std::sync::atomic::AtomicBool,
}

impl Default for CallCx {
    fn default() -> Self {
        Self {
            trace: CallTrace::default(),
            touched: Mutex::default(),
            outcome: Mutex::default(),
            record_id: uuid::Uuid::new_v4().to_string(),
            offline: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl CallCx {
    /// The id of the audit record this call will leave.
    pub fn record_id(&self) -> &str {
        &self.record_id
    }

    /// Marks the call as answered from the local cache (or queued): its audit record says
    /// `offline: true`.
    pub fn mark_offline(&self) {
        self.offline
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// True once [`CallCx::mark_offline`] was called.
    pub fn is_offline(&self) -> bool {
        self.offline.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records keys / ids a call read or changed.
    pub fn touch(&self, keys: impl IntoIterator<Item = String>) {
        if let Ok(mut t) = self.touched.lock() {
            t.extend(keys);
        }
    }

    /// Turns a tool's result into the MCP result, remembering the outcome for the audit.
    pub fn finish<T: Serialize + Render>(&self, result: Result<T, ToolError>) -> CallToolResponse {
        match result {
            Ok(out) => {
                let text = out.render();
                let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
                match serde_json::to_value(&out) {
                    Ok(v) => r.structured_content = Some(v),
                    Err(e) => {
                        return self.finish::<Nothing>(Err(ToolError::Invalid(format!(
                            "internal error: result could not be serialized ({e})"
                        ))));
                    }
                }
                r.into()
            }
            Err(ToolError::NeedsInput(asks)) => CallToolResponse::InputRequired(*asks),
            Err(e) => {
                let outcome = match &e {
                    ToolError::Denied(_) => Outcome::Denied,
                    _ => Outcome::Error,
                };
                let message = e.message();
                if let Ok(mut o) = self.outcome.lock() {
                    *o = Some((outcome, message.clone()));
                }
                CallToolResult::error(vec![ContentBlock::text(message)]).into()
            }
        }
    }

    /// What the call touched and how it ended, for its audit record; drains the touched keys
    /// (called once, when the call is done).
    pub(crate) fn take(&self) -> (Vec<String>, Option<(Outcome, String)>) {
        // Each key once, in the order first touched (a bulk call touches keys as chunks land
        // and again in its final result).
        let all: Vec<String> = self
            .touched
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        let keep: Vec<bool> = {
            let mut seen = std::collections::HashSet::with_capacity(all.len());
            all.iter().map(|k| seen.insert(k.as_str())).collect()
        };
        let touched = all
            .into_iter()
            .zip(keep)
            .filter_map(|(k, keep)| keep.then_some(k))
            .collect();
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
    /// The named item does not exist, or this account cannot see it.
    NotFound(String),
    /// Atlassian said no, or could not be reached.
    Api(ApiError),
    /// The person must answer first (a confirmation under the 2026-07-28 lifecycle): the
    /// client asks, then calls again with the answer.
    NeedsInput(Box<InputRequiredResult>),
}

impl From<ApiError> for ToolError {
    fn from(e: ApiError) -> Self {
        ToolError::Api(e)
    }
}

impl ToolError {
    /// The message the model reads.
    pub fn message(&self) -> String {
        match self {
            ToolError::Invalid(m) | ToolError::Denied(m) | ToolError::NotFound(m) => m.clone(),
            ToolError::Api(a) => a.user_message(),
            ToolError::NeedsInput(_) => "waiting for the person's answer".to_string(),
        }
    }

    /// Maps Atlassian's 404 for one named item (`ENG-9999`, `page 123`) to a message that
    /// names it once; any other failure passes through.
    pub fn naming(what: &str) -> impl FnOnce(ApiError) -> ToolError + '_ {
        move |e| match e.status() {
            Some(404) => ToolError::NotFound(format!(
                "{what} was not found, or this account cannot see it"
            )),
            _ => ToolError::Api(e),
        }
    }
}

impl From<Refusal> for ToolError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Denied(m) => ToolError::Denied(m),
            Refusal::Invalid(m) => ToolError::Invalid(m),
        }
    }
}

impl BridgeServer {
    /// Runs one `tools/call`: policy, the tool, and exactly one audit record, whatever the
    /// outcome (the result is withheld if the record cannot be written).
    pub(crate) async fn gate(
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
        // Nothing runs when the session's first record could not be written.
        if let Err(message) = self.audit_ready().await {
            return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
        }

        let mut cancelled = false;
        let known = self
            .router()
            .get(&name)
            .and_then(|_| catalog::find(&name))
            .filter(|_| self.own_tools_offered());
        let result: Result<CallToolResponse, McpError> = match known {
            None => Err(McpError::invalid_params(
                format!("unknown tool `{name}`; call tools/list for the tools this server offers"),
                None,
            )),
            Some(tool) => match self.state.policy.admit_tool(tool) {
                Err(reason) => Ok(cx.finish::<Nothing>(Err(ToolError::Denied(reason)))),
                Ok(()) => {
                    context.extensions.insert(cx.clone());
                    let call = self
                        .router()
                        .call(ToolCallContext::new(self, request, context));
                    let complete = |r: Result<CallToolResponse, McpError>| {
                        r.and_then(|resp| match resp {
                            CallToolResponse::Complete(r) => Ok(improve_argument_error(r).into()),
                            CallToolResponse::InputRequired(r) => Ok(r.into()),
                            _ => Err(McpError::internal_error(
                                "unexpected tool response kind",
                                None,
                            )),
                        })
                    };
                    tokio::pin!(call);
                    tokio::select! {
                        r = &mut call => complete(r),
                        () = ct.cancelled() => {
                            cancelled = true;
                            // Write tools watch the token, stop sending, and finish what is in
                            // flight (so its outcome is journaled and audited): give them a
                            // moment. Reads stop at once.
                            let grace = match tool.access {
                                catalog::Access::Write => CANCEL_GRACE,
                                catalog::Access::Read => std::time::Duration::ZERO,
                            };
                            match tokio::time::timeout(grace, &mut call).await {
                                Ok(r) => complete(r),
                                Err(_) => Ok(CallToolResult::error(vec![ContentBlock::text("cancelled by the client")]).into()),
                            }
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
                (Ok(CallToolResponse::Complete(r)), None) if r.is_error == Some(true) => {
                    (Outcome::Error, Some(first_text(r)))
                }
                (Ok(_), None) => (Outcome::Ok, None),
                (Err(e), None) => (Outcome::Error, Some(e.message.to_string())),
            }
        };
        let result_bytes = match &result {
            Ok(CallToolResponse::Complete(r)) => json_len(r),
            Ok(CallToolResponse::InputRequired(r)) => json_len(r),
            _ => 0,
        };
        let upstream = cx.trace.upstream();
        // The site answered (any HTTP status): writes queued while it was out of reach go now.
        let reached_site = upstream.iter().any(|u| u.status != 0);
        let entry = Entry {
            event: "tool_call".to_string(),
            client,
            actor,
            tool: Some(name),
            args,
            outcome,
            error,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            upstream,
            touched,
            result_bytes,
            id: Some(cx.record_id().to_string()),
            offline: cx.is_offline(),
            origin: None,
        };
        if let Err(message) = self.audit(entry).await {
            return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
        }
        let mut result = result;
        if reached_site {
            self.send_outbox_in_background();
        }
        // A queued write the site refused is told once, with the next result. (Reading the
        // outbox is file work: off the runtime, and only when there is an outbox at all.)
        if self.state().outbox_dir.exists() {
            let server = self.clone();
            let note = tokio::task::spawn_blocking(move || server.outbox_failures_note())
                .await
                .ok()
                .flatten();
            if let Some(note) = note
                && let Ok(CallToolResponse::Complete(r)) = &mut result
            {
                r.content.push(ContentBlock::text(note));
            }
        }
        result
    }

    /// Runs a request other than `tools/call` that reads from Atlassian (`resources/read`,
    /// `resources/list`, `completion/complete`) under the same rules as a tool call: it gets a
    /// [`CallCx`], and leaves exactly one audit record (event `event`) whatever the outcome.
    /// Refusals and failures become JSON-RPC errors: these requests have no `isError` result.
    pub(crate) async fn audited<T, Fut>(
        &self,
        event: &str,
        args: serde_json::Value,
        context: &RequestContext<RoleServer>,
        run: impl FnOnce(Arc<CallCx>) -> Fut,
    ) -> Result<T, McpError>
    where
        T: Serialize,
        Fut: std::future::Future<Output = Result<T, ToolError>>,
    {
        let started = Instant::now();
        if let Err(message) = self.audit_ready().await {
            return Err(McpError::internal_error(message, None));
        }
        let cx = Arc::new(CallCx::default());
        let result = run(cx.clone()).await;
        let (touched, _) = cx.take();
        let (outcome, error, result_bytes) = match &result {
            Ok(v) => (Outcome::Ok, None, json_len(v)),
            Err(e @ ToolError::Denied(_)) => (Outcome::Denied, Some(e.message()), 0),
            Err(e) => (Outcome::Error, Some(e.message()), 0),
        };
        let entry = Entry {
            event: event.to_string(),
            client: Self::client_info(context),
            actor: self.state.actor.read().ok().map(|a| a.clone()),
            tool: None,
            args: Some(args),
            outcome,
            error,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            upstream: cx.trace.upstream(),
            touched,
            result_bytes,
            id: Some(cx.record_id().to_string()),
            offline: cx.is_offline(),
            origin: None,
        };
        self.audit(entry)
            .await
            .map_err(|m| McpError::internal_error(m, None))?;
        result.map_err(|e| match e {
            ToolError::NotFound(m) => McpError::resource_not_found(m, None),
            ToolError::Invalid(m) | ToolError::Denied(m) => McpError::invalid_params(m, None),
            // Atlassian refusing what was asked for (a 400: an id it cannot parse) is the
            // caller's to fix, like invalid arguments.
            ToolError::Api(a) if a.status() == Some(400) => {
                McpError::invalid_params(a.user_message(), None)
            }
            other => McpError::internal_error(other.message(), None),
        })
    }

    pub(crate) fn client_info(context: &RequestContext<RoleServer>) -> Option<ClientInfo> {
        context.client_info().map(|i| ClientInfo {
            name: i.name,
            version: i.version,
        })
    }

    /// Whether calls may run: not when the session's first audit record could not be written
    /// (then no record of theirs could follow it).
    pub(crate) async fn audit_ready(&self) -> Result<(), String> {
        self.state.audit.ready().await.map_err(|e| {
            format!("the audit log could not be written ({e}); nothing is run unrecorded")
        })
    }

    pub(crate) async fn audit(&self, entry: Entry) -> Result<(), String> {
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

/// The length of `value` as JSON, counted as it is written out (no buffer of the whole text).
pub(crate) fn json_len(value: &impl Serialize) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => 0,
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
