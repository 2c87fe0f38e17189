//! Markdown → Atlassian formats, for what the agent writes (issues, comments, pages).
//!
//! [`markdown_to_adf`] (Jira Cloud), [`markdown_to_wiki`] (Jira Data Center) and
//! [`markdown_to_storage`] (Confluence) share one parse: pulldown-cmark (CommonMark plus GFM
//! tables, strikethrough and task lists) drives an explicit stack that builds the small [`Block`]
//! / [`Inline`] tree below, and each writer renders that tree. Containers nested deeper than
//! [`MAX_NEST`] (quotes, lists) and spans deeper than [`MAX_SPAN_NEST`] are flattened into their
//! parent while parsing, so the writers may recurse freely. Raw HTML is kept as literal text;
//! images become links (no media is uploaded).

mod adf;
mod parse;
mod storage;
mod wiki;

#[cfg(test)]
mod tests;

pub(crate) use parse::parse;

/// Deepest nesting of block quotes and lists kept as structure; deeper content joins its parent.
pub(crate) const MAX_NEST: usize = 16;
/// Deepest nesting of emphasis, strong, strikethrough and link spans.
pub(crate) const MAX_SPAN_NEST: usize = 16;

/// Converts Markdown to an ADF document (`{"type":"doc","version":1,"content":[…]}`) for Jira
/// Cloud descriptions and comments.
///
/// The result validates against the ADF JSON schema for any input: constructs the schema does
/// not allow where they appear (a heading inside a list, a task list inside a quote, …) are
/// rewritten into allowed ones rather than dropped.
pub fn markdown_to_adf(md: &str) -> serde_json::Value {
    adf::render(&parse(md))
}

/// Converts Markdown to Jira wiki markup for Jira Server/Data Center text fields.
///
/// Literal characters that Jira would read as markup are backslash-escaped.
pub fn markdown_to_wiki(md: &str) -> String {
    wiki::render(&parse(md))
}

/// Converts Markdown to Confluence storage format (XHTML) for page bodies.
///
/// Code blocks become `code` macros, task lists `ac:task-list`s; all text is XML-escaped.
pub fn markdown_to_storage(md: &str) -> String {
    storage::render(&parse(md))
}

/// A block of the parsed document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    Paragraph(Vec<Inline>),
    Heading(u8, Vec<Inline>),
    /// A fenced or indented code block; `lang` is the first word of the info string.
    Code {
        lang: String,
        text: String,
    },
    Quote(Vec<Block>),
    List(List),
    Table(Table),
    Rule,
}

/// A list; `start` is `None` for bullet lists and the first number for ordered lists.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct List {
    pub start: Option<u64>,
    pub items: Vec<Item>,
}

/// A list item; `task` is `Some(done)` for GFM task items (`- [ ]` / `- [x]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Item {
    pub task: Option<bool>,
    pub blocks: Vec<Block>,
}

/// A GFM table: one header row, then body rows; every cell is inline content.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Table {
    pub header: Vec<Vec<Inline>>,
    pub rows: Vec<Vec<Vec<Inline>>>,
}

/// Inline content. Links always have content (the URL when the Markdown gave none).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Inline {
    Text(String),
    Code(String),
    Em(Vec<Inline>),
    Strong(Vec<Inline>),
    Strike(Vec<Inline>),
    Link {
        href: String,
        content: Vec<Inline>,
    },
    /// A hard line break.
    Break,
}

/// Whether an inline run has no visible content.
pub(crate) fn is_blank(inl: &[Inline]) -> bool {
    inl.iter().all(|i| match i {
        Inline::Text(t) => t.trim().is_empty(),
        Inline::Break => true,
        _ => false,
    })
}
