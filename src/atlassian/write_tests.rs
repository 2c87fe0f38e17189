//! The write calls against the built-in sandbox over HTTP, Cloud and Data Center: issue
//! create, bulk create (partial and total failure, chunk limits, retries), edit, comment,
//! transitions, `find_marked`, create screens, and page create/update/conflict/look-ups.

use std::time::Duration;

use serde_json::{Map, Value, json};
use url::Url;

use super::confluence_write::SpaceRef;
use super::jira::IssueInclude;
use super::jira_write::{BULK_MAX, ItemOutcome, MARKER_PROPERTY, NewIssue};
use super::{Api, ApiError, CallTrace, DEFAULT_API_BASE, RetryPolicy};
use crate::config::Deployment;
use crate::sandbox::{self, FaultOptions, FaultSpec, Sandbox, SandboxOptions};

const BOTH: [Deployment; 2] = [Deployment::Cloud, Deployment::DataCenter];

async fn site(deployment: Deployment) -> (Sandbox, Api) {
    let sb = sandbox::start(SandboxOptions::default())
        .await
        .expect("sandbox starts");
    let settings = crate::cli::serve::sandbox_site(&sb.base_url(), deployment).expect("site");
    let retry = RetryPolicy {
        base_backoff: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    let api = Api::new(
        &settings,
        &Url::parse(DEFAULT_API_BASE).expect("url"),
        None,
        retry,
    )
    .expect("api");
    (sb, api)
}

/// The REST prefix of Jira in the sandbox for this deployment.
fn jira_prefix(deployment: Deployment) -> &'static str {
    match deployment {
        Deployment::Cloud => "/rest/api/3",
        Deployment::DataCenter => "/dc/rest/api/2",
    }
}

fn issue(api: &Api, summary: Option<&str>, marker: Option<Value>) -> NewIssue {
    let mut fields = Map::new();
    fields.insert("project".into(), json!({"key": "ENG"}));
    fields.insert("issuetype".into(), json!({"name": "Task"}));
    if let Some(s) = summary {
        fields.insert("summary".into(), json!(s));
    }
    fields.insert(
        "description".into(),
        api.jira().rich_text("Some **bold** text"),
    );
    NewIssue {
        fields,
        properties: marker
            .map(|m| vec![(MARKER_PROPERTY.to_string(), m)])
            .unwrap_or_default(),
    }
}

fn created_key(o: &ItemOutcome) -> &str {
    match o {
        ItemOutcome::Created(c) => &c.key,
        ItemOutcome::Failed(why) => panic!("expected a created issue, got failure {why}"),
    }
}

fn status_of(e: &ApiError) -> Option<u16> {
    match e {
        ApiError::Status { status, .. } => Some(*status),
        _ => None,
    }
}

#[tokio::test]
async fn create_edit_and_comment() {
    for deployment in BOTH {
        let (sb, api) = site(deployment).await;
        let jira = api.jira();
        let trace = CallTrace::new();
        let before = sb.issue_count("ENG");
        let created = jira
            .create_issue(
                &trace,
                &issue(&api, Some("First"), Some(json!({"op": "a"}))),
            )
            .await
            .expect("created");
        assert!(created.key.starts_with("ENG-"), "{created:?}");
        assert!(!created.id.is_empty());
        assert_eq!(sb.issue_count("ENG"), before + 1);

        let detail = jira
            .issue(&trace, &created.key, IssueInclude::default())
            .await
            .expect("read back");
        assert_eq!(detail.issue.summary.as_deref(), Some("First"));
        let description = detail.issue.description.expect("description").to_markdown();
        assert!(
            description.contains("**bold**"),
            "{deployment:?}: {description}"
        );

        let mut fields = Map::new();
        fields.insert("summary".into(), json!("Renamed"));
        let mut update = Map::new();
        update.insert("labels".into(), json!([{"add": "bridge"}]));
        jira.edit_issue(&trace, &created.key, &fields, &update)
            .await
            .expect("edited");
        let detail = jira
            .issue(&trace, &created.key, IssueInclude::default())
            .await
            .expect("read back");
        assert_eq!(detail.issue.summary.as_deref(), Some("Renamed"));
        assert_eq!(detail.issue.labels, vec!["bridge".to_string()]);

        let comment_id = jira
            .add_comment(&trace, &created.key, jira.rich_text("A _note_"))
            .await
            .expect("commented");
        assert!(!comment_id.is_empty());
        let comments = jira
            .latest_comments(&trace, &created.key, 10)
            .await
            .expect("comments");
        assert_eq!(comments.comments.len(), 1);
        assert_eq!(
            comments.comments[0].id.as_deref(),
            Some(comment_id.as_str())
        );

        // One POST to /issue (201) and one PUT (204).
        let seen = sb.requests();
        let posts: Vec<_> = seen.iter().filter(|r| r.method == "POST").collect();
        assert_eq!(posts[0].path, format!("{}/issue", jira_prefix(deployment)));
        assert_eq!(posts[0].status, 201);
        let puts: Vec<_> = seen.iter().filter(|r| r.method == "PUT").collect();
        assert_eq!(puts.len(), 1);
        assert_eq!(puts[0].status, 204);
        sb.shutdown().await;
    }
}

#[tokio::test]
async fn field_errors_come_back_as_status_messages() {
    for deployment in BOTH {
        let (sb, api) = site(deployment).await;
        let trace = CallTrace::new();
        let err = api
            .jira()
            .create_issue(&trace, &issue(&api, None, None))
            .await
            .expect_err("no summary");
        assert_eq!(status_of(&err), Some(400), "{err:?}");
        let ApiError::Status { messages, .. } = &err else {
            unreachable!()
        };
        assert!(
            messages.iter().any(|m| m.starts_with("summary: ")),
            "{deployment:?}: {messages:?}"
        );
        let err = api
            .jira()
            .edit_issue(&trace, "ENG-99999", &Map::new(), &Map::new())
            .await
            .expect_err("no such issue");
        assert_eq!(status_of(&err), Some(404));
        sb.shutdown().await;
    }
}

#[tokio::test]
async fn bulk_failure_in_the_middle_keeps_indexes() {
    for deployment in BOTH {
        let (sb, api) = site(deployment).await;
        let trace = CallTrace::new();
        let before = sb.issue_count("ENG");
        let items = vec![
            issue(&api, Some("one"), Some(json!({"item": 0}))),
            issue(&api, Some("two"), Some(json!({"item": 1}))),
            issue(&api, None, Some(json!({"item": 2}))),
            issue(&api, Some("four"), Some(json!({"item": 3}))),
        ];
        let out = api
            .jira()
            .bulk_create(&trace, &items)
            .await
            .expect("partial success is Ok");
        assert_eq!(out.len(), 4);
        assert!(
            matches!(&out[2], ItemOutcome::Failed(why) if why.starts_with("summary: ")),
            "{deployment:?}: {:?}",
            out[2]
        );
        let keys: Vec<&str> = [0, 1, 3].iter().map(|i| created_key(&out[*i])).collect();
        assert_eq!(sb.issue_count("ENG"), before + 3);
        // Each created key holds the summary of its own input item.
        for (key, summary) in keys.iter().zip(["one", "two", "four"]) {
            let d = api
                .jira()
                .issue(&trace, key, IssueInclude::default())
                .await
                .expect("read back");
            assert_eq!(d.issue.summary.as_deref(), Some(summary), "{key}");
        }
        sb.shutdown().await;
    }
}

#[tokio::test]
async fn bulk_all_failed_is_ok_with_every_reason() {
    for deployment in BOTH {
        let (sb, api) = site(deployment).await;
        let trace = CallTrace::new();
        let before = sb.issue_count("ENG");
        let mut bad_type = issue(&api, Some("typed"), None);
        bad_type
            .fields
            .insert("issuetype".into(), json!({"id": "424242"}));
        let items = vec![issue(&api, None, None), bad_type];
        let out = api
            .jira()
            .bulk_create(&trace, &items)
            .await
            .expect("all failed is still Ok");
        assert_eq!(out.len(), 2);
        assert!(
            matches!(&out[0], ItemOutcome::Failed(why) if why.contains("summary: ")),
            "{out:?}"
        );
        assert!(
            matches!(&out[1], ItemOutcome::Failed(why) if why.contains("issuetype: ")),
            "{out:?}"
        );
        assert_eq!(sb.issue_count("ENG"), before);
        let bulk: Vec<_> = sb
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect();
        assert_eq!(bulk.len(), 1);
        assert_eq!(bulk[0].status, 400);
        assert_eq!(
            bulk[0].path,
            format!("{}/issue/bulk", jira_prefix(deployment))
        );
        sb.shutdown().await;
    }
}

#[tokio::test]
async fn bulk_refusals_and_retries() {
    let (sb, api) = site(Deployment::Cloud).await;
    let jira = api.jira();
    let path = "/rest/api/3/issue/bulk";

    // More than one chunk is refused before any request; nothing is an empty answer.
    let many: Vec<NewIssue> = (0..=BULK_MAX)
        .map(|i| issue(&api, Some(&format!("n{i}")), None))
        .collect();
    let err = jira
        .bulk_create(&CallTrace::new(), &many)
        .await
        .expect_err("51 items");
    assert_eq!(status_of(&err), Some(400));
    assert!(
        jira.bulk_create(&CallTrace::new(), &[])
            .await
            .expect("empty")
            .is_empty()
    );
    assert!(sb.requests().is_empty());

    // A 400 without per-element errors is an Err carrying Jira's message.
    sb.faults().inject(FaultSpec {
        status: 400,
        count: 1,
        retry_after: None,
        path_prefix: Some(path.into()),
    });
    let err = jira
        .bulk_create(&CallTrace::new(), &many[..2])
        .await
        .expect_err("request-level 400");
    let ApiError::Status {
        status, messages, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*status, 400);
    assert!(!messages.is_empty(), "{err:?}");

    // 429 is retried for a POST …
    sb.clear_requests();
    sb.faults().inject(FaultSpec {
        status: 429,
        count: 1,
        retry_after: Some(0),
        path_prefix: Some(path.into()),
    });
    let out = jira
        .bulk_create(&CallTrace::new(), &many[..2])
        .await
        .expect("retried after 429");
    assert!(out.iter().all(|o| matches!(o, ItemOutcome::Created(_))));
    let statuses: Vec<u16> = sb.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 201]);

    // … but 502 is not (the issues may exist by then).
    sb.clear_requests();
    sb.faults().inject_with(
        FaultSpec {
            status: 502,
            count: 1,
            retry_after: None,
            path_prefix: Some(path.into()),
        },
        FaultOptions {
            method: Some("POST".into()),
            ..FaultOptions::default()
        },
    );
    let err = jira
        .bulk_create(&CallTrace::new(), &many[..2])
        .await
        .expect_err("502 reported");
    assert_eq!(status_of(&err), Some(502));
    assert_eq!(sb.requests().len(), 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn transitions_then_transition_with_comment() {
    for deployment in BOTH {
        let (sb, api) = site(deployment).await;
        let jira = api.jira();
        let trace = CallTrace::new();
        let created = jira
            .create_issue(&trace, &issue(&api, Some("Move me"), None))
            .await
            .expect("created");
        let list = jira
            .transitions(&trace, &created.key)
            .await
            .expect("transitions");
        assert!(!list.is_empty());
        let to_progress = list
            .iter()
            .find(|t| t.to.as_deref() == Some("In Progress"))
            .expect("In Progress is reachable from To Do");
        jira.transition(
            &trace,
            &created.key,
            &to_progress.id,
            Some(jira.rich_text("Starting work")),
        )
        .await
        .expect("transitioned");
        let d = jira
            .issue(&trace, &created.key, IssueInclude::default())
            .await
            .expect("read back");
        assert_eq!(d.issue.status.as_deref(), Some("In Progress"));
        let comments = jira
            .latest_comments(&trace, &created.key, 5)
            .await
            .expect("comments");
        assert_eq!(comments.comments.len(), 1);
        let text = comments.comments[0]
            .body
            .as_ref()
            .expect("body")
            .to_markdown();
        assert!(text.contains("Starting work"), "{text}");

        // Without a comment, and an invalid id is Jira's 400.
        let back = jira
            .transitions(&trace, &created.key)
            .await
            .expect("transitions");
        let to_do = back
            .iter()
            .find(|t| t.to.as_deref() == Some("To Do"))
            .expect("back to To Do");
        jira.transition(&trace, &created.key, &to_do.id, None)
            .await
            .expect("transitioned back");
        let err = jira
            .transition(&trace, &created.key, "999", None)
            .await
            .expect_err("bad transition");
        assert_eq!(status_of(&err), Some(400));
        sb.shutdown().await;
    }
}

#[tokio::test]
async fn find_marked_sees_recent_issues_with_their_markers() {
    for deployment in BOTH {
        let (sb, api) = site(deployment).await;
        let jira = api.jira();
        let trace = CallTrace::new();
        let items = vec![
            issue(&api, Some("m0"), Some(json!({"op": "op-1", "item": 0}))),
            issue(&api, Some("m1"), Some(json!({"op": "op-1", "item": 1}))),
        ];
        let out = jira.bulk_create(&trace, &items).await.expect("bulk");
        let unmarked = jira
            .create_issue(&trace, &issue(&api, Some("plain"), None))
            .await
            .expect("created");
        let found = jira
            .find_marked(&trace, "ENG", Duration::from_secs(600))
            .await
            .expect("found");
        let marker_of = |key: &str| {
            found
                .iter()
                .find(|(c, _)| c.key == key)
                .map(|(_, m)| m.clone())
        };
        assert_eq!(
            marker_of(created_key(&out[0])),
            Some(Some(json!({"op": "op-1", "item": 0}))),
            "{deployment:?}: {found:?}"
        );
        assert_eq!(
            marker_of(created_key(&out[1])),
            Some(Some(json!({"op": "op-1", "item": 1})))
        );
        assert_eq!(marker_of(&unmarked.key), Some(None));
        // Newest first.
        let pos = |key: &str| found.iter().position(|(c, _)| c.key == key);
        assert!(pos(&unmarked.key) < pos(created_key(&out[0])));
        // Other projects are not searched.
        let ops = jira
            .find_marked(&trace, "OPS", Duration::from_secs(600))
            .await
            .expect("ops");
        assert!(ops.iter().all(|(c, _)| c.key.starts_with("OPS-")));
        assert!(ops.iter().all(|(_, m)| m.is_none()));
        let searches: Vec<_> = sb
            .requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.contains("/search"))
            .collect();
        let query = searches[0].query.clone().unwrap_or_default();
        assert!(query.contains("properties=atlassian-mcp-bridge"), "{query}");
        assert!(query.contains("currentUser"), "{query}");
        sb.shutdown().await;
    }
}

#[tokio::test]
async fn create_screen_has_ids_and_create_fields_agrees() {
    for deployment in BOTH {
        let (sb, api) = site(deployment).await;
        let jira = api.jira();
        let trace = CallTrace::new();
        let bug = "10002";
        let screen = jira
            .create_screen(&trace, "ENG", bug)
            .await
            .expect("screen");
        let priority = screen
            .iter()
            .find(|f| f.id == "priority")
            .expect("priority");
        assert_eq!(priority.schema_type, "priority");
        assert_eq!(priority.system.as_deref(), Some("priority"));
        let high = priority
            .choices
            .iter()
            .find(|c| c.name.as_deref() == Some("High"))
            .expect("High");
        assert_eq!(high.id.as_deref(), Some("2"));
        let team = screen
            .iter()
            .find(|f| f.id == "customfield_10020")
            .expect("Team");
        assert!(team.required);
        assert_eq!(team.schema_type, "option");
        assert!(team.custom.is_some());
        assert!(
            team.choices
                .iter()
                .any(|c| c.value.as_deref() == Some("Platform") && c.id.as_deref() == Some("10300"))
        );
        let labels = screen.iter().find(|f| f.id == "labels").expect("labels");
        assert_eq!(
            (labels.schema_type.as_str(), labels.items.as_deref()),
            ("array", Some("string"))
        );

        let metas = jira
            .create_fields(&trace, "ENG", bug)
            .await
            .expect("fields");
        assert_eq!(metas.len(), screen.len());
        let labels = metas.iter().find(|f| f.id == "labels").expect("labels");
        assert_eq!(labels.kind, "array<string>");
        let team = metas
            .iter()
            .find(|f| f.id == "customfield_10020")
            .expect("Team");
        assert!(team.allowed.contains(&"Platform".to_string()));
        sb.shutdown().await;
    }
}

#[tokio::test]
async fn pages_create_update_conflict_and_look_ups() {
    for deployment in BOTH {
        let (sb, api) = site(deployment).await;
        let conf = api.confluence();
        let trace = CallTrace::new();

        assert_eq!(conf.space_ref(&trace, "NOPE").await.expect("lookup"), None);
        let space = conf
            .space_ref(&trace, "ENG")
            .await
            .expect("lookup")
            .expect("ENG exists");
        let expected = match deployment {
            Deployment::Cloud => SpaceRef {
                key: "ENG".into(),
                id: "98305".into(),
            },
            Deployment::DataCenter => SpaceRef {
                key: "ENG".into(),
                id: "ENG".into(),
            },
        };
        assert_eq!(space, expected);

        let before = sb.page_count("ENG");
        let page = conf
            .create_page(&trace, &space, "Bridge notes", "<p>v1</p>", None)
            .await
            .expect("created");
        assert_eq!(page.version, 1);
        assert_eq!(page.title, "Bridge notes");
        assert!(
            page.url
                .as_deref()
                .is_some_and(|u| u.contains(&page.id) || u.contains("Bridge"))
        );
        assert_eq!(sb.page_count("ENG"), before + 1);

        let child = conf
            .create_page(&trace, &space, "Bridge child", "<p>c</p>", Some(&page.id))
            .await
            .expect("child");
        let read = conf.page(&trace, &child.id).await.expect("child read");
        assert_eq!(read.parent_id.as_deref(), Some(page.id.as_str()));

        // Same title again: Confluence refuses with 400.
        let err = conf
            .create_page(&trace, &space, "Bridge notes", "<p>again</p>", None)
            .await
            .expect_err("duplicate title");
        assert_eq!(status_of(&err), Some(400), "{err:?}");

        let found = conf
            .find_page_by_title(&trace, &space, "Bridge notes")
            .await
            .expect("find")
            .expect("found");
        assert_eq!((found.id.as_str(), found.version), (page.id.as_str(), 1));
        assert_eq!(
            conf.find_page_by_title(&trace, &space, "No such page")
                .await
                .expect("find"),
            None
        );

        let now = conf
            .current_version(&trace, &page.id)
            .await
            .expect("current");
        assert_eq!(now.number, 1);
        assert_eq!(now.storage, "<p>v1</p>");
        assert_eq!(now.title, "Bridge notes");
        assert_eq!(now.space_key.as_deref(), Some("ENG"));
        assert!(now.by.is_some() && now.when.is_some(), "{now:?}");
        let expected_by = match deployment {
            Deployment::Cloud => sandbox::SANDBOX_ACCOUNT_ID,
            Deployment::DataCenter => "Dana Demo",
        };
        assert_eq!(now.by.as_deref(), Some(expected_by));

        let updated = conf
            .update_page(
                &trace,
                &page.id,
                "Bridge notes v2",
                "<p>v2</p>",
                2,
                Some("second"),
            )
            .await
            .expect("updated");
        assert_eq!(
            (updated.version, updated.title.as_str()),
            (2, "Bridge notes v2")
        );

        // Repeating the very same write (as a retry after a lost answer would) is no conflict.
        let again = conf
            .update_page(
                &trace,
                &page.id,
                "Bridge notes v2",
                "<p>v2</p>",
                2,
                Some("second"),
            )
            .await
            .expect("same version again");
        assert_eq!(again.version, 2);
        assert_eq!(again.url, updated.url);
        let err = conf
            .update_page(&trace, &page.id, "Stale", "<p>stale</p>", 2, None)
            .await
            .expect_err("stale version");
        assert_eq!(status_of(&err), Some(409), "{err:?}");

        let now = conf
            .current_version(&trace, &page.id)
            .await
            .expect("current");
        assert_eq!((now.number, now.title.as_str()), (2, "Bridge notes v2"));
        assert_eq!(now.storage, "<p>v2</p>");
        // The update kept the parent, and the child still hangs under the page.
        let read = conf.page(&trace, &child.id).await.expect("child read");
        assert_eq!(read.parent_id.as_deref(), Some(page.id.as_str()));
        sb.shutdown().await;
    }
}

#[tokio::test]
async fn page_updates_are_retried_on_502_and_creates_are_not() {
    for deployment in BOTH {
        let (sb, api) = site(deployment).await;
        let conf = api.confluence();
        let trace = CallTrace::new();
        let space = conf
            .space_ref(&trace, "OPS")
            .await
            .expect("lookup")
            .expect("OPS");
        let prefix = match deployment {
            Deployment::Cloud => "/wiki/api/v2/pages",
            Deployment::DataCenter => "/dc/rest/api/content",
        };
        let fault = |method: &str| {
            sb.faults().inject_with(
                FaultSpec {
                    status: 502,
                    count: 1,
                    retry_after: None,
                    path_prefix: Some(prefix.into()),
                },
                FaultOptions {
                    method: Some(method.into()),
                    ..FaultOptions::default()
                },
            );
        };
        fault("POST");
        let err = conf
            .create_page(&trace, &space, "Flaky", "<p>x</p>", None)
            .await
            .expect_err("POST 502 is reported");
        assert_eq!(status_of(&err), Some(502));
        let page = conf
            .create_page(&trace, &space, "Flaky", "<p>x</p>", None)
            .await
            .expect("created");
        sb.clear_requests();
        fault("PUT");
        let updated = conf
            .update_page(&CallTrace::new(), &page.id, "Flaky", "<p>y</p>", 2, None)
            .await
            .expect("PUT retried after 502");
        assert_eq!(updated.version, 2);
        let statuses: Vec<u16> = sb.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [502, 200]);
        sb.shutdown().await;
    }
}

#[tokio::test]
async fn find_marked_follows_pages_past_one_hundred() {
    for deployment in BOTH {
        let (sb, api) = site(deployment).await;
        let jira = api.jira();
        let trace = CallTrace::new();
        let all: Vec<NewIssue> = (0..120)
            .map(|i| issue(&api, Some(&format!("p{i}")), Some(json!({"n": i}))))
            .collect();
        for chunk in all.chunks(BULK_MAX) {
            let out = jira
                .bulk_create(&CallTrace::new(), chunk)
                .await
                .expect("chunk");
            assert_eq!(out.len(), chunk.len());
            assert!(out.iter().all(|o| matches!(o, ItemOutcome::Created(_))));
        }
        sb.clear_requests();
        let found = jira
            .find_marked(&trace, "ENG", Duration::from_secs(1))
            .await
            .expect("found");
        let mut marks: Vec<i64> = found
            .iter()
            .filter_map(|(_, m)| m.as_ref()?.get("n")?.as_i64())
            .collect();
        marks.sort_unstable();
        assert_eq!(marks, (0..120).collect::<Vec<i64>>(), "{deployment:?}");
        let mut keys: Vec<&str> = found.iter().map(|(c, _)| c.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), found.len(), "no issue twice");
        assert!(sb.requests().len() >= 2, "more than one page was read");
        sb.shutdown().await;
    }
}

#[tokio::test]
async fn edits_retry_502_unless_they_add_a_comment() {
    let (sb, api) = site(Deployment::Cloud).await;
    let jira = api.jira();
    let fault = || {
        sb.faults().inject_with(
            FaultSpec {
                status: 502,
                count: 1,
                retry_after: None,
                path_prefix: Some("/rest/api/3/issue/ENG-1".into()),
            },
            FaultOptions {
                method: Some("PUT".into()),
                ..FaultOptions::default()
            },
        );
    };
    let mut fields = Map::new();
    fields.insert("summary".into(), json!("Edited twice is edited once"));
    fault();
    jira.edit_issue(&CallTrace::new(), "ENG-1", &fields, &Map::new())
        .await
        .expect("retried after 502");
    let statuses: Vec<u16> = sb.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [502, 204]);

    sb.clear_requests();
    let mut update = Map::new();
    update.insert(
        "comment".into(),
        json!([{"add": {"body": jira.rich_text("once")}}]),
    );
    fault();
    let err = jira
        .edit_issue(&CallTrace::new(), "ENG-1", &Map::new(), &update)
        .await
        .expect_err("a comment is not sent twice");
    assert_eq!(status_of(&err), Some(502));
    assert_eq!(sb.requests().len(), 1);
    sb.shutdown().await;
}
