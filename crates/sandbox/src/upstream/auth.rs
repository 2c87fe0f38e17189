//! The upstream authorization server's endpoints, shaped like Atlassian's for its hosted MCP
//! server: Dynamic Client Registration (RFC 7591) of loopback native clients, `authorize`
//! with PKCE S256, `state`, `resource` (RFC 8707) and `iss` (RFC 9207) and auto-consent, the
//! token endpoint (authorization code, rotating refresh tokens whose reuse revokes the
//! family) and revocation (RFC 7009).

use std::collections::HashMap;
use std::time::Instant;

use axum::http::HeaderMap;
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::super::lock;
use super::super::wire::{Params, Reply, escape_html};
use super::state::{CODE_LIFETIME, Client, Code, State, random_token};
use super::{SCOPES, UpstreamSwitches, Urls};

/// The issuer a `wrong_iss` switch puts in authorization responses.
const EVIL_ISSUER: &str = "https://evil.example";

/// An RFC 6749 error answer (never cached).
fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": error, "error_description": description}),
    )
    .header("Cache-Control", "no-store")
}

fn invalid_client(description: &str) -> Reply {
    oauth_error(401, "invalid_client", description)
}

fn invalid_grant(description: &str) -> Reply {
    oauth_error(400, "invalid_grant", description)
}

/// Whether `uri` is an exact loopback redirect (`http://<host>:<port>/<path>`, written in its
/// normal form, no query or fragment) on one of the allowed hosts.
fn loopback_redirect(uri: &str, hosts: &[String]) -> Result<(), String> {
    let u = url::Url::parse(uri).map_err(|e| format!("'{uri}' is not a URL: {e}"))?;
    let host = u.host_str().unwrap_or_default();
    if u.scheme() != "http"
        || u.port().is_none()
        || !matches!(host, "127.0.0.1" | "localhost")
        || u.as_str() != uri
        || u.query().is_some()
        || u.fragment().is_some()
        || !u.username().is_empty()
        || u.password().is_some()
    {
        return Err(format!(
            "'{uri}' is not a loopback redirect URI of the form http://127.0.0.1:<port>/<path> or http://localhost:<port>/<path>"
        ));
    }
    if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return Err(format!(
            "redirect URIs on '{host}' are not allowed for this organization; allowed hosts: {}",
            hosts.join(", ")
        ));
    }
    Ok(())
}

/// A list of strings in the registration body, or its default when absent.
fn string_list(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    default: &[&str],
) -> Option<Vec<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Some(default.iter().map(|s| s.to_string()).collect()),
        Some(Value::Array(a)) => a.iter().map(|v| v.as_str().map(str::to_string)).collect(),
        Some(_) => None,
    }
}

/// `POST /auth/dcr/register`: a JSON client metadata document → 201 with the client's id
/// and, as at Atlassian, a secret even for `token_endpoint_auth_method: none`.
pub(super) fn register(sw: &UpstreamSwitches, body: &[u8]) -> Reply {
    let bad = |m: &str| oauth_error(400, "invalid_client_metadata", m);
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
        return bad("The registration request must be a JSON object.");
    };
    let redirect_uris = match string_list(&obj, "redirect_uris", &[]) {
        Some(list) if !list.is_empty() => list,
        _ => return oauth_error(400, "invalid_redirect_uri", "redirect_uris is required."),
    };
    let auth_method = match obj.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => "client_secret_basic".to_string(),
        Some(Value::String(m))
            if matches!(
                m.as_str(),
                "none" | "client_secret_post" | "client_secret_basic"
            ) =>
        {
            m.clone()
        }
        Some(_) => {
            return bad(
                "token_endpoint_auth_method must be none, client_secret_post or client_secret_basic.",
            );
        }
    };
    let Some(grant_types) = string_list(&obj, "grant_types", &["authorization_code"]) else {
        return bad("grant_types must be a list of strings.");
    };
    if grant_types
        .iter()
        .any(|g| g != "authorization_code" && g != "refresh_token")
    {
        return bad("Only the authorization_code and refresh_token grant types are supported.");
    }
    let Some(response_types) = string_list(&obj, "response_types", &["code"]) else {
        return bad("response_types must be a list of strings.");
    };
    if response_types.iter().any(|r| r != "code") {
        return bad("Only the code response type is supported.");
    }
    let application_type = match obj.get("application_type") {
        None | Some(Value::Null) => "web",
        Some(Value::String(t)) if t == "native" || t == "web" => t.as_str(),
        Some(_) => return bad("application_type must be native or web."),
    };
    let mut st = lock(&sw.state);
    for uri in &redirect_uris {
        if let Err(m) = loopback_redirect(uri, &st.callback_hosts) {
            return oauth_error(400, "invalid_redirect_uri", &m);
        }
    }
    let secret = random_token();
    let client_id = st.register(Client {
        secret: secret.clone(),
        auth_method: auth_method.clone(),
        redirect_uris: redirect_uris.clone(),
        grant_types: grant_types.clone(),
    });
    st.counters.registrations += 1;
    drop(st);
    let issued_at = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut answer = json!({
        "client_id": client_id,
        "client_secret": secret,
        "client_id_issued_at": issued_at,
        "client_secret_expires_at": 0,
        "redirect_uris": redirect_uris,
        "token_endpoint_auth_method": auth_method,
        "grant_types": grant_types,
        "response_types": response_types,
        "application_type": application_type,
    });
    for echoed in ["client_name", "scope", "client_uri"] {
        if let Some(v @ Value::String(_)) = obj.get(echoed) {
            answer[echoed] = v.clone();
        }
    }
    Reply::json(201, answer).header("Cache-Control", "no-store")
}

/// The 400 page `/auth/authorize` shows instead of redirecting to an unverified URI.
fn page(message: &str) -> Reply {
    let html = format!(
        "<!doctype html><html><head><title>Something went wrong</title></head><body><h1>Something went wrong</h1><p>{}</p></body></html>\n",
        escape_html(message)
    );
    Reply::text(400, "text/html; charset=utf-8", html)
}

/// A 302 to the client's redirect URI with these parameters (and `iss`).
fn redirect_to(uri: &str, pairs: &[(&str, &str)]) -> Reply {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        query.append_pair(k, v);
    }
    Reply::text(302, "text/plain; charset=utf-8", String::new())
        .header("Location", &format!("{uri}?{}", query.finish()))
        .header("Cache-Control", "no-store")
}

/// `GET /auth/authorize`: checks the client and its exact redirect URI (a 400 page when
/// either is wrong), then the request (errors go back to the client), then auto-consents.
pub(super) fn authorize(sw: &UpstreamSwitches, urls: &Urls, query: Option<&str>) -> Reply {
    let params = match Params::parse(query) {
        Ok(p) => p,
        Err(m) => return page(&m),
    };
    let get = |k: &str| params.get(k).filter(|v| !v.is_empty());
    let mut st = lock(&sw.state);
    let Some((client_id, client)) = get("client_id").and_then(|id| st.clients.get_key_value(id))
    else {
        return page("The client_id is missing or is not a registered client.");
    };
    let client_id = client_id.clone();
    let Some(redirect_uri) =
        get("redirect_uri").filter(|r| client.redirect_uris.iter().any(|u| u == r))
    else {
        return page("redirect_uri is not registered for this client.");
    };
    let issuer = if st.wrong_iss {
        EVIL_ISSUER.to_string()
    } else {
        urls.issuer()
    };
    let state = get("state");
    let fail = |error: &str, description: &str| {
        let mut pairs = vec![("error", error), ("error_description", description)];
        if let Some(s) = state {
            pairs.push(("state", s));
        }
        pairs.push(("iss", &issuer));
        redirect_to(redirect_uri, &pairs)
    };
    if get("response_type") != Some("code") {
        return fail(
            "unsupported_response_type",
            "Only response_type=code is supported.",
        );
    }
    let Some(state) = state else {
        return fail("invalid_request", "The state parameter is required.");
    };
    let challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (Some(c), Some("S256")) if c.len() == 43 && is_b64url(c) => c.to_string(),
        (Some(_), Some("S256")) => {
            return fail(
                "invalid_request",
                "code_challenge is not a base64url SHA-256 digest.",
            );
        }
        _ => {
            return fail(
                "invalid_request",
                "PKCE with code_challenge_method=S256 is required.",
            );
        }
    };
    if get("resource") != Some(urls.mcp().as_str()) {
        return fail(
            "invalid_target",
            "The resource parameter must name this MCP server.",
        );
    }
    if !st.consent {
        return fail("access_denied", "The user did not authorize the request.");
    }
    let scopes = granted_scopes(params.get("scope"));
    let now = Instant::now();
    st.codes
        .retain(|_, c| now.duration_since(c.issued) < CODE_LIFETIME);
    let code = random_token();
    st.codes.insert(
        code.clone(),
        Code {
            client_id,
            redirect_uri: redirect_uri.to_string(),
            challenge,
            scopes,
            issued: now,
        },
    );
    st.counters.authorizations += 1;
    drop(st);
    redirect_to(
        redirect_uri,
        &[("code", &code), ("state", state), ("iss", &issuer)],
    )
}

fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The supported scopes among those asked for; every supported one when none were named.
fn granted_scopes(asked: Option<&str>) -> Vec<String> {
    let asked: Vec<&str> = asked.unwrap_or("").split_whitespace().collect();
    SCOPES
        .iter()
        .filter(|s| asked.is_empty() || asked.contains(s))
        .map(|s| s.to_string())
        .collect()
}

/// A form-urlencoded body (the first value of each name).
fn form(body: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// Authenticates the client (Basic, or `client_id` with an optional `client_secret` in the
/// body) and returns its id.
fn client_auth(
    st: &State,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<String, Reply> {
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "));
    let (id, secret) = match basic {
        Some(b64) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|r| String::from_utf8(r).ok())
                .ok_or_else(|| invalid_client("The Basic credentials are not valid."))?;
            let (id, secret) = raw
                .split_once(':')
                .ok_or_else(|| invalid_client("The Basic credentials are not valid."))?;
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(id), Some(dec(secret)))
        }
        None => (
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("client_secret").cloned(),
        ),
    };
    let Some(client) = st.clients.get(&id) else {
        return Err(invalid_client("Client not found; register it again."));
    };
    match secret {
        Some(s) if s != client.secret => Err(invalid_client("The client secret is wrong.")),
        None if client.auth_method != "none" => Err(invalid_client(
            "This client must authenticate with its client_secret.",
        )),
        _ => Ok(id),
    }
}

/// `POST /auth/oauth/token` (form body): `authorization_code` and `refresh_token`.
pub(super) fn token(sw: &UpstreamSwitches, urls: &Urls, headers: &HeaderMap, body: &[u8]) -> Reply {
    let form = form(body);
    let mut st = lock(&sw.state);
    let client_id = match client_auth(&st, headers, &form) {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let resource_ok = |required: bool| match form.get("resource") {
        None => !required,
        Some(r) => *r == urls.mcp(),
    };
    let reply = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            if !resource_ok(true) {
                oauth_error(
                    400,
                    "invalid_target",
                    "The resource parameter must name this MCP server.",
                )
            } else {
                exchange_code(&mut st, &client_id, &form)
            }
        }
        Some("refresh_token") => {
            if !resource_ok(false) {
                oauth_error(
                    400,
                    "invalid_target",
                    "The resource parameter must name this MCP server.",
                )
            } else {
                refresh(&mut st, &client_id, &form)
            }
        }
        None | Some("") => oauth_error(
            400,
            "invalid_request",
            "Missing required parameter: grant_type",
        ),
        Some(_) => oauth_error(
            400,
            "unsupported_grant_type",
            "Only authorization_code and refresh_token are supported.",
        ),
    };
    reply.header("Pragma", "no-cache")
}

fn exchange_code(st: &mut State, client_id: &str, form: &HashMap<String, String>) -> Reply {
    let Some(code) = form.get("code").filter(|c| !c.is_empty()) else {
        return oauth_error(400, "invalid_request", "Missing required parameter: code");
    };
    let now = Instant::now();
    // Single use: the code is gone after any attempt.
    let Some(grant) = st.codes.remove(code) else {
        return invalid_grant("Invalid authorization code.");
    };
    if now.duration_since(grant.issued) >= CODE_LIFETIME {
        return invalid_grant("The authorization code has expired.");
    }
    if grant.client_id != client_id {
        return invalid_grant("The authorization code was issued to another client.");
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return invalid_grant("redirect_uri does not match the authorization request.");
    }
    let Some(verifier) = form.get("code_verifier") else {
        return invalid_grant("Missing code_verifier.");
    };
    let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if !(43..=128).contains(&verifier.len()) || digest != grant.challenge {
        return invalid_grant("The code_verifier does not match the code_challenge.");
    }
    let body = st.start_family(client_id, grant.scopes, now);
    st.counters.code_exchanges += 1;
    Reply::ok(body).header("Cache-Control", "no-store")
}

fn refresh(st: &mut State, client_id: &str, form: &HashMap<String, String>) -> Reply {
    let Some(token) = form.get("refresh_token").filter(|t| !t.is_empty()) else {
        return oauth_error(
            400,
            "invalid_request",
            "Missing required parameter: refresh_token",
        );
    };
    let Some(rec) = st.refresh.get(token) else {
        return invalid_grant("Unknown or revoked refresh token.");
    };
    let (family, rotated) = (rec.family, rec.rotated);
    if st.family_client(family) != Some(client_id) {
        return invalid_grant("The refresh token was issued to another client.");
    }
    if rotated {
        // Reuse of a rotated token: the grant is compromised.
        st.revoke_family(family);
        tracing::debug!(
            family,
            "sandbox upstream: rotated refresh token reused; family revoked"
        );
        return invalid_grant("The refresh token was already used; the grant is revoked.");
    }
    let allows_refresh = st
        .clients
        .get(client_id)
        .is_some_and(|c| c.grant_types.iter().any(|g| g == "refresh_token"));
    if !allows_refresh {
        return oauth_error(
            400,
            "unauthorized_client",
            "The client did not register the refresh_token grant type.",
        );
    }
    if let Some(asked) = form.get("scope") {
        let granted = st.family_scopes(family);
        if asked
            .split_whitespace()
            .any(|s| !granted.iter().any(|g| g == s))
        {
            return oauth_error(
                400,
                "invalid_scope",
                "The scope asked for exceeds the grant.",
            );
        }
    }
    if let Some(rec) = st.refresh.get_mut(token) {
        rec.rotated = true;
    }
    let body = st.issue(family, Instant::now());
    st.counters.refreshes += 1;
    Reply::ok(body).header("Cache-Control", "no-store")
}

/// `POST /auth/oauth/revoke` (form `token`, optional `token_type_hint`): an access token is
/// revoked alone, a refresh token with its whole family; always 200.
pub(super) fn revoke(sw: &UpstreamSwitches, body: &[u8]) -> Reply {
    let form = form(body);
    let Some(token) = form.get("token").filter(|t| !t.is_empty()) else {
        return Reply::ok(json!({}));
    };
    let mut st = lock(&sw.state);
    st.counters.revocations += 1;
    if !st.revoke_access(token)
        && let Some(family) = st.refresh.get(token).map(|r| r.family)
    {
        st.revoke_family(family);
    }
    Reply::ok(json!({})).header("Cache-Control", "no-store")
}
