//! Canonical NQL printing.

use std::fmt::{self, Display, Formatter, Write};

use super::{Clause, Expr, ExprKind, Query, Reference, Test, Value};

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.expr {
            Some(e) => e.fmt(f),
            None => Ok(()),
        }
    }
}

/// Binding strength, for deciding where parentheses are needed.
fn precedence(e: &Expr) -> u8 {
    match e.kind {
        ExprKind::Or(_) => 1,
        ExprKind::And(_) => 2,
        ExprKind::Not(_) | ExprKind::Clause(_) => 3,
    }
}

/// Prints `e`, in parentheses when it binds looser than `min`.
fn operand(f: &mut Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if precedence(e) < min {
        write!(f, "({e})")
    } else {
        e.fmt(f)
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Or(items) | ExprKind::And(items) => {
                let (keyword, own) = match self.kind {
                    ExprKind::Or(_) => (" OR ", 1),
                    _ => (" AND ", 2),
                };
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(keyword)?;
                    }
                    // A chain of the same operator inside a chain was parenthesised in the
                    // source (the parser flattens unparenthesised chains), so keep its parens.
                    operand(f, item, own + 1)?;
                }
                Ok(())
            }
            ExprKind::Not(inner) => {
                f.write_str("NOT ")?;
                operand(f, inner, 3)
            }
            ExprKind::Clause(c) => c.fmt(f),
        }
    }
}

impl Display for Clause {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.reference.fmt(f)?;
        match &self.test {
            Test::Exists { negated, .. } => f.write_str(if *negated { " NOT EXISTS" } else { " EXISTS" }),
            Test::Compare { negated, op, value } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, " {not}{} {value}", op.node)
            }
        }
    }
}

impl Display for Reference {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(agg) = &self.aggregate {
            write!(f, "{}(", agg.node)?;
        }
        write!(f, "`{}`", self.name.node)?;
        if let Some(t) = &self.attr_type {
            write!(f, ":{}", t.node)?;
        }
        if self.aggregate.is_some() {
            f.write_char(')')?;
        }
        if let Some(t) = &self.result_type {
            write!(f, ":{}", t.node)?;
        }
        Ok(())
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if !self.quoted {
            return f.write_str(&self.text);
        }
        f.write_char('"')?;
        for c in self.text.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}
