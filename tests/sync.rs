//! `sync`, `cache stats` and `cache clear` (SPEC §10): the real binary mirroring sandbox
//! projects and spaces into a temp home's `cache.db`, incrementally and with `--full`, resuming
//! after a kill, refusing what policy forbids, and leaving the cache alone when the site is
//! unreachable.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use atlassian_mcp_bridge::cache::{Cache, Confine};
use atlassian_mcp_bridge::config::DEFAULT_CACHE_MAX_BYTES;
use serde_json::Value;

use crate::support::{Env, Flavor};

/// Exit code, stdout and stderr of one CLI run.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the CLI off the runtime's threads (the sandbox serves on this test's runtime).
async fn cli(env: &Env, args: &[&str]) -> Out {
    let mut cmd = env.command();
    cmd.args(args);
    run(cmd).await
}

async fn run(mut cmd: Command) -> Out {
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run the binary"))
        .await
        .expect("join");
    let o = Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!o.stderr.contains("panicked"), "panic: {}", o.stderr);
    o
}

fn cache_path(env: &Env) -> PathBuf {
    env.home.path().join("cache.db")
}

fn open_cache(env: &Env) -> Cache {
    Cache::open(&cache_path(env), DEFAULT_CACHE_MAX_BYTES).expect("cache opens")
}

/// `/rest/api/3/search/jql` or Data Center's `/rest/api/2/search` requests logged so far.
fn searches(env: &Env) -> usize {
    env.sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/search/jql") || r.path.ends_with("/rest/api/2/search"))
        .count()
}

fn sync_records(env: &Env) -> Vec<Value> {
    env.audit_records()
        .into_iter()
        .filter(|r| r["event"] == "sync")
        .collect()
}

/// First sync stores every issue and page, a repeat fetches only what changed, a touched issue
/// and page arrive with their new text; stats show it, the file is 0600, audit has a record per
/// scope.
async fn first_then_incremental(flavor: Flavor) {
    let env = Env::new(flavor, "").await;
    env.sandbox.generate("OPS", 250, "OPS", 30);
    let issues = env.sandbox.issue_count("OPS");
    let pages = env.sandbox.page_count("OPS");
    assert!(issues > 200 && pages > 30, "{issues} issues, {pages} pages");

    let out = cli(&env, &["sync", "--jira", "ops", "--confluence", "OPS"]).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let want = format!(
        "OPS: {issues} issues ({issues} changed), OPS: {pages} pages ({pages} changed) in "
    );
    assert!(out.stdout.starts_with(&want), "{}", out.stdout);
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    let cache = open_cache(&env);
    assert_eq!(cache.issue_keys("OPS").unwrap().len(), issues);
    assert_eq!(cache.page_ids("OPS").unwrap().len(), pages);
    let held = cache
        .issue("OPS-3", &Confine::default())
        .unwrap()
        .expect("OPS-3 cached");
    assert!(held.record.description.is_some() && held.record.comments.is_some());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(cache_path(&env))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "cache.db mode {mode:o}");
    }

    let stats = cli(&env, &["cache", "stats", "--json"]).await;
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    let v: Value = serde_json::from_str(&stats.stdout).expect("stats JSON");
    assert_eq!(v["projects"][0]["key"], "OPS");
    assert_eq!(v["projects"][0]["count"], issues as u64);
    assert_eq!(v["spaces"][0]["count"], pages as u64);
    assert!(v["projects"][0]["last_sync"].is_string(), "{v}");
    let text = cli(&env, &["cache", "stats"]).await;
    assert!(text.stdout.contains("OPS"), "{}", text.stdout);

    // Nothing changed: one listing request, nothing fetched.
    env.sandbox.clear_requests();
    let out = cli(&env, &["sync", "--jira", "OPS"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with(&format!("OPS: {issues} issues (0 changed) in ")),
        "{}",
        out.stdout
    );
    assert_eq!(searches(&env), 1);

    // One issue and one page changed: only they are fetched, with their new text.
    assert!(
        env.sandbox
            .touch_issue("OPS-7", Some("Renamed while you were away"))
    );
    let page_id = cache.page_ids("OPS").unwrap().into_iter().max().unwrap();
    assert!(
        env.sandbox
            .touch_page(&page_id, Some("A page renamed while you were away"))
    );
    let out = cli(&env, &["sync", "--jira", "OPS", "--confluence", "OPS"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with(&format!(
            "OPS: {issues} issues (1 changed), OPS: {pages} pages (1 changed) in "
        )),
        "{}",
        out.stdout
    );
    let held = cache.issue("OPS-7", &Confine::default()).unwrap().unwrap();
    assert_eq!(held.record.summary, "Renamed while you were away");
    let page = cache.page(&page_id, &Confine::default()).unwrap().unwrap();
    assert_eq!(page.record.title, "A page renamed while you were away");

    let records = sync_records(&env);
    assert_eq!(records.len(), 2 + 1 + 2, "{records:#?}");
    let last_jira = &records[3];
    assert_eq!(last_jira["args"]["jira"], "OPS");
    assert_eq!(last_jira["args"]["full"], false);
    assert_eq!(last_jira["outcome"], "ok");
    assert_eq!(last_jira["touched"], serde_json::json!(["OPS-7"]));
    assert!(!last_jira["upstream"].as_array().unwrap().is_empty());
    assert_eq!(records[4]["args"]["confluence"], "OPS");
    assert_eq!(records[4]["touched"], serde_json::json!([page_id]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_first_sync_stores_everything_and_repeats_fetch_only_changes() {
    first_then_incremental(Flavor::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_first_sync_stores_everything_and_repeats_fetch_only_changes() {
    first_then_incremental(Flavor::DataCenter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_drops_what_the_site_deleted() {
    let env = Env::new(Flavor::Cloud, "").await;
    let out = cli(&env, &["sync", "--jira", "ENG", "--confluence", "ENG"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let cache = open_cache(&env);
    let before = cache.issue_keys("ENG").unwrap().len();
    assert!(
        cache
            .issue("ENG-20", &Confine::default())
            .unwrap()
            .is_some()
    );
    assert!(env.sandbox.delete_issue("ENG-20"));
    assert!(env.sandbox.delete_page("100103"));
    assert!(cache.page("100103", &Confine::default()).unwrap().is_some());

    // An incremental sync cannot see a deletion.
    let out = cli(&env, &["sync", "--jira", "ENG", "--confluence", "ENG"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        cache
            .issue("ENG-20", &Confine::default())
            .unwrap()
            .is_some()
    );

    let out = cli(
        &env,
        &["sync", "--full", "--jira", "ENG", "--confluence", "ENG"],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let pages = env.sandbox.page_count("ENG");
    assert!(
        out.stdout.starts_with(&format!(
            "ENG: {} issues (0 changed, 1 removed), ENG: {pages} pages (0 changed, 1 removed) in ",
            before - 1
        )),
        "{}",
        out.stdout
    );
    assert!(
        cache
            .issue("ENG-20", &Confine::default())
            .unwrap()
            .is_none()
    );
    assert!(cache.page("100103", &Confine::default()).unwrap().is_none());
    assert_eq!(
        cache.issue_keys("ENG").unwrap().len(),
        env.sandbox.issue_count("ENG")
    );
    assert_eq!(sync_records(&env).last().unwrap()["args"]["full"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_and_spaces_outside_policy_are_refused_and_never_cached() {
    let env = Env::new(
        Flavor::Cloud,
        "[policy]\njira_projects = [\"ENG\"]\nconfluence_spaces = [\"ENG\"]\n",
    )
    .await;
    let out = cli(
        &env,
        &[
            "sync",
            "--jira",
            "OPS",
            "--jira",
            "ENG",
            "--confluence",
            "OPS",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("policy.jira_projects"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("policy.confluence_spaces"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("OPS: failed"), "{}", out.stdout);
    assert!(
        out.stdout.contains("ENG: 64 issues (64 changed)"),
        "{}",
        out.stdout
    );
    let cache = open_cache(&env);
    assert!(cache.issue_keys("OPS").unwrap().is_empty());
    assert!(cache.page_ids("OPS").unwrap().is_empty());
    assert!(
        env.sandbox
            .requests()
            .iter()
            .all(|r| !r.query.as_deref().unwrap_or("").contains("OPS")),
        "nothing was asked about OPS"
    );
    let outcomes: Vec<(String, String)> = sync_records(&env)
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap().to_string(),
                r["error"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(outcomes.len(), 3);
    assert_eq!(outcomes[0].0, "denied");
    assert_eq!(outcomes[1].0, "ok");
    assert_eq!(outcomes[2].0, "denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_site_fails_clearly_and_leaves_the_cache_alone() {
    let env = Env::new(Flavor::Cloud, "").await;
    let out = cli(&env, &["sync", "--jira", "SEC"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let stats_before = cli(&env, &["cache", "stats", "--json"]).await.stdout;
    assert!(
        env.sandbox
            .touch_issue("SEC-2", Some("Changed while offline"))
    );
    env.sandbox.set_reachable(false);
    let started = Instant::now();
    let out = cli(&env, &["sync", "--jira", "SEC"]).await;
    env.sandbox.set_reachable(true);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("could not reach Jira"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("the cache was left as it was"),
        "{}",
        out.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    let stats_after = cli(&env, &["cache", "stats", "--json"]).await.stdout;
    let counts = |s: &str| {
        let v: Value = serde_json::from_str(s).unwrap();
        (v["projects"].clone(), v["data_bytes"].clone())
    };
    assert_eq!(counts(&stats_before), counts(&stats_after));
    let cache = open_cache(&env);
    let held = cache.issue("SEC-2", &Confine::default()).unwrap().unwrap();
    assert_ne!(held.record.summary, "Changed while offline");
    let last = sync_records(&env).pop().unwrap();
    assert_eq!(last["outcome"], "error");
    assert!(last["error"].as_str().unwrap().contains("could not reach"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sync_resumes_from_its_last_committed_page() {
    let env = Env::new(Flavor::Cloud, "").await;
    env.sandbox.generate("OPS", 2000, "OPS", 0);
    let total = env.sandbox.issue_count("OPS");
    let full_pages = total.div_ceil(100);
    env.sandbox.faults().set_latency(Duration::from_millis(200));
    let mut cmd = env.command();
    cmd.args(["sync", "--jira", "OPS"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("spawn sync");
    // Let a few pages land, then kill it without warning.
    let deadline = Instant::now() + Duration::from_secs(30);
    while searches(&env) < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cache = open_cache(&env);
    while cache.issue_keys("OPS").unwrap().len() < 300 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let cached = cache.issue_keys("OPS").unwrap().len();
    assert!(
        cached >= 300 && cached < total,
        "{cached} of {total} cached before the kill"
    );

    env.sandbox.faults().set_latency(Duration::ZERO);
    env.sandbox.clear_requests();
    let out = cli(&env, &["sync", "--jira", "OPS"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let resumed = searches(&env);
    assert!(
        resumed < full_pages,
        "the resumed sync listed {resumed} pages; a fresh one lists {full_pages}"
    );
    let keys = open_cache(&env).issue_keys("OPS").unwrap();
    assert_eq!(keys.len(), total);
    let unique: std::collections::HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_and_the_cache_commands() {
    let env = Env::new(Flavor::Cloud, "").await;
    // No cache yet: stats says so and creates nothing.
    let out = cli(&env, &["cache", "stats"]).await;
    assert_eq!(out.code, 0);
    assert!(out.stdout.starts_with("no cache yet at "), "{}", out.stdout);
    assert!(out.stdout.contains("sync --jira KEY"), "{}", out.stdout);
    assert!(!cache_path(&env).exists());
    let out = cli(&env, &["cache", "clear"]).await;
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("nothing to remove"), "{}", out.stdout);

    // Nothing named, nothing configured.
    let out = cli(&env, &["sync"]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--jira KEY"), "{}", out.stderr);
    assert!(
        out.stderr.contains("cache.sync_jira_projects"),
        "{}",
        out.stderr
    );
    let out = cli(&env, &["sync", "--jira", "not a key"]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(!cache_path(&env).exists());

    // Configured scopes are what a bare `sync` mirrors.
    std::fs::write(
        env.home.path().join("config.toml"),
        format!(
            "{}\n[cache]\nsync_jira_projects = [\"SEC\"]\nsync_confluence_spaces = [\"~demo\"]\n",
            std::fs::read_to_string(env.home.path().join("config.toml")).unwrap()
        ),
    )
    .unwrap();
    let out = cli(&env, &["sync"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with("SEC: 20 issues (20 changed), ~demo: "),
        "{}",
        out.stdout
    );
    assert!(cache_path(&env).exists());

    let out = cli(&env, &["cache", "clear"]).await;
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.starts_with("removed the local cache: "),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("cache.db"), "{}", out.stdout);
    assert!(!cache_path(&env).exists());

    // The cache turned off: sync says which key.
    std::fs::write(
        env.home.path().join("config.toml"),
        format!(
            "{}\n[cache]\nenabled = false\n",
            std::fs::read_to_string(env.home.path().join("config.toml"))
                .unwrap()
                .split("\n[cache]")
                .next()
                .unwrap()
        ),
    )
    .unwrap();
    let out = cli(&env, &["sync", "--jira", "ENG"]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("cache.enabled"), "{}", out.stderr);
    assert!(!cache_path(&env).exists());
}

/// The SPEC §8 bar: `sync` of 5,000 issues with the sandbox at 50 ms per request, then a
/// repeat with nothing changed. Prints wall times (process start to exit). Run with
/// `cargo test --release --test integration sync::sync_benchmark -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly"]
async fn sync_benchmark() {
    let env = Env::new(Flavor::Cloud, "").await;
    env.sandbox.generate("OPS", 4970, "OPS", 0);
    let total = env.sandbox.issue_count("OPS");
    env.sandbox.faults().set_latency(Duration::from_millis(50));
    let started = Instant::now();
    let out = cli(&env, &["sync", "--jira", "OPS"]).await;
    let first = started.elapsed();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let started = Instant::now();
    let out2 = cli(&env, &["sync", "--jira", "OPS"]).await;
    let repeat = started.elapsed();
    assert_eq!(out2.code, 0, "{}", out2.stderr);
    println!(
        "sync benchmark: {total} issues at 50 ms/request: first {:.2} s ({}), repeat {:.3} s ({})",
        first.as_secs_f64(),
        out.stdout.trim(),
        repeat.as_secs_f64(),
        out2.stdout.trim()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_writes_are_sent_before_mirroring() {
    let env = Env::new(Flavor::Cloud, "[cache]\noffline = \"always\"\n").await;
    let client = env.client().await;
    let out = crate::support::ok(
        &crate::support::call(
            &client,
            "jira_create_issue",
            serde_json::json!({"project": "SEC", "issue_type": "Task",
                               "summary": "Written on the plane"}),
        )
        .await,
    );
    assert_eq!(out["status"], "queued", "{out}");
    client.cancel().await.ok();
    assert_eq!(env.sandbox.issue_count("SEC"), 20);

    // `offline = "always"` refuses to sync at all; back online the queue goes first.
    let out = cli(&env, &["sync", "--jira", "SEC"]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("cache.offline"), "{}", out.stderr);
    let mut cmd = env.command();
    cmd.args(["sync", "--jira", "SEC"])
        .env("ATLASSIAN_MCP_BRIDGE_OFFLINE", "auto");
    let out = run(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("outbox: sent"), "{}", out.stderr);
    assert_eq!(env.sandbox.issue_count("SEC"), 21);
    // The new issue was created before the listing, so it is mirrored too.
    assert!(
        out.stdout.starts_with("SEC: 21 issues (21 changed)"),
        "{}",
        out.stdout
    );
    assert!(
        env.audit_records()
            .iter()
            .any(|r| r["event"] == "outbox_send" && r["outcome"] == "ok")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_says_to_log_in() {
    let env = Env::new(Flavor::Cloud, "").await;
    std::fs::write(
        env.home.path().join("config.toml"),
        crate::support::oauth_config(&env.sandbox, None),
    )
    .unwrap();
    let out = cli(&env, &["sync", "--jira", "ENG"]).await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("ENG: failed: not signed in to Atlassian; run `atlassian-mcp-bridge login`"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.starts_with("ENG: failed in "), "{}", out.stdout);
    assert!(open_cache(&env).issue_keys("ENG").unwrap().is_empty());
}
