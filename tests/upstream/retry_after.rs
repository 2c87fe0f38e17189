//! `Retry-After` forms: `0` and past dates retry after a floor (never a burst), a wait longer
//! than the call's budget gives up at once naming the wait and when to try again.

use std::time::Duration;

use atlassian_mcp_bridge::sandbox::{FaultOptions, FaultSpec};
use serde_json::json;

use crate::support::{Env, Flavor, call, err, ok};

const SEARCH: &str = "/rest/api/3/search/jql";
/// The shortest wait between two attempts (a quarter of the default 1 s base backoff).
const FLOOR: Duration = Duration::from_millis(250);

fn rate_limit(env: &Env, status: u16, count: u32, retry_after: &str) {
    env.sandbox.faults().inject_with(
        FaultSpec {
            status,
            count,
            retry_after: None,
            path_prefix: Some(SEARCH.to_string()),
        },
        FaultOptions {
            retry_after_raw: Some(retry_after.to_string()),
            ..FaultOptions::default()
        },
    );
}

/// Statuses and arrival times of the search requests since the log was cleared.
fn attempts(env: &Env) -> Vec<(u16, Duration)> {
    env.sandbox
        .timed_requests()
        .into_iter()
        .filter(|t| t.request.path == SEARCH)
        .map(|t| (t.request.status, t.at))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_or_past_retry_after_waits_at_least_the_floor() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    for (status, value) in [
        (429, "0"),
        (503, "Wed, 21 Oct 2015 07:28:00 GMT"),
        (429, "Thu, 01 Jan 1970 00:00:00 GMT"),
    ] {
        env.sandbox.clear_requests();
        rate_limit(&env, status, 3, value);
        ok(&call(&client, "jira_search", json!({"jql": "project = ENG"})).await);
        let seen = attempts(&env);
        let statuses: Vec<u16> = seen.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            statuses,
            [status, status, status, 200],
            "Retry-After: {value}"
        );
        let gaps: Vec<Duration> = seen.windows(2).map(|p| p[1].1 - p[0].1).collect();
        eprintln!("Retry-After {value}: gaps {gaps:?}");
        for pair in seen.windows(2) {
            let gap = pair[1].1 - pair[0].1;
            assert!(
                gap >= FLOOR,
                "Retry-After: {value}: retried after {gap:?}, under the {FLOOR:?} floor"
            );
        }
    }
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_past_the_budget_gives_up_at_once_and_names_it() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    for (status, value, wait) in [
        (429, "1000000", "asks to wait 11 days"),
        (429, "1000000000", "asks to wait 11574 days"),
        (503, "Fri, 01 Jan 2100 00:00:00 GMT", " days, "),
        (429, "31", "asks to wait 31 s"),
    ] {
        env.sandbox.clear_requests();
        rate_limit(&env, status, 1, value);
        let msg = err(&call(&client, "jira_search", json!({"jql": "project = ENG"})).await);
        assert!(msg.contains("rate limiting"), "{msg}");
        assert!(msg.contains(wait), "{value}: {msg}");
        assert!(msg.contains("try again after "), "{value}: {msg}");
        if value.contains("2100") {
            assert!(
                msg.contains("try again after 2100-01-01 00:00 UTC"),
                "{msg}"
            );
        }
        assert_eq!(attempts(&env).len(), 1, "{value}: no retry");
        assert_eq!(env.sandbox.faults().pending(), 0);
    }
    client.cancel().await.ok();
}
