//! What of a tool call's arguments is written to the log (`[audit].args`), and the secret-key
//! rule that applies in every mode as the last line of defence against credentials in the log.

use serde_json::Value;
use sha2::Digest;

use crate::config::ArgsMode;

/// Strings longer than this many characters are cut in `redacted` mode.
pub const LONG_STRING_CHARS: usize = 256;

/// How many leading characters of a cut string are kept.
pub const KEPT_CHARS: usize = 64;

/// What replaces the value of a secret-looking key.
pub const REDACTED: &str = "[redacted]";

/// Substrings (lowercase) that make an object key look like it holds a credential.
const SECRET_KEY_PARTS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "api_key",
    "apikey",
    "api-key",
    "authorization",
    "cookie",
    "private_key",
];

/// Keys that contain a secret-looking word but are known not to be secrets: pagination cursors
/// that the audit trail needs to show which page a search fetched.
const NOT_SECRET_KEYS: &[&str] = &[
    "next_page_token",
    "nextpagetoken",
    "page_token",
    "pagetoken",
];

/// True when an object member with this key must never be written (case-insensitive substring
/// match on `token`, `password`, `secret`, `api_key`, `authorization`, `cookie` and a few more,
/// minus known pagination cursors such as `next_page_token`).
pub fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    if NOT_SECRET_KEYS.contains(&lower.as_str()) {
        return false;
    }
    SECRET_KEY_PARTS.iter().any(|part| lower.contains(part))
}

/// Applies `[audit].args` to raw arguments: `full` keeps them (minus secret-looking keys),
/// `redacted` also cuts long strings, `digest` records nothing (`args_sha256` still identifies them).
pub fn apply(args: &Value, mode: ArgsMode) -> Option<Value> {
    match mode {
        ArgsMode::Digest => None,
        ArgsMode::Full => Some(walk(args, false)),
        ArgsMode::Redacted => Some(walk(args, true)),
    }
}

fn walk(value: &Value, cut_long: bool) -> Value {
    match value {
        Value::String(s) if cut_long => Value::String(shorten(s)),
        Value::Array(items) => Value::Array(items.iter().map(|v| walk(v, cut_long)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) {
                        Value::String(REDACTED.to_owned())
                    } else {
                        walk(v, cut_long)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Cuts a string longer than [`LONG_STRING_CHARS`] to its first [`KEPT_CHARS`] characters plus
/// `… [sha256:<16 hex>, <N> chars]`, so the record stays short but still identifies the text.
pub fn shorten(s: &str) -> String {
    cut(s, LONG_STRING_CHARS, KEPT_CHARS)
}

/// Most characters of an `error` kept in `full` mode; longer errors are cut with the same
/// marker as long arguments.
pub const ERROR_MAX_CHARS: usize = 1000;

/// Applies `[audit].args` to an error message before it is written, because error texts can
/// echo arguments (a 5 MB `key` came back whole in "got `…`"):
///
/// - `full`: kept up to [`ERROR_MAX_CHARS`] characters, then cut like a long argument;
/// - `redacted`: treated exactly like an argument string ([`shorten`]);
/// - `digest`: no text at all, only `[sha256:<64 hex>, <N> chars]` of the message, so the
///   record proves which message it was without repeating anything the arguments held.
pub fn error(text: &str, mode: ArgsMode) -> String {
    match mode {
        ArgsMode::Full => cut(text, ERROR_MAX_CHARS, ERROR_MAX_CHARS),
        ArgsMode::Redacted => shorten(text),
        ArgsMode::Digest => format!(
            "[sha256:{}, {} chars]",
            hex::encode(sha2::Sha256::digest(text.as_bytes())),
            text.chars().count()
        ),
    }
}

/// A string of more than `limit` characters becomes its first `keep` characters, `…`, and
/// ` [sha256:<16 hex>, <N> chars]` (N counts Unicode scalar values); shorter ones are kept.
fn cut(s: &str, limit: usize, keep: usize) -> String {
    // Counting stops just past the limit: a 5 MB string is not walked twice.
    if s.chars().nth(limit).is_none() {
        return s.to_owned();
    }
    let chars = s.chars().count();
    let head: String = s.chars().take(keep).collect();
    let digest = hex::encode(sha2::Sha256::digest(s.as_bytes()));
    format!("{head}… [sha256:{}, {chars} chars]", &digest[..16])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_keys_are_detected_case_insensitively() {
        for key in [
            "token",
            "access_token",
            "Password",
            "client_secret",
            "API_KEY",
            "Authorization",
            "set-cookie",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["jql", "summary", "next_page_token", "nextPageToken", "body"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn full_mode_keeps_text_but_redacts_secret_keys_at_any_depth() {
        let long = "x".repeat(1000);
        let args =
            json!({"body": long, "nested": [{"auth": {"Api_Key": "k"}, "password": {"a": 1}}]});
        let out = apply(&args, ArgsMode::Full).unwrap();
        assert_eq!(out["body"].as_str().unwrap().len(), 1000);
        assert_eq!(out["nested"][0]["auth"]["Api_Key"], json!(REDACTED));
        assert_eq!(out["nested"][0]["password"], json!(REDACTED));
    }

    #[test]
    fn redacted_mode_cuts_long_strings_everywhere() {
        let long: String = "é".repeat(300);
        let args = json!({"a": [long.clone(), "short"], "b": {"c": long.clone()}, "token": "t"});
        let out = apply(&args, ArgsMode::Redacted).unwrap();
        let digest = hex::encode(sha2::Sha256::digest(long.as_bytes()));
        let expected = format!("{}… [sha256:{}, 300 chars]", "é".repeat(64), &digest[..16]);
        assert_eq!(out["a"][0], json!(expected));
        assert_eq!(out["a"][1], json!("short"));
        assert_eq!(out["b"]["c"], json!(expected));
        assert_eq!(out["token"], json!(REDACTED));
    }

    #[test]
    fn strings_at_the_limit_are_kept() {
        let s = "y".repeat(LONG_STRING_CHARS);
        assert_eq!(shorten(&s), s);
        assert_ne!(shorten(&format!("{s}y")), format!("{s}y"));
    }

    #[test]
    fn error_rule_per_mode() {
        let short = "jira: ENG-1 was not found";
        assert_eq!(error(short, ArgsMode::Full), short);
        assert_eq!(error(short, ArgsMode::Redacted), short);
        let digest = hex::encode(sha2::Sha256::digest(short.as_bytes()));
        assert_eq!(
            error(short, ArgsMode::Digest),
            format!("[sha256:{digest}, 25 chars]")
        );
        let long = "é".repeat(ERROR_MAX_CHARS + 1);
        let cut = error(&long, ArgsMode::Full);
        let head = hex::encode(sha2::Sha256::digest(long.as_bytes()));
        assert_eq!(
            cut,
            format!(
                "{}… [sha256:{}, {} chars]",
                "é".repeat(ERROR_MAX_CHARS),
                &head[..16],
                ERROR_MAX_CHARS + 1
            )
        );
        assert_eq!(
            error(&"e".repeat(ERROR_MAX_CHARS), ArgsMode::Full),
            "e".repeat(ERROR_MAX_CHARS)
        );
        assert_eq!(error(&long, ArgsMode::Redacted), shorten(&long));
    }

    #[test]
    fn digest_mode_records_no_args() {
        assert_eq!(apply(&json!({"jql": "x"}), ArgsMode::Digest), None);
    }
}
