//! The command line's integration tests, in one binary (each test binary links DataFusion once).

mod cli;
mod generate;
mod serve;
mod sources;

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

/// Runs the `nql` binary with `cache` as the user's cache directory (`XDG_CACHE_HOME`, where
/// the index of a source that is never written goes) and as its home (shell history), and
/// `input` on standard input.
pub fn nql_cached(cache: &std::path::Path, args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nql"))
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .env("HOME", cache)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// The ids of a `--format csv` output whose first column is `sys/id`, sorted.
pub fn csv_ids(output: &std::process::Output) -> Vec<String> {
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().map(|h| h.split(',').next()),
        Some(Some("sys/id")),
        "{text}"
    );
    let mut ids: Vec<String> = lines.map(|l| l.split(',').next().unwrap().to_string()).collect();
    ids.sort();
    ids
}
