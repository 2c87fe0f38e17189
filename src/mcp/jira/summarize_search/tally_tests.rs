//! Unit tests of [`super::tally`]: totals, buckets (sorting, the unassigned / no-label / none
//! buckets, folding past 20 values), the three lists (instant order, ties by key number, the
//! cut at 10), and the date and argument parsers.

use time::Date;
use time::macros::date;

use super::tally::*;
use crate::atlassian::jira::{Issue, User};

const TODAY: Date = date!(2026 - 12 - 02);

#[allow(clippy::too_many_arguments)]
fn issue(
    key: &str,
    status: (&str, &str),
    assignee: Option<(&str, &str)>,
    priority: Option<&str>,
    labels: &[&str],
    due: Option<&str>,
    created: &str,
    updated: &str,
) -> Issue {
    Issue {
        key: key.to_string(),
        summary: Some(format!("Summary of {key}")),
        status: Some(status.0.to_string()),
        status_category: Some(status.1.to_string()),
        priority: priority.map(str::to_string),
        assignee: assignee.map(|(id, name)| User {
            id: Some(id.to_string()),
            display_name: Some(name.to_string()),
            email: None,
        }),
        labels: labels.iter().map(|l| (*l).to_string()).collect(),
        due: due.map(str::to_string),
        created: Some(created.to_string()),
        updated: Some(updated.to_string()),
        project_key: key.split('-').next().map(str::to_string),
        issue_type: Some("Task".to_string()),
        ..Issue::default()
    }
}

const TODO: (&str, &str) = ("To Do", "new");
const DOING: (&str, &str) = ("In Progress", "indeterminate");
const DONE: (&str, &str) = ("Done", "done");
const ANA: Option<(&str, &str)> = Some(("a1", "Ana"));
const BO: Option<(&str, &str)> = Some(("b2", "Bo"));

fn sample() -> Vec<Issue> {
    vec![
        // Overdue by 5 days, open.
        issue(
            "ENG-1",
            TODO,
            ANA,
            Some("High"),
            &["api", "search"],
            Some("2026-11-27"),
            "2026-10-01T09:00:00.000+0000",
            "2026-11-30T10:00:00.000+0000",
        ),
        // Due today: not overdue.
        issue(
            "ENG-2",
            DOING,
            None,
            Some("Medium"),
            &[],
            Some("2026-12-02"),
            "2026-10-05T09:00:00.000+0000",
            "2026-12-01T08:00:00.000+0000",
        ),
        // Past due but done: not overdue.
        issue(
            "ENG-10",
            DONE,
            BO,
            None,
            &["api"],
            Some("2026-11-01"),
            "2026-09-01T09:00:00.000+0000",
            "2026-11-02T10:00:00.000+0000",
        ),
        // Overdue by 1 day, unassigned; created earliest among the open ones in UTC
        // although its local date string is later (offset −1000).
        issue(
            "OPS-3",
            DOING,
            None,
            Some("High"),
            &["api", "api"],
            Some("2026-12-01"),
            "2026-09-30T20:00:00.000-1000",
            "2026-11-20T10:00:00.000+0000",
        ),
        // No due date, open, same display name as ENG-1's assignee but another person.
        issue(
            "ENG-9",
            TODO,
            Some(("a9", "Ana")),
            Some("High"),
            &["ux"],
            None,
            "2026-10-01T09:00:00.000+0000",
            "2026-11-30T10:00:00.000+0000",
        ),
    ]
}

fn run(issues: &[Issue], fields: &[GroupField]) -> Summary {
    let mut t = Tally::new(fields, TODAY);
    for i in issues {
        t.add(i);
    }
    t.finish()
}

fn bucket_pairs(s: &Summary, f: GroupField) -> Vec<(String, u64)> {
    s.groups
        .iter()
        .find(|(g, _)| *g == f)
        .map(|(_, b)| b.iter().map(|b| (b.value.clone(), b.count)).collect())
        .unwrap_or_default()
}

fn keys(list: &[IssueBrief]) -> Vec<&str> {
    list.iter().map(|i| i.key.as_str()).collect()
}

#[test]
fn totals_and_overdue() {
    let s = run(&sample(), &DEFAULT_FIELDS);
    assert_eq!(s.counted, 5);
    assert_eq!((s.open, s.done), (4, 1));
    assert_eq!(s.unassigned, 2);
    assert_eq!(s.overdue_count, 2);
    // Most overdue first: ENG-1 (due 11-27) before OPS-3 (due 12-01).
    assert_eq!(keys(&s.overdue), ["ENG-1", "OPS-3"]);
}

const DEFAULT_FIELDS: [GroupField; 3] = [
    GroupField::Status,
    GroupField::Assignee,
    GroupField::Priority,
];

#[test]
fn buckets_are_sorted_and_exact() {
    let s = run(&sample(), &GroupField::ALL);
    assert_eq!(
        bucket_pairs(&s, GroupField::Status),
        [
            ("In Progress".into(), 2),
            ("To Do".into(), 2),
            ("Done".into(), 1)
        ]
    );
    // Unassigned is a bucket; two people called Ana stay apart (by id).
    let assignee = s
        .groups
        .iter()
        .find(|(g, _)| *g == GroupField::Assignee)
        .unwrap();
    let pairs: Vec<(&str, u64, Option<&str>)> = assignee
        .1
        .iter()
        .map(|b| (b.value.as_str(), b.count, b.id.as_deref()))
        .collect();
    assert_eq!(
        pairs,
        [
            (UNASSIGNED, 2, None),
            ("Ana", 1, Some("a1")),
            ("Ana", 1, Some("a9")),
            ("Bo", 1, Some("b2"))
        ]
    );
    assert_eq!(
        bucket_pairs(&s, GroupField::Priority),
        [
            ("High".into(), 3),
            // Ties go by value; "(" sorts before letters.
            (NO_VALUE.into(), 1),
            ("Medium".into(), 1)
        ]
    );
    // An issue counts once per distinct label; no labels is its own bucket.
    assert_eq!(
        bucket_pairs(&s, GroupField::Label),
        [
            ("api".into(), 3),
            (NO_LABEL.into(), 1),
            ("search".into(), 1),
            ("ux".into(), 1)
        ]
    );
    assert_eq!(
        bucket_pairs(&s, GroupField::Project),
        [("ENG".into(), 4), ("OPS".into(), 1)]
    );
    // Every single-valued grouping adds up to the issues counted.
    for f in [
        GroupField::Status,
        GroupField::Assignee,
        GroupField::Priority,
        GroupField::Type,
        GroupField::Project,
    ] {
        let sum: u64 = bucket_pairs(&s, f).iter().map(|(_, c)| c).sum();
        assert_eq!(sum, s.counted, "{f:?}");
    }
}

#[test]
fn lists_are_ordered_by_instant_then_key() {
    let s = run(&sample(), &[]);
    assert!(s.groups.is_empty());
    // OPS-3 was created 2026-10-01T06:00Z, before ENG-1 and ENG-9 (09:00Z, a tie broken
    // by key number, 1 before 9); ENG-10 is done and not listed.
    assert_eq!(keys(&s.oldest_open), ["OPS-3", "ENG-1", "ENG-9", "ENG-2"]);
    // Newest first; ENG-1 and ENG-9 tie on updated and go by key.
    assert_eq!(
        keys(&s.recently_updated),
        ["ENG-2", "ENG-1", "ENG-9", "OPS-3", "ENG-10"]
    );
    let first = &s.oldest_open[0];
    assert_eq!(
        first.created.as_deref(),
        Some("2026-09-30"),
        "the date as Jira gave it"
    );
    assert_eq!(first.due.as_deref(), Some("2026-12-01"));
    assert_eq!(first.assignee, None);
}

#[test]
fn long_tails_fold_into_one_bucket_and_lists_stop_at_ten() {
    let many: Vec<Issue> = (1..=30)
        .map(|n| {
            let label = format!("l{n:02}");
            issue(
                &format!("X-{n}"),
                TODO,
                None,
                None,
                &[label.as_str()],
                Some("2026-01-01"),
                "2026-01-01T00:00:00.000+0000",
                "2026-01-01T00:00:00.000+0000",
            )
        })
        .collect();
    let s = run(&many, &[GroupField::Label]);
    let labels = bucket_pairs(&s, GroupField::Label);
    assert_eq!(labels.len(), MAX_BUCKETS);
    assert_eq!(labels[0], ("l01".to_string(), 1));
    assert_eq!(
        labels[MAX_BUCKETS - 1],
        ("(11 other values)".to_string(), 11)
    );
    assert_eq!(labels.iter().map(|(_, c)| c).sum::<u64>(), 30);
    assert_eq!(s.overdue_count, 30);
    assert_eq!(s.overdue.len(), LIST_LEN);
    // Equal due dates: key order, numerically.
    assert_eq!(s.overdue[9].key, "X-10");
}

#[test]
fn dates_and_fields_parse() {
    assert_eq!(parse_day("2026-11-20"), Some(date!(2026 - 11 - 20)));
    assert_eq!(
        parse_day("2026-11-20T10:00:00.000+0000"),
        Some(date!(2026 - 11 - 20))
    );
    assert_eq!(parse_day("soon"), None);
    let a = parse_timestamp("2026-11-20T10:15:30.000+0100").unwrap();
    let b = parse_timestamp("2026-11-20T09:15:30Z").unwrap();
    assert_eq!(a, b);
    assert!(parse_timestamp("2026-11-20T10:15:30+0000").is_some());
    assert!(parse_timestamp("yesterday").is_none());
    assert_eq!(GroupField::parse(" Labels "), Some(GroupField::Label));
    assert_eq!(GroupField::parse("issuetype"), Some(GroupField::Type));
    assert_eq!(GroupField::parse("issue-type"), Some(GroupField::Type));
    assert_eq!(GroupField::parse("colour"), None);
    for f in GroupField::ALL {
        assert_eq!(GroupField::parse(f.name()), Some(f));
    }
}
