//! Policy for tools proxied from an upstream MCP server (SPEC §11): which are offered, and
//! which arguments and results stay inside the project and space allowlists.
//!
//! Upstream tools are not in the catalog, so the questions are asked by prefixed name and by
//! the tool's own `readOnlyHint`; arguments are read by what they look like (a JQL or CQL
//! string, an issue key, a project or space key) rather than by a schema the bridge knows.

use serde_json::Value;

use super::{Policy, Refusal};

/// Upstream tools that write whatever their annotations say (Atlassian's v2 generic tools).
const ALWAYS_WRITES: &[&str] = &["executeWrite", "executeDestructive"];

impl Policy {
    /// Whether an upstream tool is offered: `allow_tools` / `deny_tools` by its prefixed name,
    /// and under `read_only` only tools whose annotations say `readOnlyHint: true`.
    pub fn admit_upstream_tool(
        &self,
        prefixed: &str,
        upstream_name: &str,
        read_only_hint: bool,
    ) -> Result<(), String> {
        let s = &self.settings;
        if s.deny_tools.iter().any(|t| t == prefixed) {
            return Err(format!(
                "tool `{prefixed}` is disabled by this bridge's policy (policy.deny_tools)"
            ));
        }
        if !s.allow_tools.is_empty() && !s.allow_tools.iter().any(|t| t == prefixed) {
            return Err(format!(
                "tool `{prefixed}` is not enabled by this bridge's policy (policy.allow_tools)"
            ));
        }
        if s.read_only && !upstream_writes_nothing(upstream_name, read_only_hint) {
            return Err(format!(
                "tool `{prefixed}` is not marked read-only by the upstream server, and this bridge is read-only (policy.read_only)"
            ));
        }
        Ok(())
    }

    /// Checks a proxied call's arguments against the project and space allowlists before
    /// anything is sent, and returns them with every JQL / CQL string confined to the
    /// allowlists (`project in (…) AND (<jql>)`), so a query can only narrow what it finds.
    pub fn admit_upstream_args(
        &self,
        args: Option<&serde_json::Map<String, Value>>,
    ) -> Result<Option<serde_json::Map<String, Value>>, Refusal> {
        let Some(args) = args else {
            return Ok(None);
        };
        let mut out = args.clone();
        for (key, value) in out.iter_mut() {
            self.admit_arg(key, value)?;
        }
        Ok(Some(out))
    }

    fn admit_arg(&self, key: &str, value: &mut Value) -> Result<(), Refusal> {
        let lower = key.to_ascii_lowercase();
        match value {
            Value::String(text) => {
                if lower.contains("jql") {
                    for p in named_keys(text, &["project"]) {
                        self.admit_project(&p)?;
                    }
                    for k in issue_keys_in(text) {
                        self.admit_issue(&k)?;
                    }
                    *text = self
                        .confine_jql(text)
                        .map_err(|e| Refusal::Invalid(format!("{e}; fix the JQL and try again")))?;
                } else if lower.contains("cql") {
                    for s in named_keys(text, &["space", "space.key"]) {
                        self.admit_space(&s)?;
                    }
                    *text = self
                        .confine_cql(text)
                        .map_err(|e| Refusal::Invalid(format!("{e}; fix the CQL and try again")))?;
                } else if lower.contains("space") && !lower.contains("id") {
                    self.admit_space(text.trim())?;
                } else if lower.contains("space") && !self.settings.confluence_spaces.is_empty() {
                    return Err(Refusal::Denied(format!(
                        "`{key}` names a space by id, so policy.confluence_spaces cannot allow it; use a space key"
                    )));
                } else if lower.contains("project") {
                    // A project key or id; ids cannot be checked against the allowlist.
                    let v = text.trim();
                    if v.bytes().all(|b| b.is_ascii_digit()) {
                        if !self.settings.jira_projects.is_empty() {
                            return Err(Refusal::Denied(format!(
                                "`{key}` names a project by id, so policy.jira_projects cannot allow it; use the project key"
                            )));
                        }
                    } else {
                        self.admit_project(v)?;
                    }
                } else if lower.contains("issue") {
                    let v = text.trim();
                    if v.bytes().all(|b| b.is_ascii_digit())
                        && !self.settings.jira_projects.is_empty()
                    {
                        return Err(Refusal::Denied(format!(
                            "`{key}` names an issue by id, so policy.jira_projects cannot allow it; use the issue key"
                        )));
                    }
                    for k in issue_keys_in(v) {
                        self.admit_issue(&k)?;
                    }
                } else if is_issue_key(text.trim()) {
                    self.admit_issue(text.trim())?;
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.admit_arg(key, item)?;
                }
            }
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    self.admit_arg(k, v)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks what a proxied read returned: an issue from a project, or a page from a space,
    /// outside the allowlists withholds the whole result (a page id alone names no space, so
    /// this is where a Confluence page is first seen with its space).
    pub fn admit_upstream_result(&self, result: &Value) -> Result<(), Refusal> {
        if self.settings.jira_projects.is_empty() && self.settings.confluence_spaces.is_empty() {
            return Ok(());
        }
        let mut refusal = None;
        walk(result, &mut |key, value| {
            if refusal.is_some() {
                return;
            }
            let Some(text) = value.as_str() else {
                return;
            };
            let lower = key.to_ascii_lowercase();
            if (lower == "key" || lower == "issuekey") && is_issue_key(text) {
                refusal = self.admit_issue(text).err();
            } else if lower == "projectkey" {
                refusal = self.admit_project(text).err();
            } else if lower == "spacekey" {
                refusal = self.admit_space(text).err();
            }
        });
        match refusal {
            Some(r) => Err(r),
            None => Ok(()),
        }
    }
}

/// True when an upstream tool may run under `read_only`.
fn upstream_writes_nothing(upstream_name: &str, read_only_hint: bool) -> bool {
    read_only_hint && !ALWAYS_WRITES.contains(&upstream_name)
}

/// Visits every `(key, value)` pair in a JSON value, at any depth (array items under the
/// array's key).
pub fn walk(value: &Value, visit: &mut dyn FnMut(&str, &Value)) {
    fn go(key: &str, value: &Value, visit: &mut dyn FnMut(&str, &Value), depth: usize) {
        if depth > 64 {
            return;
        }
        visit(key, value);
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    go(k, v, visit, depth + 1);
                }
            }
            Value::Array(items) => {
                for v in items {
                    go(key, v, visit, depth + 1);
                }
            }
            _ => {}
        }
    }
    go("", value, visit, 0);
}

/// True for a Jira issue key: `ENG-12` (a letter, letters/digits/`_`, a dash, digits).
pub fn is_issue_key(s: &str) -> bool {
    let Some((project, number)) = s.split_once('-') else {
        return false;
    };
    project
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && project
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The issue keys written in a text (words that are issue keys), each once.
pub fn issue_keys_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
        if is_issue_key(word) && !out.iter().any(|k| k == word) {
            out.push(word.to_string());
        }
    }
    out
}

/// The values a JQL/CQL text compares `fields` with (`project = ENG`, `project in (A, "B")`,
/// `space.key != X`), upper-cased for projects by the caller's check (which ignores case).
fn named_keys(text: &str, fields: &[&str]) -> Vec<String> {
    let tokens = tokenize(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let is_field = fields.iter().any(|f| tokens[i].eq_ignore_ascii_case(f));
        if is_field && i + 1 < tokens.len() {
            let op = tokens[i + 1].to_ascii_lowercase();
            let mut j = i + 2;
            if op == "not" && tokens.get(j).is_some_and(|t| t.eq_ignore_ascii_case("in")) {
                j += 1;
            }
            match op.as_str() {
                "=" | "!=" | "~" | "!~" => {
                    if let Some(v) = tokens.get(j) {
                        out.push(v.clone());
                    }
                }
                "in" | "not" if tokens.get(j).is_some_and(|t| t == "(") => {
                    j += 1;
                    while let Some(t) = tokens.get(j) {
                        if t == ")" {
                            break;
                        }
                        if t != "," {
                            out.push(t.clone());
                        }
                        j += 1;
                    }
                }
                _ => {}
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// A tiny JQL/CQL tokenizer: quoted strings (unquoted), words, operators, parentheses, commas.
fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' || c == '\'' {
            chars.next();
            let mut s = String::new();
            while let Some(ch) = chars.next() {
                if ch == '\\' {
                    if let Some(n) = chars.next() {
                        s.push(n);
                    }
                } else if ch == c {
                    break;
                } else {
                    s.push(ch);
                }
            }
            out.push(s);
        } else if c == '(' || c == ')' || c == ',' {
            out.push(c.to_string());
            chars.next();
        } else if c == '!' || c == '=' || c == '~' || c == '<' || c == '>' {
            let mut s = String::new();
            while let Some(&ch) = chars.peek() {
                if matches!(ch, '!' | '=' | '~' | '<' | '>') {
                    s.push(ch);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(s);
        } else {
            let mut s = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace()
                    || matches!(
                        ch,
                        '(' | ')' | ',' | '!' | '=' | '~' | '<' | '>' | '"' | '\''
                    )
                {
                    break;
                }
                s.push(ch);
                chars.next();
            }
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::PolicySettings;

    fn policy(projects: &[&str], spaces: &[&str], read_only: bool) -> Policy {
        Policy::new(PolicySettings {
            jira_projects: projects.iter().map(|s| s.to_string()).collect(),
            confluence_spaces: spaces.iter().map(|s| s.to_string()).collect(),
            read_only,
            deny_tools: vec!["rovo_getConfluencePage".into()],
            ..PolicySettings::default()
        })
    }

    fn args(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn tools_by_prefixed_name_and_read_only_hint() {
        let p = policy(&[], &[], true);
        assert!(
            p.admit_upstream_tool("rovo_getJiraIssue", "getJiraIssue", true)
                .is_ok()
        );
        let e = p
            .admit_upstream_tool("rovo_createJiraIssue", "createJiraIssue", false)
            .unwrap_err();
        assert!(e.contains("read-only"), "{e}");
        assert!(
            p.admit_upstream_tool("rovo_executeWrite", "executeWrite", true)
                .is_err()
        );
        let e = p
            .admit_upstream_tool("rovo_getConfluencePage", "getConfluencePage", true)
            .unwrap_err();
        assert!(e.contains("deny_tools"), "{e}");
        let open = policy(&[], &[], false);
        assert!(
            open.admit_upstream_tool("rovo_createJiraIssue", "createJiraIssue", false)
                .is_ok()
        );
    }

    #[test]
    fn jql_naming_a_project_outside_is_refused_and_the_rest_is_confined() {
        let p = policy(&["ENG", "OPS"], &[], false);
        for jql in [
            "project = SEC",
            "project in (ENG, \"SEC\") ORDER BY created",
            "PROJECT not in (OPS) OR project=sec",
            "key = SEC-3",
        ] {
            let r = p.admit_upstream_args(Some(&args(json!({ "jql": jql }))));
            assert!(
                matches!(r, Err(Refusal::Denied(ref m)) if m.contains("SEC") || m.contains("sec")),
                "{jql}: {r:?}"
            );
        }
        let ok = p
            .admit_upstream_args(Some(&args(
                json!({"cloudId": "x", "jql": "project = ENG ORDER BY updated DESC"}),
            )))
            .unwrap()
            .unwrap();
        assert_eq!(
            ok["jql"],
            json!("project in (\"ENG\", \"OPS\") AND (project = ENG) ORDER BY updated DESC")
        );
        assert_eq!(ok["cloudId"], json!("x"), "other arguments are left alone");
        // Unbalanced JQL cannot escape the group it is wrapped in.
        assert!(matches!(
            p.admit_upstream_args(Some(&args(json!({"jql": "a) OR (b"})))),
            Err(Refusal::Invalid(_))
        ));
    }

    #[test]
    fn keys_ids_and_spaces_in_arguments() {
        let p = policy(&["ENG"], &["ENG"], false);
        assert!(
            p.admit_upstream_args(Some(&args(json!({"issueIdOrKey": "ENG-1"}))))
                .is_ok()
        );
        assert!(
            p.admit_upstream_args(Some(&args(json!({"issueIdOrKey": "OPS-1"}))))
                .is_err()
        );
        assert!(
            p.admit_upstream_args(Some(&args(json!({"issueIdOrKey": "10001"}))))
                .is_err()
        );
        assert!(
            p.admit_upstream_args(Some(&args(json!({"projectKey": "ENG"}))))
                .is_ok()
        );
        assert!(
            p.admit_upstream_args(Some(&args(json!({"projectKey": "SEC"}))))
                .is_err()
        );
        assert!(
            p.admit_upstream_args(Some(&args(json!({"spaceKey": "OPS"}))))
                .is_err()
        );
        assert!(
            p.admit_upstream_args(Some(&args(json!({"spaceId": "98306"}))))
                .is_err()
        );
        assert!(
            p.admit_upstream_args(Some(&args(json!({"cql": "space = OPS"}))))
                .is_err()
        );
        assert!(
            p.admit_upstream_args(Some(&args(json!({"nested": {"keys": ["ENG-2", "OPS-4"]}}))))
                .is_err()
        );
        let open = policy(&[], &[], false);
        assert!(
            open.admit_upstream_args(Some(&args(
                json!({"issueIdOrKey": "10001", "spaceId": "1"})
            )))
            .is_ok()
        );
    }

    #[test]
    fn results_outside_the_allowlists_are_withheld() {
        let p = policy(&["ENG"], &["ENG"], false);
        assert!(
            p.admit_upstream_result(&json!({"issues": [{"key": "ENG-1"}]}))
                .is_ok()
        );
        assert!(
            p.admit_upstream_result(&json!({"issues": [{"key": "ENG-1"}, {"key": "OPS-2"}]}))
                .is_err()
        );
        assert!(
            p.admit_upstream_result(&json!({"id": "200101", "spaceKey": "OPS"}))
                .is_err()
        );
        assert!(
            p.admit_upstream_result(&json!({"id": "100101", "spaceKey": "ENG"}))
                .is_ok()
        );
    }

    #[test]
    fn issue_keys_are_found_in_text() {
        assert_eq!(
            issue_keys_in("see ENG-1, OPS-22 and eng-3 (ENG-1)"),
            vec!["ENG-1", "OPS-22"]
        );
        assert!(!is_issue_key("ENG-"));
        assert!(!is_issue_key("1ENG-2"));
    }
}
