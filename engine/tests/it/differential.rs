//! Differential testing: random small projects × random queries (every type, operator,
//! NOT/AND/OR nesting, missing values, NaN, ties), the engine against the reference
//! evaluator. Also checks that Q and NOT (Q) split the objects exactly (spec 4.1).
//!
//! At realistic size, a project of 100,000 runs (low- and high-cardinality strings, sets
//! with null elements, sparse series) answers a battery and random queries, each twice: the
//! first run is the first filter over its string columns (plain Arrow kernels), the second
//! builds their dictionaries and evaluates by key. Both in memory and read lazily from
//! Parquet through the project index.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, ListBuilder,
    StringArray, StringBuilder, TimestampMicrosecondArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datasets::ProjectBatches;
use datasets::layout::ObjectKind;
use engine::{Engine, FetchOptions, Trashed};
use nql::{Aggregate, AttrType};
use proptest::prelude::*;

use crate::common::{block_on, now};
use crate::reference::Reference;

/// A tiny deterministic generator, so that a failing project is reproduced by its seed.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
    /// Some value with probability 3/4.
    fn maybe<T: Clone>(&mut self, items: &[T]) -> Option<T> {
        (self.below(4) != 0).then(|| self.pick(items))
    }
}

const BASE_MS: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z
const SERIES_VALUES: [f64; 10] = [
    -1.0,
    -0.5,
    0.0,
    0.5,
    1.0,
    2.0,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.5,
];

/// A random project of 1 to 30 runs with every attribute type and two series.
pub(crate) fn project(seed: u64) -> ProjectBatches {
    let mut r = Rng(seed | 1);
    let n = 1 + r.below(30);
    let ids: Vec<String> = (0..n).map(|i| format!("R-{i}")).collect();
    let strings = ["", "a", "ab", "b", "A", "a b", "ba", "é"];
    let floats = [
        -1.5,
        0.0,
        -0.0,
        0.5,
        2.0,
        2.5,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut n_int = Vec::new();
    let mut n_float = Vec::new();
    for _ in 0..n {
        match r.below(3) {
            0 => (n_int.push(Some(r.pick(&[-3i64, 0, 2, 3]))), n_float.push(None)),
            1 => (n_int.push(None), n_float.push(Some(r.pick(&floats)))),
            _ => (n_int.push(None), n_float.push(None)),
        };
    }
    // Sets: missing, empty, with repeated tags and with null elements (`[a, null]`, `[null]`).
    let mut tags = ListBuilder::new(StringBuilder::new());
    for _ in 0..n {
        match r.below(4) {
            0 => tags.append_null(),
            _ => {
                for _ in 0..r.below(4) {
                    tags.values()
                        .append_option(r.pick(&[Some("a"), Some("b"), Some("c d"), Some(""), None]));
                }
                tags.append(true);
            }
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("sys/id", Arc::new(StringArray::from(ids.clone()))),
        (
            "sys/trashed",
            Arc::new(BooleanArray::from(
                (0..n).map(|_| r.maybe(&[false, false, true])).collect::<Vec<_>>(),
            )),
        ),
        (
            "i",
            Arc::new(Int32Array::from(
                (0..n).map(|_| r.maybe(&[-3, -1, 0, 1, 2, 3])).collect::<Vec<_>>(),
            )),
        ),
        (
            "f",
            Arc::new(Float64Array::from(
                (0..n).map(|_| r.maybe(&floats)).collect::<Vec<_>>(),
            )),
        ),
        ("n", Arc::new(Int64Array::from(n_int))),
        ("n:float", Arc::new(Float64Array::from(n_float))),
        (
            "s",
            Arc::new(StringArray::from(
                (0..n).map(|_| r.maybe(&strings)).collect::<Vec<_>>(),
            )),
        ),
        (
            "b",
            Arc::new(BooleanArray::from(
                (0..n).map(|_| r.maybe(&[true, false])).collect::<Vec<_>>(),
            )),
        ),
        (
            "t",
            Arc::new(TimestampMillisecondArray::from(
                (0..n)
                    .map(|_| r.maybe(&[-3i64, -1, 0, 1, 2, 3]).map(|k| BASE_MS + 500 * k))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "d",
            Arc::new(Date32Array::from(
                (0..n)
                    .map(|_| r.maybe(&[19722, 19723, 19724]))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "st:experimentState",
            Arc::new(StringArray::from(
                (0..n)
                    .map(|_| r.maybe(&["active", "inactive", "running", "idle", "ACTIVE"]))
                    .collect::<Vec<_>>(),
            )),
        ),
        ("tags", Arc::new(tags.finish())),
        (
            "art:artifact",
            Arc::new(StringArray::from(
                (0..n).map(|_| r.maybe(&["h1", "h2"])).collect::<Vec<_>>(),
            )),
        ),
    ];
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns
        .into_iter()
        .map(|(name, a)| (Field::new(name, a.data_type().clone(), true), a))
        .unzip();
    let runs = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();

    let (mut fid, mut fstep, mut fts, mut fval) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut sid, mut sstep, mut sts, mut sval) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for id in &ids {
        for _ in 0..r.below(5) {
            fid.push(id.clone());
            fstep.push(r.pick(&[0.0, 1.0]));
            fts.push(if r.below(3) == 0 { None } else { Some(1_000_000i64) });
            fval.push(if r.below(10) == 0 {
                None
            } else {
                Some(r.pick(&SERIES_VALUES))
            });
        }
        for _ in 0..r.below(4) {
            sid.push(id.clone());
            sstep.push(r.pick(&[0.0, 1.0]));
            sts.push(r.maybe(&[1_000_000i64, 2_000_000]));
            sval.push(r.pick(&["done", "ERROR x", "a", "b"]));
        }
    }
    in_files(
        runs,
        series_batch(fid, fstep, fts, Arc::new(Float64Array::from(fval))),
        series_batch(sid, sstep, sts, Arc::new(StringArray::from(sval))),
    )
}

/// A project's runs in three batches of unequal sizes, as three files would hold them: the
/// second with its columns in reverse order, the third without `mid` and `labels` (so those
/// are missing there); the float points in two batches.
fn in_files(runs: RecordBatch, float_series: RecordBatch, string_series: RecordBatch) -> ProjectBatches {
    let n = runs.num_rows();
    let (a, b) = (n / 3, n * 7 / 10);
    let columns = runs.num_columns();
    let reversed: Vec<usize> = (0..columns).rev().collect();
    let schema = runs.schema();
    let fewer: Vec<usize> = (0..columns)
        .filter(|&i| !["mid", "labels"].contains(&schema.field(i).name().as_str()))
        .collect();
    let half = float_series.num_rows() / 2;
    ProjectBatches {
        runs: vec![
            runs.slice(0, a),
            runs.slice(a, b - a).project(&reversed).unwrap(),
            runs.slice(b, n - b).project(&fewer).unwrap(),
        ],
        float_series: vec![
            float_series.slice(0, half),
            float_series.slice(half, float_series.num_rows() - half),
        ],
        string_series: vec![string_series],
        ..ProjectBatches::default()
    }
}

/// A series batch of the layout: the points of path `fs` (float values) or `ss` (strings).
fn series_batch(ids: Vec<String>, steps: Vec<f64>, ts: Vec<Option<i64>>, value: ArrayRef) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("sys/id", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("step", DataType::Float64, false),
        Field::new("value", value.data_type().clone(), true),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]);
    let paths = vec![
        if value.data_type() == &DataType::Utf8 {
            "ss"
        } else {
            "fs"
        };
        ids.len()
    ];
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(StringArray::from(paths)),
            Arc::new(Float64Array::from(steps)),
            value,
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
        ],
    )
    .unwrap()
}

const NUM: &[&str] = &[
    "0", "-0", "-0.0", "-0.5", "0.5", "1", "2", "2.5", "-3", "3", "nan", "NaN", "inf", "-inf", "1e20",
    "\"2\"", "1kB",
];
const NUM_OPS: &[&str] = &["=", "==", "!=", "<", "<=", ">", ">="];
const EQ_OPS: &[&str] = &["=", "!="];

/// (references, operators, values) for each kind of attribute in the random projects.
fn clause_kinds() -> Vec<(Vec<&'static str>, Vec<&'static str>, Vec<&'static str>)> {
    vec![
        (
            vec![
                "i:int",
                "i:float",
                "i",
                "f:float",
                "f:int",
                "f",
                "n:float",
                "n:int",
                "n",
                "nosuch:float",
            ],
            NUM_OPS.to_vec(),
            NUM.to_vec(),
        ),
        (
            vec![
                "fs",
                "`fs`:floatSeries",
                "last(fs)",
                "max(`fs`:floatSeries)",
                "min(fs):float",
                "average(fs)",
                "LAST(fs)",
            ],
            NUM_OPS.to_vec(),
            NUM.to_vec(),
        ),
        (
            vec!["variance(fs)"],
            NUM_OPS.to_vec(),
            vec!["0", "0.1", "0.3", "1.1", "nan", "inf"],
        ),
        (
            vec!["s:string", "s", "nosuch:string"],
            vec!["=", "!=", "<", "<=", ">", ">=", "CONTAINS"],
            vec!["\"\"", "a", "\"a b\"", "b", "A", "é", "'ab'", "ba"],
        ),
        (
            vec!["s:string", "ss", "`ss`:stringSeries", "last(ss)"],
            vec!["MATCHES"],
            vec![
                "\"^a\"",
                "\"b$\"",
                "\"\"",
                "\"[ab]+\"",
                "\"(?i)A\"",
                "\"^d\"",
                "x$",
            ],
        ),
        (
            vec!["ss:stringSeries", "ss"],
            vec!["=", "!=", "CONTAINS"],
            vec!["done", "\"ERROR x\"", "a", "ERROR", "o"],
        ),
        (
            vec!["b:bool", "b"],
            EQ_OPS.to_vec(),
            vec!["true", "false", "TRUE", "\"False\""],
        ),
        (
            vec!["t:datetime", "t", "d:datetime", "d"],
            NUM_OPS.to_vec(),
            vec![
                "\"2024-01-01T00:00:00Z\"",
                "\"2024-01-01T00:00:00.5Z\"",
                "\"2024-01-01T00:00:01.0005Z\"",
                "\"2023-12-31T23:59:59.25Z\"",
                "2024-01-02",
                "2023-12-31",
                "\"2024-01-01T09:00:00+09:00\"",
                "-900d",
            ],
        ),
        (
            vec!["st:experimentState", "st"],
            EQ_OPS.to_vec(),
            vec!["active", "idle", "\"RUNNING\"", "inactive"],
        ),
        (
            vec!["tags:stringSet", "tags"],
            vec!["CONTAINS"],
            vec!["a", "b", "\"c d\"", "\"\"", "z"],
        ),
        (
            vec!["art:artifact", "art"],
            EQ_OPS.to_vec(),
            vec!["h1", "h2", "h3"],
        ),
    ]
}

/// One random clause.
fn clause() -> impl Strategy<Value = String> {
    (any::<u16>(), any::<u16>(), any::<u16>(), any::<u16>(), 0u8..8).prop_map(|(k, r, o, v, flags)| {
        let kinds = clause_kinds();
        let (refs, ops, values) = &kinds[k as usize % kinds.len()];
        let reference = refs[r as usize % refs.len()];
        if flags == 0 {
            return format!("{reference} EXISTS");
        }
        if flags == 1 {
            return format!("{reference} NOT EXISTS");
        }
        let not = if flags == 2 { "NOT " } else { "" };
        format!(
            "{reference} {not}{} {}",
            ops[o as usize % ops.len()],
            values[v as usize % values.len()]
        )
    })
}

/// A random query: half single clauses (which expose a wrong answer best), half clauses
/// under NOT, AND and OR, nested up to three levels.
fn query() -> impl Strategy<Value = String> {
    let nested = clause().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| format!("({})", v.join(" AND "))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| format!("({})", v.join(" or "))),
            inner.prop_map(|q| format!("NOT {q}")),
        ]
    });
    prop_oneof![clause(), nested]
}

fn check(
    engine: &Engine,
    reference: &Reference,
    query: &str,
    trashed: Trashed,
) -> Result<Vec<String>, TestCaseError> {
    let options = FetchOptions {
        trashed,
        now: Some(now("2026-06-01T00:00:00Z")),
        ..FetchOptions::default()
    };
    let checked = match engine.check(ObjectKind::Runs, query, &options) {
        Ok(c) => c,
        Err(e) => {
            // Only analysis may refuse a generated query (an untyped name of several types
            // never occurs here, so this is an engine bug).
            return Err(TestCaseError::fail(format!(
                "{query:?} was refused: {}",
                e.render(false)
            )));
        }
    };
    let fail = |e: engine::QueryError| TestCaseError::fail(e.to_string());
    let mut got = block_on(engine.fetch_runs_table(query, &options))
        .map_err(fail)?
        .ids();
    got.sort();
    let expected = reference.matching(checked.predicate.as_ref(), trashed == Trashed::All);
    prop_assert_eq!(
        &got,
        &expected,
        "query {:?}, checked as {:?}; differing: {}",
        query,
        checked.predicate.as_ref().map(|p| p.to_string()),
        differing(&got, &expected)
            .iter()
            .map(|id| reference.describe(id, checked.predicate.as_ref()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(got)
}

/// The ids in one of two sorted lists but not the other, at most five.
fn differing(a: &[String], b: &[String]) -> Vec<String> {
    let mut out: Vec<String> = a
        .iter()
        .filter(|x| b.binary_search(x).is_err())
        .chain(b.iter().filter(|x| a.binary_search(x).is_err()))
        .take(5)
        .cloned()
        .collect();
    out.sort();
    out
}

/// The engine's per-object summaries (as result columns) equal the reference's, computed
/// from the raw points.
fn check_summaries(engine: &Engine, reference: &Reference) -> Result<(), TestCaseError> {
    let columns = ["max(fs)", "min(fs)", "average(fs)", "variance(fs)", "fs", "ss"];
    let options = FetchOptions {
        columns: Some(columns.iter().map(|c| c.to_string()).collect()),
        sort_by: Some("sys/id".into()),
        ascending: true,
        trashed: Trashed::All,
        ..FetchOptions::default()
    };
    let result = match block_on(engine.fetch_runs_table("", &options)) {
        Ok(r) => r,
        // A project without points has no series columns.
        Err(engine::QueryError::BadOption(_)) => return Ok(()),
        Err(e) => return Err(TestCaseError::fail(e.to_string())),
    };
    let batch = datafusion::arrow::compute::concat_batches(&result.schema, &result.batches).unwrap();
    let ids = result.ids();
    let aggregates = [
        Aggregate::Max,
        Aggregate::Min,
        Aggregate::Average,
        Aggregate::Variance,
        Aggregate::Last,
    ];
    for (c, agg) in aggregates.into_iter().enumerate() {
        let got = batch.column(c + 1).as_primitive::<Float64Type>();
        for (row, id) in ids.iter().enumerate() {
            let expected = reference.aggregate(id, "fs", agg);
            let value = got.is_valid(row).then(|| got.value(row));
            let same = match (value, expected) {
                (Some(a), Some(b)) => {
                    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-12 * b.abs().max(1.0)
                }
                (a, b) => a.is_none() && b.is_none(),
            };
            prop_assert!(
                same,
                "{} of fs for {}: engine {:?}, reference {:?}",
                agg,
                id,
                value,
                expected
            );
        }
    }
    let last = datafusion::arrow::compute::cast(batch.column(6), &DataType::Utf8).unwrap();
    let last = last.as_string::<i32>();
    for (row, id) in ids.iter().enumerate() {
        let value = last.is_valid(row).then(|| last.value(row).to_string());
        prop_assert_eq!(value, reference.last_entry(id, "ss"), "last of ss for {}", id);
    }
    Ok(())
}

/// A battery of single clauses: for a representative reference of each kind (typed, untyped,
/// int read as float and the reverse, every aggregate), every operator and value of the kind,
/// and EXISTS. Negations are left to the random queries: they lower to `NOT` of these.
fn battery() -> Vec<String> {
    let representatives: [&[&str]; 11] = [
        &["i:int", "i:float", "f:int", "n"],
        &["fs", "max(`fs`:floatSeries)", "min(fs):float", "average(fs)"],
        &["variance(fs)"],
        &["s"],
        &["s:string", "ss"],
        &["ss"],
        &["b"],
        &["t", "d"],
        &["st"],
        &["tags"],
        &["art"],
    ];
    let mut out = Vec::new();
    for ((_, ops, values), refs) in clause_kinds().into_iter().zip(representatives) {
        for r in refs {
            out.push(format!("{r} EXISTS"));
            for op in &ops {
                for v in &values {
                    out.push(format!("{r} {op} {v}"));
                }
            }
        }
    }
    out
}

/// Every clause of the battery at once: each lowered filter becomes a boolean column of one
/// projection over the engine's runs table, compared row by row with the reference.
fn check_battery(engine: &Engine, reference: &Reference) -> Result<(), TestCaseError> {
    use datafusion::datasource::provider_as_source;
    use datafusion::logical_expr::{LogicalPlanBuilder, ident};
    let clauses = battery();
    let options = FetchOptions {
        trashed: Trashed::All,
        now: Some(now("2026-06-01T00:00:00Z")),
        ..FetchOptions::default()
    };
    let catalog = engine.catalog(ObjectKind::Runs).unwrap();
    let mut exprs = vec![ident("sys/id:string")];
    let mut checked = Vec::new();
    for (i, clause) in clauses.iter().enumerate() {
        let c = engine
            .check(ObjectKind::Runs, clause, &options)
            .map_err(|e| TestCaseError::fail(format!("{clause}: {e}")))?;
        exprs.push(
            nql::lower::filter_expr(&c, catalog)
                .unwrap()
                .alias(format!("c{i}")),
        );
        checked.push(c);
    }
    let session = engine.session();
    let provider = block_on(session.table_provider("runs")).unwrap();
    let plan = LogicalPlanBuilder::scan("runs", provider_as_source(provider), None)
        .unwrap()
        .project(exprs)
        .unwrap()
        .build()
        .unwrap();
    let batches = block_on(async { session.execute_logical_plan(plan).await?.collect().await }).unwrap();
    let batch = datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let ids = datafusion::arrow::compute::cast(batch.column(0), &DataType::Utf8).unwrap();
    let ids = ids.as_string::<i32>();
    for (i, c) in checked.iter().enumerate() {
        let expected = reference.matching(c.predicate.as_ref(), true);
        let column = batch.column(i + 1).as_boolean();
        prop_assert_eq!(column.null_count(), 0, "{} is never NULL", clauses[i]);
        let mut got: Vec<String> = (0..batch.num_rows())
            .filter(|&r| column.value(r))
            .map(|r| ids.value(r).to_string())
            .collect();
        got.sort();
        prop_assert_eq!(got, expected, "{}", clauses[i]);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn summaries_and_single_clauses_agree_with_the_reference(seed in any::<u64>()) {
        let project = project(seed);
        let reference = Reference::runs(&project);
        let engine = Engine::from_batches(project).unwrap();
        check_summaries(&engine, &reference)?;
        check_battery(&engine, &reference)?;
    }

    #[test]
    fn nested_queries_agree_with_the_reference(seed in any::<u64>(), queries in prop::collection::vec(query(), 8)) {
        let project = project(seed);
        let reference = Reference::runs(&project);
        let engine = Engine::from_batches(project).unwrap();
        let all = check(&engine, &reference, "", Trashed::All)?;
        for (i, q) in queries.iter().enumerate() {
            let trashed = if i % 2 == 0 { Trashed::All } else { Trashed::Exclude };
            let yes = check(&engine, &reference, q, trashed)?;
            if trashed == Trashed::All {
                // Q and NOT (Q) never overlap and together are all objects.
                let no = check(&engine, &reference, &format!("NOT ({q})"), Trashed::All)?;
                let mut union: Vec<String> = yes.iter().chain(&no).cloned().collect();
                union.sort();
                prop_assert_eq!(&union, &all, "{} and its negation do not split the objects", q);
            }
        }
    }
}

/// Null elements of a string set equal no value (not even `""`), and a set of only nulls
/// still exists: in the reference, and in the engine's plain kernels (first run) and
/// dictionary lookups (second run).
#[test]
fn null_set_elements_equal_no_value() {
    let sets: [Option<Vec<Option<&str>>>; 6] = [
        Some(vec![Some("a"), None, Some("b")]),
        Some(vec![None]),
        Some(vec![]),
        None,
        Some(vec![Some("")]),
        Some(vec![None, None, Some("a")]),
    ];
    let mut tags = ListBuilder::new(StringBuilder::new());
    for set in &sets {
        match set {
            Some(items) => {
                items.iter().for_each(|i| tags.values().append_option(*i));
                tags.append(true);
            }
            None => tags.append_null(),
        }
    }
    let tags = tags.finish();
    let ids: Vec<String> = (0..sets.len()).map(|i| format!("R-{i}")).collect();
    let schema = Schema::new(vec![
        Field::new("sys/id", DataType::Utf8, false),
        Field::new("tags", tags.data_type().clone(), true),
    ]);
    let runs = RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(StringArray::from(ids)), Arc::new(tags)],
    )
    .unwrap();
    let project = ProjectBatches {
        runs: vec![runs],
        ..ProjectBatches::default()
    };
    let reference = Reference::runs(&project);
    let engine = Engine::from_batches(project).unwrap();
    let cases: [(&str, &[usize]); 9] = [
        ("tags EXISTS", &[0, 1, 2, 4, 5]),
        ("tags NOT EXISTS", &[3]),
        ("tags CONTAINS a", &[0, 5]),
        ("tags CONTAINS b", &[0]),
        ("tags CONTAINS \"\"", &[4]),
        ("tags NOT CONTAINS \"\"", &[0, 1, 2, 3, 5]),
        ("tags NOT CONTAINS a", &[1, 2, 3, 4]),
        ("tags CONTAINS z", &[]),
        (
            "NOT (tags CONTAINS a OR tags CONTAINS b) AND tags EXISTS",
            &[1, 2, 4],
        ),
    ];
    let options = crate::common::options(Trashed::All);
    for (i, (query, expected)) in cases.into_iter().enumerate() {
        let expected: Vec<String> = expected.iter().map(|r| format!("R-{r}")).collect();
        let checked = engine.check(ObjectKind::Runs, query, &options).unwrap();
        assert_eq!(
            reference.matching(checked.predicate.as_ref(), true),
            expected,
            "reference: {query}"
        );
        let before = engine.memory_size();
        for run in ["first (plain kernels)", "second (dictionary)"] {
            let got = crate::common::run_ids(&engine, query, &options).unwrap();
            assert_eq!(got, expected, "engine, {run} run: {query}");
        }
        // The first query's second run built the dictionary of `tags`.
        assert_eq!(engine.memory_size() > before, i == 0, "{query}");
    }
}

// ---------------------------------------------------------------------------------------
// Realistic size: 100,000 runs, every query twice (plain kernels, then dictionaries), in
// memory and read lazily from Parquet through the index.
// ---------------------------------------------------------------------------------------

/// Runs in the large project.
const LARGE_RUNS: usize = 100_000;

/// The string columns of the large project that hold too many distinct values for a
/// dictionary (more than one per four entries): every other string column gets one.
const HIGH_CARDINALITY: [&str; 2] = ["name", "labels"];

/// Owners: a few dozen, a third longer than the 12 bytes a string view keeps inline.
fn owner(k: usize) -> String {
    if k.is_multiple_of(3) {
        format!("owner-with-a-long-name-{k:02}@example.com")
    } else {
        format!("u{k:02}")
    }
}

/// A name unique to run `i`: short ones inline in a string view, long ones not.
fn run_name(i: usize) -> String {
    match i % 4 {
        0 => format!("r{i}"),
        1 => format!("run-{i:06}"),
        2 => format!("exp-{i:06}-a-long-descriptive-name"),
        _ => format!("Exp {i}"),
    }
}

/// A random project of `n` runs with the columns of [`project`] (so that [`query`] applies)
/// and more: `row` (the run's position in the batch), `sys/creation_time` (so that the
/// stored order is not the batch's), a low-cardinality `owner`, a `name` unique per run, a
/// `mid` of about 20,000 values (a dictionary of many entries), and `labels`, a string set of
/// tags unique per run. Every attribute is missing somewhere; sets are missing, empty, with
/// repeated tags and with null elements; a third of the runs have a few points of `fs`
/// (NaN, infinities, equal steps), a fifth a few entries of `ss`.
fn large_project(seed: u64, n: usize) -> ProjectBatches {
    let mut r = Rng(seed | 1);
    let strings = ["", "a", "ab", "b", "A", "a b", "ba", "é"];
    let floats = [
        -1.5,
        0.0,
        -0.0,
        0.5,
        2.0,
        2.5,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let ids: Vec<String> = (0..n).map(|i| format!("R-{i}")).collect();
    let mut n_int = Vec::with_capacity(n);
    let mut n_float = Vec::with_capacity(n);
    for _ in 0..n {
        match r.below(3) {
            0 => (n_int.push(Some(r.pick(&[-3i64, 0, 2, 3]))), n_float.push(None)),
            1 => (n_int.push(None), n_float.push(Some(r.pick(&floats)))),
            _ => (n_int.push(None), n_float.push(None)),
        };
    }
    let tag_pool = [
        Some("a"),
        Some("b"),
        Some("c d"),
        Some(""),
        Some("a-tag-longer-than-twelve"),
        None,
    ];
    let mut tags = ListBuilder::new(StringBuilder::new());
    let mut labels = ListBuilder::new(StringBuilder::new());
    for i in 0..n {
        match r.below(8) {
            0 => tags.append_null(),
            1 => tags.append(true),
            2 => {
                tags.values().append_null();
                tags.append(true);
            }
            _ => {
                for _ in 0..1 + r.below(4) {
                    tags.values().append_option(r.pick(&tag_pool));
                }
                tags.append(true);
            }
        }
        match r.below(6) {
            0 => labels.append_null(),
            1 => labels.append(true),
            _ => {
                for _ in 0..1 + r.below(3) {
                    match r.below(5) {
                        0 => labels.values().append_null(),
                        1 => labels.values().append_value("shared"),
                        2 => labels.values().append_value(format!("L{}", i + 7)),
                        _ => labels.values().append_value(format!("L{i}")),
                    }
                }
                labels.append(true);
            }
        }
    }
    let owners: Vec<String> = (0..40).map(owner).collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("sys/id", Arc::new(StringArray::from(ids.clone()))),
        ("row", Arc::new(Int64Array::from_iter_values(0..n as i64))),
        (
            "sys/trashed",
            Arc::new(BooleanArray::from(
                (0..n).map(|_| r.maybe(&[false, false, true])).collect::<Vec<_>>(),
            )),
        ),
        (
            "sys/creation_time",
            Arc::new(TimestampMillisecondArray::from(
                (0..n)
                    .map(|_| (r.below(10) != 0).then(|| BASE_MS + 1000 * r.below(5000) as i64))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "i",
            Arc::new(Int32Array::from(
                (0..n).map(|_| r.maybe(&[-3, -1, 0, 1, 2, 3])).collect::<Vec<_>>(),
            )),
        ),
        (
            "f",
            Arc::new(Float64Array::from(
                (0..n)
                    .map(|_| match r.below(3) {
                        0 => r.maybe(&floats),
                        _ => (r.below(10) != 0).then(|| r.below(1000) as f64 / 100.0 - 5.0),
                    })
                    .collect::<Vec<_>>(),
            )),
        ),
        ("n", Arc::new(Int64Array::from(n_int))),
        ("n:float", Arc::new(Float64Array::from(n_float))),
        (
            "s",
            Arc::new(StringArray::from(
                (0..n).map(|_| r.maybe(&strings)).collect::<Vec<_>>(),
            )),
        ),
        (
            "owner",
            Arc::new(StringArray::from(
                (0..n)
                    .map(|_| (r.below(10) != 0).then(|| owners[r.below(owners.len())].clone()))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "name",
            Arc::new(StringArray::from(
                (0..n)
                    .map(|i| (r.below(20) != 0).then(|| run_name(i)))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "mid",
            Arc::new(StringArray::from(
                (0..n)
                    .map(|_| (r.below(10) != 0).then(|| format!("g{:05}", r.below(20_000))))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "b",
            Arc::new(BooleanArray::from(
                (0..n).map(|_| r.maybe(&[true, false])).collect::<Vec<_>>(),
            )),
        ),
        (
            "t",
            Arc::new(TimestampMillisecondArray::from(
                (0..n)
                    .map(|_| match r.below(2) {
                        0 => r.maybe(&[-3i64, -1, 0, 1, 2, 3]).map(|k| BASE_MS + 500 * k),
                        _ => (r.below(10) != 0).then(|| BASE_MS - 5000 + r.below(10_000) as i64),
                    })
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "d",
            Arc::new(Date32Array::from(
                (0..n)
                    .map(|_| (r.below(4) != 0).then(|| 19_700 + r.below(50) as i32))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "st:experimentState",
            Arc::new(StringArray::from(
                (0..n)
                    .map(|_| r.maybe(&["active", "inactive", "running", "idle", "ACTIVE", "Idle"]))
                    .collect::<Vec<_>>(),
            )),
        ),
        ("tags", Arc::new(tags.finish())),
        ("labels", Arc::new(labels.finish())),
        (
            "art:artifact",
            Arc::new(StringArray::from(
                (0..n).map(|_| r.maybe(&["h1", "h2"])).collect::<Vec<_>>(),
            )),
        ),
    ];
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns
        .into_iter()
        .map(|(name, a)| (Field::new(name, a.data_type().clone(), true), a))
        .unzip();
    let runs = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();

    let (mut fid, mut fstep, mut fts, mut fval) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut sid, mut sstep, mut sts, mut sval) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for id in &ids {
        if r.below(3) == 0 {
            for _ in 0..1 + r.below(4) {
                fid.push(id.clone());
                fstep.push(r.pick(&[0.0, 1.0, 2.0]));
                fts.push(r.maybe(&[1_000_000i64, 2_000_000]));
                fval.push(match r.below(10) {
                    0 => None,
                    1..4 => Some(r.below(1000) as f64 / 100.0 - 5.0),
                    _ => Some(r.pick(&SERIES_VALUES)),
                });
            }
        }
        if r.below(5) == 0 {
            for _ in 0..1 + r.below(3) {
                sid.push(id.clone());
                sstep.push(r.pick(&[0.0, 1.0]));
                sts.push(r.maybe(&[1_000_000i64, 2_000_000]));
                sval.push(r.pick(&["done", "ERROR x", "a", "b", "a log line longer than twelve"]));
            }
        }
    }
    in_files(
        runs,
        series_batch(fid, fstep, fts, Arc::new(Float64Array::from(fval))),
        series_batch(sid, sstep, sts, Arc::new(StringArray::from(sval))),
    )
}

/// The large project's battery: every clause kind on low- and high-cardinality columns,
/// CONTAINS, MATCHES, = and != on strings, CONTAINS and NOT CONTAINS of tags a set holds and
/// does not hold, every aggregate, and NOT, AND and OR nested over one column (a dictionary
/// evaluates the whole tree once per distinct value) and over several.
fn large_battery() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // (column, a value some runs hold, a substring, a pattern, a value to order against)
    let strings: [(&str, &str, &str, &str, &str); 4] = [
        ("s", "a", "a", "^a", "ab"),
        ("owner", "u01", "long", "^u0[1-4]$", "u20"),
        ("name", "run-000121", "0042", "^exp-0+1", "exp"),
        ("mid", "g00042", "g001", "7$", "g10000"),
    ];
    for (c, value, sub, pattern, bound) in strings {
        out.extend([
            format!("{c} EXISTS"),
            format!("{c} NOT EXISTS"),
            format!("{c} = {value}"),
            format!("{c} != {value}"),
            format!("{c} = \"no such value\""),
            format!("{c} CONTAINS {sub}"),
            format!("{c} NOT CONTAINS {sub}"),
            format!("{c} CONTAINS \"\""),
            format!("{c} MATCHES \"{pattern}\""),
            format!("{c} NOT MATCHES \"{pattern}\""),
            format!("{c} < {bound}"),
            format!("{c} >= {bound}"),
        ]);
    }
    // The empty value and the empty pattern (every value matches it), on a column with a
    // dictionary and on one without.
    for c in ["s", "name"] {
        out.push(format!("{c} = \"\""));
        out.push(format!("{c} MATCHES \"\""));
    }
    out.extend(
        [
            "owner:string = \"owner-with-a-long-name-03@example.com\"",
            "owner CONTAINS \"@example.com\"",
            "name:string = \"exp-000042-a-long-descriptive-name\"",
            "name CONTAINS \"-a-long-descriptive-name\"",
            "name = \"Exp 1003\"",
            "name MATCHES \"(?i)^EXP \"",
            "name > r5",
        ]
        .map(String::from),
    );
    for (c, present) in [
        ("tags", &["a", "b", "\"c d\"", "a-tag-longer-than-twelve"][..]),
        ("labels", &["L42", "L49", "shared", "L99999"][..]),
    ] {
        out.push(format!("{c} EXISTS"));
        out.push(format!("{c} NOT EXISTS"));
        for v in present.iter().chain(&["z", "\"\"", "L100007"]) {
            out.push(format!("{c} CONTAINS {v}"));
        }
        for v in [present[0], "z", "\"\""] {
            out.push(format!("{c} NOT CONTAINS {v}"));
        }
    }
    out.push("tags:stringSet CONTAINS a".into());
    let numbers = [
        "= 0",
        "= -0",
        "!= 2",
        "< 0.5",
        ">= -inf",
        "> inf",
        "= nan",
        "!= nan",
        "<= nan",
        ">= 1e20",
        "< -4.99",
        "NOT EXISTS",
    ];
    for c in ["i", "f", "n:float", "f:int"] {
        for op in numbers {
            out.push(format!("{c} {op}"));
        }
    }
    for op in ["= true", "= false", "!= true", "!= false", "EXISTS", "NOT EXISTS"] {
        out.push(format!("b {op}"));
    }
    for c in ["t", "d", "sys/creation_time"] {
        for v in [
            "= \"2024-01-01T00:00:00.5Z\"",
            "!= \"2024-01-01T00:00:00.5Z\"",
            "< \"2024-01-01T00:00:00Z\"",
            ">= \"2024-01-01T00:00:01.0005Z\"",
            "> 2024-01-20",
            "NOT EXISTS",
        ] {
            out.push(format!("{c} {v}"));
        }
    }
    for v in ["= active", "= idle", "!= running", "NOT EXISTS"] {
        out.push(format!("st {v}"));
    }
    for v in ["= h1", "!= h2", "= h3", "NOT EXISTS"] {
        out.push(format!("art {v}"));
    }
    for c in [
        "fs",
        "last(fs)",
        "max(fs)",
        "min(fs)",
        "average(fs)",
        "variance(fs)",
    ] {
        for op in ["EXISTS", "= nan", "!= nan", "> 0.5", "<= 0", "= -inf", "> 1.7"] {
            out.push(format!("{c} {op}"));
        }
    }
    out.extend(
        [
            "ss NOT EXISTS",
            "ss = done",
            "ss != \"ERROR x\"",
            "ss CONTAINS ERR",
            "ss NOT CONTAINS a",
            "ss MATCHES \"^a\"",
            "last(ss) = \"a log line longer than twelve\"",
            "row < 50000",
            "row >= 99999",
            // One column under NOT, AND and OR: by dictionary, the whole tree at once.
            "(owner = u01 OR owner CONTAINS long) AND NOT owner MATCHES 3",
            "NOT (s = a OR s = b OR s NOT EXISTS)",
            "(mid > g1 AND mid < g2) OR NOT mid CONTAINS 0",
            "(name > exp AND name < run) OR NOT name EXISTS",
            "NOT (name MATCHES \"5$\" AND name CONTAINS -0)",
            "(st = active OR st NOT EXISTS) AND NOT st = idle",
            "NOT (tags CONTAINS a OR tags CONTAINS b)",
            "tags CONTAINS a AND NOT tags CONTAINS \"\"",
            "NOT (labels CONTAINS shared AND labels NOT CONTAINS L7)",
            // Several columns, low and high cardinality, plain and compiled clauses.
            "owner = u01 AND name CONTAINS 00",
            "tags CONTAINS a AND NOT labels CONTAINS shared",
            "(s = a OR i > 0) AND NOT (f = nan OR name MATCHES \"7$\")",
            "NOT (st = active AND (b = true OR last(fs) > 0))",
            "mid MATCHES \"^g1\" OR (owner NOT EXISTS AND tags NOT EXISTS)",
            "((owner = u01 OR owner = u02) AND s CONTAINS a) OR (mid = g00001 AND NOT tags CONTAINS \"\")",
            "NOT (ss CONTAINS a OR art = h1) AND (d > 2024-01-10 OR t < \"2024-01-01T00:00:00Z\")",
            "(f > 0 AND f < 1) OR (n:int = 2 AND b = false) OR NOT (sys/creation_time EXISTS)",
            "NOT (NOT (owner CONTAINS u AND NOT labels EXISTS) OR variance(fs) > 1)",
        ]
        .map(String::from),
    );
    out
}

/// Random queries of the small projects' strategy, the same every run.
fn random_queries(count: usize) -> Vec<String> {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = query();
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// Every test of a predicate.
fn tests_of<'p>(p: &'p nql::hir::Predicate, out: &mut Vec<&'p nql::hir::Test>) {
    use nql::hir::Predicate;
    match p {
        Predicate::And(items) | Predicate::Or(items) => items.iter().for_each(|i| tests_of(i, out)),
        Predicate::Not(inner) => tests_of(inner, out),
        Predicate::Test(t) => out.push(t),
    }
}

/// One query of the large runs, analyzed, with the reference's answer.
struct LargeCase {
    query: String,
    trashed: Trashed,
    checked: nql::CheckedQuery,
    /// By row of the project's batch.
    expected: Vec<bool>,
    /// The paths the query reads.
    paths: Vec<String>,
    /// The paths of the string and string-set attributes the filter reads (those a
    /// dictionary may encode).
    strings: Vec<String>,
}

impl LargeCase {
    fn new(engine: &Engine, reference: &Reference, query: &str, trashed: Trashed) -> LargeCase {
        let options = large_options(trashed);
        let checked = engine
            .check(ObjectKind::Runs, query, &options)
            .unwrap_or_else(|e| panic!("{query:?} was refused: {}", e.render(false)));
        let expected = reference.mask(checked.predicate.as_ref(), trashed == Trashed::All);
        let mut tests = Vec::new();
        if let Some(p) = &checked.predicate {
            tests_of(p, &mut tests);
        }
        let mut paths: Vec<String> = tests.iter().map(|t| t.target.path.clone()).collect();
        paths.sort();
        paths.dedup();
        let mut strings: Vec<String> = tests
            .into_iter()
            .filter(|t| {
                t.target.known
                    && matches!(
                        t.target.ty,
                        AttrType::String
                            | AttrType::StringSet
                            | AttrType::StringSeries
                            | AttrType::ExperimentState
                            | AttrType::Artifact
                    )
            })
            .map(|t| t.target.path.clone())
            .collect();
        strings.sort();
        strings.dedup();
        LargeCase {
            query: query.to_string(),
            trashed,
            checked,
            expected,
            paths,
            strings,
        }
    }

    /// Whether the filter reads a column that gets a dictionary.
    fn reads_low_cardinality(&self) -> bool {
        self.strings
            .iter()
            .any(|s| !HIGH_CARDINALITY.contains(&s.as_str()))
    }
}

fn large_options(trashed: Trashed) -> FetchOptions {
    FetchOptions {
        columns: Some(vec!["row".into()]),
        trashed,
        now: Some(now("2026-06-01T00:00:00Z")),
        ..FetchOptions::default()
    }
}

/// The `row` of every run a query returns, in result order.
fn large_rows(engine: &Engine, case: &LargeCase) -> Result<Vec<i64>, String> {
    let result = block_on(engine.fetch_runs_table(&case.query, &large_options(case.trashed)))
        .map_err(|e| format!("{:?} failed: {e}", case.query))?;
    let mut rows = Vec::with_capacity(result.num_rows());
    for b in &result.batches {
        rows.extend_from_slice(
            b.column(1)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .values(),
        );
    }
    Ok(rows)
}

/// What is wrong with `rows` as an answer to `case`, if anything.
fn large_mismatch(reference: &Reference, case: &LargeCase, rows: &[i64]) -> Option<String> {
    let mut got = vec![false; case.expected.len()];
    for &r in rows {
        got[r as usize] = true;
    }
    if got == case.expected && rows.len() == got.iter().filter(|&&g| g).count() {
        return None;
    }
    let differing: Vec<usize> = (0..got.len()).filter(|&i| got[i] != case.expected[i]).collect();
    let examples: Vec<String> = differing
        .iter()
        .take(4)
        .map(|&i| {
            format!(
                "engine {} reference {} for {}",
                got[i],
                case.expected[i],
                reference.describe(&format!("R-{i}"), case.checked.predicate.as_ref())
            )
        })
        .collect();
    Some(format!(
        "{:?} (trashed {:?}, checked as {:?}): {} rows returned, {} runs differ; {}",
        case.query,
        case.trashed,
        case.checked.predicate.as_ref().map(|p| p.to_string()),
        rows.len(),
        differing.len(),
        examples.join("; ")
    ))
}

/// The large project, its reference, and the battery then [`LARGE_RANDOM`] random queries
/// with the reference's answers (a third of them without trashed runs), built once per test
/// binary.
struct Large {
    project: ProjectBatches,
    reference: Reference,
    cases: Vec<LargeCase>,
    battery: usize,
}

/// Random queries run on the large project.
const LARGE_RANDOM: usize = 24;

fn large() -> &'static Large {
    static LARGE: std::sync::OnceLock<Large> = std::sync::OnceLock::new();
    LARGE.get_or_init(|| {
        let project = large_project(0x5eed_0001, LARGE_RUNS);
        let reference = Reference::runs(&project);
        let engine = Engine::from_batches(project.clone()).unwrap();
        let battery = large_battery();
        let queries: Vec<(String, Trashed)> = battery
            .iter()
            .cloned()
            .chain(random_queries(LARGE_RANDOM))
            .enumerate()
            .map(|(i, q)| {
                (
                    q,
                    if i % 3 == 2 {
                        Trashed::Exclude
                    } else {
                        Trashed::All
                    },
                )
            })
            .collect();
        // The reference's answers on two threads (the other test waits for them).
        let half = queries.len() / 2;
        let case = |(q, trashed): &(String, Trashed)| LargeCase::new(&engine, &reference, q, *trashed);
        let cases = std::thread::scope(|scope| {
            let first = scope.spawn(|| queries[..half].iter().map(case).collect::<Vec<_>>());
            let second: Vec<LargeCase> = queries[half..].iter().map(case).collect();
            let mut cases = first.join().unwrap();
            cases.extend(second);
            cases
        });
        Large {
            project,
            reference,
            cases,
            battery: battery.len(),
        }
    })
}

/// The queries of `cases` in rounds: no two queries of a round read one string column that
/// gets a dictionary (the others are read by the plain kernels every time).
fn rounds<'c>(cases: &[&'c LargeCase]) -> Vec<Vec<&'c LargeCase>> {
    let mut rounds: Vec<(Vec<&str>, Vec<&LargeCase>)> = Vec::new();
    for &case in cases {
        let encoded = || {
            case.strings
                .iter()
                .map(|s| s.as_str())
                .filter(|s| !HIGH_CARDINALITY.contains(s))
        };
        let free = rounds
            .iter()
            .position(|(used, _)| encoded().all(|s| !used.contains(&s)));
        let round = match free {
            Some(r) => &mut rounds[r],
            None => {
                rounds.push((Vec::new(), Vec::new()));
                rounds.last_mut().unwrap()
            }
        };
        round.0.extend(encoded());
        round.1.push(case);
    }
    rounds.into_iter().map(|(_, cases)| cases).collect()
}

/// Runs every query of `cases` twice on one engine, in [`rounds`]: `make` gives each round a
/// new engine (for the round's queries), so that each query's first run is the first filter
/// over its string columns (plain kernels) and its second run builds and uses their
/// dictionaries. Both runs must give the reference's answer, in the same order. In memory,
/// the second run must grow the engine's memory (by the dictionaries) exactly when a column
/// it reads has few enough distinct values for one, and the first must not grow it; an
/// engine that reads lazily (and reorders what it read after a few scans) is held to the
/// answers only. Returns the failures.
fn run_twice(
    make: &dyn Fn(&[&LargeCase]) -> Engine,
    lazy: bool,
    reference: &Reference,
    cases: &[&LargeCase],
) -> Vec<String> {
    let mut failures = Vec::new();
    for round in rounds(cases) {
        let engine = make(&round);
        for case in round {
            let before = engine.memory_size();
            let first = large_rows(&engine, case);
            let between = engine.memory_size();
            let second = large_rows(&engine, case);
            let after = engine.memory_size();
            let (first, second) = match (first, second) {
                (Ok(a), Ok(b)) => (a, b),
                (a, b) => {
                    failures.extend(a.err().into_iter().chain(b.err()));
                    continue;
                }
            };
            if let Some(m) = large_mismatch(reference, case, &first) {
                failures.push(format!("first run (plain kernels): {m}"));
            }
            if let Some(m) = large_mismatch(reference, case, &second) {
                failures.push(format!("second run (dictionaries where built): {m}"));
            }
            if first != second {
                failures.push(format!("{:?}: the two runs return different rows", case.query));
            }
            // A table read lazily also puts its columns into the default order after a few
            // scans, which changes what it holds: memory tells of dictionaries only in memory.
            if lazy {
                continue;
            }
            if between != before {
                failures.push(format!(
                    "{:?}: memory {before} -> {between} in the first run",
                    case.query
                ));
            }
            if (after > between) != case.reads_low_cardinality() {
                failures.push(format!(
                    "{:?} (string columns {:?}): memory {between} -> {after} in the second run, so a \
                     dictionary was{} built",
                    case.query,
                    case.strings,
                    if after > between { "" } else { " not" }
                ));
            }
        }
    }
    failures
}

/// `project` with only the run columns of the paths `cases` read (and `sys/id`, `row`,
/// `sys/trashed`), and only the series they read: an engine over it loads faster and
/// answers those queries as the whole project's does.
fn pruned(project: &ProjectBatches, cases: &[&LargeCase]) -> ProjectBatches {
    let read = |path: &str| {
        ["sys/id", "row", "sys/trashed"].contains(&path)
            || cases.iter().any(|c| c.paths.iter().any(|p| p == path))
    };
    let prune = |batch: &RecordBatch| {
        let schema = batch.schema();
        let keep: Vec<usize> = (0..schema.fields().len())
            .filter(|&i| read(datasets::layout::split_column_name(schema.field(i).name()).0))
            .collect();
        batch.project(&keep).unwrap()
    };
    ProjectBatches {
        runs: project.runs.iter().map(prune).collect(),
        float_series: if read("fs") {
            project.float_series.clone()
        } else {
            Vec::new()
        },
        string_series: if read("ss") {
            project.string_series.clone()
        } else {
            Vec::new()
        },
        ..ProjectBatches::default()
    }
}

fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn large_project_in_memory_agrees_with_the_reference_twice() {
    let large = large();
    let engine = Engine::from_batches(large.project.clone()).unwrap();
    check_summaries(&engine, &large.reference).unwrap();
    drop(engine);
    let make = |cases: &[&LargeCase]| Engine::from_batches(pruned(&large.project, cases)).unwrap();
    let cases: Vec<&LargeCase> = large.cases.iter().collect();
    assert_no_failures(&run_twice(&make, false, &large.reference, &cases));
}

#[test]
fn large_project_from_parquet_agrees_with_the_reference_twice() {
    let large = large();
    let dir = crate::common::scratch_dir("differential-large");
    // The series as `NAME.parquet`, the runs as three files of `runs/` (with different
    // columns).
    ProjectBatches {
        runs: Vec::new(),
        ..large.project.clone()
    }
    .write_dir(dir.join("data"))
    .unwrap();
    std::fs::create_dir(dir.join("data/runs")).unwrap();
    for (i, batch) in large.project.runs.iter().enumerate() {
        let path = dir.join(format!("data/runs/part-{i}.parquet"));
        let options = datasets::WriteOptions::default();
        let mut writer =
            datasets::write::TableWriter::create(&path, "runs", batch.schema(), &options).unwrap();
        writer.write(batch).unwrap();
        writer.finish().unwrap();
    }
    let options = engine::LoadOptions {
        index: engine::IndexLocation::Dir(dir.join("index")),
        ..engine::LoadOptions::default()
    };
    // Straight from the files first (no index yet: each query reads what it names).
    let deferred = engine::LoadOptions {
        refresh: engine::Refresh::Deferred,
        ..options.clone()
    };
    let from_files = || Engine::open_with(dir.join("data"), &deferred).unwrap();
    check_summaries(&from_files(), &large.reference).unwrap();
    let some: Vec<&LargeCase> = large.cases[..large.battery + 10].iter().collect();
    assert_no_failures(&run_twice(&|_| from_files(), true, &large.reference, &some));
    assert!(!dir.join("index").exists(), "nothing written from the files");
    let open = || Engine::open_with(dir.join("data"), &options).unwrap();
    check_summaries(&open(), &large.reference).unwrap();
    // The battery and a few random queries; each round opens the project again (reading
    // the index's manifest and the files' footers), so every column is read anew.
    let cases: Vec<&LargeCase> = large.cases[..large.battery + 10].iter().collect();
    assert_no_failures(&run_twice(&|_| open(), true, &large.reference, &cases));
}
