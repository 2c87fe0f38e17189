//! Tests of the offline JQL/CQL subsets: the parser on its own, dates, and every clause run
//! against a small in-memory cache built from `schema::MIGRATIONS`.

mod cql;
mod dates;
mod hostile;
mod jql;
mod jql_order;
mod parse;

use rusqlite::{Connection, params_from_iter};

use super::{QueryContext, QueryError, SqlFilter, compile_cql, compile_jql};
use crate::cache::schema::MIGRATIONS;

/// Saturday 2026-11-21 10:00 UTC.
pub(super) const NOW: i64 = 1_795_255_200_000;
pub(super) const MIN: i64 = 60_000;
pub(super) const HOUR: i64 = 60 * MIN;
pub(super) const DAY: i64 = 24 * HOUR;

/// The context the tests run with: Dana is signed in.
pub(super) fn cx() -> QueryContext {
    QueryContext {
        current_user: Some("acc-dana".into()),
        now_ms: NOW,
    }
}

/// An empty cache with the real schema.
pub(super) fn empty_db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    for m in MIGRATIONS {
        conn.execute_batch(m).unwrap();
    }
    conn
}

/// One issue row for the fixtures.
pub(super) struct Issue {
    pub key: &'static str,
    pub summary: &'static str,
    pub status: &'static str,
    pub category: &'static str,
    pub priority: Option<&'static str>,
    pub issue_type: &'static str,
    pub assignee: Option<(&'static str, &'static str)>,
    pub reporter: (&'static str, &'static str),
    pub labels: &'static [&'static str],
    pub created: i64,
    pub updated: i64,
    pub due: Option<&'static str>,
    pub resolution: Option<&'static str>,
    pub parent: Option<&'static str>,
    pub description: Option<&'static str>,
    pub comments: Option<&'static [&'static str]>,
}

pub(super) fn insert_issue(conn: &Connection, i: &Issue) {
    let (project, num) = i.key.rsplit_once('-').unwrap();
    let comments = i.comments.map(|cs| {
        serde_json::Value::Array(
            cs.iter()
                .map(|b| serde_json::json!({"author": "Someone", "created": null, "body": b}))
                .collect(),
        )
        .to_string()
    });
    conn.execute(
        "INSERT INTO issues (key, project, num, summary, status, status_category, issue_type,
            priority, assignee_id, assignee, reporter_id, reporter, labels, created, created_ms,
            updated, updated_ms, due, resolution, parent, description, comments, fetched_at,
            read_at, bytes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'x', ?14, 'x', ?15,
            ?16, ?17, ?18, ?19, ?20, 0, 0, 0)",
        rusqlite::params![
            i.key,
            project,
            num.parse::<i64>().unwrap(),
            i.summary,
            i.status,
            i.category,
            i.issue_type,
            i.priority,
            i.assignee.map(|a| a.0),
            i.assignee.map(|a| a.1),
            i.reporter.0,
            i.reporter.1,
            serde_json::to_string(i.labels).unwrap(),
            i.created,
            i.updated,
            i.due,
            i.resolution,
            i.parent,
            i.description,
            comments,
        ],
    )
    .unwrap();
    let mut body = i.description.unwrap_or("").to_string();
    for c in i.comments.unwrap_or(&[]) {
        body.push('\n');
        body.push_str(c);
    }
    conn.execute(
        "INSERT INTO issues_fts (rowid, summary, body)
         SELECT rowid, summary, ?2 FROM issues WHERE key = ?1",
        rusqlite::params![i.key, body],
    )
    .unwrap();
}

/// One page row for the fixtures.
pub(super) struct Page {
    pub id: &'static str,
    pub space: &'static str,
    pub space_id: Option<&'static str>,
    pub title: &'static str,
    pub kind: &'static str,
    pub labels: &'static [&'static str],
    pub ancestors: &'static [&'static str],
    pub modified: i64,
    pub body: Option<&'static str>,
}

pub(super) fn insert_page(conn: &Connection, p: &Page) {
    let ancestors: Vec<serde_json::Value> = p
        .ancestors
        .iter()
        .map(|id| serde_json::json!({"id": id, "title": "Parent"}))
        .collect();
    conn.execute(
        "INSERT INTO pages (id, space, space_id, title, type, labels, ancestors, parent_id,
            modified_ms, body, fetched_at, read_at, bytes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, 0, 0)",
        rusqlite::params![
            p.id,
            p.space,
            p.space_id,
            p.title,
            p.kind,
            serde_json::to_string(p.labels).unwrap(),
            serde_json::Value::Array(ancestors).to_string(),
            p.ancestors.last(),
            p.modified,
            p.body,
        ],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO pages_fts (rowid, title, body)
         SELECT rowid, title, coalesce(body, '') FROM pages WHERE id = ?1",
        [p.id],
    )
    .unwrap();
}

/// Runs a compiled filter the way the store will, returning the first column (key or id).
pub(super) fn run(conn: &Connection, table: &str, f: &SqlFilter) -> Vec<String> {
    let id = if table == "issues" { "key" } else { "id" };
    let sql = format!(
        "SELECT {id} FROM {table} WHERE ({}) AND 1 ORDER BY {} LIMIT ? OFFSET ?",
        f.where_sql, f.order_sql
    );
    let mut stmt = conn.prepare(&sql).unwrap_or_else(|e| panic!("{e}: {sql}"));
    let mut params = f.params.clone();
    params.push(rusqlite::types::Value::Integer(1000));
    params.push(rusqlite::types::Value::Integer(0));
    stmt.query_map(params_from_iter(params), |r| r.get::<_, String>(0))
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Compile-or-panic helpers.
pub(super) fn jql_ok(conn: &Connection, jql: &str) -> Vec<String> {
    let f = compile_jql(jql, &cx()).unwrap_or_else(|e| panic!("{jql}: {e}"));
    run(conn, "issues", &f)
}

pub(super) fn jql_err(jql: &str) -> QueryError {
    match compile_jql(jql, &cx()) {
        Ok(f) => panic!("{jql} compiled: {f:?}"),
        Err(e) => e,
    }
}

pub(super) fn cql_ok(conn: &Connection, cql: &str) -> Vec<String> {
    let f = compile_cql(cql, &cx()).unwrap_or_else(|e| panic!("{cql}: {e}"));
    run(conn, "pages", &f)
}

pub(super) fn cql_err(cql: &str) -> QueryError {
    match compile_cql(cql, &cx()) {
        Ok(f) => panic!("{cql} compiled: {f:?}"),
        Err(e) => e,
    }
}

/// The issues the JQL tests share. Created, newest first: OPS-3, OPS-4, ENG-2, ENG-1, ENG-10.
pub(super) fn issues_db() -> Connection {
    let conn = empty_db();
    let dana = ("acc-dana", "Dana Demo");
    let alex = ("acc-alex", "Alex Admin");
    let priya = ("acc-priya", "Priya Patel");
    let issues = [
        Issue {
            key: "ENG-1",
            summary: "Login fails on Safari",
            status: "To Do",
            category: "new",
            priority: Some("High"),
            issue_type: "Bug",
            assignee: Some(dana),
            reporter: alex,
            labels: &["frontend", "ux"],
            created: NOW - 10 * DAY,
            updated: NOW - DAY,
            due: Some("2026-11-25"),
            resolution: None,
            parent: None,
            description: Some("The login button does nothing. Stack trace attached."),
            comments: Some(&["Reproduced on macOS", "Works in Firefox"]),
        },
        Issue {
            key: "ENG-2",
            summary: "Refactor search client",
            status: "In Progress",
            category: "indeterminate",
            priority: Some("Medium"),
            issue_type: "Task",
            assignee: Some(alex),
            reporter: dana,
            labels: &["backend"],
            created: NOW - 5 * DAY,
            updated: NOW - 2 * HOUR,
            due: None,
            resolution: None,
            parent: None,
            description: Some("Split the search client into modules."),
            comments: Some(&[]),
        },
        Issue {
            key: "ENG-10",
            summary: "Document the retry policy",
            status: "Done",
            category: "done",
            priority: Some("Lowest"),
            issue_type: "Story",
            assignee: None,
            reporter: priya,
            labels: &[],
            created: NOW - 20 * DAY,
            updated: NOW - 15 * DAY,
            due: Some("2026-11-01"),
            resolution: Some("Done"),
            parent: None,
            description: None,
            comments: None,
        },
        Issue {
            key: "OPS-3",
            summary: "Rotate tokens",
            status: "In Review",
            category: "indeterminate",
            priority: Some("Highest"),
            issue_type: "Task",
            assignee: Some(dana),
            reporter: dana,
            labels: &["Backend", "perf"],
            created: NOW - DAY,
            updated: NOW - 30 * MIN,
            due: Some("2026-11-21"),
            resolution: None,
            parent: None,
            description: Some("Tokens expire soon; rotation runbook."),
            comments: Some(&["see runbook"]),
        },
        Issue {
            key: "OPS-4",
            summary: "Loginpage redesign",
            status: "To Do",
            category: "new",
            priority: Some("Low"),
            issue_type: "Sub-task",
            assignee: None,
            reporter: alex,
            labels: &[],
            created: NOW - 3 * DAY,
            updated: NOW - 3 * DAY,
            due: None,
            resolution: None,
            parent: Some("OPS-3"),
            description: Some("login-page redesign ideas"),
            comments: None,
        },
    ];
    for i in &issues {
        insert_issue(&conn, i);
    }
    conn
}

/// The pages the CQL tests share. Modified, newest first: 102, 103, 101, 100, 104.
pub(super) fn pages_db() -> Connection {
    let conn = empty_db();
    let pages = [
        Page {
            id: "100",
            space: "ENG",
            space_id: Some("98305"),
            title: "Architecture overview",
            kind: "page",
            labels: &["architecture", "design"],
            ancestors: &[],
            modified: NOW - 2 * DAY,
            body: Some(
                "The bridge talks to Jira. Architecture decisions: architecture, architecture.",
            ),
        },
        Page {
            id: "101",
            space: "ENG",
            space_id: Some("98305"),
            title: "Release runbook",
            kind: "page",
            labels: &["runbook"],
            ancestors: &["100"],
            modified: NOW - DAY,
            body: Some("Steps to release the bridge."),
        },
        Page {
            id: "102",
            space: "OPS",
            space_id: Some("98306"),
            title: "On-call guide",
            kind: "page",
            labels: &[],
            ancestors: &[],
            modified: NOW - HOUR,
            body: Some("Pager duty; see the release runbook and architecture notes."),
        },
        Page {
            id: "103",
            space: "ENG",
            space_id: Some("98305"),
            title: "Weekly notes",
            kind: "blogpost",
            labels: &["Design"],
            ancestors: &[],
            modified: NOW - 3 * HOUR,
            body: Some("Notes about design."),
        },
        Page {
            id: "104",
            space: "~demo",
            space_id: None,
            title: "Scratch",
            kind: "page",
            labels: &[],
            ancestors: &[],
            modified: NOW - 30 * DAY,
            body: None,
        },
    ];
    for p in &pages {
        insert_page(&conn, p);
    }
    conn
}

/// `["A", "B"]` from `&["A", "B"]`, for comparisons.
pub(super) fn keys(k: &[&str]) -> Vec<String> {
    k.iter().map(|s| s.to_string()).collect()
}
