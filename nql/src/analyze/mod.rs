//! Analysis: checks a parsed query against a [`Catalog`] and produces a [`CheckedQuery`].
//!
//! It resolves each reference to an attribute type (written, or taken from the data for
//! untyped references, spec 4.3), checks the operator against the type (spec 2), reads the
//! value as that type (spec 3), and warns about attributes the table does not have (spec 4.4).
//! Every error is collected, not just the first.

pub mod value;

use chrono::{DateTime, Utc};

use crate::ast::{self, Clause, ExprKind, Query, Reference, Test as AstTest};
use crate::catalog::{AttributeInfo, Catalog};
use crate::diagnostic::{ClauseMatches, Diagnostic, DiagnosticKind, Diagnostics};
use crate::hir::{CheckedQuery, Comparison, Condition, ExperimentState, Literal, Predicate, Target, Test};
use crate::span::Span;
use crate::types::{Aggregate, AttrType, Operator};

/// Checks `query` against `catalog`. Relative datetimes are read against `now`.
pub fn analyze(
    query: &Query,
    catalog: &dyn Catalog,
    now: DateTime<Utc>,
) -> Result<CheckedQuery, Diagnostics> {
    let mut analyzer = Analyzer {
        catalog,
        now,
        errors: Vec::new(),
        warnings: Vec::new(),
        all_attributes: None,
        suggestions_left: MAX_SUGGESTIONS,
    };
    let predicate = query.expr.as_ref().map(|e| analyzer.expr(e));
    if analyzer.errors.is_empty() {
        Ok(CheckedQuery {
            predicate,
            warnings: analyzer.warnings,
            now,
        })
    } else {
        Err(Diagnostics(analyzer.errors))
    }
}

struct Analyzer<'a> {
    catalog: &'a dyn Catalog,
    now: DateTime<Utc>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    /// Every attribute of the catalog, fetched once for "did you mean" suggestions.
    all_attributes: Option<Vec<AttributeInfo>>,
    /// How many more "did you mean" searches this query may run (each costs one edit
    /// distance per catalog attribute).
    suggestions_left: usize,
}

/// The most "did you mean" searches one query runs; later unknown attributes are still
/// warned about, without a suggestion.
const MAX_SUGGESTIONS: usize = 100;

/// How a reference's type was established: written in the query, or read from the data.
struct Resolved {
    ty: AttrType,
    aggregate: Option<Aggregate>,
    /// Where the type was written, for labels; `None` when it came from the data.
    type_span: Option<Span>,
}

impl Analyzer<'_> {
    fn expr(&mut self, e: &ast::Expr) -> Predicate {
        match &e.kind {
            ExprKind::Or(items) => Predicate::Or(items.iter().map(|i| self.expr(i)).collect()),
            ExprKind::And(items) => Predicate::And(items.iter().map(|i| self.expr(i)).collect()),
            ExprKind::Not(inner) => Predicate::Not(Box::new(self.expr(inner))),
            ExprKind::Clause(c) => self.clause(c),
        }
    }

    fn clause(&mut self, clause: &Clause) -> Predicate {
        let reference = &clause.reference;
        let (op, negated) = match &clause.test {
            AstTest::Exists { negated, span } => {
                (crate::span::Spanned::new(Operator::Exists, *span), *negated)
            }
            AstTest::Compare { negated, op, .. } => (*op, *negated),
        };
        // What the clause matches if its attribute exists nowhere, for the warning: nothing,
        // unless its own negation is written in it (`!=`, `NOT CONTAINS`, `NOT EXISTS`, but
        // `NOT !=` is positive again). A NOT in front of the clause is not the clause's.
        let if_unknown = if negated != (op.node == Operator::Ne) {
            ClauseMatches::Everything
        } else {
            ClauseMatches::Nothing
        };
        let Some(resolved) = self.resolve(reference, if_unknown) else {
            // An error was recorded, or the untyped path is unknown (a warning was recorded):
            // the clause matches nothing, or everything when it is negative.
            return self.unknown_untyped(reference, clause, negated, op.node);
        };
        // The type the operator applies to: an aggregate of a float series yields a float.
        let operand_type = match (resolved.ty, resolved.aggregate) {
            (AttrType::FloatSeries, _) => AttrType::FloatSeries,
            (t, _) => t,
        };
        if !operand_type.allows(op.node) {
            let shown = if resolved.ty == AttrType::FloatSeries && reference.aggregate.is_some() {
                AttrType::Float
            } else {
                operand_type
            };
            let mut d = Diagnostic::error(
                DiagnosticKind::OperatorNotAllowed {
                    op: op.node,
                    ty: shown,
                },
                op.span,
                "operator used here",
            )
            .with_help(match (shown, op.node) {
                (AttrType::StringSet, Operator::Eq) => {
                    "`stringSet` allows CONTAINS, EXISTS: CONTAINS tests whether one element equals the value"
                        .to_string()
                }
                (AttrType::StringSet, Operator::Ne) => {
                    "`stringSet` allows CONTAINS, EXISTS: NOT CONTAINS tests that no element equals the value"
                        .to_string()
                }
                _ => format!("`{shown}` allows {}", Operator::list(shown.allowed_operators())),
            });
            d = match resolved.type_span {
                Some(s) => d.with_related(s, format!("the attribute is {}", resolved.ty)),
                None => d.with_related(
                    reference.name.span,
                    format!("`{}` is {} in this table", reference.name.node, resolved.ty),
                ),
            };
            self.errors.push(d);
            return Predicate::And(vec![]);
        }
        let known = self.check_exists(reference, &resolved, if_unknown);
        let target = Target {
            path: reference.name.node.clone(),
            ty: resolved.ty,
            aggregate: resolved.aggregate,
            known,
        };
        let positive = |condition| {
            Predicate::Test(Test {
                target: target.clone(),
                condition,
                span: clause.span,
            })
        };
        let predicate = match &clause.test {
            AstTest::Exists { .. } => positive(Condition::Exists),
            AstTest::Compare { value, .. } => match self.condition(op.node, &resolved, reference, value) {
                Some((condition, complement)) => {
                    let p = positive(condition);
                    if complement {
                        Predicate::Not(Box::new(p))
                    } else {
                        p
                    }
                }
                None => Predicate::And(vec![]),
            },
        };
        if negated {
            Predicate::Not(Box::new(predicate))
        } else {
            predicate
        }
    }

    /// An untyped clause on a path the table does not have: false, whatever it says. Its value
    /// is not checked, as there is no type to read it as.
    fn unknown_untyped(
        &mut self,
        _reference: &Reference,
        clause: &Clause,
        negated: bool,
        _op: Operator,
    ) -> Predicate {
        let p = Predicate::Or(vec![]);
        let p = match &clause.test {
            AstTest::Compare { op, .. } if op.node == Operator::Ne => Predicate::Not(Box::new(p)),
            _ => p,
        };
        if negated { Predicate::Not(Box::new(p)) } else { p }
    }

    /// Establishes the attribute type and aggregate of a reference. `None` when an error or
    /// an unknown-path warning was recorded; `if_unknown` is what that warning says the
    /// clause matches.
    fn resolve(&mut self, r: &Reference, if_unknown: ClauseMatches) -> Option<Resolved> {
        let Some(agg) = r.aggregate else {
            return match r.attr_type {
                Some(t) => Some(Resolved {
                    ty: t.node,
                    aggregate: match t.node {
                        AttrType::FloatSeries | AttrType::StringSeries => Some(Aggregate::Last),
                        _ => None,
                    },
                    type_span: Some(t.span),
                }),
                None => self.untyped(r, None, if_unknown).map(|ty| Resolved {
                    ty,
                    aggregate: matches!(ty, AttrType::FloatSeries | AttrType::StringSeries)
                        .then_some(Aggregate::Last),
                    type_span: None,
                }),
            };
        };
        // The series type named inside the parentheses, and the one implied by the result type.
        let inner = r.attr_type;
        let implied = r.result_type.and_then(|t| match t.node {
            AttrType::Float | AttrType::FloatSeries => Some(AttrType::FloatSeries),
            AttrType::String | AttrType::StringSeries => Some(AttrType::StringSeries),
            other => {
                self.errors.push(
                    Diagnostic::error(
                        DiagnosticKind::ConflictingTypes {
                            inner: AttrType::FloatSeries,
                            outer: other,
                        },
                        t.span,
                        format!("`{}()` yields a float, not {other}", agg.node),
                    )
                    .with_help(format!("write `{}(`{}`):float`", agg.node, r.name.node)),
                );
                None
            }
        });
        if r.result_type.is_some() && implied.is_none() {
            return None;
        }
        let (ty, type_span) = match (inner, implied) {
            // A non-series inside the parentheses is reported below as an aggregate misuse.
            (Some(i), Some(o))
                if i.node != o && matches!(i.node, AttrType::FloatSeries | AttrType::StringSeries) =>
            {
                let outer = r.result_type.expect("implied comes from the result type");
                let yields = if i.node == AttrType::StringSeries {
                    "string"
                } else {
                    "float"
                };
                self.errors.push(
                    Diagnostic::error(
                        DiagnosticKind::ConflictingTypes {
                            inner: i.node,
                            outer: outer.node,
                        },
                        outer.span,
                        "this result type",
                    )
                    .with_related(i.span, "does not fit this series type")
                    .with_help(format!(
                        "`{}()` of a {} yields a {yields}: write `:{yields}` or leave the result type out",
                        agg.node, i.node
                    )),
                );
                return None;
            }
            (Some(i), _) => (i.node, Some(i.span)),
            (None, Some(o)) => (o, r.result_type.map(|t| t.span)),
            (None, None) => (self.untyped(r, Some(agg.node), if_unknown)?, None),
        };
        let fits = match ty {
            AttrType::FloatSeries => true,
            AttrType::StringSeries => agg.node == Aggregate::Last,
            _ => false,
        };
        if !fits {
            let mut d = Diagnostic::error(
                DiagnosticKind::AggregateNotAllowed {
                    aggregate: agg.node,
                    ty,
                },
                agg.span,
                "aggregate used here",
            )
            .with_help(if ty == AttrType::StringSeries {
                "only `last()` applies to a stringSeries".to_string()
            } else {
                format!(
                    "aggregates apply to floatSeries (and `last` to stringSeries); compare `{}` directly",
                    r.name.node
                )
            });
            if let Some(s) = type_span {
                d = d.with_related(s, format!("the attribute is {ty}"));
            }
            self.errors.push(d);
            return None;
        }
        Some(Resolved {
            ty,
            aggregate: Some(agg.node),
            type_span,
        })
    }

    /// The type of an untyped reference from the data (spec 4.3). With an aggregate, only
    /// series types are candidates. An unknown path is warned about, saying that the clause
    /// matches `if_unknown`.
    fn untyped(
        &mut self,
        r: &Reference,
        aggregate: Option<Aggregate>,
        if_unknown: ClauseMatches,
    ) -> Option<AttrType> {
        let path = &r.name.node;
        let mut found: Vec<AttributeInfo> = self.catalog.attributes_at(path);
        if let (Some(agg), Some(agg_span)) = (aggregate, r.aggregate.map(|a| a.span)) {
            let all = std::mem::take(&mut found);
            found = all
                .iter()
                .filter(|a| {
                    a.ty == AttrType::FloatSeries
                        || (a.ty == AttrType::StringSeries && agg == Aggregate::Last)
                })
                .cloned()
                .collect();
            if found.is_empty() && !all.is_empty() {
                // The path exists, but not as a series the aggregate applies to: an error, not
                // an unknown attribute.
                let mut types: Vec<AttrType> = all.iter().map(|a| a.ty).collect();
                types.sort();
                let types: Vec<&str> = types.iter().map(|t| t.name()).collect();
                self.errors.push(
                    Diagnostic::error(
                        DiagnosticKind::AggregateNotAllowed {
                            aggregate: agg,
                            ty: all[0].ty,
                        },
                        agg_span,
                        "aggregate used here",
                    )
                    .with_related(
                        r.name.span,
                        format!("`{path}` is {} in this table", types.join(", ")),
                    )
                    .with_help(if all.iter().any(|a| a.ty == AttrType::StringSeries) {
                        "only `last()` applies to a stringSeries".to_string()
                    } else {
                        format!("aggregates apply to floatSeries (and `last` to stringSeries); compare `{path}` directly")
                    }),
                );
                return None;
            }
        }
        found.sort_by_key(|a| a.ty);
        let mut families: Vec<AttrType> = found.iter().map(|a| a.ty.family()).collect();
        families.dedup();
        match families.len() {
            0 => {
                let mut d = Diagnostic::warning(
                    DiagnosticKind::UnknownPath {
                        path: path.clone(),
                        matches: if_unknown,
                    },
                    r.name.span,
                    "no attribute has this path",
                );
                if let Some(s) = self.suggest(path, None) {
                    d = d.with_help(format!("did you mean `{}`?", s));
                }
                self.warnings.push(d);
                None
            }
            1 => {
                // int and float together read as float (one numeric family).
                let ty = if families[0] == AttrType::Float && found.iter().any(|a| a.ty == AttrType::Float) {
                    AttrType::Float
                } else {
                    found[0].ty
                };
                Some(ty)
            }
            _ => {
                let types: Vec<&str> = found.iter().map(|a| a.ty.name()).collect();
                let example = format!("`{}`:{}", path, found[0].ty);
                self.errors.push(
                    Diagnostic::error(
                        DiagnosticKind::AmbiguousType {
                            path: path.clone(),
                            types: types.join(", "),
                        },
                        r.name.span,
                        "add a type to this name",
                    )
                    .with_help(format!("for example {example}")),
                );
                None
            }
        }
    }

    /// Whether the table has the attribute a typed reference names; warns when it does not,
    /// saying that the clause matches `if_unknown`.
    fn check_exists(&mut self, r: &Reference, resolved: &Resolved, if_unknown: ClauseMatches) -> bool {
        let found = self.catalog.attributes_at(&r.name.node);
        let exists = found.iter().any(|a| a.ty.family() == resolved.ty.family());
        if !exists {
            let attribute = format!("{}:{}", r.name.node, resolved.ty);
            let mut d = Diagnostic::warning(
                DiagnosticKind::UnknownAttribute {
                    attribute,
                    matches: if_unknown,
                },
                r.span,
                "no object has this attribute",
            );
            if let Some(s) = self.suggest(&r.name.node, Some(resolved.ty)) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            self.warnings.push(d);
        }
        exists
    }

    /// The existing attribute closest to `path` (same path with another type first).
    ///
    /// A candidate is close when few edits separate it from `path` (at most a third of the
    /// longer name, and fewer than the shorter one has characters: `OR` is not close to `f1`),
    /// or when one name contains the other. Edit distances are only computed for candidates
    /// whose lengths allow them to be close, so long names cost no more than short ones.
    fn suggest(&mut self, path: &str, ty: Option<AttrType>) -> Option<String> {
        self.suggestions_left = self.suggestions_left.checked_sub(1)?;
        let catalog = self.catalog;
        let all = self.all_attributes.get_or_insert_with(|| catalog.attributes());
        let len = path.chars().count();
        // (edit distance, not the same type, fewer objects): smaller is better.
        type Score = (usize, bool, std::cmp::Reverse<usize>);
        let mut best: Option<(Score, &AttributeInfo)> = None;
        for a in all.iter() {
            let a_len = a.path.chars().count();
            let (short, long) = (len.min(a_len), len.max(a_len));
            let limit = 2.max(long / 3);
            let contains =
                (len >= 3 && a.path.contains(path)) || (a_len >= 3 && path.contains(a.path.as_str()));
            let distance = if contains {
                // One name inside the other: the distance is the difference in length.
                long - short
            } else if long - short <= limit && long - short < short {
                let d = strsim::osa_distance(path, &a.path);
                if d > limit || d >= short {
                    continue;
                }
                d
            } else {
                continue;
            };
            let same_type = ty.is_some_and(|t| t.family() == a.ty.family());
            let score = (distance, !same_type, std::cmp::Reverse(a.count));
            if best.as_ref().is_none_or(|(b, _)| score < *b) {
                best = Some((score, a));
            }
        }
        best.map(|(_, a)| format!("{}:{}", a.path, a.ty))
    }

    /// The positive condition of `op value` for an attribute of type `ty`, and whether the
    /// clause is its complement (`!=`). `None` when the value was refused (error recorded).
    fn condition(
        &mut self,
        op: Operator,
        resolved: &Resolved,
        reference: &Reference,
        value: &ast::Value,
    ) -> Option<(Condition, bool)> {
        let comparison = match op {
            Operator::Eq | Operator::Ne => Some(Comparison::Eq),
            Operator::Lt => Some(Comparison::Lt),
            Operator::Le => Some(Comparison::Le),
            Operator::Gt => Some(Comparison::Gt),
            Operator::Ge => Some(Comparison::Ge),
            _ => None,
        };
        let complement = op == Operator::Ne;
        let condition = match (op, comparison) {
            (Operator::Contains, _) => Condition::Contains(value.text.clone()),
            (Operator::Matches, _) => {
                if let Err(e) = regex::Regex::new(&value.text) {
                    self.errors.push(regex_error(value, &e));
                    return None;
                }
                Condition::Matches(value.text.clone())
            }
            (_, Some(cmp)) => Condition::Compare(cmp, self.literal(resolved, reference, value)?),
            _ => unreachable!("EXISTS is not a comparison"),
        };
        Some((condition, complement))
    }

    /// Reads `value` as the reference's type (spec 3), or records an error at the value.
    fn literal(&mut self, resolved: &Resolved, reference: &Reference, value: &ast::Value) -> Option<Literal> {
        let ty = resolved.ty;
        let text = value.text.as_str();
        let (literal, expected, help) = match ty {
            AttrType::Int | AttrType::Float | AttrType::FloatSeries => (
                value::read_number(text).map(Literal::Number),
                "a number",
                "write a number such as 42, 0.5, 1e-3, inf or nan, or a size such as 50MB or \"1.5 GiB\"",
            ),
            AttrType::Bool => (
                value::read_bool(text).map(Literal::Bool),
                "a bool",
                "write true or false",
            ),
            AttrType::Datetime => (
                value::read_datetime(text, self.now).map(Literal::Datetime),
                "a datetime",
                "write an instant such as 2024-01-01T00:00:00Z, 2024-02-06T05:00:00+09:00 or 2024-01-01, or a relative time such as -2h, -5d, -1M",
            ),
            AttrType::ExperimentState => (
                ExperimentState::parse(text).map(Literal::State),
                "an experiment state",
                "the states are active (also running) and inactive (also idle)",
            ),
            _ => (Some(Literal::String(text.to_string())), "", ""),
        };
        if literal.is_none() {
            let help = if text.starts_with('`') {
                "backquotes are for names; quote values with \" or '".to_string()
            } else if ty == AttrType::Datetime {
                value::datetime_problem(text).unwrap_or_else(|| help.to_string())
            } else if matches!(ty, AttrType::Int | AttrType::Float | AttrType::FloatSeries) {
                value::number_problem(text).unwrap_or_else(|| help.to_string())
            } else {
                help.to_string()
            };
            // Where the type the value must fit comes from.
            let (origin, why) = match (reference.aggregate, resolved.type_span) {
                (Some(agg), _) => (agg.span, format!("`{}()` yields a number", agg.node)),
                (None, Some(s)) => (s, format!("the attribute is {ty}")),
                (None, None) => (
                    reference.name.span,
                    format!("`{}` is {ty} in this table", reference.name.node),
                ),
            };
            self.errors.push(
                Diagnostic::error(
                    DiagnosticKind::BadValue {
                        expected: expected.to_string(),
                        found: if text.is_empty() {
                            "\"\"".into()
                        } else {
                            text.to_string()
                        },
                    },
                    value.span,
                    format!("not {expected}"),
                )
                .with_related(origin, why)
                .with_help(help),
            );
        }
        literal
    }
}

/// Points a regex syntax error at the pattern, at the offending character when the regex
/// crate says where it is.
fn regex_error(value: &ast::Value, e: &regex::Error) -> Diagnostic {
    let reason = match e {
        regex::Error::Syntax(s) => s
            .lines()
            .last()
            .unwrap_or(s)
            .trim_start_matches("error: ")
            .to_string(),
        regex::Error::CompiledTooBig(limit) => format!("the pattern compiles to more than {limit} bytes"),
        _ => e.to_string(),
    };
    let span = match regex_syntax::ast::parse::Parser::new().parse(&value.text) {
        Err(err) if !value.quoted || value.text.len() + 2 == value.span.len() => {
            // The pattern is the source text verbatim (no escapes were resolved), so its
            // offsets map straight onto the query.
            let s = err.span();
            let start = s.start.offset.min(value.text.len());
            let end = s.end.offset.max(start + 1).min(value.text.len()).max(start);
            let offset = value.span.start + usize::from(value.quoted);
            Span::new(offset + start, offset + end)
        }
        _ => value.span,
    };
    Diagnostic::error(
        DiagnosticKind::BadRegex {
            reason: reason.clone(),
        },
        span,
        reason,
    )
    .with_help("MATCHES takes RE2 syntax (the `regex` crate); escape special characters with a backslash")
}
