//! Upstream mode (SPEC §11) against the sandbox's imitation of Atlassian's hosted MCP server:
//! discovery → registration → sign-in → proxied calls, policy and audit on proxied tools,
//! list changes and progress, refresh across processes, a forgotten registration.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult,
    ElicitationAction, Implementation, ProgressNotificationParam,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, ErrorData, ServiceExt};
use serde_json::{Value, json};

use atlassian_mcp_bridge::sandbox::SANDBOX_CLOUD_ID as CLOUD;

use crate::support::{BIN, Env, Flavor, LoginRun, browse, call, err, ok, text};

/// An environment whose config names the sandbox's upstream MCP server; `extra` is more TOML.
async fn upstream_env(extra_upstream: &str, extra: &str) -> Env {
    let env = Env::new(Flavor::Cloud, "").await;
    let url = env.sandbox.upstream_url();
    let path = env.home.path().join("config.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(&format!(
        "\n[upstream]\nurl = \"{url}\"\n{extra_upstream}\n{extra}\n"
    ));
    std::fs::write(&path, config).unwrap();
    env
}

fn start_upstream_login(env: &Env) -> LoginRun {
    env.start_login_args(&["login", "--upstream", "--no-browser", "--timeout", "60"])
}

/// The whole upstream sign-in, the test acting as the browser.
async fn login_upstream(env: &Env) -> String {
    let run = start_upstream_login(env);
    let page = browse(&run.url).await;
    assert!(page.contains("Signed in"), "{page}");
    let (code, _, stderr) = run.finish();
    assert_eq!(code, Some(0), "login --upstream failed: {stderr}");
    stderr
}

fn credentials(env: &Env) -> Value {
    let text = std::fs::read_to_string(env.home.path().join("credentials.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn tool_names(tools: &[rmcp::model::Tool]) -> Vec<String> {
    tools.iter().map(|t| t.name.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_registration_sign_in_and_a_proxied_call() {
    let env = upstream_env("", "").await;
    let run = start_upstream_login(&env);
    let q: std::collections::HashMap<String, String> = run.url.query_pairs().into_owned().collect();
    assert_eq!(run.url.path(), "/auth/authorize");
    assert_eq!(
        q["resource"],
        env.sandbox.upstream_url(),
        "RFC 8707 resource"
    );
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["state"].len() >= 16);
    assert!(q["redirect_uri"].starts_with("http://127.0.0.1:"), "{q:?}");
    let page = browse(&run.url).await;
    assert!(page.contains("Signed in"), "{page}");
    let (code, _, stderr) = run.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !stderr.contains(".ey") && stderr.contains("Signed in to the upstream"),
        "{stderr}"
    );

    let counters = env.sandbox.upstream().counters();
    assert_eq!((counters.registrations, counters.code_exchanges), (1, 1));
    let stored = credentials(&env);
    let up = &stored["upstream"];
    assert_eq!(up["url"], env.sandbox.upstream_url());
    assert_eq!(up["registration"]["issuer"], env.sandbox.upstream_issuer());
    assert_eq!(up["registration"]["redirect_uri"], q["redirect_uri"]);
    assert!(up["tokens"]["refresh_token"].is_string());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.home.path().join("credentials.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The login record lists the discovery path, in order.
    let login = env
        .audit_records()
        .into_iter()
        .find(|r| r["event"] == "login")
        .unwrap();
    let paths: Vec<String> = login["upstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["path"].as_str().unwrap().to_string())
        .collect();
    for expected in [
        "/v1/mcp",
        "/.well-known/oauth-protected-resource/v1/mcp",
        "/.well-known/oauth-authorization-server/auth/tenant-1",
        "/auth/dcr/register",
        "/auth/oauth/token",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} not in {paths:?}"
        );
    }

    // serve: the bridge's own tools and the prefixed upstream tools, and initialize never
    // waited for the upstream.
    env.sandbox.clear_requests();
    let client = env.client().await;
    assert!(
        !env.sandbox
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/v1/mcp")),
        "initialize must not connect to the upstream"
    );
    let names = tool_names(&client.list_all_tools().await.unwrap());
    for n in [
        "jira_search",
        "rovo_getJiraIssue",
        "rovo_searchJiraIssuesUsingJql",
        "rovo_createJiraIssue",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    let r = call(
        &client,
        "rovo_getJiraIssue",
        json!({"cloudId": CLOUD, "issueIdOrKey": "ENG-1"}),
    )
    .await;
    let v = ok(&r);
    assert_eq!(v["key"], "ENG-1", "{v}");
    // An upstream isError is forwarded as it is.
    let r = call(
        &client,
        "rovo_getJiraIssue",
        json!({"cloudId": CLOUD, "issueIdOrKey": "ENG-99999"}),
    )
    .await;
    let message = err(&r);
    assert!(message.contains("does not exist"), "{message}");
    client.cancel().await.ok();

    let records = env.tool_records();
    let first = records
        .iter()
        .find(|r| r["tool"] == "rovo_getJiraIssue")
        .unwrap();
    assert_eq!(first["outcome"], "ok");
    assert_eq!(first["upstream"][0]["method"], "MCP");
    assert_eq!(first["upstream"][0]["path"], "tools/call getJiraIssue");
    assert_eq!(first["upstream"][0]["status"], 200);
    assert!(
        first["touched"]
            .as_array()
            .unwrap()
            .contains(&json!("ENG-1")),
        "{first}"
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| r["tool"] == "rovo_getJiraIssue")
            .count(),
        2
    );
    let calls = env.sandbox.upstream().counters().calls;
    assert_eq!(calls[0].name, "getJiraIssue");
    assert_eq!(calls[0].arguments["issueIdOrKey"], "ENG-1");

    // A second sign-in reuses the registration.
    login_upstream(&env).await;
    assert_eq!(env.sandbox.upstream().counters().registrations, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_applies_to_proxied_tools() {
    let env = upstream_env(
        "",
        "[policy]\nread_only = true\njira_projects = [\"ENG\"]\ndeny_tools = [\"rovo_getConfluencePage\"]\n",
    )
    .await;
    login_upstream(&env).await;
    let client = env.client().await;
    let names = tool_names(&client.list_all_tools().await.unwrap());
    assert!(names.iter().any(|n| n == "rovo_getJiraIssue"), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "rovo_createJiraIssue"),
        "read-only hides it: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n == "rovo_getConfluencePage"),
        "denied by name: {names:?}"
    );

    let r = call(
        &client,
        "rovo_searchJiraIssuesUsingJql",
        json!({"cloudId": CLOUD, "jql": "project = OPS"}),
    )
    .await;
    assert!(err(&r).contains("OPS"), "{}", text(&r));
    let r = call(
        &client,
        "rovo_getJiraIssue",
        json!({"cloudId": CLOUD, "issueIdOrKey": "SEC-1"}),
    )
    .await;
    assert!(err(&r).contains("SEC"), "{}", text(&r));
    let r = call(
        &client,
        "rovo_createJiraIssue",
        json!({"cloudId": CLOUD, "projectKey": "ENG", "issueTypeName": "Task", "summary": "x"}),
    )
    .await;
    assert!(err(&r).contains("read-only"), "{}", text(&r));
    let r = call(
        &client,
        "rovo_getConfluencePage",
        json!({"cloudId": CLOUD, "pageId": "100101"}),
    )
    .await;
    assert!(err(&r).contains("deny_tools"), "{}", text(&r));
    // Nothing refused reached the upstream.
    assert!(env.sandbox.upstream().counters().calls.is_empty());

    // An allowed search is confined to the allowlist before it is sent.
    let r = call(
        &client,
        "rovo_searchJiraIssuesUsingJql",
        json!({"cloudId": CLOUD, "jql": "order by key", "maxResults": 5}),
    )
    .await;
    ok(&r);
    let sent = env.sandbox.upstream().counters().calls;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].arguments["jql"],
        "project in (\"ENG\") order by key"
    );
    client.cancel().await.ok();

    let denied: Vec<Value> = env
        .tool_records()
        .into_iter()
        .filter(|r| r["outcome"] == "denied")
        .collect();
    assert_eq!(denied.len(), 4, "{denied:?}");
    assert!(
        denied
            .iter()
            .all(|r| r["upstream"].as_array().is_none_or(|u| u.is_empty()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_upstream_tools_and_not_signed_in() {
    let env = upstream_env("tools = \"upstream\"\n", "").await;
    // Not signed in yet: no upstream tools, and a call says what to run.
    let client = env.client().await;
    let names = tool_names(&client.list_all_tools().await.unwrap());
    assert!(names.is_empty(), "{names:?}");
    let r = call(
        &client,
        "rovo_getJiraIssue",
        json!({"cloudId": CLOUD, "issueIdOrKey": "ENG-1"}),
    )
    .await;
    assert!(err(&r).contains("login --upstream"), "{}", text(&r));
    client.cancel().await.ok();

    login_upstream(&env).await;
    let client = env.client().await;
    let names = tool_names(&client.list_all_tools().await.unwrap());
    assert!(
        !names.is_empty() && names.iter().all(|n| n.starts_with("rovo_")),
        "{names:?}"
    );
    let r = client
        .call_tool(
            CallToolRequestParams::new("jira_search")
                .with_arguments(json!({"jql": "project = ENG"}).as_object().unwrap().clone()),
        )
        .await;
    assert!(r.is_err(), "the bridge's own tools are not served: {r:?}");
    client.cancel().await.ok();
}

/// A client that records progress and list changes and answers confirmations with yes.
#[derive(Clone, Default)]
struct Watcher {
    progress: Arc<Mutex<Vec<f64>>>,
    list_changed: Arc<Mutex<u32>>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Watcher {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_elicitation().build(),
            Implementation::new("watcher", "1.0.0"),
        )
    }

    async fn create_elicitation(
        &self,
        p: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &p {
            self.asked.lock().unwrap().push(message.clone());
        }
        Ok(ElicitResult::new(ElicitationAction::Accept).with_content(json!({"proceed": true})))
    }

    async fn on_progress(&self, p: ProgressNotificationParam, _: NotificationContext<RoleClient>) {
        self.progress.lock().unwrap().push(p.progress);
    }

    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        *self.list_changed.lock().unwrap() += 1;
    }
}

async fn watcher_client(env: &Env, w: Watcher) -> RunningService<RoleClient, Watcher> {
    let home = env.home.path().to_path_buf();
    let cmd = tokio::process::Command::new(BIN).configure(|c| {
        c.arg("serve")
            .env("ATLASSIAN_MCP_BRIDGE_HOME", &home)
            .env_remove("ATLASSIAN_MCP_BRIDGE_CONFIG");
    });
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    w.serve(transport).await.unwrap()
}

async fn wcall(
    client: &RunningService<RoleClient, Watcher>,
    tool: &str,
    args: Value,
) -> rmcp::model::CallToolResult {
    let params = CallToolRequestParams::new(tool.to_string())
        .with_arguments(args.as_object().unwrap().clone());
    tokio::time::timeout(Duration::from_secs(60), client.call_tool(params))
        .await
        .expect("in time")
        .expect("answered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_list_changes_and_confirmation_are_forwarded() {
    let env = upstream_env("", "").await;
    login_upstream(&env).await;
    let w = Watcher::default();
    let client = watcher_client(&env, w.clone()).await;
    let names = tool_names(&client.list_all_tools().await.unwrap());
    assert!(!names.iter().any(|n| n == "rovo_getJiraIssueRemoteLinks"));

    let r = wcall(
        &client,
        "rovo_searchJiraIssuesUsingJql",
        json!({"cloudId": CLOUD, "jql": "project = ENG", "maxResults": 3}),
    )
    .await;
    let v = ok(&r);
    assert_eq!(v["issues"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(
        w.progress.lock().unwrap().len(),
        2,
        "two progress notifications forwarded"
    );

    // A write asks first, then goes through.
    let before = env.sandbox.issue_count("ENG");
    let r = wcall(&client, "rovo_createJiraIssue", json!({"cloudId": CLOUD, "projectKey": "ENG", "issueTypeName": "Task", "summary": "from rovo"})).await;
    ok(&r);
    assert_eq!(env.sandbox.issue_count("ENG"), before + 1);
    let asked = w.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0].contains("rovo_createJiraIssue") && asked[0].contains("from rovo"),
        "{asked:?}"
    );

    env.sandbox.upstream().set_extra_tool(true);
    let mut seen = false;
    for _ in 0..100 {
        if *w.list_changed.lock().unwrap() > 0 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "tools/list_changed was not forwarded");
    let names = tool_names(&client.list_all_tools().await.unwrap());
    assert!(
        names.iter().any(|n| n == "rovo_getJiraIssueRemoteLinks"),
        "{names:?}"
    );
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refresh_once_and_a_forgotten_registration_is_redone() {
    let env = upstream_env("", "").await;
    env.sandbox.upstream().set_expires_in(1);
    login_upstream(&env).await;
    env.sandbox.upstream().set_expires_in(3600);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let a = env.client().await;
    let b = env.client().await;
    let args = json!({"cloudId": CLOUD, "issueIdOrKey": "ENG-2"});
    let (ra, rb) = tokio::join!(
        call(&a, "rovo_getJiraIssue", args.clone()),
        call(&b, "rovo_getJiraIssue", args.clone())
    );
    ok(&ra);
    ok(&rb);
    let c = env.sandbox.upstream().counters();
    assert_eq!(c.refreshes, 1, "exactly one refresh across both processes");
    assert_eq!(c.families_revoked, 0, "no refresh-token reuse");
    a.cancel().await.ok();
    b.cancel().await.ok();
    let refreshes: Vec<Value> = env
        .audit_records()
        .into_iter()
        .filter(|r| r["event"] == "token_refresh")
        .collect();
    assert_eq!(refreshes.len(), 1, "{refreshes:?}");

    // The server forgets every client; the next refresh says so, and a new sign-in registers
    // again (once).
    env.sandbox.upstream().set_expires_in(1);
    login_upstream(&env).await;
    assert_eq!(env.sandbox.upstream().counters().registrations, 1, "reused");
    let client = env.client().await;
    env.sandbox.upstream().forget_clients();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = call(&client, "rovo_getJiraIssue", args.clone()).await;
    let m = err(&r);
    assert!(m.contains("login --upstream"), "{m}");
    client.cancel().await.ok();
    env.sandbox.upstream().set_expires_in(3600);
    login_upstream(&env).await;
    assert_eq!(env.sandbox.upstream().counters().registrations, 2);
    let client = env.client().await;
    ok(&call(&client, "rovo_getJiraIssue", args).await);
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_consent_wrong_iss_and_unreachable_are_clear() {
    let env = upstream_env("", "").await;
    env.sandbox.upstream().set_consent(false);
    let run = start_upstream_login(&env);
    let _ = browse_any(&run.url).await;
    let (code, _, stderr) = run.finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("access_denied"), "{stderr}");

    env.sandbox.upstream().set_consent(true);
    env.sandbox.upstream().set_wrong_iss(true);
    let run = start_upstream_login(&env);
    let _ = browse_any(&run.url).await;
    let (code, _, stderr) = run.finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("iss"), "{stderr}");
    assert_eq!(
        env.sandbox.upstream().counters().code_exchanges,
        0,
        "no exchange after a wrong iss"
    );

    env.sandbox.upstream().set_wrong_iss(false);
    login_upstream(&env).await;
    let client = env.client().await;
    let _ = client.list_all_tools().await.unwrap();
    env.sandbox.set_reachable(false);
    let r = call(
        &client,
        "rovo_getJiraIssue",
        json!({"cloudId": CLOUD, "issueIdOrKey": "ENG-1"}),
    )
    .await;
    let m = err(&r);
    assert!(
        m.contains("could not be reached") || m.contains("unreachable"),
        "{m}"
    );
    env.sandbox.set_reachable(true);
    client.cancel().await.ok();
    let last = env.tool_records().into_iter().last().unwrap();
    assert_eq!(last["outcome"], "error");
    assert_eq!(last["upstream"][0]["status"], 0);
}

/// Follows the authorize redirect to the callback whatever it carries; returns the page.
async fn browse_any(authorize: &url::Url) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http.get(authorize.clone()).send().await.expect("authorize");
    let Some(location) = r.headers().get("location") else {
        return r.text().await.unwrap_or_default();
    };
    let location = location.to_str().unwrap().to_string();
    match http.get(location).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_doctor_and_logout_know_the_upstream_sign_in() {
    let env = upstream_env("", "").await;
    let (code, out, _) = env.cli(&["status"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("Upstream:") && out.contains("login --upstream"),
        "{out}"
    );
    let (code, out, _) = env.cli(&["doctor", "--json"]);
    assert_eq!(code, 1, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "upstream")
        .unwrap()
        .clone();
    assert_eq!(check["status"], "fail", "{check}");
    assert!(
        check["fix"].as_str().unwrap().contains("login --upstream"),
        "{check}"
    );

    login_upstream(&env).await;
    let (code, out, _) = env.cli(&["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("valid until") && out.contains("rotating"),
        "{out}"
    );
    let (code, out, _) = env.cli(&["doctor", "--json"]);
    let report: Value = serde_json::from_str(&out).unwrap();
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "upstream")
        .unwrap()
        .clone();
    assert_eq!((code, check["status"].as_str()), (0, Some("pass")), "{out}");
    assert!(
        check["detail"].as_str().unwrap().contains("with 5 tools"),
        "{check}"
    );

    let (code, out, err) = env.cli(&["logout", "--upstream"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("revoked"), "{out}");
    assert_eq!(
        env.sandbox.upstream().counters().revocations,
        2,
        "refresh and access token"
    );
    assert!(credentials_or_null(&env)["upstream"].is_null());
    let logout = env
        .audit_records()
        .into_iter()
        .rfind(|r| r["event"] == "logout")
        .unwrap();
    assert_eq!(logout["args"]["upstream"], env.sandbox.upstream_url());
    let (code, out, _) = env.cli(&["logout", "--upstream"]);
    assert_eq!(code, 0);
    assert!(out.contains("nothing to forget"), "{out}");
}

fn credentials_or_null(env: &Env) -> Value {
    std::fs::read_to_string(env.home.path().join("credentials.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_sign_in_is_announced_and_a_dead_one_keeps_the_tools_listed() {
    let env = upstream_env("", "").await;
    // A desktop that started before the sign-in learns of the upstream tools without a restart.
    let w = Watcher::default();
    let client = watcher_client(&env, w.clone()).await;
    let names = tool_names(&client.list_all_tools().await.unwrap());
    assert!(!names.iter().any(|n| n.starts_with("rovo_")), "{names:?}");
    login_upstream(&env).await;
    let mut announced = false;
    for _ in 0..300 {
        if *w.list_changed.lock().unwrap() > 0 {
            announced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(announced, "no tools/list_changed after the sign-in");
    let names = tool_names(&client.list_all_tools().await.unwrap());
    assert!(names.iter().any(|n| n == "rovo_getJiraIssue"), "{names:?}");
    client.cancel().await.ok();

    // The sign-in ends: the tools stay listed, and each one says what to run.
    let (code, _, _) = env.cli(&["logout", "--upstream"]);
    assert_eq!(code, 0);
    let client = env.client().await;
    let names = tool_names(&client.list_all_tools().await.unwrap());
    assert!(names.iter().any(|n| n == "rovo_getJiraIssue"), "{names:?}");
    let r = call(
        &client,
        "rovo_getJiraIssue",
        json!({"cloudId": CLOUD, "issueIdOrKey": "ENG-1"}),
    )
    .await;
    assert!(err(&r).contains("login --upstream"), "{}", text(&r));
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_only_needs_no_site() {
    let env = upstream_env("tools = \"upstream\"\n", "").await;
    login_upstream(&env).await;
    // The same home, with no [site] at all.
    let url = env.sandbox.upstream_url();
    std::fs::write(
        env.home.path().join("config.toml"),
        format!("[upstream]\nurl = \"{url}\"\ntools = \"upstream\"\n"),
    )
    .unwrap();
    env.sandbox.clear_requests();
    let client = env.client().await;
    let info = client.peer_info().unwrap().clone();
    assert!(info.capabilities.resources.is_none() && info.capabilities.prompts.is_none());
    let names = tool_names(&client.list_all_tools().await.unwrap());
    assert!(
        !names.is_empty() && names.iter().all(|n| n.starts_with("rovo_")),
        "{names:?}"
    );
    let r = call(
        &client,
        "rovo_getJiraIssue",
        json!({"cloudId": CLOUD, "issueIdOrKey": "ENG-3"}),
    )
    .await;
    assert_eq!(ok(&r)["key"], "ENG-3");
    client.cancel().await.ok();
    // Only the upstream was contacted.
    let paths: Vec<String> = env.sandbox.requests().into_iter().map(|r| r.path).collect();
    assert!(paths.iter().all(|p| p.starts_with("/v1/mcp")), "{paths:?}");
    let (code, out, _) = env.cli(&["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("only the upstream"), "{out}");
}
