//! Recursive-descent parser for the boolean grammar JQL and CQL share: `OR` binds loosest, then
//! `AND`, then `NOT` / `!`, then a parenthesised group or one `field op operand` clause; an
//! optional `ORDER BY field [ASC|DESC], …` ends the query.
//!
//! Nesting (parentheses and `NOT`s) and the number of clauses are capped, and `AND`/`OR` chains
//! are flat lists, so no input can recurse deeply here or in the compilers.

use super::QueryError;
pub(super) use super::ast::{Clause, Expr, Op, Query, SortTerm, Value};
use super::lex::{Tok, Token, lex};

/// Deepest nesting of parentheses and `NOT`s accepted.
pub(super) const MAX_DEPTH: usize = 64;
/// Most clauses (and list values) in one query: keeps the SQL well inside SQLite's limits.
pub(super) const MAX_CLAUSES: usize = 256;
/// Longest query accepted, in bytes.
pub(super) const MAX_QUERY_BYTES: usize = 32 * 1024;

/// Words that must be quoted to be used as a field or value.
const RESERVED: &[&str] = &[
    "and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc", "was", "changed",
];

fn is_reserved(w: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(w))
}

/// History predicates that may follow `WAS` / `CHANGED`.
const HISTORY_PREDICATES: &[&str] = &["after", "before", "during", "on", "by", "from", "to"];

/// Parses a query (empty text is an empty query).
pub(super) fn parse(src: &str) -> Result<Query, QueryError> {
    if src.len() > MAX_QUERY_BYTES {
        return Err(QueryError::new(
            src,
            format!("the query is longer than {MAX_QUERY_BYTES} bytes"),
        ));
    }
    let toks = lex(src)?;
    let mut p = Parser {
        src,
        toks,
        at: 0,
        depth: 0,
        clauses: 0,
        clause_start: 0,
    };
    p.query()
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    at: usize,
    depth: usize,
    clauses: usize,
    /// Start of the clause being parsed (quoted when it ends too early).
    clause_start: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.at)
    }

    fn peek_is(&self, f: impl Fn(&Tok) -> bool) -> bool {
        self.peek().is_some_and(|t| f(&t.tok))
    }

    fn peek_kw(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| t.is_kw(kw))
    }

    fn bump(&mut self) -> Option<Token> {
        let t = self.toks.get(self.at).cloned();
        if t.is_some() {
            self.at += 1;
        }
        t
    }

    /// End offset of the last token consumed.
    fn last_end(&self) -> usize {
        self.at
            .checked_sub(1)
            .and_then(|i| self.toks.get(i))
            .map_or(0, |t| t.end)
    }

    fn text(&self, start: usize, end: usize) -> &str {
        self.src.get(start..end).unwrap_or("")
    }

    /// An error quoting the next token, or at the end of the query the last one.
    fn unexpected(&self, expected: &str) -> QueryError {
        let last_start = self
            .at
            .checked_sub(1)
            .and_then(|i| self.toks.get(i))
            .map_or(0, |t| t.start);
        self.unexpected_in(last_start, expected)
    }

    /// An error quoting the next token, or at the end of the query the text from `start`.
    fn unexpected_in(&self, start: usize, expected: &str) -> QueryError {
        match self.peek() {
            Some(t) => QueryError::new(
                self.text(t.start, t.end),
                format!("expected {expected} here"),
            ),
            None => QueryError::new(
                self.text(start, self.src.len()),
                format!("expected {expected} after this"),
            ),
        }
    }

    fn at_order_by(&self) -> bool {
        self.peek_kw("order") && self.toks.get(self.at + 1).is_some_and(|t| t.is_kw("by"))
    }

    fn query(&mut self) -> Result<Query, QueryError> {
        let filter = if self.peek().is_none() || self.at_order_by() {
            None
        } else {
            Some(self.or_expr()?)
        };
        let order = if self.at_order_by() {
            self.order_by()?
        } else {
            Vec::new()
        };
        if let Some(t) = self.peek() {
            let what = match t.tok {
                Tok::RParen => {
                    return Err(QueryError::new(
                        self.text(t.start, t.end),
                        "`)` has no matching `(`",
                    ));
                }
                _ if !order.is_empty() => "`,` or the end of the query",
                _ => "AND, OR or ORDER BY",
            };
            return Err(self.unexpected(what));
        }
        Ok(Query { filter, order })
    }

    fn order_by(&mut self) -> Result<Vec<SortTerm>, QueryError> {
        let order_start = self.peek().map_or(0, |t| t.start);
        self.at += 2; // ORDER BY
        let mut terms = Vec::new();
        loop {
            let start = if terms.is_empty() {
                order_start
            } else {
                self.peek().map_or(0, |t| t.start)
            };
            let field = match self.peek().map(|t| &t.tok) {
                Some(Tok::Word(w)) if !is_reserved(w) => w.clone(),
                Some(Tok::Str(s)) => s.clone(),
                _ => return Err(self.unexpected_in(order_start, "a field to sort by")),
            };
            self.at += 1;
            let mut desc = false;
            if self.peek_kw("asc") {
                self.at += 1;
            } else if self.peek_kw("desc") {
                self.at += 1;
                desc = true;
            }
            terms.push(SortTerm {
                field,
                desc,
                start,
                end: self.last_end(),
            });
            if self.peek_is(|t| *t == Tok::Comma) {
                self.at += 1;
                continue;
            }
            return Ok(terms);
        }
    }

    fn enter(&mut self, start: usize, end: usize) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::new(
                self.text(start, end),
                format!("the query is nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.and_expr()?];
        while self.peek_kw("or") || self.peek_is(|t| *t == Tok::OrOr) {
            self.at += 1;
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.not_expr()?];
        while self.peek_kw("and") || self.peek_is(|t| *t == Tok::AndAnd) {
            self.at += 1;
            items.push(self.not_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn not_expr(&mut self) -> Result<Expr, QueryError> {
        if let Some(t) = self.peek().cloned()
            && (t.is_kw("not") || t.tok == Tok::Bang)
        {
            self.at += 1;
            self.enter(t.start, t.end)?;
            let inner = self.not_expr()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        if let Some(t) = self.peek().cloned()
            && t.tok == Tok::LParen
        {
            self.at += 1;
            self.enter(t.start, t.end)?;
            let inner = self.or_expr()?;
            self.depth -= 1;
            if !self.peek_is(|t| *t == Tok::RParen) {
                if self.peek().is_none() {
                    return Err(QueryError::new(
                        self.text(t.start, self.src.len()),
                        "`(` is never closed",
                    ));
                }
                return Err(self.unexpected("AND, OR or `)`"));
            }
            self.at += 1;
            return Ok(inner);
        }
        self.clause()
    }

    fn clause(&mut self) -> Result<Expr, QueryError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.unexpected("a clause"));
        };
        let field = match &t.tok {
            Tok::Word(w) if !is_reserved(w) => w.clone(),
            Tok::Str(s) => s.clone(),
            _ => return Err(self.unexpected("a field name, `(` or NOT")),
        };
        self.at += 1;
        self.clause_start = t.start;
        self.count(t.start)?;
        let op = self.operator(t.start)?;
        let (values, list) = match op {
            Op::Is | Op::IsNot => {
                if self.peek_kw("empty") || self.peek_kw("null") {
                    self.at += 1;
                    (vec![Value::Empty], false)
                } else {
                    let expected = format!("EMPTY after {}", op.text());
                    return Err(self.unexpected_in(t.start, &expected));
                }
            }
            _ if self.peek_is(|t| *t == Tok::LParen) => {
                if !matches!(op, Op::In | Op::NotIn) {
                    return Err(QueryError::new(
                        self.text(t.start, self.peek().map_or(t.end, |p| p.end)),
                        format!("a list needs IN or NOT IN, not {}", op.text()),
                    ));
                }
                (self.list(t.start)?, true)
            }
            _ => (vec![self.value()?], false),
        };
        Ok(Expr::Clause(Clause {
            field,
            op,
            values,
            list,
            start: t.start,
            end: self.last_end(),
        }))
    }

    fn count(&mut self, start: usize) -> Result<(), QueryError> {
        self.clauses += 1;
        if self.clauses > MAX_CLAUSES {
            let end = self.peek().map_or(self.src.len(), |t| t.end);
            return Err(QueryError::new(
                self.text(start, end),
                format!("the query has more than {MAX_CLAUSES} clauses and values"),
            ));
        }
        Ok(())
    }

    fn operator(&mut self, start: usize) -> Result<Op, QueryError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.unexpected_in(start, "an operator (=, !=, ~, !~, <, >, IN, IS …)"));
        };
        let op = match &t.tok {
            Tok::Eq => Op::Eq,
            Tok::Ne => Op::Ne,
            Tok::Like => Op::Like,
            Tok::NotLike => Op::NotLike,
            Tok::Lt => Op::Lt,
            Tok::Le => Op::Le,
            Tok::Gt => Op::Gt,
            Tok::Ge => Op::Ge,
            _ if t.is_kw("in") => Op::In,
            _ if t.is_kw("not") => {
                if !self.toks.get(self.at + 1).is_some_and(|n| n.is_kw("in")) {
                    self.at += 1;
                    return Err(self.unexpected("IN after NOT"));
                }
                self.at += 1;
                Op::NotIn
            }
            _ if t.is_kw("is") => {
                if self.toks.get(self.at + 1).is_some_and(|n| n.is_kw("not")) {
                    self.at += 1;
                    Op::IsNot
                } else {
                    Op::Is
                }
            }
            _ if t.is_kw("was") || t.is_kw("changed") => return Err(self.history(start)),
            _ => return Err(self.unexpected("an operator (=, !=, ~, !~, <, >, IN, IS …)")),
        };
        self.at += 1;
        Ok(op)
    }

    /// Skips a `WAS …` / `CHANGED …` clause with its predicates, and names all of it.
    fn history(&mut self, start: usize) -> QueryError {
        let changed = self.peek_kw("changed");
        self.at += 1;
        if !changed {
            if self.peek_kw("not") {
                self.at += 1;
            }
            if self.peek_kw("in") {
                self.at += 1;
            }
            let _ = self.operand();
        }
        while HISTORY_PREDICATES.iter().any(|p| self.peek_kw(p)) {
            self.at += 1;
            if self.operand().is_err() {
                break;
            }
        }
        QueryError::new(
            self.text(start, self.last_end()),
            "the cache keeps no history (WAS, CHANGED)",
        )
    }

    /// A value or a parenthesised list (used only while skipping history clauses).
    fn operand(&mut self) -> Result<(), QueryError> {
        if self.peek_is(|t| *t == Tok::LParen) {
            let start = self.peek().map_or(0, |t| t.start);
            self.list(start).map(|_| ())
        } else {
            self.value().map(|_| ())
        }
    }

    fn list(&mut self, clause_start: usize) -> Result<Vec<Value>, QueryError> {
        let open = self.bump();
        let mut items = Vec::new();
        loop {
            if !items.is_empty() {
                self.count(clause_start)?;
            }
            items.push(self.value()?);
            match self.peek().map(|t| &t.tok) {
                Some(Tok::Comma) => self.at += 1,
                Some(Tok::RParen) => {
                    self.at += 1;
                    return Ok(items);
                }
                None => {
                    let from = open.map_or(clause_start, |o| o.start);
                    return Err(QueryError::new(
                        self.text(from, self.src.len()),
                        "the list is never closed with `)`",
                    ));
                }
                _ => return Err(self.unexpected("`,` or `)` in the list")),
            }
        }
    }

    fn value(&mut self) -> Result<Value, QueryError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.unexpected_in(self.clause_start, "a value"));
        };
        let v = match &t.tok {
            Tok::Str(s) => Value::Text(s.clone()),
            Tok::Word(_) if t.is_kw("empty") || t.is_kw("null") => Value::Empty,
            Tok::Word(w) if !is_reserved(w) => {
                if self
                    .toks
                    .get(self.at + 1)
                    .is_some_and(|n| n.tok == Tok::LParen)
                {
                    self.at += 2;
                    return self.func_args(w.clone(), t.start);
                }
                Value::Text(w.clone())
            }
            _ => return Err(self.unexpected("a value (quote reserved words)")),
        };
        self.at += 1;
        Ok(v)
    }

    fn func_args(&mut self, name: String, start: usize) -> Result<Value, QueryError> {
        let mut args = Vec::new();
        if self.peek_is(|t| *t == Tok::RParen) {
            self.at += 1;
            return Ok(Value::Func(name, args));
        }
        loop {
            match self.peek().map(|t| &t.tok) {
                Some(Tok::Word(a) | Tok::Str(a)) => args.push(a.clone()),
                None => {
                    return Err(QueryError::new(
                        self.text(start, self.src.len()),
                        "the function's `(` is never closed",
                    ));
                }
                _ => return Err(self.unexpected("a function argument")),
            }
            self.at += 1;
            match self.peek().map(|t| &t.tok) {
                Some(Tok::Comma) => self.at += 1,
                Some(Tok::RParen) => {
                    self.at += 1;
                    return Ok(Value::Func(name, args));
                }
                None => {
                    return Err(QueryError::new(
                        self.text(start, self.src.len()),
                        "the function's `(` is never closed",
                    ));
                }
                _ => return Err(self.unexpected("`,` or `)` after the argument")),
            }
        }
    }
}
