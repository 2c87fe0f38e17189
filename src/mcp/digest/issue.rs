//! The Jira issue digest (pure): the essentials, the description trimmed to `max_words` at
//! sentence boundaries, the latest comments (each a few dozen words) and the notable changes
//! (status, assignee, priority) from the changelog.

use std::fmt::Write as _;

use rmcp::schemars;
use serde::Serialize;

use super::TableDigest;
use super::blocks::{self, Block, Kind};
use super::text;
use crate::atlassian::jira::{Change, Comments, IssueDetail, User};
use crate::mcp::render::one_line;

/// How many of the latest comments a digest shows.
pub const COMMENT_LIMIT: u32 = 3;

/// Words kept of each comment (whole sentences; a longer first sentence is cut at a word).
pub const COMMENT_WORDS: usize = 40;

/// How many notable changes a digest shows (the latest ones).
pub const CHANGE_LIMIT: usize = 5;

/// Changelog fields worth a line in a digest.
const NOTABLE_FIELDS: [&str; 3] = ["status", "assignee", "priority"];

/// A link to another issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LinkDigest {
    /// Relation from this issue, e.g. `blocks`.
    pub relation: String,
    /// The other issue's key.
    pub key: String,
    /// The other issue's status.
    pub status: Option<String>,
}

/// The description, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DescriptionDigest {
    /// The description's prose (headings, paragraphs, `- ` list items) as plain text, cut to
    /// `max_words` at a sentence boundary; a heading appears only with some of its text, and a
    /// first sentence longer than the budget is cut at a word, ending in `…`. Code blocks and
    /// tables are left out of it.
    pub text: String,
    /// Words in `text`.
    pub words: usize,
    /// Words in the whole description's prose.
    pub total_words: usize,
    /// True when `text` is shorter than the description's prose.
    pub trimmed: bool,
    /// Tables in the description, by header row and row count.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableDigest>,
    /// Code blocks in the description (not part of `text`).
    #[serde(skip_serializing_if = "is_zero")]
    pub code_blocks: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One of the latest comments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CommentDigest {
    /// Who wrote it.
    pub author: String,
    /// When (YYYY-MM-DD).
    pub date: Option<String>,
    /// Its prose, cut to a few dozen words at a sentence boundary.
    pub text: String,
    /// True when `text` is shorter than the comment.
    pub trimmed: bool,
}

/// A notable change from the issue's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ChangeDigest {
    /// When (YYYY-MM-DD).
    pub date: Option<String>,
    /// Who made the change.
    pub author: String,
    /// `status`, `assignee` or `priority`.
    pub field: String,
    /// The value before (null: none).
    pub from: Option<String>,
    /// The value after (null: none).
    pub to: Option<String>,
}

/// Everything a reader needs to know about an issue at a glance, built locally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct IssueDigest {
    /// Issue key.
    pub key: String,
    /// Link for people.
    pub url: String,
    /// Summary (title).
    pub summary: String,
    /// Issue type.
    #[serde(rename = "type")]
    pub issue_type: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Status category: new, indeterminate, done.
    pub status_category: Option<String>,
    /// Priority.
    pub priority: Option<String>,
    /// Assignee (null: unassigned).
    pub assignee: Option<String>,
    /// Reporter.
    pub reporter: Option<String>,
    /// Created (YYYY-MM-DD).
    pub created: Option<String>,
    /// Last updated (YYYY-MM-DD).
    pub updated: Option<String>,
    /// Due date (YYYY-MM-DD).
    pub due: Option<String>,
    /// Resolution.
    pub resolution: Option<String>,
    /// Project key.
    pub project: Option<String>,
    /// Parent issue key.
    pub parent: Option<String>,
    /// Sub-task keys.
    pub subtasks: Vec<String>,
    /// Links to other issues.
    pub links: Vec<LinkDigest>,
    /// Labels.
    pub labels: Vec<String>,
    /// Components.
    pub components: Vec<String>,
    /// The description, trimmed to `max_words`.
    pub description: DescriptionDigest,
    /// The latest comments, oldest first.
    pub comments: Vec<CommentDigest>,
    /// Comments on the issue in all.
    pub comment_total: Option<u64>,
    /// The latest status, assignee and priority changes, oldest first.
    pub changes: Vec<ChangeDigest>,
}

fn label(u: &Option<User>) -> Option<String> {
    u.as_ref().map(User::label)
}

fn day(ts: &Option<String>) -> Option<String> {
    ts.as_deref().and_then(text::iso_day)
}

/// Builds the digest. `visible` says whether a related issue key may be shown (policy: links
/// into projects outside the allowlist would leak).
pub fn build(
    detail: &IssueDetail,
    comments: &Comments,
    url: String,
    max_words: usize,
    visible: impl Fn(&str) -> bool,
) -> IssueDigest {
    let issue = &detail.issue;
    IssueDigest {
        key: issue.key.clone(),
        url,
        summary: issue.summary.clone().unwrap_or_default(),
        issue_type: issue.issue_type.clone(),
        status: issue.status.clone(),
        status_category: issue.status_category.clone(),
        priority: issue.priority.clone(),
        assignee: label(&issue.assignee),
        reporter: label(&issue.reporter),
        created: day(&issue.created),
        updated: day(&issue.updated),
        due: day(&issue.due),
        resolution: issue.resolution.clone(),
        project: issue.project_key.clone(),
        parent: issue.parent.clone().filter(|p| visible(p)),
        subtasks: issue
            .subtasks
            .iter()
            .filter(|k| visible(k))
            .cloned()
            .collect(),
        links: issue
            .links
            .iter()
            .filter(|l| visible(&l.key))
            .map(|l| LinkDigest {
                relation: l.relation.clone(),
                key: l.key.clone(),
                status: l.status.clone(),
            })
            .collect(),
        labels: issue.labels.clone(),
        components: issue.components.clone(),
        description: description(
            &issue
                .description
                .as_ref()
                .map(|d| d.to_markdown())
                .unwrap_or_default(),
            max_words,
        ),
        comments: comments
            .comments
            .iter()
            .map(|c| {
                let md = c.body.as_ref().map(|b| b.to_markdown()).unwrap_or_default();
                let units: Vec<String> = blocks::blocks(&md)
                    .into_iter()
                    .filter(Block::is_prose)
                    .flat_map(|b| b.units)
                    .collect();
                let taken = text::take_units(&units, COMMENT_WORDS, 0, true);
                CommentDigest {
                    author: label(&c.author).unwrap_or_else(|| "unknown".to_string()),
                    date: day(&c.created),
                    text: text::join_units(&taken.units),
                    trimmed: !taken.complete,
                }
            })
            .collect(),
        comment_total: comments.total,
        changes: changes(&detail.changelog),
    }
}

/// The description's prose trimmed to `max_words`, with its tables and code blocks counted.
pub fn description(markdown: &str, max_words: usize) -> DescriptionDigest {
    let blocks = blocks::blocks(markdown);
    let total_words = blocks
        .iter()
        .filter(|b| b.is_prose())
        .map(Block::words)
        .sum();
    let (kept, words, complete) = text::trim(&blocks, max_words);
    let mut heading: Option<String> = None;
    let mut tables = Vec::new();
    let mut code_blocks = 0;
    for b in &blocks {
        match &b.kind {
            Kind::Heading(_) => heading = b.units.first().cloned(),
            Kind::Table(t) => tables.push(TableDigest {
                section: heading.clone(),
                header: t.header.clone(),
                rows: t.rows,
            }),
            Kind::Code => code_blocks += 1,
            _ => {}
        }
    }
    DescriptionDigest {
        text: text::render(&kept),
        words,
        total_words,
        trimmed: !complete,
        tables,
        code_blocks,
    }
}

/// The latest notable changes, oldest first.
fn changes(changelog: &[Change]) -> Vec<ChangeDigest> {
    let mut history: Vec<&Change> = changelog.iter().collect();
    // Cloud and Data Center order histories differently; timestamps from one site share a
    // format and offset, so they sort as text.
    history.sort_by(|a, b| a.created.cmp(&b.created));
    let mut out: Vec<ChangeDigest> = history
        .iter()
        .flat_map(|c| {
            c.items
                .iter()
                .filter(|(field, _, _)| {
                    NOTABLE_FIELDS.contains(&field.to_ascii_lowercase().as_str())
                })
                .map(|(field, from, to)| ChangeDigest {
                    date: day(&c.created),
                    author: label(&c.author).unwrap_or_else(|| "unknown".to_string()),
                    field: field.to_ascii_lowercase(),
                    from: from.clone(),
                    to: to.clone(),
                })
        })
        .collect();
    let skip = out.len().saturating_sub(CHANGE_LIMIT);
    out.drain(..skip);
    out
}

impl IssueDigest {
    /// Compact text for the model.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".to_string());
        let _ = writeln!(
            out,
            "{} · {} · {} · {} — {}",
            self.key,
            dash(&self.issue_type),
            dash(&self.status),
            dash(&self.priority),
            one_line(&self.summary)
        );
        let mut facts = vec![
            format!(
                "Assignee: {}",
                self.assignee.as_deref().unwrap_or("unassigned")
            ),
            format!("Reporter: {}", dash(&self.reporter)),
        ];
        for (name, value) in [
            ("Created", &self.created),
            ("Updated", &self.updated),
            ("Due", &self.due),
            ("Resolution", &self.resolution),
        ] {
            if let Some(v) = value {
                facts.push(format!("{name} {v}"));
            }
        }
        let _ = writeln!(out, "{}", facts.join(" · "));
        let mut extras = Vec::new();
        if !self.labels.is_empty() {
            extras.push(format!("Labels: {}", self.labels.join(", ")));
        }
        if !self.components.is_empty() {
            extras.push(format!("Components: {}", self.components.join(", ")));
        }
        if let Some(p) = &self.parent {
            extras.push(format!("Parent: {p}"));
        }
        if !self.subtasks.is_empty() {
            extras.push(format!("Sub-tasks: {}", self.subtasks.join(", ")));
        }
        if !self.links.is_empty() {
            let links: Vec<String> = self
                .links
                .iter()
                .map(|l| format!("{} {} ({})", l.relation, l.key, dash(&l.status)))
                .collect();
            extras.push(format!("Links: {}", links.join(", ")));
        }
        if !extras.is_empty() {
            let _ = writeln!(out, "{}", extras.join(" · "));
        }
        let _ = writeln!(out, "URL: {}", self.url);
        let d = &self.description;
        if d.total_words > 0 {
            let of = if d.trimmed {
                format!("{} of {} words, cut at a sentence", d.words, d.total_words)
            } else {
                format!("{} words", d.words)
            };
            let _ = writeln!(out, "Description ({of}):\n{}", d.text);
        } else {
            let _ = writeln!(out, "Description: none");
        }
        for t in &d.tables {
            let _ = writeln!(out, "Table: {}", t.line());
        }
        if d.code_blocks > 0 {
            let _ = writeln!(out, "Code blocks: {}", d.code_blocks);
        }
        if !self.comments.is_empty() {
            let total = self
                .comment_total
                .map(|t| format!(" (latest {} of {t})", self.comments.len()))
                .unwrap_or_default();
            let _ = writeln!(out, "Comments{total}:");
            for c in &self.comments {
                let _ = writeln!(
                    out,
                    "- {} {}: {}",
                    c.date.as_deref().unwrap_or("-"),
                    c.author,
                    c.text
                );
            }
        }
        if !self.changes.is_empty() {
            let _ = writeln!(out, "Changes:");
            for c in &self.changes {
                let _ = writeln!(
                    out,
                    "- {} {}: {} {} → {}",
                    c.date.as_deref().unwrap_or("-"),
                    c.author,
                    c.field,
                    c.from.as_deref().unwrap_or("none"),
                    c.to.as_deref().unwrap_or("none")
                );
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "issue_tests.rs"]
mod tests;
