//! CSV importer: an objects CSV (one row per run, model or model version) and long series CSVs
//! into [`ProjectBatches`] and so into the dataset layout.
//!
//! # Objects CSV
//!
//! One row per object, a header row naming the columns. The id column is `sys/id` (or
//! `run_id`, renamed to `sys/id`); ids must be non-empty and unique. Every other column is an
//! attribute; its type comes from, in order:
//!
//! 1. a `path:type` suffix in the header (`params/lr:string`, `dataset_version:artifact`,
//!    `sys/tags:stringSet`, `n:int`); any of the NQL types except `floatSeries` and
//!    `stringSeries` (which belong in a series CSV);
//! 2. the well-known `sys/` columns of the dataset spec (`sys/tags` is a stringSet,
//!    `sys/creation_time` a datetime, `sys/failed` a bool, `sys/size` an int,
//!    `sys/state` an experimentState, ...);
//! 3. the values: `int` if every non-empty cell is an integer, else `float` if every one is a
//!    number (`nan` and `inf` included, at least one finite), else `bool` if every one is
//!    `true`/`false` (any case), else `datetime` if every one is a date or instant, else
//!    `string`.
//!
//! Cells: an empty cell means the object does not have the attribute (for every type). Numbers,
//! bools and datetimes may have spaces around them. Datetimes are RFC 3339 / ISO 8601
//! (`2024-01-01T12:00:00Z`, `2024-01-01T12:00:00.5+09:00`, offsets `+09` and `+0900`), without
//! offset meaning UTC (`2024-01-01T12:00:00`, `2024-01-01 12:00:00`), or a date alone
//! (`2024-01-01`, midnight UTC). Declared bools also accept `1` and `0`. An experimentState is
//! `active`/`running` or `inactive`/`idle` in any case (written as `active`/`inactive`).
//!
//! **stringSet cells** hold their elements separated by [`CsvOptions::set_separator`], `|` by
//! default (`baseline|my tag|v2`): elements are trimmed, empty elements dropped, duplicates
//! kept once. Write a stringSet column as `tags:stringSet`, or `sys/tags` and
//! `sys/group_tags`, which are stringSets anyway.
//!
//! # Series CSV
//!
//! A long table, one row per point, with columns `sys/id` (or `run_id`), `path` (or
//! `metric_path`), `step` (optional: without it, steps count 0, 1, 2, ... per object and path
//! in file order), `value`, and optionally `timestamp` (a datetime as above or Unix seconds).
//! A path whose values are all numbers is a float series; any other path is a string series.
//! A path may say which it is with a suffix, `loss:floatSeries` or `logs/stdout:stringSeries`;
//! then a value that is not a number is an error instead of turning the path into a string
//! series. A float series point needs a value; a string series entry may be empty. Rows are
//! ordered by object, then path, then step in the output.
//!
//! Errors name the file, the line and the column ([`CsvError`]). The whole file is read into
//! memory.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use csv::StringRecord;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, ListBuilder, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use nql::AttrType;

use crate::ProjectBatches;
use crate::build::{series_schema, timestamp_type};
use crate::layout::{self, ID_COLUMN};

/// The default separator of stringSet elements in a cell.
pub const DEFAULT_SET_SEPARATOR: char = '|';

/// How CSV files are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// Field delimiter (default `,`).
    pub delimiter: u8,
    /// Separator of the elements of a stringSet cell (default `|`).
    pub set_separator: char,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            set_separator: DEFAULT_SET_SEPARATOR,
        }
    }
}

/// A CSV file that cannot be imported: every variant names the file, and the line and column
/// when there is one (lines count from 1, the header being line 1).
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The file could not be opened or read.
    #[error("cannot read {file}: {source}")]
    Io { file: PathBuf, source: std::io::Error },
    /// Not well-formed CSV (bad quoting, invalid UTF-8).
    #[error("{file}:{line}: {message}")]
    Malformed {
        file: PathBuf,
        line: u64,
        message: String,
    },
    /// The file has no header row.
    #[error("{file}: empty file, expected a header row")]
    NoHeader { file: PathBuf },
    /// A required column is missing.
    #[error("{file}: no `{column}` column")]
    MissingColumn { file: PathBuf, column: String },
    /// Two columns of the header (or two columns that become one attribute) have one name.
    #[error("{file}: column {second} `{column}` repeats column {first}")]
    DuplicateColumn {
        file: PathBuf,
        column: String,
        first: usize,
        second: usize,
    },
    /// A header cell that cannot be a column here.
    #[error("{file}: column {index} `{column}`: {message}")]
    BadHeader {
        file: PathBuf,
        column: String,
        index: usize,
        message: String,
    },
    /// A row with more or fewer fields than the header.
    #[error("{file}:{line}: {found} fields, but the header has {expected}")]
    RowLength {
        file: PathBuf,
        line: u64,
        expected: usize,
        found: usize,
    },
    /// A cell that must not be empty is.
    #[error("{file}:{line}: column `{column}`: empty, but a value is required")]
    MissingValue {
        file: PathBuf,
        line: u64,
        column: String,
    },
    /// An object id seen before.
    #[error("{file}:{line}: duplicate id `{id}` (first on line {first_line})")]
    DuplicateId {
        file: PathBuf,
        line: u64,
        id: String,
        first_line: u64,
    },
    /// A cell that cannot be read as its column's type.
    #[error("{file}:{line}: column `{column}`: cannot read {value:?} as {expected}")]
    BadValue {
        file: PathBuf,
        line: u64,
        column: String,
        value: String,
        expected: String,
    },
    /// A series point whose object is not in the objects table.
    #[error("{file}:{line}: `{id}` names no object of the project")]
    UnknownObject { file: PathBuf, line: u64, id: String },
}

/// A CSV file read as text, before typing: its header and its rows with their line numbers.
/// Mapping layers (like [`super::mlperf`]) rename, drop and compute columns here.
#[derive(Clone, Debug)]
pub struct RawTable {
    /// The file name used in error messages.
    pub file: PathBuf,
    /// Column names, trimmed.
    pub headers: Vec<String>,
    /// Data rows, each as long as `headers`.
    pub rows: Vec<RawRow>,
}

/// One data row of a [`RawTable`].
#[derive(Clone, Debug)]
pub struct RawRow {
    /// The line the row starts on.
    pub line: u64,
    /// The cells, one per header column.
    pub cells: StringRecord,
}

/// A row seen through its column names, for [`RawTable::add_column`].
#[derive(Debug)]
pub struct RowView<'a> {
    index: &'a HashMap<String, usize>,
    cells: &'a StringRecord,
}

impl RowView<'_> {
    /// The cell of `column`, `""` when empty or when there is no such column.
    pub fn get(&self, column: &str) -> &str {
        self.index
            .get(column)
            .and_then(|&i| self.cells.get(i))
            .unwrap_or("")
    }
}

impl RawTable {
    /// Reads a CSV file.
    pub fn read(path: impl AsRef<Path>, options: &CsvOptions) -> Result<RawTable, CsvError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| CsvError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        RawTable::from_reader(file, path, options)
    }

    /// Reads CSV text from `reader`; `file` names it in errors.
    pub fn from_reader(
        reader: impl Read,
        file: impl Into<PathBuf>,
        options: &CsvOptions,
    ) -> Result<RawTable, CsvError> {
        let file = file.into();
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(options.delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(reader);
        let malformed = |file: &PathBuf, e: csv::Error| {
            let line = e.position().map_or(0, |p| p.line());
            let message = e.to_string();
            match e.into_kind() {
                csv::ErrorKind::Io(source) => CsvError::Io {
                    file: file.clone(),
                    source,
                },
                _ => CsvError::Malformed {
                    file: file.clone(),
                    line,
                    message,
                },
            }
        };
        let mut records = reader.records();
        let headers: Vec<String> = match records.next() {
            None => return Err(CsvError::NoHeader { file }),
            Some(Err(e)) => return Err(malformed(&file, e)),
            Some(Ok(header)) => header
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let h = if i == 0 {
                        h.trim_start_matches('\u{feff}')
                    } else {
                        h
                    };
                    h.trim().to_string()
                })
                .collect(),
        };
        if headers.iter().all(String::is_empty) {
            return Err(CsvError::NoHeader { file });
        }
        for (i, h) in headers.iter().enumerate() {
            if h.is_empty() {
                return Err(CsvError::BadHeader {
                    file,
                    column: String::new(),
                    index: i + 1,
                    message: "empty column name".into(),
                });
            }
            if let Some(first) = headers[..i].iter().position(|x| x == h) {
                return Err(CsvError::DuplicateColumn {
                    file,
                    column: h.clone(),
                    first: first + 1,
                    second: i + 1,
                });
            }
        }
        let mut rows = Vec::new();
        for record in records {
            let cells = record.map_err(|e| malformed(&file, e))?;
            let line = cells.position().map_or(0, |p| p.line());
            if cells.len() != headers.len() {
                return Err(CsvError::RowLength {
                    file,
                    line,
                    expected: headers.len(),
                    found: cells.len(),
                });
            }
            rows.push(RawRow { line, cells });
        }
        Ok(RawTable { file, headers, rows })
    }

    /// The index of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// Renames a column; false when there is no such column.
    pub fn rename_column(&mut self, from: &str, to: &str) -> bool {
        match self.column(from) {
            Some(i) => {
                self.headers[i] = to.to_string();
                true
            }
            None => false,
        }
    }

    /// Removes a column; false when there is no such column.
    pub fn remove_column(&mut self, name: &str) -> bool {
        let Some(i) = self.column(name) else { return false };
        self.headers.remove(i);
        for row in &mut self.rows {
            let mut cells = StringRecord::with_capacity(row.cells.as_slice().len(), self.headers.len());
            for (j, cell) in row.cells.iter().enumerate() {
                if j != i {
                    cells.push_field(cell);
                }
            }
            cells.set_position(row.cells.position().cloned());
            row.cells = cells;
        }
        true
    }

    /// Appends a column computed from each row (an empty string is an empty cell).
    pub fn add_column(&mut self, name: &str, mut value: impl FnMut(&RowView<'_>) -> String) {
        let index: HashMap<String, usize> = self
            .headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.clone(), i))
            .collect();
        for row in &mut self.rows {
            let v = value(&RowView {
                index: &index,
                cells: &row.cells,
            });
            row.cells.push_field(&v);
        }
        self.headers.push(name.to_string());
    }

    fn cells(&self, col: usize) -> impl Iterator<Item = (u64, &str)> + '_ {
        self.rows
            .iter()
            .map(move |r| (r.line, r.cells.get(col).unwrap_or("")))
    }

    fn id_column(&self) -> Result<usize, CsvError> {
        self.column(ID_COLUMN)
            .or_else(|| self.column("run_id"))
            .ok_or_else(|| CsvError::MissingColumn {
                file: self.file.clone(),
                column: ID_COLUMN.into(),
            })
    }

    /// Types the table as an objects table (see the module docs): `sys/id` first, then one
    /// column per attribute in file order.
    pub fn to_objects(&self, options: &CsvOptions) -> Result<RecordBatch, CsvError> {
        let id_col = self.id_column()?;
        let mut seen: HashMap<&str, u64> = HashMap::with_capacity(self.rows.len());
        let mut ids = Vec::with_capacity(self.rows.len());
        for (line, cell) in self.cells(id_col) {
            let id = cell.trim();
            if id.is_empty() {
                return Err(CsvError::MissingValue {
                    file: self.file.clone(),
                    line,
                    column: self.headers[id_col].clone(),
                });
            }
            if let Some(&first_line) = seen.get(id) {
                return Err(CsvError::DuplicateId {
                    file: self.file.clone(),
                    line,
                    id: id.into(),
                    first_line,
                });
            }
            seen.insert(id, line);
            ids.push(id);
        }
        let mut fields = vec![Field::new(
            ID_COLUMN,
            datafusion::arrow::datatypes::DataType::Utf8,
            false,
        )];
        let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(ids))];
        let mut names: HashMap<(&str, AttrType), usize> = HashMap::new();
        for (col, header) in self.headers.iter().enumerate() {
            if col == id_col {
                continue;
            }
            let (path, suffix) = layout::split_column_name(header);
            let ty = match suffix {
                Some(AttrType::FloatSeries | AttrType::StringSeries) => {
                    return Err(CsvError::BadHeader {
                        file: self.file.clone(),
                        column: header.clone(),
                        index: col + 1,
                        message: "series belong in a series CSV (sys/id, path, step, value)".into(),
                    });
                }
                Some(ty) => ty,
                None => match well_known_type(path) {
                    Some(ty) => ty,
                    None => infer_type(self.cells(col).map(|(_, c)| c)),
                },
            };
            let array = self.typed_column(col, ty, suffix.is_some(), options)?;
            // A declared suffix stays as written (`params/lr:string` next to `params/lr`).
            let name = match suffix {
                Some(_) => header.clone(),
                None => layout::column_name(path, ty, layout::natural_type(array.data_type())),
            };
            if let Some(&first) = names.get(&(path, ty)) {
                return Err(CsvError::DuplicateColumn {
                    file: self.file.clone(),
                    column: name,
                    first,
                    second: col + 1,
                });
            }
            names.insert((path, ty), col + 1);
            fields.push(Field::new(name, array.data_type().clone(), true));
            columns.push(array);
        }
        let batch =
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns have one length");
        Ok(batch)
    }

    fn typed_column(
        &self,
        col: usize,
        ty: AttrType,
        declared: bool,
        options: &CsvOptions,
    ) -> Result<ArrayRef, CsvError> {
        let bad = |line: u64, value: &str| CsvError::BadValue {
            file: self.file.clone(),
            line,
            column: self.headers[col].clone(),
            value: value.to_string(),
            expected: ty.to_string(),
        };
        let cells = self
            .cells(col)
            .map(|(line, c)| (line, (!c.is_empty()).then_some(c)));
        Ok(match ty {
            AttrType::Int => {
                let values = cells
                    .map(|(line, c)| c.map(|c| parse_int(c).ok_or_else(|| bad(line, c))).transpose())
                    .collect::<Result<Int64Array, _>>()?;
                Arc::new(values)
            }
            AttrType::Float => {
                let values = cells
                    .map(|(line, c)| c.map(|c| parse_float(c).ok_or_else(|| bad(line, c))).transpose())
                    .collect::<Result<Float64Array, _>>()?;
                Arc::new(values)
            }
            AttrType::Bool => {
                let values = cells
                    .map(|(line, c)| {
                        c.map(|c| parse_bool(c, declared).ok_or_else(|| bad(line, c)))
                            .transpose()
                    })
                    .collect::<Result<BooleanArray, _>>()?;
                Arc::new(values)
            }
            AttrType::Datetime => {
                let values = cells
                    .map(|(line, c)| {
                        c.map(|c| parse_datetime(c).ok_or_else(|| bad(line, c)))
                            .transpose()
                    })
                    .collect::<Result<TimestampMicrosecondArray, _>>()?;
                Arc::new(values.with_timezone("UTC"))
            }
            AttrType::ExperimentState => {
                let values = cells
                    .map(|(line, c)| c.map(|c| parse_state(c).ok_or_else(|| bad(line, c))).transpose())
                    .collect::<Result<StringArray, _>>()?;
                Arc::new(values)
            }
            AttrType::StringSet => {
                let mut builder = ListBuilder::new(StringBuilder::new());
                for (_, cell) in cells {
                    let Some(cell) = cell else {
                        builder.append(false);
                        continue;
                    };
                    let mut items: Vec<&str> = Vec::new();
                    for item in cell.split(options.set_separator).map(str::trim) {
                        if !item.is_empty() && !items.contains(&item) {
                            items.push(item);
                        }
                    }
                    for item in items {
                        builder.values().append_value(item);
                    }
                    builder.append(true);
                }
                Arc::new(builder.finish())
            }
            // string, artifact, fileRef; file and histogram series only record presence.
            _ => Arc::new(cells.map(|(_, c)| c).collect::<StringArray>()),
        })
    }

    /// Types the table as a series table (see the module docs). With `objects`, a point whose
    /// id is not among them is an error, and rows are ordered by the objects' order.
    pub fn to_series(&self, objects: Option<&[String]>) -> Result<SeriesBatches, CsvError> {
        let file = &self.file;
        let find = |names: &[&str]| names.iter().find_map(|n| self.column(n));
        let required = |names: &[&str]| {
            find(names).ok_or_else(|| CsvError::MissingColumn {
                file: file.clone(),
                column: names[0].into(),
            })
        };
        let id_col = required(&[ID_COLUMN, "run_id"])?;
        let path_col = required(&["path", "metric_path"])?;
        let value_col = required(&["value"])?;
        let step_col = find(&["step"]);
        let ts_col = find(&["timestamp"]);
        for (i, h) in self.headers.iter().enumerate() {
            if ![Some(id_col), Some(path_col), Some(value_col), step_col, ts_col].contains(&Some(i)) {
                return Err(CsvError::BadHeader {
                    file: file.clone(),
                    column: h.clone(),
                    index: i + 1,
                    message: "unexpected column: a series CSV has sys/id, path, step, value and timestamp"
                        .into(),
                });
            }
        }
        let column = |i: usize| self.headers[i].clone();

        // Objects: their order, and which exist.
        let mut object_order: HashMap<&str, usize> = HashMap::new();
        if let Some(objects) = objects {
            for (i, id) in objects.iter().enumerate() {
                object_order.insert(id.as_str(), i);
            }
        }

        // Pass 1: paths, their kinds; ids checked.
        struct PathInfo {
            path: String,
            declared: Option<bool>,
            numeric: bool,
            float: bool,
        }
        let mut paths: Vec<PathInfo> = Vec::new();
        let mut path_index: HashMap<&str, usize> = HashMap::new();
        let mut row_path: Vec<usize> = Vec::with_capacity(self.rows.len());
        let mut row_object: Vec<usize> = Vec::with_capacity(self.rows.len());
        for row in &self.rows {
            let id = row.cells.get(id_col).unwrap_or("").trim();
            if id.is_empty() {
                return Err(CsvError::MissingValue {
                    file: file.clone(),
                    line: row.line,
                    column: column(id_col),
                });
            }
            let next = object_order.len();
            let object = match object_order.get(id) {
                Some(&o) => o,
                None if objects.is_some() => {
                    return Err(CsvError::UnknownObject {
                        file: file.clone(),
                        line: row.line,
                        id: id.into(),
                    });
                }
                None => {
                    object_order.insert(id, next);
                    next
                }
            };
            row_object.push(object);
            let raw = row.cells.get(path_col).unwrap_or("").trim();
            let p = match path_index.get(raw) {
                Some(&p) => p,
                None => {
                    if raw.is_empty() {
                        return Err(CsvError::MissingValue {
                            file: file.clone(),
                            line: row.line,
                            column: column(path_col),
                        });
                    }
                    let (path, suffix) = layout::split_column_name(raw);
                    let declared = match suffix {
                        None => None,
                        Some(AttrType::FloatSeries) => Some(true),
                        Some(AttrType::StringSeries) => Some(false),
                        Some(other) => {
                            return Err(CsvError::BadValue {
                                file: file.clone(),
                                line: row.line,
                                column: column(path_col),
                                value: raw.into(),
                                expected: format!(
                                    "a series path (its suffix may be floatSeries or stringSeries, not {other})"
                                ),
                            });
                        }
                    };
                    paths.push(PathInfo {
                        path: path.to_string(),
                        declared,
                        numeric: true,
                        float: false,
                    });
                    path_index.insert(raw, paths.len() - 1);
                    paths.len() - 1
                }
            };
            row_path.push(p);
            let info = &mut paths[p];
            if info.declared.is_none() && info.numeric {
                let value = row.cells.get(value_col).unwrap_or("");
                if !value.trim().is_empty() && parse_float(value).is_none() {
                    info.numeric = false;
                }
            }
        }
        for info in &mut paths {
            info.float = info.declared.unwrap_or(info.numeric);
        }

        // Pass 2: typed values, steps, timestamps.
        let mut steps = Vec::with_capacity(self.rows.len());
        let mut counters: HashMap<(usize, usize), f64> = HashMap::new();
        let mut timestamps: Vec<Option<i64>> = Vec::new();
        let mut floats: Vec<f64> = vec![0.0; self.rows.len()];
        for (r, row) in self.rows.iter().enumerate() {
            let step = match step_col {
                Some(c) => {
                    let cell = row.cells.get(c).unwrap_or("");
                    if cell.trim().is_empty() {
                        return Err(CsvError::MissingValue {
                            file: file.clone(),
                            line: row.line,
                            column: column(c),
                        });
                    }
                    parse_float(cell)
                        .filter(|s| s.is_finite())
                        .ok_or_else(|| CsvError::BadValue {
                            file: file.clone(),
                            line: row.line,
                            column: column(c),
                            value: cell.into(),
                            expected: "a step (a finite number)".into(),
                        })?
                }
                None => {
                    let counter = counters.entry((row_object[r], row_path[r])).or_insert(0.0);
                    *counter += 1.0;
                    *counter - 1.0
                }
            };
            steps.push(step);
            if let Some(c) = ts_col {
                let cell = row.cells.get(c).unwrap_or("");
                let ts = if cell.trim().is_empty() {
                    None
                } else {
                    Some(parse_timestamp(cell).ok_or_else(|| CsvError::BadValue {
                        file: file.clone(),
                        line: row.line,
                        column: column(c),
                        value: cell.into(),
                        expected: "a datetime or Unix seconds".into(),
                    })?)
                };
                timestamps.push(ts);
            }
            if paths[row_path[r]].float {
                let cell = row.cells.get(value_col).unwrap_or("");
                if cell.trim().is_empty() {
                    return Err(CsvError::MissingValue {
                        file: file.clone(),
                        line: row.line,
                        column: column(value_col),
                    });
                }
                floats[r] = parse_float(cell).ok_or_else(|| CsvError::BadValue {
                    file: file.clone(),
                    line: row.line,
                    column: column(value_col),
                    value: cell.into(),
                    expected: "float (the path is a floatSeries)".into(),
                })?;
            }
        }

        // Order: object, path, step, then file order.
        let mut path_rank = vec![0usize; paths.len()];
        let mut by_name: Vec<usize> = (0..paths.len()).collect();
        by_name.sort_by(|&a, &b| {
            paths[a]
                .path
                .cmp(&paths[b].path)
                .then(paths[a].float.cmp(&paths[b].float))
        });
        for (rank, &p) in by_name.iter().enumerate() {
            path_rank[p] = rank;
        }
        let mut order: Vec<usize> = (0..self.rows.len()).collect();
        order.sort_by(|&a, &b| {
            (row_object[a], path_rank[row_path[a]])
                .cmp(&(row_object[b], path_rank[row_path[b]]))
                .then(steps[a].total_cmp(&steps[b]))
                .then(a.cmp(&b))
        });

        let with_ts = ts_col.is_some();
        let build = |float: bool| -> Option<RecordBatch> {
            let rows: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&r| paths[row_path[r]].float == float)
                .collect();
            if rows.is_empty() {
                return None;
            }
            let ids: StringArray = rows
                .iter()
                .map(|&r| self.rows[r].cells.get(id_col).map(str::trim))
                .collect();
            let path: StringArray = rows
                .iter()
                .map(|&r| Some(paths[row_path[r]].path.as_str()))
                .collect();
            let step: Float64Array = rows.iter().map(|&r| Some(steps[r])).collect();
            let value: ArrayRef = if float {
                Arc::new(rows.iter().map(|&r| Some(floats[r])).collect::<Float64Array>())
            } else {
                Arc::new(
                    rows.iter()
                        .map(|&r| self.rows[r].cells.get(value_col))
                        .collect::<StringArray>(),
                )
            };
            let mut columns: Vec<ArrayRef> = vec![Arc::new(ids), Arc::new(path), Arc::new(step), value];
            if with_ts {
                let ts: TimestampMicrosecondArray = rows.iter().map(|&r| timestamps[r]).collect();
                columns.push(Arc::new(ts.with_timezone("UTC")));
            }
            Some(RecordBatch::try_new(series_schema(float, with_ts), columns).expect("series schema"))
        };
        Ok(SeriesBatches {
            float: build(true),
            string: build(false),
        })
    }
}

/// The two series tables a series CSV gives.
#[derive(Clone, Debug, Default)]
pub struct SeriesBatches {
    /// Points of float series (absent when the file has none).
    pub float: Option<RecordBatch>,
    /// Entries of string series (absent when the file has none).
    pub string: Option<RecordBatch>,
}

/// Reads an objects CSV (see the module docs) into one record batch.
pub fn read_objects(path: impl AsRef<Path>, options: &CsvOptions) -> Result<RecordBatch, CsvError> {
    RawTable::read(path, options)?.to_objects(options)
}

/// Reads a series CSV (see the module docs) without checking its ids.
pub fn read_series(path: impl AsRef<Path>, options: &CsvOptions) -> Result<SeriesBatches, CsvError> {
    RawTable::read(path, options)?.to_series(None)
}

/// Imports a project of runs: a runs CSV and any number of series CSVs, whose points must all
/// belong to runs of the runs CSV.
pub fn import_runs(
    runs: impl AsRef<Path>,
    series: impl IntoIterator<Item = impl AsRef<Path>>,
    options: &CsvOptions,
) -> Result<ProjectBatches, CsvError> {
    let runs = RawTable::read(runs, options)?;
    let series = series
        .into_iter()
        .map(|path| RawTable::read(path, options))
        .collect::<Result<Vec<_>, _>>()?;
    import_tables(&runs, &series, options)
}

/// [`import_runs`] on tables already read (and perhaps mapped).
pub fn import_tables(
    runs: &RawTable,
    series: &[RawTable],
    options: &CsvOptions,
) -> Result<ProjectBatches, CsvError> {
    let runs = runs.to_objects(options)?;
    let ids: Vec<String> = {
        let column = runs
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("sys/id is Utf8");
        column
            .iter()
            .map(|id| id.unwrap_or_default().to_string())
            .collect()
    };
    let mut project = ProjectBatches {
        runs: vec![runs],
        ..Default::default()
    };
    for table in series {
        let batches = table.to_series(Some(&ids))?;
        project.float_series.extend(batches.float);
        project.string_series.extend(batches.string);
    }
    // Files with and without timestamps: give every batch the column.
    for batches in [&mut project.float_series, &mut project.string_series] {
        if batches.iter().any(|b| b.num_columns() == 5) {
            for batch in batches.iter_mut().filter(|b| b.num_columns() == 4) {
                let mut columns = batch.columns().to_vec();
                columns.push(datafusion::arrow::array::new_null_array(
                    &timestamp_type(),
                    batch.num_rows(),
                ));
                let float = batch.column(3).data_type() == &datafusion::arrow::datatypes::DataType::Float64;
                *batch = RecordBatch::try_new(series_schema(float, true), columns).expect("series schema");
            }
        }
    }
    Ok(project)
}

/// The type of a well-known `sys/` attribute (dataset spec), if `path` is one.
pub fn well_known_type(path: &str) -> Option<AttrType> {
    Some(match path {
        "sys/name" | "sys/owner" | "sys/description" | "sys/custom_run_id" | "sys/model_id" | "sys/stage" => {
            AttrType::String
        }
        "sys/tags" | "sys/group_tags" => AttrType::StringSet,
        "sys/creation_time" | "sys/modification_time" | "sys/ping_time" => AttrType::Datetime,
        "sys/failed" | "sys/trashed" => AttrType::Bool,
        "sys/size" => AttrType::Int,
        "sys/state" => AttrType::ExperimentState,
        _ => return None,
    })
}

/// The type the non-empty cells of a column share (see the module docs).
pub fn infer_type<'a>(cells: impl IntoIterator<Item = &'a str>) -> AttrType {
    let (mut any, mut int, mut float, mut finite, mut bool, mut datetime) =
        (false, true, true, false, true, true);
    for cell in cells {
        if cell.trim().is_empty() {
            continue;
        }
        any = true;
        int = int && parse_int(cell).is_some();
        let number = parse_float(cell);
        match number {
            Some(x) => finite |= x.is_finite(),
            None => float = false,
        }
        bool = bool && parse_bool(cell, false).is_some();
        datetime = datetime && number.is_none() && parse_datetime(cell).is_some();
        if !int && !float && !bool && !datetime {
            return AttrType::String;
        }
    }
    match () {
        _ if !any => AttrType::String,
        _ if int => AttrType::Int,
        _ if float && finite => AttrType::Float,
        _ if bool => AttrType::Bool,
        _ if datetime => AttrType::Datetime,
        _ => AttrType::String,
    }
}

fn parse_int(s: &str) -> Option<i64> {
    s.trim().parse().ok()
}

fn parse_float(s: &str) -> Option<f64> {
    s.trim().parse().ok()
}

fn parse_bool(s: &str, numeric: bool) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("true") || (numeric && s == "1") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") || (numeric && s == "0") {
        Some(false)
    } else {
        None
    }
}

fn parse_state(s: &str) -> Option<&'static str> {
    let s = s.trim().to_ascii_lowercase();
    match s.as_str() {
        "active" | "running" => Some("active"),
        "inactive" | "idle" => Some("inactive"),
        _ => None,
    }
}

/// Microseconds since the epoch of an RFC 3339 / ISO 8601 instant or date (no offset: UTC).
pub fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() < 10 || !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.timestamp_micros());
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
}

/// A datetime, or a number of Unix seconds.
fn parse_timestamp(s: &str) -> Option<i64> {
    parse_datetime(s).or_else(|| {
        parse_float(s)
            .filter(|x| x.is_finite())
            .map(|x| (x * 1e6).round() as i64)
    })
}
