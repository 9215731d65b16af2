//! Writing a foreign source (a Neptune export, an MLflow store) as a project in the native
//! layout (docs/dataset.md), for those who want plain Parquet tables that pandas, Polars or
//! DuckDB read directly: `runs.parquet` (and `models.parquet`, `model_versions.parquet`),
//! and the points in `float_series/` and `string_series/`, written as the source is read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringViewArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datasets::layout::{
    ID_COLUMN, ObjectKind, PATH_COLUMN, STEP_COLUMN, SeriesKind, TIMESTAMP_COLUMN, VALUE_COLUMN, column_name,
    natural_type,
};
use datasets::write::{TableWriter, WriteOptions, prepare_dir};

use crate::error::LoadError;
use crate::index::Project;
use crate::load::objects::{self, AttributeColumn, ObjectChunk};
use crate::load::{LoadOptions, Progress, guarded};

/// What [`crate::Engine::convert`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConvertReport {
    /// Objects written, by table.
    pub objects: Vec<(String, usize)>,
    pub float_points: u64,
    pub string_entries: u64,
    /// Every file written.
    pub files: Vec<PathBuf>,
    /// What the native layout cannot hold and was left out.
    pub left_out: Vec<String>,
}

/// Points per written series file.
const POINTS_PER_FILE: usize = 4 << 20;

/// The points of one series table, written in parts of [`POINTS_PER_FILE`].
struct SeriesOut {
    kind: SeriesKind,
    dir: PathBuf,
    schema: SchemaRef,
    writer: Option<TableWriter>,
    in_file: usize,
    parts: usize,
    written: u64,
    files: Vec<PathBuf>,
}

impl SeriesOut {
    fn new(out: &Path, kind: SeriesKind) -> SeriesOut {
        let value = match kind {
            SeriesKind::Float => DataType::Float64,
            SeriesKind::String => DataType::Utf8,
        };
        SeriesOut {
            kind,
            dir: out.join(kind.table_name()),
            schema: Arc::new(Schema::new(vec![
                Field::new(ID_COLUMN, DataType::Utf8, false),
                Field::new(PATH_COLUMN, DataType::Utf8, false),
                Field::new(STEP_COLUMN, DataType::Float64, false),
                Field::new(VALUE_COLUMN, value, true),
                Field::new(
                    TIMESTAMP_COLUMN,
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    true,
                ),
            ])),
            writer: None,
            in_file: 0,
            parts: 0,
            written: 0,
            files: Vec::new(),
        }
    }

    /// Appends points given in the source interface's shape (docs in `crate::source`).
    fn write(&mut self, batch: &RecordBatch, options: &WriteOptions) -> Result<(), LoadError> {
        let columns = self
            .schema
            .fields()
            .iter()
            .map(|f| {
                let column = batch.column_by_name(f.name()).map(Arc::clone).unwrap_or_else(|| {
                    datafusion::arrow::array::new_null_array(f.data_type(), batch.num_rows())
                });
                cast(&column, f.data_type()).map_err(|e| self.error(e))
            })
            .collect::<Result<Vec<ArrayRef>, LoadError>>()?;
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(|e| self.error(e))?;
        if self.writer.is_none() || self.in_file >= POINTS_PER_FILE {
            self.finish_file()?;
            std::fs::create_dir_all(&self.dir).map_err(|e| self.error(e))?;
            let path = self.dir.join(format!("part-{:05}.parquet", self.parts));
            self.parts += 1;
            self.writer = Some(
                TableWriter::create(&path, self.kind.table_name(), Arc::clone(&self.schema), options)
                    .map_err(|e| self.error(e))?,
            );
        }
        let writer = self.writer.as_mut().expect("just made");
        writer.write(&batch).map_err(|e| LoadError::Source {
            path: self.dir.clone(),
            problem: format!("cannot write: {e}"),
        })?;
        self.in_file += batch.num_rows();
        self.written += batch.num_rows() as u64;
        Ok(())
    }

    fn finish_file(&mut self) -> Result<(), LoadError> {
        if let Some(writer) = self.writer.take() {
            let path = writer.finish().map_err(|e| self.error(e))?;
            self.files.push(path);
        }
        self.in_file = 0;
        Ok(())
    }

    fn error(&self, e: impl std::fmt::Display) -> LoadError {
        LoadError::Source {
            path: self.dir.clone(),
            problem: format!("cannot write: {e}"),
        }
    }
}

/// Writes the foreign source at `path` into `out` in the native layout.
pub(crate) fn convert(path: &Path, out: &Path, options: &LoadOptions) -> Result<ConvertReport, LoadError> {
    let source = match Project::detect(path, options)? {
        Project::Foreign { source, .. } => source,
        Project::Native(_) => {
            return Err(LoadError::Choice(format!(
                "{} is a project in the native layout already: there is nothing to convert",
                path.display()
            )));
        }
    };
    write_native(source.as_ref(), out, options)
}

/// Writes `source` into `out` in the native layout.
pub(crate) fn write_native(
    source: &dyn crate::source::Source,
    out: &Path,
    options: &LoadOptions,
) -> Result<ConvertReport, LoadError> {
    prepare_dir(out).map_err(|e| LoadError::Source {
        path: out.to_path_buf(),
        problem: e.to_string(),
    })?;
    let write = WriteOptions::default();
    let mut floats = SeriesOut::new(out, SeriesKind::Float);
    let mut strings = SeriesOut::new(out, SeriesKind::String);
    let mut tables: HashMap<ObjectKind, Vec<ObjectChunk>> = HashMap::new();
    let mut report = ConvertReport::default();
    let mut left_out: Vec<ObjectKind> = Vec::new();
    let units = source.units()?;
    let progress = Progress::new("units", units.len());
    for unit in &units {
        let file = unit
            .files
            .first()
            .cloned()
            .unwrap_or_else(|| PathBuf::from(&unit.label));
        let data = guarded(&file, || source.read(unit))?;
        for w in &data.warnings {
            options.warn(w);
        }
        for (kind, batch) in &data.objects {
            if ObjectKind::NATIVE.contains(kind) {
                tables
                    .entry(*kind)
                    .or_default()
                    .push(objects::normalize(&file, batch)?);
            } else if !left_out.contains(kind) {
                left_out.push(*kind);
            }
        }
        for (kind, batch) in &data.float_points {
            if ObjectKind::NATIVE.contains(kind) {
                floats.write(batch, &write)?;
            }
        }
        for (kind, batch) in &data.string_points {
            if ObjectKind::NATIVE.contains(kind) {
                strings.write(batch, &write)?;
            }
        }
        progress.advance(options);
    }
    floats.finish_file()?;
    strings.finish_file()?;
    for kind in left_out {
        report.left_out.push(format!(
            "the {} table (the native layout has runs, models and model versions; an experiment's head run is among the runs, with its own points only)",
            kind.table_name()
        ));
    }
    for kind in ObjectKind::NATIVE {
        let Some(chunks) = tables.remove(&kind) else {
            continue;
        };
        let (ids, attributes) = objects::assemble(chunks)?;
        let rows = ids.len();
        let batch = native_batch(out, &ids, &attributes)?;
        let path = out.join(format!("{}.parquet", kind.table_name()));
        let error = |e: datasets::WriteError| LoadError::Source {
            path: path.clone(),
            problem: format!("cannot write: {e}"),
        };
        let mut writer =
            TableWriter::create(&path, kind.table_name(), batch.schema(), &write).map_err(error)?;
        writer.write(&batch).map_err(error)?;
        report.files.push(writer.finish().map_err(error)?);
        report.objects.push((kind.table_name().to_string(), rows));
    }
    report.float_points = floats.written;
    report.string_entries = strings.written;
    report.files.extend(floats.files);
    report.files.extend(strings.files);
    Ok(report)
}

/// An object table as a native object file holds it: `sys/id`, then a column per attribute,
/// named by its path (with a type suffix where the path has several types or Arrow cannot
/// tell the type), strings as Utf8. `out` names the output in errors.
pub(crate) fn native_batch(
    out: &Path,
    ids: &StringViewArray,
    attributes: &[AttributeColumn],
) -> Result<RecordBatch, LoadError> {
    let mut per_path: HashMap<&str, usize> = HashMap::new();
    for a in attributes {
        *per_path.entry(a.path.as_str()).or_default() += 1;
    }
    let problem = |e: datafusion::arrow::error::ArrowError| LoadError::Source {
        path: out.to_path_buf(),
        problem: e.to_string(),
    };
    let mut fields = vec![Field::new(ID_COLUMN, DataType::Utf8, false)];
    let mut columns: Vec<ArrayRef> = vec![cast(ids, &DataType::Utf8).map_err(problem)?];
    for a in attributes {
        // Strings as Utf8 and sets as lists of Utf8, as most writers do.
        let array = match a.array.data_type() {
            DataType::Utf8View => cast(&a.array, &DataType::Utf8).map_err(problem)?,
            _ => Arc::clone(&a.array),
        };
        let name = if per_path[a.path.as_str()] == 1 {
            column_name(&a.path, a.ty, natural_type(array.data_type()))
        } else {
            format!("{}:{}", a.path, a.ty)
        };
        fields.push(Field::new(name, array.data_type().clone(), true));
        columns.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(problem)
}
