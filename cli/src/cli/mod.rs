//! The `nql` command line: argument parsing, loading, and exit codes
//! (0 success, 2 a bad query or bad arguments, 1 anything else).
//!
//! Output whose reader has gone (`nql query ... | head -1`) ends the command quietly with
//! status 0, as ripgrep does: Rust ignores SIGPIPE, so a write to a closed pipe fails with
//! `BrokenPipe` instead of killing the process, and [`Failure::BrokenPipe`] carries that to
//! [`main`], which prints nothing.

mod bench;
mod memory;
mod on_cluster;
mod output;
mod serve;
mod shell;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use datasets::layout::ObjectKind;
use engine::{
    Engine, FetchOptions, IndexLocation, LoadError, LoadOptions, QueryError, Refresh, SourceOptions, Trashed,
};

use output::Format;

/// Query Neptune projects stored as Parquet with the Neptune Query Language (NQL).
#[derive(Debug, Parser)]
#[command(name = "nql", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a query and print the matching objects.
    Query(QueryArgs),
    /// Check a query: print its canonical form, or what is wrong with it.
    Check(CheckArgs),
    /// Show how a query is understood and the DataFusion plans that answer it.
    Explain(ExplainArgs),
    /// List the attributes of a table with their types and how many objects have each.
    Schema(SchemaArgs),
    /// An interactive prompt: load the project once, then run queries and commands.
    Shell(ShellArgs),
    /// Load a project once and time queries on the runs table (median of many runs).
    Bench(BenchArgs),
    /// Build a project's index, or bring it up to date (queries do this on first use too).
    Index(IndexArgs),
    /// Write a Neptune export or an MLflow store as a project in the native layout.
    Convert(ConvertArgs),
    /// Write a project bucketed by a hash of `sys/id`, with each bucket's summaries, for a
    /// cluster (docs/cluster.md); `nql query` reads the result as any project.
    Partition(PartitionArgs),
    /// Summarize the buckets of a project written by `nql partition --no-summaries`: here,
    /// or on a cluster, a task per bucket where the executors run (docs/cluster.md).
    Summarize(SummarizeArgs),
    /// Serve the runs table and learning curves to a browser (a page and a JSON API).
    Serve(ServeArgs),
    /// Write a generated, realistic project (seeded: the same seed gives the same files), in
    /// the native layout or as a Neptune 2.x or 3.x export (--format).
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// The directory to write (created if needed; it must not hold a project yet). An
    /// export is written as neptune-exporter writes one: DIR/data/<project>/ (what --data
    /// takes, or DIR/data) and DIR/files/<project>/.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// What to write: a project in the native layout, or a Neptune 2.x or 3.x export in
    /// neptune-exporter's format (docs/neptune-export.md).
    #[arg(long, value_enum, default_value_t = GenerateFormat::Native)]
    format: GenerateFormat,
    /// Number of runs.
    #[arg(long, default_value_t = 1_000)]
    runs: u64,
    /// Number of models [default: 10; neptune3: none, 3.x exports have no model registry].
    #[arg(long, value_name = "N")]
    models: Option<usize>,
    /// Number of model versions [default: 100; neptune3: none].
    #[arg(long, value_name = "N")]
    model_versions: Option<usize>,
    /// Float series per run.
    #[arg(long, default_value_t = 4)]
    series: usize,
    /// Points per float series (of runs that ran to the end).
    #[arg(long, default_value_t = 100)]
    points: usize,
    /// Attributes beyond the standard ones (exports: float parameters).
    #[arg(long, default_value_t = 3)]
    extra_attributes: usize,
    /// Fraction of runs with a NaN point.
    #[arg(long, default_value_t = 0.01)]
    nan_rate: f64,
    /// Every run logs every point (no early stops, failures or runs without series).
    #[arg(long)]
    full: bool,
    /// The seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The prefix of run ids (`KEY-1`, `KEY-2`, ...): a project generated with another key
    /// can be appended to this one as new files. In an export: the prefix of `sys/id`.
    #[arg(long, default_value = "GEN")]
    key: String,
    /// Runs per file: more runs are written as TABLE/part-NNNNN.parquet [default: 250000;
    /// native only: an export has one run per file].
    #[arg(long, value_name = "N")]
    runs_per_file: Option<u64>,
    /// The project_id of an export [default: workspace/generated]: another project
    /// generated into the same --out makes a data root of several projects.
    #[arg(long, value_name = "WORKSPACE/PROJECT")]
    project: Option<String>,
    /// Number of experiments of a neptune3 export [default: 8]: run i belongs to
    /// experiment i mod N, whose last run is its head; some runs fork the one before.
    #[arg(long, value_name = "N")]
    experiments: Option<usize>,
    /// Worker threads (0: one per core); the output does not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

/// What `nql generate` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum GenerateFormat {
    /// A project in the native layout (docs/dataset.md).
    Native,
    /// A Neptune 2.x export (`neptune-exporter --exporter neptune2`), with a model registry.
    Neptune2,
    /// A Neptune 3.x export (`--exporter neptune3`): experiments, forks, phantom rows.
    Neptune3,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// The address to listen on: this machine only by default (0.0.0.0 serves others too).
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// The port (0: any free one, printed at start).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Open the page in the default browser once serving.
    #[arg(long)]
    open: bool,
}

/// Which project, and where its index is.
#[derive(Debug, Args)]
struct ProjectArgs {
    /// The project: a directory in the native layout (docs/dataset.md), a neptune-exporter
    /// export (a project's directory or the data root), an MLflow store (mlflow.db,
    /// sqlite:///PATH, an mlruns directory). Without it: the built-in demo project.
    #[arg(long, value_name = "PATH")]
    data: Option<PathBuf>,
    /// The project of an export's data root that holds several (workspace/project).
    #[arg(long, value_name = "WORKSPACE/PROJECT")]
    project: Option<String>,
    /// Where an export's downloaded files are (default: files/ beside the data root).
    #[arg(long, value_name = "DIR")]
    files: Option<PathBuf>,
    /// Only this MLflow experiment (a name or an id; repeat for several).
    #[arg(long, value_name = "NAME_OR_ID")]
    experiment: Vec<String>,
    /// Keep the project's index in DIR instead of the project's own _nql/ (for read-only
    /// data; without either, a read-only project's index goes to the user's cache).
    #[arg(long, value_name = "DIR", conflicts_with = "no_index")]
    index_dir: Option<PathBuf>,
    /// Use no index: read every column and summarize every series in memory.
    #[arg(long)]
    no_index: bool,
}

impl ProjectArgs {
    fn source(&self) -> SourceOptions {
        SourceOptions {
            project: self.project.clone(),
            files: self.files.clone(),
            experiments: self.experiment.clone(),
        }
    }

    fn index(&self) -> IndexLocation {
        match (&self.index_dir, self.no_index) {
            (Some(dir), _) => IndexLocation::Dir(dir.clone()),
            (None, true) => IndexLocation::None,
            (None, false) => IndexLocation::Project,
        }
    }

    /// Opens the project (building or refreshing its index first, with a progress bar on a
    /// terminal when that takes a while), then gives what opening freed back to the system.
    fn open(&self) -> Result<Engine, Failure> {
        self.open_with(Refresh::First)
    }

    /// [`ProjectArgs::open`]; with [`Refresh::Deferred`], a native project without an index
    /// is read straight from its files instead (see [`ProjectArgs::index_in_background`]).
    fn open_with(&self, refresh: Refresh) -> Result<Engine, Failure> {
        let engine = match &self.data {
            None => Engine::from_batches(datasets::demo::project())?,
            Some(dir) => {
                let options = LoadOptions {
                    progress: output::progress_bar(),
                    index: self.index(),
                    source: self.source(),
                    warn: Some(std::sync::Arc::new(|w: &str| eprintln!("warning: {w}"))),
                    refresh,
                    ..LoadOptions::default()
                };
                Engine::open_with(dir, &options)?
            }
        };
        memory::release_free_memory();
        memory::keep_freed_memory();
        Ok(engine)
    }

    /// Starts `nql index` for this project in the background, detached from this process
    /// (its own process group, so a Ctrl-C here does not stop it; no output): the next
    /// query finds the index fresh. Builders take the index's lock in turn, so a second one
    /// started meanwhile finds the index fresh and does nothing.
    fn index_in_background(&self) {
        let (Some(data), Ok(exe)) = (&self.data, std::env::current_exe()) else {
            return;
        };
        let mut command = std::process::Command::new(exe);
        command.arg("index").arg("--data").arg(data);
        if let Some(dir) = &self.index_dir {
            command.arg("--index-dir").arg(dir);
        }
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        // The build is a convenience: a query that cannot start one has still answered.
        let _ = command.spawn();
    }
}

/// How `nql query` treats a project without an index: `NQL_BACKGROUND_INDEX=0` builds it
/// before answering; otherwise the query answers from the files and leaves the build to
/// an `nql index` started in the background. (A stale index is refreshed first either way.)
fn query_refresh() -> Refresh {
    match std::env::var("NQL_BACKGROUND_INDEX").as_deref() {
        Ok("0") | Ok("false") | Ok("no") => Refresh::First,
        _ => Refresh::Deferred,
    }
}

/// Where the project comes from and which table to read.
#[derive(Debug, Args)]
struct Source {
    #[command(flatten)]
    project: ProjectArgs,
    /// The table of objects to query.
    #[arg(long, value_enum, default_value_t = Table::Runs)]
    table: Table,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
enum Table {
    Runs,
    Models,
    ModelVersions,
    /// Neptune 3.x experiments (of an export): each experiment's head run with its lineage.
    Experiments,
}

impl From<Table> for ObjectKind {
    fn from(t: Table) -> Self {
        match t {
            Table::Runs => ObjectKind::Runs,
            Table::Models => ObjectKind::Models,
            Table::ModelVersions => ObjectKind::ModelVersions,
            Table::Experiments => ObjectKind::Experiments,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TrashedArg {
    Exclude,
    Only,
    All,
}

/// The options shared by `query` and `explain`.
#[derive(Debug, Args)]
struct QueryOptions {
    /// Only the versions of this model (with --table model_versions).
    #[arg(long, value_name = "ID")]
    model: Option<String>,
    /// Trashed objects: leave them out, only them, or all.
    #[arg(long, value_enum, default_value_t = TrashedArg::Exclude)]
    trashed: TrashedArg,
    /// The instant relative datetimes (-2h, -1M) count back from (RFC 3339). Default: now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
    now: Option<DateTime<Utc>>,
    /// Columns to show after sys/id: paths, path:type, or agg(path). Default: all.
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    columns: Option<Vec<String>>,
    #[command(flatten)]
    order: OrderArgs,
    /// Give up on the query after this long (500ms, 30s, 2m, 1h 30m), exiting with 1.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,
}

/// Sorting and the limit, shared by `query`, `explain` and `bench`.
#[derive(Debug, Args)]
struct OrderArgs {
    /// Sort by this column (missing values last, ties by sys/id). Default: sys/creation_time.
    #[arg(long, value_name = "PATH")]
    sort_by: Option<String>,
    /// Sort ascending (default: descending).
    #[arg(long)]
    ascending: bool,
    /// Return at most N objects (a top-k, not a full sort).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

impl OrderArgs {
    /// These flags set on `options`.
    fn apply(&self, options: FetchOptions) -> FetchOptions {
        FetchOptions {
            sort_by: self.sort_by.clone(),
            ascending: self.ascending,
            limit: self.limit,
            ..options
        }
    }
}

/// Where a query runs: here, or on a cluster.
#[derive(Debug, Args)]
struct ClusterArg {
    /// Run on a Ballista cluster (df://HOST:PORT) over a project written by `nql partition`
    /// (--data: at the same path on every machine, or an s3:// URL). Needs an nql built with
    /// `--features cluster` (docs/cluster.md).
    #[arg(long, value_name = "URL")]
    cluster: Option<String>,
}

impl ClusterArg {
    /// The cluster's URL and the bucketed project, if the query runs on a cluster.
    fn target<'a>(
        &'a self,
        project: &'a ProjectArgs,
    ) -> Result<Option<(&'a str, &'a std::path::Path)>, Failure> {
        let Some(url) = &self.cluster else {
            return Ok(None);
        };
        match &project.data {
            Some(data) => Ok(Some((url.as_str(), data.as_path()))),
            None => Err(Failure::Usage(
                "error: --cluster needs --data DIR, a project written by `nql partition`\n".into(),
            )),
        }
    }
}

#[derive(Debug, Args)]
struct QueryArgs {
    #[command(flatten)]
    source: Source,
    #[command(flatten)]
    cluster: ClusterArg,
    #[command(flatten)]
    options: QueryOptions,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the result to this file instead of standard output (required for parquet).
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    text: QueryText,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// With --data: check against that project's attributes too (unknown attributes,
    /// untyped names).
    #[command(flatten)]
    project: ProjectArgs,
    /// The table whose attributes to check against (with --data).
    #[arg(long, value_enum, default_value_t = Table::Runs)]
    table: Table,
    #[command(flatten)]
    text: QueryText,
}

#[derive(Debug, Args)]
struct ExplainArgs {
    #[command(flatten)]
    source: Source,
    #[command(flatten)]
    cluster: ClusterArg,
    #[command(flatten)]
    options: QueryOptions,
    #[command(flatten)]
    text: QueryText,
}

/// The query: an argument, or the contents of a file.
#[derive(Debug, Args)]
struct QueryText {
    /// The NQL query ('' for every object).
    #[arg(required_unless_present = "query_file")]
    query: Option<String>,
    /// Read the query from this file (`-`: standard input) instead of an argument.
    #[arg(long, value_name = "FILE", conflicts_with = "query")]
    query_file: Option<PathBuf>,
}

impl QueryText {
    /// The query text. A file that is not UTF-8 is a usage error (exit 2) saying where.
    fn read(self) -> Result<String, Failure> {
        let Some(path) = self.query_file else {
            return Ok(self.query.unwrap_or_default());
        };
        let (label, bytes) = if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
                .map_err(|e| Failure::Other(format!("error: reading standard input: {e}\n")))?;
            ("standard input".to_string(), bytes)
        } else {
            let bytes = std::fs::read(&path)
                .map_err(|e| Failure::Other(format!("error: {}: {e}\n", path.display())))?;
            (path.display().to_string(), bytes)
        };
        utf8(&label, bytes)
    }
}

/// `bytes` as text, or a usage error naming `label` and the offset of the first bad byte.
fn utf8(label: &str, bytes: Vec<u8>) -> Result<String, Failure> {
    String::from_utf8(bytes).map_err(|e| {
        Failure::Usage(format!(
            "error: {label}: not valid UTF-8 (invalid byte at offset {}); queries are UTF-8 text\n",
            e.utf8_error().valid_up_to()
        ))
    })
}

#[derive(Debug, Args)]
struct BenchArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// A file of queries, one per line as `name<TAB>query` (or `-` for standard input).
    #[arg(long, value_name = "FILE")]
    queries: Option<PathBuf>,
    /// Timed runs of each query (after three warm-up runs).
    #[arg(long, default_value_t = 100)]
    iterations: usize,
    /// Columns to return (default: sys/id, as a comparison of filters wants).
    #[arg(long, value_name = "A,B,...", value_delimiter = ',', default_value = "sys/id")]
    columns: Vec<String>,
    #[command(flatten)]
    order: OrderArgs,
    /// The instant relative datetimes (-2h, -1M) count back from (RFC 3339). Default: now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
    now: Option<DateTime<Utc>>,
    /// Write each query's ids, one per line in result order, to DIR/NAME.txt.
    #[arg(long, value_name = "DIR")]
    ids_dir: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Queries to time, besides those in --queries.
    query: Vec<String>,
}

#[derive(Debug, Args)]
struct ShellArgs {
    #[command(flatten)]
    project: ProjectArgs,
}

#[derive(Debug, Args)]
struct ConvertArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// The directory to write (created if needed; it must not hold a project yet).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct PartitionArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// The directory to write (created if needed; it must not hold a project yet).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// How many buckets (files per table) to split the project into: 1 to 65536.
    #[arg(long, default_value_t = 16)]
    buckets: u32,
    /// Write the buckets' object and series files only; `nql summarize` writes their
    /// summaries (on a cluster, where the buckets lie).
    #[arg(long)]
    no_summaries: bool,
}

#[derive(Debug, Args)]
struct SummarizeArgs {
    /// The bucketed project (written by `nql partition`).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Only this bucket (repeat for several) [default: every bucket]; not with --cluster,
    /// which summarizes them all.
    #[arg(long, value_name = "N", conflicts_with = "cluster")]
    bucket: Vec<u32>,
    #[command(flatten)]
    cluster: ClusterArg,
}

#[derive(Debug, Args)]
struct IndexArgs {
    /// The project (a native directory, a Neptune export, an MLflow store).
    #[arg(long, value_name = "PATH")]
    data: PathBuf,
    /// The project of an export's data root that holds several (workspace/project).
    #[arg(long, value_name = "WORKSPACE/PROJECT")]
    project: Option<String>,
    /// Where an export's downloaded files are.
    #[arg(long, value_name = "DIR")]
    files: Option<PathBuf>,
    /// Only this MLflow experiment (repeat for several).
    #[arg(long, value_name = "NAME_OR_ID")]
    experiment: Vec<String>,
    /// Keep the index in DIR instead of the project's own _nql/.
    #[arg(long, value_name = "DIR")]
    index_dir: Option<PathBuf>,
    /// Build it from nothing, as if there were none.
    #[arg(long)]
    rebuild: bool,
    /// Build the summaries of a bucketed project (`nql partition --no-summaries`) on this
    /// Ballista cluster instead, a task per bucket: what `nql summarize --cluster` does.
    #[command(flatten)]
    cluster: ClusterArg,
}

#[derive(Debug, Args)]
struct SchemaArgs {
    #[command(flatten)]
    source: Source,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("not a duration such as 500ms, 30s or 2m: {e}"))
}

fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 instant such as 2026-06-01T00:00:00Z: {e}"))
}

/// A failure, with the exit code it maps to.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A bad query or bad arguments: exit 2.
    Usage(String),
    /// Anything else: exit 1.
    Other(String),
    /// The output was closed while we wrote to it (the reader of a pipe has gone, as with
    /// `| head -1`): exit 0 with nothing on standard error, as ripgrep does.
    BrokenPipe,
}

impl Failure {
    /// A failed write of `what`: [`Failure::BrokenPipe`] when an I/O error of kind
    /// `BrokenPipe` is the error or its cause (CSV, JSON and Parquet writers wrap it), else
    /// a message naming `what`.
    pub(crate) fn writing(what: &str, e: &(dyn std::error::Error + 'static)) -> Failure {
        if is_broken_pipe(e) {
            Failure::BrokenPipe
        } else {
            Failure::Other(format!("error: {what}: {e}\n"))
        }
    }
}

/// Whether `e`, or an error in its chain of causes, is an I/O error of kind `BrokenPipe`.
fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        cause = e.source();
    }
    false
}

impl From<QueryError> for Failure {
    fn from(e: QueryError) -> Self {
        let message = e.render(std::io::stderr().is_terminal());
        if e.is_user_error() {
            Failure::Usage(message)
        } else {
            Failure::Other(message)
        }
    }
}

impl From<LoadError> for Failure {
    fn from(e: LoadError) -> Self {
        if matches!(e, LoadError::Choice(_)) {
            return Failure::Usage(format!("error: {e}\n"));
        }
        Failure::Other(format!("error: {e}\n"))
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Failure::BrokenPipe
        } else {
            Failure::Other(format!("error: {e}\n"))
        }
    }
}

/// Runs the command line; the exit code follows the contract above.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Query(args) => run(query(args)),
        Command::Check(args) => check(args),
        Command::Explain(args) => run(explain(args)),
        Command::Schema(args) => schema(args),
        Command::Shell(args) => args.project.open().and_then(shell::run),
        Command::Index(args) => index(args),
        Command::Convert(args) => convert(args),
        Command::Partition(args) => partition(args),
        Command::Summarize(args) => run(summarize(args)),
        Command::Serve(args) => run(serve(args)),
        Command::Bench(args) => bench(args),
        Command::Generate(args) => generate(args),
    };
    match result {
        Ok(()) | Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprint!("{message}");
            ExitCode::from(2)
        }
        Err(Failure::Other(message)) => {
            eprint!("{message}");
            ExitCode::from(1)
        }
    }
}

/// Runs an async command on a fresh runtime.
fn run(f: impl Future<Output = Result<(), Failure>>) -> Result<(), Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failure::from)?
        .block_on(f)
}

fn fetch_options(o: &QueryOptions) -> FetchOptions {
    o.order.apply(FetchOptions {
        columns: o.columns.clone(),
        trashed: match o.trashed {
            TrashedArg::Exclude => Trashed::Exclude,
            TrashedArg::Only => Trashed::Only,
            TrashedArg::All => Trashed::All,
        },
        now: o.now,
        timeout: o.timeout,
        ..FetchOptions::default()
    })
}

pub(crate) fn print_warnings(query: &str, warnings: &[nql::Diagnostic]) {
    let color = std::io::stderr().is_terminal();
    for w in warnings {
        eprint!("{}", w.render(query, color));
    }
}

async fn query(args: QueryArgs) -> Result<(), Failure> {
    if matches!(args.format, Format::Parquet) && args.output.is_none() {
        return Err(Failure::Usage(
            "error: --format parquet needs --output FILE\n".into(),
        ));
    }
    if args.options.model.is_some() && args.source.table != Table::ModelVersions {
        return Err(Failure::Usage(
            "error: --model needs --table model_versions\n".into(),
        ));
    }
    let text = args.text.read()?;
    let options = fetch_options(&args.options);
    let model = args.options.model.as_deref();
    let (result, engine) = match args.cluster.target(&args.source.project)? {
        Some((url, data)) => (
            on_cluster::fetch(url, data, args.source.table.into(), &text, options, model).await?,
            None,
        ),
        None => {
            let engine = args.source.project.open_with(query_refresh())?;
            let result = engine
                .fetch(args.source.table.into(), &text, &options, model)
                .await?;
            (result, Some(engine))
        }
    };
    // A build that failed on these very files would fail again: the query says why instead.
    let failed = engine.as_ref().and_then(|e| e.last_index_failure());
    if let Some(failure) = failed {
        eprintln!(
            "warning: the index of this project could not be built, so queries read its files until \
             they change (`nql index` tries again): {failure}"
        );
    }
    let index_later = engine.as_ref().is_some_and(|e| e.index_deferred()) && failed.is_none();
    print_warnings(&text, &result.warnings);
    let written = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| Failure::Other(format!("error: {}: {e}\n", path.display())))?;
            output::write(
                args.format,
                &result,
                Box::new(std::io::BufWriter::new(file)),
                false,
            )
        }
        None => {
            let stdout = std::io::stdout();
            let terminal = stdout.is_terminal();
            output::write(
                args.format,
                &result,
                Box::new(std::io::BufWriter::new(stdout)),
                terminal,
            )
        }
    };
    // The process ends here: freeing what the project read, an allocation at a time, would
    // only delay its exit (3% of a one-shot query at M, measured).
    std::mem::forget(result);
    std::mem::forget(engine);
    if index_later {
        args.source.project.index_in_background();
    }
    written
}

fn check(args: CheckArgs) -> Result<(), Failure> {
    let color = std::io::stderr().is_terminal();
    let text = args.text.read()?;
    let invalid = |d: nql::Diagnostics| Failure::Usage(d.render(&text, color));
    let parsed = nql::parse(&text).map_err(invalid)?;
    let warnings = match &args.project.data {
        Some(_) => {
            let engine = args.project.open()?;
            engine
                .check(args.table.into(), &text, &FetchOptions::default())?
                .warnings
        }
        None => {
            // Without a project: operators and values against the written types only. Every
            // attribute is unknown here, so warnings about that say nothing.
            let checked =
                nql::analyze(&parsed, &nql::TableCatalog::new(), chrono::Utc::now()).map_err(invalid)?;
            checked
                .warnings
                .into_iter()
                .filter(|w| {
                    !matches!(
                        w.kind,
                        nql::DiagnosticKind::UnknownAttribute { .. }
                            | nql::DiagnosticKind::UnknownPath { .. }
                    )
                })
                .collect()
        }
    };
    print_warnings(&text, &warnings);
    writeln!(std::io::stdout(), "{parsed}")?;
    Ok(())
}

async fn explain(args: ExplainArgs) -> Result<(), Failure> {
    let text = args.text.read()?;
    let options = fetch_options(&args.options);
    if let Some((url, data)) = args.cluster.target(&args.source.project)? {
        let model = args.options.model.as_deref();
        return on_cluster::explain(url, data, args.source.table.into(), &text, &options, model).await;
    }
    let engine = args.source.project.open()?;
    let e = engine
        .explain(
            args.source.table.into(),
            &text,
            &options,
            args.options.model.as_deref(),
        )
        .await?;
    print_warnings(&text, &e.warnings);
    let mut out = std::io::stdout().lock();
    writeln!(out, "Checked query:\n  {}\n", e.checked)?;
    writeln!(out, "Logical plan:\n{}\n", indent(&e.logical))?;
    writeln!(out, "Optimized logical plan:\n{}\n", indent(&e.optimized))?;
    writeln!(out, "Physical plan:\n{}", indent(&e.physical))?;
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn schema(args: SchemaArgs) -> Result<(), Failure> {
    let engine = args.source.project.open()?;
    let kind: ObjectKind = args.source.table.into();
    let attributes = engine
        .attributes(kind)
        .ok_or_else(|| Failure::Usage(format!("error: the project has no {} table\n", kind.table_name())))?;
    let total = engine.num_objects(kind).unwrap_or(0);
    output::print_schema(
        engine.kind(),
        kind.table_name(),
        total,
        &attributes,
        std::io::stdout().is_terminal(),
    )?;
    Ok(())
}

fn bench(args: BenchArgs) -> Result<(), Failure> {
    let mut queries = Vec::new();
    if let Some(path) = &args.queries {
        let text = if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)?;
            utf8("standard input", bytes)?
        } else {
            let bytes = std::fs::read(path)
                .map_err(|e| Failure::Other(format!("error: {}: {e}\n", path.display())))?;
            utf8(&path.display().to_string(), bytes)?
        };
        queries = bench::read_queries(&text);
    }
    queries.extend(
        args.query
            .iter()
            .enumerate()
            .map(|(i, q)| (format!("arg{}", i + 1), q.clone())),
    );
    if queries.is_empty() {
        return Err(Failure::Usage(
            "error: give queries as arguments or with --queries FILE\n".into(),
        ));
    }
    let started = std::time::Instant::now();
    let engine = args.project.open()?;
    let load_time = started.elapsed();
    let options = args.order.apply(FetchOptions {
        columns: Some(args.columns.clone()),
        now: args.now,
        ..FetchOptions::default()
    });
    if let Some(dir) = &args.ids_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Other(format!("error: {}: {e}\n", dir.display())))?;
    }
    run(bench::run(
        engine,
        load_time,
        queries,
        options,
        bench::Settings {
            iterations: args.iterations.max(1),
            json: args.json,
            ids_dir: args.ids_dir.clone(),
        },
    ))
}

fn index(args: IndexArgs) -> Result<(), Failure> {
    if args.cluster.cluster.is_some() {
        return run(summarize(SummarizeArgs {
            data: args.data,
            bucket: Vec::new(),
            cluster: args.cluster,
        }));
    }
    let options = LoadOptions {
        progress: output::progress_bar(),
        index: args.index_dir.map_or(IndexLocation::Project, IndexLocation::Dir),
        source: SourceOptions {
            project: args.project,
            files: args.files,
            experiments: args.experiment,
        },
        warn: Some(std::sync::Arc::new(|w: &str| eprintln!("warning: {w}"))),
        ..LoadOptions::default()
    };
    let started = std::time::Instant::now();
    let report = Engine::build_index(&args.data, &options, args.rebuild)?;
    let seconds = started.elapsed().as_secs_f64();
    let mut err = std::io::stderr().lock();
    if report.built {
        writeln!(
            err,
            "indexed {} in {seconds:.2}s: {} series files summarized, {} kept, {} dropped; index at {}",
            args.data.display(),
            report.summarized,
            report.reused,
            report.removed,
            report.dir.display()
        )?;
    } else {
        writeln!(
            err,
            "the index of {} is up to date ({} series files); index at {}",
            args.data.display(),
            report.reused,
            report.dir.display()
        )?;
    }
    Ok(())
}

fn convert(args: ConvertArgs) -> Result<(), Failure> {
    let Some(data) = &args.project.data else {
        return Err(Failure::Usage("error: convert needs --data PATH\n".into()));
    };
    let options = LoadOptions {
        progress: output::progress_bar(),
        source: args.project.source(),
        warn: Some(std::sync::Arc::new(|w: &str| eprintln!("warning: {w}"))),
        ..LoadOptions::default()
    };
    let report = Engine::convert(data, &args.out, &options)?;
    let mut err = std::io::stderr().lock();
    let objects: Vec<String> = report.objects.iter().map(|(t, n)| format!("{n} {t}")).collect();
    writeln!(
        err,
        "wrote {}, {} float points, {} string entries in {} files to {}",
        objects.join(", "),
        report.float_points,
        report.string_entries,
        report.files.len(),
        args.out.display()
    )?;
    for left in &report.left_out {
        writeln!(err, "left out: {left}")?;
    }
    Ok(())
}

fn partition(args: PartitionArgs) -> Result<(), Failure> {
    let Some(data) = &args.project.data else {
        return Err(Failure::Usage("error: partition needs --data PATH\n".into()));
    };
    if args.buckets == 0 || args.buckets > engine::bucketed::MAX_BUCKETS {
        return Err(Failure::Usage(format!(
            "error: --buckets {}: give 1 to {}\n",
            args.buckets,
            engine::bucketed::MAX_BUCKETS
        )));
    }
    let options = LoadOptions {
        progress: output::progress_bar(),
        source: args.project.source(),
        warn: Some(std::sync::Arc::new(|w: &str| eprintln!("warning: {w}"))),
        ..LoadOptions::default()
    };
    let report = if args.no_summaries {
        engine::bucketed::split(data, &args.out, args.buckets, &options)?
    } else {
        engine::bucketed::partition(data, &args.out, args.buckets, &options)?
    };
    let objects: Vec<String> = report.objects.iter().map(|(t, n)| format!("{n} {t}")).collect();
    writeln!(
        std::io::stderr().lock(),
        "wrote {} and {} series points in {} buckets ({} files) to {}",
        objects.join(", "),
        report.points,
        report.buckets,
        report.files.len(),
        args.out.display()
    )?;
    Ok(())
}

async fn summarize(args: SummarizeArgs) -> Result<(), Failure> {
    if let Some(url) = &args.cluster.cluster {
        let report = on_cluster::summarize(url, &args.data).await?;
        let objects: u64 = report.iter().map(|(_, _, n)| n).sum();
        let files: u32 = report.iter().map(|(_, f, _)| f).sum();
        writeln!(
            std::io::stderr().lock(),
            "the cluster summarized {} buckets: {objects} objects in {files} files",
            report.len()
        )?;
        return Ok(());
    }
    let buckets = match args.bucket.is_empty() {
        true => engine::bucketed::buckets(&args.data)?,
        false => args.bucket.clone(),
    };
    let options = LoadOptions {
        progress: output::progress_bar(),
        ..LoadOptions::default()
    };
    let mut files = 0;
    for &bucket in &buckets {
        files += engine::bucketed::summarize_bucket(&args.data, bucket, &options)?.len();
    }
    writeln!(
        std::io::stderr().lock(),
        "summarized {} buckets into {files} files",
        buckets.len()
    )?;
    Ok(())
}

fn generate(args: GenerateArgs) -> Result<(), Failure> {
    let version = match args.format {
        GenerateFormat::Native => return generate_native(args),
        GenerateFormat::Neptune2 => datasets::neptune_export::NeptuneVersion::V2,
        GenerateFormat::Neptune3 => datasets::neptune_export::NeptuneVersion::V3,
    };
    generate_export(args, version)
}

fn generate_native(args: GenerateArgs) -> Result<(), Failure> {
    for (flag, given) in [
        ("--project", args.project.is_some()),
        ("--experiments", args.experiments.is_some()),
    ] {
        if given {
            return Err(Failure::Usage(format!(
                "error: {flag} is for exports (--format neptune2 or neptune3)\n"
            )));
        }
    }
    let mut spec = datasets::generate::ProjectSpec {
        runs: args.runs,
        models: args.models.unwrap_or(10),
        model_versions: args.model_versions.unwrap_or(100),
        float_series_per_run: args.series,
        points_per_series: args.points,
        extra_attributes: args.extra_attributes,
        nan_rate: args.nan_rate,
        seed: args.seed,
        key: args.key.clone(),
        runs_per_file: args.runs_per_file.unwrap_or(250_000),
        threads: args.threads,
        ..datasets::generate::ProjectSpec::default()
    };
    if args.full {
        spec.early_stop_rate = 0.0;
        spec.failed_rate = 0.0;
        spec.no_series_rate = 0.0;
        spec.active_rate = 0.0;
    }
    let bar = output::generation_bar(args.runs);
    let summary = datasets::generate::generate_to_dir(&spec, &args.out, |p| bar.set_position(p.runs_done))
        .map_err(|e| match e {
            datasets::generate::GenerateError::InvalidSpec(m) => Failure::Usage(format!("error: {m}\n")),
            other => Failure::Other(format!("error: {other}\n")),
        })?;
    bar.finish_and_clear();
    eprintln!(
        "wrote {} runs, {} models, {} model versions, {} float points, {} string entries in {} files to {}",
        summary.runs,
        summary.models,
        summary.model_versions,
        summary.float_points,
        summary.string_entries,
        summary.files.len(),
        args.out.display()
    );
    Ok(())
}

/// `nql generate --format neptune2|neptune3`: the datasets crate's export writer, with the
/// flags of a native project mapped onto its spec.
fn generate_export(
    args: GenerateArgs,
    version: datasets::neptune_export::NeptuneVersion,
) -> Result<(), Failure> {
    use datasets::neptune_export::{ExportError, ExportSpec, NeptuneVersion};
    let usage = |m: &str| Err(Failure::Usage(format!("error: {m}\n")));
    if args.runs_per_file.is_some() {
        return usage("--runs-per-file is for native projects: an export has one run per file");
    }
    let v3 = version == NeptuneVersion::V3;
    if v3 && (args.models.is_some() || args.model_versions.is_some()) {
        return usage("only neptune2 exports have a model registry (--models, --model-versions)");
    }
    if !v3 && args.experiments.is_some() {
        return usage("--experiments is for neptune3 exports: Neptune 2.x has no experiments");
    }
    let mut spec = if v3 {
        ExportSpec::neptune3()
    } else {
        ExportSpec {
            models: args.models.unwrap_or(10),
            model_versions: args.model_versions.unwrap_or(100),
            ..ExportSpec::neptune2()
        }
    };
    spec.runs = args.runs;
    spec.float_series_per_run = args.series;
    spec.points_per_series = args.points;
    spec.extra_parameters = args.extra_attributes;
    spec.nan_rate = args.nan_rate;
    spec.seed = args.seed;
    spec.key = args.key.clone();
    spec.threads = args.threads;
    if let Some(project) = &args.project {
        spec.project_id = project.clone();
    }
    if let Some(n) = args.experiments {
        spec.experiments = n;
    }
    if args.full {
        spec.failed_rate = 0.0;
    }
    let bar = output::generation_bar(args.runs);
    let summary = datasets::neptune_export::write_export(&spec, &args.out, |p| bar.set_position(p.runs_done))
        .map_err(|e| match e {
            ExportError::InvalidSpec(m) => Failure::Usage(format!("error: {m}\n")),
            other => Failure::Other(format!("error: {other}\n")),
        })?;
    bar.finish_and_clear();
    let objects = if v3 {
        format!(
            "{} runs ({} experiments, {} forks)",
            summary.runs, summary.experiments, summary.forks
        )
    } else {
        format!(
            "{} runs, {} models, {} model versions",
            summary.runs, summary.models, summary.model_versions
        )
    };
    eprintln!(
        "wrote a Neptune {} export of {}: {objects}, {} float points, {} string entries in {} Parquet files to {}; query it with --data {}",
        if v3 { "3.x" } else { "2.x" },
        spec.project_id,
        summary.float_points,
        summary.string_entries,
        summary.parquet_files,
        summary.project_dir.display(),
        args.out.join("data").display(),
    );
    Ok(())
}

/// `nql serve`: opens the project once, then serves it until stopped.
async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let engine = args.project.open()?;
    let kind = engine.kind().to_string();
    let runs = engine.num_objects(ObjectKind::Runs).unwrap_or(0);
    let addr = std::net::SocketAddr::new(args.host, args.port);
    let open = args.open;
    serve::run(engine, addr, move |bound| {
        let url = format!("http://{bound}/");
        let reach = if bound.ip().is_loopback() {
            "this machine only (--host 0.0.0.0 to serve others)"
        } else {
            "every machine that can reach this one"
        };
        eprintln!("nql serve: {kind}, {runs} runs; listening on {url} for {reach}; Ctrl-C stops it");
        if open {
            let opener = if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            };
            if let Err(e) = std::process::Command::new(opener).arg(&url).spawn() {
                eprintln!("warning: cannot open a browser ({opener}: {e}); open {url}");
            }
        }
    })
    .await
}
