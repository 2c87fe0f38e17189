//! OAuth 2.0 (3LO) end to end against the sandbox: sign-in, storage, refresh, rotation shared
//! across processes, dead families, missing scopes, status and logout.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Env, Flavor, browse, call, err, oauth_config, ok, read_jsonl};

async fn oauth_env(scopes: Option<&[&str]>) -> Env {
    let env = Env::new(Flavor::Cloud, "").await;
    std::fs::write(
        env.home.path().join("config.toml"),
        oauth_config(&env.sandbox, scopes),
    )
    .unwrap();
    env
}

fn credentials(env: &Env) -> Value {
    let text = std::fs::read_to_string(env.home.path().join("credentials.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn events(env: &Env, event: &str) -> Vec<Value> {
    env.audit_records()
        .into_iter()
        .filter(|r| r["event"] == event)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_flow_end_to_end() {
    let env = oauth_env(None).await;
    let run = env.start_login();
    let q: std::collections::HashMap<String, String> = run.url.query_pairs().into_owned().collect();
    assert_eq!(run.url.path(), "/authorize");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["audience"], "api.atlassian.com");
    assert_eq!(q["prompt"], "consent");
    assert!(q["scope"].contains("offline_access") && q["scope"].contains("read:jira-work"));
    assert!(q["state"].len() >= 16);
    assert!(!q.contains_key("resource"), "never RFC 8707 resource");
    let redirect = url::Url::parse(&q["redirect_uri"]).unwrap();
    assert_eq!(redirect.host_str(), Some("127.0.0.1"));
    assert_eq!(redirect.path(), "/callback");

    // A stray request and a callback with the wrong state get a page and do not end the flow.
    let http = reqwest::Client::new();
    let mut stray = redirect.clone();
    stray.set_path("/favicon.ico");
    assert_eq!(http.get(stray).send().await.unwrap().status(), 404);
    let mut forged = redirect.clone();
    forged.set_query(Some("code=attacker-code&state=wrong"));
    let page = http.get(forged).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("not recognised"), "{page}");
    let mut forged_error = redirect.clone();
    forged_error.set_query(Some("error=access_denied&state=wrong"));
    http.get(forged_error).send().await.unwrap();

    // Now the real browser round trip completes it.
    let page = browse(&run.url).await;
    assert!(
        page.contains("Signed in") && !page.contains("token"),
        "{page}"
    );
    let (code, stdout, stderr) = run.finish();
    assert_eq!(code, Some(0), "{stderr}");
    // start_login read the URL line; nothing else may follow it on stdout.
    assert!(stdout.is_empty(), "stdout is the URL alone: {stdout}");
    assert!(stderr.contains("Signed in as Dana Demo"), "{stderr}");
    assert!(
        stderr.contains(atlassian_mcp_bridge::sandbox::SANDBOX_CLOUD_ID),
        "{stderr}"
    );

    let path = env.home.path().join("credentials.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "credentials.json must be 0600");
    }
    let c = credentials(&env);
    assert_eq!(
        c["cloud_id"],
        atlassian_mcp_bridge::sandbox::SANDBOX_CLOUD_ID
    );
    assert_eq!(
        c["account"]["account_id"],
        atlassian_mcp_bridge::sandbox::SANDBOX_ACCOUNT_ID
    );
    let access = c["access_token"].as_str().unwrap().to_string();
    let refresh = c["refresh_token"].as_str().unwrap().to_string();

    // The tokens appear nowhere else: not in output, not in the audit log.
    let audit_text = std::fs::read_to_string(env.audit_path()).unwrap();
    for hay in [stdout.as_str(), stderr.as_str(), audit_text.as_str()] {
        assert!(!hay.contains(&access) && !hay.contains(&refresh));
    }
    let login = &events(&env, "login")[0];
    assert_eq!(login["outcome"], "ok");
    assert_eq!(login["actor"]["auth"], "oauth");
    let paths: Vec<&str> = login["upstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["/oauth/token", "/oauth/token/accessible-resources", "/me"]
    );

    // The server now works through the gateway with the bearer token.
    let client = env.client().await;
    let out = ok(&call(
        &client,
        "jira_search",
        json!({"jql": "project = ENG", "max_results": 2}),
    )
    .await);
    assert_eq!(out["issues"].as_array().unwrap().len(), 2);
    let who = ok(&call(&client, "atlassian_whoami", json!({})).await);
    assert_eq!(who["auth"], "oauth");
    client.cancel().await.ok();
    let rec = env.tool_records()[0].clone();
    let gateway = format!(
        "/ex/jira/{}/rest/api/3/search/jql",
        atlassian_mcp_bridge::sandbox::SANDBOX_CLOUD_ID
    );
    assert_eq!(rec["upstream"][0]["path"], gateway);
    assert_eq!(
        rec["actor"]["account_id"],
        atlassian_mcp_bridge::sandbox::SANDBOX_ACCOUNT_ID
    );
    // The server's own log (stderr, at info level in tests) carries no token either.
    let server_log = std::fs::read_to_string(env.stderr_path()).unwrap_or_default();
    assert!(
        !server_log.is_empty(),
        "the server logged something at info"
    );
    assert!(!server_log.contains(&access) && !server_log.contains(&refresh));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_consent_and_timeouts_are_clear() {
    let env = oauth_env(None).await;
    env.sandbox.oauth().set_consent(false);
    // A declined consent is the server's answer to our request: it ends the login at once
    // (well before the 60 s timeout) with exit 1 and the server's error.
    let started = std::time::Instant::now();
    let run = env.start_login_with_timeout(60);
    let page = browse(&run.url).await;
    assert!(page.contains("not completed"), "{page}");
    let (code, _, stderr) = run.finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("access_denied"), "{stderr}");
    assert!(stderr.contains("was not completed"), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(50),
        "a declined consent must not wait for the timeout"
    );
    assert!(!env.home.path().join("credentials.json").exists());
    assert_eq!(events(&env, "login")[0]["outcome"], "error");

    let out = env
        .command()
        .args(["login", "--no-browser", "--timeout", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no sign-in arrived within 1 s"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_refresh_and_rotation_is_persisted() {
    let env = oauth_env(None).await;
    env.sandbox.oauth().set_expires_in(1);
    env.login().await;
    let before = credentials(&env);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let client = env.client().await;
    ok(&call(
        &client,
        "jira_get_issue",
        json!({"key": "ENG-1", "include": []}),
    )
    .await);
    client.cancel().await.ok();
    let after = credentials(&env);
    assert_ne!(
        before["refresh_token"], after["refresh_token"],
        "rotated token persisted"
    );
    assert_ne!(before["access_token"], after["access_token"]);
    assert_eq!(env.sandbox.oauth().counters().refreshes, 1);
    let refresh = &events(&env, "token_refresh")[0];
    assert_eq!(refresh["outcome"], "ok");
    assert_eq!(refresh["upstream"][0]["path"], "/oauth/token");
    assert_eq!(refresh["upstream"][0]["method"], "POST");
    let text = std::fs::read_to_string(env.audit_path()).unwrap();
    assert!(!text.contains(after["refresh_token"].as_str().unwrap()));
}

/// Two bridges find the same expired token at the same moment; the sandbox gives no grace, so
/// a second refresh with the old token would revoke the family. Exactly one refresh happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refresh_exactly_once() {
    let env = oauth_env(None).await;
    env.sandbox.oauth().set_expires_in(2);
    env.login().await;
    env.sandbox.oauth().set_grace(Duration::ZERO);
    let a = env.client().await;
    let b = env.client().await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    // Slow every request down so both processes certainly find the stale token before either
    // has refreshed: without the cross-process lock they would both refresh with it.
    env.sandbox.faults().set_latency(Duration::from_millis(300));
    let (ra, rb) = tokio::join!(
        call(
            &a,
            "jira_search",
            json!({"jql": "project = ENG", "max_results": 1})
        ),
        call(
            &b,
            "jira_search",
            json!({"jql": "project = OPS", "max_results": 1})
        ),
    );
    ok(&ra);
    ok(&rb);
    a.cancel().await.ok();
    b.cancel().await.ok();
    let counters = env.sandbox.oauth().counters();
    assert_eq!(counters.refreshes, 1, "{counters:?}");
    assert_eq!(counters.families_revoked, 0, "{counters:?}");
    assert_eq!(events(&env, "token_refresh").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_family_gives_an_actionable_error() {
    let env = oauth_env(None).await;
    env.login().await;
    let client = env.client().await;
    ok(&call(
        &client,
        "jira_search",
        json!({"jql": "project = ENG", "max_results": 1}),
    )
    .await);
    env.sandbox.oauth().revoke_all();
    let msg = err(&call(&client, "jira_search", json!({"jql": "project = ENG"})).await);
    assert!(
        msg.contains("sign-in expired") && msg.contains("atlassian-mcp-bridge login"),
        "{msg}"
    );
    // Later calls fail at once, without asking the server again.
    let msg = err(&call(&client, "jira_get_issue", json!({"key": "ENG-1"})).await);
    assert!(msg.contains("atlassian-mcp-bridge login"), "{msg}");
    client.cancel().await.ok();
    let refreshes = events(&env, "token_refresh");
    assert_eq!(
        refreshes.len(),
        1,
        "one failed refresh, then no more attempts"
    );
    assert_eq!(refreshes[0]["outcome"], "error");
    assert!(
        refreshes[0]["error"]
            .as_str()
            .unwrap()
            .contains("invalid_grant")
    );
    let calls = env.tool_records();
    assert_eq!(calls[1]["outcome"], "error");
    // 401 on the API, then the refresh attempt (recorded in its own token_refresh record).
    assert_eq!(calls[1]["upstream"][0]["status"], 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_scope_is_named() {
    let env = oauth_env(Some(&[
        "read:jira-user",
        "read:me",
        "read:page:confluence",
        "offline_access",
    ]))
    .await;
    env.login().await;
    let client = env.client().await;
    let msg = err(&call(&client, "jira_search", json!({"jql": "project = ENG"})).await);
    assert!(
        msg.contains("`read:jira-work`") && msg.contains("login"),
        "{msg}"
    );
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_signed_in_status_and_logout() {
    let env = oauth_env(None).await;
    let client = env.client().await;
    let msg = err(&call(&client, "jira_search", json!({"jql": "project = ENG"})).await);
    assert!(
        msg.contains("not signed in") && msg.contains("login"),
        "{msg}"
    );
    client.cancel().await.ok();

    let (code, out, _) = env.cli(&["status"]);
    assert_eq!(code, 1);
    assert!(out.contains("Signed in:  no"), "{out}");

    env.login().await;
    let (code, out, errs) = env.cli(&["status"]);
    assert_eq!(code, 0, "{out}{errs}");
    assert!(
        out.contains("Dana Demo") && out.contains("Check:      ok"),
        "{out}"
    );
    assert!(out.contains("Policy:"), "{out}");

    let (code, out, _) = env.cli(&["logout"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Signed out") && out.contains("revoked"),
        "{out}"
    );
    assert!(!env.home.path().join("credentials.json").exists());
    assert_eq!(env.sandbox.oauth().counters().active_families, 0);
    let (code, out, _) = env.cli(&["logout"]);
    assert_eq!(code, 0);
    assert!(out.contains("Not signed in"), "{out}");
    let logouts = events(&env, "logout");
    assert_eq!(logouts.len(), 1);
    assert_eq!(logouts[0]["upstream"][0]["path"], "/oauth/revoke");
    let (code, _, errs) = env.cli(&["audit", "verify"]);
    assert_eq!(code, 0, "{errs}");
    let _ = read_jsonl(&env.audit_path());
}

#[test]
fn oauth_config_without_secret_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        "[site]\nurl = \"https://acme.atlassian.net\"\nauth = \"oauth\"\n[oauth]\nclient_id = \"abc\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(crate::support::BIN)
        .arg("login")
        .env("ATLASSIAN_MCP_BRIDGE_HOME", home.path())
        .env_remove("ATLASSIAN_OAUTH_CLIENT_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("oauth.client_secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_selection_among_accessible_resources() {
    let env = oauth_env(None).await;
    env.sandbox.oauth().set_extra_sites(vec![(
        "11111111-2222-3333-4444-555555555555".into(),
        "https://other-site.atlassian.net".into(),
        "other".into(),
    )]);
    // site.url matches neither site: the error lists what this sign-in can reach.
    let config = std::fs::read_to_string(env.home.path().join("config.toml")).unwrap();
    let base = env.sandbox.base_url();
    std::fs::write(
        env.home.path().join("config.toml"),
        config.replace(
            &format!("url = \"{base}\"\n"),
            "url = \"https://third.atlassian.net\"\n",
        ),
    )
    .unwrap();
    let run = env.start_login();
    browse(&run.url).await;
    let (code, _, stderr) = run.finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("other-site.atlassian.net") && stderr.contains(&base),
        "{stderr}"
    );
    assert!(!env.home.path().join("credentials.json").exists());

    // cloud_id picks among several.
    std::fs::write(
        env.home.path().join("config.toml"),
        config.replace(
            "auth = \"oauth\"\n",
            "auth = \"oauth\"\ncloud_id = \"11111111-2222-3333-4444-555555555555\"\n",
        ),
    )
    .unwrap();
    env.login().await;
    assert_eq!(
        credentials(&env)["site_url"],
        "https://other-site.atlassian.net"
    );

    // No site at all is its own clear error.
    std::fs::write(env.home.path().join("config.toml"), &config).unwrap();
    env.sandbox.oauth().set_no_sites(true);
    let run = env.start_login();
    browse(&run.url).await;
    let (code, _, stderr) = run.finish();
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no Atlassian site"), "{stderr}");
}

/// A tool call cancelled while its token refresh is on the wire must not lose the rotated
/// refresh token: the refresh completes, is stored and audited, and the sign-in lives on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_during_a_refresh_keeps_the_rotated_token() {
    use rmcp::model::{CallToolRequestParams, ClientRequest, Request};
    use rmcp::service::PeerRequestOptions;
    let env = oauth_env(None).await;
    env.sandbox.oauth().set_expires_in(1);
    env.login().await;
    let before = credentials(&env);
    env.sandbox.oauth().set_grace(Duration::ZERO);
    let client = env.client().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    env.sandbox
        .faults()
        .set_latency(Duration::from_millis(1500));
    let params = CallToolRequestParams::new("jira_search")
        .with_arguments(json!({"jql": "project = ENG"}).as_object().unwrap().clone());
    let handle = client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    handle.cancel(Some("stop".into())).await.unwrap();
    // Let the refresh that was on the wire finish.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    env.sandbox.faults().set_latency(Duration::ZERO);
    let after = credentials(&env);
    assert_ne!(
        before["refresh_token"], after["refresh_token"],
        "rotated token was stored"
    );
    let refreshes = events(&env, "token_refresh");
    assert_eq!(refreshes.len(), 1);
    assert_eq!(refreshes[0]["outcome"], "ok");
    assert_eq!(env.tool_records()[0]["outcome"], "cancelled");
    // With grace 0, reusing the old token would have revoked the family: the next call works.
    env.sandbox.oauth().set_expires_in(3600);
    ok(&call(
        &client,
        "jira_search",
        json!({"jql": "project = ENG", "max_results": 1}),
    )
    .await);
    assert_eq!(env.sandbox.oauth().counters().families_revoked, 0);
    client.cancel().await.ok();
}
