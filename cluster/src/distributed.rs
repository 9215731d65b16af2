//! A client of a Ballista cluster over one bucketed project: queries are checked and
//! lowered as in one process ([`engine::bucketed::SummaryTable::plan`]), then the plan is
//! sent to the scheduler, which runs it over the summary files on the executors.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ballista::prelude::SessionContextExt;
use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::serde::protobuf::CancelJobParams;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_scheduler::planner::{DefaultDistributedPlanner, DistributedPlanner};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::datasource::provider_as_source;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{LogicalPlan, TableSource};
use datafusion::physical_plan::{ExecutionPlan, displayable};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::protobuf::LogicalPlanNode;
use datasets::layout::ObjectKind;
use engine::bucketed::SummaryTable;
use engine::{FetchOptions, LoadError, OutputColumn, QueryError, QueryResult};
use nql::{AttributeInfo, CheckedQuery, Diagnostic};

use crate::error::ClusterError;
use crate::session_state;

/// A bucketed project opened on a Ballista cluster (see the module docs). `Send + Sync`:
/// queries may run at once.
pub struct Distributed {
    ctx: SessionContext,
    /// The scheduler's gRPC address, `http://host:port`, for cancelling jobs.
    scheduler: String,
    tables: Vec<(SummaryTable, Arc<dyn TableSource>)>,
    /// The id of the last job this client cancelled on the cluster.
    cancelled: std::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for Distributed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distributed")
            .field("scheduler", &self.scheduler)
            .field(
                "tables",
                &self.tables.iter().map(|(t, _)| t.kind()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// What [`Distributed::explain`] shows: the checked query, the plan as lowered, as the
/// client optimizes it, and the stages the scheduler splits it into.
#[derive(Clone, Debug)]
pub struct ClusterExplanation {
    /// The query as analysis understood it.
    pub checked: String,
    pub logical: String,
    pub optimized: String,
    /// Each stage's physical plan, rooted at the shuffle writer the stage ends in; the
    /// last stage's output is what the client fetches.
    pub stages: Vec<String>,
    pub warnings: Vec<Diagnostic>,
}

impl Distributed {
    /// Connects to the scheduler at `url` (`df://HOST:PORT`) and opens the bucketed project
    /// at `data` there: a directory, or the URL of one in an object store (`s3://bucket/
    /// project`, `file:///dir`; [`crate::stores`]). Opening reads the summary files' footers
    /// here; the scheduler and every executor must see the files at the same path (a shared
    /// directory) or URL. `config`
    /// is sent with every job: partitions, adaptive planning and other settings
    /// ([`crate::ballista_config`]).
    pub async fn connect(url: &str, data: &Path, config: SessionConfig) -> Result<Distributed, ClusterError> {
        let scheduler = scheduler_address(url)?;
        reachable(url, &scheduler).await?;
        let ctx = SessionContext::remote_with_state(url, session_state(config)).await?;
        let summaries = match data.to_str().filter(|d| crate::stores::is_url(d)) {
            Some(root) => {
                let problem = |e: DataFusionError| LoadError::Source {
                    path: data.to_path_buf(),
                    problem: e.to_string(),
                };
                let store_url = ListingTableUrl::parse(root).map_err(problem)?;
                let store = ctx
                    .runtime_env()
                    .object_store(store_url.object_store())
                    .map_err(problem)?;
                SummaryTable::open_all_in_store(store, root).await?
            }
            None => SummaryTable::open_all(data)?,
        };
        let mut tables = Vec::new();
        for table in summaries {
            let provider = table.listing_table()?;
            ctx.register_table(TableReference::bare(table.kind().table_name()), provider.clone())?;
            tables.push((table, provider_as_source(provider)));
        }
        Ok(Distributed {
            ctx,
            scheduler,
            tables,
            cancelled: std::sync::Mutex::new(None),
        })
    }

    /// The object tables the project has.
    pub fn tables(&self) -> Vec<ObjectKind> {
        self.tables.iter().map(|(t, _)| t.kind()).collect()
    }

    /// Every attribute of a table with its type and how many objects have it.
    pub fn attributes(&self, kind: ObjectKind) -> Option<Vec<AttributeInfo>> {
        self.table(kind).ok().map(|(t, _)| t.attributes())
    }

    /// Number of objects in a table.
    pub fn num_objects(&self, kind: ObjectKind) -> Option<usize> {
        self.table(kind).ok().map(|(t, _)| t.rows())
    }

    /// The columns results of a table have, in order (as [`engine::Engine::columns`]).
    pub fn columns(&self, kind: ObjectKind) -> Option<&[OutputColumn]> {
        self.table(kind).ok().map(|(t, _)| t.columns())
    }

    /// `query` checked against a table, as [`engine::Engine::check`] checks it: nothing is
    /// sent to the cluster.
    pub fn check(
        &self,
        kind: ObjectKind,
        query: &str,
        options: &FetchOptions,
    ) -> Result<CheckedQuery, QueryError> {
        self.table(kind)?.0.check(query, options)
    }

    /// The id of the last job a stopped [`Distributed::fetch`] cancelled on the cluster (a
    /// timeout or `options.cancel`), for messages and for checking the job's state there.
    pub fn last_cancelled_job(&self) -> Option<String> {
        self.cancelled.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The client's session (Ballista's planner): tables `runs`, `models`, `model_versions`
    /// over the summary files, for anything NQL does not say.
    pub fn session(&self) -> &SessionContext {
        &self.ctx
    }

    fn table(&self, kind: ObjectKind) -> Result<&(SummaryTable, Arc<dyn TableSource>), QueryError> {
        self.tables
            .iter()
            .find(|(t, _)| t.kind() == kind)
            .ok_or(QueryError::NoSuchTable(kind.table_name()))
    }

    fn plan(
        &self,
        kind: ObjectKind,
        query: &str,
        options: &FetchOptions,
        model: Option<&str>,
    ) -> Result<(LogicalPlan, CheckedQuery), QueryError> {
        let (table, source) = self.table(kind)?;
        table.plan(query, options, model, Arc::clone(source))
    }

    /// Runs `query` on a table on the cluster, with the options (columns, sort, limit,
    /// trash) and results of [`engine::Engine::fetch`]: the same objects in the same order.
    /// On `options.cancel` or `options.timeout`, the job is cancelled on the cluster as soon
    /// as the scheduler has accepted it (waiting up to 3 s for that before returning, then up to
    /// 10 s more in the background), and [`Distributed::last_cancelled_job`] names it; when
    /// the returned future is dropped, if the scheduler has accepted it already.
    pub async fn fetch(
        &self,
        kind: ObjectKind,
        query: &str,
        options: &FetchOptions,
        model: Option<&str>,
    ) -> Result<QueryResult, QueryError> {
        let (plan, checked) = self.plan(kind, query, options, model)?;
        let state = self.ctx.state();
        let physical = state.create_physical_plan(&plan).await?;
        let mut job = Job {
            scheduler: self.scheduler.clone(),
            plan: Arc::clone(&physical),
            done: false,
        };
        // The plan's own schema: the client's optimizer turns a limit of 0 into an empty
        // relation that has no columns.
        let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        let mut work = Box::pin(datafusion::physical_plan::collect(physical, state.task_ctx()));
        let stopped = tokio::select! {
            batches = &mut work => Ok(batches),
            stop = engine::cancel::stopped(options.cancel.as_ref(), options.timeout) => Err(stop),
        };
        let batches = match stopped {
            Ok(batches) => batches,
            Err(stop) => {
                if let Some(id) = job.cancel_once_accepted(work).await {
                    *self.cancelled.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
                }
                return Err(stop);
            }
        };
        job.done = true;
        Ok(QueryResult {
            schema,
            batches: batches?,
            warnings: checked.warnings,
        })
    }

    /// Neptune's `fetch_runs_table`, on the cluster.
    pub async fn fetch_runs_table(
        &self,
        query: &str,
        options: &FetchOptions,
    ) -> Result<QueryResult, QueryError> {
        self.fetch(ObjectKind::Runs, query, options, None).await
    }

    /// The checked query, the plans, and the stages the scheduler runs (planned here as
    /// Ballista's scheduler plans them, without running anything).
    pub async fn explain(
        &self,
        kind: ObjectKind,
        query: &str,
        options: &FetchOptions,
        model: Option<&str>,
    ) -> Result<ClusterExplanation, QueryError> {
        let (plan, checked) = self.plan(kind, query, options, model)?;
        let state = self.ctx.state();
        let optimized = state.optimize(&plan)?;
        // The scheduler's own planning: DataFusion's physical planner, then the split into
        // stages at each change of partitioning.
        let local = session_state(state.config().clone());
        let physical = local.create_physical_plan(&optimized).await?;
        let job = ballista_core::JobId::new("explain");
        let stages = DefaultDistributedPlanner::new()
            .plan_query_stages(&job, physical, state.config_options())
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(ClusterExplanation {
            checked: checked
                .predicate
                .as_ref()
                .map_or_else(|| "(empty query: every object)".to_string(), |p| p.to_string()),
            logical: plan.display_indent().to_string(),
            optimized: optimized.display_indent().to_string(),
            stages: stages
                .iter()
                .map(|s| {
                    let stage: &dyn ExecutionPlan = s.as_ref();
                    displayable(stage).indent(true).to_string()
                })
                .collect(),
            warnings: checked.warnings,
        })
    }
}

/// A job on the cluster, cancelled there unless it finished: on request, or when dropped
/// (a dropped query future).
struct Job {
    scheduler: String,
    plan: Arc<dyn ExecutionPlan>,
    done: bool,
}

impl Job {
    fn id(&self) -> Option<String> {
        job_id(&self.plan)
    }

    /// Cancels the job on the cluster: at once if the scheduler has accepted it, else as
    /// soon as `work` (the query, still submitting) learns its id. Returns the id once the
    /// scheduler was asked, having waited for that (a command line that exits next must not
    /// drop the request) up to [`ACCEPT_WAIT`]; after that the wait goes on in the
    /// background up to [`ACCEPT_WAIT_BACKGROUND`], and the answer is `None`. Also `None`
    /// when `work` ends first.
    async fn cancel_once_accepted<W>(&mut self, work: W) -> Option<String>
    where
        W: std::future::Future + Send + Unpin + 'static,
    {
        self.done = true;
        let (scheduler, plan) = (self.scheduler.clone(), Arc::clone(&self.plan));
        let mut work = work;
        match wait_for_id(&plan, &mut work, ACCEPT_WAIT).await {
            Waited::Accepted(id) => {
                let _ = tokio::time::timeout(CANCEL_WAIT, cancel_job(scheduler, id.clone())).await;
                Some(id)
            }
            Waited::Ended => None,
            Waited::TimedOut => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move {
                        if let Waited::Accepted(id) =
                            wait_for_id(&plan, &mut work, ACCEPT_WAIT_BACKGROUND).await
                        {
                            cancel_job(scheduler, id).await;
                        }
                    });
                }
                None
            }
        }
    }
}

/// How a wait for a job's id ended.
enum Waited {
    Accepted(String),
    /// The query ended (it failed, or it was done) before the scheduler gave an id.
    Ended,
    TimedOut,
}

/// Waits up to `limit` for the scheduler to accept the job of `plan`, driving `work` (the
/// query, which submits the job) meanwhile.
async fn wait_for_id<W: std::future::Future + Unpin>(
    plan: &Arc<dyn ExecutionPlan>,
    work: &mut W,
    limit: Duration,
) -> Waited {
    let give_up = tokio::time::sleep(limit);
    tokio::pin!(give_up);
    loop {
        if let Some(id) = job_id(plan) {
            return Waited::Accepted(id);
        }
        tokio::select! {
            _ = &mut *work => return job_id(plan).map_or(Waited::Ended, Waited::Accepted),
            () = &mut give_up => return Waited::TimedOut,
            () = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let (Some(id), Ok(runtime)) = (self.id(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(cancel_job(self.scheduler.clone(), id));
        }
    }
}

/// How long a stopped query waits for the scheduler to accept its job, so as to cancel it,
/// before it returns (then it goes on waiting in the background, for a caller that lives on).
const ACCEPT_WAIT: Duration = Duration::from_secs(3);
const ACCEPT_WAIT_BACKGROUND: Duration = Duration::from_secs(10);
/// How long a stopped query waits for the scheduler to confirm a cancellation.
const CANCEL_WAIT: Duration = Duration::from_secs(3);

/// The id the scheduler gave the job of a Ballista plan, once it has accepted it.
fn job_id(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    plan.downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()
        .and_then(|q| q.job_id())
        .map(String::from)
}

/// Asks the scheduler to cancel a job; a failure leaves the job to finish on its own, and
/// the caller has its answer (an error) already.
async fn cancel_job(scheduler: String, job_id: String) {
    if let Ok(mut client) = SchedulerGrpcClient::connect(scheduler).await {
        let _ = client.cancel_job(CancelJobParams { job_id }).await;
    }
}

/// Whether a scheduler answers at `scheduler` (the gRPC address of `url`).
pub(crate) async fn reachable(url: &str, scheduler: &str) -> Result<(), ClusterError> {
    SchedulerGrpcClient::connect(scheduler.to_string())
        .await
        .map(|_| ())
        .map_err(|e| ClusterError::Unreachable {
            url: url.to_string(),
            problem: error_chain(&e),
        })
}

/// `df://HOST:PORT` (port 50050 when left out) as the scheduler's gRPC address.
pub(crate) fn scheduler_address(url: &str) -> Result<String, ClusterError> {
    let bad = || ClusterError::BadUrl { url: url.to_string() };
    let rest = url.strip_prefix("df://").ok_or_else(bad)?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().map_err(|_| bad())?),
        None => (rest, 50050),
    };
    if host.is_empty() || host.contains('/') {
        return Err(bad());
    }
    Ok(format!("http://{host}:{port}"))
}

/// An error with its sources, which say what a transport error was.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_addresses_are_df_urls() {
        assert_eq!(
            scheduler_address("df://localhost:50050").unwrap(),
            "http://localhost:50050"
        );
        assert_eq!(
            scheduler_address("df://10.0.0.7").unwrap(),
            "http://10.0.0.7:50050"
        );
        for bad in [
            "http://localhost:1",
            "df://",
            "df://host:port",
            "df://host:99999",
            "localhost",
        ] {
            assert!(
                matches!(scheduler_address(bad), Err(ClusterError::BadUrl { .. })),
                "{bad}"
            );
        }
    }
}
