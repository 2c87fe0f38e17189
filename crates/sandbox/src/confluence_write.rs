//! Confluence write handlers: Cloud v2 `POST /pages` and `PUT /pages/{id}` (PageSingle, 200),
//! and v1 / Data Center `POST /rest/api/content` and `PUT /rest/api/content/{id}` (Content).
//! Titles are unique per space (case-insensitively), a page is created at version 1, and an
//! update must carry the current version + 1 (409 otherwise). Every version records the
//! signed-in user and the sandbox clock, so readers can say who changed a page and when.
//! Bodies are storage format only (`atlas_doc_format` and `wiki` writes answer 400).

use serde_json::{Map, Value, json};

use super::changes::PageRefusal;
use super::confluence::{content_json, v1_bad, v1_not_found, v2_bad, v2_page};
use super::seed::{DEMO, Page, PageVersion, Store, storage_text};
use super::wire::{Family, Reply, json_body};
use super::{Req, Site};

/// Routes the v2 page writes; `None` for anything else.
pub(crate) fn v2(req: &Req<'_>, store: &mut Store, rest: &[&str]) -> Option<Reply> {
    Some(match (req.method.as_str(), rest) {
        ("POST", ["pages"]) => v2_create(req, store),
        ("PUT", ["pages", id]) => v2_update(req, store, id),
        ("DELETE", ["pages", id]) => v2_delete(store, id),
        _ => return None,
    })
}

/// Routes the v1 / Data Center content writes; `None` for anything else.
pub(crate) fn v1(req: &Req<'_>, store: &mut Store, rest: &[&str]) -> Option<Reply> {
    Some(match (req.method.as_str(), rest) {
        ("POST", ["content"]) => v1_create(req, store),
        ("PUT", ["content", id]) => v1_update(req, store, id),
        _ => return None,
    })
}

/// A v2 error with a title and no detail (how Confluence reports conflicts and title clashes).
fn v2_error(status: u16, code: &str, title: &str) -> Reply {
    Reply::json(
        status,
        json!({"errors": [{"status": status, "code": code, "title": title, "detail": null}]}),
    )
}

fn v2_not_found() -> Reply {
    Reply::error(Family::ConfluenceV2, 404, "")
}

const V1_BAD: &str = "com.atlassian.confluence.api.service.exceptions.BadRequestException: ";
const V1_CONFLICT: &str = "com.atlassian.confluence.api.service.exceptions.ConflictException: ";

fn conflict_title(current: i64) -> String {
    format!("Version must be incremented on update. Current version is: {current}")
}

fn object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match json_body(body)? {
        Value::Object(m) => Ok(m),
        _ => Err("The request body must be a JSON object.".into()),
    }
}

/// A string or number id.
fn id_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn checked_title(v: Option<&Value>) -> Result<String, String> {
    let t = v.and_then(Value::as_str).map(str::trim).unwrap_or("");
    if t.is_empty() {
        Err("A page title is required.".into())
    } else if t.chars().count() > 255 {
        Err("A page title must be at most 255 characters long.".into())
    } else {
        Ok(t.to_string())
    }
}

/// Storage-format body from `{representation, value}` or `{"storage": {…}}`; absent is empty.
fn storage_body(v: Option<&Value>) -> Result<Option<String>, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let inner = match v.get("storage") {
        Some(s) => s,
        None if v.get("representation").is_some() || v.get("value").is_some() => v,
        None => {
            let other: Vec<&str> = v
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            return Err(format!(
                "Only the 'storage' representation can be written to the sandbox (got {}).",
                other.join(", ")
            ));
        }
    };
    match inner.get("representation").and_then(Value::as_str) {
        None | Some("storage") => {}
        Some(r) => {
            return Err(format!(
                "Only the 'storage' representation can be written to the sandbox, not '{r}'."
            ));
        }
    }
    match inner.get("value") {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        None | Some(Value::Null) => Ok(Some(String::new())),
        Some(_) => Err("The body value must be a string.".into()),
    }
}

fn title_taken(store: &Store, space: usize, title: &str, except: Option<u64>) -> bool {
    store
        .pages
        .iter()
        .any(|p| p.space == space && Some(p.id) != except && p.title.eq_ignore_ascii_case(title))
}

/// Whether making `parent` the parent of `page` would put the page under itself.
fn would_cycle(store: &Store, page: u64, parent: u64) -> bool {
    let mut cur = Some(parent);
    let mut steps = 0;
    while let Some(id) = cur {
        if id == page || steps > store.pages.len() {
            return true;
        }
        steps += 1;
        cur = store
            .pages
            .iter()
            .find(|p| p.id == id)
            .and_then(|p| p.parent);
    }
    false
}

fn version(number: i64, message: String, minor: bool, when: time::OffsetDateTime) -> PageVersion {
    PageVersion {
        number,
        author: DEMO,
        when,
        message,
        minor,
    }
}

/// Creates a page at version 1 and returns its id.
fn insert_page(
    store: &mut Store,
    space: usize,
    parent: Option<u64>,
    title: String,
    storage: String,
    message: String,
) -> u64 {
    let now = store.tick();
    let id = store.next_page_id();
    let position = store
        .pages
        .iter()
        .filter(|p| p.space == space && p.parent == parent)
        .count() as i64;
    store.pages.push(Page {
        id,
        space,
        parent,
        position,
        title,
        text: storage_text(&storage),
        storage,
        labels: Vec::new(),
        versions: vec![version(1, message, false, now)],
    });
    id
}

/// One validated update, applied by [`update_page`].
struct Change {
    title: String,
    storage: Option<String>,
    parent: Option<Option<u64>>,
    message: String,
    minor: bool,
}

fn update_page(store: &mut Store, id: u64, change: Change) {
    let now = store.tick();
    if let Some(page) = store.pages.iter_mut().find(|p| p.id == id) {
        let number = page.latest().map_or(0, |v| v.number) + 1;
        page.title = change.title;
        if let Some(s) = change.storage {
            page.text = storage_text(&s);
            page.storage = s;
        }
        if let Some(parent) = change.parent {
            page.parent = parent;
        }
        page.versions
            .push(version(number, change.message, change.minor, now));
    }
}

// ---------------------------------------------------------------------------------------------
// Cloud v2
// ---------------------------------------------------------------------------------------------

fn v2_answer(req: &Req<'_>, store: &Store, id: u64) -> Reply {
    let ctx = req.ctx(store);
    let Some(page) = store.pages.iter().find(|p| p.id == id) else {
        return v2_not_found();
    };
    let mut v = v2_page(&ctx, page, Some("storage"));
    if let Some(links) = v.get_mut("_links").and_then(Value::as_object_mut) {
        links.insert("base".into(), json!(req.wiki_base));
    }
    Reply::ok(v)
}

fn v2_status(body: &Map<String, Value>) -> Result<(), Reply> {
    match body.get("status").and_then(Value::as_str) {
        None | Some("current") => Ok(()),
        Some("draft") => Err(v2_bad(
            "The sandbox publishes pages only: use status 'current'.",
        )),
        Some(s) => Err(v2_bad(&format!("Invalid value '{s}' for 'status'"))),
    }
}

/// A v2 `parentId` in `space`: `Ok(None)` when absent.
fn v2_parent(store: &Store, body: &Map<String, Value>, space: usize) -> Result<Option<u64>, Reply> {
    let Some(raw) = body.get("parentId").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let id = id_of(Some(raw))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| v2_bad("Invalid value for 'parentId': must be a number"))?;
    let parent = store
        .pages
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(v2_not_found)?;
    if parent.space != space {
        return Err(v2_bad("The parent page must be in the same space."));
    }
    Ok(Some(id))
}

fn v2_create(req: &Req<'_>, store: &mut Store) -> Reply {
    let body = match object(req.body) {
        Ok(b) => b,
        Err(m) => return v2_bad(&m),
    };
    let Some(space_id) = id_of(body.get("spaceId")).filter(|s| !s.is_empty()) else {
        return v2_bad("'spaceId' is required");
    };
    let Some(space) = store
        .spaces
        .iter()
        .position(|s| s.id.to_string() == space_id)
    else {
        return v2_not_found();
    };
    if let Err(r) = v2_status(&body) {
        return r;
    }
    let title = match checked_title(body.get("title")) {
        Ok(t) => t,
        Err(m) => return v2_bad(&m),
    };
    let root = req.params.get("root-level") == Some("true");
    let parent = match v2_parent(store, &body, space) {
        Ok(Some(_)) if root => {
            return v2_bad("'parentId' must not be given with root-level=true");
        }
        Ok(Some(p)) => Some(p),
        Ok(None) if root => None,
        Ok(None) => store.spaces.get(space).map(|s| s.homepage),
        Err(r) => return r,
    };
    let storage = match storage_body(body.get("body")) {
        Ok(s) => s.unwrap_or_default(),
        Err(m) => return v2_bad(&m),
    };
    if title_taken(store, space, &title, None) {
        return v2_error(
            400,
            "INVALID_REQUEST_PARAMETER",
            "A page with this title already exists: A page already exists with the same TITLE in this space",
        );
    }
    let id = insert_page(store, space, parent, title, storage, String::new());
    v2_answer(req, store, id)
}

fn v2_update(req: &Req<'_>, store: &mut Store, id: &str) -> Reply {
    let Ok(page_id) = id.parse::<u64>() else {
        return v2_bad(&format!(
            "Invalid value '{id}' for path parameter 'id': must be a number"
        ));
    };
    let Some((space, current)) = store
        .pages
        .iter()
        .find(|p| p.id == page_id)
        .map(|p| (p.space, p.latest().map_or(0, |v| v.number)))
    else {
        return v2_not_found();
    };
    let body = match object(req.body) {
        Ok(b) => b,
        Err(m) => return v2_bad(&m),
    };
    for key in ["id", "status", "title", "body", "version"] {
        if body.get(key).is_none_or(Value::is_null) {
            return v2_bad(&format!("'{key}' is required"));
        }
    }
    if id_of(body.get("id")).as_deref() != Some(id) {
        return v2_bad("The 'id' in the body must be the id of the page in the path.");
    }
    if let Err(r) = v2_status(&body) {
        return r;
    }
    let version = body.get("version");
    let Some(number) = version
        .and_then(|v| v.get("number"))
        .and_then(Value::as_i64)
    else {
        return v2_bad("'version.number' is required and must be an integer");
    };
    if number != current + 1 {
        return v2_error(409, "CONFLICT", &conflict_title(current));
    }
    if let Some(s) = id_of(body.get("spaceId")).filter(|s| !s.is_empty())
        && store
            .spaces
            .get(space)
            .is_none_or(|sp| sp.id.to_string() != s)
    {
        return v2_bad("Moving a page to another space is not supported.");
    }
    let title = match checked_title(body.get("title")) {
        Ok(t) => t,
        Err(m) => return v2_bad(&m),
    };
    let parent = match v2_parent(store, &body, space) {
        Ok(Some(p)) if would_cycle(store, page_id, p) => {
            return v2_bad("A page cannot be moved under itself or one of its descendants.");
        }
        Ok(p) => p.map(Some),
        Err(r) => return r,
    };
    let storage = match storage_body(body.get("body")) {
        Ok(s) => s,
        Err(m) => return v2_bad(&m),
    };
    if title_taken(store, space, &title, Some(page_id)) {
        return v2_error(
            400,
            "INVALID_REQUEST_PARAMETER",
            "A page with this title already exists: A page already exists with the same TITLE in this space",
        );
    }
    let text = |k: &str| version.and_then(|v| v.get(k));
    let change = Change {
        title,
        storage,
        parent,
        message: text("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        minor: text("minorEdit").and_then(Value::as_bool).unwrap_or(false),
    };
    update_page(store, page_id, change);
    v2_answer(req, store, page_id)
}

// ---------------------------------------------------------------------------------------------
// v1 and Data Center
// ---------------------------------------------------------------------------------------------

fn v1_answer(req: &Req<'_>, store: &Store, id: u64) -> Reply {
    let ctx = req.ctx(store);
    let Some(page) = store.pages.iter().find(|p| p.id == id) else {
        return v1_not_found(&format!("No content found with id: ContentId{{id={id}}}"));
    };
    let expand: Vec<String> = ["space", "history", "version", "ancestors", "body.storage"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut v = content_json(&ctx, page, &expand);
    if let Some(links) = v.get_mut("_links").and_then(Value::as_object_mut) {
        links.insert("base".into(), json!(req.wiki_base));
        links.insert("context".into(), json!(req.wiki_context));
    }
    Reply::ok(v)
}

fn v1_type(body: &Map<String, Value>) -> Result<(), Reply> {
    match body.get("type").and_then(Value::as_str) {
        Some("page") => Ok(()),
        None => Err(v1_bad(
            "The content 'type' is required (the sandbox writes 'page').",
        )),
        Some(t) => Err(v1_bad(&format!(
            "The sandbox writes content of type 'page' only, not '{t}'."
        ))),
    }
}

fn v1_title_clash(req: &Req<'_>, title: &str, space_key: &str) -> Reply {
    let detail = match req.site {
        Site::Cloud => "A page already exists with the same TITLE in this space".to_string(),
        Site::Dc => format!(
            "A page already exists with the title {title} in the space with key {space_key}"
        ),
    };
    v1_bad(&format!(
        "{V1_BAD}A page with this title already exists: {detail}"
    ))
}

/// v1 `ancestors: [{"id"}…]`: the last one is the parent; `Ok(None)` when absent or empty.
fn v1_parent(store: &Store, body: &Map<String, Value>, space: usize) -> Result<Option<u64>, Reply> {
    let Some(last) = body
        .get("ancestors")
        .and_then(Value::as_array)
        .and_then(|a| a.last())
    else {
        return Ok(None);
    };
    let id = id_of(last.get("id"))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| v1_bad("Each ancestor needs a numeric 'id'."))?;
    let parent =
        store.pages.iter().find(|p| p.id == id).ok_or_else(|| {
            v1_not_found(&format!("No content found with id: ContentId{{id={id}}}"))
        })?;
    if parent.space != space {
        return Err(v1_bad(
            "The ancestor must be in the same space as the page.",
        ));
    }
    Ok(Some(id))
}

fn v1_create(req: &Req<'_>, store: &mut Store) -> Reply {
    let body = match object(req.body) {
        Ok(b) => b,
        Err(m) => return v1_bad(&m),
    };
    if let Err(r) = v1_type(&body) {
        return r;
    }
    let title = match checked_title(body.get("title")) {
        Ok(t) => t,
        Err(m) => return v1_bad(&m),
    };
    let Some(key) = body
        .get("space")
        .and_then(|s| s.get("key"))
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
    else {
        return v1_bad("The 'space' with a 'key' is required.");
    };
    let Some(space) = store
        .spaces
        .iter()
        .position(|s| s.key.eq_ignore_ascii_case(key))
    else {
        return v1_not_found(&format!("No space with key : {key}"));
    };
    let parent = match v1_parent(store, &body, space) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let storage = match storage_body(body.get("body")) {
        Ok(s) => s.unwrap_or_default(),
        Err(m) => return v1_bad(&m),
    };
    if title_taken(store, space, &title, None) {
        let space_key = store.spaces.get(space).map_or(key, |s| s.key);
        return v1_title_clash(req, &title, space_key);
    }
    let id = insert_page(store, space, parent, title, storage, String::new());
    v1_answer(req, store, id)
}

fn v1_update(req: &Req<'_>, store: &mut Store, id: &str) -> Reply {
    let missing = || v1_not_found(&format!("No content found with id: ContentId{{id={id}}}"));
    let Ok(page_id) = id.parse::<u64>() else {
        return missing();
    };
    let Some((space, current)) = store
        .pages
        .iter()
        .find(|p| p.id == page_id)
        .map(|p| (p.space, p.latest().map_or(0, |v| v.number)))
    else {
        return missing();
    };
    let body = match object(req.body) {
        Ok(b) => b,
        Err(m) => return v1_bad(&m),
    };
    let version = body.get("version");
    let Some(number) = version
        .and_then(|v| v.get("number"))
        .and_then(Value::as_i64)
    else {
        return v1_bad(
            "Must supply an incremented version when updating Content. No version supplied.",
        );
    };
    if number != current + 1 {
        return Reply::error(
            Family::ConfluenceV1,
            409,
            &format!("{V1_CONFLICT}{}", conflict_title(current)),
        );
    }
    if let Err(r) = v1_type(&body) {
        return r;
    }
    let title = match checked_title(body.get("title")) {
        Ok(t) => t,
        Err(m) => return v1_bad(&m),
    };
    let parent = match v1_parent(store, &body, space) {
        Ok(Some(p)) if would_cycle(store, page_id, p) => {
            return v1_bad("A page cannot be moved under itself or one of its descendants.");
        }
        Ok(p) => p.map(Some),
        Err(r) => return r,
    };
    let storage = match storage_body(body.get("body")) {
        Ok(s) => s,
        Err(m) => return v1_bad(&m),
    };
    if title_taken(store, space, &title, Some(page_id)) {
        let space_key = store.spaces.get(space).map_or("", |s| s.key);
        return v1_title_clash(req, &title, space_key);
    }
    let text = |k: &str| version.and_then(|v| v.get(k));
    let change = Change {
        title,
        storage,
        parent,
        message: text("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        minor: text("minorEdit").and_then(Value::as_bool).unwrap_or(false),
    };
    update_page(store, page_id, change);
    v1_answer(req, store, page_id)
}

/// `DELETE /wiki/api/v2/pages/{id}` → 204. Confluence moves the page to the trash; the sandbox
/// removes it (reads then answer 404, as for a trashed page), its children move up to its
/// parent. A space's homepage is refused with 400.
fn v2_delete(store: &mut Store, id: &str) -> Reply {
    let Ok(n) = id.parse::<u64>() else {
        return v2_bad(&format!(
            "Invalid value '{id}' for path parameter 'id': must be a number"
        ));
    };
    match store.delete_page(n) {
        Ok(()) => Reply {
            status: 204,
            body: None,
            text: None,
            headers: Vec::new(),
        },
        Err(PageRefusal::Homepage) => v2_bad("The sandbox keeps every space's homepage."),
        Err(_) => Reply::error(Family::ConfluenceV2, 404, ""),
    }
}
