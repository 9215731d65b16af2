//! The project index: the per-(object, series path) summaries of a project, computed once,
//! stored as Parquet, and kept fresh as files are added, changed or removed.
//!
//! ```text
//! _nql/                      (or the --index-dir, or a directory of the user's cache)
//!   manifest.json            what the index was built from, and what it holds
//!   lock                     held while building: two builders never overlap
//!   state/G-N.parquet        the exact summary state of one series file
//!   serve/TABLE-G.parquet    a table's summaries in the default result order
//! ```
//!
//! Opening a project whose index is fresh reads the manifest and the object files' footers;
//! a query then reads only the columns it needs (see [`columns`]). Otherwise the index is
//! refreshed first ([`build`]): files whose identity is unchanged keep their stored state,
//! new and changed files are summarized, removed files are dropped, and the merged
//! summaries are written anew. Summaries are exact, so the result is the same bit for bit
//! whatever the history.

mod build;
mod columns;
mod foreign;
pub(crate) mod manifest;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use datasets::layout::ObjectKind;
use nql::AttrType;

use crate::error::LoadError;
use crate::load::{self, IndexLocation, LoadOptions, LoadedProject, Sources, guarded, objects};
use crate::source::Source;
use crate::table::{ColumnSpec, ObjectTable};
use manifest::{Manifest, TableEntry};

pub(crate) use build::ORDER_COLUMN;

/// What opening or refreshing an index did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexReport {
    /// Where the index is.
    pub dir: PathBuf,
    /// Whether it had to be (re)built.
    pub built: bool,
    /// Series files summarized by this refresh.
    pub summarized: usize,
    /// Series files whose stored summaries were kept.
    pub reused: usize,
    /// Series files dropped from the index since the last build.
    pub removed: usize,
}

/// What an index is built from: the files of a native project, or a foreign source.
#[derive(Debug)]
pub(crate) enum Project {
    Native(Sources),
    Foreign {
        /// Where the source's files lie (the directory, or the directory of the store file).
        root: PathBuf,
        /// What `--data` named, for the index's location.
        path: PathBuf,
        source: Box<dyn Source>,
    },
}

impl Project {
    /// The project at `path`: a native project directory (docs/dataset.md), else whatever
    /// foreign source it is (a Neptune export, an MLflow store).
    pub fn detect(path: &Path, options: &LoadOptions) -> Result<Project, LoadError> {
        if path.is_dir() {
            match Sources::list(path) {
                Ok(sources) => return Ok(Project::Native(sources)),
                Err(LoadError::MissingRuns { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        match crate::source::open(path, &options.source)? {
            Some(source) => Ok(Project::Foreign {
                root: if path.is_dir() {
                    path.to_path_buf()
                } else {
                    path.parent().map(Path::to_path_buf).unwrap_or_default()
                },
                path: path.to_path_buf(),
                source,
            }),
            None if path.is_dir() || !path.exists() => Err(LoadError::MissingRuns {
                dir: path.to_path_buf(),
            }),
            None => Err(LoadError::Source {
                path: path.to_path_buf(),
                problem: "not a project: neither a directory in the native layout, nor a Neptune export, nor an MLflow store".into(),
            }),
        }
    }
}

/// Opens the project at `path` through its index, refreshing the index first if it is not
/// fresh. Tables read their columns as queries need them.
pub(crate) fn open(path: &Path, options: &LoadOptions) -> Result<(LoadedProject, IndexReport), LoadError> {
    let project = Project::detect(path, options)?;
    // Without an index, a foreign source is indexed into a directory removed once open:
    // the tables hold their files open.
    let scratch = match (&project, &options.index) {
        (Project::Foreign { .. }, IndexLocation::None) => Some(tempfile_dir()?),
        _ => None,
    };
    let options = match &scratch {
        Some(dir) => &LoadOptions {
            index: IndexLocation::Dir(dir.clone()),
            ..options.clone()
        },
        None => options,
    };
    let (manifest, report) = refresh(&project, options, false)?;
    let (tables, series) = tables_of(&project, &manifest, &report.dir)?;
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    let kind = match &project {
        Project::Native(_) => load::NATIVE_KIND.to_string(),
        Project::Foreign { source, .. } => source.describe(),
    };
    Ok((LoadedProject { tables, series, kind }, report))
}

/// The tables of `project` through its index of `manifest` in `dir`, and its raw series.
fn tables_of(
    project: &Project,
    manifest: &Manifest,
    dir: &Path,
) -> Result<
    (
        Vec<ObjectTable>,
        Vec<(datasets::layout::SeriesKind, load::RawSeries)>,
    ),
    LoadError,
> {
    let mut tables = Vec::new();
    match project {
        Project::Native(sources) => {
            for (kind, files) in &sources.objects {
                let entry = manifest
                    .tables
                    .iter()
                    .find(|t| t.table == kind.table_name())
                    .ok_or_else(|| {
                        index_error(dir, format!("the manifest has no {} table", kind.table_name()))
                    })?;
                tables.push(open_table(*kind, files, entry, dir)?);
            }
            Ok((tables, sources.raw_series()))
        }
        Project::Foreign { .. } => {
            for entry in &manifest.tables {
                let Some(kind) = ObjectKind::from_table_name(&entry.table) else {
                    continue;
                };
                let files: Vec<PathBuf> = entry.files.iter().map(|f| dir.join(&f.source.path)).collect();
                tables.push(open_table(kind, &files, entry, dir)?);
            }
            Ok((tables, Vec::new()))
        }
    }
}

/// A new empty directory for an index that lives only while a project opens.
fn tempfile_dir() -> Result<PathBuf, LoadError> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("nql-index-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| index_error(&dir, format!("cannot create: {e}")))?;
    Ok(dir)
}

/// Brings the index of `project` up to date (or rebuilds it from nothing with `rebuild`).
pub(crate) fn refresh(
    project: &Project,
    options: &LoadOptions,
    rebuild: bool,
) -> Result<(Manifest, IndexReport), LoadError> {
    let (dir, units) = match project {
        Project::Native(sources) => (location(&sources.dir, &options.index, true)?, None),
        Project::Foreign { path, source, .. } => {
            (location(path, &options.index, false)?, Some(source.units()?))
        }
    };
    let fresh = |m: &Manifest| match (project, &units) {
        (Project::Native(sources), _) => build::is_fresh(m, sources),
        (Project::Foreign { root, .. }, Some(units)) => foreign::is_fresh(m, units, root),
        _ => false,
    };
    let unchanged = |m: &Manifest| IndexReport {
        dir: dir.clone(),
        built: false,
        summarized: 0,
        reused: m.series.len() + m.units.len(),
        removed: 0,
    };
    if !rebuild
        && let Some(m) = Manifest::read(&dir)
        && fresh(&m)
    {
        let report = unchanged(&m);
        return Ok((m, report));
    }
    let _lock = lock(&dir)?;
    // Another process may have built it while this one waited for the lock.
    let previous = Manifest::read(&dir);
    if !rebuild
        && let Some(m) = &previous
        && fresh(m)
    {
        let report = unchanged(m);
        return Ok((previous.expect("just read"), report));
    }
    let previous = if rebuild { None } else { previous };
    match (project, units) {
        (Project::Native(sources), _) => {
            sources.check_memory(options)?;
            build::build(sources, &dir, previous, options)
        }
        (Project::Foreign { root, source, .. }, Some(units)) => {
            foreign::build(source.as_ref(), root, units, &dir, previous, options)
        }
        (Project::Foreign { .. }, None) => unreachable!("a foreign source's units are listed above"),
    }
}

/// The directory of the index of the project at `dir`, created if needed. `own`: the
/// project may hold it (`_nql/`); a foreign source never does (the user's cache does).
fn location(dir: &Path, choice: &IndexLocation, own: bool) -> Result<PathBuf, LoadError> {
    let create = |d: &Path| -> std::io::Result<()> {
        for sub in ["state", "serve", "objects"] {
            std::fs::create_dir_all(d.join(sub))?;
        }
        // A directory that exists may still be read-only. (A builder clearing leftovers
        // may remove another's probe first.)
        static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let probe = d.join(format!(".tmp-probe-{}-{n}", std::process::id()));
        File::create(&probe)?;
        match std::fs::remove_file(&probe) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    };
    match choice {
        IndexLocation::Dir(d) => {
            create(d).map_err(|e| index_error(d, format!("cannot write the index there: {e}")))?;
            Ok(d.clone())
        }
        IndexLocation::Project | IndexLocation::None => {
            let beside = dir.join("_nql");
            if own && create(&beside).is_ok() {
                return Ok(beside);
            }
            let cache = cache_dir(dir).ok_or_else(|| {
                index_error(
                    &beside,
                    "no cache directory for the index (set XDG_CACHE_HOME or HOME, or give --index-dir)"
                        .into(),
                )
            })?;
            create(&cache).map_err(|e| {
                index_error(&cache, format!("the project directory is read-only and the cache directory cannot be written either: {e}"))
            })?;
            Ok(cache)
        }
    }
}

/// A directory of the user's cache for the index of the project in `dir`: one per
/// project, named by a hash of its absolute path.
pub(crate) fn cache_dir(dir: &Path) -> Option<PathBuf> {
    use std::hash::Hasher;
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .or_else(|| std::env::var_os("LOCALAPPDATA").map(PathBuf::from))?;
    let absolute = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut hasher = twox_hash::XxHash64::with_seed(0);
    hasher.write(absolute.to_string_lossy().as_bytes());
    let name = absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "project".into());
    Some(
        base.join("nql")
            .join("index")
            .join(format!("{name}-{:016x}", hasher.finish())),
    )
}

/// Holds the index's lock file until dropped: one builder at a time.
fn lock(dir: &Path) -> Result<File, LoadError> {
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| index_error(&path, format!("cannot open the lock file: {e}")))?;
    file.lock()
        .map_err(|e| index_error(&path, format!("cannot take the lock: {e}")))?;
    Ok(file)
}

/// `metadata` reading top-level strings as Utf8View, the type tables hold them in, so that
/// no column is converted after it is read.
fn with_string_views(file: &Path, metadata: ArrowReaderMetadata) -> Result<ArrowReaderMetadata, LoadError> {
    let schema = metadata.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8))
    {
        return Ok(metadata);
    }
    let fields: Vec<datafusion::arrow::datatypes::Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 => f.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    let hinted = Arc::new(datafusion::arrow::datatypes::Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    ));
    ArrowReaderMetadata::try_new(
        metadata.metadata().clone(),
        ArrowReaderOptions::new().with_schema(hinted),
    )
    .map_err(|e| load::parquet_error(file, e))
}

pub(crate) fn index_error(path: &Path, problem: String) -> LoadError {
    LoadError::Index {
        path: path.to_path_buf(),
        problem,
    }
}

/// One object table of an indexed project, its values read as queries need them.
fn open_table(
    kind: ObjectKind,
    files: &[PathBuf],
    entry: &TableEntry,
    index_dir: &Path,
) -> Result<ObjectTable, LoadError> {
    let mut readers = Vec::with_capacity(files.len());
    let mut columns: Vec<ColumnSpec> = Vec::new();
    let mut places: Vec<Vec<Option<usize>>> = Vec::new();
    let mut first_file: Vec<PathBuf> = Vec::new();
    for (f, (file, stored)) in files.iter().zip(&entry.files).enumerate() {
        let (handle, metadata) = guarded(file, || {
            let handle = load::open(file)?;
            let metadata = ArrowReaderMetadata::load(&handle, ArrowReaderOptions::new())
                .map_err(|e| load::parquet_error(file, e))?;
            Ok((handle, metadata))
        })?;
        let found = objects::file_columns(file, metadata.schema())?;
        let metadata = with_string_views(file, metadata)?;
        for c in &found.attributes {
            let count = stored
                .counts
                .iter()
                .find(|(name, _)| *name == c.name)
                .map_or(0, |(_, n)| *n);
            match columns.iter().position(|s| s.path == c.path && s.ty == c.ty) {
                Some(i) if columns[i].data_type != c.data_type => {
                    return Err(LoadError::Column {
                        file: file.clone(),
                        column: c.name.clone(),
                        problem: format!(
                            "stored as {} here but as {} in {}",
                            c.data_type,
                            columns[i].data_type,
                            first_file[i].display()
                        ),
                    });
                }
                Some(i) => {
                    columns[i].count += count;
                    places[i][f] = Some(c.index);
                }
                None => {
                    columns.push(ColumnSpec::attribute(&c.path, c.ty, c.data_type.clone(), count));
                    let mut place = vec![None; files.len()];
                    place[f] = Some(c.index);
                    places.push(place);
                    first_file.push(file.clone());
                }
            }
        }
        readers.push(columns::ObjectFile {
            path: file.clone(),
            file: load::SharedFile::new(handle).map_err(|source| LoadError::Io {
                file: file.clone(),
                source,
            })?,
            metadata,
            rows: stored.rows,
            id: found.id,
        });
    }
    let attributes = columns.len();
    for s in &entry.series {
        match AttrType::from_name(&s.ty) {
            Some(AttrType::FloatSeries) => columns.extend(ColumnSpec::float_series(&s.path, s.count)),
            Some(AttrType::StringSeries) => columns.push(ColumnSpec::attribute(
                &s.path,
                AttrType::StringSeries,
                DataType::Utf8,
                s.count,
            )),
            _ => {
                return Err(index_error(
                    &index_dir.join(manifest::MANIFEST),
                    format!("`{}` is not a series type", s.ty),
                ));
            }
        }
    }
    let serving_path = index_dir.join(&entry.serving);
    let serving = guarded(&serving_path, || {
        let handle = load::open(&serving_path)?;
        let metadata = ArrowReaderMetadata::load(&handle, ArrowReaderOptions::new())
            .map_err(|e| load::parquet_error(&serving_path, e))?;
        Ok(columns::ServingFile {
            path: serving_path.clone(),
            file: load::SharedFile::new(handle).map_err(|source| LoadError::Io {
                file: serving_path.clone(),
                source,
            })?,
            metadata,
        })
    })?;
    let mut locations: Vec<columns::Location> = vec![columns::Location::Object {
        ty: AttrType::String,
        data_type: DataType::Utf8View,
        places: readers.iter().map(|r| Some(r.id)).collect(),
    }];
    for (i, spec) in columns.iter().enumerate() {
        locations.push(if i < attributes {
            columns::Location::Object {
                ty: spec.ty,
                data_type: spec.data_type.clone(),
                places: places[i].clone(),
            }
        } else {
            columns::Location::Serving {
                name: spec.name.clone(),
            }
        });
    }
    let source = columns::IndexedColumns::new(entry.rows, readers, serving, locations);
    Ok(ObjectTable::lazy(kind, entry.rows, columns, Box::new(source)))
}
