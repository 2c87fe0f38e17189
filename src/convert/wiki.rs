//! Jira wiki markup → Markdown.

/// See [`super::wiki_to_markdown`].
pub fn wiki_to_markdown(wiki: &str) -> String {
    crate::sanitize::clean_text(wiki)
}
