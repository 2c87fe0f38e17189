//! Compact text renderings: what the model actually reads, so every byte is a cost.

/// A tool output that can render itself as compact text.
pub trait Render {
    /// The text block sent alongside `structuredContent`.
    fn render(&self) -> String;
}

/// `2026-11-20T10:15:30.000+0000` → `2026-11-20`; anything else unchanged.
pub fn day(ts: &str) -> &str {
    match ts.get(..10) {
        Some(d) if d.as_bytes().get(4) == Some(&b'-') && d.as_bytes().get(7) == Some(&b'-') => d,
        _ => ts,
    }
}

/// Cuts text to at most `max` characters, marking the cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Puts a single line of user text on one line (newlines and pipes would break a row).
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(day("2026-11-20T10:15:30.000+0000"), "2026-11-20");
        assert_eq!(day("soon"), "soon");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
        assert_eq!(one_line("a\n b\t c"), "a b c");
    }
}
