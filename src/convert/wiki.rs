//! Jira wiki markup (Server/Data Center text fields) → Markdown.
//!
//! Line-oriented block parsing (headings, lists, tables, `{code}`/`{noformat}`/`{quote}`/
//! `{panel}` sections) followed by a small inline scanner. It is deliberately conservative:
//! a delimiter only counts when Jira would treat it as markup (e.g. `-strike-` needs a
//! non-word character before the opening `-`), so ordinary prose passes through.

use super::md::{Block, Cell, Inline, Item, List, MAX_DEPTH, Row, render_document, text};
use crate::sanitize::clean_text;

/// Deepest list nesting kept (`*****…` beyond this is treated as this level).
const MAX_LIST_LEVEL: usize = 16;
/// Deepest nesting of inline formatting and of `{quote}`/`{panel}` sections.
const MAX_NEST: usize = 16;
/// How far (in characters) to look for a closing delimiter, bracket or `!`; keeps the scanner
/// linear on long lines full of unmatched delimiters.
const SCAN_LIMIT: usize = 1000;

/// See [`super::wiki_to_markdown`].
pub fn wiki_to_markdown(wiki: &str) -> String {
    let cleaned = clean_text(wiki);
    let lines: Vec<String> = cleaned.split('\n').map(str::to_string).collect();
    render_document(&parse_blocks(lines, 0))
}

/// Sections delimited by a `{name…}` line and a closing `{name}`.
#[derive(Clone, Copy, PartialEq)]
enum Section {
    Code,
    NoFormat,
    Quote,
    Panel,
    Admonition(&'static str),
}

/// Recognises a section opener at the start of `line`: returns the section, its parameter
/// string (text after `name:` up to `}`) and the rest of the line after the opener.
fn section_open(line: &str) -> Option<(Section, &'static str, String, String)> {
    let t = line.trim_start();
    if !t.starts_with('{') {
        return None;
    }
    let close = t.find('}')?;
    let inner = &t[1..close];
    let (name, params) = match inner.split_once(':') {
        Some((n, p)) => (n, p),
        None => (inner, ""),
    };
    let (section, tag) = match name.trim().to_ascii_lowercase().as_str() {
        "code" => (Section::Code, "code"),
        "noformat" => (Section::NoFormat, "noformat"),
        "quote" => (Section::Quote, "quote"),
        "panel" => (Section::Panel, "panel"),
        "info" => (Section::Admonition("Info"), "info"),
        "note" => (Section::Admonition("Note"), "note"),
        "tip" => (Section::Admonition("Tip"), "tip"),
        "warning" => (Section::Admonition("Warning"), "warning"),
        _ => return None,
    };
    Some((section, tag, params.to_string(), t[close + 1..].to_string()))
}

/// Value of `key=value` in a `{panel:title=T|borderStyle=solid}` parameter string.
fn section_param(params: &str, key: &str) -> Option<String> {
    params.split('|').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key) && !v.trim().is_empty()).then(|| v.trim().to_string())
    })
}

fn parse_blocks(mut lines: Vec<String>, depth: usize) -> Vec<Block> {
    let mut out = Vec::new();
    let mut para: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].clone();
        let t = line.trim();
        if t.is_empty() {
            flush_para(&mut para, &mut out);
            i += 1;
            continue;
        }
        if let Some((section, tag, params, rest)) = section_open(&line)
            && (depth < MAX_NEST || matches!(section, Section::Code | Section::NoFormat))
        {
            flush_para(&mut para, &mut out);
            let closer = format!("{{{tag}}}");
            // Collect the body up to the closing tag (case-insensitively); text after the closer
            // on its line is processed as a new line.
            let mut body: Vec<String> = Vec::new();
            let mut current = rest;
            let mut j = i;
            loop {
                let verbatim = matches!(section, Section::Code | Section::NoFormat);
                if let Some(pos) = find_closer(&current, &closer, !verbatim) {
                    body.push(current[..pos].to_string());
                    let after = current[pos + closer.len()..].to_string();
                    if after.trim().is_empty() {
                        j += 1;
                    } else {
                        lines[j] = after;
                    }
                    break;
                }
                body.push(current);
                j += 1;
                match lines.get(j) {
                    Some(next) => current = next.clone(),
                    None => break,
                }
            }
            // The opener's line remainder is usually empty; drop leading/trailing empty lines.
            while body.first().is_some_and(|l| l.trim().is_empty()) {
                body.remove(0);
            }
            while body.last().is_some_and(|l| l.trim().is_empty()) {
                body.pop();
            }
            out.extend(section_blocks(section, &params, body, depth));
            // `j` is the first unprocessed line (possibly the remainder after the closer, which is
            // shorter than the original line, so this always makes progress).
            i = j;
            continue;
        }
        if let Some((level, rest)) = heading(t) {
            flush_para(&mut para, &mut out);
            out.push(Block::Heading(level, inline(rest, 0)));
            i += 1;
            continue;
        }
        if let Some(rest) = t
            .strip_prefix("bq. ")
            .or_else(|| (t == "bq.").then_some(""))
        {
            flush_para(&mut para, &mut out);
            out.push(Block::Quote(vec![Block::Paragraph(inline(rest, 0))]));
            i += 1;
            continue;
        }
        if t.len() >= 4 && t.chars().all(|c| c == '-') {
            flush_para(&mut para, &mut out);
            out.push(Block::Rule);
            i += 1;
            continue;
        }
        if list_marker(t).is_some() {
            flush_para(&mut para, &mut out);
            let mut entries = Vec::new();
            while let Some((markers, content)) = lines.get(i).and_then(|l| list_marker(l.trim())) {
                entries.push((markers, content.to_string()));
                i += 1;
            }
            out.extend(build_lists(&entries, 0));
            continue;
        }
        if t.starts_with('|') {
            flush_para(&mut para, &mut out);
            let mut rows = Vec::new();
            while let Some(l) = lines
                .get(i)
                .map(|l| l.trim())
                .filter(|l| l.starts_with('|'))
            {
                rows.push(table_row(l));
                i += 1;
            }
            out.push(Block::Table(rows));
            continue;
        }
        para.push(line);
        i += 1;
    }
    flush_para(&mut para, &mut out);
    out
}

/// [`find_ci`] for a section closer; with `escapable`, a closer right after a backslash
/// (`\{quote}`, literal text) does not count.
fn find_closer(hay: &str, needle: &str, escapable: bool) -> Option<usize> {
    let mut from = 0;
    loop {
        let pos = from + find_ci(hay.get(from..)?, needle)?;
        if !(escapable && hay[..pos].ends_with('\\')) {
            return Some(pos);
        }
        from = pos + 1;
    }
}

/// Case-insensitive ASCII search for `needle` in `hay`.
fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&k| h[k..k + n.len()].eq_ignore_ascii_case(n))
}

fn section_blocks(section: Section, params: &str, body: Vec<String>, depth: usize) -> Vec<Block> {
    match section {
        Section::Code | Section::NoFormat => {
            let lang = if section == Section::Code {
                let first = params.split('|').next().unwrap_or("").trim();
                if first.contains('=') {
                    section_param(params, "language").unwrap_or_default()
                } else {
                    first.to_string()
                }
            } else {
                String::new()
            };
            vec![Block::Code {
                lang,
                text: body.join("\n"),
            }]
        }
        Section::Quote => vec![Block::Quote(parse_blocks(body, depth + 1))],
        Section::Panel => {
            let inner = parse_blocks(body, depth + 1);
            match section_param(params, "title") {
                Some(label) => vec![Block::Callout {
                    label,
                    blocks: inner,
                }],
                None => vec![Block::Quote(inner)],
            }
        }
        Section::Admonition(kind) => {
            let label = match section_param(params, "title") {
                Some(t) => format!("{kind} — {t}"),
                None => kind.to_string(),
            };
            vec![Block::Callout {
                label,
                blocks: parse_blocks(body, depth + 1),
            }]
        }
    }
}

fn flush_para(para: &mut Vec<String>, out: &mut Vec<Block>) {
    if para.is_empty() {
        return;
    }
    let mut inl = Vec::new();
    for (n, line) in para.drain(..).enumerate() {
        if n > 0 {
            inl.push(Inline::Break);
        }
        inl.extend(inline(&line, 0));
    }
    out.push(Block::Paragraph(inl));
}

fn heading(t: &str) -> Option<(u8, &str)> {
    let b = t.as_bytes();
    if b.len() >= 3
        && (b[0] == b'h' || b[0] == b'H')
        && (b'1'..=b'6').contains(&b[1])
        && b[2] == b'.'
    {
        let rest = &t[3..];
        // `h1.` with no title is not a heading: keep the text rather than lose it.
        if rest.starts_with([' ', '\t']) && !rest.trim().is_empty() {
            return Some((b[1] - b'0', rest.trim()));
        }
    }
    None
}

/// `* item`, `## item`, `*# item`, `- item` → (marker characters, content).
fn list_marker(t: &str) -> Option<(Vec<char>, &str)> {
    let markers: Vec<char> = t
        .chars()
        .take_while(|c| matches!(c, '*' | '#' | '-'))
        .collect();
    if markers.is_empty() {
        return None;
    }
    // `-` is only a bullet on its own ("- item"); "--" and "---" are dashes.
    if markers.contains(&'-') && markers.len() != 1 {
        return None;
    }
    let rest = &t[markers.len()..];
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let mut markers = markers;
    markers.truncate(MAX_LIST_LEVEL);
    Some((markers, rest.trim()))
}

/// Builds (possibly several, when the marker type changes) lists from entries whose markers are
/// all at least `level + 1` long.
fn build_lists(entries: &[(Vec<char>, String)], level: usize) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<(char, List)> = None;
    let mut i = 0;
    while i < entries.len() {
        let (markers, content) = &entries[i];
        let kind = markers.get(level).copied().unwrap_or('*');
        let kind = if kind == '-' { '*' } else { kind };
        let mut item = Item::default();
        if markers.len() == level + 1 {
            item.blocks.push(Block::Paragraph(inline(content, 0)));
            i += 1;
        }
        let start = i;
        while i < entries.len() && entries[i].0.len() > level + 1 {
            i += 1;
        }
        if i > start {
            item.blocks
                .extend(build_lists(&entries[start..i], level + 1));
        }
        if i == start && item.blocks.is_empty() {
            // Cannot happen (an entry is always consumed), but never loop forever.
            i += 1;
            continue;
        }
        match &mut current {
            Some((k, list)) if *k == kind => list.items.push(item),
            _ => {
                if let Some((_, list)) = current.take() {
                    blocks.push(Block::List(list));
                }
                let start = if kind == '#' { Some(1) } else { None };
                current = Some((
                    kind,
                    List {
                        start,
                        items: vec![item],
                    },
                ));
            }
        }
    }
    if let Some((_, list)) = current {
        blocks.push(Block::List(list));
    }
    blocks
}

/// Splits a table line into cells; `||` separates header cells. Pipes inside `[…]` links and
/// `{…}` macros do not split.
fn table_row(line: &str) -> Row {
    let chars: Vec<char> = line.chars().collect();
    let mut cells: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut started = false;
    let (mut brackets, mut braces) = (0usize, 0usize);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\'
            && let Some(&n) = chars.get(i + 1)
        {
            // `\|`, `\[`, `\\`: left for the inline parser, never a separator or bracket.
            cur.push(c);
            cur.push(n);
            i += 2;
            continue;
        }
        match c {
            '[' => brackets += 1,
            ']' => brackets = brackets.saturating_sub(1),
            '{' => braces += 1,
            '}' => braces = braces.saturating_sub(1),
            _ => {}
        }
        if c == '|' && brackets == 0 && braces == 0 {
            if started {
                cells.push(std::mem::take(&mut cur));
            }
            started = true;
            if chars.get(i + 1) == Some(&'|') {
                i += 1;
            }
        } else {
            cur.push(c);
        }
        i += 1;
    }
    if !cur.trim().is_empty() {
        cells.push(cur);
    }
    Row {
        cells: cells
            .iter()
            .map(|c| Cell {
                blocks: vec![Block::Paragraph(inline(c.trim(), 0))],
                colspan: 1,
            })
            .collect(),
    }
}

fn is_word(c: Option<char>) -> bool {
    c.is_some_and(char::is_alphanumeric)
}

/// Parses inline markup of one line.
fn inline(s: &str, depth: usize) -> Vec<Inline> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut i = 0;
    let flush = |buf: &mut String, out: &mut Vec<Inline>| {
        if !buf.is_empty() {
            out.push(text(std::mem::take(buf)));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let prev = if i > 0 { Some(chars[i - 1]) } else { None };
        // Line break and escapes.
        if c == '\\' {
            if next == Some('\\') {
                flush(&mut buf, &mut out);
                out.push(Inline::Break);
                i += 2;
                continue;
            }
            if let Some(n) = next.filter(|n| ESCAPABLE.contains(*n)) {
                buf.push(n);
                i += 2;
                continue;
            }
        }
        // {{monospace}}
        if c == '{'
            && next == Some('{')
            && let Some(end) = find_seq(&chars, i + 2, &['}', '}'], SCAN_LIMIT)
            && end > i + 2
        {
            let code = unescape(&chars[i + 2..end]);
            flush(&mut buf, &mut out);
            out.push(Inline::Code(code));
            i = end + 2;
            continue;
        }
        // {*}bold{*}: Jira's span form that also works inside a word.
        if c == '{'
            && chars.get(i + 2) == Some(&'}')
            && let Some(d) = next.filter(|d| "*_-+^~".contains(*d))
            && depth < MAX_NEST
            && let Some(end) = find_seq(&chars, i + 3, &['{', d, '}'], SCAN_LIMIT)
            && end > i + 3
        {
            let content: String = chars[i + 3..end].iter().collect();
            flush(&mut buf, &mut out);
            out.extend(styled(d, inline(&content, depth + 1)));
            i = end + 3;
            continue;
        }
        // {color:red}…{color}, {anchor:x}: drop the tags, keep the text.
        if c == '{'
            && let Some(end) = chars[i..].iter().take(64).position(|c| *c == '}')
        {
            let tag: String = chars[i + 1..i + end].iter().collect();
            let name = tag.split(':').next().unwrap_or("").to_ascii_lowercase();
            if matches!(name.as_str(), "color" | "anchor") {
                i += end + 1;
                continue;
            }
        }
        // [links], [~mentions], [^attachments]
        if c == '['
            && let Some(end) = link_end(&chars[i + 1..])
        {
            let inner: String = chars[i + 1..i + 1 + end].iter().collect();
            if let Some(parsed) = link(&inner, depth) {
                flush(&mut buf, &mut out);
                out.extend(parsed);
                i += end + 2;
                continue;
            }
        }
        // !image.png! / !image.png|thumbnail!
        if c == '!'
            && !is_word(prev)
            && next.is_some_and(|n| !n.is_whitespace() && n != '!')
            && let Some(end) = chars[i + 1..]
                .iter()
                .take(SCAN_LIMIT)
                .position(|c| *c == '!')
        {
            let inner: String = chars[i + 1..i + 1 + end].iter().collect();
            let name = inner.split('|').next().unwrap_or("").trim_end();
            let plausible = !inner.ends_with(char::is_whitespace)
                && !name.is_empty()
                && name.len() <= 512
                && (name.contains("://") || (name.contains('.') && !name.contains(' ')));
            if plausible {
                flush(&mut buf, &mut out);
                out.push(text(format!("[image: {name}]")));
                i += end + 2;
                continue;
            }
        }
        // Emphasis-like delimiters.
        let delim = match c {
            '*' | '_' | '-' | '+' | '^' | '~' => Some(c),
            '?' if next == Some('?') => Some('?'),
            _ => None,
        };
        if let Some(d) = delim
            && depth < MAX_NEST
            && let Some((content, end)) = delimited(&chars, i, d)
        {
            flush(&mut buf, &mut out);
            out.extend(styled(d, inline(&content, depth + 1)));
            i = end;
            continue;
        }
        buf.push(c);
        i += 1;
    }
    flush(&mut buf, &mut out);
    out
}

/// Characters a backslash escapes.
const ESCAPABLE: &str = "*_-+^~{}[]!|?#";

/// The span for delimiter `d` around already parsed content.
fn styled(d: char, inner: Vec<Inline>) -> Vec<Inline> {
    match d {
        '*' => vec![Inline::Strong(inner)],
        '_' | '?' => vec![Inline::Em(inner)],
        '-' => vec![Inline::Strike(inner)],
        '^' => vec![Inline::Sup(inner)],
        '~' => vec![Inline::Sub(inner)],
        _ => inner, // `+underline+`: no Markdown equivalent, keep the text.
    }
}

/// True if `chars[k]` is escaped: preceded by an odd run of backslashes (`\\` is a line break).
fn escaped(chars: &[char], k: usize) -> bool {
    chars[..k]
        .iter()
        .rev()
        .take(64)
        .take_while(|c| **c == '\\')
        .count()
        % 2
        == 1
}

/// Resolves backslash escapes (`\*` → `*`).
fn unescape(chars: &[char]) -> String {
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        match chars.get(i + 1) {
            Some(&n) if chars[i] == '\\' && ESCAPABLE.contains(n) => {
                out.push(n);
                i += 2;
            }
            _ => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}

/// Index of the `]` closing a link whose inside starts at `chars[0]`, skipping escaped
/// characters; `None` if another `[` or nothing comes first.
fn link_end(chars: &[char]) -> Option<usize> {
    let mut k = 0;
    while k < chars.len().min(SCAN_LIMIT) {
        match chars[k] {
            '\\' => k += 2,
            ']' => return Some(k),
            '[' => return None,
            _ => k += 1,
        }
    }
    None
}

/// First occurrence of `seq` at or after `from` (within `limit`) that is not escaped.
fn find_seq(chars: &[char], from: usize, seq: &[char], limit: usize) -> Option<usize> {
    let end = chars
        .len()
        .saturating_sub(seq.len().saturating_sub(1))
        .min(from.saturating_add(limit));
    (from..end).find(|&k| chars[k..].starts_with(seq) && !escaped(chars, k))
}

/// A delimited span starting at `i` (`*bold*`, `??cite??`): the opener needs a non-word before
/// it and a non-space after it, the closer a non-space before it and a non-word after it.
/// Returns the inner text and the index after the closer.
fn delimited(chars: &[char], i: usize, d: char) -> Option<(String, usize)> {
    let width = if d == '?' { 2 } else { 1 };
    let prev = if i > 0 { Some(chars[i - 1]) } else { None };
    if is_word(prev) {
        return None;
    }
    let first = *chars.get(i + width)?;
    if first.is_whitespace() || first == d {
        return None;
    }
    let mut j = i + width + 1;
    let limit = chars.len().min(i + SCAN_LIMIT);
    while j + width <= limit {
        let is_closer = if width == 2 {
            chars[j] == '?' && chars.get(j + 1) == Some(&'?')
        } else {
            chars[j] == d
        };
        if is_closer
            && !escaped(chars, j)
            && !chars[j - 1].is_whitespace()
            && !is_word(chars.get(j + width).copied())
        {
            let content: String = chars[i + width..j].iter().collect();
            if content.chars().all(|c| c == d) {
                return None;
            }
            return Some((content, j + width));
        }
        j += 1;
    }
    None
}

/// The inside of `[…]`: `text|url`, `url`, `~user`, `^attachment`. `None` means "not a link,
/// keep the brackets as text".
fn link(inner: &str, depth: usize) -> Option<Vec<Inline>> {
    let inner_t = inner.trim();
    if inner_t.is_empty() {
        return None;
    }
    if let Some(user) = inner_t.strip_prefix('~') {
        return Some(vec![text(format!("@{}", user.trim()))]);
    }
    if let Some(att) = inner_t.strip_prefix('^') {
        return Some(vec![text(format!("[attachment: {}]", att.trim()))]);
    }
    let inner_chars: Vec<char> = inner_t.chars().collect();
    let pipe = (0..inner_chars.len()).find(|&k| inner_chars[k] == '|' && !escaped(&inner_chars, k));
    let split = pipe.map(|k| {
        let at = inner_chars[..k].iter().map(|c| c.len_utf8()).sum::<usize>();
        (&inner_t[..at], &inner_t[at + 1..])
    });
    if let Some((label, rest)) = split {
        let target = rest.split('|').next().unwrap_or("").trim();
        if let Some(user) = target.strip_prefix('~') {
            return Some(vec![text(format!("@{}", user.trim()))]);
        }
        if let Some(att) = target.strip_prefix('^') {
            return Some(vec![text(format!(
                "{} [attachment: {}]",
                label.trim(),
                att.trim()
            ))]);
        }
        if target.is_empty() {
            return None;
        }
        return Some(vec![Inline::Link {
            href: target.to_string(),
            content: inline(label.trim(), depth.saturating_add(1).min(MAX_DEPTH)),
        }]);
    }
    let looks_like_url =
        inner_t.contains("://") || inner_t.starts_with("mailto:") || inner_t.starts_with("www.");
    if looks_like_url && !inner_t.contains(char::is_whitespace) {
        return Some(vec![Inline::Link {
            href: inner_t.to_string(),
            content: Vec::new(),
        }]);
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn md(s: &str) -> String {
        wiki_to_markdown(s)
    }

    #[test]
    fn headings_and_inline_formatting() {
        assert_eq!(
            md("h1. Title\nh3.  Sub *bold*"),
            "# Title\n\n### Sub **bold**"
        );
        assert_eq!(
            md("Some *bold*, _italic_, -strike-, +under+, {{mono}} and x^2^ H~2~O ??cite??."),
            "Some **bold**, *italic*, ~~strike~~, under, `mono` and x^2^ H~2~O *cite*."
        );
    }

    #[test]
    fn ordinary_prose_passes_through() {
        for s in [
            "A well-known long-term plan - with dashes -- and --- more.",
            "snake_case_name and 2 * 3 * 4 = 24",
            "Wow! This is great! Really!",
            "C++ and a + b + c",
            "Email me at a.b@example.com (or not).",
            "h1.not a heading",
            "--- a dash-led line",
        ] {
            assert_eq!(md(s), s, "changed: {s}");
        }
    }

    #[test]
    fn code_and_noformat_are_verbatim() {
        let s = "Before\n{code:java}\npublic *static* void main() {}\n  // [not|link]\n{code}\nAfter\n{noformat}\n*raw* _text_\n{noformat}";
        assert_eq!(
            md(s),
            "Before\n\n```java\npublic *static* void main() {}\n  // [not|link]\n```\n\nAfter\n\n```\n*raw* _text_\n```"
        );
        assert_eq!(
            md("{code:title=A.java|language=java}x{code} tail"),
            "```java\nx\n```\n\ntail"
        );
        assert_eq!(md("{code}\nunterminated"), "```\nunterminated\n```");
    }

    #[test]
    fn quotes_and_panels() {
        assert_eq!(md("bq. quoted *text*"), "> quoted **text**");
        assert_eq!(
            md("{quote}\nline one\nline two\n{quote}"),
            "> line one\n> line two"
        );
        assert_eq!(
            md("{panel:title=Heads up|borderStyle=dashed}\nBe *careful*.\n{panel}"),
            "> **Heads up:** Be **careful**."
        );
        assert_eq!(md("{warning}Hot{warning}"), "> **Warning:** Hot");
    }

    #[test]
    fn links_mentions_images() {
        assert_eq!(
            md(
                "See [the docs|https://d.example/x?a=1] and [https://e.example] cc [~jsmith] [~accountid:5b10a]"
            ),
            "See [the docs](https://d.example/x?a=1) and <https://e.example> cc @jsmith @accountid:5b10a"
        );
        assert_eq!(
            md("!screen.png! and !diagram.jpg|thumbnail!"),
            "[image: screen.png] and [image: diagram.jpg]"
        );
        assert_eq!(md("[not a link] stays"), "[not a link] stays");
        assert_eq!(md("[^report.pdf]"), "[attachment: report.pdf]");
    }

    #[test]
    fn nested_lists() {
        let s =
            "* one\n** one.a\n** one.b\n*** deep\n* two\n# first\n## sub\n# second\n- dash item";
        assert_eq!(
            md(s),
            "- one\n  - one.a\n  - one.b\n    - deep\n- two\n\n1. first\n   1. sub\n2. second\n\n- dash item"
        );
        assert_eq!(md("*# mixed"), "- 1. mixed");
    }

    #[test]
    fn tables() {
        let s = "||Key||Value||\n|a|[link|https://x.example]|\n|b\\|c| *bold* |";
        assert_eq!(
            md(s),
            "| Key | Value |\n| --- | --- |\n| a | [link](https://x.example) |\n| b\\|c | **bold** |"
        );
    }

    #[test]
    fn rule_breaks_and_paragraphs() {
        assert_eq!(
            md("a\\\\b\n----\nline1\nline2\n\nnext"),
            "a\nb\n\n---\n\nline1\nline2\n\nnext"
        );
    }

    #[test]
    fn color_tags_are_dropped_and_escapes_resolved() {
        assert_eq!(
            md("{color:red}alert{color} and \\*literal\\*"),
            "alert and \\*literal\\*"
        );
    }

    #[test]
    fn backslash_escapes_are_honoured_everywhere() {
        // Jira parses markup (and escapes) inside monospace, link labels and table cells.
        assert_eq!(md("{{a\\*b\\}}}"), "`a*b}`");
        assert_eq!(md("*a \\*, b*"), "**a \\*, b**");
        assert_eq!(
            md("[a\\]b\\|c|https://x.example]"),
            "[a]b|c](https://x.example)"
        );
        assert_eq!(md("|a \\[ b|c|"), "| a [ b | c |\n| --- | --- |");
        assert_eq!(
            md("{quote}\nsay \\{quote} here\n{quote}"),
            "> say {quote} here"
        );
    }

    #[test]
    fn braced_spans_work_inside_words() {
        assert_eq!(md("foo{*}bar{*}baz x{_}y{_}"), "foo**bar**baz x*y*");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let s = format!("{} deep", "*".repeat(5000));
        assert!(md(&s).ends_with("deep"));
        let s = format!("{}x{}", "{quote}\n".repeat(2000), "\n{quote}".repeat(2000));
        assert!(md(&s).contains('x'));
        let s = format!("{}x{}", "*_".repeat(3000), "_*".repeat(3000));
        assert!(md(&s).contains('x'));
    }

    #[test]
    fn long_lines_of_unmatched_delimiters_stay_fast() {
        let s = "*a _b -c [d !e {{f ".repeat(20_000);
        let start = std::time::Instant::now();
        let out = md(&s);
        assert!(out.len() >= s.trim_end().len());
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn realistic_issue_description() {
        let s = "h2. Problem\r\nThe *checkout* page fails for [~ana] when the cart has > 10 items.\r\n\r\n\
                 h2. Steps\r\n# Add 11 items\r\n# Click {{Pay}}\r\n## observe spinner\r\n\r\n\
                 {code:json}\r\n{\"error\": \"timeout\"}\r\n{code}\r\n\r\n\
                 ||Env||Result||\r\n|staging|(x) fails|\r\n|prod|ok|\r\n\r\n\
                 See [runbook|https://wiki.example/runbook] and !trace.png!";
        let out = md(s);
        for fragment in [
            "## Problem\n\nThe **checkout** page fails for @ana when the cart has > 10 items.",
            "## Steps\n\n1. Add 11 items\n2. Click `Pay`\n   1. observe spinner",
            "```json\n{\"error\": \"timeout\"}\n```",
            "| Env | Result |\n| --- | --- |\n| staging | (x) fails |\n| prod | ok |",
            "See [runbook](https://wiki.example/runbook) and [image: trace.png]",
        ] {
            assert!(
                out.contains(fragment),
                "missing:\n{fragment}\n--- in ---\n{out}"
            );
        }
    }
}
