//! Every read tool against the sandbox, on Cloud and Data Center.

use std::collections::HashSet;

use serde_json::json;

use crate::support::{Env, FLAVORS, Flavor, call, err, ok, text};

/// Schemas with real bounds, lists as text, field names, issue links, approximate totals.
mod agent_inputs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_search_pages_through_a_whole_project() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut args = json!({"jql": "project = ENG ORDER BY key ASC", "max_results": 25});
            if let Some(t) = &token {
                args["next_page_token"] = json!(t);
            }
            let out = ok(&call(&client, "jira_search", args).await);
            pages += 1;
            for issue in out["issues"].as_array().unwrap() {
                keys.push(issue["key"].as_str().unwrap().to_string());
                assert!(issue["summary"].as_str().is_some_and(|s| !s.is_empty()));
                assert!(
                    issue["status"].is_string(),
                    "{flavor:?}: status missing in {issue}"
                );
            }
            match out["next_page_token"].as_str() {
                Some(t) => {
                    assert_eq!(out["is_last"], false);
                    token = Some(t.to_string());
                }
                None => {
                    assert_eq!(out["is_last"], true);
                    break;
                }
            }
            assert!(pages < 20, "paging does not end");
        }
        let unique: HashSet<&String> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "{flavor:?}: a key appeared twice");
        assert!(
            keys.len() >= 50,
            "{flavor:?}: only {} ENG issues",
            keys.len()
        );
        assert!(pages >= 3);
        assert!(keys.iter().all(|k| k.starts_with("ENG-")));
        client.cancel().await.ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_search_text_is_compact_and_extra_fields_work() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let r = call(
        &client,
        "jira_search",
        json!({"jql": "project = ENG ORDER BY key ASC", "max_results": 20}),
    )
    .await;
    let out = ok(&r);
    assert_eq!(out["issues"].as_array().unwrap().len(), 20);
    let t = text(&r);
    assert!(
        t.len() <= 9_000,
        "20-issue search text is {} bytes",
        t.len()
    );
    assert_eq!(t.lines().count(), 21, "{t}");
    let r = call(
        &client,
        "jira_search",
        json!({"jql": "key = ENG-1", "fields": ["reporter", "created"]}),
    )
    .await;
    let out = ok(&r);
    let fields = &out["issues"][0]["fields"];
    assert!(fields["reporter"].is_string(), "{out}");
    assert!(fields["created"].is_string(), "{out}");
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_get_issue_returns_markdown_and_extras() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let r = call(
            &client,
            "jira_get_issue",
            json!({"key": "eng-1", "include": ["comments", "changelog", "transitions"]}),
        )
        .await;
        let out = ok(&r);
        assert_eq!(out["key"], "ENG-1");
        assert!(out["url"].as_str().unwrap().ends_with("/browse/ENG-1"));
        let description = out["description"].as_str().unwrap();
        assert!(
            description.len() > 40,
            "{flavor:?}: thin description {description:?}"
        );
        assert!(
            !description.contains("\"type\"") && !description.contains("{code"),
            "{flavor:?}: description not converted: {description}"
        );
        assert!(out["changelog"].is_array());
        assert!(
            !out["transitions"].as_array().unwrap().is_empty(),
            "{flavor:?}: no transitions"
        );
        let t = text(&r);
        assert!(t.starts_with("ENG-1 · "), "{t}");
        assert!(t.contains("## Description"));
        // Default include = comments; find an issue that has some.
        let mut with_comments = None;
        for n in 1..=15 {
            let out = ok(&call(
                &client,
                "jira_get_issue",
                json!({"key": format!("ENG-{n}")}),
            )
            .await);
            if !out["comments"].as_array().unwrap().is_empty() {
                with_comments = Some(out);
                break;
            }
        }
        let out = with_comments.unwrap_or_else(|| panic!("{flavor:?}: no ENG issue has comments"));
        let c = &out["comments"][0];
        assert!(c["author"].as_str().is_some_and(|a| !a.is_empty()));
        assert!(c["body"].as_str().is_some_and(|b| !b.is_empty()));
        assert!(out["comment_total"].as_u64().unwrap() >= 1);
        assert!(out.get("changelog").is_none(), "changelog only when asked");

        // ENG-3 is blocked by SEC-2: links carry the other issue's key, status and summary.
        let out = ok(&call(
            &client,
            "jira_get_issue",
            json!({"key": "ENG-3", "include": []}),
        )
        .await);
        let link = &out["links"][0];
        assert_eq!(link["key"], "SEC-2", "{flavor:?}: {out}");
        assert_eq!(link["relation"], "is blocked by");
        assert!(link["summary"].as_str().is_some_and(|s| !s.is_empty()));

        let missing = err(&call(&client, "jira_get_issue", json!({"key": "ENG-99999"})).await);
        assert!(missing.contains("not found"), "{missing}");
        client.cancel().await.ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_projects_and_create_fields() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let out = ok(&call(&client, "jira_list_projects", json!({})).await);
        let keys: Vec<&str> = out["projects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["key"].as_str().unwrap())
            .collect();
        for k in ["ENG", "OPS", "SEC"] {
            assert!(keys.contains(&k), "{flavor:?}: {k} missing from {keys:?}");
        }
        let out = ok(&call(&client, "jira_list_projects", json!({"query": "eng"})).await);
        assert!(
            out["projects"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["key"] == "ENG")
        );

        let out = ok(&call(&client, "jira_get_create_fields", json!({"project": "eng"})).await);
        let types: Vec<&str> = out["issue_types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(types.contains(&"Bug"), "{flavor:?}: {types:?}");
        let r = call(
            &client,
            "jira_get_create_fields",
            json!({"project": "ENG", "issue_type": "bug"}),
        )
        .await;
        let out = ok(&r);
        let fields = out["fields"].as_array().unwrap();
        let summary = fields
            .iter()
            .find(|f| f["id"] == "summary")
            .expect("summary field");
        assert_eq!(summary["required"], true);
        assert_eq!(fields[0]["required"], true, "required fields come first");
        assert!(text(&r).contains("REQUIRED"));
        let e = err(&call(
            &client,
            "jira_get_create_fields",
            json!({"project": "ENG", "issue_type": "Spaceship"}),
        )
        .await);
        assert!(e.contains("Spaceship") && e.contains("Bug"), "{e}");
        client.cancel().await.ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluence_search_page_and_spaces() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let r = call(
            &client,
            "confluence_search",
            json!({"cql": "type = page", "limit": 3}),
        )
        .await;
        let out = ok(&r);
        let results = out["results"].as_array().unwrap();
        assert_eq!(results.len(), 3, "{flavor:?}: {out}");
        for hit in results {
            assert!(
                !hit["excerpt"].as_str().unwrap_or("").contains("@@@"),
                "{hit}"
            );
            assert!(hit["title"].as_str().is_some_and(|t| !t.is_empty()));
            assert!(hit["space"].is_string(), "{flavor:?}: {hit}");
        }
        // Paging covers more than one page without repeats.
        let cursor = out["next_cursor"].as_str().expect("more pages").to_string();
        let out2 = ok(&call(
            &client,
            "confluence_search",
            json!({"cql": "type = page", "limit": 3, "cursor": cursor}),
        )
        .await);
        let first: HashSet<String> = results.iter().map(|h| h["id"].to_string()).collect();
        for hit in out2["results"].as_array().unwrap() {
            assert!(
                !first.contains(&hit["id"].to_string()),
                "repeat across pages"
            );
        }

        let id = results[0]["id"].as_str().unwrap().to_string();
        let r = call(&client, "confluence_get_page", json!({"page_id": id})).await;
        let page = ok(&r);
        assert_eq!(page["id"], id.as_str());
        assert_eq!(page["format"], "markdown");
        let body = page["body"].as_str().unwrap();
        assert!(!body.is_empty());
        assert!(
            !body.contains("<ac:"),
            "{flavor:?}: storage markup left in {body}"
        );
        assert!(text(&r).starts_with("# "));
        let raw = ok(&call(
            &client,
            "confluence_get_page",
            json!({"page_id": id, "format": "storage"}),
        )
        .await);
        assert!(raw["body"].as_str().unwrap().contains('<'));
        let missing = err(&call(
            &client,
            "confluence_get_page",
            json!({"page_id": "999999999"}),
        )
        .await);
        assert!(missing.contains("not found"), "{missing}");

        let out = ok(&call(&client, "confluence_list_spaces", json!({})).await);
        let keys: Vec<&str> = out["spaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["key"].as_str().unwrap())
            .collect();
        assert!(keys.contains(&"ENG"), "{flavor:?}: {keys:?}");
        let out = ok(&call(&client, "confluence_list_spaces", json!({"keys": ["ENG"]})).await);
        assert_eq!(out["spaces"].as_array().unwrap().len(), 1);
        client.cancel().await.ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_names_user_site_and_policy() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "[policy]\njira_projects = [\"ENG\"]\n").await;
        let client = env.client().await;
        let r = call(&client, "atlassian_whoami", json!({})).await;
        let out = ok(&r);
        assert!(
            out["user"]["display_name"]
                .as_str()
                .is_some_and(|n| !n.is_empty())
        );
        assert!(out["user"]["account_id"].is_string());
        let expected = match flavor {
            Flavor::Cloud => ("cloud", "api-token"),
            Flavor::DataCenter => ("data-center", "pat"),
        };
        assert_eq!(out["deployment"], expected.0);
        assert_eq!(out["auth"], expected.1);
        assert_eq!(out["policy"]["jira_projects"], json!(["ENG"]));
        assert!(text(&r).contains("projects: ENG"));
        client.cancel().await.ok();
    }
}

/// Upstream text is untrusted: invisible and bidi control characters never reach the model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_characters_are_stripped_from_upstream_text() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let raw = reqwest::Client::new();
        // The sandbox's ENG-6 carries zero-width and bidi characters on purpose: check that
        // the raw API really has them, so this test can fail.
        let (url, auth) = match flavor {
            Flavor::Cloud => (
                format!("{}/rest/api/3/issue/ENG-6", env.sandbox.base_url()),
                {
                    use base64::Engine as _;
                    let pair = format!(
                        "{}:{}",
                        atlassian_mcp_bridge::sandbox::SANDBOX_EMAIL,
                        atlassian_mcp_bridge::sandbox::SANDBOX_API_TOKEN
                    );
                    format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(pair)
                    )
                },
            ),
            Flavor::DataCenter => (
                format!("{}/rest/api/2/issue/ENG-6", env.sandbox.dc_base_url()),
                format!("Bearer {}", atlassian_mcp_bridge::sandbox::SANDBOX_PAT),
            ),
        };
        let body = raw
            .get(url)
            .header("authorization", auth)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let hidden = |s: &str| {
            s.chars().any(|c| {
                matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
            })
        };
        let decoded: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            hidden(&decoded.to_string()),
            "{flavor:?}: sandbox ENG-6 should carry hidden characters"
        );
        let r = call(&client, "jira_get_issue", json!({"key": "ENG-6"})).await;
        let out = ok(&r);
        assert!(
            !hidden(&text(&r)),
            "{flavor:?}: hidden characters reached the text"
        );
        assert!(
            !hidden(&out.to_string()),
            "{flavor:?}: hidden characters in structuredContent"
        );
        let r = call(&client, "jira_search", json!({"jql": "key = ENG-6"})).await;
        assert!(!hidden(&text(&r)));
        client.cancel().await.ok();
    }
}
