//! Confluence calls (CQL search, page, spaces) for Cloud (v1 search + v2 pages/spaces) and
//! Data Center (`/rest/api`), normalized into one set of types.

use serde_json::Value;

use super::jira::User;
use super::json::{array, id, offset_cursor, query_param, text, uint};
use super::{Api, ApiError, Product, with_segments};
use crate::atlassian::http::{ApiRequest, CallTrace};
use crate::config::Deployment;
use crate::sanitize::clean_excerpt;

/// One search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// Content id.
    pub id: Option<String>,
    /// `page`, `blogpost`, `attachment`, `space`…
    pub kind: Option<String>,
    /// Title.
    pub title: String,
    /// Space key.
    pub space: Option<String>,
    /// Excerpt with highlight markers removed.
    pub excerpt: String,
    /// Link a person can open.
    pub url: Option<String>,
    /// Last modified timestamp.
    pub last_modified: Option<String>,
}

/// A page of search hits.
#[derive(Debug, Clone, Default)]
pub struct SearchResults {
    /// Hits.
    pub results: Vec<SearchHit>,
    /// Cursor for the next page.
    pub next_cursor: Option<String>,
    /// Total matches, when reported.
    pub total: Option<u64>,
}

/// A page with its storage body.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Page id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Space id (Cloud) — Data Center has no separate id, so its key is used.
    pub space_id: Option<String>,
    /// Space key, when the API returns it.
    pub space_key: Option<String>,
    /// Version number.
    pub version: Option<u64>,
    /// Last change time.
    pub updated: Option<String>,
    /// Parent page id.
    pub parent_id: Option<String>,
    /// Storage-format body.
    pub storage: String,
    /// Link a person can open.
    pub url: Option<String>,
    /// Who made the current version: on Cloud only the account id (v2 `version.authorId`;
    /// see [`Confluence::display_name`]), on Data Center with the name (`version.by`).
    pub last_editor: Option<User>,
}

/// A space.
#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    /// Space id (Cloud) or key (Data Center).
    pub id: Option<String>,
    /// Space key.
    pub key: String,
    /// Name.
    pub name: Option<String>,
    /// `global`, `personal`…
    pub kind: Option<String>,
    /// Homepage id.
    pub homepage_id: Option<String>,
    /// Link a person can open.
    pub url: Option<String>,
}

/// A page of spaces.
#[derive(Debug, Clone, Default)]
pub struct SpaceList {
    /// Spaces.
    pub spaces: Vec<Space>,
    /// Cursor for the next page.
    pub next_cursor: Option<String>,
}

/// Confluence calls for one site.
#[derive(Debug, Clone, Copy)]
pub struct Confluence<'a> {
    pub(super) api: &'a Api,
}

impl<'a> Confluence<'a> {
    pub(crate) fn new(api: &'a Api) -> Self {
        Self { api }
    }

    /// `{confluence base}/{segments…}`.
    pub(super) fn url(&self, segments: &[&str]) -> url::Url {
        with_segments(&self.api.confluence_base(), segments)
    }

    /// A link a person can open, from a `_links.webui` path.
    pub(super) fn web(&self, webui: Option<String>) -> Option<String> {
        let webui = webui?;
        let base = self.api.confluence_web.as_str().trim_end_matches('/');
        Some(format!("{base}{webui}"))
    }

    /// One page of CQL search results.
    pub async fn search(
        &self,
        trace: &CallTrace,
        cql: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<SearchResults, ApiError> {
        let cloud = self.api.deployment == Deployment::Cloud;
        let mut req = ApiRequest::get(Product::Confluence, self.url(&["rest", "api", "search"]))
            .scope("search:confluence")
            .query("cql", cql)
            .query("limit", limit.to_string())
            .query("expand", "content.space,content.version");
        if cloud {
            req = req.query_opt("cursor", cursor);
        } else if cursor.is_some() {
            let start = offset_cursor(Product::Confluence, cursor, "cursor")?;
            req = req.query("start", start.to_string());
        }
        let body = self.api.http.send(trace, req).await?;
        let Some(raw) = body.get("results").and_then(Value::as_array) else {
            return Err(decode("search response has no `results` array"));
        };
        let results = raw
            .iter()
            .map(|r| {
                let content = r.get("content");
                let space = content
                    .and_then(|c| c.get("space"))
                    .and_then(|s| text(s, "key"))
                    .or_else(|| {
                        r.get("resultGlobalContainer")
                            .and_then(|g| text(g, "displayUrl"))
                            .and_then(|u| u.rsplit('/').next().map(str::to_string))
                    });
                SearchHit {
                    id: content.and_then(|c| id(c, "id")),
                    kind: content
                        .and_then(|c| text(c, "type"))
                        .or_else(|| text(r, "entityType")),
                    title: text(r, "title")
                        .or_else(|| content.and_then(|c| text(c, "title")))
                        .map(|t| clean_excerpt(&t))
                        .unwrap_or_default(),
                    space,
                    excerpt: text(r, "excerpt")
                        .map(|e| clean_excerpt(&e))
                        .unwrap_or_default(),
                    url: self.web(text(r, "url")),
                    last_modified: text(r, "lastModified"),
                }
            })
            .collect::<Vec<_>>();
        let next_link = body.get("_links").and_then(|l| text(l, "next"));
        let next_cursor = if cloud {
            next_link.and_then(|n| query_param(&n, "cursor"))
        } else {
            let start = uint(&body, "start").unwrap_or(0);
            let size = uint(&body, "size").unwrap_or(raw.len() as u64);
            let total = uint(&body, "totalSize");
            let next = start.saturating_add(size);
            let more = next_link.is_some() || total.is_some_and(|t| next < t);
            (more && size > 0).then(|| next.to_string())
        };
        Ok(SearchResults {
            results,
            next_cursor,
            total: uint(&body, "totalSize"),
        })
    }

    /// A page (or, on Cloud, a blog post) with its storage body.
    pub async fn page(&self, trace: &CallTrace, page_id: &str) -> Result<Page, ApiError> {
        match self.api.deployment {
            Deployment::Cloud => {
                let get = |kind: &str| {
                    ApiRequest::get(Product::Confluence, self.url(&["api", "v2", kind, page_id]))
                        .scope("read:page:confluence")
                        .query("body-format", "storage")
                };
                // Search returns pages and blog posts alike; v2 keeps them apart.
                let body = match self.api.http.send(trace, get("pages")).await {
                    Err(ApiError::Status { status: 404, .. }) => {
                        self.api.http.send(trace, get("blogposts")).await?
                    }
                    other => other?,
                };
                let version = body.get("version");
                let space_id = id(&body, "spaceId");
                let space_key = match &space_id {
                    Some(sid) => self.space_key(trace, sid).await,
                    None => None,
                };
                Ok(Page {
                    id: id(&body, "id").ok_or_else(|| decode("page response has no `id`"))?,
                    title: text(&body, "title").unwrap_or_default(),
                    space_id,
                    space_key,
                    version: version.and_then(|v| uint(v, "number")),
                    updated: version.and_then(|v| text(v, "createdAt")),
                    parent_id: id(&body, "parentId"),
                    storage: storage_body(&body),
                    url: self.web(body.get("_links").and_then(|l| text(l, "webui"))),
                    last_editor: version.and_then(|v| text(v, "authorId")).map(|id| User {
                        id: Some(id),
                        ..User::default()
                    }),
                })
            }
            Deployment::DataCenter => {
                let req = ApiRequest::get(
                    Product::Confluence,
                    self.url(&["rest", "api", "content", page_id]),
                )
                .scope("read:page:confluence")
                .query("expand", "body.storage,version,space,ancestors");
                let body = self.api.http.send(trace, req).await?;
                let space_key = body.get("space").and_then(|s| text(s, "key"));
                let version = body.get("version");
                Ok(Page {
                    id: id(&body, "id").ok_or_else(|| decode("content response has no `id`"))?,
                    title: text(&body, "title").unwrap_or_default(),
                    space_id: space_key.clone(),
                    space_key,
                    version: version.and_then(|v| uint(v, "number")),
                    updated: version.and_then(|v| text(v, "when")),
                    parent_id: array(&body, "ancestors").last().and_then(|a| id(a, "id")),
                    storage: storage_body(&body),
                    url: self.web(body.get("_links").and_then(|l| text(l, "webui"))),
                    last_editor: version.and_then(|v| v.get("by")).and_then(User::from_json),
                })
            }
        }
    }

    /// The display name of a Cloud account id (v2 `POST /users-bulk`, a lookup that changes
    /// nothing). `None` on Data Center (its pages name their editors already), and when the
    /// lookup fails — a missing name never fails a read.
    pub async fn display_name(&self, trace: &CallTrace, account_id: &str) -> Option<String> {
        if self.api.deployment != Deployment::Cloud {
            return None;
        }
        let mut req = ApiRequest::post(Product::Confluence, self.url(&["api", "v2", "users-bulk"]))
            .scope("read:user:confluence")
            .json(serde_json::json!({ "accountIds": [account_id] }));
        // A read sent as POST: repeating it is harmless.
        req.idempotent = true;
        let body = match self.api.http.send(trace, req).await {
            Ok(body) => body,
            Err(e) => {
                tracing::debug!("user {account_id} lookup failed: {}", e.user_message());
                return None;
            }
        };
        array(&body, "results")
            .iter()
            .find(|u| text(u, "accountId").as_deref() == Some(account_id))
            .and_then(|u| text(u, "displayName").or_else(|| text(u, "publicName")))
    }

    /// Spaces, optionally only those with the given keys.
    pub async fn spaces(
        &self,
        trace: &CallTrace,
        keys: &[String],
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<SpaceList, ApiError> {
        match self.api.deployment {
            Deployment::Cloud => {
                let req = ApiRequest::get(Product::Confluence, self.url(&["api", "v2", "spaces"]))
                    .scope("read:space:confluence")
                    .query("limit", limit.to_string())
                    .query_opt("keys", (!keys.is_empty()).then(|| keys.join(",")))
                    .query_opt("cursor", cursor);
                let body = self.api.http.send(trace, req).await?;
                let spaces = array(&body, "results")
                    .iter()
                    .filter_map(|s| {
                        Some(Space {
                            id: id(s, "id"),
                            key: text(s, "key")?,
                            name: text(s, "name"),
                            kind: text(s, "type"),
                            homepage_id: id(s, "homepageId"),
                            url: self.web(s.get("_links").and_then(|l| text(l, "webui"))),
                        })
                    })
                    .collect();
                let next_cursor = body
                    .get("_links")
                    .and_then(|l| text(l, "next"))
                    .and_then(|n| query_param(&n, "cursor"));
                Ok(SpaceList {
                    spaces,
                    next_cursor,
                })
            }
            Deployment::DataCenter => {
                let start = offset_cursor(Product::Confluence, cursor, "cursor")?;
                let mut req =
                    ApiRequest::get(Product::Confluence, self.url(&["rest", "api", "space"]))
                        .scope("read:space:confluence")
                        .query("start", start.to_string())
                        .query("limit", limit.to_string())
                        .query("expand", "homepage");
                for k in keys {
                    req = req.query("spaceKey", k.as_str());
                }
                let body = self.api.http.send(trace, req).await?;
                let raw = array(&body, "results");
                let spaces = raw
                    .iter()
                    .filter_map(|s| {
                        let key = text(s, "key")?;
                        Some(Space {
                            id: Some(key.clone()),
                            key,
                            name: text(s, "name"),
                            kind: text(s, "type"),
                            homepage_id: s.get("homepage").and_then(|h| id(h, "id")),
                            url: self.web(s.get("_links").and_then(|l| text(l, "webui"))),
                        })
                    })
                    .collect();
                let has_next = body.get("_links").and_then(|l| text(l, "next")).is_some();
                let size = uint(&body, "size").unwrap_or(raw.len() as u64);
                Ok(SpaceList {
                    spaces,
                    next_cursor: (has_next && size > 0)
                        .then(|| start.saturating_add(size).to_string()),
                })
            }
        }
    }

    /// The signed-in user, as Confluence knows them (for sites without Jira).
    pub async fn current_user(&self, trace: &CallTrace) -> Result<super::jira::User, ApiError> {
        let req = ApiRequest::get(
            Product::Confluence,
            self.url(&["rest", "api", "user", "current"]),
        )
        .scope("read:confluence-user");
        let body = self.api.http.send(trace, req).await?;
        super::jira::User::from_json(&body).ok_or_else(|| decode("current user is not an object"))
    }

    /// The key of a space given its id (Cloud pages carry only `spaceId`); cached per process.
    ///
    /// Returns `None` when the lookup fails, so a page read never fails for want of a label.
    pub async fn space_key(&self, trace: &CallTrace, space_id: &str) -> Option<String> {
        if let Some(key) = self
            .api
            .space_keys
            .lock()
            .ok()
            .and_then(|c| c.get(space_id).cloned())
        {
            return Some(key);
        }
        let req = ApiRequest::get(
            Product::Confluence,
            self.url(&["api", "v2", "spaces", space_id]),
        )
        .scope("read:space:confluence");
        let body = match self.api.http.send(trace, req).await {
            Ok(body) => body,
            Err(e) => {
                tracing::debug!("space {space_id} lookup failed: {}", e.user_message());
                return None;
            }
        };
        let key = text(&body, "key")?;
        if let Ok(mut cache) = self.api.space_keys.lock() {
            cache.insert(space_id.to_string(), key.clone());
        }
        Some(key)
    }
}

/// `body.storage.value` of a v1 content or v2 page response (empty when absent).
pub(super) fn storage_body(body: &Value) -> String {
    body.get("body")
        .and_then(|b| b.get("storage"))
        .and_then(|s| s.get("value"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A Confluence [`ApiError::Decode`].
pub(super) fn decode(message: &str) -> ApiError {
    ApiError::Decode {
        product: Product::Confluence,
        message: message.to_string(),
    }
}
