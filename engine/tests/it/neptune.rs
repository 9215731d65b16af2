//! The two sample neptune-exporter exports (tests/neptune-export, with `truth.json`: what
//! Neptune itself answered) through the whole engine: opened, indexed, queried.

use std::collections::BTreeMap;
use std::path::PathBuf;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datasets::layout::ObjectKind;
use engine::{Engine, FetchOptions, IndexLocation, LoadOptions, Trashed};
use serde_json::Value;

use crate::common::{block_on, scratch_dir};

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/neptune-export")
        .join(name)
}

fn truth(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(sample(name).join("truth.json")).unwrap()).unwrap()
}

fn open(name: &str) -> Engine {
    let options = LoadOptions {
        index: IndexLocation::Dir(scratch_dir(&format!("neptune-{name}"))),
        ..LoadOptions::default()
    };
    Engine::open_with(sample(name).join("data"), &options).unwrap()
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) if s == "NaN" => f64::NAN,
        Value::String(s) if s == "Infinity" => f64::INFINITY,
        Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
        other => panic!("not a number: {other}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// For every run, the truth's float series aggregates: (sys/id, path) → [last, average, max,
/// min, variance], series that the export holds unchanged only.
fn series_truth(truth: &Value) -> BTreeMap<(String, String), [f64; 5]> {
    let mut out = BTreeMap::new();
    for run in truth["runs"].as_array().unwrap() {
        for a in run["attributes"].as_array().unwrap() {
            if a["type"] != "floatSeries" || a.get("in_export").is_some() {
                continue;
            }
            let aggregates = ["last", "average", "max", "min", "variance"].map(|k| number(&a[k]));
            out.insert(
                (
                    run["sys_id"].as_str().unwrap().to_string(),
                    a["path"].as_str().unwrap().to_string(),
                ),
                aggregates,
            );
        }
    }
    out
}

fn check(name: &str) {
    let engine = open(name);
    let truth = truth(name);
    assert!(engine.kind().contains("Neptune"), "{}", engine.kind());
    let runs = truth["runs"].as_array().unwrap();
    let options = FetchOptions {
        trashed: Trashed::All,
        ..FetchOptions::default()
    };
    let mut ids = block_on(engine.fetch_runs_table("", &options)).unwrap().ids();
    ids.sort();
    let mut expected: Vec<String> = runs
        .iter()
        .map(|r| r["sys_id"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    assert_eq!(ids, expected, "{name}: every run");

    let truth = series_truth(&truth);
    let paths: Vec<String> = {
        let mut p: Vec<String> = truth.keys().map(|(_, p)| p.clone()).collect();
        p.sort();
        p.dedup();
        p
    };
    // Every aggregate of every run, as the engine gives it.
    for path in &paths {
        let columns: Vec<String> = ["last", "average", "max", "min", "variance"]
            .iter()
            .map(|a| format!("{a}({path})"))
            .collect();
        let o = FetchOptions {
            columns: Some(columns),
            ..options.clone()
        };
        let result = block_on(engine.fetch_runs_table("", &o)).unwrap();
        let batch = concat_batches(&result.schema, &result.batches).unwrap();
        let ids = cast(batch.column(0), &DataType::Utf8).unwrap();
        for row in 0..batch.num_rows() {
            let id = ids.as_string::<i32>().value(row).to_string();
            let Some(want) = truth.get(&(id.clone(), path.clone())) else {
                continue;
            };
            for (k, w) in want.iter().enumerate() {
                let got = batch.column(k + 1).as_primitive::<Float64Type>();
                assert!(got.is_valid(row), "{name} {id} {path}: aggregate {k} is missing");
                assert!(
                    close(got.value(row), *w),
                    "{name} {id} {path}: aggregate {k}: {} vs {w}",
                    got.value(row)
                );
            }
        }
        // A query on the median of each aggregate selects what the truth says.
        for (k, agg) in ["last", "average", "max", "min", "variance"].iter().enumerate() {
            let mut values: Vec<f64> = truth
                .iter()
                .filter(|((_, p), _)| p == path)
                .map(|(_, a)| a[k])
                .filter(|v| v.is_finite())
                .collect();
            if values.is_empty() {
                continue;
            }
            values.sort_by(f64::total_cmp);
            // Halfway between two neighbours about the median, never on a value itself: the
            // truth is printed from Neptune's floats, which can be an ulp off the export's.
            let at = values.len() / 2;
            let Some(next) = values[at..].iter().copied().find(|v| !close(*v, values[at])) else {
                continue;
            };
            let median = (values[at] + next) / 2.0;
            let mut got =
                block_on(engine.fetch_runs_table(&format!("{agg}(`{path}`) > {median:e}"), &options))
                    .unwrap()
                    .ids();
            got.sort();
            let mut want: Vec<String> = truth
                .iter()
                .filter(|((_, p), a)| p == path && a[k].total_cmp(&median) == std::cmp::Ordering::Greater)
                .map(|((id, _), _)| id.clone())
                .collect();
            want.sort();
            // Runs whose series the export changed are left out of the comparison.
            got.retain(|id| truth.contains_key(&(id.clone(), path.clone())));
            assert_eq!(got, want, "{name}: {agg}({path}) > {median}");
        }
    }
}

#[test]
fn the_2x_sample_answers_as_neptune_did() {
    check("v2-vision");
}

#[test]
fn the_3x_sample_answers_as_neptune_did() {
    check("v3-llm");
    let engine = open("v3-llm");
    let heads: Vec<String> = truth("v3-llm")["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["is_head"] == true)
        .map(|r| r["sys_id"].as_str().unwrap().to_string())
        .collect();
    let options = FetchOptions {
        trashed: Trashed::All,
        ..FetchOptions::default()
    };
    let mut got = block_on(engine.fetch(ObjectKind::Experiments, "", &options, None))
        .unwrap()
        .ids();
    got.sort();
    let mut heads = heads;
    heads.sort();
    assert_eq!(got, heads, "the experiments are the head runs");
}

#[test]
fn the_samples_open_without_an_index_too() {
    for name in ["v2-vision", "v3-llm"] {
        let options = LoadOptions {
            index: IndexLocation::None,
            ..LoadOptions::default()
        };
        let memory = Engine::open_with(sample(name).join("data"), &options).unwrap();
        let indexed = open(name);
        assert_eq!(memory.kind(), indexed.kind());
        let all = FetchOptions {
            trashed: Trashed::All,
            ..FetchOptions::default()
        };
        // Every column (series as their last values), in the same order.
        for kind in indexed.tables() {
            let rows = |e: &Engine| {
                let r = block_on(e.fetch(kind, "", &all, None)).unwrap();
                datafusion::arrow::util::pretty::pretty_format_batches(&r.batches)
                    .unwrap()
                    .to_string()
            };
            assert_eq!(rows(&memory), rows(&indexed), "{name} {kind:?}");
        }
    }
}

/// The runs' `datasets/train` artifact hashes, by id (missing ones left out).
fn artifacts(engine: &Engine) -> BTreeMap<String, String> {
    let options = FetchOptions {
        trashed: Trashed::All,
        columns: Some(vec!["datasets/train".into()]),
        ..FetchOptions::default()
    };
    let result = block_on(engine.fetch_runs_table("", &options)).unwrap();
    let batch = concat_batches(&result.schema, &result.batches).unwrap();
    let ids = cast(batch.column(0), &DataType::Utf8).unwrap();
    let hashes = cast(batch.column(1), &DataType::Utf8).unwrap();
    (0..batch.num_rows())
        .filter(|&row| hashes.is_valid(row))
        .map(|row| {
            (
                ids.as_string::<i32>().value(row).to_string(),
                hashes.as_string::<i32>().value(row).to_string(),
            )
        })
        .collect()
}

#[test]
fn another_files_directory_is_not_answered_from_an_index_built_with_the_first() {
    let want: BTreeMap<String, String> = truth("v2-vision")["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            let a = r["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["path"] == "datasets/train")?;
            Some((
                r["sys_id"].as_str()?.to_string(),
                a["value"].as_str()?.to_string(),
            ))
        })
        .collect();
    assert!(!want.is_empty());
    let index = scratch_dir("neptune-files-option");
    let open = |files: Option<PathBuf>| {
        let options = LoadOptions {
            index: IndexLocation::Dir(index.clone()),
            source: engine::SourceOptions {
                files,
                ..engine::SourceOptions::default()
            },
            ..LoadOptions::default()
        };
        Engine::open_with(sample("v2-vision").join("data"), &options).unwrap()
    };
    let nowhere = index.join("no-files-here");
    // Where the exporter puts them, then a directory without them, then the first again:
    // each answer is that directory's, whatever the index was built with before.
    assert_eq!(artifacts(&open(None)), want);
    assert_eq!(artifacts(&open(Some(nowhere.clone()))), BTreeMap::new());
    assert_eq!(artifacts(&open(None)), want);
    let files = sample("v2-vision").join("files");
    assert_eq!(artifacts(&open(Some(files))), want);
    assert_eq!(artifacts(&open(Some(nowhere))), BTreeMap::new());
}

/// Copies the directory tree at `from` to `to`.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_fresh_index_of_a_3x_export_opens_without_reading_a_run_file() {
    let scratch = scratch_dir("neptune-3x-fresh");
    let (export, index) = (scratch.join("export"), scratch.join("index"));
    copy_tree(&sample("v3-llm"), &export);
    let options = LoadOptions {
        index: IndexLocation::Dir(index),
        ..LoadOptions::default()
    };
    let all = FetchOptions {
        trashed: Trashed::All,
        ..FetchOptions::default()
    };
    let ids = |engine: &Engine, kind| block_on(engine.fetch(kind, "", &all, None)).unwrap().ids();
    let engine = Engine::open_with(export.join("data"), &options).unwrap();
    let (runs, experiments) = (
        ids(&engine, ObjectKind::Runs),
        ids(&engine, ObjectKind::Experiments),
    );
    assert!(!runs.is_empty() && !experiments.is_empty());
    drop(engine);
    // Every run file but the first overwritten with zeros, its size and time kept: an open
    // that read them (the lineage of the experiments is found by reading every run) would
    // fail. (Opening an export reads its first file: the project and the exporter version.)
    let mut files = Vec::new();
    for dir in std::fs::read_dir(export.join("data")).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "parquet") {
                files.push(f);
            }
        }
    }
    files.sort();
    assert!(files.len() >= runs.len(), "{files:?}");
    let files = files.split_off(1);
    for f in &files {
        let modified = std::fs::metadata(f).unwrap().modified().unwrap();
        let size = std::fs::metadata(f).unwrap().len() as usize;
        std::fs::write(f, vec![0u8; size]).unwrap();
        std::fs::File::options()
            .write(true)
            .open(f)
            .unwrap()
            .set_modified(modified)
            .unwrap();
    }
    let engine = Engine::open_with(export.join("data"), &options).unwrap();
    assert_eq!(ids(&engine, ObjectKind::Runs), runs);
    assert_eq!(ids(&engine, ObjectKind::Experiments), experiments);
    drop(engine);
    // A file whose time changed is looked at again: the zeros are refused, naming it.
    let touched = &files[0];
    std::fs::File::options()
        .write(true)
        .open(touched)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    let e = Engine::open_with(export.join("data"), &options)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&touched.file_name().unwrap().to_string_lossy().to_string()),
        "{e}"
    );
}
