//! The upstream MCP server's tools, named and shaped like those of Atlassian's hosted MCP
//! server, answered from the sandbox's own data through its REST handlers (the JQL engine,
//! the issue JSON, the create path with its field validation), so a created issue is visible
//! to the REST API too. Results carry the JSON twice, as Atlassian's do: a text block and
//! `structuredContent`; a missing issue or page is `isError: true` with a message.

use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::http::Method;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProgressToken,
    ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData as McpError, Peer, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::super::routing::{dispatch, dispatch_write};
use super::super::seed::{DEMO, text_adf};
use super::super::wire::{Family, Params, Reply};
use super::super::{Req, SANDBOX_CLOUD_ID, Shared, Site};

const USER_INFO: &str = "atlassianUserInfo";
const GET_ISSUE: &str = "getJiraIssue";
const SEARCH: &str = "searchJiraIssuesUsingJql";
const CREATE: &str = "createJiraIssue";
const GET_PAGE: &str = "getConfluencePage";
/// The tool the `extra_tool` switch adds.
const REMOTE_LINKS: &str = "getJiraIssueRemoteLinks";

/// The issue fields the read tools return.
const ISSUE_FIELDS: &str =
    "summary,status,project,issuetype,priority,assignee,reporter,labels,created,updated";

/// One MCP session's handler; it reaches the sandbox through a weak reference, so open
/// sessions do not keep a stopped sandbox alive.
#[derive(Clone)]
pub(super) struct RovoServer {
    shared: Weak<Shared>,
}

impl RovoServer {
    pub(super) fn new(shared: Weak<Shared>) -> Self {
        Self { shared }
    }

    fn shared(&self) -> Result<Arc<Shared>, McpError> {
        self.shared
            .upgrade()
            .ok_or_else(|| McpError::internal_error("the sandbox has stopped", None))
    }
}

fn schema(props: Value, required: &[&str]) -> Arc<JsonObject> {
    let v = json!({"type": "object", "properties": props, "required": required});
    match v {
        Value::Object(m) => Arc::new(m),
        _ => Arc::default(),
    }
}

fn read_only(title: &str) -> ToolAnnotations {
    ToolAnnotations::with_title(title)
        .read_only(true)
        .open_world(true)
}

/// The tools listed now (`getJiraIssueRemoteLinks` only with the `extra_tool` switch).
fn tools(extra: bool) -> Vec<Tool> {
    let cloud =
        json!({"type": "string", "description": "The cloud id or site URL of the Atlassian site."});
    let key = json!({"type": "string", "description": "Issue id or key, e.g. ENG-1."});
    let mut list = vec![
        Tool::new(
            USER_INFO,
            "Get the signed-in user's account id, name and email.",
            schema(json!({}), &[]),
        )
        .with_annotations(read_only("Get current user")),
        Tool::new(
            GET_ISSUE,
            "Get a Jira issue by id or key.",
            schema(json!({"cloudId": cloud, "issueIdOrKey": key}), &["cloudId", "issueIdOrKey"]),
        )
        .with_annotations(read_only("Get Jira issue")),
        Tool::new(
            SEARCH,
            "Search Jira issues with JQL.",
            schema(
                json!({"cloudId": cloud, "jql": {"type": "string", "description": "A JQL query."},
                       "maxResults": {"type": "integer", "minimum": 1, "maximum": 100, "description": "At most this many issues (default 50)."}}),
                &["cloudId", "jql"],
            ),
        )
        .with_annotations(read_only("Search Jira issues with JQL")),
        Tool::new(
            CREATE,
            "Create a Jira issue.",
            schema(
                json!({"cloudId": cloud, "projectKey": {"type": "string"}, "issueTypeName": {"type": "string"},
                       "summary": {"type": "string"}, "description": {"type": "string", "description": "Plain text."}}),
                &["cloudId", "projectKey", "issueTypeName", "summary"],
            ),
        )
        .with_annotations(
            ToolAnnotations::with_title("Create Jira issue")
                .read_only(false)
                .destructive(false)
                .open_world(true),
        ),
        Tool::new(
            GET_PAGE,
            "Get a Confluence page by id, with its body in storage format.",
            schema(json!({"cloudId": cloud, "pageId": {"type": "string"}}), &["cloudId", "pageId"]),
        )
        .with_annotations(read_only("Get Confluence page")),
    ];
    if extra {
        list.push(
            Tool::new(
                REMOTE_LINKS,
                "Get the remote links (web pages, documents) of a Jira issue.",
                schema(
                    json!({"cloudId": cloud, "issueIdOrKey": key}),
                    &["cloudId", "issueIdOrKey"],
                ),
            )
            .with_annotations(read_only("Get Jira issue remote links")),
        );
    }
    list
}

impl ServerHandler for RovoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("atlassian-rovo-sandbox", "1.0.0"))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let extra = self.shared()?.upstream.switches.settings().extra_tool;
        Ok(ListToolsResult::with_all_items(tools(extra)))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let shared = self.shared()?;
        let sw = &shared.upstream.switches;
        let args = request.arguments.unwrap_or_default();
        let name = request.name.as_ref();
        sw.record_call(name, Value::Object(args.clone()));
        let settings = sw.settings();
        if !tools(settings.extra_tool).iter().any(|t| t.name == name) {
            return Err(McpError::invalid_params(
                format!("Unknown tool: {name}"),
                None,
            ));
        }
        let ct = &context.ct;
        let progress = context.meta.get_progress_token().filter(|_| name == SEARCH);
        let cancelled = match progress {
            Some(token) => {
                let half = settings.tool_delay / 2;
                notify(&context.peer, &token, 1.0, "Running the JQL query").await;
                let stop = hold(ct, half).await;
                if !stop {
                    notify(&context.peer, &token, 2.0, "Collecting the issues").await;
                }
                stop || hold(ct, half).await
            }
            None => hold(ct, settings.tool_delay).await,
        };
        if cancelled {
            sw.record_cancelled();
            return Err(McpError::internal_error("the request was cancelled", None));
        }
        run(&shared, name, &args).map(Into::into)
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if let Ok(shared) = self.shared() {
            shared.upstream.switches.add_peer(context.peer);
        }
    }
}

async fn notify(peer: &Peer<RoleServer>, token: &ProgressToken, step: f64, message: &str) {
    let param = ProgressNotificationParam::new(token.clone(), step)
        .with_total(3.0)
        .with_message(message);
    if let Err(e) = peer.notify_progress(param).await {
        tracing::debug!(error = %e, "sandbox upstream: progress not sent");
    }
}

/// Waits `d` unless the request is cancelled first; `true` when it was cancelled.
async fn hold(ct: &CancellationToken, d: Duration) -> bool {
    if ct.is_cancelled() || d.is_zero() {
        return ct.is_cancelled();
    }
    tokio::select! {
        () = ct.cancelled() => true,
        () = tokio::time::sleep(d) => false,
    }
}

/// A required string argument (-32602 when missing or not a string).
fn arg<'a>(args: &'a JsonObject, name: &str) -> Result<&'a str, McpError> {
    args.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::trim)
        .ok_or_else(|| {
            McpError::invalid_params(format!("'{name}' is required and must be a string"), None)
        })
}

fn tool_error(message: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// The message of a REST error reply (Jira's `errorMessages` and `errors`).
fn reply_message(reply: &Reply) -> String {
    let Some(body) = &reply.body else {
        return format!("The request failed with status {}.", reply.status);
    };
    let mut parts: Vec<String> = body["errorMessages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect();
    if let Some(errors) = body["errors"].as_object() {
        parts.extend(
            errors
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default())),
        );
    }
    if parts.is_empty() {
        format!("The request failed with status {}.", reply.status)
    } else {
        parts.join(" ")
    }
}

/// A REST reply as a tool result: its JSON on success, its messages as an error otherwise.
fn from_reply(reply: Reply) -> CallToolResult {
    match reply.body {
        Some(body) if reply.status < 300 => CallToolResult::structured(body),
        _ => tool_error(&reply_message(&reply)),
    }
}

/// A Cloud request through the gateway for the sandbox's REST handlers.
fn site_req<'a>(base: &str, method: &'a Method, query: &str, body: &'a [u8]) -> Req<'a> {
    Req {
        method,
        site: Site::Cloud,
        jira_base: format!("{base}/ex/jira/{SANDBOX_CLOUD_ID}"),
        wiki_base: format!("{base}/ex/confluence/{SANDBOX_CLOUD_ID}/wiki"),
        wiki_context: "/wiki",
        params: Params::parse(Some(query)).unwrap_or_default(),
        body,
    }
}

/// Answers a Jira read (or search by POST) with the sandbox's handlers.
fn read(shared: &Shared, method: &Method, query: &str, body: &[u8], segs: &[&str]) -> Reply {
    let base = format!("http://{}", shared.addr);
    let req = site_req(&base, method, query, body);
    let store = shared.read_store();
    dispatch(&req.ctx(&store), Family::Jira, segs)
}

/// Runs one tool against the sandbox's data.
fn run(shared: &Shared, name: &str, args: &JsonObject) -> Result<CallToolResult, McpError> {
    let base = format!("http://{}", shared.addr);
    if name != USER_INFO {
        let cloud = arg(args, "cloudId")?;
        let host = shared.addr.to_string();
        if cloud != SANDBOX_CLOUD_ID && cloud.trim_end_matches('/') != base && cloud != host {
            return Ok(tool_error(&format!(
                "Cloud id '{cloud}' is not a site this account can reach; use {SANDBOX_CLOUD_ID}."
            )));
        }
    }
    Ok(match name {
        USER_INFO => user_info(shared),
        GET_ISSUE => {
            let key = arg(args, "issueIdOrKey")?;
            let query = format!("fields={ISSUE_FIELDS},description");
            from_reply(read(
                shared,
                &Method::GET,
                &query,
                b"",
                &["rest", "api", "3", "issue", key],
            ))
        }
        SEARCH => search(shared, args)?,
        CREATE => create(shared, &base, args)?,
        GET_PAGE => page(shared, &base, arg(args, "pageId")?),
        REMOTE_LINKS => remote_links(shared, arg(args, "issueIdOrKey")?),
        _ => {
            return Err(McpError::invalid_params(
                format!("Unknown tool: {name}"),
                None,
            ));
        }
    })
}

fn user_info(shared: &Shared) -> CallToolResult {
    let store = shared.read_store();
    let Some(u) = store.users.get(DEMO) else {
        return tool_error("The signed-in user is unknown.");
    };
    CallToolResult::structured(json!({
        "account_id": u.account_id,
        "email": u.email,
        "name": u.display,
        "nickname": u.display,
        "account_type": "atlassian",
        "account_status": "active",
        "locale": "en-US",
        "zoneinfo": u.tz,
    }))
}

/// `/search/jql` for the issues, `/search/approximate-count` for `total`.
fn search(shared: &Shared, args: &JsonObject) -> Result<CallToolResult, McpError> {
    let jql = arg(args, "jql")?;
    let max = match args.get("maxResults") {
        None | Some(Value::Null) => 50,
        Some(v) => v
            .as_i64()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                McpError::invalid_params("'maxResults' must be an integer from 1 to 100", None)
            })?,
    };
    let fields: Vec<&str> = ISSUE_FIELDS.split(',').collect();
    let body = json!({"jql": jql, "maxResults": max, "fields": fields}).to_string();
    let found = read(
        shared,
        &Method::POST,
        "",
        body.as_bytes(),
        &["rest", "api", "3", "search", "jql"],
    );
    let count_body = json!({"jql": jql}).to_string();
    let counted = read(
        shared,
        &Method::POST,
        "",
        count_body.as_bytes(),
        &["rest", "api", "3", "search", "approximate-count"],
    );
    Ok(match (found.status, &found.body, &counted.body) {
        (200, Some(out), Some(count)) => {
            let mut out = out.clone();
            out["total"] = count["count"].clone();
            CallToolResult::structured(out)
        }
        _ => tool_error(&reply_message(&found)),
    })
}

/// `POST /rest/api/3/issue` through the sandbox's create path (its field validation, its
/// key numbering), under the store's write lock.
fn create(shared: &Shared, base: &str, args: &JsonObject) -> Result<CallToolResult, McpError> {
    let mut fields = json!({
        "project": {"key": arg(args, "projectKey")?},
        "issuetype": {"name": arg(args, "issueTypeName")?},
        "summary": arg(args, "summary")?,
    });
    if let Some(d) = args.get("description").and_then(Value::as_str) {
        fields["description"] = text_adf(d);
    }
    let body = json!({"fields": fields}).to_string();
    let req = site_req(base, &Method::POST, "", body.as_bytes());
    let mut store = shared.write_store();
    Ok(
        match dispatch_write(
            &req,
            &mut store,
            Family::Jira,
            &["rest", "api", "3", "issue"],
        ) {
            Some(reply) => from_reply(reply),
            None => tool_error("The sandbox cannot create issues here."),
        },
    )
}

fn page(shared: &Shared, base: &str, id: &str) -> CallToolResult {
    let store = shared.read_store();
    let Some(page) = store.page(id) else {
        return tool_error(&format!("Page '{id}' not found."));
    };
    let space = store.spaces.get(page.space);
    let space_key = space.map_or("", |s| s.key);
    CallToolResult::structured(json!({
        "id": page.id.to_string(),
        "title": page.title,
        "status": "current",
        "spaceId": space.map(|s| s.id.to_string()),
        "spaceKey": space_key,
        "parentId": page.parent.map(|p| p.to_string()),
        "version": page.latest().map(|v| v.number),
        "body": page.storage,
        "bodyFormat": "storage",
        "webUrl": format!("{base}/wiki/spaces/{space_key}/pages/{}", page.id),
    }))
}

fn remote_links(shared: &Shared, key: &str) -> CallToolResult {
    let store = shared.read_store();
    let Some(issue) = store.issue(key) else {
        return tool_error("Issue does not exist or you do not have permission to see it.");
    };
    CallToolResult::structured(json!({
        "issueKey": issue.key,
        "remoteLinks": [{
            "id": 10_000 + issue.id,
            "object": {
                "url": format!("https://docs.example.com/{}", issue.key),
                "title": format!("{} design notes", issue.key),
            },
        }],
    }))
}
