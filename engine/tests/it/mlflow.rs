//! The MLflow fixtures (tests/mlflow: a SQLite store and a file store that MLflow 3.17.2
//! wrote, with `expected.json`, what MLflow's own client answered for each) through the
//! whole engine: opened by path, indexed or not, queried. The source's own tests
//! (src/source/mlflow/tests.rs) check what the reader gives; these check the answers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::arrow::util::display::array_value_to_string;
use datasets::layout::ObjectKind;
use engine::{Engine, FetchOptions, IndexLocation, LoadError, LoadOptions, SourceOptions, Trashed};
use serde_json::Value;

use crate::common::{block_on, scratch_dir};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mlflow")
}

/// MLflow's answers for one store (`sqlite` or `files`).
fn expected(store: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()[store].clone()
}

/// The fixture of a store, as `--data` names it.
fn path(store: &str) -> PathBuf {
    match store {
        "sqlite" => fixtures().join("mlflow.db"),
        _ => fixtures().join("mlruns"),
    }
}

fn open_with(store: &str, index: IndexLocation, experiments: &[&str]) -> Result<Engine, LoadError> {
    let options = LoadOptions {
        index,
        source: SourceOptions {
            experiments: experiments.iter().map(|e| e.to_string()).collect(),
            ..SourceOptions::default()
        },
        ..LoadOptions::default()
    };
    Engine::open_with(path(store), &options)
}

fn all() -> FetchOptions {
    FetchOptions {
        trashed: Trashed::All,
        ..FetchOptions::default()
    }
}

fn ids(engine: &Engine, kind: ObjectKind, query: &str, options: &FetchOptions) -> Vec<String> {
    let mut ids = block_on(engine.fetch(kind, query, options, None)).unwrap().ids();
    ids.sort();
    ids
}

fn sorted<'a>(ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut ids: Vec<String> = ids.into_iter().map(String::from).collect();
    ids.sort();
    ids
}

/// `columns` of every object of a table, by id, each value as the engine's Arrow display
/// gives it (None when missing).
fn values(engine: &Engine, kind: ObjectKind, columns: &[String]) -> BTreeMap<String, Vec<Option<String>>> {
    let options = FetchOptions {
        columns: Some(columns.to_vec()),
        ..all()
    };
    let result = block_on(engine.fetch(kind, "", &options, None)).unwrap();
    let batch = concat_batches(&result.schema, &result.batches).unwrap();
    let ids = cast(batch.column(0), &DataType::Utf8).unwrap();
    (0..batch.num_rows())
        .map(|row| {
            let cells = (1..batch.num_columns())
                .map(|c| {
                    let column = batch.column(c);
                    column
                        .is_valid(row)
                        .then(|| array_value_to_string(column, row).unwrap())
                })
                .collect();
            (ids.as_string::<i32>().value(row).to_string(), cells)
        })
        .collect()
}

/// A value of `expected.json` (metric values are strings: `nan`, `inf`, `1e+308`).
fn number(v: &Value) -> f64 {
    v.as_str().unwrap().parse().unwrap()
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

/// NQL's aggregates of a metric's history (docs/nql.md): `last` at the highest step, then
/// the latest timestamp, then the largest value; IEEE totalOrder for `max` (NaN is the
/// greatest) and `min` (NaN skipped unless every point is NaN); `average` and population
/// `variance` NaN with a NaN point, `variance` NaN with an infinite one.
fn aggregates(history: &[Value]) -> [f64; 5] {
    let points: Vec<(f64, i64, f64)> = history
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_i64().unwrap(), number(&p[2])))
        .collect();
    let last = points
        .iter()
        .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.total_cmp(&b.2)))
        .unwrap()
        .2;
    let values: Vec<f64> = points.iter().map(|p| p.2).collect();
    let max = values.iter().copied().max_by(f64::total_cmp).unwrap();
    let min = values
        .iter()
        .copied()
        .filter(|v| !v.is_nan())
        .min_by(f64::total_cmp)
        .unwrap_or(f64::NAN);
    let n = values.len() as f64;
    let average = values.iter().map(|v| v / n).sum::<f64>();
    let variance = if values.iter().any(|v| v.is_infinite()) {
        f64::NAN
    } else {
        values
            .iter()
            .map(|v| (v - average) * (v - average) / n)
            .sum::<f64>()
    };
    [last, min, max, average, variance]
}

const AGGREGATES: [&str; 5] = ["last", "min", "max", "average", "variance"];

/// Whether an experiment of the store is deleted, by id.
fn deleted_experiments(expected: &Value) -> BTreeSet<String> {
    expected["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["lifecycle_stage"] == "deleted")
        .map(|e| e["experiment_id"].as_str().unwrap().to_string())
        .collect()
}

fn run_id(run: &Value) -> &str {
    run["run_id"].as_str().unwrap()
}

fn check(store: &str, engine: &Engine) {
    let expected = expected(store);
    let runs = expected["runs"].as_array().unwrap();
    let kind = match store {
        "sqlite" => "MLflow SQLite store",
        _ => "MLflow file store",
    };
    assert_eq!(engine.kind(), kind);

    // Every run; the trash is deleted runs and the runs of deleted experiments.
    assert_eq!(
        ids(engine, ObjectKind::Runs, "", &all()),
        sorted(runs.iter().map(run_id))
    );
    let deleted = deleted_experiments(&expected);
    let trashed: Vec<&Value> = runs
        .iter()
        .filter(|r| {
            r["lifecycle_stage"] == "deleted" || deleted.contains(r["experiment_id"].as_str().unwrap())
        })
        .collect();
    assert!(!trashed.is_empty());
    let only = FetchOptions {
        trashed: Trashed::Only,
        ..FetchOptions::default()
    };
    assert_eq!(
        ids(engine, ObjectKind::Runs, "", &only),
        sorted(trashed.iter().map(|r| run_id(r)))
    );

    // The run's own attributes, as MLflow gave them.
    let columns: Vec<String> = [
        "sys/name",
        "sys/owner",
        "sys/mlflow/status",
        "sys/experiment/id",
        "sys/failed",
        "sys/state",
    ]
    .map(String::from)
    .to_vec();
    let got = values(engine, ObjectKind::Runs, &columns);
    for run in runs {
        let status = run["status"].as_str().unwrap();
        let want = [
            run["run_name"].as_str().map(String::from),
            run["user_id"]
                .as_str()
                .filter(|u| !u.is_empty())
                .map(String::from),
            Some(status.to_string()),
            Some(run["experiment_id"].as_str().unwrap().to_string()),
            Some(matches!(status, "FAILED" | "KILLED").to_string()),
            Some(
                if matches!(status, "RUNNING" | "SCHEDULED") {
                    "active"
                } else {
                    "inactive"
                }
                .to_string(),
            ),
        ];
        assert_eq!(got[run_id(run)], want, "{store} {}", run_id(run));
    }

    // Params: typed by their text; a query for each value finds its run.
    for run in runs {
        for (key, text) in run["params"].as_object().unwrap() {
            let text = text.as_str().unwrap();
            let (ty, literal) = if text.parse::<i64>().is_ok() {
                ("int", text.to_string())
            } else if let Ok(f) = text.parse::<f64>() {
                // Rust reads `inf`, `infinity` and `nan` in any case, as MLflow's typing does.
                ("float", format!("{f:e}"))
            } else if text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false") {
                ("bool", text.to_lowercase())
            } else {
                ("string", serde_json::to_string(text).unwrap())
            };
            let query = format!("`params/{key}`:{ty} = {literal}");
            let found = ids(engine, ObjectKind::Runs, &query, &all());
            assert!(
                found.contains(&run_id(run).to_string()),
                "{store}: {query} finds {found:?}"
            );
        }
    }

    // Metrics: every aggregate of every history, then a threshold query on each.
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    for run in runs {
        keys.extend(run["history"].as_object().unwrap().keys().map(String::as_str));
    }
    for key in keys {
        let path = format!("metrics/{key}");
        let want: BTreeMap<&str, [f64; 5]> = runs
            .iter()
            .filter_map(|r| Some((run_id(r), aggregates(r["history"].get(key)?.as_array()?))))
            .collect();
        // `last` is MLflow's own latest value.
        for run in runs {
            if let Some(latest) = run["metrics"].get(key) {
                assert!(same(want[run_id(run)][0], number(latest)), "{store} {path}: last");
            }
        }
        let options = FetchOptions {
            columns: Some(AGGREGATES.iter().map(|a| format!("{a}({path})")).collect()),
            ..all()
        };
        let result = block_on(engine.fetch_runs_table("", &options)).unwrap();
        let batch = concat_batches(&result.schema, &result.batches).unwrap();
        let ids_column = cast(batch.column(0), &DataType::Utf8).unwrap();
        for row in 0..batch.num_rows() {
            let run = ids_column.as_string::<i32>().value(row);
            for (k, name) in AGGREGATES.iter().enumerate() {
                let column = batch.column(k + 1).as_primitive::<Float64Type>();
                match want.get(run) {
                    None => assert!(column.is_null(row), "{store} {run} has no {path}"),
                    Some(w) => assert!(
                        column.is_valid(row) && same(column.value(row), w[k]),
                        "{store} {run} {name}({path}): {:?}, MLflow's points say {}",
                        column.is_valid(row).then(|| column.value(row)),
                        w[k]
                    ),
                }
            }
        }
        for (k, name) in AGGREGATES.iter().enumerate() {
            let mut finite: Vec<f64> = want.values().map(|w| w[k]).filter(|v| v.is_finite()).collect();
            finite.sort_by(f64::total_cmp);
            finite.dedup();
            if finite.len() < 2 {
                continue;
            }
            let t = (finite[finite.len() / 2 - 1] + finite[finite.len() / 2]) / 2.0;
            let query = format!("{name}(`{path}`) > {t:e}");
            let selected = sorted(
                want.iter()
                    .filter(|(_, w)| w[k].total_cmp(&t).is_gt())
                    .map(|(r, _)| *r),
            );
            assert_eq!(
                ids(engine, ObjectKind::Runs, &query, &all()),
                selected,
                "{store}: {query}"
            );
        }
    }

    // Registered models and their versions (MLflow leaves deleted versions out).
    let models = expected["models"].as_array().unwrap();
    assert_eq!(
        ids(engine, ObjectKind::Models, "", &all()),
        sorted(models.iter().map(|m| m["name"].as_str().unwrap()))
    );
    let versions = expected["model_versions"].as_array().unwrap();
    let version_id = |v: &Value| {
        format!(
            "{}/{}",
            v["name"].as_str().unwrap(),
            v["version"].as_str().unwrap()
        )
    };
    let mut all_versions: Vec<String> = versions.iter().map(version_id).collect();
    all_versions.sort();
    assert_eq!(ids(engine, ObjectKind::ModelVersions, "", &all()), all_versions);
    let got = values(
        engine,
        ObjectKind::ModelVersions,
        &["sys/stage".into(), "sys/model_id".into(), "run_id".into()],
    );
    for v in versions {
        assert_eq!(
            got[&version_id(v)],
            [
                Some(v["current_stage"].as_str().unwrap().to_lowercase()),
                Some(v["name"].as_str().unwrap().to_string()),
                v["run_id"].as_str().map(String::from),
            ],
            "{store} {}",
            version_id(v)
        );
        for alias in v["aliases"].as_array().unwrap() {
            let query = format!("`aliases`:stringSet CONTAINS {alias}");
            assert_eq!(
                ids(engine, ObjectKind::ModelVersions, &query, &all()),
                [version_id(v)],
                "{store}: {query}"
            );
        }
    }
    let resnet = block_on(engine.fetch_model_versions_table(Some("resnet"), "", &all()))
        .unwrap()
        .ids();
    let mut resnet = resnet;
    resnet.sort();
    assert_eq!(
        resnet,
        all_versions
            .iter()
            .filter(|v| v.starts_with("resnet/"))
            .cloned()
            .collect::<Vec<_>>()
    );
}

#[test]
fn the_sqlite_store_answers_as_mlflow_did() {
    let index = open_with("sqlite", IndexLocation::Dir(scratch_dir("mlflow-sqlite")), &[]).unwrap();
    check("sqlite", &index);
    check("sqlite", &open_with("sqlite", IndexLocation::None, &[]).unwrap());
}

#[test]
fn the_file_store_answers_as_mlflow_did() {
    let index = open_with("files", IndexLocation::Dir(scratch_dir("mlflow-files")), &[]).unwrap();
    check("files", &index);
    check("files", &open_with("files", IndexLocation::None, &[]).unwrap());
}

#[test]
fn experiments_restrict_the_runs_and_an_unknown_one_lists_them_all() {
    for store in ["sqlite", "files"] {
        let expected = expected(store);
        let experiments = expected["experiments"].as_array().unwrap();
        let vision = experiments.iter().find(|e| e["name"] == "vision").unwrap();
        let scratch = experiments.iter().find(|e| e["name"] == "scratch").unwrap();
        let runs_of = |e: &Value| {
            expected["runs"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["experiment_id"] == e["experiment_id"])
                .map(|r| r["run_id"].as_str().unwrap())
                .collect::<Vec<_>>()
        };
        // By name and by id; a deleted experiment can be named.
        let by = [
            vision["name"].as_str().unwrap(),
            scratch["experiment_id"].as_str().unwrap(),
        ];
        let engine = open_with(
            store,
            IndexLocation::Dir(scratch_dir(&format!("mlflow-{store}-some"))),
            &by,
        )
        .unwrap();
        let mut want = runs_of(vision);
        want.extend(runs_of(scratch));
        assert_eq!(
            ids(&engine, ObjectKind::Runs, "", &all()),
            sorted(want),
            "{store}"
        );
        // Models belong to no experiment and are always read.
        assert_eq!(
            engine.num_objects(ObjectKind::Models),
            Some(expected["models"].as_array().unwrap().len())
        );
        match open_with(store, IndexLocation::None, &["no-such-experiment"]) {
            Err(LoadError::Choice(message)) => {
                for e in experiments {
                    assert!(message.contains(e["name"].as_str().unwrap()), "{message}");
                }
            }
            other => panic!("{store}: {other:?}"),
        }
    }
}
