//! The `/__sandbox/…` control endpoints (no auth, no latency, no faults, not recorded): fault
//! rules, latency, the request log, site info, OAuth and upstream MCP switches, and the
//! offline/sync switches (going unreachable, generating data, touching and deleting issues and
//! pages). The list with request shapes is in the module documentation of `sandbox`.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::faults::{self, FaultOptions, FaultSpec};
use super::generate::{MAX_ISSUES, MAX_PAGES};
use super::net::ConnHandle;
use super::oauth::{
    self, OAuthSwitches, SANDBOX_ACCOUNT_ID, SANDBOX_OAUTH_CLIENT_ID, SANDBOX_OAUTH_CLIENT_SECRET,
};
use super::wire::Reply;
use super::{SANDBOX_API_TOKEN, SANDBOX_CLOUD_ID, SANDBOX_EMAIL, SANDBOX_PAT, Shared, lock, wire};

/// Longest outage `POST /__sandbox/unreachable` takes (a day).
const MAX_OUTAGE_SECS: u64 = 86_400;

pub(super) fn control_error(status: StatusCode, message: &str) -> Response {
    Reply::json(status.as_u16(), json!({"error": message})).into_response()
}

fn ok(v: serde_json::Value) -> Response {
    Reply::json(200, v).into_response()
}

/// Answers one control request. `conn` is the connection it came on (spared when the site
/// goes dark, so the answer still arrives).
pub(super) fn control(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    body: &[u8],
    conn: Option<&ConnHandle>,
) -> Response {
    let path = path.trim_end_matches('/');
    match (method.as_str(), path) {
        ("POST", "/__sandbox/unreachable") => unreachable(shared, body, conn),
        ("POST", "/__sandbox/generate") => generate(shared, body),
        ("POST", "/__sandbox/touch") => touch(shared, body),
        ("POST", "/__sandbox/delete") => delete(shared, body),
        _ => switches(shared, method, path, body),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OutageBody {
    secs: u64,
}

/// `POST /__sandbox/unreachable {"secs": N}`: answers 200 (with `Connection: close`), and the
/// site is already unreachable when the answer leaves; it comes back by itself after N seconds
/// unless another switch happened meanwhile. `secs: 0` brings it back now.
fn unreachable(shared: &Arc<Shared>, body: &[u8], conn: Option<&ConnHandle>) -> Response {
    let b = match serde_json::from_slice::<OutageBody>(body) {
        Ok(b) if b.secs <= MAX_OUTAGE_SECS => b,
        Ok(_) => {
            return control_error(
                StatusCode::BAD_REQUEST,
                "invalid outage: secs must be at most 86400",
            );
        }
        Err(e) => return control_error(StatusCode::BAD_REQUEST, &format!("invalid outage: {e}")),
    };
    if b.secs == 0 {
        shared.gate.come_back();
        return ok(json!({"ok": true, "secs": 0, "reachable": true}));
    }
    let epoch = shared.gate.go_dark(conn);
    let gate = Arc::clone(&shared.gate);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(b.secs)).await;
        gate.come_back_if(epoch);
    });
    Reply::json(200, json!({"ok": true, "secs": b.secs, "reachable": false}))
        .header("Connection", "close")
        .into_response()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateBody {
    #[serde(default)]
    project: String,
    #[serde(default)]
    issues: usize,
    #[serde(default)]
    space: String,
    #[serde(default)]
    pages: usize,
}

/// `POST /__sandbox/generate {"project":"ENG","issues":5000,"space":"ENG","pages":2000}`.
fn generate(shared: &Shared, body: &[u8]) -> Response {
    let b = match serde_json::from_slice::<GenerateBody>(body) {
        Ok(b) => b,
        Err(e) => {
            return control_error(StatusCode::BAD_REQUEST, &format!("invalid generate: {e}"));
        }
    };
    if b.issues > MAX_ISSUES || b.pages > MAX_PAGES {
        return control_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "invalid generate: at most {MAX_ISSUES} issues and {MAX_PAGES} pages per call"
            ),
        );
    }
    let mut store = shared.write_store();
    if b.issues > 0 && store.project(&b.project).is_none() {
        return control_error(
            StatusCode::BAD_REQUEST,
            &format!("invalid generate: no project '{}'", b.project),
        );
    }
    if b.pages > 0
        && !store
            .spaces
            .iter()
            .any(|s| s.key.eq_ignore_ascii_case(b.space.trim()))
    {
        return control_error(
            StatusCode::BAD_REQUEST,
            &format!("invalid generate: no space '{}'", b.space),
        );
    }
    let g = store.generate(&b.project, b.issues, &b.space, b.pages);
    ok(json!({
        "ok": true,
        "issues": g.issues,
        "pages": g.pages,
        "firstKey": g.first_key,
        "lastKey": g.last_key,
        "firstPageId": g.first_page_id.map(|i| i.to_string()),
        "lastPageId": g.last_page_id.map(|i| i.to_string()),
    }))
}

/// `{"issue": "ENG-1", "summary": "…"}` or `{"page": "100101", "title": "…"}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetBody {
    #[serde(default)]
    issue: Option<String>,
    #[serde(default)]
    page: Option<serde_json::Value>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

impl TargetBody {
    /// The body, or why it is not one (the 400 message).
    fn parse(body: &[u8], what: &str) -> Result<Self, String> {
        let b = serde_json::from_slice::<Self>(body).map_err(|e| format!("invalid {what}: {e}"))?;
        if b.issue.is_some() == b.page.is_some() {
            return Err(format!(
                "invalid {what}: give exactly one of \"issue\" (a key or id) and \"page\" (an id)"
            ));
        }
        Ok(b)
    }

    /// The page id, given as a string or a number.
    fn page_id(&self) -> Option<u64> {
        match self.page.as_ref()? {
            serde_json::Value::String(s) => s.trim().parse().ok(),
            v => v.as_u64(),
        }
    }
}

fn missing(what: &str) -> Response {
    control_error(StatusCode::NOT_FOUND, &format!("no such {what}"))
}

/// `POST /__sandbox/touch`: the issue's `updated` (optionally its summary) or a new page
/// version (optionally a new title) at the sandbox's now.
fn touch(shared: &Shared, body: &[u8]) -> Response {
    let b = match TargetBody::parse(body, "touch") {
        Ok(b) => b,
        Err(m) => return control_error(StatusCode::BAD_REQUEST, &m),
    };
    let mut store = shared.write_store();
    if let Some(key) = &b.issue {
        let Some(idx) = store.issue_index(key) else {
            return missing("issue");
        };
        return match store.touch_issue(idx, b.summary.as_deref()) {
            Some(at) => ok(json!({"ok": true, "updated": wire::jira_time(at)})),
            None => missing("issue"),
        };
    }
    let Some(id) = b.page_id() else {
        return missing("page");
    };
    match store.touch_page(id, b.title.as_deref()) {
        Ok(at) => ok(json!({"ok": true, "lastModified": wire::conf_time(at)})),
        Err(super::changes::PageRefusal::TitleTaken) => control_error(
            StatusCode::BAD_REQUEST,
            "invalid touch: another page in the space has that title",
        ),
        Err(_) => missing("page"),
    }
}

/// `POST /__sandbox/delete`: deletes an issue (with its sub-tasks) or a page (its children
/// move up to its parent; homepages are kept).
fn delete(shared: &Shared, body: &[u8]) -> Response {
    let b = match TargetBody::parse(body, "delete") {
        Ok(b) => b,
        Err(m) => return control_error(StatusCode::BAD_REQUEST, &m),
    };
    let mut store = shared.write_store();
    if let Some(key) = &b.issue {
        let Some(idx) = store.issue_index(key) else {
            return missing("issue");
        };
        return match store.delete_issue(idx, true) {
            Ok(keys) => ok(json!({"ok": true, "deleted": keys})),
            Err(_) => missing("issue"),
        };
    }
    let Some(id) = b.page_id() else {
        return missing("page");
    };
    match store.delete_page(id) {
        Ok(()) => ok(json!({"ok": true, "deleted": [id.to_string()]})),
        Err(super::changes::PageRefusal::Homepage) => control_error(
            StatusCode::BAD_REQUEST,
            "invalid delete: the sandbox keeps every space's homepage",
        ),
        Err(_) => missing("page"),
    }
}

#[derive(serde::Deserialize)]
struct FaultBody {
    #[serde(default)]
    status: u16,
    #[serde(default = "one")]
    count: u32,
    #[serde(default)]
    retry_after: Option<u64>,
    #[serde(default)]
    path_prefix: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    skip: u32,
    #[serde(default)]
    delay_ms: Option<u64>,
    #[serde(default)]
    drop_after_commit: bool,
    #[serde(default)]
    retry_after_raw: Option<String>,
    #[serde(default)]
    inflate_to: Option<u32>,
    #[serde(default)]
    body_bytes: Option<u64>,
}

impl FaultBody {
    /// Why the rule cannot be used, if it cannot.
    fn problem(&self) -> Option<&'static str> {
        let acts = self.delay_ms.is_some()
            || self.drop_after_commit
            || self.inflate_to.is_some()
            || self.body_bytes.is_some();
        if self.status == 0 && !acts {
            Some(
                "invalid fault: give a status between 100 and 599, delay_ms, drop_after_commit, inflate_to or body_bytes",
            )
        } else if self
            .retry_after_raw
            .as_deref()
            .is_some_and(|r| axum::http::HeaderValue::from_str(r).is_err())
        {
            Some("invalid fault: retry_after_raw must be a valid header value")
        } else if self.inflate_to.is_some_and(|n| n > faults::MAX_INFLATE) {
            Some("invalid fault: inflate_to must be at most 200000")
        } else if self.body_bytes.is_some_and(|b| b > faults::MAX_FAULT_BODY) {
            Some("invalid fault: body_bytes must be at most 1073741824")
        } else if self.status != 0 && !(100..=599).contains(&self.status) {
            Some("invalid fault: status must be between 100 and 599")
        } else if self.delay_ms.is_some_and(|ms| ms > 600_000) {
            Some("invalid fault: delay_ms must be at most 600000")
        } else {
            None
        }
    }
}

fn one() -> u32 {
    1
}

#[derive(serde::Deserialize)]
struct LatencyBody {
    ms: u64,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthBody {
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    grace_secs: Option<u64>,
    #[serde(default)]
    consent: Option<bool>,
    #[serde(default)]
    no_sites: Option<bool>,
    #[serde(default)]
    extra_sites: Option<Vec<SiteBody>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteBody {
    id: String,
    url: String,
    name: String,
}

fn oauth_status(o: &OAuthSwitches) -> Response {
    let c = o.counters();
    let (expires_in, grace, consent) = o.settings();
    Reply::json(
        200,
        json!({
            "codes_issued": c.codes_issued,
            "token_exchanges": c.token_exchanges,
            "refreshes": c.refreshes,
            "families_revoked": c.families_revoked,
            "active_families": c.active_families,
            "expires_in": expires_in,
            "grace_secs": grace.as_secs(),
            "consent": consent,
        }),
    )
    .into_response()
}

fn switches(shared: &Shared, method: &Method, path: &str, body: &[u8]) -> Response {
    match (method.as_str(), path) {
        ("POST", "/__sandbox/faults") => match serde_json::from_slice::<FaultBody>(body) {
            Err(e) => control_error(StatusCode::BAD_REQUEST, &format!("invalid fault: {e}")),
            Ok(f) if f.problem().is_some() => control_error(
                StatusCode::BAD_REQUEST,
                f.problem().unwrap_or("invalid fault"),
            ),
            Ok(f) => {
                shared.faults.inject_with(
                    FaultSpec {
                        status: f.status,
                        count: f.count,
                        retry_after: f.retry_after,
                        path_prefix: f.path_prefix.filter(|p| !p.is_empty()),
                    },
                    FaultOptions {
                        method: f.method.filter(|m| !m.is_empty()),
                        skip: f.skip,
                        delay_ms: f.delay_ms,
                        drop_after_commit: f.drop_after_commit,
                        retry_after_raw: f.retry_after_raw,
                        inflate_to: f.inflate_to,
                        body_bytes: f.body_bytes,
                    },
                );
                Reply::json(200, json!({"ok": true, "pending": shared.faults.pending()}))
                    .into_response()
            }
        },
        ("DELETE", "/__sandbox/faults") => {
            shared.faults.clear();
            Reply::json(200, json!({"ok": true, "pending": 0})).into_response()
        }
        ("POST", "/__sandbox/latency") => match serde_json::from_slice::<LatencyBody>(body) {
            Err(e) => control_error(StatusCode::BAD_REQUEST, &format!("invalid latency: {e}")),
            Ok(l) if l.ms > 600_000 => control_error(
                StatusCode::BAD_REQUEST,
                "invalid latency: ms must be at most 600000",
            ),
            Ok(l) => {
                shared.faults.set_latency(Duration::from_millis(l.ms));
                Reply::json(200, json!({"ok": true, "ms": l.ms})).into_response()
            }
        },
        ("GET", "/__sandbox/state") => Reply::json(200, shared.state()).into_response(),
        ("GET", "/__sandbox/requests") => {
            let log: Vec<_> = lock(&shared.log)
                .iter()
                .map(|t| {
                    let r = &t.request;
                    let at_ms = (t.at.as_secs_f64() * 10_000.0).round() / 10.0;
                    json!({"method": r.method, "path": r.path, "status": r.status, "at_ms": at_ms})
                })
                .collect();
            Reply::json(200, json!({"requests": log})).into_response()
        }
        ("DELETE", "/__sandbox/requests") => {
            lock(&shared.log).clear();
            Reply::json(200, json!({"ok": true})).into_response()
        }
        ("GET", "/__sandbox/info") | ("GET", "/__sandbox") => {
            let base = format!("http://{}", shared.addr);
            Reply::json(
                200,
                json!({
                    "cloudUrl": base,
                    "dcUrl": format!("{base}/dc"),
                    "cloudId": SANDBOX_CLOUD_ID,
                    "gatewayJira": format!("{base}/ex/jira/{SANDBOX_CLOUD_ID}"),
                    "gatewayConfluence": format!("{base}/ex/confluence/{SANDBOX_CLOUD_ID}/wiki"),
                    "email": SANDBOX_EMAIL,
                    "apiToken": SANDBOX_API_TOKEN,
                    "pat": SANDBOX_PAT,
                    "oauth": {
                        "clientId": SANDBOX_OAUTH_CLIENT_ID,
                        "clientSecret": SANDBOX_OAUTH_CLIENT_SECRET,
                        "authorizeUrl": format!("{base}/authorize"),
                        "tokenUrl": format!("{base}/oauth/token"),
                        "revokeUrl": format!("{base}/oauth/revoke"),
                        "accessibleResourcesUrl": format!("{base}/oauth/token/accessible-resources"),
                        "meUrl": format!("{base}/me"),
                        "audience": "api.atlassian.com",
                        "accountId": SANDBOX_ACCOUNT_ID,
                    },
                    "upstream": {
                        "mcpUrl": format!("{base}{}", super::UPSTREAM_MCP_PATH),
                        "issuer": format!("{base}{}", super::UPSTREAM_ISSUER_PATH),
                        "registrationUrl": format!("{base}/auth/dcr/register"),
                    },
                    "latencyMs": u64::try_from(shared.faults.latency().as_millis()).unwrap_or(u64::MAX),
                    "pendingFaults": shared.faults.pending(),
                }),
            )
            .into_response()
        }
        ("GET", "/__sandbox/oauth") => oauth_status(&shared.oauth),
        ("POST", "/__sandbox/oauth") => match serde_json::from_slice::<OAuthBody>(body) {
            Err(e) => control_error(
                StatusCode::BAD_REQUEST,
                &format!("invalid oauth settings: {e}"),
            ),
            Ok(b)
                if b.expires_in.is_some_and(|s| s > oauth::MAX_SECS)
                    || b.grace_secs.is_some_and(|s| s > oauth::MAX_SECS) =>
            {
                control_error(
                    StatusCode::BAD_REQUEST,
                    "invalid oauth settings: expires_in and grace_secs must be at most ten years",
                )
            }
            Ok(b) => {
                let o = &shared.oauth;
                if let Some(s) = b.expires_in {
                    o.set_expires_in(s);
                }
                if let Some(s) = b.grace_secs {
                    o.set_grace(Duration::from_secs(s));
                }
                if let Some(c) = b.consent {
                    o.set_consent(c);
                }
                if let Some(n) = b.no_sites {
                    o.set_no_sites(n);
                }
                if let Some(sites) = b.extra_sites {
                    o.set_extra_sites(sites.into_iter().map(|s| (s.id, s.url, s.name)).collect());
                }
                oauth_status(o)
            }
        },
        ("GET", "/__sandbox/upstream") => {
            super::upstream::control_status(&shared.upstream.switches).into_response()
        }
        ("POST", "/__sandbox/upstream") => {
            super::upstream::control_apply(&shared.upstream.switches, body).into_response()
        }
        ("POST", "/__sandbox/oauth/revoke-all") => {
            let revoked = shared.oauth.revoke_all();
            Reply::json(200, json!({"ok": true, "revoked": revoked})).into_response()
        }
        _ => control_error(StatusCode::NOT_FOUND, "unknown sandbox control endpoint"),
    }
}
