//! Unit tests of the HTTP client: retry budget and waits, `Retry-After` forms, body limits.

use super::*;

#[test]
fn retry_after_seconds_and_date() {
    let mut h = HeaderMap::new();
    h.insert("retry-after", HeaderValue::from_static("7"));
    assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(7)));
    h.insert(
        "retry-after",
        HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
    );
    assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
    h.insert("retry-after", HeaderValue::from_static("soon"));
    assert_eq!(parse_retry_after(&h), None);
}

#[test]
fn budget_limits_retries_and_wait() {
    let policy = RetryPolicy::default();
    let trace = CallTrace::new();
    assert!(trace.take_retry(&policy, Duration::from_secs(20)));
    assert!(!trace.take_retry(&policy, Duration::from_secs(11)));
    for _ in 0..3 {
        assert!(trace.take_retry(&policy, Duration::from_secs(1)));
    }
    assert!(
        !trace.take_retry(&policy, Duration::ZERO),
        "fifth retry refused"
    );
}

#[test]
fn only_idempotent_requests_retry_gateway_errors() {
    let url = Url::parse("https://x.invalid/").unwrap();
    assert!(ApiRequest::get(Product::Jira, url.clone()).idempotent);
    assert!(!ApiRequest::post(Product::Jira, url.clone()).idempotent);
    assert!(ApiRequest::put(Product::Jira, url.clone()).idempotent);
    let put = ApiRequest::put(Product::Jira, url)
        .json(serde_json::json!({"a": 1}))
        .not_idempotent();
    assert!(!put.idempotent);
    assert_eq!(put.body, Some(serde_json::json!({"a": 1})));
}

#[test]
fn auth_header_is_sensitive_and_debug_hides_it() {
    let c = Credentials::Basic {
        email: "me@x.com".into(),
        token: Secret::new("tok"),
    };
    let h = c.header().unwrap();
    assert!(h.is_sensitive());
    let client = HttpClient::new(&c, RetryPolicy::default(), Duration::from_secs(5)).unwrap();
    let shown = format!("{client:?}");
    assert!(!shown.contains("bWVAeC5jb206dG9r"), "{shown}");
}

#[test]
fn absurd_and_future_retry_after_are_kept_as_asked() {
    let mut h = HeaderMap::new();
    h.insert("retry-after", HeaderValue::from_static("1000000000"));
    assert_eq!(
        parse_retry_after(&h),
        Some(Duration::from_secs(1_000_000_000)),
        "not cut to a day: the message names the wait"
    );
    h.insert(
        "retry-after",
        HeaderValue::from_static("Fri, 01 Jan 2100 00:00:00 GMT"),
    );
    let wait = parse_retry_after(&h).expect("a date");
    assert!(wait > Duration::from_secs(60 * 365 * 86_400), "{wait:?}");
}

fn client(policy: RetryPolicy) -> HttpClient {
    HttpClient::new(
        &Credentials::Bearer(Secret::new("t")),
        policy,
        Duration::from_secs(10),
    )
    .expect("client")
}

#[test]
fn zero_or_past_retry_after_waits_between_one_and_two_floors() {
    let c = client(RetryPolicy::default());
    let floor = RetryPolicy::default().min_wait();
    assert_eq!(floor, Duration::from_millis(250));
    for _ in 0..200 {
        for asked in [Some(Duration::ZERO), Some(Duration::from_millis(10))] {
            let wait = c.wait_before_retry(asked, 0);
            assert!(wait >= floor && wait < floor * 2, "{wait:?}");
        }
        assert!(c.wait_before_retry(None, 0) >= floor);
    }
    let asked = Duration::from_secs(3);
    assert_eq!(c.wait_before_retry(Some(asked), 2), asked);
}

/// A loopback server: `/big` sends `n` bytes with a `Content-Length`, `/err` a 500 with a
/// 200 KB body, `/limited` a 429 with `Retry-After: <value of ?ra=>`; counts requests.
async fn server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::extract::Query;
    use axum::http::StatusCode as S;
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new()
        .route(
            "/big",
            axum::routing::get(|Query(q): Query<HashMap<String, usize>>| async move {
                let n = q.get("n").copied().unwrap_or(0);
                format!("\"{}\"", "x".repeat(n.saturating_sub(2)))
            }),
        )
        .route(
            "/err",
            axum::routing::get(|| async {
                (
                    S::INTERNAL_SERVER_ERROR,
                    format!("boom{}", "y".repeat(200_000)),
                )
            }),
        )
        .route(
            "/limited",
            axum::routing::get(move |Query(q): Query<HashMap<String, String>>| {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let ra = q.get("ra").cloned().unwrap_or_default();
                    (S::TOO_MANY_REQUESTS, [("retry-after", ra)], "{}")
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (format!("http://{addr}"), hits)
}

#[tokio::test]
async fn bodies_past_the_request_limit_fail_and_error_bodies_are_clipped() {
    let (base, _) = server().await;
    let c = client(RetryPolicy::default());
    let get = |path: &str, n: usize| {
        ApiRequest::get(
            Product::Jira,
            Url::parse(&format!("{base}{path}")).expect("url"),
        )
        .query("n", n.to_string())
    };
    let trace = CallTrace::new();
    // Announced by Content-Length: refused before reading.
    let err = c
        .send(&trace, get("/big", 5000).max_body(4096))
        .await
        .expect_err("too large");
    assert!(
        matches!(&err, ApiError::TooLarge { limit: 4096, request, .. } if request == "GET /big"),
        "{err:?}"
    );
    assert_eq!(
        err.user_message(),
        "Jira sent more than 4 KiB for GET /big, more than the bridge reads from one answer; ask for fewer results or fields, or narrow the query"
    );
    // Exactly at the limit is fine.
    let ok = c
        .send(&trace, get("/big", 4096).max_body(4096))
        .await
        .expect("fits");
    assert_eq!(ok.as_str().map(str::len), Some(4094));
    // An error body is read only for its message, so a huge one still gives the status.
    let err = c.send(&trace, get("/err", 0)).await.expect_err("500");
    assert_eq!(err.status(), Some(500));
    assert!(
        err.user_message().contains("boom"),
        "{}",
        err.user_message()
    );
    assert_eq!(
        trace
            .upstream()
            .iter()
            .map(|u| u.status)
            .collect::<Vec<_>>(),
        [200, 200, 500]
    );
}

#[tokio::test]
async fn a_wait_past_what_is_left_of_the_budget_gives_up_naming_it() {
    let (base, hits) = server().await;
    let policy = RetryPolicy {
        max_retries: 4,
        max_wait: Duration::from_millis(1500),
        base_backoff: Duration::from_millis(40),
    };
    let c = client(policy);
    let limited = |ra: &str| {
        ApiRequest::get(
            Product::Jira,
            Url::parse(&format!("{base}/limited")).expect("url"),
        )
        .query("ra", ra)
    };
    // 1 s fits the 1.5 s budget once; the second time only 0.5 s is left.
    let err = c
        .send(&CallTrace::new(), limited("1"))
        .await
        .expect_err("rate limited");
    assert_eq!(hits.swap(0, std::sync::atomic::Ordering::SeqCst), 2);
    let ApiError::RateLimited {
        retry_after,
        retry_at,
        wait_too_long,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(1)));
    assert!(*wait_too_long && retry_at.is_some());
    assert!(
        err.user_message().contains("asks to wait 1 s"),
        "{}",
        err.user_message()
    );
    // `0` every time: four retries after the floor, then "used up", not "too long".
    let err = c
        .send(&CallTrace::new(), limited("0"))
        .await
        .expect_err("rate limited");
    assert_eq!(hits.swap(0, std::sync::atomic::Ordering::SeqCst), 5);
    assert!(
        matches!(
            err,
            ApiError::RateLimited {
                wait_too_long: false,
                retry_at: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.user_message().contains("retries were used up"));
}
