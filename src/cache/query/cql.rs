//! CQL over the `pages` table: the fields the cache can answer for pages and blog posts, and
//! the order Confluence's search gives: most matches of the `~` words first, then most
//! recently modified (ties: page id).

use super::dates;
use super::parse::{Clause, Expr, Op, Query, Value};
use super::sql::{
    Kind, Sql, check_op, json_array, literal, order_term, texts, write_expr, write_like,
    write_names, write_ordered, write_set,
};
use super::text;
use super::{QueryContext, QueryError, SqlFilter};

#[derive(Debug, Clone, Copy)]
enum Field {
    Space,
    Type,
    Title,
    Text,
    Labels,
    Ancestor,
    Parent,
    Id,
    Modified,
}

const FIELDS: &str = "space, type, title, text, label, ancestor, parent, id, lastmodified";

fn field(name: &str) -> Option<Field> {
    Some(match name.to_ascii_lowercase().as_str() {
        "space" | "space.key" => Field::Space,
        "type" => Field::Type,
        "title" => Field::Title,
        "text" => Field::Text,
        "label" | "labels" => Field::Labels,
        "ancestor" => Field::Ancestor,
        "parent" => Field::Parent,
        "id" | "content" => Field::Id,
        "lastmodified" => Field::Modified,
        _ => return None,
    })
}

impl Field {
    fn kind(self) -> Kind {
        match self {
            Field::Title => Kind::Title,
            Field::Text => Kind::Text,
            Field::Id | Field::Modified => Kind::Ordered,
            _ => Kind::Keyword,
        }
    }
}

/// Most `~` words the relevance order counts.
const MAX_RELEVANCE_WORDS: usize = 16;

/// Compiles a parsed CQL query (`src` is its text, for error messages).
pub(super) fn compile(src: &str, q: &Query, cx: &QueryContext) -> Result<SqlFilter, QueryError> {
    let mut sql = Sql::default();
    match &q.filter {
        None => {
            sql.s("1");
        }
        Some(e) => write_expr(e, &mut sql, &mut |c, sql| clause(src, c, cx, sql))?,
    }
    let mut order = Vec::new();
    for t in &q.order {
        let text = src.get(t.start..t.end).unwrap_or(&t.field);
        let expr = match t.field.to_ascii_lowercase().as_str() {
            "lastmodified" => "pages.modified_ms",
            "title" => "lower(pages.title)",
            "id" | "content" => "CAST(pages.id AS INTEGER)",
            "space" | "space.key" => "lower(pages.space)",
            "type" => "lower(pages.type)",
            "created" => {
                return Err(QueryError::new(
                    text,
                    "page creation dates are not cached; sort by lastmodified, title, id, space or type",
                ));
            }
            _ => {
                return Err(QueryError::new(
                    text,
                    format!(
                        "the cache cannot sort by `{}`; sort by lastmodified, title, id, space or type",
                        t.field
                    ),
                ));
            }
        };
        order.push(order_term(expr, t.desc));
    }
    // Confluence's order, and the tie-breaker after any ORDER BY: relevance, then newest.
    let mut words = Vec::new();
    if let Some(e) = &q.filter {
        like_words(e, false, &mut words);
    }
    if !words.is_empty() {
        let hay = "lower(pages.title || ' ' || coalesce(pages.body, ''))";
        let counts: Vec<String> = words
            .iter()
            .map(|w| {
                let w = literal(w);
                format!("((length({hay}) - length(replace({hay}, {w}, ''))) / length({w}))")
            })
            .collect();
        order.push(format!("({}) DESC", counts.join(" + ")));
    }
    order.push("pages.modified_ms DESC NULLS LAST".into());
    order.push("length(pages.id)".into());
    order.push("pages.id".into());
    Ok(SqlFilter {
        where_sql: sql.text,
        params: sql.params,
        order_sql: order.join(", "),
    })
}

/// The words of `~` clauses that are not negated, for the relevance order.
fn like_words(e: &Expr, negated: bool, out: &mut Vec<String>) {
    match e {
        Expr::And(items) | Expr::Or(items) => {
            for i in items {
                like_words(i, negated, out);
            }
        }
        Expr::Not(inner) => like_words(inner, !negated, out),
        Expr::Clause(c) => {
            if negated || c.op != Op::Like {
                return;
            }
            let [Value::Text(term)] = c.values.as_slice() else {
                return;
            };
            for g in text::groups(term).unwrap_or_default() {
                for t in g.tokens {
                    if out.len() < MAX_RELEVANCE_WORDS && !out.contains(&t) {
                        out.push(t);
                    }
                }
            }
        }
    }
}

fn clause(src: &str, c: &Clause, cx: &QueryContext, sql: &mut Sql) -> Result<(), QueryError> {
    let text = src.get(c.start..c.end).unwrap_or(&c.field);
    let err = |m: String| QueryError::new(text, m);
    let Some(f) = field(&c.field) else {
        return Err(err(format!(
            "`{}` is not cached; offline CQL covers {FIELDS}",
            c.field
        )));
    };
    check_op(f.kind(), c, text)?;
    let wants_empty = c.values.contains(&Value::Empty);
    match f {
        Field::Space => {
            let keys = texts(c, text)?;
            write_set(
                c.op,
                wants_empty,
                &keys,
                &|s: &mut Sql| {
                    s.s("0");
                },
                &|vals: &[String], s: &mut Sql| {
                    s.s("(lower(pages.space) IN (")
                        .lower_list(vals)
                        .s(") OR (pages.space_id IS NOT NULL AND lower(pages.space_id) IN (")
                        .lower_list(vals)
                        .s(")))");
                },
                sql,
            );
        }
        Field::Type => {
            let types = texts(c, text)?;
            if let Some(t) = types
                .iter()
                .find(|t| !["page", "blogpost"].contains(&t.trim().to_ascii_lowercase().as_str()))
            {
                return Err(err(format!(
                    "the cache holds pages and blog posts only, not `{t}`"
                )));
            }
            write_names(c.op, wants_empty, &types, "pages.type", sql);
        }
        Field::Parent => {
            let ids = texts(c, text)?;
            write_names(c.op, wants_empty, &ids, "pages.parent_id", sql);
        }
        Field::Labels | Field::Ancestor => {
            let vals = texts(c, text)?;
            let (col, item) = match f {
                Field::Labels => ("pages.labels", "j.value"),
                _ => (
                    "pages.ancestors",
                    "CASE WHEN j.type = 'object' THEN CAST(json_extract(j.value, '$.id') AS TEXT) END",
                ),
            };
            let arr = json_array(col);
            write_set(
                c.op,
                wants_empty,
                &vals,
                &|s: &mut Sql| {
                    s.s(&format!("(json_array_length({arr}) = 0)"));
                },
                &|vals: &[String], s: &mut Sql| {
                    s.s(&format!(
                        "EXISTS (SELECT 1 FROM json_each({arr}) AS j WHERE lower({item}) IN ("
                    ))
                    .lower_list(vals)
                    .s("))");
                },
                sql,
            );
        }
        Field::Id => {
            let ids = texts(c, text)?
                .iter()
                .map(|v| {
                    v.trim()
                        .parse::<i64>()
                        .map_err(|_| format!("`{v}` is not a page id"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            write_ordered(c.op, wants_empty, &ids, "CAST(pages.id AS INTEGER)", sql)
                .map_err(err)?;
        }
        Field::Modified => {
            let times = c
                .values
                .iter()
                .filter(|v| **v != Value::Empty)
                .map(|v| dates::resolve(v, cx.now_ms))
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            write_ordered(c.op, wants_empty, &times, "pages.modified_ms", sql).map_err(err)?;
        }
        Field::Title | Field::Text => {
            let is_title = matches!(f, Field::Title);
            let empty = |s: &mut Sql| {
                s.s(if is_title {
                    "(trim(pages.title) = '')"
                } else {
                    "(trim(pages.title) = '' AND (pages.body IS NULL OR trim(pages.body) = ''))"
                });
            };
            match c.op {
                Op::Like | Op::NotLike => {
                    let groups = match c.values.as_slice() {
                        [Value::Text(term)] => text::groups(term).map_err(err)?,
                        _ => return Err(err(format!("{} needs one quoted text", c.op.text()))),
                    };
                    let query = text::fts_query(&groups, is_title.then_some("title"));
                    let hit = |s: &mut Sql| {
                        s.s("pages.rowid IN (SELECT rowid FROM pages_fts WHERE pages_fts MATCH ")
                            .p(query.clone())
                            .s(")");
                    };
                    write_like(c.op, &empty, &hit, sql);
                }
                _ => {
                    let titles: Vec<String> = texts(c, text)?
                        .iter()
                        .map(|t| t.trim().to_string())
                        .collect();
                    write_set(
                        c.op,
                        wants_empty,
                        &titles,
                        &empty,
                        &|vals: &[String], s: &mut Sql| {
                            s.s("(lower(trim(pages.title)) IN (")
                                .lower_list(vals)
                                .s("))");
                        },
                        sql,
                    );
                }
            }
        }
    }
    Ok(())
}
