//! Tests for the sandbox's OAuth 2.0 (3LO) endpoints over real HTTP against a sandbox on port
//! 0: the code flow with PKCE, token rotation and grace, family revocation, counters under
//! concurrency, accessible-resources, `/me`, and bearer tokens with scopes on the gateway.
//! (Test code: compiled only under #[cfg(test)] from mod.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::*;

const REDIRECT: &str = "http://127.0.0.1:8123/callback";
const ALL: &str = "read:jira-work write:jira-work read:jira-user read:page:confluence read:space:confluence search:confluence read:me offline_access";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn sandbox() -> Sandbox {
    start(SandboxOptions::default())
        .await
        .expect("start sandbox")
}

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("non-JSON body ({e}): {}", self.text))
    }

    fn location(&self) -> HashMap<String, String> {
        let loc = self.headers["location"].to_str().expect("location");
        let url = url::Url::parse(loc).expect("location url");
        assert_eq!(
            format!("{}://{}{}", url.scheme(), url.authority(), url.path()),
            REDIRECT
        );
        url.query_pairs().into_owned().collect()
    }
}

async fn send(req: reqwest::RequestBuilder) -> Resp {
    let r = req.send().await.expect("request");
    Resp {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        text: r.text().await.expect("body"),
    }
}

fn pkce() -> (String, String) {
    let verifier =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

async fn authorize_raw(sb: &Sandbox, pairs: &[(&str, &str)]) -> Resp {
    send(client().get(format!("{}/authorize?{}", sb.base_url(), query(pairs)))).await
}

/// Runs `/authorize` with the usual parameters plus `extra`; returns the code.
async fn code_for(sb: &Sandbox, scope: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("audience", "api.atlassian.com"),
        ("client_id", SANDBOX_OAUTH_CLIENT_ID),
        ("scope", scope),
        ("redirect_uri", REDIRECT),
        ("state", "st-123"),
        ("response_type", "code"),
        ("prompt", "consent"),
    ];
    pairs.extend_from_slice(extra);
    let r = authorize_raw(sb, &pairs).await;
    assert_eq!(r.status, 302, "{}", r.text);
    let q = r.location();
    assert_eq!(q["state"], "st-123");
    q["code"].clone()
}

async fn token_json(sb: &Sandbox, body: Value) -> Resp {
    send(
        client()
            .post(format!("{}/oauth/token", sb.base_url()))
            .json(&body),
    )
    .await
}

async fn token_form(sb: &Sandbox, pairs: &[(&str, &str)], basic: bool) -> Resp {
    let mut req = client()
        .post(format!("{}/oauth/token", sb.base_url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(query(pairs));
    if basic {
        req = req.basic_auth(SANDBOX_OAUTH_CLIENT_ID, Some(SANDBOX_OAUTH_CLIENT_SECRET));
    }
    send(req).await
}

fn exchange_body(code: &str, verifier: Option<&str>) -> Value {
    let mut body = json!({
        "grant_type": "authorization_code",
        "client_id": SANDBOX_OAUTH_CLIENT_ID,
        "client_secret": SANDBOX_OAUTH_CLIENT_SECRET,
        "code": code,
        "redirect_uri": REDIRECT,
    });
    if let Some(v) = verifier {
        body["code_verifier"] = json!(v);
    }
    body
}

/// A full code flow (no PKCE) → the token response.
async fn login(sb: &Sandbox, scope: &str) -> Value {
    let code = code_for(sb, scope, &[]).await;
    let r = token_json(sb, exchange_body(&code, None)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

async fn refresh(sb: &Sandbox, rt: &str) -> Resp {
    token_json(
        sb,
        json!({
            "grant_type": "refresh_token",
            "client_id": SANDBOX_OAUTH_CLIENT_ID,
            "client_secret": SANDBOX_OAUTH_CLIENT_SECRET,
            "refresh_token": rt,
        }),
    )
    .await
}

async fn bearer_get(sb: &Sandbox, path: &str, token: &str) -> Resp {
    send(
        client()
            .get(format!("{}{path}", sb.base_url()))
            .bearer_auth(token),
    )
    .await
}

fn jira(path: &str) -> String {
    format!("/ex/jira/{SANDBOX_CLOUD_ID}{path}")
}

fn wiki(path: &str) -> String {
    format!("/ex/confluence/{SANDBOX_CLOUD_ID}/wiki{path}")
}

fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .to_string()
}

const UNAUTHORIZED: &str = r#"{"code":401,"message":"Unauthorized"}"#;

fn assert_unauthorized(r: &Resp) {
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(
        r.json(),
        serde_json::from_str::<Value>(UNAUTHORIZED).unwrap()
    );
}

fn assert_scope_mismatch(r: &Resp) {
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"code": 401, "message": "Unauthorized; scope does not match"})
    );
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn code_flow_with_pkce_over_json_and_form_bodies() {
    let sb = sandbox().await;

    let (verifier, challenge) = pkce();
    let code = code_for(
        &sb,
        ALL,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let r = token_json(&sb, exchange_body(&code, Some(&verifier))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["cache-control"], "no-store");
    let t = r.json();
    let mut keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "refresh_token",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["scope"], ALL);
    assert_ne!(t["access_token"], t["refresh_token"]);

    let me = bearer_get(&sb, &jira("/rest/api/3/myself"), &s(&t, "access_token")).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json()["accountId"], SANDBOX_ACCOUNT_ID);

    // Form body, client credentials as HTTP Basic, localhost redirect.
    let (verifier, challenge) = pkce();
    let local = "http://localhost:9999/callback";
    let r = authorize_raw(
        &sb,
        &[
            ("client_id", SANDBOX_OAUTH_CLIENT_ID),
            ("scope", "read:jira-work"),
            ("redirect_uri", local),
            ("state", "s 2&x"),
            ("response_type", "code"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(r.status, 302);
    let loc = url::Url::parse(r.headers["location"].to_str().unwrap()).unwrap();
    assert!(loc.as_str().starts_with(local), "{loc}");
    let q: HashMap<String, String> = loc.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "s 2&x");
    let r = token_form(
        &sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", local),
            ("code_verifier", &verifier),
        ],
        true,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let t = r.json();
    assert_eq!(t["scope"], "read:jira-work");
    assert!(t.get("refresh_token").is_none());

    // Secret in a form body works too.
    let code = code_for(&sb, "read:me", &[]).await;
    let r = token_form(
        &sb,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", SANDBOX_OAUTH_CLIENT_ID),
            ("client_secret", SANDBOX_OAUTH_CLIENT_SECRET),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
        false,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let c = sb.oauth().counters();
    assert_eq!((c.codes_issued, c.token_exchanges, c.refreshes), (3, 3, 0));
    assert_eq!(c.active_families, 3);
    sb.shutdown().await;
}

#[tokio::test]
async fn authorize_refuses_bad_requests_without_redirecting() {
    let sb = sandbox().await;
    let good = [
        ("client_id", SANDBOX_OAUTH_CLIENT_ID),
        ("scope", "read:me"),
        ("redirect_uri", REDIRECT),
        ("state", "x"),
        ("response_type", "code"),
    ];
    let with = |k: &'static str, v: &'static str| {
        let mut p: Vec<(&str, &str)> = good.iter().copied().filter(|(n, _)| *n != k).collect();
        if !v.is_empty() {
            p.push((k, v));
        }
        p
    };
    let bad = [
        with("client_id", "someone-else"),
        with("client_id", ""),
        with("redirect_uri", "https://127.0.0.1:8123/callback"),
        with("redirect_uri", "http://evil.example:8123/callback"),
        with("redirect_uri", "http://127.0.0.1/callback"),
        with("redirect_uri", "http://127.0.0.1:8123/other"),
        with("redirect_uri", "http://127.0.0.1:8123/callback?x=1"),
        with(
            "redirect_uri",
            "http://127.0.0.1.evil.example:8123/callback",
        ),
        with("redirect_uri", ""),
        with("redirect_uri", "http://127.0.0.1:8123/call\tback"),
        with("redirect_uri", "http://LOCALHOST:8123/callback"),
        with(
            "redirect_uri",
            "http://127.0.0.1:8123\\@evil.example/callback",
        ),
        with("redirect_uri", "http://user@127.0.0.1:8123/callback"),
        with("state", ""),
        with("response_type", ""),
        with("response_type", "token"),
        with("scope", ""),
        with("audience", "example.com"),
        with("code_challenge_method", "S256"),
    ];
    for params in bad {
        let r = authorize_raw(&sb, &params).await;
        assert_eq!(r.status, 400, "{params:?}");
        assert!(r.headers.get("location").is_none(), "{params:?}");
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(r.text.contains("Something went wrong"));
    }
    let (_, challenge) = pkce();
    let mut plain = good.to_vec();
    plain.push(("code_challenge", &challenge));
    plain.push(("code_challenge_method", "plain"));
    assert_eq!(authorize_raw(&sb, &plain).await.status, 400);
    plain.pop();
    assert_eq!(authorize_raw(&sb, &plain).await.status, 400, "no method");
    let mut evil = good.to_vec();
    evil[3] = ("state", "<script>");
    evil[0] = ("client_id", "<b>nope</b>");
    let r = authorize_raw(&sb, &evil).await;
    assert!(!r.text.contains("<b>"), "{}", r.text);
    assert_eq!(sb.oauth().counters().codes_issued, 0);

    let r = send(client().post(format!("{}/authorize", sb.base_url()))).await;
    assert_eq!(r.status, 405);
    sb.shutdown().await;
}

#[tokio::test]
async fn wrong_verifier_reused_code_and_redirect_mismatch_are_invalid_grant() {
    let sb = sandbox().await;
    let (verifier, challenge) = pkce();
    let pk = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let code = code_for(&sb, ALL, &pk).await;
    let (other, _) = pkce();
    let r = token_json(&sb, exchange_body(&code, Some(&other))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_grant");
    // The code was used up by the failed attempt.
    let r = token_json(&sb, exchange_body(&code, Some(&verifier))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_grant");

    let code = code_for(&sb, ALL, &pk).await;
    let r = token_json(&sb, exchange_body(&code, None)).await;
    assert_eq!(r.json()["error"], "invalid_grant", "missing verifier");

    let code = code_for(&sb, ALL, &[]).await;
    assert_eq!(
        token_json(&sb, exchange_body(&code, None)).await.status,
        200
    );
    let r = token_json(&sb, exchange_body(&code, None)).await;
    assert_eq!(r.status, 400, "reused code");
    assert_eq!(r.json()["error"], "invalid_grant");

    let code = code_for(&sb, ALL, &[]).await;
    let mut body = exchange_body(&code, None);
    body["redirect_uri"] = json!("http://127.0.0.1:8124/callback");
    let r = token_json(&sb, body).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_grant");

    let r = token_json(&sb, exchange_body("never-issued", None)).await;
    assert_eq!(r.json()["error"], "invalid_grant");
    assert_eq!(sb.oauth().counters().token_exchanges, 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn client_secret_is_required() {
    let sb = sandbox().await;
    let denied = json!({"error": "access_denied", "error_description": "Unauthorized"});
    let code = code_for(&sb, ALL, &[]).await;
    let mut body = exchange_body(&code, None);
    body.as_object_mut().unwrap().remove("client_secret");
    let r = token_json(&sb, body.clone()).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), denied);
    body["client_secret"] = json!("wrong");
    let r = token_json(&sb, body).await;
    assert_eq!((r.status, r.json()), (401, denied.clone()));
    let r = send(
        client()
            .post(format!("{}/oauth/token", sb.base_url()))
            .basic_auth(SANDBOX_OAUTH_CLIENT_ID, Some("wrong"))
            .json(&json!({"grant_type": "refresh_token", "refresh_token": "x"})),
    )
    .await;
    assert_eq!((r.status, r.json()), (401, denied.clone()));
    // The failed attempts did not burn the code.
    let r = token_json(&sb, exchange_body(&code, None)).await;
    assert_eq!(r.status, 200);

    let r = token_json(
        &sb,
        json!({"grant_type": "password", "client_id": SANDBOX_OAUTH_CLIENT_ID, "client_secret": SANDBOX_OAUTH_CLIENT_SECRET}),
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"error": "unsupported_grant_type"}))
    );
    let r = send(
        client()
            .post(format!("{}/oauth/token", sb.base_url()))
            .header("Content-Type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_request");
    sb.shutdown().await;
}

#[tokio::test]
async fn resource_parameter_fails_the_exchange_with_invalid_target() {
    let sb = sandbox().await;
    let code = code_for(&sb, ALL, &[("resource", "https://api.atlassian.com")]).await;
    let r = token_json(&sb, exchange_body(&code, None)).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"error": "invalid_target", "error_description": "Incorrect resource parameters"})
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_within_grace_succeeds() {
    let sb = sandbox().await;
    let t0 = login(&sb, "read:jira-work offline_access").await;
    let no_offline = login(&sb, "read:jira-work").await;
    assert!(no_offline.get("refresh_token").is_none());

    let rt0 = s(&t0, "refresh_token");
    let mut seen = vec![rt0.clone()];
    let mut rt = rt0.clone();
    for _ in 0..3 {
        let r = refresh(&sb, &rt).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let t = r.json();
        assert_eq!(t["scope"], "read:jira-work offline_access");
        assert_eq!(t["token_type"], "Bearer");
        rt = s(&t, "refresh_token");
        assert!(!seen.contains(&rt), "refresh token must rotate");
        seen.push(rt.clone());
    }
    // The first refresh token was rotated away but is within its grace: it still works,
    // and so does its companion access token.
    let r = refresh(&sb, &rt0).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let fresh = r.json();
    assert!(!seen.contains(&s(&fresh, "refresh_token")));
    let r = bearer_get(
        &sb,
        &jira("/rest/api/3/project/ENG"),
        &s(&t0, "access_token"),
    )
    .await;
    assert_eq!(r.status, 200);
    let c = sb.oauth().counters();
    assert_eq!((c.refreshes, c.families_revoked), (4, 0));
    assert_eq!(c.active_families, 2);
    sb.shutdown().await;
}

#[tokio::test]
async fn reuse_after_grace_revokes_the_whole_family() {
    let sb = sandbox().await;
    sb.oauth().set_grace(Duration::ZERO);
    let bystander = login(&sb, ALL).await;
    let t1 = login(&sb, ALL).await;
    let rt1 = s(&t1, "refresh_token");
    let r = refresh(&sb, &rt1).await;
    assert_eq!(r.status, 200);
    let t2 = r.json();
    let at2 = s(&t2, "access_token");
    // Grace 0: the rotated pair died at once.
    assert_unauthorized(
        &bearer_get(&sb, &jira("/rest/api/3/myself"), &s(&t1, "access_token")).await,
    );
    assert_eq!(
        bearer_get(&sb, &jira("/rest/api/3/myself"), &at2)
            .await
            .status,
        200
    );

    let r = refresh(&sb, &rt1).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json(),
        json!({"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."})
    );
    // Every token of the family is gone now.
    assert_unauthorized(&bearer_get(&sb, &jira("/rest/api/3/myself"), &at2).await);
    assert_unauthorized(&bearer_get(&sb, &wiki("/api/v2/pages"), &at2).await);
    assert_eq!(refresh(&sb, &s(&t2, "refresh_token")).await.status, 403);
    assert_eq!(refresh(&sb, "never-issued").await.status, 403);
    // Other grants are untouched.
    let ok = bearer_get(
        &sb,
        &jira("/rest/api/3/myself"),
        &s(&bystander, "access_token"),
    )
    .await;
    assert_eq!(ok.status, 200);
    let c = sb.oauth().counters();
    assert_eq!(
        (c.refreshes, c.families_revoked, c.active_families),
        (1, 1, 1)
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_count_exactly() {
    let sb = sandbox().await;
    // Within grace: every concurrent use of the same refresh token succeeds once.
    let t = login(&sb, ALL).await;
    let rt = s(&t, "refresh_token");
    let calls = (0..12).map(|_| refresh(&sb, &rt));
    let results = futures_join(calls).await;
    assert!(results.iter().all(|r| r.status == 200));
    let mut new: Vec<String> = results
        .iter()
        .map(|r| s(&r.json(), "refresh_token"))
        .collect();
    new.sort();
    new.dedup();
    assert_eq!(new.len(), 12);
    assert_eq!(sb.oauth().counters().refreshes, 12);

    // Grace 0: exactly one of the racing refreshes wins, the rest revoke the family once.
    sb.oauth().set_grace(Duration::ZERO);
    let t = login(&sb, ALL).await;
    let rt = s(&t, "refresh_token");
    let results = futures_join((0..12).map(|_| refresh(&sb, &rt))).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    let denied = results.iter().filter(|r| r.status == 403).count();
    assert_eq!((ok, denied), (1, 11));
    let c = sb.oauth().counters();
    assert_eq!((c.refreshes, c.families_revoked), (13, 1));
    sb.shutdown().await;
}

/// Runs futures concurrently on the current task (no extra dependency).
async fn futures_join<F: std::future::Future<Output = Resp>>(
    futs: impl Iterator<Item = F>,
) -> Vec<Resp> {
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<Resp>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(r) => out[i] = Some(r),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn accessible_resources_lists_the_site_and_the_switches_change_it() {
    let sb = sandbox().await;
    let t = login(&sb, "read:jira-work read:me").await;
    let at = s(&t, "access_token");
    let r = bearer_get(&sb, "/oauth/token/accessible-resources", &at).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let site = &list[0];
    assert_eq!(site["id"], SANDBOX_CLOUD_ID);
    assert_eq!(site["url"], sb.base_url());
    assert_eq!(site["name"], "sandbox");
    assert_eq!(site["scopes"], json!(["read:jira-work", "read:me"]));
    assert!(site["avatarUrl"].as_str().unwrap().starts_with("https://"));
    let mut keys: Vec<&str> = site
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["avatarUrl", "id", "name", "scopes", "url"]);

    sb.oauth().set_extra_sites(vec![(
        "0f4b2a7e-1111-4c3d-9e8f-000000000002".into(),
        "https://other-site.atlassian.net".into(),
        "other-site".into(),
    )]);
    let list = bearer_get(&sb, "/oauth/token/accessible-resources", &at)
        .await
        .json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[1]["url"], "https://other-site.atlassian.net");
    assert_eq!(list[1]["scopes"], list[0]["scopes"]);
    sb.oauth().set_no_sites(true);
    let list = bearer_get(&sb, "/oauth/token/accessible-resources", &at)
        .await
        .json();
    assert_eq!(list, json!([]));

    assert_unauthorized(&bearer_get(&sb, "/oauth/token/accessible-resources", "nope").await);
    let r = send(client().get(format!(
        "{}/oauth/token/accessible-resources",
        sb.base_url()
    )))
    .await;
    assert_unauthorized(&r);
    sb.shutdown().await;
}

#[tokio::test]
async fn me_needs_read_me() {
    let sb = sandbox().await;
    let t = login(&sb, "read:me").await;
    let r = bearer_get(&sb, "/me", &s(&t, "access_token")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let me = r.json();
    assert_eq!(me["account_id"], SANDBOX_ACCOUNT_ID);
    assert_eq!(me["email"], SANDBOX_EMAIL);
    assert_eq!(me["name"], "Dana Demo");
    assert_eq!(me["account_status"], "active");
    for key in ["picture", "nickname", "zoneinfo", "locale"] {
        assert!(me[key].is_string(), "{key}");
    }
    assert!(me["extended_profile"].is_object());

    let t = login(&sb, "read:jira-work").await;
    assert_scope_mismatch(&bearer_get(&sb, "/me", &s(&t, "access_token")).await);
    assert_unauthorized(&bearer_get(&sb, "/me", "nope").await);
    sb.shutdown().await;
}

#[tokio::test]
async fn gateway_checks_bearer_scopes_per_endpoint() {
    let sb = sandbox().await;
    let me_only = s(&login(&sb, "read:me").await, "access_token");
    let work = s(
        &login(&sb, "read:jira-work read:page:confluence").await,
        "access_token",
    );
    let all = s(&login(&sb, ALL).await, "access_token");

    let search = jira("/rest/api/3/search/jql?jql=assignee%3DcurrentUser()&maxResults=100");
    assert_scope_mismatch(&bearer_get(&sb, &search, &me_only).await);
    assert_scope_mismatch(&bearer_get(&sb, &jira("/rest/api/3/myself"), &work).await);
    assert_eq!(
        bearer_get(&sb, &jira("/rest/api/3/myself"), &all)
            .await
            .status,
        200
    );
    assert_eq!(
        bearer_get(&sb, &jira("/rest/api/3/serverInfo"), &me_only)
            .await
            .status,
        200
    );

    // currentUser() is the demo user, the same as with the API token.
    let r = bearer_get(&sb, &search, &work).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let basic = send(
        client()
            .get(format!("{}{search}", sb.base_url()))
            .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN)),
    )
    .await;
    assert_eq!(r.json(), basic.json());
    assert!(!r.json()["issues"].as_array().unwrap().is_empty());

    let post = send(
        client()
            .post(format!(
                "{}{}",
                sb.base_url(),
                jira("/rest/api/3/search/jql")
            ))
            .bearer_auth(&work)
            .json(&json!({"jql": "project = ENG", "maxResults": 1})),
    )
    .await;
    assert_eq!(post.status, 200, "{}", post.text);

    assert_eq!(
        bearer_get(&sb, &wiki("/api/v2/pages"), &work).await.status,
        200
    );
    assert_scope_mismatch(&bearer_get(&sb, &wiki("/api/v2/spaces"), &work).await);
    assert_eq!(
        bearer_get(&sb, &wiki("/api/v2/spaces"), &all).await.status,
        200
    );
    assert_scope_mismatch(&bearer_get(&sb, &wiki("/rest/api/search?cql=type%3Dpage"), &work).await);
    assert_eq!(
        bearer_get(&sb, &wiki("/rest/api/search?cql=type%3Dpage"), &all)
            .await
            .status,
        200
    );
    assert_eq!(
        bearer_get(&sb, &wiki("/rest/api/user/current"), &me_only)
            .await
            .status,
        200
    );
    assert_unauthorized(&bearer_get(&sb, &jira("/rest/api/3/myself"), "garbage").await);
    assert_unauthorized(&bearer_get(&sb, &wiki("/api/v2/pages"), "garbage").await);

    // Basic (scoped API token) still works on the gateway.
    let r = send(
        client()
            .get(format!("{}{}", sb.base_url(), jira("/rest/api/3/myself")))
            .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN)),
    )
    .await;
    assert_eq!(r.status, 200);

    // 3LO tokens are refused on the site URLs, in each product's 401 shape.
    let r = bearer_get(&sb, "/rest/api/3/myself", &all).await;
    assert_eq!(r.status, 401);
    assert!(r.json()["errorMessages"].is_array());
    let r = bearer_get(&sb, "/wiki/api/v2/pages", &all).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["errors"][0]["code"], "UNAUTHORIZED");
    assert_eq!(
        bearer_get(&sb, "/wiki/rest/api/search?cql=type%3Dpage", &all)
            .await
            .status,
        401
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn revoke_endpoint_kills_the_family() {
    let sb = sandbox().await;
    let t = login(&sb, ALL).await;
    let at = s(&t, "access_token");
    let revoke = |body: String, basic: bool| {
        let mut req = client()
            .post(format!("{}/oauth/revoke", sb.base_url()))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if basic {
            req = req.basic_auth(SANDBOX_OAUTH_CLIENT_ID, Some(SANDBOX_OAUTH_CLIENT_SECRET));
        }
        send(req)
    };
    let r = revoke(query(&[("token", &at)]), false).await;
    assert_eq!(r.status, 401, "client auth is required");
    assert_eq!(
        bearer_get(&sb, &jira("/rest/api/3/myself"), &at)
            .await
            .status,
        200
    );
    let r = revoke(query(&[("token", &at)]), true).await;
    assert_eq!(r.status, 200);
    assert_unauthorized(&bearer_get(&sb, &jira("/rest/api/3/myself"), &at).await);
    assert_eq!(refresh(&sb, &s(&t, "refresh_token")).await.status, 403);
    let r = revoke(query(&[("token", "never-issued")]), true).await;
    assert_eq!(r.status, 200);

    // JSON body with the refresh token and the secret in the body.
    let t = login(&sb, ALL).await;
    let r = send(
        client()
            .post(format!("{}/oauth/revoke", sb.base_url()))
            .json(&json!({"token": s(&t, "refresh_token"), "client_id": SANDBOX_OAUTH_CLIENT_ID, "client_secret": SANDBOX_OAUTH_CLIENT_SECRET})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_unauthorized(
        &bearer_get(&sb, &jira("/rest/api/3/myself"), &s(&t, "access_token")).await,
    );
    let c = sb.oauth().counters();
    assert_eq!((c.families_revoked, c.active_families), (2, 0));
    sb.shutdown().await;
}

#[tokio::test]
async fn expires_in_switch_makes_tokens_expire() {
    let sb = sandbox().await;
    sb.oauth().set_expires_in(1);
    let t = login(&sb, ALL).await;
    assert_eq!(t["expires_in"], 1);
    let at = s(&t, "access_token");
    assert_eq!(
        bearer_get(&sb, &jira("/rest/api/3/myself"), &at)
            .await
            .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_unauthorized(&bearer_get(&sb, &jira("/rest/api/3/myself"), &at).await);
    assert_unauthorized(&bearer_get(&sb, "/oauth/token/accessible-resources", &at).await);
    // The refresh token outlives the access token.
    let r = refresh(&sb, &s(&t, "refresh_token")).await;
    assert_eq!(r.status, 200);
    let at = s(&r.json(), "access_token");
    assert_eq!(
        bearer_get(&sb, &jira("/rest/api/3/myself"), &at)
            .await
            .status,
        200
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn consent_switch_answers_access_denied() {
    let sb = sandbox().await;
    sb.oauth().set_consent(false);
    let r = authorize_raw(
        &sb,
        &[
            ("client_id", SANDBOX_OAUTH_CLIENT_ID),
            ("scope", "read:me"),
            ("redirect_uri", REDIRECT),
            ("state", "abc"),
            ("response_type", "code"),
        ],
    )
    .await;
    assert_eq!(r.status, 302);
    let q = r.location();
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "abc");
    assert!(!q["error_description"].is_empty());
    assert!(!q.contains_key("code"));
    assert_eq!(sb.oauth().counters().codes_issued, 0);
    sb.oauth().set_consent(true);
    let _ = code_for(&sb, "read:me", &[]).await;
    assert_eq!(sb.oauth().counters().codes_issued, 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn oauth_control_endpoints_over_http() {
    let sb = sandbox().await;
    let base = sb.base_url();
    let info = send(client().get(format!("{base}/__sandbox/info")))
        .await
        .json();
    assert_eq!(info["oauth"]["clientId"], SANDBOX_OAUTH_CLIENT_ID);
    assert_eq!(info["oauth"]["clientSecret"], SANDBOX_OAUTH_CLIENT_SECRET);
    assert_eq!(info["oauth"]["tokenUrl"], format!("{base}/oauth/token"));
    assert_eq!(info["oauth"]["authorizeUrl"], format!("{base}/authorize"));

    let r = send(
        client()
            .post(format!("{base}/__sandbox/oauth"))
            .json(&json!({"expires_in": 2, "grace_secs": 0, "consent": true, "extra_sites": [{"id": "x", "url": "https://other-site.atlassian.net", "name": "other-site"}]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["expires_in"], 2);
    assert_eq!(r.json()["grace_secs"], 0);
    let r = send(
        client()
            .post(format!("{base}/__sandbox/oauth"))
            .json(&json!({"bogus": 1})),
    )
    .await;
    assert_eq!(r.status, 400);

    sb.clear_requests();
    let t = login(&sb, ALL).await;
    assert_eq!(t["expires_in"], 2);
    let sites = bearer_get(
        &sb,
        "/oauth/token/accessible-resources",
        &s(&t, "access_token"),
    )
    .await
    .json();
    assert_eq!(sites.as_array().unwrap().len(), 2);
    let r2 = refresh(&sb, &s(&t, "refresh_token")).await.json();
    let status = send(client().get(format!("{base}/__sandbox/oauth")))
        .await
        .json();
    assert_eq!(status["codes_issued"], 1);
    assert_eq!(status["token_exchanges"], 1);
    assert_eq!(status["refreshes"], 1);
    assert_eq!(status["families_revoked"], 0);
    assert_eq!(status["active_families"], 1);

    let r = send(client().post(format!("{base}/__sandbox/oauth/revoke-all"))).await;
    assert_eq!(r.json()["revoked"], 1);
    assert_unauthorized(
        &bearer_get(&sb, &jira("/rest/api/3/myself"), &s(&r2, "access_token")).await,
    );
    let status = send(client().get(format!("{base}/__sandbox/oauth")))
        .await
        .json();
    assert_eq!(status["families_revoked"], 1);
    assert_eq!(status["active_families"], 0);

    // The OAuth endpoints are logged (without bodies), the control endpoints are not.
    let paths: Vec<String> = sb.requests().into_iter().map(|r| r.path).collect();
    assert!(paths.iter().any(|p| p == "/oauth/token"));
    assert!(paths.iter().any(|p| p == "/authorize"));
    assert!(!paths.iter().any(|p| p.starts_with("/__sandbox")));
    sb.shutdown().await;
}

#[tokio::test]
async fn injected_faults_apply_to_the_token_endpoint() {
    let sb = sandbox().await;
    let t = login(&sb, ALL).await;
    sb.faults().inject(FaultSpec {
        status: 503,
        count: 1,
        retry_after: Some(1),
        path_prefix: Some("/oauth/token".into()),
    });
    let r = refresh(&sb, &s(&t, "refresh_token")).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.headers["retry-after"], "1");
    // The failed call did not rotate anything.
    assert_eq!(sb.oauth().counters().refreshes, 0);
    assert_eq!(refresh(&sb, &s(&t, "refresh_token")).await.status, 200);
    sb.shutdown().await;
}

#[test]
fn minted_tokens_work_and_debug_hides_them() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sb = sandbox().await;
        let m = sb.oauth().mint("read:jira-user offline_access");
        assert_eq!(m.expires_in, 3600);
        let dbg = format!("{m:?} {:?}", sb.oauth());
        assert!(!dbg.contains(&m.access_token));
        assert!(!dbg.contains(m.refresh_token.as_deref().unwrap()));
        assert_eq!(
            bearer_get(&sb, &jira("/rest/api/3/myself"), &m.access_token)
                .await
                .status,
            200
        );
        assert_eq!(
            refresh(&sb, m.refresh_token.as_deref().unwrap())
                .await
                .status,
            200
        );
        let m = sb.oauth().mint("read:me");
        assert!(m.refresh_token.is_none());
        sb.shutdown().await;
    });
}
