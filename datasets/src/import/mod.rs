//! Importers: CSV files ([`csv`]) and MLPerf Training results ([`mlperf`]).

pub mod csv;
pub mod mlperf;
