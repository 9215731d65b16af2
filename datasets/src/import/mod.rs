//! Importers: CSV files ([`csv`]).

pub mod csv;
