//! Atlassian's OAuth 2.0 (3LO) endpoints for the sandbox: `GET /authorize` (auto-consent),
//! `POST /oauth/token` (authorization code with optional PKCE S256, rotating refresh tokens
//! in families with a reuse grace), `POST /oauth/revoke` (RFC 7009),
//! `GET /oauth/token/accessible-resources`, `GET /me`, and the bearer check with per-endpoint
//! scopes used by the API gateway (`/ex/jira/{cloudId}/…`, `/ex/confluence/{cloudId}/wiki/…`).
//!
//! Every token lives behind one mutex, which is never held across an `await`, so counters are
//! exact under concurrency. Tokens are random and opaque and are never logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method};
use base64::Engine as _;
use rand::RngCore as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::seed::{DEMO, Store};
use super::wire::{Params, Reply, enc, escape_html};
use super::{SANDBOX_CLOUD_ID, lock};

/// The only OAuth client the sandbox knows (what a developer-console app's "Client ID" is).
pub const SANDBOX_OAUTH_CLIENT_ID: &str = "sandbox-client";
/// The secret of [`SANDBOX_OAUTH_CLIENT_ID`]; like Atlassian, the token endpoint requires it
/// for both grants even when PKCE is used.
pub const SANDBOX_OAUTH_CLIENT_SECRET: &str = "sandbox-client-secret";
/// The demo user's Cloud accountId (Dana Demo), who every OAuth grant signs in as, so tests
/// can compare `/me`, `/myself` and `currentUser()` against one value.
pub const SANDBOX_ACCOUNT_ID: &str = "61d5f0c2a8b4e3001d7c9a01";

/// The only `audience` value Atlassian's authorize endpoint accepts.
const AUDIENCE: &str = "api.atlassian.com";
/// How long an authorization code may be exchanged.
const CODE_LIFETIME: Duration = Duration::from_secs(600);
/// Access-token lifetime Atlassian uses.
const DEFAULT_EXPIRES_IN: u64 = 3600;
/// Atlassian's reuse leeway for a rotated refresh token.
const DEFAULT_GRACE: Duration = Duration::from_secs(600);
/// Upper bound for lifetimes and grace (ten years), so `Instant` arithmetic cannot overflow.
pub(crate) const MAX_SECS: u64 = 10 * 365 * 24 * 3600;
/// Avatar of the sandbox site in `accessible-resources` (a fake, never fetched).
const SITE_AVATAR: &str =
    "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png";

/// Counts of what the OAuth endpoints did, for tests that assert "exactly one refresh".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OAuthCounters {
    /// Authorization codes handed out by `/authorize` (declined consent issues none).
    pub codes_issued: u64,
    /// Successful `authorization_code` exchanges (each starts a token family).
    pub token_exchanges: u64,
    /// Successful `refresh_token` grants, including reuses within the grace period.
    pub refreshes: u64,
    /// Families revoked: by refresh-token reuse after its grace, `/oauth/revoke` or `revoke_all`.
    pub families_revoked: u64,
    /// Families still holding a live access or refresh token.
    pub active_families: u64,
}

struct Code {
    redirect_uri: String,
    scopes: Vec<String>,
    challenge: Option<String>,
    resource: bool,
    issued: Instant,
}

struct FamilyRec {
    scopes: Vec<String>,
    access: Vec<String>,
    refresh: Vec<String>,
}

struct AccessRec {
    family: u64,
    /// When it stops working: its own expiry, or the end of its refresh token's grace.
    expires: Instant,
}

struct RefreshRec {
    family: u64,
    /// The access token issued together with this refresh token.
    companion: String,
    /// `None` while current; after rotation, the end of its grace.
    dies_at: Option<Instant>,
}

struct State {
    expires_in: u64,
    grace: Duration,
    consent: bool,
    extra_sites: Vec<(String, String, String)>,
    no_sites: bool,
    codes: HashMap<String, Code>,
    families: HashMap<u64, FamilyRec>,
    access: HashMap<String, AccessRec>,
    refresh: HashMap<String, RefreshRec>,
    next_family: u64,
    codes_issued: u64,
    token_exchanges: u64,
    refreshes: u64,
    families_revoked: u64,
}

impl Default for State {
    fn default() -> Self {
        Self {
            expires_in: DEFAULT_EXPIRES_IN,
            grace: DEFAULT_GRACE,
            consent: true,
            extra_sites: Vec::new(),
            no_sites: false,
            codes: HashMap::new(),
            families: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            next_family: 1,
            codes_issued: 0,
            token_exchanges: 0,
            refreshes: 0,
            families_revoked: 0,
        }
    }
}

fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

impl State {
    /// Issues an access token (and a refresh token when the family has `offline_access`).
    fn issue(&mut self, family: u64, now: Instant) -> Value {
        let expires_in = self.expires_in;
        let Some(fam) = self.families.get_mut(&family) else {
            return Value::Null;
        };
        let access = random_token();
        self.access.insert(
            access.clone(),
            AccessRec {
                family,
                expires: later(now, Duration::from_secs(expires_in)),
            },
        );
        fam.access.push(access.clone());
        let mut body = json!({
            "access_token": access,
            "expires_in": expires_in,
            "token_type": "Bearer",
            "scope": fam.scopes.join(" "),
        });
        if fam.scopes.iter().any(|s| s == "offline_access") {
            let refresh = random_token();
            fam.refresh.push(refresh.clone());
            self.refresh.insert(
                refresh.clone(),
                RefreshRec {
                    family,
                    companion: access,
                    dies_at: None,
                },
            );
            body["refresh_token"] = Value::String(refresh);
        }
        body
    }

    fn new_family(&mut self, scopes: Vec<String>) -> u64 {
        let id = self.next_family;
        self.next_family += 1;
        self.families.insert(
            id,
            FamilyRec {
                scopes,
                access: Vec::new(),
                refresh: Vec::new(),
            },
        );
        id
    }

    /// Forgets every token of a family; later use of any of them is "unknown".
    fn revoke_family(&mut self, family: u64) -> bool {
        let Some(fam) = self.families.remove(&family) else {
            return false;
        };
        for t in &fam.access {
            self.access.remove(t);
        }
        for t in &fam.refresh {
            self.refresh.remove(t);
        }
        self.families_revoked += 1;
        true
    }

    fn active_families(&self, now: Instant) -> u64 {
        let live = |fam: &FamilyRec| {
            fam.access
                .iter()
                .any(|t| self.access.get(t).is_some_and(|a| now < a.expires))
                || fam.refresh.iter().any(|t| {
                    self.refresh
                        .get(t)
                        .is_some_and(|r| r.dies_at.is_none_or(|d| now < d))
                })
        };
        self.families.values().filter(|f| live(f)).count() as u64
    }

    /// The scopes of a live access token.
    fn bearer(&self, token: &str, now: Instant) -> Option<&[String]> {
        let rec = self.access.get(token)?;
        if now >= rec.expires {
            return None;
        }
        self.families.get(&rec.family).map(|f| f.scopes.as_slice())
    }
}

/// Switches and counters of the sandbox's OAuth endpoints.
///
/// Cloning shares the state: a clone handed to another task drives the same sandbox.
#[derive(Clone, Default)]
pub struct OAuthSwitches {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for OAuthSwitches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthSwitches")
            .field("counters", &self.counters())
            .finish_non_exhaustive()
    }
}

/// Tokens handed out by [`OAuthSwitches::mint`].
#[derive(Clone, PartialEq, Eq)]
pub struct MintedTokens {
    /// The bearer access token.
    pub access_token: String,
    /// The refresh token, present only when the scope included `offline_access`.
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for MintedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedTokens")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

impl OAuthSwitches {
    /// Sets the access-token lifetime (`expires_in`) for tokens issued from now on, so tests
    /// can watch a token expire in a second or two. Capped at ten years.
    pub fn set_expires_in(&self, secs: u64) {
        lock(&self.state).expires_in = secs.min(MAX_SECS);
    }

    /// Sets how long a rotated refresh token and its companion access token keep working
    /// (Atlassian: 10 minutes); zero makes any reuse revoke the family. Applies to rotations
    /// from now on.
    pub fn set_grace(&self, grace: Duration) {
        lock(&self.state).grace = grace.min(Duration::from_secs(MAX_SECS));
    }

    /// `false` makes `/authorize` answer as if the user clicked "Deny"
    /// (`error=access_denied`), so clients' declined-consent path can be tested.
    pub fn set_consent(&self, consent: bool) {
        lock(&self.state).consent = consent;
    }

    /// Adds further sites `(cloud id, url, name)` to `accessible-resources`, for tests of a
    /// client that must choose between several sites. They are listed only: the gateway
    /// still answers for [`super::SANDBOX_CLOUD_ID`] alone.
    pub fn set_extra_sites(&self, sites: Vec<(String, String, String)>) {
        lock(&self.state).extra_sites = sites;
    }

    /// `true` makes `accessible-resources` answer `[]` (a grant that reaches no site).
    pub fn set_no_sites(&self, none: bool) {
        lock(&self.state).no_sites = none;
    }

    /// Revokes every token family (like an admin removing the app); returns how many.
    pub fn revoke_all(&self) -> u64 {
        let mut st = lock(&self.state);
        let ids: Vec<u64> = st.families.keys().copied().collect();
        ids.into_iter().filter(|id| st.revoke_family(*id)).count() as u64
    }

    /// The counters, read atomically.
    pub fn counters(&self) -> OAuthCounters {
        let st = lock(&self.state);
        OAuthCounters {
            codes_issued: st.codes_issued,
            token_exchanges: st.token_exchanges,
            refreshes: st.refreshes,
            families_revoked: st.families_revoked,
            active_families: st.active_families(Instant::now()),
        }
    }

    /// Current `(expires_in seconds, grace, consent)`, for the control endpoint.
    pub fn settings(&self) -> (u64, Duration, bool) {
        let st = lock(&self.state);
        (st.expires_in, st.grace, st.consent)
    }

    /// Starts a token family directly, skipping the browser flow, for tests of clients that
    /// need a valid grant in their store. `scope` is space-separated; not counted as an
    /// exchange.
    pub fn mint(&self, scope: &str) -> MintedTokens {
        let mut st = lock(&self.state);
        let scopes = split_scopes(scope);
        let family = st.new_family(scopes);
        let body = st.issue(family, Instant::now());
        MintedTokens {
            access_token: body["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            refresh_token: body["refresh_token"].as_str().map(str::to_string),
            expires_in: body["expires_in"].as_u64().unwrap_or_default(),
        }
    }

    /// Checks a bearer token against a scope requirement (any one of `any_of`; empty = none).
    pub(crate) fn check_bearer(&self, token: &str, any_of: &[&str]) -> Result<(), BearerError> {
        let st = lock(&self.state);
        let scopes = st
            .bearer(token, Instant::now())
            .ok_or(BearerError::Invalid)?;
        if any_of.is_empty() || any_of.iter().any(|need| scopes.iter().any(|s| s == need)) {
            Ok(())
        } else {
            Err(BearerError::Scope)
        }
    }

    fn bearer_scopes(&self, token: &str) -> Option<Vec<String>> {
        lock(&self.state)
            .bearer(token, Instant::now())
            .map(<[String]>::to_vec)
    }
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BearerError {
    /// Unknown, expired or revoked.
    Invalid,
    /// Valid, but without the scope the endpoint needs.
    Scope,
}

/// The gateway's 401 for a refused bearer token (the same body for every product).
pub(crate) fn bearer_denied(err: BearerError) -> Reply {
    let message = match err {
        BearerError::Invalid => "Unauthorized",
        BearerError::Scope => "Unauthorized; scope does not match",
    };
    Reply::json(401, json!({"code": 401, "message": message}))
        .header("WWW-Authenticate", "Bearer realm=\"sandbox\"")
}

/// The scopes an API call through the gateway needs (any one of them; empty = any valid
/// token). `segs` is the path inside the site (`rest/api/3/…` or `wiki/…`). From the
/// `x-atlassian-oauth2-scopes` / `security` entries of Atlassian's API descriptions, classic
/// scopes for Jira and Confluence v1, granular for Confluence v2.
pub(crate) fn gateway_scopes(method: &Method, segs: &[String]) -> &'static [&'static str] {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let read = *method == Method::GET || *method == Method::HEAD;
    match s.as_slice() {
        ["rest", "api", _, "myself"] => &["read:jira-user"],
        ["rest", "api", _, "serverInfo"] => &[],
        ["rest", "api", _, "search", "jql"] | ["rest", "api", _, "search"] => &["read:jira-work"],
        ["rest", ..] if read => &["read:jira-work"],
        ["rest", ..] => &["write:jira-work"],
        ["wiki", "api", "v2", "spaces"] | ["wiki", "api", "v2", "spaces", _] => {
            if read {
                &["read:space:confluence"]
            } else {
                &["write:space:confluence"]
            }
        }
        ["wiki", "api", "v2", "pages", ..] | ["wiki", "api", "v2", "spaces", _, "pages"] => {
            if read {
                &["read:page:confluence"]
            } else if *method == Method::DELETE {
                &["delete:page:confluence"]
            } else {
                &["write:page:confluence"]
            }
        }
        ["wiki", "api", "v2", "users-bulk"] => &["read:user:confluence"],
        ["wiki", "rest", "api", "search"] | ["wiki", "rest", "api", "content", "search"] => {
            &["search:confluence"]
        }
        ["wiki", "rest", "api", "content", ..] if read => &[
            "read:confluence-content.summary",
            "read:confluence-content.all",
        ],
        ["wiki", "rest", "api", "content", ..] => &["write:confluence-content"],
        ["wiki", "rest", "api", "space", ..] if read => &["read:confluence-space.summary"],
        ["wiki", "rest", "api", "user", "current"] => &["read:me", "read:confluence-user"],
        _ => &[],
    }
}

/// Whether a path belongs to the OAuth endpoints (auth.atlassian.com / api.atlassian.com).
pub(crate) fn is_oauth_path(path: &str) -> bool {
    matches!(
        path.trim_end_matches('/'),
        "/authorize"
            | "/oauth/token"
            | "/oauth/revoke"
            | "/oauth/token/accessible-resources"
            | "/me"
    )
}

/// One request to an OAuth endpoint.
pub(crate) struct OAuthRequest<'a> {
    /// The request method (each endpoint answers one; others get 405).
    pub method: &'a Method,
    /// The request path (`/authorize`, `/oauth/token` …).
    pub path: &'a str,
    /// The raw query string (`/authorize` parameters).
    pub query: Option<&'a str>,
    /// Request headers (client Basic auth, Bearer tokens, Content-Type).
    pub headers: &'a HeaderMap,
    /// The raw body (token and revoke requests).
    pub body: &'a [u8],
    /// `http://host:port`, for the site URL in `accessible-resources`.
    pub origin: String,
}

/// Answers a request for which [`is_oauth_path`] is true.
pub(crate) fn handle(
    oauth: &OAuthSwitches,
    store: &std::sync::RwLock<Store>,
    req: &OAuthRequest<'_>,
) -> Reply {
    let path = req.path.trim_end_matches('/');
    let get = *req.method == Method::GET;
    let post = *req.method == Method::POST;
    match path {
        "/authorize" if get => authorize(oauth, req.query),
        "/oauth/token" if post => token(oauth, req.headers, req.body),
        "/oauth/revoke" if post => revoke(oauth, req.headers, req.body),
        "/oauth/token/accessible-resources" if get => accessible_resources(oauth, req),
        "/me" if get => me(oauth, store, req.headers),
        _ => Reply::json(405, json!({"code": 405, "message": "Method Not Allowed"})),
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn split_scopes(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.split_whitespace() {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    out
}

/// The small HTML page `/authorize` shows instead of redirecting to an unvalidated URI.
fn page(message: &str) -> Reply {
    let html = format!(
        "<!doctype html><html><head><title>Something went wrong</title></head><body><h1>Something went wrong</h1><p>{}</p></body></html>\n",
        escape_html(message)
    );
    Reply::text(400, "text/html; charset=utf-8", html)
}

fn redirect(location: &str) -> Reply {
    Reply::text(302, "text/plain; charset=utf-8", String::new())
        .header("Location", location)
        .header("Cache-Control", "no-store")
}

/// Only loopback `http://127.0.0.1:<port>/callback` or `http://localhost:<port>/callback`,
/// written in its normal form (so the string redirected to is exactly the one checked).
fn valid_redirect(uri: &str) -> bool {
    let Ok(u) = url::Url::parse(uri) else {
        return false;
    };
    u.as_str() == uri
        && u.scheme() == "http"
        && matches!(u.host_str(), Some("127.0.0.1") | Some("localhost"))
        && u.port().is_some()
        && u.path() == "/callback"
        && u.query().is_none()
        && u.fragment().is_none()
        && u.username().is_empty()
        && u.password().is_none()
}

fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn authorize(oauth: &OAuthSwitches, query: Option<&str>) -> Reply {
    let params = match Params::parse(query) {
        Ok(p) => p,
        Err(msg) => return page(&msg),
    };
    let get = |k: &str| params.get(k).filter(|v| !v.is_empty());
    if get("client_id") != Some(SANDBOX_OAUTH_CLIENT_ID) {
        return page("The client_id is missing or is not a registered app.");
    }
    let Some(redirect_uri) = get("redirect_uri") else {
        return page("The redirect_uri parameter is missing.");
    };
    if !valid_redirect(redirect_uri) {
        return page(
            "The redirect_uri does not match the app's callback URL (http://127.0.0.1:<port>/callback or http://localhost:<port>/callback).",
        );
    }
    let Some(state) = get("state") else {
        return page("The state parameter is required.");
    };
    match get("response_type") {
        Some("code") => {}
        Some(_) => return page("Unsupported response_type: only 'code' is supported."),
        None => return page("The response_type parameter is required."),
    }
    if let Some(aud) = params.get("audience")
        && aud != AUDIENCE
    {
        return page("The audience parameter must be api.atlassian.com.");
    }
    let scopes = split_scopes(params.get("scope").unwrap_or(""));
    if scopes.is_empty() {
        return page("The scope parameter is required.");
    }
    let challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (None, None) => None,
        (Some(c), Some("S256")) if c.len() == 43 && is_b64url(c) => Some(c.to_string()),
        (Some(_), Some("S256")) => {
            return page("The code_challenge is not a base64url SHA-256 digest (43 characters).");
        }
        (None, Some(_)) => return page("code_challenge_method was sent without code_challenge."),
        (Some(_), _) => return page("Unsupported code_challenge_method: only S256 is supported."),
    };
    let resource = params.has("resource");

    let mut st = lock(&oauth.state);
    if !st.consent {
        drop(st);
        return redirect(&format!(
            "{redirect_uri}?error=access_denied&error_description={}&state={}",
            enc("The user did not authorize the request."),
            enc(state)
        ));
    }
    let now = Instant::now();
    st.codes
        .retain(|_, c| now.duration_since(c.issued) < CODE_LIFETIME);
    let code = random_token();
    st.codes.insert(
        code.clone(),
        Code {
            redirect_uri: redirect_uri.to_string(),
            scopes,
            challenge,
            resource,
            issued: now,
        },
    );
    st.codes_issued += 1;
    drop(st);
    redirect(&format!(
        "{redirect_uri}?code={}&state={}",
        enc(&code),
        enc(state)
    ))
}

fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": error, "error_description": description}),
    )
    .header("Cache-Control", "no-store")
}

fn unauthorized_client() -> Reply {
    oauth_error(401, "access_denied", "Unauthorized")
}

/// A token or revoke request body: JSON object or form-urlencoded (string values only).
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, Reply> {
    let ctype = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let looks_json = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    let bad = |m: &str| oauth_error(400, "invalid_request", m);
    if ctype.starts_with("application/json") || (!ctype.contains("form") && looks_json) {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return Err(bad("The request body is not a JSON object."));
        };
        Ok(map
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                _ => None,
            })
            .collect())
    } else {
        if std::str::from_utf8(body).is_err() {
            return Err(bad("The request body is not valid UTF-8."));
        }
        let mut out = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        Ok(out)
    }
}

/// Client authentication: HTTP Basic, or `client_id` + `client_secret` in the body.
fn client_ok(headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "));
    let (id, secret) = if let Some(b64) = basic {
        let Some(raw) = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()
            .and_then(|r| String::from_utf8(r).ok())
        else {
            return false;
        };
        let Some((id, secret)) = raw.split_once(':') else {
            return false;
        };
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        (dec(id), dec(secret))
    } else {
        (
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("client_secret").cloned().unwrap_or_default(),
        )
    };
    id == SANDBOX_OAUTH_CLIENT_ID && secret == SANDBOX_OAUTH_CLIENT_SECRET
}

fn token(oauth: &OAuthSwitches, headers: &HeaderMap, body: &[u8]) -> Reply {
    let form = match parse_body(headers, body) {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    if !client_ok(headers, &form) {
        return unauthorized_client();
    }
    let reply = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => exchange_code(oauth, &form),
        Some("refresh_token") => refresh(oauth, &form),
        None | Some("") => oauth_error(
            400,
            "invalid_request",
            "Missing required parameter: grant_type",
        ),
        Some(_) => Reply::json(400, json!({"error": "unsupported_grant_type"})),
    };
    reply
        .header("Cache-Control", "no-store")
        .header("Pragma", "no-cache")
}

fn invalid_grant(status: u16, description: &str) -> Reply {
    oauth_error(status, "invalid_grant", description)
}

fn exchange_code(oauth: &OAuthSwitches, form: &HashMap<String, String>) -> Reply {
    let Some(code) = form.get("code").filter(|c| !c.is_empty()) else {
        return oauth_error(400, "invalid_request", "Missing required parameter: code");
    };
    let now = Instant::now();
    let mut st = lock(&oauth.state);
    // Single use: the code is gone after any exchange attempt.
    let Some(grant) = st.codes.remove(code) else {
        return invalid_grant(400, "Invalid authorization code");
    };
    if now.duration_since(grant.issued) >= CODE_LIFETIME {
        return invalid_grant(400, "Invalid authorization code");
    }
    if grant.resource {
        return oauth_error(400, "invalid_target", "Incorrect resource parameters");
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return invalid_grant(
            400,
            "The redirect_uri does not match the one used in the authorization request.",
        );
    }
    if let Some(challenge) = &grant.challenge {
        let Some(verifier) = form.get("code_verifier") else {
            return invalid_grant(400, "Missing code_verifier");
        };
        let valid_form = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        if !valid_form || digest != *challenge {
            return invalid_grant(400, "Failed to verify code verifier");
        }
    }
    let family = st.new_family(grant.scopes);
    let body = st.issue(family, now);
    st.token_exchanges += 1;
    Reply::ok(body)
}

fn refresh(oauth: &OAuthSwitches, form: &HashMap<String, String>) -> Reply {
    let unknown = || invalid_grant(403, "Unknown or invalid refresh token.");
    let Some(token) = form.get("refresh_token").filter(|t| !t.is_empty()) else {
        return oauth_error(
            400,
            "invalid_request",
            "Missing required parameter: refresh_token",
        );
    };
    let now = Instant::now();
    let mut st = lock(&oauth.state);
    let grace = st.grace;
    let Some(rec) = st.refresh.get_mut(token) else {
        return unknown();
    };
    let family = rec.family;
    match rec.dies_at {
        Some(dies_at) if now >= dies_at => {
            // Reuse after the grace: the whole grant is compromised.
            st.revoke_family(family);
            tracing::debug!(
                family,
                "sandbox oauth: refresh token reused after its grace; family revoked"
            );
            return unknown();
        }
        Some(_) => {}
        None => {
            let dies_at = later(now, grace);
            rec.dies_at = Some(dies_at);
            let companion = rec.companion.clone();
            if let Some(a) = st.access.get_mut(&companion) {
                a.expires = a.expires.min(dies_at);
            }
        }
    }
    let body = st.issue(family, now);
    st.refreshes += 1;
    Reply::ok(body)
}

fn revoke(oauth: &OAuthSwitches, headers: &HeaderMap, body: &[u8]) -> Reply {
    let form = match parse_body(headers, body) {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    if !client_ok(headers, &form) {
        return unauthorized_client();
    }
    let Some(token) = form.get("token").filter(|t| !t.is_empty()) else {
        return oauth_error(400, "invalid_request", "Missing required parameter: token");
    };
    let mut st = lock(&oauth.state);
    let family = st
        .access
        .get(token)
        .map(|a| a.family)
        .or_else(|| st.refresh.get(token).map(|r| r.family));
    if let Some(family) = family {
        st.revoke_family(family);
    }
    Reply::ok(json!({}))
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn accessible_resources(oauth: &OAuthSwitches, req: &OAuthRequest<'_>) -> Reply {
    let Some(scopes) = bearer_token(req.headers).and_then(|t| oauth.bearer_scopes(t)) else {
        return bearer_denied(BearerError::Invalid);
    };
    let (no_sites, extra) = {
        let st = lock(&oauth.state);
        (st.no_sites, st.extra_sites.clone())
    };
    if no_sites {
        return Reply::ok(json!([]));
    }
    let site = |id: &str, url: &str, name: &str| json!({"id": id, "url": url, "name": name, "scopes": scopes, "avatarUrl": SITE_AVATAR});
    let mut sites = vec![site(SANDBOX_CLOUD_ID, &req.origin, "sandbox")];
    sites.extend(extra.iter().map(|(id, url, name)| site(id, url, name)));
    Reply::ok(Value::Array(sites))
}

fn me(oauth: &OAuthSwitches, store: &std::sync::RwLock<Store>, headers: &HeaderMap) -> Reply {
    let Some(token) = bearer_token(headers) else {
        return bearer_denied(BearerError::Invalid);
    };
    if let Err(e) = oauth.check_bearer(token, &["read:me"]) {
        return bearer_denied(e);
    }
    let store = store
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(u) = store.users.get(DEMO) else {
        return bearer_denied(BearerError::Invalid);
    };
    Reply::ok(json!({
        "account_type": "atlassian",
        "account_id": u.account_id,
        "email": u.email,
        "email_verified": true,
        "name": u.display,
        "picture": format!("https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/{}/sandbox/48", u.account_id),
        "account_status": "active",
        "nickname": u.display,
        "zoneinfo": u.tz,
        "locale": "en-US",
        "extended_profile": {},
    }))
}
