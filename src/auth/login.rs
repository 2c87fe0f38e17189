//! The sign-in flow: authorization code + PKCE S256 + random `state`, a one-shot loopback
//! listener on 127.0.0.1 ([`callback`], shared with the upstream sign-in), the code exchange,
//! site selection among the accessible resources, and the identity lookup — then the
//! credentials are stored.

mod callback;

use std::time::{Duration, Instant};

use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};
use serde_json::Value;
use time::OffsetDateTime;
use url::Url;

pub(crate) use callback::{CallbackListener, IssuerCheck};

use super::store::{Account, CredentialStore, Credentials};
use super::{Issued, Traced, describe_token_error, http_client, login_client};
use crate::config::{OAuthSettings, SiteSettings};
use crate::sanitize::clean_text;
use crate::secret::Secret;
use crate::upstream::CallTrace;

/// Why sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The configuration does not allow a sign-in (exit code 2).
    #[error("{0}")]
    Config(String),
    /// The flow failed (exit code 1).
    #[error("{0}")]
    Failed(String),
}

/// How to run the flow.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// Try to open the authorize URL in the default browser.
    pub open_browser: bool,
    /// How long to wait for the browser to come back.
    pub timeout: Duration,
}

/// A site the sign-in grants access to.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// Cloud id.
    pub id: String,
    /// Site URL.
    pub url: String,
    /// Site name.
    pub name: Option<String>,
    /// Scopes granted for this site.
    pub scopes: Vec<String>,
}

/// The result of a sign-in, for printing and auditing.
#[derive(Debug)]
pub struct LoggedIn {
    /// What was stored.
    pub credentials: Credentials,
    /// Every upstream request the flow made.
    pub trace: CallTrace,
}

/// What the flow reports along the way.
pub trait LoginUi {
    /// The authorize URL the person must open.
    fn authorize_url(&self, url: &str, opened_browser: bool);
    /// A progress message.
    fn message(&self, text: &str);
}

/// Runs the whole flow and stores the credentials.
pub async fn login(
    site: &SiteSettings,
    oauth: &OAuthSettings,
    store: &CredentialStore,
    options: &LoginOptions,
    ui: &dyn LoginUi,
) -> Result<LoggedIn, LoginError> {
    let failed = |m: String| LoginError::Failed(m);
    // Bind before showing the link, so the browser never comes back to a closed port.
    // Port 0 picks a free port (for servers that accept any loopback port, like the sandbox).
    let configured = oauth.redirect_port;
    let listener = CallbackListener::bind("127.0.0.1", configured)
        .await
        .map_err(|e| {
            LoginError::Config(format!(
                "cannot listen on 127.0.0.1:{configured} for the sign-in callback ({e}); free the port or set oauth.redirect_port (and the app's callback URL) to another one"
            ))
        })?;
    let redirect = listener.redirect_uri();
    let redirect_url = RedirectUrl::new(redirect.clone())
        .map_err(|e| LoginError::Config(format!("oauth.redirect_port: {e}")))?;
    let client = login_client(oauth).set_redirect_uri(redirect_url);

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(oauth.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge)
        .add_extra_param("prompt", "consent");
    if let Some(audience) = &oauth.audience {
        request = request.add_extra_param("audience", audience.clone());
    }
    let (url, state) = request.url();

    let opened = options.open_browser && webbrowser::open(url.as_str()).is_ok();
    ui.authorize_url(url.as_str(), opened);
    ui.message(&format!(
        "Waiting up to {} s for the browser to come back to {redirect} …",
        options.timeout.as_secs()
    ));
    // The site's authorization server publishes no issuer to check an `iss` against.
    let code = listener
        .receive(state.secret().clone(), None, options.timeout)
        .await
        .map_err(|e| failed(e.describe("atlassian-mcp-bridge login")))?;

    ui.message("Exchanging the authorization code …");
    let trace = CallTrace::new();
    let http = http_client().map_err(failed)?;
    let call = Traced {
        client: &http,
        trace: &trace,
    };
    let issued: Issued = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&call)
        .await
        .map_err(|e| {
            failed(format!(
                "the code exchange failed: {}",
                describe_token_error(&e).1
            ))
        })?
        .into();
    let now = OffsetDateTime::now_utc();

    let resources = accessible_resources(&http, &trace, &oauth.resources_url, &issued.access_token)
        .await
        .map_err(failed)?;
    let chosen = choose_site(&resources, site).map_err(failed)?;
    let account = identity(&http, &trace, oauth, &chosen, &issued.access_token).await;
    if account.account_id.is_none() {
        ui.message("warning: could not look up who signed in (is `read:me` among the scopes?)");
    }
    let credentials = Credentials {
        client_id: oauth.client_id.clone(),
        access_token: issued.access_token,
        refresh_token: issued.refresh_token,
        expires_at: super::expiry(now, issued.expires_in),
        obtained_at: now,
        scopes: issued
            .scopes
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| chosen.scopes.clone()),
        cloud_id: chosen.id.clone(),
        site_url: chosen.url.clone(),
        site_name: chosen.name.clone(),
        account,
    };
    if credentials.refresh_token.is_none() {
        ui.message(
            "warning: no refresh token was granted (add `offline_access` to oauth.scopes); you will need to sign in again in about an hour",
        );
    }
    let store = store.clone();
    let to_save = credentials.clone();
    tokio::task::spawn_blocking(move || {
        let _lock = store.lock_within(Duration::from_secs(30))?;
        store.save(&to_save)
    })
    .await
    .map_err(|e| failed(format!("credential store task failed: {e}")))?
    .map_err(|e| failed(e.to_string()))?;
    Ok(LoggedIn { credentials, trace })
}

/// GET with a bearer token, recorded in the trace; returns the JSON body.
async fn get_json(
    http: &reqwest::Client,
    trace: &CallTrace,
    url: &Url,
    token: &Secret,
) -> Result<Value, String> {
    let started = Instant::now();
    let response = http
        .get(url.clone())
        .bearer_auth(token.expose())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            trace.record(&reqwest::Method::GET, url.path(), 0, started.elapsed());
            return Err(format!(
                "{} could not be reached ({})",
                url.path(),
                e.without_url()
            ));
        }
    };
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    trace.record(
        &reqwest::Method::GET,
        url.path(),
        status.as_u16(),
        started.elapsed(),
    );
    if !status.is_success() {
        let detail = crate::upstream::parse_error_body(&body).join("; ");
        return Err(format!("{} answered {status}: {detail}", url.path()));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{} did not answer JSON ({e})", url.path()))
}

async fn accessible_resources(
    http: &reqwest::Client,
    trace: &CallTrace,
    url: &Url,
    token: &Secret,
) -> Result<Vec<Resource>, String> {
    let body = get_json(http, trace, url, token)
        .await
        .map_err(|e| format!("listing the sites this sign-in can reach failed: {e}"))?;
    let list = body.as_array().map(Vec::as_slice).unwrap_or(&[]);
    Ok(list
        .iter()
        .filter_map(|r| {
            Some(Resource {
                id: r.get("id")?.as_str()?.to_string(),
                url: r.get("url")?.as_str()?.trim_end_matches('/').to_string(),
                name: r.get("name").and_then(Value::as_str).map(clean_text),
                scopes: r
                    .get("scopes")
                    .and_then(Value::as_array)
                    .map(|s| {
                        s.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect())
}

/// Picks the configured site among the accessible resources: by `site.cloud_id` when set,
/// else by matching `site.url`.
pub fn choose_site(resources: &[Resource], site: &SiteSettings) -> Result<Resource, String> {
    let listing = || {
        resources
            .iter()
            .map(|r| format!("{} (cloud_id {})", r.url, r.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if resources.is_empty() {
        return Err(
            "this sign-in grants access to no Atlassian site; sign in with an account that has Jira or Confluence, and grant the app access to the site".to_string(),
        );
    }
    if let Some(id) = &site.cloud_id {
        return resources
            .iter()
            .find(|r| &r.id == id)
            .cloned()
            .ok_or_else(|| {
                format!(
                    "site.cloud_id = {id} is not among the sites this sign-in can reach: {}; set site.cloud_id to one of them",
                    listing()
                )
            });
    }
    let wanted = site.url.as_str().trim_end_matches('/').to_ascii_lowercase();
    resources
        .iter()
        .find(|r| r.url.trim_end_matches('/').to_ascii_lowercase() == wanted)
        .cloned()
        .ok_or_else(|| {
            format!(
                "site.url = {} is not among the sites this sign-in can reach: {}; set site.url (or site.cloud_id) to the one to use",
                site.url.as_str().trim_end_matches('/'),
                listing()
            )
        })
}

/// Who signed in: the identity endpoint (`/me`, scope `read:me`), else Jira's `myself`.
async fn identity(
    http: &reqwest::Client,
    trace: &CallTrace,
    oauth: &OAuthSettings,
    site: &Resource,
    token: &Secret,
) -> Account {
    let me = crate::upstream::with_segments(&oauth.api_base, &["me"]);
    if let Ok(v) = get_json(http, trace, &me, token).await {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(clean_text);
        return Account {
            account_id: s("account_id"),
            name: s("name").or_else(|| s("nickname")),
            email: s("email"),
        };
    }
    let myself = crate::upstream::with_segments(
        &oauth.api_base,
        &["ex", "jira", &site.id, "rest", "api", "3", "myself"],
    );
    match get_json(http, trace, &myself, token).await {
        Ok(v) => {
            let s = |k: &str| v.get(k).and_then(Value::as_str).map(clean_text);
            Account {
                account_id: s("accountId"),
                name: s("displayName"),
                email: s("emailAddress"),
            }
        }
        Err(e) => {
            tracing::warn!("identity lookup failed: {e}");
            Account::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Auth, Deployment};

    fn site(url: &str, cloud_id: Option<&str>) -> SiteSettings {
        SiteSettings {
            url: Url::parse(url).unwrap(),
            deployment: Deployment::Cloud,
            auth: Auth::OAuth,
            cloud_id: cloud_id.map(String::from),
            confluence_url: None,
            timeout: Duration::from_secs(30),
        }
    }

    fn res(id: &str, url: &str) -> Resource {
        Resource {
            id: id.into(),
            url: url.into(),
            name: None,
            scopes: vec![],
        }
    }

    #[test]
    fn site_choice() {
        let list = vec![
            res("a", "https://one.atlassian.net"),
            res("b", "https://two.atlassian.net"),
        ];
        assert_eq!(
            choose_site(&list, &site("https://TWO.atlassian.net/", None))
                .unwrap()
                .id,
            "b"
        );
        assert_eq!(
            choose_site(&list, &site("https://one.atlassian.net", Some("b")))
                .unwrap()
                .id,
            "b"
        );
        let e = choose_site(&list, &site("https://three.atlassian.net", None)).unwrap_err();
        assert!(
            e.contains("one.atlassian.net") && e.contains("two.atlassian.net"),
            "{e}"
        );
        let e = choose_site(&list, &site("https://one.atlassian.net", Some("zzz"))).unwrap_err();
        assert!(e.contains("site.cloud_id"), "{e}");
        let e = choose_site(&[], &site("https://one.atlassian.net", None)).unwrap_err();
        assert!(e.contains("no Atlassian site"), "{e}");
    }

    #[test]
    fn pages_escape_server_text() {
        assert_eq!(callback::escape("<script>&\""), "&lt;script&gt;&amp;&quot;");
    }
}
