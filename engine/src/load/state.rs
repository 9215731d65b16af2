//! Series summary states as Arrow batches: what the project index stores for each series
//! file, so that a file is summarized once and its summaries merged with those of files
//! added later.
//!
//! A float state row holds one (object, path) summary exactly ([`SummaryParts`]: counts,
//! the exact sums as chunks, flags, extremes and the last point). A string state is a batch
//! of points, the last entry of each series, merged as points are.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, Int64Builder, ListArray,
    ListBuilder, StringArray, TimestampNanosecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Int64Type, Schema, UInt64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datasets::layout::{ID_COLUMN, PATH_COLUMN, STEP_COLUMN, TIMESTAMP_COLUMN, VALUE_COLUMN};

use super::series::SeriesProblem;
use super::summary::{RawParts, SummaryParts};

const COUNT: &str = "count";
const SUM_LO: &str = "sum_lo";
const SUM_CHUNKS: &str = "sum_chunks";
const SUM_SQ_LO: &str = "sum_sq_lo";
const SUM_SQ_CHUNKS: &str = "sum_sq_chunks";
const NAN: &str = "nan";
const POS_INF: &str = "pos_inf";
const NEG_INF: &str = "neg_inf";
const MAX: &str = "max";
const MIN: &str = "min";
const LAST_STEP: &str = "last_step";
const LAST_TIME: &str = "last_time";
const LAST_VALUE: &str = "last_value";

/// A float state batch: `sys/id`, `path` (any string arrays, dictionaries included), then
/// the fields of each summary, its exact sums as held.
pub(crate) fn float_batch(ids: ArrayRef, paths: ArrayRef, parts: &[RawParts]) -> RecordBatch {
    let chunks = |squares: bool| -> ArrayRef {
        let mut b = ListBuilder::with_capacity(Int64Builder::with_capacity(parts.len() * 6), parts.len())
            .with_field(Field::new_list_field(DataType::Int64, false));
        for p in parts {
            b.values()
                .append_slice(if squares { p.sum_sq_chunks } else { p.sum_chunks });
            b.append(true);
        }
        Arc::new(b.finish())
    };
    let floats = |f: fn(&RawParts) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(parts.iter().map(f)))
    };
    let flags = |f: fn(&RawParts) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from_iter(parts.iter().map(|p| Some(f(p)))))
    };
    let columns: Vec<(&str, ArrayRef)> = vec![
        (ID_COLUMN, ids),
        (PATH_COLUMN, paths),
        (
            COUNT,
            Arc::new(UInt64Array::from_iter_values(parts.iter().map(|p| p.count))),
        ),
        (
            SUM_LO,
            Arc::new(Int32Array::from_iter_values(parts.iter().map(|p| p.sum_lo))),
        ),
        (SUM_CHUNKS, chunks(false)),
        (
            SUM_SQ_LO,
            Arc::new(Int32Array::from_iter_values(parts.iter().map(|p| p.sum_sq_lo))),
        ),
        (SUM_SQ_CHUNKS, chunks(true)),
        (NAN, flags(|p| p.nan)),
        (POS_INF, flags(|p| p.pos_inf)),
        (NEG_INF, flags(|p| p.neg_inf)),
        (MAX, floats(|p| p.max)),
        (MIN, floats(|p| p.min)),
        (LAST_STEP, floats(|p| p.last_step)),
        (
            LAST_TIME,
            Arc::new(Int64Array::from_iter_values(parts.iter().map(|p| p.last_time))),
        ),
        (LAST_VALUE, floats(|p| p.last_value)),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, a)| Field::new(*name, a.data_type().clone(), false))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("the columns fit the schema")
}

/// A string state batch: points with `sys/id`, `path`, `step`, `value`, `timestamp`
/// (nanoseconds, null where the entry had none).
pub(crate) fn string_batch(
    ids: ArrayRef,
    paths: ArrayRef,
    steps: Vec<f64>,
    values: StringArray,
    times: Vec<Option<i64>>,
) -> RecordBatch {
    let times = TimestampNanosecondArray::from(times).with_timezone("UTC");
    let columns: Vec<(&str, ArrayRef, bool)> = vec![
        (ID_COLUMN, ids, false),
        (PATH_COLUMN, paths, false),
        (STEP_COLUMN, Arc::new(Float64Array::from(steps)), false),
        (VALUE_COLUMN, Arc::new(values), false),
        (TIMESTAMP_COLUMN, Arc::new(times), true),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, a, nullable)| Field::new(*name, a.data_type().clone(), *nullable))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a, _)| a).collect(),
    )
    .expect("the columns fit the schema")
}

/// The column `name` of a state batch.
pub(crate) fn column<'a>(batch: &'a RecordBatch, name: &'static str) -> Result<&'a ArrayRef, SeriesProblem> {
    batch.column_by_name(name).ok_or(SeriesProblem::Column {
        column: name,
        problem: "missing from the stored state".into(),
    })
}

/// The summaries of a float state batch, row by row.
pub(crate) fn float_parts(batch: &RecordBatch) -> Result<Vec<SummaryParts>, SeriesProblem> {
    fn typed<'a>(
        batch: &'a RecordBatch,
        name: &'static str,
        ty: &DataType,
    ) -> Result<&'a ArrayRef, SeriesProblem> {
        let a = column(batch, name)?;
        if a.data_type() != ty || a.null_count() > 0 {
            return Err(SeriesProblem::Column {
                column: name,
                problem: format!(
                    "a stored state column must be {ty} without nulls, not {}",
                    a.data_type()
                ),
            });
        }
        Ok(a)
    }
    let list = DataType::List(Arc::new(Field::new_list_field(DataType::Int64, false)));
    let count = typed(batch, COUNT, &DataType::UInt64)?.as_primitive::<UInt64Type>();
    let sum_lo = typed(batch, SUM_LO, &DataType::Int32)?.as_primitive::<Int32Type>();
    let sum_sq_lo = typed(batch, SUM_SQ_LO, &DataType::Int32)?.as_primitive::<Int32Type>();
    let chunks = |name: &'static str| -> Result<&ListArray, SeriesProblem> {
        let a = column(batch, name)?;
        match a.data_type() {
            DataType::List(f) if f.data_type() == &DataType::Int64 && a.null_count() == 0 => {
                Ok(a.as_list::<i32>())
            }
            _ => Err(SeriesProblem::Column {
                column: name,
                problem: format!("a stored state column must be {list}, not {}", a.data_type()),
            }),
        }
    };
    let sum_chunks = chunks(SUM_CHUNKS)?;
    let sum_sq_chunks = chunks(SUM_SQ_CHUNKS)?;
    let flag = |name| -> Result<&BooleanArray, SeriesProblem> {
        Ok(typed(batch, name, &DataType::Boolean)?.as_boolean())
    };
    let (nan, pos_inf, neg_inf) = (flag(NAN)?, flag(POS_INF)?, flag(NEG_INF)?);
    let float = |name| -> Result<&Float64Array, SeriesProblem> {
        Ok(typed(batch, name, &DataType::Float64)?.as_primitive::<Float64Type>())
    };
    let (max, min, last_step, last_value) = (float(MAX)?, float(MIN)?, float(LAST_STEP)?, float(LAST_VALUE)?);
    let last_time = typed(batch, LAST_TIME, &DataType::Int64)?.as_primitive::<Int64Type>();
    let values = |list: &ListArray, row: usize| -> Vec<i64> {
        list.value(row).as_primitive::<Int64Type>().values().to_vec()
    };
    Ok((0..batch.num_rows())
        .map(|row| SummaryParts {
            count: count.value(row),
            sum_lo: sum_lo.value(row),
            sum_chunks: values(sum_chunks, row),
            sum_sq_lo: sum_sq_lo.value(row),
            sum_sq_chunks: values(sum_sq_chunks, row),
            nan: nan.value(row),
            pos_inf: pos_inf.value(row),
            neg_inf: neg_inf.value(row),
            max: max.value(row),
            min: min.value(row),
            last_step: last_step.value(row),
            last_time: last_time.value(row),
            last_value: last_value.value(row),
        })
        .collect())
}
