//! The requests the server is running right now, so that stopping can let them finish, cancel
//! the rest through rmcp's own per-request cancellation, and make sure every `tools/call` still
//! leaves its audit record.
//!
//! [`Tracked`] wraps the server as rmcp sees it (any [`Service`]), registering each request for
//! exactly as long as its handler runs; the gate in `mcp/call.rs` writes the audit record
//! before the handler returns, so "no longer registered" means "recorded".

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rmcp::model::{ClientNotification, ClientRequest, ProtocolVersion, ServerConfig, ServerResult};
use rmcp::service::{NotificationContext, RequestContext, Service};
use rmcp::{ErrorData, RoleServer};
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::audit::{ClientInfo, Entry, Outcome};
use crate::mcp::BridgeServer;

/// The registry of running requests; cheap to clone (clones share it).
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    inner: Arc<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    running: Mutex<HashMap<u64, Running>>,
    next: AtomicU64,
    changed: Notify,
}

/// One running request.
#[derive(Debug, Clone)]
pub struct Running {
    /// The JSON-RPC id.
    pub id: rmcp::model::RequestId,
    /// The request's cancellation token: the one rmcp cancels for `notifications/cancelled`.
    ct: CancellationToken,
    /// Set for `tools/call`.
    pub call: Option<ToolCall>,
    /// The client, as the gate would record it.
    pub client: Option<ClientInfo>,
    /// When the handler started.
    pub started: Instant,
}

/// What a running `tools/call` asked for.
#[derive(Debug, Clone)]
pub struct ToolCall {
    /// The tool.
    pub name: String,
    /// The arguments as received.
    pub args: Option<Value>,
}

/// Unregisters a request when its handler ends (or is dropped).
struct Registered {
    registry: Arc<Registry>,
    key: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        lock(&self.registry.running).remove(&self.key);
        self.registry.changed.notify_waiters();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl InFlight {
    fn register(&self, running: Running) -> Registered {
        let key = self.inner.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.running).insert(key, running);
        Registered {
            registry: Arc::clone(&self.inner),
            key,
        }
    }

    /// How many requests are running.
    pub fn len(&self) -> usize {
        lock(&self.inner.running).len()
    }

    /// True when nothing is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until nothing is running, at most `limit`; true when that happened.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.is_empty() {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.is_empty();
            }
        }
    }

    /// Cancels every running request the way a client's `notifications/cancelled` would (the
    /// gate then records the call as `cancelled`); returns how many.
    pub fn cancel_all(&self) -> usize {
        let running = lock(&self.inner.running);
        for r in running.values() {
            r.ct.cancel();
        }
        running.len()
    }

    /// The `tools/call` requests still running, oldest first.
    pub fn running_calls(&self) -> Vec<Running> {
        let mut calls: Vec<(u64, Running)> = lock(&self.inner.running)
            .iter()
            .filter(|(_, r)| r.call.is_some())
            .map(|(k, r)| (*k, r.clone()))
            .collect();
        calls.sort_by_key(|(k, _)| *k);
        calls.into_iter().map(|(_, r)| r).collect()
    }
}

/// Writes a `cancelled` record for each call that is still running when the server must stop
/// without it (its handler did not finish even after cancellation): the last resort that keeps
/// "every call leaves a record" true.
pub async fn record_unfinished(server: &BridgeServer, calls: Vec<Running>) {
    let state = server.state();
    for running in calls {
        let Some(call) = running.call else { continue };
        tracing::warn!(tool = %call.name, id = %running.id, "call still running at exit; recording it as cancelled");
        let entry = Entry {
            client: running.client,
            actor: state.actor.read().ok().map(|a| a.clone()),
            tool: Some(call.name),
            args: call.args,
            outcome: Outcome::Cancelled,
            error: Some("the server stopped before the call finished".to_string()),
            duration_ms: running.started.elapsed().as_secs_f64() * 1000.0,
            ..Entry::event("tool_call")
        };
        if let Err(e) = state.audit.append(entry).await {
            tracing::error!(error = %e, "audit record could not be written");
        }
    }
}

/// A server whose requests are registered in an [`InFlight`] while they run.
#[derive(Debug)]
pub struct Tracked<S> {
    inner: S,
    inflight: InFlight,
}

impl<S> Tracked<S> {
    /// Wraps `inner`; its requests are registered in `inflight`.
    pub fn new(inner: S, inflight: InFlight) -> Self {
        Self { inner, inflight }
    }
}

impl<S: Service<RoleServer>> Service<RoleServer> for Tracked<S> {
    async fn handle_request(
        &self,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let call = match &request {
            ClientRequest::CallToolRequest(r) => Some(ToolCall {
                name: r.params.name.to_string(),
                args: r.params.arguments.clone().map(Value::Object),
            }),
            _ => None,
        };
        let _registered = self.inflight.register(Running {
            id: context.id.clone(),
            ct: context.ct.clone(),
            call,
            client: context.client_info().map(|i| ClientInfo {
                name: i.name,
                version: i.version,
            }),
            started: Instant::now(),
        });
        self.inner.handle_request(request, context).await
    }

    async fn handle_notification(
        &self,
        notification: ClientNotification,
        context: NotificationContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.inner.handle_notification(notification, context).await
    }

    fn get_info(&self) -> ServerConfig {
        self.inner.get_info()
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }
}
