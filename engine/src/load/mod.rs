//! Loading a project: from a directory of Parquet files laid out as docs/dataset.md says, or
//! from record batches in memory. Everything is validated before anything is served; an
//! error names the file, the column and the problem, and leaves nothing half-loaded.

pub(crate) mod lazy;
pub(crate) mod objects;
pub(crate) mod series;
pub(crate) mod state;
pub(crate) mod summary;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::Array;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use datafusion::parquet::file::metadata::{PageIndexPolicy, RowGroupMetaData};
use datasets::ProjectBatches;
use datasets::layout::{
    self, ID_COLUMN, ObjectKind, PATH_COLUMN, STEP_COLUMN, SeriesKind, TIMESTAMP_COLUMN, VALUE_COLUMN,
};

use crate::error::LoadError;
use crate::table::{ColumnSpec, ObjectTable};
use nql::AttrType;
use objects::ObjectChunk;
use series::{FloatSummaries, IdIndex, SeriesProblem, StringSummaries};

/// Reports how far a load has come.
pub type ProgressFn = Arc<dyn Fn(&LoadProgress) + Send + Sync>;

/// A progress report: `done` of `total` units of the current stage.
#[derive(Clone, Debug)]
pub struct LoadProgress {
    /// What is being done: "objects" (reading object files), "series" (summarizing row
    /// groups of series files) or "index" (merging and writing the project index); then
    /// "ready", once, when the project is open.
    pub stage: &'static str,
    pub done: u64,
    pub total: u64,
}

/// How to load a project.
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// Called as work advances (from worker threads).
    pub progress: Option<ProgressFn>,
    /// Refuse to load a project that needs more memory than this many bytes.
    pub memory_limit: Option<u64>,
    /// Worker threads for reading and summarizing (0: one per core).
    pub threads: usize,
    /// Where the project index lives (docs/dataset.md), or none.
    pub index: IndexLocation,
    /// Which project of a Neptune export, which experiments of an MLflow store.
    pub source: crate::source::SourceOptions,
    /// Called with each warning about the data (runs left out of an export, ...).
    pub warn: Option<WarnFn>,
    /// What opening does when the project has no index yet.
    pub refresh: Refresh,
}

/// What opening a project does when it has no index yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Refresh {
    /// Build or refresh the index, then answer from it: what a long-lived engine wants.
    #[default]
    First,
    /// Without an index, answer straight from the project's files, reading only what each
    /// query needs, and write nothing ([`crate::Engine::index_deferred`] says so; `nql query`
    /// then builds the index in the background). A stale index is refreshed first all the
    /// same (that costs what the change costs). A native project only: a foreign source (a
    /// Neptune export, an MLflow store) is indexed first.
    Deferred,
}

/// Receives warnings about the data being opened, one line each.
pub type WarnFn = Arc<dyn Fn(&str) + Send + Sync>;

/// Where a project's index (its series summaries, stored as Parquet) is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IndexLocation {
    /// `_nql/` in the project directory; when that cannot be written, a directory of the
    /// user's cache (`$XDG_CACHE_HOME/nql/index/...` or `~/.cache/nql/index/...`).
    #[default]
    Project,
    /// This directory (for read-only data, or to keep indexes apart).
    Dir(PathBuf),
    /// No index: every column is read and every series summarized in memory at open.
    None,
}

impl std::fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("progress", &self.progress.is_some())
            .field("memory_limit", &self.memory_limit)
            .field("threads", &self.threads)
            .field("index", &self.index)
            .field("source", &self.source)
            .field("warn", &self.warn.is_some())
            .field("refresh", &self.refresh)
            .finish()
    }
}

impl LoadOptions {
    pub(crate) fn threads(&self) -> usize {
        match self.threads {
            0 => crate::load::cores(),
            n => n,
        }
    }

    pub(crate) fn warn(&self, warning: &str) {
        if let Some(w) = &self.warn {
            w(warning);
        }
    }

    pub(crate) fn report(&self, stage: &'static str, done: usize, total: usize) {
        if let Some(p) = &self.progress {
            p(&LoadProgress {
                stage,
                done: done as u64,
                total: total as u64,
            });
        }
    }
}

/// A stage's count of work done, reported as it advances (from any thread).
#[derive(Debug)]
pub(crate) struct Progress {
    stage: &'static str,
    done: AtomicUsize,
    total: usize,
}

impl Progress {
    pub fn new(stage: &'static str, total: usize) -> Progress {
        Progress {
            stage,
            done: AtomicUsize::new(0),
            total,
        }
    }

    /// One more unit done.
    pub fn advance(&self, options: &LoadOptions) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        options.report(self.stage, done, self.total);
    }
}

/// Where the raw series points live after loading, for query-time access.
#[derive(Debug)]
pub(crate) enum RawSeries {
    /// Parquet files, whose footers are read when they are first used (and kept, shared by
    /// everything that reads the points: the session's table, `Engine::series`, the
    /// summaries of a project opened from its files).
    Files(Arc<crate::series::SeriesFiles>),
    Memory(Vec<RecordBatch>),
}

/// A loaded project: its object tables and its raw series.
#[derive(Debug)]
pub(crate) struct LoadedProject {
    pub tables: Vec<ObjectTable>,
    pub series: Vec<(SeriesKind, RawSeries)>,
    /// What the project is (`a project in the native layout`, `Neptune 3.x export of ...`).
    pub kind: String,
    /// For a foreign source: how to read its raw points again (it has no series files).
    pub foreign: Option<crate::series::ForeignSeries>,
}

/// One unit of series input: a row group of a file, or a batch in memory.
pub(crate) enum SeriesUnit {
    RowGroup {
        file: PathBuf,
        row_group: usize,
        metadata: ArrowReaderMetadata,
    },
    Batch {
        label: PathBuf,
        batch: RecordBatch,
    },
}

/// The Parquet files of a project directory, table by table (docs/dataset.md).
#[derive(Clone, Debug)]
pub(crate) struct Sources {
    pub dir: PathBuf,
    /// Object tables that have files, runs first.
    pub objects: Vec<(ObjectKind, Vec<PathBuf>)>,
    /// Series tables that have files.
    pub series: Vec<(SeriesKind, Vec<PathBuf>)>,
}

impl Sources {
    /// Every object file with its table, tables in order.
    pub fn object_files(&self) -> Vec<(ObjectKind, &PathBuf)> {
        self.objects
            .iter()
            .flat_map(|(kind, files)| files.iter().map(move |f| (*kind, f)))
            .collect()
    }

    /// Every series file with its kind, kinds in order.
    pub fn series_files(&self) -> Vec<(SeriesKind, &PathBuf)> {
        self.series
            .iter()
            .flat_map(|(kind, files)| files.iter().map(move |f| (*kind, f)))
            .collect()
    }

    /// Lists the files of the project in `dir`; a project without runs is an error.
    pub fn list(dir: &Path) -> Result<Sources, LoadError> {
        let mut objects = Vec::new();
        for kind in ObjectKind::NATIVE {
            match files_of(dir, kind.table_name())? {
                Some(files) if !files.is_empty() => objects.push((kind, files)),
                _ if kind == ObjectKind::Runs => {
                    return Err(LoadError::MissingRuns {
                        dir: dir.to_path_buf(),
                    });
                }
                _ => {}
            }
        }
        let mut series = Vec::new();
        for kind in [SeriesKind::Float, SeriesKind::String] {
            if let Some(files) = files_of(dir, kind.table_name())?
                && !files.is_empty()
            {
                series.push((kind, files));
            }
        }
        Ok(Sources {
            dir: dir.to_path_buf(),
            objects,
            series,
        })
    }

    /// Refuses a project whose object tables would not fit `options.memory_limit`.
    pub fn check_memory(&self, options: &LoadOptions) -> Result<(), LoadError> {
        if let Some(limit) = options.memory_limit {
            let needed = estimate_memory(&self.objects)?;
            if needed > limit {
                return Err(LoadError::MemoryLimit { needed, limit });
            }
        }
        Ok(())
    }

    /// The raw points of each series table, read on demand by the session's
    /// `float_series` and `string_series` tables.
    pub fn raw_series(&self) -> Vec<(SeriesKind, RawSeries)> {
        self.series
            .iter()
            .map(|(kind, files)| {
                let files = crate::series::SeriesFiles::new(files.clone());
                (*kind, RawSeries::Files(Arc::new(files)))
            })
            .collect()
    }
}

/// Loads the project in `dir` into memory, every column read and every series summarized.
pub(crate) fn load_dir(dir: &Path, options: &LoadOptions) -> Result<LoadedProject, LoadError> {
    load_sources(&Sources::list(dir)?, options)
}

/// Loads the listed files into memory, every column read and every series summarized.
pub(crate) fn load_sources(sources: &Sources, options: &LoadOptions) -> Result<LoadedProject, LoadError> {
    sources.check_memory(options)?;
    let object_files = &sources.objects;
    let all: Vec<(ObjectKind, PathBuf)> = object_files
        .iter()
        .flat_map(|(k, files)| files.iter().map(move |f| (*k, f.clone())))
        .collect();
    let progress = Progress::new("objects", all.len());
    let chunks = parallel_map(&all, options.threads(), |(kind, file)| {
        let batch = guarded(file, || read_whole(file))?;
        let chunk = objects::normalize(file, &batch)?;
        progress.advance(options);
        Ok((*kind, chunk))
    })?;

    let mut series_units = Vec::new();
    for (kind, files) in &sources.series {
        for file in files {
            series_units.extend(row_groups(file)?.into_iter().map(|u| (*kind, u)));
        }
    }
    let raw = sources.raw_series();
    let mut project = assemble(chunks, series_units, raw, options)?;
    project.kind = NATIVE_KIND.to_string();
    Ok(project)
}

/// What a native project is, for `nql schema`.
pub(crate) const NATIVE_KIND: &str = "a project in the native layout (docs/dataset.md)";

/// The row groups of a series file, each a unit of summarizing work.
pub(crate) fn row_groups(file: &Path) -> Result<Vec<SeriesUnit>, LoadError> {
    let metadata = guarded(file, || series_metadata(file))?;
    Ok((0..metadata.metadata().num_row_groups())
        .map(|row_group| SeriesUnit::RowGroup {
            file: file.to_path_buf(),
            row_group,
            metadata: metadata.clone(),
        })
        .collect())
}

/// Loads a project held in memory. Batches are labelled `runs[0]`, `float_series[3]` and so
/// on in errors.
pub(crate) fn load_batches(
    project: ProjectBatches,
    options: &LoadOptions,
) -> Result<LoadedProject, LoadError> {
    let label = |table: &str, i: usize| PathBuf::from(format!("{table}[{i}]"));
    let mut chunks = Vec::new();
    for (kind, batches) in [
        (ObjectKind::Runs, &project.runs),
        (ObjectKind::Models, &project.models),
        (ObjectKind::ModelVersions, &project.model_versions),
    ] {
        for (i, b) in batches.iter().enumerate() {
            chunks.push((kind, objects::normalize(&label(kind.table_name(), i), b)?));
        }
    }
    if !chunks.iter().any(|(k, _)| *k == ObjectKind::Runs) {
        return Err(LoadError::MissingRuns {
            dir: PathBuf::from("(memory)"),
        });
    }
    let mut units = Vec::new();
    let mut raw = Vec::new();
    for (kind, batches) in [
        (SeriesKind::Float, project.float_series),
        (SeriesKind::String, project.string_series),
    ] {
        if batches.is_empty() {
            continue;
        }
        for (i, b) in batches.iter().enumerate() {
            units.push((
                kind,
                SeriesUnit::Batch {
                    label: label(kind.table_name(), i),
                    batch: b.clone(),
                },
            ));
        }
        raw.push((kind, RawSeries::Memory(batches)));
    }
    let mut project = assemble(chunks, units, raw, options)?;
    project.kind = "a project held in memory".to_string();
    Ok(project)
}

/// The files of a table, leaving out hidden and `_`-prefixed files (`_SUCCESS`, `.crc`) that
/// other writers leave beside their Parquet output.
pub(crate) fn files_of(dir: &Path, table: &str) -> Result<Option<Vec<PathBuf>>, LoadError> {
    let files = layout::table_files(dir, table).map_err(|source| LoadError::Io {
        file: dir.join(table),
        source,
    })?;
    Ok(files.map(|fs| {
        fs.into_iter()
            .filter(|f| {
                let name = f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                !name.starts_with('.') && !name.starts_with('_')
            })
            .collect()
    }))
}

/// Object tables, summaries, tables: the steps shared by both sources.
fn assemble(
    chunks: Vec<(ObjectKind, ObjectChunk)>,
    series_units: Vec<(SeriesKind, SeriesUnit)>,
    raw: Vec<(SeriesKind, RawSeries)>,
    options: &LoadOptions,
) -> Result<LoadedProject, LoadError> {
    // Number every object, runs first; ids are unique across the project.
    let mut index = IdIndex::default();
    let mut per_kind: Vec<(ObjectKind, Vec<ObjectChunk>)> = ObjectKind::ALL.map(|k| (k, Vec::new())).into();
    for (kind, chunk) in chunks {
        if let Some((_, bucket)) = per_kind.iter_mut().find(|(k, _)| *k == kind) {
            bucket.push(chunk);
        }
    }
    per_kind.retain(|(_, c)| !c.is_empty());
    let mut ranges = Vec::new();
    for (kind, chunks) in &per_kind {
        let start = index.len();
        for chunk in chunks {
            index.insert_file(&chunk.file, &chunk.ids)?;
        }
        ranges.push((*kind, start..index.len()));
    }

    let progress = Progress::new("series", series_units.len());
    let (floats, strings) = summarize(series_units, &index, options, &progress)?;
    let mut tables = Vec::new();
    for ((kind, chunks), (_, range)) in per_kind.into_iter().zip(ranges) {
        let (ids, attributes) = objects::assemble(chunks)?;
        let rows = ids.len();
        let mut columns = Vec::new();
        for a in attributes {
            let count = rows - a.array.null_count();
            let spec = ColumnSpec::attribute(&a.path, a.ty, a.array.data_type().clone(), count);
            columns.push((spec, a.array));
        }
        for (path, summaries, count) in floats.columns(range.clone()) {
            columns.extend(ColumnSpec::float_series(&path, count).into_iter().zip(summaries));
        }
        for (path, last, count) in strings.columns(range) {
            let spec = ColumnSpec::attribute(&path, AttrType::StringSeries, last.data_type().clone(), count);
            columns.push((spec, last));
        }
        tables.push(ObjectTable::in_memory(kind, Arc::new(ids), columns)?);
    }
    if let Some(limit) = options.memory_limit {
        let needed = tables.iter().map(|t| t.memory() as u64).sum();
        if needed > limit {
            return Err(LoadError::MemoryLimit { needed, limit });
        }
    }
    Ok(LoadedProject {
        tables,
        series: raw,
        kind: String::new(),
        foreign: None,
    })
}

/// Summarizes every series unit with a pool of workers and merges their results.
pub(crate) fn summarize(
    units: Vec<(SeriesKind, SeriesUnit)>,
    index: &IdIndex,
    options: &LoadOptions,
    progress: &Progress,
) -> Result<(FloatSummaries, StringSummaries), LoadError> {
    summarize_units(
        &units,
        index.len(),
        options.threads(),
        |(kind, unit), floats, strings| {
            summarize_unit(*kind, unit, index, floats, strings)?;
            progress.advance(options);
            Ok(())
        },
    )
}

/// Runs `summarize_unit` over `units` on a pool of up to `threads` workers, each adding to
/// summaries of its own (numbered over `objects`), merged at the end (exact, so in any
/// order). The first error stops the pool.
pub(crate) fn summarize_units<U: Sync>(
    units: &[U],
    objects: usize,
    threads: usize,
    summarize_unit: impl Fn(&U, &mut FloatSummaries, &mut StringSummaries) -> Result<(), LoadError> + Sync,
) -> Result<(FloatSummaries, StringSummaries), LoadError> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<LoadError>> = Mutex::new(None);
    let workers = threads.min(units.len()).max(1);
    let partials: Vec<(FloatSummaries, StringSummaries)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut floats = FloatSummaries::new(objects);
                    let mut strings = StringSummaries::new(objects);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= units.len() || failed.load(Ordering::Relaxed) {
                            break;
                        }
                        if let Err(e) = summarize_unit(&units[i], &mut floats, &mut strings) {
                            failed.store(true, Ordering::Relaxed);
                            first_error.lock().expect("not poisoned").get_or_insert(e);
                            break;
                        }
                    }
                    (floats, strings)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("summary workers do not panic"))
            .collect()
    });
    if let Some(e) = first_error.into_inner().expect("not poisoned") {
        return Err(e);
    }
    let mut partials = partials.into_iter();
    let (mut floats, mut strings) = partials
        .next()
        .unwrap_or_else(|| (FloatSummaries::new(objects), StringSummaries::new(objects)));
    for (f, s) in partials {
        floats.merge(f);
        strings.merge(s);
    }
    Ok((floats, strings))
}

fn summarize_unit(
    kind: SeriesKind,
    unit: &SeriesUnit,
    index: &IdIndex,
    floats: &mut FloatSummaries,
    strings: &mut StringSummaries,
) -> Result<(), LoadError> {
    let mut add = |file: &Path, batch: &RecordBatch| add_points(kind, file, batch, index, floats, strings);
    match unit {
        // Each batch is summarized as soon as it is decoded, while it is still in the cache.
        SeriesUnit::RowGroup {
            file,
            row_group,
            metadata,
        } => guarded(file, || {
            for batch in read_row_group(file, metadata, *row_group)? {
                add(file, &batch.map_err(|e| parquet_error(file, e))?)?;
            }
            Ok(())
        }),
        SeriesUnit::Batch { label, batch } => add(label, batch),
    }
}

/// Adds a batch of points of `kind`, read from `file`, to its summaries.
pub(crate) fn add_points(
    kind: SeriesKind,
    file: &Path,
    batch: &RecordBatch,
    index: &IdIndex,
    floats: &mut FloatSummaries,
    strings: &mut StringSummaries,
) -> Result<(), LoadError> {
    match kind {
        SeriesKind::Float => floats.add_batch(batch, index),
        SeriesKind::String => strings.add_batch(batch, index),
    }
    .map_err(|p| series_error(file, p))
}

/// A problem with the points of the series file `file`, as an error naming it.
pub(crate) fn series_error(file: &Path, problem: SeriesProblem) -> LoadError {
    match problem {
        SeriesProblem::Column { column, problem } => LoadError::SeriesColumn {
            file: file.to_path_buf(),
            column: column.to_string(),
            problem,
        },
        SeriesProblem::UnknownObject(id) => LoadError::UnknownObject {
            file: file.to_path_buf(),
            id,
        },
    }
}

/// Runs `f` over `items` on up to `threads` threads, keeping the order; the first error wins.
pub(crate) fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> Result<R, LoadError> + Sync,
) -> Result<Vec<R>, LoadError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<R, LoadError>>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.min(items.len()).max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= items.len() {
                        break;
                    }
                    let r = f(&items[i]);
                    results.lock().expect("not poisoned")[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("not poisoned")
        .into_iter()
        .map(|r| r.expect("every item was processed"))
        .collect()
}

/// The cores this process may use, asked once: the answer reads the process's affinity and
/// cgroup quota, files whose reading showed in the profile of a one-shot query.
pub(crate) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Opens a Parquet file, checking that it starts with the magic bytes `PAR1` (the reader
/// itself only looks at the end of the file).
pub(crate) fn open(file: &Path) -> Result<File, LoadError> {
    use std::io::{Read, Seek};
    let io = |source| LoadError::Io {
        file: file.to_path_buf(),
        source,
    };
    let mut f = File::open(file).map_err(io)?;
    let mut magic = [0u8; 4];
    if f.read_exact(&mut magic).is_err() || &magic != b"PAR1" {
        return Err(parquet_error(
            file,
            "it does not start with the Parquet magic bytes `PAR1`",
        ));
    }
    f.rewind().map_err(io)?;
    Ok(f)
}

pub(crate) fn parquet_error(file: &Path, e: impl std::fmt::Display) -> LoadError {
    LoadError::Parquet {
        file: file.to_path_buf(),
        message: e.to_string(),
    }
}

/// Runs `read` (the reading of one file), turning a panic of the Parquet reader, which some
/// corrupt files cause, into an error naming the file.
pub(crate) fn guarded<T>(file: &Path, read: impl FnOnce() -> Result<T, LoadError>) -> Result<T, LoadError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        Err(parquet_error(file, format!("the Parquet reader failed: {what}")))
    })
}

/// The position, among a row group's column chunks, of the top-level column `name` (not a
/// list's or a struct's leaf).
pub(crate) fn leaf_column(row_group: &RowGroupMetaData, name: &str) -> Option<usize> {
    row_group
        .columns()
        .iter()
        .position(|c| c.column_path().parts() == [name])
}

/// Reads a whole Parquet file into one batch.
pub(crate) fn read_whole(file: &Path) -> Result<RecordBatch, LoadError> {
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(open(file)?).map_err(|e| parquet_error(file, e))?;
    let schema = builder.schema().clone();
    let reader = builder
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| parquet_error(file, e))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| parquet_error(file, e))?;
    concat_batches(&schema, &batches).map_err(|e| parquet_error(file, e))
}

/// The reader metadata of a series file, with `sys/id` and `path` read dictionary-encoded
/// and only the columns the summaries need. Checks that the required columns are there.
pub(crate) fn series_metadata(file: &Path) -> Result<ArrowReaderMetadata, LoadError> {
    series_metadata_with(file, PageIndexPolicy::Skip)
}

/// [`series_metadata`], with the file's page index (read if `policy` says so and the file
/// has one): the minimum and maximum of each page, by which a reader skips pages.
pub(crate) fn series_metadata_with(
    file: &Path,
    policy: PageIndexPolicy,
) -> Result<ArrowReaderMetadata, LoadError> {
    let f = open(file)?;
    let plain = ArrowReaderMetadata::load(&f, ArrowReaderOptions::new().with_page_index_policy(policy))
        .map_err(|e| parquet_error(file, e))?;
    let schema = plain.schema();
    for required in [ID_COLUMN, PATH_COLUMN, STEP_COLUMN, VALUE_COLUMN] {
        if schema.column_with_name(required).is_none() {
            return Err(LoadError::SeriesColumn {
                file: file.to_path_buf(),
                column: required.to_string(),
                problem: format!(
                    "missing (a series table has columns {ID_COLUMN}, {PATH_COLUMN}, {STEP_COLUMN}, {VALUE_COLUMN} and optionally {TIMESTAMP_COLUMN})"
                ),
            });
        }
    }
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let hinted: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let is_key = f.name() == ID_COLUMN || f.name() == PATH_COLUMN;
            if is_key
                && matches!(
                    f.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                )
            {
                f.as_ref().clone().with_data_type(dictionary.clone())
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new_with_metadata(
        hinted,
        schema.metadata().clone(),
    )));
    ArrowReaderMetadata::try_new(plain.metadata().clone(), options).map_err(|e| parquet_error(file, e))
}

/// Rows of a batch of series points as the summaries read them.
const SERIES_BATCH_ROWS: usize = 16 * 1024;

/// A reader of one row group of a series file, only the columns the summaries use, in
/// batches small enough to stay in the cache while they are summarized.
pub(crate) fn read_row_group(
    file: &Path,
    metadata: &ArrowReaderMetadata,
    row_group: usize,
) -> Result<ParquetRecordBatchReader, LoadError> {
    let wanted = [
        ID_COLUMN,
        PATH_COLUMN,
        STEP_COLUMN,
        VALUE_COLUMN,
        TIMESTAMP_COLUMN,
    ];
    let schema = metadata.schema();
    let roots: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| wanted.contains(&schema.field(i).name().as_str()))
        .collect();
    let mask = ProjectionMask::roots(metadata.parquet_schema(), roots);
    ParquetRecordBatchReaderBuilder::new_with_metadata(open(file)?, metadata.clone())
        .with_row_groups(vec![row_group])
        .with_projection(mask)
        .with_batch_size(SERIES_BATCH_ROWS)
        .build()
        .map_err(|e| parquet_error(file, e))
}

/// What the object tables will take in memory once decoded, from the Parquet footers.
pub(crate) fn estimate_memory(object_files: &[(ObjectKind, Vec<PathBuf>)]) -> Result<u64, LoadError> {
    let mut total = 0u64;
    for (_, files) in object_files {
        for file in files {
            let md = guarded(file, || {
                ArrowReaderMetadata::load(&open(file)?, ArrowReaderOptions::new())
                    .map_err(|e| parquet_error(file, e))
            })?;
            total += md
                .metadata()
                .row_groups()
                .iter()
                .map(|rg| rg.total_byte_size().max(0) as u64)
                .sum::<u64>();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_reading_a_file_is_an_error_naming_it() {
        let file = Path::new("runs/part-7.parquet");
        let e = guarded::<()>(file, || panic!("index out of bounds")).unwrap_err();
        assert!(matches!(e, LoadError::Parquet { .. }), "{e}");
        let message = e.to_string();
        assert!(message.contains("part-7.parquet"), "{message}");
        assert!(message.contains("index out of bounds"), "{message}");
        let e = guarded::<()>(file, || std::panic::panic_any(7u8)).unwrap_err();
        assert!(e.to_string().contains("part-7.parquet"), "{e}");
        assert_eq!(guarded(file, || Ok(3)).unwrap(), 3);
    }
}
