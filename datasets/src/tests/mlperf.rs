use std::path::Path;

use super::*;
use crate::ProjectBatches;
use crate::import::mlperf;

const RUNS: &str = "\
run_id,source,mlperf_version,benchmark,submitter,system,result_index,result_file,division,run_status,time_to_train_min,sys_number_of_nodes,sys_accelerators_per_node,sys_accelerator_model_name,sys_framework,sys_framework_name,series,hp_global_batch_size,hp_opt_base_learning_rate,hp_opt_name,hp_seed
mlperf-v4.0-00001,mlperf,v4.0,resnet,ASUSTeK,ESC-8xH100,1,ASUSTeK/results/ESC-8xH100/resnet/result_1.txt,closed,success,11.4,1,8,NVIDIA H100-PCIe-80GB,\"NVIDIA Release 24.04 MxNet, pytorch\",,eval/accuracy,768,11,lars,29620
mlperf-v4.0-00002,mlperf,v4.0,resnet,ASUSTeK,ESC-8xH100,2,ASUSTeK/results/ESC-8xH100/resnet/result_2.txt,closed,aborted,12.1,2,8,NVIDIA H100-PCIe-80GB,PyTorch,ngc24.04_mxnet,eval/accuracy,768,10.5,lars,9809
mlperf-v5.1-00003,mlperf,v5.1,bert,Dell,XE9680,1,Dell/results/XE9680/bert/result_1.txt,closed,,,1,8,NVIDIA B200,PyTorch NVIDIA Release 25.09,,,48,0.00096,,
";

const SERIES: &str = "\
run_id,metric_path,step,value
mlperf-v4.0-00001,eval/accuracy,1,0.5
mlperf-v4.0-00001,eval/accuracy,2,0.76
mlperf-v4.0-00002,eval/accuracy,1,0.4
mlperf-v5.1-00003,train/loss,10,3.5
";

#[test]
fn mlperf_mapping() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("runs.csv"), RUNS).unwrap();
    std::fs::write(dir.path().join("series.csv"), SERIES).unwrap();
    let p = mlperf::import_dir(dir.path()).unwrap();
    let r = &p.runs[0];
    assert_eq!(strings(r, "sys/id")[0].as_deref(), Some("mlperf-v4.0-00001"));
    assert_eq!(strings(r, "sys/owner")[2].as_deref(), Some("Dell"));
    assert_eq!(strings(r, "sys/name")[0].as_deref(), Some("resnet ESC-8xH100 #1"));
    assert_eq!(strings(r, "benchmark")[0].as_deref(), Some("resnet"));
    let tags = sets(r, "sys/tags");
    assert_eq!(
        tags[0].as_deref().unwrap(),
        [
            "resnet",
            "closed",
            "v4.0",
            "NVIDIA H100-PCIe-80GB",
            "pytorch",
            "mxnet"
        ]
    );
    assert_eq!(
        tags[1].as_deref().unwrap().last().unwrap(),
        "mxnet",
        "sys_framework_name wins"
    );
    assert_eq!(bools(r, "sys/failed"), [Some(false), Some(true), Some(true)]);
    assert!(
        strings(r, "sys/state:experimentState")
            .iter()
            .all(|s| s.as_deref() == Some("inactive"))
    );
    assert_eq!(floats(r, "time_to_train_min"), [Some(11.4), Some(12.1), None]);
    assert_eq!(ints(r, "result_index"), [Some(1), Some(2), Some(1)]);
    assert_eq!(ints(r, "hp/global_batch_size"), [Some(768), Some(768), Some(48)]);
    assert_eq!(
        floats(r, "hp/opt_base_learning_rate"),
        [Some(11.0), Some(10.5), Some(0.00096)]
    );
    assert_eq!(strings(r, "hp/opt_name")[2], None);
    assert_eq!(
        ints(r, "system_info/number_of_nodes"),
        [Some(1), Some(2), Some(1)]
    );
    assert_eq!(
        ints(r, "system_info/total_accelerators"),
        [Some(8), Some(16), Some(8)]
    );
    assert!(r.column_by_name("series").is_none());
    assert!(
        r.schema()
            .fields()
            .iter()
            .all(|f| !f.name().starts_with("hp_") && !f.name().starts_with("sys_"))
    );
    let points = float_points(&p.float_series);
    assert_eq!(
        points[&("mlperf-v4.0-00001".into(), "eval/accuracy".into())],
        [(1.0, 0.5), (2.0, 0.76)]
    );
    assert!(p.string_series.is_empty());
}

/// The committed example dataset reads back whole.
#[test]
fn committed_example_dataset() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mlperf");
    let p = ProjectBatches::read_dir(&dir).unwrap();
    assert_eq!(p.num_rows("runs"), 3618);
    assert_eq!(p.num_rows("float_series"), 396_550);
    assert!(dir.join("NOTICE.md").is_file());
    let runs = concat(&p.runs);
    let benchmarks = strings(&runs, "benchmark");
    assert!(benchmarks.iter().any(|b| b.as_deref() == Some("resnet")));
    assert!(runs.column_by_name("hp/global_batch_size").is_some());

    // The questions of examples/mlperf/README.md.
    let ids = strings(&runs, "sys/id");
    let points = float_points(&p.float_series);
    let series = |i: usize, path: &str| points.get(&(ids[i].clone().unwrap(), path.to_string()));
    let resnet_at_target = (0..runs.num_rows())
        .filter(|&i| benchmarks[i].as_deref() == Some("resnet"))
        .filter(|&i| series(i, "eval/accuracy").is_some_and(|p| p.iter().any(|x| x.1 >= 0.759)))
        .count();
    assert_eq!(resnet_at_target, 144);
    assert_eq!(
        bools(&runs, "sys/failed")
            .iter()
            .filter(|f| **f == Some(true))
            .count(),
        16
    );
    let tags = sets(&runs, "sys/tags");
    let accelerator = strings(&runs, "system_info/accelerator_model_name");
    let amd_lora = (0..runs.num_rows())
        .filter(|&i| tags[i].as_ref().unwrap().iter().any(|t| t == "llama2_70b_lora"))
        .filter(|&i| accelerator[i].as_ref().unwrap().contains("AMD"))
        .filter(|&i| series(i, "eval/accuracy").is_some_and(|p| last(p) <= 0.925))
        .count();
    assert_eq!(amd_lora, 190);
}
