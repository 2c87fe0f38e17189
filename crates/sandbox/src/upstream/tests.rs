//! Tests of the upstream authorization server and discovery over real HTTP against a sandbox
//! on port 0: path-aware metadata (root documents 404), the 401 challenge at `/v1/mcp`,
//! registration with its callback-host switch, authorize with its refusals and switches, the
//! code exchange with PKCE, refresh rotation whose reuse revokes the family, revocation,
//! forgotten clients, and the control endpoint. (Test code only.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::test_client::{
    REDIRECT, VERIFIER, authorize, http, location, login, register, sandbox, token,
};

/// `POST /v1/mcp` `initialize` with this bearer token (or none): the status and challenge.
async fn mcp_status(sb: &super::super::Sandbox, bearer: Option<&str>) -> (u16, String) {
    let mut req = http()
        .post(sb.upstream_url())
        .header("Accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        );
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("mcp");
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|h| h.to_str().expect("header").to_string())
        .unwrap_or_default();
    (r.status().as_u16(), challenge)
}

async fn get_json(url: String) -> (u16, Value) {
    let r = http().get(url).send().await.expect("get");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn discovery_is_path_aware_and_the_roots_are_404() {
    let sb = sandbox().await;
    let base = sb.base_url();
    let (status, prm) = get_json(format!(
        "{base}/.well-known/oauth-protected-resource/v1/mcp"
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        prm,
        json!({"resource": format!("{base}/v1/mcp"),
               "authorization_servers": [format!("{base}/auth/tenant-1")],
               "scopes_supported": ["read:jira-work", "write:jira-work", "read:confluence-content.all", "offline_access"],
               "bearer_methods_supported": ["header"]})
    );
    let (status, asm) = get_json(format!(
        "{base}/.well-known/oauth-authorization-server/auth/tenant-1"
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(asm["issuer"], json!(sb.upstream_issuer()));
    assert_eq!(asm["issuer"], prm["authorization_servers"][0]);
    assert_eq!(
        asm["authorization_endpoint"],
        json!(format!("{base}/auth/authorize"))
    );
    assert_eq!(
        asm["token_endpoint"],
        json!(format!("{base}/auth/oauth/token"))
    );
    assert_eq!(
        asm["registration_endpoint"],
        json!(format!("{base}/auth/dcr/register"))
    );
    assert_eq!(
        asm["revocation_endpoint"],
        json!(format!("{base}/auth/oauth/revoke"))
    );
    assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        asm["token_endpoint_auth_methods_supported"],
        json!(["none", "client_secret_post"])
    );
    assert_eq!(
        asm["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(asm["response_types_supported"], json!(["code"]));
    assert_eq!(
        asm["authorization_response_iss_parameter_supported"],
        json!(true)
    );
    assert_eq!(asm["scopes_supported"], prm["scopes_supported"]);
    for root in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-protected-resource/v2/mcp",
    ] {
        assert_eq!(get_json(format!("{base}{root}")).await.0, 404, "{root}");
    }
    let logged = sb.requests();
    assert!(
        logged
            .iter()
            .any(|r| r.path == "/.well-known/oauth-protected-resource" && r.status == 404)
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn mcp_without_a_valid_token_is_challenged() {
    let sb = sandbox().await;
    let metadata = format!(
        "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/v1/mcp\"",
        sb.base_url()
    );
    let (status, challenge) = mcp_status(&sb, None).await;
    assert_eq!((status, challenge.as_str()), (401, metadata.as_str()));
    let (status, challenge) = mcp_status(&sb, Some("not-a-token")).await;
    assert_eq!(status, 401);
    assert!(challenge.starts_with(&metadata), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    // Tokens of the sandbox's other OAuth server are no good here.
    let rest = sb.oauth().mint("read:jira-work");
    assert_eq!(mcp_status(&sb, Some(&rest.access_token)).await.0, 401);
    let login = login(&sb).await;
    assert_eq!(mcp_status(&sb, Some(&login.access)).await.0, 200);
    assert!(
        sb.requests()
            .iter()
            .any(|r| r.path == "/v1/mcp" && r.status == 401)
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn registration_takes_exact_loopback_redirects_on_allowed_hosts() {
    let sb = sandbox().await;
    let (status, reg) = register(&sb, REDIRECT).await;
    assert_eq!(status, 201, "{reg}");
    assert!(reg["client_id"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(reg["client_secret"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(reg["token_endpoint_auth_method"], json!("none"));
    assert_eq!(reg["redirect_uris"], json!([REDIRECT]));
    assert!(reg["client_id_issued_at"].as_i64().is_some());
    for bad in [
        "https://example.com/callback",
        "http://127.0.0.1/callback",
        "http://10.0.0.1:8765/callback",
        "http://127.0.0.1:8765/callback?x=1",
        "http://127.0.0.1:8765/callback#f",
    ] {
        let (status, body) = register(&sb, bad).await;
        assert_eq!(
            (status, &body["error"]),
            (400, &json!("invalid_redirect_uri")),
            "{bad}"
        );
    }
    assert_eq!(register(&sb, "http://localhost:9000/cb").await.0, 201);

    sb.upstream().set_callback_hosts(["127.0.0.1"]);
    let (status, body) = register(&sb, "http://localhost:9000/cb").await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("invalid_redirect_uri"))
    );
    assert_eq!(register(&sb, REDIRECT).await.0, 201);
    // The same switch over HTTP.
    let r = http()
        .post(format!("{}/__sandbox/upstream", sb.base_url()))
        .json(&json!({"callback_hosts": ["localhost"]}))
        .send()
        .await
        .expect("control");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(register(&sb, REDIRECT).await.0, 400);
    assert_eq!(register(&sb, "http://localhost:9000/cb").await.0, 201);
    let c = sb.upstream().counters();
    assert_eq!((c.registrations, c.clients), (4, 4));
    sb.shutdown().await;
}

#[tokio::test]
async fn authorize_refuses_and_redirects_like_atlassian() {
    let sb = sandbox().await;
    let (_, reg) = register(&sb, REDIRECT).await;
    let id = reg["client_id"].as_str().expect("id").to_string();

    for extra in [
        vec![("client_id", "nobody")],
        vec![("redirect_uri", "http://127.0.0.1:8766/callback")],
    ] {
        let r = authorize(&sb, &id, &extra).await;
        assert_eq!(r.status().as_u16(), 400, "{extra:?}");
        assert!(r.text().await.expect("text").contains("<html>"));
    }
    let resource = format!("{}/v2/mcp", sb.base_url());
    for (extra, error) in [
        (vec![("resource", "")], "invalid_target"),
        (vec![("resource", resource.as_str())], "invalid_target"),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
    ] {
        let q = location(&authorize(&sb, &id, &extra).await);
        assert_eq!(q["error"], error, "{extra:?}");
        assert_eq!(q["state"], "st-1");
        assert!(!q.contains_key("code"));
    }

    let q = location(&authorize(&sb, &id, &[]).await);
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], sb.upstream_issuer());
    assert!(q["code"].len() > 20);

    sb.upstream().set_consent(false);
    let q = location(&authorize(&sb, &id, &[]).await);
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("access_denied", "st-1")
    );
    assert!(!q.contains_key("code"));
    sb.upstream().set_consent(true);

    sb.upstream().set_wrong_iss(true);
    let q = location(&authorize(&sb, &id, &[]).await);
    assert_eq!(q["iss"], "https://evil.example");
    assert!(q.contains_key("code"));
    assert_eq!(sb.upstream().counters().authorizations, 2);
    sb.shutdown().await;
}

#[tokio::test]
async fn code_exchange_checks_pkce_client_redirect_and_resource_once() {
    let sb = sandbox().await;
    let (_, reg) = register(&sb, REDIRECT).await;
    let id = reg["client_id"].as_str().expect("id").to_string();
    let resource = sb.upstream_url();
    let exchange = |code: String, verifier: &'static str, resource: String, client: String| {
        let sb = &sb;
        async move {
            token(
                sb,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("client_id", &client),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", verifier),
                    ("resource", &resource),
                ],
            )
            .await
        }
    };
    let code = location(&authorize(&sb, &id, &[]).await)["code"].clone();
    let wrong = "another-verifier-that-is-long-enough-to-be-valid-0000000";
    let (status, body) = exchange(code.clone(), wrong, resource.clone(), id.clone()).await;
    assert_eq!((status, &body["error"]), (400, &json!("invalid_grant")));
    // The code was used up by the failed attempt.
    let (status, _) = exchange(code, VERIFIER, resource.clone(), id.clone()).await;
    assert_eq!(status, 400);

    let code = location(&authorize(&sb, &id, &[]).await)["code"].clone();
    let (status, body) = exchange(code, VERIFIER, format!("{}/x", resource), id.clone()).await;
    assert_eq!((status, &body["error"]), (400, &json!("invalid_target")));

    let code = location(&authorize(&sb, &id, &[]).await)["code"].clone();
    let (status, body) = exchange(code, VERIFIER, resource.clone(), "nobody".into()).await;
    assert_eq!((status, &body["error"]), (401, &json!("invalid_client")));

    let code = location(&authorize(&sb, &id, &[]).await)["code"].clone();
    let (status, body) = exchange(code.clone(), VERIFIER, resource.clone(), id.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], json!("Bearer"));
    assert_eq!(body["expires_in"], json!(3300));
    assert_eq!(
        body["scope"],
        json!("read:jira-work write:jira-work offline_access")
    );
    assert!(body["refresh_token"].as_str().is_some());
    let (status, _) = exchange(code, VERIFIER, resource, id).await;
    assert_eq!(status, 400, "a code works once");
    assert_eq!(sb.upstream().counters().code_exchanges, 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let sb = sandbox().await;
    let first = login(&sb).await;
    let refresh = |rt: String| {
        let sb = &sb;
        let id = first.client_id.clone();
        async move {
            token(
                sb,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt),
                    ("client_id", &id),
                ],
            )
            .await
        }
    };
    let (status, second) = refresh(first.refresh.clone()).await;
    assert_eq!(status, 200, "{second}");
    let second_refresh = second["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_string();
    let second_access = second["access_token"].as_str().expect("access").to_string();
    assert_ne!(second_refresh, first.refresh);
    assert_eq!(mcp_status(&sb, Some(&second_access)).await.0, 200);

    // The rotated-away token again: the whole grant dies.
    let (status, body) = refresh(first.refresh.clone()).await;
    assert_eq!((status, &body["error"]), (400, &json!("invalid_grant")));
    assert_eq!(mcp_status(&sb, Some(&second_access)).await.0, 401);
    assert_eq!(mcp_status(&sb, Some(&first.access)).await.0, 401);
    assert_eq!(refresh(second_refresh).await.0, 400);
    let c = sb.upstream().counters();
    assert_eq!((c.refreshes, c.families_revoked), (1, 1));

    // A forgotten client can no longer refresh (the bridge registers again).
    let other = login(&sb).await;
    assert_eq!(sb.upstream().forget_clients(), 2);
    let (status, body) = token(
        &sb,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &other.refresh),
            ("client_id", &other.client_id),
        ],
    )
    .await;
    assert_eq!((status, &body["error"]), (401, &json!("invalid_client")));
    assert_eq!(
        authorize(&sb, &other.client_id, &[])
            .await
            .status()
            .as_u16(),
        400
    );
    assert_eq!(sb.upstream().counters().clients, 0);
    sb.shutdown().await;
}

#[tokio::test]
async fn revocation_and_expiry_end_access() {
    let sb = sandbox().await;
    let revoke = |token: String| {
        let url = format!("{}/auth/oauth/revoke", sb.base_url());
        async move {
            let r = http()
                .post(url)
                .form(&[
                    ("token", token.as_str()),
                    ("token_type_hint", "access_token"),
                ])
                .send()
                .await
                .expect("revoke");
            r.status().as_u16()
        }
    };
    let a = login(&sb).await;
    assert_eq!(revoke(a.access.clone()).await, 200);
    assert_eq!(mcp_status(&sb, Some(&a.access)).await.0, 401);
    // Only the access token went: the refresh token still works.
    let (status, _) = token(
        &sb,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &a.refresh),
            ("client_id", &a.client_id),
        ],
    )
    .await;
    assert_eq!(status, 200);

    let b = login(&sb).await;
    assert_eq!(revoke(b.refresh.clone()).await, 200);
    assert_eq!(mcp_status(&sb, Some(&b.access)).await.0, 401);
    assert_eq!(revoke("never-issued".into()).await, 200);
    let c = sb.upstream().counters();
    assert_eq!((c.revocations, c.families_revoked), (3, 1));

    sb.upstream().set_expires_in(0);
    let d = login(&sb).await;
    let (status, challenge) = mcp_status(&sb, Some(&d.access)).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("invalid_token"));
    sb.shutdown().await;
}

#[tokio::test]
async fn control_endpoint_sets_switches_and_reports_counters() {
    let sb = sandbox().await;
    let url = format!("{}/__sandbox/upstream", sb.base_url());
    let r = http()
        .post(&url)
        .json(
            &json!({"expires_in": 60, "consent": false, "wrong_iss": true,
                      "callback_hosts": ["127.0.0.1"], "extra_tool": true, "tool_delay_ms": 5}),
        )
        .send()
        .await
        .expect("control");
    assert_eq!(r.status().as_u16(), 200);
    let s = sb.upstream().settings();
    assert_eq!(
        (s.expires_in, s.consent, s.wrong_iss, s.extra_tool),
        (60, false, true, true)
    );
    assert_eq!(s.callback_hosts, vec!["127.0.0.1".to_string()]);
    let bad = http()
        .post(&url)
        .json(&json!({"nonsense": 1}))
        .send()
        .await
        .expect("bad");
    assert_eq!(bad.status().as_u16(), 400);

    sb.upstream().set_consent(true);
    sb.upstream().set_wrong_iss(false);
    let l = login(&sb).await;
    assert!(!l.access.is_empty());
    let r = http()
        .post(&url)
        .json(&json!({"forget_clients": true}))
        .send()
        .await
        .expect("forget");
    let status: Value = r.json().await.expect("json");
    assert_eq!(status["clients"], json!(0));
    let (_, status) = get_json(url.clone()).await;
    for (k, v) in [
        ("registrations", 1),
        ("authorizations", 1),
        ("code_exchanges", 1),
        ("refreshes", 0),
        ("expires_in", 60),
    ] {
        assert_eq!(status[k], json!(v), "{k}");
    }
    assert_eq!(status["calls"], json!([]));
    let paths: Vec<String> = sb.requests().into_iter().map(|r| r.path).collect();
    assert!(paths.iter().any(|p| p == "/auth/oauth/token"));
    assert!(!paths.iter().any(|p| p.starts_with("/__sandbox")));
    sb.shutdown().await;
}
