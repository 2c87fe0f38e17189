//! Field validation for Jira writes: which fields a create/edit screen has (the same list
//! `createmeta` shows), how each value is given (objects by id or name, ADF on Cloud v3,
//! wiki-markup strings and usernames on Data Center), the required fields, and applying a
//! validated value to an issue with its changelog item. Also the site's field list
//! (`GET /rest/api/{2,3}/field`: FieldDetails for every system and custom field).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::Site;
use super::seed::{
    CUSTOM_FIELDS, ChangeItem, CustomField, ISSUE_TYPES, Issue, PRIORITIES, Store, adf_text,
    text_adf,
};

/// System fields on every create and edit screen (`parent` only matters for child types).
const SYSTEM_FIELDS: [&str; 11] = [
    "summary",
    "description",
    "issuetype",
    "project",
    "reporter",
    "assignee",
    "priority",
    "labels",
    "duedate",
    "components",
    "parent",
];

/// One validated field value.
#[derive(Debug, Clone)]
pub(super) enum Set {
    Summary(String),
    /// ADF (Cloud view), wiki markup (Data Center view), plain text (search).
    Description(Option<(Value, String, String)>),
    Priority(usize),
    Assignee(Option<usize>),
    Reporter(usize),
    Labels(Vec<String>),
    LabelOps(Vec<LabelOp>),
    Due(Option<OffsetDateTime>),
    Components(Vec<u64>),
    Parent(Option<usize>),
    /// A select option `{"id","value"}`, or null to clear.
    Custom(&'static CustomField, Value),
}

/// One `update.labels` operation.
#[derive(Debug, Clone)]
pub(super) enum LabelOp {
    Add(String),
    Remove(String),
    Set(Vec<String>),
}

/// Jira's message for a field that is not on the screen.
pub(super) fn not_on_screen(id: &str) -> String {
    format!("Field '{id}' cannot be set. It is not on the appropriate screen, or unknown.")
}

fn custom_field(
    store: &Store,
    project: usize,
    itype: usize,
    id: &str,
) -> Option<&'static CustomField> {
    let key = store.projects.get(project)?.key;
    let t = ISSUE_TYPES.get(itype)?;
    CUSTOM_FIELDS
        .iter()
        .find(|cf| cf.id == id && cf.applies(key, t))
}

/// Whether `id` is on the create/edit screen of `itype` in `project`.
pub(super) fn on_screen(store: &Store, project: usize, itype: usize, id: &str) -> bool {
    SYSTEM_FIELDS.contains(&id) || custom_field(store, project, itype, id).is_some()
}

/// `fields.project`: `{"key": "ENG"}` or `{"id": "10000"}`.
pub(super) fn project_of(store: &Store, v: Option<&Value>) -> Result<usize, String> {
    let wanted = v
        .and_then(|p| p.get("key").or_else(|| p.get("id")))
        .and_then(scalar);
    wanted
        .and_then(|k| store.project(&k))
        .ok_or_else(|| "Specify a valid project ID or key".to_string())
}

/// `fields.issuetype`: `{"id": "10002"}` or `{"name": "Bug"}`.
pub(super) fn issuetype_of(v: Option<&Value>) -> Result<usize, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Err("Specify an issue type".into());
    };
    let by_id = v.get("id").and_then(scalar);
    let by_name = v.get("name").and_then(Value::as_str);
    ISSUE_TYPES
        .iter()
        .position(|t| {
            by_id.as_deref() == Some(t.id)
                || by_name.is_some_and(|n| n.eq_ignore_ascii_case(t.name))
        })
        .ok_or_else(|| "The issue type selected is invalid.".into())
}

/// A string, or a number as a string.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The minimal ADF check: an object with `type: doc`, `version: 1` and a `content` array.
fn is_adf_doc(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("doc")
        && v.get("version").and_then(Value::as_i64) == Some(1)
        && v.get("content").is_some_and(Value::is_array)
}

/// A rich-text value: ADF on Cloud, a wiki-markup string on Data Center.
fn rich_text(site: Site, v: &Value) -> Result<Option<(Value, String, String)>, String> {
    match (site, v) {
        (_, Value::Null) => Ok(None),
        (Site::Cloud, v) if is_adf_doc(v) => {
            let text = adf_text(v);
            Ok(Some((v.clone(), text.clone(), text)))
        }
        (Site::Cloud, _) => Err("Operation value must be an Atlassian Document".into()),
        (Site::Dc, Value::String(s)) => Ok(Some((text_adf(s), s.clone(), s.clone()))),
        (Site::Dc, _) => Err("Operation value must be a string".into()),
    }
}

/// A comment body: (ADF, wiki markup, plain text); empty bodies are refused.
pub(super) fn parse_comment_body(
    site: Site,
    v: Option<&Value>,
) -> Result<(Value, String, String), String> {
    let parsed = rich_text(site, v.unwrap_or(&Value::Null))?;
    match parsed {
        Some(b) if !b.2.trim().is_empty() => Ok(b),
        _ => Err("Comment body can not be empty!".into()),
    }
}

/// A user: `{"accountId"|"id"}` on Cloud, `{"name"|"key"}` on Data Center; null for nobody.
fn user_of(site: Site, store: &Store, v: &Value) -> Result<Option<usize>, String> {
    if v.is_null() {
        return Ok(None);
    }
    match site {
        Site::Cloud => {
            let Some(id) = v.get("accountId").or_else(|| v.get("id")).and_then(scalar) else {
                return Err(
                    "Specify the user by 'accountId'; usernames are not supported on Jira Cloud."
                        .into(),
                );
            };
            store
                .users
                .iter()
                .position(|u| u.account_id == id)
                .map(Some)
                .ok_or_else(|| format!("User with accountId '{id}' does not exist."))
        }
        Site::Dc => {
            let Some(name) = v.get("name").or_else(|| v.get("key")).and_then(scalar) else {
                return Err("Specify the user by 'name' (username).".into());
            };
            store
                .users
                .iter()
                .position(|u| {
                    u.name.eq_ignore_ascii_case(&name) || u.key.eq_ignore_ascii_case(&name)
                })
                .map(Some)
                .ok_or_else(|| format!("User '{name}' does not exist."))
        }
    }
}

fn label(v: &Value) -> Result<String, String> {
    let Some(s) = v.as_str() else {
        return Err("Labels must be strings.".into());
    };
    if s.is_empty() {
        Err("A label cannot be empty.".into())
    } else if s.chars().any(char::is_whitespace) {
        Err(format!("The label '{s}' contains spaces which is invalid."))
    } else if s.chars().count() > 255 {
        Err(format!("The label '{s}' exceeds the 255 character limit."))
    } else {
        Ok(s.to_string())
    }
}

fn labels(v: &Value) -> Result<Vec<String>, String> {
    let Some(items) = v.as_array() else {
        return Err("The labels must be a list of strings.".into());
    };
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let l = label(item)?;
        if !out.contains(&l) {
            out.push(l);
        }
    }
    Ok(out)
}

/// `update.labels`: `[{"add": "x"}, {"remove": "y"}, {"set": ["a"]}]`.
pub(super) fn label_ops(ops: &Value) -> Result<Set, String> {
    let Some(list) = ops.as_array() else {
        return Err("The 'labels' update must be a list of operations.".into());
    };
    let mut out = Vec::new();
    for op in list {
        if let Some(v) = op.get("add") {
            out.push(LabelOp::Add(label(v)?));
        } else if let Some(v) = op.get("remove") {
            out.push(LabelOp::Remove(label(v)?));
        } else if let Some(v) = op.get("set") {
            out.push(LabelOp::Set(labels(v)?));
        } else {
            return Err("Label operations are 'add', 'remove' and 'set'.".into());
        }
    }
    Ok(Set::LabelOps(out))
}

/// Validates one field value for `itype` in `project`; `editing` is the edited issue's index.
pub(super) fn parse_field(
    site: Site,
    store: &Store,
    project: usize,
    itype: usize,
    editing: Option<usize>,
    id: &str,
    v: &Value,
) -> Result<Set, String> {
    let t = ISSUE_TYPES
        .get(itype)
        .ok_or("The issue type selected is invalid.")?;
    Ok(match id {
        "summary" => {
            let s = v.as_str().map(str::trim).unwrap_or("");
            if s.is_empty() {
                return Err("You must specify a summary of the issue.".into());
            }
            if s.contains(['\n', '\r']) {
                return Err(
                    "The summary is invalid because it contains newline characters.".into(),
                );
            }
            if s.chars().count() > 255 {
                return Err("Summary must be less than 255 characters.".into());
            }
            Set::Summary(s.to_string())
        }
        "description" => Set::Description(rich_text(site, v)?),
        "priority" => {
            let by_id = v.get("id").and_then(scalar);
            let by_name = v.get("name").and_then(Value::as_str);
            if by_id.is_none() && by_name.is_none() {
                return Err("Specify the Priority (id or name) in the string format".into());
            }
            Set::Priority(
                PRIORITIES
                    .iter()
                    .position(|(pid, name)| {
                        by_id.as_deref() == Some(*pid)
                            || by_name.is_some_and(|n| n.eq_ignore_ascii_case(name))
                    })
                    .ok_or("The priority selected is invalid.")?,
            )
        }
        "assignee" => Set::Assignee(user_of(site, store, v)?),
        "reporter" => Set::Reporter(user_of(site, store, v)?.ok_or("Reporter is required.")?),
        "labels" => Set::Labels(if v.is_null() { Vec::new() } else { labels(v)? }),
        "duedate" => Set::Due(match v {
            Value::Null => None,
            Value::String(s) => {
                Some(parse_day(s).ok_or_else(|| format!("Error parsing date string: {s}"))?)
            }
            _ => return Err("The due date must be a 'yyyy-MM-dd' string.".into()),
        }),
        "components" => {
            let comps = store
                .projects
                .get(project)
                .map(|p| p.components.as_slice())
                .unwrap_or(&[]);
            let mut out = Vec::new();
            for c in v.as_array().map(Vec::as_slice).unwrap_or(&[]) {
                let found = match (
                    c.get("id").and_then(scalar),
                    c.get("name").and_then(Value::as_str),
                ) {
                    (Some(cid), _) => comps
                        .iter()
                        .find(|(i, _)| i.to_string() == cid)
                        .ok_or(format!("Component with id '{cid}' does not exist.")),
                    (None, Some(n)) => comps
                        .iter()
                        .find(|(_, name)| name.eq_ignore_ascii_case(n))
                        .ok_or(format!("Component name '{n}' is not valid")),
                    _ => Err("Components are given as {\"id\"} or {\"name\"}.".to_string()),
                }?;
                out.push(found.0);
            }
            Set::Components(out)
        }
        "parent" => Set::Parent(parent_of(store, project, t, editing, v)?),
        _ => {
            let cf = custom_field(store, project, itype, id).ok_or_else(|| not_on_screen(id))?;
            if v.is_null() {
                if cf.required(t) {
                    return Err(format!("{} is required.", cf.name));
                }
                return Ok(Set::Custom(cf, Value::Null));
            }
            let option = match (
                v.get("id").and_then(scalar),
                v.get("value").and_then(Value::as_str),
            ) {
                (Some(oid), _) => cf
                    .options
                    .iter()
                    .find(|(i, _)| *i == oid)
                    .ok_or(format!("Option id '{oid}' is not valid")),
                (None, Some(val)) => cf
                    .options
                    .iter()
                    .find(|(_, ov)| *ov == val)
                    .ok_or(format!("Option value '{val}' is not valid")),
                _ => Err(format!("Specify a valid 'id' or 'value' for {}", cf.name)),
            }?;
            Set::Custom(cf, json!({"value": option.1, "id": option.0}))
        }
    })
}

fn parse_day(s: &str) -> Option<OffsetDateTime> {
    let mut it = s.trim().split('-');
    let y: i32 = it.next()?.parse().ok()?;
    let m: u8 = it.next()?.parse().ok()?;
    let d: u8 = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    let date = time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()?;
    Some(date.midnight().assume_utc())
}

/// `fields.parent`: sub-tasks need a non-sub-task parent in their project; standard issues may
/// sit under an epic; epics have no parent.
fn parent_of(
    store: &Store,
    project: usize,
    t: &super::seed::IssueType,
    editing: Option<usize>,
    v: &Value,
) -> Result<Option<usize>, String> {
    if v.is_null() {
        if t.subtask {
            return Err(
                "Issue type is a sub-task but parent issue key or id not specified.".into(),
            );
        }
        return Ok(None);
    }
    let wanted = v.get("key").or_else(|| v.get("id")).and_then(scalar);
    let idx = wanted
        .and_then(|k| store.issue_index(&k))
        .ok_or("Could not find issue by id or key.")?;
    let parent = store
        .issues
        .get(idx)
        .ok_or("Could not find issue by id or key.")?;
    let ptype = ISSUE_TYPES
        .get(parent.itype)
        .ok_or("Could not find issue by id or key.")?;
    let fits = if t.subtask {
        !ptype.subtask
    } else {
        ptype.level == t.level + 1
    };
    if Some(idx) == editing || !fits {
        return Err("Given parent work item does not belong to appropriate hierarchy.".into());
    }
    if t.subtask && parent.project != project {
        return Err("Sub-tasks must be created in the same project as the parent.".into());
    }
    Ok(Some(idx))
}

/// Adds errors for required fields missing from a create.
pub(super) fn check_required(
    store: &Store,
    project: usize,
    itype: usize,
    fields: &Map<String, Value>,
    errors: &mut BTreeMap<String, String>,
) {
    let Some(t) = ISSUE_TYPES.get(itype) else {
        return;
    };
    let missing = |id: &str| !fields.contains_key(id);
    if missing("summary") {
        errors
            .entry("summary".into())
            .or_insert_with(|| "You must specify a summary of the issue.".into());
    }
    if t.subtask && missing("parent") {
        errors.entry("parent".into()).or_insert_with(|| {
            "Issue type is a sub-task but parent issue key or id not specified.".into()
        });
    }
    let key = store.projects.get(project).map_or("", |p| p.key);
    for cf in CUSTOM_FIELDS
        .iter()
        .filter(|cf| cf.applies(key, t) && cf.required(t))
    {
        if missing(cf.id) {
            errors
                .entry(cf.id.into())
                .or_insert_with(|| format!("{} is required.", cf.name));
        }
    }
}

fn item(
    field: &'static str,
    field_id: &'static str,
    from: (Option<String>, Option<String>),
    to: (Option<String>, Option<String>),
) -> ChangeItem {
    ChangeItem {
        field,
        field_id,
        from: from.0,
        from_string: from.1,
        to: to.0,
        to_string: to.1,
    }
}

fn user_pair(store: &Store, u: Option<usize>) -> (Option<String>, Option<String>) {
    let user = u.and_then(|i| store.users.get(i));
    (
        user.map(|u| u.account_id.to_string()),
        user.map(|u| u.display.to_string()),
    )
}

fn text_pair(s: Option<String>) -> (Option<String>, Option<String>) {
    (None, s)
}

/// Applies a validated value; returns the changelog items (empty when nothing changed).
pub(super) fn apply(store: &Store, issue: &mut Issue, set: Set) -> Vec<ChangeItem> {
    let mut out = Vec::new();
    match set {
        Set::Summary(s) if s != issue.summary => {
            let old = std::mem::replace(&mut issue.summary, s.clone());
            out.push(item(
                "summary",
                "summary",
                text_pair(Some(old)),
                text_pair(Some(s)),
            ));
        }
        Set::Description(d) => {
            let old = issue.text.clone();
            match d {
                Some((adf, wiki, text)) => {
                    issue.adf = Some(adf);
                    issue.wiki = Some(wiki);
                    issue.text = text;
                }
                None => {
                    issue.adf = None;
                    issue.wiki = None;
                    issue.text = String::new();
                }
            }
            if old != issue.text {
                let to = issue.text.clone();
                out.push(item(
                    "description",
                    "description",
                    text_pair(Some(old)),
                    text_pair(Some(to)),
                ));
            }
        }
        Set::Priority(p) if p != issue.priority => {
            let pair = |i: usize| {
                let x = PRIORITIES.get(i);
                (x.map(|x| x.0.to_string()), x.map(|x| x.1.to_string()))
            };
            out.push(item("priority", "priority", pair(issue.priority), pair(p)));
            issue.priority = p;
        }
        Set::Assignee(a) if a != issue.assignee => {
            out.push(item(
                "assignee",
                "assignee",
                user_pair(store, issue.assignee),
                user_pair(store, a),
            ));
            issue.assignee = a;
        }
        Set::Reporter(r) if r != issue.reporter => {
            out.push(item(
                "reporter",
                "reporter",
                user_pair(store, Some(issue.reporter)),
                user_pair(store, Some(r)),
            ));
            issue.reporter = r;
        }
        Set::Labels(l) => out.extend(set_labels(issue, l)),
        Set::LabelOps(ops) => {
            let mut l = issue.labels.clone();
            for op in ops {
                match op {
                    LabelOp::Add(x) if !l.contains(&x) => l.push(x),
                    LabelOp::Add(_) => {}
                    LabelOp::Remove(x) => l.retain(|y| *y != x),
                    LabelOp::Set(all) => l = all,
                }
            }
            out.extend(set_labels(issue, l));
        }
        Set::Due(d) if d != issue.due => {
            let day = |t: Option<OffsetDateTime>| t.map(super::wire::jira_date);
            out.push(item(
                "duedate",
                "duedate",
                (day(issue.due), day(issue.due)),
                (day(d), day(d)),
            ));
            issue.due = d;
        }
        Set::Components(c) => issue.components = c,
        Set::Parent(p) if p != issue.parent => {
            let key = |i: Option<usize>| i.and_then(|i| store.issues.get(i)).map(|x| x.key.clone());
            out.push(item(
                "IssueParentAssociation",
                "parent",
                (None, key(issue.parent)),
                (None, key(p)),
            ));
            issue.parent = p;
        }
        Set::Custom(cf, v) => {
            let name = |v: Option<&Value>| {
                v.and_then(|v| v.get("value"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let old = name(issue.custom.get(cf.id));
            let new = name(Some(&v));
            if v.is_null() {
                issue.custom.remove(cf.id);
            } else {
                issue.custom.insert(cf.id.to_string(), v);
            }
            if old != new {
                out.push(item(cf.name, cf.id, text_pair(old), text_pair(new)));
            }
        }
        _ => {}
    }
    out
}

fn set_labels(issue: &mut Issue, labels: Vec<String>) -> Option<ChangeItem> {
    if labels == issue.labels {
        return None;
    }
    let old = std::mem::replace(&mut issue.labels, labels);
    Some(item(
        "labels",
        "labels",
        text_pair(Some(old.join(" "))),
        text_pair(Some(issue.labels.join(" "))),
    ))
}

/// Schema type, item type and JQL clause names of the system fields (by id); a field missing
/// here (`parent`) has no schema, as on Jira Cloud.
const SYSTEM_SCHEMAS: &[(&str, &str, Option<&str>, &[&str])] = &[
    ("summary", "string", None, &["summary"]),
    ("status", "status", None, &["status"]),
    ("issuetype", "issuetype", None, &["issuetype", "type"]),
    ("priority", "priority", None, &["priority"]),
    ("assignee", "user", None, &["assignee"]),
    ("reporter", "user", None, &["reporter"]),
    ("creator", "user", None, &["creator"]),
    ("created", "datetime", None, &["created", "createdDate"]),
    ("updated", "datetime", None, &["updated", "updatedDate"]),
    ("duedate", "date", None, &["due", "duedate"]),
    ("labels", "array", Some("string"), &["labels"]),
    ("project", "project", None, &["project"]),
    ("description", "string", None, &["description"]),
    ("resolution", "resolution", None, &["resolution"]),
    (
        "resolutiondate",
        "datetime",
        None,
        &["resolutiondate", "resolved"],
    ),
    ("components", "array", Some("component"), &["component"]),
    ("subtasks", "array", Some("issuelinks"), &["subtasks"]),
    ("issuelinks", "array", Some("issuelinks"), &["issueLink"]),
    ("fixVersions", "array", Some("version"), &["fixVersion"]),
    ("comment", "comments-page", None, &["comment"]),
];

/// `GET /field`: every system field (`names` gives id, name and whether it is navigable) and
/// every custom field, as FieldDetails.
pub(super) fn field_list(names: &[(&str, &str, bool)]) -> Value {
    let mut out: Vec<Value> = names
        .iter()
        .map(|(id, name, navigable)| {
            let mut f = json!({
                "id": id, "key": id, "name": name, "custom": false, "orderable": true,
                "navigable": navigable, "searchable": true, "clauseNames": [],
            });
            if let Some((_, kind, items, clauses)) = SYSTEM_SCHEMAS.iter().find(|s| s.0 == *id) {
                let mut schema = json!({"type": kind, "system": id});
                if let Some(items) = items {
                    schema["items"] = json!(items);
                }
                f["schema"] = schema;
                f["clauseNames"] = json!(clauses);
            }
            f
        })
        .collect();
    out.extend(CUSTOM_FIELDS.iter().map(|cf| {
        json!({
            "id": cf.id, "key": cf.id, "name": cf.name, "custom": true, "orderable": true,
            "navigable": true, "searchable": true,
            "clauseNames": [format!("cf[{}]", cf.custom_id), cf.name],
            "schema": {
                "type": "option",
                "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select",
                "customId": cf.custom_id,
            },
        })
    }));
    Value::Array(out)
}
