//! OAuth 2.0 (3LO) sign-in and the tokens it produces.
//!
//! - [`store`]: `<home>/credentials.json` (0600, atomic writes, cross-process lock).
//! - [`tokens`]: [`tokens::TokenManager`], which hands out access tokens and refreshes them
//!   single-flight within a process and across processes.
//! - [`login`]: the authorization-code + PKCE flow with a one-shot loopback listener, site
//!   selection among the accessible resources, and the identity lookup.
//! - Upstream MCP server sign-in (SPEC §11), no app registration: [`discovery`] (RFC 9728
//!   protected-resource and RFC 8414 server metadata, path-aware), [`registration`] (RFC 7591),
//!   [`upstream_login`] (PKCE + `resource` + RFC 9207 `iss`, refresh and revocation requests)
//!   and [`upstream_tokens`] (single-flight refresh under the same store lock).

pub mod discovery;
pub mod login;
pub mod registration;
pub mod store;
pub mod tokens;
pub mod upstream_login;
pub mod upstream_tokens;

use std::time::{Duration, Instant};

use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse,
    RequestTokenError, StandardErrorResponse, TokenResponse as _, TokenUrl,
};

use crate::config::OAuthSettings;
use crate::upstream::CallTrace;

/// Why a sign-in is not usable, phrased so the user knows what to run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// Nobody has signed in yet.
    #[error("not signed in to Atlassian; run `atlassian-mcp-bridge login`")]
    NotSignedIn,
    /// The refresh token is dead (expired, rotated away, revoked): only a new sign-in helps.
    #[error("sign-in expired ({0}); run `atlassian-mcp-bridge login`")]
    SignInExpired(String),
    /// The refresh failed for a reason that may pass (network, server error).
    #[error("could not refresh the Atlassian sign-in: {0}; try again shortly")]
    Refresh(String),
    /// The authorization server refused the client credentials (id or secret).
    #[error(
        "the authorization server refused this OAuth client ({0}); check oauth.client_id and oauth.client_secret (or ATLASSIAN_OAUTH_CLIENT_SECRET), then run `atlassian-mcp-bridge login`"
    )]
    Client(String),
    /// The credential store could not be read or written.
    #[error("{0}")]
    Store(String),
    /// The upstream MCP server's sign-in (SPEC §11) is missing or dead.
    #[error("{0}; run `atlassian-mcp-bridge login --upstream`")]
    UpstreamSignIn(String),
}

impl AuthError {
    /// True when the sign-in could not be refreshed for a reason that may pass (the network,
    /// the server): the site may simply be out of reach, so a cached answer is fair.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, AuthError::Refresh(_))
    }
}

impl From<store::StoreError> for AuthError {
    fn from(e: store::StoreError) -> Self {
        AuthError::Store(e.to_string())
    }
}

/// An OAuth client that can exchange codes and refresh tokens.
pub(crate) type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// An OAuth client that can also build authorize URLs.
pub(crate) type LoginClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The token-endpoint client for these settings: client secret sent in the request body
/// (`client_secret_post`), which Atlassian requires and other servers accept.
pub(crate) fn token_client(settings: &OAuthSettings) -> TokenClient {
    let mut client = BasicClient::new(ClientId::new(settings.client_id.clone()))
        .set_token_uri(TokenUrl::from_url(settings.token_url.clone()))
        .set_auth_type(oauth2::AuthType::RequestBody);
    if let Some(secret) = &settings.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
    }
    client
}

/// The client used by `login`: token endpoint plus authorize endpoint.
pub(crate) fn login_client(settings: &OAuthSettings) -> LoginClient {
    token_client(settings).set_auth_uri(AuthUrl::from_url(settings.authorize_url.clone()))
}

/// An HTTP client for the token endpoint: no redirects (the oauth2 crate's advice against SSRF),
/// the product User-Agent, timeouts.
pub(crate) fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(crate::upstream::USER_AGENT)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))
}

/// The token endpoint's HTTP client, built at the first refresh instead of at start-up (TLS
/// set-up is the costly part, and most runs refresh nothing).
#[derive(Debug, Default)]
pub(crate) struct LazyHttp(std::sync::OnceLock<reqwest::Client>);

impl LazyHttp {
    /// The client, built on first use.
    pub(crate) fn get(&self) -> Result<&reqwest::Client, String> {
        if let Some(c) = self.0.get() {
            return Ok(c);
        }
        let built = http_client()?;
        Ok(self.0.get_or_init(|| built))
    }
}

/// The oauth2 crate's HTTP client, recording every request in a [`CallTrace`]
/// (method, path, status, ms) so token exchanges appear in audit records.
pub(crate) struct Traced<'a> {
    /// The underlying client.
    pub client: &'a reqwest::Client,
    /// Where requests are recorded.
    pub trace: &'a CallTrace,
}

impl<'c> oauth2::AsyncHttpClient<'c> for Traced<'_> {
    type Error = oauth2::HttpClientError<reqwest::Error>;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let method = request.method().clone();
            let path = request.uri().path().to_string();
            let started = Instant::now();
            let result = oauth2::AsyncHttpClient::call(self.client, request).await;
            let status = result.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
            self.trace.record(&method, &path, status, started.elapsed());
            result
        })
    }
}

/// Tokens from a successful exchange, normalized.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub access_token: crate::secret::Secret,
    pub refresh_token: Option<crate::secret::Secret>,
    pub expires_in: Duration,
    pub scopes: Option<Vec<String>>,
}

impl From<BasicTokenResponse> for Issued {
    fn from(r: BasicTokenResponse) -> Self {
        Issued {
            access_token: crate::secret::Secret::new(r.access_token().secret().clone()),
            refresh_token: r
                .refresh_token()
                .map(|t| crate::secret::Secret::new(t.secret().clone())),
            // Atlassian documents 3600 s; assume it when a server leaves it out.
            expires_in: r.expires_in().unwrap_or(Duration::from_secs(3600)),
            scopes: r
                .scopes()
                .map(|s| s.iter().map(|x| x.to_string()).collect()),
        }
    }
}

/// What a token-endpoint failure means for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenErrorKind {
    /// The grant is dead (`invalid_grant`): only a new sign-in helps.
    DeadGrant,
    /// The client id or secret was refused (`access_denied`, `invalid_client`,
    /// `unauthorized_client`): fix the config.
    Client,
    /// Network or server trouble: try again.
    Transient,
}

/// What went wrong at the token endpoint, and what kind of failure it is.
pub(crate) fn describe_token_error<E: std::error::Error>(
    e: &RequestTokenError<E, StandardErrorResponse<BasicErrorResponseType>>,
) -> (TokenErrorKind, String) {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let code = r.error().to_string();
            let detail = r
                .error_description()
                .map(|d| format!(": {}", crate::sanitize::clean_text(d)))
                .unwrap_or_default();
            let kind = match r.error() {
                BasicErrorResponseType::InvalidGrant => TokenErrorKind::DeadGrant,
                BasicErrorResponseType::InvalidClient
                | BasicErrorResponseType::UnauthorizedClient => TokenErrorKind::Client,
                // Atlassian answers a missing or wrong client secret with 401 access_denied.
                _ if code == "access_denied" => TokenErrorKind::Client,
                _ => TokenErrorKind::Transient,
            };
            (
                kind,
                format!("the authorization server answered {code}{detail}"),
            )
        }
        RequestTokenError::Request(err) => (
            TokenErrorKind::Transient,
            format!("request failed: {}", error_chain(err)),
        ),
        RequestTokenError::Parse(err, _) => (
            TokenErrorKind::Transient,
            format!("the token response could not be read ({err})"),
        ),
        RequestTokenError::Other(msg) => (TokenErrorKind::Transient, msg.clone()),
    }
}

/// An error and its sources, so "client error" also says *which* (timeout, refused, DNS…).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// When a token issued `now` with lifetime `expires_in` expires, clamped to a year so that an
/// absurd server value cannot overflow the clock arithmetic.
pub(crate) fn expiry(now: time::OffsetDateTime, expires_in: Duration) -> time::OffsetDateTime {
    let capped = expires_in.min(Duration::from_secs(366 * 24 * 3600));
    now + time::Duration::try_from(capped).unwrap_or(time::Duration::hours(1))
}
