//! Markdown tree → Jira wiki markup (Jira Server/Data Center text fields).
//!
//! Blocks are laid out here (blank lines between blocks, one line per list item, `{quote}`,
//! `{code}`/`{noformat}`, `||header||` tables); inline content and its escaping live in
//! [`inline`].
//!
//! Jira cannot nest `{quote}`s, give an ordered list a start number, or hold block content in
//! a list item: nested quotes are unwrapped, ordered lists restart at 1, and code blocks,
//! quotes, tables and rules inside items are written after the item's line (which ends the
//! list there, as in Jira itself).

mod inline;

use inline::{Piece, inline_pieces, line};

use super::{Block, Inline, List, Table, is_blank};

/// Renders the document. See [`super::markdown_to_wiki`].
pub(super) fn render(blocks: &[Block]) -> String {
    let mut out = Vec::new();
    for b in blocks {
        block(b, false, &mut out);
    }
    out.join("\n\n")
}

/// Renders one block; `in_quote` when inside a `{quote}` (whose closer code must not contain).
fn block(b: &Block, in_quote: bool, out: &mut Vec<String>) {
    match b {
        Block::Paragraph(inl) => {
            if !is_blank(inl) {
                out.push(line(inl, Vec::new(), true));
            }
        }
        Block::Heading(level, inl) => {
            if !is_blank(inl) {
                let prefix = format!("h{}. ", (*level).clamp(1, 6));
                out.push(line(inl, vec![Piece::Raw(prefix)], false));
            }
        }
        Block::Code { lang, text } if in_quote => {
            out.push(code_block(lang, &break_closer(text, "{quote}")))
        }
        Block::Code { lang, text } => out.push(code_block(lang, text)),
        Block::Quote(inner) => {
            let mut body = Vec::new();
            quote_body(inner, &mut body);
            if !body.is_empty() {
                out.push(format!("{{quote}}\n{}\n{{quote}}", body.join("\n\n")));
            }
        }
        Block::List(list) => {
            let mut lines = Vec::new();
            list_lines(list, "", in_quote, &mut lines, out);
            flush_lines(&mut lines, out);
        }
        Block::Table(t) => out.push(table(t)),
        Block::Rule => out.push("----".to_string()),
    }
}

/// A quote's blocks; quotes inside it are unwrapped (Jira's `{quote}` does not nest).
fn quote_body(blocks: &[Block], out: &mut Vec<String>) {
    for b in blocks {
        match b {
            Block::Quote(inner) => quote_body(inner, out),
            other => block(other, true, out),
        }
    }
}

fn flush_lines(lines: &mut Vec<String>, out: &mut Vec<String>) {
    if !lines.is_empty() {
        out.push(std::mem::take(lines).join("\n"));
    }
}

/// One line per item (`*`, `#`, nested `**`, `#*`, …); the item's leading paragraphs share
/// the line (joined by `\\`), nested lists follow, other blocks interrupt the list.
fn list_lines(
    list: &List,
    prefix: &str,
    in_quote: bool,
    lines: &mut Vec<String>,
    out: &mut Vec<String>,
) {
    let marker = format!("{prefix}{}", if list.start.is_some() { '#' } else { '*' });
    for item in &list.items {
        let mut pieces = vec![Piece::Raw(format!("{marker} "))];
        match item.task {
            Some(true) => pieces.push(Piece::Raw("\\[x\\] ".to_string())),
            Some(false) => pieces.push(Piece::Raw("\\[ \\] ".to_string())),
            None => {}
        }
        let mut inl: Vec<Inline> = Vec::new();
        let mut rest = item.blocks.as_slice();
        while let Some((Block::Paragraph(p) | Block::Heading(_, p), tail)) = rest.split_first() {
            if !is_blank(p) {
                if !inl.is_empty() {
                    inl.push(Inline::Break);
                }
                inl.extend(p.iter().cloned());
            }
            rest = tail;
        }
        if !inl.is_empty() || item.task.is_some() {
            lines.push(line(&inl, pieces, false));
        }
        for b in rest {
            match b {
                Block::List(nested) => list_lines(nested, &marker, in_quote, lines, out),
                other => {
                    flush_lines(lines, out);
                    block(other, in_quote, out);
                }
            }
        }
    }
}

fn table(t: &Table) -> String {
    let row = |cells: &[Vec<Inline>], sep: &str| {
        let mut ids = 0;
        let mut pieces = vec![Piece::Raw(sep.to_string())];
        for cell in cells {
            if is_blank(cell) {
                pieces.push(Piece::Raw(" ".to_string()));
            } else {
                pieces.extend(inline_pieces(cell, &mut ids));
            }
            pieces.push(Piece::Raw(sep.to_string()));
        }
        inline::assemble(&pieces, false)
    };
    let mut lines = vec![row(&t.header, "||")];
    lines.extend(t.rows.iter().map(|r| row(r, "|")));
    lines.join("\n")
}

fn code_block(lang: &str, text: &str) -> String {
    let lang: String = lang
        .chars()
        .filter(|c| c.is_alphanumeric() || "+#-_.".contains(*c))
        .collect();
    let lower = text.to_ascii_lowercase();
    let has_code = lower.contains("{code}");
    let has_noformat = lower.contains("{noformat}");
    if (lang.is_empty() || has_code) && !has_noformat {
        return format!("{{noformat}}\n{text}\n{{noformat}}");
    }
    let body = if has_code {
        break_closer(text, "{code}")
    } else {
        text.to_string()
    };
    if lang.is_empty() {
        format!("{{code}}\n{body}\n{{code}}")
    } else {
        format!("{{code:{lang}}}\n{body}\n{{code}}")
    }
}

/// Breaks up every ASCII-case-insensitive occurrence of the closer `needle` (lowercase ASCII,
/// ending in `}`) in `hay` by putting a space before its `}`: Jira has no escape inside code.
fn break_closer(hay: &str, needle: &str) -> String {
    // ASCII lowercasing keeps byte offsets, so matches in `lower` index `hay` too.
    let lower = hay.to_ascii_lowercase();
    let mut out = String::with_capacity(hay.len());
    let mut last = 0;
    for (pos, _) in lower.match_indices(needle) {
        let end = pos + needle.len() - 1;
        out.push_str(&hay[last..end]);
        out.push_str(" }");
        last = end + 1;
    }
    out.push_str(&hay[last..]);
    out
}
