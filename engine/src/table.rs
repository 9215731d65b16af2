//! A loaded table of objects: one in-memory Arrow table holding every attribute plus the
//! per-object series summaries, the NQL catalog describing it, and the names its columns
//! get in results.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringViewArray};
use datafusion::arrow::compute::{SortColumn, SortOptions, lexsort_to_indices, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, SortExpr, TableSource, ident};
use datasets::layout::{ID_COLUMN, ObjectKind};
use nql::{Aggregate, AttrType, AttributeInfo, ColumnInfo, TableCatalog};

use crate::dictionary::{self, Dictionary};
use crate::error::LoadError;
use crate::load::objects::AttributeColumn;
use crate::query::DEFAULT_SORT;

/// A column of a loaded table, as results show it.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputColumn {
    /// The name in results: the path, or `path:type` when the path has several types here.
    pub name: String,
    pub path: String,
    pub ty: AttrType,
    /// The internal column holding the value (for series: the last value).
    pub(crate) column: String,
}

/// One table of objects, ready to be queried.
pub(crate) struct ObjectTable {
    pub kind: ObjectKind,
    pub rows: usize,
    pub catalog: TableCatalog,
    /// Attributes in table order (`sys/id` first), as results name them.
    pub outputs: Vec<OutputColumn>,
    pub schema: SchemaRef,
    /// The whole table as one batch, in the default result order.
    pub batch: RecordBatch,
    /// Dictionaries of the string columns that repeat their values, by column name.
    pub dictionaries: HashMap<String, Dictionary>,
    pub provider: Arc<MemTable>,
    pub source: Arc<dyn TableSource>,
    /// Bytes of Arrow data held.
    pub memory: usize,
}

/// The internal name of the column holding `path:ty`.
pub(crate) fn attribute_column(path: &str, ty: AttrType) -> String {
    format!("{path}:{ty}")
}

/// The internal name of the column holding a series summary.
pub(crate) fn summary_column(aggregate: Aggregate, path: &str, ty: AttrType) -> String {
    format!("{aggregate}({path}:{ty})")
}

/// The internal name of the `sys/id` column.
pub(crate) fn id_column() -> String {
    attribute_column(ID_COLUMN, AttrType::String)
}

/// Float series summary columns: (path, [last, average, max, min, variance], objects).
pub(crate) type FloatSeriesColumns = Vec<(String, [ArrayRef; 5], usize)>;
/// String series `last` columns: (path, last, objects).
pub(crate) type StringSeriesColumns = Vec<(String, ArrayRef, usize)>;

/// The order of the float summary arrays.
pub(crate) const FLOAT_SUMMARIES: [Aggregate; 5] = [
    Aggregate::Last,
    Aggregate::Average,
    Aggregate::Max,
    Aggregate::Min,
    Aggregate::Variance,
];

impl ObjectTable {
    /// Builds the table and its catalog. `partitions` is how many slices DataFusion scans
    /// in parallel.
    pub fn build(
        kind: ObjectKind,
        ids: StringViewArray,
        attributes: Vec<AttributeColumn>,
        float_series: FloatSeriesColumns,
        string_series: StringSeriesColumns,
        partitions: usize,
    ) -> Result<ObjectTable, LoadError> {
        let rows = ids.len();
        let mut catalog = TableCatalog::new();
        let mut fields = vec![Field::new(id_column(), DataType::Utf8View, false)];
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(ids)];
        let mut attrs: Vec<(String, AttrType, String)> =
            vec![(ID_COLUMN.into(), AttrType::String, id_column())];
        catalog.add_attribute(
            ID_COLUMN,
            AttrType::String,
            rows,
            ColumnInfo {
                name: id_column(),
                data_type: DataType::Utf8View,
            },
        );
        let push = |name: String, array: ArrayRef, fields: &mut Vec<Field>, arrays: &mut Vec<ArrayRef>| {
            // Columns without nulls are declared non-nullable, so that `c IS NOT NULL` guards
            // on them simplify away.
            fields.push(Field::new(
                &name,
                array.data_type().clone(),
                array.null_count() > 0,
            ));
            arrays.push(array);
            name
        };
        for a in attributes {
            let count = rows - a.array.null_count();
            let data_type = a.array.data_type().clone();
            let name = push(attribute_column(&a.path, a.ty), a.array, &mut fields, &mut arrays);
            catalog.add_attribute(
                &a.path,
                a.ty,
                count,
                ColumnInfo {
                    name: name.clone(),
                    data_type,
                },
            );
            attrs.push((a.path, a.ty, name));
        }
        for (path, summaries, count) in float_series {
            for (aggregate, array) in FLOAT_SUMMARIES.into_iter().zip(summaries) {
                let name = push(
                    summary_column(aggregate, &path, AttrType::FloatSeries),
                    array,
                    &mut fields,
                    &mut arrays,
                );
                let info = ColumnInfo {
                    name: name.clone(),
                    data_type: DataType::Float64,
                };
                if aggregate == Aggregate::Last {
                    catalog.add_attribute(&path, AttrType::FloatSeries, count, info);
                    attrs.push((path.clone(), AttrType::FloatSeries, name));
                } else {
                    catalog.add_aggregate(&path, aggregate, info);
                }
            }
        }
        for (path, last, count) in string_series {
            let data_type = last.data_type().clone();
            let name = push(
                summary_column(Aggregate::Last, &path, AttrType::StringSeries),
                last,
                &mut fields,
                &mut arrays,
            );
            catalog.add_attribute(
                &path,
                AttrType::StringSeries,
                count,
                ColumnInfo {
                    name: name.clone(),
                    data_type,
                },
            );
            attrs.push((path, AttrType::StringSeries, name));
        }
        let outputs = output_names(attrs);
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(DataFusionError::from)?;
        // Stored in the default result order, so that the usual query needs no sort: a filter
        // keeps the order, and a limit stops early.
        let (batch, order) = sort_default(batch)?;
        let dictionaries = dictionary::build(&batch)?;
        let memory =
            batch.get_array_memory_size() + dictionaries.values().map(Dictionary::memory).sum::<usize>();
        let provider = Arc::new(
            MemTable::try_new(schema.clone(), partition(&batch, partitions))?.with_sort_order(vec![order]),
        );
        Ok(ObjectTable {
            kind,
            rows,
            catalog,
            outputs,
            schema,
            batch,
            dictionaries,
            source: provider_as_source(provider.clone()),
            provider,
            memory,
        })
    }

    /// Every attribute with its type and count (`sys/id` included).
    pub fn attributes(&self) -> Vec<AttributeInfo> {
        nql::Catalog::attributes(&self.catalog)
    }
}

/// Names results give to attributes: the path, or `path:type` when the path has several
/// types in the table.
fn output_names(attrs: Vec<(String, AttrType, String)>) -> Vec<OutputColumn> {
    let mut per_path: HashMap<&str, usize> = HashMap::new();
    for (path, _, _) in &attrs {
        *per_path.entry(path.as_str()).or_default() += 1;
    }
    let names: Vec<String> = attrs
        .iter()
        .map(|(path, ty, _)| {
            if per_path[path.as_str()] > 1 {
                format!("{path}:{ty}")
            } else {
                path.clone()
            }
        })
        .collect();
    attrs
        .into_iter()
        .zip(names)
        .map(|((path, ty, column), name)| OutputColumn {
            name,
            path,
            ty,
            column,
        })
        .collect()
}

/// The default result order (spec 5): `sys/creation_time` descending with missing values
/// last, then `sys/id` ascending.
pub(crate) fn default_order(schema: &Schema) -> Vec<SortExpr> {
    let created = attribute_column(DEFAULT_SORT, AttrType::Datetime);
    let mut order = Vec::new();
    if schema.column_with_name(&created).is_some() {
        order.push(ident(created).sort(false, false));
    }
    order.push(ident(id_column()).sort(true, false));
    order
}

/// Sorts the table into the default result order; returns it with that order.
fn sort_default(batch: RecordBatch) -> Result<(RecordBatch, Vec<SortExpr>), LoadError> {
    let order = default_order(&batch.schema());
    let columns: Vec<SortColumn> = order
        .iter()
        .map(|s| {
            let Expr::Column(c) = &s.expr else {
                unreachable!("the default order sorts columns")
            };
            SortColumn {
                values: batch.column_by_name(&c.name).expect("the column exists").clone(),
                options: Some(SortOptions {
                    descending: !s.asc,
                    nulls_first: s.nulls_first,
                }),
            }
        })
        .collect();
    let indices = lexsort_to_indices(&columns, None).map_err(DataFusionError::from)?;
    let sorted = take_record_batch(&batch, &indices).map_err(DataFusionError::from)?;
    Ok((sorted, order))
}

/// Splits a batch into up to `n` contiguous slices (zero-copy), one per partition.
fn partition(batch: &RecordBatch, n: usize) -> Vec<Vec<RecordBatch>> {
    let rows = batch.num_rows();
    // Small tables are not worth the per-partition overhead.
    let n = n.clamp(1, rows.div_ceil(32 * 1024).max(1));
    let per = rows.div_ceil(n).max(1);
    (0..n)
        .map(|i| {
            let start = (i * per).min(rows);
            let len = per.min(rows - start);
            vec![batch.slice(start, len)]
        })
        .collect()
}

impl std::fmt::Debug for ObjectTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectTable")
            .field("kind", &self.kind)
            .field("rows", &self.rows)
            .field("columns", &self.schema.fields().len())
            .finish()
    }
}
