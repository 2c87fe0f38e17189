//! Confluence storage format (XHTML) → Markdown.

/// See [`super::storage_to_markdown`].
pub fn storage_to_markdown(xhtml: &str) -> String {
    crate::sanitize::clean_text(xhtml)
}
