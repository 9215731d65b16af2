//! The project index (docs/dataset.md): built once, kept fresh as files are added, changed or
//! removed, never torn by an interrupted build or two builders at once, and giving the same
//! summaries bit for bit whatever the history, the file order and the thread count.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datasets::generate::{ProjectSpec, generate_to_dir};
use datasets::layout::ObjectKind;
use engine::{Engine, FetchOptions, IndexLocation, IndexReport, LoadError, LoadOptions, Trashed};
use nql::AttrType;

use crate::common::{block_on, options};

/// A project of `runs` runs in parts of `per_file` runs, ids `KEY-n`.
pub(crate) fn project(dir: &Path, key: &str, runs: u64, per_file: u64, seed: u64) {
    let spec = ProjectSpec {
        key: key.into(),
        runs,
        runs_per_file: per_file,
        points_per_series: 30,
        runs_per_chunk: 50,
        row_group_rows: 1000,
        models: 3,
        model_versions: 6,
        seed,
        ..ProjectSpec::default()
    };
    generate_to_dir(&spec, dir, |_| {}).unwrap();
}

pub(crate) fn with_index(dir: &Path, threads: usize) -> LoadOptions {
    LoadOptions {
        index: IndexLocation::Dir(dir.to_path_buf()),
        threads,
        ..LoadOptions::default()
    }
}

fn in_memory(threads: usize) -> LoadOptions {
    LoadOptions {
        index: IndexLocation::None,
        threads,
        ..LoadOptions::default()
    }
}

fn refresh(project: &Path, index: &Path) -> IndexReport {
    Engine::build_index(project, &with_index(index, 0), false).unwrap()
}

/// Every column of the runs table (every summary of every series), sorted by `sys/id`.
fn everything(engine: &Engine) -> RecordBatch {
    everything_of(engine, ObjectKind::Runs)
}

/// Every column of the table `kind` (every summary of every series), sorted by `sys/id`.
pub(crate) fn everything_of(engine: &Engine, kind: ObjectKind) -> RecordBatch {
    let mut columns = Vec::new();
    for a in engine.attributes(kind).unwrap() {
        match a.ty {
            AttrType::FloatSeries => {
                for agg in ["last", "average", "max", "min", "variance"] {
                    columns.push(format!("{agg}({})", a.path));
                }
            }
            _ if a.path == "sys/id" => {}
            ty => columns.push(format!("{}:{ty}", a.path)),
        }
    }
    let o = FetchOptions {
        columns: Some(columns),
        sort_by: Some("sys/id".into()),
        ascending: true,
        ..options(Trashed::All)
    };
    let result = block_on(engine.fetch(kind, "", &o, None)).unwrap();
    concat_batches(&result.schema, &result.batches).unwrap()
}

/// Asserts that two results hold the same values, floats compared bit for bit.
pub(crate) fn assert_same(a: &RecordBatch, b: &RecordBatch, what: &str) {
    assert_eq!(
        a.schema().fields().len(),
        b.schema().fields().len(),
        "{what}: columns"
    );
    assert_eq!(a.num_rows(), b.num_rows(), "{what}: rows");
    for (i, field) in a.schema().fields().iter().enumerate() {
        let (x, y) = (a.column(i), b.column(i));
        assert_eq!(field.name(), b.schema().field(i).name(), "{what}");
        if field.data_type() == &DataType::Float64 {
            let (x, y) = (x.as_primitive::<Float64Type>(), y.as_primitive::<Float64Type>());
            for r in 0..x.len() {
                assert_eq!(x.is_null(r), y.is_null(r), "{what}: {} row {r}", field.name());
                if x.is_valid(r) {
                    assert_eq!(
                        x.value(r).to_bits(),
                        y.value(r).to_bits(),
                        "{what}: {} row {r}: {} vs {}",
                        field.name(),
                        x.value(r),
                        y.value(r)
                    );
                }
            }
        } else {
            assert_eq!(x.as_ref(), y.as_ref(), "{what}: {}", field.name());
        }
    }
}

/// Copies the runs and series parts of the project in `from` into `to`'s directories under
/// new names (`add-` + name), as a training job or an export appends files.
pub(crate) fn append(from: &Path, to: &Path) -> Vec<PathBuf> {
    let mut added = Vec::new();
    for table in ["runs", "float_series", "string_series"] {
        for entry in std::fs::read_dir(from.join(table)).unwrap() {
            let entry = entry.unwrap();
            let target = to
                .join(table)
                .join(format!("add-{}", entry.file_name().to_string_lossy()));
            std::fs::copy(entry.path(), &target).unwrap();
            added.push(target);
        }
    }
    added
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

#[test]
fn an_unchanged_project_is_never_summarized_again() {
    let (data, index) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    project(data.path(), "U", 300, 100, 1);
    let first = refresh(data.path(), index.path());
    assert!(first.built);
    assert_eq!(
        (first.summarized, first.reused),
        (6, 0),
        "3 float and 3 string series parts"
    );
    let again = refresh(data.path(), index.path());
    assert!(!again.built, "{again:?}");
    assert_eq!(again.reused, 6);
    // A new modification time alone (a copy, a `touch`) is not a change: the footer is the same.
    let file = &files(&data.path().join("float_series"))[0];
    let f = std::fs::File::options().write(true).open(file).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    drop(f);
    let touched = refresh(data.path(), index.path());
    assert_eq!((touched.summarized, touched.reused), (0, 6), "{touched:?}");
    // Opening reads the index; nothing is written into the project.
    let engine = Engine::open_with(data.path(), &with_index(index.path(), 0)).unwrap();
    assert_eq!(engine.num_objects(ObjectKind::Runs), Some(300));
    assert!(!data.path().join("_nql").exists());
}

#[test]
fn appended_files_cost_only_their_own_summarizing() {
    let (data, index, extra) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    project(data.path(), "A", 300, 100, 2);
    project(extra.path(), "B", 60, 30, 3);
    refresh(data.path(), index.path());
    let added = append(extra.path(), data.path());
    let report = refresh(data.path(), index.path());
    assert!(report.built);
    assert_eq!(
        (report.summarized, report.reused, report.removed),
        (4, 6, 0),
        "only the 2 + 2 new series files are summarized: {report:?}"
    );
    assert!(added.len() == 6);
    let indexed = Engine::open_with(data.path(), &with_index(index.path(), 0)).unwrap();
    assert_eq!(indexed.num_objects(ObjectKind::Runs), Some(360));
    let memory = Engine::open_with(data.path(), &in_memory(0)).unwrap();
    assert_same(
        &everything(&indexed),
        &everything(&memory),
        "appended vs in memory",
    );
}

/// The bytes of every file under `dir`.
fn size_of(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                size_of(&e.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

#[test]
fn an_index_kept_fresh_over_many_builds_stays_the_size_of_a_fresh_one() {
    let (data, index, fresh) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    project(data.path(), "G", 200, 100, 4);
    refresh(data.path(), index.path());
    for round in 0..6 {
        let extra = tempfile::tempdir().unwrap();
        project(extra.path(), &format!("G{round}"), 60, 30, 10 + round);
        for table in ["runs", "float_series", "string_series"] {
            for entry in std::fs::read_dir(extra.path().join(table)).unwrap() {
                let entry = entry.unwrap();
                let name = format!("round{round}-{}", entry.file_name().to_string_lossy());
                std::fs::copy(entry.path(), data.path().join(table).join(name)).unwrap();
            }
        }
        assert!(refresh(data.path(), index.path()).built);
    }
    Engine::build_index(data.path(), &with_index(fresh.path(), 0), true).unwrap();
    let (kept, rebuilt) = (size_of(index.path()), size_of(fresh.path()));
    assert!(
        kept < rebuilt * 3 / 2,
        "an index refreshed six times takes {kept} bytes, one built afresh {rebuilt}"
    );
    let indexed = Engine::open_with(data.path(), &with_index(index.path(), 0)).unwrap();
    assert_eq!(indexed.num_objects(ObjectKind::Runs), Some(560));
}

#[test]
fn a_changed_file_is_summarized_again_and_a_removed_one_dropped() {
    let (data, index, other) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    project(data.path(), "C", 300, 100, 4);
    // The same runs with other points: the float series files of another seed.
    project(other.path(), "C", 300, 100, 5);
    refresh(data.path(), index.path());
    let before = everything(&Engine::open_with(data.path(), &with_index(index.path(), 0)).unwrap());

    let changed = &files(&data.path().join("float_series"))[1];
    std::fs::copy(&files(&other.path().join("float_series"))[1], changed).unwrap();
    let report = refresh(data.path(), index.path());
    assert_eq!((report.summarized, report.reused), (1, 5), "{report:?}");
    let after = everything(&Engine::open_with(data.path(), &with_index(index.path(), 0)).unwrap());
    let memory = everything(&Engine::open_with(data.path(), &in_memory(0)).unwrap());
    assert_same(&after, &memory, "changed vs in memory");
    assert_ne!(
        before, after,
        "the new points changed the summaries (never stale)"
    );

    std::fs::remove_file(&files(&data.path().join("string_series"))[0]).unwrap();
    let report = refresh(data.path(), index.path());
    assert_eq!(
        (report.summarized, report.reused, report.removed),
        (0, 5, 1),
        "{report:?}"
    );
    let after = everything(&Engine::open_with(data.path(), &with_index(index.path(), 0)).unwrap());
    let memory = everything(&Engine::open_with(data.path(), &in_memory(0)).unwrap());
    assert_same(&after, &memory, "removed vs in memory");
    // Files of the index that no manifest names are gone.
    let states = files(&index.path().join("state"));
    assert_eq!(states.len(), 5, "{states:?}");
}

#[test]
fn removing_runs_whose_points_remain_is_an_error_naming_the_series_file() {
    let (data, index) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    project(data.path(), "R", 300, 100, 6);
    refresh(data.path(), index.path());
    std::fs::remove_file(&files(&data.path().join("runs"))[2]).unwrap();
    match Engine::open_with(data.path(), &with_index(index.path(), 0)) {
        Err(LoadError::UnknownObject { file, id }) => {
            assert!(
                file.starts_with(data.path().join("float_series"))
                    || file.starts_with(data.path().join("string_series")),
                "{file:?}"
            );
            assert!(id.starts_with("R-"), "{id}");
        }
        other => panic!("expected an unknown object, got {other:?}"),
    }
}

#[test]
fn an_interrupted_build_leaves_the_old_index_or_none() {
    let (data, index) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    project(data.path(), "T", 200, 100, 7);
    refresh(data.path(), index.path());
    let expected = everything(&Engine::open_with(data.path(), &with_index(index.path(), 0)).unwrap());
    // What a build killed half-way leaves: files beside their final names, never a manifest.
    std::fs::write(
        index.path().join("state/.tmp-999-9-9.parquet"),
        b"PAR1 half a file",
    )
    .unwrap();
    std::fs::write(
        index.path().join(".tmp-999-manifest.json"),
        b"{\"format\": 1, \"gen",
    )
    .unwrap();
    let engine = Engine::open_with(data.path(), &with_index(index.path(), 0)).unwrap();
    assert_same(&everything(&engine), &expected, "after a torn build");
    // The next build clears the leftovers.
    Engine::build_index(data.path(), &with_index(index.path(), 0), true).unwrap();
    assert!(!index.path().join("state/.tmp-999-9-9.parquet").exists());
    assert!(!index.path().join(".tmp-999-manifest.json").exists());
    // A damaged manifest (another writer's garbage) means no index: it is rebuilt.
    std::fs::write(index.path().join("manifest.json"), b"{ not json").unwrap();
    let engine = Engine::open_with(data.path(), &with_index(index.path(), 0)).unwrap();
    assert_same(&everything(&engine), &expected, "after a damaged manifest");
    // A table's pack gone missing is an error naming it, not a wrong answer.
    for f in files(&index.path().join("tables")) {
        std::fs::remove_file(f).unwrap();
    }
    let e = Engine::open_with(data.path(), &with_index(index.path(), 0)).unwrap_err();
    assert!(e.to_string().contains("tables/"), "{e}");
}

#[test]
fn builders_at_once_do_not_corrupt_the_index() {
    let (data, index) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    project(data.path(), "P", 400, 100, 8);
    let expected = everything(&Engine::open_with(data.path(), &in_memory(0)).unwrap());
    let data = Arc::new(data.path().to_path_buf());
    let index = Arc::new(index.path().to_path_buf());
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let (data, index) = (Arc::clone(&data), Arc::clone(&index));
            std::thread::spawn(move || {
                if i % 2 == 0 {
                    Engine::build_index(data.as_path(), &with_index(&index, 1), i == 4).unwrap();
                }
                everything(&Engine::open_with(data.as_path(), &with_index(&index, 1)).unwrap())
            })
        })
        .collect();
    for t in threads {
        assert_same(&t.join().unwrap(), &expected, "a concurrent open");
    }
    let report = refresh(&data, &index);
    assert!(!report.built, "the index is whole and fresh: {report:?}");
}

#[test]
fn summaries_are_the_same_bit_for_bit_whatever_the_history() {
    let (data, extra) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    project(data.path(), "H", 400, 100, 9);
    project(extra.path(), "X", 100, 50, 10);
    append(extra.path(), data.path());
    let reference = everything(&Engine::open_with(data.path(), &in_memory(1)).unwrap());
    for threads in [2, 3, 8] {
        let other = everything(&Engine::open_with(data.path(), &in_memory(threads)).unwrap());
        assert_same(&other, &reference, &format!("in memory with {threads} threads"));
    }
    let at_once = tempfile::tempdir().unwrap();
    let engine = Engine::open_with(data.path(), &with_index(at_once.path(), 3)).unwrap();
    assert_same(&everything(&engine), &reference, "index built at once");

    // The same files arriving one at a time, series before their runs' siblings, in reverse.
    let (growing, index) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for table in ["runs", "float_series", "string_series"] {
        std::fs::create_dir_all(growing.path().join(table)).unwrap();
    }
    for table in ["models.parquet", "model_versions.parquet"] {
        std::fs::copy(data.path().join(table), growing.path().join(table)).unwrap();
    }
    for f in files(&data.path().join("runs")) {
        std::fs::copy(&f, growing.path().join("runs").join(f.file_name().unwrap())).unwrap();
    }
    let mut series: Vec<PathBuf> = files(&data.path().join("float_series"));
    series.extend(files(&data.path().join("string_series")));
    series.reverse();
    for f in series {
        let table = f.parent().unwrap().file_name().unwrap();
        std::fs::copy(&f, growing.path().join(table).join(f.file_name().unwrap())).unwrap();
        let report = Engine::build_index(growing.path(), &with_index(index.path(), 2), false).unwrap();
        assert_eq!(report.summarized, 1, "{report:?}");
    }
    let engine = Engine::open_with(growing.path(), &with_index(index.path(), 1)).unwrap();
    assert_same(&everything(&engine), &reference, "index built file by file");

    // Files renamed so that they sort in another order.
    let renamed = tempfile::tempdir().unwrap();
    crate::common::copy_dir(data.path(), renamed.path());
    for table in ["float_series", "string_series"] {
        let parts = files(&renamed.path().join(table));
        let n = parts.len();
        for (i, f) in parts.iter().enumerate() {
            std::fs::rename(
                f,
                renamed.path().join(table).join(format!("z{:03}.parquet", n - i)),
            )
            .unwrap();
        }
    }
    let renamed_index = tempfile::tempdir().unwrap();
    let engine = Engine::open_with(renamed.path(), &with_index(renamed_index.path(), 2)).unwrap();
    assert_same(&everything(&engine), &reference, "files in another order");
}

#[test]
fn a_project_whose_own_directory_cannot_hold_an_index_uses_the_given_one() {
    let (data, index) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    project(data.path(), "O", 50, 100, 11);
    // A file where the index directory would go: the project cannot hold an index.
    std::fs::write(data.path().join("_nql"), b"not a directory").unwrap();
    let engine = Engine::open_with(data.path(), &with_index(&index.path().join("deep/er"), 0)).unwrap();
    assert_eq!(engine.num_objects(ObjectKind::Runs), Some(50));
    assert!(index.path().join("deep/er/manifest.json").is_file());
    assert_eq!(
        std::fs::read(data.path().join("_nql")).unwrap(),
        b"not a directory"
    );
}

#[test]
fn the_average_of_huge_values_does_not_overflow() {
    use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};
    let runs: Vec<(&str, ArrayRef)> = vec![("sys/id", Arc::new(StringArray::from(vec!["R-1", "R-2"])))];
    let points: Vec<(&str, ArrayRef)> = vec![
        (
            "sys/id",
            Arc::new(StringArray::from(vec!["R-1", "R-1", "R-2", "R-2", "R-2"])),
        ),
        ("path", Arc::new(StringArray::from(vec!["m"; 5]))),
        (
            "step",
            Arc::new(Float64Array::from(vec![0.0, 1.0, 0.0, 1.0, 2.0])),
        ),
        (
            "value",
            Arc::new(Float64Array::from(vec![
                1e308,
                1e308,
                f64::MAX,
                f64::MAX,
                -f64::MAX,
            ])),
        ),
    ];
    let engine = crate::common::series_engine(runs, points);
    let o = FetchOptions {
        columns: Some(vec!["average(m)".into(), "variance(m)".into()]),
        sort_by: Some("sys/id".into()),
        ascending: true,
        ..options(Trashed::All)
    };
    let result = block_on(engine.fetch_runs_table("", &o)).unwrap();
    let batch = concat_batches(&result.schema, &result.batches).unwrap();
    let average = batch.column(1).as_primitive::<Float64Type>();
    let variance = batch.column(2).as_primitive::<Float64Type>();
    assert_eq!(average.value(0), 1e308);
    assert_eq!(variance.value(0), 0.0);
    assert_eq!(average.value(1), f64::MAX / 3.0);
    assert!(
        variance.value(1).is_infinite(),
        "the true variance exceeds f64::MAX"
    );
    let hits = block_on(engine.fetch_runs_table("average(m) > 1e307", &options(Trashed::All))).unwrap();
    assert_eq!(hits.ids(), vec!["R-1", "R-2"]);
}

#[test]
fn the_schema_comes_from_footers_and_the_index_without_reading_values() {
    let (data, index) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    project(data.path(), "S", 300, 100, 12);
    let memory = Engine::open_with(data.path(), &in_memory(0)).unwrap();
    refresh(data.path(), index.path());
    let indexed = Engine::open_with(data.path(), &with_index(index.path(), 0)).unwrap();
    assert_eq!(indexed.memory_size(), 0, "opening reads no values");
    for kind in ObjectKind::ALL {
        assert_eq!(indexed.attributes(kind), memory.attributes(kind), "{kind:?}");
        assert_eq!(indexed.num_objects(kind), memory.num_objects(kind), "{kind:?}");
    }
    assert_eq!(indexed.memory_size(), 0, "the schema reads no values");
    // A query reads what it needs, and the engine keeps it.
    let o = FetchOptions {
        columns: Some(vec!["sys/name".into()]),
        ..options(Trashed::All)
    };
    block_on(indexed.fetch_runs_table("`params/lr`:float > 0.001", &o)).unwrap();
    let read = indexed.memory_size();
    assert!(read > 0);
    assert!(
        read < memory.memory_size() / 4,
        "{read} of {}",
        memory.memory_size()
    );
    block_on(indexed.fetch_runs_table("`params/lr`:float > 0.01", &o)).unwrap();
    assert_eq!(indexed.memory_size(), read, "the second query reads nothing new");
}

#[test]
fn columns_first_read_by_many_threads_at_once_are_right() {
    let (data, index) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    project(data.path(), "M", 2000, 500, 13);
    let memory = Engine::open_with(data.path(), &in_memory(0)).unwrap();
    refresh(data.path(), index.path());
    let queries = [
        "`params/lr`:float > 0.001",
        "`sys/tags`:stringSet CONTAINS \"exploration\"",
        "last(`metrics/accuracy`) > 0.5",
        "`sys/owner`:string = \"jackie\" OR `sys/failed`:bool = true",
        "variance(`metrics/loss`) > 0.01 AND `sys/name`:string MATCHES \"^b\"",
        "`logs/stdout`:stringSeries CONTAINS \"ERROR\"",
    ];
    for round in 0..3 {
        let indexed = Arc::new(Engine::open_with(data.path(), &with_index(index.path(), 0)).unwrap());
        let threads: Vec<_> = (0..queries.len() * 2)
            .map(|i| {
                let engine = Arc::clone(&indexed);
                let q = queries[i % queries.len()];
                std::thread::spawn(move || {
                    crate::common::run_ids(&engine, q, &options(Trashed::All)).unwrap()
                })
            })
            .collect();
        for (i, t) in threads.into_iter().enumerate() {
            let q = queries[i % queries.len()];
            let expected = crate::common::run_ids(&memory, q, &options(Trashed::All)).unwrap();
            assert_eq!(t.join().unwrap(), expected, "round {round}: {q}");
        }
    }
}

#[test]
fn answers_are_the_same_before_and_after_a_table_reorders_what_it_read() {
    // After a few scans an indexed table puts the columns it holds into the default order;
    // every query, in order and with its limit, answers alike on either side of that.
    let (data, index) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    project(data.path(), "L", 600, 200, 14);
    let memory = Engine::open_with(data.path(), &in_memory(0)).unwrap();
    let indexed = Engine::open_with(data.path(), &with_index(index.path(), 0)).unwrap();
    let queries = [
        "`sys/owner`:string = \"jackie\"",
        "`sys/tags`:stringSet CONTAINS \"exploration\"",
        "last(`metrics/accuracy`) > 0.5",
        "`sys/owner`:string = \"jackie\" OR `sys/tags`:stringSet CONTAINS \"baseline\"",
        "",
        "NOT `sys/tags`:stringSet CONTAINS \"exploration\" AND variance(`metrics/loss`) > 0.001",
    ];
    for round in 0..3 {
        for q in queries {
            for (limit, sort) in [(None, None), (Some(7), None), (Some(5), Some("params/lr:float"))] {
                let o = FetchOptions {
                    limit,
                    sort_by: sort.map(String::from),
                    ..options(Trashed::Exclude)
                };
                let want = block_on(memory.fetch_runs_table(q, &o)).unwrap().ids();
                let got = block_on(indexed.fetch_runs_table(q, &o)).unwrap().ids();
                assert_eq!(got, want, "round {round}: {q} {limit:?} {sort:?}");
            }
        }
    }
}

#[test]
fn points_added_to_series_already_indexed_are_merged_with_them() {
    use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};
    let (data, index) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let runs = crate::common::batch(vec![(
        "sys/id",
        Arc::new(StringArray::from(vec!["R-1", "R-2", "R-3"])) as ArrayRef,
    )]);
    datasets::ProjectBatches {
        runs: vec![runs],
        ..Default::default()
    }
    .write_dir(data.path())
    .unwrap();
    let series_dir = data.path().join("float_series");
    std::fs::create_dir_all(&series_dir).unwrap();
    let points = |ids: &[&str], steps: &[f64], values: &[f64]| {
        crate::common::batch(vec![
            ("sys/id", Arc::new(StringArray::from(ids.to_vec())) as ArrayRef),
            ("path", Arc::new(StringArray::from(vec!["m"; ids.len()]))),
            ("step", Arc::new(Float64Array::from(steps.to_vec()))),
            ("value", Arc::new(Float64Array::from(values.to_vec()))),
        ])
    };
    let write = |name: &str, batch: RecordBatch| {
        let file = std::fs::File::create(series_dir.join(name)).unwrap();
        let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    };
    let agree = |what: &str| {
        let indexed = everything(&Engine::open_with(data.path(), &with_index(index.path(), 1)).unwrap());
        let memory = everything(&Engine::open_with(data.path(), &in_memory(1)).unwrap());
        assert_same(&indexed, &memory, what);
    };
    write(
        "a.parquet",
        points(&["R-1", "R-1", "R-2"], &[0.0, 1.0, 0.0], &[1.0, 2.0, 5.0]),
    );
    agree("first");
    // Training went on: more points of R-1's series, and R-3's first ones.
    write("b.parquet", points(&["R-1", "R-3"], &[2.0, 0.0], &[0.5, 9.0]));
    let report = refresh(data.path(), index.path());
    assert_eq!((report.summarized, report.reused), (1, 1), "{report:?}");
    agree("points added to a series already indexed");
    // The first file rewritten with other values, then gone.
    write(
        "a.parquet",
        points(&["R-1", "R-2", "R-2"], &[0.0, 0.0, 3.0], &[7.0, 1.0, 2.0]),
    );
    agree("a file changed");
    std::fs::remove_file(series_dir.join("a.parquet")).unwrap();
    agree("a file removed");
    let engine = Engine::open_with(data.path(), &with_index(index.path(), 1)).unwrap();
    let ids = crate::common::run_ids(&engine, "m:floatSeries EXISTS", &options(Trashed::All)).unwrap();
    assert_eq!(ids, ["R-1", "R-3"], "R-2's series left with its file");
}
