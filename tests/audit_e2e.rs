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

/// Issue 4: an error that echoes an argument (a 200,000-digit issue key is well formed, so the
/// 404 names it) is bounded in the audit record, and under `args = "digest"` holds none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_text_follows_the_args_mode() {
    let key = format!("SECRET-{}", "9".repeat(200_000));
    for (mode, most_chars) in [("digest", 100), ("redacted", 150), ("full", 1_100)] {
        let env = Env::new(Flavor::Cloud, &format!("[audit]\nargs = \"{mode}\"\n")).await;
        let client = env.client().await;
        let r = call(&client, "jira_get_issue", json!({"key": key})).await;
        assert_eq!(r.is_error, Some(true), "{mode}");
        client.cancel().await.ok();
        let calls = env.tool_records();
        assert_eq!(calls.len(), 1, "{mode}");
        assert_eq!(calls[0]["outcome"], "error");
        let error = calls[0]["error"].as_str().unwrap();
        assert!(
            error.chars().count() <= most_chars,
            "{mode}: {} chars: {}…",
            error.chars().count(),
            error.chars().take(200).collect::<String>()
        );
        assert!(
            error.contains(" chars]"),
            "{mode}: not marked as cut: {error}"
        );
        if mode == "digest" {
            assert!(!error.contains("SECRET"), "{mode}: {error}");
            assert!(calls[0]["args"].is_null());
        }
        let (code, out, errs) = env.cli(&["audit", "verify"]);
        assert_eq!(code, 0, "{out}{errs}");
    }
}

/// Spawns `serve` with the working directory set, connected to an rmcp client.
async fn client_in(env: &Env, cwd: &std::path::Path) -> crate::support::Client {
    use rmcp::ServiceExt;
    use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
    let cmd = tokio::process::Command::new(crate::support::BIN).configure(|c| {
        c.arg("serve")
            .current_dir(cwd)
            .env("ATLASSIAN_MCP_BRIDGE_HOME", env.home.path())
            .env_remove("ATLASSIAN_MCP_BRIDGE_CONFIG")
            .env_remove("ATLASSIAN_API_TOKEN")
            .env_remove("ATLASSIAN_PAT");
    });
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let info = rmcp::model::ClientConfig::new(
        rmcp::model::ClientCapabilities::default(),
        rmcp::model::Implementation::new("integration-test", "1.0.0"),
    );
    info.serve(transport).await.unwrap()
}

/// Issue 8: a relative `[audit].path` is under the home directory whatever directory the
/// bridge was started from, and `audit verify` from elsewhere reads that same log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_audit_path_is_under_the_home_not_the_working_directory() {
    let env = Env::new(Flavor::Cloud, "[audit]\npath = \"logs/rel.jsonl\"\n").await;
    let started_in = tempfile::tempdir().unwrap();
    let client = client_in(&env, started_in.path()).await;
    ok(&call(&client, "jira_get_issue", json!({"key": "ENG-1"})).await);
    client.cancel().await.ok();
    let expected = env.home.path().join("logs").join("rel.jsonl");
    assert_eq!(crate::support::read_jsonl(&expected).len(), 2);
    assert!(!started_in.path().join("logs").exists());

    let elsewhere = tempfile::tempdir().unwrap();
    let out = env
        .command()
        .args(["audit", "verify"])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("ok: 2 records verified"), "{stdout}");
}

/// Issue 8: `audit verify` says when there is nothing to verify, and fails, naming the path,
/// when a log that was written has disappeared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_tells_a_missing_log_from_one_never_written() {
    let env = Env::new(Flavor::Cloud, "").await;
    let path = env.audit_path();
    let (code, out, _) = env.cli(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.starts_with("ok"), "{out}");
    assert!(
        out.contains(&path.display().to_string()) && out.contains("nothing to verify"),
        "{out}"
    );

    let client = env.client().await;
    ok(&call(&client, "jira_get_issue", json!({"key": "ENG-1"})).await);
    client.cancel().await.ok();
    std::fs::remove_file(&path).unwrap();
    let (code, out, errs) = env.cli(&["audit", "verify"]);
    assert_eq!(code, 1, "{out}{errs}");
    assert!(
        out.starts_with(&format!("{}: the audit log is missing", path.display())),
        "{out}"
    );
}

/// Issue 11: usage errors in the audit commands exit 2 and name what is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_usage_errors_exit_2() {
    let env = Env::new(Flavor::Cloud, "").await;
    for args in [
        &["audit", "query", "--since", "garbage"][..],
        &["audit", "query", "--until", "garbage"],
        &["audit", "query", "--since", "1h", "--until", "2h"],
        &["audit", "verify", "--anchor", "nonsense"],
    ] {
        let (code, out, errs) = env.cli(args);
        assert_eq!(code, 2, "{args:?}: {out}{errs}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
    let (_, _, errs) = env.cli(&["audit", "query", "--since", "garbage"]);
    assert!(
        errs.contains("--since")
            && errs.contains("RFC 3339")
            && errs.contains("2026-11-21")
            && errs.contains("7d"),
        "{errs}"
    );
}

/// Issues 10 and 12: listings show the client and the call's essential argument, with
/// bidirectional and invisible characters escaped; `verify` names the last record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_show_client_and_argument_escaped() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let jql = "project = ENG \u{202e}DESC yb redro\u{2066}";
    // Whether the site accepts this query does not matter: the call is recorded either way.
    let _ = call(
        &client,
        "jira_search",
        json!({"jql": jql, "max_results": 1}),
    )
    .await;
    ok(&call(&client, "jira_get_issue", json!({"key": "ENG-2"})).await);
    client.cancel().await.ok();

    for args in [
        &["audit", "tail"][..],
        &["audit", "query", "--tool", "jira_search"],
    ] {
        let (code, out, _) = env.cli(args);
        assert_eq!(code, 0, "{out}");
        assert!(
            !out.chars()
                .any(atlassian_mcp_bridge::sanitize::is_invisible),
            "{args:?}: {out:?}"
        );
        assert!(
            out.contains(r#"jql="project = ENG \u{202e}DESC yb redro\u{2066}""#),
            "{args:?}: {out}"
        );
        assert!(out.contains("client=integration-test"), "{args:?}: {out}");
    }
    let (_, out, _) = env.cli(&["audit", "tail", "-n", "1"]);
    assert!(out.contains("key=ENG-2"), "{out}");
    // --json stays the exact stored text.
    let (_, out, _) = env.cli(&["audit", "query", "--tool", "jira_search", "--json"]);
    let stored = std::fs::read_to_string(env.audit_path()).unwrap();
    assert!(
        stored.contains(out.trim_end()) && out.contains('\u{202e}'),
        "{out}"
    );

    let last = env.audit_records().pop().unwrap();
    let (code, out, _) = env.cli(&["audit", "verify"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "ok: 3 records verified");
    assert_eq!(
        lines[1],
        format!(
            "last record: seq {}, hash {}",
            last["seq"],
            last["hash"].as_str().unwrap()
        )
    );
    let anchor = format!("{}:{}", last["seq"], last["hash"].as_str().unwrap());
    let (code, out, _) = env.cli(&["audit", "verify", "--anchor", &anchor]);
    assert_eq!(code, 0, "{out}");
}

/// When the session's first record cannot be written (here the audit path is a directory), the
/// server still answers `initialize`, but runs nothing: no tool reaches the site, each call says
/// why, and the server ends with the error instead of a clean exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_cannot_write_its_first_record_runs_nothing() {
    let env = Env::new(Flavor::Cloud, "[audit]\npath = \"blocked\"\n").await;
    std::fs::create_dir_all(env.home.path().join("blocked")).unwrap();
    let client = env.client().await;
    env.sandbox.clear_requests();
    let r = call(
        &client,
        "jira_search",
        json!({"jql": "project = ENG", "max_results": 3}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    let message = crate::support::text(&r);
    assert!(message.contains("first record"), "{message}");
    assert!(message.contains("restart the server"), "{message}");
    // (The account lookup after `initialize` is not a call; the search must not have run.)
    assert!(
        !env.sandbox
            .requests()
            .iter()
            .any(|r| r.path.contains("/search")),
        "a call ran without its record: {:?}",
        env.sandbox.requests()
    );
    client.cancel().await.ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stderr = std::fs::read_to_string(env.stderr_path()).unwrap_or_default();
        if stderr.contains("cannot write the audit log") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not end with the error: {stderr}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
