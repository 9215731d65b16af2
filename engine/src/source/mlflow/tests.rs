//! Tests of the MLflow stores against the fixtures of engine/tests/mlflow: a SQLite store and
//! a file store that MLflow 3.17.2 wrote, and `expected.json`, what MLflow's own API answers
//! for them (engine/tests/mlflow/make_fixtures.py makes all three; these tests need no
//! Python).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use datafusion::arrow::array::{
    Array, AsArray, BooleanArray, Float64Array, Int64Array, ListArray, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datasets::layout::ObjectKind;
use serde_json::Value as Json;

use super::files::FileStore;
use super::sqlite::SqliteStore;
use super::{ParamValue, open};
use crate::error::LoadError;
use crate::source::Source;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mlflow")
}

fn expected() -> &'static Json {
    static EXPECTED: OnceLock<Json> = OnceLock::new();
    EXPECTED.get_or_init(|| {
        let text = std::fs::read_to_string(fixtures().join("expected.json")).expect("expected.json");
        serde_json::from_str(&text).expect("expected.json is JSON")
    })
}

/// One attribute value, comparable (floats by their bits).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Cell {
    Str(String),
    Int(i64),
    Float(u64),
    Bool(bool),
    Time(i64),
    Set(Vec<String>),
}

fn float(f: f64) -> Cell {
    Cell::Float(f.to_bits())
}

/// Non-null attributes of one object, by column name.
type Object = BTreeMap<String, Cell>;

/// A point: step, timestamp, value bits.
type Point = (i64, Option<i64>, u64);

/// Everything a source gave.
#[derive(Debug, Default)]
struct Read {
    objects: BTreeMap<ObjectKind, BTreeMap<String, Object>>,
    points: BTreeMap<(String, String), Vec<Point>>,
    point_batches: Vec<usize>,
    warnings: Vec<String>,
}

impl Read {
    fn of(&self, kind: ObjectKind) -> &BTreeMap<String, Object> {
        static EMPTY: BTreeMap<String, Object> = BTreeMap::new();
        self.objects.get(&kind).unwrap_or(&EMPTY)
    }
}

fn read_source(source: &dyn Source) -> Result<Read, LoadError> {
    let mut read = Read::default();
    let units = source.units()?;
    let labels: BTreeSet<&str> = units.iter().map(|u| u.label.as_str()).collect();
    assert_eq!(labels.len(), units.len(), "unit labels are unique");
    for unit in &units {
        let data = source.read(unit)?;
        for (kind, batch) in &data.objects {
            decode_objects(batch, read.objects.entry(*kind).or_default());
        }
        for (kind, batch) in &data.float_points {
            assert_eq!(*kind, ObjectKind::Runs);
            read.point_batches.push(batch.num_rows());
            decode_points(batch, &mut read.points);
        }
        assert!(data.string_points.is_empty());
        read.warnings.extend(data.warnings);
    }
    Ok(read)
}

/// The suffix a column name must carry for its Arrow type.
fn suffix_fits(name: &str, data_type: &DataType) -> bool {
    let Some((_, suffix)) = name.rsplit_once(':') else {
        return false;
    };
    match data_type {
        DataType::Utf8 => suffix == "string" || suffix == "experimentState",
        DataType::Int64 => suffix == "int",
        DataType::Float64 => suffix == "float",
        DataType::Boolean => suffix == "bool",
        DataType::Timestamp(TimeUnit::Millisecond, Some(tz)) => suffix == "datetime" && tz.as_ref() == "UTC",
        DataType::List(item) => suffix == "stringSet" && item.data_type() == &DataType::Utf8,
        _ => false,
    }
}

fn decode_objects(batch: &RecordBatch, into: &mut BTreeMap<String, Object>) {
    let schema = batch.schema();
    assert_eq!(schema.field(0).name(), "sys/id");
    assert_eq!(schema.field(0).data_type(), &DataType::Utf8);
    let ids = batch.column(0).as_any().downcast_ref::<StringArray>().unwrap();
    for row in 0..batch.num_rows() {
        assert!(ids.is_valid(row));
        let mut object = Object::new();
        for (i, field) in schema.fields().iter().enumerate().skip(1) {
            assert!(
                suffix_fits(field.name(), field.data_type()),
                "column {} of type {}",
                field.name(),
                field.data_type()
            );
            let column = batch.column(i);
            if column.is_null(row) {
                continue;
            }
            let cell = match field.data_type() {
                DataType::Utf8 => Cell::Str(column.as_string::<i32>().value(row).to_string()),
                DataType::Int64 => {
                    Cell::Int(column.as_any().downcast_ref::<Int64Array>().unwrap().value(row))
                }
                DataType::Float64 => {
                    float(column.as_any().downcast_ref::<Float64Array>().unwrap().value(row))
                }
                DataType::Boolean => {
                    Cell::Bool(column.as_any().downcast_ref::<BooleanArray>().unwrap().value(row))
                }
                DataType::Timestamp(..) => Cell::Time(
                    column
                        .as_any()
                        .downcast_ref::<TimestampMillisecondArray>()
                        .unwrap()
                        .value(row),
                ),
                DataType::List(_) => {
                    let list = column.as_any().downcast_ref::<ListArray>().unwrap().value(row);
                    let items = list.as_string::<i32>();
                    Cell::Set((0..items.len()).map(|j| items.value(j).to_string()).collect())
                }
                other => panic!("unexpected type {other}"),
            };
            object.insert(field.name().clone(), cell);
        }
        let id = ids.value(row).to_string();
        assert!(
            into.insert(id.clone(), object).is_none(),
            "object {id} given twice"
        );
    }
}

fn decode_points(batch: &RecordBatch, into: &mut BTreeMap<(String, String), Vec<Point>>) {
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["sys/id", "path", "step", "value", "timestamp"]);
    assert_eq!(
        schema.field(4).data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    let ids = batch.column(0).as_string::<i32>();
    let paths = batch.column(1).as_string::<i32>();
    let steps = batch.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
    let values = batch.column(3).as_any().downcast_ref::<Float64Array>().unwrap();
    let times = batch
        .column(4)
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .unwrap();
    for row in 0..batch.num_rows() {
        let step = steps.value(row);
        assert_eq!(step.fract(), 0.0);
        let time = times.is_valid(row).then(|| times.value(row));
        into.entry((ids.value(row).to_string(), paths.value(row).to_string()))
            .or_default()
            .push((step as i64, time, values.value(row).to_bits()));
    }
}

/// What spec/mlflow.md says each param value of the fixtures is (written out here rather
/// than computed, so the reader's typing is checked against the table, not against itself).
fn param_cell(text: &str) -> (&'static str, Cell) {
    let f = |x: f64| ("float", float(x));
    let i = |x: i64| ("int", Cell::Int(x));
    let b = |x: bool| ("bool", Cell::Bool(x));
    match text {
        "0.001" => f(0.001),
        "0.01" => f(0.01),
        "0.1" => f(0.1),
        "0.5" => f(0.5),
        "0.9" => f(0.9),
        "1e-05" => f(1e-05),
        "1e-3" => f(1e-3),
        "2e-05" => f(2e-05),
        "3e-4" => f(3e-4),
        "32.0" => f(32.0),
        "nan" => f(f64::NAN),
        "inf" => f(f64::INFINITY),
        "-Infinity" => f(f64::NEG_INFINITY),
        "123456789012345678901234" => f(1.2345678901234568e23),
        "+7" => i(7),
        "-3" => i(-3),
        "7" => i(7),
        "10" => i(10),
        "12" => i(12),
        "16" => i(16),
        "32" => i(32),
        "64" => i(64),
        "256" => i(256),
        "768" => i(768),
        "True" | "true" => b(true),
        "false" | "FALSE" => b(false),
        "" | "None" | "1_000" | "adam" | "auto" | "AdamW" | "generated name" => {
            ("string", Cell::Str(text.to_string()))
        }
        other => panic!("param value {other:?}: add what it should read as"),
    }
}

fn str_of(json: &Json) -> Option<String> {
    json.as_str().map(str::to_string)
}

fn non_empty(json: &Json) -> Option<String> {
    json.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn set_of<'a>(keys: impl Iterator<Item = &'a String>) -> Cell {
    let mut keys: Vec<String> = keys.cloned().collect();
    keys.sort();
    Cell::Set(keys)
}

fn parse_value(text: &str) -> f64 {
    let value: f64 = text.parse().expect("a float as Python spells it");
    if value.is_nan() { f64::NAN } else { value }
}

/// A run as spec/mlflow.md's table makes it from MLflow's answer.
fn expected_run(run: &Json, experiments: &[Json]) -> Object {
    let mut o = Object::new();
    let tags = run["tags"].as_object().unwrap();
    let tag = |k: &str| tags.get(k).and_then(non_empty);
    let name = non_empty(&run["run_name"]).or_else(|| tag("mlflow.runName"));
    if let Some(name) = name {
        o.insert("sys/name:string".into(), Cell::Str(name));
    }
    if let Some(owner) = non_empty(&run["user_id"]) {
        o.insert("sys/owner:string".into(), Cell::Str(owner));
    }
    if let Some(note) = tag("mlflow.note.content") {
        o.insert("sys/description:string".into(), Cell::Str(note));
    }
    let start = run["start_time"].as_i64();
    let end = run["end_time"].as_i64();
    if let Some(start) = start {
        o.insert("sys/creation_time:datetime".into(), Cell::Time(start));
    }
    let mut times: Vec<i64> = [start, end].into_iter().flatten().collect();
    for points in run["history"].as_object().unwrap().values() {
        times.extend(points.as_array().unwrap().iter().map(|p| p[1].as_i64().unwrap()));
    }
    if let Some(&latest) = times.iter().max() {
        o.insert("sys/modification_time:datetime".into(), Cell::Time(latest));
        o.insert("sys/ping_time:datetime".into(), Cell::Time(latest));
    }
    let status = run["status"].as_str().unwrap();
    let active = matches!(status, "RUNNING" | "SCHEDULED");
    o.insert(
        "sys/state:experimentState".into(),
        Cell::Str(if active { "active" } else { "inactive" }.into()),
    );
    o.insert(
        "sys/failed:bool".into(),
        Cell::Bool(matches!(status, "FAILED" | "KILLED")),
    );
    let experiment_id = run["experiment_id"].as_str().unwrap();
    let experiment = experiments
        .iter()
        .find(|e| e["experiment_id"].as_str() == Some(experiment_id))
        .expect("the run's experiment");
    let trashed = run["lifecycle_stage"] == "deleted" || experiment["lifecycle_stage"] == "deleted";
    o.insert("sys/trashed:bool".into(), Cell::Bool(trashed));
    o.insert(
        "sys/tags:stringSet".into(),
        set_of(tags.keys().filter(|k| !k.starts_with("mlflow."))),
    );
    o.insert("sys/experiment/id:string".into(), Cell::Str(experiment_id.into()));
    o.insert(
        "sys/experiment/name:string".into(),
        Cell::Str(str_of(&experiment["name"]).unwrap()),
    );
    o.insert("sys/mlflow/status:string".into(), Cell::Str(status.into()));
    for (key, value) in run["params"].as_object().unwrap() {
        let (type_name, cell) = param_cell(value.as_str().unwrap());
        o.insert(format!("params/{key}:{type_name}"), cell);
    }
    for (key, value) in tags {
        o.insert(format!("tags/{key}:string"), Cell::Str(str_of(value).unwrap()));
    }
    o
}

fn expected_model(model: &Json) -> Object {
    let mut o = Object::new();
    o.insert(
        "sys/name:string".into(),
        Cell::Str(str_of(&model["name"]).unwrap()),
    );
    o.insert(
        "sys/creation_time:datetime".into(),
        Cell::Time(model["creation_timestamp"].as_i64().unwrap()),
    );
    o.insert(
        "sys/modification_time:datetime".into(),
        Cell::Time(model["last_updated_timestamp"].as_i64().unwrap()),
    );
    if let Some(description) = non_empty(&model["description"]) {
        o.insert("sys/description:string".into(), Cell::Str(description));
    }
    let tags = model["tags"].as_object().unwrap();
    o.insert("sys/tags:stringSet".into(), set_of(tags.keys()));
    o.insert(
        "aliases:stringSet".into(),
        set_of(model["aliases"].as_object().unwrap().keys()),
    );
    for (key, value) in tags {
        o.insert(format!("tags/{key}:string"), Cell::Str(str_of(value).unwrap()));
    }
    o
}

fn expected_version(version: &Json) -> Object {
    let mut o = Object::new();
    o.insert(
        "sys/model_id:string".into(),
        Cell::Str(str_of(&version["name"]).unwrap()),
    );
    o.insert(
        "sys/name:string".into(),
        Cell::Str(str_of(&version["version"]).unwrap()),
    );
    o.insert(
        "sys/stage:string".into(),
        Cell::Str(version["current_stage"].as_str().unwrap().to_lowercase()),
    );
    o.insert(
        "sys/creation_time:datetime".into(),
        Cell::Time(version["creation_timestamp"].as_i64().unwrap()),
    );
    o.insert(
        "sys/modification_time:datetime".into(),
        Cell::Time(version["last_updated_timestamp"].as_i64().unwrap()),
    );
    if let Some(description) = non_empty(&version["description"]) {
        o.insert("sys/description:string".into(), Cell::Str(description));
    }
    if let Some(owner) = non_empty(&version["user_id"]) {
        o.insert("sys/owner:string".into(), Cell::Str(owner));
    }
    if let Some(run_id) = non_empty(&version["run_id"]) {
        o.insert("run_id:string".into(), Cell::Str(run_id));
    }
    let tags = version["tags"].as_object().unwrap();
    o.insert("sys/tags:stringSet".into(), set_of(tags.keys()));
    let aliases: Vec<String> = version["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| str_of(a).unwrap())
        .collect();
    o.insert("aliases:stringSet".into(), set_of(aliases.iter()));
    for (key, value) in tags {
        o.insert(format!("tags/{key}:string"), Cell::Str(str_of(value).unwrap()));
    }
    o
}

/// The last point as MLflow defines it: highest step, then latest timestamp, then largest
/// value.
fn last_value(points: &[Point]) -> f64 {
    points
        .iter()
        .map(|&(step, time, bits)| (step, time, f64::from_bits(bits)))
        .max_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)))
        .map(|p| p.2)
        .expect("a point")
}

/// Every run, model and version of `store` in expected.json against what `read` holds:
/// the same objects, each with exactly the attributes the spec gives it, and every metric
/// point.
fn compare(read: &Read, store: &str) {
    let expected = &expected()[store];
    let experiments = expected["experiments"].as_array().unwrap();
    let runs = read.of(ObjectKind::Runs);
    let expected_runs = expected["runs"].as_array().unwrap();
    let expected_ids: BTreeSet<&str> = expected_runs
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    let ids: BTreeSet<&str> = runs.keys().map(String::as_str).collect();
    assert_eq!(ids, expected_ids, "{store}: the runs");
    let mut series = 0;
    for run in expected_runs {
        let id = run["run_id"].as_str().unwrap();
        let name = run["run_name"].as_str().unwrap();
        assert_eq!(runs[id], expected_run(run, experiments), "{store}: run {name}");
        let history = run["history"].as_object().unwrap();
        for (key, points) in history {
            let mut want: Vec<Point> = points
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let value = parse_value(p[2].as_str().unwrap());
                    (p[0].as_i64().unwrap(), p[1].as_i64(), value.to_bits())
                })
                .collect();
            want.sort();
            let mut got = read
                .points
                .get(&(id.to_string(), format!("metrics/{key}")))
                .cloned()
                .unwrap_or_default();
            got.sort();
            assert_eq!(got, want, "{store}: run {name}, metric {key}");
            let latest = parse_value(run["metrics"][key].as_str().unwrap());
            assert_eq!(
                last_value(&got).to_bits(),
                latest.to_bits(),
                "{store}: run {name}, the latest {key}"
            );
            series += 1;
        }
        let read_series = read.points.keys().filter(|(run, _)| run == id).count();
        assert_eq!(read_series, history.len(), "{store}: run {name}: its metrics");
    }
    assert_eq!(read.points.len(), series, "{store}: no points of other runs");

    let models = read.of(ObjectKind::Models);
    let expected_models = expected["models"].as_array().unwrap();
    assert_eq!(models.len(), expected_models.len(), "{store}: the models");
    for model in expected_models {
        let name = model["name"].as_str().unwrap();
        assert_eq!(
            models.get(name),
            Some(&expected_model(model)),
            "{store}: model {name}"
        );
    }
    let versions = read.of(ObjectKind::ModelVersions);
    let expected_versions = expected["model_versions"].as_array().unwrap();
    assert_eq!(
        versions.len(),
        expected_versions.len(),
        "{store}: the model versions"
    );
    for version in expected_versions {
        let id = format!(
            "{}/{}",
            version["name"].as_str().unwrap(),
            version["version"].as_str().unwrap()
        );
        assert_eq!(
            versions.get(&id),
            Some(&expected_version(version)),
            "{store}: version {id}"
        );
    }
}

fn open_store(path: &Path, experiments: &[&str]) -> Box<dyn Source> {
    let experiments: Vec<String> = experiments.iter().map(|s| s.to_string()).collect();
    open(path, &experiments)
        .expect("the store opens")
        .expect("an MLflow store")
}

fn source_error(result: Result<impl std::fmt::Debug, LoadError>) -> (PathBuf, String) {
    match result {
        Err(LoadError::Source { path, problem }) => (path, problem),
        other => panic!("expected LoadError::Source, got {other:?}"),
    }
}

#[test]
fn sqlite_store_matches_mlflow() {
    let source = open_store(&fixtures().join("mlflow.db"), &[]);
    assert_eq!(source.describe(), "MLflow SQLite store");
    let read = read_source(source.as_ref()).unwrap();
    compare(&read, "sqlite");
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
}

#[test]
fn file_store_matches_mlflow() {
    let source = open_store(&fixtures().join("mlruns"), &[]);
    assert_eq!(source.describe(), "MLflow file store");
    let read = read_source(source.as_ref()).unwrap();
    compare(&read, "files");
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
}

#[test]
fn one_param_key_with_values_of_several_types_gives_a_column_per_type() {
    let source = open_store(&fixtures().join("mlflow.db"), &[]);
    let read = read_source(source.as_ref()).unwrap();
    let columns: BTreeSet<&str> = read
        .of(ObjectKind::Runs)
        .values()
        .flat_map(|o| o.keys().map(String::as_str))
        .filter(|c| c.starts_with("params/batch_size:"))
        .collect();
    assert_eq!(
        columns,
        BTreeSet::from([
            "params/batch_size:float",
            "params/batch_size:int",
            "params/batch_size:string"
        ])
    );
}

#[test]
fn sqlite_infinities_are_read_as_stored_and_file_store_ones_as_written() {
    let read = |path: &Path| read_source(open_store(path, &[]).as_ref()).unwrap();
    let values = |read: &Read| -> BTreeSet<u64> { read.points.values().flatten().map(|p| p.2).collect() };
    let sqlite = values(&read(&fixtures().join("mlflow.db")));
    assert!(sqlite.contains(&f64::MAX.to_bits()) && sqlite.contains(&f64::MIN.to_bits()));
    assert!(!sqlite.contains(&f64::INFINITY.to_bits()));
    assert!(sqlite.contains(&f64::NAN.to_bits()));
    let files = values(&read(&fixtures().join("mlruns")));
    assert!(files.contains(&f64::INFINITY.to_bits()) && files.contains(&f64::NEG_INFINITY.to_bits()));
    assert!(files.contains(&f64::NAN.to_bits()));
}

#[test]
fn sqlite_uris_name_the_file_relative_or_absolute() {
    // Tests run in the package's directory.
    let relative = Path::new("sqlite:///tests/mlflow/mlflow.db");
    let source = open_store(relative, &[]);
    assert_eq!(source.units().unwrap()[0].files, [fixtures().join("mlflow.db")]);
    let absolute = format!("sqlite:///{}", fixtures().join("mlflow.db").display());
    assert!(absolute.starts_with("sqlite:////"));
    let source = open_store(Path::new(&absolute), &[]);
    assert_eq!(source.units().unwrap()[0].files, [fixtures().join("mlflow.db")]);

    let (_, problem) = source_error(open(Path::new("sqlite:///no/such/mlflow.db"), &[]));
    assert!(problem.contains("no such file"), "{problem}");
    let (_, problem) = source_error(open(Path::new("sqlite:///tests/mlflow/expected.json"), &[]));
    assert!(problem.contains("not a SQLite database"), "{problem}");
    let (_, problem) = source_error(open(Path::new("sqlite://"), &[]));
    assert!(problem.contains("in-memory"), "{problem}");
}

#[test]
fn what_is_not_an_mlflow_store_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let none = |path: &Path| assert!(open(path, &[]).unwrap().is_none(), "{}", path.display());
    none(&dir.path().join("missing"));
    none(dir.path());
    none(&fixtures().join("expected.json"));
    none(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/data"));
    // An mlruns/ beside a SQLite store: artifacts only, no meta.yaml.
    let artifacts = dir.path().join("mlruns");
    std::fs::create_dir_all(artifacts.join("1/0123456789abcdef0123456789abcdef/artifacts/model")).unwrap();
    std::fs::write(
        artifacts.join("1/0123456789abcdef0123456789abcdef/artifacts/model/MLmodel"),
        "flavors: {}\n",
    )
    .unwrap();
    std::fs::create_dir_all(artifacts.join("models/m-0123/artifacts")).unwrap();
    none(&artifacts);
    // A SQLite file is one (and is refused when it lacks MLflow's tables: see below); so is
    // a file store, also when only its trash has experiments.
    assert!(open(&fixtures().join("mlflow.db"), &[]).unwrap().is_some());
    let trash_only = dir.path().join("trash-only");
    std::fs::create_dir_all(trash_only.join(".trash/5")).unwrap();
    std::fs::write(
        trash_only.join(".trash/5/meta.yaml"),
        "experiment_id: '5'\nname: gone\nlifecycle_stage: deleted\n",
    )
    .unwrap();
    let source = open_store(&trash_only, &[]);
    assert!(source.units().unwrap().is_empty());
}

fn run_names(read: &Read) -> BTreeSet<String> {
    read.of(ObjectKind::Runs)
        .values()
        .map(|o| match &o["sys/name:string"] {
            Cell::Str(s) => s.clone(),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn experiment_id(store: &str, name: &str) -> String {
    expected()[store]["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["experiment_id"].as_str())
        .unwrap()
        .to_string()
}

#[test]
fn experiments_select_runs_by_id_or_name() {
    let vision = names(&[
        "resnet-a",
        "resnet-b",
        "resnet-c",
        "resnet-d",
        "resnet-e",
        "resnet-old",
    ]);
    let scratch = names(&["scratch-1", "scratch-2"]);
    for (store, path) in [
        ("sqlite", fixtures().join("mlflow.db")),
        ("files", fixtures().join("mlruns")),
    ] {
        let read = |wanted: &[&str]| read_source(open_store(&path, wanted).as_ref()).unwrap();
        assert_eq!(run_names(&read(&["vision"])), vision, "{store}");
        let nlp = experiment_id(store, "nlp/bert");
        let nlp_runs = run_names(&read(&[&nlp]));
        assert_eq!(nlp_runs.len(), 2, "{store}");
        assert!(nlp_runs.contains("bert-base"));
        // A deleted experiment, when named, is read (its runs trashed).
        let read_scratch = read(&["scratch"]);
        assert_eq!(run_names(&read_scratch), scratch, "{store}");
        assert!(
            read_scratch
                .of(ObjectKind::Runs)
                .values()
                .all(|o| o["sys/trashed:bool"] == Cell::Bool(true))
        );
        let both = run_names(&read(&["scratch", "vision"]));
        assert_eq!(both, vision.union(&scratch).cloned().collect(), "{store}");
        // The registry is not in experiments: always read.
        let read_vision = read(&["vision"]);
        assert_eq!(read_vision.of(ObjectKind::Models).len(), 3, "{store}");
        assert_eq!(read_vision.of(ObjectKind::ModelVersions).len(), 5, "{store}");
        assert!(
            read_vision
                .points
                .keys()
                .all(|(id, _)| read_vision.of(ObjectKind::Runs).contains_key(id))
        );

        let experiments = vec!["vision".to_string(), "nope".to_string()];
        match open(&path, &experiments) {
            Err(LoadError::Choice(message)) => {
                assert!(message.contains("no experiment `nope`"), "{message}");
                for name in ["`Default` (id 0)", "`vision`", "`nlp/bert`", "`empty`"] {
                    assert!(message.contains(name), "{message}");
                }
                assert!(message.contains("deleted"), "{message}");
            }
            other => panic!("{store}: expected a choice error, got {other:?}"),
        }
    }
}

#[test]
fn a_value_that_is_an_experiment_id_selects_by_id_before_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    copy_dir(&fixtures().join("mlruns"), &root);
    // Name the experiment `vision` "0", which is also the Default experiment's id.
    let meta = root.join(experiment_id("files", "vision")).join("meta.yaml");
    let text = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(&meta, text.replace("name: vision", "name: '0'")).unwrap();
    let read = read_source(open_store(&root, &["0"]).as_ref()).unwrap();
    assert_eq!(run_names(&read), names(&["default-run"]));
}

#[test]
fn units_of_the_stores() {
    let source = open_store(&fixtures().join("mlflow.db"), &[]);
    let units = source.units().unwrap();
    assert_eq!(units.len(), 1);
    assert_eq!(units[0].label, "mlflow.db");
    assert_eq!(units[0].files, [fixtures().join("mlflow.db")]);
    let filtered = open_store(&fixtures().join("mlflow.db"), &["vision", "nlp/bert"]);
    assert_eq!(filtered.units().unwrap()[0].label, "mlflow.db (experiments 1, 2)");

    let root = fixtures().join("mlruns");
    let source = open_store(&root, &[]);
    let units = source.units().unwrap();
    let runs = expected()["files"]["runs"].as_array().unwrap();
    assert_eq!(
        units.iter().filter(|u| u.label.contains(" run ")).count(),
        runs.len()
    );
    let models: Vec<&str> = units
        .iter()
        .filter_map(|u| u.label.strip_prefix("model "))
        .collect();
    assert_eq!(models, ["bert-small", "empty-model", "resnet"]);
    let a = runs.iter().find(|r| r["run_name"] == "resnet-a").unwrap();
    let run_dir = root
        .join(a["experiment_id"].as_str().unwrap())
        .join(a["run_id"].as_str().unwrap());
    let unit = units
        .iter()
        .find(|u| u.files[0] == run_dir.join("meta.yaml"))
        .unwrap();
    assert_eq!(
        unit.label,
        format!(
            "experiment {} run {}",
            a["experiment_id"].as_str().unwrap(),
            a["run_id"].as_str().unwrap()
        )
    );
    assert_eq!(unit.files[1], run_dir.parent().unwrap().join("meta.yaml"));
    for file in [
        "params/lr",
        "params/weight decay",
        "params/model/layers/0/units",
        "metrics/loss",
        "metrics/val/acc",
        "tags/mlflow.note.content",
        "tags/data/source",
    ] {
        assert!(unit.files.contains(&run_dir.join(file)), "{file}");
    }
    let trashed = units
        .iter()
        .filter(|u| u.label.starts_with("trashed experiment "))
        .count();
    assert_eq!(trashed, 2);
    let resnet = units.iter().find(|u| u.label == "model resnet").unwrap();
    for file in [
        "meta.yaml",
        "tags/task",
        "aliases/champion",
        "version-3/meta.yaml",
        "version-3/tags/validated",
    ] {
        assert!(
            resnet.files.contains(&root.join("models/resnet").join(file)),
            "{file}"
        );
    }
}

#[test]
fn metrics_are_streamed_in_batches() {
    let whole = read_source(open_store(&fixtures().join("mlflow.db"), &[]).as_ref()).unwrap();
    assert_eq!(whole.point_batches.len(), 1);
    let total: usize = whole.point_batches.iter().sum();
    let mut store = SqliteStore::open(fixtures().join("mlflow.db"), &[], false).unwrap();
    store.set_batch_rows(50);
    let batched = read_source(&store).unwrap();
    assert_eq!(batched.point_batches.len(), total.div_ceil(50));
    assert!(batched.point_batches.iter().all(|&n| n <= 50));
    assert_eq!(batched.points, whole.points);
    assert_eq!(batched.objects, whole.objects);

    let mut store = FileStore::open(&fixtures().join("mlruns"), &[]).unwrap();
    store.set_batch_rows(7);
    let batched = read_source(&store).unwrap();
    assert!(batched.point_batches.iter().all(|&n| n <= 7));
    let whole = read_source(open_store(&fixtures().join("mlruns"), &[]).as_ref()).unwrap();
    assert_eq!(batched.points, whole.points);
}

#[test]
fn params_are_typed_by_value() {
    let cases: &[(&str, ParamValue)] = &[
        ("0", ParamValue::Int(0)),
        ("-0", ParamValue::Int(0)),
        ("+12", ParamValue::Int(12)),
        ("007", ParamValue::Int(7)),
        ("9223372036854775807", ParamValue::Int(i64::MAX)),
        ("9223372036854775808", ParamValue::Float(9223372036854775808.0)),
        ("1.5", ParamValue::Float(1.5)),
        ("1.", ParamValue::Float(1.0)),
        (".5", ParamValue::Float(0.5)),
        ("1e5", ParamValue::Float(1e5)),
        ("1E-05", ParamValue::Float(1e-5)),
        ("-2.5e+3", ParamValue::Float(-2500.0)),
        ("INF", ParamValue::Float(f64::INFINITY)),
        ("-inf", ParamValue::Float(f64::NEG_INFINITY)),
        ("Infinity", ParamValue::Float(f64::INFINITY)),
        ("TRUE", ParamValue::Bool(true)),
        ("False", ParamValue::Bool(false)),
        ("1_000", ParamValue::String("1_000".into())),
        ("1.0_0", ParamValue::String("1.0_0".into())),
        (" 1", ParamValue::String(" 1".into())),
        ("1 ", ParamValue::String("1 ".into())),
        ("0x10", ParamValue::String("0x10".into())),
        ("1e", ParamValue::String("1e".into())),
        ("e5", ParamValue::String("e5".into())),
        (".", ParamValue::String(".".into())),
        ("1.2.3", ParamValue::String("1.2.3".into())),
        ("infinit", ParamValue::String("infinit".into())),
        ("yes", ParamValue::String("yes".into())),
        ("None", ParamValue::String("None".into())),
        ("", ParamValue::String(String::new())),
        ("[1, 2]", ParamValue::String("[1, 2]".into())),
    ];
    for (text, want) in cases {
        assert_eq!(&ParamValue::parse(text), want, "{text:?}");
    }
    for text in ["nan", "NaN", "-nan", "+NAN"] {
        match ParamValue::parse(text) {
            ParamValue::Float(f) => assert_eq!(f.to_bits(), f64::NAN.to_bits(), "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn metric_lines_have_two_three_or_five_fields() {
    use super::files::parse_metric_line;
    assert_eq!(parse_metric_line(b"100 0.5\n"), Ok((100, 0.5, 0)));
    assert_eq!(parse_metric_line(b"100 0.5 7\n"), Ok((100, 0.5, 7)));
    assert_eq!(
        parse_metric_line(b"100 0.5 7 train abc123\r\n"),
        Ok((100, 0.5, 7))
    );
    let (_, value, _) = parse_metric_line(b"100 nan 1").unwrap();
    assert!(value.is_nan());
    assert_eq!(parse_metric_line(b"100 -inf 1"), Ok((100, f64::NEG_INFINITY, 1)));
    for bad in [
        &b""[..],
        b"100",
        b"100 0.5 7 train",
        b"100  0.5",
        b"x 0.5",
        b"100 x",
        b"100 0.5 1.5",
        b"1 2 3 4 5 6",
    ] {
        assert!(
            parse_metric_line(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

// Bad input: one test per kind.

fn sqlite_copy(dir: &Path) -> PathBuf {
    let db = dir.join("mlflow.db");
    std::fs::copy(fixtures().join("mlflow.db"), &db).unwrap();
    db
}

fn writer(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(db).unwrap()
}

#[test]
fn a_sqlite_file_without_mlflow_tables_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.db");
    writer(&other)
        .execute_batch("CREATE TABLE notes (id INTEGER, text TEXT)")
        .unwrap();
    let (path, problem) = source_error(open(&other, &[]));
    assert_eq!(path, other);
    assert!(problem.contains("no table `experiments`"), "{problem}");

    let partial = dir.path().join("partial.db");
    writer(&partial)
        .execute_batch("CREATE TABLE experiments (experiment_id INTEGER, name TEXT, lifecycle_stage TEXT)")
        .unwrap();
    let (_, problem) = source_error(open(&partial, &[]));
    assert!(problem.contains("no table `runs`"), "{problem}");
}

#[test]
fn a_sqlite_store_missing_a_column_is_refused_naming_table_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_copy(dir.path());
    writer(&db)
        .execute_batch("ALTER TABLE runs DROP COLUMN user_id")
        .unwrap();
    let (path, problem) = source_error(open(&db, &[]));
    assert_eq!(path, db);
    assert_eq!(problem, "table `runs` has no column `user_id`");
}

#[test]
fn a_sqlite_cell_of_the_wrong_type_is_refused_naming_table_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_copy(dir.path());
    writer(&db)
        .execute_batch("UPDATE metrics SET step = 'ten' WHERE rowid = (SELECT min(rowid) FROM metrics)")
        .unwrap();
    let source = open_store(&db, &[]);
    let (path, problem) = source_error(read_source(source.as_ref()));
    assert_eq!(path, db);
    assert_eq!(
        problem,
        "table `metrics`, column `step`: expected an integer, found text `ten`"
    );
}

#[test]
fn a_locked_sqlite_store_is_an_error_not_a_wait_forever() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_copy(dir.path());
    let mut store = SqliteStore::open(db.clone(), &[], false).unwrap();
    store.set_busy_timeout(Duration::from_millis(200));
    let lock = writer(&db);
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let unit = &store.units().unwrap()[0];
    let (path, problem) = source_error(store.read(unit));
    assert_eq!(path, db);
    assert!(problem.contains("database is locked"), "{problem}");
    lock.execute_batch("ROLLBACK").unwrap();
    assert!(store.read(unit).is_ok());
}

#[test]
fn a_truncated_sqlite_store_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_copy(dir.path());
    let size = std::fs::metadata(&db).unwrap().len();
    for keep in [size * 9 / 10, size / 2, size / 10, 2048, 100] {
        let file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        file.set_len(keep).unwrap();
        drop(file);
        let result = open(&db, &[]).and_then(|source| read_source(source.expect("SQLite").as_ref()));
        let (path, problem) = source_error(result);
        assert_eq!(path, db, "{keep} bytes");
        assert!(
            problem.contains("malformed") || problem.contains("not a database"),
            "{keep} bytes: {problem}"
        );
    }
}

fn files_copy(dir: &Path) -> PathBuf {
    let root = dir.join("mlruns");
    copy_dir(&fixtures().join("mlruns"), &root);
    root
}

fn run_dir(root: &Path, name: &str) -> PathBuf {
    let run = expected()["files"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_name"] == name)
        .unwrap();
    root.join(run["experiment_id"].as_str().unwrap())
        .join(run["run_id"].as_str().unwrap())
}

#[test]
fn an_unreadable_meta_yaml_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = files_copy(dir.path());
    let meta = run_dir(&root, "resnet-b").join("meta.yaml");
    std::fs::write(&meta, "run_id: [unclosed\nstatus: 3\n").unwrap();
    let source = open_store(&root, &[]);
    let (path, problem) = source_error(source.units());
    assert_eq!(path, meta);
    assert!(problem.starts_with("not valid YAML"), "{problem}");

    std::fs::write(&meta, "- a list\n- not a mapping\n").unwrap();
    let (path, problem) = source_error(source.units());
    assert_eq!(
        (path, problem.as_str()),
        (meta.clone(), "expected a mapping of keys to values")
    );

    std::fs::write(&meta, [0xff, 0xfe, 0x00]).unwrap();
    let (path, problem) = source_error(source.units());
    assert_eq!((path, problem.as_str()), (meta.clone(), "not UTF-8 text"));

    // An experiment's meta.yaml is read when the store opens.
    let experiment_meta = root.join(experiment_id("files", "vision")).join("meta.yaml");
    std::fs::write(&experiment_meta, "").unwrap();
    let (path, problem) = source_error(open(&root, &[]));
    assert_eq!((path, problem.as_str()), (experiment_meta, "empty"));
}

#[test]
fn a_bad_metric_line_is_refused_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = files_copy(dir.path());
    let loss = run_dir(&root, "resnet-b").join("metrics/loss");
    let text = std::fs::read_to_string(&loss).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2] = "1767226203000 abc 2".to_string();
    std::fs::write(&loss, lines.join("\n") + "\n").unwrap();
    let source = open_store(&root, &[]);
    let result: Result<Vec<_>, _> = source.units().unwrap().iter().map(|u| source.read(u)).collect();
    let error = result.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: line 3: expected \"timestamp value [step]\", found \"1767226203000 abc 2\"",
            loss.display()
        )
    );
    assert!(error.to_string().contains("metrics/loss: line 3: "));

    lines[2] = "1767226203000 0.5 2 extra".to_string();
    std::fs::write(&loss, lines.join("\n") + "\n").unwrap();
    let result: Result<Vec<_>, _> = source.units().unwrap().iter().map(|u| source.read(u)).collect();
    let (path, problem) = source_error(result);
    assert_eq!(path, loss);
    assert!(problem.starts_with("line 3: expected"), "{problem}");

    // A last line without its newline is a write under way: left out, with a warning.
    lines[2] = "1767226203000 inf 2".to_string();
    std::fs::write(&loss, lines.join("\n") + "\n17672262").unwrap();
    let read = read_source(source.as_ref()).unwrap();
    assert_eq!(read.warnings.len(), 1, "{:?}", read.warnings);
    assert!(read.warnings[0].contains("line 6"), "{:?}", read.warnings);
}

#[test]
fn runs_whose_meta_yaml_disagrees_with_their_directory_are_left_out_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let root = files_copy(dir.path());
    let meta = run_dir(&root, "resnet-c").join("meta.yaml");
    let text = std::fs::read_to_string(&meta).unwrap();
    let vision = experiment_id("files", "vision");
    std::fs::write(
        &meta,
        text.replace(&format!("experiment_id: '{vision}'"), "experiment_id: '42'"),
    )
    .unwrap();
    let read = read_source(open_store(&root, &[]).as_ref()).unwrap();
    assert!(!run_names(&read).contains("resnet-c"));
    assert_eq!(read.warnings.len(), 1);
    assert!(
        read.warnings[0].contains("records experiment `42`"),
        "{:?}",
        read.warnings
    );
}

// Reading never writes.

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every entry under `dir`: directories as `None`, files with their bytes and modification
/// time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<(Vec<u8>, std::time::SystemTime)>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            out.insert(path.clone(), None);
            out.extend(snapshot(&path));
        } else {
            let modified = entry.metadata().unwrap().modified().unwrap();
            out.insert(path.clone(), Some((std::fs::read(&path).unwrap(), modified)));
        }
    }
    out
}

/// Fails naming every entry that appeared, disappeared or changed.
fn assert_unchanged(
    before: &BTreeMap<PathBuf, Option<(Vec<u8>, std::time::SystemTime)>>,
    after: &BTreeMap<PathBuf, Option<(Vec<u8>, std::time::SystemTime)>>,
) {
    let paths: BTreeSet<&PathBuf> = before.keys().chain(after.keys()).collect();
    let changed: Vec<String> = paths
        .into_iter()
        .filter(|p| before.get(*p) != after.get(*p))
        .map(|p| match (before.contains_key(p), after.contains_key(p)) {
            (false, _) => format!("new: {}", p.display()),
            (_, false) => format!("gone: {}", p.display()),
            _ => format!("changed: {}", p.display()),
        })
        .collect();
    assert!(changed.is_empty(), "reading wrote to the store: {changed:#?}");
}

fn read_everything(path: &Path) {
    for wanted in [&[][..], &["vision"][..]] {
        let source = open_store(path, wanted);
        read_source(source.as_ref()).unwrap();
    }
}

#[test]
fn reading_a_sqlite_store_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_copy(dir.path());
    let before = snapshot(dir.path());
    read_everything(&db);
    read_everything(Path::new(&format!("sqlite:///{}", db.display())));
    assert_unchanged(&before, &snapshot(dir.path()));
}

#[test]
fn reading_a_sqlite_store_in_wal_mode_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_copy(dir.path());
    let mode: String = writer(&db)
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // Closing the last connection removed the -wal and -shm files.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let before = snapshot(dir.path());
    read_everything(&db);
    assert_unchanged(&before, &snapshot(dir.path()));
    let read = read_source(open_store(&db, &[]).as_ref()).unwrap();
    compare(&read, "sqlite");
}

#[test]
fn reading_a_file_store_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = files_copy(dir.path());
    let before = snapshot(dir.path());
    read_everything(&root);
    assert_unchanged(&before, &snapshot(dir.path()));
}

/// A run row for the SQLite store, as MLflow would insert it.
fn insert_run(conn: &rusqlite::Connection, id: &str) {
    conn.execute(
        "INSERT INTO runs (run_uuid, name, source_type, user_id, status, start_time, lifecycle_stage, experiment_id) \
         VALUES (?1, ?1, 'LOCAL', 'zoe', 'RUNNING', 1767225600000, 'active', 1)",
        [id],
    )
    .unwrap();
}

#[test]
fn a_sqlite_store_being_written_gives_what_was_committed() {
    for wal in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_copy(dir.path());
        let conn = writer(&db);
        if wal {
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                .unwrap();
        }
        insert_run(&conn, "committed");
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        insert_run(&conn, "uncommitted");
        let source = open_store(&db, &[]);
        let units = source.units().unwrap();
        assert_eq!(
            units[0].files.len(),
            if wal { 2 } else { 1 },
            "the -wal file is the unit's"
        );
        let read = read_source(source.as_ref()).unwrap();
        let runs = read.of(ObjectKind::Runs);
        assert!(runs.contains_key("committed"), "wal {wal}");
        assert!(!runs.contains_key("uncommitted"), "wal {wal}");
        conn.execute_batch("COMMIT").unwrap();
        let read = read_source(source.as_ref()).unwrap();
        assert!(read.of(ObjectKind::Runs).contains_key("uncommitted"), "wal {wal}");
    }
}
