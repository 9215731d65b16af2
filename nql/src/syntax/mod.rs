//! Text to [`ast::Query`](crate::ast::Query): the pest grammar, the tree builder and the
//! translation of pest's errors into [`Diagnostic`]s that say what was expected and found.

mod error;

use pest::Parser as _;
use pest::iterators::Pair;

use crate::ast::{Clause, Expr, ExprKind, Query, Reference, Test, Value};
use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics};
use crate::span::{Span, Spanned};
use crate::types::{Aggregate, AttrType, Operator};

/// How deeply parentheses and NOTs may nest. Deeper queries get a clear error instead of
/// exhausting the stack of the parser or of the planner below it.
///
/// Measured in the dev profile: a query nested this deep goes through lowering, DataFusion's
/// optimizer, physical planning and execution on a 1 MiB stack, half of a test thread's (or a
/// Tokio worker's) 2 MiB. At 100 levels, DataFusion's planning overflowed 1.5 MiB.
pub const MAX_NESTING: usize = 40;

#[derive(pest_derive::Parser)]
#[grammar = "syntax/nql.pest"]
struct NqlParser;

/// Parses NQL text into a syntax tree.
///
/// The empty (or all-white-space) query parses to a query without an expression. Syntax
/// errors stop at the first; unknown type names are all reported.
pub fn parse(source: &str) -> Result<Query, Diagnostics> {
    error::check_nesting(source)?;
    let mut pairs =
        NqlParser::parse(Rule::query, source).map_err(|e| Diagnostics::from(error::from_pest(source, &e)))?;
    let query = pairs.next().expect("the query rule always yields one pair");
    let mut builder = Builder::default();
    let expr = query
        .into_inner()
        .find(|p| p.as_rule() == Rule::expr)
        .map(|p| builder.expr(p, 0));
    if builder.errors.is_empty() {
        Ok(Query {
            expr,
            span: Span::new(0, source.len()),
        })
    } else {
        Err(Diagnostics(builder.errors))
    }
}

/// Turns pest pairs into the tree, collecting the errors the grammar leaves to it.
#[derive(Default)]
struct Builder {
    errors: Vec<Diagnostic>,
}

impl Builder {
    fn expr(&mut self, pair: Pair<Rule>, depth: usize) -> Expr {
        debug_assert_eq!(pair.as_rule(), Rule::expr);
        let span = Span::from(pair.as_span());
        let items: Vec<Expr> = pair
            .into_inner()
            .filter(|p| p.as_rule() == Rule::and_expr)
            .map(|p| self.and_expr(p, depth))
            .collect();
        join(items, span, ExprKind::Or)
    }

    fn and_expr(&mut self, pair: Pair<Rule>, depth: usize) -> Expr {
        let span = Span::from(pair.as_span());
        let items: Vec<Expr> = pair
            .into_inner()
            .filter(|p| p.as_rule() == Rule::unary)
            .map(|p| self.unary(p, depth))
            .collect();
        join(items, span, ExprKind::And)
    }

    fn unary(&mut self, pair: Pair<Rule>, depth: usize) -> Expr {
        let mut nots = Vec::new();
        let mut inner = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::not_kw => nots.push(Span::from(p.as_span())),
                Rule::group => {
                    let deeper = depth + nots.len() + 1;
                    if deeper > MAX_NESTING {
                        self.too_deep(Span::from(p.as_span()));
                    }
                    let e = p.into_inner().next().expect("a group holds an expr");
                    inner = Some(self.expr(e, deeper));
                }
                Rule::clause => inner = Some(self.clause(p)),
                r => unreachable!("unexpected {r:?} in unary"),
            }
        }
        let mut expr = inner.expect("a unary ends in a group or a clause");
        if !nots.is_empty() && depth + nots.len() > MAX_NESTING {
            self.too_deep(nots[0].to(expr.span));
            nots.truncate(1);
        }
        for not in nots.into_iter().rev() {
            let span = not.to(expr.span);
            expr = Expr {
                kind: ExprKind::Not(Box::new(expr)),
                span,
            };
        }
        expr
    }

    fn too_deep(&mut self, span: Span) {
        if !self
            .errors
            .iter()
            .any(|e| matches!(e.kind, DiagnosticKind::TooDeep { .. }))
        {
            self.errors.push(
                Diagnostic::error(DiagnosticKind::TooDeep { max: MAX_NESTING }, span, "too deep").with_help(
                    "flatten the query: `NOT NOT x` is `x`, and AND/OR chains need no parentheses",
                ),
            );
        }
    }

    fn clause(&mut self, pair: Pair<Rule>) -> Expr {
        let span = Span::from(pair.as_span());
        let mut inner = pair.into_inner();
        let reference = self.reference(inner.next().expect("clause has a reference"));
        let test_pair = inner.next().expect("clause has a test");
        let test = match test_pair.as_rule() {
            Rule::exists_test => Test::Exists {
                span: Span::from(test_pair.as_span()),
                negated: test_pair.into_inner().any(|p| p.as_rule() == Rule::not_kw),
            },
            Rule::comparison => {
                let mut negated = false;
                let mut op = None;
                let mut value = None;
                for p in test_pair.into_inner() {
                    match p.as_rule() {
                        Rule::not_kw => negated = true,
                        Rule::operator => op = Some(operator(&p)),
                        _ => value = Some(self.value(p)),
                    }
                }
                Test::Compare {
                    negated,
                    op: op.expect("comparison has an operator"),
                    value: value.expect("comparison has a value"),
                }
            }
            r => unreachable!("unexpected {r:?} in clause"),
        };
        Expr {
            kind: ExprKind::Clause(Clause {
                reference,
                test,
                span,
            }),
            span,
        }
    }

    fn reference(&mut self, pair: Pair<Rule>) -> Reference {
        let span = Span::from(pair.as_span());
        let inner = pair.into_inner().next().expect("reference has one child");
        match inner.as_rule() {
            Rule::attribute => {
                let (name, attr_type) = self.attribute(inner);
                Reference {
                    aggregate: None,
                    name,
                    attr_type,
                    result_type: None,
                    span,
                }
            }
            Rule::aggregated => {
                let mut parts = inner.into_inner();
                let agg = parts.next().expect("aggregate name");
                let aggregate = Spanned::new(
                    Aggregate::from_name(agg.as_str()).expect("the grammar only admits aggregates"),
                    Span::from(agg.as_span()),
                );
                let (name, attr_type) = self.attribute(parts.next().expect("aggregated attribute"));
                let result_type = parts.next().and_then(|t| self.type_annotation(t));
                Reference {
                    aggregate: Some(aggregate),
                    name,
                    attr_type,
                    result_type,
                    span,
                }
            }
            r => unreachable!("unexpected {r:?} in reference"),
        }
    }

    fn attribute(&mut self, pair: Pair<Rule>) -> (Spanned<String>, Option<Spanned<AttrType>>) {
        let mut parts = pair.into_inner();
        let name_pair = parts.next().expect("attribute has a name");
        let name = match name_pair.as_rule() {
            Rule::quoted_name => {
                let text = name_pair.into_inner().next().expect("quoted text");
                Spanned::new(text.as_str().to_string(), Span::from(text.as_span()))
            }
            _ => Spanned::new(name_pair.as_str().to_string(), Span::from(name_pair.as_span())),
        };
        let ty = parts.next().and_then(|t| self.type_annotation(t));
        (name, ty)
    }

    fn type_annotation(&mut self, pair: Pair<Rule>) -> Option<Spanned<AttrType>> {
        let name = pair.into_inner().next().expect("annotation has a type name");
        let span = Span::from(name.as_span());
        match AttrType::from_name(name.as_str()) {
            Some(t) => Some(Spanned::new(t, span)),
            None => {
                let found = name.as_str().to_string();
                let help = match AttrType::closest(&found) {
                    Some(t) => format!("did you mean `{t}`? Type names are camelCase"),
                    None => format!("the types are {}", AttrType::ALL.map(|t| t.name()).join(", ")),
                };
                self.errors.push(
                    Diagnostic::error(DiagnosticKind::UnknownType { found }, span, "not an NQL type")
                        .with_help(help),
                );
                None
            }
        }
    }

    fn value(&mut self, pair: Pair<Rule>) -> Value {
        let span = Span::from(pair.as_span());
        match pair.as_rule() {
            Rule::dq_string | Rule::sq_string => {
                let quote = if pair.as_rule() == Rule::dq_string {
                    '"'
                } else {
                    '\''
                };
                let raw = pair.into_inner().next().map(|p| p.as_str()).unwrap_or("");
                Value {
                    text: unescape(raw, quote),
                    quoted: true,
                    span,
                }
            }
            _ => Value {
                text: pair.as_str().to_string(),
                quoted: false,
                span,
            },
        }
    }
}

/// One item stays itself; several become an n-ary node.
fn join(mut items: Vec<Expr>, span: Span, kind: fn(Vec<Expr>) -> ExprKind) -> Expr {
    if items.len() == 1 {
        items.pop().expect("one item")
    } else {
        Expr {
            kind: kind(items),
            span,
        }
    }
}

fn operator(pair: &Pair<Rule>) -> Spanned<Operator> {
    let op = match pair.as_str().to_ascii_uppercase().as_str() {
        "=" | "==" => Operator::Eq,
        "!=" => Operator::Ne,
        "<" => Operator::Lt,
        "<=" => Operator::Le,
        ">" => Operator::Gt,
        ">=" => Operator::Ge,
        "CONTAINS" => Operator::Contains,
        "MATCHES" => Operator::Matches,
        other => unreachable!("the grammar admits no operator {other:?}"),
    };
    Spanned::new(op, Span::from(pair.as_span()))
}

/// Resolves `\<quote>` and `\\`; any other backslash stays as written (spec 1).
fn unescape(raw: &str, quote: char) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some(&next) if next == quote || next == '\\' => {
                    out.push(next);
                    chars.next();
                }
                _ => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_keeps_unknown_escapes() {
        assert_eq!(unescape(r"exp\d", '"'), r"exp\d");
        assert_eq!(unescape(r#"say \"hi\""#, '"'), r#"say "hi""#);
        assert_eq!(unescape(r"a\\b", '"'), r"a\b");
        assert_eq!(unescape(r"it\'s", '\''), "it's");
        assert_eq!(unescape(r"it\'s", '"'), r"it\'s");
        assert_eq!(unescape(r"end\", '"'), r"end\");
    }
}
