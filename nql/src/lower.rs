//! Lowering: a [`CheckedQuery`] to a DataFusion filter expression and logical plan.
//!
//! Every test lowers to an expression that is never NULL: a comparison `c op v` becomes
//! `c op v AND c IS NOT NULL`, so a missing value makes it false (NULL AND false is false),
//! and `NOT` of it is its exact complement (spec 4.1), which SQL's three-valued logic would
//! not give by itself. (`(c op v) IS TRUE` says the same, but costs a comparison kernel over
//! the booleans, where `AND` and the validity bitmap are bitwise.)
//! Literals are built with the column's exact Arrow type, so the plan needs no casts, and
//! float literals are canonical as the stored floats are (-0.0 is 0.0, one NaN).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{ScalarValue, TableReference};
use datafusion::error::DataFusionError;
use datafusion::functions::expr_fn::{contains, regexp_like};
use datafusion::functions_nested::expr_fn::array_has;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, TableSource, binary_expr, ident, lit};

use crate::catalog::{Catalog, ColumnInfo};
use crate::hir::{CheckedQuery, Comparison, Condition, Literal, Number, Predicate, Target, Test};
use crate::types::{Aggregate, AttrType};

/// Why a checked query could not be lowered. Both variants mean a catalog that does not
/// describe its table faithfully; analysis errors are caught before lowering.
#[derive(Debug, thiserror::Error)]
pub enum LowerError {
    /// The catalog lists an attribute but has no column for it, or a column of a type that
    /// cannot hold it.
    #[error("the catalog has no usable column for `{path}:{ty}`: {reason}")]
    Column {
        path: String,
        ty: AttrType,
        reason: String,
    },
    /// DataFusion refused to build the plan.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

/// The filter expression of `query` (`true` for the empty query).
pub fn filter_expr(query: &CheckedQuery, catalog: &dyn Catalog) -> Result<Expr, LowerError> {
    match &query.predicate {
        Some(p) => predicate(p, catalog),
        None => Ok(lit(true)),
    }
}

/// `TableScan(table) → Filter`: the objects of `table` that match `query`.
pub fn plan(
    query: &CheckedQuery,
    catalog: &dyn Catalog,
    table: &str,
    source: Arc<dyn TableSource>,
) -> Result<LogicalPlan, LowerError> {
    let scan = LogicalPlanBuilder::scan(TableReference::bare(table), source, None)?;
    let builder = match &query.predicate {
        Some(p) => scan.filter(predicate(p, catalog)?)?,
        None => scan,
    };
    Ok(builder.build()?)
}

/// Lowers a predicate. AND and OR chains become balanced trees, so that a query of 100,000
/// clauses yields an expression about 17 levels deep instead of 100,000.
pub fn predicate(p: &Predicate, catalog: &dyn Catalog) -> Result<Expr, LowerError> {
    Ok(match p {
        Predicate::And(items) => balanced(lower_all(items, catalog)?, Expr::and, true),
        Predicate::Or(items) => balanced(lower_all(items, catalog)?, Expr::or, false),
        Predicate::Not(inner) => Expr::Not(Box::new(predicate(inner, catalog)?)),
        Predicate::Test(t) => test(t, catalog)?,
    })
}

fn lower_all(items: &[Predicate], catalog: &dyn Catalog) -> Result<Vec<Expr>, LowerError> {
    items.iter().map(|i| predicate(i, catalog)).collect()
}

/// Combines `items` pairwise, level by level; `empty` is the value of no items.
fn balanced(mut items: Vec<Expr>, combine: fn(Expr, Expr) -> Expr, empty: bool) -> Expr {
    if items.is_empty() {
        return lit(empty);
    }
    while items.len() > 1 {
        let mut next = Vec::with_capacity(items.len().div_ceil(2));
        let mut it = items.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => combine(a, b),
                None => a,
            });
        }
        items = next;
    }
    items.pop().expect("one item left")
}

/// The columns a target reads: both numeric columns of a path for int and float (spec 3),
/// the summary column for series.
pub fn target_columns(target: &Target, catalog: &dyn Catalog) -> Vec<ColumnInfo> {
    let path = target.path.as_str();
    match target.ty {
        AttrType::Int | AttrType::Float => [AttrType::Int, AttrType::Float]
            .into_iter()
            .filter_map(|t| catalog.column(path, t, None))
            .collect(),
        AttrType::FloatSeries | AttrType::StringSeries => catalog
            .column(path, target.ty, Some(target.aggregate.unwrap_or(Aggregate::Last)))
            .into_iter()
            .collect(),
        ty => catalog.column(path, ty, None).into_iter().collect(),
    }
}

fn test(t: &Test, catalog: &dyn Catalog) -> Result<Expr, LowerError> {
    if !t.target.known {
        return Ok(lit(false));
    }
    let columns = target_columns(&t.target, catalog);
    if columns.is_empty() {
        return Err(column_error(&t.target, "no column"));
    }
    let parts = columns
        .iter()
        .map(|c| {
            condition(c, &t.condition).ok_or_else(|| {
                column_error(
                    &t.target,
                    &format!("column `{}` has type {}", c.name, c.data_type),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(balanced(parts, Expr::or, false))
}

fn column_error(target: &Target, reason: &str) -> LowerError {
    LowerError::Column {
        path: target.path.clone(),
        ty: target.ty,
        reason: reason.to_string(),
    }
}

/// The condition on one column, never NULL. `None` when the column's type cannot hold it.
fn condition(column: &ColumnInfo, condition: &Condition) -> Option<Expr> {
    let c = ident(&column.name);
    let dt = &column.data_type;
    Some(match condition {
        Condition::Exists => c.is_not_null(),
        Condition::Contains(s) => match dt {
            DataType::List(_) | DataType::LargeList(_) => present(array_has(c.clone(), lit(s.as_str())), c),
            _ => present(contains(c.clone(), string_literal(s, dt)?), c),
        },
        Condition::Matches(pattern) => present(
            regexp_like(c.clone(), string_literal(&without_captures(pattern), dt)?, None),
            c,
        ),
        Condition::Compare(op, literal) => compare(c, dt, *op, literal)?,
    })
}

fn compare(c: Expr, dt: &DataType, op: Comparison, literal: &Literal) -> Option<Expr> {
    Some(match (literal, dt) {
        (Literal::Number(n), DataType::Float64) => known(c, op, float_literal(n.as_f64())),
        (Literal::Number(n), DataType::Int64) => integer_compare(
            c,
            op,
            IntBound::from_number(*n, i64::MIN as i128, i64::MAX as i128),
            |v| ScalarValue::Int64(Some(v as i64)),
        ),
        (Literal::Bool(b), DataType::Boolean) => match op {
            Comparison::Eq if *b => present(c.clone(), c),
            Comparison::Eq => present(!c.clone(), c),
            _ => return None,
        },
        (Literal::String(s), _) => known(c, op, string_literal(s, dt)?),
        (Literal::State(s), _) => known(c, op, string_literal(s.name(), dt)?),
        (Literal::Datetime(d), DataType::Timestamp(unit, tz)) => {
            let per_unit: i128 = match unit {
                TimeUnit::Second => 1_000_000_000,
                TimeUnit::Millisecond => 1_000_000,
                TimeUnit::Microsecond => 1_000,
                TimeUnit::Nanosecond => 1,
            };
            let nanos = instant_nanos(d);
            let bound = IntBound::from_ratio(nanos, per_unit, i64::MIN as i128, i64::MAX as i128);
            let (unit, tz) = (*unit, tz.clone());
            integer_compare(c, op, bound, move |v| {
                let v = Some(v as i64);
                match unit {
                    TimeUnit::Second => ScalarValue::TimestampSecond(v, tz.clone()),
                    TimeUnit::Millisecond => ScalarValue::TimestampMillisecond(v, tz.clone()),
                    TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(v, tz.clone()),
                    TimeUnit::Nanosecond => ScalarValue::TimestampNanosecond(v, tz.clone()),
                }
            })
        }
        (Literal::Datetime(d), DataType::Date32) => {
            let bound = IntBound::from_ratio(
                instant_nanos(d),
                86_400 * 1_000_000_000,
                i32::MIN as i128,
                i32::MAX as i128,
            );
            integer_compare(c, op, bound, |v| ScalarValue::Date32(Some(v as i32)))
        }
        (Literal::Datetime(d), DataType::Date64) => {
            let bound = IntBound::from_ratio(instant_nanos(d), 1_000_000, i64::MIN as i128, i64::MAX as i128);
            integer_compare(c, op, bound, |v| ScalarValue::Date64(Some(v as i64)))
        }
        _ => return None,
    })
}

/// A `Float64` literal, canonical as the engine stores float columns: -0.0 is 0.0 and every
/// NaN is the positive quiet NaN. Comparisons use Arrow's totalOrder, in which -0.0 is less
/// than 0.0 and NaNs differ by sign and payload, so `x = -1e-400` (which reads as -0.0) would
/// otherwise miss a stored 0.0 and `x < -1e-400` would match it.
fn float_literal(v: f64) -> Expr {
    let canonical = if v.is_nan() {
        f64::NAN
    } else if v == 0.0 {
        0.0
    } else {
        v
    };
    lit(ScalarValue::Float64(Some(canonical)))
}

/// Nanoseconds since the epoch, exact over chrono's whole range.
fn instant_nanos(d: &chrono::DateTime<chrono::Utc>) -> i128 {
    d.timestamp() as i128 * 1_000_000_000 + d.timestamp_subsec_nanos() as i128
}

/// A string literal of the column's own string type, so that the plan needs no cast.
fn string_literal(s: &str, dt: &DataType) -> Option<Expr> {
    Some(lit(match dt {
        DataType::Utf8View => ScalarValue::Utf8View(Some(s.to_string())),
        DataType::LargeUtf8 => ScalarValue::LargeUtf8(Some(s.to_string())),
        DataType::Utf8 | DataType::Dictionary(_, _) => ScalarValue::Utf8(Some(s.to_string())),
        _ => return None,
    }))
}

/// `pattern` with every capture group made non-capturing: the same matches (RE2 syntax has no
/// back-references), and no capture slots. The `regex` crate's PikeVM allocates a slot per
/// NFA state and capture group at its first search, so a pattern of tens of thousands of
/// groups (still under the compiled-size limit) would otherwise ask for tens of gigabytes.
/// A pattern that does not parse is returned as it is (analysis has refused it already).
pub fn without_captures(pattern: &str) -> String {
    use regex_syntax::ast::{self, Ast, GroupKind};
    fn strip(ast: &mut Ast) {
        match ast {
            Ast::Group(g) => {
                if !matches!(g.kind, GroupKind::NonCapturing(_)) {
                    g.kind = GroupKind::NonCapturing(ast::Flags {
                        span: g.span,
                        items: Vec::new(),
                    });
                }
                strip(&mut g.ast);
            }
            Ast::Repetition(r) => strip(&mut r.ast),
            Ast::Alternation(a) => a.asts.iter_mut().for_each(strip),
            Ast::Concat(c) => c.asts.iter_mut().for_each(strip),
            _ => {}
        }
    }
    if !pattern.contains('(') {
        return pattern.to_string();
    }
    let Ok(mut parsed) = ast::parse::Parser::new().parse(pattern) else {
        return pattern.to_string();
    };
    strip(&mut parsed);
    let mut out = String::with_capacity(pattern.len() + 16);
    match ast::print::Printer::new().print(&parsed, &mut out) {
        Ok(()) => out,
        Err(_) => pattern.to_string(),
    }
}

/// `c op v`, false when `c` is missing.
fn known(c: Expr, op: Comparison, v: Expr) -> Expr {
    let op = match op {
        Comparison::Eq => datafusion::logical_expr::Operator::Eq,
        Comparison::Lt => datafusion::logical_expr::Operator::Lt,
        Comparison::Le => datafusion::logical_expr::Operator::LtEq,
        Comparison::Gt => datafusion::logical_expr::Operator::Gt,
        Comparison::Ge => datafusion::logical_expr::Operator::GtEq,
    };
    present(binary_expr(c.clone(), op, v), c)
}

/// `test AND c IS NOT NULL`: a test of `c` that is false, not NULL, where `c` is missing.
pub fn present(test: Expr, c: Expr) -> Expr {
    test.and(c.is_not_null())
}

/// Where a real-valued target falls among the integers a column can hold.
#[derive(Clone, Copy, Debug, PartialEq)]
enum IntBound {
    /// Greater than every value the column can hold (`inf`, `nan` in totalOrder, huge).
    Above,
    /// Less than every value the column can hold.
    Below,
    /// `floor` is the greatest integer not above the target; `exact` when they are equal.
    At { floor: i128, exact: bool },
}

impl IntBound {
    fn from_number(n: Number, min: i128, max: i128) -> IntBound {
        match n {
            Number::Int(i) => IntBound::clamp(i as i128, true, min, max),
            Number::Float(f) if f.is_nan() || f == f64::INFINITY => IntBound::Above,
            Number::Float(f) if f == f64::NEG_INFINITY => IntBound::Below,
            Number::Float(f) => {
                let floor = f.floor();
                if floor >= 1e38 {
                    IntBound::Above
                } else if floor <= -1e38 {
                    IntBound::Below
                } else {
                    IntBound::clamp(floor as i128, floor == f, min, max)
                }
            }
        }
    }

    /// The target `numerator / denominator` (denominator > 0).
    fn from_ratio(numerator: i128, denominator: i128, min: i128, max: i128) -> IntBound {
        let floor = numerator.div_euclid(denominator);
        IntBound::clamp(floor, numerator.rem_euclid(denominator) == 0, min, max)
    }

    fn clamp(floor: i128, exact: bool, min: i128, max: i128) -> IntBound {
        if floor > max {
            IntBound::Above
        } else if floor < min {
            IntBound::Below
        } else {
            IntBound::At { floor, exact }
        }
    }
}

/// Compares an integer-valued column with a real target without converting the column:
/// `x > 2.5` becomes `x > 2`, `x = 2.5` is false, `x < inf` is "x exists".
fn integer_compare(c: Expr, op: Comparison, bound: IntBound, value: impl Fn(i128) -> ScalarValue) -> Expr {
    use Comparison::*;
    match bound {
        IntBound::Above => match op {
            Lt | Le => c.is_not_null(),
            Eq | Gt | Ge => lit(false),
        },
        IntBound::Below => match op {
            Gt | Ge => c.is_not_null(),
            Eq | Lt | Le => lit(false),
        },
        IntBound::At { floor, exact } => {
            let op = match (op, exact) {
                (Eq, false) => return lit(false),
                (Lt, false) => Le,
                (Ge, false) => Gt,
                (op, _) => op,
            };
            known(c, op, lit(value(floor)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_bounds() {
        let b = |f: f64| IntBound::from_number(Number::Float(f), i64::MIN as i128, i64::MAX as i128);
        assert_eq!(
            b(2.5),
            IntBound::At {
                floor: 2,
                exact: false
            }
        );
        assert_eq!(
            b(-2.5),
            IntBound::At {
                floor: -3,
                exact: false
            }
        );
        assert_eq!(
            b(3.0),
            IntBound::At {
                floor: 3,
                exact: true
            }
        );
        assert_eq!(b(f64::NAN), IntBound::Above);
        assert_eq!(b(f64::INFINITY), IntBound::Above);
        assert_eq!(b(f64::NEG_INFINITY), IntBound::Below);
        assert_eq!(b(1e19), IntBound::Above);
        assert_eq!(b(-1e19), IntBound::Below);
        assert_eq!(
            IntBound::from_ratio(-1, 1000, -10, 10),
            IntBound::At {
                floor: -1,
                exact: false
            }
        );
        assert_eq!(
            IntBound::from_ratio(2000, 1000, -10, 10),
            IntBound::At {
                floor: 2,
                exact: true
            }
        );
        assert_eq!(IntBound::from_ratio(20000, 1000, -10, 10), IntBound::Above);
    }
}

#[cfg(test)]
mod capture_tests {
    use super::without_captures;

    #[test]
    fn capture_groups_become_non_capturing_with_the_same_matches() {
        for (pattern, expected) in [
            ("abc", "abc"),
            ("(a|b)*c", "(?:a|b)*c"),
            ("(?P<x>a)(?<y>b)", "(?:a)(?:b)"),
            ("(?i:a(b))", "(?i:a(?:b))"),
            ("\\(a\\)", "\\(a\\)"),
            ("[(]a", "[(]a"),
            ("(?x) ( a ) # c", "(?x)(?:a)"),
        ] {
            assert_eq!(without_captures(pattern), expected, "{pattern}");
        }
        for (pattern, text) in [
            ("(?i)(A|b)+$", "xaB"),
            ("^(\\d{2})-(\\w+)", "12-ab"),
            ("(?x) ( a ) # c", "a"),
        ] {
            let a = regex::Regex::new(pattern).unwrap();
            let b = regex::Regex::new(&without_captures(pattern)).unwrap();
            assert_eq!(a.is_match(text), b.is_match(text), "{pattern}");
            assert!(b.is_match(text), "{pattern}");
            assert_eq!(b.captures_len(), 1, "{pattern}");
        }
        assert_eq!(without_captures("(unclosed"), "(unclosed");
    }
}
