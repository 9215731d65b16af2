//! Building the Arrow batches of the layout: object tables column by column, series tables
//! point by point without per-point allocation.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, ListBuilder, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

use crate::layout::{ID_COLUMN, PATH_COLUMN, STEP_COLUMN, TIMESTAMP_COLUMN, VALUE_COLUMN};

/// The Arrow type of every datetime column written here: microseconds, UTC.
pub(crate) fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The schema of a series table: `sys/id`, `path`, `step`, `value` (Float64 or Utf8) and,
/// when `with_timestamp`, `timestamp`.
pub(crate) fn series_schema(float: bool, with_timestamp: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new(ID_COLUMN, DataType::Utf8, false),
        Field::new(PATH_COLUMN, DataType::Utf8, false),
        Field::new(STEP_COLUMN, DataType::Float64, false),
        Field::new(
            VALUE_COLUMN,
            if float { DataType::Float64 } else { DataType::Utf8 },
            false,
        ),
    ];
    if with_timestamp {
        fields.push(Field::new(TIMESTAMP_COLUMN, timestamp_type(), true));
    }
    Arc::new(Schema::new(fields))
}

/// An object table assembled column by column; `sys/id` is the one non-nullable column.
#[derive(Debug, Default)]
pub(crate) struct TableBuilder {
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
}

impl TableBuilder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, name: &str, array: ArrayRef) {
        let nullable = name != ID_COLUMN;
        self.fields
            .push(Field::new(name, array.data_type().clone(), nullable));
        self.columns.push(array);
    }

    pub(crate) fn utf8<S: AsRef<str>>(&mut self, name: &str, values: impl IntoIterator<Item = Option<S>>) {
        let array: StringArray = values.into_iter().collect();
        self.push(name, Arc::new(array));
    }

    pub(crate) fn int(&mut self, name: &str, values: impl IntoIterator<Item = Option<i64>>) {
        let array: Int64Array = values.into_iter().collect();
        self.push(name, Arc::new(array));
    }

    pub(crate) fn float(&mut self, name: &str, values: impl IntoIterator<Item = Option<f64>>) {
        let array: Float64Array = values.into_iter().collect();
        self.push(name, Arc::new(array));
    }

    pub(crate) fn bool(&mut self, name: &str, values: impl IntoIterator<Item = Option<bool>>) {
        let array: BooleanArray = values.into_iter().collect();
        self.push(name, Arc::new(array));
    }

    /// Microseconds since the Unix epoch, UTC.
    pub(crate) fn datetime(&mut self, name: &str, values: impl IntoIterator<Item = Option<i64>>) {
        let array: TimestampMicrosecondArray = values.into_iter().collect();
        self.push(name, Arc::new(array.with_timezone("UTC")));
    }

    pub(crate) fn string_set<I, S>(&mut self, name: &str, values: impl IntoIterator<Item = Option<I>>)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut builder = ListBuilder::new(StringBuilder::new());
        for value in values {
            match value {
                Some(items) => {
                    for item in items {
                        builder.values().append_value(item);
                    }
                    builder.append(true);
                }
                None => builder.append(false),
            }
        }
        self.push(name, Arc::new(builder.finish()));
    }

    pub(crate) fn finish(self) -> RecordBatch {
        RecordBatch::try_new(Arc::new(Schema::new(self.fields)), self.columns)
            .expect("columns of one table have equal lengths")
    }
}

/// Rows of the float series table, appended point by point.
#[derive(Debug)]
pub(crate) struct FloatSeriesBuilder {
    ids: StringBuilder,
    paths: StringBuilder,
    steps: Vec<f64>,
    values: Vec<f64>,
    timestamps: Vec<i64>,
}

impl FloatSeriesBuilder {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        FloatSeriesBuilder {
            ids: StringBuilder::with_capacity(rows, rows * 10),
            paths: StringBuilder::with_capacity(rows, rows * 14),
            steps: Vec::with_capacity(rows),
            values: Vec::with_capacity(rows),
            timestamps: Vec::with_capacity(rows),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, id: &str, path: &str, step: f64, value: f64, timestamp_us: i64) {
        self.ids.append_value(id);
        self.paths.append_value(path);
        self.steps.push(step);
        self.values.push(value);
        self.timestamps.push(timestamp_us);
    }

    pub(crate) fn len(&self) -> usize {
        self.steps.len()
    }

    /// The rows so far as a batch; the builder is left empty.
    pub(crate) fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.ids.finish()),
            Arc::new(self.paths.finish()),
            Arc::new(Float64Array::from(std::mem::take(&mut self.steps))),
            Arc::new(Float64Array::from(std::mem::take(&mut self.values))),
            Arc::new(
                TimestampMicrosecondArray::from(std::mem::take(&mut self.timestamps)).with_timezone("UTC"),
            ),
        ];
        RecordBatch::try_new(series_schema(true, true), columns).expect("series columns match the schema")
    }
}

/// Rows of the string series table, appended entry by entry.
#[derive(Debug)]
pub(crate) struct StringSeriesBuilder {
    ids: StringBuilder,
    paths: StringBuilder,
    steps: Vec<f64>,
    values: StringBuilder,
    timestamps: Vec<i64>,
}

impl StringSeriesBuilder {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        StringSeriesBuilder {
            ids: StringBuilder::with_capacity(rows, rows * 10),
            paths: StringBuilder::with_capacity(rows, rows * 12),
            steps: Vec::with_capacity(rows),
            values: StringBuilder::with_capacity(rows, rows * 40),
            timestamps: Vec::with_capacity(rows),
        }
    }

    pub(crate) fn push(&mut self, id: &str, path: &str, step: f64, value: &str, timestamp_us: i64) {
        self.ids.append_value(id);
        self.paths.append_value(path);
        self.steps.push(step);
        self.values.append_value(value);
        self.timestamps.push(timestamp_us);
    }

    pub(crate) fn len(&self) -> usize {
        self.steps.len()
    }

    /// The rows so far as a batch; the builder is left empty.
    pub(crate) fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.ids.finish()),
            Arc::new(self.paths.finish()),
            Arc::new(Float64Array::from(std::mem::take(&mut self.steps))),
            Arc::new(self.values.finish()),
            Arc::new(
                TimestampMicrosecondArray::from(std::mem::take(&mut self.timestamps)).with_timezone("UTC"),
            ),
        ];
        RecordBatch::try_new(series_schema(false, true), columns).expect("series columns match the schema")
    }
}
