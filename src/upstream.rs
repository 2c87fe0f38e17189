//! What every outbound HTTP request shares, below both the Atlassian client and the sign-in:
//! the product's User-Agent, the per-call trace of requests and retry budget, URL path
//! building, and reading Atlassian's error bodies. A leaf: it imports only `audit`'s record type
//! and `sanitize`.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::Method;
use url::Url;

use crate::audit::Upstream;
use crate::sanitize::clean_text;

/// The product's User-Agent, so site admins can tell our traffic apart.
pub const USER_AGENT: &str = concat!("atlassian-mcp-bridge/", env!("CARGO_PKG_VERSION"));

/// Retry limits (SPEC §9): at most `max_retries` retries and `max_wait` of waiting per tool call.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries allowed within one tool call.
    pub max_retries: u32,
    /// Total time one tool call may spend waiting between attempts.
    pub max_wait: Duration,
    /// First backoff when the server gives no `Retry-After` (doubles per attempt, ±30 % jitter).
    pub base_backoff: Duration,
}

impl RetryPolicy {
    /// The shortest wait before any retry: a quarter of `base_backoff` (250 ms by default).
    /// A `Retry-After` of `0` or of a date already past waits between one and two of these,
    /// so a server that says "now" is never answered with a burst of requests.
    pub fn min_wait(&self) -> Duration {
        self.base_backoff / 4
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            max_wait: Duration::from_secs(30),
            base_backoff: Duration::from_secs(1),
        }
    }
}

/// Per-tool-call record of upstream requests and of the retry budget spent.
///
/// One `CallTrace` is created for each `tools/call`; every request made on its behalf is
/// appended here and ends up in that call's audit record.
#[derive(Debug, Default)]
pub struct CallTrace {
    inner: Mutex<TraceInner>,
}

#[derive(Debug, Default)]
struct TraceInner {
    upstream: Vec<Upstream>,
    retries: u32,
    waited: Duration,
}

impl CallTrace {
    /// A fresh trace with an unspent budget.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one upstream request (also used by the OAuth token client).
    pub(crate) fn record(&self, method: &Method, path: &str, status: u16, elapsed: Duration) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.upstream.push(Upstream {
                method: method.as_str().to_string(),
                path: path.to_string(),
                status,
                ms: (elapsed.as_secs_f64() * 10_000.0).round() / 10.0,
            });
        }
    }

    /// Reserves one retry that waits `wait`; false when the call's budget would be exceeded.
    pub(crate) fn take_retry(&self, policy: &RetryPolicy, wait: Duration) -> bool {
        let Ok(mut inner) = self.inner.lock() else {
            return false;
        };
        let Some(waited) = inner.waited.checked_add(wait) else {
            return false;
        };
        if inner.retries >= policy.max_retries || waited > policy.max_wait {
            return false;
        }
        inner.retries += 1;
        inner.waited = waited;
        true
    }

    /// How much of the call's waiting budget is left: zero once it is spent, or once its
    /// retries are all used (no wait can be granted then).
    pub(crate) fn wait_left(&self, policy: &RetryPolicy) -> Duration {
        self.inner
            .lock()
            .ok()
            .filter(|inner| inner.retries < policy.max_retries)
            .map(|inner| policy.max_wait.saturating_sub(inner.waited))
            .unwrap_or_default()
    }

    /// The requests made so far, in order.
    pub fn upstream(&self) -> Vec<Upstream> {
        self.inner
            .lock()
            .map(|i| i.upstream.clone())
            .unwrap_or_default()
    }
}

/// `base` with extra path segments appended (each percent-encoded).
pub fn with_segments(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    push_segments(&mut url, segments);
    url
}

fn push_segments(url: &mut Url, segments: &[&str]) {
    // Invariant-free: `path_segments_mut` only fails for cannot-be-a-base URLs, and config
    // validation guarantees http(s) URLs with a host; on that impossible path we keep the URL.
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        for s in segments {
            path.push(s);
        }
    }
}

/// Extracts the server's messages from an error body of any Atlassian shape.
///
/// Returns an empty list when the body has no recognisable message (the caller then
/// reports the status alone). HTML error pages are reduced to their `<title>`.
pub fn parse_error_body(body: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if let Some(start) = text.find("<title>") {
            let rest = &text[start + 7..];
            if let Some(end) = rest.find("</title>") {
                out.push(limit(rest[..end].trim()));
            }
        } else if !text.is_empty() && !text.starts_with('<') {
            out.push(limit(text));
        }
        return out;
    };
    // Jira ErrorCollection: {"errorMessages":[...],"errors":{field: msg}}
    if let Some(list) = json.get("errorMessages").and_then(|v| v.as_array()) {
        out.extend(list.iter().filter_map(|m| m.as_str()).map(limit));
    }
    if let Some(map) = json.get("errors").and_then(|v| v.as_object()) {
        out.extend(
            map.iter()
                .filter_map(|(k, v)| v.as_str().map(|m| limit(&format!("{k}: {m}")))),
        );
    }
    // Confluence v2: {"errors":[{"status":400,"code":"…","title":"…","detail":"…"}]}
    if let Some(list) = json.get("errors").and_then(|v| v.as_array()) {
        for e in list {
            let title = e.get("title").and_then(|v| v.as_str());
            let detail = e.get("detail").and_then(|v| v.as_str());
            let code = e.get("code").and_then(|v| v.as_str());
            let text = match (title, detail) {
                (Some(t), Some(d)) if !d.is_empty() => format!("{t}: {d}"),
                (Some(t), _) => t.to_string(),
                (None, Some(d)) => d.to_string(),
                (None, None) => code.unwrap_or_default().to_string(),
            };
            if !text.is_empty() {
                out.push(limit(&text));
            }
        }
    }
    // Confluence v1 / gateway: {"message": "..."} (+ "reason")
    if out.is_empty()
        && let Some(m) = json.get("message").and_then(|v| v.as_str())
    {
        out.push(limit(m));
    }
    if out.is_empty()
        && let Some(m) = json
            .get("error_description")
            .or_else(|| json.get("error"))
            .and_then(|v| v.as_str())
    {
        out.push(limit(m));
    }
    out
}

/// Keeps server messages to a readable length and free of control characters.
fn limit(s: &str) -> String {
    let s = clean_text(s);
    if s.chars().count() > 500 {
        let cut: String = s.chars().take(500).collect();
        format!("{cut}…")
    } else {
        s
    }
}
