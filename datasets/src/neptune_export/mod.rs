//! Writing exports in the on-disk format of neptune-exporter (docs/neptune-export.md, and
//! the format spec it follows): `DATA/<S(project_id)>/<S(run_id)>_part_N.parquet`, one run per
//! file, the exporter's 14-column schema, Snappy, one row group per saved batch; downloaded
//! files under `FILES/<S(project_id)>/`.
//!
//! [`write_export`] writes a seeded synthetic export of any size, run by run on
//! [`ExportSpec::threads`] threads (memory is a few runs' rows per thread), with the
//! exporter's quirks: phantom rows for 3.x (every parameter and file that another run of the
//! same 16-run export batch has, all value columns null), NaN written as null (float
//! parameters lose it; float series points keep their timestamp), several parts per run once
//! a part passes [`ExportSpec::part_bytes`], parts written as `.parquet.tmp` and renamed with
//! `part_0` last, optional `.tmp` leftovers of runs still being written, and for 3.x
//! experiments (heads) and forks whose rows hold only their own points.
//!
//! Run content reuses the project generator's training curves ([`crate::generate`]): the
//! same learning-curve shapes, NaN points and early failures.
//!
//! [`ExportRows`] builds rows of the schema directly, for tests that need odd exports.

mod names;
mod rows;

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{Float64Type, TimestampMicrosecondType};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression as ParquetCompression;
use datafusion::parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use names::{blake2b, sanitize_path_part};
pub use rows::{
    ExportRows, Histogram, ParamValue, RowValue, STEP_PRECISION, STEP_SCALE, export_schema, step_to_decimal,
};

use crate::build::{FloatSeriesBuilder, StringSeriesBuilder};
use crate::curves::{self, Ending, RunCurves};
use crate::vocab;
use crate::write::WriteError;

/// Which exporter wrote the export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NeptuneVersion {
    /// `--exporter neptune2` (neptune-client 1.14): `run_id` is `sys/id`; artifacts, file sets
    /// and model registry; no phantom rows.
    V2,
    /// `--exporter neptune3` (neptune-query 1.7): `run_id` is `sys/custom_run_id`;
    /// experiments, forks, histograms and phantom rows.
    V3,
}

/// Every knob of a generated export. [`ExportSpec::default`] is a 3.x export of 100 runs;
/// [`ExportSpec::neptune2`] and [`ExportSpec::neptune3`] start from either version.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportSpec {
    pub version: NeptuneVersion,
    /// `workspace/project`, as written in the `project_id` column.
    pub project_id: String,
    /// Prefix of the project-scoped run keys `KEY-1`, `KEY-2`, ... (`sys/id`; in 2.x also the
    /// `run_id`).
    pub key: String,
    /// Complete runs (each with its `part_0.parquet`).
    pub runs: u64,
    /// Float series per run (`metrics/accuracy`, `metrics/loss`, `val/loss`, `train/lr`, ...
    /// then `metrics/series_N`, as the project generator names them).
    pub float_series_per_run: usize,
    /// Points per float series of a run that ran to the end.
    pub points_per_series: usize,
    /// Entries of the run's stdout string series (0: none).
    pub log_lines_per_run: usize,
    /// Parameters beyond the fixed ones (`config/extra_N` or `parameters/extra_N`, floats),
    /// each set in 90% of the runs (so 3.x files get phantom rows for them).
    pub extra_parameters: usize,
    /// Fraction of runs with one NaN point (written as a null `float_value` with its
    /// timestamp); the same fraction of 3.x runs has a NaN float parameter `config/nan_param`
    /// (written as null, so it reads as absent).
    pub nan_rate: f64,
    /// Fraction of runs that failed (`sys/failed`, shorter series, an `ERROR` log line).
    pub failed_rate: f64,
    /// 3.x: number of experiments; run `i` belongs to experiment `i % experiments`, and the
    /// last run of each experiment is its head (`sys/experiment/is_head`).
    pub experiments: usize,
    /// 3.x: fraction of runs (other than each experiment's first) that fork the previous run
    /// of their experiment, so lineages of several levels occur.
    pub fork_rate: f64,
    /// 2.x: models of the model registry (`models/`), and their versions (`model_versions/`).
    pub models: usize,
    pub model_versions: usize,
    /// Runs left as `.parquet.tmp` only, as a crashed or running export leaves them (not
    /// counted in [`ExportSpec::runs`]).
    pub incomplete_runs: u64,
    /// Write the downloaded files (`FILES/...`: file contents, artifacts' `files_list.json`,
    /// file-series items) too.
    pub files: bool,
    /// A part is closed once it holds this many bytes and another batch comes (the exporter
    /// uses 50 MiB), so a part may overshoot by one batch.
    pub part_bytes: u64,
    /// Largest batch (and so row group) of series rows.
    pub batch_rows: usize,
    /// Creation time of the first run; runs are a minute apart.
    pub start: DateTime<Utc>,
    /// The same spec gives the same rows.
    pub seed: u64,
    /// Worker threads (0: one per core); the output does not depend on it.
    pub threads: usize,
}

impl Default for ExportSpec {
    fn default() -> Self {
        ExportSpec {
            version: NeptuneVersion::V3,
            project_id: "workspace/generated".into(),
            key: "GEN".into(),
            runs: 100,
            float_series_per_run: 6,
            points_per_series: 100,
            log_lines_per_run: 5,
            extra_parameters: 3,
            nan_rate: 0.05,
            failed_rate: 0.08,
            experiments: 8,
            fork_rate: 0.3,
            models: 0,
            model_versions: 0,
            incomplete_runs: 0,
            files: true,
            part_bytes: 50 << 20,
            batch_rows: 1 << 20,
            start: DateTime::from_timestamp(1_735_689_600, 0).expect("2025-01-01 is a valid time"),
            seed: 42,
            threads: 0,
        }
    }
}

impl ExportSpec {
    /// A 2.x export (with a small model registry) of the default size.
    pub fn neptune2() -> Self {
        ExportSpec {
            version: NeptuneVersion::V2,
            models: 2,
            model_versions: 5,
            ..ExportSpec::default()
        }
    }

    /// A 3.x export of the default size.
    pub fn neptune3() -> Self {
        ExportSpec::default()
    }

    /// Checks the knobs.
    pub fn validate(&self) -> Result<(), ExportError> {
        let bad = |m: String| Err(ExportError::InvalidSpec(m));
        for (name, rate) in [
            ("nan_rate", self.nan_rate),
            ("failed_rate", self.failed_rate),
            ("fork_rate", self.fork_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return bad(format!("{name} must be between 0 and 1, not {rate}"));
            }
        }
        if !self.project_id.contains('/') {
            return bad(format!(
                "project_id must be `workspace/project`, not {:?}",
                self.project_id
            ));
        }
        if self.key.is_empty() || self.key.contains(['-', '/', ' ']) {
            return bad(format!(
                "key must be non-empty without '-', '/' or spaces, not {:?}",
                self.key
            ));
        }
        if self.batch_rows == 0 {
            return bad("batch_rows must be positive".into());
        }
        if self.version == NeptuneVersion::V3 && self.experiments == 0 {
            return bad("a 3.x export needs at least one experiment".into());
        }
        if self.version == NeptuneVersion::V3 && (self.models > 0 || self.model_versions > 0) {
            return bad("only 2.x exports have a model registry".into());
        }
        if self.model_versions > 0 && self.models == 0 {
            return bad("model versions need at least one model".into());
        }
        Ok(())
    }

    /// Float series points of the export if every run ran to the end (an upper bound).
    pub fn max_float_points(&self) -> u64 {
        self.runs * (self.float_series_per_run * self.points_per_series) as u64
    }
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("invalid export spec: {0}")]
    InvalidSpec(String),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("an export writer thread panicked")]
    WorkerPanicked,
}

/// Where [`write_export`] is, reported after every batch of runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportProgress {
    pub runs_done: u64,
    /// Complete and incomplete runs to write.
    pub runs_total: u64,
    pub float_points: u64,
}

/// What [`write_export`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// `DIR/data/<S(project_id)>`: the exported project directory.
    pub project_dir: PathBuf,
    /// `DIR/files/<S(project_id)>`: where the downloaded files are.
    pub files_dir: PathBuf,
    /// Complete runs.
    pub runs: u64,
    /// Runs left as `.tmp` only.
    pub incomplete_runs: u64,
    /// 3.x: experiment heads among the complete runs.
    pub experiments: u64,
    /// 3.x: complete runs that are forks.
    pub forks: u64,
    pub models: u64,
    pub model_versions: u64,
    /// Float series points of the complete runs (NaN points included; phantom rows are not
    /// points).
    pub float_points: u64,
    /// String series entries of the complete runs.
    pub string_entries: u64,
    /// Complete parts (`*.parquet`) written, all runs and models.
    pub parquet_files: u64,
    /// Bytes of those parts.
    pub bytes: u64,
}

/// Writes a generated export to `dir`: `dir/data/<S(project_id)>/` and
/// `dir/files/<S(project_id)>/` (the exporter's defaults, `exports/data` and
/// `exports/files`, with `dir` = `exports`). `progress` is called on the calling thread after
/// every batch of 16 runs. The project directory must not exist yet.
pub fn write_export(
    spec: &ExportSpec,
    dir: impl AsRef<Path>,
    mut progress: impl FnMut(ExportProgress),
) -> Result<ExportSummary, ExportError> {
    spec.validate()?;
    let dir = dir.as_ref();
    let project_name = sanitize_path_part(&spec.project_id);
    let project_dir = dir.join("data").join(&project_name);
    let files_dir = dir.join("files").join(&project_name);
    if project_dir.exists() {
        return Err(ExportError::Write(WriteError::TableExists { path: project_dir }));
    }
    create_dir(&project_dir)?;
    if spec.files {
        create_dir(&files_dir)?;
    }
    let plan = Plan { spec };
    let total = spec.runs + spec.incomplete_runs;
    let batches = total.div_ceil(BATCH_RUNS);
    let threads = match spec.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(batches.max(1) as usize)
    .max(1);

    let mut summary = ExportSummary {
        project_dir: project_dir.clone(),
        files_dir: files_dir.clone(),
        ..Default::default()
    };
    let next = AtomicU64::new(0);
    let abort = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<BatchCounts>();
    let results = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let tx = tx.clone();
                let (plan, next, abort, project_dir, files_dir) =
                    (&plan, &next, &abort, &project_dir, &files_dir);
                scope.spawn(move || -> Result<(), ExportError> {
                    loop {
                        let b = next.fetch_add(1, Ordering::Relaxed);
                        if b >= batches || abort.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        match plan.write_batch(b, project_dir, files_dir) {
                            Ok(counts) => {
                                let _ = tx.send(counts);
                            }
                            Err(e) => {
                                abort.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let mut done = ExportProgress {
            runs_total: total,
            ..Default::default()
        };
        for counts in rx {
            done.runs_done += counts.runs + counts.incomplete;
            done.float_points += counts.float_points;
            summary.runs += counts.runs;
            summary.incomplete_runs += counts.incomplete;
            summary.experiments += counts.heads;
            summary.forks += counts.forks;
            summary.float_points += counts.float_points;
            summary.string_entries += counts.string_entries;
            summary.parquet_files += counts.files;
            summary.bytes += counts.bytes;
            progress(done);
        }
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or(Err(ExportError::WorkerPanicked)))
            .collect::<Vec<_>>()
    });
    for r in results {
        r?;
    }
    let models = plan.write_models(&project_dir, &files_dir)?;
    summary.models = models.models;
    summary.model_versions = models.versions;
    summary.parquet_files += models.files;
    summary.bytes += models.bytes;
    Ok(summary)
}

/// The exporter fetches parameters for 16 runs at a time; phantom rows come from that batch.
const BATCH_RUNS: u64 = 16;

#[derive(Debug, Default)]
struct BatchCounts {
    runs: u64,
    incomplete: u64,
    heads: u64,
    forks: u64,
    float_points: u64,
    string_entries: u64,
    files: u64,
    bytes: u64,
    models: u64,
    versions: u64,
}

fn create_dir(path: &Path) -> Result<(), ExportError> {
    std::fs::create_dir_all(path).map_err(|source| {
        ExportError::Write(WriteError::CreateDir {
            path: path.to_path_buf(),
            source,
        })
    })
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), ExportError> {
    if let Some(parent) = path.parent() {
        create_dir(parent)?;
    }
    std::fs::write(path, contents).map_err(|source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A stateless random number for (seed, index, salt): decisions that other runs must be able
/// to recompute (forks, their steps, run ids).
fn hash(seed: u64, index: u64, salt: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03);
    for _ in 0..2 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

fn unit(seed: u64, index: u64, salt: u64) -> f64 {
    (hash(seed, index, salt) >> 11) as f64 / (1u64 << 53) as f64
}

const SALT_FORK: u64 = 1;
const SALT_FORK_STEP: u64 = 2;
const SALT_ID: u64 = 3;

const EXPERIMENT_NAMES: &[&str] = &[
    "baseline", "lr-sweep", "ablation", "finetune", "pretrain", "distill",
];

/// One run's place in the export: its ids, experiment and lineage.
#[derive(Clone, Debug)]
struct RunPlan {
    index: u64,
    run_id: String,
    sys_id: String,
    experiment: String,
    is_head: bool,
    /// (parent index, fork step).
    fork: Option<(u64, f64)>,
    /// The first step the run logs itself (after its fork step).
    first_step: f64,
    depth: i64,
    family: String,
}

struct Plan<'a> {
    spec: &'a ExportSpec,
}

impl Plan<'_> {
    fn v3(&self) -> bool {
        self.spec.version == NeptuneVersion::V3
    }

    fn sys_id(&self, i: u64) -> String {
        format!("{}-{}", self.spec.key, i + 1)
    }

    fn run_id(&self, i: u64) -> String {
        if !self.v3() {
            return self.sys_id(i);
        }
        // 3.x run ids are custom run ids: UUIDs are common, names too.
        let h = hash(self.spec.seed, i, SALT_ID);
        if h & 1 == 0 {
            let h2 = hash(self.spec.seed, i, SALT_ID + 100);
            format!(
                "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                h >> 32,
                (h >> 16) & 0xffff,
                h & 0xfff,
                0x8000 | (h2 >> 48 & 0x3fff),
                h2 & 0xffff_ffff_ffff
            )
        } else {
            format!("run-{:05}", i + 1)
        }
    }

    fn experiments(&self) -> u64 {
        self.spec.experiments.max(1) as u64
    }

    fn parent(&self, i: u64) -> Option<u64> {
        let e = self.experiments();
        (self.v3() && i >= e && unit(self.spec.seed, i, SALT_FORK) < self.spec.fork_rate).then(|| i - e)
    }

    /// The run's first own step and its lineage depth; walks the ancestors.
    fn lineage(&self, i: u64) -> (f64, i64, u64) {
        let mut chain = vec![i];
        let mut root = i;
        while let Some(p) = self.parent(root) {
            chain.push(p);
            root = p;
        }
        let mut first = 0.0;
        for &run in chain.iter().rev().skip(1) {
            first += self.fork_offset(run) + 1.0;
        }
        (first, chain.len() as i64 - 1, root)
    }

    /// How far into its parent's own steps a fork forks: 30% to 70% of a full series.
    fn fork_offset(&self, i: u64) -> f64 {
        let n = self.spec.points_per_series.max(2) as f64;
        (n * (0.3 + 0.4 * unit(self.spec.seed, i, SALT_FORK_STEP))).floor()
    }

    fn run(&self, i: u64) -> RunPlan {
        let e = self.experiments();
        let (first_step, depth, root) = self.lineage(i);
        let fork = self.parent(i).map(|p| {
            let (parent_first, _, _) = self.lineage(p);
            (p, parent_first + self.fork_offset(i))
        });
        let name = EXPERIMENT_NAMES[(i % e) as usize % EXPERIMENT_NAMES.len()];
        RunPlan {
            index: i,
            run_id: self.run_id(i),
            sys_id: self.sys_id(i),
            experiment: format!("{name}-{}", i % e + 1),
            is_head: self.v3() && i < self.spec.runs && i + e >= self.spec.runs,
            fork,
            first_step,
            depth,
            family: self.run_id(root),
        }
    }

    fn rng(&self, i: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.spec.seed);
        rng.set_stream(i);
        rng
    }

    /// The parameters of a run, drawn from its stream (then the series continue the stream).
    fn params(&self, run: &RunPlan, rng: &mut ChaCha8Rng) -> Vec<(String, ParamValue)> {
        use ParamValue::{Bool, Datetime, Float, Int, String as Str, StringSet};
        let spec = self.spec;
        let created = spec.start.timestamp_millis() + run.index as i64 * 60_000 + rng.random_range(0..30_000);
        let running = rng.random_range(60.0..7200.0f64);
        let lr = 10f64.powf(rng.random_range(-4.5..-1.5));
        let failed = rng.random::<f64>() < spec.failed_rate;
        let owner = vocab::USERS[rng.random_range(0..vocab::USERS.len())].to_string();
        let tags: Vec<String> = (0..rng.random_range(0..4))
            .map(|_| vocab::TAGS[rng.random_range(0..vocab::TAGS.len())].to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let group = vec![vocab::GROUP_TAGS[rng.random_range(0..vocab::GROUP_TAGS.len())].to_string()];
        let optimizer = vocab::OPTIMIZERS[rng.random_range(0..vocab::OPTIMIZERS.len())]
            .0
            .to_string();
        let ms = |s: f64| created + (s * 1000.0) as i64;
        let mut p: Vec<(String, ParamValue)> = vec![
            ("sys/id".into(), Str(run.sys_id.clone())),
            ("sys/creation_time".into(), Datetime(created)),
            ("sys/modification_time".into(), Datetime(ms(running + 5.0))),
            ("sys/ping_time".into(), Datetime(ms(running + 2.0))),
            ("sys/owner".into(), Str(owner)),
            ("sys/description".into(), Str(String::new())),
            ("sys/failed".into(), Bool(failed)),
            ("sys/trashed".into(), Bool(false)),
            ("sys/tags".into(), StringSet(tags)),
            ("sys/group_tags".into(), StringSet(group)),
        ];
        let ns = if self.v3() { "config" } else { "parameters" };
        let batch = [16i64, 32, 64, 128, 256, 512][rng.random_range(0..6)];
        p.extend([
            (format!("{ns}/lr"), Float(lr)),
            (format!("{ns}/batch_size"), Int(batch)),
            (format!("{ns}/optimizer"), Str(optimizer)),
            (format!("{ns}/use_amp"), Bool(rng.random())),
            (format!("{ns}/seed"), Int(rng.random_range(0..10_000))),
            (format!("{ns}/started_at"), Datetime(created + 1000)),
        ]);
        for k in 0..spec.extra_parameters {
            if rng.random::<f64>() < 0.9 {
                p.push((format!("{ns}/extra_{}", k + 1), Float(rng.random_range(0.0..1.0))));
            }
        }
        if self.v3() {
            p.extend([
                ("sys/name".into(), Str(run.experiment.clone())),
                ("sys/custom_run_id".into(), Str(run.run_id.clone())),
                ("sys/experiment/name".into(), Str(run.experiment.clone())),
                ("sys/experiment/is_head".into(), Bool(run.is_head)),
                ("sys/family".into(), Str(run.family.clone())),
                ("sys/forking/depth".into(), Int(run.depth)),
                ("sys/archived".into(), Bool(false)),
                (
                    "sys/running_time_seconds".into(),
                    Float((running * 1000.0).round() / 1000.0),
                ),
                ("sys/size".into(), Int(rng.random_range(5_000..500_000))),
                (
                    "config/labels".into(),
                    StringSet(vec!["car".into(), "cat".into()]),
                ),
            ]);
            if let Some((parent, step)) = run.fork {
                p.push(("sys/forking/parent".into(), Str(self.run_id(parent))));
                p.push(("sys/forking/step".into(), Float(step)));
            }
            if rng.random::<f64>() < 0.5 {
                p.push(("config/dropout".into(), Float(rng.random_range(0.0..0.5))));
            }
            // One path, two types across runs: a phantom row of the other type in each.
            if rng.random::<f64>() < 0.8 {
                p.push(("config/warmup".into(), Int(rng.random_range(0..1000))));
            } else {
                p.push(("config/warmup".into(), Float(rng.random_range(0.0..0.1))));
            }
            if rng.random::<f64>() < spec.nan_rate {
                p.push(("config/nan_param".into(), Float(f64::NAN)));
            }
        } else {
            let host = format!("gpu-node-{:02}", rng.random_range(0..16));
            let monitor = vocab::hex(rng, 8);
            p.extend([
                ("sys/name".into(), Str(vocab::run_name(rng))),
                ("sys/hostname".into(), Str(host.clone())),
                (
                    "sys/running_time".into(),
                    Float((running * 1000.0).round() / 1000.0),
                ),
                ("sys/monitoring_time".into(), Int(running as i64)),
                ("sys/size".into(), Float(rng.random_range(5_000..500_000) as f64)),
                ("source_code/entrypoint".into(), Str("train.py".into())),
                (format!("monitoring/{monitor}/hostname"), Str(host)),
            ]);
            if rng.random::<f64>() < 0.3 {
                p.push(("sys/custom_run_id".into(), Str(vocab::hex(rng, 40))));
            }
        }
        p
    }

    /// Writes the runs of export batch `b` (16 runs, as the exporter fetches them).
    fn write_batch(&self, b: u64, project_dir: &Path, files_dir: &Path) -> Result<BatchCounts, ExportError> {
        let spec = self.spec;
        let total = spec.runs + spec.incomplete_runs;
        let indexes = b * BATCH_RUNS..((b + 1) * BATCH_RUNS).min(total);
        let mut drafts = Vec::new();
        for i in indexes {
            let run = self.run(i);
            let mut rng = self.rng(i);
            let params = self.params(&run, &mut rng);
            drafts.push((run, rng, params));
        }
        // 3.x: every `path:type` any run of the batch has, for the phantom rows.
        let mut union: Vec<(String, &'static str)> = Vec::new();
        if self.v3() {
            let set: std::collections::BTreeSet<(String, &'static str)> = drafts
                .iter()
                .flat_map(|(_, _, p)| p.iter().map(|(path, v)| (path.clone(), v.attribute_type())))
                .chain(
                    drafts
                        .iter()
                        .filter(|(run, _, _)| run.index.is_multiple_of(3))
                        .map(|_| ("data/sample".to_string(), "file")),
                )
                .collect();
            union = set.into_iter().collect();
        }
        let mut counts = BatchCounts::default();
        for (run, mut rng, params) in drafts {
            let complete = run.index < spec.runs;
            let (points, entries, files, bytes) =
                self.write_run(&run, &mut rng, &params, &union, project_dir, files_dir, complete)?;
            if complete {
                counts.runs += 1;
                counts.heads += run.is_head as u64;
                counts.forks += run.fork.is_some() as u64;
                counts.float_points += points;
                counts.string_entries += entries;
                counts.files += files;
                counts.bytes += bytes;
            } else {
                counts.incomplete += 1;
            }
        }
        Ok(counts)
    }

    /// Writes one run; returns (float points, string entries, parts, bytes).
    #[allow(clippy::too_many_arguments)]
    fn write_run(
        &self,
        run: &RunPlan,
        rng: &mut ChaCha8Rng,
        params: &[(String, ParamValue)],
        union: &[(String, &'static str)],
        project_dir: &Path,
        files_dir: &Path,
        complete: bool,
    ) -> Result<(u64, u64, u64, u64), ExportError> {
        let spec = self.spec;
        let prefix = sanitize_path_part(&run.run_id);
        let mut out = PartWriter::new(project_dir, &prefix, spec.part_bytes);
        let mut rows = ExportRows::new(&spec.project_id, &run.run_id);
        let mut own: std::collections::HashSet<(&str, &str)> = std::collections::HashSet::new();
        for (path, value) in params {
            rows.param(path, value);
            own.insert((path, value.attribute_type()));
        }
        for (path, ty) in union {
            if *ty != "file" && !own.contains(&(path.as_str(), *ty)) {
                rows.phantom(path, ty, None);
            }
        }
        out.write(&rows.finish())?;

        // Float series: the generator's curves, shifted to start after the fork step.
        let planned = spec.points_per_series;
        let lr = params
            .iter()
            .find(|(p, _)| p.ends_with("/lr"))
            .and_then(|(_, v)| match v {
                ParamValue::Float(x) => Some(*x),
                _ => None,
            })
            .unwrap_or(1e-3);
        let failed = params
            .iter()
            .any(|(p, v)| p == "sys/failed" && *v == ParamValue::Bool(true));
        let created = match params.iter().find(|(p, _)| p == "sys/creation_time") {
            Some((_, ParamValue::Datetime(ms))) => *ms,
            _ => spec.start.timestamp_millis(),
        };
        let mut curves = RunCurves::sample(rng, planned, lr, created * 1000);
        if failed {
            curves.len = (planned as f64 * rng.random_range(0.3..0.9)) as usize;
        }
        let defs = curves::default_series(spec.float_series_per_run);
        if rng.random::<f64>() < spec.nan_rate && curves.len > 0 && !defs.is_empty() {
            curves.nan_at = Some((rng.random_range(0..defs.len()), rng.random_range(0..curves.len)));
        }
        let schedule = curves::lr_schedule(planned);
        let mut points = FloatSeriesBuilder::with_capacity(curves.len * defs.len());
        curves.emit(rng, &run.sys_id, &defs, &schedule, planned, &mut points);
        let float_batch = points.finish();
        let float_points = float_batch.num_rows() as u64;
        self.write_points(&float_batch, run.first_step, true, &mut rows, &mut out)?;

        let log_path = match params.iter().find(|(p, _)| p.starts_with("monitoring/")) {
            Some((p, _)) if !self.v3() => p.replace("/hostname", "/stdout"),
            _ => "logs/stdout".to_string(),
        };
        let mut logs = StringSeriesBuilder::with_capacity(spec.log_lines_per_run);
        let ending = if failed { Ending::Failed } else { Ending::Done };
        let mut buf = String::new();
        curves::emit_logs(
            rng,
            &run.sys_id,
            &log_path,
            spec.log_lines_per_run,
            &curves,
            ending,
            &mut buf,
            &mut logs,
        );
        let log_batch = logs.finish();
        let string_entries = log_batch.num_rows() as u64;
        self.write_points(&log_batch, run.first_step, false, &mut rows, &mut out)?;

        self.file_rows(run, union, &mut rows, files_dir, created)?;
        if !rows.is_empty() {
            out.write(&rows.finish())?;
        }
        let (parts, bytes) = out.finish(complete)?;
        Ok((float_points, string_entries, parts, bytes))
    }

    /// Turns a generator series batch (`sys/id`, `path`, `step`, `value`, `timestamp` µs) into
    /// export rows, batch by batch.
    fn write_points(
        &self,
        batch: &RecordBatch,
        first_step: f64,
        float: bool,
        rows: &mut ExportRows,
        out: &mut PartWriter,
    ) -> Result<(), ExportError> {
        let paths = batch.column(1).as_string::<i32>();
        let steps = batch.column(2).as_primitive::<Float64Type>();
        let ts = batch.column(4).as_primitive::<TimestampMicrosecondType>();
        for i in 0..batch.num_rows() {
            let step = step_to_decimal(first_step + steps.value(i));
            let ms = ts.value(i).div_euclid(1000);
            if float {
                let v = batch.column(3).as_primitive::<Float64Type>().value(i);
                rows.float_point(paths.value(i), step, ms, v);
            } else {
                rows.string_point(
                    paths.value(i),
                    step,
                    ms,
                    batch.column(3).as_string::<i32>().value(i),
                );
            }
            if rows.len() >= self.spec.batch_rows {
                out.write(&rows.finish())?;
            }
        }
        if !rows.is_empty() {
            out.write(&rows.finish())?;
        }
        Ok(())
    }

    /// File, file series, artifact, file set and histogram rows, and their downloaded files.
    fn file_rows(
        &self,
        run: &RunPlan,
        union: &[(String, &'static str)],
        rows: &mut ExportRows,
        files_dir: &Path,
        created: i64,
    ) -> Result<(), ExportError> {
        let spec = self.spec;
        let write = |rel: &str, contents: &[u8]| -> Result<(), ExportError> {
            if spec.files {
                write_file(&files_dir.join(rel), contents)?;
            }
            Ok(())
        };
        let png: &[u8] = b"\x89PNG\r\n\x1a\n";
        if self.v3() {
            let rid = &run.run_id;
            let summary = format!("{rid}/model/summary.txt");
            rows.push("model/summary", "file", None, None, RowValue::File(&summary));
            write(&summary, format!("model of {rid}\n").as_bytes())?;
            if run.index.is_multiple_of(3) {
                let sample = format!("{rid}/data/sample.bin");
                rows.push("data/sample", "file", None, None, RowValue::File(&sample));
                write(&sample, &[0u8, 1, 2, 3])?;
            } else if union.iter().any(|(p, _)| p == "data/sample") {
                rows.phantom("data/sample", "file", None);
            }
            // Two file series at different steps: each gets phantom rows at the other's steps.
            let start = run.first_step;
            let samples = [start, start + 3.0, start + 6.0];
            let attention = [start, start + 4.0];
            let mut steps: Vec<f64> = samples.iter().chain(&attention).copied().collect();
            steps.sort_by(f64::total_cmp);
            steps.dedup();
            for (path, own) in [
                ("predictions/attention", &attention[..]),
                ("predictions/samples", &samples[..]),
            ] {
                for &s in &steps {
                    let d = step_to_decimal(s);
                    if own.contains(&s) {
                        let rel = format!("{rid}/{path}/step_{}_000000.png", s as i64);
                        rows.push(
                            path,
                            "file_series",
                            Some(d),
                            Some(created + 1000),
                            RowValue::File(&rel),
                        );
                        write(&rel, png)?;
                    } else {
                        rows.phantom(path, "file_series", Some(d));
                    }
                }
            }
            for k in 0..3 {
                let h = Histogram {
                    kind: "COUNTING".into(),
                    edges: (0..=5).map(f64::from).collect(),
                    values: (0..5).map(|j| ((run.index + k + j) % 50) as f64).collect(),
                };
                let step = step_to_decimal(start + 12.0 * k as f64);
                rows.push(
                    "debug/grad_hist",
                    "histogram_series",
                    Some(step),
                    Some(created + 2000),
                    RowValue::Histogram(&h),
                );
            }
        } else {
            let base = format!("{}/{}", spec.project_id, run.run_id);
            let summary = format!("{base}/model/summary");
            rows.push("model/summary", "file", None, None, RowValue::File(&summary));
            write(&summary, format!("model of {}\n", run.run_id).as_bytes())?;
            for k in 0..3 {
                let rel = format!("{base}/predictions/samples/{k}.png");
                rows.push(
                    "predictions/samples",
                    "file_series",
                    Some(step_to_decimal(k as f64)),
                    None,
                    RowValue::File(&rel),
                );
                write(&rel, png)?;
            }
            let set = format!("{base}/source_code/files");
            rows.push("source_code/files", "file_set", None, None, RowValue::File(&set));
            write(
                &format!("{set}/files.zip"),
                b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
            )?;
            if run.index.is_multiple_of(2) {
                let list = format!("{base}/datasets/train/files_list.json");
                rows.push("datasets/train", "artifact", None, None, RowValue::File(&list));
                let json = format!(
                    r#"[{{"filePath": "train.csv", "fileHash": "{:040x}", "type": "Local", "size": {}, "metadata": [{{"key": "file_path", "value": "file:///data/train-{}.csv"}}, {{"key": "last_modified", "value": "2025-02-27 10:15:00"}}]}}]"#,
                    hash(spec.seed, run.index, 7) as u128 * 0x1_0000_0001,
                    1000 + run.index % 7,
                    run.index % 5
                );
                write(&list, json.as_bytes())?;
            }
        }
        Ok(())
    }

    /// 2.x: the model registry, `models/` and `model_versions/` in the project directory.
    fn write_models(&self, project_dir: &Path, files_dir: &Path) -> Result<BatchCounts, ExportError> {
        let spec = self.spec;
        let mut counts = BatchCounts::default();
        if spec.models == 0 {
            return Ok(counts);
        }
        let created = spec.start.timestamp_millis();
        let stages = ["none", "staging", "production", "archived"];
        for (dir, n) in [("models", spec.models), ("model_versions", spec.model_versions)] {
            if n == 0 {
                continue;
            }
            let dir = project_dir.join(dir);
            create_dir(&dir)?;
            for k in 0..n {
                let model = if dir.ends_with("models") {
                    k
                } else {
                    k % spec.models
                };
                let model_id = format!("{}-MOD{}", spec.key, model + 1);
                let id = if dir.ends_with("models") {
                    model_id.clone()
                } else {
                    format!("{model_id}-{}", k / spec.models + 1)
                };
                let mut rows = ExportRows::new(&spec.project_id, &id);
                use ParamValue::{Bool, Datetime, Float, String as Str, StringSet};
                let mut params = vec![
                    ("sys/id", Str(id.clone())),
                    ("sys/name", Str(format!("model {}", model + 1))),
                    ("sys/creation_time", Datetime(created + k as i64 * 3_600_000)),
                    ("sys/owner", Str("alice".into())),
                    ("sys/trashed", Bool(false)),
                    ("sys/size", Float(1000.0 + k as f64)),
                    ("sys/tags", StringSet(vec![])),
                ];
                if !dir.ends_with("models") {
                    params.push(("sys/model_id", Str(model_id.clone())));
                    params.push(("sys/stage", Str(stages[k % stages.len()].into())));
                    params.push(("validation/acc", Float(0.5 + (k % 10) as f64 / 25.0)));
                }
                for (path, value) in &params {
                    rows.param(path, value);
                }
                let table = if dir.ends_with("models") {
                    "models"
                } else {
                    "model_versions"
                };
                let rel = format!("{table}/{id}/model/binary");
                rows.push("model/binary", "file", None, None, RowValue::File(&rel));
                if spec.files {
                    write_file(&files_dir.join(&rel), b"weights")?;
                }
                let mut out = PartWriter::new(&dir, &sanitize_path_part(&id), spec.part_bytes);
                out.write(&rows.finish())?;
                let (files, bytes) = out.finish(true)?;
                counts.files += files;
                counts.bytes += bytes;
                if table == "models" {
                    counts.models += 1;
                } else {
                    counts.versions += 1;
                }
            }
        }
        Ok(counts)
    }
}

/// The parts of one run: `PREFIX_part_N.parquet.tmp` while written, renamed with `part_0`
/// last when the run is complete (as the exporter's writer does).
struct PartWriter {
    dir: PathBuf,
    prefix: String,
    part_bytes: u64,
    writer: Option<ArrowWriter<BufWriter<File>>>,
    written: Vec<PathBuf>,
}

impl PartWriter {
    fn new(dir: &Path, prefix: &str, part_bytes: u64) -> Self {
        PartWriter {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            part_bytes,
            writer: None,
            written: Vec::new(),
        }
    }

    fn parquet_error(&self, source: datafusion::parquet::errors::ParquetError) -> ExportError {
        ExportError::Write(WriteError::Parquet {
            path: self.written.last().cloned().unwrap_or_default(),
            source,
        })
    }

    /// Writes one batch as one row group, opening the next part first when this one is full.
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ExportError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if let Some(w) = &self.writer
            && w.bytes_written() as u64 >= self.part_bytes
        {
            let w = self.writer.take().expect("checked above");
            w.close().map_err(|e| self.parquet_error(e))?;
        }
        if self.writer.is_none() {
            let path = self
                .dir
                .join(format!("{}_part_{}.parquet.tmp", self.prefix, self.written.len()));
            let file = File::create(&path).map_err(|source| ExportError::Io {
                path: path.clone(),
                source,
            })?;
            self.written.push(path);
            let props = WriterProperties::builder()
                .set_compression(ParquetCompression::SNAPPY)
                .build();
            let writer = ArrowWriter::try_new(
                BufWriter::with_capacity(1 << 20, file),
                export_schema(),
                Some(props),
            )
            .map_err(|e| self.parquet_error(e))?;
            self.writer = Some(writer);
        }
        let mut w = self.writer.take().expect("opened above");
        let result = w.write(batch).and_then(|()| w.flush());
        self.writer = Some(w);
        result.map_err(|e| self.parquet_error(e))
    }

    /// Closes the last part; renames the parts (part_0 last) when `complete`. Returns the
    /// number of parts and their bytes.
    fn finish(mut self, complete: bool) -> Result<(u64, u64), ExportError> {
        if let Some(w) = self.writer.take() {
            w.close().map_err(|e| self.parquet_error(e))?;
        }
        let mut bytes = 0;
        if complete {
            for tmp in self.written.iter().rev() {
                let done = tmp.with_extension("");
                std::fs::rename(tmp, &done).map_err(|source| ExportError::Io {
                    path: done.clone(),
                    source,
                })?;
                bytes += std::fs::metadata(&done).map(|m| m.len()).unwrap_or(0);
            }
        }
        Ok((if complete { self.written.len() as u64 } else { 0 }, bytes))
    }
}

#[cfg(test)]
mod tests;
