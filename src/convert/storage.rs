//! Confluence storage format (XHTML with `ac:`/`ri:` elements) → Markdown.
//!
//! Storage format is frequently not well-formed XML (HTML entities, bare `&`, unclosed `<br>`,
//! mismatched end tags), so conversion happens in three tolerant steps:
//! 1. [`preprocess`] escapes stray `&` and `<` (leaving CDATA sections and comments untouched);
//! 2. [`parse`] drives `quick-xml` with its strictness checks off and builds a small tree,
//!    closing elements by name, applying a few HTML implied-end rules, capping depth at
//!    [`MAX_DEPTH`], and on a hard parse error keeping the rest of the input as tag-stripped text;
//! 3. the tree is mapped onto the shared Markdown model in [`super::md`].

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::md::{Block, Cell, Inline, Item, List, MAX_DEPTH, Row, render_document, text};

/// See [`super::storage_to_markdown`].
pub fn storage_to_markdown(xhtml: &str) -> String {
    storage_to_markdown_with(xhtml, &super::StorageLinks::default())
}

/// See [`super::storage_to_markdown_with`].
pub fn storage_to_markdown_with(xhtml: &str, links: &super::StorageLinks) -> String {
    let mut tree = parse(xhtml);
    annotate(&mut tree, links);
    render_document(&flow(&tree))
}

/// See [`super::mentioned_users`].
pub fn mentioned_users(xhtml: &str) -> Vec<String> {
    fn walk(nodes: &[Node], out: &mut Vec<String>) {
        for n in nodes {
            if let Node::El(el) = n {
                if el.name == "ri:user"
                    && let Some(id) = user_id(el)
                    && !out.iter().any(|o| o == id)
                {
                    out.push(id.to_string());
                }
                walk(&el.children, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&parse(xhtml), &mut out);
    out
}

fn user_id(user: &Element) -> Option<&str> {
    user.attr("ri:account-id")
        .or_else(|| user.attr("ri:userkey"))
        .or_else(|| user.attr("ri:username"))
}

/// Marks mentioned users with their names and page references with their addresses, from
/// what the caller knows (`bridge:name`, `bridge:href`); [`ac_link`] reads the marks.
fn annotate(nodes: &mut [Node], links: &super::StorageLinks) {
    for n in nodes {
        if let Node::El(el) = n {
            let mark = match el.name.as_str() {
                "ri:user" => user_id(el)
                    .and_then(|id| links.users.get(id))
                    .map(|name| ("bridge:name", name.clone())),
                "ri:page" => links
                    .page_href(el.attr("ri:space-key"), el.attr("ri:content-title"))
                    .map(|href| ("bridge:href", href)),
                _ => None,
            };
            if let Some((key, value)) = mark {
                el.attrs.push((key.to_string(), value));
            }
            annotate(&mut el.children, links);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tree

#[derive(Debug)]
enum Node {
    El(Element),
    Text(String),
}

#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
}

impl Element {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::El(e) => Some(e),
            Node::Text(_) => None,
        })
    }
}

const VOID: &[&str] = &[
    "br", "hr", "img", "col", "input", "meta", "link", "wbr", "area", "base", "source", "embed",
    "param", "track",
];

/// Escapes `&` that does not start a reference and `<` that does not start markup, so that
/// quick-xml sees them as text. CDATA sections and comments are copied verbatim.
fn preprocess(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len() + 16);
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'<' => {
                let rest = &s[i..];
                if rest.starts_with("<![CDATA[") {
                    match rest.find("]]>") {
                        Some(end) => i += end + 3,
                        None => {
                            // Unterminated CDATA: keep its text and close it.
                            out.push_str(&s[last..]);
                            out.push_str("]]>");
                            return out;
                        }
                    }
                    continue;
                }
                if rest.starts_with("<!--")
                    && let Some(end) = rest[4..].find("-->")
                {
                    i += 4 + end + 3;
                    continue;
                }
                let starts_markup = b
                    .get(i + 1)
                    .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, b'/' | b'!' | b'?'));
                match tag_end(b, i) {
                    Some(end) if starts_markup => i = end + 1,
                    _ => {
                        out.push_str(&s[last..i]);
                        out.push_str("&lt;");
                        i += 1;
                        last = i;
                    }
                }
            }
            b'&' => {
                if !is_reference(&b[i + 1..]) {
                    out.push_str(&s[last..i]);
                    out.push_str("&amp;");
                    last = i + 1;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    out.push_str(&s[last..]);
    out
}

/// Index of the `>` closing the tag that starts at `start`, honouring quoted attribute values;
/// `None` if another `<` comes first (then the first `<` was text).
fn tag_end(b: &[u8], start: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (j, &c) in b.iter().enumerate().skip(start + 1) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'"' | b'\'' => quote = Some(c),
                b'>' => return Some(j),
                b'<' => return None,
                _ => {}
            },
        }
    }
    None
}

/// True if `rest` (the bytes after `&`) is `name;`, `#digits;` or `#xhex;`.
fn is_reference(rest: &[u8]) -> bool {
    let end = match rest.iter().take(34).position(|c| *c == b';') {
        Some(e) if e > 0 => e,
        _ => return false,
    };
    let body = &rest[..end];
    match body {
        [b'#', b'x' | b'X', hex @ ..] => !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit),
        [b'#', dec @ ..] => !dec.is_empty() && dec.iter().all(u8::is_ascii_digit),
        [first, more @ ..] => {
            first.is_ascii_alphabetic() && more.iter().all(u8::is_ascii_alphanumeric)
        }
        [] => false,
    }
}

fn parse(input: &str) -> Vec<Node> {
    let pre = preprocess(input);
    let mut reader = Reader::from_str(&pre);
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = false;
        cfg.allow_unmatched_ends = true;
        cfg.allow_dangling_amp = true;
        cfg.check_comments = false;
        cfg.expand_empty_elements = false;
        cfg.trim_text(false);
    }
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let el = element_from(&e);
                implied_end(&mut stack, &el.name);
                if VOID.contains(&el.name.as_str()) || stack.len() > MAX_DEPTH {
                    // Void elements have no content; beyond the depth cap the element is dropped
                    // and its content flattened into the current element.
                    if VOID.contains(&el.name.as_str()) {
                        push_node(&mut stack, Node::El(el));
                    }
                } else {
                    stack.push(el);
                }
            }
            Ok(Event::Empty(e)) => {
                let el = element_from(&e);
                implied_end(&mut stack, &el.name);
                push_node(&mut stack, Node::El(el));
            }
            Ok(Event::End(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref())
                    .trim()
                    .to_ascii_lowercase();
                if let Some(pos) = stack.iter().rposition(|el| el.name == name)
                    && pos > 0
                {
                    while stack.len() > pos {
                        close_top(&mut stack);
                    }
                }
            }
            Ok(Event::Text(t)) => push_text(&mut stack, &String::from_utf8_lossy(&t)),
            Ok(Event::CData(t)) => push_text(&mut stack, &String::from_utf8_lossy(&t)),
            Ok(Event::GeneralRef(r)) => {
                let name = String::from_utf8_lossy(&r);
                push_text(
                    &mut stack,
                    &resolve_entity(&name).unwrap_or_else(|| format!("&{name};")),
                );
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(_) => {
                let mut pos = usize::try_from(reader.error_position()).unwrap_or(usize::MAX);
                while pos < pre.len() && !pre.is_char_boundary(pos) {
                    pos += 1;
                }
                if let Some(rest) = pre.get(pos..) {
                    push_text(&mut stack, &strip_tags(rest));
                }
                break;
            }
        }
    }
    while stack.len() > 1 {
        close_top(&mut stack);
    }
    stack.pop().map(|root| root.children).unwrap_or_default()
}

fn element_from(e: &BytesStart<'_>) -> Element {
    let name = String::from_utf8_lossy(e.name().as_ref()).to_ascii_lowercase();
    let attrs = e
        .html_attributes()
        .with_checks(false)
        .filter_map(Result::ok)
        .map(|a| {
            let key = String::from_utf8_lossy(a.key.as_ref()).to_ascii_lowercase();
            let value = unescape(&String::from_utf8_lossy(&a.value));
            (key, value)
        })
        .collect();
    Element {
        name,
        attrs,
        children: Vec::new(),
    }
}

/// HTML's implied end tags for the cases storage documents actually get wrong.
fn implied_end(stack: &mut Vec<Element>, starting: &str) {
    let top = |stack: &Vec<Element>| stack.last().map(|e| e.name.clone()).unwrap_or_default();
    // A block starting inside an open <p> closes that paragraph (and anything open inside it).
    if matches!(
        starting,
        "p" | "div"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "ul"
            | "ol"
            | "table"
            | "blockquote"
            | "pre"
            | "hr"
    ) && let Some(pos) = stack.iter().rposition(|e| e.name == "p")
        && pos > 0
        && !stack[pos..].iter().any(|e| {
            !matches!(
                e.name.as_str(),
                "p" | "b"
                    | "strong"
                    | "i"
                    | "em"
                    | "u"
                    | "s"
                    | "span"
                    | "code"
                    | "a"
                    | "sub"
                    | "sup"
                    | "del"
                    | "font"
            )
        })
    {
        while stack.len() > pos {
            close_top(stack);
        }
    }
    match starting {
        "li" if stack.len() > 1 && top(stack) == starting => close_top(stack),
        "td" | "th" if stack.len() > 1 && matches!(top(stack).as_str(), "td" | "th") => {
            close_top(stack)
        }
        "tr" => {
            while stack.len() > 1 && matches!(top(stack).as_str(), "td" | "th") {
                close_top(stack);
            }
            if stack.len() > 1 && top(stack) == "tr" {
                close_top(stack);
            }
        }
        _ => {}
    }
}

fn close_top(stack: &mut Vec<Element>) {
    if stack.len() > 1
        && let Some(el) = stack.pop()
    {
        push_node(stack, Node::El(el));
    }
}

fn push_node(stack: &mut [Element], node: Node) {
    if let Some(top) = stack.last_mut() {
        top.children.push(node);
    }
}

fn push_text(stack: &mut [Element], t: &str) {
    if t.is_empty() {
        return;
    }
    if let Some(top) = stack.last_mut() {
        if let Some(Node::Text(prev)) = top.children.last_mut() {
            prev.push_str(t);
        } else {
            top.children.push(Node::Text(t.to_string()));
        }
    }
}

/// Fallback after an unrecoverable parse error: drop anything tag-like, resolve entities.
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out)
}

/// Resolves `&…;` references in `s`, leaving unknown ones and bare `&` as they are.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let resolved = after
            .find(';')
            .filter(|end| *end > 0 && *end <= 33)
            .and_then(|end| resolve_entity(&after[..end]).map(|r| (r, end)));
        match resolved {
            Some((r, end)) => {
                out.push_str(&r);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Resolves an entity name (without `&` and `;`): numeric references and the named HTML entities
/// that appear in real Confluence pages.
fn resolve_entity(name: &str) -> Option<String> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        return Some(
            char::from_u32(code)
                .filter(|c| *c != '\0')
                .unwrap_or('\u{fffd}')
                .to_string(),
        );
    }
    let c = match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" | "ensp" | "emsp" | "thinsp" => " ",
        "mdash" => "—",
        "ndash" => "–",
        "hellip" => "…",
        "lsquo" => "‘",
        "rsquo" => "’",
        "sbquo" => "‚",
        "ldquo" => "“",
        "rdquo" => "”",
        "bdquo" => "„",
        "laquo" => "«",
        "raquo" => "»",
        "lsaquo" => "‹",
        "rsaquo" => "›",
        "bull" => "•",
        "middot" => "·",
        "prime" => "′",
        "Prime" => "″",
        "dagger" => "†",
        "Dagger" => "‡",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "deg" => "°",
        "plusmn" => "±",
        "times" => "×",
        "divide" => "÷",
        "micro" => "µ",
        "para" => "¶",
        "sect" => "§",
        "euro" => "€",
        "pound" => "£",
        "yen" => "¥",
        "cent" => "¢",
        "curren" => "¤",
        "iexcl" => "¡",
        "iquest" => "¿",
        "frac12" => "½",
        "frac14" => "¼",
        "frac34" => "¾",
        "sup1" => "¹",
        "sup2" => "²",
        "sup3" => "³",
        "larr" => "←",
        "rarr" => "→",
        "uarr" => "↑",
        "darr" => "↓",
        "harr" => "↔",
        "lArr" => "⇐",
        "rArr" => "⇒",
        "hArr" => "⇔",
        "le" => "≤",
        "ge" => "≥",
        "ne" => "≠",
        "asymp" => "≈",
        "infin" => "∞",
        "minus" => "−",
        "check" => "✓",
        "hearts" => "♥",
        "shy" | "zwj" | "zwnj" | "lrm" | "rlm" => "",
        "Agrave" => "À",
        "Aacute" => "Á",
        "Acirc" => "Â",
        "Atilde" => "Ã",
        "Auml" => "Ä",
        "Aring" => "Å",
        "AElig" => "Æ",
        "Ccedil" => "Ç",
        "Egrave" => "È",
        "Eacute" => "É",
        "Ecirc" => "Ê",
        "Euml" => "Ë",
        "Igrave" => "Ì",
        "Iacute" => "Í",
        "Icirc" => "Î",
        "Iuml" => "Ï",
        "Ntilde" => "Ñ",
        "Ograve" => "Ò",
        "Oacute" => "Ó",
        "Ocirc" => "Ô",
        "Otilde" => "Õ",
        "Ouml" => "Ö",
        "Oslash" => "Ø",
        "Ugrave" => "Ù",
        "Uacute" => "Ú",
        "Ucirc" => "Û",
        "Uuml" => "Ü",
        "Yacute" => "Ý",
        "szlig" => "ß",
        "agrave" => "à",
        "aacute" => "á",
        "acirc" => "â",
        "atilde" => "ã",
        "auml" => "ä",
        "aring" => "å",
        "aelig" => "æ",
        "ccedil" => "ç",
        "egrave" => "è",
        "eacute" => "é",
        "ecirc" => "ê",
        "euml" => "ë",
        "igrave" => "ì",
        "iacute" => "í",
        "icirc" => "î",
        "iuml" => "ï",
        "ntilde" => "ñ",
        "ograve" => "ò",
        "oacute" => "ó",
        "ocirc" => "ô",
        "otilde" => "õ",
        "ouml" => "ö",
        "oslash" => "ø",
        "ugrave" => "ù",
        "uacute" => "ú",
        "ucirc" => "û",
        "uuml" => "ü",
        "yacute" => "ý",
        "yuml" => "ÿ",
        "OElig" => "Œ",
        "oelig" => "œ",
        "Scaron" => "Š",
        "scaron" => "š",
        "alpha" => "α",
        "beta" => "β",
        "gamma" => "γ",
        "delta" => "δ",
        "lambda" => "λ",
        "mu" => "μ",
        "pi" => "π",
        "sigma" => "σ",
        "omega" => "ω",
        _ => return None,
    };
    Some(c.to_string())
}

// ---------------------------------------------------------------------------------------------
// Tree → Markdown model

fn is_block_name(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "ul"
            | "ol"
            | "li"
            | "table"
            | "thead"
            | "tbody"
            | "tfoot"
            | "tr"
            | "td"
            | "th"
            | "blockquote"
            | "pre"
            | "hr"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "nav"
            | "aside"
            | "main"
            | "body"
            | "html"
            | "dl"
            | "dt"
            | "dd"
            | "figure"
            | "figcaption"
            | "details"
            | "summary"
            | "center"
            | "address"
            | "ac:layout"
            | "ac:layout-section"
            | "ac:layout-cell"
            | "ac:rich-text-body"
            | "ac:task-list"
            | "ac:adf-extension"
            | "ac:adf-node"
            | "ac:adf-content"
            | "ac:adf-fallback"
    )
}

fn is_macro(el: &Element) -> bool {
    matches!(el.name.as_str(), "ac:structured-macro" | "ac:macro")
}

fn macro_name(el: &Element) -> String {
    el.attr("ac:name").unwrap_or("").trim().to_ascii_lowercase()
}

fn param(el: &Element, name: &str) -> Option<String> {
    el.elements()
        .find(|p| p.name == "ac:parameter" && p.attr("ac:name") == Some(name))
        .map(|p| raw_text(p).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn is_block(el: &Element) -> bool {
    if is_macro(el) {
        return is_block_macro(el);
    }
    if is_block_name(&el.name) {
        return true;
    }
    if matches!(
        el.name.as_str(),
        "ac:link" | "ac:image" | "a" | "code" | "time" | "ac:emoticon"
    ) {
        return false;
    }
    // Unknown or inline wrappers (span, ac:inline-comment-marker, …) count as blocks when they
    // contain blocks, so that `<span><p>a</p><p>b</p></span>` keeps its paragraphs.
    el.elements()
        .any(|c| is_block_name(&c.name) || (is_macro(c) && is_block_macro(c)))
}

fn is_block_macro(el: &Element) -> bool {
    match macro_name(el).as_str() {
        "status" | "jira" | "anchor" | "emoticon" => false,
        "code" | "noformat" | "code-block" | "info" | "note" | "tip" | "warning" | "panel"
        | "expand" | "toc" | "error" | "success" | "excerpt" | "section" | "column" | "details" => {
            true
        }
        _ => el.child("ac:rich-text-body").is_some() || el.child("ac:plain-text-body").is_some(),
    }
}

/// Converts mixed content: runs of inline content become paragraphs, block elements their blocks.
fn flow(nodes: &[Node]) -> Vec<Block> {
    let mut out = Vec::new();
    let mut pending: Vec<Inline> = Vec::new();
    for node in nodes {
        match node {
            Node::Text(t) => pending.push(text(collapse(t))),
            Node::El(el) if is_block(el) => {
                flush(&mut pending, &mut out);
                out.extend(element_blocks(el));
            }
            Node::El(el) => pending.extend(element_inline(el)),
        }
    }
    flush(&mut pending, &mut out);
    out
}

fn flush(pending: &mut Vec<Inline>, out: &mut Vec<Block>) {
    let meaningful = pending.iter().any(|i| match i {
        Inline::Text(t) => !t.trim().is_empty(),
        Inline::Break => false,
        _ => true,
    });
    if meaningful {
        out.push(Block::Paragraph(std::mem::take(pending)));
    } else {
        pending.clear();
    }
}

/// HTML whitespace handling: runs of whitespace become one space.
fn collapse(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut in_ws = false;
    for c in t.chars() {
        if c.is_whitespace() {
            if !in_ws {
                out.push(' ');
            }
            in_ws = true;
        } else {
            out.push(c);
            in_ws = false;
        }
    }
    out
}

fn element_blocks(el: &Element) -> Vec<Block> {
    match el.name.as_str() {
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            let level = el.name[1..].parse::<u8>().unwrap_or(1);
            vec![Block::Heading(level, inlines(&el.children))]
        }
        "ul" | "ol" => vec![Block::List(list(el))],
        "li" => vec![Block::List(List {
            start: None,
            items: vec![item(el)],
        })],
        "ac:task-list" => vec![Block::List(task_list(el))],
        "table" => vec![Block::Table(table_rows(el))],
        "blockquote" => vec![Block::Quote(flow(&el.children))],
        "pre" => {
            let raw = raw_text(el);
            let code = raw.strip_prefix('\n').unwrap_or(&raw).to_string();
            vec![Block::Code {
                lang: String::new(),
                text: code,
            }]
        }
        "hr" => vec![Block::Rule],
        "ac:structured-macro" | "ac:macro" => macro_blocks(el),
        "dt" => vec![Block::Paragraph(vec![Inline::Strong(inlines(
            &el.children,
        ))])],
        "script" | "style" | "head" => Vec::new(),
        _ => flow(&el.children),
    }
}

fn item(li: &Element) -> Item {
    Item {
        check: None,
        blocks: flow(&li.children),
    }
}

fn list(el: &Element) -> List {
    let start = if el.name == "ol" {
        Some(
            el.attr("start")
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(1),
        )
    } else {
        None
    };
    let mut items: Vec<Item> = Vec::new();
    for node in &el.children {
        match node {
            Node::El(c) if c.name == "li" => items.push(item(c)),
            Node::El(c) if matches!(c.name.as_str(), "ul" | "ol") && !items.is_empty() => {
                if let Some(prev) = items.last_mut() {
                    prev.blocks.push(Block::List(list(c)));
                }
            }
            Node::Text(t) if t.trim().is_empty() => {}
            other => {
                let blocks = flow(std::slice::from_ref(other));
                if !blocks.is_empty() {
                    items.push(Item {
                        check: None,
                        blocks,
                    });
                }
            }
        }
    }
    List { start, items }
}

fn task_list(el: &Element) -> List {
    let mut items: Vec<Item> = Vec::new();
    for c in el.elements() {
        match c.name.as_str() {
            "ac:task" => {
                let done = c
                    .child("ac:task-status")
                    .is_some_and(|s| raw_text(s).trim() == "complete");
                let blocks = c
                    .child("ac:task-body")
                    .map(|b| flow(&b.children))
                    .unwrap_or_default();
                items.push(Item {
                    check: Some(if done { "[x]" } else { "[ ]" }),
                    blocks,
                });
            }
            "ac:task-list" => {
                let nested = Block::List(task_list(c));
                match items.last_mut() {
                    Some(prev) => prev.blocks.push(nested),
                    None => items.push(Item {
                        check: None,
                        blocks: vec![nested],
                    }),
                }
            }
            _ => {}
        }
    }
    List { start: None, items }
}

fn table_rows(table: &Element) -> Vec<Row> {
    let mut rows = Vec::new();
    for c in table.elements() {
        match c.name.as_str() {
            "tr" => rows.push(table_row(c)),
            "thead" | "tbody" | "tfoot" => {
                rows.extend(c.elements().filter(|r| r.name == "tr").map(table_row))
            }
            _ => {}
        }
    }
    rows
}

fn table_row(tr: &Element) -> Row {
    let cells = tr
        .elements()
        .filter(|c| matches!(c.name.as_str(), "td" | "th"))
        .map(|c| Cell {
            blocks: flow(&c.children),
            colspan: c
                .attr("colspan")
                .and_then(|s| s.trim().parse::<usize>().ok())
                .unwrap_or(1),
        })
        .collect();
    Row { cells }
}

fn inlines(nodes: &[Node]) -> Vec<Inline> {
    let mut out = Vec::new();
    for node in nodes {
        match node {
            Node::Text(t) => out.push(text(collapse(t))),
            Node::El(el) if is_block(el) => {
                // A block inside inline content (heading containing a div, …): keep its text.
                if !out.is_empty() {
                    out.push(Inline::Break);
                }
                out.extend(inlines(&el.children));
            }
            Node::El(el) => out.extend(element_inline(el)),
        }
    }
    out
}

fn element_inline(el: &Element) -> Vec<Inline> {
    let kids = || inlines(&el.children);
    match el.name.as_str() {
        "strong" | "b" => vec![Inline::Strong(kids())],
        "em" | "i" | "cite" | "dfn" | "var" => vec![Inline::Em(kids())],
        "s" | "del" | "strike" => vec![Inline::Strike(kids())],
        "sub" => vec![Inline::Sub(kids())],
        "sup" => vec![Inline::Sup(kids())],
        "code" | "tt" | "kbd" | "samp" => vec![Inline::Code(collapse(&raw_text(el)))],
        "br" => vec![Inline::Break],
        "a" => match el.attr("href").map(str::trim).filter(|h| !h.is_empty()) {
            Some(href) => vec![Inline::Link {
                href: href.to_string(),
                content: kids(),
            }],
            None => kids(),
        },
        "img" => {
            let what = el
                .attr("alt")
                .filter(|a| !a.trim().is_empty())
                .or_else(|| el.attr("src"))
                .map(str::trim)
                .filter(|a| !a.is_empty());
            vec![text(match what {
                Some(w) => format!("[image: {w}]"),
                None => "[image]".to_string(),
            })]
        }
        "time" => match el.attr("datetime").filter(|d| !d.trim().is_empty()) {
            Some(d) => vec![text(d.trim())],
            None => kids(),
        },
        "ac:link" => ac_link(el),
        "ac:image" => vec![text(ac_image(el))],
        "ac:emoticon" => {
            let e = el
                .attr("ac:emoji-fallback")
                .filter(|f| !f.trim().is_empty())
                .map(str::to_string)
                .or_else(|| el.attr("ac:name").map(|n| format!(":{n}:")));
            e.map(|e| vec![text(e)]).unwrap_or_default()
        }
        "ac:structured-macro" | "ac:macro" => macro_inline(el),
        "ac:parameter" | "ac:task-id" | "script" | "style" | "head" | "colgroup" => Vec::new(),
        n if n.starts_with("ri:") => Vec::new(),
        _ => kids(),
    }
}

fn ac_link(el: &Element) -> Vec<Inline> {
    let body: Vec<Inline> = if let Some(b) = el.child("ac:plain-text-link-body") {
        vec![text(raw_text(b))]
    } else if let Some(b) = el.child("ac:link-body") {
        inlines(&b.children)
    } else {
        Vec::new()
    };
    let has_body = body
        .iter()
        .any(|i| !matches!(i, Inline::Text(t) if t.trim().is_empty()));
    let body_text = || body.clone();
    if let Some(user) = el.child("ri:user") {
        if has_body {
            let mut out = vec![text("@")];
            out.extend(body_text());
            return out;
        }
        if let Some(name) = user.attr("bridge:name") {
            return vec![text(format!("@{name}"))];
        }
        let id = user_id(user).unwrap_or("unknown");
        return vec![text(format!("@user({id})"))];
    }
    if let Some(page) = el.child("ri:page")
        && let Some(href) = page.attr("bridge:href")
    {
        let content = if has_body {
            body
        } else {
            vec![text(page.attr("ri:content-title").unwrap_or("page"))]
        };
        return vec![Inline::Link {
            href: href.to_string(),
            content,
        }];
    }
    if has_body {
        if let Some(url) = el.child("ri:url").and_then(|u| u.attr("ri:value")) {
            return vec![Inline::Link {
                href: url.to_string(),
                content: body,
            }];
        }
        return body;
    }
    if let Some(page) = el.child("ri:page").or_else(|| el.child("ri:blog-post")) {
        let title = page.attr("ri:content-title").unwrap_or("page");
        return vec![text(format!("[{title}]"))];
    }
    if let Some(att) = el.child("ri:attachment") {
        let f = att.attr("ri:filename").unwrap_or("");
        return vec![text(format!("[attachment: {f}]"))];
    }
    if let Some(url) = el.child("ri:url").and_then(|u| u.attr("ri:value")) {
        return vec![Inline::Link {
            href: url.to_string(),
            content: Vec::new(),
        }];
    }
    if let Some(space) = el.child("ri:space").and_then(|s| s.attr("ri:space-key")) {
        return vec![text(format!("[space: {space}]"))];
    }
    match el.attr("ac:anchor") {
        Some(a) if !a.trim().is_empty() => vec![text(format!("#{}", a.trim()))],
        _ => Vec::new(),
    }
}

fn ac_image(el: &Element) -> String {
    let name = el
        .child("ri:attachment")
        .and_then(|a| a.attr("ri:filename"))
        .or_else(|| el.child("ri:url").and_then(|u| u.attr("ri:value")))
        .or_else(|| el.attr("ac:alt"))
        .or_else(|| el.attr("ac:title"))
        .map(str::trim)
        .filter(|n| !n.is_empty());
    match name {
        Some(n) => format!("[image: {n}]"),
        None => "[image]".to_string(),
    }
}

fn macro_blocks(el: &Element) -> Vec<Block> {
    let name = macro_name(el);
    let rich = el.child("ac:rich-text-body");
    let rich_blocks = || rich.map(|r| flow(&r.children)).unwrap_or_default();
    let plain = el.child("ac:plain-text-body").map(raw_text);
    match name.as_str() {
        "code" | "noformat" | "code-block" => {
            let mut out = Vec::new();
            if let Some(title) = param(el, "title") {
                out.push(Block::Paragraph(vec![Inline::Strong(vec![text(title)])]));
            }
            let lang = if name == "noformat" {
                None
            } else {
                param(el, "language")
            };
            let code = plain.or_else(|| rich.map(raw_text)).unwrap_or_default();
            out.push(Block::Code {
                lang: lang.unwrap_or_default(),
                text: code,
            });
            out
        }
        "info" | "note" | "tip" | "warning" | "error" | "success" | "panel" => {
            let kind = match name.as_str() {
                "info" => "Info",
                "note" => "Note",
                "tip" => "Tip",
                "warning" => "Warning",
                "error" => "Error",
                "success" => "Success",
                _ => "Panel",
            };
            let label = match param(el, "title") {
                Some(t) if name == "panel" => t,
                Some(t) => format!("{kind} — {t}"),
                None => kind.to_string(),
            };
            vec![Block::Callout {
                label,
                blocks: rich_blocks(),
            }]
        }
        "expand" => {
            let title = param(el, "title").unwrap_or_else(|| "Details".to_string());
            let mut out = vec![Block::Paragraph(vec![Inline::Strong(vec![text(title)])])];
            out.extend(rich_blocks());
            out
        }
        "toc" => Vec::new(),
        _ => {
            if rich.is_some() {
                rich_blocks()
            } else if let Some(p) = plain.filter(|p| !p.trim().is_empty()) {
                vec![Block::Paragraph(lines_with_breaks(&p))]
            } else {
                vec![Block::Paragraph(macro_inline(el))]
            }
        }
    }
}

fn macro_inline(el: &Element) -> Vec<Inline> {
    let name = macro_name(el);
    match name.as_str() {
        "status" => {
            let t = param(el, "title")
                .or_else(|| param(el, "colour"))
                .unwrap_or_else(|| "status".into());
            vec![text(format!("[{t}]"))]
        }
        "jira" => {
            let what = param(el, "key").or_else(|| param(el, "jqlQuery"));
            vec![text(match what {
                Some(k) => format!("[jira: {k}]"),
                None => "[jira]".to_string(),
            })]
        }
        "anchor" | "toc" => Vec::new(),
        _ => {
            if let Some(r) = el.child("ac:rich-text-body") {
                return inlines(&r.children);
            }
            if let Some(p) = el
                .child("ac:plain-text-body")
                .map(raw_text)
                .filter(|p| !p.trim().is_empty())
            {
                return lines_with_breaks(&p);
            }
            let shown = if name.is_empty() {
                "unknown".to_string()
            } else {
                name
            };
            vec![text(format!("[macro: {shown}]"))]
        }
    }
}

fn lines_with_breaks(s: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    for (i, line) in s.lines().enumerate() {
        if i > 0 {
            out.push(Inline::Break);
        }
        out.push(text(line));
    }
    out
}

/// All text below an element, verbatim (CDATA and `<pre>` content); `<br>` becomes a newline.
fn raw_text(el: &Element) -> String {
    let mut out = String::new();
    raw_text_into(el, &mut out);
    out
}

fn raw_text_into(el: &Element, out: &mut String) {
    for node in &el.children {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::El(c) if c.name == "br" => out.push('\n'),
            Node::El(c) if c.name.starts_with("ri:") || c.name == "ac:parameter" => {}
            Node::El(c) => raw_text_into(c, out),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn md(s: &str) -> String {
        storage_to_markdown(s)
    }

    #[test]
    fn basic_blocks_and_inline_formatting() {
        let s = "<h1>Title</h1><p>Some <strong>bold</strong>, <em>italic</em>, <u>under</u>, \
                 <s>gone</s> and <code>x = 1</code> text with a <a href=\"https://e.example/p?a=1&b=2\">link</a>.</p>\
                 <hr/><h3>Sub</h3><p>line<br>next</p>";
        assert_eq!(
            md(s),
            "# Title\n\nSome **bold**, *italic*, under, ~~gone~~ and `x = 1` text with a \
             [link](https://e.example/p?a=1&b=2).\n\n---\n\n### Sub\n\nline\nnext"
        );
    }

    #[test]
    fn code_macro_keeps_cdata_verbatim() {
        let s = r#"<p>Before</p><ac:structured-macro ac:name="code" ac:schema-version="1" ac:macro-id="abc"><ac:parameter ac:name="language">xml</ac:parameter><ac:parameter ac:name="linenumbers">true</ac:parameter><ac:plain-text-body><![CDATA[<a href="x">&amp; & </a>
  indented *not md*
```]]></ac:plain-text-body></ac:structured-macro>"#;
        assert_eq!(
            md(s),
            "Before\n\n````xml\n<a href=\"x\">&amp; & </a>\n  indented *not md*\n```\n````"
        );
    }

    #[test]
    fn info_panel_macros() {
        let s = r#"<ac:structured-macro ac:name="info"><ac:rich-text-body><p>Deploys freeze on Friday.</p><ul><li>really</li></ul></ac:rich-text-body></ac:structured-macro><ac:structured-macro ac:name="panel"><ac:parameter ac:name="title">Contacts</ac:parameter><ac:rich-text-body><p>Ops</p></ac:rich-text-body></ac:structured-macro><ac:structured-macro ac:name="warning"><ac:parameter ac:name="title">Careful</ac:parameter><ac:rich-text-body><p>Hot</p></ac:rich-text-body></ac:structured-macro>"#;
        assert_eq!(
            md(s),
            "> **Info:** Deploys freeze on Friday.\n>\n> - really\n\n> **Contacts:** Ops\n\n> **Warning — Careful:** Hot"
        );
    }

    #[test]
    fn table_with_thead_and_tbody() {
        let s = "<table><colgroup><col/><col/></colgroup><thead><tr><th><p>Name</p></th><th>Role</th></tr></thead>\
                 <tbody><tr><td>Ana</td><td><p>Dev</p><p>Ops | SRE</p></td></tr><tr><td colspan=\"2\">all</td></tr></tbody></table>";
        assert_eq!(
            md(s),
            "| Name | Role |\n| --- | --- |\n| Ana | Dev<br>Ops \\| SRE |\n| all | |"
        );
    }

    #[test]
    fn links_users_pages_and_images() {
        let s = r#"<p>Ask <ac:link><ri:user ri:account-id="557058:abc-123"/></ac:link> or <ac:link><ri:user ri:userkey="ff80818"/></ac:link>, see <ac:link><ri:page ri:content-title="Runbook" ri:space-key="OPS"/><ac:plain-text-link-body><![CDATA[the runbook]]></ac:plain-text-link-body></ac:link> and <ac:link><ri:page ri:content-title="Glossary"/></ac:link>.</p><p><ac:image ac:height="250"><ri:attachment ri:filename="diagram.png"/></ac:image> <img src="/x/y.gif" alt=""/> <ac:image><ri:url ri:value="https://i.example/a.png"/></ac:image></p>"#;
        assert_eq!(
            md(s),
            "Ask @user(557058:abc-123) or @user(ff80818), see the runbook and [Glossary].\n\n\
             [image: diagram.png] [image: /x/y.gif] [image: https://i.example/a.png]"
        );
    }

    #[test]
    fn names_and_page_addresses_come_from_the_caller() {
        let s = r#"<p>Ask <ac:link><ri:user ri:account-id="557058:abc-123"/></ac:link> or <ac:link><ri:user ri:userkey="ff80818"/></ac:link>, see <ac:link><ri:page ri:content-title="On-call Handbook" ri:space-key="OPS"/><ac:plain-text-link-body><![CDATA[the runbook]]></ac:plain-text-link-body></ac:link> and <ac:link><ri:page ri:content-title="Glossary &amp; Terms"/></ac:link>.</p>"#;
        let links = crate::convert::StorageLinks {
            users: [("557058:abc-123".to_string(), "Alex Rivera".to_string())].into(),
            wiki_base: Some("https://acme.atlassian.net/wiki/".to_string()),
            space: Some("ENG".to_string()),
        };
        assert_eq!(
            storage_to_markdown_with(s, &links),
            "Ask @Alex Rivera or @user(ff80818), see [the runbook](https://acme.atlassian.net/wiki/display/OPS/On-call+Handbook) \
             and [Glossary & Terms](https://acme.atlassian.net/wiki/display/ENG/Glossary+%26+Terms)."
        );
        assert_eq!(mentioned_users(s), ["557058:abc-123", "ff80818"]);
        // Without a base, links keep their old form.
        let plain = crate::convert::StorageLinks::default();
        assert!(storage_to_markdown_with(s, &plain).contains("and [Glossary & Terms]."));
    }

    #[test]
    fn entities_are_resolved() {
        let s = "<p>A&nbsp;&mdash;&nbsp;B&rsquo;s &ldquo;q&rdquo; &copy; &#169; &#x263A; &eacute; &amp;amp; &bogus; &lt;tag&gt;</p>";
        assert_eq!(md(s), "A — B’s “q” © © ☺ é \\&amp; \\&bogus; \\<tag>");
    }

    #[test]
    fn macros_status_jira_toc_expand_unknown() {
        let s = r#"<ac:structured-macro ac:name="toc"/><p>State: <ac:structured-macro ac:name="status"><ac:parameter ac:name="colour">Green</ac:parameter><ac:parameter ac:name="title">DONE</ac:parameter></ac:structured-macro> see <ac:structured-macro ac:name="jira"><ac:parameter ac:name="server">System JIRA</ac:parameter><ac:parameter ac:name="key">PROJ-42</ac:parameter></ac:structured-macro></p><ac:structured-macro ac:name="expand"><ac:parameter ac:name="title">More</ac:parameter><ac:rich-text-body><p>hidden</p></ac:rich-text-body></ac:structured-macro><ac:structured-macro ac:name="children"/><ac:structured-macro ac:name="mystery"><ac:rich-text-body><p>inside</p></ac:rich-text-body></ac:structured-macro>"#;
        assert_eq!(
            md(s),
            "State: [DONE] see [jira: PROJ-42]\n\n**More**\n\nhidden\n\n[macro: children]\n\ninside"
        );
    }

    #[test]
    fn task_lists_and_time() {
        let s = "<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-status>complete</ac:task-status><ac:task-body>Ship it by <time datetime=\"2025-01-01\" /></ac:task-body></ac:task>\
                 <ac:task><ac:task-id>2</ac:task-id><ac:task-status>incomplete</ac:task-status><ac:task-body><span>Write docs</span></ac:task-body></ac:task></ac:task-list>";
        assert_eq!(md(s), "- [x] Ship it by 2025-01-01\n- [ ] Write docs");
    }

    #[test]
    fn nested_lists_and_blockquote() {
        let s = "<ol start=\"2\"><li>two<ul><li>a</li><li>b</li></ul></li><li><p>three</p></li></ol><blockquote><p>quoted</p></blockquote><pre>  keep\n    spacing</pre>";
        assert_eq!(
            md(s),
            "2. two\n   - a\n   - b\n3. three\n\n> quoted\n\n```\n  keep\n    spacing\n```"
        );
    }

    #[test]
    fn malformed_input_degrades_gracefully() {
        assert_eq!(
            md("<p>unclosed <b>bold<p>next"),
            "unclosed **bold**\n\nnext"
        );
        assert_eq!(md("<p>a < b && c > d</p>"), "a < b && c > d");
        assert_eq!(md("<p>x</div></span>y</p>"), "xy");
        assert_eq!(md("<ul><li>one<li>two</ul>"), "- one\n- two");
        assert_eq!(md("<p>AT&T rocks"), "AT&T rocks");
        assert_eq!(md("plain text, no tags"), "plain text, no tags");
        assert_eq!(md(""), "");
        assert_eq!(md("<td nowrap>cell</td>"), "cell");
        assert_eq!(md("<p>end <"), "end <");
        assert_eq!(md("<![CDATA[unterminated"), "unterminated");
    }

    #[test]
    fn parse_error_falls_back_to_stripped_text() {
        // `<!DOCTYPE` without end and other oddities must not lose the text that follows.
        let out = md("<p>before</p><!DOCTYPE <p>after</p>");
        assert!(out.contains("before"), "{out}");
        let out = md("<p>x</p><!x> <p>tail <b>text</b></p>");
        assert!(out.starts_with("x"), "{out}");
        assert!(out.ends_with("tail text"), "{out}");
        assert_eq!(
            md("<p>a</p><!-- unterminated <p>b</p>"),
            "a\n\n\\<!-- unterminated\n\nb"
        );
    }

    #[test]
    fn scripts_are_dropped_and_invisible_chars_cleaned() {
        assert_eq!(md("<p>a\u{200b}b</p><script>alert(1)</script>"), "ab");
    }

    #[test]
    fn deeply_nested_input_is_bounded() {
        let n = 10_000;
        let s = format!("{}deep{}", "<div>".repeat(n), "</div>".repeat(n));
        assert_eq!(md(&s), "deep");
        let s = format!("{}item{}", "<ul><li>".repeat(n), "</li></ul>".repeat(n));
        let out = md(&s);
        assert!(out.ends_with("item"));
        let s = "<blockquote>".repeat(n) + "q";
        assert!(md(&s).ends_with("q"));
    }

    #[test]
    fn realistic_page() {
        let s = r#"<p>Owner: <ac:link><ri:user ri:account-id="712020:9f"/><ac:link-body>Sam</ac:link-body></ac:link> &middot; updated <time datetime="2024-11-02"/></p>
<ac:layout><ac:layout-section ac:type="two_equal"><ac:layout-cell><h2>Overview</h2><p>The <strong>billing</strong> service&rsquo;s runbook.</p></ac:layout-cell><ac:layout-cell><ac:structured-macro ac:name="note" ac:schema-version="1"><ac:rich-text-body><p>Pager: <a href="https://pager.example">pager</a></p></ac:rich-text-body></ac:structured-macro></ac:layout-cell></ac:layout-section></ac:layout>
<h2>Restart</h2>
<ol><li><p>Drain:</p><ac:structured-macro ac:name="code"><ac:parameter ac:name="language">bash</ac:parameter><ac:plain-text-body><![CDATA[kubectl drain node-1 --ignore-daemonsets]]></ac:plain-text-body></ac:structured-macro></li><li>Restart</li></ol>"#;
        let out = md(s);
        for fragment in [
            "Owner: @Sam · updated 2024-11-02",
            "## Overview\n\nThe **billing** service’s runbook.",
            "> **Note:** Pager: [pager](https://pager.example)",
            "1. Drain:\n\n   ```bash\n   kubectl drain node-1 --ignore-daemonsets\n   ```\n\n2. Restart",
        ] {
            assert!(
                out.contains(fragment),
                "missing:\n{fragment}\n--- in ---\n{out}"
            );
        }
    }
}
