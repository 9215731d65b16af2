//! The index built on the cluster: a task per bucket writes exactly the summary files one
//! process writes, byte for byte.

use std::path::Path;

use cluster::{LocalCluster, ballista_config, function_registry, summarize_on};
use engine::{IndexLocation, LoadOptions};

use crate::common::conformance_dir;

fn in_memory() -> LoadOptions {
    LoadOptions {
        index: IndexLocation::None,
        ..LoadOptions::default()
    }
}

/// Every summary file under `dir`, by path relative to it, with its bytes.
fn summary_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for table in ["runs", "models", "model_versions"] {
        let folder = dir.join(format!("{table}_summary"));
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = format!("{table}_summary/{}", path.file_name().unwrap().to_string_lossy());
            out.push((name, std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_summarizes_every_bucket_as_one_process_does_byte_for_byte() {
    let (on_cluster, here) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let data = conformance_dir().join("data");
    engine::bucketed::split(&data, on_cluster.path(), 8, &in_memory()).unwrap();
    assert!(summary_files(on_cluster.path()).is_empty());
    engine::bucketed::partition(&data, here.path(), 8, &in_memory()).unwrap();
    let cluster = LocalCluster::start(2, 2, function_registry).await.unwrap();
    let report = summarize_on(&cluster.url(), on_cluster.path(), ballista_config())
        .await
        .unwrap();
    let buckets: Vec<u32> = report.buckets.iter().map(|(b, _, _)| *b).collect();
    assert_eq!(buckets, engine::bucketed::buckets(here.path()).unwrap());
    let runs = engine::bucketed::SummaryTable::open(here.path(), datasets::layout::ObjectKind::Runs)
        .unwrap()
        .unwrap()
        .rows() as u64;
    let objects: u64 = report.buckets.iter().map(|(_, _, n)| n).sum();
    assert!(objects > runs, "runs, models and model versions: {report:?}");
    let (a, b) = (summary_files(on_cluster.path()), summary_files(here.path()));
    assert_eq!(a.len(), b.len());
    assert!(a.len() >= 8);
    for ((name_a, bytes_a), (name_b, bytes_b)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        assert!(bytes_a == bytes_b, "{name_a} differs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summarizing_a_directory_that_is_not_bucketed_is_a_clear_error() {
    let cluster = LocalCluster::start(1, 1, function_registry).await.unwrap();
    let e = summarize_on(&cluster.url(), &conformance_dir().join("data"), ballista_config())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nql partition"), "{e}");
}
