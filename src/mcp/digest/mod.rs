//! The deterministic digests behind `jira_summarize_issue` and `confluence_summarize_page`
//! (SPEC §5 "Summarize"): built locally from what Atlassian returned, with no model involved,
//! so they stand on their own when the client offers no sampling.
//!
//! - [`blocks`]: Markdown → top-level blocks with their prose units, tables by shape.
//! - [`text`]: words, sentences, trimming at sentence boundaries.
//! - [`issue`]: the issue digest (fields, trimmed description, latest comments, notable changes).
//! - [`page`]: the page digest (outline, word count, first paragraph per section, tables).
//!
//! `max_words` bounds only the main text (the description, the page's section text); metadata,
//! the outline and the comment list are bounded by their own small limits (SPEC §9).

pub mod blocks;
pub mod issue;
pub mod page;
pub mod text;

use rmcp::schemars;
use serde::Serialize;

/// `max_words` when the caller leaves it out.
pub const DEFAULT_MAX_WORDS: u32 = 150;

/// The largest `max_words` accepted: past this a summary is no longer a summary (read the
/// item with `jira_get_issue` / `confluence_get_page` instead).
pub const MAX_MAX_WORDS: u32 = 1000;

/// A table, summarized by its shape instead of its cells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TableDigest {
    /// The heading the table sits under, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// The header row's cells.
    pub header: Vec<String>,
    /// Rows below the header.
    pub rows: usize,
}

impl TableDigest {
    /// `Components: 3 rows × 2 columns (Module | Responsibility)`.
    pub fn line(&self) -> String {
        let place = self
            .section
            .as_deref()
            .map(|s| format!("{s}: "))
            .unwrap_or_default();
        format!(
            "{place}{} row{} × {} column{} ({})",
            self.rows,
            if self.rows == 1 { "" } else { "s" },
            self.header.len(),
            if self.header.len() == 1 { "" } else { "s" },
            self.header.join(" | ")
        )
    }
}
