//! Sign-in to an upstream MCP server (SPEC §11): discovery, a client registration (a stored one
//! when it still fits and the server still knows it, else Dynamic Client Registration), then
//! authorization code + PKCE S256 + `state` + `resource` (RFC 8707) through the loopback
//! listener with the RFC 9207 `iss` check, the code exchange (registering again once, in the
//! same run, when the server turns out not to know the client), and the stored entry. Also
//! the refresh and revocation requests that use the registration.

use std::time::{Duration, Instant};

use oauth2::basic::BasicErrorResponseType;
use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, RedirectUrl, RefreshToken, RequestTokenError,
    Scope,
};
use reqwest::Method;
use time::OffsetDateTime;
use url::Url;

use super::discovery::{Discovered, discover};
use super::login::{CallbackListener, IssuerCheck, LoginError, LoginOptions, LoginUi};
use super::registration::{oauth_client, register};
use super::store::{CredentialStore, Registration, StoreError, UpstreamEntry, UpstreamTokens};
use super::{Issued, TokenErrorKind, Traced, describe_token_error, expiry, http_client};
use crate::config::UpstreamSettings;
use crate::secret::Secret;
use crate::upstream::CallTrace;

/// What to run again when the upstream sign-in fails.
const COMMAND: &str = "atlassian-mcp-bridge login --upstream";

/// The result of an upstream sign-in, for printing and auditing.
#[derive(Debug)]
pub struct LoggedInUpstream {
    /// What was stored (registration and tokens).
    pub entry: UpstreamEntry,
    /// Every request the flow made (discovery, registration, token endpoint).
    pub trace: CallTrace,
    /// True when a new client registration was made (none stored, unusable, or forgotten).
    pub registered: bool,
}

/// Runs the whole upstream sign-in and stores its entry beside the site's sign-in.
///
/// When the authorization server turns out not to know the client after all (the code
/// exchange answers `invalid_client`, or the browser comes back with `invalid_client` /
/// `unauthorized_client`), the stale registration is forgotten and the bridge registers again
/// once and sends the browser a second time, in the same run.
pub async fn login_upstream(
    settings: &UpstreamSettings,
    store: &CredentialStore,
    options: &LoginOptions,
    ui: &dyn LoginUi,
) -> Result<LoggedInUpstream, LoginError> {
    let failed = LoginError::Failed;
    let trace = CallTrace::new();
    let http = http_client().map_err(failed)?;
    let resource = settings.url.as_str();
    ui.message(&format!("Looking up how {resource} signs in …"));
    let d = discover(&http, &trace, &settings.url)
        .await
        .map_err(|e| failed(e.to_string()))?;
    ui.message(&format!("Authorization server: {}", d.authorization_server));
    let stored = match store.load_upstream() {
        Ok(stored) => stored,
        Err(StoreError::Corrupt { reason, .. }) => {
            ui.message(&format!(
                "The stored upstream sign-in is unreadable ({reason}); this sign-in replaces it (the old file is kept at {}).",
                store.corrupt_copy_path().display()
            ));
            None
        }
        Err(e) => return Err(failed(e.to_string())),
    };
    let (listener, reg, registered) =
        client_and_listener(settings, &d, stored.as_ref(), &http, &trace, ui).await?;
    if registered {
        keep_registration(store, resource, &reg).await?;
    }
    let flow = Flow {
        d: &d,
        http: &http,
        trace: &trace,
        options,
        ui,
        resource,
    };
    let (reg, registered, issued) = match flow.authorize(listener, &reg).await {
        Ok(issued) => (reg, registered, issued),
        Err(f) if f.unknown_client => {
            forget_registration(store, resource, &reg.client_id).await?;
            ui.message(&format!(
                "The authorization server does not know the client {} ({}); registering again …",
                reg.client_id, f.code
            ));
            let listener = rebind(settings, &reg).await?;
            let reg = register_new(&http, &trace, &d, ui, &listener.redirect_uri()).await?;
            keep_registration(store, resource, &reg).await?;
            match flow.authorize(listener, &reg).await {
                Ok(issued) => (reg, true, issued),
                Err(f) => {
                    if f.unknown_client {
                        forget_registration(store, resource, &reg.client_id).await?;
                    }
                    return Err(failed(f.message));
                }
            }
        }
        Err(f) => return Err(failed(f.message)),
    };
    let now = OffsetDateTime::now_utc();
    let tokens = UpstreamTokens {
        access_token: issued.access_token,
        refresh_token: issued.refresh_token,
        expires_at: expiry(now, issued.expires_in),
        obtained_at: now,
        scopes: issued
            .scopes
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| d.scopes.clone()),
    };
    if tokens.refresh_token.is_none() {
        ui.message(
            "warning: no refresh token was granted; you will need to run `atlassian-mcp-bridge login --upstream` again when the access token expires",
        );
    }
    let entry = UpstreamEntry {
        url: resource.to_string(),
        registration: Some(reg),
        tokens: Some(tokens),
    };
    let saved = entry.clone();
    update(store, move |_| Some(saved)).await?;
    Ok(LoggedInUpstream {
        entry,
        trace,
        registered,
    })
}

/// What one authorization (browser, callback, code exchange) needs.
struct Flow<'a> {
    d: &'a Discovered,
    http: &'a reqwest::Client,
    trace: &'a CallTrace,
    options: &'a LoginOptions,
    ui: &'a dyn LoginUi,
    resource: &'a str,
}

/// Why one authorization failed.
struct Failure {
    /// For the person.
    message: String,
    /// The OAuth error code, when the server answered one.
    code: String,
    /// True when the server does not know the client: registering again may help.
    unknown_client: bool,
}

impl Flow<'_> {
    /// Sends the browser to the authorize endpoint for `reg`, waits for the callback on
    /// `listener`, and exchanges the code.
    async fn authorize(
        &self,
        listener: CallbackListener,
        reg: &Registration,
    ) -> Result<Issued, Failure> {
        let plain = |message: String| Failure {
            message,
            code: String::new(),
            unknown_client: false,
        };
        let redirect = RedirectUrl::new(reg.redirect_uri.clone())
            .map_err(|e| plain(format!("the registered redirect URI is unusable ({e})")))?;
        let client = oauth_client(reg).map_err(plain)?.set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.d.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .add_extra_param("resource", self.resource)
            .url();
        let opened = self.options.open_browser && webbrowser::open(url.as_str()).is_ok();
        self.ui.authorize_url(url.as_str(), opened);
        self.ui.message(&format!(
            "Waiting up to {} s for the browser to come back to {} …",
            self.options.timeout.as_secs(),
            reg.redirect_uri
        ));
        let issuer = IssuerCheck {
            issuer: reg.issuer.clone(),
            required: reg.iss_in_response,
        };
        let code = listener
            .receive(state.secret().clone(), Some(issuer), self.options.timeout)
            .await
            .map_err(|e| Failure {
                message: e.describe(COMMAND),
                code: e.code().to_string(),
                unknown_client: e.is_unknown_client(),
            })?;

        self.ui.message("Exchanging the authorization code …");
        client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(verifier)
            .add_extra_param("resource", self.resource)
            .request_async(&Traced {
                client: self.http,
                trace: self.trace,
            })
            .await
            .map(Issued::from)
            .map_err(|e| {
                let (code, unknown_client) = match &e {
                    RequestTokenError::ServerResponse(r) => {
                        (r.error().to_string(), is_unknown_client(r.error()))
                    }
                    _ => (String::new(), false),
                };
                Failure {
                    message: exchange_error(&e, reg),
                    code,
                    unknown_client,
                }
            })
    }
}

/// A new registration for exactly `redirect`.
async fn register_new(
    http: &reqwest::Client,
    trace: &CallTrace,
    d: &Discovered,
    ui: &dyn LoginUi,
    redirect: &str,
) -> Result<Registration, LoginError> {
    ui.message(&format!(
        "Registering atlassian-mcp-bridge with {} (redirect {redirect}) …",
        d.authorization_server
    ));
    register(http, trace, d, redirect)
        .await
        .map_err(|e| LoginError::Failed(e.to_string()))
}

/// The callback listener and the registration to sign in with: the stored registration when
/// it is for this server and callback host and its port is free (and the server still knows
/// it), else a new one for a freshly bound port.
async fn client_and_listener(
    settings: &UpstreamSettings,
    d: &Discovered,
    stored: Option<&UpstreamEntry>,
    http: &reqwest::Client,
    trace: &CallTrace,
    ui: &dyn LoginUi,
) -> Result<(CallbackListener, Registration, bool), LoginError> {
    let host = settings.callback_host.as_str();
    if let Some((reg, port)) = stored.and_then(|s| reusable(s, settings, d)) {
        match CallbackListener::bind(host, port).await {
            Ok(listener) => {
                let reg = with_endpoints(reg, d);
                if client_known(http, trace, &reg, settings.url.as_str()).await {
                    ui.message(&format!("Using the stored client {}", reg.client_id));
                    return Ok((listener, reg, false));
                }
                ui.message("The authorization server no longer knows the stored client.");
                let reg = register_new(http, trace, d, ui, &reg.redirect_uri).await?;
                return Ok((listener, reg, true));
            }
            Err(e) => ui.message(&format!(
                "The stored registration's callback port {port} is not free ({e})."
            )),
        }
    }
    let listener = bind_configured(settings).await?;
    let reg = register_new(http, trace, d, ui, &listener.redirect_uri()).await?;
    Ok((listener, reg, true))
}

/// A listener on the configured callback port (0 = any free one).
async fn bind_configured(settings: &UpstreamSettings) -> Result<CallbackListener, LoginError> {
    let host = settings.callback_host.as_str();
    let configured = settings.redirect_port;
    CallbackListener::bind(host, configured).await.map_err(|e| {
        LoginError::Config(format!(
            "cannot listen on {host}:{configured} for the sign-in callback ({e}); free the port or set upstream.redirect_port to another one (0 = any free port)"
        ))
    })
}

/// A listener for the second attempt: the port the first one used when it is free again,
/// else the configured one.
async fn rebind(
    settings: &UpstreamSettings,
    previous: &Registration,
) -> Result<CallbackListener, LoginError> {
    let port = Url::parse(&previous.redirect_uri)
        .ok()
        .and_then(|u| u.port());
    if let Some(port) = port
        && let Ok(listener) = CallbackListener::bind(settings.callback_host.as_str(), port).await
    {
        return Ok(listener);
    }
    bind_configured(settings).await
}

/// The stored registration and its callback port, when it can serve this sign-in: same MCP
/// URL and issuer, the configured callback host, and the configured port (if one is set).
fn reusable(
    entry: &UpstreamEntry,
    settings: &UpstreamSettings,
    d: &Discovered,
) -> Option<(Registration, u16)> {
    let reg = entry.registration.as_ref()?;
    if entry.url != settings.url.as_str() || reg.issuer != d.authorization_server {
        return None;
    }
    let redirect = Url::parse(&reg.redirect_uri).ok()?;
    let port = redirect.port()?;
    let fits = redirect.scheme() == "http"
        && redirect.host_str() == Some(settings.callback_host.as_str())
        && redirect.path() == "/callback"
        && (settings.redirect_port == 0 || settings.redirect_port == port);
    fits.then(|| (reg.clone(), port))
}

/// A stored registration with the endpoints just discovered (they may have moved).
fn with_endpoints(reg: Registration, d: &Discovered) -> Registration {
    Registration {
        authorization_endpoint: d.authorization_endpoint.to_string(),
        token_endpoint: d.token_endpoint.to_string(),
        revocation_endpoint: d.revocation_endpoint.as_ref().map(Url::to_string),
        registration_endpoint: d
            .registration_endpoint
            .as_ref()
            .map(Url::to_string)
            .or(reg.registration_endpoint),
        iss_in_response: d.iss_parameter_supported,
        ..reg
    }
}

/// Whether the authorization server still knows a registered client: a refresh with a random
/// token answers `invalid_grant` from a server that knows the client, `invalid_client` (or
/// `unauthorized_client`) from one that has forgotten it. Any other answer counts as known.
async fn client_known(
    http: &reqwest::Client,
    trace: &CallTrace,
    reg: &Registration,
    resource: &str,
) -> bool {
    let Ok(client) = oauth_client(reg) else {
        return false;
    };
    let bogus = RefreshToken::new(format!("probe-{}", CsrfToken::new_random().secret()));
    let answer = client
        .exchange_refresh_token(&bogus)
        .add_extra_param("resource", resource)
        .request_async(&Traced {
            client: http,
            trace,
        })
        .await;
    !matches!(answer, Err(RequestTokenError::ServerResponse(r)) if is_unknown_client(r.error()))
}

/// True for the token endpoint's answers that mean "no such client".
fn is_unknown_client(e: &BasicErrorResponseType) -> bool {
    matches!(
        e,
        BasicErrorResponseType::InvalidClient | BasicErrorResponseType::UnauthorizedClient
    )
}

fn exchange_error<E: std::error::Error>(
    e: &RequestTokenError<E, oauth2::basic::BasicErrorResponse>,
    reg: &Registration,
) -> String {
    let (_, detail) = describe_token_error(e);
    if let RequestTokenError::ServerResponse(r) = e
        && is_unknown_client(r.error())
    {
        return format!(
            "the code exchange failed: the authorization server does not accept the registered client {} ({detail}); run `{COMMAND}` again to register anew",
            reg.client_id
        );
    }
    format!("the code exchange failed: {detail}; run `{COMMAND}` again")
}

/// Reads the entry under the store's cross-process lock and writes what `change` makes of it
/// (nothing when it answers `None`); an unreadable entry counts as none. The site's sign-in is
/// kept.
async fn update(
    store: &CredentialStore,
    change: impl FnOnce(Option<UpstreamEntry>) -> Option<UpstreamEntry> + Send + 'static,
) -> Result<(), LoginError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let _lock = store.lock_within(Duration::from_secs(30))?;
        let current = match store.load_upstream() {
            Err(StoreError::Corrupt { .. }) => None,
            other => other?,
        };
        match change(current) {
            Some(entry) => store.save_upstream(&entry),
            None => Ok(()),
        }
    })
    .await
    .map_err(|e| LoginError::Failed(format!("credential store task failed: {e}")))?
    .map_err(|e| LoginError::Failed(e.to_string()))
}

/// Keeps a new registration at once when it replaces nothing still signed in, so an abandoned
/// attempt does not register again next time.
async fn keep_registration(
    store: &CredentialStore,
    resource: &str,
    reg: &Registration,
) -> Result<(), LoginError> {
    let (resource, reg) = (resource.to_string(), reg.clone());
    update(store, move |current| {
        current
            .is_none_or(|s| s.url != resource || s.tokens.is_none())
            .then_some(UpstreamEntry {
                url: resource,
                registration: Some(reg),
                tokens: None,
            })
    })
    .await
}

/// Drops the stored registration `client_id` (and its tokens, which belong to it) once the
/// server has said it does not know it, so no later run reuses it.
async fn forget_registration(
    store: &CredentialStore,
    resource: &str,
    client_id: &str,
) -> Result<(), LoginError> {
    let (resource, client_id) = (resource.to_string(), client_id.to_string());
    update(store, move |current| {
        let stale = current.as_ref().is_some_and(|s| {
            s.url == resource
                && s.registration
                    .as_ref()
                    .is_some_and(|r| r.client_id == client_id)
        });
        stale.then_some(UpstreamEntry {
            url: resource,
            registration: None,
            tokens: None,
        })
    })
    .await
}

/// One refresh of the upstream sign-in (with `resource`, RFC 8707), classified like the
/// site's: `invalid_grant` is a dead sign-in, `invalid_client` a forgotten registration.
/// Called by the upstream token manager under the store's cross-process lock.
pub(crate) async fn refresh_upstream(
    http: &reqwest::Client,
    trace: &CallTrace,
    reg: &Registration,
    resource: &str,
    refresh: &Secret,
) -> Result<Issued, (TokenErrorKind, String)> {
    let client = oauth_client(reg).map_err(|e| (TokenErrorKind::DeadGrant, e))?;
    client
        .exchange_refresh_token(&RefreshToken::new(refresh.expose().to_string()))
        .add_extra_param("resource", resource)
        .request_async(&Traced {
            client: http,
            trace,
        })
        .await
        .map(Issued::from)
        .map_err(|e| describe_token_error(&e))
}

/// Revokes the upstream sign-in's refresh token, then its access token (RFC 7009), when the
/// authorization server offers revocation; true when the server accepted at least one.
/// `logout --upstream` calls it before deleting the entry.
pub async fn revoke_upstream(
    http: &reqwest::Client,
    trace: &CallTrace,
    entry: &UpstreamEntry,
) -> Result<bool, String> {
    let (Some(reg), Some(tokens)) = (&entry.registration, &entry.tokens) else {
        return Ok(false);
    };
    let Some(endpoint) = &reg.revocation_endpoint else {
        return Ok(false);
    };
    let url = Url::parse(endpoint)
        .map_err(|e| format!("the stored revocation endpoint is not a URL ({e})"))?;
    let mut list = Vec::new();
    if let Some(refresh) = &tokens.refresh_token {
        list.push((refresh, "refresh_token"));
    }
    list.push((&tokens.access_token, "access_token"));
    let mut revoked = false;
    let mut first_error = None;
    for (token, hint) in list {
        match revoke_one(http, trace, reg, &url, token, hint).await {
            Ok(()) => revoked = true,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) if !revoked => Err(e),
        _ => Ok(revoked),
    }
}

/// One RFC 7009 request, authenticated as the registration says. (The oauth2 crate's own
/// revocation refuses the plain-http loopback servers the sandbox and tests use.)
async fn revoke_one(
    http: &reqwest::Client,
    trace: &CallTrace,
    reg: &Registration,
    url: &Url,
    token: &Secret,
    hint: &str,
) -> Result<(), String> {
    let mut form = vec![("token", token.expose()), ("token_type_hint", hint)];
    let mut request = http.post(url.clone());
    match (reg.auth_method.as_str(), &reg.client_secret) {
        ("client_secret_basic", Some(secret)) => {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(enc(&reg.client_id), Some(enc(secret.expose())));
        }
        ("client_secret_post", Some(secret)) => {
            form.push(("client_id", reg.client_id.as_str()));
            form.push(("client_secret", secret.expose()));
        }
        _ => form.push(("client_id", reg.client_id.as_str())),
    }
    let started = Instant::now();
    let sent = request.form(&form).send().await;
    let response = sent.map_err(|e| {
        trace.record(&Method::POST, url.path(), 0, started.elapsed());
        format!(
            "revocation at {} failed: {}",
            url.path(),
            super::error_chain(&e.without_url())
        )
    })?;
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    trace.record(
        &Method::POST,
        url.path(),
        status.as_u16(),
        started.elapsed(),
    );
    if status.is_success() {
        return Ok(());
    }
    let detail = crate::upstream::parse_error_body(&body).join("; ");
    Err(format!(
        "revoking the {hint} at {} answered {status} {detail}",
        url.path()
    )
    .trim_end()
    .to_string())
}

#[cfg(test)]
#[path = "upstream_login_tests.rs"]
mod tests;
