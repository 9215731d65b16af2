//! One test per class of bad dataset: each load fails with an error that names the file,
//! the column and the problem, and no engine is built.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, StructArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use engine::{Engine, LoadError, LoadOptions};

/// Writes a batch of `columns` to `path` as Parquet.
pub(crate) fn write(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let mut w = ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn strings(v: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn ids(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

/// A project with two good runs.
fn good_runs(dir: &Path) {
    write(
        &dir.join("runs.parquet"),
        vec![
            ("sys/id", ids(&["R-1", "R-2"])),
            ("f1", Arc::new(Float64Array::from(vec![0.5, 0.9]))),
        ],
    );
}

fn series(dir: &Path, name: &str, columns: Vec<(&str, ArrayRef)>) -> PathBuf {
    let path = dir.join(format!("{name}.parquet"));
    write(&path, columns);
    path
}

fn load(dir: &Path) -> LoadError {
    Engine::open(dir).expect_err("the load must fail")
}

/// The message names the file (by file name) and every fragment.
fn assert_mentions(e: &LoadError, fragments: &[&str]) {
    let message = e.to_string();
    for f in fragments {
        assert!(message.contains(f), "{message:?} does not mention {f:?}");
    }
}

#[test]
fn missing_runs() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(load(dir.path()), LoadError::MissingRuns { .. }));
}

#[test]
fn contradicting_suffix() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("runs.parquet"),
        vec![("sys/id", ids(&["R-1"])), ("x:int", strings(&[Some("a")]))],
    );
    let e = load(dir.path());
    assert!(matches!(e, LoadError::Column { .. }));
    assert_mentions(&e, &["runs.parquet", "x:int", "contradicts", "Utf8"]);
}

#[test]
fn unknown_suffix() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("runs.parquet"),
        vec![
            ("sys/id", ids(&["R-1"])),
            ("lr:Float", Arc::new(Float64Array::from(vec![0.1]))),
        ],
    );
    assert_mentions(
        &load(dir.path()),
        &["runs.parquet", "lr:Float", "unknown type suffix", ":float"],
    );
}

#[test]
fn unsupported_arrow_types() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("runs.parquet"),
        vec![
            ("sys/id", ids(&["R-1"])),
            ("big", Arc::new(UInt64Array::from(vec![1u64]))),
        ],
    );
    assert_mentions(
        &load(dir.path()),
        &["runs.parquet", "big", "unsupported Arrow type UInt64"],
    );
    let nested = StructArray::from(vec![(
        Arc::new(Field::new("a", DataType::Int64, true)),
        Arc::new(Int64Array::from(vec![1])) as ArrayRef,
    )]);
    write(
        &dir.path().join("runs.parquet"),
        vec![("sys/id", ids(&["R-1"])), ("cfg", Arc::new(nested))],
    );
    assert_mentions(&load(dir.path()), &["cfg", "unsupported Arrow type Struct"]);
}

#[test]
fn missing_null_and_duplicate_ids() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("runs.parquet"), vec![("name", ids(&["a"]))]);
    assert!(matches!(load(dir.path()), LoadError::MissingId { .. }));

    write(
        &dir.path().join("runs.parquet"),
        vec![("sys/id", strings(&[Some("R-1"), None]))],
    );
    let e = load(dir.path());
    assert!(matches!(e, LoadError::NullId { row: 1, .. }), "{e}");

    write(
        &dir.path().join("runs.parquet"),
        vec![("sys/id", ids(&["R-1", "R-2", "R-1"]))],
    );
    assert_mentions(
        &load(dir.path()),
        &["runs.parquet", "sys/id", "`R-1` appears twice"],
    );

    // Unique within the whole project, across tables.
    write(
        &dir.path().join("runs.parquet"),
        vec![("sys/id", ids(&["R-1", "M-1"]))],
    );
    write(
        &dir.path().join("models.parquet"),
        vec![("sys/id", ids(&["M-1"]))],
    );
    assert_mentions(
        &load(dir.path()),
        &["models.parquet", "`M-1` appears twice", "runs.parquet"],
    );
}

#[test]
fn duplicate_attribute_and_bad_state() {
    let dir = tempfile::tempdir().unwrap();
    let f = || Arc::new(Float64Array::from(vec![0.1])) as ArrayRef;
    write(
        &dir.path().join("runs.parquet"),
        vec![("sys/id", ids(&["R-1"])), ("lr", f()), ("lr:float", f())],
    );
    assert_mentions(&load(dir.path()), &["lr:float", "both the attribute `lr:float`"]);
    write(
        &dir.path().join("runs.parquet"),
        vec![
            ("sys/id", ids(&["R-1"])),
            ("sys/state:experimentState", strings(&[Some("done")])),
        ],
    );
    assert_mentions(
        &load(dir.path()),
        &["sys/state:experimentState", "`done` is not an experiment state"],
    );
}

#[test]
fn series_points_of_unknown_objects() {
    let dir = tempfile::tempdir().unwrap();
    good_runs(dir.path());
    series(
        dir.path(),
        "float_series",
        vec![
            ("sys/id", ids(&["R-1", "R-9"])),
            ("path", ids(&["acc", "acc"])),
            ("step", Arc::new(Float64Array::from(vec![0.0, 1.0]))),
            ("value", Arc::new(Float64Array::from(vec![0.5, 0.6]))),
        ],
    );
    let e = load(dir.path());
    assert!(matches!(e, LoadError::UnknownObject { .. }));
    assert_mentions(&e, &["float_series.parquet", "sys/id", "`R-9` names no run"]);
}

#[test]
fn series_tables_with_missing_mistyped_or_null_columns() {
    let dir = tempfile::tempdir().unwrap();
    good_runs(dir.path());
    let id = || ids(&["R-1"]);
    let path = || ids(&["acc"]);
    let step = || Arc::new(Float64Array::from(vec![0.0])) as ArrayRef;
    series(
        dir.path(),
        "float_series",
        vec![("sys/id", id()), ("path", path()), ("value", step())],
    );
    assert_mentions(&load(dir.path()), &["float_series.parquet", "`step`", "missing"]);

    series(
        dir.path(),
        "float_series",
        vec![
            ("sys/id", id()),
            ("path", path()),
            ("step", step()),
            ("value", ids(&["x"])),
        ],
    );
    assert_mentions(
        &load(dir.path()),
        &["float_series.parquet", "`value`", "must be a number column"],
    );

    series(
        dir.path(),
        "float_series",
        vec![
            ("sys/id", id()),
            ("path", path()),
            ("step", Arc::new(Float64Array::from(vec![None]))),
            ("value", step()),
        ],
    );
    assert_mentions(
        &load(dir.path()),
        &["float_series.parquet", "`step`", "row 0 is null"],
    );
    std::fs::remove_file(dir.path().join("float_series.parquet")).unwrap();

    series(
        dir.path(),
        "string_series",
        vec![
            ("sys/id", id()),
            ("path", path()),
            ("step", step()),
            ("value", step()),
        ],
    );
    assert_mentions(
        &load(dir.path()),
        &["string_series.parquet", "`value`", "must be a string column"],
    );
}

#[test]
fn unreadable_truncated_and_stray_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("runs.parquet"), b"this is not parquet").unwrap();
    let e = load(dir.path());
    assert!(matches!(e, LoadError::Parquet { .. }));
    assert_mentions(&e, &["runs.parquet", "not a readable Parquet file"]);

    good_runs(dir.path());
    let bytes = std::fs::read(dir.path().join("runs.parquet")).unwrap();
    std::fs::write(dir.path().join("runs.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    assert_mentions(
        &load(dir.path()),
        &["runs.parquet", "not a readable Parquet file"],
    );

    // A directory of parts with a stray file that is not Parquet.
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("runs/part-0.parquet"),
        vec![("sys/id", ids(&["R-1"]))],
    );
    std::fs::write(dir.path().join("runs/notes.txt"), "hello").unwrap();
    assert_mentions(&load(dir.path()), &["notes.txt", "not a readable Parquet file"]);
    // Hidden and `_`-prefixed files, which other writers leave behind, are skipped.
    std::fs::remove_file(dir.path().join("runs/notes.txt")).unwrap();
    std::fs::write(dir.path().join("runs/_SUCCESS"), "").unwrap();
    std::fs::write(dir.path().join("runs/.part-0.parquet.crc"), "x").unwrap();
    assert_eq!(
        Engine::open(dir.path())
            .unwrap()
            .num_objects(datasets::layout::ObjectKind::Runs),
        Some(1)
    );
}

#[test]
fn a_project_over_the_memory_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    good_runs(dir.path());
    let options = LoadOptions {
        memory_limit: Some(10),
        ..LoadOptions::default()
    };
    let e = Engine::open_with(dir.path(), &options).expect_err("over the limit");
    assert!(
        matches!(e, LoadError::MemoryLimit { limit: 10, needed } if needed > 10),
        "{e}"
    );
    assert_mentions(&e, &["needs about", "limit of 10 bytes"]);
}

/// A runs file of 200 rows (several pages' worth of values), and its bytes.
fn bigger_runs(dir: &Path) -> Vec<u8> {
    let ids: Vec<String> = (0..200).map(|i| format!("R-{i}")).collect();
    let names: Vec<Option<String>> = (0..200).map(|i| Some(format!("name {i}"))).collect();
    write(
        &dir.join("runs.parquet"),
        vec![
            ("sys/id", Arc::new(StringArray::from(ids)) as ArrayRef),
            ("sys/name", Arc::new(StringArray::from(names))),
            ("n", Arc::new(Int64Array::from_iter_values(0..200))),
        ],
    );
    std::fs::read(dir.join("runs.parquet")).unwrap()
}

/// A load that fails must name the file; one that succeeds (a flipped byte inside a value
/// changes the value, and Parquet has no checksum by default) must be a whole project.
fn loads_or_names(dir: &Path, file: &str) {
    match Engine::open(dir) {
        Ok(engine) => assert!(engine.num_objects(datasets::layout::ObjectKind::Runs).is_some()),
        Err(e) => assert!(e.to_string().contains(file), "{e}"),
    }
}

#[test]
fn corrupt_parquet_gives_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = bigger_runs(dir.path());
    let path = dir.path().join("runs.parquet");
    let footer = u32::from_le_bytes(good[good.len() - 8..good.len() - 4].try_into().unwrap()) as usize;
    let data_end = good.len() - 8 - footer;

    // Garbage where the magic should be, at either end.
    for range in [0..4, good.len() - 4..good.len()] {
        let mut bytes = good.clone();
        bytes[range].copy_from_slice(b"JUNK");
        std::fs::write(&path, &bytes).unwrap();
        let e = load(dir.path());
        assert!(matches!(e, LoadError::Parquet { .. }), "{e}");
        assert_mentions(&e, &["runs.parquet", "not a readable Parquet file"]);
    }
    // A truncated footer, and a footer length pointing before the start of the file.
    for cut in [1, 5, 9, footer / 2, footer + 8] {
        std::fs::write(&path, &good[..good.len() - cut]).unwrap();
        assert_mentions(
            &load(dir.path()),
            &["runs.parquet", "not a readable Parquet file"],
        );
    }
    let mut bytes = good.clone();
    let at = bytes.len() - 8;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    assert_mentions(
        &load(dir.path()),
        &["runs.parquet", "not a readable Parquet file"],
    );

    // Data pages overwritten with garbage (page headers included).
    let mut bytes = good.clone();
    for (i, b) in bytes[4..data_end].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(151) ^ 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    assert_mentions(
        &load(dir.path()),
        &["runs.parquet", "not a readable Parquet file"],
    );

    // One flipped byte at a time, through the data and the footer: an error naming the file
    // or a whole project, never a panic (the reader's panics are caught and named too).
    let step = (good.len() / 150).max(1);
    for at in (4..good.len() - 8).step_by(step) {
        let mut bytes = good.clone();
        bytes[at] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        loads_or_names(dir.path(), "runs.parquet");
    }
}

#[test]
fn corrupt_series_files_are_named_too() {
    let dir = tempfile::tempdir().unwrap();
    good_runs(dir.path());
    let path = series(
        dir.path(),
        "float_series",
        vec![
            ("sys/id", ids(&["R-1", "R-2", "R-1"])),
            ("path", strings(&[Some("m"), Some("m"), Some("m")])),
            ("step", Arc::new(Float64Array::from(vec![1.0, 1.0, 2.0]))),
            ("value", Arc::new(Float64Array::from(vec![0.1, 0.2, 0.3]))),
        ],
    );
    let good = std::fs::read(&path).unwrap();
    std::fs::write(&path, &good[..good.len() - 3]).unwrap();
    assert_mentions(
        &load(dir.path()),
        &["float_series.parquet", "not a readable Parquet file"],
    );
    let step = (good.len() / 100).max(1);
    for at in (4..good.len() - 8).step_by(step) {
        let mut bytes = good.clone();
        bytes[at] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        loads_or_names(dir.path(), "float_series.parquet");
    }
}
