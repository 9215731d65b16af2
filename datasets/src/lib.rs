//! Project datasets: the on-disk layout ([`layout`]), the in-memory form
//! ([`ProjectBatches`]), Parquet writing ([`write`]) and reading ([`read`]), a seeded generator
//! of realistic projects ([`generate`]), a writer of neptune-exporter exports
//! ([`neptune_export`]), the built-in demo project ([`demo`]), and importers
//! from CSV and MLPerf results ([`import`]).

mod build;
mod curves;
pub mod demo;
pub mod generate;
pub mod import;
pub mod layout;
pub mod neptune_export;
pub mod read;
mod vocab;
pub mod write;

#[cfg(test)]
mod tests;

use datafusion::arrow::record_batch::RecordBatch;

pub use generate::{GenerateError, GenerateSummary, Progress, ProjectSpec, generate, generate_to_dir};
pub use read::ReadError;
pub use write::{Compression, WriteError, WriteOptions};

/// A whole project as Arrow record batches, table by table, with the same columns the
/// Parquet files have. Empty vectors mean the table is absent.
#[derive(Clone, Debug, Default)]
pub struct ProjectBatches {
    pub runs: Vec<RecordBatch>,
    pub models: Vec<RecordBatch>,
    pub model_versions: Vec<RecordBatch>,
    pub float_series: Vec<RecordBatch>,
    pub string_series: Vec<RecordBatch>,
}

impl ProjectBatches {
    /// The batches of a table by its name (`runs`, `models`, `model_versions`,
    /// `float_series`, `string_series`); `None` for any other name.
    pub fn table(&self, name: &str) -> Option<&[RecordBatch]> {
        Some(match name {
            "runs" => &self.runs,
            "models" => &self.models,
            "model_versions" => &self.model_versions,
            "float_series" => &self.float_series,
            "string_series" => &self.string_series,
            _ => return None,
        })
    }

    /// Mutable access to a table's batches by name, as [`ProjectBatches::table`].
    pub fn table_mut(&mut self, name: &str) -> Option<&mut Vec<RecordBatch>> {
        Some(match name {
            "runs" => &mut self.runs,
            "models" => &mut self.models,
            "model_versions" => &mut self.model_versions,
            "float_series" => &mut self.float_series,
            "string_series" => &mut self.string_series,
            _ => return None,
        })
    }

    /// Number of rows in a table (0 when absent or unknown).
    pub fn num_rows(&self, table: &str) -> usize {
        self.table(table)
            .map_or(0, |batches| batches.iter().map(RecordBatch::num_rows).sum())
    }
}

/// Every table name of the layout, object tables first.
pub const TABLE_NAMES: [&str; 5] = [
    "runs",
    "models",
    "model_versions",
    "float_series",
    "string_series",
];
