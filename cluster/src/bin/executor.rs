//! `nql-executor`: a Ballista executor for NQL clusters (docs/cluster.md). It runs the
//! tasks its scheduler gives it, resolving functions in DataFusion's whole default registry
//! (the stock `ballista-executor` lacks the nested functions `stringSet CONTAINS` needs),
//! and serves their results over Arrow Flight.

use std::process::ExitCode;
use std::sync::Arc;

use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use clap::Parser;
use cluster::SchedulingPolicy;

/// A Ballista executor for NQL queries.
#[derive(Debug, Parser)]
#[command(name = "nql-executor", version, about, max_term_width = 100)]
struct Args {
    /// The scheduler's host.
    #[arg(long, default_value = "localhost")]
    scheduler_host: String,
    /// The scheduler's port.
    #[arg(long, default_value_t = 50050)]
    scheduler_port: u16,
    /// The address to listen on (0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    bind_host: String,
    /// The host name the scheduler and clients reach this executor by [default: the bind host].
    #[arg(long)]
    external_host: Option<String>,
    /// The Arrow Flight port clients and other executors fetch results from.
    #[arg(long, short = 'p', default_value_t = 50051)]
    port: u16,
    /// The gRPC port the scheduler pushes tasks to (push-staged).
    #[arg(long, default_value_t = 50052)]
    grpc_port: u16,
    /// Tasks run at once [default: one per core].
    #[arg(long, short = 'c', default_value_t = 0)]
    vcores: usize,
    /// Where intermediate (shuffle) files go [default: a temporary directory].
    #[arg(long, value_name = "DIR")]
    work_dir: Option<String>,
    /// How tasks reach this executor: as the scheduler was started.
    #[arg(long, value_enum, default_value_t = SchedulingPolicy::PushStaged)]
    scheduling_policy: SchedulingPolicy,
    /// The largest gRPC message, in bytes, in either direction.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    max_message_size: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = ExecutorProcessConfig {
        scheduler_host: args.scheduler_host,
        scheduler_port: args.scheduler_port,
        external_host: Some(args.external_host.unwrap_or_else(|| args.bind_host.clone())),
        bind_host: args.bind_host,
        port: args.port,
        grpc_port: args.grpc_port,
        vcores: args.vcores,
        work_dir: args.work_dir,
        task_scheduling_policy: args.scheduling_policy.into(),
        grpc_max_decoding_message_size: args.max_message_size,
        grpc_max_encoding_message_size: args.max_message_size,
        print_thread_info: false,
        override_function_registry: Some(Arc::new(cluster::function_registry())),
        override_physical_codec: Some(Arc::new(cluster::NqlPhysicalCodec::default())),
        // Our object stores: s3:// projects (docs/cluster.md).
        override_runtime_producer: Some(Arc::new(|_| Ok(cluster::runtime_env()))),
        ..ExecutorProcessConfig::default()
    };
    eprintln!(
        "nql-executor on {}:{} for the scheduler at {}:{}",
        config.bind_host, config.port, config.scheduler_host, config.scheduler_port
    );
    match start_executor_process(Arc::new(config)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
