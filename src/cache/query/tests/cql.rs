//! Each CQL clause against the fixture pages (default order: most `~` matches, then most
//! recently modified — 102, 103, 101, 100, 104 when there are no words).

use super::{cql_err, cql_ok, keys, pages_db};

#[test]
fn empty_cql_is_every_page_most_recent_first() {
    let db = pages_db();
    assert_eq!(cql_ok(&db, ""), keys(&["102", "103", "101", "100", "104"]));
}

#[test]
fn space_type_labels_ancestry_and_ids() {
    let db = pages_db();
    assert_eq!(cql_ok(&db, "space = eng"), keys(&["103", "101", "100"]));
    assert_eq!(
        cql_ok(&db, "space.key = ENG and type = page"),
        keys(&["101", "100"])
    );
    assert_eq!(
        cql_ok(&db, r#"space in (OPS, "~demo")"#),
        keys(&["102", "104"])
    );
    assert_eq!(cql_ok(&db, "space = 98306"), keys(&["102"]));
    assert_eq!(cql_ok(&db, "space != ENG"), keys(&["102", "104"]));
    assert_eq!(cql_ok(&db, "type = blogpost"), keys(&["103"]));
    assert_eq!(cql_ok(&db, "type in (page, BlogPost)").len(), 5);
    assert_eq!(cql_ok(&db, "label = design"), keys(&["103", "100"]));
    assert_eq!(
        cql_ok(&db, "labels in (runbook, architecture)"),
        keys(&["101", "100"])
    );
    assert_eq!(cql_ok(&db, "label != design"), keys(&["101"]));
    assert_eq!(cql_ok(&db, "ancestor = 100"), keys(&["101"]));
    assert_eq!(cql_ok(&db, "parent = 100"), keys(&["101"]));
    assert_eq!(cql_ok(&db, "id = 101"), keys(&["101"]));
    assert_eq!(cql_ok(&db, "id > 101"), keys(&["102", "103", "104"]));
    assert_eq!(cql_ok(&db, "content in (100, 104)"), keys(&["100", "104"]));
    assert!(cql_err("id = abc").message.contains("page id"));
    assert!(
        cql_err("type = space")
            .message
            .contains("pages and blog posts")
    );
    assert_eq!(
        cql_err("type = comment OR space = ENG").clause,
        "type = comment"
    );
}

#[test]
fn title_and_text() {
    let db = pages_db();
    assert_eq!(cql_ok(&db, "title ~ runbook"), keys(&["101"]));
    assert_eq!(cql_ok(&db, r#"title ~ "arch*""#), keys(&["100"]));
    assert_eq!(cql_ok(&db, r#"title = "release RUNBOOK""#), keys(&["101"]));
    assert_eq!(cql_ok(&db, r#"title != "Scratch""#).len(), 4);
    assert_eq!(
        cql_ok(&db, r#"title in ("Scratch", "Weekly notes")"#),
        keys(&["103", "104"])
    );
    // Relevance before recency: 100 has the word four times, 102 (newer) once.
    assert_eq!(cql_ok(&db, "text ~ architecture"), keys(&["100", "102"]));
    assert_eq!(cql_ok(&db, "text ~ release"), keys(&["101", "102"]));
    assert_eq!(
        cql_ok(&db, r#"text ~ "release runbook""#),
        keys(&["101", "102"])
    );
    assert_eq!(
        cql_ok(&db, r#"text ~ "\"release runbook\"""#),
        keys(&["101", "102"])
    );
    assert_eq!(
        cql_ok(&db, r#"text ~ "\"runbook release\"""#),
        Vec::<String>::new()
    );
    assert_eq!(
        cql_ok(&db, "text !~ architecture"),
        keys(&["103", "101", "104"])
    );
    assert_eq!(
        cql_ok(&db, r#"text ~ "release" AND NOT space = OPS"#),
        keys(&["101"])
    );
    // A negated word does not count for relevance.
    assert_eq!(
        cql_ok(
            &db,
            "space = OPS OR text ~ bridge AND NOT text ~ architecture"
        ),
        keys(&["101", "102"])
    );
}

#[test]
fn dates_and_order_by() {
    let db = pages_db();
    assert_eq!(
        cql_ok(&db, r#"lastmodified > now("-1d")"#),
        keys(&["102", "103"])
    );
    assert_eq!(
        cql_ok(&db, r#"lastModified >= now("-1d")"#),
        keys(&["102", "103", "101"])
    );
    assert_eq!(
        cql_ok(&db, r#"lastmodified < "2026-11-01""#),
        keys(&["104"])
    );
    assert_eq!(
        cql_ok(&db, "lastmodified >= startOfDay()"),
        keys(&["102", "103"])
    );
    let cases = [
        ("ORDER BY title", ["100", "102", "101", "104", "103"]),
        ("order by title desc", ["103", "104", "101", "102", "100"]),
        (
            "ORDER BY lastmodified ASC",
            ["104", "100", "101", "103", "102"],
        ),
        ("ORDER BY id DESC", ["104", "103", "102", "101", "100"]),
        ("ORDER BY space, title", ["100", "101", "103", "102", "104"]),
        ("ORDER BY type DESC", ["102", "101", "100", "104", "103"]),
    ];
    for (q, want) in cases {
        assert_eq!(cql_ok(&db, q), keys(&want), "{q}");
    }
    assert_eq!(
        cql_ok(&db, "space = ENG ORDER BY lastmodified asc"),
        keys(&["100", "101", "103"])
    );
}

#[test]
fn unsupported_cql_is_named_exactly() {
    let cases = [
        (
            "space = ENG AND creator = currentUser()",
            "creator = currentUser()",
        ),
        ("created > now(\"-7d\")", "created > now(\"-7d\")"),
        ("space.type = global", "space.type = global"),
        (
            "mention = currentUser() OR title ~ x",
            "mention = currentUser()",
        ),
        ("type = page ORDER BY created DESC", "ORDER BY created DESC"),
        ("ORDER BY score", "ORDER BY score"),
        ("space = currentSpace()", "space = currentSpace()"),
        ("label ~ design", "label ~ design"),
        ("title ~ \"design OR notes\"", "title ~ \"design OR notes\""),
    ];
    for (q, clause) in cases {
        let e = cql_err(q);
        assert_eq!(e.clause, clause, "{q}: {e}");
    }
    assert!(cql_err("created > -1d").message.contains("not cached"));
}
