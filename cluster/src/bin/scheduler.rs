//! `nql-scheduler`: a Ballista scheduler for NQL clusters (docs/cluster.md). Clients
//! (`nql query --cluster df://HOST:PORT`, `cluster::Distributed`) send it plans; it splits
//! them into stages and hands their tasks to `nql-executor`s.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use clap::Parser;
use cluster::SchedulingPolicy;

/// A Ballista scheduler for NQL queries.
#[derive(Debug, Parser)]
#[command(name = "nql-scheduler", version, about, max_term_width = 100)]
struct Args {
    /// The address to listen on (0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    bind_host: String,
    /// The port clients and executors connect to (gRPC).
    #[arg(long, short = 'p', default_value_t = 50050)]
    port: u16,
    /// The host name executors and clients reach this scheduler by [default: the bind host].
    #[arg(long)]
    external_host: Option<String>,
    /// How tasks reach executors; the executors must be started with the same policy.
    #[arg(long, value_enum, default_value_t = SchedulingPolicy::PushStaged)]
    scheduling_policy: SchedulingPolicy,
    /// The largest gRPC message, in bytes, in either direction (the plans of very large
    /// queries).
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    max_message_size: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let address: SocketAddr = match format!("{}:{}", args.bind_host, args.port).parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: --bind-host {} --port {}: {e}", args.bind_host, args.port);
            return ExitCode::from(2);
        }
    };
    let config = SchedulerConfig {
        bind_host: args.bind_host.clone(),
        bind_port: args.port,
        external_host: args.external_host.unwrap_or(args.bind_host),
        scheduling_policy: args.scheduling_policy.into(),
        grpc_server_max_decoding_message_size: args.max_message_size,
        grpc_server_max_encoding_message_size: args.max_message_size,
        grpc_client_max_message_size: args.max_message_size,
        override_physical_codec: Some(Arc::new(cluster::NqlPhysicalCodec::default())),
        // Ballista's sessions with our object stores: it lists an s3:// project's files.
        override_session_builder: Some(Arc::new(cluster::scheduler_session)),
        ..SchedulerConfig::default()
    };
    let result = async {
        let cluster = BallistaCluster::new_from_config(&config).await?;
        eprintln!("nql-scheduler listening on {address}");
        ballista_scheduler::scheduler_process::start_server(cluster, address, Arc::new(config)).await
    };
    match result.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
