//! Tests for the sandbox's write side over real HTTP: Jira create / bulk create / edit /
//! comments / transitions / issue properties (Cloud at the root and through the gateway, and
//! Data Center), the recovery search the bridge's bulk engine relies on, createmeta agreeing
//! with validation (`jira`, `jira_edit`), Confluence page writes (`confluence`), and the fault
//! switches (`faults`).
//! Cloud request and response bodies are checked against Atlassian's OpenAPI descriptions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod confluence;
mod faults;
mod jira;
mod jira_edit;

use serde_json::{Value, json};

use super::tests::{Resp, Spec, assert_valid, http, jira_spec, send};
use super::*;

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum At {
    /// The Cloud site root, Basic auth.
    Cloud,
    /// The API gateway `/ex/jira|confluence/{cloudId}`, Basic auth.
    Gateway,
    /// The Data Center site `/dc`, PAT.
    Dc,
}

impl At {
    /// Jira REST base for this site (`…/rest/api/3` or `…/dc/rest/api/2`).
    pub(super) fn jira(self, sb: &Sandbox) -> String {
        match self {
            At::Cloud => format!("{}/rest/api/3", sb.base_url()),
            At::Gateway => format!("{}/ex/jira/{SANDBOX_CLOUD_ID}/rest/api/3", sb.gateway_url()),
            At::Dc => format!("{}/rest/api/2", sb.dc_base_url()),
        }
    }

    fn auth(self, b: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            At::Cloud | At::Gateway => b.basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN)),
            At::Dc => b.bearer_auth(SANDBOX_PAT),
        }
    }

    /// A description or comment body in this site's format.
    pub(super) fn text(self, s: &str) -> Value {
        match self {
            At::Dc => json!(s),
            _ => adf(s),
        }
    }
}

/// A one-paragraph ADF document.
pub(super) fn adf(s: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": s}]}]})
}

/// Sends `method url` with the site's credentials and an optional JSON body.
pub(super) async fn call(at: At, method: &str, url: &str, body: Option<&Value>) -> Resp {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut b = at.auth(http().request(m, url));
    if let Some(body) = body {
        b = b.json(body);
    }
    send(b).await
}

/// Sends raw bytes as a JSON body.
pub(super) async fn call_raw(at: At, method: &str, url: &str, body: &'static [u8]) -> Resp {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    send(
        at.auth(http().request(m, url))
            .header("Content-Type", "application/json")
            .body(body),
    )
    .await
}

/// Validates `instance` against a Jira component schema.
#[track_caller]
pub(super) fn jira_valid(component: &str, instance: &Value) {
    assert_valid(&jira_spec().component(component), instance, component);
}

/// A validator for the JSON request body of `method path`, following a `requestBodies` `$ref`.
pub(super) fn request_schema(spec: &Spec, path: &str, method: &str) -> jsonschema::Validator {
    let mut body = spec.doc["paths"][path][method]["requestBody"].clone();
    if let Some(r) = body["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or_default().to_string();
        body = spec.doc["components"]["requestBodies"][name].clone();
    }
    let mut schema = body["content"]["application/json"]["schema"].clone();
    assert!(schema.is_object(), "no request schema for {method} {path}");
    super::tests::to_json_schema(&mut schema);
    one_of_as_any_of(&mut schema);
    let mut root = json!({"allOf": [schema]});
    root["components"] = spec.doc["components"].clone();
    jsonschema::validator_for(&root).expect("compile schema")
}

/// Confluence's page bodies are `oneOf: [PageBodyWrite, PageNestedBodyWrite]`, two open
/// objects every body satisfies at once, so a literal `oneOf` rejects every request. The
/// intent is "either shape": validate it as `anyOf`.
fn one_of_as_any_of(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(alts) = m.remove("oneOf") {
                m.insert("anyOf".into(), alts);
            }
            m.values_mut().for_each(one_of_as_any_of);
        }
        Value::Array(a) => a.iter_mut().for_each(one_of_as_any_of),
        _ => {}
    }
}

/// A validator for the JSON `code` response of `method path`.
pub(super) fn response_schema(
    spec: &Spec,
    path: &str,
    method: &str,
    code: &str,
) -> jsonschema::Validator {
    let mut schema =
        spec.doc["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"]
            .clone();
    assert!(schema.is_object(), "no {code} schema for {method} {path}");
    super::tests::to_json_schema(&mut schema);
    let mut root = json!({"allOf": [schema]});
    root["components"] = spec.doc["components"].clone();
    jsonschema::validator_for(&root).expect("compile schema")
}

/// A valid create body for a Task in `project`.
pub(super) fn task(at: At, project: &str, summary: &str) -> Value {
    json!({"fields": {
        "project": {"key": project},
        "issuetype": {"name": "Task"},
        "summary": summary,
        "description": at.text(&format!("About {summary}.")),
    }})
}

/// Creates one issue and returns its key.
pub(super) async fn create(sb: &Sandbox, at: At, body: &Value) -> String {
    let r = call(at, "POST", &format!("{}/issue", at.jira(sb)), Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["key"].as_str().expect("key").to_string()
}

pub(super) async fn get(sb: &Sandbox, at: At, path: &str) -> Value {
    let r = call(at, "GET", &format!("{}{path}", at.jira(sb)), None).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.body
}

/// Posts a create and expects a 400; returns the body (checked against ErrorCollection).
pub(super) async fn refused(sb: &Sandbox, at: At, body: Value) -> Value {
    let r = call(at, "POST", &format!("{}/issue", at.jira(sb)), Some(&body)).await;
    assert_eq!(r.status, 400, "{body}: {}", r.body);
    jira_valid("ErrorCollection", &r.body);
    r.body
}

/// Asserts that a Jira or Confluence timestamp is a write's: after the seed instant (the
/// sandbox clock starts there and runs in real time) and within the test's first minute.
#[track_caller]
pub(super) fn assert_written_now(ts: &Value) {
    let t = ts
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {ts}"));
    assert!(t.starts_with("2026-11-20T10:00:"), "{t}");
    assert!(
        t > "2026-11-20T10:00:00.000",
        "{t}: not after the seed instant"
    );
}

pub(super) fn enc(s: &str) -> String {
    wire::enc(s)
}

#[tokio::test]
async fn state_endpoint_and_counters_follow_writes() {
    let sb = super::tests::sandbox().await;
    let r = send(http().get(format!("{}/__sandbox/state", sb.base_url()))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["issues"], json!({"ENG": 64, "OPS": 30, "SEC": 20}));
    assert_eq!(r.body["pages"], json!({"ENG": 8, "OPS": 4, "~demo": 2}));
    let before = r.body["now"].as_str().expect("now").to_string();
    assert!(before.starts_with("2026-11-20T10:00:"), "{before}");
    assert_eq!(
        (
            sb.issue_count("ENG"),
            sb.issue_count("10001"),
            sb.issue_count("NOPE")
        ),
        (64, 30, 0)
    );
    create(&sb, At::Cloud, &task(At::Cloud, "OPS", "Count me")).await;
    assert_eq!(sb.issue_count("OPS"), 31);
    assert_eq!(sb.page_count("ENG"), 8);
    assert_eq!(sb.page_count("nope"), 0);
    let r = send(http().get(format!("{}/__sandbox/state", sb.base_url()))).await;
    assert_eq!(r.body["issues"]["OPS"], 31);
    assert_written_now(&r.body["now"]);
    assert!(
        r.body["now"].as_str().expect("now") > before.as_str(),
        "the clock moved on"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn garbage_bodies_get_400s_never_500s() {
    let sb = super::tests::sandbox().await;
    let bodies: [&'static [u8]; 6] = [
        b"{",
        b"[1,2]",
        b"42",
        b"\"x\"",
        b"{\"fields\": 7}",
        b"\xff\xfe",
    ];
    let cases = [
        (At::Cloud, "POST", "/rest/api/3/issue"),
        (At::Cloud, "POST", "/rest/api/3/issue/bulk"),
        (At::Cloud, "PUT", "/rest/api/3/issue/ENG-1"),
        (At::Cloud, "POST", "/rest/api/3/issue/ENG-1/comment"),
        (At::Cloud, "POST", "/rest/api/3/issue/ENG-1/transitions"),
        (At::Dc, "POST", "/rest/api/2/issue"),
        (At::Dc, "PUT", "/rest/api/2/issue/ENG-1"),
        (At::Cloud, "POST", "/wiki/api/v2/pages"),
        (At::Cloud, "PUT", "/wiki/api/v2/pages/100101"),
        (At::Dc, "POST", "/rest/api/content"),
        (At::Dc, "PUT", "/rest/api/content/100101"),
    ];
    for (at, method, path) in cases {
        let base = if at == At::Dc {
            sb.dc_base_url()
        } else {
            sb.base_url()
        };
        for body in bodies {
            let r = call_raw(at, method, &format!("{base}{path}"), body).await;
            assert_eq!(
                r.status,
                400,
                "{method} {path} {:?}: {}",
                String::from_utf8_lossy(body),
                r.body
            );
        }
    }
    assert_eq!(sb.issue_count("ENG"), 64);
    assert_eq!(sb.page_count("ENG"), 8);
    sb.shutdown().await;
}
