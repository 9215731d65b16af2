//! Raw series points ([`crate::Engine::series`]): the points of some objects' series, as a
//! long Arrow table, for plotting and for clients that pivot them themselves (Neptune's
//! `fetch_values`, neptune-query's `fetch_metrics`).
//!
//! A native project's points are read from its series files through the session's
//! `float_series` / `string_series` tables, the request's conditions pushed into the Parquet
//! scan (row groups whose statistics exclude them are skipped). A foreign source (a Neptune
//! export, an MLflow store) has no such files: its points are read again from the units of
//! the source that hold the requested objects (an export's run, a store), as the index
//! build read them; the index does not keep raw points.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array, new_null_array,
};
use datafusion::arrow::compute::{
    SortColumn, SortOptions, cast, concat_batches, filter_record_batch, lexsort_to_indices, take,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast as cast_expr, ident, lit};
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
    schema(kind, false)
}

/// The result schema, or (`loose`) the same with every column nullable, for points not yet
/// filtered.
fn schema(kind: SeriesKind, loose: bool) -> SchemaRef {
    let value = match kind {
        SeriesKind::Float => DataType::Float64,
        SeriesKind::String => DataType::Utf8,
    };
    Arc::new(Schema::new(vec![
        Field::new(ID_COLUMN, DataType::Utf8, loose),
        Field::new(PATH_COLUMN, DataType::Utf8, loose),
        Field::new(STEP_COLUMN, DataType::Float64, loose),
        Field::new(TIMESTAMP_COLUMN, timestamp_type(), true),
        Field::new(VALUE_COLUMN, value, loose),
    ]))
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The points of a batch in any of the shapes series come in (the native layout's files,
/// a source's unit), in the columns and types of [`schema`] (loose). A timestamp without a
/// time zone is UTC; a batch without timestamps gets nulls.
fn normalize(batch: &RecordBatch, kind: SeriesKind) -> Result<RecordBatch, DataFusionError> {
    let target = schema(kind, true);
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

/// The conditions of a request, checked on normalized points.
pub(crate) struct Wanted<'a> {
    /// The table's objects (id → stored row).
    pub members: &'a HashMap<String, u32>,
    pub ids: Option<HashSet<&'a str>>,
    pub paths: Option<HashSet<&'a str>>,
    pub from: Option<f64>,
    pub to: Option<f64>,
}

impl<'a> Wanted<'a> {
    pub fn new(request: &'a SeriesRequest, members: &'a HashMap<String, u32>) -> Wanted<'a> {
        Wanted {
            members,
            ids: request
                .ids
                .as_ref()
                .map(|ids| ids.iter().map(String::as_str).collect()),
            paths: request
                .paths
                .as_ref()
                .map(|paths| paths.iter().map(String::as_str).collect()),
            from: request.step_range.0,
            to: request.step_range.1,
        }
    }

    /// The points of `batch` (any shape) that the request wants, normalized. Points with a
    /// null value are not points (docs/dataset.md).
    fn keep(&self, batch: &RecordBatch, kind: SeriesKind) -> Result<RecordBatch, DataFusionError> {
        let batch = normalize(batch, kind)?;
        let ids = batch.column(0).as_string::<i32>();
        let paths = batch.column(1).as_string::<i32>();
        let steps = batch
            .column(2)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        let values = batch.column(4);
        let mask: BooleanArray = (0..batch.num_rows())
            .map(|r| {
                let keep = !ids.is_null(r)
                    && !paths.is_null(r)
                    && !steps.is_null(r)
                    && !values.is_null(r)
                    && self.members.contains_key(ids.value(r))
                    && self.ids.as_ref().is_none_or(|w| w.contains(ids.value(r)))
                    && self.paths.as_ref().is_none_or(|w| w.contains(paths.value(r)))
                    && self.from.is_none_or(|f| steps.value(r) >= f)
                    && self.to.is_none_or(|t| steps.value(r) <= t);
                Some(keep)
            })
            .collect();
        Ok(filter_record_batch(&batch, &mask)?)
    }
}

/// The order that sorts `all` as `sort` says, found in linear time when its rows come as
/// runs of one series each, every run in order (as series files and sources give them: a
/// series at a time, by step): the runs sorted by (`sys/id`, path), each kept as it is.
/// `None` when they do not (a run out of order, two runs of a series that overlap): then a
/// full sort.
fn runs_in_order(all: &RecordBatch, sort: &[SortColumn]) -> Result<Option<UInt32Array>, DataFusionError> {
    use datafusion::arrow::array::make_comparator;
    let (ids, paths) = (all.column(0).as_string::<i32>(), all.column(1).as_string::<i32>());
    let within = sort[2..]
        .iter()
        .map(|c| {
            make_comparator(
                c.values.as_ref(),
                c.values.as_ref(),
                c.options.unwrap_or_default(),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let key = |r: usize| {
        (
            ids.is_valid(r).then(|| ids.value(r)),
            paths.is_valid(r).then(|| paths.value(r)),
        )
    };
    let compare_rows = |a: usize, b: usize| {
        within
            .iter()
            .map(|compare| compare(a, b))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for r in 1..=all.num_rows() {
        if r < all.num_rows() && key(r) == key(r - 1) {
            if compare_rows(r - 1, r).is_gt() {
                return Ok(None);
            }
            continue;
        }
        runs.push((start, r));
        start = r;
    }
    // A series may come in several runs (batches of parallel scans interleave): runs of one
    // series must then follow each other in order.
    runs.sort_by(|a, b| key(a.0).cmp(&key(b.0)).then_with(|| compare_rows(a.0, b.0)));
    if runs
        .windows(2)
        .any(|w| key(w[0].0) == key(w[1].0) && compare_rows(w[0].1 - 1, w[1].0).is_gt())
    {
        return Ok(None);
    }
    Ok(Some(UInt32Array::from_iter_values(
        runs.into_iter().flat_map(|(a, b)| (a as u32)..(b as u32)),
    )))
}

/// The wanted points of `batches`, sorted by `sys/id`, path, step, timestamp (missing
/// first) and value (the order in which the last point is the series' `last`), each series
/// cut to its last `tail` points; one batch, or none when no point is left.
pub(crate) fn finish(
    batches: &[RecordBatch],
    kind: SeriesKind,
    wanted: &Wanted<'_>,
    tail: Option<usize>,
) -> Result<Vec<RecordBatch>, DataFusionError> {
    let kept = batches
        .iter()
        .map(|b| wanted.keep(b, kind))
        .collect::<Result<Vec<_>, _>>()?;
    let all = concat_batches(&schema(kind, true), &kept)?;
    if all.num_rows() == 0 {
        return Ok(Vec::new());
    }
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
    let mut order = match runs_in_order(&all, &sort)? {
        Some(order) => order,
        None => lexsort_to_indices(&sort, None)?,
    };
    if let Some(tail) = tail {
        let ids = all.column(0).as_string::<i32>();
        let paths = all.column(1).as_string::<i32>();
        let rows: Vec<u32> = order.values().to_vec();
        let mut keep = Vec::with_capacity(rows.len());
        let mut start = 0;
        while start < rows.len() {
            let (id, path) = (ids.value(rows[start] as usize), paths.value(rows[start] as usize));
            let mut end = start + 1;
            while end < rows.len()
                && ids.value(rows[end] as usize) == id
                && paths.value(rows[end] as usize) == path
            {
                end += 1;
            }
            keep.extend_from_slice(&rows[end.saturating_sub(tail).max(start)..end]);
            start = end;
        }
        order = UInt32Array::from(keep);
    }
    let columns = all
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), &order, None))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(vec![RecordBatch::try_new(series_schema(kind), columns)?])
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

/// The points a native project's series table holds for `request`: a scan of the
/// session's table with the conditions pushed into it (none when the project has no such
/// table). The points come in any order, unnormalized.
pub(crate) async fn native_points(
    ctx: &SessionContext,
    request: &SeriesRequest,
) -> Result<Vec<RecordBatch>, DataFusionError> {
    let name = request.kind.table_name();
    if !ctx.table_exist(name)? {
        return Ok(Vec::new());
    }
    let provider = ctx.table_provider(name).await?;
    let columns = provider.schema();
    let has = |c: &str| columns.column_with_name(c).is_some();
    let mut filters: Vec<Expr> = Vec::new();
    if let Some(ids) = &request.ids {
        filters.push(
            cast_expr(ident(ID_COLUMN), DataType::Utf8)
                .in_list(ids.iter().map(|i| lit(i.as_str())).collect(), false),
        );
    }
    if let Some(paths) = &request.paths {
        filters.push(
            cast_expr(ident(PATH_COLUMN), DataType::Utf8)
                .in_list(paths.iter().map(|p| lit(p.as_str())).collect(), false),
        );
    }
    let step = || cast_expr(ident(STEP_COLUMN), DataType::Float64);
    if let Some(from) = request.step_range.0 {
        filters.push(step().gt_eq(lit(from)));
    }
    if let Some(to) = request.step_range.1 {
        filters.push(step().lt_eq(lit(to)));
    }
    if has(VALUE_COLUMN) {
        filters.push(ident(VALUE_COLUMN).is_not_null());
    }
    let source = datafusion::datasource::provider_as_source(provider);
    let mut plan = LogicalPlanBuilder::scan_with_filters(name, source, None, filters.clone())?;
    if let Some(all) = conjunction(filters) {
        plan = plan.filter(all)?;
    }
    let plan = plan.build()?;
    let state = ctx.state();
    let physical = state.create_physical_plan(&plan).await?;
    datafusion::physical_plan::collect(physical, state.task_ctx()).await
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

    fn points(ids: &[&str], paths: &[&str], steps: &[f64]) -> RecordBatch {
        let n = ids.len();
        RecordBatch::try_new(
            schema(SeriesKind::Float, true),
            vec![
                Arc::new(StringArray::from(ids.to_vec())),
                Arc::new(StringArray::from(paths.to_vec())),
                Arc::new(Float64Array::from(steps.to_vec())),
                Arc::new(TimestampMicrosecondArray::from(vec![None; n]).with_timezone("UTC")),
                Arc::new(Float64Array::from((0..n).map(|i| i as f64).collect::<Vec<_>>())),
            ],
        )
        .unwrap()
    }

    fn sort_of(all: &RecordBatch) -> Vec<SortColumn> {
        all.columns()
            .iter()
            .map(|c| SortColumn {
                values: c.clone(),
                options: Some(SortOptions {
                    descending: false,
                    nulls_first: true,
                }),
            })
            .collect()
    }

    #[test]
    fn runs_of_series_in_order_are_ordered_without_a_sort_and_others_are_left_to_it() {
        // Runs by run number, not by id: "R-10" sorts before "R-2".
        let runs = points(
            &["R-2", "R-2", "R-2", "R-10", "R-10", "R-1"],
            &["b", "b", "a", "a", "a", "a"],
            &[0.0, 1.0, 5.0, 0.0, 2.0, 3.0],
        );
        let sort = sort_of(&runs);
        let full = lexsort_to_indices(&sort, None).unwrap();
        assert_eq!(runs_in_order(&runs, &sort).unwrap(), Some(full));
        // A series in two runs that follow each other: still no sort.
        let split = points(
            &["R-1", "R-2", "R-1", "R-1"],
            &["a", "a", "a", "a"],
            &[2.0, 0.0, 0.0, 1.0],
        );
        let full = lexsort_to_indices(&sort_of(&split), None).unwrap();
        assert_eq!(runs_in_order(&split, &sort_of(&split)).unwrap(), Some(full));
        // A run out of step order, or two runs of a series that overlap: no shortcut.
        let unordered = points(&["R-1", "R-1"], &["a", "a"], &[2.0, 1.0]);
        assert_eq!(runs_in_order(&unordered, &sort_of(&unordered)).unwrap(), None);
        let overlap = points(
            &["R-1", "R-1", "R-2", "R-1"],
            &["a", "a", "a", "a"],
            &[0.0, 2.0, 0.0, 1.0],
        );
        assert_eq!(runs_in_order(&overlap, &sort_of(&overlap)).unwrap(), None);
    }
}
