//! `[policy]`: the local guard rails (tools, read-only, project/space confinement, bulk limits).

use serde::Deserialize;

use super::{ConfigError, DEFAULT_MAX_BULK_ITEMS};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[policy]` as written.
pub(super) struct RawPolicy {
    read_only: Option<bool>,
    allow_tools: Option<Vec<String>>,
    deny_tools: Option<Vec<String>>,
    jira_projects: Option<Vec<String>>,
    confluence_spaces: Option<Vec<String>>,
    max_bulk_items: Option<u32>,
    confirm_writes: Option<String>,
}

/// When to ask the user before a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmWrites {
    /// Ask when the client can be asked, go ahead otherwise.
    Auto,
    /// Ask, and refuse when the client cannot be asked.
    Always,
    /// Never ask.
    Never,
}

impl ConfirmWrites {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ConfirmWrites::Auto => "auto",
            ConfirmWrites::Always => "always",
            ConfirmWrites::Never => "never",
        }
    }
}

/// The `[policy]` section, resolved.
#[derive(Debug, Clone)]
pub struct PolicySettings {
    /// Hide and refuse every write tool.
    pub read_only: bool,
    /// Empty = all tools; else only these.
    pub allow_tools: Vec<String>,
    /// Always wins over `allow_tools`.
    pub deny_tools: Vec<String>,
    /// Empty = all; else Jira reads and writes are confined to these project keys (upper case).
    pub jira_projects: Vec<String>,
    /// Empty = all; else Confluence reads and writes are confined to these space keys.
    pub confluence_spaces: Vec<String>,
    /// Most items one bulk call may carry.
    pub max_bulk_items: u32,
    /// Confirmation before writes.
    pub confirm_writes: ConfirmWrites,
}

impl PolicySettings {
    /// One line for people: what the policy allows (`status`, `atlassian_whoami`).
    pub fn summary(&self) -> String {
        let list = |v: &[String], empty: &str| {
            if v.is_empty() {
                empty.to_string()
            } else {
                v.join(", ")
            }
        };
        format!(
            "read_only={} · tools allowed: {} · denied: {} · projects: {} · spaces: {} · max_bulk_items={} · confirm_writes={}",
            self.read_only,
            list(&self.allow_tools, "all"),
            list(&self.deny_tools, "none"),
            list(&self.jira_projects, "all"),
            list(&self.confluence_spaces, "all"),
            self.max_bulk_items,
            self.confirm_writes.as_str()
        )
    }
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            read_only: false,
            allow_tools: Vec::new(),
            deny_tools: Vec::new(),
            jira_projects: Vec::new(),
            confluence_spaces: Vec::new(),
            max_bulk_items: DEFAULT_MAX_BULK_ITEMS,
            confirm_writes: ConfirmWrites::Auto,
        }
    }
}

/// Validates `[policy]`: tool names against the catalog (or, with an upstream configured,
/// its `prefix`: upstream tools are known only once connected), project and space keys.
pub(super) fn resolve_policy(
    raw: RawPolicy,
    file: &str,
    upstream_prefix: Option<&str>,
) -> Result<PolicySettings, ConfigError> {
    let check_tools = |list: Option<Vec<String>>, key: &str| -> Result<Vec<String>, ConfigError> {
        let list = list.unwrap_or_default();
        for name in &list {
            let upstream =
                upstream_prefix.is_some_and(|p| name.starts_with(p) && name.len() > p.len());
            if crate::catalog::find(name).is_none() && !upstream {
                return Err(ConfigError::key(
                    file,
                    key,
                    format!(
                        "names unknown tool `{name}`; known tools: {}",
                        crate::catalog::names().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        Ok(list)
    };
    let jira_projects = project_keys(raw.jira_projects, file, "policy.jira_projects")?;
    let confluence_spaces = space_keys(raw.confluence_spaces, file, "policy.confluence_spaces")?;
    let confirm_writes = match raw.confirm_writes.as_deref() {
        None | Some("auto") => ConfirmWrites::Auto,
        Some("always") => ConfirmWrites::Always,
        Some("never") => ConfirmWrites::Never,
        Some(other) => {
            return Err(ConfigError::key(
                file,
                "policy.confirm_writes",
                format!("is `{other}`; expected \"auto\", \"always\" or \"never\""),
            ));
        }
    };
    let max_bulk_items = raw.max_bulk_items.unwrap_or(DEFAULT_MAX_BULK_ITEMS);
    if max_bulk_items == 0 {
        return Err(ConfigError::key(
            file,
            "policy.max_bulk_items",
            "must be at least 1",
        ));
    }
    Ok(PolicySettings {
        read_only: raw.read_only.unwrap_or(false),
        allow_tools: check_tools(raw.allow_tools, "policy.allow_tools")?,
        deny_tools: check_tools(raw.deny_tools, "policy.deny_tools")?,
        jira_projects,
        confluence_spaces,
        max_bulk_items,
        confirm_writes,
    })
}

/// Jira project keys as `policy.jira_projects` accepts them (a letter, then letters, digits and
/// `_`), trimmed and upper-cased; `key` names the setting in the error.
pub(super) fn project_keys(
    list: Option<Vec<String>>,
    file: &str,
    key: &str,
) -> Result<Vec<String>, ConfigError> {
    let keys = checked_keys(list, file, key, |k| {
        k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })?;
    Ok(keys.into_iter().map(|k| k.to_ascii_uppercase()).collect())
}

/// Confluence space keys as `policy.confluence_spaces` accepts them (letters, digits, `_`, and
/// `~` for personal spaces), trimmed and kept as written; `key` names the setting in the error.
pub(super) fn space_keys(
    list: Option<Vec<String>>,
    file: &str,
    key: &str,
) -> Result<Vec<String>, ConfigError> {
    checked_keys(list, file, key, |k| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '~')
    })
}

fn checked_keys(
    list: Option<Vec<String>>,
    file: &str,
    key: &str,
    valid: fn(&str) -> bool,
) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for k in list.unwrap_or_default() {
        let k = k.trim().to_string();
        if !valid(&k) {
            return Err(ConfigError::key(
                file,
                key,
                format!("has `{k}`, which is not a valid key (letters, digits and _ only)"),
            ));
        }
        out.push(k);
    }
    Ok(out)
}
