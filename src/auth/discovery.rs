//! Discovery of how an MCP server wants to be signed in to (SPEC §11): an unauthenticated
//! request whose 401 names the protected-resource metadata (RFC 9728, `WWW-Authenticate:
//! Bearer resource_metadata=…`), that document, then the authorization server's metadata
//! (RFC 8414, path-aware, OpenID configuration as fallback). Every request is recorded in the
//! caller's [`CallTrace`]; nothing follows redirects; plain HTTP is refused except on loopback
//! behind a loopback MCP URL ([`Schemes`]). Also which scopes to ask for (the MCP
//! authorization spec's selection: the challenge's, else the protected resource's, else none).

mod fetch;
#[cfg(test)]
mod mock;
mod www_authenticate;

use serde::Deserialize;
use url::Url;

use crate::sanitize::clean_text;
use crate::upstream::CallTrace;
use fetch::{Got, first_found, get_json, parse, probe, unexpected};

pub use www_authenticate::{challenge_scope, resource_metadata};

const STEP_PROBE: &str = "asking the MCP server how to sign in";
const STEP_PRM: &str = "reading the protected-resource metadata";
const STEP_AS: &str = "reading the authorization server's metadata";

/// Everything the sign-in needs to know about an MCP server's authorization server.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovered {
    /// The RFC 8707 `resource` to ask tokens for: the MCP URL, as the protected-resource
    /// document confirmed it.
    pub resource: String,
    /// The authorization server's issuer identifier, exactly as its metadata states it
    /// (compared with the RFC 9207 `iss` of the callback).
    pub authorization_server: String,
    /// Where the browser is sent.
    pub authorization_endpoint: Url,
    /// Where codes and refresh tokens are exchanged.
    pub token_endpoint: Url,
    /// Dynamic Client Registration (RFC 7591), when offered.
    pub registration_endpoint: Option<Url>,
    /// Token revocation (RFC 7009), when offered.
    pub revocation_endpoint: Option<Url>,
    /// The scopes to ask for (and register with): the 401 challenge's `scope`, else the
    /// protected resource's `scopes_supported`, else none; plus `offline_access` when the
    /// authorization server lists it, for a refresh token. Never the server's whole list.
    pub scopes: Vec<String>,
    /// `token_endpoint_auth_methods_supported` as advertised (empty when not stated).
    pub auth_methods: Vec<String>,
    /// True when the server puts `iss` in authorization responses (RFC 9207).
    pub iss_parameter_supported: bool,
}

/// Why discovery failed; each message names the step, the URL and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiscoveryError {
    /// No answer at all: connection refused, DNS, TLS, timeout.
    #[error(
        "{step}: {url} could not be reached ({reason}); check the network and upstream.url, then try again"
    )]
    Unreachable {
        /// Which step.
        step: &'static str,
        /// The URL asked.
        url: String,
        /// The transport's reason.
        reason: String,
    },
    /// The server answered, but not with what the protocol expects.
    #[error("{step}: {url} answered {detail}; {hint}")]
    Unexpected {
        /// Which step.
        step: &'static str,
        /// The URL asked.
        url: String,
        /// What came back.
        detail: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// No protected-resource or authorization-server metadata at any of the usual places.
    #[error("{step}: no metadata found (tried {tried}); {hint}")]
    NotFound {
        /// Which step.
        step: &'static str,
        /// Every URL tried, with its answer.
        tried: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// A URL the sign-in would send credentials to is not HTTPS, and plain http is not
    /// allowed there (see [`Schemes`]).
    #[error(
        "{step}: {url} is refused; the sign-in only talks HTTPS (plain http only to 127.0.0.1 or localhost, and only when upstream.url is itself plain http there)"
    )]
    Insecure {
        /// Which step.
        step: &'static str,
        /// The refused URL.
        url: String,
    },
    /// The protected-resource document is for another resource (RFC 9728 §3.3).
    #[error(
        "the protected-resource metadata at {url} is for `{found}`, not for {expected} (RFC 9728 §3.3); check upstream.url is the server's MCP endpoint"
    )]
    ResourceMismatch {
        /// The metadata document.
        url: String,
        /// Its `resource`.
        found: String,
        /// The MCP URL.
        expected: String,
    },
    /// The metadata names another issuer than the one it was fetched for (RFC 8414 §3.3).
    #[error(
        "the authorization-server metadata at {url} names the issuer `{found}`, not {expected} (RFC 8414 §3.3); the server is misconfigured or the answer was tampered with, so the sign-in stops"
    )]
    IssuerMismatch {
        /// The metadata document.
        url: String,
        /// Its `issuer`.
        found: String,
        /// The issuer asked for.
        expected: String,
    },
    /// The server does not offer PKCE with S256.
    #[error(
        "the authorization server {issuer} does not offer PKCE with S256 (code_challenge_methods_supported: {methods}); the bridge only signs in with S256"
    )]
    NoS256 {
        /// The issuer.
        issuer: String,
        /// What it offers.
        methods: String,
    },
}

impl DiscoveryError {
    /// True when nothing answered (the network, DNS, a timeout): worth retrying later, unlike
    /// an answer that will stay wrong.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, DiscoveryError::Unreachable { .. })
    }
}

/// Finds the authorization server of the MCP server at `mcp_url` and reads its metadata.
pub async fn discover(
    http: &reqwest::Client,
    trace: &CallTrace,
    mcp_url: &Url,
) -> Result<Discovered, DiscoveryError> {
    let schemes = Schemes::for_mcp(mcp_url);
    let mcp_url = &schemes.check(STEP_PROBE, mcp_url)?;
    let probed = probe(http, trace, mcp_url).await?;
    let probe_status = probed.status;
    let (prm_url, prm) = match probed.resource_metadata {
        Some(url) => {
            let url = schemes.check(STEP_PRM, &url)?;
            let doc = match get_json(http, trace, STEP_PRM, &url).await? {
                Got::Json(doc) => doc,
                Got::Status(detail) => {
                    return Err(unexpected(
                        STEP_PRM,
                        &url,
                        detail,
                        "the MCP server's 401 points to protected-resource metadata that is not there; the server is misconfigured",
                    ));
                }
            };
            (url, doc)
        }
        None => first_found(
            http,
            trace,
            STEP_PRM,
            &prm_candidates(mcp_url),
            &format!("MCP endpoint answered {probe_status} without naming resource_metadata"),
            "is upstream.url the server's MCP endpoint, and does the server use OAuth sign-in (RFC 9728)?",
        )
        .await?,
    };
    let prm: ProtectedResource = parse(STEP_PRM, &prm_url, prm)?;
    if !same_resource(&prm.resource, mcp_url) {
        return Err(DiscoveryError::ResourceMismatch {
            url: prm_url.to_string(),
            found: clean_text(&prm.resource),
            expected: mcp_url.to_string(),
        });
    }
    let Some(issuer) = prm.authorization_servers.first() else {
        return Err(unexpected(
            STEP_PRM,
            &prm_url,
            "a document that lists no authorization_servers".into(),
            "the server does not say where to sign in; it cannot be used upstream",
        ));
    };
    let issuer_url = Url::parse(issuer).map_err(|e| {
        unexpected(
            STEP_PRM,
            &prm_url,
            format!(
                "an authorization server `{}` that is not a URL ({e})",
                clean_text(issuer)
            ),
            "the server is misconfigured",
        )
    })?;
    let issuer_url = schemes.check(STEP_AS, &issuer_url)?;
    let (meta_url, meta) = first_found(
        http,
        trace,
        STEP_AS,
        &as_candidates(&issuer_url),
        "",
        "the authorization server publishes no RFC 8414 or OpenID metadata; it cannot be used upstream",
    )
    .await?;
    let meta: AsMetadata = parse(STEP_AS, &meta_url, meta)?;
    if meta.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(DiscoveryError::IssuerMismatch {
            url: meta_url.to_string(),
            found: clean_text(&meta.issuer),
            expected: issuer.clone(),
        });
    }
    if let Some(methods) = &meta.code_challenge_methods_supported
        && !methods.iter().any(|m| m == "S256")
    {
        return Err(DiscoveryError::NoS256 {
            issuer: meta.issuer.clone(),
            methods: clean_text(&methods.join(", ")),
        });
    }
    let endpoint = |what: &str, value: &str| -> Result<Url, DiscoveryError> {
        let url = Url::parse(value).map_err(|e| {
            unexpected(
                STEP_AS,
                &meta_url,
                format!("a {what} `{}` that is not a URL ({e})", clean_text(value)),
                "the authorization server is misconfigured",
            )
        })?;
        schemes.check(STEP_AS, &url)
    };
    let optional = |what: &str, value: &Option<String>| -> Result<Option<Url>, DiscoveryError> {
        value.as_deref().map(|v| endpoint(what, v)).transpose()
    };
    Ok(Discovered {
        resource: mcp_url.to_string(),
        authorization_endpoint: endpoint("authorization_endpoint", &meta.authorization_endpoint)?,
        token_endpoint: endpoint("token_endpoint", &meta.token_endpoint)?,
        registration_endpoint: optional("registration_endpoint", &meta.registration_endpoint)?,
        revocation_endpoint: optional("revocation_endpoint", &meta.revocation_endpoint)?,
        scopes: choose_scopes(
            probed.scope,
            prm.scopes_supported,
            meta.scopes_supported.as_deref(),
        ),
        auth_methods: meta
            .token_endpoint_auth_methods_supported
            .unwrap_or_default(),
        iss_parameter_supported: meta
            .authorization_response_iss_parameter_supported
            .unwrap_or(false),
        authorization_server: meta.issuer,
    })
}

/// RFC 9728 protected-resource metadata (the fields the sign-in uses).
#[derive(Debug, Deserialize)]
struct ProtectedResource {
    resource: String,
    #[serde(default)]
    authorization_servers: Vec<String>,
    #[serde(default)]
    scopes_supported: Option<Vec<String>>,
}

/// RFC 8414 authorization-server metadata (the fields the sign-in uses).
#[derive(Debug, Deserialize)]
struct AsMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    registration_endpoint: Option<String>,
    #[serde(default)]
    revocation_endpoint: Option<String>,
    #[serde(default)]
    scopes_supported: Option<Vec<String>>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: Option<bool>,
}

/// `<origin>/.well-known/oauth-protected-resource<path>`, then the root one.
fn prm_candidates(mcp_url: &Url) -> Vec<Url> {
    well_known(mcp_url, &["oauth-protected-resource"], false)
}

/// RFC 8414 §3.1 path insertion, then OpenID Connect's insertion and appending; for an issuer
/// without a path, the two root documents.
fn as_candidates(issuer: &Url) -> Vec<Url> {
    well_known(
        issuer,
        &["oauth-authorization-server", "openid-configuration"],
        true,
    )
}

fn well_known(base: &Url, names: &[&str], oidc_append: bool) -> Vec<Url> {
    let path = base.path().trim_end_matches('/');
    let mut out: Vec<Url> = Vec::new();
    let mut push = |p: String| {
        let mut u = base.clone();
        u.set_path(&p);
        u.set_query(None);
        u.set_fragment(None);
        if !out.contains(&u) {
            out.push(u);
        }
    };
    for name in names {
        push(format!("/.well-known/{name}{path}"));
    }
    if path.is_empty() {
        return out;
    }
    if oidc_append {
        push(format!("{path}/.well-known/openid-configuration"));
    } else {
        for name in names {
            push(format!("/.well-known/{name}"));
        }
    }
    out
}

/// True when `resource` names the same origin and path as the MCP URL (a trailing slash aside).
fn same_resource(resource: &str, mcp_url: &Url) -> bool {
    let Ok(r) = Url::parse(resource) else {
        return false;
    };
    r.origin() == mcp_url.origin()
        && r.path().trim_end_matches('/') == mcp_url.path().trim_end_matches('/')
}

/// True for hosts on this machine, where plain http cannot be intercepted on the network.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Where the sign-in may send requests (and with them codes, verifiers, client secrets):
/// HTTPS anywhere; plain http only to loopback, and only when the MCP URL itself is plain http
/// on loopback (a local server, the sandbox). Behind an https MCP URL, a remote server's
/// metadata could otherwise point the bridge at services on this machine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schemes {
    http_loopback: bool,
}

impl Schemes {
    /// The rules for a sign-in to the MCP server at `mcp_url`.
    pub(crate) fn for_mcp(mcp_url: &Url) -> Self {
        Schemes {
            http_loopback: mcp_url.scheme() == "http" && is_loopback(mcp_url),
        }
    }

    /// `url` when the sign-in may talk to it, else [`DiscoveryError::Insecure`] for `step`.
    pub(crate) fn check(&self, step: &'static str, url: &Url) -> Result<Url, DiscoveryError> {
        match url.scheme() {
            "https" => Ok(url.clone()),
            "http" if self.http_loopback && is_loopback(url) => Ok(url.clone()),
            _ => Err(DiscoveryError::Insecure {
                step,
                url: url.to_string(),
            }),
        }
    }
}

/// The MCP authorization spec's scope selection: the challenge's `scope`, else the protected
/// resource's `scopes_supported`, else none (the authorization server's own list is never
/// asked for whole: for OpenID servers it is `openid profile email …`). `offline_access` is
/// added when the authorization server lists it, since without it there is no refresh token.
fn choose_scopes(
    challenge: Option<Vec<String>>,
    resource: Option<Vec<String>>,
    server: Option<&[String]>,
) -> Vec<String> {
    const OFFLINE: &str = "offline_access";
    let mut scopes = challenge
        .filter(|s| !s.is_empty())
        .or(resource)
        .unwrap_or_default();
    if server.is_some_and(|s| s.iter().any(|x| x == OFFLINE))
        && !scopes.iter().any(|x| x == OFFLINE)
    {
        scopes.push(OFFLINE.to_string());
    }
    scopes
}

#[cfg(test)]
#[path = "discovery_tests.rs"]
pub(super) mod tests;
