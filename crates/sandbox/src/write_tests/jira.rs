//! Jira creates: single, validation, bulk, issue properties and the recovery search.

use serde_json::{Value, json};

use super::{At, adf, call, create, enc, get, jira_valid, refused, request_schema, task};
use crate::tests::{assert_valid, http, jira_spec, keys, sandbox, send};
use crate::{SANDBOX_ACCOUNT_ID, SANDBOX_CLOUD_ID};

#[tokio::test]
async fn create_issue_on_cloud_gateway_and_data_center() {
    let sb = sandbox().await;
    let body = json!({"fields": {
        "project": {"key": "ENG"}, "issuetype": {"id": "10002"}, "summary": "Crash on empty JQL",
        "description": adf("Steps to reproduce."), "priority": {"name": "High"},
        "labels": ["bulk", "crash"], "assignee": {"id": "61d5f0c2a8b4e3001d7c9a02"},
        "customfield_10020": {"value": "Search"}, "duedate": "2026-12-01",
        "components": [{"name": "API"}],
    }});
    jira_valid("IssueUpdateDetails", &body);
    let api = At::Cloud.jira(&sb);
    let r = call(At::Cloud, "POST", &format!("{api}/issue"), Some(&body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    jira_valid("CreatedIssue", &r.body);
    assert_eq!(r.body["key"], "ENG-65", "keys continue after the highest");
    let id = r.body["id"].as_str().expect("id");
    assert_eq!(r.body["self"], format!("{api}/issue/{id}"));
    let g = get(&sb, At::Cloud, "/issue/ENG-65").await;
    jira_valid("IssueBean", &g);
    let f = &g["fields"];
    assert_eq!(f["summary"], "Crash on empty JQL");
    assert_eq!(
        (&f["status"]["name"], &f["status"]["statusCategory"]["key"]),
        (&json!("To Do"), &json!("new"))
    );
    assert_eq!(f["issuetype"]["name"], "Bug");
    assert_eq!(f["priority"]["name"], "High");
    assert_eq!(f["reporter"]["accountId"], SANDBOX_ACCOUNT_ID);
    assert_eq!(f["assignee"]["displayName"], "Alex Rivera");
    assert_eq!(f["labels"], json!(["bulk", "crash"]));
    assert_eq!(
        (
            &f["customfield_10020"]["value"],
            &f["customfield_10020"]["id"]
        ),
        (&json!("Search"), &json!("10301"))
    );
    assert_eq!(f["description"], adf("Steps to reproduce."));
    assert_eq!(f["duedate"], "2026-12-01");
    assert_eq!(f["components"][0]["name"], "API");
    super::assert_written_now(&f["created"]);
    assert_eq!(f["created"], f["updated"]);

    // The gateway (Basic, then an OAuth token with the write scope; a read-only token is refused).
    let gw = At::Gateway.jira(&sb);
    let r = call(
        At::Gateway,
        "POST",
        &format!("{gw}/issue"),
        Some(&task(At::Gateway, "OPS", "Via gateway")),
    )
    .await;
    assert_eq!((r.status, r.body["key"].as_str()), (201, Some("OPS-31")));
    assert!(
        r.body["self"]
            .as_str()
            .expect("self")
            .contains(&format!("/ex/jira/{SANDBOX_CLOUD_ID}/rest/api/3/issue/"))
    );
    let token = sb
        .oauth()
        .mint("read:jira-work write:jira-work")
        .access_token;
    let r = send(
        http()
            .post(format!("{gw}/issue"))
            .bearer_auth(&token)
            .json(&task(At::Gateway, "SEC", "Bearer")),
    )
    .await;
    assert_eq!((r.status, r.body["key"].as_str()), (201, Some("SEC-21")));
    let read_only = sb.oauth().mint("read:jira-work").access_token;
    let r = send(
        http()
            .post(format!("{gw}/issue"))
            .bearer_auth(&read_only)
            .json(&task(At::Gateway, "SEC", "No")),
    )
    .await;
    assert_eq!(r.status, 401);

    // Data Center: wiki markup, usernames, project by id.
    let body = json!({"fields": {"project": {"id": "10000"}, "issuetype": {"name": "Story"},
        "summary": "From DC", "description": "h2. Wiki\n\nSome *bold* text",
        "assignee": {"name": "priya.shah"}, "priority": {"id": "1"}}});
    let r = call(
        At::Dc,
        "POST",
        &format!("{}/issue", At::Dc.jira(&sb)),
        Some(&body),
    )
    .await;
    assert_eq!((r.status, r.body["key"].as_str()), (201, Some("ENG-66")));
    assert!(
        r.body["self"]
            .as_str()
            .expect("self")
            .contains("/dc/rest/api/2/issue/")
    );
    let g = get(&sb, At::Dc, "/issue/ENG-66").await;
    assert_eq!(g["fields"]["description"], "h2. Wiki\n\nSome *bold* text");
    assert_eq!(g["fields"]["assignee"]["name"], "priya.shah");
    assert_eq!(g["fields"]["reporter"]["name"], "demo");
    let g = get(&sb, At::Cloud, "/issue/ENG-66").await;
    jira_valid("IssueBean", &g);
    assert_eq!(
        g["fields"]["description"]["type"], "doc",
        "Cloud reads DC text as ADF"
    );
    assert_eq!(sb.issue_count("ENG"), 66);
    sb.shutdown().await;
}

#[tokio::test]
async fn create_validation_reports_fields_like_jira() {
    let sb = sandbox().await;
    let base = |itype: &str, project: &str| json!({"project": {"key": project}, "issuetype": {"name": itype}, "summary": "S"});
    let with = |project: &str, itype: &str, extra: Value| {
        let mut f = base(itype, project);
        for (k, v) in extra.as_object().expect("obj") {
            f[k] = v.clone();
        }
        json!({"fields": f})
    };
    let long = "x".repeat(256);
    let cases: Vec<(Value, &str, String)> = vec![
        (json!({"fields": {"project": {"key": "ENG"}, "issuetype": {"name": "Task"}}}), "summary", "You must specify a summary of the issue.".into()),
        (with("ENG", "Task", json!({"environment": "prod"})), "environment", "Field 'environment' cannot be set. It is not on the appropriate screen, or unknown.".into()),
        (with("ENG", "Task", json!({"description": "plain"})), "description", "Operation value must be an Atlassian Document".into()),
        (with("ENG", "Task", json!({"description": {"type": "doc", "version": 2, "content": []}})), "description", "Operation value must be an Atlassian Document".into()),
        (with("ENG", "Task", json!({"priority": {"name": "Urgent"}})), "priority", "The priority selected is invalid.".into()),
        (with("ENG", "Task", json!({"labels": ["has space"]})), "labels", "The label 'has space' contains spaces which is invalid.".into()),
        (with("ENG", "Bug", json!({})), "customfield_10020", "Team is required.".into()),
        (with("ENG", "Bug", json!({"customfield_10020": {"value": "Nope"}})), "customfield_10020", "Option value 'Nope' is not valid".into()),
        (with("ENG", "Bug", json!({"customfield_10020": {"id": "1"}})), "customfield_10020", "Option id '1' is not valid".into()),
        (with("OPS", "Task", json!({"customfield_10020": {"id": "10300"}})), "customfield_10020", "Field 'customfield_10020' cannot be set. It is not on the appropriate screen, or unknown.".into()),
        (with("SEC", "Bug", json!({})), "customfield_10050", "Severity is required.".into()),
        (with("NOPE", "Task", json!({})), "project", "Specify a valid project ID or key".into()),
        (json!({"fields": {"project": {"key": "ENG"}, "summary": "S"}}), "issuetype", "Specify an issue type".into()),
        (json!({"fields": {"project": {"key": "ENG"}, "issuetype": {"id": "1"}, "summary": "S"}}), "issuetype", "The issue type selected is invalid.".into()),
        (with("ENG", "Sub-task", json!({})), "parent", "Issue type is a sub-task but parent issue key or id not specified.".into()),
        (with("ENG", "Sub-task", json!({"parent": {"key": "OPS-1"}})), "parent", "Sub-tasks must be created in the same project as the parent.".into()),
        (with("ENG", "Sub-task", json!({"parent": {"key": "ENG-4"}})), "parent", "Given parent work item does not belong to appropriate hierarchy.".into()),
        (with("ENG", "Story", json!({"parent": {"key": "ENG-2"}})), "parent", "Given parent work item does not belong to appropriate hierarchy.".into()),
        (with("ENG", "Task", json!({"parent": {"key": "ENG-999"}})), "parent", "Could not find issue by id or key.".into()),
        (with("ENG", "Task", json!({"assignee": {"name": "demo"}})), "assignee", "Specify the user by 'accountId'; usernames are not supported on Jira Cloud.".into()),
        (with("ENG", "Task", json!({"assignee": {"accountId": "nobody"}})), "assignee", "User with accountId 'nobody' does not exist.".into()),
        (with("ENG", "Task", json!({"summary": "two\nlines"})), "summary", "The summary is invalid because it contains newline characters.".into()),
        (with("ENG", "Task", json!({"summary": long})), "summary", "Summary must be less than 255 characters.".into()),
        (with("ENG", "Task", json!({"duedate": "tomorrow"})), "duedate", "Error parsing date string: tomorrow".into()),
        (with("ENG", "Task", json!({"components": [{"id": "1"}]})), "components", "Component with id '1' does not exist.".into()),
    ];
    for (body, field, message) in cases {
        let r = refused(&sb, At::Cloud, body.clone()).await;
        assert_eq!(r["errors"][field], message, "{body}: {r}");
        assert_eq!(r["errorMessages"], json!([]));
    }
    let r = refused(
        &sb,
        At::Cloud,
        json!({"fields": base("Task", "ENG"), "properties": [{"key": "", "value": 1}]}),
    )
    .await;
    assert_eq!(
        r["errorMessages"],
        json!(["The property key cannot be empty."])
    );
    let r = refused(
        &sb,
        At::Dc,
        with("ENG", "Task", json!({"description": adf("x")})),
    )
    .await;
    assert_eq!(
        r["errors"]["description"],
        "Operation value must be a string"
    );
    let r = refused(
        &sb,
        At::Dc,
        with(
            "ENG",
            "Task",
            json!({"assignee": {"accountId": SANDBOX_ACCOUNT_ID}}),
        ),
    )
    .await;
    assert_eq!(
        r["errors"]["assignee"],
        "Specify the user by 'name' (username)."
    );
    let r = refused(
        &sb,
        At::Dc,
        with("ENG", "Task", json!({"assignee": {"name": "ghost"}})),
    )
    .await;
    assert_eq!(r["errors"]["assignee"], "User 'ghost' does not exist.");
    assert_eq!(sb.issue_count("ENG"), 64, "nothing was created");
    // Valid hierarchies: a story under the epic, a sub-task under a story, DC-style names.
    create(
        &sb,
        At::Cloud,
        &with("ENG", "Story", json!({"parent": {"key": "ENG-1"}})),
    )
    .await;
    let key = create(
        &sb,
        At::Cloud,
        &with("ENG", "Sub-task", json!({"parent": {"id": "10002"}})),
    )
    .await;
    let g = get(&sb, At::Cloud, &format!("/issue/{key}?fields=parent")).await;
    assert_eq!(g["fields"]["parent"]["key"], "ENG-2");
    let g = get(&sb, At::Cloud, "/issue/ENG-2?fields=subtasks").await;
    assert!(
        g["fields"]["subtasks"]
            .as_array()
            .expect("subtasks")
            .iter()
            .any(|s| s["key"] == key.as_str())
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn bulk_create_reports_partial_and_total_failure_and_caps_at_50() {
    let sb = sandbox().await;
    let url = format!("{}/issue/bulk", At::Cloud.jira(&sb));
    let bad = json!({"fields": {"project": {"key": "ENG"}, "issuetype": {"name": "Task"}}});
    let body = json!({"issueUpdates": [task(At::Cloud, "ENG", "Bulk one"), bad, task(At::Cloud, "OPS", "Bulk three")]});
    assert_valid(
        &request_schema(jira_spec(), "/rest/api/3/issue/bulk", "post"),
        &body,
        "bulk request",
    );
    let r = call(At::Cloud, "POST", &url, Some(&body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    jira_valid("CreatedIssues", &r.body);
    assert_eq!(keys(&r.body), ["ENG-65", "OPS-31"]);
    assert_eq!(
        r.body["errors"],
        json!([{"status": 400, "failedElementNumber": 1, "elementErrors": {"errorMessages": [], "errors": {"summary": "You must specify a summary of the issue."}}}])
    );

    let body = json!({"issueUpdates": [bad, {"fields": {"project": {"key": "NOPE"}}}, 7]});
    let r = call(At::Cloud, "POST", &url, Some(&body)).await;
    assert_eq!(r.status, 400);
    jira_valid("CreatedIssues", &r.body);
    assert_eq!(r.body["issues"], json!([]));
    let failed: Vec<u64> = r.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["failedElementNumber"].as_u64().expect("n"))
        .collect();
    assert_eq!(failed, [0, 1, 2]);
    assert_eq!(
        r.body["errors"][1]["elementErrors"]["errors"]["project"],
        "Specify a valid project ID or key"
    );

    let many: Vec<Value> = (0..51)
        .map(|n| task(At::Cloud, "ENG", &format!("Item {n}")))
        .collect();
    let r = call(
        At::Cloud,
        "POST",
        &url,
        Some(&json!({"issueUpdates": many})),
    )
    .await;
    assert_eq!(r.status, 400);
    jira_valid("ErrorCollection", &r.body);
    assert_eq!(r.body["errors"], json!({}));
    assert!(
        r.body["errorMessages"][0]
            .as_str()
            .expect("msg")
            .contains("at most 50")
    );
    assert_eq!(sb.issue_count("ENG"), 65, "a refused bulk creates nothing");

    let fifty = json!({"issueUpdates": many[..50]});
    let r = call(At::Cloud, "POST", &url, Some(&fifty)).await;
    assert_eq!(r.status, 201);
    let created = keys(&r.body);
    assert_eq!(
        (created.len(), created[0].as_str(), created[49].as_str()),
        (50, "ENG-66", "ENG-115")
    );
    let r = call(At::Dc, "POST", &format!("{}/issue/bulk", At::Dc.jira(&sb)), Some(&json!({"issueUpdates": [task(At::Dc, "SEC", "DC bulk"), task(At::Dc, "SEC", "DC bulk 2")]}))).await;
    assert_eq!(
        (r.status, keys(&r.body)),
        (201, vec!["SEC-21".to_string(), "SEC-22".to_string()])
    );
    let r = call(
        At::Gateway,
        "POST",
        &format!("{}/issue/bulk", At::Gateway.jira(&sb)),
        Some(&json!({"issueUpdates": [task(At::Gateway, "OPS", "GW bulk")]})),
    )
    .await;
    assert_eq!((r.status, keys(&r.body)), (201, vec!["OPS-32".to_string()]));
    assert_eq!(
        call(At::Cloud, "POST", &url, Some(&json!({"issues": []})))
            .await
            .status,
        400
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn properties_round_trip_and_the_recovery_search_finds_new_issues() {
    let sb = sandbox().await;
    let stamp = |i: u64| json!([{"key": "atlassian-mcp-bridge", "value": {"operation_id": "op-1", "index": i}}]);
    let items: Vec<Value> = (0..3)
        .map(|i| {
            let mut t = task(At::Cloud, "ENG", &format!("Recovered {i}"));
            t["properties"] = stamp(i);
            t
        })
        .collect();
    let body = json!({"issueUpdates": items});
    assert_valid(
        &request_schema(jira_spec(), "/rest/api/3/issue/bulk", "post"),
        &body,
        "bulk with properties",
    );
    let r = call(
        At::Cloud,
        "POST",
        &format!("{}/issue/bulk", At::Cloud.jira(&sb)),
        Some(&body),
    )
    .await;
    assert_eq!(keys(&r.body), ["ENG-65", "ENG-66", "ENG-67"]);
    let mut one = task(At::Cloud, "OPS", "Single");
    one["properties"] = stamp(9);
    create(&sb, At::Cloud, &one).await;

    let g = get(
        &sb,
        At::Cloud,
        "/issue/ENG-66?fields=summary&properties=atlassian-mcp-bridge",
    )
    .await;
    jira_valid("IssueBean", &g);
    assert_eq!(
        g["properties"]["atlassian-mcp-bridge"],
        json!({"operation_id": "op-1", "index": 1})
    );
    assert!(
        get(&sb, At::Cloud, "/issue/ENG-66")
            .await
            .get("properties")
            .is_none()
    );
    let g = get(
        &sb,
        At::Cloud,
        "/issue/ENG-66/properties/atlassian-mcp-bridge",
    )
    .await;
    jira_valid("EntityProperty", &g);
    assert_eq!(g["value"]["index"], 1);
    jira_valid(
        "PropertyKeys",
        &get(&sb, At::Cloud, "/issue/ENG-66/properties").await,
    );
    let r = call(
        At::Cloud,
        "GET",
        &format!("{}/issue/ENG-66/properties/nope", At::Cloud.jira(&sb)),
        None,
    )
    .await;
    assert_eq!(
        (r.status, &r.body),
        (
            404,
            &json!({"errorMessages": ["The property with key 'nope' does not exist."], "errors": {}})
        )
    );

    // What the bridge runs after a crash: its own issues from the last 90 minutes.
    let jql = "project = ENG AND reporter = currentUser() AND created >= -90m";
    let url = format!(
        "/search/jql?jql={}&properties=atlassian-mcp-bridge",
        enc(jql)
    );
    let r = get(&sb, At::Cloud, &url).await;
    jira_valid("SearchAndReconcileResults", &r);
    let found: Vec<(String, u64)> = r["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| {
            (
                i["id"].as_str().expect("id").to_string(),
                i["properties"]["atlassian-mcp-bridge"]["index"]
                    .as_u64()
                    .expect("index"),
            )
        })
        .collect();
    assert_eq!(
        found.iter().map(|f| f.1).collect::<Vec<_>>(),
        [2, 1, 0],
        "newest first"
    );
    let r = call(
        At::Cloud,
        "POST",
        &format!("{}/search/jql", At::Cloud.jira(&sb)),
        Some(&json!({"jql": jql, "fields": ["summary"], "properties": ["atlassian-mcp-bridge"]})),
    )
    .await;
    assert_eq!(keys(&r.body), ["ENG-67", "ENG-66", "ENG-65"]);
    assert_eq!(
        r.body["issues"][0]["properties"]["atlassian-mcp-bridge"]["index"],
        2
    );
    for rel in ["-2h", "-1d", "\"-90m\""] {
        let q = format!("project in (ENG, OPS) AND reporter = currentUser() AND created >= {rel}");
        let r = get(
            &sb,
            At::Cloud,
            &format!("/search/jql?jql={}&fields=key", enc(&q)),
        )
        .await;
        assert_eq!(r["issues"].as_array().map(Vec::len), Some(4), "{rel}");
    }
    let q = "project = ENG AND created < -1m";
    let r = get(
        &sb,
        At::Cloud,
        &format!("/search/jql?jql={}&fields=key&maxResults=100", enc(q)),
    )
    .await;
    assert_eq!(
        r["issues"].as_array().map(Vec::len),
        Some(64),
        "new issues are not older than a minute"
    );
    let r = get(
        &sb,
        At::Dc,
        &format!("/search?jql={}&properties=atlassian-mcp-bridge", enc(jql)),
    )
    .await;
    assert_eq!(r["total"], 3);
    assert_eq!(
        r["issues"][0]["properties"]["atlassian-mcp-bridge"]["index"],
        2
    );

    let prop = format!("{}/issue/ENG-1/properties/my.flag", At::Cloud.jira(&sb));
    assert_eq!(
        call(At::Cloud, "PUT", &prop, Some(&json!({"on": true})))
            .await
            .status,
        201
    );
    assert_eq!(
        call(At::Cloud, "PUT", &prop, Some(&json!({"on": false})))
            .await
            .status,
        200
    );
    assert_eq!(
        get(&sb, At::Cloud, "/issue/ENG-1/properties/my.flag").await["value"],
        json!({"on": false})
    );
    assert_eq!(call(At::Cloud, "DELETE", &prop, None).await.status, 204);
    assert_eq!(call(At::Cloud, "DELETE", &prop, None).await.status, 404);
    sb.shutdown().await;
}
