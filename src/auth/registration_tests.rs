//! Dynamic Client Registration against a real HTTP server on 127.0.0.1.

use serde_json::json;

use super::*;
use crate::auth::discovery::tests::{Mock, Reply};

fn discovered(mock: &Mock, scopes: &[&str]) -> Discovered {
    Discovered {
        resource: format!("{}/v1/mcp", mock.base),
        authorization_server: format!("{}/tenant1", mock.base),
        authorization_endpoint: mock.url("/authorize"),
        token_endpoint: mock.url("/oauth/token"),
        registration_endpoint: Some(mock.url("/dcr/register")),
        revocation_endpoint: Some(mock.url("/oauth/revoke")),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        auth_methods: vec!["none".into()],
        iss_parameter_supported: true,
    }
}

async fn run(d: &Discovered) -> Result<Registration, RegistrationError> {
    let http = crate::auth::http_client().unwrap();
    register(
        &http,
        &CallTrace::new(),
        d,
        "http://127.0.0.1:4567/callback",
    )
    .await
}

#[tokio::test]
async fn the_body_is_exactly_the_native_public_client_and_a_secret_is_kept() {
    let mock = Mock::start().await;
    // Like Atlassian: echoes `none`, yet issues a secret.
    mock.json(
        "POST",
        "/dcr/register",
        201,
        json!({"client_id": "c-1", "client_secret": "s-1", "token_endpoint_auth_method": "none",
               "redirect_uris": ["http://127.0.0.1:4567/callback"]}),
    );
    let d = discovered(&mock, &["read:jira-work", "offline_access"]);
    let reg = run(&d).await.unwrap();
    let sent = &mock.seen()[0];
    assert_eq!(
        sent.json(),
        json!({
            "client_name": "atlassian-mcp-bridge",
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1:4567/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": "read:jira-work offline_access",
        })
    );
    assert_eq!(
        sent.headers["content-type"].to_str().unwrap(),
        "application/json"
    );
    assert_eq!(reg.client_id, "c-1");
    assert_eq!(reg.client_secret.as_ref().unwrap().expose(), "s-1");
    assert_eq!(reg.auth_method, "none");
    assert_eq!(reg.redirect_uri, "http://127.0.0.1:4567/callback");
    assert_eq!(reg.issuer, d.authorization_server);
    assert_eq!(reg.token_endpoint, d.token_endpoint.as_str());
    assert_eq!(
        reg.authorization_endpoint,
        d.authorization_endpoint.as_str()
    );
    assert_eq!(
        reg.revocation_endpoint.as_deref(),
        Some(mock.url("/oauth/revoke").as_str())
    );
    assert_eq!(
        reg.registration_endpoint.as_deref(),
        Some(mock.url("/dcr/register").as_str())
    );
    assert!(reg.iss_in_response);

    // No known scopes: no `scope`; no auth method in the answer: `none`.
    let mock = Mock::start().await;
    mock.json("POST", "/dcr/register", 201, json!({"client_id": "c-2"}));
    let reg = run(&discovered(&mock, &[])).await.unwrap();
    assert!(mock.seen()[0].json().get("scope").is_none());
    assert_eq!(
        (reg.auth_method.as_str(), reg.client_secret),
        ("none", None)
    );

    // What the server says wins over what was asked.
    let mock = Mock::start().await;
    mock.json(
        "POST",
        "/dcr/register",
        201,
        json!({"client_id": "c-3", "client_secret": "s-3", "token_endpoint_auth_method": "client_secret_basic"}),
    );
    let reg = run(&discovered(&mock, &[])).await.unwrap();
    assert_eq!(reg.auth_method, "client_secret_basic");
}

#[tokio::test]
async fn refusals_say_what_to_do() {
    let mock = Mock::start().await;
    let mut d = discovered(&mock, &[]);
    d.registration_endpoint = None;
    let err = run(&d).await.unwrap_err();
    assert!(matches!(err, RegistrationError::NotOffered { .. }));
    assert!(err.to_string().contains("registered by hand"), "{err}");
    assert!(mock.seen().is_empty());

    mock.json(
        "POST",
        "/dcr/register",
        400,
        json!({"error": "invalid_redirect_uri", "error_description": "localhost only"}),
    );
    let err = run(&discovered(&mock, &[])).await.unwrap_err().to_string();
    assert!(
        err.contains("invalid_redirect_uri: localhost only")
            && err.contains("upstream.callback_host"),
        "{err}"
    );

    mock.route("POST", "/dcr/register", |_| Reply::status(403));
    let err = run(&discovered(&mock, &[])).await.unwrap_err().to_string();
    assert!(
        err.contains("403") && err.contains("anonymous registration"),
        "{err}"
    );

    for answer in [
        json!({"client_secret": "no id"}),
        json!({"client_id": "c", "token_endpoint_auth_method": "client_secret_post"}),
        json!({"client_id": "c", "token_endpoint_auth_method": "private_key_jwt"}),
    ] {
        mock.json("POST", "/dcr/register", 201, answer.clone());
        let err = run(&discovered(&mock, &[])).await.unwrap_err();
        assert!(
            matches!(err, RegistrationError::Invalid { .. }),
            "{answer}: {err}"
        );
    }

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut d = discovered(&mock, &[]);
    d.registration_endpoint = Some(format!("http://127.0.0.1:{closed}/r").parse().unwrap());
    let err = run(&d).await.unwrap_err();
    assert!(
        matches!(err, RegistrationError::Unreachable { .. }),
        "{err}"
    );
}
