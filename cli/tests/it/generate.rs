//! `nql generate --format neptune2|neptune3`: the export written, read back here straight
//! from its Parquet files (not through the engine), and queried through the binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{csv_ids, nql_cached};

/// What the test reads itself from one exported run or model.
#[derive(Debug, Default)]
struct ExportedObject {
    /// The `sys/id` parameter.
    sys_id: String,
    /// Float parameters that have a value (phantom rows have none).
    floats: BTreeMap<String, f64>,
    bools: BTreeMap<String, bool>,
    /// Float series points by path: a null value with a timestamp is a NaN point.
    points: BTreeMap<String, Vec<f64>>,
}

/// Every complete part (`*_part_N.parquet`) directly in `dir`, grouped by the `run_id`
/// column.
fn read_objects(dir: &Path) -> BTreeMap<String, ExportedObject> {
    let mut objects: BTreeMap<String, ExportedObject> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".parquet") && name.contains("_part_")) {
            continue;
        }
        let file = std::fs::File::open(&path).unwrap();
        for batch in ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
        {
            let batch = batch.unwrap();
            let column = |name: &str| batch.column_by_name(name).unwrap().clone();
            let (run, attribute, ty) = (
                column("run_id"),
                column("attribute_path"),
                column("attribute_type"),
            );
            let (run, attribute, ty) = (
                run.as_string::<i32>(),
                attribute.as_string::<i32>(),
                ty.as_string::<i32>(),
            );
            let (floats, strings, bools, timestamps) = (
                column("float_value"),
                column("string_value"),
                column("bool_value"),
                column("timestamp"),
            );
            let floats = floats.as_primitive::<Float64Type>();
            let strings = strings.as_string::<i32>();
            let bools = bools.as_boolean();
            for row in 0..batch.num_rows() {
                let object = objects.entry(run.value(row).to_string()).or_default();
                let path = attribute.value(row).to_string();
                match ty.value(row) {
                    "string" if path == "sys/id" && strings.is_valid(row) => {
                        object.sys_id = strings.value(row).to_string();
                    }
                    "float" if floats.is_valid(row) => {
                        object.floats.insert(path, floats.value(row));
                    }
                    "bool" if bools.is_valid(row) => {
                        object.bools.insert(path, bools.value(row));
                    }
                    "float_series" if floats.is_valid(row) => {
                        object.points.entry(path).or_default().push(floats.value(row));
                    }
                    "float_series" if timestamps.is_valid(row) => {
                        object.points.entry(path).or_default().push(f64::NAN);
                    }
                    _ => {}
                }
            }
        }
    }
    objects
}

/// A threshold between the two middle distinct values of `values` (never one of them).
fn threshold(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    values.sort_by(f64::total_cmp);
    values.dedup();
    assert!(values.len() >= 2, "too few values for a threshold: {values:?}");
    let at = values.len() / 2;
    (values[at - 1] + values[at]) / 2.0
}

/// The `sys/id`s of the objects `keep` selects, sorted.
fn ids_where(
    objects: &BTreeMap<String, ExportedObject>,
    keep: impl Fn(&ExportedObject) -> bool,
) -> Vec<String> {
    let mut ids: Vec<String> = objects
        .values()
        .filter(|o| keep(o))
        .map(|o| o.sys_id.clone())
        .collect();
    ids.sort();
    ids
}

/// `nql query` over the export at `data`: the sorted ids of `query` on `table`.
fn query_ids(cache: &Path, data: &Path, table: &str, query: &str) -> Vec<String> {
    let o = nql_cached(
        cache,
        &[
            "query",
            "--data",
            data.to_str().unwrap(),
            "--table",
            table,
            "--trashed",
            "all",
            "--columns",
            "sys/id",
            "--format",
            "csv",
            "--",
            query,
        ],
        b"",
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{query}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    csv_ids(&o)
}

/// Generates an export of `format` into a scratch directory; returns (the `--out`, the
/// exported project's directory, what the command printed).
fn generate(format: &str, extra: &[&str]) -> (PathBuf, PathBuf, String) {
    let out = crate::scratch_dir(&format!("generate-{format}")).join("exports");
    let mut args = vec![
        "generate",
        "--format",
        format,
        "--out",
        out.to_str().unwrap(),
        "--runs",
        "40",
        "--points",
        "20",
        "--nan-rate",
        "0.3",
        "--seed",
        "11",
    ];
    args.extend_from_slice(extra);
    let o = nql_cached(&out.with_file_name("cache"), &args, b"");
    let message = String::from_utf8(o.stderr.clone()).unwrap();
    assert_eq!(o.status.code(), Some(0), "{message}");
    let projects: Vec<PathBuf> = std::fs::read_dir(out.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(projects.len(), 1, "{projects:?}");
    assert!(message.contains(&projects[0].display().to_string()), "{message}");
    (out, projects[0].clone(), message)
}

/// The checks both versions share: every run, a threshold on a float parameter, and one on
/// the maximum of a series with NaN points (the greatest value, docs/nql.md).
fn check_runs(format: &str, ns: &str) -> (PathBuf, PathBuf, BTreeMap<String, ExportedObject>) {
    let (out, project, message) = generate(format, &[]);
    let cache = out.with_file_name("cache");
    let runs = read_objects(&project);
    assert_eq!(runs.len(), 40);
    assert!(message.contains("40 runs"), "{message}");
    let data = out.join("data");
    let all = query_ids(&cache, &data, "runs", "");
    assert_eq!(all, ids_where(&runs, |_| true), "every run");
    // The project's own directory opens too, with the same runs.
    assert_eq!(query_ids(&cache, &project, "runs", ""), all);

    let lr = format!("{ns}/lr");
    let t = threshold(runs.values().filter_map(|r| r.floats.get(&lr).copied()));
    let want = ids_where(&runs, |r| r.floats.get(&lr).is_some_and(|v| *v > t));
    assert!(!want.is_empty() && want.len() < runs.len(), "{want:?}");
    assert_eq!(
        query_ids(&cache, &data, "runs", &format!("`{lr}`:float > {t}")),
        want
    );

    let max = |r: &ExportedObject| {
        r.points
            .get("metrics/loss")
            .and_then(|p| p.iter().copied().max_by(f64::total_cmp))
    };
    assert!(
        runs.values().filter_map(max).any(f64::is_nan),
        "some run has a NaN loss point"
    );
    let t = threshold(runs.values().filter_map(max));
    let want = ids_where(&runs, |r| max(r).is_some_and(|v| v.total_cmp(&t).is_gt()));
    assert!(!want.is_empty() && want.len() < runs.len(), "{want:?}");
    assert_eq!(
        query_ids(&cache, &data, "runs", &format!("max(`metrics/loss`) > {t}")),
        want
    );
    // The export is only read: its index is in the cache.
    assert!(std::fs::read_dir(&project).unwrap().all(|e| {
        let name = e.unwrap().file_name();
        name != "_nql"
    }));
    assert!(cache.join("nql/index").is_dir());
    (out, project, runs)
}

#[test]
fn a_generated_2x_export_answers_what_its_files_hold() {
    let (out, project, _) = check_runs("neptune2", "parameters");
    let cache = out.with_file_name("cache");
    let data = out.join("data");
    let o = nql_cached(&cache, &["schema", "--data", data.to_str().unwrap()], b"");
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("Neptune 2.x export of workspace/generated\n"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // The model registry: --models and --model-versions as for a native project.
    for (table, dir, n) in [
        ("models", "models", 10),
        ("model_versions", "model_versions", 100),
    ] {
        let objects = read_objects(&project.join(dir));
        assert_eq!(objects.len(), n, "{table}");
        assert_eq!(
            query_ids(&cache, &data, table, ""),
            ids_where(&objects, |_| true),
            "{table}"
        );
    }
    let versions = read_objects(&project.join("model_versions"));
    let t = threshold(
        versions
            .values()
            .filter_map(|v| v.floats.get("validation/acc").copied()),
    );
    assert_eq!(
        query_ids(
            &cache,
            &data,
            "model_versions",
            &format!("`validation/acc`:float > {t}")
        ),
        ids_where(&versions, |v| v
            .floats
            .get("validation/acc")
            .is_some_and(|a| *a > t))
    );
}

#[test]
fn a_generated_3x_export_answers_what_its_files_hold() {
    let (out, _, runs) = check_runs("neptune3", "config");
    let cache = out.with_file_name("cache");
    let data = out.join("data");
    // A parameter half the runs have: the others hold phantom rows, which are no value.
    let with = runs
        .values()
        .filter(|r| r.floats.contains_key("config/dropout"))
        .count();
    assert!(with > 0 && with < runs.len(), "{with} runs with a dropout");
    let t = threshold(
        runs.values()
            .filter_map(|r| r.floats.get("config/dropout").copied()),
    );
    assert_eq!(
        query_ids(&cache, &data, "runs", &format!("`config/dropout`:float < {t}")),
        ids_where(&runs, |r| r.floats.get("config/dropout").is_some_and(|v| *v < t))
    );
    assert_eq!(
        query_ids(&cache, &data, "runs", "`config/dropout`:float NOT EXISTS"),
        ids_where(&runs, |r| !r.floats.contains_key("config/dropout"))
    );
    // The experiments are the head runs.
    let heads = ids_where(&runs, |r| r.bools.get("sys/experiment/is_head") == Some(&true));
    assert_eq!(heads.len(), 8, "--experiments defaults to 8");
    assert_eq!(query_ids(&cache, &data, "experiments", ""), heads);
    let o = nql_cached(&cache, &["schema", "--data", data.to_str().unwrap()], b"");
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("Neptune 3.x export of workspace/generated\n"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn generate_refuses_flags_that_do_not_fit_the_format() {
    let out = crate::scratch_dir("generate-refused");
    let o = |args: &[&str]| {
        let mut all = vec!["generate", "--out", out.to_str().unwrap(), "--runs", "3"];
        all.extend_from_slice(args);
        let o = nql_cached(&out.join("cache"), &all, b"");
        (o.status.code(), String::from_utf8(o.stderr).unwrap())
    };
    for (args, message) in [
        (&["--format", "neptune3", "--models", "2"][..], "model registry"),
        (&["--format", "neptune2", "--experiments", "2"], "no experiments"),
        (
            &["--format", "neptune2", "--runs-per-file", "2"],
            "one run per file",
        ),
        (&["--experiments", "2"], "is for exports"),
        (
            &["--format", "neptune3", "--project", "no-slash"],
            "workspace/project",
        ),
        (
            &["--format", "neptune3", "--experiments", "0"],
            "at least one experiment",
        ),
    ] {
        let (code, err) = o(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
    // Another project into the same --out makes a root of two; the same one again is refused.
    for project in ["team/a", "team/b"] {
        let (code, err) = o(&["--format", "neptune3", "--project", project]);
        assert_eq!(code, Some(0), "{err}");
    }
    let (code, err) = o(&["--format", "neptune3", "--project", "team/a"]);
    assert_eq!(code, Some(1), "an existing export is not overwritten: {err}");
    let data = out.join("data");
    let o = nql_cached(
        &out.join("cache"),
        &["query", "--data", data.to_str().unwrap(), ""],
        b"",
    );
    assert_eq!(o.status.code(), Some(2), "two projects and none chosen");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("team/a") && err.contains("team/b"), "{err}");
    for project in ["team/a", "team/b"] {
        let o = nql_cached(
            &out.join("cache"),
            &[
                "query",
                "--data",
                data.to_str().unwrap(),
                "--project",
                project,
                "--columns",
                "sys/id",
                "--format",
                "csv",
                "",
            ],
            b"",
        );
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(csv_ids(&o), ["GEN-1", "GEN-2", "GEN-3"], "{project}");
    }
}
