//! The sandbox's imitation of Atlassian's hosted MCP server ("Rovo MCP") and its
//! authorization server, so the bridge's upstream mode (SPEC §11) runs end to end on loopback:
//! the MCP endpoint `/v1/mcp` (Streamable HTTP, rmcp's server transport, bearer tokens only),
//! path-aware discovery (RFC 9728 protected-resource and RFC 8414 authorization-server
//! metadata; the root documents answer 404 as Atlassian's do), and the `/auth/…` endpoints.
//! The URLs, switches and tool shapes are listed in the module documentation of `sandbox`.
//!
//! - this file: paths, discovery documents, the bearer check in front of rmcp, controls;
//! - `state`: clients, codes, token families, switches and counters ([`UpstreamSwitches`]);
//! - `auth`: registration, authorize, token and revocation;
//! - `tools`: the MCP tools, answered from the sandbox's own Jira and Confluence data.

mod auth;
#[cfg(test)]
mod mcp_tests;
mod state;
#[cfg(test)]
mod test_client;
#[cfg(test)]
mod tests;
mod tools;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub use self::state::{
    UpstreamCall, UpstreamCounters, UpstreamGrant, UpstreamSettings, UpstreamSwitches,
};
use super::faults::{self, FaultAction, apply_fault};
use super::wire::{Family, Reply};
use super::{MAX_BODY_BYTES, Shared, lock, net};

/// The scopes the upstream advertises and grants (all of them when a client names none).
pub const UPSTREAM_SCOPES: [&str; 4] = [
    "read:jira-work",
    "write:jira-work",
    "read:confluence-content.all",
    "offline_access",
];
pub(super) use UPSTREAM_SCOPES as SCOPES;

/// The path of the MCP endpoint.
pub const UPSTREAM_MCP_PATH: &str = "/v1/mcp";
/// The path of the issuer (the authorization server is path-scoped, like Atlassian's
/// `https://auth.atlassian.com/<tenant-id>`).
pub const UPSTREAM_ISSUER_PATH: &str = "/auth/tenant-1";

const PRM_PATH: &str = "/.well-known/oauth-protected-resource/v1/mcp";
const ASM_PATH: &str = "/.well-known/oauth-authorization-server/auth/tenant-1";

/// The upstream's share of the sandbox state: the switches, rmcp's sessions, and the token
/// that ends every session when the sandbox stops.
#[derive(Default)]
pub(super) struct Upstream {
    pub(super) switches: UpstreamSwitches,
    sessions: Arc<LocalSessionManager>,
    stop: CancellationToken,
}

impl Upstream {
    /// Ends every MCP session and open SSE stream (the sandbox is stopping).
    pub(super) fn stop(&self) {
        self.stop.cancel();
    }
}

/// The upstream's absolute URLs on this sandbox.
pub(super) struct Urls {
    base: String,
}

impl Urls {
    pub(super) fn new(addr: std::net::SocketAddr) -> Self {
        Self {
            base: format!("http://{addr}"),
        }
    }

    /// `<base>/v1/mcp`, also the `resource` value.
    pub(super) fn mcp(&self) -> String {
        format!("{}{UPSTREAM_MCP_PATH}", self.base)
    }

    /// `<base>/auth/tenant-1`.
    pub(super) fn issuer(&self) -> String {
        format!("{}{UPSTREAM_ISSUER_PATH}", self.base)
    }

    fn prm(&self) -> String {
        format!("{}{PRM_PATH}", self.base)
    }

    fn auth(&self, path: &str) -> String {
        format!("{}/auth/{path}", self.base)
    }
}

/// Whether a request belongs to the upstream server (its MCP endpoint, discovery documents
/// or authorization server).
pub(super) fn is_upstream_path(path: &str) -> bool {
    path == UPSTREAM_MCP_PATH
        || path == "/v1/mcp/"
        || path == "/auth"
        || path.starts_with("/auth/")
        || path.starts_with("/.well-known/")
}

/// Answers an upstream request: faults first (like the site), then the endpoint; logs it.
pub(super) async fn serve(shared: &Arc<Shared>, req: Request, arrived: Duration) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let conn = req
        .extensions()
        .get::<ConnectInfo<net::ConnHandle>>()
        .map(|c| c.0.clone());
    let fault = shared.faults.take(method.as_str(), &[path.as_str()]);
    let dropped = match apply_fault(fault, Family::Jira).await {
        FaultAction::Answer(reply) => {
            shared.log(&method, path, query, reply.status, arrived);
            return reply.into_response();
        }
        FaultAction::Huge(bytes) => {
            shared.log(&method, path, query, 200, arrived);
            return faults::huge_answer(bytes);
        }
        FaultAction::Drop => true,
        FaultAction::Serve | FaultAction::Inflate(_) => false,
    };
    let response = answer(shared, req).await;
    let status = if dropped {
        0
    } else {
        response.status().as_u16()
    };
    shared.log(&method, path, query, status, arrived);
    if dropped && let Some(conn) = conn {
        conn.drop_connection();
    }
    response
}

async fn answer(shared: &Arc<Shared>, req: Request) -> Response {
    let urls = Urls::new(shared.addr);
    let sw = &shared.upstream.switches;
    let path = req.uri().path().to_string();
    let get = *req.method() == Method::GET;
    let post = *req.method() == Method::POST;
    let reply = match path.as_str() {
        UPSTREAM_MCP_PATH | "/v1/mcp/" => return mcp(shared, &urls, req).await,
        PRM_PATH if get => Reply::ok(json!({
            "resource": urls.mcp(),
            "authorization_servers": [urls.issuer()],
            "scopes_supported": SCOPES,
            "bearer_methods_supported": ["header"],
        })),
        ASM_PATH if get => Reply::ok(json!({
            "issuer": urls.issuer(),
            "authorization_endpoint": urls.auth("authorize"),
            "token_endpoint": urls.auth("oauth/token"),
            "registration_endpoint": urls.auth("dcr/register"),
            "revocation_endpoint": urls.auth("oauth/revoke"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_post"],
            "scopes_supported": SCOPES,
            "authorization_response_iss_parameter_supported": true,
        })),
        "/auth/authorize" if get => auth::authorize(sw, &urls, req.uri().query()),
        "/auth/dcr/register" | "/auth/oauth/token" | "/auth/oauth/revoke" if post => {
            let headers = req.headers().clone();
            let Ok(body) = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await else {
                return Reply::json(413, json!({"error": "invalid_request", "error_description": "The request body is too large."})).into_response();
            };
            match path.as_str() {
                "/auth/dcr/register" => auth::register(sw, &body),
                "/auth/oauth/token" => auth::token(sw, &urls, &headers, &body),
                _ => auth::revoke(sw, &body),
            }
        }
        PRM_PATH | ASM_PATH | "/auth/authorize" | "/auth/dcr/register" | "/auth/oauth/token"
        | "/auth/oauth/revoke" => Reply::json(405, json!({"error": "method_not_allowed"})),
        _ => Reply::json(
            404,
            json!({"error": "not_found", "error_description": "Not Found"}),
        ),
    };
    reply.into_response()
}

/// The bearer token of a request, if it carries one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    Some(token.trim()).filter(|t| scheme.eq_ignore_ascii_case("bearer") && !t.is_empty())
}

/// `/v1/mcp`: the bearer check with RFC 9728's challenge, then rmcp's Streamable HTTP
/// service (sessions shared across requests through one session manager).
async fn mcp(shared: &Arc<Shared>, urls: &Urls, req: Request) -> Response {
    let challenge = format!("Bearer resource_metadata=\"{}\"", urls.prm());
    let valid = bearer(req.headers())
        .map(|t| lock(&shared.upstream.switches.state).bearer_ok(t, Instant::now()));
    match valid {
        None => {
            return Reply::json(
                401,
                json!({"error": "invalid_request", "error_description": "Missing access token"}),
            )
            .header("WWW-Authenticate", &challenge)
            .into_response();
        }
        Some(false) => {
            return Reply::json(
                401,
                json!({"error": "invalid_token", "error_description": "Invalid, expired or revoked access token"}),
            )
            .header(
                "WWW-Authenticate",
                &format!("{challenge}, error=\"invalid_token\", error_description=\"The access token is invalid or expired\""),
            )
            .into_response();
        }
        Some(true) => {}
    }
    let up = &shared.upstream;
    let config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_cancellation_token(up.stop.child_token());
    let weak = Arc::downgrade(shared);
    let service = StreamableHttpService::new(
        move || Ok(tools::RovoServer::new(weak.clone())),
        Arc::clone(&up.sessions),
        config,
    );
    service.handle(req).await.map(Body::new)
}

/// `POST /__sandbox/upstream` body.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlBody {
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    consent: Option<bool>,
    #[serde(default)]
    wrong_iss: Option<bool>,
    #[serde(default)]
    callback_hosts: Option<Vec<String>>,
    #[serde(default)]
    forget_clients: bool,
    #[serde(default)]
    extra_tool: Option<bool>,
    #[serde(default)]
    tool_delay_ms: Option<u64>,
    #[serde(default)]
    revoke_all: bool,
}

/// `GET /__sandbox/upstream`: counters, calls and settings.
pub(super) fn control_status(sw: &UpstreamSwitches) -> Reply {
    let c = sw.counters();
    let s = sw.settings();
    let calls: Vec<_> = c
        .calls
        .iter()
        .map(|call| json!({"name": call.name, "arguments": call.arguments}))
        .collect();
    Reply::ok(json!({
        "registrations": c.registrations,
        "authorizations": c.authorizations,
        "code_exchanges": c.code_exchanges,
        "refreshes": c.refreshes,
        "families_revoked": c.families_revoked,
        "revocations": c.revocations,
        "cancelled": c.cancelled,
        "clients": c.clients,
        "sessions": c.sessions,
        "tool_calls": c.tool_calls,
        "calls": calls,
        "expires_in": s.expires_in,
        "consent": s.consent,
        "wrong_iss": s.wrong_iss,
        "callback_hosts": s.callback_hosts,
        "extra_tool": s.extra_tool,
        "tool_delay_ms": u64::try_from(s.tool_delay.as_millis()).unwrap_or(u64::MAX),
    }))
}

/// `POST /__sandbox/upstream`: flips the switches named in the body, then answers as GET.
pub(super) fn control_apply(sw: &UpstreamSwitches, body: &[u8]) -> Reply {
    let b = match serde_json::from_slice::<ControlBody>(body) {
        Ok(b) => b,
        Err(e) => {
            return Reply::json(
                400,
                json!({"error": format!("invalid upstream settings: {e}")}),
            );
        }
    };
    if b.expires_in.is_some_and(|s| s > super::oauth::MAX_SECS)
        || b.tool_delay_ms.is_some_and(|ms| ms > 600_000)
    {
        return Reply::json(
            400,
            json!({"error": "invalid upstream settings: expires_in must be at most ten years and tool_delay_ms at most 600000"}),
        );
    }
    if let Some(s) = b.expires_in {
        sw.set_expires_in(s);
    }
    if let Some(c) = b.consent {
        sw.set_consent(c);
    }
    if let Some(w) = b.wrong_iss {
        sw.set_wrong_iss(w);
    }
    if let Some(hosts) = b.callback_hosts {
        sw.set_callback_hosts(hosts);
    }
    if b.forget_clients {
        sw.forget_clients();
    }
    if b.revoke_all {
        sw.revoke_all();
    }
    if let Some(ms) = b.tool_delay_ms {
        sw.set_tool_delay(Duration::from_millis(ms));
    }
    if let Some(on) = b.extra_tool {
        sw.set_extra_tool(on);
    }
    control_status(sw)
}
