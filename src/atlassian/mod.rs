//! The Atlassian HTTP layer: one client per site, Jira and Confluence calls, normalized models.
//!
//! Cloud vs Data Center differences (REST v3 + ADF vs v2 + wiki markup, token vs offset paging,
//! Confluence v2 vs `/rest/api/content`) are resolved here, so the MCP tools above see one shape.
//!
//! - [`http`]: [`http::HttpClient`] (auth, retries, redirects) and [`http::CallTrace`].
//! - [`error`]: [`ApiError`] and the error-body parser.
//! - [`jira`], [`confluence`]: the calls and their normalized results.

pub mod confluence;
pub mod error;
pub mod http;
pub mod jira;
mod json;

use std::collections::HashMap;
use std::sync::Mutex;

use url::Url;

pub use error::{ApiError, Product};
pub use http::{CallTrace, Credentials, HttpClient, RetryPolicy};

use crate::config::{Auth, Deployment, SiteSettings};

/// Default API gateway (scoped API tokens and OAuth go through it).
pub const DEFAULT_API_BASE: &str = "https://api.atlassian.com";

/// A configured connection to one Atlassian site.
#[derive(Debug)]
pub struct Api {
    http: HttpClient,
    deployment: Deployment,
    site: Url,
    jira_base: Url,
    confluence_base: Url,
    /// Confluence base for human-facing links (never the API gateway).
    confluence_web: Url,
    /// Confluence space id → key, learned from lookups.
    space_keys: Mutex<HashMap<String, String>>,
}

impl Api {
    /// Builds the client for a site with static credentials (API token or PAT).
    ///
    /// `api_base` is the gateway used when `site.cloud_id` is set (scoped API tokens).
    pub fn new(site: &SiteSettings, api_base: &Url, retry: RetryPolicy) -> Result<Self, String> {
        let credentials = match &site.auth {
            Auth::ApiToken { email, token } => Credentials::Basic {
                email: email.clone(),
                token: token.clone(),
            },
            Auth::Pat { token } => Credentials::Bearer(token.clone()),
            Auth::OAuth => {
                return Err("OAuth sign-in is not available in this version".to_string());
            }
        };
        let http = HttpClient::new(&credentials, retry, site.timeout)?;
        // Scoped API tokens only work through the gateway: `{api_base}/ex/{product}/{cloudId}`.
        let via_gateway = |product: &str| match (&site.cloud_id, &site.auth) {
            (Some(id), Auth::ApiToken { .. }) => {
                Some(with_segments(api_base, &["ex", product, id]))
            }
            _ => None,
        };
        let jira_base = via_gateway("jira").unwrap_or_else(|| site.url.clone());
        let confluence_web = match (&site.confluence_url, site.deployment) {
            (Some(url), _) => url.clone(),
            (None, Deployment::Cloud) => with_segments(&site.url, &["wiki"]),
            (None, Deployment::DataCenter) => site.url.clone(),
        };
        let confluence_base = match (&site.confluence_url, via_gateway("confluence")) {
            (Some(url), _) => url.clone(),
            (None, Some(gateway)) => with_segments(&gateway, &["wiki"]),
            (None, None) => confluence_web.clone(),
        };
        Ok(Self {
            http,
            deployment: site.deployment,
            site: site.url.clone(),
            jira_base,
            confluence_base,
            confluence_web,
            space_keys: Mutex::new(HashMap::new()),
        })
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
        with_segments(&self.site, &["browse", key]).to_string()
    }
}

/// `base` with extra path segments appended (each percent-encoded).
pub(crate) fn with_segments(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    push_segments(&mut url, segments);
    url
}

fn push_segments(url: &mut Url, segments: &[&str]) {
    // Invariant-free: `path_segments_mut` only fails for cannot-be-a-base URLs, and config
    // validation guarantees http(s) URLs with a host; on that impossible path we keep the URL.
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        for s in segments {
            path.push(s);
        }
    }
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
            RetryPolicy::default(),
        )
        .unwrap();
        assert_eq!(api.jira_base.as_str(), "https://acme.atlassian.net/");
        assert_eq!(
            api.confluence_base.as_str(),
            "https://acme.atlassian.net/wiki"
        );

        let api = Api::new(
            &site(
                "https://acme.atlassian.net",
                Deployment::Cloud,
                Some("abc-1"),
            ),
            &gw,
            RetryPolicy::default(),
        )
        .unwrap();
        assert_eq!(
            api.jira_base.as_str(),
            "https://api.atlassian.com/ex/jira/abc-1"
        );
        assert_eq!(
            api.confluence_base.as_str(),
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
            RetryPolicy::default(),
        )
        .unwrap();
        assert_eq!(api.jira_base.as_str(), "https://tools.corp.example/jira");
        assert_eq!(
            with_segments(&api.jira_base, &["rest", "api", "2", "issue", "A B/1"]).as_str(),
            "https://tools.corp.example/jira/rest/api/2/issue/A%20B%2F1"
        );
        assert_eq!(
            api.issue_url("ENG-1"),
            "https://tools.corp.example/jira/browse/ENG-1"
        );
    }
}
