//! Reading the columns of an indexed table as queries need them: attributes from the
//! project's object files (only the Parquet columns asked for), summaries from the index's
//! serving file, which holds them in the same order, the order of the object files' rows.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, RecordBatchReader, UInt32Array, new_null_array,
};
use datafusion::arrow::compute::{concat, concat_batches};
use datafusion::arrow::datatypes::{DataType, UInt32Type};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use nql::AttrType;

use crate::error::LoadError;
use crate::load::{SharedFile, guarded, objects, parquet_error};
use crate::table::{ColumnSource, Read};

use super::ORDER_COLUMN;

/// An object file of the table, open since the table was opened.
#[derive(Debug)]
pub(crate) struct ObjectFile {
    pub path: PathBuf,
    pub file: SharedFile,
    pub metadata: ArrowReaderMetadata,
    pub rows: usize,
    /// The position of `sys/id` in the file.
    pub id: usize,
}

/// The table's serving file in the index.
#[derive(Debug)]
pub(crate) struct ServingFile {
    pub path: PathBuf,
    pub file: SharedFile,
    pub metadata: ArrowReaderMetadata,
}

/// Where a column of the table is.
#[derive(Debug)]
pub(crate) enum Location {
    /// An attribute: its column in each object file (`None` where a file lacks it), to be
    /// converted to `data_type`.
    Object {
        ty: AttrType,
        data_type: DataType,
        places: Vec<Option<usize>>,
    },
    /// A summary column of the serving file, by name.
    Serving { name: String },
}

/// The [`ColumnSource`] of a table opened through its index.
#[derive(Debug)]
pub(crate) struct IndexedColumns {
    rows: usize,
    files: Vec<ObjectFile>,
    serving: ServingFile,
    /// By schema index of the table.
    locations: Vec<Location>,
}

impl IndexedColumns {
    pub fn new(rows: usize, files: Vec<ObjectFile>, serving: ServingFile, locations: Vec<Location>) -> Self {
        IndexedColumns {
            rows,
            files,
            serving,
            locations,
        }
    }

    /// Reads `names` from the serving file.
    fn read_serving(&self, names: &[&str]) -> Result<Vec<ArrayRef>, LoadError> {
        let path = &self.serving.path;
        let schema = self.serving.metadata.schema();
        let mut roots = Vec::with_capacity(names.len());
        for name in names {
            roots.push(schema.index_of(name).map_err(|_| LoadError::Column {
                file: path.clone(),
                column: name.to_string(),
                problem: "missing from the index (rebuild it with `nql index --rebuild`)".into(),
            })?);
        }
        let batch = read(path, &self.serving.file, &self.serving.metadata, roots)?;
        names
            .iter()
            .map(|name| {
                batch
                    .column_by_name(name)
                    .cloned()
                    .ok_or_else(|| parquet_error(path, format!("column `{name}` was not read")))
            })
            .collect()
    }
}

/// One read of a [`ColumnSource::read`] call; the reads of a call run in parallel.
enum Work<'a> {
    /// Column `root` of object file `file`.
    Object { file: usize, root: usize },
    /// Columns of the serving file.
    Serving(Vec<&'a str>),
}

impl IndexedColumns {
    /// The default order from the serving file's `nql:order` column.
    fn order_of(&self, read: ArrayRef) -> Result<UInt32Array, LoadError> {
        match read.data_type() {
            DataType::UInt32 if read.null_count() == 0 && read.len() == self.rows => {
                Ok(read.as_primitive::<UInt32Type>().clone())
            }
            other => Err(LoadError::Column {
                file: self.serving.path.clone(),
                column: ORDER_COLUMN.into(),
                problem: format!(
                    "expected {} positions without nulls, found {} of {other}",
                    self.rows,
                    read.len()
                ),
            }),
        }
    }
}

impl ColumnSource for IndexedColumns {
    fn read(&self, indices: &[usize], order: bool) -> Result<Read, LoadError> {
        // What to read: each object file's columns one by one (a reader per column, so that
        // they decode in parallel), and the serving file's in one go.
        let mut serving: Vec<&str> = indices
            .iter()
            .filter_map(|&i| match &self.locations[i] {
                Location::Serving { name } => Some(name.as_str()),
                Location::Object { .. } => None,
            })
            .collect();
        if order {
            serving.push(ORDER_COLUMN);
        }
        let mut work: Vec<Work> = Vec::new();
        for &i in indices {
            if let Location::Object { places, .. } = &self.locations[i] {
                for (file, place) in places.iter().enumerate() {
                    if let Some(root) = *place
                        && !work.iter().any(
                            |w| matches!(w, Work::Object { file: f, root: r } if *f == file && *r == root),
                        )
                    {
                        work.push(Work::Object { file, root });
                    }
                }
            }
        }
        if !serving.is_empty() {
            work.push(Work::Serving(serving.clone()));
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let done = crate::load::parallel_map(&work, threads, |w| match w {
            Work::Object { file, root } => {
                let f = &self.files[*file];
                let batch = read(&f.path, &f.file, &f.metadata, vec![*root])?;
                Ok(vec![Arc::clone(batch.column(0))])
            }
            Work::Serving(names) => self.read_serving(names),
        })?;
        let raw = |file: usize, root: usize| -> Option<&ArrayRef> {
            work.iter()
                .zip(&done)
                .find(|(w, _)| matches!(w, Work::Object { file: f, root: r } if *f == file && *r == root))
                .map(|(_, arrays)| &arrays[0])
        };
        let mut from_serving = match work.last().zip(done.last()) {
            Some((Work::Serving(_), arrays)) => arrays.clone().into_iter(),
            _ => Vec::new().into_iter(),
        };
        let mut columns = Vec::with_capacity(indices.len());
        for &i in indices {
            match &self.locations[i] {
                Location::Serving { .. } => {
                    columns.push(from_serving.next().expect("every serving column was read"));
                }
                Location::Object {
                    ty,
                    data_type,
                    places,
                } => {
                    let mut pieces = Vec::with_capacity(self.files.len());
                    for (f, file) in self.files.iter().enumerate() {
                        let piece = match places[f] {
                            Some(root) => {
                                let name = file.metadata.schema().field(root).name();
                                let array = raw(f, root).ok_or_else(|| {
                                    parquet_error(&file.path, format!("column `{name}` was not read"))
                                })?;
                                convert(&file.path, name, *ty, array)?
                            }
                            None => new_null_array(data_type, file.rows),
                        };
                        if piece.len() != file.rows {
                            return Err(parquet_error(
                                &file.path,
                                format!(
                                    "{} rows where the index counted {}: rebuild the index",
                                    piece.len(),
                                    file.rows
                                ),
                            ));
                        }
                        pieces.push(piece);
                    }
                    let refs: Vec<&dyn Array> = pieces.iter().map(|a| a.as_ref()).collect();
                    columns.push(match refs.as_slice() {
                        [one] => one.slice(0, one.len()),
                        _ => concat(&refs).map_err(|e| parquet_error(&self.files[0].path, e))?,
                    });
                }
            }
        }
        let order = match from_serving.next() {
            Some(array) if order => Some(self.order_of(array)?),
            _ => None,
        };
        Ok(Read { columns, order })
    }
}

/// An attribute column of `file` in its canonical type (`sys/id` checked for nulls).
fn convert(file: &std::path::Path, name: &str, ty: AttrType, raw: &ArrayRef) -> Result<ArrayRef, LoadError> {
    if name == datasets::layout::ID_COLUMN
        || datasets::layout::split_column_name(name).0 == datasets::layout::ID_COLUMN
    {
        return Ok(Arc::new(objects::id_array(file, raw)?));
    }
    objects::canonical_array(ty, raw).map_err(|problem| LoadError::Column {
        file: file.to_path_buf(),
        column: name.to_string(),
        problem,
    })
}

/// Reads the columns `roots` of a Parquet file, whole.
fn read(
    path: &std::path::Path,
    file: &SharedFile,
    metadata: &ArrowReaderMetadata,
    roots: Vec<usize>,
) -> Result<RecordBatch, LoadError> {
    guarded(path, || {
        let handle = file.clone();
        let mask = ProjectionMask::roots(metadata.parquet_schema(), roots);
        // One batch per row group: no copy to put batches together.
        let largest = metadata
            .metadata()
            .row_groups()
            .iter()
            .map(|rg| rg.num_rows().max(0) as usize)
            .max()
            .unwrap_or(0);
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, metadata.clone())
            .with_projection(mask)
            .with_batch_size(largest.max(1))
            .build()
            .map_err(|e| parquet_error(path, e))?;
        let schema = reader.schema();
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| parquet_error(path, e))?;
        concat_batches(&schema, &batches).map_err(|e| parquet_error(path, e))
    })
}
