//! The engine's integration tests, in one binary (each test binary links DataFusion once).

mod bad_data;
mod bucketed;
mod cancellation;
mod common;
mod concurrency;
mod conformance;
mod deferred;
mod differential;
mod fetch;
mod generated;
mod hostile;
mod index;
mod mlflow;
mod neptune;
mod reference;
mod series;
mod token_soup;
