//! Writing a project to the dataset layout (`runs.parquet`, `float_series.parquet`, ...) with
//! Parquet's `ArrowWriter`.
//!
//! Series tables get encodings that suit them: no dictionary and byte-stream-split for float
//! values, delta encoding for timestamps; ids, paths and steps keep Parquet's default
//! dictionary encoding, which folds the long runs of equal ids and paths.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression as ParquetCompression, Encoding, ZstdLevel};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;

use crate::layout::{STEP_COLUMN, TIMESTAMP_COLUMN, VALUE_COLUMN};
use crate::{ProjectBatches, TABLE_NAMES};

/// Why a project could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The directory could not be created.
    #[error("cannot create directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    /// The directory already holds this table (as `NAME.parquet` or `NAME/`); writing would mix
    /// two projects.
    #[error("{path} already exists: write the project into a directory that holds no project tables")]
    TableExists { path: PathBuf },
    /// A file could not be created.
    #[error("cannot create {path}: {source}")]
    CreateFile { path: PathBuf, source: std::io::Error },
    /// Parquet encoding or I/O failed.
    #[error("cannot write {path}: {source}")]
    Parquet { path: PathBuf, source: ParquetError },
    /// The batches of one table do not share one schema.
    #[error("table {table}: batch {index} has a different schema from the first batch")]
    SchemaMismatch { table: String, index: usize },
}

/// Parquet compression codec for written files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Zstandard at the given level, 1 to 22 (1 is fast, the default; invalid levels mean 1).
    Zstd(i32),
    /// Snappy: fastest, larger files.
    Snappy,
    /// No compression.
    None,
}

/// How tables are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    /// Compression codec of every column.
    pub compression: Compression,
    /// Largest number of rows in one Parquet row group.
    pub row_group_rows: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            compression: Compression::Zstd(1),
            row_group_rows: 1 << 20,
        }
    }
}

impl WriteOptions {
    /// Writer properties for a table (`runs`, `float_series`, ...).
    pub fn writer_properties(&self, table: &str) -> WriterProperties {
        let compression = match self.compression {
            Compression::Zstd(level) => {
                ParquetCompression::ZSTD(ZstdLevel::try_new(level).unwrap_or_default())
            }
            Compression::Snappy => ParquetCompression::SNAPPY,
            Compression::None => ParquetCompression::UNCOMPRESSED,
        };
        let mut props = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(self.row_group_rows.max(1)));
        if table == "float_series" || table == "string_series" {
            let ts = ColumnPath::from(TIMESTAMP_COLUMN);
            props = props
                .set_column_dictionary_enabled(ts.clone(), false)
                .set_column_encoding(ts, Encoding::DELTA_BINARY_PACKED)
                .set_column_dictionary_enabled(ColumnPath::from(STEP_COLUMN), true);
        }
        if table == "float_series" {
            let value = ColumnPath::from(VALUE_COLUMN);
            props = props
                .set_column_dictionary_enabled(value.clone(), false)
                .set_column_encoding(value, Encoding::BYTE_STREAM_SPLIT);
        }
        props.build()
    }
}

/// One Parquet file being written batch by batch: memory stays at one row group.
pub struct TableWriter {
    path: PathBuf,
    writer: ArrowWriter<BufWriter<File>>,
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TableWriter {
    /// Creates `path` for a table (`table` picks the column encodings, see
    /// [`WriteOptions::writer_properties`]).
    pub fn create(
        path: &Path,
        table: &str,
        schema: SchemaRef,
        options: &WriteOptions,
    ) -> Result<Self, WriteError> {
        let file = File::create(path).map_err(|source| WriteError::CreateFile {
            path: path.to_path_buf(),
            source,
        })?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            schema,
            Some(options.writer_properties(table)),
        )
        .map_err(|source| WriteError::Parquet {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(TableWriter {
            path: path.to_path_buf(),
            writer,
        })
    }

    /// Appends a batch (same schema as the writer's).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), WriteError> {
        self.writer.write(batch).map_err(|source| WriteError::Parquet {
            path: self.path.clone(),
            source,
        })
    }

    /// Flushes the last row group and the footer; returns the file's path.
    pub fn finish(self) -> Result<PathBuf, WriteError> {
        let TableWriter { path, writer } = self;
        writer.close().map_err(|source| WriteError::Parquet {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

/// Creates `dir` if needed and checks that it holds none of the layout's tables, neither as
/// `NAME.parquet` nor as `NAME/`.
pub fn prepare_dir(dir: &Path) -> Result<(), WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    for table in TABLE_NAMES {
        for path in [dir.join(format!("{table}.parquet")), dir.join(table)] {
            if path.exists() {
                return Err(WriteError::TableExists { path });
            }
        }
    }
    Ok(())
}

impl ProjectBatches {
    /// Writes the project to `dir` in the dataset layout, one `NAME.parquet` file per present
    /// table (absent tables are not written), with [`WriteOptions::default`]. `dir` is created
    /// if needed and must not already hold any project table. Returns the written files.
    pub fn write_dir(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>, WriteError> {
        self.write_dir_with(dir, &WriteOptions::default())
    }

    /// [`ProjectBatches::write_dir`] with explicit options.
    pub fn write_dir_with(
        &self,
        dir: impl AsRef<Path>,
        options: &WriteOptions,
    ) -> Result<Vec<PathBuf>, WriteError> {
        let dir = dir.as_ref();
        prepare_dir(dir)?;
        let mut written = Vec::new();
        for table in TABLE_NAMES {
            let batches = self.table(table).unwrap_or_default();
            let Some(first) = batches.first() else { continue };
            let schema = first.schema();
            if let Some(index) = batches.iter().position(|b| b.schema() != schema) {
                return Err(WriteError::SchemaMismatch {
                    table: table.to_string(),
                    index,
                });
            }
            let path = dir.join(format!("{table}.parquet"));
            let mut writer = TableWriter::create(&path, table, schema, options)?;
            for batch in batches {
                writer.write(batch)?;
            }
            written.push(writer.finish()?);
        }
        Ok(written)
    }
}
