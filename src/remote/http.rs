//! rmcp's Streamable HTTP client interface over our reqwest: every request carries a bearer
//! token fetched from a [`BearerSource`] at that moment (one retry with a fresh token after a
//! 401), JSON bodies are read within a byte limit, server-sent events within a per-event limit,
//! and every event passes [`Routes::observe`] on its way to rmcp.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue, StatusCode};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, ServerJsonRpcMessage};
use rmcp::transport::common::http_header::{
    EVENT_STREAM_MIME_TYPE, HEADER_LAST_EVENT_ID, HEADER_SESSION_ID, JSON_MIME_TYPE,
};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::Sse;

use super::body::{event_stream, read_bounded};
use super::connection::Shared;
use super::{BearerSource, RemoteError, refused_error, sign_in_error};
use crate::secret::Secret;

/// Largest JSON response body accepted from the upstream.
const MAX_JSON_BODY: usize = 16 * 1024 * 1024;
/// Largest error body read for its message.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Largest single server-sent event when rmcp does not say otherwise.
pub(super) const MAX_SSE_EVENT: usize = 16 * 1024 * 1024;

/// What went wrong below rmcp, carried through it as `StreamableHttpError::Client` and turned
/// back into a [`RemoteError`] by the connection.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(super) struct HttpFailure(pub(super) RemoteError);

type HttpResult<T> = Result<T, StreamableHttpError<HttpFailure>>;

fn fail<T>(e: RemoteError) -> HttpResult<T> {
    Err(StreamableHttpError::Client(HttpFailure(e)))
}

/// How a request may be sent again after its connection broke.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// Safe to repeat (listing, handshake, notifications, streams): reuse pooled connections
    /// and send once more if one turns out to have been closed under the request.
    Safe,
    /// A tool call, which may write: never repeated, and sent on a new connection so that it
    /// cannot be lost to a pooled connection the server closed meanwhile (an error then means
    /// the server did receive it, or could not be reached at all).
    Never,
}

/// The HTTP side of one upstream: reqwest clients, the token source, and the routes that
/// server-sent events are shown to.
#[derive(Clone)]
pub(super) struct UpstreamHttp {
    /// Pools connections: for everything but tool calls.
    client: reqwest::Client,
    /// Never reuses a connection: for tool calls.
    fresh: reqwest::Client,
    /// The upstream URL as text, for messages.
    url: Arc<str>,
    tokens: Arc<dyn BearerSource>,
    shared: Arc<Shared>,
}

impl UpstreamHttp {
    /// A client for `url`: product User-Agent, 10 s connect timeout, no redirects (a redirect
    /// would carry the bearer token to another origin).
    pub(super) fn new(
        url: Arc<str>,
        tokens: Arc<dyn BearerSource>,
        shared: Arc<Shared>,
    ) -> Result<Self, RemoteError> {
        let build = |pooled: bool| {
            let mut builder = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(crate::upstream::USER_AGENT)
                .connect_timeout(Duration::from_secs(10));
            if !pooled {
                builder = builder.pool_max_idle_per_host(0);
            }
            builder
                .build()
                .map_err(|e| RemoteError::Protocol(format!("cannot build the HTTP client: {e}")))
        };
        Ok(Self {
            client: build(true)?,
            fresh: build(false)?,
            url,
            tokens,
            shared,
        })
    }

    /// A token from the source, as a [`RemoteError`] naming `login --upstream` when it fails.
    async fn token(&self, rejected: Option<&Secret>) -> HttpResult<Secret> {
        match self.tokens.bearer(rejected).await {
            Ok(token) => Ok(token),
            Err(e) => fail(sign_in_error(&e)),
        }
    }

    /// Sends the request `build` makes with a bearer token; after a 401 asks the source for a
    /// new token (naming the refused one) and sends once more. A second 401 is a sign-in error.
    async fn send(
        &self,
        repeat: Repeat,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> HttpResult<reqwest::Response> {
        let token = self.token(None).await?;
        let response = self.send_with(repeat, &build, &token).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let fresh = self.token(Some(&token)).await?;
        if fresh == token {
            return fail(refused_error(&self.url));
        }
        let response = self.send_with(repeat, &build, &fresh).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return fail(refused_error(&self.url));
        }
        Ok(response)
    }

    async fn send_with(
        &self,
        repeat: Repeat,
        build: &impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        token: &Secret,
    ) -> HttpResult<reqwest::Response> {
        let client = match repeat {
            Repeat::Safe => &self.client,
            Repeat::Never => &self.fresh,
        };
        let send = || build(client).bearer_auth(token.expose()).send();
        match send().await {
            Ok(response) => Ok(response),
            // A connection that broke after it was established (typically a pooled one the
            // server had closed): one more try on a new one. Refused connections and timeouts
            // are not retried; they would only double the wait.
            Err(e) if repeat == Repeat::Safe && !e.is_connect() && !e.is_timeout() => send()
                .await
                .map_err(|e| StreamableHttpError::Client(HttpFailure(self.unreachable(&e)))),
            Err(e) if !e.is_connect() && !e.is_timeout() => {
                fail(RemoteError::Unreachable(format!(
                    "the connection to the upstream MCP server at {} broke after the call was sent ({}); it may or may not have run",
                    self.url,
                    cause(&e)
                )))
            }
            Err(e) => fail(self.unreachable(&e)),
        }
    }

    /// A network failure, naming the upstream and the underlying cause (no URL query, no token).
    fn unreachable(&self, e: &reqwest::Error) -> RemoteError {
        RemoteError::Unreachable(format!(
            "the upstream MCP server at {} could not be reached ({})",
            self.url,
            cause(e)
        ))
    }

    /// An HTTP error answer as a [`RemoteError::Http`] with the server's message, if any.
    async fn error_answer(&self, response: reqwest::Response) -> RemoteError {
        let status = response.status();
        let body = read_bounded(response, MAX_ERROR_BODY)
            .await
            .unwrap_or_default();
        self.http_error(status, &body)
    }

    fn http_error(&self, status: StatusCode, body: &[u8]) -> RemoteError {
        let detail = crate::upstream::parse_error_body(body).join("; ");
        let detail = if detail.is_empty() {
            status.canonical_reason().unwrap_or("error").to_string()
        } else {
            crate::sanitize::clean_text(&detail)
        };
        RemoteError::Http {
            status: status.as_u16(),
            message: format!(
                "the upstream MCP server at {} answered HTTP {}: {detail}",
                self.url,
                status.as_u16()
            ),
        }
    }

    /// The server-sent events of `response`, bounded and shown to the progress routes.
    fn events(
        &self,
        response: reqwest::Response,
        max_event: usize,
    ) -> BoxStream<'static, Result<Sse, SseError>> {
        event_stream(response, max_event, Arc::clone(&self.shared.routes))
    }

    fn content_type(response: &reqwest::Response) -> String {
        response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase()
    }

    fn session_id(response: &reqwest::Response) -> Option<String> {
        response
            .headers()
            .get(HEADER_SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// The innermost cause of a reqwest failure ("Connection refused", "dns error …"), which is
/// what the person can act on; reqwest's own text only says the request failed.
fn cause(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_string();
    }
    let mut cause = None;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = Some(s.to_string());
        source = s.source();
    }
    cause.unwrap_or_else(|| "request failed".to_string())
}

/// Adds rmcp's headers (protocol version, `Mcp-Param-*`) without letting them replace the
/// bearer token.
fn with_headers(
    mut builder: reqwest::RequestBuilder,
    headers: &HashMap<HeaderName, HeaderValue>,
) -> reqwest::RequestBuilder {
    for (name, value) in headers {
        if name != http::header::AUTHORIZATION {
            builder = builder.header(name.clone(), value.clone());
        }
    }
    builder
}

impl StreamableHttpClient for UpstreamHttp {
    type Error = HttpFailure;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<StreamableHttpPostResponse> {
        self.post_message_with_max_sse_event_size(
            uri,
            message,
            session_id,
            None,
            custom_headers,
            MAX_SSE_EVENT,
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        mut message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<StreamableHttpPostResponse> {
        self.shared.routes.prepare(&mut message);
        let is_request = matches!(message, ClientJsonRpcMessage::Request(_));
        let is_initialize = matches!(
            &message,
            ClientJsonRpcMessage::Request(r) if matches!(r.request, ClientRequest::InitializeRequest(_))
        );
        let repeat = match &message {
            ClientJsonRpcMessage::Request(r)
                if matches!(r.request, ClientRequest::CallToolRequest(_)) =>
            {
                Repeat::Never
            }
            _ => Repeat::Safe,
        };
        let body = serde_json::to_vec(&message)?;
        let response = self
            .send(repeat, |client| {
                let mut builder = client
                    .post(uri.as_ref())
                    .header(
                        ACCEPT,
                        format!("{JSON_MIME_TYPE}, {EVENT_STREAM_MIME_TYPE}"),
                    )
                    .header(CONTENT_TYPE, JSON_MIME_TYPE)
                    .body(body.clone());
                if let Some(id) = &session_id {
                    builder = builder.header(HEADER_SESSION_ID, id.as_ref());
                }
                with_headers(builder, &custom_headers)
            })
            .await?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND && session_id.is_some() {
            return Err(StreamableHttpError::SessionExpired);
        }
        let content_type = Self::content_type(&response);
        let new_session = Self::session_id(&response);
        if !status.is_success() {
            let body = read_bounded(response, MAX_ERROR_BODY)
                .await
                .unwrap_or_default();
            // A JSON-RPC error in an HTTP error answer is the server's real answer.
            if content_type.starts_with(JSON_MIME_TYPE)
                && status != StatusCode::FORBIDDEN
                && let Ok(message @ ServerJsonRpcMessage::Error(_)) =
                    serde_json::from_slice::<ServerJsonRpcMessage>(&body)
            {
                return Ok(StreamableHttpPostResponse::Json(message, new_session));
            }
            return fail(self.http_error(status, &body));
        }
        if is_initialize {
            self.shared.session_opened();
        }
        if !is_request || status == StatusCode::ACCEPTED || status == StatusCode::NO_CONTENT {
            // Notifications and replies expect no answer; anything in the body is ignored.
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if content_type.starts_with(EVENT_STREAM_MIME_TYPE) {
            let events = self.events(response, max_sse_event_size);
            return Ok(StreamableHttpPostResponse::Sse(events, new_session));
        }
        if content_type.starts_with(JSON_MIME_TYPE) {
            let body = read_bounded(response, MAX_JSON_BODY).await?;
            return match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
                Ok(message) => Ok(StreamableHttpPostResponse::Json(message, new_session)),
                Err(e) => Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                    format!("the upstream MCP server sent JSON that is not JSON-RPC: {e}"),
                ))),
            };
        }
        Err(StreamableHttpError::UnexpectedContentType(Some(
            content_type,
        )))
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<()> {
        let response = self
            .send(Repeat::Safe, |client| {
                let builder = client
                    .delete(uri.as_ref())
                    .header(HEADER_SESSION_ID, session_id.as_ref());
                with_headers(builder, &custom_headers)
            })
            .await?;
        let status = response.status();
        // 405: the server keeps sessions until they expire; 404: it already forgot this one.
        if status.is_success()
            || status == StatusCode::METHOD_NOT_ALLOWED
            || status == StatusCode::NOT_FOUND
        {
            return Ok(());
        }
        fail(self.error_answer(response).await)
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<BoxStream<'static, Result<Sse, SseError>>> {
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            None,
            custom_headers,
            MAX_SSE_EVENT,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<BoxStream<'static, Result<Sse, SseError>>> {
        let response = self
            .send(Repeat::Safe, |client| {
                let mut builder = client
                    .get(uri.as_ref())
                    .header(ACCEPT, EVENT_STREAM_MIME_TYPE);
                if let Some(id) = &session_id {
                    builder = builder.header(HEADER_SESSION_ID, id.as_ref());
                }
                if let Some(id) = &last_event_id {
                    builder = builder.header(HEADER_LAST_EVENT_ID, id.as_str());
                }
                with_headers(builder, &custom_headers)
            })
            .await?;
        let status = response.status();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        if status == StatusCode::NOT_FOUND && session_id.is_some() {
            return Err(StreamableHttpError::SessionExpired);
        }
        if !status.is_success() {
            return fail(self.error_answer(response).await);
        }
        let content_type = Self::content_type(&response);
        if !content_type.starts_with(EVENT_STREAM_MIME_TYPE) {
            return Err(StreamableHttpError::UnexpectedContentType(Some(
                content_type,
            )));
        }
        Ok(self.events(response, max_sse_event_size))
    }
}
