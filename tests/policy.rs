//! Local guard rails, end to end.

use serde_json::json;

use crate::support::{Env, Flavor, call, err, ok};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_and_allow_shape_the_tool_list_and_refuse_calls() {
    let env = Env::new(
        Flavor::Cloud,
        "[policy]\ndeny_tools = [\"confluence_search\"]\n",
    )
    .await;
    let client = env.client().await;
    let names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(!names.iter().any(|n| n == "confluence_search"));
    assert_eq!(
        names.len(),
        atlassian_mcp_bridge::catalog::served().count() - 1
    );
    let msg = err(&call(&client, "confluence_search", json!({"cql": "type = page"})).await);
    assert!(msg.contains("deny_tools"), "{msg}");
    client.cancel().await.ok();
    let records = env.tool_records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["outcome"], "denied");
    assert!(
        records[0]["upstream"].as_array().unwrap().is_empty(),
        "nothing sent upstream"
    );

    let env = Env::new(Flavor::Cloud, "[policy]\nallow_tools = [\"jira_search\"]\n").await;
    let client = env.client().await;
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].name, "jira_search");
    let msg = err(&call(&client, "jira_get_issue", json!({"key": "ENG-1"})).await);
    assert!(msg.contains("allow_tools"), "{msg}");
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_allowlist_confines_jira() {
    let env = Env::new(Flavor::Cloud, "[policy]\njira_projects = [\"ENG\"]\n").await;
    let client = env.client().await;
    // A query naming another project finds nothing there.
    let out = ok(&call(&client, "jira_search", json!({"jql": "project = SEC"})).await);
    assert_eq!(out["issues"].as_array().unwrap().len(), 0);
    assert_eq!(out["jql"], "project in (\"ENG\") AND (project = SEC)");
    // A broad query only sees ENG.
    let out = ok(&call(
        &client,
        "jira_search",
        json!({"jql": "project in (ENG, OPS, SEC) ORDER BY key DESC", "max_results": 100}),
    )
    .await);
    let issues = out["issues"].as_array().unwrap();
    assert!(!issues.is_empty());
    assert!(
        issues
            .iter()
            .all(|i| i["key"].as_str().unwrap().starts_with("ENG-"))
    );
    // Attempts to break out of the wrapper are refused before anything is sent.
    let msg = err(&call(
        &client,
        "jira_search",
        json!({"jql": "status = Done) OR (project = SEC"}),
    )
    .await);
    assert!(msg.contains("without a matching"), "{msg}");
    // Direct reads outside the allowlist are denied.
    let msg = err(&call(&client, "jira_get_issue", json!({"key": "SEC-1"})).await);
    assert!(msg.contains("policy.jira_projects"), "{msg}");
    let msg = err(&call(&client, "jira_get_create_fields", json!({"project": "OPS"})).await);
    assert!(msg.contains("policy.jira_projects"), "{msg}");
    let out = ok(&call(&client, "jira_list_projects", json!({})).await);
    let projects = out["projects"].as_array().unwrap();
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0]["key"], "ENG");
    ok(&call(&client, "jira_get_issue", json!({"key": "ENG-1"})).await);
    // Links into other projects are hidden; links inside the allowlist stay.
    let out = ok(&call(
        &client,
        "jira_get_issue",
        json!({"key": "ENG-2", "include": []}),
    )
    .await);
    let linked: Vec<&str> = out["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        linked,
        ["ENG-4"],
        "OPS-1 must not show through ENG-2's links"
    );
    let out = ok(&call(
        &client,
        "jira_get_issue",
        json!({"key": "ENG-3", "include": []}),
    )
    .await);
    assert!(!out.to_string().contains("SEC-2"), "{out}");
    // Fields that describe other issues are refused while confined.
    let msg = err(&call(
        &client,
        "jira_search",
        json!({"jql": "key = ENG-2", "fields": ["issuelinks"]}),
    )
    .await);
    assert!(msg.contains("policy.jira_projects"), "{msg}");
    client.cancel().await.ok();

    let outcomes: Vec<String> = env
        .tool_records()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        outcomes,
        [
            "ok", "ok", "error", "denied", "denied", "ok", "ok", "ok", "ok", "denied"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn space_allowlist_confines_confluence() {
    for flavor in [Flavor::Cloud, Flavor::DataCenter] {
        let env = Env::new(flavor, "[policy]\nconfluence_spaces = [\"ENG\"]\n").await;
        let client = env.client().await;
        let out = ok(&call(
            &client,
            "confluence_search",
            json!({"cql": "type = page", "limit": 50}),
        )
        .await);
        let results = out["results"].as_array().unwrap();
        assert!(!results.is_empty());
        assert!(
            results.iter().all(|r| r["space"] == "ENG"),
            "{flavor:?}: {out}"
        );

        // Find a page in another space without the policy, then try to read it with it.
        let open = Env::new(flavor, "").await;
        let open_client = open.client().await;
        let all = ok(&call(
            &open_client,
            "confluence_search",
            json!({"cql": "type = page AND space != ENG", "limit": 5}),
        )
        .await);
        let other = all["results"][0]["id"]
            .as_str()
            .expect("a non-ENG page")
            .to_string();
        open_client.cancel().await.ok();

        let msg = err(&call(&client, "confluence_get_page", json!({"page_id": other})).await);
        assert!(
            msg.contains("policy.confluence_spaces"),
            "{flavor:?}: {msg}"
        );
        let msg = err(&call(&client, "confluence_list_spaces", json!({"keys": ["OPS"]})).await);
        assert!(msg.contains("policy.confluence_spaces"), "{msg}");
        let out = ok(&call(&client, "confluence_list_spaces", json!({})).await);
        assert_eq!(out["spaces"].as_array().unwrap().len(), 1);
        client.cancel().await.ok();
    }
}
