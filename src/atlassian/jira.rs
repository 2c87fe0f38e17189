//! Jira calls (search, issue, projects, create metadata, myself) for Cloud (REST v3) and
//! Data Center (REST v2), normalized into one set of types; [`SearchScan`] (in `jira/scan.rs`)
//! pages through a whole result set.
//!
//! Lists never come back longer than asked, whatever the site sends (a site that ignores
//! `maxResults` is cut to it), and a search whose JQL makes the URL too long goes by POST.

use serde_json::Value;

use super::json::{array, id, name_of, strings, text, uint};
use super::{Api, ApiError, Product, with_segments};
use crate::atlassian::http::{ApiRequest, CallTrace};
use crate::config::Deployment;
use crate::convert;

pub mod fields;
mod scan;
mod search;
mod wire;
pub use scan::{SCAN_PAGE_SIZE, SearchScan};

/// Fields every search asks for (Cloud's enhanced search returns only `id` by default);
/// `reporter` and `created` are not shown in a row but keep the local cache's copy of the issue
/// complete enough for offline JQL.
pub const SEARCH_FIELDS: &[&str] = &[
    "summary",
    "status",
    "issuetype",
    "priority",
    "assignee",
    "reporter",
    "created",
    "updated",
    "duedate",
    "labels",
    "project",
    "parent",
];

/// Fields read for a single issue.
const ISSUE_FIELDS: &[&str] = &[
    "summary",
    "status",
    "issuetype",
    "priority",
    "assignee",
    "reporter",
    "created",
    "updated",
    "duedate",
    "labels",
    "project",
    "parent",
    "resolution",
    "description",
    "issuelinks",
    "subtasks",
    "components",
];

/// A Jira user, Cloud (`accountId`) or Data Center (`key`/`name`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct User {
    /// Cloud account id, or Data Center user key / name.
    pub id: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Email, when the site reveals it.
    pub email: Option<String>,
}

impl User {
    /// Reads a Jira or Confluence user object (Cloud `accountId`, Data Center `key`/`name`
    /// or Confluence's `userKey`/`username`).
    pub(crate) fn from_json(v: &Value) -> Option<Self> {
        if !v.is_object() {
            return None;
        }
        Some(Self {
            id: text(v, "accountId")
                .or_else(|| text(v, "key"))
                .or_else(|| text(v, "userKey"))
                .or_else(|| text(v, "name"))
                .or_else(|| text(v, "username")),
            display_name: text(v, "displayName"),
            email: text(v, "emailAddress"),
        })
    }

    /// The best human label.
    pub fn label(&self) -> String {
        self.display_name
            .clone()
            .or_else(|| self.id.clone())
            .unwrap_or_else(|| "unknown".to_string())
    }
}

/// Rich text as the site stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum RichText {
    /// Atlassian Document Format (Cloud v3).
    Adf(Value),
    /// Wiki markup (Data Center v2).
    Wiki(String),
    /// Markdown already (a copy from the local cache, which keeps Markdown).
    Markdown(String),
}

impl RichText {
    fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Null => None,
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) => Some(RichText::Wiki(s.clone())),
            other => Some(RichText::Adf(other.clone())),
        }
    }

    /// Markdown for the model.
    pub fn to_markdown(&self) -> String {
        match self {
            RichText::Adf(doc) => convert::adf_to_markdown(doc),
            RichText::Wiki(text) => convert::wiki_to_markdown(text),
            RichText::Markdown(text) => text.clone(),
        }
    }
}

/// A link between two issues, from this issue's point of view.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueLink {
    /// "blocks", "is blocked by", "relates to"…
    pub relation: String,
    /// The other issue's key.
    pub key: String,
    /// The other issue's summary.
    pub summary: Option<String>,
    /// The other issue's status.
    pub status: Option<String>,
}

/// An issue, normalized.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Issue {
    /// Issue key (`ENG-42`).
    pub key: String,
    /// Numeric id.
    pub id: Option<String>,
    /// Summary line.
    pub summary: Option<String>,
    /// Status name.
    pub status: Option<String>,
    /// Status category key: `new`, `indeterminate`, `done`.
    pub status_category: Option<String>,
    /// Issue type name.
    pub issue_type: Option<String>,
    /// Priority name.
    pub priority: Option<String>,
    /// Assignee.
    pub assignee: Option<User>,
    /// Reporter.
    pub reporter: Option<User>,
    /// Created timestamp as Jira gives it.
    pub created: Option<String>,
    /// Updated timestamp.
    pub updated: Option<String>,
    /// Due date (`YYYY-MM-DD`).
    pub due: Option<String>,
    /// Resolution name.
    pub resolution: Option<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// Project key.
    pub project_key: Option<String>,
    /// Project name.
    pub project_name: Option<String>,
    /// Parent issue key.
    pub parent: Option<String>,
    /// Component names.
    pub components: Vec<String>,
    /// Description.
    pub description: Option<RichText>,
    /// Links to other issues.
    pub links: Vec<IssueLink>,
    /// Sub-task keys.
    pub subtasks: Vec<String>,
    /// Extra fields the caller asked for, raw.
    pub extra: serde_json::Map<String, Value>,
}

impl Issue {
    fn from_json(v: &Value, extra_fields: &[String]) -> Option<Self> {
        let key = text(v, "key")?;
        let empty = Value::Null;
        let f = v.get("fields").unwrap_or(&empty);
        Some(Self::from_fields(key, id(v, "id"), f, extra_fields))
    }

    /// The issue `key` (with `id`) from its `fields` object; fields missing from `f` are empty.
    fn from_fields(key: String, id: Option<String>, f: &Value, extra_fields: &[String]) -> Self {
        let status = f.get("status");
        let links = array(f, "issuelinks")
            .iter()
            .filter_map(|l| {
                let (relation, other) = if let Some(o) = l.get("outwardIssue") {
                    (l.get("type").and_then(|t| text(t, "outward")), o)
                } else {
                    (
                        l.get("type").and_then(|t| text(t, "inward")),
                        l.get("inwardIssue")?,
                    )
                };
                Some(IssueLink {
                    relation: relation.unwrap_or_else(|| "relates to".to_string()),
                    key: text(other, "key")?,
                    summary: other.get("fields").and_then(|f| text(f, "summary")),
                    status: other.get("fields").and_then(|f| name_of(f, "status")),
                })
            })
            .collect();
        let mut extra = serde_json::Map::new();
        for name in extra_fields {
            if let Some(value) = f.get(name) {
                extra.insert(name.clone(), value.clone());
            }
        }
        Self {
            key,
            id,
            summary: text(f, "summary"),
            status: status.and_then(|s| text(s, "name")),
            status_category: status
                .and_then(|s| s.get("statusCategory"))
                .and_then(|c| text(c, "key")),
            issue_type: name_of(f, "issuetype"),
            priority: name_of(f, "priority"),
            assignee: f.get("assignee").and_then(User::from_json),
            reporter: f.get("reporter").and_then(User::from_json),
            created: text(f, "created"),
            updated: text(f, "updated"),
            due: text(f, "duedate"),
            resolution: name_of(f, "resolution"),
            labels: strings(f, "labels"),
            project_key: f.get("project").and_then(|p| text(p, "key")),
            project_name: f.get("project").and_then(|p| text(p, "name")),
            parent: f.get("parent").and_then(|p| text(p, "key")),
            components: array(f, "components")
                .iter()
                .filter_map(|c| text(c, "name"))
                .collect(),
            description: f.get("description").and_then(RichText::from_json),
            links,
            subtasks: array(f, "subtasks")
                .iter()
                .filter_map(|s| text(s, "key"))
                .collect(),
            extra,
        }
    }
}

/// One page of search results.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    /// Issues on this page.
    pub issues: Vec<Issue>,
    /// Token for the next page; `None` on the last page.
    pub next_page_token: Option<String>,
    /// Total matches when the server reports it (Data Center only).
    pub total: Option<u64>,
    /// The site sent more issues than asked for; those past `max_results` were dropped.
    pub cut: bool,
}

/// A comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// Comment id.
    pub id: Option<String>,
    /// Author.
    pub author: Option<User>,
    /// Created timestamp.
    pub created: Option<String>,
    /// Body.
    pub body: Option<RichText>,
}

/// One changelog entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Who changed it.
    pub author: Option<User>,
    /// When.
    pub created: Option<String>,
    /// `(field, from, to)` triples.
    pub items: Vec<(String, Option<String>, Option<String>)>,
}

/// An available workflow transition.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Transition id.
    pub id: String,
    /// Transition name.
    pub name: String,
    /// Target status.
    pub to: Option<String>,
}

/// What to fetch with the issue itself (comments are a separate call: [`Jira::latest_comments`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct IssueInclude {
    /// Changelog.
    pub changelog: bool,
    /// Available transitions.
    pub transitions: bool,
}

/// Latest comments of an issue.
#[derive(Debug, Clone, Default)]
pub struct Comments {
    /// Latest comments, oldest first.
    pub comments: Vec<Comment>,
    /// Total comments on the issue.
    pub total: Option<u64>,
}

/// An issue with its changelog and transitions.
#[derive(Debug, Clone, Default)]
pub struct IssueDetail {
    /// The issue.
    pub issue: Issue,
    /// Changelog entries, oldest first.
    pub changelog: Vec<Change>,
    /// Available transitions.
    pub transitions: Vec<Transition>,
}

/// A project.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Key.
    pub key: String,
    /// Name.
    pub name: Option<String>,
    /// `software`, `business`, `service_desk`.
    pub project_type: Option<String>,
    /// Lead's display name.
    pub lead: Option<String>,
}

/// Projects plus whether more exist.
#[derive(Debug, Clone, Default)]
pub struct ProjectList {
    /// Projects.
    pub projects: Vec<Project>,
    /// Total visible projects matching, when known.
    pub total: Option<u64>,
}

/// An issue type available for creation.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueType {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// True for sub-task types.
    pub subtask: bool,
}

/// A field on the create screen.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMeta {
    /// Field id (`summary`, `customfield_10010`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Must be set on create.
    pub required: bool,
    /// Jira has a default for it.
    pub has_default: bool,
    /// Schema type (`string`, `array<string>`, `user`, `priority`…).
    pub kind: String,
    /// Allowed values (names or values), when the field is a choice.
    pub allowed: Vec<String>,
}

/// Jira calls for one site.
#[derive(Debug, Clone, Copy)]
pub struct Jira<'a> {
    pub(super) api: &'a Api,
}

impl<'a> Jira<'a> {
    pub(crate) fn new(api: &'a Api) -> Self {
        Self { api }
    }

    fn v(&self) -> &'static str {
        match self.api.deployment {
            Deployment::Cloud => "3",
            Deployment::DataCenter => "2",
        }
    }

    /// `{jira base}/rest/api/{v}/{rest…}`.
    pub(super) fn url(&self, rest: &[&str]) -> url::Url {
        let mut segments = vec!["rest", "api", self.v()];
        segments.extend_from_slice(rest);
        with_segments(&self.api.jira_base(), &segments)
    }

    /// Sends a request (of any method) and returns its JSON body.
    pub(super) async fn get(&self, trace: &CallTrace, req: ApiRequest) -> Result<Value, ApiError> {
        self.api.http.send(trace, req).await
    }

    /// One page of a JQL search: [`SEARCH_FIELDS`] plus `extra_fields` (returned raw in
    /// [`Issue::extra`]).
    pub async fn search(
        &self,
        trace: &CallTrace,
        jql: &str,
        extra_fields: &[String],
        max_results: u32,
        page_token: Option<&str>,
    ) -> Result<SearchPage, ApiError> {
        let mut fields: Vec<&str> = SEARCH_FIELDS.to_vec();
        fields.extend(extra_fields.iter().map(String::as_str));
        self.search_raw(trace, jql, &fields, extra_fields, max_results, page_token)
            .await
    }

    /// One page of a JQL search asking for exactly `fields` and nothing else, for callers
    /// that read only a few fields of many issues (every field left out is bytes Jira does
    /// not send: an assignee or project object alone is ~0.5 KB per issue on Cloud).
    pub async fn search_page(
        &self,
        trace: &CallTrace,
        jql: &str,
        fields: &[&str],
        max_results: u32,
        page_token: Option<&str>,
    ) -> Result<SearchPage, ApiError> {
        self.search_raw(trace, jql, fields, &[], max_results, page_token)
            .await
    }

    /// Pages through a whole JQL result, at most `limit` issues, asking only for `fields`
    /// (see [`SearchScan`]).
    pub fn scan(&self, jql: &str, fields: &[&str], limit: usize) -> SearchScan<'a> {
        SearchScan::new(*self, jql, fields, limit)
    }

    /// One issue with what `include` asks for.
    pub async fn issue(
        &self,
        trace: &CallTrace,
        key: &str,
        include: IssueInclude,
    ) -> Result<IssueDetail, ApiError> {
        self.issue_with_fields(trace, key, include, &[]).await
    }

    /// The latest `limit` comments (returned oldest first) and the total count.
    pub async fn latest_comments(
        &self,
        trace: &CallTrace,
        key: &str,
        limit: u32,
    ) -> Result<Comments, ApiError> {
        let req = ApiRequest::get(Product::Jira, self.url(&["issue", key, "comment"]))
            .scope("read:jira-work")
            .query("orderBy", "-created")
            .query("maxResults", limit.to_string());
        let body = self.get(trace, req).await?;
        // Asked newest first: a site that sends more than `limit` is cut to the newest.
        let mut comments: Vec<Comment> = array(&body, "comments")
            .iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|c| Comment {
                id: id(c, "id"),
                author: c.get("author").and_then(User::from_json),
                created: text(c, "created"),
                body: c.get("body").and_then(RichText::from_json),
            })
            .collect();
        // Asked newest first (`-created`), shown oldest first like a conversation.
        comments.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(Comments {
            comments,
            total: uint(&body, "total"),
        })
    }

    /// Projects visible to the user, optionally filtered by a text query and confined to `keys`.
    pub async fn projects(
        &self,
        trace: &CallTrace,
        query: Option<&str>,
        keys: &[String],
        max_results: u32,
    ) -> Result<ProjectList, ApiError> {
        let parse = |p: &Value| -> Option<Project> {
            Some(Project {
                key: text(p, "key")?,
                name: text(p, "name"),
                project_type: text(p, "projectTypeKey"),
                lead: p.get("lead").and_then(|l| text(l, "displayName")),
            })
        };
        match self.api.deployment {
            Deployment::Cloud => {
                let mut req = ApiRequest::get(Product::Jira, self.url(&["project", "search"]))
                    .scope("read:jira-work")
                    .query("maxResults", max_results.to_string())
                    .query("orderBy", "key")
                    .query_opt("query", query);
                // Jira takes at most 50 `keys`; past that the caller's own filter confines.
                if keys.len() <= 50 {
                    for k in keys {
                        req = req.query("keys", k.as_str());
                    }
                }
                let body = match self.get(trace, req).await {
                    Ok(b) => b,
                    // Jira answers 404 when no project matches `keys`.
                    Err(ApiError::Status { status: 404, .. }) if !keys.is_empty() => {
                        return Ok(ProjectList::default());
                    }
                    Err(e) => return Err(e),
                };
                Ok(ProjectList {
                    projects: array(&body, "values")
                        .iter()
                        .take(usize::try_from(max_results).unwrap_or(usize::MAX))
                        .filter_map(parse)
                        .collect(),
                    total: uint(&body, "total"),
                })
            }
            Deployment::DataCenter => {
                let body = self
                    .get(
                        trace,
                        ApiRequest::get(Product::Jira, self.url(&["project"]))
                            .scope("read:jira-work"),
                    )
                    .await?;
                let needle = query.map(str::to_lowercase);
                let all: Vec<Project> = body
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(parse)
                    .filter(|p| keys.is_empty() || keys.contains(&p.key))
                    .filter(|p| {
                        needle.as_ref().is_none_or(|n| {
                            p.key.to_lowercase().contains(n)
                                || p.name
                                    .as_ref()
                                    .is_some_and(|x| x.to_lowercase().contains(n))
                        })
                    })
                    .collect();
                let total = all.len() as u64;
                Ok(ProjectList {
                    projects: all.into_iter().take(max_results as usize).collect(),
                    total: Some(total),
                })
            }
        }
    }

    /// Issue types that can be created in `project`.
    pub async fn create_issue_types(
        &self,
        trace: &CallTrace,
        project: &str,
    ) -> Result<Vec<IssueType>, ApiError> {
        let list = self
            .createmeta_pages(
                trace,
                &["issue", "createmeta", project, "issuetypes"],
                "issueTypes",
            )
            .await?;
        Ok(list
            .iter()
            .filter_map(|t| {
                Some(IssueType {
                    id: id(t, "id")?,
                    name: text(t, "name")?,
                    subtask: t.get("subtask").and_then(Value::as_bool).unwrap_or(false),
                })
            })
            .collect())
    }

    /// Fields on the create screen of one issue type (the summary of
    /// [`Jira::create_screen`]: allowed values by name).
    pub async fn create_fields(
        &self,
        trace: &CallTrace,
        project: &str,
        issue_type_id: &str,
    ) -> Result<Vec<FieldMeta>, ApiError> {
        let specs = self.create_screen(trace, project, issue_type_id).await?;
        Ok(specs
            .into_iter()
            .map(|f| FieldMeta {
                kind: match &f.items {
                    Some(items) => format!("{}<{items}>", f.schema_type),
                    None => f.schema_type.clone(),
                },
                allowed: f
                    .choices
                    .into_iter()
                    .filter_map(|c| c.name.or(c.value))
                    .collect(),
                id: f.id,
                name: f.name,
                required: f.required,
                has_default: f.has_default,
            })
            .collect())
    }

    /// Every item of a paged createmeta list (Cloud names the array `cloud_key`, Data Center
    /// `values`), following `startAt` for up to 5 pages of 200.
    pub(super) async fn createmeta_pages(
        &self,
        trace: &CallTrace,
        path: &[&str],
        cloud_key: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let mut items: Vec<Value> = Vec::new();
        for _ in 0..5 {
            let req = ApiRequest::get(Product::Jira, self.url(path))
                .scope("read:jira-work")
                .query("startAt", items.len().to_string())
                .query("maxResults", "200");
            let body = self.get(trace, req).await?;
            let page = if body.get(cloud_key).is_some() {
                array(&body, cloud_key)
            } else {
                array(&body, "values")
            };
            if page.is_empty() {
                break;
            }
            items.extend(page.iter().cloned());
            let total = uint(&body, "total").unwrap_or(0);
            let last = body.get("isLast").and_then(Value::as_bool).unwrap_or(false);
            if last || items.len() as u64 >= total {
                break;
            }
        }
        Ok(items)
    }

    /// The signed-in user.
    pub async fn myself(&self, trace: &CallTrace) -> Result<User, ApiError> {
        let body = self
            .get(
                trace,
                ApiRequest::get(Product::Jira, self.url(&["myself"])).scope("read:jira-user"),
            )
            .await?;
        User::from_json(&body).ok_or_else(|| decode("myself response is not an object"))
    }
}

/// The `transitions` of a transitions or issue (`expand=transitions`) response.
pub(super) fn parse_transitions(body: &Value) -> Vec<Transition> {
    array(body, "transitions")
        .iter()
        .filter_map(|t| {
            Some(Transition {
                id: id(t, "id")?,
                name: text(t, "name")?,
                to: name_of(t, "to"),
            })
        })
        .collect()
}

/// A Jira [`ApiError::Decode`].
pub(super) fn decode(message: &str) -> ApiError {
    ApiError::Decode {
        product: Product::Jira,
        message: message.to_string(),
    }
}
