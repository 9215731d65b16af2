//! The project index: the per-(object, series path) summaries of a project, computed once,
//! stored as Parquet, and kept fresh as files are added, changed or removed.
//!
//! ```text
//! _nql/                      (or the --index-dir, or a directory of the user's cache)
//!   manifest.json            what the index was built from, and what it holds
//!   lock                     held while building: two builders never overlap
//!   state/G-N.pack           the exact summary state of one series file
//!   tables/TABLE-G.pack      a table: every column as Arrow IPC, summaries and order included
//! ```
//!
//! Opening a project whose index is fresh reads the manifest; a query then reads only the
//! columns it needs from the table's pack, without decoding (see [`columns`], [`pack`]). Otherwise the index is
//! refreshed first ([`build`]): files whose identity is unchanged keep their stored state,
//! new and changed files are summarized, removed files are dropped, and the merged
//! summaries are written anew. Summaries are exact, so the result is the same bit for bit
//! whatever the history.

mod build;
mod columns;
mod foreign;
pub(crate) mod manifest;
mod pack;

use std::fs::File;
use std::path::{Path, PathBuf};

use datasets::layout::ObjectKind;

use crate::error::LoadError;
use crate::load::{self, IndexLocation, LoadOptions, LoadedProject, Refresh, Sources};
use crate::source::Source;
use crate::table::ObjectTable;
pub(crate) use columns::default_order;
use manifest::Manifest;

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

/// How [`open_or_defer`] opened a project.
pub(crate) enum Opening {
    /// Through its index, built or refreshed first if it had to be.
    Indexed,
    /// Straight from its files, nothing written; with the failure of the last index build,
    /// if the project's files have not changed since it failed.
    Deferred { last_failure: Option<String> },
}

/// Opens the project at `path` through its index, refreshing a stale one first; a native
/// project without an index, with `options.refresh` deferred, is opened straight from its
/// files instead, and nothing is written. Tables read their columns as queries need them.
pub(crate) fn open_or_defer(
    path: &Path,
    options: &LoadOptions,
) -> Result<(LoadedProject, Opening), LoadError> {
    let project = Project::detect(path, options)?;
    // A stale index is refreshed all the same: that costs what the change costs (appended
    // files), where reading from the files would cost the whole project at every query.
    if let (Refresh::Deferred, Project::Native(sources)) = (options.refresh, &project)
        && existing(&sources.dir, &options.index, true).is_none()
    {
        let last_failure = last_failure(sources, &options.index);
        return Ok((
            load::lazy::open(sources, options)?,
            Opening::Deferred { last_failure },
        ));
    }
    Ok((open_project(project, options)?.0, Opening::Indexed))
}

/// The file in an index directory that says why its last build failed (removed by the next
/// build that succeeds).
const FAILURE: &str = "failed.txt";

/// Keeps the outcome of a build in `dir`: a failure's message in [`FAILURE`], after the
/// fingerprint of the files it failed on (if a native project's), or none.
fn record_outcome<T>(dir: &Path, built: &Result<T, LoadError>, sources: Option<&load::Sources>) {
    let file = dir.join(FAILURE);
    // Advice for the next query, not part of the index: a record that cannot be written or
    // removed changes no answer.
    let _ = match built {
        Ok(_) => std::fs::remove_file(&file),
        Err(e) => {
            let fingerprint = sources.map(fingerprint).unwrap_or_default();
            std::fs::write(&file, format!("{fingerprint:016x}\n{e}\n"))
        }
    };
}

/// A hash of every object and series file of `sources`: its path, size and modification
/// time. (Times alone would not do: a file removed in the same clock tick as a failure was
/// recorded would look older than the record.)
fn fingerprint(sources: &load::Sources) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut files: Vec<&PathBuf> = sources.object_files().into_iter().map(|(_, f)| f).collect();
    files.extend(sources.series_files().into_iter().map(|(_, f)| f));
    files.sort();
    let mut hasher = std::hash::DefaultHasher::new();
    for file in files {
        (file, manifest::stat(file).ok()).hash(&mut hasher);
    }
    // Never 0, which a record without sources holds.
    hasher.finish().max(1)
}

/// Why the last build of the index of `sources` failed, if it did on the files the project
/// has now (the same paths, sizes and modification times).
fn last_failure(sources: &load::Sources, choice: &IndexLocation) -> Option<String> {
    let file = candidates(&sources.dir, choice, true)
        .into_iter()
        .map(|d| d.join(FAILURE))
        .find(|f| f.is_file())?;
    let record = std::fs::read_to_string(&file).ok()?;
    let (recorded, message) = record.split_once('\n')?;
    (u64::from_str_radix(recorded, 16).ok()? == fingerprint(sources)).then(|| message.trim_end().to_string())
}

/// The directory of the index of the project in `dir`, if it has one (nothing is made or
/// written). `own`: the project may hold it (`_nql/`); else only the cache is looked at.
fn existing(dir: &Path, choice: &IndexLocation, own: bool) -> Option<PathBuf> {
    candidates(dir, choice, own)
        .into_iter()
        .find(|d| d.join(manifest::MANIFEST).is_file())
}

/// Where the index of the project in `dir` may be, in the order it is looked for: the
/// directory given, or `_nql/` in the project (if `own`) and then the user's cache.
fn candidates(dir: &Path, choice: &IndexLocation, own: bool) -> Vec<PathBuf> {
    match choice {
        IndexLocation::Dir(d) => vec![d.clone()],
        IndexLocation::Project => [own.then(|| dir.join("_nql")), cache_dir(dir)]
            .into_iter()
            .flatten()
            .collect(),
        IndexLocation::None => Vec::new(),
    }
}

/// Opens the project at `path` through its index, refreshing the index first if it is not
/// fresh. Tables read their columns as queries need them.
pub(crate) fn open(path: &Path, options: &LoadOptions) -> Result<(LoadedProject, IndexReport), LoadError> {
    open_project(Project::detect(path, options)?, options)
}

/// [`open`], of a project detected already.
fn open_project(project: Project, options: &LoadOptions) -> Result<(LoadedProject, IndexReport), LoadError> {
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
    let (kind, foreign) = match project {
        Project::Native(_) => (load::NATIVE_KIND.to_string(), None),
        Project::Foreign { source, .. } => {
            let units = manifest
                .units
                .iter()
                .map(|u| (u.label.clone(), u.rows.clone()))
                .collect();
            (
                source.describe(),
                Some(crate::series::ForeignSeries::new(source, units)),
            )
        }
    };
    Ok((
        LoadedProject {
            tables,
            series,
            kind,
            foreign,
        },
        report,
    ))
}

/// The tables of a project opened through its index, and its raw series.
type Opened = (
    Vec<ObjectTable>,
    Vec<(datasets::layout::SeriesKind, load::RawSeries)>,
);

/// The tables of `project` through its index of `manifest` in `dir`, and its raw series.
fn tables_of(project: &Project, manifest: &Manifest, dir: &Path) -> Result<Opened, LoadError> {
    let mut tables = Vec::new();
    match project {
        Project::Native(sources) => {
            for (kind, _) in &sources.objects {
                let entry = manifest
                    .tables
                    .iter()
                    .find(|t| t.table == kind.table_name())
                    .ok_or_else(|| {
                        index_error(dir, format!("the manifest has no {} table", kind.table_name()))
                    })?;
                tables.push(columns::open_table(*kind, entry, dir)?);
            }
            Ok((tables, sources.raw_series()))
        }
        Project::Foreign { .. } => {
            for entry in &manifest.tables {
                let Some(kind) = ObjectKind::from_table_name(&entry.table) else {
                    continue;
                };
                tables.push(columns::open_table(kind, entry, dir)?);
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
    let (home, own) = match project {
        Project::Native(sources) => (sources.dir.as_path(), true),
        Project::Foreign { path, .. } => (path.as_path(), false),
    };
    // A foreign source's units, listed once they are needed: when the index must be built, or
    // when the units listed without reading the source do not already show it fresh.
    let listed = match project {
        Project::Native(_) => None,
        Project::Foreign { source, .. } => {
            for w in source.warnings() {
                options.warn(&w);
            }
            source.listed_units()
        }
    };
    let units: std::sync::OnceLock<Vec<crate::source::Unit>> = std::sync::OnceLock::new();
    let units_of = |source: &dyn Source| -> Result<&Vec<crate::source::Unit>, LoadError> {
        if let Some(u) = units.get() {
            return Ok(u);
        }
        let listed = source.units()?;
        Ok(units.get_or_init(|| listed))
    };
    let dir = location(home, &options.index, own, false)?;
    let fresh = |m: &Manifest| -> Result<bool, LoadError> {
        Ok(match project {
            Project::Native(sources) => build::is_fresh(m, sources),
            Project::Foreign { root, source, .. } => match &listed {
                Some(listed) if foreign::is_fresh_listed(m, listed, root) => true,
                _ => foreign::is_fresh(m, units_of(source.as_ref())?, root),
            },
        })
    };
    let unchanged = |m: &Manifest, dir: &Path| IndexReport {
        dir: dir.to_path_buf(),
        built: false,
        summarized: 0,
        reused: m.series.len() + m.units.len(),
        removed: 0,
    };
    if !rebuild
        && let Some(m) = Manifest::read(&dir)
        && fresh(&m)?
    {
        let report = unchanged(&m, &dir);
        return Ok((m, report));
    }
    // A build writes: an index found where it cannot be (read-only data) is built anew in
    // the cache instead.
    let dir = if make_writable(&dir).is_ok() {
        dir
    } else {
        location(home, &options.index, own, true)?
    };
    let _lock = lock(&dir)?;
    // Another process may have built it while this one waited for the lock.
    let previous = Manifest::read(&dir);
    if !rebuild
        && let Some(m) = &previous
        && fresh(m)?
    {
        let report = unchanged(m, &dir);
        return Ok((previous.expect("just read"), report));
    }
    let previous = if rebuild { None } else { previous };
    let (built, sources) = match project {
        Project::Native(sources) => (
            sources
                .check_memory(options)
                .and_then(|()| build::build(sources, &dir, previous, options)),
            Some(sources),
        ),
        Project::Foreign { root, source, .. } => (
            units_of(source.as_ref()).and_then(|units| {
                foreign::build(source.as_ref(), root, units.clone(), &dir, previous, options)
            }),
            None,
        ),
    };
    record_outcome(&dir, &built, sources);
    built
}

/// Makes `d` ready to hold an index: its directories exist and a file can be written there.
fn make_writable(d: &Path) -> std::io::Result<()> {
    for sub in ["state", "tables"] {
        std::fs::create_dir_all(d.join(sub))?;
    }
    // A directory that exists may still be read-only. (A builder clearing leftovers may
    // remove another's probe first.)
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = d.join(format!(".tmp-probe-{}-{n}", std::process::id()));
    File::create(&probe)?;
    match std::fs::remove_file(&probe) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The directory of the index of the project at `dir`: where an index is already, else
/// where one can be written (made ready). `own`: the project may hold it (`_nql/`); a
/// foreign source never does (the user's cache does). `write`: it must be writable now.
fn location(dir: &Path, choice: &IndexLocation, own: bool, write: bool) -> Result<PathBuf, LoadError> {
    let has_index = |d: &Path| d.join(manifest::MANIFEST).is_file();
    match choice {
        IndexLocation::Dir(d) => {
            if write || !has_index(d) {
                make_writable(d).map_err(|e| index_error(d, format!("cannot write the index there: {e}")))?;
            }
            Ok(d.clone())
        }
        IndexLocation::Project | IndexLocation::None => {
            if !write && let Some(found) = existing(dir, &IndexLocation::Project, own) {
                return Ok(found);
            }
            let beside = dir.join("_nql");
            let cache = cache_dir(dir);
            if own && make_writable(&beside).is_ok() {
                return Ok(beside);
            }
            let cache = cache.ok_or_else(|| {
                index_error(
                    &beside,
                    "no cache directory for the index (set XDG_CACHE_HOME or HOME, or give --index-dir)"
                        .into(),
                )
            })?;
            make_writable(&cache).map_err(|e| {
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

pub(crate) fn index_error(path: &Path, problem: String) -> LoadError {
    LoadError::Index {
        path: path.to_path_buf(),
        problem,
    }
}
