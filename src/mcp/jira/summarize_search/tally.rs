//! The pure part of `jira_summarize_search`: counting issues by fields and picking the few
//! issues worth naming (overdue, oldest open, recently updated). No I/O and no clock: the
//! caller passes "today", so every number here is a function of the issues alone.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use rmcp::schemars;
use serde::Serialize;
use time::{Date, OffsetDateTime};

use crate::atlassian::jira::Issue;
use crate::mcp::jira::user_name;
use crate::mcp::render::{clip, day, one_line};

/// Bucket for issues with no assignee.
pub const UNASSIGNED: &str = "(unassigned)";
/// Bucket for issues with no labels.
pub const NO_LABEL: &str = "(no label)";
/// Bucket for issues with no value in a single-valued field (no priority, say).
pub const NO_VALUE: &str = "(none)";
/// Most buckets listed per field; the rest are folded into one "(N other values)" bucket so
/// that the counts still add up.
pub const MAX_BUCKETS: usize = 20;
/// Most issues named in each list.
pub const LIST_LEN: usize = 10;
/// Longest summary in a listed issue, in characters.
const SUMMARY_CHARS: usize = 100;

/// A field issues can be counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupField {
    /// Workflow status name.
    Status,
    /// Assignee (unassigned issues form their own bucket).
    Assignee,
    /// Priority name.
    Priority,
    /// Issue type name.
    Type,
    /// Project key.
    Project,
    /// Label (an issue counts once under each of its labels).
    Label,
}

impl GroupField {
    /// Every field, in the order the tool documents them.
    pub const ALL: [GroupField; 6] = [
        GroupField::Status,
        GroupField::Assignee,
        GroupField::Priority,
        GroupField::Type,
        GroupField::Project,
        GroupField::Label,
    ];

    /// The name used in arguments and in the output.
    pub fn name(self) -> &'static str {
        match self {
            GroupField::Status => "status",
            GroupField::Assignee => "assignee",
            GroupField::Priority => "priority",
            GroupField::Type => "type",
            GroupField::Project => "project",
            GroupField::Label => "label",
        }
    }

    /// Reads an argument value, forgiving case, plurals and Jira's own field ids
    /// (`issuetype`, `labels`).
    pub fn parse(raw: &str) -> Option<Self> {
        let v = raw.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Some(match v.as_str() {
            "status" | "statuses" => GroupField::Status,
            "assignee" | "assignees" => GroupField::Assignee,
            "priority" | "priorities" => GroupField::Priority,
            "type" | "types" | "issuetype" | "issue_type" => GroupField::Type,
            "project" | "projects" => GroupField::Project,
            "label" | "labels" => GroupField::Label,
            _ => return None,
        })
    }

    /// The Jira field the search must return for this grouping (status and assignee are
    /// always fetched).
    pub fn jira_field(self) -> &'static str {
        match self {
            GroupField::Status => "status",
            GroupField::Assignee => "assignee",
            GroupField::Priority => "priority",
            GroupField::Type => "issuetype",
            GroupField::Project => "project",
            GroupField::Label => "labels",
        }
    }
}

/// One value of a field and how many counted issues have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Bucket {
    /// The value: a name, a project key, a label, or `(unassigned)` / `(no label)` / `(none)`.
    pub value: String,
    /// Counted issues with this value.
    pub count: u64,
    /// The assignee's account id (Cloud) or username (Data Center), for JQL follow-ups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// A compact issue row for the lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct IssueBrief {
    /// Issue key.
    pub key: String,
    /// Summary, clipped.
    pub summary: String,
    /// Status name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Assignee display name (absent when unassigned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Due date, `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// Created, `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Last updated, `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
}

/// What the counted issues add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Issues counted.
    pub counted: u64,
    /// Counted issues whose status is not in the `done` category.
    pub open: u64,
    /// Counted issues whose status is in the `done` category.
    pub done: u64,
    /// Counted issues with no assignee.
    pub unassigned: u64,
    /// Counted issues that are overdue (all of them, not only the listed ones).
    pub overdue_count: u64,
    /// Buckets per requested field, in the order requested.
    pub groups: Vec<(GroupField, Vec<Bucket>)>,
    /// Overdue issues, most overdue first.
    pub overdue: Vec<IssueBrief>,
    /// Open issues, oldest created first.
    pub oldest_open: Vec<IssueBrief>,
    /// Issues of any status, most recently updated first.
    pub recently_updated: Vec<IssueBrief>,
}

/// One counted issue, kept only as far as the lists need it.
#[derive(Debug)]
struct Seen {
    brief: IssueBrief,
    key_order: (String, u64),
    open: bool,
    due: Option<Date>,
    created: Option<OffsetDateTime>,
    updated: Option<OffsetDateTime>,
}

/// Counts issues one at a time; [`Tally::finish`] sorts and trims.
#[derive(Debug)]
pub struct Tally {
    fields: Vec<GroupField>,
    today: Date,
    /// Per field: bucket identity → the bucket.
    counts: Vec<HashMap<String, Bucket>>,
    summary: Summary,
    seen: Vec<Seen>,
}

impl Tally {
    /// A tally grouping by `fields` (in that order), with "overdue" meaning a due date
    /// before `today`.
    pub fn new(fields: &[GroupField], today: Date) -> Self {
        Self {
            fields: fields.to_vec(),
            today,
            counts: vec![HashMap::new(); fields.len()],
            summary: Summary::default(),
            seen: Vec::new(),
        }
    }

    /// Issues counted so far.
    pub fn counted(&self) -> u64 {
        self.summary.counted
    }

    /// Counts one issue (the caller removes duplicates and issues policy hides).
    pub fn add(&mut self, issue: &Issue) {
        let s = &mut self.summary;
        s.counted += 1;
        let open = issue.status_category.as_deref() != Some("done");
        if open {
            s.open += 1;
        } else {
            s.done += 1;
        }
        if issue.assignee.is_none() {
            s.unassigned += 1;
        }
        let due = issue.due.as_deref().and_then(parse_day);
        if open && due.is_some_and(|d| d < self.today) {
            s.overdue_count += 1;
        }
        for (field, counts) in self.fields.iter().zip(self.counts.iter_mut()) {
            for (identity, value, id) in values(*field, issue) {
                counts
                    .entry(identity)
                    .or_insert(Bucket {
                        value,
                        count: 0,
                        id,
                    })
                    .count += 1;
            }
        }
        self.seen.push(Seen {
            brief: IssueBrief {
                key: issue.key.clone(),
                summary: clip(
                    &one_line(issue.summary.as_deref().unwrap_or("")),
                    SUMMARY_CHARS,
                ),
                status: issue.status.clone(),
                assignee: user_name(&issue.assignee),
                due: issue.due.as_deref().map(|d| day(d).to_string()),
                created: issue.created.as_deref().map(|d| day(d).to_string()),
                updated: issue.updated.as_deref().map(|d| day(d).to_string()),
            },
            key_order: key_order(&issue.key),
            open,
            due,
            created: issue.created.as_deref().and_then(parse_timestamp),
            updated: issue.updated.as_deref().and_then(parse_timestamp),
        });
    }

    /// The counts, buckets sorted (count descending, then value) and the three lists.
    pub fn finish(self) -> Summary {
        let mut summary = self.summary;
        summary.groups = self
            .fields
            .iter()
            .zip(self.counts)
            .map(|(field, counts)| (*field, buckets(counts)))
            .collect();
        let today = self.today;
        let seen = self.seen;
        summary.overdue = pick(
            &seen,
            |s| s.open && s.due.is_some_and(|d| d < today),
            |a, b| a.due.cmp(&b.due),
        );
        summary.oldest_open = pick(&seen, |s| s.open, |a, b| none_last(a.created, b.created));
        summary.recently_updated = pick(&seen, |_| true, |a, b| newest_first(a.updated, b.updated));
        summary
    }
}

/// The bucket identities, labels and ids an issue counts under for one field.
fn values(field: GroupField, issue: &Issue) -> Vec<(String, String, Option<String>)> {
    let single = |v: &Option<String>| {
        let label = v.clone().unwrap_or_else(|| NO_VALUE.to_string());
        vec![(label.clone(), label, None)]
    };
    match field {
        GroupField::Status => single(&issue.status),
        GroupField::Priority => single(&issue.priority),
        GroupField::Type => single(&issue.issue_type),
        GroupField::Project => single(&issue.project_key),
        GroupField::Assignee => match &issue.assignee {
            None => vec![(UNASSIGNED.to_string(), UNASSIGNED.to_string(), None)],
            Some(u) => {
                let label = u.label();
                // Two people may share a display name: their ids keep them apart.
                let identity = u.id.clone().unwrap_or_else(|| label.clone());
                vec![(format!("id:{identity}"), label, u.id.clone())]
            }
        },
        GroupField::Label => {
            if issue.labels.is_empty() {
                return vec![(NO_LABEL.to_string(), NO_LABEL.to_string(), None)];
            }
            let mut once = HashSet::new();
            issue
                .labels
                .iter()
                .filter(|l| once.insert(l.as_str()))
                .map(|l| (l.clone(), l.clone(), None))
                .collect()
        }
    }
}

/// Sorts buckets by count (largest first), then value, and folds the tail past
/// [`MAX_BUCKETS`] into one bucket so the counts still add up.
fn buckets(counts: HashMap<String, Bucket>) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = counts.into_values().collect();
    out.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.value.to_lowercase().cmp(&b.value.to_lowercase()))
            .then_with(|| a.value.cmp(&b.value))
            .then_with(|| a.id.cmp(&b.id))
    });
    if out.len() > MAX_BUCKETS {
        let rest = out.split_off(MAX_BUCKETS - 1);
        out.push(Bucket {
            value: format!("({} other values)", rest.len()),
            count: rest.iter().map(|b| b.count).sum(),
            id: None,
        });
    }
    out
}

/// The first [`LIST_LEN`] issues passing `keep`, ordered by `order` and then by key.
fn pick(
    seen: &[Seen],
    keep: impl Fn(&Seen) -> bool,
    order: impl Fn(&Seen, &Seen) -> Ordering,
) -> Vec<IssueBrief> {
    let mut kept: Vec<&Seen> = seen.iter().filter(|s| keep(s)).collect();
    kept.sort_by(|a, b| order(a, b).then_with(|| a.key_order.cmp(&b.key_order)));
    kept.into_iter()
        .take(LIST_LEN)
        .map(|s| s.brief.clone())
        .collect()
}

/// Ascending order with missing values last.
fn none_last<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Descending order with missing values last.
fn newest_first<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => b.cmp(&a),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// `ENG-42` → (`ENG`, 42), so ENG-9 sorts before ENG-10.
fn key_order(key: &str) -> (String, u64) {
    match key.rsplit_once('-') {
        Some((p, n)) => (p.to_string(), n.parse().unwrap_or(u64::MAX)),
        None => (key.to_string(), u64::MAX),
    }
}

/// A Jira date (`2026-11-20`, or the date part of a timestamp).
pub fn parse_day(s: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(day(s.trim()), format).ok()
}

/// A Jira timestamp: `2026-11-20T10:15:30.000+0000` (Jira's own form, no colon in the
/// offset), or RFC 3339.
pub fn parse_timestamp(s: &str) -> Option<OffsetDateTime> {
    let jira = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory][offset_minute]"
    );
    let jira_no_fraction = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory][offset_minute]"
    );
    let s = s.trim();
    OffsetDateTime::parse(s, jira)
        .or_else(|_| OffsetDateTime::parse(s, jira_no_fraction))
        .or_else(|_| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339))
        .ok()
}
