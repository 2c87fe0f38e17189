//! Jira write handlers, Cloud (`/rest/api/3`, ADF) and Data Center (`/rest/api/2`, wiki-markup
//! strings): create (`POST /issue`), bulk create (`POST /issue/bulk`, at most 50), edit
//! (`PUT /issue/{key}`), comments, transitions along the seed workflow, and issue properties.
//! Field validation follows the create screens `createmeta` describes (`jira.rs`): the same
//! field ids, required fields and allowed values. Shapes follow `jira-platform-v3.openapi.json`
//! (IssueUpdateDetails, IssuesUpdateBean, CreatedIssue(s), BulkOperationErrorResult,
//! EntityProperty, PropertyKeys, Comment, ErrorCollection).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::jira::{self, DefaultFields, FieldSel};
use super::jira_fields::{self as fields, Set, apply, parse_comment_body};
use super::seed::{
    ChangeItem, Comment, DEMO, Issue, STATUSES, Store, TRANSITION_IDS, transitions_from,
};
use super::wire::{Reply, json_body};
use super::{Ctx, Req, Site};

/// Most issues one bulk request may create.
const BULK_LIMIT: usize = 50;
/// Largest issue property value (serialized JSON), as in Jira.
const MAX_PROPERTY_BYTES: usize = 32_768;

/// A Jira 400 body: messages and per-field errors.
#[derive(Debug, Default)]
pub(super) struct Problem {
    pub messages: Vec<String>,
    pub errors: BTreeMap<String, String>,
}

impl Problem {
    fn message(m: impl Into<String>) -> Self {
        Self {
            messages: vec![m.into()],
            errors: BTreeMap::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.errors.is_empty()
    }

    fn json(&self) -> Value {
        json!({"errorMessages": self.messages, "errors": self.errors})
    }

    fn reply(&self) -> Reply {
        Reply::json(400, self.json())
    }
}

/// A reply with no body (204).
fn no_content() -> Reply {
    Reply {
        status: 204,
        body: None,
        text: None,
        headers: Vec::new(),
    }
}

/// Routes the Jira writes; `None` for anything else (the read router answers).
pub(crate) fn route(req: &Req<'_>, store: &mut Store, rest: &[&str]) -> Option<Reply> {
    Some(match (req.method.as_str(), rest) {
        ("POST", ["issue"]) => create(req, store),
        ("POST", ["issue", "bulk"]) => bulk(req, store),
        ("PUT", ["issue", key]) => edit(req, store, key),
        ("DELETE", ["issue", key]) => delete_issue(req, store, key),
        ("POST", ["issue", key, "comment"]) => add_comment(req, store, key),
        ("POST", ["issue", key, "transitions"]) => transition(req, store, key),
        ("PUT", ["issue", key, "properties", prop]) => put_property(req, store, key, prop),
        ("DELETE", ["issue", key, "properties", prop]) => delete_property(store, key, prop),
        _ => return None,
    })
}

fn api(req: &Req<'_>) -> String {
    match req.site {
        Site::Cloud => format!("{}/rest/api/3", req.jira_base),
        Site::Dc => format!("{}/rest/api/2", req.jira_base),
    }
}

/// The request body as a JSON object, or a Jira 400.
fn object_body(body: &[u8]) -> Result<Map<String, Value>, Reply> {
    match json_body(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Reply::jira_bad("The request body must be a JSON object.")),
        Err(m) => Err(Reply::jira_bad(&m)),
    }
}

/// An optional member that must be an object when present.
fn object_member<'a>(
    m: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, Problem> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(Problem::message(format!(
            "The '{key}' member must be a JSON object."
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Create and bulk create
// ---------------------------------------------------------------------------------------------

fn created_json(req: &Req<'_>, issue: &Issue) -> Value {
    json!({"id": issue.id.to_string(), "key": issue.key, "self": format!("{}/issue/{}", api(req), issue.id)})
}

fn create(req: &Req<'_>, store: &mut Store) -> Reply {
    let body = match object_body(req.body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match create_issue(req, store, &body) {
        Ok(idx) => match store.issues.get(idx) {
            Some(issue) => Reply::json(201, created_json(req, issue)),
            None => Reply::error(super::wire::Family::Jira, 500, "The issue was lost."),
        },
        Err(p) => p.reply(),
    }
}

fn bulk(req: &Req<'_>, store: &mut Store) -> Reply {
    let body = match object_body(req.body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(updates) = body.get("issueUpdates").and_then(Value::as_array) else {
        return Reply::jira_bad("The request must contain an 'issueUpdates' array of issues.");
    };
    if updates.len() > BULK_LIMIT {
        return Reply::jira_bad(&format!(
            "You can create at most {BULK_LIMIT} issues in one bulk request; this one has {}.",
            updates.len()
        ));
    }
    let mut issues = Vec::new();
    let mut errors = Vec::new();
    for (n, element) in updates.iter().enumerate() {
        let result = match element {
            Value::Object(m) => create_issue(req, store, m),
            _ => Err(Problem::message(
                "Each element of 'issueUpdates' must be a JSON object.",
            )),
        };
        match result.map(|idx| store.issues.get(idx)) {
            Ok(Some(issue)) => issues.push(created_json(req, issue)),
            Ok(None) => errors.push(
                json!({"status": 500, "failedElementNumber": n, "elementErrors": Problem::message("The issue was lost.").json()}),
            ),
            Err(p) => errors.push(
                json!({"status": 400, "failedElementNumber": n, "elementErrors": p.json()}),
            ),
        }
    }
    let status = if issues.is_empty() && !errors.is_empty() {
        400
    } else {
        201
    };
    Reply::json(status, json!({"issues": issues, "errors": errors}))
}

/// Validates one `IssueUpdateDetails` and, when it is valid, creates the issue (returning
/// its index). Nothing changes when it is not.
fn create_issue(
    req: &Req<'_>,
    store: &mut Store,
    body: &Map<String, Value>,
) -> Result<usize, Problem> {
    let fields = object_member(body, "fields")?.cloned().unwrap_or_default();
    let update = object_member(body, "update")?.cloned().unwrap_or_default();
    let mut p = Problem::default();
    let project = fields::project_of(store, fields.get("project"))
        .map_err(|m| p.errors.insert("project".into(), m))
        .ok();
    let itype = fields::issuetype_of(fields.get("issuetype"))
        .map_err(|m| p.errors.insert("issuetype".into(), m))
        .ok();
    let (Some(project), Some(itype)) = (project, itype) else {
        return Err(p);
    };
    let mut sets = Vec::new();
    for (id, value) in &fields {
        if id == "project" || id == "issuetype" {
            continue;
        }
        if !fields::on_screen(store, project, itype, id) {
            p.errors.insert(id.clone(), fields::not_on_screen(id));
            continue;
        }
        match fields::parse_field(req.site, store, project, itype, None, id, value) {
            Ok(set) => sets.push(set),
            Err(m) => {
                p.errors.insert(id.clone(), m);
            }
        }
    }
    for (id, ops) in &update {
        match (id.as_str(), fields.contains_key(id)) {
            ("labels", false) => match fields::label_ops(ops) {
                Ok(set) => sets.push(set),
                Err(m) => {
                    p.errors.insert(id.clone(), m);
                }
            },
            _ => {
                p.errors.insert(id.clone(), fields::not_on_screen(id));
            }
        }
    }
    fields::check_required(store, project, itype, &fields, &mut p.errors);
    let properties = match parse_properties(body.get("properties")) {
        Ok(props) => props,
        Err(m) => {
            p.messages.push(m);
            BTreeMap::new()
        }
    };
    if !p.is_empty() {
        return Err(p);
    }
    let now = store.tick();
    let number = store.next_issue_number(project);
    let key = format!(
        "{}-{number}",
        store.projects.get(project).map_or("X", |pr| pr.key)
    );
    let mut issue = Issue {
        id: store.next_issue_id(),
        key,
        project,
        number,
        itype,
        status: 0,
        priority: 2,
        summary: String::new(),
        assignee: None,
        reporter: DEMO,
        created: now,
        updated: now,
        due: None,
        labels: Vec::new(),
        parent: None,
        components: Vec::new(),
        adf: None,
        wiki: None,
        text: String::new(),
        comments: Vec::new(),
        changelog: Vec::new(),
        resolved: None,
        properties,
        custom: BTreeMap::new(),
    };
    for set in sets {
        apply(store, &mut issue, set);
    }
    store.issues.push(issue);
    Ok(store.issues.len() - 1)
}

/// `IssueUpdateDetails.properties`: `[{"key": "…", "value": <json>}]`.
fn parse_properties(v: Option<&Value>) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    let items = match v {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(
                "The 'properties' member must be an array of {\"key\", \"value\"} objects.".into(),
            );
        }
    };
    for item in items {
        let key = item.get("key").and_then(Value::as_str).unwrap_or("");
        check_property_key(key)?;
        let value = item.get("value").cloned().unwrap_or(Value::Null);
        check_property_value(&value)?;
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

fn check_property_key(key: &str) -> Result<(), String> {
    if key.trim().is_empty() {
        Err("The property key cannot be empty.".into())
    } else if key.chars().count() > 255 {
        Err("The property key cannot be longer than 255 characters.".into())
    } else {
        Ok(())
    }
}

fn check_property_value(value: &Value) -> Result<(), String> {
    if value.is_null() {
        return Err("The property value cannot be null.".into());
    }
    let size = serde_json::to_vec(value).map_or(usize::MAX, |b| b.len());
    if size > MAX_PROPERTY_BYTES {
        return Err(format!(
            "The property value cannot be longer than {MAX_PROPERTY_BYTES} bytes."
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Edit, comment, transition
// ---------------------------------------------------------------------------------------------

/// The single `{"set": v}` / `{"add": v}` operation of an `update` list, if that is what it is.
fn single_op<'a>(ops: &'a Value, op: &str) -> Option<&'a Value> {
    match ops.as_array().map(Vec::as_slice) {
        Some([only]) => only.get(op),
        _ => None,
    }
}

fn edit(req: &Req<'_>, store: &mut Store, key: &str) -> Reply {
    let Some(idx) = store.issue_index(key) else {
        return jira::issue_missing();
    };
    let body = match object_body(req.body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (fields, update) = match (
        object_member(&body, "fields"),
        object_member(&body, "update"),
    ) {
        (Ok(f), Ok(u)) => (
            f.cloned().unwrap_or_default(),
            u.cloned().unwrap_or_default(),
        ),
        (Err(p), _) | (_, Err(p)) => return p.reply(),
    };
    let Some((project, itype)) = store.issues.get(idx).map(|i| (i.project, i.itype)) else {
        return jira::issue_missing();
    };
    let mut p = Problem::default();
    let mut sets = Vec::new();
    let mut comments = Vec::new();
    let parse = |id: &str, value: &Value, p: &mut Problem, sets: &mut Vec<Set>| {
        if id == "project" || id == "issuetype" || !fields::on_screen(store, project, itype, id) {
            p.errors.insert(id.to_string(), fields::not_on_screen(id));
            return;
        }
        match fields::parse_field(req.site, store, project, itype, Some(idx), id, value) {
            Ok(set) => sets.push(set),
            Err(m) => {
                p.errors.insert(id.to_string(), m);
            }
        }
    };
    for (id, value) in &fields {
        parse(id, value, &mut p, &mut sets);
    }
    for (id, ops) in &update {
        if fields.contains_key(id) {
            p.errors.insert(
                id.clone(),
                format!("Field '{id}' cannot be set in both 'fields' and 'update'."),
            );
            continue;
        }
        match id.as_str() {
            "labels" => match fields::label_ops(ops) {
                Ok(set) => sets.push(set),
                Err(m) => {
                    p.errors.insert(id.clone(), m);
                }
            },
            "comment" => match comment_ops(req.site, ops) {
                Ok(mut c) => comments.append(&mut c),
                Err(m) => {
                    p.errors.insert(id.clone(), m);
                }
            },
            _ => match single_op(ops, "set") {
                Some(value) => parse(id, value, &mut p, &mut sets),
                None => {
                    p.errors.insert(
                        id.clone(),
                        format!("Field '{id}' supports only one 'set' operation here."),
                    );
                }
            },
        }
    }
    if !p.is_empty() {
        return p.reply();
    }
    let now = store.tick();
    if let Some(mut issue) = store.issues.get(idx).cloned() {
        let mut items = Vec::new();
        for set in sets {
            items.extend(apply(store, &mut issue, set));
        }
        issue.updated = now;
        if let Some(slot) = store.issues.get_mut(idx) {
            *slot = issue;
        }
        store.record_change(idx, DEMO, now, items);
    }
    for body in comments {
        push_comment(store, idx, body, now);
    }
    if req.params.get("returnIssue") == Some("true") {
        let ctx = req.ctx(store);
        return match store.issues.get(idx) {
            Some(issue) => Reply::ok(jira::issue_json(
                &ctx,
                issue,
                &FieldSel::parse(&[], DefaultFields::All),
                &req.params.list("expand"),
                false,
            )),
            None => jira::issue_missing(),
        };
    }
    no_content()
}

/// `update.comment`: `[{"add": {"body": …}}, …]` → comment bodies (ADF, wiki, text).
fn comment_ops(site: Site, ops: &Value) -> Result<Vec<(Value, String, String)>, String> {
    let Some(list) = ops.as_array() else {
        return Err("The 'comment' update must be a list of {\"add\": {\"body\": …}}.".into());
    };
    list.iter()
        .map(|op| match op.get("add") {
            Some(add) => parse_comment_body(site, add.get("body")),
            None => Err("Only the 'add' operation is supported for comments.".into()),
        })
        .collect()
}

fn push_comment(
    store: &mut Store,
    idx: usize,
    (adf, wiki, text): (Value, String, String),
    at: time::OffsetDateTime,
) -> Option<u64> {
    let id = store.next_comment_id();
    let issue = store.issues.get_mut(idx)?;
    issue.comments.push(Comment {
        id,
        author: DEMO,
        adf,
        wiki,
        text,
        created: at,
        updated: at,
    });
    issue.updated = at;
    Some(id)
}

fn add_comment(req: &Req<'_>, store: &mut Store, key: &str) -> Reply {
    let Some(idx) = store.issue_index(key) else {
        return jira::issue_missing();
    };
    let body = match object_body(req.body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let parsed = match parse_comment_body(req.site, body.get("body")) {
        Ok(b) => b,
        Err(m) => {
            return Reply::json(400, json!({"errorMessages": [], "errors": {"comment": m}}));
        }
    };
    let now = store.tick();
    let id = push_comment(store, idx, parsed, now);
    let ctx: Ctx<'_> = req.ctx(store);
    let found = store.issues.get(idx).and_then(|issue| {
        let c = issue.comments.iter().find(|c| Some(c.id) == id)?;
        Some(jira::comment_json(&ctx, issue, c))
    });
    match found {
        Some(v) => Reply::json(201, v),
        None => jira::issue_missing(),
    }
}

fn transition(req: &Req<'_>, store: &mut Store, key: &str) -> Reply {
    let Some(idx) = store.issue_index(key) else {
        return jira::issue_missing();
    };
    let body = match object_body(req.body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let id = match body.get("transition").and_then(|t| t.get("id")) {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Reply::jira_bad("Missing 'transition' identifier"),
    };
    let Some(current) = store.issues.get(idx).map(|i| i.status) else {
        return jira::issue_missing();
    };
    let target = TRANSITION_IDS
        .iter()
        .position(|t| *t == id)
        .filter(|t| transitions_from(current).contains(t));
    let Some(target) = target else {
        return Reply::jira_bad(&format!(
            "Transition id '{id}' is not valid for this issue."
        ));
    };
    let mut p = Problem::default();
    if let Ok(Some(f)) = object_member(&body, "fields") {
        for id in f.keys() {
            p.errors.insert(id.clone(), fields::not_on_screen(id));
        }
    }
    let mut comments = Vec::new();
    match object_member(&body, "update") {
        Err(e) => return e.reply(),
        Ok(None) => {}
        Ok(Some(u)) => {
            for (id, ops) in u {
                if id == "comment" {
                    match comment_ops(req.site, ops) {
                        Ok(mut c) => comments.append(&mut c),
                        Err(m) => {
                            p.errors.insert(id.clone(), m);
                        }
                    }
                } else {
                    p.errors.insert(id.clone(), fields::not_on_screen(id));
                }
            }
        }
    }
    if !p.is_empty() {
        return p.reply();
    }
    let now = store.tick();
    if let Some(issue) = store.issues.get_mut(idx) {
        issue.status = target;
        issue.updated = now;
        let done = STATUSES.get(target).is_some_and(|s| s.category == 2);
        issue.resolved = done.then_some(now);
    }
    let (from, to) = (STATUSES.get(current), STATUSES.get(target));
    let item = ChangeItem {
        field: "status",
        field_id: "status",
        from: from.map(|s| s.id.to_string()),
        from_string: from.map(|s| s.name.to_string()),
        to: to.map(|s| s.id.to_string()),
        to_string: to.map(|s| s.name.to_string()),
    };
    store.record_change(idx, DEMO, now, vec![item]);
    for c in comments {
        push_comment(store, idx, c, now);
    }
    no_content()
}

// ---------------------------------------------------------------------------------------------
// Issue properties
// ---------------------------------------------------------------------------------------------

/// `GET /issue/{key}/properties` → `PropertyKeys`.
pub(crate) fn property_keys(ctx: &Ctx<'_>, key: &str) -> Reply {
    let Some(issue) = ctx.store.issue(key) else {
        return jira::issue_missing();
    };
    let keys: Vec<Value> = issue
        .properties
        .keys()
        .map(|k| {
            json!({"self": format!("{}/issue/{}/properties/{}", jira::api(ctx), issue.id, super::wire::enc(k)), "key": k})
        })
        .collect();
    Reply::ok(json!({"keys": keys}))
}

/// `GET /issue/{key}/properties/{propertyKey}` → `EntityProperty`.
pub(crate) fn get_property(ctx: &Ctx<'_>, key: &str, prop: &str) -> Reply {
    let Some(issue) = ctx.store.issue(key) else {
        return jira::issue_missing();
    };
    match issue.properties.get(prop) {
        Some(v) => Reply::ok(json!({"key": prop, "value": v})),
        None => Reply::jira_not_found(&format!("The property with key '{prop}' does not exist.")),
    }
}

fn put_property(req: &Req<'_>, store: &mut Store, key: &str, prop: &str) -> Reply {
    let Some(idx) = store.issue_index(key) else {
        return jira::issue_missing();
    };
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Reply::jira_bad("The property value cannot be empty.");
    }
    let value = match json_body(req.body) {
        Ok(v) => v,
        Err(m) => return Reply::jira_bad(&m),
    };
    if let Err(m) = check_property_key(prop).and_then(|()| check_property_value(&value)) {
        return Reply::jira_bad(&m);
    }
    // Entity properties are app data: setting one does not touch the issue's `updated`.
    let Some(issue) = store.issues.get_mut(idx) else {
        return jira::issue_missing();
    };
    let existed = issue.properties.insert(prop.to_string(), value).is_some();
    Reply {
        status: if existed { 200 } else { 201 },
        body: None,
        text: None,
        headers: Vec::new(),
    }
}

fn delete_property(store: &mut Store, key: &str, prop: &str) -> Reply {
    let Some(issue) = store.issue_index(key).and_then(|i| store.issues.get_mut(i)) else {
        return jira::issue_missing();
    };
    match issue.properties.remove(prop) {
        Some(_) => no_content(),
        None => Reply::jira_not_found(&format!("The property with key '{prop}' does not exist.")),
    }
}

/// `DELETE /issue/{key}?deleteSubtasks=` → 204; 400 when the issue has sub-tasks and
/// `deleteSubtasks` is not `true` (the spec's rule), 404 when there is no such issue.
fn delete_issue(req: &Req<'_>, store: &mut Store, key: &str) -> Reply {
    let with_subtasks = match req.params.get("deleteSubtasks") {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => {
            return Reply::jira_bad(&format!(
                "The value '{v}' is not valid for 'deleteSubtasks': use true or false."
            ));
        }
    };
    let Some(idx) = store.issue_index(key) else {
        return jira::issue_missing();
    };
    match store.delete_issue(idx, with_subtasks) {
        Ok(_) => no_content(),
        Err(subtasks) => Reply::jira_bad(&format!(
            "The issue has sub-tasks ({}); set deleteSubtasks=true to delete them with it.",
            subtasks.join(", ")
        )),
    }
}
