//! Reading `WWW-Authenticate` challenges (RFC 9110 §11.6.1) far enough to find the Bearer
//! challenge's `resource_metadata` (RFC 9728 §5.1) and `scope` (RFC 6750 §3): several
//! challenges per header and several headers, schemes in any case, quoted or bare values,
//! commas and escapes inside quotes.

/// One challenge: its scheme as sent and its parameters (names lowercased).
#[derive(Debug, PartialEq)]
pub(crate) struct Challenge {
    /// `Bearer`, `Basic` …
    pub scheme: String,
    /// `name=value` pairs in order.
    pub params: Vec<(String, String)>,
}

/// The `resource_metadata` of the first Bearer challenge that has one, across all the
/// `WWW-Authenticate` header values of a response: where the server's RFC 9728 metadata is.
pub fn resource_metadata(values: &[&str]) -> Option<String> {
    bearer_param(values, "resource_metadata")
}

/// The scopes the first Bearer challenge with a `scope` names: what the MCP server says a
/// client should ask for (the MCP authorization spec prefers it to any metadata). Tokens that
/// are not RFC 6749 scope tokens are dropped; `None` when no usable one is left.
pub fn challenge_scope(values: &[&str]) -> Option<Vec<String>> {
    let is_token = |t: &&str| {
        t.chars()
            .all(|c| matches!(c, '\u{21}' | '\u{23}'..='\u{5B}' | '\u{5D}'..='\u{7E}'))
    };
    let scopes: Vec<String> = bearer_param(values, "scope")?
        .split_whitespace()
        .filter(is_token)
        .map(str::to_string)
        .collect();
    (!scopes.is_empty()).then_some(scopes)
}

/// The first non-empty value of the parameter `name` among the Bearer challenges.
fn bearer_param(values: &[&str], name: &str) -> Option<String> {
    values
        .iter()
        .flat_map(|v| challenges(v))
        .filter(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        .find_map(|c| {
            c.params
                .into_iter()
                .find(|(n, value)| n == name && !value.is_empty())
                .map(|(_, value)| value)
        })
}

/// Splits one header value into challenges. Lenient: what it cannot read it skips.
pub(crate) fn challenges(header: &str) -> Vec<Challenge> {
    let chars: Vec<char> = header.chars().collect();
    let len = chars.len();
    let mut out: Vec<Challenge> = Vec::new();
    let mut i = 0;
    while i < len {
        let c = chars[i];
        if c.is_whitespace() || c == ',' {
            i += 1;
            continue;
        }
        if c == '"' {
            // A quoted string where a name should be: skip it whole (its commas included).
            i = quoted(&chars, i).1;
            continue;
        }
        let start = i;
        while i < len && !is_delimiter(chars[i]) {
            i += 1;
        }
        if i == start {
            // A stray `=`.
            i += 1;
            continue;
        }
        let token: String = chars[start..i].iter().collect();
        let mut j = skip_blanks(&chars, i);
        if j < len && chars[j] == '=' {
            j = skip_blanks(&chars, j + 1);
            let (value, next) = if j < len && chars[j] == '"' {
                quoted(&chars, j)
            } else {
                let begin = j;
                while j < len && !chars[j].is_whitespace() && chars[j] != ',' {
                    j += 1;
                }
                (chars[begin..j].iter().collect(), j)
            };
            if let Some(last) = out.last_mut() {
                last.params.push((token.to_ascii_lowercase(), value));
            }
            i = next;
        } else {
            out.push(Challenge {
                scheme: token,
                params: Vec::new(),
            });
            i = j;
        }
    }
    out
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || c == ',' || c == '=' || c == '"'
}

fn skip_blanks(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
        i += 1;
    }
    i
}

/// The quoted string starting at `chars[start] == '"'`, unescaped, and the index after it.
fn quoted(chars: &[char], start: usize) -> (String, usize) {
    let mut value = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                value.push(chars[i + 1]);
                i += 2;
            }
            '"' => return (value, i + 1),
            c => {
                value.push(c);
                i += 1;
            }
        }
    }
    (value, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_resource_metadata_in_every_shape() {
        let url = "https://mcp.example/.well-known/oauth-protected-resource/v1/mcp";
        for header in [
            format!("Bearer resource_metadata=\"{url}\""),
            format!("bearer resource_metadata={url}"),
            format!("BEARER realm=\"a, b\", error=\"invalid_token\", resource_metadata=\"{url}\""),
            format!("Basic realm=\"x\", Bearer resource_metadata=\"{url}\""),
            format!("Negotiate abc==, Bearer scope=\"a b\",resource_metadata = \"{url}\""),
            format!("Bearer Resource_Metadata=\"{url}\", Basic realm=\"y\""),
            format!(
                "Negotiate, Bearer error_description=\"say \\\"hi\\\", then go\", resource_metadata=\"{url}\""
            ),
        ] {
            assert_eq!(
                resource_metadata(&[header.as_str()]).as_deref(),
                Some(url),
                "{header}"
            );
        }
        // Across several header values, and not from another scheme.
        assert_eq!(
            resource_metadata(&[
                "Basic resource_metadata=\"https://wrong\"",
                "Bearer resource_metadata=\"https://right\""
            ])
            .as_deref(),
            Some("https://right")
        );
        for none in [
            "Bearer realm=\"x\"",
            "Basic resource_metadata=\"https://wrong\"",
            "Bearer error=\"a, resource_metadata=https://inside-quotes\"",
            "Bearer resource_metadata=\"\"",
            "",
            "\"unterminated",
        ] {
            assert_eq!(resource_metadata(&[none]), None, "{none}");
        }
    }

    #[test]
    fn the_challenge_scope_is_split_and_screened() {
        let scope = |h: &str| challenge_scope(&[h]);
        assert_eq!(
            scope("Basic realm=\"x\", Bearer error=\"invalid_token\", scope=\"a:b  c\""),
            Some(vec!["a:b".to_string(), "c".to_string()])
        );
        assert_eq!(scope("Bearer scope=read"), Some(vec!["read".to_string()]));
        for none in [
            "Bearer realm=\"x\"",
            "Basic scope=\"a\"",
            "Bearer scope=\"\"",
            "Bearer scope=\"  \"",
        ] {
            assert_eq!(scope(none), None, "{none}");
        }
        // A quote, a backslash or a non-ASCII character is no scope token.
        assert_eq!(
            scope("Bearer scope=\"ok bad\\\"x caf\u{e9}\""),
            Some(vec!["ok".to_string()])
        );
    }

    #[test]
    fn challenges_and_params_are_split_correctly() {
        let got = challenges("Basic realm=\"a,b\", Bearer error=invalid_token, scope=\"x y\"");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].scheme, "Basic");
        assert_eq!(
            got[0].params,
            vec![("realm".to_string(), "a,b".to_string())]
        );
        assert_eq!(got[1].scheme, "Bearer");
        assert_eq!(
            got[1].params,
            vec![
                ("error".to_string(), "invalid_token".to_string()),
                ("scope".to_string(), "x y".to_string())
            ]
        );
    }
}
