//! Reading what came back: a body up to a byte limit (as a stream, never buffered past it),
//! `Retry-After` in both of its forms, and transport errors described without secrets.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// A response body read up to a limit.
#[derive(Debug)]
pub(super) enum Body {
    /// All of it.
    Complete(Vec<u8>),
    /// The server sent (or announced) more than the limit: what was read before it, at most
    /// the limit; the rest is never read.
    Cut(Vec<u8>),
}

/// Reads the body as a stream, stopping at `limit` bytes, so a chunked answer cannot grow
/// without bound. An announced `Content-Length` over the limit is refused before reading,
/// unless `keep_prefix` asks for the first `limit` bytes anyway (an error page, read for its
/// message).
pub(super) async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
    keep_prefix: bool,
) -> Result<Body, reqwest::Error> {
    if !keep_prefix
        && response
            .content_length()
            .is_some_and(|len| len > limit as u64)
    {
        return Ok(Body::Cut(Vec::new()));
    }
    // Sized once from an announced length (within the limit) instead of growing by doubling.
    let announced = response.content_length().unwrap_or(0);
    let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0).min(limit));
    while let Some(chunk) = response.chunk().await? {
        let room = limit.saturating_sub(body.len());
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok(Body::Cut(body));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Body::Complete(body))
}

/// A transport error without the URL's query string (which could carry user text) or credentials.
pub(super) fn describe_transport_error(e: &reqwest::Error) -> String {
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

/// Reads `Retry-After` as delta-seconds or an HTTP date (a date already past is zero).
///
/// The wait is kept as asked, so the message can name it ("wait 11 days"), up to a century,
/// which keeps "try again after" a date that can be written down.
pub(super) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    const MAX: u64 = 100 * 366 * 86_400;
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
