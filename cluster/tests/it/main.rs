//! The cluster crate's integration tests, in one binary: NQL on Ballista clusters started by
//! the tests (in this process, and as separate `nql-scheduler` and `nql-executor`
//! processes on 127.0.0.1) over the conformance project bucketed 8 ways.

mod common;
mod conformance;
mod processes;
mod roundtrip;
mod stores;
mod summarize;
