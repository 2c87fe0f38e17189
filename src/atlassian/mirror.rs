//! The listings `sync` pages through to mirror a project or a space (SPEC §10): Jira issues with
//! every field the cache keeps (description and the latest comments included), Confluence
//! change listings by CQL, and page bodies in batches.
//!
//! - Jira: one search page at a time through [`super::jira::Jira::search`] (Cloud
//!   `search/jql` with `nextPageToken`, Data Center `search` with `startAt`), asking for the
//!   `comment` field so comments come with the issue, not one request each.
//! - Confluence Cloud: v1 CQL search for ids, versions and labels (v2 has no query language),
//!   then bodies by id from v2 `GET /pages?id=…` (up to 250 per request).
//! - Confluence Data Center: `/rest/api/content/search` with bodies expanded: one request lists
//!   and fetches.
//!
//! Every request goes through the client's normal path (authentication, 429/`Retry-After`,
//! error mapping) on the caller's [`CallTrace`].

use std::collections::HashMap;

use serde_json::Value;

use super::confluence::{Page, storage_body};
use super::http::{ApiRequest, CallTrace};
use super::jira::{Comment, Comments, Issue, RichText, SCAN_PAGE_SIZE, User};
use super::json::{array, id, query_param, text, uint};
use super::{Api, ApiError, Product};
use crate::config::Deployment;

/// Issue fields asked for beyond [`super::jira::SEARCH_FIELDS`]: what a cached issue holds.
const ISSUE_FIELDS: &[&str] = &[
    "reporter",
    "created",
    "resolution",
    "description",
    "issuelinks",
    "subtasks",
    "components",
    "comment",
];

/// Comments kept per issue (the latest ones), as a tool's read keeps them.
pub const LATEST_COMMENTS: usize = 20;

/// Hits asked for per CQL listing page (Confluence caps search pages near 100).
pub const LISTING_PAGE_SIZE: u32 = 100;

/// Most page ids in one v2 `GET /pages?id=…` (the API's `maxItems`).
pub const BODY_BATCH: usize = 250;

/// What the v1 search expands on each hit (Cloud): enough to tell whether the cached copy is
/// current (version) and the labels, which v2's page list does not return.
const CLOUD_LISTING_EXPAND: &str = "content.space,content.version,content.metadata.labels";

/// What Data Center's content search expands: the whole page, body included.
const DC_LISTING_EXPAND: &str = "body.storage,version,space,ancestors,metadata.labels,history";

/// An issue with its latest comments, as one search page brought it.
#[derive(Debug, Clone)]
pub struct MirroredIssue {
    /// The issue (description included).
    pub issue: Issue,
    /// At most [`LATEST_COMMENTS`] comments, oldest first, and the issue's total.
    pub comments: Comments,
}

/// One page of a project listing.
#[derive(Debug, Clone, Default)]
pub struct IssueBatch {
    /// Issues in the order the site sorted them.
    pub issues: Vec<MirroredIssue>,
    /// Cursor for the next page; `None` on the last.
    pub next: Option<String>,
    /// Total matches, when the site reports one (Data Center).
    pub total: Option<u64>,
}

/// A page as a change listing names it.
#[derive(Debug, Clone, Default)]
pub struct ListedPage {
    /// Page id.
    pub id: String,
    /// Last change, as the site gave it.
    pub last_modified: Option<String>,
    /// Current version number.
    pub version: Option<u64>,
    /// Label names.
    pub labels: Vec<String>,
    /// The whole page, when the listing carried it (Data Center); on Cloud it is fetched with
    /// [`Mirror::pages_by_id`].
    pub page: Option<Page>,
}

/// One page of a space's change listing.
#[derive(Debug, Clone, Default)]
pub struct PageListing {
    /// Pages in the order the site sorted them.
    pub pages: Vec<ListedPage>,
    /// Cursor for the next page; `None` on the last.
    pub next: Option<String>,
    /// Total matches, when the site reports one.
    pub total: Option<u64>,
}

/// The mirror's calls for one site.
#[derive(Debug, Clone, Copy)]
pub struct Mirror<'a> {
    api: &'a Api,
}

impl<'a> Mirror<'a> {
    /// The calls for `api`'s site.
    pub fn new(api: &'a Api) -> Self {
        Self { api }
    }

    /// One page (up to 100 issues) of `jql` with every field the cache keeps.
    pub async fn issues(
        &self,
        trace: &CallTrace,
        jql: &str,
        cursor: Option<&str>,
    ) -> Result<IssueBatch, ApiError> {
        let extra: Vec<String> = ISSUE_FIELDS.iter().map(|f| (*f).to_string()).collect();
        let page = self
            .api
            .jira()
            .search(trace, jql, &extra, SCAN_PAGE_SIZE, cursor)
            .await?;
        let issues = page
            .issues
            .into_iter()
            .map(|mut issue| {
                let comments = issue
                    .extra
                    .remove("comment")
                    .map(|c| latest_comments(&c))
                    .unwrap_or_default();
                // The other extras were parsed into the issue's own fields already.
                issue.extra.clear();
                MirroredIssue { issue, comments }
            })
            .collect();
        Ok(IssueBatch {
            issues,
            next: page.next_page_token,
            total: page.total,
        })
    }

    /// How many issues `jql` will list, for a progress bar: Cloud's approximate count; `None`
    /// on Data Center, whose search pages carry an exact total.
    pub async fn issue_count(&self, trace: &CallTrace, jql: &str) -> Result<Option<u64>, ApiError> {
        self.api.jira().approximate_count(trace, jql).await
    }

    /// The space's key as the site spells it and its id (Cloud; the key on Data Center), or
    /// `None` when no such space is visible.
    pub async fn space(
        &self,
        trace: &CallTrace,
        key: &str,
    ) -> Result<Option<(String, Option<String>)>, ApiError> {
        let list = self
            .api
            .confluence()
            .spaces(trace, &[key.to_string()], 10, None)
            .await?;
        Ok(list
            .spaces
            .into_iter()
            .find(|s| s.key.eq_ignore_ascii_case(key))
            .map(|s| (s.key, s.id)))
    }

    /// One page of a CQL change listing: on Cloud ids, versions and labels (v1 search); on
    /// Data Center whole pages (`/rest/api/content/search` with bodies expanded).
    pub async fn page_listing(
        &self,
        trace: &CallTrace,
        cql: &str,
        cursor: Option<&str>,
    ) -> Result<PageListing, ApiError> {
        let cloud = self.api.deployment() == Deployment::Cloud;
        let path: &[&str] = if cloud {
            &["rest", "api", "search"]
        } else {
            &["rest", "api", "content", "search"]
        };
        let mut req = ApiRequest::get(Product::Confluence, self.api.confluence().url(path))
            .scope("search:confluence")
            .query("cql", cql)
            .query("limit", LISTING_PAGE_SIZE.to_string())
            .query(
                "expand",
                if cloud {
                    CLOUD_LISTING_EXPAND
                } else {
                    DC_LISTING_EXPAND
                },
            );
        let start = if cloud {
            req = req.query_opt("cursor", cursor);
            0
        } else {
            let start = super::json::offset_cursor(Product::Confluence, cursor, "cursor")?;
            req = req.query("start", start.to_string());
            start
        };
        let body = self.api.http.send(trace, req).await?;
        let Some(raw) = body.get("results").and_then(Value::as_array) else {
            return Err(decode("search response has no `results` array"));
        };
        let pages: Vec<ListedPage> = if cloud {
            raw.iter().filter_map(cloud_hit).collect()
        } else {
            raw.iter()
                .filter_map(|c| {
                    let page = self.dc_page(c)?;
                    Some(ListedPage {
                        id: page.id.clone(),
                        last_modified: page.updated.clone(),
                        version: page.version,
                        labels: page.labels.clone(),
                        page: Some(page),
                    })
                })
                .collect()
        };
        let next_link = body.get("_links").and_then(|l| text(l, "next"));
        let next = if cloud {
            next_link.and_then(|n| query_param(&n, "cursor"))
        } else {
            let size = uint(&body, "size")
                .unwrap_or(raw.len() as u64)
                .min(raw.len() as u64);
            let next = start.saturating_add(size);
            let total = uint(&body, "totalSize");
            let more = next_link.is_some() || total.is_some_and(|t| next < t);
            (more && size > 0).then(|| next.to_string())
        };
        Ok(PageListing {
            pages,
            next,
            total: uint(&body, "totalSize"),
        })
    }

    /// Pages with their storage bodies by id (Cloud v2 `GET /pages?id=…`, up to
    /// [`BODY_BATCH`] ids a request), filed under `space_key`. Ids the site does not return
    /// (deleted since they were listed) are simply missing. Labels are not part of v2's list:
    /// the caller takes them from the listing.
    pub async fn pages_by_id(
        &self,
        trace: &CallTrace,
        ids: &[String],
        space_key: &str,
    ) -> Result<Vec<Page>, ApiError> {
        let mut pages = Vec::with_capacity(ids.len());
        let confluence = self.api.confluence();
        for chunk in ids.chunks(BODY_BATCH) {
            let mut cursor: Option<String> = None;
            // A chunk fits one answer; a site that pages anyway is followed a few times.
            for _ in 0..8 {
                let req =
                    ApiRequest::get(Product::Confluence, confluence.url(&["api", "v2", "pages"]))
                        .scope("read:page:confluence")
                        .query("id", chunk.join(","))
                        .query("body-format", "storage")
                        .query("limit", BODY_BATCH.to_string())
                        .query_opt("cursor", cursor.as_deref());
                let body = self.api.http.send(trace, req).await?;
                pages.extend(
                    array(&body, "results")
                        .iter()
                        .filter_map(|p| self.v2_page(p, space_key)),
                );
                cursor = body
                    .get("_links")
                    .and_then(|l| text(l, "next"))
                    .and_then(|n| query_param(&n, "cursor"));
                if cursor.is_none() {
                    break;
                }
            }
        }
        Ok(pages)
    }

    /// A v2 `PageBulk` with its storage body.
    fn v2_page(&self, body: &Value, space_key: &str) -> Option<Page> {
        let version = body.get("version");
        let user = |id: Option<String>| {
            id.map(|id| User {
                id: Some(id),
                ..User::default()
            })
        };
        Some(Page {
            id: id(body, "id")?,
            title: text(body, "title").unwrap_or_default(),
            space_id: id(body, "spaceId"),
            space_key: Some(space_key.to_string()),
            version: version.and_then(|v| uint(v, "number")),
            updated: version.and_then(|v| text(v, "createdAt")),
            parent_id: id(body, "parentId"),
            storage: storage_body(body),
            url: self
                .api
                .confluence()
                .web(body.get("_links").and_then(|l| text(l, "webui"))),
            last_editor: user(version.and_then(|v| text(v, "authorId"))),
            author: user(text(body, "authorId")),
            labels: Vec::new(),
            parent_title: None,
        })
    }

    /// A Data Center `Content` with `body.storage,version,space,ancestors,metadata.labels,history`.
    fn dc_page(&self, body: &Value) -> Option<Page> {
        let space_key = body.get("space").and_then(|s| text(s, "key"));
        let version = body.get("version");
        let parent = array(body, "ancestors").last();
        Some(Page {
            id: id(body, "id")?,
            title: text(body, "title").unwrap_or_default(),
            space_id: space_key.clone(),
            space_key,
            version: version.and_then(|v| uint(v, "number")),
            updated: version.and_then(|v| text(v, "when")),
            parent_id: parent.and_then(|a| id(a, "id")),
            parent_title: parent.and_then(|a| text(a, "title")),
            author: body
                .get("history")
                .and_then(|h| h.get("createdBy"))
                .and_then(User::from_json),
            labels: labels(body.get("metadata")),
            storage: storage_body(body),
            url: self
                .api
                .confluence()
                .web(body.get("_links").and_then(|l| text(l, "webui"))),
            last_editor: version.and_then(|v| v.get("by")).and_then(User::from_json),
        })
    }

    /// Display names for Cloud account ids (one v2 users lookup); empty on Data Center, whose
    /// pages name their people already. A failed lookup leaves names out, never fails.
    pub async fn display_names(
        &self,
        trace: &CallTrace,
        account_ids: &[String],
    ) -> HashMap<String, String> {
        if self.api.deployment() == Deployment::DataCenter || account_ids.is_empty() {
            return HashMap::new();
        }
        self.api
            .confluence()
            .display_names(trace, account_ids)
            .await
    }

    /// The wiki's base URL for links in converted bodies.
    pub fn wiki_base(&self) -> String {
        self.api.confluence().wiki_base()
    }
}

/// A v1 search hit that is a page: id, last change, version, labels.
fn cloud_hit(hit: &Value) -> Option<ListedPage> {
    let content = hit.get("content")?;
    if text(content, "type").is_some_and(|t| t != "page") {
        return None;
    }
    Some(ListedPage {
        id: id(content, "id")?,
        last_modified: text(hit, "lastModified")
            .or_else(|| content.get("version").and_then(|v| text(v, "when"))),
        version: content.get("version").and_then(|v| uint(v, "number")),
        labels: labels(content.get("metadata")),
        page: None,
    })
}

/// `metadata.labels.results[].name`.
fn labels(metadata: Option<&Value>) -> Vec<String> {
    metadata
        .and_then(|m| m.get("labels"))
        .map(|l| array(l, "results"))
        .unwrap_or_default()
        .iter()
        .filter_map(|l| text(l, "name"))
        .collect()
}

/// Jira's `comment` search field (`{comments: […], total}`): the latest
/// [`LATEST_COMMENTS`], oldest first, with the issue's total.
pub(crate) fn latest_comments(field: &Value) -> Comments {
    let mut comments: Vec<Comment> = array(field, "comments")
        .iter()
        .map(|c| Comment {
            id: id(c, "id"),
            author: c.get("author").and_then(User::from_json),
            created: text(c, "created"),
            body: rich_text(c.get("body")),
        })
        .collect();
    // Sites send them oldest first; sort anyway (timestamps of one site share a format).
    comments.sort_by(|a, b| a.created.cmp(&b.created));
    let total = uint(field, "total").unwrap_or(comments.len() as u64);
    let drop = comments.len().saturating_sub(LATEST_COMMENTS);
    comments.drain(..drop);
    Comments {
        comments,
        total: Some(total),
    }
}

/// A comment body: ADF (Cloud) or wiki markup (Data Center); empty means none.
fn rich_text(v: Option<&Value>) -> Option<RichText> {
    match v? {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(RichText::Wiki(s.clone())),
        other => Some(RichText::Adf(other.clone())),
    }
}

/// A Confluence [`ApiError::Decode`].
fn decode(message: &str) -> ApiError {
    ApiError::Decode {
        product: Product::Confluence,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_field_keeps_the_latest_twenty_oldest_first() {
        let comments: Vec<Value> = (1..=25)
            .rev()
            .map(|i| {
                serde_json::json!({
                    "id": i.to_string(),
                    "author": {"accountId": "a1", "displayName": "Ann"},
                    "created": format!("2026-11-{i:02}T10:00:00.000+0000"),
                    "body": if i % 2 == 0 { serde_json::json!("wiki *text*") } else {
                        serde_json::json!({"type": "doc", "version": 1, "content": []})
                    },
                })
            })
            .collect();
        let field = serde_json::json!({"comments": comments, "maxResults": 25, "total": 31});
        let got = latest_comments(&field);
        assert_eq!(got.total, Some(31));
        assert_eq!(got.comments.len(), LATEST_COMMENTS);
        let ids: Vec<&str> = got
            .comments
            .iter()
            .filter_map(|c| c.id.as_deref())
            .collect();
        let want: Vec<String> = (6..=25).map(|i| i.to_string()).collect();
        assert_eq!(ids, want.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(matches!(got.comments[0].body, Some(RichText::Wiki(_))));
        assert!(matches!(got.comments[1].body, Some(RichText::Adf(_))));
        assert_eq!(
            got.comments[0]
                .author
                .as_ref()
                .and_then(|a| a.display_name.as_deref()),
            Some("Ann")
        );
    }

    #[test]
    fn a_missing_or_empty_comment_field_is_no_comments() {
        let got = latest_comments(&serde_json::json!({}));
        assert!(got.comments.is_empty());
        assert_eq!(got.total, Some(0));
    }

    #[test]
    fn search_hits_that_are_not_pages_are_skipped() {
        let page = serde_json::json!({
            "content": {"id": "100", "type": "page", "version": {"number": 3},
                        "metadata": {"labels": {"results": [{"name": "arch"}]}}},
            "lastModified": "2026-11-20T10:00:00.000Z"
        });
        let hit = cloud_hit(&page).expect("a page");
        assert_eq!(hit.id, "100");
        assert_eq!(hit.version, Some(3));
        assert_eq!(hit.labels, vec!["arch".to_string()]);
        assert_eq!(
            hit.last_modified.as_deref(),
            Some("2026-11-20T10:00:00.000Z")
        );
        let blog = serde_json::json!({"content": {"id": "7", "type": "blogpost"}});
        assert!(cloud_hit(&blog).is_none());
        assert!(cloud_hit(&serde_json::json!({"space": {}})).is_none());
    }
}
