//! A native project opened straight from its files, without its index: what a query asks
//! for is read then, and only that.
//!
//! Opening reads the object files' footers (their columns, types and null counts), the ids
//! of every table but the largest, and the series files' footers and the dictionary pages of
//! their `sys/id` and `path` columns (which series each table has). A query then reads the object columns it names from the
//! files holding them (a projection, converted and checked as a load converts them), and
//! the summaries of the series it names from the row groups and pages holding those series
//! ([`crate::series::summarize_files`]), all five aggregates of a path at once. Summaries are
//! exact, so every answer is the one an index gives, bit for bit.
//!
//! What is not checked until the index is built (`nql index`, `nql check --data`): columns
//! no query read, and points of series no query named. (Which table has which series is
//! known from the dictionaries alone while a row group holds objects of one table; one that
//! holds several tables' objects has its ids and paths read.)

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatchReader, StringViewArray, new_null_array,
};
use datafusion::arrow::compute::{concat, concat_batches};
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use datafusion::parquet::basic::{Encoding, PageType};
use datafusion::parquet::column::page::{Page, PageReader};
use datafusion::parquet::file::metadata::ColumnChunkMetaData;
use datafusion::parquet::file::serialized_reader::SerializedPageReader;
use datafusion::parquet::file::statistics::Statistics;
use datasets::layout::{ID_COLUMN, ObjectKind, PATH_COLUMN, SeriesKind};
use nql::AttrType;

use super::objects::{self, FileColumns};
use super::series::IdIndex;
use super::{
    LoadOptions, LoadedProject, NATIVE_KIND, RawSeries, Sources, guarded, open as open_file, parallel_map,
    parquet_error,
};
use crate::error::LoadError;
use crate::query::DEFAULT_SORT;
use crate::series::{SeriesFiles, Wanted};
use crate::table::{ColumnSource, ColumnSpec, FLOAT_SUMMARIES, ObjectTable, Read};

/// Opens the project of `sources` straight from its files (see the module's docs).
pub(crate) fn open(sources: &Sources, options: &LoadOptions) -> Result<LoadedProject, LoadError> {
    let threads = options.threads();
    let all = sources.object_files();
    let files = parallel_map(&all, threads, |(kind, file)| {
        guarded(file, || ObjectFile::open(*kind, file))
    })?;
    let mut tables: Vec<(ObjectKind, Vec<ObjectFile>)> = Vec::new();
    for file in files {
        match tables.iter_mut().find(|(k, _)| *k == file.kind) {
            Some((_, files)) => files.push(file),
            None => tables.push((file.kind, vec![file])),
        }
    }
    let raw = sources.raw_series();
    let project = Arc::new(Project {
        ranges: {
            let mut start = 0;
            tables
                .iter()
                .map(|(kind, files)| {
                    let rows: usize = files.iter().map(|f| f.rows).sum();
                    start += rows;
                    (*kind, start - rows..start)
                })
                .collect()
        },
        series: Series::new(&raw),
        index: OnceLock::new(),
        ids: Mutex::new(HashMap::new()),
        files: tables,
    });
    let members = series_members(&project, threads)?;
    let mut out = Vec::new();
    for (kind, files) in &project.files {
        let columns = table_columns(files, members.get(kind))?;
        let rows = files.iter().map(|f| f.rows).sum();
        let specs = columns.iter().map(|c| c.spec.clone()).collect();
        let source = LazyColumns {
            kind: *kind,
            project: Arc::clone(&project),
            columns,
            rows,
        };
        out.push(ObjectTable::lazy(*kind, rows, specs, Box::new(source)));
    }
    Ok(LoadedProject {
        tables: out,
        series: raw,
        kind: NATIVE_KIND.to_string(),
        foreign: None,
    })
}

/// An object file: its footer and its columns, checked against the layout.
#[derive(Debug)]
struct ObjectFile {
    kind: ObjectKind,
    path: PathBuf,
    metadata: ArrowReaderMetadata,
    columns: FileColumns,
    rows: usize,
    /// For each attribute of `columns`, its nulls by the row groups' statistics (`None`
    /// when some row group has none).
    nulls: Vec<Option<usize>>,
}

impl ObjectFile {
    fn open(kind: ObjectKind, path: &Path) -> Result<ObjectFile, LoadError> {
        let metadata = ArrowReaderMetadata::load(&open_file(path)?, ArrowReaderOptions::new())
            .map_err(|e| parquet_error(path, e))?;
        let columns = objects::file_columns(path, metadata.schema())?;
        let md = metadata.metadata();
        let rows = usize::try_from(md.file_metadata().num_rows()).unwrap_or(0);
        // A list's nulls are its elements' in the statistics: only top-level leaves count.
        let nulls = columns
            .attributes
            .iter()
            .map(|c| {
                md.row_groups()
                    .iter()
                    .map(|g| {
                        let leaf = super::leaf_column(g, &c.name)?;
                        g.column(leaf).statistics()?.null_count_opt()
                    })
                    .sum::<Option<u64>>()
                    .map(|n| n as usize)
            })
            .collect();
        Ok(ObjectFile {
            kind,
            path: path.to_path_buf(),
            metadata,
            columns,
            rows,
            nulls,
        })
    }

    /// The columns `names` of the file (by their names in it), read in one go.
    fn read(&self, names: &[&str]) -> Result<Vec<ArrayRef>, LoadError> {
        let schema = self.metadata.schema();
        let roots: Vec<usize> = names.iter().filter_map(|n| schema.index_of(n).ok()).collect();
        let mask = ProjectionMask::roots(self.metadata.parquet_schema(), roots);
        let reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(open_file(&self.path)?, self.metadata.clone())
                .with_projection(mask)
                .with_batch_size(64 * 1024)
                .build()
                .map_err(|e| parquet_error(&self.path, e))?;
        let projected = reader.schema();
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| parquet_error(&self.path, e))?;
        let batch = concat_batches(&projected, &batches).map_err(|e| parquet_error(&self.path, e))?;
        names
            .iter()
            .map(|n| {
                batch
                    .column_by_name(n)
                    .cloned()
                    .ok_or_else(|| parquet_error(&self.path, format!("no column `{n}`")))
            })
            .collect()
    }

    /// The file's `sys/id` column, checked.
    fn ids(&self) -> Result<StringViewArray, LoadError> {
        let name = self.metadata.schema().field(self.columns.id).name().clone();
        let array = guarded(&self.path, || self.read(&[&name]))?.remove(0);
        objects::id_array(&self.path, &array)
    }
}

/// What a table's column holds.
#[derive(Clone, Debug)]
enum Holds {
    Id,
    Attribute,
    /// A series summary: its kind, and its place among the path's summaries
    /// ([`FLOAT_SUMMARIES`]; a string series has its last entry only).
    Summary(SeriesKind, usize),
}

#[derive(Clone, Debug)]
struct Column {
    spec: ColumnSpec,
    holds: Holds,
}

/// The columns of a table of `files` (after `sys/id`), as an index would hold them:
/// attributes in the order files first show them, then each float series' summaries and
/// each string series' last entry, by path.
fn table_columns(files: &[ObjectFile], series: Option<&SeriesPaths>) -> Result<Vec<Column>, LoadError> {
    let mut columns: Vec<Column> = Vec::new();
    let mut seen: HashMap<(String, AttrType), (usize, PathBuf)> = HashMap::new();
    for file in files {
        for (c, nulls) in file.columns.attributes.iter().zip(&file.nulls) {
            // Objects with the attribute, by the statistics; an unknown null count counts
            // none, so that the column is declared nullable (always safe). A file without
            // the column holds nulls there.
            let present = nulls.map_or(0, |n| file.rows.saturating_sub(n));
            match seen.get(&(c.path.clone(), c.ty)) {
                Some((i, first)) => {
                    let column = &mut columns[*i];
                    if column.spec.data_type != c.data_type {
                        return Err(objects::stored_two_ways(
                            &file.path,
                            &c.path,
                            &c.data_type,
                            &column.spec.data_type,
                            first,
                        ));
                    }
                    column.spec.count += present;
                }
                None => {
                    seen.insert((c.path.clone(), c.ty), (columns.len(), file.path.clone()));
                    columns.push(Column {
                        spec: ColumnSpec::attribute(&c.path, c.ty, c.data_type.clone(), present),
                        holds: Holds::Attribute,
                    });
                }
            }
        }
    }
    if let Some(series) = series {
        // How many objects have a series is not known before it is summarized: its
        // columns are nullable.
        for path in &series.floats {
            for (place, spec) in ColumnSpec::float_series(path, 0).into_iter().enumerate() {
                columns.push(Column {
                    spec,
                    holds: Holds::Summary(SeriesKind::Float, place),
                });
            }
        }
        for path in &series.strings {
            columns.push(Column {
                spec: ColumnSpec::attribute(path, AttrType::StringSeries, DataType::Utf8, 0),
                holds: Holds::Summary(SeriesKind::String, 0),
            });
        }
    }
    Ok(columns)
}

/// A project's series files, by kind.
#[derive(Debug)]
struct Series {
    floats: Option<Arc<SeriesFiles>>,
    strings: Option<Arc<SeriesFiles>>,
}

impl Series {
    /// The series files of `raw` (the project's, shared with the engine's raw points).
    fn new(raw: &[(SeriesKind, RawSeries)]) -> Series {
        let files = |kind: SeriesKind| {
            raw.iter().find(|(k, _)| *k == kind).and_then(|(_, r)| match r {
                RawSeries::Files(files) => Some(Arc::clone(files)),
                RawSeries::Memory(_) => None,
            })
        };
        Series {
            floats: files(SeriesKind::Float),
            strings: files(SeriesKind::String),
        }
    }

    fn files(&self, kind: SeriesKind) -> Option<&SeriesFiles> {
        match kind {
            SeriesKind::Float => self.floats.as_deref(),
            SeriesKind::String => self.strings.as_deref(),
        }
    }
}

/// The series paths of one table, by kind, sorted.
#[derive(Debug, Default)]
struct SeriesPaths {
    floats: Vec<String>,
    strings: Vec<String>,
}

/// Which series paths each table has: for every row group of every series file, the ids
/// and paths its dictionary pages hold (or, where a chunk is not all dictionary-encoded,
/// its values). The ids of every table but the largest are looked up; any other id is taken
/// for one of the largest table's.
fn series_members(project: &Project, threads: usize) -> Result<HashMap<ObjectKind, SeriesPaths>, LoadError> {
    let mut out: HashMap<ObjectKind, (HashSet<String>, HashSet<String>)> = HashMap::new();
    let largest = project
        .ranges
        .iter()
        .max_by_key(|(_, range)| range.len())
        .map(|(k, _)| *k);
    let mut others: HashMap<String, ObjectKind, ahash::RandomState> = HashMap::default();
    for (kind, _) in &project.ranges {
        if Some(*kind) == largest {
            continue;
        }
        let ids = project.ids(*kind)?;
        for id in ids.as_string_view().iter().flatten() {
            others.insert(id.to_string(), *kind);
        }
    }
    // The other tables' ids, sorted: a row group whose ids lie between two of them holds
    // none of them, by its statistics, and its id dictionary is not read.
    let mut sorted: Vec<&str> = others.keys().map(String::as_str).collect();
    sorted.sort_unstable();
    for kind in [SeriesKind::Float, SeriesKind::String] {
        let Some(series) = project.series.files(kind) else {
            continue;
        };
        let (files, metadata) = (series.files(), series.metadata()?);
        let numbered: Vec<usize> = (0..files.len()).collect();
        let groups = parallel_map(&numbered, threads, |&f| {
            guarded(&files[f], || group_keys(&files[f], &metadata[f], &sorted))
        })?;
        let groups = groups
            .into_iter()
            .enumerate()
            .flat_map(|(f, groups)| groups.into_iter().enumerate().map(move |(g, keys)| (f, g, keys)));
        for (f, g, (ids, paths)) in groups {
            let file = &files[f];
            let Some(ids) = ids else {
                if let (Some(l), false) = (largest, paths.is_empty()) {
                    let (floats, strings) = out.entry(l).or_default();
                    match kind {
                        SeriesKind::Float => floats,
                        SeriesKind::String => strings,
                    }
                    .extend(paths.iter().cloned());
                }
                continue;
            };
            let mut holders: HashSet<ObjectKind> = HashSet::new();
            for id in &ids {
                match others.get(id) {
                    Some(k) => holders.insert(*k),
                    None => largest.is_some_and(|l| holders.insert(l)),
                };
            }
            let add = |out: &mut HashMap<_, (HashSet<String>, HashSet<String>)>, holder, path: &str| {
                let (floats, strings) = out.entry(holder).or_default();
                match kind {
                    SeriesKind::Float => floats,
                    SeriesKind::String => strings,
                }
                .insert(path.to_string());
            };
            if holders.len() == 1 {
                let holder = holders.into_iter().next().expect("one");
                for path in &paths {
                    add(&mut out, holder, path);
                }
                continue;
            }
            // Objects of several tables share the row group: which table has which series is
            // read from the points themselves.
            for (id, path) in guarded(file, || read_pairs(file, &metadata[f], g))? {
                match others.get(&id) {
                    Some(k) => add(&mut out, *k, &path),
                    None => {
                        if let Some(l) = largest {
                            add(&mut out, l, &path);
                        }
                    }
                }
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|(kind, (floats, strings))| {
            let sorted = |set: HashSet<String>| {
                let mut v: Vec<String> = set.into_iter().collect();
                v.sort();
                v
            };
            (
                kind,
                SeriesPaths {
                    floats: sorted(floats),
                    strings: sorted(strings),
                },
            )
        })
        .collect())
}

/// The distinct ids and paths of a row group of a series file; the ids `None` when its
/// statistics show that it holds none of `others` (sorted).
type GroupKeys = (Option<Vec<String>>, Vec<String>);

/// For each row group of a series file, the distinct ids and paths it holds.
fn group_keys(
    file: &Path,
    metadata: &ArrowReaderMetadata,
    others: &[&str],
) -> Result<Vec<GroupKeys>, LoadError> {
    let md = metadata.metadata();
    let reader = Arc::new(open_file(file)?);
    let mut out = Vec::with_capacity(md.num_row_groups());
    for g in 0..md.num_row_groups() {
        let group = md.row_group(g);
        let (Some(id_leaf), Some(path_leaf)) = (
            super::leaf_column(group, ID_COLUMN),
            super::leaf_column(group, PATH_COLUMN),
        ) else {
            return Err(parquet_error(file, "no `sys/id` or `path` column"));
        };
        let rows = usize::try_from(group.num_rows()).unwrap_or(0);
        let dictionary = |leaf: usize| dictionary_values(&reader, group.column(leaf), rows, file);
        let holds_none = match group.column(id_leaf).statistics() {
            Some(Statistics::ByteArray(s)) => match (s.min_bytes_opt(), s.max_bytes_opt()) {
                (Some(min), Some(max)) => {
                    let from = others.partition_point(|o| o.as_bytes() < min);
                    others.get(from).is_none_or(|o| o.as_bytes() > max)
                }
                _ => false,
            },
            _ => false,
        };
        let paths = dictionary(path_leaf)?;
        match (holds_none, paths) {
            (true, Some(paths)) => out.push((None, paths)),
            (false, Some(paths)) => match dictionary(id_leaf)? {
                Some(ids) => out.push((Some(ids), paths)),
                None => {
                    let (ids, paths) = read_keys(file, metadata, g)?;
                    out.push((Some(ids), paths));
                }
            },
            (_, None) => {
                let (ids, paths) = read_keys(file, metadata, g)?;
                out.push((Some(ids), paths));
            }
        }
    }
    Ok(out)
}

/// The values of a column chunk's dictionary page, when every data page of the chunk is
/// dictionary-encoded (so the dictionary holds every value); else `None`.
fn dictionary_values(
    reader: &Arc<std::fs::File>,
    column: &ColumnChunkMetaData,
    rows: usize,
    file: &Path,
) -> Result<Option<Vec<String>>, LoadError> {
    let is_dictionary = |e: Encoding| matches!(e, Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY);
    let all_dictionary = column.dictionary_page_offset().is_some()
        && match (column.page_encoding_stats_mask(), column.page_encoding_stats()) {
            (Some(mask), _) => {
                mask.is_only(Encoding::RLE_DICTIONARY) || mask.is_only(Encoding::PLAIN_DICTIONARY)
            }
            (None, Some(stats)) => stats
                .iter()
                .filter(|s| matches!(s.page_type, PageType::DATA_PAGE | PageType::DATA_PAGE_V2))
                .all(|s| is_dictionary(s.encoding)),
            (None, None) => false,
        };
    if !all_dictionary {
        return Ok(None);
    }
    let mut pages = SerializedPageReader::new(Arc::clone(reader), column, rows, None)
        .map_err(|e| parquet_error(file, e))?;
    let Some(Page::DictionaryPage { buf, num_values, .. }) =
        pages.get_next_page().map_err(|e| parquet_error(file, e))?
    else {
        return Ok(None);
    };
    // PLAIN byte arrays: a little-endian u32 length, then the bytes.
    let mut values = Vec::with_capacity(num_values as usize);
    let mut at = 0usize;
    for _ in 0..num_values {
        let bad = || parquet_error(file, "a truncated dictionary page");
        let len = buf.get(at..at + 4).ok_or_else(bad)?;
        let len = u32::from_le_bytes(len.try_into().expect("four bytes")) as usize;
        let bytes = buf.get(at + 4..at + 4 + len).ok_or_else(bad)?;
        values.push(String::from_utf8_lossy(bytes).into_owned());
        at += 4 + len;
    }
    Ok(Some(values))
}

/// The distinct ids and paths of row group `group`, read from the values themselves.
fn read_keys(
    file: &Path,
    metadata: &ArrowReaderMetadata,
    group: usize,
) -> Result<(Vec<String>, Vec<String>), LoadError> {
    let pairs = read_pairs(file, metadata, group)?;
    let ids: HashSet<&String> = pairs.iter().map(|(id, _)| id).collect();
    let paths: HashSet<&String> = pairs.iter().map(|(_, path)| path).collect();
    Ok((
        ids.into_iter().cloned().collect(),
        paths.into_iter().cloned().collect(),
    ))
}

/// The distinct (id, path) pairs of the points of row group `group`.
fn read_pairs(
    file: &Path,
    metadata: &ArrowReaderMetadata,
    group: usize,
) -> Result<HashSet<(String, String)>, LoadError> {
    let schema = metadata.schema();
    let roots: Vec<usize> = [ID_COLUMN, PATH_COLUMN]
        .iter()
        .filter_map(|c| schema.index_of(c).ok())
        .collect();
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(open_file(file)?, metadata.clone())
        .with_row_groups(vec![group])
        .with_projection(ProjectionMask::roots(metadata.parquet_schema(), roots))
        .build()
        .map_err(|e| parquet_error(file, e))?;
    let mut pairs = HashSet::new();
    for batch in reader {
        let batch = batch.map_err(|e| parquet_error(file, e))?;
        let column = |name: &str| -> Result<ArrayRef, LoadError> {
            let c = batch
                .column_by_name(name)
                .ok_or_else(|| parquet_error(file, format!("no `{name}` column")))?;
            datafusion::arrow::compute::cast(c, &DataType::Utf8).map_err(|e| parquet_error(file, e))
        };
        let (ids, paths) = (column(ID_COLUMN)?, column(PATH_COLUMN)?);
        let (ids, paths) = (ids.as_string::<i32>(), paths.as_string::<i32>());
        for r in 0..batch.num_rows() {
            if ids.is_valid(r) && paths.is_valid(r) {
                pairs.insert((ids.value(r).to_string(), paths.value(r).to_string()));
            }
        }
    }
    Ok(pairs)
}

/// What the tables of a project opened from its files share: their files, the objects'
/// numbering (for summaries) and the summaries computed so far.
#[derive(Debug)]
struct Project {
    files: Vec<(ObjectKind, Vec<ObjectFile>)>,
    /// Each table's objects' numbers (tables in order, rows in stored order).
    ranges: Vec<(ObjectKind, std::ops::Range<usize>)>,
    series: Series,
    /// Every object numbered, ids checked to be unique: read when a summary is first needed.
    index: OnceLock<IdIndex>,
    /// Each table's ids, once read.
    ids: Mutex<HashMap<ObjectKind, ArrayRef>>,
}

impl Project {
    fn files(&self, kind: ObjectKind) -> &[ObjectFile] {
        self.files
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(&[], |(_, f)| f.as_slice())
    }

    fn range(&self, kind: ObjectKind) -> std::ops::Range<usize> {
        self.ranges
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0..0, |(_, r)| r.clone())
    }

    /// The ids of a table's objects, in stored order.
    fn ids(&self, kind: ObjectKind) -> Result<ArrayRef, LoadError> {
        if let Some(ids) = self.ids.lock().expect("not poisoned").get(&kind) {
            return Ok(Arc::clone(ids));
        }
        let files = self.files(kind);
        let parts = parallel_map(files, super::cores(), |f| f.ids())?;
        let refs: Vec<&dyn Array> = parts.iter().map(|p| p as &dyn Array).collect();
        let ids = match refs.is_empty() {
            true => Arc::new(StringViewArray::from(Vec::<&str>::new())) as ArrayRef,
            false => concat(&refs).map_err(|e| parquet_error(&files[0].path, e))?,
        };
        self.ids
            .lock()
            .expect("not poisoned")
            .insert(kind, Arc::clone(&ids));
        Ok(ids)
    }

    /// Every object of the project numbered (tables in order), ids unique (a failure is not
    /// kept: the next use numbers them again).
    fn index(&self) -> Result<&IdIndex, LoadError> {
        if let Some(index) = self.index.get() {
            return Ok(index);
        }
        let mut index = IdIndex::default();
        for (kind, files) in &self.files {
            let ids = self.ids(*kind)?;
            let ids = ids.as_string_view();
            let mut start = 0;
            for file in files {
                index.insert_file(&file.path, &ids.slice(start, file.rows))?;
                start += file.rows;
            }
        }
        Ok(self.index.get_or_init(|| index))
    }
}

/// The [`ColumnSource`] of a table read straight from the project's files.
#[derive(Debug)]
struct LazyColumns {
    kind: ObjectKind,
    project: Arc<Project>,
    /// The table's columns after `sys/id`.
    columns: Vec<Column>,
    rows: usize,
}

/// Summaries computed so far: for each (kind, path), the table's columns of it.
type Computed = HashMap<(SeriesKind, String), Vec<ArrayRef>>;

impl LazyColumns {
    fn column(&self, index: usize) -> (&Holds, Option<&ColumnSpec>) {
        static ID: Holds = Holds::Id;
        match index {
            0 => (&ID, None),
            i => (&self.columns[i - 1].holds, Some(&self.columns[i - 1].spec)),
        }
    }

    /// The attributes `specs`, each over the table's rows in stored order.
    fn attributes(&self, specs: &[&ColumnSpec]) -> Result<Vec<ArrayRef>, LoadError> {
        let files = self.project.files(self.kind);
        let per_file = parallel_map(files, super::cores(), |file| {
            let names: Vec<(usize, &objects::FileColumn)> = specs
                .iter()
                .enumerate()
                .filter_map(|(s, spec)| {
                    file.columns
                        .attributes
                        .iter()
                        .find(|c| c.path == spec.path && c.ty == spec.ty)
                        .map(|c| (s, c))
                })
                .collect();
            let read = match names.is_empty() {
                true => Vec::new(),
                false => {
                    let wanted: Vec<&str> = names.iter().map(|(_, c)| c.name.as_str()).collect();
                    guarded(&file.path, || file.read(&wanted))?
                }
            };
            let mut out: Vec<ArrayRef> = specs
                .iter()
                .map(|spec| new_null_array(&spec.data_type, file.rows))
                .collect();
            for ((s, c), array) in names.into_iter().zip(read) {
                out[s] = objects::canonical_array(c.ty, &array).map_err(|problem| LoadError::Column {
                    file: file.path.clone(),
                    column: c.name.clone(),
                    problem,
                })?;
            }
            Ok(out)
        })?;
        (0..specs.len())
            .map(|s| {
                let parts: Vec<&dyn Array> = per_file.iter().map(|f| f[s].as_ref()).collect();
                match parts.len() {
                    0 => Ok(new_null_array(&specs[s].data_type, 0)),
                    1 => Ok(per_file[0][s].clone()),
                    _ => concat(&parts).map_err(|e| parquet_error(&files[0].path, e)),
                }
            })
            .collect()
    }

    /// The summaries of the series `paths` of `kind` for this table, computed together.
    fn summaries(&self, kind: SeriesKind, paths: Vec<String>) -> Result<Computed, LoadError> {
        let mut out = Computed::new();
        let Some(files) = self.project.series.files(kind) else {
            return Ok(out);
        };
        let index = self.project.index()?;
        let wanted = Arc::new(Wanted::of_paths(paths.iter().cloned()));
        let (floats, strings) = crate::series::summarize_files(files, kind, &wanted, index)?;
        let range = self.project.range(self.kind);
        match kind {
            SeriesKind::Float => {
                for (path, arrays, _) in floats.columns(range.clone()) {
                    out.insert((kind, path), arrays.to_vec());
                }
            }
            SeriesKind::String => {
                for (path, last, _) in strings.columns(range.clone()) {
                    out.insert((kind, path), vec![last]);
                }
            }
        }
        // A path without points for this table's objects: nulls.
        for path in paths {
            out.entry((kind, path)).or_insert_with(|| {
                let n = match kind {
                    SeriesKind::Float => FLOAT_SUMMARIES.len(),
                    SeriesKind::String => 1,
                };
                let ty = match kind {
                    SeriesKind::Float => DataType::Float64,
                    SeriesKind::String => DataType::Utf8,
                };
                vec![new_null_array(&ty, range.len()); n]
            });
        }
        Ok(out)
    }
}

impl ColumnSource for LazyColumns {
    fn read(&self, indices: &[usize], order: bool) -> Result<Read, LoadError> {
        // The creation time, for the order, is read with the rest.
        let created = self
            .columns
            .iter()
            .position(|c| {
                matches!(c.holds, Holds::Attribute)
                    && c.spec.path == DEFAULT_SORT
                    && c.spec.ty == AttrType::Datetime
            })
            .map(|i| i + 1);
        let mut wanted: Vec<usize> = indices.to_vec();
        if order {
            wanted.push(0);
            wanted.extend(created);
        }
        let mut attributes: Vec<usize> = Vec::new();
        let mut series: HashMap<SeriesKind, Vec<String>> = HashMap::new();
        for &i in &wanted {
            match self.column(i) {
                (Holds::Attribute, _) if !attributes.contains(&i) => attributes.push(i),
                (Holds::Summary(kind, _), Some(spec)) => {
                    let paths = series.entry(*kind).or_default();
                    if !paths.contains(&spec.path) {
                        paths.push(spec.path.clone());
                    }
                }
                _ => {}
            }
        }
        let specs: Vec<&ColumnSpec> = attributes
            .iter()
            .map(|&i| self.column(i).1.expect("an attribute"))
            .collect();
        let mut arrays: HashMap<usize, ArrayRef> =
            attributes.iter().copied().zip(self.attributes(&specs)?).collect();
        let mut computed = Computed::new();
        for (kind, paths) in series {
            computed.extend(self.summaries(kind, paths)?);
        }
        let ids = match wanted.contains(&0) {
            true => Some(self.project.ids(self.kind)?),
            false => None,
        };
        let mut columns = Vec::with_capacity(indices.len());
        for &i in indices {
            columns.push(match self.column(i) {
                (Holds::Id, _) => ids.clone().expect("the ids were read"),
                (Holds::Attribute, _) => arrays.get(&i).cloned().expect("the attribute was read"),
                (Holds::Summary(kind, place), Some(spec)) => computed
                    .get(&(*kind, spec.path.clone()))
                    .expect("the series was summarized")[*place]
                    .clone(),
                (Holds::Summary(..), None) => unreachable!("sys/id is no summary"),
            });
        }
        let order = match order {
            true => {
                let created = created.and_then(|c| arrays.remove(&c));
                Some(crate::index::default_order(
                    ids.expect("the ids were read"),
                    created,
                )?)
            }
            false => None,
        };
        debug_assert!(columns.iter().all(|c| c.len() == self.rows));
        Ok(Read { columns, order })
    }
}
