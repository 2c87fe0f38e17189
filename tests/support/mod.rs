//! Shared test harness: a sandbox on 127.0.0.1, a temp `ATLASSIAN_MCP_BRIDGE_HOME`, and the real
//! binary spawned over stdio with an rmcp client.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use atlassian_mcp_bridge::sandbox::{self, Sandbox, SandboxOptions};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::Value;
use tempfile::TempDir;

/// Path of the binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_atlassian-mcp-bridge");

/// Which sandbox flavour a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Cloud,
    DataCenter,
}

/// A test environment: sandbox + home directory with a config file.
pub struct Env {
    pub home: TempDir,
    pub sandbox: Sandbox,
    pub flavor: Flavor,
}

pub type Client = RunningService<RoleClient, ClientConfig>;

impl Env {
    /// Starts a sandbox and writes `config.toml` for it, plus `extra` TOML (e.g. a `[policy]`).
    pub async fn new(flavor: Flavor, extra: &str) -> Env {
        let sandbox = sandbox::start(SandboxOptions::default())
            .await
            .expect("sandbox starts");
        let home = tempfile::tempdir().expect("temp home");
        let site = match flavor {
            Flavor::Cloud => format!(
                "[site]\nurl = \"{}\"\ndeployment = \"cloud\"\nauth = \"api-token\"\nemail = \"{}\"\napi_token = \"{}\"\n",
                sandbox.base_url(),
                sandbox::SANDBOX_EMAIL,
                sandbox::SANDBOX_API_TOKEN
            ),
            Flavor::DataCenter => format!(
                "[site]\nurl = \"{}\"\ndeployment = \"data-center\"\nauth = \"pat\"\npat = \"{}\"\n",
                sandbox.dc_base_url(),
                sandbox::SANDBOX_PAT
            ),
        };
        std::fs::write(home.path().join("config.toml"), format!("{site}\n{extra}"))
            .expect("write config");
        Env {
            home,
            sandbox,
            flavor,
        }
    }

    /// The audit log path (default location under the home).
    pub fn audit_path(&self) -> PathBuf {
        self.home.path().join("audit").join("audit.jsonl")
    }

    /// Where the spawned server's stderr goes.
    pub fn stderr_path(&self) -> PathBuf {
        self.home.path().join("stderr.log")
    }

    /// A `std::process::Command` for the binary with this environment.
    pub fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(BIN);
        self.apply_env(&mut cmd);
        cmd
    }

    fn apply_env(&self, cmd: &mut std::process::Command) {
        cmd.env("ATLASSIAN_MCP_BRIDGE_HOME", self.home.path())
            .env_remove("ATLASSIAN_MCP_BRIDGE_CONFIG")
            .env_remove("ATLASSIAN_API_TOKEN")
            .env_remove("ATLASSIAN_PAT")
            .env("ATLASSIAN_MCP_BRIDGE_LOG", "info");
    }

    /// Spawns `serve` and connects an rmcp client to it.
    pub async fn client(&self) -> Client {
        self.client_with_args(&["serve"]).await
    }

    /// Spawns the binary with `args` and connects an rmcp client.
    pub async fn client_with_args(&self, args: &[&str]) -> Client {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_path())
            .expect("stderr file");
        let cmd = tokio::process::Command::new(BIN).configure(|c| {
            c.args(args)
                .env("ATLASSIAN_MCP_BRIDGE_HOME", self.home.path())
                .env_remove("ATLASSIAN_MCP_BRIDGE_CONFIG")
                .env_remove("ATLASSIAN_API_TOKEN")
                .env_remove("ATLASSIAN_PAT")
                .env("ATLASSIAN_MCP_BRIDGE_LOG", "info");
        });
        let (transport, _) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn bridge");
        let info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("integration-test", "1.0.0"),
        );
        tokio::time::timeout(Duration::from_secs(20), info.serve(transport))
            .await
            .expect("initialize in time")
            .expect("initialize ok")
    }

    /// Every audit record across the live file (rotation is tested separately).
    pub fn audit_records(&self) -> Vec<Value> {
        read_jsonl(&self.audit_path())
    }

    /// Tool-call records only.
    pub fn tool_records(&self) -> Vec<Value> {
        self.audit_records()
            .into_iter()
            .filter(|r| r["event"] == "tool_call")
            .collect()
    }

    /// Runs the CLI synchronously and returns (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.command().args(args).output().expect("run cli");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// Parses a JSONL file (missing file = no records).
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Calls a tool with JSON arguments, with a timeout.
pub async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let mut params = CallToolRequestParams::new(tool.to_string());
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    tokio::time::timeout(Duration::from_secs(60), client.call_tool(params))
        .await
        .expect("tool call in time")
        .expect("tool call answered")
}

/// The text content of a result.
pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts success and returns the structured content.
pub fn ok(r: &CallToolResult) -> Value {
    assert_ne!(r.is_error, Some(true), "tool failed: {}", text(r));
    r.structured_content.clone().expect("structured content")
}

/// Asserts a tool error and returns its text.
pub fn err(r: &CallToolResult) -> String {
    assert_eq!(
        r.is_error,
        Some(true),
        "expected an error, got: {}",
        text(r)
    );
    text(r)
}

/// Both flavours, for tests that must pass on Cloud and Data Center alike.
pub const FLAVORS: [Flavor; 2] = [Flavor::Cloud, Flavor::DataCenter];

/// `[site]` + `[oauth]` config for signing in to the sandbox with OAuth (any free callback port).
pub fn oauth_config(sandbox: &Sandbox, scopes: Option<&[&str]>) -> String {
    let base = sandbox.base_url();
    let scopes = scopes
        .map(|s| {
            format!(
                "scopes = [{}]\n",
                s.iter()
                    .map(|x| format!("\"{x}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .unwrap_or_default();
    format!(
        "[site]\nurl = \"{base}\"\ndeployment = \"cloud\"\nauth = \"oauth\"\n\n[oauth]\nclient_id = \"{}\"\nclient_secret = \"{}\"\nredirect_port = 0\n{scopes}authorize_url = \"{base}/authorize\"\ntoken_url = \"{base}/oauth/token\"\nresources_url = \"{base}/oauth/token/accessible-resources\"\napi_base = \"{base}\"\nrevocation_url = \"{base}/oauth/revoke\"\n",
        sandbox::SANDBOX_OAUTH_CLIENT_ID,
        sandbox::SANDBOX_OAUTH_CLIENT_SECRET,
    )
}

/// A `login --no-browser` in progress: its authorize URL, and the process.
pub struct LoginRun {
    pub url: url::Url,
    pub child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl LoginRun {
    /// Waits for the login to end: (exit code, stdout after the URL line, stderr).
    pub fn finish(mut self) -> (Option<i32>, String, String) {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.stdout, &mut rest).expect("stdout");
        let out = self.child.wait_with_output().expect("login exits");
        (
            out.status.code(),
            rest,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Env {
    /// Starts `login --no-browser` and reads the authorize URL it prints.
    pub fn start_login(&self) -> LoginRun {
        self.start_login_with_timeout(60)
    }

    /// Like [`Env::start_login`], with the login's own timeout in seconds.
    pub fn start_login_with_timeout(&self, secs: u64) -> LoginRun {
        self.start_login_args(&["login", "--no-browser", "--timeout", &secs.to_string()])
    }

    /// Starts the binary with `args` (a `login … --no-browser`) and reads the URL it prints.
    pub fn start_login_args(&self, args: &[&str]) -> LoginRun {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn login");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).expect("read url");
        let url = url::Url::parse(line.trim()).expect("login printed a URL");
        LoginRun { url, child, stdout }
    }

    /// Runs the whole sign-in against the sandbox, acting as the browser.
    pub async fn login(&self) {
        let run = self.start_login();
        let page = browse(&run.url).await;
        assert!(page.contains("Signed in"), "{page}");
        let (code, _, stderr) = run.finish();
        assert_eq!(code, Some(0), "login failed: {stderr}");
    }
}

/// Follows the authorize URL like a browser: the sandbox consents at once and redirects to
/// the loopback callback, whose page is returned.
pub async fn browse(authorize: &url::Url) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http.get(authorize.clone()).send().await.expect("authorize");
    assert_eq!(r.status(), 302, "authorize did not redirect");
    let location = r.headers()["location"].to_str().unwrap().to_string();
    http.get(location)
        .send()
        .await
        .expect("callback")
        .text()
        .await
        .unwrap()
}
