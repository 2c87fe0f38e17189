//! `jira_summarize_search` through the real binary against the sandbox, Cloud and Data Center:
//! exact counts over several pages, the cap, grouping (unassigned and no-label buckets),
//! overdue, argument and JQL errors, project confinement, the audit record, and the bytes it
//! saves compared with paging through `jira_search`.
//!
//! The expected numbers never come from the bridge: each test pages through the sandbox's own
//! search API over raw HTTP (with a different page size) and counts for itself.

mod oracle;

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use self::oracle::{check_summary, group, grow, list_keys, raw_issues, utc_today};
use crate::support::{Env, FLAVORS, Flavor, call, err, ok, text};

const TOOL: &str = "jira_summarize_search";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_exact_across_pages() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        grow(&env, "OPS", 200).await;
        let jql = "project = OPS ORDER BY key ASC";
        let issues = raw_issues(&env, jql).await;
        assert_eq!(issues.len(), 230, "{flavor:?}: 30 seeded + 200 grown");
        // The data must exercise every rule: open and done past their due date, unassigned,
        // several labels on one issue, none at all.
        assert!(
            issues
                .iter()
                .any(|i| i.done && i.due.as_deref().is_some_and(|d| d < "2026-11-20"))
        );
        assert!(issues.iter().any(|i| i.overdue(&utc_today())));
        assert!(issues.iter().any(|i| i.labels.len() > 1));

        let client = env.client().await;
        env.sandbox.clear_requests();
        let before = utc_today();
        let all = ["status", "assignee", "priority", "type", "project", "label"];
        let r = call(&client, TOOL, json!({"jql": jql, "group_by": all})).await;
        let after = utc_today();
        let out = ok(&r);
        let today = out["today"].as_str().unwrap();
        assert!(
            today == before || today == after,
            "{flavor:?}: today {today}"
        );
        assert_eq!(out["jql"], jql);
        assert_eq!(out["capped"], false);
        match flavor {
            Flavor::Cloud => assert!(out.get("total").is_none(), "Cloud reports no total"),
            Flavor::DataCenter => assert_eq!(out["total"], 230),
        }
        check_summary(&out, &issues, &all);
        assert!(group(&out, "label")["(no label)"] > 0);
        assert!(group(&out, "assignee")["(unassigned)"] > 0);
        assert!(
            group(&out, "label").values().sum::<u64>() > 230,
            "several labels count once each"
        );

        // Three pages of at most 100, each asking only for the fields the summary reads.
        let searches: Vec<_> = env
            .sandbox
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/search/jql") || r.path.ends_with("/rest/api/2/search"))
            .collect();
        assert_eq!(searches.len(), 3, "{flavor:?}: {searches:?}");
        for s in &searches {
            let q: BTreeMap<String, String> =
                url::form_urlencoded::parse(s.query.as_deref().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            assert!(q["maxResults"].parse::<u32>().unwrap() <= 100);
            let fields: HashSet<&str> = q["fields"].split(',').collect();
            let expected: HashSet<&str> = [
                "summary",
                "status",
                "assignee",
                "created",
                "updated",
                "duedate",
                "priority",
                "issuetype",
                "project",
                "labels",
            ]
            .into();
            assert_eq!(fields, expected, "{flavor:?}");
        }

        // The text carries the same numbers, compactly.
        let t = text(&r);
        assert!(t.starts_with("230 issues counted: open "), "{t}");
        for field in all {
            assert!(
                t.contains(&format!("\n{field}: ")),
                "{field} line missing: {t}"
            );
        }
        assert!(
            t.contains("(unassigned) ") && t.contains("(no label) "),
            "{t}"
        );
        assert!(t.lines().count() <= 45, "{t}");

        // The audit record: ok, one upstream entry per page, and `touched` = what was shown.
        client.cancel().await.ok();
        let record = env.tool_records().pop().unwrap();
        assert_eq!(record["tool"], TOOL);
        assert_eq!(record["outcome"], "ok");
        assert_eq!(record["upstream"].as_array().unwrap().len(), 3);
        let touched: HashSet<String> = record["touched"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        let shown: HashSet<String> = ["overdue", "oldest_open", "recently_updated"]
            .iter()
            .flat_map(|l| list_keys(&out, l))
            .collect();
        assert_eq!(touched, shown, "{flavor:?}");
        assert!(touched.len() <= 30);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_counts_the_first_issues_in_order() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let jql = "project in (ENG, OPS, SEC) ORDER BY key ASC";
        let issues = raw_issues(&env, jql).await;
        assert_eq!(issues.len(), 114);
        let client = env.client().await;

        env.sandbox.clear_requests();
        let out = ok(&call(
            &client,
            TOOL,
            json!({"jql": jql, "max_issues": 105, "group_by": "status, label"}),
        )
        .await);
        assert_eq!(out["capped"], true, "{flavor:?}");
        assert_eq!(out["counted"], 105);
        if flavor == Flavor::DataCenter {
            assert_eq!(out["total"], 114);
        }
        check_summary(&out, &issues[..105], &["status", "label"]);
        // 100, then only the 5 still wanted; no other fields than the grouping needs.
        let sizes: Vec<String> = env
            .sandbox
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/search/jql") || r.path.ends_with("/rest/api/2/search"))
            .map(|r| {
                let q: BTreeMap<String, String> =
                    url::form_urlencoded::parse(r.query.as_deref().unwrap_or("").as_bytes())
                        .into_owned()
                        .collect();
                assert!(!q["fields"].contains("priority"), "{:?}", q["fields"]);
                q["maxResults"].clone()
            })
            .collect();
        assert_eq!(sizes, ["100", "5"], "{flavor:?}");
        assert!(
            text(&call(&client, TOOL, json!({"jql": jql, "max_issues": 105})).await)
                .contains("(capped: ")
        );

        // Exactly the result set: not capped. One fewer: capped.
        let out = ok(&call(&client, TOOL, json!({"jql": jql, "max_issues": "114"})).await);
        assert_eq!(
            (out["capped"].as_bool(), out["counted"].as_u64()),
            (Some(false), Some(114))
        );
        let out = ok(&call(&client, TOOL, json!({"jql": jql, "max_issues": 113})).await);
        assert_eq!(
            (out["capped"].as_bool(), out["counted"].as_u64()),
            (Some(true), Some(113))
        );

        // Defaults: status, assignee and priority; every seeded issue counted.
        let out = ok(&call(&client, TOOL, json!({"jql": jql})).await);
        let groups: Vec<&String> = out["groups"].as_object().unwrap().keys().collect();
        assert_eq!(groups.len(), 3, "{groups:?}");
        check_summary(&out, &issues, &["status", "assignee", "priority"]);
        client.cancel().await.ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_and_bad_jql_are_tool_errors() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let msg = err(&call(
            &client,
            TOOL,
            json!({"jql": "project = ENG", "group_by": ["status", "colour"]}),
        )
        .await);
        assert!(
            msg.contains("colour")
                && msg.contains("status, assignee, priority, type, project, label"),
            "{msg}"
        );
        for bad in [0, 5001] {
            let msg = err(&call(
                &client,
                TOOL,
                json!({"jql": "project = ENG", "max_issues": bad}),
            )
            .await);
            assert!(msg.contains("max_issues") && msg.contains("5000"), "{msg}");
        }
        let msg = err(&call(&client, TOOL, json!({"jql": "  "})).await);
        assert!(msg.contains("jql must not be empty"), "{msg}");
        let msg = err(&call(&client, TOOL, json!({"jql": "project = = ENG"})).await);
        assert!(
            msg.contains("Jira rejected the request"),
            "{flavor:?}: {msg}"
        );
        client.cancel().await.ok();

        let records = env.tool_records();
        let outcomes: Vec<&str> = records
            .iter()
            .map(|r| r["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(outcomes, ["error"; 5]);
        // Only the bad JQL reached Jira; the argument errors were caught before.
        let sent: Vec<usize> = records
            .iter()
            .map(|r| r["upstream"].as_array().map_or(0, Vec::len))
            .collect();
        assert_eq!(sent, [0, 0, 0, 0, 1], "{flavor:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confined_to_the_allowed_projects() {
    let env = Env::new(Flavor::Cloud, "[policy]\njira_projects = [\"OPS\"]\n").await;
    let ops = raw_issues(&env, "project = OPS ORDER BY key ASC").await;
    let client = env.client().await;
    let jql = "project in (ENG, OPS, SEC) ORDER BY key ASC";
    let out = ok(&call(
        &client,
        TOOL,
        json!({"jql": jql, "group_by": ["project", "status"]}),
    )
    .await);
    assert_eq!(
        out["jql"],
        "project in (\"OPS\") AND (project in (ENG, OPS, SEC)) ORDER BY key ASC"
    );
    assert_eq!(
        group(&out, "project"),
        BTreeMap::from([("OPS".to_string(), 30)])
    );
    check_summary(&out, &ops, &["project", "status"]);
    let shown = ["overdue", "oldest_open", "recently_updated"]
        .iter()
        .flat_map(|l| list_keys(&out, l))
        .collect::<Vec<_>>();
    assert!(
        !shown.is_empty() && shown.iter().all(|k| k.starts_with("OPS-")),
        "{shown:?}"
    );

    // Another project simply finds nothing.
    let out = ok(&call(&client, TOOL, json!({"jql": "project = SEC"})).await);
    assert_eq!(out["counted"], 0);
    assert!(out["recently_updated"].as_array().unwrap().is_empty());
    // Breaking out of the wrapper is refused before anything is sent.
    let msg = err(&call(
        &client,
        TOOL,
        json!({"jql": "status = Done) OR (project = SEC"}),
    )
    .await);
    assert!(msg.contains("without a matching"), "{msg}");
    client.cancel().await.ok();
    let outcomes: Vec<String> = env
        .tool_records()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(outcomes, ["ok", "ok", "error"]);
}

/// What the model reads: the summary against the `jira_search` pages it replaces
/// (structuredContent JSON + text, summed over pages). Run with `--nocapture` to see the
/// numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_is_smaller_than_the_pages_it_replaces() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let size = |r: &rmcp::model::CallToolResult| {
        let structured = serde_json::to_vec(&ok(r)).unwrap().len();
        let t = text(r).len();
        (structured, t)
    };
    for (project, grown) in [("ENG", 0), ("OPS", 270)] {
        if grown > 0 {
            grow(&env, project, grown).await;
        }
        let jql = format!("project = {project} ORDER BY key ASC");
        let summary = call(&client, TOOL, json!({"jql": jql})).await;
        let (s_json, s_text) = size(&summary);
        for page_size in [100, 20] {
            let (mut p_json, mut p_text, mut pages, mut issues) = (0, 0, 0, 0);
            let mut token: Option<String> = None;
            loop {
                let mut args = json!({"jql": jql, "max_results": page_size});
                if let Some(t) = &token {
                    args["next_page_token"] = json!(t);
                }
                let r = call(&client, "jira_search", args).await;
                let (j, t) = size(&r);
                p_json += j;
                p_text += t;
                pages += 1;
                let out = ok(&r);
                issues += out["issues"].as_array().unwrap().len();
                match out["next_page_token"].as_str() {
                    Some(t) => token = Some(t.to_string()),
                    None => break,
                }
            }
            assert_eq!(ok(&summary)["counted"], issues as u64);
            eprintln!(
                "{project} ({issues} issues): jira_summarize_search {s_json} B structured + {s_text} B text = {} B; \
                 jira_search max_results={page_size}: {pages} pages, {p_json} B structured + {p_text} B text = {} B",
                s_json + s_text,
                p_json + p_text
            );
            assert!(s_text < p_text && s_json < p_json, "{project}");
        }
    }
    client.cancel().await.ok();
}

/// Progress notifications seen: (progress, total).
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(f64, Option<f64>)>>>;

/// A client that records the progress notifications it receives.
#[derive(Clone, Default)]
struct Watcher {
    progress: Seen,
}

impl rmcp::ClientHandler for Watcher {
    fn get_info(&self) -> rmcp::model::ClientConfig {
        rmcp::model::ClientConfig::new(
            rmcp::model::ClientCapabilities::default(),
            rmcp::model::Implementation::new("watcher", "1.0.0"),
        )
    }

    async fn on_progress(
        &self,
        p: rmcp::model::ProgressNotificationParam,
        _: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.progress.lock().unwrap().push((p.progress, p.total));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_reported_per_page() {
    use rmcp::ServiceExt;
    use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let home = env.home.path().to_path_buf();
        let cmd = tokio::process::Command::new(crate::support::BIN).configure(|c| {
            c.arg("serve")
                .env("ATLASSIAN_MCP_BRIDGE_HOME", &home)
                .env_remove("ATLASSIAN_MCP_BRIDGE_CONFIG");
        });
        let (transport, _) = TokioChildProcess::builder(cmd)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let watcher = Watcher::default();
        let client = watcher.clone().serve(transport).await.unwrap();
        let r = client
            .call_tool(
                rmcp::model::CallToolRequestParams::new(TOOL).with_arguments(
                    json!({"jql": "project in (ENG, OPS, SEC)"})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
            )
            .await
            .unwrap();
        assert_eq!(ok(&r)["counted"], 114);
        let total = (flavor == Flavor::DataCenter).then_some(114.0);
        // Notifications may trail the result by a moment.
        for _ in 0..100 {
            if watcher.progress.lock().unwrap().len() >= 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let progress = watcher.progress.lock().unwrap().clone();
        assert_eq!(progress, [(100.0, total), (114.0, total)], "{flavor:?}");
        client.cancel().await.ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_summary_stops_paging() {
    use rmcp::model::{CallToolRequestParams, ClientRequest, Request};
    use rmcp::service::PeerRequestOptions;
    let env = Env::new(Flavor::Cloud, "").await;
    grow(&env, "OPS", 200).await;
    let client = env.client().await;
    env.sandbox.clear_requests();
    // Each page takes 1.5 s: the cancel goes out right after the first page is answered, long
    // before the second one is, so a third must never be asked for.
    env.sandbox
        .faults()
        .set_latency(std::time::Duration::from_millis(1500));
    let searches = || {
        env.sandbox
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/search/jql"))
            .count()
    };
    let params = CallToolRequestParams::new(TOOL)
        .with_arguments(json!({"jql": "project = OPS"}).as_object().unwrap().clone());
    let handle = client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while searches() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no page was asked for"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The sandbox logs a request as it answers it: give the bridge a moment to read that first
    // page (under load the cancel could otherwise overtake it), still a second before the
    // second page could be answered.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    handle.cancel(Some("stop".into())).await.unwrap();
    let record = loop {
        if let Some(r) = env.tool_records().pop() {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "no audit record");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(record["outcome"], "cancelled", "{record}");
    assert_eq!(record["upstream"].as_array().unwrap().len(), 1, "{record}");
    // Give an (erroneous) third page time to show up before counting.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    assert!(searches() <= 2, "paging went on after the cancel");
    env.sandbox.faults().set_latency(std::time::Duration::ZERO);
    client.cancel().await.ok();
}

/// 429s on both pages of one scan: the retries of the whole call come out of one budget
/// (4 retries per tool call, SPEC §9), not one per page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_share_one_budget_across_pages() {
    use atlassian_mcp_bridge::sandbox::{FaultOptions, FaultSpec};
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let jql = "project in (ENG, OPS, SEC)";
    // Two 429s on the first page, then `second` 429s on the second page.
    let inject = |second: u32| {
        let rule = |count| FaultSpec {
            status: 429,
            count,
            retry_after: Some(0),
            path_prefix: Some("/rest/api/3/search/jql".into()),
        };
        env.sandbox.faults().inject(rule(2));
        env.sandbox.faults().inject_with(
            rule(second),
            FaultOptions {
                skip: 1,
                ..FaultOptions::default()
            },
        );
    };
    let statuses = |r: &Value| -> Vec<u64> {
        r["upstream"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["status"].as_u64().unwrap())
            .collect()
    };

    inject(2);
    let out = ok(&call(&client, TOOL, json!({"jql": jql})).await);
    assert_eq!(out["counted"], 114);
    inject(3);
    let msg = err(&call(&client, TOOL, json!({"jql": jql})).await);
    assert!(msg.contains("rate limiting"), "{msg}");
    env.sandbox.faults().clear();
    client.cancel().await.ok();

    let records = env.tool_records();
    assert_eq!(statuses(&records[0]), [429, 429, 200, 429, 429, 200]);
    assert_eq!(records[0]["outcome"], "ok");
    // Two retries on page 1 plus three on page 2 is one more than a call may spend.
    assert_eq!(statuses(&records[1]), [429, 429, 200, 429, 429, 429]);
    assert_eq!(records[1]["outcome"], "error");
}
