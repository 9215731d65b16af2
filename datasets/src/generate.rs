//! A seeded generator of realistic Neptune-like projects.
//!
//! [`ProjectSpec`] holds every knob. [`generate`] builds a small project in memory;
//! [`generate_to_dir`] streams a project of any size to disk in bounded memory: runs are
//! generated in chunks of [`ProjectSpec::runs_per_chunk`], and each chunk's rows go straight to
//! the Parquet writers of its part file. Both share the same code and give the same rows.
//!
//! Every run draws its content from its own random stream (ChaCha8, stream = run index), so a
//! run's content depends only on the spec and its index, never on chunking or threads: the
//! same spec gives byte-identical files.
//!
//! What a run holds (`KEY-N` is its id):
//! - `sys/name` (`adjective-animal`), `sys/owner` (users by a Zipf-like law, plus service
//!   accounts `name@team`), `sys/description` (mostly empty), `sys/tags` and `sys/group_tags`
//!   (Zipf-like vocabularies), `sys/creation_time` spread over the time span in id order,
//!   `sys/ping_time` at the last logged point, `sys/modification_time` at or after it,
//!   `sys/failed`, `sys/trashed`, `sys/size` (log-normal bytes), `sys/state:experimentState`
//!   (the newest runs are `active`).
//! - `params/lr` (log-uniform or from a grid; `params/lr:string` like `"3e-4"` instead in a
//!   few runs), `params/batch_size` (powers of two; `params/batch_size:string` `"auto"` in a
//!   few), `params/optimizer`, `params/seed`, `params/dropout`, `params/epochs`,
//!   `dataset_version:artifact` (a hash), `model/weights:fileRef`, plus
//!   [`ProjectSpec::extra_attributes`] more of varied types.
//! - Float series (`metrics/accuracy` saturating, `metrics/loss` and `val/loss` decaying,
//!   `train/lr` warmup + cosine, then more), steps `0..points`, shorter for runs that stopped
//!   early, failed or are still running; failed runs may diverge (loss inf, then NaN); some
//!   runs hold one NaN point; some runs log no series at all.
//! - `logs/stdout` string series: epoch lines, then `done`, or `ERROR: ...` for failed runs.
//!
//! Models are `KEY-CODE`, model versions `KEY-CODE-N` with `sys/model_id`, `sys/stage`, ...

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use chrono::{DateTime, TimeDelta, Utc};
use datafusion::arrow::record_batch::RecordBatch;
use nql::AttrType;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::build::{FloatSeriesBuilder, StringSeriesBuilder, TableBuilder, series_schema};
use crate::curves::{self, Ending, RunCurves, SeriesDef};
use crate::layout::column_name;
use crate::vocab::{self, Vocab};
use crate::write::{Compression, TableWriter, WriteError, WriteOptions, prepare_dir};
use crate::{ProjectBatches, layout};

/// Every knob of a generated project. `Default` gives a 1,000-run project with 30 attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectSpec {
    /// Project key: runs are `KEY-1`, `KEY-2`, ...; models `KEY-CODE`.
    pub key: String,
    /// Number of runs.
    pub runs: u64,
    /// Number of models.
    pub models: usize,
    /// Number of model versions, spread over the models by a Zipf-like law.
    pub model_versions: usize,
    /// Float series per run (`metrics/accuracy`, `metrics/loss`, `val/loss`, `train/lr`, then
    /// `val/accuracy`, `train/grad_norm`, `perf/samples_per_sec`, `metrics/series_N`).
    pub float_series_per_run: usize,
    /// Points per float series of a run that ran to the end (steps `0..points`).
    pub points_per_series: usize,
    /// Entries of the `logs/stdout` string series per run (0: no string series).
    pub log_lines_per_run: usize,
    /// Attributes beyond the fixed ones (`params/weight_decay`, `env/gpu`, `params/use_amp`,
    /// `metrics/best_epoch`, `eval/finished_at`, ..., then `extra/attr_N`), each set in 90% of
    /// runs.
    pub extra_attributes: usize,
    /// Number of distinct human owners (`jackie`, `alice`, ..., then `user-N`).
    pub users: usize,
    /// Fraction of runs owned by a service account (`ci-bot@ml-team`, ...).
    pub service_account_rate: f64,
    /// Number of distinct tags (`baseline`, `exploration`, ..., then `tag-N`).
    pub tag_vocabulary: usize,
    /// Number of distinct dataset versions (artifact hashes).
    pub dataset_versions: usize,
    /// Fraction of runs holding one NaN point in one series.
    pub nan_rate: f64,
    /// Fraction of finished runs that stopped early (shorter series, "early stopping" log).
    pub early_stop_rate: f64,
    /// Fraction of runs that logged no series at all.
    pub no_series_rate: f64,
    /// Fraction of runs that failed (`sys/failed`, an `ERROR` last log line, shorter series).
    pub failed_rate: f64,
    /// Fraction of failed runs that diverged: losses go to inf then NaN, accuracy collapses.
    pub divergence_rate: f64,
    /// Fraction of runs in the trash.
    pub trashed_rate: f64,
    /// Fraction of runs still running: the newest ones, `active`, with partial series.
    pub active_rate: f64,
    /// Fraction of runs whose `params/lr` and `params/batch_size` are strings.
    pub mixed_type_rate: f64,
    /// Creation time of the first run.
    pub start: DateTime<Utc>,
    /// Runs are created over `start .. start + span`, in id order.
    pub span: TimeDelta,
    /// The seed: the same spec gives the same bytes.
    pub seed: u64,
    /// Largest Parquet row group, in rows.
    pub row_group_rows: usize,
    /// Runs generated at once (memory is about `runs_per_chunk` × their points).
    pub runs_per_chunk: usize,
    /// Runs per file: more runs than this are written as `TABLE/part-NNNNN.parquet`.
    pub runs_per_file: u64,
    /// Parquet compression.
    pub compression: Compression,
    /// Worker threads for [`generate_to_dir`] (0: one per core); output does not depend on it.
    pub threads: usize,
}

impl Default for ProjectSpec {
    fn default() -> Self {
        ProjectSpec {
            key: "GEN".into(),
            runs: 1_000,
            models: 10,
            model_versions: 100,
            float_series_per_run: 4,
            points_per_series: 100,
            log_lines_per_run: 5,
            extra_attributes: 3,
            users: 12,
            service_account_rate: 0.15,
            tag_vocabulary: 40,
            dataset_versions: 20,
            nan_rate: 0.01,
            early_stop_rate: 0.2,
            no_series_rate: 0.02,
            failed_rate: 0.08,
            divergence_rate: 0.4,
            trashed_rate: 0.03,
            active_rate: 0.01,
            mixed_type_rate: 0.02,
            start: DateTime::from_timestamp(1_704_067_200, 0).expect("2024-01-01 is a valid time"),
            span: TimeDelta::days(365),
            seed: 42,
            row_group_rows: 1 << 20,
            runs_per_chunk: 2048,
            runs_per_file: 250_000,
            compression: Compression::Zstd(1),
            threads: 0,
        }
    }
}

impl ProjectSpec {
    /// Checks the knobs: rates in `[0, 1]`, positive sizes, a key without `-`.
    pub fn validate(&self) -> Result<(), GenerateError> {
        let bad = |msg: String| Err(GenerateError::InvalidSpec(msg));
        let rates = [
            ("service_account_rate", self.service_account_rate),
            ("nan_rate", self.nan_rate),
            ("early_stop_rate", self.early_stop_rate),
            ("no_series_rate", self.no_series_rate),
            ("failed_rate", self.failed_rate),
            ("divergence_rate", self.divergence_rate),
            ("trashed_rate", self.trashed_rate),
            ("active_rate", self.active_rate),
            ("mixed_type_rate", self.mixed_type_rate),
        ];
        for (name, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return bad(format!("{name} must be between 0 and 1, not {rate}"));
            }
        }
        if self.key.is_empty() || self.key.contains(['-', '/', ' ']) {
            return bad(format!(
                "key must be non-empty without '-', '/' or spaces, not {:?}",
                self.key
            ));
        }
        if self.row_group_rows == 0 || self.runs_per_chunk == 0 || self.runs_per_file == 0 {
            return bad("row_group_rows, runs_per_chunk and runs_per_file must be positive".into());
        }
        if self.span < TimeDelta::zero() {
            return bad("span must not be negative".into());
        }
        if self.model_versions > 0 && (self.models == 0 || self.runs == 0) {
            return bad("model versions need at least one model and one run".into());
        }
        Ok(())
    }

    /// Number of part files per table: 1 means single `TABLE.parquet` files.
    pub fn parts(&self) -> u64 {
        self.runs.div_ceil(self.runs_per_file).max(1)
    }

    /// The Parquet write options the spec asks for.
    pub fn write_options(&self) -> WriteOptions {
        WriteOptions {
            compression: self.compression,
            row_group_rows: self.row_group_rows,
        }
    }

    /// Float series points of a project where every run ran to the end (an upper bound).
    pub fn max_float_points(&self) -> u64 {
        self.runs * (self.float_series_per_run * self.points_per_series) as u64
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// A knob has an impossible value.
    #[error("invalid project spec: {0}")]
    InvalidSpec(String),
    /// Writing the files failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A worker thread panicked.
    #[error("a generator thread panicked")]
    WorkerPanicked,
}

/// Where [`generate_to_dir`] is, reported after every chunk of runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Progress {
    /// Runs written so far.
    pub runs_done: u64,
    /// Runs to write.
    pub runs_total: u64,
    /// Float series points written so far.
    pub float_points: u64,
    /// String series entries written so far.
    pub string_entries: u64,
}

/// What [`generate_to_dir`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenerateSummary {
    pub runs: u64,
    pub models: u64,
    pub model_versions: u64,
    pub float_points: u64,
    pub string_entries: u64,
    /// Every file written, in a stable order.
    pub files: Vec<PathBuf>,
}

/// Builds a whole project in memory (for tests and benchmarks: keep it small). Same rows as
/// [`generate_to_dir`] with the same spec.
pub fn generate(spec: &ProjectSpec) -> Result<ProjectBatches, GenerateError> {
    spec.validate()?;
    let generator = Generator::new(spec);
    let mut sink = MemorySink(ProjectBatches::default());
    for part in 0..spec.parts() {
        generator.part(part, &mut sink, &AtomicBool::new(false))?;
    }
    let mut project = sink.0;
    if let Some((models, versions)) = generator.model_tables() {
        project.models.push(models);
        project.model_versions.extend(versions);
    }
    Ok(project)
}

/// Writes a generated project to `dir` (created if needed; it must hold no project tables),
/// streaming chunks of runs to Parquet on [`ProjectSpec::threads`] threads. `progress` is
/// called on the calling thread after every chunk. With more than
/// [`ProjectSpec::runs_per_file`] runs, the runs and series tables are directories of part
/// files (`runs/part-00000.parquet`, ...), part N holding runs `N * runs_per_file + 1 ..`.
pub fn generate_to_dir(
    spec: &ProjectSpec,
    dir: impl AsRef<Path>,
    mut progress: impl FnMut(Progress),
) -> Result<GenerateSummary, GenerateError> {
    spec.validate()?;
    let dir = dir.as_ref();
    prepare_dir(dir)?;
    let generator = Generator::new(spec);
    let options = spec.write_options();
    let mut summary = GenerateSummary {
        runs: spec.runs,
        ..Default::default()
    };

    if let Some((models, versions)) = generator.model_tables() {
        for (table, batch) in [("models", Some(models)), ("model_versions", versions)] {
            let Some(batch) = batch else { continue };
            let path = dir.join(format!("{table}.parquet"));
            let mut writer = TableWriter::create(&path, table, batch.schema(), &options)?;
            writer.write(&batch)?;
            summary.files.push(writer.finish()?);
            if table == "models" {
                summary.models = batch.num_rows() as u64;
            } else {
                summary.model_versions = batch.num_rows() as u64;
            }
        }
    }

    let parts = spec.parts();
    let tables = generator.tables();
    if parts > 1 {
        for table in &tables {
            let path = dir.join(table);
            std::fs::create_dir_all(&path).map_err(|source| WriteError::CreateDir { path, source })?;
        }
    }
    let file_of = |table: &str, part: u64| {
        if parts > 1 {
            dir.join(table).join(format!("part-{part:05}.parquet"))
        } else {
            dir.join(format!("{table}.parquet"))
        }
    };
    let threads = match spec.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(parts as usize)
    .max(1);

    let next_part = AtomicU64::new(0);
    let abort = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(u64, u64, u64)>();
    let results = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let tx = tx.clone();
                let (generator, options, next_part, abort, file_of, tables) =
                    (&generator, &options, &next_part, &abort, &file_of, &tables);
                scope.spawn(move || -> Result<(), GenerateError> {
                    loop {
                        let part = next_part.fetch_add(1, Ordering::Relaxed);
                        if part >= parts || abort.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        let mut sink = FileSink::new(tables, |t| file_of(t, part), generator, options, &tx)?;
                        let result = generator
                            .part(part, &mut sink, abort)
                            .and_then(|()| sink.finish());
                        if result.is_err() {
                            abort.store(true, Ordering::Relaxed);
                            return result;
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let mut done = Progress {
            runs_total: spec.runs,
            ..Default::default()
        };
        for (runs, points, entries) in rx {
            done.runs_done += runs;
            done.float_points += points;
            done.string_entries += entries;
            progress(done);
        }
        summary.float_points = done.float_points;
        summary.string_entries = done.string_entries;
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or(Err(GenerateError::WorkerPanicked)))
            .collect::<Vec<_>>()
    });
    for result in results {
        result?;
    }
    for part in 0..parts {
        for table in &tables {
            summary.files.push(file_of(table, part));
        }
    }
    Ok(summary)
}

/// Where a part's batches go.
trait Sink {
    fn runs(&mut self, batch: RecordBatch) -> Result<(), GenerateError>;
    fn float_series(&mut self, batch: RecordBatch) -> Result<(), GenerateError>;
    fn string_series(&mut self, batch: RecordBatch) -> Result<(), GenerateError>;
    fn chunk_done(&mut self, _runs: u64, _points: u64, _entries: u64) {}
}

struct MemorySink(ProjectBatches);

impl Sink for MemorySink {
    fn runs(&mut self, batch: RecordBatch) -> Result<(), GenerateError> {
        self.0.runs.push(batch);
        Ok(())
    }
    fn float_series(&mut self, batch: RecordBatch) -> Result<(), GenerateError> {
        self.0.float_series.push(batch);
        Ok(())
    }
    fn string_series(&mut self, batch: RecordBatch) -> Result<(), GenerateError> {
        self.0.string_series.push(batch);
        Ok(())
    }
}

struct FileSink<'a> {
    runs: TableWriter,
    float: Option<TableWriter>,
    string: Option<TableWriter>,
    tx: &'a mpsc::Sender<(u64, u64, u64)>,
}

impl<'a> FileSink<'a> {
    fn new(
        tables: &[&'static str],
        file: impl Fn(&str) -> PathBuf,
        generator: &Generator,
        options: &WriteOptions,
        tx: &'a mpsc::Sender<(u64, u64, u64)>,
    ) -> Result<Self, GenerateError> {
        let open = |table: &str, schema| TableWriter::create(&file(table), table, schema, options);
        Ok(FileSink {
            runs: open("runs", generator.runs_schema.clone())?,
            float: match tables.contains(&"float_series") {
                true => Some(open("float_series", series_schema(true, true))?),
                false => None,
            },
            string: match tables.contains(&"string_series") {
                true => Some(open("string_series", series_schema(false, true))?),
                false => None,
            },
            tx,
        })
    }

    fn finish(self) -> Result<(), GenerateError> {
        self.runs.finish()?;
        if let Some(w) = self.float {
            w.finish()?;
        }
        if let Some(w) = self.string {
            w.finish()?;
        }
        Ok(())
    }
}

impl Sink for FileSink<'_> {
    fn runs(&mut self, batch: RecordBatch) -> Result<(), GenerateError> {
        Ok(self.runs.write(&batch)?)
    }
    fn float_series(&mut self, batch: RecordBatch) -> Result<(), GenerateError> {
        match &mut self.float {
            Some(w) => Ok(w.write(&batch)?),
            None => Ok(()),
        }
    }
    fn string_series(&mut self, batch: RecordBatch) -> Result<(), GenerateError> {
        match &mut self.string {
            Some(w) => Ok(w.write(&batch)?),
            None => Ok(()),
        }
    }
    fn chunk_done(&mut self, runs: u64, points: u64, entries: u64) {
        let _ = self.tx.send((runs, points, entries));
    }
}

/// The type and range of an extra attribute.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ExtraKind {
    LogFloat(f64, f64),
    Float(f64, f64),
    Int(i64, i64),
    Str(&'static [&'static str]),
    Bool(f64),
    /// Some time after the run's creation.
    Datetime,
}

impl ExtraKind {
    fn attr_type(self) -> AttrType {
        match self {
            ExtraKind::LogFloat(..) | ExtraKind::Float(..) => AttrType::Float,
            ExtraKind::Int(..) => AttrType::Int,
            ExtraKind::Str(_) => AttrType::String,
            ExtraKind::Bool(_) => AttrType::Bool,
            ExtraKind::Datetime => AttrType::Datetime,
        }
    }
}

/// One value of an extra attribute.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ExtraValue {
    Missing,
    Float(f64),
    Int(i64),
    Str(&'static str),
    Bool(bool),
    Datetime(i64),
}

/// The extra attributes `extra_attributes` adds, in order.
pub(crate) fn extra_defs(n: usize) -> Vec<(String, ExtraKind)> {
    const NAMED: &[(&str, ExtraKind)] = &[
        ("params/weight_decay", ExtraKind::LogFloat(1e-6, 1e-2)),
        ("env/gpu", ExtraKind::Str(vocab::GPUS)),
        ("params/use_amp", ExtraKind::Bool(0.7)),
        ("metrics/best_epoch", ExtraKind::Int(1, 100)),
        ("eval/finished_at", ExtraKind::Datetime),
        ("env/python", ExtraKind::Str(&["3.10", "3.11", "3.12", "3.13"])),
        ("params/warmup_steps", ExtraKind::Int(0, 2000)),
        ("params/momentum", ExtraKind::Float(0.8, 0.99)),
        ("eval/f1", ExtraKind::Float(0.4, 0.95)),
        ("env/cuda", ExtraKind::Str(&["11.8", "12.1", "12.4", "12.8"])),
    ];
    const CYCLE: [ExtraKind; 5] = [
        ExtraKind::Float(0.0, 1.0),
        ExtraKind::Int(0, 1000),
        ExtraKind::Str(&["red", "green", "blue", "amber"]),
        ExtraKind::Bool(0.5),
        ExtraKind::Datetime,
    ];
    (0..n)
        .map(|i| match NAMED.get(i) {
            Some((path, kind)) => (path.to_string(), *kind),
            None => (format!("extra/attr_{}", i + 1), CYCLE[i % CYCLE.len()]),
        })
        .collect()
}

/// Everything about one run except its series points.
#[derive(Clone, Debug)]
pub(crate) struct RunRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) owner: String,
    pub(crate) description: &'static str,
    pub(crate) tags: Vec<String>,
    pub(crate) group_tags: Vec<String>,
    pub(crate) creation_us: i64,
    pub(crate) modification_us: i64,
    pub(crate) ping_us: i64,
    pub(crate) failed: bool,
    pub(crate) trashed: bool,
    pub(crate) size: i64,
    pub(crate) active: bool,
    pub(crate) lr: Option<f64>,
    pub(crate) lr_string: Option<String>,
    pub(crate) batch_size: Option<i64>,
    pub(crate) batch_size_string: Option<&'static str>,
    pub(crate) optimizer: &'static str,
    pub(crate) seed: i64,
    pub(crate) dropout: f64,
    pub(crate) epochs: i64,
    pub(crate) dataset: Option<String>,
    pub(crate) weights: Option<String>,
    pub(crate) extras: Vec<ExtraValue>,
    pub(crate) curves: RunCurves,
    pub(crate) ending: Ending,
}

const LR_GRID: [f64; 7] = [1e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 1e-2];
const MODEL_CODES: &[&str] = &[
    "CLS", "DET", "SEG", "NER", "QA", "SUM", "ASR", "TTS", "REC", "EMB", "OCR", "POS", "SIM", "RNK", "VQA",
    "DEP", "CAP", "TRN", "FRD", "LID",
];
const STAGES: &[(&str, f64)] = &[
    ("none", 0.45),
    ("staging", 0.25),
    ("production", 0.15),
    ("archived", 0.15),
];

/// The generator: the spec plus everything precomputed from it.
#[derive(Debug)]
pub(crate) struct Generator {
    pub(crate) spec: ProjectSpec,
    base: ChaCha8Rng,
    pub(crate) users: Vocab,
    pub(crate) tags: Vocab,
    pub(crate) group_tags: Vocab,
    pub(crate) datasets: Vocab,
    pub(crate) series: Vec<SeriesDef>,
    pub(crate) schedule: Vec<f64>,
    pub(crate) extras: Vec<(String, ExtraKind)>,
    runs_schema: datafusion::arrow::datatypes::SchemaRef,
    start_us: i64,
    span_us: i64,
}

impl Generator {
    pub(crate) fn new(spec: &ProjectSpec) -> Self {
        let mut vocab_rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x766f_6361_6273);
        let datasets = (0..spec.dataset_versions)
            .map(|_| vocab::hex(&mut vocab_rng, 64))
            .collect();
        let mut generator = Generator {
            spec: spec.clone(),
            base: ChaCha8Rng::seed_from_u64(spec.seed),
            users: Vocab::zipf(vocab::words(vocab::USERS, spec.users, "user"), 1.0),
            tags: Vocab::zipf(vocab::words(vocab::TAGS, spec.tag_vocabulary, "tag"), 1.1),
            group_tags: Vocab::zipf(vocab::words(vocab::GROUP_TAGS, 8, "group"), 1.0),
            datasets: Vocab::zipf(datasets, 1.2),
            series: curves::default_series(spec.float_series_per_run),
            schedule: curves::lr_schedule(spec.points_per_series),
            extras: extra_defs(spec.extra_attributes),
            runs_schema: std::sync::Arc::new(datafusion::arrow::datatypes::Schema::empty()),
            start_us: spec.start.timestamp_micros(),
            span_us: spec.span.num_microseconds().unwrap_or(i64::MAX),
        };
        generator.runs_schema = generator.runs_table(&[]).finish().schema();
        generator
    }

    /// The tables a part writes.
    fn tables(&self) -> Vec<&'static str> {
        let mut tables = vec!["runs"];
        if !self.series.is_empty() && self.spec.points_per_series > 0 {
            tables.push("float_series");
        }
        if self.spec.log_lines_per_run > 0 {
            tables.push("string_series");
        }
        tables
    }

    /// The random stream of run `index` (0-based).
    pub(crate) fn run_rng(&self, index: u64) -> ChaCha8Rng {
        let mut rng = self.base.clone();
        rng.set_stream(index);
        rng
    }

    /// The id of run `index` (0-based): `KEY-(index+1)`.
    pub(crate) fn run_id(&self, index: u64) -> String {
        format!("{}-{}", self.spec.key, index + 1)
    }

    /// Draws everything about run `index` but its points.
    pub(crate) fn run_record<R: Rng>(&self, rng: &mut R, index: u64) -> RunRecord {
        let spec = &self.spec;
        let n = spec.runs.max(1);
        let creation_us =
            self.start_us + ((index as f64 + rng.random::<f64>()) / n as f64 * self.span_us as f64) as i64;

        let owner = self.owner(rng);
        let n_tags = [0, 1, 1, 2, 2, 2, 3, 3, 4, 5][rng.random_range(0..10)];
        let tags = self
            .tags
            .sample_set(rng, n_tags)
            .into_iter()
            .map(String::from)
            .collect();
        let n_groups = [0, 0, 1, 1, 2][rng.random_range(0..5)];
        let group_tags = self
            .group_tags
            .sample_set(rng, n_groups)
            .into_iter()
            .map(String::from)
            .collect();

        let lr = if rng.random_bool(0.5) {
            LR_GRID[rng.random_range(0..LR_GRID.len())]
        } else {
            10f64.powf(rng.random_range(-5.0..-1.0))
        };
        let mixed = rng.random_bool(spec.mixed_type_rate);
        let batch_size = 1i64 << rng.random_range(4..11);
        let optimizer = vocab::pick_weighted(rng, vocab::OPTIMIZERS);
        let seed = rng.random_range(0..1_000_000i64);
        let dropout = [0.0, 0.1, 0.1, 0.2, 0.3, 0.5][rng.random_range(0..6)];
        let epochs = [10, 20, 30, 50, 100][rng.random_range(0..5)];
        let dataset = (!self.datasets.is_empty()).then(|| self.datasets.sample(rng).to_string());
        let description = vocab::pick_weighted(rng, vocab::DESCRIPTIONS);

        // How the run went.
        let planned = spec.points_per_series;
        let active = (index as f64) >= n as f64 * (1.0 - spec.active_rate);
        let failed = !active && rng.random_bool(spec.failed_rate);
        let has_series = !rng.random_bool(spec.no_series_rate) && planned > 0 && !self.series.is_empty();
        let mut curves = RunCurves::sample(rng, planned, lr, creation_us);
        let mut ending = Ending::Done;
        if active {
            ending = Ending::Running;
            curves.len = rng.random_range(1..=planned.max(1));
        } else if failed {
            ending = Ending::Failed;
            if rng.random_bool(spec.divergence_rate) && planned >= 4 {
                let at = rng.random_range(planned / 10..planned * 4 / 5);
                curves.diverge_at = Some(at);
                curves.len = (at + 1 + rng.random_range(0..3)).min(planned);
            } else {
                curves.len = rng.random_range(1..=planned.max(1));
            }
        } else if rng.random_bool(spec.early_stop_rate) {
            ending = Ending::EarlyStopped;
            curves.len = rng.random_range(planned / 4..=planned).max(1);
        }
        if !has_series {
            curves.len = 0;
        }
        if curves.len > 0 && rng.random_bool(spec.nan_rate) {
            curves.nan_at = Some((
                rng.random_range(0..self.series.len()),
                rng.random_range(0..curves.len),
            ));
        }

        let ping_us = if curves.len > 0 {
            curves.last_us() + rng.random_range(1_000_000..60_000_000)
        } else {
            creation_us + rng.random_range(60_000_000..3 * 3_600_000_000)
        };
        let modification_us = if rng.random_bool(0.2) {
            ping_us + rng.random_range(0..30 * 86_400_000_000)
        } else {
            ping_us + rng.random_range(0..5_000_000)
        };
        let points = (curves.len * self.series.len()) as f64;
        let normal: f64 = rng.sample(StandardNormal);
        let size = ((3e6f64.ln() + 1.6 * normal).exp() + points * 24.0 + 20_000.0) as i64;
        let trashed = rng.random_bool(spec.trashed_rate);
        let weights = (!failed && !active && rng.random_bool(0.7)).then(|| {
            format!(
                "s3://{}-models/{}-{}/model.pt",
                spec.key.to_lowercase(),
                spec.key,
                index + 1
            )
        });

        let extras = self
            .extras
            .iter()
            .map(|(_, kind)| {
                if !rng.random_bool(0.9) {
                    return ExtraValue::Missing;
                }
                match *kind {
                    ExtraKind::LogFloat(lo, hi) => {
                        ExtraValue::Float(10f64.powf(rng.random_range(lo.log10()..hi.log10())))
                    }
                    ExtraKind::Float(lo, hi) => ExtraValue::Float(rng.random_range(lo..hi)),
                    ExtraKind::Int(lo, hi) => ExtraValue::Int(rng.random_range(lo..=hi)),
                    ExtraKind::Str(words) => ExtraValue::Str(words[rng.random_range(0..words.len())]),
                    ExtraKind::Bool(p) => ExtraValue::Bool(rng.random_bool(p)),
                    ExtraKind::Datetime => ExtraValue::Datetime(ping_us - rng.random_range(0..600_000_000)),
                }
            })
            .collect();

        RunRecord {
            id: self.run_id(index),
            name: vocab::run_name(rng),
            owner,
            description,
            tags,
            group_tags,
            creation_us,
            modification_us,
            ping_us,
            failed,
            trashed,
            size,
            active,
            lr: (!mixed).then_some(lr),
            lr_string: mixed.then(|| format!("{lr:e}")),
            batch_size: (!mixed).then_some(batch_size),
            batch_size_string: mixed.then_some("auto"),
            optimizer,
            seed,
            dropout,
            epochs,
            dataset,
            weights,
            extras,
            curves,
            ending,
        }
    }

    /// The runs table of `records`, unfinished so that callers can add columns.
    pub(crate) fn runs_table(&self, records: &[RunRecord]) -> TableBuilder {
        let mut t = TableBuilder::new();
        let suffixed = |path: &str, ty: AttrType| format!("{path}:{ty}");
        t.utf8(layout::ID_COLUMN, records.iter().map(|r| Some(&r.id)));
        t.utf8("sys/name", records.iter().map(|r| Some(&r.name)));
        t.utf8("sys/owner", records.iter().map(|r| Some(&r.owner)));
        t.utf8("sys/description", records.iter().map(|r| Some(r.description)));
        t.string_set("sys/tags", records.iter().map(|r| Some(&r.tags)));
        t.string_set("sys/group_tags", records.iter().map(|r| Some(&r.group_tags)));
        t.datetime("sys/creation_time", records.iter().map(|r| Some(r.creation_us)));
        t.datetime(
            "sys/modification_time",
            records.iter().map(|r| Some(r.modification_us)),
        );
        t.datetime("sys/ping_time", records.iter().map(|r| Some(r.ping_us)));
        t.bool("sys/failed", records.iter().map(|r| Some(r.failed)));
        t.bool("sys/trashed", records.iter().map(|r| Some(r.trashed)));
        t.int("sys/size", records.iter().map(|r| Some(r.size)));
        t.utf8(
            &column_name("sys/state", AttrType::ExperimentState, Some(AttrType::String)),
            records
                .iter()
                .map(|r| Some(if r.active { "active" } else { "inactive" })),
        );
        t.float("params/lr", records.iter().map(|r| r.lr));
        t.utf8(
            &suffixed("params/lr", AttrType::String),
            records.iter().map(|r| r.lr_string.as_ref()),
        );
        t.int("params/batch_size", records.iter().map(|r| r.batch_size));
        t.utf8(
            &suffixed("params/batch_size", AttrType::String),
            records.iter().map(|r| r.batch_size_string),
        );
        t.utf8("params/optimizer", records.iter().map(|r| Some(r.optimizer)));
        t.int("params/seed", records.iter().map(|r| Some(r.seed)));
        t.float("params/dropout", records.iter().map(|r| Some(r.dropout)));
        t.int("params/epochs", records.iter().map(|r| Some(r.epochs)));
        t.utf8(
            &column_name("dataset_version", AttrType::Artifact, Some(AttrType::String)),
            records.iter().map(|r| r.dataset.as_ref()),
        );
        t.utf8(
            &column_name("model/weights", AttrType::FileRef, Some(AttrType::String)),
            records.iter().map(|r| r.weights.as_ref()),
        );
        for (i, (path, kind)) in self.extras.iter().enumerate() {
            let values = records.iter().map(|r| &r.extras[i]);
            match kind.attr_type() {
                AttrType::Float => t.float(
                    path,
                    values.map(|v| match v {
                        ExtraValue::Float(x) => Some(*x),
                        _ => None,
                    }),
                ),
                AttrType::Int => t.int(
                    path,
                    values.map(|v| match v {
                        ExtraValue::Int(x) => Some(*x),
                        _ => None,
                    }),
                ),
                AttrType::Bool => t.bool(
                    path,
                    values.map(|v| match v {
                        ExtraValue::Bool(x) => Some(*x),
                        _ => None,
                    }),
                ),
                AttrType::Datetime => t.datetime(
                    path,
                    values.map(|v| match v {
                        ExtraValue::Datetime(x) => Some(*x),
                        _ => None,
                    }),
                ),
                _ => t.utf8(
                    path,
                    values.map(|v| match v {
                        ExtraValue::Str(x) => Some(*x),
                        _ => None,
                    }),
                ),
            }
        }
        t
    }

    /// Generates part `part`: its runs chunk by chunk, each chunk's runs, points and log
    /// entries sent to `sink`.
    fn part(&self, part: u64, sink: &mut dyn Sink, abort: &AtomicBool) -> Result<(), GenerateError> {
        let spec = &self.spec;
        let lo = part * spec.runs_per_file;
        let hi = ((part + 1) * spec.runs_per_file).min(spec.runs);
        let chunk = spec.runs_per_chunk as u64;
        let with_float = !self.series.is_empty() && spec.points_per_series > 0;
        let with_logs = spec.log_lines_per_run > 0;
        let mut line = String::new();
        let mut start = lo;
        while start < hi {
            if abort.load(Ordering::Relaxed) {
                return Ok(());
            }
            let end = (start + chunk).min(hi);
            let n = (end - start) as usize;
            let mut float = FloatSeriesBuilder::with_capacity(if with_float {
                n * self.series.len() * spec.points_per_series
            } else {
                0
            });
            let mut logs =
                StringSeriesBuilder::with_capacity(if with_logs { n * spec.log_lines_per_run } else { 0 });
            let mut records = Vec::with_capacity(n);
            for index in start..end {
                let mut rng = self.run_rng(index);
                let record = self.run_record(&mut rng, index);
                if record.curves.len > 0 {
                    if with_float {
                        record.curves.emit(
                            &mut rng,
                            &record.id,
                            &self.series,
                            &self.schedule,
                            spec.points_per_series,
                            &mut float,
                        );
                    }
                    curves::emit_logs(
                        &mut rng,
                        &record.id,
                        "logs/stdout",
                        spec.log_lines_per_run,
                        &record.curves,
                        record.ending,
                        &mut line,
                        &mut logs,
                    );
                }
                records.push(record);
            }
            let (points, entries) = (float.len() as u64, logs.len() as u64);
            sink.runs(self.runs_table(&records).finish())?;
            if with_float {
                sink.float_series(float.finish())?;
            }
            if with_logs {
                sink.string_series(logs.finish())?;
            }
            sink.chunk_done(n as u64, points, entries);
            start = end;
        }
        Ok(())
    }

    /// The models and model versions tables (`None` without models; versions `None` when
    /// there are none).
    pub(crate) fn model_tables(&self) -> Option<(RecordBatch, Option<RecordBatch>)> {
        let spec = &self.spec;
        if spec.models == 0 {
            return None;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x6d6f_6465_6c73);
        let key = &spec.key;
        let codes: Vec<String> = (0..spec.models)
            .map(|i| match MODEL_CODES.get(i) {
                Some(code) => code.to_string(),
                None => format!("M{}", i + 1),
            })
            .collect();
        let ids: Vec<String> = codes.iter().map(|c| format!("{key}-{c}")).collect();
        let created: Vec<i64> = (0..spec.models)
            .map(|i| self.start_us + (i as f64 / spec.models as f64 * self.span_us as f64 * 0.5) as i64)
            .collect();
        let owners: Vec<String> = (0..spec.models).map(|_| self.owner(&mut rng)).collect();

        // Versions: each picks a model by a Zipf-like law and gets the model's next number.
        let pick = Vocab::zipf(ids.clone(), 0.8);
        let mut next = vec![0usize; spec.models];
        let mut last_us = created.clone();
        let mut v = VersionColumns::default();
        for _ in 0..spec.model_versions {
            let m = pick.sample_index(&mut rng);
            next[m] += 1;
            let creation = last_us[m] + rng.random_range(3_600_000_000..20 * 86_400_000_000);
            last_us[m] = creation;
            v.id.push(format!("{}-{}", ids[m], next[m]));
            v.model_id.push(ids[m].clone());
            v.name.push(format!("{} v{}", codes[m].to_lowercase(), next[m]));
            v.owner.push(self.owner(&mut rng));
            v.stage.push(vocab::pick_weighted(&mut rng, STAGES));
            v.creation.push(creation);
            v.modification
                .push(creation + rng.random_range(0..10 * 86_400_000_000));
            v.size.push(rng.random_range(1_000_000..2_000_000_000));
            v.trashed.push(rng.random_bool(spec.trashed_rate));
            let acc: f64 = rng.random_range(0.7..0.97);
            v.acc.push(acc);
            v.loss.push((1.0 - acc) * rng.random_range(0.8..1.4));
            // A run created before the version.
            let before = (creation - self.start_us) as f64 / self.span_us.max(1) as f64 * spec.runs as f64;
            v.run
                .push(self.run_id(rng.random_range(0..(before as u64).clamp(1, spec.runs))));
            v.binary.push(format!(
                "s3://{}-models/{}/{}/model.bin",
                key.to_lowercase(),
                ids[m],
                next[m]
            ));
            v.dataset.push(match self.datasets.is_empty() {
                true => None,
                false => Some(self.datasets.sample(&mut rng).to_string()),
            });
        }

        let mut t = TableBuilder::new();
        t.utf8(layout::ID_COLUMN, ids.iter().map(Some));
        t.utf8(
            "sys/name",
            codes.iter().map(|c| Some(format!("{} model", c.to_lowercase()))),
        );
        t.utf8("sys/owner", owners.iter().map(Some));
        t.utf8("sys/description", (0..spec.models).map(|_| Some("")));
        t.string_set(
            "sys/tags",
            (0..spec.models).map(|i| Some(if i % 3 == 0 { vec!["production"] } else { vec![] })),
        );
        t.datetime("sys/creation_time", created.iter().map(|c| Some(*c)));
        t.datetime("sys/modification_time", last_us.iter().map(|c| Some(*c)));
        t.datetime("sys/ping_time", last_us.iter().map(|c| Some(*c)));
        t.int("sys/size", next.iter().map(|n| Some(20_000 + 4_000 * *n as i64)));
        t.bool("sys/trashed", (0..spec.models).map(|i| Some(i % 10 == 9)));
        t.utf8(
            "model/framework",
            (0..spec.models).map(|i| Some(["pytorch", "jax", "tensorflow"][i % 3])),
        );
        let models = t.finish();
        if spec.model_versions == 0 {
            return Some((models, None));
        }

        let mut t = TableBuilder::new();
        t.utf8(layout::ID_COLUMN, v.id.iter().map(Some));
        t.utf8(layout::MODEL_ID_COLUMN, v.model_id.iter().map(Some));
        t.utf8("sys/name", v.name.iter().map(Some));
        t.utf8("sys/owner", v.owner.iter().map(Some));
        t.utf8("sys/stage", v.stage.iter().map(|s| Some(*s)));
        t.datetime("sys/creation_time", v.creation.iter().map(|c| Some(*c)));
        t.datetime("sys/modification_time", v.modification.iter().map(|c| Some(*c)));
        t.datetime("sys/ping_time", v.modification.iter().map(|c| Some(*c)));
        t.int("sys/size", v.size.iter().map(|s| Some(*s)));
        t.bool("sys/trashed", v.trashed.iter().map(|b| Some(*b)));
        t.utf8(
            &column_name("sys/state", AttrType::ExperimentState, Some(AttrType::String)),
            v.id.iter().map(|_| Some("inactive")),
        );
        t.float("validation/acc", v.acc.iter().map(|x| Some(*x)));
        t.float("validation/loss", v.loss.iter().map(|x| Some(*x)));
        t.utf8("run/id", v.run.iter().map(Some));
        t.utf8(
            &column_name("model/binary", AttrType::FileRef, Some(AttrType::String)),
            v.binary.iter().map(Some),
        );
        t.utf8(
            &column_name("dataset_version", AttrType::Artifact, Some(AttrType::String)),
            v.dataset.iter().map(Option::as_ref),
        );
        Some((models, Some(t.finish())))
    }

    fn owner<R: Rng>(&self, rng: &mut R) -> String {
        if rng.random_bool(self.spec.service_account_rate) || self.users.is_empty() {
            vocab::SERVICE_ACCOUNTS[rng.random_range(0..vocab::SERVICE_ACCOUNTS.len())].to_string()
        } else {
            self.users.sample(rng).to_string()
        }
    }
}

#[derive(Default)]
struct VersionColumns {
    id: Vec<String>,
    model_id: Vec<String>,
    name: Vec<String>,
    owner: Vec<String>,
    stage: Vec<&'static str>,
    creation: Vec<i64>,
    modification: Vec<i64>,
    size: Vec<i64>,
    trashed: Vec<bool>,
    acc: Vec<f64>,
    loss: Vec<f64>,
    run: Vec<String>,
    binary: Vec<String>,
    dataset: Vec<Option<String>>,
}
