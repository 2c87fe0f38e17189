//! Confluence calls (CQL search, page, spaces) for Cloud (v1 search + v2 pages/spaces) and
//! Data Center (`/rest/api`), normalized into one set of types.

use serde_json::Value;

use super::jira::User;
use super::json::{array, id, offset_cursor, query_param, text, uint};
use super::{Api, ApiError, Product, with_segments};
use crate::atlassian::http::{ApiRequest, CallTrace, MAX_GET_URL_BYTES};
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
    /// Who created the page (Cloud `authorId`: id only; Data Center `history.createdBy`).
    pub author: Option<User>,
    /// Label names.
    pub labels: Vec<String>,
    /// The parent page's title, when the response carries it (Data Center ancestors).
    pub parent_title: Option<String>,
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

    /// One page of CQL search results, never more than `limit` hits whatever the site sends.
    ///
    /// Confluence's search takes CQL only in the URL (GET): CQL that would make the URL
    /// longer than [`MAX_GET_URL_BYTES`] is refused with [`ApiError::QueryTooLong`] without
    /// sending anything.
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
        let url_len = req.url_len();
        if url_len > MAX_GET_URL_BYTES {
            let bytes: usize = url::form_urlencoded::byte_serialize(cql.as_bytes())
                .map(str::len)
                .sum();
            return Err(ApiError::QueryTooLong {
                product: Product::Confluence,
                language: "CQL",
                chars: cql.chars().count(),
                bytes,
                max_bytes: MAX_GET_URL_BYTES.saturating_sub(url_len - bytes),
            });
        }
        let body = self.api.http.send(trace, req).await?;
        let Some(raw) = body.get("results").and_then(Value::as_array) else {
            return Err(decode("search response has no `results` array"));
        };
        // A site that sends more than asked is cut to the request (offset paging continues
        // right after what was kept; Cloud's cursor is opaque and stays as sent).
        let kept = raw.len().min(usize::try_from(limit).unwrap_or(usize::MAX));
        let cut = kept < raw.len();
        let raw = &raw[..kept];
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
            let size = uint(&body, "size")
                .unwrap_or(raw.len() as u64)
                .min(raw.len() as u64);
            let total = uint(&body, "totalSize");
            let next = start.saturating_add(size);
            let more = cut || next_link.is_some() || total.is_some_and(|t| next < t);
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
                        .query("include-labels", "true")
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
                    author: text(&body, "authorId").map(|id| User {
                        id: Some(id),
                        ..User::default()
                    }),
                    labels: body
                        .get("labels")
                        .map(|l| array(l, "results"))
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|l| text(l, "name"))
                        .collect(),
                    parent_title: None,
                })
            }
            Deployment::DataCenter => {
                let req = ApiRequest::get(
                    Product::Confluence,
                    self.url(&["rest", "api", "content", page_id]),
                )
                .scope("read:page:confluence")
                .query(
                    "expand",
                    "body.storage,version,space,ancestors,history,metadata.labels",
                );
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
                    parent_title: array(&body, "ancestors")
                        .last()
                        .and_then(|a| text(a, "title")),
                    author: body
                        .get("history")
                        .and_then(|h| h.get("createdBy"))
                        .and_then(User::from_json),
                    labels: body
                        .get("metadata")
                        .and_then(|m| m.get("labels"))
                        .map(|l| array(l, "results"))
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|l| text(l, "name"))
                        .collect(),
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
        self.display_names(trace, &[account_id.to_string()])
            .await
            .remove(account_id)
    }

    /// Display names of the given users: on Cloud account ids, in one v2 `POST /users-bulk`
    /// (at most 250 ids); on Data Center user keys, one `GET /rest/api/user?key=` each (at most
    /// 20, a few at a time). Users that cannot be looked up are left out: a missing name never
    /// fails a read.
    pub async fn display_names(
        &self,
        trace: &CallTrace,
        account_ids: &[String],
    ) -> std::collections::HashMap<String, String> {
        let mut names = std::collections::HashMap::new();
        if self.api.deployment == Deployment::DataCenter {
            let keys: Vec<String> = account_ids.iter().take(20).cloned().collect();
            for chunk in keys.chunks(4) {
                let found =
                    futures::future::join_all(chunk.iter().map(|k| self.dc_user_name(trace, k)))
                        .await;
                names.extend(found.into_iter().flatten());
            }
            return names;
        }
        let ids: Vec<&String> = account_ids.iter().take(250).collect();
        if ids.is_empty() {
            return names;
        }
        let mut req = ApiRequest::post(Product::Confluence, self.url(&["api", "v2", "users-bulk"]))
            .scope("read:user:confluence")
            .json(serde_json::json!({ "accountIds": ids }));
        // A read sent as POST: repeating it is harmless.
        req.idempotent = true;
        let body = match self.api.http.send(trace, req).await {
            Ok(body) => body,
            Err(e) => {
                tracing::debug!("user lookup failed: {}", e.user_message());
                return names;
            }
        };
        for u in array(&body, "results") {
            if let (Some(id), Some(name)) = (
                text(u, "accountId"),
                text(u, "displayName").or_else(|| text(u, "publicName")),
            ) {
                names.insert(id, name);
            }
        }
        names
    }

    /// One Data Center user's display name by user key.
    async fn dc_user_name(&self, trace: &CallTrace, key: &str) -> Option<(String, String)> {
        let req = ApiRequest::get(Product::Confluence, self.url(&["rest", "api", "user"]))
            .scope("read:confluence-user")
            .query("key", key);
        let body = self.api.http.send(trace, req).await.ok()?;
        Some((key.to_string(), text(&body, "displayName")?))
    }

    /// A page's title alone (Cloud v2, no body): for naming a parent. `None` when it cannot be
    /// read — a missing title never fails a read.
    pub async fn page_title(&self, trace: &CallTrace, page_id: &str) -> Option<String> {
        let req = match self.api.deployment {
            Deployment::Cloud => ApiRequest::get(
                Product::Confluence,
                self.url(&["api", "v2", "pages", page_id]),
            )
            .scope("read:page:confluence"),
            Deployment::DataCenter => ApiRequest::get(
                Product::Confluence,
                self.url(&["rest", "api", "content", page_id]),
            )
            .scope("read:page:confluence"),
        };
        let body = self.api.http.send(trace, req).await.ok()?;
        text(&body, "title")
    }

    /// The wiki's base URL for links people open (`…/wiki` on Cloud, the Data Center base).
    pub fn wiki_base(&self) -> String {
        self.api
            .confluence_web
            .as_str()
            .trim_end_matches('/')
            .to_string()
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
                    .take(usize::try_from(limit).unwrap_or(usize::MAX))
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
                let all = array(&body, "results");
                let raw = &all[..all.len().min(usize::try_from(limit).unwrap_or(usize::MAX))];
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
                let has_next = raw.len() < all.len()
                    || body.get("_links").and_then(|l| text(l, "next")).is_some();
                let size = uint(&body, "size")
                    .unwrap_or(raw.len() as u64)
                    .min(raw.len() as u64);
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
