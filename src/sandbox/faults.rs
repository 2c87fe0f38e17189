//! Fault injection: failure rules (status, count, `Retry-After`, path prefix, method, skips,
//! delays, dropped connections), the per-request latency switch, and the replies a fault gives.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::lock;
use super::wire::{self, Family, Reply};

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
    /// Handle it, then drop the connection without answering.
    Drop,
    /// Answer with this instead of handling it.
    Answer(Reply),
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
    } else if spec.status == 0 {
        FaultAction::Serve
    } else {
        FaultAction::Answer(fault_reply(family, &spec))
    }
}

fn fault_reply(family: Family, spec: &FaultSpec) -> Reply {
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
    if let Some(secs) = spec.retry_after {
        reply = reply.header("Retry-After", &secs.to_string());
    }
    if status == 429 {
        let wait = i64::try_from(spec.retry_after.unwrap_or(1)).unwrap_or(i64::MAX / 4);
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
