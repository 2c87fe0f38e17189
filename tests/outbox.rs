//! The outbox (SPEC §10, issue 9): writes made while the site cannot be reached are queued and
//! answered `queued`, audited `offline`, and sent exactly once later — by the next call that
//! reaches the site or by `outbox send` — even with two processes sending at once or a
//! connection dropped after the site committed; a write the site refuses stays `failed`,
//! is reported once, and can be dropped.

use std::time::Duration;

use atlassian_mcp_bridge::sandbox::{self, FaultOptions, FaultSpec};
use serde_json::{Value, json};

use crate::support::{Env, FLAVORS, Flavor, call, ok, text};

const ALWAYS: &str = "[cache]\noffline = \"always\"\n";

fn issue(n: usize) -> Value {
    json!({"project": "ENG", "issue_type": "Task", "summary": format!("Offline bulk {n}"),
           "description": format!("Written on a **train** ({n})")})
}

/// `outbox list --json`, parsed.
fn outbox(env: &Env) -> Vec<Value> {
    let (code, out, err) = env.cli(&["outbox", "list", "--json"]);
    assert_eq!(code, 0, "outbox list: {err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `outbox send` with `offline` forced to `auto` (the config may say `always`).
fn send(env: &Env) -> (i32, String, String) {
    let out = env
        .command()
        .env("ATLASSIAN_MCP_BRIDGE_OFFLINE", "auto")
        .args(["outbox", "send"])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits until nothing in the outbox is `queued` any more (a background send finished).
async fn settled(env: &Env) -> Vec<Value> {
    for _ in 0..150 {
        let list = outbox(env);
        if list.iter().all(|e| e["status"] != "queued") {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the outbox was not sent: {:?}", outbox(env));
}

/// How many comments on `key` contain `needle`, read straight from the sandbox.
async fn comments_with(env: &Env, key: &str, needle: &str) -> usize {
    let http = reqwest::Client::new();
    let req = match env.flavor {
        Flavor::Cloud => http
            .get(format!(
                "{}/rest/api/3/issue/{key}/comment?maxResults=100",
                env.sandbox.base_url()
            ))
            .basic_auth(sandbox::SANDBOX_EMAIL, Some(sandbox::SANDBOX_API_TOKEN)),
        Flavor::DataCenter => http
            .get(format!(
                "{}/rest/api/2/issue/{key}/comment?maxResults=100",
                env.sandbox.dc_base_url()
            ))
            .bearer_auth(sandbox::SANDBOX_PAT),
    };
    let body: Value = req.send().await.unwrap().json().await.unwrap();
    body["comments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["body"].to_string().contains(needle))
        .count()
}

/// The four offline writes of these tests, each expected to answer `queued`.
async fn queue_four(client: &crate::support::Client, tag: &str) -> Vec<String> {
    let calls = [
        (
            "jira_create_issue",
            json!({"project": "ENG", "issue_type": "Task", "summary": format!("Offline issue {tag}"),
                   "description": "Steps:\n\n- one\n- **two**"}),
        ),
        (
            "jira_add_comment",
            json!({"key": "ENG-1", "body": format!("Offline *comment* {tag}")}),
        ),
        (
            "jira_bulk_create_issues",
            json!({"issues": [issue(0), issue(1), issue(2)]}),
        ),
        (
            "confluence_create_page",
            json!({"space": "ENG", "title": format!("Offline page {tag}"), "body": "# Notes\n\nFrom the plane."}),
        ),
    ];
    let tools = client.list_all_tools().await.unwrap();
    let mut ops = Vec::new();
    for (tool, args) in calls {
        let r = call(client, tool, args).await;
        let out = ok(&r);
        assert_eq!(out["status"], "queued", "{tool}: {out}");
        // A queued answer still fits the tool's output schema as served.
        let schema = tools
            .iter()
            .find(|t| t.name == tool)
            .and_then(|t| t.output_schema.clone())
            .unwrap();
        let schema = Value::Object((*schema).clone());
        let validator = jsonschema::validator_for(&schema).unwrap();
        let problems: Vec<String> = validator.iter_errors(&out).map(|e| e.to_string()).collect();
        assert!(problems.is_empty(), "{tool}: {problems:?} in {out}");
        let op = out["operation_id"].as_str().unwrap().to_string();
        assert!(
            text(&r).starts_with("Queued (offline)") && text(&r).contains(&op),
            "{tool}: {}",
            text(&r)
        );
        ops.push(op);
    }
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_writes_are_queued_then_sent_once_by_the_next_call_online() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let (issues, pages) = (
        env.sandbox.issue_count("ENG"),
        env.sandbox.page_count("ENG"),
    );
    env.sandbox.set_reachable(false);
    let ops = queue_four(&client, "A").await;
    assert_eq!(
        env.sandbox.issue_count("ENG"),
        issues,
        "nothing at the site"
    );
    assert_eq!(env.sandbox.page_count("ENG"), pages);

    // Each queuing call is audited `offline`, and the outbox names its record.
    let queued = outbox(&env);
    assert_eq!(queued.len(), 4, "{queued:?}");
    let records = env.tool_records();
    for entry in &queued {
        assert_eq!(entry["status"], "queued");
        let rec = records
            .iter()
            .find(|r| r["id"] == entry["record"])
            .unwrap_or_else(|| panic!("no audit record {}", entry["record"]));
        assert_eq!(rec["offline"], true, "{rec}");
        assert_eq!(rec["outcome"], "ok");
        assert_eq!(rec["tool"], entry["tool"]);
        assert!(ops.contains(&entry["id"].as_str().unwrap().to_string()));
    }
    let bulk = queued
        .iter()
        .find(|e| e["tool"] == "jira_bulk_create_issues")
        .unwrap();
    assert_eq!(bulk["target"], "ENG");

    // Back online: the next call that reaches the site sends everything, once.
    env.sandbox.set_reachable(true);
    ok(&call(&client, "jira_get_issue", json!({"key": "ENG-2"})).await);
    assert!(settled(&env).await.is_empty(), "sent entries are removed");
    assert_eq!(env.sandbox.issue_count("ENG"), issues + 4, "1 + 3 issues");
    assert_eq!(env.sandbox.page_count("ENG"), pages + 1);
    assert_eq!(comments_with(&env, "ENG-1", "Offline").await, 1);

    let sends: Vec<Value> = env
        .audit_records()
        .into_iter()
        .filter(|r| r["event"] == "outbox_send")
        .collect();
    assert_eq!(sends.len(), 4, "{sends:?}");
    for s in &sends {
        assert_eq!(s["outcome"], "ok", "{s}");
        assert!(s.get("offline").is_none_or(|o| o == false), "{s}");
        let origin = queued
            .iter()
            .find(|e| e["record"] == s["origin"])
            .unwrap_or_else(|| panic!("origin names no queuing record: {s}"));
        assert_eq!(s["tool"], origin["tool"]);
        assert!(!s["upstream"].as_array().unwrap().is_empty(), "{s}");
    }
    let created = sends
        .iter()
        .find(|s| s["tool"] == "jira_create_issue")
        .unwrap();
    assert!(created["touched"][0].as_str().unwrap().starts_with("ENG-"));

    // Nothing is left to send, and nothing is sent twice.
    let (code, out, _) = send(&env);
    assert_eq!(
        (code, out.as_str()),
        (0, "nothing queued; nothing to send\n")
    );
    ok(&call(&client, "jira_get_issue", json!({"key": "ENG-3"})).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.sandbox.issue_count("ENG"), issues + 4);
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_always_queues_without_contacting_the_site_and_outbox_send_sends() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, ALWAYS).await;
        let client = env.client().await;
        let issues = env.sandbox.issue_count("ENG");
        queue_four(&client, "B").await;
        let seen = env.sandbox.requests();
        client.cancel().await.ok();

        // `outbox send` refuses while offline is "always" …
        let (code, out, _) = env.cli(&["outbox", "send"]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("\"always\""), "{out}");
        // … and sends everything, once, when allowed to.
        let (code, out, err) = send(&env);
        assert_eq!(code, 0, "{flavor:?}: {out}{err}");
        assert!(out.contains("4 sent, 0 failed, 0 still queued"), "{out}");
        assert_eq!(
            out.lines().filter(|l| l.starts_with("sent ")).count(),
            4,
            "{out}"
        );
        assert_eq!(env.sandbox.issue_count("ENG"), issues + 4, "{flavor:?}");
        assert_eq!(
            comments_with(&env, "ENG-1", "Offline").await,
            1,
            "{flavor:?}"
        );
        assert!(outbox(&env).is_empty());
        let (code, out, _) = send(&env);
        assert_eq!(
            (code, out.as_str()),
            (0, "nothing queued; nothing to send\n")
        );
        assert_eq!(env.sandbox.issue_count("ENG"), issues + 4);
        // Checked last, so the rest is known to work whatever this says.
        assert!(
            seen.is_empty(),
            "{flavor:?}: the site was contacted while offline = \"always\": {seen:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_coming_online_at_once_send_each_write_once() {
    let env = Env::new(Flavor::Cloud, "").await;
    let a = env.client().await;
    let b = env.client().await;
    let issues = env.sandbox.issue_count("ENG");
    env.sandbox.set_reachable(false);
    for n in 0..5 {
        let r = ok(&call(
            &a,
            "jira_create_issue",
            json!({"project": "ENG", "issue_type": "Task", "summary": format!("Race {n}")}),
        )
        .await);
        assert_eq!(r["status"], "queued");
    }
    ok(&call(
        &b,
        "jira_bulk_create_issues",
        json!({"issues": [issue(7), issue(8)], "operation_id": "race-bulk"}),
    )
    .await);
    assert_eq!(outbox(&env).len(), 6);
    env.sandbox.set_reachable(true);
    // Slow enough that the two senders overlap.
    env.sandbox.faults().set_latency(Duration::from_millis(40));
    let (ra, rb) = tokio::join!(
        call(&a, "jira_get_issue", json!({"key": "ENG-1"})),
        call(&b, "jira_get_issue", json!({"key": "ENG-1"}))
    );
    ok(&ra);
    ok(&rb);
    // A third sender, a CLI one, joins in.
    let cli = env
        .command()
        .args(["outbox", "send"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(settled(&env).await.is_empty());
    let _ = tokio::task::spawn_blocking(move || cli.wait_with_output()).await;
    env.sandbox.faults().set_latency(Duration::ZERO);
    assert_eq!(
        env.sandbox.issue_count("ENG"),
        issues + 7,
        "each write exactly once"
    );
    let sent = env
        .audit_records()
        .into_iter()
        .filter(|r| r["event"] == "outbox_send" && r["outcome"] == "ok")
        .count();
    assert_eq!(sent, 6, "one outbox_send record per write");
    a.cancel().await.ok();
    b.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_after_the_site_committed_is_not_sent_twice() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, ALWAYS).await;
        let client = env.client().await;
        let (issues, pages) = (
            env.sandbox.issue_count("ENG"),
            env.sandbox.page_count("ENG"),
        );
        queue_four(&client, "C").await;
        client.cancel().await.ok();
        let writes = [
            ("POST", "/issue/bulk"),
            ("POST", "/issue/ENG-1/comment"),
            (
                "POST",
                if flavor == Flavor::Cloud {
                    "/wiki/api/v2/pages"
                } else {
                    "/rest/api/content"
                },
            ),
        ];
        for (method, path) in writes {
            let prefix = match (flavor, path) {
                (Flavor::Cloud, p) if p.starts_with("/wiki") => p.to_string(),
                (Flavor::Cloud, p) => format!("/rest/api/3{p}"),
                (Flavor::DataCenter, p) if p.starts_with("/rest/api/content") => p.to_string(),
                (Flavor::DataCenter, p) => format!("/rest/api/2{p}"),
            };
            env.sandbox.faults().inject_with(
                FaultSpec {
                    status: 0,
                    count: if path == "/issue/bulk" { 2 } else { 1 },
                    retry_after: None,
                    path_prefix: Some(prefix),
                },
                FaultOptions {
                    method: Some(method.into()),
                    drop_after_commit: true,
                    ..FaultOptions::default()
                },
            );
        }
        let (code, out, err) = send(&env);
        assert_eq!(code, 1, "{flavor:?}: {out}{err}");
        assert!(out.contains("outcome unknown"), "{out}");
        assert_eq!(
            env.sandbox.issue_count("ENG"),
            issues + 4,
            "the site committed: {out}"
        );
        assert_eq!(outbox(&env).len(), 4, "all still queued: {out}");
        assert_eq!(env.sandbox.faults().pending(), 0);

        let (code, out, err) = send(&env);
        assert_eq!(code, 0, "{flavor:?}: {out}{err}");
        assert!(out.contains("4 sent"), "{out}");
        assert_eq!(
            env.sandbox.issue_count("ENG"),
            issues + 4,
            "{flavor:?}: no duplicate"
        );
        assert_eq!(
            env.sandbox.page_count("ENG"),
            pages + 1,
            "{flavor:?}: no duplicate"
        );
        assert_eq!(
            comments_with(&env, "ENG-1", "Offline").await,
            1,
            "{flavor:?}"
        );
        let posts = env
            .sandbox
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && !r.path.contains("search"))
            .count();
        assert_eq!(posts, 4, "{flavor:?}: the second run only looked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_fails_is_reported_once_and_can_be_dropped() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    env.sandbox.set_reachable(false);
    let bad = ok(&call(
        &client,
        "jira_create_issue",
        json!({"project": "ENG", "issue_type": "Spaceship", "summary": "Cannot exist"}),
    )
    .await);
    let op = bad["operation_id"].as_str().unwrap().to_string();
    env.sandbox.set_reachable(true);
    let first = text(&call(&client, "jira_get_issue", json!({"key": "ENG-1"})).await);
    let list = settled(&env).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "failed");
    let reason = list[0]["error"].as_str().unwrap();
    assert!(reason.contains("Spaceship"), "{reason}");
    let (_, text_list, _) = env.cli(&["outbox", "list"]);
    assert!(
        text_list.contains("failed ") && text_list.contains("Spaceship"),
        "{text_list}"
    );

    // The failure is named in the text of one result after the send (the one that started
    // it, if the send was that quick, else the next), and only once.
    let second = text(&call(&client, "jira_get_issue", json!({"key": "ENG-1"})).await);
    let third = text(&call(&client, "jira_get_issue", json!({"key": "ENG-1"})).await);
    let note = "1 queued write failed: jira_create_issue ENG (Cannot exist): ";
    let noted: Vec<&String> = [&first, &second, &third]
        .into_iter()
        .filter(|t| t.contains("queued write failed"))
        .collect();
    assert_eq!(
        noted.len(),
        1,
        "reported once: {first}\n---\n{second}\n---\n{third}"
    );
    assert!(
        noted[0].starts_with(note) || noted[0].contains(&format!("\n{note}")),
        "{}",
        noted[0]
    );
    assert!(noted[0].contains("outbox list"), "{}", noted[0]);

    // doctor names it too.
    let (_, out, _) = env.cli(&["doctor", "--json"]);
    let report: Value = serde_json::from_str(&out).expect("doctor --json");
    let check = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "outbox")
        .cloned()
        .expect("an outbox check");
    assert_eq!(check["status"], "warn", "{check}");
    assert!(
        check["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&op) && d.contains("refused")),
        "{check}"
    );

    let (code, out, _) = env.cli(&["outbox", "drop", &op]);
    assert_eq!(code, 0, "{out}");
    assert!(outbox(&env).is_empty());
    let (code, _, err) = env.cli(&["outbox", "drop", &op]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("no queued write has the id `{op}`")),
        "{err}"
    );
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_is_checked_again_when_sending() {
    let env = Env::new(
        Flavor::Cloud,
        &format!("{ALWAYS}[policy]\njira_projects = [\"ENG\"]\n"),
    )
    .await;
    let client = env.client().await;
    let denied = call(
        &client,
        "jira_create_issue",
        json!({"project": "OPS", "issue_type": "Task", "summary": "Not here"}),
    )
    .await;
    assert_eq!(
        denied.is_error,
        Some(true),
        "refused at call time: {}",
        text(&denied)
    );
    ok(&call(
        &client,
        "jira_create_issue",
        json!({"project": "ENG", "issue_type": "Task", "summary": "Allowed then"}),
    )
    .await);
    client.cancel().await.ok();
    assert_eq!(outbox(&env).len(), 1);
    // The allowlist changes before the write is sent.
    let config = env.home.path().join("config.toml");
    let text_cfg = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text_cfg.replace("[\"ENG\"]", "[\"OPS\"]")).unwrap();
    let issues = env.sandbox.issue_count("ENG");
    let (code, out, _) = send(&env);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("failed  "), "{out}");
    assert_eq!(env.sandbox.issue_count("ENG"), issues);
    let list = outbox(&env);
    assert_eq!(list[0]["status"], "failed");
    let rec = env
        .audit_records()
        .into_iter()
        .find(|r| r["event"] == "outbox_send")
        .unwrap();
    assert_eq!(rec["outcome"], "denied", "{rec}");
}
