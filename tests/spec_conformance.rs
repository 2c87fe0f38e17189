//! The bridge's own requests, checked against Atlassian's OpenAPI descriptions: every path it
//! calls exists for that method, and every query parameter it sends is one the operation declares.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::support::{Env, Flavor, call, ok};

fn spec(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/specs")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (tests/specs ships with the repository)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

/// Finds the operation whose path template matches `path` (after removing `prefix`).
fn operation<'a>(spec: &'a Value, prefix: &str, path: &str, method: &str) -> Option<&'a Value> {
    let rel = path.strip_prefix(prefix)?;
    let segs: Vec<&str> = rel.trim_matches('/').split('/').collect();
    // Several templates can match (`/issue/{id}` and `/issue/createmeta`): the one with the
    // most literal segments is the operation the server routes to.
    let is_param = |a: &str| a.starts_with('{') && a.ends_with('}');
    spec["paths"]
        .as_object()?
        .iter()
        .filter_map(|(template, item)| {
            let t: Vec<&str> = template.trim_matches('/').split('/').collect();
            let matches =
                t.len() == segs.len() && t.iter().zip(&segs).all(|(a, b)| is_param(a) || a == b);
            let literal = t.iter().filter(|a| !is_param(a)).count();
            matches.then_some((literal, item))
        })
        .max_by_key(|(literal, _)| *literal)
        .and_then(|(_, item)| item.get(method.to_ascii_lowercase()))
}

fn declared_query_params(spec: &Value, op: &Value) -> Vec<String> {
    let resolve = |p: &Value| -> Value {
        match p.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let mut cur = spec;
                for part in r.trim_start_matches("#/").split('/') {
                    cur = &cur[part];
                }
                cur.clone()
            }
            None => p.clone(),
        }
    };
    op["parameters"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .map(resolve)
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_requests_match_the_openapi_descriptions() {
    let jira = spec("jira-platform-v3.openapi.json");
    let conf_v1 = spec("confluence-v1.openapi.json");
    let conf_v2 = spec("confluence-v2.openapi.json");

    let env = Env::new(Flavor::Cloud, "[policy]\nconfluence_spaces = [\"ENG\"]\n").await;
    let client = env.client().await;
    let first = ok(&call(
        &client,
        "jira_search",
        json!({"jql": "project = ENG", "max_results": 2}),
    )
    .await);
    ok(&call(
        &client,
        "jira_search",
        json!({"jql": "project = ENG", "max_results": 2, "fields": ["reporter"],
               "next_page_token": first["next_page_token"]}),
    )
    .await);
    ok(&call(
        &client,
        "jira_get_issue",
        json!({"key": "ENG-1", "include": ["comments", "changelog", "transitions"]}),
    )
    .await);
    ok(&call(&client, "jira_list_projects", json!({"query": "e"})).await);
    ok(&call(
        &client,
        "jira_get_create_fields",
        json!({"project": "ENG", "issue_type": "Bug"}),
    )
    .await);
    ok(&call(&client, "atlassian_whoami", json!({})).await);
    let hits = ok(&call(
        &client,
        "confluence_search",
        json!({"cql": "type = page", "limit": 2}),
    )
    .await);
    ok(&call(
        &client,
        "confluence_search",
        json!({"cql": "type = page", "limit": 2, "cursor": hits["next_cursor"]}),
    )
    .await);
    ok(&call(&client, "confluence_get_page", json!({"page_id": "100101"})).await);
    ok(&call(&client, "confluence_list_spaces", json!({"keys": ["ENG"]})).await);
    client.cancel().await.ok();

    let requests = env.sandbox.requests();
    assert!(requests.len() >= 12, "{requests:?}");
    for r in requests {
        let (spec, prefix) = if r.path.starts_with("/wiki/api/v2/") {
            (&conf_v2, "/wiki/api/v2")
        } else if r.path.starts_with("/wiki/") {
            (&conf_v1, "")
        } else {
            (&jira, "")
        };
        let op = operation(spec, prefix, &r.path, &r.method)
            .unwrap_or_else(|| panic!("{} {} is not in the API description", r.method, r.path));
        assert!(
            op.get("deprecated") != Some(&json!(true)),
            "{} {} is deprecated upstream",
            r.method,
            r.path
        );
        let declared = declared_query_params(spec, op);
        let sent: Vec<String> = r
            .query
            .as_deref()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, _)| k.into_owned())
                    .collect()
            })
            .unwrap_or_default();
        for name in sent {
            assert!(
                declared.contains(&name),
                "{} {}: query parameter `{name}` is not declared (declared: {declared:?})",
                r.method,
                r.path
            );
        }
    }
}
