//! `--cluster df://HOST:PORT` for `query` and `explain`: the query runs on a Ballista cluster
//! over a project written by `nql partition` (docs/cluster.md). Only an `nql` built with the
//! `cluster` feature (`cargo build -p nql-cli --features cluster`) has it: the default build
//! compiles no Ballista.

use std::path::Path;

use datasets::layout::ObjectKind;
use engine::{FetchOptions, QueryResult};

use super::Failure;

#[cfg(feature = "cluster")]
async fn connect(url: &str, data: &Path) -> Result<cluster::Distributed, Failure> {
    cluster::Distributed::connect(url, data, cluster::ballista_config())
        .await
        .map_err(|e| match e {
            cluster::ClusterError::BadUrl { .. } => Failure::Usage(format!("error: {e}\n")),
            e => Failure::Other(format!("error: {e}\n")),
        })
}

/// Runs a query on the cluster at `url`; Ctrl-C cancels the job there, as does the timeout.
#[cfg(feature = "cluster")]
pub async fn fetch(
    url: &str,
    data: &Path,
    kind: ObjectKind,
    query: &str,
    options: FetchOptions,
    model: Option<&str>,
) -> Result<QueryResult, Failure> {
    let dist = connect(url, data).await?;
    let token = engine::CancelToken::new();
    let interrupt = token.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupt.cancel();
        }
    });
    let options = FetchOptions {
        cancel: Some(token),
        ..options
    };
    let result = dist.fetch(kind, query, &options, model).await;
    if result.is_err()
        && let Some(job) = dist.last_cancelled_job()
    {
        eprintln!("the job {job} was cancelled on the cluster");
    }
    Ok(result?)
}

/// Prints the checked query, the plans and the stages the cluster runs.
#[cfg(feature = "cluster")]
pub async fn explain(
    url: &str,
    data: &Path,
    kind: ObjectKind,
    query: &str,
    options: &FetchOptions,
    model: Option<&str>,
) -> Result<(), Failure> {
    use std::io::Write;
    let dist = connect(url, data).await?;
    let e = dist.explain(kind, query, options, model).await?;
    super::print_warnings(query, &e.warnings);
    let mut out = std::io::stdout().lock();
    writeln!(out, "Checked query:\n  {}\n", e.checked)?;
    writeln!(out, "Logical plan:\n{}\n", super::indent(&e.logical))?;
    writeln!(out, "Optimized logical plan:\n{}\n", super::indent(&e.optimized))?;
    for (i, stage) in e.stages.iter().enumerate() {
        writeln!(
            out,
            "Stage {} of {} on the cluster:\n{}\n",
            i + 1,
            e.stages.len(),
            super::indent(stage)
        )?;
    }
    Ok(())
}

/// Summarizes every bucket on the cluster: (bucket, files written, objects), by bucket.
#[cfg(feature = "cluster")]
pub async fn summarize(url: &str, data: &Path) -> Result<Vec<(u32, u32, u64)>, Failure> {
    let report = cluster::summarize_on(url, data, cluster::ballista_config())
        .await
        .map_err(|e| match e {
            cluster::ClusterError::BadUrl { .. } => Failure::Usage(format!("error: {e}\n")),
            e => Failure::Other(format!("error: {e}\n")),
        })?;
    Ok(report.buckets)
}

#[cfg(not(feature = "cluster"))]
pub async fn summarize(_url: &str, _data: &Path) -> Result<Vec<(u32, u32, u64)>, Failure> {
    Err(not_built())
}

#[cfg(not(feature = "cluster"))]
fn not_built() -> Failure {
    Failure::Usage(
        "error: --cluster: this nql was built without cluster support; build it with \
         `cargo build --release -p nql-cli --features cluster` (docs/cluster.md)\n"
            .into(),
    )
}

#[cfg(not(feature = "cluster"))]
pub async fn fetch(
    _url: &str,
    _data: &Path,
    _kind: ObjectKind,
    _query: &str,
    _options: FetchOptions,
    _model: Option<&str>,
) -> Result<QueryResult, Failure> {
    Err(not_built())
}

#[cfg(not(feature = "cluster"))]
pub async fn explain(
    _url: &str,
    _data: &Path,
    _kind: ObjectKind,
    _query: &str,
    _options: &FetchOptions,
    _model: Option<&str>,
) -> Result<(), Failure> {
    Err(not_built())
}
