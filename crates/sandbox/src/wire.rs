//! Wire helpers for the sandbox: query strings, replies, the three Atlassian error shapes,
//! opaque paging tokens and Atlassian timestamp formats.

use base64::Engine as _;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

/// API family of a request; decides the error body shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// Jira (Cloud v3 and DC v2): `ErrorCollection`.
    Jira,
    /// Confluence Cloud v2: `{"errors":[{status,code,title,detail}]}`.
    ConfluenceV2,
    /// Confluence v1 and Data Center: `{"statusCode","data","message","reason"}`.
    ConfluenceV1,
}

/// A response under construction.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    /// A non-JSON body (HTML or text), used when `body` is `None`.
    pub text: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// A JSON reply.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            text: None,
            headers: Vec::new(),
        }
    }

    /// A non-JSON reply (the OAuth consent error page, redirects).
    pub fn text(status: u16, content_type: &str, text: String) -> Self {
        Self {
            status,
            body: None,
            text: Some(text),
            headers: vec![("Content-Type".to_string(), content_type.to_string())],
        }
    }

    /// A 200 JSON reply.
    pub fn ok(body: Value) -> Self {
        Self::json(200, body)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// An error in the family's shape.
    pub fn error(family: Family, status: u16, message: &str) -> Self {
        let reason = reason(status);
        let body = match family {
            Family::Jira => json!({"errorMessages": [message], "errors": {}}),
            Family::ConfluenceV2 => json!({"errors": [{
                "status": status,
                "code": v2_code(status),
                "title": reason,
                "detail": if message.is_empty() { Value::Null } else { Value::String(message.to_string()) },
            }]}),
            Family::ConfluenceV1 => json!({
                "statusCode": status,
                "data": {"authorized": status != 401 && status != 403, "valid": status != 400, "errors": [], "successful": false},
                "message": message,
                "reason": reason,
            }),
        };
        Self::json(status, body)
    }

    /// A Jira 400 with one message.
    pub fn jira_bad(message: &str) -> Self {
        Self::error(Family::Jira, 400, message)
    }

    /// A Jira 404 with one message.
    pub fn jira_not_found(message: &str) -> Self {
        Self::error(Family::Jira, 404, message)
    }
}

fn reason(status: u16) -> &'static str {
    axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

fn v2_code(status: u16) -> &'static str {
    match status {
        400 => "INVALID_REQUEST_PARAMETER",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        413 => "REQUEST_ENTITY_TOO_LARGE",
        429 => "TOO_MANY_REQUESTS",
        503 => "SERVICE_UNAVAILABLE",
        _ => "INTERNAL_SERVER_ERROR",
    }
}

/// Decoded query-string parameters, in order, repeats kept.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a raw query string; invalid UTF-8 after percent-decoding is an error message.
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        let mut out = Vec::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            out.push((decode(k)?, decode(v)?));
        }
        Ok(Self(out))
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, repeated or comma-separated, trimmed, empties dropped.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Whether `key` is present at all.
    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// An integer parameter with a default; a non-integer is an error message.
    pub fn int(&self, key: &str, default: i64) -> Result<i64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) if v.trim().is_empty() => Ok(default),
            Some(v) => v.trim().parse::<i64>().map_err(|_| {
                format!("The value '{v}' is not a valid number for the parameter '{key}'.")
            }),
        }
    }
}

fn decode(s: &str) -> Result<String, String> {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "The query string is not valid UTF-8 after percent-decoding.".to_string())
}

/// Percent-encodes a query-string value.
pub(crate) fn enc(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// A small, stable 64-bit digest (FNV-1a) used to bind paging tokens to their query.
pub(crate) fn digest(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// An opaque token carrying an offset, bound to a query (`kind` keeps Jira and Confluence
/// tokens apart).
pub(crate) fn make_token(kind: &str, offset: usize, query: &str) -> String {
    let raw = format!("{kind}:{offset}:{:016x}", digest(query));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// Reads a token made by [`make_token`]; `None` when it is garbage or belongs to another query.
pub(crate) fn read_token(kind: &str, token: &str, query: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let mut parts = raw.splitn(3, ':');
    if parts.next()? != kind {
        return None;
    }
    let offset = parts.next()?.parse::<usize>().ok()?;
    let dig = parts.next()?;
    (dig == format!("{:016x}", digest(query))).then_some(offset)
}

/// Jira's timestamp format: `2026-11-20T10:15:30.000+0000`.
pub(crate) fn jira_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
    ))
    .unwrap_or_default()
}

/// Jira's date format for `duedate`: `2026-11-20`.
pub(crate) fn jira_date(t: OffsetDateTime) -> String {
    t.format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

/// Confluence's timestamp format: `2026-11-20T10:15:30.000Z`.
pub(crate) fn conf_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_default()
}

/// Confluence's friendly date: `Nov 20, 2026`.
pub(crate) fn friendly(t: OffsetDateTime) -> String {
    t.format(format_description!("[month repr:short] [day], [year]"))
        .unwrap_or_default()
}

/// `X-RateLimit-Reset` format: `yyyy-MM-ddTHH:mmZ`.
pub(crate) fn format_reset(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!("[year]-[month]-[day]T[hour]:[minute]Z"))
        .unwrap_or_default()
}

/// Escapes text for HTML/XML.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Parses a JSON request body into a value; the error is a message for a 400.
pub(crate) fn json_body(body: &[u8]) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice::<Value>(body)
        .map_err(|e| format!("Unexpected character or malformed JSON in the request body: {e}"))
}
