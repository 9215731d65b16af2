//! `Engine::series`: the raw points of some objects' series, against the series files read
//! directly (the conformance project), the engine's own summaries (every source), Neptune's
//! truth.json and MLflow's recorded histories.

use std::collections::BTreeMap;
use std::path::PathBuf;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datasets::layout::{ObjectKind, SeriesKind};
use engine::{
    CancelToken, Engine, FetchOptions, IndexLocation, LoadOptions, QueryError, SeriesRequest, Trashed,
};
use serde_json::Value;

use crate::common::{block_on, conformance_dir, conformance_engine, conformance_memory_engine, scratch_dir};

/// A point as compared here: step, timestamp (µs), value (float bits, or the string).
type Point = (f64, Option<i64>, String);

/// Points by (sys/id, path), in the order they came.
type Points = BTreeMap<(String, String), Vec<Point>>;

fn value_text(batch: &RecordBatch, column: usize, row: usize) -> String {
    let c = batch.column(column);
    match c.data_type() {
        DataType::Float64 => format!("{:x}", c.as_primitive::<Float64Type>().value(row).to_bits()),
        _ => cast(c, &DataType::Utf8)
            .unwrap()
            .as_string::<i32>()
            .value(row)
            .to_string(),
    }
}

/// The points of a result (or of files), grouped, in the order of the rows.
fn group(batches: &[RecordBatch]) -> Points {
    let mut out = Points::new();
    for b in batches {
        let ids = cast(b.column_by_name("sys/id").unwrap(), &DataType::Utf8).unwrap();
        let paths = cast(b.column_by_name("path").unwrap(), &DataType::Utf8).unwrap();
        let steps = cast(b.column_by_name("step").unwrap(), &DataType::Float64).unwrap();
        let ts = b
            .column_by_name("timestamp")
            .map(|t| cast(t, &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))).unwrap());
        let value = b.schema().index_of("value").unwrap();
        for r in 0..b.num_rows() {
            if b.column(value).is_null(r) {
                continue;
            }
            let t = ts.as_ref().and_then(|t| {
                t.is_valid(r)
                    .then(|| t.as_primitive::<TimestampMicrosecondType>().value(r))
            });
            out.entry((
                ids.as_string::<i32>().value(r).to_string(),
                paths.as_string::<i32>().value(r).to_string(),
            ))
            .or_default()
            .push((
                steps.as_primitive::<Float64Type>().value(r),
                t,
                value_text(b, value, r),
            ));
        }
    }
    out
}

/// Points sorted as `Engine::series` sorts them (step, timestamp with missing first, value).
fn sorted(mut points: Points) -> Points {
    for p in points.values_mut() {
        p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    }
    points
}

fn read_files(files: &[PathBuf]) -> Vec<RecordBatch> {
    files
        .iter()
        .flat_map(|f| {
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .map(Result::unwrap)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn conformance_files(kind: SeriesKind) -> Vec<PathBuf> {
    let data = conformance_dir().join("data");
    let single = data.join(format!("{}.parquet", kind.table_name()));
    if single.exists() {
        return vec![single];
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join(kind.table_name()))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn ids_of(engine: &Engine, table: ObjectKind) -> Vec<String> {
    let options = FetchOptions {
        trashed: Trashed::All,
        columns: Some(Vec::new()),
        ..FetchOptions::default()
    };
    let mut ids = block_on(engine.fetch(table, "", &options, None)).unwrap().ids();
    ids.sort();
    ids
}

fn series(engine: &Engine, request: &SeriesRequest) -> Vec<RecordBatch> {
    let result = block_on(engine.series(request)).unwrap();
    for b in &result.batches {
        assert_eq!(b.schema(), result.schema, "every batch has the result schema");
    }
    assert_eq!(result.schema, engine::series_schema(request.kind));
    result.batches
}

fn request(table: ObjectKind, kind: SeriesKind) -> SeriesRequest {
    SeriesRequest::new(table, kind)
}

#[test]
fn native_points_are_the_files_points_sorted() {
    for engine in [conformance_engine(), conformance_memory_engine()] {
        for kind in [SeriesKind::Float, SeriesKind::String] {
            let files = sorted(group(&read_files(&conformance_files(kind))));
            assert!(!files.is_empty());
            let mut every = Points::new();
            for table in [ObjectKind::Runs, ObjectKind::Models, ObjectKind::ModelVersions] {
                let ids = ids_of(&engine, table);
                let got = group(&series(&engine, &request(table, kind)));
                let want: Points = files
                    .iter()
                    .filter(|((id, _), _)| ids.binary_search(id).is_ok())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(got, want, "{kind:?} of {table:?}: the files' points, in order");
                every.extend(got);
            }
            assert_eq!(every, files, "{kind:?}: every point belongs to one table");
        }
    }
}

#[test]
fn ids_paths_step_range_and_tail_select_points() {
    let engine = conformance_engine();
    let files = sorted(group(&read_files(&conformance_files(SeriesKind::Float))));
    let runs = ids_of(&engine, ObjectKind::Runs);
    // Three runs with points past step 6 of one path they share, and an id that is no run.
    let mut chosen: Vec<String> = files
        .iter()
        .filter(|((id, p), v)| p == "metrics/acc" && runs.binary_search(id).is_ok() && v.len() > 8)
        .map(|((id, _), _)| id.clone())
        .take(3)
        .collect();
    assert_eq!(chosen.len(), 3);
    chosen.push("no-such-run".into());
    let mut r = request(ObjectKind::Runs, SeriesKind::Float);
    r.ids = Some(chosen.clone());
    r.paths = Some(vec!["metrics/acc".into(), "no/such/path".into()]);
    r.step_range = (Some(2.0), Some(6.0));
    let got = group(&series(&engine, &r));
    let want: Points = files
        .iter()
        .filter(|((id, p), _)| chosen.contains(id) && p == "metrics/acc")
        .map(|(k, v)| {
            let kept: Vec<Point> = v.iter().filter(|p| p.0 >= 2.0 && p.0 <= 6.0).cloned().collect();
            (k.clone(), kept)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    assert_eq!(got.len(), 3);
    assert_eq!(got, want, "ids, paths and an inclusive step range");

    r.tail = Some(2);
    let got = group(&series(&engine, &r));
    let want: Points = want
        .into_iter()
        .map(|(k, v)| (k, v[v.len().saturating_sub(2)..].to_vec()))
        .collect();
    assert_eq!(got, want, "the last two points of each series, after the range");

    // Open ends.
    r.tail = None;
    r.step_range = (None, Some(3.0));
    assert!(group(&series(&engine, &r)).values().flatten().all(|p| p.0 <= 3.0));
    r.step_range = (Some(3.0), None);
    assert!(group(&series(&engine, &r)).values().flatten().all(|p| p.0 >= 3.0));

    // Nothing matched: no batch, the schema still said.
    r.ids = Some(vec!["no-such-run".into()]);
    assert!(series(&engine, &r).is_empty());
    r.ids = Some(Vec::new());
    assert!(series(&engine, &r).is_empty());
    // A model's id asked of the runs table has no points there.
    let models = ids_of(&engine, ObjectKind::ModelVersions);
    let with_points: Vec<String> = files
        .keys()
        .filter(|(id, _)| models.binary_search(id).is_ok())
        .map(|(id, _)| id.clone())
        .collect();
    let mut r = request(ObjectKind::Runs, SeriesKind::Float);
    r.ids = Some(with_points.clone());
    assert!(series(&engine, &r).is_empty());
    if !with_points.is_empty() {
        let mut r = request(ObjectKind::ModelVersions, SeriesKind::Float);
        r.ids = Some(with_points);
        assert!(!series(&engine, &r).is_empty());
    }
}

#[test]
fn string_points_have_float_steps_and_utc_timestamps() {
    let engine = conformance_engine();
    let batches = series(&engine, &request(ObjectKind::Runs, SeriesKind::String));
    let batch = &batches[0];
    assert_eq!(batch.column(2).data_type(), &DataType::Float64);
    assert_eq!(
        batch.column(3).data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(batch.column(4).data_type(), &DataType::Utf8);
    // The file's naive millisecond timestamps are UTC: the same instants.
    let files = read_files(&conformance_files(SeriesKind::String));
    let first = &files[0];
    let raw = first
        .column_by_name("timestamp")
        .unwrap()
        .as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>()
        .value(0);
    let id = first
        .column_by_name("sys/id")
        .unwrap()
        .as_string::<i32>()
        .value(0);
    let mut r = request(ObjectKind::Runs, SeriesKind::String);
    r.ids = Some(vec![id.to_string()]);
    let got = series(&engine, &r);
    let ts = got[0].column(3).as_primitive::<TimestampMicrosecondType>();
    assert!((0..ts.len()).any(|i| ts.value(i) == raw * 1000));
}

/// Every float series' points agree with the table's own summaries of them (`last` the
/// last row, `max` and `min` over the values), for every object of `table`.
fn agrees_with_summaries(engine: &Engine, table: ObjectKind, what: &str) -> usize {
    let points = group(&series(engine, &request(table, SeriesKind::Float)));
    let paths: Vec<String> = engine
        .attributes(table)
        .unwrap()
        .into_iter()
        .filter(|a| a.ty == nql::AttrType::FloatSeries)
        .map(|a| a.path)
        .collect();
    let mut checked = 0;
    for path in &paths {
        let options = FetchOptions {
            trashed: Trashed::All,
            columns: Some(vec![
                format!("last({path})"),
                format!("max({path})"),
                format!("min({path})"),
            ]),
            ..FetchOptions::default()
        };
        let result = block_on(engine.fetch(table, "", &options, None)).unwrap();
        let batch = concat_batches(&result.schema, &result.batches).unwrap();
        let ids = cast(batch.column(0), &DataType::Utf8).unwrap();
        for row in 0..batch.num_rows() {
            let id = ids.as_string::<i32>().value(row).to_string();
            let last = batch.column(1).as_primitive::<Float64Type>();
            let got = points.get(&(id.clone(), path.clone()));
            assert_eq!(
                got.is_some(),
                last.is_valid(row),
                "{what} {id} {path}: points iff a summary"
            );
            let Some(got) = got else { continue };
            let values: Vec<f64> = got
                .iter()
                .map(|p| f64::from_bits(u64::from_str_radix(&p.2, 16).unwrap()))
                .collect();
            assert_eq!(
                values.last().unwrap().to_bits(),
                last.value(row).to_bits(),
                "{what} {id} {path}: the last row is `last`"
            );
            if values.iter().all(|v| !v.is_nan()) {
                let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let min = values.iter().copied().fold(f64::INFINITY, f64::min);
                assert_eq!(
                    max,
                    batch.column(2).as_primitive::<Float64Type>().value(row),
                    "{what} {id} {path}: max"
                );
                assert_eq!(
                    min,
                    batch.column(3).as_primitive::<Float64Type>().value(row),
                    "{what} {id} {path}: min"
                );
            }
            checked += 1;
        }
    }
    checked
}

/// A sample export opened with its index in a scratch directory of its own for `test` (tests
/// run at once: one emptying another's index directory would break its build).
fn neptune(name: &str, test: &str) -> (Engine, Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/neptune-export")
        .join(name);
    let options = LoadOptions {
        index: IndexLocation::Dir(scratch_dir(&format!("series-{test}-{name}"))),
        ..LoadOptions::default()
    };
    let engine = Engine::open_with(dir.join("data"), &options).unwrap();
    let truth = serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap();
    (engine, truth)
}

#[test]
fn points_agree_with_summaries_on_every_source() {
    assert!(agrees_with_summaries(&conformance_engine(), ObjectKind::Runs, "conformance") > 100);
    let (v2, _) = neptune("v2-vision", "summaries");
    assert!(agrees_with_summaries(&v2, ObjectKind::Runs, "v2") > 100);
    let (v3, _) = neptune("v3-llm", "summaries");
    assert!(agrees_with_summaries(&v3, ObjectKind::Runs, "v3 runs") > 50);
    // Experiments: each head run with its ancestors' points up to the fork step.
    assert!(agrees_with_summaries(&v3, ObjectKind::Experiments, "v3 experiments") > 10);
}

#[test]
fn neptune_points_are_what_neptune_logged() {
    let mut checked = 0;
    for name in ["v2-vision", "v3-llm"] {
        let (engine, truth) = neptune(name, "truth");
        for run in truth["runs"].as_array().unwrap() {
            let id = run["sys_id"].as_str().unwrap();
            for (kind, ty) in [
                (SeriesKind::Float, "floatSeries"),
                (SeriesKind::String, "stringSeries"),
            ] {
                let mut r = request(ObjectKind::Runs, kind);
                r.ids = Some(vec![id.to_string()]);
                let points = group(&series(&engine, &r));
                for a in run["attributes"].as_array().unwrap() {
                    if a["type"] != ty || a.get("in_export").is_some() {
                        continue;
                    }
                    let path = a["path"].as_str().unwrap();
                    let got = &points[&(id.to_string(), path.to_string())];
                    assert_eq!(
                        got.len() as u64,
                        a["count"].as_u64().unwrap(),
                        "{name} {id} {path}: count"
                    );
                    assert_eq!(
                        got.last().unwrap().0,
                        a["last_step"].as_f64().unwrap(),
                        "{name} {id} {path}"
                    );
                    if let Some(first) = a.get("first_step") {
                        assert_eq!(got[0].0, first.as_f64().unwrap(), "{name} {id} {path}");
                    }
                    if kind == SeriesKind::String {
                        assert_eq!(
                            got.last().unwrap().2,
                            a["last"].as_str().unwrap(),
                            "{name} {id} {path}"
                        );
                    } else if let Some(last) = a["last"].as_f64() {
                        let value = f64::from_bits(u64::from_str_radix(&got.last().unwrap().2, 16).unwrap());
                        assert!(
                            (value - last).abs() <= 1e-12 * last.abs().max(1.0),
                            "{name} {id} {path}"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 200, "{checked}");
}

#[test]
fn mlflow_points_are_the_recorded_histories() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mlflow");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    for (store, path) in [("sqlite", dir.join("mlflow.db")), ("files", dir.join("mlruns"))] {
        let options = LoadOptions {
            index: IndexLocation::Dir(scratch_dir(&format!("series-mlflow-{store}"))),
            ..LoadOptions::default()
        };
        let engine = Engine::open_with(&path, &options).unwrap();
        let got = group(&series(&engine, &request(ObjectKind::Runs, SeriesKind::Float)));
        let mut want = Points::new();
        for run in expected[store]["runs"].as_array().unwrap() {
            let id = run["run_id"].as_str().unwrap();
            for (key, history) in run["history"].as_object().unwrap() {
                let points = history
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        let value: f64 = match p[2].as_str().unwrap() {
                            "nan" => f64::NAN,
                            "inf" => f64::INFINITY,
                            "-inf" => f64::NEG_INFINITY,
                            v => v.parse().unwrap(),
                        };
                        let value = if value.is_nan() { f64::NAN } else { value };
                        (
                            p[0].as_f64().unwrap(),
                            Some(p[1].as_i64().unwrap() * 1000),
                            format!("{:x}", value.to_bits()),
                        )
                    })
                    .collect();
                want.insert((id.to_string(), format!("metrics/{key}")), points);
            }
        }
        assert_eq!(got, sorted(want), "{store}: every metric's history");
    }
}

#[test]
fn a_cancelled_or_impossible_request_stops() {
    let engine = conformance_engine();
    let token = CancelToken::new();
    token.cancel();
    let mut r = request(ObjectKind::Runs, SeriesKind::Float);
    r.cancel = Some(token);
    assert!(matches!(block_on(engine.series(&r)), Err(QueryError::Cancelled)));
    let r = request(ObjectKind::Experiments, SeriesKind::Float);
    assert!(matches!(
        block_on(engine.series(&r)),
        Err(QueryError::NoSuchTable(_))
    ));
    let (v3, _) = neptune("v3-llm", "cancel");
    let token = CancelToken::new();
    token.cancel();
    let mut r = request(ObjectKind::Experiments, SeriesKind::Float);
    r.cancel = Some(token);
    assert!(matches!(block_on(v3.series(&r)), Err(QueryError::Cancelled)));
}

fn write_parquet(path: &std::path::Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

/// Series files of one project with different columns and types: the first without
/// timestamps and with int steps, the second with both. Every file's points come whole (the
/// raw table once took the first file's schema: the second file's timestamps were lost).
#[test]
fn series_files_with_different_columns_keep_every_points_columns() {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        ArrayRef, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };
    let dir = scratch_dir("series-mixed-files");
    let files = dir.join("float_series");
    std::fs::create_dir_all(&files).unwrap();
    let batch = |columns: Vec<(&str, ArrayRef)>| RecordBatch::try_from_iter(columns).unwrap();
    write_parquet(
        &dir.join("runs.parquet"),
        &batch(vec![(
            "sys/id",
            Arc::new(StringArray::from(vec!["A", "B"])) as ArrayRef,
        )]),
    );
    write_parquet(
        &files.join("a.parquet"),
        &batch(vec![
            ("sys/id", Arc::new(StringArray::from(vec!["A", "A"])) as ArrayRef),
            ("path", Arc::new(StringArray::from(vec!["m", "m"]))),
            ("step", Arc::new(Int64Array::from(vec![0, 1]))),
            ("value", Arc::new(Float64Array::from(vec![1.0, 2.0]))),
        ]),
    );
    write_parquet(
        &files.join("b.parquet"),
        &batch(vec![
            ("sys/id", Arc::new(StringArray::from(vec!["B", "B"])) as ArrayRef),
            ("path", Arc::new(StringArray::from(vec!["m", "m"]))),
            ("step", Arc::new(Float64Array::from(vec![0.5, 1.5]))),
            ("value", Arc::new(Float64Array::from(vec![3.0, 4.0]))),
            (
                "timestamp",
                Arc::new(TimestampMicrosecondArray::from(vec![7_000_000, 8_000_000]).with_timezone("UTC")),
            ),
        ]),
    );
    let options = LoadOptions {
        index: IndexLocation::Dir(dir.join("index")),
        ..LoadOptions::default()
    };
    let engine = Engine::open_with(&dir, &options).unwrap();
    let got = group(&series(&engine, &request(ObjectKind::Runs, SeriesKind::Float)));
    let b = &got[&("B".to_string(), "m".to_string())];
    assert_eq!(
        b.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(),
        vec![(0.5, Some(7_000_000)), (1.5, Some(8_000_000))],
        "the second file's steps and timestamps"
    );
    let a = &got[&("A".to_string(), "m".to_string())];
    assert_eq!(
        a.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(),
        vec![(0.0, None), (1.0, None)]
    );
    // The session's table reads the same.
    let rows = block_on(async {
        engine
            .session()
            .table("float_series")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
    });
    let table = group(&rows);
    assert_eq!(table, got, "the session's float_series holds the same points");
}

/// Points read straight from series files (row groups and pages skipped by their statistics, ids and
/// paths checked before the other columns are decoded, runs of a series joined without a
/// sort) equal the files' points selected and sorted by hand, for random requests, on a
/// project of two files with small row groups: one written a series at a time by step (the
/// shortcut), with a page index, one with its points shuffled (a full sort), without.
#[test]
fn points_read_from_files_equal_a_selection_by_hand_for_random_requests() {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray, TimestampMicrosecondArray};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};

    use crate::differential::Rng;

    let dir = scratch_dir("series-random-requests");
    std::fs::create_dir_all(dir.join("float_series")).unwrap();
    let mut rng = Rng(0x5eed_0f5e_41e5);
    let ids: Vec<String> = (0..60).map(|i| format!("R-{i}")).collect();
    let paths = ["loss", "m/a", "m/b", "m/c"];
    /// sys/id, path, step, timestamp, value.
    type Row<'a> = (String, &'a str, f64, Option<i64>, Option<f64>);
    let write = |file: &str, rows: &[Row<'_>]| {
        let batch = RecordBatch::try_from_iter([
            (
                "sys/id",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0.as_str()))) as ArrayRef,
            ),
            (
                "path",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            ),
            (
                "step",
                Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
            ),
            (
                "timestamp",
                Arc::new(TimestampMicrosecondArray::from_iter(rows.iter().map(|r| r.3)).with_timezone("UTC")),
            ),
            (
                "value",
                Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.4))),
            ),
        ])
        .unwrap();
        // Small row groups and pages, so that both are skipped by their statistics; the
        // second file without page statistics (its ids and paths are checked as it is read).
        let statistics = match file {
            "a.parquet" => EnabledStatistics::Page,
            _ => EnabledStatistics::Chunk,
        };
        let properties = WriterProperties::builder()
            .set_statistics_enabled(statistics)
            .set_max_row_group_row_count(Some(700))
            .set_data_page_row_count_limit(50)
            .set_write_batch_size(50)
            .build();
        let out = std::fs::File::create(dir.join("float_series").join(file)).unwrap();
        let mut writer = ArrowWriter::try_new(out, batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    };
    let series_of = |runs: &[String], rng: &mut Rng| {
        let mut rows = Vec::new();
        for id in runs {
            for path in paths {
                let (mut step, mut again) = (0.0, 0);
                for _ in 0..rng.below(120) {
                    // Now and then more points at the same step, later.
                    again = if rng.below(10) == 0 { again + 1 } else { 0 };
                    if again == 0 {
                        step += 1.0 + rng.below(3) as f64;
                    }
                    // (Points of a step have times: `sorted` orders values as text.)
                    let time = (again > 0 || rng.below(5) != 0).then(|| (step as i64) * 1_000 + again);
                    let value = match rng.below(40) {
                        0 => None,
                        1 => Some(f64::NAN),
                        2 => Some(f64::NEG_INFINITY),
                        _ => Some(rng.below(1000) as f64 / 7.0 - 50.0),
                    };
                    rows.push((id.clone(), path, step, time, value));
                }
            }
        }
        rows
    };
    write("a.parquet", &series_of(&ids[..30], &mut rng));
    let mut shuffled = series_of(&ids[30..], &mut rng);
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.below(i + 1));
    }
    write("b.parquet", &shuffled);
    write_parquet(
        &dir.join("runs.parquet"),
        &RecordBatch::try_from_iter([(
            "sys/id",
            Arc::new(StringArray::from_iter_values(ids.iter())) as ArrayRef,
        )])
        .unwrap(),
    );
    let options = LoadOptions {
        index: IndexLocation::Dir(dir.join("index")),
        ..LoadOptions::default()
    };
    let engine = Engine::open_with(&dir, &options).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("float_series"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let every = sorted(group(&read_files(&files)));
    assert!(every.len() > 150, "{} series", every.len());
    for case in 0..60 {
        let mut r = request(ObjectKind::Runs, SeriesKind::Float);
        if rng.below(4) != 0 {
            let mut chosen: Vec<String> = (0..1 + rng.below(6))
                .map(|_| ids[rng.below(ids.len())].clone())
                .collect();
            if rng.below(3) == 0 {
                chosen.push("R-999".into());
            }
            r.ids = Some(chosen);
        }
        if rng.below(2) == 0 {
            r.paths = Some(
                (0..1 + rng.below(2))
                    .map(|_| paths[rng.below(4)].to_string())
                    .collect(),
            );
        }
        let bound = |rng: &mut Rng| (rng.below(3) == 0).then(|| rng.below(250) as f64);
        r.step_range = (bound(&mut rng), bound(&mut rng));
        r.tail = (rng.below(3) == 0).then(|| rng.below(20));
        let want: Points = every
            .iter()
            .filter(|((id, path), _)| {
                r.ids.as_ref().is_none_or(|w| w.contains(id))
                    && r.paths.as_ref().is_none_or(|w| w.contains(path))
            })
            .map(|(key, points)| {
                let kept: Vec<Point> = points
                    .iter()
                    .filter(|p| {
                        r.step_range.0.is_none_or(|f| p.0 >= f) && r.step_range.1.is_none_or(|t| p.0 <= t)
                    })
                    .cloned()
                    .collect();
                let from = r.tail.map_or(0, |t| kept.len().saturating_sub(t));
                (key.clone(), kept[from..].to_vec())
            })
            .filter(|(_, points)| !points.is_empty())
            .collect();
        let got = series(&engine, &r);
        assert!(got.len() <= 1, "one batch");
        check_curves(&engine, &r, &got, 1 + rng.below(40));
        let got = group(&got);
        let differs = want
            .keys()
            .chain(got.keys())
            .find(|k| got.get(*k) != want.get(*k));
        assert!(
            differs.is_none(),
            "case {case}: {r:?}: {differs:?} got {:?}, want {:?}",
            differs.and_then(|k| got.get(k)),
            differs.and_then(|k| want.get(k))
        );
    }
}

/// `Engine::curves` of a request against its `Engine::series` points: a curve per series with
/// finite points, in the same order; all of them when they fit `width`, else at most `width`
/// of them in step order, the lowest and the highest among them.
fn check_curves(engine: &Engine, request: &SeriesRequest, points: &[RecordBatch], width: usize) {
    let curves = block_on(engine.curves(request, width)).unwrap();
    // Each series, in order, with its finite (step, value) points.
    type Finite = ((String, String), Vec<(f64, f64)>);
    let mut finite: Vec<Finite> = Vec::new();
    for b in points {
        let (ids, paths) = (b.column(0).as_string::<i32>(), b.column(1).as_string::<i32>());
        let (steps, values) = (
            b.column(2).as_primitive::<Float64Type>(),
            b.column(4).as_primitive::<Float64Type>(),
        );
        for r in 0..b.num_rows() {
            let key = (ids.value(r).to_string(), paths.value(r).to_string());
            if finite.last().is_none_or(|(k, _)| *k != key) {
                finite.push((key, Vec::new()));
            }
            let (step, value) = (steps.value(r), values.value(r));
            if step.is_finite() && value.is_finite() {
                finite.last_mut().unwrap().1.push((step, value));
            }
        }
    }
    finite.retain(|(_, p)| !p.is_empty());
    assert_eq!(curves.len(), finite.len(), "a curve per series with points");
    let width = width.max(2);
    for (curve, ((id, path), all)) in curves.iter().zip(&finite) {
        assert_eq!((&curve.id, &curve.path, curve.points), (id, path, all.len()));
        if all.len() <= width {
            assert_eq!(&curve.kept, all, "{id} {path}: every point");
            continue;
        }
        assert!(
            curve.kept.len() <= width,
            "{id} {path}: {} > {width}",
            curve.kept.len()
        );
        let mut at = 0;
        for point in &curve.kept {
            at += all[at..]
                .iter()
                .position(|p| p == point)
                .expect("a real point, in order");
        }
        let lowest = all.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let highest = all.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        assert!(curve.kept.iter().any(|p| p.1 == lowest) && curve.kept.iter().any(|p| p.1 == highest));
    }
}
