//! Offline reads (SPEC §10): what a read returned is kept (write-through), and answered from
//! the local cache — labelled with its age and audited `offline: true` — once the sandbox
//! refuses connections; the JQL/CQL subsets over the cache agree with the site; policy
//! applies to cached data; `atlassian_local_search` ranks what is cached.

use serde_json::{Value, json};

use crate::support::{Client, Env, FLAVORS, Flavor, call, err, ok, text};

/// Every key a JQL query finds, paging `jira_search` to the end.
async fn all_keys(client: &Client, jql: &str) -> (Vec<String>, Vec<Value>) {
    let mut keys = Vec::new();
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..50 {
        let mut args = json!({"jql": jql, "max_results": 25});
        if let Some(t) = &token {
            args["next_page_token"] = json!(t);
        }
        let r = call(client, "jira_search", args).await;
        let v = ok(&r);
        for i in v["issues"].as_array().expect("issues") {
            keys.push(i["key"].as_str().expect("key").to_string());
        }
        token = v["next_page_token"].as_str().map(String::from);
        pages.push(v);
        if token.is_none() {
            break;
        }
    }
    (keys, pages)
}

/// Every page id a CQL query finds (one page of at most 50).
async fn page_ids(client: &Client, cql: &str) -> Vec<String> {
    let v = ok(&call(
        client,
        "confluence_search",
        json!({"cql": cql, "limit": 50}),
    )
    .await);
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|h| h["id"].as_str().expect("id").to_string())
        .collect()
}

/// Reads a project's every issue through `jira_search`, which keeps each one in the cache.
async fn warm(client: &Client, project: &str) -> usize {
    all_keys(client, &format!("project = {project} ORDER BY key ASC"))
        .await
        .0
        .len()
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .expect("file exists")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_is_kept_and_answered_offline_with_its_age() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let live = ok(&call(&client, "jira_get_issue", json!({"key": "ENG-2"})).await);
        assert!(live.get("offline").is_none(), "{flavor:?}: a live answer");
        let page_id = "100101";
        let page = call(&client, "confluence_get_page", json!({"page_id": page_id})).await;
        let live_page = ok(&page);
        env.sandbox.set_reachable(false);

        let r = call(&client, "jira_get_issue", json!({"key": "ENG-2"})).await;
        let v = ok(&r);
        assert_eq!(v["offline"], true, "{flavor:?}: {v}");
        assert!(v["as_of"].as_str().is_some_and(|t| t.ends_with('Z')), "{v}");
        assert_eq!(v["summary"], live["summary"], "{flavor:?}");
        assert_eq!(v["description"], live["description"], "{flavor:?}");
        assert_eq!(v["comments"], live["comments"], "{flavor:?}");
        let first = text(&r).lines().next().unwrap_or_default().to_string();
        assert!(
            first.starts_with("Offline copy from ") && first.contains("old)"),
            "{flavor:?}: {first}"
        );

        let p = ok(&call(&client, "confluence_get_page", json!({"page_id": page_id})).await);
        assert_eq!(p["offline"], true, "{flavor:?}");
        assert_eq!(p["title"], live_page["title"]);
        assert_eq!(
            p["body"], live_page["body"],
            "{flavor:?}: the same Markdown"
        );

        // The summarize tools and resources answer from the same copy.
        let s = ok(&call(&client, "jira_summarize_issue", json!({"key": "ENG-2"})).await);
        assert_eq!(s["offline"], true);
        assert_eq!(s["digest"]["summary"], live["summary"]);
        let s = ok(&call(
            &client,
            "confluence_summarize_page",
            json!({"page_id": page_id}),
        )
        .await);
        assert_eq!(s["offline"], true);

        // Nothing cached: a clear error naming what is missing and `sync`.
        let miss = call(&client, "jira_get_issue", json!({"key": "ENG-3"})).await;
        let message = err(&miss);
        assert!(
            message.contains("ENG-3 is not in the local cache")
                && message.contains("sync --jira ENG"),
            "{flavor:?}: {message}"
        );

        // Back online: live again.
        env.sandbox.set_reachable(true);
        let v = ok(&call(&client, "jira_get_issue", json!({"key": "ENG-2"})).await);
        assert!(
            v.get("offline").is_none(),
            "{flavor:?}: live once the site answers"
        );
        client.cancel().await.ok();

        let records = env.tool_records();
        let offline: Vec<&Value> = records.iter().filter(|r| r["offline"] == true).collect();
        assert_eq!(
            offline.len(),
            5,
            "{flavor:?}: the four cached answers and the miss"
        );
        assert!(
            offline
                .iter()
                .any(|r| r["tool"] == "jira_get_issue" && r["outcome"] == "ok"),
            "{flavor:?}"
        );
        assert!(
            records.iter().filter(|r| r["offline"] != true).count() >= 3,
            "live calls carry no offline flag"
        );
        let db = env.home.path().join("cache.db");
        assert_eq!(mode_of(&db), 0o600, "{flavor:?}: cache.db is private");
        let (_, out, _) = env.cli(&["doctor", "--json"]);
        let report: Value = serde_json::from_str(&out).expect("doctor --json");
        let check = report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == "cache")
            .cloned()
            .expect("a cache check");
        assert_eq!(check["status"], "pass", "{check}");
        let detail = check["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("1 issue in 1 project") && detail.contains("1 page in 1 space"),
            "{flavor:?}: {detail}"
        );
    }
}

/// The JQL subset over the cache answers what the site answers: same keys, same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_jql_agrees_with_the_site() {
    let queries = [
        "project = ENG ORDER BY key ASC",
        "project = ENG AND status = \"In Progress\" ORDER BY updated DESC",
        "project = ENG AND assignee = currentUser() ORDER BY updated DESC",
        "project = ENG AND assignee IS EMPTY ORDER BY created ASC",
        "project = ENG AND priority in (High, Highest) ORDER BY priority DESC, key ASC",
        "project = ENG AND labels = backend ORDER BY key DESC",
        // Absolute dates: the sandbox's clock starts at a fixed instant, not today (relative
        // dates are checked against a fixed `now` in the compiler's unit tests).
        "project = ENG AND statusCategory != Done AND updated >= \"2026-10-25\" ORDER BY due ASC, key ASC",
        "project = ENG AND created < \"2026-10-15 12:00\" AND due IS NOT EMPTY ORDER BY due DESC",
        "project = ENG AND (type = Bug OR priority = Low) AND NOT status = Done ORDER BY key ASC",
        "project in (ENG, OPS) AND reporter != currentUser() ORDER BY created DESC",
        "project = ENG AND text ~ \"login\" ORDER BY key ASC",
        "project = ENG AND summary ~ \"release\" ORDER BY key ASC",
    ];
    let cql = [
        "space = ENG AND type = page ORDER BY title ASC",
        "space in (ENG, OPS) AND lastmodified >= \"2026-10-01\" ORDER BY lastmodified DESC",
        "space = ENG AND title ~ \"design\" ORDER BY title DESC",
    ];
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        assert!(warm(&client, "ENG").await > 20, "{flavor:?}");
        warm(&client, "OPS").await;
        let mut online = Vec::new();
        for q in queries {
            online.push(all_keys(&client, q).await.0);
        }
        // Every page of two spaces read once (bodies cached), then the CQL answers noted.
        let listed = ok(&call(
            &client,
            "confluence_search",
            json!({"cql": "space in (ENG, OPS) AND type = page", "limit": 50}),
        )
        .await);
        for hit in listed["results"].as_array().expect("results") {
            let id = hit["id"].as_str().expect("id");
            ok(&call(&client, "confluence_get_page", json!({"page_id": id})).await);
        }
        let mut online_cql = Vec::new();
        for q in cql {
            online_cql.push(page_ids(&client, q).await);
        }
        env.sandbox.set_reachable(false);
        for (q, want) in queries.iter().zip(&online) {
            let (got, pages) = all_keys(&client, q).await;
            assert!(
                pages.iter().all(|p| p["offline"] == true),
                "{flavor:?} {q}: offline answers"
            );
            assert_eq!(&got, want, "{flavor:?}: `{q}` offline vs online");
        }
        assert!(
            online.iter().filter(|k| !k.is_empty()).count() >= 8,
            "{flavor:?}: the queries find something: {online:?}"
        );
        for (q, want) in cql.iter().zip(&online_cql) {
            assert!(!want.is_empty(), "{flavor:?} `{q}` finds pages online");
            assert_eq!(
                &page_ids(&client, q).await,
                want,
                "{flavor:?}: `{q}` offline vs online"
            );
        }

        // A clause outside the subset is named, not guessed.
        let r = call(
            &client,
            "jira_search",
            json!({"jql": "project = ENG AND sprint in openSprints()"}),
        )
        .await;
        let message = err(&r);
        assert!(
            message.contains("sprint in openSprints()"),
            "{flavor:?}: {message}"
        );
        client.cancel().await.ok();
    }
}

/// A project outside `policy.jira_projects` is not answered from the cache, even when an
/// earlier run without the allowlist cached it; `offline = "always"` never contacts the site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_applies_to_cached_data_and_always_never_asks_the_site() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    warm(&client, "ENG").await;
    warm(&client, "OPS").await;
    ok(&call(&client, "jira_get_issue", json!({"key": "OPS-1"})).await);
    client.cancel().await.ok();

    let config = env.home.path().join("config.toml");
    let mut text_cfg = std::fs::read_to_string(&config).expect("config");
    text_cfg.push_str("\n[policy]\njira_projects = [\"ENG\"]\n\n[cache]\noffline = \"always\"\n");
    std::fs::write(&config, text_cfg).expect("write config");
    env.sandbox.clear_requests();

    let client = env.client().await;
    let r = call(&client, "jira_get_issue", json!({"key": "OPS-1"})).await;
    assert!(err(&r).contains("OPS"), "{}", err(&r));
    let v = ok(&call(&client, "jira_search", json!({"jql": "project = OPS"})).await);
    assert_eq!(v["issues"], json!([]), "{v}");
    let v = ok(&call(
        &client,
        "jira_search",
        json!({"jql": "ORDER BY key ASC", "max_results": 100}),
    )
    .await);
    let keys: Vec<&str> = v["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .filter_map(|i| i["key"].as_str())
        .collect();
    assert!(
        !keys.is_empty() && keys.iter().all(|k| k.starts_with("ENG-")),
        "{keys:?}"
    );
    let v = ok(&call(&client, "jira_get_issue", json!({"key": "ENG-1"})).await);
    assert_eq!(v["offline"], true);
    let hits = ok(&call(&client, "atlassian_local_search", json!({"query": "OPS"})).await);
    assert!(
        hits["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|h| h["scope"] != "OPS"),
        "{hits}"
    );
    client.cancel().await.ok();
    assert!(
        env.sandbox.requests().is_empty(),
        "offline = always contacts nothing: {:?}",
        env.sandbox.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_search_ranks_what_is_cached() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let none = ok(&call(&client, "atlassian_local_search", json!({"query": "login"})).await);
    assert_eq!(none["results"], json!([]), "an empty cache finds nothing");
    assert!(none["note"].as_str().is_some_and(|n| n.contains("sync")));

    warm(&client, "ENG").await;
    let issue = ok(&call(&client, "jira_get_issue", json!({"key": "ENG-2"})).await);
    let summary = issue["summary"].as_str().expect("summary").to_string();
    let word = summary
        .split_whitespace()
        .filter(|w| w.len() > 4 && w.chars().all(char::is_alphabetic))
        .max_by_key(|w| w.len())
        .expect("a long word in the summary")
        .to_string();
    let r = call(
        &client,
        "atlassian_local_search",
        json!({"query": word, "products": ["jira"]}),
    )
    .await;
    let v = ok(&r);
    let results = v["results"].as_array().expect("results");
    assert!(
        results.iter().any(|h| h["id"] == "ENG-2"),
        "`{word}` finds ENG-2: {v}"
    );
    assert!(results.iter().all(|h| h["kind"] == "issue"), "{v}");
    assert!(
        results
            .iter()
            .any(|h| h["snippet"].as_str().is_some_and(|s| s.contains("**"))),
        "snippets mark the match: {v}"
    );
    let only_pages = ok(&call(
        &client,
        "atlassian_local_search",
        json!({"query": word, "products": ["confluence"]}),
    )
    .await);
    assert!(
        only_pages["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|h| h["kind"] == "page")
    );
    let limited = ok(&call(
        &client,
        "atlassian_local_search",
        json!({"query": "the", "limit": 2}),
    )
    .await);
    assert!(limited["results"].as_array().expect("results").len() <= 2);
    for bad in [json!({"query": "  "}), json!({"query": "x", "limit": 0})] {
        let r = call(&client, "atlassian_local_search", bad.clone()).await;
        assert_eq!(r.is_error, Some(true), "{bad}");
    }
    // Hostile FTS syntax is searched as words, never an error.
    for q in ["\"", "NEAR(", "a AND OR", "*", "ENG-2", "ümlaut ☃"] {
        let r = call(&client, "atlassian_local_search", json!({"query": q})).await;
        assert_ne!(r.is_error, Some(true), "`{q}`: {}", text(&r));
    }
    client.cancel().await.ok();
}
