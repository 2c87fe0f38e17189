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
    ///
    /// Arguments are recognised by name (`issueIdOrKey`, `projectKey`, `spaceId`, `pageId` …,
    /// any case) and by shape (a JQL/CQL string, a path or ARI naming an issue key). Under an
    /// allowlist, what cannot be checked is refused: an issue, project or space named by id,
    /// and a page named by id in a call that may write (`writes`), since its space is unknown
    /// until it is read.
    pub fn admit_upstream_args(
        &self,
        args: Option<&serde_json::Map<String, Value>>,
        writes: bool,
    ) -> Result<Option<serde_json::Map<String, Value>>, Refusal> {
        let Some(args) = args else {
            return Ok(None);
        };
        let mut out = args.clone();
        for (key, value) in out.iter_mut() {
            self.admit_arg(key, value, writes, "")?;
        }
        Ok(Some(out))
    }

    fn admit_arg(
        &self,
        key: &str,
        value: &mut Value,
        writes: bool,
        parent: &str,
    ) -> Result<(), Refusal> {
        // `{"project": {"key": "ENG"}}` is a project key; `{"parent": {"key": …}}` an issue.
        let lower = match key.to_ascii_lowercase().as_str() {
            "key" | "id" if !parent.is_empty() => parent.to_ascii_lowercase(),
            other => other.to_string(),
        };
        let projects = !self.settings.jira_projects.is_empty();
        let spaces = !self.settings.confluence_spaces.is_empty();
        match value {
            Value::Array(items) => {
                for item in items {
                    self.admit_arg(key, item, writes, parent)?;
                }
                return Ok(());
            }
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    self.admit_arg(k, v, writes, key)?;
                }
                return Ok(());
            }
            _ => {}
        }
        // Numbers and strings alike: `{"issueIdOrKey": 10001}` is an id too.
        let text = match value {
            Value::String(t) => t.trim().to_string(),
            Value::Number(n) => n.to_string(),
            _ => return Ok(()),
        };
        let numeric = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        let by_id = |what: &str, rule: &str| {
            Refusal::Denied(format!(
                "`{key}` names {what} by id, so {rule} cannot allow it; name it by its key instead"
            ))
        };
        if lower.contains("jql") {
            if let Value::String(jql) = value {
                for p in named_keys(jql, &["project"]) {
                    self.admit_project(&p.to_ascii_uppercase())?;
                }
                for k in issue_keys_in(jql) {
                    self.admit_issue(&k)?;
                }
                *jql = self
                    .confine_jql(jql)
                    .map_err(|e| Refusal::Invalid(format!("{e}; fix the JQL and try again")))?;
            }
        } else if lower.contains("cql") {
            if let Value::String(cql) = value {
                for s in named_keys(cql, &["space", "space.key"]) {
                    self.admit_space(&s)?;
                }
                *cql = self
                    .confine_cql(cql)
                    .map_err(|e| Refusal::Invalid(format!("{e}; fix the CQL and try again")))?;
            }
        } else if ISSUE_ARGS.contains(&lower.as_str()) {
            if numeric && projects {
                return Err(by_id("an issue", "policy.jira_projects"));
            }
            if !numeric {
                for k in text.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                    let upper = k.to_ascii_uppercase();
                    if is_issue_key(&upper) {
                        self.admit_issue(&upper)?;
                    } else if projects {
                        return Err(Refusal::Denied(format!(
                            "`{key}` is `{}`, which is not an issue key, so policy.jira_projects cannot allow it",
                            k.chars().take(40).collect::<String>()
                        )));
                    }
                }
            }
        } else if PROJECT_ARGS.contains(&lower.as_str()) {
            if numeric && projects {
                return Err(by_id("a project", "policy.jira_projects"));
            }
            if !numeric {
                self.admit_project(&text.to_ascii_uppercase())?;
            }
        } else if SPACE_ARGS.contains(&lower.as_str()) {
            if numeric && spaces {
                return Err(by_id("a space", "policy.confluence_spaces"));
            }
            if !numeric {
                self.admit_space(&text)?;
            }
        } else if PAGE_ARGS.contains(&lower.as_str()) {
            if writes && spaces {
                return Err(Refusal::Denied(format!(
                    "`{key}` names a page by id in a call that may write, and its space cannot be checked against policy.confluence_spaces before sending; use the bridge's own Confluence tools, which check the page's space first"
                )));
            }
        } else if text.contains('/') || text.to_ascii_lowercase().starts_with("ari:") {
            // A path or ARI may carry an issue key: `/rest/api/3/issue/SEC-1`.
            for k in issue_keys_in(&text.to_ascii_uppercase()) {
                self.admit_issue(&k)?;
            }
        } else if is_issue_key(&text.to_ascii_uppercase()) {
            self.admit_issue(&text.to_ascii_uppercase())?;
        }
        Ok(())
    }

    /// Checks what a proxied call returned: an issue from a project, or a project, space or
    /// page outside the allowlists withholds the whole answer. A page must prove its space by
    /// key (Confluence's v2 answers name spaces by id only, which the bridge cannot check);
    /// `text` is the answer's non-JSON text, in which any issue key is checked.
    pub fn admit_upstream_result(&self, result: &Value) -> Result<(), Refusal> {
        if self.settings.jira_projects.is_empty() && self.settings.confluence_spaces.is_empty() {
            return Ok(());
        }
        let mut refusal = None;
        walk(result, &mut |key, value| {
            if refusal.is_some() {
                return;
            }
            refusal = self.check_result_item(key, value).err();
        });
        match refusal {
            Some(r) => Err(r),
            None => Ok(()),
        }
    }

    /// Checks an answer's plain text (not JSON): every issue key written in it.
    pub fn admit_upstream_text(&self, text: &str) -> Result<(), Refusal> {
        if self.settings.jira_projects.is_empty() {
            return Ok(());
        }
        for k in issue_keys_in(text) {
            self.admit_issue(&k)?;
        }
        Ok(())
    }

    fn check_result_item(&self, key: &str, value: &Value) -> Result<(), Refusal> {
        let lower = key.to_ascii_lowercase();
        if let Some(text) = value.as_str() {
            let upper = text.to_ascii_uppercase();
            return match lower.as_str() {
                "key" | "issuekey" if is_issue_key(&upper) => self.admit_issue(&upper),
                "projectkey" => self.admit_project(&upper),
                "spacekey" => self.admit_space(text),
                _ => Ok(()),
            };
        }
        let Some(map) = value.as_object() else {
            return Ok(());
        };
        let own_key = map.get("key").and_then(Value::as_str);
        // `{"project": {"key": "SEC"}}`, `{"space": {"key": "OPS"}}`, and listings of
        // projects or spaces (objects that say what they are).
        if let Some(k) = own_key.filter(|k| !k.contains('-')) {
            let is_project = lower == "project"
                || map.contains_key("projectTypeKey")
                || map.contains_key("issueTypes");
            let is_space =
                lower == "space" || map.contains_key("homepageId") || map.contains_key("spaceType");
            if is_project {
                self.admit_project(&k.to_ascii_uppercase())?;
            } else if is_space {
                self.admit_space(k)?;
            }
        }
        // A page proves its space by key.
        let page_like = map.contains_key("title")
            && (map.contains_key("spaceId")
                || map.contains_key("spaceKey")
                || map.contains_key("space"));
        if page_like && !self.settings.confluence_spaces.is_empty() {
            let space_key = map
                .get("spaceKey")
                .and_then(Value::as_str)
                .or_else(|| map.get("space").and_then(|s| s["key"].as_str()));
            let id = map
                .get("id")
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .unwrap_or_default();
            self.admit_fetched_page(&id, space_key)?;
        }
        Ok(())
    }
}

/// Argument names (lower case) that hold issue keys or ids.
const ISSUE_ARGS: &[&str] = &[
    "issueidorkey",
    "issuekey",
    "issueid",
    "issuekeys",
    "issueids",
    "issueidsorkeys",
    "issue",
    "issues",
    "parent",
    "parentkey",
    "parentissuekey",
    "parentissue",
    "inwardissue",
    "outwardissue",
    "keys",
];

/// Argument names (lower case) that hold project keys or ids.
const PROJECT_ARGS: &[&str] = &[
    "projectkey",
    "projectidorkey",
    "projectid",
    "project",
    "projectkeys",
];

/// Argument names (lower case) that hold space keys or ids.
const SPACE_ARGS: &[&str] = &[
    "spacekey",
    "spaceidorkey",
    "spaceid",
    "space",
    "spacekeys",
    "spaceids",
];

/// Argument names (lower case) that hold Confluence page (content) ids.
const PAGE_ARGS: &[&str] = &["pageid", "pageids", "contentid", "parentpageid", "parentid"];

/// True when an upstream tool writes nothing: its annotations say `readOnlyHint: true`, and it
/// is not one of the generic tools that write whatever they say.
pub fn upstream_writes_nothing(upstream_name: &str, read_only_hint: bool) -> bool {
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
            // `project != SEC` / `project not in (SEC)` only narrow what the confined query
            // finds: their values are not requests for those projects.
            match op.as_str() {
                "!=" | "!~" => {}
                "not" => {}
                "=" | "~" => {
                    if let Some(v) = tokens.get(j) {
                        out.push(v.clone());
                    }
                }
                "in" if tokens.get(j).is_some_and(|t| t == "(") => {
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
#[path = "upstream_tests.rs"]
mod tests;
