//! The SQL writer both languages share: text and `?` parameters appended together (so their
//! order always agrees), the boolean structure written as balanced trees (shallow for SQLite's
//! expression-depth limit), and the operator logic every field follows, which mirrors Jira:
//!
//! - `=` / `IN`: has a value and it is one of the values (or has none, when `EMPTY` is listed);
//! - `!=` / `NOT IN`: has a value and it is none of the values (so never matches empty);
//! - `IS EMPTY` / `IS NOT EMPTY`; `<` … `>=`: has a value and compares;
//! - `~`: the words occur; `!~`: has a value and the words do not occur.
//!
//! Every writer produces an expression that is 0 or 1, never NULL.

use rusqlite::types::Value as SqlValue;

use super::QueryError;
use super::parse::{Clause, Expr, Op, Value};

/// SQL text with its parameters.
#[derive(Debug, Default)]
pub(super) struct Sql {
    pub text: String,
    pub params: Vec<SqlValue>,
}

impl Sql {
    /// Appends SQL text.
    pub fn s(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a `?` bound to `v`.
    pub fn p(&mut self, v: impl Into<SqlValue>) -> &mut Self {
        self.text.push('?');
        self.params.push(v.into());
        self
    }

    /// Appends `?, ?, …` for `values`.
    pub fn list<T: Clone + Into<SqlValue>>(&mut self, values: &[T]) -> &mut Self {
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.s(", ");
            }
            self.p(v.clone());
        }
        self
    }

    /// Appends `lower(?), lower(?), …` for `values`.
    pub fn lower_list(&mut self, values: &[String]) -> &mut Self {
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.s(", ");
            }
            self.s("lower(").p(v.clone()).s(")");
        }
        self
    }
}

/// A writer of one SQL condition.
pub(super) type Writer<'a> = &'a dyn Fn(&mut Sql);

/// Writes `e`, handing each clause to `clause`.
pub(super) fn write_expr(
    e: &Expr,
    sql: &mut Sql,
    clause: &mut dyn FnMut(&Clause, &mut Sql) -> Result<(), QueryError>,
) -> Result<(), QueryError> {
    match e {
        Expr::And(items) => write_join(items, " AND ", sql, clause),
        Expr::Or(items) => write_join(items, " OR ", sql, clause),
        Expr::Not(inner) => {
            sql.s("(NOT ");
            write_expr(inner, sql, clause)?;
            sql.s(")");
            Ok(())
        }
        Expr::Clause(c) => clause(c, sql),
    }
}

fn write_join(
    items: &[Expr],
    op: &str,
    sql: &mut Sql,
    clause: &mut dyn FnMut(&Clause, &mut Sql) -> Result<(), QueryError>,
) -> Result<(), QueryError> {
    match items {
        [] => {
            sql.s("1");
            Ok(())
        }
        [one] => write_expr(one, sql, clause),
        _ => {
            let (a, b) = items.split_at(items.len() / 2);
            sql.s("(");
            write_join(a, op, sql, clause)?;
            sql.s(op);
            write_join(b, op, sql, clause)?;
            sql.s(")");
            Ok(())
        }
    }
}

/// How a field compares, which decides the operators it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Exact values (status, labels, users …): `=`, `!=`, `IN`, `NOT IN`, `IS`.
    Keyword,
    /// Free text: `~`, `!~`, `IS`.
    Text,
    /// Free text that can also be compared exactly (CQL `title`).
    Title,
    /// Ordered values (dates, keys, ids): the keyword operators and `<`, `<=`, `>`, `>=`.
    Ordered,
}

impl Kind {
    fn allows(self, op: Op) -> bool {
        use Op::*;
        match self {
            Kind::Keyword => matches!(op, Eq | Ne | In | NotIn | Is | IsNot),
            Kind::Text => matches!(op, Like | NotLike | Is | IsNot),
            Kind::Title => matches!(op, Eq | Ne | In | NotIn | Like | NotLike | Is | IsNot),
            Kind::Ordered => !matches!(op, Like | NotLike),
        }
    }

    fn ops(self) -> &'static str {
        match self {
            Kind::Keyword => "=, !=, IN, NOT IN, IS [NOT] EMPTY",
            Kind::Text => "~, !~, IS [NOT] EMPTY",
            Kind::Title => "=, !=, IN, NOT IN, ~, !~, IS [NOT] EMPTY",
            Kind::Ordered => "=, !=, IN, NOT IN, <, <=, >, >=, IS [NOT] EMPTY",
        }
    }
}

/// Refuses an operator the field does not take (Jira refuses it too).
pub(super) fn check_op(kind: Kind, c: &Clause, clause_text: &str) -> Result<(), QueryError> {
    if kind.allows(c.op) {
        return Ok(());
    }
    Err(QueryError::new(
        clause_text,
        format!(
            "`{}` does not take {}; it takes {}",
            c.field,
            c.op.text(),
            kind.ops()
        ),
    ))
}

/// Writes an `=`, `!=`, `IN`, `NOT IN`, `IS` or `IS NOT` clause over `values` (the non-EMPTY
/// ones; `wants_empty` when `EMPTY` was among them).
pub(super) fn write_set<T>(
    op: Op,
    wants_empty: bool,
    values: &[T],
    empty: Writer<'_>,
    any_eq: &dyn Fn(&[T], &mut Sql),
    sql: &mut Sql,
) {
    let not_empty = |sql: &mut Sql| {
        sql.s("(NOT ");
        empty(sql);
        sql.s(")");
    };
    match op {
        Op::Is => empty(sql),
        Op::IsNot => not_empty(sql),
        Op::Eq | Op::In => {
            if values.is_empty() {
                if wants_empty {
                    empty(sql);
                } else {
                    sql.s("0");
                }
                return;
            }
            sql.s("(");
            if wants_empty {
                empty(sql);
                sql.s(" OR ");
            }
            sql.s("(");
            not_empty(sql);
            sql.s(" AND ");
            any_eq(values, sql);
            sql.s("))");
        }
        _ => {
            // `!=` / `NOT IN` (the only other operators a set clause is given).
            if values.is_empty() {
                not_empty(sql);
                return;
            }
            sql.s("(");
            not_empty(sql);
            sql.s(" AND (NOT ");
            any_eq(values, sql);
            sql.s("))");
        }
    }
}

/// Writes `(has a value AND cmp)`.
pub(super) fn write_guarded(empty: Writer<'_>, cmp: Writer<'_>, sql: &mut Sql) {
    sql.s("((NOT ");
    empty(sql);
    sql.s(") AND ");
    cmp(sql);
    sql.s(")");
}

/// Writes `~` (`hit`) or `!~` (has a value and not `hit`).
pub(super) fn write_like(op: Op, empty: Writer<'_>, hit: Writer<'_>, sql: &mut Sql) {
    if op == Op::Like {
        hit(sql);
        return;
    }
    write_guarded(
        empty,
        &|sql: &mut Sql| {
            sql.s("(NOT ");
            hit(sql);
            sql.s(")");
        },
        sql,
    );
}

/// The SQL comparison for an ordering operator.
pub(super) fn cmp_sql(op: Op) -> &'static str {
    match op {
        Op::Lt => " < ",
        Op::Le => " <= ",
        Op::Gt => " > ",
        Op::Ge => " >= ",
        _ => " = ",
    }
}

/// An `ORDER BY` term with Jira's placement of empty values: last ascending, first descending.
pub(super) fn order_term(expr: &str, desc: bool) -> String {
    if desc {
        format!("{expr} DESC NULLS FIRST")
    } else {
        format!("{expr} ASC NULLS LAST")
    }
}

/// A SQL string literal.
pub(super) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A JSON array column read safely: malformed JSON reads as an empty array.
pub(super) fn json_array(col: &str) -> String {
    format!("(CASE WHEN json_valid({col}) THEN {col} ELSE '[]' END)")
}

/// The clause's non-EMPTY values as text; functions are refused.
pub(super) fn texts(c: &Clause, text: &str) -> Result<Vec<String>, QueryError> {
    let mut out = Vec::new();
    for v in &c.values {
        match v {
            Value::Text(s) => out.push(s.clone()),
            Value::Empty => {}
            Value::Func(name, _) => {
                return Err(QueryError::new(
                    text,
                    format!(
                        "`{name}()` is not a function the cache can evaluate for `{}`",
                        c.field
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Writes a set clause over a name column, compared case-insensitively.
pub(super) fn write_names(
    op: Op,
    wants_empty: bool,
    names: &[String],
    col: &'static str,
    sql: &mut Sql,
) {
    write_set(
        op,
        wants_empty,
        names,
        &|s: &mut Sql| {
            s.s(&format!("({col} IS NULL OR trim({col}) = '')"));
        },
        &|vals: &[String], s: &mut Sql| {
            s.s(&format!("({col} IS NOT NULL AND lower({col}) IN ("))
                .lower_list(vals)
                .s("))");
        },
        sql,
    );
}

/// Writes a clause over an ordered SQL expression (dates: Unix ms).
pub(super) fn write_ordered(
    op: Op,
    wants_empty: bool,
    values: &[i64],
    expr: &str,
    sql: &mut Sql,
) -> Result<(), String> {
    let empty = |s: &mut Sql| {
        s.s("(").s(expr).s(" IS NULL)");
    };
    if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) {
        let [v] = values else {
            return Err(format!(
                "{} needs one value, not EMPTY; use IS EMPTY",
                op.text()
            ));
        };
        write_guarded(
            &empty,
            &|s: &mut Sql| {
                s.s("(").s(expr).s(cmp_sql(op)).p(*v).s(")");
            },
            sql,
        );
        return Ok(());
    }
    write_set(
        op,
        wants_empty,
        values,
        &empty,
        &|vals: &[i64], s: &mut Sql| {
            s.s(&format!("({expr} IN (")).list(vals).s("))");
        },
        sql,
    );
    Ok(())
}
