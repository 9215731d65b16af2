//! NQL on a DataFusion Ballista cluster: the same queries, planned as the single-process
//! engine plans them, run by Ballista over a bucketed project's summary files
//! (`engine::bucketed`, `nql partition`). See docs/cluster.md.
//!
//! * [`Distributed`]: a client of a cluster (`df://host:port`) over one bucketed project:
//!   [`Distributed::fetch`] answers a query as [`engine::Engine::fetch`] does, and
//!   [`Distributed::explain`] shows the plan the cluster runs.
//! * [`summarize_on`]: the index built on the cluster, a task per bucket, map-only
//!   ([`SummarizeExec`], carried by [`NqlPhysicalCodec`]).
//! * [`LocalCluster`]: a scheduler and executors in this process, on loopback ports (tests,
//!   trying things out).
//! * [`session_state`] and [`function_registry`]: what the client, our scheduler and our
//!   executors (the `nql-scheduler` and `nql-executor` binaries) plan and run with. The
//!   stock `ballista-executor` lacks the nested functions (`array_has`) that `stringSet
//!   CONTAINS` lowers to; ours has every function of DataFusion's default session.
//!
//! This crate is not a default member of the workspace: Ballista brings a gRPC stack and
//! DataFusion's default features, which `cargo build` of the command line never compiles.

mod distributed;
mod error;
mod local;
pub mod stores;
mod summarize;

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::prelude::SessionConfig;

pub use ballista::prelude::SessionConfigExt;
pub use ballista_core::registry::BallistaFunctionRegistry;
pub use distributed::{ClusterExplanation, Distributed};
pub use error::ClusterError;
pub use local::LocalCluster;
pub use summarize::{NqlPhysicalCodec, SummarizeExec, SummarizeReport, summarize_on, summary_report_schema};

/// How a scheduler hands tasks to executors (the flag `--scheduling-policy` of both
/// binaries, which must agree).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SchedulingPolicy {
    /// The scheduler sends each task to an executor with a free slot (lower latency).
    PushStaged,
    /// Executors ask the scheduler for tasks.
    PullStaged,
}

impl From<SchedulingPolicy> for ballista_core::config::TaskSchedulingPolicy {
    fn from(policy: SchedulingPolicy) -> Self {
        match policy {
            SchedulingPolicy::PushStaged => ballista_core::config::TaskSchedulingPolicy::PushStaged,
            SchedulingPolicy::PullStaged => ballista_core::config::TaskSchedulingPolicy::PullStaged,
        }
    }
}

/// A session configuration for Ballista (`SessionConfig::new_with_ballista`): set
/// `target_partitions`, `with_ballista_adaptive_query_planner` and the like on it.
pub fn ballista_config() -> SessionConfig {
    SessionConfig::new_with_ballista()
}

/// The session a client plans with, and a scheduler plans jobs with: DataFusion's default
/// features (every function, the default optimizer) over `config`.
pub fn session_state(config: SessionConfig) -> SessionState {
    SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_runtime_env(runtime_env())
        .build()
}

/// A scheduler's session: Ballista's own (its optimizer rules and functions) with
/// [`runtime_env`], so that it lists an `s3://` project's files.
pub fn scheduler_session(config: SessionConfig) -> datafusion::common::Result<SessionState> {
    let state = ballista_core::utils::default_session_builder(config)?;
    Ok(SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(runtime_env())
        .build())
}

/// The runtime of every session of a cluster (the client's, the scheduler's, the
/// executors'): DataFusion's defaults with our object stores ([`stores::ObjectStores`]).
/// Making one fails only when the OS's temporary directory cannot be used; then the plain
/// defaults serve, and an `s3://` URL is refused as unknown.
pub fn runtime_env() -> std::sync::Arc<datafusion::execution::runtime_env::RuntimeEnv> {
    stores::runtime_env().unwrap_or_default()
}

/// The functions our executors resolve plans' function names in: every scalar, aggregate,
/// window and higher-order function of DataFusion's default session, nested ones
/// (`array_has`) included.
pub fn function_registry() -> BallistaFunctionRegistry {
    BallistaFunctionRegistry::from(&session_state(SessionConfig::new()))
}
