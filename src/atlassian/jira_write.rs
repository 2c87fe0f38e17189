//! Jira writes for Cloud (REST v3, ADF rich text) and Data Center (REST v2, wiki markup):
//! create and bulk create (with the bridge's marker property), edit, comment, transitions,
//! the create screen with allowed values' ids, and [`Jira::find_marked`] for learning after a
//! crash which items of a bulk operation exist.
//!
//! Retries: every write is retried on 429 and 503 (the request was turned away unhandled), and
//! POSTs never on 502/504 (the gateway may give up after Jira created the issue). The one PUT
//! here, [`Jira::edit_issue`], sets fields, so repeating it changes nothing more; it is marked
//! not idempotent when its `update` adds comments or worklogs, which a repeat would duplicate.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::jira::{Jira, Transition, decode, parse_transitions};
use super::json::{array, id, text, uint};
use super::{ApiError, Product};
use crate::atlassian::http::{ApiRequest, CallTrace};
use crate::config::Deployment;
use crate::upstream::parse_error_body;

/// The entity property the bridge stamps on every issue it creates.
pub const MARKER_PROPERTY: &str = "atlassian-mcp-bridge";

/// Most issues Jira accepts in one bulk request.
pub const BULK_MAX: usize = 50;

/// Most issues [`Jira::find_marked`] reads.
const FIND_MARKED_MAX: usize = 2_000;

/// Page size of [`Jira::find_marked`]'s searches.
const FIND_MARKED_PAGE: usize = 100;

/// An issue to create: its fields and the entity properties to set with it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct NewIssue {
    /// `fields` as Jira takes them (`project`, `issuetype`, `summary`, rich text from
    /// [`Jira::rich_text`], `priority: {"id"}` …).
    pub fields: Map<String, Value>,
    /// Issue properties `(key, value)` stored with the issue (see [`MARKER_PROPERTY`]).
    pub properties: Vec<(String, Value)>,
}

impl NewIssue {
    /// The request body, exactly as sent: `{"fields": {…}}`, plus
    /// `"properties": [{"key", "value"}…]` when there are any.
    pub fn to_body(&self) -> Value {
        let mut body = Map::new();
        body.insert("fields".into(), Value::Object(self.fields.clone()));
        if !self.properties.is_empty() {
            let properties = self
                .properties
                .iter()
                .map(|(key, value)| json!({"key": key, "value": value}))
                .collect();
            body.insert("properties".into(), Value::Array(properties));
        }
        Value::Object(body)
    }
}

/// A created issue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CreatedIssue {
    /// Numeric id, as a string.
    pub id: String,
    /// Key (`ENG-42`).
    pub key: String,
}

impl CreatedIssue {
    /// Reads `{"id", "key"}` (a create answer, a bulk `issues[]` item or a search hit).
    fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            id: id(v, "id")?,
            key: text(v, "key")?,
        })
    }
}

/// What became of one item of a bulk create.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemOutcome {
    /// Jira created it.
    Created(CreatedIssue),
    /// Jira refused it; its reasons joined with `; `, field errors as `field: message`
    /// (`summary: You must specify a summary of the issue.`).
    Failed(String),
}

/// A field of a create screen.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    /// Field id (`summary`, `customfield_10010`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Must be set on create.
    pub required: bool,
    /// Jira fills it in when it is not set.
    pub has_default: bool,
    /// `schema.type`: `string`, `array`, `user`, `priority`, `option`, `issuelink`, `number`,
    /// `date` … (empty when Jira gives none).
    pub schema_type: String,
    /// `schema.items`, the element type of an array (`string`, `component`, `option` …).
    pub items: Option<String>,
    /// `schema.system`: the system field this is (`priority`, `labels` …).
    pub system: Option<String>,
    /// `schema.custom`: the custom field type key
    /// (`com.atlassian.jira.plugin.system.customfieldtypes:select` …).
    pub custom: Option<String>,
    /// Allowed values, when the field is a choice.
    pub choices: Vec<Choice>,
}

/// One allowed value of a field.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Id to send (`{"id": "2"}`).
    pub id: Option<String>,
    /// Name (priorities, components, versions, issue types …).
    pub name: Option<String>,
    /// Value (custom field options).
    pub value: Option<String>,
}

impl FieldSpec {
    /// Reads one `FieldCreateMetadata` (Cloud `fields[]`, Data Center `values[]`).
    fn from_json(f: &Value) -> Option<Self> {
        let schema = f.get("schema");
        let schema_text = |key: &str| schema.and_then(|s| text(s, key));
        Some(Self {
            id: text(f, "fieldId").or_else(|| text(f, "key"))?,
            name: text(f, "name").unwrap_or_default(),
            required: f.get("required").and_then(Value::as_bool).unwrap_or(false),
            has_default: f
                .get("hasDefaultValue")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            schema_type: schema_text("type").unwrap_or_default(),
            items: schema_text("items"),
            system: schema_text("system"),
            custom: schema_text("custom"),
            choices: array(f, "allowedValues")
                .iter()
                .map(|a| Choice {
                    id: id(a, "id"),
                    name: text(a, "name"),
                    value: text(a, "value"),
                })
                .collect(),
        })
    }
}

/// `value` in JQL double quotes.
fn jql_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Whole minutes covering `within`, rounded up, at least 1.
fn minutes_covering(within: Duration) -> u64 {
    within.as_secs().div_ceil(60).max(1)
}

/// The JQL of [`Jira::find_marked`].
fn marked_jql(project: &str, within: Duration) -> String {
    format!(
        "project = {} AND reporter = currentUser() AND created >= -{}m ORDER BY created DESC",
        jql_string(project),
        minutes_covering(within)
    )
}

/// An `ErrorCollection` (`{"errorMessages", "errors"}`) as messages, field errors as
/// `field: message`.
fn collection_messages(v: &Value) -> Vec<String> {
    serde_json::to_vec(v)
        .map(|bytes| parse_error_body(&bytes))
        .unwrap_or_default()
}

/// Maps a bulk create answer (201 or 400) onto the `n` items sent.
///
/// `Ok(None)` when the answer has no per-element errors and created nothing (a request-level
/// refusal); an error when it does not account for every item exactly once.
fn bulk_outcomes(body: &Value, n: usize) -> Result<Option<Vec<ItemOutcome>>, ApiError> {
    let created: Vec<CreatedIssue> = array(body, "issues")
        .iter()
        .filter_map(CreatedIssue::from_json)
        .collect();
    let errors = array(body, "errors");
    if created.is_empty() && errors.is_empty() {
        return Ok(None);
    }
    let mut slots: Vec<Option<ItemOutcome>> = vec![None; n];
    let mut unplaced = 0usize;
    for e in errors {
        let status = uint(e, "status");
        let mut reasons = e
            .get("elementErrors")
            .map(collection_messages)
            .unwrap_or_default();
        if reasons.is_empty() {
            reasons.push(match status {
                Some(s) => format!("Jira did not create this issue (HTTP {s}) and gave no reason"),
                None => "Jira did not create this issue and gave no reason".to_string(),
            });
        }
        let slot = uint(e, "failedElementNumber")
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| slots.get_mut(i))
            .filter(|s| s.is_none());
        match slot {
            Some(s) => *s = Some(ItemOutcome::Failed(reasons.join("; "))),
            None => unplaced += 1,
        }
    }
    // `issues[]` lists the created ones in request order, failures left out.
    let mut created_iter = created.iter().cloned();
    for slot in slots.iter_mut().filter(|s| s.is_none()) {
        match created_iter.next() {
            Some(issue) => *slot = Some(ItemOutcome::Created(issue)),
            None => break,
        }
    }
    let extra = created_iter.count();
    let outcomes: Option<Vec<ItemOutcome>> = slots.into_iter().collect();
    match outcomes {
        Some(o) if unplaced == 0 && extra == 0 => Ok(Some(o)),
        _ => {
            let keys: Vec<&str> = created.iter().map(|c| c.key.as_str()).collect();
            Err(decode(&format!(
                "the bulk create answer does not account for each of the {n} issues sent exactly once ({} created: {}; {} errors); search for the created issues before trying again",
                created.len(),
                if keys.is_empty() {
                    "none".to_string()
                } else {
                    keys.join(", ")
                },
                errors.len()
            )))
        }
    }
}

impl<'a> Jira<'a> {
    /// Markdown → what this deployment's rich-text fields take: ADF (Cloud,
    /// [`crate::convert::markdown_to_adf`]) or a wiki-markup string (Data Center,
    /// [`crate::convert::markdown_to_wiki`]).
    pub fn rich_text(&self, markdown: &str) -> Value {
        match self.api.deployment {
            Deployment::Cloud => crate::convert::markdown_to_adf(markdown),
            Deployment::DataCenter => Value::String(crate::convert::markdown_to_wiki(markdown)),
        }
    }

    /// Creates one issue (`POST /rest/api/{3|2}/issue`, 201).
    pub async fn create_issue(
        &self,
        trace: &CallTrace,
        issue: &NewIssue,
    ) -> Result<CreatedIssue, ApiError> {
        let req = ApiRequest::post(Product::Jira, self.url(&["issue"]))
            .scope("write:jira-work")
            .json(issue.to_body());
        let body = self.get(trace, req).await?;
        CreatedIssue::from_json(&body).ok_or_else(|| decode("create answer has no `id` and `key`"))
    }

    /// Creates one chunk of at most [`BULK_MAX`] issues (`POST /rest/api/{3|2}/issue/bulk`
    /// `{"issueUpdates": […]}`) and returns one outcome per input item, in input order.
    ///
    /// Jira answers 201 when any item was created and 400 when all failed; both carry
    /// `errors[].failedElementNumber` (0-based, relative to this chunk) and `issues[]` in
    /// request order minus the failures, and both give `Ok`. A 400 without per-element errors
    /// (too many items, a malformed request), any other failure, or an answer that does not
    /// account for every item is an `Err`. More than [`BULK_MAX`] items are refused without a
    /// request.
    pub async fn bulk_create(
        &self,
        trace: &CallTrace,
        issues: &[NewIssue],
    ) -> Result<Vec<ItemOutcome>, ApiError> {
        if issues.is_empty() {
            return Ok(Vec::new());
        }
        if issues.len() > BULK_MAX {
            return Err(ApiError::Status {
                product: Product::Jira,
                status: 400,
                messages: vec![format!(
                    "at most {BULK_MAX} issues can be created in one bulk request; this chunk has {}",
                    issues.len()
                )],
            });
        }
        let updates: Vec<Value> = issues.iter().map(NewIssue::to_body).collect();
        let req = ApiRequest::post(Product::Jira, self.url(&["issue", "bulk"]))
            .scope("write:jira-work")
            .json(json!({ "issueUpdates": updates }));
        let answer = self.api.http.send_accepting(trace, req, &[400]).await?;
        match bulk_outcomes(&answer.body, issues.len())? {
            Some(outcomes) => Ok(outcomes),
            None if answer.status == 400 => Err(ApiError::Status {
                product: Product::Jira,
                status: 400,
                messages: collection_messages(&answer.body),
            }),
            None => Err(decode(
                "the bulk create answer lists neither created issues nor errors",
            )),
        }
    }

    /// Edits an issue (`PUT /rest/api/{3|2}/issue/{key}`, 204): `fields` are set, `update`
    /// holds operations (`{"labels": [{"add": "x"}]}`). Empty maps are left out.
    pub async fn edit_issue(
        &self,
        trace: &CallTrace,
        key: &str,
        fields: &Map<String, Value>,
        update: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        let mut body = Map::new();
        if !fields.is_empty() || update.is_empty() {
            body.insert("fields".into(), Value::Object(fields.clone()));
        }
        if !update.is_empty() {
            body.insert("update".into(), Value::Object(update.clone()));
        }
        let mut req = ApiRequest::put(Product::Jira, self.url(&["issue", key]))
            .scope("write:jira-work")
            .json(Value::Object(body));
        // Setting fields twice leaves them as once, and label/component adds and removes are
        // set operations; adding a comment or a worklog twice would make two.
        if update.contains_key("comment") || update.contains_key("worklog") {
            req = req.not_idempotent();
        }
        self.get(trace, req).await?;
        Ok(())
    }

    /// Adds a comment (`POST /rest/api/{3|2}/issue/{key}/comment`, 201); `body` is ADF on
    /// Cloud and a wiki string on Data Center (see [`Jira::rich_text`]). Returns its id.
    pub async fn add_comment(
        &self,
        trace: &CallTrace,
        key: &str,
        body: Value,
    ) -> Result<String, ApiError> {
        let req = ApiRequest::post(Product::Jira, self.url(&["issue", key, "comment"]))
            .scope("write:jira-work")
            .json(json!({ "body": body }));
        let answer = self.get(trace, req).await?;
        id(&answer, "id").ok_or_else(|| decode("comment answer has no `id`"))
    }

    /// The transitions available now (`GET /rest/api/{3|2}/issue/{key}/transitions`).
    pub async fn transitions(
        &self,
        trace: &CallTrace,
        key: &str,
    ) -> Result<Vec<Transition>, ApiError> {
        let req = ApiRequest::get(Product::Jira, self.url(&["issue", key, "transitions"]))
            .scope("read:jira-work");
        let body = self.get(trace, req).await?;
        if body.get("transitions").is_none() {
            return Err(decode("transitions answer has no `transitions`"));
        }
        Ok(parse_transitions(&body))
    }

    /// Moves an issue along a transition (`POST /rest/api/{3|2}/issue/{key}/transitions`,
    /// 204), with an optional comment (`update.comment[0].add.body`).
    pub async fn transition(
        &self,
        trace: &CallTrace,
        key: &str,
        transition_id: &str,
        comment: Option<Value>,
    ) -> Result<(), ApiError> {
        let mut body = json!({ "transition": { "id": transition_id } });
        if let (Some(comment), Some(map)) = (comment, body.as_object_mut()) {
            map.insert(
                "update".into(),
                json!({ "comment": [ { "add": { "body": comment } } ] }),
            );
        }
        let req = ApiRequest::post(Product::Jira, self.url(&["issue", key, "transitions"]))
            .scope("write:jira-work")
            .json(body);
        self.get(trace, req).await?;
        Ok(())
    }

    /// Issues in `project` reported by the signed-in user and created within `within`, newest
    /// first, each with its [`MARKER_PROPERTY`] value (`None` when it has none).
    ///
    /// JQL `project = "X" AND reporter = currentUser() AND created >= -<N>m ORDER BY created
    /// DESC` (N = `within` in minutes, rounded up, at least 1), through `search/jql` with
    /// `properties=` (Cloud) or `/rest/api/2/search` with `properties` (Data Center),
    /// following pages up to 2,000 issues. Used after a crash to learn which items of a bulk
    /// operation exist. Cloud search is eventually consistent: an issue created a moment ago
    /// may be missing for a few seconds.
    pub async fn find_marked(
        &self,
        trace: &CallTrace,
        project: &str,
        within: Duration,
    ) -> Result<Vec<(CreatedIssue, Option<Value>)>, ApiError> {
        let jql = marked_jql(project, within);
        let mut found: Vec<(CreatedIssue, Option<Value>)> = Vec::new();
        let mut token: Option<String> = None;
        let mut offset: usize = 0;
        // A page cap besides the issue cap, in case a server keeps answering `isLast: false`.
        for _ in 0..FIND_MARKED_MAX.div_ceil(FIND_MARKED_PAGE) + 1 {
            let want = FIND_MARKED_PAGE.min(FIND_MARKED_MAX - found.len());
            let req = match self.api.deployment {
                Deployment::Cloud => ApiRequest::get(Product::Jira, self.url(&["search", "jql"]))
                    .query_opt("nextPageToken", token.take()),
                Deployment::DataCenter => ApiRequest::get(Product::Jira, self.url(&["search"]))
                    .query("startAt", offset.to_string()),
            }
            .scope("read:jira-work")
            .query("jql", jql.as_str())
            .query("maxResults", want.to_string())
            .query("fields", "id")
            .query("properties", MARKER_PROPERTY);
            let body = self.get(trace, req).await?;
            let Some(raw) = body.get("issues").and_then(Value::as_array) else {
                return Err(decode("search response has no `issues` array"));
            };
            offset = offset.saturating_add(raw.len());
            for issue in raw.iter().take(FIND_MARKED_MAX - found.len()) {
                if let Some(created) = CreatedIssue::from_json(issue) {
                    let marker = issue
                        .get("properties")
                        .and_then(|p| p.get(MARKER_PROPERTY))
                        .filter(|v| !v.is_null())
                        .cloned();
                    found.push((created, marker));
                }
            }
            let more = match self.api.deployment {
                Deployment::Cloud => {
                    let last = body.get("isLast").and_then(Value::as_bool).unwrap_or(false);
                    token = text(&body, "nextPageToken").filter(|_| !last);
                    token.is_some()
                }
                Deployment::DataCenter => {
                    let start = uint(&body, "startAt").unwrap_or(0);
                    let next = start.saturating_add(raw.len() as u64);
                    uint(&body, "total").is_some_and(|t| next < t)
                }
            };
            if !more || raw.is_empty() || found.len() >= FIND_MARKED_MAX {
                break;
            }
        }
        Ok(found)
    }

    /// The create screen of one issue type, with allowed values' ids (for resolving
    /// `"High"` → `{"id": "2"}`): `GET /rest/api/{3|2}/issue/createmeta/{project}/issuetypes/{id}`,
    /// every page.
    pub async fn create_screen(
        &self,
        trace: &CallTrace,
        project: &str,
        issue_type_id: &str,
    ) -> Result<Vec<FieldSpec>, ApiError> {
        let list = self
            .createmeta_pages(
                trace,
                &["issue", "createmeta", project, "issuetypes", issue_type_id],
                "fields",
            )
            .await?;
        Ok(list.iter().filter_map(FieldSpec::from_json).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(id: &str, key: &str) -> Value {
        json!({"id": id, "key": key, "self": format!("https://x/rest/api/3/issue/{id}")})
    }

    #[test]
    fn body_has_properties_only_when_given() {
        let mut issue = NewIssue::default();
        issue.fields.insert("summary".into(), json!("S"));
        assert_eq!(issue.to_body(), json!({"fields": {"summary": "S"}}));
        issue
            .properties
            .push((MARKER_PROPERTY.to_string(), json!({"op": "o1", "item": 0})));
        assert_eq!(
            issue.to_body(),
            json!({"fields": {"summary": "S"}, "properties": [{"key": MARKER_PROPERTY, "value": {"op": "o1", "item": 0}}]})
        );
    }

    #[test]
    fn jql_quotes_and_rounds_minutes_up() {
        assert_eq!(
            marked_jql("ENG", Duration::from_secs(61)),
            "project = \"ENG\" AND reporter = currentUser() AND created >= -2m ORDER BY created DESC"
        );
        assert_eq!(minutes_covering(Duration::ZERO), 1);
        assert_eq!(minutes_covering(Duration::from_secs(120)), 2);
        assert_eq!(jql_string(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn bulk_failures_land_on_their_indexes() {
        let body = json!({
            "issues": [created("1", "ENG-1"), created("3", "ENG-2")],
            "errors": [{"status": 400, "failedElementNumber": 1,
                "elementErrors": {"errorMessages": [], "errors": {"summary": "You must specify a summary of the issue."}}}]
        });
        let out = bulk_outcomes(&body, 3).unwrap().unwrap();
        assert_eq!(
            out,
            vec![
                ItemOutcome::Created(CreatedIssue {
                    id: "1".into(),
                    key: "ENG-1".into()
                }),
                ItemOutcome::Failed("summary: You must specify a summary of the issue.".into()),
                ItemOutcome::Created(CreatedIssue {
                    id: "3".into(),
                    key: "ENG-2".into()
                }),
            ]
        );
    }

    #[test]
    fn bulk_answers_that_do_not_add_up_are_errors() {
        assert!(
            bulk_outcomes(&json!({"errorMessages": ["too many"], "errors": {}}), 2)
                .unwrap()
                .is_none()
        );
        let short = json!({"issues": [created("1", "ENG-1")], "errors": []});
        let e = bulk_outcomes(&short, 2).unwrap_err();
        assert!(e.user_message().contains("ENG-1"), "{}", e.user_message());
        let twice = json!({"issues": [], "errors": [
            {"status": 400, "failedElementNumber": 0, "elementErrors": {"errorMessages": ["x"]}},
            {"status": 400, "failedElementNumber": 0, "elementErrors": {"errorMessages": ["y"]}}]});
        assert!(bulk_outcomes(&twice, 2).is_err());
        let out_of_range = json!({"issues": [created("1", "ENG-1")], "errors": [
            {"status": 400, "failedElementNumber": 5, "elementErrors": {}}]});
        assert!(bulk_outcomes(&out_of_range, 2).is_err());
        let no_reason = json!({"issues": [], "errors": [
            {"status": 400, "failedElementNumber": 0, "elementErrors": {"errorMessages": [], "errors": {}}}]});
        assert_eq!(
            bulk_outcomes(&no_reason, 1).unwrap().unwrap(),
            vec![ItemOutcome::Failed(
                "Jira did not create this issue (HTTP 400) and gave no reason".into()
            )]
        );
    }

    #[test]
    fn field_spec_reads_schema_and_choices() {
        let f = json!({"fieldId": "customfield_10020", "name": "Team", "required": true,
            "schema": {"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select", "customId": 10020},
            "allowedValues": [{"id": "10100", "value": "Platform"}, {"id": 3, "name": "Medium"}]});
        let spec = FieldSpec::from_json(&f).unwrap();
        assert_eq!(spec.id, "customfield_10020");
        assert!(spec.required && !spec.has_default);
        assert_eq!(spec.schema_type, "option");
        assert_eq!(spec.items, None);
        assert_eq!(spec.system, None);
        assert_eq!(
            spec.custom.as_deref(),
            Some("com.atlassian.jira.plugin.system.customfieldtypes:select")
        );
        assert_eq!(
            spec.choices,
            vec![
                Choice {
                    id: Some("10100".into()),
                    name: None,
                    value: Some("Platform".into())
                },
                Choice {
                    id: Some("3".into()),
                    name: Some("Medium".into()),
                    value: None
                },
            ]
        );
    }
}
