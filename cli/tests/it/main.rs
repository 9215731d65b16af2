//! The command line's integration tests, in one binary (each test binary links DataFusion once).

mod cli;

/// The engine's conformance suite, whose project the command-line tests query.
pub fn conformance_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/conformance")
}
