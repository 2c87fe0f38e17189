//! Lenient argument parsing: many MCP clients send numbers as strings (`"20"`), so numeric
//! arguments accept both, while the schema still advertises an integer.

use serde::{Deserialize, Deserializer};

/// Deserializes an optional unsigned integer given as a number or a numeric string.
pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrText {
        Num(u64),
        Text(String),
    }
    match Option::<NumOrText>::deserialize(d)? {
        None => Ok(None),
        Some(NumOrText::Num(n)) => u32::try_from(n)
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{n} is too large"))),
        Some(NumOrText::Text(s)) if s.trim().is_empty() => Ok(None),
        Some(NumOrText::Text(s)) => {
            s.trim().parse::<u32>().map(Some).map_err(|_| {
                serde::de::Error::custom(format!("expected a whole number, got `{s}`"))
            })
        }
    }
}

/// Deserializes an optional list given as a JSON array of strings or as one comma-separated
/// string (`"comments,changelog"`), which many agents send; empty entries are dropped.
pub fn opt_list<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<Option<Vec<T>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrText {
        List(Vec<serde_json::Value>),
        Text(String),
    }
    let items: Vec<serde_json::Value> = match Option::<ListOrText>::deserialize(d)? {
        None => return Ok(None),
        Some(ListOrText::List(items)) => items,
        Some(ListOrText::Text(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| serde_json::Value::String(s.to_string()))
            .collect(),
    };
    items
        .into_iter()
        .map(|v| serde_json::from_value(v).map_err(serde::de::Error::custom))
        .collect::<Result<Vec<T>, _>>()
        .map(Some)
}

/// Schema transform for a count argument, used as `#[schemars(range(min = 1, max = 100),
/// extend("default" = 20), transform = count_schema)]` so that `tools/list` shows the real
/// bounds and default: it drops the `uint32` format, which says nothing `minimum` does not, so
/// that a real `minimum: 0` survives `tools/list` trimming (which drops `minimum: 0` only as
/// the noise that unsigned formats carry).
pub fn count_schema(schema: &mut schemars::Schema) {
    schema.remove("format");
}

/// Checks an optional count against its bounds; `None` gives the default. Out of range, the
/// message states the allowed range and the default, and nothing else: right for any count
/// (`max_words`, `comment_limit` …). A page size that can be paged past uses
/// [`bounded_paged`] instead, whose message also says how to get more.
pub fn bounded(
    value: Option<u32>,
    default: u32,
    max: u32,
    name: &str,
) -> Result<u32, super::ToolError> {
    check(value, 1, default, max, name, None)
}

/// [`bounded`] for a count where 0 means "none of them" (`comment_limit: 0` leaves comments
/// out).
pub fn bounded_or_zero(
    value: Option<u32>,
    default: u32,
    max: u32,
    name: &str,
) -> Result<u32, super::ToolError> {
    check(value, 0, default, max, name, None)
}

/// [`bounded`] for a page size (`max_results`, `limit`): out of range, the message adds
/// `more`, how to see more than one page holds, e.g. "pass the returned next_cursor as
/// cursor".
pub fn bounded_paged(
    value: Option<u32>,
    default: u32,
    max: u32,
    name: &str,
    more: &str,
) -> Result<u32, super::ToolError> {
    check(value, 1, default, max, name, Some(more))
}

fn check(
    value: Option<u32>,
    min: u32,
    default: u32,
    max: u32,
    name: &str,
    more: Option<&str>,
) -> Result<u32, super::ToolError> {
    match value {
        None => Ok(default),
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(v) => {
            let hint = match more {
                Some(more) if v > max => format!("; for more, {more}"),
                _ => String::new(),
            };
            Err(super::ToolError::Invalid(format!(
                "{name} must be {min}–{max} (got {v}; default {default}){hint}"
            )))
        }
    }
}

/// Rejects empty or whitespace-only required text.
pub fn non_empty<'a>(value: &'a str, name: &str) -> Result<&'a str, super::ToolError> {
    let v = value.trim();
    if v.is_empty() {
        Err(super::ToolError::Invalid(format!(
            "{name} must not be empty"
        )))
    } else {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct A {
        #[serde(default, deserialize_with = "opt_u32")]
        n: Option<u32>,
    }

    #[test]
    fn numbers_and_strings() {
        let p = |s: &str| serde_json::from_str::<A>(s).map(|a| a.n);
        assert_eq!(p(r#"{"n":5}"#).unwrap(), Some(5));
        assert_eq!(p(r#"{"n":"7"}"#).unwrap(), Some(7));
        assert_eq!(p(r#"{}"#).unwrap(), None);
        assert_eq!(p(r#"{"n":null}"#).unwrap(), None);
        assert!(p(r#"{"n":"x"}"#).is_err());
        assert!(p(r#"{"n":-1}"#).is_err());
        assert!(p(r#"{"n":99999999999}"#).is_err());
    }

    fn message(r: Result<u32, crate::mcp::ToolError>) -> String {
        match r {
            Err(crate::mcp::ToolError::Invalid(m)) => m,
            other => panic!("expected an invalid-argument error, got {other:?}"),
        }
    }

    #[test]
    fn bounds() {
        assert_eq!(bounded(None, 20, 100, "max_results").unwrap(), 20);
        assert_eq!(bounded(Some(100), 20, 100, "max_results").unwrap(), 100);
        assert!(bounded(Some(0), 20, 100, "max_results").is_err());
        assert!(bounded(Some(101), 20, 100, "max_results").is_err());
        assert_eq!(bounded_paged(Some(1), 10, 50, "limit", "page").unwrap(), 1);
        assert_eq!(bounded_or_zero(Some(0), 5, 50, "comment_limit").unwrap(), 0);
        assert_eq!(bounded_or_zero(None, 5, 50, "comment_limit").unwrap(), 5);
        assert_eq!(
            message(bounded_or_zero(Some(51), 5, 50, "comment_limit")),
            "comment_limit must be 0–50 (got 51; default 5)"
        );
    }

    #[test]
    fn only_page_sizes_speak_of_paging() {
        // A count that is not a page size: the range and the default, no paging advice.
        for bad in [0, 1001] {
            let m = message(bounded(Some(bad), 150, 1000, "max_words"));
            assert_eq!(
                m,
                format!("max_words must be 1–1000 (got {bad}; default 150)")
            );
        }
        // A page size: how to get more when asked for too many at once.
        let more = "pass the returned next_cursor as cursor";
        let m = message(bounded_paged(Some(51), 10, 50, "limit", more));
        assert_eq!(
            m,
            format!("limit must be 1–50 (got 51; default 10); for more, {more}")
        );
        // Zero is not a request for more.
        let m = message(bounded_paged(Some(0), 10, 50, "limit", more));
        assert!(!m.contains("for more"), "{m}");
    }
}

#[cfg(test)]
mod list_tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Args {
        #[serde(default, deserialize_with = "super::opt_list")]
        parts: Option<Vec<String>>,
    }

    #[test]
    fn lists_come_as_arrays_or_comma_separated_text() {
        let parse = |v: serde_json::Value| serde_json::from_value::<Args>(v).map(|a| a.parts);
        assert_eq!(
            parse(serde_json::json!({"parts": ["a", "b"]})).unwrap(),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(
            parse(serde_json::json!({"parts": "a, b,,"})).unwrap(),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(parse(serde_json::json!({})).unwrap(), None);
        assert_eq!(parse(serde_json::json!({"parts": null})).unwrap(), None);
        assert!(parse(serde_json::json!({"parts": 3})).is_err());
    }
}
