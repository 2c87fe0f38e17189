//! `doctor` against a healthy home and against homes broken in one way each: the real binary,
//! the sandbox on 127.0.0.1, a temp `ATLASSIAN_MCP_BRIDGE_HOME`, and a temp `HOME` holding the
//! AI desktops' config files.

use std::path::PathBuf;
use std::time::Duration;

use atlassian_mcp_bridge::sandbox::{SANDBOX_API_TOKEN, SANDBOX_EMAIL, SANDBOX_PAT};
use serde_json::{Value, json};

use crate::support::{BIN, Env, FLAVORS, Flavor, call, oauth_config, ok, read_jsonl};

/// The order `doctor` runs its checks in.
const ORDER: [&str; 10] = [
    "config",
    "credentials",
    "site",
    "identity",
    "scopes",
    "upstream",
    "audit",
    "cache",
    "outbox",
    "clients",
];

/// What one `doctor` run printed.
struct Run {
    code: i32,
    stdout: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("doctor --json printed no JSON ({e}): {}", self.stdout))
    }

    /// The named check of a `--json` run.
    fn check(&self, name: &str) -> Value {
        let report = self.json();
        report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no check {name}: {report}"))
    }

    fn status(&self, name: &str) -> String {
        self.check(name)["status"]
            .as_str()
            .unwrap_or("?")
            .to_string()
    }

    fn detail(&self, name: &str) -> String {
        self.check(name)["detail"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn fix(&self, name: &str) -> String {
        self.check(name)["fix"].as_str().unwrap_or("").to_string()
    }
}

/// The directory that stands in for the user's home (AI desktop configs live under it).
fn user_home(env: &Env) -> PathBuf {
    let dir = env.home.path().join("user");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `doctor` with `args` in the env, a temp HOME and working directory, and `vars` set.
async fn doctor(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let home = user_home(env);
    let mut cmd = env.command();
    cmd.arg("doctor")
        .args(args)
        .env("HOME", &home)
        .env("USERPROFILE", &home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("APPDATA")
        .env_remove("CLAUDE_CONFIG_DIR")
        .current_dir(&home);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    // The sandbox runs on this test's runtime: wait for the child off the runtime's threads.
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run doctor"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "doctor panicked: {stderr}");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout,
    }
}

async fn doctor_json(env: &Env) -> Run {
    doctor(env, &["--json"], &[]).await
}

/// Writes `~/.cursor/mcp.json` with these `(name, command)` entries.
fn cursor_config(env: &Env, entries: &[(&str, &str)]) -> PathBuf {
    let dir = user_home(env).join(".cursor");
    std::fs::create_dir_all(&dir).unwrap();
    let servers: serde_json::Map<String, Value> = entries
        .iter()
        .map(|(name, command)| {
            (
                name.to_string(),
                json!({"command": command, "args": ["serve"]}),
            )
        })
        .collect();
    let file = dir.join("mcp.json");
    std::fs::write(&file, json!({ "mcpServers": servers }).to_string()).unwrap();
    file
}

/// This test binary's view of the bridge binary, as doctor should find it.
fn bridge_path() -> String {
    std::fs::canonicalize(BIN)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn assert_order(run: &Run) {
    let names: Vec<String> = run.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ORDER, "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_home_passes_every_check() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        cursor_config(&env, &[("atlassian-mcp-bridge", &bridge_path())]);
        let run = doctor_json(&env).await;
        assert_eq!(run.code, 0, "{flavor:?}: {}", run.stdout);
        assert_eq!(run.json()["ok"], true);
        assert_order(&run);
        for name in ORDER {
            let expected = if name == "scopes" || name == "upstream" {
                "skip"
            } else {
                "pass"
            };
            assert_eq!(
                run.status(name),
                expected,
                "{flavor:?} {name}: {}",
                run.stdout
            );
            let check = run.check(name);
            assert!(check["fix"].is_null(), "{check}");
        }
        assert!(
            run.detail("identity").contains("Dana Demo"),
            "{}",
            run.stdout
        );
        assert!(run.detail("clients").contains("cursor"), "{}", run.stdout);
        assert!(
            run.detail("scopes").contains("not applicable"),
            "{}",
            run.stdout
        );
        let mode = match flavor {
            Flavor::Cloud => "api-token",
            Flavor::DataCenter => "pat",
        };
        assert!(run.detail("config").contains(mode), "{}", run.stdout);
        for secret in [SANDBOX_API_TOKEN, SANDBOX_PAT] {
            assert!(
                !run.stdout.contains(secret),
                "secret printed: {}",
                run.stdout
            );
        }
        // Doctor writes no audit record and creates no credentials.
        assert!(env.audit_records().is_empty());
        assert!(!env.home.path().join("credentials.json").exists());

        // The text form: one aligned line per check, then the summary.
        let text = doctor(&env, &[], &[]).await;
        assert_eq!(text.code, 0, "{}", text.stdout);
        let lines: Vec<&str> = text.stdout.lines().collect();
        assert_eq!(lines.len(), ORDER.len() + 1, "{}", text.stdout);
        for (line, name) in lines.iter().zip(ORDER) {
            let status = if name == "scopes" || name == "upstream" {
                "SKIP"
            } else {
                "PASS"
            };
            assert!(
                line.starts_with(&format!("{status}  {name:<11}  ")),
                "{line}"
            );
        }
        let summary = lines[ORDER.len()];
        assert!(
            summary.starts_with(&format!(
                "{} passed, 0 warned, 0 failed, 2 skipped",
                ORDER.len() - 2
            )),
            "{summary}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_client_config_is_only_a_warning() {
    let env = Env::new(Flavor::Cloud, "").await;
    let run = doctor_json(&env).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.status("clients"), "warn");
    assert!(
        run.fix("clients")
            .contains("atlassian-mcp-bridge install <client>")
    );
    let text = doctor(&env, &[], &[]).await;
    assert!(
        text.stdout
            .contains("fix: run `atlassian-mcp-bridge install <client>`"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .lines()
            .last()
            .unwrap()
            .contains("1 warned, 0 failed"),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_config_fails_and_says_where_it_looked() {
    let env = Env::new(Flavor::Cloud, "").await;
    let config = env.home.path().join("config.toml");
    std::fs::remove_file(&config).unwrap();
    let run = doctor_json(&env).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.json()["ok"], false);
    assert_eq!(run.status("config"), "fail");
    let detail = run.detail("config");
    assert!(
        detail.contains(&config.display().to_string())
            && detail.contains("ATLASSIAN_MCP_BRIDGE_HOME"),
        "{detail}"
    );
    assert!(run.fix("config").contains("[site]"), "{}", run.stdout);
    for name in ["credentials", "site", "identity", "scopes"] {
        assert_eq!(run.status(name), "skip", "{}", run.stdout);
    }
    assert!(!config.exists(), "doctor must not create a config file");
    assert!(!env.home.path().join("credentials.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_shows_the_error_and_skips_what_depends_on_it() {
    let env = Env::new(Flavor::Cloud, "").await;
    std::fs::write(
        env.home.path().join("config.toml"),
        format!(
            "[site]\nurl = \"{}\"\nemial = \"{SANDBOX_EMAIL}\"\n",
            env.sandbox.base_url()
        ),
    )
    .unwrap();
    let run = doctor_json(&env).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.status("config"), "fail");
    let detail = run.detail("config");
    assert!(
        detail.contains("emial") && detail.contains("line 3"),
        "{detail}"
    );
    assert!(run.fix("config").contains("config.toml"), "{}", run.stdout);
    for name in ["credentials", "site", "identity", "scopes", "audit"] {
        assert_eq!(run.status(name), "skip", "{}", run.stdout);
    }
    // The client check does not depend on the config.
    assert_eq!(run.status("clients"), "warn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_api_token_names_its_variable() {
    let env = Env::new(Flavor::Cloud, "").await;
    let wrong = "wrong-token-4f1c";
    let run = doctor(&env, &["--json"], &[("ATLASSIAN_API_TOKEN", wrong)]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.status("credentials"), "pass");
    assert!(
        run.detail("credentials")
            .contains("from ATLASSIAN_API_TOKEN")
    );
    assert_eq!(run.status("site"), "pass");
    assert_eq!(run.status("identity"), "fail");
    assert!(run.detail("identity").contains("401"), "{}", run.stdout);
    let fix = run.fix("identity");
    assert!(
        fix.contains("ATLASSIAN_API_TOKEN")
            && fix.contains("site.api_token")
            && fix.contains("https://id.atlassian.com/manage-profile/security/api-tokens"),
        "{fix}"
    );
    assert!(!run.stdout.contains(wrong), "token printed: {}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_pat_points_at_the_profile_page() {
    let env = Env::new(Flavor::DataCenter, "").await;
    let wrong = "wrong-pat-77d2";
    let run = doctor(&env, &["--json"], &[("ATLASSIAN_PAT", wrong)]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.status("identity"), "fail");
    let fix = run.fix("identity");
    assert!(
        fix.contains("Personal Access Tokens") && fix.contains("ATLASSIAN_PAT"),
        "{fix}"
    );
    assert!(!run.stdout.contains(wrong), "token printed: {}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_site_is_classified_and_named() {
    let env = Env::new(Flavor::Cloud, "").await;
    // Bind, note the port, close: nothing listens there afterwards.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::fs::write(
        env.home.path().join("config.toml"),
        format!(
            "[site]\nurl = \"http://127.0.0.1:{port}\"\ndeployment = \"cloud\"\nemail = \"{SANDBOX_EMAIL}\"\napi_token = \"{SANDBOX_API_TOKEN}\"\n"
        ),
    )
    .unwrap();
    let run = doctor_json(&env).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.status("credentials"), "pass");
    assert_eq!(run.status("site"), "fail");
    let detail = run.detail("site");
    assert!(
        detail.contains(&format!("127.0.0.1:{port}")) && detail.contains("connection refused"),
        "{detail}"
    );
    assert!(run.fix("site").contains("site.url"), "{}", run.stdout);
    assert_eq!(run.status("identity"), "skip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_audit_log_fails_verification_at_its_line() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    ok(&call(
        &client,
        "jira_search",
        json!({"jql": "project = ENG", "max_results": 1}),
    )
    .await);
    ok(&call(&client, "jira_get_issue", json!({"key": "ENG-1"})).await);
    client.cancel().await.ok();
    let records = env.audit_records().len();
    assert!(records >= 3, "server_start and two calls");

    let run = doctor_json(&env).await;
    assert_eq!(run.status("audit"), "pass", "{}", run.stdout);
    assert!(
        run.detail("audit")
            .contains(&format!("{records} records verified")),
        "{}",
        run.stdout
    );

    // Rewrite history: the second record now says the search touched nothing.
    let path = env.audit_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut second: Value = serde_json::from_str(&lines[1]).unwrap();
    second["touched"] = json!([]);
    lines[1] = second.to_string();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();

    let run = doctor_json(&env).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.status("audit"), "fail");
    let detail = run.detail("audit");
    assert!(
        detail.contains(&format!("{}:2", path.display())) && detail.contains("hash mismatch"),
        "{detail}"
    );
    assert!(run.fix("audit").contains("audit verify"), "{}", run.stdout);
    // Doctor itself appended nothing.
    assert_eq!(read_jsonl(&path).len(), records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_config_pointing_elsewhere_fails() {
    let env = Env::new(Flavor::Cloud, "").await;
    let other_dir = env.home.path().join("old-install");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = other_dir.join("atlassian-mcp-bridge");
    std::fs::write(&other, "not this binary").unwrap();
    let gone = env.home.path().join("gone").join("atlassian-mcp-bridge");
    let file = cursor_config(
        &env,
        &[
            ("atlassian-mcp-bridge", other.to_str().unwrap()),
            ("jira-old", gone.to_str().unwrap()),
            ("unrelated", "/usr/bin/some-other-server"),
        ],
    );
    let run = doctor_json(&env).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.status("clients"), "fail");
    let detail = run.detail("clients");
    assert!(
        detail.contains(&file.display().to_string())
            && detail.contains(&format!("runs {}, not this binary", other.display()))
            && detail.contains(&format!("runs {}, which does not exist", gone.display())),
        "{detail}"
    );
    assert!(!detail.contains("unrelated"), "{detail}");
    assert!(
        run.fix("clients")
            .contains("atlassian-mcp-bridge install cursor --force"),
        "{}",
        run.stdout
    );
    // Everything else is healthy, so this is the only failure.
    let failed: Vec<Value> = run.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .cloned()
        .collect();
    assert_eq!(failed.len(), 1, "{}", run.stdout);
}

// ---------------------------------------------------------------------------------------------
// OAuth homes.
// ---------------------------------------------------------------------------------------------

async fn oauth_env(scopes: Option<&[&str]>, extra: &str) -> Env {
    let env = Env::new(Flavor::Cloud, "").await;
    std::fs::write(
        env.home.path().join("config.toml"),
        format!("{}\n{extra}", oauth_config(&env.sandbox, scopes)),
    )
    .unwrap();
    env
}

fn stored_tokens(env: &Env) -> Vec<String> {
    let text = std::fs::read_to_string(env.home.path().join("credentials.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    ["access_token", "refresh_token"]
        .iter()
        .filter_map(|k| v[k].as_str().map(String::from))
        .collect()
}

fn refresh_records(env: &Env) -> Vec<Value> {
    env.audit_records()
        .into_iter()
        .filter(|r| r["event"] == "token_refresh")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_not_signed_in_says_login() {
    let env = oauth_env(None, "").await;
    let run = doctor_json(&env).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.status("credentials"), "fail");
    assert!(
        run.detail("credentials").contains("not signed in"),
        "{}",
        run.stdout
    );
    assert_eq!(run.fix("credentials"), "run `atlassian-mcp-bridge login`");
    assert_eq!(run.status("site"), "pass", "{}", run.stdout);
    assert_eq!(run.status("identity"), "skip");
    assert_eq!(run.status("scopes"), "skip");
    assert!(!env.home.path().join("credentials.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_oauth_token_is_refreshed_once_and_a_valid_one_never() {
    let env = oauth_env(None, "").await;
    env.sandbox.oauth().set_expires_in(1);
    env.login().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    env.sandbox.oauth().set_expires_in(3600);
    assert_eq!(env.sandbox.oauth().counters().refreshes, 0);

    let run = doctor_json(&env).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.status("credentials"), "pass");
    assert!(
        run.detail("credentials").contains("refreshed"),
        "{}",
        run.stdout
    );
    assert_eq!(env.sandbox.oauth().counters().refreshes, 1);
    assert_eq!(run.status("identity"), "pass", "{}", run.stdout);
    assert!(
        run.detail("identity").contains("Dana Demo"),
        "{}",
        run.stdout
    );
    assert_eq!(run.status("scopes"), "pass", "{}", run.stdout);
    // The refresh went through the normal path, which records it.
    let refreshes = refresh_records(&env);
    assert_eq!(refreshes.len(), 1);
    assert_eq!(refreshes[0]["outcome"], "ok");

    // Now the access token is valid: doctor must not spend a rotation on it.
    let again = doctor_json(&env).await;
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert_eq!(again.status("credentials"), "pass");
    let detail = again.detail("credentials");
    assert!(
        !detail.contains("refreshed") && detail.contains("valid until"),
        "{detail}"
    );
    assert_eq!(env.sandbox.oauth().counters().refreshes, 1);
    assert_eq!(refresh_records(&env).len(), 1);

    for token in stored_tokens(&env) {
        assert!(!run.stdout.contains(&token) && !again.stdout.contains(&token));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_oauth_scopes_name_the_tools_that_need_them() {
    let granted = [
        "read:jira-user",
        "read:jira-work",
        "read:me",
        "offline_access",
    ];
    let env = oauth_env(Some(&granted), "").await;
    env.login().await;
    let run = doctor_json(&env).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.status("identity"), "pass", "{}", run.stdout);
    assert_eq!(run.status("scopes"), "fail");
    let detail = run.detail("scopes");
    for needle in [
        "`write:jira-work`",
        "jira_create_issue",
        "`read:page:confluence`",
        "confluence_get_page",
        "`search:confluence`",
    ] {
        assert!(detail.contains(needle), "{needle}: {detail}");
    }
    assert!(!detail.contains("`read:jira-work`"), "{detail}");
    let fix = run.fix("scopes");
    assert!(
        fix.contains("oauth.scopes") && fix.contains("write:jira-work") && fix.contains("login"),
        "{fix}"
    );

    // Policy that enables only what the grant covers passes the same sign-in.
    let config = env.home.path().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[policy]\nallow_tools = [\"jira_search\", \"jira_get_issue\", \"atlassian_whoami\"]\n"),
    )
    .unwrap();
    let run = doctor_json(&env).await;
    assert_eq!(run.status("scopes"), "pass", "{}", run.stdout);
    assert!(run.detail("scopes").contains("3 tools"), "{}", run.stdout);
}

// ---------------------------------------------------------------------------------------------
// Audit file permissions and inferred deployments.
// ---------------------------------------------------------------------------------------------

/// Issue 9: an audit directory and file others can read are tightened (PASS, saying so); a
/// shared directory others can write to is left alone and reported (WARN with the fix), and
/// `serve` warns about it once on stderr.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loose_audit_permissions_are_tightened_or_reported() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let chmod = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };

    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    ok(&call(&client, "jira_get_issue", json!({"key": "ENG-1"})).await);
    client.cancel().await.ok();
    let path = env.audit_path();
    let dir = path.parent().unwrap().to_path_buf();
    chmod(&dir, 0o755);
    chmod(&path, 0o644);
    let run = doctor_json(&env).await;
    assert_eq!(run.status("audit"), "pass", "{}", run.stdout);
    let detail = run.detail("audit");
    assert!(
        detail.contains("tightened") && detail.contains("0644 → 0600"),
        "{detail}"
    );
    assert_eq!((mode(&dir), mode(&path)), (0o700, 0o600));
    // Private now: nothing more to say.
    let run = doctor_json(&env).await;
    assert!(!run.detail("audit").contains("tightened"), "{}", run.stdout);

    let env = Env::new(Flavor::Cloud, "[audit]\npath = \"shared/audit.jsonl\"\n").await;
    let shared = env.home.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("notes.txt"), "someone else's").unwrap();
    chmod(&shared, 0o777);
    let run = doctor_json(&env).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.status("audit"), "warn", "{}", run.stdout);
    assert!(
        run.detail("audit").contains(&shared.display().to_string()),
        "{}",
        run.stdout
    );
    assert!(
        run.fix("audit")
            .contains(&format!("chmod go-w '{}'", shared.display())),
        "{}",
        run.stdout
    );
    assert_eq!(mode(&shared), 0o777, "a shared directory is not changed");

    let client = env.client().await;
    ok(&call(&client, "jira_get_issue", json!({"key": "ENG-1"})).await);
    client.cancel().await.ok();
    let stderr = std::fs::read_to_string(env.stderr_path()).unwrap();
    assert_eq!(
        stderr.matches("is open to other users").count(),
        1,
        "{stderr}"
    );
    chmod(&shared, 0o700);
}

/// Issue 13: a non-Atlassian host with Cloud credentials says that Data Center was inferred
/// and how to choose Cloud, instead of only asking for a personal access token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inferred_deployment_is_named_when_it_explains_the_error() {
    let env = Env::new(Flavor::Cloud, "").await;
    std::fs::write(
        env.home.path().join("config.toml"),
        format!(
            "[site]\nurl = \"https://jira.acme.example\"\nemail = \"{SANDBOX_EMAIL}\"\napi_token = \"{SANDBOX_API_TOKEN}\"\n"
        ),
    )
    .unwrap();
    let run = doctor_json(&env).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.status("config"), "fail");
    let detail = run.detail("config");
    assert!(
        detail.contains("site.pat")
            && detail.contains("inferred")
            && detail.contains("jira.acme.example")
            && detail.contains("deployment = \"cloud\""),
        "{detail}"
    );
    assert!(!run.stdout.contains(SANDBOX_API_TOKEN));
    // The same from any command that loads the config: a usage error, exit 2.
    let (code, _, errs) = env.cli(&["status"]);
    assert_eq!(code, 2, "{errs}");
    assert!(errs.contains("deployment = \"cloud\""), "{errs}");
}
