//! Unit tests of the crate, one module per feature; small sizes, debug-profile fast.

mod csv;
mod demo;
mod generate;
mod mlperf;

use std::collections::BTreeMap;

use datafusion::arrow::array::{
    Array, BooleanArray, Float64Array, Int64Array, ListArray, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::record_batch::RecordBatch;

/// All batches of a table as one.
pub(crate) fn concat(batches: &[RecordBatch]) -> RecordBatch {
    let schema = batches.first().expect("a table").schema();
    concat_batches(&schema, batches).unwrap()
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| panic!("column {name} has another type"))
}

pub(crate) fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    column::<StringArray>(batch, name)
        .iter()
        .map(|v| v.map(String::from))
        .collect()
}

pub(crate) fn floats(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    column::<Float64Array>(batch, name).iter().collect()
}

pub(crate) fn ints(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    column::<Int64Array>(batch, name).iter().collect()
}

pub(crate) fn bools(batch: &RecordBatch, name: &str) -> Vec<Option<bool>> {
    column::<BooleanArray>(batch, name).iter().collect()
}

pub(crate) fn times(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    column::<TimestampMicrosecondArray>(batch, name).iter().collect()
}

pub(crate) fn sets(batch: &RecordBatch, name: &str) -> Vec<Option<Vec<String>>> {
    let list = column::<ListArray>(batch, name);
    (0..list.len())
        .map(|i| {
            list.is_valid(i).then(|| {
                let values = list.value(i);
                let values = values.as_any().downcast_ref::<StringArray>().unwrap();
                values.iter().map(|v| v.unwrap().to_string()).collect()
            })
        })
        .collect()
}

/// Float series points by (object, path), in row order: (step, value).
pub(crate) fn float_points(batches: &[RecordBatch]) -> BTreeMap<(String, String), Vec<(f64, f64)>> {
    let mut out: BTreeMap<(String, String), Vec<(f64, f64)>> = BTreeMap::new();
    for batch in batches {
        let ids = strings(batch, "sys/id");
        let paths = strings(batch, "path");
        let steps = floats(batch, "step");
        let values = floats(batch, "value");
        for i in 0..batch.num_rows() {
            out.entry((ids[i].clone().unwrap(), paths[i].clone().unwrap()))
                .or_default()
                .push((steps[i].unwrap(), values[i].unwrap()));
        }
    }
    out
}

/// The value at the greatest step (the first of equal steps wins here; generated data has none).
pub(crate) fn last(points: &[(f64, f64)]) -> f64 {
    points
        .iter()
        .fold((f64::NEG_INFINITY, f64::NAN), |acc, &(s, v)| {
            if s > acc.0 { (s, v) } else { acc }
        })
        .1
}

/// Microseconds since the epoch of an RFC 3339 instant.
pub(crate) fn micros(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_micros()
}
