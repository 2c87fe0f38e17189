//! The JQL and CQL subsets the cache can answer offline, compiled to SQL over
//! [`super::schema`]. Anything outside the subset is an error naming the clause.
//!
//! - `lex.rs`: tokens with their byte spans (so errors quote the exact source text).
//! - `ast.rs`: the syntax tree; `parse.rs`: recursive descent (`OR` < `AND` < `NOT` < parentheses / clause), nesting and
//!   clause counts capped so hostile input is an error, never a stack overflow.
//! - `sql.rs`: the SQL writer (parameters bound in text order) and the operator logic shared by
//!   every field; `text.rs`: `~` terms → FTS5 queries and word patterns; `dates.rs`: date
//!   values, periods and date functions (UTC).
//! - `jql.rs` / `cql.rs`: the fields of each language and their `ORDER BY`.
//!
//! Every clause compiles to an expression that is 0 or 1, never NULL, so `NOT` is an exact
//! complement (as in Jira: `NOT assignee = x` includes unassigned issues, `assignee != x` does
//! not). Column references are qualified (`issues.…`, `pages.…`): the store must select
//! `FROM issues` / `FROM pages` without an alias. `where_sql` uses plain `?` parameters (bind
//! [`SqlFilter::params`] first); `order_sql` has none.
//!
//! Full-text clauses read `issues_fts` (`summary`; `body` = description then comment bodies)
//! and `pages_fts` (`title`; `body` = the page's Markdown), rowids equal to the table's.

mod ast;
mod cql;
mod dates;
mod jql;
mod lex;
mod parse;
mod sql;
mod text;

#[cfg(test)]
mod tests;

/// A compiled query: a `WHERE` condition over `issues` (or `pages`) with `?` parameters, and
/// an `ORDER BY` list.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFilter {
    /// SQL boolean expression over the table's columns (`1` for no condition).
    pub where_sql: String,
    /// Parameters for the `?` placeholders, in order.
    pub params: Vec<rusqlite::types::Value>,
    /// `ORDER BY` terms without the keywords (never empty: ties end in key / id order).
    pub order_sql: String,
}

/// What a query's functions stand for when there is no site to ask: `currentUser()` and
/// `now()` (and every relative date).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryContext {
    /// The signed-in user as the cache stores people: Cloud accountId, or Data Center user
    /// key / name (compared with `issues.assignee_id` / `reporter_id`). `None`: unknown, and
    /// `currentUser()` is an error.
    pub current_user: Option<String>,
    /// "Now", Unix milliseconds UTC.
    pub now_ms: i64,
}

/// Why a query cannot be answered offline: the exact source text of the clause (or the token)
/// at fault, so the model knows what to drop, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot evaluate `{clause}` offline: {message}")]
pub struct QueryError {
    /// The source text of the unsupported or invalid part (clipped past 200 characters).
    pub clause: String,
    /// What is wrong with it, lowercase, no trailing period.
    pub message: String,
}

impl QueryError {
    /// An error quoting `clause` (clipped so that a huge input makes a readable message).
    pub(crate) fn new(clause: &str, message: impl Into<String>) -> Self {
        Self {
            clause: clip(clause.trim()),
            message: message.into(),
        }
    }
}

/// Longest clause text an error quotes, in characters.
const MAX_CLAUSE_CHARS: usize = 200;

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_CLAUSE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// What offline `jira_search` understands, for error messages and the README.
pub const JQL_SUBSET: &str = "Offline JQL covers: project (keys), key/issuekey and parent \
(issue keys; key also <, <=, >, >= within one project), status, statusCategory (To Do, In \
Progress, Done or new, indeterminate, done), priority, issuetype/type, resolution (Unresolved \
= EMPTY), labels, assignee and reporter (account id or user name, display name, \
currentUser(), EMPTY), created, updated and due/duedate (yyyy-MM-dd or yyyy/MM/dd with an \
optional HH:mm, periods such as -7d, \"4w 2d\" or 30m, now(), startOfDay(), endOfDay(), \
startOfWeek() (Monday), endOfWeek(), startOfMonth(), endOfMonth(), startOfYear(), endOfYear() \
with an optional offset such as startOfDay(-1d); all in UTC), and ~ / !~ on summary, \
description, comment and text (whole words, case-insensitive, a trailing * for a prefix, \
\"quoted phrases\", common English words ignored, no stemming). Operators =, !=, IN, NOT IN, \
IS [NOT] EMPTY, ~, !~, <, <=, >, >=; AND, OR, NOT or !, parentheses; ORDER BY key, created, \
updated, due, priority, status, statusCategory, summary, assignee, reporter, project, \
issuetype, resolution [ASC|DESC] (ties: newest first). Without ORDER BY: newest created \
first. Not offline: sprints, versions, components, custom fields, history (WAS, CHANGED), \
other functions, ORDER BY rank.";

/// What offline `confluence_search` understands, for error messages and the README.
pub const CQL_SUBSET: &str = "Offline CQL covers pages and blog posts: space / space.key \
(key or id), type (page, blogpost), title (=, !=, IN, ~, !~), text ~ / !~ (title and body: \
whole words, case-insensitive, a trailing * for a prefix, \"quoted phrases\", common English \
words ignored, no stemming), label / labels, ancestor and parent (page ids), id, and \
lastmodified (yyyy-MM-dd or yyyy/MM/dd with an optional HH:mm, periods such as -7d, \
now(\"-7d\"), startOfDay(), startOfWeek() (Monday), startOfMonth(), startOfYear() and their \
endOf…() twins with an optional offset; all in UTC). Operators =, !=, IN, NOT IN, ~, !~, <, \
<=, >, >=; AND, OR, NOT, parentheses; ORDER BY lastmodified, title, id, space, type \
[ASC|DESC]. Without ORDER BY: most matches of the ~ words first, then most recently \
modified. Not offline: created, creator, contributor, mention, favourite, watcher, space \
details, other content types, other functions.";

/// Compiles JQL into a filter over the `issues` table, or names the clause it cannot
/// evaluate offline. Empty JQL (or only `ORDER BY`) matches every issue.
pub fn compile_jql(jql: &str, cx: &QueryContext) -> Result<SqlFilter, QueryError> {
    let query = parse::parse(jql)?;
    jql::compile(jql, &query, cx)
}

/// Compiles CQL into a filter over the `pages` table, or names the clause it cannot evaluate
/// offline. Empty CQL matches every page. `order_sql` may embed the positive `~` words as SQL
/// string literals (escaped) for relevance: it never has parameters.
pub fn compile_cql(cql: &str, cx: &QueryContext) -> Result<SqlFilter, QueryError> {
    let query = parse::parse(cql)?;
    cql::compile(cql, &query, cx)
}
