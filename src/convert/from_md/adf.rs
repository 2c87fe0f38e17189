//! Markdown tree → Atlassian Document Format (Jira Cloud rich text).
//!
//! The ADF schema restricts what may nest where, so every block is rendered for a context:
//! the document top level allows everything; a `blockquote` allows only paragraphs, lists and
//! code blocks; a `listItem` only paragraphs, lists (bullet, ordered, task) and code blocks and
//! must start with a paragraph or code block; a `taskItem` holds inline nodes only. Constructs
//! not allowed in a context are rewritten: nested quotes are unwrapped, headings become bold
//! paragraphs, tables become one paragraph per row, rules a `---` paragraph, task items in a
//! quote `[ ]`/`[x]`-prefixed bullet items. Text with a `code` mark carries only a `link` mark
//! besides (the schema's rule), and no text node is ever empty.

use serde_json::{Map, Value, json};

use super::{Block, Inline, Item, List, Table, is_blank};

/// Renders the document. See [`super::markdown_to_adf`].
pub(super) fn render(blocks: &[Block]) -> Value {
    let mut w = Writer { next_id: 0 };
    let content = w.blocks(blocks, Ctx::Top);
    json!({"type": "doc", "version": 1, "content": content})
}

/// Where a block is being placed.
#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Top,
    Quote,
    Item,
}

/// Output of a task list: task nodes (`taskItem`, nested `taskList`) and blocks that had to be
/// moved out of the list because a `taskList` cannot hold them.
enum Seg {
    Task(Value),
    Other(Value),
}

struct Writer {
    next_id: u64,
}

impl Writer {
    /// A fresh `localId` (UUID-shaped, deterministic).
    fn local_id(&mut self) -> String {
        self.next_id += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.next_id)
    }

    fn blocks(&mut self, blocks: &[Block], ctx: Ctx) -> Vec<Value> {
        let mut out = Vec::new();
        for b in blocks {
            self.block(b, ctx, &mut out);
        }
        out
    }

    fn block(&mut self, block: &Block, ctx: Ctx, out: &mut Vec<Value>) {
        match block {
            Block::Paragraph(inl) => {
                if !is_blank(inl) {
                    out.push(paragraph(inlines(inl, &Marks::default())));
                }
            }
            Block::Heading(level, inl) => {
                if is_blank(inl) {
                    return;
                }
                if ctx == Ctx::Top {
                    out.push(json!({
                        "type": "heading",
                        "attrs": {"level": level.clamp(&1, &6)},
                        "content": inlines(inl, &Marks::default()),
                    }));
                } else {
                    let strong = Marks {
                        strong: true,
                        ..Marks::default()
                    };
                    out.push(paragraph(inlines(inl, &strong)));
                }
            }
            Block::Code { lang, text } => out.push(code_block(lang, text)),
            Block::Quote(inner) => match ctx {
                Ctx::Top => {
                    let content = self.blocks(inner, Ctx::Quote);
                    if !content.is_empty() {
                        out.push(json!({"type": "blockquote", "content": content}));
                    }
                }
                // Neither a blockquote nor a listItem may contain a blockquote: unwrap it.
                Ctx::Quote | Ctx::Item => out.extend(self.blocks(inner, ctx)),
            },
            Block::List(list) => self.list(list, ctx, out),
            Block::Table(t) if ctx == Ctx::Top => out.push(table(t)),
            Block::Table(t) => {
                for row in std::iter::once(&t.header).chain(&t.rows) {
                    let mut content = Vec::new();
                    for (n, cell) in row.iter().enumerate() {
                        if n > 0 {
                            push_text(&mut content, " | ", &Marks::default(), false);
                        }
                        content.extend(inlines(cell, &Marks::default()));
                    }
                    out.push(paragraph(content));
                }
            }
            Block::Rule if ctx == Ctx::Top => out.push(json!({"type": "rule"})),
            Block::Rule => out.push(paragraph(vec![text_node("---", &Marks::default(), false)])),
        }
    }

    /// A Markdown list becomes one ADF list per run of task / non-task items (ADF has no
    /// mixed lists); ordered runs keep their numbering.
    fn list(&mut self, list: &List, ctx: Ctx, out: &mut Vec<Value>) {
        let tasks_allowed = ctx != Ctx::Quote;
        let is_task = |item: &Item| tasks_allowed && item.task.is_some();
        let mut i = 0;
        while i < list.items.len() {
            let task = is_task(&list.items[i]);
            let mut j = i + 1;
            while j < list.items.len() && is_task(&list.items[j]) == task {
                j += 1;
            }
            let run = &list.items[i..j];
            if task {
                let segs = self.task_segs(run, ctx);
                out.extend(self.group(segs));
            } else {
                let content: Vec<Value> = run.iter().map(|it| self.list_item(it)).collect();
                out.push(match list.start {
                    None => json!({"type": "bulletList", "content": content}),
                    Some(start) => json!({
                        "type": "orderedList",
                        "attrs": {"order": start.saturating_add(i as u64)},
                        "content": content,
                    }),
                });
            }
            i = j;
        }
    }

    fn list_item(&mut self, item: &Item) -> Value {
        let mut content = self.blocks(&item.blocks, Ctx::Item);
        if let Some(done) = item.task {
            // A task item where task lists are not allowed: keep the checkbox as text.
            let mark = text_node(if done { "[x] " } else { "[ ] " }, &Marks::default(), false);
            match content.first_mut() {
                Some(first) if first["type"] == "paragraph" => {
                    if let Some(Value::Array(inl)) = first.get_mut("content") {
                        inl.insert(0, mark);
                    }
                }
                _ => content.insert(0, paragraph(vec![mark])),
            }
        }
        let starts_ok = content
            .first()
            .is_some_and(|b| b["type"] == "paragraph" || b["type"] == "codeBlock");
        if !starts_ok {
            content.insert(0, paragraph(Vec::new()));
        }
        json!({"type": "listItem", "content": content})
    }

    /// Task items: leading paragraphs become the item's inline content, nested task lists
    /// nest, anything else is moved out after the list (in order).
    fn task_segs(&mut self, items: &[Item], ctx: Ctx) -> Vec<Seg> {
        let mut segs = Vec::new();
        for item in items {
            let mut content: Vec<Value> = Vec::new();
            let mut rest = Vec::new();
            let mut leading = true;
            for b in &item.blocks {
                match b {
                    Block::Paragraph(inl) | Block::Heading(_, inl) if leading => {
                        if is_blank(inl) {
                            continue;
                        }
                        if !content.is_empty() {
                            content.push(json!({"type": "hardBreak"}));
                        }
                        content.extend(inlines(inl, &Marks::default()));
                    }
                    Block::List(l) if l.items.iter().all(|it| it.task.is_some()) => {
                        leading = false;
                        let nested = self.task_segs(&l.items, ctx);
                        rest.extend(self.group(nested).into_iter().map(|v| {
                            if v["type"] == "taskList" {
                                Seg::Task(v)
                            } else {
                                Seg::Other(v)
                            }
                        }));
                    }
                    other => {
                        leading = false;
                        let mut moved = Vec::new();
                        self.block(other, ctx, &mut moved);
                        rest.extend(moved.into_iter().map(Seg::Other));
                    }
                }
            }
            let state = if item.task == Some(true) {
                "DONE"
            } else {
                "TODO"
            };
            segs.push(Seg::Task(json!({
                "type": "taskItem",
                "attrs": {"localId": self.local_id(), "state": state},
                "content": content,
            })));
            segs.extend(rest);
        }
        segs
    }

    /// Groups consecutive task nodes into `taskList`s. A group must start with a `taskItem`;
    /// a nested list that would open one (after moved-out blocks) is unwrapped one level.
    fn group(&mut self, segs: Vec<Seg>) -> Vec<Value> {
        let mut out = Vec::new();
        let mut run: Vec<Value> = Vec::new();
        for seg in segs {
            match seg {
                Seg::Task(v) => {
                    if run.is_empty() && v["type"] == "taskList" {
                        run.extend(unwrap_task_list(v));
                    } else {
                        run.push(v);
                    }
                }
                Seg::Other(v) => {
                    self.close_run(&mut run, &mut out);
                    out.push(v);
                }
            }
        }
        self.close_run(&mut run, &mut out);
        out
    }

    fn close_run(&mut self, run: &mut Vec<Value>, out: &mut Vec<Value>) {
        if run.is_empty() {
            return;
        }
        out.push(json!({
            "type": "taskList",
            "attrs": {"localId": self.local_id()},
            "content": std::mem::take(run),
        }));
    }
}

/// The children of a `taskList`, unwrapping leading nested lists until a `taskItem` comes
/// first (bounded by the tree depth, which the parser caps).
fn unwrap_task_list(list: Value) -> Vec<Value> {
    let mut content = match list.get("content") {
        Some(Value::Array(c)) => c.clone(),
        _ => Vec::new(),
    };
    while content.first().is_some_and(|v| v["type"] == "taskList") {
        let first = content.remove(0);
        let inner = match first.get("content") {
            Some(Value::Array(c)) => c.clone(),
            _ => Vec::new(),
        };
        content.splice(0..0, inner);
    }
    content
}

fn paragraph(content: Vec<Value>) -> Value {
    json!({"type": "paragraph", "content": content})
}

fn code_block(lang: &str, text: &str) -> Value {
    let mut node = Map::new();
    node.insert("type".into(), json!("codeBlock"));
    if !lang.is_empty() {
        node.insert("attrs".into(), json!({"language": lang}));
    }
    let content = if text.is_empty() {
        Vec::new()
    } else {
        vec![json!({"type": "text", "text": text})]
    };
    node.insert("content".into(), Value::Array(content));
    Value::Object(node)
}

fn table(t: &Table) -> Value {
    let row = |cells: &[Vec<Inline>], kind: &str| {
        let cells: Vec<Value> = cells
            .iter()
            .map(|c| {
                json!({"type": kind, "attrs": {}, "content": [paragraph(inlines(c, &Marks::default()))]})
            })
            .collect();
        json!({"type": "tableRow", "content": cells})
    };
    let mut rows = vec![row(&t.header, "tableHeader")];
    rows.extend(t.rows.iter().map(|r| row(r, "tableCell")));
    json!({
        "type": "table",
        "attrs": {"isNumberColumnEnabled": false, "layout": "default"},
        "content": rows,
    })
}

/// The marks in effect for a run of text.
#[derive(Clone, Default, PartialEq)]
struct Marks {
    strong: bool,
    em: bool,
    strike: bool,
    link: Option<String>,
}

fn inlines(inl: &[Inline], marks: &Marks) -> Vec<Value> {
    let mut out = Vec::new();
    inlines_into(inl, marks, &mut out);
    out
}

fn inlines_into(inl: &[Inline], marks: &Marks, out: &mut Vec<Value>) {
    for i in inl {
        match i {
            Inline::Text(t) => push_text(out, t, marks, false),
            Inline::Code(t) => push_text(out, t, marks, true),
            Inline::Em(c) => inlines_into(
                c,
                &Marks {
                    em: true,
                    ..marks.clone()
                },
                out,
            ),
            Inline::Strong(c) => inlines_into(
                c,
                &Marks {
                    strong: true,
                    ..marks.clone()
                },
                out,
            ),
            Inline::Strike(c) => inlines_into(
                c,
                &Marks {
                    strike: true,
                    ..marks.clone()
                },
                out,
            ),
            // A link inside a link (an image in a link) keeps the outer target.
            Inline::Link { href, content } if marks.link.is_none() && !href.trim().is_empty() => {
                let linked = Marks {
                    link: Some(href.clone()),
                    ..marks.clone()
                };
                inlines_into(content, &linked, out);
            }
            Inline::Link { content, .. } => inlines_into(content, marks, out),
            Inline::Break => out.push(json!({"type": "hardBreak"})),
        }
    }
}

/// Appends text, merging it into the previous text node when the marks are the same.
fn push_text(out: &mut Vec<Value>, t: &str, marks: &Marks, code: bool) {
    if t.is_empty() {
        return;
    }
    let node = text_node(t, marks, code);
    if let Some(prev) = out.last_mut()
        && prev["type"] == "text"
        && prev.get("marks") == node.get("marks")
        && let Some(Value::String(s)) = prev.get_mut("text")
    {
        s.push_str(t);
        return;
    }
    out.push(node);
}

fn text_node(t: &str, marks: &Marks, code: bool) -> Value {
    let mut list = Vec::new();
    if code {
        list.push(json!({"type": "code"}));
    } else {
        if marks.strong {
            list.push(json!({"type": "strong"}));
        }
        if marks.em {
            list.push(json!({"type": "em"}));
        }
        if marks.strike {
            list.push(json!({"type": "strike"}));
        }
    }
    if let Some(href) = &marks.link {
        list.push(json!({"type": "link", "attrs": {"href": href}}));
    }
    if list.is_empty() {
        json!({"type": "text", "text": t})
    } else {
        json!({"type": "text", "text": t, "marks": list})
    }
}
