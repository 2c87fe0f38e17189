//! Markdown tree → Confluence storage format (XHTML with `ac:` elements).
//!
//! Plain XHTML for paragraphs, headings, lists, quotes, tables and inline styles; code blocks
//! become the `code` macro with the text in CDATA (a `]]>` inside is split across two CDATA
//! sections); GFM task items become `ac:task-list`s (split from their ordinary siblings, as
//! Confluence has no mixed lists). Text and attribute values are XML-escaped, and characters
//! XML 1.0 forbids (most C0 controls) are dropped.

use super::{Block, Inline, Item, List, Table, is_blank};

/// Renders the document. See [`super::markdown_to_storage`].
pub(super) fn render(blocks: &[Block]) -> String {
    let mut out = String::new();
    blocks_into(blocks, &mut out);
    out
}

fn blocks_into(blocks: &[Block], out: &mut String) {
    for b in blocks {
        block(b, out);
    }
}

fn block(b: &Block, out: &mut String) {
    match b {
        Block::Paragraph(inl) => {
            if !is_blank(inl) {
                out.push_str("<p>");
                inlines(inl, false, out);
                out.push_str("</p>");
            }
        }
        Block::Heading(level, inl) => {
            if !is_blank(inl) {
                let level = (*level).clamp(1, 6);
                out.push_str(&format!("<h{level}>"));
                inlines(inl, false, out);
                out.push_str(&format!("</h{level}>"));
            }
        }
        Block::Code { lang, text } => code_macro(lang, text, out),
        Block::Quote(inner) => {
            out.push_str("<blockquote>");
            blocks_into(inner, out);
            out.push_str("</blockquote>");
        }
        Block::List(list) => list_into(list, out),
        Block::Table(t) => table(t, out),
        Block::Rule => out.push_str("<hr />"),
    }
}

fn code_macro(lang: &str, text: &str, out: &mut String) {
    out.push_str("<ac:structured-macro ac:name=\"code\">");
    if !lang.is_empty() {
        out.push_str("<ac:parameter ac:name=\"language\">");
        escape_into(lang, false, out);
        out.push_str("</ac:parameter>");
    }
    out.push_str("<ac:plain-text-body><![CDATA[");
    let body: String = text.chars().filter(|c| xml_char(*c)).collect();
    out.push_str(&body.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]></ac:plain-text-body></ac:structured-macro>");
}

/// Runs of task items become task lists, other runs `<ul>`/`<ol>` (numbering continues).
fn list_into(list: &List, out: &mut String) {
    let mut i = 0;
    while i < list.items.len() {
        let task = list.items[i].task.is_some();
        let mut j = i + 1;
        while j < list.items.len() && list.items[j].task.is_some() == task {
            j += 1;
        }
        let run = &list.items[i..j];
        if task {
            task_list(run, out);
        } else {
            let start = list.start.map(|s| s.saturating_add(i as u64));
            match start {
                None => out.push_str("<ul>"),
                Some(1) => out.push_str("<ol>"),
                Some(n) => out.push_str(&format!("<ol start=\"{n}\">")),
            }
            for item in run {
                out.push_str("<li>");
                item_body(item, out);
                out.push_str("</li>");
            }
            out.push_str(if start.is_some() { "</ol>" } else { "</ul>" });
        }
        i = j;
    }
}

/// An item's blocks; a lone first paragraph followed only by lists is written without `<p>`
/// (what Confluence's editor produces for simple lists).
fn item_body(item: &Item, out: &mut String) {
    match item.blocks.split_first() {
        Some((Block::Paragraph(inl), rest)) if rest.iter().all(|b| matches!(b, Block::List(_))) => {
            inlines(inl, false, out);
            blocks_into(rest, out);
        }
        _ => blocks_into(&item.blocks, out),
    }
}

/// Task items: leading paragraphs form the body (joined by line breaks), nested task lists
/// follow the task inside the list, other blocks go into the body after the text.
fn task_list(items: &[Item], out: &mut String) {
    out.push_str("<ac:task-list>");
    for item in items {
        let status = if item.task == Some(true) {
            "complete"
        } else {
            "incomplete"
        };
        out.push_str("<ac:task><ac:task-status>");
        out.push_str(status);
        out.push_str("</ac:task-status><ac:task-body>");
        let mut nested = Vec::new();
        let mut leading = true;
        let mut wrote_text = false;
        for b in &item.blocks {
            match b {
                Block::Paragraph(inl) if leading => {
                    if is_blank(inl) {
                        continue;
                    }
                    if wrote_text {
                        out.push_str("<br />");
                    }
                    inlines(inl, false, out);
                    wrote_text = true;
                }
                Block::List(l) if l.items.iter().all(|it| it.task.is_some()) => {
                    leading = false;
                    nested.push(l);
                }
                other => {
                    leading = false;
                    block(other, out);
                }
            }
        }
        out.push_str("</ac:task-body></ac:task>");
        for l in nested {
            task_list(&l.items, out);
        }
    }
    out.push_str("</ac:task-list>");
}

fn table(t: &Table, out: &mut String) {
    out.push_str("<table><tbody>");
    row(&t.header, "th", out);
    for r in &t.rows {
        row(r, "td", out);
    }
    out.push_str("</tbody></table>");
}

fn row(cells: &[Vec<Inline>], tag: &str, out: &mut String) {
    out.push_str("<tr>");
    for cell in cells {
        out.push_str(&format!("<{tag}>"));
        if !is_blank(cell) {
            out.push_str("<p>");
            inlines(cell, false, out);
            out.push_str("</p>");
        }
        out.push_str(&format!("</{tag}>"));
    }
    out.push_str("</tr>");
}

/// Writes inline content; `in_link` suppresses nested `<a>` (an image inside a link).
fn inlines(inl: &[Inline], in_link: bool, out: &mut String) {
    for i in inl {
        match i {
            Inline::Text(t) => escape_into(t, false, out),
            Inline::Code(t) => {
                out.push_str("<code>");
                escape_into(t, false, out);
                out.push_str("</code>");
            }
            Inline::Em(c) => wrap("em", c, in_link, out),
            Inline::Strong(c) => wrap("strong", c, in_link, out),
            Inline::Strike(c) => wrap("s", c, in_link, out),
            Inline::Link { href, content } if !in_link && !href.trim().is_empty() => {
                out.push_str("<a href=\"");
                escape_into(href.trim(), true, out);
                out.push_str("\">");
                inlines(content, true, out);
                out.push_str("</a>");
            }
            Inline::Link { content, .. } => inlines(content, in_link, out),
            Inline::Break => out.push_str("<br />"),
        }
    }
}

fn wrap(tag: &str, content: &[Inline], in_link: bool, out: &mut String) {
    out.push_str(&format!("<{tag}>"));
    inlines(content, in_link, out);
    out.push_str(&format!("</{tag}>"));
}

/// Characters allowed in XML 1.0 documents.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn escape_into(s: &str, attr: bool, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\n' | '\r' | '\t' if attr => out.push(' '),
            c if xml_char(c) => out.push(c),
            _ => {}
        }
    }
}
