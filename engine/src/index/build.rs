//! Building and refreshing the index of a native project.
//!
//! 1. Object files: a file whose identity matches the manifest's keeps its rows as the
//!    last build wrote them (sliced from the table's pack, nothing decoded); any other is
//!    read whole and checked as a load checks it. Ids must be unique across the project.
//! 2. Series files: a file whose identity matches keeps its stored state; any other is
//!    summarized (row groups in parallel) and its state written. Every state is merged into
//!    the project's summaries (exact, so the order does not matter), which also checks that
//!    every point names an object.
//! 3. Each table is written as a pack of columns ([`super::columns`]), then the manifest,
//!    then files no manifest names are removed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::DataType;
use datasets::layout::{ObjectKind, SeriesKind};
use nql::AttrType;

use super::columns::{TableWriter, old_chunks, patched_summaries, summary_columns};
use super::manifest::{self, FileIdentity, Manifest, ObjectFileEntry, SeriesEntry};
use super::pack::{self, Pack};
use super::{IndexReport, index_error};
use crate::error::LoadError;
use crate::load::objects::ObjectChunk;
use crate::load::series::{FloatSummaries, IdIndex, SeriesProblem, StringSummaries};
use crate::load::{self, LoadOptions, Sources, guarded, objects, parallel_map};

/// A table of the build: its rows (by file), its files' entries, its objects' numbers, and
/// for each row its row in the last build's table (null for a new object).
struct Table {
    kind: ObjectKind,
    /// Its pack, objects written (the chunks they came in freed before series are read, in
    /// a build from nothing; while they are read, in a refresh).
    writer: Option<TableWriter>,
    /// Its objects, until a refresh's writer takes them.
    chunks: Vec<ObjectChunk>,
    files: Vec<ObjectFileEntry>,
    range: std::ops::Range<usize>,
    from_old: UInt32Array,
}

/// Float and string series summaries merged from states.
struct Merged {
    floats: FloatSummaries,
    strings: StringSummaries,
}

impl Merged {
    fn new(objects: usize) -> Merged {
        Merged {
            floats: FloatSummaries::new(objects),
            strings: StringSummaries::new(objects),
        }
    }

    /// Merges a state batch of a series file of `kind`.
    fn add(&mut self, kind: SeriesKind, batch: &RecordBatch, index: &IdIndex) -> Result<(), SeriesProblem> {
        match kind {
            SeriesKind::Float => self.floats.add_states(batch, index),
            SeriesKind::String => self.strings.add_batch(batch, index),
        }
    }

    /// Every (series, object) these hold.
    fn keys(&self) -> Dirty {
        let mut dirty = Dirty::new();
        for (path, object) in self.floats.keys() {
            set(
                &mut dirty,
                path,
                AttrType::FloatSeries,
                object,
                self.floats.objects(),
            );
        }
        for (path, object) in self.strings.keys() {
            set(
                &mut dirty,
                path,
                AttrType::StringSeries,
                object,
                self.strings.objects(),
            );
        }
        dirty
    }
}

/// For each series (path and type), the objects whose summary must be computed anew.
type Dirty = HashMap<(String, AttrType), Vec<bool>>;

fn set(dirty: &mut Dirty, path: &str, ty: AttrType, object: u32, objects: usize) {
    dirty
        .entry((path.to_string(), ty))
        .or_insert_with(|| vec![false; objects])[object as usize] = true;
}

/// The summaries of a build: merged from every state, or only those a change touched.
enum Summaries {
    Full(Merged),
    Patch { fresh: Merged, dirty: Dirty },
}

fn series_kind(table: &str) -> SeriesKind {
    if table == SeriesKind::String.table_name() {
        SeriesKind::String
    } else {
        SeriesKind::Float
    }
}

fn series_type(kind: SeriesKind) -> AttrType {
    kind.attr_type()
}

/// Marks as dirty every (series, object) of a state's keys.
fn mark(
    dirty: &mut Dirty,
    keys: &RecordBatch,
    index: &IdIndex,
    kind: SeriesKind,
    objects: usize,
) -> Result<(), SeriesProblem> {
    let ty = series_type(kind);
    for (path, object) in state_keys(keys, index)? {
        set(dirty, &path, ty, object, objects);
    }
    Ok(())
}

/// Which rows of a state's keys are dirty.
fn touching(
    keys: &RecordBatch,
    index: &IdIndex,
    kind: SeriesKind,
    dirty: &Dirty,
) -> Result<BooleanArray, SeriesProblem> {
    let ty = series_type(kind);
    Ok(state_keys(keys, index)?
        .into_iter()
        .map(|(path, object)| Some(dirty.get(&(path, ty)).is_some_and(|d| d[object as usize])))
        .collect())
}

/// The (path, object number) of every row of a state's keys (`sys/id`, `path`).
fn state_keys(keys: &RecordBatch, index: &IdIndex) -> Result<Vec<(String, u32)>, SeriesProblem> {
    let strings = |name: &'static str| -> Result<ArrayRef, SeriesProblem> {
        let column = keys.column_by_name(name).ok_or(SeriesProblem::Column {
            column: name,
            problem: "missing from the stored state".into(),
        })?;
        datafusion::arrow::compute::cast(column, &DataType::Utf8).map_err(|e| SeriesProblem::Column {
            column: name,
            problem: e.to_string(),
        })
    };
    let (ids, paths) = (
        strings(datasets::layout::ID_COLUMN)?,
        strings(datasets::layout::PATH_COLUMN)?,
    );
    let (ids, paths) = (ids.as_string::<i32>(), paths.as_string::<i32>());
    (0..keys.num_rows())
        .map(|r| {
            let id = ids.value(r);
            let object = index
                .get(id)
                .ok_or_else(|| SeriesProblem::UnknownObject(id.to_string()))?;
            Ok((paths.value(r).to_string(), object))
        })
        .collect()
}

/// The dirty flags of the objects `range` (one table's), as masks over the table's rows.
fn dirty_of(dirty: &Dirty, range: std::ops::Range<usize>) -> HashMap<(String, AttrType), BooleanBuffer> {
    dirty
        .iter()
        .filter(|(_, flags)| flags[range.clone()].iter().any(|&f| f))
        .map(|(key, flags)| {
            (
                key.clone(),
                BooleanBuffer::from_iter(flags[range.clone()].iter().copied()),
            )
        })
        .collect()
}

/// The `sys/id` and `path` columns of a state file.
fn read_state_keys(path: &Path) -> Result<RecordBatch, LoadError> {
    Pack::open(path)?.read_batch(Some(&[
        datasets::layout::ID_COLUMN,
        datasets::layout::PATH_COLUMN,
    ]))
}

/// The path of `file` in the project, `/`-separated.
fn relative(dir: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(dir).unwrap_or(file);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the index of `manifest` describes exactly the files of `sources`, unchanged.
pub(crate) fn is_fresh(manifest: &Manifest, sources: &Sources) -> bool {
    let objects_fresh = manifest.tables.len() == sources.objects.len()
        && sources.objects.iter().all(|(kind, files)| {
            manifest.tables.iter().any(|t| {
                t.table == kind.table_name()
                    && t.files.len() == files.len()
                    && t.files
                        .iter()
                        .zip(files)
                        .all(|(e, f)| e.source.path == relative(&sources.dir, f) && e.source.matches(f))
            })
        });
    let series: Vec<(&SeriesKind, &PathBuf)> = sources
        .series
        .iter()
        .flat_map(|(k, files)| files.iter().map(move |f| (k, f)))
        .collect();
    objects_fresh
        && manifest.series.len() == series.len()
        && series.iter().zip(&manifest.series).all(|((kind, file), e)| {
            e.table == kind.table_name()
                && e.source.path == relative(&sources.dir, file)
                && e.source.matches(file)
        })
}

/// What step 1 learns of one object file: its rows (read now, or to be taken from the
/// table's last pack: its place there), and its manifest entry.
enum ObjectPart {
    Read(ObjectChunk, ObjectFileEntry),
    Kept { start: usize, entry: ObjectFileEntry },
}

/// Builds the index of `sources` in `dir`, reusing what `previous` recorded of files that
/// have not changed. The caller holds the lock.
pub(crate) fn build(
    sources: &Sources,
    dir: &Path,
    previous: Option<Manifest>,
    options: &LoadOptions,
) -> Result<(Manifest, IndexReport), LoadError> {
    let previous = previous.filter(|m| m.source.is_none()).unwrap_or_default();
    let generation = previous.generation + 1;
    remove_leftovers(dir);

    // 1. Object files.
    let all = sources.object_files();
    let progress = load::Progress::new("objects", all.len());
    let parts = parallel_map(&all, options.threads(), |(kind, file)| {
        let rel = relative(&sources.dir, file);
        let mut start = 0;
        let mut known = None;
        if let Some(table) = previous.tables.iter().find(|t| t.table == kind.table_name()) {
            for e in &table.files {
                if e.source.path == rel && e.source.matches(file) {
                    known = Some(e);
                    break;
                }
                start += e.rows;
            }
        }
        let part = match known {
            Some(entry) => {
                let mut entry = entry.clone();
                if let Ok(identity) = FileIdentity::of(file, rel) {
                    entry.source = identity;
                }
                ObjectPart::Kept { start, entry }
            }
            None => {
                let (chunk, entry) = checked_part(file, rel)?;
                ObjectPart::Read(chunk, entry)
            }
        };
        progress.advance(options);
        Ok(part)
    })?;
    let mut index = IdIndex::default();
    let mut tables: Vec<Table> = Vec::new();
    // Whether every object file of the last build is still there unchanged (new ones may
    // have come): then the summaries of series no changed file touches are kept as they are.
    let known_files: usize = previous.tables.iter().map(|t| t.files.len()).sum();
    let kept_files = parts
        .iter()
        .filter(|p| matches!(p, ObjectPart::Kept { .. }))
        .count();
    let objects_kept = !previous.tables.is_empty()
        && kept_files == known_files
        && previous.tables.len() == sources.objects.len()
        && previous
            .tables
            .iter()
            .all(|t| sources.objects.iter().any(|(k, _)| k.table_name() == t.table));
    // A refresh that keeps object files summarizes what changed, not everything.
    let refreshing = kept_files > 0;
    let mut parts = parts.into_iter().zip(&all).peekable();
    for (kind, _) in &sources.objects {
        let mut mine = Vec::new();
        while let Some((part, _)) = parts.next_if(|(_, (k, _))| k == kind) {
            mine.push(part);
        }
        // Kept files' rows, from the last pack of the table, in one read of it.
        let ranges: Vec<(usize, usize)> = mine
            .iter()
            .filter_map(|p| match p {
                ObjectPart::Kept { start, entry } => Some((*start, entry.rows)),
                ObjectPart::Read(..) => None,
            })
            .collect();
        let kept = match previous.tables.iter().find(|t| t.table == kind.table_name()) {
            Some(table) => old_chunks(dir, table, &ranges, &sources.dir.join(kind.table_name()))?,
            None => Vec::new(),
        };
        let mut kept = kept.into_iter();
        let start = index.len();
        let mut chunks = Vec::with_capacity(mine.len());
        let mut entries = Vec::with_capacity(mine.len());
        // For each row of the table, its row in the last build's table (null if new).
        let mut from_old: Vec<Option<u32>> = Vec::new();
        for (part, (_, file)) in mine.into_iter().zip(all.iter().filter(|(k, _)| k == kind)) {
            let (mut chunk, entry) = match part {
                ObjectPart::Read(chunk, entry) => {
                    from_old.extend(std::iter::repeat_n(None, chunk.rows));
                    (chunk, entry)
                }
                ObjectPart::Kept { entry, start } => {
                    from_old.extend((start..start + entry.rows).map(|r| Some(r as u32)));
                    (kept.next().expect("a chunk per kept file"), entry)
                }
            };
            chunk.file = file.to_path_buf();
            index.insert_file(file, &chunk.ids)?;
            chunks.push(chunk);
            entries.push(entry);
        }
        // A build from nothing holds every summary at its end: the chunks go first. A
        // refresh's tables are written while the changed series files are summarized.
        let (writer, chunks) = match refreshing {
            true => (None, chunks),
            false => (
                Some(TableWriter::start(dir, generation, *kind, chunks)?),
                Vec::new(),
            ),
        };
        tables.push(Table {
            kind: *kind,
            writer,
            chunks,
            files: entries,
            range: start..index.len(),
            from_old: UInt32Array::from(from_old),
        });
    }

    // 2. Series files.
    let objects = index.len();
    let series_files = sources.series_files();
    let known: Vec<Option<&SeriesEntry>> = series_files
        .iter()
        .map(|(kind, file)| {
            let rel = relative(&sources.dir, file);
            previous
                .series
                .iter()
                .find(|e| e.table == kind.table_name() && e.source.path == rel && e.source.matches(file))
        })
        .collect();
    let mut work = Vec::with_capacity(series_files.len());
    for ((_, file), known) in series_files.iter().zip(&known) {
        work.push(match known {
            Some(_) => Vec::new(),
            None => load::row_groups(file)?,
        });
    }
    // New and changed files, summarized; their states written. A file's state is written
    // and merged while the next file is summarized.
    let progress = load::Progress::new("series", work.iter().map(Vec::len).sum());
    let fresh = std::sync::Mutex::new(Merged::new(objects));
    let mut entries = Vec::new();
    let (mut summarized, mut reused) = (0, 0);
    std::thread::scope(|scope| -> Result<(), LoadError> {
        let pending: Vec<(ObjectKind, Vec<ObjectChunk>)> = tables
            .iter_mut()
            .filter(|t| t.writer.is_none())
            .map(|t| (t.kind, std::mem::take(&mut t.chunks)))
            .collect();
        let tables_written = (!pending.is_empty()).then(|| {
            scope.spawn(move || {
                pending
                    .into_iter()
                    .map(|(kind, chunks)| TableWriter::start(dir, generation, kind, chunks))
                    .collect::<Result<Vec<TableWriter>, LoadError>>()
            })
        });
        let mut writing: Option<std::thread::ScopedJoinHandle<Result<(), LoadError>>> = None;
        let finish = |writing: Option<std::thread::ScopedJoinHandle<Result<(), LoadError>>>| match writing {
            Some(w) => w.join().expect("state writers do not panic"),
            None => Ok(()),
        };
        for (n, (((kind, file), known), units)) in series_files.iter().zip(&known).zip(work).enumerate() {
            if let Some(entry) = known {
                entries.push((*entry).clone());
                reused += 1;
                continue;
            }
            let units: Vec<(SeriesKind, load::SeriesUnit)> = units.into_iter().map(|u| (*kind, u)).collect();
            let rows = units
                .iter()
                .map(|(_, u)| match u {
                    load::SeriesUnit::RowGroup {
                        metadata, row_group, ..
                    } => metadata.metadata().row_group(*row_group).num_rows().max(0) as u64,
                    load::SeriesUnit::Batch { batch, .. } => batch.num_rows() as u64,
                })
                .sum();
            let (f, s) = load::summarize(units, &index, options, &progress)?;
            finish(writing.take())?;
            let state = format!("state/{generation}-{n}.pack");
            let (kind, index, fresh) = (*kind, &index, &fresh);
            let target = dir.join(&state);
            writing = Some(scope.spawn(move || {
                let batch = match kind {
                    SeriesKind::Float => f.state_batch(index),
                    SeriesKind::String => s.state_batch(index),
                };
                pack::write_batch(&target, &batch)?;
                let mut fresh = fresh.lock().expect("not poisoned");
                fresh.floats.merge(f);
                fresh.strings.merge(s);
                Ok(())
            }));
            summarized += 1;
            entries.push(SeriesEntry {
                source: FileIdentity::of(file, relative(&sources.dir, file)).map_err(|source| {
                    LoadError::Io {
                        file: file.to_path_buf(),
                        source,
                    }
                })?,
                table: kind.table_name().to_string(),
                rows,
                state,
            });
        }
        finish(writing.take())?;
        if let Some(written) = tables_written {
            let writers = written.join().expect("table writers do not panic")?;
            for (table, writer) in tables.iter_mut().filter(|t| t.writer.is_none()).zip(writers) {
                table.writer = Some(writer);
            }
        }
        Ok(())
    })?;
    let mut fresh = fresh.into_inner().expect("not poisoned");
    let gone: Vec<&SeriesEntry> = previous
        .series
        .iter()
        .filter(|e| !entries.iter().any(|n| n.state == e.state))
        .collect();
    let removed = gone.len();
    let kept_states: Vec<(SeriesKind, &PathBuf, &SeriesEntry)> = series_files
        .iter()
        .zip(&known)
        .filter_map(|((kind, file), known)| known.map(|e| (*kind, *file, e)))
        .collect();
    let summaries = if objects_kept {
        // Only the series that a new, changed or removed file touches are merged again.
        let mut dirty = fresh.keys();
        for e in &gone {
            let file = dir.join(&e.state);
            let keys = read_state_keys(&file)?;
            mark(&mut dirty, &keys, &index, series_kind(&e.table), objects)
                .map_err(|p| state_error(&file, &file, p))?;
        }
        // Series of objects that are new this build are in no kept file: when every dirty
        // series is one (files of new runs came, nothing else), kept files need no reading.
        let new_object: Vec<bool> = tables
            .iter()
            .flat_map(|t| t.from_old.iter().map(|o| o.is_none()))
            .collect();
        let only_new = dirty
            .values()
            .all(|flags| flags.iter().zip(&new_object).all(|(d, new)| !d || *new));
        for (kind, file, e) in kept_states.iter().filter(|_| !only_new) {
            let state = dir.join(&e.state);
            let keys = read_state_keys(&state)?;
            let touched = touching(&keys, &index, *kind, &dirty).map_err(|p| state_error(file, &state, p))?;
            if touched.true_count() > 0 {
                let batch = datafusion::arrow::compute::filter_record_batch(&read_state(&state)?, &touched)
                    .map_err(|e| index_error(&state, e.to_string()))?;
                fresh
                    .add(*kind, &batch, &index)
                    .map_err(|p| state_error(file, &state, p))?;
            }
        }
        Summaries::Patch { fresh, dirty }
    } else {
        let mut all = fresh;
        for (kind, file, e) in &kept_states {
            let state = dir.join(&e.state);
            all.add(*kind, &read_state(&state)?, &index)
                .map_err(|p| state_error(file, &state, p))?;
        }
        Summaries::Full(all)
    };

    // 3. Tables, then the manifest. Every table's summary columns first, so that the
    // summaries they come from are freed before the packs are written.
    options.report("index", 0, tables.len());
    let mut columns = Vec::with_capacity(tables.len());
    for table in &tables {
        columns.push(match &summaries {
            Summaries::Full(all) => summary_columns(&all.floats, &all.strings, table.range.clone()),
            Summaries::Patch { fresh, dirty } => {
                let last = previous
                    .tables
                    .iter()
                    .find(|t| t.table == table.kind.table_name())
                    .ok_or_else(|| {
                        index_error(
                            dir,
                            format!("the last build has no {} table", table.kind.table_name()),
                        )
                    })?;
                let dirty = dirty_of(dirty, table.range.clone());
                patched_summaries(
                    dir,
                    last,
                    &table.from_old,
                    summary_columns(&fresh.floats, &fresh.strings, table.range.clone()),
                    &dirty,
                )?
            }
        });
    }
    drop(summaries);
    let mut table_entries = Vec::new();
    let count = tables.len();
    for (t, (table, columns)) in tables.into_iter().zip(columns).enumerate() {
        let mut entry = table
            .writer
            .expect("every table's objects are written")
            .finish(columns)?;
        entry.files = table.files;
        table_entries.push(entry);
        options.report("index", t + 1, count);
    }
    let manifest = Manifest {
        format: manifest::FORMAT,
        engine: env!("CARGO_PKG_VERSION").to_string(),
        generation,
        tables: table_entries,
        series: entries,
        source: None,
        units: Vec::new(),
    };
    manifest
        .write(dir)
        .map_err(|e| index_error(&dir.join(manifest::MANIFEST), format!("cannot write: {e}")))?;
    remove_unreferenced(dir, &manifest);
    let report = IndexReport {
        dir: dir.to_path_buf(),
        built: true,
        summarized,
        reused,
        removed,
    };
    Ok((manifest, report))
}

/// An object file read whole and checked: its rows and its manifest entry.
fn checked_part(file: &Path, rel: String) -> Result<(ObjectChunk, ObjectFileEntry), LoadError> {
    let batch = guarded(file, || load::read_whole(file))?;
    let chunk = objects::normalize(file, &batch)?;
    let source = FileIdentity::of(file, rel).map_err(|source| LoadError::Io {
        file: file.to_path_buf(),
        source,
    })?;
    let entry = ObjectFileEntry {
        source,
        rows: chunk.rows,
    };
    Ok((chunk, entry))
}

/// A problem with a stored state of `file` (in `state`), as an error: an unknown object is
/// the series file's; anything else a damaged index.
pub(super) fn state_error(file: &Path, state: &Path, problem: SeriesProblem) -> LoadError {
    match problem {
        // The state was written from `file`, which names an object no object file holds now.
        SeriesProblem::UnknownObject(id) => LoadError::UnknownObject {
            file: file.to_path_buf(),
            id,
        },
        SeriesProblem::Column { column, problem } => LoadError::Column {
            file: state.to_path_buf(),
            column: column.to_string(),
            problem: format!("{problem} (a damaged index: rebuild it with `nql index --rebuild`)"),
        },
    }
}

/// Reads a state file whole.
pub(super) fn read_state(path: &Path) -> Result<RecordBatch, LoadError> {
    Pack::open(path)?.read_batch(None)
}

/// Removes what an interrupted build left (`.tmp-*` files); the caller holds the lock.
pub(super) fn remove_leftovers(dir: &Path) {
    for sub in [dir.to_path_buf(), dir.join("state"), dir.join("tables")] {
        let Ok(entries) = std::fs::read_dir(&sub) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Removes state and serving files `manifest` does not name. A process still reading an
/// older index holds its files open, which keeps their contents readable on Unix.
pub(super) fn remove_unreferenced(dir: &Path, manifest: &Manifest) {
    let files = manifest.files();
    let keep: HashMap<&str, ()> = files.iter().map(|f| (f.as_str(), ())).collect();
    for sub in ["state", "tables"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = format!("{sub}/{}", e.file_name().to_string_lossy());
            if !keep.contains_key(name.as_str()) && !name.contains("/.tmp-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}
