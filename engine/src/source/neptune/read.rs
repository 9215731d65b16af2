//! Reading the part files of one exported run: the columns checked against the exporter's
//! schema, every row checked against its `attribute_type`, and the rows turned into the run's
//! attributes and series points.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, DictionaryArray, Float64Array, Int32Array,
    Int64Array, ListArray, StringArray, StringBuilder, StructArray, TimestampMillisecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use datasets::layout::{ID_COLUMN, PATH_COLUMN, STEP_COLUMN, TIMESTAMP_COLUMN, VALUE_COLUMN};
use nql::AttrType;

use crate::error::LoadError;
use crate::load::{guarded, open as open_parquet, parquet_error};

/// Rows per batch of series points handed on.
const POINT_BATCH_ROWS: usize = 64 * 1024;

/// The exporter's columns (spec section 3), in its order.
pub(super) const COLUMNS: [&str; 14] = [
    "project_id",
    "run_id",
    "attribute_path",
    "attribute_type",
    "step",
    "timestamp",
    "int_value",
    "float_value",
    "string_value",
    "bool_value",
    "datetime_value",
    "string_set_value",
    "file_value",
    "histogram_value",
];
const PROJECT: usize = 0;
const RUN: usize = 1;
const PATH: usize = 2;
const TYPE: usize = 3;
const STEP: usize = 4;
const TIMESTAMP: usize = 5;
const INT: usize = 6;
const FLOAT: usize = 7;
const STRING: usize = 8;
const BOOL: usize = 9;
const DATETIME: usize = 10;
const SET: usize = 11;
const FILE: usize = 12;
const HISTOGRAM: usize = 13;
/// The value columns, of which a row sets at most one.
const VALUES: [usize; 8] = [INT, FLOAT, STRING, BOOL, DATETIME, SET, FILE, HISTOGRAM];

/// An exporter `attribute_type` (spec section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Float,
    Int,
    String,
    Bool,
    Datetime,
    StringSet,
    FloatSeries,
    StringSeries,
    HistogramSeries,
    File,
    FileSeries,
    Artifact,
    FileSet,
}

impl Kind {
    pub(super) fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "float" => Kind::Float,
            "int" => Kind::Int,
            "string" => Kind::String,
            "bool" => Kind::Bool,
            "datetime" => Kind::Datetime,
            "string_set" => Kind::StringSet,
            "float_series" => Kind::FloatSeries,
            "string_series" => Kind::StringSeries,
            "histogram_series" => Kind::HistogramSeries,
            "file" => Kind::File,
            "file_series" => Kind::FileSeries,
            "artifact" => Kind::Artifact,
            "file_set" => Kind::FileSet,
            _ => return None,
        })
    }

    /// The column that holds this type's values.
    fn value_column(self) -> usize {
        match self {
            Kind::Float | Kind::FloatSeries => FLOAT,
            Kind::Int => INT,
            Kind::String | Kind::StringSeries => STRING,
            Kind::Bool => BOOL,
            Kind::Datetime => DATETIME,
            Kind::StringSet => SET,
            Kind::HistogramSeries => HISTOGRAM,
            Kind::File | Kind::FileSeries | Kind::Artifact | Kind::FileSet => FILE,
        }
    }
}

/// An attribute's value, as the object table holds it.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    Int(i64),
    Float(f64),
    /// string, fileRef (the file's path relative to the files directory).
    Str(String),
    Bool(bool),
    /// Milliseconds since the epoch, UTC.
    Datetime(i64),
    /// Sorted, without duplicates.
    Set(Vec<String>),
    /// An artifact: the path of its `files_list.json`, hashed when the unit is assembled.
    Artifact(String),
    /// fileRefSeries, histogramSeries: only presence is kept.
    Present,
}

impl Value {
    fn same(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (a, b) => a == b,
        }
    }
}

/// What to read of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Want {
    /// Everything.
    All,
    /// An ancestor in a lineage: its float series points with `step <= up_to`, and its own
    /// fork (`sys/forking/parent`, `sys/forking/step`).
    Lineage { up_to: f64 },
}

/// Series points of one run without their object id (known only once every row is read).
#[derive(Debug, Default)]
pub(super) struct Points<V> {
    paths: Vec<String>,
    path_index: std::collections::HashMap<String, u32>,
    path: Vec<u32>,
    step: Vec<f64>,
    value: Vec<V>,
    timestamp: Vec<Option<i64>>,
}

impl<V> Points<V> {
    fn push(&mut self, path: &str, step: f64, value: V, timestamp: Option<i64>) {
        // Points come a series at a time: the path of the last point first, then the map.
        let last = self
            .path
            .last()
            .copied()
            .filter(|&i| self.paths[i as usize] == path);
        let index = match last.or_else(|| self.path_index.get(path).copied()) {
            Some(i) => i,
            None => {
                let i = self.paths.len() as u32;
                self.paths.push(path.to_string());
                self.path_index.insert(path.to_string(), i);
                i
            }
        };
        self.path.push(index);
        self.step.push(step);
        self.value.push(value);
        self.timestamp.push(timestamp);
    }

    pub(super) fn len(&self) -> usize {
        self.step.len()
    }

    /// Appends another run's points (an ancestor's, for a lineage).
    pub(super) fn extend(&mut self, other: Points<V>) {
        let Points {
            paths,
            path,
            step,
            value,
            timestamp,
            ..
        } = other;
        for (((p, s), v), t) in path.into_iter().zip(step).zip(value).zip(timestamp) {
            self.push(&paths[p as usize], s, v, t);
        }
    }

    /// The points as batches of the native series tables, for object `id`: `sys/id` and
    /// `path` dictionary-encoded (one id, the run's paths), as a summarizer takes them, so no
    /// string is copied per point.
    fn batches(self, id: &str, value_type: DataType, values: impl Fn(&[V]) -> ArrayRef) -> Vec<RecordBatch> {
        let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new(ID_COLUMN, dictionary.clone(), false),
            Field::new(PATH_COLUMN, dictionary, false),
            Field::new(STEP_COLUMN, DataType::Float64, false),
            Field::new(VALUE_COLUMN, value_type, true),
            Field::new(
                TIMESTAMP_COLUMN,
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
        ]));
        let id_values: ArrayRef = Arc::new(StringArray::from(vec![id]));
        let path_values: ArrayRef = Arc::new(StringArray::from_iter_values(self.paths.iter()));
        let mut out = Vec::new();
        let n = self.len();
        let mut start = 0;
        while start < n {
            let end = (start + POINT_BATCH_ROWS).min(n);
            let ids = DictionaryArray::<Int32Type>::try_new(
                Int32Array::from(vec![0; end - start]),
                Arc::clone(&id_values),
            )
            .expect("key 0 of one id");
            let paths = DictionaryArray::<Int32Type>::try_new(
                Int32Array::from_iter_values(self.path[start..end].iter().map(|&p| p as i32)),
                Arc::clone(&path_values),
            )
            .expect("keys index the run's paths");
            let columns: Vec<ArrayRef> = vec![
                Arc::new(ids),
                Arc::new(paths),
                Arc::new(Float64Array::from(self.step[start..end].to_vec())),
                values(&self.value[start..end]),
                Arc::new(
                    TimestampMillisecondArray::from(self.timestamp[start..end].to_vec()).with_timezone("UTC"),
                ),
            ];
            out.push(
                RecordBatch::try_new(schema.clone(), columns).expect("point columns match their schema"),
            );
            start = end;
        }
        out
    }
}

impl Points<f64> {
    pub(super) fn into_batches(self, id: &str) -> Vec<RecordBatch> {
        self.batches(id, DataType::Float64, |v| {
            Arc::new(Float64Array::from(v.to_vec()))
        })
    }
}

impl Points<String> {
    pub(super) fn into_batches(self, id: &str) -> Vec<RecordBatch> {
        self.batches(id, DataType::Utf8, |v| {
            Arc::new(StringArray::from_iter_values(v.iter()))
        })
    }
}

/// What one run's parts hold.
#[derive(Debug, Default)]
pub(super) struct RunRows {
    pub run_id: String,
    /// Attributes by (path, NQL type), so the object's columns come out sorted.
    pub attributes: BTreeMap<(String, AttrType), Value>,
    pub floats: Points<f64>,
    pub strings: Points<String>,
    /// 3.x lineage: `sys/forking/parent` and `sys/forking/step`.
    pub parent: Option<String>,
    pub fork_step: Option<f64>,
}

impl RunRows {
    /// The run's `sys/id`: the exported `sys/id` attribute, else the `run_id`.
    pub(super) fn sys_id(&self) -> String {
        match self.attributes.get(&("sys/id".to_string(), AttrType::String)) {
            Some(Value::Str(id)) => id.clone(),
            _ => self.run_id.clone(),
        }
    }
}

/// A column problem in `file`.
pub(super) fn column_error(file: &Path, column: &str, problem: String) -> LoadError {
    LoadError::Column {
        file: file.to_path_buf(),
        column: column.to_string(),
        problem,
    }
}

/// The positions of the exporter's columns in a file's schema; a missing column or an Arrow
/// type outside the schema's family is an error naming the column.
pub(super) fn check_schema(file: &Path, schema: &Schema) -> Result<[usize; 14], LoadError> {
    let mut positions = [0usize; 14];
    for (i, name) in COLUMNS.iter().enumerate() {
        let Some((index, field)) = schema.column_with_name(name) else {
            return Err(column_error(
                file,
                name,
                "missing: a neptune-exporter file has the columns ".to_string() + &COLUMNS.join(", "),
            ));
        };
        let t = field.data_type();
        let is_string = |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
        let (ok, expected) = match i {
            PROJECT | RUN | PATH | TYPE | STRING => (is_string(t), "string"),
            STEP => (matches!(t, DataType::Decimal128(_, _)), "decimal128(18, 6)"),
            TIMESTAMP | DATETIME => (matches!(t, DataType::Timestamp(_, _)), "timestamp[ms, tz=UTC]"),
            INT => (*t == DataType::Int64, "int64"),
            FLOAT => (*t == DataType::Float64, "double"),
            BOOL => (*t == DataType::Boolean, "bool"),
            SET => (
                matches!(t, DataType::List(f) | DataType::LargeList(f) if is_string(f.data_type())),
                "list<string>",
            ),
            FILE => (
                matches!(t, DataType::Struct(fields) if fields.iter().any(|f| f.name() == "path" && is_string(f.data_type()))),
                "struct<path: string>",
            ),
            _ => (matches!(t, DataType::Struct(_)), "struct<type, edges, values>"),
        };
        if !ok {
            return Err(column_error(
                file,
                name,
                format!("has Arrow type {t}, expected {expected}"),
            ));
        }
        positions[i] = index;
    }
    Ok(positions)
}

/// One batch's columns in one Arrow type each.
struct Cols {
    project: StringArray,
    run: StringArray,
    path: StringArray,
    ty: StringArray,
    step: Decimal128Array,
    step_div: f64,
    timestamp: TimestampMillisecondArray,
    int: Int64Array,
    float: Float64Array,
    string: StringArray,
    boolean: BooleanArray,
    datetime: TimestampMillisecondArray,
    set: ListArray,
    file: StructArray,
    file_path: StringArray,
    histogram: StructArray,
}

fn cols(file: &Path, batch: &RecordBatch, at: &[usize; 14]) -> Result<Cols, LoadError> {
    let fail = |column: usize, e: datafusion::arrow::error::ArrowError| {
        column_error(file, COLUMNS[column], format!("cannot be converted: {e}"))
    };
    let utf8 = |c: usize| -> Result<StringArray, LoadError> {
        let a = cast(batch.column(at[c]), &DataType::Utf8).map_err(|e| fail(c, e))?;
        Ok(a.as_string::<i32>().clone())
    };
    let ms = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let ts = |c: usize| -> Result<TimestampMillisecondArray, LoadError> {
        let a = cast(batch.column(at[c]), &ms).map_err(|e| fail(c, e))?;
        Ok(a.as_primitive().clone())
    };
    let step = batch
        .column(at[STEP])
        .as_primitive::<datafusion::arrow::datatypes::Decimal128Type>()
        .clone();
    let scale = match step.data_type() {
        DataType::Decimal128(_, s) => *s,
        _ => 6,
    };
    let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    let set = cast(batch.column(at[SET]), &list).map_err(|e| fail(SET, e))?;
    let file_struct = batch.column(at[FILE]).as_struct().clone();
    let file_path = cast(
        file_struct
            .column_by_name("path")
            .expect("checked by check_schema"),
        &DataType::Utf8,
    )
    .map_err(|e| fail(FILE, e))?;
    Ok(Cols {
        project: utf8(PROJECT)?,
        run: utf8(RUN)?,
        path: utf8(PATH)?,
        ty: utf8(TYPE)?,
        step,
        step_div: 10f64.powi(scale as i32),
        timestamp: ts(TIMESTAMP)?,
        int: batch.column(at[INT]).as_primitive().clone(),
        float: batch.column(at[FLOAT]).as_primitive().clone(),
        string: utf8(STRING)?,
        boolean: batch.column(at[BOOL]).as_boolean().clone(),
        datetime: ts(DATETIME)?,
        set: set.as_list::<i32>().clone(),
        file: file_struct,
        file_path: file_path.as_string::<i32>().clone(),
        histogram: batch.column(at[HISTOGRAM]).as_struct().clone(),
    })
}

impl Cols {
    fn has_value(&self, column: usize, r: usize) -> bool {
        match column {
            INT => self.int.is_valid(r),
            FLOAT => self.float.is_valid(r),
            STRING => self.string.is_valid(r),
            BOOL => self.boolean.is_valid(r),
            DATETIME => self.datetime.is_valid(r),
            SET => self.set.is_valid(r),
            FILE => self.file.is_valid(r) && self.file_path.is_valid(r),
            _ => self.histogram.is_valid(r),
        }
    }

    fn step(&self, r: usize) -> Option<f64> {
        // Exact for |step| < 2^53 millionths: one correctly rounded division.
        self.step
            .is_valid(r)
            .then(|| self.step.value(r) as f64 / self.step_div)
    }

    fn timestamp(&self, r: usize) -> Option<i64> {
        self.timestamp.is_valid(r).then(|| self.timestamp.value(r))
    }
}

/// Reads the parts of one run (`files`, in part order) from an export of `project_id`.
pub(super) fn read_run(files: &[PathBuf], project_id: &str, want: Want) -> Result<RunRows, LoadError> {
    let mut rows = RunRows::default();
    let mut first_file: Option<&PathBuf> = None;
    for file in files {
        guarded(file, || read_file(file, project_id, want, &mut rows, first_file))?;
        first_file.get_or_insert(file);
    }
    Ok(rows)
}

fn read_file(
    file: &Path,
    project_id: &str,
    want: Want,
    rows: &mut RunRows,
    first_file: Option<&PathBuf>,
) -> Result<(), LoadError> {
    let f = open_parquet(file)?;
    let metadata =
        ArrowReaderMetadata::load(&f, ArrowReaderOptions::new()).map_err(|e| parquet_error(file, e))?;
    let at = check_schema(file, metadata.schema())?;
    let mask = ProjectionMask::roots(metadata.parquet_schema(), at.iter().copied());
    // Projected columns come in file order: map each exporter column to its batch position.
    let mut sorted: Vec<usize> = at.to_vec();
    sorted.sort_unstable();
    let projected = at.map(|i| sorted.binary_search(&i).expect("projected"));
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(f, metadata)
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| parquet_error(file, e))?;
    let mut row = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| parquet_error(file, e))?;
        let c = cols(file, &batch, &projected)?;
        for r in 0..batch.num_rows() {
            read_row(file, &c, r, row + r, project_id, want, rows, first_file)?;
        }
        row += batch.num_rows();
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn read_row(
    file: &Path,
    c: &Cols,
    r: usize,
    row: usize,
    project_id: &str,
    want: Want,
    rows: &mut RunRows,
    first_file: Option<&PathBuf>,
) -> Result<(), LoadError> {
    // Keys: one project, one run per file (and per run).
    if !c.project.is_valid(r) || c.project.value(r) != project_id {
        let found = if c.project.is_valid(r) {
            format!("`{}`", c.project.value(r))
        } else {
            "null".to_string()
        };
        return Err(column_error(
            file,
            "project_id",
            format!("row {row} is {found}, but the export's project is `{project_id}`"),
        ));
    }
    if !c.run.is_valid(r) {
        return Err(column_error(file, "run_id", format!("row {row} is null")));
    }
    let run_id = c.run.value(r);
    if rows.run_id.is_empty() {
        rows.run_id = run_id.to_string();
    } else if rows.run_id != run_id {
        let problem = match first_file {
            Some(first) if first.as_path() != file => format!(
                "row {row} belongs to run `{run_id}`, but the run's first part {} holds `{}`",
                first.display(),
                rows.run_id
            ),
            _ => format!(
                "rows of two runs in one file: `{}` and `{run_id}` (row {row}); the exporter writes one run per file",
                rows.run_id
            ),
        };
        return Err(column_error(file, "run_id", problem));
    }
    if !c.path.is_valid(r) {
        return Err(column_error(file, "attribute_path", format!("row {row} is null")));
    }
    let path = c.path.value(r);
    if !c.ty.is_valid(r) {
        return Err(column_error(
            file,
            "attribute_type",
            format!("row {row} (`{path}`) is null"),
        ));
    }
    let ty = c.ty.value(r);
    let Some(kind) = Kind::parse(ty) else {
        return Err(column_error(
            file,
            "attribute_type",
            format!(
                "row {row}: unknown attribute type `{ty}` of `{path}` (known: float, int, string, bool, datetime, string_set, float_series, string_series, histogram_series, file, file_series, artifact, file_set)"
            ),
        ));
    };
    let own = kind.value_column();
    for column in VALUES {
        if column != own && c.has_value(column, r) {
            return Err(column_error(
                file,
                COLUMNS[column],
                format!(
                    "row {row}: `{path}` is of type `{ty}`, whose value belongs in `{}`, but this column is set",
                    COLUMNS[own]
                ),
            ));
        }
    }
    let has_value = c.has_value(own, r);

    if let Want::Lineage { up_to } = want {
        match (kind, path) {
            (Kind::FloatSeries, _) => {
                let step = series_step(file, c, r, row, path)?;
                if step <= up_to {
                    push_float(c, r, path, step, rows);
                }
            }
            (Kind::String, "sys/forking/parent") if has_value => {
                rows.parent = Some(c.string.value(r).to_string())
            }
            (Kind::Float, "sys/forking/step") if has_value => rows.fork_step = Some(c.float.value(r)),
            _ => {}
        }
        return Ok(());
    }

    let (nql_type, value) = match kind {
        Kind::FloatSeries => {
            let step = series_step(file, c, r, row, path)?;
            push_float(c, r, path, step, rows);
            return Ok(());
        }
        Kind::StringSeries => {
            let step = series_step(file, c, r, row, path)?;
            // A null entry is no entry (as a null value in a native series table).
            if has_value {
                rows.strings
                    .push(path, step, c.string.value(r).to_string(), c.timestamp(r));
            }
            return Ok(());
        }
        // Phantom rows (a parameter or file row with no value) are no attribute.
        _ if !has_value => return Ok(()),
        Kind::Int => (AttrType::Int, Value::Int(c.int.value(r))),
        Kind::Float => (AttrType::Float, Value::Float(c.float.value(r))),
        Kind::String => (AttrType::String, Value::Str(c.string.value(r).to_string())),
        Kind::Bool => (AttrType::Bool, Value::Bool(c.boolean.value(r))),
        Kind::Datetime => (AttrType::Datetime, Value::Datetime(c.datetime.value(r))),
        Kind::StringSet => {
            let list = c.set.value(r);
            let items = list.as_string::<i32>();
            let mut set: Vec<String> = items.iter().flatten().map(str::to_string).collect();
            set.sort();
            set.dedup();
            (AttrType::StringSet, Value::Set(set))
        }
        Kind::File | Kind::FileSet => (AttrType::FileRef, Value::Str(c.file_path.value(r).to_string())),
        Kind::Artifact => (
            AttrType::Artifact,
            Value::Artifact(c.file_path.value(r).to_string()),
        ),
        Kind::FileSeries => (AttrType::FileRefSeries, Value::Present),
        Kind::HistogramSeries => (AttrType::HistogramSeries, Value::Present),
    };
    match path {
        "sys/forking/parent" => {
            if let Value::Str(p) = &value {
                rows.parent = Some(p.clone());
            }
        }
        "sys/forking/step" => {
            if let Value::Float(s) = value {
                rows.fork_step = Some(s);
            }
        }
        _ => {}
    }
    let key = (path.to_string(), nql_type);
    match rows.attributes.get(&key) {
        Some(old) if value == Value::Present || old.same(&value) => {}
        Some(old) => {
            return Err(column_error(
                file,
                COLUMNS[own],
                format!("row {row}: `{path}` ({ty}) has two values: {old:?} and {value:?}"),
            ));
        }
        None => {
            rows.attributes.insert(key, value);
        }
    }
    Ok(())
}

fn series_step(file: &Path, c: &Cols, r: usize, row: usize, path: &str) -> Result<f64, LoadError> {
    c.step(r).ok_or_else(|| {
        column_error(
            file,
            "step",
            format!("row {row}: a point of the series `{path}` has no step"),
        )
    })
}

/// A float series row: a value, a NaN point (no value but a timestamp), or no point at all.
fn push_float(c: &Cols, r: usize, path: &str, step: f64, rows: &mut RunRows) {
    let timestamp = c.timestamp(r);
    if c.float.is_valid(r) {
        rows.floats.push(path, step, c.float.value(r), timestamp);
    } else if timestamp.is_some() {
        rows.floats.push(path, step, f64::NAN, timestamp);
    }
}

/// Lineage facts of one run, from its parameter row groups only.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Facts {
    pub run_id: String,
    pub sys_id: Option<String>,
    pub is_head: bool,
    pub experiment: Option<String>,
    pub parent: Option<String>,
    /// Whether any 3.x-only attribute (`sys/experiment/*`, `sys/forking/*`, `sys/family`)
    /// was seen.
    pub v3_markers: bool,
}

/// Reads the facts of a run from its first part, skipping the row groups whose statistics
/// say every `step` is set (series rows; parameters have none).
pub(super) fn read_facts(file: &Path) -> Result<Facts, LoadError> {
    guarded(file, || {
        let f = open_parquet(file)?;
        let metadata =
            ArrowReaderMetadata::load(&f, ArrowReaderOptions::new()).map_err(|e| parquet_error(file, e))?;
        let at = check_schema(file, metadata.schema())?;
        let step_leaf = metadata
            .parquet_schema()
            .columns()
            .iter()
            .position(|c| c.path().parts().first().map(String::as_str) == Some("step"));
        let groups: Vec<usize> = (0..metadata.metadata().num_row_groups())
            .filter(|&g| {
                let rg = metadata.metadata().row_group(g);
                let nulls = step_leaf
                    .and_then(|l| rg.column(l).statistics())
                    .and_then(|s| s.null_count_opt());
                nulls != Some(0) && rg.num_rows() > 0
            })
            .collect();
        let wanted = [RUN, PATH, TYPE, STRING, BOOL];
        let roots: Vec<usize> = wanted.iter().map(|&w| at[w]).collect();
        let mask = ProjectionMask::roots(metadata.parquet_schema(), roots.iter().copied());
        let mut sorted = roots.clone();
        sorted.sort_unstable();
        let pos = |w: usize| sorted.binary_search(&at[w]).expect("projected");
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(f, metadata)
            .with_projection(mask)
            .with_row_groups(groups)
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|e| parquet_error(file, e))?;
        let mut facts = Facts::default();
        for batch in reader {
            let batch = batch.map_err(|e| parquet_error(file, e))?;
            let s = |w: usize| -> Result<StringArray, LoadError> {
                let a = cast(batch.column(pos(w)), &DataType::Utf8)
                    .map_err(|e| column_error(file, COLUMNS[w], format!("cannot be converted: {e}")))?;
                Ok(a.as_string::<i32>().clone())
            };
            let (run, path, ty, string) = (s(RUN)?, s(PATH)?, s(TYPE)?, s(STRING)?);
            let boolean = batch.column(pos(BOOL)).as_boolean();
            for r in 0..batch.num_rows() {
                if facts.run_id.is_empty() && run.is_valid(r) {
                    facts.run_id = run.value(r).to_string();
                }
                if !path.is_valid(r) || !ty.is_valid(r) {
                    continue;
                }
                let p = path.value(r);
                if p.starts_with("sys/experiment/") || p.starts_with("sys/forking/") || p == "sys/family" {
                    facts.v3_markers = true;
                }
                match (p, ty.value(r)) {
                    ("sys/id", "string") if string.is_valid(r) => {
                        facts.sys_id = Some(string.value(r).to_string())
                    }
                    ("sys/experiment/name", "string") if string.is_valid(r) => {
                        facts.experiment = Some(string.value(r).to_string())
                    }
                    ("sys/forking/parent", "string") if string.is_valid(r) => {
                        facts.parent = Some(string.value(r).to_string())
                    }
                    ("sys/experiment/is_head", "bool") if boolean.is_valid(r) => {
                        facts.is_head = boolean.value(r)
                    }
                    _ => {}
                }
            }
        }
        if facts.run_id.is_empty() {
            // No parameter rows (an export of series only): the run id from any row.
            facts.run_id = first_value(file, RUN)?
                .ok_or_else(|| column_error(file, "run_id", "no row names the run".into()))?;
        }
        Ok(facts)
    })
}

/// The first `project_id` of a file (to name the project of an export directory).
pub(super) fn first_project_id(file: &Path) -> Result<Option<String>, LoadError> {
    first_value(file, PROJECT)
}

/// The first non-null value of a string column of the exporter's schema.
fn first_value(file: &Path, column: usize) -> Result<Option<String>, LoadError> {
    guarded(file, || {
        let f = open_parquet(file)?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| parquet_error(file, e))?;
        let at = check_schema(file, builder.schema())?;
        let mask = ProjectionMask::roots(builder.parquet_schema(), [at[column]]);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(1024)
            .build()
            .map_err(|e| parquet_error(file, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| parquet_error(file, e))?;
            let ids = cast(batch.column(0), &DataType::Utf8)
                .map_err(|e| column_error(file, COLUMNS[column], format!("cannot be converted: {e}")))?;
            if let Some(id) = ids.as_string::<i32>().iter().flatten().next() {
                return Ok(Some(id.to_string()));
            }
        }
        Ok(None)
    })
}

/// One object row: `sys/id`, then a `path:type` column per attribute.
pub(super) fn object_batch(
    id: &str,
    attributes: &BTreeMap<(String, AttrType), Value>,
    hashes: &BTreeMap<String, String>,
) -> RecordBatch {
    let mut fields = vec![Field::new(ID_COLUMN, DataType::Utf8, false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(vec![id]))];
    for ((path, ty), value) in attributes {
        if path == ID_COLUMN {
            continue;
        }
        let array: ArrayRef = match value {
            Value::Int(v) => Arc::new(Int64Array::from(vec![*v])),
            Value::Float(v) => Arc::new(Float64Array::from(vec![*v])),
            Value::Str(s) => Arc::new(StringArray::from(vec![s.as_str()])),
            Value::Bool(b) => Arc::new(BooleanArray::from(vec![*b])),
            Value::Datetime(ms) => Arc::new(TimestampMillisecondArray::from(vec![*ms]).with_timezone("UTC")),
            Value::Set(items) => {
                let mut b = datafusion::arrow::array::ListBuilder::new(StringBuilder::new());
                for item in items {
                    b.values().append_value(item);
                }
                b.append(true);
                Arc::new(b.finish())
            }
            Value::Artifact(list) => Arc::new(StringArray::from(vec![hashes.get(list).map(String::as_str)])),
            Value::Present => Arc::new(BooleanArray::from(vec![true])),
        };
        fields.push(Field::new(
            format!("{path}:{ty}"),
            array.data_type().clone(),
            true,
        ));
        columns.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("one row per column")
}
