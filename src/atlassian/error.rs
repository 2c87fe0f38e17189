//! One typed error for every way an Atlassian request can fail, with the server's own message.
//!
//! [`parse_error_body`] is the single place that understands the four error body shapes
//! (Jira `ErrorCollection`, Confluence v2 `errors[]`, Confluence v1 `statusCode/message`,
//! API gateway `code/message`); [`ApiError::user_message`] turns an error into text a model
//! (and a person) can act on.

use std::time::Duration;

pub use crate::upstream::parse_error_body;

/// Which product answered, so messages can name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// Jira.
    Jira,
    /// Confluence.
    Confluence,
}

impl Product {
    /// Human name.
    pub fn name(self) -> &'static str {
        match self {
            Product::Jira => "Jira",
            Product::Confluence => "Confluence",
        }
    }
}

/// A failed Atlassian request.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The server answered with a non-success status.
    #[error("{} answered {status}: {}", product.name(), summary(messages))]
    Status {
        /// Which product.
        product: Product,
        /// HTTP status.
        status: u16,
        /// The server's messages (`errorMessages`, field errors as `field: message`, titles…).
        messages: Vec<String>,
    },
    /// 429/503 persisted past the retry budget, or asked for a longer wait than is left of it.
    #[error("{} is rate limiting requests (HTTP {status})", product.name())]
    RateLimited {
        /// Which product.
        product: Product,
        /// 429 or 503.
        status: u16,
        /// How long the server asked us to wait, if it said.
        retry_after: Option<Duration>,
        /// When that wait ends (the answer's time plus `retry_after`), for waits of a second
        /// or more.
        retry_at: Option<time::OffsetDateTime>,
        /// True when the call gave up at once because the asked wait is longer than what is
        /// left of its retry budget, rather than after using its retries up.
        wait_too_long: bool,
    },
    /// A successful answer was longer than the request's limit; the rest was never read.
    #[error("{} sent more than {} for {request}", product.name(), size_text(*limit))]
    TooLarge {
        /// Which product.
        product: Product,
        /// The limit in bytes.
        limit: usize,
        /// Method and path (no query, no host), e.g. `GET /rest/api/3/search/jql`.
        request: String,
    },
    /// A query too long to send: the endpoint takes it only in the URL (Confluence's CQL
    /// search is GET-only), and the URL would pass what servers and proxies accept.
    #[error("{language} too long ({chars} chars; at most {max_bytes} bytes fit once encoded)")]
    QueryTooLong {
        /// Which product.
        product: Product,
        /// `CQL` or `JQL`.
        language: &'static str,
        /// Length of the query in characters.
        chars: usize,
        /// Length of the query once URL-encoded.
        bytes: usize,
        /// Most URL-encoded bytes of query that fit in the URL.
        max_bytes: usize,
    },
    /// No response: timeout, refused connection, TLS failure.
    #[error("could not reach {}: {message}", product.name())]
    Transport {
        /// Which product.
        product: Product,
        /// What went wrong (never containing credentials).
        message: String,
        /// True when the request timed out.
        timeout: bool,
    },
    /// The server redirected somewhere we will not follow with credentials.
    #[error("{} redirected the request to {location}", product.name())]
    Redirect {
        /// Which product.
        product: Product,
        /// Where it pointed (scheme://host only).
        location: String,
    },
    /// The OAuth token lacks a scope this endpoint needs (the gateway's 401 "scope does not match").
    #[error("{} refused the request: missing OAuth scope", product.name())]
    MissingScope {
        /// Which product.
        product: Product,
        /// The scope the endpoint needs, when known.
        scope: Option<&'static str>,
        /// The server's message.
        message: String,
    },
    /// No usable sign-in (OAuth): not signed in, or the refresh token is dead.
    #[error("{0}")]
    SignIn(crate::auth::AuthError),
    /// The response was not the JSON we expected.
    #[error("unexpected response from {}: {message}", product.name())]
    Decode {
        /// Which product.
        product: Product,
        /// Which field failed and why.
        message: String,
    },
}

/// `16 MiB`, `64 KiB` or `1000 bytes`.
fn size_text(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// A wait as a person would say it: `45 s`, `20 min`, `5 h`, `11 days` (rounded down).
fn wait_text(wait: Duration) -> String {
    let secs = wait.as_secs().max(1);
    match secs {
        0..180 => format!("{secs} s"),
        180..10_800 => format!("{} min", secs / 60),
        10_800..259_200 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// `2026-12-01 10:00 UTC`.
fn time_text(t: time::OffsetDateTime) -> Option<String> {
    t.to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .ok()
}

fn summary(messages: &[String]) -> String {
    if messages.is_empty() {
        "no details given".to_string()
    } else {
        messages.join("; ")
    }
}

impl ApiError {
    /// True when the site gave no HTTP answer at all (refused or reset connection, DNS failure,
    /// timeout): what SPEC §10 calls unreachable, when the local cache may answer instead. An
    /// HTTP error status never counts.
    pub fn is_unreachable(&self) -> bool {
        match self {
            ApiError::Transport { .. } => true,
            ApiError::SignIn(e) => e.is_unreachable(),
            _ => false,
        }
    }

    /// HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } | ApiError::RateLimited { status, .. } => Some(*status),
            ApiError::MissingScope { .. } => Some(401),
            _ => None,
        }
    }

    /// A message that says what happened and what to do next.
    pub fn user_message(&self) -> String {
        match self {
            ApiError::Status {
                product,
                status,
                messages,
            } => {
                let name = product.name();
                let detail = summary(messages);
                match status {
                    400 => format!("{name} rejected the request: {detail}"),
                    401 if detail.to_ascii_lowercase().contains("scope does not match") => format!(
                        "{name} refused the request: the token lacks a required scope ({detail}); add the scope to the app and sign in again"
                    ),
                    401 => format!(
                        "{name} did not accept the credentials (401: {detail}); check site.email and the API token or PAT, or create a new token"
                    ),
                    403 => format!(
                        "{name} denied access (403: {detail}); the account lacks permission for this"
                    ),
                    404 if messages.is_empty() => format!(
                        "not found in {name} (404); it does not exist or this account cannot see it"
                    ),
                    404 => format!("not found in {name} (404): {detail}"),
                    410 => format!("{name} says this API has been removed (410: {detail})"),
                    413 => format!("{name} says the request is too large (413: {detail})"),
                    414 => format!(
                        "{name} refused the request because its URL is too long (414: {detail}); shorten the query (fewer terms or values)"
                    ),
                    431 => format!(
                        "{name} refused the request because its headers are too large (431: {detail})"
                    ),
                    s if *s >= 500 => {
                        format!("{name} had a server error ({s}: {detail}); try again shortly")
                    }
                    s => format!("{name} answered {s}: {detail}"),
                }
            }
            ApiError::RateLimited {
                product,
                status,
                retry_after,
                retry_at,
                wait_too_long,
            } => {
                let name = product.name();
                let after = retry_at.and_then(time_text);
                match (retry_after, after) {
                    (Some(wait), after) if *wait_too_long => {
                        let when = after
                            .map(|t| format!("try again after {t}"))
                            .unwrap_or_else(|| "try again later".to_string());
                        format!(
                            "{name} is rate limiting requests (HTTP {status}): Atlassian asks to wait {}, longer than one tool call may wait; {when}",
                            wait_text(*wait)
                        )
                    }
                    (Some(wait), Some(t)) => format!(
                        "{name} is rate limiting requests (HTTP {status}) and retries were used up; try again after {t} (in about {})",
                        wait_text(*wait)
                    ),
                    _ => format!(
                        "{name} is rate limiting requests (HTTP {status}) and retries were used up; try again in a minute"
                    ),
                }
            }
            ApiError::TooLarge {
                product,
                limit,
                request,
            } => format!(
                "{} sent more than {} for {request}, more than the bridge reads from one answer; ask for fewer results or fields, or narrow the query",
                product.name(),
                size_text(*limit)
            ),
            ApiError::QueryTooLong {
                product,
                language,
                chars,
                bytes,
                max_bytes,
            } => format!(
                "{language} too long ({chars} chars, {bytes} bytes once URL-encoded; at most {max_bytes} fit): {} takes this query only in the URL, so it was not sent; shorten it (fewer terms or values)",
                product.name()
            ),
            ApiError::Transport {
                product,
                message,
                timeout,
            } => {
                if *timeout {
                    format!(
                        "{} did not answer in time ({message}); try again, or narrow the query",
                        product.name()
                    )
                } else {
                    format!(
                        "could not reach {} ({message}); check site.url and the network",
                        product.name()
                    )
                }
            }
            ApiError::Redirect { product, location } => format!(
                "{} redirected to {location}, which is not followed with credentials; check site.url (it should be the site's own base URL)",
                product.name()
            ),
            ApiError::MissingScope {
                product,
                scope,
                message,
            } => {
                let which = scope
                    .map(|s| format!("the OAuth scope `{s}`"))
                    .unwrap_or_else(|| "an OAuth scope this request needs".to_string());
                format!(
                    "{} refused the request because the sign-in lacks {which} ({message}); add it to the app's permissions in the Atlassian developer console and to oauth.scopes, then run `atlassian-mcp-bridge login`",
                    product.name()
                )
            }
            ApiError::SignIn(e) => e.to_string(),
            ApiError::Decode { product, message } => format!(
                "unexpected response from {}: {message}; check site.deployment (cloud or data-center)",
                product.name()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jira_error_collection() {
        let m = parse_error_body(
            br#"{"errorMessages":["Error in the JQL Query: bad"],"errors":{"summary":"You must specify a summary of the issue."}}"#,
        );
        assert_eq!(
            m,
            vec![
                "Error in the JQL Query: bad".to_string(),
                "summary: You must specify a summary of the issue.".to_string()
            ]
        );
    }

    #[test]
    fn confluence_v2_and_v1_and_gateway() {
        let m = parse_error_body(
            br#"{"errors":[{"status":404,"code":"NOT_FOUND","title":"Not Found","detail":null}]}"#,
        );
        assert_eq!(m, vec!["Not Found".to_string()]);
        let m = parse_error_body(
            br#"{"statusCode":400,"message":"Could not parse cql : x","reason":"Bad Request"}"#,
        );
        assert_eq!(m, vec!["Could not parse cql : x".to_string()]);
        let m = parse_error_body(br#"{"code":401,"message":"Unauthorized; scope does not match"}"#);
        assert_eq!(m, vec!["Unauthorized; scope does not match".to_string()]);
    }

    #[test]
    fn html_and_empty_bodies() {
        assert_eq!(
            parse_error_body(b"<html><head><title>502 Bad Gateway</title></head></html>"),
            vec!["502 Bad Gateway".to_string()]
        );
        assert!(parse_error_body(b"").is_empty());
    }

    #[test]
    fn waits_sizes_and_rate_limit_messages() {
        assert_eq!(wait_text(Duration::ZERO), "1 s");
        assert_eq!(wait_text(Duration::from_secs(120)), "120 s");
        assert_eq!(wait_text(Duration::from_secs(1200)), "20 min");
        assert_eq!(wait_text(Duration::from_secs(18_000)), "5 h");
        assert_eq!(wait_text(Duration::from_secs(1_000_000)), "11 days");
        assert_eq!(size_text(16 * 1024 * 1024), "16 MiB");
        assert_eq!(size_text(64 * 1024), "64 KiB");
        assert_eq!(size_text(1000), "1000 bytes");
        let at = time::macros::datetime!(2026-12-01 10:00 UTC);
        let long = ApiError::RateLimited {
            product: Product::Jira,
            status: 429,
            retry_after: Some(Duration::from_secs(1_000_000)),
            retry_at: Some(at),
            wait_too_long: true,
        };
        assert_eq!(
            long.user_message(),
            "Jira is rate limiting requests (HTTP 429): Atlassian asks to wait 11 days, longer than one tool call may wait; try again after 2026-12-01 10:00 UTC"
        );
        let used_up = ApiError::RateLimited {
            product: Product::Confluence,
            status: 503,
            retry_after: None,
            retry_at: None,
            wait_too_long: false,
        };
        assert!(
            used_up
                .user_message()
                .ends_with("retries were used up; try again in a minute"),
            "{}",
            used_up.user_message()
        );
    }

    #[test]
    fn scope_mismatch_is_reported_as_missing_scope() {
        let e = ApiError::Status {
            product: Product::Jira,
            status: 401,
            messages: vec!["Unauthorized; scope does not match".into()],
        };
        assert!(e.user_message().contains("lacks a required scope"));
    }
}
