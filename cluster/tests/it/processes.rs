//! A cluster of separate processes on 127.0.0.1, started and stopped by the tests: an
//! `nql-scheduler` and two `nql-executor`s. Queries give the answers of one process; an
//! executor killed while queries run gives errors or correct answers, never wrong ones.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cluster::{ClusterError, Distributed, ballista_config};
use engine::{FetchOptions, QueryError};

use crate::common::{Answer, answer, bucketed, cases, differences, local_engine};

/// A port nothing listens on now (the system's pick, released for the process to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Child processes, killed when dropped.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(bin: &str, args: &[String]) -> Child {
    Command::new(bin)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin}: {e}"))
}

/// Starts a scheduler and two executors; returns them and the cluster's URL.
fn start(work: &std::path::Path) -> (Processes, String) {
    let port = free_port();
    let scheduler = spawn(
        env!("CARGO_BIN_EXE_nql-scheduler"),
        &[
            "--bind-host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
        ],
    );
    let mut children = vec![scheduler];
    for n in 0..2 {
        let dir = work.join(format!("executor-{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        children.push(spawn(
            env!("CARGO_BIN_EXE_nql-executor"),
            &[
                "--scheduler-host".into(),
                "127.0.0.1".into(),
                "--scheduler-port".into(),
                port.to_string(),
                "--bind-host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                free_port().to_string(),
                "--grpc-port".into(),
                free_port().to_string(),
                "--vcores".into(),
                "2".into(),
                "--work-dir".into(),
                dir.display().to_string(),
            ],
        ));
    }
    (Processes(children), format!("df://127.0.0.1:{port}"))
}

/// Waits until the scheduler accepts connections (it takes a moment to start).
async fn reachable(url: &str) {
    for _ in 0..200 {
        match Distributed::connect(url, bucketed(), ballista_config()).await {
            Ok(_) => return,
            Err(ClusterError::Unreachable { .. }) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no scheduler at {url} after 10 s");
}

/// Connects once the scheduler accepts connections.
async fn connect(url: &str) -> Distributed {
    reachable(url).await;
    Distributed::connect(url, bucketed(), ballista_config().with_target_partitions(8))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_and_two_executor_processes_answer_as_one_process_does() {
    let work = tempfile::tempdir().unwrap();
    let (_processes, url) = start(work.path());
    // The executors summarize the buckets, then answer queries over what they wrote.
    let project = work.path().join("bucketed");
    let in_memory = engine::LoadOptions {
        index: engine::IndexLocation::None,
        ..engine::LoadOptions::default()
    };
    engine::bucketed::split(
        &crate::common::conformance_dir().join("data"),
        &project,
        8,
        &in_memory,
    )
    .unwrap();
    reachable(&url).await;
    let report = cluster::summarize_on(&url, &project, ballista_config())
        .await
        .unwrap();
    assert_eq!(report.buckets.len(), 8, "{report:?}");
    let dist = Distributed::connect(&url, &project, ballista_config().with_target_partitions(8))
        .await
        .unwrap();
    // A sample of the suite: every fourth case (the in-process clusters run all of them).
    let sample: Vec<_> = cases().into_iter().step_by(4).collect();
    let differences = differences(&dist, &sample).await;
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_killed_while_queries_run_gives_errors_or_right_answers() {
    let work = tempfile::tempdir().unwrap();
    let (mut processes, url) = start(work.path());
    let dist = connect(&url).await;
    let options = FetchOptions {
        timeout: Some(Duration::from_secs(10)),
        ..FetchOptions::default()
    };
    let query = "`sys/failed`:bool = false";
    let expected = answer(
        local_engine()
            .fetch_runs_table(query, &FetchOptions::default())
            .await,
    );
    assert!(matches!(&expected, Answer::Ids(ids) if !ids.is_empty()));
    // Both executors take part before one is killed.
    assert_eq!(answer(dist.fetch_runs_table(query, &options).await), expected);
    let queries = async {
        let mut answers = Vec::new();
        for _ in 0..8 {
            answers.push(dist.fetch_runs_table(query, &options).await);
        }
        answers
    };
    let kill = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        processes.0[2].kill().unwrap();
        processes.0[2].wait().unwrap();
    };
    let (answers, ()) = tokio::join!(queries, kill);
    let mut right = 0;
    let mut failed = Vec::new();
    for result in answers {
        match result {
            Ok(r) => {
                assert_eq!(
                    Answer::Ids(r.ids()),
                    expected,
                    "a wrong answer after an executor died"
                );
                right += 1;
            }
            Err(e @ (QueryError::Execution(_) | QueryError::TimedOut { .. })) => failed.push(e.to_string()),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    eprintln!("{right} of 8 queries answered right while an executor died; failed: {failed:?}");
}

/// The commands of `cluster/docker/compose.yml`, each a JSON array of a service's
/// `command:`, in the file's order (scheduler first).
fn compose_commands() -> Vec<Vec<String>> {
    let text = include_str!("../../docker/compose.yml");
    let mut commands = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("command: [") {
        let array = &rest[start + "command: ".len()..];
        let end = array.find(']').expect("a closed command array") + 1;
        commands.push(serde_json::from_str::<Vec<String>>(&array[..end]).expect("a JSON array of strings"));
        rest = &array[end..];
    }
    commands
}

/// The compose file's scheduler and executors, run as the containers would run them but on
/// this machine: their service names and 0.0.0.0 become 127.0.0.1, their ports free ones.
/// (Docker itself is not run by the tests; the development machine has no daemon.) They
/// form a cluster that answers as one process; the Dockerfile builds both binaries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_files_commands_make_a_cluster_that_answers_as_one_process() {
    let commands = compose_commands();
    assert_eq!(commands.len(), 3, "{commands:?}");
    assert_eq!(commands[0][0], "nql-scheduler");
    assert!(
        commands[1..].iter().all(|c| c[0] == "nql-executor"),
        "{commands:?}"
    );
    let dockerfile = include_str!("../../docker/Dockerfile");
    assert!(dockerfile.contains("-p nql-cluster"), "{dockerfile}");
    assert!(
        dockerfile.contains("target/release/nql-scheduler target/release/nql-executor"),
        "{dockerfile}"
    );
    let mut ports = std::collections::HashMap::new();
    let work = tempfile::tempdir().unwrap();
    let mut children = Vec::new();
    let mut scheduler_port = 0;
    for (n, command) in commands.iter().enumerate() {
        let mut args: Vec<String> = command[1..]
            .iter()
            .map(|a| match a.as_str() {
                "0.0.0.0" | "scheduler" | "executor-1" | "executor-2" => "127.0.0.1".to_string(),
                port if port.parse::<u16>().is_ok_and(|p| p >= 1024) => ports
                    .entry(port.to_string())
                    .or_insert_with(|| free_port().to_string())
                    .clone(),
                other => other.to_string(),
            })
            .collect();
        let bin = if n == 0 {
            env!("CARGO_BIN_EXE_nql-scheduler")
        } else {
            // The compose file leaves the scheduler's port at its default, 50050.
            if !args.iter().any(|a| a == "--scheduler-port") {
                let port = ports
                    .entry("50050".into())
                    .or_insert_with(|| free_port().to_string());
                args.extend(["--scheduler-port".to_string(), port.clone()]);
            }
            let dir = work.path().join(format!("executor-{n}"));
            std::fs::create_dir_all(&dir).unwrap();
            args.extend(["--work-dir".to_string(), dir.display().to_string()]);
            env!("CARGO_BIN_EXE_nql-executor")
        };
        if n == 0 {
            let i = args
                .iter()
                .position(|a| a == "--port")
                .expect("the scheduler's --port");
            scheduler_port = args[i + 1].parse::<u16>().unwrap();
        }
        children.push(spawn(bin, &args));
    }
    let mut processes = Processes(children);
    let url = format!("df://127.0.0.1:{scheduler_port}");
    let dist = connect(&url).await;
    // A flag the binaries refuse ends the process: every one is still running.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (command, child) in commands.iter().zip(&mut processes.0) {
        assert!(child.try_wait().unwrap().is_none(), "{command:?} ended");
    }
    let sample: Vec<_> = cases().into_iter().step_by(8).collect();
    let differences = differences(&dist, &sample).await;
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
