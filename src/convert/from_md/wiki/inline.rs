//! Inline content → Jira wiki markup, with escaping that sees each character's neighbours.
//!
//! Content is first rendered to [`Piece`]s (text, monospace text, raw markup, span delimiters,
//! line breaks), then [`assemble`]d in one pass. Escaping is minimal but safe: a `*_-+^~` is
//! backslash-escaped where it could open a span, or close one that is open; `{`, `}`, `[` and
//! `|` always; `!` where it could start an image; `#`/`*`/`-` at a line start; `^`/`~` opening
//! a link label (attachment and user links); and a backslash that would escape what follows
//! becomes `&#92;` (Jira has no escape for it). Spans whose delimiters touch a letter or digit
//! use Jira's `{*}…{*}` form, which works inside words.

use super::super::{Inline, is_blank};

/// Renders one line of inline content after `prefix` pieces; `paragraph` lets hard breaks be
/// real newlines (elsewhere they are `\\`, which keeps list items and cells on one line).
pub(super) fn line(inl: &[Inline], prefix: Vec<Piece>, paragraph: bool) -> String {
    let mut pieces = prefix;
    pieces.extend(inline_pieces(inl, &mut 0));
    assemble(&pieces, paragraph)
}

/// Rendered inline content before assembly.
#[derive(Debug, Clone)]
pub(super) enum Piece {
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

/// Pieces for inline content; `next_id` numbers spans (unique per assembled line).
pub(super) fn inline_pieces(inl: &[Inline], next_id: &mut usize) -> Vec<Piece> {
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
                let plain = is_blank(content)
                    || matches!(content.as_slice(), [Inline::Text(t)] if t == href);
                let fallback;
                let content = if is_blank(content) {
                    fallback = [Inline::Text(href.clone())];
                    &fallback[..]
                } else {
                    content
                };
                if plain && (url.contains("://") || url.starts_with("mailto:")) {
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
            // A link label stays on one line and has no breaks.
            Inline::Break if active.link => out.push(Piece::Text {
                s: " ".into(),
                link: true,
            }),
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
pub(super) fn assemble(pieces: &[Piece], paragraph: bool) -> String {
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
                // A newline would end a span too, so inside one the break is `\\`.
                if paragraph && !line_blank && open.is_empty() {
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
            // `!name!` is an image (a URL-like name may even contain spaces): a `!` before a
            // non-space with another `!` later on the line, looked for within a bounded distance
            // and assumed present beyond it or in later pieces.
            '!' if !is_word(p) && n.is_some_and(|n| !n.is_whitespace()) => {
                let rest = &chars[i + 1..];
                rest.iter().take(IMAGE_SCAN).any(|c| *c == '!')
                    || rest.len() >= IMAGE_SCAN
                    || ctx.next.is_some()
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
