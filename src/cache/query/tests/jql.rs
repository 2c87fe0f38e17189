//! Each JQL clause against the fixture issues (exact keys, default order: newest created
//! first — OPS-3, OPS-4, ENG-2, ENG-1, ENG-10).

use super::{cx, issues_db, jql_err, jql_ok, keys, run};
use crate::cache::query::{QueryContext, compile_jql};

#[test]
fn empty_jql_is_every_issue_newest_first() {
    let db = issues_db();
    let all = keys(&["OPS-3", "OPS-4", "ENG-2", "ENG-1", "ENG-10"]);
    assert_eq!(jql_ok(&db, ""), all);
    assert_eq!(jql_ok(&db, "  "), all);
    assert_eq!(compile_jql("", &cx()).unwrap().where_sql, "1");
}

#[test]
fn project_and_keys() {
    let db = issues_db();
    assert_eq!(
        jql_ok(&db, "project = eng"),
        keys(&["ENG-2", "ENG-1", "ENG-10"])
    );
    assert_eq!(jql_ok(&db, "PROJECT != ENG"), keys(&["OPS-3", "OPS-4"]));
    assert_eq!(
        jql_ok(&db, "project in (OPS, Eng) AND project not in (ops)").len(),
        3
    );
    assert_eq!(jql_ok(&db, "key = eng-10"), keys(&["ENG-10"]));
    assert_eq!(
        jql_ok(&db, "issuekey in (ENG-1, OPS-4, ENG-99)"),
        keys(&["OPS-4", "ENG-1"])
    );
    assert_eq!(jql_ok(&db, "key > ENG-1"), keys(&["ENG-2", "ENG-10"]));
    assert_eq!(jql_ok(&db, "key <= ENG-2"), keys(&["ENG-2", "ENG-1"]));
    assert_eq!(jql_ok(&db, "key >= OPS-4"), keys(&["OPS-4"]));
    assert_eq!(
        jql_ok(&db, "key != ENG-1 AND project = ENG"),
        keys(&["ENG-2", "ENG-10"])
    );
    assert_eq!(jql_ok(&db, "key is empty"), Vec::<String>::new());
    assert_eq!(jql_ok(&db, "parent = ops-3"), keys(&["OPS-4"]));
    assert_eq!(jql_ok(&db, "parent is not empty"), keys(&["OPS-4"]));
    assert!(jql_err("key = 10001").message.contains("not ids"));
    assert!(jql_err("key = banana").message.contains("not an issue key"));
    assert!(jql_err("project = 10000").message.contains("project keys"));
    assert_eq!(
        jql_err(r#"project = "My Project""#).clause,
        r#"project = "My Project""#
    );
}

#[test]
fn status_category_priority_type_compare_names_case_insensitively() {
    let db = issues_db();
    assert_eq!(jql_ok(&db, r#"status = "in progress""#), keys(&["ENG-2"]));
    assert_eq!(
        jql_ok(&db, "status != Done"),
        keys(&["OPS-3", "OPS-4", "ENG-2", "ENG-1"])
    );
    assert_eq!(
        jql_ok(&db, r#"status in ("To Do", 'IN REVIEW')"#),
        keys(&["OPS-3", "OPS-4", "ENG-1"])
    );
    assert_eq!(
        jql_ok(&db, r#"statusCategory = "In Progress""#),
        keys(&["OPS-3", "ENG-2"])
    );
    assert_eq!(jql_ok(&db, "statuscategory = done"), keys(&["ENG-10"]));
    assert_eq!(jql_ok(&db, "statusCategory = 2"), keys(&["OPS-4", "ENG-1"]));
    assert_eq!(
        jql_ok(&db, "statusCategory in (new, indeterminate)"),
        keys(&["OPS-3", "OPS-4", "ENG-2", "ENG-1"])
    );
    assert!(jql_err("statusCategory = Bogus").message.contains("To Do"));
    assert_eq!(jql_ok(&db, "priority = high"), keys(&["ENG-1"]));
    assert_eq!(
        jql_ok(&db, "priority in (Highest, HIGH)"),
        keys(&["OPS-3", "ENG-1"])
    );
    assert_eq!(jql_ok(&db, "issuetype = bug"), keys(&["ENG-1"]));
    assert_eq!(jql_ok(&db, r#"type = "sub-task""#), keys(&["OPS-4"]));
    assert!(jql_err("status = 3").message.contains("id"));
}

#[test]
fn users_match_id_or_display_name_and_current_user() {
    let db = issues_db();
    let mine = keys(&["OPS-3", "ENG-1"]);
    assert_eq!(jql_ok(&db, "assignee = currentUser()"), mine);
    assert_eq!(jql_ok(&db, r#"assignee = "dana demo""#), mine);
    assert_eq!(jql_ok(&db, "assignee = ACC-DANA"), mine);
    assert_eq!(jql_ok(&db, "assignee in (currentUser())"), mine);
    assert_eq!(
        jql_ok(&db, "reporter = currentUser()"),
        keys(&["OPS-3", "ENG-2"])
    );
    assert_eq!(jql_ok(&db, "assignee is EMPTY"), keys(&["OPS-4", "ENG-10"]));
    assert_eq!(jql_ok(&db, "assignee = null"), keys(&["OPS-4", "ENG-10"]));
    assert_eq!(
        jql_ok(&db, "assignee in (currentUser(), EMPTY)"),
        keys(&["OPS-3", "OPS-4", "ENG-1", "ENG-10"])
    );
    // `!=` never matches an empty field; NOT is the plain complement (as in Jira).
    assert_eq!(jql_ok(&db, "assignee != currentUser()"), keys(&["ENG-2"]));
    assert_eq!(jql_ok(&db, "assignee not in (acc-dana)"), keys(&["ENG-2"]));
    assert_eq!(
        jql_ok(&db, "NOT assignee = currentUser()"),
        keys(&["OPS-4", "ENG-2", "ENG-10"])
    );
    assert_eq!(
        jql_ok(&db, "assignee != EMPTY"),
        keys(&["OPS-3", "ENG-2", "ENG-1"])
    );
    // currentUser() compares ids only: a display name equal to the id does not count.
    let other = QueryContext {
        current_user: Some("Dana Demo".into()),
        now_ms: super::NOW,
    };
    let f = compile_jql("assignee = currentUser()", &other).unwrap();
    assert_eq!(run(&db, "issues", &f), Vec::<String>::new());
}

#[test]
fn current_user_without_a_signed_in_user_is_an_error_naming_the_clause() {
    let cx = QueryContext {
        current_user: None,
        now_ms: super::NOW,
    };
    let e = compile_jql("project = ENG AND assignee = currentUser()", &cx).unwrap_err();
    assert_eq!(e.clause, "assignee = currentUser()");
    assert!(e.message.contains("currentUser()"), "{e}");
    assert!(
        e.to_string()
            .starts_with("cannot evaluate `assignee = currentUser()` offline: ")
    );
}

#[test]
fn labels_resolution_and_empty() {
    let db = issues_db();
    assert_eq!(jql_ok(&db, "labels = backend"), keys(&["OPS-3", "ENG-2"]));
    assert_eq!(
        jql_ok(&db, "labels in (ux, perf)"),
        keys(&["OPS-3", "ENG-1"])
    );
    assert_eq!(jql_ok(&db, "labels is EMPTY"), keys(&["OPS-4", "ENG-10"]));
    assert_eq!(jql_ok(&db, "labels != backend"), keys(&["ENG-1"]));
    assert_eq!(
        jql_ok(&db, "labels not in (backend, ux)"),
        Vec::<String>::new()
    );
    assert_eq!(
        jql_ok(&db, "resolution = Unresolved"),
        keys(&["OPS-3", "OPS-4", "ENG-2", "ENG-1"])
    );
    assert_eq!(jql_ok(&db, "resolution = done"), keys(&["ENG-10"]));
    assert_eq!(jql_ok(&db, "resolution is not empty"), keys(&["ENG-10"]));
    assert_eq!(jql_ok(&db, "resolution != Unresolved"), keys(&["ENG-10"]));
    assert_eq!(jql_ok(&db, "due is EMPTY"), keys(&["OPS-4", "ENG-2"]));
    assert_eq!(jql_ok(&db, "description is empty"), keys(&["ENG-10"]));
    assert_eq!(
        jql_ok(&db, "comment is not empty"),
        keys(&["OPS-3", "ENG-1"])
    );
}

#[test]
fn text_search_is_word_based() {
    let db = issues_db();
    // A whole word: "Loginpage" does not contain the word "login" (Jira agrees).
    assert_eq!(jql_ok(&db, "summary ~ login"), keys(&["ENG-1"]));
    assert_eq!(jql_ok(&db, "summary ~ LOGIN"), keys(&["ENG-1"]));
    assert_eq!(
        jql_ok(&db, r#"summary ~ "login*""#),
        keys(&["OPS-4", "ENG-1"])
    );
    assert_eq!(jql_ok(&db, r#"summary ~ "fails safari""#), keys(&["ENG-1"]));
    assert_eq!(
        jql_ok(&db, r#"summary ~ "fails chrome""#),
        Vec::<String>::new()
    );
    assert_eq!(
        jql_ok(&db, r#"summary ~ "\"search client\"""#),
        keys(&["ENG-2"])
    );
    assert_eq!(
        jql_ok(&db, r#"summary ~ "\"client search\"""#),
        Vec::<String>::new()
    );
    // Stop words are ignored, as Jira does.
    assert_eq!(
        jql_ok(&db, r#"summary ~ "policy for retry""#),
        keys(&["ENG-10"])
    );
    assert_eq!(
        jql_ok(&db, "summary !~ login"),
        keys(&["OPS-3", "OPS-4", "ENG-2", "ENG-10"])
    );
    // text: summary, description and comments.
    assert_eq!(jql_ok(&db, "text ~ runbook"), keys(&["OPS-3"]));
    assert_eq!(jql_ok(&db, "text ~ firefox"), keys(&["ENG-1"]));
    assert_eq!(jql_ok(&db, "text ~ login"), keys(&["OPS-4", "ENG-1"]));
    // description and comment separately.
    assert_eq!(
        jql_ok(&db, "description ~ login"),
        keys(&["OPS-4", "ENG-1"])
    );
    assert_eq!(jql_ok(&db, "description ~ firefox"), Vec::<String>::new());
    assert_eq!(jql_ok(&db, "comment ~ firefox"), keys(&["ENG-1"]));
    assert_eq!(jql_ok(&db, "comment ~ \"runbook\""), keys(&["OPS-3"]));
    assert_eq!(jql_ok(&db, "comment ~ \"run*\""), keys(&["OPS-3"]));
    assert_eq!(
        jql_ok(&db, "description ~ \"stack trace\""),
        keys(&["ENG-1"])
    );
    assert_eq!(
        jql_ok(&db, "description !~ login"),
        keys(&["OPS-3", "ENG-2"])
    );
}

#[test]
fn text_terms_cannot_inject_fts_syntax() {
    let db = issues_db();
    for q in [
        r#"summary ~ "login\" OR \"tokens""#,
        r#"text ~ "NEAR(login tokens)""#,
        r#"text ~ "summary:login""#,
        r#"text ~ "{summary}: login""#,
        r#"summary ~ "login AND""#,
        r#"text ~ "'; DROP TABLE issues; --""#,
    ] {
        let got = compile_jql(q, &cx()).map(|f| run(&db, "issues", &f));
        if let Ok(keys) = got {
            assert!(keys.len() <= 1, "{q}: {keys:?}");
        }
    }
    assert_eq!(jql_ok(&db, "project = ENG").len(), 3);
}

#[test]
fn lucene_syntax_the_cache_cannot_honour_is_named() {
    for (q, word) in [
        (r#"summary ~ "login OR signup""#, "OR"),
        (r#"summary ~ "login -safari""#, "-safari"),
        (r#"summary ~ "log?n""#, "log?n"),
        (r#"summary ~ "*gin""#, "*gin"),
        (r#"summary ~ "login~""#, "login~"),
        (r#"summary ~ "the a""#, "no words"),
    ] {
        let e = jql_err(q);
        assert_eq!(e.clause, q);
        assert!(e.message.contains(word), "{q}: {e}");
    }
}

#[test]
fn boolean_structure_precedence_and_parentheses() {
    let db = issues_db();
    // OR binds looser than AND.
    assert_eq!(
        jql_ok(
            &db,
            r#"project = OPS OR status = "In Progress" AND priority = Lowest"#
        ),
        keys(&["OPS-3", "OPS-4"])
    );
    assert_eq!(
        jql_ok(
            &db,
            r#"(project = OPS OR status = "In Progress") AND priority = Medium"#
        ),
        keys(&["ENG-2"])
    );
    // NOT binds tighter than AND.
    assert_eq!(
        jql_ok(&db, "NOT project = ENG AND priority = Low"),
        keys(&["OPS-4"])
    );
    assert_eq!(
        jql_ok(&db, "NOT (project = ENG AND priority = Low)").len(),
        5
    );
    assert_eq!(
        jql_ok(&db, "! project = ENG && priority = Low || key = ENG-10"),
        keys(&["OPS-4", "ENG-10"])
    );
    assert_eq!(
        jql_ok(
            &db,
            "Project = eng and NOT (STATUS = done OR labels = ux) order by KEY desc"
        ),
        keys(&["ENG-2"])
    );
}
