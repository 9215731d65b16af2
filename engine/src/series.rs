//! Raw series points ([`crate::Engine::series`]): the points of some objects' series, as a
//! long Arrow table, for plotting and for clients that pivot them themselves (Neptune's
//! `fetch_values`, neptune-query's `fetch_metrics`).
//!
//! A native project's points are read straight from its series files ([`file_points`]:
//! row groups and pages whose statistics exclude the request are skipped), or taken from the
//! batches it was made of. A foreign source (a Neptune
//! export, an MLflow store) has no such files: its points are read again from the units of
//! the source that hold the requested objects (an export's run, a store), as the index
//! build read them; the index does not keep raw points.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, RecordBatch, StringArray, new_null_array,
};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::compute::{
    SortColumn, SortOptions, cast, concat, concat_batches, filter_record_batch, lexsort_to_indices, take,
};
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Int32Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::RowSelection;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ParquetRecordBatchReaderBuilder, RowFilter,
};
use datafusion::parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, RowGroupMetaData};
use datafusion::parquet::file::page_index::column_index::ColumnIndexMetaData;
use datafusion::parquet::file::statistics::Statistics;
use datasets::layout::{
    ID_COLUMN, ObjectKind, PATH_COLUMN, STEP_COLUMN, SeriesKind, TIMESTAMP_COLUMN, VALUE_COLUMN,
};

use crate::cancel::CancelToken;
use crate::error::{LoadError, QueryError};
use crate::source::{Source, Unit};
use crate::table::ObjectTable;

/// What [`crate::Engine::series`] fetches: the points of some objects' series of one kind.
#[derive(Clone, Debug)]
pub struct SeriesRequest {
    /// The table whose objects' series are wanted (a Neptune 3.x export's experiments have
    /// the same ids as their head runs, with the lineage's points).
    pub table: ObjectKind,
    /// Float or string series.
    pub kind: SeriesKind,
    /// The objects, by `sys/id`; `None`: every object of the table. An id that is not one of
    /// the table's objects has no points.
    pub ids: Option<Vec<String>>,
    /// The series paths; `None`: every path.
    pub paths: Option<Vec<String>>,
    /// Only points with `start <= step <= end` (either end open when `None`).
    pub step_range: (Option<f64>, Option<f64>),
    /// Only the last this many points of each series (by step, after `step_range`).
    pub tail: Option<usize>,
    /// Stop with [`QueryError::Cancelled`] once this token is cancelled.
    pub cancel: Option<CancelToken>,
    /// Stop with [`QueryError::TimedOut`] once the fetch has run this long.
    pub timeout: Option<Duration>,
}

impl SeriesRequest {
    /// Every point of every series of `kind` of the objects of `table`.
    pub fn new(table: ObjectKind, kind: SeriesKind) -> SeriesRequest {
        SeriesRequest {
            table,
            kind,
            ids: None,
            paths: None,
            step_range: (None, None),
            tail: None,
            cancel: None,
            timeout: None,
        }
    }
}

/// The schema of [`crate::Engine::series`] results: `sys/id`, `path` (Utf8), `step`
/// (Float64), `timestamp` (Timestamp(µs, "UTC"), null where a point has none), `value`
/// (Float64 or Utf8).
pub fn series_schema(kind: SeriesKind) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(ID_COLUMN, DataType::Utf8, false),
        Field::new(PATH_COLUMN, DataType::Utf8, false),
        Field::new(STEP_COLUMN, DataType::Float64, false),
        Field::new(TIMESTAMP_COLUMN, timestamp_type(), true),
        Field::new(VALUE_COLUMN, value_type(kind), false),
    ]))
}

/// The schema of points not yet filtered and ordered: `sys/id` and `path` dictionary-encoded
/// (a batch's distinct ids and paths are checked once each, not once per point), every
/// column nullable.
fn points_schema(kind: SeriesKind) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(ID_COLUMN, key_type(), true),
        Field::new(PATH_COLUMN, key_type(), true),
        Field::new(STEP_COLUMN, DataType::Float64, true),
        Field::new(TIMESTAMP_COLUMN, timestamp_type(), true),
        Field::new(VALUE_COLUMN, value_type(kind), true),
    ]))
}

fn key_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn value_type(kind: SeriesKind) -> DataType {
    match kind {
        SeriesKind::Float => DataType::Float64,
        SeriesKind::String => DataType::Utf8,
    }
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The points of a batch in any of the shapes series come in (the native layout's files,
/// a source's unit), in the columns and types of [`points_schema`]. A timestamp without a
/// time zone is UTC; a batch without timestamps gets nulls.
fn normalize(batch: &RecordBatch, kind: SeriesKind) -> Result<RecordBatch, DataFusionError> {
    let target = points_schema(kind);
    let columns = target
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) => Ok(cast(column, field.data_type())?),
            None if field.name() == TIMESTAMP_COLUMN => {
                Ok(new_null_array(field.data_type(), batch.num_rows()))
            }
            None => Err(DataFusionError::Execution(format!(
                "the {} points have no `{}` column",
                kind.table_name(),
                field.name()
            ))),
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    Ok(RecordBatch::try_new(target, columns)?)
}

/// A string column as `Dictionary(Int32, Utf8)` (no work when it already is one).
fn as_keys(column: &ArrayRef) -> Result<DictionaryArray<Int32Type>, ArrowError> {
    Ok(cast(column, &key_type())?.as_dictionary::<Int32Type>().clone())
}

/// The conditions of a request, checked on the points as they are read.
#[derive(Debug)]
pub(crate) struct Wanted {
    /// The table's objects (id → stored row): points of anything else are not the table's.
    /// `None`: every object's points (a summarizer checks their ids itself).
    members: Option<Arc<HashMap<String, u32>>>,
    ids: Option<HashSet<String>>,
    paths: Option<HashSet<String>>,
    from: Option<f64>,
    to: Option<f64>,
}

impl Wanted {
    pub fn new(request: &SeriesRequest, members: Arc<HashMap<String, u32>>) -> Wanted {
        Wanted {
            members: Some(members),
            ids: request.ids.as_ref().map(|ids| ids.iter().cloned().collect()),
            paths: request
                .paths
                .as_ref()
                .map(|paths| paths.iter().cloned().collect()),
            from: request.step_range.0,
            to: request.step_range.1,
        }
    }

    /// Every point of the series at `paths`, whatever its object.
    pub fn of_paths(paths: impl IntoIterator<Item = String>) -> Wanted {
        Wanted {
            members: None,
            ids: None,
            paths: Some(paths.into_iter().collect()),
            from: None,
            to: None,
        }
    }

    fn wants_id(&self, id: &str) -> bool {
        self.members.as_ref().is_none_or(|m| m.contains_key(id))
            && self.ids.as_ref().is_none_or(|w| w.contains(id))
    }

    fn wants_path(&self, path: &str) -> bool {
        self.paths.as_ref().is_none_or(|w| w.contains(path))
    }

    fn wants_step(&self, step: f64) -> bool {
        self.from.is_none_or(|f| step >= f) && self.to.is_none_or(|t| step <= t)
    }

    /// Which rows have a wanted `sys/id` and path. Each distinct value is checked once, when
    /// a row first uses it: a batch may share a dictionary of a whole file's ids and use few.
    fn key_mask(
        &self,
        ids: &DictionaryArray<Int32Type>,
        paths: &DictionaryArray<Int32Type>,
    ) -> BooleanBuffer {
        &wanted_rows(ids, &|id| self.wants_id(id)) & &wanted_rows(paths, &|path| self.wants_path(path))
    }

    /// Which rows of a batch holding `sys/id` and `path` (any string encoding) are wanted:
    /// the predicate a series file's reader evaluates before decoding the other columns.
    fn key_mask_of(&self, batch: &RecordBatch) -> Result<BooleanArray, ArrowError> {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| ArrowError::SchemaError(format!("no `{name}` column")))
        };
        let ids = as_keys(column(ID_COLUMN)?)?;
        let paths = as_keys(column(PATH_COLUMN)?)?;
        Ok(BooleanArray::new(self.key_mask(&ids, &paths), None))
    }

    /// The points of `batch` (any shape) that the request wants, normalized. Points with a
    /// null value are not points (docs/dataset.md).
    fn keep(&self, batch: &RecordBatch, kind: SeriesKind) -> Result<RecordBatch, DataFusionError> {
        let batch = normalize(batch, kind)?;
        let keys = self.key_mask(
            batch.column(0).as_dictionary::<Int32Type>(),
            batch.column(1).as_dictionary::<Int32Type>(),
        );
        let steps = batch.column(2).as_primitive::<Float64Type>();
        let values = batch.column(4).logical_nulls();
        let mask = BooleanBuffer::collect_bool(batch.num_rows(), |r| {
            keys.value(r)
                && steps.is_valid(r)
                && self.wants_step(steps.value(r))
                && values.as_ref().is_none_or(|n| n.is_valid(r))
        });
        if mask.count_set_bits() == batch.num_rows() {
            return Ok(batch);
        }
        Ok(filter_record_batch(&batch, &BooleanArray::new(mask, None))?)
    }

    /// Whether a row group of a series file may hold wanted points, from its statistics
    /// (`sys/id`, `path` and `step` minimums and maximums; no statistics: it may).
    fn may_match(&self, row_group: &RowGroupMetaData) -> bool {
        let stats = |name: &str| {
            crate::load::leaf_column(row_group, name).and_then(|c| row_group.column(c).statistics())
        };
        let strings_within = |name: &str, wanted: &HashSet<String>| match stats(name) {
            Some(Statistics::ByteArray(s)) => match (s.min_bytes_opt(), s.max_bytes_opt()) {
                (Some(min), Some(max)) => wanted.iter().any(|w| min <= w.as_bytes() && w.as_bytes() <= max),
                _ => true,
            },
            _ => true,
        };
        let ids_fit = self.ids.as_ref().is_none_or(|ids| strings_within(ID_COLUMN, ids));
        let paths_fit = self
            .paths
            .as_ref()
            .is_none_or(|paths| strings_within(PATH_COLUMN, paths));
        let steps = match stats(STEP_COLUMN) {
            Some(Statistics::Double(s)) => s.min_opt().copied().zip(s.max_opt().copied()),
            Some(Statistics::Int64(s)) => s.min_opt().map(|&v| v as f64).zip(s.max_opt().map(|&v| v as f64)),
            Some(Statistics::Int32(s)) => s.min_opt().map(|&v| v as f64).zip(s.max_opt().map(|&v| v as f64)),
            _ => None,
        };
        let steps_fit = steps
            .is_none_or(|(min, max)| self.from.is_none_or(|f| max >= f) && self.to.is_none_or(|t| min <= t));
        ids_fit && paths_fit && steps_fit
    }
}

/// Which rows of a dictionary-encoded string column hold a value that `wants`, each value
/// asked about once, when a row first uses it (a null is never wanted).
fn wanted_rows(column: &DictionaryArray<Int32Type>, wants: &dyn Fn(&str) -> bool) -> BooleanBuffer {
    let values = column.values().as_string::<i32>();
    let keys = column.keys();
    let wanted = |v: usize| values.is_valid(v) && wants(values.value(v));
    if values.len() <= column.len() && keys.null_count() == 0 {
        // Few values: each asked about once up front.
        let answers: Vec<bool> = (0..values.len()).map(wanted).collect();
        let keys = keys.values();
        return BooleanBuffer::collect_bool(column.len(), |r| answers[keys[r] as usize]);
    }
    // Per value: 0 not asked yet, 1 wanted, 2 not.
    let mut answers = vec![0u8; values.len()];
    BooleanBuffer::collect_bool(column.len(), |r| {
        if keys.is_null(r) {
            return false;
        }
        let v = keys.value(r) as usize;
        if answers[v] == 0 {
            answers[v] = if wanted(v) { 1 } else { 2 };
        }
        answers[v] == 1
    })
}

/// A native project's series files of one kind, with their footers and page indexes once
/// read (the engine is a snapshot of the files it opened).
#[derive(Debug)]
pub(crate) struct SeriesFiles {
    files: Vec<PathBuf>,
    footers: OnceLock<Vec<ArrowReaderMetadata>>,
}

impl SeriesFiles {
    pub fn new(files: Vec<PathBuf>) -> SeriesFiles {
        SeriesFiles {
            files,
            footers: OnceLock::new(),
        }
    }

    /// The files, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Every file's reader metadata (`sys/id` and `path` read dictionary-encoded), page
    /// index included, read on first use (a failure is not kept: the next use reads again).
    pub fn metadata(&self) -> Result<&[ArrowReaderMetadata], LoadError> {
        if let Some(footers) = self.footers.get() {
            return Ok(footers);
        }
        let read = crate::load::parallel_map(&self.files, crate::load::cores(), |file| {
            crate::load::guarded(file, || {
                crate::load::series_metadata_with(file, PageIndexPolicy::Optional)
            })
        })?;
        Ok(self.footers.get_or_init(|| read))
    }

    fn footers(&self) -> Result<&[ArrowReaderMetadata], QueryError> {
        self.metadata().map_err(|e| QueryError::Source(e.to_string()))
    }
}

/// The points of `request` in a native project's series files, read straight from them:
/// row groups and pages whose statistics exclude the request are skipped, `sys/id` and `path`
/// are read dictionary-encoded and, in a file without a page index, checked before the other
/// columns are decoded. `stop` is asked before each row group. In any order, for [`finish`].
pub(crate) fn file_points(
    series: &SeriesFiles,
    wanted: &Arc<Wanted>,
    stop: &(dyn Fn() -> Result<(), QueryError> + Sync),
) -> Result<Vec<RecordBatch>, QueryError> {
    let source_error = |e: LoadError| QueryError::Source(e.to_string());
    let threads = crate::load::cores();
    let (files, metadata) = (&series.files, series.footers()?);
    let units = wanted_row_groups(metadata, wanted);
    let failed = std::sync::Mutex::new(None);
    let read = crate::load::parallel_map(&units, threads, |&(f, group)| {
        if let Err(e) = stop() {
            *failed.lock().expect("not poisoned") = Some(e);
            return Ok(Vec::new());
        }
        let file = &files[f];
        crate::load::guarded(file, || read_row_group(file, &metadata[f], group, wanted, true))
    })
    .map_err(source_error)?;
    if let Some(e) = failed.into_inner().expect("not poisoned") {
        return Err(e);
    }
    Ok(read.into_iter().flatten().collect())
}

/// The (file, row group) of every row group that may hold wanted points.
fn wanted_row_groups(metadata: &[ArrowReaderMetadata], wanted: &Wanted) -> Vec<(usize, usize)> {
    metadata
        .iter()
        .enumerate()
        .flat_map(|(f, md)| {
            let groups = md.metadata().row_groups();
            (0..groups.len())
                .filter(|&g| wanted.may_match(&groups[g]))
                .map(move |g| (f, g))
        })
        .collect()
}

/// The summaries of the series `wanted` names (every object's), computed from a native
/// project's series files of `kind`: the row groups and pages that may hold them are read
/// (as [`file_points`] reads them) and summarized by a pool of workers as they are decoded.
/// Objects are numbered by `index`; a point of an object not in it is an error naming the
/// file. Exact, so the same as an index build's summaries bit for bit.
///
/// A point's time only decides which point is a float series' last when two share its
/// step: float series are first summarized without reading times (a fifth of the work), and
/// again with them only if some last step is shared.
pub(crate) fn summarize_files(
    series: &SeriesFiles,
    kind: SeriesKind,
    wanted: &Arc<Wanted>,
    index: &crate::load::series::IdIndex,
) -> Result<
    (
        crate::load::series::FloatSummaries,
        crate::load::series::StringSummaries,
    ),
    LoadError,
> {
    let metadata = series.metadata()?;
    let units = wanted_row_groups(metadata, wanted);
    let summarize = |timestamps: bool| {
        crate::load::summarize_units(
            &units,
            index.len(),
            crate::load::cores(),
            |&(f, group), floats, strings| {
                let file = &series.files[f];
                let batches = crate::load::guarded(file, || {
                    read_row_group(file, &metadata[f], group, wanted, timestamps)
                })?;
                for batch in batches {
                    let points = wanted
                        .keep(&batch, kind)
                        .map_err(|e| crate::load::parquet_error(file, e))?;
                    crate::load::add_points(kind, file, &points, index, floats, strings)?;
                }
                Ok(())
            },
        )
    };
    if kind == SeriesKind::Float {
        let untimed = summarize(false)?;
        if !untimed.0.any_last_step_shared() {
            return Ok(untimed);
        }
    }
    summarize(true)
}

/// The rows of row group `group` that may hold wanted points by the page index (each
/// page's minimum and maximum `sys/id` and path): the pages of other series are skipped
/// without being read. `None` when the file has no page index or nothing is excluded.
fn page_selection(metadata: &ParquetMetaData, group: usize, wanted: &Wanted) -> Option<RowSelection> {
    let (column_index, offset_index) = (metadata.column_index()?, metadata.offset_index()?);
    let row_group = metadata.row_group(group);
    let rows = usize::try_from(row_group.num_rows()).ok()?;
    let mut kept: Vec<std::ops::Range<usize>> = std::iter::once(0..rows).collect();
    for (name, values) in [(ID_COLUMN, &wanted.ids), (PATH_COLUMN, &wanted.paths)] {
        let Some(values) = values else { continue };
        let Some(column) = crate::load::leaf_column(row_group, name) else {
            continue;
        };
        let (Some(ColumnIndexMetaData::BYTE_ARRAY(index)), Some(offsets)) = (
            column_index.get(group).and_then(|c| c.get(column)),
            offset_index.get(group).and_then(|c| c.get(column)),
        ) else {
            continue;
        };
        let pages = offsets.page_locations();
        let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
        for (page, location) in pages.iter().enumerate() {
            let may = match (index.min_value(page), index.max_value(page)) {
                (Some(min), Some(max)) => values.iter().any(|v| min <= v.as_bytes() && v.as_bytes() <= max),
                // A page of nulls holds no point; one without statistics may.
                _ => !index.is_null_page(page),
            };
            if !may {
                continue;
            }
            let start = usize::try_from(location.first_row_index).ok()?;
            let end = match pages.get(page + 1) {
                Some(next) => usize::try_from(next.first_row_index).ok()?,
                None => rows,
            };
            match ranges.last_mut() {
                Some(last) if last.end == start => last.end = end,
                _ => ranges.push(start..end),
            }
        }
        kept = intersect(&kept, &ranges);
    }
    if kept.len() == 1 && kept[0] == (0..rows) {
        return None;
    }
    Some(RowSelection::from_consecutive_ranges(kept.into_iter(), rows))
}

/// The rows in both of two sorted lists of disjoint row ranges.
fn intersect(a: &[std::ops::Range<usize>], b: &[std::ops::Range<usize>]) -> Vec<std::ops::Range<usize>> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let (start, end) = (a[i].start.max(b[j].start), a[i].end.min(b[j].end));
        if start < end {
            out.push(start..end);
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// The rows of one row group of a series file whose `sys/id` and path are wanted, with
/// their timestamps if `timestamps` (without, a point's time reads as missing).
fn read_row_group(
    file: &Path,
    metadata: &ArrowReaderMetadata,
    group: usize,
    wanted: &Arc<Wanted>,
    timestamps: bool,
) -> Result<Vec<RecordBatch>, LoadError> {
    let schema = metadata.schema();
    let root = |name: &str| schema.index_of(name).ok();
    let columns = [
        ID_COLUMN,
        PATH_COLUMN,
        STEP_COLUMN,
        TIMESTAMP_COLUMN,
        VALUE_COLUMN,
    ];
    let roots: Vec<usize> = columns
        .iter()
        .filter(|&&c| timestamps || c != TIMESTAMP_COLUMN)
        .filter_map(|c| root(c))
        .collect();
    let keys: Vec<usize> = [ID_COLUMN, PATH_COLUMN].iter().filter_map(|c| root(c)).collect();
    let parquet = metadata.parquet_schema();
    let mut builder =
        ParquetRecordBatchReaderBuilder::new_with_metadata(crate::load::open(file)?, metadata.clone())
            .with_row_groups(vec![group])
            .with_projection(ProjectionMask::roots(parquet, roots))
            .with_batch_size(64 * 1024);
    match page_selection(metadata.metadata(), group, wanted) {
        Some(selection) if !selection.selects_any() => return Ok(Vec::new()),
        // The pages read hold the wanted series and at most a few others at their edges:
        // checking ids and paths before decoding the rest would decode them twice.
        Some(selection) => builder = builder.with_row_selection(selection),
        None => {
            let checker = Arc::clone(wanted);
            let predicate = ArrowPredicateFn::new(ProjectionMask::roots(parquet, keys), move |batch| {
                checker.key_mask_of(&batch)
            });
            builder = builder.with_row_filter(RowFilter::new(vec![Box::new(predicate)]));
        }
    }
    let reader = builder.build().map_err(|e| crate::load::parquet_error(file, e))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| crate::load::parquet_error(file, e))
}

/// A stretch of rows of one batch holding points of one series, in order.
#[derive(Clone, Copy, Debug)]
struct Run<'a> {
    batch: usize,
    start: usize,
    end: usize,
    id: &'a str,
    path: &'a str,
}

impl<'a> Run<'a> {
    fn series(&self) -> (&'a str, &'a str) {
        (self.id, self.path)
    }
}

/// The order of two points of normalized batches within a series: step, timestamp (missing
/// first), value (the order in which the last point is the series' `last`).
fn point_order(batches: &[RecordBatch], a: (usize, usize), b: (usize, usize)) -> Ordering {
    let column = |batch: usize, c: usize| batches[batch].column(c);
    let steps = |batch| column(batch, 2).as_primitive::<Float64Type>();
    let times = |batch| column(batch, 3).as_primitive::<TimestampMicrosecondType>();
    let time = |batch: usize, row: usize| {
        let t = times(batch);
        t.is_valid(row).then(|| t.value(row))
    };
    let value_order = || {
        let (left, right) = (column(a.0, 4), column(b.0, 4));
        match left.data_type() {
            DataType::Float64 => left
                .as_primitive::<Float64Type>()
                .value(a.1)
                .total_cmp(&right.as_primitive::<Float64Type>().value(b.1)),
            _ => left
                .as_string::<i32>()
                .value(a.1)
                .cmp(right.as_string::<i32>().value(b.1)),
        }
    };
    steps(a.0)
        .value(a.1)
        .total_cmp(&steps(b.0).value(b.1))
        .then_with(|| time(a.0, a.1).cmp(&time(b.0, b.1)))
        .then_with(value_order)
}

/// The runs of series in `batches` (wanted points, normalized), ordered by (`sys/id`, path)
/// and within a series by [`point_order`], found in linear time when the points come as
/// runs of one series each, every run in order (as series files and sources give them: a
/// series at a time, by step). `None` when they do not (a run out of order, two runs of a
/// series that overlap): then a full sort.
fn ordered_runs(batches: &[RecordBatch]) -> Option<Vec<Run<'_>>> {
    let mut runs = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let (ids, paths) = (
            batch.column(0).as_dictionary::<Int32Type>(),
            batch.column(1).as_dictionary::<Int32Type>(),
        );
        let (id_values, path_values) = (ids.values().as_string::<i32>(), paths.values().as_string::<i32>());
        let (id_keys, path_keys) = (ids.keys().values(), paths.keys().values());
        let steps = batch.column(2).as_primitive::<Float64Type>().values();
        let mut start = 0;
        for r in 1..=batch.num_rows() {
            if r < batch.num_rows() && id_keys[r] == id_keys[r - 1] && path_keys[r] == path_keys[r - 1] {
                if steps[r - 1].partial_cmp(&steps[r]) != Some(Ordering::Less)
                    && point_order(batches, (b, r - 1), (b, r)).is_gt()
                {
                    return None;
                }
                continue;
            }
            runs.push(Run {
                batch: b,
                start,
                end: r,
                id: id_values.value(id_keys[start] as usize),
                path: path_values.value(path_keys[start] as usize),
            });
            start = r;
        }
    }
    runs.sort_by(|a, b| {
        a.series()
            .cmp(&b.series())
            .then_with(|| point_order(batches, (a.batch, a.start), (b.batch, b.start)))
    });
    // A series may come in several runs (row groups, batches): they must follow each other.
    let overlap = runs.windows(2).any(|w| {
        w[0].series() == w[1].series()
            && point_order(batches, (w[0].batch, w[0].end - 1), (w[1].batch, w[1].start)).is_gt()
    });
    (!overlap).then_some(runs)
}

/// The wanted points of `batches` (any shape), normalized, in batches that are not empty.
fn kept(
    batches: &[RecordBatch],
    kind: SeriesKind,
    wanted: &Wanted,
) -> Result<Vec<RecordBatch>, DataFusionError> {
    let mut kept = Vec::with_capacity(batches.len());
    for batch in batches {
        let batch = wanted.keep(batch, kind)?;
        if batch.num_rows() > 0 {
            kept.push(batch);
        }
    }
    Ok(kept)
}

/// Calls `then` with the points of `kept` as ordered runs, each series cut to its last
/// `tail` points: the runs the points came in when they are in order ([`ordered_runs`]), or
/// those of one batch sorted from them.
fn in_order<R>(
    kept: &[RecordBatch],
    kind: SeriesKind,
    tail: Option<usize>,
    then: impl FnOnce(&[RecordBatch], &[Run<'_>]) -> Result<R, DataFusionError>,
) -> Result<R, DataFusionError> {
    if let Some(runs) = ordered_runs(kept) {
        return then(kept, &cut_tails(&runs, tail));
    }
    let sorted = [sort_points(kept, kind)?];
    let runs = sorted_runs(&sorted[0]);
    then(&sorted, &cut_tails(&runs, tail))
}

/// `runs` (ordered) with each series cut to its last `tail` points.
fn cut_tails<'a>(runs: &[Run<'a>], tail: Option<usize>) -> Vec<Run<'a>> {
    let mut pieces: Vec<Run<'a>> = Vec::with_capacity(runs.len());
    for series in runs.chunk_by(|a, b| a.series() == b.series()) {
        let total: usize = series.iter().map(|r| r.end - r.start).sum();
        let mut skip = tail.map_or(0, |t| total.saturating_sub(t));
        for run in series {
            let len = run.end - run.start;
            if skip >= len {
                skip -= len;
                continue;
            }
            pieces.push(Run {
                start: run.start + skip,
                ..*run
            });
            skip = 0;
        }
    }
    pieces
}

/// The wanted points of `batches`, sorted by `sys/id`, path, step, timestamp (missing
/// first) and value (the order in which the last point is the series' `last`), each series
/// cut to its last `tail` points; none when no point is left.
pub(crate) fn finish(
    batches: &[RecordBatch],
    kind: SeriesKind,
    wanted: &Wanted,
    tail: Option<usize>,
) -> Result<Vec<RecordBatch>, DataFusionError> {
    let kept = kept(batches, kind, wanted)?;
    if kept.is_empty() {
        return Ok(Vec::new());
    }
    in_order(&kept, kind, tail, |batches, runs| join_runs(batches, runs, kind))
}

/// The float series of `batches` (as [`finish`] orders and cuts them) downsampled to at
/// most `width` points each ([`Curve`]).
pub(crate) fn curves(
    batches: &[RecordBatch],
    wanted: &Wanted,
    tail: Option<usize>,
    width: usize,
) -> Result<Vec<Curve>, DataFusionError> {
    let kept = kept(batches, SeriesKind::Float, wanted)?;
    in_order(&kept, SeriesKind::Float, tail, |batches, runs| {
        Ok(runs
            .chunk_by(|a, b| a.series() == b.series())
            .map(|series| downsample(batches, series, width))
            .collect())
    })
}

/// A float series downsampled for drawing ([`crate::Engine::curves`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// The object's `sys/id`.
    pub id: String,
    /// The series' path.
    pub path: String,
    /// How many points with a finite value the series has (after the request's step range
    /// and tail), before downsampling.
    pub points: usize,
    /// The points kept, `(step, value)`, in step order: every point when there are at most
    /// `width`, else each bucket's lowest and highest (see [`crate::Engine::curves`]).
    pub kept: Vec<(f64, f64)>,
}

/// One series (its ordered runs over `batches`) downsampled to at most `width` points: its
/// finite points' steps are cut into `width / 2` equal ranges, and each range keeps its lowest
/// and its highest point, in step order, so that every extreme survives.
fn downsample(batches: &[RecordBatch], series: &[Run<'_>], width: usize) -> Curve {
    // Each run's steps and values.
    let slices: Vec<(&[f64], &[f64])> = series
        .iter()
        .map(|run| {
            let batch = &batches[run.batch];
            let steps = batch.column(2).as_primitive::<Float64Type>().values();
            let values = batch.column(4).as_primitive::<Float64Type>().values();
            (&steps[run.start..run.end], &values[run.start..run.end])
        })
        .collect();
    let drawable = |step: f64, value: f64| step.is_finite() && value.is_finite();
    let points = || {
        slices.iter().flat_map(move |(steps, values)| {
            steps
                .iter()
                .zip(values.iter())
                .map(|(&s, &v)| (s, v))
                .filter(move |&(s, v)| drawable(s, v))
        })
    };
    let count: usize = slices
        .iter()
        .map(|(steps, values)| {
            steps
                .iter()
                .zip(values.iter())
                .filter(|&(&s, &v)| drawable(s, v))
                .count()
        })
        .sum();
    let kept = if count <= width {
        points().collect()
    } else {
        let first = points().next().map_or(0.0, |p| p.0);
        let last = slices
            .iter()
            .rev()
            .find_map(|(steps, values)| {
                steps
                    .iter()
                    .zip(values.iter())
                    .rev()
                    .find(|&(&s, &v)| drawable(s, v))
                    .map(|(&s, _)| s)
            })
            .unwrap_or(first);
        extremes(points(), first, last, width)
    };
    Curve {
        id: series[0].id.to_string(),
        path: series[0].path.to_string(),
        points: count,
        kept,
    }
}

/// At most `width` of `points` (in step order, from step `first` to `last`), keeping the
/// shape: the steps are cut into `width / 2` equal buckets and each keeps its lowest and its
/// highest point, in step order.
fn extremes(
    points: impl Iterator<Item = (f64, f64)>,
    first: f64,
    last: f64,
    width: usize,
) -> Vec<(f64, f64)> {
    let buckets = (width / 2).max(1);
    let end_of = |b: usize| first + (last - first) * (b + 1) as f64 / buckets as f64;
    let mut out = Vec::with_capacity(buckets * 2);
    // The bucket being filled: its lowest and highest points, each with its place.
    type Placed = (usize, (f64, f64));
    let mut bucket: Option<(Placed, Placed)> = None;
    let flush = |bucket: &mut Option<(Placed, Placed)>, out: &mut Vec<(f64, f64)>| {
        if let Some((lowest, highest)) = bucket.take() {
            let (a, b) = if lowest.0 <= highest.0 {
                (lowest, highest)
            } else {
                (highest, lowest)
            };
            out.push(a.1);
            if b.0 != a.0 {
                out.push(b.1);
            }
        }
    };
    let (mut b, mut end) = (0, end_of(0));
    for (place, point) in points.enumerate() {
        while point.0 > end && b + 1 < buckets {
            flush(&mut bucket, &mut out);
            b += 1;
            end = end_of(b);
        }
        match &mut bucket {
            None => bucket = Some(((place, point), (place, point))),
            Some((lowest, highest)) => {
                if point.1 < lowest.1.1 {
                    *lowest = (place, point);
                }
                if point.1 > highest.1.1 {
                    *highest = (place, point);
                }
            }
        }
    }
    flush(&mut bucket, &mut out);
    out
}

/// The most rows a result batch has: a batch's strings stay far below `i32` offsets.
const RESULT_BATCH_ROWS: usize = 1 << 20;

/// The points of ordered `runs` as batches of at most [`RESULT_BATCH_ROWS`] rows.
fn join_runs(
    batches: &[RecordBatch],
    runs: &[Run<'_>],
    kind: SeriesKind,
) -> Result<Vec<RecordBatch>, DataFusionError> {
    // The runs, cut where a batch fills.
    let mut chunks: Vec<Vec<Run<'_>>> = vec![Vec::new()];
    let mut rows = 0;
    for run in runs {
        let mut run = *run;
        while run.start < run.end {
            if rows == RESULT_BATCH_ROWS {
                chunks.push(Vec::new());
                rows = 0;
            }
            let take = (run.end - run.start).min(RESULT_BATCH_ROWS - rows);
            chunks.last_mut().expect("one chunk at least").push(Run {
                end: run.start + take,
                ..run
            });
            rows += take;
            run.start += take;
        }
    }
    chunks
        .iter()
        .filter(|pieces| !pieces.is_empty())
        .map(|pieces| join_pieces(batches, pieces, kind))
        .collect()
}

/// The points of `pieces` as one batch.
fn join_pieces(
    batches: &[RecordBatch],
    pieces: &[Run<'_>],
    kind: SeriesKind,
) -> Result<RecordBatch, DataFusionError> {
    let repeated = |id: bool| -> Result<ArrayRef, DataFusionError> {
        let mut offsets: Vec<i32> =
            Vec::with_capacity(pieces.iter().map(|p| p.end - p.start).sum::<usize>() + 1);
        let mut values: Vec<u8> = Vec::new();
        offsets.push(0);
        for piece in pieces {
            let value = if id { piece.id } else { piece.path }.as_bytes();
            for _ in piece.start..piece.end {
                values.extend_from_slice(value);
                let end = i32::try_from(values.len()).map_err(|_| {
                    DataFusionError::Execution("too many bytes of ids or paths in one batch".into())
                })?;
                offsets.push(end);
            }
        }
        let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
        Ok(Arc::new(StringArray::try_new(
            offsets,
            Buffer::from_vec(values),
            None,
        )?))
    };
    let mut columns = vec![repeated(true)?, repeated(false)?];
    for c in 2..5 {
        let slices: Vec<ArrayRef> = pieces
            .iter()
            .map(|p| batches[p.batch].column(c).slice(p.start, p.end - p.start))
            .collect();
        let slices: Vec<&dyn Array> = slices.iter().map(|a| a.as_ref()).collect();
        columns.push(concat(&slices)?);
    }
    Ok(RecordBatch::try_new(series_schema(kind), columns)?)
}

/// The runs of series of a batch sorted by (`sys/id`, path) (ids and paths as strings).
fn sorted_runs(batch: &RecordBatch) -> Vec<Run<'_>> {
    let (ids, paths) = (
        batch.column(0).as_string::<i32>(),
        batch.column(1).as_string::<i32>(),
    );
    let mut runs = Vec::new();
    let mut start = 0;
    for r in 1..=batch.num_rows() {
        if r < batch.num_rows() && ids.value(r) == ids.value(start) && paths.value(r) == paths.value(start) {
            continue;
        }
        runs.push(Run {
            batch: 0,
            start,
            end: r,
            id: ids.value(start),
            path: paths.value(start),
        });
        start = r;
    }
    runs
}

/// The points of `batches` in one batch put in order by a full sort (for points that do not
/// come as ordered runs), ids and paths as strings.
fn sort_points(batches: &[RecordBatch], kind: SeriesKind) -> Result<RecordBatch, DataFusionError> {
    let plain: Vec<RecordBatch> = batches
        .iter()
        .map(|b| {
            let mut columns = b.columns().to_vec();
            columns[0] = cast(&columns[0], &DataType::Utf8)?;
            columns[1] = cast(&columns[1], &DataType::Utf8)?;
            Ok(RecordBatch::try_new(series_schema(kind), columns)?)
        })
        .collect::<Result<_, DataFusionError>>()?;
    let all = concat_batches(&series_schema(kind), &plain)?;
    let sort: Vec<SortColumn> = all
        .columns()
        .iter()
        .map(|c| SortColumn {
            values: c.clone(),
            options: Some(SortOptions {
                descending: false,
                nulls_first: true,
            }),
        })
        .collect();
    let order = lexsort_to_indices(&sort, None)?;
    let columns = all
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), &order, None))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(series_schema(kind), columns)?)
}

/// The `sys/id` of every object of `table`, with its row in stored order.
pub(crate) fn id_rows(table: &ObjectTable) -> Result<HashMap<String, u32>, DataFusionError> {
    let (batch, sorted) = table.batch(&[0])?;
    let ids = cast(batch.column(0), &DataType::Utf8)?;
    let ids = ids.as_string::<i32>();
    let order = if sorted { Some(table.order()?) } else { None };
    let mut rows = HashMap::with_capacity(ids.len());
    for (place, id) in ids.iter().enumerate() {
        let row = order.map_or(place as u32, |o| o.value(place));
        if let Some(id) = id {
            rows.insert(id.to_string(), row);
        }
    }
    Ok(rows)
}

/// What a foreign source needs to read its points again: the source, and which of its
/// units holds which rows of each table (as the index's manifest records them).
pub(crate) struct ForeignSeries {
    source: Box<dyn Source>,
    /// Each unit's label and its rows by table, in the order of the tables' rows.
    units: Vec<(String, Vec<(String, usize)>)>,
    /// The source's units by label, listed on first use.
    listed: OnceLock<Result<HashMap<String, Unit>, String>>,
}

impl std::fmt::Debug for ForeignSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForeignSeries")
            .field("source", &self.source)
            .field("units", &self.units.len())
            .finish_non_exhaustive()
    }
}

impl ForeignSeries {
    pub fn new(source: Box<dyn Source>, units: Vec<(String, Vec<(String, usize)>)>) -> ForeignSeries {
        ForeignSeries {
            source,
            units,
            listed: OnceLock::new(),
        }
    }

    /// The units (indices into `units`) holding the stored `rows` of `table`.
    fn units_of(&self, table: ObjectKind, rows: impl Iterator<Item = u32>) -> Vec<usize> {
        // The end of each unit's rows of the table; units own consecutive rows, in order.
        let mut ends = Vec::with_capacity(self.units.len());
        let mut at = 0usize;
        for (_, counts) in &self.units {
            at += counts
                .iter()
                .find(|(t, _)| t == table.table_name())
                .map_or(0, |(_, n)| *n);
            ends.push(at);
        }
        let mut units: Vec<usize> = rows
            .map(|row| ends.partition_point(|&end| end <= row as usize))
            .filter(|&u| u < self.units.len())
            .collect();
        units.sort_unstable();
        units.dedup();
        units
    }

    /// Reads the points of `request` from the units that hold its objects (in parallel),
    /// checking `stop` before each unit; unnormalized, for [`finish`].
    pub fn points(
        &self,
        request: &SeriesRequest,
        members: &HashMap<String, u32>,
        stop: &(dyn Fn() -> Result<(), QueryError> + Sync),
    ) -> Result<Vec<RecordBatch>, QueryError> {
        let rows: Vec<u32> = match &request.ids {
            Some(ids) => ids.iter().filter_map(|id| members.get(id).copied()).collect(),
            None => members.values().copied().collect(),
        };
        let wanted = self.units_of(request.table, rows.into_iter());
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let listed = self
            .listed
            .get_or_init(|| {
                self.source
                    .units()
                    .map(|units| units.into_iter().map(|u| (u.label.clone(), u)).collect())
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| QueryError::Source(e.clone()))?;
        let failed = std::sync::Mutex::new(None);
        let read = crate::load::parallel_map(&wanted, crate::load::cores(), |&u| {
            let label = &self.units[u].0;
            if let Err(e) = stop() {
                *failed.lock().expect("not poisoned") = Some(e);
                return Ok(Vec::new());
            }
            let unit = listed.get(label).ok_or_else(|| LoadError::Choice(format!(
                "the unit `{label}` is no longer in {}: the source changed since it was opened; open it again",
                self.source.describe()
            )))?;
            let file = unit.files.first().cloned().unwrap_or_else(|| label.into());
            let data = crate::load::guarded(&file, || self.source.read(unit))?;
            let points = match request.kind {
                SeriesKind::Float => data.float_points,
                SeriesKind::String => data.string_points,
            };
            Ok(points
                .into_iter()
                .filter(|(kind, _)| *kind == request.table)
                .map(|(_, b)| b)
                .collect::<Vec<_>>())
        })
        .map_err(|e| QueryError::Source(e.to_string()))?;
        if let Some(e) = failed.into_inner().expect("not poisoned") {
            return Err(e);
        }
        Ok(read.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, StringArray, TimestampMicrosecondArray};

    /// Normalized points, each batch with its own dictionaries.
    fn points(ids: &[&str], paths: &[&str], steps: &[f64]) -> RecordBatch {
        let n = ids.len();
        let plain = RecordBatch::try_new(
            series_schema(SeriesKind::Float),
            vec![
                Arc::new(StringArray::from(ids.to_vec())),
                Arc::new(StringArray::from(paths.to_vec())),
                Arc::new(Float64Array::from(steps.to_vec())),
                Arc::new(TimestampMicrosecondArray::from(vec![None; n]).with_timezone("UTC")),
                Arc::new(Float64Array::from((0..n).map(|i| i as f64).collect::<Vec<_>>())),
            ],
        )
        .unwrap();
        normalize(&plain, SeriesKind::Float).unwrap()
    }

    fn everything(ids: &[&str]) -> Wanted {
        let members = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.to_string(), i as u32))
            .collect();
        Wanted::new(
            &SeriesRequest::new(ObjectKind::Runs, SeriesKind::Float),
            Arc::new(members),
        )
    }

    /// What a full sort gives, each series cut to its last `tail` points.
    fn sorted(batches: &[RecordBatch], tail: Option<usize>) -> Vec<RecordBatch> {
        let sorted = [sort_points(batches, SeriesKind::Float).unwrap()];
        join_runs(
            &sorted,
            &cut_tails(&sorted_runs(&sorted[0]), tail),
            SeriesKind::Float,
        )
        .unwrap()
    }

    fn joined(batches: &[RecordBatch], runs: &[Run<'_>], tail: Option<usize>) -> Vec<RecordBatch> {
        join_runs(batches, &cut_tails(runs, tail), SeriesKind::Float).unwrap()
    }

    #[test]
    fn runs_of_series_in_order_are_ordered_without_a_sort_and_others_are_left_to_it() {
        // Runs by run number, not by id: "R-10" sorts before "R-2".
        let runs = [points(
            &["R-2", "R-2", "R-2", "R-10", "R-10", "R-1"],
            &["b", "b", "a", "a", "a", "a"],
            &[0.0, 1.0, 5.0, 0.0, 2.0, 3.0],
        )];
        let ordered = ordered_runs(&runs).expect("runs in order");
        assert_eq!(joined(&runs, &ordered, None), sorted(&runs, None));
        // A series in runs of several batches that follow each other: still no sort, and
        // a tail cuts across them.
        let split = [
            points(&["R-1", "R-2"], &["a", "a"], &[2.0, 0.0]),
            points(&["R-1", "R-1", "R-2"], &["a", "a", "a"], &[0.0, 1.0, 1.0]),
        ];
        let ordered = ordered_runs(&split).expect("runs that follow each other");
        for tail in [None, Some(1), Some(2), Some(5)] {
            assert_eq!(
                joined(&split, &ordered, tail),
                sorted(&split, tail),
                "tail {tail:?}"
            );
        }
        // A run out of step order, or two runs of a series that overlap: no shortcut.
        assert!(ordered_runs(&[points(&["R-1", "R-1"], &["a", "a"], &[2.0, 1.0])]).is_none());
        let overlap = [points(
            &["R-1", "R-1", "R-2", "R-1"],
            &["a", "a", "a", "a"],
            &[0.0, 2.0, 0.0, 1.0],
        )];
        assert!(ordered_runs(&overlap).is_none());
        // Equal steps with values in order are still one run.
        let ties = [points(&["R-1", "R-1"], &["a", "a"], &[1.0, 1.0])];
        assert!(ordered_runs(&ties).is_some());
    }

    #[test]
    fn downsampling_keeps_every_extreme_and_at_most_width_points() {
        let points: Vec<(f64, f64)> = (0..10_000)
            .map(|i| (i as f64, ((i as f64) / 37.0).sin() * (i % 101) as f64))
            .collect();
        let kept = extremes(points.iter().copied(), 0.0, 9_999.0, 200);
        assert!(kept.len() <= 200 && kept.len() > 150, "{}", kept.len());
        assert!(kept.windows(2).all(|w| w[0].0 < w[1].0), "in step order");
        let max = points.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        let min = points.iter().map(|p| p.1).fold(f64::MAX, f64::min);
        assert!(kept.iter().any(|p| p.1 == max) && kept.iter().any(|p| p.1 == min));
        assert!(kept.iter().all(|p| points.contains(p)), "only real points");
    }

    #[test]
    fn results_are_cut_into_batches_of_bounded_rows() {
        let n = RESULT_BATCH_ROWS + 10;
        let ids = vec!["R-1"; n];
        let batch = [points(
            &ids,
            &vec!["a"; n],
            &(0..n).map(|i| i as f64).collect::<Vec<_>>(),
        )];
        let runs = ordered_runs(&batch).unwrap();
        let out = join_runs(&batch, &runs, SeriesKind::Float).unwrap();
        assert_eq!(
            out.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(),
            [RESULT_BATCH_ROWS, 10]
        );
        let steps = out[1].column(2).as_primitive::<Float64Type>();
        assert_eq!(steps.value(0), RESULT_BATCH_ROWS as f64);
    }

    #[test]
    fn rows_are_wanted_by_their_value_whether_the_dictionary_is_small_or_large() {
        let values = StringArray::from(vec![Some("a"), Some("b"), None, Some("c")]);
        let wants = |v: &str| v != "b";
        // Fewer rows than values, a null key: each value asked about as rows use it.
        let few = DictionaryArray::<Int32Type>::try_new(
            datafusion::arrow::array::Int32Array::from(vec![Some(1), None, Some(3)]),
            Arc::new(values.clone()),
        )
        .unwrap();
        assert_eq!(
            wanted_rows(&few, &wants).iter().collect::<Vec<_>>(),
            [false, false, true]
        );
        // More rows than values: all asked about up front.
        let many = DictionaryArray::<Int32Type>::try_new(
            datafusion::arrow::array::Int32Array::from(vec![0, 1, 2, 3, 3, 0]),
            Arc::new(values),
        )
        .unwrap();
        assert_eq!(
            wanted_rows(&many, &wants).iter().collect::<Vec<_>>(),
            [true, false, false, true, true, true]
        );
    }

    #[test]
    fn row_ranges_intersect() {
        let whole = |r: std::ops::Range<usize>| vec![r];
        assert_eq!(intersect(&whole(0..10), &[2..4, 6..12]), vec![2..4, 6..10]);
        assert_eq!(intersect(&[0..3, 5..9], &[2..6, 8..20]), vec![2..3, 5..6, 8..9]);
        assert!(intersect(&whole(0..3), &whole(3..5)).is_empty());
        assert!(intersect(&[], &whole(0..5)).is_empty());
    }

    #[test]
    fn finish_keeps_the_wanted_points_of_members_in_order_whatever_the_shortcut() {
        let batches = [
            points(&["R-1", "R-9", "R-2"], &["a", "a", "b"], &[1.0, 0.0, 4.0]),
            points(&["R-1", "R-2", "R-2"], &["a", "a", "b"], &[0.0, 7.0, 2.0]),
        ];
        let mut wanted = everything(&["R-1", "R-2"]);
        // R-9 is no member; R-1's `a` comes in two runs out of order (1 then 0): a full sort.
        let out = finish(&batches, SeriesKind::Float, &wanted, None).unwrap();
        let ids = out[0].column(0).as_string::<i32>();
        let steps = out[0].column(2).as_primitive::<Float64Type>();
        let got: Vec<(&str, f64)> = (0..out[0].num_rows())
            .map(|r| (ids.value(r), steps.value(r)))
            .collect();
        assert_eq!(
            got,
            [
                ("R-1", 0.0),
                ("R-1", 1.0),
                ("R-2", 7.0),
                ("R-2", 2.0),
                ("R-2", 4.0)
            ]
        );
        wanted.paths = Some(["b".to_string()].into());
        wanted.from = Some(3.0);
        let out = finish(&batches, SeriesKind::Float, &wanted, None).unwrap();
        let steps = out[0].column(2).as_primitive::<Float64Type>();
        assert_eq!(steps.values().to_vec(), [4.0]);
        wanted.to = Some(3.5);
        assert!(
            finish(&batches, SeriesKind::Float, &wanted, None)
                .unwrap()
                .is_empty()
        );
    }
}
