//! Dynamic Client Registration (RFC 7591) with an upstream MCP server's authorization server,
//! so the person signs in with no app registered by hand (SPEC §11); and the OAuth client a
//! registration makes, authenticating the way the registration answered.

use std::time::Instant;

use oauth2::basic::BasicClient;
use oauth2::{AuthType, AuthUrl, ClientId, ClientSecret, TokenUrl};
use reqwest::{Method, header};
use serde::Deserialize;
use url::Url;

use super::discovery::Discovered;
use super::store::Registration;
use crate::sanitize::clean_text;
use crate::secret::Secret;
use crate::upstream::CallTrace;

/// The name the bridge registers under (shown on the consent screen).
pub const CLIENT_NAME: &str = "atlassian-mcp-bridge";

/// Largest registration answer read.
const MAX_BODY: usize = 256 * 1024;

/// Why registration failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistrationError {
    /// The authorization server offers no registration endpoint.
    #[error(
        "the authorization server {issuer} offers no Dynamic Client Registration (RFC 7591); it needs an OAuth app registered by hand, which upstream mode does not support"
    )]
    NotOffered {
        /// The issuer.
        issuer: String,
    },
    /// No answer at all: connection refused, DNS, TLS, timeout.
    #[error(
        "registering the bridge: {url} could not be reached ({reason}); check the network, then try again"
    )]
    Unreachable {
        /// The registration endpoint.
        url: String,
        /// The transport's reason.
        reason: String,
    },
    /// The server refused the registration.
    #[error("registering the bridge: {url} refused it ({detail}); {hint}")]
    Refused {
        /// The registration endpoint.
        url: String,
        /// Status and the server's error.
        detail: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// The answer is not a usable registration.
    #[error(
        "registering the bridge: {url} answered {detail}; the authorization server is not usable upstream"
    )]
    Invalid {
        /// The registration endpoint.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
}

#[derive(Deserialize)]
struct Answer {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
}

/// Registers the bridge as a native public client with exactly `redirect_uri`, and returns
/// the registration with the discovered endpoints (kept for sign-in, refresh and revocation).
pub async fn register(
    http: &reqwest::Client,
    trace: &CallTrace,
    d: &Discovered,
    redirect_uri: &str,
) -> Result<Registration, RegistrationError> {
    let Some(url) = &d.registration_endpoint else {
        return Err(RegistrationError::NotOffered {
            issuer: d.authorization_server.clone(),
        });
    };
    let mut body = serde_json::json!({
        "client_name": CLIENT_NAME,
        "application_type": "native",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    if !d.scopes.is_empty() {
        body["scope"] = d.scopes.join(" ").into();
    }
    let (status, bytes) = post_json(http, trace, url, &body).await?;
    if !status.is_success() {
        let detail = describe_error(status, &bytes);
        let hint = if detail.contains("redirect_uri") {
            "the server does not accept the loopback redirect URI; if your organisation allows only one callback host, set upstream.callback_host (\"127.0.0.1\" or \"localhost\")"
        } else {
            "the server may not allow anonymous registration; ask its administrator"
        };
        return Err(RegistrationError::Refused {
            url: url.to_string(),
            detail,
            hint,
        });
    }
    let invalid = |detail: String| RegistrationError::Invalid {
        url: url.to_string(),
        detail,
    };
    let answer: Answer = serde_json::from_slice(&bytes)
        .map_err(|e| invalid(format!("{status} without a client_id ({e})")))?;
    if answer.client_id.is_empty() {
        return Err(invalid(format!("{status} with an empty client_id")));
    }
    let auth_method = answer
        .token_endpoint_auth_method
        .unwrap_or_else(|| "none".to_string());
    let client_secret = answer
        .client_secret
        .filter(|s| !s.is_empty())
        .map(Secret::new);
    match auth_method.as_str() {
        "none" => {}
        "client_secret_post" | "client_secret_basic" if client_secret.is_some() => {}
        "client_secret_post" | "client_secret_basic" => {
            return Err(invalid(format!(
                "token_endpoint_auth_method {auth_method} without a client_secret"
            )));
        }
        other => {
            return Err(invalid(format!(
                "token_endpoint_auth_method `{}`, which the bridge cannot use",
                clean_text(other)
            )));
        }
    }
    Ok(Registration {
        client_id: answer.client_id,
        client_secret,
        auth_method,
        redirect_uri: redirect_uri.to_string(),
        issuer: d.authorization_server.clone(),
        authorization_endpoint: d.authorization_endpoint.to_string(),
        token_endpoint: d.token_endpoint.to_string(),
        revocation_endpoint: d.revocation_endpoint.as_ref().map(Url::to_string),
        registration_endpoint: Some(url.to_string()),
        iss_in_response: d.iss_parameter_supported,
    })
}

/// `status: error: description` from an RFC 7591 / RFC 6749 error body (or whatever it holds).
fn describe_error(status: reqwest::StatusCode, body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct OAuthError {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    }
    let text = match serde_json::from_slice::<OAuthError>(body) {
        Ok(e) => match e.error_description {
            Some(d) => format!("{}: {}", clean_text(&e.error), clean_text(&d)),
            None => clean_text(&e.error),
        },
        Err(_) => crate::upstream::parse_error_body(body).join("; "),
    };
    if text.is_empty() {
        status.to_string()
    } else {
        format!("{status}: {text}")
    }
}

async fn post_json(
    http: &reqwest::Client,
    trace: &CallTrace,
    url: &Url,
    body: &serde_json::Value,
) -> Result<(reqwest::StatusCode, Vec<u8>), RegistrationError> {
    let started = Instant::now();
    let unreachable = |e: reqwest::Error| RegistrationError::Unreachable {
        url: url.to_string(),
        reason: super::error_chain(&e.without_url()),
    };
    let sent = http
        .post(url.clone())
        .header(header::ACCEPT, "application/json")
        .json(body)
        .send()
        .await;
    let mut response = sent.map_err(|e| {
        trace.record(&Method::POST, url.path(), 0, started.elapsed());
        unreachable(e)
    })?;
    let status = response.status();
    let mut bytes = Vec::new();
    let outcome = loop {
        match response.chunk().await {
            Ok(Some(chunk)) if bytes.len() + chunk.len() <= MAX_BODY => {
                bytes.extend_from_slice(&chunk)
            }
            Ok(Some(_)) => {
                break Err(RegistrationError::Invalid {
                    url: url.to_string(),
                    detail: format!("more than {} KiB", MAX_BODY / 1024),
                });
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(unreachable(e)),
        }
    };
    trace.record(
        &Method::POST,
        url.path(),
        status.as_u16(),
        started.elapsed(),
    );
    outcome.map(|()| (status, bytes))
}

/// The OAuth client (authorize and token endpoints) for a registration, authenticating as it
/// answered: `none` sends the
/// client id in the body and no secret (even when one was issued); `client_secret_post` the
/// secret in the body; `client_secret_basic` HTTP Basic.
pub(crate) fn oauth_client(reg: &Registration) -> Result<super::LoginClient, String> {
    let url = |what: &str, value: &str| {
        Url::parse(value).map_err(|e| {
            format!(
                "the stored {what} `{value}` is not a URL ({e}); run `atlassian-mcp-bridge login --upstream`"
            )
        })
    };
    let client = BasicClient::new(ClientId::new(reg.client_id.clone()))
        .set_auth_uri(AuthUrl::from_url(url(
            "authorization endpoint",
            &reg.authorization_endpoint,
        )?))
        .set_token_uri(TokenUrl::from_url(url(
            "token endpoint",
            &reg.token_endpoint,
        )?));
    let secret = reg
        .client_secret
        .as_ref()
        .map(|s| ClientSecret::new(s.expose().to_string()));
    Ok(match (reg.auth_method.as_str(), secret) {
        ("client_secret_basic", Some(secret)) => client
            .set_auth_type(AuthType::BasicAuth)
            .set_client_secret(secret),
        ("client_secret_post", Some(secret)) => client
            .set_auth_type(AuthType::RequestBody)
            .set_client_secret(secret),
        _ => client.set_auth_type(AuthType::RequestBody),
    })
}

#[cfg(test)]
#[path = "registration_tests.rs"]
mod tests;
