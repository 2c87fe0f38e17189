//! Small, forgiving readers for Atlassian JSON: a missing or oddly-typed field yields `None`,
//! never a panic, because real sites vary (custom fields, Cloud vs Data Center user shapes).

use serde_json::Value;

use crate::sanitize::clean_text;

/// A string at `key`, cleaned of invisible characters.
pub(crate) fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(clean_text)
}

/// `v[key].name` (status, priority, issue type, resolution…), cleaned.
pub(crate) fn name_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(|o| text(o, "name"))
}

/// A string or number at `key`, as a string (ids are strings in some APIs and numbers in others).
pub(crate) fn id(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer at `key`.
pub(crate) fn uint(v: &Value, key: &str) -> Option<u64> {
    match v.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// An array at `key` (empty when absent).
pub(crate) fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Strings in an array at `key`.
pub(crate) fn strings(v: &Value, key: &str) -> Vec<String> {
    array(v, key)
        .iter()
        .filter_map(Value::as_str)
        .map(clean_text)
        .collect()
}

/// Reads a Data Center offset cursor (our own `next_page_token` / `cursor`: a decimal offset).
pub(crate) fn offset_cursor(
    product: super::Product,
    cursor: Option<&str>,
    name: &str,
) -> Result<u64, super::ApiError> {
    match cursor {
        None => Ok(0),
        Some(c) => c.trim().parse().map_err(|_| super::ApiError::Status {
            product,
            status: 400,
            messages: vec![format!(
                "{name} `{c}` is not one this tool returned; omit it to start from the first page"
            )],
        }),
    }
}

/// The value of a query parameter in a (possibly relative) link such as `_links.next`.
pub(crate) fn query_param(link: &str, name: &str) -> Option<String> {
    let url = url::Url::parse("http://x.invalid/").ok()?.join(link).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
