//! [`Remote`] against a real in-process upstream (rmcp's Streamable HTTP server on loopback).

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::test_upstream::{Upstream, UpstreamState};
use super::{BearerSource, Remote, RemoteError};
use crate::auth::AuthError;
use crate::secret::Secret;

/// Guards against a hang; not a timing assertion.
async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("the test hung")
}

/// A token source with a current token and, optionally, the one it hands out after a 401.
struct Tokens {
    current: Mutex<String>,
    next: Mutex<Option<String>>,
    rejected: Mutex<Vec<String>>,
}

impl Tokens {
    fn new(current: &str, next: Option<&str>) -> Arc<Self> {
        Arc::new(Self {
            current: Mutex::new(current.to_string()),
            next: Mutex::new(next.map(str::to_string)),
            rejected: Mutex::new(Vec::new()),
        })
    }
}

impl BearerSource for Tokens {
    fn bearer<'a>(
        &'a self,
        rejected: Option<&'a Secret>,
    ) -> BoxFuture<'a, Result<Secret, AuthError>> {
        Box::pin(async move {
            if let Some(r) = rejected {
                self.rejected.lock().unwrap().push(r.expose().to_string());
                if let Some(next) = self.next.lock().unwrap().take() {
                    *self.current.lock().unwrap() = next;
                }
            }
            Ok(Secret::new(self.current.lock().unwrap().clone()))
        })
    }
}

/// A source whose sign-in is gone.
struct Dead(AuthError);

impl BearerSource for Dead {
    fn bearer<'a>(&'a self, _: Option<&'a Secret>) -> BoxFuture<'a, Result<Secret, AuthError>> {
        Box::pin(async move { Err(self.0.clone()) })
    }
}

async fn upstream() -> Upstream {
    Upstream::start(UpstreamState::new("good-token", 1)).await
}

fn remote(up: &Upstream) -> Remote {
    Remote::new(up.url.clone(), Tokens::new("good-token", None))
}

fn names(tools: &[rmcp::model::Tool]) -> Vec<String> {
    tools.iter().map(|t| t.name.to_string()).collect()
}

fn args(v: serde_json::Value) -> Option<rmcp::model::JsonObject> {
    match v {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_on_first_use_and_caches_the_tool_list() {
    let up = upstream().await;
    let remote = remote(&up);
    let _changes = remote.changes();
    assert_eq!(up.state.requests(), 0, "no request before first use");

    // Concurrent first callers share one connection and one listing.
    let (a, b) = within(futures::future::join(remote.tools(), remote.tools())).await;
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(names(&a), ["echo", "fail", "progress", "wait", "add_tool"]);
    assert_eq!(names(&a), names(&b));
    assert!(up.state.requests() > 0);
    assert_eq!(up.state.lists.load(Ordering::SeqCst), 1);

    let again = within(remote.tools()).await.unwrap();
    assert!(Arc::ptr_eq(&a, &again), "served from the cache");
    assert_eq!(up.state.lists.load(Ordering::SeqCst), 1);
    assert_eq!(up.sessions().await, 1);

    // Closing deletes the session upstream.
    remote.close().await;
    within(async {
        while up.sessions().await > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_calls_share_one_session() {
    let up = upstream().await;
    let remote = remote(&up);
    let call = |n: i64| {
        remote.call(
            "echo",
            args(json!({"n": n})),
            None,
            CancellationToken::new(),
        )
    };
    let (a, b) = within(futures::future::join(call(1), call(2))).await;
    assert_eq!(a.unwrap().structured_content.unwrap()["echo"]["n"], 1);
    assert_eq!(b.unwrap().structured_content.unwrap()["echo"]["n"], 2);
    assert_eq!(up.sessions().await, 1);
    remote.close().await;
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_structured_content_is_error_and_rpc_errors() {
    let up = upstream().await;
    let remote = remote(&up);
    let ct = CancellationToken::new();

    let echoed = within(remote.call("echo", args(json!({"x": 1})), None, ct.clone()))
        .await
        .unwrap();
    assert_eq!(
        echoed.structured_content,
        Some(json!({"echo": {"x": 1}, "generation": 1}))
    );
    assert_ne!(echoed.is_error, Some(true));

    let failed = within(remote.call("fail", None, None, ct.clone()))
        .await
        .unwrap();
    assert_eq!(failed.is_error, Some(true));
    let text = failed.content[0].as_text().map(|t| t.text.clone());
    assert_eq!(text.as_deref(), Some("the tool failed"));

    let err = within(remote.call("boom", None, None, ct.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RemoteError::Rpc { code: -32602, message } if message.contains("no such argument")),
        "{err:?}"
    );
    assert_eq!(err.status(), 200);

    // A call without a progress sink carries neither a progress token nor our route key.
    let metas = up.state.call_metas.lock().unwrap().clone();
    assert_eq!(metas.len(), 3);
    for meta in metas {
        let text = meta.to_string();
        assert!(!text.contains("progressToken"), "{text}");
        assert!(!text.contains(super::progress::ROUTE_KEY), "{text}");
    }
    remote.close().await;
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_progress_in_order_before_the_result() {
    let up = upstream().await;
    let remote = remote(&up);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();

    let result = within(remote.call("progress", None, Some(tx), CancellationToken::new()))
        .await
        .unwrap();
    assert_eq!(
        result.content[0].as_text().map(|t| t.text.as_str()),
        Some("done")
    );

    let mut seen = Vec::new();
    while let Ok(note) = rx.try_recv() {
        assert_eq!(note.total, Some(3.0));
        seen.push(note.progress);
    }
    assert_eq!(seen, [1.0, 2.0, 3.0]);
    assert_eq!(remote.routes_in_use(), 0, "the route ends with the call");

    let meta = up.state.call_metas.lock().unwrap()[0].to_string();
    assert!(meta.contains("progressToken"), "{meta}");
    assert!(!meta.contains(super::progress::ROUTE_KEY), "{meta}");
    remote.close().await;
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_reaches_the_upstream() {
    let up = upstream().await;
    let remote = remote(&up);
    let ct = CancellationToken::new();
    let call = tokio::spawn({
        let remote = remote.clone();
        let ct = ct.clone();
        async move { remote.call("wait", None, None, ct).await }
    });
    // The upstream tool is running.
    within(up.state.wait_events.notified()).await;
    ct.cancel();
    let result = within(call).await.unwrap();
    assert_eq!(result.unwrap_err(), RemoteError::Cancelled);
    within(async {
        while !up.state.cancelled.load(Ordering::SeqCst) {
            up.state.wait_events.notified().await;
        }
    })
    .await;
    remote.close().await;
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_its_timeout_is_cancelled_upstream() {
    let up = upstream().await;
    let remote = remote(&up);
    // Connect with the default limit; the short one applies to the call only.
    within(remote.tools()).await.unwrap();
    let quick = remote.clone().with_call_timeout(Duration::from_millis(300));
    let err = within(quick.call("wait", None, None, CancellationToken::new()))
        .await
        .unwrap_err();
    assert_eq!(err, RemoteError::Timeout(Duration::from_millis(300)));
    assert!(err.is_unreachable());
    within(async {
        while !up.state.cancelled.load(Ordering::SeqCst) {
            up.state.wait_events.notified().await;
        }
    })
    .await;
    remote.close().await;
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_changed_bumps_changes_and_the_next_listing_sees_it() {
    let up = upstream().await;
    let remote = remote(&up);
    assert!(!names(&within(remote.tools()).await.unwrap()).contains(&"extra".to_string()));
    let mut changes = remote.changes();
    let before = *changes.borrow_and_update();

    within(remote.call("add_tool", None, None, CancellationToken::new()))
        .await
        .unwrap();
    within(changes.wait_for(|n| *n > before)).await.unwrap();

    let tools = within(remote.tools()).await.unwrap();
    assert!(
        names(&tools).contains(&"extra".to_string()),
        "{:?}",
        names(&tools)
    );
    assert_eq!(up.state.lists.load(Ordering::SeqCst), 2);
    remote.close().await;
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_replaced_once() {
    let up = Upstream::start(UpstreamState::new("fresh", 1)).await;
    let tokens = Tokens::new("stale", Some("fresh"));
    let remote = Remote::new(up.url.clone(), tokens.clone());
    within(remote.tools()).await.unwrap();
    assert_eq!(*tokens.rejected.lock().unwrap(), ["stale"]);
    let done = within(remote.call("echo", None, None, CancellationToken::new())).await;
    assert!(done.is_ok(), "{done:?}");
    remote.close().await;
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_refusal_says_to_sign_in_to_the_upstream() {
    let up = Upstream::start(UpstreamState::new("right", 1)).await;
    let tokens = Tokens::new("wrong-one", Some("wrong-two"));
    let remote = Remote::new(up.url.clone(), tokens.clone());
    let err = within(remote.tools()).await.unwrap_err();
    let RemoteError::SignIn(message) = &err else {
        panic!("{err:?}");
    };
    assert!(
        message.contains("atlassian-mcp-bridge login --upstream"),
        "{message}"
    );
    assert!(
        !message.contains("wrong"),
        "no token in messages: {message}"
    );
    assert_eq!(err.status(), 401);
    assert_eq!(*tokens.rejected.lock().unwrap(), ["wrong-one"]);
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_sign_in_says_to_run_login_upstream() {
    let up = upstream().await;
    for dead in [
        AuthError::NotSignedIn,
        AuthError::SignInExpired("revoked".into()),
    ] {
        let remote = Remote::new(up.url.clone(), Arc::new(Dead(dead)));
        let err = within(remote.call("echo", None, None, CancellationToken::new()))
            .await
            .unwrap_err();
        let RemoteError::SignIn(message) = &err else {
            panic!("{err:?}");
        };
        assert!(message.contains("login --upstream"), "{message}");
        assert!(!err.is_unreachable());
    }
    assert_eq!(up.state.requests(), 0, "nothing is sent without a token");
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_is_not_listening_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = Url::parse(&format!("http://127.0.0.1:{port}/mcp")).unwrap();
    let remote = Remote::new(url.clone(), Tokens::new("t", None));
    for err in [
        within(remote.tools()).await.unwrap_err(),
        within(remote.call("echo", None, None, CancellationToken::new()))
            .await
            .unwrap_err(),
    ] {
        assert!(err.is_unreachable(), "{err:?}");
        assert_eq!(err.status(), 0);
        let message = err.to_string();
        assert!(message.contains(url.as_str()), "{message}");
        assert!(message.contains("could not be reached"), "{message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_upstream_restarts() {
    let up = upstream().await;
    let remote = remote(&up);
    let ct = CancellationToken::new();
    let first = within(remote.call("echo", None, None, ct.clone()))
        .await
        .unwrap();
    assert_eq!(first.structured_content.unwrap()["generation"], 1);
    within(remote.tools()).await.unwrap();
    let before = *remote.changes().borrow();

    let addr = up.addr;
    within(up.stop()).await;
    let up = Upstream::start_at(addr, UpstreamState::new("good-token", 2)).await;

    let second = within(remote.call("echo", None, None, ct.clone()))
        .await
        .unwrap();
    assert_eq!(second.structured_content.unwrap()["generation"], 2);
    assert!(
        *remote.changes().borrow() > before,
        "a new session may mean new tools"
    );
    within(remote.tools()).await.unwrap();
    assert_eq!(
        up.state.lists.load(Ordering::SeqCst),
        1,
        "listed again on the new server"
    );

    // After close, the next use opens a new session.
    remote.close().await;
    let third = within(remote.call("echo", None, None, ct)).await.unwrap();
    assert_eq!(third.structured_content.unwrap()["generation"], 2);
    remote.close().await;
    up.stop().await;
}
