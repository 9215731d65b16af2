//! `nql._nql`, the extension module of the Python package `nql` (python/nql): a project opened
//! by the engine, queried with the GIL released, its answers handed to Python as Arrow C
//! streams (pyarrow imports them without copying a buffer).
//!
//! The Python side (`nql/__init__.py`) holds the public API; this module stays thin: it turns
//! Python arguments into the engine's options and the engine's errors into the package's
//! exceptions (`nql._errors`).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arrow::array::RecordBatchIterator;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datasets::layout::{ObjectKind, SeriesKind};
use engine::{
    CancelToken, Engine, FetchOptions, IndexLocation, LoadError, LoadOptions, QueryError, SeriesRequest,
    SourceOptions, Trashed,
};
use pyo3::exceptions::{PyKeyboardInterrupt, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

/// The runtime every query of the process runs on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("nql")
            .build()
            .expect("a tokio runtime")
    })
}

/// How often a waiting query looks for a Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// Runs `work` to its end on the runtime, with the GIL released. A Ctrl-C (a pending
/// `KeyboardInterrupt`) cancels `cancel` and raises at once: the work stops at its next check,
/// and whatever part of it cannot be interrupted (planning) ends in the background.
fn wait<T: Send + 'static>(
    py: Python<'_>,
    cancel: &CancelToken,
    work: impl Future<Output = T> + Send + 'static,
) -> PyResult<T> {
    let mut task = runtime().spawn(work);
    py.detach(|| {
        runtime().block_on(async {
            loop {
                tokio::select! {
                    done = &mut task => {
                        return done.map_err(|e| match e.try_into_panic() {
                            Ok(panic) => pyo3::panic::PanicException::new_err(panic_message(&panic)),
                            Err(e) => PyKeyboardInterrupt::new_err(e.to_string()),
                        });
                    }
                    () = tokio::time::sleep(SIGNAL_CHECK) => {
                        if let Err(interrupt) = Python::attach(|py| py.check_signals()) {
                            cancel.cancel();
                            task.abort();
                            return Err(interrupt);
                        }
                    }
                }
            }
        })
    })
}

/// The message of a panic's payload.
fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic in the engine".into())
}

/// An exception of `nql._errors`, made with `args`.
fn error<'py>(py: Python<'py>, class: &str, args: impl pyo3::call::PyCallArgs<'py>) -> PyErr {
    let made = py
        .import("nql._errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1(args));
    match made {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

fn load_error(py: Python<'_>, e: LoadError) -> PyErr {
    error(py, "ProjectError", (e.to_string(),))
}

fn query_error(py: Python<'_>, query: &str, e: QueryError) -> PyErr {
    match e {
        QueryError::Invalid { diagnostics, .. } => {
            let rendered = diagnostics.render(query, false);
            let items: Vec<(usize, usize, String, String, Option<String>, String)> = diagnostics
                .0
                .iter()
                .map(|d| {
                    (
                        d.span.start,
                        d.span.end,
                        d.kind.to_string(),
                        d.label.clone(),
                        d.help.clone(),
                        d.kind.code().to_string(),
                    )
                })
                .collect();
            error(py, "NqlSyntaxError", (rendered, query.to_string(), items))
        }
        QueryError::BadOption(m) => PyValueError::new_err(m),
        QueryError::NoSuchTable(t) => PyValueError::new_err(format!("the project has no {t} table")),
        QueryError::Cancelled => PyKeyboardInterrupt::new_err("the query was cancelled"),
        QueryError::Source(m) => error(py, "ProjectError", (m,)),
        QueryError::TimedOut { timeout } => {
            PyTimeoutError::new_err(format!("the query took longer than its timeout of {timeout:?}"))
        }
        other => error(py, "NqlError", (other.to_string(),)),
    }
}

/// A timeout in seconds, checked.
fn timeout_of(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        Some(t) if t.is_finite() && t > 0.0 => Ok(Some(Duration::from_secs_f64(t))),
        Some(t) => Err(PyValueError::new_err(format!(
            "timeout must be positive seconds, not {t}"
        ))),
        None => Ok(None),
    }
}

fn table_kind(table: &str) -> PyResult<ObjectKind> {
    ObjectKind::from_table_name(table).ok_or_else(|| {
        PyValueError::new_err(format!(
            "table must be one of runs, models, model_versions, experiments, not {table:?}"
        ))
    })
}

/// What a project's queries run on.
#[derive(Clone)]
enum Backend {
    /// The engine in this process.
    Local(Arc<Engine>),
    /// A Ballista cluster over a bucketed project (docs/cluster.md).
    #[cfg(feature = "cluster")]
    Cluster {
        dist: Arc<cluster::Distributed>,
        kind: String,
    },
}

impl Backend {
    fn kind(&self) -> String {
        match self {
            Backend::Local(engine) => engine.kind().to_string(),
            #[cfg(feature = "cluster")]
            Backend::Cluster { kind, .. } => kind.clone(),
        }
    }

    fn tables(&self) -> Vec<ObjectKind> {
        match self {
            Backend::Local(engine) => engine.tables(),
            #[cfg(feature = "cluster")]
            Backend::Cluster { dist, .. } => dist.tables(),
        }
    }

    fn attributes(&self, kind: ObjectKind) -> Option<Vec<nql::AttributeInfo>> {
        match self {
            Backend::Local(engine) => engine.attributes(kind),
            #[cfg(feature = "cluster")]
            Backend::Cluster { dist, .. } => dist.attributes(kind),
        }
    }

    fn columns(&self, kind: ObjectKind) -> Option<&[engine::OutputColumn]> {
        match self {
            Backend::Local(engine) => engine.columns(kind),
            #[cfg(feature = "cluster")]
            Backend::Cluster { dist, .. } => dist.columns(kind),
        }
    }

    fn check(&self, kind: ObjectKind, query: &str) -> Result<nql::CheckedQuery, QueryError> {
        let options = FetchOptions::default();
        match self {
            Backend::Local(engine) => engine.check(kind, query, &options),
            #[cfg(feature = "cluster")]
            Backend::Cluster { dist, .. } => dist.check(kind, query, &options),
        }
    }

    async fn fetch(
        self,
        kind: ObjectKind,
        query: String,
        options: FetchOptions,
        model: Option<String>,
    ) -> Result<engine::QueryResult, QueryError> {
        match self {
            Backend::Local(engine) => engine.fetch(kind, &query, &options, model.as_deref()).await,
            #[cfg(feature = "cluster")]
            Backend::Cluster { dist, .. } => dist.fetch(kind, &query, &options, model.as_deref()).await,
        }
    }
}

/// Connects to the cluster at `url` over the bucketed project at `path`.
#[cfg(feature = "cluster")]
fn connect(py: Python<'_>, url: String, path: PathBuf) -> PyResult<Backend> {
    let cancel = CancelToken::new();
    let (address, data) = (url.clone(), path.clone());
    let dist = wait(py, &cancel, async move {
        cluster::Distributed::connect(&address, &data, cluster::ballista_config()).await
    })?
    .map_err(|e| match e {
        cluster::ClusterError::BadUrl { .. } => PyValueError::new_err(format!("cluster: {e}")),
        cluster::ClusterError::Unreachable { .. } => {
            pyo3::exceptions::PyConnectionError::new_err(e.to_string())
        }
        e => error(py, "ProjectError", (e.to_string(),)),
    })?;
    Ok(Backend::Cluster {
        dist: Arc::new(dist),
        kind: format!("a bucketed project on the cluster at {url}: {}", path.display()),
    })
}

#[cfg(not(feature = "cluster"))]
fn connect(_py: Python<'_>, _url: String, _path: PathBuf) -> PyResult<Backend> {
    Err(PyValueError::new_err(
        "cluster: this build of nql has no cluster support; build the package with the `cluster` \
         feature (MATURIN_PEP517_ARGS=\"--features cluster\" pip install ./python)",
    ))
}

/// An open project: its tables, ready for queries. Safe to share between threads.
#[pyclass(frozen, module = "nql._nql")]
struct Project {
    backend: Backend,
}

#[pymethods]
impl Project {
    /// Opens the project at `path` (a native project, a Neptune export, an MLflow store),
    /// building or refreshing its index first when it is not fresh.
    /// With `cluster` (`df://HOST:PORT`), queries run on that Ballista cluster over the
    /// bucketed project at `path` (written by `nql partition`).
    #[staticmethod]
    #[pyo3(signature = (path, *, project=None, files=None, experiments=None, index_dir=None, index=true, cluster=None))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        project: Option<String>,
        files: Option<PathBuf>,
        experiments: Option<Vec<String>>,
        index_dir: Option<PathBuf>,
        index: bool,
        cluster: Option<String>,
    ) -> PyResult<Project> {
        if let Some(url) = cluster {
            if project.is_some() || files.is_some() || experiments.is_some() || index_dir.is_some() || !index
            {
                return Err(PyValueError::new_err(
                    "cluster: a bucketed project is opened by its path alone (no project, files, \
                     experiments, index_dir or index=False)",
                ));
            }
            return Ok(Project {
                backend: connect(py, url, path)?,
            });
        }
        let options = LoadOptions {
            index: match (index, index_dir) {
                (false, _) => IndexLocation::None,
                (true, Some(dir)) => IndexLocation::Dir(dir),
                (true, None) => IndexLocation::Project,
            },
            source: SourceOptions {
                project,
                files,
                experiments: experiments.unwrap_or_default(),
            },
            ..LoadOptions::default()
        };
        let engine = py
            .detach(|| Engine::open_with(&path, &options))
            .map_err(|e| load_error(py, e))?;
        Ok(Project {
            backend: Backend::Local(Arc::new(engine)),
        })
    }

    /// What the project is (`a project in the native layout ...`, `Neptune 2.x export of ...`).
    #[getter]
    fn kind(&self) -> String {
        self.backend.kind()
    }

    /// The tables the project has.
    fn tables(&self) -> Vec<&'static str> {
        self.backend.tables().iter().map(|k| k.table_name()).collect()
    }

    /// Every attribute of `table`: (path, NQL type, how many objects have it).
    fn attributes(&self, table: &str) -> PyResult<Vec<(String, &'static str, usize)>> {
        let kind = table_kind(table)?;
        let attributes = self
            .backend
            .attributes(kind)
            .ok_or_else(|| PyValueError::new_err(format!("the project has no {table} table")))?;
        Ok(attributes
            .into_iter()
            .map(|a| (a.path, a.ty.name(), a.count))
            .collect())
    }

    /// The columns results of `table` have, in order: (result name, path, NQL type). A name
    /// is the path, or `path:type` where the path has several types in the table.
    fn columns(&self, table: &str) -> PyResult<Vec<(String, String, &'static str)>> {
        let kind = table_kind(table)?;
        let columns = self
            .backend
            .columns(kind)
            .ok_or_else(|| PyValueError::new_err(format!("the project has no {table} table")))?;
        Ok(columns
            .iter()
            .map(|c| (c.name.clone(), c.path.clone(), c.ty.name()))
            .collect())
    }

    /// Runs `query` on `table`: the matching objects as Arrow batches, and the warnings about
    /// the query, rendered.
    #[pyo3(signature = (query, *, table, columns, sort_by, ascending, limit, trashed, model, now, timeout))]
    #[allow(clippy::too_many_arguments)]
    fn query(
        &self,
        py: Python<'_>,
        query: &str,
        table: &str,
        columns: Option<Vec<String>>,
        sort_by: Option<String>,
        ascending: bool,
        limit: Option<usize>,
        trashed: &str,
        model: Option<String>,
        now: Option<&str>,
        timeout: Option<f64>,
    ) -> PyResult<(Batches, Vec<String>)> {
        let kind = table_kind(table)?;
        let trashed: Trashed = trashed
            .parse()
            .map_err(|e: String| PyValueError::new_err(format!("trashed: {e}")))?;
        let now = match now {
            Some(text) => Some(
                chrono::DateTime::parse_from_rfc3339(text)
                    .map_err(|e| PyValueError::new_err(format!("now: {text:?}: {e}")))?
                    .with_timezone(&chrono::Utc),
            ),
            None => None,
        };
        let timeout = timeout_of(timeout)?;
        let cancel = CancelToken::new();
        let options = FetchOptions {
            columns,
            sort_by,
            ascending,
            limit,
            trashed,
            now,
            cancel: Some(cancel.clone()),
            timeout,
        };
        let backend = self.backend.clone();
        let result = wait(
            py,
            &cancel,
            backend.fetch(kind, query.to_string(), options, model),
        )?
        .map_err(|e| query_error(py, query, e))?;
        let warnings = result.warnings.iter().map(|w| w.render(query, false)).collect();
        Ok((
            Batches {
                schema: result.schema,
                batches: result.batches,
            },
            warnings,
        ))
    }

    /// The raw points of the series of kind `kind` (`float`, `string`) of the objects `ids`
    /// of `table` (all when `None`), of `paths` (all when `None`), with `start <= step <=
    /// end`, the last `tail` of each series: columns sys/id, path, step, timestamp, value.
    #[pyo3(signature = (ids, paths, *, table, kind, start, end, tail, timeout))]
    #[allow(clippy::too_many_arguments)]
    fn series(
        &self,
        py: Python<'_>,
        ids: Option<Vec<String>>,
        paths: Option<Vec<String>>,
        table: &str,
        kind: &str,
        start: Option<f64>,
        end: Option<f64>,
        tail: Option<usize>,
        timeout: Option<f64>,
    ) -> PyResult<Batches> {
        let table = table_kind(table)?;
        let kind = match kind {
            "float" => SeriesKind::Float,
            "string" => SeriesKind::String,
            other => {
                return Err(PyValueError::new_err(format!(
                    "kind must be float or string, not {other:?}"
                )));
            }
        };
        let cancel = CancelToken::new();
        let request = SeriesRequest {
            ids,
            paths,
            step_range: (start, end),
            tail,
            cancel: Some(cancel.clone()),
            timeout: timeout_of(timeout)?,
            ..SeriesRequest::new(table, kind)
        };
        let engine = match &self.backend {
            Backend::Local(engine) => Arc::clone(engine),
            #[cfg(feature = "cluster")]
            Backend::Cluster { .. } => {
                return Err(error(
                    py,
                    "NqlError",
                    (
                        "series: raw points are read in one process; open the bucketed project \
                      without cluster= to read them",
                    ),
                ));
            }
        };
        let result = wait(py, &cancel, async move { engine.series(&request).await })?
            .map_err(|e| query_error(py, "", e))?;
        Ok(Batches {
            schema: result.schema,
            batches: result.batches,
        })
    }

    /// The canonical form of `query` checked against `table` (`""` for the empty query), and
    /// its warnings, rendered.
    #[pyo3(signature = (query, *, table))]
    fn check(&self, py: Python<'_>, query: &str, table: &str) -> PyResult<(String, Vec<String>)> {
        let kind = table_kind(table)?;
        let checked = self
            .backend
            .check(kind, query)
            .map_err(|e| query_error(py, query, e))?;
        let canonical = checked
            .predicate
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let warnings = checked.warnings.iter().map(|w| w.render(query, false)).collect();
        Ok((canonical, warnings))
    }
}

/// The answer of a query: Arrow batches, exported through the Arrow C stream interface.
#[pyclass(frozen, module = "nql._nql")]
struct Batches {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

#[pymethods]
impl Batches {
    /// The Arrow PyCapsule stream protocol: `pyarrow.table(batches)` takes the batches'
    /// buffers as they are.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // A consumer asking for another schema gets ours: casting is theirs to do.
        let _ = requested_schema;
        let reader =
            RecordBatchIterator::new(self.batches.clone().into_iter().map(Ok), Arc::clone(&self.schema));
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }

    /// Rows in all batches.
    fn __len__(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// For tests of zero copy: the address of every buffer of every column of the batches.
    fn _buffer_addresses(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for batch in &self.batches {
            for column in batch.columns() {
                let data = column.to_data();
                out.extend(data.buffers().iter().map(|b| b.as_ptr() as usize));
                out.extend(data.nulls().map(|n| n.buffer().as_ptr() as usize));
            }
        }
        out
    }
}

/// Raises a Rust panic, for the test that a panic surfaces as an exception.
#[pyfunction]
fn _panic(message: &str) {
    panic!("{message}");
}

/// Whether the last [`_wait_for`] slept to its end.
static SLEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Waits `seconds` as a query waits (for the test that Ctrl-C stops a wait at once); returns
/// whether it slept to the end.
#[pyfunction]
fn _wait_for(py: Python<'_>, seconds: f64) -> PyResult<bool> {
    use std::sync::atomic::Ordering;
    SLEPT.store(false, Ordering::SeqCst);
    let cancel = CancelToken::new();
    wait(py, &cancel, async move {
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        SLEPT.store(true, Ordering::SeqCst);
    })?;
    Ok(SLEPT.load(Ordering::SeqCst))
}

/// Whether the last [`_wait_for`] slept to its end (false once it was interrupted).
#[pyfunction]
fn _slept() -> bool {
    SLEPT.load(std::sync::atomic::Ordering::SeqCst)
}

/// Starts a scheduler and `executors` executors of `vcores` slots in this process (for the
/// tests); returns its `df://` address. It runs as long as the process does, on a runtime of
/// its own: on the queries' runtime its tasks would delay the timers that a waiting query
/// looks for Ctrl-C with.
#[cfg(feature = "cluster")]
#[pyfunction]
fn _local_cluster(py: Python<'_>, executors: usize, vcores: usize) -> PyResult<String> {
    static CLUSTERS: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let clusters = CLUSTERS.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("nql-test-cluster")
            .build()
            .expect("a tokio runtime")
    });
    py.detach(|| {
        clusters.block_on(cluster::LocalCluster::start(
            executors,
            vcores,
            cluster::function_registry,
        ))
    })
    .map(|c| c.url())
    .map_err(|e| error(py, "NqlError", (e.to_string(),)))
}

/// Writes the project at `path` bucketed `buckets` ways into `out`, with its summaries (what
/// `nql partition` does; for the tests).
#[cfg(feature = "cluster")]
#[pyfunction]
fn _partition(py: Python<'_>, path: PathBuf, out: PathBuf, buckets: u32) -> PyResult<()> {
    py.detach(|| engine::bucketed::partition(&path, &out, buckets, &LoadOptions::default()))
        .map(drop)
        .map_err(|e| load_error(py, e))
}

#[pymodule]
fn _nql(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Project>()?;
    m.add_class::<Batches>()?;
    m.add_function(wrap_pyfunction!(_panic, m)?)?;
    m.add_function(wrap_pyfunction!(_wait_for, m)?)?;
    m.add_function(wrap_pyfunction!(_slept, m)?)?;
    #[cfg(feature = "cluster")]
    {
        m.add_function(wrap_pyfunction!(_local_cluster, m)?)?;
        m.add_function(wrap_pyfunction!(_partition, m)?)?;
    }
    Ok(())
}
