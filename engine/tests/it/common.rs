//! Shared helpers: the conformance project, a runtime, small builders.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use engine::{Engine, FetchOptions, IndexLocation, LoadOptions, QueryError, Trashed};

/// The conformance dataset copied from the shared suite.
pub fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// A directory for this test binary's files under Cargo's temporary directory, emptied at
/// the first call of each run.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("engine-it-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the scratch directory");
    dir
}

/// The conformance project, opened once per test binary through an index built in a
/// scratch directory (the data under tests/ is never written).
pub fn conformance_engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let options = LoadOptions {
                index: IndexLocation::Dir(scratch_dir("conformance-index")),
                ..LoadOptions::default()
            };
            Arc::new(
                Engine::open_with(conformance_dir().join("data"), &options)
                    .expect("the conformance data loads"),
            )
        })
        .clone()
}

/// The conformance project opened straight from its files (its index deferred): nothing is
/// written, not even the index directory it names.
pub fn conformance_deferred_engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let index = scratch_dir("conformance-deferred").join("index");
            let options = LoadOptions {
                index: IndexLocation::Dir(index.clone()),
                refresh: engine::Refresh::Deferred,
                ..LoadOptions::default()
            };
            let engine = Engine::open_with(conformance_dir().join("data"), &options)
                .expect("the conformance data opens");
            assert!(engine.index_deferred());
            assert!(!index.exists(), "opening from the files writes nothing");
            Arc::new(engine)
        })
        .clone()
}

/// The conformance project read into memory, without an index.
pub fn conformance_memory_engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let options = LoadOptions {
                index: IndexLocation::None,
                ..LoadOptions::default()
            };
            Arc::new(
                Engine::open_with(conformance_dir().join("data"), &options)
                    .expect("the conformance data loads"),
            )
        })
        .clone()
}

/// A current-thread runtime for driving the async API from plain tests.
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(f)
}

pub fn now(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

/// Options with a fixed clock and the given trash mode.
pub fn options(trashed: Trashed) -> FetchOptions {
    FetchOptions {
        trashed,
        now: Some(now("2026-06-01T00:00:00Z")),
        ..FetchOptions::default()
    }
}

/// The sorted ids a query returns on the runs table, or the error.
pub fn run_ids(engine: &Engine, query: &str, options: &FetchOptions) -> Result<Vec<String>, QueryError> {
    let mut ids = block_on(engine.fetch_runs_table(query, options))?.ids();
    ids.sort();
    Ok(ids)
}

/// A batch of `(name, values)` columns (non-nullable fields).
pub fn batch(
    columns: Vec<(&str, datafusion::arrow::array::ArrayRef)>,
) -> datafusion::arrow::record_batch::RecordBatch {
    use datafusion::arrow::datatypes::{Field, Schema};
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), false))
        .collect();
    datafusion::arrow::record_batch::RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

/// An engine over one runs table built from `(name, values)` columns (non-nullable fields).
pub fn runs_engine(columns: Vec<(&str, datafusion::arrow::array::ArrayRef)>) -> Engine {
    Engine::from_batches(datasets::ProjectBatches {
        runs: vec![batch(columns)],
        ..datasets::ProjectBatches::default()
    })
    .unwrap()
}

/// An engine over a runs table and a float series table, each from `(name, values)` columns.
pub fn series_engine(
    runs: Vec<(&str, datafusion::arrow::array::ArrayRef)>,
    points: Vec<(&str, datafusion::arrow::array::ArrayRef)>,
) -> Engine {
    Engine::from_batches(datasets::ProjectBatches {
        runs: vec![batch(runs)],
        float_series: vec![batch(points)],
        ..datasets::ProjectBatches::default()
    })
    .unwrap()
}

/// Copies the files of `from` into `to`, recursively.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
