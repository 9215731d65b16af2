//! What the fuzz targets share: a fixed catalog for the front end, a small in-memory project
//! for the engine, and the two checks (`frontend`, `evaluate`) the targets run on each input.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, TimeZone, Utc};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, ListBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::logical_expr::logical_plan::builder::LogicalTableSource;
use datasets::ProjectBatches;
use engine::{Engine, FetchOptions, Trashed};
use nql::{Aggregate, AttrType, ColumnInfo, Diagnostics, TableCatalog};

/// The instant relative datetimes are read against.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
}

fn list_of_strings() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// A catalog of every attribute type, with the Arrow schema of its table.
pub struct FrontendCatalog {
    pub catalog: TableCatalog,
    pub schema: SchemaRef,
}

/// The fixed catalog of the `frontend` target: 24 attributes of every type, two paths with two
/// types, odd names, and the aggregate columns of the float series.
pub fn frontend_catalog() -> &'static FrontendCatalog {
    static CATALOG: OnceLock<FrontendCatalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        use AttrType::*;
        let utc = |unit| DataType::Timestamp(unit, Some("UTC".into()));
        let attributes: Vec<(&str, AttrType, &str, DataType)> = vec![
            ("sys/id", String, "sys/id", DataType::Utf8),
            ("sys/name", String, "sys/name", DataType::Utf8View),
            ("sys/owner", String, "sys/owner", DataType::LargeUtf8),
            ("sys/tags", StringSet, "sys/tags", list_of_strings()),
            (
                "sys/creation_time",
                Datetime,
                "sys/creation_time",
                utc(TimeUnit::Microsecond),
            ),
            (
                "sys/modification_time",
                Datetime,
                "sys/modification_time",
                DataType::Timestamp(TimeUnit::Millisecond, None),
            ),
            ("info/date", Datetime, "info/date", DataType::Date32),
            ("sys/failed", Bool, "sys/failed", DataType::Boolean),
            ("sys/trashed", Bool, "sys/trashed", DataType::Boolean),
            ("sys/size", Int, "sys/size", DataType::Int64),
            (
                "sys/state",
                ExperimentState,
                "sys/state:experimentState",
                DataType::Utf8,
            ),
            ("params/lr", Float, "params/lr", DataType::Float64),
            ("params/lr", String, "params/lr:string", DataType::Utf8),
            ("params/epochs", Int, "params/epochs", DataType::Int64),
            ("params/optimizer", String, "params/optimizer", DataType::Utf8),
            ("f1", Float, "f1", DataType::Float64),
            ("accuracy", Float, "accuracy", DataType::Float64),
            ("labels", StringSet, "labels", list_of_strings()),
            ("dataset", Artifact, "dataset:artifact", DataType::Utf8),
            ("model/weights", FileRef, "model/weights:fileRef", DataType::Utf8),
            ("with space/loss", Float, "with space/loss", DataType::Float64),
            ("it's odd", Int, "it's odd", DataType::Int64),
            ("metrics/acc", FloatSeries, "metrics/acc#last", DataType::Float64),
            ("accuracy", FloatSeries, "accuracy#last", DataType::Float64),
            (
                "logs/stdout",
                StringSeries,
                "logs/stdout#last",
                DataType::Utf8View,
            ),
            (
                "model/checkpoints",
                FileRefSeries,
                "model/checkpoints:fileRefSeries",
                DataType::Utf8,
            ),
            (
                "metrics/hist",
                HistogramSeries,
                "metrics/hist:histogramSeries",
                DataType::Utf8,
            ),
        ];
        let mut catalog = TableCatalog::new();
        let mut fields = Vec::new();
        for (path, ty, column, data_type) in attributes {
            fields.push(Field::new(column, data_type.clone(), true));
            let info = ColumnInfo {
                name: column.into(),
                data_type,
            };
            catalog.add_attribute(path, ty, 10, info);
        }
        for path in ["metrics/acc", "accuracy"] {
            for agg in [
                Aggregate::Average,
                Aggregate::Max,
                Aggregate::Min,
                Aggregate::Variance,
            ] {
                let column = format!("{path}#{agg}");
                fields.push(Field::new(&column, DataType::Float64, true));
                let info = ColumnInfo {
                    name: column,
                    data_type: DataType::Float64,
                };
                catalog.add_aggregate(path, agg, info);
            }
        }
        FrontendCatalog {
            catalog,
            schema: Arc::new(Schema::new(fields)),
        }
    })
}

/// Parses, analyzes and lowers `query`, printing and rendering whatever comes out. Panics only
/// on a bug: a query that analysis accepts must lower.
pub fn frontend(query: &str) {
    let fixed = frontend_catalog();
    let parsed = match nql::parse(query) {
        Ok(q) => q,
        Err(e) => return render(&e, query),
    };
    let _ = parsed.to_string();
    let checked = match nql::analyze(&parsed, &fixed.catalog, now()) {
        Ok(c) => c,
        Err(e) => return render(&e, query),
    };
    render(&Diagnostics(checked.warnings.clone()), query);
    if let Some(p) = &checked.predicate {
        let _ = p.to_string();
    }
    let source = Arc::new(LogicalTableSource::new(fixed.schema.clone()));
    match nql::lower::plan(&checked, &fixed.catalog, "runs", source) {
        Ok(plan) => drop(plan.display_indent().to_string()),
        Err(e) => panic!("a checked query does not lower: {e}"),
    }
}

/// Renders the first few diagnostics (rendering every one of thousands is slow, not wrong).
fn render(d: &Diagnostics, query: &str) {
    let some = Diagnostics(d.0.iter().take(8).cloned().collect());
    let _ = some.render(query, false);
}

const BASE_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns
        .into_iter()
        .map(|(name, a)| (Field::new(name, a.data_type().clone(), true), a))
        .unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

fn tags(rows: &[Option<&[&str]>]) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for row in rows {
        match row {
            None => b.append_null(),
            Some(items) => {
                for item in *items {
                    b.values().append_value(item);
                }
                b.append(true);
            }
        }
    }
    Arc::new(b.finish())
}

/// A series table: (run, path, step, value, timestamp) rows.
fn series(rows: Vec<(&str, &str, f64, ArrayRef)>) -> RecordBatch {
    let n = rows.len();
    let values: Vec<ArrayRef> = rows.iter().map(|r| r.3.clone()).collect();
    let values =
        datafusion::arrow::compute::concat(&values.iter().map(|a| a.as_ref()).collect::<Vec<_>>()).unwrap();
    let schema = Schema::new(vec![
        Field::new("sys/id", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("step", DataType::Float64, false),
        Field::new("value", values.data_type().clone(), true),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]);
    let ts: Vec<Option<i64>> = (0..n as i64)
        .map(|i| (i % 5 != 0).then_some(BASE_MS * 1000 + i))
        .collect();
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
            values,
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
        ],
    )
    .unwrap()
}

/// Twelve runs with every type, missing values, NaN and infinities, ties, a path with two
/// types, and float and string series (some runs without any points).
pub fn small_project() -> ProjectBatches {
    const NAN: f64 = f64::NAN;
    const INF: f64 = f64::INFINITY;
    let ids = (1..=12).map(|i| format!("R-{i}")).collect::<Vec<_>>();
    let runs = batch(vec![
        ("sys/id", Arc::new(StringArray::from(ids.clone()))),
        (
            "sys/name",
            Arc::new(StringArray::from(vec![
                Some("alpha"),
                Some("beta"),
                Some("alpha"),
                None,
                Some(""),
                Some("Alpha"),
                Some("a b"),
                Some("é"),
                Some("x\ny"),
                Some("beta"),
                None,
                Some("z%_"),
            ])),
        ),
        (
            "sys/owner",
            Arc::new(StringArray::from(
                vec![Some("ann"); 6]
                    .into_iter()
                    .chain(vec![
                        Some("bob"),
                        None,
                        Some("bob"),
                        Some("ann"),
                        Some("cy"),
                        Some("cy"),
                    ])
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "sys/tags",
            tags(&[
                Some(&["a", "b"]),
                Some(&[]),
                None,
                Some(&["a"]),
                Some(&["c d", ""]),
                Some(&["b"]),
                None,
                Some(&["a", "a"]),
                Some(&["B"]),
                Some(&["x"]),
                Some(&[]),
                Some(&["a", "b", "c d"]),
            ]),
        ),
        (
            "sys/creation_time",
            Arc::new(
                TimestampMicrosecondArray::from(
                    (0..12i64)
                        .map(|i| (i != 3).then_some((BASE_MS + (i % 7) * 86_400_000) * 1000))
                        .collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
        ),
        (
            "sys/modification_time",
            Arc::new(TimestampMillisecondArray::from(
                (0..12i64)
                    .map(|i| (i % 4 != 1).then_some(BASE_MS + i * 3_600_000))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "info/date",
            Arc::new(Date32Array::from(
                (0..12)
                    .map(|i| (i % 3 != 0).then_some(20_454 + i % 4))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "sys/failed",
            Arc::new(BooleanArray::from(
                (0..12)
                    .map(|i| (i != 5).then_some(i % 3 == 0))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "sys/trashed",
            Arc::new(BooleanArray::from(
                (0..12)
                    .map(|i| (i != 7).then_some(i == 2 || i == 9))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "sys/size",
            Arc::new(Int64Array::from(vec![
                Some(0),
                Some(1024),
                Some(1024),
                None,
                Some(-1),
                Some(i64::MAX),
                Some(i64::MIN),
                Some(5),
                Some(5),
                Some(1_000_000),
                None,
                Some(2),
            ])),
        ),
        (
            "sys/state:experimentState",
            Arc::new(StringArray::from(vec![
                Some("active"),
                Some("inactive"),
                Some("running"),
                Some("idle"),
                None,
                Some("active"),
                Some("inactive"),
                Some("ACTIVE"),
                Some("active"),
                None,
                Some("inactive"),
                Some("idle"),
            ])),
        ),
        (
            "params/lr",
            Arc::new(Float64Array::from(vec![
                Some(0.1),
                Some(0.01),
                Some(NAN),
                None,
                Some(-0.0),
                Some(0.0),
                Some(INF),
                Some(-INF),
                Some(0.1),
                None,
                Some(1e300),
                Some(0.5),
            ])),
        ),
        (
            "params/lr:string",
            Arc::new(StringArray::from(vec![
                None,
                None,
                None,
                Some("auto"),
                None,
                None,
                None,
                None,
                None,
                Some("0.1"),
                None,
                None,
            ])),
        ),
        (
            "params/epochs",
            Arc::new(Int64Array::from(vec![
                Some(10),
                Some(10),
                None,
                Some(3),
                Some(0),
                Some(-2),
                Some(10),
                Some(7),
                None,
                Some(1),
                Some(2),
                Some(3),
            ])),
        ),
        (
            "params/optimizer",
            Arc::new(StringArray::from(vec![
                Some("adam"),
                Some("sgd"),
                Some("Adam"),
                None,
                Some("adamw"),
                Some("sgd"),
                Some("rms.prop"),
                Some("a(d)am"),
                Some(""),
                Some("adam"),
                None,
                Some("[sgd]"),
            ])),
        ),
        (
            "f1",
            Arc::new(Float64Array::from(vec![
                Some(0.9),
                Some(0.9),
                Some(0.5),
                None,
                Some(NAN),
                Some(1.0),
                Some(0.0),
                Some(0.85),
                Some(0.85),
                None,
                Some(-1.0),
                Some(0.9),
            ])),
        ),
        (
            "flag",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                None,
                Some(false),
                Some(true),
                Some(false),
                None,
                Some(true),
                Some(true),
                Some(false),
                None,
                Some(false),
                Some(true),
            ])),
        ),
        (
            "labels",
            tags(&[
                Some(&["cat"]),
                None,
                Some(&["cat", "dog"]),
                Some(&[]),
                Some(&["Dog"]),
                None,
                Some(&["cat"]),
                Some(&["bird", "cat"]),
                None,
                Some(&[""]),
                Some(&["dog"]),
                Some(&["cat"]),
            ]),
        ),
        (
            "dataset:artifact",
            Arc::new(StringArray::from(vec![
                Some("h1"),
                Some("h2"),
                None,
                Some("h1"),
                None,
                Some("h3"),
                Some("h1"),
                None,
                Some("h2"),
                None,
                Some("h1"),
                None,
            ])),
        ),
        (
            "model/weights:fileRef",
            Arc::new(StringArray::from(vec![
                Some("s3://a"),
                None,
                None,
                Some("s3://b"),
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                Some("s3://a"),
            ])),
        ),
        (
            "with space/loss",
            Arc::new(Float64Array::from(vec![
                Some(1.5),
                None,
                Some(2.5),
                Some(1.5),
                None,
                Some(NAN),
                Some(0.0),
                None,
                Some(3.0),
                Some(1.5),
                None,
                Some(-0.5),
            ])),
        ),
    ]);
    let f = |v: f64| -> ArrayRef { Arc::new(Float64Array::from(vec![Some(v)])) };
    let fnull: ArrayRef = Arc::new(Float64Array::from(vec![None::<f64>]));
    let s = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![Some(v)])) };
    let float_series = series(vec![
        ("R-1", "metrics/acc", 0.0, f(0.5)),
        ("R-1", "metrics/acc", 1.0, f(0.9)),
        ("R-2", "metrics/acc", 0.0, f(0.9)),
        ("R-2", "metrics/acc", 1.0, f(0.9)),
        ("R-3", "metrics/acc", 0.0, f(NAN)),
        ("R-4", "metrics/acc", 0.0, f(INF)),
        ("R-4", "metrics/acc", 1.0, f(-INF)),
        ("R-5", "metrics/acc", 0.0, fnull.clone()),
        ("R-6", "metrics/acc", 2.0, f(0.1)),
        ("R-6", "metrics/acc", 1.0, f(0.2)),
        ("R-7", "metrics/acc", 0.0, f(-0.0)),
        ("R-1", "val/loss", 0.0, f(2.0)),
        ("R-3", "val/loss", 0.0, f(1.0)),
        ("R-3", "val/loss", 1.0, f(1.0)),
        ("R-8", "val/loss", 0.0, fnull),
        ("R-9", "val/loss", 5.0, f(0.25)),
    ]);
    let string_series = series(vec![
        ("R-1", "logs/stdout", 0.0, s("start")),
        ("R-1", "logs/stdout", 1.0, s("done")),
        ("R-2", "logs/stdout", 0.0, s("ERROR x")),
        ("R-4", "logs/stdout", 0.0, s("")),
        ("R-5", "logs/stdout", 0.0, s("done")),
        ("R-5", "logs/stdout", 3.0, s("a\tb")),
    ]);
    ProjectBatches {
        runs: vec![runs],
        float_series: vec![float_series],
        string_series: vec![string_series],
        ..ProjectBatches::default()
    }
}

struct Evaluator {
    engine: Engine,
    runtime: tokio::runtime::Runtime,
}

fn evaluator() -> &'static Evaluator {
    static EVALUATOR: OnceLock<Evaluator> = OnceLock::new();
    EVALUATOR.get_or_init(|| Evaluator {
        engine: Engine::from_batches(small_project()).expect("the small project loads"),
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime"),
    })
}

/// Answers `query` on the small project. Panics only on a bug: the answer must be a result or
/// an error in the query, never an execution failure.
pub fn evaluate(query: &str) {
    let e = evaluator();
    let options = FetchOptions {
        trashed: Trashed::All,
        now: Some(now()),
        ..FetchOptions::default()
    };
    match e.runtime.block_on(e.engine.fetch_runs_table(query, &options)) {
        Ok(result) => drop(result.ids()),
        Err(err) if err.is_user_error() => drop(err.render(false)),
        Err(err) => panic!("{query:?} failed to execute: {err}"),
    }
}
