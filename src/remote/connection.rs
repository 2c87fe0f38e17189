//! [`Remote`]: one upstream MCP server, connected on first use (single-flight), its tool list
//! cached until the upstream says it changed, calls forwarded with progress, cancellation and
//! a timeout, and a dead connection replaced once, transparently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
    ClientCapabilities, ClientConfig, ClientRequest, Implementation, JsonObject, RequestId,
    RequestMetaObject, ServerResult, Tool,
};
use rmcp::service::{
    ClientInitializeError, NotificationContext, Peer, PeerRequestOptions, RoleClient,
    RunningService, ServiceError,
};
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransport, StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::{ClientHandler, ServiceExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::http::{HttpFailure, MAX_SSE_EVENT, UpstreamHttp};
use super::progress::{ROUTE_KEY, Routes};
use super::{BearerSource, DEFAULT_CALL_TIMEOUT, ProgressSink, RemoteError};

/// How long `close` waits for the session to be deleted.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// State shared by a [`Remote`], its HTTP client and its rmcp handler.
pub(super) struct Shared {
    pub(super) routes: Arc<Routes>,
    /// Bumped when the upstream's tool list may have changed; the tool cache is tagged with it.
    changes: watch::Sender<u64>,
    /// Sessions opened so far (the first one does not count as a change).
    sessions: AtomicU64,
}

impl Shared {
    fn bump(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// A session was opened: after the first, the upstream may have restarted with other tools.
    pub(super) fn session_opened(&self) {
        if self.sessions.fetch_add(1, Ordering::SeqCst) > 0 {
            self.bump();
        }
    }
}

/// rmcp's view of us: a plain client that follows `notifications/tools/list_changed`.
#[derive(Clone)]
struct Handler {
    shared: Arc<Shared>,
}

impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("atlassian-mcp-bridge", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.shared.bump();
    }
}

/// One open MCP session with the upstream.
struct Conn {
    peer: Peer<RoleClient>,
    service: tokio::sync::Mutex<Option<RunningService<RoleClient, Handler>>>,
}

impl Conn {
    fn is_closed(&self) -> bool {
        self.peer.is_transport_closed()
    }

    async fn close(&self) {
        if let Some(mut service) = self.service.lock().await.take() {
            // Best effort: the worker deletes the session on its way out.
            let _ = service.close_with_timeout(CLOSE_WAIT).await;
        }
    }
}

struct Inner {
    url: Url,
    tokens: Arc<dyn BearerSource>,
    shared: Arc<Shared>,
    conn: tokio::sync::Mutex<Option<Arc<Conn>>>,
    /// The tool list and the change count it was listed at.
    tools: Mutex<Option<(u64, Arc<Vec<Tool>>)>>,
    listing: tokio::sync::Mutex<()>,
}

/// An upstream MCP server reached over Streamable HTTP. Cheap to clone; clones share one
/// connection, one tool cache and one change counter.
#[derive(Clone)]
pub struct Remote {
    inner: Arc<Inner>,
    call_timeout: Duration,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.inner.url.as_str())
            .finish_non_exhaustive()
    }
}

/// Cancels an upstream request when the call stops waiting for it (cancelled, or its future
/// dropped), so the upstream gets `notifications/cancelled`.
struct CancelOnDrop {
    peer: Peer<RoleClient>,
    id: Option<RequestId>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        let peer = self.peer.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let reason = Some("cancelled by the client".to_string());
                let _ = peer
                    .notify_cancelled(CancelledNotificationParam::new(Some(id), reason))
                    .await;
            });
        }
    }
}

impl Remote {
    /// A handle for the upstream at `url`, signing each request with a token from `tokens`.
    /// Nothing is sent until the first [`Remote::tools`] or [`Remote::call`].
    pub fn new(url: Url, tokens: Arc<dyn BearerSource>) -> Remote {
        let (changes, _) = watch::channel(0);
        Remote {
            inner: Arc::new(Inner {
                url,
                tokens,
                shared: Arc::new(Shared {
                    routes: Arc::new(Routes::default()),
                    changes,
                    sessions: AtomicU64::new(0),
                }),
                conn: tokio::sync::Mutex::new(None),
                tools: Mutex::new(None),
                listing: tokio::sync::Mutex::new(()),
            }),
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }

    /// The same upstream with another limit on each call and listing (default
    /// [`DEFAULT_CALL_TIMEOUT`]).
    pub fn with_call_timeout(mut self, timeout: Duration) -> Remote {
        self.call_timeout = timeout;
        self
    }

    /// The upstream's URL.
    pub fn url(&self) -> &Url {
        &self.inner.url
    }

    /// A counter that goes up each time the upstream's tool list may have changed: it sent
    /// `notifications/tools/list_changed`, or a new session had to be opened (it restarted).
    /// The server side watches it to tell its own client.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.shared.changes.subscribe()
    }

    /// All the upstream's tools (every page), listed once and cached until [`Remote::changes`]
    /// moves. Connects on first use.
    pub async fn tools(&self) -> Result<Arc<Vec<Tool>>, RemoteError> {
        if let Some(tools) = self.cached_tools() {
            return Ok(tools);
        }
        let _listing = self.inner.listing.lock().await;
        if let Some(tools) = self.cached_tools() {
            return Ok(tools);
        }
        let mut retried = false;
        loop {
            let stamp = *self.inner.shared.changes.borrow();
            let conn = self.connection().await?;
            let listed = tokio::time::timeout(self.call_timeout, conn.peer.list_all_tools()).await;
            let error = match listed {
                Ok(Ok(tools)) => {
                    let tools = Arc::new(tools);
                    *self.lock_tools() = Some((stamp, Arc::clone(&tools)));
                    return Ok(tools);
                }
                Ok(Err(e)) => e,
                Err(_) => return Err(RemoteError::Timeout(self.call_timeout)),
            };
            // Listing is safe to repeat: on a connection that died, try once on a new one.
            if !retried && (conn.is_closed() || matches!(error, ServiceError::TransportClosed)) {
                retried = true;
                self.discard(&conn).await;
                continue;
            }
            return Err(self.service_error(error));
        }
    }

    /// Calls the upstream tool `name`. Progress notifications go to `progress` when given;
    /// cancelling `ct` cancels the upstream request and returns [`RemoteError::Cancelled`].
    /// A result with `isError: true` is an `Ok`: it is the tool's answer.
    pub async fn call(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        progress: Option<ProgressSink>,
        ct: CancellationToken,
    ) -> Result<CallToolResult, RemoteError> {
        let route = progress.map(|sink| self.inner.shared.routes.register(sink));
        let mut params = CallToolRequestParams::new(name.to_string());
        params.arguments = arguments;
        let mut retried = false;
        loop {
            let conn = tokio::select! {
                biased;
                _ = ct.cancelled() => return Err(RemoteError::Cancelled),
                conn = self.connection() => conn?,
            };
            let mut meta = RequestMetaObject::new();
            if let Some(route) = &route {
                meta.insert(ROUTE_KEY.to_string(), route.key().into());
            }
            let options = PeerRequestOptions::with_timeout(self.call_timeout).with_meta(meta);
            let request = ClientRequest::CallToolRequest(CallToolRequest::new(params.clone()));
            let handle = match conn.peer.send_request_with_option(request, options).await {
                Ok(handle) => handle,
                // Not sent: the connection was already gone, so a new one may carry it.
                Err(ServiceError::TransportClosed) if !retried => {
                    retried = true;
                    self.discard(&conn).await;
                    continue;
                }
                Err(e) => return Err(self.service_error(e)),
            };
            let mut guard = CancelOnDrop {
                peer: conn.peer.clone(),
                id: Some(handle.id.clone()),
            };
            let answer = tokio::select! {
                biased;
                _ = ct.cancelled() => return Err(RemoteError::Cancelled),
                answer = handle.await_response() => answer,
            };
            guard.id = None;
            return match answer {
                Ok(ServerResult::CallToolResult(result)) => Ok(result),
                Ok(_) => Err(RemoteError::Protocol(format!(
                    "the upstream MCP server answered tools/call {name} with something other than a tool result"
                ))),
                Err(ServiceError::TransportClosed) => Err(RemoteError::Unreachable(format!(
                    "the connection to the upstream MCP server at {} closed before it answered; the call may or may not have run",
                    self.inner.url
                ))),
                Err(e) => Err(self.service_error(e)),
            };
        }
    }

    /// Ends the session (the upstream is asked to delete it). Best effort; a later use
    /// connects again.
    pub async fn close(&self) {
        let conn = self.inner.conn.lock().await.take();
        if let Some(conn) = conn {
            conn.close().await;
        }
    }

    fn lock_tools(&self) -> std::sync::MutexGuard<'_, Option<(u64, Arc<Vec<Tool>>)>> {
        self.inner
            .tools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn cached_tools(&self) -> Option<Arc<Vec<Tool>>> {
        let now = *self.inner.shared.changes.borrow();
        match &*self.lock_tools() {
            Some((stamp, tools)) if *stamp == now => Some(Arc::clone(tools)),
            _ => None,
        }
    }

    /// The open connection, or a new one. Callers arriving while one is being opened wait
    /// for it instead of opening their own.
    async fn connection(&self) -> Result<Arc<Conn>, RemoteError> {
        let mut slot = self.inner.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            if !conn.is_closed() {
                return Ok(Arc::clone(conn));
            }
            if let Some(dead) = slot.take() {
                dead.close().await;
            }
        }
        let conn = Arc::new(self.connect().await?);
        *slot = Some(Arc::clone(&conn));
        Ok(conn)
    }

    /// Forgets `conn` if it is still the current connection.
    async fn discard(&self, conn: &Arc<Conn>) {
        let mut slot = self.inner.conn.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            slot.take();
        }
        drop(slot);
        conn.close().await;
    }

    async fn connect(&self) -> Result<Conn, RemoteError> {
        let url: Arc<str> = Arc::from(self.inner.url.as_str());
        let http = UpstreamHttp::new(
            Arc::clone(&url),
            Arc::clone(&self.inner.tokens),
            Arc::clone(&self.inner.shared),
        )?;
        let mut backoff = ExponentialBackoff::default();
        backoff.max_times = Some(8);
        backoff.max_delay = Some(Duration::from_secs(30));
        let mut config = StreamableHttpClientTransportConfig::with_uri(url);
        config.retry_config = Arc::new(backoff);
        config.max_sse_event_size = MAX_SSE_EVENT;
        let transport = StreamableHttpClientTransport::with_client(http, config);
        let handler = Handler {
            shared: Arc::clone(&self.inner.shared),
        };
        let started = tokio::time::timeout(self.call_timeout, handler.serve(transport)).await;
        let service = match started {
            Ok(Ok(service)) => service,
            Ok(Err(e)) => return Err(self.init_error(e)),
            Err(_) => return Err(RemoteError::Timeout(self.call_timeout)),
        };
        Ok(Conn {
            peer: service.peer().clone(),
            service: tokio::sync::Mutex::new(Some(service)),
        })
    }

    fn init_error(&self, e: ClientInitializeError) -> RemoteError {
        match e {
            ClientInitializeError::TransportError { error, .. } => {
                self.transport_error(error.error.as_ref())
            }
            ClientInitializeError::JsonRpcError(e) => RemoteError::Rpc {
                code: e.code.0,
                message: e.message.to_string(),
            },
            ClientInitializeError::ConnectionClosed(_) => RemoteError::Unreachable(format!(
                "the upstream MCP server at {} closed the connection while it was being opened",
                self.inner.url
            )),
            other => RemoteError::Protocol(format!(
                "could not open a session with the upstream MCP server at {}: {other}",
                self.inner.url
            )),
        }
    }

    fn service_error(&self, e: ServiceError) -> RemoteError {
        match e {
            ServiceError::McpError(e) => RemoteError::Rpc {
                code: e.code.0,
                message: e.message.to_string(),
            },
            ServiceError::TransportSend(e) => self.transport_error(e.error.as_ref()),
            ServiceError::TransportClosed => RemoteError::Unreachable(format!(
                "the connection to the upstream MCP server at {} closed",
                self.inner.url
            )),
            ServiceError::Timeout { timeout } => RemoteError::Timeout(timeout),
            ServiceError::Cancelled { .. } => RemoteError::Cancelled,
            other => RemoteError::Protocol(format!("upstream MCP server: {other}")),
        }
    }

    /// Finds our own failure inside an rmcp transport error, or describes rmcp's.
    fn transport_error(&self, e: &(dyn std::error::Error + Send + Sync + 'static)) -> RemoteError {
        let Some(e) = e.downcast_ref::<StreamableHttpError<HttpFailure>>() else {
            return RemoteError::Protocol(format!("upstream MCP server: {e}"));
        };
        let url = &self.inner.url;
        match e {
            StreamableHttpError::Client(HttpFailure(e)) => e.clone(),
            StreamableHttpError::Io(e) => RemoteError::Unreachable(format!(
                "the upstream MCP server at {url} could not be reached ({e})"
            )),
            StreamableHttpError::SessionExpired
            | StreamableHttpError::SessionRecoveryTimeout
            | StreamableHttpError::ReinitializationFailed(_) => RemoteError::Unreachable(format!(
                "the upstream MCP server at {url} ended the session and a new one could not be opened ({e})"
            )),
            StreamableHttpError::HttpStatus(h) => RemoteError::Http {
                status: h.status,
                message: format!(
                    "the upstream MCP server at {url} answered HTTP {}",
                    h.status
                ),
            },
            other => RemoteError::Protocol(format!("the upstream MCP server at {url}: {other}")),
        }
    }
}

#[cfg(test)]
impl Remote {
    /// How many progress routes are registered (they must not outlive their calls).
    pub(super) fn routes_in_use(&self) -> usize {
        self.inner.shared.routes.len()
    }
}
