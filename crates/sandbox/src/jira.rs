//! Jira handlers: Cloud REST v3 (`/rest/api/3/…`, token-paged `/search/jql`, ADF) and Data
//! Center REST v2 (`/dc/rest/api/2/…`, offset-paged `/search`, wiki markup, usernames).
//! Shapes follow `jira-platform-v3.openapi.json` (IssueBean, SearchAndReconcileResults,
//! PageBeanProject, PageOfComments, Transitions, createmeta page beans, ErrorCollection).
//! Writes (create, bulk, edit, comments, transitions, issue properties) are in `jira_write`.

use axum::http::Method;
use serde_json::{Map, Value, json};

use super::paging::{self, Ranked};
use super::query::{self, Dialect, FieldVal, Kind, QueryError, SortKey, Subject as _};
use super::seed::{
    CATEGORIES, CUSTOM_FIELDS, DEMO, ISSUE_TYPES, Issue, PRIORITIES, Project, REFERENCE, STATUSES,
    Store, TRANSITION_IDS, User, transitions_from,
};
use super::wire::{Reply, jira_date, jira_time, json_body};
use super::{Ctx, Site};

/// The body Jira Cloud answers on the removed `/rest/api/{2,3}/search` (CHANGE-2046).
pub(crate) fn removed_search() -> Reply {
    Reply::json(
        410,
        json!({"errorMessages": ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"], "errors": {}}),
    )
}

fn method_not_allowed() -> Reply {
    Reply::error(super::wire::Family::Jira, 405, "Method Not Allowed")
}

fn not_found() -> Reply {
    Reply::jira_not_found("Not Found: the sandbox has no such Jira endpoint.")
}

pub(super) fn issue_missing() -> Reply {
    Reply::jira_not_found("Issue does not exist or you do not have permission to see it.")
}

/// Routes `/rest/api/3/…` on the Cloud site and `/dc/rest/api/2/…` on the Data Center site:
/// the same resources, except search (Cloud removed `/search` for `/search/jql`) and the
/// project list (DC's plain `/project` array, Cloud's paged `/project/search`).
pub(crate) fn route(ctx: &Ctx<'_>, rest: &[&str]) -> Reply {
    let get = *ctx.method == Method::GET;
    let cloud = ctx.site == Site::Cloud;
    match rest {
        ["search"] if cloud => removed_search(),
        ["search", "jql"] if cloud => get_or_post(ctx, search_jql),
        ["search"] => get_or_post(ctx, dc_search),
        ["search", "approximate-count"] if cloud && *ctx.method == Method::POST => {
            approximate_count(ctx)
        }
        _ if !get => method_not_allowed(),
        ["field"] => {
            let names: Vec<(&str, &str, bool)> = NAVIGABLE
                .iter()
                .map(|(id, name)| (*id, *name, true))
                .chain(NON_NAVIGABLE.iter().map(|(id, name)| (*id, *name, false)))
                .collect();
            Reply::ok(super::jira_fields::field_list(&names))
        }
        ["issue", "createmeta", p, "issuetypes"] => createmeta_types(ctx, p),
        ["issue", "createmeta", p, "issuetypes", t] => createmeta_fields(ctx, p, t),
        ["issue", key] => get_issue(ctx, key),
        ["issue", key, "properties"] => super::jira_write::property_keys(ctx, key),
        ["issue", key, "properties", prop] => super::jira_write::get_property(ctx, key, prop),
        ["issue", key, "comment"] => comments(ctx, key),
        ["issue", key, "transitions"] => transitions(ctx, key),
        ["project", "search"] if cloud => project_search(ctx),
        ["project"] if !cloud => Reply::ok(Value::Array(
            ctx.store
                .projects
                .iter()
                .map(|p| project_json(ctx, p, &[]))
                .collect(),
        )),
        ["project", key] => get_project(ctx, key),
        ["myself"] => myself(ctx),
        ["serverInfo"] => server_info(ctx),
        _ => not_found(),
    }
}

/// Searches answer GET and POST alike.
fn get_or_post(ctx: &Ctx<'_>, handler: fn(&Ctx<'_>) -> Reply) -> Reply {
    if *ctx.method == Method::GET || *ctx.method == Method::POST {
        handler(ctx)
    } else {
        method_not_allowed()
    }
}

pub(super) fn api(ctx: &Ctx<'_>) -> String {
    match ctx.site {
        Site::Cloud => format!("{}/rest/api/3", ctx.jira_base),
        Site::Dc => format!("{}/rest/api/2", ctx.jira_base),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON builders
// ---------------------------------------------------------------------------------------------

fn avatars(ctx: &Ctx<'_>, kind: &str, id: &str) -> Value {
    let mut m = Map::new();
    for (size, name) in [(16, "xsmall"), (24, "small"), (32, "medium"), (48, "large")] {
        m.insert(
            format!("{size}x{size}"),
            Value::String(format!(
                "{}/secure/{kind}avatar?size={name}&avatarId={id}",
                ctx.jira_base
            )),
        );
    }
    Value::Object(m)
}

fn user_json(ctx: &Ctx<'_>, u: &User) -> Value {
    match ctx.site {
        Site::Cloud => json!({
            "self": format!("{}/user?accountId={}", api(ctx), u.account_id),
            "accountId": u.account_id,
            "emailAddress": u.email,
            "avatarUrls": avatars(ctx, "user", u.account_id),
            "displayName": u.display,
            "active": true,
            "timeZone": u.tz,
            "accountType": "atlassian",
        }),
        Site::Dc => json!({
            "self": format!("{}/user?username={}", api(ctx), u.name),
            "name": u.name,
            "key": u.key,
            "emailAddress": u.email,
            "avatarUrls": avatars(ctx, "user", u.key),
            "displayName": u.display,
            "active": true,
            "timeZone": u.tz,
        }),
    }
}

fn user_at(ctx: &Ctx<'_>, idx: usize) -> Value {
    ctx.store
        .users
        .get(idx)
        .map_or(Value::Null, |u| user_json(ctx, u))
}

fn status_json(ctx: &Ctx<'_>, idx: usize) -> Value {
    let Some(s) = STATUSES.get(idx) else {
        return Value::Null;
    };
    let (cid, ckey, cname, color) = CATEGORIES.get(s.category).copied().unwrap_or((
        1,
        "undefined",
        "No Category",
        "medium-gray",
    ));
    json!({
        "self": format!("{}/status/{}", api(ctx), s.id),
        "description": "",
        "iconUrl": format!("{}/images/icons/statuses/generic.png", ctx.jira_base),
        "name": s.name,
        "id": s.id,
        "statusCategory": {
            "self": format!("{}/statuscategory/{cid}", api(ctx)),
            "id": cid,
            "key": ckey,
            "colorName": color,
            "name": cname,
        },
    })
}

fn issuetype_json(ctx: &Ctx<'_>, idx: usize) -> Value {
    let Some(t) = ISSUE_TYPES.get(idx) else {
        return Value::Null;
    };
    json!({
        "self": format!("{}/issuetype/{}", api(ctx), t.id),
        "id": t.id,
        "description": t.description,
        "iconUrl": format!("{}/rest/api/2/universal_avatar/view/type/issuetype/avatar/{}?size=medium", ctx.jira_base, t.id),
        "name": t.name,
        "subtask": t.subtask,
        "avatarId": 10300 + idx as i64,
        "hierarchyLevel": t.level,
    })
}

fn priority_json(ctx: &Ctx<'_>, idx: usize) -> Value {
    let Some((id, name)) = PRIORITIES.get(idx) else {
        return Value::Null;
    };
    json!({
        "self": format!("{}/priority/{id}", api(ctx)),
        "iconUrl": format!("{}/images/icons/priorities/{}.svg", ctx.jira_base, name.to_lowercase()),
        "name": name,
        "id": id,
    })
}

fn project_json(ctx: &Ctx<'_>, p: &Project, expand: &[String]) -> Value {
    let mut v = json!({
        "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
        "self": format!("{}/project/{}", api(ctx), p.id),
        "id": p.id.to_string(),
        "key": p.key,
        "name": p.name,
        "avatarUrls": avatars(ctx, "project", &p.id.to_string()),
        "projectTypeKey": "software",
    });
    if let Some(m) = v.as_object_mut() {
        match ctx.site {
            Site::Cloud => {
                m.insert("simplified".into(), json!(false));
                m.insert("style".into(), json!("classic"));
                m.insert("isPrivate".into(), json!(false));
                m.insert("properties".into(), json!({}));
            }
            Site::Dc => {
                m.insert("archived".into(), json!(false));
            }
        }
        let want = |k: &str| expand.iter().any(|e| e.eq_ignore_ascii_case(k));
        if want("description") || ctx.site == Site::Dc {
            m.insert("description".into(), json!(p.description));
        }
        if want("lead") {
            m.insert("lead".into(), user_at(ctx, p.lead));
        }
        if want("issueTypes") {
            m.insert(
                "issueTypes".into(),
                Value::Array(
                    (0..ISSUE_TYPES.len())
                        .map(|i| issuetype_json(ctx, i))
                        .collect(),
                ),
            );
        }
    }
    v
}

fn component_json(ctx: &Ctx<'_>, id: u64, name: &str) -> Value {
    json!({"self": format!("{}/component/{id}", api(ctx)), "id": id.to_string(), "name": name})
}

fn issue_ref(ctx: &Ctx<'_>, issue: &Issue) -> Value {
    json!({
        "id": issue.id.to_string(),
        "key": issue.key,
        "self": format!("{}/issue/{}", api(ctx), issue.id),
        "fields": {
            "summary": issue.summary,
            "status": status_json(ctx, issue.status),
            "priority": priority_json(ctx, issue.priority),
            "issuetype": issuetype_json(ctx, issue.itype),
        },
    })
}

/// Seeded issue links `(from, type, to)`: "from <outward> to". Some cross projects on purpose,
/// so a client's project allowlist has something to hide.
const LINKS: &[(&str, &str, &str)] = &[
    ("SEC-2", "Blocks", "ENG-3"),
    ("ENG-2", "Relates", "OPS-1"),
    ("ENG-4", "Blocks", "ENG-2"),
];

/// `(name, inward, outward)` descriptions of the seeded link types.
fn link_type(name: &str) -> (&'static str, &'static str, &'static str, &'static str) {
    match name {
        "Blocks" => ("10000", "Blocks", "is blocked by", "blocks"),
        _ => ("10003", "Relates", "relates to", "relates to"),
    }
}

fn issue_links(ctx: &Ctx<'_>, s: &super::seed::Store, issue: &Issue) -> Value {
    let find = |key: &str| s.issues.iter().find(|i| i.key == key);
    let links = LINKS.iter().enumerate().filter_map(|(n, (from, kind, to))| {
        let (type_id, name, inward, outward) = link_type(kind);
        let link_type = json!({"id": type_id, "name": name, "inward": inward, "outward": outward,
            "self": format!("{}/issueLinkType/{type_id}", api(ctx))});
        let (side, other) = if issue.key == *from {
            ("outwardIssue", find(to)?)
        } else if issue.key == *to {
            ("inwardIssue", find(from)?)
        } else {
            return None;
        };
        let id = 20_000 + n;
        Some(json!({
            "id": id.to_string(),
            "self": format!("{}/issueLink/{id}", api(ctx)),
            "type": link_type,
            side: issue_ref(ctx, other),
        }))
    });
    Value::Array(links.collect())
}

pub(super) fn comment_json(ctx: &Ctx<'_>, issue: &Issue, c: &super::seed::Comment) -> Value {
    json!({
        "self": format!("{}/issue/{}/comment/{}", api(ctx), issue.id, c.id),
        "id": c.id.to_string(),
        "author": user_at(ctx, c.author),
        "body": match ctx.site { Site::Cloud => c.adf.clone(), Site::Dc => Value::String(c.wiki.clone()) },
        "updateAuthor": user_at(ctx, c.author),
        "created": jira_time(c.created),
        "updated": jira_time(c.updated),
        "jsdPublic": true,
    })
}

/// Field ids with display names; the first group is navigable.
const NAVIGABLE: &[(&str, &str)] = &[
    ("summary", "Summary"),
    ("status", "Status"),
    ("issuetype", "Issue Type"),
    ("priority", "Priority"),
    ("assignee", "Assignee"),
    ("reporter", "Reporter"),
    ("creator", "Creator"),
    ("created", "Created"),
    ("updated", "Updated"),
    ("duedate", "Due date"),
    ("labels", "Labels"),
    ("project", "Project"),
    ("description", "Description"),
    ("resolution", "Resolution"),
    ("resolutiondate", "Resolved"),
    ("components", "Components"),
    ("parent", "Parent"),
    ("subtasks", "Sub-tasks"),
    ("issuelinks", "Linked Issues"),
    ("fixVersions", "Fix versions"),
];
const NON_NAVIGABLE: &[(&str, &str)] = &[("comment", "Comment")];

fn field_value(ctx: &Ctx<'_>, issue: &Issue, field: &str) -> Option<Value> {
    let s = ctx.store;
    Some(match field {
        "summary" => json!(issue.summary),
        "status" => status_json(ctx, issue.status),
        "issuetype" => issuetype_json(ctx, issue.itype),
        "priority" => priority_json(ctx, issue.priority),
        "assignee" => issue.assignee.map_or(Value::Null, |a| user_at(ctx, a)),
        "reporter" | "creator" => user_at(ctx, issue.reporter),
        "created" => json!(jira_time(issue.created)),
        "updated" => json!(jira_time(issue.updated)),
        "duedate" => issue.due.map_or(Value::Null, |d| json!(jira_date(d))),
        "labels" => json!(issue.labels),
        "project" => s
            .projects
            .get(issue.project)
            .map_or(Value::Null, |p| project_json(ctx, p, &[])),
        "description" => match ctx.site {
            Site::Cloud => issue.adf.clone().unwrap_or(Value::Null),
            Site::Dc => issue.wiki.clone().map_or(Value::Null, Value::String),
        },
        "resolution" => match issue.resolved {
            Some(_) => json!({
                "self": format!("{}/resolution/10000", api(ctx)),
                "id": "10000",
                "description": "Work has been done on this issue.",
                "name": "Done",
            }),
            None => Value::Null,
        },
        "resolutiondate" => issue.resolved.map_or(Value::Null, |t| json!(jira_time(t))),
        "components" => {
            let project = s.projects.get(issue.project)?;
            Value::Array(
                project
                    .components
                    .iter()
                    .filter(|(id, _)| issue.components.contains(id))
                    .map(|(id, name)| component_json(ctx, *id, name))
                    .collect(),
            )
        }
        "parent" => {
            let parent = issue.parent.and_then(|p| s.issues.get(p))?;
            issue_ref(ctx, parent)
        }
        "subtasks" => {
            let me = s.issues.iter().position(|i| i.id == issue.id);
            Value::Array(
                s.issues
                    .iter()
                    .filter(|i| {
                        i.parent.is_some()
                            && i.parent == me
                            && ISSUE_TYPES.get(i.itype).is_some_and(|t| t.subtask)
                    })
                    .map(|i| issue_ref(ctx, i))
                    .collect(),
            )
        }
        "issuelinks" => issue_links(ctx, s, issue),
        "fixVersions" => json!([]),
        "comment" => {
            let comments: Vec<Value> = issue
                .comments
                .iter()
                .map(|c| comment_json(ctx, issue, c))
                .collect();
            json!({
                "comments": comments,
                "self": format!("{}/issue/{}/comment", api(ctx), issue.id),
                "maxResults": comments.len(),
                "total": comments.len(),
                "startAt": 0,
            })
        }
        _ => return None,
    })
}

/// Which fields to return.
#[derive(Debug, Clone, Default)]
pub(super) struct FieldSel {
    all: bool,
    navigable: bool,
    include: Vec<String>,
    exclude: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DefaultFields {
    IdOnly,
    Navigable,
    All,
}

impl FieldSel {
    pub(super) fn parse(items: &[String], default: DefaultFields) -> Self {
        let mut sel = FieldSel::default();
        let mut positive = false;
        for raw in items {
            let f = raw.trim();
            if f.is_empty() {
                continue;
            }
            if let Some(x) = f.strip_prefix('-') {
                sel.exclude.push(x.to_string());
                continue;
            }
            positive = true;
            match f {
                "*all" => sel.all = true,
                "*navigable" => sel.navigable = true,
                _ => sel.include.push(f.to_string()),
            }
        }
        if !positive {
            match default {
                DefaultFields::IdOnly => {}
                DefaultFields::Navigable => sel.navigable = true,
                DefaultFields::All => sel.all = true,
            }
        }
        sel
    }

    fn wants(&self, f: &str, navigable: bool) -> bool {
        if self.exclude.iter().any(|x| x == f) {
            return false;
        }
        self.all || (self.navigable && navigable) || self.include.iter().any(|x| x == f)
    }

    /// True when only `id`/`key` (or nothing) was asked for: the cheap, high-cap mode.
    fn ids_only(&self) -> bool {
        !self.all && !self.navigable && self.include.iter().all(|f| f == "id" || f == "key")
    }

    fn is_default_id_only(&self) -> bool {
        !self.all && !self.navigable && self.include.is_empty()
    }
}

pub(super) fn issue_json(
    ctx: &Ctx<'_>,
    issue: &Issue,
    sel: &FieldSel,
    expand: &[String],
    bare_id: bool,
) -> Value {
    if bare_id && sel.is_default_id_only() {
        return json!({"id": issue.id.to_string()});
    }
    let want = |k: &str| expand.iter().any(|e| e.eq_ignore_ascii_case(k));
    let mut fields = Map::new();
    let mut names = Map::new();
    for (group, nav) in [(NAVIGABLE, true), (NON_NAVIGABLE, false)] {
        for (f, name) in group {
            if sel.wants(f, nav)
                && let Some(v) = field_value(ctx, issue, f)
            {
                fields.insert((*f).to_string(), v);
                names.insert((*f).to_string(), json!(name));
            }
        }
    }
    for (id, value) in &issue.custom {
        if sel.wants(id, true) {
            let mut v = value.clone();
            if let (Some(m), Some(oid)) =
                (v.as_object_mut(), value.get("id").and_then(Value::as_str))
            {
                m.insert(
                    "self".into(),
                    json!(format!("{}/customFieldOption/{oid}", api(ctx))),
                );
            }
            fields.insert(id.clone(), v);
            if let Some(f) = CUSTOM_FIELDS.iter().find(|f| f.id == id) {
                names.insert(id.clone(), json!(f.name));
            }
        }
    }
    let mut out = Map::new();
    out.insert(
        "expand".into(),
        json!("renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"),
    );
    out.insert("id".into(), json!(issue.id.to_string()));
    out.insert(
        "self".into(),
        json!(format!("{}/issue/{}", api(ctx), issue.id)),
    );
    out.insert("key".into(), json!(issue.key));
    if want("renderedFields") {
        let mut r = Map::new();
        if fields.contains_key("description") {
            let html = match ctx.site {
                Site::Cloud => issue.adf.as_ref().map(adf_html).unwrap_or_default(),
                Site::Dc => issue
                    .wiki
                    .as_deref()
                    .map(|w| format!("<p>{}</p>", super::wire::escape_html(w)))
                    .unwrap_or_default(),
            };
            r.insert("description".into(), json!(html));
        }
        out.insert("renderedFields".into(), Value::Object(r));
    }
    if want("names") {
        out.insert("names".into(), Value::Object(names));
    }
    if want("transitions") {
        out.insert(
            "transitions".into(),
            Value::Array(transition_list(ctx, issue)),
        );
    }
    if want("changelog") {
        let histories: Vec<Value> = issue
            .changelog
            .iter()
            .map(|c| {
                let items: Vec<Value> = c
                    .items
                    .iter()
                    .map(|it| {
                        let mut m = Map::new();
                        m.insert("field".into(), json!(it.field));
                        m.insert("fieldtype".into(), json!("jira"));
                        m.insert("fieldId".into(), json!(it.field_id));
                        for (k, v) in [
                            ("from", &it.from),
                            ("fromString", &it.from_string),
                            ("to", &it.to),
                            ("toString", &it.to_string),
                        ] {
                            if let Some(v) = v {
                                m.insert(k.into(), json!(v));
                            }
                        }
                        Value::Object(m)
                    })
                    .collect();
                json!({"id": c.id.to_string(), "author": user_at(ctx, c.author), "created": jira_time(c.created), "items": items})
            })
            .collect();
        out.insert(
            "changelog".into(),
            json!({"startAt": 0, "maxResults": histories.len(), "total": histories.len(), "histories": histories}),
        );
    }
    out.insert("fields".into(), Value::Object(fields));
    Value::Object(out)
}

/// A modest HTML rendering of ADF for `renderedFields`.
fn adf_html(node: &Value) -> String {
    let kind = node.get("type").and_then(Value::as_str).unwrap_or("");
    let attr = |k: &str| node.get("attrs").and_then(|a| a.get(k));
    let inner: String = node
        .get("content")
        .and_then(Value::as_array)
        .map(|c| c.iter().map(adf_html).collect())
        .unwrap_or_default();
    let esc = super::wire::escape_html;
    match kind {
        "doc" => inner,
        "paragraph" => format!("<p>{inner}</p>"),
        "heading" => {
            let l = attr("level")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 6);
            format!("<h{l}>{inner}</h{l}>")
        }
        "bulletList" => format!("<ul>{inner}</ul>"),
        "orderedList" => format!("<ol>{inner}</ol>"),
        "listItem" => format!("<li>{inner}</li>"),
        "codeBlock" => format!("<pre><code>{inner}</code></pre>"),
        "blockquote" => format!("<blockquote>{inner}</blockquote>"),
        "panel" => format!("<div class=\"panel\">{inner}</div>"),
        "table" => format!("<table>{inner}</table>"),
        "tableRow" => format!("<tr>{inner}</tr>"),
        "tableHeader" => format!("<th>{inner}</th>"),
        "tableCell" => format!("<td>{inner}</td>"),
        "rule" => "<hr/>".into(),
        "hardBreak" => "<br/>".into(),
        "text" => {
            let mut s = esc(node.get("text").and_then(Value::as_str).unwrap_or(""));
            for m in node
                .get("marks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                s = match m.get("type").and_then(Value::as_str).unwrap_or("") {
                    "strong" => format!("<b>{s}</b>"),
                    "em" => format!("<em>{s}</em>"),
                    "code" => format!("<tt>{s}</tt>"),
                    "link" => format!(
                        "<a href=\"{}\">{s}</a>",
                        esc(m
                            .get("attrs")
                            .and_then(|a| a.get("href"))
                            .and_then(Value::as_str)
                            .unwrap_or(""))
                    ),
                    _ => s,
                };
            }
            s
        }
        "mention" | "emoji" | "status" => esc(attr("text").and_then(Value::as_str).unwrap_or("")),
        "inlineCard" => {
            let u = esc(attr("url").and_then(Value::as_str).unwrap_or(""));
            format!("<a href=\"{u}\">{u}</a>")
        }
        _ => inner,
    }
}

/// The transitions available from the issue's status (see [`transitions_from`]); with
/// `all`, the unavailable ones too, marked `isAvailable: false`.
fn transitions_json(ctx: &Ctx<'_>, issue: &Issue, all: bool) -> Vec<Value> {
    let available = transitions_from(issue.status);
    (0..STATUSES.len())
        .filter(|s| *s != issue.status && (all || available.contains(s)))
        .map(|s| {
            json!({
                "id": TRANSITION_IDS.get(s).copied().unwrap_or("0"),
                "name": STATUSES.get(s).map_or("", |x| x.name),
                "to": status_json(ctx, s),
                "hasScreen": false,
                "isGlobal": false,
                "isInitial": false,
                "isAvailable": available.contains(&s),
                "isConditional": false,
                "isLooped": false,
            })
        })
        .collect()
}

fn transition_list(ctx: &Ctx<'_>, issue: &Issue) -> Vec<Value> {
    transitions_json(ctx, issue, false)
}

// ---------------------------------------------------------------------------------------------
// JQL over issues
// ---------------------------------------------------------------------------------------------

struct JqlSchema<'a> {
    store: &'a Store,
    site: Site,
}

fn jql_kind(field: &str) -> Option<Kind> {
    Some(match field {
        "project" | "status" | "statuscategory" | "issuetype" | "type" | "priority" | "labels"
        | "label" | "resolution" | "component" => Kind::Keyword,
        "key" | "issuekey" | "parent" => Kind::Key,
        "id" => Kind::Number,
        "summary" | "description" | "text" | "comment" => Kind::Text,
        "created" | "createddate" | "updated" | "updateddate" | "duedate" | "due"
        | "resolutiondate" | "resolved" => Kind::Date,
        "assignee" | "reporter" | "creator" => Kind::User,
        _ => return None,
    })
}

impl query::Schema for JqlSchema<'_> {
    fn kind(&self, field: &str) -> Option<Kind> {
        jql_kind(field)
    }

    fn check_value(&self, field: &str, value: &str) -> Result<(), QueryError> {
        let missing = || {
            Err(QueryError {
                message: format!("The value '{value}' does not exist for the field '{field}'."),
                pos: None,
            })
        };
        let v = value.trim();
        let ok = match field {
            "project" => {
                self.store.project(v).is_some()
                    || self
                        .store
                        .projects
                        .iter()
                        .any(|p| p.name.eq_ignore_ascii_case(v))
            }
            "status" => STATUSES
                .iter()
                .any(|s| s.name.eq_ignore_ascii_case(v) || s.id == v),
            "statuscategory" => CATEGORIES.iter().any(|(id, key, name, _)| {
                key.eq_ignore_ascii_case(v) || name.eq_ignore_ascii_case(v) || id.to_string() == v
            }),
            "issuetype" | "type" => ISSUE_TYPES
                .iter()
                .any(|t| t.name.eq_ignore_ascii_case(v) || t.id == v),
            "priority" => PRIORITIES
                .iter()
                .any(|(id, name)| name.eq_ignore_ascii_case(v) || *id == v),
            "assignee" | "reporter" | "creator" => self.store.user(v).is_some(),
            "resolution" => v.eq_ignore_ascii_case("done") || v.eq_ignore_ascii_case("unresolved"),
            "key" | "issuekey" | "parent" => {
                if self.store.issue(v).is_none() {
                    let valid = v.rsplit_once('-').is_some_and(|(p, n)| {
                        self.store.project(p).is_some() && n.parse::<u32>().is_ok()
                    });
                    return Err(QueryError {
                        message: if valid {
                            format!(
                                "An issue with key '{}' does not exist for field '{field}'.",
                                v.to_uppercase()
                            )
                        } else {
                            format!("The issue key '{v}' for field '{field}' is invalid.")
                        },
                        pos: None,
                    });
                }
                true
            }
            _ => true,
        };
        if ok { Ok(()) } else { missing() }
    }

    fn is_empty_alias(&self, field: &str, value: &str) -> bool {
        field == "resolution" && value.trim().eq_ignore_ascii_case("unresolved")
    }

    fn current_user(&self) -> String {
        let u = self.store.users.get(DEMO);
        match self.site {
            Site::Cloud => u.map(|u| u.account_id).unwrap_or_default().to_string(),
            Site::Dc => u.map(|u| u.name).unwrap_or_default().to_string(),
        }
    }

    fn now(&self) -> time::OffsetDateTime {
        self.store.now()
    }
}

struct IssueSubject<'a> {
    store: &'a Store,
    issue: &'a Issue,
}

fn user_aliases(store: &Store, idx: Option<usize>) -> Vec<String> {
    idx.and_then(|i| store.users.get(i))
        .map(|u| {
            vec![
                u.account_id.to_string(),
                u.name.to_string(),
                u.key.to_string(),
                u.email.to_string(),
                u.display.to_string(),
            ]
        })
        .unwrap_or_default()
}

impl query::Subject for IssueSubject<'_> {
    fn value(&self, field: &str) -> FieldVal {
        let i = self.issue;
        let s = self.store;
        let many = |v: Vec<String>| FieldVal::Many(v);
        match field {
            "project" => many(
                s.projects
                    .get(i.project)
                    .map(|p| vec![p.key.to_string(), p.id.to_string(), p.name.to_string()])
                    .unwrap_or_default(),
            ),
            "key" | "issuekey" => many(vec![i.key.clone(), i.id.to_string()]),
            "parent" => many(
                i.parent
                    .and_then(|p| s.issues.get(p))
                    .map(|p| vec![p.key.clone(), p.id.to_string()])
                    .unwrap_or_default(),
            ),
            "id" => FieldVal::Num(i64::try_from(i.id).ok()),
            "summary" => FieldVal::Text(i.summary.clone()),
            "description" => FieldVal::Text(i.text.clone()),
            "comment" => FieldVal::Text(
                i.comments
                    .iter()
                    .map(|c| c.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            "text" => FieldVal::Text(format!(
                "{} {} {}",
                i.summary,
                i.text,
                i.comments
                    .iter()
                    .map(|c| c.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
            "status" => many(
                STATUSES
                    .get(i.status)
                    .map(|st| vec![st.name.to_string(), st.id.to_string()])
                    .unwrap_or_default(),
            ),
            "statuscategory" => many(
                STATUSES
                    .get(i.status)
                    .and_then(|st| CATEGORIES.get(st.category))
                    .map(|(id, key, name, _)| {
                        vec![key.to_string(), name.to_string(), id.to_string()]
                    })
                    .unwrap_or_default(),
            ),
            "issuetype" | "type" => many(
                ISSUE_TYPES
                    .get(i.itype)
                    .map(|t| vec![t.name.to_string(), t.id.to_string()])
                    .unwrap_or_default(),
            ),
            "priority" => many(
                PRIORITIES
                    .get(i.priority)
                    .map(|(id, name)| vec![name.to_string(), id.to_string()])
                    .unwrap_or_default(),
            ),
            "labels" | "label" => many(i.labels.clone()),
            "component" => many(
                s.projects
                    .get(i.project)
                    .map(|p| {
                        p.components
                            .iter()
                            .filter(|(id, _)| i.components.contains(id))
                            .flat_map(|(id, n)| [n.to_string(), id.to_string()])
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            "resolution" => many(if i.resolved.is_some() {
                vec!["Done".into(), "10000".into()]
            } else {
                vec![]
            }),
            "created" | "createddate" => FieldVal::Date(Some(i.created)),
            "updated" | "updateddate" => FieldVal::Date(Some(i.updated)),
            "duedate" | "due" => FieldVal::Date(i.due),
            "resolutiondate" | "resolved" => FieldVal::Date(i.resolved),
            "assignee" => many(user_aliases(s, i.assignee)),
            "reporter" | "creator" => many(user_aliases(s, Some(i.reporter))),
            _ => FieldVal::Many(vec![]),
        }
    }

    fn sort_key(&self, field: &str) -> SortKey {
        let i = self.issue;
        let s = self.store;
        match field {
            "key" | "issuekey" => SortKey::Key(
                s.projects.get(i.project).map_or("", |p| p.key).to_string(),
                i64::from(i.number),
            ),
            "parent" => i
                .parent
                .and_then(|p| s.issues.get(p))
                .map_or(SortKey::None, |p| {
                    SortKey::Key(
                        s.projects.get(p.project).map_or("", |x| x.key).to_string(),
                        i64::from(p.number),
                    )
                }),
            "id" => SortKey::Num(i64::try_from(i.id).unwrap_or(0)),
            "status" => SortKey::Num(i.status as i64),
            "statuscategory" => {
                SortKey::Num(STATUSES.get(i.status).map_or(0, |x| x.category) as i64)
            }
            "priority" => SortKey::Num(-(i.priority as i64)),
            "created" | "createddate" => SortKey::Time(i.created),
            "updated" | "updateddate" => SortKey::Time(i.updated),
            "duedate" | "due" => i.due.map_or(SortKey::None, SortKey::Time),
            "resolutiondate" | "resolved" => i.resolved.map_or(SortKey::None, SortKey::Time),
            "assignee" => i
                .assignee
                .and_then(|a| s.users.get(a))
                .map_or(SortKey::None, |u| SortKey::Str(u.display.to_string())),
            "reporter" | "creator" => s
                .users
                .get(i.reporter)
                .map_or(SortKey::None, |u| SortKey::Str(u.display.to_string())),
            "project" => SortKey::Str(s.projects.get(i.project).map_or("", |p| p.key).to_string()),
            "issuetype" | "type" => {
                SortKey::Str(ISSUE_TYPES.get(i.itype).map_or("", |t| t.name).to_string())
            }
            "labels" | "label" => i
                .labels
                .first()
                .map_or(SortKey::None, |l| SortKey::Str(l.clone())),
            "resolution" => {
                if i.resolved.is_some() {
                    SortKey::Str("Done".into())
                } else {
                    SortKey::None
                }
            }
            "summary" => SortKey::Str(i.summary.clone()),
            _ => SortKey::None,
        }
    }
}

/// Runs a JQL query: the matching issues in order with their sort positions, or a Jira 400.
/// The order is the `ORDER BY` fields, then newest created first and the highest id first (Jira's
/// issue navigator default, and a unique tie-breaker so token paging can resume exactly).
fn run_jql<'a>(
    ctx: &Ctx<'a>,
    jql: &str,
    require_bounded: bool,
) -> Result<Ranked<&'a Issue>, Reply> {
    let parsed = query::parse(jql, Dialect::Jql).map_err(|e| Reply::jira_bad(&e.jira_message()))?;
    let schema = JqlSchema {
        store: ctx.store,
        site: ctx.site,
    };
    let compiled = query::compile(&parsed, &schema, Dialect::Jql)
        .map_err(|e| Reply::jira_bad(&e.jira_message()))?;
    if require_bounded && !compiled.is_bounded() {
        return Err(unbounded());
    }
    let store: &'a Store = ctx.store;
    let order = compiled.order();
    let mut desc: Vec<bool> = order.iter().map(|(_, d)| *d).collect();
    desc.extend([true, true]);
    let matching = store
        .issues
        .iter()
        .map(|issue| IssueSubject { store, issue })
        .filter(|s| compiled.matches(s));
    let ranked = Ranked::new(matching, desc, |s| {
        let mut keys: Vec<SortKey> = order.iter().map(|(f, _)| s.sort_key(f)).collect();
        keys.push(SortKey::Time(s.issue.created));
        keys.push(SortKey::Num(i64::try_from(s.issue.id).unwrap_or(i64::MAX)));
        keys
    });
    Ok(Ranked {
        desc: ranked.desc,
        items: ranked
            .items
            .into_iter()
            .map(|(k, s)| (k, s.issue))
            .collect(),
    })
}

fn unbounded() -> Reply {
    Reply::jira_bad(
        "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
    )
}

/// Search parameters from a GET query string or a POST body.
struct SearchArgs {
    jql: String,
    token: Option<String>,
    start_at: i64,
    max_results: Option<i64>,
    fields: Vec<String>,
    expand: Vec<String>,
    properties: Vec<String>,
}

fn search_args(ctx: &Ctx<'_>) -> Result<SearchArgs, Reply> {
    if *ctx.method == Method::POST {
        let body = json_body(ctx.body).map_err(|m| Reply::jira_bad(&m))?;
        let Some(obj) = body.as_object() else {
            return Err(Reply::jira_bad("The request body must be a JSON object."));
        };
        let str_field = |k: &str| -> Result<Option<String>, Reply> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Reply::jira_bad(&format!(
                    "The '{k}' field must be a string."
                ))),
            }
        };
        let int_field = |k: &str| -> Result<Option<i64>, Reply> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                    Reply::jira_bad(&format!("The '{k}' field must be an integer."))
                }),
            }
        };
        let list_field = |k: &str| -> Result<Vec<String>, Reply> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(vec![]),
                Some(Value::String(s)) => Ok(s.split(',').map(|x| x.trim().to_string()).collect()),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| {
                        x.as_str().map(str::to_string).ok_or_else(|| {
                            Reply::jira_bad(&format!("The '{k}' field must be a list of strings."))
                        })
                    })
                    .collect(),
                Some(_) => Err(Reply::jira_bad(&format!(
                    "The '{k}' field must be a list of strings."
                ))),
            }
        };
        Ok(SearchArgs {
            jql: str_field("jql")?.unwrap_or_default(),
            token: str_field("nextPageToken")?,
            start_at: int_field("startAt")?.unwrap_or(0),
            max_results: int_field("maxResults")?,
            fields: list_field("fields")?,
            expand: list_field("expand")?,
            properties: list_field("properties")?,
        })
    } else {
        let p = &ctx.params;
        let max_results = if p.has("maxResults") {
            Some(p.int("maxResults", 50).map_err(|m| Reply::jira_bad(&m))?)
        } else {
            None
        };
        Ok(SearchArgs {
            jql: p.get("jql").unwrap_or("").to_string(),
            token: p
                .get("nextPageToken")
                .filter(|t| !t.is_empty())
                .map(str::to_string),
            start_at: p.int("startAt", 0).map_err(|m| Reply::jira_bad(&m))?,
            max_results,
            fields: p.list("fields"),
            expand: p.list("expand"),
            properties: p.list("properties"),
        })
    }
}

fn search_jql(ctx: &Ctx<'_>) -> Reply {
    let args = match search_args(ctx) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if args.jql.trim().is_empty() {
        return unbounded();
    }
    let issues = match run_jql(ctx, &args.jql, true) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let sel = FieldSel::parse(&args.fields, DefaultFields::IdOnly);
    let max = args.max_results.unwrap_or(50);
    if max < 0 {
        return Reply::jira_bad("The 'maxResults' parameter must not be negative.");
    }
    let cap = if sel.ids_only() { 5000 } else { 100 };
    let max = usize::try_from(max.min(cap)).unwrap_or(0);
    let offset = match &args.token {
        None => 0,
        Some(t) => match paging::read_after("jql", t, &args.jql) {
            Some(after) => issues.resume(&after),
            None => {
                return Reply::jira_bad(
                    "The provided next page token is invalid or was issued for a different query.",
                );
            }
        },
    };
    let rest = issues.items.get(offset..).unwrap_or_default();
    let slice = rest.get(..max).unwrap_or(rest);
    let page: Vec<Value> = slice
        .iter()
        .map(|(_, i)| {
            with_properties(
                issue_json(ctx, i, &sel, &args.expand, true),
                i,
                &args.properties,
            )
        })
        .collect();
    let end = offset.saturating_add(page.len());
    let is_last = end >= issues.len();
    let mut out = Map::new();
    out.insert("issues".into(), Value::Array(page));
    if !is_last && let Some((last, _)) = slice.last() {
        out.insert(
            "nextPageToken".into(),
            json!(paging::after_token("jql", &args.jql, last)),
        );
    }
    out.insert("isLast".into(), json!(is_last));
    if args.expand.iter().any(|e| e.eq_ignore_ascii_case("names")) {
        let names: Map<String, Value> = NAVIGABLE
            .iter()
            .chain(NON_NAVIGABLE)
            .filter(|(f, _)| sel.wants(f, true))
            .map(|(f, n)| ((*f).to_string(), json!(n)))
            .collect();
        out.insert("names".into(), Value::Object(names));
    }
    Reply::ok(Value::Object(out))
}

/// Cloud's `POST /search/approximate-count` `{"jql": …}` → `{"count": n}`: bounded JQL only,
/// like `/search/jql` (the sandbox's count is exact; Jira's may lag recent changes).
fn approximate_count(ctx: &Ctx<'_>) -> Reply {
    let body = match json_body(ctx.body) {
        Ok(b) => b,
        Err(m) => return Reply::jira_bad(&m),
    };
    let jql = match body.get("jql") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Reply::jira_bad("The 'jql' field must be a string."),
    };
    if jql.trim().is_empty() {
        return unbounded();
    }
    match run_jql(ctx, jql, true) {
        Ok(issues) => Reply::ok(json!({ "count": issues.len() })),
        Err(r) => r,
    }
}

fn dc_search(ctx: &Ctx<'_>) -> Reply {
    let args = match search_args(ctx) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let issues = match run_jql(ctx, &args.jql, false) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let max = args.max_results.unwrap_or(50);
    if max < 0 || args.start_at < 0 {
        return Reply::jira_bad("The 'startAt' and 'maxResults' parameters must not be negative.");
    }
    let max = usize::try_from(max.min(1000)).unwrap_or(0);
    let start = usize::try_from(args.start_at).unwrap_or(usize::MAX);
    let sel = FieldSel::parse(&args.fields, DefaultFields::Navigable);
    let page: Vec<Value> = issues
        .items
        .iter()
        .skip(start)
        .take(max)
        .map(|(_, i)| {
            with_properties(
                issue_json(ctx, i, &sel, &args.expand, false),
                i,
                &args.properties,
            )
        })
        .collect();
    Reply::ok(json!({
        "expand": "names,schema",
        "startAt": args.start_at,
        "maxResults": max,
        "total": issues.len(),
        "issues": page,
    }))
}

fn get_issue(ctx: &Ctx<'_>, key: &str) -> Reply {
    let Some(issue) = ctx.store.issue(key) else {
        return issue_missing();
    };
    let sel = FieldSel::parse(&ctx.params.list("fields"), DefaultFields::All);
    Reply::ok(with_properties(
        issue_json(ctx, issue, &sel, &ctx.params.list("expand"), false),
        issue,
        &ctx.params.list("properties"),
    ))
}

/// Adds `"properties": {key: value}` for the requested issue property keys (`*all` for every
/// one); nothing when none were asked for. Keys the issue lacks are left out, as Jira does.
pub(super) fn with_properties(mut v: Value, issue: &Issue, keys: &[String]) -> Value {
    if keys.is_empty() {
        return v;
    }
    let all = keys.iter().any(|k| k == "*all");
    let props: Map<String, Value> = issue
        .properties
        .iter()
        .filter(|(k, _)| all || keys.iter().any(|w| w == *k))
        .map(|(k, val)| (k.clone(), val.clone()))
        .collect();
    if let Some(m) = v.as_object_mut() {
        m.insert("properties".into(), Value::Object(props));
    }
    v
}

fn comments(ctx: &Ctx<'_>, key: &str) -> Reply {
    let Some(issue) = ctx.store.issue(key) else {
        return issue_missing();
    };
    let p = &ctx.params;
    let (start, max) = match (p.int("startAt", 0), p.int("maxResults", 100)) {
        (Ok(s), Ok(m)) if s >= 0 && m >= 0 => (s, m.min(5000)),
        (Err(m), _) | (_, Err(m)) => return Reply::jira_bad(&m),
        _ => {
            return Reply::jira_bad(
                "The 'startAt' and 'maxResults' parameters must not be negative.",
            );
        }
    };
    let mut list: Vec<&super::seed::Comment> = issue.comments.iter().collect();
    match p.get("orderBy") {
        None | Some("created") | Some("+created") => {}
        Some("-created") => list.reverse(),
        Some(other) => {
            return Reply::jira_bad(&format!(
                "The value '{other}' is not valid for 'orderBy'. Valid values are 'created', '-created' and '+created'."
            ));
        }
    }
    let page: Vec<Value> = list
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(max).unwrap_or(0))
        .map(|c| comment_json(ctx, issue, c))
        .collect();
    Reply::ok(
        json!({"startAt": start, "maxResults": max, "total": issue.comments.len(), "comments": page}),
    )
}

fn transitions(ctx: &Ctx<'_>, key: &str) -> Reply {
    let Some(issue) = ctx.store.issue(key) else {
        return issue_missing();
    };
    let all = ctx.params.get("includeUnavailableTransitions") == Some("true");
    let mut list = transitions_json(ctx, issue, all);
    if let Some(id) = ctx.params.get("transitionId").filter(|t| !t.is_empty()) {
        list.retain(|t| t["id"] == id);
    }
    Reply::ok(json!({"expand": "transitions", "transitions": list}))
}

fn project_search(ctx: &Ctx<'_>) -> Reply {
    let p = &ctx.params;
    let (start, max) = match (p.int("startAt", 0), p.int("maxResults", 50)) {
        (Ok(s), Ok(m)) if s >= 0 && m >= 0 => (s, m.min(100)),
        (Err(m), _) | (_, Err(m)) => return Reply::jira_bad(&m),
        _ => {
            return Reply::jira_bad(
                "The 'startAt' and 'maxResults' parameters must not be negative.",
            );
        }
    };
    let query = p.get("query").unwrap_or("").trim().to_lowercase();
    let keys = p.list("keys");
    let expand = p.list("expand");
    let mut list: Vec<&Project> = ctx
        .store
        .projects
        .iter()
        .filter(|pr| {
            query.is_empty()
                || pr.key.to_lowercase().contains(&query)
                || pr.name.to_lowercase().contains(&query)
        })
        .filter(|pr| keys.is_empty() || keys.iter().any(|k| k.eq_ignore_ascii_case(pr.key)))
        .collect();
    match p.get("orderBy").unwrap_or("key") {
        "key" | "+key" => list.sort_by_key(|pr| pr.key),
        "-key" => list.sort_by(|a, b| b.key.cmp(a.key)),
        "name" | "+name" => list.sort_by_key(|pr| pr.name),
        "-name" => list.sort_by(|a, b| b.name.cmp(a.name)),
        _ => list.sort_by_key(|pr| pr.key),
    }
    let total = list.len();
    let s = usize::try_from(start).unwrap_or(usize::MAX);
    let m = usize::try_from(max).unwrap_or(0);
    let values: Vec<Value> = list
        .iter()
        .skip(s)
        .take(m)
        .map(|pr| project_json(ctx, pr, &expand))
        .collect();
    let is_last = s.saturating_add(values.len()) >= total;
    let mut out = Map::new();
    out.insert(
        "self".into(),
        json!(format!(
            "{}/project/search?startAt={start}&maxResults={max}",
            api(ctx)
        )),
    );
    if !is_last {
        out.insert(
            "nextPage".into(),
            json!(format!(
                "{}/project/search?startAt={}&maxResults={max}",
                api(ctx),
                s + values.len()
            )),
        );
    }
    out.insert("maxResults".into(), json!(max));
    out.insert("startAt".into(), json!(start));
    out.insert("total".into(), json!(total));
    out.insert("isLast".into(), json!(is_last));
    out.insert("values".into(), Value::Array(values));
    Reply::ok(Value::Object(out))
}

fn get_project(ctx: &Ctx<'_>, key: &str) -> Reply {
    match ctx
        .store
        .project(key)
        .and_then(|i| ctx.store.projects.get(i))
    {
        Some(p) => Reply::ok(project_json(
            ctx,
            p,
            &["description".into(), "lead".into(), "issueTypes".into()],
        )),
        None => Reply::jira_not_found(&format!("No project could be found with key '{key}'.")),
    }
}

fn myself(ctx: &Ctx<'_>) -> Reply {
    let mut u = user_at(ctx, DEMO);
    if let Some(m) = u.as_object_mut() {
        m.insert("locale".into(), json!("en_US"));
        m.insert("groups".into(), json!({"size": 1, "items": []}));
        m.insert("applicationRoles".into(), json!({"size": 1, "items": []}));
        m.insert("expand".into(), json!("groups,applicationRoles"));
        if ctx.site == Site::Dc {
            m.insert("deleted".into(), json!(false));
        }
    }
    Reply::ok(u)
}

fn server_info(ctx: &Ctx<'_>) -> Reply {
    let now = jira_time(time::OffsetDateTime::now_utc());
    match ctx.site {
        Site::Cloud => Reply::ok(json!({
            "baseUrl": ctx.jira_base,
            "displayUrl": ctx.jira_base,
            "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0],
            "deploymentType": "Cloud",
            "buildNumber": 100_281,
            "buildDate": jira_time(REFERENCE),
            "serverTime": now,
            "scmInfo": "57a0ca5b0sandbox",
            "serverTitle": "Jira (sandbox)",
        })),
        Site::Dc => Reply::ok(json!({
            "baseUrl": ctx.jira_base,
            "version": "9.12.15",
            "versionNumbers": [9, 12, 15],
            "deploymentType": "Server",
            "buildNumber": 9_120_015,
            "buildDate": jira_time(REFERENCE),
            "databaseBuildNumber": 9_120_015,
            "serverTime": now,
            "scmInfo": "sandbox",
            "serverTitle": "Jira Data Center (sandbox)",
        })),
    }
}

// ---------------------------------------------------------------------------------------------
// Create metadata
// ---------------------------------------------------------------------------------------------

fn page_params(ctx: &Ctx<'_>, limit: i64) -> Result<(usize, usize, i64, i64), Reply> {
    let p = &ctx.params;
    let start = p.int("startAt", 0).map_err(|m| Reply::jira_bad(&m))?;
    let max = p.int("maxResults", 50).map_err(|m| Reply::jira_bad(&m))?;
    if max > limit {
        return Err(Reply::jira_bad(&format!(
            "Parameter 'maxResults' must not exceed the limit '{limit}'"
        )));
    }
    if start < 0 || max < 0 {
        return Err(Reply::jira_bad(
            "The 'startAt' and 'maxResults' parameters must not be negative.",
        ));
    }
    Ok((
        usize::try_from(start).unwrap_or(usize::MAX),
        usize::try_from(max).unwrap_or(0),
        start,
        max,
    ))
}

fn no_project(key: &str) -> Reply {
    Reply::jira_not_found(&format!("No project could be found with key '{key}'."))
}

fn createmeta_types(ctx: &Ctx<'_>, project: &str) -> Reply {
    if ctx.store.project(project).is_none() {
        return no_project(project);
    }
    let (s, m, start, max) = match page_params(ctx, 200) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let all: Vec<Value> = (0..ISSUE_TYPES.len())
        .map(|i| issuetype_json(ctx, i))
        .collect();
    let total = all.len();
    let values: Vec<Value> = all.into_iter().skip(s).take(m).collect();
    let is_last = s.saturating_add(values.len()) >= total;
    match ctx.site {
        Site::Cloud => Reply::ok(
            json!({"issueTypes": values, "maxResults": max, "startAt": start, "total": total}),
        ),
        Site::Dc => Reply::ok(
            json!({"maxResults": max, "startAt": start, "total": total, "isLast": is_last, "values": values}),
        ),
    }
}

fn createmeta_fields(ctx: &Ctx<'_>, project: &str, type_id: &str) -> Reply {
    let Some(pidx) = ctx.store.project(project) else {
        return no_project(project);
    };
    let Some(tidx) = ISSUE_TYPES.iter().position(|t| t.id == type_id) else {
        return Reply::jira_not_found(&format!(
            "The issue type with id '{type_id}' does not exist or is not valid for project '{project}'."
        ));
    };
    let (s, m, start, max) = match page_params(ctx, 200) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(proj) = ctx.store.projects.get(pidx) else {
        return no_project(project);
    };
    let itype = ISSUE_TYPES.get(tidx).copied();
    let is_subtask = itype.is_some_and(|t| t.subtask);
    let autocomplete = |what: &str| match ctx.site {
        Site::Cloud => format!("{}/{what}?project={}&query=", api(ctx), proj.key),
        Site::Dc => format!("{}/{what}?project={}&username=", api(ctx), proj.key),
    };
    let field = |id: &str, name: &str, required: bool, schema: Value, ops: &[&str]| {
        json!({
            "required": required,
            "schema": schema,
            "name": name,
            "key": id,
            "fieldId": id,
            "hasDefaultValue": false,
            "operations": ops,
        })
    };
    let mut fields = vec![
        {
            let mut f = field(
                "issuetype",
                "Issue Type",
                true,
                json!({"type": "issuetype", "system": "issuetype"}),
                &[],
            );
            f["allowedValues"] = json!([issuetype_json(ctx, tidx)]);
            f
        },
        {
            let mut f = field(
                "project",
                "Project",
                true,
                json!({"type": "project", "system": "project"}),
                &["set"],
            );
            f["allowedValues"] = json!([project_json(ctx, proj, &[])]);
            f
        },
        field(
            "summary",
            "Summary",
            true,
            json!({"type": "string", "system": "summary"}),
            &["set"],
        ),
        field(
            "description",
            "Description",
            false,
            json!({"type": "string", "system": "description"}),
            &["set"],
        ),
        {
            let mut f = field(
                "reporter",
                "Reporter",
                true,
                json!({"type": "user", "system": "reporter"}),
                &["set"],
            );
            f["hasDefaultValue"] = json!(true);
            f["autoCompleteUrl"] = json!(autocomplete("user/search"));
            f
        },
        {
            let mut f = field(
                "assignee",
                "Assignee",
                false,
                json!({"type": "user", "system": "assignee"}),
                &["set"],
            );
            f["autoCompleteUrl"] = json!(autocomplete("user/assignable/search"));
            f
        },
        {
            let mut f = field(
                "priority",
                "Priority",
                false,
                json!({"type": "priority", "system": "priority"}),
                &["set"],
            );
            f["hasDefaultValue"] = json!(true);
            f["allowedValues"] = Value::Array(
                (0..PRIORITIES.len())
                    .map(|i| priority_json(ctx, i))
                    .collect(),
            );
            f["defaultValue"] = priority_json(ctx, 2);
            f
        },
        {
            let mut f = field(
                "labels",
                "Labels",
                false,
                json!({"type": "array", "items": "string", "system": "labels"}),
                &["add", "set", "remove"],
            );
            f["autoCompleteUrl"] = json!(format!(
                "{}/rest/api/1.0/labels/suggest?query=",
                ctx.jira_base
            ));
            f
        },
        field(
            "duedate",
            "Due date",
            false,
            json!({"type": "date", "system": "duedate"}),
            &["set"],
        ),
        {
            let mut f = field(
                "components",
                "Components",
                false,
                json!({"type": "array", "items": "component", "system": "components"}),
                &["add", "set", "remove"],
            );
            f["allowedValues"] = Value::Array(
                proj.components
                    .iter()
                    .map(|(id, n)| component_json(ctx, *id, n))
                    .collect(),
            );
            f
        },
        field(
            "parent",
            "Parent",
            is_subtask,
            json!({"type": "issuelink", "system": "parent"}),
            &["set"],
        ),
    ];
    for cf in CUSTOM_FIELDS
        .iter()
        .filter(|cf| itype.is_some_and(|t| cf.applies(proj.key, &t)))
    {
        let mut f = field(
            cf.id,
            cf.name,
            itype.is_some_and(|t| cf.required(&t)),
            json!({"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select", "customId": cf.custom_id}),
            &["set"],
        );
        f["allowedValues"] = Value::Array(
            cf.options
                .iter()
                .map(|(id, value)| json!({"self": format!("{}/customFieldOption/{id}", api(ctx)), "value": value, "id": id}))
                .collect(),
        );
        fields.push(f);
    }
    let total = fields.len();
    let values: Vec<Value> = fields.into_iter().skip(s).take(m).collect();
    let is_last = s.saturating_add(values.len()) >= total;
    match ctx.site {
        Site::Cloud => Reply::ok(
            json!({"fields": values, "maxResults": max, "startAt": start, "total": total}),
        ),
        Site::Dc => Reply::ok(
            json!({"maxResults": max, "startAt": start, "total": total, "isLast": is_last, "values": values}),
        ),
    }
}
