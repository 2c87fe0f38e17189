//! How `serve` reads stdin and how it stops: lines it repairs, lines it answers with -32700,
//! malformed `tools/call` requests (-32602 and an audit record), lines over 16 MiB, signals with
//! calls in flight, stdin or stdout closing, and stdout carrying nothing but JSON-RPC.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::Env;
use crate::support::Flavor;

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw-transport","version":"0.1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// The real binary with raw pipes: bytes in, stdout lines out (each checked to be JSON-RPC).
struct Raw {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Vec<u8>>,
}

impl Raw {
    /// Spawns `serve` for `env`; stderr goes to the env's stderr file.
    fn spawn(env: &Env) -> Raw {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(env.stderr_path())
            .unwrap();
        let mut child = env
            .command()
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn serve");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Raw {
            child,
            stdin,
            lines,
        }
    }

    /// Writes `bytes` and a newline.
    fn send(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// `initialize` + `notifications/initialized`.
    fn initialize(&mut self) {
        self.send(INITIALIZE.as_bytes());
        let answers = self.until(json!(1));
        assert_eq!(
            answers.last().unwrap()["result"]["serverInfo"]["name"],
            "atlassian-mcp-bridge"
        );
        self.send(INITIALIZED.as_bytes());
    }

    /// Every stdout line up to and including the answer with `id`; each must be JSON-RPC.
    fn until(&self, id: Value) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no answer with id {id}; stdout so far: {seen:?}"));
            let v = json_rpc_line(&line);
            let done = v["id"] == id && (v.get("result").is_some() || v.get("error").is_some());
            seen.push(v);
            if done {
                return seen;
            }
        }
    }

    /// Every stdout line until each of `ids` has been answered.
    fn until_all(&self, ids: &[Value]) -> Vec<Value> {
        let mut seen: Vec<Value> = Vec::new();
        for id in ids {
            let answered = |v: &Value| {
                v["id"] == *id && (v.get("result").is_some() || v.get("error").is_some())
            };
            if !seen.iter().any(answered) {
                seen.extend(self.until(id.clone()));
            }
        }
        seen
    }

    /// Waits (bounded) for the process to exit and returns its exit code.
    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the server did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whatever the server still writes before its stdout closes; each line must be JSON-RPC.
    fn rest(&self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            out.push(json_rpc_line(&line));
        }
        out
    }

    fn signal(&self, name: &str) {
        let killed = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses one stdout line: one JSON-RPC 2.0 object, newline-terminated, nothing else.
fn json_rpc_line(line: &[u8]) -> Value {
    let text = std::str::from_utf8(line)
        .unwrap_or_else(|_| panic!("stdout carried invalid UTF-8: {line:?}"));
    assert!(text.ends_with('\n'), "a line without its newline: {text:?}");
    let v: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("stdout carried a non-JSON line ({e}): {text}"));
    assert_eq!(v["jsonrpc"], "2.0", "not JSON-RPC: {text}");
    v
}

/// The answer with `id` among `lines`.
fn answer(lines: &[Value], id: Value) -> Value {
    lines
        .iter()
        .find(|v| v["id"] == id && (v.get("result").is_some() || v.get("error").is_some()))
        .cloned()
        .unwrap_or_else(|| panic!("no answer with id {id} in {lines:?}"))
}

fn error_code(v: &Value) -> i64 {
    v["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harmless_damage_is_repaired_and_served() {
    let env = Env::new(Flavor::Cloud, "").await;
    let mut raw = Raw::spawn(&env);
    raw.initialize();
    // A Node client cutting an emoji in half sends a lone surrogate escape.
    raw.send(
        br#"{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"jira_search","arguments":{"jql":"project = ENG AND summary ~ \"login \ud83d\""}}}"#,
    );
    raw.send(
        br#"{"jsonrpc":"2.0","id":11,"method":"ping","params":{"_meta":{"note":"a\udc00b"}}}"#,
    );
    raw.send(b"\0{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"ping\"}");
    raw.send(b"\0\0\xEF\xBB\xBF{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"ping\"}");
    raw.send(b"{\"jsonrpc\":\"2.0\",\"id\":14,\"method\":\"ping\"}\r");
    raw.send(br#"{"jsonrpc":"2.0","id":15,"method":"ping"}"#);
    let lines = raw.until_all(&[json!(15), json!(10)]);
    let search = answer(&lines, json!(10));
    assert!(search.get("result").is_some(), "{search}");
    for id in 11..=14 {
        let pong = answer(&lines, json!(id));
        assert_eq!(pong["result"], json!({}), "{pong}");
    }
    drop(raw.stdin.take());
    assert_eq!(raw.exit_code(), Some(0));
    raw.rest();
    let records = env.tool_records();
    assert_eq!(records.len(), 1, "{records:?}");
    let jql = records[0]["args"]["jql"].as_str().unwrap();
    assert!(jql.ends_with("login \u{fffd}\""), "{jql}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparseable_lines_get_32700_with_their_id() {
    let env = Env::new(Flavor::Cloud, "").await;
    let mut raw = Raw::spawn(&env);
    raw.initialize();
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":22,"method":"ping","params":{{"_meta":{{"x":{}1{}}}}}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let cases: Vec<(Vec<u8>, Value)> = vec![
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":20,\"method\":\"ping\",\"params\":{\"_meta\":{\"x\":\"\xff\xfe\"}}}"
                .to_vec(),
            json!(20),
        ),
        (
            br#"{"jsonrpc":"2.0","id":21,"method":"ping",}"#.to_vec(),
            json!(21),
        ),
        (deep.into_bytes(), json!(22)),
        (br#"{"jsonrpc":"2.0","id":23,"method":"ping""#.to_vec(), json!(23)),
        // The TypeScript SDK puts the id last.
        (
            br#"{"method":"tools/call","params":{"name":"jira_search","arguments":{"jql":"x",}},"jsonrpc":"2.0","id":"s-24"}"#
                .to_vec(),
            json!("s-24"),
        ),
    ];
    for (line, _) in &cases {
        raw.send(line);
    }
    raw.send(b"hello there");
    raw.send(br#"{"jsonrpc":"2.0","id":99,"method":"ping"}"#);
    let lines = raw.until(json!(99));
    for (line, id) in &cases {
        let a = answer(&lines, id.clone());
        assert_eq!(
            error_code(&a),
            -32700,
            "{}: {a}",
            String::from_utf8_lossy(line)
        );
        assert!(a["error"]["message"].as_str().unwrap().len() > 10, "{a}");
    }
    let deep = answer(&lines, json!(22));
    assert!(
        deep["error"]["message"].as_str().unwrap().contains("128"),
        "{deep}"
    );
    let invalid_utf8 = answer(&lines, json!(20));
    assert!(
        invalid_utf8["error"]["message"]
            .as_str()
            .unwrap()
            .contains("UTF-8"),
        "{invalid_utf8}"
    );
    // Not JSON at all: answered with id null.
    assert!(
        lines
            .iter()
            .any(|v| v["id"].is_null() && v["error"]["code"] == -32700),
        "{lines:?}"
    );
    // Still serving.
    raw.send(br#"{"jsonrpc":"2.0","id":100,"method":"tools/list"}"#);
    let list = answer(&raw.until(json!(100)), json!(100));
    assert!(list["result"]["tools"].as_array().unwrap().len() > 5);
    drop(raw.stdin.take());
    assert_eq!(raw.exit_code(), Some(0));
    raw.rest();
    assert!(env.tool_records().is_empty(), "nothing reached a tool");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_over_16_mib_are_discarded_and_answered() {
    let env = Env::new(Flavor::Cloud, "").await;
    let mut raw = Raw::spawn(&env);
    raw.initialize();
    let pad = "a".repeat(17 * 1024 * 1024);
    let head_id = format!(
        r#"{{"jsonrpc":"2.0","id":30,"method":"tools/call","params":{{"name":"jira_search","arguments":{{"jql":"{pad}"}}}}}}"#
    );
    let tail_id = format!(
        r#"{{"method":"ping","params":{{"_meta":{{"pad":"{pad}"}}}},"jsonrpc":"2.0","id":31}}"#
    );
    // A large message under the limit still goes through.
    let big_ok = format!(
        r#"{{"jsonrpc":"2.0","id":32,"method":"ping","params":{{"_meta":{{"pad":"{}"}}}}}}"#,
        "b".repeat(2 * 1024 * 1024)
    );
    let mut stdin = raw.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for line in [head_id, tail_id, big_ok] {
            stdin.write_all(line.as_bytes()).unwrap();
            stdin.write_all(b"\n").unwrap();
        }
        stdin
            .write_all(br#"{"jsonrpc":"2.0","id":33,"method":"ping"}"#)
            .unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        stdin
    });
    let lines = raw.until_all(&[json!(33), json!(32)]);
    raw.stdin = Some(writer.join().unwrap());
    for id in [30, 31] {
        let a = answer(&lines, json!(id));
        assert_eq!(error_code(&a), -32700, "{a}");
        assert!(
            a["error"]["message"].as_str().unwrap().contains("16 MiB"),
            "{a}"
        );
    }
    assert_eq!(answer(&lines, json!(32))["result"], json!({}));
    drop(raw.stdin.take());
    assert_eq!(raw.exit_code(), Some(0));
    raw.rest();
    assert!(env.tool_records().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tool_calls_get_32602_and_an_audit_record() {
    let env = Env::new(Flavor::Cloud, "").await;
    let mut raw = Raw::spawn(&env);
    raw.initialize();
    // (params as sent, the tool the record names, the args it records)
    let cases: Vec<(Option<Value>, Value, Value)> = vec![
        (
            Some(json!("jira_search")),
            Value::Null,
            json!("jira_search"),
        ),
        (None, Value::Null, Value::Null),
        (Some(json!({"arguments": {}})), Value::Null, json!({})),
        (
            Some(json!({"name": 7, "arguments": {"jql": "x"}})),
            Value::Null,
            json!({"jql": "x"}),
        ),
        (
            Some(json!({"name": "jira_search", "arguments": "project = ENG"})),
            json!("jira_search"),
            json!("project = ENG"),
        ),
        (
            Some(json!({"name": "jira_get_issue", "arguments": ["ENG-1"]})),
            json!("jira_get_issue"),
            json!(["ENG-1"]),
        ),
        (Some(json!([1, 2])), Value::Null, json!([1, 2])),
    ];
    for (i, (params, _, _)) in cases.iter().enumerate() {
        let mut msg = json!({"jsonrpc": "2.0", "id": 40 + i, "method": "tools/call"});
        if let Some(p) = params {
            msg["params"] = p.clone();
        }
        raw.send(msg.to_string().as_bytes());
    }
    raw.send(br#"{"jsonrpc":"2.0","id":99,"method":"ping"}"#);
    let lines = raw.until(json!(99));
    for i in 0..cases.len() {
        let a = answer(&lines, json!(40 + i));
        assert_eq!(error_code(&a), -32602, "{a}");
    }
    drop(raw.stdin.take());
    assert_eq!(raw.exit_code(), Some(0));
    raw.rest();
    let records = env.tool_records();
    assert_eq!(records.len(), cases.len(), "{records:?}");
    for (record, (_, tool, args)) in records.iter().zip(&cases) {
        assert_eq!(record["outcome"], "error", "{record}");
        assert!(record["error"].as_str().is_some_and(|e| !e.is_empty()));
        assert_eq!(
            record.get("tool").cloned().unwrap_or(Value::Null),
            *tool,
            "{record}"
        );
        assert_eq!(
            record.get("args").cloned().unwrap_or(Value::Null),
            *args,
            "{record}"
        );
        assert_eq!(record["client"]["name"], "raw-transport", "{record}");
    }
}

/// Starts `tool` with the sandbox slowed to a crawl and returns once the call is in flight
/// (a `ping` sent after it has been answered, so the call was read and dispatched).
fn start_slow_call(env: &Env, raw: &mut Raw, tool: &str, args: Value) {
    env.sandbox.faults().set_latency(Duration::from_secs(30));
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": tool, "arguments": args}});
    raw.send(call.to_string().as_bytes());
    raw.send(br#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
    let lines = raw.until(json!(3));
    assert!(
        !lines.iter().any(|v| v["id"] == 2),
        "the slow call answered early: {lines:?}"
    );
}

/// The one record `tool` left: cancelled, with a reason.
fn assert_cancelled(env: &Env, tool: &str) {
    let records = env.tool_records();
    let mine: Vec<&Value> = records.iter().filter(|r| r["tool"] == tool).collect();
    assert_eq!(mine.len(), 1, "one record for {tool}: {records:?}");
    assert_eq!(mine[0]["outcome"], "cancelled", "{}", mine[0]);
    assert!(mine[0]["error"].is_string(), "{}", mine[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_read_in_flight_records_it_cancelled_and_exits_0() {
    let env = Env::new(Flavor::Cloud, "").await;
    let mut raw = Raw::spawn(&env);
    raw.initialize();
    start_slow_call(&env, &mut raw, "jira_get_issue", json!({"key": "ENG-1"}));
    raw.signal("TERM");
    assert_eq!(raw.exit_code(), Some(0));
    let rest = raw.rest();
    assert!(
        rest.iter().any(|v| v["id"] == 2),
        "the call got an answer: {rest:?}"
    );
    env.sandbox.faults().set_latency(Duration::ZERO);
    assert_cancelled(&env, "jira_get_issue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_with_a_write_in_flight_records_it_cancelled_and_exits_0() {
    let env = Env::new(Flavor::Cloud, "").await;
    let mut raw = Raw::spawn(&env);
    raw.initialize();
    start_slow_call(
        &env,
        &mut raw,
        "jira_add_comment",
        json!({"key": "ENG-1", "body": "still there?"}),
    );
    raw.signal("INT");
    assert_eq!(raw.exit_code(), Some(0));
    let rest = raw.rest();
    assert!(
        rest.iter().any(|v| v["id"] == 2),
        "the call got an answer: {rest:?}"
    );
    env.sandbox.faults().set_latency(Duration::ZERO);
    assert_cancelled(&env, "jira_add_comment");
}

/// Waits (bounded) until the server's stderr log holds `text`.
fn wait_for_log(env: &Env, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(env.stderr_path()).is_ok_and(|log| log.contains(text)) {
        assert!(Instant::now() < deadline, "the log never said {text:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_waiting_and_the_call_is_still_recorded() {
    let env = Env::new(Flavor::Cloud, "").await;
    let mut raw = Raw::spawn(&env);
    raw.initialize();
    start_slow_call(
        &env,
        &mut raw,
        "jira_add_comment",
        json!({"key": "ENG-1", "body": "anyone?"}),
    );
    raw.signal("TERM");
    // The write is cancelled and winding down (up to 10 s); asked again, the server stops
    // waiting and records the call itself.
    wait_for_log(&env, "cancelled the calls still running");
    raw.signal("TERM");
    assert_eq!(raw.exit_code(), Some(0));
    raw.rest();
    env.sandbox.faults().set_latency(Duration::ZERO);
    assert_cancelled(&env, "jira_add_comment");
    let records = env.tool_records();
    assert_eq!(
        records[0]["error"], "the server stopped before the call finished",
        "{records:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_closing_with_a_call_in_flight_still_records_it() {
    let env = Env::new(Flavor::Cloud, "").await;
    let mut raw = Raw::spawn(&env);
    raw.initialize();
    start_slow_call(
        &env,
        &mut raw,
        "jira_search",
        json!({"jql": "project = ENG"}),
    );
    drop(raw.stdin.take());
    assert_eq!(raw.exit_code(), Some(0));
    let rest = raw.rest();
    assert!(
        rest.iter().any(|v| v["id"] == 2),
        "the call got an answer: {rest:?}"
    );
    env.sandbox.faults().set_latency(Duration::ZERO);
    assert_cancelled(&env, "jira_search");
}

/// `serve` with warnings only on stderr (what a client shows the person).
fn quiet_serve(env: &Env) -> std::process::Command {
    let mut cmd = env.command();
    cmd.arg("serve").env("ATLASSIAN_MCP_BRIDGE_LOG", "warn");
    cmd
}

/// Waits (bounded) for `child` to exit; returns its exit code and stderr.
fn exit_and_stderr(mut child: Child) -> (Option<i32>, String) {
    let stderr = child.stderr.take().unwrap();
    let reading = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s).ok();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve kept running: {}", reading.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (code, reading.join().unwrap())
}

fn assert_quiet(code: Option<i32>, stderr: &str) {
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stderr.to_lowercase().contains("error"),
        "nothing reported as an error: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_closed_before_initialize_is_a_clean_exit() {
    let env = Env::new(Flavor::Cloud, "").await;
    let out = quiet_serve(&env).stdin(Stdio::null()).output().unwrap();
    assert!(out.stdout.is_empty(), "nothing on stdout");
    assert_quiet(out.status.code(), &String::from_utf8_lossy(&out.stderr));
}

/// The log filter: a level, `target=level` pairs, `RUST_LOG` when the bridge's own variable is
/// unset or empty, and `warn` when neither says anything readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_filter_takes_levels_and_targets() {
    let env = Env::new(Flavor::Cloud, "").await;
    let line = "nothing to serve";
    for (ours, rust_log, shown) in [
        (Some("info"), None, true),
        (Some("atlassian_mcp_bridge=info"), None, true),
        (Some("atlassian_mcp_bridge=warn,rmcp=info"), None, false),
        (Some("warn"), Some("info"), false),
        (None, Some("info"), true),
        (Some(""), Some("info"), true),
        (None, None, false),
        (Some("[not a filter"), None, false),
    ] {
        let mut cmd = env.command();
        cmd.arg("serve")
            .env_remove("ATLASSIAN_MCP_BRIDGE_LOG")
            .env_remove("RUST_LOG");
        if let Some(v) = ours {
            cmd.env("ATLASSIAN_MCP_BRIDGE_LOG", v);
        }
        if let Some(v) = rust_log {
            cmd.env("RUST_LOG", v);
        }
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert_eq!(
            stderr.contains(line),
            shown,
            "{ours:?} {rust_log:?}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_closed_before_the_first_answer_is_a_quiet_exit() {
    let env = Env::new(Flavor::Cloud, "").await;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = quiet_serve(&env)
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // stdin stays open: only the closed stdout can end the session.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(INITIALIZE.as_bytes()).unwrap();
    stdin.write_all(b"\n").unwrap();
    stdin.flush().unwrap();
    let (code, stderr) = exit_and_stderr(child);
    drop(stdin);
    assert_quiet(code, &stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_closed_mid_session_is_a_quiet_exit() {
    let env = Env::new(Flavor::Cloud, "").await;
    let mut child = quiet_serve(&env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdin.write_all(INITIALIZE.as_bytes()).unwrap();
    stdin.write_all(b"\n").unwrap();
    stdin.flush().unwrap();
    let mut first = Vec::new();
    stdout.read_until(b'\n', &mut first).unwrap();
    json_rpc_line(&first);
    drop(stdout);
    for line in [
        INITIALIZED,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    ] {
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
    }
    stdin.flush().unwrap();
    let (code, stderr) = exit_and_stderr(child);
    drop(stdin);
    assert_quiet(code, &stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stderr_is_not_a_crash() {
    let env = Env::new(Flavor::Cloud, "").await;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = env
        .command()
        .arg("serve")
        .env("ATLASSIAN_MCP_BRIDGE_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(writer)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    for line in [
        INITIALIZE,
        INITIALIZED,
        "not json",
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    ] {
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
    }
    stdin.flush().unwrap();
    drop(stdin);
    let mut ids = Vec::new();
    loop {
        let mut line = Vec::new();
        if stdout.read_until(b'\n', &mut line).unwrap() == 0 {
            break;
        }
        ids.push(json_rpc_line(&line)["id"].clone());
    }
    // The filter's own answer (to "not json") may come before rmcp's answers.
    ids.sort_by_key(|id| id.to_string());
    assert_eq!(ids, [json!(1), json!(2), Value::Null]);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// A stdout that fails for another reason than the client closing it: the one error printed
/// names stdout and the OS error.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_stdout_is_one_error_that_names_it() {
    let env = Env::new(Flavor::Cloud, "").await;
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut child = quiet_serve(&env)
        .stdin(Stdio::piped())
        .stdout(full)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(INITIALIZE.as_bytes()).unwrap();
    stdin.write_all(b"\n").unwrap();
    stdin.flush().unwrap();
    let (code, stderr) = exit_and_stderr(child);
    drop(stdin);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("error: cannot write to stdout: ")
            && lines[0].contains("No space left on device"),
        "{stderr}"
    );
}
