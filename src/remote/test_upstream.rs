//! A real upstream MCP server for the tests: rmcp's Streamable HTTP server in axum on
//! 127.0.0.1, behind a bearer check, with a few tools that exercise what the client forwards.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler};
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use url::Url;

/// What the upstream saw and how it behaves; shared by the test and the server.
pub(super) struct UpstreamState {
    /// Every HTTP request that reached the bearer check.
    pub requests: AtomicUsize,
    /// The only bearer token accepted.
    pub token: Mutex<String>,
    /// Which server instance answers (restart tests start a second one).
    pub generation: u32,
    /// Set once `wait` saw its request cancelled.
    pub cancelled: AtomicBool,
    /// Signalled when `wait` starts and when it sees the cancellation.
    pub wait_events: Notify,
    /// Whether the `extra` tool is offered (set by the `add_tool` tool).
    pub extra: AtomicBool,
    /// The `_meta` of every `tools/call`, as JSON.
    pub call_metas: Mutex<Vec<serde_json::Value>>,
    /// How many `tools/list` requests were answered.
    pub lists: AtomicUsize,
}

impl UpstreamState {
    pub(super) fn new(token: &str, generation: u32) -> Arc<Self> {
        Arc::new(Self {
            requests: AtomicUsize::new(0),
            token: Mutex::new(token.to_string()),
            generation,
            cancelled: AtomicBool::new(false),
            wait_events: Notify::new(),
            extra: AtomicBool::new(false),
            call_metas: Mutex::new(Vec::new()),
            lists: AtomicUsize::new(0),
        })
    }

    pub(super) fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// A running upstream.
pub(super) struct Upstream {
    pub url: Url,
    pub addr: SocketAddr,
    pub state: Arc<UpstreamState>,
    sessions: Arc<LocalSessionManager>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// Starts an upstream on a free loopback port.
    pub(super) async fn start(state: Arc<UpstreamState>) -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, state)
    }

    /// Starts an upstream on `addr` (a port a stopped upstream used).
    pub(super) async fn start_at(addr: SocketAddr, state: Arc<UpstreamState>) -> Upstream {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        Self::serve(listener, state)
    }

    fn serve(listener: tokio::net::TcpListener, state: Arc<UpstreamState>) -> Upstream {
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let for_factory = Arc::clone(&state);
        let sessions = Arc::new(LocalSessionManager::default());
        let mcp = StreamableHttpService::new(
            move || {
                Ok(TestServer {
                    state: Arc::clone(&for_factory),
                })
            },
            Arc::clone(&sessions),
            StreamableHttpServerConfig::default().with_cancellation_token(stop.child_token()),
        );
        let app = axum::Router::new().route_service("/mcp", mcp).layer(
            axum::middleware::from_fn_with_state(Arc::clone(&state), check_bearer),
        );
        let shutdown = stop.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
                .unwrap();
        });
        Upstream {
            url: Url::parse(&format!("http://{addr}/mcp")).unwrap(),
            addr,
            state,
            sessions,
            stop,
            task,
        }
    }

    /// How many MCP sessions are open.
    pub(super) async fn sessions(&self) -> usize {
        self.sessions.sessions.read().await.len()
    }

    /// Ends every session and connection, then returns once the port is free.
    pub(super) async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

/// 401 with a `WWW-Authenticate` challenge unless the request carries the accepted token.
async fn check_bearer(
    State(state): State<Arc<UpstreamState>>,
    request: Request,
    next: Next,
) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let expected = format!("Bearer {}", state.token.lock().unwrap());
    let given = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given != Some(expected.as_str()) {
        return (
            http::StatusCode::UNAUTHORIZED,
            [(
                http::header::WWW_AUTHENTICATE,
                "Bearer resource_metadata=\"http://127.0.0.1/.well-known/oauth-protected-resource\"",
            )],
        )
            .into_response();
    }
    next.run(request).await
}

#[derive(Clone)]
struct TestServer {
    state: Arc<UpstreamState>,
}

fn tool(name: &'static str) -> Tool {
    let schema = json!({"type": "object", "properties": {}});
    let serde_json::Value::Object(schema) = schema else {
        unreachable!()
    };
    Tool::new(name, format!("test tool {name}"), Arc::new(schema))
}

impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("test-upstream", "1.0.0"))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.state.lists.fetch_add(1, Ordering::SeqCst);
        let mut tools: Vec<Tool> = ["echo", "fail", "progress", "wait", "add_tool"]
            .into_iter()
            .map(tool)
            .collect();
        if self.state.extra.load(Ordering::SeqCst) {
            tools.push(tool("extra"));
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let meta = serde_json::to_value(&context.meta).unwrap();
        self.state.call_metas.lock().unwrap().push(meta);
        let result = match request.name.as_ref() {
            "echo" => CallToolResult::structured(json!({
                "echo": request.arguments,
                "generation": self.state.generation,
            })),
            "fail" => CallToolResult::error(vec![ContentBlock::text("the tool failed")]),
            "progress" => {
                let Some(token) = context.meta.get_progress_token() else {
                    return Ok(CallToolResult::error(vec![ContentBlock::text(
                        "no progress token",
                    )])
                    .into());
                };
                for step in 1..=3 {
                    let note = ProgressNotificationParam::new(token.clone(), f64::from(step))
                        .with_total(3.0);
                    context.peer.notify_progress(note).await.unwrap();
                }
                CallToolResult::success(vec![ContentBlock::text("done")])
            }
            "wait" => {
                self.state.wait_events.notify_one();
                context.ct.cancelled().await;
                self.state.cancelled.store(true, Ordering::SeqCst);
                self.state.wait_events.notify_one();
                CallToolResult::error(vec![ContentBlock::text("cancelled")])
            }
            "add_tool" => {
                self.state.extra.store(true, Ordering::SeqCst);
                context.peer.notify_tool_list_changed().await.unwrap();
                CallToolResult::success(vec![ContentBlock::text("added")])
            }
            "boom" => return Err(ErrorData::invalid_params("no such argument", None)),
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool {other}"),
                    None,
                ));
            }
        };
        Ok(result.into())
    }
}
