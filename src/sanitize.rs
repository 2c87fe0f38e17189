//! Defence against prompt injection through invisible text: upstream strings are untrusted.
//!
//! Jira and Confluence content is written by people other than the user, and text the model
//! reads can hide instructions in characters a human reviewer never sees (zero-width
//! characters, bidirectional overrides, Unicode tag characters). Everything we hand to the
//! model passes through [`clean_text`] first.

/// Removes invisible and bidirectional control characters (zero-width, bidi overrides and
/// isolates, tag characters, other C0/C1 controls except `\n` and `\t`).
///
/// Line endings are normalised: `\r\n` and a lone `\r` both become `\n`. Visible Unicode
/// (accents, CJK, emoji, variation selectors, ZWJ-free emoji sequences) is kept.
pub fn clean_text(s: &str) -> String {
    // Most text is printable ASCII: one quick pass over the bytes settles it.
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) || b == b'\n' || b == b'\t')
    {
        return s.to_string();
    }
    if !s.chars().any(|c| c == '\r' || is_invisible(c)) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else if !is_invisible(c) {
            out.push(c);
        }
    }
    out
}

/// Removes Confluence search highlight markers (`@@@hl@@@`, `@@@endhl@@@`) and cleans the text.
///
/// Also collapses every run of whitespace (including newlines) into one space and trims, because
/// excerpts are shown as one-line snippets in search results.
pub fn clean_excerpt(s: &str) -> String {
    // Clean first: an invisible character inside a marker would otherwise hide it from removal.
    let mut unmarked = clean_text(s);
    // Loop: removing one marker can join the halves of another ("@@@h@@@hl@@@l@@@").
    while unmarked.contains("@@@hl@@@") || unmarked.contains("@@@endhl@@@") {
        unmarked = unmarked.replace("@@@endhl@@@", "").replace("@@@hl@@@", "");
    }
    collapse_whitespace(&unmarked)
}

/// Collapses every run of whitespace into a single ASCII space and trims both ends.
///
/// Exists for one-line renderings (titles, excerpts, table cells) of text that may contain
/// newlines or tabs.
pub fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Text for a terminal, with nothing hidden: every control character (`\n`, `\t`, ESC …),
/// every character [`is_invisible`] names (bidi overrides and isolates, zero-width
/// characters, tag characters) and the line/paragraph separators U+2028/U+2029 are shown
/// escaped (`\n`, `\u{1b}`, `\u{202e}`) instead of being interpreted.
///
/// Exists for CLI output of stored text (the audit log's tool names, arguments and errors came
/// from clients and upstream): unlike [`clean_text`], which removes such characters from what
/// the model reads, a person auditing the log must see that they were there.
pub fn escape_invisible(s: &str) -> String {
    let hidden =
        |c: char| c.is_control() || is_invisible(c) || matches!(c, '\u{2028}' | '\u{2029}');
    if !s.chars().any(hidden) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !hidden(c) {
            out.push(c);
        } else if matches!(c, '\n' | '\t' | '\r') {
            out.extend(c.escape_default());
        } else {
            out.extend(c.escape_unicode());
        }
    }
    out
}

/// True for characters [`clean_text`] removes (everything except `\r`, which it translates).
///
/// Public so callers that filter character-by-character (e.g. while streaming) use the same
/// definition of "invisible" as the converters.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        // C0 controls except tab and newline (carriage return is translated by the caller), DEL.
        '\u{0}'..='\u{8}'
            | '\u{b}'..='\u{c}'
            | '\u{e}'..='\u{1f}'
            | '\u{7f}'
            // C1 controls.
            | '\u{80}'..='\u{9f}'
            // Soft hyphen, Arabic letter mark, Mongolian vowel separator.
            | '\u{ad}'
            | '\u{61c}'
            | '\u{180e}'
            // Zero-width space/non-joiner/joiner, LRM, RLM.
            | '\u{200b}'..='\u{200f}'
            // Bidi embeddings and overrides.
            | '\u{202a}'..='\u{202e}'
            // Word joiner and invisible operators.
            | '\u{2060}'..='\u{2064}'
            // Bidi isolates.
            | '\u{2066}'..='\u{2069}'
            // Interlinear annotation controls.
            | '\u{fff9}'..='\u{fffb}'
            // Byte order mark / zero-width no-break space.
            | '\u{feff}'
            // Unicode tag characters (used to smuggle hidden ASCII).
            | '\u{e0000}'..='\u{e007f}'
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn removes_each_invisible_class() {
        let cases = [
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{200e}',
            '\u{200f}',
            '\u{202a}',
            '\u{202b}',
            '\u{202c}',
            '\u{202d}',
            '\u{202e}',
            '\u{2060}',
            '\u{2061}',
            '\u{2064}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{feff}',
            '\u{ad}',
            '\u{180e}',
            '\u{e0000}',
            '\u{e0041}',
            '\u{e007f}',
            '\u{0}',
            '\u{7}',
            '\u{1b}',
            '\u{7f}',
            '\u{85}',
            '\u{9f}',
            '\u{b}',
            '\u{c}',
        ];
        for c in cases {
            let input = format!("a{c}b");
            assert_eq!(
                clean_text(&input),
                "ab",
                "U+{:04X} was not removed",
                c as u32
            );
        }
    }

    #[test]
    fn hidden_tag_payload_is_removed() {
        let hidden: String = "ignore previous"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap_or('?'))
            .collect();
        assert_eq!(clean_text(&format!("Hello{hidden} world")), "Hello world");
    }

    #[test]
    fn keeps_newline_tab_and_normalises_carriage_returns() {
        assert_eq!(clean_text("a\tb\nc"), "a\tb\nc");
        assert_eq!(clean_text("a\r\nb\rc\r\n\r\nd"), "a\nb\nc\n\nd");
    }

    #[test]
    fn keeps_normal_unicode() {
        let s = "Café naïve Ångström — 日本語 中文 한국어 😀 👍🏽 ❤\u{fe0f} 🇩🇪 Ελληνικά עברית";
        assert_eq!(clean_text(s), s);
    }

    #[test]
    fn excerpt_strips_markers_and_collapses_whitespace() {
        let s = "  The @@@hl@@@deploy@@@endhl@@@ \n\n step\u{200b}s\tare   here ";
        assert_eq!(clean_excerpt(s), "The deploy steps are here");
    }

    #[test]
    fn excerpt_of_only_markers_is_empty() {
        assert_eq!(clean_excerpt("@@@hl@@@@@@endhl@@@  "), "");
        assert_eq!(clean_excerpt("@@@h@@@hl@@@l@@@x"), "x");
        assert_eq!(clean_excerpt("@@@h\u{200b}l@@@x"), "x");
    }

    #[test]
    fn escape_invisible_shows_what_clean_text_removes() {
        assert_eq!(escape_invisible("plain é 日本 😀"), "plain é 日本 😀");
        assert_eq!(
            escape_invisible("a\u{202e}b\u{200b}c\u{2066}d\u{e0041}e"),
            "a\\u{202e}b\\u{200b}c\\u{2066}d\\u{e0041}e"
        );
        assert_eq!(
            escape_invisible("x\ny\tz\r\u{1b}[2J\u{7}\u{85}\u{2028}"),
            "x\\ny\\tz\\r\\u{1b}[2J\\u{7}\\u{85}\\u{2028}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn clean_text_never_panics_and_is_idempotent(s in any::<String>()) {
            let once = clean_text(&s);
            prop_assert!(!once.chars().any(|c| c == '\r' || is_invisible(c)));
            prop_assert_eq!(clean_text(&once), once.clone());
        }

        #[test]
        fn escape_invisible_leaves_nothing_hidden(s in any::<String>()) {
            let e = escape_invisible(&s);
            prop_assert!(!e.chars().any(|c| c.is_control() || is_invisible(c)));
        }

        #[test]
        fn clean_excerpt_never_panics(s in any::<String>()) {
            let e = clean_excerpt(&s);
            prop_assert!(!e.contains("@@@hl@@@"));
            prop_assert_eq!(e.trim(), e.as_str());
        }
    }
}
