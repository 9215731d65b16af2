//! The checked query: every clause resolved to an attribute type and a typed value, and
//! every negation made explicit, ready for lowering or for a reference evaluator.

use std::fmt::{self, Display, Formatter};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::diagnostic::Diagnostic;
use crate::span::Span;
use crate::types::{Aggregate, AttrType};

/// A query that passed analysis, with the warnings analysis produced.
#[derive(Clone, Debug)]
pub struct CheckedQuery {
    /// `None` for the empty query (every object matches).
    pub predicate: Option<Predicate>,
    pub warnings: Vec<Diagnostic>,
    /// The instant relative datetimes (`-2h`) were read against.
    pub now: DateTime<Utc>,
}

/// A two-valued boolean formula over tests. An empty `And` is true, an empty `Or` false. Negative forms of the language (`!=`,
/// `NOT CONTAINS`, `NOT EXISTS`) are `Not` of the positive test, so that a missing value
/// makes every positive test false and every negative one true (spec 4.1).
#[derive(Clone, Debug, PartialEq)]
pub enum Predicate {
    And(Vec<Predicate>),
    Or(Vec<Predicate>),
    Not(Box<Predicate>),
    Test(Test),
}

/// A positive test on one attribute of an object.
#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    pub target: Target,
    pub condition: Condition,
    /// The clause this test came from.
    pub span: Span,
}

/// The value a test reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub path: String,
    /// The attribute's type. `Int` and `Float` read every numeric column of the path.
    pub ty: AttrType,
    /// For series: the summary read (`Last` for string series and bare float series).
    pub aggregate: Option<Aggregate>,
    /// False when the table has no such attribute: the test is false for every object.
    pub known: bool,
}

/// What a positive test checks.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// The object has the attribute (a series: at least one point).
    Exists,
    /// `value op literal` in the order of the attribute's type.
    Compare(Comparison, Literal),
    /// Substring of a string, or element of a string set.
    Contains(String),
    /// The value matches the regular expression anywhere (RE2 syntax, validated).
    Matches(String),
}

/// A positive comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Comparison {
    /// The operator's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Eq => "=",
            Comparison::Lt => "<",
            Comparison::Le => "<=",
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
        }
    }

    /// True when `ordering` (value compared with literal) satisfies the comparison.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Comparison::Eq => ordering == Equal,
            Comparison::Lt => ordering == Less,
            Comparison::Le => ordering != Greater,
            Comparison::Gt => ordering == Greater,
            Comparison::Ge => ordering != Less,
        }
    }
}

/// A value read as the clause's type (spec 3).
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Number(Number),
    Bool(bool),
    String(String),
    Datetime(DateTime<Utc>),
    State(ExperimentState),
}

/// A number: exact when it is an integer that fits `i64`, a float otherwise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    /// The value as a float (rounded for integers beyond 2^53).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// The two states of a run (spec 3: `running` is `active`, `idle` is `inactive`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExperimentState {
    Active,
    Inactive,
}

impl ExperimentState {
    /// The canonical spelling, which is also how the engine stores states.
    pub fn name(self) -> &'static str {
        match self {
            ExperimentState::Active => "active",
            ExperimentState::Inactive => "inactive",
        }
    }

    /// Reads `active`, `running`, `inactive` or `idle` in any case.
    pub fn parse(text: &str) -> Option<ExperimentState> {
        match text.to_ascii_lowercase().as_str() {
            "active" | "running" => Some(ExperimentState::Active),
            "inactive" | "idle" => Some(ExperimentState::Inactive),
            _ => None,
        }
    }
}

impl Display for Predicate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        fn operand(f: &mut Formatter<'_>, p: &Predicate) -> fmt::Result {
            match p {
                Predicate::And(items) | Predicate::Or(items) if !items.is_empty() => write!(f, "({p})"),
                _ => p.fmt(f),
            }
        }
        match self {
            Predicate::And(items) if items.is_empty() => f.write_str("TRUE"),
            Predicate::Or(items) if items.is_empty() => f.write_str("FALSE"),
            Predicate::And(items) | Predicate::Or(items) => {
                let sep = if matches!(self, Predicate::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    operand(f, item)?;
                }
                Ok(())
            }
            Predicate::Not(inner) => {
                f.write_str("NOT ")?;
                operand(f, inner)
            }
            Predicate::Test(t) => t.fmt(f),
        }
    }
}

impl Display for Test {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let t = &self.target;
        match t.aggregate {
            Some(agg) => write!(f, "{agg}(`{}`:{})", t.path, t.ty)?,
            None => write!(f, "`{}`:{}", t.path, t.ty)?,
        }
        match &self.condition {
            Condition::Exists => f.write_str(" EXISTS")?,
            Condition::Compare(op, lit) => write!(f, " {} {lit}", op.symbol())?,
            Condition::Contains(s) => write!(f, " CONTAINS {}", quote(s))?,
            Condition::Matches(s) => write!(f, " MATCHES {}", quote(s))?,
        }
        if !t.known {
            f.write_str(" /* no such attribute: false */")?;
        }
        Ok(())
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Number(Number::Int(i)) => write!(f, "{i}"),
            Literal::Number(Number::Float(x)) => write!(f, "{x:?}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::String(s) => f.write_str(&quote(s)),
            Literal::Datetime(d) => write!(f, "\"{}\"", d.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            Literal::State(s) => f.write_str(s.name()),
        }
    }
}

/// Double-quotes `s` with NQL escapes.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
