//! The syntax tree of an NQL query, with a byte span on every node.
//!
//! `Display` prints canonical NQL: keywords in upper case, names in backquotes, `=` for `==`,
//! values double-quoted when they were quoted, and only the parentheses the structure needs.
//! Printing and parsing again gives the same tree (spans aside).

mod display;

use crate::span::{Span, Spanned};
use crate::types::{Aggregate, AttrType, Operator};

/// A parsed query. `expr` is `None` for the empty query, which matches every object.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub expr: Option<Expr>,
    pub span: Span,
}

/// A boolean expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// The shapes of [`Expr`]. AND and OR are n-ary (two or more operands): a chain
/// `a AND b AND c` is one node, so long queries stay shallow.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Clause(Clause),
}

/// One condition on one attribute: `` `metrics/acc`:float >= 0.5 `` or `` `x` NOT EXISTS ``.
#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    pub reference: Reference,
    pub test: Test,
    pub span: Span,
}

/// The left side of a clause: an attribute, possibly inside an aggregate.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    /// `last` in `last(`acc`):float`.
    pub aggregate: Option<Spanned<Aggregate>>,
    /// The attribute's path, as written between backquotes or bare.
    pub name: Spanned<String>,
    /// The attribute's own type: `float` in `` `f1`:float``, `floatSeries` in
    /// `` last(`acc`:floatSeries) ``.
    pub attr_type: Option<Spanned<AttrType>>,
    /// The type written after an aggregate's parenthesis: `float` in `last(`acc`):float`.
    pub result_type: Option<Spanned<AttrType>>,
    pub span: Span,
}

/// What a clause checks.
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    /// `EXISTS` or `NOT EXISTS`.
    Exists { negated: bool, span: Span },
    /// `op value`, with `NOT` before the operator when `negated`.
    Compare {
        negated: bool,
        op: Spanned<Operator>,
        value: Value,
    },
}

/// A value as written: the unescaped text, and whether it was quoted.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub text: String,
    pub quoted: bool,
    pub span: Span,
}

impl Query {
    /// Sets every span to zero, so that trees can be compared by shape alone.
    pub fn clear_spans(&mut self) {
        self.span = Span::default();
        if let Some(e) = &mut self.expr {
            e.clear_spans();
        }
    }
}

impl Expr {
    /// Sets every span in this subtree to zero.
    pub fn clear_spans(&mut self) {
        self.span = Span::default();
        match &mut self.kind {
            ExprKind::Or(items) | ExprKind::And(items) => items.iter_mut().for_each(Expr::clear_spans),
            ExprKind::Not(inner) => inner.clear_spans(),
            ExprKind::Clause(c) => c.clear_spans(),
        }
    }
}

impl Clause {
    fn clear_spans(&mut self) {
        self.span = Span::default();
        let r = &mut self.reference;
        r.span = Span::default();
        r.name.span = Span::default();
        for s in [&mut r.attr_type, &mut r.result_type].into_iter().flatten() {
            s.span = Span::default();
        }
        if let Some(a) = &mut r.aggregate {
            a.span = Span::default();
        }
        match &mut self.test {
            Test::Exists { span, .. } => *span = Span::default(),
            Test::Compare { op, value, .. } => {
                op.span = Span::default();
                value.span = Span::default();
            }
        }
    }
}
