//! What Atlassian sends is bounded by what was asked: lists cut to the request, bodies capped
//! while they are read, long JQL sent by POST, long CQL refused before sending, 414 explained.

use atlassian_mcp_bridge::sandbox::{FaultOptions, FaultSpec, SANDBOX_MAX_URL_BYTES};
use serde_json::{Value, json};

use crate::support::{Env, FLAVORS, Flavor, call, err, ok};

/// A rule that lets the request through, then repeats its answer's items until there are `n`.
fn inflate(env: &Env, path: &str, n: u32) {
    env.sandbox.faults().inject_with(
        FaultSpec {
            status: 0,
            count: 1,
            retry_after: None,
            path_prefix: Some(path.to_string()),
        },
        FaultOptions {
            inflate_to: Some(n),
            ..FaultOptions::default()
        },
    );
}

fn keys(out: &Value, list: &str, key: &str) -> Vec<String> {
    out[list]
        .as_array()
        .unwrap_or_else(|| panic!("no `{list}` in {out}"))
        .iter()
        .map(|i| i[key].as_str().unwrap().to_string())
        .collect()
}

/// A site that ignores `maxResults`/`limit` (here: 500 items for 1 or 2 asked) reaches the
/// model cut to the request, and paging still continues right after what was kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_longer_than_asked_are_cut_to_the_request() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let (search, comments, cql, spaces) = match flavor {
            Flavor::Cloud => (
                "/rest/api/3/search/jql",
                "/rest/api/3/issue/ENG-1/comment",
                "/wiki/rest/api/search",
                "/wiki/api/v2/spaces",
            ),
            Flavor::DataCenter => (
                "/rest/api/2/search",
                "/rest/api/2/issue/ENG-1/comment",
                "/rest/api/search",
                "/rest/api/space",
            ),
        };
        let jql = json!({"jql": "project = ENG ORDER BY key ASC", "max_results": 2});
        let unfaulted = ok(&call(&client, "jira_search", jql.clone()).await);

        inflate(&env, search, 500);
        let jql = json!({"jql": "project = ENG ORDER BY key ASC", "max_results": 1});
        let first = ok(&call(&client, "jira_search", jql.clone()).await);
        assert_eq!(env.sandbox.faults().pending(), 0, "{flavor:?}: fault used");
        assert_eq!(keys(&first, "issues", "key"), ["ENG-1"], "{flavor:?}");
        let token = first["next_page_token"].as_str().expect("more pages");
        let mut next = jql.clone();
        next["next_page_token"] = json!(token);
        let second = ok(&call(&client, "jira_search", next).await);
        if flavor == Flavor::DataCenter {
            // Offset paging continues right after the one issue kept.
            assert_eq!(
                keys(&second, "issues", "key"),
                keys(&unfaulted, "issues", "key")[1..]
            );
        }

        inflate(&env, comments, 300);
        let issue = ok(&call(
            &client,
            "jira_get_issue",
            json!({"key": "ENG-1", "include": ["comments"], "comment_limit": 1}),
        )
        .await);
        assert_eq!(issue["comments"].as_array().unwrap().len(), 1, "{flavor:?}");

        inflate(&env, cql, 400);
        let hits = ok(&call(
            &client,
            "confluence_search",
            json!({"cql": "type = page", "limit": 2}),
        )
        .await);
        assert_eq!(hits["results"].as_array().unwrap().len(), 2, "{flavor:?}");
        assert_eq!(env.sandbox.faults().pending(), 0);

        inflate(&env, spaces, 250);
        let list = ok(&call(&client, "confluence_list_spaces", json!({"limit": 1})).await);
        assert_eq!(keys(&list, "spaces", "key").len(), 1, "{flavor:?}");

        inflate(
            &env,
            match flavor {
                Flavor::Cloud => "/rest/api/3/project",
                Flavor::DataCenter => "/rest/api/2/project",
            },
            250,
        );
        let projects = ok(&call(&client, "jira_list_projects", json!({"max_results": 1})).await);
        assert_eq!(keys(&projects, "projects", "key").len(), 1, "{flavor:?}");
        assert_eq!(env.sandbox.faults().pending(), 0);
        client.cancel().await.ok();
    }
}

/// A body past the per-response limit fails with a message naming the limit and the request,
/// whether the server announces its length or streams it (the sandbox streams, no length).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_past_the_limit_fails_clearly() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    for (path, tool, args) in [
        (
            "/rest/api/3/search/jql",
            "jira_search",
            json!({"jql": "project = ENG", "max_results": 1}),
        ),
        (
            "/wiki/api/v2/pages/100101",
            "confluence_get_page",
            json!({"page_id": "100101"}),
        ),
    ] {
        env.sandbox.faults().inject_with(
            FaultSpec {
                status: 0,
                count: 1,
                retry_after: None,
                path_prefix: Some(path.to_string()),
            },
            FaultOptions {
                body_bytes: Some(17 * 1024 * 1024),
                ..FaultOptions::default()
            },
        );
        let msg = err(&call(&client, tool, args).await);
        assert!(msg.contains("more than 16 MiB"), "{msg}");
        assert!(msg.contains(path), "names the request: {msg}");
        assert!(!msg.contains("could not reach"), "{msg}");
        assert_eq!(env.sandbox.faults().pending(), 0);
    }
    // The same call without the fault works: the limit is per response.
    ok(&call(&client, "jira_search", json!({"jql": "project = ENG"})).await);
    client.cancel().await.ok();
    let records = env.tool_records();
    assert_eq!(records[0]["outcome"], "error");
    assert_eq!(records[0]["upstream"][0]["status"], 200);
}

/// `project = ENG AND summary !~ "absent0" AND …` (300 clauses, over 9,000 bytes once
/// encoded): finds exactly what `project = ENG` finds.
fn long_jql() -> String {
    let terms: Vec<String> = (0..300)
        .map(|n| format!("summary !~ \"absent{n:04}\""))
        .collect();
    format!("project = ENG AND {} ORDER BY key ASC", terms.join(" AND "))
}

/// JQL too long for a URL is sent by POST (Cloud `/search/jql`, Data Center `/search`), and
/// paging through it stays on POST; short JQL stays on GET.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jql_too_long_for_a_url_goes_by_post() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let jql = long_jql();
        let encoded: usize = url::form_urlencoded::byte_serialize(jql.as_bytes())
            .map(str::len)
            .sum();
        assert!(encoded > SANDBOX_MAX_URL_BYTES, "a GET would get 414");
        let short = ok(&call(
            &client,
            "jira_search",
            json!({"jql": "project = ENG ORDER BY key ASC", "max_results": 3}),
        )
        .await);
        env.sandbox.clear_requests();
        let first = ok(&call(
            &client,
            "jira_search",
            json!({"jql": jql, "max_results": 2}),
        )
        .await);
        assert_eq!(
            keys(&first, "issues", "key"),
            keys(&short, "issues", "key")[..2],
            "{flavor:?}"
        );
        let second = ok(&call(
            &client,
            "jira_search",
            json!({"jql": jql, "max_results": 1, "next_page_token": first["next_page_token"]}),
        )
        .await);
        assert_eq!(
            keys(&second, "issues", "key"),
            keys(&short, "issues", "key")[2..],
            "{flavor:?}"
        );
        let search = match flavor {
            Flavor::Cloud => "/rest/api/3/search/jql",
            Flavor::DataCenter => "/dc/rest/api/2/search",
        };
        let seen: Vec<(String, u16)> = env
            .sandbox
            .requests()
            .into_iter()
            .filter(|r| r.path == search)
            .map(|r| (r.method, r.status))
            .collect();
        assert_eq!(
            seen,
            [("POST".to_string(), 200), ("POST".to_string(), 200)],
            "{flavor:?}"
        );
        client.cancel().await.ok();
        let records = env.tool_records();
        assert_eq!(records[1]["upstream"][0]["method"], "POST");
        assert_eq!(records[0]["upstream"][0]["method"], "GET", "short JQL: GET");
    }
}

/// Confluence's CQL search takes GET only: CQL too long for a URL is refused before anything
/// is sent, with its length and the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cql_too_long_for_a_url_is_refused_before_sending() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let terms: Vec<String> = (0..1500).map(|n| format!("title !~ \"x{n}\"")).collect();
        let cql = format!("type = page AND {}", terms.join(" AND "));
        env.sandbox.clear_requests();
        let msg = err(&call(&client, "confluence_search", json!({"cql": cql})).await);
        assert!(msg.contains("CQL too long"), "{msg}");
        assert!(msg.contains("chars"), "{msg}");
        assert!(msg.contains("at most"), "{msg}");
        assert!(
            !env.sandbox
                .requests()
                .iter()
                .any(|r| r.path.ends_with("/rest/api/search")),
            "{flavor:?}: nothing sent"
        );
        client.cancel().await.ok();
    }
}

/// A 414 (from the site or a proxy in front of it) says the request was too long; it is not
/// reported as a network failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_414_is_explained_as_too_long() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    env.sandbox.faults().inject(FaultSpec {
        status: 414,
        count: 1,
        retry_after: None,
        path_prefix: Some("/rest/api/3/issue/ENG-1".to_string()),
    });
    let msg = err(&call(&client, "jira_get_issue", json!({"key": "ENG-1"})).await);
    assert!(msg.contains("too long"), "{msg}");
    assert!(msg.contains("414"), "{msg}");
    assert!(!msg.contains("could not reach"), "{msg}");
    client.cancel().await.ok();
}
