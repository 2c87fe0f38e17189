//! The local cache and mirror (SPEC §10): issues and pages in an embedded SQLite database at
//! `<home>/cache.db` (mode 0600, WAL, safe with several bridge processes at once), with FTS5
//! full-text indexes, sync watermarks, and eviction past `[cache].max_bytes`.
//!
//! It knows nothing of MCP or of Atlassian's wire types: records are plain data that callers
//! build (see `crate::sync::records`), and queries come compiled from the JQL/CQL subset in
//! [`query`]. Policy is the caller's: every read takes the projects/spaces it may answer for.
//!
//! - [`schema`]: the tables and migrations; [`query`]: the JQL and CQL subsets → SQL.
//! - `store.rs`: opening, upserts, reads, watermarks, deletions, stats, eviction.
//! - `search.rs`: ranked full-text search over issues and pages (BM25, snippets).

pub mod query;
pub mod schema;
mod search;
mod store;

use serde::{Deserialize, Serialize};

pub use search::{Hit, HitKind, LocalQuery};
pub use store::{Batch, Cache, CacheError, CacheStats, ScopeStats, Watermark, clear};

/// A person as a cached record shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Cloud account id, or Data Center user key / name (what `currentUser()` compares).
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
}

impl Person {
    /// The best label for people: the name, else the id.
    pub fn label(&self) -> Option<String> {
        self.name.clone().or_else(|| self.id.clone())
    }
}

/// A link from a cached issue to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    /// `blocks`, `is blocked by` …
    pub relation: String,
    /// The other issue's key.
    pub key: String,
    /// Its summary, when known.
    pub summary: Option<String>,
    /// Its status, when known.
    pub status: Option<String>,
}

/// A cached comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentRecord {
    /// Author's name.
    pub author: String,
    /// Created, as the site gave it.
    pub created: Option<String>,
    /// Body as Markdown.
    pub body: String,
}

/// One issue as the cache keeps it.
///
/// `description` and `comments` are `None` when the read that produced the record did not
/// include them (a search page has no comments): storing such a record keeps what the cache
/// already holds for them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IssueRecord {
    /// `ENG-12`.
    pub key: String,
    /// `ENG`.
    pub project: String,
    /// Summary line.
    pub summary: String,
    /// Status name.
    pub status: Option<String>,
    /// Status category key: `new`, `indeterminate`, `done`.
    pub status_category: Option<String>,
    /// Issue type name.
    pub issue_type: Option<String>,
    /// Priority name.
    pub priority: Option<String>,
    /// Assignee.
    pub assignee: Option<Person>,
    /// Reporter.
    pub reporter: Option<Person>,
    /// Labels.
    pub labels: Vec<String>,
    /// Created, as the site gave it.
    pub created: Option<String>,
    /// Updated, as the site gave it.
    pub updated: Option<String>,
    /// Due date, `YYYY-MM-DD`.
    pub due: Option<String>,
    /// Resolution name.
    pub resolution: Option<String>,
    /// Parent key.
    pub parent: Option<String>,
    /// Component names.
    pub components: Vec<String>,
    /// Sub-task keys.
    pub subtasks: Vec<String>,
    /// Links to other issues.
    pub links: Vec<LinkRecord>,
    /// Link for people.
    pub url: Option<String>,
    /// Description as Markdown; `None` = not part of this read.
    pub description: Option<String>,
    /// Latest comments, oldest first; `None` = not part of this read.
    pub comments: Option<Vec<CommentRecord>>,
    /// Total comments on the issue, when known.
    pub comment_total: Option<u64>,
    /// When the site said this, Unix ms (set by the store when 0).
    pub fetched_at: i64,
    /// A search row: only the fields a search returns are known (summary, status, type,
    /// priority, people, dates, labels, parent); storing it keeps the cached resolution,
    /// components, sub-tasks, links and comment total.
    #[serde(default)]
    pub partial: bool,
}

/// An ancestor of a cached page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ancestor {
    /// Page id.
    pub id: String,
    /// Title, when known.
    pub title: Option<String>,
}

/// One Confluence page as the cache keeps it.
///
/// `storage`/`body` are `None` when the read had no body (a search hit): storing such a record
/// keeps the body already cached.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PageRecord {
    /// Page id.
    pub id: String,
    /// Space key.
    pub space: String,
    /// Space id (Cloud), when known.
    pub space_id: Option<String>,
    /// Title.
    pub title: String,
    /// `page` or `blogpost`.
    pub kind: String,
    /// Label names.
    pub labels: Vec<String>,
    /// Ancestors, root first.
    pub ancestors: Vec<Ancestor>,
    /// Parent page id.
    pub parent_id: Option<String>,
    /// Version number.
    pub version: Option<u64>,
    /// Who created it (name, else id).
    pub author: Option<String>,
    /// Who made the current version (name, else id).
    pub last_editor: Option<String>,
    /// Last change, as the site gave it.
    pub last_modified: Option<String>,
    /// Link for people.
    pub url: Option<String>,
    /// Storage XHTML; `None` = not part of this read.
    pub storage: Option<String>,
    /// Body as Markdown; `None` = not part of this read.
    pub body: Option<String>,
    /// When the site said this, Unix ms (set by the store when 0).
    pub fetched_at: i64,
}

/// Which projects / spaces a read may answer for: `None` = all (policy has no allowlist).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confine {
    /// Jira project keys (upper case), or `None` for all.
    pub projects: Option<Vec<String>>,
    /// Confluence space keys, or `None` for all.
    pub spaces: Option<Vec<String>>,
}

impl Confine {
    /// True when `project` may be answered for.
    pub fn project(&self, project: &str) -> bool {
        self.projects
            .as_ref()
            .is_none_or(|p| p.iter().any(|k| k.eq_ignore_ascii_case(project)))
    }

    /// True when `space` may be answered for.
    pub fn space(&self, space: &str) -> bool {
        self.spaces
            .as_ref()
            .is_none_or(|s| s.iter().any(|k| k.eq_ignore_ascii_case(space)))
    }
}

/// A cached item with the time the site last said it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cached<T> {
    /// The record.
    pub record: T,
    /// When it was fetched, Unix ms.
    pub fetched_at: i64,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Parses a timestamp as Jira or Confluence give it (`2026-11-21T10:00:00.000+0000`,
/// RFC 3339 with `Z` or an offset, or a bare `YYYY-MM-DD`, taken as midnight UTC) into Unix ms.
pub fn parse_site_time(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    // Jira's `+0000` offset has no colon; RFC 3339 wants one.
    let b = s.as_bytes();
    if b.len() > 5 {
        let (head, tail) = s.split_at(s.len() - 5);
        let tb = tail.as_bytes();
        if (tb[0] == b'+' || tb[0] == b'-') && tb[1..].iter().all(u8::is_ascii_digit) {
            let fixed = format!("{head}{}:{}", &tail[..3], &tail[3..]);
            if let Ok(t) = time::OffsetDateTime::parse(&fixed, &Rfc3339) {
                return Some((t.unix_timestamp_nanos() / 1_000_000) as i64);
            }
        }
    }
    let date = time::Date::parse(
        s.get(..10)?,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    (s.len() == 10).then(|| date.midnight().assume_utc().unix_timestamp() * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_times_parse_in_every_shape_the_sites_send() {
        let z = parse_site_time("2026-11-21T10:00:00.000Z");
        assert_eq!(z, Some(1_795_255_200_000));
        assert_eq!(parse_site_time("2026-11-21T10:00:00.000+0000"), z);
        assert_eq!(parse_site_time("2026-11-21T11:00:00.000+0100"), z);
        assert_eq!(parse_site_time("2026-11-21T10:00:00+00:00"), z);
        assert_eq!(parse_site_time("2026-11-21"), Some(1_795_219_200_000));
        assert_eq!(parse_site_time("yesterday"), None);
        assert_eq!(parse_site_time("2026-11-21 10:00"), None);
    }
}
