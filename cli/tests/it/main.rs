//! The command line's integration tests, in one binary (each test binary links DataFusion once).

mod cli;

/// The engine's conformance suite, whose project the command-line tests query.
pub fn conformance_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/conformance")
}

/// A directory for this test binary's files under Cargo's temporary directory, emptied at
/// the first call of each run.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-it-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the scratch directory");
    dir
}
