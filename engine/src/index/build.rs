//! Building and refreshing a project index.
//!
//! 1. Object files: a file whose identity matches the manifest's is trusted (only its
//!    `sys/id` and `sys/creation_time` are read, to number the objects and order them); any
//!    other is read whole and checked as a load checks it. Ids must be unique across the
//!    project.
//! 2. Series files: a file whose identity matches keeps its stored state; any other is
//!    summarized (row groups in parallel) and its state written. Every state is merged into
//!    the project's summaries (exact, so the order does not matter), which also checks that
//!    every point names an object.
//! 3. Each table's summaries are written in the order of its object files' rows, with the
//!    default result order as a permutation, then the manifest, then files no manifest names
//!    are removed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, RecordBatch, RecordBatchReader, StringViewArray, UInt32Array,
};
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datasets::layout::{ObjectKind, SeriesKind};
use nql::AttrType;

use super::manifest::{self, FileIdentity, Manifest, ObjectFileEntry, SeriesColumn, SeriesEntry, TableEntry};
use super::{IndexReport, index_error};
use crate::error::LoadError;
use crate::load::series::{FloatSummaries, IdIndex, SeriesProblem, StringSummaries};
use crate::load::{self, LoadOptions, Sources, guarded, objects, parallel_map, parquet_error};
use crate::query::DEFAULT_SORT;
use crate::table::{attribute_column, default_order_indices, id_column, summary_column};

/// The column of a serving file holding the default result order: for each of its places,
/// the position (in the table's object files) of the row there.
pub(crate) const ORDER_COLUMN: &str = "nql:order";

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

/// What step 1 learns of one object file.
struct ObjectPart {
    entry: ObjectFileEntry,
    ids: StringViewArray,
    /// `sys/creation_time`, when the file has it.
    created: Option<ArrayRef>,
}

/// Builds the index of `sources` in `dir`, reusing what `previous` recorded of files that
/// have not changed. The caller holds the lock.
pub(crate) fn build(
    sources: &Sources,
    dir: &Path,
    previous: Option<Manifest>,
    options: &LoadOptions,
) -> Result<(Manifest, IndexReport), LoadError> {
    let previous = previous.unwrap_or_default();
    let generation = previous.generation + 1;
    remove_leftovers(dir);

    // 1. Object files.
    let all: Vec<(ObjectKind, &PathBuf)> = sources
        .objects
        .iter()
        .flat_map(|(k, files)| files.iter().map(move |f| (*k, f)))
        .collect();
    let progress = load::Progress::new("objects", all.len());
    let parts = parallel_map(&all, options.threads(), |(kind, file)| {
        let rel = relative(&sources.dir, file);
        let known = previous
            .tables
            .iter()
            .filter(|t| t.table == kind.table_name())
            .flat_map(|t| &t.files)
            .find(|e| e.source.path == rel && e.source.matches(file));
        let part = match known {
            Some(entry) => trusted_part(file, entry)?,
            None => checked_part(file, rel)?,
        };
        progress.advance(options);
        Ok((*kind, part))
    })?;
    let mut index = IdIndex::default();
    let mut tables: Vec<(ObjectKind, Vec<ObjectPart>, std::ops::Range<usize>)> = Vec::new();
    let mut parts = parts.into_iter().zip(&all).peekable();
    for (kind, _) in &sources.objects {
        let start = index.len();
        let mut mine = Vec::new();
        while let Some(((_, part), (_, file))) = parts.next_if(|((k, _), _)| k == kind) {
            index.insert_file(file, &part.ids)?;
            mine.push(part);
        }
        tables.push((*kind, mine, start..index.len()));
    }

    // 2. Series files.
    let objects = index.len();
    let mut floats = FloatSummaries::new(objects);
    let mut strings = StringSummaries::new(objects);
    let mut entries = Vec::new();
    let (mut summarized, mut reused) = (0, 0);
    let series_files: Vec<(SeriesKind, &PathBuf)> = sources
        .series
        .iter()
        .flat_map(|(k, files)| files.iter().map(move |f| (*k, f)))
        .collect();
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
    let progress = load::Progress::new("series", work.iter().map(Vec::len).sum());
    for (n, (((kind, file), known), units)) in series_files.iter().zip(known).zip(work).enumerate() {
        let rel = relative(&sources.dir, file);
        let entry = match known {
            Some(entry) => {
                let state = dir.join(&entry.state);
                let batch = read_state(&state)?;
                let merged = match kind {
                    SeriesKind::Float => floats.add_states(&batch, &index),
                    SeriesKind::String => strings.add_batch(&batch, &index),
                };
                merged.map_err(|p| series_error(file, &state, p))?;
                reused += 1;
                entry.clone()
            }
            None => {
                let units: Vec<(SeriesKind, load::SeriesUnit)> =
                    units.into_iter().map(|u| (*kind, u)).collect();
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
                let state = format!("state/{generation}-{n}.parquet");
                let batch = match kind {
                    SeriesKind::Float => f.state_batch(&index),
                    SeriesKind::String => s.state_batch(&index),
                };
                write_parquet(&dir.join(&state), &batch, true)?;
                floats.merge(f);
                strings.merge(s);
                summarized += 1;
                SeriesEntry {
                    source: FileIdentity::of(file, rel).map_err(|source| LoadError::Io {
                        file: file.to_path_buf(),
                        source,
                    })?,
                    table: kind.table_name().to_string(),
                    rows,
                    state,
                }
            }
        };
        entries.push(entry);
    }
    let removed = previous
        .series
        .iter()
        .filter(|e| !entries.iter().any(|n| n.state == e.state))
        .count();

    // 3. Serving files, then the manifest.
    options.report("index", 0, tables.len());
    let mut table_entries = Vec::new();
    for (t, (kind, parts, range)) in tables.into_iter().enumerate() {
        let rows = range.len();
        let ids: Vec<&dyn Array> = parts.iter().map(|p| &p.ids as &dyn Array).collect();
        let ids: ArrayRef = if ids.is_empty() {
            Arc::new(StringViewArray::from(Vec::<&str>::new()))
        } else {
            concat(&ids).map_err(|e| index_error(dir, e.to_string()))?
        };
        let created = creation_times(&parts, dir)?;
        let (serving, series) = write_serving(dir, generation, kind, ids, created, &floats, &strings, range)?;
        table_entries.push(TableEntry {
            table: kind.table_name().to_string(),
            rows,
            files: parts.into_iter().map(|p| p.entry).collect(),
            series,
            serving,
            written: false,
        });
        options.report("index", t + 1, sources.objects.len());
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

/// An object file the manifest knows: its ids and creation times, nothing else read.
fn trusted_part(file: &Path, entry: &ObjectFileEntry) -> Result<ObjectPart, LoadError> {
    guarded(file, || {
        let handle = load::open(file)?;
        let metadata = ArrowReaderMetadata::load(&handle, ArrowReaderOptions::new())
            .map_err(|e| parquet_error(file, e))?;
        let columns = objects::file_columns(file, metadata.schema())?;
        let created = columns
            .attributes
            .iter()
            .find(|c| c.path == DEFAULT_SORT && c.ty == AttrType::Datetime);
        let mut roots = vec![columns.id];
        roots.extend(created.map(|c| c.index));
        let mask = ProjectionMask::roots(metadata.parquet_schema(), roots);
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, metadata.clone())
            .with_projection(mask)
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|e| parquet_error(file, e))?;
        let schema = reader.schema();
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| parquet_error(file, e))?;
        let batch = datafusion::arrow::compute::concat_batches(&schema, &batches)
            .map_err(|e| parquet_error(file, e))?;
        let id_name = metadata.schema().field(columns.id).name();
        let ids = objects::id_array(file, batch.column_by_name(id_name).expect("read"))?;
        let created = match created {
            Some(c) => Some(
                objects::canonical_array(c.ty, batch.column_by_name(&c.name).expect("read")).map_err(
                    |problem| LoadError::Column {
                        file: file.to_path_buf(),
                        column: c.name.clone(),
                        problem,
                    },
                )?,
            ),
            None => None,
        };
        let mut entry = entry.clone();
        if let Ok(identity) = FileIdentity::of(file, entry.source.path.clone()) {
            entry.source = identity;
        }
        Ok(ObjectPart { entry, ids, created })
    })
}

/// An object file read whole and checked: its ids, creation times and column counts.
fn checked_part(file: &Path, rel: String) -> Result<ObjectPart, LoadError> {
    let batch = guarded(file, || load::read_whole(file))?;
    let chunk = objects::normalize(file, &batch)?;
    let counts = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, a)| (f.name().clone(), a.len() - a.null_count()))
        .collect();
    let created = chunk
        .attributes
        .iter()
        .find(|a| a.path == DEFAULT_SORT && a.ty == AttrType::Datetime)
        .map(|a| a.array.clone());
    let source = FileIdentity::of(file, rel).map_err(|source| LoadError::Io {
        file: file.to_path_buf(),
        source,
    })?;
    Ok(ObjectPart {
        entry: ObjectFileEntry {
            source,
            rows: chunk.rows,
            counts,
        },
        ids: chunk.ids,
        created,
    })
}

/// The `sys/creation_time` column of a table's parts put together, when any part has one.
fn creation_times(parts: &[ObjectPart], dir: &Path) -> Result<Option<ArrayRef>, LoadError> {
    let Some(data_type) = parts
        .iter()
        .find_map(|p| p.created.as_ref())
        .map(|c| c.data_type().clone())
    else {
        return Ok(None);
    };
    let pieces: Vec<ArrayRef> = parts
        .iter()
        .map(|p| {
            p.created
                .clone()
                .unwrap_or_else(|| datafusion::arrow::array::new_null_array(&data_type, p.ids.len()))
        })
        .collect();
    let refs: Vec<&dyn Array> = pieces.iter().map(|a| a.as_ref()).collect();
    concat(&refs)
        .map(Some)
        .map_err(|e| index_error(dir, format!("{DEFAULT_SORT}: {e}")))
}

/// Writes the serving file of a table whose objects are `ids` (with their creation times)
/// and whose summaries are those of the objects `range` of `floats` and `strings`: the
/// default order, then every summary column, rows in the order of `ids`. Returns the file's
/// name in the index and the table's series attributes.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_serving(
    dir: &Path,
    generation: u64,
    kind: ObjectKind,
    ids: ArrayRef,
    created: Option<ArrayRef>,
    floats: &FloatSummaries,
    strings: &StringSummaries,
    range: std::ops::Range<usize>,
) -> Result<(String, Vec<SeriesColumn>), LoadError> {
    let rows = ids.len();
    let order = default_order(ids, created)?;
    let mut columns: Vec<(String, ArrayRef)> = vec![(ORDER_COLUMN.to_string(), Arc::new(order))];
    let mut series = Vec::new();
    for (path, arrays, count) in floats.columns(range.clone()) {
        for (aggregate, array) in crate::table::FLOAT_SUMMARIES.into_iter().zip(arrays) {
            columns.push((summary_column(aggregate, &path, AttrType::FloatSeries), array));
        }
        series.push(SeriesColumn {
            path,
            ty: AttrType::FloatSeries.name().to_string(),
            count,
        });
    }
    for (path, last, count) in strings.columns(range) {
        columns.push((
            summary_column(nql::Aggregate::Last, &path, AttrType::StringSeries),
            last,
        ));
        series.push(SeriesColumn {
            path,
            ty: AttrType::StringSeries.name().to_string(),
            count,
        });
    }
    let serving = format!("serve/{}-{generation}.parquet", kind.table_name());
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, a)| Field::new(name, a.data_type().clone(), a.null_count() > 0))
        .collect();
    let batch = RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
        &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|e| index_error(dir, e.to_string()))?;
    write_parquet(&dir.join(&serving), &batch, false)?;
    Ok((serving, series))
}

/// The default order of a table's rows (for each place, the row's position), from their
/// ids and creation times.
fn default_order(ids: ArrayRef, created: Option<ArrayRef>) -> Result<UInt32Array, LoadError> {
    if ids.is_empty() {
        return Ok(UInt32Array::from(Vec::<u32>::new()));
    }
    let mut fields = vec![Field::new(id_column(), DataType::Utf8View, false)];
    let mut arrays = vec![ids];
    if let Some(created) = created {
        fields.push(Field::new(
            attribute_column(DEFAULT_SORT, AttrType::Datetime),
            created.data_type().clone(),
            true,
        ));
        arrays.push(created);
    }
    default_order_indices(&Schema::new(fields), &arrays)
}

fn series_error(file: &Path, state: &Path, problem: SeriesProblem) -> LoadError {
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
fn read_state(path: &Path) -> Result<RecordBatch, LoadError> {
    guarded(path, || load::read_whole(path))
}

/// Writes `batch` to `path`: to a temporary file beside it first, then renamed, so that
/// `path` is whole or absent.
pub(super) fn write_parquet(path: &Path, batch: &RecordBatch, compress: bool) -> Result<(), LoadError> {
    let temporary = path.with_file_name(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let io = |e: std::io::Error| index_error(path, format!("cannot write: {e}"));
    let file = std::fs::File::create(&temporary).map_err(io)?;
    let compression = if compress {
        Compression::ZSTD(ZstdLevel::try_new(1).expect("a valid level"))
    } else {
        Compression::UNCOMPRESSED
    };
    let properties = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties))
        .map_err(|e| index_error(path, e.to_string()))?;
    writer
        .write(batch)
        .map_err(|e| index_error(path, e.to_string()))?;
    let file = writer
        .into_inner()
        .map_err(|e| index_error(path, e.to_string()))?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

/// Removes what an interrupted build left (`.tmp-*` files); the caller holds the lock.
pub(super) fn remove_leftovers(dir: &Path) {
    for sub in [
        dir.to_path_buf(),
        dir.join("state"),
        dir.join("serve"),
        dir.join("objects"),
    ] {
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
    for sub in ["state", "serve", "objects"] {
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
