//! A Ballista cluster inside this process: a scheduler and executors as tasks of the
//! current tokio runtime, talking gRPC over loopback ports the system picks. It runs the
//! code the `nql-scheduler` and `nql-executor` binaries run, and lives as long as the
//! runtime does.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::{BallistaCodec, BallistaLogicalExtensionCodec};
use ballista_core::utils::default_config_producer;
use ballista_core::{ConfigProducer, RuntimeProducer};

use crate::BallistaFunctionRegistry;
use crate::error::ClusterError;
use crate::summarize::NqlPhysicalCodec;

/// Ballista's codecs, with ours for the summarize job ([`crate::SummarizeExec`]).
fn codec() -> BallistaCodec {
    BallistaCodec::new(
        Arc::new(BallistaLogicalExtensionCodec::default()),
        Arc::new(NqlPhysicalCodec::default()),
    )
}

/// A scheduler and executors running in this process (see the module docs).
#[derive(Debug, Clone)]
pub struct LocalCluster {
    scheduler: SocketAddr,
}

impl LocalCluster {
    /// Starts a scheduler and `executors` executors (0: a scheduler alone, whose jobs wait
    /// for executors that never come) of `vcores` task slots each, whose
    /// executors resolve functions in `registry()` ([`crate::function_registry`] for ours).
    /// The scheduler plans each job with the settings its client sends (partitions,
    /// adaptive planning).
    pub async fn start(
        executors: usize,
        vcores: usize,
        registry: impl Fn() -> BallistaFunctionRegistry,
    ) -> Result<LocalCluster, ClusterError> {
        let start = |e: &dyn std::fmt::Display| ClusterError::Start(e.to_string());
        let scheduler = ballista_scheduler::standalone::new_standalone_scheduler_with_builder(
            Arc::new(crate::scheduler_session),
            Arc::new(default_config_producer),
            codec(),
        )
        .await
        .map_err(|e| start(&e))?;
        let cluster = LocalCluster { scheduler };
        let config: ConfigProducer = Arc::new(default_config_producer);
        let runtime: RuntimeProducer = Arc::new(|_| Ok(crate::runtime_env()));
        for _ in 0..executors {
            let client = cluster.client().await?;
            ballista_executor::new_standalone_executor_from_builder(
                client,
                vcores.max(1),
                Arc::clone(&config),
                Arc::clone(&runtime),
                codec(),
                registry(),
            )
            .await
            .map_err(|e| start(&e))?;
        }
        Ok(cluster)
    }

    /// The cluster's address for clients: `df://localhost:PORT`.
    pub fn url(&self) -> String {
        format!("df://localhost:{}", self.scheduler.port())
    }

    /// The state the scheduler reports for a job: `queued`, `running`, `failed` (a
    /// cancelled job too), `successful`, or `unknown` when it knows no such job.
    pub async fn job_state(&self, job_id: &str) -> Result<&'static str, ClusterError> {
        use ballista_core::serde::protobuf::GetJobStatusParams;
        use ballista_core::serde::protobuf::job_status::Status;
        let status = self
            .client()
            .await?
            .get_job_status(GetJobStatusParams {
                job_id: job_id.to_string(),
            })
            .await
            .map_err(|e| ClusterError::Unreachable {
                url: self.url(),
                problem: e.to_string(),
            })?
            .into_inner()
            .status
            .and_then(|s| s.status);
        Ok(match status {
            Some(Status::Queued(_)) => "queued",
            Some(Status::Running(_)) => "running",
            Some(Status::Failed(_)) => "failed",
            Some(Status::Successful(_)) => "successful",
            None => "unknown",
        })
    }

    async fn client(&self) -> Result<SchedulerGrpcClient<tonic::transport::Channel>, ClusterError> {
        let url = format!("http://localhost:{}", self.scheduler.port());
        // The scheduler's server task may not accept connections yet.
        let mut last = String::new();
        for _ in 0..100 {
            match SchedulerGrpcClient::connect(url.clone()).await {
                Ok(client) => return Ok(client),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Err(ClusterError::Unreachable { url, problem: last })
    }
}
