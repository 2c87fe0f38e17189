//! pulldown-cmark events → the [`Block`]/[`Inline`] tree, with an explicit stack.
//!
//! Each open element is a [`Frame`]; closing one turns it into a finished value ([`Done`]) that
//! is attached to the frame below. Containers opened beyond [`MAX_NEST`] and spans beyond
//! [`MAX_SPAN_NEST`] get no frame: their content goes to the innermost kept frame (a counter
//! matches their end events), so the tree depth stays bounded whatever the input.

use pulldown_cmark::{CodeBlockKind, Event, LinkType, Options, Parser, Tag, TagEnd};

use super::{Block, Inline, Item, List, MAX_NEST, MAX_SPAN_NEST, Table};

#[derive(Clone, Copy, PartialEq)]
enum Span {
    Em,
    Strong,
    Strike,
}

/// Parser state: one frame per open element.
enum Frame {
    /// Document root, block quote or list item: blocks plus not-yet-wrapped inline content
    /// (tight list items carry their text without a paragraph).
    Container {
        item: Option<Option<bool>>,
        blocks: Vec<Block>,
        pending: Vec<Inline>,
    },
    List(List),
    Paragraph(Vec<Inline>),
    Heading(u8, Vec<Inline>),
    Code {
        lang: String,
        text: String,
    },
    Html(String),
    Table(Table),
    /// The table's header (`head`) or a body row.
    Row {
        head: bool,
        cells: Vec<Vec<Inline>>,
    },
    Cell(Vec<Inline>),
    Span(Span, Vec<Inline>),
    Link {
        href: String,
        content: Vec<Inline>,
    },
}

/// A finished frame, ready to be attached to its parent.
enum Done {
    Block(Block),
    Item(Item),
    Row { head: bool, cells: Vec<Vec<Inline>> },
    Cell(Vec<Inline>),
    Inline(Inline),
    Nothing,
}

/// Parses Markdown (CommonMark with GFM tables, strikethrough and task lists) into the
/// shared tree.
pub(crate) fn parse(md: &str) -> Vec<Block> {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut p = TreeBuilder {
        stack: vec![Frame::Container {
            item: None,
            blocks: Vec::new(),
            pending: Vec::new(),
        }],
        depth: 0,
        flat: 0,
        span_depth: 0,
        span_flat: 0,
    };
    for event in Parser::new_ext(md, options) {
        p.event(event);
    }
    while p.stack.len() > 1 {
        p.pop();
    }
    match p.stack.pop() {
        Some(Frame::Container {
            mut blocks,
            mut pending,
            ..
        }) => {
            flush(&mut pending, &mut blocks);
            blocks
        }
        _ => Vec::new(),
    }
}

struct TreeBuilder {
    stack: Vec<Frame>,
    /// Open quote and list frames.
    depth: usize,
    /// Open containers being flattened (always the innermost ones).
    flat: usize,
    /// Open span and link frames.
    span_depth: usize,
    /// Open spans being flattened.
    span_flat: usize,
}

impl TreeBuilder {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => self.inline(Inline::Text(t.to_string())),
            Event::Code(t) => self.inline(Inline::Code(t.to_string())),
            // Inline HTML may span lines; as literal text its line ends are soft breaks.
            Event::InlineMath(t) | Event::DisplayMath(t) | Event::InlineHtml(t) => {
                self.inline(Inline::Text(t.replace(['\r', '\n'], " ")))
            }
            Event::Html(t) => match self.stack.last_mut() {
                Some(Frame::Html(buf)) => buf.push_str(&t),
                _ => self.inline(Inline::Text(t.to_string())),
            },
            Event::FootnoteReference(t) => self.inline(Inline::Text(format!("[^{t}]"))),
            Event::SoftBreak => self.inline(Inline::Text(" ".to_string())),
            Event::HardBreak => self.inline(Inline::Break),
            Event::Rule => self.block(Block::Rule),
            Event::TaskListMarker(done) => self.task_marker(done),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        let frame = match tag {
            Tag::Paragraph => Frame::Paragraph(Vec::new()),
            Tag::Heading { level, .. } => Frame::Heading(level as u8, Vec::new()),
            Tag::CodeBlock(kind) => Frame::Code {
                lang: match kind {
                    CodeBlockKind::Fenced(info) => {
                        info.split_whitespace().next().unwrap_or("").to_string()
                    }
                    CodeBlockKind::Indented => String::new(),
                },
                text: String::new(),
            },
            Tag::HtmlBlock => Frame::Html(String::new()),
            Tag::BlockQuote(_) | Tag::List(_) if self.flat > 0 || self.depth >= MAX_NEST => {
                self.flat += 1;
                self.flush_pending();
                return;
            }
            Tag::Item if self.flat > 0 => {
                self.flat += 1;
                self.flush_pending();
                return;
            }
            Tag::BlockQuote(_) => {
                self.depth += 1;
                Frame::Container {
                    item: None,
                    blocks: Vec::new(),
                    pending: Vec::new(),
                }
            }
            Tag::List(start) => {
                self.depth += 1;
                Frame::List(List {
                    start,
                    items: Vec::new(),
                })
            }
            Tag::Item => Frame::Container {
                item: Some(None),
                blocks: Vec::new(),
                pending: Vec::new(),
            },
            Tag::Table(_) => Frame::Table(Table::default()),
            Tag::TableHead => Frame::Row {
                head: true,
                cells: Vec::new(),
            },
            Tag::TableRow => Frame::Row {
                head: false,
                cells: Vec::new(),
            },
            Tag::TableCell => Frame::Cell(Vec::new()),
            Tag::Emphasis
            | Tag::Strong
            | Tag::Strikethrough
            | Tag::Link { .. }
            | Tag::Image { .. }
                if self.span_flat > 0 || self.span_depth >= MAX_SPAN_NEST =>
            {
                self.span_flat += 1;
                return;
            }
            Tag::Emphasis => self.span(Frame::Span(Span::Em, Vec::new())),
            Tag::Strong => self.span(Frame::Span(Span::Strong, Vec::new())),
            Tag::Strikethrough => self.span(Frame::Span(Span::Strike, Vec::new())),
            Tag::Link {
                link_type,
                dest_url,
                ..
            }
            | Tag::Image {
                link_type,
                dest_url,
                ..
            } => {
                let href = if link_type == LinkType::Email && !dest_url.starts_with("mailto:") {
                    format!("mailto:{dest_url}")
                } else {
                    dest_url.to_string()
                };
                self.span(Frame::Link {
                    href,
                    content: Vec::new(),
                })
            }
            // Not enabled (footnotes, definition lists, metadata, sub/superscript): their
            // content simply joins the enclosing element.
            _ => return,
        };
        self.stack.push(frame);
    }

    fn span(&mut self, frame: Frame) -> Frame {
        self.span_depth += 1;
        frame
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::BlockQuote(_) | TagEnd::List(_) | TagEnd::Item if self.flat > 0 => {
                self.flat -= 1;
                self.flush_pending();
            }
            TagEnd::BlockQuote(_) | TagEnd::List(_) => {
                self.depth = self.depth.saturating_sub(1);
                self.pop();
            }
            TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Link
            | TagEnd::Image
                if self.span_flat > 0 =>
            {
                self.span_flat -= 1;
            }
            TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Link
            | TagEnd::Image => {
                self.span_depth = self.span_depth.saturating_sub(1);
                self.pop();
            }
            TagEnd::Paragraph
            | TagEnd::Heading(_)
            | TagEnd::CodeBlock
            | TagEnd::HtmlBlock
            | TagEnd::Item
            | TagEnd::Table
            | TagEnd::TableHead
            | TagEnd::TableRow
            | TagEnd::TableCell => self.pop(),
            _ => {}
        }
    }

    /// Closes the innermost frame and attaches the result to its parent.
    fn pop(&mut self) {
        if self.stack.len() <= 1 {
            return;
        }
        let Some(frame) = self.stack.pop() else {
            return;
        };
        match finish(frame) {
            Done::Block(b) => self.block(b),
            Done::Inline(i) => self.inline(i),
            Done::Item(item) => match self.stack.last_mut() {
                Some(Frame::List(list)) => list.items.push(item),
                _ => {
                    for b in item.blocks {
                        self.block(b);
                    }
                }
            },
            Done::Row { head, cells } => match self.stack.last_mut() {
                Some(Frame::Table(t)) if head => t.header = cells,
                Some(Frame::Table(t)) => t.rows.push(cells),
                _ => {}
            },
            Done::Cell(inl) => match self.stack.last_mut() {
                Some(Frame::Row { cells, .. }) => cells.push(inl),
                _ => {
                    for i in inl {
                        self.inline(i);
                    }
                }
            },
            Done::Nothing => {}
        }
    }

    /// Adds a finished block to the innermost container.
    fn block(&mut self, b: Block) {
        if let Some(Frame::Container {
            blocks, pending, ..
        }) = self.stack.last_mut()
        {
            flush(pending, blocks);
            blocks.push(b);
        }
    }

    fn inline(&mut self, i: Inline) {
        let target = match self.stack.last_mut() {
            Some(Frame::Container { pending, .. }) => pending,
            Some(
                Frame::Paragraph(v)
                | Frame::Heading(_, v)
                | Frame::Cell(v)
                | Frame::Span(_, v)
                | Frame::Link { content: v, .. },
            ) => v,
            Some(Frame::Code { text, .. }) => {
                if let Inline::Text(t) = i {
                    text.push_str(&t);
                }
                return;
            }
            Some(Frame::Html(buf)) => {
                if let Inline::Text(t) = i {
                    buf.push_str(&t);
                }
                return;
            }
            _ => return,
        };
        push_inline(target, i);
    }

    fn task_marker(&mut self, done: bool) {
        if self.flat == 0 {
            let n = self.stack.len();
            for idx in [n.wrapping_sub(1), n.wrapping_sub(2)] {
                if let Some(Frame::Container {
                    item: Some(task @ None),
                    ..
                }) = self.stack.get_mut(idx)
                {
                    *task = Some(done);
                    return;
                }
            }
        }
        let mark = if done { "[x] " } else { "[ ] " };
        self.inline(Inline::Text(mark.to_string()));
    }

    /// Wraps the innermost container's loose inline content into a paragraph.
    fn flush_pending(&mut self) {
        if let Some(Frame::Container {
            blocks, pending, ..
        }) = self.stack.last_mut()
        {
            flush(pending, blocks);
        }
    }
}

/// Appends an inline, merging adjacent text.
fn push_inline(target: &mut Vec<Inline>, i: Inline) {
    if let (Some(Inline::Text(prev)), Inline::Text(t)) = (target.last_mut(), &i) {
        prev.push_str(t);
        return;
    }
    target.push(i);
}

fn flush(pending: &mut Vec<Inline>, blocks: &mut Vec<Block>) {
    if !pending.is_empty() {
        blocks.push(Block::Paragraph(std::mem::take(pending)));
    }
}

fn finish(frame: Frame) -> Done {
    match frame {
        Frame::Container {
            item,
            mut blocks,
            mut pending,
        } => {
            flush(&mut pending, &mut blocks);
            match item {
                Some(task) => Done::Item(Item { task, blocks }),
                None => Done::Block(Block::Quote(blocks)),
            }
        }
        Frame::List(list) => Done::Block(Block::List(list)),
        Frame::Paragraph(inl) => Done::Block(Block::Paragraph(inl)),
        Frame::Heading(level, inl) => Done::Block(Block::Heading(level.clamp(1, 6), inl)),
        Frame::Code { lang, mut text } => {
            if text.ends_with('\n') {
                text.pop();
            }
            Done::Block(Block::Code { lang, text })
        }
        Frame::Html(raw) => {
            let mut inl = Vec::new();
            for line in raw.trim_end_matches(['\n', '\r']).lines() {
                if !inl.is_empty() {
                    inl.push(Inline::Break);
                }
                if !line.is_empty() {
                    inl.push(Inline::Text(line.to_string()));
                }
            }
            Done::Block(Block::Paragraph(inl))
        }
        Frame::Table(t) => Done::Block(Block::Table(t)),
        Frame::Row { head, cells } => Done::Row { head, cells },
        Frame::Cell(inl) => Done::Cell(inl),
        Frame::Span(_, inl) if inl.is_empty() => Done::Nothing,
        Frame::Span(kind, inl) => Done::Inline(match kind {
            Span::Em => Inline::Em(inl),
            Span::Strong => Inline::Strong(inl),
            Span::Strike => Inline::Strike(inl),
        }),
        Frame::Link { href, content } => {
            let content = if content.is_empty() {
                if href.is_empty() {
                    return Done::Nothing;
                }
                vec![Inline::Text(href.clone())]
            } else {
                content
            };
            Done::Inline(Inline::Link { href, content })
        }
    }
}
