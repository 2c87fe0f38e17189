//! Configuration: `config.toml` plus environment overrides, validated once into typed [`Settings`].
//!
//! Two stages, as in ripgrep's flag parsing: [`RawConfig`] is exactly what the TOML file says
//! (unknown keys are rejected by serde), and [`Settings::resolve`] applies the environment,
//! fills defaults and checks every rule, so that the rest of the program only ever sees
//! values that are known to be usable. Every error names the file, the key and the fix.
//!
//! One submodule per section, each holding its raw struct, its resolved type and the rules
//! between them: `site` (`[site]`), `oauth` (`[oauth]`), `policy` (`[policy]`),
//! `audit` (`[audit]`), `cache` (`[cache]`, SPEC §10) and `upstream` (`[upstream]`, SPEC §11). Their public types are
//! re-exported here, so callers name them `crate::config::…`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

mod audit;
mod cache;
mod oauth;
mod policy;
mod site;
#[cfg(test)]
mod tests;
mod upstream;

pub use audit::{ArgsMode, AuditSettings};
pub use cache::{
    CacheSettings, DEFAULT_CACHE_MAX_BYTES, MIN_CACHE_MAX_BYTES, OFFLINE_ENV, OfflineMode,
};
pub use oauth::OAuthSettings;
pub use policy::{ConfirmWrites, PolicySettings};
pub use site::{Auth, Deployment, SiteSettings, infer_deployment, is_loopback};
pub use upstream::{
    CallbackHost, DEFAULT_UPSTREAM_PREFIX, UPSTREAM_URL_ENV, UpstreamSettings, UpstreamTools,
};

use audit::{RawAudit, resolve_audit};
use cache::{RawCache, resolve_cache};
use oauth::{RawOAuth, resolve_oauth};
use policy::{RawPolicy, resolve_policy};
use site::{RawSite, resolve_site};
use upstream::{RawUpstream, resolve_upstream};

/// Environment variable naming the one directory that holds everything (config, audit, credentials).
pub const HOME_ENV: &str = "ATLASSIAN_MCP_BRIDGE_HOME";
/// Environment variable naming an explicit config file (same as `--config`).
pub const CONFIG_ENV: &str = "ATLASSIAN_MCP_BRIDGE_CONFIG";
/// Environment override for `site.api_token` (wins over the file).
pub const API_TOKEN_ENV: &str = "ATLASSIAN_API_TOKEN";
/// Environment override for `site.pat` (wins over the file).
pub const PAT_ENV: &str = "ATLASSIAN_PAT";
/// Environment override for `oauth.client_secret` (wins over the file).
pub const CLIENT_SECRET_ENV: &str = "ATLASSIAN_OAUTH_CLIENT_SECRET";

/// Default `policy.max_bulk_items`.
pub const DEFAULT_MAX_BULK_ITEMS: u32 = 100;
/// Default `site.timeout_secs`: how long one HTTP request may take.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Default `audit.max_bytes` (50 MiB).
pub const DEFAULT_AUDIT_MAX_BYTES: u64 = 52_428_800;

/// A configuration problem: always a usage error (exit code 2) with a message that says how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    fn key(file: &str, key: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(format!("{file}: `{key}` {problem}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Raw layer: the file as written.
// ---------------------------------------------------------------------------------------------

/// The TOML file exactly as written; every section and key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    site: Option<RawSite>,
    oauth: Option<RawOAuth>,
    #[serde(default)]
    policy: RawPolicy,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    cache: RawCache,
    upstream: Option<RawUpstream>,
}

// ---------------------------------------------------------------------------------------------
// Resolved layer: what the program uses.
// ---------------------------------------------------------------------------------------------

/// Everything the program needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Directory for data (audit log, credentials, journals).
    pub data_dir: PathBuf,
    /// The config file that was read, if any (shown by `status` and in messages).
    pub config_file: Option<PathBuf>,
    /// The Atlassian site; `None` when the file has no `[site]` section.
    pub site: Option<SiteSettings>,
    /// OAuth client settings, when an `[oauth]` section is present.
    pub oauth: Option<OAuthSettings>,
    /// Local guard rails.
    pub policy: PolicySettings,
    /// Where and how the audit log is written.
    pub audit: AuditSettings,
    /// The local cache, offline answers and the outbox (`[cache]`, SPEC §10).
    pub cache: CacheSettings,
    /// An MCP server put behind the bridge (`[upstream]`, SPEC §11); `None` when not configured.
    pub upstream: Option<UpstreamSettings>,
}

/// Where the config file and the data directory are.
#[derive(Debug, Clone)]
pub struct Locations {
    /// The config file to read (may not exist when it is the default).
    pub config_file: PathBuf,
    /// True when the file was named explicitly (`--config` / env), so it must exist.
    pub explicit: bool,
    /// The data directory.
    pub data_dir: PathBuf,
}

impl Locations {
    /// Resolves locations from `--config`, `ATLASSIAN_MCP_BRIDGE_CONFIG`, `ATLASSIAN_MCP_BRIDGE_HOME`
    /// and, failing those, the platform's directories.
    pub fn discover(cli_config: Option<&Path>) -> Result<Self, ConfigError> {
        let env_config = std::env::var_os(CONFIG_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let home = std::env::var_os(HOME_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let explicit = cli_config.map(Path::to_path_buf).or(env_config);
        let (default_config, data_dir) = match home {
            Some(home) => (home.join("config.toml"), home),
            None => {
                let dirs = directories::ProjectDirs::from("", "", "atlassian-mcp-bridge")
                    .ok_or_else(|| {
                        ConfigError::new(format!(
                            "cannot find a home directory for this user; set {HOME_ENV} to a directory"
                        ))
                    })?;
                (
                    dirs.config_dir().join("config.toml"),
                    dirs.data_dir().to_path_buf(),
                )
            }
        };
        Ok(match explicit {
            Some(file) => Self {
                config_file: file,
                explicit: true,
                data_dir,
            },
            None => Self {
                config_file: default_config,
                explicit: false,
                data_dir,
            },
        })
    }
}

impl Settings {
    /// Reads the config file (if present) and the environment, and validates everything.
    pub fn load(locations: &Locations) -> Result<Self, ConfigError> {
        let file = &locations.config_file;
        let text = match std::fs::read_to_string(file) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !locations.explicit => None,
            Err(e) => {
                return Err(ConfigError::new(format!(
                    "cannot read config file {}: {e}",
                    file.display()
                )));
            }
        };
        let raw = match &text {
            Some(text) => parse(text, &file.display().to_string())?,
            None => RawConfig::default(),
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self::resolve(
            raw,
            &file.display().to_string(),
            text.as_ref().map(|_| file.clone()),
            &locations.data_dir,
            &env,
        )
    }

    /// Validates a parsed config; `env` supplies environment overrides (injectable for tests).
    pub fn resolve(
        raw: RawConfig,
        file_name: &str,
        config_file: Option<PathBuf>,
        data_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let site = raw
            .site
            .map(|s| resolve_site(s, file_name, env))
            .transpose()?;
        let oauth = raw
            .oauth
            .map(|o| resolve_oauth(o, file_name, env))
            .transpose()?;
        if let Some(site) = &site
            && matches!(site.auth, Auth::OAuth)
        {
            match &oauth {
                None => {
                    return Err(ConfigError::key(
                        file_name,
                        "site.auth",
                        "is \"oauth\" but there is no [oauth] section; add client_id and client_secret (see config/example.toml)",
                    ));
                }
                Some(o) if o.client_secret.is_none() && !o.public_client => {
                    return Err(ConfigError::key(
                        file_name,
                        "oauth.client_secret",
                        format!(
                            "is required (Atlassian's token endpoint rejects clients without it); set it or {CLIENT_SECRET_ENV}, or set oauth.public_client = true for servers that issue public clients"
                        ),
                    ));
                }
                Some(_) if site.deployment != Deployment::Cloud => {
                    return Err(ConfigError::key(
                        file_name,
                        "site.auth",
                        "is \"oauth\", which signs in to Atlassian Cloud (3LO); for Data Center use auth = \"pat\"",
                    ));
                }
                Some(_) => {}
            }
        }
        let upstream = resolve_upstream(raw.upstream, file_name, env)?;
        let policy = resolve_policy(
            raw.policy,
            file_name,
            upstream.as_ref().map(|u| u.prefix.as_str()),
        )?;
        let audit = resolve_audit(raw.audit, file_name, data_dir)?;
        let cache = resolve_cache(raw.cache, file_name, data_dir, &policy, env)?;
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            config_file,
            site,
            oauth,
            policy,
            audit,
            cache,
            upstream,
        })
    }
}

/// Parses TOML text, turning serde's message into one that names the file.
pub fn parse(text: &str, file_name: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let msg = e.message().trim_end().to_string();
        let line = e.span().map(|span| {
            text.as_bytes()[..span.start.min(text.len())]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1
        });
        let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        let hint = if msg.contains("unknown field") {
            "; remove it or check its spelling against config/example.toml"
        } else {
            ""
        };
        ConfigError::new(format!("{file_name}{at}: {msg}{hint}"))
    })
}
