//! Token soup: strings built from NQL's own tokens mixed with random characters. Unlike the
//! parse-only proptests of `roundtrip`, each one goes through the whole front end: parse,
//! analysis against the test catalog, lowering to a plan, printing and rendering. The answer
//! is a plan or diagnostics, never a panic. (`fuzz/` runs the same check under libFuzzer.)

use std::sync::Arc;

use datafusion::logical_expr::logical_plan::builder::LogicalTableSource;
use proptest::prelude::*;

use crate::common::{catalog, now, table};

/// Keywords, operators, types, aggregates, quotes, parentheses, values and attribute names.
const TOKENS: &[&str] = &[
    "AND",
    "OR",
    "NOT",
    "and",
    "Or",
    "not",
    "CONTAINS",
    "MATCHES",
    "EXISTS",
    "exists",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "(",
    ")",
    "(",
    ")",
    "`",
    "\"",
    "'",
    "\\",
    ":",
    ":int",
    ":integer",
    ":float",
    ":bool",
    ":string",
    ":datetime",
    ":experimentState",
    ":artifact",
    ":stringSet",
    ":floatSeries",
    ":stringSeries",
    ":fileRef",
    ":fileRefSeries",
    ":histogramSeries",
    ":Float",
    "average(",
    "last(",
    "max(",
    "min(",
    "variance(",
    "LAST(",
    "true",
    "False",
    "nan",
    "-inf",
    "1e308",
    "-0",
    "0.85",
    "1kB",
    "50 MiB",
    "2024-01-01",
    "\"2024-01-01T00:00:00+09:00\"",
    "-2d",
    "-1M",
    "active",
    "idle",
    "\"^a.*\"",
    "\"(?\"",
    "\"a{99}{99}{99}\"",
    "\"\"",
    "''",
    "sys/id",
    "sys/name",
    "sys/tags",
    "sys/creation_time",
    "sys/failed",
    "sys/state",
    "sys/size",
    "params/lr",
    "params/epochs",
    "f1",
    "accuracy",
    "labels",
    "metrics/acc",
    "val/loss",
    "logs/stdout",
    "model/weights",
    "`with space/loss`",
    "`it's`",
    "`run 🚀`",
    "nosuch",
];

/// One piece of a query: mostly a token, sometimes a random character or a short random run.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(TOKENS).prop_map(String::from),
        2 => any::<char>().prop_map(String::from),
        1 => "\\PC{1,4}",
    ]
}

/// Up to 24 pieces, joined by a space, nothing, or other white space.
fn soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (piece(), proptest::sample::select(&[" ", " ", "", "\n", "\t"][..])),
        0..24,
    )
    .prop_map(|pieces| pieces.into_iter().map(|(p, sep)| p + sep).collect())
}

/// Runs parse, analysis and lowering on `text`; `Err` only for a checked query that does not lower.
fn front_end(text: &str) -> Result<(), TestCaseError> {
    let parsed = match nql::parse(text) {
        Ok(q) => q,
        Err(e) => {
            let _ = e.render(text, false);
            return Ok(());
        }
    };
    let _ = parsed.to_string();
    let checked = match nql::analyze(&parsed, catalog(), now()) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.render(text, false);
            return Ok(());
        }
    };
    if let Some(p) = &checked.predicate {
        let _ = p.to_string();
    }
    let source = Arc::new(LogicalTableSource::new(table().schema.clone()));
    let plan = nql::lower::plan(&checked, catalog(), "runs", source)
        .map_err(|e| TestCaseError::fail(format!("{text:?} was checked but does not lower: {e}")))?;
    let _ = plan.display_indent().to_string();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics_through_the_front_end(text in soup()) {
        front_end(&text)?;
    }
}
