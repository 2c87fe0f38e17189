//! Confluence writes for Cloud (v2 `/wiki/api/v2` pages and spaces) and Data Center
//! (`/rest/api/content`, `/rest/api/space`): resolve a space, create and update pages in
//! storage format, read the current version (who made it, for "someone else changed it"), and
//! find a page by its title (titles are unique per space), so a crashed bulk call can learn
//! what it created.
//!
//! Retries: creates are POSTs, retried only on 429/503, never on 502/504 (the page may exist
//! by then). Updates are PUTs carrying an explicit version number, so they are safe to repeat
//! and are retried on 502/504 too: if the first attempt was applied before the gateway gave
//! up, the repeat names a version that is no longer "current + 1" and Confluence answers 409
//! instead of writing twice. [`Confluence::update_page`] turns that 409 back into success when
//! the page now is exactly the version it meant to write (same number, title and body), so a
//! 409 reaching the caller means someone else's version is in the way.

use serde_json::{Map, Value, json};

use super::confluence::{Confluence, decode, storage_body};
use super::json::{array, id, text, uint};
use super::{ApiError, Product};
use crate::atlassian::http::{ApiRequest, CallTrace};
use crate::config::Deployment;

/// A page as a write left it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PageRef {
    /// Page id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Version number (1 for a new page).
    pub version: u64,
    /// Link a person can open.
    pub url: Option<String>,
}

/// A space, as page writes address it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpaceRef {
    /// Space key.
    pub key: String,
    /// Space id (Cloud); the key again on Data Center, which addresses spaces by key.
    pub id: String,
}

/// A page as it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentVersion {
    /// Current version number.
    pub number: u64,
    /// Who made it: account id (Cloud) or display name (Data Center).
    pub by: Option<String>,
    /// When it was made, as Confluence gives it.
    pub when: Option<String>,
    /// Current title.
    pub title: String,
    /// Current storage-format body.
    pub storage: String,
    /// Space key, when known.
    pub space_key: Option<String>,
}

/// `{"representation": "storage", "value": …}` (v2) or `{"storage": {…}}` (v1/DC).
fn storage_json(deployment: Deployment, storage: &str) -> Value {
    let inner = json!({"representation": "storage", "value": storage});
    match deployment {
        Deployment::Cloud => inner,
        Deployment::DataCenter => json!({ "storage": inner }),
    }
}

/// `{"number": n}` plus `"message"` when given.
fn version_json(number: u64, message: Option<&str>) -> Value {
    let mut v = Map::new();
    v.insert("number".into(), json!(number));
    if let Some(m) = message {
        v.insert("message".into(), json!(m));
    }
    Value::Object(v)
}

impl<'a> Confluence<'a> {
    /// A page reference from a v2 page or a v1/DC content object; `fallback_version` when the
    /// answer carries no version.
    fn page_ref(&self, body: &Value, fallback_version: Option<u64>) -> Result<PageRef, ApiError> {
        let id = id(body, "id").ok_or_else(|| decode("page answer has no `id`"))?;
        let version = body
            .get("version")
            .and_then(|v| uint(v, "number"))
            .or(fallback_version)
            .ok_or_else(|| decode("page answer has no `version.number`"))?;
        Ok(PageRef {
            id,
            title: text(body, "title").unwrap_or_default(),
            version,
            url: self.web(body.get("_links").and_then(|l| text(l, "webui"))),
        })
    }

    /// The space with this key, if it exists and is visible: Cloud
    /// `GET /wiki/api/v2/spaces?keys=KEY`; Data Center `GET /rest/api/space?spaceKey=KEY`.
    pub async fn space_ref(
        &self,
        trace: &CallTrace,
        key: &str,
    ) -> Result<Option<SpaceRef>, ApiError> {
        let key = key.trim();
        if key.is_empty() {
            return Ok(None);
        }
        let req = match self.api.deployment {
            Deployment::Cloud => {
                ApiRequest::get(Product::Confluence, self.url(&["api", "v2", "spaces"]))
                    .query("keys", key)
            }
            Deployment::DataCenter => {
                ApiRequest::get(Product::Confluence, self.url(&["rest", "api", "space"]))
                    .query("spaceKey", key)
            }
        }
        .scope("read:space:confluence")
        .query("limit", "25");
        let body = match self.api.http.send(trace, req).await {
            Ok(b) => b,
            Err(ApiError::Status { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let spaces: Vec<(String, Option<String>)> = array(&body, "results")
            .iter()
            .filter_map(|s| Some((text(s, "key")?, id(s, "id"))))
            .collect();
        let found = spaces
            .iter()
            .find(|(k, _)| k == key)
            .or_else(|| spaces.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)));
        let Some((found_key, found_id)) = found.cloned() else {
            return Ok(None);
        };
        let space = match self.api.deployment {
            Deployment::Cloud => {
                let id = found_id.ok_or_else(|| decode("space answer has no `id`"))?;
                if let Ok(mut cache) = self.api.space_keys.lock() {
                    cache.insert(id.clone(), found_key.clone());
                }
                SpaceRef { key: found_key, id }
            }
            Deployment::DataCenter => SpaceRef {
                id: found_key.clone(),
                key: found_key,
            },
        };
        Ok(Some(space))
    }

    /// Creates a page (storage format) in `space`, under `parent_id` or else under the space's
    /// homepage (Cloud) / at the top (Data Center). Cloud `POST /wiki/api/v2/pages` (200);
    /// Data Center `POST /rest/api/content`.
    pub async fn create_page(
        &self,
        trace: &CallTrace,
        space: &SpaceRef,
        title: &str,
        storage: &str,
        parent_id: Option<&str>,
    ) -> Result<PageRef, ApiError> {
        let deployment = self.api.deployment;
        let mut body = Map::new();
        let req = match deployment {
            Deployment::Cloud => {
                body.insert("spaceId".into(), json!(space.id));
                body.insert("status".into(), json!("current"));
                body.insert("title".into(), json!(title));
                if let Some(parent) = parent_id {
                    body.insert("parentId".into(), json!(parent));
                }
                body.insert("body".into(), storage_json(deployment, storage));
                ApiRequest::post(Product::Confluence, self.url(&["api", "v2", "pages"]))
            }
            Deployment::DataCenter => {
                body.insert("type".into(), json!("page"));
                body.insert("title".into(), json!(title));
                body.insert("space".into(), json!({ "key": space.key }));
                if let Some(parent) = parent_id {
                    body.insert("ancestors".into(), json!([{ "id": parent }]));
                }
                body.insert("body".into(), storage_json(deployment, storage));
                ApiRequest::post(Product::Confluence, self.url(&["rest", "api", "content"]))
            }
        }
        .scope("write:page:confluence")
        .json(Value::Object(body));
        let answer = self.api.http.send(trace, req).await?;
        self.page_ref(&answer, Some(1))
    }

    /// Sets a page's title and body as version `new_version` (= current + 1), keeping its
    /// parent. A stale version comes back as `ApiError::Status { status: 409, .. }`, unless
    /// the page already is exactly this version (same number, title and body: an earlier
    /// attempt of ours went through), which is success. Cloud
    /// `PUT /wiki/api/v2/pages/{id}`; Data Center `PUT /rest/api/content/{id}`.
    pub async fn update_page(
        &self,
        trace: &CallTrace,
        page_id: &str,
        title: &str,
        storage: &str,
        new_version: u64,
        message: Option<&str>,
    ) -> Result<PageRef, ApiError> {
        let deployment = self.api.deployment;
        let mut body = Map::new();
        body.insert("id".into(), json!(page_id));
        let url = match deployment {
            Deployment::Cloud => {
                body.insert("status".into(), json!("current"));
                self.url(&["api", "v2", "pages", page_id])
            }
            Deployment::DataCenter => {
                body.insert("type".into(), json!("page"));
                self.url(&["rest", "api", "content", page_id])
            }
        };
        body.insert("title".into(), json!(title));
        body.insert("body".into(), storage_json(deployment, storage));
        body.insert("version".into(), version_json(new_version, message));
        // Idempotent (retried on 502/504): the explicit version number makes a repeat of an
        // applied update a 409, never a second write.
        let req = ApiRequest::put(Product::Confluence, url)
            .scope("write:page:confluence")
            .json(Value::Object(body));
        match self.api.http.send(trace, req).await {
            Ok(answer) => self.page_ref(&answer, Some(new_version)),
            Err(conflict @ ApiError::Status { status: 409, .. }) => {
                // Our own earlier attempt (a retried 502/504) may be what is in the way.
                let (now, url) = self.read_current(trace, page_id).await?;
                let same_title = now.title == crate::sanitize::clean_text(title.trim());
                if now.number == new_version && same_title && now.storage == storage {
                    Ok(PageRef {
                        id: page_id.to_string(),
                        title: now.title,
                        version: now.number,
                        url,
                    })
                } else {
                    Err(conflict)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The page as it is now, with who made the current version (for "someone else changed
    /// it" errors and for keeping an unchanged body). Cloud
    /// `GET /wiki/api/v2/pages/{id}?body-format=storage`; Data Center
    /// `GET /rest/api/content/{id}?expand=body.storage,version,space`.
    pub async fn current_version(
        &self,
        trace: &CallTrace,
        page_id: &str,
    ) -> Result<CurrentVersion, ApiError> {
        self.read_current(trace, page_id).await.map(|(now, _)| now)
    }

    /// [`Confluence::current_version`] and the page's link.
    async fn read_current(
        &self,
        trace: &CallTrace,
        page_id: &str,
    ) -> Result<(CurrentVersion, Option<String>), ApiError> {
        let (now, body) = match self.api.deployment {
            Deployment::Cloud => {
                let req = ApiRequest::get(
                    Product::Confluence,
                    self.url(&["api", "v2", "pages", page_id]),
                )
                .scope("read:page:confluence")
                .query("body-format", "storage");
                let body = self.api.http.send(trace, req).await?;
                let version = body.get("version");
                let number = version
                    .and_then(|v| uint(v, "number"))
                    .ok_or_else(|| decode("page answer has no `version.number`"))?;
                let space_key = match id(&body, "spaceId") {
                    Some(sid) => self.space_key(trace, &sid).await,
                    None => None,
                };
                let now = CurrentVersion {
                    number,
                    by: version.and_then(|v| text(v, "authorId")),
                    when: version.and_then(|v| text(v, "createdAt")),
                    title: text(&body, "title").unwrap_or_default(),
                    storage: storage_body(&body),
                    space_key,
                };
                (now, body)
            }
            Deployment::DataCenter => {
                let req = ApiRequest::get(
                    Product::Confluence,
                    self.url(&["rest", "api", "content", page_id]),
                )
                .scope("read:page:confluence")
                .query("expand", "body.storage,version,space");
                let body = self.api.http.send(trace, req).await?;
                let version = body.get("version");
                let number = version
                    .and_then(|v| uint(v, "number"))
                    .ok_or_else(|| decode("content answer has no `version.number`"))?;
                let by = version.and_then(|v| v.get("by")).and_then(|b| {
                    text(b, "displayName")
                        .or_else(|| text(b, "username"))
                        .or_else(|| text(b, "userKey"))
                });
                let now = CurrentVersion {
                    number,
                    by,
                    when: version.and_then(|v| text(v, "when")),
                    title: text(&body, "title").unwrap_or_default(),
                    storage: storage_body(&body),
                    space_key: body.get("space").and_then(|s| text(s, "key")),
                };
                (now, body)
            }
        };
        let url = self.web(body.get("_links").and_then(|l| text(l, "webui")));
        Ok((now, url))
    }

    /// A page with exactly this title in the space, if any (Confluence titles are unique per
    /// space; used to find a page a crashed bulk call may have created). Cloud
    /// `GET /wiki/api/v2/pages?space-id=&title=&status=current`; Data Center
    /// `GET /rest/api/content?spaceKey=&title=&type=page&expand=version`.
    pub async fn find_page_by_title(
        &self,
        trace: &CallTrace,
        space: &SpaceRef,
        title: &str,
    ) -> Result<Option<PageRef>, ApiError> {
        let req = match self.api.deployment {
            Deployment::Cloud => {
                ApiRequest::get(Product::Confluence, self.url(&["api", "v2", "pages"]))
                    .query("space-id", space.id.as_str())
                    .query("title", title)
                    .query("status", "current")
            }
            Deployment::DataCenter => {
                ApiRequest::get(Product::Confluence, self.url(&["rest", "api", "content"]))
                    .query("spaceKey", space.key.as_str())
                    .query("title", title)
                    .query("type", "page")
                    .query("expand", "version")
            }
        }
        .scope("read:page:confluence")
        .query("limit", "25");
        let body = self.api.http.send(trace, req).await?;
        let Some(results) = body.get("results").and_then(Value::as_array) else {
            return Err(decode("page list has no `results` array"));
        };
        let titled = |exact: bool| {
            results.iter().find(|p| {
                text(p, "title").is_some_and(|t| {
                    if exact {
                        t == title
                    } else {
                        t.eq_ignore_ascii_case(title)
                    }
                })
            })
        };
        match titled(true).or_else(|| titled(false)) {
            Some(page) => self.page_ref(page, None).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_per_deployment() {
        assert_eq!(
            storage_json(Deployment::Cloud, "<p>x</p>"),
            json!({"representation": "storage", "value": "<p>x</p>"})
        );
        assert_eq!(
            storage_json(Deployment::DataCenter, "<p>x</p>"),
            json!({"storage": {"representation": "storage", "value": "<p>x</p>"}})
        );
        assert_eq!(version_json(3, None), json!({"number": 3}));
        assert_eq!(
            version_json(3, Some("why")),
            json!({"number": 3, "message": "why"})
        );
    }
}
