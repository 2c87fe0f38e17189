//! Markdown tree → Jira wiki markup (Jira Server/Data Center text fields).
//!
//! Inline content is first rendered to [`Piece`]s (text, code text, raw markup, span
//! delimiters, line breaks) and then assembled in one pass that sees each character's real
//! neighbours, so escaping can be minimal yet safe: a `*_-+^~` is backslash-escaped only where
//! Jira could read it as an opening or closing delimiter, `{`, `}`, `[` and `|` always, `!` where
//! it could start an image, `#`/`*`/`-` at a line start, and a literal backslash that would
//! escape what follows becomes `&#92;`. Spans whose delimiters touch a letter or digit use
//! Jira's `{*}…{*}` form, which works inside words.
//!
//! Jira cannot nest `{quote}`s, give an ordered list a start number, or hold block content in
//! a list item: nested quotes are unwrapped, ordered lists restart at 1, and code blocks,
//! quotes, tables and rules inside items are written after the item's line (which ends the
//! list there, as in Jira itself).

use super::{Block, Inline, List, Table, is_blank};

/// Renders the document. See [`super::markdown_to_wiki`].
pub(super) fn render(blocks: &[Block]) -> String {
    let mut out = Vec::new();
    blocks_into(blocks, &mut out);
    out.join("\n\n")
}

fn blocks_into(blocks: &[Block], out: &mut Vec<String>) {
    for b in blocks {
        block(b, out);
    }
}

fn block(b: &Block, out: &mut Vec<String>) {
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
            list_lines(list, "", &mut lines, out);
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
            other => block(other, out),
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
fn list_lines(list: &List, prefix: &str, lines: &mut Vec<String>, out: &mut Vec<String>) {
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
                Block::List(nested) => list_lines(nested, &marker, lines, out),
                other => {
                    flush_lines(lines, out);
                    block(other, out);
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
        assemble(&pieces, false)
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
    // Jira has no escape inside code: break up a closer that the text itself contains.
    let body = if has_code {
        replace_ci(text, "{code}", "{code }")
    } else {
        text.to_string()
    };
    if lang.is_empty() {
        format!("{{code}}\n{body}\n{{code}}")
    } else {
        format!("{{code:{lang}}}\n{body}\n{{code}}")
    }
}

/// Replaces every ASCII-case-insensitive occurrence of `needle` (lowercase ASCII) in `hay`.
fn replace_ci(hay: &str, needle: &str, with: &str) -> String {
    // ASCII lowercasing keeps byte offsets, so matches in `lower` index `hay` too.
    let lower = hay.to_ascii_lowercase();
    let mut out = String::with_capacity(hay.len());
    let mut last = 0;
    for (pos, _) in lower.match_indices(needle) {
        out.push_str(&hay[last..pos]);
        out.push_str(with);
        last = pos + needle.len();
    }
    out.push_str(&hay[last..]);
    out
}

/// Renders one line of inline content after `prefix` pieces; `paragraph` lets hard breaks be
/// real newlines (elsewhere they are `\\`, which keeps list items and cells on one line).
fn line(inl: &[Inline], prefix: Vec<Piece>, paragraph: bool) -> String {
    let mut pieces = prefix;
    pieces.extend(inline_pieces(inl, &mut 0));
    assemble(&pieces, paragraph)
}

/// Rendered inline content before assembly.
#[derive(Debug, Clone)]
enum Piece {
    /// Literal text; `link` marks text inside a link label (where `]` must be escaped too).
    Text {
        s: String,
        link: bool,
    },
    /// The inside of `{{…}}`.
    Code {
        s: String,
    },
    /// Markup written as is.
    Raw(String),
    /// Opening and closing delimiter of span `id`.
    Open(char, usize),
    Close(char, usize),
    Break,
}

#[derive(Clone, Copy, Default)]
struct Active {
    strong: bool,
    em: bool,
    strike: bool,
    link: bool,
}

fn inline_pieces(inl: &[Inline], next_id: &mut usize) -> Vec<Piece> {
    let mut out = Vec::new();
    pieces_into(inl, Active::default(), next_id, &mut out);
    out
}

fn pieces_into(inl: &[Inline], active: Active, next_id: &mut usize, out: &mut Vec<Piece>) {
    for i in inl {
        match i {
            Inline::Text(t) => {
                if !t.is_empty() {
                    out.push(Piece::Text {
                        s: t.clone(),
                        link: active.link,
                    });
                }
            }
            Inline::Code(c) => {
                if !c.is_empty() {
                    out.push(Piece::Raw("{{".to_string()));
                    out.push(Piece::Code { s: c.clone() });
                    out.push(Piece::Raw("}}".to_string()));
                }
            }
            Inline::Strong(c) if !active.strong => {
                let a = Active {
                    strong: true,
                    ..active
                };
                span('*', c, a, next_id, out);
            }
            Inline::Em(c) if !active.em => {
                let a = Active { em: true, ..active };
                span('_', c, a, next_id, out);
            }
            Inline::Strike(c) if !active.strike => {
                let a = Active {
                    strike: true,
                    ..active
                };
                span('-', c, a, next_id, out);
            }
            Inline::Strong(c) | Inline::Em(c) | Inline::Strike(c) => {
                pieces_into(c, active, next_id, out)
            }
            Inline::Link { href, content } if !active.link && !href.trim().is_empty() => {
                let url = wiki_url(href.trim());
                let bare = matches!(content.as_slice(), [Inline::Text(t)] if t == href)
                    && (url.contains("://") || url.starts_with("mailto:"));
                if bare {
                    out.push(Piece::Raw(format!("[{url}]")));
                } else {
                    let a = Active {
                        link: true,
                        ..active
                    };
                    let mut label = Vec::new();
                    pieces_into(content, a, next_id, &mut label);
                    let (open, close) = (Piece::Raw("[".into()), Piece::Raw(format!("|{url}]")));
                    wrap_pieces(label, open, close, active.link, out);
                }
            }
            Inline::Link { content, .. } => pieces_into(content, active, next_id, out),
            Inline::Break => out.push(Piece::Break),
        }
    }
}

/// Wraps content in delimiters, moving edge whitespace outside (Jira needs the delimiters
/// to touch non-space characters).
fn span(d: char, content: &[Inline], active: Active, next_id: &mut usize, out: &mut Vec<Piece>) {
    let mut inner = Vec::new();
    pieces_into(content, active, next_id, &mut inner);
    *next_id += 1;
    let id = *next_id;
    wrap_pieces(
        inner,
        Piece::Open(d, id),
        Piece::Close(d, id),
        active.link,
        out,
    );
}

/// Emits `open`, `inner`, `close`, with whitespace at the inner edges moved outside; only that
/// whitespace if `inner` has nothing else.
fn wrap_pieces(mut inner: Vec<Piece>, open: Piece, close: Piece, link: bool, out: &mut Vec<Piece>) {
    let (mut lead, mut trail) = (String::new(), String::new());
    if let Some(Piece::Text { s, .. }) = inner.first_mut() {
        let t = s.trim_start();
        lead = s[..s.len() - t.len()].to_string();
        *s = t.to_string();
    }
    if let Some(Piece::Text { s, .. }) = inner.last_mut() {
        let t = s.trim_end();
        trail = s[t.len()..].to_string();
        s.truncate(t.len());
    }
    inner.retain(|p| !matches!(p, Piece::Text { s, .. } if s.is_empty()));
    if !lead.is_empty() {
        out.push(Piece::Text { s: lead, link });
    }
    if inner.is_empty() {
        out.push(Piece::Text { s: trail, link });
        return;
    }
    out.push(open);
    out.extend(inner);
    out.push(close);
    if !trail.is_empty() {
        out.push(Piece::Text { s: trail, link });
    }
}

/// A URL usable inside `[label|url]`.
fn wiki_url(href: &str) -> String {
    let mut out = String::with_capacity(href.len());
    for c in href.chars() {
        match c {
            '|' => out.push_str("%7C"),
            '[' => out.push_str("%5B"),
            ']' => out.push_str("%5D"),
            c if c.is_whitespace() => out.push_str("%20"),
            c => out.push(c),
        }
    }
    out
}

fn is_word(c: Option<char>) -> bool {
    c.is_some_and(char::is_alphanumeric)
}

/// First character a piece renders to, as far as neighbour rules care.
fn first_char(p: &Piece) -> Option<char> {
    match p {
        Piece::Text { s, .. } | Piece::Code { s } | Piece::Raw(s) => s.chars().next(),
        Piece::Open(d, _) | Piece::Close(d, _) => Some(*d),
        Piece::Break => Some('\\'),
    }
}

fn last_char(p: &Piece) -> Option<char> {
    match p {
        Piece::Text { s, .. } | Piece::Code { s } | Piece::Raw(s) => s.chars().last(),
        Piece::Open(d, _) | Piece::Close(d, _) => Some(*d),
        Piece::Break => Some('\\'),
    }
}

/// Joins pieces into markup, escaping text against its real neighbours.
fn assemble(pieces: &[Piece], paragraph: bool) -> String {
    // Spans touching a word character on the outside need the `{*}` form.
    let mut braced = std::collections::HashSet::new();
    for (k, p) in pieces.iter().enumerate() {
        let (id, neighbour) = match p {
            Piece::Open(_, id) => (
                id,
                k.checked_sub(1)
                    .and_then(|j| pieces.get(j))
                    .and_then(last_char),
            ),
            Piece::Close(_, id) => (id, pieces.get(k + 1).and_then(first_char)),
            _ => continue,
        };
        if is_word(neighbour) {
            braced.insert(*id);
        }
    }
    let mut out = String::new();
    let mut line_blank = true;
    let mut open: Vec<char> = Vec::new();
    for (k, p) in pieces.iter().enumerate() {
        let next = pieces.get(k + 1).and_then(first_char);
        let before = out.len();
        let ctx = Ctx {
            next,
            line_start: line_blank,
            strict: false,
            open: &open,
        };
        match p {
            Piece::Text { s, link } => escape(
                s,
                &mut out,
                Ctx {
                    strict: *link,
                    ..ctx
                },
            ),
            Piece::Code { s } => escape(
                s,
                &mut out,
                Ctx {
                    line_start: false,
                    strict: true,
                    ..ctx
                },
            ),
            Piece::Raw(s) => out.push_str(s),
            Piece::Open(d, id) | Piece::Close(d, id) => {
                if matches!(p, Piece::Open(..)) {
                    open.push(*d);
                } else {
                    open.pop();
                }
                if braced.contains(id) {
                    out.push('{');
                    out.push(*d);
                    out.push('}');
                } else {
                    out.push(*d);
                }
            }
            Piece::Break => {
                if paragraph && !line_blank {
                    let trimmed = out.trim_end_matches([' ', '\t']).len();
                    out.truncate(trimmed);
                    out.push('\n');
                    line_blank = true;
                    continue;
                }
                out.push_str("\\\\");
            }
        }
        // Until real content appears, a line start is still a line start: `*` + `# a` would
        // make the list marker `*#`.
        if out
            .get(before..)
            .is_some_and(|s| s.contains(|c: char| !c.is_whitespace() && !"*#-".contains(c)))
        {
            line_blank = false;
        }
    }
    out
}

/// How far to look for the `!` closing a possible image.
const IMAGE_SCAN: usize = 1000;

/// Where a piece of text is being escaped.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    /// The character after the text.
    next: Option<char>,
    /// Whether the text starts a line (only whitespace before it on the line).
    line_start: bool,
    /// Whether `]` needs escaping too (link labels, monospace).
    strict: bool,
    /// Delimiters of the spans the text is inside.
    open: &'a [char],
}

/// Escapes `s` for Jira, appending to `out` (whose last character is `s`'s left neighbour).
/// Every delimiter that could open a span is escaped, so one that could only close a span
/// needs escaping only inside a span of its kind.
fn escape(s: &str, out: &mut String, ctx: Ctx<'_>) {
    let chars: Vec<char> = s.chars().collect();
    let mut at_line_start = ctx.line_start;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let p = if i == 0 {
            out.chars().last()
        } else {
            Some(chars[i - 1])
        };
        let n = chars.get(i + 1).copied().or(ctx.next);
        if at_line_start && !c.is_whitespace() {
            at_line_start = false;
            // `h1. ` and `bq. ` start a heading or quote: escape the dot.
            let rest: String = chars[i..chars.len().min(i + 4)].iter().collect();
            let lower = rest.to_ascii_lowercase();
            let b = lower.as_bytes();
            let heading =
                b.len() >= 3 && b[0] == b'h' && (b'1'..=b'6').contains(&b[1]) && b[2] == b'.';
            let prefix_len = if heading || lower.starts_with("bq.") {
                2
            } else {
                0
            };
            if prefix_len > 0 {
                out.extend(&chars[i..i + prefix_len]);
                out.push_str("\\.");
                i += prefix_len + 1;
                continue;
            }
            if matches!(c, '*' | '-' | '#') {
                out.push('\\');
                out.push(c);
                i += 1;
                continue;
            }
        }
        let escape = match c {
            '\\' => {
                if n.is_some_and(|n| !n.is_alphanumeric() && !n.is_whitespace()) {
                    out.push_str("&#92;");
                    i += 1;
                    continue;
                }
                false
            }
            // `[^file]` and `[~user]` are attachment and user links.
            '^' | '~' if ctx.strict && p == Some('[') => true,
            '*' | '_' | '-' | '+' | '^' | '~' => {
                let could_open = !is_word(p) && n.is_some_and(|n| !n.is_whitespace());
                let could_close =
                    ctx.open.contains(&c) && p.is_some_and(|p| !p.is_whitespace()) && !is_word(n);
                could_open || could_close
            }
            '?' => n == Some('?') || p == Some('?'),
            '{' | '}' | '[' | '|' => true,
            ']' => ctx.strict,
            // `!name!` is an image: a `!` that another `!` follows before any whitespace
            // (looked for within a bounded distance; beyond it, assume the worst).
            '!' => {
                let rest = &chars[i + 1..];
                let stop = rest
                    .iter()
                    .take(IMAGE_SCAN)
                    .position(|c| c.is_whitespace() || *c == '!');
                let closes = match stop {
                    Some(k) => rest[k] == '!',
                    None => {
                        rest.len() >= IMAGE_SCAN || ctx.next.is_some_and(|n| !n.is_whitespace())
                    }
                };
                !is_word(p) && closes
            }
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
        i += 1;
    }
}
