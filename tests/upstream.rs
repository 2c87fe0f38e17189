//! How upstream trouble reaches the model: retries, rate limits, Jira's own errors, redirects.

use std::sync::{Arc, Mutex};

use atlassian_mcp_bridge::sandbox::FaultSpec;
use serde_json::{Value, json};

use crate::support::{Env, Flavor, call, err, ok};

/// Lists cut to the request, body limits, long JQL by POST, long CQL refused, 414.
mod bounds;
/// `Retry-After` of 0, past and far-future dates, and absurd numbers.
mod retry_after;

/// Statuses of the record's requests to `path` (a tool may also make other requests).
fn statuses_at(record: &Value, path: &str) -> Vec<u64> {
    record["upstream"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["path"] == path)
        .map(|u| u["status"].as_u64().unwrap())
        .collect()
}

fn statuses(record: &Value) -> Vec<u64> {
    record["upstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["status"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_retried_then_reported() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let path = "/rest/api/3/search/jql";

    env.sandbox.faults().inject(FaultSpec {
        status: 429,
        count: 2,
        retry_after: Some(0),
        path_prefix: Some(path.to_string()),
    });
    ok(&call(&client, "jira_search", json!({"jql": "project = ENG"})).await);

    env.sandbox.faults().inject(FaultSpec {
        status: 503,
        count: 1,
        retry_after: Some(0),
        path_prefix: Some(path.to_string()),
    });
    ok(&call(&client, "jira_search", json!({"jql": "project = ENG"})).await);

    env.sandbox.faults().inject(FaultSpec {
        status: 429,
        count: 50,
        retry_after: Some(0),
        path_prefix: Some(path.to_string()),
    });
    let msg = err(&call(&client, "jira_search", json!({"jql": "project = ENG"})).await);
    assert!(msg.contains("rate limiting"), "{msg}");
    env.sandbox.faults().clear();

    // A Retry-After longer than the 30 s budget is reported at once, with the wait.
    env.sandbox.faults().inject(FaultSpec {
        status: 429,
        count: 1,
        retry_after: Some(120),
        path_prefix: Some(path.to_string()),
    });
    let started = std::time::Instant::now();
    let msg = err(&call(&client, "jira_search", json!({"jql": "project = ENG"})).await);
    assert!(msg.contains("120 s"), "{msg}");
    assert!(started.elapsed().as_secs() < 10);
    client.cancel().await.ok();

    let records = env.tool_records();
    assert_eq!(statuses_at(&records[0], path), [429, 429, 200]);
    assert_eq!(statuses_at(&records[1], path), [503, 200]);
    assert_eq!(
        statuses_at(&records[2], path),
        [429, 429, 429, 429, 429],
        "1 try + 4 retries"
    );
    assert_eq!(records[2]["outcome"], "error");
    assert_eq!(statuses_at(&records[3], path), [429]);
    for r in &records {
        for u in r["upstream"].as_array().unwrap() {
            let p = u["path"].as_str().unwrap();
            assert!(
                p.starts_with("/rest/api/3/") && !p.contains('?'),
                "path without query or host: {p}"
            );
            if p == path {
                assert_eq!(u["method"], "GET");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_and_confluence_errors_come_through_with_their_messages() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let msg = err(&call(&client, "jira_search", json!({"jql": "project = = ENG"})).await);
    assert!(msg.contains("Jira rejected the request"), "{msg}");
    assert!(msg.to_lowercase().contains("jql"), "{msg}");
    let msg = err(&call(&client, "jira_search", json!({"jql": "nosuchfield = 1"})).await);
    assert!(msg.contains("nosuchfield"), "{msg}");
    let msg = err(&call(
        &client,
        "confluence_search",
        json!({"cql": "type = = page"}),
    )
    .await);
    assert!(msg.contains("Confluence rejected the request"), "{msg}");
    env.sandbox.faults().inject(FaultSpec {
        status: 500,
        count: 1,
        retry_after: None,
        path_prefix: Some("/rest/api/3/issue".to_string()),
    });
    let msg = err(&call(&client, "jira_get_issue", json!({"key": "ENG-1"})).await);
    assert!(msg.contains("server error"), "{msg}");
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_and_wrong_deployment_are_explained() {
    let env = Env::new(Flavor::Cloud, "").await;
    std::fs::write(
        env.home.path().join("config.toml"),
        format!(
            "[site]\nurl = \"{}\"\ndeployment = \"cloud\"\nemail = \"demo@example.com\"\napi_token = \"wrong-token\"\n",
            env.sandbox.base_url()
        ),
    )
    .unwrap();
    let client = env.client().await;
    let msg = err(&call(&client, "jira_search", json!({"jql": "project = ENG"})).await);
    assert!(msg.contains("did not accept the credentials"), "{msg}");
    assert!(!msg.contains("wrong-token"));
    client.cancel().await.ok();

    // A Cloud site configured as Data Center: Cloud refuses the PAT, and the message says why.
    std::fs::write(
        env.home.path().join("config.toml"),
        format!(
            "[site]\nurl = \"{}\"\ndeployment = \"data-center\"\nauth = \"pat\"\npat = \"x\"\n",
            env.sandbox.base_url()
        ),
    )
    .unwrap();
    let client = env.client().await;
    let msg = err(&call(&client, "jira_search", json!({"jql": "project = ENG"})).await);
    assert!(
        msg.contains("removed") || msg.contains("credentials"),
        "{msg}"
    );
    client.cancel().await.ok();
}

/// A site that redirects to another origin must not receive our credentials there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_never_carry_credentials_to_another_host() {
    use axum::Router;
    use axum::http::HeaderMap;
    use axum::response::Redirect;
    use axum::routing::any;

    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let seen2 = seen.clone();
    let other = Router::new().fallback(any(move |headers: HeaderMap| {
        let seen = seen2.clone();
        async move {
            seen.lock().unwrap().push(
                headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap_or("").to_string()),
            );
            axum::Json(json!({"issues": [], "isLast": true}))
        }
    }));
    let other_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_addr = other_listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(other_listener, other).await.ok() });
    let target = format!(
        "http://localhost:{}/rest/api/3/search/jql",
        other_addr.port()
    );
    let site = Router::new().fallback(any(move || {
        let target = target.clone();
        async move { Redirect::temporary(&target) }
    }));
    let site_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site_addr = site_listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(site_listener, site).await.ok() });

    let env = Env::new(Flavor::Cloud, "").await;
    std::fs::write(
        env.home.path().join("config.toml"),
        format!(
            "[site]\nurl = \"http://{site_addr}\"\ndeployment = \"cloud\"\nemail = \"a@b.c\"\napi_token = \"secret-value\"\n"
        ),
    )
    .unwrap();
    let client = env.client().await;
    let msg = err(&call(&client, "jira_search", json!({"jql": "project = ENG"})).await);
    assert!(msg.contains("redirected"), "{msg}");
    assert!(
        msg.contains(&format!("localhost:{}", other_addr.port())),
        "{msg}"
    );
    client.cancel().await.ok();
    assert!(
        seen.lock().unwrap().is_empty(),
        "the other host was contacted: {:?}",
        seen.lock().unwrap()
    );
}

/// Redirects within the same origin are followed (credentials stay on the same host).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_origin_redirects_are_followed() {
    use axum::Router;
    use axum::http::HeaderMap;
    use axum::response::Redirect;
    use axum::routing::get;

    let site = Router::new()
        .route(
            "/rest/api/3/search/jql",
            get(|| async { Redirect::temporary("/moved/search") }),
        )
        .route(
            "/moved/search",
            get(|headers: HeaderMap| async move {
                let authed = headers.get("authorization").is_some();
                axum::Json(json!({
                    "issues": [{"id": "1", "key": "ENG-1", "fields": {
                        "summary": if authed { "with credentials" } else { "without" },
                        "project": {"key": "ENG"}}}],
                    "isLast": true
                }))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, site).await.ok() });
    let env = Env::new(Flavor::Cloud, "").await;
    std::fs::write(
        env.home.path().join("config.toml"),
        format!(
            "[site]\nurl = \"http://{addr}\"\ndeployment = \"cloud\"\nemail = \"a@b.c\"\napi_token = \"t\"\n"
        ),
    )
    .unwrap();
    let client = env.client().await;
    let out = ok(&call(&client, "jira_search", json!({"jql": "project = ENG"})).await);
    assert_eq!(out["issues"][0]["summary"], "with credentials");
    client.cancel().await.ok();
}

/// Without `Retry-After`, the retry waits a jittered backoff (about 1 s for the first retry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_without_retry_after() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    env.sandbox.faults().inject(FaultSpec {
        status: 503,
        count: 1,
        retry_after: None,
        path_prefix: Some("/rest/api/3/issue".to_string()),
    });
    let started = std::time::Instant::now();
    ok(&call(
        &client,
        "jira_get_issue",
        json!({"key": "ENG-1", "include": []}),
    )
    .await);
    let elapsed = started.elapsed().as_secs_f64();
    assert!(elapsed >= 0.65, "retried after only {elapsed:.2} s");
    client.cancel().await.ok();
    assert_eq!(
        statuses_at(&env.tool_records()[0], "/rest/api/3/issue/ENG-1"),
        [503, 200]
    );
}

/// On a site without Jira, `atlassian_whoami` asks Confluence who the user is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_falls_back_to_confluence_without_jira() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    // Let the start-up identity lookup finish before injecting the fault.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !env
        .sandbox
        .requests()
        .iter()
        .any(|r| r.path == "/rest/api/3/myself")
    {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    env.sandbox.faults().inject(FaultSpec {
        status: 404,
        count: 1,
        retry_after: None,
        path_prefix: Some("/rest/api/3/myself".to_string()),
    });
    let out = ok(&call(&client, "atlassian_whoami", json!({})).await);
    assert_eq!(out["user"]["display_name"], "Dana Demo");
    client.cancel().await.ok();
    let rec = &env.tool_records()[0];
    assert_eq!(statuses(rec), [404, 200]);
    assert_eq!(rec["upstream"][1]["path"], "/wiki/rest/api/user/current");
}

/// With `cloud_id`, API-token requests go through the gateway `/ex/jira/{cloudId}` prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_id_routes_through_the_api_gateway() {
    use atlassian_mcp_bridge::sandbox::{SANDBOX_API_TOKEN, SANDBOX_CLOUD_ID, SANDBOX_EMAIL};
    let env = Env::new(Flavor::Cloud, "").await;
    let base = env.sandbox.base_url();
    std::fs::write(
        env.home.path().join("config.toml"),
        format!(
            "[site]\nurl = \"https://acme.atlassian.net\"\nemail = \"{SANDBOX_EMAIL}\"\napi_token = \"{SANDBOX_API_TOKEN}\"\ncloud_id = \"{SANDBOX_CLOUD_ID}\"\n[oauth]\nclient_id = \"unused\"\napi_base = \"{base}\"\n"
        ),
    )
    .unwrap();
    let client = env.client().await;
    let out = ok(&call(
        &client,
        "jira_search",
        json!({"jql": "project = OPS", "max_results": 2}),
    )
    .await);
    assert_eq!(out["issues"].as_array().unwrap().len(), 2);
    let out = ok(&call(&client, "confluence_get_page", json!({"page_id": "100101"})).await);
    assert_eq!(out["space_key"], "ENG");
    client.cancel().await.ok();
    let records = env.tool_records();
    assert_eq!(
        records[0]["upstream"][0]["path"],
        format!("/ex/jira/{SANDBOX_CLOUD_ID}/rest/api/3/search/jql")
    );
    assert_eq!(
        records[1]["upstream"][0]["path"],
        format!("/ex/confluence/{SANDBOX_CLOUD_ID}/wiki/api/v2/pages/100101")
    );
    // Links for people still point at the site, not at the gateway.
    assert!(
        out["url"]
            .as_str()
            .unwrap()
            .starts_with("https://acme.atlassian.net/wiki/")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstream_times_out_with_a_clear_error() {
    let env = Env::new(Flavor::Cloud, "").await;
    let config = std::fs::read_to_string(env.home.path().join("config.toml")).unwrap();
    std::fs::write(
        env.home.path().join("config.toml"),
        config.replace("[site]\n", "[site]\ntimeout_secs = 1\n"),
    )
    .unwrap();
    let client = env.client().await;
    env.sandbox
        .faults()
        .set_latency(std::time::Duration::from_millis(2500));
    let msg = err(&call(&client, "jira_get_issue", json!({"key": "ENG-1"})).await);
    assert!(msg.contains("did not answer in time"), "{msg}");
    env.sandbox.faults().set_latency(std::time::Duration::ZERO);
    client.cancel().await.ok();
    let records = env.tool_records();
    assert_eq!(records[0]["outcome"], "error");
    assert_eq!(statuses(&records[0]), [0], "no response: status 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_is_audited_as_cancelled() {
    use rmcp::model::{CallToolRequestParams, ClientRequest, Request};
    use rmcp::service::PeerRequestOptions;
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    env.sandbox
        .faults()
        .set_latency(std::time::Duration::from_millis(3000));
    let params = CallToolRequestParams::new("jira_search")
        .with_arguments(json!({"jql": "project = ENG"}).as_object().unwrap().clone());
    let handle = client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    handle
        .cancel(Some("user pressed stop".into()))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let records = env.tool_records();
        if let Some(r) = records.first() {
            assert_eq!(r["outcome"], "cancelled", "{r}");
            assert!(
                r["duration_ms"].as_f64().unwrap() < 2500.0,
                "did not wait for upstream"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no audit record for the cancelled call"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    env.sandbox.faults().set_latency(std::time::Duration::ZERO);
    client.cancel().await.ok();
}
