//! Protocol-level behaviour of the real binary.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Env, Flavor, call, err};

use atlassian_mcp_bridge::catalog::{self, Access};

/// The tools this build serves, from the one catalog.
fn served() -> Vec<&'static str> {
    catalog::served().map(|t| t.name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_reports_our_name_and_version() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let info = client.peer_info().expect("server info");
    let server = info.server_info.clone().expect("serverInfo");
    assert_eq!(server.name, "atlassian-mcp-bridge");
    assert_eq!(server.version, env!("CARGO_PKG_VERSION"));
    assert!(info.capabilities.tools.is_some());
    client.cancel().await.ok();
}

/// Walks a JSON schema and returns the paths of properties that lack a description.
fn undocumented(schema: &Value, path: &str, out: &mut Vec<String>) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let has_desc = prop.get("description").is_some()
                || prop
                    .get("$ref")
                    .is_some_and(|_| prop.get("description").is_some());
            if !has_desc {
                out.push(format!("{path}.{name}"));
            }
            undocumented(prop, &format!("{path}.{name}"), out);
        }
    }
    for key in ["$defs", "definitions"] {
        if let Some(defs) = schema.get(key).and_then(Value::as_object) {
            for (name, def) in defs {
                undocumented(def, &format!("{path}/{key}/{name}"), out);
            }
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = schema.get(key) {
            undocumented(inner, &format!("{path}[]"), out);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = schema.get(key).and_then(Value::as_array) {
            for s in list {
                undocumented(s, path, out);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_list_is_complete_documented_and_small() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, served());
    let payload = serde_json::to_vec(&json!({ "tools": tools })).unwrap();
    assert!(
        payload.len() <= 25_000,
        "tools/list payload is {} bytes, over the 25 KB bar",
        payload.len()
    );
    for tool in &tools {
        let v = serde_json::to_value(tool).unwrap();
        let a = &v["annotations"];
        for hint in [
            "title",
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(
                !a[hint].is_null(),
                "{}: annotation {hint} not set",
                tool.name
            );
        }
        let info = catalog::find(&tool.name).unwrap();
        assert_eq!(
            a["readOnlyHint"],
            info.access == Access::Read,
            "{}",
            tool.name
        );
        assert!(tool.description.as_ref().is_some_and(|d| d.len() > 20));
        assert_eq!(v["inputSchema"]["type"], "object", "{}", tool.name);
        assert_eq!(v["outputSchema"]["type"], "object", "{}", tool.name);
        for combinator in ["oneOf", "anyOf", "allOf"] {
            assert!(v["inputSchema"].get(combinator).is_none(), "{}", tool.name);
        }
        let mut missing = Vec::new();
        undocumented(&v["inputSchema"], "input", &mut missing);
        assert!(
            missing.is_empty(),
            "{}: undocumented fields {missing:?}",
            tool.name
        );
        assert!(
            !has_prose(&v["outputSchema"]),
            "{}: output schemas go out without prose",
            tool.name
        );
    }
    client.cancel().await.ok();
}

/// The Python peer's expected tool list is the catalog's (it cannot import the catalog).
#[test]
fn python_peer_expects_the_catalog() {
    let text = include_str!("peers/python_sdk_client.py");
    let block = text
        .split("EXPECTED_TOOLS = {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("EXPECTED_TOOLS in python_sdk_client.py");
    let mut listed: Vec<&str> = block
        .split(',')
        .map(|s| s.trim().trim_matches('"'))
        .filter(|s| !s.is_empty())
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, served());
}

/// The Rust types behind every schema document every input and output field.
#[test]
fn every_input_and_output_field_is_documented_in_the_types() {
    let tools = atlassian_mcp_bridge::mcp::BridgeServer::all_tools_documented();
    assert_eq!(tools.len(), served().len());
    for tool in tools {
        let v = serde_json::to_value(&tool).unwrap();
        let mut missing = Vec::new();
        undocumented(&v["inputSchema"], "input", &mut missing);
        undocumented(&v["outputSchema"], "output", &mut missing);
        assert!(
            missing.is_empty(),
            "{}: undocumented fields {missing:?}",
            tool.name
        );
    }
}

/// True when a schema carries a `description` keyword anywhere (property names excluded).
fn has_prose(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => map.iter().any(|(k, v)| match k.as_str() {
            "description" => true,
            "properties" | "$defs" => v
                .as_object()
                .is_some_and(|props| props.values().any(has_prose)),
            _ => has_prose(v),
        }),
        Value::Array(items) => items.iter().any(has_prose),
        _ => false,
    }
}

/// Spawns `serve` with raw pipes and returns (child, stdin, stdout line reader).
fn raw_server(
    env: &Env,
) -> (
    std::process::Child,
    std::process::ChildStdin,
    std::sync::mpsc::Receiver<String>,
) {
    let mut child = env
        .command()
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    (child, stdin, rx)
}

fn send(stdin: &mut std::process::ChildStdin, msg: &str) {
    stdin.write_all(msg.as_bytes()).unwrap();
    stdin.write_all(b"\n").unwrap();
    stdin.flush().unwrap();
}

/// Reads stdout lines until the response with `id` arrives; every line must be JSON-RPC.
fn response(rx: &std::sync::mpsc::Receiver<String>, id: i64) -> Value {
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a response line in time");
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout carried a non-JSON line ({e}): {line}"));
        assert_eq!(v["jsonrpc"], "2.0", "not JSON-RPC: {line}");
        if v["id"] == id {
            return v;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_get_32601_and_garbage_is_survived() {
    let env = Env::new(Flavor::Cloud, "").await;
    let (mut child, mut stdin, rx) = raw_server(&env);
    send(
        &mut stdin,
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#,
    );
    let init = response(&rx, 1);
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(init["result"]["serverInfo"]["name"], "atlassian-mcp-bridge");
    send(
        &mut stdin,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    // Garbage of several kinds: not JSON, truncated JSON, wrong shapes, binary-ish text.
    for junk in [
        "hello there",
        "{\"jsonrpc\":\"2.0\",\"id\":",
        "[1,2,3]",
        "{}",
        "\u{1b}[31m\u{0}\u{7f}",
        "{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":42}",
    ] {
        send(&mut stdin, junk);
    }
    send(
        &mut stdin,
        r#"{"jsonrpc":"2.0","id":2,"method":"server/discover_nonexistent","params":{}}"#,
    );
    let unknown = response(&rx, 2);
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    send(
        &mut stdin,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{}}"#,
    );
    let list = response(&rx, 3);
    assert_eq!(
        list["result"]["tools"].as_array().unwrap().len(),
        served().len()
    );
    // Unknown tool: a JSON-RPC error (MCP spec), and still one audit record.
    send(
        &mut stdin,
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"jira_delete_everything","arguments":{}}}"#,
    );
    let unknown_tool = response(&rx, 4);
    assert_eq!(unknown_tool["error"]["code"], -32602, "{unknown_tool}");
    assert!(
        unknown_tool["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tools/list")
    );
    // Invalid arguments: a tool error the model can read.
    send(
        &mut stdin,
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"jira_search","arguments":{"jql":42}}}"#,
    );
    let invalid = response(&rx, 5);
    assert_eq!(invalid["result"]["isError"], true, "{invalid}");
    let msg = invalid["result"]["content"][0]["text"].as_str().unwrap();
    assert!(msg.starts_with("invalid arguments"), "{msg}");
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "server exit status {status:?} after stdin closed"
    );
    // Whatever remains on stdout must still be JSON-RPC.
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        let v: Value = serde_json::from_str(&line).expect("JSON-RPC only on stdout");
        assert_eq!(v["jsonrpc"], "2.0");
    }
    let records = env.tool_records();
    let tools: Vec<&str> = records
        .iter()
        .map(|r| r["tool"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["jira_delete_everything", "jira_search"]);
    assert!(records.iter().all(|r| r["outcome"] == "error"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_arguments_are_tool_errors_with_audit_records() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let cases = [
        ("jira_search", json!({})),
        (
            "jira_search",
            json!({"jql": "project = ENG", "max_results": 0}),
        ),
        (
            "jira_search",
            json!({"jql": "project = ENG", "max_results": 1000}),
        ),
        (
            "jira_search",
            json!({"jql": "project = ENG", "max_results": "lots"}),
        ),
        ("jira_search", json!({"jql": "   "})),
        ("jira_search", json!({"jql": "project = ENG", "bogus": 1})),
        ("jira_get_issue", json!({"key": "not a key"})),
        (
            "jira_get_issue",
            json!({"key": "ENG-1", "include": ["everything"]}),
        ),
        (
            "confluence_get_page",
            json!({"page_id": "../../etc/passwd"}),
        ),
        ("confluence_search", json!({"cql": ""})),
        ("jira_get_create_fields", json!({"project": "E N G"})),
    ];
    for (tool, args) in &cases {
        let r = call(&client, tool, args.clone()).await;
        let msg = err(&r);
        assert!(!msg.is_empty(), "{tool} {args}: empty message");
    }
    // Numbers sent as strings are accepted (many clients do this).
    let r = call(
        &client,
        "jira_search",
        json!({"jql": "project = ENG", "max_results": "3"}),
    )
    .await;
    assert_ne!(r.is_error, Some(true), "{}", crate::support::text(&r));
    client.cancel().await.ok();
    let records = env.tool_records();
    assert_eq!(records.len(), cases.len() + 1);
    assert!(
        records[..cases.len()]
            .iter()
            .all(|r| r["outcome"] == "error")
    );
    assert!(
        records[..cases.len()]
            .iter()
            .all(|r| r["error"].is_string())
    );
}

#[test]
fn serve_without_site_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(crate::support::BIN)
        .arg("serve")
        .env("ATLASSIAN_MCP_BRIDGE_HOME", home.path())
        .env_remove("ATLASSIAN_MCP_BRIDGE_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no Atlassian site configured"), "{stderr}");
    assert!(stderr.contains("serve --sandbox"), "{stderr}");
}

/// Runs `serve` with `config` as `<home>/config.toml` and no stdin.
fn serve_with_config(home: &std::path::Path, config: &str) -> std::process::Output {
    std::fs::write(home.join("config.toml"), config).unwrap();
    std::process::Command::new(crate::support::BIN)
        .arg("serve")
        .env("ATLASSIAN_MCP_BRIDGE_HOME", home)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn bad_config_names_file_and_key_and_exits_2() {
    let home = tempfile::tempdir().unwrap();
    let out = serve_with_config(
        home.path(),
        "[site]\nurl = \"http://jira.example.com\"\npat = \"x\"\n",
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("config.toml") && stderr.contains("site.url"),
        "{stderr}"
    );

    let out = serve_with_config(home.path(), "[policy]\nread_onyl = true\n");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("read_onyl") && stderr.contains("line 2"),
        "{stderr}"
    );

    let out = std::process::Command::new(crate::support::BIN)
        .args(["serve", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_sandbox_works_without_any_config() {
    let home = tempfile::tempdir().unwrap();
    let env_home = home.path().to_path_buf();
    let cmd = tokio::process::Command::new(crate::support::BIN);
    let mut cmd = cmd;
    cmd.args(["serve", "--sandbox"])
        .env("ATLASSIAN_MCP_BRIDGE_HOME", &env_home)
        .env_remove("ATLASSIAN_MCP_BRIDGE_CONFIG");
    let (transport, _) = rmcp::transport::TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use rmcp::ServiceExt;
    let client = ().serve(transport).await.unwrap();
    let r = client
        .call_tool(
            rmcp::model::CallToolRequestParams::new("jira_search").with_arguments(
                json!({"jql": "project = ENG", "max_results": 2})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true));
    assert_eq!(
        r.structured_content.unwrap()["issues"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    client.cancel().await.ok();
    assert!(env_home.join("audit").join("audit.jsonl").exists());
}

/// Everything under `dir`, relative, sorted (empty when it holds nothing).
fn tree(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_sandbox_without_a_home_touches_no_real_home() {
    let user_home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(crate::support::BIN);
    cmd.args(["serve", "--sandbox"])
        .env_remove("ATLASSIAN_MCP_BRIDGE_HOME")
        .env_remove("ATLASSIAN_MCP_BRIDGE_CONFIG")
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env("HOME", user_home.path())
        .env("TMPDIR", tmp.path());
    let (transport, _) = rmcp::transport::TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use rmcp::ServiceExt;
    let client = ().serve(transport).await.unwrap();
    let r = client
        .call_tool(
            rmcp::model::CallToolRequestParams::new("jira_search").with_arguments(
                json!({"jql": "project = ENG", "max_results": 2})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true));
    // While it runs, its audit log lives in the temporary home.
    let during = tree(tmp.path());
    assert!(
        during.iter().any(|p| p.ends_with("audit/audit.jsonl")),
        "{during:?}"
    );
    client.cancel().await.ok();
    // `cancel` closes stdin; give the process a moment to exit and clean up.
    for _ in 0..100 {
        if tree(tmp.path()).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        tree(tmp.path()),
        Vec::<String>::new(),
        "temporary home removed"
    );
    assert_eq!(
        tree(user_home.path()),
        Vec::<String>::new(),
        "nothing written into the person's home"
    );
}

#[test]
fn completions_come_from_the_cli_definition() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef atlassian-mcp-bridge"),
        ("fish", "complete -c atlassian-mcp-bridge"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = std::process::Command::new(crate::support::BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script:.200}");
        for command in ["serve", "doctor", "install", "audit", "sandbox"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
        // Positional values (the install clients): clap_complete's bash and zsh generators list
        // them; its fish and PowerShell generators do not.
        if matches!(shell, "bash" | "zsh") {
            assert!(
                script.contains("claude-desktop"),
                "{shell} lacks the clients"
            );
        }
    }
    let out = std::process::Command::new(crate::support::BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bash"));
}

/// `completions zsh | head -1` and the like: writing into a pipe nobody reads is not a crash.
#[test]
fn output_into_a_closed_pipe_is_not_a_crash() {
    for args in [&["completions", "zsh"][..], &["completions", "bash"][..]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(crate::support::BIN)
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_still_removes_the_sandbox_home() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(crate::support::BIN)
        .args(["serve", "--sandbox"])
        .env_remove("ATLASSIAN_MCP_BRIDGE_HOME")
        .env_remove("ATLASSIAN_MCP_BRIDGE_CONFIG")
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Initialize, so the server is serving (and listening for signals), then ask it to stop.
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut answer)
        .await
        .unwrap();
    assert!(answer.contains("serverInfo"), "{answer}");
    assert!(!tree(tmp.path()).is_empty(), "the server made its home");
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        tree(tmp.path()),
        Vec::<String>::new(),
        "temporary home removed"
    );
}
