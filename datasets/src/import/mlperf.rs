//! MLPerf Training results (`runs.csv` + `series.csv`, as converted from MLCommons' result
//! logs) as a Neptune-like project, through the CSV importer ([`super::csv`]).
//!
//! Mapping of `runs.csv` (one run per row):
//!
//! | CSV column | attribute |
//! |---|---|
//! | `run_id` | `sys/id` |
//! | `submitter` | `sys/owner`, and `submitter` |
//! | `benchmark`, `system`, `result_index` | `sys/name` = `"{benchmark} {system} #{result_index}"` |
//! | `mlperf_version`, `division`, `result_file` | `sys/description` = `"MLPerf Training {version} {division}: {result_file}"` |
//! | `benchmark`, `division`, `mlperf_version`, `sys_accelerator_model_name`, framework | `sys/tags` (stringSet) |
//! | (constant) | `sys/state:experimentState` = `inactive` |
//! | `run_status` | `sys/failed` = status is not `success` (`aborted`, or no status: the log has no result) |
//! | `time_to_train_min`, `final_eval_value` | float attributes of the same name |
//! | `result_index`, `n_eval_points` | int attributes of the same name |
//! | `benchmark`, `submitter`, `system`, `division`, `availability`, `platform`, `mlperf_version`, `run_status`, `result_file`, `source`, `eval_step_axis`, `train_step_axis` | string attributes of the same name |
//! | `sys_X` (system description) | `system_info/X` (`system_info/number_of_nodes` int, `system_info/accelerator_model_name` string, ...) |
//! | (derived) | `system_info/total_accelerators` = nodes × accelerators per node (int) |
//! | `hp_X` (hyperparameters, sparse) | `hp/X`: int when every value is an integer (`hp/global_batch_size`), float when all are numbers (`hp/opt_base_learning_rate`), else string (`hp/opt_name`) |
//! | `series` | dropped: the series table says which series a run has |
//!
//! Framework tags are the framework names found in `sys_framework_name` or, without it, in
//! `sys_framework` (`pytorch`, `mxnet`, `nemo`, `hugectr`, `dgl`, `jax`, `maxtext`, ...); a
//! system description that lists several frameworks gives several tags. MLPerf logs carry no
//! wall-clock dates, so the runs have no `sys/creation_time`.
//!
//! `series.csv` (`run_id, metric_path, step, value`) gives float series under their own
//! paths: `eval/accuracy` (a loss for gpt3, llama* and flux1: lower is better),
//! `eval/epoch_num`, `train/loss`, `train/accuracy`, `train/epoch_num`, `eval/FID`,
//! `eval/CLIP`.
//!
//! The example dataset `datasets/examples/mlperf/` is this import of the files in
//! `/work/shared/real-data/mlperf/`; regenerate it with
//! `cargo run -p nql-datasets --example import_mlperf -- SOURCE_DIR datasets/examples/mlperf`.

use std::path::Path;

use crate::ProjectBatches;
use crate::import::csv::{CsvError, CsvOptions, RawTable, import_tables};

/// Framework names looked for in the system description, lower-case.
const FRAMEWORKS: &[&str] = &[
    "pytorch",
    "mxnet",
    "nemo",
    "hugectr",
    "dgl",
    "jax",
    "maxtext",
    "tensorflow",
    "tinygrad",
    "llmboost",
    "deepspeed",
];

/// Descriptive columns kept as attributes under their own names.
const KEPT: &[&str] = &[
    "source",
    "mlperf_version",
    "benchmark",
    "submitter",
    "system",
    "result_index",
    "result_file",
    "division",
    "availability",
    "platform",
    "run_status",
    "time_to_train_min",
    "n_eval_points",
    "final_eval_value",
    "eval_step_axis",
    "train_step_axis",
];

/// Imports `dir/runs.csv` and `dir/series.csv`.
pub fn import_dir(dir: impl AsRef<Path>) -> Result<ProjectBatches, CsvError> {
    let dir = dir.as_ref();
    import(dir.join("runs.csv"), dir.join("series.csv"))
}

/// Imports an MLPerf runs CSV and series CSV (see the module docs for the mapping).
pub fn import(runs_csv: impl AsRef<Path>, series_csv: impl AsRef<Path>) -> Result<ProjectBatches, CsvError> {
    let options = CsvOptions::default();
    let mut runs = RawTable::read(runs_csv, &options)?;
    map_runs(&mut runs);
    let series = RawTable::read(series_csv, &options)?;
    import_tables(&runs, &[series], &options)
}

/// Renames and derives the columns of a raw MLPerf runs table as the module docs say.
pub fn map_runs(table: &mut RawTable) {
    table.add_column("sys/name", |r| {
        format!(
            "{} {} #{}",
            r.get("benchmark"),
            r.get("system"),
            r.get("result_index")
        )
    });
    table.add_column("sys/owner", |r| r.get("submitter").to_string());
    table.add_column("sys/description", |r| {
        format!(
            "MLPerf Training {} {}: {}",
            r.get("mlperf_version"),
            r.get("division"),
            r.get("result_file")
        )
    });
    table.add_column("sys/tags", |r| {
        let mut tags: Vec<String> = Vec::new();
        for tag in [
            r.get("benchmark"),
            r.get("division"),
            r.get("mlperf_version"),
            r.get("sys_accelerator_model_name"),
        ] {
            tags.push(tag.to_string());
        }
        let framework = match r.get("sys_framework_name") {
            "" => r.get("sys_framework"),
            name => name,
        }
        .to_lowercase();
        tags.extend(
            FRAMEWORKS
                .iter()
                .filter(|f| framework.contains(*f))
                .map(|f| f.to_string()),
        );
        tags.retain(|t| !t.is_empty());
        // The importer splits stringSet cells at `|`; no MLPerf value holds one.
        tags.iter()
            .map(|t| t.replace('|', "/"))
            .collect::<Vec<_>>()
            .join("|")
    });
    table.add_column("sys/state", |_| "inactive".into());
    table.add_column("sys/failed", |r| (r.get("run_status") != "success").to_string());
    table.add_column("system_info/total_accelerators", |r| {
        match (
            r.get("sys_number_of_nodes").parse::<i64>(),
            r.get("sys_accelerators_per_node").parse::<i64>(),
        ) {
            (Ok(nodes), Ok(per_node)) => (nodes * per_node).to_string(),
            _ => String::new(),
        }
    });
    table.remove_column("series");
    table.rename_column("run_id", "sys/id");
    let headers = table.headers.clone();
    for header in headers {
        if let Some(name) = header.strip_prefix("hp_") {
            table.rename_column(&header, &format!("hp/{name}"));
        } else if let Some(name) = header.strip_prefix("sys_") {
            table.rename_column(&header, &format!("system_info/{name}"));
        } else if !KEPT.contains(&header.as_str()) && !header.contains('/') {
            // An unexpected column: keep it, under `mlperf/`.
            table.rename_column(&header, &format!("mlperf/{header}"));
        }
    }
}
