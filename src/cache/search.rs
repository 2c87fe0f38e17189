//! Ranked full-text search over cached issues and pages: FTS5 with BM25 (titles weigh more than
//! bodies), snippets around the matched words, policy applied through [`super::Confine`].
//!
//! A person's words never reach FTS5 as syntax: every word (or quoted phrase) becomes a quoted
//! FTS5 string, so `AND`, `*`, `NEAR(` and stray quotes are plain text. All words must match;
//! when nothing does, any word may, so a search always shows the closest items. A word shaped
//! like an issue key (`ENG-12`) also finds that issue itself, ranked first.
//!
//! Scores are `-bm25` (higher is better) and only compare within one query. Searching does not
//! mark items read: eviction order counts reads of whole items (`Cache::issue`, `page`, and
//! the filtered searches).

#[cfg(test)]
mod tests;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params_from_iter};

use super::Confine;
use super::store::ScopeSql;

/// What `atlassian_local_search` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalQuery {
    /// Words as a person types them (quotes for a phrase); never FTS5 syntax.
    pub text: String,
    /// Search issues.
    pub jira: bool,
    /// Search pages.
    pub confluence: bool,
    /// Most hits.
    pub limit: usize,
}

/// Issue or page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitKind {
    /// A Jira issue.
    Issue,
    /// A Confluence page.
    Page,
}

/// One ranked hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Issue or page.
    pub kind: HitKind,
    /// Issue key or page id.
    pub id: String,
    /// Summary or title.
    pub title: String,
    /// Project or space key.
    pub scope: String,
    /// Status (issues).
    pub status: Option<String>,
    /// Text around the match, with the matched words in `**bold**`.
    pub snippet: String,
    /// Last change, as the site gave it.
    pub updated: Option<String>,
    /// When the cache got it (Unix ms).
    pub fetched_at: i64,
    /// Relevance (higher is better).
    pub score: f64,
}

/// Most words (or phrases) of a query that are searched for.
const MAX_TERMS: usize = 32;

/// Words in a key hit's snippet (the start of the description).
const KEY_SNIPPET_WORDS: usize = 24;

/// One FTS5 table with its row table and what a hit shows.
struct Table {
    fts: &'static str,
    rows: &'static str,
    kind: HitKind,
    /// Columns of `rows`: id, title, scope, status, updated, fetched_at.
    cols: &'static str,
    /// The text a hit without a full-text match opens with.
    text: &'static str,
}

const ISSUES: Table = Table {
    fts: "issues_fts",
    rows: "issues",
    kind: HitKind::Issue,
    cols: "issues.key, issues.summary, issues.project, issues.status, issues.updated, \
           issues.fetched_at",
    text: "issues.description",
};

const PAGES: Table = Table {
    fts: "pages_fts",
    rows: "pages",
    kind: HitKind::Page,
    cols: "pages.id, pages.title, pages.space, NULL, pages.last_modified, pages.fetched_at",
    text: "pages.body",
};

/// A ranked row before its details (and snippet, the costly part) are read.
struct Candidate {
    table: &'static Table,
    rowid: i64,
    score: f64,
    /// Found by the full-text expression (else by its key alone).
    matched: bool,
}

/// Runs `query` within `confine`; see the module docs.
pub(super) fn run(
    conn: &Connection,
    query: &LocalQuery,
    confine: &Confine,
) -> rusqlite::Result<Vec<Hit>> {
    let terms = terms(&query.text);
    if terms.is_empty() || query.limit == 0 || !(query.jira || query.confluence) {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let quoted: Vec<String> = terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect();
    let tables = [
        (query.jira, &ISSUES, ScopeSql::projects(confine)),
        (query.confluence, &PAGES, ScopeSql::spaces(confine)),
    ];
    let mut found = Vec::new();
    let mut expr = String::new();
    for all_or_any in [quoted.join(" "), quoted.join(" OR ")] {
        expr = all_or_any;
        for (_, table, scope) in tables.iter().filter(|t| t.0) {
            found.extend(ranked(conn, table, &expr, scope, limit)?);
        }
        if !found.is_empty() || terms.len() == 1 {
            break;
        }
    }
    if query.jira {
        // The issue itself outranks everything that merely mentions it.
        let top = found.iter().map(|c| c.score).fold(0.0, f64::max) + 1.0;
        for key in terms.iter().filter(|t| looks_like_key(t)) {
            let Some(rowid) = key_rowid(conn, &key.to_ascii_uppercase(), &tables[0].2)? else {
                continue;
            };
            match found
                .iter_mut()
                .find(|c| c.table.kind == HitKind::Issue && c.rowid == rowid)
            {
                Some(c) => c.score = c.score.max(top),
                None => found.push(Candidate {
                    table: &ISSUES,
                    rowid,
                    score: top,
                    matched: false,
                }),
            }
        }
    }
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    found.truncate(query.limit);
    let mut hits = Vec::with_capacity(found.len());
    for c in &found {
        hits.extend(detail(conn, c, &expr)?);
    }
    Ok(hits)
}

/// The best `limit` rows of one table for an FTS5 expression (BM25 over every match, which
/// is cheap; snippets come later, for the rows that make the cut).
fn ranked(
    conn: &Connection,
    t: &'static Table,
    expr: &str,
    scope: &ScopeSql,
    limit: i64,
) -> rusqlite::Result<Vec<Candidate>> {
    let Table { fts, rows, .. } = t;
    // The confinement join is a CROSS JOIN so that the full-text match stays the outer loop
    // (the planner would otherwise walk the project index and run the match once per row).
    let (join, cond) = if scope.params.is_empty() && scope.sql == "1" {
        (String::new(), String::new())
    } else {
        let join = format!("CROSS JOIN {rows} ON {rows}.rowid = {fts}.rowid");
        (join, format!("AND {}", scope.sql))
    };
    let sql = format!(
        "SELECT {fts}.rowid, bm25({fts}, 10.0, 1.0) AS rank FROM {fts} {join}
         WHERE {fts} MATCH ? {cond} ORDER BY rank LIMIT ?"
    );
    let args = std::iter::once(Value::Text(expr.to_string()))
        .chain(scope.params.iter().cloned())
        .chain(std::iter::once(Value::Integer(limit)));
    conn.prepare_cached(&sql)?
        .query_map(params_from_iter(args), |r| {
            Ok(Candidate {
                table: t,
                rowid: r.get(0)?,
                score: -r.get::<_, f64>(1)?,
                matched: true,
            })
        })?
        .collect()
}

/// The rowid of the issue whose key is `key`, when cached and within `scope`.
fn key_rowid(conn: &Connection, key: &str, scope: &ScopeSql) -> rusqlite::Result<Option<i64>> {
    let sql = format!("SELECT rowid FROM issues WHERE key = ? AND {}", scope.sql);
    let args = std::iter::once(Value::Text(key.to_string())).chain(scope.params.iter().cloned());
    conn.prepare_cached(&sql)?
        .query_row(params_from_iter(args), |r| r.get(0))
        .optional()
}

/// A candidate as a hit: its row's fields and a snippet around the match (or, found by key
/// alone, the opening words of its text).
fn detail(conn: &Connection, c: &Candidate, expr: &str) -> rusqlite::Result<Option<Hit>> {
    let Table {
        fts,
        rows,
        cols,
        text,
        kind,
    } = c.table;
    let map = |r: &rusqlite::Row<'_>| {
        let snippet: Option<String> = r.get(6)?;
        let snippet = snippet.unwrap_or_default();
        Ok(Hit {
            kind: *kind,
            id: r.get(0)?,
            title: r.get(1)?,
            scope: r.get(2)?,
            status: r.get(3)?,
            updated: r.get(4)?,
            fetched_at: r.get(5)?,
            snippet: if c.matched {
                snippet
            } else {
                opening(&snippet)
            },
            score: c.score,
        })
    };
    if c.matched {
        let sql = format!(
            "SELECT {cols}, snippet({fts}, -1, '**', '**', '…', 12) FROM {fts}
             CROSS JOIN {rows} ON {rows}.rowid = {fts}.rowid
             WHERE {fts} MATCH ?1 AND {fts}.rowid = ?2"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        stmt.query_row(rusqlite::params![expr, c.rowid], map)
            .optional()
    } else {
        let sql = format!("SELECT {cols}, {text} FROM {rows} WHERE {rows}.rowid = ?1");
        conn.prepare_cached(&sql)?
            .query_row([c.rowid], map)
            .optional()
    }
}

/// The first words of `text`, with `…` when there is more.
fn opening(text: &str) -> String {
    let mut words = text.split_whitespace();
    let head: Vec<&str> = words.by_ref().take(KEY_SNIPPET_WORDS).collect();
    let mut out = head.join(" ");
    if words.next().is_some() {
        out.push('…');
    }
    out
}

/// `ENG-12`: a project key (a letter, then letters, digits or `_`), a dash, a number.
fn looks_like_key(term: &str) -> bool {
    let Some((project, number)) = term.split_once('-') else {
        return false;
    };
    let mut head = project.chars();
    head.next().is_some_and(|c| c.is_ascii_alphabetic())
        && head.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The words and quoted phrases of a query, each to be searched as one FTS5 string; pieces
/// with nothing searchable in them (punctuation, symbols) are dropped. An unclosed quote runs
/// to the end.
fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, piece) in text.split('"').enumerate() {
        if i % 2 == 1 {
            let phrase = piece.split_whitespace().collect::<Vec<_>>().join(" ");
            out.push(phrase);
        } else {
            out.extend(piece.split_whitespace().map(str::to_string));
        }
    }
    out.retain(|t| t.chars().any(char::is_alphanumeric));
    out.truncate(MAX_TERMS);
    out
}
