use std::collections::{BTreeSet, HashSet};

use datafusion::arrow::datatypes::DataType;
use nql::AttrType;

use super::*;
use crate::generate::{GenerateError, GenerateSummary, ProjectSpec, generate, generate_to_dir};
use crate::layout::{natural_type, split_column_name, suffix_fits};
use crate::{ProjectBatches, WriteError};

fn small() -> ProjectSpec {
    ProjectSpec {
        runs: 300,
        points_per_series: 20,
        models: 4,
        model_versions: 15,
        ..ProjectSpec::default()
    }
}

/// Every (path, type) attribute of the runs: columns plus series paths.
fn attributes(project: &ProjectBatches) -> BTreeSet<(String, AttrType)> {
    let mut out = BTreeSet::new();
    let runs = &project.runs[0];
    for field in runs.schema().fields() {
        if field.name() == "sys/id" {
            continue;
        }
        let (path, suffix) = split_column_name(field.name());
        let ty = suffix.or_else(|| natural_type(field.data_type())).unwrap();
        out.insert((path.to_string(), ty));
    }
    for (table, ty) in [
        (&project.float_series, AttrType::FloatSeries),
        (&project.string_series, AttrType::StringSeries),
    ] {
        for batch in table.iter() {
            for path in strings(batch, "path") {
                out.insert((path.unwrap(), ty));
            }
        }
    }
    out
}

#[test]
fn same_seed_same_data_other_seed_other_data() {
    let a = generate(&small()).unwrap();
    let b = generate(&small()).unwrap();
    for table in crate::TABLE_NAMES {
        assert_eq!(a.table(table), b.table(table), "{table}");
    }
    let c = generate(&ProjectSpec { seed: 7, ..small() }).unwrap();
    assert_ne!(a.runs, c.runs);
    assert_ne!(a.float_series, c.float_series);
}

#[test]
fn files_are_byte_identical_and_match_memory() {
    let spec = ProjectSpec {
        runs: 120,
        runs_per_file: 50,
        runs_per_chunk: 17,
        threads: 2,
        ..small()
    };
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut calls = 0;
    let s1 = generate_to_dir(&spec, d1.path(), |_| calls += 1).unwrap();
    let s2 = generate_to_dir(
        &ProjectSpec {
            threads: 1,
            ..spec.clone()
        },
        d2.path(),
        |_| {},
    )
    .unwrap();
    assert_eq!(
        calls,
        3 + 3 + 2,
        "one progress call per chunk: parts of 50, 50, 20 runs in chunks of 17"
    );
    assert_eq!(
        s1,
        GenerateSummary {
            files: s1.files.clone(),
            ..s2.clone()
        }
    );
    assert!(d1.path().join("float_series/part-00002.parquet").is_file());
    assert!(d1.path().join("models.parquet").is_file());
    for file in &s1.files {
        let other = d2.path().join(file.strip_prefix(d1.path()).unwrap());
        assert_eq!(
            std::fs::read(file).unwrap(),
            std::fs::read(other).unwrap(),
            "{}",
            file.display()
        );
    }
    // Streamed in parts and chunks, the rows are the in-memory ones.
    let read = ProjectBatches::read_dir(d1.path()).unwrap();
    let memory = generate(&spec).unwrap();
    for table in crate::TABLE_NAMES {
        assert_eq!(
            concat(read.table(table).unwrap()),
            concat(memory.table(table).unwrap()),
            "{table}"
        );
    }
    assert_eq!(s1.float_points as usize, memory.num_rows("float_series"));
    assert_eq!(s1.string_entries as usize, memory.num_rows("string_series"));
    assert_eq!(s1.runs, 120);
    // A second project into the same directory is refused.
    let err = generate_to_dir(&spec, d1.path(), |_| {}).unwrap_err();
    assert!(
        matches!(err, GenerateError::Write(WriteError::TableExists { .. })),
        "{err}"
    );
}

#[test]
fn default_project_has_30_attributes_of_the_intended_types() {
    let project = generate(&ProjectSpec {
        runs: 200,
        ..ProjectSpec::default()
    })
    .unwrap();
    let attrs = attributes(&project);
    assert_eq!(attrs.len(), 30, "{attrs:#?}");
    for (path, ty) in [
        ("sys/tags", AttrType::StringSet),
        ("sys/state", AttrType::ExperimentState),
        ("sys/creation_time", AttrType::Datetime),
        ("sys/failed", AttrType::Bool),
        ("sys/size", AttrType::Int),
        ("params/lr", AttrType::Float),
        ("params/lr", AttrType::String),
        ("params/batch_size", AttrType::Int),
        ("params/batch_size", AttrType::String),
        ("dataset_version", AttrType::Artifact),
        ("model/weights", AttrType::FileRef),
        ("metrics/accuracy", AttrType::FloatSeries),
        ("train/lr", AttrType::FloatSeries),
        ("logs/stdout", AttrType::StringSeries),
    ] {
        assert!(attrs.contains(&(path.to_string(), ty)), "{path}:{ty}");
    }
    // Every suffixed column fits its Arrow type.
    for batch in [&project.runs[0], &project.models[0], &project.model_versions[0]] {
        for field in batch.schema().fields() {
            if let (_, Some(ty)) = split_column_name(field.name()) {
                assert!(suffix_fits(ty, field.data_type()), "{}", field.name());
            } else {
                assert!(natural_type(field.data_type()).is_some(), "{}", field.name());
            }
        }
    }
    assert_eq!(
        project.float_series[0]
            .schema()
            .field_with_name("step")
            .unwrap()
            .data_type(),
        &DataType::Float64
    );
}

#[test]
fn counts_and_rates_follow_the_knobs() {
    let spec = ProjectSpec {
        runs: 2000,
        points_per_series: 10,
        float_series_per_run: 6,
        log_lines_per_run: 3,
        extra_attributes: 12,
        models: 3,
        model_versions: 40,
        failed_rate: 0.2,
        trashed_rate: 0.1,
        no_series_rate: 0.1,
        early_stop_rate: 0.3,
        active_rate: 0.05,
        mixed_type_rate: 0.1,
        nan_rate: 0.2,
        key: "ABC".into(),
        ..ProjectSpec::default()
    };
    let p = generate(&spec).unwrap();
    let runs = concat(&p.runs);
    assert_eq!(runs.num_rows(), 2000);
    assert_eq!(p.num_rows("models"), 3);
    assert_eq!(p.num_rows("model_versions"), 40);
    let ids = strings(&runs, "sys/id");
    assert_eq!(ids[0].as_deref(), Some("ABC-1"));
    assert_eq!(ids[1999].as_deref(), Some("ABC-2000"));
    let rate = |v: Vec<Option<bool>>| v.iter().filter(|b| **b == Some(true)).count() as f64 / v.len() as f64;
    let near = |got: f64, want: f64| assert!((got - want).abs() < 0.035, "rate {got}, want about {want}");
    near(rate(bools(&runs, "sys/failed")), 0.2 * 0.95);
    near(rate(bools(&runs, "sys/trashed")), 0.1);
    let active = strings(&runs, "sys/state:experimentState");
    assert_eq!(
        active.iter().filter(|s| s.as_deref() == Some("active")).count(),
        100
    );
    near(
        strings(&runs, "params/lr:string")
            .iter()
            .filter(|s| s.is_some())
            .count() as f64
            / 2000.0,
        0.1,
    );
    // The float and string forms of a path never meet in one run.
    let lr = floats(&runs, "params/lr");
    let lr_s = strings(&runs, "params/lr:string");
    assert!(lr.iter().zip(&lr_s).all(|(a, b)| a.is_some() != b.is_some()));
    assert_eq!(attributes(&p).len(), 30 - 3 + 12 + 2);

    let points = float_points(&p.float_series);
    let with_series: HashSet<&String> = points.keys().map(|(id, _)| id).collect();
    near(1.0 - with_series.len() as f64 / 2000.0, 0.1);
    let paths: BTreeSet<&String> = points.keys().map(|(_, path)| path).collect();
    assert_eq!(paths.len(), 6);
    assert!(points.values().all(|p| p.len() <= 10 && !p.is_empty()));
    let short = with_series
        .iter()
        .filter(|id| points[&((**id).clone(), "metrics/accuracy".into())].len() < 10)
        .count();
    assert!(
        short as f64 / with_series.len() as f64 > 0.3,
        "early stops, failures and active runs are shorter"
    );
    let with_nan = points
        .values()
        .filter(|p| p.iter().any(|(_, v)| v.is_nan()))
        .count();
    assert!(with_nan > 100, "{with_nan} series hold NaN");
    assert!(
        points
            .values()
            .any(|p| p.iter().any(|(_, v)| *v == f64::INFINITY)),
        "some runs diverge"
    );
    // Every run with series has every path, at the same steps.
    for id in &with_series {
        let steps: Vec<Vec<f64>> = paths
            .iter()
            .map(|path| {
                points[&((*id).clone(), (*path).clone())]
                    .iter()
                    .map(|p| p.0)
                    .collect()
            })
            .collect();
        assert!(steps.windows(2).all(|w| w[0] == w[1]));
    }
    assert_eq!(p.num_rows("string_series"), 3 * with_series.len());

    // No series, no logs table: absent tables.
    let bare = generate(&ProjectSpec {
        float_series_per_run: 0,
        log_lines_per_run: 0,
        models: 0,
        model_versions: 0,
        ..small()
    })
    .unwrap();
    assert!(bare.float_series.is_empty() && bare.string_series.is_empty() && bare.models.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let written = bare.write_dir(dir.path()).unwrap();
    assert_eq!(written, vec![dir.path().join("runs.parquet")]);
}

#[test]
fn series_look_like_training() {
    let p = generate(&ProjectSpec {
        runs: 400,
        nan_rate: 0.0,
        failed_rate: 0.0,
        ..ProjectSpec::default()
    })
    .unwrap();
    let points = float_points(&p.float_series);
    let mut rising = 0;
    let mut total = 0;
    for ((_, path), pts) in &points {
        assert!(
            pts.windows(2).all(|w| w[0].0 < w[1].0),
            "steps ascend within a series"
        );
        if pts.len() < 50 {
            continue;
        }
        let (first, end) = (pts[0].1, last(pts));
        match path.as_str() {
            "metrics/accuracy" => {
                total += 1;
                rising += usize::from(end > first + 0.3);
                assert!(pts.iter().all(|(_, v)| (0.0..=1.0).contains(v)));
            }
            "metrics/loss" => assert!(end < first, "loss decays"),
            "train/lr" => assert!(pts.iter().all(|(_, v)| *v > 0.0 && *v < 0.2)),
            _ => {}
        }
    }
    assert!(
        rising as f64 > total as f64 * 0.9,
        "{rising} of {total} accuracies rise"
    );

    // Rows come grouped by object, then path, then step.
    let batch = concat(&p.float_series);
    let ids = strings(&batch, "sys/id");
    let paths = strings(&batch, "path");
    let number = |id: &Option<String>| id.as_ref().unwrap()[4..].parse::<u64>().unwrap();
    for i in 1..batch.num_rows() {
        let a = (number(&ids[i - 1]), &paths[i - 1]);
        let b = (number(&ids[i]), &paths[i]);
        assert!(a <= b, "row {i}: {a:?} then {b:?}");
    }
    // Failed runs end their logs with an error, others with "done" or an epoch line.
    let logs = concat(&p.string_series);
    assert!(
        strings(&logs, "value")
            .iter()
            .any(|v| v.as_deref() == Some("done"))
    );
}

#[test]
fn logs_of_failed_runs_end_with_errors() {
    let p = generate(&ProjectSpec {
        runs: 300,
        failed_rate: 0.5,
        active_rate: 0.0,
        ..ProjectSpec::default()
    })
    .unwrap();
    let runs = concat(&p.runs);
    let failed: HashSet<String> = strings(&runs, "sys/id")
        .into_iter()
        .zip(bools(&runs, "sys/failed"))
        .filter(|(_, f)| *f == Some(true))
        .map(|(id, _)| id.unwrap())
        .collect();
    let logs = concat(&p.string_series);
    let mut last_line: std::collections::HashMap<String, String> = Default::default();
    for (id, value) in strings(&logs, "sys/id").into_iter().zip(strings(&logs, "value")) {
        last_line.insert(id.unwrap(), value.unwrap());
    }
    for (id, line) in &last_line {
        if failed.contains(id) {
            assert!(line.starts_with("ERROR"), "{id}: {line}");
        } else {
            assert_eq!(line, "done", "{id}");
        }
    }
}

#[test]
fn invalid_specs_are_refused() {
    for spec in [
        ProjectSpec {
            failed_rate: 1.5,
            ..small()
        },
        ProjectSpec {
            key: "A-B".into(),
            ..small()
        },
        ProjectSpec {
            runs_per_chunk: 0,
            ..small()
        },
        ProjectSpec { models: 0, ..small() },
    ] {
        assert!(
            matches!(generate(&spec), Err(GenerateError::InvalidSpec(_))),
            "{spec:?}"
        );
    }
    let empty = generate(&ProjectSpec {
        runs: 0,
        model_versions: 0,
        ..small()
    })
    .unwrap();
    assert_eq!(empty.num_rows("runs"), 0);
}

#[test]
fn model_versions_belong_to_models() {
    let p = generate(&small()).unwrap();
    let models: HashSet<String> = strings(&p.models[0], "sys/id").into_iter().flatten().collect();
    let versions = &p.model_versions[0];
    for (id, model) in strings(versions, "sys/id")
        .into_iter()
        .zip(strings(versions, "sys/model_id"))
    {
        let (id, model) = (id.unwrap(), model.unwrap());
        assert!(models.contains(&model));
        assert!(id.starts_with(&format!("{model}-")));
    }
    let runs: HashSet<String> = strings(&p.runs[0], "sys/id").into_iter().flatten().collect();
    assert!(
        strings(versions, "run/id")
            .iter()
            .all(|r| runs.contains(r.as_ref().unwrap()))
    );
}
