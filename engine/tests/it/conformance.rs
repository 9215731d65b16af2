//! The shared conformance suite (tests/conformance: a dataset and NQL cases with the answers
//! the spec requires), run through the library API.

use datasets::layout::ObjectKind;
use engine::{Engine, FetchOptions, QueryError, Trashed};
use serde::Deserialize;

use crate::common::{
    block_on, conformance_deferred_engine, conformance_dir, conformance_engine, conformance_memory_engine,
    now,
};

#[derive(Debug, Deserialize)]
struct Case {
    id: String,
    table: String,
    trashed: String,
    now: String,
    query: String,
    expect: serde_json::Value,
}

#[test]
fn every_conformance_case_passes_through_an_index() {
    run_every_case(&conformance_engine());
}

#[test]
fn every_conformance_case_passes_straight_from_the_files() {
    run_every_case(&conformance_deferred_engine());
}

#[test]
fn every_conformance_case_passes_in_memory() {
    run_every_case(&conformance_memory_engine());
}

pub(crate) fn run_every_case(engine: &Engine) {
    run_every_case_with(|kind, query, options| {
        block_on(engine.fetch(kind, query, options, None)).map(|r| r.ids())
    });
}

/// Runs every case through `fetch`, which answers a query on a table with the ids of the
/// objects it matches, in any order.
pub(crate) fn run_every_case_with(
    fetch: impl Fn(ObjectKind, &str, &FetchOptions) -> Result<Vec<String>, QueryError>,
) {
    let text = std::fs::read_to_string(conformance_dir().join("cases.jsonl")).unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Case = serde_json::from_str(line).unwrap();
        count += 1;
        let options = FetchOptions {
            trashed: case.trashed.parse::<Trashed>().unwrap(),
            now: Some(now(&case.now)),
            ..FetchOptions::default()
        };
        let kind = ObjectKind::from_table_name(&case.table).unwrap();
        let got = fetch(kind, &case.query, &options);
        match (&case.expect, got) {
            (serde_json::Value::String(s), Err(e)) if s == "error" && e.is_user_error() => {}
            (serde_json::Value::Array(expected), Ok(mut ids)) => {
                ids.sort();
                let expected: Vec<String> =
                    expected.iter().map(|v| v.as_str().unwrap().to_string()).collect();
                if ids != expected {
                    failures.push(format!(
                        "{}: {:?}: got {} ids, expected {}",
                        case.id,
                        case.query,
                        ids.len(),
                        expected.len()
                    ));
                }
            }
            (expected, got) => failures.push(format!(
                "{}: {:?}: expected {expected}, got {got:?}",
                case.id, case.query
            )),
        }
    }
    assert!(count >= 300, "the suite has {count} cases");
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
