//! The cache's SQLite schema and its migrations, numbered from the start (`PRAGMA user_version`).
//!
//! Times are stored twice where queries compare them: the text as the site gave it (shown to
//! people) and `*_ms`, Unix milliseconds UTC (compared and sorted). Lists are JSON arrays, read
//! with SQLite's `json_each`. Each FTS5 table's rowid is its row's rowid in `issues` / `pages`.

/// Migrations in order; migration `n` (1-based) brings `user_version` from `n - 1` to `n`.
pub const MIGRATIONS: &[&str] = &[
    // 1: issues, pages, sync watermarks, full-text indexes.
    r#"
CREATE TABLE issues (
    key             TEXT PRIMARY KEY,     -- ENG-12
    project         TEXT NOT NULL,        -- ENG
    num             INTEGER NOT NULL,     -- 12: key order is (project, num)
    summary         TEXT NOT NULL DEFAULT '',
    status          TEXT,
    status_category TEXT,                 -- new | indeterminate | done
    issue_type      TEXT,
    priority        TEXT,
    assignee_id     TEXT,                 -- Cloud accountId, Data Center user key/name
    assignee        TEXT,                 -- display name
    reporter_id     TEXT,
    reporter        TEXT,
    labels          TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
    created         TEXT,
    created_ms      INTEGER,
    updated         TEXT,
    updated_ms      INTEGER,
    due             TEXT,                 -- YYYY-MM-DD
    resolution      TEXT,
    parent          TEXT,
    description     TEXT,                 -- Markdown; NULL = never fetched
    comments        TEXT,                 -- JSON [{author, created, body}]; NULL = never fetched
    comment_total   INTEGER,
    extra           TEXT NOT NULL DEFAULT '{}',   -- JSON: components, subtasks, links, url
    fetched_at      INTEGER NOT NULL,     -- Unix ms: when the site last said this
    read_at         INTEGER NOT NULL,     -- Unix ms: last stored or answered (eviction order)
    bytes           INTEGER NOT NULL      -- approximate size of the row, for [cache].max_bytes
);
CREATE INDEX issues_project_num ON issues(project, num);
CREATE INDEX issues_updated ON issues(updated_ms);
CREATE INDEX issues_read ON issues(read_at);

CREATE TABLE pages (
    id            TEXT PRIMARY KEY,
    space         TEXT NOT NULL,          -- space key
    space_id      TEXT,
    title         TEXT NOT NULL,
    type          TEXT NOT NULL DEFAULT 'page',
    labels        TEXT NOT NULL DEFAULT '[]',     -- JSON array of strings
    ancestors     TEXT NOT NULL DEFAULT '[]',     -- JSON [{id, title}], root first
    parent_id     TEXT,
    version       INTEGER,
    author        TEXT,
    last_editor   TEXT,
    last_modified TEXT,
    modified_ms   INTEGER,
    url           TEXT,
    storage       TEXT,                   -- storage XHTML; NULL = body never fetched
    body          TEXT,                   -- Markdown; NULL = body never fetched
    fetched_at    INTEGER NOT NULL,
    read_at       INTEGER NOT NULL,
    bytes         INTEGER NOT NULL
);
CREATE INDEX pages_space ON pages(space);
CREATE INDEX pages_modified ON pages(modified_ms);
CREATE INDEX pages_read ON pages(read_at);

CREATE TABLE watermarks (
    kind      TEXT NOT NULL,              -- jira | confluence
    scope     TEXT NOT NULL,              -- project or space key
    value     TEXT NOT NULL,              -- the newest `updated` committed, as the site gave it
    value_ms  INTEGER NOT NULL,
    synced_at INTEGER NOT NULL,           -- Unix ms of the last sync that finished
    PRIMARY KEY (kind, scope)
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,               -- e.g. account_id: who `currentUser()` is offline
    value TEXT NOT NULL
);

CREATE VIRTUAL TABLE issues_fts USING fts5(summary, body, tokenize = 'unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE pages_fts USING fts5(title, body, tokenize = 'unicode61 remove_diacritics 2');
"#,
];
