//! The DataFusion plans the lowering builds, pinned with insta inline snapshots as
//! DataFusion's optimizer tests do. Every test is `(c op v) IS TRUE` or another form that is
//! never NULL, so that NOT is the exact complement (spec 4.1).

use std::sync::Arc;

use datafusion::logical_expr::logical_plan::builder::LogicalTableSource;
use datafusion::logical_expr::{Expr, Operator};
use insta::assert_snapshot;

use crate::common::{catalog, check, table};

/// `TableScan → Filter` for `query` over the test table, indented.
fn plan(query: &str) -> String {
    let checked = check(query).unwrap_or_else(|e| panic!("{query:?}: {e}"));
    let source = Arc::new(LogicalTableSource::new(table().schema.clone()));
    let plan = nql::lower::plan(&checked, catalog(), "runs", source).expect("lowering");
    plan.display_indent().to_string()
}

/// Only the filter expression of `query`, printed with the parentheses DataFusion's Display
/// leaves out after NOT (`NOT a OR b` there means `NOT (a OR b)`).
fn filter(query: &str) -> String {
    let checked = check(query).unwrap_or_else(|e| panic!("{query:?}: {e}"));
    show(&nql::lower::filter_expr(&checked, catalog()).expect("lowering"))
}

fn is_junction(e: &Expr) -> Option<Operator> {
    match e {
        Expr::BinaryExpr(b) if matches!(b.op, Operator::And | Operator::Or) => Some(b.op),
        _ => None,
    }
}

fn show(e: &Expr) -> String {
    match e {
        Expr::Not(inner) if is_junction(inner).is_some() => format!("NOT ({})", show(inner)),
        Expr::Not(inner) => format!("NOT {}", show(inner)),
        Expr::BinaryExpr(b) if is_junction(e).is_some() => {
            let side = |s: &Expr| match is_junction(s) {
                Some(op) if op != b.op => format!("({})", show(s)),
                _ => show(s),
            };
            format!("{} {} {}", side(&b.left), b.op, side(&b.right))
        }
        other => other.to_string(),
    }
}

/// How deep the AND/OR tree of an expression is.
fn junction_depth(e: &Expr) -> usize {
    match e {
        Expr::BinaryExpr(b) if is_junction(e).is_some() => {
            1 + junction_depth(&b.left).max(junction_depth(&b.right))
        }
        Expr::Not(inner) => junction_depth(inner),
        _ => 0,
    }
}

#[test]
fn empty_query_scans_everything() {
    assert_snapshot!(plan(""), @"TableScan: runs");
}

#[test]
fn plain_comparison() {
    assert_snapshot!(plan("`f1`:float >= 0.85"), @"
    Filter: runs.f1 >= Float64(0.85) AND runs.f1 IS NOT NULL
      TableScan: runs
    ");
}

#[test]
fn int_column_with_integer_and_fractional_literals() {
    assert_snapshot!(filter("params/batch_size:int = 64"), @"params/batch_size = Int64(64) AND params/batch_size IS NOT NULL");
    assert_snapshot!(filter("params/batch_size:int = 64.0"), @"params/batch_size = Int64(64) AND params/batch_size IS NOT NULL");
    assert_snapshot!(filter("params/batch_size:int = 64.5"), @"Boolean(false)");
    assert_snapshot!(filter("params/batch_size:int > 2.5"), @"params/batch_size > Int64(2) AND params/batch_size IS NOT NULL");
    assert_snapshot!(filter("params/batch_size:int >= 2.5"), @"params/batch_size > Int64(2) AND params/batch_size IS NOT NULL");
    assert_snapshot!(filter("params/batch_size:int < -2.5"), @"params/batch_size <= Int64(-3) AND params/batch_size IS NOT NULL");
    assert_snapshot!(filter("params/batch_size:int <= 2.5"), @"params/batch_size <= Int64(2) AND params/batch_size IS NOT NULL");
    assert_snapshot!(filter("params/batch_size:int != 2.5"), @"NOT Boolean(false)");
}

#[test]
fn int_column_with_infinities_and_nan() {
    assert_snapshot!(filter("sys/size:int < inf"), @"sys/size IS NOT NULL");
    assert_snapshot!(filter("sys/size:int > -inf"), @"sys/size IS NOT NULL");
    assert_snapshot!(filter("sys/size:int = nan"), @"Boolean(false)");
    assert_snapshot!(filter("sys/size:int < nan"), @"sys/size IS NOT NULL");
    assert_snapshot!(filter("sys/size:int > 1e30"), @"Boolean(false)");
}

#[test]
fn float_literals() {
    assert_snapshot!(filter("f1:float = 1"), @"f1 = Float64(1) AND f1 IS NOT NULL");
    assert_snapshot!(filter("f1:float = nan"), @"f1 = Float64(NaN) AND f1 IS NOT NULL");
    assert_snapshot!(filter("f1:float < -inf"), @"f1 < Float64(-inf) AND f1 IS NOT NULL");
    assert_snapshot!(filter("sys/size:float > 800kb"), @"sys/size > Int64(800000) AND sys/size IS NOT NULL");
}

/// The bits of every `Float64` literal in `e`, in the order DataFusion visits them.
fn float_literal_bits(e: &Expr) -> Vec<u64> {
    use datafusion::common::ScalarValue;
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    let mut bits = Vec::new();
    e.apply(|e| {
        if let Expr::Literal(ScalarValue::Float64(Some(v)), _) = e {
            bits.push(v.to_bits());
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .unwrap();
    bits
}

#[test]
fn negative_zero_literals_are_lowered_as_zero() {
    // Float columns hold -0.0 as 0.0 and the engine compares with totalOrder, where -0.0 is
    // less than 0.0: a literal that reads as -0.0 must be 0.0 too.
    for q in [
        "f1:float = -1e-400",
        "f1:float < -1e-400",
        "f1:float >= \"-1e-400\"",
        "f1:float = -0",
        "f1:float = -0.0",
        "f1:float = -0e7",
        "f1:float = \"-0.0 kB\"",
        "`metrics/acc`:floatSeries = -1e-400",
        "params/epochs:float = -1e-400",
    ] {
        let e = nql::lower::filter_expr(&check(q).unwrap(), catalog()).unwrap();
        let bits = float_literal_bits(&e);
        assert!(!bits.is_empty(), "{q}: {e}");
        assert!(bits.iter().all(|b| *b == 0f64.to_bits()), "{q}: {e}");
    }
    assert_snapshot!(filter("f1:float = -1e-400"), @"f1 = Float64(0) AND f1 IS NOT NULL");
    assert_snapshot!(filter("f1:float < -1e-400"), @"f1 < Float64(0) AND f1 IS NOT NULL");
    // Other values keep their sign.
    assert_eq!(
        float_literal_bits(
            &nql::lower::filter_expr(&check("f1:float = -1e-300").unwrap(), catalog()).unwrap()
        ),
        [(-1e-300f64).to_bits()]
    );
}

#[test]
fn every_nan_literal_is_lowered_as_the_positive_quiet_nan() {
    // Analysis only reads the positive quiet NaN, but lowering takes any checked query: a NaN
    // with the sign bit or a payload set is lowered as f64::NAN, as float columns store it.
    use nql::hir::{Comparison, Condition, Literal, Number, Predicate, Target, Test};
    for nan in [
        -f64::NAN,
        f64::from_bits(0x7ff0_0000_0000_0001),
        f64::from_bits(0xfff8_0000_dead_beef),
        f64::NAN,
    ] {
        let p = Predicate::Test(Test {
            target: Target {
                path: "f1".into(),
                ty: nql::AttrType::Float,
                aggregate: None,
                known: true,
            },
            condition: Condition::Compare(Comparison::Eq, Literal::Number(Number::Float(nan))),
            span: nql::Span::new(0, 0),
        });
        let e = nql::lower::predicate(&p, catalog()).unwrap();
        assert_eq!(
            float_literal_bits(&e),
            [f64::NAN.to_bits()],
            "{:#x}",
            nan.to_bits()
        );
    }
}

#[test]
fn int_and_float_columns_of_one_path() {
    assert_snapshot!(filter("params/epochs:float > 2.5"), @"(params/epochs:int > Int64(2) AND params/epochs:int IS NOT NULL) OR (params/epochs:float > Float64(2.5) AND params/epochs:float IS NOT NULL)");
    assert_snapshot!(filter("params/epochs:int = 3"), @"(params/epochs:int = Int64(3) AND params/epochs:int IS NOT NULL) OR (params/epochs:float = Float64(3) AND params/epochs:float IS NOT NULL)");
    assert_snapshot!(filter("params/epochs EXISTS"), @"params/epochs:int IS NOT NULL OR params/epochs:float IS NOT NULL");
    assert_snapshot!(filter("params/epochs != 3"), @"NOT ((params/epochs:int = Int64(3) AND params/epochs:int IS NOT NULL) OR (params/epochs:float = Float64(3) AND params/epochs:float IS NOT NULL))");
}

#[test]
fn datetimes_in_every_unit() {
    // Microseconds, UTC.
    assert_snapshot!(filter("sys/creation_time:datetime > \"2024-01-01T00:00:00Z\""), @r#"sys/creation_time > TimestampMicrosecond(1704067200000000, Some("UTC")) AND sys/creation_time IS NOT NULL"#);
    // Milliseconds without a time zone: an instant with microseconds falls between two values.
    assert_snapshot!(filter("sys/modification_time:datetime >= \"2024-01-01T00:00:00.000001Z\""), @"sys/modification_time > TimestampMillisecond(1704067200000, None) AND sys/modification_time IS NOT NULL");
    assert_snapshot!(filter("sys/modification_time:datetime = \"2024-01-01T00:00:00.000001Z\""), @"Boolean(false)");
    assert_snapshot!(filter("sys/modification_time:datetime = \"2024-01-01T09:00:00.001+09:00\""), @"sys/modification_time = TimestampMillisecond(1704067200001, None) AND sys/modification_time IS NOT NULL");
    // Nanoseconds.
    assert_snapshot!(filter("sys/ping_time:datetime < \"2024-02-06T05:00:00.123456789+09\""), @r#"sys/ping_time < TimestampNanosecond(1707163200123456789, Some("UTC")) AND sys/ping_time IS NOT NULL"#);
    // Days.
    assert_snapshot!(filter("info/release_date:datetime = 2025-01-01"), @r#"info/release_date = Date32("2025-01-01") AND info/release_date IS NOT NULL"#);
    assert_snapshot!(filter("info/release_date:datetime < \"2025-01-01T12:00:00Z\""), @r#"info/release_date <= Date32("2025-01-01") AND info/release_date IS NOT NULL"#);
    // Relative to the fixed now (2026-06-01).
    assert_snapshot!(filter("sys/creation_time:datetime > -1M"), @r#"sys/creation_time > TimestampMicrosecond(1777593600000000, Some("UTC")) AND sys/creation_time IS NOT NULL"#);
}

#[test]
fn negations_are_exact_complements() {
    assert_snapshot!(filter("f1:float != 1"), @"NOT (f1 = Float64(1) AND f1 IS NOT NULL)");
    assert_snapshot!(filter("f1:float NOT > 1"), @"NOT (f1 > Float64(1) AND f1 IS NOT NULL)");
    assert_snapshot!(filter("NOT f1:float > 1"), @"NOT (f1 > Float64(1) AND f1 IS NOT NULL)");
    assert_snapshot!(filter("NOT NOT f1:float > 1"), @"NOT NOT (f1 > Float64(1) AND f1 IS NOT NULL)");
    assert_snapshot!(filter("sys/name:string NOT CONTAINS \"blobfish\""), @r#"NOT (contains(sys/name, Utf8View("blobfish")) AND sys/name IS NOT NULL)"#);
    assert_snapshot!(filter("sys/name:string NOT MATCHES \"^exp\""), @r#"NOT (regexp_like(sys/name, Utf8View("^exp")) AND sys/name IS NOT NULL)"#);
    assert_snapshot!(filter("f1:float NOT EXISTS"), @"NOT f1 IS NOT NULL");
    assert_snapshot!(filter("NOT (f1:float > 1 AND flag:bool = true)"), @"NOT (f1 > Float64(1) AND f1 IS NOT NULL AND flag AND flag IS NOT NULL)");
}

#[test]
fn missing_attributes_are_false() {
    assert_snapshot!(filter("nosuch:float > 1"), @"Boolean(false)");
    assert_snapshot!(filter("nosuch:float != 1"), @"NOT Boolean(false)");
    assert_snapshot!(filter("nosuch = 1"), @"Boolean(false)");
    assert_snapshot!(filter("NOT nosuch EXISTS"), @"NOT Boolean(false)");
    assert_snapshot!(plan("f1:float > 1 OR nosuch:string EXISTS"), @"
    Filter: runs.f1 > Float64(1) AND runs.f1 IS NOT NULL OR Boolean(false)
      TableScan: runs
    ");
}

#[test]
fn bools() {
    assert_snapshot!(filter("flag:bool = true"), @"flag AND flag IS NOT NULL");
    assert_snapshot!(filter("flag:bool = false"), @"NOT flag AND flag IS NOT NULL");
    assert_snapshot!(filter("flag:bool != true"), @"NOT (flag AND flag IS NOT NULL)");
}

#[test]
fn strings_states_and_artifacts() {
    // Literals take the column's own string type: Utf8, Utf8View, LargeUtf8.
    assert_snapshot!(filter("sys/owner:string = \"jackie\""), @r#"sys/owner = Utf8("jackie") AND sys/owner IS NOT NULL"#);
    assert_snapshot!(filter("sys/name:string > \"z\""), @r#"sys/name > Utf8View("z") AND sys/name IS NOT NULL"#);
    assert_snapshot!(filter("sys/description:string CONTAINS \"new data\""), @r#"contains(sys/description, LargeUtf8("new data")) AND sys/description IS NOT NULL"#);
    assert_snapshot!(filter("sys/state:experimentState = running"), @r#"sys/state:experimentState = Utf8("active") AND sys/state:experimentState IS NOT NULL"#);
    assert_snapshot!(filter("dataset_version:artifact = 9a113b79"), @r#"dataset_version:artifact = Utf8("9a113b79") AND dataset_version:artifact IS NOT NULL"#);
}

#[test]
fn string_set_contains() {
    assert_snapshot!(filter("sys/tags:stringSet CONTAINS \"my tag\""), @r#"array_has(sys/tags, Utf8("my tag")) AND sys/tags IS NOT NULL"#);
    assert_snapshot!(filter("sys/tags:stringSet NOT CONTAINS best"), @r#"NOT (array_has(sys/tags, Utf8("best")) AND sys/tags IS NOT NULL)"#);
}

#[test]
fn matches() {
    assert_snapshot!(filter(r#"sys/name:string MATCHES "^exp-\\d+$""#), @r#"regexp_like(sys/name, Utf8View("^exp-\d+$")) AND sys/name IS NOT NULL"#);
    assert_snapshot!(filter("`logs/stdout`:stringSeries MATCHES \"done\""), @r#"regexp_like(logs/stdout#last, Utf8View("done")) AND logs/stdout#last IS NOT NULL"#);
}

#[test]
fn series_aggregates() {
    assert_snapshot!(filter("last(`metrics/acc`):float > 0.9"), @"metrics/acc#last > Float64(0.9) AND metrics/acc#last IS NOT NULL");
    assert_snapshot!(filter("`metrics/acc`:floatSeries > 0.9"), @"metrics/acc#last > Float64(0.9) AND metrics/acc#last IS NOT NULL");
    assert_snapshot!(filter("average(`metrics/acc`:floatSeries) >= 0.5"), @"metrics/acc#average >= Float64(0.5) AND metrics/acc#average IS NOT NULL");
    assert_snapshot!(filter("max(`metrics/acc`) = nan"), @"metrics/acc#max = Float64(NaN) AND metrics/acc#max IS NOT NULL");
    assert_snapshot!(filter("min(`val/loss`) < 0"), @"val/loss#min < Float64(0) AND val/loss#min IS NOT NULL");
    assert_snapshot!(filter("variance(`accuracy`:floatSeries) = 0"), @"accuracy#variance = Float64(0) AND accuracy#variance IS NOT NULL");
    assert_snapshot!(filter("`metrics/acc`:floatSeries EXISTS"), @"metrics/acc#last IS NOT NULL");
    assert_snapshot!(filter("`logs/stdout`:stringSeries = \"done\""), @r#"logs/stdout#last = Utf8View("done") AND logs/stdout#last IS NOT NULL"#);
    assert_snapshot!(filter("last(`logs/stdout`) CONTAINS \"ERROR\""), @r#"contains(logs/stdout#last, Utf8View("ERROR")) AND logs/stdout#last IS NOT NULL"#);
}

#[test]
fn exists_on_every_kind_of_column() {
    assert_snapshot!(filter("model/weights:fileRef EXISTS AND sys/tags:stringSet EXISTS AND info/release_date:datetime EXISTS"), @"model/weights:fileRef IS NOT NULL AND sys/tags IS NOT NULL AND info/release_date IS NOT NULL");
}

#[test]
fn long_chains_become_balanced_trees() {
    assert_snapshot!(filter("sys/size:int = 1 OR sys/size:int = 2 OR sys/size:int = 3 OR sys/size:int = 4 OR sys/size:int = 5"), @"(sys/size = Int64(1) AND sys/size IS NOT NULL) OR (sys/size = Int64(2) AND sys/size IS NOT NULL) OR (sys/size = Int64(3) AND sys/size IS NOT NULL) OR (sys/size = Int64(4) AND sys/size IS NOT NULL) OR (sys/size = Int64(5) AND sys/size IS NOT NULL)");
    assert_snapshot!(plan("(`sys/tags`:stringSet CONTAINS \"some-tag\") AND (`f1`:float >= 0.85) AND flag:bool = true"), @r#"
    Filter: array_has(runs.sys/tags, Utf8("some-tag")) AND runs.sys/tags IS NOT NULL AND runs.f1 >= Float64(0.85) AND runs.f1 IS NOT NULL AND runs.flag AND runs.flag IS NOT NULL
      TableScan: runs
    "#);
}

#[test]
fn a_thousand_clauses_are_ten_levels_deep() {
    let q = (0..1000)
        .map(|i| format!("sys/size:int = {i}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let checked = check(&q).unwrap();
    let e = nql::lower::filter_expr(&checked, catalog()).unwrap();
    // Ten levels of OR, then each clause's `test AND column IS NOT NULL`.
    assert_eq!(junction_depth(&e), 11);
    let q = (0..1000)
        .map(|i| format!("params/epochs:float = {i}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let checked = check(&q).unwrap();
    let e = nql::lower::filter_expr(&checked, catalog()).unwrap();
    // Ten levels of AND, then the OR of the int and the float column, then
    // each column's presence test.
    assert_eq!(junction_depth(&e), 12);
}

#[test]
fn odd_column_names_are_identifiers_not_sql() {
    assert_snapshot!(filter("`with space/loss` > 4 AND `say \"hi\"`:string = x AND `it's`:int = 1"), @r#"with space/loss > Float64(4) AND with space/loss IS NOT NULL AND say "hi" = Utf8("x") AND say "hi" IS NOT NULL AND it's = Int64(1) AND it's IS NOT NULL"#);
}

#[test]
fn a_catalog_without_a_column_is_an_error_not_a_panic() {
    // An attribute the catalog lists without a column (a broken catalog) fails lowering.
    let mut broken = nql::TableCatalog::new();
    broken.add_attribute(
        "x",
        nql::AttrType::FloatSeries,
        1,
        nql::ColumnInfo {
            name: "x".into(),
            data_type: datafusion::arrow::datatypes::DataType::Float64,
        },
    );
    let checked = nql::check("max(`x`) > 1", &broken, crate::common::now()).unwrap();
    let err = nql::lower::filter_expr(&checked, &broken).unwrap_err();
    assert_snapshot!(err.to_string(), @"the catalog has no usable column for `x:floatSeries`: no column");
    let checked = nql::check("`x`:floatSeries CONTAINS \"a\"", &broken, crate::common::now());
    assert!(checked.is_err());
}
