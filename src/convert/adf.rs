//! Atlassian Document Format (ADF, Jira Cloud rich text) → Markdown.
//!
//! Walks the JSON tree directly (no typed model) so that unknown node types, missing attributes
//! and wrong JSON types degrade to text instead of failing deserialization. Depth is capped at
//! [`MAX_DEPTH`]; anything deeper is flattened to plain text with an explicit stack.

use serde_json::Value;

use super::md::{Block, Cell, Inline, Item, List, MAX_DEPTH, Row, render_document, text};
use crate::sanitize::clean_text;

/// Converts an ADF document (or any JSON value) to Markdown. See [`super::adf_to_markdown`].
pub fn adf_to_markdown(doc: &Value) -> String {
    match doc {
        Value::Null => String::new(),
        Value::String(s) => clean_text(s).trim().to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => render_document(&blocks_of(items, 0)),
        Value::Object(_) => render_document(&block_of(doc, 0)),
    }
}

fn node_type(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("")
}

/// The node's children; a lone object where an array belongs is treated as one child.
fn children(v: &Value) -> &[Value] {
    match v.get("content") {
        Some(Value::Array(a)) => a,
        Some(other @ Value::Object(_)) => std::slice::from_ref(other),
        _ => &[],
    }
}

fn has_children(v: &Value) -> bool {
    !children(v).is_empty()
}

/// An attribute as a string, accepting numbers and booleans where a string was expected.
fn attr(v: &Value, key: &str) -> Option<String> {
    scalar(v.get("attrs")?.get(key)?)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

fn is_inline_type(t: &str) -> bool {
    matches!(
        t,
        "text"
            | "hardBreak"
            | "mention"
            | "emoji"
            | "inlineCard"
            | "status"
            | "date"
            | "mediaInline"
            | "placeholder"
            | "inlineExtension"
    )
}

/// Converts a sequence of nodes in block position; stray inline nodes are gathered into
/// paragraphs.
fn blocks_of(nodes: &[Value], depth: usize) -> Vec<Block> {
    let mut out = Vec::new();
    let mut pending: Vec<Inline> = Vec::new();
    for node in nodes {
        let inline = match node {
            Value::Object(_) => is_inline_type(node_type(node)),
            Value::Array(_) => false,
            _ => true,
        };
        if inline {
            pending.extend(inline_of(node, depth));
            continue;
        }
        if !pending.is_empty() {
            out.push(Block::Paragraph(std::mem::take(&mut pending)));
        }
        match node {
            Value::Array(items) if depth < MAX_DEPTH => out.extend(blocks_of(items, depth + 1)),
            _ => out.extend(block_of(node, depth)),
        }
    }
    if !pending.is_empty() {
        out.push(Block::Paragraph(pending));
    }
    out
}

fn block_of(node: &Value, depth: usize) -> Vec<Block> {
    if depth >= MAX_DEPTH {
        return vec![Block::Paragraph(vec![text(flatten_text(node))])];
    }
    let d = depth + 1;
    let kids = children(node);
    match node_type(node) {
        "doc" => blocks_of(kids, d),
        "paragraph" => vec![Block::Paragraph(inlines_of(kids, d))],
        "heading" => {
            let level = attr(node, "level")
                .and_then(|l| l.parse::<f64>().ok())
                .map(|l| l.clamp(1.0, 6.0) as u8)
                .unwrap_or(1);
            vec![Block::Heading(level, inlines_of(kids, d))]
        }
        "bulletList" => vec![Block::List(list_of(kids, None, d))],
        "orderedList" => {
            let start = attr(node, "order")
                .and_then(|o| o.parse::<f64>().ok())
                .filter(|o| o.is_finite() && *o >= 0.0)
                .map(|o| o as u64)
                .unwrap_or(1);
            vec![Block::List(list_of(kids, Some(start), d))]
        }
        "taskList" | "decisionList" => vec![Block::List(list_of(kids, None, d))],
        "listItem" | "taskItem" | "decisionItem" => {
            vec![Block::List(list_of(
                std::slice::from_ref(node),
                None,
                depth,
            ))]
        }
        "codeBlock" => {
            let lang = attr(node, "language").unwrap_or_default();
            let code: String = kids.iter().map(plain_text).collect();
            vec![Block::Code { lang, text: code }]
        }
        "blockquote" => vec![Block::Quote(blocks_of(kids, d))],
        "panel" => {
            let label = panel_label(attr(node, "panelType").as_deref().unwrap_or(""));
            vec![Block::Callout {
                label,
                blocks: blocks_of(kids, d),
            }]
        }
        "table" => vec![Block::Table(rows_of(kids, d))],
        "tableRow" => vec![Block::Table(rows_of(std::slice::from_ref(node), depth))],
        "rule" => vec![Block::Rule],
        "mediaSingle" | "mediaGroup" => {
            let mut inl = Vec::new();
            for kid in kids {
                let part = inline_of(kid, d);
                if part.is_empty() {
                    continue;
                }
                if !inl.is_empty() {
                    inl.push(Inline::Break);
                }
                inl.extend(part);
            }
            vec![Block::Paragraph(inl)]
        }
        "media" | "blockCard" | "embedCard" => vec![Block::Paragraph(inline_of(node, depth))],
        "expand" | "nestedExpand" => {
            let mut out = Vec::new();
            if let Some(title) = nonempty(attr(node, "title")) {
                out.push(Block::Paragraph(vec![Inline::Strong(vec![text(title)])]));
            }
            out.extend(blocks_of(kids, d));
            out
        }
        "extension" | "bodiedExtension" | "multiBodiedExtension" | "extensionFrame" => {
            if kids.is_empty() {
                vec![Block::Paragraph(vec![text(extension_placeholder(node))])]
            } else {
                blocks_of(kids, d)
            }
        }
        t if is_inline_type(t) => vec![Block::Paragraph(inline_of(node, depth))],
        _ => {
            if has_children(node) {
                blocks_of(kids, d)
            } else {
                let inl = fallback_inline(node);
                if inl.is_empty() {
                    Vec::new()
                } else {
                    vec![Block::Paragraph(inl)]
                }
            }
        }
    }
}

/// List items of a bullet/ordered/task/decision list. Nested task lists (which ADF places
/// directly inside the list, not inside an item) attach to the preceding item.
fn list_of(kids: &[Value], start: Option<u64>, depth: usize) -> List {
    let d = depth + 1;
    let mut items: Vec<Item> = Vec::new();
    for kid in kids {
        let t = node_type(kid);
        let check = match t {
            "taskItem" => {
                let done = attr(kid, "state").is_some_and(|s| s.eq_ignore_ascii_case("DONE"));
                Some(if done { "[x]" } else { "[ ]" })
            }
            "decisionItem" => Some("[decision]"),
            _ => None,
        };
        let nested_list = matches!(
            t,
            "taskList" | "decisionList" | "bulletList" | "orderedList"
        );
        if nested_list && let Some(prev) = items.last_mut() {
            prev.blocks.extend(block_of(kid, d));
            continue;
        }
        let blocks = if matches!(t, "listItem" | "taskItem" | "decisionItem") {
            if depth + 1 >= MAX_DEPTH {
                vec![Block::Paragraph(vec![text(flatten_text(kid))])]
            } else {
                blocks_of(children(kid), d + 1)
            }
        } else {
            blocks_of(std::slice::from_ref(kid), d)
        };
        items.push(Item { check, blocks });
    }
    List { start, items }
}

fn rows_of(kids: &[Value], depth: usize) -> Vec<Row> {
    let d = depth + 1;
    let mut rows = Vec::new();
    for kid in kids {
        if node_type(kid) == "tableRow" {
            let cells = children(kid)
                .iter()
                .map(|cell| {
                    let colspan = attr(cell, "colspan")
                        .and_then(|c| c.parse::<f64>().ok())
                        .filter(|c| c.is_finite() && *c >= 1.0)
                        .map(|c| c as usize)
                        .unwrap_or(1);
                    let blocks = if matches!(node_type(cell), "tableCell" | "tableHeader") {
                        blocks_of(children(cell), d + 1)
                    } else {
                        blocks_of(std::slice::from_ref(cell), d + 1)
                    };
                    Cell { blocks, colspan }
                })
                .collect();
            rows.push(Row { cells });
        } else {
            rows.push(Row {
                cells: vec![Cell {
                    blocks: blocks_of(std::slice::from_ref(kid), d),
                    colspan: 1,
                }],
            });
        }
    }
    rows
}

fn inlines_of(nodes: &[Value], depth: usize) -> Vec<Inline> {
    nodes.iter().flat_map(|n| inline_of(n, depth)).collect()
}

fn inline_of(node: &Value, depth: usize) -> Vec<Inline> {
    if depth >= MAX_DEPTH {
        return vec![text(flatten_text(node))];
    }
    let d = depth + 1;
    let obj = match node {
        Value::Null => return Vec::new(),
        Value::String(s) => return vec![text(s.clone())],
        Value::Bool(_) | Value::Number(_) => return vec![text(node.to_string())],
        Value::Array(items) => return inlines_of(items, d),
        Value::Object(_) => node,
    };
    match node_type(obj) {
        "text" => {
            let t = obj.get("text").and_then(scalar).unwrap_or_default();
            apply_marks(t, obj.get("marks"))
        }
        "hardBreak" => vec![Inline::Break],
        "mention" => {
            let name = nonempty(attr(obj, "text"))
                .or_else(|| nonempty(attr(obj, "id")))
                .unwrap_or_else(|| "unknown".to_string());
            vec![text(format!("@{}", name.trim().trim_start_matches('@')))]
        }
        "emoji" => {
            let e = nonempty(attr(obj, "text")).or_else(|| nonempty(attr(obj, "shortName")));
            e.map(|e| vec![text(e)]).unwrap_or_default()
        }
        "inlineCard" | "blockCard" | "embedCard" => {
            let url = nonempty(attr(obj, "url")).or_else(|| {
                obj.get("attrs")
                    .and_then(|a| a.get("data"))
                    .and_then(|data| data.get("url"))
                    .and_then(scalar)
                    .filter(|s| !s.trim().is_empty())
            });
            match url {
                Some(href) => vec![Inline::Link {
                    href,
                    content: Vec::new(),
                }],
                None => vec![text("[link]")],
            }
        }
        "status" => {
            let t = nonempty(attr(obj, "text")).unwrap_or_else(|| "status".to_string());
            vec![text(format!("[{}]", t.trim()))]
        }
        "date" => {
            let ts = attr(obj, "timestamp").unwrap_or_default();
            vec![text(format_date(&ts))]
        }
        "media" | "mediaInline" => vec![media_inline(obj)],
        "placeholder" => nonempty(attr(obj, "text"))
            .map(|t| vec![text(t)])
            .unwrap_or_default(),
        "inlineExtension" | "extension" | "bodiedExtension" if !has_children(obj) => {
            vec![text(extension_placeholder(obj))]
        }
        "paragraph" | "heading" | "listItem" | "taskItem" | "decisionItem" | "caption" => {
            let mut inl = inlines_of(children(obj), d);
            if !inl.is_empty() && !matches!(node_type(obj), "caption") {
                inl.push(Inline::Break);
            }
            inl
        }
        "mediaSingle" | "mediaGroup" => inlines_of(children(obj), d),
        _ => {
            if has_children(obj) {
                inlines_of(children(obj), d)
            } else {
                fallback_inline(obj)
            }
        }
    }
}

/// Text for a node we do not understand and that has no children: its `attrs.text` or `text`,
/// else its type in brackets so that it does not vanish.
fn fallback_inline(node: &Value) -> Vec<Inline> {
    if let Some(t) =
        nonempty(attr(node, "text")).or_else(|| nonempty(node.get("text").and_then(scalar)))
    {
        return vec![text(t)];
    }
    let t = node_type(node);
    if t.is_empty() || t == "doc" {
        Vec::new()
    } else {
        vec![text(format!("[{t}]"))]
    }
}

fn apply_marks(t: String, marks: Option<&Value>) -> Vec<Inline> {
    if t.is_empty() {
        return Vec::new();
    }
    let marks: &[Value] = match marks {
        Some(Value::Array(m)) => m,
        _ => &[],
    };
    let has = |name: &str| marks.iter().any(|m| node_type(m) == name);
    let mut node = if has("code") {
        Inline::Code(t)
    } else {
        Inline::Text(t)
    };
    if has("strike") {
        node = Inline::Strike(vec![node]);
    }
    if has("em") {
        node = Inline::Em(vec![node]);
    }
    if has("strong") {
        node = Inline::Strong(vec![node]);
    }
    if let Some(sub) = marks.iter().find(|m| node_type(m) == "subsup") {
        node = match attr(sub, "type").as_deref() {
            Some("sub") => Inline::Sub(vec![node]),
            _ => Inline::Sup(vec![node]),
        };
    }
    if let Some(link) = marks.iter().find(|m| node_type(m) == "link")
        && let Some(href) = nonempty(attr(link, "href"))
    {
        node = Inline::Link {
            href,
            content: vec![node],
        };
    }
    vec![node]
}

fn panel_label(panel_type: &str) -> String {
    match panel_type {
        "info" => "Info".to_string(),
        "note" => "Note".to_string(),
        "tip" => "Tip".to_string(),
        "warning" => "Warning".to_string(),
        "error" => "Error".to_string(),
        "success" => "Success".to_string(),
        "" | "custom" => "Panel".to_string(),
        other => {
            let mut c = other.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => "Panel".to_string(),
            }
        }
    }
}

fn extension_placeholder(node: &Value) -> String {
    let key = nonempty(attr(node, "extensionKey"))
        .or_else(|| nonempty(attr(node, "text")))
        .unwrap_or_else(|| node_type(node).to_string());
    format!("[extension: {key}]")
}

fn media_inline(node: &Value) -> Inline {
    let kind = attr(node, "type").unwrap_or_default();
    if kind == "external"
        && let Some(href) = nonempty(attr(node, "url"))
    {
        return Inline::Link {
            href,
            content: Vec::new(),
        };
    }
    match nonempty(attr(node, "alt")) {
        Some(alt) => text(format!("[attachment: {alt}]")),
        None => text("[attachment]"),
    }
}

/// `timestamp` (milliseconds since the epoch, string or number) → `YYYY-MM-DD` in UTC.
/// Unparseable values are returned as given.
pub(crate) fn format_date(ts: &str) -> String {
    let ms = ts.trim().parse::<i64>().ok().or_else(|| {
        ts.trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| f as i64)
    });
    let Some(ms) = ms else { return ts.to_string() };
    match time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) {
        Ok(dt) => {
            let date = dt.date();
            format!(
                "{:04}-{:02}-{:02}",
                date.year(),
                u8::from(date.month()),
                date.day()
            )
        }
        Err(_) => ts.to_string(),
    }
}

/// Text of a node for code blocks: text children verbatim, anything else flattened.
fn plain_text(node: &Value) -> String {
    match node {
        Value::String(s) => s.clone(),
        _ if node_type(node) == "text" => node.get("text").and_then(scalar).unwrap_or_default(),
        _ if node_type(node) == "hardBreak" => "\n".to_string(),
        _ => flatten_text(node),
    }
}

/// All text below a node, without recursion (explicit stack), for trees deeper than
/// [`MAX_DEPTH`].
fn flatten_text(node: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut stack: Vec<&Value> = vec![node];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => parts.push(s.clone()),
            Value::Number(n) => parts.push(n.to_string()),
            Value::Array(items) => stack.extend(items.iter().rev()),
            Value::Object(_) => {
                if let Some(t) = v.get("text").and_then(scalar) {
                    parts.push(t);
                } else if let Some(t) = attr(v, "text") {
                    parts.push(t);
                }
                stack.extend(children(v).iter().rev());
            }
            _ => {}
        }
    }
    crate::sanitize::collapse_whitespace(&parts.join(" "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(content: Value) -> Value {
        json!({"type": "doc", "version": 1, "content": content})
    }

    fn p(t: &str) -> Value {
        json!({"type": "paragraph", "content": [{"type": "text", "text": t}]})
    }

    fn md(content: Value) -> String {
        adf_to_markdown(&doc(content))
    }

    #[test]
    fn paragraphs_and_marks() {
        let out = md(json!([
            {"type": "paragraph", "content": [
                {"type": "text", "text": "Run "},
                {"type": "text", "text": "make", "marks": [{"type": "code"}]},
                {"type": "text", "text": " then "},
                {"type": "text", "text": "read", "marks": [{"type": "strong"}]},
                {"type": "text", "text": " "},
                {"type": "text", "text": "this", "marks": [{"type": "em"}, {"type": "underline"}]},
                {"type": "text", "text": " ", "marks": [{"type": "strike"}]},
                {"type": "text", "text": "old", "marks": [{"type": "strike"}]},
                {"type": "text", "text": " and "},
                {"type": "text", "text": "docs", "marks": [{"type": "link", "attrs": {"href": "https://x.example/d"}}]},
                {"type": "text", "text": " H"},
                {"type": "text", "text": "2", "marks": [{"type": "subsup", "attrs": {"type": "sub"}}]},
                {"type": "text", "text": "O", "marks": [{"type": "textColor", "attrs": {"color": "#ff0000"}}]}
            ]},
            p("Second paragraph.")
        ]));
        assert_eq!(
            out,
            "Run `make` then **read** *this* ~~old~~ and [docs](https://x.example/d) H<sub>2</sub>O\n\nSecond paragraph."
        );
    }

    #[test]
    fn headings_rule_and_hard_break() {
        let out = md(json!([
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Steps"}]},
            {"type": "rule"},
            {"type": "paragraph", "content": [
                {"type": "text", "text": "line one"},
                {"type": "hardBreak"},
                {"type": "text", "text": "- not a list"}
            ]},
            {"type": "heading", "attrs": {"level": 9}, "content": [{"type": "text", "text": "Deep"}]}
        ]));
        assert_eq!(
            out,
            "## Steps\n\n---\n\nline one\n\\- not a list\n\n###### Deep"
        );
    }

    #[test]
    fn nested_and_ordered_lists() {
        let out = md(json!([
            {"type": "bulletList", "content": [
                {"type": "listItem", "content": [
                    p("one"),
                    {"type": "orderedList", "attrs": {"order": 3}, "content": [
                        {"type": "listItem", "content": [p("three")]},
                        {"type": "listItem", "content": [p("four")]}
                    ]}
                ]},
                {"type": "listItem", "content": [p("two")]}
            ]}
        ]));
        // "3." cannot interrupt a paragraph in CommonMark, so the nested list needs a blank line.
        assert_eq!(out, "- one\n\n  3. three\n  4. four\n\n- two");
    }

    #[test]
    fn multi_paragraph_list_item_is_loose_and_indented() {
        let out = md(json!([
            {"type": "orderedList", "content": [
                {"type": "listItem", "content": [p("first"), p("more")]},
                {"type": "listItem", "content": [{"type": "codeBlock", "content": [{"type": "text", "text": "x\ny"}]}]}
            ]}
        ]));
        assert_eq!(out, "1. first\n\n   more\n\n2. ```\n   x\n   y\n   ```");
    }

    #[test]
    fn code_block_with_backticks_and_language() {
        let out = md(json!([
            {"type": "codeBlock", "attrs": {"language": "rust"}, "content": [
                {"type": "text", "text": "let s = \"```\";\n"}
            ]}
        ]));
        assert_eq!(out, "````rust\nlet s = \"```\";\n````");
    }

    #[test]
    fn blockquote_and_panel() {
        let out = md(json!([
            {"type": "blockquote", "content": [p("quoted"), {"type": "blockquote", "content": [p("inner")]}]},
            {"type": "panel", "attrs": {"panelType": "warning"}, "content": [p("Careful now"), p("Really.")]}
        ]));
        assert_eq!(
            out,
            "> quoted\n>\n> > inner\n\n> **Warning:** Careful now\n>\n> Really."
        );
    }

    #[test]
    fn table_with_header_escaped_pipes_and_colspan() {
        let cell = |kind: &str, t: &str| json!({"type": kind, "content": [p(t)]});
        let out = md(json!([
            {"type": "table", "content": [
                {"type": "tableRow", "content": [cell("tableHeader", "Key"), cell("tableHeader", "Value")]},
                {"type": "tableRow", "content": [cell("tableCell", "a|b"), {"type": "tableCell", "content": [p("x"), p("y")]}]},
                {"type": "tableRow", "content": [{"type": "tableCell", "attrs": {"colspan": 2}, "content": [p("wide")]}]}
            ]}
        ]));
        assert_eq!(
            out,
            "| Key | Value |\n| --- | --- |\n| a\\|b | x<br>y |\n| wide | |"
        );
    }

    #[test]
    fn table_without_header_row_still_gets_one() {
        let out = md(json!([
            {"type": "table", "content": [
                {"type": "tableRow", "content": [{"type": "tableCell", "content": [p("a")]}]},
                {"type": "tableRow", "content": [{"type": "tableCell", "content": [p("b")]}]}
            ]}
        ]));
        assert_eq!(out, "| a |\n| --- |\n| b |");
    }

    #[test]
    fn inline_nodes() {
        let out = md(json!([{"type": "paragraph", "content": [
            {"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d4ef5", "text": "@Ana Díaz"}},
            {"type": "text", "text": " "},
            {"type": "mention", "attrs": {"id": "abc123"}},
            {"type": "text", "text": " "},
            {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}},
            {"type": "emoji", "attrs": {"shortName": ":custom:"}},
            {"type": "text", "text": " "},
            {"type": "status", "attrs": {"text": "IN PROGRESS", "color": "blue"}},
            {"type": "text", "text": " due "},
            {"type": "date", "attrs": {"timestamp": "1735689600000"}},
            {"type": "text", "text": " see "},
            {"type": "inlineCard", "attrs": {"url": "https://acme.atlassian.net/browse/PROJ-1"}},
            {"type": "text", "text": " "},
            {"type": "inlineCard", "attrs": {"data": {"url": "https://d.example/x"}}},
            {"type": "text", "text": " "},
            {"type": "placeholder", "attrs": {"text": "Type here"}}
        ]}]));
        assert_eq!(
            out,
            "@Ana Díaz @abc123 😄:custom: [IN PROGRESS] due 2025-01-01 see <https://acme.atlassian.net/browse/PROJ-1> <https://d.example/x> Type here"
        );
    }

    #[test]
    fn media_and_cards() {
        let out = md(json!([
            {"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [
                {"type": "media", "attrs": {"type": "file", "id": "x", "collection": "c", "alt": "screenshot.png"}}
            ]},
            {"type": "mediaGroup", "content": [
                {"type": "media", "attrs": {"type": "file", "id": "y", "collection": "c"}},
                {"type": "media", "attrs": {"type": "external", "url": "https://img.example/a.png"}}
            ]},
            {"type": "blockCard", "attrs": {"url": "https://example.com/page"}},
            {"type": "paragraph", "content": [{"type": "text", "text": "file "}, {"type": "mediaInline", "attrs": {"id": "z", "alt": "log.txt"}}]}
        ]));
        assert_eq!(
            out,
            "[attachment: screenshot.png]\n\n[attachment]\n<https://img.example/a.png>\n\n<https://example.com/page>\n\nfile [attachment: log.txt]"
        );
    }

    #[test]
    fn task_and_decision_lists() {
        let out = md(json!([
            {"type": "taskList", "attrs": {"localId": "t"}, "content": [
                {"type": "taskItem", "attrs": {"localId": "1", "state": "DONE"}, "content": [{"type": "text", "text": "write tests"}]},
                {"type": "taskItem", "attrs": {"localId": "2", "state": "TODO"}, "content": [{"type": "text", "text": "ship"}]},
                {"type": "taskList", "content": [
                    {"type": "taskItem", "attrs": {"state": "TODO"}, "content": [{"type": "text", "text": "sub"}]}
                ]}
            ]},
            {"type": "decisionList", "content": [
                {"type": "decisionItem", "attrs": {"state": "DECIDED"}, "content": [{"type": "text", "text": "Use Rust"}]}
            ]}
        ]));
        assert_eq!(
            out,
            "- [x] write tests\n- [ ] ship\n  - [ ] sub\n\n- [decision] Use Rust"
        );
    }

    #[test]
    fn expand_extension_layout_and_unknown() {
        let out = md(json!([
            {"type": "expand", "attrs": {"title": "Details"}, "content": [p("hidden")]},
            {"type": "extension", "attrs": {"extensionType": "com.atlassian.macro", "extensionKey": "toc"}},
            {"type": "bodiedExtension", "attrs": {"extensionKey": "x"}, "content": [p("body")]},
            {"type": "layoutSection", "content": [
                {"type": "layoutColumn", "attrs": {"width": 50}, "content": [p("left")]},
                {"type": "layoutColumn", "attrs": {"width": 50}, "content": [p("right")]}
            ]},
            {"type": "futureThing", "content": [p("inside future")]},
            {"type": "futureLeaf", "attrs": {"text": "leaf text"}},
            {"type": "attrOnly"}
        ]));
        assert_eq!(
            out,
            "**Details**\n\nhidden\n\n[extension: toc]\n\nbody\n\nleft\n\nright\n\ninside future\n\nleaf text\n\n[attrOnly]"
        );
    }

    #[test]
    fn plain_text_is_escaped_minimally() {
        let out = md(json!([
            p("# not a heading"),
            p("1. not a list, *not emphasis*, snake_case stays"),
            p("Price: 5 * 3 = 15 (approx.) & that's it")
        ]));
        assert_eq!(
            out,
            "\\# not a heading\n\n1\\. not a list, \\*not emphasis\\*, snake_case stays\n\nPrice: 5 * 3 = 15 (approx.) & that's it"
        );
    }

    #[test]
    fn non_doc_inputs() {
        assert_eq!(adf_to_markdown(&Value::Null), "");
        assert_eq!(adf_to_markdown(&json!("plain\u{200b} text")), "plain text");
        assert_eq!(adf_to_markdown(&json!(42)), "42");
        assert_eq!(adf_to_markdown(&json!([p("a"), p("b")])), "a\n\nb");
        assert_eq!(adf_to_markdown(&json!({})), "");
        assert_eq!(adf_to_markdown(&json!({"type": "doc"})), "");
        assert_eq!(adf_to_markdown(&p("lone paragraph")), "lone paragraph");
    }

    #[test]
    fn wrong_types_do_not_panic_and_degrade() {
        let out = md(json!([
            {"type": "heading", "attrs": {"level": "3"}, "content": [{"type": "text", "text": 7}]},
            {"type": "orderedList", "attrs": {"order": -4}, "content": [{"type": "listItem", "content": p("x")}]},
            {"type": "date", "attrs": {"timestamp": "soon"}},
            {"type": "mention", "attrs": {"id": 12}},
            {"type": "text", "text": "loose", "marks": "strong"},
            {"type": "paragraph", "content": [null, true, "str"]}
        ]));
        assert_eq!(out, "### 7\n\n1. x\n\nsoon@12loose\n\ntruestr");
    }

    #[test]
    fn output_is_cleaned_of_invisible_characters() {
        let out = md(json!([p("a\u{202e}b\u{e0041}c\r\nd")]));
        assert_eq!(out, "abc\nd");
    }

    #[test]
    fn date_formatting() {
        assert_eq!(format_date("0"), "1970-01-01");
        assert_eq!(format_date("1700000000000"), "2023-11-14");
        assert_eq!(format_date("-86400000"), "1969-12-31");
        assert_eq!(format_date("99999999999999999"), "99999999999999999");
        assert_eq!(format_date("x"), "x");
    }

    #[test]
    fn very_deep_nesting_is_flattened_without_overflow() {
        // Built by hand: `json!` would serialize the interpolated value recursively.
        fn wrap(kind: &str, child: Value) -> Value {
            let mut m = serde_json::Map::new();
            m.insert("type".into(), Value::String(kind.into()));
            m.insert("content".into(), Value::Array(vec![child]));
            Value::Object(m)
        }
        let mut v = p("bottom");
        for _ in 0..10_000 {
            v = wrap("bulletList", wrap("listItem", v));
        }
        let deep = wrap("doc", v);
        let out = adf_to_markdown(&deep);
        // Dropping a 20,000-level serde_json tree would itself recurse deeply; leak it instead.
        std::mem::forget(deep);
        assert!(out.ends_with("bottom"), "{out}");
        assert!(out.starts_with("- - - "));
        let max_indent = out
            .lines()
            .map(|l| l.len() - l.trim_start().len())
            .max()
            .unwrap_or(0);
        assert!(max_indent <= 2 * MAX_DEPTH, "indent {max_indent}");
    }

    /// A realistic Jira Cloud issue description exercising most node types together.
    fn jira_description() -> Value {
        doc(json!([
            {"type": "heading", "attrs": {"level": 1}, "content": [{"type": "text", "text": "Login fails on Safari"}]},
            {"type": "paragraph", "content": [
                {"type": "text", "text": "Reported by "},
                {"type": "mention", "attrs": {"id": "557058:f58131cb", "text": "@Jane Doe", "accessLevel": ""}},
                {"type": "text", "text": " on "},
                {"type": "date", "attrs": {"timestamp": "1718409600000"}},
                {"type": "text", "text": ". Status: "},
                {"type": "status", "attrs": {"text": "BLOCKED", "color": "red", "localId": "s1"}},
                {"type": "text", "text": " "},
                {"type": "emoji", "attrs": {"shortName": ":warning:", "id": "atlassian-warning", "text": "⚠️"}}
            ]},
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Steps to reproduce"}]},
            {"type": "orderedList", "attrs": {"order": 1}, "content": [
                {"type": "listItem", "content": [p("Open the login page")]},
                {"type": "listItem", "content": [
                    p("Enter credentials"),
                    {"type": "bulletList", "content": [
                        {"type": "listItem", "content": [p("user: test")]},
                        {"type": "listItem", "content": [{"type": "paragraph", "content": [
                            {"type": "text", "text": "password: "},
                            {"type": "text", "text": "hunter2", "marks": [{"type": "code"}]}
                        ]}]}
                    ]}
                ]},
                {"type": "listItem", "content": [p("Click Sign in")]}
            ]},
            {"type": "codeBlock", "attrs": {"language": "javascript"}, "content": [
                {"type": "text", "text": "TypeError: undefined is not an object\n  at login.js:42"}
            ]},
            {"type": "panel", "attrs": {"panelType": "info"}, "content": [p("Only Safari 17 is affected.")]},
            {"type": "table", "attrs": {"isNumberColumnEnabled": false, "layout": "default"}, "content": [
                {"type": "tableRow", "content": [
                    {"type": "tableHeader", "attrs": {}, "content": [p("Browser")]},
                    {"type": "tableHeader", "attrs": {}, "content": [p("Result")]}
                ]},
                {"type": "tableRow", "content": [
                    {"type": "tableCell", "attrs": {}, "content": [p("Safari 17")]},
                    {"type": "tableCell", "attrs": {}, "content": [{"type": "paragraph", "content": [
                        {"type": "status", "attrs": {"text": "FAIL", "color": "red"}}
                    ]}]}
                ]},
                {"type": "tableRow", "content": [
                    {"type": "tableCell", "attrs": {}, "content": [p("Chrome")]},
                    {"type": "tableCell", "attrs": {}, "content": [p("ok")]}
                ]}
            ]},
            {"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [
                {"type": "media", "attrs": {"type": "file", "id": "6e7c7f2c", "collection": "jira-12345", "alt": "safari-error.png", "width": 800, "height": 600}}
            ]},
            {"type": "paragraph", "content": [
                {"type": "text", "text": "Related: "},
                {"type": "inlineCard", "attrs": {"url": "https://acme.atlassian.net/browse/WEB-12"}}
            ]},
            {"type": "taskList", "attrs": {"localId": "tl"}, "content": [
                {"type": "taskItem", "attrs": {"localId": "a", "state": "DONE"}, "content": [{"type": "text", "text": "Reproduce"}]},
                {"type": "taskItem", "attrs": {"localId": "b", "state": "TODO"}, "content": [{"type": "text", "text": "Fix"}]}
            ]}
        ]))
    }

    #[test]
    fn realistic_jira_description() {
        let out = adf_to_markdown(&jira_description());
        for fragment in [
            "# Login fails on Safari\n\nReported by @Jane Doe on 2024-06-15. Status: [BLOCKED] ⚠️",
            "## Steps to reproduce\n\n1. Open the login page\n2. Enter credentials\n   - user: test\n   - password: `hunter2`\n3. Click Sign in",
            "```javascript\nTypeError: undefined is not an object\n  at login.js:42\n```",
            "> **Info:** Only Safari 17 is affected.",
            "| Browser | Result |\n| --- | --- |\n| Safari 17 | [FAIL] |\n| Chrome | ok |",
            "[attachment: safari-error.png]",
            "Related: <https://acme.atlassian.net/browse/WEB-12>",
            "- [x] Reproduce\n- [ ] Fix",
        ] {
            assert!(
                out.contains(fragment),
                "missing fragment:\n{fragment}\n--- in ---\n{out}"
            );
        }
        assert!(!out.ends_with('\n'));
        assert!(!out.contains("\n\n\n"));
        assert!(out.lines().all(|l| l == l.trim_end()));
    }

    #[test]
    fn fixtures_validate_against_adf_schema() {
        let schema_text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/specs/adf.schema.json"
        ))
        .expect("tests/specs/adf.schema.json ships with the repository");
        let schema: Value = serde_json::from_str(&schema_text).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let fixture = jira_description();
        let errors: Vec<String> = validator
            .iter_errors(&fixture)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "fixture invalid: {errors:?}");
    }
}
