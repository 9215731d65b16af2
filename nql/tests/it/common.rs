//! The fixed test catalog and small helpers shared by every test module.

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, TimeZone, Utc};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use nql::{Aggregate, AttrType, CheckedQuery, ColumnInfo, Diagnostics, TableCatalog};

/// The instant relative datetimes are read against (the conformance cases' "now").
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
}

/// A runs table shaped like the conformance project: every NQL type, paths with two types
/// (`params/lr` float + string, `accuracy` float + floatSeries, `labels` string + stringSet),
/// a path with both an int and a float column (`params/epochs`), odd names, and several
/// string, timestamp and date column types.
pub struct TestTable {
    pub catalog: TableCatalog,
    pub schema: SchemaRef,
}

fn list_of_strings() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

fn utc(unit: TimeUnit) -> DataType {
    DataType::Timestamp(unit, Some("UTC".into()))
}

static TABLE: LazyLock<TestTable> = LazyLock::new(|| {
    use AttrType::*;
    let mut catalog = TableCatalog::new();
    let mut fields = Vec::new();
    let mut add = |path: &str, ty: AttrType, count: usize, column: &str, data_type: DataType| {
        fields.push(Field::new(column, data_type.clone(), true));
        catalog.add_attribute(
            path,
            ty,
            count,
            ColumnInfo {
                name: column.into(),
                data_type,
            },
        );
    };
    // Plain attributes: (path, type, objects having it, column, Arrow type).
    add("sys/id", String, 371, "sys/id", DataType::Utf8);
    add("sys/name", String, 348, "sys/name", DataType::Utf8View);
    add("sys/owner", String, 371, "sys/owner", DataType::Utf8);
    add(
        "sys/description",
        String,
        120,
        "sys/description",
        DataType::LargeUtf8,
    );
    add(
        "sys/custom_run_id",
        String,
        300,
        "sys/custom_run_id",
        DataType::Utf8,
    );
    add("sys/tags", StringSet, 300, "sys/tags", list_of_strings());
    add(
        "sys/group_tags",
        StringSet,
        100,
        "sys/group_tags",
        list_of_strings(),
    );
    add(
        "sys/creation_time",
        Datetime,
        371,
        "sys/creation_time",
        utc(TimeUnit::Microsecond),
    );
    add(
        "sys/modification_time",
        Datetime,
        371,
        "sys/modification_time",
        DataType::Timestamp(TimeUnit::Millisecond, None),
    );
    add(
        "sys/ping_time",
        Datetime,
        371,
        "sys/ping_time",
        utc(TimeUnit::Nanosecond),
    );
    add(
        "info/release_date",
        Datetime,
        20,
        "info/release_date",
        DataType::Date32,
    );
    add("sys/failed", Bool, 351, "sys/failed", DataType::Boolean);
    add("sys/trashed", Bool, 339, "sys/trashed", DataType::Boolean);
    add("flag", Bool, 300, "flag", DataType::Boolean);
    add("sys/size", Int, 371, "sys/size", DataType::Int64);
    add(
        "sys/state",
        ExperimentState,
        353,
        "sys/state:experimentState",
        DataType::Utf8,
    );
    add("params/lr", Float, 300, "params/lr", DataType::Float64);
    add("params/lr", String, 4, "params/lr:string", DataType::Utf8);
    add(
        "params/batch_size",
        Int,
        320,
        "params/batch_size",
        DataType::Int64,
    );
    add("params/epochs", Int, 250, "params/epochs:int", DataType::Int64);
    add(
        "params/epochs",
        Float,
        45,
        "params/epochs:float",
        DataType::Float64,
    );
    add(
        "params/momentum",
        Float,
        320,
        "params/momentum",
        DataType::Float64,
    );
    add(
        "params/optimizer",
        String,
        300,
        "params/optimizer",
        DataType::Utf8,
    );
    add("f1", Float, 300, "f1", DataType::Float64);
    add("accuracy", Float, 200, "accuracy", DataType::Float64);
    add("labels", String, 10, "labels:string", DataType::Utf8);
    add("labels", StringSet, 269, "labels", list_of_strings());
    add(
        "dataset_version",
        Artifact,
        200,
        "dataset_version:artifact",
        DataType::Utf8,
    );
    add(
        "model/weights",
        FileRef,
        143,
        "model/weights:fileRef",
        DataType::Utf8,
    );
    add(
        "with space/loss",
        Float,
        100,
        "with space/loss",
        DataType::Float64,
    );
    add("zażółć/χ²/模型", Int, 50, "zażółć/χ²/模型", DataType::Int64);
    add("run 🚀", Bool, 150, "run 🚀", DataType::Boolean);
    add("it's", Int, 100, "it's", DataType::Int64);
    add("line1\nline2", Int, 60, "line1\nline2", DataType::Int64);
    add(
        "with space/and:colon",
        String,
        41,
        "with space/and:colon:string",
        DataType::Utf8,
    );
    add("say \"hi\"", String, 28, "say \"hi\"", DataType::Utf8);
    // Series: the `last` column comes with the attribute, other aggregates are extra columns.
    add(
        "metrics/acc",
        FloatSeries,
        316,
        "metrics/acc#last",
        DataType::Float64,
    );
    add("accuracy", FloatSeries, 156, "accuracy#last", DataType::Float64);
    add("val/loss", FloatSeries, 178, "val/loss#last", DataType::Float64);
    add(
        "logs/stdout",
        StringSeries,
        300,
        "logs/stdout#last",
        DataType::Utf8View,
    );
    add(
        "model/checkpoints",
        FileRefSeries,
        10,
        "model/checkpoints:fileRefSeries",
        DataType::Utf8,
    );
    add(
        "metrics/hist",
        HistogramSeries,
        10,
        "metrics/hist:histogramSeries",
        DataType::Utf8,
    );
    for path in ["metrics/acc", "accuracy", "val/loss"] {
        for agg in [
            Aggregate::Average,
            Aggregate::Max,
            Aggregate::Min,
            Aggregate::Variance,
        ] {
            let column = format!("{path}#{agg}");
            fields.push(Field::new(&column, DataType::Float64, true));
            catalog.add_aggregate(
                path,
                agg,
                ColumnInfo {
                    name: column,
                    data_type: DataType::Float64,
                },
            );
        }
    }
    TestTable {
        catalog,
        schema: Arc::new(Schema::new(fields)),
    }
});

/// The fixed test table.
pub fn table() -> &'static TestTable {
    &TABLE
}

/// The fixed test catalog.
pub fn catalog() -> &'static TableCatalog {
    &TABLE.catalog
}

/// Parses and analyzes `query` against the test catalog at [`now`].
pub fn check(query: &str) -> Result<CheckedQuery, Diagnostics> {
    nql::check(query, catalog(), now())
}

/// The checked predicate of `query`, printed (`TRUE` for the empty query); panics with the
/// rendered diagnostics when the query is refused.
pub fn checked(query: &str) -> String {
    match check(query) {
        Ok(c) => c.predicate.map_or_else(|| "TRUE".into(), |p| p.to_string()),
        Err(e) => panic!("{query:?} was refused:\n{}", e.render(query, false)),
    }
}

/// The diagnostics of a refused query, as plain text; panics when the query is accepted.
pub fn refused(query: &str) -> Diagnostics {
    match check(query) {
        Ok(c) => panic!(
            "{query:?} was accepted as {:?}",
            c.predicate.map(|p| p.to_string())
        ),
        Err(e) => e,
    }
}

/// Runs `f` on a thread with the stack of a test thread (2 MiB), so that stack overflows
/// show up in the debug profile as they would in production threads.
pub fn on_test_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn a thread")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}
