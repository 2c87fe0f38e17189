//! The one HTTP client: auth header, User-Agent, timeouts, redirect rule, retries, and
//! reporting of every request to the tool call that made it.

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

/// Largest response body we accept (protects memory against a misbehaving server).
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

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

/// The shared HTTP client for one site.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    auth: Authorizer,
    retry: RetryPolicy,
}

impl HttpClient {
    /// Builds the client: rustls, timeouts, product User-Agent, same-origin-only redirects.
    pub fn new(
        credentials: &Credentials,
        retry: RetryPolicy,
        timeout: Duration,
    ) -> Result<Self, String> {
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
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .redirect(redirect)
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        let auth = match credentials {
            Credentials::OAuth(tokens) => Authorizer::OAuth(tokens.clone()),
            other => Authorizer::Static(other.header().ok_or_else(|| {
                "the credentials contain characters that cannot be sent in an HTTP header"
                    .to_string()
            })?),
        };
        Ok(Self {
            client,
            auth,
            retry,
        })
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
                .client
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
                    return Err(ApiError::Transport {
                        product,
                        message: describe_transport_error(&e),
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
                let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
                if trace.take_retry(&self.retry, wait) {
                    attempt += 1;
                    tracing::debug!(%path, status = status.as_u16(), ?wait, "retrying");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                if rate_limited {
                    return Err(ApiError::RateLimited {
                        product,
                        status: status.as_u16(),
                        retry_after,
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
            let body = read_body(response, product).await;
            if !transient {
                trace.record(&req.method, &path, status.as_u16(), started.elapsed());
            }
            let body = body?;
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
                    return Ok(Answer {
                        status: status.as_u16(),
                        body: json,
                    });
                }
                return Err(ApiError::Status {
                    product,
                    status: status.as_u16(),
                    messages,
                });
            }
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Answer {
                    status: status.as_u16(),
                    body: Value::Null,
                });
            }
            return serde_json::from_slice(&body)
                .map(|json| Answer {
                    status: status.as_u16(),
                    body: json,
                })
                .map_err(|e| ApiError::Decode {
                    product,
                    message: format!("{path}: body is not valid JSON ({e})"),
                });
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.retry.base_backoff.as_secs_f64() * 2f64.powi(attempt.min(8) as i32);
        let jitter = 0.7 + rand::random::<f64>() * 0.6;
        Duration::from_secs_f64((base * jitter).min(self.retry.max_wait.as_secs_f64()))
    }
}

/// Reads the body with a running size cap, so a chunked response cannot grow without bound.
async fn read_body(mut response: reqwest::Response, product: Product) -> Result<Vec<u8>, ApiError> {
    let too_large = || ApiError::Decode {
        product,
        message: format!("response larger than {MAX_BODY_BYTES} bytes"),
    };
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(ApiError::Transport {
                    product,
                    message: describe_transport_error(&e),
                    timeout: e.is_timeout(),
                });
            }
        }
    }
}

/// A transport error without the URL's query string (which could carry user text) or credentials.
fn describe_transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the response body could not be read"
    } else {
        "request failed"
    };
    match e.url() {
        Some(url) => format!(
            "{kind}: {}{}",
            url.origin().ascii_serialization(),
            url.path()
        ),
        None => kind.to_string(),
    }
}

/// Reads `Retry-After` as delta-seconds or an HTTP date.
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    // Anything beyond a day is treated as a day: the call gives up either way, and the
    // message should not promise a wait measured in centuries.
    const MAX: u64 = 86_400;
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(MAX)));
    }
    let when =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let delta = when - time::OffsetDateTime::now_utc();
    Some(Duration::from_secs_f64(
        delta.as_seconds_f64().clamp(0.0, MAX as f64),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_date() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn budget_limits_retries_and_wait() {
        let policy = RetryPolicy::default();
        let trace = CallTrace::new();
        assert!(trace.take_retry(&policy, Duration::from_secs(20)));
        assert!(!trace.take_retry(&policy, Duration::from_secs(11)));
        for _ in 0..3 {
            assert!(trace.take_retry(&policy, Duration::from_secs(1)));
        }
        assert!(
            !trace.take_retry(&policy, Duration::ZERO),
            "fifth retry refused"
        );
    }

    #[test]
    fn only_idempotent_requests_retry_gateway_errors() {
        let url = Url::parse("https://x.invalid/").unwrap();
        assert!(ApiRequest::get(Product::Jira, url.clone()).idempotent);
        assert!(!ApiRequest::post(Product::Jira, url.clone()).idempotent);
        assert!(ApiRequest::put(Product::Jira, url.clone()).idempotent);
        let put = ApiRequest::put(Product::Jira, url)
            .json(serde_json::json!({"a": 1}))
            .not_idempotent();
        assert!(!put.idempotent);
        assert_eq!(put.body, Some(serde_json::json!({"a": 1})));
    }

    #[test]
    fn auth_header_is_sensitive_and_debug_hides_it() {
        let c = Credentials::Basic {
            email: "me@x.com".into(),
            token: Secret::new("tok"),
        };
        let h = c.header().unwrap();
        assert!(h.is_sensitive());
        let client = HttpClient::new(&c, RetryPolicy::default(), Duration::from_secs(5)).unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("bWVAeC5jb206dG9r"), "{shown}");
    }
}
