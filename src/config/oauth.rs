//! `[oauth]`: the OAuth 2.0 (3LO) client used by `login` and token refresh.

use serde::Deserialize;
use url::Url;

use super::site::checked_url;
use super::{CLIENT_SECRET_ENV, ConfigError};
use crate::secret::Secret;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[oauth]` as written.
pub(super) struct RawOAuth {
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

/// Validates `[oauth]`, filling Atlassian's endpoints and scopes as defaults.
pub(super) fn resolve_oauth(
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
