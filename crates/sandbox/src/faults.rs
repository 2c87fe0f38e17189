//! Fault injection: failure rules (status, count, `Retry-After`, path prefix, method, skips,
//! delays, dropped connections, oversized answers), the per-request latency switch, and the
//! replies a fault gives.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::Value;

use super::lock;
use super::wire::{self, Family, Reply};

/// Most items an inflated answer may hold (`FaultOptions::inflate_to`).
pub(super) const MAX_INFLATE: u32 = 200_000;
/// Largest body a `FaultOptions::body_bytes` answer may have (1 GiB).
pub(super) const MAX_FAULT_BODY: u64 = 1 << 30;

/// One injected failure rule.
#[derive(Debug, Clone)]
pub struct FaultSpec {
    /// Status to answer with (429, 503, 500 …); 0 answers normally (for rules that only delay
    /// or drop, see [`FaultOptions`]).
    pub status: u16,
    /// How many matching requests fail before the rule is used up.
    pub count: u32,
    /// `Retry-After` seconds to send, if any.
    pub retry_after: Option<u64>,
    /// Only requests whose path starts with this prefix match; `None` matches every path.
    /// The prefix is compared with the full request path and with the path inside the site
    /// (after `/ex/jira/{cloudId}`, `/ex/confluence/{cloudId}` or `/dc`).
    pub path_prefix: Option<String>,
}

/// More ways for a fault rule to match and act, for [`Faults::inject_with`] (and the same
/// fields in the `POST /__sandbox/faults` body). `Default` adds nothing, so
/// `inject(spec)` is `inject_with(spec, FaultOptions::default())`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultOptions {
    /// Only requests with this method (`POST`, case-insensitive) match; `None` matches any.
    pub method: Option<String>,
    /// Let the first `skip` matching requests through untouched before the rule fires, so a
    /// test can fail "the third chunk" (`skip: 2, count: 1`).
    pub skip: u32,
    /// Hold each matching request this long before handling it. With `status` 0 the request
    /// is then answered normally ("delay a chunk"); with a status it then fails.
    pub delay_ms: Option<u64>,
    /// Handle the request fully (its writes happen: issues are created, pages saved) and then
    /// close the connection without sending any HTTP response, so the client sees a transport
    /// error after the commit. `status` is ignored.
    pub drop_after_commit: bool,
    /// The `Retry-After` value to send verbatim (`"0"`, an HTTP date in the past or far
    /// future, `"1000000000"` …) instead of [`FaultSpec::retry_after`]'s seconds.
    pub retry_after_raw: Option<String>,
    /// With `status` 0: answer normally, then repeat the items of the answer's list
    /// (`issues`, `results`, `values` or `comments`, whichever comes first) until it holds
    /// this many — a site that ignores `maxResults`/`limit`. At most 200,000.
    pub inflate_to: Option<u32>,
    /// Answer 200 with a JSON body of this many bytes (an object with empty `issues` and
    /// `results` and a long `padding` string), streamed in chunks without `Content-Length`,
    /// instead of handling the request: an answer too big to buffer. At most 1 GiB.
    pub body_bytes: Option<u64>,
}

#[derive(Debug)]
struct FaultRule {
    spec: FaultSpec,
    opts: FaultOptions,
    remaining: u32,
    skip_left: u32,
}

impl FaultRule {
    fn matches(&self, method: &str, paths: &[&str]) -> bool {
        self.opts
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && match &self.spec.path_prefix {
                None => true,
                Some(prefix) => paths.iter().any(|p| p.starts_with(prefix.as_str())),
            }
    }
}

#[derive(Debug, Default)]
struct FaultState {
    latency_micros: AtomicU64,
    rules: Mutex<Vec<FaultRule>>,
}

/// Switches for latency and fault injection on a running sandbox.
///
/// Cloning shares the switches: a clone handed to another task drives the same sandbox.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    state: Arc<FaultState>,
}

impl Faults {
    /// Sets the per-request latency.
    pub fn set_latency(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.state.latency_micros.store(micros, Ordering::Relaxed);
    }

    /// The per-request latency currently in force.
    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.state.latency_micros.load(Ordering::Relaxed))
    }

    /// Adds a failure rule.
    pub fn inject(&self, spec: FaultSpec) {
        self.inject_with(spec, FaultOptions::default());
    }

    /// Adds a rule with a method filter, skips, a delay or a dropped connection.
    pub fn inject_with(&self, spec: FaultSpec, opts: FaultOptions) {
        let remaining = spec.count;
        let skip_left = opts.skip;
        let mut rules = lock(&self.state.rules);
        rules.push(FaultRule {
            spec,
            opts,
            remaining,
            skip_left,
        });
    }

    /// Removes every failure rule.
    pub fn clear(&self) {
        lock(&self.state.rules).clear();
    }

    /// How many injected failures are still pending over all rules, so a test can check
    /// that a client consumed exactly the faults it was meant to.
    pub fn pending(&self) -> u64 {
        lock(&self.state.rules)
            .iter()
            .map(|r| u64::from(r.remaining))
            .sum()
    }

    /// Takes one failure from the first rule matching the method and `paths`, atomically
    /// (under one lock), so concurrent requests never consume more than `count`. A matching
    /// rule that still has skips left lets the request pass it (and counts one skip).
    pub(super) fn take(&self, method: &str, paths: &[&str]) -> Option<(FaultSpec, FaultOptions)> {
        let mut rules = lock(&self.state.rules);
        let mut fired = None;
        for rule in rules.iter_mut() {
            if rule.remaining == 0 || !rule.matches(method, paths) {
                continue;
            }
            if rule.skip_left > 0 {
                rule.skip_left -= 1;
                continue;
            }
            rule.remaining -= 1;
            fired = Some((rule.spec.clone(), rule.opts.clone()));
            break;
        }
        rules.retain(|r| r.remaining > 0);
        fired
    }
}

/// What an injected fault (if any) makes of a request.
#[derive(Debug)]
pub(super) enum FaultAction {
    /// Handle the request normally.
    Serve,
    /// Handle it, then repeat the items of its answer's list until it holds this many.
    Inflate(u32),
    /// Handle it, then drop the connection without answering.
    Drop,
    /// Answer with this instead of handling it.
    Answer(Reply),
    /// Answer with a streamed JSON body of this many bytes instead of handling it.
    Huge(u64),
}

/// Waits out a fault's delay, then says whether to fail, serve or serve-and-drop.
pub(super) async fn apply_fault(
    fault: Option<(FaultSpec, FaultOptions)>,
    family: Family,
) -> FaultAction {
    let Some((spec, opts)) = fault else {
        return FaultAction::Serve;
    };
    if let Some(ms) = opts.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if opts.drop_after_commit {
        FaultAction::Drop
    } else if let Some(bytes) = opts.body_bytes {
        FaultAction::Huge(bytes.min(MAX_FAULT_BODY))
    } else if spec.status == 0 {
        match opts.inflate_to {
            Some(n) => FaultAction::Inflate(n.min(MAX_INFLATE)),
            None => FaultAction::Serve,
        }
    } else {
        FaultAction::Answer(fault_reply(family, &spec, opts.retry_after_raw.as_deref()))
    }
}

/// Repeats the items of the reply's list (`issues`, `results`, `values` or `comments`, the
/// first present) until it holds `n`; an empty or missing list stays as it is.
pub(super) fn inflate(reply: &mut Reply, n: u32) {
    let Some(body) = reply.body.as_mut() else {
        return;
    };
    let target = usize::try_from(n).unwrap_or(usize::MAX);
    for key in ["issues", "results", "values", "comments"] {
        if let Some(list) = body.get_mut(key).and_then(Value::as_array_mut) {
            let originals = list.len();
            let mut i = 0;
            while originals > 0 && list.len() < target {
                let copy = list[i % originals].clone();
                list.push(copy);
                i += 1;
            }
            return;
        }
    }
}

/// A 200 answer whose JSON body is `bytes` long, produced chunk by chunk (no
/// `Content-Length`), so the sandbox never holds it and the client must count as it reads.
pub(super) fn huge_answer(bytes: u64) -> Response {
    const HEAD: &[u8] = br#"{"issues":[],"results":[],"isLast":true,"padding":""#;
    const TAIL: &[u8] = br#""}"#;
    const CHUNK: u64 = 64 * 1024;
    let fixed = (HEAD.len() + TAIL.len()) as u64;
    let padding = bytes.saturating_sub(fixed);
    // State: (bytes of padding still to send, whether the head went out, whether done).
    let stream =
        futures::stream::unfold((padding, false, false), |(left, head, done)| async move {
            if done {
                return None;
            }
            if !head {
                return Some((
                    Ok::<_, std::io::Error>(Bytes::from_static(HEAD)),
                    (left, true, false),
                ));
            }
            if left == 0 {
                return Some((Ok(Bytes::from_static(TAIL)), (0, true, true)));
            }
            let n = left.min(CHUNK);
            let chunk = Bytes::from(vec![b'x'; usize::try_from(n).unwrap_or(0)]);
            Some((Ok(chunk), (left - n, true, false)))
        });
    let mut response = Response::new(Body::from_stream(stream));
    if let Ok(value) = axum::http::HeaderValue::from_str("application/json;charset=UTF-8") {
        response
            .headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, value);
    }
    response
}

fn fault_reply(family: Family, spec: &FaultSpec, raw_retry_after: Option<&str>) -> Reply {
    let status = if (100..=599).contains(&spec.status) {
        spec.status
    } else {
        500
    };
    let message = match status {
        429 => "Rate limit exceeded.",
        503 => "The service is temporarily unavailable. Please try again later.",
        _ => "The sandbox was told to fail this request.",
    };
    let mut reply = Reply::error(family, status, message);
    match (raw_retry_after, spec.retry_after) {
        (Some(raw), _) => reply = reply.header("Retry-After", raw),
        (None, Some(secs)) => reply = reply.header("Retry-After", &secs.to_string()),
        (None, None) => {}
    }
    if status == 429 {
        let secs = raw_retry_after
            .and_then(|r| r.trim().parse::<u64>().ok())
            .or(spec.retry_after)
            .unwrap_or(1);
        let wait = i64::try_from(secs).unwrap_or(i64::MAX / 4);
        let reset = time::OffsetDateTime::now_utc()
            .checked_add(time::Duration::seconds(wait))
            .unwrap_or_else(time::OffsetDateTime::now_utc);
        reply = reply
            .header("X-RateLimit-Reset", &wire::format_reset(reset))
            .header("RateLimit-Reason", "jira-burst-based")
            .header("X-RateLimit-Limit", "100")
            .header("X-RateLimit-Remaining", "0");
    }
    reply
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::{FaultOptions, FaultSpec};
    use crate::{SANDBOX_API_TOKEN, SANDBOX_EMAIL, SANDBOX_MAX_URL_BYTES, SandboxOptions, start};

    fn http() -> reqwest::Client {
        reqwest::Client::new()
    }

    async fn search(base: &str, query: &str) -> reqwest::Response {
        http()
            .get(format!("{base}/rest/api/3/search/jql?{query}"))
            .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN))
            .send()
            .await
            .expect("answer")
    }

    fn rule(options: FaultOptions) -> (FaultSpec, FaultOptions) {
        (
            FaultSpec {
                status: 0,
                count: 1,
                retry_after: None,
                path_prefix: Some("/rest/api/3/search/jql".to_string()),
            },
            options,
        )
    }

    #[tokio::test]
    async fn oversized_answers_and_raw_retry_after() {
        let sb = start(SandboxOptions::default()).await.expect("sandbox");
        let base = sb.base_url();
        let q = "jql=project%20%3D%20ENG&maxResults=2&fields=summary";

        let (spec, opts) = rule(FaultOptions {
            inflate_to: Some(300),
            ..FaultOptions::default()
        });
        sb.faults().inject_with(spec, opts);
        let body: Value = search(&base, q).await.json().await.expect("json");
        let issues = body["issues"].as_array().expect("issues");
        assert_eq!(issues.len(), 300, "maxResults ignored");
        assert_eq!(issues[2]["key"], issues[0]["key"], "repeats what it had");
        let body: Value = search(&base, q).await.json().await.expect("json");
        assert_eq!(body["issues"].as_array().map(Vec::len), Some(2), "used up");

        let (spec, opts) = rule(FaultOptions {
            body_bytes: Some(3 * 1024 * 1024 + 7),
            ..FaultOptions::default()
        });
        sb.faults().inject_with(spec, opts);
        let r = search(&base, q).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.content_length(), None, "streamed, no length announced");
        let bytes = r.bytes().await.expect("body");
        assert_eq!(bytes.len(), 3 * 1024 * 1024 + 7);
        let body: Value = serde_json::from_slice(&bytes).expect("valid JSON");
        assert_eq!(body["issues"], json!([]));

        let (mut spec, opts) = rule(FaultOptions {
            retry_after_raw: Some("Wed, 21 Oct 2015 07:28:00 GMT".to_string()),
            ..FaultOptions::default()
        });
        spec.status = 429;
        sb.faults().inject_with(spec, opts);
        let r = search(&base, q).await;
        assert_eq!(r.status(), 429);
        assert_eq!(
            r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
            Some("Wed, 21 Oct 2015 07:28:00 GMT")
        );
        assert_eq!(sb.faults().pending(), 0);
    }

    #[tokio::test]
    async fn long_urls_get_414_and_the_log_has_arrival_times() {
        let sb = start(SandboxOptions::default()).await.expect("sandbox");
        let base = sb.base_url();
        let fits = format!("jql={}", "a".repeat(SANDBOX_MAX_URL_BYTES - 100));
        assert_ne!(search(&base, &fits).await.status(), 414);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let long = format!("jql={}", "a".repeat(SANDBOX_MAX_URL_BYTES));
        let r = search(&base, &long).await;
        assert_eq!(r.status(), 414);
        assert!(r.text().await.expect("text").contains("<title>414"));
        let log = sb.timed_requests();
        assert_eq!(log.len(), 2);
        assert_eq!(log[1].request.status, 414);
        assert_eq!(log[1].request.path, "/rest/api/3/search/jql");
        assert!(log[1].at >= log[0].at + Duration::from_millis(30));
        let listed: Value = http()
            .get(format!("{base}/__sandbox/requests"))
            .send()
            .await
            .expect("log")
            .json()
            .await
            .expect("json");
        let at = listed["requests"][1]["at_ms"].as_f64().expect("at_ms");
        assert!((at - log[1].at.as_secs_f64() * 1000.0).abs() < 1.0);
    }

    #[tokio::test]
    async fn the_control_endpoint_takes_and_checks_the_new_switches() {
        let sb = start(SandboxOptions::default()).await.expect("sandbox");
        let post = |body: Value| {
            let url = format!("{}/__sandbox/faults", sb.base_url());
            async move { http().post(url).json(&body).send().await.expect("answer") }
        };
        for ok in [
            json!({"inflate_to": 10}),
            json!({"body_bytes": 100}),
            json!({"status": 429, "retry_after_raw": "0"}),
        ] {
            assert_eq!(post(ok.clone()).await.status(), 200, "{ok}");
        }
        for bad in [
            json!({"inflate_to": 200_001}),
            json!({"body_bytes": 2_000_000_000u64}),
            json!({"status": 429, "retry_after_raw": "a\nb"}),
        ] {
            assert_eq!(post(bad.clone()).await.status(), 400, "{bad}");
        }
    }
}
