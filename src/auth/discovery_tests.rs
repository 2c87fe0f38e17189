//! Discovery against real HTTP servers on 127.0.0.1, and the fixtures the registration and
//! upstream sign-in tests use too (the [`Mock`] server itself is in `discovery/mock.rs`).

use serde_json::{Value, json};
use url::Url;

pub(crate) use super::mock::{Mock, Reply, Seen};
use super::*;

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
    assert_eq!(d.scopes, ["read:jira-work", "offline_access"]);
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
    // No PRM scopes and none in the challenge: none are asked for, whatever the
    // authorization server lists.
    assert!(d.scopes.is_empty(), "{:?}", d.scopes);
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

#[tokio::test]
async fn scopes_come_from_the_challenge_then_the_prm_never_from_the_server_alone() {
    const PRM: &str = "/.well-known/oauth-protected-resource/v1/mcp";
    const ASM: &str = "/.well-known/oauth-authorization-server/tenant1";
    let mock = Mock::start().await;
    upstream_fixture(&mock, false);
    let base = mock.base.clone();
    let prm = |scopes: Option<&[&str]>| {
        let mut doc = json!({"resource": format!("{base}/v1/mcp"),
                             "authorization_servers": [format!("{base}/tenant1")]});
        if let Some(scopes) = scopes {
            doc["scopes_supported"] = json!(scopes);
        }
        doc
    };
    let meta = |scopes: &[&str]| {
        let mut meta = as_metadata(&mock.base, "/tenant1", false);
        meta["scopes_supported"] = json!(scopes);
        meta
    };
    let scopes = |mock: &Mock| {
        let mock_url = mock.url("/v1/mcp");
        async move {
            discover(&client(), &CallTrace::new(), &mock_url)
                .await
                .unwrap()
                .scopes
        }
    };

    // Only the authorization server lists scopes (the OpenID set among them): none are asked
    // for but offline_access, which it supports.
    mock.json("GET", PRM, 200, prm(None));
    mock.json(
        "GET",
        ASM,
        200,
        meta(&["openid", "profile", "email", "offline_access"]),
    );
    assert_eq!(scopes(&mock).await, ["offline_access"]);
    mock.json("GET", ASM, 200, meta(&["openid", "profile", "email"]));
    assert!(scopes(&mock).await.is_empty());

    // The PRM's scopes, and offline_access when the server supports it.
    mock.json("GET", PRM, 200, prm(Some(&["read:jira-work"])));
    assert_eq!(scopes(&mock).await, ["read:jira-work"]);
    mock.json("GET", ASM, 200, meta(&["x", "offline_access"]));
    assert_eq!(scopes(&mock).await, ["read:jira-work", "offline_access"]);

    // The 401 challenge's `scope` wins over the PRM's.
    let challenge =
        format!("Bearer resource_metadata=\"{base}{PRM}\", scope=\"a b\", error=\"invalid_token\"");
    mock.route("POST", "/v1/mcp", move |_| {
        Reply::status(401).header("www-authenticate", &challenge)
    });
    assert_eq!(scopes(&mock).await, ["a", "b", "offline_access"]);
    mock.json("GET", ASM, 200, meta(&["a"]));
    assert_eq!(scopes(&mock).await, ["a", "b"]);
}

#[test]
fn plain_http_is_allowed_only_behind_a_plain_http_loopback_mcp_url() {
    let url = |u: &str| Url::parse(u).unwrap();
    let insecure = |rules: &Schemes, u: &str| {
        matches!(
            rules.check(STEP_AS, &url(u)),
            Err(DiscoveryError::Insecure { .. })
        )
    };
    // Behind an https MCP URL, a document naming a local http service is refused: the remote
    // server must not make the bridge send codes and verifiers to this machine's services.
    let remote = Schemes::for_mcp(&url("https://mcp.example/v1/mcp"));
    for refused in [
        "http://127.0.0.1:9/token",
        "http://localhost/authorize",
        "http://[::1]:8/register",
        "http://auth.example/t1",
        "ftp://auth.example/t1",
    ] {
        assert!(insecure(&remote, refused), "{refused}");
    }
    assert!(!insecure(&remote, "https://auth.example/t1"));
    assert!(!insecure(&remote, "https://127.0.0.1/t1"));

    // A local MCP server over http (the sandbox, tests) may use local http endpoints.
    let local = Schemes::for_mcp(&url("http://127.0.0.1:8080/v1/mcp"));
    for allowed in [
        "http://127.0.0.1:9/token",
        "http://localhost/authorize",
        "https://auth.example/t1",
    ] {
        assert!(!insecure(&local, allowed), "{allowed}");
    }
    assert!(insecure(&local, "http://auth.example/t1"));

    // An MCP URL on plain http elsewhere is refused itself.
    let elsewhere = url("http://mcp.example/v1/mcp");
    assert!(insecure(&Schemes::for_mcp(&elsewhere), elsewhere.as_str()));
}
