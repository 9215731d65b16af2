//! The NQL engine: loads a Neptune project stored as Parquet and answers NQL queries over it
//! through DataFusion.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use engine::{Engine, FetchOptions};
//!
//! let engine = Engine::open("path/to/project")?;
//! let result = engine
//!     .fetch_runs_table("last(`metrics/acc`):float >= 0.85 AND `sys/tags`:stringSet CONTAINS \"best\"", &FetchOptions::default())
//!     .await?;
//! println!("{} runs", result.num_rows());
//! # Ok(()) }
//! ```
//!
//! * [`load`]: reading and validating a project, and the one-pass series summaries.
//! * [`table`]: a loaded table of objects with its NQL catalog.
//! * [`query`]: fetch options, plans around the NQL filter, results.
//! * [`bucketed`]: a project split into buckets by `sys/id` with each bucket's summaries, for
//!   a cluster (docs/cluster.md).
//!
//! An [`Engine`] is `Send + Sync`: load once, then run many queries at once. A query can be
//! cancelled ([`CancelToken`]) or given a timeout ([`FetchOptions::timeout`]).

pub mod bucketed;
pub mod cancel;
mod convert;
mod dictionary;
pub mod error;
mod index;
mod kernels;
pub mod load;
pub mod query;
mod scan;
pub mod series;
mod source;
pub mod table;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionContext;
use datafusion::physical_plan::displayable;
use datafusion::prelude::SessionConfig;
use datasets::ProjectBatches;
use datasets::layout::{ObjectKind, SeriesKind};
use nql::{AttributeInfo, CheckedQuery};

pub use cancel::CancelToken;
pub use convert::ConvertReport;
pub use error::{LoadError, QueryError};
pub use index::IndexReport;
pub use load::{IndexLocation, LoadOptions, LoadProgress, ProgressFn, Refresh, WarnFn};
pub use query::{FetchOptions, QueryResult, Trashed};
pub use series::{Curve, SeriesRequest, series_schema};
pub use source::SourceOptions;
pub use table::OutputColumn;

use load::{LoadedProject, RawSeries};
use table::ObjectTable;

/// A loaded project, ready for queries.
pub struct Engine {
    tables: Vec<Arc<ObjectTable>>,
    /// The DataFusion table of each of `tables`, for plans.
    sources: Vec<Arc<dyn TableSource>>,
    ctx: SessionContext,
    /// What the project is, as opening found it.
    kind: String,
    /// A foreign source's way to its raw points (a native project's are in `ctx`).
    foreign: Option<Arc<series::ForeignSeries>>,
    /// A native project's raw points by kind (its series files, or batches in memory), read
    /// directly by [`Engine::series`].
    raw_series: Vec<(SeriesKind, Arc<RawSeries>)>,
    /// Each of `tables`' ids with their stored rows, once a series fetch needed them.
    id_rows: Vec<OnceLock<Arc<HashMap<String, u32>>>>,
    /// Opened straight from the files, without an index ([`Refresh::Deferred`]).
    index_deferred: bool,
    /// Why the last build of the index failed, when opened from the files and the files
    /// have not changed since.
    last_index_failure: Option<String>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("tables", &self.tables)
            .finish_non_exhaustive()
    }
}

/// What `explain` shows: the checked query and DataFusion's plans.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The query as analysis understood it, every type resolved and negation explicit.
    pub checked: String,
    pub logical: String,
    pub optimized: String,
    pub physical: String,
    pub warnings: Vec<nql::Diagnostic>,
}

impl Engine {
    /// Loads the project in `dir` (see docs/dataset.md).
    pub fn open(dir: impl AsRef<Path>) -> Result<Engine, LoadError> {
        Engine::open_with(dir, &LoadOptions::default())
    }

    /// Opens the project in `dir` with options (progress reports, memory limit, threads,
    /// where its index lives). Through an index (the default), opening reads the index's
    /// manifest and the object files' footers, after building or refreshing the index if
    /// the project's files changed; queries then read the columns they need. Without one
    /// ([`IndexLocation::None`]), every column is read and every series summarized now (a
    /// foreign source, a Neptune export or an MLflow store, into a temporary directory
    /// removed once it is open).
    ///
    /// With [`Refresh::Deferred`], a native project without an index (or opened with none,
    /// [`IndexLocation::None`]) is opened straight from its files instead: queries read the
    /// columns and summarize the series they name, and nothing is written.
    pub fn open_with(dir: impl AsRef<Path>, options: &LoadOptions) -> Result<Engine, LoadError> {
        let (project, deferred, last_failure) = match (options.index.clone(), options.refresh) {
            // A foreign source (no native layout here) is summarized through an index that
            // lives only while it opens.
            (IndexLocation::None, Refresh::First) => match load::load_dir(dir.as_ref(), options) {
                Err(LoadError::MissingRuns { .. }) => (index::open(dir.as_ref(), options)?.0, false, None),
                loaded => (loaded?, false, None),
            },
            (index, _) => match index::open_or_defer(dir.as_ref(), options)? {
                (project, index::Opening::Indexed) => (project, false, None),
                (project, index::Opening::Deferred { last_failure }) => {
                    (project, index != IndexLocation::None, last_failure)
                }
            },
        };
        let mut engine = Engine::new(project, options)?;
        engine.index_deferred = deferred;
        engine.last_index_failure = last_failure;
        options.report("ready", 1, 1);
        Ok(engine)
    }

    /// Writes the foreign source at `path` (a Neptune export, an MLflow store) into the
    /// directory `out` as a project in the native layout (docs/dataset.md). `out` is made
    /// if needed and must hold no project tables yet. The source is only read.
    pub fn convert(
        path: impl AsRef<Path>,
        out: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<ConvertReport, LoadError> {
        convert::convert(path.as_ref(), out.as_ref(), options)
    }

    /// Builds the index of the project in `dir`, or brings it up to date (with `rebuild`,
    /// from nothing), without opening the project for queries.
    pub fn build_index(
        dir: impl AsRef<Path>,
        options: &LoadOptions,
        rebuild: bool,
    ) -> Result<IndexReport, LoadError> {
        let project = index::Project::detect(dir.as_ref(), options)?;
        let report = index::refresh(&project, options, rebuild)?.1;
        options.report("ready", 1, 1);
        Ok(report)
    }

    /// Builds an engine from record batches in memory, laid out as the Parquet files are.
    pub fn from_batches(project: ProjectBatches) -> Result<Engine, LoadError> {
        Engine::from_batches_with(project, &LoadOptions::default())
    }

    /// [`Engine::from_batches`] with options.
    pub fn from_batches_with(project: ProjectBatches, options: &LoadOptions) -> Result<Engine, LoadError> {
        Engine::new(load::load_batches(project, options)?, options)
    }

    fn new(project: LoadedProject, options: &LoadOptions) -> Result<Engine, LoadError> {
        let threads = match options.threads {
            0 => crate::load::cores(),
            n => n,
        };
        // A scan is one partition in stored order: its filter is cheap on one core, while
        // splitting it would need an order-preserving merge of every matching row afterwards.
        let config = SessionConfig::new()
            .with_target_partitions(threads)
            .with_round_robin_repartition(false);
        // Plans come from `query::Request::plan` already in optimized shape (the filter and
        // the projection in the scan), and the scan evaluates the filter as lowering wrote
        // it: the logical optimizer has nothing to do, and its rewrites of huge filters
        // (100,000 clauses) cost time and stack. The analyzer (type checks) and DataFusion's
        // physical planner and optimizer run as usual.
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_optimizer_rules(Vec::new())
            .with_physical_optimizer_rule(Arc::new(scan::TopKIntoScan))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let tables: Vec<Arc<ObjectTable>> = project.tables.into_iter().map(Arc::new).collect();
        let mut sources = Vec::with_capacity(tables.len());
        for t in &tables {
            let provider = Arc::new(scan::NqlTable::new(Arc::clone(t)));
            ctx.register_table(TableReference::bare(t.kind.table_name()), provider.clone())?;
            sources.push(provider_as_source(provider));
        }
        let mut raw_series = Vec::new();
        for (kind, raw) in project.series {
            register_series(&ctx, kind, &raw)?;
            raw_series.push((kind, Arc::new(raw)));
        }
        let id_rows = tables.iter().map(|_| OnceLock::new()).collect();
        Ok(Engine {
            tables,
            sources,
            ctx,
            kind: project.kind,
            foreign: project.foreign.map(Arc::new),
            raw_series,
            id_rows,
            index_deferred: false,
            last_index_failure: None,
        })
    }

    /// Whether the project was opened straight from its files because it has no index yet
    /// ([`Refresh::Deferred`]): `nql index` would build it.
    pub fn index_deferred(&self) -> bool {
        self.index_deferred
    }

    /// When opened from the files ([`Engine::index_deferred`]): why the last build of the
    /// index failed, if it did and none of the project's files has changed since (a build
    /// started now would fail the same way; `nql index` shows it).
    pub fn last_index_failure(&self) -> Option<&str> {
        self.last_index_failure.as_deref()
    }

    /// What the project is: `a project in the native layout (docs/dataset.md)`, `Neptune
    /// 2.x export of acme/vision`, `MLflow SQLite store ...`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The object tables this project has.
    pub fn tables(&self) -> Vec<ObjectKind> {
        self.tables.iter().map(|t| t.kind).collect()
    }

    /// Every attribute of a table with its type and how many objects have it.
    pub fn attributes(&self, kind: ObjectKind) -> Option<Vec<AttributeInfo>> {
        self.table(kind).ok().map(|t| t.attributes())
    }

    /// The columns results of a table have, in order.
    pub fn columns(&self, kind: ObjectKind) -> Option<&[OutputColumn]> {
        self.table(kind).ok().map(|t| t.outputs.as_slice())
    }

    /// Number of objects in a table.
    pub fn num_objects(&self, kind: ObjectKind) -> Option<usize> {
        self.table(kind).ok().map(|t| t.rows)
    }

    /// The NQL catalog of a table: its attributes and the columns that hold them in the
    /// session's table of the same name. With it, [`nql::lower`] builds filters over that
    /// table directly.
    pub fn catalog(&self, kind: ObjectKind) -> Option<&nql::TableCatalog> {
        self.table(kind).ok().map(|t| &t.catalog)
    }

    /// Bytes of Arrow data the tables hold (what queries have read so far).
    pub fn memory_size(&self) -> usize {
        self.tables.iter().map(|t| t.memory()).sum()
    }

    /// The DataFusion session, with the tables `runs`, `models`, `model_versions` (one row per
    /// object, series summarized) and, for a native project, `float_series`, `string_series`
    /// (the raw points, read from its files on demand). A foreign source (a Neptune export,
    /// an MLflow store) has no series tables here: [`Engine::series`] reads its points.
    pub fn session(&self) -> &SessionContext {
        &self.ctx
    }

    fn table(&self, kind: ObjectKind) -> Result<&Arc<ObjectTable>, QueryError> {
        self.tables
            .iter()
            .find(|t| t.kind == kind)
            .ok_or(QueryError::NoSuchTable(query::table_label(kind)))
    }

    /// The DataFusion logical plan of a query on a table.
    fn plan(
        &self,
        kind: ObjectKind,
        query: &str,
        options: &FetchOptions,
        model: Option<&str>,
    ) -> Result<(LogicalPlan, CheckedQuery), QueryError> {
        let table = self.table(kind)?;
        let source = &self.sources[self
            .tables
            .iter()
            .position(|t| t.kind == kind)
            .expect("the table exists")];
        let checked = check(table, query, options)?;
        let plan = query::Request::new(table, &checked, options, model)?.plan(table, Arc::clone(source))?;
        Ok((plan, checked))
    }

    /// Parses and analyzes `query` against a table.
    pub fn check(
        &self,
        kind: ObjectKind,
        query: &str,
        options: &FetchOptions,
    ) -> Result<CheckedQuery, QueryError> {
        check(self.table(kind)?, query, options)
    }

    /// Runs `query` on a table. `model` restricts model versions to one model's.
    ///
    /// DataFusion plans the query (what [`Engine::explain`] shows) and runs that plan. Stops
    /// with [`QueryError::Cancelled`] once `options.cancel` is cancelled, and with
    /// [`QueryError::TimedOut`] once `options.timeout` has passed; dropping the returned
    /// future stops it too. Costly scans run on tokio's blocking pool, so that the caller's
    /// worker thread stays free.
    pub async fn fetch(
        &self,
        kind: ObjectKind,
        query: &str,
        options: &FetchOptions,
        model: Option<&str>,
    ) -> Result<QueryResult, QueryError> {
        let dropped = CancelToken::new();
        let _stop_when_dropped = cancel::CancelOnDrop(dropped.clone());
        let interrupt = Interrupt::new(options.cancel.as_ref(), options.timeout).with(dropped);
        let (plan, checked) = self.plan(kind, query, options, model)?;
        interrupt.check().map_err(query_error)?;
        let state = self.ctx.state();
        let physical = state.create_physical_plan(&plan).await.map_err(query_error)?;
        let physical = scan::with_interrupt(physical, &interrupt).map_err(query_error)?;
        let schema = physical.schema();
        let work = datafusion::physical_plan::collect(physical, state.task_ctx());
        // The scans check the interrupt themselves; this stops the wait for work that is
        // not in a scan.
        let batches = tokio::select! {
            batches = work => batches.map_err(query_error)?,
            stop = cancel::stopped(options.cancel.as_ref(), options.timeout) => return Err(stop),
        };
        Ok(QueryResult {
            schema,
            batches,
            warnings: checked.warnings,
        })
    }

    /// Neptune's `fetch_runs_table`.
    pub async fn fetch_runs_table(
        &self,
        query: &str,
        options: &FetchOptions,
    ) -> Result<QueryResult, QueryError> {
        self.fetch(ObjectKind::Runs, query, options, None).await
    }

    /// Neptune's `fetch_models_table`.
    pub async fn fetch_models_table(
        &self,
        query: &str,
        options: &FetchOptions,
    ) -> Result<QueryResult, QueryError> {
        self.fetch(ObjectKind::Models, query, options, None).await
    }

    /// Neptune's `fetch_model_versions_table`, optionally restricted to one model's versions.
    pub async fn fetch_model_versions_table(
        &self,
        model: Option<&str>,
        query: &str,
        options: &FetchOptions,
    ) -> Result<QueryResult, QueryError> {
        self.fetch(ObjectKind::ModelVersions, query, options, model).await
    }

    /// The raw points of some objects' series: one row per point, in the columns of
    /// [`series_schema`] (`sys/id`, `path`, `step`, `timestamp`, `value`), sorted by
    /// `sys/id`, path, step, timestamp (missing first) and value, so that each series' last
    /// row is the point its `last` summary is; with `tail`, each series cut to its last
    /// points. The result has no batch when no point matches.
    ///
    /// A native project's points are read from its series files, skipping the row groups and
    /// pages whose statistics exclude the request. A foreign source's are read again from the
    /// units holding the requested objects (an export's run files, a store), as the index
    /// build read them. Stops on `request.cancel` and `request.timeout` as [`Engine::fetch`]
    /// does.
    ///
    /// ```no_run
    /// # async fn demo(engine: &engine::Engine) -> Result<(), engine::QueryError> {
    /// use datasets::layout::{ObjectKind, SeriesKind};
    /// use engine::SeriesRequest;
    ///
    /// let mut request = SeriesRequest::new(ObjectKind::Runs, SeriesKind::Float);
    /// request.ids = Some(vec!["NQ-1".into()]);
    /// request.paths = Some(vec!["metrics/acc".into()]);
    /// request.tail = Some(100);
    /// let points = engine.series(&request).await?;
    /// # let _ = points; Ok(()) }
    /// ```
    pub async fn series(&self, request: &SeriesRequest) -> Result<QueryResult, QueryError> {
        let kind = request.kind;
        let tail = request.tail;
        let batches = self
            .read_series(request, move |batches, wanted| {
                series::finish(&batches, kind, wanted, tail)
            })
            .await?;
        Ok(QueryResult {
            schema: series_schema(request.kind),
            batches,
            warnings: Vec::new(),
        })
    }

    /// The float series of [`Engine::series`] downsampled for drawing, at most `width`
    /// points each: a series of more points has its steps cut into `width / 2` equal ranges,
    /// of which each keeps its lowest and its highest point, so that the shape and every
    /// extreme survive. Points whose step or value is NaN or infinite are left out (a chart
    /// cannot draw them). The curves come in the order of [`Engine::series`]; a series
    /// without finite points has none.
    pub async fn curves(&self, request: &SeriesRequest, width: usize) -> Result<Vec<Curve>, QueryError> {
        if request.kind != SeriesKind::Float {
            return Err(QueryError::BadOption(
                "only float series are drawn as curves".into(),
            ));
        }
        let tail = request.tail;
        let width = width.max(2);
        let curves = self
            .read_series(request, move |batches, wanted| {
                series::curves(&batches, wanted, tail, width)
            })
            .await?;
        Ok(curves.into_iter().filter(|c| c.points > 0).collect())
    }

    /// Reads the points of `request` and hands them, unordered, to `finish` (off the async
    /// threads); stops on the request's cancel token and timeout.
    async fn read_series<T: Send + 'static>(
        &self,
        request: &SeriesRequest,
        finish: impl FnOnce(
            Vec<datafusion::arrow::array::RecordBatch>,
            &series::Wanted,
        ) -> Result<T, DataFusionError>
        + Send
        + 'static,
    ) -> Result<T, QueryError> {
        let position = self
            .tables
            .iter()
            .position(|t| t.kind == request.table)
            .ok_or(QueryError::NoSuchTable(query::table_label(request.table)))?;
        let dropped = CancelToken::new();
        let _stop_when_dropped = cancel::CancelOnDrop(dropped.clone());
        let interrupt = Interrupt::new(request.cancel.as_ref(), request.timeout).with(dropped);
        let members = self.id_rows(position)?;
        interrupt.check().map_err(query_error)?;
        let wanted = Arc::new(series::Wanted::new(request, Arc::clone(&members)));
        let raw = self
            .raw_series
            .iter()
            .find(|(kind, _)| *kind == request.kind)
            .map(|(_, raw)| Arc::clone(raw));
        let (foreign, request_owned) = (self.foreign.clone(), request.clone());
        // Reading and ordering both run on the blocking pool.
        let work = tokio::task::spawn_blocking(move || {
            let stop = || interrupt.check().map_err(query_error);
            let batches = match (foreign, raw.as_deref()) {
                (Some(foreign), _) => foreign.points(&request_owned, &members, &stop)?,
                (None, Some(RawSeries::Files(files))) => series::file_points(files, &wanted, &stop)?,
                (None, Some(RawSeries::Memory(batches))) => batches.clone(),
                (None, None) => Vec::new(),
            };
            stop()?;
            finish(batches, &wanted).map_err(query_error)
        });
        let work = async {
            work.await
                .map_err(|e| QueryError::Source(format!("reading the points failed: {e}")))?
        };
        tokio::select! {
            done = work => done,
            stop = cancel::stopped(request.cancel.as_ref(), request.timeout) => Err(stop),
        }
    }

    /// The ids of the table at `position` with their stored rows (read once).
    fn id_rows(&self, position: usize) -> Result<Arc<HashMap<String, u32>>, QueryError> {
        if let Some(rows) = self.id_rows[position].get() {
            return Ok(Arc::clone(rows));
        }
        let rows = Arc::new(series::id_rows(&self.tables[position]).map_err(query_error)?);
        Ok(Arc::clone(self.id_rows[position].get_or_init(|| rows)))
    }

    /// The checked query and DataFusion's logical, optimized and physical plans.
    pub async fn explain(
        &self,
        kind: ObjectKind,
        query: &str,
        options: &FetchOptions,
        model: Option<&str>,
    ) -> Result<Explanation, QueryError> {
        let (plan, checked) = self.plan(kind, query, options, model)?;
        let state = self.ctx.state();
        let optimized = state.optimize(&plan)?;
        let physical = state.create_physical_plan(&plan).await?;
        Ok(Explanation {
            checked: checked
                .predicate
                .as_ref()
                .map_or_else(|| "(empty query: every object)".to_string(), |p| p.to_string()),
            logical: plan.display_indent().to_string(),
            optimized: optimized.display_indent().to_string(),
            physical: displayable(physical.as_ref()).indent(true).to_string(),
            warnings: checked.warnings,
        })
    }
}

use datafusion::common::TableReference;
use datafusion::datasource::provider_as_source;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{LogicalPlan, TableSource};

use cancel::{Interrupt, Stop};

/// Parses and analyzes `query` against `table`.
fn check(table: &ObjectTable, query: &str, options: &FetchOptions) -> Result<CheckedQuery, QueryError> {
    let now = options.now.unwrap_or_else(chrono::Utc::now);
    nql::check(query, &table.catalog, now).map_err(|diagnostics| QueryError::Invalid {
        query: query.to_string(),
        diagnostics,
    })
}

/// A query error, or [`QueryError::Cancelled`] / [`QueryError::TimedOut`] for an interrupted
/// evaluation.
fn query_error(e: DataFusionError) -> QueryError {
    match cancel::stop_of(&e) {
        Some(Stop::Cancelled) => QueryError::Cancelled,
        Some(Stop::TimedOut(timeout)) => QueryError::TimedOut { timeout },
        None => QueryError::Execution(e),
    }
}

/// Registers the raw points of a series table: the Parquet files themselves (their schema
/// read when the table is first used, their points on demand), or the batches held in memory.
fn register_series(ctx: &SessionContext, kind: SeriesKind, raw: &RawSeries) -> Result<(), LoadError> {
    use datafusion::datasource::MemTable;
    let name = TableReference::bare(kind.table_name());
    match raw {
        RawSeries::Memory(batches) => {
            let schema = batches[0].schema();
            ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![batches.clone()])?))?;
        }
        RawSeries::Files(files) => {
            ctx.register_table(name, Arc::new(scan::RawSeriesTable::new(files.files().to_vec())))?;
        }
    }
    Ok(())
}
