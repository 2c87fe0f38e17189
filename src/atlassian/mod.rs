//! The Atlassian HTTP layer: one client per site, Jira and Confluence calls, normalized models.
//!
//! Cloud vs Data Center differences (REST v3 + ADF vs v2 + wiki markup, token vs offset paging,
//! Confluence v2 vs `/rest/api/content`) are resolved here, so the MCP tools above see one shape.
//!
//! - [`http`]: [`http::HttpClient`] (auth, retries, redirects, the 16 MiB per-answer body
//!   limit, the 6,000-byte GET URL limit) and [`http::CallTrace`].
//! - [`error`]: [`ApiError`] and the error-body parser.
//! - [`jira`], [`confluence`]: the calls and their normalized results.
//! - [`jira_write`], [`confluence_write`]: creates, edits, comments, transitions and page
//!   writes, plus the look-ups that tell after a crash what a bulk call created.

pub mod confluence;
pub mod confluence_write;
pub mod error;
pub mod http;
pub mod jira;
pub mod jira_write;
mod json;
pub mod mirror;
#[cfg(test)]
mod write_tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use url::Url;

pub use crate::upstream::{CallTrace, RetryPolicy, with_segments};
pub use error::{ApiError, Product};
pub use http::{Credentials, HttpClient};

use crate::auth::tokens::TokenManager;
use crate::config::{Auth, Deployment, SiteSettings};

/// Default API gateway (scoped API tokens and OAuth go through it).
pub const DEFAULT_API_BASE: &str = "https://api.atlassian.com";

/// Where REST requests go.
#[derive(Debug)]
enum Routing {
    /// Fixed bases (site URL, or the gateway for scoped API tokens).
    Static {
        /// Jira base.
        jira: Url,
        /// Confluence base.
        confluence: Url,
    },
    /// The gateway with the signed-in site's cloud id, which a new sign-in may change.
    OAuth {
        /// Gateway base.
        api_base: Url,
        /// The sign-in.
        tokens: Arc<TokenManager>,
        /// `site.cloud_id`, used until someone has signed in.
        configured_cloud_id: Option<String>,
    },
}

/// The cloud id of the current sign-in (re-read from the store if the process has none yet).
fn oauth_cloud_id(tokens: &TokenManager, configured: &Option<String>) -> String {
    tokens
        .cloud_id()
        .or_else(|| configured.clone())
        .unwrap_or_else(|| "not-signed-in".to_string())
}

/// A configured connection to one Atlassian site.
#[derive(Debug)]
pub struct Api {
    http: HttpClient,
    deployment: Deployment,
    site: Url,
    routing: Routing,
    /// Confluence base for human-facing links (never the API gateway).
    confluence_web: Url,
    /// Confluence space id → key, learned from lookups.
    space_keys: Mutex<HashMap<String, String>>,
}

impl Api {
    /// Builds the client for a site.
    ///
    /// `api_base` is Atlassian's API gateway: API-token requests go through it when
    /// `site.cloud_id` is set (scoped tokens), and OAuth requests always do, at
    /// `{api_base}/ex/{jira|confluence}/{cloudId}`. `tokens` is required for `auth = "oauth"`.
    pub fn new(
        site: &SiteSettings,
        api_base: &Url,
        tokens: Option<Arc<TokenManager>>,
        retry: RetryPolicy,
    ) -> Result<Self, String> {
        let credentials = match (&site.auth, tokens) {
            (Auth::ApiToken { email, token }, _) => Credentials::Basic {
                email: email.clone(),
                token: token.clone(),
            },
            (Auth::Pat { token }, _) => Credentials::Bearer(token.clone()),
            (Auth::OAuth, Some(tokens)) => Credentials::OAuth(tokens),
            (Auth::OAuth, None) => {
                return Err("auth = \"oauth\" needs a token manager".to_string());
            }
        };
        let http = HttpClient::new(&credentials, retry, site.timeout)?;
        let confluence_web = match (&site.confluence_url, site.deployment) {
            (Some(url), _) => url.clone(),
            (None, Deployment::Cloud) => with_segments(&site.url, &["wiki"]),
            (None, Deployment::DataCenter) => site.url.clone(),
        };
        let routing = match credentials {
            Credentials::OAuth(tokens) => Routing::OAuth {
                api_base: api_base.clone(),
                tokens,
                configured_cloud_id: site.cloud_id.clone(),
            },
            _ => {
                // Scoped API tokens only work through the gateway.
                let via_gateway = |product: &str| match (&site.cloud_id, &site.auth) {
                    (Some(id), Auth::ApiToken { .. }) => {
                        Some(with_segments(api_base, &["ex", product, id]))
                    }
                    _ => None,
                };
                let confluence = match (&site.confluence_url, via_gateway("confluence")) {
                    (Some(url), _) => url.clone(),
                    (None, Some(gateway)) => with_segments(&gateway, &["wiki"]),
                    (None, None) => confluence_web.clone(),
                };
                Routing::Static {
                    jira: via_gateway("jira").unwrap_or_else(|| site.url.clone()),
                    confluence,
                }
            }
        };
        Ok(Self {
            http,
            deployment: site.deployment,
            site: site.url.clone(),
            routing,
            confluence_web,
            space_keys: Mutex::new(HashMap::new()),
        })
    }

    /// Base URL of Jira's REST API for the next request.
    fn jira_base(&self) -> Url {
        match &self.routing {
            Routing::Static { jira, .. } => jira.clone(),
            Routing::OAuth {
                api_base,
                tokens,
                configured_cloud_id,
            } => with_segments(
                api_base,
                &["ex", "jira", &oauth_cloud_id(tokens, configured_cloud_id)],
            ),
        }
    }

    /// Base URL of Confluence's REST APIs for the next request.
    fn confluence_base(&self) -> Url {
        match &self.routing {
            Routing::Static { confluence, .. } => confluence.clone(),
            Routing::OAuth {
                api_base,
                tokens,
                configured_cloud_id,
            } => with_segments(
                api_base,
                &[
                    "ex",
                    "confluence",
                    &oauth_cloud_id(tokens, configured_cloud_id),
                    "wiki",
                ],
            ),
        }
    }

    /// Cloud or Data Center.
    pub fn deployment(&self) -> Deployment {
        self.deployment
    }

    /// The site URL as configured (for links and audit records).
    pub fn site(&self) -> &Url {
        &self.site
    }

    /// Jira calls.
    pub fn jira(&self) -> jira::Jira<'_> {
        jira::Jira::new(self)
    }

    /// Confluence calls.
    pub fn confluence(&self) -> confluence::Confluence<'_> {
        confluence::Confluence::new(self)
    }

    /// The signed-in user: Jira's `myself`, or Confluence's current user on sites without Jira.
    pub async fn current_user(&self, trace: &CallTrace) -> Result<jira::User, ApiError> {
        match self.jira().myself(trace).await {
            Err(e) if e.status() == Some(404) => self.confluence().current_user(trace).await,
            other => other,
        }
    }

    /// A link a person can open for an issue.
    pub fn issue_url(&self, key: &str) -> String {
        issue_url(&self.site, key)
    }
}

/// `{site}/browse/{key}`, the issue's page for people (for work off the call's path, with a
/// copy of [`Api::site`]).
pub fn issue_url(site: &Url, key: &str) -> String {
    with_segments(site, &["browse", key]).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn site(url: &str, deployment: Deployment, cloud_id: Option<&str>) -> SiteSettings {
        SiteSettings {
            url: Url::parse(url).unwrap(),
            deployment,
            auth: match deployment {
                Deployment::Cloud => Auth::ApiToken {
                    email: "a@b.c".into(),
                    token: Secret::new("t"),
                },
                Deployment::DataCenter => Auth::Pat {
                    token: Secret::new("t"),
                },
            },
            cloud_id: cloud_id.map(String::from),
            confluence_url: None,
            timeout: std::time::Duration::from_secs(30),
        }
    }

    #[test]
    fn bases_for_each_deployment() {
        let gw = Url::parse(DEFAULT_API_BASE).unwrap();
        let api = Api::new(
            &site("https://acme.atlassian.net", Deployment::Cloud, None),
            &gw,
            None,
            RetryPolicy::default(),
        )
        .unwrap();
        assert_eq!(api.jira_base().as_str(), "https://acme.atlassian.net/");
        assert_eq!(
            api.confluence_base().as_str(),
            "https://acme.atlassian.net/wiki"
        );

        let api = Api::new(
            &site(
                "https://acme.atlassian.net",
                Deployment::Cloud,
                Some("abc-1"),
            ),
            &gw,
            None,
            RetryPolicy::default(),
        )
        .unwrap();
        assert_eq!(
            api.jira_base().as_str(),
            "https://api.atlassian.com/ex/jira/abc-1"
        );
        assert_eq!(
            api.confluence_base().as_str(),
            "https://api.atlassian.com/ex/confluence/abc-1/wiki"
        );
        assert_eq!(
            api.confluence_web.as_str(),
            "https://acme.atlassian.net/wiki"
        );

        let api = Api::new(
            &site(
                "https://tools.corp.example/jira",
                Deployment::DataCenter,
                None,
            ),
            &gw,
            None,
            RetryPolicy::default(),
        )
        .unwrap();
        assert_eq!(api.jira_base().as_str(), "https://tools.corp.example/jira");
        assert_eq!(
            with_segments(&api.jira_base(), &["rest", "api", "2", "issue", "A B/1"]).as_str(),
            "https://tools.corp.example/jira/rest/api/2/issue/A%20B%2F1"
        );
        assert_eq!(
            api.issue_url("ENG-1"),
            "https://tools.corp.example/jira/browse/ENG-1"
        );
    }
}
