//! The one HTTP client: auth header, User-Agent, timeouts, redirect rule, retries, response
//! size limits, and reporting of every request to the tool call that made it.
//!
//! Limits (see the constants): a successful answer is read as a stream and abandoned past
//! [`MAX_BODY_BYTES`] (16 MiB) unless the request sets its own; an error answer is read up to
//! 64 KiB (its messages are all that is used); a GET whose URL would pass
//! [`MAX_GET_URL_BYTES`] is for the caller to send another way (Jira search: POST) or refuse.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

use crate::atlassian::error::{ApiError, Product};
use crate::secret::Secret;
use crate::upstream::parse_error_body;
pub use crate::upstream::{CallTrace, RetryPolicy, USER_AGENT};

mod response;
#[cfg(test)]
mod tests;

use response::{Body, describe_transport_error, parse_retry_after, read_body};

/// Most bytes read from one successful answer, unless the request sets its own limit
/// ([`ApiRequest::max_body`]). A search page of 100 issues with the fields the bridge asks for
/// is well under 2 MiB, and Confluence refuses to store pages over 5 MB, so 16 MiB leaves room
/// for any real answer while a site that ignores `maxResults` (a 43 MB answer to
/// `maxResults=1` has been seen) fails fast instead of being buffered and parsed.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Most bytes read from an error answer: only its messages are used (each clipped to 500
/// characters), so the rest of a huge error page is left unread.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Longest URL, query included, the bridge sends as a GET. Tomcat (under Jira and Confluence
/// Data Center), Apache, nginx and most proxies refuse request heads over 8 KiB — request line
/// and headers together — and an OAuth bearer header alone is 1–2 KB, so 6,000 bytes keeps
/// clear of them. Longer JQL searches go by POST; longer CQL (GET-only) is refused up front.
pub const MAX_GET_URL_BYTES: usize = 6_000;

/// How credentials are presented.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// HTTP Basic `email:token` (Cloud API token).
    Basic {
        /// Account email.
        email: String,
        /// API token.
        token: Secret,
    },
    /// `Authorization: Bearer` (Data Center PAT).
    Bearer(Secret),
    /// OAuth access tokens from the sign-in, refreshed as needed.
    OAuth(std::sync::Arc<crate::auth::tokens::TokenManager>),
}

impl Credentials {
    fn header(&self) -> Option<HeaderValue> {
        let text = match self {
            Credentials::Basic { email, token } => {
                let raw = format!("{email}:{}", token.expose());
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                )
            }
            Credentials::Bearer(token) => format!("Bearer {}", token.expose()),
            Credentials::OAuth(_) => return None,
        };
        sensitive(&text)
    }
}

fn sensitive(text: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(text).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Where the `Authorization` header comes from.
#[derive(Debug, Clone)]
enum Authorizer {
    /// A fixed header (API token, PAT).
    Static(HeaderValue),
    /// A bearer token from the sign-in, refreshed on demand.
    OAuth(std::sync::Arc<crate::auth::tokens::TokenManager>),
}

/// One request to send.
#[derive(Debug)]
pub struct ApiRequest {
    /// Product, for error messages.
    pub product: Product,
    /// HTTP method.
    pub method: Method,
    /// Full URL without query.
    pub url: Url,
    /// Query parameters (repeated names allowed).
    pub query: Vec<(String, String)>,
    /// JSON body.
    pub body: Option<Value>,
    /// The OAuth scope this endpoint needs (named in missing-scope errors).
    pub scope: Option<&'static str>,
    /// Sending it twice does no more than sending it once, so a 502/504 (which may come after
    /// the server acted) is retried. Set from the method by the constructors (GET, HEAD, PUT,
    /// DELETE, OPTIONS); cleared with [`ApiRequest::not_idempotent`] for a PUT whose repeat
    /// would act twice. 429 and 503 are retried whatever this says: both mean the request was
    /// turned away before it was handled.
    pub idempotent: bool,
    /// Most bytes read from a successful answer ([`MAX_BODY_BYTES`] unless set with
    /// [`ApiRequest::max_body`]); past it the request fails with [`ApiError::TooLarge`].
    pub max_body: usize,
}

impl ApiRequest {
    /// A request with any method and no body.
    pub fn new(product: Product, method: Method, url: Url) -> Self {
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        Self {
            product,
            method,
            url,
            query: Vec::new(),
            body: None,
            scope: None,
            idempotent,
            max_body: MAX_BODY_BYTES,
        }
    }

    /// A GET request.
    pub fn get(product: Product, url: Url) -> Self {
        Self::new(product, Method::GET, url)
    }

    /// A POST request (never retried on 502/504: a create may have happened before the
    /// gateway gave up).
    pub fn post(product: Product, url: Url) -> Self {
        Self::new(product, Method::POST, url)
    }

    /// A PUT request (counted idempotent; see [`ApiRequest::not_idempotent`]).
    pub fn put(product: Product, url: Url) -> Self {
        Self::new(product, Method::PUT, url)
    }

    /// Sets the JSON body (sent with `Content-Type: application/json`).
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Marks the request as unsafe to repeat: a 502/504 answer is reported, not retried.
    pub fn not_idempotent(mut self) -> Self {
        self.idempotent = false;
        self
    }

    /// Marks a POST that only reads (a search sent by POST because its query is too long for
    /// a URL) as safe to repeat, so a 502/504 is retried like the GET it stands for.
    pub fn safe_to_repeat(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// Sets the most bytes read from a successful answer (default [`MAX_BODY_BYTES`]).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Length in bytes of the URL as it will be sent, query string included (encoded the way
    /// the client encodes it), to compare with [`MAX_GET_URL_BYTES`].
    pub fn url_len(&self) -> usize {
        let mut url = self.url.clone();
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(
                self.query
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_str())),
            );
        }
        url.as_str().len()
    }

    /// Names the OAuth scope the endpoint needs.
    pub fn scope(mut self, scope: &'static str) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_string(), value.into()));
        self
    }

    /// Adds a query parameter when the value is present.
    pub fn query_opt(self, name: &str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }
}

/// A response read by [`HttpClient::send_accepting`]: its status and JSON body
/// (`Value::Null` for an empty body).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// HTTP status (a success, or one of the error statuses the caller accepted).
    pub status: u16,
    /// The body.
    pub body: Value,
}

/// What [`HttpClient::exchange`] got back.
enum Reply {
    /// A success status and its body, unparsed.
    Success { status: u16, body: Vec<u8> },
    /// An error status the caller accepted, with its JSON body.
    Accepted(Answer),
}

/// The shared HTTP client for one site.
#[derive(Debug, Clone)]
pub struct HttpClient {
    /// Built at the first request, not at start-up: setting up TLS (root certificates) is
    /// the costliest part of building it, and a server that is only asked `initialize` or
    /// answers from the cache never needs it.
    client: Arc<OnceLock<reqwest::Client>>,
    timeout: Duration,
    auth: Authorizer,
    retry: RetryPolicy,
}

/// rustls, timeouts, product User-Agent, same-origin-only redirects.
fn build_client(timeout: Duration) -> Result<reqwest::Client, String> {
    let redirect = reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .last()
            .is_some_and(|prev| prev.origin() == attempt.url().origin());
        if same_origin && attempt.previous().len() < 5 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    let mut headers = HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT,
        HeaderValue::from_static("application/json"),
    );
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .default_headers(headers)
        .redirect(redirect)
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))
}

impl HttpClient {
    /// Prepares the client (the HTTP stack itself is built at the first request).
    pub fn new(
        credentials: &Credentials,
        retry: RetryPolicy,
        timeout: Duration,
    ) -> Result<Self, String> {
        let auth = match credentials {
            Credentials::OAuth(tokens) => Authorizer::OAuth(tokens.clone()),
            other => Authorizer::Static(other.header().ok_or_else(|| {
                "the credentials contain characters that cannot be sent in an HTTP header"
                    .to_string()
            })?),
        };
        Ok(Self {
            client: Arc::default(),
            timeout,
            auth,
            retry,
        })
    }

    /// The HTTP stack, built on first use (two first requests at once may both build one;
    /// the first stored wins).
    fn client(&self, product: Product) -> Result<&reqwest::Client, ApiError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let built = build_client(self.timeout).map_err(|message| ApiError::Transport {
            product,
            message,
            timeout: false,
        })?;
        Ok(self.client.get_or_init(|| built))
    }

    /// Sends a request, retrying per [`RetryPolicy`], and returns the JSON body
    /// (`Value::Null` for an empty body).
    pub async fn send(&self, trace: &CallTrace, req: ApiRequest) -> Result<Value, ApiError> {
        self.send_accepting(trace, req, &[])
            .await
            .map(|answer| answer.body)
    }

    /// Like [`HttpClient::send`], but an answer whose status is in `accept` (e.g. `&[400]`)
    /// and whose body is JSON comes back as `Ok` with its status, for endpoints whose error
    /// bodies carry results (Jira's bulk create). Retries, redirects, re-authorization and
    /// missing-scope detection happen exactly as in `send` (a 401 is never accepted); an
    /// accepted status with a body that is not JSON is still an [`ApiError::Status`].
    pub async fn send_accepting(
        &self,
        trace: &CallTrace,
        req: ApiRequest,
        accept: &[u16],
    ) -> Result<Answer, ApiError> {
        let product = req.product;
        let path = req.url.path().to_string();
        match self.exchange(trace, req, accept).await? {
            Reply::Accepted(answer) => Ok(answer),
            Reply::Success { status, body } => {
                if body.iter().all(u8::is_ascii_whitespace) {
                    return Ok(Answer {
                        status,
                        body: Value::Null,
                    });
                }
                serde_json::from_slice(&body)
                    .map(|json| Answer { status, body: json })
                    .map_err(|e| ApiError::Decode {
                        product,
                        message: format!("{path}: body is not valid JSON ({e})"),
                    })
            }
        }
    }

    /// Like [`HttpClient::send`], but a success comes back as the body's bytes, for callers
    /// that decode large answers straight into their own types (a search page) instead of
    /// building a `Value` first.
    pub async fn send_for_bytes(
        &self,
        trace: &CallTrace,
        req: ApiRequest,
    ) -> Result<Vec<u8>, ApiError> {
        match self.exchange(trace, req, &[]).await? {
            Reply::Success { body, .. } => Ok(body),
            Reply::Accepted(answer) => Ok(serde_json::to_vec(&answer.body).unwrap_or_default()),
        }
    }

    /// The request/retry loop behind every send: a success's body as bytes, or an accepted
    /// error status's JSON.
    async fn exchange(
        &self,
        trace: &CallTrace,
        req: ApiRequest,
        accept: &[u16],
    ) -> Result<Reply, ApiError> {
        let product = req.product;
        let path = req.url.path().to_string();
        let idempotent = req.idempotent;
        let mut attempt: u32 = 0;
        // An OAuth token refused with 401 is refreshed once and the request sent again.
        let mut rejected: Option<Secret> = None;
        let mut reauthorized = false;
        loop {
            let (auth, bearer) = match &self.auth {
                Authorizer::Static(h) => (h.clone(), None),
                Authorizer::OAuth(tokens) => {
                    let token = tokens
                        .bearer(rejected.as_ref())
                        .await
                        .map_err(ApiError::SignIn)?;
                    let header =
                        sensitive(&format!("Bearer {}", token.expose())).ok_or_else(|| {
                            ApiError::SignIn(crate::auth::AuthError::SignInExpired(
                                "the stored access token is not a valid header value".to_string(),
                            ))
                        })?;
                    (header, Some(token))
                }
            };
            let mut builder = self
                .client(product)?
                .request(req.method.clone(), req.url.clone())
                .query(&req.query)
                .header(reqwest::header::AUTHORIZATION, auth);
            if let Some(body) = &req.body {
                builder = builder.json(body);
            }
            let started = Instant::now();
            let result = builder.send().await;
            let elapsed = started.elapsed();
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    // Transport failures are not retried: a refused connection or a 30 s
                    // timeout will not heal within one tool call, and the model should hear
                    // about it at once.
                    trace.record(&req.method, &path, 0, elapsed);
                    let mut message = describe_transport_error(&e);
                    let url_len = req.url_len();
                    if url_len > MAX_GET_URL_BYTES {
                        // Some proxies drop a request whose head is too long instead of
                        // answering 414: say so rather than blame the network alone.
                        message.push_str(&format!(
                            "; the request URL was {url_len} bytes, which a server or proxy may refuse for its length"
                        ));
                    }
                    return Err(ApiError::Transport {
                        product,
                        message,
                        timeout: e.is_timeout(),
                    });
                }
            };
            let status = response.status();

            let rate_limited = matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            );
            let transient = idempotent
                && matches!(
                    status,
                    StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT
                );
            if rate_limited || transient || status.is_redirection() {
                // No body is needed from these answers: the time to headers is the request time.
                trace.record(&req.method, &path, status.as_u16(), elapsed);
            }
            if rate_limited || transient {
                let retry_after = parse_retry_after(response.headers());
                let wait = self.wait_before_retry(retry_after, attempt);
                let wait_left = trace.wait_left(&self.retry);
                if trace.take_retry(&self.retry, wait) {
                    attempt += 1;
                    tracing::debug!(%path, status = status.as_u16(), ?wait, "retrying");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                if rate_limited {
                    // "Try again after" only means something for a wait of a second or more.
                    let retry_at = retry_after
                        .filter(|d| d.as_secs() >= 1)
                        .and_then(|d| time::Duration::try_from(d).ok())
                        .and_then(|d| time::OffsetDateTime::now_utc().checked_add(d));
                    return Err(ApiError::RateLimited {
                        product,
                        status: status.as_u16(),
                        retry_after,
                        retry_at,
                        // Asked for more than the budget has left while retries remained:
                        // the wait itself is the reason, so the message leads with it.
                        wait_too_long: !wait_left.is_zero()
                            && retry_after.is_some_and(|d| d > wait_left),
                    });
                }
            }
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| req.url.join(l).ok())
                    .map(|u| u.origin().ascii_serialization())
                    .unwrap_or_else(|| "an unknown location".to_string());
                return Err(ApiError::Redirect { product, location });
            }
            // A success (or an error whose body carries results) is read whole up to the
            // request's limit; any other error only for its messages.
            let whole = status.is_success()
                || (status != StatusCode::UNAUTHORIZED && accept.contains(&status.as_u16()));
            let limit = if whole {
                req.max_body
            } else {
                MAX_ERROR_BODY_BYTES
            };
            let body = read_body(response, limit, !whole).await;
            if !transient {
                trace.record(&req.method, &path, status.as_u16(), started.elapsed());
            }
            let body = match body {
                Ok(Body::Complete(bytes)) => bytes,
                Ok(Body::Cut(bytes)) if !whole => bytes,
                Ok(Body::Cut(_)) => {
                    return Err(ApiError::TooLarge {
                        product,
                        limit: req.max_body,
                        request: format!("{} {path}", req.method),
                    });
                }
                // The site answered with an error status and its body was lost: that is an
                // HTTP answer (never "unreachable", so no cached copy stands in for it).
                Err(e) if !status.is_success() => {
                    return Err(ApiError::Status {
                        product,
                        status: status.as_u16(),
                        messages: vec![format!(
                            "the answer's body could not be read ({})",
                            describe_transport_error(&e)
                        )],
                    });
                }
                Err(e) => {
                    return Err(ApiError::Transport {
                        product,
                        message: describe_transport_error(&e),
                        timeout: e.is_timeout(),
                    });
                }
            };
            if !status.is_success() {
                let messages = parse_error_body(&body);
                if status == StatusCode::UNAUTHORIZED {
                    if messages
                        .iter()
                        .any(|m| m.to_ascii_lowercase().contains("scope does not match"))
                    {
                        return Err(ApiError::MissingScope {
                            product,
                            scope: req.scope,
                            message: messages.join("; "),
                        });
                    }
                    if bearer.is_some() {
                        if !reauthorized {
                            reauthorized = true;
                            rejected = bearer;
                            continue;
                        }
                        return Err(ApiError::SignIn(crate::auth::AuthError::SignInExpired(
                            format!(
                                "{} refused even a freshly refreshed access token ({})",
                                product.name(),
                                messages.join("; ")
                            ),
                        )));
                    }
                }
                if status != StatusCode::UNAUTHORIZED
                    && accept.contains(&status.as_u16())
                    && let Ok(json) = serde_json::from_slice::<Value>(&body)
                {
                    return Ok(Reply::Accepted(Answer {
                        status: status.as_u16(),
                        body: json,
                    }));
                }
                return Err(ApiError::Status {
                    product,
                    status: status.as_u16(),
                    messages,
                });
            }
            return Ok(Reply::Success {
                status: status.as_u16(),
                body,
            });
        }
    }

    /// How long to wait before retrying: the server's `Retry-After` when it is at least the
    /// policy's floor; a jittered wait between one and two floors when it asks for less (`0`,
    /// a date already past), so retries never come in a burst; the jittered exponential
    /// backoff (never under the floor) when it gives none.
    fn wait_before_retry(&self, retry_after: Option<Duration>, attempt: u32) -> Duration {
        let floor = self.retry.min_wait();
        match retry_after {
            Some(asked) if asked >= floor => asked,
            Some(_) => floor.mul_f64(1.0 + rand::random::<f64>()),
            None => self.backoff(attempt).max(floor),
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.retry.base_backoff.as_secs_f64() * 2f64.powi(attempt.min(8) as i32);
        let jitter = 0.7 + rand::random::<f64>() * 0.6;
        Duration::from_secs_f64((base * jitter).min(self.retry.max_wait.as_secs_f64()))
    }
}
