//! Records ↔ rows: the upserts (keeping what a partial read lacks, with their full-text rows),
//! the column lists and row readers that rebuild records, deletions, and confinement as SQL.

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::cache::parse_site_time;
use crate::cache::{Ancestor, CommentRecord, Confine, IssueRecord, LinkRecord, PageRecord, Person};

/// Records to store, borrowed.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rows<'a> {
    /// Issues.
    Issues(&'a [IssueRecord]),
    /// Pages.
    Pages(&'a [PageRecord]),
}

/// The columns [`issue_from_row`] reads, in order.
pub(super) const ISSUE_COLS: &str = "rowid, key, project, summary, status, status_category, \
    issue_type, priority, assignee_id, assignee, reporter_id, reporter, labels, created, updated, \
    due, resolution, parent, description, comments, comment_total, extra, fetched_at";

/// The columns [`page_from_row`] reads, in order.
pub(super) const PAGE_COLS: &str = "rowid, id, space, space_id, title, type, labels, ancestors, \
    parent_id, version, author, last_editor, last_modified, url, storage, body, fetched_at";

/// The parts of `issues.extra`.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct Extra {
    components: Vec<String>,
    subtasks: Vec<String>,
    links: Vec<LinkRecord>,
    url: Option<String>,
}

fn json<T: serde::Serialize>(value: &T, empty: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| empty.to_string())
}

fn from_json<T: serde::de::DeserializeOwned + Default>(text: Option<String>) -> T {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Approximate size of a row: the bytes of its text (all of which the file holds).
fn size<'a>(texts: impl IntoIterator<Item = Option<&'a str>>) -> i64 {
    texts.into_iter().flatten().map(|t| t.len() as i64).sum()
}

fn ms(text: Option<&str>) -> Option<i64> {
    text.and_then(parse_site_time)
}

fn int(n: Option<u64>) -> Option<i64> {
    n.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// What an upsert needs of the row it replaces: summary, description, comments, bytes.
type OldIssue = (String, Option<String>, Option<String>, i64);

/// Stores one issue; returns the change in stored bytes.
pub(super) fn put_issue(tx: &Transaction<'_>, r: &IssueRecord, now: i64) -> rusqlite::Result<i64> {
    let key = r.key.trim().to_ascii_uppercase();
    let (prefix, number) = key.rsplit_once('-').unwrap_or((key.as_str(), ""));
    if key.is_empty() {
        tracing::warn!("the local cache skipped an issue without a key");
        return Ok(0);
    }
    let project = match r.project.trim() {
        "" => prefix.to_string(),
        p => p.to_ascii_uppercase(),
    };
    let num = number.parse::<i64>().unwrap_or(0);
    let old: Option<OldIssue> = tx
        .prepare_cached("SELECT summary, description, comments, bytes FROM issues WHERE key = ?1")?
        .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let (old_summary, old_desc, old_comments, old_bytes) = match old {
        Some((s, d, c, b)) => (Some(s), d, c, b),
        None => (None, None, None, 0),
    };
    let description = r.description.clone().or_else(|| old_desc.clone());
    let cached: Vec<CommentRecord> = from_json(old_comments.clone());
    let (comments, bodies): (Option<String>, Vec<String>) = match &r.comments {
        // A read that asked for fewer of the latest comments than are cached (5 against
        // sync's 20) keeps the longer list when it ends with the same ones.
        Some(list) if cached.len() > list.len() && cached.ends_with(list) => (
            old_comments.clone(),
            cached.iter().map(|c| c.body.clone()).collect(),
        ),
        Some(list) => (
            Some(json(list, "[]")),
            list.iter().map(|c| c.body.clone()).collect(),
        ),
        None => {
            let list: Vec<CommentRecord> = from_json(old_comments.clone());
            (
                old_comments.clone(),
                list.into_iter().map(|c| c.body).collect(),
            )
        }
    };
    // The indexed text is summary + description + comment bodies: rewrite its FTS row only
    // when one of them changed (re-storing an unchanged issue is what a full sync does most).
    let indexed_same = old_summary.as_deref() == Some(r.summary.as_str())
        && old_desc == description
        && old_comments == comments;
    let labels = json(&r.labels, "[]");
    let extra = json(
        &serde_json::json!({
            "components": r.components, "subtasks": r.subtasks, "links": r.links, "url": r.url,
        }),
        "{}",
    );
    let person = |p: &Option<Person>| {
        p.as_ref()
            .map_or((None, None), |p| (p.id.clone(), p.name.clone()))
    };
    let (assignee_id, assignee) = person(&r.assignee);
    let (reporter_id, reporter) = person(&r.reporter);
    let bytes = size([
        Some(key.as_str()),
        Some(&project),
        Some(&r.summary),
        r.status.as_deref(),
        r.status_category.as_deref(),
        r.issue_type.as_deref(),
        r.priority.as_deref(),
        assignee_id.as_deref(),
        assignee.as_deref(),
        reporter_id.as_deref(),
        reporter.as_deref(),
        Some(&labels),
        r.created.as_deref(),
        r.updated.as_deref(),
        r.due.as_deref(),
        r.resolution.as_deref(),
        r.parent.as_deref(),
        description.as_deref(),
        comments.as_deref(),
        Some(&extra),
    ]);
    let fetched_at = if r.fetched_at == 0 { now } else { r.fetched_at };
    let rowid: i64 = tx
        .prepare_cached(
            "INSERT INTO issues (key, project, num, summary, status, status_category, issue_type,
                priority, assignee_id, assignee, reporter_id, reporter, labels, created, created_ms,
                updated, updated_ms, due, resolution, parent, description, comments, comment_total,
                extra, fetched_at, read_at, bytes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)
             ON CONFLICT (key) DO UPDATE SET project = excluded.project, num = excluded.num,
                summary = excluded.summary, status = excluded.status,
                status_category = excluded.status_category, issue_type = excluded.issue_type,
                priority = excluded.priority, assignee_id = excluded.assignee_id,
                assignee = excluded.assignee, reporter_id = excluded.reporter_id,
                reporter = excluded.reporter, labels = excluded.labels,
                created = excluded.created, created_ms = excluded.created_ms,
                updated = excluded.updated, updated_ms = excluded.updated_ms, due = excluded.due,
                resolution = CASE WHEN ?28 THEN issues.resolution ELSE excluded.resolution END,
                parent = excluded.parent,
                description = coalesce(excluded.description, issues.description),
                comments = coalesce(excluded.comments, issues.comments),
                comment_total = CASE WHEN ?28 THEN issues.comment_total
                    ELSE excluded.comment_total END,
                extra = CASE WHEN ?28 THEN issues.extra ELSE excluded.extra END,
                fetched_at = CASE WHEN ?28 THEN issues.fetched_at ELSE excluded.fetched_at END,
                read_at = excluded.read_at,
                bytes = excluded.bytes
             RETURNING rowid",
        )?
        .query_row(
            params![
                key,
                project,
                num,
                r.summary,
                r.status,
                r.status_category,
                r.issue_type,
                r.priority,
                assignee_id,
                assignee,
                reporter_id,
                reporter,
                labels,
                r.created,
                ms(r.created.as_deref()),
                r.updated,
                ms(r.updated.as_deref()),
                r.due,
                r.resolution,
                r.parent,
                description,
                comments,
                int(r.comment_total),
                extra,
                fetched_at,
                now,
                bytes,
                r.partial,
            ],
            |row| row.get(0),
        )?;
    if indexed_same {
        return Ok(bytes - old_bytes);
    }
    let mut body = description.unwrap_or_default();
    for b in bodies {
        body.push('\n');
        body.push_str(&b);
    }
    tx.prepare_cached("DELETE FROM issues_fts WHERE rowid = ?1")?
        .execute([rowid])?;
    tx.prepare_cached("INSERT INTO issues_fts (rowid, summary, body) VALUES (?1, ?2, ?3)")?
        .execute(params![rowid, r.summary, body])?;
    Ok(bytes - old_bytes)
}

/// Stores one page; returns the change in stored bytes.
pub(super) fn put_page(tx: &Transaction<'_>, r: &PageRecord, now: i64) -> rusqlite::Result<i64> {
    let id = r.id.trim();
    if id.is_empty() {
        tracing::warn!("the local cache skipped a page without an id");
        return Ok(0);
    }
    let old: Option<(String, Option<String>, Option<String>, i64)> = tx
        .prepare_cached("SELECT title, storage, body, bytes FROM pages WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let (old_title, old_storage, old_body, old_bytes) = match old {
        Some((t, s, b, n)) => (Some(t), s, b, n),
        None => (None, None, None, 0),
    };
    let storage = r.storage.clone().or(old_storage);
    let body = r.body.clone().or_else(|| old_body.clone());
    // The indexed text is title + body: rewrite the FTS row only when one of them changed.
    let indexed_same = old_title.as_deref() == Some(r.title.as_str()) && old_body == body;
    let labels = json(&r.labels, "[]");
    let ancestors = json(&r.ancestors, "[]");
    let bytes = size([
        Some(id),
        Some(&r.space),
        r.space_id.as_deref(),
        Some(&r.title),
        Some(&r.kind),
        Some(&labels),
        Some(&ancestors),
        r.parent_id.as_deref(),
        r.author.as_deref(),
        r.last_editor.as_deref(),
        r.last_modified.as_deref(),
        r.url.as_deref(),
        storage.as_deref(),
        body.as_deref(),
    ]);
    let fetched_at = if r.fetched_at == 0 { now } else { r.fetched_at };
    let rowid: i64 = tx
        .prepare_cached(
            "INSERT INTO pages (id, space, space_id, title, type, labels, ancestors, parent_id,
                version, author, last_editor, last_modified, modified_ms, url, storage, body,
                fetched_at, read_at, bytes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                ?18, ?19)
             ON CONFLICT (id) DO UPDATE SET space = excluded.space, space_id = excluded.space_id,
                title = excluded.title, type = excluded.type, labels = excluded.labels,
                ancestors = excluded.ancestors, parent_id = excluded.parent_id,
                version = excluded.version, author = excluded.author,
                last_editor = excluded.last_editor, last_modified = excluded.last_modified,
                modified_ms = excluded.modified_ms, url = excluded.url,
                storage = coalesce(excluded.storage, pages.storage),
                body = coalesce(excluded.body, pages.body),
                fetched_at = excluded.fetched_at, read_at = excluded.read_at,
                bytes = excluded.bytes
             RETURNING rowid",
        )?
        .query_row(
            params![
                id,
                r.space.trim(),
                r.space_id,
                r.title,
                r.kind,
                labels,
                ancestors,
                r.parent_id,
                int(r.version),
                r.author,
                r.last_editor,
                r.last_modified,
                ms(r.last_modified.as_deref()),
                r.url,
                storage,
                body,
                fetched_at,
                now,
                bytes,
            ],
            |row| row.get(0),
        )?;
    if indexed_same {
        return Ok(bytes - old_bytes);
    }
    tx.prepare_cached("DELETE FROM pages_fts WHERE rowid = ?1")?
        .execute([rowid])?;
    tx.prepare_cached("INSERT INTO pages_fts (rowid, title, body) VALUES (?1, ?2, ?3)")?
        .execute(params![rowid, r.title, body.unwrap_or_default()])?;
    Ok(bytes - old_bytes)
}

/// Rebuilds an issue from a row of [`ISSUE_COLS`]; returns its rowid too.
pub(super) fn issue_from_row(row: &Row<'_>) -> rusqlite::Result<(i64, IssueRecord)> {
    let person = |id: Option<String>, name: Option<String>| {
        (id.is_some() || name.is_some()).then_some(Person { id, name })
    };
    let extra: Extra = from_json(row.get(21)?);
    let comments: Option<String> = row.get(19)?;
    let record = IssueRecord {
        key: row.get(1)?,
        project: row.get(2)?,
        summary: row.get(3)?,
        status: row.get(4)?,
        status_category: row.get(5)?,
        issue_type: row.get(6)?,
        priority: row.get(7)?,
        assignee: person(row.get(8)?, row.get(9)?),
        reporter: person(row.get(10)?, row.get(11)?),
        labels: from_json(row.get(12)?),
        created: row.get(13)?,
        updated: row.get(14)?,
        due: row.get(15)?,
        resolution: row.get(16)?,
        parent: row.get(17)?,
        components: extra.components,
        subtasks: extra.subtasks,
        links: extra.links,
        url: extra.url,
        description: row.get(18)?,
        comments: comments.map(|c| serde_json::from_str(&c).unwrap_or_default()),
        comment_total: row
            .get::<_, Option<i64>>(20)?
            .and_then(|n| u64::try_from(n).ok()),
        fetched_at: row.get(22)?,
        partial: false,
    };
    Ok((row.get(0)?, record))
}

/// Rebuilds a page from a row of [`PAGE_COLS`]; returns its rowid too.
pub(super) fn page_from_row(row: &Row<'_>) -> rusqlite::Result<(i64, PageRecord)> {
    let ancestors: Vec<Ancestor> = from_json(row.get(7)?);
    let record = PageRecord {
        id: row.get(1)?,
        space: row.get(2)?,
        space_id: row.get(3)?,
        title: row.get(4)?,
        kind: row.get(5)?,
        labels: from_json(row.get(6)?),
        ancestors,
        parent_id: row.get(8)?,
        version: row
            .get::<_, Option<i64>>(9)?
            .and_then(|n| u64::try_from(n).ok()),
        author: row.get(10)?,
        last_editor: row.get(11)?,
        last_modified: row.get(12)?,
        url: row.get(13)?,
        storage: row.get(14)?,
        body: row.get(15)?,
        fetched_at: row.get(16)?,
    };
    Ok((row.get(0)?, record))
}

/// Deletes rows of `table` whose `col` is one of `keys`, with their full-text rows; counts
/// them and subtracts their bytes from `delta`.
pub(super) fn delete_by_key(
    tx: &Transaction<'_>,
    table: &str,
    col: &str,
    keys: &[String],
    delta: &mut i64,
) -> rusqlite::Result<usize> {
    let mut gone = Vec::new();
    let sql = format!("DELETE FROM {table} WHERE {col} = ?1 RETURNING rowid, bytes");
    let mut stmt = tx.prepare_cached(&sql)?;
    for key in keys {
        if let Some((rowid, bytes)) = stmt
            .query_row([key], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .optional()?
        {
            gone.push(rowid);
            *delta -= bytes;
        }
    }
    let mut fts = tx.prepare_cached(&format!("DELETE FROM {table}_fts WHERE rowid = ?1"))?;
    for rowid in &gone {
        fts.execute([rowid])?;
    }
    Ok(gone.len())
}

/// Deletes rows of `table` (and their full-text rows) by rowid.
pub(super) fn delete_rowids(
    tx: &Transaction<'_>,
    table: &str,
    rowids: &[i64],
) -> rusqlite::Result<()> {
    let mut rows = tx.prepare_cached(&format!("DELETE FROM {table} WHERE rowid = ?1"))?;
    let mut fts = tx.prepare_cached(&format!("DELETE FROM {table}_fts WHERE rowid = ?1"))?;
    for rowid in rowids {
        rows.execute([rowid])?;
        fts.execute([rowid])?;
    }
    Ok(())
}

/// A [`Confine`] as an SQL condition with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::cache) struct ScopeSql {
    /// Condition over `issues.project` or `pages.space`.
    pub(in crate::cache) sql: String,
    /// Its parameters.
    pub(in crate::cache) params: Vec<Value>,
}

impl ScopeSql {
    /// The projects `confine` allows (project keys are stored upper case).
    pub(in crate::cache) fn projects(confine: &Confine) -> ScopeSql {
        let upper = confine.projects.as_ref().map(|p| {
            p.iter()
                .map(|k| k.trim().to_ascii_uppercase())
                .collect::<Vec<_>>()
        });
        Self::list("issues.project", upper.as_deref())
    }

    /// The spaces `confine` allows (compared without regard to case).
    pub(in crate::cache) fn spaces(confine: &Confine) -> ScopeSql {
        Self::list("pages.space COLLATE NOCASE", confine.spaces.as_deref())
    }

    fn list(column: &str, allowed: Option<&[String]>) -> ScopeSql {
        match allowed {
            None => ScopeSql {
                sql: "1".into(),
                params: Vec::new(),
            },
            Some([]) => ScopeSql {
                sql: "0".into(),
                params: Vec::new(),
            },
            Some(keys) => ScopeSql {
                sql: format!("{column} IN ({})", vec!["?"; keys.len()].join(", ")),
                params: keys
                    .iter()
                    .map(|k| Value::Text(k.trim().to_string()))
                    .collect(),
            },
        }
    }
}
