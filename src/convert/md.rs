//! A small Markdown document model shared by the three converters, and its renderer.
//!
//! Each converter parses its source format into [`Block`]s and [`Inline`]s; this module owns every
//! Markdown-syntax decision (escaping, fences, list indentation, GFM tables) so that the three
//! formats come out looking the same. The model's depth is bounded by the converters (they
//! flatten beyond [`MAX_DEPTH`]), so the recursive renderer cannot overflow the stack.

use crate::sanitize::clean_text;

/// Nesting depth beyond which converters stop building structure and flatten to text.
pub(crate) const MAX_DEPTH: usize = 64;

/// A block-level element.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    Paragraph(Vec<Inline>),
    Heading(u8, Vec<Inline>),
    List(List),
    Code {
        lang: String,
        text: String,
    },
    Quote(Vec<Block>),
    /// A quote whose first line starts with a bold label (`> **Info:** …`).
    Callout {
        label: String,
        blocks: Vec<Block>,
    },
    Table(Vec<Row>),
    Rule,
}

/// A list; `start` is `None` for bullet lists and the first number for ordered lists.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct List {
    pub start: Option<u64>,
    pub items: Vec<Item>,
}

/// One list item; `check` is the text after the marker for task/decision items (`[ ]`, `[x]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Item {
    pub check: Option<&'static str>,
    pub blocks: Vec<Block>,
}

/// A table row: cells, each with its content and how many columns it spans.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Row {
    pub cells: Vec<Cell>,
}

/// A table cell.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Cell {
    pub blocks: Vec<Block>,
    pub colspan: usize,
}

/// An inline element.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Inline {
    /// Plain text; escaped where it would otherwise change meaning.
    Text(String),
    Strong(Vec<Inline>),
    Em(Vec<Inline>),
    Strike(Vec<Inline>),
    Sub(Vec<Inline>),
    Sup(Vec<Inline>),
    Code(String),
    Link {
        href: String,
        content: Vec<Inline>,
    },
    /// A line break inside a paragraph.
    Break,
}

/// Renders blocks to Markdown: blocks separated by one blank line, cleaned of invisible
/// characters, no trailing whitespace, no leading or trailing blank lines.
pub(crate) fn render_document(blocks: &[Block]) -> String {
    let out = render_blocks(blocks);
    let cleaned = clean_text(&out);
    cleaned.trim_matches('\n').trim_end().to_string()
}

/// Paragraph-like text for places where only plain inline text makes sense.
pub(crate) fn text(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}

fn render_blocks(blocks: &[Block]) -> String {
    join_blocks(blocks, false)
}

/// Joins rendered blocks with blank lines; in list items (`in_item`) a list directly after a
/// paragraph follows on the next line so that nested lists stay tight (`- a\n  - b`).
fn join_blocks(blocks: &[Block], in_item: bool) -> String {
    let mut out = String::new();
    let mut prev_was_para = false;
    for block in blocks {
        let rendered = render_block(block);
        if rendered.is_empty() {
            continue;
        }
        if !out.is_empty() {
            // A list straight after a paragraph inside a list item stays tight ("- a\n  - b"),
            // unless it could not interrupt the paragraph: an ordered list starting at a number
            // other than 1 would be read as more paragraph text.
            let interrupts = matches!(block, Block::List(l) if l.start.is_none_or(|s| s == 1));
            if in_item && prev_was_para && interrupts {
                out.push('\n');
            } else {
                out.push_str("\n\n");
            }
        }
        out.push_str(&rendered);
        prev_was_para = matches!(block, Block::Paragraph(_));
    }
    out
}

fn render_block(block: &Block) -> String {
    match block {
        Block::Paragraph(inl) => render_paragraph(inl),
        Block::Heading(level, inl) => {
            let content = render_inlines(inl);
            let one_line = crate::sanitize::collapse_whitespace(&content);
            if one_line.is_empty() {
                return String::new();
            }
            let level = (*level).clamp(1, 6) as usize;
            format!("{} {}", "#".repeat(level), one_line)
        }
        Block::List(list) => render_list(list),
        Block::Code { lang, text } => render_code(lang, text),
        Block::Quote(blocks) => prefix_quote(&render_blocks(blocks)),
        Block::Callout { label, blocks } => {
            let label_md = format!("**{}:**", escape_text(label.trim()));
            let body = render_blocks(blocks);
            let starts_with_para = matches!(blocks.first(), Some(Block::Paragraph(_)));
            let inner = if body.is_empty() {
                label_md
            } else if starts_with_para {
                format!("{label_md} {body}")
            } else {
                format!("{label_md}\n\n{body}")
            };
            prefix_quote(&inner)
        }
        Block::Table(rows) => render_table(rows),
        Block::Rule => "---".to_string(),
    }
}

fn render_paragraph(inl: &[Inline]) -> String {
    let raw = render_inlines(inl);
    let mut lines = Vec::new();
    for line in raw.split('\n') {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        lines.push(escape_line_start(line));
    }
    lines.join("\n")
}

fn render_list(list: &List) -> String {
    let mut rendered = Vec::with_capacity(list.items.len());
    let mut loose = false;
    for (i, item) in list.items.iter().enumerate() {
        let mut marker = match list.start {
            None => "-".to_string(),
            Some(start) => format!("{}.", start.saturating_add(i as u64)),
        };
        let indent = " ".repeat(marker.len() + 1);
        if let Some(check) = item.check {
            marker.push(' ');
            marker.push_str(check);
        }
        let body = join_blocks(&item.blocks, true);
        if body.contains("\n\n") {
            loose = true;
        }
        let mut out = String::new();
        for (n, line) in body.split('\n').enumerate() {
            if n == 0 {
                out.push_str(&marker);
                if !line.is_empty() {
                    out.push(' ');
                    out.push_str(line);
                }
            } else {
                out.push('\n');
                if !line.is_empty() {
                    out.push_str(&indent);
                    out.push_str(line);
                }
            }
        }
        rendered.push(out);
    }
    rendered.join(if loose { "\n\n" } else { "\n" })
}

fn render_code(lang: &str, text: &str) -> String {
    let longest = longest_run(text, '`');
    let fence = "`".repeat(longest.max(2) + 1);
    let lang: String = lang
        .split_whitespace()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| *c != '`')
        .collect();
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty() {
        format!("{fence}{lang}\n{fence}")
    } else {
        format!("{fence}{lang}\n{body}\n{fence}")
    }
}

fn prefix_quote(inner: &str) -> String {
    if inner.is_empty() {
        return String::new();
    }
    inner
        .split('\n')
        .map(|l| {
            if l.is_empty() {
                ">".to_string()
            } else {
                format!("> {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn render_table(rows: &[Row]) -> String {
    let mut grid: Vec<Vec<String>> = Vec::with_capacity(rows.len());
    for row in rows {
        let mut cells = Vec::new();
        for cell in &row.cells {
            cells.push(render_cell(&cell.blocks));
            for _ in 1..cell.colspan.clamp(1, 64) {
                cells.push(String::new());
            }
        }
        grid.push(cells);
    }
    let width = grid.iter().map(Vec::len).max().unwrap_or(0);
    if width == 0 {
        return String::new();
    }
    let fmt_row = |cells: &[String]| {
        let mut line = String::from("|");
        for i in 0..width {
            let c = cells.get(i).map(String::as_str).unwrap_or("");
            line.push(' ');
            line.push_str(c);
            if !c.is_empty() {
                line.push(' ');
            }
            line.push('|');
        }
        line
    };
    let mut lines = Vec::with_capacity(grid.len() + 1);
    for (i, cells) in grid.iter().enumerate() {
        lines.push(fmt_row(cells));
        if i == 0 {
            lines.push(format!("|{}", " --- |".repeat(width)));
        }
    }
    lines.join("\n")
}

/// Renders a cell's blocks onto one line: line and paragraph breaks become `<br>`, pipes escaped.
fn render_cell(blocks: &[Block]) -> String {
    // Fences cannot live on one line: code blocks become one code span per line.
    let inline_code: Vec<Block> = blocks
        .iter()
        .map(|b| match b {
            Block::Code { text, .. } => {
                let mut inl = Vec::new();
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    if !inl.is_empty() {
                        inl.push(Inline::Break);
                    }
                    inl.push(Inline::Code(line.to_string()));
                }
                Block::Paragraph(inl)
            }
            other => other.clone(),
        })
        .collect();
    let md = render_blocks(&inline_code);
    let lines: Vec<&str> = md
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    escape_pipes(&lines.join("<br>"))
}

/// Escapes every `|` not already escaped (counting backslashes so `\\|` is handled).
fn escape_pipes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut backslashes = 0usize;
    for c in s.chars() {
        if c == '|' && backslashes.is_multiple_of(2) {
            out.push('\\');
        }
        out.push(c);
        backslashes = if c == '\\' { backslashes + 1 } else { 0 };
    }
    out
}

fn render_inlines(inl: &[Inline]) -> String {
    let merged = normalize(inl);
    let mut out = String::new();
    for i in &merged {
        render_inline(i, &mut out);
    }
    out
}

fn render_inline(i: &Inline, out: &mut String) {
    match i {
        Inline::Text(t) => out.push_str(&escape_text(t)),
        Inline::Strong(c) => wrap(out, "**", "**", c),
        Inline::Em(c) => wrap(out, "*", "*", c),
        Inline::Strike(c) => wrap(out, "~~", "~~", c),
        Inline::Sub(c) => wrap(out, "<sub>", "</sub>", c),
        Inline::Sup(c) => wrap(out, "<sup>", "</sup>", c),
        Inline::Code(code) => out.push_str(&code_span(code)),
        Inline::Break => out.push('\n'),
        Inline::Link { href, content } => {
            let href = href.trim();
            let inner = render_inlines(content);
            if href.is_empty() {
                out.push_str(&inner);
            } else if inner.trim().is_empty() || inner.trim() == escape_text(href) {
                out.push_str(&autolink(href));
            } else {
                // Edge whitespace goes outside the brackets rather than being dropped.
                out.push_str(&inner[..inner.len() - inner.trim_start().len()]);
                out.push('[');
                out.push_str(inner.trim());
                out.push_str("](");
                out.push_str(&link_destination(href));
                out.push(')');
                out.push_str(&inner[inner.trim_end().len()..]);
            }
        }
    }
}

/// Wraps rendered children in delimiters, keeping surrounding whitespace outside them
/// (`** bold**` would not be emphasis).
fn wrap(out: &mut String, open: &str, close: &str, children: &[Inline]) {
    // Edge whitespace of plain text goes outside before escaping, so that the escaping sees the
    // delimiter next to the text (`*a \**`, not `*a **`, for "a * " in emphasis).
    let mut kids = normalize(children);
    let (mut pre, mut post) = (String::new(), String::new());
    if let Some(Inline::Text(t)) = kids.first_mut() {
        let trimmed = t.trim_start().to_string();
        pre = t[..t.len() - trimmed.len()].to_string();
        *t = trimmed;
    }
    if let Some(Inline::Text(t)) = kids.last_mut() {
        let trimmed = t.trim_end().to_string();
        post = t[trimmed.len()..].to_string();
        *t = trimmed;
    }
    out.push_str(&pre);
    let inner = render_inlines(&kids);
    let core = inner.trim();
    if core.is_empty() {
        out.push_str(&inner);
        return;
    }
    let lead = &inner[..inner.len() - inner.trim_start().len()];
    let trail = &inner[inner.trim_end().len()..];
    out.push_str(lead);
    out.push_str(open);
    out.push_str(core);
    out.push_str(close);
    out.push_str(trail);
    out.push_str(&post);
}

/// Merges adjacent texts and adjacent same-styled runs so split editor runs render cleanly
/// (`**a b**` rather than `**a****b**`).
fn normalize(inl: &[Inline]) -> Vec<Inline> {
    let mut out: Vec<Inline> = Vec::with_capacity(inl.len());
    for i in inl {
        if let Some(last) = out.last_mut() {
            match (last, i) {
                (Inline::Text(a), Inline::Text(b)) => {
                    a.push_str(b);
                    continue;
                }
                (Inline::Strong(a), Inline::Strong(b))
                | (Inline::Em(a), Inline::Em(b))
                | (Inline::Strike(a), Inline::Strike(b))
                | (Inline::Sub(a), Inline::Sub(b))
                | (Inline::Sup(a), Inline::Sup(b)) => {
                    a.extend(b.iter().cloned());
                    continue;
                }
                (Inline::Code(a), Inline::Code(b)) => {
                    a.push_str(b);
                    continue;
                }
                // Bare URLs (no content) stay separate: their text is the URL itself.
                (
                    Inline::Link {
                        href: h1,
                        content: a,
                    },
                    Inline::Link {
                        href: h2,
                        content: b,
                    },
                ) if h1 == h2 && !a.is_empty() && !b.is_empty() => {
                    a.extend(b.iter().cloned());
                    continue;
                }
                _ => {}
            }
        }
        out.push(i.clone());
    }
    out
}

fn code_span(code: &str) -> String {
    let code = code.replace(['\n', '\r'], " ");
    if code.is_empty() {
        return String::new();
    }
    let ticks = "`".repeat(longest_run(&code, '`') + 1);
    let pad = code.starts_with('`')
        || code.ends_with('`')
        || (code.starts_with(' ') && code.ends_with(' ') && !code.trim().is_empty());
    if pad {
        format!("{ticks} {code} {ticks}")
    } else {
        format!("{ticks}{code}{ticks}")
    }
}

fn autolink(href: &str) -> String {
    if href.contains("://") && !href.contains(|c: char| c.is_whitespace() || c == '<' || c == '>') {
        format!("<{href}>")
    } else {
        escape_text(href)
    }
}

fn link_destination(href: &str) -> String {
    let mut depth = 0i32;
    let mut balanced = true;
    for c in href.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    balanced = false;
                }
            }
            _ => {}
        }
    }
    let needs_angle =
        !balanced || depth != 0 || href.contains(|c: char| c.is_whitespace() || c == '<');
    if needs_angle {
        format!(
            "<{}>",
            href.replace('<', "%3C")
                .replace('>', "%3E")
                .replace(char::is_whitespace, "%20")
        )
    } else {
        href.to_string()
    }
}

/// Length of the longest run of `ch` in `s`.
pub(crate) fn longest_run(s: &str, ch: char) -> usize {
    let mut best = 0;
    let mut cur = 0;
    for c in s.chars() {
        if c == ch {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

/// Escapes inline Markdown syntax in plain text, minimally: only where a character could start
/// emphasis, code, a link, HTML or an entity. Line-start constructs are handled per line by
/// [`escape_line_start`], table pipes by the table renderer.
pub(crate) fn escape_text(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        let prev = if i > 0 {
            chars.get(i - 1).copied()
        } else {
            None
        };
        let next = chars.get(i + 1).copied();
        let escape = match c {
            '\\' => next.is_none_or(|n| n.is_ascii_punctuation()),
            '`' => true,
            '*' => {
                !(prev.is_some_and(char::is_whitespace) && next.is_some_and(char::is_whitespace))
            }
            '_' => {
                !(prev.is_some_and(char::is_alphanumeric)
                    && next.is_some_and(char::is_alphanumeric))
            }
            '~' => prev == Some('~') || next == Some('~'),
            ']' => matches!(next, Some('(') | Some('[') | Some(':')),
            '[' => next == Some('^'),
            '<' => next.is_some_and(|n| n.is_ascii_alphabetic() || matches!(n, '/' | '!' | '?')),
            '&' => looks_like_entity(&chars[i + 1..]),
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn looks_like_entity(rest: &[char]) -> bool {
    let mut n = 0;
    for (i, c) in rest.iter().enumerate() {
        if *c == ';' {
            return n > 0 && i < 33;
        }
        if c.is_ascii_alphanumeric() || (*c == '#' && i == 0) {
            n += 1;
        } else {
            return false;
        }
        if i > 32 {
            return false;
        }
    }
    false
}

/// Escapes a construct at the start of a paragraph line that would turn the line into a heading,
/// quote, list item, thematic break or setext underline.
pub(crate) fn escape_line_start(line: &str) -> String {
    let bytes = line.as_bytes();
    let first = match bytes.first() {
        Some(b) => *b,
        None => return String::new(),
    };
    let followed_by_space = |idx: usize| bytes.get(idx).is_none_or(|b| *b == b' ' || *b == b'\t');
    match first {
        b'#' => {
            let hashes = bytes.iter().take_while(|b| **b == b'#').count();
            if hashes <= 6 && followed_by_space(hashes) {
                return format!("\\{line}");
            }
        }
        b'>' => return format!("\\{line}"),
        b'-' | b'+' if followed_by_space(1) => return format!("\\{line}"),
        b'-' | b'=' if line.chars().all(|c| c == first as char || c == ' ') => {
            return format!("\\{line}");
        }
        b'0'..=b'9' => {
            let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits <= 9
                && matches!(bytes.get(digits), Some(b'.') | Some(b')'))
                && followed_by_space(digits + 1)
            {
                return format!("{}\\{}", &line[..digits], &line[digits..]);
            }
        }
        _ => {}
    }
    line.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn para(s: &str) -> Block {
        Block::Paragraph(vec![text(s)])
    }

    #[test]
    fn escaping_is_minimal_for_prose() {
        let prose = "The user's config (see docs) has 3 items: a, b & c. snake_case_name is fine; 2 * 3 = 6.";
        assert_eq!(render_document(&[para(prose)]), prose);
    }

    #[test]
    fn escaping_protects_meaningful_characters() {
        assert_eq!(escape_text("*not bold*"), "\\*not bold\\*");
        assert_eq!(escape_text("_x_"), "\\_x\\_");
        assert_eq!(escape_text("use `x`"), "use \\`x\\`");
        assert_eq!(escape_text("[a](b)"), "[a\\](b)");
        assert_eq!(escape_text("<script>"), "\\<script>");
        assert_eq!(escape_text("a < b"), "a < b");
        assert_eq!(escape_text("&amp;"), "\\&amp;");
        assert_eq!(escape_text("~~x~~"), "\\~\\~x\\~\\~");
        assert_eq!(escape_text("~/path"), "~/path");
    }

    #[test]
    fn line_start_constructs_are_escaped() {
        assert_eq!(escape_line_start("# not heading"), "\\# not heading");
        assert_eq!(escape_line_start("#hashtag"), "#hashtag");
        assert_eq!(escape_line_start("> no"), "\\> no");
        assert_eq!(escape_line_start("- no"), "\\- no");
        assert_eq!(escape_line_start("-1 degrees"), "-1 degrees");
        assert_eq!(escape_line_start("2024. A year"), "2024\\. A year");
        assert_eq!(escape_line_start("3.5 apples"), "3.5 apples");
        assert_eq!(escape_line_start("---"), "\\---");
        assert_eq!(escape_line_start("==="), "\\===");
    }

    #[test]
    fn code_fence_is_longer_than_any_backtick_run() {
        let md = render_document(&[Block::Code {
            lang: "md".into(),
            text: "a ```` b".into(),
        }]);
        assert_eq!(md, "`````md\na ```` b\n`````");
    }

    #[test]
    fn adjacent_styles_merge_and_whitespace_moves_outside() {
        let md = render_document(&[Block::Paragraph(vec![
            Inline::Strong(vec![text("a ")]),
            Inline::Strong(vec![text("b ")]),
            text("c"),
        ])]);
        assert_eq!(md, "**a b** c");
    }

    #[test]
    fn delimiters_in_text_at_emphasis_edges_are_escaped() {
        let md = render_document(&[Block::Paragraph(vec![
            Inline::Em(vec![text("a * ")]),
            Inline::Strong(vec![text("b")]),
        ])]);
        assert_eq!(md, "*a \\** **b**");
    }

    #[test]
    fn table_pads_rows_and_escapes_pipes() {
        let cell = |s: &str| Cell {
            blocks: vec![para(s)],
            colspan: 1,
        };
        let rows = vec![
            Row {
                cells: vec![cell("h1"), cell("h2")],
            },
            Row {
                cells: vec![cell("a|b")],
            },
            Row {
                cells: vec![Cell {
                    blocks: vec![para("wide")],
                    colspan: 2,
                }],
            },
        ];
        assert_eq!(
            render_document(&[Block::Table(rows)]),
            "| h1 | h2 |\n| --- | --- |\n| a\\|b | |\n| wide | |"
        );
    }

    #[test]
    fn code_blocks_in_cells_become_code_spans() {
        let rows = vec![Row {
            cells: vec![Cell {
                blocks: vec![Block::Code {
                    lang: "sh".into(),
                    text: "a | b\n\nc\n".into(),
                }],
                colspan: 1,
            }],
        }];
        assert_eq!(
            render_document(&[Block::Table(rows)]),
            "| `a \\| b`<br>`c` |\n| --- |"
        );
    }

    #[test]
    fn nested_ordered_list_not_starting_at_one_is_separated() {
        let item = |blocks| Item {
            check: None,
            blocks,
        };
        let md = render_document(&[Block::List(List {
            start: None,
            items: vec![item(vec![
                para("a"),
                Block::List(List {
                    start: Some(3),
                    items: vec![item(vec![para("b")])],
                }),
            ])],
        })]);
        assert_eq!(md, "- a\n\n  3. b");
    }

    #[test]
    fn link_destination_with_spaces_uses_angle_brackets() {
        let md = render_document(&[Block::Paragraph(vec![Inline::Link {
            href: "http://x/a b".into(),
            content: vec![text("t")],
        }])]);
        assert_eq!(md, "[t](<http://x/a%20b>)");
    }

    #[test]
    fn adjacent_bare_links_both_stay() {
        let bare = || Inline::Link {
            href: "http://x".into(),
            content: Vec::new(),
        };
        let md = render_document(&[Block::Paragraph(vec![bare(), bare()])]);
        assert_eq!(md, "<http://x><http://x>");
    }

    #[test]
    fn link_text_edge_whitespace_stays_outside() {
        let md = render_document(&[Block::Paragraph(vec![
            text("a"),
            Inline::Link {
                href: "http://x".into(),
                content: vec![text(" b ")],
            },
            text("c"),
        ])]);
        assert_eq!(md, "a [b](http://x) c");
    }
}
