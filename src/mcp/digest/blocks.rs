//! Markdown → top-level blocks with their prose split into units (pure), for the digests:
//! headings, paragraphs and quotes split into sentences, lists into items, tables reduced to
//! their shape, code blocks counted but not read. See [`super::text`] for what a word and a unit
//! are.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::text::{normalize, sentences, word_count};

/// A table's shape: what the digests report instead of its cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    /// The header row's cells (the first row; Markdown tables always have one).
    pub header: Vec<String>,
    /// Rows below the header.
    pub rows: usize,
    /// Words in all cells, header included.
    pub words: usize,
}

/// What a top-level block of Markdown is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A heading of this level (1–6).
    Heading(u8),
    /// A paragraph.
    Paragraph,
    /// A list (each item, nested ones too, is one unit).
    List,
    /// A block quote (panels and admonitions come out of the converters as quotes).
    Quote,
    /// A code block (not prose: no units).
    Code,
    /// A table (not prose: no units).
    Table(TableShape),
}

/// One top-level block with its prose split into units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// What the block is.
    pub kind: Kind,
    /// Sentences (paragraphs, quotes), items (lists) or the heading text, whitespace-normalized.
    pub units: Vec<String>,
}

impl Block {
    /// Words in the block's prose.
    pub fn words(&self) -> usize {
        self.units.iter().map(|u| word_count(u)).sum()
    }

    /// Whether the block holds prose (headings, paragraphs, lists, quotes).
    pub fn is_prose(&self) -> bool {
        !matches!(self.kind, Kind::Code | Kind::Table(_))
    }
}

/// The block being read at the top level.
struct Open {
    kind: Kind,
    /// Text slots: one per list item or quoted paragraph, or a single slot.
    slots: Vec<String>,
    /// Slots of the list items currently open (innermost last).
    items: Vec<usize>,
}

impl Open {
    fn new(kind: Kind) -> Self {
        Self {
            kind,
            slots: vec![String::new()],
            items: Vec::new(),
        }
    }

    fn push_text(&mut self, t: &str) {
        if self.items.is_empty() && self.slots.is_empty() {
            self.slots.push(String::new());
        }
        let slot = self
            .items
            .last()
            .copied()
            .unwrap_or(self.slots.len().saturating_sub(1));
        if let Some(s) = self.slots.get_mut(slot) {
            s.push_str(t);
        }
    }

    fn into_block(self) -> Block {
        let units = match self.kind {
            Kind::Heading(_) => vec![normalize(&self.slots.concat())],
            Kind::List => self.slots.iter().map(|s| normalize(s)).collect(),
            Kind::Paragraph | Kind::Quote => self.slots.iter().flat_map(|s| sentences(s)).collect(),
            Kind::Code | Kind::Table(_) => Vec::new(),
        };
        Block {
            kind: self.kind,
            units: units.into_iter().filter(|u| !u.is_empty()).collect(),
        }
    }
}

/// A table being read (tables can sit inside quotes and lists too).
#[derive(Default)]
struct OpenTable {
    header: Vec<String>,
    rows: usize,
    cell: String,
    in_head: bool,
    words: usize,
}

fn level(l: HeadingLevel) -> u8 {
    match l {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// Splits Markdown into top-level blocks, in order, each with its prose units.
///
/// Tables found inside other blocks are reported as blocks of their own right after the block
/// that holds them. Raw HTML is dropped (`<br>` becomes a space); link and image targets are
/// dropped, their text kept.
pub fn blocks(markdown: &str) -> Vec<Block> {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS | Options::ENABLE_STRIKETHROUGH;
    let mut out = Vec::new();
    let mut open: Option<Open> = None;
    let mut depth = 0usize;
    let mut code_depth = 0usize;
    let mut table: Option<OpenTable> = None;
    let mut tables_inside: Vec<Block> = Vec::new();
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Start(tag) => {
                if depth == 0 {
                    open = match &tag {
                        Tag::Heading { level: l, .. } => Some(Open::new(Kind::Heading(level(*l)))),
                        Tag::Paragraph => Some(Open::new(Kind::Paragraph)),
                        Tag::List(_) => {
                            let mut o = Open::new(Kind::List);
                            o.slots.clear();
                            Some(o)
                        }
                        Tag::BlockQuote(_) => {
                            let mut o = Open::new(Kind::Quote);
                            o.slots.clear();
                            Some(o)
                        }
                        Tag::CodeBlock(_) => Some(Open::new(Kind::Code)),
                        Tag::HtmlBlock | Tag::Table(_) => None,
                        _ => Some(Open::new(Kind::Paragraph)),
                    };
                }
                depth += 1;
                match tag {
                    Tag::CodeBlock(_) => code_depth += 1,
                    Tag::Table(_) => table = Some(OpenTable::default()),
                    Tag::TableHead => {
                        if let Some(t) = table.as_mut() {
                            t.in_head = true;
                        }
                    }
                    Tag::TableCell => {
                        if let Some(t) = table.as_mut() {
                            t.cell.clear();
                        }
                    }
                    Tag::Item => {
                        if let Some(o) = open.as_mut() {
                            o.slots.push(String::new());
                            o.items.push(o.slots.len() - 1);
                        }
                    }
                    Tag::Paragraph if depth > 1 && table.is_none() => {
                        if let Some(o) = open.as_mut() {
                            if o.items.is_empty() {
                                // A paragraph directly in a quote starts a new slot.
                                o.slots.push(String::new());
                            } else {
                                // A second paragraph in the same list item: keep them apart.
                                o.push_text(" ");
                            }
                        }
                    }
                    _ => {}
                }
            }
            Event::End(tag) => {
                depth = depth.saturating_sub(1);
                match tag {
                    TagEnd::CodeBlock => code_depth = code_depth.saturating_sub(1),
                    TagEnd::TableCell => {
                        if let Some(t) = table.as_mut() {
                            let cell = normalize(&t.cell);
                            t.words += word_count(&cell);
                            if t.in_head {
                                t.header.push(cell);
                            }
                        }
                    }
                    TagEnd::TableHead => {
                        if let Some(t) = table.as_mut() {
                            t.in_head = false;
                        }
                    }
                    TagEnd::TableRow => {
                        if let Some(t) = table.as_mut() {
                            t.rows += 1;
                        }
                    }
                    TagEnd::Table => {
                        if let Some(t) = table.take() {
                            let block = Block {
                                kind: Kind::Table(TableShape {
                                    header: t.header,
                                    rows: t.rows,
                                    words: t.words,
                                }),
                                units: Vec::new(),
                            };
                            if depth == 0 {
                                out.push(block);
                            } else {
                                tables_inside.push(block);
                            }
                        }
                    }
                    TagEnd::Item => {
                        if let Some(o) = open.as_mut() {
                            o.items.pop();
                        }
                    }
                    _ => {}
                }
                if depth == 0 {
                    if let Some(o) = open.take() {
                        out.push(o.into_block());
                    }
                    out.append(&mut tables_inside);
                }
            }
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                if let Some(tb) = table.as_mut() {
                    tb.cell.push_str(&t);
                } else if code_depth == 0
                    && let Some(o) = open.as_mut()
                {
                    o.push_text(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak | Event::InlineHtml(_) => {
                if let Some(tb) = table.as_mut() {
                    tb.cell.push(' ');
                } else if let Some(o) = open.as_mut() {
                    o.push_text(" ");
                }
            }
            _ => {}
        }
    }
    if let Some(o) = open.take() {
        out.push(o.into_block());
    }
    out.append(&mut tables_inside);
    out.retain(|b| !b.units.is_empty() || !b.is_prose());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::digest::text::render;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn blocks_read_headings_lists_quotes_tables_and_skip_code() {
        let md = "# Title\n\nFirst para. Second sentence.\n\n- item one\n- item two\n  - nested *three*\n\n> **Info:** Be careful. Really.\n\n```rust\nlet x = 1;\n```\n\n| A | B |\n|---|---|\n| 1 | two words |\n| 3 | 4 |\n\n- [ ] open task\n- [x] done task";
        let bs = blocks(md);
        let kinds: Vec<&Kind> = bs.iter().map(|b| &b.kind).collect();
        assert_eq!(kinds[0], &Kind::Heading(1));
        assert_eq!(bs[0].units, s(&["Title"]));
        assert_eq!(bs[1].units, s(&["First para.", "Second sentence."]));
        assert_eq!(bs[2].kind, Kind::List);
        assert_eq!(bs[2].units, s(&["item one", "item two", "nested three"]));
        assert_eq!(bs[3].kind, Kind::Quote);
        assert_eq!(bs[3].units, s(&["Info: Be careful.", "Really."]));
        assert_eq!(bs[4].kind, Kind::Code);
        assert_eq!(
            bs[5].kind,
            Kind::Table(TableShape {
                header: s(&["A", "B"]),
                rows: 2,
                words: 7
            })
        );
        // Task-list markers are not words.
        assert_eq!(bs[6].units, s(&["open task", "done task"]));
    }

    #[test]
    fn list_items_in_a_quote_stay_apart() {
        let bs =
            blocks("> **Lessons:**\n>\n> - watch the changelog\n> - test against 410\n>\n> Done.");
        assert_eq!(
            render(&bs),
            "Lessons: watch the changelog; test against 410; Done."
        );
        assert_eq!(bs[0].words(), 8);
    }

    #[test]
    fn a_table_inside_a_quote_is_still_reported() {
        let bs = blocks("> Panel text.\n>\n> | H |\n> |---|\n> | v |\n\nAfter.");
        assert_eq!(bs[0].kind, Kind::Quote);
        assert!(matches!(&bs[1].kind, Kind::Table(t) if t.rows == 1 && t.header == ["H"]));
        assert_eq!(bs[2].units, s(&["After."]));
    }
}
