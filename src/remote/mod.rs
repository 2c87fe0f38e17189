//! The MCP client for an upstream MCP server over Streamable HTTP (SPEC §11): a lazily opened,
//! self-renewing connection that lists the upstream's tools and forwards calls (structured
//! content, `isError`, progress, cancellation) and tool-list changes.
//!
//! - [`Remote`] (`connection.rs`): the handle the server side uses; connects on first use,
//!   caches the tool list, reconnects once when the connection has died.
//! - `http.rs`: rmcp's `StreamableHttpClient` over our reqwest, asking a [`BearerSource`] for the
//!   token of every request and retrying once after a 401.
//! - `body.rs`: response bodies read within limits (whole JSON bodies, one SSE event at a time).
//! - `progress.rs`: routes the upstream's progress notifications to the caller that asked for
//!   them, in the order they arrive.
//!
//! This module knows nothing of the bridge's own MCP server: policy, audit and tool-name
//! prefixes live on top of it.

mod body;
mod connection;
mod http;
mod progress;

#[cfg(test)]
mod test_upstream;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

pub use connection::Remote;

use crate::auth::AuthError;
use crate::auth::tokens::TokenManager;
use crate::auth::upstream_tokens::UpstreamTokenManager;
use crate::secret::Secret;

/// Where progress notifications for one upstream call go; the receiver sees them in the
/// order the upstream sent them. Their `progress_token` is the upstream request's token, so a
/// caller forwarding them on replaces it with its own client's token.
pub type ProgressSink = tokio::sync::mpsc::UnboundedSender<rmcp::model::ProgressNotificationParam>;

/// How long a `tools/call` (or a tool listing) may take before it becomes
/// [`RemoteError::Timeout`], unless [`Remote::with_call_timeout`] says otherwise.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// The command that repairs every sign-in problem with the upstream.
const LOGIN_HINT: &str = "run `atlassian-mcp-bridge login --upstream`";

/// Hands out the bearer token for each request to the upstream, so a refreshed or re-issued
/// token is picked up without reconnecting.
pub trait BearerSource: Send + Sync + 'static {
    /// A token to send. `rejected` is the token the upstream just refused with 401: the source
    /// returns a different one (refreshing if it must) or fails.
    fn bearer<'a>(
        &'a self,
        rejected: Option<&'a Secret>,
    ) -> BoxFuture<'a, Result<Secret, AuthError>>;
}

impl BearerSource for Arc<TokenManager> {
    fn bearer<'a>(
        &'a self,
        rejected: Option<&'a Secret>,
    ) -> BoxFuture<'a, Result<Secret, AuthError>> {
        Box::pin(TokenManager::bearer(self, rejected))
    }
}

/// The upstream MCP server's own sign-in (SPEC §11), refreshed under the shared store lock.
impl BearerSource for Arc<UpstreamTokenManager> {
    fn bearer<'a>(
        &'a self,
        rejected: Option<&'a Secret>,
    ) -> BoxFuture<'a, Result<Secret, AuthError>> {
        Box::pin(UpstreamTokenManager::bearer(self, rejected))
    }
}

/// Why an upstream call or listing failed, in the terms the bridge reports and audits.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RemoteError {
    /// No usable sign-in for the upstream; the message says to run `login --upstream`.
    #[error("{0}")]
    SignIn(String),
    /// The upstream could not be reached (refused, reset, DNS, timeouts); the message names it.
    #[error("{0}")]
    Unreachable(String),
    /// The upstream answered with an HTTP error that is not about the sign-in.
    #[error("{message}")]
    Http {
        /// The HTTP status.
        status: u16,
        /// What went wrong, for the person reading the tool result.
        message: String,
    },
    /// The upstream answered the request with a JSON-RPC error.
    #[error("the upstream MCP server returned error {code}: {message}")]
    Rpc {
        /// The JSON-RPC error code.
        code: i32,
        /// The upstream's error message.
        message: String,
    },
    /// The upstream said something this client cannot use (bad JSON, unexpected result type).
    #[error("{0}")]
    Protocol(String),
    /// The caller cancelled the call; the upstream was told with `notifications/cancelled`.
    #[error("the upstream call was cancelled")]
    Cancelled,
    /// The upstream did not answer within the call timeout (and was told to stop).
    #[error("the upstream MCP server did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
}

impl RemoteError {
    /// The HTTP status to record in the audit log's `upstream` entry: 200 for a JSON-RPC error
    /// (the HTTP exchange itself succeeded), 401 for a sign-in problem, 0 when no HTTP answer
    /// came back at all.
    pub fn status(&self) -> u16 {
        match self {
            RemoteError::SignIn(_) => 401,
            RemoteError::Http { status, .. } => *status,
            RemoteError::Rpc { .. } | RemoteError::Protocol(_) => 200,
            RemoteError::Unreachable(_) | RemoteError::Cancelled | RemoteError::Timeout(_) => 0,
        }
    }

    /// True when the upstream is out of reach (network or its sign-in server), so a cached or
    /// local answer is fair instead.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RemoteError::Unreachable(_) | RemoteError::Timeout(_))
    }
}

/// A sign-in failure phrased for the upstream: the token source's own messages name plain
/// `login`, which signs in to the bridge's Atlassian app, not to the upstream.
fn sign_in_error(e: &AuthError) -> RemoteError {
    match e {
        AuthError::NotSignedIn => RemoteError::SignIn(format!(
            "not signed in to the upstream MCP server; {LOGIN_HINT}"
        )),
        AuthError::SignInExpired(why) => RemoteError::SignIn(format!(
            "the upstream MCP server sign-in expired ({why}); {LOGIN_HINT}"
        )),
        AuthError::Client(why) => RemoteError::SignIn(format!(
            "the upstream authorization server refused this client ({why}); {LOGIN_HINT}"
        )),
        AuthError::Refresh(why) => RemoteError::Unreachable(format!(
            "could not refresh the upstream MCP server sign-in: {why}; try again shortly"
        )),
        AuthError::Store(why) => RemoteError::SignIn(format!(
            "cannot read the upstream MCP server sign-in ({why}); {LOGIN_HINT}"
        )),
        // Already phrased for the upstream, with the hint.
        AuthError::UpstreamSignIn(_) => RemoteError::SignIn(e.to_string()),
    }
}

/// The upstream refused a token even after the source replaced it.
fn refused_error(url: &str) -> RemoteError {
    RemoteError::SignIn(format!(
        "the upstream MCP server at {url} refused the sign-in (HTTP 401); {LOGIN_HINT}"
    ))
}
