//! The NQL front end on a typical query: parse, analyze against a catalog of about 30
//! attributes, and lower to a DataFusion `LogicalPlan` (`nql::lower::plan`).
//! Target: the whole front end in at most 100 µs.
//!
//! `cargo bench -p nql-benches --bench nql_frontend`

use std::hint::black_box;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::logical_expr::TableSource;
use datafusion::logical_expr::logical_plan::builder::LogicalTableSource;
use nql::{Aggregate, AttrType, ColumnInfo, TableCatalog};

/// Five clauses of five types, the way neptune-fetcher writes them.
const QUERY: &str = "(`sys/tags`:stringSet CONTAINS \"exploration\") \
    AND (`sys/owner`:string = \"jackie\") \
    AND (`sys/creation_time`:datetime > \"2024-01-01T00:00:00Z\") \
    AND (last(`metrics/acc`):float >= 0.85) \
    AND (`params/lr`:float < 0.01)";

/// A runs table of 32 attributes (and the aggregate columns of its float series).
fn table() -> (TableCatalog, SchemaRef) {
    use AttrType::*;
    let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut attributes: Vec<(std::string::String, AttrType, DataType)> = vec![
        ("sys/id".into(), String, DataType::Utf8View),
        ("sys/name".into(), String, DataType::Utf8View),
        ("sys/owner".into(), String, DataType::Utf8View),
        ("sys/description".into(), String, DataType::Utf8View),
        ("sys/tags".into(), StringSet, list.clone()),
        ("sys/group_tags".into(), StringSet, list),
        ("sys/creation_time".into(), Datetime, utc.clone()),
        ("sys/modification_time".into(), Datetime, utc.clone()),
        ("sys/ping_time".into(), Datetime, utc),
        ("sys/failed".into(), Bool, DataType::Boolean),
        ("sys/trashed".into(), Bool, DataType::Boolean),
        ("sys/size".into(), Int, DataType::Int64),
        ("sys/state".into(), ExperimentState, DataType::Utf8View),
        ("dataset_version".into(), Artifact, DataType::Utf8View),
        ("model/weights".into(), FileRef, DataType::Utf8View),
        ("logs/stdout".into(), StringSeries, DataType::Utf8View),
    ];
    for p in ["lr", "momentum", "dropout", "weight_decay"] {
        attributes.push((format!("params/{p}"), Float, DataType::Float64));
    }
    for p in ["batch_size", "epochs", "seed"] {
        attributes.push((format!("params/{p}"), Int, DataType::Int64));
    }
    attributes.push(("params/optimizer".into(), String, DataType::Utf8View));
    for m in ["acc", "loss", "f1", "precision", "recall"] {
        attributes.push((format!("metrics/{m}"), FloatSeries, DataType::Float64));
    }
    for m in ["val/acc", "val/loss", "test/acc"] {
        attributes.push((m.into(), Float, DataType::Float64));
    }
    let mut catalog = TableCatalog::new();
    let mut fields = Vec::new();
    for (path, ty, data_type) in &attributes {
        let column = match ty {
            Float | Int | String | StringSet | Bool | Datetime => path.clone(),
            _ => format!("{path}:{ty}"),
        };
        fields.push(Field::new(&column, data_type.clone(), true));
        let info = ColumnInfo {
            name: column.clone(),
            data_type: data_type.clone(),
        };
        catalog.add_attribute(path, *ty, 300, info);
        if *ty == FloatSeries {
            for agg in Aggregate::ALL.into_iter().filter(|a| *a != Aggregate::Last) {
                let name = format!("{column}#{agg}");
                fields.push(Field::new(&name, DataType::Float64, true));
                catalog.add_aggregate(
                    path,
                    agg,
                    ColumnInfo {
                        name,
                        data_type: DataType::Float64,
                    },
                );
            }
        }
    }
    assert_eq!(attributes.len(), 32);
    (catalog, Arc::new(Schema::new(fields)))
}

fn frontend(c: &mut Criterion) {
    let (catalog, schema) = table();
    let source: Arc<dyn TableSource> = Arc::new(LogicalTableSource::new(schema));
    let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    let parsed = nql::parse(QUERY).unwrap();
    let checked = nql::analyze(&parsed, &catalog, now).unwrap();
    assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);

    let mut group = c.benchmark_group("nql_frontend");
    group.bench_function("parse", |b| b.iter(|| nql::parse(black_box(QUERY)).unwrap()));
    group.bench_function("analyze", |b| {
        b.iter(|| nql::analyze(black_box(&parsed), &catalog, now).unwrap())
    });
    group.bench_function("lower", |b| {
        b.iter(|| nql::lower::plan(black_box(&checked), &catalog, "runs", source.clone()).unwrap())
    });
    group.bench_function("parse_analyze_lower", |b| {
        b.iter(|| {
            let parsed = nql::parse(black_box(QUERY)).unwrap();
            let checked = nql::analyze(&parsed, &catalog, now).unwrap();
            nql::lower::plan(&checked, &catalog, "runs", source.clone()).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, frontend);
criterion_main!(benches);
