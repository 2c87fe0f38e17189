//! Jira edits, comments, transitions and createmeta.

use serde_json::{Value, json};

use super::{At, adf, call, create, enc, get, jira_valid, refused, task};
use crate::SANDBOX_ACCOUNT_ID;
use crate::tests::{assert_valid, jira_spec, sandbox};

#[tokio::test]
async fn edit_sets_fields_and_label_updates_and_404s_unknown_issues() {
    let sb = sandbox().await;
    let api = At::Cloud.jira(&sb);
    let body = json!({"fields": {"summary": "Renamed", "customfield_10020": {"id": "10300"}},
        "update": {"labels": [{"add": "triaged"}, {"remove": "search"}]}});
    jira_valid("IssueUpdateDetails", &body);
    let r = call(At::Cloud, "PUT", &format!("{api}/issue/ENG-3"), Some(&body)).await;
    assert_eq!((r.status, &r.body), (204, &Value::Null));
    let g = get(&sb, At::Cloud, "/issue/ENG-3?expand=changelog").await;
    jira_valid("IssueBean", &g);
    assert_eq!(g["fields"]["summary"], "Renamed");
    assert_eq!(g["fields"]["labels"], json!(["regression", "triaged"]));
    assert_eq!(g["fields"]["customfield_10020"]["value"], "Platform");
    super::assert_written_now(&g["fields"]["updated"]);
    let changed: Vec<&str> = g["changelog"]["histories"]
        .as_array()
        .expect("h")
        .iter()
        .flat_map(|h| {
            h["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter_map(|i| i["field"].as_str())
        })
        .collect();
    for f in ["summary", "labels", "Team"] {
        assert!(changed.contains(&f), "{f} in {changed:?}");
    }
    let r = call(
        At::Cloud,
        "PUT",
        &format!("{api}/issue/ENG-3?returnIssue=true"),
        Some(&json!({"fields": {"assignee": null, "priority": {"id": "4"}}})),
    )
    .await;
    assert_eq!(r.status, 200);
    jira_valid("IssueBean", &r.body);
    assert_eq!(
        (
            &r.body["fields"]["assignee"],
            &r.body["fields"]["priority"]["name"]
        ),
        (&Value::Null, &json!("Low"))
    );
    let r = get(
        &sb,
        At::Cloud,
        &format!(
            "/search/jql?jql={}",
            enc("key = ENG-3 AND updated >= -2h AND assignee is EMPTY")
        ),
    )
    .await;
    assert_eq!(r["issues"].as_array().map(Vec::len), Some(1));

    let r = call(
        At::Cloud,
        "PUT",
        &format!("{api}/issue/ENG-999"),
        Some(&json!({"fields": {"summary": "x"}})),
    )
    .await;
    assert_eq!(
        (r.status, &r.body),
        (
            404,
            &json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}})
        )
    );
    for (body, field) in [
        (json!({"fields": {"environment": "x"}}), "environment"),
        (json!({"fields": {"description": "not adf"}}), "description"),
        (json!({"fields": {"project": {"key": "OPS"}}}), "project"),
        (json!({"fields": {"summary": ""}}), "summary"),
        (
            json!({"fields": {"customfield_10020": null}}),
            "customfield_10020",
        ),
        (
            json!({"fields": {"labels": ["a"]}, "update": {"labels": [{"add": "b"}]}}),
            "labels",
        ),
        (json!({"update": {"labels": [{"rename": "b"}]}}), "labels"),
    ] {
        let r = call(At::Cloud, "PUT", &format!("{api}/issue/ENG-3"), Some(&body)).await;
        assert_eq!(r.status, 400, "{body}");
        jira_valid("ErrorCollection", &r.body);
        assert!(r.body["errors"][field].is_string(), "{body}: {}", r.body);
    }
    let dc = At::Dc.jira(&sb);
    let r = call(
        At::Dc,
        "PUT",
        &format!("{dc}/issue/ENG-3"),
        Some(
            &json!({"fields": {"description": "New *wiki*", "assignee": {"name": "alex.rivera"}}}),
        ),
    )
    .await;
    assert_eq!(r.status, 204);
    let g = get(&sb, At::Dc, "/issue/ENG-3").await;
    assert_eq!(
        (
            &g["fields"]["description"],
            &g["fields"]["assignee"]["name"]
        ),
        (&json!("New *wiki*"), &json!("alex.rivera"))
    );
    assert_eq!(
        get(&sb, At::Cloud, "/issue/ENG-3").await["fields"]["description"]["type"],
        "doc"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn comments_are_added_in_each_sites_format() {
    let sb = sandbox().await;
    let url = |at: At, key: &str| format!("{}/issue/{key}/comment", at.jira(&sb));
    let before = get(&sb, At::Cloud, "/issue/ENG-5/comment").await["total"]
        .as_u64()
        .expect("total");
    let body = json!({"body": adf("Zebra crossing approved")});
    jira_valid("Comment", &body);
    let r = call(At::Cloud, "POST", &url(At::Cloud, "ENG-5"), Some(&body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    jira_valid("Comment", &r.body);
    assert_eq!(
        (&r.body["author"]["accountId"], &r.body["body"]),
        (&json!(SANDBOX_ACCOUNT_ID), &adf("Zebra crossing approved"))
    );
    super::assert_written_now(&r.body["created"]);
    let list = get(&sb, At::Cloud, "/issue/ENG-5/comment").await;
    jira_valid("PageOfComments", &list);
    assert_eq!(list["total"].as_u64(), Some(before + 1));
    assert_eq!(
        list["comments"]
            .as_array()
            .and_then(|c| c.last())
            .map(|c| &c["id"]),
        Some(&r.body["id"])
    );
    let r = get(
        &sb,
        At::Cloud,
        &format!("/search/jql?jql={}", enc("comment ~ zebra")),
    )
    .await;
    assert_eq!(r["issues"].as_array().map(Vec::len), Some(1));

    for (at, body, msg) in [
        (
            At::Cloud,
            json!({"body": "plain"}),
            "Operation value must be an Atlassian Document",
        ),
        (
            At::Cloud,
            json!({"body": {"type": "doc", "version": 1, "content": []}}),
            "Comment body can not be empty!",
        ),
        (
            At::Dc,
            json!({"body": ""}),
            "Comment body can not be empty!",
        ),
        (
            At::Dc,
            json!({"body": adf("x")}),
            "Operation value must be a string",
        ),
    ] {
        let r = call(at, "POST", &url(at, "ENG-5"), Some(&body)).await;
        assert_eq!(
            (r.status, &r.body["errors"]["comment"]),
            (400, &json!(msg)),
            "{body}"
        );
    }
    let r = call(
        At::Dc,
        "POST",
        &url(At::Dc, "ENG-5"),
        Some(&json!({"body": "Wiki *comment*"})),
    )
    .await;
    assert_eq!(
        (r.status, &r.body["body"], &r.body["author"]["name"]),
        (201, &json!("Wiki *comment*"), &json!("demo"))
    );
    let list = get(&sb, At::Cloud, "/issue/ENG-5/comment").await;
    assert_eq!(
        list["comments"]
            .as_array()
            .and_then(|c| c.last())
            .map(|c| &c["body"]["type"]),
        Some(&json!("doc"))
    );
    let r = call(At::Gateway, "POST", &url(At::Gateway, "ENG-5"), Some(&body)).await;
    assert_eq!(r.status, 201);
    assert_eq!(
        call(At::Cloud, "POST", &url(At::Cloud, "ENG-999"), Some(&body))
            .await
            .status,
        404
    );
    sb.shutdown().await;
}

fn targets(v: &Value) -> Vec<String> {
    v["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| t["to"]["name"].as_str().expect("name").to_string())
        .collect()
}

#[tokio::test]
async fn transitions_follow_the_workflow() {
    let sb = sandbox().await;
    let key = create(&sb, At::Cloud, &task(At::Cloud, "ENG", "Walk the workflow")).await;
    let api = At::Cloud.jira(&sb);
    let post = |body: Value| {
        let url = format!("{api}/issue/{key}/transitions");
        async move { call(At::Cloud, "POST", &url, Some(&body)).await }
    };
    let t = get(&sb, At::Cloud, &format!("/issue/{key}/transitions")).await;
    jira_valid("Transitions", &t);
    assert_eq!(targets(&t), ["In Progress", "In Review", "Done"]);
    let r = post(json!({"transition": {"id": "21"}})).await;
    assert_eq!((r.status, &r.body), (204, &Value::Null));
    let g = get(&sb, At::Cloud, &format!("/issue/{key}?fields=status")).await;
    assert_eq!(
        (
            &g["fields"]["status"]["name"],
            &g["fields"]["status"]["statusCategory"]["key"]
        ),
        (&json!("In Progress"), &json!("indeterminate"))
    );
    assert_eq!(
        targets(&get(&sb, At::Cloud, &format!("/issue/{key}/transitions")).await),
        ["To Do", "In Review"]
    );
    let all = get(
        &sb,
        At::Cloud,
        &format!("/issue/{key}/transitions?includeUnavailableTransitions=true"),
    )
    .await;
    jira_valid("Transitions", &all);
    assert_eq!(all["transitions"][2]["isAvailable"], false);
    let r = post(json!({"transition": {"id": "41"}})).await;
    assert_eq!(
        (r.status, &r.body),
        (
            400,
            &json!({"errorMessages": ["Transition id '41' is not valid for this issue."], "errors": {}})
        )
    );
    let body = json!({"transition": {"id": "31"}, "update": {"comment": [{"add": {"body": adf("Ready for review")}}]}});
    jira_valid("IssueUpdateDetails", &body);
    assert_eq!(post(body).await.status, 204);
    assert_eq!(
        get(&sb, At::Cloud, &format!("/issue/{key}/comment")).await["total"],
        1
    );
    assert_eq!(post(json!({"transition": {"id": 41}})).await.status, 204);
    let g = get(&sb, At::Cloud, &format!("/issue/{key}?expand=changelog")).await;
    jira_valid("IssueBean", &g);
    assert_eq!(
        (
            &g["fields"]["status"]["statusCategory"]["key"],
            &g["fields"]["resolution"]["name"]
        ),
        (&json!("done"), &json!("Done"))
    );
    assert!(g["fields"]["resolutiondate"].is_string());
    assert_eq!(g["changelog"]["total"], 3);
    assert_eq!(
        targets(&get(&sb, At::Cloud, &format!("/issue/{key}/transitions")).await),
        ["To Do"]
    );
    let r = get(
        &sb,
        At::Cloud,
        &format!(
            "/search/jql?jql={}",
            enc(&format!(
                "key = {key} AND statusCategory = done AND resolution = Done"
            ))
        ),
    )
    .await;
    assert_eq!(r["issues"].as_array().map(Vec::len), Some(1));
    for (body, status) in [
        (json!({"transition": {"id": "21"}}), 400),
        (json!({}), 400),
        (
            json!({"transition": {"id": "11"}, "fields": {"resolution": {"name": "Done"}}}),
            400,
        ),
        (
            json!({"transition": {"id": "11"}, "update": {"labels": [{"add": "x"}]}}),
            400,
        ),
        (json!({"transition": {"id": "11"}}), 204),
    ] {
        assert_eq!(post(body.clone()).await.status, status, "{body}");
    }
    let r = call(
        At::Cloud,
        "POST",
        &format!("{api}/issue/ENG-999/transitions"),
        Some(&json!({"transition": {"id": "11"}})),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = call(
        At::Dc,
        "POST",
        &format!("{}/issue/ENG-3/transitions", At::Dc.jira(&sb)),
        Some(&json!({"transition": {"id": "21"}})),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        get(&sb, At::Dc, "/issue/ENG-3?fields=status").await["fields"]["status"]["name"],
        "In Progress"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn createmeta_lists_what_validation_enforces() {
    let sb = sandbox().await;
    let spec = jira_spec().component("PageOfCreateMetaIssueTypeWithField");
    let meta = |path: &str| {
        let p = path.to_string();
        let (sb, spec) = (&sb, &spec);
        async move {
            let v = get(sb, At::Cloud, &p).await;
            assert_valid(spec, &v, &p);
            v["fields"].as_array().expect("fields").clone()
        }
    };
    let bug = meta("/issue/createmeta/ENG/issuetypes/10002").await;
    let field = |fields: &[Value], id: &str| fields.iter().find(|f| f["fieldId"] == id).cloned();
    let team = field(&bug, "customfield_10020").expect("team");
    assert_eq!(
        (&team["name"], &team["required"]),
        (&json!("Team"), &json!(true))
    );
    let options: Vec<(&str, &str)> = team["allowedValues"]
        .as_array()
        .expect("v")
        .iter()
        .map(|o| {
            (
                o["id"].as_str().expect("id"),
                o["value"].as_str().expect("value"),
            )
        })
        .collect();
    assert_eq!(
        options,
        [
            ("10300", "Platform"),
            ("10301", "Search"),
            ("10302", "Integrations")
        ]
    );
    let prio = field(&bug, "priority").expect("priority");
    let prios: Vec<(&str, &str)> = prio["allowedValues"]
        .as_array()
        .expect("v")
        .iter()
        .map(|o| {
            (
                o["id"].as_str().expect("id"),
                o["name"].as_str().expect("name"),
            )
        })
        .collect();
    assert_eq!(
        prios,
        [
            ("1", "Highest"),
            ("2", "High"),
            ("3", "Medium"),
            ("4", "Low"),
            ("5", "Lowest")
        ]
    );
    for id in ["labels", "assignee", "description", "parent", "summary"] {
        assert!(field(&bug, id).is_some(), "{id}");
    }
    let task_meta = meta("/issue/createmeta/ENG/issuetypes/10001").await;
    assert_eq!(
        field(&task_meta, "customfield_10020").map(|f| f["required"].clone()),
        Some(json!(false))
    );
    assert!(
        field(
            &meta("/issue/createmeta/ENG/issuetypes/10005").await,
            "customfield_10020"
        )
        .is_none()
    );
    assert!(
        field(
            &meta("/issue/createmeta/OPS/issuetypes/10002").await,
            "customfield_10020"
        )
        .is_none()
    );

    // Every required field without a default is enforced, and the listed values are accepted.
    let required: Vec<String> = bug
        .iter()
        .filter(|f| f["required"] == true && f["hasDefaultValue"] == false)
        .map(|f| f["fieldId"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(
        required,
        ["issuetype", "project", "summary", "customfield_10020"]
    );
    let full = json!({"project": {"key": "ENG"}, "issuetype": {"id": "10002"}, "summary": "S",
        "customfield_10020": {"id": options[2].0}, "priority": {"id": prios[4].0}});
    for id in &required {
        let mut f = full.clone();
        f.as_object_mut().expect("obj").remove(id);
        let r = refused(&sb, At::Cloud, json!({"fields": f})).await;
        assert!(r["errors"][id.as_str()].is_string(), "{id}: {r}");
    }
    let key = create(&sb, At::Cloud, &json!({"fields": full})).await;
    let g = get(&sb, At::Cloud, &format!("/issue/{key}")).await;
    assert_eq!(
        (
            &g["fields"]["customfield_10020"]["value"],
            &g["fields"]["priority"]["name"]
        ),
        (&json!("Integrations"), &json!("Lowest"))
    );
    let dc = get(&sb, At::Dc, "/issue/createmeta/ENG/issuetypes/10002").await;
    assert!(
        dc["values"]
            .as_array()
            .expect("values")
            .iter()
            .any(|f| f["fieldId"] == "customfield_10020" && f["required"] == true)
    );
    sb.shutdown().await;
}
