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

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datasets::layout::{ObjectKind, SeriesKind};

use super::columns::{old_chunks, write_table};
use super::manifest::{self, FileIdentity, Manifest, ObjectFileEntry, SeriesEntry};
use super::{IndexReport, index_error};
use crate::error::LoadError;
use crate::load::objects::ObjectChunk;
use crate::load::series::{FloatSummaries, IdIndex, SeriesProblem, StringSummaries};
use crate::load::{self, LoadOptions, Sources, guarded, objects, parallel_map};

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
    let all: Vec<(ObjectKind, &PathBuf)> = sources
        .objects
        .iter()
        .flat_map(|(k, files)| files.iter().map(move |f| (*k, f)))
        .collect();
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
    // Each table's rows (by file), its files' entries, and its objects' numbers.
    type Table = (
        ObjectKind,
        Vec<ObjectChunk>,
        Vec<ObjectFileEntry>,
        std::ops::Range<usize>,
    );
    let mut tables: Vec<Table> = Vec::new();
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
        for (part, (_, file)) in mine.into_iter().zip(all.iter().filter(|(k, _)| k == kind)) {
            let (mut chunk, entry) = match part {
                ObjectPart::Read(chunk, entry) => (chunk, entry),
                ObjectPart::Kept { entry, .. } => (kept.next().expect("a chunk per kept file"), entry),
            };
            chunk.file = file.to_path_buf();
            index.insert_file(file, &chunk.ids)?;
            chunks.push(chunk);
            entries.push(entry);
        }
        tables.push((*kind, chunks, entries, start..index.len()));
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

    // 3. Tables, then the manifest.
    options.report("index", 0, tables.len());
    let mut table_entries = Vec::new();
    let count = tables.len();
    for (t, (kind, chunks, files, range)) in tables.into_iter().enumerate() {
        let mut entry = write_table(dir, generation, kind, chunks, &floats, &strings, range)?;
        entry.files = files;
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
