//! The rows of an export file, in neptune-exporter's schema (`model.py`): one row per
//! parameter value, series point or file.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Decimal128Array, Float64Array, Float64Builder, Int64Array, ListBuilder,
    StringArray, StringBuilder, StructArray, TimestampMillisecondArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

/// Precision and scale of the `step` column: `decimal128(18, 6)`.
pub const STEP_PRECISION: u8 = 18;
/// See [`STEP_PRECISION`].
pub const STEP_SCALE: i8 = 6;

fn element(data_type: DataType) -> Arc<Field> {
    // pyarrow names the child of a list `element` in Parquet; readers must not depend on it.
    Arc::new(Field::new("element", data_type, true))
}

fn timestamp_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn file_fields() -> Fields {
    Fields::from(vec![Field::new("path", DataType::Utf8, true)])
}

fn histogram_fields() -> Fields {
    Fields::from(vec![
        Field::new("type", DataType::Utf8, true),
        Field::new("edges", DataType::List(element(DataType::Float64)), true),
        Field::new("values", DataType::List(element(DataType::Float64)), true),
    ])
}

/// The schema of every export file (spec section 3): 14 nullable columns.
pub fn export_schema() -> SchemaRef {
    let utf8 = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        utf8("project_id"),
        utf8("run_id"),
        utf8("attribute_path"),
        utf8("attribute_type"),
        Field::new("step", DataType::Decimal128(STEP_PRECISION, STEP_SCALE), true),
        Field::new("timestamp", timestamp_ms(), true),
        Field::new("int_value", DataType::Int64, true),
        Field::new("float_value", DataType::Float64, true),
        utf8("string_value"),
        Field::new("bool_value", DataType::Boolean, true),
        Field::new("datetime_value", timestamp_ms(), true),
        Field::new("string_set_value", DataType::List(element(DataType::Utf8)), true),
        Field::new("file_value", DataType::Struct(file_fields()), true),
        Field::new("histogram_value", DataType::Struct(histogram_fields()), true),
    ]))
}

/// A step as the exporter stores it: `Decimal(step).quantize(Decimal("1.000000"))`, here the
/// binary value times 10^6 rounded half to even.
pub fn step_to_decimal(step: f64) -> i128 {
    (step * 1e6).round_ties_even() as i128
}

/// A parameter's value, with the `attribute_type` it is exported as.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    Int(i64),
    /// NaN is written as a null `float_value`, as pandas does.
    Float(f64),
    String(String),
    Bool(bool),
    /// Milliseconds since the Unix epoch, UTC.
    Datetime(i64),
    StringSet(Vec<String>),
}

impl ParamValue {
    /// The exporter's `attribute_type` for this value.
    pub fn attribute_type(&self) -> &'static str {
        match self {
            ParamValue::Int(_) => "int",
            ParamValue::Float(_) => "float",
            ParamValue::String(_) => "string",
            ParamValue::Bool(_) => "bool",
            ParamValue::Datetime(_) => "datetime",
            ParamValue::StringSet(_) => "string_set",
        }
    }
}

/// One point of a histogram series (3.x): `dataclasses.asdict(neptune_query.types.Histogram)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// `COUNTING` and the like.
    pub kind: String,
    /// `values.len() + 1` bin edges.
    pub edges: Vec<f64>,
    pub values: Vec<f64>,
}

/// The value columns a row sets (at most one, or none for a phantom row).
#[derive(Clone, Copy, Debug)]
pub enum RowValue<'a> {
    /// Every value column null: a phantom row, or a NaN point of a float series.
    None,
    Int(i64),
    Float(f64),
    String(&'a str),
    Bool(bool),
    Datetime(i64),
    StringSet(&'a [String]),
    File(&'a str),
    Histogram(&'a Histogram),
}

/// The rows of one run (or model, or model version) being built, in the export schema.
/// [`ExportRows::finish`] turns them into a batch and leaves the builder empty.
#[derive(Debug)]
pub struct ExportRows {
    project_id: String,
    run_id: String,
    paths: StringBuilder,
    types: StringBuilder,
    steps: Vec<Option<i128>>,
    timestamps: Vec<Option<i64>>,
    ints: Vec<Option<i64>>,
    floats: Vec<Option<f64>>,
    strings: StringBuilder,
    bools: Vec<Option<bool>>,
    datetimes: Vec<Option<i64>>,
    sets: ListBuilder<StringBuilder>,
    files: StringBuilder,
    files_valid: Vec<bool>,
    hist_types: StringBuilder,
    hist_edges: ListBuilder<Float64Builder>,
    hist_values: ListBuilder<Float64Builder>,
    hist_valid: Vec<bool>,
}

impl ExportRows {
    /// An empty builder for rows of `run_id` in `project_id`.
    pub fn new(project_id: &str, run_id: &str) -> Self {
        ExportRows {
            project_id: project_id.to_string(),
            run_id: run_id.to_string(),
            paths: StringBuilder::new(),
            types: StringBuilder::new(),
            steps: Vec::new(),
            timestamps: Vec::new(),
            ints: Vec::new(),
            floats: Vec::new(),
            strings: StringBuilder::new(),
            bools: Vec::new(),
            datetimes: Vec::new(),
            sets: ListBuilder::new(StringBuilder::new()).with_field(element(DataType::Utf8)),
            files: StringBuilder::new(),
            files_valid: Vec::new(),
            hist_types: StringBuilder::new(),
            hist_edges: ListBuilder::new(Float64Builder::new()).with_field(element(DataType::Float64)),
            hist_values: ListBuilder::new(Float64Builder::new()).with_field(element(DataType::Float64)),
            hist_valid: Vec::new(),
        }
    }

    /// Rows so far.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// True when no row was added since the last [`ExportRows::finish`].
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Appends one row. `step` is in millionths (see [`step_to_decimal`]), `timestamp_ms` in
    /// milliseconds since the epoch. A `Float(NaN)` value is written as null.
    pub fn push(
        &mut self,
        path: &str,
        attribute_type: &str,
        step: Option<i128>,
        timestamp_ms: Option<i64>,
        value: RowValue<'_>,
    ) {
        self.paths.append_value(path);
        self.types.append_value(attribute_type);
        self.steps.push(step);
        self.timestamps.push(timestamp_ms);
        self.ints.push(match value {
            RowValue::Int(v) => Some(v),
            _ => None,
        });
        self.floats.push(match value {
            RowValue::Float(v) if !v.is_nan() => Some(v),
            _ => None,
        });
        match value {
            RowValue::String(s) => self.strings.append_value(s),
            _ => self.strings.append_null(),
        }
        self.bools.push(match value {
            RowValue::Bool(v) => Some(v),
            _ => None,
        });
        self.datetimes.push(match value {
            RowValue::Datetime(v) => Some(v),
            _ => None,
        });
        match value {
            RowValue::StringSet(items) => {
                for item in items {
                    self.sets.values().append_value(item);
                }
                self.sets.append(true);
            }
            _ => self.sets.append(false),
        }
        match value {
            RowValue::File(p) => {
                self.files.append_value(p);
                self.files_valid.push(true);
            }
            _ => {
                self.files.append_null();
                self.files_valid.push(false);
            }
        }
        match value {
            RowValue::Histogram(h) => {
                self.hist_types.append_value(&h.kind);
                self.hist_edges.values().append_slice(&h.edges);
                self.hist_edges.append(true);
                self.hist_values.values().append_slice(&h.values);
                self.hist_values.append(true);
                self.hist_valid.push(true);
            }
            _ => {
                self.hist_types.append_null();
                self.hist_edges.append(false);
                self.hist_values.append(false);
                self.hist_valid.push(false);
            }
        }
    }

    /// A parameter row (`float`, `int`, `string`, `bool`, `datetime`, `string_set`).
    pub fn param(&mut self, path: &str, value: &ParamValue) {
        let v = match value {
            ParamValue::Int(v) => RowValue::Int(*v),
            ParamValue::Float(v) => RowValue::Float(*v),
            ParamValue::String(s) => RowValue::String(s),
            ParamValue::Bool(v) => RowValue::Bool(*v),
            ParamValue::Datetime(v) => RowValue::Datetime(*v),
            ParamValue::StringSet(items) => RowValue::StringSet(items),
        };
        self.push(path, value.attribute_type(), None, None, v);
    }

    /// A phantom row: `path` of `attribute_type` with every value column null (3.x writes one
    /// for every parameter and file that another run of the same export batch has).
    pub fn phantom(&mut self, path: &str, attribute_type: &str, step: Option<i128>) {
        self.push(path, attribute_type, step, None, RowValue::None);
    }

    /// A `float_series` point; NaN is written as a null value (the row keeps its timestamp).
    pub fn float_point(&mut self, path: &str, step: i128, timestamp_ms: i64, value: f64) {
        self.push(
            path,
            "float_series",
            Some(step),
            Some(timestamp_ms),
            RowValue::Float(value),
        );
    }

    /// A `string_series` entry.
    pub fn string_point(&mut self, path: &str, step: i128, timestamp_ms: i64, value: &str) {
        self.push(
            path,
            "string_series",
            Some(step),
            Some(timestamp_ms),
            RowValue::String(value),
        );
    }

    /// The rows so far as a batch in [`export_schema`]; the builder is left empty.
    pub fn finish(&mut self) -> RecordBatch {
        let n = self.len();
        let files_valid = NullBuffer::from(std::mem::take(&mut self.files_valid));
        let hist_valid = NullBuffer::from(std::mem::take(&mut self.hist_valid));
        let file = StructArray::try_new(
            file_fields(),
            vec![Arc::new(self.files.finish()) as ArrayRef],
            Some(files_valid),
        )
        .expect("the file struct matches its fields");
        let histogram = StructArray::try_new(
            histogram_fields(),
            vec![
                Arc::new(self.hist_types.finish()) as ArrayRef,
                Arc::new(self.hist_edges.finish()),
                Arc::new(self.hist_values.finish()),
            ],
            Some(hist_valid),
        )
        .expect("the histogram struct matches its fields");
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                &self.project_id,
                n,
            ))),
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                &self.run_id,
                n,
            ))),
            Arc::new(self.paths.finish()),
            Arc::new(self.types.finish()),
            Arc::new(
                Decimal128Array::from(std::mem::take(&mut self.steps))
                    .with_precision_and_scale(STEP_PRECISION, STEP_SCALE)
                    .expect("decimal(18, 6) is valid"),
            ),
            Arc::new(
                TimestampMillisecondArray::from(std::mem::take(&mut self.timestamps)).with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from(std::mem::take(&mut self.ints))),
            Arc::new(Float64Array::from(std::mem::take(&mut self.floats))),
            Arc::new(self.strings.finish()),
            Arc::new(BooleanArray::from(std::mem::take(&mut self.bools))),
            Arc::new(
                TimestampMillisecondArray::from(std::mem::take(&mut self.datetimes)).with_timezone("UTC"),
            ),
            Arc::new(self.sets.finish()),
            Arc::new(file),
            Arc::new(histogram),
        ];
        RecordBatch::try_new(export_schema(), columns).expect("export columns match the schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Array;

    #[test]
    fn rows_fill_one_value_column_each() {
        let mut rows = ExportRows::new("ws/proj", "RUN-1");
        rows.param("a", &ParamValue::Int(3));
        rows.param("b", &ParamValue::StringSet(vec!["x".into(), "y".into()]));
        rows.phantom("c", "float", None);
        rows.float_point("m", step_to_decimal(2.5), 1000, f64::NAN);
        rows.push("f", "file", None, None, RowValue::File("RUN-1/f.txt"));
        let h = Histogram {
            kind: "COUNTING".into(),
            edges: vec![0.0, 1.0],
            values: vec![4.0],
        };
        rows.push("h", "histogram_series", Some(0), Some(5), RowValue::Histogram(&h));
        let batch = rows.finish();
        assert_eq!(batch.num_rows(), 6);
        assert_eq!(batch.schema(), export_schema());
        assert!(rows.is_empty());
        let floats = batch.column(7).as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(floats.null_count(), 6, "NaN and non-float rows are null");
        assert_eq!(batch.column(12).null_count(), 5);
        assert_eq!(step_to_decimal(7.25), 7_250_000);
        assert_eq!(step_to_decimal(9e-7), 1);
    }
}
