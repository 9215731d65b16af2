//! The engine's errors: loading a project, and answering a query.

use std::path::PathBuf;

use datafusion::error::DataFusionError;
use nql::Diagnostics;

/// Why a project could not be loaded. Every variant names the file and, where there is one,
/// the column and the offending value. A failed load leaves nothing half-loaded behind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The project has no runs table.
    #[error("{dir}: no runs table (expected runs.parquet or a runs/ directory of Parquet files)")]
    MissingRuns { dir: PathBuf },
    /// A file could not be read at all.
    #[error("{file}: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid Parquet, or is truncated or corrupt.
    #[error("{file}: not a readable Parquet file: {message}")]
    Parquet { file: PathBuf, message: String },
    /// A column of an object table that the engine cannot use.
    #[error("{file}: column `{column}`: {problem}")]
    Column {
        file: PathBuf,
        column: String,
        problem: String,
    },
    /// An object table without a `sys/id` column.
    #[error("{file}: no `sys/id` column: every object table needs one")]
    MissingId { file: PathBuf },
    /// A null `sys/id`.
    #[error("{file}: column `sys/id`: row {row} is null")]
    NullId { file: PathBuf, row: usize },
    /// The same `sys/id` twice in the project.
    #[error("{file}: column `sys/id`: `{id}` appears twice (also in {other})")]
    DuplicateId {
        file: PathBuf,
        id: String,
        other: PathBuf,
    },
    /// A series point whose `sys/id` names no object.
    #[error("{file}: column `sys/id`: `{id}` names no run, model or model version")]
    UnknownObject { file: PathBuf, id: String },
    /// A series table column that is missing, mistyped or null where it may not be.
    #[error("{file}: column `{column}`: {problem}")]
    SeriesColumn {
        file: PathBuf,
        column: String,
        problem: String,
    },
    /// The project would not fit the configured memory limit.
    #[error("loading needs about {needed} bytes of memory, more than the limit of {limit} bytes")]
    MemoryLimit { needed: u64, limit: u64 },
    /// A file of a foreign source (a Neptune export, an MLflow store) that cannot be used:
    /// `problem` names the table, column, key or line.
    #[error("{path}: {problem}")]
    Source { path: PathBuf, problem: String },
    /// What to open is not clear (an export of several projects and none chosen, an
    /// unknown project or experiment): a mistake of the caller, listing the choices.
    #[error("{0}")]
    Choice(String),
    /// The project index cannot be read or written.
    #[error("{path}: the project index: {problem}")]
    Index { path: PathBuf, problem: String },
    /// DataFusion refused the loaded tables (a bug rather than a data problem).
    #[error("registering the tables: {0}")]
    DataFusion(#[from] DataFusionError),
}

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The query text is not valid NQL for this table: render the diagnostics against it.
    #[error("invalid query: {diagnostics}")]
    Invalid { query: String, diagnostics: Diagnostics },
    /// An option that names something the table does not have (a column, a sort key, a model).
    #[error("{0}")]
    BadOption(String),
    /// The table was asked for but the project has none.
    #[error("the project has no {0} table")]
    NoSuchTable(&'static str),
    /// Execution failed.
    #[error("executing the query: {0}")]
    Execution(#[from] DataFusionError),
    /// A foreign source's file could not be read again (raw series points are read from
    /// the source when asked for): the message names the file and the problem.
    #[error("reading the source: {0}")]
    Source(String),
    /// The query's [`crate::CancelToken`] was cancelled before it finished.
    #[error("the query was cancelled")]
    Cancelled,
    /// The query ran longer than [`crate::FetchOptions::timeout`].
    #[error("the query took longer than its timeout of {timeout:?}")]
    TimedOut { timeout: std::time::Duration },
}

impl QueryError {
    /// True for errors in what the caller asked (the query or the options), as opposed to
    /// failures while running it. The command line exits with 2 for these.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            QueryError::Invalid { .. } | QueryError::BadOption(_) | QueryError::NoSuchTable(_)
        )
    }

    /// The message to show a person: diagnostics rendered with carets under the query.
    pub fn render(&self, color: bool) -> String {
        match self {
            QueryError::Invalid { query, diagnostics } => diagnostics.render(query, color),
            other => format!("error: {other}\n"),
        }
    }
}
