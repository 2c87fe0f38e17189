//! The syntax tree both languages parse into: clauses with their source spans (so errors can
//! quote them), flat `AND`/`OR` lists, `NOT`, and the `ORDER BY` terms.

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Eq,
    Ne,
    Like,
    NotLike,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Is,
    IsNot,
}

impl Op {
    /// The operator as people write it.
    pub fn text(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Like => "~",
            Op::NotLike => "!~",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
            Op::Is => "IS",
            Op::IsNot => "IS NOT",
        }
    }
}

/// One value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    /// A bare word or a quoted string.
    Text(String),
    /// `EMPTY` / `NULL` (unquoted).
    Empty,
    /// `name(arg, …)`.
    Func(String, Vec<String>),
}

/// A clause: `field op operand`, with its source span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Clause {
    /// The field as written (quotes removed).
    pub field: String,
    pub op: Op,
    /// One value, or the items of `( … )` (only after `IN` / `NOT IN`).
    pub values: Vec<Value>,
    /// Whether the operand was a parenthesised list.
    pub list: bool,
    pub start: usize,
    pub end: usize,
}

/// A boolean expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Clause(Clause),
}

/// One `ORDER BY` term; the span starts at `ORDER` for the first term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SortTerm {
    /// The field as written.
    pub field: String,
    pub desc: bool,
    pub start: usize,
    pub end: usize,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Query {
    pub filter: Option<Expr>,
    pub order: Vec<SortTerm>,
}
