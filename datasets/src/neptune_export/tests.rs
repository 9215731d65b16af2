use std::collections::BTreeMap;
use std::fs::File;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;

fn read_rows(path: &Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_3x_export_has_phantom_rows_forks_heads_and_tmp_leftovers() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = ExportSpec {
        runs: 40,
        incomplete_runs: 2,
        experiments: 4,
        fork_rate: 0.6,
        points_per_series: 20,
        threads: 2,
        ..ExportSpec::neptune3()
    };
    let summary = write_export(&spec, tmp.path(), |_| {}).unwrap();
    assert_eq!(summary.runs, 40);
    assert_eq!(summary.incomplete_runs, 2);
    assert_eq!(summary.experiments, 4);
    assert!(summary.forks > 5, "{summary:?}");
    let names = listing(&summary.project_dir);
    assert_eq!(
        names.iter().filter(|n| n.ends_with("_part_0.parquet")).count(),
        40
    );
    assert_eq!(names.iter().filter(|n| n.ends_with(".parquet.tmp")).count(), 2);
    assert_eq!(
        summary.project_dir.file_name().unwrap().to_string_lossy(),
        sanitize_path_part("workspace/generated")
    );

    // Count points and phantom rows over all complete runs.
    let (mut points, mut phantoms, mut forks_seen, mut depth2) = (0u64, 0u64, 0, 0);
    for name in names.iter().filter(|n| n.ends_with(".parquet")) {
        let mut run_ids = std::collections::HashSet::new();
        for batch in read_rows(&summary.project_dir.join(name)) {
            assert_eq!(batch.schema(), export_schema());
            let types = batch.column(3).as_string::<i32>();
            let paths = batch.column(2).as_string::<i32>();
            for r in 0..batch.num_rows() {
                run_ids.insert(batch.column(1).as_string::<i32>().value(r).to_string());
                let values = [6, 7, 8, 9, 10, 11, 12, 13];
                let set = values.iter().filter(|&&c| batch.column(c).is_valid(r)).count();
                assert!(set <= 1, "one value column per row");
                match types.value(r) {
                    "float_series" => {
                        points += 1;
                        assert!(batch.column(5).is_valid(r), "every point has a timestamp");
                    }
                    "histogram_series" | "string_series" => {}
                    _ if set == 0 => phantoms += 1,
                    _ => {}
                }
                if paths.value(r) == "sys/forking/parent" && set == 1 {
                    forks_seen += 1;
                }
                if paths.value(r) == "sys/forking/depth"
                    && batch
                        .column(6)
                        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                        .value(r)
                        >= 2
                {
                    depth2 += 1;
                }
            }
        }
        assert_eq!(run_ids.len(), 1, "one run per file");
    }
    assert_eq!(points, summary.float_points);
    assert!(phantoms > 40, "phantom rows: {phantoms}");
    assert_eq!(forks_seen, summary.forks);
    assert!(depth2 > 0, "lineages of several levels");
}

#[test]
fn big_runs_are_split_into_parts_and_the_output_is_deterministic() {
    let spec = ExportSpec {
        runs: 3,
        float_series_per_run: 4,
        points_per_series: 3000,
        part_bytes: 40_000,
        batch_rows: 2000,
        files: false,
        threads: 3,
        ..ExportSpec::neptune2()
    };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let sa = write_export(&spec, a.path(), |_| {}).unwrap();
    let sb = write_export(
        &ExportSpec {
            threads: 1,
            ..spec.clone()
        },
        b.path(),
        |_| {},
    )
    .unwrap();
    let names = listing(&sa.project_dir);
    assert!(names.iter().any(|n| n.ends_with("_part_2.parquet")), "{names:?}");
    assert_eq!(names, listing(&sb.project_dir));
    for n in names.iter().filter(|n| n.ends_with(".parquet")) {
        assert_eq!(
            std::fs::read(sa.project_dir.join(n)).unwrap(),
            std::fs::read(sb.project_dir.join(n)).unwrap(),
            "{n}"
        );
    }
    assert!(names.contains(&"models".to_string()) && names.contains(&"model_versions".to_string()));
    assert_eq!((sa.models, sa.model_versions), (2, 5));
    assert!(!sa.files_dir.exists(), "files: false writes no files");
}

#[test]
fn a_2x_export_writes_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = ExportSpec {
        runs: 4,
        ..ExportSpec::neptune2()
    };
    let summary = write_export(&spec, tmp.path(), |_| {}).unwrap();
    let base = summary.files_dir.join("workspace/generated/GEN-1");
    assert!(base.join("model/summary").is_file());
    assert!(base.join("datasets/train/files_list.json").is_file());
    assert!(base.join("predictions/samples/2.png").is_file());
    // The run file of GEN-1, named by the sanitized id.
    let part = summary
        .project_dir
        .join(format!("{}_part_0.parquet", sanitize_path_part("GEN-1")));
    let mut types: BTreeMap<String, usize> = BTreeMap::new();
    for batch in read_rows(&part) {
        for t in batch.column(3).as_string::<i32>().iter().flatten() {
            *types.entry(t.to_string()).or_default() += 1;
        }
    }
    for t in [
        "artifact",
        "file",
        "file_set",
        "file_series",
        "float_series",
        "string_series",
        "string_set",
    ] {
        assert!(types.contains_key(t), "{t}: {types:?}");
    }
    assert!(!types.contains_key("histogram_series"));
    // Writing into the same place again is refused.
    assert!(write_export(&spec, tmp.path(), |_| {}).is_err());
}

/// `cargo test -p nql-datasets --lib -- --ignored --nocapture export_throughput`: how fast
/// the writer goes at the size of a big export (runs of 50 series x 1,000 points).
#[test]
#[ignore]
fn export_throughput() {
    let runs: u64 = std::env::var("NQL_EXPORT_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let spec = ExportSpec {
        runs,
        float_series_per_run: 50,
        points_per_series: 1000,
        files: false,
        ..ExportSpec::neptune3()
    };
    let tmp = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let summary = write_export(&spec, tmp.path(), |_| {}).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let rate = summary.float_points as f64 / secs;
    println!(
        "{} runs, {} points, {} files, {} bytes in {secs:.1} s: {rate:.0} points/s; 500M points would take {:.0} s",
        summary.runs,
        summary.float_points,
        summary.parquet_files,
        summary.bytes,
        500e6 / rate
    );
}
