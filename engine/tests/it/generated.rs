//! Generated projects load and pass validation at several sizes and layouts (single files and
//! directories of parts), and answer the same whether loaded from disk or from memory.

use datasets::generate::{ProjectSpec, generate, generate_to_dir};
use datasets::layout::ObjectKind;
use engine::{Engine, Trashed};

use crate::common::{options, run_ids};

fn spec(runs: u64, runs_per_file: u64) -> ProjectSpec {
    ProjectSpec {
        runs,
        runs_per_file,
        points_per_series: 20,
        runs_per_chunk: 64,
        row_group_rows: 4096,
        seed: runs,
        ..ProjectSpec::default()
    }
}

#[test]
fn generated_projects_load_at_several_sizes() {
    for (runs, per_file) in [(10, 1_000), (300, 100), (2_000, 5_000)] {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec(runs, per_file);
        let summary = generate_to_dir(&spec, dir.path(), |_| {}).unwrap();
        if per_file < runs {
            assert!(dir.path().join("runs").is_dir() && dir.path().join("float_series").is_dir());
        }
        let from_disk = Engine::open(dir.path()).unwrap_or_else(|e| panic!("{runs} runs: {e}"));
        assert_eq!(from_disk.num_objects(ObjectKind::Runs), Some(runs as usize));
        assert_eq!(
            from_disk.num_objects(ObjectKind::Models),
            Some(summary.models as usize)
        );
        assert_eq!(
            from_disk.num_objects(ObjectKind::ModelVersions),
            Some(summary.model_versions as usize)
        );

        let from_memory = Engine::from_batches(generate(&spec).unwrap()).unwrap();
        for query in [
            "",
            "last(`metrics/accuracy`):float > 0.5",
            "variance(`metrics/loss`) > 0.01 OR `sys/tags`:stringSet CONTAINS \"exploration\"",
            "`logs/stdout`:stringSeries CONTAINS \"ERROR\"",
            "`params/lr`:float < 0.001",
        ] {
            let disk = run_ids(&from_disk, query, &options(Trashed::All)).unwrap();
            let memory = run_ids(&from_memory, query, &options(Trashed::All)).unwrap();
            assert_eq!(disk, memory, "{runs} runs: {query}");
            if query.is_empty() {
                assert_eq!(disk.len(), runs as usize);
            }
        }
    }
}

/// However many threads read and summarize the files, a project loads with the same columns in
/// the same order and the same values (series columns are sorted by path, docs/dataset.md).
#[test]
fn loads_are_the_same_whatever_the_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ProjectSpec {
        float_series_per_run: 6,
        ..spec(400, 50)
    };
    generate_to_dir(&spec, dir.path(), |_| {}).unwrap();
    let everything = |threads: usize| {
        let load = engine::LoadOptions {
            threads,
            index: engine::IndexLocation::None,
            ..engine::LoadOptions::default()
        };
        let engine = Engine::open_with(dir.path(), &load).unwrap();
        let result = crate::common::block_on(engine.fetch_runs_table("", &options(Trashed::All))).unwrap();
        let batch = datafusion::arrow::compute::concat_batches(&result.schema, &result.batches).unwrap();
        (engine.attributes(ObjectKind::Runs).unwrap(), batch)
    };
    let (attributes, one) = everything(1);
    assert!(
        one.schema()
            .fields()
            .iter()
            .any(|f| f.name().contains("grad_norm")),
        "{:?}",
        one.schema()
    );
    for threads in [2, 3, 8] {
        let (other_attributes, other) = everything(threads);
        assert_eq!(other_attributes, attributes, "{threads} threads");
        assert_eq!(other, one, "{threads} threads");
    }
}
