//! Jira tools, one file per tool (its arguments, output, rendering and handler together), and
//! the small helpers they share.

pub mod add_comment;
pub mod bulk_create_issues;
pub mod create_fields;
pub mod create_issue;
pub mod get_issue;
pub mod issue_input;
pub mod list_projects;
pub mod search;
pub mod summarize_issue;
pub mod summarize_search;
pub mod transition_issue;
pub mod update_issue;

use serde_json::Value;

use crate::atlassian::CallTrace;
use crate::atlassian::jira::fields::FieldDef;
use crate::atlassian::jira::{IssueInclude, User};
use crate::convert;
use crate::mcp::render::clip;
use crate::mcp::{State, ToolError};
use crate::sanitize::clean_text;

/// A user's display label, if there is a user.
pub(crate) fn user_name(u: &Option<User>) -> Option<String> {
    u.as_ref().map(User::label)
}

/// A compact text form of an arbitrary field value (names of objects, ADF as Markdown).
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => clean_text(s),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(", "),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("doc") => {
            convert::adf_to_markdown(v)
        }
        Value::Object(o) => ["displayName", "name", "value", "key"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str).map(clean_text))
            .unwrap_or_else(|| clean_text(&v.to_string())),
        other => other.to_string(),
    }
}

/// A key (`ENG-42`, any case) upper-cased, if `raw` is one.
fn as_key(raw: &str) -> Option<String> {
    let key = raw.trim().to_ascii_uppercase();
    let valid = key.split_once('-').is_some_and(|(p, n)| {
        p.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit())
    });
    valid.then_some(key)
}

/// A link to an issue, as agents copy it from a browser or a chat.
struct IssueLink {
    /// The key it names.
    key: String,
    /// The link itself (its host is checked against the configured site).
    url: url::Url,
}

/// `acme.atlassian.net`, `jira.corp:8443`: dotted names of letters, digits and hyphens.
fn looks_like_host(s: &str) -> bool {
    let name = s.split_once(':').map_or(s, |(h, _)| h);
    name.contains('.')
        && name.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Reads `raw` as a link to an issue, if it is a link at all: `…/browse/ENG-42`, a board or
/// backlog link with `selectedIssue=ENG-42`, `…/issues/ENG-42` or a queue link ending in the
/// key (the last path segment that is a key). `Ok(None)` for text that is not a link; an error
/// for a link that names no issue.
fn issue_link(raw: &str) -> Result<Option<IssueLink>, ToolError> {
    let trimmed = raw.trim();
    let lower = trimmed.to_ascii_lowercase();
    let url = if lower.starts_with("https://") || lower.starts_with("http://") {
        url::Url::parse(trimmed).ok()
    } else if looks_like_host(trimmed.split('/').next().unwrap_or("")) {
        // `acme.atlassian.net/browse/ENG-42`, copied without its scheme.
        url::Url::parse(&format!("https://{trimmed}")).ok()
    } else {
        None
    };
    let Some(url) = url.filter(|u| u.host_str().is_some()) else {
        return Ok(None);
    };
    let selected = url
        .query_pairs()
        .find(|(k, _)| k == "selectedIssue")
        .and_then(|(_, v)| as_key(&v));
    // A Confluence page (`/wiki/…`) may have a key-like title; it is not the issue.
    let confluence = url.path_segments().and_then(|mut s| s.next()) == Some("wiki");
    let in_path = || {
        url.path_segments()
            .filter(|_| !confluence)
            .and_then(|mut segments| segments.rfind(|s| as_key(s).is_some()))
            .and_then(as_key)
    };
    match selected.or_else(in_path) {
        Some(key) => Ok(Some(IssueLink { key, url })),
        None => Err(ToolError::Invalid(format!(
            "`{}` names no issue; pass an issue key like ENG-42 or a link like …/browse/ENG-42",
            clip(trimmed, 200)
        ))),
    }
}

/// Validates an issue reference and normalizes it to a key (upper case) or numeric id: a key,
/// an id, or a link to the issue (see [`issue_key_on`], which also checks the link's site).
pub(crate) fn issue_key(raw: &str) -> Result<String, ToolError> {
    if let Some(link) = issue_link(raw)? {
        return Ok(link.key);
    }
    let key = raw.trim().to_ascii_uppercase();
    let valid_id = !key.is_empty() && key.chars().all(|c| c.is_ascii_digit());
    if valid_id {
        return Ok(key);
    }
    as_key(&key).ok_or_else(|| {
        ToolError::Invalid(format!(
            "`{}` is not an issue key; expected something like ENG-42 or a link to the issue",
            clip(raw, 60)
        ))
    })
}

/// [`issue_key`] for a server connected to `site`: a link must point at that site (same host
/// and port) — a link to another Atlassian site is almost always a mistake, and the same key
/// there names a different issue — and the refusal names the site this server reads.
pub(crate) fn issue_key_on(site: &url::Url, raw: &str) -> Result<String, ToolError> {
    let Some(link) = issue_link(raw)? else {
        return issue_key(raw);
    };
    let same_site = link
        .url
        .host_str()
        .zip(site.host_str())
        .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
        && link.url.port_or_known_default() == site.port_or_known_default();
    if same_site {
        return Ok(link.key);
    }
    let host = |u: &url::Url| match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => u.to_string(),
    };
    Err(ToolError::Invalid(format!(
        "the link points at {}, but this server is connected to {}; pass the issue key ({}) if \
         you mean the issue of that key on {}",
        host(&link.url),
        host(site),
        link.key,
        host(site)
    )))
}

/// Extra fields a read was asked for, resolved against the site's field list.
#[derive(Debug, Default)]
pub(crate) struct WantedFields {
    /// Fields to ask Jira for, in the order asked (shown by their names).
    pub found: Vec<FieldDef>,
    /// What was asked for and names no field.
    pub unknown: Vec<String>,
    /// What to tell the caller about `unknown` (or about names that could not be looked up).
    pub note: Option<String>,
}

impl WantedFields {
    /// The ids to ask Jira for.
    pub fn ids(&self) -> Vec<String> {
        self.found.iter().map(|f| f.id.clone()).collect()
    }
}

/// A field id as Jira spells ids (`reporter`, `customfield_10016`, `timetracking.remaining`).
fn looks_like_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// Resolves requested field names or ids (custom fields by their names too) against the
/// site's fields, then checks them against policy. Nothing unknown is sent to Jira, which
/// would silently ignore it: unknown fields are named in [`WantedFields::note`]. When the
/// field list cannot be had, id-like entries are used as they are and the rest are named.
pub(crate) async fn wanted_fields(
    state: &State,
    trace: &CallTrace,
    raw: Option<Vec<String>>,
) -> Result<WantedFields, ToolError> {
    let asked: Vec<String> = raw
        .unwrap_or_default()
        .iter()
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect();
    if asked.is_empty() {
        return Ok(WantedFields::default());
    }
    if let Some(bad) = asked
        .iter()
        .find(|f| f.chars().count() > 200 || f.chars().any(char::is_control))
    {
        return Err(ToolError::Invalid(format!(
            "`{}` is not a field id or name",
            clip(bad, 60)
        )));
    }
    let hint = "name fields by id or by their name in Jira, as jira_get_create_fields lists \
                them";
    let wanted = match state.api.jira().resolve_fields(trace, &asked).await {
        Ok(r) => {
            let note = (!r.unknown.is_empty()).then(|| {
                let guess = if r.suggestions.is_empty() {
                    String::new()
                } else {
                    format!(" (did you mean {}?)", r.suggestions.join(", "))
                };
                format!("unknown field(s): {}{guess}; {hint}", r.unknown.join(", "))
            });
            WantedFields {
                found: r.found,
                unknown: r.unknown,
                note,
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, "field list unavailable; using field ids as given");
            let (ids, names): (Vec<String>, Vec<String>) =
                asked.into_iter().partition(|f| looks_like_id(f));
            let note = (!names.is_empty()).then(|| {
                format!(
                    "field name(s) not looked up (the site's field list could not be read: {}): \
                     {}; ask by field id instead",
                    e.user_message(),
                    names.join(", ")
                )
            });
            WantedFields {
                found: ids
                    .into_iter()
                    .map(|id| FieldDef {
                        name: id.clone(),
                        id,
                        custom: false,
                        kind: None,
                        clause_names: Vec::new(),
                    })
                    .collect(),
                unknown: names,
                note,
            }
        }
    };
    state.policy.admit_search_fields(&wanted.ids())?;
    Ok(wanted)
}

/// Validates a project key and normalizes its case.
pub(crate) fn project_key(raw: &str) -> Result<String, ToolError> {
    let key = raw.trim().to_ascii_uppercase();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        let shown: String = raw.chars().take(60).collect();
        return Err(ToolError::Invalid(format!(
            "`{shown}` is not a project key; expected something like ENG"
        )));
    }
    Ok(key)
}

/// Admits a write to an existing issue: its key must be allowed, and with a project allowlist
/// the issue is looked up first, because a key can resolve to an issue that has moved to
/// another project. Returns the normalized key; a missing issue is named.
pub(crate) async fn admit_existing_issue(
    state: &State,
    trace: &CallTrace,
    raw: &str,
) -> Result<String, ToolError> {
    let key = issue_key_on(state.api.site(), raw)?;
    state.policy.admit_issue(&key)?;
    if !state.policy.settings().jira_projects.is_empty() {
        let found = state
            .api
            .jira()
            .issue(trace, &key, IssueInclude::default())
            .await
            .map_err(ToolError::naming(&key))?;
        state
            .policy
            .admit_fetched_issue(&key, found.issue.project_key.as_deref())?;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_keys() {
        assert_eq!(issue_key(" eng-42 ").unwrap(), "ENG-42");
        assert_eq!(issue_key("10001").unwrap(), "10001");
        for bad in ["", "ENG", "ENG-", "-1", "ENG-1a", "EN G-1", "../x"] {
            assert!(issue_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn issue_links() {
        let site = url::Url::parse("https://acme.atlassian.net").unwrap();
        for link in [
            "https://acme.atlassian.net/browse/ACME-3",
            "https://ACME.atlassian.net/browse/acme-3/",
            "acme.atlassian.net/browse/ACME-3",
            "https://acme.atlassian.net/browse/ACME-3?focusedCommentId=1#comment-1",
            "https://acme.atlassian.net/jira/software/projects/ACME/boards/1?selectedIssue=ACME-3",
            "https://acme.atlassian.net/jira/software/c/projects/ACME/issues/ACME-3?jql=x",
            "https://acme.atlassian.net/jira/servicedesk/projects/ACME/queues/custom/1/ACME-3",
        ] {
            assert_eq!(issue_key_on(&site, link).unwrap(), "ACME-3", "{link}");
        }
        assert_eq!(issue_key_on(&site, "acme-3").unwrap(), "ACME-3");
        assert_eq!(issue_key_on(&site, "10001").unwrap(), "10001");
        let other = issue_key_on(&site, "https://other.atlassian.net/browse/ACME-3");
        match other {
            Err(ToolError::Invalid(m)) => {
                assert!(m.contains("other.atlassian.net"), "{m}");
                assert!(m.contains("acme.atlassian.net"), "{m}");
                assert!(m.contains("ACME-3"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        // Another port on the same host is another site (a sandbox, a proxy).
        let local = url::Url::parse("http://127.0.0.1:8080").unwrap();
        assert!(issue_key_on(&local, "http://127.0.0.1:8080/browse/A-1").is_ok());
        assert!(issue_key_on(&local, "http://127.0.0.1:9090/browse/A-1").is_err());
        for no_issue in [
            "https://acme.atlassian.net/jira/your-work",
            "https://acme.atlassian.net/wiki/spaces/ENG/pages/1/ACME-3",
            "https://acme.atlassian.net/browse/",
        ] {
            match issue_key_on(&site, no_issue) {
                Err(ToolError::Invalid(m)) => assert!(m.contains("names no issue"), "{m}"),
                other => panic!("{no_issue}: {other:?}"),
            }
        }
        // Without a site, links are read wherever they point.
        assert_eq!(
            issue_key("https://other.atlassian.net/browse/ACME-3").unwrap(),
            "ACME-3"
        );
    }

    #[test]
    fn value_text_simplifies() {
        assert_eq!(value_text(&serde_json::json!({"name": "High"})), "High");
        assert_eq!(
            value_text(&serde_json::json!([{"value": "a"}, "b"])),
            "a, b"
        );
        assert_eq!(value_text(&serde_json::json!(3)), "3");
    }
}
