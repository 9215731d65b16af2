//! Hostile queries through the whole engine (`fetch_runs_table` on a small project): each
//! gives an answer or a clear error (`QueryError::Invalid`), within a generous time bound,
//! on a test thread's 2 MiB stack, never a panic or a stack overflow. The front end alone
//! is tested harder in nql/tests/it/hostile.rs.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datasets::ProjectBatches;
use engine::{Engine, FetchOptions, QueryError};
use nql::DiagnosticKind;

use crate::common::block_on;

/// Length of the long `sys/name` values.
const LONG: usize = 100_000;

/// Six runs: short and 100 KB names, a name with a NUL byte, an attribute whose name holds
/// a NUL byte.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let long_a = "a".repeat(LONG);
        let long_mixed: String = (0..LONG).map(|i| ['a', 'b', ' ', 'x'][i % 4]).collect();
        let names = vec![
            Some("short"),
            Some("a\0b"),
            Some(long_a.as_str()),
            Some(long_mixed.as_str()),
            None,
            Some("ünïcødé 🐢"),
        ];
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "sys/id",
                Arc::new(StringArray::from(vec!["R-1", "R-2", "R-3", "R-4", "R-5", "R-6"])),
            ),
            ("sys/name", Arc::new(StringArray::from(names))),
            (
                "f1",
                Arc::new(Float64Array::from(vec![
                    Some(0.5),
                    Some(f64::MAX),
                    Some(f64::INFINITY),
                    Some(f64::NAN),
                    None,
                    Some(-1e300),
                ])),
            ),
            (
                "n",
                Arc::new(Int64Array::from(vec![
                    Some(0),
                    Some(i64::MAX),
                    Some(i64::MIN),
                    Some(1),
                    None,
                    Some(7),
                ])),
            ),
            (
                "odd\0name",
                Arc::new(StringArray::from(vec![Some("x"), None, None, None, None, None])),
            ),
        ];
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        let runs = RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap();
        Engine::from_batches(ProjectBatches {
            runs: vec![runs],
            ..ProjectBatches::default()
        })
        .unwrap()
    })
}

/// The sorted ids `query` returns, or the error, within `limit`. Execution errors (as
/// opposed to a refused query) fail the test.
fn run(query: &str, limit: Duration) -> Result<Vec<String>, QueryError> {
    let start = Instant::now();
    let result = block_on(engine().fetch_runs_table(query, &FetchOptions::default()));
    let took = start.elapsed();
    assert!(took < limit, "took {took:?}, more than {limit:?}");
    match result {
        Ok(r) => {
            let mut ids = r.ids();
            ids.sort();
            Ok(ids)
        }
        Err(e @ (QueryError::Invalid { .. } | QueryError::BadOption(_))) => Err(e),
        Err(e) => panic!("{query:.200}: not a clean answer: {e}"),
    }
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn too_deep(e: QueryError) {
    match e {
        QueryError::Invalid { diagnostics, .. } => assert!(
            matches!(diagnostics.0[0].kind, DiagnosticKind::TooDeep { .. }),
            "{diagnostics}"
        ),
        other => panic!("{other}"),
    }
}

const GENEROUS: Duration = Duration::from_secs(60);

#[test]
fn ten_thousand_nested_parentheses_or_nots_are_refused() {
    let q = format!("{}n:int > 0{}", "(".repeat(10_000), ")".repeat(10_000));
    too_deep(run(&q, GENEROUS).unwrap_err());
    too_deep(run(&format!("{}n:int > 0", "NOT ".repeat(10_000)), GENEROUS).unwrap_err());
    too_deep(run(&"(".repeat(10_000), GENEROUS).unwrap_err());
    // At the limit, the whole engine (lowering, null-check pruning, evaluation) copes.
    let max = nql::syntax::MAX_NESTING;
    let nots = format!("{}n:int > 0", "NOT ".repeat(max));
    assert_eq!(run(&nots, GENEROUS).unwrap(), ids(&["R-2", "R-4", "R-6"]));
    let mut nested = "n:int > 0".to_string();
    for i in 0..max {
        let op = if i % 2 == 0 { "AND" } else { "OR" };
        nested = format!("(n:int < {} {op} {nested})", i + 100);
    }
    run(&nested, GENEROUS).unwrap();
}

#[test]
fn one_megabyte_queries() {
    let q = format!("`sys/name`:string CONTAINS \"{}\"", "a".repeat(1 << 20));
    assert_eq!(run(&q, GENEROUS).unwrap(), Vec::<String>::new());
    let q = format!("`sys/name`:string CONTAINS \"{}\"", "a".repeat(LONG));
    assert_eq!(run(&q, GENEROUS).unwrap(), ids(&["R-3"]));
    let everything = run("", GENEROUS).unwrap();
    assert_eq!(run(&" \n\t".repeat(350_000), GENEROUS).unwrap(), everything);
    let q = format!("`{}`:string EXISTS", "n".repeat(1 << 20));
    assert_eq!(run(&q, GENEROUS).unwrap(), Vec::<String>::new());
    let _ = run(&"=(\"'`)!<".repeat(130_000), GENEROUS).unwrap_err();
}

#[test]
fn a_ten_thousand_clause_or() {
    // The parser's cost per clause in the dev profile (some 70 µs) makes 100,000 clauses take
    // seconds; nql's hostile tests parse and plan 100,000. Evaluation is what this adds.
    let q = (0..10_000)
        .map(|i| format!("n:int = {}", i * 7 + 1000))
        .chain(["n:int = 7".to_string()])
        .collect::<Vec<_>>()
        .join(" OR ");
    assert_eq!(run(&q, GENEROUS).unwrap(), ids(&["R-6"]));
    let q = (0..5_000)
        .map(|i| format!("NOT n:int = {i}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let same = "NOT n:int = 0 AND NOT n:int = 1 AND NOT n:int = 7";
    assert_eq!(run(&q, GENEROUS).unwrap(), run(same, GENEROUS).unwrap());
}

#[test]
fn pathological_regexes_over_long_values() {
    // The `regex` crate never backtracks: these take time linear in the value.
    for (pattern, expected) in [
        ("(a*)*b", vec!["R-2", "R-4"]),
        ("^(a|aa)+$", vec!["R-3"]),
        ("^(a+)+$", vec!["R-3"]),
        ("(x+x+)+y", vec![]),
        ("^(\\w+\\s?)*$", vec!["R-1", "R-3", "R-4"]),
        ("(.*a){20}", vec!["R-3", "R-4"]),
        ("[a-z]{0,50}q[a-z]{20}", vec![]),
        ("", vec!["R-1", "R-2", "R-3", "R-4", "R-6"]),
    ] {
        let q = format!("`sys/name`:string MATCHES \"{pattern}\"");
        assert_eq!(run(&q, GENEROUS).unwrap(), ids(&expected), "{pattern}");
    }
    // A big pattern (20 KB of alternations) over the long values: compiled once per clause.
    let q = format!("`sys/name`:string MATCHES \"{}q\"", "(a|b)*".repeat(3_000));
    assert_eq!(run(&q, GENEROUS).unwrap(), Vec::<String>::new());
    // A pattern over the compiled-size limit is refused, not run.
    let e = run("`sys/name`:string MATCHES \"(\\w{1000}){1000}\"", GENEROUS).unwrap_err();
    assert!(matches!(e, QueryError::Invalid { .. }), "{e}");
}

#[test]
fn huge_numbers() {
    for value in [
        "1e999999999999999999",
        "-1e999999999999999999",
        "1e-999999999999999999",
        "99999999999999999999999999999999999999999999999999999999999999999",
        "-99999999999999999999999999999999999999999999999999999999999999999",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "1e308KiB",
        "inf",
        "nan",
    ] {
        for column in ["f1:float", "n:int"] {
            for op in ["=", "!=", ">", "<", ">=", "<="] {
                let _ = run(&format!("{column} {op} {value}"), GENEROUS);
            }
        }
    }
    assert_eq!(
        run("n:int = 9223372036854775807", GENEROUS).unwrap(),
        ids(&["R-2"])
    );
    assert_eq!(
        run("n:int > 9223372036854775807", GENEROUS).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        run("n:int < -9223372036854775808", GENEROUS).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        run("f1:float > 1e999999999999999999", GENEROUS).unwrap(),
        ids(&["R-4"])
    );
    assert_eq!(run("f1:float = inf", GENEROUS).unwrap(), ids(&["R-3"]));
}

#[test]
fn nul_bytes_in_values_and_names() {
    assert_eq!(
        run("`sys/name`:string = \"a\0b\"", GENEROUS).unwrap(),
        ids(&["R-2"])
    );
    assert_eq!(
        run("`sys/name`:string CONTAINS \"\0\"", GENEROUS).unwrap(),
        ids(&["R-2"])
    );
    assert_eq!(
        run("`sys/name`:string MATCHES \"\0b$\"", GENEROUS).unwrap(),
        ids(&["R-2"])
    );
    assert_eq!(run("`odd\0name`:string EXISTS", GENEROUS).unwrap(), ids(&["R-1"]));
    assert_eq!(run("`odd\0name` = x", GENEROUS).unwrap(), ids(&["R-1"]));
    let _ = run("\0", GENEROUS).unwrap_err();
    let _ = run("sys/name:string = a\0b AND \0", GENEROUS).unwrap_err();
    // Results carry the NUL through.
    let r = block_on(engine().fetch_runs_table(
        "`odd\0name`:string EXISTS",
        &FetchOptions {
            columns: Some(vec!["odd\0name".into()]),
            ..FetchOptions::default()
        },
    ))
    .unwrap();
    assert_eq!(r.schema.field(1).name(), "odd\0name");
}

#[test]
fn a_pattern_of_ten_thousand_groups_over_long_values() {
    // With its capture groups, the regex crate's PikeVM would ask for a slot table of some
    // 25 GB at the first search (states × groups) and abort the process; lowering makes the
    // groups of MATCHES patterns non-capturing, for the engine's kernel and DataFusion alike.
    let q = format!("`sys/name`:string MATCHES \"{}q\"", "(a|b)*".repeat(10_000));
    assert_eq!(run(&q, GENEROUS).unwrap(), Vec::<String>::new());
    // A long pattern that must be matched all the way over 100 KB values is slow (time
    // grows as pattern × value): a case for a timeout. Here a short one.
    let q = format!("`sys/name`:string MATCHES \"{}\"", "(a|b)".repeat(100));
    assert_eq!(run(&q, GENEROUS).unwrap(), ids(&["R-3"]));
}
