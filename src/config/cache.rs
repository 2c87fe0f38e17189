//! `[cache]` (SPEC §10): the local cache of what the tools read, when it answers instead of the
//! site, how large it may grow, what `sync` mirrors, and where queued offline writes wait.
//!
//! The keys are read as loose TOML values and checked here, rather than typed by serde, so that
//! a wrong type (`max_bytes = "512MiB"`, `offline = true`) gets a message that names the key
//! and the fix instead of serde's bare "invalid type".

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Value;

use super::policy::{project_keys, space_keys};
use super::{ConfigError, PolicySettings};

/// Environment override for `cache.offline` (wins over the file): `always`, `auto` or `never`.
/// For people on a plane, and for tests that must never reach a site.
pub const OFFLINE_ENV: &str = "ATLASSIAN_MCP_BRIDGE_OFFLINE";
/// Default `cache.max_bytes` (512 MiB).
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 536_870_912;
/// Smallest `cache.max_bytes` accepted (1 MiB): a smaller cache could hold only a handful of
/// pages, so a smaller value is almost certainly a unit mistake (KiB or MiB meant as bytes).
pub const MIN_CACHE_MAX_BYTES: u64 = 1_048_576;

/// `[cache]` as written; every value is checked by [`resolve_cache`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCache {
    enabled: Option<Value>,
    offline: Option<Value>,
    max_bytes: Option<Value>,
    sync_jira_projects: Option<Value>,
    sync_confluence_spaces: Option<Value>,
}

/// When reads are answered from the local cache instead of the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfflineMode {
    /// Ask the site; answer from the cache only when the site is unreachable (no HTTP answer
    /// at all: connection refused or reset, DNS failure, timeout; never an HTTP error status).
    Auto,
    /// Always ask the site; never answer from the cache.
    Never,
    /// Never contact the site: reads come from the cache, writes are queued in the outbox.
    Always,
}

impl OfflineMode {
    /// The config (and environment) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OfflineMode::Auto => "auto",
            OfflineMode::Never => "never",
            OfflineMode::Always => "always",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "auto" => Some(OfflineMode::Auto),
            "never" => Some(OfflineMode::Never),
            "always" => Some(OfflineMode::Always),
            _ => None,
        }
    }
}

/// The `[cache]` section, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// Keep what the tools read in [`CacheSettings::path`]; when false nothing is cached and
    /// nothing is answered offline.
    pub enabled: bool,
    /// When reads are answered from the cache (the environment override already applied).
    pub offline: OfflineMode,
    /// Oldest entries are dropped once the cache is larger than this many bytes.
    pub max_bytes: u64,
    /// Jira project keys (upper case) that `sync` mirrors when run without arguments; always
    /// inside a non-empty `policy.jira_projects`.
    pub sync_jira_projects: Vec<String>,
    /// Confluence space keys that `sync` mirrors when run without arguments; always inside a
    /// non-empty `policy.confluence_spaces`.
    pub sync_confluence_spaces: Vec<String>,
    /// The cache database: `<home>/cache.db` (embedded SQLite, mode 0600).
    pub path: PathBuf,
    /// Where writes made while offline wait to be sent: `<home>/outbox`.
    pub outbox_dir: PathBuf,
}

impl CacheSettings {
    /// The settings of a config without a `[cache]` section, for the data directory
    /// `data_dir` (`<home>`): enabled, `offline = "auto"`, 512 MiB, nothing to sync. For callers
    /// that build [`super::Settings`] without a file (`demo`, tests).
    pub fn defaults(data_dir: &Path) -> Self {
        Self {
            enabled: true,
            offline: OfflineMode::Auto,
            max_bytes: DEFAULT_CACHE_MAX_BYTES,
            sync_jira_projects: Vec::new(),
            sync_confluence_spaces: Vec::new(),
            path: data_dir.join("cache.db"),
            outbox_dir: data_dir.join("outbox"),
        }
    }

    /// One line for people: what the cache does (`status`, `doctor`).
    pub fn summary(&self) -> String {
        if !self.enabled {
            return "disabled".to_string();
        }
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        format!(
            "enabled · offline={} · max_bytes={} · sync projects: {} · sync spaces: {}",
            self.offline.as_str(),
            self.max_bytes,
            list(&self.sync_jira_projects),
            list(&self.sync_confluence_spaces)
        )
    }
}

/// Validates `[cache]` against the already resolved `policy` (a sync list must stay inside a
/// confinement) and applies [`OFFLINE_ENV`].
pub(super) fn resolve_cache(
    raw: RawCache,
    file: &str,
    data_dir: &Path,
    policy: &PolicySettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CacheSettings, ConfigError> {
    let defaults = CacheSettings::defaults(data_dir);
    let enabled = match raw.enabled {
        None => defaults.enabled,
        Some(Value::Boolean(b)) => b,
        Some(other) => {
            return Err(ConfigError::key(
                file,
                "cache.enabled",
                format!("is {}; expected true or false", describe(&other)),
            ));
        }
    };
    let expected_offline = "expected \"auto\" (answer from the cache when the site is unreachable), \"never\" or \"always\" (never contact the site)";
    let file_offline = match raw.offline {
        None => defaults.offline,
        Some(Value::String(s)) => OfflineMode::parse(&s).ok_or_else(|| {
            ConfigError::key(
                file,
                "cache.offline",
                format!("is `{s}`; {expected_offline}"),
            )
        })?,
        Some(other) => {
            return Err(ConfigError::key(
                file,
                "cache.offline",
                format!("is {}; {expected_offline}", describe(&other)),
            ));
        }
    };
    let env_offline = env(OFFLINE_ENV)
        .map(|v| {
            OfflineMode::parse(&v.trim().to_ascii_lowercase()).ok_or_else(|| {
                ConfigError::new(format!(
                    "environment variable {OFFLINE_ENV} is `{v}`; expected always, auto or never (it overrides `cache.offline` in {file}); unset it to use the file"
                ))
            })
        })
        .transpose()?;
    let offline = env_offline.unwrap_or(file_offline);
    if !enabled && offline == OfflineMode::Always {
        let (source, other) = if env_offline.is_some() {
            (
                format!("{OFFLINE_ENV}=always"),
                format!("set {OFFLINE_ENV} to auto or never"),
            )
        } else {
            (
                "`cache.offline` = \"always\"".to_string(),
                "choose offline = \"auto\" or \"never\"".to_string(),
            )
        };
        return Err(ConfigError::key(
            file,
            "cache.enabled",
            format!(
                "is false, but {source} never contacts the site and answers only from the cache; set cache.enabled = true, or {other}"
            ),
        ));
    }
    let max_bytes = match raw.max_bytes {
        None => defaults.max_bytes,
        Some(Value::Integer(n)) => match u64::try_from(n) {
            Ok(n) if n >= MIN_CACHE_MAX_BYTES => n,
            _ => {
                return Err(ConfigError::key(
                    file,
                    "cache.max_bytes",
                    format!(
                        "is {n}; it must be at least {MIN_CACHE_MAX_BYTES} bytes (1 MiB); the default is {DEFAULT_CACHE_MAX_BYTES} (512 MiB)"
                    ),
                ));
            }
        },
        Some(other) => {
            return Err(ConfigError::key(
                file,
                "cache.max_bytes",
                format!(
                    "is {}; expected a whole number of bytes without a unit, e.g. {DEFAULT_CACHE_MAX_BYTES} for 512 MiB",
                    describe(&other)
                ),
            ));
        }
    };
    let sync_jira_projects = dedup(project_keys(
        string_list(raw.sync_jira_projects, file, "cache.sync_jira_projects")?,
        file,
        "cache.sync_jira_projects",
    )?);
    let sync_confluence_spaces = dedup(space_keys(
        string_list(
            raw.sync_confluence_spaces,
            file,
            "cache.sync_confluence_spaces",
        )?,
        file,
        "cache.sync_confluence_spaces",
    )?);
    inside_policy(
        &sync_jira_projects,
        &policy.jira_projects,
        file,
        (
            "cache.sync_jira_projects",
            "policy.jira_projects",
            "projects",
        ),
    )?;
    inside_policy(
        &sync_confluence_spaces,
        &policy.confluence_spaces,
        file,
        (
            "cache.sync_confluence_spaces",
            "policy.confluence_spaces",
            "spaces",
        ),
    )?;
    Ok(CacheSettings {
        enabled,
        offline,
        max_bytes,
        sync_jira_projects,
        sync_confluence_spaces,
        ..defaults
    })
}

/// A value for an error message: scalars as written, tables and arrays by kind.
fn describe(value: &Value) -> String {
    match value {
        Value::String(_) | Value::Integer(_) | Value::Float(_) | Value::Boolean(_) => {
            format!("`{value}`")
        }
        other => format!("a {}", other.type_str()),
    }
}

/// A TOML array of strings, or an error naming `key`.
fn string_list(
    value: Option<Value>,
    file: &str,
    key: &str,
) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let wrong = |what: String| {
        ConfigError::key(
            file,
            key,
            format!("{what}; expected a list of keys such as [\"ENG\", \"OPS\"] (or [] for none)"),
        )
    };
    let Value::Array(items) = value else {
        return Err(wrong(format!("is {}", describe(&value))));
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::String(s) => Ok(s),
            other => Err(wrong(format!("has {}", describe(&other)))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `keys` without repeats, in their first order.
fn dedup(keys: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(keys.len());
    for k in keys {
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// Every sync key must be inside a non-empty confinement: the cache never holds what policy
/// keeps out. `names` = (sync key, policy key, what the keys are).
fn inside_policy(
    keys: &[String],
    allowed: &[String],
    file: &str,
    names: (&str, &str, &str),
) -> Result<(), ConfigError> {
    let (key, policy_key, what) = names;
    if allowed.is_empty() {
        return Ok(());
    }
    match keys
        .iter()
        .find(|k| !allowed.iter().any(|a| a.eq_ignore_ascii_case(k)))
    {
        None => Ok(()),
        Some(outside) => Err(ConfigError::key(
            file,
            key,
            format!(
                "has `{outside}`, which is not in {policy_key} ({}); the cache never holds {what} outside it: remove it here or add it to {policy_key}",
                allowed.join(", ")
            ),
        )),
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
