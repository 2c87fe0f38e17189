//! Local guard rails: which tools exist for this session and what data they may touch.

/// Every tool name the product defines (SPEC §5), including tools that later versions add.
///
/// Config validation checks `allow_tools`/`deny_tools` against this list so that a typo is an
/// error instead of a silently ineffective rule.
pub const KNOWN_TOOLS: &[&str] = &[
    "atlassian_whoami",
    "confluence_bulk_create_pages",
    "confluence_create_page",
    "confluence_get_page",
    "confluence_list_spaces",
    "confluence_search",
    "confluence_summarize_page",
    "jira_add_comment",
    "jira_bulk_create_issues",
    "jira_create_issue",
    "jira_get_create_fields",
    "jira_get_issue",
    "jira_list_projects",
    "jira_search",
    "jira_summarize_issue",
    "jira_summarize_search",
    "jira_transition_issue",
];

use crate::config::PolicySettings;

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
    pub fn check_tool(&self, name: &str, read_only_tool: bool) -> Result<(), String> {
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
        if self.settings.read_only && !read_only_tool {
            return Err(format!(
                "tool `{name}` writes to Atlassian, and this bridge is read-only (policy.read_only)"
            ));
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
        let p = Policy::new(PolicySettings {
            deny_tools: vec!["jira_search".into()],
            allow_tools: vec!["jira_search".into(), "jira_get_issue".into()],
            ..PolicySettings::default()
        });
        assert!(
            p.check_tool("jira_search", true)
                .unwrap_err()
                .contains("deny_tools")
        );
        assert!(p.check_tool("jira_get_issue", true).is_ok());
        assert!(
            p.check_tool("confluence_search", true)
                .unwrap_err()
                .contains("allow_tools")
        );
        let p = Policy::new(PolicySettings {
            read_only: true,
            ..PolicySettings::default()
        });
        assert!(
            p.check_tool("jira_create_issue", false)
                .unwrap_err()
                .contains("read-only")
        );
        assert!(p.check_tool("jira_search", true).is_ok());
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
