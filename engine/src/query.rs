//! Answering a query: the options of Neptune's `fetch_*_table` calls, turned into a
//! DataFusion plan around the lowered NQL filter (trash filter, sort with ties broken by
//! `sys/id`, top-k limit, projection with result names).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::TableReference;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, SortExpr, TableSource, ident, lit};
use datasets::layout::ObjectKind;
use nql::{Aggregate, AttrType, CheckedQuery, Diagnostic};
use regex::Regex;

use crate::cancel::CancelToken;
use crate::error::QueryError;
use crate::table::{ObjectTable, OutputColumn, id_column, summary_column};

/// Which objects to include with respect to the trash (spec 4.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Trashed {
    /// Leave trashed objects out (the default).
    #[default]
    Exclude,
    /// Only trashed objects.
    Only,
    /// Trashed or not.
    All,
}

impl std::str::FromStr for Trashed {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "exclude" => Ok(Trashed::Exclude),
            "only" => Ok(Trashed::Only),
            "all" => Ok(Trashed::All),
            other => Err(format!("`{other}` is not one of exclude, only, all")),
        }
    }
}

/// The options of a fetch call (Neptune's `fetch_runs_table` and friends).
#[derive(Clone, Debug, Default)]
pub struct FetchOptions {
    /// Columns to return after `sys/id`: paths, `path:type`, or `agg(path)` for a float
    /// series summary. `None`: every attribute (series show their last value).
    pub columns: Option<Vec<String>>,
    /// The column to sort by; `None` is `sys/creation_time` (or only `sys/id` when the table
    /// has no creation time).
    pub sort_by: Option<String>,
    /// Sort ascending instead of descending.
    pub ascending: bool,
    /// Return at most this many objects (computed as a top-k, not a full sort).
    pub limit: Option<usize>,
    pub trashed: Trashed,
    /// The instant relative datetimes are read against; `None`: the clock.
    pub now: Option<DateTime<Utc>>,
    /// Stop the query with [`QueryError::Cancelled`] once this token is cancelled.
    pub cancel: Option<CancelToken>,
    /// Stop the query with [`QueryError::TimedOut`] once it has run this long (counted from
    /// the call; parsing a query is not interrupted, evaluating it is).
    pub timeout: Option<Duration>,
}

/// What a fetch returns: the matching objects as Arrow batches (`sys/id` first), and the
/// warnings analysis produced about the query.
#[derive(Clone, Debug)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub warnings: Vec<Diagnostic>,
}

impl QueryResult {
    /// How many objects matched (after the limit).
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    /// The `sys/id` of every row, in result order.
    pub fn ids(&self) -> Vec<String> {
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::compute::cast;
        use datafusion::arrow::datatypes::DataType;
        let mut out = Vec::with_capacity(self.num_rows());
        for b in &self.batches {
            let ids = cast(b.column(0), &DataType::Utf8).expect("sys/id is a string column");
            out.extend(
                ids.as_string::<i32>()
                    .iter()
                    .map(|s| s.unwrap_or_default().to_string()),
            );
        }
        out
    }
}

/// The default sort key (spec 5).
pub const DEFAULT_SORT: &str = "sys/creation_time";

/// What a fetch asks of a table, resolved against it: the filter (the lowered query, the trash
/// and model conditions), the order, the limit and the result columns. It becomes a
/// DataFusion logical plan ([`Request::plan`]).
#[derive(Clone, Debug)]
pub(crate) struct Request {
    /// `None` when every object is wanted.
    pub filter: Option<Expr>,
    pub sort: Vec<SortExpr>,
    /// True when `sort` is the default order, the order a scan returns rows in.
    pub stored_order: bool,
    pub limit: Option<usize>,
    /// (result name, internal column), `sys/id` first.
    pub columns: Vec<(String, String)>,
}

impl Request {
    /// Resolves a checked query and the fetch options against `table`.
    pub fn new(
        table: &ObjectTable,
        checked: &CheckedQuery,
        options: &FetchOptions,
        model: Option<&str>,
    ) -> Result<Request, QueryError> {
        let lowering = |e: nql::lower::LowerError| {
            QueryError::Execution(datafusion::error::DataFusionError::Plan(e.to_string()))
        };
        let mut filters = Vec::new();
        if checked.predicate.is_some() {
            filters.push(nql::lower::filter_expr(checked, &table.catalog).map_err(lowering)?);
        }
        let trashed = table.catalog_column("sys/trashed", AttrType::Bool);
        match (options.trashed, trashed) {
            (Trashed::All, _) | (Trashed::Exclude, None) => {}
            (Trashed::Exclude, Some(c)) => filters.push(!nql::lower::present(ident(&c), ident(&c))),
            (Trashed::Only, Some(c)) => filters.push(nql::lower::present(ident(&c), ident(&c))),
            (Trashed::Only, None) => filters.push(lit(false)),
        }
        if let Some(model) = model {
            match table.catalog_column("sys/model_id", AttrType::String) {
                Some(c) => filters
                    .push(ident(c).eq(lit(datafusion::common::ScalarValue::Utf8View(Some(model.into()))))),
                None => filters.push(lit(false)),
            }
        }
        let sort = sort_exprs(table, options)?;
        Ok(Request {
            filter: datafusion::logical_expr::utils::conjunction(filters),
            stored_order: sort == crate::table::default_order(&table.schema),
            sort,
            limit: options.limit,
            columns: projection(table, options)?,
        })
    }

    /// The request as a DataFusion logical plan over `source` (the table's provider): a scan
    /// of the columns the result and the sort need, with the filter in it (the scan
    /// evaluates it), a sort (with the limit, as a top-k) unless the order is the default
    /// one, in which the scan returns its rows, and the projection naming the result
    /// columns. The plan is built in the shape DataFusion's optimizer would give it, so the
    /// engine runs none of the logical optimizer's rules (see [`crate::Engine`]).
    pub fn plan(&self, table: &ObjectTable, source: Arc<dyn TableSource>) -> Result<LogicalPlan, QueryError> {
        let mut scanned: Vec<usize> = Vec::new();
        let columns = self.columns.iter().map(|(_, c)| c.as_str());
        let sorted = self
            .sort
            .iter()
            .filter(|_| !self.stored_order)
            .filter_map(|s| match &s.expr {
                Expr::Column(c) => Some(c.name.as_str()),
                _ => None,
            });
        for name in columns.chain(sorted) {
            let index = table
                .schema
                .index_of(name)
                .map_err(datafusion::error::DataFusionError::from)?;
            if !scanned.contains(&index) {
                scanned.push(index);
            }
        }
        let mut builder = LogicalPlanBuilder::scan_with_filters(
            TableReference::bare(table.kind.table_name()),
            source,
            Some(scanned),
            self.filter.iter().cloned().collect(),
        )?;
        builder = match (self.limit, self.stored_order) {
            // DataFusion's top-k refuses k = 0 (it asserts): no rows is a limit, unsorted.
            (Some(0), _) => builder.limit(0, Some(0))?,
            (Some(limit), true) => builder.limit(0, Some(limit))?,
            (None, true) => builder,
            (Some(limit), false) => builder.sort_with_limit(self.sort.clone(), Some(limit))?,
            (None, false) => builder.sort(self.sort.clone())?,
        };
        let projection = self
            .columns
            .iter()
            .map(|(name, column)| ident(column).alias(name));
        Ok(builder.project(projection)?.build()?)
    }
}

impl Request {
    /// The request as a plan any DataFusion session can run over `source`, a table with the
    /// columns of the request's table under the name `table` (the summary files of a
    /// bucketed project, on a cluster): a scan, the filter as a `Filter` above it, always an
    /// explicit sort (a distributed plan returns rows in no order) with the limit, and the
    /// projection naming the result columns. Left for the session's optimizer to push
    /// down.
    pub fn portable_plan(
        &self,
        table: &str,
        source: Arc<dyn TableSource>,
    ) -> Result<LogicalPlan, QueryError> {
        let mut builder = LogicalPlanBuilder::scan(TableReference::bare(table), source, None)?;
        if let Some(filter) = &self.filter {
            builder = builder.filter(filter.clone())?;
        }
        builder = match self.limit {
            // DataFusion's top-k refuses k = 0 (it asserts): no rows is a limit, unsorted.
            Some(0) => builder.limit(0, Some(0))?,
            limit => builder.sort_with_limit(self.sort.clone(), limit)?,
        };
        let projection = self
            .columns
            .iter()
            .map(|(name, column)| ident(column).alias(name));
        Ok(builder.project(projection)?.build()?)
    }
}

/// The sort key (missing values last), then `sys/id` ascending for a deterministic order.
/// The default is the order the table is stored in.
fn sort_exprs(table: &ObjectTable, options: &FetchOptions) -> Result<Vec<SortExpr>, QueryError> {
    let Some(spec) = &options.sort_by else {
        let mut order = crate::table::default_order(&table.schema);
        if options.ascending && order.len() > 1 {
            order[0] = SortExpr::new(order[0].expr.clone(), true, false);
        }
        return Ok(order);
    };
    let mut found = resolve(table, spec)?;
    if found.len() > 1 {
        let names: Vec<String> = found.iter().map(|c| c.name.clone()).collect();
        return Err(QueryError::BadOption(format!(
            "cannot sort by `{spec}`: it names {} columns ({}); write one of them",
            names.len(),
            names.join(", ")
        )));
    }
    let key = found.pop().expect("resolve returns at least one column");
    if key.column == id_column() {
        return Ok(vec![ident(id_column()).sort(options.ascending, false)]);
    }
    Ok(vec![
        ident(key.column).sort(options.ascending, false),
        ident(id_column()).sort(true, false),
    ])
}

/// `sys/id` first, then the requested columns, as (result name, internal column).
fn projection(table: &ObjectTable, options: &FetchOptions) -> Result<Vec<(String, String)>, QueryError> {
    let mut columns: Vec<OutputColumn> = match &options.columns {
        None => table.outputs.clone(),
        Some(specs) => {
            let mut out = Vec::new();
            for spec in specs {
                for c in resolve(table, spec)? {
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
            }
            out
        }
    };
    columns.retain(|c| c.column != id_column());
    let mut out = vec![("sys/id".to_string(), id_column())];
    out.extend(columns.into_iter().map(|c| (c.name, c.column)));
    Ok(out)
}

/// The columns a column spec names: a result name, `path:type`, `agg(path)`, or a path
/// (all its types).
pub(crate) fn resolve(table: &ObjectTable, spec: &str) -> Result<Vec<OutputColumn>, QueryError> {
    static AGGREGATE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)^(average|last|max|min|variance)\((.+)\)$").expect("valid regex"));
    if let Some(c) = table.outputs.iter().find(|c| c.name == spec) {
        return Ok(vec![c.clone()]);
    }
    if let Some(caps) = AGGREGATE.captures(spec) {
        let aggregate = Aggregate::from_name(&caps[1]).expect("the regex only admits aggregates");
        let path = caps[2].trim_matches('`');
        let path = path.strip_suffix(":floatSeries").unwrap_or(path);
        if table.catalog_column(path, AttrType::FloatSeries).is_some() {
            return Ok(vec![OutputColumn {
                name: format!("{aggregate}({path})"),
                path: path.to_string(),
                ty: AttrType::FloatSeries,
                column: summary_column(aggregate, path, AttrType::FloatSeries),
            }]);
        }
    }
    let (path, ty) = datasets::layout::split_column_name(spec);
    let found: Vec<OutputColumn> = table
        .outputs
        .iter()
        .filter(|c| c.path == path && ty.is_none_or(|t| t == c.ty))
        .cloned()
        .collect();
    if !found.is_empty() {
        return Ok(found);
    }
    let suggestion = table
        .outputs
        .iter()
        .min_by_key(|c| strsim::damerau_levenshtein(spec, &c.name))
        .map(|c| format!("; did you mean `{}`?", c.name))
        .unwrap_or_default();
    Err(QueryError::BadOption(format!(
        "no column `{spec}` in {}{suggestion}",
        table.kind.table_name()
    )))
}

impl ObjectTable {
    /// The internal column of `path:ty`, if the table has it.
    pub(crate) fn catalog_column(&self, path: &str, ty: AttrType) -> Option<String> {
        let aggregate =
            matches!(ty, AttrType::FloatSeries | AttrType::StringSeries).then_some(Aggregate::Last);
        nql::Catalog::column(&self.catalog, path, ty, aggregate).map(|c| c.name)
    }
}

/// The table name for messages.
pub(crate) fn table_label(kind: ObjectKind) -> &'static str {
    kind.table_name()
}
