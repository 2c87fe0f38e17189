//! `[site]`: which Atlassian site, Cloud or Data Center, and how requests are authenticated.

use serde::Deserialize;
use url::Url;

use super::{API_TOKEN_ENV, ConfigError, DEFAULT_TIMEOUT_SECS, PAT_ENV};
use crate::secret::Secret;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[site]` as written.
pub(super) struct RawSite {
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

/// Parses a URL and enforces the https-except-loopback rule.
pub(super) fn checked_url(value: &str, file: &str, key: &str) -> Result<Url, ConfigError> {
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

/// Validates `[site]`; `env` supplies the token overrides.
pub(super) fn resolve_site(
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
