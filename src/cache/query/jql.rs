//! JQL over the `issues` table: which fields the cache can answer, how each compares (names
//! case-insensitively, users by id or display name, keys by project and number), and
//! `ORDER BY` with Jira's orders (priority by rank, status by category then name) and the
//! default order, newest created first, with key order breaking ties.

use super::dates;
use super::parse::{Clause, Op, Query, Value};
use super::sql::{
    Kind, Sql, Writer, check_op, cmp_sql, json_array, order_term, texts, write_expr, write_guarded,
    write_like, write_names, write_ordered, write_set,
};
use super::text::{self, Group};
use super::{QueryContext, QueryError, SqlFilter};

#[derive(Debug, Clone, Copy)]
enum Field {
    /// A name column compared case-insensitively (status, priority, issue type).
    Column(&'static str),
    Project,
    StatusCategory,
    Resolution,
    Labels,
    User {
        id: &'static str,
        name: &'static str,
    },
    Key,
    Parent,
    /// An SQL expression in Unix ms.
    Date(&'static str),
    Text(TextField),
}

#[derive(Debug, Clone, Copy)]
enum TextField {
    Summary,
    Description,
    Comment,
    All,
}

/// `due` (`YYYY-MM-DD`, midnight UTC) in Unix ms.
const DUE_MS: &str = "(CAST(strftime('%s', issues.due) AS INTEGER) * 1000)";

/// What unknown fields are told.
const FIELDS: &str = "project, key, parent, status, statusCategory, priority, issuetype, \
resolution, labels, assignee, reporter, created, updated, due, summary, description, comment, text";

fn field(name: &str) -> Option<Field> {
    Some(match name.to_ascii_lowercase().as_str() {
        "project" => Field::Project,
        "key" | "issuekey" | "issue" => Field::Key,
        "parent" => Field::Parent,
        "status" => Field::Column("issues.status"),
        "statuscategory" => Field::StatusCategory,
        "priority" => Field::Column("issues.priority"),
        "issuetype" | "type" => Field::Column("issues.issue_type"),
        "resolution" => Field::Resolution,
        "labels" | "label" => Field::Labels,
        "assignee" => Field::User {
            id: "issues.assignee_id",
            name: "issues.assignee",
        },
        "reporter" => Field::User {
            id: "issues.reporter_id",
            name: "issues.reporter",
        },
        "created" | "createddate" => Field::Date("issues.created_ms"),
        "updated" | "updateddate" => Field::Date("issues.updated_ms"),
        "due" | "duedate" => Field::Date(DUE_MS),
        "summary" => Field::Text(TextField::Summary),
        "description" => Field::Text(TextField::Description),
        "comment" => Field::Text(TextField::Comment),
        "text" => Field::Text(TextField::All),
        _ => return None,
    })
}

impl Field {
    fn kind(self) -> Kind {
        match self {
            Field::Key | Field::Date(_) => Kind::Ordered,
            Field::Text(_) => Kind::Text,
            _ => Kind::Keyword,
        }
    }
}

/// Compiles a parsed JQL query (`src` is its text, for error messages).
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
        let exprs = sort_exprs(&t.field).ok_or_else(|| {
            let why = if field(&t.field).is_some() {
                format!("the cache cannot sort by `{}`", t.field)
            } else {
                format!("`{}` is not cached", t.field)
            };
            QueryError::new(
                text,
                format!("{why}; sort by key, created, updated, due, priority, status, statusCategory, summary, assignee, reporter, project, issuetype or resolution"),
            )
        })?;
        order.extend(exprs.iter().map(|e| order_term(e, t.desc)));
    }
    // Jira's default order, and the tie-breaker after any ORDER BY: newest first.
    order.push("issues.created_ms DESC NULLS LAST".into());
    order.push("issues.project DESC".into());
    order.push("issues.num DESC".into());
    Ok(SqlFilter {
        where_sql: sql.text,
        params: sql.params,
        order_sql: order.join(", "),
    })
}

fn clause(src: &str, c: &Clause, cx: &QueryContext, sql: &mut Sql) -> Result<(), QueryError> {
    let text = src.get(c.start..c.end).unwrap_or(&c.field);
    let err = |m: String| QueryError::new(text, m);
    let Some(f) = field(&c.field) else {
        return Err(err(format!(
            "`{}` is not cached; offline JQL covers {FIELDS}",
            c.field
        )));
    };
    check_op(f.kind(), c, text)?;
    let mut wants_empty = c.values.contains(&Value::Empty);
    match f {
        Field::Column(col) => {
            let names = texts(c, text)?;
            if let Some(id) = names.iter().find(|v| is_number(v)) {
                return Err(err(format!(
                    "`{id}` looks like an id; the cache keeps names: use the {} name",
                    c.field
                )));
            }
            write_names(c.op, wants_empty, &names, col, sql);
        }
        Field::Project => {
            let keys = texts(c, text)?;
            for k in &keys {
                if is_number(k) || k.contains(char::is_whitespace) {
                    return Err(err(format!(
                        "the cache keeps project keys, not ids or names: use the key of `{k}`"
                    )));
                }
            }
            write_names(c.op, wants_empty, &keys, "issues.project", sql);
        }
        Field::StatusCategory => {
            let keys = texts(c, text)?
                .iter()
                .map(|v| category_key(v).map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    err("status categories are To Do, In Progress and Done (or new, indeterminate, done)".into())
                })?;
            write_names(c.op, wants_empty, &keys, "issues.status_category", sql);
        }
        Field::Resolution => {
            let mut names = texts(c, text)?;
            if names
                .iter()
                .any(|v| v.trim().eq_ignore_ascii_case("unresolved"))
            {
                wants_empty = true;
                names.retain(|v| !v.trim().eq_ignore_ascii_case("unresolved"));
            }
            write_names(c.op, wants_empty, &names, "issues.resolution", sql);
        }
        Field::Labels => {
            let labels = texts(c, text)?;
            let arr = json_array("issues.labels");
            write_set(
                c.op,
                wants_empty,
                &labels,
                &|s: &mut Sql| {
                    s.s(&format!("(json_array_length({arr}) = 0)"));
                },
                &|vals: &[String], s: &mut Sql| {
                    s.s(&format!(
                        "EXISTS (SELECT 1 FROM json_each({arr}) AS j WHERE lower(j.value) IN ("
                    ))
                    .lower_list(vals)
                    .s("))");
                },
                sql,
            );
        }
        Field::User { id, name } => {
            let users = users(c, cx, text)?;
            write_set(
                c.op,
                wants_empty,
                &users,
                &|s: &mut Sql| {
                    s.s(&format!(
                        "(({id} IS NULL OR trim({id}) = '') AND ({name} IS NULL OR trim({name}) = ''))"
                    ));
                },
                &|vals: &[(String, bool)], s: &mut Sql| write_user_eq(id, name, vals, s),
                sql,
            );
        }
        Field::Key | Field::Parent => {
            let keys = texts(c, text)?
                .iter()
                .map(|v| issue_key(v))
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            if matches!(f, Field::Parent) {
                let canon: Vec<String> = keys.iter().map(|(p, n)| format!("{p}-{n}")).collect();
                write_names(c.op, wants_empty, &canon, "issues.parent", sql);
            } else {
                write_key(c.op, wants_empty, &keys, sql).map_err(err)?;
            }
        }
        Field::Date(expr) => {
            let times = c
                .values
                .iter()
                .filter(|v| **v != Value::Empty)
                .map(|v| dates::resolve(v, cx.now_ms))
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            write_ordered(c.op, wants_empty, &times, expr, sql).map_err(err)?;
        }
        Field::Text(t) => {
            let empty = |s: &mut Sql| write_text_empty(t, s);
            if matches!(c.op, Op::Is | Op::IsNot) {
                write_set::<String>(c.op, true, &[], &empty, &|_, _| {}, sql);
                return Ok(());
            }
            let groups = match c.values.as_slice() {
                [Value::Text(term)] => text::groups(term).map_err(err)?,
                _ => return Err(err(format!("{} needs one quoted text", c.op.text()))),
            };
            write_like(
                c.op,
                &empty,
                &|s: &mut Sql| write_text_hit(t, &groups, s),
                sql,
            );
        }
    }
    Ok(())
}

fn is_number(v: &str) -> bool {
    let v = v.trim();
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

fn category_key(v: &str) -> Option<&'static str> {
    Some(match v.trim().to_ascii_lowercase().as_str() {
        "new" | "to do" | "todo" | "2" => "new",
        "indeterminate" | "in progress" | "4" => "indeterminate",
        "done" | "complete" | "3" => "done",
        "undefined" | "no category" | "1" => "undefined",
        _ => return None,
    })
}

/// User values: `(value, id_only)`; `currentUser()` is the context user's id.
fn users(c: &Clause, cx: &QueryContext, text: &str) -> Result<Vec<(String, bool)>, QueryError> {
    let mut out = Vec::new();
    for v in &c.values {
        match v {
            Value::Text(s) => out.push((s.clone(), false)),
            Value::Empty => {}
            Value::Func(name, args)
                if name.eq_ignore_ascii_case("currentuser") && args.is_empty() =>
            {
                let Some(me) = &cx.current_user else {
                    return Err(QueryError::new(
                        text,
                        "who `currentUser()` is is not known offline (no signed-in user was cached); name the user instead",
                    ));
                };
                out.push((me.clone(), true));
            }
            Value::Func(name, _) => {
                return Err(QueryError::new(
                    text,
                    format!(
                        "`{name}()` is not a function the cache can evaluate; only currentUser()"
                    ),
                ));
            }
        }
    }
    Ok(out)
}

fn write_user_eq(id: &str, name: &str, vals: &[(String, bool)], s: &mut Sql) {
    let all: Vec<String> = vals.iter().map(|(v, _)| v.clone()).collect();
    let names: Vec<String> = vals
        .iter()
        .filter(|(_, id_only)| !id_only)
        .map(|(v, _)| v.clone())
        .collect();
    s.s(&format!("(({id} IS NOT NULL AND lower({id}) IN ("))
        .lower_list(&all)
        .s("))");
    if !names.is_empty() {
        s.s(&format!(" OR ({name} IS NOT NULL AND lower({name}) IN ("))
            .lower_list(&names)
            .s("))");
    }
    s.s(")");
}

/// `ENG-12` → (`ENG`, 12).
fn issue_key(v: &str) -> Result<(String, i64), String> {
    let v = v.trim();
    if is_number(v) {
        return Err(format!(
            "the cache keeps issue keys, not ids: use the key of issue {v}"
        ));
    }
    let parsed = v.rsplit_once('-').and_then(|(p, n)| {
        let project_ok = !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_');
        if !project_ok || !is_number(n) || n.len() > 18 {
            return None;
        }
        Some((p.to_uppercase(), n.parse().ok()?))
    });
    parsed.ok_or_else(|| format!("`{v}` is not an issue key such as ENG-12"))
}

const KEY_TEXT: &str = "(upper(issues.project) || '-' || issues.num)";

fn write_key(
    op: Op,
    wants_empty: bool,
    keys: &[(String, i64)],
    sql: &mut Sql,
) -> Result<(), String> {
    let never: Writer<'_> = &|s: &mut Sql| {
        s.s("0");
    };
    if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) {
        let [(p, n)] = keys else {
            return Err(format!("{} needs one issue key", op.text()));
        };
        let cmp = op;
        write_guarded(
            never,
            &|s: &mut Sql| {
                s.s("(upper(issues.project) = ")
                    .p(p.clone())
                    .s(" AND issues.num")
                    .s(cmp_sql(cmp))
                    .p(*n)
                    .s(")");
            },
            sql,
        );
        return Ok(());
    }
    let canon: Vec<String> = keys.iter().map(|(p, n)| format!("{p}-{n}")).collect();
    write_set(
        op,
        wants_empty,
        &canon,
        never,
        &|vals: &[String], s: &mut Sql| {
            // Keys arrive upper-cased (`issue_key`), as `KEY_TEXT` is.
            s.s(&format!("({KEY_TEXT} IN (")).list(vals).s("))");
        },
        sql,
    );
    Ok(())
}

/// The comments' bodies as one text.
const COMMENTS_TEXT: &str = "(SELECT group_concat(CASE WHEN c.type = 'object' THEN json_extract(c.value, '$.body') END, ' ') FROM json_each(CASE WHEN json_valid(issues.comments) THEN issues.comments ELSE '[]' END) AS c)";

fn write_text_empty(t: TextField, s: &mut Sql) {
    let summary = "(trim(issues.summary) = '')";
    let description = "(issues.description IS NULL OR trim(issues.description) = '')";
    let comment = format!("(trim(coalesce({COMMENTS_TEXT}, '')) = '')");
    match t {
        TextField::Summary => s.s(summary),
        TextField::Description => s.s(description),
        TextField::Comment => s.s(&comment),
        TextField::All => s.s(&format!("({summary} AND {description} AND {comment})")),
    };
}

fn write_text_hit(t: TextField, groups: &[Group], s: &mut Sql) {
    let column = match t {
        TextField::Summary => Some("summary"),
        TextField::All => None,
        TextField::Description | TextField::Comment => {
            let hay = match t {
                TextField::Comment => COMMENTS_TEXT,
                _ => "issues.description",
            };
            s.s("(");
            for (i, g) in groups.iter().enumerate() {
                if i > 0 {
                    s.s(" AND ");
                }
                s.s(&format!(
                    "((' ' || lower(coalesce({hay}, '')) || ' ') GLOB "
                ))
                .p(text::glob_pattern(g))
                .s(")");
            }
            s.s(")");
            return;
        }
    };
    s.s("issues.rowid IN (SELECT rowid FROM issues_fts WHERE issues_fts MATCH ")
        .p(text::fts_query(groups, column))
        .s(")");
}

/// Priority as a rank, most important highest (`Highest`/`Blocker` 5 … `Lowest`/`Trivial` 1,
/// other names 0, none NULL), as Jira orders its default priority schemes.
const PRIORITY_RANK: &str = "(CASE WHEN issues.priority IS NULL OR trim(issues.priority) = '' THEN NULL ELSE (CASE lower(trim(issues.priority)) WHEN 'highest' THEN 5 WHEN 'blocker' THEN 5 WHEN 'high' THEN 4 WHEN 'critical' THEN 4 WHEN 'medium' THEN 3 WHEN 'major' THEN 3 WHEN 'low' THEN 2 WHEN 'minor' THEN 2 WHEN 'lowest' THEN 1 WHEN 'trivial' THEN 1 ELSE 0 END) END)";

/// Status as its category's place in the workflow (to do, in progress, done).
const STATUS_RANK: &str = "(CASE WHEN issues.status IS NULL OR trim(issues.status) = '' THEN NULL ELSE (CASE lower(issues.status_category) WHEN 'new' THEN 1 WHEN 'indeterminate' THEN 2 WHEN 'done' THEN 3 ELSE 0 END) END)";

const CATEGORY_RANK: &str = "(CASE lower(issues.status_category) WHEN 'new' THEN 1 WHEN 'indeterminate' THEN 2 WHEN 'done' THEN 3 ELSE NULL END)";

fn sort_exprs(field: &str) -> Option<&'static [&'static str]> {
    Some(match field.to_ascii_lowercase().as_str() {
        "key" | "issuekey" | "issue" => &["issues.project", "issues.num"],
        "created" | "createddate" => &["issues.created_ms"],
        "updated" | "updateddate" => &["issues.updated_ms"],
        "due" | "duedate" => &["NULLIF(issues.due, '')"],
        "priority" => &[PRIORITY_RANK, "lower(NULLIF(trim(issues.priority), ''))"],
        "status" => &[STATUS_RANK, "lower(NULLIF(trim(issues.status), ''))"],
        "statuscategory" => &[CATEGORY_RANK],
        "summary" => &["lower(issues.summary)"],
        "assignee" => {
            &["lower(COALESCE(NULLIF(issues.assignee, ''), NULLIF(issues.assignee_id, '')))"]
        }
        "reporter" => {
            &["lower(COALESCE(NULLIF(issues.reporter, ''), NULLIF(issues.reporter_id, '')))"]
        }
        "project" => &["lower(issues.project)"],
        "issuetype" | "type" => &["lower(NULLIF(trim(issues.issue_type), ''))"],
        "resolution" => &["lower(NULLIF(trim(issues.resolution), ''))"],
        _ => return None,
    })
}
