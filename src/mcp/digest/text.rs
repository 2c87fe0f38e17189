//! Words, sentences and trimming at sentence boundaries (pure): what both summarize digests
//! share. [`super::blocks`] turns Markdown into the blocks trimmed here.
//!
//! Definitions the digests (and their tests) rely on:
//! - a **word** is a whitespace-separated token with at least one letter or digit (list markers,
//!   dashes and pipes are not words);
//! - the **prose** of a text is its headings, paragraphs, list items and quotes; code blocks and
//!   tables are not prose (tables are summarized by their header row and row count instead);
//! - a **unit** is what trimming never splits: a sentence of a paragraph or quote, a whole list
//!   item, a whole heading. Trimming keeps whole units in order and stops at the first one that
//!   does not fit. A heading is kept only with at least one whole unit of its body; when no
//!   whole unit of the body fits, the first unit of the first body block is cut at a word
//!   boundary to the whole budget, headings left out, and marked with `…`.

use super::blocks::{Block, Kind};

/// Whether a whitespace-separated token counts as a word.
pub fn is_word(token: &str) -> bool {
    token.chars().any(char::is_alphanumeric)
}

/// Words in `text` (see the module docs for what counts).
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().filter(|t| is_word(t)).count()
}

/// Collapses runs of whitespace to single spaces and trims.
pub fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Abbreviations whose final dot does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "e.g.", "i.e.", "etc.", "vs.", "cf.", "approx.", "incl.", "mr.", "mrs.", "ms.", "dr.", "st.",
    "no.", "nr.", "fig.", "inc.", "ltd.", "jr.", "sr.", "a.m.", "p.m.", "ca.", "resp.",
];

/// Whether a token ends a sentence, given the token that follows it.
fn ends_sentence(token: &str, next: Option<&str>) -> bool {
    let core = token.trim_end_matches(['"', '\'', ')', ']', '»', '”', '’', '*', '_']);
    let Some(last) = core.chars().last() else {
        return false;
    };
    if !matches!(last, '.' | '!' | '?' | '…' | '。' | '！' | '？') {
        return false;
    }
    if last == '.' {
        let lower = core
            .trim_start_matches(['(', '"', '\'', '[', '«', '“', '‘'])
            .to_lowercase();
        if ABBREVIATIONS.contains(&lower.as_str()) {
            return false;
        }
        // An initial ("J. Smith") or an ordinal-looking number ("3.") rarely ends a sentence.
        let stem = &lower[..lower.len() - 1];
        if stem.chars().count() == 1 && stem.chars().all(char::is_alphabetic) {
            return false;
        }
    }
    // "… e.g. the next one" — a lowercase continuation means the sentence goes on.
    match next.and_then(|n| n.chars().find(|c| c.is_alphanumeric())) {
        Some(c) => !c.is_lowercase(),
        None => true,
    }
}

/// Splits prose into sentences (whitespace-normalized). Text without sentence punctuation is
/// one sentence.
pub fn sentences(text: &str) -> Vec<String> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        current.push(token);
        if ends_sentence(token, tokens.get(i + 1).copied()) {
            out.push(current.join(" "));
            current.clear();
        }
    }
    if !current.is_empty() {
        out.push(current.join(" "));
    }
    out
}

/// The first `max` words of `unit` (non-word tokens between them kept), followed by `…`.
pub fn cut_words(unit: &str, max: usize) -> String {
    let mut kept = Vec::new();
    let mut words = 0;
    for token in unit.split_whitespace() {
        if is_word(token) {
            if words == max {
                break;
            }
            words += 1;
        }
        kept.push(token);
    }
    let mut s = kept.join(" ");
    s.push('…');
    s
}

/// Units taken from the front of a list within a word allowance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// The units kept (the last one may be a cut, ending in `…`).
    pub units: Vec<String>,
    /// Words in the kept units.
    pub words: usize,
    /// True when every unit was kept.
    pub complete: bool,
}

/// Takes whole units from the front while they fit in `allowance`. When the first unit does
/// not fit, it is still taken if it fits `stretch` (a larger limit the caller can afford), and
/// cut at a word boundary to `allowance` words when `cut_first` is set; otherwise nothing is
/// taken.
pub fn take_units(units: &[String], allowance: usize, stretch: usize, cut_first: bool) -> Taken {
    let mut kept = Vec::new();
    let mut words = 0;
    for (i, unit) in units.iter().enumerate() {
        let w = word_count(unit);
        if words + w <= allowance || (i == 0 && w <= stretch) {
            kept.push(unit.clone());
            words += w;
            continue;
        }
        if i == 0 && cut_first && allowance > 0 {
            let cut = cut_words(unit, allowance);
            words += word_count(&cut);
            kept.push(cut);
        }
        return Taken {
            units: kept,
            words,
            complete: false,
        };
    }
    Taken {
        units: kept,
        words,
        complete: true,
    }
}

/// The prose of `blocks` trimmed to `budget` words: whole units in order (see the module docs).
///
/// Headings do not open the budget: a heading is kept only together with at least one whole
/// unit of the prose that follows it. When nothing but headings would fit before the first
/// body block, the headings are left out and that block's first unit is cut at a word
/// boundary instead, so a small budget shows the opening words of the text, never a bare
/// heading. Headings at the very end with no prose after them (a section holding only a table
/// or code) are kept when they fit, as part of the whole text.
pub fn trim(blocks: &[Block], budget: usize) -> (Vec<Block>, usize, bool) {
    let mut kept: Vec<Block> = Vec::new();
    let mut words = 0;
    // Headings read since the last body block, waiting for some of their body to fit.
    let mut pending: Vec<&Block> = Vec::new();
    for block in blocks.iter().filter(|b| b.is_prose()) {
        if matches!(block.kind, Kind::Heading(_)) {
            pending.push(block);
            continue;
        }
        let left = budget.saturating_sub(words);
        let heads: usize = pending.iter().map(|h| h.words()).sum();
        let mut taken = take_units(&block.units, left.saturating_sub(heads), 0, false);
        let mut with_heads = true;
        if taken.units.is_empty() && kept.is_empty() {
            taken = take_units(&block.units, left, 0, true);
            with_heads = false;
        }
        if taken.units.is_empty() {
            return (kept, words, false);
        }
        for h in pending.drain(..) {
            if with_heads {
                words += h.words();
                kept.push(h.clone());
            }
        }
        words += taken.words;
        kept.push(Block {
            kind: block.kind.clone(),
            units: taken.units,
        });
        if !taken.complete {
            return (kept, words, false);
        }
    }
    let heads: usize = pending.iter().map(|h| h.words()).sum();
    if words + heads <= budget {
        kept.extend(pending.into_iter().cloned());
        return (kept, words + heads, true);
    }
    if kept.is_empty() {
        // Headings and nothing else: they are the text, trimmed like any other.
        for h in pending {
            let taken = take_units(&h.units, budget.saturating_sub(words), 0, kept.is_empty());
            if taken.units.is_empty() {
                break;
            }
            words += taken.words;
            kept.push(Block {
                kind: h.kind.clone(),
                units: taken.units,
            });
            if !taken.complete {
                break;
            }
        }
    }
    (kept, words, false)
}

/// Renders prose blocks compactly: one line per heading, paragraph or quote, `- ` per list
/// item.
pub fn render(blocks: &[Block]) -> String {
    let mut lines: Vec<String> = Vec::new();
    for b in blocks {
        match b.kind {
            Kind::List => lines.extend(b.units.iter().map(|u| format!("- {u}"))),
            Kind::Heading(_) | Kind::Paragraph | Kind::Quote => lines.push(join_units(&b.units)),
            Kind::Code | Kind::Table(_) => {}
        }
    }
    lines.join("\n")
}

/// Joins sentences with spaces; a unit without closing punctuation (a list item inside a
/// panel) is followed by `;` so that it does not run into the next.
pub fn join_units(units: &[String]) -> String {
    let mut out = String::new();
    for u in units {
        if !out.is_empty() {
            let closed = out.ends_with(['.', '!', '?', '…', ':', ';', '。', '！', '？']);
            out.push_str(if closed { " " } else { "; " });
        }
        out.push_str(u);
    }
    out
}

/// `2026-11-20T10:15:30.000+0000` (or `2026-11-20`) → `2026-11-20`; `None` for anything that
/// does not start with an ISO date.
pub fn iso_day(ts: &str) -> Option<String> {
    let d = ts.get(..10)?;
    let b = d.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    (digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10))
        .then(|| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::digest::blocks::blocks;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn words_are_tokens_with_letters_or_digits() {
        assert_eq!(word_count("- one — two | 3 ✅"), 3);
        assert_eq!(word_count(""), 0);
        assert!(!is_word("—"));
        assert!(is_word("日本語"));
    }

    #[test]
    fn sentence_splitting() {
        assert_eq!(
            sentences("First one. Second, e.g. this one! Third?  Done"),
            s(&["First one.", "Second, e.g. this one!", "Third?", "Done"])
        );
        assert_eq!(
            sentences("Ask J. Smith. Version 0.9 shipped. \"Quoted.\" Next"),
            s(&[
                "Ask J. Smith.",
                "Version 0.9 shipped.",
                "\"Quoted.\"",
                "Next"
            ])
        );
        assert_eq!(sentences("no end mark"), s(&["no end mark"]));
        assert_eq!(
            sentences("It ends... and goes on."),
            s(&["It ends... and goes on."])
        );
    }

    #[test]
    fn trimming_keeps_whole_sentences() {
        let md = "One two three. Four five six seven. Eight nine.\n\nTen eleven twelve.";
        let bs = blocks(md);
        let (kept, words, complete) = trim(&bs, 8);
        assert_eq!(render(&kept), "One two three. Four five six seven.");
        assert_eq!(words, 7);
        assert!(!complete);
        let (kept, words, complete) = trim(&bs, 12);
        assert_eq!(words, 12);
        assert!(complete);
        assert_eq!(render(&kept).lines().count(), 2);
        // Never more than the budget, never a partial sentence.
        for budget in 3..12 {
            let (kept, words, _) = trim(&bs, budget);
            let text = render(&kept);
            assert!(
                words <= budget && word_count(&text) == words,
                "{budget}: {text}"
            );
            assert!(text.ends_with('.'), "{budget}: {text}");
        }
    }

    #[test]
    fn a_first_sentence_longer_than_the_budget_is_cut_at_a_word() {
        let bs = blocks("Alpha beta gamma delta epsilon. Zeta.");
        let (kept, words, complete) = trim(&bs, 3);
        assert_eq!(render(&kept), "Alpha beta gamma…");
        assert_eq!(words, 3);
        assert!(!complete);
    }

    #[test]
    fn a_dangling_heading_is_dropped() {
        let bs =
            blocks("Intro here.\n\n## Next part\n\nA much longer paragraph that will not fit.");
        let (kept, words, _) = trim(&bs, 5);
        assert_eq!(render(&kept), "Intro here.");
        assert_eq!(words, 2);
    }

    #[test]
    fn a_heading_never_opens_the_budget() {
        let bs = blocks("## Overview\n\nAlpha beta gamma delta. Epsilon zeta.\n\nMore text.");
        let cases = [
            (1, "Alpha…"),
            (2, "Alpha beta…"),
            (3, "Alpha beta gamma…"),
            // The whole first sentence fits without its heading, not with it.
            (4, "Alpha beta gamma delta."),
            (5, "Overview\nAlpha beta gamma delta."),
            (6, "Overview\nAlpha beta gamma delta."),
            (7, "Overview\nAlpha beta gamma delta. Epsilon zeta."),
        ];
        for (budget, expected) in cases {
            let (kept, words, complete) = trim(&bs, budget);
            let text = render(&kept);
            assert_eq!(text, expected, "{budget}");
            assert_eq!(words, word_count(&text), "{budget}");
            assert!(words <= budget && !complete, "{budget}");
        }
        let (kept, words, complete) = trim(&bs, 9);
        assert_eq!(words, 9);
        assert!(complete);
        assert_eq!(render(&kept).lines().next(), Some("Overview"));
    }

    #[test]
    fn nested_headings_wait_for_their_body() {
        let bs = blocks("# Plan\n\n## Goals\n\n- ship the thing\n- test it");
        assert_eq!(render(&trim(&bs, 5).0), "Plan\nGoals\n- ship the thing");
        assert_eq!(render(&trim(&bs, 4).0), "- ship the thing");
        assert_eq!(render(&trim(&bs, 2).0), "- ship the…");
    }

    #[test]
    fn trailing_headings_and_heading_only_texts() {
        // A last section holding only a table: its heading is part of the whole text.
        let bs = blocks("Intro here.\n\n## Data\n\n| a |\n|---|\n| 1 |");
        let (kept, words, complete) = trim(&bs, 10);
        assert_eq!(render(&kept), "Intro here.\nData");
        assert_eq!(words, 3);
        assert!(complete);
        let (kept, words, complete) = trim(&bs, 2);
        assert_eq!(render(&kept), "Intro here.");
        assert_eq!(words, 2);
        assert!(!complete);
        // Nothing but headings: they are cut like any text rather than dropped.
        let bs = blocks("## A long heading here\n\n## Another");
        let (kept, words, complete) = trim(&bs, 2);
        assert_eq!(render(&kept), "A long…");
        assert_eq!(words, 2);
        assert!(!complete);
    }

    #[test]
    fn take_units_stretch_and_cut() {
        let u = s(&["one two three.", "four."]);
        assert_eq!(take_units(&u, 2, 0, false).units, Vec::<String>::new());
        assert_eq!(take_units(&u, 2, 3, false).units, s(&["one two three."]));
        assert_eq!(take_units(&u, 2, 0, true).units, s(&["one two…"]));
        let all = take_units(&u, 10, 0, false);
        assert!(all.complete);
        assert_eq!(all.words, 4);
    }

    #[test]
    fn iso_days() {
        assert_eq!(
            iso_day("2026-11-20T10:15:30.000+0000").as_deref(),
            Some("2026-11-20")
        );
        assert_eq!(iso_day("2026-11-20").as_deref(), Some("2026-11-20"));
        assert_eq!(iso_day("20/11/2026"), None);
        assert_eq!(iso_day("soon"), None);
    }
}
