//! Object tables (runs, models, model versions): every column checked against the dataset
//! layout and converted to one canonical Arrow type per NQL type, so that planning and
//! execution see a single representation:
//!
//! | NQL type | stored as |
//! |---|---|
//! | int | Int64 |
//! | float | Float64 (NaN canonical) |
//! | string, artifact, fileRef | Utf8View |
//! | experimentState | Utf8View holding `active` / `inactive` |
//! | bool | Boolean |
//! | datetime | Timestamp(unit of the file, UTC), Date32, Date64 |
//! | stringSet | List(Utf8) |
//! | fileRefSeries, histogramSeries | as in the file (only presence is queried) |

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringViewArray, new_null_array};
use datafusion::arrow::compute::{cast, concat};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datasets::layout::{ID_COLUMN, natural_type, split_column_name, suffix_fits};
use nql::AttrType;
use nql::hir::ExperimentState;

use crate::error::LoadError;

/// One attribute column of an object table, in its canonical Arrow type.
#[derive(Clone, Debug)]
pub(crate) struct AttributeColumn {
    pub path: String,
    pub ty: AttrType,
    pub array: ArrayRef,
}

/// One file's (or one in-memory batch's) worth of an object table, normalized.
#[derive(Debug)]
pub(crate) struct ObjectChunk {
    pub file: PathBuf,
    pub rows: usize,
    pub ids: StringViewArray,
    pub attributes: Vec<AttributeColumn>,
}

/// A column of an object file, checked against the layout (docs/dataset.md) from its name
/// and Arrow type alone.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FileColumn {
    /// The column's position in the file's schema.
    pub index: usize,
    /// The column's name in the file.
    pub name: String,
    pub path: String,
    pub ty: AttrType,
    /// The type the column is converted to ([`canonical_type`]).
    pub data_type: DataType,
}

/// The columns of an object file: `sys/id` (its position) and every attribute.
#[derive(Clone, Debug)]
pub(crate) struct FileColumns {
    pub id: usize,
    pub attributes: Vec<FileColumn>,
}

/// Checks the columns of an object file of `schema`, read from `file`: names, type suffixes
/// and Arrow types (the values are checked as they are converted, by [`canonical_array`]).
pub(crate) fn file_columns(file: &Path, schema: &Schema) -> Result<FileColumns, LoadError> {
    let column_error = |column: &str, problem: String| LoadError::Column {
        file: file.to_path_buf(),
        column: column.to_string(),
        problem,
    };
    let mut id = None;
    let mut attributes: Vec<FileColumn> = Vec::new();
    let mut seen: HashMap<(String, AttrType), String> = HashMap::new();
    for (index, field) in schema.fields().iter().enumerate() {
        let name = field.name();
        let (path, suffix) = split_column_name(name);
        if suffix.is_none()
            && let Some((_, tail)) = name.rsplit_once(':')
            && let Some(close) = nql::AttrType::closest(tail)
            && close.name().eq_ignore_ascii_case(tail)
        {
            return Err(column_error(
                name,
                format!("unknown type suffix `:{tail}` (type names are camelCase: `:{close}`)"),
            ));
        }
        let source = field.data_type();
        let ty = match (suffix, natural_type(source)) {
            (Some(t), _) if suffix_fits(t, source) => t,
            (Some(t), _) => {
                return Err(column_error(
                    name,
                    format!("the suffix `:{t}` contradicts the column's Arrow type {source}"),
                ));
            }
            (None, Some(t)) => t,
            (None, None) => {
                return Err(column_error(
                    name,
                    format!(
                        "unsupported Arrow type {source} (use strings, integers up to 64 bits signed or 32 unsigned, floats, booleans, timestamps or dates, or lists of strings)"
                    ),
                ));
            }
        };
        if path == ID_COLUMN {
            if ty != AttrType::String {
                return Err(column_error(
                    name,
                    format!("`sys/id` must be a string column, not {ty}"),
                ));
            }
            id = Some(index);
            continue;
        }
        if let Some(other) = seen.insert((path.to_string(), ty), name.to_string()) {
            return Err(column_error(
                name,
                format!("columns `{other}` and `{name}` are both the attribute `{path}:{ty}`"),
            ));
        }
        attributes.push(FileColumn {
            index,
            name: name.to_string(),
            path: path.to_string(),
            ty,
            data_type: canonical_type(ty, source),
        });
    }
    let id = id.ok_or_else(|| LoadError::MissingId {
        file: file.to_path_buf(),
    })?;
    Ok(FileColumns { id, attributes })
}

/// `sys/id` of an object file as Utf8View, checked to have no nulls.
pub(crate) fn id_array(file: &Path, array: &ArrayRef) -> Result<StringViewArray, LoadError> {
    if let Some(row) = first_null(array.as_ref()) {
        return Err(LoadError::NullId {
            file: file.to_path_buf(),
            row,
        });
    }
    let a = cast(array, &DataType::Utf8View).map_err(|e| LoadError::Column {
        file: file.to_path_buf(),
        column: ID_COLUMN.to_string(),
        problem: e.to_string(),
    })?;
    Ok(a.as_string_view().clone())
}

/// Checks and normalizes the columns of `batch`, read from `file`.
pub(crate) fn normalize(file: &Path, batch: &RecordBatch) -> Result<ObjectChunk, LoadError> {
    let schema = batch.schema();
    let columns = file_columns(file, &schema)?;
    let ids = id_array(file, batch.column(columns.id))?;
    let attributes = columns
        .attributes
        .into_iter()
        .map(|c| {
            let array =
                canonical_array(c.ty, batch.column(c.index)).map_err(|problem| LoadError::Column {
                    file: file.to_path_buf(),
                    column: c.name.clone(),
                    problem,
                })?;
            Ok(AttributeColumn {
                path: c.path,
                ty: c.ty,
                array,
            })
        })
        .collect::<Result<Vec<_>, LoadError>>()?;
    Ok(ObjectChunk {
        file: file.to_path_buf(),
        rows: batch.num_rows(),
        ids,
        attributes,
    })
}

fn first_null(a: &dyn Array) -> Option<usize> {
    a.logical_nulls()
        .filter(|n| n.null_count() > 0)
        .and_then(|n| (0..n.len()).find(|&i| n.is_null(i)))
}

/// The canonical Arrow type an attribute of `ty` is stored as, given its source type.
pub(crate) fn canonical_type(ty: AttrType, source: &DataType) -> DataType {
    match ty {
        AttrType::Int => DataType::Int64,
        AttrType::Float => DataType::Float64,
        AttrType::String | AttrType::Artifact | AttrType::FileRef | AttrType::ExperimentState => {
            DataType::Utf8View
        }
        AttrType::StringSet => DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
        AttrType::Datetime => match source {
            DataType::Timestamp(unit, _) => DataType::Timestamp(*unit, Some("UTC".into())),
            other => other.clone(),
        },
        _ => source.clone(),
    }
}

/// Converts a column to the canonical type of `ty`; an error says what is wrong with a value.
pub(crate) fn canonical_array(ty: AttrType, array: &ArrayRef) -> Result<ArrayRef, String> {
    let target = canonical_type(ty, array.data_type());
    let source = match array.data_type() {
        // Dictionary-encoded strings are decoded first.
        DataType::Dictionary(_, value) => cast(array, value).map_err(|e| e.to_string())?,
        _ => array.clone(),
    };
    let converted = if source.data_type() == &target {
        source
    } else {
        cast(&source, &target).map_err(|e| e.to_string())?
    };
    Ok(match ty {
        AttrType::Float => canonical_floats(converted),
        AttrType::ExperimentState => canonical_states(&converted)?,
        _ => converted,
    })
}

/// Rewrites every NaN to the positive quiet NaN and -0.0 to 0.0 (see `series::canonical`), so
/// that all NaNs equal each other and sort above every number (spec 2).
fn canonical_floats(array: ArrayRef) -> ArrayRef {
    let floats = array.as_primitive::<Float64Type>();
    let needs = |v: &f64| v.is_nan() || (*v == 0.0 && v.is_sign_negative());
    if !floats.values().iter().any(needs) {
        return array;
    }
    let out: Float64Array = floats.unary(super::series::canonical);
    Arc::new(out)
}

/// States are stored as `active` / `inactive`; `running` and `idle` (any case) are aliases.
fn canonical_states(array: &ArrayRef) -> Result<ArrayRef, String> {
    let strings = array.as_string_view();
    let mut out = Vec::with_capacity(strings.len());
    for v in strings.iter() {
        out.push(match v {
            None => None,
            Some(s) => Some(
                ExperimentState::parse(s)
                    .ok_or_else(|| {
                        format!("`{s}` is not an experiment state (active, inactive, running or idle)")
                    })?
                    .name(),
            ),
        });
    }
    Ok(Arc::new(StringViewArray::from(out)))
}

/// An attribute stored as `here` in `file` but as `there` in the table's file `first`.
pub(crate) fn stored_two_ways(
    file: &Path,
    path: &str,
    here: &DataType,
    there: &DataType,
    first: &Path,
) -> LoadError {
    LoadError::Column {
        file: file.to_path_buf(),
        column: path.to_string(),
        problem: format!("stored as {here} here but as {there} in {}", first.display()),
    }
}

/// Puts the chunks of one table together: attributes in first-seen order, nulls where a
/// chunk lacks an attribute. Linear in the cells, however many chunks (a Neptune export
/// gives one per run).
pub(crate) fn assemble(
    mut chunks: Vec<ObjectChunk>,
) -> Result<(StringViewArray, Vec<AttributeColumn>), LoadError> {
    // For each attribute: path, type, Arrow type, the chunk it was first seen in, and the
    // chunks holding it with their arrays.
    type Seen = (String, AttrType, DataType, usize, Vec<(usize, ArrayRef)>);
    let mut order: Vec<Seen> = Vec::new();
    let mut position: HashMap<(String, AttrType), usize> = HashMap::new();
    for (c, chunk) in chunks.iter().enumerate() {
        for a in &chunk.attributes {
            let key = (a.path.clone(), a.ty);
            match position.get(&key) {
                Some(&i) if order[i].2 != *a.array.data_type() => {
                    return Err(stored_two_ways(
                        &chunk.file,
                        &a.path,
                        a.array.data_type(),
                        &order[i].2,
                        &chunks[order[i].3].file,
                    ));
                }
                Some(&i) => order[i].4.push((c, a.array.clone())),
                None => {
                    position.insert(key, order.len());
                    order.push((
                        a.path.clone(),
                        a.ty,
                        a.array.data_type().clone(),
                        c,
                        vec![(c, a.array.clone())],
                    ));
                }
            }
        }
    }
    let id_parts: Vec<&dyn Array> = chunks.iter().map(|c| &c.ids as &dyn Array).collect();
    let ids = concat(&id_parts).map_err(|e| LoadError::Column {
        file: chunks[0].file.clone(),
        column: ID_COLUMN.into(),
        problem: e.to_string(),
    })?;
    // From here each chunk's arrays live in `order` only, and each is freed once its column
    // is assembled: the objects are held about once, not twice.
    for chunk in &mut chunks {
        chunk.attributes.clear();
        chunk.ids = StringViewArray::from(Vec::<&str>::new());
    }
    let mut columns = Vec::with_capacity(order.len());
    for (path, ty, data_type, _, present) in order {
        // Runs of chunks without the attribute become one null array each.
        let mut parts: Vec<ArrayRef> = Vec::new();
        let mut next = 0;
        let mut missing = 0;
        let mut present = present.into_iter().peekable();
        while next < chunks.len() {
            match present.next_if(|(c, _)| *c == next) {
                Some((_, array)) => {
                    if missing > 0 {
                        parts.push(new_null_array(&data_type, missing));
                        missing = 0;
                    }
                    parts.push(array);
                }
                None => missing += chunks[next].rows,
            }
            next += 1;
        }
        if missing > 0 {
            parts.push(new_null_array(&data_type, missing));
        }
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        let array = concat(&refs).map_err(|e| LoadError::Column {
            file: chunks[0].file.clone(),
            column: path.clone(),
            problem: e.to_string(),
        })?;
        columns.push(AttributeColumn { path, ty, array });
    }
    Ok((ids.as_string_view().clone(), columns))
}
