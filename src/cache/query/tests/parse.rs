//! The parser on its own: precedence, parentheses, operators, values, ORDER BY, spans.

use crate::cache::query::parse::{Clause, Expr, Op, Query, Value, parse};

/// A compact rendering of the tree: clauses by field, `&(…)`, `|(…)`, `!…`.
fn shape(e: &Expr) -> String {
    match e {
        Expr::And(items) => format!(
            "&({})",
            items.iter().map(shape).collect::<Vec<_>>().join(",")
        ),
        Expr::Or(items) => format!(
            "|({})",
            items.iter().map(shape).collect::<Vec<_>>().join(",")
        ),
        Expr::Not(inner) => format!("!{}", shape(inner)),
        Expr::Clause(c) => c.field.clone(),
    }
}

fn tree(q: &str) -> String {
    shape(parse(q).unwrap().filter.as_ref().unwrap())
}

fn only_clause(q: &str) -> Clause {
    match parse(q).unwrap().filter.unwrap() {
        Expr::Clause(c) => c,
        other => panic!("{other:?}"),
    }
}

#[test]
fn and_binds_tighter_than_or_and_not_tighter_than_and() {
    assert_eq!(tree("a = 1 OR b = 1 AND c = 1"), "|(a,&(b,c))");
    assert_eq!(tree("a = 1 AND b = 1 OR c = 1"), "|(&(a,b),c)");
    assert_eq!(tree("NOT a = 1 AND b = 1"), "&(!a,b)");
    assert_eq!(tree("NOT a = 1 OR b = 1 AND NOT c = 1"), "|(!a,&(b,!c))");
    assert_eq!(tree("! a = 1 && b = 1 || c = 1"), "|(&(!a,b),c)");
    assert_eq!(tree("NOT NOT a = 1"), "!!a");
}

#[test]
fn parentheses_override_precedence() {
    assert_eq!(tree("(a = 1 OR b = 1) AND c = 1"), "&(|(a,b),c)");
    assert_eq!(tree("a = 1 AND (b = 1 OR c = 1)"), "&(a,|(b,c))");
    assert_eq!(tree("NOT (a = 1 AND b = 1)"), "!&(a,b)");
    assert_eq!(tree("((((a = 1))))"), "a");
    assert_eq!(
        tree("(a = 1 OR (b = 1 AND (c = 1 OR d = 1)))"),
        "|(a,&(b,|(c,d)))"
    );
}

#[test]
fn chains_are_flat_lists() {
    assert_eq!(tree("a = 1 AND b = 1 AND c = 1 AND d = 1"), "&(a,b,c,d)");
    assert_eq!(tree("a = 1 or b = 1 Or c = 1"), "|(a,b,c)");
}

#[test]
fn operators_and_keywords_are_case_insensitive() {
    let ops = [
        ("x = 1", Op::Eq),
        ("x != 1", Op::Ne),
        ("x ~ 1", Op::Like),
        ("x !~ 1", Op::NotLike),
        ("x < 1", Op::Lt),
        ("x <= 1", Op::Le),
        ("x > 1", Op::Gt),
        ("x >= 1", Op::Ge),
        ("x in (1)", Op::In),
        ("x NOT IN (1)", Op::NotIn),
        ("x not in (1)", Op::NotIn),
        ("x is empty", Op::Is),
        ("x IS NOT null", Op::IsNot),
    ];
    for (q, op) in ops {
        assert_eq!(only_clause(q).op, op, "{q}");
    }
}

#[test]
fn values_lists_functions_and_strings() {
    let c = only_clause(r#"status in ("In Progress", 'To Do', Done, EMPTY)"#);
    assert!(c.list);
    assert_eq!(
        c.values,
        vec![
            Value::Text("In Progress".into()),
            Value::Text("To Do".into()),
            Value::Text("Done".into()),
            Value::Empty,
        ]
    );
    let c = only_clause(r#"created > startOfDay("-1d")"#);
    assert_eq!(
        c.values,
        vec![Value::Func("startOfDay".into(), vec!["-1d".into()])]
    );
    let c = only_clause("assignee = currentUser()");
    assert_eq!(c.values, vec![Value::Func("currentUser".into(), vec![])]);
    let c = only_clause(r#"summary ~ "say \"hi\" \u00e9\\""#);
    assert_eq!(c.values, vec![Value::Text("say \"hi\" é\\".into())]);
    // A quoted EMPTY is a value, not the keyword.
    let c = only_clause(r#"labels = "empty""#);
    assert_eq!(c.values, vec![Value::Text("empty".into())]);
    // Field names may be quoted and carry brackets.
    assert_eq!(only_clause("cf[10010] = x").field, "cf[10010]");
    assert_eq!(only_clause(r#""Story Points" > 3"#).field, "Story Points");
}

#[test]
fn clause_spans_cover_the_source_text() {
    let q = "project = ENG AND sprint in openSprints() ORDER BY rank";
    let Query { filter, order } = parse(q).unwrap();
    let Some(Expr::And(items)) = filter else {
        panic!()
    };
    let Expr::Clause(c) = &items[1] else { panic!() };
    assert_eq!(&q[c.start..c.end], "sprint in openSprints()");
    assert_eq!(&q[order[0].start..order[0].end], "ORDER BY rank");
}

#[test]
fn order_by_terms_and_directions() {
    let q = parse("ORDER BY priority DESC, key asc, created").unwrap();
    assert!(q.filter.is_none());
    let got: Vec<(String, bool)> = q.order.iter().map(|t| (t.field.clone(), t.desc)).collect();
    assert_eq!(
        got,
        vec![
            ("priority".into(), true),
            ("key".into(), false),
            ("created".into(), false)
        ]
    );
    let q = "status = Done order by created DESC, rank";
    let parsed = parse(q).unwrap();
    let t = &parsed.order[1];
    assert_eq!(&q[t.start..t.end], "rank");
}

#[test]
fn empty_and_blank_queries_have_no_filter() {
    for q in ["", "   ", "\n\t"] {
        let p = parse(q).unwrap();
        assert!(p.filter.is_none() && p.order.is_empty());
    }
}

#[test]
fn syntax_errors_name_the_offending_text() {
    let cases = [
        ("status = ", "status =", "a value"),
        ("status", "status", "operator"),
        ("status = a AND", "AND", "a clause"),
        ("status Open", "Open", "operator"),
        ("status = Open Closed", "Closed", "AND, OR or ORDER BY"),
        ("(status = Open", "(status = Open", "never closed"),
        ("status = Open)", ")", "no matching"),
        ("status = 'Open", "'Open", "never closed"),
        ("status in (a, b", "(a, b", "never closed"),
        ("status = (a)", "status = (", "IN"),
        ("AND status = a", "AND", "field"),
        ("status = a ORDER BY", "ORDER BY", "field to sort by"),
        (
            "status = a ORDER BY key,",
            "ORDER BY key,",
            "field to sort by",
        ),
        ("status is Open", "Open", "EMPTY"),
        ("status not Open", "Open", "IN after NOT"),
        ("status = a & b", "&", "reserved"),
        (r#"summary ~ "a\qb""#, r"\q", "escape"),
        ("status = and", "and", "quote"),
    ];
    for (q, clause, msg) in cases {
        let e = parse(q).unwrap_err();
        assert_eq!(e.clause, clause, "{q}: {e}");
        assert!(e.message.contains(msg), "{q}: {e}");
    }
}

#[test]
fn history_operators_are_named_with_their_predicates() {
    let q = r#"project = ENG AND status WAS "Open" BEFORE "2026-01-01" AND priority = High"#;
    let e = parse(q).unwrap_err();
    assert_eq!(e.clause, r#"status WAS "Open" BEFORE "2026-01-01""#);
    assert!(e.message.contains("history"), "{e}");
    let e = parse("status CHANGED FROM Open TO Done BY currentUser()").unwrap_err();
    assert_eq!(
        e.clause,
        "status CHANGED FROM Open TO Done BY currentUser()"
    );
    let e = parse("assignee was not in (a, b)").unwrap_err();
    assert_eq!(e.clause, "assignee was not in (a, b)");
}
