//! Hostile input never panics: unbalanced parentheses, unterminated quotes, huge and deeply
//! nested queries, random token soup. Whatever compiles also runs in SQLite.

use proptest::prelude::*;

use super::{cx, empty_db, issues_db, jql_err, jql_ok, pages_db, run};
use crate::cache::query::{compile_cql, compile_jql};

#[test]
fn unbalanced_and_unterminated_input_is_an_error() {
    for q in [
        "(",
        ")",
        "((project = ENG)",
        "project = ENG))",
        "project in (ENG",
        "summary ~ \"abc",
        "summary ~ 'abc",
        "summary ~ \"abc\\",
        "status = \"\\u12\"",
        "assignee = currentUser(",
        "created > startOfDay(\"-1d\"",
        "NOT",
        "project =",
        "ORDER BY",
        "!",
        "=",
        ",",
        "\"",
    ] {
        let e = jql_err(q);
        assert!(!e.clause.is_empty() || q.trim().is_empty(), "{q}: {e:?}");
        assert!(compile_cql(q, &cx()).is_err(), "{q}");
    }
}

#[test]
fn deep_nesting_is_capped() {
    let deep = format!("{}project = ENG{}", "(".repeat(1000), ")".repeat(1000));
    let e = jql_err(&deep);
    assert!(e.message.contains("nested"), "{e}");
    assert!(e.clause.chars().count() <= 201);
    let nots = format!("{}project = ENG", "NOT ".repeat(1000));
    assert!(jql_err(&nots).message.contains("nested"));
    let bangs = format!("{}project = ENG", "!".repeat(1000));
    assert!(jql_err(&bangs).message.contains("nested"));
    // Sixty levels are fine and run.
    let ok = format!("{}project = ENG{}", "(".repeat(60), ")".repeat(60));
    assert_eq!(jql_ok(&issues_db(), &ok).len(), 3);
}

#[test]
fn long_queries_compile_or_fail_cleanly() {
    let db = issues_db();
    // A 10k-character word is just a word.
    let long_word = format!("summary ~ \"{}\"", "a".repeat(10_000));
    assert_eq!(jql_ok(&db, &long_word), Vec::<String>::new());
    // 10k characters of clauses: too many for the cap, an error naming it.
    let many = vec!["status = Open"; 800].join(" OR ");
    assert!(many.len() > 10_000);
    assert!(jql_err(&many).message.contains("clauses"));
    // Up to the cap, chains compile and run within SQLite's limits.
    let chain = vec!["labels = backend"; 250].join(" OR ");
    assert_eq!(jql_ok(&db, &chain), super::keys(&["OPS-3", "ENG-2"]));
    let list = format!(
        "key in ({})",
        (1..=250)
            .map(|n| format!("ENG-{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_eq!(
        jql_ok(&db, &list),
        super::keys(&["ENG-2", "ENG-1", "ENG-10"])
    );
    // Past the byte cap.
    let huge = "x".repeat(40_000);
    assert!(jql_err(&huge).message.contains("longer than"));
    assert!(jql_err(&huge).clause.ends_with('…'));
}

#[test]
fn odd_unicode_does_not_panic() {
    for q in [
        "summary ~ \"é😀\u{0301}\"",
        "😀 = 😀",
        "status = \"\u{202e}evil\"",
        "summary ~ \"\0\"",
        "\u{feff}project = ENG",
        "project\u{00a0}= ENG",
    ] {
        let _ = compile_jql(q, &cx());
        let _ = compile_cql(q, &cx());
    }
}

/// Words the soup is made of: every field, operator, keyword, function and some junk.
const SOUP: &[&str] = &[
    "project",
    "key",
    "status",
    "statusCategory",
    "priority",
    "issuetype",
    "labels",
    "assignee",
    "reporter",
    "created",
    "updated",
    "due",
    "resolution",
    "parent",
    "summary",
    "description",
    "comment",
    "text",
    "space",
    "type",
    "title",
    "label",
    "ancestor",
    "id",
    "lastmodified",
    "sprint",
    "cf[1]",
    "=",
    "!=",
    "~",
    "!~",
    "<",
    "<=",
    ">",
    ">=",
    "IN",
    "NOT",
    "IS",
    "EMPTY",
    "NULL",
    "AND",
    "OR",
    "!",
    "&&",
    "||",
    "(",
    ")",
    ",",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "WAS",
    "CHANGED",
    "currentUser()",
    "now()",
    "startOfDay(-1d)",
    "endOfMonth(\"-1M\")",
    "startOfWeek(",
    "\"",
    "'",
    "\\",
    "ENG-1",
    "ENG",
    "-7d",
    "2026-12-01",
    "\"2026-12-01 09:30\"",
    "\"login*\"",
    "\"a OR b\"",
    "*",
    "?",
    "Unresolved",
    "page",
    "blogpost",
    "ENG-",
    "-",
    "&",
    "|",
    "😀",
    "\"\\u00e9\"",
    "10001",
];

fn check_never_panics(q: &str) {
    let issues = empty_db();
    if let Ok(f) = compile_jql(q, &cx()) {
        let _ = run(&issues, "issues", &f);
    }
    if let Ok(f) = compile_cql(q, &cx()) {
        let _ = run(&issues, "pages", &f);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Random token soup never panics, and whatever compiles is valid SQL with matching
    /// parameters (`run` panics on any SQLite error).
    #[test]
    fn token_soup_never_panics(words in prop::collection::vec(prop::sample::select(SOUP), 0..24)) {
        check_never_panics(&words.join(" "));
        check_never_panics(&words.concat());
    }

    /// Arbitrary text never panics either.
    #[test]
    fn arbitrary_text_never_panics(q in "\\PC{0,80}") {
        check_never_panics(&q);
    }

    /// Any well-formed clause over the supported fields compiles and runs.
    #[test]
    fn supported_clauses_run(
        field in prop::sample::select(&["project", "status", "priority", "labels", "assignee", "resolution", "statusCategory", "type"][..]),
        negate in any::<bool>(),
        value in "[A-Za-z][A-Za-z ]{0,12}",
    ) {
        let q = format!("{}{field} in (\"{value}\", EMPTY) ORDER BY priority DESC, key", if negate { "NOT " } else { "" });
        match compile_jql(&q, &cx()) {
            Ok(f) => { let _ = run(&issues_db(), "issues", &f); }
            Err(e) => prop_assert!(field == "statusCategory" || field == "project", "{q}: {e}"),
        }
        let cql = format!("{}title ~ \"{value}\" AND space = \"{value}\"", if negate { "NOT " } else { "" });
        if let Ok(f) = compile_cql(&cql, &cx()) {
            let _ = run(&pages_db(), "pages", &f);
        }
    }
}
