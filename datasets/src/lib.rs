//! Project datasets: the on-disk layout ([`layout`]), the in-memory form
//! ([`ProjectBatches`]), a seeded generator of realistic projects, and importers.

pub mod layout;

use datafusion::arrow::record_batch::RecordBatch;

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
