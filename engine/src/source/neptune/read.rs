//! Reading the part files of one exported run: the columns checked against the exporter's
//! schema, every row checked against its `attribute_type`, and the rows turned into the run's
//! attributes and series points.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::new_null_array;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, DictionaryArray, Float64Array, Int32Array,
    Int64Array, ListArray, StringArray, StringBuilder, StructArray, TimestampMillisecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int32Type, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use datafusion::parquet::file::metadata::ParquetMetaData;
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
    /// The index of series `path` among the run's paths, added if new.
    fn index_of(&mut self, path: &str) -> u32 {
        if let Some(&i) = self.path_index.get(path) {
            return i;
        }
        let i = self.paths.len() as u32;
        self.paths.push(path.to_string());
        self.path_index.insert(path.to_string(), i);
        i
    }

    /// Makes room for `n` more points.
    fn reserve(&mut self, n: usize) {
        self.path.reserve(n);
        self.step.reserve(n);
        self.value.reserve(n);
        self.timestamp.reserve(n);
    }

    /// Appends a point of the series at `index` ([`Points::index_of`]).
    fn push_at(&mut self, index: u32, step: f64, value: V, timestamp: Option<i64>) {
        self.path.push(index);
        self.step.push(step);
        self.value.push(value);
        self.timestamp.push(timestamp);
    }

    fn push(&mut self, path: &str, step: f64, value: V, timestamp: Option<i64>) {
        // Points come a series at a time: the path of the last point first, then the map.
        let last = self
            .path
            .last()
            .copied()
            .filter(|&i| self.paths[i as usize] == path);
        let index = last.unwrap_or_else(|| self.index_of(path));
        self.push_at(index, step, value, timestamp);
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
    fn batches(
        self,
        id: &str,
        value_type: DataType,
        values: impl FnOnce(Vec<V>) -> ArrayRef,
    ) -> Vec<RecordBatch> {
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
        // The columns once, without copying the vectors; each batch a zero-copy slice.
        let n = self.len();
        let steps = Float64Array::from(self.step);
        let values = values(self.value);
        let timestamps = TimestampMillisecondArray::from(self.timestamp).with_timezone("UTC");
        let path_keys = Int32Array::from_iter_values(self.path.into_iter().map(|p| p as i32));
        let mut out = Vec::new();
        let mut start = 0;
        while start < n {
            let len = POINT_BATCH_ROWS.min(n - start);
            let ids =
                DictionaryArray::<Int32Type>::try_new(Int32Array::from(vec![0; len]), Arc::clone(&id_values))
                    .expect("key 0 of one id");
            let paths =
                DictionaryArray::<Int32Type>::try_new(path_keys.slice(start, len), Arc::clone(&path_values))
                    .expect("keys index the run's paths");
            let columns: Vec<ArrayRef> = vec![
                Arc::new(ids),
                Arc::new(paths),
                Arc::new(steps.slice(start, len)),
                values.slice(start, len),
                Arc::new(timestamps.slice(start, len)),
            ];
            out.push(
                RecordBatch::try_new(schema.clone(), columns).expect("point columns match their schema"),
            );
            start += len;
        }
        out
    }
}

impl Points<f64> {
    pub(super) fn into_batches(self, id: &str) -> Vec<RecordBatch> {
        self.batches(id, DataType::Float64, |v| Arc::new(Float64Array::from(v)))
    }
}

impl Points<String> {
    pub(super) fn into_batches(self, id: &str) -> Vec<RecordBatch> {
        self.batches(id, DataType::Utf8, |v| Arc::new(StringArray::from_iter_values(v)))
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

/// A string column read dictionary-encoded: a key per row into the batch's few distinct
/// values, so that checking and resolving a value is done once per value, not per row.
struct Keyed {
    keys: Int32Array,
    values: StringArray,
}

impl Keyed {
    fn new(array: &ArrayRef) -> Result<Keyed, datafusion::arrow::error::ArrowError> {
        let dictionary = cast(array, &keyed_type())?;
        let dictionary = dictionary.as_dictionary::<Int32Type>();
        let values = cast(dictionary.values(), &DataType::Utf8)?;
        Ok(Keyed {
            keys: dictionary.keys().clone(),
            values: values.as_string::<i32>().clone(),
        })
    }

    /// The key of row `r`, `None` where the row is null.
    fn key(&self, r: usize) -> Option<usize> {
        self.keys.is_valid(r).then(|| self.keys.value(r) as usize)
    }

    fn value(&self, key: usize) -> &str {
        self.values.value(key)
    }

    /// The number of distinct values a key can name.
    fn len(&self) -> usize {
        self.values.len()
    }
}

/// The Arrow type the key columns are read as.
fn keyed_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// `metadata` with the key columns (project, run, path, type) read dictionary-encoded, as
/// the exporter writes them: the reader then hands over the dictionary's keys instead of
/// copying a string per row.
fn with_keyed_columns(
    file: &Path,
    metadata: ArrowReaderMetadata,
    at: &[usize; 14],
) -> Result<ArrowReaderMetadata, LoadError> {
    let mut fields: Vec<FieldRef> = metadata.schema().fields().iter().cloned().collect();
    for column in [PROJECT, RUN, PATH, TYPE] {
        let field = fields[at[column]].as_ref().clone().with_data_type(keyed_type());
        fields[at[column]] = Arc::new(field);
    }
    let schema = Schema::new_with_metadata(fields, metadata.schema().metadata().clone());
    let options = ArrowReaderOptions::new().with_schema(Arc::new(schema));
    ArrowReaderMetadata::try_new(Arc::clone(metadata.metadata()), options).map_err(|e| parquet_error(file, e))
}

/// One batch's columns in one Arrow type each.
struct Cols {
    project: Keyed,
    run: Keyed,
    path: Keyed,
    ty: Keyed,
    step: Decimal128Array,
    /// The steps as numbers (where `step` is valid).
    steps: Vec<f64>,
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

/// The columns of a batch, `columns` in the exporter's order.
fn cols(file: &Path, columns: &[ArrayRef]) -> Result<Cols, LoadError> {
    let fail = |column: usize, e: datafusion::arrow::error::ArrowError| {
        column_error(file, COLUMNS[column], format!("cannot be converted: {e}"))
    };
    let keyed = |c: usize| Keyed::new(&columns[c]).map_err(|e| fail(c, e));
    let utf8 = |c: usize| -> Result<StringArray, LoadError> {
        let a = cast(&columns[c], &DataType::Utf8).map_err(|e| fail(c, e))?;
        Ok(a.as_string::<i32>().clone())
    };
    let ms = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let ts = |c: usize| -> Result<TimestampMillisecondArray, LoadError> {
        let a = cast(&columns[c], &ms).map_err(|e| fail(c, e))?;
        Ok(a.as_primitive().clone())
    };
    let step = columns[STEP]
        .as_primitive::<datafusion::arrow::datatypes::Decimal128Type>()
        .clone();
    let scale = match step.data_type() {
        DataType::Decimal128(_, s) => *s,
        _ => 6,
    };
    let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    let set = cast(&columns[SET], &list).map_err(|e| fail(SET, e))?;
    let file_struct = columns[FILE].as_struct().clone();
    let file_path = cast(
        file_struct
            .column_by_name("path")
            .expect("checked by check_schema"),
        &DataType::Utf8,
    )
    .map_err(|e| fail(FILE, e))?;
    Ok(Cols {
        project: keyed(PROJECT)?,
        run: keyed(RUN)?,
        path: keyed(PATH)?,
        ty: keyed(TYPE)?,
        steps: decimal_steps(&step, scale),
        step,
        timestamp: ts(TIMESTAMP)?,
        int: columns[INT].as_primitive().clone(),
        float: columns[FLOAT].as_primitive().clone(),
        string: utf8(STRING)?,
        boolean: columns[BOOL].as_boolean().clone(),
        datetime: ts(DATETIME)?,
        set: set.as_list::<i32>().clone(),
        file: file_struct,
        file_path: file_path.as_string::<i32>().clone(),
        histogram: columns[HISTOGRAM].as_struct().clone(),
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

    /// Whether some row of the batch sets `column`.
    fn any_value(&self, column: usize) -> bool {
        let set = |a: &dyn Array| a.null_count() < a.len();
        match column {
            INT => set(&self.int),
            FLOAT => set(&self.float),
            STRING => set(&self.string),
            BOOL => set(&self.boolean),
            DATETIME => set(&self.datetime),
            SET => set(&self.set),
            FILE => set(&self.file) && set(&self.file_path),
            _ => set(&self.histogram),
        }
    }

    fn step(&self, r: usize) -> Option<f64> {
        self.step.is_valid(r).then(|| self.steps[r])
    }

    fn timestamp(&self, r: usize) -> Option<i64> {
        self.timestamp.is_valid(r).then(|| self.timestamp.value(r))
    }
}

/// The decimal steps (of `scale` digits after the point) as numbers: exact for |step| <
/// 2^53 units of the last digit, each one correctly rounded division.
pub(super) fn decimal_steps(step: &Decimal128Array, scale: i8) -> Vec<f64> {
    let div = 10f64.powi(scale as i32);
    let raw = step.values();
    if raw.iter().all(|&v| i64::try_from(v).is_ok()) {
        // The exporter's decimal(18, 6) fits an i64, whose conversion is one instruction
        // (an i128's is a library call).
        raw.iter().map(|&v| v as i64 as f64 / div).collect()
    } else {
        raw.iter().map(|&v| v as f64 / div).collect()
    }
}

/// What a batch's key values stand for: the project's and the types' at once (a column
/// chunk's dictionary holds only values of its rows), the run's and the series' at their
/// first row.
struct Resolved {
    /// Whether a project key names the export's project.
    project_ok: Vec<bool>,
    /// Whether a run key names the run being read.
    run_ok: Vec<Option<bool>>,
    /// The kind of each type key (`None`: unknown).
    kinds: Vec<Option<Kind>>,
    /// The float series index ([`Points::index_of`]) of each path key.
    float_series: Vec<Option<u32>>,
    /// The value columns that some row of the batch sets.
    set_columns: Vec<usize>,
}

impl Resolved {
    fn new(c: &Cols, project_id: &str) -> Resolved {
        Resolved {
            project_ok: (0..c.project.len())
                .map(|k| c.project.value(k) == project_id)
                .collect(),
            run_ok: vec![None; c.run.len()],
            kinds: (0..c.ty.len()).map(|k| Kind::parse(c.ty.value(k))).collect(),
            float_series: vec![None; c.path.len()],
            set_columns: VALUES.into_iter().filter(|&v| c.any_value(v)).collect(),
        }
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
    let metadata = with_keyed_columns(file, metadata, &at)?;
    let mut row = 0usize;
    // A row group at a time: its own dictionaries stay dictionaries (a batch across row
    // groups would have its keys spilled into strings), and its metadata says which value
    // columns it holds no value of, so they are not decoded.
    for g in 0..metadata.metadata().num_row_groups() {
        let unset: Vec<usize> = VALUES
            .into_iter()
            .filter(|&c| holds_no_value(metadata.metadata(), g, at[c]))
            .collect();
        if !unset.contains(&FLOAT) {
            // Float points, probably one a row: room for them at once, not by doubling.
            let rows_in_group = metadata.metadata().row_group(g).num_rows();
            rows.floats.reserve(usize::try_from(rows_in_group).unwrap_or(0));
        }
        let read: Vec<usize> = (0..COLUMNS.len()).filter(|c| !unset.contains(c)).collect();
        let mask = ProjectionMask::roots(metadata.parquet_schema(), read.iter().map(|&c| at[c]));
        // Projected columns come in file order: each read exporter column's batch position.
        let mut in_file: Vec<usize> = read.iter().map(|&c| at[c]).collect();
        in_file.sort_unstable();
        let positions: [Option<usize>; 14] = std::array::from_fn(|c| in_file.binary_search(&at[c]).ok());
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
            f.try_clone().map_err(|e| LoadError::Io {
                file: file.to_path_buf(),
                source: e,
            })?,
            metadata.clone(),
        )
        .with_row_groups(vec![g])
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| parquet_error(file, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| parquet_error(file, e))?;
            let columns: Vec<ArrayRef> = (0..COLUMNS.len())
                .map(|c| match positions[c] {
                    Some(i) => Arc::clone(batch.column(i)),
                    None => new_null_array(metadata.schema().field(at[c]).data_type(), batch.num_rows()),
                })
                .collect();
            let c = cols(file, &columns)?;
            let mut resolved = Resolved::new(&c, project_id);
            let read = Read {
                file,
                project_id,
                c: &c,
                want,
                first_file,
            };
            for r in 0..batch.num_rows() {
                read.row(r, row + r, &mut resolved, rows)?;
            }
            row += batch.num_rows();
        }
    }
    Ok(())
}

/// Whether no row of row group `g` sets the column at `root` (a top-level field), as its
/// metadata says: every leaf's definition levels are all 0 (the field null), or, without
/// level histograms, a flat column's null count is its row count. Exact, or `false`.
pub(super) fn holds_no_value(metadata: &ParquetMetaData, g: usize, root: usize) -> bool {
    let group = metadata.row_group(g);
    let schema = metadata.file_metadata().schema_descr();
    let rows = group.num_rows();
    let mut leaves = (0..schema.num_columns())
        .filter(|&leaf| schema.get_column_root_idx(leaf) == root)
        .peekable();
    leaves.peek().is_some()
        && leaves.all(|leaf| {
            let chunk = group.column(leaf);
            let column = schema.column(leaf);
            if column.max_def_level() == 0 {
                return false;
            }
            if let Some(levels) = chunk.definition_level_histogram() {
                return levels.get(0) == Some(rows);
            }
            column.max_def_level() == 1
                && column.max_rep_level() == 0
                && chunk.num_values() == rows
                && chunk.statistics().and_then(|s| s.null_count_opt()) == Some(rows as u64)
        })
}

/// A batch being read from `file`.
struct Read<'a> {
    file: &'a Path,
    project_id: &'a str,
    c: &'a Cols,
    want: Want,
    first_file: Option<&'a PathBuf>,
}

impl Read<'_> {
    /// Checks row `r` (row `row` of the file) and adds it to the run's `rows`.
    fn row(
        &self,
        r: usize,
        row: usize,
        resolved: &mut Resolved,
        rows: &mut RunRows,
    ) -> Result<(), LoadError> {
        let (file, c) = (self.file, self.c);
        // Keys: one project, one run per file (and per run).
        let project = c.project.key(r);
        if !project.is_some_and(|k| resolved.project_ok[k]) {
            let found = match project {
                Some(k) => format!("`{}`", c.project.value(k)),
                None => "null".to_string(),
            };
            return Err(column_error(
                file,
                "project_id",
                format!(
                    "row {row} is {found}, but the export's project is `{}`",
                    self.project_id
                ),
            ));
        }
        let Some(run) = c.run.key(r) else {
            return Err(column_error(file, "run_id", format!("row {row} is null")));
        };
        let run_ok = *resolved.run_ok[run].get_or_insert_with(|| {
            let run_id = c.run.value(run);
            if rows.run_id.is_empty() {
                rows.run_id = run_id.to_string();
            }
            rows.run_id == run_id
        });
        if !run_ok {
            let run_id = c.run.value(run);
            let problem = match self.first_file {
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
        let Some(path_key) = c.path.key(r) else {
            return Err(column_error(file, "attribute_path", format!("row {row} is null")));
        };
        let path = c.path.value(path_key);
        let Some(ty_key) = c.ty.key(r) else {
            return Err(column_error(
                file,
                "attribute_type",
                format!("row {row} (`{path}`) is null"),
            ));
        };
        let ty = c.ty.value(ty_key);
        let Some(kind) = resolved.kinds[ty_key] else {
            return Err(column_error(
                file,
                "attribute_type",
                format!(
                    "row {row}: unknown attribute type `{ty}` of `{path}` (known: float, int, string, bool, datetime, string_set, float_series, string_series, histogram_series, file, file_series, artifact, file_set)"
                ),
            ));
        };
        let own = kind.value_column();
        for &column in &resolved.set_columns {
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

        if let Want::Lineage { up_to } = self.want {
            match (kind, path) {
                (Kind::FloatSeries, _) => {
                    let step = self.series_step(r, row, path)?;
                    if step <= up_to {
                        let series = *resolved.float_series[path_key]
                            .get_or_insert_with(|| rows.floats.index_of(path));
                        push_float(c, r, series, step, rows);
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
                let step = self.series_step(r, row, path)?;
                let series =
                    *resolved.float_series[path_key].get_or_insert_with(|| rows.floats.index_of(path));
                push_float(c, r, series, step, rows);
                return Ok(());
            }
            Kind::StringSeries => {
                let step = self.series_step(r, row, path)?;
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

    fn series_step(&self, r: usize, row: usize, path: &str) -> Result<f64, LoadError> {
        self.c.step(r).ok_or_else(|| {
            column_error(
                self.file,
                "step",
                format!("row {row}: a point of the series `{path}` has no step"),
            )
        })
    }
}

/// A float series row: a value, a NaN point (no value but a timestamp), or no point at all.
fn push_float(c: &Cols, r: usize, series: u32, step: f64, rows: &mut RunRows) {
    let timestamp = c.timestamp(r);
    if c.float.is_valid(r) {
        rows.floats.push_at(series, step, c.float.value(r), timestamp);
    } else if timestamp.is_some() {
        rows.floats.push_at(series, step, f64::NAN, timestamp);
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
