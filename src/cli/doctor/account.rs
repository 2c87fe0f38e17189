//! Checks 2, 4 and 5: the credentials for the auth mode, whom they belong to, and whether an
//! OAuth sign-in's scopes cover the tools policy enables.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::Check;
use super::net::PROBE_TIMEOUT;
use crate::atlassian::{Api, ApiError, CallTrace, DEFAULT_API_BASE, RetryPolicy};
use crate::audit::AuditLog;
use crate::auth::AuthError;
use crate::auth::store::{CredentialStore, Credentials};
use crate::auth::tokens::TokenManager;
use crate::catalog;
use crate::config::{API_TOKEN_ENV, Auth, PAT_ENV, Settings, SiteSettings};
use crate::policy::Policy;

/// Where to create an Atlassian Cloud API token.
const API_TOKEN_PAGE: &str = "https://id.atlassian.com/manage-profile/security/api-tokens";
const LOGIN: &str = "run `atlassian-mcp-bridge login`";

/// What check 2 established, for the checks after it.
#[derive(Debug, Clone)]
pub(super) struct Creds {
    /// The check itself.
    pub check: Check,
    /// The OAuth token manager (identity reuses it, so nothing refreshes twice).
    pub tokens: Option<Arc<TokenManager>>,
    /// The OAuth sign-in as last seen (scopes are read from it).
    pub stored: Option<Credentials>,
}

impl Creds {
    fn plain(check: Check) -> Self {
        Self {
            check,
            tokens: None,
            stored: None,
        }
    }
}

/// Which of the two places a token came from (the environment wins, as in config).
fn source(env: &str, key: &str, settings: &Settings) -> String {
    if std::env::var(env).is_ok_and(|v| !v.is_empty()) {
        format!("from {env}")
    } else {
        let file = settings
            .config_file
            .as_ref()
            .map(|f| format!(" in {}", f.display()))
            .unwrap_or_default();
        format!("from `{key}`{file}")
    }
}

/// A time in RFC 3339, to the second.
fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A time with how far away it is.
fn when(t: OffsetDateTime) -> String {
    let text = rfc3339(t);
    let left = t - OffsetDateTime::now_utc();
    if left.is_negative() {
        format!("{text} (expired)")
    } else if left.whole_seconds() < 120 {
        format!("{text} (in {} s)", left.whole_seconds())
    } else {
        format!("{text} (in {} min)", left.whole_minutes())
    }
}

fn who(c: &Credentials) -> String {
    let name = c.account.name.as_deref().unwrap_or("an unknown user");
    let email = c
        .account
        .email
        .as_ref()
        .map(|e| format!(" <{e}>"))
        .unwrap_or_default();
    format!("{name}{email} to {}", c.site_url)
}

/// The fix for a token manager's refusal.
fn auth_fix(e: &AuthError) -> String {
    match e {
        AuthError::NotSignedIn | AuthError::SignInExpired(_) => LOGIN.to_string(),
        AuthError::Refresh(_) => {
            "check the network and `oauth.token_url`, then run doctor again".to_string()
        }
        AuthError::Client(_) => format!(
            "check `oauth.client_id` and `oauth.client_secret` (or ATLASSIAN_OAUTH_CLIENT_SECRET), then {LOGIN}"
        ),
        AuthError::Store(_) => {
            "make the data directory readable and writable for this user".to_string()
        }
        AuthError::UpstreamSignIn(_) => "run `atlassian-mcp-bridge login --upstream`".to_string(),
    }
}

/// Check 2: the credentials the auth mode needs are there, and an OAuth sign-in is usable.
pub(super) async fn credentials(settings: &Settings, site: &SiteSettings) -> Creds {
    const NAME: &str = "credentials";
    match &site.auth {
        Auth::ApiToken { email, .. } => Creds::plain(Check::pass(
            NAME,
            format!(
                "api-token for {email}, token {}",
                source(API_TOKEN_ENV, "site.api_token", settings)
            ),
        )),
        Auth::Pat { .. } => Creds::plain(Check::pass(
            NAME,
            format!(
                "personal access token {}",
                source(PAT_ENV, "site.pat", settings)
            ),
        )),
        Auth::OAuth => oauth(settings).await,
    }
}

async fn oauth(settings: &Settings) -> Creds {
    const NAME: &str = "credentials";
    let Some(oauth) = settings.oauth.clone() else {
        return Creds::plain(Check::fail(
            NAME,
            "auth = \"oauth\" but there is no [oauth] section",
            "add [oauth] with client_id and client_secret (see config/example.toml)",
        ));
    };
    let store = CredentialStore::in_dir(&settings.data_dir);
    let stored = match store.load() {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Creds::plain(Check::fail(
                NAME,
                format!(
                    "not signed in: no OAuth credentials at {}",
                    store.path().display()
                ),
                LOGIN,
            ));
        }
        Err(e) => return Creds::plain(Check::fail(NAME, e.to_string(), LOGIN)),
    };
    if stored.client_id != oauth.client_id {
        return Creds::plain(Check::fail(
            NAME,
            format!(
                "the stored sign-in belongs to OAuth client {}, but `oauth.client_id` is {}",
                stored.client_id, oauth.client_id
            ),
            LOGIN,
        ));
    }
    let expired = stored.needs_refresh(OffsetDateTime::now_utc());
    if expired && stored.refresh_token.is_none() {
        return Creds {
            check: Check::fail(
                NAME,
                format!(
                    "signed in as {}, but the access token expired at {} and no refresh token was granted",
                    who(&stored),
                    rfc3339(stored.expires_at)
                ),
                format!(
                    "{LOGIN} (with `offline_access` in `oauth.scopes` it then refreshes itself)"
                ),
            ),
            tokens: None,
            stored: Some(stored),
        };
    }
    // A token_refresh record goes to the audit log if a refresh happens; without a usable
    // log the refresh still happens (check 6 reports the log).
    let audit = AuditLog::open(&settings.audit).ok();
    let tokens = match TokenManager::new(oauth, store, audit) {
        Ok(t) => t,
        Err(e) => {
            return Creds {
                check: Check::fail(NAME, e.to_string(), auth_fix(&e)),
                tokens: None,
                stored: Some(stored),
            };
        }
    };
    let check = if !expired {
        // Still valid: no refresh, so no refresh token is spent on a health check.
        let detail = format!(
            "signed in as {}; access token valid until {}",
            who(&stored),
            when(stored.expires_at)
        );
        if stored.refresh_token.is_some() {
            Check::pass(NAME, format!("{detail}; refresh token present"))
        } else {
            Check::warn(
                NAME,
                format!("{detail}; no refresh token, so it stops working then"),
                format!("add `offline_access` to `oauth.scopes` and {LOGIN}"),
            )
        }
    } else {
        // Expired: the normal path, which refreshes once under the cross-process lock.
        match tokens.bearer(None).await {
            Ok(_) => {
                let now = tokens.credentials();
                let until = now
                    .as_ref()
                    .map(|c| when(c.expires_at))
                    .unwrap_or_else(|| "unknown".to_string());
                Check::pass(
                    NAME,
                    format!(
                        "signed in as {}; the access token had expired ({}), so it was refreshed: the new one is valid until {until}",
                        who(&stored),
                        rfc3339(stored.expires_at)
                    ),
                )
            }
            Err(e) => Check::fail(
                NAME,
                format!("signed in as {}, but {e}", who(&stored)),
                auth_fix(&e),
            ),
        }
    };
    let latest = tokens.credentials().or(Some(stored));
    Creds {
        check,
        tokens: Some(tokens),
        stored: latest,
    }
}

/// The fix for a failed identity call, by auth mode.
fn identity_fix(e: &ApiError, site: &SiteSettings) -> String {
    match e {
        ApiError::Status { status: 401, .. } => match &site.auth {
            Auth::ApiToken { .. } => format!(
                "create a new API token at {API_TOKEN_PAGE} and set it in {API_TOKEN_ENV} or `site.api_token` (and check `site.email`)"
            ),
            Auth::Pat { .. } => format!(
                "create a new token in your Jira/Confluence profile → Personal Access Tokens and set it in {PAT_ENV} or `site.pat`"
            ),
            Auth::OAuth => LOGIN.to_string(),
        },
        ApiError::Status { status: 403, .. } => {
            "check that this account may use this site (a scoped API token also needs `site.cloud_id`)".to_string()
        }
        ApiError::Status { status: 404, .. } => {
            "check `site.url` (the site's base URL) and `site.deployment`".to_string()
        }
        ApiError::Status { .. } => "try again shortly; check `site.url` if it persists".to_string(),
        ApiError::MissingScope { scope, .. } => format!(
            "add `{}` to `oauth.scopes` (and to the app's permissions in the Atlassian developer console), then {LOGIN}",
            scope.unwrap_or("read:jira-user")
        ),
        ApiError::SignIn(a) => auth_fix(a),
        ApiError::Redirect { .. } => {
            "set `site.url` to the site's own base URL (the one the redirect points to)".to_string()
        }
        ApiError::Decode { .. } => {
            "check `site.deployment` (cloud or data-center) and `site.url`".to_string()
        }
        _ => "check `site.url` and the network, then run doctor again".to_string(),
    }
}

/// The detail for a failed identity call: a refused token says which token, from where.
fn identity_detail(e: &ApiError, settings: &Settings, site: &SiteSettings) -> String {
    match (e, &site.auth) {
        (
            ApiError::Status {
                status: 401,
                product,
                ..
            },
            Auth::ApiToken { email, .. },
        ) => format!(
            "{} refused the API token for {email} (401); the token came {}",
            product.name(),
            source(API_TOKEN_ENV, "site.api_token", settings)
        ),
        (
            ApiError::Status {
                status: 401,
                product,
                ..
            },
            Auth::Pat { .. },
        ) => format!(
            "{} refused the personal access token (401); it came {}",
            product.name(),
            source(PAT_ENV, "site.pat", settings)
        ),
        _ => e.user_message(),
    }
}

/// Check 4: whom the credentials belong to (`status`'s call: Jira's `myself`, else
/// Confluence's current user), with a short timeout and a small retry budget.
pub(super) async fn identity(
    settings: &Settings,
    site: &SiteSettings,
    tokens: Option<Arc<TokenManager>>,
) -> Check {
    const NAME: &str = "identity";
    let mut site = site.clone();
    site.timeout = site.timeout.min(PROBE_TIMEOUT);
    let api_base = match settings.oauth.as_ref().map(|o| o.api_base.clone()) {
        Some(u) => u,
        None => match url::Url::parse(DEFAULT_API_BASE) {
            Ok(u) => u,
            Err(e) => {
                return Check::fail(
                    NAME,
                    format!("default API base: {e}"),
                    "report this as a bug",
                );
            }
        },
    };
    let before = tokens
        .as_ref()
        .and_then(|t| t.credentials())
        .map(|c| c.obtained_at);
    let retry = RetryPolicy {
        max_retries: 1,
        max_wait: Duration::from_secs(5),
        base_backoff: Duration::from_secs(1),
    };
    let api = match Api::new(&site, &api_base, tokens.clone(), retry) {
        Ok(a) => a,
        Err(e) => return Check::fail(NAME, e, "check the [site] section"),
    };
    let result = api.current_user(&CallTrace::new()).await;
    let after = tokens
        .as_ref()
        .and_then(|t| t.credentials())
        .map(|c| c.obtained_at);
    let refreshed = if before != after {
        " (the access token was refused, so it was refreshed once)"
    } else {
        ""
    };
    match result {
        Ok(me) => Check::pass(
            NAME,
            format!(
                "Atlassian knows you as {}{}{}{refreshed}",
                me.display_name.as_deref().unwrap_or("an unnamed user"),
                me.email.map(|e| format!(" <{e}>")).unwrap_or_default(),
                me.id.map(|i| format!(" (account {i})")).unwrap_or_default(),
            ),
        ),
        Err(e @ ApiError::RateLimited { .. }) => Check::warn(
            NAME,
            e.user_message(),
            "Atlassian is rate limiting this account: run doctor again in a minute",
        ),
        Err(e) => Check::fail(
            NAME,
            format!("{}{refreshed}", identity_detail(&e, settings, &site)),
            identity_fix(&e, &site),
        ),
    }
}

/// Check 5 (OAuth): every tool policy enables has the scopes its requests need.
pub(super) fn scopes(settings: &Settings, creds: &Creds) -> Check {
    const NAME: &str = "scopes";
    let Some(c) = &creds.stored else {
        return Check::skip(
            NAME,
            "no sign-in to read granted scopes from (see credentials)",
        );
    };
    if c.scopes.is_empty() {
        return Check::warn(
            NAME,
            "the sign-in records no granted scopes (the authorization server did not list them)",
            format!(
                "{LOGIN} again; if that persists, compare `oauth.scopes` with the app's permissions"
            ),
        );
    }
    let policy = Policy::new(settings.policy.clone());
    let enabled: Vec<&catalog::ToolInfo> = catalog::served()
        .filter(|t| policy.admit_tool(t).is_ok())
        .collect();
    let mut missing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for t in &enabled {
        for s in t.scopes {
            if !c.scopes.iter().any(|g| g == s) {
                missing.entry(s).or_default().push(t.name);
            }
        }
    }
    if missing.is_empty() {
        return Check::pass(
            NAME,
            format!(
                "the granted scopes cover the {} tools policy enables",
                enabled.len()
            ),
        );
    }
    let detail = missing
        .iter()
        .map(|(s, tools)| format!("`{s}` (needed by {})", tools.join(", ")))
        .collect::<Vec<_>>()
        .join("; ");
    let requested: &[String] = settings
        .oauth
        .as_ref()
        .map(|o| o.scopes.as_slice())
        .unwrap_or_default();
    let unrequested: Vec<String> = missing
        .keys()
        .filter(|s| !requested.iter().any(|r| r == *s))
        .map(|s| format!("`{s}`"))
        .collect();
    let fix = if unrequested.is_empty() {
        format!(
            "`oauth.scopes` asks for them but the sign-in lacks them: enable them in the app's permissions in the Atlassian developer console, then {LOGIN}"
        )
    } else {
        format!(
            "add {} to `oauth.scopes` (and to the app's permissions in the Atlassian developer console), then {LOGIN}; or turn those tools off in [policy]",
            unrequested.join(", ")
        )
    };
    Check::fail(NAME, format!("missing {detail}"), fix)
}
