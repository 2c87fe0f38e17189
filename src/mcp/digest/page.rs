//! The Confluence page digest (pure): title, space, version, last editor, the heading outline,
//! the word count, the first paragraph of each top-level section within `max_words`, and the
//! tables by header row and row count.
//!
//! **Top-level sections** start at the headings of the page's top level: the smallest heading
//! level used at least twice, or, when the smallest level is used once (a title heading), the
//! next level down. Text before the first heading is a section without a heading. A section's
//! **first paragraph** is its first prose block (paragraph, list or quote) that is not just a
//! placeholder such as `[image: …]`; sub-headings, code and tables are skipped.
//!
//! The budget is shared fairly: each section in turn may use the words left divided by the
//! sections left (so one long introduction cannot starve the rest), and may go past that share
//! for its first sentence when the whole budget still allows it.

use std::fmt::Write as _;

use rmcp::schemars;
use serde::Serialize;

use super::TableDigest;
use super::blocks::{self, Block, Kind};
use super::text;
use crate::mcp::render::one_line;

/// Headings listed in the outline at most.
pub const OUTLINE_MAX: usize = 100;

/// Tables listed at most.
pub const TABLES_MAX: usize = 30;

/// What the page read gives the digest besides its body.
#[derive(Debug, Clone, Default)]
pub struct PageFacts {
    /// Page id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Space key (or id when the key is unknown).
    pub space: Option<String>,
    /// Version number.
    pub version: Option<u64>,
    /// Who made the current version.
    pub last_editor: Option<String>,
    /// When the current version was made (any timestamp; shown as YYYY-MM-DD).
    pub last_edited: Option<String>,
    /// Link for people.
    pub url: Option<String>,
}

/// A heading in the outline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct HeadingDigest {
    /// Heading level, 1–6.
    pub level: u8,
    /// Heading text.
    pub text: String,
}

/// The opening text of one top-level section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SectionDigest {
    /// The section's heading (null: the text before the first heading).
    pub heading: Option<String>,
    /// The section's first paragraph (or list, `- ` per item), whole sentences within the budget.
    pub text: String,
}

/// Everything a reader needs to know about a page at a glance, built locally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PageDigest {
    /// Page id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Space key (or id when the key could not be looked up).
    pub space: Option<String>,
    /// Current version number.
    pub version: Option<u64>,
    /// Who made the current version (display name, or account id when the name is unknown).
    pub last_editor: Option<String>,
    /// When the current version was made (YYYY-MM-DD).
    pub last_edited: Option<String>,
    /// Link for people.
    pub url: Option<String>,
    /// Words on the page: headings, paragraphs, lists, quotes and table cells (code excluded).
    pub word_count: usize,
    /// Every heading in order (at most 100).
    pub outline: Vec<HeadingDigest>,
    /// The first paragraph of each top-level section, within `max_words`.
    pub sections: Vec<SectionDigest>,
    /// Words in `sections`.
    pub text_words: usize,
    /// True when a section's first paragraph was cut short or left out for the budget.
    pub trimmed: bool,
    /// Tables by the heading they sit under, header row and row count (at most 30).
    pub tables: Vec<TableDigest>,
    /// Code blocks on the page.
    pub code_blocks: usize,
}

/// The level top-level sections start at, if the page has headings.
fn top_level(levels: &[u8]) -> Option<u8> {
    let min = *levels.iter().min()?;
    if levels.iter().filter(|l| **l == min).count() >= 2 {
        return Some(min);
    }
    levels
        .iter()
        .filter(|l| **l > min)
        .min()
        .copied()
        .or(Some(min))
}

/// A paragraph that only holds converter placeholders (`[image: a.png]`).
fn placeholder_only(b: &Block) -> bool {
    b.kind == Kind::Paragraph
        && b.units
            .iter()
            .all(|u| u.starts_with('[') && u.ends_with(']'))
}

struct Section<'a> {
    heading: Option<String>,
    blocks: Vec<&'a Block>,
}

/// Builds the digest from the page's facts and its body as Markdown.
pub fn build(facts: PageFacts, markdown: &str, max_words: usize) -> PageDigest {
    let blocks = blocks::blocks(markdown);
    let levels: Vec<u8> = blocks
        .iter()
        .filter_map(|b| match b.kind {
            Kind::Heading(l) => Some(l),
            _ => None,
        })
        .collect();
    let top = top_level(&levels);

    let mut word_count = 0;
    let mut outline = Vec::new();
    let mut tables = Vec::new();
    let mut code_blocks = 0;
    let mut under: Option<String> = None;
    let mut sections: Vec<Section<'_>> = vec![Section {
        heading: None,
        blocks: Vec::new(),
    }];
    for b in &blocks {
        match &b.kind {
            Kind::Heading(l) => {
                let t = b.units.join(" ");
                word_count += b.words();
                if outline.len() < OUTLINE_MAX {
                    outline.push(HeadingDigest {
                        level: *l,
                        text: t.clone(),
                    });
                }
                under = Some(t.clone());
                if top.is_some_and(|top| *l <= top) {
                    sections.push(Section {
                        heading: Some(t),
                        blocks: Vec::new(),
                    });
                    continue;
                }
            }
            Kind::Table(shape) => {
                word_count += shape.words;
                if tables.len() < TABLES_MAX {
                    tables.push(TableDigest {
                        section: under.clone(),
                        header: shape.header.clone(),
                        rows: shape.rows,
                    });
                }
            }
            Kind::Code => code_blocks += 1,
            Kind::Paragraph | Kind::List | Kind::Quote => word_count += b.words(),
        }
        if let Some(s) = sections.last_mut() {
            s.blocks.push(b);
        }
    }

    // Each section's first paragraph, sharing the budget fairly.
    let candidates: Vec<(Option<String>, &Block)> = sections
        .into_iter()
        .filter_map(|s| {
            let first = s.blocks.into_iter().find(|b| {
                matches!(b.kind, Kind::Paragraph | Kind::List | Kind::Quote) && !placeholder_only(b)
            })?;
            Some((s.heading, first))
        })
        .collect();
    let mut remaining = max_words;
    let mut trimmed = false;
    let mut kept = Vec::new();
    let count = candidates.len();
    for (i, (heading, block)) in candidates.into_iter().enumerate() {
        let share = remaining.div_ceil(count - i);
        let taken = text::take_units(&block.units, share, remaining, kept.is_empty());
        remaining = remaining.saturating_sub(taken.words);
        trimmed |= !taken.complete;
        if !taken.units.is_empty() {
            kept.push(SectionDigest {
                heading,
                text: text::render(&[Block {
                    kind: block.kind.clone(),
                    units: taken.units,
                }]),
            });
        }
    }
    let text_words = max_words - remaining;

    PageDigest {
        id: facts.id,
        title: facts.title,
        space: facts.space,
        version: facts.version,
        last_editor: facts.last_editor,
        last_edited: facts.last_edited.as_deref().and_then(text::iso_day),
        url: facts.url,
        word_count,
        outline,
        sections: kept,
        text_words,
        trimmed,
        tables,
        code_blocks,
    }
}

impl PageDigest {
    /// Compact text for the model.
    pub fn render(&self) -> String {
        let mut out = format!("# {}\n", one_line(&self.title));
        let mut facts = vec![format!("Page {}", self.id)];
        if let Some(s) = &self.space {
            facts.push(format!("space {s}"));
        }
        if let Some(v) = self.version {
            facts.push(format!("v{v}"));
        }
        match (&self.last_edited, &self.last_editor) {
            (Some(d), Some(who)) => facts.push(format!("last edited {d} by {who}")),
            (Some(d), None) => facts.push(format!("last edited {d}")),
            (None, Some(who)) => facts.push(format!("last edited by {who}")),
            (None, None) => {}
        }
        facts.push(format!("{} words", self.word_count));
        let _ = writeln!(out, "{}", facts.join(" · "));
        if let Some(url) = &self.url {
            let _ = writeln!(out, "URL: {url}");
        }
        if !self.outline.is_empty() {
            let _ = writeln!(out, "Outline:");
            let top = self.outline.iter().map(|h| h.level).min().unwrap_or(1);
            for h in &self.outline {
                let indent = "  ".repeat(usize::from(h.level.saturating_sub(top)));
                let _ = writeln!(out, "{indent}- {}", h.text);
            }
        }
        for t in &self.tables {
            let _ = writeln!(out, "Table: {}", t.line());
        }
        if self.code_blocks > 0 {
            let _ = writeln!(out, "Code blocks: {}", self.code_blocks);
        }
        if !self.sections.is_empty() {
            let cut = if self.trimmed {
                ", some cut or left out for the word budget"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "Sections (first paragraph each, {} words{cut}):",
                self.text_words
            );
            for s in &self.sections {
                if let Some(h) = &s.heading {
                    let _ = writeln!(out, "[{h}]");
                }
                let _ = writeln!(out, "{}", s.text);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# Architecture\n\nThe bridge is one binary. It speaks MCP.\n\n## Components\n\n| Module | Role |\n|---|---|\n| mcp | tools |\n| audit | log |\n\n## Flow\n\n[image: flow.png]\n\n1. The model calls search.\n2. Results come back.\n\n### Detail\n\nDeep text here.\n\n```rust\nfn main() {}\n```\n";

    fn facts() -> PageFacts {
        PageFacts {
            id: "1".into(),
            title: "Architecture".into(),
            last_edited: Some("2026-11-16T06:00:00.000Z".into()),
            ..PageFacts::default()
        }
    }

    #[test]
    fn outline_tables_sections_and_word_count() {
        let d = build(facts(), PAGE, 150);
        let outline: Vec<(u8, &str)> = d
            .outline
            .iter()
            .map(|h| (h.level, h.text.as_str()))
            .collect();
        assert_eq!(
            outline,
            [
                (1, "Architecture"),
                (2, "Components"),
                (2, "Flow"),
                (3, "Detail")
            ]
        );
        assert_eq!(d.tables.len(), 1);
        assert_eq!(d.tables[0].header, ["Module", "Role"]);
        assert_eq!(d.tables[0].rows, 2);
        assert_eq!(d.tables[0].section.as_deref(), Some("Components"));
        assert_eq!(d.code_blocks, 1);
        // Headings 1+1+1+1, prose 5+3+2(image placeholder)+4+3+3, cells 2+4.
        assert_eq!(d.word_count, 4 + 5 + 3 + 2 + 4 + 3 + 3 + 6);
        // A lone h1 is the title: sections are the h2s; the h1 opens its own.
        let heads: Vec<Option<&str>> = d.sections.iter().map(|s| s.heading.as_deref()).collect();
        assert_eq!(heads, [Some("Architecture"), Some("Flow")]);
        assert_eq!(
            d.sections[0].text,
            "The bridge is one binary. It speaks MCP."
        );
        assert_eq!(
            d.sections[1].text,
            "- The model calls search.\n- Results come back."
        );
        assert_eq!(d.text_words, 8 + 7);
        assert!(!d.trimmed);
        assert_eq!(d.last_edited.as_deref(), Some("2026-11-16"));
    }

    #[test]
    fn the_budget_is_shared_and_never_exceeded() {
        let long = "Word one two three four five six seven eight. ".repeat(20);
        let md = format!("## A\n\n{long}\n\n## B\n\nShort b text here.\n\n## C\n\nShort c text.");
        for budget in [5usize, 12, 20, 40, 100] {
            let d = build(facts(), &md, budget);
            let shown: usize = d.sections.iter().map(|s| text::word_count(&s.text)).sum();
            assert_eq!(shown, d.text_words);
            assert!(d.text_words <= budget, "{budget}: {}", d.text_words);
            assert!(d.trimmed);
            for s in &d.sections {
                assert!(s.text.ends_with('.') || s.text.ends_with('…'), "{}", s.text);
            }
        }
        // With a modest budget the short sections still get their text.
        let d = build(facts(), &md, 30);
        let heads: Vec<Option<&str>> = d.sections.iter().map(|s| s.heading.as_deref()).collect();
        assert_eq!(heads, [Some("A"), Some("B"), Some("C")]);
    }

    #[test]
    fn no_section_is_listed_without_its_text() {
        for budget in 1..=20 {
            let d = build(facts(), PAGE, budget);
            assert!(!d.sections.is_empty(), "{budget}");
            assert_eq!(d.sections[0].heading.as_deref(), Some("Architecture"));
            for s in &d.sections {
                assert!(text::word_count(&s.text) > 0, "{budget}: {s:?}");
            }
            let shown: usize = d.sections.iter().map(|s| text::word_count(&s.text)).sum();
            assert_eq!(shown, d.text_words, "{budget}");
            assert!(shown <= budget, "{budget}");
        }
        // One word: the opening word of the first section, cut and marked.
        let d = build(facts(), PAGE, 1);
        assert_eq!(d.sections.len(), 1);
        assert_eq!(d.sections[0].text, "The…");
    }

    #[test]
    fn text_before_the_first_heading_is_its_own_section() {
        let d = build(
            facts(),
            "Intro words.\n\n## One\n\nBody one.\n\n## Two\n\nBody two.",
            50,
        );
        let heads: Vec<Option<&str>> = d.sections.iter().map(|s| s.heading.as_deref()).collect();
        assert_eq!(heads, [None, Some("One"), Some("Two")]);
        let d = build(facts(), "Just a paragraph. Nothing else.", 50);
        assert_eq!(d.sections.len(), 1);
        assert!(d.outline.is_empty());
    }

    #[test]
    fn from_storage_xhtml() {
        let storage = "<h1>Guide</h1><p>Read this first. It is short.</p>\
<h2>Setup</h2><table><colgroup><col /><col /></colgroup><tbody><tr><th><p>Step</p></th><th><p>Who</p></th></tr>\
<tr><td><p>install</p></td><td><p>ops</p></td></tr></tbody></table>\
<ac:structured-macro ac:name=\"info\"><ac:rich-text-body><p>Ask in chat.</p></ac:rich-text-body></ac:structured-macro>\
<h2>Run</h2><ac:structured-macro ac:name=\"code\"><ac:plain-text-body><![CDATA[cargo run -- serve]]></ac:plain-text-body></ac:structured-macro>\
<p>Then <strong>watch</strong> the log.</p>";
        let md = crate::convert::storage_to_markdown(storage);
        let d = build(facts(), &md, 150);
        let outline: Vec<&str> = d.outline.iter().map(|h| h.text.as_str()).collect();
        assert_eq!(outline, ["Guide", "Setup", "Run"], "{md}");
        assert_eq!(d.tables[0].header, ["Step", "Who"], "{md}");
        assert_eq!(d.tables[0].rows, 1);
        assert_eq!(d.code_blocks, 1, "{md}");
        let texts: Vec<&str> = d.sections.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Read this first. It is short.",
                "Info: Ask in chat.",
                "Then watch the log."
            ],
            "{md}"
        );
    }

    #[test]
    fn top_levels() {
        assert_eq!(top_level(&[]), None);
        assert_eq!(top_level(&[1, 2, 2]), Some(2));
        assert_eq!(top_level(&[1, 2, 1]), Some(1));
        assert_eq!(top_level(&[3]), Some(3));
        assert_eq!(top_level(&[2, 3, 3, 2]), Some(2));
    }
}
