//! The Jira read tools take what agents actually hold and say what they cannot use: schemas
//! with real bounds and defaults, lists as comma-separated text, field names (custom fields
//! included), issue links instead of keys, unknown fields named, and an approximate total.

use atlassian_mcp_bridge::sandbox::{FaultOptions, FaultSpec};
use serde_json::{Value, json};

use crate::support::{Client, Env, FLAVORS, Flavor, call, err, ok, text};

/// Minimal valid arguments for each Jira read tool that takes a number.
fn base_args(tool: &str) -> Option<Value> {
    Some(match tool {
        "jira_search" => json!({"jql": "project = ENG"}),
        "jira_get_issue" => json!({"key": "ENG-1"}),
        "jira_list_projects" => json!({}),
        "jira_summarize_issue" => json!({"key": "ENG-1"}),
        "jira_summarize_search" => json!({"jql": "project = ENG"}),
        _ => return None,
    })
}

/// Every numeric argument of every Jira tool, as `tools/list` sends it, carries its real
/// `minimum`, `maximum` and `default` — and they are the ones the tool enforces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_numeric_arguments_state_their_bounds_and_defaults() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let tools = client.list_all_tools().await.expect("tools/list");
    let mut checked = Vec::new();
    for tool in tools.iter().filter(|t| t.name.starts_with("jira_")) {
        let schema = serde_json::to_value(&*tool.input_schema).unwrap();
        let props = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (name, prop) in props {
            assert_ne!(
                prop.get("default"),
                Some(&Value::Null),
                "{}.{name}: default null",
                tool.name
            );
            if prop["type"] != "integer" {
                continue;
            }
            let (Some(min), Some(max), Some(default)) = (
                prop["minimum"].as_u64(),
                prop["maximum"].as_u64(),
                prop["default"].as_u64(),
            ) else {
                panic!(
                    "{}.{name}: minimum, maximum and default must be numbers: {prop}",
                    tool.name
                );
            };
            assert!(
                min <= default && default <= max,
                "{}.{name}: {prop}",
                tool.name
            );
            // The schema's bounds are the enforced ones.
            let mut args = base_args(&tool.name)
                .unwrap_or_else(|| panic!("{}: add its minimal arguments", tool.name));
            args[&name] = json!(max + 1);
            let e = err(&call(&client, &tool.name, args).await);
            assert!(
                e.contains(&format!("{name} must be {min}–{max}"))
                    && e.contains(&format!("default {default}")),
                "{}.{name}: schema says {min}–{max} default {default}, tool says: {e}",
                tool.name
            );
            checked.push(format!("{}.{name}", tool.name));
        }
    }
    for expected in [
        "jira_search.max_results",
        "jira_get_issue.comment_limit",
        "jira_list_projects.max_results",
        "jira_summarize_issue.max_words",
        "jira_summarize_search.max_issues",
    ] {
        assert!(
            checked.iter().any(|c| c == expected),
            "{expected} not checked: {checked:?}"
        );
    }
    let get_issue = tools.iter().find(|t| t.name == "jira_get_issue").unwrap();
    let limit =
        &serde_json::to_value(&*get_issue.input_schema).unwrap()["properties"]["comment_limit"];
    assert_eq!(limit["minimum"], 0, "comment_limit: 0 turns comments off");
    client.cancel().await.ok();
}

/// The first ENG issue (by number) that has comments, read with `args` merged in.
async fn issue_with_comments(client: &Client, args: Value) -> Value {
    for n in 1..=20 {
        let mut a = json!({"key": format!("ENG-{n}")});
        for (k, v) in args.as_object().unwrap() {
            a[k] = v.clone();
        }
        let out = ok(&call(client, "jira_get_issue", a).await);
        if out["comment_total"].as_u64().unwrap_or(0) > 0 {
            return out;
        }
    }
    panic!("no ENG issue has comments");
}

/// `include` adds to the default (comments) rather than replacing it; `comment_limit: 0`
/// leaves comments out; lists may come as comma-separated text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_issue_include_adds_to_comments_and_lists_may_be_text() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let out = issue_with_comments(&client, json!({"include": "changelog, transitions"})).await;
        assert!(
            !out["comments"].as_array().unwrap().is_empty(),
            "{flavor:?}: include replaced the default comments: {out}"
        );
        assert!(out["changelog"].is_array(), "{flavor:?}: {out}");
        assert!(out["transitions"].is_array(), "{flavor:?}: {out}");
        let key = out["key"].as_str().unwrap().to_string();

        env.sandbox.clear_requests();
        let quiet = ok(&call(
            &client,
            "jira_get_issue",
            json!({"key": key, "comment_limit": 0, "include": ["changelog"]}),
        )
        .await);
        assert!(quiet["comments"].as_array().unwrap().is_empty(), "{quiet}");
        assert!(quiet["changelog"].is_array());
        assert!(
            !env.sandbox
                .requests()
                .iter()
                .any(|r| r.path.ends_with("/comment")),
            "{flavor:?}: comments fetched although comment_limit is 0"
        );

        let out = ok(&call(
            &client,
            "jira_search",
            json!({"jql": "key = ENG-1", "fields": "reporter, created"}),
        )
        .await);
        let fields = &out["issues"][0]["fields"];
        assert!(fields["reporter"].is_string(), "{flavor:?}: {out}");
        assert!(fields["created"].is_string(), "{flavor:?}: {out}");
        client.cancel().await.ok();
    }
}

fn field_gets(env: &Env) -> usize {
    env.sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/field"))
        .count()
}

/// `jira_get_issue` takes field names or ids (custom fields included) and shows them by
/// name, dates as days; `jira_search` names the fields that do not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_by_name_and_unknown_fields_named() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        // A SEC bug with a Severity (customfield_10050), set by id as writes take it.
        let created = ok(&call(
            &client,
            "jira_create_issue",
            json!({"project": "SEC", "issue_type": "Bug", "summary": "Token leak in logs",
                   "fields": {"customfield_10050": {"id": "10201"}}}),
        )
        .await);
        let key = created["key"].as_str().unwrap().to_string();

        let r = call(
            &client,
            "jira_get_issue",
            json!({"key": key, "fields": ["severity"]}),
        )
        .await;
        let out = ok(&r);
        let fields = out["fields"].as_array().expect("fields list");
        assert_eq!(fields.len(), 1, "{flavor:?}: {out}");
        assert_eq!(fields[0]["id"], "customfield_10050");
        assert_eq!(fields[0]["name"], "Severity");
        assert_eq!(fields[0]["value"], "S2 - Major", "{flavor:?}: {out}");
        assert!(
            text(&r).contains("Severity: S2 - Major"),
            "{flavor:?}: {}",
            text(&r)
        );
        // By id, as comma-separated text; a field the output shows anyway is not repeated.
        let out = ok(&call(
            &client,
            "jira_get_issue",
            json!({"key": key, "fields": "customfield_10050, Created"}),
        )
        .await);
        let names: Vec<&str> = out["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Severity"], "{flavor:?}: {out}");
        // A date field by its name: a day in the text, like every other date there.
        let done = ok(&call(
            &client,
            "jira_search",
            json!({"jql": "project = ENG AND status = Done", "max_results": 1}),
        )
        .await);
        let done_key = done["issues"][0]["key"].as_str().expect("a Done issue");
        let r = call(
            &client,
            "jira_get_issue",
            json!({"key": done_key, "fields": ["resolved"], "comment_limit": 0}),
        )
        .await;
        let out = ok(&r);
        assert_eq!(
            out["fields"][0]["id"], "resolutiondate",
            "{flavor:?}: {out}"
        );
        let stamp = out["fields"][0]["value"].as_str().expect("resolved date");
        let t = text(&r);
        let line = t
            .lines()
            .find(|l| l.contains("Resolved: "))
            .unwrap_or_else(|| panic!("{flavor:?}: no Resolved field in {t}"));
        let shown = line.split("Resolved: ").nth(1).unwrap();
        assert_eq!(
            shown,
            &stamp[..10],
            "{flavor:?}: not shown as a day: {line}"
        );
        assert!(stamp.len() > 10, "{flavor:?}: {stamp}");
        // Metadata is fetched once per process.
        assert_eq!(field_gets(&env), 1, "{flavor:?}: /field fetched again");

        // jira_search: names resolve, unknown fields are named in the output and the text.
        let r = call(
            &client,
            "jira_search",
            json!({"jql": format!("key = {key}"), "fields": ["Severity", "Sevrity", "reporter"]}),
        )
        .await;
        let out = ok(&r);
        assert_eq!(
            out["unknown_fields"],
            json!(["Sevrity"]),
            "{flavor:?}: {out}"
        );
        assert_eq!(
            out["issues"][0]["fields"]["customfield_10050"], "S2 - Major",
            "{flavor:?}: {out}"
        );
        assert!(out["issues"][0]["fields"]["reporter"].is_string());
        let t = text(&r);
        assert!(t.contains("unknown field(s): Sevrity"), "{flavor:?}: {t}");
        assert!(t.contains("Severity: S2 - Major"), "{flavor:?}: {t}");
        let out = ok(&call(
            &client,
            "jira_get_issue",
            json!({"key": key, "fields": ["Nonsense Field"]}),
        )
        .await);
        assert_eq!(out["unknown_fields"], json!(["Nonsense Field"]), "{out}");
        assert_eq!(field_gets(&env), 1, "{flavor:?}: /field fetched again");
        client.cancel().await.ok();
    }
}

/// Issue arguments take browse and board links on the configured site; a link to another
/// site is refused with the configured site named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_arguments_take_links_on_the_configured_site() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let site = match flavor {
            Flavor::Cloud => env.sandbox.base_url(),
            Flavor::DataCenter => env.sandbox.dc_base_url(),
        };
        let site = site.trim_end_matches('/').to_string();
        for link in [
            format!("{site}/browse/ENG-3"),
            format!("{site}/browse/eng-3?focusedCommentId=10001#comment-10001"),
            format!("{site}/jira/software/projects/ENG/boards/1?selectedIssue=ENG-3"),
            format!("{site}/projects/ENG/issues/ENG-3"),
        ] {
            let out = ok(&call(
                &client,
                "jira_get_issue",
                json!({"key": link, "comment_limit": 0}),
            )
            .await);
            assert_eq!(out["key"], "ENG-3", "{flavor:?}: {link}");
        }
        // Every tool that takes an existing issue's key: a write, through the same check.
        let out = ok(&call(
            &client,
            "jira_add_comment",
            json!({"key": format!("{site}/browse/ENG-3"), "body": "Seen via a link"}),
        )
        .await);
        assert_eq!(out["key"], "ENG-3");

        let e = err(&call(
            &client,
            "jira_get_issue",
            json!({"key": "https://elsewhere.atlassian.net/browse/ENG-3"}),
        )
        .await);
        let host = url::Url::parse(&site).unwrap();
        let host = host.host_str().unwrap();
        assert!(
            e.contains("elsewhere.atlassian.net") && e.contains(host),
            "{flavor:?}: {e}"
        );
        let e = err(&call(
            &client,
            "jira_get_issue",
            json!({"key": format!("{site}/jira/your-work")}),
        )
        .await);
        assert!(e.contains("names no issue"), "{flavor:?}: {e}");
        client.cancel().await.ok();
    }
}

fn count_posts(env: &Env) -> usize {
    env.sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/search/approximate-count"))
        .count()
}

/// Cloud's first page says "of ≈N" from the approximate count; later pages and one-page
/// results do not ask; a failing count never fails the search; Data Center has its total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_search_gives_an_approximate_total_on_cloud() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = env.client().await;
    let eng = env.sandbox.issue_count("ENG") as u64;
    let r = call(
        &client,
        "jira_search",
        json!({"jql": "project = ENG", "max_results": 5}),
    )
    .await;
    let out = ok(&r);
    assert_eq!(out["approximate_total"], eng, "{out}");
    assert!(out.get("total").is_none(), "{out}");
    assert!(
        text(&r).starts_with(&format!("5 issues of ≈{eng}")),
        "{}",
        text(&r)
    );
    assert_eq!(count_posts(&env), 1);
    let out = ok(&call(
        &client,
        "jira_search",
        json!({"jql": "project = ENG", "max_results": 5,
               "next_page_token": out["next_page_token"]}),
    )
    .await);
    assert!(out.get("approximate_total").is_none(), "{out}");
    ok(&call(&client, "jira_search", json!({"jql": "key = ENG-1"})).await);
    assert_eq!(
        count_posts(&env),
        1,
        "only first pages with more to come ask"
    );

    // Best effort: a missing scope (401) or a server error leaves the search intact.
    for status in [401, 500] {
        env.sandbox.faults().inject_with(
            FaultSpec {
                status,
                count: 1,
                retry_after: None,
                path_prefix: Some("/rest/api/3/search/approximate-count".into()),
            },
            FaultOptions::default(),
        );
        let r = call(
            &client,
            "jira_search",
            json!({"jql": "project = ENG", "max_results": 5}),
        )
        .await;
        let out = ok(&r);
        assert_eq!(out["issues"].as_array().unwrap().len(), 5);
        assert!(out.get("approximate_total").is_none(), "{status}: {out}");
        assert!(text(&r).starts_with("5 issues;"), "{status}: {}", text(&r));
    }
    client.cancel().await.ok();

    let env = Env::new(Flavor::DataCenter, "").await;
    let client = env.client().await;
    let r = call(
        &client,
        "jira_search",
        json!({"jql": "project = ENG", "max_results": 5}),
    )
    .await;
    let out = ok(&r);
    assert_eq!(out["total"], env.sandbox.issue_count("ENG") as u64);
    assert!(out.get("approximate_total").is_none());
    assert_eq!(count_posts(&env), 0);
    client.cancel().await.ok();
}
