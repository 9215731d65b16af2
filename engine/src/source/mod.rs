//! Projects stored in formats other than the native layout (docs/dataset.md): a
//! neptune-exporter export ([`neptune`]) or an MLflow tracking store ([`mlflow`]). A source
//! is read in units of work (a run of an export, a run directory of a file store, a whole
//! SQLite store); each unit gives its objects and its series points in the native layout's
//! shapes, which the project index summarizes and keeps like a native project's. A source
//! is only ever read.

pub(crate) mod mlflow;
pub(crate) mod neptune;

use std::path::{Path, PathBuf};

use datafusion::arrow::record_batch::RecordBatch;
use datasets::layout::ObjectKind;

use crate::error::LoadError;

/// One unit of work of a source: what is read, summarized and kept together, and whose
/// files decide whether the stored result is still fresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unit {
    /// What the unit is, for messages and the index's manifest (`acme/vision VIS-7`,
    /// `experiment 3 run 0f3a...`, `mlflow.db`); unique within the source.
    pub label: String,
    /// The files the unit is read from. The unit is fresh while none of them changed.
    pub files: Vec<PathBuf>,
}

/// What one unit holds, in the native layout's shapes.
#[derive(Debug, Default)]
pub(crate) struct UnitData {
    /// Object rows by table. Each batch has `sys/id` (Utf8, non-null) first, then one column
    /// per attribute named `path:type` (always with the type suffix, so no name is read as
    /// a type), holding the values in the Arrow types docs/dataset.md lists for that type
    /// (int Int64, float Float64, string/artifact/fileRef Utf8, bool Boolean, datetime
    /// Timestamp(ms or µs, "UTC"), stringSet List(Utf8), experimentState Utf8 holding
    /// `active`/`inactive`, fileRefSeries and histogramSeries Boolean `true`: only their
    /// presence is queried); null where an object lacks the attribute. A table may come in
    /// several batches with different columns.
    pub objects: Vec<(ObjectKind, RecordBatch)>,
    /// Float series points by table: `sys/id` (Utf8), `path` (Utf8), `step` (Float64),
    /// `value` (Float64; NaN for a NaN point), `timestamp` (Timestamp, "UTC", nullable).
    pub float_points: Vec<(ObjectKind, RecordBatch)>,
    /// String series entries by table, the same columns with `value` Utf8.
    pub string_points: Vec<(ObjectKind, RecordBatch)>,
    /// Things the user should know that are not errors (`3 runs still being written were
    /// left out`), one line each.
    pub warnings: Vec<String>,
}

/// A project in a foreign format.
pub(crate) trait Source: Send + Sync + std::fmt::Debug {
    /// What the source is, for `nql schema` (`Neptune 2.x export of acme/vision`,
    /// `MLflow SQLite store`).
    fn describe(&self) -> String;

    /// What the user should know about the source as a whole (runs of an export still being
    /// written, left out), one line each; shown whenever the source is opened.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// Every unit of the source, in a stable order.
    fn units(&self) -> Result<Vec<Unit>, LoadError>;

    /// When listing [`Source::units`] reads the source's files (a 3.x export reads every run
    /// to find its experiments' lineage): the units that are listed without reading, such
    /// that every other unit is made only of their files and follows from them alone. An
    /// index whose units are these, unchanged, plus units of no other files, is fresh, and is
    /// known to be without reading a file. `None`: `units` is itself cheap.
    fn listed_units(&self) -> Option<Vec<Unit>> {
        None
    }

    /// Reads one unit. A malformed unit is an error naming the file (and column, table or
    /// line) and the problem; never a panic, never a unit silently left out.
    fn read(&self, unit: &Unit) -> Result<UnitData, LoadError>;
}

/// How to read a foreign source: which project of an export, which experiments of a store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceOptions {
    /// The project of a Neptune export's data root that holds several (`workspace/project`).
    pub project: Option<String>,
    /// Where an export's downloaded files are, when not where the exporter puts them.
    pub files: Option<PathBuf>,
    /// The MLflow experiments to read (names or ids); all when empty.
    pub experiments: Vec<String>,
}

/// The foreign source at `path`, or `None` when it is none that this engine reads.
pub(crate) fn open(path: &Path, options: &SourceOptions) -> Result<Option<Box<dyn Source>>, LoadError> {
    if let Some(export) = neptune::open(path, options.project.as_deref(), options.files.as_deref())? {
        return Ok(Some(Box::new(export)));
    }
    mlflow::open(path, &options.experiments)
}
