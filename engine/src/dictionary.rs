//! Low-cardinality string columns as keys into their distinct values.
//!
//! Owners, optimizers, states, GPUs and tags repeat a few hundred values over a hundred
//! thousand runs. A clause on such a column (`=`, `CONTAINS`, `MATCHES`, any combination on
//! that one column) is evaluated once per distinct value and then gathered by key, instead of
//! once per row; a tag is looked up once and then found among the keys of every set. A
//! table builds a column's dictionary the second time a filter reads it.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::error::Result;

/// A string column (or the elements of a string-set column) as dictionary keys.
#[derive(Debug)]
pub(crate) struct Dictionary {
    /// For each row (for a string set: each element of the flattened sets), the index of its
    /// value in `values`; a missing value points at the last entry, a null.
    pub keys: UInt32Array,
    /// The distinct values and then one null, as a one-column batch named like the column,
    /// in the column's own type, so that any clause on the column evaluates over it.
    pub values: RecordBatch,
}

impl Dictionary {
    /// Bytes held.
    pub fn memory(&self) -> usize {
        self.keys.get_array_memory_size() + self.values.get_array_memory_size()
    }
}

/// Whether a column of this type can have a dictionary: strings, and sets of strings (by
/// their elements).
pub(crate) fn may_encode(data_type: &DataType) -> bool {
    let element = match data_type {
        DataType::List(element) => element.data_type(),
        other => other,
    };
    matches!(element, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

/// The dictionary of a string or string-set column named `name`, or `None` when it holds
/// more than one distinct value per four entries (or is not a string column).
pub(crate) fn encode_column(name: &str, column: &ArrayRef) -> Result<Option<Dictionary>> {
    if !may_encode(column.data_type()) {
        return Ok(None);
    }
    match column.data_type() {
        DataType::List(_) => encode(name, column.as_list::<i32>().values()),
        _ => encode(name, column),
    }
}

/// Encodes `strings`, or `None` when they hold too many distinct values to gain from it.
fn encode(name: &str, strings: &ArrayRef) -> Result<Option<Dictionary>> {
    let limit = (strings.len() / 4).max(16);
    let utf8 = cast(strings, &DataType::Utf8)?;
    let utf8 = utf8.as_string::<i32>();
    let mut index: HashMap<&str, u32> = HashMap::new();
    let mut distinct: Vec<&str> = Vec::new();
    let mut keys = Vec::with_capacity(utf8.len());
    let mut nulls = Vec::new();
    for (row, value) in utf8.iter().enumerate() {
        match value {
            Some(v) => {
                let next = distinct.len() as u32;
                let key = *index.entry(v).or_insert_with(|| {
                    distinct.push(v);
                    next
                });
                if distinct.len() > limit {
                    return Ok(None);
                }
                keys.push(key);
            }
            None => {
                nulls.push(row);
                keys.push(0);
            }
        }
    }
    let null_key = distinct.len() as u32;
    for row in nulls {
        keys[row] = null_key;
    }
    let values: StringArray = distinct.into_iter().map(Some).chain([None]).collect();
    let values = cast(&(Arc::new(values) as ArrayRef), strings.data_type())?;
    let schema = Schema::new(vec![Field::new(name, values.data_type().clone(), true)]);
    Ok(Some(Dictionary {
        keys: UInt32Array::from(keys),
        values: RecordBatch::try_new(Arc::new(schema), vec![values])?,
    }))
}
