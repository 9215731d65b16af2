//! A table of the index: written as a pack of columns (`sys/id`, every attribute converted
//! and checked, every series summary, the default order), opened from its manifest entry
//! alone, and read a column at a time as queries need them.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use datafusion::arrow::datatypes::{DataType, UInt32Type};
use datasets::layout::ObjectKind;
use nql::{Aggregate, AttrType};

use super::index_error;
use super::manifest::{ColumnEntry, TableEntry};
use super::pack::{Pack, PackWriter};
use crate::error::LoadError;
use crate::load::objects::{AttributeColumn, ObjectChunk};
use crate::load::series::{FloatSummaries, StringSummaries};
use crate::query::DEFAULT_SORT;
use crate::table::{
    ColumnSource, ColumnSpec, ObjectTable, Read, attribute_column, default_order_indices, id_column,
};

/// The column of a pack holding the default result order: for each of its places, the row
/// there.
pub(crate) const ORDER_COLUMN: &str = "nql:order";

/// The pack's name for `sys/id`.
fn id_name() -> String {
    id_column()
}

/// Summary columns of a table, each with what it holds.
pub(super) type Summaries = Vec<(ColumnSpec, ArrayRef)>;

/// The summary columns of objects `range` of `floats` and `strings`: for each float series
/// path its five aggregates, for each string series path its last entry, by path.
pub(super) fn summary_columns(
    floats: &FloatSummaries,
    strings: &StringSummaries,
    range: std::ops::Range<usize>,
) -> Summaries {
    let mut out = Vec::new();
    for (path, arrays, count) in floats.columns(range.clone()) {
        out.extend(ColumnSpec::float_series(&path, count).into_iter().zip(arrays));
    }
    for (path, last, count) in strings.columns(range) {
        let spec = ColumnSpec::attribute(&path, AttrType::StringSeries, last.data_type().clone(), count);
        out.push((spec, last));
    }
    out
}

/// Writes the pack of a table whose rows are `chunks` (in order) and whose series summaries
/// are `summaries` (rows in the same order). Returns the table's entry (its `files` left for
/// the caller).
pub(super) fn write_table(
    dir: &Path,
    generation: u64,
    kind: ObjectKind,
    chunks: Vec<ObjectChunk>,
    summaries: Summaries,
) -> Result<TableEntry, LoadError> {
    TableWriter::start(dir, generation, kind, chunks)?.finish(summaries)
}

/// A table's pack being written: its objects first ([`TableWriter::start`], after which the
/// chunks they came in are freed), its series summaries once they are known.
pub(super) struct TableWriter {
    writer: PackWriter,
    path: std::path::PathBuf,
    pack: String,
    kind: ObjectKind,
    rows: usize,
    columns: Vec<ColumnEntry>,
    ids: ArrayRef,
    created: Option<ArrayRef>,
}

fn column_entry(spec: &ColumnSpec) -> ColumnEntry {
    ColumnEntry {
        name: spec.name.clone(),
        path: spec.path.clone(),
        ty: spec.ty.name().to_string(),
        aggregate: spec.aggregate.map(|a| a.name().to_string()),
        data_type: spec.data_type.to_string(),
        count: spec.count,
    }
}

impl TableWriter {
    /// Starts the pack of a table whose rows are `chunks` (in order), writing its ids and
    /// attributes.
    pub(super) fn start(
        dir: &Path,
        generation: u64,
        kind: ObjectKind,
        chunks: Vec<ObjectChunk>,
    ) -> Result<TableWriter, LoadError> {
        let pack = format!("tables/{}-{generation}.pack", kind.table_name());
        let path = dir.join(&pack);
        let (ids, attributes) = if chunks.is_empty() {
            (
                datafusion::arrow::array::StringViewArray::from(Vec::<&str>::new()),
                Vec::new(),
            )
        } else {
            crate::load::objects::assemble(chunks)?
        };
        let rows = ids.len();
        let ids: ArrayRef = Arc::new(ids);
        let mut writer = PackWriter::create(&path, rows)?;
        writer.add(&id_name(), &ids)?;
        let mut columns = Vec::new();
        let mut created = None;
        for a in attributes {
            let count = rows - a.array.null_count();
            let spec = ColumnSpec::attribute(&a.path, a.ty, a.array.data_type().clone(), count);
            writer.add(&spec.name, &a.array)?;
            columns.push(column_entry(&spec));
            if a.path == DEFAULT_SORT && a.ty == AttrType::Datetime {
                created = Some(a.array);
            }
        }
        Ok(TableWriter {
            writer,
            path,
            pack,
            kind,
            rows,
            columns,
            ids,
            created,
        })
    }

    /// Writes the series summaries (rows in the table's order) and the default order, and
    /// puts the pack in place. Returns the table's entry (its `files` left for the caller).
    pub(super) fn finish(mut self, summaries: Summaries) -> Result<TableEntry, LoadError> {
        let rows = self.rows;
        for (spec, array) in &summaries {
            if array.len() != rows {
                return Err(index_error(
                    &self.path,
                    format!("summary `{}` has {} rows, not {rows}", spec.name, array.len()),
                ));
            }
            self.writer.add(&spec.name, array)?;
            self.columns.push(column_entry(spec));
        }
        drop(summaries);
        let order = default_order(self.ids, self.created)?;
        self.writer.add(ORDER_COLUMN, &(Arc::new(order) as ArrayRef))?;
        self.writer.finish()?;
        Ok(TableEntry {
            table: self.kind.table_name().to_string(),
            rows,
            files: Vec::new(),
            columns: self.columns,
            pack: self.pack,
        })
    }
}

/// The summary columns of a table updated in place: those `previous` wrote, each row moved
/// to its new place (`from_old`: for each row of the new table, its row in the old one, or
/// null for a new object), except where `dirty` says a (path, type) changed for that row:
/// there `fresh` holds the new value (null where the series is gone).
pub(super) fn patched_summaries(
    dir: &Path,
    previous: &TableEntry,
    from_old: &UInt32Array,
    fresh: Summaries,
    dirty: &std::collections::HashMap<(String, AttrType), datafusion::arrow::buffer::BooleanBuffer>,
) -> Result<Summaries, LoadError> {
    use datafusion::arrow::compute::kernels::zip::zip;
    use datafusion::arrow::compute::take;
    let rows = from_old.len();
    let path = dir.join(&previous.pack);
    let pack = Pack::open(&path)?;
    // Every summary column either side has, by (path, type, aggregate), in path order.
    let mut specs: Vec<ColumnSpec> = Vec::new();
    let key = |s: &ColumnSpec| (s.path.clone(), s.ty, s.aggregate);
    let mut fresh: std::collections::HashMap<_, (ColumnSpec, ArrayRef)> =
        fresh.into_iter().map(|(s, a)| (key(&s), (s, a))).collect();
    let old_specs: Vec<ColumnSpec> = previous
        .columns
        .iter()
        .filter(|c| matches!(c.ty.as_str(), "floatSeries" | "stringSeries"))
        .map(|c| spec_of(c, &path))
        .collect::<Result<_, _>>()?;
    for s in old_specs.iter().chain(fresh.values().map(|(s, _)| s)) {
        if !specs.iter().any(|t| key(t) == key(s)) {
            specs.push(s.clone());
        }
    }
    specs.sort_by(|a, b| {
        (
            a.ty == AttrType::StringSeries,
            &a.path,
            a.aggregate.map(|g| g as u8 + 1).unwrap_or(0),
        )
            .cmp(&(
                b.ty == AttrType::StringSeries,
                &b.path,
                b.aggregate.map(|g| g as u8 + 1).unwrap_or(0),
            ))
    });
    let mut out = Vec::with_capacity(specs.len());
    for mut spec in specs {
        let null = || datafusion::arrow::array::new_null_array(&spec.data_type, rows);
        let old = match old_specs.iter().find(|s| key(s) == key(&spec)) {
            Some(s) => {
                let array = pack.read(&s.name)?;
                take(array.as_ref(), from_old, None).map_err(|e| index_error(&path, e.to_string()))?
            }
            None => null(),
        };
        let array = match dirty.get(&(spec.path.clone(), spec.ty)) {
            Some(mask) => {
                let new = fresh.remove(&key(&spec)).map_or_else(null, |(_, a)| a);
                let mask = datafusion::arrow::array::BooleanArray::new(mask.clone(), None);
                zip(&mask, &new, &old).map_err(|e| index_error(&path, e.to_string()))?
            }
            None => old,
        };
        spec.count = rows - array.null_count();
        if spec.count > 0 {
            out.push((spec, array));
        }
    }
    // A path whose aggregates are not all present would be half a series: every aggregate
    // of a path has the count of its `last`.
    Ok(out)
}

fn spec_of(c: &ColumnEntry, pack: &Path) -> Result<ColumnSpec, LoadError> {
    let data_type: DataType = c
        .data_type
        .parse()
        .map_err(|e| index_error(pack, format!("column `{}`: type `{}`: {e}", c.name, c.data_type)))?;
    let aggregate = match &c.aggregate {
        Some(a) => Some(
            Aggregate::from_name(a).ok_or_else(|| index_error(pack, format!("`{a}` is not an aggregate")))?,
        ),
        None => None,
    };
    Ok(ColumnSpec {
        name: c.name.clone(),
        data_type,
        path: c.path.clone(),
        ty: attr_type(c, pack)?,
        aggregate,
        count: c.count,
    })
}

/// The default order of a table's rows (for each place, the row there), from their ids and
/// creation times.
pub(crate) fn default_order(ids: ArrayRef, created: Option<ArrayRef>) -> Result<UInt32Array, LoadError> {
    use datafusion::arrow::datatypes::{Field, Schema};
    if ids.is_empty() {
        return Ok(UInt32Array::from(Vec::<u32>::new()));
    }
    let mut fields = vec![Field::new(id_column(), DataType::Utf8View, false)];
    let mut arrays = vec![ids];
    if let Some(created) = created {
        fields.push(Field::new(
            attribute_column(DEFAULT_SORT, AttrType::Datetime),
            created.data_type().clone(),
            true,
        ));
        arrays.push(created);
    }
    default_order_indices(&Schema::new(fields), &arrays)
}

/// The rows `ranges` (start, rows) of a table written earlier, each as a chunk of its own
/// (labelled `label`), with every attribute the pack holds.
pub(super) fn old_chunks(
    dir: &Path,
    entry: &TableEntry,
    ranges: &[(usize, usize)],
    label: &Path,
) -> Result<Vec<ObjectChunk>, LoadError> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let pack = Pack::open(&dir.join(&entry.pack))?;
    let ids = pack.read(&id_name())?;
    let ids = ids.as_string_view().clone();
    let attributes: Vec<(&ColumnEntry, ArrayRef)> = entry
        .columns
        .iter()
        .filter(|c| c.aggregate.is_none() && !matches!(c.ty.as_str(), "floatSeries" | "stringSeries"))
        .map(|c| Ok((c, pack.read(&c.name)?)))
        .collect::<Result<_, LoadError>>()?;
    ranges
        .iter()
        .map(|&(start, rows)| {
            Ok(ObjectChunk {
                file: label.to_path_buf(),
                rows,
                ids: ids.slice(start, rows),
                attributes: attributes
                    .iter()
                    .map(|(c, array)| {
                        Ok(AttributeColumn {
                            path: c.path.clone(),
                            ty: attr_type(c, &dir.join(&entry.pack))?,
                            array: array.slice(start, rows),
                        })
                    })
                    .collect::<Result<Vec<_>, LoadError>>()?
                    .into_iter()
                    .filter(|a| a.array.null_count() < rows)
                    .collect(),
            })
        })
        .collect()
}

fn attr_type(c: &ColumnEntry, pack: &Path) -> Result<AttrType, LoadError> {
    AttrType::from_name(&c.ty)
        .ok_or_else(|| index_error(pack, format!("column `{}`: `{}` is not a type", c.name, c.ty)))
}

/// Opens a table from its manifest entry: its schema and catalog from the entry, its values
/// from its pack when queries need them.
pub(super) fn open_table(kind: ObjectKind, entry: &TableEntry, dir: &Path) -> Result<ObjectTable, LoadError> {
    let path = dir.join(&entry.pack);
    let pack = Pack::open(&path)?;
    if pack.rows() != entry.rows {
        return Err(index_error(
            &path,
            format!(
                "{} rows where the manifest says {}: rebuild the index",
                pack.rows(),
                entry.rows
            ),
        ));
    }
    let mut specs = Vec::with_capacity(entry.columns.len());
    let mut names = vec![id_name()];
    for c in &entry.columns {
        let data_type: DataType = c
            .data_type
            .parse()
            .map_err(|e| index_error(&path, format!("column `{}`: type `{}`: {e}", c.name, c.data_type)))?;
        let aggregate = match &c.aggregate {
            Some(a) => Some(
                Aggregate::from_name(a)
                    .ok_or_else(|| index_error(&path, format!("`{a}` is not an aggregate")))?,
            ),
            None => None,
        };
        specs.push(ColumnSpec {
            name: c.name.clone(),
            data_type,
            path: c.path.clone(),
            ty: attr_type(c, &path)?,
            aggregate,
            count: c.count,
        });
        names.push(c.name.clone());
    }
    let source = PackColumns {
        pack: Arc::new(pack),
        names,
        rows: entry.rows,
    };
    Ok(ObjectTable::lazy(kind, entry.rows, specs, Box::new(source)))
}

/// The [`ColumnSource`] of a table of the index.
#[derive(Debug)]
struct PackColumns {
    pack: Arc<Pack>,
    /// The pack's name of each column of the table's schema.
    names: Vec<String>,
    rows: usize,
}

impl ColumnSource for PackColumns {
    fn read(&self, indices: &[usize], order: bool) -> Result<Read, LoadError> {
        let mut wanted: Vec<&str> = indices.iter().map(|&i| self.names[i].as_str()).collect();
        if order {
            wanted.push(ORDER_COLUMN);
        }
        let threads = crate::load::cores();
        let mut read = crate::load::parallel_map(&wanted, threads, |name| self.pack.read(name))?;
        let order = if order {
            let array = read.pop().expect("the order was read");
            match array.data_type() {
                DataType::UInt32 if array.null_count() == 0 && array.len() == self.rows => {
                    Some(array.as_primitive::<UInt32Type>().clone())
                }
                other => {
                    return Err(LoadError::Column {
                        file: Path::new(ORDER_COLUMN).to_path_buf(),
                        column: ORDER_COLUMN.into(),
                        problem: format!(
                            "expected {} positions without nulls, found {} of {other}",
                            self.rows,
                            array.len()
                        ),
                    });
                }
            }
        } else {
            None
        };
        Ok(Read { columns: read, order })
    }
}
