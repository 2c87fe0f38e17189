//! JQL dates (relative to a fixed now), ORDER BY, and the clauses the cache refuses.

use super::{issues_db, jql_err, jql_ok, keys};

#[test]
fn absolute_and_relative_dates() {
    let db = issues_db();
    assert_eq!(
        jql_ok(&db, "created >= -7d"),
        keys(&["OPS-3", "OPS-4", "ENG-2"])
    );
    assert_eq!(
        jql_ok(&db, r#"created > "-1w""#),
        keys(&["OPS-3", "OPS-4", "ENG-2"])
    );
    assert_eq!(jql_ok(&db, "created < -2w"), keys(&["ENG-10"]));
    assert_eq!(jql_ok(&db, "updated > -1h"), keys(&["OPS-3"]));
    assert_eq!(jql_ok(&db, "updated >= -120m"), keys(&["OPS-3", "ENG-2"]));
    assert_eq!(
        jql_ok(&db, r#"createdDate < "2026-11-11""#),
        keys(&["ENG-10"])
    );
    assert_eq!(
        jql_ok(&db, "created < 2026/11/12"),
        keys(&["ENG-1", "ENG-10"])
    );
    assert_eq!(
        jql_ok(
            &db,
            r#"created >= "2026-11-20 10:00" AND created <= "2026-11-20 10:00""#
        ),
        keys(&["OPS-3"])
    );
    // Now is Saturday 10:00 UTC.
    assert_eq!(
        jql_ok(&db, "updated > startOfDay()"),
        keys(&["OPS-3", "ENG-2"])
    );
    assert_eq!(
        jql_ok(&db, "updated >= startOfDay(-1d)"),
        keys(&["OPS-3", "ENG-2", "ENG-1"])
    );
    assert_eq!(
        jql_ok(
            &db,
            r#"created >= startOfWeek() AND created < endOfDay("-1")"#
        ),
        keys(&["OPS-3", "OPS-4", "ENG-2"])
    );
    assert_eq!(
        jql_ok(&db, "created >= startOfWeek(1d)"),
        keys(&["OPS-3", "OPS-4"])
    );
    assert_eq!(
        jql_ok(&db, "created < startOfMonth()"),
        Vec::<String>::new()
    );
    // The offset applies after the start of the month is found (Jira's reading).
    assert_eq!(
        jql_ok(&db, "created < startOfMonth(+1d)"),
        keys(&["ENG-10"])
    );
    // Due dates are days (midnight UTC).
    assert_eq!(jql_ok(&db, "due < now()"), keys(&["OPS-3", "ENG-10"]));
    assert_eq!(jql_ok(&db, r#"duedate = "2026-11-25""#), keys(&["ENG-1"]));
    assert_eq!(
        jql_ok(&db, "due <= endOfWeek()"),
        keys(&["OPS-3", "ENG-10"])
    );
    assert_eq!(jql_ok(&db, "due > endOfWeek()"), keys(&["ENG-1"]));
    assert_eq!(jql_ok(&db, "due != 2026-11-25"), keys(&["OPS-3", "ENG-10"]));
    assert_eq!(
        jql_ok(&db, "due in (2026-11-25, 2026-11-01, EMPTY)"),
        keys(&["OPS-4", "ENG-2", "ENG-1", "ENG-10"])
    );
    assert!(
        jql_err("created > yesterday")
            .message
            .contains("not a date")
    );
    assert!(
        jql_err("created > startOfQuarter()")
            .message
            .contains("startOfQuarter")
    );
    assert!(jql_err("created < EMPTY").message.contains("IS EMPTY"));
}

#[test]
fn default_order_is_newest_created_then_key_descending() {
    let db = super::empty_db();
    let base = super::Issue {
        key: "",
        summary: "s",
        status: "To Do",
        category: "new",
        priority: None,
        issue_type: "Task",
        assignee: None,
        reporter: ("r", "R"),
        labels: &[],
        created: super::NOW,
        updated: super::NOW,
        due: None,
        resolution: None,
        parent: None,
        description: None,
        comments: None,
    };
    for key in ["A-2", "B-1", "A-10", "A-9"] {
        super::insert_issue(&db, &super::Issue { key, ..base });
    }
    assert_eq!(jql_ok(&db, ""), keys(&["B-1", "A-10", "A-9", "A-2"]));
    assert_eq!(
        jql_ok(&db, "order by key"),
        keys(&["A-2", "A-9", "A-10", "B-1"])
    );
    // Empty priorities sort last ascending, first descending.
    assert_eq!(
        jql_ok(&db, "order by priority desc"),
        keys(&["B-1", "A-10", "A-9", "A-2"])
    );
}

#[test]
fn order_by_each_field() {
    let db = issues_db();
    let cases = [
        (
            "ORDER BY key",
            ["ENG-1", "ENG-2", "ENG-10", "OPS-3", "OPS-4"],
        ),
        (
            "ORDER BY issuekey DESC",
            ["OPS-4", "OPS-3", "ENG-10", "ENG-2", "ENG-1"],
        ),
        (
            "ORDER BY created ASC",
            ["ENG-10", "ENG-1", "ENG-2", "OPS-4", "OPS-3"],
        ),
        (
            "ORDER BY updated desc",
            ["OPS-3", "ENG-2", "ENG-1", "OPS-4", "ENG-10"],
        ),
        // Highest first descending, like Jira.
        (
            "ORDER BY priority DESC",
            ["OPS-3", "ENG-1", "ENG-2", "OPS-4", "ENG-10"],
        ),
        (
            "ORDER BY priority",
            ["ENG-10", "OPS-4", "ENG-2", "ENG-1", "OPS-3"],
        ),
        // Empty due dates last ascending, first descending.
        (
            "ORDER BY due",
            ["ENG-10", "OPS-3", "ENG-1", "OPS-4", "ENG-2"],
        ),
        (
            "ORDER BY duedate DESC",
            ["OPS-4", "ENG-2", "ENG-1", "OPS-3", "ENG-10"],
        ),
        // Status by category (to do, in progress, done), then name; ties newest first.
        (
            "ORDER BY status",
            ["OPS-4", "ENG-1", "ENG-2", "OPS-3", "ENG-10"],
        ),
        (
            "ORDER BY statusCategory DESC",
            ["ENG-10", "OPS-3", "ENG-2", "OPS-4", "ENG-1"],
        ),
        (
            "ORDER BY summary",
            ["ENG-10", "ENG-1", "OPS-4", "ENG-2", "OPS-3"],
        ),
        (
            "ORDER BY assignee",
            ["ENG-2", "OPS-3", "ENG-1", "OPS-4", "ENG-10"],
        ),
        (
            "ORDER BY reporter DESC",
            ["ENG-10", "OPS-3", "ENG-2", "OPS-4", "ENG-1"],
        ),
        (
            "ORDER BY issuetype",
            ["ENG-1", "ENG-10", "OPS-4", "OPS-3", "ENG-2"],
        ),
        (
            "ORDER BY resolution DESC",
            ["OPS-3", "OPS-4", "ENG-2", "ENG-1", "ENG-10"],
        ),
        // Several fields.
        (
            "ORDER BY project ASC, priority DESC",
            ["ENG-1", "ENG-2", "ENG-10", "OPS-3", "OPS-4"],
        ),
        (
            "ORDER BY project DESC, created ASC",
            ["OPS-4", "OPS-3", "ENG-10", "ENG-1", "ENG-2"],
        ),
        (
            "order by statusCategory, key desc",
            ["OPS-4", "ENG-1", "OPS-3", "ENG-2", "ENG-10"],
        ),
    ];
    for (q, want) in cases {
        assert_eq!(jql_ok(&db, q), keys(&want), "{q}");
    }
    assert_eq!(
        jql_ok(&db, "project = ENG ORDER BY priority DESC"),
        keys(&["ENG-1", "ENG-2", "ENG-10"])
    );
}

#[test]
fn unsupported_clauses_are_named_exactly() {
    let cases = [
        (
            "project = ENG AND sprint in openSprints()",
            "sprint in openSprints()",
        ),
        ("fixVersion = 1.0 OR project = ENG", "fixVersion = 1.0"),
        ("cf[10010] = Platform", "cf[10010] = Platform"),
        (r#""Story Points" > 3"#, r#""Story Points" > 3"#),
        ("component in (UI, API)", "component in (UI, API)"),
        ("project = ENG ORDER BY rank", "ORDER BY rank"),
        ("status = Done order by created DESC, Rank ASC", "Rank ASC"),
        ("ORDER BY description", "ORDER BY description"),
        (
            "assignee in membersOf(\"devs\")",
            "assignee in membersOf(\"devs\")",
        ),
        (
            "issuetype in standardIssueTypes()",
            "issuetype in standardIssueTypes()",
        ),
        ("created > startOfQuarter()", "created > startOfQuarter()"),
        (
            r#"summary = "Rotate tokens""#,
            r#"summary = "Rotate tokens""#,
        ),
        ("status ~ done", "status ~ done"),
        ("created ~ 2026", "created ~ 2026"),
        ("status WAS Open", "status WAS Open"),
        ("NOT (status changed AFTER -1w)", "status changed AFTER -1w"),
        ("resolutiondate > -1d", "resolutiondate > -1d"),
        ("id = 10001", "id = 10001"),
    ];
    for (q, clause) in cases {
        let e = jql_err(q);
        assert_eq!(e.clause, clause, "{q}: {e}");
        assert_eq!(
            e.to_string(),
            format!("cannot evaluate `{clause}` offline: {}", e.message)
        );
    }
    assert!(jql_err("sprint = 5").message.contains("not cached"));
    assert!(jql_err("ORDER BY rank").message.contains("sort by key"));
}
