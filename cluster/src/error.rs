//! Why a cluster could not be reached or a project opened on it. A query's own errors are
//! [`engine::QueryError`]s, as in one process.

use datafusion::error::DataFusionError;
use engine::LoadError;

/// Why connecting to a cluster, starting one, or opening a project on it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The project's summary files cannot be used (missing, unreadable, inconsistent).
    #[error(transparent)]
    Project(#[from] LoadError),
    /// The cluster's URL is not `df://HOST:PORT`.
    #[error("`{url}` is not a cluster address: write df://HOST:PORT")]
    BadUrl { url: String },
    /// No scheduler answered at the address.
    #[error("no scheduler answers at {url}: {problem}")]
    Unreachable { url: String, problem: String },
    /// An in-process scheduler or executor did not start.
    #[error("starting the cluster: {0}")]
    Start(String),
    /// DataFusion or Ballista refused the session or the tables.
    #[error("setting up the session: {0}")]
    DataFusion(#[from] DataFusionError),
}
