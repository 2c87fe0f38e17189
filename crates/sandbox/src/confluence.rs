//! Confluence handlers: Cloud v1 CQL search and content (`/wiki/rest/api/…`), Cloud v2 pages
//! and spaces (`/wiki/api/v2/…`, cursor paging with `_links.next` and a `Link` header) and the
//! v2 user lookup (`POST /wiki/api/v2/users-bulk`, a read sent as POST), and the
//! Data Center REST API (`/dc/rest/api/…`, offset paging). v2 `GET /pages` also fetches pages
//! in bulk by `id` (≤ 250, repeated or comma-separated), and `GET /pages/{id}/labels` lists a
//! page's labels (the bulk list carries none, as at Atlassian). Shapes follow
//! `confluence-v1.openapi.json` (SearchPageResponseSearchResult, Content, Space) and
//! `confluence-v2.openapi.json` (PageSingle, PageBulk, SpaceBulk, SpaceSingle).
//! Page writes (v2 create/update, v1 and Data Center content create/update) are in
//! `confluence_write`.

use axum::http::Method;
use serde_json::{Map, Value, json};

use super::paging::{self, Ranked};
use super::query::{self, Dialect, FieldVal, Kind, QueryError, SortKey, Subject as _};
use super::seed::{DEMO, Page, Space, Store, storage_to_adf};
use super::wire::{Family, Reply, conf_time, enc, escape_html, friendly, make_token, read_token};
use super::{Ctx, Site};

pub(super) fn v1_bad(message: &str) -> Reply {
    Reply::error(Family::ConfluenceV1, 400, message)
}

pub(super) fn v1_not_found(message: &str) -> Reply {
    Reply::error(Family::ConfluenceV1, 404, message)
}

pub(super) fn v2_bad(message: &str) -> Reply {
    Reply::error(Family::ConfluenceV2, 400, message)
}

fn method_not_allowed(family: Family) -> Reply {
    Reply::error(family, 405, "Method Not Allowed")
}

/// Routes `/wiki/rest/api/…` on the Cloud site.
pub(crate) fn v1(ctx: &Ctx<'_>, rest: &[&str]) -> Reply {
    if *ctx.method != Method::GET {
        return method_not_allowed(Family::ConfluenceV1);
    }
    match rest {
        ["search"] => search(ctx, false),
        ["content", "search"] => search(ctx, true),
        ["content"] => list_content(ctx),
        ["content", id] => get_content(ctx, id),
        ["space"] => list_spaces_v1(ctx),
        ["user", "current"] => Reply::ok(v1_user(ctx, crate::seed::DEMO)),
        ["user"] if ctx.site == Site::Dc => {
            let wanted = |u: &&super::seed::User| {
                ctx.params.get("key") == Some(u.key) || ctx.params.get("username") == Some(u.name)
            };
            match ctx.store.users.iter().position(|u| wanted(&u)) {
                Some(idx) => Reply::ok(v1_user(ctx, idx)),
                None => v1_not_found("No user found with the given key or username."),
            }
        }
        _ => v1_not_found("Not Found: the sandbox has no such Confluence endpoint."),
    }
}

/// Routes `/dc/rest/api/…` (Confluence) on the Data Center site.
pub(crate) fn dc(ctx: &Ctx<'_>, rest: &[&str]) -> Reply {
    v1(ctx, rest)
}

/// Routes `/wiki/api/v2/…` on the Cloud site.
pub(crate) fn v2(ctx: &Ctx<'_>, rest: &[&str]) -> Reply {
    if *ctx.method == Method::POST && rest == ["users-bulk"] {
        return users_bulk(ctx);
    }
    if *ctx.method != Method::GET {
        return method_not_allowed(Family::ConfluenceV2);
    }
    match rest {
        ["pages"] => list_pages(ctx, None),
        ["pages", id] => get_page(ctx, id),
        ["pages", id, "labels"] => page_labels(ctx, id),
        ["spaces"] => list_spaces(ctx),
        ["spaces", id] => get_space(ctx, id),
        ["spaces", id, "pages"] => list_pages(ctx, Some(id)),
        _ => Reply::error(
            Family::ConfluenceV2,
            404,
            "Not Found: the sandbox has no such Confluence endpoint.",
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared JSON builders
// ---------------------------------------------------------------------------------------------

fn space_of<'a>(store: &'a Store, page: &Page) -> Option<&'a Space> {
    store.spaces.get(page.space)
}

fn plus_title(title: &str) -> String {
    enc(title).replace("%20", "+")
}

fn page_webui(ctx: &Ctx<'_>, page: &Page) -> String {
    let key = space_of(ctx.store, page).map_or("", |s| s.key);
    match ctx.site {
        Site::Cloud => format!(
            "/spaces/{key}/pages/{}/{}",
            page.id,
            plus_title(&page.title)
        ),
        Site::Dc => format!("/display/{key}/{}", plus_title(&page.title)),
    }
}

fn tiny(id: u64) -> String {
    format!("/x/{}", base36(id))
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn space_webui(ctx: &Ctx<'_>, space: &Space) -> String {
    match ctx.site {
        Site::Cloud => format!("/spaces/{}", space.key),
        Site::Dc => format!("/display/{}", space.key),
    }
}

fn v1_user(ctx: &Ctx<'_>, idx: usize) -> Value {
    let Some(u) = ctx.store.users.get(idx) else {
        return json!({"type": "anonymous"});
    };
    let picture = json!({"path": format!("/wiki/aa-avatar/{}", u.account_id), "width": 48, "height": 48, "isDefault": false});
    match ctx.site {
        Site::Cloud => json!({
            "type": "known",
            "accountId": u.account_id,
            "accountType": "atlassian",
            "email": u.email,
            "publicName": u.display,
            "profilePicture": picture,
            "displayName": u.display,
            "isExternalCollaborator": false,
            "_expandable": {"operations": "", "personalSpace": ""},
            "_links": {"self": format!("{}/rest/api/user?accountId={}", ctx.wiki_base, u.account_id)},
        }),
        Site::Dc => json!({
            "type": "known",
            "username": u.name,
            "userKey": u.key,
            "profilePicture": picture,
            "displayName": u.display,
            "_links": {"self": format!("{}/rest/api/user?key={}", ctx.wiki_base, u.key)},
        }),
    }
}

fn v1_space(ctx: &Ctx<'_>, space: &Space) -> Value {
    json!({
        "id": space.id,
        "key": space.key,
        "name": space.name,
        "type": space.kind,
        "status": "current",
        "_expandable": {
            "settings": format!("/rest/api/space/{}/settings", space.key),
            "metadata": "",
            "operations": "",
            "lookAndFeel": format!("/rest/api/settings/lookandfeel?spaceKey={}", space.key),
            "permissions": "",
            "icon": "",
            "description": "",
            "theme": format!("/rest/api/space/{}/theme", space.key),
            "history": "",
            "homepage": format!("/rest/api/content/{}", space.homepage),
        },
        "_links": {
            "webui": space_webui(ctx, space),
            "self": format!("{}/rest/api/space/{}", ctx.wiki_base, space.key),
        },
    })
}

fn v1_version(ctx: &Ctx<'_>, page: &Page) -> Value {
    let Some(v) = page.latest() else {
        return Value::Null;
    };
    json!({
        "by": v1_user(ctx, v.author),
        "when": conf_time(v.when),
        "friendlyWhen": friendly(v.when),
        "message": v.message,
        "number": v.number,
        "minorEdit": v.minor,
        "_expandable": {"content": format!("/rest/api/content/{}", page.id), "collaborators": ""},
        "_links": {"self": format!("{}/rest/api/content/{}/version/{}", ctx.wiki_base, page.id, v.number)},
    })
}

fn ancestors(store: &Store, page: &Page) -> Vec<u64> {
    let mut out = Vec::new();
    let mut cur = page.parent;
    while let Some(id) = cur {
        if out.contains(&id) {
            break;
        }
        out.push(id);
        cur = store
            .pages
            .iter()
            .find(|p| p.id == id)
            .and_then(|p| p.parent);
    }
    out.reverse();
    out
}

fn wants(expand: &[String], key: &str) -> bool {
    expand
        .iter()
        .any(|e| e == key || e.starts_with(&format!("{key}.")))
}

/// v1 `Content` for a page; `expand` holds the paths relative to the content.
pub(super) fn content_json(ctx: &Ctx<'_>, page: &Page, expand: &[String]) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(page.id.to_string()));
    m.insert("type".into(), json!("page"));
    m.insert("status".into(), json!("current"));
    m.insert("title".into(), json!(page.title));
    if let Some(s) = space_of(ctx.store, page).filter(|_| wants(expand, "space")) {
        m.insert("space".into(), v1_space(ctx, s));
    }
    if wants(expand, "version") {
        m.insert("version".into(), v1_version(ctx, page));
    }
    if wants(expand, "history") {
        m.insert(
            "history".into(),
            json!({"latest": true, "createdBy": v1_user(ctx, page.author()), "createdDate": conf_time(page.created())}),
        );
    }
    if wants(expand, "ancestors") {
        let list: Vec<Value> = ancestors(ctx.store, page)
            .iter()
            .filter_map(|id| ctx.store.pages.iter().find(|p| p.id == *id))
            .map(|p| content_json(ctx, p, &[]))
            .collect();
        m.insert("ancestors".into(), Value::Array(list));
    }
    if wants(expand, "body") {
        let mut body = Map::new();
        if expand.iter().any(|e| e == "body.storage") {
            body.insert(
                "storage".into(),
                json!({"value": site_storage(ctx, &page.storage), "representation": "storage", "embeddedContent": [], "_expandable": {"content": format!("/rest/api/content/{}", page.id)}}),
            );
        }
        if expand.iter().any(|e| e == "body.atlas_doc_format") {
            body.insert(
                "atlas_doc_format".into(),
                json!({"value": storage_to_adf(&page.storage).to_string(), "representation": "atlas_doc_format"}),
            );
        }
        m.insert("body".into(), Value::Object(body));
    }
    if wants(expand, "metadata") {
        let labels: Vec<Value> = page
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| json!({"prefix": "global", "name": l, "id": (page.id * 10 + i as u64).to_string(), "label": l}))
            .collect();
        m.insert(
            "metadata".into(),
            json!({"labels": {"results": labels, "start": 0, "limit": 200, "size": labels.len()}}),
        );
    }
    m.insert("extensions".into(), json!({"position": page.position}));
    m.insert(
        "_expandable".into(),
        json!({
            "childTypes": "", "container": "", "metadata": "", "operations": "",
            "children": format!("/rest/api/content/{}/child", page.id),
            "restrictions": format!("/rest/api/content/{}/restriction/byOperation", page.id),
            "history": format!("/rest/api/content/{}/history", page.id),
            "ancestors": "", "body": "", "descendants": format!("/rest/api/content/{}/descendant", page.id),
            "space": space_of(ctx.store, page).map(|s| format!("/rest/api/space/{}", s.key)).unwrap_or_default(),
            "version": "",
        }),
    );
    m.insert(
        "_links".into(),
        json!({
            "webui": page_webui(ctx, page),
            "edit": format!("/pages/resumedraft.action?draftId={}", page.id),
            "tinyui": tiny(page.id),
            "self": format!("{}/rest/api/content/{}", ctx.wiki_base, page.id),
        }),
    );
    Value::Object(m)
}

/// `GET /rest/api/content?type=page&spaceKey=&title=&start=&limit=&expand=`: pages by space and
/// exact title (how a client finds a page it may already have created), as a `ContentArray`.
fn list_content(ctx: &Ctx<'_>) -> Reply {
    let p = &ctx.params;
    let (start, limit) = match (p.int("start", 0), p.int("limit", 25)) {
        (Ok(s), Ok(l)) if s >= 0 && l >= 0 => (s, l.min(200)),
        (Err(m), _) | (_, Err(m)) => return v1_bad(&m),
        _ => return v1_bad("start and limit must not be negative"),
    };
    match p.get("type") {
        None | Some("") | Some("page") => {}
        Some("blogpost") => {
            return Reply::ok(
                json!({"results": [], "start": start, "limit": limit, "size": 0,
                "_links": {"base": ctx.wiki_base, "context": ctx.wiki_context, "self": format!("{}/rest/api/content", ctx.wiki_base)}}),
            );
        }
        Some(other) => return v1_bad(&format!("Invalid content type: {other}")),
    }
    let space_key = p.get("spaceKey").filter(|k| !k.is_empty());
    let title = p.get("title").filter(|t| !t.is_empty());
    let expand = p.list("expand");
    let store = ctx.store;
    let list: Vec<&Page> = store
        .pages
        .iter()
        .filter(|pg| {
            space_key
                .is_none_or(|k| space_of(store, pg).is_some_and(|s| s.key.eq_ignore_ascii_case(k)))
        })
        .filter(|pg| title.is_none_or(|t| pg.title == t))
        .collect();
    let s = usize::try_from(start).unwrap_or(usize::MAX);
    let l = usize::try_from(limit).unwrap_or(0);
    let results: Vec<Value> = list
        .iter()
        .skip(s)
        .take(l)
        .map(|pg| content_json(ctx, pg, &expand))
        .collect();
    let size = results.len();
    let mut links = Map::new();
    links.insert("base".into(), json!(ctx.wiki_base));
    links.insert("context".into(), json!(ctx.wiki_context));
    links.insert(
        "self".into(),
        json!(format!("{}/rest/api/content", ctx.wiki_base)),
    );
    if size > 0 && s + size < list.len() {
        let mut next = format!("/rest/api/content?limit={limit}&start={}", s + size);
        if let Some(k) = space_key {
            next.push_str(&format!("&spaceKey={}", enc(k)));
        }
        if let Some(t) = title {
            next.push_str(&format!("&title={}", enc(t)));
        }
        links.insert("next".into(), json!(next));
    }
    Reply::ok(
        json!({"results": results, "start": start, "limit": limit, "size": size, "_links": links}),
    )
}

fn get_content(ctx: &Ctx<'_>, id: &str) -> Reply {
    let Some(page) = ctx.store.page(id) else {
        return v1_not_found(&format!("No content found with id: ContentId{{id={id}}}"));
    };
    let expand = ctx.params.list("expand");
    let mut v = content_json(ctx, page, &expand);
    if let Some(links) = v.get_mut("_links").and_then(Value::as_object_mut) {
        links.insert("base".into(), json!(ctx.wiki_base));
        links.insert("context".into(), json!(ctx.wiki_context));
    }
    Reply::ok(v)
}

fn list_spaces_v1(ctx: &Ctx<'_>) -> Reply {
    let p = &ctx.params;
    let (start, limit) = match (p.int("start", 0), p.int("limit", 25)) {
        (Ok(s), Ok(l)) if s >= 0 && l >= 0 => (s, l.min(500)),
        (Err(m), _) | (_, Err(m)) => return v1_bad(&m),
        _ => return v1_bad("start and limit must not be negative"),
    };
    let keys = p.list("spaceKey");
    let list: Vec<&Space> = ctx
        .store
        .spaces
        .iter()
        .filter(|s| keys.is_empty() || keys.iter().any(|k| k.eq_ignore_ascii_case(s.key)))
        .collect();
    let s = usize::try_from(start).unwrap_or(usize::MAX);
    let l = usize::try_from(limit).unwrap_or(0);
    let results: Vec<Value> = list
        .iter()
        .skip(s)
        .take(l)
        .map(|sp| v1_space(ctx, sp))
        .collect();
    let size = results.len();
    let mut links = Map::new();
    links.insert("base".into(), json!(ctx.wiki_base));
    links.insert("context".into(), json!(ctx.wiki_context));
    links.insert(
        "self".into(),
        json!(format!("{}/rest/api/space", ctx.wiki_base)),
    );
    if size > 0 && s + size < list.len() {
        let mut next = format!("/rest/api/space?limit={limit}&start={}", s + size);
        for k in &keys {
            next.push_str(&format!("&spaceKey={}", enc(k)));
        }
        links.insert("next".into(), json!(next));
    }
    Reply::ok(
        json!({"results": results, "start": start, "limit": limit, "size": size, "_links": links}),
    )
}

// ---------------------------------------------------------------------------------------------
// CQL
// ---------------------------------------------------------------------------------------------

/// A search result candidate.
enum Entity<'a> {
    Page(&'a Page),
    Space(&'a Space),
}

struct CqlSchema<'a> {
    store: &'a Store,
    site: Site,
}

impl query::Schema for CqlSchema<'_> {
    fn kind(&self, field: &str) -> Option<Kind> {
        Some(match field {
            "type" | "space" | "space.key" | "space.type" | "label" | "labels" | "ancestor"
            | "parent" => Kind::Keyword,
            "title" => Kind::Title,
            "text" => Kind::Text,
            "creator" | "contributor" => Kind::User,
            "lastmodified" | "created" => Kind::Date,
            "id" | "content" => Kind::Number,
            _ => return None,
        })
    }

    fn check_value(&self, field: &str, value: &str) -> Result<(), QueryError> {
        if field == "type"
            && !["page", "blogpost", "space", "comment", "attachment", "user"]
                .iter()
                .any(|t| t.eq_ignore_ascii_case(value.trim()))
        {
            return Err(QueryError {
                message: format!("'{value}' is not a valid content type"),
                pos: None,
            });
        }
        Ok(())
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

struct EntitySubject<'a> {
    store: &'a Store,
    entity: Entity<'a>,
}

fn aliases(store: &Store, idx: usize) -> Vec<String> {
    store
        .users
        .get(idx)
        .map(|u| {
            vec![
                u.account_id.to_string(),
                u.name.to_string(),
                u.key.to_string(),
            ]
        })
        .unwrap_or_default()
}

impl query::Subject for EntitySubject<'_> {
    fn value(&self, field: &str) -> FieldVal {
        let s = self.store;
        match &self.entity {
            Entity::Page(p) => {
                let space = s.spaces.get(p.space);
                match field {
                    "type" => FieldVal::Many(vec!["page".into()]),
                    "space" | "space.key" => FieldVal::Many(
                        space
                            .map(|x| vec![x.key.to_string(), x.id.to_string()])
                            .unwrap_or_default(),
                    ),
                    "space.type" => {
                        FieldVal::Many(space.map(|x| vec![x.kind.to_string()]).unwrap_or_default())
                    }
                    "label" | "labels" => {
                        FieldVal::Many(p.labels.iter().map(|l| l.to_string()).collect())
                    }
                    "ancestor" => {
                        FieldVal::Many(ancestors(s, p).iter().map(u64::to_string).collect())
                    }
                    "parent" => {
                        FieldVal::Many(p.parent.map(|x| vec![x.to_string()]).unwrap_or_default())
                    }
                    "title" => FieldVal::Text(p.title.to_string()),
                    "text" => FieldVal::Text(format!("{} {}", p.title, p.text)),
                    "creator" => FieldVal::Many(aliases(s, p.author())),
                    "contributor" => {
                        let mut all = Vec::new();
                        for v in &p.versions {
                            for a in aliases(s, v.author) {
                                if !all.contains(&a) {
                                    all.push(a);
                                }
                            }
                        }
                        FieldVal::Many(all)
                    }
                    "lastmodified" => FieldVal::Date(Some(p.modified())),
                    "created" => FieldVal::Date(Some(p.created())),
                    "id" | "content" => FieldVal::Num(i64::try_from(p.id).ok()),
                    _ => FieldVal::Many(vec![]),
                }
            }
            Entity::Space(sp) => match field {
                "type" => FieldVal::Many(vec!["space".into()]),
                "space" | "space.key" => {
                    FieldVal::Many(vec![sp.key.to_string(), sp.id.to_string()])
                }
                "space.type" => FieldVal::Many(vec![sp.kind.to_string()]),
                "title" => FieldVal::Text(sp.name.to_string()),
                "text" => FieldVal::Text(format!("{} {}", sp.name, sp.description)),
                "creator" | "contributor" => FieldVal::Many(aliases(s, sp.author)),
                "lastmodified" | "created" => FieldVal::Date(Some(sp.created)),
                "id" => FieldVal::Num(i64::try_from(sp.id).ok()),
                _ => FieldVal::Many(vec![]),
            },
        }
    }

    fn sort_key(&self, field: &str) -> SortKey {
        match (&self.entity, field) {
            (Entity::Page(p), "title") => SortKey::Str(p.title.to_string()),
            (Entity::Space(s), "title") => SortKey::Str(s.name.to_string()),
            (Entity::Page(p), "created") => SortKey::Time(p.created()),
            (Entity::Page(p), "lastmodified") => SortKey::Time(p.modified()),
            (Entity::Space(s), "created" | "lastmodified") => SortKey::Time(s.created),
            (Entity::Page(p), "id" | "content") => SortKey::Num(i64::try_from(p.id).unwrap_or(0)),
            (Entity::Space(s), "id") => SortKey::Num(i64::try_from(s.id).unwrap_or(0)),
            (Entity::Page(p), "space" | "space.key") => SortKey::Str(
                self.store
                    .spaces
                    .get(p.space)
                    .map_or("", |s| s.key)
                    .to_string(),
            ),
            (Entity::Space(s), "space" | "space.key") => SortKey::Str(s.key.to_string()),
            (Entity::Page(_), "type") => SortKey::Str("page".into()),
            (Entity::Space(_), "type") => SortKey::Str("space".into()),
            _ => SortKey::None,
        }
    }
}

impl EntitySubject<'_> {
    fn modified(&self) -> time::OffsetDateTime {
        match &self.entity {
            Entity::Page(p) => p.modified(),
            Entity::Space(s) => s.created,
        }
    }

    fn haystack(&self) -> String {
        match &self.entity {
            Entity::Page(p) => p.text.clone(),
            Entity::Space(s) => s.description.to_string(),
        }
    }

    fn title(&self) -> &str {
        match &self.entity {
            Entity::Page(p) => &p.title,
            Entity::Space(s) => s.name,
        }
    }
}

/// Finds term occurrences (case-insensitive, by characters).
fn hits(chars: &[char], terms: &[String]) -> Vec<(usize, usize)> {
    let lower: Vec<char> = chars
        .iter()
        .map(|c| c.to_lowercase().next().unwrap_or(*c))
        .collect();
    let mut out: Vec<(usize, usize)> = Vec::new();
    for term in terms {
        let t: Vec<char> = term.chars().collect();
        if t.is_empty() || t.len() > lower.len() {
            continue;
        }
        for i in 0..=lower.len() - t.len() {
            if lower[i..i + t.len()] == t[..] {
                out.push((i, i + t.len()));
            }
        }
    }
    out.sort_unstable();
    // Drop overlaps.
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for h in out {
        if merged.last().is_some_and(|l| h.0 < l.1) {
            continue;
        }
        merged.push(h);
    }
    merged
}

/// Renders text with highlight markers (escaped or not) around the hits inside `[from, to)`.
fn mark(
    chars: &[char],
    from: usize,
    to: usize,
    hs: &[(usize, usize)],
    markers: bool,
    escape: bool,
) -> String {
    let mut out = String::new();
    let mut i = from;
    let push = |out: &mut String, s: &[char]| {
        let s: String = s.iter().collect();
        out.push_str(&if escape { escape_html(&s) } else { s });
    };
    for &(a, b) in hs.iter().filter(|(a, b)| *a >= from && *b <= to) {
        if !markers {
            break;
        }
        push(&mut out, &chars[i..a]);
        out.push_str("@@@hl@@@");
        push(&mut out, &chars[a..b]);
        out.push_str("@@@endhl@@@");
        i = b;
    }
    push(&mut out, &chars[i..to]);
    out
}

const EXCERPT_CHARS: usize = 220;

fn excerpt(text: &str, terms: &[String], mode: &str) -> String {
    if mode == "none" {
        return String::new();
    }
    let markers = mode.starts_with("highlight");
    let escape = !mode.ends_with("_unescaped");
    let chars: Vec<char> = text.chars().collect();
    let hs = hits(&chars, terms);
    let mut start = hs.first().map_or(0, |h| h.0.saturating_sub(60));
    while start > 0 && !chars[start - 1].is_whitespace() {
        start -= 1;
    }
    let end = (start + EXCERPT_CHARS).min(chars.len());
    let mut s = mark(&chars, start, end, &hs, markers, escape);
    if start > 0 {
        s.insert_str(0, "...");
    }
    if end < chars.len() {
        s.push_str("...");
    }
    s
}

fn result_json(
    ctx: &Ctx<'_>,
    subj: &EntitySubject<'_>,
    terms: &[String],
    mode: &str,
    expand: &[String],
) -> Value {
    let title_chars: Vec<char> = subj.title().chars().collect();
    let title_hits = hits(&title_chars, terms);
    let markers = mode.starts_with("highlight");
    let title = mark(
        &title_chars,
        0,
        title_chars.len(),
        &title_hits,
        markers,
        false,
    );
    let body_hits = hits(&subj.haystack().chars().collect::<Vec<_>>(), terms).len();
    let score = (title_hits.len() * 3 + body_hits) as f64 + 0.5;
    let modified = subj.modified();
    let content_expand: Vec<String> = expand
        .iter()
        .filter_map(|e| e.strip_prefix("content."))
        .map(str::to_string)
        .collect();
    match &subj.entity {
        Entity::Page(p) => {
            let space = space_of(ctx.store, p);
            let mut v = json!({
                "content": content_json(ctx, p, &content_expand),
                "title": title,
                "excerpt": excerpt(&p.text, terms, mode),
                "url": page_webui(ctx, p),
                "breadcrumbs": [],
                "entityType": "content",
                "iconCssClass": "aui-icon content-type-page",
                "lastModified": conf_time(modified),
                "friendlyLastModified": friendly(modified),
                "score": score,
            });
            if let (Some(s), Some(m)) = (space, v.as_object_mut()) {
                m.insert(
                    "resultGlobalContainer".into(),
                    json!({"title": s.name, "displayUrl": space_webui(ctx, s)}),
                );
            }
            v
        }
        Entity::Space(s) => json!({
            "space": v1_space(ctx, s),
            "title": title,
            "excerpt": excerpt(s.description, terms, mode),
            "url": space_webui(ctx, s),
            "breadcrumbs": [],
            "entityType": "space",
            "iconCssClass": "aui-icon content-type-space",
            "lastModified": conf_time(modified),
            "friendlyLastModified": friendly(modified),
            "score": score,
        }),
    }
}

fn search(ctx: &Ctx<'_>, content_only: bool) -> Reply {
    let p = &ctx.params;
    let Some(cql) = p.get("cql").filter(|c| !c.trim().is_empty()) else {
        return v1_bad("The CQL query parameter 'cql' is required.");
    };
    let parsed = match query::parse(cql, Dialect::Cql) {
        Ok(q) => q,
        Err(e) => {
            let at = e
                .pos
                .map(|p| format!(" (character {p}: {})", e.message))
                .unwrap_or_default();
            return v1_bad(&format!(
                "com.atlassian.confluence.api.service.exceptions.BadRequestException: Could not parse cql : {cql}{at}"
            ));
        }
    };
    let schema = CqlSchema {
        store: ctx.store,
        site: ctx.site,
    };
    let compiled = match query::compile(&parsed, &schema, Dialect::Cql) {
        Ok(c) => c,
        Err(e) => return v1_bad(&e.message),
    };
    let limit = match p.int("limit", 25) {
        Ok(l) if l >= 0 => l.min(100),
        Ok(_) => return v1_bad("The 'limit' parameter must not be negative."),
        Err(m) => return v1_bad(&m),
    };
    let start = match p.int("start", 0) {
        Ok(s) if s >= 0 => usize::try_from(s).unwrap_or(usize::MAX),
        Ok(_) => return v1_bad("The 'start' parameter must not be negative."),
        Err(m) => return v1_bad(&m),
    };
    let cloud_cursor = ctx.site == Site::Cloud && !content_only;
    // A `next` cursor resumes after a position; a `prev` cursor holds an offset.
    let mut after: Option<Vec<SortKey>> = None;
    let mut offset = start;
    if let Some(cur) = p.get("cursor").filter(|c| cloud_cursor && !c.is_empty()) {
        if let Some(a) = paging::read_after("cql", cur, cql) {
            after = Some(a);
        } else if let Some(o) = read_token("cql", cur, cql) {
            offset = o;
        } else {
            return v1_bad("The cursor is invalid or belongs to a different query.");
        }
    }
    let mode = p.get("excerpt").unwrap_or("highlight");
    if ![
        "highlight",
        "indexed",
        "none",
        "highlight_unescaped",
        "indexed_unescaped",
    ]
    .contains(&mode)
    {
        return v1_bad(&format!("'{mode}' is not a valid excerpt strategy"));
    }

    let store: &Store = ctx.store;
    let terms = compiled.terms().to_vec();
    let order = compiled.order();
    // ORDER BY, then relevance (term hits), the most recently modified, pages before spaces
    // and the id (unique, so a cursor resumes exactly).
    let mut desc: Vec<bool> = order.iter().map(|(_, d)| *d).collect();
    desc.extend([true, true, false, false]);
    let candidates = store
        .pages
        .iter()
        .map(|pg| EntitySubject {
            store,
            entity: Entity::Page(pg),
        })
        .chain(store.spaces.iter().map(|s| EntitySubject {
            store,
            entity: Entity::Space(s),
        }))
        .filter(|s| !(content_only && matches!(s.entity, Entity::Space(_))))
        .filter(|s| compiled.matches(s));
    let found = Ranked::new(candidates, desc, |s| {
        let mut keys: Vec<SortKey> = order.iter().map(|(f, _)| s.sort_key(f)).collect();
        let score = if terms.is_empty() {
            0
        } else {
            let t = format!("{} {}", s.title(), s.haystack());
            hits(&t.chars().collect::<Vec<_>>(), &terms).len()
        };
        keys.push(SortKey::Num(i64::try_from(score).unwrap_or(i64::MAX)));
        keys.push(SortKey::Time(s.modified()));
        let (kind, id) = match &s.entity {
            Entity::Page(pg) => (0, pg.id),
            Entity::Space(sp) => (1, sp.id),
        };
        keys.push(SortKey::Num(kind));
        keys.push(SortKey::Num(i64::try_from(id).unwrap_or(i64::MAX)));
        keys
    });
    let expand = p.list("expand");
    let s = match &after {
        Some(a) => found.resume(a),
        None => offset,
    };
    let l = usize::try_from(limit).unwrap_or(0);
    let total = found.len();
    let page = found.items.get(s..).unwrap_or_default();
    let page = page.get(..l).unwrap_or(page);
    if content_only {
        let results: Vec<Value> = page
            .iter()
            .filter_map(|(_, e)| match &e.entity {
                Entity::Page(pg) => Some(content_json(ctx, pg, &expand)),
                Entity::Space(_) => None,
            })
            .collect();
        let size = results.len();
        let mut links = Map::new();
        links.insert("base".into(), json!(ctx.wiki_base));
        links.insert("context".into(), json!(ctx.wiki_context));
        links.insert(
            "self".into(),
            json!(format!(
                "{}/rest/api/content/search?cql={}",
                ctx.wiki_base,
                enc(cql)
            )),
        );
        if size > 0 && s + size < total {
            links.insert(
                "next".into(),
                json!(format!(
                    "/rest/api/content/search?cql={}&limit={limit}&start={}",
                    enc(cql),
                    s + size
                )),
            );
        }
        return Reply::ok(
            json!({"results": results, "start": s, "limit": limit, "size": size, "totalSize": total, "_links": links}),
        );
    }
    let results: Vec<Value> = page
        .iter()
        .map(|(_, e)| result_json(ctx, e, &terms, mode, &expand))
        .collect();
    let size = results.len();
    let mut extra = String::new();
    if let Some(x) = p.get("excerpt") {
        extra.push_str(&format!("&excerpt={}", enc(x)));
    }
    if !expand.is_empty() {
        extra.push_str(&format!("&expand={}", enc(&expand.join(","))));
    }
    let mut links = Map::new();
    links.insert("base".into(), json!(ctx.wiki_base));
    links.insert("context".into(), json!(ctx.wiki_context));
    links.insert(
        "self".into(),
        json!(format!(
            "{}/rest/api/search?cql={}",
            ctx.wiki_base,
            enc(cql)
        )),
    );
    if size > 0 && s + size < total {
        let next = match page.last() {
            Some((last, _)) if cloud_cursor => format!(
                "/rest/api/search?cql={}&limit={limit}&cursor={}{extra}",
                enc(cql),
                paging::after_token("cql", cql, last)
            ),
            _ => format!(
                "/rest/api/search?cql={}&limit={limit}&start={}{extra}",
                enc(cql),
                s + size
            ),
        };
        links.insert("next".into(), json!(next));
    }
    if s > 0 && cloud_cursor {
        let prev = s.saturating_sub(l.max(1));
        links.insert(
            "prev".into(),
            json!(format!(
                "/rest/api/search?cql={}&limit={limit}&cursor={}{extra}",
                enc(cql),
                make_token("cql", prev, cql)
            )),
        );
    }
    Reply::ok(json!({
        "results": results,
        "start": s,
        "limit": limit,
        "size": size,
        "totalSize": total,
        "cqlQuery": cql,
        "searchDuration": 7,
        "_links": links,
    }))
}

// ---------------------------------------------------------------------------------------------
// v2 pages and spaces
// ---------------------------------------------------------------------------------------------

fn account(store: &Store, idx: usize) -> String {
    store
        .users
        .get(idx)
        .map(|u| u.account_id.to_string())
        .unwrap_or_default()
}

/// `POST /wiki/api/v2/users-bulk` (`createBulkUserLookup`): `{"accountIds": [...]}` (1–250)
/// → `{"results": [User], "_links": {"base"}}`; unknown ids are simply absent.
fn users_bulk(ctx: &Ctx<'_>) -> Reply {
    let body: Value = match serde_json::from_slice(ctx.body) {
        Ok(v) => v,
        Err(_) => return v2_bad("The request body is not valid JSON."),
    };
    let Some(ids) = body.get("accountIds").and_then(Value::as_array) else {
        return v2_bad("accountIds is required");
    };
    if ids.is_empty() || ids.len() > 250 {
        return v2_bad("accountIds must hold between 1 and 250 account ids");
    }
    let results: Vec<Value> = ids
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|id| ctx.store.users.iter().find(|u| u.account_id == id))
        .map(|u| {
            json!({
                "accountId": u.account_id,
                "accountType": "atlassian",
                "accountStatus": "active",
                "displayName": u.display,
                "publicName": u.display,
                "email": u.email,
                "timeZone": u.tz,
                "isExternalCollaborator": false,
                "personalSpaceId": null,
                "profilePicture": {"path": format!("/wiki/aa-avatar/{}", u.account_id), "width": 48, "height": 48, "isDefault": false},
            })
        })
        .collect();
    Reply::ok(json!({"results": results, "_links": {"base": ctx.wiki_base}}))
}

pub(super) fn v2_page(ctx: &Ctx<'_>, page: &Page, body_format: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(page.id.to_string()));
    m.insert("status".into(), json!("current"));
    m.insert("title".into(), json!(page.title));
    m.insert(
        "spaceId".into(),
        json!(
            space_of(ctx.store, page)
                .map(|s| s.id.to_string())
                .unwrap_or_default()
        ),
    );
    if let Some(parent) = page.parent {
        m.insert("parentId".into(), json!(parent.to_string()));
        m.insert("parentType".into(), json!("page"));
    }
    m.insert("position".into(), json!(page.position));
    m.insert("authorId".into(), json!(account(ctx.store, page.author())));
    m.insert("ownerId".into(), json!(account(ctx.store, page.author())));
    m.insert("lastOwnerId".into(), Value::Null);
    m.insert("createdAt".into(), json!(conf_time(page.created())));
    if let Some(v) = page.latest() {
        m.insert(
            "version".into(),
            json!({
                "createdAt": conf_time(v.when),
                "message": v.message,
                "number": v.number,
                "minorEdit": v.minor,
                "authorId": account(ctx.store, v.author),
            }),
        );
    }
    let body = match body_format {
        Some("storage") => json!({"storage": {"representation": "storage", "value": page.storage}}),
        Some("atlas_doc_format") => {
            json!({"atlas_doc_format": {"representation": "atlas_doc_format", "value": storage_to_adf(&page.storage).to_string()}})
        }
        _ => json!({}),
    };
    m.insert("body".into(), body);
    m.insert(
        "_links".into(),
        json!({
            "webui": page_webui(ctx, page),
            "editui": format!("/pages/resumedraft.action?draftId={}", page.id),
            "tinyui": tiny(page.id),
        }),
    );
    Value::Object(m)
}

fn body_format(ctx: &Ctx<'_>) -> Result<Option<String>, Reply> {
    match ctx.params.get("body-format") {
        None | Some("") => Ok(None),
        Some(f @ ("storage" | "atlas_doc_format")) => Ok(Some(f.to_string())),
        Some(f @ ("view" | "export_view" | "styled_view" | "editor" | "anonymous_export_view")) => {
            Err(v2_bad(&format!(
                "body-format '{f}' is not supported by the sandbox; use 'storage' or 'atlas_doc_format'"
            )))
        }
        Some(f) => Err(v2_bad(&format!(
            "Invalid value '{f}' for parameter 'body-format'"
        ))),
    }
}

fn get_page(ctx: &Ctx<'_>, id: &str) -> Reply {
    if id.parse::<u64>().is_err() {
        return v2_bad(&format!(
            "Invalid value '{id}' for path parameter 'id': must be a number"
        ));
    }
    let fmt = match body_format(ctx) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(page) = ctx.store.page(id) else {
        return Reply::error(Family::ConfluenceV2, 404, "");
    };
    let mut v = v2_page(ctx, page, fmt.as_deref());
    if let Some(links) = v.get_mut("_links").and_then(Value::as_object_mut) {
        links.insert("base".into(), json!(ctx.wiki_base));
    }
    if ctx.params.get("include-labels") == Some("true")
        && let Some(map) = v.as_object_mut()
    {
        let results: Vec<Value> = page
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| json!({"id": (page.id * 10 + i as u64).to_string(), "name": l, "prefix": "global"}))
            .collect();
        map.insert(
            "labels".into(),
            json!({"results": results, "meta": {"hasMore": false, "cursor": ""}, "_links": {}}),
        );
    }
    Reply::ok(v)
}

/// `GET /wiki/api/v2/pages/{id}/labels` → `MultiEntityResult<Label>` (one page: the sandbox's
/// pages carry a handful of labels), optionally filtered by `prefix`.
fn page_labels(ctx: &Ctx<'_>, id: &str) -> Reply {
    if id.parse::<u64>().is_err() {
        return v2_bad(&format!(
            "Invalid value '{id}' for path parameter 'id': must be a number"
        ));
    }
    if let Err(r) = v2_limit(ctx) {
        return r;
    }
    let Some(page) = ctx.store.page(id) else {
        return Reply::error(Family::ConfluenceV2, 404, "");
    };
    let prefix = ctx.params.get("prefix");
    let results: Vec<Value> = page
        .labels
        .iter()
        .enumerate()
        .filter(|_| prefix.is_none_or(|p| p == "global"))
        .map(|(i, l)| json!({"id": (page.id * 10 + i as u64).to_string(), "name": l, "prefix": "global"}))
        .collect();
    Reply::ok(json!({"results": results, "_links": {"base": ctx.wiki_base}}))
}

fn v2_limit(ctx: &Ctx<'_>) -> Result<usize, Reply> {
    match ctx.params.int("limit", 25) {
        Ok(l) if l >= 1 => Ok(usize::try_from(l.min(250)).unwrap_or(250)),
        Ok(_) => Err(v2_bad(
            "Invalid value for parameter 'limit': must be between 1 and 250",
        )),
        Err(m) => Err(v2_bad(&m)),
    }
}

/// Builds `_links` and the `Link` header for a v2 list.
fn v2_list(ctx: &Ctx<'_>, path: &str, results: Vec<Value>, next_query: Option<String>) -> Reply {
    let mut links = Map::new();
    let mut header = None;
    if let Some(q) = next_query {
        let next = format!("/wiki/api/v2/{path}?{q}");
        header = Some(format!(
            "<{next}>; rel=\"next\", <{}>; rel=\"base\"",
            ctx.wiki_base
        ));
        links.insert("next".into(), json!(next));
    }
    links.insert("base".into(), json!(ctx.wiki_base));
    let reply = Reply::ok(json!({"results": results, "_links": links}));
    match header {
        Some(h) => reply.header("Link", &h),
        None => reply,
    }
}

fn list_pages(ctx: &Ctx<'_>, space_path: Option<&str>) -> Reply {
    let p = &ctx.params;
    let limit = match v2_limit(ctx) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let fmt = match body_format(ctx) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut space_ids = p.list("space-id");
    if let Some(s) = space_path {
        if s.parse::<u64>().is_err() {
            return v2_bad(&format!(
                "Invalid value '{s}' for path parameter 'id': must be a number"
            ));
        }
        space_ids = vec![s.to_string()];
    }
    let ids = p.list("id");
    if ids.len() > 250 || space_ids.len() > 100 {
        return v2_bad("Too many values: at most 250 for 'id' and 100 for 'space-id'");
    }
    let mut wanted_ids = std::collections::HashSet::new();
    for id in &ids {
        match id.parse::<u64>() {
            Ok(n) => {
                wanted_ids.insert(n);
            }
            Err(_) => {
                return v2_bad(&format!(
                    "Invalid value '{id}' for parameter 'id': must be a number"
                ));
            }
        }
    }
    let title = p.get("title").map(str::to_string);
    let statuses = p.list("status");
    let sort = p.get("sort").unwrap_or("id").to_string();
    if ![
        "id",
        "-id",
        "title",
        "-title",
        "created-date",
        "-created-date",
        "modified-date",
        "-modified-date",
    ]
    .contains(&sort.as_str())
    {
        return v2_bad(&format!("Invalid value '{sort}' for parameter 'sort'"));
    }
    let store = ctx.store;
    let matching = store
        .pages
        .iter()
        .filter(|pg| {
            space_ids.is_empty()
                || space_of(store, pg)
                    .is_some_and(|s| space_ids.iter().any(|x| *x == s.id.to_string()))
        })
        .filter(|pg| wanted_ids.is_empty() || wanted_ids.contains(&pg.id))
        .filter(|pg| title.as_deref().is_none_or(|t| pg.title == t))
        .filter(|_| statuses.is_empty() || statuses.iter().any(|s| s == "current"));
    // The sort field, then the id (unique, so a cursor resumes exactly where it left off).
    let descending = sort.starts_with('-');
    let list = Ranked::new(matching, vec![descending, descending], |pg| {
        let id = SortKey::Num(i64::try_from(pg.id).unwrap_or(i64::MAX));
        let first = match sort.trim_start_matches('-') {
            "title" => SortKey::Str(pg.title.clone()),
            "created-date" => SortKey::Time(pg.created()),
            "modified-date" => SortKey::Time(pg.modified()),
            _ => id.clone(),
        };
        vec![first, id]
    });
    let bind = format!(
        "pages|{}|{}|{}|{}|{}|{}",
        space_ids.join(","),
        ids.join(","),
        title.clone().unwrap_or_default(),
        statuses.join(","),
        sort,
        space_path.unwrap_or("")
    );
    let offset = match p.get("cursor").filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => match paging::read_after("v2", c, &bind) {
            Some(after) => list.resume(&after),
            None => return v2_bad("Invalid cursor"),
        },
    };
    let page = list.items.get(offset..).unwrap_or_default();
    let page = page.get(..limit).unwrap_or(page);
    let results: Vec<Value> = page
        .iter()
        .map(|(_, pg)| v2_page(ctx, pg, fmt.as_deref()))
        .collect();
    let end = offset + results.len();
    let next = page.last().filter(|_| end < list.len()).map(|(last, _)| {
        let mut q = Vec::new();
        for (k, v) in [
            ("space-id", space_ids.join(",")),
            ("id", ids.join(",")),
            ("status", statuses.join(",")),
        ] {
            if !(v.is_empty() || (k == "space-id" && space_path.is_some())) {
                q.push(format!("{k}={}", enc(&v)));
            }
        }
        if let Some(t) = &title {
            q.push(format!("title={}", enc(t)));
        }
        if sort != "id" {
            q.push(format!("sort={}", enc(&sort)));
        }
        if let Some(f) = &fmt {
            q.push(format!("body-format={f}"));
        }
        q.push(format!("limit={limit}"));
        q.push(format!("cursor={}", paging::after_token("v2", &bind, last)));
        q.join("&")
    });
    let path = match space_path {
        Some(s) => format!("spaces/{s}/pages"),
        None => "pages".to_string(),
    };
    v2_list(ctx, &path, results, next)
}

fn v2_space(ctx: &Ctx<'_>, s: &Space) -> Value {
    let mut v = json!({
        "id": s.id.to_string(),
        "key": s.key,
        "name": s.name,
        "type": s.kind,
        "status": "current",
        "authorId": account(ctx.store, s.author),
        "createdAt": conf_time(s.created),
        "homepageId": s.homepage.to_string(),
        "_links": {"webui": space_webui(ctx, s)},
    });
    if let (Some(fmt), Some(m)) = (ctx.params.get("description-format"), v.as_object_mut()) {
        let value = if fmt == "view" {
            format!("<p>{}</p>", escape_html(s.description))
        } else {
            s.description.to_string()
        };
        let key = if fmt == "view" { "view" } else { "plain" };
        m.insert(
            "description".into(),
            json!({key: {"representation": key, "value": value}}),
        );
    }
    v
}

fn list_spaces(ctx: &Ctx<'_>) -> Reply {
    let p = &ctx.params;
    let limit = match v2_limit(ctx) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let keys = p.list("keys");
    let ids = p.list("ids");
    let types = p.list("type");
    let statuses = p.list("status");
    let mut list: Vec<&Space> = ctx
        .store
        .spaces
        .iter()
        .filter(|s| keys.is_empty() || keys.iter().any(|k| k == s.key))
        .filter(|s| ids.is_empty() || ids.iter().any(|i| *i == s.id.to_string()))
        .filter(|s| types.is_empty() || types.iter().any(|t| t == s.kind))
        .filter(|_| statuses.is_empty() || statuses.iter().any(|s| s == "current"))
        .collect();
    list.sort_by_key(|s| s.id);
    let bind = format!(
        "spaces|{}|{}|{}|{}",
        keys.join(","),
        ids.join(","),
        types.join(","),
        statuses.join(",")
    );
    let offset = match p.get("cursor").filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => match read_token("v2", c, &bind) {
            Some(o) => o,
            None => return v2_bad("Invalid cursor"),
        },
    };
    let results: Vec<Value> = list
        .iter()
        .skip(offset)
        .take(limit)
        .map(|s| v2_space(ctx, s))
        .collect();
    let end = offset + results.len();
    let next = (end < list.len()).then(|| {
        let mut q = Vec::new();
        for (k, v) in [
            ("keys", keys.join(",")),
            ("ids", ids.join(",")),
            ("type", types.join(",")),
            ("status", statuses.join(",")),
        ] {
            if !v.is_empty() {
                q.push(format!("{k}={}", enc(&v)));
            }
        }
        q.push(format!("limit={limit}"));
        q.push(format!("cursor={}", make_token("v2", end, &bind)));
        q.join("&")
    });
    v2_list(ctx, "spaces", results, next)
}

fn get_space(ctx: &Ctx<'_>, id: &str) -> Reply {
    if id.parse::<u64>().is_err() {
        return v2_bad(&format!(
            "Invalid value '{id}' for path parameter 'id': must be a number"
        ));
    }
    let Some(space) = ctx.store.spaces.iter().find(|s| s.id.to_string() == id) else {
        return Reply::error(Family::ConfluenceV2, 404, "");
    };
    let mut v = v2_space(ctx, space);
    if let Some(links) = v.get_mut("_links").and_then(Value::as_object_mut) {
        links.insert("base".into(), json!(ctx.wiki_base));
    }
    Reply::ok(v)
}

/// Storage XHTML as the site holds it: Data Center has no account ids, so its mentions name
/// users by key (`ri:userkey`), as real Data Center pages do.
fn site_storage(ctx: &Ctx<'_>, storage: &str) -> String {
    if ctx.site != Site::Dc {
        return storage.to_string();
    }
    let mut out = storage.to_string();
    for u in &ctx.store.users {
        out = out.replace(
            &format!("ri:account-id=\"{}\"", u.account_id),
            &format!("ri:userkey=\"{}\"", u.key),
        );
    }
    out
}
