//! Shared pieces of the benchmarks: generated projects at the standard scales, cached on
//! disk, and the query mix of each query class.

use std::path::PathBuf;

use datasets::generate::{ProjectSpec, generate_to_dir};

/// The scales the benchmarks run at: S = 10,000 runs, M = 100,000 runs, each with 30
/// attributes and 4 float series of 100 points per run.
pub const SCALES: [(&str, u64); 2] = [("S", 10_000), ("M", 100_000)];

/// The spec of a benchmark project of `runs` runs: every run logs all 4 × 100 points.
pub fn spec(runs: u64) -> ProjectSpec {
    ProjectSpec {
        runs,
        float_series_per_run: 4,
        points_per_series: 100,
        early_stop_rate: 0.0,
        failed_rate: 0.0,
        no_series_rate: 0.0,
        active_rate: 0.0,
        ..ProjectSpec::default()
    }
}

/// A generated project of `runs` runs, written once under `target/nql-bench-data/`.
pub fn project_dir(runs: u64) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/nql-bench-data")
        .join(format!("runs-{runs}"));
    let done = dir.join(".complete");
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("generating a project of {runs} runs in {}", dir.display());
        generate_to_dir(&spec(runs), &dir, |_| {}).expect("the benchmark project is generated");
        std::fs::write(&done, "").expect("the marker is written");
    }
    dir
}

/// One query per class: (class, query, sort key, limit).
pub const QUERIES: [(&str, &str, Option<&str>, Option<usize>); 6] = [
    (
        "plain",
        "`params/lr`:float > 0.001 AND `params/batch_size`:int >= 64",
        None,
        None,
    ),
    (
        "tags_strings",
        "`sys/tags`:stringSet CONTAINS \"exploration\" AND `sys/owner`:string CONTAINS \"@\"",
        None,
        None,
    ),
    (
        "datetime",
        "`sys/creation_time`:datetime > \"2024-07-01T00:00:00Z\" AND `sys/ping_time`:datetime < -30d",
        None,
        None,
    ),
    (
        "series",
        "last(`metrics/accuracy`):float > 0.8 AND min(`val/loss`):float < 0.5",
        None,
        None,
    ),
    (
        "mixed",
        "(`sys/failed`:bool = false AND average(`metrics/loss`):float < 1) OR NOT (`params/optimizer`:string = \"adam\")",
        None,
        None,
    ),
    (
        "sorted_limit",
        "`params/lr`:float > 0.0001",
        Some("params/lr"),
        Some(10),
    ),
];
