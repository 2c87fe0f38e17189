//! Discovery against real HTTP servers on 127.0.0.1, and [`Mock`], the table-driven server the
//! registration and upstream sign-in tests use too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method as HttpMethod, Uri};
use serde_json::{Value, json};
use url::Url;

use super::*;

/// One request the mock received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: String,
}

impl Seen {
    /// The body as a form.
    pub fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// What the mock answers.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, v: Value) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: v.to_string(),
        }
    }

    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: vec![],
            body: String::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Responder = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

#[derive(Clone, Default)]
struct MockState {
    routes: Arc<Mutex<HashMap<(String, String), Responder>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// A server on 127.0.0.1: answers per (method, path), 404 otherwise; records every request.
pub(crate) struct Mock {
    pub base: String,
    state: MockState,
}

impl Mock {
    pub async fn start() -> Mock {
        let state = MockState::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Mock { base, state }
    }

    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.base)).unwrap()
    }

    pub fn route(
        &self,
        method: &str,
        path: &str,
        f: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) {
        self.state
            .routes
            .lock()
            .unwrap()
            .insert((method.into(), path.into()), Arc::new(f));
    }

    pub fn json(&self, method: &str, path: &str, status: u16, v: Value) {
        self.route(method, path, move |_| Reply::json(status, v.clone()));
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
}

async fn handle(
    axum::extract::State(state): axum::extract::State<MockState>,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    state.seen.lock().unwrap().push(seen.clone());
    let responder = state
        .routes
        .lock()
        .unwrap()
        .get(&(seen.method.clone(), seen.path.clone()))
        .cloned();
    let reply = responder.map(|f| f(&seen)).unwrap_or(Reply::status(404));
    let mut response = axum::response::Response::new(axum::body::Body::from(reply.body));
    *response.status_mut() = axum::http::StatusCode::from_u16(reply.status).unwrap();
    for (k, v) in reply.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    response
}

/// An MCP server at `/v1/mcp` whose 401 names path-aware PRM, pointing to an issuer at
/// `/tenant1` with path-inserted RFC 8414 metadata; the root PRM answers 404.
pub(crate) fn upstream_fixture(mock: &Mock, iss_supported: bool) {
    let base = mock.base.clone();
    mock.route("POST", "/v1/mcp", {
        let base = base.clone();
        move |_| {
            Reply::status(401).header(
                "www-authenticate",
                &format!(
                    "Bearer realm=\"mcp\", resource_metadata=\"{base}/.well-known/oauth-protected-resource/v1/mcp\""
                ),
            )
        }
    });
    mock.json(
        "GET",
        "/.well-known/oauth-protected-resource/v1/mcp",
        200,
        json!({
            "resource": format!("{base}/v1/mcp"),
            "authorization_servers": [format!("{base}/tenant1")],
            "scopes_supported": ["read:jira-work", "offline_access"],
        }),
    );
    mock.json(
        "GET",
        "/.well-known/oauth-authorization-server/tenant1",
        200,
        as_metadata(&base, "/tenant1", iss_supported),
    );
}

pub(crate) fn as_metadata(base: &str, issuer_path: &str, iss_supported: bool) -> Value {
    json!({
        "issuer": format!("{base}{issuer_path}"),
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "registration_endpoint": format!("{base}/dcr/register"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post"],
        "scopes_supported": ["ignored-when-prm-lists-scopes"],
        "authorization_response_iss_parameter_supported": iss_supported,
    })
}

fn client() -> reqwest::Client {
    crate::auth::http_client().unwrap()
}

async fn run(mock: &Mock) -> (Result<Discovered, DiscoveryError>, Vec<String>) {
    let trace = CallTrace::new();
    let got = discover(&client(), &trace, &mock.url("/v1/mcp")).await;
    let paths = trace
        .upstream()
        .iter()
        .map(|u| format!("{} {} {}", u.method, u.path, u.status))
        .collect();
    (got, paths)
}

#[tokio::test]
async fn discovers_through_the_401_challenge_path_aware() {
    let mock = Mock::start().await;
    upstream_fixture(&mock, true);
    let (got, trace) = run(&mock).await;
    let d = got.unwrap();
    let base = &mock.base;
    assert_eq!(d.resource, format!("{base}/v1/mcp"));
    assert_eq!(d.authorization_server, format!("{base}/tenant1"));
    assert_eq!(
        d.authorization_endpoint.as_str(),
        format!("{base}/authorize")
    );
    assert_eq!(d.token_endpoint.as_str(), format!("{base}/oauth/token"));
    assert_eq!(
        d.registration_endpoint.unwrap().as_str(),
        format!("{base}/dcr/register")
    );
    assert_eq!(
        d.revocation_endpoint.unwrap().as_str(),
        format!("{base}/oauth/revoke")
    );
    assert_eq!(d.scopes_supported, ["read:jira-work", "offline_access"]);
    assert_eq!(d.auth_methods, ["none", "client_secret_post"]);
    assert!(d.iss_parameter_supported);
    assert_eq!(
        trace,
        [
            "POST /v1/mcp 401",
            "GET /.well-known/oauth-protected-resource/v1/mcp 200",
            "GET /.well-known/oauth-authorization-server/tenant1 200",
        ]
    );
    // The probe is an MCP initialize that accepts both answer types.
    let probe = &mock.seen()[0];
    assert_eq!(probe.json()["method"], "initialize");
    assert_eq!(
        probe.headers["accept"].to_str().unwrap(),
        "application/json, text/event-stream"
    );
}

#[tokio::test]
async fn without_a_challenge_the_path_aware_prm_is_found_though_the_root_one_404s() {
    let mock = Mock::start().await;
    upstream_fixture(&mock, false);
    // The MCP server answers 401 without resource_metadata.
    mock.route("POST", "/v1/mcp", |_| {
        Reply::status(401).header("www-authenticate", "Bearer realm=\"mcp\"")
    });
    let (got, trace) = run(&mock).await;
    let d = got.unwrap();
    assert!(!d.iss_parameter_supported);
    assert_eq!(
        trace,
        [
            "POST /v1/mcp 401",
            "GET /.well-known/oauth-protected-resource/v1/mcp 200",
            "GET /.well-known/oauth-authorization-server/tenant1 200",
        ]
    );

    // Only the root document: found after the path-aware one 404s.
    let mock = Mock::start().await;
    upstream_fixture(&mock, false);
    mock.route("POST", "/v1/mcp", |_| Reply::status(401));
    let base = mock.base.clone();
    mock.route(
        "GET",
        "/.well-known/oauth-protected-resource/v1/mcp",
        |_| Reply::status(404),
    );
    mock.json(
        "GET",
        "/.well-known/oauth-protected-resource",
        200,
        json!({"resource": format!("{base}/v1/mcp/"), "authorization_servers": [format!("{base}/tenant1")]}),
    );
    let (got, trace) = run(&mock).await;
    let d = got.unwrap();
    // No PRM scopes: the authorization server's are used.
    assert_eq!(d.scopes_supported, ["ignored-when-prm-lists-scopes"]);
    assert_eq!(
        trace[1],
        "GET /.well-known/oauth-protected-resource/v1/mcp 404"
    );
    assert_eq!(trace[2], "GET /.well-known/oauth-protected-resource 200");
}

#[tokio::test]
async fn openid_configuration_is_the_fallback_in_rfc_8414_order() {
    for (served, position) in [
        ("/.well-known/openid-configuration/tenant1", 1),
        ("/tenant1/.well-known/openid-configuration", 2),
    ] {
        let mock = Mock::start().await;
        upstream_fixture(&mock, false);
        mock.route(
            "GET",
            "/.well-known/oauth-authorization-server/tenant1",
            |_| Reply::status(404),
        );
        mock.json(
            "GET",
            served,
            200,
            as_metadata(&mock.base, "/tenant1", false),
        );
        let (got, trace) = run(&mock).await;
        got.unwrap();
        let tried: Vec<&str> = trace[2..].iter().map(String::as_str).collect();
        let expected = [
            "GET /.well-known/oauth-authorization-server/tenant1 404",
            "GET /.well-known/openid-configuration/tenant1 404",
            "GET /tenant1/.well-known/openid-configuration 404",
        ];
        assert_eq!(tried.len(), position + 1, "{served}: {trace:?}");
        assert_eq!(tried[..position], expected[..position]);
        assert_eq!(tried[position], format!("GET {served} 200"));
    }
}

#[tokio::test]
async fn an_issuer_without_a_path_uses_the_root_documents() {
    let issuer = Url::parse("https://as.example").unwrap();
    let got: Vec<String> = as_candidates(&issuer).iter().map(Url::to_string).collect();
    assert_eq!(
        got,
        [
            "https://as.example/.well-known/oauth-authorization-server",
            "https://as.example/.well-known/openid-configuration",
        ]
    );
    let issuer = Url::parse("https://as.example/t/1/").unwrap();
    let got: Vec<String> = as_candidates(&issuer).iter().map(Url::to_string).collect();
    assert_eq!(
        got,
        [
            "https://as.example/.well-known/oauth-authorization-server/t/1",
            "https://as.example/.well-known/openid-configuration/t/1",
            "https://as.example/t/1/.well-known/openid-configuration",
        ]
    );
}

#[tokio::test]
async fn mismatches_and_insecure_servers_are_refused() {
    // The metadata names another issuer.
    let mock = Mock::start().await;
    upstream_fixture(&mock, false);
    mock.json(
        "GET",
        "/.well-known/oauth-authorization-server/tenant1",
        200,
        as_metadata(&mock.base, "/tenant2", false),
    );
    let err = run(&mock).await.0.unwrap_err();
    assert!(
        matches!(err, DiscoveryError::IssuerMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("/tenant2"), "{err}");

    // The PRM document is for another resource.
    let mock = Mock::start().await;
    upstream_fixture(&mock, false);
    let base = mock.base.clone();
    mock.json(
        "GET",
        "/.well-known/oauth-protected-resource/v1/mcp",
        200,
        json!({"resource": format!("{base}/v2/mcp"), "authorization_servers": [format!("{base}/tenant1")]}),
    );
    let err = run(&mock).await.0.unwrap_err();
    assert!(
        matches!(err, DiscoveryError::ResourceMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("RFC 9728"), "{err}");

    // A plain-http authorization server on another machine.
    let mock = Mock::start().await;
    upstream_fixture(&mock, false);
    let base = mock.base.clone();
    mock.json(
        "GET",
        "/.well-known/oauth-protected-resource/v1/mcp",
        200,
        json!({"resource": format!("{base}/v1/mcp"), "authorization_servers": ["http://auth.example/t1"]}),
    );
    let (got, trace) = run(&mock).await;
    let err = got.unwrap_err();
    assert!(matches!(err, DiscoveryError::Insecure { .. }), "{err}");
    assert!(err.to_string().contains("http://auth.example/t1"), "{err}");
    assert_eq!(trace.len(), 2, "nothing is sent to it: {trace:?}");

    // An endpoint in the metadata on plain http elsewhere.
    let mock = Mock::start().await;
    upstream_fixture(&mock, false);
    let mut meta = as_metadata(&mock.base, "/tenant1", false);
    meta["token_endpoint"] = "http://auth.example/token".into();
    mock.json(
        "GET",
        "/.well-known/oauth-authorization-server/tenant1",
        200,
        meta,
    );
    let err = run(&mock).await.0.unwrap_err();
    assert!(matches!(err, DiscoveryError::Insecure { .. }), "{err}");

    // No S256.
    let mock = Mock::start().await;
    upstream_fixture(&mock, false);
    let mut meta = as_metadata(&mock.base, "/tenant1", false);
    meta["code_challenge_methods_supported"] = json!(["plain"]);
    mock.json(
        "GET",
        "/.well-known/oauth-authorization-server/tenant1",
        200,
        meta,
    );
    let err = run(&mock).await.0.unwrap_err();
    assert!(matches!(err, DiscoveryError::NoS256 { .. }), "{err}");
    assert!(err.to_string().contains("S256"), "{err}");
}

#[tokio::test]
async fn unreachable_is_told_apart_from_a_wrong_answer() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = Url::parse(&format!("http://127.0.0.1:{closed}/v1/mcp")).unwrap();
    let trace = CallTrace::new();
    let err = discover(&client(), &trace, &url).await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(err.to_string().contains("could not be reached"), "{err}");
    assert_eq!(trace.upstream()[0].status, 0);

    // A server that answers, but has no metadata anywhere.
    let mock = Mock::start().await;
    mock.route("POST", "/v1/mcp", |_| Reply::status(405));
    let err = run(&mock).await.0.unwrap_err();
    assert!(!err.is_unreachable());
    let text = err.to_string();
    assert!(matches!(err, DiscoveryError::NotFound { .. }), "{text}");
    assert!(
        text.contains("405") && text.contains("/.well-known/oauth-protected-resource/v1/mcp"),
        "{text}"
    );

    // A challenge pointing at a document that is not JSON.
    let mock = Mock::start().await;
    upstream_fixture(&mock, false);
    mock.route(
        "GET",
        "/.well-known/oauth-protected-resource/v1/mcp",
        |_| Reply {
            status: 200,
            headers: vec![],
            body: "<html>hello</html>".into(),
        },
    );
    let err = run(&mock).await.0.unwrap_err();
    assert!(matches!(err, DiscoveryError::Unexpected { .. }), "{err}");
    assert!(err.to_string().contains("not JSON"), "{err}");
}
