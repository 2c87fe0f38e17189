//! Tests for the unreachable switch (SPEC §10 "unreachable"): the port refuses connections,
//! open and pooled keep-alive connections are closed at once, the site comes back on the same
//! port, the control endpoint's timed outage, and latency injection around outages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::tests::{cloud, http, sandbox, send};
use super::*;

// ---------------------------------------------------------------------------------------------
// Unreachable
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unreachable_refuses_new_and_pooled_connections_and_comes_back_on_the_same_port() {
    let sb = sandbox().await;
    let port = sb.addr().port();
    // One client for the whole test: keep-alive on, so its connection is pooled.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("{}/rest/api/3/myself", sb.base_url());
    let get = || {
        client
            .get(&url)
            .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN))
            .send()
    };
    for round in 0..20 {
        assert_eq!(get().await.unwrap().status(), 200, "round {round}");
        assert_eq!(get().await.unwrap().status(), 200, "round {round}");
        sb.set_reachable(false);
        assert!(!sb.is_reachable());
        // The pooled connection was shut down before `set_reachable` returned; one yield lets
        // this runtime's client notice before it picks the connection for the next request.
        tokio::task::yield_now().await;
        let t = Instant::now();
        let err = get().await.expect_err("the site is unreachable");
        assert!(
            err.is_connect(),
            "round {round}: not a connect error: {err:?}"
        );
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        let err = get().await.expect_err("still unreachable");
        assert!(err.is_connect(), "round {round}: {err:?}");
        sb.set_reachable(true);
        assert!(sb.is_reachable());
        assert_eq!(get().await.unwrap().status(), 200, "round {round}");
        assert_eq!(sb.addr().port(), port);
    }
    // Without the yield the request may race onto the closed pooled connection: it still fails
    // at once (no answer at all), and the next one is a connect error.
    assert_eq!(get().await.unwrap().status(), 200);
    sb.set_reachable(false);
    let t = Instant::now();
    assert!(get().await.is_err());
    assert!(get().await.expect_err("dark").is_connect());
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    sb.set_reachable(true);
    assert_eq!(get().await.unwrap().status(), 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn going_dark_closes_an_open_keep_alive_connection_at_once() {
    let sb = sandbox().await;
    let mut conn = tokio::net::TcpStream::connect(sb.addr()).await.unwrap();
    let request = format!(
        "GET /__sandbox/state HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\n\r\n",
        sb.addr()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 16 * 1024];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    sb.set_reachable(false);
    // End of file (or a reset) right away, not after some idle timeout.
    let read = tokio::time::timeout(Duration::from_millis(500), conn.read(&mut buf)).await;
    match read {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        other => panic!("the connection stayed open: {other:?}"),
    }
    // A dark sandbox still shuts down promptly, and stays down.
    let addr = sb.addr();
    let t = Instant::now();
    sb.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn unreachable_control_endpoint_answers_then_goes_dark_for_n_seconds() {
    let sb = sandbox().await;
    let base = sb.base_url();
    let myself = format!("{base}/rest/api/3/myself");
    let r = send(
        http()
            .post(format!("{base}/__sandbox/unreachable"))
            .json(&json!({"secs": 1})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["reachable"], false);
    let dark = Instant::now();
    let err = http().get(&myself).send().await.expect_err("dark");
    assert!(err.is_connect(), "{err:?}");
    let back = loop {
        match http()
            .get(&myself)
            .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN))
            .send()
            .await
        {
            Ok(r) => break r,
            Err(_) if dark.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("never came back: {e}"),
        }
    };
    assert_eq!(back.status(), 200);
    assert!(
        dark.elapsed() >= Duration::from_millis(900),
        "{:?}",
        dark.elapsed()
    );

    // A timed outage does not end one started after it.
    let r = send(
        http()
            .post(format!("{base}/__sandbox/unreachable"))
            .json(&json!({"secs": 1})),
    )
    .await;
    assert_eq!(r.status, 200);
    sb.set_reachable(true);
    sb.set_reachable(false);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!sb.is_reachable());
    sb.set_reachable(true);

    let r = send(
        http()
            .post(format!("{base}/__sandbox/unreachable"))
            .json(&json!({"secs": 0})),
    )
    .await;
    assert_eq!((r.status, &r.body["reachable"]), (200, &json!(true)));
    for bad in [
        json!({}),
        json!({"secs": -1}),
        json!({"secs": 86_401}),
        json!({"ms": 5}),
    ] {
        let r = send(
            http()
                .post(format!("{base}/__sandbox/unreachable"))
                .json(&bad),
        )
        .await;
        assert_eq!(r.status, 400, "{bad}");
    }
    let r = send(http().get(format!("{base}/__sandbox/state"))).await;
    assert_eq!(r.body["reachable"], true);
    sb.shutdown().await;
}

#[tokio::test]
async fn latency_still_applies_around_outages() {
    let sb = sandbox().await;
    sb.faults().set_latency(Duration::from_millis(50));
    let url = format!(
        "/rest/api/3/search/jql?jql={}&maxResults=5&fields=summary",
        wire::enc("project = ENG")
    );
    for _ in 0..2 {
        let t = Instant::now();
        assert_eq!(cloud(&sb, &url).await.status, 200);
        assert!(t.elapsed() >= Duration::from_millis(50));
        sb.set_reachable(false);
        sb.set_reachable(true);
    }
    sb.shutdown().await;
}
