//! Local guard rails: which tools exist for this session and what data they may touch.
//!
//! [`upstream`]: the same questions for tools proxied from an upstream MCP server (SPEC §11).

pub mod upstream;

use crate::catalog::{Access, ToolInfo};
use crate::config::{ConfirmWrites, PolicySettings};

/// What to do before a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    /// Ask the person (once per call) and go ahead only on a yes.
    Ask,
    /// Go ahead without asking.
    Proceed,
    /// Refuse: confirmation is required and cannot be had.
    Refuse(String),
}

/// Why policy refused something: the caller maps it to its own error type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Outside what this bridge allows (a `denied` audit outcome).
    Denied(String),
    /// The request itself is malformed in a way policy cannot confine (an `error` outcome).
    Invalid(String),
}

/// Fields whose values describe *other* issues (possibly outside the project allowlist).
const CROSS_PROJECT_FIELDS: &[&str] = &["issuelinks", "subtasks", "parent"];

/// The policy in force for this process, answering every "may this happen?" question.
#[derive(Debug, Clone)]
pub struct Policy {
    settings: PolicySettings,
}

impl Policy {
    /// Wraps validated settings.
    pub fn new(settings: PolicySettings) -> Self {
        Self { settings }
    }

    /// The settings, for `whoami` and `status`.
    pub fn settings(&self) -> &PolicySettings {
        &self.settings
    }

    /// Whether a tool is offered at all; `Err` carries the reason shown when it is called anyway.
    pub fn admit_tool(&self, tool: &ToolInfo) -> Result<(), String> {
        let name = tool.name;
        if self.settings.deny_tools.iter().any(|t| t == name) {
            return Err(format!(
                "tool `{name}` is disabled by this bridge's policy (policy.deny_tools)"
            ));
        }
        if !self.settings.allow_tools.is_empty()
            && !self.settings.allow_tools.iter().any(|t| t == name)
        {
            return Err(format!(
                "tool `{name}` is not enabled by this bridge's policy (policy.allow_tools)"
            ));
        }
        if self.settings.read_only && tool.access == Access::Write {
            return Err(format!(
                "tool `{name}` writes to Atlassian, and this bridge is read-only (policy.read_only)"
            ));
        }
        Ok(())
    }

    /// Admits a JQL query: refuses an empty one when nothing confines it, and returns it
    /// wrapped in the project allowlist (`project in (…) AND (<jql>) ORDER BY …`).
    pub fn admit_jql(&self, jql: &str) -> Result<String, Refusal> {
        let jql = jql.trim();
        if jql.is_empty() && self.settings.jira_projects.is_empty() {
            return Err(Refusal::Invalid(
                "jql must not be empty; e.g. `assignee = currentUser() AND resolution = Unresolved ORDER BY updated DESC`".to_string(),
            ));
        }
        self.confine_jql(jql)
            .map_err(|e| Refusal::Invalid(format!("{e}; fix the JQL and try again")))
    }

    /// Admits a CQL query like [`Policy::admit_jql`], confined to the space allowlist.
    pub fn admit_cql(&self, cql: &str) -> Result<String, Refusal> {
        let cql = cql.trim();
        if cql.is_empty() && self.settings.confluence_spaces.is_empty() {
            return Err(Refusal::Invalid(
                "cql must not be empty; e.g. `type = page AND text ~ \"onboarding\"`".to_string(),
            ));
        }
        self.confine_cql(cql)
            .map_err(|e| Refusal::Invalid(format!("{e}; fix the CQL and try again")))
    }

    /// Admits extra search fields: fields that describe *other* issues (links, sub-tasks,
    /// parent) could show issues outside the project allowlist, so they are refused under one.
    pub fn admit_search_fields(&self, fields: &[String]) -> Result<(), Refusal> {
        if self.settings.jira_projects.is_empty() {
            return Ok(());
        }
        match fields
            .iter()
            .find(|f| CROSS_PROJECT_FIELDS.contains(&f.as_str()))
        {
            Some(f) => Err(Refusal::Denied(format!(
                "field `{f}` can show issues from other projects, so it is not available while policy.jira_projects is set"
            ))),
            None => Ok(()),
        }
    }

    /// Admits a request naming an issue key, before anything is fetched or written.
    ///
    /// Numeric issue ids name no project; [`Policy::admit_fetched_issue`] checks those.
    pub fn admit_issue(&self, key: &str) -> Result<(), Refusal> {
        self.check_issue_key(key).map_err(Refusal::Denied)
    }

    /// Admits an issue once its current project is known (a key may resolve to a moved issue).
    pub fn admit_fetched_issue(&self, key: &str, project: Option<&str>) -> Result<(), Refusal> {
        match project {
            Some(p) if self.project_allowed(p) => Ok(()),
            Some(p) => Err(Refusal::Denied(self.project_denial(p))),
            None if self.settings.jira_projects.is_empty() => Ok(()),
            None => Err(Refusal::Denied(format!(
                "issue {key} names no project, so policy.jira_projects cannot allow it"
            ))),
        }
    }

    /// True when an issue seen in a result may be shown: with an allowlist, an issue must
    /// prove its project (by its project field, else by its key).
    pub fn issue_visible(&self, key: &str, project: Option<&str>) -> bool {
        match project {
            Some(p) => self.project_allowed(p),
            None => self.settings.jira_projects.is_empty() && self.check_issue_key(key).is_ok(),
        }
    }

    /// Admits a project as the target of a create (or the subject of createmeta).
    pub fn admit_project(&self, project: &str) -> Result<(), Refusal> {
        if self.project_allowed(project) {
            Ok(())
        } else {
            Err(Refusal::Denied(self.project_denial(project)))
        }
    }

    /// Admits a space as the target of a page create or a space listing.
    pub fn admit_space(&self, space: &str) -> Result<(), Refusal> {
        if self.space_allowed(space) {
            Ok(())
        } else {
            Err(Refusal::Denied(self.space_denial(space)))
        }
    }

    /// Admits a page once its space is known.
    pub fn admit_fetched_page(&self, id: &str, space: Option<&str>) -> Result<(), Refusal> {
        if self.settings.confluence_spaces.is_empty() {
            return Ok(());
        }
        match space {
            Some(key) if self.space_allowed(key) => Ok(()),
            Some(key) => Err(Refusal::Denied(format!(
                "page {id} is in space {key}; {}",
                self.space_denial(key)
            ))),
            None => Err(Refusal::Denied(format!(
                "page {id}'s space could not be determined, so policy.confluence_spaces cannot allow it"
            ))),
        }
    }

    /// Whether to ask the person before a write (`policy.confirm_writes`, SPEC §9), given
    /// whether this client can be asked.
    pub fn confirmation(&self, client_can_ask: bool) -> Confirm {
        match (self.settings.confirm_writes, client_can_ask) {
            (ConfirmWrites::Never, _) => Confirm::Proceed,
            (_, true) => Confirm::Ask,
            (ConfirmWrites::Auto, false) => Confirm::Proceed,
            (ConfirmWrites::Always, false) => Confirm::Refuse(
                "this bridge asks before every write (policy.confirm_writes = \"always\"), and this client cannot be asked (it offers no form elicitation); nothing was sent".to_string(),
            ),
        }
    }

    /// Admits a bulk call of `items` items against `policy.max_bulk_items`, before anything
    /// is sent.
    pub fn admit_bulk(&self, items: usize) -> Result<(), Refusal> {
        let max = self.settings.max_bulk_items;
        if items > max as usize {
            return Err(Refusal::Denied(format!(
                "{items} items is more than this bridge allows in one bulk call ({max}, policy.max_bulk_items); split the items into calls of at most {max}"
            )));
        }
        Ok(())
    }

    /// True when a Jira project key may be read or written.
    pub fn project_allowed(&self, key: &str) -> bool {
        self.settings.jira_projects.is_empty()
            || self
                .settings
                .jira_projects
                .iter()
                .any(|p| p.eq_ignore_ascii_case(key))
    }

    /// True when a Confluence space key may be read or written.
    pub fn space_allowed(&self, key: &str) -> bool {
        self.settings.confluence_spaces.is_empty()
            || self
                .settings
                .confluence_spaces
                .iter()
                .any(|s| s.eq_ignore_ascii_case(key))
    }

    /// Denial reason for an issue key outside `policy.jira_projects`.
    ///
    /// Numeric issue ids name no project; callers check the fetched issue's project instead.
    pub fn check_issue_key(&self, key: &str) -> Result<(), String> {
        if key.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(());
        }
        let project = key.split('-').next().unwrap_or_default();
        if self.project_allowed(project) {
            Ok(())
        } else {
            Err(self.project_denial(project))
        }
    }

    /// The message for a project outside the allowlist.
    pub fn project_denial(&self, project: &str) -> String {
        format!(
            "project `{project}` is outside this bridge's allowed projects ({}) (policy.jira_projects)",
            self.settings.jira_projects.join(", ")
        )
    }

    /// The message for a space outside the allowlist.
    pub fn space_denial(&self, space: &str) -> String {
        format!(
            "space `{space}` is outside this bridge's allowed spaces ({}) (policy.confluence_spaces)",
            self.settings.confluence_spaces.join(", ")
        )
    }

    /// Confines a JQL query to the allowed projects: `project in (…) AND (<jql>) ORDER BY …`.
    ///
    /// The user's query can only narrow the result: it is checked for balanced quotes and
    /// parentheses so it cannot close the group it is wrapped in.
    pub fn confine_jql(&self, jql: &str) -> Result<String, String> {
        confine(jql, "project", &self.settings.jira_projects)
    }

    /// Confines a CQL query to the allowed spaces, like [`Policy::confine_jql`].
    pub fn confine_cql(&self, cql: &str) -> Result<String, String> {
        confine(cql, "space", &self.settings.confluence_spaces)
    }
}

fn confine(query: &str, field: &str, allowed: &[String]) -> Result<String, String> {
    if allowed.is_empty() {
        return Ok(query.to_string());
    }
    let (head, order_by) = split_order_by(query)?;
    let list = allowed
        .iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = format!("{field} in ({list})");
    let head = head.trim();
    if !head.is_empty() {
        out.push_str(" AND (");
        out.push_str(head);
        out.push(')');
    }
    if let Some(order) = order_by {
        out.push(' ');
        out.push_str(order.trim());
    }
    Ok(out)
}

/// Splits a JQL/CQL query at its top-level `ORDER BY` (outside quotes and parentheses).
///
/// Fails on unbalanced quotes or parentheses, which would otherwise let a query escape the
/// group it is wrapped in.
pub fn split_order_by(query: &str) -> Result<(&str, Option<&str>), String> {
    let bytes = query.as_bytes();
    let mut depth: i32 = 0;
    let mut quote: Option<u8> = None;
    let mut order_at = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None => match b {
                // JQL and CQL also accept backslash escapes outside quotes (`a\"b`); skip the
                // escaped byte so it cannot open or close a string behind our back.
                b'\\' => i += 1,
                b'"' | b'\'' => quote = Some(b),
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth < 0 {
                        return Err("the query has a `)` without a matching `(`".to_string());
                    }
                }
                b'o' | b'O' if depth == 0 && order_at.is_none() && is_order_by(query, i) => {
                    order_at = Some(i);
                }
                _ => {}
            },
        }
        i += 1;
    }
    if quote.is_some() {
        return Err("the query has an unterminated quoted string".to_string());
    }
    if depth != 0 {
        return Err("the query has a `(` without a matching `)`".to_string());
    }
    Ok(match order_at {
        Some(at) => (&query[..at], Some(&query[at..])),
        None => (query, None),
    })
}

/// True when `ORDER BY` (any case, any whitespace between) starts at byte `i` as whole words.
fn is_order_by(query: &str, i: usize) -> bool {
    let before_ok = i == 0
        || query[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_whitespace() || c == ')');
    if !before_ok {
        return false;
    }
    let rest = &query[i..];
    let Some(after_order) = rest.get(..5).filter(|w| w.eq_ignore_ascii_case("order")) else {
        return false;
    };
    let tail = &rest[after_order.len()..];
    let trimmed = tail.trim_start();
    if trimmed.len() == tail.len() {
        return false;
    }
    trimmed
        .get(..2)
        .is_some_and(|w| w.eq_ignore_ascii_case("by"))
        && trimmed[2..]
            .chars()
            .next()
            .is_none_or(|c| c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(projects: &[&str], spaces: &[&str]) -> Policy {
        Policy::new(PolicySettings {
            jira_projects: projects.iter().map(|s| s.to_string()).collect(),
            confluence_spaces: spaces.iter().map(|s| s.to_string()).collect(),
            ..PolicySettings::default()
        })
    }

    #[test]
    fn no_allowlist_leaves_query_alone() {
        let p = policy(&[], &[]);
        assert_eq!(p.confine_jql("status = Open").unwrap(), "status = Open");
    }

    #[test]
    fn wraps_and_keeps_order_by_outside() {
        let p = policy(&["ENG", "OPS"], &["DOCS"]);
        assert_eq!(
            p.confine_jql("status = Open OR assignee = currentUser() ORDER BY created DESC")
                .unwrap(),
            "project in (\"ENG\", \"OPS\") AND (status = Open OR assignee = currentUser()) ORDER BY created DESC"
        );
        assert_eq!(
            p.confine_jql("order   by key").unwrap(),
            "project in (\"ENG\", \"OPS\") order   by key"
        );
        assert_eq!(
            p.confine_cql("text ~ \"sort order by date\" and type = page")
                .unwrap(),
            "space in (\"DOCS\") AND (text ~ \"sort order by date\" and type = page)"
        );
        // "border" contains "order" but is not the ORDER BY keyword.
        assert_eq!(
            p.confine_jql("summary ~ border").unwrap(),
            "project in (\"ENG\", \"OPS\") AND (summary ~ border)"
        );
    }

    #[test]
    fn cannot_escape_the_group() {
        let p = policy(&["ENG"], &[]);
        for bad in [
            "x = 1) OR (project = SECRET",
            "x = 1) OR project = SECRET OR (y = 2",
            "summary ~ \"abc",
            "((status = Open)",
            "summary ~ 'it\\'s ) or (",
            // Backslash escapes outside quotes must not hide a quote from the scanner.
            "summary ~ a\\\" ) OR project = SECRET OR ( summary ~ '\"' AND summary ~ \"'\\\"\"",
        ] {
            assert!(p.confine_jql(bad).is_err(), "{bad} must be rejected");
        }
        // A quoted parenthesis is fine.
        assert!(p.confine_jql("summary ~ \"a ) b\"").is_ok());
    }

    #[test]
    fn tool_checks() {
        let tool = |n: &str| crate::catalog::find(n).unwrap();
        let p = Policy::new(PolicySettings {
            deny_tools: vec!["jira_search".into()],
            allow_tools: vec!["jira_search".into(), "jira_get_issue".into()],
            ..PolicySettings::default()
        });
        assert!(
            p.admit_tool(tool("jira_search"))
                .unwrap_err()
                .contains("deny_tools")
        );
        assert!(p.admit_tool(tool("jira_get_issue")).is_ok());
        assert!(
            p.admit_tool(tool("confluence_search"))
                .unwrap_err()
                .contains("allow_tools")
        );
        let p = Policy::new(PolicySettings {
            read_only: true,
            ..PolicySettings::default()
        });
        assert!(
            p.admit_tool(tool("jira_create_issue"))
                .unwrap_err()
                .contains("read-only")
        );
        assert!(p.admit_tool(tool("jira_search")).is_ok());
    }

    #[test]
    fn bulk_limit_names_the_limit() {
        let p = Policy::new(PolicySettings {
            max_bulk_items: 10,
            ..PolicySettings::default()
        });
        assert!(p.admit_bulk(10).is_ok());
        let Err(Refusal::Denied(m)) = p.admit_bulk(11) else {
            panic!("11 > 10 must be refused");
        };
        assert!(m.contains("max_bulk_items") && m.contains("10"), "{m}");
    }

    #[test]
    fn fetched_items_prove_their_container() {
        let p = policy(&["ENG"], &["DOCS"]);
        assert!(p.admit_fetched_issue("10001", Some("ENG")).is_ok());
        assert!(p.admit_fetched_issue("10001", Some("SEC")).is_err());
        assert!(p.admit_fetched_issue("10001", None).is_err());
        assert!(p.admit_fetched_page("1", Some("DOCS")).is_ok());
        assert!(p.admit_fetched_page("1", None).is_err());
        assert!(
            !p.issue_visible("ENG-1", None),
            "with an allowlist the project field is needed"
        );
        assert!(p.issue_visible("X-1", Some("ENG")));
        assert!(p.admit_search_fields(&["issuelinks".into()]).is_err());
        let open = Policy::new(PolicySettings::default());
        assert!(open.issue_visible("ENG-1", None));
        assert!(open.admit_search_fields(&["issuelinks".into()]).is_ok());
    }

    #[test]
    fn issue_keys_and_spaces() {
        let p = policy(&["ENG"], &["DOCS"]);
        assert!(p.check_issue_key("ENG-1").is_ok());
        assert!(p.check_issue_key("eng-1").is_ok());
        assert!(p.check_issue_key("SEC-1").is_err());
        assert!(p.space_allowed("DOCS"));
        assert!(!p.space_allowed("HR"));
    }
}
