//! The requests discovery makes, all recorded in the caller's trace: the unauthenticated MCP
//! `initialize` (its status and challenge only, never its body) and metadata GETs with a size
//! cap; and the two error shapes every step reports (unreachable vs. an unexpected answer).

use std::time::Instant;

use reqwest::{Method, StatusCode, header};
use url::Url;

use super::{DiscoveryError, STEP_PROBE, challenge_scope, resource_metadata};
use crate::sanitize::clean_text;
use crate::upstream::CallTrace;

/// Largest metadata answer read; anything bigger is not metadata.
const MAX_BODY: usize = 512 * 1024;

/// What the unauthenticated `initialize` answered.
pub(super) struct Probed {
    /// Its status (a 401 for a server that wants a sign-in).
    pub status: StatusCode,
    /// The metadata URL its challenge names.
    pub resource_metadata: Option<Url>,
    /// The scopes its challenge names.
    pub scope: Option<Vec<String>>,
}

/// The unauthenticated `initialize`: its status, and what its challenge names.
pub(super) async fn probe(
    http: &reqwest::Client,
    trace: &CallTrace,
    mcp_url: &Url,
) -> Result<Probed, DiscoveryError> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "atlassian-mcp-bridge", "version": env!("CARGO_PKG_VERSION")},
        },
    });
    let started = Instant::now();
    let answer = http
        .post(mcp_url.clone())
        .header(header::ACCEPT, "application/json, text/event-stream")
        .json(&body)
        .send()
        .await;
    // The body is never read: a server that lets us in may answer with an endless stream.
    let response = answer.map_err(|e| {
        trace.record(&Method::POST, mcp_url.path(), 0, started.elapsed());
        unreachable(STEP_PROBE, mcp_url, e)
    })?;
    let status = response.status();
    trace.record(
        &Method::POST,
        mcp_url.path(),
        status.as_u16(),
        started.elapsed(),
    );
    let values: Vec<&str> = response
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let pointed = resource_metadata(&values)
        .map(|raw| {
            // A relative reference is resolved against the MCP URL.
            mcp_url.join(&raw).map_err(|e| {
                unexpected(
                    STEP_PROBE,
                    mcp_url,
                    format!(
                        "a resource_metadata `{}` that is not a URL ({e})",
                        clean_text(&raw)
                    ),
                    "the server is misconfigured",
                )
            })
        })
        .transpose()?;
    Ok(Probed {
        status,
        resource_metadata: pointed,
        scope: challenge_scope(&values),
    })
}

/// The first candidate that answers 2xx with JSON; a 4xx/5xx moves on to the next.
pub(super) async fn first_found(
    http: &reqwest::Client,
    trace: &CallTrace,
    step: &'static str,
    candidates: &[Url],
    before: &str,
    hint: &'static str,
) -> Result<(Url, serde_json::Value), DiscoveryError> {
    let mut tried: Vec<String> = Vec::new();
    if !before.is_empty() {
        tried.push(before.to_string());
    }
    for url in candidates {
        match get_json(http, trace, step, url).await? {
            Got::Json(v) => return Ok((url.clone(), v)),
            Got::Status(detail) => tried.push(format!("{url} → {detail}")),
        }
    }
    Err(DiscoveryError::NotFound {
        step,
        tried: tried.join("; "),
        hint,
    })
}

/// What a metadata GET brought back, when the server answered at all.
pub(super) enum Got {
    /// A 2xx answer, parsed.
    Json(serde_json::Value),
    /// A non-2xx status, described.
    Status(String),
}

/// GET a metadata document: recorded, size-capped, JSON required on 2xx.
pub(super) async fn get_json(
    http: &reqwest::Client,
    trace: &CallTrace,
    step: &'static str,
    url: &Url,
) -> Result<Got, DiscoveryError> {
    let started = Instant::now();
    let sent = http
        .get(url.clone())
        .header(header::ACCEPT, "application/json")
        .send()
        .await;
    let mut response = sent.map_err(|e| {
        trace.record(&Method::GET, url.path(), 0, started.elapsed());
        unreachable(step, url, e)
    })?;
    let status = response.status();
    let mut body = Vec::new();
    let mut too_large = false;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_BODY => {
                body.extend_from_slice(&chunk)
            }
            Ok(Some(_)) => {
                too_large = true;
                break;
            }
            Ok(None) => break,
            Err(e) => {
                trace.record(&Method::GET, url.path(), status.as_u16(), started.elapsed());
                return Err(unreachable(step, url, e));
            }
        }
    }
    trace.record(&Method::GET, url.path(), status.as_u16(), started.elapsed());
    if !status.is_success() {
        let detail = crate::upstream::parse_error_body(&body).join("; ");
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| format!(" (redirect to {}, not followed)", clean_text(l)))
            .unwrap_or_default();
        return Ok(Got::Status(if detail.is_empty() {
            format!("{status}{location}")
        } else {
            format!("{status}: {detail}{location}")
        }));
    }
    if too_large {
        return Err(unexpected(
            step,
            url,
            format!("more than {} KiB", MAX_BODY / 1024),
            "that is not metadata; check upstream.url",
        ));
    }
    serde_json::from_slice(&body).map(Got::Json).map_err(|e| {
        unexpected(
            step,
            url,
            format!("{status} with a body that is not JSON ({e})"),
            "check upstream.url is the server's MCP endpoint",
        )
    })
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(
    step: &'static str,
    url: &Url,
    v: serde_json::Value,
) -> Result<T, DiscoveryError> {
    serde_json::from_value(v).map_err(|e| {
        unexpected(
            step,
            url,
            format!("a document without the required fields ({e})"),
            "the server is misconfigured; it cannot be used upstream",
        )
    })
}

pub(super) fn unreachable(step: &'static str, url: &Url, e: reqwest::Error) -> DiscoveryError {
    let reason = if e.is_timeout() {
        "timed out".to_string()
    } else {
        crate::auth::error_chain(&e.without_url())
    };
    DiscoveryError::Unreachable {
        step,
        url: url.to_string(),
        reason,
    }
}

pub(super) fn unexpected(
    step: &'static str,
    url: &Url,
    detail: String,
    hint: &'static str,
) -> DiscoveryError {
    DiscoveryError::Unexpected {
        step,
        url: url.to_string(),
        detail,
        hint,
    }
}
