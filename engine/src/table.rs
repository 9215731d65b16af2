//! A table of objects (runs, models or model versions): its columns (every attribute plus
//! the per-object series summaries), the NQL catalog describing them, the names results
//! give them, and the values, read when a query first needs them.
//!
//! Rows are in the order the table's files hold them; [`ObjectTable::order`] is the default
//! result order (spec 5: `sys/creation_time` descending, missing last, then `sys/id`) as a
//! permutation, computed once, so the usual query needs no sort: a scan walks the
//! permutation and keeps the rows its filter selects, and a limit stops early. A column is
//! read once, by the first query that needs it, from wherever the table's [`ColumnSource`]
//! keeps it (the project's Parquet files and its index, or memory), and never reordered; a
//! long-lived engine then answers from memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{SortColumn, SortOptions, lexsort_to_indices, take};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{SortExpr, ident};
use datasets::layout::{ID_COLUMN, ObjectKind};
use nql::{Aggregate, AttrType, AttributeInfo, ColumnInfo, TableCatalog};

use crate::dictionary::{self, Dictionary};
use crate::error::LoadError;
use crate::query::DEFAULT_SORT;

/// A column of a table, as results show it.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputColumn {
    /// The name in results: the path, or `path:type` when the path has several types here.
    pub name: String,
    pub path: String,
    pub ty: AttrType,
    /// The internal column holding the value (for series: the last value).
    pub(crate) column: String,
}

/// What one column of a table holds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ColumnSpec {
    /// The internal name ([`attribute_column`] or [`summary_column`]).
    pub name: String,
    pub data_type: DataType,
    pub path: String,
    pub ty: AttrType,
    /// `Some` for a series summary column other than `last`.
    pub aggregate: Option<Aggregate>,
    /// How many objects have the attribute.
    pub count: usize,
}

impl ColumnSpec {
    /// The column of an attribute (for a series: of its `last` summary).
    pub fn attribute(path: &str, ty: AttrType, data_type: DataType, count: usize) -> ColumnSpec {
        let name = match ty {
            AttrType::FloatSeries | AttrType::StringSeries => summary_column(Aggregate::Last, path, ty),
            _ => attribute_column(path, ty),
        };
        ColumnSpec {
            name,
            data_type,
            path: path.to_string(),
            ty,
            aggregate: None,
            count,
        }
    }

    /// The columns of a float series: `last`, then the other aggregates.
    pub fn float_series(path: &str, count: usize) -> Vec<ColumnSpec> {
        FLOAT_SUMMARIES
            .into_iter()
            .map(|aggregate| ColumnSpec {
                name: summary_column(aggregate, path, AttrType::FloatSeries),
                data_type: DataType::Float64,
                path: path.to_string(),
                ty: AttrType::FloatSeries,
                aggregate: (aggregate != Aggregate::Last).then_some(aggregate),
                count,
            })
            .collect()
    }
}

/// Reads a table's columns when a query first needs them.
pub(crate) trait ColumnSource: Send + Sync + std::fmt::Debug {
    /// The columns at `indices` of the table's schema, every one with the table's rows in
    /// stored order, and with `order` the default result order: for each of its places,
    /// the row there.
    fn read(&self, indices: &[usize], order: bool) -> Result<Read, LoadError>;
}

/// What [`ColumnSource::read`] read.
#[derive(Debug)]
pub(crate) struct Read {
    pub columns: Vec<ArrayRef>,
    pub order: Option<UInt32Array>,
}

/// A string column's dictionary: built the second time a filter reads the column (a one-shot
/// query does not pay for it), or found not worth it; with the layout of the rows it was
/// built over.
#[derive(Debug, Default)]
struct DictionaryState {
    uses: u32,
    built: Option<(Option<Arc<Dictionary>>, bool)>,
}

/// The values read so far, by schema index, and how their rows are laid out: in stored
/// order (`sorted` false: the default order is the permutation [`ObjectTable::order`]), or
/// in the default order itself.
#[derive(Debug)]
struct Columns {
    arrays: Vec<Option<ArrayRef>>,
    sorted: bool,
}

/// Scans after which a table puts the columns it holds into the default order, so that the
/// usual query keeps rows without a permutation: a long-lived engine pays that once, a
/// one-shot query never.
const SORT_AFTER_SCANS: u32 = 3;

/// One table of objects, ready to be queried.
pub(crate) struct ObjectTable {
    pub kind: ObjectKind,
    pub rows: usize,
    pub catalog: TableCatalog,
    /// Attributes in table order (`sys/id` first), as results name them.
    pub outputs: Vec<OutputColumn>,
    /// Every column, `sys/id` first, each nullable only if some object lacks it.
    pub schema: SchemaRef,
    /// The default result order, once known.
    order: OnceLock<UInt32Array>,
    columns: RwLock<Columns>,
    /// Scans so far (see [`SORT_AFTER_SCANS`]).
    scans: std::sync::atomic::AtomicU32,
    /// Held while reading, so that two queries needing one column read it once.
    reading: Mutex<()>,
    dictionaries: Mutex<HashMap<usize, DictionaryState>>,
    source: Option<Box<dyn ColumnSource>>,
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

/// The order of the float summary columns.
pub(crate) const FLOAT_SUMMARIES: [Aggregate; 5] = [
    Aggregate::Last,
    Aggregate::Average,
    Aggregate::Max,
    Aggregate::Min,
    Aggregate::Variance,
];

impl ObjectTable {
    /// A table whose values are read from `source` as queries need them. `columns` are the
    /// table's columns after `sys/id`.
    pub fn lazy(
        kind: ObjectKind,
        rows: usize,
        columns: Vec<ColumnSpec>,
        source: Box<dyn ColumnSource>,
    ) -> ObjectTable {
        ObjectTable::new(kind, rows, columns, Some(source))
    }

    /// A table held in memory: `ids` and one array per column of `columns`, rows in any
    /// order.
    pub fn in_memory(
        kind: ObjectKind,
        ids: ArrayRef,
        columns: Vec<(ColumnSpec, ArrayRef)>,
    ) -> Result<ObjectTable, LoadError> {
        let (specs, mut arrays): (Vec<ColumnSpec>, Vec<ArrayRef>) = columns.into_iter().unzip();
        arrays.insert(0, ids);
        let rows = arrays[0].len();
        let mut table = ObjectTable::new(kind, rows, specs, None);
        let order = default_order_indices(&table.schema, &arrays)?;
        let sorted = arrays
            .iter()
            .map(|a| take(a.as_ref(), &order, None).map(Some))
            .collect::<Result<Vec<_>, _>>()
            .map_err(DataFusionError::from)?;
        table.order = OnceLock::from(order);
        table.columns = RwLock::new(Columns {
            arrays: sorted,
            sorted: true,
        });
        Ok(table)
    }

    /// The default result order: for each of its places, the row there.
    pub fn order(&self) -> Result<&UInt32Array, DataFusionError> {
        if let Some(order) = self.order.get() {
            return Ok(order);
        }
        self.arrays(&[])?;
        self.order
            .get()
            .ok_or_else(|| DataFusionError::Internal("a table lacks its order".into()))
    }

    /// Keeps the order a source read.
    fn keep_order(&self, order: Option<UInt32Array>) -> Result<(), DataFusionError> {
        if let Some(order) = order {
            if order.len() != self.rows {
                return Err(DataFusionError::Internal(format!(
                    "the order of {} has {} rows, not {}",
                    self.kind.table_name(),
                    order.len(),
                    self.rows
                )));
            }
            let _ = self.order.set(order);
        }
        Ok(())
    }

    fn new(
        kind: ObjectKind,
        rows: usize,
        specs: Vec<ColumnSpec>,
        source: Option<Box<dyn ColumnSource>>,
    ) -> ObjectTable {
        let mut catalog = TableCatalog::new();
        let id = ColumnSpec::attribute(ID_COLUMN, AttrType::String, DataType::Utf8View, rows);
        let mut fields = Vec::with_capacity(specs.len() + 1);
        let mut attrs: Vec<(String, AttrType, String)> = Vec::new();
        for spec in std::iter::once(&id).chain(&specs) {
            // Columns without missing values are declared non-nullable, so that `c IS NOT
            // NULL` guards on them simplify away.
            fields.push(Field::new(&spec.name, spec.data_type.clone(), spec.count < rows));
            let info = ColumnInfo {
                name: spec.name.clone(),
                data_type: spec.data_type.clone(),
            };
            match spec.aggregate {
                Some(aggregate) => catalog.add_aggregate(&spec.path, aggregate, info),
                None => {
                    catalog.add_attribute(&spec.path, spec.ty, spec.count, info);
                    attrs.push((spec.path.clone(), spec.ty, spec.name.clone()));
                }
            }
        }
        let width = fields.len();
        ObjectTable {
            kind,
            rows,
            catalog,
            outputs: output_names(attrs),
            schema: Arc::new(Schema::new(fields)),
            order: OnceLock::new(),
            columns: RwLock::new(Columns {
                arrays: vec![None; width],
                sorted: false,
            }),
            scans: std::sync::atomic::AtomicU32::new(0),
            reading: Mutex::new(()),
            dictionaries: Mutex::new(HashMap::new()),
            source,
        }
    }

    /// Every attribute with its type and count (`sys/id` included).
    pub fn attributes(&self) -> Vec<AttributeInfo> {
        nql::Catalog::attributes(&self.catalog)
    }

    /// The columns at `indices` of the schema as one batch (reading those not read yet), and
    /// whether its rows are in the default order (else in stored order).
    pub fn batch(&self, indices: &[usize]) -> Result<(RecordBatch, bool), DataFusionError> {
        let schema = Arc::new(self.schema.project(indices)?);
        let (arrays, sorted) = self.arrays(indices)?;
        let batch = RecordBatch::try_new_with_options(
            schema,
            arrays,
            &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(self.rows)),
        )?;
        Ok((batch, sorted))
    }

    /// Counts a scan; the [`SORT_AFTER_SCANS`]th puts the columns held into the default
    /// order (and drops the dictionaries, whose keys follow the rows).
    pub fn count_scan(&self) -> Result<(), DataFusionError> {
        let scans = self.scans.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if scans != SORT_AFTER_SCANS {
            return Ok(());
        }
        let order = self.order()?.clone();
        let _reading = self.reading.lock().expect("not poisoned");
        let mut columns = self.columns.write().expect("not poisoned");
        if columns.sorted {
            return Ok(());
        }
        for array in columns.arrays.iter_mut().flatten() {
            *array = take(array.as_ref(), &order, None)?;
        }
        columns.sorted = true;
        // Released before the dictionaries are locked: `dictionaries` reads the layout while
        // it holds their lock, so holding both here, in the other order, could deadlock (it
        // did, in index::columns_first_read_by_many_threads_at_once_are_right). A dictionary
        // stored between the two was built over the rows in the new order (it checks the
        // layout under its lock), and clearing it too only means building it again.
        drop(columns);
        self.dictionaries
            .lock()
            .expect("not poisoned")
            .values_mut()
            .for_each(|d| d.built = None);
        Ok(())
    }

    /// The arrays at `indices`, reading those not read yet in one go (with the order, when
    /// it is not known yet: every scan needs it), and whether they are in the default order.
    fn arrays(&self, indices: &[usize]) -> Result<(Vec<ArrayRef>, bool), DataFusionError> {
        if let Some(found) = self.cached(indices)
            && self.order.get().is_some()
        {
            return Ok(found);
        }
        let _reading = self.reading.lock().expect("not poisoned");
        let missing: Vec<usize> = {
            let columns = self.columns.read().expect("not poisoned");
            let mut missing: Vec<usize> = indices
                .iter()
                .copied()
                .filter(|&i| columns.arrays[i].is_none())
                .collect();
            missing.sort_unstable();
            missing.dedup();
            missing
        };
        let order = self.order.get().is_none();
        if !missing.is_empty() || order {
            let source = self
                .source
                .as_ref()
                .ok_or_else(|| DataFusionError::Internal("an in-memory table lacks a column".into()))?;
            let read = source
                .read(&missing, order)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            self.keep_order(read.order)?;
            let mut columns = self.columns.write().expect("not poisoned");
            for (i, array) in missing.into_iter().zip(read.columns) {
                if array.len() != self.rows {
                    return Err(DataFusionError::Internal(format!(
                        "column {} has {} rows, not {}",
                        self.schema.field(i).name(),
                        array.len(),
                        self.rows
                    )));
                }
                let array = match (columns.sorted, self.order.get()) {
                    (true, Some(order)) => take(array.as_ref(), order, None)?,
                    _ => array,
                };
                columns.arrays[i] = Some(array);
            }
        }
        self.cached(indices)
            .ok_or_else(|| DataFusionError::Internal("a column read went missing".into()))
    }

    fn cached(&self, indices: &[usize]) -> Option<(Vec<ArrayRef>, bool)> {
        let columns = self.columns.read().expect("not poisoned");
        let arrays = indices
            .iter()
            .map(|&i| columns.arrays[i].clone())
            .collect::<Option<Vec<_>>>()?;
        Some((arrays, columns.sorted))
    }

    /// The dictionaries of the string columns at `indices` that a filter reads, built the
    /// second time a filter reads a column, by column name; only those over rows laid out
    /// as `sorted` says.
    pub fn dictionaries(
        &self,
        indices: &[usize],
        sorted: bool,
    ) -> Result<HashMap<String, Arc<Dictionary>>, DataFusionError> {
        let mut out = HashMap::new();
        for &i in indices {
            let field = self.schema.field(i);
            if !dictionary::may_encode(field.data_type()) {
                continue;
            }
            let wanted = {
                let mut states = self.dictionaries.lock().expect("not poisoned");
                let state = states.entry(i).or_default();
                match &state.built {
                    Some((built, layout)) => {
                        if let Some(d) = built.as_ref().filter(|_| *layout == sorted) {
                            out.insert(field.name().clone(), Arc::clone(d));
                        }
                        false
                    }
                    None => {
                        state.uses += 1;
                        state.uses >= 2
                    }
                }
            };
            if wanted {
                let (mut arrays, layout) = self.arrays(&[i])?;
                let array = arrays.remove(0);
                let built = dictionary::encode_column(field.name(), &array)?.map(Arc::new);
                if let Some(d) = built.as_ref().filter(|_| layout == sorted) {
                    out.insert(field.name().clone(), Arc::clone(d));
                }
                let mut states = self.dictionaries.lock().expect("not poisoned");
                // Kept unless the rows were reordered meanwhile.
                if self.columns.read().expect("not poisoned").sorted == layout {
                    states.entry(i).or_default().built = Some((built, layout));
                }
            }
        }
        Ok(out)
    }

    /// Bytes of Arrow data read so far (values and dictionaries), as the arrays span them.
    pub fn memory(&self) -> usize {
        let columns: usize = self
            .columns
            .read()
            .expect("not poisoned")
            .arrays
            .iter()
            .flatten()
            // What the arrays span, not their buffers' capacity: a column of a mapped pack
            // shares one buffer, the whole file, with every other.
            .map(|a| {
                a.to_data()
                    .get_slice_memory_size()
                    .unwrap_or_else(|_| a.get_array_memory_size())
            })
            .sum();
        let dictionaries: usize = self
            .dictionaries
            .lock()
            .expect("not poisoned")
            .values()
            .filter_map(|s| s.built.as_ref()?.0.as_ref())
            .map(|d| d.memory())
            .sum();
        columns + dictionaries
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
    default_order_columns(schema)
        .into_iter()
        .map(|(name, descending)| ident(name).sort(!descending, false))
        .collect()
}

/// The columns of the default order, each with whether it is descending.
fn default_order_columns(schema: &Schema) -> Vec<(String, bool)> {
    let created = attribute_column(DEFAULT_SORT, AttrType::Datetime);
    let mut order = Vec::new();
    if schema.column_with_name(&created).is_some() {
        order.push((created, true));
    }
    order.push((id_column(), false));
    order
}

/// The permutation that puts rows into the default order: for each position in that
/// order, the row it takes. `arrays` are the columns of `schema`, `sys/id` first.
pub(crate) fn default_order_indices(schema: &Schema, arrays: &[ArrayRef]) -> Result<UInt32Array, LoadError> {
    let columns: Vec<SortColumn> = default_order_columns(schema)
        .into_iter()
        .map(|(name, descending)| SortColumn {
            values: arrays[schema.index_of(&name).expect("the column exists")].clone(),
            options: Some(SortOptions {
                descending,
                nulls_first: false,
            }),
        })
        .collect();
    Ok(lexsort_to_indices(&columns, None).map_err(DataFusionError::from)?)
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
