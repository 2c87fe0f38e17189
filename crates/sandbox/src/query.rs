//! JQL and CQL for the sandbox: one tokenizer and recursive-descent parser for the shared
//! boolean grammar (AND, OR, NOT, parentheses, comparison operators, lists, functions,
//! `ORDER BY`), a checker that resolves fields, operators, functions and dates against a
//! schema, and an evaluator over records.
//!
//! Precedence, loosest first: `OR`, `AND`, `NOT`, then a parenthesised group or a clause.
//! Errors carry the 1-based character position, like Jira's "(line 1, character N)".

use std::cmp::Ordering;

use time::{Duration, OffsetDateTime, Time};

/// Which language is being parsed; decides error wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Jira Query Language.
    Jql,
    /// Confluence Query Language.
    Cql,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Like,
    NotLike,
    Gt,
    Ge,
    Lt,
    Le,
    In,
    NotIn,
    Is,
    IsNot,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Like => "~",
            Op::NotLike => "!~",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::In => "in",
            Op::NotIn => "not in",
            Op::Is => "is",
            Op::IsNot => "is not",
        }
    }
}

/// The right-hand side of a clause as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    /// A bare word or quoted string.
    Value(String),
    /// `name(arg, …)`.
    Func(String, Vec<String>),
    /// `(a, b, …)`.
    List(Vec<Operand>),
    /// `EMPTY` / `NULL`.
    Empty,
}

/// One `field op operand` clause.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Clause {
    /// Field name, lower-cased.
    pub field: String,
    pub op: Op,
    pub operand: Operand,
    /// 1-based character position of the field.
    pub pos: usize,
}

/// A boolean expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Clause(Clause),
}

/// A parsed query: an optional restriction and the sort order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    pub filter: Option<Expr>,
    /// `(field lower-cased, descending)`.
    pub order: Vec<(String, bool)>,
}

/// A parse or check failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryError {
    pub message: String,
    /// 1-based character position for syntax errors.
    pub pos: Option<usize>,
}

impl QueryError {
    fn at(message: impl Into<String>, pos: usize) -> Self {
        Self {
            message: message.into(),
            pos: Some(pos),
        }
    }

    fn plain(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            pos: None,
        }
    }

    /// The message as Jira words it.
    pub fn jira_message(&self) -> String {
        match self.pos {
            Some(pos) => format!(
                "Error in the JQL Query: {} (line 1, character {pos})",
                self.message
            ),
            None => self.message.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    LParen,
    RParen,
    Comma,
    Eq,
    Ne,
    Like,
    NotLike,
    Gt,
    Ge,
    Lt,
    Le,
    Bang,
    AndAnd,
    OrOr,
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 1-based character position.
    pos: usize,
}

impl Token {
    fn describe(&self) -> String {
        match &self.tok {
            Tok::Word(w) => w.clone(),
            Tok::Str(s) => s.clone(),
            Tok::LParen => "(".into(),
            Tok::RParen => ")".into(),
            Tok::Comma => ",".into(),
            Tok::Eq => "=".into(),
            Tok::Ne => "!=".into(),
            Tok::Like => "~".into(),
            Tok::NotLike => "!~".into(),
            Tok::Gt => ">".into(),
            Tok::Ge => ">=".into(),
            Tok::Lt => "<".into(),
            Tok::Le => "<=".into(),
            Tok::Bang => "!".into(),
            Tok::AndAnd => "&&".into(),
            Tok::OrOr => "||".into(),
            Tok::Eof => "EOF".into(),
        }
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }
}

const RESERVED_WORDS: &[&str] = &[
    "and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc", "was", "changed",
];

fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !"()=!~<>,\"'&|".contains(c)
}

fn tokenize(input: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        let next = chars.get(i + 1).copied();
        let simple = |tok: Tok| Token { tok, pos };
        match c {
            c if c.is_whitespace() => {
                i += 1;
            }
            '(' => {
                out.push(simple(Tok::LParen));
                i += 1;
            }
            ')' => {
                out.push(simple(Tok::RParen));
                i += 1;
            }
            ',' => {
                out.push(simple(Tok::Comma));
                i += 1;
            }
            '=' => {
                out.push(simple(Tok::Eq));
                i += 1;
            }
            '~' => {
                out.push(simple(Tok::Like));
                i += 1;
            }
            '!' => match next {
                Some('=') => {
                    out.push(simple(Tok::Ne));
                    i += 2;
                }
                Some('~') => {
                    out.push(simple(Tok::NotLike));
                    i += 2;
                }
                _ => {
                    out.push(simple(Tok::Bang));
                    i += 1;
                }
            },
            '<' | '>' => {
                let eq = next == Some('=');
                let tok = match (c, eq) {
                    ('<', true) => Tok::Le,
                    ('<', false) => Tok::Lt,
                    (_, true) => Tok::Ge,
                    _ => Tok::Gt,
                };
                out.push(simple(tok));
                i += if eq { 2 } else { 1 };
            }
            '&' | '|' => {
                if next == Some(c) {
                    out.push(simple(if c == '&' { Tok::AndAnd } else { Tok::OrOr }));
                    i += 2;
                } else {
                    return Err(QueryError::at(
                        format!(
                            "The character '{c}' is a reserved JQL character. You must enclose it in a string or use the escape '\\u{:04x}' instead.",
                            u32::from(c)
                        ),
                        pos,
                    ));
                }
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                let mut j = i + 1;
                let mut closed = false;
                while j < chars.len() {
                    let d = chars[j];
                    if d == quote {
                        closed = true;
                        j += 1;
                        break;
                    }
                    if d == '\\' {
                        let e = chars.get(j + 1).copied();
                        match e {
                            Some('"') => s.push('"'),
                            Some('\'') => s.push('\''),
                            Some('\\') => s.push('\\'),
                            Some(' ') => s.push(' '),
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some('u') => {
                                let hex: String = chars.iter().skip(j + 2).take(4).collect();
                                let code = if hex.len() == 4 {
                                    u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                                } else {
                                    None
                                };
                                match code {
                                    Some(ch) => {
                                        s.push(ch);
                                        j += 4;
                                    }
                                    None => {
                                        return Err(QueryError::at(
                                            format!("The escape sequence '\\u{hex}' is not valid."),
                                            j + 1,
                                        ));
                                    }
                                }
                            }
                            Some(other) => {
                                return Err(QueryError::at(
                                    format!("The escape sequence '\\{other}' is not valid."),
                                    j + 1,
                                ));
                            }
                            None => break,
                        }
                        j += 2;
                        continue;
                    }
                    s.push(d);
                    j += 1;
                }
                if !closed {
                    return Err(QueryError::at(
                        format!("The quoted string '{s}' has not been completed."),
                        pos,
                    ));
                }
                out.push(Token {
                    tok: Tok::Str(s),
                    pos,
                });
                i = j;
            }
            _ => {
                let mut s = String::new();
                let mut j = i;
                while j < chars.len() && is_word_char(chars[j]) {
                    s.push(chars[j]);
                    j += 1;
                }
                out.push(Token {
                    tok: Tok::Word(s),
                    pos,
                });
                i = j;
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: chars.len() + 1,
    });
    Ok(out)
}

struct Parser {
    toks: Vec<Token>,
    at: usize,
    dialect: Dialect,
    /// Current nesting of parentheses and `NOT`s.
    depth: usize,
    /// Clauses seen so far.
    clauses: usize,
}

/// Deepest nesting of parentheses/`NOT` accepted; keeps recursion bounded on hostile input.
const MAX_DEPTH: usize = 64;
/// Most clauses accepted in one query; keeps evaluation recursion bounded.
const MAX_CLAUSES: usize = 500;
/// Longest query accepted, in characters.
const MAX_QUERY_CHARS: usize = 50_000;

const OPERATORS_HINT: &str = "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'.";

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with Eof and `at` never moves past it.
        &self.toks[self.at.min(self.toks.len() - 1)]
    }

    fn peek2(&self) -> &Token {
        &self.toks[(self.at + 1).min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.at < self.toks.len() - 1 {
            self.at += 1;
        }
        t
    }

    fn query(&mut self) -> Result<Query, QueryError> {
        let filter = if matches!(self.peek().tok, Tok::Eof) || self.at_order_by() {
            None
        } else {
            Some(self.or_expr()?)
        };
        let mut order = Vec::new();
        if self.at_order_by() {
            self.bump();
            self.bump();
            loop {
                let t = self.bump();
                let field = match &t.tok {
                    Tok::Word(w) if !is_reserved(w) => w.to_lowercase(),
                    Tok::Str(s) => s.to_lowercase(),
                    _ => {
                        return Err(QueryError::at(
                            format!("Expecting a field name but got '{}'.", t.describe()),
                            t.pos,
                        ));
                    }
                };
                let mut desc = false;
                if self.peek().is_kw("asc") {
                    self.bump();
                } else if self.peek().is_kw("desc") {
                    self.bump();
                    desc = true;
                }
                order.push((field, desc));
                if matches!(self.peek().tok, Tok::Comma) {
                    self.bump();
                    continue;
                }
                break;
            }
        }
        let t = self.peek().clone();
        if !matches!(t.tok, Tok::Eof) {
            let msg = if filter.is_some() && order.is_empty() {
                format!("Expecting either 'OR' or 'AND' but got '{}'.", t.describe())
            } else {
                format!("Expecting end of query but got '{}'.", t.describe())
            };
            return Err(QueryError::at(msg, t.pos));
        }
        Ok(Query { filter, order })
    }

    fn at_order_by(&self) -> bool {
        self.peek().is_kw("order") && self.peek2().is_kw("by")
    }

    fn or_expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and_expr()?;
        while self.peek().is_kw("or") || matches!(self.peek().tok, Tok::OrOr) {
            self.bump();
            let right = self.and_expr()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.not_expr()?;
        while self.peek().is_kw("and") || matches!(self.peek().tok, Tok::AndAnd) {
            self.bump();
            let right = self.not_expr()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn enter(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::at(
                format!("The query is nested more than {MAX_DEPTH} levels deep."),
                self.peek().pos,
            ));
        }
        Ok(())
    }

    fn not_expr(&mut self) -> Result<Expr, QueryError> {
        if self.peek().is_kw("not") || matches!(self.peek().tok, Tok::Bang) {
            self.bump();
            self.enter()?;
            let inner = self.not_expr()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        if matches!(self.peek().tok, Tok::LParen) {
            self.bump();
            self.enter()?;
            let inner = self.or_expr()?;
            self.depth -= 1;
            let t = self.bump();
            if !matches!(t.tok, Tok::RParen) {
                return Err(QueryError::at(
                    format!("Expecting ')' but got '{}'.", t.describe()),
                    t.pos,
                ));
            }
            return Ok(inner);
        }
        self.clause()
    }

    fn clause(&mut self) -> Result<Expr, QueryError> {
        let t = self.bump();
        self.clauses += 1;
        if self.clauses > MAX_CLAUSES {
            return Err(QueryError::at(
                format!("The query has more than {MAX_CLAUSES} clauses."),
                t.pos,
            ));
        }
        let field = match &t.tok {
            Tok::Word(w) if !is_reserved(w) => w.to_lowercase(),
            Tok::Str(s) => s.to_lowercase(),
            Tok::Eof => {
                return Err(QueryError::at(
                    "Expecting a field name but got 'EOF'.".to_string(),
                    t.pos,
                ));
            }
            _ => {
                return Err(QueryError::at(
                    format!(
                        "Expecting a field name but got '{}'. You must surround '{}' in quotation marks to use it as a field name.",
                        t.describe(),
                        t.describe()
                    ),
                    t.pos,
                ));
            }
        };
        let op = self.operator()?;
        let operand = match op {
            Op::Is | Op::IsNot => {
                let v = self.bump();
                if v.is_kw("empty") || v.is_kw("null") {
                    Operand::Empty
                } else {
                    return Err(QueryError::at(
                        format!(
                            "Expecting 'EMPTY' or 'NULL' after '{}' but got '{}'.",
                            op.text().to_uppercase(),
                            v.describe()
                        ),
                        v.pos,
                    ));
                }
            }
            Op::In | Op::NotIn => {
                if matches!(self.peek().tok, Tok::LParen) {
                    self.list()?
                } else {
                    // `in currentUser()`-style function operands are allowed.
                    self.operand()?
                }
            }
            _ if matches!(self.peek().tok, Tok::LParen) => self.list()?,
            _ => self.operand()?,
        };
        if matches!(operand, Operand::List(_)) && !matches!(op, Op::In | Op::NotIn) {
            return Err(QueryError::at(
                format!(
                    "The operator '{}' does not support the list value.",
                    op.text().to_uppercase()
                ),
                t.pos,
            ));
        }
        Ok(Expr::Clause(Clause {
            field,
            op,
            operand,
            pos: t.pos,
        }))
    }

    fn operator(&mut self) -> Result<Op, QueryError> {
        let t = self.bump();
        let op = match &t.tok {
            Tok::Eq => Op::Eq,
            Tok::Ne => Op::Ne,
            Tok::Like => Op::Like,
            Tok::NotLike => Op::NotLike,
            Tok::Gt => Op::Gt,
            Tok::Ge => Op::Ge,
            Tok::Lt => Op::Lt,
            Tok::Le => Op::Le,
            Tok::Word(w) if w.eq_ignore_ascii_case("in") => Op::In,
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                let n = self.bump();
                if n.is_kw("in") {
                    Op::NotIn
                } else {
                    return Err(QueryError::at(
                        format!("Expecting 'IN' after 'NOT' but got '{}'.", n.describe()),
                        n.pos,
                    ));
                }
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("is") => {
                if self.peek().is_kw("not") {
                    self.bump();
                    Op::IsNot
                } else {
                    Op::Is
                }
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("was") || w.eq_ignore_ascii_case("changed") => {
                return Err(QueryError::at(
                    format!(
                        "The history operator '{}' is not supported by the sandbox.",
                        w.to_uppercase()
                    ),
                    t.pos,
                ));
            }
            _ => {
                return Err(QueryError::at(
                    format!(
                        "Expecting operator but got '{}'. {OPERATORS_HINT}",
                        t.describe()
                    ),
                    t.pos,
                ));
            }
        };
        Ok(op)
    }

    fn list(&mut self) -> Result<Operand, QueryError> {
        self.bump(); // '('
        let mut items = Vec::new();
        loop {
            items.push(self.operand()?);
            let t = self.bump();
            match t.tok {
                Tok::Comma => continue,
                Tok::RParen => break,
                _ => {
                    return Err(QueryError::at(
                        format!("Expecting ',' or ')' but got '{}'.", t.describe()),
                        t.pos,
                    ));
                }
            }
        }
        Ok(Operand::List(items))
    }

    fn operand(&mut self) -> Result<Operand, QueryError> {
        let t = self.bump();
        match &t.tok {
            Tok::Str(s) => Ok(Operand::Value(s.clone())),
            Tok::Word(w) if w.eq_ignore_ascii_case("empty") || w.eq_ignore_ascii_case("null") => {
                Ok(Operand::Empty)
            }
            Tok::Word(w) if !is_reserved(w) => {
                if matches!(self.peek().tok, Tok::LParen) {
                    self.bump();
                    let mut args = Vec::new();
                    if matches!(self.peek().tok, Tok::RParen) {
                        self.bump();
                    } else {
                        loop {
                            let a = self.bump();
                            match &a.tok {
                                Tok::Word(x) | Tok::Str(x) => args.push(x.clone()),
                                _ => {
                                    return Err(QueryError::at(
                                        format!(
                                            "Expecting a function argument but got '{}'.",
                                            a.describe()
                                        ),
                                        a.pos,
                                    ));
                                }
                            }
                            let sep = self.bump();
                            match sep.tok {
                                Tok::Comma => continue,
                                Tok::RParen => break,
                                _ => {
                                    return Err(QueryError::at(
                                        format!(
                                            "Expecting ',' or ')' but got '{}'.",
                                            sep.describe()
                                        ),
                                        sep.pos,
                                    ));
                                }
                            }
                        }
                    }
                    Ok(Operand::Func(w.clone(), args))
                } else {
                    Ok(Operand::Value(w.clone()))
                }
            }
            _ => {
                let what = t.describe();
                let hint = match self.dialect {
                    Dialect::Jql if matches!(t.tok, Tok::Word(_)) => format!(
                        " You must surround '{what}' in quotation marks to use it as a value."
                    ),
                    _ => String::new(),
                };
                Err(QueryError::at(
                    format!("Expecting either a value, list or function but got '{what}'.{hint}"),
                    t.pos,
                ))
            }
        }
    }
}

fn is_reserved(w: &str) -> bool {
    RESERVED_WORDS.iter().any(|r| r.eq_ignore_ascii_case(w))
}

/// Parses a query.
pub(crate) fn parse(input: &str, dialect: Dialect) -> Result<Query, QueryError> {
    if input.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryError::plain(format!(
            "The query is longer than {MAX_QUERY_CHARS} characters."
        )));
    }
    let toks = tokenize(input)?;
    let mut p = Parser {
        toks,
        at: 0,
        dialect,
        depth: 0,
        clauses: 0,
    };
    p.query()
}

// ---------------------------------------------------------------------------------------------
// Checking and evaluation
// ---------------------------------------------------------------------------------------------

/// How a field compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Exact (case-insensitive) values, possibly several (labels, status, project …).
    Keyword,
    /// Free text: only `~`, `!~`, `IS [NOT] EMPTY`.
    Text,
    /// Free text that can also be compared exactly (CQL `title`).
    Title,
    /// Instants.
    Date,
    /// Integers (`id`).
    Number,
    /// Issue keys (`PROJ-12`), ordered by project then number.
    Key,
    /// Users (accountId, username, display name or email all match).
    User,
}

impl Kind {
    fn allows(self, op: Op) -> bool {
        use Op::*;
        match self {
            Kind::Keyword | Kind::User => matches!(op, Eq | Ne | In | NotIn | Is | IsNot),
            Kind::Text => matches!(op, Like | NotLike | Is | IsNot),
            Kind::Title => matches!(op, Eq | Ne | Like | NotLike | In | NotIn | Is | IsNot),
            Kind::Date | Kind::Number | Kind::Key => {
                matches!(op, Eq | Ne | Gt | Ge | Lt | Le | In | NotIn | Is | IsNot)
            }
        }
    }
}

/// What the checker needs to know about the fields of a language.
pub(crate) trait Schema {
    /// The kind of a (lower-cased) field, or `None` when it does not exist.
    fn kind(&self, field: &str) -> Option<Kind>;
    /// Rejects a value the site knows cannot exist (Jira: unknown project, status …).
    fn check_value(&self, _field: &str, _value: &str) -> Result<(), QueryError> {
        Ok(())
    }
    /// Whether a value stands for "no value" (Jira's `resolution = Unresolved`).
    fn is_empty_alias(&self, _field: &str, _value: &str) -> bool {
        false
    }
    /// The current user's id as written into queries by `currentUser()`.
    fn current_user(&self) -> String;
    /// The instant `now()` stands for.
    fn now(&self) -> OffsetDateTime;
}

/// A field value of one record.
#[derive(Debug, Clone)]
pub(crate) enum FieldVal {
    /// Zero or more exact values (aliases for users, labels, one status …).
    Many(Vec<String>),
    /// Searchable text.
    Text(String),
    /// An instant, or none.
    Date(Option<OffsetDateTime>),
    /// An integer, or none.
    Num(Option<i64>),
}

/// A sort key of one record.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub(crate) enum SortKey {
    Num(i64),
    Time(OffsetDateTime),
    Str(String),
    /// Issue keys: project, then number.
    Key(String, i64),
    None,
}

/// A record a query can be evaluated on.
pub(crate) trait Subject {
    /// The value of a (lower-cased, known) field.
    fn value(&self, field: &str) -> FieldVal;
    /// The sort key of a (lower-cased, known) field.
    fn sort_key(&self, field: &str) -> SortKey;
}

#[derive(Debug, Clone)]
enum RVal {
    Str(String),
    Time(OffsetDateTime),
    Num(i64),
    Empty,
}

#[derive(Debug, Clone)]
struct CClause {
    field: String,
    kind: Kind,
    op: Op,
    values: Vec<RVal>,
}

#[derive(Debug, Clone)]
enum CExpr {
    And(Box<CExpr>, Box<CExpr>),
    Or(Box<CExpr>, Box<CExpr>),
    Not(Box<CExpr>),
    Clause(CClause),
}

/// A query checked against a schema, ready to evaluate.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    filter: Option<CExpr>,
    order: Vec<(String, bool)>,
    terms: Vec<String>,
}

/// Checks a parsed query against a schema: unknown fields, unsupported operators, unknown
/// functions, invalid dates and values the schema rejects are errors.
pub(crate) fn compile(
    q: &Query,
    schema: &dyn Schema,
    dialect: Dialect,
) -> Result<Compiled, QueryError> {
    let filter = match &q.filter {
        Some(e) => Some(compile_expr(e, schema, dialect)?),
        None => None,
    };
    for (field, _) in &q.order {
        match schema.kind(field) {
            None => return Err(unknown_field(field, dialect)),
            Some(Kind::Text) => {
                return Err(QueryError::plain(format!(
                    "Field '{field}' does not support sorting."
                )));
            }
            Some(_) => {}
        }
    }
    let mut terms = Vec::new();
    if let Some(e) = &q.filter {
        collect_terms(e, false, &mut terms);
    }
    Ok(Compiled {
        filter,
        order: q.order.clone(),
        terms,
    })
}

fn unknown_field(field: &str, dialect: Dialect) -> QueryError {
    match dialect {
        Dialect::Jql => QueryError::plain(format!(
            "Field '{field}' does not exist or you do not have permission to view it."
        )),
        Dialect::Cql => QueryError::plain(format!("The field '{field}' is not a CQL field.")),
    }
}

fn collect_terms(e: &Expr, negated: bool, out: &mut Vec<String>) {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            collect_terms(a, negated, out);
            collect_terms(b, negated, out);
        }
        Expr::Not(a) => collect_terms(a, !negated, out),
        Expr::Clause(c) => {
            if !negated
                && c.op == Op::Like
                && let Operand::Value(v) = &c.operand
            {
                for w in words(v) {
                    if !out.contains(&w) {
                        out.push(w);
                    }
                }
            }
        }
    }
}

fn compile_expr(e: &Expr, schema: &dyn Schema, dialect: Dialect) -> Result<CExpr, QueryError> {
    Ok(match e {
        Expr::And(a, b) => CExpr::And(
            Box::new(compile_expr(a, schema, dialect)?),
            Box::new(compile_expr(b, schema, dialect)?),
        ),
        Expr::Or(a, b) => CExpr::Or(
            Box::new(compile_expr(a, schema, dialect)?),
            Box::new(compile_expr(b, schema, dialect)?),
        ),
        Expr::Not(a) => CExpr::Not(Box::new(compile_expr(a, schema, dialect)?)),
        Expr::Clause(c) => {
            let kind = schema
                .kind(&c.field)
                .ok_or_else(|| unknown_field(&c.field, dialect))?;
            if !kind.allows(c.op) {
                return Err(QueryError::plain(format!(
                    "The operator '{}' is not supported by the '{}' field.",
                    c.op.text(),
                    c.field
                )));
            }
            let mut values = Vec::new();
            resolve(&c.operand, &c.field, kind, schema, dialect, &mut values)?;
            if matches!(c.op, Op::Is | Op::IsNot) && !matches!(values.as_slice(), [RVal::Empty]) {
                return Err(QueryError::plain(format!(
                    "The operator '{}' only supports EMPTY or NULL.",
                    c.op.text()
                )));
            }
            CExpr::Clause(CClause {
                field: c.field.clone(),
                kind,
                op: c.op,
                values,
            })
        }
    })
}

fn resolve(
    operand: &Operand,
    field: &str,
    kind: Kind,
    schema: &dyn Schema,
    dialect: Dialect,
    out: &mut Vec<RVal>,
) -> Result<(), QueryError> {
    match operand {
        Operand::Empty => out.push(RVal::Empty),
        Operand::List(items) => {
            for item in items {
                resolve(item, field, kind, schema, dialect, out)?;
            }
        }
        Operand::Value(v) => match kind {
            Kind::Date => out.push(RVal::Time(parse_date(v, field, schema.now())?)),
            Kind::Number => match v.trim().parse::<i64>() {
                Ok(n) => out.push(RVal::Num(n)),
                Err(_) => {
                    return Err(QueryError::plain(format!(
                        "The value '{v}' is not a valid number for the field '{field}'."
                    )));
                }
            },
            _ if schema.is_empty_alias(field, v) => out.push(RVal::Empty),
            _ => {
                schema.check_value(field, v)?;
                out.push(RVal::Str(v.clone()));
            }
        },
        Operand::Func(name, args) => {
            let lname = name.to_lowercase();
            let fn_error = || match dialect {
                Dialect::Jql => QueryError::plain(format!(
                    "Unable to find JQL function '{name}({})'.",
                    args.join(", ")
                )),
                Dialect::Cql => QueryError::plain(format!("Unable to find CQL function '{name}'.")),
            };
            match (kind, lname.as_str()) {
                (Kind::User, "currentuser") => out.push(RVal::Str(schema.current_user())),
                (Kind::Date, f) => {
                    let t = date_function(f, args, schema.now()).ok_or_else(fn_error)??;
                    out.push(RVal::Time(t));
                }
                _ => return Err(fn_error()),
            }
        }
    }
    Ok(())
}

fn date_function(
    name: &str,
    args: &[String],
    now: OffsetDateTime,
) -> Option<Result<OffsetDateTime, QueryError>> {
    let base = match args.first() {
        None => now,
        Some(a) => match parse_period(a) {
            Some(d) => now.checked_add(d).unwrap_or(now),
            None => {
                return Some(Err(QueryError::plain(format!(
                    "The argument '{a}' of the function '{name}' is not a valid period such as '-1d' or '2w'."
                ))));
            }
        },
    };
    let day = base.replace_time(Time::MIDNIGHT);
    let end_of = |t: OffsetDateTime| t.checked_sub(Duration::milliseconds(1)).unwrap_or(t);
    let monday = day
        .checked_sub(Duration::days(i64::from(
            base.weekday().number_days_from_monday(),
        )))
        .unwrap_or(day);
    let month_start = day.replace_day(1).unwrap_or(day);
    let next_month = if month_start.month() == time::Month::December {
        month_start
            .replace_year(month_start.year() + 1)
            .ok()
            .and_then(|t| t.replace_month(time::Month::January).ok())
    } else {
        month_start.replace_month(month_start.month().next()).ok()
    }
    .unwrap_or(month_start);
    let year_start = month_start
        .replace_month(time::Month::January)
        .unwrap_or(month_start);
    let next_year = year_start
        .replace_year(year_start.year() + 1)
        .unwrap_or(year_start);
    let t = match name {
        "now" => base,
        "startofday" => day,
        "endofday" => end_of(day.checked_add(Duration::days(1)).unwrap_or(day)),
        "startofweek" => monday,
        "endofweek" => end_of(monday.checked_add(Duration::days(7)).unwrap_or(monday)),
        "startofmonth" => month_start,
        "endofmonth" => end_of(next_month),
        "startofyear" => year_start,
        "endofyear" => end_of(next_year),
        _ => return None,
    };
    Some(Ok(t))
}

/// Parses `-7d`, `2w`, `-4w 2d`, `1h`, `-30m` into a signed duration.
fn parse_period(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut total = Duration::ZERO;
    let mut any = false;
    for part in rest.split_whitespace() {
        let unit = part.chars().last()?;
        let num: i64 = part.get(..part.len() - unit.len_utf8())?.parse().ok()?;
        if num > 100_000 {
            return None;
        }
        let d = match unit.to_ascii_lowercase() {
            'w' => Duration::weeks(num),
            'd' => Duration::days(num),
            'h' => Duration::hours(num),
            'm' => Duration::minutes(num),
            _ => return None,
        };
        total += d;
        any = true;
    }
    any.then_some(total * sign)
}

/// Parses a date value: `yyyy-MM-dd`, `yyyy/MM/dd`, optionally followed by ` HH:mm`, or a
/// period relative to now (`-7d`).
fn parse_date(v: &str, field: &str, now: OffsetDateTime) -> Result<OffsetDateTime, QueryError> {
    if let Some(d) = parse_period(v) {
        return Ok(now.checked_add(d).unwrap_or(now));
    }
    let v = v.trim();
    let (date_part, time_part) = match v.split_once(' ') {
        Some((d, t)) => (d, Some(t.trim())),
        None => (v, None),
    };
    let parsed = (|| {
        let mut it = date_part.split(['-', '/']);
        let y: i32 = it.next()?.parse().ok()?;
        let m: u8 = it.next()?.parse().ok()?;
        let d: u8 = it.next()?.parse().ok()?;
        if it.next().is_some() {
            return None;
        }
        let date = time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()?;
        let tm = match time_part {
            None => Time::MIDNIGHT,
            Some(t) => {
                let (h, mi) = t.split_once(':')?;
                Time::from_hms(h.parse().ok()?, mi.parse().ok()?, 0).ok()?
            }
        };
        Some(date.with_time(tm).assume_utc())
    })();
    parsed.ok_or_else(|| {
        QueryError::plain(format!(
            "Date value '{v}' for field '{field}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
        ))
    })
}

/// Splits a `~` search term into lower-cased words (wildcards dropped).
pub(crate) fn words(term: &str) -> Vec<String> {
    term.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.'))
        .map(|w| w.trim_matches(|c: char| c == '.' || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// `~` semantics: a quoted phrase must appear as is; otherwise every word must appear
/// (case-insensitive substring).
pub(crate) fn text_matches(hay: &str, term: &str) -> bool {
    let hay = hay.to_lowercase();
    let t = term.trim();
    if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
        let phrase = t.trim_matches('"').to_lowercase();
        return !phrase.is_empty() && hay.contains(&phrase);
    }
    let ws = words(t);
    !ws.is_empty() && ws.iter().all(|w| hay.contains(w.as_str()))
}

fn key_parts(s: &str) -> Option<(String, i64)> {
    let (p, n) = s.rsplit_once('-')?;
    Some((p.to_uppercase(), n.parse().ok()?))
}

impl Compiled {
    /// The `ORDER BY` fields (lower-cased) with `true` for descending.
    pub fn order(&self) -> &[(String, bool)] {
        &self.order
    }

    /// Whether the query had a restriction (Jira refuses unbounded queries on `/search/jql`).
    pub fn is_bounded(&self) -> bool {
        self.filter.is_some()
    }

    /// The positive `~` search words, for highlighting.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// Whether a record matches.
    pub fn matches(&self, s: &dyn Subject) -> bool {
        match &self.filter {
            None => true,
            Some(e) => eval(e, s),
        }
    }
}

/// Orders keys with empty values last in ascending order.
pub(crate) fn cmp_keys(a: &SortKey, b: &SortKey) -> Ordering {
    match (a, b) {
        (SortKey::None, SortKey::None) => Ordering::Equal,
        (SortKey::None, _) => Ordering::Greater,
        (_, SortKey::None) => Ordering::Less,
        (SortKey::Str(x), SortKey::Str(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        _ => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

fn eval(e: &CExpr, s: &dyn Subject) -> bool {
    match e {
        CExpr::And(a, b) => eval(a, s) && eval(b, s),
        CExpr::Or(a, b) => eval(a, s) || eval(b, s),
        CExpr::Not(a) => !eval(a, s),
        CExpr::Clause(c) => eval_clause(c, s),
    }
}

fn eval_clause(c: &CClause, s: &dyn Subject) -> bool {
    let v = s.value(&c.field);
    let is_empty = match &v {
        FieldVal::Many(xs) => xs.is_empty(),
        FieldVal::Text(t) => t.trim().is_empty(),
        FieldVal::Date(d) => d.is_none(),
        FieldVal::Num(n) => n.is_none(),
    };
    match c.op {
        Op::Is => return is_empty,
        Op::IsNot => return !is_empty,
        _ => {}
    }
    let wants_empty = c.values.iter().any(|r| matches!(r, RVal::Empty));
    let concrete: Vec<&RVal> = c
        .values
        .iter()
        .filter(|r| !matches!(r, RVal::Empty))
        .collect();
    let any_eq = || concrete.iter().any(|r| equals(&v, r, c.kind));
    match c.op {
        Op::Eq => (wants_empty && is_empty) || (!is_empty && any_eq()),
        Op::In => (wants_empty && is_empty) || (!is_empty && any_eq()),
        // `!= EMPTY` means "has a value"; `!= x` never matches records without a value.
        Op::Ne | Op::NotIn => !is_empty && !any_eq(),
        Op::Like | Op::NotLike => {
            let hay = match &v {
                FieldVal::Text(t) => t.clone(),
                FieldVal::Many(xs) => xs.join(" "),
                _ => String::new(),
            };
            let hit = concrete.iter().any(|r| match r {
                RVal::Str(term) => text_matches(&hay, term),
                _ => false,
            });
            if c.op == Op::Like {
                hit
            } else {
                !is_empty && !hit
            }
        }
        Op::Gt | Op::Ge | Op::Lt | Op::Le => {
            let Some(r) = concrete.first() else {
                return false;
            };
            let ord = match (&v, r) {
                (FieldVal::Date(Some(d)), RVal::Time(t)) => d.cmp(t),
                (FieldVal::Num(Some(n)), RVal::Num(m)) => n.cmp(m),
                (FieldVal::Many(xs), RVal::Str(k)) if c.kind == Kind::Key => {
                    match (xs.first().and_then(|x| key_parts(x)), key_parts(k)) {
                        (Some((pa, na)), Some((pb, nb))) if pa == pb => na.cmp(&nb),
                        _ => return false,
                    }
                }
                _ => return false,
            };
            match c.op {
                Op::Gt => ord == Ordering::Greater,
                Op::Ge => ord != Ordering::Less,
                Op::Lt => ord == Ordering::Less,
                _ => ord != Ordering::Greater,
            }
        }
        Op::Is | Op::IsNot => is_empty,
    }
}

fn equals(v: &FieldVal, r: &RVal, kind: Kind) -> bool {
    match (v, r) {
        (FieldVal::Many(xs), RVal::Str(s)) => xs
            .iter()
            .any(|x| x.eq_ignore_ascii_case(s) || x.to_lowercase() == s.to_lowercase()),
        (FieldVal::Text(t), RVal::Str(s)) if kind == Kind::Title => {
            t.trim().to_lowercase() == s.trim().to_lowercase()
        }
        (FieldVal::Date(Some(d)), RVal::Time(t)) => d == t,
        (FieldVal::Num(Some(n)), RVal::Num(m)) => n == m,
        _ => false,
    }
}
