//! The built-in demo project: small, deterministic, built in memory in a fraction of a second,
//! with every NQL type, so that every example query of Neptune's NQL page has an answer.
//!
//! It is the generator ([`crate::generate`]) with project key `NLI`, plus a few schema changes
//! that real projects go through. Contents:
//!
//! - 2,000 runs `NLI-1` .. `NLI-2000`, created in id order from 2024-01-01 to 2025-12-31
//!   (fixed instants, no clock), with everything a generated run has: `sys/name`
//!   (`adjective-animal`; `NLI-42` is `cunning-blobfish`, and about 40 more are `*-blobfish`),
//!   `sys/owner` (users `jackie`, `alice`, ... and service accounts `ci-bot@ml-team`,
//!   `scheduler@ml-team`, `sweeper@research`, `nightly@platform`), `sys/description` (some
//!   `test run on new data`), `sys/tags` (Zipf-like: `exploration`, `baseline`, `pretrained`,
//!   `some-tag`, `tag1`, `tag2`, `my tag`, `tag-name`, ...; every 97th run has both `tag1` and
//!   `tag2`), `sys/group_tags`, `sys/creation_time`, `sys/modification_time`, `sys/ping_time`,
//!   `sys/failed` (about 10%), `sys/trashed` (about 4%, including some runs over 100 MB),
//!   `sys/size` (bytes, log-normal around 3 MB), `sys/state:experimentState` (the newest 1% are
//!   `active`), `params/*` (`params/lr:string` in a few runs), `dataset_version:artifact`
//!   (the most common hash is `9a113b799082e5fd628be178bedd52837bac24e91f`),
//!   `model/weights:fileRef`, `params/weight_decay`, `env/gpu`, `params/use_amp`.
//! - Schema history: runs created before 2024-07-01 log their learning rate as
//!   `learning_rate` (float; often exactly 0.002) and their accuracy as the series
//!   `metrics/acc`; later runs use `params/lr` and `metrics/accuracy`; the HPO sweeps of
//!   `sweeper@research` log `accuracy`. Every run with series also has `metrics/loss`,
//!   `val/loss` and `train/lr` (50 steps; shorter for early-stopped, failed and active runs; a
//!   few diverge to inf/NaN or hold a NaN point; about 3% log no series).
//! - Scores: `f1`, `f1_score` (every third run), `scores/f1` (40%), `test/acc` (finished runs),
//!   `model_info/size_MB` (float, 5 to 500), all consistent with the run's accuracy.
//! - `my_monitoring_namespace/stdout` (stringSeries): epoch lines, then `done`, or for failed
//!   runs an `ERROR: ...` line (CUDA and NCCL errors contain the word `error`).
//! - `checkpoints:fileRefSeries` and `train/weights_hist:histogramSeries` (presence only),
//!   `sys/custom_run_id` on sweep runs.
//! - 20 models `NLI-CLS`, `NLI-DET`, ... and 100 model versions `NLI-CLS-1`, ... with
//!   `sys/model_id`, `sys/stage`, `validation/acc`, `model/binary:fileRef`, `run/id`.

use chrono::{DateTime, TimeDelta};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ProjectBatches;
use crate::build::{FloatSeriesBuilder, StringSeriesBuilder};
use crate::curves::{self, CurveKind, Ending, SeriesDef};
use crate::generate::{Generator, ProjectSpec};
use crate::vocab::{self, Vocab};

/// The demo's project key.
pub const KEY: &str = "NLI";
/// Number of runs in the demo.
pub const RUNS: u64 = 2_000;
/// The artifact hash most demo runs' `dataset_version` holds (from Neptune's docs).
pub const DATASET_HASH: &str = "9a113b799082e5fd628be178bedd52837bac24e91f";

const POINTS: usize = 50;
const STDOUT: &str = "my_monitoring_namespace/stdout";
/// 2024-07-01T00:00:00Z: runs created before it use the old attribute names.
const V2_SINCE_US: i64 = 1_719_792_000_000_000;

/// The spec the demo starts from.
pub fn spec() -> ProjectSpec {
    ProjectSpec {
        key: KEY.into(),
        runs: RUNS,
        models: 20,
        model_versions: 100,
        float_series_per_run: 4,
        points_per_series: POINTS,
        log_lines_per_run: 4,
        extra_attributes: 3,
        failed_rate: 0.1,
        trashed_rate: 0.04,
        no_series_rate: 0.03,
        start: DateTime::from_timestamp(1_704_067_200, 0).expect("valid"),
        span: TimeDelta::days(731) - TimeDelta::seconds(1),
        seed: 2024,
        ..ProjectSpec::default()
    }
}

/// The demo project (see the module docs), the same on every call.
pub fn project() -> ProjectBatches {
    let spec = spec();
    let mut generator = Generator::new(&spec);
    let demo_base = ChaCha8Rng::seed_from_u64(0xde30);

    let mut tag_words: Vec<String> = [
        "exploration",
        "baseline",
        "pretrained",
        "some-tag",
        "finetune",
        "tag1",
        "sweep",
        "tag2",
        "my tag",
        "tag-name",
        "ablation",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for tag in vocab::TAGS {
        if !tag_words.iter().any(|t| t == tag) {
            tag_words.push(tag.to_string());
        }
    }
    generator.tags = Vocab::zipf(tag_words, 1.0);
    let mut hashes = vec![DATASET_HASH.to_string()];
    let mut hash_rng = ChaCha8Rng::seed_from_u64(0xa27f);
    hashes.extend((0..11).map(|_| vocab::hex(&mut hash_rng, 42)));
    generator.datasets = Vocab::zipf(hashes, 1.0);

    let with_acc = |acc_path: &str| {
        let mut defs: Vec<SeriesDef> = generator
            .series
            .iter()
            .map(|d| match d.kind {
                CurveKind::Accuracy(_) => SeriesDef::new(acc_path, d.kind),
                _ => d.clone(),
            })
            .collect();
        defs.sort_by(|a, b| a.path.cmp(&b.path));
        defs
    };
    let (v1_defs, v2_defs, sweep_defs) = (
        with_acc("metrics/acc"),
        with_acc("metrics/accuracy"),
        with_acc("accuracy"),
    );

    let n = RUNS as usize;
    let mut records = Vec::with_capacity(n);
    let mut float = FloatSeriesBuilder::with_capacity(n * 4 * POINTS);
    let mut logs = StringSeriesBuilder::with_capacity(n * 4);
    let mut line = String::new();
    let mut cols = DemoColumns::default();
    for index in 0..RUNS {
        let mut rng = generator.run_rng(index);
        let mut rec = generator.run_record(&mut rng, index);
        let mut demo = demo_base.clone();
        demo.set_stream(index);

        if index % 97 == 0 {
            for t in ["tag1", "tag2"] {
                if !rec.tags.iter().any(|x| x == t) {
                    rec.tags.push(t.to_string());
                }
            }
        }
        if index == 41 {
            rec.name = "cunning-blobfish".into();
        }
        if index % 250 == 7 {
            rec.size = demo.random_range(150_000_000..900_000_000);
            rec.trashed = true;
        }

        let v1 = rec.creation_us < V2_SINCE_US;
        let sweep = rec.owner == "sweeper@research";
        let defs = match (v1, sweep) {
            (true, _) => &v1_defs,
            (false, true) => &sweep_defs,
            (false, false) => &v2_defs,
        };
        cols.learning_rate.push(v1.then_some(rec.curves.lr));
        if v1 {
            rec.lr = None;
            rec.lr_string = None;
        }
        cols.custom_run_id
            .push(sweep.then(|| format!("sweep-{:02}-{}", index / 100, index % 100)));

        // Scores follow the accuracy the run reached.
        let curves = &rec.curves;
        let reached = if curves.len > 0 {
            curves.smooth(curves.len - 1).0
        } else {
            curves.acc_max
        };
        let reached = if rec.failed {
            reached * demo.random_range(0.5..0.9)
        } else {
            reached
        };
        let f1 = (reached * demo.random_range(0.9..1.0)).clamp(0.0, 1.0);
        cols.f1.push(Some(f1));
        cols.f1_score.push((index % 3 == 0).then_some(f1));
        cols.scores_f1.push(
            demo.random_bool(0.4)
                .then(|| (f1 + demo.random_range(-0.03..0.03)).clamp(0.0, 1.0)),
        );
        let finished = matches!(rec.ending, Ending::Done | Ending::EarlyStopped);
        cols.test_acc
            .push(finished.then(|| (reached - demo.random_range(0.0..0.03)).clamp(0.0, 1.0)));
        let size_mb = 10f64.powf(demo.random_range(0.7..2.7));
        cols.size_mb.push(Some((size_mb * 10.0).round() / 10.0));
        let keeps_checkpoints = curves.len > 0 && !rec.failed && demo.random_bool(0.7);
        cols.checkpoints
            .push(keeps_checkpoints.then(|| format!("checkpoints/{}/epoch_{}.pt", rec.id, curves.len)));
        cols.histograms
            .push((curves.len > 0 && demo.random_bool(0.3)).then_some(curves.len as i64));

        if curves.len > 0 {
            curves.emit(&mut rng, &rec.id, defs, &generator.schedule, POINTS, &mut float);
            curves::emit_logs(
                &mut rng, &rec.id, STDOUT, 4, curves, rec.ending, &mut line, &mut logs,
            );
        }
        records.push(rec);
    }

    let mut runs = generator.runs_table(&records);
    runs.float("learning_rate", cols.learning_rate);
    runs.float("f1", cols.f1);
    runs.float("f1_score", cols.f1_score);
    runs.float("scores/f1", cols.scores_f1);
    runs.float("test/acc", cols.test_acc);
    runs.float("model_info/size_MB", cols.size_mb);
    runs.utf8("checkpoints:fileRefSeries", cols.checkpoints);
    runs.int("train/weights_hist:histogramSeries", cols.histograms);
    runs.utf8("sys/custom_run_id", cols.custom_run_id);

    let mut project = ProjectBatches {
        runs: vec![runs.finish()],
        float_series: vec![float.finish()],
        string_series: vec![logs.finish()],
        ..Default::default()
    };
    if let Some((models, versions)) = generator.model_tables() {
        project.models.push(models);
        project.model_versions.extend(versions);
    }
    project
}

#[derive(Default)]
struct DemoColumns {
    learning_rate: Vec<Option<f64>>,
    f1: Vec<Option<f64>>,
    f1_score: Vec<Option<f64>>,
    scores_f1: Vec<Option<f64>>,
    test_acc: Vec<Option<f64>>,
    size_mb: Vec<Option<f64>>,
    checkpoints: Vec<Option<String>>,
    histograms: Vec<Option<i64>>,
    custom_run_id: Vec<Option<String>>,
}
