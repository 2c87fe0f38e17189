//! Tests of the issue digest ([`super`]): fields, links under policy, trimming, comments, changes.

use super::*;
use crate::atlassian::jira::{Comment, Issue, IssueLink, RichText};

fn user(name: &str) -> Option<User> {
    Some(User {
        id: Some(format!("id-{name}")),
        display_name: Some(name.to_string()),
        email: None,
    })
}

fn change(at: &str, who: &str, field: &str, from: &str, to: &str) -> Change {
    Change {
        author: user(who),
        created: Some(at.to_string()),
        items: vec![(
            field.to_string(),
            Some(from.to_string()),
            Some(to.to_string()),
        )],
    }
}

#[test]
fn digest_of_an_issue() {
    let detail = IssueDetail {
        issue: Issue {
            key: "ENG-7".into(),
            summary: Some("Fix paging".into()),
            status: Some("In Review".into()),
            assignee: user("Ann"),
            reporter: user("Bo"),
            created: Some("2026-10-01T09:00:00.000+0000".into()),
            due: Some("2026-12-01".into()),
            parent: Some("SEC-1".into()),
            subtasks: vec!["ENG-8".into(), "SEC-2".into()],
            links: vec![IssueLink {
                relation: "blocks".into(),
                key: "ENG-9".into(),
                summary: Some("x".into()),
                status: Some("To Do".into()),
            }],
            description: Some(RichText::Wiki(
                "h2. Goal\nOne two three. Four five six.\n\n{code}let x = 1;{code}\n\n||A||B||\n|1|2|"
                    .into(),
            )),
            ..Issue::default()
        },
        changelog: vec![
            change("2026-11-02T10:00:00.000+0000", "Ann", "status", "To Do", "In Progress"),
            change("2026-10-02T10:00:00.000+0000", "Bo", "assignee", "Bo", "Ann"),
            change("2026-11-03T10:00:00.000+0000", "Ann", "labels", "", "x"),
        ],
        transitions: vec![],
    };
    let comments = Comments {
        comments: vec![Comment {
            id: Some("1".into()),
            author: user("Cy"),
            created: Some("2026-11-04T08:00:00.000+0000".into()),
            body: Some(RichText::Wiki(
                "Short first. Then a very long second sentence that goes on and on with many many words to exceed the limit of forty words that a comment is allowed to keep in a digest, which it surely does by now, given how very long it keeps going."
                    .into(),
            )),
        }],
        total: Some(4),
    };
    let d = build(&detail, &comments, "u".into(), 5, |k| k.starts_with("ENG-"));
    assert_eq!(d.created.as_deref(), Some("2026-10-01"));
    assert_eq!(d.due.as_deref(), Some("2026-12-01"));
    assert_eq!(d.parent, None, "parent outside the allowlist is hidden");
    assert_eq!(d.subtasks, ["ENG-8"]);
    assert_eq!(d.links.len(), 1);
    assert_eq!(d.description.text, "Goal\nOne two three.");
    assert_eq!(d.description.words, 4);
    assert_eq!(d.description.total_words, 7);
    assert!(d.description.trimmed);
    assert_eq!(d.description.tables[0].header, ["A", "B"]);
    assert_eq!(d.description.tables[0].section.as_deref(), Some("Goal"));
    assert_eq!(d.description.code_blocks, 1);
    assert_eq!(d.comments[0].text, "Short first.");
    assert!(d.comments[0].trimmed);
    assert_eq!(d.comment_total, Some(4));
    // Sorted by time, labels left out.
    let fields: Vec<&str> = d.changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["assignee", "status"]);
    assert_eq!(d.changes[1].date.as_deref(), Some("2026-11-02"));
    assert_eq!(d.changes[1].author, "Ann");
    let text = d.render();
    assert!(
        text.contains("Description (4 of 7 words, cut at a sentence)"),
        "{text}"
    );
    assert!(text.contains("status To Do → In Progress"), "{text}");
}

#[test]
fn a_small_budget_shows_the_description_not_its_first_heading() {
    let md = "## Overview\n\nJira Cloud removed the old search endpoint. Every caller must move.\n\n### Goals\n\n- keep it small";
    let first = "Jira Cloud removed the old search endpoint.";
    let first_words: Vec<&str> = first.split_whitespace().collect();
    for max in 1..first_words.len() {
        let d = description(md, max);
        assert_eq!(
            d.text,
            format!("{}…", first_words[..max].join(" ")),
            "{max}"
        );
        assert_eq!(d.words, max);
        assert!(d.trimmed);
    }
    assert_eq!(description(md, first_words.len()).text, first);
    assert_eq!(
        description(md, first_words.len() + 1).text,
        format!("Overview\n{first}")
    );
    // A later heading whose body does not fit is left out.
    let d = description(md, 14);
    assert_eq!(d.text, format!("Overview\n{first} Every caller must move."));
    assert_eq!(d.words, 12);
}

#[test]
fn only_the_latest_changes_are_kept() {
    let log: Vec<Change> = (1..=8)
        .map(|i| {
            change(
                &format!("2026-11-0{i}T00:00:00.000+0000"),
                "A",
                "status",
                "a",
                &format!("s{i}"),
            )
        })
        .collect();
    let c = changes(&log);
    assert_eq!(c.len(), CHANGE_LIMIT);
    assert_eq!(c.last().and_then(|c| c.to.as_deref()), Some("s8"));
    assert_eq!(c[0].to.as_deref(), Some("s4"));
}
