//! The tables of a project as DataFusion sees them: a [`TableProvider`] per object table that
//! takes every filter, and the [`ExecutionPlan`] that scans it.
//!
//! DataFusion plans every query (filter pushdown, projection, sort, top-k, limit); the scan
//! it puts at the leaf, [`NqlScanExec`], reads only the columns the plan needs and evaluates
//! the pushed-down NQL filter with the mask kernels of [`crate::kernels`]. Its rows come in
//! the table's stored order, the default result order, which it declares, so a query sorted
//! that way needs no sort; a top-k right over it ([`TopKIntoScan`]) is done in the scan.
//! `explain` prints this plan, and this plan is what runs.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{RecordBatch, UInt32Array};
use datafusion::arrow::compute::{SortColumn, SortOptions, lexsort_to_indices, take};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{EquivalenceProperties, LexOrdering, PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType, SchedulingType};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    ReplaceChildrenOptions, SendableRecordBatchStream,
};

use crate::cancel::Interrupt;
use crate::kernels;
use crate::table::{ObjectTable, default_order};

/// An object table as a DataFusion table: every filter is pushed into its scan.
#[derive(Debug)]
pub(crate) struct NqlTable {
    table: Arc<ObjectTable>,
}

impl NqlTable {
    pub fn new(table: Arc<ObjectTable>) -> NqlTable {
        NqlTable { table }
    }
}

#[async_trait]
impl TableProvider for NqlTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        // The kernels evaluate any expression over the table's columns (what they do not
        // answer themselves, DataFusion compiles for them).
        Ok(vec![TableProviderFilterPushDown::Exact; filters.len()])
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let projection = projection
            .cloned()
            .unwrap_or_else(|| (0..self.table.schema.fields().len()).collect());
        Ok(Arc::new(NqlScanExec::new(
            Arc::clone(&self.table),
            projection,
            conjunction(filters.iter().cloned()),
            limit,
        )?))
    }
}

/// Scans an object table: reads the projected columns and those the filter reads, keeps the
/// rows where the filter holds, in the default order, up to `fetch` of them.
#[derive(Debug, Clone)]
pub(crate) struct NqlScanExec {
    table: Arc<ObjectTable>,
    projection: Vec<usize>,
    filter: Option<Expr>,
    fetch: Option<usize>,
    /// The order of the output when a sort was put into the scan ([`TopKIntoScan`]): the
    /// scan then returns the first `fetch` rows in that order, not in the stored order.
    sort: Option<LexOrdering>,
    /// What stops the scan early; set per query by [`with_interrupt`].
    interrupt: Interrupt,
    properties: Arc<PlanProperties>,
}

impl NqlScanExec {
    fn new(
        table: Arc<ObjectTable>,
        projection: Vec<usize>,
        filter: Option<Expr>,
        fetch: Option<usize>,
    ) -> Result<NqlScanExec> {
        let schema = Arc::new(table.schema.project(&projection)?);
        let ordering = stored_ordering(&table.schema, &schema);
        Ok(NqlScanExec {
            table,
            projection,
            filter,
            fetch,
            sort: None,
            interrupt: Interrupt::default(),
            properties: Arc::new(scan_properties(schema, ordering)),
        })
    }

    /// This scan returning its first `fetch` rows in the order `sort` (over its output).
    fn sorted(&self, sort: LexOrdering, fetch: usize) -> NqlScanExec {
        let ordering: Vec<Vec<PhysicalSortExpr>> = vec![sort.iter().cloned().collect()];
        NqlScanExec {
            fetch: Some(fetch),
            properties: Arc::new(scan_properties(self.schema(), ordering)),
            sort: Some(sort),
            ..self.clone()
        }
    }

    /// The columns the scan reads: the projection, then those only the filter reads.
    fn read_columns(&self) -> Result<Vec<usize>> {
        let mut columns = self.projection.clone();
        if let Some(filter) = &self.filter {
            for c in filter.column_refs() {
                let i = self.table.schema.index_of(&c.name)?;
                if !columns.contains(&i) {
                    columns.push(i);
                }
            }
        }
        Ok(columns)
    }

    /// Runs the scan on this thread: one batch of the matching rows.
    fn run(&self) -> Result<RecordBatch> {
        self.interrupt.check()?;
        let columns = self.read_columns()?;
        self.table.count_scan()?;
        let (batch, sorted) = self.table.batch(&columns)?;
        self.interrupt.check()?;
        // The rows in the default order: kept where the filter holds, in the table's rows if
        // they are in that order, else along the permutation.
        let order = self.table.order()?;
        let limit = self.fetch.unwrap_or(usize::MAX);
        let rows = match &self.filter {
            Some(filter) => {
                let mut dictionary_columns: Vec<usize> = filter
                    .column_refs()
                    .iter()
                    .filter_map(|c| self.table.schema.index_of(&c.name).ok())
                    .collect();
                dictionary_columns.sort_unstable();
                dictionary_columns.dedup();
                let dictionaries = self.table.dictionaries(&dictionary_columns, sorted)?;
                let mask = kernels::filter_mask(&batch, &dictionaries, filter, &self.interrupt)?;
                if self.sort.is_some() {
                    // Any order: the sort below decides.
                    set_rows(mask.values(), usize::MAX)
                } else if sorted {
                    set_rows(mask.values(), limit)
                } else {
                    select(order.values(), mask.values(), limit)
                }
            }
            None if sorted || self.sort.is_some() => {
                let limit = if self.sort.is_some() { usize::MAX } else { limit };
                UInt32Array::from_iter_values(0..limit.min(self.table.rows) as u32)
            }
            None => order.slice(0, limit.min(order.len())),
        };
        self.interrupt.check()?;
        let rows = match &self.sort {
            Some(sort) => top_rows(&batch, &rows, sort, limit)?,
            None => rows,
        };
        let arrays = batch.columns()[..self.projection.len()]
            .iter()
            .map(|a| take(a.as_ref(), &rows, None))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new_with_options(
            self.schema(),
            arrays,
            &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(rows.len())),
        )?)
    }

    /// Whether the scan is worth a thread of the blocking pool rather than the caller's:
    /// a table of some size whose columns must first be read, or a costly filter.
    fn is_costly(&self) -> bool {
        let rows = self.table.rows;
        let regex = self.filter.as_ref().is_some_and(|f| {
            f.exists(|e| {
                Ok(match e {
                    Expr::BinaryExpr(b) => matches!(
                        b.op,
                        Operator::RegexMatch
                            | Operator::RegexNotMatch
                            | Operator::RegexIMatch
                            | Operator::RegexNotIMatch
                    ),
                    Expr::ScalarFunction(f) => f.name().starts_with("regexp"),
                    _ => false,
                })
            })
            .unwrap_or(true)
        });
        let clauses = self.filter.as_ref().map_or(0, |f| f.column_refs().len());
        (regex && rows >= 1024) || rows.saturating_mul(clauses.max(1)) >= 1 << 22
    }
}

/// The first `limit` of `rows` in the order `sort`, whose expressions are columns of
/// `batch` (the scan's output columns come first in it). Only the sort keys of `rows` are
/// gathered and compared; the rest of the output is taken for the rows kept.
fn top_rows(
    batch: &RecordBatch,
    rows: &UInt32Array,
    sort: &LexOrdering,
    limit: usize,
) -> Result<UInt32Array> {
    let columns = sort
        .iter()
        .map(|e| {
            let column = e.expr.downcast_ref::<Column>().ok_or_else(|| {
                DataFusionError::Internal(format!("a scan sorts by columns, not {}", e.expr))
            })?;
            Ok(SortColumn {
                values: take(batch.column(column.index()).as_ref(), rows, None)?,
                options: Some(e.options),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let places = lexsort_to_indices(&columns, Some(limit.min(rows.len())))?;
    Ok(take(rows, &places, None)?
        .as_any()
        .downcast_ref::<UInt32Array>()
        .expect("take of u32 gives u32")
        .clone())
}

/// The properties of a scan whose output of `schema` comes in `ordering`.
fn scan_properties(schema: SchemaRef, ordering: Vec<Vec<PhysicalSortExpr>>) -> PlanProperties {
    PlanProperties::new(
        EquivalenceProperties::new_with_orderings(schema, ordering),
        Partitioning::UnknownPartitioning(1),
        EmissionType::Incremental,
        Boundedness::Bounded,
    )
    .with_scheduling_type(SchedulingType::Cooperative)
}

/// A physical optimizer rule: a top-k (a sort with a limit) right over a scan becomes part of
/// the scan, which compares only the sort keys of the rows its filter keeps (DataFusion's
/// top-k converts every row of its input, `sys/id` included, into its row format first: at
/// 100,000 rows that was a third of a one-shot sorted query).
#[derive(Debug, Default)]
pub(crate) struct TopKIntoScan;

impl datafusion::physical_optimizer::PhysicalOptimizerRule for TopKIntoScan {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &datafusion::config::ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| {
            let Some(sort) = node.downcast_ref::<SortExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some(scan) = sort.input().downcast_ref::<NqlScanExec>() else {
                return Ok(Transformed::no(node));
            };
            let by_columns = sort.expr().iter().all(|e| e.expr.is::<Column>());
            match sort.fetch() {
                Some(k) if k > 0 && by_columns && scan.fetch.is_none() && scan.sort.is_none() => Ok(
                    Transformed::yes(Arc::new(scan.sorted(sort.expr().clone(), k)) as Arc<dyn ExecutionPlan>),
                ),
                _ => Ok(Transformed::no(node)),
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "top_k_into_scan"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The rows where `mask` is set, in order, at most `limit` of them (counted first, so that
/// the rows are written into one allocation of the right size).
fn set_rows(mask: &datafusion::arrow::buffer::BooleanBuffer, limit: usize) -> UInt32Array {
    let n = mask.count_set_bits().min(limit);
    let mut rows = Vec::with_capacity(n);
    let chunks = mask.inner().bit_chunks(mask.offset(), mask.len());
    let words = chunks.iter().chain(std::iter::once(chunks.remainder_bits()));
    for (w, mut word) in words.enumerate() {
        while word != 0 && rows.len() < n {
            rows.push((w * 64) as u32 + word.trailing_zeros());
            word &= word - 1;
        }
    }
    UInt32Array::from(rows)
}

/// The rows of `order` where `mask` is set, in the order of `order`, at most `limit` of them.
/// Branch-free: each row is written, and the end advances only past those kept (a filter
/// with a branch per row mispredicts on every other row of a mask like "half of them").
fn select(order: &[u32], mask: &datafusion::arrow::buffer::BooleanBuffer, limit: usize) -> UInt32Array {
    let mut kept = vec![0u32; order.len().min(limit.saturating_add(1))];
    let mut n = 0;
    for &row in order {
        if n == limit {
            break;
        }
        kept[n] = row;
        n += usize::from(mask.value(row as usize));
    }
    kept.truncate(n);
    UInt32Array::from(kept)
}

/// The stored order of a table of `table_schema` as the ordering of the scan's output of
/// `schema`: as much of it as the output has columns for, from the first.
fn stored_ordering(table_schema: &Schema, schema: &SchemaRef) -> Vec<Vec<PhysicalSortExpr>> {
    let mut ordering = Vec::new();
    for sort in default_order(table_schema) {
        let Expr::Column(c) = &sort.expr else { break };
        let Ok(index) = schema.index_of(&c.name) else {
            break;
        };
        ordering.push(PhysicalSortExpr::new(
            Arc::new(Column::new(&c.name, index)) as Arc<dyn PhysicalExpr>,
            SortOptions {
                descending: !sort.asc,
                nulls_first: sort.nulls_first,
            },
        ));
    }
    if ordering.is_empty() {
        vec![]
    } else {
        vec![ordering]
    }
}

/// `plan` with `interrupt` given to every scan in it: the scans check it between the
/// clauses of their filters and every few thousand rows of a costly clause.
pub(crate) fn with_interrupt(
    plan: Arc<dyn ExecutionPlan>,
    interrupt: &Interrupt,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        Ok(match node.downcast_ref::<NqlScanExec>() {
            Some(scan) => {
                let mut scan = scan.clone();
                scan.interrupt = interrupt.clone();
                Transformed::yes(Arc::new(scan) as Arc<dyn ExecutionPlan>)
            }
            None => Transformed::no(node),
        })
    })
    .map(|t| t.data)
}

impl DisplayAs for NqlScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                let names: Vec<&str> = self
                    .projection
                    .iter()
                    .map(|&i| self.table.schema.field(i).name().as_str())
                    .collect();
                write!(
                    f,
                    "NqlScanExec: table={}, rows={}, projection=[{}]",
                    self.table.kind.table_name(),
                    self.table.rows,
                    names.join(", ")
                )?;
                if let Some(filter) = &self.filter {
                    write!(f, ", filter={filter}")?;
                }
                if let Some(sort) = &self.sort {
                    write!(f, ", sort=[{sort}]")?;
                }
                if let Some(fetch) = self.fetch {
                    write!(f, ", fetch={fetch}")?;
                }
                Ok(())
            }
            DisplayFormatType::TreeRender => write!(f, "table={}", self.table.kind.table_name()),
        }
    }
}

impl ExecutionPlan for NqlScanExec {
    fn name(&self) -> &'static str {
        "NqlScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        // The filter is a logical expression evaluated by the kernels, not a physical one.
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn with_fetch(&self, limit: Option<usize>) -> Option<Arc<dyn ExecutionPlan>> {
        if self.sort.is_some() && limit.is_none() {
            return None;
        }
        let mut scan = self.clone();
        scan.fetch = limit;
        Some(Arc::new(scan))
    }

    fn fetch(&self) -> Option<usize> {
        self.fetch
    }

    fn execute(&self, partition: usize, _context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "NqlScanExec has one partition, not {}",
                partition + 1
            )));
        }
        let scan = self.clone();
        let costly = self.is_costly() && tokio::runtime::Handle::try_current().is_ok();
        let batch = async move {
            if !costly {
                return scan.run();
            }
            match tokio::task::spawn_blocking(move || scan.run()).await {
                Ok(result) => result,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => Err(DataFusionError::External(Box::new(e))),
            }
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            futures::stream::once(batch),
        )))
    }
}

/// The raw points of a series table, from its Parquet files: a DataFusion `ListingTable`
/// made when the table is first used (reading the first file's footer for the schema), so
/// that opening a project reads none of its series files.
#[derive(Debug)]
pub(crate) struct RawSeriesTable {
    files: Vec<std::path::PathBuf>,
    listing: std::sync::OnceLock<std::result::Result<Arc<dyn TableProvider>, String>>,
}

impl RawSeriesTable {
    pub fn new(files: Vec<std::path::PathBuf>) -> RawSeriesTable {
        RawSeriesTable {
            files,
            listing: std::sync::OnceLock::new(),
        }
    }

    fn listing(&self) -> Result<&Arc<dyn TableProvider>> {
        use datafusion::datasource::file_format::parquet::ParquetFormat;
        use datafusion::datasource::listing::{
            ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
        };
        let made = self.listing.get_or_init(|| {
            let schema = raw_series_schema(&self.files).map_err(|e| e.to_string())?;
            let urls = self
                .files
                .iter()
                .map(|f| {
                    let absolute = std::path::absolute(f).unwrap_or_else(|_| f.clone());
                    ListingTableUrl::parse(absolute.to_string_lossy())
                })
                .collect::<Result<Vec<_>>>()
                .map_err(|e| e.to_string())?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension("");
            let config = ListingTableConfig::new_with_multi_paths(urls)
                .with_listing_options(options)
                .with_schema(schema);
            let table = ListingTable::try_new(config).map_err(|e| e.to_string())?;
            Ok(Arc::new(table) as Arc<dyn TableProvider>)
        });
        made.as_ref().map_err(|e| DataFusionError::Execution(e.clone()))
    }
}

/// The schema of a series table over `files`: every column any file has (a file without one
/// reads nulls there), in the order first met; `step` as Float64 and `timestamp` in UTC
/// whatever the files hold (ints are accepted as steps, a timestamp without a time zone is
/// UTC: docs/dataset.md), a numeric `value` as Float64. (Taking the first file's schema alone
/// dropped the timestamps of every file when the first had none, and read float steps of
/// later files as the first file's ints.)
fn raw_series_schema(
    files: &[std::path::PathBuf],
) -> std::result::Result<SchemaRef, crate::error::LoadError> {
    use datafusion::arrow::datatypes::{DataType, Field};
    use datasets::layout::{STEP_COLUMN, TIMESTAMP_COLUMN, VALUE_COLUMN};
    let mut fields: Vec<Field> = Vec::new();
    for file in files {
        let metadata = crate::load::guarded(file, || crate::load::series_metadata(file))?;
        for f in metadata.schema().fields() {
            if fields.iter().any(|g| g.name() == f.name()) {
                continue;
            }
            let ty = match (f.name().as_str(), f.data_type()) {
                (STEP_COLUMN, _) => DataType::Float64,
                (TIMESTAMP_COLUMN, DataType::Timestamp(unit, _)) => {
                    DataType::Timestamp(*unit, Some("UTC".into()))
                }
                (VALUE_COLUMN, t) if t.is_numeric() => DataType::Float64,
                (_, t) => t.clone(),
            };
            fields.push(Field::new(f.name(), ty, true));
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

#[async_trait]
impl TableProvider for RawSeriesTable {
    fn schema(&self) -> SchemaRef {
        match self.listing() {
            Ok(t) => t.schema(),
            Err(_) => Arc::new(Schema::empty()),
        }
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        self.listing()?.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.listing()?.scan(state, projection, filters, limit).await
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::buffer::BooleanBuffer;

    use super::set_rows;

    #[test]
    fn set_rows_are_the_set_bits_in_order_up_to_the_limit() {
        let bits: Vec<bool> = (0..300).map(|i| i % 3 == 0 || i % 64 == 63).collect();
        let whole = BooleanBuffer::from(bits.clone());
        for offset in [0, 1, 63, 70] {
            let mask = whole.slice(offset, bits.len() - offset);
            let want: Vec<u32> = (0..mask.len())
                .filter(|&i| bits[offset + i])
                .map(|i| i as u32)
                .collect();
            for limit in [0, 1, 50, usize::MAX] {
                let got = set_rows(&mask, limit);
                let expected = &want[..want.len().min(limit)];
                assert_eq!(got.values().as_ref(), expected, "offset {offset}, limit {limit}");
            }
        }
    }
}
