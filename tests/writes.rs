//! Every write tool against the sandbox (Cloud and Data Center), bulk create with per-item
//! results, dry runs, confirmations, policy, and the resume proofs: a killed process and a
//! connection dropped after the server committed both finish with no duplicate.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlassian_mcp_bridge::sandbox::{FaultOptions, FaultSpec};
use rmcp::model::ProtocolVersion;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult,
    ElicitationAction, Implementation, ProgressNotificationParam,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, ErrorData, ServiceExt};
use serde_json::{Value, json};

use crate::support::{BIN, Env, FLAVORS, Flavor, call, err, ok, text};

fn issue(project: &str, n: usize) -> Value {
    json!({"project": project, "issue_type": "Task", "summary": format!("Bulk item {n}"),
           "description": format!("Item **{n}** from the notes"), "labels": ["bulk"]})
}

fn bulk_posts(env: &Env) -> usize {
    env.sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/issue/bulk"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_writes_round_trip() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let created = ok(&call(
            &client,
            "jira_create_issue",
            json!({"project": "ENG", "issue_type": "Task", "summary": "Write path works",
                   "description": "Steps:\n\n- one\n- **two**\n\n```rust\nfn main() {}\n```",
                   "priority": "high", "labels": ["agent"]}),
        )
        .await);
        let key = created["key"].as_str().unwrap().to_string();
        assert!(key.starts_with("ENG-"), "{flavor:?}: {created}");
        let read = ok(&call(
            &client,
            "jira_get_issue",
            json!({"key": key, "include": ["transitions"]}),
        )
        .await);
        assert_eq!(read["summary"], "Write path works");
        assert_eq!(
            read["priority"], "High",
            "{flavor:?}: priority resolved by name"
        );
        let desc = read["description"].as_str().unwrap();
        assert!(
            desc.contains("**two**") && desc.contains("fn main"),
            "{flavor:?}: {desc}"
        );

        let upd = ok(&call(
            &client,
            "jira_update_issue",
            json!({"key": key, "summary": "Write path works well", "labels_add": ["edited"]}),
        )
        .await);
        assert_eq!(upd["changed"], json!(["summary", "labels"]));
        let read = ok(&call(&client, "jira_get_issue", json!({"key": key})).await);
        assert_eq!(read["summary"], "Write path works well");
        assert!(
            read["labels"]
                .as_array()
                .unwrap()
                .contains(&json!("edited"))
        );

        ok(&call(
            &client,
            "jira_add_comment",
            json!({"key": key, "body": "Looks *good*"}),
        )
        .await);
        let read = ok(&call(&client, "jira_get_issue", json!({"key": key})).await);
        assert!(
            text_of(&read["comments"]).contains("good"),
            "{flavor:?}: {read}"
        );

        let bad = err(&call(
            &client,
            "jira_transition_issue",
            json!({"key": key, "transition": "Teleport"}),
        )
        .await);
        assert!(bad.contains("available:"), "{flavor:?}: {bad}");
        let moved = ok(&call(
            &client,
            "jira_transition_issue",
            json!({"key": key, "transition": "In Progress", "comment": "Starting"}),
        )
        .await);
        assert_eq!(moved["to"], "In Progress");
        let read = ok(&call(&client, "jira_get_issue", json!({"key": key})).await);
        assert_eq!(read["status"], "In Progress");

        let missing = err(&call(
            &client,
            "jira_add_comment",
            json!({"key": "ENG-99999", "body": "x"}),
        )
        .await);
        assert!(missing.contains("ENG-99999 was not found"), "{missing}");

        let page = ok(&call(
            &client,
            "confluence_create_page",
            json!({"space": "ENG", "title": format!("Design {flavor:?}"), "body": "# Goal\n\nShip it."}),
        )
        .await);
        let id = page["id"].as_str().unwrap().to_string();
        assert_eq!(page["version"], 1);
        let got = ok(&call(&client, "confluence_get_page", json!({"page_id": id})).await);
        assert!(got["body"].as_str().unwrap().contains("Ship it."));
        let v2 = ok(&call(
            &client,
            "confluence_update_page",
            json!({"page_id": id, "version": 1, "body": "# Goal\n\nShip it twice."}),
        )
        .await);
        assert_eq!(v2["version"], 2);
        let stale = err(&call(
            &client,
            "confluence_update_page",
            json!({"page_id": id, "version": 1, "body": "overwrite"}),
        )
        .await);
        assert!(
            stale.contains("version 2") && stale.contains("nothing was written"),
            "{stale}"
        );
        let got = ok(&call(&client, "confluence_get_page", json!({"page_id": id})).await);
        assert!(
            got["body"].as_str().unwrap().contains("twice"),
            "stale edit not written"
        );

        // Audit: every write lists what it touched and its upstream requests.
        let recs = env.tool_records();
        let create = recs
            .iter()
            .find(|r| r["tool"] == "jira_create_issue")
            .unwrap();
        assert_eq!(create["touched"], json!([key]));
        assert!(
            create["upstream"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u["method"] == "POST")
        );
        client.cancel().await.ok();
    }
}

fn text_of(v: &Value) -> String {
    v.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_reports_every_problem_and_sends_nothing() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let before = env.sandbox.issue_count("ENG");
    let mut items: Vec<Value> = (0..10).map(|n| issue("ENG", n)).collect();
    items[2]["issue_type"] = json!("Epicc");
    items[5]["priority"] = json!("Urgent");
    items[7]["fields"] = json!({"customfield_99999": "x"});
    items[8]["issue_type"] = json!("Bug"); // ENG Bug requires the Team field
    let e = err(&call(&client, "jira_bulk_create_issues", json!({"issues": items})).await);
    for needle in [
        "#2",
        "Epicc",
        "#5",
        "Urgent",
        "#7",
        "customfield_99999",
        "#8",
        "required",
    ] {
        assert!(e.contains(needle), "missing {needle} in: {e}");
    }
    let dry = ok(&call(
        &client,
        "jira_bulk_create_issues",
        json!({"issues": items, "dry_run": true}),
    )
    .await);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["invalid"], 4);
    let requests = dry["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 6);
    assert_eq!(
        requests[0]["fields"]["description"]["type"], "doc",
        "ADF on Cloud"
    );
    assert_eq!(requests[0]["properties"][0]["key"], "atlassian-mcp-bridge");
    assert_eq!(bulk_posts(&env), 0);
    assert_eq!(env.sandbox.issue_count("ENG"), before, "nothing created");
    // The same operation id, refused for problems, serves the corrected items.
    let e = err(&call(
        &client,
        "jira_bulk_create_issues",
        json!({"issues": items, "operation_id": "fix-1"}),
    )
    .await);
    assert!(e.contains("nothing was sent"), "{e}");
    let fixed: Vec<Value> = (0..10).map(|n| issue("ENG", n)).collect();
    let out = ok(&call(
        &client,
        "jira_bulk_create_issues",
        json!({"issues": fixed, "operation_id": "fix-1"}),
    )
    .await);
    assert_eq!(out["created"], 10);
    client.cancel().await.ok();
}

/// One progress notification: (progress, total).
type Progress = (f64, Option<f64>);

/// A client that records progress and answers elicitations as told.
#[derive(Clone, Default)]
struct Person {
    progress: Arc<Mutex<Vec<Progress>>>,
    answer: Option<bool>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Person {
    fn get_info(&self) -> ClientConfig {
        let caps = if self.answer.is_some() {
            ClientCapabilities::builder().enable_elicitation().build()
        } else {
            ClientCapabilities::default()
        };
        ClientConfig::new(caps, Implementation::new("person", "1.0.0"))
    }

    async fn create_elicitation(
        &self,
        p: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &p {
            self.asked.lock().unwrap().push(message.clone());
        }
        Ok(match self.answer {
            Some(true) => {
                ElicitResult::new(ElicitationAction::Accept).with_content(json!({"proceed": true}))
            }
            _ => ElicitResult::new(ElicitationAction::Decline),
        })
    }

    async fn on_progress(&self, p: ProgressNotificationParam, _: NotificationContext<RoleClient>) {
        self.progress.lock().unwrap().push((p.progress, p.total));
    }
}

async fn person_client(
    env: &Env,
    person: Person,
) -> rmcp::service::RunningService<RoleClient, Person> {
    person_client_with(env, person, None).await
}

/// Like `person_client`, optionally on the stateless 2026-07-28 lifecycle.
async fn person_client_with(
    env: &Env,
    person: Person,
    modern: Option<ProtocolVersion>,
) -> rmcp::service::RunningService<RoleClient, Person> {
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
    match modern {
        None => person.serve(transport).await.unwrap(),
        Some(v) => person
            .serve_with_lifecycle(
                transport,
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![v],
                },
            )
            .await
            .unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_create_maps_every_item_reports_progress_and_replays() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "[policy]\nmax_bulk_items = 200\n").await;
        let person = Person::default();
        let client = person_client(&env, person.clone()).await;
        let before = env.sandbox.issue_count("ENG");
        let mut items: Vec<Value> = (0..120).map(|n| issue("ENG", n)).collect();
        // Passes local checks, but Jira refuses it: the failure must land on index 77.
        items[77]["assignee"] = json!(if flavor == Flavor::Cloud {
            "no-such-account"
        } else {
            "nobody"
        });
        let r = client
            .call_tool(
                CallToolRequestParams::new("jira_bulk_create_issues").with_arguments(
                    json!({"issues": items, "operation_id": "notes-1"})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
            )
            .await
            .unwrap();
        let out = ok(&r);
        assert_eq!(out["operation_id"], "notes-1");
        assert_eq!(out["created"], 119, "{flavor:?}: {}", text(&r));
        assert_eq!(out["failed"], 1);
        let list = out["items"].as_array().unwrap();
        assert_eq!(list.len(), 120);
        for (i, item) in list.iter().enumerate() {
            assert_eq!(item["index"], i);
            if i == 77 {
                assert_eq!(item["status"], "failed");
                assert!(
                    item["error"].as_str().unwrap().contains("assignee"),
                    "{item}"
                );
            } else {
                assert_eq!(item["status"], "created", "{item}");
            }
        }
        assert_eq!(env.sandbox.issue_count("ENG"), before + 119);
        assert_eq!(bulk_posts(&env), 3, "chunks of at most 50");
        let progress = person.progress.lock().unwrap().clone();
        assert_eq!(progress.len(), 3, "{progress:?}");
        assert!(progress.iter().all(|(_, t)| *t == Some(120.0)));
        assert_eq!(progress.iter().map(|p| p.0).fold(0.0, f64::max), 120.0);

        // Calling again with the same id retries only the failed item (now fixed upstream? no:
        // it fails again) and never re-creates the 119.
        let again = ok(&client
            .call_tool(
                CallToolRequestParams::new("jira_bulk_create_issues").with_arguments(
                    json!({"issues": items, "operation_id": "notes-1"})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
            )
            .await
            .unwrap());
        assert_eq!(again["resumed"], true);
        assert_eq!(again["created"], 119);
        assert_eq!(
            env.sandbox.issue_count("ENG"),
            before + 119,
            "no duplicates"
        );
        let rec = env
            .tool_records()
            .into_iter()
            .rfind(|r| r["tool"] == "jira_bulk_create_issues")
            .unwrap();
        assert_eq!(
            rec["touched"].as_array().unwrap().len(),
            119,
            "journal and audit agree"
        );
        client.cancel().await.ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_operation_replays_its_result_and_sends_nothing() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let items: Vec<Value> = (0..60).map(|n| issue("OPS", n)).collect();
    let first = ok(&call(
        &client,
        "jira_bulk_create_issues",
        json!({"issues": items, "operation_id": "ops-1"}),
    )
    .await);
    assert_eq!(first["complete"], true);
    let posts = bulk_posts(&env);
    let second = ok(&call(
        &client,
        "jira_bulk_create_issues",
        json!({"issues": items, "operation_id": "ops-1"}),
    )
    .await);
    assert_eq!(second["items"], first["items"]);
    assert_eq!(bulk_posts(&env), posts, "nothing sent");
    let other: Vec<Value> = (0..3).map(|n| issue("OPS", n + 100)).collect();
    let e = err(&call(
        &client,
        "jira_bulk_create_issues",
        json!({"issues": other, "operation_id": "ops-1"}),
    )
    .await);
    assert!(e.contains("different"), "{e}");
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_is_asked_once_and_a_no_sends_nothing() {
    let env = Env::new(Flavor::Cloud, "").await;
    let before = env.sandbox.issue_count("ENG");
    let no = Person {
        answer: Some(false),
        ..Person::default()
    };
    let client = person_client(&env, no.clone()).await;
    let items: Vec<Value> = (0..70).map(|n| issue("ENG", n)).collect();
    let r = client
        .call_tool(
            CallToolRequestParams::new("jira_bulk_create_issues")
                .with_arguments(json!({"issues": items}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert!(err(&r).contains("declined"));
    assert_eq!(no.asked.lock().unwrap().len(), 1);
    assert!(no.asked.lock().unwrap()[0].contains("70 Jira issues in ENG"));
    assert_eq!(env.sandbox.issue_count("ENG"), before);
    assert_eq!(env.tool_records().last().unwrap()["outcome"], "denied");
    client.cancel().await.ok();

    let yes = Person {
        answer: Some(true),
        ..Person::default()
    };
    let client = person_client(&env, yes.clone()).await;
    let r = client
        .call_tool(
            CallToolRequestParams::new("jira_bulk_create_issues")
                .with_arguments(json!({"issues": items}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(ok(&r)["created"], 70);
    assert_eq!(
        yes.asked.lock().unwrap().len(),
        1,
        "once per call, not per chunk"
    );
    client.cancel().await.ok();
}

/// Under 2026-07-28 the question travels as an input-required result, answered on the retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_under_the_stateless_lifecycle() {
    let env = Env::new(Flavor::Cloud, "").await;
    let before = env.sandbox.issue_count("OPS");
    for (answer, created) in [(false, 0), (true, 1)] {
        let person = Person {
            answer: Some(answer),
            ..Person::default()
        };
        let client =
            person_client_with(&env, person.clone(), Some(ProtocolVersion::V_2026_07_28)).await;
        let r = client
            .call_tool(
                CallToolRequestParams::new("jira_create_issue")
                    .with_arguments(issue("OPS", 1).as_object().unwrap().clone()),
            )
            .await
            .unwrap();
        if answer {
            ok(&r);
        } else {
            assert!(err(&r).contains("declined"));
        }
        assert_eq!(person.asked.lock().unwrap().len(), 1, "asked once");
        assert!(person.asked.lock().unwrap()[0].contains("OPS"));
        assert_eq!(env.sandbox.issue_count("OPS") - before, created);
        client.cancel().await.ok();
    }
    let outcomes: Vec<String> = env
        .tool_records()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_string())
        .collect();
    // Each round is its own tools/call: ask (ok, nothing written), answer (denied / ok).
    assert_eq!(outcomes, ["ok", "denied", "ok", "ok"], "{outcomes:?}");
}

/// Cancelling a bulk call stops new chunks; what was created is audited and journaled, and the
/// same operation id finishes the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_bulk_call_stops_and_resumes() {
    use rmcp::model::{ClientRequest, Request};
    use rmcp::service::PeerRequestOptions;
    let env = Env::new(Flavor::Cloud, "[policy]\nmax_bulk_items = 300\n").await;
    let before = env.sandbox.issue_count("ENG");
    let client = env.client().await;
    // Every bulk request takes 1.5 s: four chunks go out, the cancel lands while they are in
    // flight, and the fifth and sixth are never sent.
    env.sandbox.faults().inject_with(
        FaultSpec {
            status: 0,
            count: 10,
            retry_after: None,
            path_prefix: Some("/rest/api/3/issue/bulk".into()),
        },
        FaultOptions {
            delay_ms: Some(1500),
            ..FaultOptions::default()
        },
    );
    let items: Vec<Value> = (0..300).map(|n| issue("ENG", n)).collect();
    let args = json!({"issues": items, "operation_id": "cancel-1"});
    let params = CallToolRequestParams::new("jira_bulk_create_issues")
        .with_arguments(args.as_object().unwrap().clone());
    let handle = client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    handle.cancel(Some("stop".into())).await.unwrap();
    let mut rec = None;
    for _ in 0..200 {
        rec = env
            .tool_records()
            .into_iter()
            .find(|r| r["tool"] == "jira_bulk_create_issues");
        if rec.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rec = rec.expect("the cancelled call is audited");
    assert_eq!(rec["outcome"], "cancelled");
    let made = env.sandbox.issue_count("ENG") - before;
    assert!(made < 300, "the last chunks were not sent: {made}");
    assert_eq!(
        rec["touched"].as_array().unwrap().len(),
        made,
        "audit names what was created"
    );
    env.sandbox.faults().clear();
    let done = ok(&call(&client, "jira_bulk_create_issues", args).await);
    assert_eq!(done["created"], 300);
    assert_eq!(
        env.sandbox.issue_count("ENG") - before,
        300,
        "no duplicates"
    );
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_confines_writes() {
    let env = Env::new(Flavor::Cloud, "[policy]\nread_only = true\n").await;
    let client = env.client().await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(
        tools
            .iter()
            .all(|t| t.annotations.as_ref().unwrap().read_only_hint == Some(true))
    );
    let e = err(&call(&client, "jira_create_issue", issue("ENG", 1)).await);
    assert!(e.contains("read-only"), "{e}");
    client.cancel().await.ok();

    let env = Env::new(
        Flavor::Cloud,
        "[policy]\njira_projects = [\"ENG\"]\nconfluence_spaces = [\"ENG\"]\nmax_bulk_items = 5\n",
    )
    .await;
    let client = env.client().await;
    env.sandbox.clear_requests();
    let e = err(&call(
        &client,
        "jira_update_issue",
        json!({"key": "SEC-1", "summary": "x"}),
    )
    .await);
    assert!(e.contains("jira_projects"), "{e}");
    let e = err(&call(
        &client,
        "jira_add_comment",
        json!({"key": "OPS-1", "body": "x"}),
    )
    .await);
    assert!(e.contains("jira_projects"), "{e}");
    let e = err(&call(
        &client,
        "confluence_create_page",
        json!({"space": "OPS", "title": "x", "body": "y"}),
    )
    .await);
    assert!(e.contains("confluence_spaces"), "{e}");
    let items: Vec<Value> = (0..6).map(|n| issue("ENG", n)).collect();
    let e = err(&call(&client, "jira_bulk_create_issues", json!({"issues": items})).await);
    assert!(e.contains("max_bulk_items") && e.contains('5'), "{e}");
    let e = err(&call(&client, "jira_create_issue", issue("SEC", 1)).await);
    assert!(e.contains("jira_projects"), "{e}");
    let mixed = json!([issue("ENG", 1), issue("SEC", 2)]);
    let e = err(&call(&client, "jira_bulk_create_issues", json!({"issues": mixed})).await);
    assert!(e.contains("SEC") && e.contains("jira_projects"), "{e}");
    assert!(
        env.sandbox.requests().iter().all(|r| r.method == "GET"),
        "no write was sent"
    );
    let denied = env
        .tool_records()
        .iter()
        .filter(|r| r["outcome"] == "denied")
        .count();
    assert_eq!(denied, 6);
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_tree_parents_first_failed_parent_skips_children() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let tree = json!([
            {"ref": "child", "title": "Tree child", "body": "c", "parent_ref": "root"},
            {"ref": "root", "title": "Tree root", "body": "# Root"},
            {"ref": "grand", "title": "Tree grandchild", "body": "g", "parent_ref": "child"},
            {"ref": "dup", "title": "Architecture Overview", "body": "clashes with a seeded page"},
            {"ref": "orphan", "title": "Under the clash", "body": "o", "parent_ref": "dup"}
        ]);
        let out = ok(&call(
            &client,
            "confluence_bulk_create_pages",
            json!({"space": "ENG", "pages": tree}),
        )
        .await);
        let items = out["items"].as_array().unwrap();
        assert_eq!(items[0]["status"], "created");
        assert_eq!(items[1]["status"], "created");
        assert_eq!(items[2]["status"], "created");
        assert_eq!(items[3]["status"], "failed", "{flavor:?}: {}", out);
        assert_eq!(items[4]["status"], "skipped");
        let child = ok(&call(
            &client,
            "confluence_get_page",
            json!({"page_id": items[0]["id"]}),
        )
        .await);
        assert_eq!(
            child["parent_id"], items[1]["id"],
            "{flavor:?}: child under root"
        );
        client.cancel().await.ok();
    }
}

/// Runs a 200-issue bulk call in a bridge process that is killed while a chunk is held by the
/// sandbox, then finishes it from a new process with the same operation id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_bulk_then_resumed_creates_exactly_200() {
    let env = Env::new(Flavor::Cloud, "[policy]\nmax_bulk_items = 200\n").await;
    let before = env.sandbox.issue_count("ENG");
    // The second bulk request is held for 30 s (the sandbox commits it when the hold ends).
    env.sandbox.faults().inject_with(
        FaultSpec {
            status: 0,
            count: 1,
            retry_after: None,
            path_prefix: Some("/rest/api/3/issue/bulk".into()),
        },
        FaultOptions {
            skip: 1,
            delay_ms: Some(30_000),
            ..FaultOptions::default()
        },
    );
    let items: Vec<Value> = (0..200).map(|n| issue("ENG", n)).collect();
    let args = json!({"issues": items, "operation_id": "flight-1"});
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
    let pid = transport.id().expect("child pid");
    let client = ().serve(transport).await.unwrap();
    let call_args = args.clone();
    let pending = tokio::spawn(async move {
        let p = CallToolRequestParams::new("jira_bulk_create_issues")
            .with_arguments(call_args.as_object().unwrap().clone());
        let _ = tokio::time::timeout(Duration::from_secs(20), client.call_tool(p)).await;
        client
    });
    // Wait until some chunks have been answered (one is held), then kill the bridge.
    let journal = env.home.path().join("journal").join("flight-1.jsonl");
    let mut answered = 0;
    for _ in 0..200 {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        answered = text.matches("\"t\":\"result\"").count();
        if answered >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered >= 2, "chunks were answered before the kill");
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    drop(pending.await);
    // Let the held chunk commit at the sandbox, as a slow Jira would.
    tokio::time::sleep(Duration::from_secs(31)).await;
    let mid = env.sandbox.issue_count("ENG") - before;
    assert!(
        mid >= 100,
        "chunks were created before the kill, and the held one after: {mid}"
    );

    env.sandbox.faults().clear();
    let client = env.client().await;
    let done = ok(&call(&client, "jira_bulk_create_issues", args).await);
    assert_eq!(done["created"], 200, "{done}");
    assert_eq!(done["resumed"], true);
    assert_eq!(
        env.sandbox.issue_count("ENG") - before,
        200,
        "exactly 200, no duplicates"
    );
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_after_commit_is_resumed_without_duplicates() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let before = env.sandbox.issue_count("OPS");
        let prefix = if flavor == Flavor::Cloud {
            "/rest/api/3/issue/bulk"
        } else {
            "/rest/api/2/issue/bulk"
        };
        env.sandbox.faults().inject_with(
            FaultSpec {
                status: 0,
                count: 1,
                retry_after: None,
                path_prefix: Some(prefix.into()),
            },
            FaultOptions {
                skip: 1,
                drop_after_commit: true,
                ..FaultOptions::default()
            },
        );
        let client = env.client().await;
        let items: Vec<Value> = (0..90).map(|n| issue("OPS", n)).collect();
        let args = json!({"issues": items, "operation_id": "drop-1"});
        let first = ok(&call(&client, "jira_bulk_create_issues", args.clone()).await);
        assert_eq!(first["complete"], false, "{flavor:?}: {first}");
        assert!(text_of(&first["items"]).contains("outcome unknown"));
        assert_eq!(
            env.sandbox.issue_count("OPS") - before,
            90,
            "the server committed all"
        );
        let second = ok(&call(&client, "jira_bulk_create_issues", args).await);
        assert_eq!(second["created"], 90, "{flavor:?}: {second}");
        assert_eq!(
            env.sandbox.issue_count("OPS") - before,
            90,
            "{flavor:?}: no duplicate"
        );
        client.cancel().await.ok();
    }
}

/// The README's first command: the demo signs in, reads, bulk-creates, replays and verifies.
#[test]
fn the_demo_runs_end_to_end() {
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .arg("demo")
        .env("ATLASSIAN_MCP_BRIDGE_HOME", home.path())
        .env("TMPDIR", home.path())
        .env_remove("ATLASSIAN_MCP_BRIDGE_LOG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // Nothing logged at the default level: the tour reads cleanly in a terminal.
    assert!(stderr.trim().is_empty(), "{stderr}");
    assert!(stdout.contains("3 created, 0 failed"), "{stdout}");
    assert!(stdout.contains("(resumed)"), "{stdout}");
    assert!(stdout.contains("audit verify: ok"), "{stdout}");
}

/// Without `ATLASSIAN_MCP_BRIDGE_HOME` the demo works in a temporary home, removes it, and ends
/// with the next steps.
#[test]
fn the_demo_cleans_up_after_itself() {
    let user_home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .arg("demo")
        .env_remove("ATLASSIAN_MCP_BRIDGE_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env("HOME", user_home.path())
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("(temporary; removed when the demo ends)"));
    let steps = stdout.split("Next steps:").nth(1).expect("next steps");
    for step in ["login", "install", "doctor"] {
        assert!(steps.contains(step), "{steps}");
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
    let home_left: Vec<_> = std::fs::read_dir(user_home.path())
        .unwrap()
        .flatten()
        .collect();
    assert!(home_left.is_empty(), "{home_left:?}");
}

/// `demo | head -n 3`: a closed stdout ends nothing badly.
#[test]
fn the_demo_survives_a_closed_pipe() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(BIN)
        .arg("demo")
        .env_remove("ATLASSIAN_MCP_BRIDGE_HOME")
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("demo"), "{first}");
    // The reader is gone: every later write meets a closed pipe.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}
