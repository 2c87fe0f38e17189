//! Jira field metadata: names ↔ ids (custom fields included), for reads that take field names;
//! one issue with extra fields; and Cloud's approximate issue count.
//!
//! Field metadata (`GET /rest/api/3/field`, Data Center `/rest/api/2/field`) is fetched once
//! per process per Jira base and reused: a site's fields change rarely, and every read that
//! names fields needs them. A name that matches nothing refetches once the list is a few
//! minutes old, so a custom field created meanwhile is found without a restart.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Change, IssueDetail, IssueInclude, Jira, User, decode, parse_transitions};
use crate::atlassian::http::ApiRequest;
use crate::atlassian::json::{array, strings, text, uint};
use crate::atlassian::{ApiError, CallTrace, Product};
use crate::config::Deployment;

/// How old a cached field list may be before a lookup that misses fetches it again.
const REFRESH_AFTER: Duration = Duration::from_secs(300);

/// One field of the site (system or custom).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDef {
    /// Field id, as issues key their fields (`duedate`, `customfield_10050`).
    pub id: String,
    /// Display name (`Due date`, `Severity`).
    pub name: String,
    /// True for custom fields.
    pub custom: bool,
    /// Schema type (`string`, `datetime`, `date`, `option`, `array` …), when Jira gives one.
    pub kind: Option<String>,
    /// Names JQL accepts for it (`due`, `cf[10050]` …).
    pub clause_names: Vec<String>,
}

impl FieldDef {
    fn from_json(v: &Value) -> Option<Self> {
        let id = text(v, "id")?;
        Some(Self {
            name: text(v, "name").unwrap_or_else(|| id.clone()),
            custom: v.get("custom").and_then(Value::as_bool).unwrap_or(false),
            kind: v.get("schema").and_then(|s| text(s, "type")),
            clause_names: strings(v, "clauseNames"),
            id,
        })
    }

    /// True for date and date-time fields (shown as `YYYY-MM-DD`, like the other dates).
    pub fn is_date(&self) -> bool {
        matches!(self.kind.as_deref(), Some("date" | "datetime"))
    }
}

/// True for the fields [`Jira::issue`] always reads (and so every issue read shows).
pub fn is_issue_field(id: &str) -> bool {
    super::ISSUE_FIELDS.contains(&id)
}

/// What a list of requested field names or ids came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldResolution {
    /// The fields found, in the order asked, each once. A name that several custom fields
    /// share gives all of them.
    pub found: Vec<FieldDef>,
    /// What was asked for and names no field, as given.
    pub unknown: Vec<String>,
    /// Up to three field names close to the unknown ones (`Severity` for `Sevrity`).
    pub suggestions: Vec<String>,
}

/// The site's fields, searchable by id, name or JQL clause name.
#[derive(Debug, Clone, Default)]
pub struct FieldIndex {
    fields: Vec<FieldDef>,
}

impl FieldIndex {
    /// Reads a `GET /field` answer (a JSON array of FieldDetails).
    pub fn from_json(body: &Value) -> Self {
        Self {
            fields: body
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .filter_map(FieldDef::from_json)
                .collect(),
        }
    }

    /// The field with this id.
    pub fn by_id(&self, id: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.id == id)
    }

    /// Every field one requested name stands for: an id (exact, then ignoring case), else a
    /// display name ignoring case (all fields sharing it), else a JQL clause name (`due`,
    /// `cf[10050]`).
    fn lookup(&self, wanted: &str) -> Vec<&FieldDef> {
        if let Some(f) = self.by_id(wanted) {
            return vec![f];
        }
        let tiers: [&dyn Fn(&FieldDef) -> bool; 3] = [
            &|f| f.id.eq_ignore_ascii_case(wanted),
            &|f| f.name.trim().eq_ignore_ascii_case(wanted),
            &|f| {
                f.clause_names
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(wanted))
            },
        ];
        for tier in tiers {
            let hits: Vec<&FieldDef> = self.fields.iter().filter(|f| tier(f)).collect();
            if !hits.is_empty() {
                return hits;
            }
        }
        Vec::new()
    }

    /// Resolves requested field names or ids (trimmed; empty entries skipped).
    pub fn resolve(&self, wanted: &[String]) -> FieldResolution {
        let mut out = FieldResolution::default();
        for raw in wanted {
            let w = raw.trim();
            if w.is_empty() {
                continue;
            }
            let hits = self.lookup(w);
            if hits.is_empty() {
                if !out.unknown.iter().any(|u| u == w) {
                    out.unknown.push(w.to_string());
                }
                continue;
            }
            for f in hits {
                if !out.found.iter().any(|x| x.id == f.id) {
                    out.found.push(f.clone());
                }
            }
        }
        for u in &out.unknown {
            for name in self.near(u) {
                if out.suggestions.len() < 3 && !out.suggestions.contains(&name) {
                    out.suggestions.push(name);
                }
            }
        }
        out
    }

    /// Field names close to `wanted`: one contains the other, or they differ by at most two
    /// edits (typos).
    fn near(&self, wanted: &str) -> Vec<String> {
        let w = wanted.to_lowercase();
        if w.chars().count() < 3 {
            return Vec::new();
        }
        self.fields
            .iter()
            .filter(|f| {
                let n = f.name.to_lowercase();
                n.contains(&w) || (w.contains(&n) && n.chars().count() >= 3) || edits(&n, &w) <= 2
            })
            .map(|f| f.name.clone())
            .collect()
    }
}

/// Levenshtein distance, stopping early past 2 (only "close enough for a typo" matters).
fn edits(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > 2 {
        return 3;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        if cur.iter().min().is_some_and(|m| *m > 2) {
            return 3;
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A fetched field list and when it was fetched.
type Cached = (Instant, Arc<FieldIndex>);

/// Field lists by `GET /field` URL (one per site and API version).
static FIELD_CACHE: LazyLock<Mutex<HashMap<String, Cached>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn cached(url: &str) -> Option<Cached> {
    FIELD_CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(url)
        .cloned()
}

impl Jira<'_> {
    /// The site's fields: fetched on first use, then reused for the life of the process.
    pub async fn field_index(&self, trace: &CallTrace) -> Result<Arc<FieldIndex>, ApiError> {
        let url = self.url(&["field"]);
        match cached(url.as_str()) {
            Some((_, index)) => Ok(index),
            None => self.fetch_fields(trace, url).await,
        }
    }

    async fn fetch_fields(
        &self,
        trace: &CallTrace,
        url: url::Url,
    ) -> Result<Arc<FieldIndex>, ApiError> {
        let req = ApiRequest::get(Product::Jira, url.clone()).scope("read:jira-work");
        let body = self.get(trace, req).await?;
        if !body.is_array() {
            return Err(decode("field list is not an array"));
        }
        let index = Arc::new(FieldIndex::from_json(&body));
        FIELD_CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(url.to_string(), (Instant::now(), index.clone()));
        Ok(index)
    }

    /// Resolves requested field names or ids against the site's fields (see
    /// [`FieldIndex::resolve`]). When something is not found and the cached list is older
    /// than a few minutes, the list is fetched again first.
    pub async fn resolve_fields(
        &self,
        trace: &CallTrace,
        wanted: &[String],
    ) -> Result<FieldResolution, ApiError> {
        let url = self.url(&["field"]);
        let (fetched, index) = match cached(url.as_str()) {
            Some(hit) => hit,
            None => (Instant::now(), self.fetch_fields(trace, url.clone()).await?),
        };
        let resolution = index.resolve(wanted);
        if resolution.unknown.is_empty() || fetched.elapsed() < REFRESH_AFTER {
            return Ok(resolution);
        }
        Ok(self.fetch_fields(trace, url).await?.resolve(wanted))
    }

    /// How many issues match `jql`, approximately (Cloud's `search/approximate-count`; recent
    /// changes may not be counted yet). Data Center has no such call: its search reports an
    /// exact total, so this answers `None` there without asking.
    pub async fn approximate_count(
        &self,
        trace: &CallTrace,
        jql: &str,
    ) -> Result<Option<u64>, ApiError> {
        if self.api.deployment == Deployment::DataCenter {
            return Ok(None);
        }
        let req = ApiRequest::post(Product::Jira, self.url(&["search", "approximate-count"]))
            .scope("read:jira-work")
            .json(json!({ "jql": jql }));
        let body = self.get(trace, req).await?;
        uint(&body, "count")
            .map(Some)
            .ok_or_else(|| decode("approximate-count response has no `count`"))
    }

    /// [`Jira::issue`] plus `extra_fields` (ids), returned raw in the issue's `extra`.
    pub async fn issue_with_fields(
        &self,
        trace: &CallTrace,
        key: &str,
        include: IssueInclude,
        extra_fields: &[String],
    ) -> Result<IssueDetail, ApiError> {
        let mut expand = Vec::new();
        if include.changelog {
            expand.push("changelog");
        }
        if include.transitions {
            expand.push("transitions");
        }
        let mut fields: Vec<&str> = super::ISSUE_FIELDS.to_vec();
        fields.extend(
            extra_fields
                .iter()
                .map(String::as_str)
                .filter(|f| !super::ISSUE_FIELDS.contains(f)),
        );
        let req = ApiRequest::get(Product::Jira, self.url(&["issue", key]))
            .scope("read:jira-work")
            .query("fields", fields.join(","))
            .query_opt("expand", (!expand.is_empty()).then(|| expand.join(",")));
        let body = self.get(trace, req).await?;
        let issue = super::Issue::from_json(&body, extra_fields)
            .ok_or_else(|| decode("issue response has no `key`"))?;
        Ok(IssueDetail {
            issue,
            changelog: parse_changelog(&body),
            transitions: parse_transitions(&body),
        })
    }
}

/// The `changelog.histories` of an issue response (`expand=changelog`), oldest first.
pub(super) fn parse_changelog(body: &Value) -> Vec<Change> {
    body.get("changelog")
        .map(|c| array(c, "histories"))
        .unwrap_or(&[])
        .iter()
        .map(|h| Change {
            author: h.get("author").and_then(User::from_json),
            created: text(h, "created"),
            items: array(h, "items")
                .iter()
                .filter_map(|i| {
                    Some((
                        text(i, "field")?,
                        text(i, "fromString"),
                        text(i, "toString"),
                    ))
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> FieldIndex {
        FieldIndex::from_json(&json!([
            {"id": "duedate", "name": "Due date", "custom": false, "clauseNames": ["due", "duedate"],
             "schema": {"type": "date", "system": "duedate"}},
            {"id": "customfield_10050", "name": "Severity", "custom": true,
             "clauseNames": ["cf[10050]", "Severity"], "schema": {"type": "option", "customId": 10050}},
            {"id": "customfield_10051", "name": "Severity", "custom": true,
             "clauseNames": ["cf[10051]"], "schema": {"type": "option"}},
            {"id": "fixVersions", "name": "Fix versions", "clauseNames": ["fixVersion"],
             "schema": {"type": "array", "items": "version"}},
            {"name": "no id, skipped"}
        ]))
    }

    #[test]
    fn ids_names_and_clause_names_resolve() {
        let ix = index();
        let ids = |wanted: &[&str]| {
            let r = ix.resolve(&wanted.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            (
                r.found.into_iter().map(|f| f.id).collect::<Vec<_>>(),
                r.unknown,
            )
        };
        assert_eq!(ids(&["duedate"]).0, ["duedate"]);
        assert_eq!(ids(&["fixversions"]).0, ["fixVersions"]);
        assert_eq!(ids(&[" due date "]).0, ["duedate"]);
        assert_eq!(ids(&["due"]).0, ["duedate"]);
        assert_eq!(ids(&["cf[10050]"]).0, ["customfield_10050"]);
        // A shared name gives every field that has it; repeats collapse.
        assert_eq!(
            ids(&["severity", "customfield_10050"]).0,
            ["customfield_10050", "customfield_10051"]
        );
        let (found, unknown) = ids(&["Sevrity", "", "duedate", "Sevrity"]);
        assert_eq!(found, ["duedate"]);
        assert_eq!(unknown, ["Sevrity"]);
        assert!(ix.by_id("duedate").is_some_and(FieldDef::is_date));
        assert!(!ix.by_id("customfield_10050").unwrap().is_date());
    }

    #[test]
    fn unknown_fields_get_close_names() {
        let ix = index();
        let r = ix.resolve(&["Sevrity".to_string()]);
        assert_eq!(r.suggestions, ["Severity"]);
        let r = ix.resolve(&["fix".to_string()]);
        assert_eq!(r.suggestions, ["Fix versions"]);
        let r = ix.resolve(&["zzzzzz".to_string()]);
        assert!(r.suggestions.is_empty());
        assert_eq!(edits("severity", "sevrity"), 1);
        assert_eq!(edits("abc", "abcdefg"), 3);
    }
}
