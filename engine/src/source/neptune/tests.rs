//! The export reader against the sample exports' truth.json (every run, experiment and
//! attribute), one test per class of bad input, and generated exports read back.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, Schema, TimestampMillisecondType,
};
use datafusion::parquet::arrow::ArrowWriter;
use datasets::layout::{ObjectKind, split_column_name};
use datasets::neptune_export::{
    ExportRows, ExportSpec, ParamValue, RowValue, export_schema, step_to_decimal, write_export,
};
use serde_json::Value as Json;

use super::*;

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/neptune-export")
}

fn truth(sample: &str) -> Json {
    serde_json::from_slice(&std::fs::read(samples().join(sample).join("truth.json")).unwrap()).unwrap()
}

fn open_sample(sample: &str) -> NeptuneExport {
    open(&samples().join(sample).join("data"), None, None)
        .unwrap()
        .expect("an export")
}

fn unit<'a>(units: &'a [Unit], label: &str) -> &'a Unit {
    units
        .iter()
        .find(|u| u.label == label)
        .unwrap_or_else(|| panic!("no unit {label}"))
}

/// A float series as the reference computes it from the points.
#[derive(Debug)]
struct Agg {
    count: usize,
    first_step: f64,
    last_step: f64,
    last: f64,
    min: f64,
    max: f64,
    average: f64,
    variance: f64,
}

/// spec/nql.md section 2: last by step, then timestamp, then value; max is NaN when any point
/// is; min skips NaN unless all are; average and variance are NaN with a NaN point.
fn aggregate(points: &[(f64, Option<i64>, f64)]) -> Agg {
    let last = points
        .iter()
        .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.total_cmp(&b.2)))
        .unwrap();
    let values: Vec<f64> = points.iter().map(|p| p.2).collect();
    let n = values.len() as f64;
    let average = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - average) * (v - average)).sum::<f64>() / n;
    let finite: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    Agg {
        count: points.len(),
        first_step: points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min),
        last_step: points.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max),
        last: last.2,
        min: if finite.is_empty() {
            f64::NAN
        } else {
            finite.iter().copied().fold(f64::INFINITY, f64::min)
        },
        max: values.iter().copied().max_by(f64::total_cmp).unwrap(),
        average,
        variance,
    }
}

fn number(j: &Json) -> Option<f64> {
    match j {
        Json::Number(n) => n.as_f64(),
        Json::String(s) if s == "NaN" => Some(f64::NAN),
        Json::String(s) if s == "Infinity" => Some(f64::INFINITY),
        Json::String(s) if s == "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

fn same_float(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b
}

fn close(a: f64, b: f64, relative: f64) -> bool {
    same_float(a, b) || (a - b).abs() <= relative * b.abs().max(1e-300)
}

/// A unit's object row and points, by column and by series path.
struct Read {
    id: String,
    columns: HashMap<String, ArrayRef>,
    floats: HashMap<String, Vec<(f64, Option<i64>, f64)>>,
    strings: HashMap<String, Vec<(f64, Option<i64>, String)>>,
}

fn collect(data: &UnitData, kind: ObjectKind) -> Read {
    assert_eq!(data.objects.len(), 1);
    let (k, batch) = &data.objects[0];
    assert_eq!(*k, kind);
    assert_eq!(batch.num_rows(), 1);
    assert_eq!(batch.schema().field(0).name(), "sys/id");
    let id = batch.column(0).as_string::<i32>().value(0).to_string();
    let mut columns = HashMap::new();
    for (i, f) in batch.schema().fields().iter().enumerate().skip(1) {
        assert!(
            split_column_name(f.name()).1.is_some(),
            "{} has a type suffix",
            f.name()
        );
        if batch.column(i).is_valid(0) {
            columns.insert(f.name().clone(), batch.column(i).clone());
        }
    }
    let mut floats: HashMap<String, Vec<_>> = HashMap::new();
    for (k, b) in &data.float_points {
        assert_eq!(*k, kind);
        let (ids, paths) = (utf8(b.column(0)), utf8(b.column(1)));
        let (ids, paths) = (ids.as_string::<i32>(), paths.as_string::<i32>());
        let steps = b.column(2).as_primitive::<Float64Type>();
        let values = b.column(3).as_primitive::<Float64Type>();
        let ts = b.column(4).as_primitive::<TimestampMillisecondType>();
        for r in 0..b.num_rows() {
            assert_eq!(ids.value(r), id);
            let t = ts.is_valid(r).then(|| ts.value(r));
            floats
                .entry(paths.value(r).to_string())
                .or_default()
                .push((steps.value(r), t, values.value(r)));
        }
    }
    let mut strings: HashMap<String, Vec<_>> = HashMap::new();
    for (k, b) in &data.string_points {
        assert_eq!(*k, kind);
        let paths = utf8(b.column(1));
        let paths = paths.as_string::<i32>();
        let steps = b.column(2).as_primitive::<Float64Type>();
        let values = b.column(3).as_string::<i32>();
        let ts = b.column(4).as_primitive::<TimestampMillisecondType>();
        for r in 0..b.num_rows() {
            let t = ts.is_valid(r).then(|| ts.value(r));
            strings.entry(paths.value(r).to_string()).or_default().push((
                steps.value(r),
                t,
                values.value(r).to_string(),
            ));
        }
    }
    Read {
        id,
        columns,
        floats,
        strings,
    }
}

fn ms(iso: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(iso)
        .unwrap()
        .timestamp_millis()
}

/// Checks one floatSeries attribute of truth.json against the points read.
fn check_float_series(who: &str, path: &str, t: &Json, points: Option<&Vec<(f64, Option<i64>, f64)>>) {
    let points = points.unwrap_or_else(|| panic!("{who}: no points for {path}"));
    let agg = aggregate(points);
    let lossy = t.get("in_export").is_some();
    assert_eq!(
        agg.count as u64,
        t["count"].as_u64().unwrap(),
        "{who} {path} count"
    );
    if !lossy {
        assert_eq!(
            agg.first_step,
            t["first_step"].as_f64().unwrap(),
            "{who} {path} first_step"
        );
        assert_eq!(
            agg.last_step,
            t["last_step"].as_f64().unwrap(),
            "{who} {path} last_step"
        );
    }
    for (name, ours, exact) in [
        ("last", agg.last, true),
        ("min", agg.min, true),
        ("max", agg.max, true),
        ("average", agg.average, false),
        ("variance", agg.variance, false),
    ] {
        // A null aggregate in truth.json makes no claim.
        let Some(expected) = number(&t[name]) else {
            continue;
        };
        // truth.json's numbers are within an ulp or two of the exported values.
        let ok = close(ours, expected, if exact { 1e-15 } else { 1e-10 });
        assert!(ok, "{who} {path} {name}: {ours} vs {expected}");
    }
}

/// Every attribute of a truth.json run against what the reader gives for it.
fn check_run(who: &str, run: &Json, read: &Read, lineage: Option<&Json>) {
    assert_eq!(read.id, run["sys_id"].as_str().unwrap(), "{who}: sys/id");
    let mut expected: BTreeSet<String> = BTreeSet::new();
    for a in run["attributes"].as_array().unwrap() {
        let path = a["path"].as_str().unwrap();
        let ty = a["type"].as_str().unwrap();
        let marker = a.get("in_export").and_then(Json::as_str);
        let col = |t: &str| read.columns.get(&format!("{path}:{t}"));
        let lossy_nan =
            ty == "float" && marker == Some("lossy") && number(&a["value"]).is_some_and(f64::is_nan);
        match ty {
            _ if path == "sys/id" => {
                assert_eq!(a["value"].as_str().unwrap(), read.id);
                continue;
            }
            _ if lossy_nan => {
                // NaN parameters are written as null: indistinguishable from phantom rows.
                assert!(
                    col("float").is_none(),
                    "{who} {path}: a NaN parameter reads as absent"
                );
                continue;
            }
            "experimentState" => {
                assert_eq!(a["value"], "idle");
                let c = col("experimentState").unwrap_or_else(|| panic!("{who}: no sys/state"));
                assert_eq!(c.as_string::<i32>().value(0), "inactive", "idle is inactive");
            }
            "string" => {
                let c = col("string").unwrap_or_else(|| panic!("{who}: no {path}:string"));
                assert_eq!(
                    c.as_string::<i32>().value(0),
                    a["value"].as_str().unwrap(),
                    "{who} {path}"
                );
            }
            "int" => {
                let c = col("int").unwrap_or_else(|| panic!("{who}: no {path}:int"));
                let v = c.as_primitive::<Int64Type>().value(0);
                if marker == Some("lossy") {
                    // Widened through float64 by pandas: 2**53 + 1 became 2**53.
                    assert_eq!(v as f64, a["value"].as_u64().unwrap() as f64, "{who} {path}");
                    assert_eq!(v, 1 << 53);
                } else {
                    assert_eq!(v, a["value"].as_i64().unwrap(), "{who} {path}");
                }
            }
            "float" => {
                let c = col("float").unwrap_or_else(|| panic!("{who}: no {path}:float"));
                let v = c.as_primitive::<Float64Type>().value(0);
                assert!(same_float(v, number(&a["value"]).unwrap()), "{who} {path}: {v}");
            }
            "bool" => {
                let c = col("bool").unwrap_or_else(|| panic!("{who}: no {path}:bool"));
                assert_eq!(
                    c.as_boolean().value(0),
                    a["value"].as_bool().unwrap(),
                    "{who} {path}"
                );
            }
            "datetime" => {
                let c = col("datetime").unwrap_or_else(|| panic!("{who}: no {path}:datetime"));
                assert_eq!(
                    c.data_type(),
                    &DataType::Timestamp(
                        datafusion::arrow::datatypes::TimeUnit::Millisecond,
                        Some("UTC".into())
                    )
                );
                let v = c.as_primitive::<TimestampMillisecondType>().value(0);
                assert_eq!(v, ms(a["value"].as_str().unwrap()), "{who} {path}");
            }
            "stringSet" => {
                let c = col("stringSet").unwrap_or_else(|| panic!("{who}: no {path}:stringSet"));
                let list = c.as_list::<i32>().value(0);
                let ours: Vec<&str> = list.as_string::<i32>().iter().flatten().collect();
                let theirs: Vec<&str> = a["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert_eq!(ours, theirs, "{who} {path}: sorted sets");
            }
            "floatSeries" => {
                let t = lineage.and_then(|l| l.get(path)).unwrap_or(a);
                check_float_series(who, path, t, read.floats.get(path));
                expected.insert(format!("{path}:floatSeries"));
                continue;
            }
            "stringSeries" => {
                let points = read
                    .strings
                    .get(path)
                    .unwrap_or_else(|| panic!("{who}: no {path}"));
                assert_eq!(points.len() as u64, a["count"].as_u64().unwrap(), "{who} {path}");
                let last = points
                    .iter()
                    .max_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)))
                    .unwrap();
                assert_eq!(last.2, a["last"].as_str().unwrap(), "{who} {path}");
                assert_eq!(last.0, a["last_step"].as_f64().unwrap(), "{who} {path}");
                expected.insert(format!("{path}:stringSeries"));
                continue;
            }
            "fileRef" | "fileSet" => {
                let c = col("fileRef").unwrap_or_else(|| panic!("{who}: no {path}:fileRef"));
                let rel = a.get("file").or_else(|| a.get("dir")).unwrap().as_str().unwrap();
                assert_eq!(c.as_string::<i32>().value(0), rel, "{who} {path}");
                expected.insert(format!("{path}:fileRef"));
                continue;
            }
            "fileRefSeries" | "histogramSeries" => {
                let c = col(ty).unwrap_or_else(|| panic!("{who}: no {path}:{ty}"));
                assert!(c.as_boolean().value(0), "{who} {path}");
            }
            "artifact" => {
                assert_eq!(marker, Some("derived"));
                let c = col("artifact").unwrap_or_else(|| panic!("{who}: no {path}:artifact"));
                assert_eq!(
                    c.as_string::<i32>().value(0),
                    a["value"].as_str().unwrap(),
                    "{who} {path}"
                );
            }
            other => panic!("{who}: a truth type {other} the test does not know"),
        }
        expected.insert(format!("{path}:{ty}"));
    }
    // Every run reads as inactive (sys/state is in no export).
    if !expected.contains("sys/state:experimentState") {
        let c = read.columns.get("sys/state:experimentState").expect("sys/state");
        assert_eq!(c.as_string::<i32>().value(0), "inactive");
        expected.insert("sys/state:experimentState".into());
    }
    // Nothing more: phantom rows made no attribute, no series came from nowhere.
    let mut ours: BTreeSet<String> = read.columns.keys().cloned().collect();
    ours.extend(read.floats.keys().map(|p| format!("{p}:floatSeries")));
    ours.extend(read.strings.keys().map(|p| format!("{p}:stringSeries")));
    if lineage.is_some() {
        // An ancestor's series that the head never logged is part of the experiment: only
        // float series may be more than the head's own.
        let missing: Vec<_> = expected.difference(&ours).collect();
        assert!(missing.is_empty(), "{who}: missing {missing:?}");
        let extra: Vec<_> = ours
            .difference(&expected)
            .filter(|c| !c.ends_with(":floatSeries"))
            .collect();
        assert!(extra.is_empty(), "{who}: extra {extra:?}");
    } else {
        assert_eq!(ours, expected, "{who}: the attributes");
    }
}

#[test]
fn the_2x_sample_reads_as_neptune_answered() {
    let export = open_sample("v2-vision");
    assert_eq!(export.version(), NeptuneVersion::V2);
    assert_eq!(export.project_id(), "acme/vision");
    assert_eq!(export.describe(), "Neptune 2.x export of acme/vision");
    assert!(
        export
            .files_dir()
            .ends_with("v2-vision/files/acme_vision-d9b30734d12af1cd")
    );
    let units = export.units().unwrap();
    let truth = truth("v2-vision");
    let runs = truth["runs"].as_array().unwrap();
    assert_eq!(units.len(), runs.len());
    for run in runs {
        let label = format!("acme/vision {}", run["file_prefix"].as_str().unwrap());
        let u = unit(&units, &label);
        let expected: Vec<PathBuf> = run["parquet_files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| samples().join("v2-vision").join(f.as_str().unwrap()))
            .collect();
        assert_eq!(u.files, expected);
        let data = export.read(u).unwrap();
        assert!(data.warnings.is_empty(), "{:?}", data.warnings);
        check_run(&label, run, &collect(&data, ObjectKind::Runs), None);
    }
}

#[test]
fn the_3x_sample_runs_read_as_neptune_answered() {
    let export = open_sample("v3-llm");
    assert_eq!(export.version(), NeptuneVersion::V3);
    assert_eq!(export.project_id(), "acme/llm");
    let units = export.units().unwrap();
    let truth = truth("v3-llm");
    let runs = truth["runs"].as_array().unwrap();
    let heads = runs.iter().filter(|r| r["is_head"] == true).count();
    assert_eq!(units.len(), runs.len() + heads);
    for run in runs {
        let label = format!("acme/llm {}", run["file_prefix"].as_str().unwrap());
        let data = export.read(unit(&units, &label)).unwrap();
        // A fork's run row holds only its own points (what the export holds).
        check_run(&label, run, &collect(&data, ObjectKind::Runs), None);
    }
}

#[test]
fn the_3x_experiments_hold_the_lineage() {
    let export = open_sample("v3-llm");
    let units = export.units().unwrap();
    let truth = truth("v3-llm");
    let runs = truth["runs"].as_array().unwrap();
    let mut seen = 0;
    for run in runs.iter().filter(|r| r["is_head"] == true) {
        let run_id = run["run_id"].as_str().unwrap();
        let u = unit(&units, &format!("acme/llm experiment {run_id}"));
        let data = export.read(u).unwrap();
        let read = collect(&data, ObjectKind::Experiments);
        check_run(
            run_id,
            run,
            &read,
            Some(run.get("lineage_aggregates").unwrap_or(&Json::Null)),
        );
        if let Some(parent) = run["fork_parent"].as_str() {
            let parent = runs.iter().find(|r| r["run_id"] == parent).unwrap();
            let prefix = parent["file_prefix"].as_str().unwrap();
            assert!(
                u.files.iter().any(|f| f.to_string_lossy().contains(prefix)),
                "the parent's files"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 1, "the sample has one forked head");
}

#[test]
fn every_fork_lineage_matches_the_truth() {
    // The lineage of every fork, as its experiment would show it were it the head.
    let export = open_sample("v3-llm");
    let plan = export.plan().unwrap();
    let truth = truth("v3-llm");
    let mut forks = 0;
    for run in truth["runs"].as_array().unwrap() {
        let Some(lineage) = run.get("lineage_aggregates") else {
            continue;
        };
        let index = plan.by_run_id[run["run_id"].as_str().unwrap()];
        let mut data = UnitData::default();
        export.read_experiment(&plan, index, &mut data).unwrap();
        let read = collect(&data, ObjectKind::Experiments);
        for (path, t) in lineage.as_object().unwrap() {
            check_float_series(run["run_id"].as_str().unwrap(), path, t, read.floats.get(path));
        }
        forks += 1;
    }
    assert_eq!(forks, 10);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

#[test]
fn the_layout_is_detected_from_the_project_dir_or_the_data_root() {
    let data = samples().join("v2-vision/data");
    let project_dir = data.join("acme_vision-d9b30734d12af1cd");
    let a = open(&data, None, None).unwrap().unwrap();
    let b = open(&project_dir, Some("acme/vision"), None).unwrap().unwrap();
    assert_eq!(a.project_dir(), b.project_dir());
    assert_eq!(a.files_dir(), b.files_dir());
    assert!(matches!(
        open(&project_dir, Some("acme/llm"), None),
        Err(LoadError::Choice(_))
    ));
    // Not an export: the caller tries other formats.
    let conformance = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/data");
    assert!(open(&conformance, None, None).unwrap().is_none());
    let empty = tempfile::tempdir().unwrap();
    assert!(open(empty.path(), None, None).unwrap().is_none());
    assert!(
        open(&samples().join("v2-vision/truth.json"), None, None)
            .unwrap()
            .is_none()
    );
    // --files: the files root, or the project's own files directory.
    let files = samples().join("v2-vision/files");
    let c = open(&data, None, Some(&files)).unwrap().unwrap();
    assert_eq!(c.files_dir(), a.files_dir());
    let d = open(&data, None, Some(&files.join("acme_vision-d9b30734d12af1cd")))
        .unwrap()
        .unwrap();
    assert_eq!(d.files_dir(), a.files_dir());
}

#[test]
fn a_root_of_several_projects_needs_a_choice() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    copy_dir(&samples().join("v2-vision/data"), &data);
    copy_dir(&samples().join("v3-llm/data"), &data);
    let e = open(&data, None, None).unwrap_err();
    assert!(matches!(e, LoadError::Choice(_)));
    let message = e.to_string();
    assert!(
        message.contains("`acme/vision`") && message.contains("`acme/llm`"),
        "{message}"
    );
    let e = open(&data, Some("acme/nope"), None).unwrap_err();
    assert!(e.to_string().contains("no project `acme/nope`"), "{e}");
    let llm = open(&data, Some("acme/llm"), None).unwrap().unwrap();
    assert_eq!(llm.version(), NeptuneVersion::V3);
    assert_eq!(
        llm.files_dir(),
        root.path().join("files/acme_llm-902607528de5d98f")
    );
}

#[test]
fn an_artifact_without_its_files_list_reads_as_absent() {
    let empty = tempfile::tempdir().unwrap();
    let export = open(&samples().join("v2-vision/data"), None, Some(empty.path()))
        .unwrap()
        .unwrap();
    let units = export.units().unwrap();
    let truth = truth("v2-vision");
    let run = truth["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["type"] == "artifact")
        })
        .unwrap();
    // Another files directory than the exporter's is part of every unit's label, so that an
    // index built with one is not taken for the other; the exporter's own, given or not, is
    // not.
    let u = unit(
        &units,
        &format!(
            "acme/vision {} (files {})",
            run["file_prefix"].as_str().unwrap(),
            empty.path().canonicalize().unwrap().display()
        ),
    );
    for files in [None, Some(samples().join("v2-vision/files"))] {
        let default = open(&samples().join("v2-vision/data"), None, files.as_deref())
            .unwrap()
            .unwrap();
        let label = format!("acme/vision {}", run["file_prefix"].as_str().unwrap());
        unit(&default.units().unwrap(), &label);
    }
    let data = export.read(u).unwrap();
    let read = collect(&data, ObjectKind::Runs);
    assert!(!read.columns.contains_key("datasets/train:artifact"));
    assert!(
        read.columns.contains_key("model/summary:fileRef"),
        "files are still referenced"
    );
    assert_eq!(data.warnings.len(), 1);
    assert!(
        data.warnings[0].contains("was not downloaded"),
        "{:?}",
        data.warnings
    );
}

// ---- small exports written here ----

const PROJECT: &str = "ws/proj";

/// A valid run: `sys/id`, a parameter, a phantom row, three points (one NaN, one hole).
fn good_rows(run_id: &str) -> ExportRows {
    let mut rows = ExportRows::new(PROJECT, run_id);
    rows.param("sys/id", &ParamValue::String(format!("ID-{run_id}")));
    rows.param("params/lr", &ParamValue::Float(0.1));
    rows.phantom("params/dropout", "float", None);
    rows.float_point("loss", step_to_decimal(0.0), 1000, 2.0);
    rows.float_point("loss", step_to_decimal(1.5), 2000, f64::NAN);
    rows.push(
        "loss",
        "float_series",
        Some(step_to_decimal(2.0)),
        None,
        RowValue::None,
    );
    rows
}

fn write_batch(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// An export root with one project directory; returns (root, project dir).
fn small_export() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root
        .path()
        .join("data")
        .join(datasets::neptune_export::sanitize_path_part(PROJECT));
    std::fs::create_dir_all(&dir).unwrap();
    (root, dir)
}

fn part(dir: &Path, run_id: &str, n: usize) -> PathBuf {
    dir.join(format!(
        "{}_part_{n}.parquet",
        datasets::neptune_export::sanitize_path_part(run_id)
    ))
}

/// Opens the export and reads every unit.
fn read_all(dir: &Path) -> Result<Vec<UnitData>, LoadError> {
    let export = open(dir, None, None)?.expect("an export");
    export.units()?.iter().map(|u| export.read(u)).collect()
}

/// A batch with one column replaced (or removed when `array` is None).
fn with_column(batch: &RecordBatch, name: &str, array: Option<ArrayRef>) -> RecordBatch {
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if f.name() != name {
            fields.push(f.as_ref().clone());
            columns.push(c.clone());
        } else if let Some(a) = &array {
            fields.push(Field::new(name, a.data_type().clone(), true));
            columns.push(a.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn expect_error(dir: &Path, needles: &[&str]) -> LoadError {
    let Err(e) = read_all(dir) else {
        panic!("{}: the export was not refused", dir.display())
    };
    let message = e.to_string();
    for needle in needles {
        assert!(message.contains(needle), "`{needle}` not in: {message}");
    }
    e
}

#[test]
fn a_small_export_reads_nan_points_and_skips_holes_and_phantoms() {
    let (_root, dir) = small_export();
    write_batch(&part(&dir, "r1", 0), &good_rows("r1").finish());
    let data = read_all(&dir).unwrap();
    let read = collect(&data[0], ObjectKind::Runs);
    assert_eq!(read.id, "ID-r1");
    assert!(read.columns.contains_key("params/lr:float"));
    assert!(
        !read.columns.contains_key("params/dropout:float"),
        "a phantom row is no attribute"
    );
    assert!(
        !read.columns.contains_key("sys/id:string"),
        "sys/id is the id column"
    );
    let loss = &read.floats["loss"];
    assert_eq!(
        loss.len(),
        2,
        "a row with neither value nor timestamp is no point"
    );
    assert_eq!(loss[1].0, 1.5);
    assert!(loss[1].2.is_nan(), "a null value with a timestamp is a NaN point");
}

#[test]
fn parts_are_read_in_order_and_tmp_files_and_incomplete_runs_are_left_out() {
    let (_root, dir) = small_export();
    let mut p0 = ExportRows::new(PROJECT, "r1");
    p0.param("sys/id", &ParamValue::String("ID-1".into()));
    p0.string_point("log", step_to_decimal(0.0), 5, "first");
    let mut p1 = ExportRows::new(PROJECT, "r1");
    p1.string_point("log", step_to_decimal(1.0), 6, "second");
    write_batch(&part(&dir, "r1", 0), &p0.finish());
    write_batch(&part(&dir, "r1", 1), &p1.finish());
    // A leftover of this run, and a run still being written.
    std::fs::write(dir.join("garbage_part_2.parquet.tmp"), b"not parquet").unwrap();
    write_batch(&part(&dir, "r2", 1), &good_rows("r2").finish());
    std::fs::write(part(&dir, "r2", 0).with_extension("parquet.tmp"), b"half").unwrap();
    std::fs::write(dir.join("r3-0_part_0.parquet.tmp"), b"half").unwrap();
    let export = open(&dir, None, None).unwrap().unwrap();
    let units = export.units().unwrap();
    assert_eq!(units.len(), 1);
    assert_eq!(units[0].files, vec![part(&dir, "r1", 0), part(&dir, "r1", 1)]);
    let data = export.read(&units[0]).unwrap();
    assert!(data.warnings.is_empty(), "{:?}", data.warnings);
    let warnings = export.warnings();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("3 runs still being written"), "{warnings:?}");
    let read = collect(&data, ObjectKind::Runs);
    let log: Vec<&str> = read.strings["log"].iter().map(|e| e.2.as_str()).collect();
    assert_eq!(log, ["first", "second"]);
}

#[test]
fn a_missing_column_is_refused() {
    let (_root, dir) = small_export();
    write_batch(
        &part(&dir, "r1", 0),
        &with_column(&good_rows("r1").finish(), "histogram_value", None),
    );
    let e = expect_error(&dir, &["_part_0.parquet", "histogram_value", "missing"]);
    assert!(matches!(e, LoadError::Column { .. }));
}

#[test]
fn a_mistyped_column_is_refused() {
    let (_root, dir) = small_export();
    let batch = good_rows("r1").finish();
    let steps: ArrayRef = Arc::new(Float64Array::from(vec![
        None,
        None,
        None,
        Some(0.0),
        Some(1.5),
        Some(2.0),
    ]));
    write_batch(&part(&dir, "r1", 0), &with_column(&batch, "step", Some(steps)));
    expect_error(
        &dir,
        &["_part_0.parquet", "`step`", "Float64", "decimal128(18, 6)"],
    );
}

#[test]
fn an_unknown_attribute_type_is_refused() {
    let (_root, dir) = small_export();
    let mut rows = good_rows("r1");
    rows.push("source_code/git", "git_ref", None, None, RowValue::String("main"));
    write_batch(&part(&dir, "r1", 0), &rows.finish());
    expect_error(
        &dir,
        &[
            "_part_0.parquet",
            "`attribute_type`",
            "unknown attribute type `git_ref`",
            "source_code/git",
        ],
    );
}

#[test]
fn rows_of_two_runs_in_one_file_are_refused() {
    let (_root, dir) = small_export();
    let a = good_rows("r1").finish();
    let b = good_rows("r2").finish();
    let both = datafusion::arrow::compute::concat_batches(&export_schema(), &[a, b]).unwrap();
    write_batch(&part(&dir, "r1", 0), &both);
    expect_error(&dir, &["_part_0.parquet", "`run_id`", "two runs", "`r1`", "`r2`"]);
}

#[test]
fn parts_of_two_runs_are_refused() {
    let (_root, dir) = small_export();
    write_batch(&part(&dir, "r1", 0), &good_rows("r1").finish());
    write_batch(&part(&dir, "r1", 1), &good_rows("r9").finish());
    expect_error(&dir, &["_part_1.parquet", "`run_id`", "`r9`", "`r1`"]);
}

#[test]
fn a_value_in_the_wrong_column_is_refused() {
    let (_root, dir) = small_export();
    let mut rows = good_rows("r1");
    rows.push("params/epochs", "int", None, None, RowValue::Float(3.0));
    write_batch(&part(&dir, "r1", 0), &rows.finish());
    expect_error(
        &dir,
        &["_part_0.parquet", "`float_value`", "params/epochs", "`int_value`"],
    );
}

#[test]
fn a_corrupt_part_is_an_error_not_a_panic() {
    let (_root, dir) = small_export();
    write_batch(&part(&dir, "r1", 0), &good_rows("r1").finish());
    let mut bytes = std::fs::read(part(&dir, "r1", 0)).unwrap();
    let n = bytes.len();
    for b in &mut bytes[8..n - 12] {
        *b ^= 0x5a;
    }
    std::fs::write(part(&dir, "r1", 1), &bytes).unwrap();
    let e = expect_error(&dir, &["_part_1.parquet"]);
    assert!(
        matches!(e, LoadError::Parquet { .. } | LoadError::Column { .. }),
        "{e:?}"
    );
    std::fs::write(part(&dir, "r1", 1), b"PAR1 truncated").unwrap();
    expect_error(&dir, &["_part_1.parquet"]);
}

#[test]
fn a_missing_part_is_refused() {
    let (_root, dir) = small_export();
    write_batch(&part(&dir, "r1", 0), &good_rows("r1").finish());
    write_batch(&part(&dir, "r1", 2), &ExportRows::new(PROJECT, "r1").finish());
    let e = open(&dir, None, None).unwrap_err();
    assert!(e.to_string().contains("_part_1.parquet: missing"), "{e}");
}

#[test]
fn a_file_of_another_project_is_refused() {
    let (_root, dir) = small_export();
    write_batch(&part(&dir, "r1", 0), &good_rows("r1").finish());
    let mut other = ExportRows::new("ws/other", "r2");
    other.param("sys/id", &ParamValue::String("X".into()));
    write_batch(&part(&dir, "r2", 0), &other.finish());
    expect_error(&dir, &["`project_id`", "`ws/other`", "`ws/proj`"]);
}

#[test]
fn generated_exports_read_back() {
    for spec in [
        ExportSpec {
            runs: 20,
            incomplete_runs: 3,
            points_per_series: 30,
            threads: 2,
            ..ExportSpec::neptune2()
        },
        ExportSpec {
            runs: 40,
            incomplete_runs: 1,
            experiments: 5,
            fork_rate: 0.7,
            points_per_series: 30,
            part_bytes: 2_000,
            batch_rows: 100,
            threads: 2,
            ..ExportSpec::neptune3()
        },
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let summary = write_export(&spec, tmp.path(), |_| {}).unwrap();
        let export = open(&tmp.path().join("data"), Some("workspace/generated"), None)
            .unwrap()
            .unwrap();
        assert_eq!(export.version(), spec.version);
        assert_eq!(export.files_dir(), summary.files_dir);
        let units = export.units().unwrap();
        let mut counts: HashMap<ObjectKind, u64> = HashMap::new();
        let (mut points, mut entries, mut warned) = (0u64, 0u64, false);
        for u in &units {
            let data = export.read(u).unwrap();
            let kind = data.objects[0].0;
            *counts.entry(kind).or_default() += 1;
            if kind == ObjectKind::Runs {
                points += data
                    .float_points
                    .iter()
                    .map(|(_, b)| b.num_rows() as u64)
                    .sum::<u64>();
                entries += data
                    .string_points
                    .iter()
                    .map(|(_, b)| b.num_rows() as u64)
                    .sum::<u64>();
            }
            warned |= export
                .warnings()
                .iter()
                .any(|w| w.contains(&format!("{} run", spec.incomplete_runs)));
            assert!(
                data.warnings.iter().all(|w| !w.contains("not downloaded")),
                "{:?}",
                data.warnings
            );
        }
        assert!(warned, "the incomplete runs are reported");
        assert_eq!(counts[&ObjectKind::Runs], summary.runs);
        assert_eq!(points, summary.float_points);
        assert_eq!(entries, summary.string_entries);
        assert_eq!(
            counts.get(&ObjectKind::Experiments).copied().unwrap_or(0),
            summary.experiments
        );
        assert_eq!(
            counts.get(&ObjectKind::Models).copied().unwrap_or(0),
            summary.models
        );
        assert_eq!(
            counts.get(&ObjectKind::ModelVersions).copied().unwrap_or(0),
            summary.model_versions
        );
        if spec.version == NeptuneVersion::V3 {
            assert!(summary.forks > 0 && summary.experiments == 5);
            let runs_of = |u: &Unit| {
                u.files
                    .iter()
                    .map(|f| {
                        f.file_name()
                            .unwrap()
                            .to_string_lossy()
                            .split("_part_")
                            .next()
                            .unwrap()
                            .to_string()
                    })
                    .collect::<BTreeSet<_>>()
                    .len()
            };
            assert!(
                units.iter().any(|u| runs_of(u) == 1 && u.files.len() > 1),
                "runs of several parts"
            );
            let lineage = units.iter().map(runs_of).max().unwrap();
            assert!(
                lineage > 2,
                "an experiment with a lineage of several levels: {lineage}"
            );
        }
    }
}

#[test]
fn runs_without_parameter_rows_are_listed() {
    // A 3.x export made with `--classes` of series only for some runs: no parameter row
    // groups to read the run id from.
    let (_root, dir) = small_export();
    let mut head = good_rows("r1");
    head.param("sys/experiment/is_head", &ParamValue::Bool(true));
    head.param("sys/experiment/name", &ParamValue::String("e".into()));
    write_batch(&part(&dir, "r1", 0), &head.finish());
    for run in ["r2", "r3"] {
        let mut series = ExportRows::new(PROJECT, run);
        series.float_point("loss", step_to_decimal(1.0), 7, 0.5);
        write_batch(&part(&dir, run, 0), &series.finish());
    }
    let export = open(&dir, None, None).unwrap().unwrap();
    assert_eq!(export.version(), NeptuneVersion::V3);
    let units = export.units().unwrap();
    assert_eq!(units.len(), 4, "three runs and one experiment");
    let data = export.read(&units[2]).unwrap();
    assert_eq!(collect(&data, ObjectKind::Runs).id, "r3", "no sys/id: the run id");
}

/// A string column (plain or dictionary-encoded, as sources give points) as plain strings.
fn utf8(a: &datafusion::arrow::array::ArrayRef) -> datafusion::arrow::array::ArrayRef {
    datafusion::arrow::compute::cast(a, &datafusion::arrow::datatypes::DataType::Utf8).unwrap()
}

#[test]
fn a_row_group_skips_only_the_value_columns_its_metadata_proves_empty() {
    // Row group 0: the run's parameters; row group 1: float points only, one of them with an
    // empty string set in `string_set_value` (no leaf value, but a set list).
    let (_root, dir) = small_export();
    let path = part(&dir, "r1", 0);
    let mut params = good_rows("r1");
    params.param("sys/tags", &ParamValue::StringSet(vec!["a".into()]));
    let params = params.finish();
    let mut points = ExportRows::new(PROJECT, "r1");
    for step in 0..10 {
        points.float_point("acc", step_to_decimal(step as f64), 1000 + step, 0.5);
    }
    let bare = points.finish();
    points.float_point("acc", step_to_decimal(10.0), 2000, 0.5);
    points.push(
        "acc",
        "float_series",
        Some(step_to_decimal(11.0)),
        Some(2001),
        RowValue::StringSet(&[]),
    );
    let tainted = points.finish();
    let write = |second: &RecordBatch| {
        let file = std::fs::File::create(&path).unwrap();
        let mut w = ArrowWriter::try_new(file, params.schema(), None).unwrap();
        w.write(&params).unwrap();
        w.flush().unwrap();
        w.write(second).unwrap();
        w.close().unwrap();
    };
    // Whether row group `g` of the part holds no string set, by its metadata.
    let no_set_in = |g: usize| {
        let file = std::fs::File::open(&path).unwrap();
        let reader = datafusion::parquet::file::reader::SerializedFileReader::new(file).unwrap();
        let metadata = datafusion::parquet::file::reader::FileReader::metadata(&reader);
        let fields = metadata
            .file_metadata()
            .schema_descr()
            .root_schema()
            .get_fields()
            .to_vec();
        let root = fields
            .iter()
            .position(|f| f.name() == "string_set_value")
            .unwrap();
        read::holds_no_value(metadata, g, root)
    };

    write(&bare);
    assert!(!no_set_in(0), "sys/tags is set in row group 0");
    assert!(no_set_in(1), "no set in the points' row group");
    let data = read_all(&dir).unwrap();
    assert_eq!(collect(&data[0], ObjectKind::Runs).floats["acc"].len(), 10);

    write(&tainted);
    assert!(!no_set_in(1), "an empty list is a value");
    expect_error(
        &dir,
        &["_part_0.parquet", "`string_set_value`", "acc", "`float_value`"],
    );
}

#[test]
fn key_columns_of_any_string_type_and_encoding_read_alike() {
    // The key columns are read dictionary-encoded: a file that stores them as large strings
    // or string views, or without a dictionary (a writer's fallback), reads the same.
    let (_root, dir) = small_export();
    write_batch(&part(&dir, "r1", 0), &good_rows("r1").finish());
    let expected = collect(&read_all(&dir).unwrap()[0], ObjectKind::Runs);
    for ty in [DataType::LargeUtf8, DataType::Utf8View] {
        let mut batch = good_rows("r1").finish();
        for name in ["project_id", "run_id", "attribute_path", "attribute_type"] {
            let column = datafusion::arrow::compute::cast(batch.column_by_name(name).unwrap(), &ty).unwrap();
            batch = with_column(&batch, name, Some(column));
        }
        let props = datafusion::parquet::file::properties::WriterProperties::builder()
            .set_dictionary_enabled(false)
            .build();
        let file = std::fs::File::create(part(&dir, "r1", 0)).unwrap();
        let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let read = collect(&read_all(&dir).unwrap()[0], ObjectKind::Runs);
        assert_eq!(read.id, expected.id, "{ty}");
        // Compared as text: a NaN point equals itself there.
        assert_eq!(
            format!("{:?}", read.floats),
            format!("{:?}", expected.floats),
            "{ty}"
        );
        let mut names: Vec<_> = read.columns.keys().collect();
        names.sort();
        let mut expected_names: Vec<_> = expected.columns.keys().collect();
        expected_names.sort();
        assert_eq!(names, expected_names, "{ty}");
        for (name, column) in &expected.columns {
            assert_eq!(read.columns[name].as_ref(), column.as_ref(), "{ty}: {name}");
        }
    }
}

#[test]
fn decimal_steps_convert_exactly_beyond_an_i64() {
    use datafusion::arrow::array::Decimal128Array;
    // decimal(18, 6) fits an i64; a wider decimal takes the i128 path, with the same rounding.
    let narrow = Decimal128Array::from(vec![0i128, 1_500_000, -2_000_000, 999_999_999_999_999_999]);
    assert_eq!(
        read::decimal_steps(&narrow, 6),
        [0.0, 1.5, -2.0, 999_999_999_999_999_999f64 / 1e6]
    );
    let wide = Decimal128Array::from(vec![1_500_000i128, i64::MAX as i128 * 1_000]);
    assert_eq!(
        read::decimal_steps(&wide, 6),
        [1.5, (i64::MAX as i128 * 1_000) as f64 / 1e6]
    );
}
