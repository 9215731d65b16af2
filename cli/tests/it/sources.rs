//! Every command of the binary on each foreign source the repository holds samples of: the
//! two neptune-exporter exports (engine/tests/neptune-export, answers in `truth.json`) and
//! the MLflow SQLite and file stores (engine/tests/mlflow, answers in `expected.json`). The
//! expected ids come from those files; the sources are read where they lie and must be
//! unchanged afterwards, byte for byte, with no `_nql` directory in them (their indexes go to
//! a scratch `XDG_CACHE_HOME`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::{csv_ids, nql_cached};

fn engine_tests() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../engine/tests")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A number of `truth.json` (`NaN`, `Infinity` as strings) or `expected.json` (every metric
/// value as a string: `nan`, `-1.7976931348623157e+308`).
fn number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => s.parse().unwrap(),
        other => panic!("not a number: {other}"),
    }
}

/// A threshold between the two middle distinct finite values (never one of them, so that
/// printing and parsing it cannot move a value across).
fn threshold(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    values.sort_by(f64::total_cmp);
    values.dedup();
    assert!(values.len() >= 2, "too few values for a threshold: {values:?}");
    let at = values.len() / 2;
    (values[at - 1] + values[at]) / 2.0
}

fn sorted(ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort();
    ids
}

/// A query and the ids the sample's answers say it returns (trashed objects included).
#[derive(Debug)]
struct Case {
    /// Options before the query (`--table`, `--experiment`, ...).
    options: Vec<String>,
    query: String,
    want: Vec<String>,
}

impl Case {
    fn new(options: &[&str], query: impl Into<String>, want: Vec<String>) -> Case {
        Case {
            options: options.iter().map(|s| s.to_string()).collect(),
            query: query.into(),
            want,
        }
    }
}

/// One source and what its answers say.
struct Sample {
    /// For scratch directories.
    name: &'static str,
    /// What `--data` takes.
    data: PathBuf,
    /// The directory that must stay as it is.
    watched: PathBuf,
    /// The first line of `nql schema`.
    kind: &'static str,
    /// Every run's id, and those in the trash.
    runs: Vec<String>,
    trashed: BTreeSet<String>,
    /// A float series every run has, and a misspelling of it.
    series: &'static str,
    misspelled: &'static str,
    /// Queries on the runs table and other tables (the first must be on runs, with no
    /// options: it is also run by `bench`, `shell` and on the converted project).
    cases: Vec<Case>,
}

/// Every file and directory below `dir` with its contents and modification time.
type Snapshot = BTreeMap<PathBuf, Option<(Vec<u8>, std::time::SystemTime)>>;

fn snapshot(dir: &Path) -> Snapshot {
    let mut out = Snapshot::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            if entry.file_type().unwrap().is_dir() {
                out.insert(rel, None);
                todo.push(path);
            } else {
                let modified = entry.metadata().unwrap().modified().unwrap();
                out.insert(rel, Some((std::fs::read(&path).unwrap(), modified)));
            }
        }
    }
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Runs `nql` with `args`, expecting success; returns its output.
fn ok(cache: &Path, args: &[&str], input: &[u8]) -> Output {
    let o = nql_cached(cache, args, input);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
    o
}

/// The sorted ids of `query` with `options`, from `query --format csv`.
fn ids(cache: &Path, data: &str, options: &[&str], query: &str) -> Vec<String> {
    let mut args = vec!["query", "--data", data, "--columns", "sys/id", "--format", "csv"];
    args.extend_from_slice(options);
    args.extend(["--", query]);
    csv_ids(&ok(cache, &args, b""))
}

fn every_command(sample: Sample) {
    let before = snapshot(&sample.watched);
    let cache = crate::scratch_dir(&format!("sources-{}", sample.name));
    let d = sample.data.to_str().unwrap();
    let all = ["--trashed", "all"];

    // index: built into the user's cache, then up to date, then rebuilt.
    let o = ok(&cache, &["index", "--data", d], b"");
    let err = text(&o.stderr);
    let at = format!("index at {}", cache.join("nql/index").display());
    assert!(
        err.starts_with(&format!("indexed {d} in ")) && err.contains(&at),
        "{err}"
    );
    let o = ok(&cache, &["index", "--data", d], b"");
    assert!(text(&o.stderr).contains("is up to date"), "{}", text(&o.stderr));
    let o = ok(&cache, &["index", "--data", d, "--rebuild"], b"");
    assert!(text(&o.stderr).starts_with("indexed "), "{}", text(&o.stderr));

    // query: every run, the trash, and each case.
    assert_eq!(ids(&cache, d, &all, ""), sample.runs, "every run");
    let only = sorted(sample.trashed.iter().cloned());
    assert_eq!(ids(&cache, d, &["--trashed", "only"], ""), only, "the trash");
    let kept: Vec<String> = sample
        .runs
        .iter()
        .filter(|id| !sample.trashed.contains(*id))
        .cloned()
        .collect();
    assert_eq!(ids(&cache, d, &[], ""), kept, "trashed runs left out by default");
    for case in &sample.cases {
        let mut options: Vec<&str> = case.options.iter().map(String::as_str).collect();
        options.extend(all);
        assert!(
            !case.want.is_empty() && case.want.len() < sample.runs.len().max(4),
            "{case:?} selects too little or too much to say anything"
        );
        assert_eq!(ids(&cache, d, &options, &case.query), case.want, "{case:?}");
    }
    let first = &sample.cases[0];
    assert!(first.options.is_empty());
    // Without an index (summarized while opening) the answers are the same.
    let unindexed = ["--no-index", "--trashed", "all"];
    assert_eq!(ids(&cache, d, &unindexed, &first.query), first.want, "--no-index");
    let first_kept: Vec<String> = first
        .want
        .iter()
        .filter(|id| !sample.trashed.contains(*id))
        .cloned()
        .collect();

    // schema: the kind of source, the runs, a series with its type.
    let o = ok(&cache, &["schema", "--data", d], b"");
    let out = text(&o.stdout);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(sample.kind), "{out}");
    assert_eq!(
        lines.next().map(|l| l.split(',').next().unwrap().to_string()),
        Some(format!("runs: {} objects", sample.runs.len())),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains(&format!("│ {} ", sample.series)) && l.contains("floatSeries")),
        "{out}"
    );

    // check: the canonical form; an attribute the source lacks is warned about, with the
    // one it has suggested.
    let query = format!("last(`{}`) > 0 and `sys/failed`:bool == False", sample.misspelled);
    let o = ok(&cache, &["check", "--data", d, &query], b"");
    assert_eq!(
        text(&o.stdout).trim(),
        format!("last(`{}`) > 0 AND `sys/failed`:bool = False", sample.misspelled)
    );
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("did you mean `{}:floatSeries`", sample.series)),
        "{err}"
    );
    let o = nql_cached(
        &cache,
        &[
            "check",
            "--data",
            d,
            &format!("`{}`:floatSeries CONTAINS 1", sample.series),
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));

    // explain: the checked query and the scan over this source's runs.
    let o = ok(&cache, &["explain", "--data", d, "--", &first.query], b"");
    let out = text(&o.stdout);
    assert!(out.starts_with("Checked query:\n"), "{out}");
    assert!(
        out.contains(&format!("NqlScanExec: table=runs, rows={}", sample.runs.len())),
        "{out}"
    );

    // bench: the first query, timed; the ids it writes are the query's (trash left out).
    let ids_dir = cache.join("bench-ids");
    let o = ok(
        &cache,
        &[
            "bench",
            "--data",
            d,
            "--iterations",
            "2",
            "--json",
            "--ids-dir",
            ids_dir.to_str().unwrap(),
            &first.query,
        ],
        b"",
    );
    let report: Value = serde_json::from_str(&text(&o.stdout)).unwrap();
    assert_eq!(
        report["queries"][0]["rows"].as_u64(),
        Some(first_kept.len() as u64)
    );
    let written = std::fs::read_to_string(ids_dir.join("arg1.txt")).unwrap();
    assert_eq!(sorted(written.lines().map(String::from)), first_kept);

    // shell: commands and queries on standard input.
    let script = format!(
        ".columns sys/id\n.format csv\n.limit\n.trashed all\n{}\n.schema\n.quit\n",
        first.query
    );
    let o = ok(&cache, &["shell", "--data", d], script.as_bytes());
    let out = text(&o.stdout);
    let (csv, schema) = out.split_once(sample.kind).expect("the schema's first line");
    let shown = sorted(csv.lines().skip(1).map(String::from));
    assert_eq!(shown, first.want, "{out}");
    assert!(schema.contains(sample.series), "{out}");
    assert!(text(&o.stderr).is_empty(), "{}", text(&o.stderr));

    // convert: a native project that answers the same.
    let native = cache.join("converted");
    let o = ok(
        &cache,
        &["convert", "--data", d, "--out", native.to_str().unwrap()],
        b"",
    );
    let err = text(&o.stderr);
    assert!(
        err.starts_with(&format!("wrote {} runs", sample.runs.len())),
        "{err}"
    );
    let n = native.to_str().unwrap();
    assert_eq!(ids(&cache, n, &all, ""), sample.runs);
    assert_eq!(ids(&cache, n, &all, &first.query), first.want);
    let o = ok(&cache, &["schema", "--data", n], b"");
    assert!(
        text(&o.stdout).starts_with("a project in the native layout"),
        "{}",
        text(&o.stdout)
    );

    // The source is as it was, and holds no index.
    let after = snapshot(&sample.watched);
    assert!(
        !after
            .keys()
            .any(|p| p.components().any(|c| c.as_os_str() == "_nql")),
        "an _nql directory in {}",
        sample.watched.display()
    );
    let changed: Vec<&PathBuf> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .collect();
    assert!(
        changed.is_empty(),
        "changed in {}: {changed:?}",
        sample.watched.display()
    );
    assert!(cache.join("nql/index").is_dir());
}

/// A run's attributes in a `truth.json`, by (path, type).
type Attributes = BTreeMap<(String, String), Value>;

/// The runs of a `truth.json`: each one's id and attributes.
fn truth_runs(truth: &Value) -> Vec<(String, Attributes)> {
    truth["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| {
            let attributes = run["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    (
                        (
                            a["path"].as_str().unwrap().to_string(),
                            a["type"].as_str().unwrap().to_string(),
                        ),
                        a.clone(),
                    )
                })
                .collect();
            (run["sys_id"].as_str().unwrap().to_string(), attributes)
        })
        .collect()
}

/// Cases from a truth: `agg(series) > t` and `param:float > t`, thresholds between the
/// middle values of the runs' own.
fn truth_cases(truth: &Value, agg: &str, series: &str, param: &str) -> Vec<Case> {
    let runs = truth_runs(truth);
    let series_key = (series.to_string(), "floatSeries".to_string());
    let param_key = (param.to_string(), "float".to_string());
    let value = |attributes: &Attributes, key: &(String, String), field: &str| {
        attributes
            .get(key)
            .filter(|a| a.get("in_export").is_none())
            .map(|a| number(&a[field]))
    };
    let mut cases = Vec::new();
    for (key, field, query) in [
        (&series_key, agg, format!("{agg}(`{series}`)")),
        (&param_key, "value", format!("`{param}`:float")),
    ] {
        let t = threshold(runs.iter().filter_map(|(_, a)| value(a, key, field)));
        let want = sorted(
            runs.iter()
                .filter(|(_, a)| value(a, key, field).is_some_and(|v| v.total_cmp(&t).is_gt()))
                .map(|(id, _)| id.clone()),
        );
        cases.push(Case::new(&[], format!("{query} > {t}"), want));
    }
    cases
}

fn neptune_sample(
    name: &'static str,
    kind: &'static str,
    series: &'static str,
    param: &str,
) -> (Sample, Value) {
    let dir = engine_tests().join("neptune-export").join(name);
    let truth = read_json(&dir.join("truth.json"));
    let runs = truth_runs(&truth);
    let trashed = runs
        .iter()
        .filter(|(_, a)| {
            a.get(&("sys/trashed".into(), "bool".into()))
                .is_some_and(|t| t["value"] == true)
        })
        .map(|(id, _)| id.clone())
        .collect();
    let cases = truth_cases(&truth, "min", series, param);
    let sample = Sample {
        name,
        data: dir.join("data"),
        watched: dir.clone(),
        kind,
        runs: sorted(runs.iter().map(|(id, _)| id.clone())),
        trashed,
        series,
        misspelled: &series[..series.len() - 1],
        cases,
    };
    (sample, truth)
}

#[test]
fn every_command_on_the_2x_export() {
    let (mut sample, truth) = neptune_sample(
        "v2-vision",
        "Neptune 2.x export of acme/vision",
        "train/loss",
        "parameters/dropout",
    );
    // The project's own directory, as well as the data root.
    let project = truth["project_dir"].as_str().unwrap();
    let ids_in_project = {
        let cache = crate::scratch_dir("sources-v2-project");
        ids(
            &cache,
            sample.data.join(project).to_str().unwrap(),
            &["--trashed", "all"],
            "",
        )
    };
    assert_eq!(ids_in_project, sample.runs);
    sample.cases.push(Case::new(
        &[],
        "`sys/tags`:stringSet CONTAINS \"baseline\"",
        sorted(truth_runs(&truth).into_iter().filter_map(|(id, a)| {
            let tags = a.get(&("sys/tags".into(), "stringSet".into()))?;
            tags["value"]
                .as_array()?
                .iter()
                .any(|t| t == "baseline")
                .then_some(id)
        })),
    ));
    every_command(sample);
}

#[test]
fn every_command_on_the_3x_export() {
    let (mut sample, truth) = neptune_sample(
        "v3-llm",
        "Neptune 3.x export of acme/llm",
        "metrics/val/loss",
        "config/dropout",
    );
    // The experiments: the heads, with the lineage's points (truth's lineage_aggregates)
    // where the head is a fork.
    let heads: Vec<&Value> = truth["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["is_head"] == true)
        .collect();
    let path = "metrics/train/loss";
    let own = |run: &Value| -> f64 {
        number(
            &run["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["path"] == path)
                .unwrap()["max"],
        )
    };
    let max = |run: &Value| -> f64 {
        match run.get("lineage_aggregates").and_then(|l| l.get(path)) {
            Some(lineage) => number(&lineage["max"]),
            None => own(run),
        }
    };
    // Between a forked head's own maximum and its lineage's, so only the lineage selects it.
    let fork = heads
        .iter()
        .find(|r| r.get("lineage_aggregates").is_some())
        .expect("a head that is a fork");
    assert!(own(fork) < max(fork));
    let t = (own(fork) + max(fork)) / 2.0;
    let id = |r: &&Value| r["sys_id"].as_str().unwrap().to_string();
    sample.cases.push(Case::new(
        &["--table", "experiments"],
        "",
        sorted(heads.iter().map(id)),
    ));
    sample.cases.push(Case::new(
        &["--table", "experiments"],
        format!("max(`metrics/train/loss`) > {t}"),
        sorted(heads.iter().filter(|r| max(r) > t).map(id)),
    ));
    // The shell switches to them too.
    let cache = crate::scratch_dir("sources-v3-shell");
    let o = ok(
        &cache,
        &["shell", "--data", sample.data.to_str().unwrap()],
        b".table nope\n.table experiments\n.columns sys/id\n.format csv\n.limit\n`sys/id`:string EXISTS\n",
    );
    assert_eq!(
        sorted(text(&o.stdout).lines().skip(1).map(String::from)),
        sorted(heads.iter().map(id))
    );
    assert!(
        text(&o.stderr).contains("tables are runs, models, model_versions, experiments"),
        "{}",
        text(&o.stderr)
    );
    every_command(sample);
}

/// The answers MLflow's own client gave for one store of the fixtures.
fn mlflow_sample(store: &'static str, name: &'static str, data: PathBuf, kind: &'static str) -> Sample {
    let expected = read_json(&engine_tests().join("mlflow/expected.json"))[store].clone();
    let deleted_experiments: BTreeSet<&str> = expected["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["lifecycle_stage"] == "deleted")
        .map(|e| e["experiment_id"].as_str().unwrap())
        .collect();
    let runs = expected["runs"].as_array().unwrap();
    let id = |r: &Value| r["run_id"].as_str().unwrap().to_string();
    let trashed = runs
        .iter()
        .filter(|r| {
            r["lifecycle_stage"] == "deleted"
                || deleted_experiments.contains(r["experiment_id"].as_str().unwrap())
        })
        .map(id)
        .collect();
    // The latest value of a metric is `last`.
    let loss = |r: &Value| r["metrics"].get("loss").map(number);
    let t = threshold(runs.iter().filter_map(loss));
    let mut cases = vec![Case::new(
        &[],
        format!("last(`metrics/loss`) > {t}"),
        sorted(runs.iter().filter(|r| loss(r).is_some_and(|v| v > t)).map(id)),
    )];
    // A param reads as a float when it is not an int and parses as one.
    let lr = |r: &Value| {
        let text = r["params"].get("lr")?.as_str()?;
        text.parse::<i64>()
            .is_err()
            .then(|| text.parse::<f64>().ok())
            .flatten()
    };
    let t = threshold(runs.iter().filter_map(lr));
    cases.push(Case::new(
        &[],
        format!("`params/lr`:float > {t}"),
        sorted(runs.iter().filter(|r| lr(r).is_some_and(|v| v > t)).map(id)),
    ));
    // One experiment, by name.
    let vision = expected["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "vision")
        .unwrap()["experiment_id"]
        .clone();
    cases.push(Case::new(
        &["--experiment", "vision"],
        "",
        sorted(runs.iter().filter(|r| r["experiment_id"] == vision).map(id)),
    ));
    // Registered models and their versions.
    let models = expected["models"].as_array().unwrap();
    cases.push(Case::new(
        &["--table", "models"],
        "",
        sorted(models.iter().map(|m| m["name"].as_str().unwrap().to_string())),
    ));
    let versions = expected["model_versions"].as_array().unwrap();
    let version_id = |v: &Value| {
        format!(
            "{}/{}",
            v["name"].as_str().unwrap(),
            v["version"].as_str().unwrap()
        )
    };
    cases.push(Case::new(
        &["--table", "model_versions"],
        "`sys/stage`:string = \"production\" OR `sys/stage`:string = \"staging\"",
        sorted(
            versions
                .iter()
                .filter(|v| v["current_stage"] == "Production" || v["current_stage"] == "Staging")
                .map(version_id),
        ),
    ));
    Sample {
        name,
        data,
        watched: engine_tests().join("mlflow"),
        kind,
        runs: sorted(runs.iter().map(id)),
        trashed,
        series: "metrics/loss",
        misspelled: "metrics/los",
        cases,
    }
}

#[test]
fn every_command_on_the_mlflow_sqlite_store() {
    let db = engine_tests().join("mlflow/mlflow.db");
    let sample = mlflow_sample("sqlite", "mlflow-sqlite", db.clone(), "MLflow SQLite store");
    // The same store named by MLflow's tracking URI.
    let cache = crate::scratch_dir("sources-mlflow-uri");
    let uri = format!("sqlite:///{}", db.canonicalize().unwrap().display());
    assert_eq!(ids(&cache, &uri, &["--trashed", "all"], ""), sample.runs);
    every_command(sample);
}

#[test]
fn every_command_on_the_mlflow_file_store() {
    every_command(mlflow_sample(
        "files",
        "mlflow-files",
        engine_tests().join("mlflow/mlruns"),
        "MLflow file store",
    ));
}
