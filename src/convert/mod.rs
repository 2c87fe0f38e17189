//! Rich-text conversion: Atlassian formats → Markdown for the model to read.
//!
//! - [`adf_to_markdown`]: Atlassian Document Format (Jira Cloud descriptions and comments).
//! - [`storage_to_markdown`]: Confluence storage format (XHTML with `ac:`/`ri:` elements).
//! - [`wiki_to_markdown`]: Jira Server/Data Center wiki markup.
//!
//! All converters are total: any input (including malformed or hostile input) produces some
//! Markdown and never panics; unknown constructs degrade to their text instead of vanishing.
//! Output is already passed through [`crate::sanitize::clean_text`]. Nesting deeper than 64
//! levels is flattened to text, so hostile input cannot exhaust the stack.
//!
//! Rendering choices shared by all three: blocks are separated by one blank line; tables are
//! GFM tables whose first row is always the header row (merged cells: a `colspan` cell is
//! followed by empty cells, `rowspan` is ignored); line breaks inside cells become `<br>`;
//! panels and admonitions are quotes with a bold label (`> **Info:** …`); mentions are `@name`;
//! attachments and images are bracketed placeholders (`[attachment: a.png]`, `[image: a.png]`).

mod adf;
mod md;
mod storage;
mod wiki;

/// Converts an ADF document (`{"type":"doc","version":1,"content":[…]}`) to Markdown.
///
/// Non-document input is accepted too: a string is returned as (cleaned) text, `null` gives an
/// empty string, an array is treated as a list of nodes.
pub fn adf_to_markdown(doc: &serde_json::Value) -> String {
    adf::adf_to_markdown(doc)
}

/// Converts Confluence storage-format XHTML to Markdown.
///
/// Tolerates what real pages contain: HTML named entities, unclosed or mismatched tags, bare
/// `&` and `<`; on an unrecoverable parse error the rest of the input is kept as tag-stripped text.
pub fn storage_to_markdown(xhtml: &str) -> String {
    storage::storage_to_markdown(xhtml)
}

/// Converts Jira wiki markup (Server/Data Center text fields) to Markdown.
///
/// Conservative: text that is not recognisably markup passes through (only minimally escaped).
pub fn wiki_to_markdown(wiki: &str) -> String {
    wiki::wiki_to_markdown(wiki)
}
