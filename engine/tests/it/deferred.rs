//! A native project opened straight from its files, without an index (`Refresh::Deferred`,
//! what `nql query` does): every answer, every column and every summary
//! is the index's bit for bit, and nothing is written.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};
use datasets::layout::ObjectKind;
use engine::{Engine, FetchOptions, LoadError, LoadOptions, Refresh, Trashed};
use nql::AttrType;

use crate::bad_data::write;
use crate::common::{block_on, options, scratch_dir};
use crate::index::{append, assert_same, everything_of, project, with_index};

fn deferred(index: &Path) -> LoadOptions {
    LoadOptions {
        refresh: Refresh::Deferred,
        ..with_index(index, 0)
    }
}

const QUERIES: [&str; 6] = [
    "",
    "last(`metrics/accuracy`) > 0.5 AND `sys/tags`:stringSet CONTAINS \"exploration\"",
    "variance(`metrics/loss`) > 0.01 OR `logs/stdout`:stringSeries CONTAINS \"ERROR\"",
    "`params/lr`:float > 0.001 AND NOT min(`val/loss`) < 0.2",
    "`sys/state`:experimentState = running OR average(`metrics/loss`) < 0.4",
    "`sys/name`:string MATCHES \"^[a-m]\" AND max(`train/lr`) >= 0",
];

/// The answers of `engine` to every query on every table: ids in result order.
fn answers(engine: &Engine) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for kind in engine.tables() {
        for q in QUERIES {
            let result = block_on(engine.fetch(kind, q, &options(Trashed::All), None));
            out.push(match result {
                Ok(r) => r.ids(),
                Err(e) => vec![format!("error: {e}")],
            });
        }
    }
    out
}

fn assert_same_project(from_files: &Engine, indexed: &Engine, what: &str) {
    assert_eq!(from_files.tables(), indexed.tables(), "{what}: tables");
    for kind in indexed.tables() {
        let names = |e: &Engine| {
            let mut a: Vec<(String, AttrType)> = e
                .attributes(kind)
                .unwrap()
                .into_iter()
                .map(|a| (a.path, a.ty))
                .collect();
            a.sort_by(|x, y| (&x.0, x.1.name()).cmp(&(&y.0, y.1.name())));
            a
        };
        assert_eq!(
            names(from_files),
            names(indexed),
            "{what}: attributes of {kind:?}"
        );
        let columns = |e: &Engine| {
            e.columns(kind)
                .unwrap()
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            columns(from_files),
            columns(indexed),
            "{what}: result columns of {kind:?}"
        );
        assert_same(
            &everything_of(from_files, kind),
            &everything_of(indexed, kind),
            &format!("{what}: {kind:?}"),
        );
    }
    assert_eq!(answers(from_files), answers(indexed), "{what}: answers");
}

#[test]
fn a_project_without_an_index_is_answered_from_its_files_as_its_index_answers() {
    let dir = scratch_dir("deferred-fresh");
    let data = dir.join("project");
    project(&data, "DEF", 700, 150, 41);
    let index = dir.join("index");
    let from_files = Engine::open_with(&data, &deferred(&index)).unwrap();
    assert!(from_files.index_deferred());
    assert!(!index.exists(), "opening from the files writes nothing");
    assert!(!data.join("_nql").exists());
    let indexed = Engine::open_with(&data, &with_index(&index, 0)).unwrap();
    assert!(!indexed.index_deferred());
    assert_same_project(&from_files, &indexed, "fresh");
    // A fresh index is used as it is.
    let again = Engine::open_with(&data, &deferred(&index)).unwrap();
    assert!(!again.index_deferred());
    assert_same_project(&again, &indexed, "through the index");
}

#[test]
fn a_stale_index_is_refreshed_first_all_the_same() {
    let dir = scratch_dir("deferred-stale");
    let (data, more) = (dir.join("project"), dir.join("more"));
    project(&data, "STA", 400, 100, 7);
    project(&more, "STB", 90, 30, 8);
    let index = dir.join("index");
    Engine::build_index(&data, &with_index(&index, 0), false).unwrap();
    let manifest = std::fs::read(index.join("manifest.json")).unwrap();
    append(&more, &data);
    let refreshed = Engine::open_with(&data, &deferred(&index)).unwrap();
    assert!(
        !refreshed.index_deferred(),
        "the appended files are indexed first"
    );
    assert_ne!(std::fs::read(index.join("manifest.json")).unwrap(), manifest);
    let report = Engine::build_index(&data, &with_index(&index, 0), false).unwrap();
    assert!(!report.built, "fresh");
    // Answered as a project opened from its files (no index) answers.
    let from_files = Engine::open_with(&data, &deferred(&dir.join("none"))).unwrap();
    assert!(from_files.index_deferred());
    assert_same_project(&from_files, &refreshed, "appended");
}

fn strings(v: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn floats(v: &[Option<f64>]) -> ArrayRef {
    Arc::new(Float64Array::from(v.to_vec()))
}

/// Points of float series: (id, path, step, value).
fn points(rows: &[(&str, &str, f64, Option<f64>)]) -> Vec<(&'static str, ArrayRef)> {
    vec![
        (
            "sys/id",
            strings(&rows.iter().map(|r| Some(r.0)).collect::<Vec<_>>()),
        ),
        (
            "path",
            strings(&rows.iter().map(|r| Some(r.1)).collect::<Vec<_>>()),
        ),
        (
            "step",
            floats(&rows.iter().map(|r| Some(r.2)).collect::<Vec<_>>()),
        ),
        ("value", floats(&rows.iter().map(|r| r.3).collect::<Vec<_>>())),
    ]
}

/// Files that differ in their columns, values with nulls and NaN, a model with a series
/// of its own, a row group holding points of runs and of a model, string series.
fn handmade(data: &Path) {
    write(
        &data.join("runs/part-0.parquet"),
        vec![
            ("sys/id", strings(&[Some("R-1"), Some("R-2"), Some("R-3")])),
            ("params/a", floats(&[Some(1.0), None, Some(f64::NAN)])),
            ("params/s", strings(&[Some("x"), Some("y"), None])),
        ],
    );
    write(
        &data.join("runs/part-1.parquet"),
        vec![
            ("sys/id", strings(&[Some("R-4"), Some("R-5")])),
            (
                "params/b:int",
                Arc::new(datafusion::arrow::array::Int64Array::from(vec![Some(3), None])),
            ),
            ("params/s", strings(&[Some("z"), Some("x")])),
        ],
    );
    write(
        &data.join("models.parquet"),
        vec![
            ("sys/id", strings(&[Some("M-1")])),
            ("sys/name", strings(&[Some("model")])),
        ],
    );
    write(
        &data.join("float_series/part-0.parquet"),
        points(&[
            ("R-1", "m/acc", 0.0, Some(0.5)),
            ("R-1", "m/acc", 1.0, Some(0.7)),
            ("R-2", "m/acc", 0.0, None),
            ("R-2", "m/loss", 2.0, Some(-0.0)),
            ("M-1", "m/size", 0.0, Some(10.0)),
            ("R-5", "m/acc", 3.0, Some(f64::NAN)),
        ]),
    );
    write(
        &data.join("float_series/part-1.parquet"),
        points(&[
            ("R-4", "m/acc", 0.0, Some(0.9)),
            ("R-1", "m/acc", 2.0, Some(0.1)),
            ("R-3", "m/loss", 1.0, Some(f64::INFINITY)),
        ]),
    );
    let mut strings_file = points(&[("R-1", "logs/out", 0.0, None), ("R-3", "logs/out", 4.0, None)]);
    strings_file[3] = ("value", strings(&[Some("started"), Some("ERROR done")]));
    write(&data.join("string_series/part-0.parquet"), strings_file);
}

#[test]
fn files_that_differ_in_their_columns_and_series_of_two_tables_give_the_index_answers() {
    let dir = scratch_dir("deferred-handmade");
    let data = dir.join("project");
    handmade(&data);
    let index = dir.join("index");
    let from_files = Engine::open_with(&data, &deferred(&index)).unwrap();
    assert!(from_files.index_deferred());
    let indexed = Engine::open_with(&data, &with_index(&index, 0)).unwrap();
    for kind in indexed.tables() {
        assert_same(
            &everything_of(&from_files, kind),
            &everything_of(&indexed, kind),
            &format!("{kind:?}"),
        );
    }
    for q in [
        "`params/a`:float > 0",
        "NOT `params/a`:float EXISTS",
        "`params/b`:int = 3 OR `params/s`:string = \"x\"",
        "last(`m/acc`) > 0.05",
        "max(`m/acc`) = NaN OR min(`m/loss`) >= 0",
        "`logs/out`:stringSeries CONTAINS \"ERROR\"",
        "average(`m/acc`) < 1 AND variance(`m/acc`) >= 0",
    ] {
        let ids = |e: &Engine| block_on(e.fetch_runs_table(q, &options(Trashed::All))).map(|r| r.ids());
        assert_eq!(
            ids(&from_files).map_err(|e| e.to_string()),
            ids(&indexed).map_err(|e| e.to_string()),
            "{q}"
        );
    }
    let model_size = |e: &Engine| {
        block_on(e.fetch(
            ObjectKind::Models,
            "last(`m/size`) = 10",
            &options(Trashed::All),
            None,
        ))
        .unwrap()
        .ids()
    };
    assert_eq!(model_size(&from_files), vec!["M-1".to_string()]);
    assert_eq!(model_size(&from_files), model_size(&indexed));
}

#[test]
fn a_bad_value_or_an_unknown_object_is_an_error_naming_the_file() {
    let dir = scratch_dir("deferred-bad");
    let data = dir.join("project");
    handmade(&data);
    write(
        &data.join("runs/part-2.parquet"),
        vec![
            ("sys/id", strings(&[Some("R-9")])),
            ("sys/state:experimentState", strings(&[Some("sleeping")])),
        ],
    );
    write(
        &data.join("float_series/part-2.parquet"),
        points(&[("NOBODY", "m/other", 0.0, Some(1.0))]),
    );
    let engine = Engine::open_with(&data, &deferred(&dir.join("index"))).unwrap();
    // Only `sys/id` shown: a query reads the columns it names.
    let ids_only = FetchOptions {
        columns: Some(Vec::new()),
        ..options(Trashed::All)
    };
    let error = |q: &str| {
        block_on(engine.fetch_runs_table(q, &ids_only))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let state = error("`sys/state`:experimentState = active");
    assert!(
        state.contains("part-2.parquet") && state.contains("sleeping"),
        "{state}"
    );
    let unknown = error("last(`m/other`) > 0");
    assert!(
        unknown.contains("part-2.parquet") && unknown.contains("NOBODY"),
        "{unknown}"
    );
    // What a query does not read is not checked.
    assert!(block_on(engine.fetch_runs_table("last(`m/acc`) > 0", &ids_only)).is_ok());
    // The index build checks everything.
    match Engine::build_index(&data, &with_index(&dir.join("index"), 0), false) {
        Err(LoadError::Column { .. } | LoadError::UnknownObject { .. }) => {}
        other => panic!("expected the bad data to be refused, got {other:?}"),
    }
}

#[test]
fn ids_taken_twice_and_a_type_that_changes_between_files_are_refused() {
    let dir = scratch_dir("deferred-refused");
    let data = dir.join("project");
    handmade(&data);
    // R-1 again, in a third file: the summaries need every object numbered once.
    write(
        &data.join("runs/part-2.parquet"),
        vec![("sys/id", strings(&[Some("R-1")]))],
    );
    let engine = Engine::open_with(&data, &deferred(&dir.join("index"))).unwrap();
    let ids_only = FetchOptions {
        columns: Some(Vec::new()),
        ..options(Trashed::All)
    };
    let error = block_on(engine.fetch_runs_table("last(`m/acc`) > 0", &ids_only))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.contains("R-1") && error.contains("part-2.parquet") && error.contains("part-0.parquet"),
        "{error}"
    );
    // `params/when` a datetime in microseconds in part-3, in milliseconds in part-4: one
    // attribute stored two ways, refused at open, naming both files.
    std::fs::remove_file(data.join("runs/part-2.parquet")).unwrap();
    use datafusion::arrow::array::{TimestampMicrosecondArray, TimestampMillisecondArray};
    write(
        &data.join("runs/part-3.parquet"),
        vec![
            ("sys/id", strings(&[Some("R-8")])),
            (
                "params/when",
                Arc::new(TimestampMicrosecondArray::from(vec![Some(1)]).with_timezone("UTC")),
            ),
        ],
    );
    write(
        &data.join("runs/part-4.parquet"),
        vec![
            ("sys/id", strings(&[Some("R-9")])),
            (
                "params/when",
                Arc::new(TimestampMillisecondArray::from(vec![Some(1)]).with_timezone("UTC")),
            ),
        ],
    );
    match Engine::open_with(&data, &deferred(&dir.join("index"))) {
        Err(LoadError::Column {
            file,
            column,
            problem,
        }) => {
            assert!(
                file.ends_with("part-4.parquet") && column == "params/when",
                "{file:?} {column}"
            );
            assert!(problem.contains("part-3.parquet"), "{problem}");
        }
        other => panic!("expected the changed type to be refused, got {other:?}"),
    }
}

/// Points of float series with times: (id, path, step, time in µs, value).
fn timed_points(rows: &[(&str, &str, f64, i64, f64)]) -> Vec<(&'static str, ArrayRef)> {
    use datafusion::arrow::array::TimestampMicrosecondArray;
    let mut columns = points(
        &rows
            .iter()
            .map(|r| (r.0, r.1, r.2, Some(r.4)))
            .collect::<Vec<_>>(),
    );
    let times =
        TimestampMicrosecondArray::from(rows.iter().map(|r| r.3).collect::<Vec<_>>()).with_timezone("UTC");
    columns.push(("timestamp", Arc::new(times)));
    columns
}

#[test]
fn a_last_step_shared_by_two_points_is_decided_by_their_times_from_the_files_too() {
    let dir = scratch_dir("deferred-shared-step");
    let data = dir.join("project");
    write(
        &data.join("runs.parquet"),
        vec![("sys/id", strings(&[Some("R-1"), Some("R-2"), Some("R-3")]))],
    );
    // two points at its last step in one file, the later one with the smaller value;
    // the same across two files; R-3: no step shared.
    write(
        &data.join("float_series/part-0.parquet"),
        timed_points(&[
            ("R-1", "m/t", 1.0, 10, 0.5),
            ("R-1", "m/t", 5.0, 200, 1.0),
            ("R-1", "m/t", 5.0, 100, 9.0),
            ("R-2", "m/t", 3.0, 50, 2.0),
            ("R-3", "m/t", 1.0, 10, 7.0),
            ("R-3", "m/t", 2.0, 5, 3.0),
        ]),
    );
    write(
        &data.join("float_series/part-1.parquet"),
        timed_points(&[("R-2", "m/t", 3.0, 10, 8.0), ("R-3", "m/t", 0.0, 90, 6.0)]),
    );
    let index = dir.join("index");
    let from_files = Engine::open_with(&data, &deferred(&index)).unwrap();
    assert!(from_files.index_deferred());
    let indexed = Engine::open_with(&data, &with_index(&index, 0)).unwrap();
    let ids = |e: &Engine, q: &str| {
        block_on(e.fetch_runs_table(q, &options(Trashed::All)))
            .unwrap()
            .ids()
    };
    for engine in [&from_files, &indexed] {
        assert_eq!(ids(engine, "last(`m/t`) < 5"), ["R-1", "R-2", "R-3"]);
        assert!(ids(engine, "last(`m/t`) > 5").is_empty());
    }
    assert_same(
        &everything_of(&from_files, ObjectKind::Runs),
        &everything_of(&indexed, ObjectKind::Runs),
        "runs",
    );
}

#[test]
fn a_failed_build_is_remembered_until_the_files_change() {
    let dir = scratch_dir("deferred-failed-build");
    let data = dir.join("project");
    handmade(&data);
    let bad = data.join("runs/part-2.parquet");
    write(
        &bad,
        vec![
            ("sys/id", strings(&[Some("R-9")])),
            ("sys/state:experimentState", strings(&[Some("sleeping")])),
        ],
    );
    let index = dir.join("index");
    let failure = || {
        Engine::open_with(&data, &deferred(&index))
            .unwrap()
            .last_index_failure()
            .map(str::to_string)
    };
    assert_eq!(failure(), None, "no build has failed yet");
    assert!(Engine::build_index(&data, &with_index(&index, 0), false).is_err());
    let remembered = failure().expect("the failure is remembered");
    assert!(
        remembered.contains("part-2.parquet") && remembered.contains("sleeping"),
        "{remembered}"
    );
    // A file changed since: a new build may succeed.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .append(true)
        .open(data.join("runs/part-0.parquet"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert_eq!(failure(), None, "the files changed after the failure");
    // Once the data is fixed, the build succeeds and forgets the failure.
    std::fs::remove_file(&bad).unwrap();
    Engine::build_index(&data, &with_index(&index, 0), false).unwrap();
    assert!(!index.join("failed.txt").exists());
    assert!(
        !Engine::open_with(&data, &deferred(&index))
            .unwrap()
            .index_deferred()
    );
}
