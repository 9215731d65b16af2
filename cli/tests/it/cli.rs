//! The `nql` binary: every subcommand, the formats, exit codes, diagnostics on stderr.

use std::process::{Command, Output};
use std::time::Duration;

use crate::conformance_dir;

fn nql(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nql"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// A copy of the conformance project, made once per test run, which the commands index as
/// they would any project (the data under the engine's tests/ is never written).
fn data() -> String {
    static COPY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        let copy = crate::scratch_dir("conformance-project");
        copy_dir(&conformance_dir().join("data"), &copy);
        copy
    })
    .display()
    .to_string()
}

/// Copies the files of `from` into `to`, recursively.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn query_as_csv_prints_one_id_per_line() {
    let d = data();
    let o = nql(&[
        "query",
        "--data",
        &d,
        "--now",
        "2026-06-01T00:00:00Z",
        "--columns",
        "sys/id",
        "--format",
        "csv",
        "--sort-by",
        "sys/id",
        "--ascending",
        "--",
        "sys/failed:bool = true AND sys/size:int > 1GB",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "sys/id");
    assert!(
        lines.len() > 1 && lines[1..].iter().all(|l| l.starts_with("NQ-")),
        "{text}"
    );
    let mut sorted = lines[1..].to_vec();
    sorted.sort();
    assert_eq!(sorted, lines[1..]);
}

#[test]
fn json_table_and_parquet_formats() {
    let d = data();
    let base = [
        "query",
        "--data",
        &d,
        "--columns",
        "sys/name,params/lr:float,sys/tags",
        "--limit",
        "3",
    ];
    let o = nql(&[&base[..], &["--format", "json", "--", ""]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert!(rows[0].get("sys/id").is_some());

    let o = nql(&[&base[..], &["--format", "table", "--", ""]].concat());
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains("sys/id") && stdout(&o).contains("3 rows"),
        "{}",
        stdout(&o)
    );

    let o = nql(&[&base[..], &["--format", "parquet", "--", ""]].concat());
    assert_eq!(o.status.code(), Some(2), "parquet needs --output");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.parquet");
    let o = nql(&[
        &base[..],
        &["--format", "parquet", "--output", out.to_str().unwrap(), "--", ""],
    ]
    .concat());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let file = std::fs::File::open(&out).unwrap();
    let reader =
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), 3);
}

#[test]
fn a_bad_query_exits_2_with_the_diagnostic_on_stderr() {
    let d = data();
    let o = nql(&["query", "--data", &d, "--", "params/lr:float CONTAINS \"0.1\""]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).is_empty());
    let err = stderr(&o);
    assert!(
        err.contains("`CONTAINS` is not defined for attributes of type `float`"),
        "{err}"
    );
    assert!(
        err.contains('^') || err.contains('─'),
        "a caret under the query: {err}"
    );
}

#[test]
fn bad_arguments_exit_2_and_unreadable_data_exits_1() {
    assert_eq!(nql(&["query", "--table", "nope", ""]).status.code(), Some(2));
    assert_eq!(nql(&["query", "--limit", "many", ""]).status.code(), Some(2));
    let o = nql(&["query", "--data", "/definitely/not/here", ""]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/definitely/not/here"), "{}", stderr(&o));
}

#[test]
fn timeout_stops_the_query_with_exit_1_and_a_bad_duration_exits_2() {
    // A zero timeout has passed before evaluation starts, whatever the machine's speed.
    let o = nql(&[
        "query",
        "--timeout",
        "0s",
        "--format",
        "csv",
        "`sys/failed`:bool = false",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("took longer than its timeout"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    let o = nql(&[
        "query",
        "--timeout",
        "1h 30m",
        "--format",
        "csv",
        "`sys/failed`:bool = false",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).lines().count() > 1, "{}", stdout(&o));
    let o = nql(&["explain", "--timeout", "soon", ""]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a duration"), "{}", stderr(&o));
}

#[test]
fn warnings_go_to_stderr() {
    let d = data();
    let o = nql(&[
        "query",
        "--data",
        &d,
        "--columns",
        "sys/id",
        "--format",
        "csv",
        "--",
        "metrics/accuracy:floatSeries > 0.5",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("did you mean `metrics/acc:floatSeries`"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o), "sys/id\n", "only the header");
}

#[test]
fn check_prints_the_canonical_form_or_the_diagnostic() {
    let o = nql(&["check", "sys/failed:bool == True and not `f1`:float<0.5"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o).trim(),
        "`sys/failed`:bool = True AND NOT `f1`:float < 0.5"
    );
    let o = nql(&["check", "()"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("empty parentheses"), "{}", stderr(&o));
    // Types are checked without a project; unknown attributes are not warned about.
    let o = nql(&["check", "`scores/f1`:float CONTAINS 0.5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("`CONTAINS` is not defined"), "{}", stderr(&o));
    let o = nql(&["check", "nosuch:float > 1 AND other = 2"]);
    assert_eq!((o.status.code(), stderr(&o).as_str()), (Some(0), ""));
    // With a project, untyped names resolve and unknown attributes are warned about.
    let d = data();
    let o = nql(&["check", "--data", &d, "metrics/accuracy:floatSeries > 1"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("did you mean"), "{}", stderr(&o));
    assert_eq!(
        nql(&["check", "--data", &d, "params/lr = 1"]).status.code(),
        Some(2)
    );
}

#[test]
fn explain_and_schema() {
    let d = data();
    let o = nql(&["explain", "--data", &d, "--", "last(`metrics/acc`) > 0.9"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for part in [
        "Checked query:",
        "last(`metrics/acc`:floatSeries) > 0.9",
        "Logical plan:",
        "Physical plan:",
    ] {
        assert!(out.contains(part), "{part} in {out}");
    }
    let o = nql(&["schema", "--data", &d, "--table", "models"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(
        out.contains("models: 20 objects") && out.contains("experimentState"),
        "{out}"
    );
}

#[test]
fn shell_runs_queries_and_commands_from_standard_input() {
    use std::io::Write;
    let d = data();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nql"))
        .args(["shell", "--data", &d])
        .env("HOME", tempfile::tempdir().unwrap().path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let script = ".columns sys/id\n.format csv\n.limit 2\n.sort sys/id asc\nsys/failed = true\n.bogus\nsys/failed:bool > true\n.table models\n\n.quit\n";
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(
        out.contains("sys/id\nNQ-") && out.matches("NQ-").count() == 2,
        "{out}"
    );
    let err = stderr(&o);
    assert!(err.contains("unknown command `.bogus`"), "{err}");
    assert!(
        err.contains("`>` is not defined for attributes of type `bool`"),
        "{err}"
    );
}

#[test]
fn bench_times_queries_and_reports_json() {
    let d = data();
    let o = nql(&[
        "bench",
        "--data",
        &d,
        "--iterations",
        "3",
        "--json",
        "f1:float > 0.5",
        "sys/failed = true",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["queries"].as_array().unwrap().len(), 2);
    assert!(report["queries"][0]["median_ms"].as_f64().unwrap() > 0.0);
    assert!(report["queries"][0]["rows"].as_u64().unwrap() > 0);
    assert!(report["arrow_bytes"].as_u64().unwrap() > 0);
    assert_eq!(nql(&["bench", "--data", &d]).status.code(), Some(2), "no queries");
}

#[test]
fn bench_sorts_limits_reads_now_and_writes_the_ids_of_each_query() {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    let queries = dir.path().join("queries.tsv");
    std::fs::write(
        &queries,
        "# name<TAB>query\nrecent\tsys/creation_time:datetime > -1y\nbig\tsys/size:int > 1MB\n",
    )
    .unwrap();
    let ids = dir.path().join("ids");
    let options = [
        "--now",
        "2026-06-01T00:00:00Z",
        "--sort-by",
        "sys/size",
        "--ascending",
        "--limit",
        "3",
    ];
    let mut args = vec![
        "bench",
        "--data",
        &d,
        "--iterations",
        "2",
        "--json",
        "--queries",
        queries.to_str().unwrap(),
        "--ids-dir",
        ids.to_str().unwrap(),
    ];
    args.extend(options);
    let o = nql(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    for (i, (name, query)) in [
        ("recent", "sys/creation_time:datetime > -1y"),
        ("big", "sys/size:int > 1MB"),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(report["queries"][i]["name"], name);
        let written = std::fs::read_to_string(ids.join(format!("{name}.txt"))).unwrap();
        let mut args = vec!["query", "--data", &d, "--columns", "sys/id", "--format", "csv"];
        args.extend(options);
        args.extend(["--", query]);
        let o = nql(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let expected: Vec<String> = stdout(&o).lines().skip(1).map(String::from).collect();
        assert!(
            !expected.is_empty() && expected.len() <= 3,
            "{name}: {expected:?}"
        );
        assert_eq!(written.lines().collect::<Vec<_>>(), expected, "{name}");
        assert_eq!(report["queries"][i]["rows"].as_u64(), Some(expected.len() as u64));
    }
}

/// Every example query of Neptune's NQL page, and whether it asks for trashed runs too.
const SEED_EXAMPLES: &[(&str, bool)] = &[
    (
        "(`sys/tags`:stringSet CONTAINS \"some-tag\") AND (`f1`:float >= 0.85)",
        false,
    ),
    ("`scores/f1`:float >= 0.60", false),
    ("`scores/f1`:float > 0.8", false),
    ("`sys/tags`:stringSet CONTAINS \"my tag\"", false),
    ("average(`accuracy`:floatSeries) > 0.8", false),
    (
        "(last(`metrics/acc`):float >= 0.85) AND (`learning_rate`:float = 0.002)",
        false,
    ),
    ("`sys/name`:string NOT CONTAINS \"blobfish\"", false),
    ("NOT `sys/name`:string CONTAINS \"blobfish\"", false),
    (
        "NOT (`sys/name`:string CONTAINS blobfish AND `sys/failed`:bool = True)",
        false,
    ),
    ("last(`metrics/accuracy`):float >= 0.80", false),
    (
        "(`model_info/size_MB`:float <= 50MB) AND (`test/acc`:float > 0.90)",
        false,
    ),
    (
        "(`sys/owner`:string = \"jackie\") AND (`sys/tags`:stringSet CONTAINS \"exploration\")",
        false,
    ),
    (
        "(sys/creation_time:datetime > \"2024-01-01T00:00:00Z\") AND (sys/failed:bool = True)",
        false,
    ),
    ("`f1_score`:float < 0.50", false),
    ("`sys/name`:string = \"cunning-blobfish\"", false),
    ("`sys/name`:string CONTAINS \"blobfish\"", false),
    (
        "`my_monitoring_namespace/stdout`:stringSeries CONTAINS \"error\"",
        false,
    ),
    ("`sys/tags`:stringSet CONTAINS \"tag-name\"", false),
    (
        "(`sys/tags`:stringSet CONTAINS \"tag1\") OR (`sys/tags`:stringSet CONTAINS \"tag2\")",
        false,
    ),
    (
        "(`sys/tags`:stringSet CONTAINS \"tag1\") AND (`sys/tags`:stringSet CONTAINS \"tag2\")",
        false,
    ),
    ("`sys/ping_time`:datetime > \"2024-02-06T05:00:00Z\"", false),
    ("`sys/ping_time`:datetime > \"2024-02-06T05:00:00+09\"", false),
    ("`sys/creation_time`:datetime < \"-3M\"", false),
    ("`sys/description`:string = \"test run on new data\"", false),
    ("`sys/description`:string CONTAINS \"new data\"", false),
    ("`sys/id`:string = \"NLI-345\"", false),
    (
        "(`sys/id`:string = \"NLI-35\") OR (`sys/id`:string = \"NLI-36\")",
        false,
    ),
    ("`sys/owner`:string = \"jackie\"", false),
    ("`sys/owner`:string CONTAINS \"@ml-team\"", false),
    ("`sys/size`:float > 100MB", true),
    ("`sys/size`:float > 10MB", false),
    ("`sys/size`:float > 800kb", false),
    ("`sys/size`:float > \"800 kb\"", false),
    ("`sys/size`:float > 800000", false),
    ("`sys/state`:experimentState = \"inactive\"", false),
    ("`sys/failed`:bool = True", false),
    (
        "`dataset_version`:artifact = 9a113b799082e5fd628be178bedd52837bac24e91f",
        false,
    ),
];

#[test]
fn every_seed_example_answers_on_the_demo_project() {
    let mut empty = Vec::new();
    for (query, trashed) in SEED_EXAMPLES {
        let trash = if *trashed { "all" } else { "exclude" };
        let o = nql(&[
            "query",
            "--trashed",
            trash,
            "--columns",
            "sys/id",
            "--format",
            "csv",
            "--",
            query,
        ]);
        assert_eq!(o.status.code(), Some(0), "{query}: {}", stderr(&o));
        assert!(stderr(&o).is_empty(), "{query} warns: {}", stderr(&o));
        if stdout(&o).lines().count() < 2 {
            empty.push(*query);
        }
    }
    assert!(empty.is_empty(), "no answer on the demo project: {empty:#?}");
    // The three sizes are one and the same query.
    let ids = |q: &str| {
        stdout(&nql(&[
            "query",
            "--columns",
            "sys/id",
            "--format",
            "csv",
            "--",
            q,
        ]))
    };
    assert_eq!(ids("`sys/size`:float > 800kb"), ids("`sys/size`:float > 800000"));
}

#[test]
fn generate_writes_a_project_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p");
    let o = nql(&[
        "generate",
        "--out",
        out.to_str().unwrap(),
        "--runs",
        "300",
        "--points",
        "20",
        "--seed",
        "7",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("wrote 300 runs"), "{}", stderr(&o));
    let o = nql(&[
        "query",
        "--data",
        out.to_str().unwrap(),
        "--columns",
        "sys/id",
        "--format",
        "csv",
        "--",
        "last(`metrics/accuracy`) > 0",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).lines().count() > 100);
    let o = nql(&["generate", "--out", out.to_str().unwrap(), "--runs", "10"]);
    assert_eq!(o.status.code(), Some(1), "an existing project is not overwritten");
}

/// Runs `nql` with raw (possibly non-UTF-8) arguments and `input` on standard input.
fn nql_raw(args: &[&std::ffi::OsStr], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_nql"))
        .args(args)
        .env("HOME", tempfile::tempdir().unwrap().path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn invalid_utf8_in_an_argument_a_query_file_or_standard_input_exits_2() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let d = data();
    let bad: &[u8] = b"sys/name:string = \"caf\xe9\"";
    let os = |s: &str| OsStr::new(s).to_owned();

    // An argument: clap refuses it.
    for command in ["query", "check", "explain"] {
        let o = nql_raw(&[OsStr::new(command), OsStr::from_bytes(bad)], b"");
        assert_eq!(o.status.code(), Some(2), "{command}: {}", stderr(&o));
        assert!(stderr(&o).contains("invalid UTF-8"), "{}", stderr(&o));
    }

    // A query file, and standard input.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("query.nql");
    std::fs::write(&file, bad).unwrap();
    for command in ["query", "check", "explain"] {
        let o = nql_raw(
            &[
                &os(command),
                &os("--data"),
                &os(&d),
                &os("--query-file"),
                file.as_os_str(),
            ],
            b"",
        );
        assert_eq!(o.status.code(), Some(2), "{command}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("query.nql") && err.contains("not valid UTF-8"),
            "{err}"
        );
        assert!(err.contains("offset 22"), "{err}");
        let o = nql_raw(&[&os(command), &os("--query-file"), &os("-")], bad);
        assert_eq!(o.status.code(), Some(2), "{command}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("standard input: not valid UTF-8"),
            "{}",
            stderr(&o)
        );
    }
    let o = nql_raw(&[&os("bench"), &os("--queries"), file.as_os_str()], b"");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not valid UTF-8"), "{}", stderr(&o));
    let o = nql_raw(&[&os("shell")], bad);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not valid UTF-8"), "{}", stderr(&o));

    // A valid query file works like the argument; NUL bytes are text like any other.
    std::fs::write(&file, "sys/failed:bool = true\n").unwrap();
    let from_file = nql_raw(
        &[
            &os("query"),
            &os("--data"),
            &os(&d),
            &os("--format"),
            &os("csv"),
            &os("--query-file"),
            file.as_os_str(),
        ],
        b"",
    );
    let from_arg = nql(&["query", "--data", &d, "--format", "csv", "sys/failed:bool = true"]);
    assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
    assert_eq!(stdout(&from_file), stdout(&from_arg));
    let o = nql_raw(
        &[&os("check"), &os("--query-file"), &os("-")],
        b"sys/name:string = \"a\0b\"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = nql_raw(&[&os("check"), &os("--query-file"), &os("-")], b"\0");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Both an argument and a file is a usage error.
    let o = nql_raw(&[&os("check"), &os("x = 1"), &os("--query-file"), &os("-")], b"");
    assert_eq!(o.status.code(), Some(2));
}

/// Runs `nql` with standard output a pipe whose read end the test closes early: after the
/// first line when `first_line` (the first 4 KiB when the output is one long line, as JSON
/// is), or at once, before the binary has loaded anything, otherwise. `input` goes to
/// standard input. Returns the exit code and standard error.
fn nql_into_closed_pipe(args: &[&str], input: &[u8], first_line: bool) -> (Option<i32>, String) {
    use std::io::{BufRead, Read, Write};
    let mut child = Command::new(env!("CARGO_BIN_EXE_nql"))
        .args(args)
        .env("HOME", tempfile::tempdir().unwrap().path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    if first_line {
        let mut reader = std::io::BufReader::new(out);
        let mut line = Vec::new();
        reader.by_ref().take(4096).read_until(b'\n', &mut line).unwrap();
        assert!(!line.is_empty(), "{args:?} printed nothing");
        drop(reader);
    } else {
        drop(out);
    }
    // A small write into an empty pipe does not block, whether or not the child reads it.
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(input);
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    (o.status.code(), stderr(&o))
}

#[test]
fn a_closed_pipe_ends_the_output_quietly_with_status_0() {
    // `nql query '' | head -1` on the demo project's 2,000 runs, in each format: far more
    // than a pipe holds, so the binary is still writing when the reader goes away. It stops
    // as ripgrep does: status 0, nothing on standard error.
    for format in ["table", "csv", "json"] {
        let args = ["query", "--format", format, ""];
        let whole = nql(&args);
        assert_eq!(whole.status.code(), Some(0), "{}", stderr(&whole));
        assert!(
            whole.stdout.len() > 512 << 10,
            "{format}: {} bytes fit in a pipe",
            whole.stdout.len()
        );
        assert_eq!(
            nql_into_closed_pipe(&args, b"", true),
            (Some(0), String::new()),
            "{format}"
        );
    }
    // Every command that prints, with the pipe closed before it writes.
    let d = data();
    let commands: [&[&str]; 6] = [
        &["query", "--data", &d, "--format", "csv", "--", ""],
        &["schema", "--data", &d],
        &["explain", "--data", &d, "--", "last(`metrics/acc`) > 0.9"],
        &["check", "sys/failed:bool = true"],
        &["bench", "--data", &d, "--iterations", "1", "sys/failed = true"],
        &["shell", "--data", &d],
    ];
    for args in commands {
        assert_eq!(
            nql_into_closed_pipe(args, b".help\nsys/failed = true\n.schema\n", false),
            (Some(0), String::new()),
            "{args:?}"
        );
    }
}

/// Waits (up to two minutes) for `file` to appear, written by a background process.
fn wait_for_file(file: &std::path::Path, what: &str) {
    let started = std::time::Instant::now();
    while !file.is_file() {
        assert!(started.elapsed() < Duration::from_secs(120), "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A generated project of `runs` runs in parts, written under the scratch directory.
fn generated(name: &str, runs: &str, per_file: &str) -> std::path::PathBuf {
    let dir = crate::scratch_dir(name).join("project");
    let o = nql(&[
        "generate",
        "--out",
        dir.to_str().unwrap(),
        "--runs",
        runs,
        "--runs-per-file",
        per_file,
        "--points",
        "50",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    dir
}

/// The ids a query prints as CSV, with extra arguments before the query.
fn csv_ids(extra: &[&str], query: &str) -> Vec<String> {
    let mut args = vec![
        "query",
        "--columns",
        "sys/id",
        "--format",
        "csv",
        "--now",
        "2026-06-01T00:00:00Z",
    ];
    args.extend_from_slice(extra);
    args.extend(["--", query]);
    let o = nql(&args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    stdout(&o).lines().skip(1).map(str::to_string).collect()
}

#[test]
fn a_first_query_answers_from_the_files_and_leaves_the_index_to_the_background() {
    let project = generated("background-index", "300", "100");
    let d = project.to_str().unwrap();
    let q = INDEX_QUERIES[1];
    let expected = csv_ids(&["--data", d, "--no-index"], q);
    // NQL_BACKGROUND_INDEX=0: the query builds the index before it answers.
    let built_first = crate::scratch_dir("background-index-first").join("project");
    copy_dir(&project, &built_first);
    let o = Command::new(env!("CARGO_BIN_EXE_nql"))
        .args([
            "query",
            "--data",
            built_first.to_str().unwrap(),
            "--columns",
            "sys/id",
            "--format",
            "csv",
        ])
        .args(["--now", "2026-06-01T00:00:00Z", "--", q])
        .env("NQL_BACKGROUND_INDEX", "0")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        built_first.join("_nql/manifest.json").is_file(),
        "built before answering"
    );
    // By default the answer comes straight from the files, then the index appears.
    assert_eq!(csv_ids(&["--data", d], q), expected);
    wait_for_file(
        &project.join("_nql/manifest.json"),
        "no index built in the background",
    );
    let o = nql(&["index", "--data", d]);
    assert!(stderr(&o).contains("is up to date"), "{}", stderr(&o));
    assert_eq!(csv_ids(&["--data", d], q), expected, "through the index");
}

#[test]
fn a_background_build_that_failed_is_reported_and_not_started_again() {
    use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
    let project = generated("background-failed", "200", "100");
    let d = project.to_str().unwrap();
    // A run whose state no query below reads: queries answer, the index build refuses it.
    let column = |v: &str| std::sync::Arc::new(StringArray::from(vec![v])) as ArrayRef;
    let batch = RecordBatch::try_from_iter([
        ("sys/id", column("BAD-1")),
        ("sys/state:experimentState", column("sleeping")),
    ])
    .unwrap();
    let file = std::fs::File::create(project.join("runs/part-bad.parquet")).unwrap();
    let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let query = |q: &str| {
        let o = nql(&[
            "query",
            "--data",
            d,
            "--columns",
            "sys/id",
            "--format",
            "csv",
            "--",
            q,
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stderr(&o)
    };
    let first = query("`params/lr`:float > 0");
    assert!(!first.contains("could not be built"), "{first}");
    // The build the first query started in the background fails, and says why.
    let record = project.join("_nql/failed.txt");
    wait_for_file(&record, "no failure recorded");
    let second = query("`params/lr`:float > 0");
    assert!(
        second.contains("could not be built")
            && second.contains("part-bad.parquet")
            && second.contains("sleeping"),
        "{second}"
    );
    // `nql index` tries again, and fails as loudly.
    let o = nql(&["index", "--data", d]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("sleeping"), "{}", stderr(&o));
    // Once the bad file is gone, the next query starts the build again.
    std::fs::remove_file(project.join("runs/part-bad.parquet")).unwrap();
    let third = query("`params/lr`:float > 0");
    assert!(!third.contains("could not be built"), "{third}");
    wait_for_file(
        &project.join("_nql/manifest.json"),
        "no index built in the background",
    );
}

const INDEX_QUERIES: [&str; 3] = [
    "",
    "last(`metrics/accuracy`) > 0.5 AND `sys/tags`:stringSet CONTAINS \"exploration\"",
    "variance(`metrics/loss`) > 0.01 OR `logs/stdout`:stringSeries CONTAINS \"ERROR\"",
];

#[test]
fn every_command_works_on_an_indexed_an_unindexed_and_a_read_only_project() {
    let project = generated("every-command", "600", "200");
    let d = project.to_str().unwrap();
    let expected: Vec<Vec<String>> = INDEX_QUERIES
        .iter()
        .map(|q| csv_ids(&["--data", d, "--no-index"], q))
        .collect();
    assert!(!project.join("_nql").exists(), "--no-index writes nothing");
    // Indexed: the first query answers from the files and starts `nql index` in the
    // background; `nql index` here waits for its lock, then finds the index built (or
    // builds it, if the background one has not started yet).
    for (q, e) in INDEX_QUERIES.iter().zip(&expected) {
        assert_eq!(&csv_ids(&["--data", d], q), e, "{q}");
    }
    assert_eq!(nql(&["index", "--data", d]).status.code(), Some(0));
    assert!(project.join("_nql/manifest.json").is_file());
    let o = nql(&["index", "--data", d]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("is up to date"), "{}", stderr(&o));
    for (q, e) in INDEX_QUERIES.iter().zip(&expected) {
        assert_eq!(&csv_ids(&["--data", d], q), e, "through the index: {q}");
    }
    // Read-only: the project directory cannot hold an index (a file named `_nql` stands
    // where it would go, which stops even root), so it goes to the user's cache.
    let read_only = crate::scratch_dir("every-command-read-only").join("project");
    copy_dir(&project, &read_only);
    std::fs::remove_dir_all(read_only.join("_nql")).unwrap();
    std::fs::write(read_only.join("_nql"), b"in the way").unwrap();
    let cache = crate::scratch_dir("every-command-cache");
    let r = read_only.to_str().unwrap();
    for extra in [
        vec!["--data", r],
        vec!["--data", r, "--index-dir", cache.join("given").to_str().unwrap()],
    ] {
        for (q, e) in INDEX_QUERIES.iter().zip(&expected) {
            let mut args = vec![
                "query",
                "--columns",
                "sys/id",
                "--format",
                "csv",
                "--now",
                "2026-06-01T00:00:00Z",
            ];
            args.extend_from_slice(&extra);
            args.extend(["--", q]);
            let o = Command::new(env!("CARGO_BIN_EXE_nql"))
                .args(&args)
                .env("XDG_CACHE_HOME", &cache)
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            let got: Vec<String> = stdout(&o).lines().skip(1).map(str::to_string).collect();
            assert_eq!(&got, e, "{extra:?} {q}");
        }
        // The index the queries started in the background, waited for.
        let mut args = vec!["index"];
        args.extend_from_slice(&extra);
        let o = Command::new(env!("CARGO_BIN_EXE_nql"))
            .args(&args)
            .env("XDG_CACHE_HOME", &cache)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    assert!(
        cache.join("nql/index").is_dir(),
        "the cache holds the read-only project's index"
    );
    assert!(cache.join("given/manifest.json").is_file());
    assert_eq!(std::fs::read(read_only.join("_nql")).unwrap(), b"in the way");
    // Every other command, in each mode.
    for extra in [
        vec!["--data", d],
        vec!["--data", d, "--no-index"],
        vec!["--data", r, "--index-dir", cache.join("given").to_str().unwrap()],
    ] {
        let with = |command: &[&str]| {
            let mut args: Vec<&str> = vec![command[0]];
            args.extend_from_slice(&extra);
            args.extend_from_slice(&command[1..]);
            let o = nql(&args);
            assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
            stdout(&o)
        };
        assert!(with(&["schema"]).contains("metrics/accuracy"));
        assert!(with(&["explain", "--", INDEX_QUERIES[1]]).contains("NqlScanExec"));
        assert!(with(&["check", "--", INDEX_QUERIES[1]]).contains("CONTAINS"));
        assert!(with(&["bench", "--iterations", "2", "--json", INDEX_QUERIES[2]]).contains("\"queries\""));
    }
}

#[test]
fn an_index_build_killed_half_way_leaves_a_working_project() {
    let project = generated("killed", "4000", "500");
    let d = project.to_str().unwrap();
    let expected = csv_ids(&["--data", d, "--no-index"], INDEX_QUERIES[2]);
    for wait_ms in [30, 150, 400] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nql"))
            .args(["index", "--data", d, "--rebuild"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(wait_ms));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(
            csv_ids(&["--data", d], INDEX_QUERIES[2]),
            expected,
            "killed after {wait_ms} ms"
        );
    }
    // A killed build may leave `.tmp-*` files (never a manifest); the next build removes them.
    let o = nql(&["index", "--data", d, "--rebuild"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let leftovers: Vec<_> = std::fs::read_dir(project.join("_nql/state"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the next build removed the leftovers: {leftovers:?}"
    );
}

#[test]
fn processes_building_one_index_at_once_agree() {
    let project = generated("at-once", "3000", "500");
    let d = project.to_str().unwrap();
    let expected = csv_ids(&["--data", d, "--no-index"], INDEX_QUERIES[1]);
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_nql"))
                .args([
                    "query",
                    "--data",
                    d,
                    "--columns",
                    "sys/id",
                    "--format",
                    "csv",
                    "--now",
                    "2026-06-01T00:00:00Z",
                    "--",
                    INDEX_QUERIES[1],
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let got: Vec<String> = stdout(&o).lines().skip(1).map(str::to_string).collect();
        assert_eq!(got, expected);
    }
    let o = nql(&["index", "--data", d]);
    assert!(stderr(&o).contains("is up to date"), "{}", stderr(&o));
}

/// Every `$ nql query` and `$ nql check` example of the README prints what the README shows
/// (indexes go to a scratch directory, not into the repository's example data).
#[test]
fn the_readme_examples_print_what_the_readme_shows() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let index = crate::scratch_dir("readme-index");
    let mut checked = 0;
    for block in readme.split("```text\n").skip(1) {
        let block = block.split("```").next().unwrap();
        for example in block.split("\n$ ").map(|e| e.trim_start_matches("$ ")) {
            let mut lines = example.lines();
            let mut command = lines.next().unwrap_or_default().to_string();
            while command.ends_with('\\') {
                command.pop();
                command.push(' ');
                command.push_str(lines.next().unwrap_or_default().trim());
            }
            if !(command.starts_with("nql query") || command.starts_with("nql check")) {
                continue;
            }
            let expected: Vec<&str> = lines.filter(|l| !l.starts_with("# ")).collect();
            let expected = expected.join("\n");
            let mut args = shlex::split(&command).expect("a shell command")[1..].to_vec();
            if let Some(at) = args.iter().position(|a| a == "--data") {
                let data = &args[at + 1];
                let dir = index.join(data.replace('/', "_"));
                args[at + 1] = format!("{}/../{data}", env!("CARGO_MANIFEST_DIR"));
                args.insert(at + 2, "--index-dir".into());
                args.insert(at + 3, dir.display().to_string());
            }
            let o = Command::new(env!("CARGO_BIN_EXE_nql"))
                .args(&args)
                .output()
                .unwrap();
            let got = format!("{}{}", stdout(&o), stderr(&o));
            assert_eq!(got.trim_end(), expected.trim_end(), "{command}");
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked} examples");
}

#[test]
fn partition_writes_buckets_that_query_as_the_project_does() {
    let out = crate::scratch_dir("partitioned");
    let o = nql(&[
        "partition",
        "--data",
        &data(),
        "--out",
        out.to_str().unwrap(),
        "--buckets",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("in 3 buckets"), "{}", stderr(&o));
    for table in ["runs", "runs_summary", "float_series"] {
        let files = std::fs::read_dir(out.join(table)).unwrap().count();
        assert!((1..=3).contains(&files), "{table}: {files} files");
    }
    let query = |d: &str| {
        let o = nql(&[
            "query",
            "--data",
            d,
            "--now",
            "2026-06-01T00:00:00Z",
            "--columns",
            "sys/id",
            "--format",
            "csv",
            "--",
            "last(`metrics/acc`) > 0.5 OR `sys/tags`:stringSet CONTAINS \"best\"",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stdout(&o)
    };
    let whole = query(&data());
    assert!(whole.lines().count() > 2, "{whole}");
    assert_eq!(query(out.to_str().unwrap()), whole);
    // The output must not hold a project yet; buckets must be 1 to 65536.
    let again = nql(&["partition", "--data", &data(), "--out", out.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    let zero = nql(&[
        "partition",
        "--data",
        &data(),
        "--out",
        "/nonexistent/x",
        "--buckets",
        "0",
    ]);
    assert_eq!(zero.status.code(), Some(2), "{}", stderr(&zero));
}

#[cfg(not(feature = "cluster"))]
#[test]
fn cluster_options_need_an_nql_built_with_the_cluster_feature() {
    let o = nql(&[
        "query",
        "--cluster",
        "df://localhost:50050",
        "--data",
        &data(),
        "--",
        "",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--features cluster"), "{}", stderr(&o));
}

/// A scheduler and `executors` executors of `vcores` slots in this process, on the runtime
/// they run on (which the caller keeps alive).
#[cfg(feature = "cluster")]
fn local_cluster(executors: usize, vcores: usize) -> (tokio::runtime::Runtime, cluster::LocalCluster) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let local = runtime
        .block_on(cluster::LocalCluster::start(
            executors,
            vcores,
            cluster::function_registry,
        ))
        .unwrap();
    (runtime, local)
}

/// The conformance project bucketed `buckets` ways (`nql partition`) into a scratch directory.
#[cfg(feature = "cluster")]
fn partitioned(name: &str, buckets: u32) -> std::path::PathBuf {
    let out = crate::scratch_dir(name);
    let buckets = buckets.to_string();
    let o = nql(&[
        "partition",
        "--data",
        &data(),
        "--out",
        out.to_str().unwrap(),
        "--buckets",
        &buckets,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    out
}

/// `query` and `explain` with `--cluster`, against a cluster this test runs in its own
/// process (the `nql` child connects to it over loopback).
#[cfg(feature = "cluster")]
#[test]
fn query_and_explain_on_a_cluster_answer_as_one_process() {
    let (_runtime, local) = local_cluster(1, 2);
    let out = partitioned("partitioned-for-cluster", 4);
    let query = "`sys/tags`:stringSet CONTAINS \"best\" OR last(`metrics/acc`) > 0.5";
    let run = |extra: &[&str]| {
        let mut args = vec![
            "query",
            "--now",
            "2026-06-01T00:00:00Z",
            "--format",
            "csv",
            "--limit",
            "20",
        ];
        args.extend_from_slice(extra);
        args.extend(["--columns", "sys/name,metrics/acc", "--", query]);
        let o = nql(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stdout(&o)
    };
    let url = local.url();
    let here = run(&["--data", &data()]);
    assert!(here.lines().count() > 5, "{here}");
    assert_eq!(run(&["--data", out.to_str().unwrap(), "--cluster", &url]), here);
    // The cluster summarizes a project partitioned without summaries.
    let split = crate::scratch_dir("split-for-cluster");
    let o = nql(&[
        "partition",
        "--data",
        &data(),
        "--out",
        split.to_str().unwrap(),
        "--buckets",
        "4",
        "--no-summaries",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = nql(&["summarize", "--data", split.to_str().unwrap(), "--cluster", &url]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the cluster summarized 4 buckets"),
        "{}",
        stderr(&o)
    );
    // `index --cluster` is the same job (the files are written anew, the same).
    let o = nql(&["index", "--data", split.to_str().unwrap(), "--cluster", &url]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the cluster summarized 4 buckets"),
        "{}",
        stderr(&o)
    );
    assert_eq!(run(&["--data", split.to_str().unwrap(), "--cluster", &url]), here);
    let e = nql(&[
        "explain",
        "--data",
        out.to_str().unwrap(),
        "--cluster",
        &url,
        "--",
        query,
    ]);
    assert_eq!(e.status.code(), Some(0), "{}", stderr(&e));
    assert!(
        stdout(&e).contains("Stage 2 of 2 on the cluster"),
        "{}",
        stdout(&e)
    );
    let bad = nql(&[
        "query",
        "--data",
        out.to_str().unwrap(),
        "--cluster",
        "localhost:1",
        "--",
        "",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let gone = nql(&[
        "query",
        "--data",
        out.to_str().unwrap(),
        "--cluster",
        "df://127.0.0.1:1",
        "--",
        "",
    ]);
    assert_eq!(gone.status.code(), Some(1), "{}", stderr(&gone));
    assert!(
        stderr(&gone).contains("no scheduler answers"),
        "{}",
        stderr(&gone)
    );
}

/// Ctrl-C stops `nql query --cluster`: on a scheduler without executors the job waits, and
/// the interrupted query exits within seconds with the cancellation. A job the scheduler
/// had named to the client (Ballista names it with its first status update, which a job
/// without executors never gets) is reported cancelled, and is failed on the scheduler.
#[cfg(feature = "cluster")]
#[test]
fn ctrl_c_stops_a_cluster_query() {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let (runtime, local) = local_cluster(0, 1);
    let out = partitioned("partitioned-for-ctrl-c", 2);
    let mut child = Command::new(env!("CARGO_BIN_EXE_nql"))
        .args([
            "query",
            "--data",
            out.to_str().unwrap(),
            "--cluster",
            &local.url(),
            "--",
            "",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Long enough to connect, plan and submit the job, which then waits for an executor.
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the query ended without an executor"
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let interrupted = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            interrupted.elapsed() < Duration::from_secs(20),
            "Ctrl-C did not stop the query"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!status.success(), "{err}");
    assert!(err.contains("the query was cancelled"), "{err}");
    // Within the 3 s a stopped query waits for its job's id, plus the process's own exit.
    assert!(interrupted.elapsed() < Duration::from_secs(10), "{err}");
    if let Some(job) = err.lines().find_map(|l| {
        l.strip_prefix("the job ")?
            .strip_suffix(" was cancelled on the cluster")
    }) {
        assert_eq!(runtime.block_on(local.job_state(job)).unwrap(), "failed", "{err}");
    }
}

#[test]
fn partition_without_summaries_then_summarize_gives_what_partition_gives() {
    let (split, whole) = (
        crate::scratch_dir("split-only"),
        crate::scratch_dir("split-whole"),
    );
    let o = nql(&[
        "partition",
        "--data",
        &data(),
        "--out",
        split.to_str().unwrap(),
        "--buckets",
        "3",
        "--no-summaries",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!split.join("runs_summary").exists());
    let o = nql(&[
        "partition",
        "--data",
        &data(),
        "--out",
        whole.to_str().unwrap(),
        "--buckets",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let one = nql(&["summarize", "--data", split.to_str().unwrap(), "--bucket", "1"]);
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    assert_eq!(std::fs::read_dir(split.join("runs_summary")).unwrap().count(), 1);
    let all = nql(&["summarize", "--data", split.to_str().unwrap()]);
    assert_eq!(all.status.code(), Some(0), "{}", stderr(&all));
    assert!(stderr(&all).contains("summarized 3 buckets"), "{}", stderr(&all));
    for table in ["runs_summary", "models_summary", "model_versions_summary"] {
        for entry in std::fs::read_dir(whole.join(table)).unwrap() {
            let name = entry.unwrap().file_name();
            let (a, b) = (split.join(table).join(&name), whole.join(table).join(&name));
            assert!(
                std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
                "{table}/{name:?}"
            );
        }
    }
    let not_bucketed = nql(&["summarize", "--data", &data()]);
    assert_eq!(not_bucketed.status.code(), Some(1), "{}", stderr(&not_bucketed));
}

/// Every `nql query` example of the README prints the same on a cluster, over its project
/// partitioned 4 ways, as in one process over the project itself (the demo project written
/// to disk for the examples without --data). Neptune 3.x experiments are not a table of the
/// native layout, so that example is refused on the cluster, with the usage error.
#[cfg(feature = "cluster")]
#[test]
fn every_readme_query_example_prints_the_same_on_a_cluster() {
    let (_runtime, local) = local_cluster(2, 4);
    let url = local.url();
    let scratch = crate::scratch_dir("readme-on-cluster");
    let demo = scratch.join("demo");
    datasets::demo::project().write_dir(&demo).unwrap();
    let root = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut bucketed: Vec<(String, std::path::PathBuf)> = Vec::new();
    let mut checked = 0;
    for block in readme.split("```text\n").skip(1) {
        let block = block.split("```").next().unwrap();
        for example in block.split("\n$ ").map(|e| e.trim_start_matches("$ ")) {
            let mut lines = example.lines();
            let mut command = lines.next().unwrap_or_default().to_string();
            while command.ends_with('\\') {
                command.pop();
                command.push(' ');
                command.push_str(lines.next().unwrap_or_default().trim());
            }
            if !command.starts_with("nql query") {
                continue;
            }
            let mut args = shlex::split(&command).unwrap()[1..].to_vec();
            let data = match args.iter().position(|a| a == "--data") {
                Some(at) => {
                    args.remove(at);
                    root.join(args.remove(at))
                }
                None => demo.clone(),
            };
            let key = data.display().to_string();
            let parts = match bucketed.iter().find(|(k, _)| *k == key) {
                Some((_, dir)) => dir.clone(),
                None => {
                    let dir = scratch.join(format!("bucketed-{}", bucketed.len()));
                    let o = nql(&[
                        "partition",
                        "--data",
                        &key,
                        "--out",
                        dir.to_str().unwrap(),
                        "--buckets",
                        "4",
                    ]);
                    assert_eq!(o.status.code(), Some(0), "{key}: {}", stderr(&o));
                    bucketed.push((key.clone(), dir.clone()));
                    dir
                }
            };
            let index = scratch.join(format!(
                "index-{}",
                bucketed.iter().position(|(k, _)| *k == key).unwrap()
            ));
            let mut here = vec![
                "query".to_string(),
                "--data".into(),
                key.clone(),
                "--index-dir".into(),
            ];
            here.push(index.display().to_string());
            here.extend(args[1..].iter().cloned());
            let mut there = vec!["query".to_string(), "--data".into(), parts.display().to_string()];
            there.extend(["--cluster".to_string(), url.clone()]);
            there.extend(args[1..].iter().cloned());
            let run = |a: &[String]| nql(&a.iter().map(String::as_str).collect::<Vec<_>>());
            let (a, b) = (run(&here), run(&there));
            assert_eq!(a.status.code(), Some(0), "{command}: {}", stderr(&a));
            if args.iter().any(|a| a == "experiments") {
                assert_eq!(b.status.code(), Some(2), "{command}: {}", stderr(&b));
                assert!(stderr(&b).contains("no experiments table"), "{}", stderr(&b));
                continue;
            }
            assert_eq!(b.status.code(), Some(0), "{command}: {}", stderr(&b));
            assert_eq!(stdout(&b), stdout(&a), "{command}");
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked} examples");
}
