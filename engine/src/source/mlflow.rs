//! MLflow tracking stores read as projects (spec/mlflow.md; docs/mlflow.md says what maps to
//! what): a SQLite store ([`sqlite`], the whole file one unit) and an `mlruns/` file store
//! ([`files`], one unit per run directory and one per registered model). Both only ever read
//! the store: the SQLite file is opened read-only, and nothing is created beside it.
//!
//! Runs become objects of the runs table, registered models of the models table and model
//! versions of the model versions table; every metric is a float series with all its points.

// Nothing outside the tests calls `open` until the project index opens sources.

mod files;
mod sqlite;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Float64Builder, Int64Array, ListBuilder, StringArray,
    StringBuilder, TimestampMillisecondArray, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datasets::layout::ID_COLUMN;

use super::Source;
use crate::error::LoadError;

/// Opens the MLflow store at `path`, or says it is none (`Ok(None)`): a SQLite file (by its
/// header; any name), a `sqlite:///relative` or `sqlite:////absolute` URI given as the path,
/// or an `mlruns` directory (one with an experiment's `meta.yaml`). `experiments` restricts
/// the runs to those experiments: a value that is an experiment's id selects it by id, else
/// by name; an unknown one is [`LoadError::Choice`] listing the store's experiments.
pub(crate) fn open(path: &Path, experiments: &[String]) -> Result<Option<Box<dyn Source>>, LoadError> {
    if let Some(file) = sqlite_uri_path(path)? {
        let store = sqlite::SqliteStore::open(file, experiments, true)?;
        return Ok(Some(Box::new(store)));
    }
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LoadError::Io {
                file: path.to_path_buf(),
                source,
            });
        }
    };
    if metadata.is_file() {
        if sqlite::is_sqlite_file(path)? {
            let store = sqlite::SqliteStore::open(path.to_path_buf(), experiments, false)?;
            return Ok(Some(Box::new(store)));
        }
        return Ok(None);
    }
    if metadata.is_dir() && files::is_file_store(path)? {
        let store = files::FileStore::open(path, experiments)?;
        return Ok(Some(Box::new(store)));
    }
    Ok(None)
}

/// The file a `sqlite://` URI names, as MLflow (SQLAlchemy) reads it: `sqlite:///a/b.db` is
/// `a/b.db` relative to the working directory, `sqlite:////a/b.db` is `/a/b.db`; `%XX`
/// escapes are decoded. `None` when `path` is not such a URI.
fn sqlite_uri_path(path: &Path) -> Result<Option<PathBuf>, LoadError> {
    let Some(text) = path.to_str() else {
        return Ok(None);
    };
    let Some(rest) = text.strip_prefix("sqlite://") else {
        return Ok(None);
    };
    let bad = |problem: &str| LoadError::Source {
        path: path.to_path_buf(),
        problem: problem.to_string(),
    };
    if rest.is_empty() || rest == "/" || rest == "/:memory:" {
        return Err(bad(
            "an in-memory SQLite database holds no store: name a file (sqlite:///mlflow.db)",
        ));
    }
    let Some(file) = rest.strip_prefix('/') else {
        return Err(bad(
            "a SQLite URI names a file: sqlite:///relative/path or sqlite:////absolute/path",
        ));
    };
    // SQLAlchemy's URL takes a `?query` of driver options; none of them changes what is read.
    let file = file.split_once('?').map_or(file, |(file, _)| file);
    let decoded =
        percent_decode(file).ok_or_else(|| bad("a `%` escape in the URI is not valid UTF-8 or hex"))?;
    Ok(Some(PathBuf::from(decoded)))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// One experiment of a store.
#[derive(Clone, Debug)]
struct Experiment {
    id: String,
    name: String,
    deleted: bool,
}

/// The experiment ids that `wanted` selects (`None`: all of them). A value that is an
/// experiment's id selects that one; otherwise the experiment of that name.
fn select_experiments(
    store: &Path,
    all: &[Experiment],
    wanted: &[String],
) -> Result<Option<BTreeSet<String>>, LoadError> {
    if wanted.is_empty() {
        return Ok(None);
    }
    let mut selected = BTreeSet::new();
    let mut unknown = Vec::new();
    for value in wanted {
        let found = all
            .iter()
            .find(|e| &e.id == value)
            .or_else(|| all.iter().find(|e| &e.name == value));
        match found {
            Some(e) => {
                selected.insert(e.id.clone());
            }
            None => unknown.push(value.as_str()),
        }
    }
    if unknown.is_empty() {
        return Ok(Some(selected));
    }
    let mut listed: Vec<&Experiment> = all.iter().collect();
    listed.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    let choices: Vec<String> = listed
        .iter()
        .map(|e| {
            let deleted = if e.deleted { ", deleted" } else { "" };
            format!("`{}` (id {}{deleted})", e.name, e.id)
        })
        .collect();
    let unknown: Vec<String> = unknown.iter().map(|u| format!("`{u}`")).collect();
    let what = if unknown.len() == 1 {
        "no experiment"
    } else {
        "no experiments"
    };
    Err(LoadError::Choice(format!(
        "{}: {what} {} (by id or name); its experiments are {}",
        store.display(),
        unknown.join(", "),
        if choices.is_empty() {
            "none".to_string()
        } else {
            choices.join(", ")
        }
    )))
}

/// A run's status, as MLflow spells it (the SQLite store's names; the file store's numbers
/// 1 to 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Running,
    Scheduled,
    Finished,
    Failed,
    Killed,
}

impl Status {
    fn from_name(name: &str) -> Option<Status> {
        Some(match name {
            "RUNNING" => Status::Running,
            "SCHEDULED" => Status::Scheduled,
            "FINISHED" => Status::Finished,
            "FAILED" => Status::Failed,
            "KILLED" => Status::Killed,
            _ => return None,
        })
    }

    fn from_number(number: i64) -> Option<Status> {
        Some(match number {
            1 => Status::Running,
            2 => Status::Scheduled,
            3 => Status::Finished,
            4 => Status::Failed,
            5 => Status::Killed,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Scheduled => "SCHEDULED",
            Status::Finished => "FINISHED",
            Status::Failed => "FAILED",
            Status::Killed => "KILLED",
        }
    }

    fn active(self) -> bool {
        matches!(self, Status::Running | Status::Scheduled)
    }

    fn failed(self) -> bool {
        matches!(self, Status::Failed | Status::Killed)
    }
}

/// A run as both stores give it, before it becomes a row.
#[derive(Debug)]
struct Run {
    id: String,
    name: Option<String>,
    user_id: Option<String>,
    status: Status,
    start_time: Option<i64>,
    end_time: Option<i64>,
    /// The run or its experiment is deleted.
    trashed: bool,
    experiment_id: String,
    experiment_name: Option<String>,
    params: Vec<(String, String)>,
    tags: Vec<(String, String)>,
    /// The latest timestamp of the run's metric points.
    last_point: Option<i64>,
}

impl Run {
    fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn see_point(&mut self, timestamp: Option<i64>) {
        if let Some(t) = timestamp {
            self.last_point = Some(self.last_point.map_or(t, |last| last.max(t)));
        }
    }
}

/// MLflow's system tags start with this; the others are the user's (`sys/tags`).
const SYSTEM_TAG_PREFIX: &str = "mlflow.";

/// A string that MLflow leaves empty where it has no value: missing.
fn non_empty(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_string)
}

/// A param's value, typed by its text (spec/mlflow.md): int, else float, else bool, else
/// string.
#[derive(Clone, Debug, PartialEq)]
enum ParamValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    String(String),
}

impl ParamValue {
    fn parse(text: &str) -> ParamValue {
        if is_decimal_int(text)
            && let Ok(i) = text.parse::<i64>()
        {
            return ParamValue::Int(i);
        }
        if let Some(f) = parse_float(text) {
            return ParamValue::Float(f);
        }
        if text.eq_ignore_ascii_case("true") {
            return ParamValue::Bool(true);
        }
        if text.eq_ignore_ascii_case("false") {
            return ParamValue::Bool(false);
        }
        ParamValue::String(text.to_string())
    }

    fn type_name(&self) -> &'static str {
        match self {
            ParamValue::Int(_) => "int",
            ParamValue::Float(_) => "float",
            ParamValue::Bool(_) => "bool",
            ParamValue::String(_) => "string",
        }
    }
}

/// Decimal digits with an optional sign.
fn is_decimal_int(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A float in decimal or exponent notation, or `nan`, `inf`, `infinity` (any case, with an
/// optional sign); no `_` separators, no white space. Every NaN is the positive quiet NaN.
fn parse_float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let named = ["nan", "inf", "infinity"]
        .iter()
        .any(|n| unsigned.eq_ignore_ascii_case(n));
    let numeric = !unsigned.is_empty()
        && unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && unsigned.bytes().any(|b| b.is_ascii_digit());
    if !named && !numeric {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    Some(if value.is_nan() { f64::NAN } else { value })
}

/// The type of a column of an object batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    String,
    Int,
    Float,
    Bool,
    Datetime,
    StringSet,
    /// experimentState: Utf8 holding `active`/`inactive`.
    State,
}

#[derive(Debug)]
enum Values {
    Str(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    Time(Vec<Option<i64>>),
    Set(Vec<Option<Vec<String>>>),
}

impl Values {
    fn new(kind: Kind) -> Values {
        match kind {
            Kind::String | Kind::State => Values::Str(Vec::new()),
            Kind::Int => Values::Int(Vec::new()),
            Kind::Float => Values::Float(Vec::new()),
            Kind::Bool => Values::Bool(Vec::new()),
            Kind::Datetime => Values::Time(Vec::new()),
            Kind::StringSet => Values::Set(Vec::new()),
        }
    }

    fn pad(&mut self, len: usize) {
        match self {
            Values::Str(v) => v.resize(len, None),
            Values::Int(v) => v.resize(len, None),
            Values::Float(v) => v.resize(len, None),
            Values::Bool(v) => v.resize(len, None),
            Values::Time(v) => v.resize(len, None),
            Values::Set(v) => v.resize(len, None),
        }
    }

    fn into_array(self) -> ArrayRef {
        match self {
            Values::Str(v) => Arc::new(StringArray::from(v)),
            Values::Int(v) => Arc::new(Int64Array::from(v)),
            Values::Float(v) => Arc::new(Float64Array::from(v)),
            Values::Bool(v) => Arc::new(BooleanArray::from(v)),
            Values::Time(v) => Arc::new(TimestampMillisecondArray::from(v).with_timezone("UTC")),
            Values::Set(v) => {
                let mut builder = ListBuilder::new(StringBuilder::new());
                for set in v {
                    match set {
                        Some(items) => {
                            for item in items {
                                builder.values().append_value(item);
                            }
                            builder.append(true);
                        }
                        None => builder.append(false),
                    }
                }
                Arc::new(builder.finish())
            }
        }
    }
}

/// One value of an object's attribute.
enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Time(i64),
    Set(Vec<String>),
}

/// Object rows built one at a time, with columns named `path:type`: the fixed columns in the
/// order given, then the others sorted by name.
#[derive(Debug)]
struct Table {
    ids: Vec<String>,
    columns: Vec<(String, Values)>,
    index: HashMap<String, usize>,
    fixed: usize,
}

impl Table {
    fn new(fixed: &[(&str, Kind)]) -> Table {
        let mut table = Table {
            ids: Vec::new(),
            columns: Vec::new(),
            index: HashMap::new(),
            fixed: fixed.len(),
        };
        for &(name, kind) in fixed {
            table.column(name, kind);
        }
        table
    }

    fn column(&mut self, name: &str, kind: Kind) -> &mut Values {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.columns.push((name.to_string(), Values::new(kind)));
                self.index.insert(name.to_string(), self.columns.len() - 1);
                self.columns.len() - 1
            }
        };
        &mut self.columns[i].1
    }

    /// Starts the row of the next object.
    fn row(&mut self, id: &str) {
        self.ids.push(id.to_string());
    }

    /// Sets an attribute of the current row (a missing value leaves it null).
    fn set(&mut self, name: &str, kind: Kind, value: Option<Value>) {
        let Some(value) = value else {
            self.column(name, kind);
            return;
        };
        let row = self.ids.len() - 1;
        let values = self.column(name, kind);
        // A second value for the same attribute of the same object replaces the first.
        values.pad(row + 1);
        match (values, value) {
            (Values::Str(v), Value::Str(x)) => v[row] = Some(x),
            (Values::Int(v), Value::Int(x)) => v[row] = Some(x),
            (Values::Float(v), Value::Float(x)) => v[row] = Some(x),
            (Values::Bool(v), Value::Bool(x)) => v[row] = Some(x),
            (Values::Time(v), Value::Time(x)) => v[row] = Some(x),
            (Values::Set(v), Value::Set(x)) => v[row] = Some(x),
            _ => unreachable!("a column's values all have its type (the type is in its name)"),
        }
    }

    fn set_str(&mut self, name: &str, value: Option<String>) {
        self.set(name, Kind::String, value.map(Value::Str));
    }

    fn set_time(&mut self, name: &str, value: Option<i64>) {
        self.set(name, Kind::Datetime, value.map(Value::Time));
    }

    fn set_bool(&mut self, name: &str, value: bool) {
        self.set(name, Kind::Bool, Some(Value::Bool(value)));
    }

    fn set_set(&mut self, name: &str, mut items: Vec<String>) {
        items.sort();
        items.dedup();
        self.set(name, Kind::StringSet, Some(Value::Set(items)));
    }

    fn set_param(&mut self, key: &str, text: &str) {
        let value = ParamValue::parse(text);
        let name = format!("params/{key}:{}", value.type_name());
        let (kind, value) = match value {
            ParamValue::Int(i) => (Kind::Int, Value::Int(i)),
            ParamValue::Float(f) => (Kind::Float, Value::Float(f)),
            ParamValue::Bool(b) => (Kind::Bool, Value::Bool(b)),
            ParamValue::String(s) => (Kind::String, Value::Str(s)),
        };
        self.set(&name, kind, Some(value));
    }

    fn set_tags(&mut self, tags: &[(String, String)]) {
        for (key, value) in tags {
            self.set_str(&format!("tags/{key}:string"), Some(value.clone()));
        }
    }

    fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn finish(mut self) -> RecordBatch {
        let rows = self.ids.len();
        let mut dynamic = self.columns.split_off(self.fixed);
        dynamic.sort_by(|a, b| a.0.cmp(&b.0));
        self.columns.extend(dynamic);
        let mut fields = vec![Field::new(ID_COLUMN, DataType::Utf8, false)];
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(StringArray::from(self.ids))];
        for (name, mut values) in self.columns {
            values.pad(rows);
            let array = values.into_array();
            fields.push(Field::new(name, array.data_type().clone(), true));
            arrays.push(array);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .expect("columns of one length and their own types")
    }
}

/// The fixed columns of the runs table, in their order.
const RUN_COLUMNS: &[(&str, Kind)] = &[
    ("sys/name:string", Kind::String),
    ("sys/owner:string", Kind::String),
    ("sys/description:string", Kind::String),
    ("sys/creation_time:datetime", Kind::Datetime),
    ("sys/modification_time:datetime", Kind::Datetime),
    ("sys/ping_time:datetime", Kind::Datetime),
    ("sys/state:experimentState", Kind::State),
    ("sys/failed:bool", Kind::Bool),
    ("sys/trashed:bool", Kind::Bool),
    ("sys/tags:stringSet", Kind::StringSet),
    ("sys/experiment/id:string", Kind::String),
    ("sys/experiment/name:string", Kind::String),
    ("sys/mlflow/status:string", Kind::String),
];

/// The runs as one batch of the runs table (none when there are no runs).
fn runs_batch(runs: &[Run]) -> Option<RecordBatch> {
    let mut table = Table::new(RUN_COLUMNS);
    for run in runs {
        table.row(&run.id);
        let name = non_empty(run.name.as_deref()).or_else(|| non_empty(run.tag("mlflow.runName")));
        table.set_str("sys/name:string", name);
        table.set_str("sys/owner:string", non_empty(run.user_id.as_deref()));
        table.set_str(
            "sys/description:string",
            non_empty(run.tag("mlflow.note.content")),
        );
        table.set_time("sys/creation_time:datetime", run.start_time);
        let modified = [run.start_time, run.end_time, run.last_point]
            .into_iter()
            .flatten()
            .max();
        table.set_time("sys/modification_time:datetime", modified);
        table.set_time("sys/ping_time:datetime", modified);
        let state = if run.status.active() { "active" } else { "inactive" };
        table.set(
            "sys/state:experimentState",
            Kind::State,
            Some(Value::Str(state.to_string())),
        );
        table.set_bool("sys/failed:bool", run.status.failed());
        table.set_bool("sys/trashed:bool", run.trashed);
        let user_tags = run
            .tags
            .iter()
            .filter(|(k, _)| !k.starts_with(SYSTEM_TAG_PREFIX))
            .map(|(k, _)| k.clone())
            .collect();
        table.set_set("sys/tags:stringSet", user_tags);
        table.set_str("sys/experiment/id:string", Some(run.experiment_id.clone()));
        table.set_str("sys/experiment/name:string", run.experiment_name.clone());
        table.set_str("sys/mlflow/status:string", Some(run.status.name().to_string()));
        for (key, value) in &run.params {
            table.set_param(key, value);
        }
        table.set_tags(&run.tags);
    }
    (!table.is_empty()).then(|| table.finish())
}

/// A registered model as both stores give it.
#[derive(Debug, Default)]
struct Model {
    name: String,
    creation_time: Option<i64>,
    last_updated_time: Option<i64>,
    description: Option<String>,
    tags: Vec<(String, String)>,
    /// Alias and the version it points at.
    aliases: Vec<(String, String)>,
}

/// A model version as both stores give it.
#[derive(Debug, Default)]
struct ModelVersion {
    name: String,
    version: String,
    creation_time: Option<i64>,
    last_updated_time: Option<i64>,
    description: Option<String>,
    user_id: Option<String>,
    current_stage: Option<String>,
    run_id: Option<String>,
    /// MLflow 3's logged model, where the store records one.
    model_id: Option<String>,
    tags: Vec<(String, String)>,
}

/// The stage MLflow gives a deleted model version, which its API never returns.
const DELETED_STAGE: &str = "Deleted_Internal";

const MODEL_COLUMNS: &[(&str, Kind)] = &[
    ("sys/name:string", Kind::String),
    ("sys/creation_time:datetime", Kind::Datetime),
    ("sys/modification_time:datetime", Kind::Datetime),
    ("sys/description:string", Kind::String),
    ("sys/tags:stringSet", Kind::StringSet),
    ("aliases:stringSet", Kind::StringSet),
];

const VERSION_COLUMNS: &[(&str, Kind)] = &[
    ("sys/model_id:string", Kind::String),
    ("sys/name:string", Kind::String),
    ("sys/stage:string", Kind::String),
    ("sys/creation_time:datetime", Kind::Datetime),
    ("sys/modification_time:datetime", Kind::Datetime),
    ("sys/description:string", Kind::String),
    ("sys/owner:string", Kind::String),
    ("run_id:string", Kind::String),
    ("mlflow/logged_model_id:string", Kind::String),
    ("sys/tags:stringSet", Kind::StringSet),
    ("aliases:stringSet", Kind::StringSet),
];

/// The batches of the models and model versions tables for these models and versions
/// (deleted versions left out), appended to `data`.
fn registry_batches(models: &[Model], versions: &[ModelVersion], data: &mut super::UnitData) {
    use datasets::layout::ObjectKind;

    let mut table = Table::new(MODEL_COLUMNS);
    for model in models {
        table.row(&model.name);
        table.set_str("sys/name:string", Some(model.name.clone()));
        table.set_time("sys/creation_time:datetime", model.creation_time);
        table.set_time("sys/modification_time:datetime", model.last_updated_time);
        table.set_str("sys/description:string", non_empty(model.description.as_deref()));
        table.set_set(
            "sys/tags:stringSet",
            model.tags.iter().map(|(k, _)| k.clone()).collect(),
        );
        table.set_set(
            "aliases:stringSet",
            model.aliases.iter().map(|(a, _)| a.clone()).collect(),
        );
        table.set_tags(&model.tags);
    }
    if !table.is_empty() {
        data.objects.push((ObjectKind::Models, table.finish()));
    }

    let by_name: HashMap<&str, &Model> = models.iter().map(|m| (m.name.as_str(), m)).collect();
    let mut table = Table::new(VERSION_COLUMNS);
    for version in versions {
        if version.current_stage.as_deref() == Some(DELETED_STAGE) {
            continue;
        }
        table.row(&format!("{}/{}", version.name, version.version));
        table.set_str("sys/model_id:string", Some(version.name.clone()));
        table.set_str("sys/name:string", Some(version.version.clone()));
        table.set_str(
            "sys/stage:string",
            version.current_stage.as_deref().map(str::to_lowercase),
        );
        table.set_time("sys/creation_time:datetime", version.creation_time);
        table.set_time("sys/modification_time:datetime", version.last_updated_time);
        table.set_str(
            "sys/description:string",
            non_empty(version.description.as_deref()),
        );
        table.set_str("sys/owner:string", non_empty(version.user_id.as_deref()));
        table.set_str("run_id:string", non_empty(version.run_id.as_deref()));
        table.set_str(
            "mlflow/logged_model_id:string",
            non_empty(version.model_id.as_deref()),
        );
        table.set_set(
            "sys/tags:stringSet",
            version.tags.iter().map(|(k, _)| k.clone()).collect(),
        );
        let aliases = by_name
            .get(version.name.as_str())
            .into_iter()
            .flat_map(|m| m.aliases.iter())
            .filter(|(_, v)| *v == version.version)
            .map(|(a, _)| a.clone())
            .collect();
        table.set_set("aliases:stringSet", aliases);
        table.set_tags(&version.tags);
    }
    if !table.is_empty() {
        data.objects.push((ObjectKind::ModelVersions, table.finish()));
    }
}

/// How many points a batch of float points holds at most.
const POINT_BATCH_ROWS: usize = 64 * 1024;

/// Float series points of the runs table, gathered into batches of at most `batch_rows`.
#[derive(Debug)]
struct Points {
    batch_rows: usize,
    ids: StringBuilder,
    paths: StringBuilder,
    steps: Float64Builder,
    values: Float64Builder,
    times: TimestampMillisecondBuilder,
    len: usize,
    batches: Vec<RecordBatch>,
}

impl Points {
    fn new(batch_rows: usize) -> Points {
        Points {
            batch_rows: batch_rows.max(1),
            ids: StringBuilder::new(),
            paths: StringBuilder::new(),
            steps: Float64Builder::new(),
            values: Float64Builder::new(),
            times: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            len: 0,
            batches: Vec::new(),
        }
    }

    /// Adds a point of the metric `key` (the series `metrics/<key>`).
    fn push(&mut self, run: &str, key: &str, step: i64, value: f64, timestamp: Option<i64>) {
        use std::fmt::Write;

        self.ids.append_value(run);
        let _ = write!(self.paths, "metrics/{key}");
        self.paths.append_value("");
        self.steps.append_value(step as f64);
        self.values
            .append_value(if value.is_nan() { f64::NAN } else { value });
        self.times.append_option(timestamp);
        self.len += 1;
        if self.len >= self.batch_rows {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.len == 0 {
            return;
        }
        let schema = Schema::new(vec![
            Field::new(ID_COLUMN, DataType::Utf8, false),
            Field::new(datasets::layout::PATH_COLUMN, DataType::Utf8, false),
            Field::new(datasets::layout::STEP_COLUMN, DataType::Float64, false),
            Field::new("value", DataType::Float64, false),
            Field::new(
                "timestamp",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.ids.finish()),
            Arc::new(self.paths.finish()),
            Arc::new(self.steps.finish()),
            Arc::new(self.values.finish()),
            Arc::new(self.times.finish()),
        ];
        let batch = RecordBatch::try_new(Arc::new(schema), columns)
            .expect("columns of one length and their own types");
        self.batches.push(batch);
        self.len = 0;
    }

    fn finish(mut self) -> Vec<RecordBatch> {
        self.flush();
        self.batches
    }
}

/// An error of the store's file `path`.
fn problem(path: &Path, problem: impl Into<String>) -> LoadError {
    LoadError::Source {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}
