//! Test helpers for the upstream MCP server: the OAuth steps over plain reqwest (no redirect
//! policy, so redirects are read, not followed) and a minimal Streamable HTTP MCP client that
//! speaks raw JSON-RPC and reads JSON or SSE answers. (Test code only.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::super::{Sandbox, SandboxOptions, start};

pub(super) const REDIRECT: &str = "http://127.0.0.1:8765/callback";
pub(super) const VERIFIER: &str = "a-very-long-verifier-string-of-at-least-43-characters-0123";

pub(super) async fn sandbox() -> Sandbox {
    start(SandboxOptions::default())
        .await
        .expect("start sandbox")
}

pub(super) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

pub(super) fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// `POST /auth/dcr/register` with a native public client for `redirect`: (status, body).
pub(super) async fn register(sb: &Sandbox, redirect: &str) -> (u16, Value) {
    let r = http()
        .post(format!("{}/auth/dcr/register", sb.base_url()))
        .json(&json!({
            "client_name": "bridge-test",
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
        }))
        .send()
        .await
        .expect("register");
    (r.status().as_u16(), r.json().await.expect("json"))
}

/// `GET /auth/authorize` with a complete, valid request plus `extra` overrides.
pub(super) async fn authorize(
    sb: &Sandbox,
    client_id: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let challenge = challenge(VERIFIER);
    let resource = sb.upstream_url();
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("state", "st-1"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("resource", &resource),
        ("scope", "read:jira-work write:jira-work offline_access"),
    ];
    for (k, v) in extra {
        params.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            params.push((k, v));
        }
    }
    http()
        .get(format!("{}/auth/authorize", sb.base_url()))
        .query(&params)
        .send()
        .await
        .expect("authorize")
}

/// The query parameters of a redirect's `Location`.
pub(super) fn location(r: &reqwest::Response) -> HashMap<String, String> {
    assert_eq!(r.status().as_u16(), 302, "expected a redirect");
    let loc = r.headers()["location"].to_str().expect("location");
    assert!(loc.starts_with(REDIRECT), "redirected to {loc}");
    url::Url::parse(loc)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect()
}

/// `POST /auth/oauth/token` with a form: (status, body).
pub(super) async fn token(sb: &Sandbox, form: &[(&str, &str)]) -> (u16, Value) {
    let r = http()
        .post(format!("{}/auth/oauth/token", sb.base_url()))
        .form(form)
        .send()
        .await
        .expect("token");
    (r.status().as_u16(), r.json().await.expect("json"))
}

/// A client signed in through the whole flow.
pub(super) struct Login {
    pub client_id: String,
    pub access: String,
    pub refresh: String,
}

/// Registration, authorization and code exchange.
pub(super) async fn login(sb: &Sandbox) -> Login {
    let (status, reg) = register(sb, REDIRECT).await;
    assert_eq!(status, 201, "{reg}");
    let client_id = reg["client_id"].as_str().expect("client_id").to_string();
    let q = location(&authorize(sb, &client_id, &[]).await);
    let resource = sb.upstream_url();
    let (status, t) = token(
        sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("resource", &resource),
        ],
    )
    .await;
    assert_eq!(status, 200, "{t}");
    Login {
        client_id,
        access: t["access_token"].as_str().expect("access").to_string(),
        refresh: t["refresh_token"].as_str().expect("refresh").to_string(),
    }
}

/// The JSON-RPC messages of an SSE body (events without data skipped).
pub(super) fn sse_messages(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            let data = data.join("\n");
            (!data.trim().is_empty()).then(|| serde_json::from_str(&data).expect("sse json"))
        })
        .collect()
}

/// A raw Streamable HTTP MCP client session.
pub(super) struct Mcp {
    pub url: String,
    pub token: String,
    pub session: Option<String>,
    pub next_id: u64,
}

impl Mcp {
    pub(super) fn new(url: String, token: &str) -> Self {
        Self {
            url,
            token: token.to_string(),
            session: None,
            next_id: 1,
        }
    }

    fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        let mut req = http()
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("Accept", "application/json, text/event-stream")
            .json(body);
        if let Some(s) = &self.session {
            req = req
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", "2025-06-18");
        }
        req
    }

    /// Sends a request; returns every message of the answer (notifications first, the
    /// response last) or panics on an HTTP error.
    pub(super) async fn request_all(&mut self, method: &str, params: Value) -> Vec<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let r = self
            .post(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .send()
            .await
            .expect("mcp post");
        assert_eq!(r.status().as_u16(), 200, "{method}: {}", r.status());
        if let Some(s) = r.headers().get("mcp-session-id") {
            self.session = Some(s.to_str().expect("session").to_string());
        }
        let json = r.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("application/json"));
        let text = r.text().await.expect("body");
        if json {
            vec![serde_json::from_str(&text).expect("json")]
        } else {
            sse_messages(&text)
        }
    }

    /// Sends a request; returns its `result` (panics on a JSON-RPC error).
    pub(super) async fn request(&mut self, method: &str, params: Value) -> Value {
        let all = self.request_all(method, params).await;
        let last = all.last().expect("a response").clone();
        assert!(last.get("error").is_none(), "{method}: {last}");
        last["result"].clone()
    }

    /// Sends a notification (202 expected).
    pub(super) async fn notify(&self, method: &str, params: Value) {
        let r = self
            .post(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .send()
            .await
            .expect("mcp notify");
        assert_eq!(r.status().as_u16(), 202, "{method}");
    }

    /// `initialize` + `notifications/initialized`.
    pub(super) async fn start(url: String, token: &str) -> Self {
        let mut mcp = Self::new(url, token);
        let init = mcp
            .request(
                "initialize",
                json!({"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "sandbox-test", "version": "1"}}),
            )
            .await;
        assert_eq!(init["capabilities"]["tools"]["listChanged"], json!(true));
        assert!(mcp.session.is_some(), "no mcp-session-id");
        mcp.notify("notifications/initialized", json!({})).await;
        mcp
    }

    /// `tools/call`: the result object.
    pub(super) async fn call(&mut self, name: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    /// The names of `tools/list`.
    pub(super) async fn tool_names(&mut self) -> Vec<String> {
        let list = self.request("tools/list", json!({})).await;
        list["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .map(|t| t["name"].as_str().expect("name").to_string())
            .collect()
    }

    /// Opens the session's GET SSE stream and waits (up to 20 s) for a message with `method`.
    pub(super) async fn open_stream(&self) -> reqwest::Response {
        let r = http()
            .get(&self.url)
            .bearer_auth(&self.token)
            .header("Accept", "text/event-stream")
            .header("mcp-session-id", self.session.as_deref().expect("session"))
            .header("mcp-protocol-version", "2025-06-18")
            .send()
            .await
            .expect("get stream");
        assert_eq!(r.status().as_u16(), 200);
        r
    }
}

/// Reads an SSE stream until a message with `method` arrives (20 s at most).
pub(super) async fn wait_for(stream: reqwest::Response, method: &str) -> bool {
    let mut body = stream.bytes_stream();
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            if sse_messages(seen.rsplit_once("\n\n").map_or("", |(done, _)| done))
                .iter()
                .any(|m| m["method"] == method)
            {
                return true;
            }
        }
        false
    })
    .await;
    found.unwrap_or(false)
}
