//! Reading a project directory back into [`ProjectBatches`], as the files are: no validation
//! of the layout's rules (the engine's loader does that).

use std::fs::File;
use std::path::{Path, PathBuf};

use datafusion::arrow::error::ArrowError;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::errors::ParquetError;

use crate::{ProjectBatches, TABLE_NAMES, layout};

/// Why a project directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Listing or opening a file failed.
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A file is not valid Parquet.
    #[error("cannot read {path}: {source}")]
    Parquet { path: PathBuf, source: ParquetError },
    /// Decoding a record batch failed.
    #[error("cannot read {path}: {source}")]
    Arrow { path: PathBuf, source: ArrowError },
    /// The directory has no runs table.
    #[error("{path} holds no runs table (runs.parquet or runs/*.parquet)")]
    NoRuns { path: PathBuf },
}

impl ProjectBatches {
    /// Reads every table of the project in `dir` (`NAME.parquet` or `NAME/*.parquet`), batch by
    /// batch as stored. The runs table is required; other absent tables stay empty.
    pub fn read_dir(dir: impl AsRef<Path>) -> Result<ProjectBatches, ReadError> {
        let dir = dir.as_ref();
        let mut project = ProjectBatches::default();
        for table in TABLE_NAMES {
            let files = layout::table_files(dir, table).map_err(|source| ReadError::Io {
                path: dir.join(table),
                source,
            })?;
            let Some(files) = files else {
                if table == "runs" {
                    return Err(ReadError::NoRuns {
                        path: dir.to_path_buf(),
                    });
                }
                continue;
            };
            let batches = project.table_mut(table).expect("known table");
            for path in files {
                let file = File::open(&path).map_err(|source| ReadError::Io {
                    path: path.clone(),
                    source,
                })?;
                let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                    .and_then(|b| b.build())
                    .map_err(|source| ReadError::Parquet {
                        path: path.clone(),
                        source,
                    })?;
                for batch in reader {
                    batches.push(batch.map_err(|source| ReadError::Arrow {
                        path: path.clone(),
                        source,
                    })?);
                }
            }
        }
        Ok(project)
    }
}
