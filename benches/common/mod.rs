//! What the benches share: the real binary over stdio as a line-by-line JSON-RPC client, and
//! percentiles.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The binary under test: this build's, or another one named by `BRIDGE_BIN` (to measure a
/// `dist` build, or an older commit's binary beside this one in the same run).
pub fn bin() -> String {
    std::env::var("BRIDGE_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_atlassian-mcp-bridge").to_string())
}

pub struct Bridge {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    next_id: i64,
}

impl Bridge {
    pub fn spawn(home: &std::path::Path) -> (Self, Instant) {
        Self::spawn_with(home, &[])
    }

    pub fn spawn_with(home: &std::path::Path, env: &[(&str, &str)]) -> (Self, Instant) {
        let started = Instant::now();
        let mut child = Command::new(bin())
            .arg("serve")
            .env("ATLASSIAN_MCP_BRIDGE_HOME", home)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn bridge");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (
            Self {
                child,
                stdin,
                lines,
                next_id: 1,
            },
            started,
        )
    }

    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(self.stdin, "{msg}").expect("write");
        self.stdin.flush().expect("flush");
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .expect("response");
            let v: Value = serde_json::from_str(&line).expect("json");
            if v["id"] == id {
                return v;
            }
        }
    }

    pub fn initialize(&mut self) -> Value {
        let r = self.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "bench", "version": "0"}}),
        );
        writeln!(
            self.stdin,
            "{}",
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
        )
        .expect("write");
        r
    }

    pub fn call(&mut self, tool: &str, args: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": args}))
    }

    pub fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    pub fn close(mut self) {
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// `runs` cold starts in `home`: spawn → `initialize` answered, in ms, sorted.
pub fn cold_starts(home: &std::path::Path, runs: usize) -> Vec<f64> {
    starts(home, runs, |_| {})
}

/// `runs` starts in `home` until the client can call tools: spawn → `initialize` and
/// `tools/list` answered, in ms, sorted.
pub fn ready_times(home: &std::path::Path, runs: usize) -> Vec<f64> {
    starts(home, runs, |b| {
        b.request("tools/list", json!({}));
    })
}

/// `runs` starts in `home`, each timed from spawn through `initialize` and `then`.
fn starts(home: &std::path::Path, runs: usize, then: impl Fn(&mut Bridge)) -> Vec<f64> {
    let times = (0..runs)
        .map(|_| {
            let (mut b, started) = Bridge::spawn(home);
            b.initialize();
            then(&mut b);
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            b.close();
            ms
        })
        .collect();
    sorted(times)
}

/// `config.toml` for the sandbox's Cloud site with an API token, followed by `extra` TOML.
pub fn sandbox_config(sb: &atlassian_mcp_bridge::sandbox::Sandbox, extra: &str) -> String {
    format!(
        "[site]\nurl = \"{}\"\ndeployment = \"cloud\"\nemail = \"{}\"\napi_token = \"{}\"\n{extra}",
        sb.base_url(),
        atlassian_mcp_bridge::sandbox::SANDBOX_EMAIL,
        atlassian_mcp_bridge::sandbox::SANDBOX_API_TOKEN
    )
}

pub fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

pub fn last_record(home: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(home.join("audit/audit.jsonl")).expect("audit");
    serde_json::from_str(text.lines().last().expect("a record")).expect("json")
}
