//! Configuration: `config.toml` plus environment overrides, validated once into typed [`Settings`].
//!
//! Two stages, as in ripgrep's flag parsing: [`RawConfig`] is exactly what the TOML file says
//! (unknown keys are rejected by serde), and [`Settings::resolve`] applies the environment,
//! fills defaults and checks every rule, so that the rest of the program only ever sees
//! values that are known to be usable. Every error names the file, the key and the fix.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

use crate::secret::Secret;

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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    url: Option<String>,
    deployment: Option<String>,
    auth: Option<String>,
    email: Option<String>,
    api_token: Option<Secret>,
    pat: Option<Secret>,
    cloud_id: Option<String>,
    confluence_url: Option<String>,
    timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOAuth {
    client_id: Option<String>,
    client_secret: Option<Secret>,
    public_client: Option<bool>,
    audience: Option<String>,
    redirect_port: Option<u16>,
    scopes: Option<Vec<String>>,
    authorize_url: Option<String>,
    token_url: Option<String>,
    resources_url: Option<String>,
    api_base: Option<String>,
    revocation_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    read_only: Option<bool>,
    allow_tools: Option<Vec<String>>,
    deny_tools: Option<Vec<String>>,
    jira_projects: Option<Vec<String>>,
    confluence_spaces: Option<Vec<String>>,
    max_bulk_items: Option<u32>,
    confirm_writes: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    path: Option<PathBuf>,
    args: Option<String>,
    fsync: Option<bool>,
    max_bytes: Option<u64>,
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
}

/// Cloud or Server/Data Center: decides REST versions, rich-text format and endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    /// Atlassian Cloud (`*.atlassian.net`): Jira REST v3 + ADF, Confluence v2.
    Cloud,
    /// Jira/Confluence Server or Data Center: Jira REST v2 + wiki markup, Confluence `/rest/api`.
    DataCenter,
}

impl Deployment {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Deployment::Cloud => "cloud",
            Deployment::DataCenter => "data-center",
        }
    }
}

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Cloud API token: HTTP Basic `email:token`.
    ApiToken {
        /// Atlassian account email.
        email: String,
        /// The API token.
        token: Secret,
    },
    /// Data Center personal access token: `Authorization: Bearer`.
    Pat {
        /// The personal access token.
        token: Secret,
    },
    /// OAuth 2.0 (3LO); tokens come from the credential store.
    OAuth,
}

impl Auth {
    /// The config spelling, also used in audit records.
    pub fn mode(&self) -> &'static str {
        match self {
            Auth::ApiToken { .. } => "api-token",
            Auth::Pat { .. } => "pat",
            Auth::OAuth => "oauth",
        }
    }
}

/// The `[site]` section, resolved.
#[derive(Debug, Clone)]
pub struct SiteSettings {
    /// Site base URL without a trailing slash (`https://acme.atlassian.net`, `https://jira.corp/jira`).
    pub url: Url,
    /// Cloud or Data Center.
    pub deployment: Deployment,
    /// Credentials.
    pub auth: Auth,
    /// Cloud id; with an API token it routes requests through the API gateway (scoped tokens).
    pub cloud_id: Option<String>,
    /// Confluence base URL when it differs from the default derived from `url`.
    pub confluence_url: Option<Url>,
    /// How long one HTTP request may take before it is abandoned.
    pub timeout: std::time::Duration,
}

/// The `[oauth]` section, resolved (used by sign-in, which arrives with the OAuth issue).
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// OAuth client id from the developer console.
    pub client_id: String,
    /// Client secret; `None` only for public clients.
    pub client_secret: Option<Secret>,
    /// True for servers that issue public clients (no secret).
    pub public_client: bool,
    /// `audience` sent on the authorize request; `None` leaves it out.
    pub audience: Option<String>,
    /// Loopback callback port.
    pub redirect_port: u16,
    /// Scopes requested at sign-in.
    pub scopes: Vec<String>,
    /// Authorization endpoint.
    pub authorize_url: Url,
    /// Token endpoint.
    pub token_url: Url,
    /// `accessible-resources` endpoint.
    pub resources_url: Url,
    /// API gateway base for `/ex/jira/{cloudId}` and `/ex/confluence/{cloudId}`.
    pub api_base: Url,
    /// RFC 7009 revocation endpoint used by `logout`; Atlassian has none, so `None` by default.
    pub revocation_url: Option<Url>,
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

/// How much of a tool call's arguments goes into the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgsMode {
    /// Arguments as given.
    Full,
    /// Long text fields cut and hashed.
    Redacted,
    /// Only `args_sha256`; `args` is null.
    Digest,
}

impl ArgsMode {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ArgsMode::Full => "full",
            ArgsMode::Redacted => "redacted",
            ArgsMode::Digest => "digest",
        }
    }
}

/// The `[audit]` section, resolved.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// The live audit file; rotated files are `<path>.1`, `<path>.2`, … (higher = older).
    pub path: PathBuf,
    /// Argument recording mode.
    pub args: ArgsMode,
    /// Flush each record to disk before the tool result is returned.
    pub fsync: bool,
    /// Rotate once the live file would grow past this many bytes.
    pub max_bytes: u64,
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
        let policy = resolve_policy(raw.policy, file_name)?;
        let audit = resolve_audit(raw.audit, file_name, data_dir)?;
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            config_file,
            site,
            oauth,
            policy,
            audit,
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

/// Parses a URL and enforces the https-except-loopback rule.
fn checked_url(value: &str, file: &str, key: &str) -> Result<Url, ConfigError> {
    let mut url = Url::parse(value.trim()).map_err(|e| {
        ConfigError::key(
            file,
            key,
            format!("is not a valid URL ({e}); expected e.g. https://acme.atlassian.net"),
        )
    })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(ConfigError::key(
                file,
                key,
                "uses http://, which is only allowed for loopback hosts (127.0.0.1, localhost); use https://",
            ));
        }
        other => {
            return Err(ConfigError::key(
                file,
                key,
                format!("has scheme `{other}`; expected https://"),
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::key(file, key, "has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::key(
            file,
            key,
            "must not contain a user name or password; put credentials in site.email / site.api_token / site.pat (or their environment variables)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::key(
            file,
            key,
            "must not have a query string or fragment",
        ));
    }
    let trimmed = url.path().trim_end_matches('/').to_string();
    url.set_path(&trimmed);
    Ok(url)
}

/// The deployment a site URL implies when `site.deployment` is not set: Cloud for
/// `*.atlassian.net` hosts, Data Center for everything else.
pub fn infer_deployment(url: &Url) -> Deployment {
    if url
        .host_str()
        .is_some_and(|h| h.to_ascii_lowercase().ends_with(".atlassian.net"))
    {
        Deployment::Cloud
    } else {
        Deployment::DataCenter
    }
}

/// True for 127.0.0.0/8, ::1 and `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// What `resolve_site` knows about how the deployment and auth mode were chosen, so that a
/// missing-credential error can say when an inferred value is the likely cause.
struct Inference {
    /// `site.deployment` was not written (inferred from the host).
    inferred: bool,
    /// `site.auth` was not written (the deployment's default).
    auth_defaulted: bool,
    /// The site's host, for the message.
    host: String,
    /// `site.email` or an API token is configured (how Cloud signs in).
    cloud_credentials: bool,
    /// A personal access token is configured (Data Center only).
    pat: bool,
}

impl Inference {
    /// The message for a missing PAT: when Data Center and `pat` were both defaults, says so
    /// and how to choose Cloud instead.
    fn for_missing_pat(&self, base: String) -> String {
        if !(self.inferred && self.auth_defaulted) {
            return base;
        }
        let host = &self.host;
        if self.cloud_credentials {
            format!(
                "is required: auth = \"pat\" is the default for Data Center, and Data Center was inferred because {host} is not an *.atlassian.net host (`site.deployment` is not set). site.email / site.api_token are set, which is how Atlassian Cloud signs in: if this is a Cloud site (for example on a custom domain), set deployment = \"cloud\" in [site]; for Data Center, set site.pat or the {PAT_ENV} environment variable (Profile → Personal Access Tokens)"
            )
        } else {
            format!(
                "{base}. Data Center (and with it auth = \"pat\") was inferred because {host} is not an *.atlassian.net host; for an Atlassian Cloud site on a custom domain, set deployment = \"cloud\" in [site] with site.email and site.api_token instead"
            )
        }
    }

    /// The message for a missing email or API token: when Cloud was inferred and a PAT is
    /// configured, says that PATs are Data Center only.
    fn for_missing_api_token(&self, deployment: Deployment, base: String) -> String {
        if !(self.inferred && self.auth_defaulted && self.pat && deployment == Deployment::Cloud) {
            return base;
        }
        format!(
            "{base}. auth = \"api-token\" is the default for Cloud, inferred from the host {} (*.atlassian.net sites are Atlassian Cloud); site.pat is set, but personal access tokens exist only on Data Center: Cloud signs in with site.email + site.api_token, or auth = \"oauth\"",
            self.host
        )
    }
}

fn resolve_site(
    raw: RawSite,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SiteSettings, ConfigError> {
    let url_text = raw.url.ok_or_else(|| {
        ConfigError::key(
            file,
            "site.url",
            "is missing; set it to your Cloud site (https://acme.atlassian.net) or Data Center base URL",
        )
    })?;
    let url = checked_url(&url_text, file, "site.url")?;
    let deployment = match raw.deployment.as_deref() {
        Some("cloud") => Deployment::Cloud,
        Some("data-center") => Deployment::DataCenter,
        Some(other) => {
            return Err(ConfigError::key(
                file,
                "site.deployment",
                format!("is `{other}`; expected \"cloud\" or \"data-center\""),
            ));
        }
        None => infer_deployment(&url),
    };
    // When `deployment` was not written, errors that follow from the inference say so: a
    // Cloud site on a custom domain is otherwise told to configure a Data Center token.
    let why = Inference {
        inferred: raw.deployment.is_none(),
        auth_defaulted: raw.auth.is_none(),
        host: url.host_str().unwrap_or_default().to_string(),
        cloud_credentials: raw.email.as_ref().is_some_and(|e| !e.trim().is_empty())
            || env(API_TOKEN_ENV).is_some()
            || raw.api_token.as_ref().is_some_and(|t| !t.is_empty()),
        pat: env(PAT_ENV).is_some() || raw.pat.as_ref().is_some_and(|t| !t.is_empty()),
    };
    let auth_mode = raw.auth.as_deref().unwrap_or(match deployment {
        Deployment::Cloud => "api-token",
        Deployment::DataCenter => "pat",
    });
    let auth = match auth_mode {
        "api-token" => {
            let missing_for_cloud = |key: &str, base: String| {
                ConfigError::key(file, key, why.for_missing_api_token(deployment, base))
            };
            let email = raw.email.filter(|e| !e.trim().is_empty()).ok_or_else(|| {
                missing_for_cloud(
                    "site.email",
                    "is required with auth = \"api-token\"; set it to the email of the Atlassian account that owns the token".to_string(),
                )
            })?;
            let token = env(API_TOKEN_ENV)
                .map(Secret::new)
                .or(raw.api_token.filter(|t| !t.is_empty()))
                .ok_or_else(|| {
                    missing_for_cloud(
                        "site.api_token",
                        format!(
                            "is required with auth = \"api-token\"; set it or the {API_TOKEN_ENV} environment variable (create one at https://id.atlassian.com/manage-profile/security/api-tokens)"
                        ),
                    )
                })?;
            Auth::ApiToken {
                email: email.trim().to_string(),
                token,
            }
        }
        "pat" => {
            let token = env(PAT_ENV)
                .map(Secret::new)
                .or(raw.pat.filter(|t| !t.is_empty()))
                .ok_or_else(|| {
                    ConfigError::key(
                        file,
                        "site.pat",
                        why.for_missing_pat(format!(
                            "is required with auth = \"pat\"; set it or the {PAT_ENV} environment variable (Profile → Personal Access Tokens in Jira/Confluence)"
                        )),
                    )
                })?;
            Auth::Pat { token }
        }
        "oauth" => Auth::OAuth,
        other => {
            return Err(ConfigError::key(
                file,
                "site.auth",
                format!("is `{other}`; expected \"api-token\", \"pat\" or \"oauth\""),
            ));
        }
    };
    if matches!(auth, Auth::Pat { .. }) && deployment == Deployment::Cloud {
        let mut message = String::from(
            "is \"pat\", but personal access tokens only exist on Data Center; use \"api-token\" for Cloud",
        );
        if why.inferred {
            message.push_str(&format!(
                " (Cloud was inferred from the host {}: *.atlassian.net sites are Atlassian Cloud)",
                why.host
            ));
        }
        return Err(ConfigError::key(file, "site.auth", message));
    }
    if matches!(auth, Auth::OAuth) && deployment == Deployment::DataCenter && why.inferred {
        return Err(ConfigError::key(
            file,
            "site.auth",
            format!(
                "is \"oauth\", which signs in to Atlassian Cloud (3LO), but Data Center was inferred because {} is not an *.atlassian.net host (`site.deployment` is not set); for a Cloud site on a custom domain set deployment = \"cloud\" in [site], for Data Center use auth = \"pat\"",
                why.host
            ),
        ));
    }
    let cloud_id = raw.cloud_id.filter(|c| !c.trim().is_empty());
    if let Some(id) = &cloud_id
        && !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(ConfigError::key(
            file,
            "site.cloud_id",
            "must be the site's cloud id (a UUID such as 1324a887-45db-1bf4-1e99-ef0ff456d421)",
        ));
    }
    let confluence_url = raw
        .confluence_url
        .map(|u| checked_url(&u, file, "site.confluence_url"))
        .transpose()?;
    let timeout_secs = raw.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !(1..=600).contains(&timeout_secs) {
        return Err(ConfigError::key(
            file,
            "site.timeout_secs",
            "must be between 1 and 600 seconds",
        ));
    }
    Ok(SiteSettings {
        url,
        deployment,
        auth,
        cloud_id,
        confluence_url,
        timeout: std::time::Duration::from_secs(timeout_secs),
    })
}

fn resolve_oauth(
    raw: RawOAuth,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<OAuthSettings, ConfigError> {
    let client_id = raw.client_id.filter(|c| !c.is_empty()).ok_or_else(|| {
        ConfigError::key(
            file,
            "oauth.client_id",
            "is missing; copy it from your OAuth 2.0 app in the Atlassian developer console",
        )
    })?;
    let client_secret = env(CLIENT_SECRET_ENV)
        .map(Secret::new)
        .or(raw.client_secret.filter(|s| !s.is_empty()));
    let url = |value: Option<String>, default: &str, key: &str| {
        checked_url(value.as_deref().unwrap_or(default), file, key)
    };
    let audience = match raw.audience {
        None => Some("api.atlassian.com".to_string()),
        Some(a) if a.is_empty() => None,
        Some(a) => Some(a),
    };
    Ok(OAuthSettings {
        client_id,
        client_secret,
        public_client: raw.public_client.unwrap_or(false),
        audience,
        redirect_port: raw.redirect_port.unwrap_or(8765),
        scopes: raw.scopes.unwrap_or_else(|| {
            [
                "read:jira-work",
                "write:jira-work",
                "read:jira-user",
                "read:page:confluence",
                "write:page:confluence",
                "read:space:confluence",
                "search:confluence",
                "read:user:confluence",
                "read:me",
                "offline_access",
            ]
            .map(String::from)
            .to_vec()
        }),
        authorize_url: url(
            raw.authorize_url,
            "https://auth.atlassian.com/authorize",
            "oauth.authorize_url",
        )?,
        token_url: url(
            raw.token_url,
            "https://auth.atlassian.com/oauth/token",
            "oauth.token_url",
        )?,
        resources_url: url(
            raw.resources_url,
            "https://api.atlassian.com/oauth/token/accessible-resources",
            "oauth.resources_url",
        )?,
        api_base: url(raw.api_base, "https://api.atlassian.com", "oauth.api_base")?,
        revocation_url: raw
            .revocation_url
            .filter(|u| !u.is_empty())
            .map(|u| checked_url(&u, file, "oauth.revocation_url"))
            .transpose()?,
    })
}

fn resolve_policy(raw: RawPolicy, file: &str) -> Result<PolicySettings, ConfigError> {
    let check_tools = |list: Option<Vec<String>>, key: &str| -> Result<Vec<String>, ConfigError> {
        let list = list.unwrap_or_default();
        for name in &list {
            if crate::catalog::find(name).is_none() {
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
    let keys = |list: Option<Vec<String>>,
                key: &str,
                valid: fn(&str) -> bool|
     -> Result<Vec<String>, ConfigError> {
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
    };
    let jira_projects = keys(raw.jira_projects, "policy.jira_projects", |k| {
        k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })?
    .into_iter()
    .map(|k| k.to_ascii_uppercase())
    .collect();
    let confluence_spaces = keys(raw.confluence_spaces, "policy.confluence_spaces", |k| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '~')
    })?;
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

fn resolve_audit(raw: RawAudit, file: &str, data_dir: &Path) -> Result<AuditSettings, ConfigError> {
    let args = match raw.args.as_deref() {
        None | Some("redacted") => ArgsMode::Redacted,
        Some("full") => ArgsMode::Full,
        Some("digest") => ArgsMode::Digest,
        Some(other) => {
            return Err(ConfigError::key(
                file,
                "audit.args",
                format!("is `{other}`; expected \"full\", \"redacted\" or \"digest\""),
            ));
        }
    };
    let path = match raw.path {
        Some(p) if p.as_os_str().is_empty() => {
            return Err(ConfigError::key(file, "audit.path", "must not be empty"));
        }
        Some(p) => anchor_audit_path(&p, data_dir).ok_or_else(|| {
            ConfigError::key(
                file,
                "audit.path",
                "starts with `~`, but this user's home directory cannot be found; write the full path, or `<home>/…` for the data directory",
            )
        })?,
        None => data_dir.join("audit").join("audit.jsonl"),
    };
    let max_bytes = raw.max_bytes.unwrap_or(DEFAULT_AUDIT_MAX_BYTES);
    if max_bytes < 4096 {
        return Err(ConfigError::key(
            file,
            "audit.max_bytes",
            "must be at least 4096 bytes",
        ));
    }
    Ok(AuditSettings {
        path,
        args,
        fsync: raw.fsync.unwrap_or(true),
        max_bytes,
    })
}

/// Where a configured `audit.path` points, independent of the current directory: a leading
/// `<home>` is the data directory, a leading `~` the user's home directory, and any other
/// relative path is taken relative to the data directory. AI desktops start the bridge from
/// arbitrary working directories, so resolving against the current directory would scatter
/// the log (and `audit verify`, run from elsewhere, would read a different file). `None` when
/// the path starts with `~` and no home directory can be found.
fn anchor_audit_path(path: &Path, data_dir: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let (base, rest) = if let Ok(rest) = path.strip_prefix("<home>") {
        (data_dir.to_path_buf(), rest)
    } else if let Ok(rest) = path.strip_prefix("~") {
        (directories::BaseDirs::new()?.home_dir().to_path_buf(), rest)
    } else if path.is_absolute() || path.has_root() {
        return Some(path.to_path_buf());
    } else {
        (data_dir.to_path_buf(), path)
    };
    // `./audit.jsonl` is `<data>/audit.jsonl`, not `<data>/./audit.jsonl`.
    let rest: PathBuf = rest
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    Some(base.join(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_with(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let raw = parse(text, "test.toml")?;
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        Settings::resolve(raw, "test.toml", None, Path::new("/data"), &lookup)
    }

    #[test]
    fn empty_file_gives_defaults() {
        let s = resolve_with("", &[]).unwrap();
        assert!(s.site.is_none());
        assert_eq!(s.audit.path, Path::new("/data/audit/audit.jsonl"));
        assert_eq!(s.audit.args, ArgsMode::Redacted);
        assert!(s.audit.fsync);
        assert_eq!(s.audit.max_bytes, DEFAULT_AUDIT_MAX_BYTES);
        assert_eq!(s.policy.max_bulk_items, 100);
        assert_eq!(s.policy.confirm_writes, ConfirmWrites::Auto);
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let err = resolve_with(
            "[site]\nurl = \"https://a.atlassian.net\"\nemial = \"x\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("test.toml"), "{err}");
        assert!(err.contains("emial"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn unknown_section_is_an_error() {
        let err = resolve_with("[sitee]\n", &[]).unwrap_err().to_string();
        assert!(err.contains("sitee"), "{err}");
    }

    #[test]
    fn cloud_detected_from_host_and_env_token_wins() {
        let s = resolve_with(
            "[site]\nurl = \"https://acme.atlassian.net/\"\nemail = \"me@acme.com\"\napi_token = \"file-token\"\n",
            &[(API_TOKEN_ENV, "env-token")],
        )
        .unwrap();
        let site = s.site.unwrap();
        assert_eq!(site.deployment, Deployment::Cloud);
        assert_eq!(site.url.as_str(), "https://acme.atlassian.net/");
        match site.auth {
            Auth::ApiToken { email, token } => {
                assert_eq!(email, "me@acme.com");
                assert_eq!(token.expose(), "env-token");
            }
            other => panic!("unexpected auth {other:?}"),
        }
    }

    #[test]
    fn data_center_defaults_to_pat_and_keeps_context_path() {
        let s = resolve_with(
            "[site]\nurl = \"https://jira.corp.example/jira/\"\n",
            &[(PAT_ENV, "pat-value")],
        )
        .unwrap();
        let site = s.site.unwrap();
        assert_eq!(site.deployment, Deployment::DataCenter);
        assert_eq!(site.url.path(), "/jira");
        assert!(matches!(site.auth, Auth::Pat { .. }));
    }

    #[test]
    fn http_only_for_loopback() {
        let err = resolve_with(
            "[site]\nurl = \"http://jira.corp.example\"\npat = \"x\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("site.url") && err.contains("loopback"),
            "{err}"
        );
        for ok in ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9"] {
            resolve_with(&format!("[site]\nurl = \"{ok}\"\npat = \"x\"\n"), &[])
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn credentials_in_the_url_are_refused() {
        let err = resolve_with(
            "[site]\nurl = \"https://me:secret@acme.atlassian.net\"\nemail = \"a@b.c\"\napi_token = \"x\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("site.url") && err.contains("user name or password"),
            "{err}"
        );
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn raw_config_debug_hides_secrets() {
        let raw = parse(
            "[site]\nurl = \"https://a.atlassian.net\"\napi_token = \"tok-123\"\npat = \"pat-456\"\n[oauth]\nclient_id = \"c\"\nclient_secret = \"sec-789\"\n",
            "t.toml",
        )
        .unwrap();
        let shown = format!("{raw:?}");
        for secret in ["tok-123", "pat-456", "sec-789"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn missing_token_says_where_to_put_it() {
        let err = resolve_with(
            "[site]\nurl = \"https://a.atlassian.net\"\nemail = \"me@a.com\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("site.api_token") && err.contains(API_TOKEN_ENV),
            "{err}"
        );
    }

    #[test]
    fn oauth_without_secret_names_client_secret() {
        let err = resolve_with(
            "[site]\nurl = \"https://a.atlassian.net\"\nauth = \"oauth\"\n[oauth]\nclient_id = \"abc\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("oauth.client_secret"), "{err}");
    }

    #[test]
    fn policy_validates_tool_names_and_keys() {
        let err = resolve_with("[policy]\ndeny_tools = [\"jira_serch\"]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("policy.deny_tools") && err.contains("jira_serch"),
            "{err}"
        );
        let err = resolve_with("[policy]\njira_projects = [\"A B\"]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("policy.jira_projects"), "{err}");
        let s = resolve_with(
            "[policy]\njira_projects = [\"eng\"]\nconfluence_spaces = [\"ENG\", \"~alice\"]\nread_only = true\n",
            &[],
        )
        .unwrap();
        assert_eq!(s.policy.jira_projects, vec!["ENG"]);
        assert!(s.policy.read_only);
    }

    #[test]
    fn audit_path_expands_home_token() {
        let s = resolve_with(
            "[audit]\npath = \"<home>/logs/a.jsonl\"\nargs = \"digest\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(s.audit.path, Path::new("/data/logs/a.jsonl"));
        assert_eq!(s.audit.args, ArgsMode::Digest);
        let err = resolve_with("[audit]\nargs = \"some\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("audit.args"), "{err}");
    }

    /// Issue 8: AI desktops start the bridge from arbitrary directories, so a relative
    /// `audit.path` must not depend on the current directory.
    #[test]
    fn relative_audit_path_is_under_the_data_dir() {
        for (written, expected) in [
            ("logs/a.jsonl", "/data/logs/a.jsonl"),
            ("a.jsonl", "/data/a.jsonl"),
            ("./a.jsonl", "/data/a.jsonl"),
        ] {
            let s = resolve_with(&format!("[audit]\npath = \"{written}\"\n"), &[]).unwrap();
            assert_eq!(s.audit.path, Path::new(expected), "{written}");
        }
        let home = directories::BaseDirs::new()
            .unwrap()
            .home_dir()
            .to_path_buf();
        let s = resolve_with("[audit]\npath = \"~/x/a.jsonl\"\n", &[]).unwrap();
        assert_eq!(s.audit.path, home.join("x/a.jsonl"));
        #[cfg(unix)]
        {
            let s = resolve_with("[audit]\npath = \"/var/log/a.jsonl\"\n", &[]).unwrap();
            assert_eq!(s.audit.path, Path::new("/var/log/a.jsonl"));
        }
    }

    /// Issue 13: an inferred deployment is named when it explains the error.
    #[test]
    fn inferred_data_center_is_named_when_cloud_credentials_are_set() {
        let err = resolve_with(
            "[site]\nurl = \"https://jira.acme.example\"\nemail = \"me@acme.com\"\napi_token = \"t\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("site.pat"), "{err}");
        assert!(
            err.contains("inferred")
                && err.contains("jira.acme.example")
                && err.contains("deployment = \"cloud\""),
            "{err}"
        );
        // The same site named as Cloud works with the same credentials.
        let s = resolve_with(
            "[site]\nurl = \"https://jira.acme.example\"\ndeployment = \"cloud\"\nemail = \"me@acme.com\"\napi_token = \"t\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(s.site.unwrap().deployment, Deployment::Cloud);
        // oauth on an inferred Data Center host says the same.
        let err = resolve_with(
            "[site]\nurl = \"https://jira.acme.example\"\nauth = \"oauth\"\n[oauth]\nclient_id = \"c\"\nclient_secret = \"s\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("inferred") && err.contains("deployment = \"cloud\""),
            "{err}"
        );
        // An explicit deployment is not called inferred.
        let err = resolve_with(
            "[site]\nurl = \"https://jira.acme.example\"\ndeployment = \"data-center\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("site.pat") && !err.contains("inferred"),
            "{err}"
        );
    }

    /// Issue 13, the converse: a PAT configured for an `*.atlassian.net` site.
    #[test]
    fn inferred_cloud_is_named_when_only_a_pat_is_set() {
        let err = resolve_with(
            "[site]\nurl = \"https://acme.atlassian.net\"\npat = \"p\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("site.email"), "{err}");
        assert!(
            err.contains("inferred") && err.contains("site.pat") && err.contains("Data Center"),
            "{err}"
        );
        let err = resolve_with(
            "[site]\nurl = \"https://acme.atlassian.net\"\nauth = \"pat\"\npat = \"p\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("site.auth")
                && err.contains("inferred")
                && err.contains("acme.atlassian.net"),
            "{err}"
        );
    }

    #[test]
    fn example_config_is_valid() {
        let text = include_str!("../config/example.toml");
        let raw = parse(text, "config/example.toml").unwrap();
        let env = |_: &str| None;
        Settings::resolve(raw, "example.toml", None, Path::new("/data"), &env).unwrap();
    }
}
