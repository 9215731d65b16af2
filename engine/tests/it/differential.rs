//! Differential testing: random small projects × random queries (every type, operator,
//! NOT/AND/OR nesting, missing values, NaN, ties), the engine against the reference
//! evaluator. Also checks that Q and NOT (Q) split the objects exactly (spec 4.1).

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
use nql::Aggregate;
use proptest::prelude::*;

use crate::common::{block_on, now};
use crate::reference::Reference;

/// A tiny deterministic generator, so that a failing project is reproduced by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
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
    // Runs in three batches of unequal sizes (in memory: three chunks; in Parquet: row
    // groups), the float points in two.
    let (a, b) = (n / 3, n * 7 / 10);
    let float_series = series_batch(fid, fstep, fts, Arc::new(Float64Array::from(fval)));
    let half = float_series.num_rows() / 2;
    ProjectBatches {
        runs: vec![runs.slice(0, a), runs.slice(a, b - a), runs.slice(b, n - b)],
        float_series: vec![
            float_series.slice(0, half),
            float_series.slice(half, float_series.num_rows() - half),
        ],
        string_series: vec![series_batch(sid, sstep, sts, Arc::new(StringArray::from(sval)))],
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
