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

/// Checks an optional count against its bounds; `None` gives the default.
pub fn bounded(
    value: Option<u32>,
    default: u32,
    max: u32,
    name: &str,
) -> Result<u32, super::ToolError> {
    match value {
        None => Ok(default),
        Some(0) => Err(super::ToolError::Invalid(format!(
            "{name} must be at least 1 (default {default}, max {max})"
        ))),
        Some(v) if v > max => Err(super::ToolError::Invalid(format!(
            "{name} must be at most {max} (got {v}); page with the returned token instead"
        ))),
        Some(v) => Ok(v),
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

    #[test]
    fn bounds() {
        assert_eq!(bounded(None, 20, 100, "max_results").unwrap(), 20);
        assert!(bounded(Some(0), 20, 100, "max_results").is_err());
        assert!(bounded(Some(101), 20, 100, "max_results").is_err());
    }
}
