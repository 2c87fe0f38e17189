//! Fault switches for the bulk engine: method filters, skips, delays and dropped connections.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{At, call, task};
use crate::tests::{http, keys, sandbox, send};
use crate::{FaultOptions, FaultSpec, SANDBOX_API_TOKEN, SANDBOX_EMAIL, Sandbox};

fn bulk_of(n: usize, tag: &str) -> Value {
    let items: Vec<Value> = (0..n)
        .map(|i| {
            let mut t = task(At::Cloud, "ENG", &format!("{tag} {i}"));
            t["properties"] = json!([{"key": "atlassian-mcp-bridge", "value": {"operation_id": tag, "index": i}}]);
            t
        })
        .collect();
    json!({"issueUpdates": items})
}

async fn post_bulk(sb: &Sandbox, body: &Value) -> u16 {
    call(
        At::Cloud,
        "POST",
        &format!("{}/issue/bulk", At::Cloud.jira(sb)),
        Some(body),
    )
    .await
    .status
}

fn bulk_rule(status: u16) -> FaultSpec {
    FaultSpec {
        status,
        count: 1,
        retry_after: None,
        path_prefix: Some("/rest/api/3/issue/bulk".into()),
    }
}

#[tokio::test]
async fn method_and_skip_fail_exactly_the_nth_matching_request() {
    let sb = sandbox().await;
    sb.faults().inject_with(
        FaultSpec {
            retry_after: Some(2),
            ..bulk_rule(503)
        },
        FaultOptions {
            method: Some("post".into()),
            skip: 2,
            ..FaultOptions::default()
        },
    );
    assert_eq!(sb.faults().pending(), 1);
    let r = call(
        At::Cloud,
        "GET",
        &format!("{}/issue/bulk", At::Cloud.jira(&sb)),
        None,
    )
    .await;
    assert_eq!(r.status, 404, "GETs do not match a POST rule");
    let mut statuses = Vec::new();
    for chunk in 0..4 {
        statuses.push(post_bulk(&sb, &bulk_of(2, &format!("chunk-{chunk}"))).await);
    }
    assert_eq!(statuses, [201, 201, 503, 201], "the third chunk fails");
    assert_eq!(
        sb.issue_count("ENG"),
        64 + 6,
        "the failed chunk created nothing"
    );
    assert_eq!(sb.faults().pending(), 0);

    // The same over the control endpoint; bad rules are refused.
    let ctl = format!("{}/__sandbox/faults", sb.base_url());
    let r = send(http().post(&ctl).json(&json!({"status": 429, "count": 1, "method": "PUT", "skip": 1, "path_prefix": "/wiki/api/v2/pages"}))).await;
    assert_eq!((r.status, &r.body["pending"]), (200, &json!(1)));
    for bad in [
        json!({"count": 1}),
        json!({"status": 700}),
        json!({"delay_ms": 700_000}),
        json!({"status": 0}),
    ] {
        assert_eq!(
            send(http().post(&ctl).json(&bad)).await.status,
            400,
            "{bad}"
        );
    }
    let url = format!("{}/wiki/api/v2/pages/100101", sb.base_url());
    let body = json!({"id": "100101", "status": "current", "title": "Architecture Overview", "body": {"representation": "storage", "value": "<p>x</p>"}, "version": {"number": 4}});
    assert_eq!(call(At::Cloud, "GET", &url, None).await.status, 200);
    assert_eq!(
        call(At::Cloud, "PUT", &url, Some(&body)).await.status,
        200,
        "skipped"
    );
    assert_eq!(
        call(At::Cloud, "PUT", &url, Some(&body)).await.status,
        429,
        "fired"
    );
    assert_eq!(
        call(At::Cloud, "PUT", &url, Some(&body)).await.status,
        409,
        "used up"
    );
    let log: Vec<u16> = sb
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/issue/bulk"))
        .map(|r| r.status)
        .collect();
    assert_eq!(log, [404, 201, 201, 503, 201]);
    sb.shutdown().await;
}

#[tokio::test]
async fn delay_holds_a_request_then_serves_or_fails_it() {
    let sb = sandbox().await;
    sb.faults().inject_with(
        bulk_rule(0),
        FaultOptions {
            delay_ms: Some(400),
            ..FaultOptions::default()
        },
    );
    let started = Instant::now();
    assert_eq!(post_bulk(&sb, &bulk_of(1, "slow")).await, 201);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sb.faults().pending(), 0);
    let r = send(
        http()
            .post(format!("{}/__sandbox/faults", sb.base_url()))
            .json(
                &json!({"status": 503, "delay_ms": 200, "path_prefix": "/rest/api/3/issue/bulk"}),
            ),
    )
    .await;
    assert_eq!(r.status, 200);
    let started = Instant::now();
    assert_eq!(post_bulk(&sb, &bulk_of(1, "slow-fail")).await, 503);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(sb.issue_count("ENG"), 65);
    sb.shutdown().await;
}

/// Sends one raw HTTP/1.1 request and returns every byte the server sent before closing.
async fn raw_exchange(sb: &Sandbox, path: &str, body: &Value) -> std::io::Result<Vec<u8>> {
    let mut stream = tokio::net::TcpStream::connect(sb.addr()).await?;
    let payload = serde_json::to_vec(body).expect("json");
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{SANDBOX_EMAIL}:{SANDBOX_API_TOKEN}"));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        sb.addr(),
        payload.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&payload).await?;
    let mut got = Vec::new();
    match tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut got)).await {
        Ok(Ok(_)) => Ok(got),
        Ok(Err(e)) if got.is_empty() => Err(e),
        Ok(Err(_)) => Ok(got),
        Err(_) => panic!("the sandbox neither answered nor closed the connection"),
    }
}

#[tokio::test]
async fn drop_after_commit_creates_then_closes_without_a_response() {
    let sb = sandbox().await;
    sb.faults().inject_with(
        bulk_rule(503),
        FaultOptions {
            method: Some("POST".into()),
            drop_after_commit: true,
            ..FaultOptions::default()
        },
    );
    // A raw client: the connection closes (or resets) with zero bytes of response.
    let got = raw_exchange(&sb, "/rest/api/3/issue/bulk", &bulk_of(2, "dropped")).await;
    if let Ok(bytes) = &got {
        assert!(
            bytes.is_empty(),
            "got a response: {}",
            String::from_utf8_lossy(bytes)
        );
    }
    assert_eq!(sb.issue_count("ENG"), 66, "the chunk was committed");
    let last = sb.requests().pop().expect("logged");
    assert_eq!(
        (last.method.as_str(), last.path.as_str(), last.status),
        ("POST", "/rest/api/3/issue/bulk", 0)
    );

    // A real HTTP client sees a transport error, not a status.
    let r = send(
        http()
            .post(format!("{}/__sandbox/faults", sb.base_url()))
            .json(&json!({"drop_after_commit": true, "path_prefix": "/rest/api/3/issue/bulk"})),
    )
    .await;
    assert_eq!(r.status, 200);
    let url = format!("{}/issue/bulk", At::Cloud.jira(&sb));
    let err = http()
        .post(&url)
        .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN))
        .json(&bulk_of(3, "dropped-again"))
        .send()
        .await
        .expect_err("no response may arrive");
    assert!(!err.is_status() && !err.is_timeout(), "{err:?}");
    assert_eq!(sb.issue_count("ENG"), 69);

    // The issues are there for the recovery search, and the sandbox serves normally again.
    let jql = "project = ENG AND reporter = currentUser() AND created >= -90m";
    let r = call(
        At::Cloud,
        "POST",
        &format!("{}/search/jql", At::Cloud.jira(&sb)),
        Some(&json!({"jql": jql, "properties": ["atlassian-mcp-bridge"]})),
    )
    .await;
    let ops: Vec<&str> = r.body["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .filter_map(|i| i["properties"]["atlassian-mcp-bridge"]["operation_id"].as_str())
        .collect();
    assert_eq!(
        ops,
        [
            "dropped-again",
            "dropped-again",
            "dropped-again",
            "dropped",
            "dropped"
        ]
    );
    let r = call(At::Cloud, "POST", &url, Some(&bulk_of(1, "after"))).await;
    assert_eq!((r.status, keys(&r.body)), (201, vec!["ENG-70".to_string()]));
    sb.shutdown().await;
}
