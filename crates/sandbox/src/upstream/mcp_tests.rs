//! Tests of the upstream MCP endpoint over real Streamable HTTP (raw JSON-RPC, JSON or SSE
//! answers) against a sandbox on port 0: tools and annotations, each tool on the sandbox's
//! data (a created issue visible to REST), errors, progress, cancellation, the extra tool
//! with `notifications/tools/list_changed`, revoked tokens and the unreachable switch.
//! (Test code only.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};

use super::super::{SANDBOX_API_TOKEN, SANDBOX_CLOUD_ID, SANDBOX_EMAIL};
use super::test_client::{Mcp, http, login, sandbox, wait_for};

/// A tool result's structured content, checked against its text block.
fn structured(result: &Value) -> Value {
    assert_eq!(result["isError"], json!(false), "{result}");
    let text = result["content"][0]["text"].as_str().expect("text block");
    let parsed: Value = serde_json::from_str(text).expect("text is JSON");
    assert_eq!(parsed, result["structuredContent"]);
    parsed
}

#[tokio::test]
async fn tools_list_with_annotations_and_every_tool_answers_from_the_sandbox() {
    let sb = sandbox().await;
    let l = login(&sb).await;
    let mut mcp = Mcp::start(sb.upstream_url(), &l.access).await;
    let list = mcp.request("tools/list", json!({})).await;
    let tools = list["tools"].as_array().expect("tools");
    let hint = |name: &str| {
        tools
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))["annotations"]["readOnlyHint"]
            .clone()
    };
    assert_eq!(tools.len(), 5);
    for read in [
        "atlassianUserInfo",
        "getJiraIssue",
        "searchJiraIssuesUsingJql",
        "getConfluencePage",
    ] {
        assert_eq!(hint(read), json!(true), "{read}");
    }
    assert_eq!(hint("createJiraIssue"), json!(false));

    let me = structured(&mcp.call("atlassianUserInfo", json!({})).await);
    assert_eq!(me["account_id"], json!(super::super::SANDBOX_ACCOUNT_ID));

    let issue = structured(
        &mcp.call(
            "getJiraIssue",
            json!({"cloudId": SANDBOX_CLOUD_ID, "issueIdOrKey": "ENG-1"}),
        )
        .await,
    );
    assert_eq!(issue["key"], json!("ENG-1"));
    assert_eq!(issue["fields"]["project"]["key"], json!("ENG"));
    assert!(
        issue["fields"]["summary"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(issue["fields"]["status"]["name"].as_str().is_some());

    let missing = mcp
        .call(
            "getJiraIssue",
            json!({"cloudId": SANDBOX_CLOUD_ID, "issueIdOrKey": "ENG-9999"}),
        )
        .await;
    assert_eq!(missing["isError"], json!(true));
    assert!(
        missing["content"][0]["text"]
            .as_str()
            .expect("text")
            .contains("does not exist")
    );
    let elsewhere = mcp
        .call(
            "getJiraIssue",
            json!({"cloudId": "another-site", "issueIdOrKey": "ENG-1"}),
        )
        .await;
    assert_eq!(elsewhere["isError"], json!(true));

    let found = structured(
        &mcp.call(
            "searchJiraIssuesUsingJql",
            json!({"cloudId": SANDBOX_CLOUD_ID, "jql": "project = ENG ORDER BY key ASC", "maxResults": 5}),
        )
        .await,
    );
    assert_eq!(found["total"], json!(64));
    let issues = found["issues"].as_array().expect("issues");
    assert_eq!(issues.len(), 5);
    assert!(
        issues
            .iter()
            .all(|i| i["key"].as_str().is_some_and(|k| k.starts_with("ENG-")))
    );
    assert!(issues[0]["fields"]["summary"].as_str().is_some());
    let bad_jql = mcp
        .call(
            "searchJiraIssuesUsingJql",
            json!({"cloudId": SANDBOX_CLOUD_ID, "jql": "project = = ENG"}),
        )
        .await;
    assert_eq!(bad_jql["isError"], json!(true));

    let page = structured(
        &mcp.call(
            "getConfluencePage",
            json!({"cloudId": SANDBOX_CLOUD_ID, "pageId": "100101"}),
        )
        .await,
    );
    assert_eq!(
        (page["id"].as_str(), page["spaceKey"].as_str()),
        (Some("100101"), Some("ENG"))
    );
    assert!(page["title"].as_str().is_some() && page["body"].as_str().is_some());

    let created = structured(
        &mcp.call(
            "createJiraIssue",
            json!({"cloudId": SANDBOX_CLOUD_ID, "projectKey": "ENG", "issueTypeName": "Task",
                   "summary": "Made upstream", "description": "From the MCP server."}),
        )
        .await,
    );
    assert_eq!(created["key"], json!("ENG-65"));
    assert_eq!(sb.issue_count("ENG"), 65);
    let rest: Value = http()
        .get(format!("{}/rest/api/3/issue/ENG-65", sb.base_url()))
        .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN))
        .send()
        .await
        .expect("rest")
        .json()
        .await
        .expect("json");
    assert_eq!(rest["fields"]["summary"], json!("Made upstream"));
    assert_eq!(rest["id"], created["id"]);

    let c = sb.upstream().counters();
    assert_eq!(c.tool_calls["getJiraIssue"], 3);
    assert_eq!(c.tool_calls["createJiraIssue"], 1);
    let names: Vec<&str> = c.calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.first(), Some(&"atlassianUserInfo"));
    assert_eq!(names.last(), Some(&"createJiraIssue"));
    assert_eq!(
        c.calls[1].arguments,
        json!({"cloudId": SANDBOX_CLOUD_ID, "issueIdOrKey": "ENG-1"})
    );
    assert_eq!(c.sessions, 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn search_sends_progress_and_stops_on_cancellation() {
    let sb = sandbox().await;
    let l = login(&sb).await;
    let mut mcp = Mcp::start(sb.upstream_url(), &l.access).await;
    let all = mcp
        .request_all(
            "tools/call",
            json!({"name": "searchJiraIssuesUsingJql", "_meta": {"progressToken": "p-1"},
                   "arguments": {"cloudId": SANDBOX_CLOUD_ID, "jql": "project = OPS"}}),
        )
        .await;
    let progress: Vec<&Value> = all
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 2, "{all:?}");
    assert!(
        progress
            .iter()
            .all(|p| p["params"]["progressToken"] == "p-1")
    );
    assert_eq!(
        all.last().expect("answer")["result"]["structuredContent"]["total"],
        json!(30)
    );

    // A held call ends when the client cancels it.
    sb.upstream().set_tool_delay(Duration::from_secs(60));
    let url = sb.upstream_url();
    let (token, session) = (mcp.token.clone(), mcp.session.clone());
    let call = tokio::spawn(async move {
        let mut held = Mcp::new(url, &token);
        held.session = session;
        held.next_id = 100;
        held.request_all(
            "tools/call",
            json!({"name": "searchJiraIssuesUsingJql",
                   "arguments": {"cloudId": SANDBOX_CLOUD_ID, "jql": "project = OPS"}}),
        )
        .await
    });
    // Wait until the server holds the spawned call (request id 100).
    let mut held = false;
    for _ in 0..400 {
        if sb.upstream().counters().calls.len() == 2 {
            held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(held, "the held call never arrived");
    mcp.notify(
        "notifications/cancelled",
        json!({"requestId": 100, "reason": "user abort"}),
    )
    .await;
    let mut stopped = false;
    for _ in 0..400 {
        if sb.upstream().counters().cancelled == 1 {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    call.abort();
    assert!(stopped, "the tool did not stop on cancellation");
    sb.shutdown().await;
}

#[tokio::test]
async fn extra_tool_switch_changes_the_list_and_notifies_sessions() {
    let sb = sandbox().await;
    let l = login(&sb).await;
    let mut mcp = Mcp::start(sb.upstream_url(), &l.access).await;
    assert!(
        !mcp.tool_names()
            .await
            .contains(&"getJiraIssueRemoteLinks".to_string())
    );
    let stream = mcp.open_stream().await;
    sb.upstream().set_extra_tool(true);
    assert!(wait_for(stream, "notifications/tools/list_changed").await);
    assert!(
        mcp.tool_names()
            .await
            .contains(&"getJiraIssueRemoteLinks".to_string())
    );
    let links = structured(
        &mcp.call(
            "getJiraIssueRemoteLinks",
            json!({"cloudId": SANDBOX_CLOUD_ID, "issueIdOrKey": "ENG-2"}),
        )
        .await,
    );
    assert_eq!(links["issueKey"], json!("ENG-2"));

    // Over HTTP, and removed again.
    let stream = mcp.open_stream().await;
    let r = http()
        .post(format!("{}/__sandbox/upstream", sb.base_url()))
        .json(&json!({"extra_tool": false}))
        .send()
        .await
        .expect("control");
    assert_eq!(r.status().as_u16(), 200);
    assert!(wait_for(stream, "notifications/tools/list_changed").await);
    assert_eq!(mcp.tool_names().await.len(), 5);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_revoked_grant_or_an_unreachable_site_ends_the_session() {
    let sb = sandbox().await;
    let l = login(&sb).await;
    let mut mcp = Mcp::start(sb.upstream_url(), &l.access).await;
    assert_eq!(mcp.tool_names().await.len(), 5);

    sb.set_reachable(false);
    let refused = http()
        .post(sb.upstream_url())
        .bearer_auth(&l.access)
        .json(&json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "the MCP endpoint answered while unreachable"
    );
    sb.set_reachable(true);
    assert_eq!(mcp.tool_names().await.len(), 5);

    assert_eq!(sb.upstream().revoke_all(), 1);
    let r = http()
        .post(sb.upstream_url())
        .bearer_auth(&l.access)
        .header("Accept", "application/json, text/event-stream")
        .header("mcp-session-id", mcp.session.as_deref().expect("session"))
        .json(&json!({"jsonrpc": "2.0", "id": 10, "method": "tools/list"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 401);

    // A minted grant works without the browser flow.
    let grant = sb.upstream().mint("http://127.0.0.1:9/callback");
    let mut again = Mcp::start(sb.upstream_url(), &grant.access_token).await;
    assert_eq!(again.tool_names().await.len(), 5);
    sb.shutdown().await;
}
