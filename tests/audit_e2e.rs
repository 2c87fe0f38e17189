//! Audit records produced by real tool calls, and the `audit` commands reading them.

use serde_json::json;

use crate::support::{Env, Flavor, call, ok};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_leaves_one_complete_record() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    ok(&call(
        &client,
        "jira_search",
        json!({"jql": "project = ENG", "max_results": 3}),
    )
    .await);
    ok(&call(&client, "jira_get_issue", json!({"key": "ENG-2"})).await);
    let _ = call(&client, "jira_get_issue", json!({"key": "ENG-424242"})).await;
    client.cancel().await.ok();

    let all = env.audit_records();
    assert_eq!(all[0]["event"], "server_start");
    let seqs: Vec<u64> = all.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=all.len() as u64).collect::<Vec<_>>());
    for pair in all.windows(2) {
        assert_eq!(pair[1]["prev"], pair[0]["hash"]);
    }
    let calls = env.tool_records();
    assert_eq!(calls.len(), 3);
    let search = &calls[0];
    assert_eq!(search["v"], 1);
    assert_eq!(search["tool"], "jira_search");
    assert_eq!(search["outcome"], "ok");
    assert_eq!(search["client"]["name"], "integration-test");
    assert_eq!(search["actor"]["auth"], "api-token");
    assert_eq!(search["args"]["jql"], "project = ENG");
    assert_eq!(search["args_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(search["touched"].as_array().unwrap().len(), 3);
    assert!(search["result_bytes"].as_u64().unwrap() > 100);
    assert!(search["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(search["upstream"][0]["path"], "/rest/api/3/search/jql");
    assert_eq!(calls[1]["touched"], json!(["ENG-2"]));
    assert_eq!(calls[2]["outcome"], "error");
    assert!(calls[2]["error"].as_str().unwrap().contains("not found"));
    assert_eq!(calls[2]["upstream"][0]["status"], 404);

    // No credential in the audit log or in the server's stderr.
    let audit_text = std::fs::read_to_string(env.audit_path()).unwrap();
    let stderr_text = std::fs::read_to_string(env.stderr_path()).unwrap_or_default();
    let basic = "ZGVtb0BleGFtcGxlLmNvbTpzYW5kYm94LWFwaS10b2tlbg"; // base64 prefix of email:token
    for hay in [&audit_text, &stderr_text] {
        assert!(!hay.contains(atlassian_mcp_bridge::sandbox::SANDBOX_API_TOKEN));
        assert!(!hay.contains(basic));
        assert!(!hay.to_ascii_lowercase().contains("authorization"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_commands_read_what_the_server_wrote() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    ok(&call(&client, "jira_search", json!({"jql": "project = OPS"})).await);
    ok(&call(&client, "jira_get_issue", json!({"key": "OPS-1"})).await);
    client.cancel().await.ok();

    let (code, out, errs) = env.cli(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}{errs}");
    assert!(out.starts_with("ok"), "{out}");
    assert!(out.contains('3'), "3 records: {out}");

    let (code, out, _) = env.cli(&["audit", "query", "--tool", "jira_get_issue", "--json"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let rec: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(rec["touched"], json!(["OPS-1"]));

    let (code, out, _) = env.cli(&["audit", "query", "--touched", "OPS-1", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2, "{out}");

    let (code, out, _) = env.cli(&["audit", "stats"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("jira_search") && out.contains("jira_get_issue"),
        "{out}"
    );

    let (code, out, _) = env.cli(&["audit", "tail", "-n", "1"]);
    assert_eq!(code, 0);
    assert!(out.contains("jira_get_issue"), "{out}");

    // Tamper with the middle record: verify names file and line, exits 1.
    let path = env.audit_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let tampered = text.replacen("project = OPS", "project = ENG", 1);
    assert_ne!(text, tampered);
    std::fs::write(&path, tampered).unwrap();
    let (code, out, errs) = env.cli(&["audit", "verify"]);
    assert_eq!(code, 1, "{out}{errs}");
    let report = format!("{out}{errs}");
    assert!(
        report.contains("audit.jsonl") && report.contains('2'),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bridges_share_one_log() {
    let env = Env::new(Flavor::Cloud, "").await;
    let a = env.client().await;
    let b = env.client().await;
    let mut tasks = Vec::new();
    for client in [a, b] {
        tasks.push(tokio::spawn(async move {
            for i in 0..15 {
                ok(&call(
                    &client,
                    "jira_get_issue",
                    json!({"key": format!("ENG-{}", i + 1), "include": []}),
                )
                .await);
            }
            client.cancel().await.ok();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = env.audit_records();
    assert_eq!(all.len(), 2 + 30);
    let seqs: Vec<u64> = all.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=32).collect::<Vec<_>>());
    let sessions: std::collections::HashSet<&str> =
        all.iter().map(|r| r["session"].as_str().unwrap()).collect();
    assert_eq!(sessions.len(), 2);
    let (code, out, _) = env.cli(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
}
