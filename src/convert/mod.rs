//! Rich-text conversion: Atlassian formats → Markdown for the model to read.
//!
//! - [`adf_to_markdown`]: Atlassian Document Format (Jira Cloud descriptions and comments).
//! - [`storage_to_markdown`]: Confluence storage format (XHTML with `ac:`/`ri:` elements).
//! - [`wiki_to_markdown`]: Jira Server/Data Center wiki markup.
//!
//! All converters are total: any input (including malformed or hostile input) produces some
//! Markdown and never panics; unknown constructs degrade to their text instead of vanishing.

/// Converts an ADF document (`{"type":"doc","version":1,"content":[…]}`) to Markdown.
pub fn adf_to_markdown(doc: &serde_json::Value) -> String {
    let _ = doc;
    String::new()
}

/// Converts Confluence storage-format XHTML to Markdown.
pub fn storage_to_markdown(xhtml: &str) -> String {
    xhtml.to_string()
}

/// Converts Jira wiki markup (Server/Data Center text fields) to Markdown.
pub fn wiki_to_markdown(wiki: &str) -> String {
    wiki.to_string()
}
