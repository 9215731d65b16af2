//! Hostile input: every query gets an answer or a clear error, never a panic, a stack
//! overflow or a hang. Each test runs on a thread with a test thread's 2 MiB stack, in the
//! dev profile, through parse, analysis, lowering and printing.

use std::time::{Duration, Instant};

use datafusion::logical_expr::logical_plan::builder::LogicalTableSource;
use nql::{DiagnosticKind, Diagnostics};

use crate::common::{catalog, now, on_test_stack, table};

/// What happened to a query: it was planned, or refused with these diagnostics.
enum Outcome {
    Planned,
    Refused(Diagnostics),
}

/// Runs the whole front end on `query` (on a 2 MiB stack) and renders whatever comes out.
fn run(query: String) -> Outcome {
    on_test_stack(move || {
        let parsed = match nql::parse(&query) {
            Ok(q) => q,
            Err(e) => {
                let _ = render_some(&e, &query);
                return Outcome::Refused(e);
            }
        };
        let _ = parsed.to_string();
        let mut cleared = parsed.clone();
        cleared.clear_spans();
        let checked = match nql::analyze(&parsed, catalog(), now()) {
            Ok(c) => c,
            Err(e) => {
                let _ = render_some(&e, &query);
                return Outcome::Refused(e);
            }
        };
        let _ = render_some(&Diagnostics(checked.warnings.clone()), &query);
        if let Some(p) = &checked.predicate {
            let _ = p.to_string();
        }
        let source = std::sync::Arc::new(LogicalTableSource::new(table().schema.clone()));
        let plan = nql::lower::plan(&checked, catalog(), "runs", source).expect("a checked query lowers");
        let _ = plan.display_indent().to_string();
        Outcome::Planned
    })
}

/// Renders the first hundred diagnostics (rendering is linear, but miette in the dev profile
/// takes a third of a millisecond per diagnostic).
fn render_some(d: &Diagnostics, query: &str) -> String {
    let some = Diagnostics(d.0.iter().take(100).cloned().collect());
    let out = some.render(query, false);
    for line in out.lines() {
        assert!(
            line.chars().count() < 1000,
            "a rendered line of {} characters",
            line.len()
        );
    }
    out
}

fn refused(query: String) -> Diagnostics {
    match run(query) {
        Outcome::Refused(d) => d,
        Outcome::Planned => panic!("the query was planned"),
    }
}

fn timed<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < limit, "took {took:?}, more than {limit:?}");
    out
}

#[test]
fn ten_thousand_nested_parentheses() {
    let q = format!("{}f1:float > 1{}", "(".repeat(10_000), ")".repeat(10_000));
    let d = refused(q);
    assert!(matches!(d.0[0].kind, DiagnosticKind::TooDeep { .. }), "{d}");
}

#[test]
fn ten_thousand_unclosed_parentheses() {
    let d = refused("(".repeat(10_000));
    assert!(matches!(d.0[0].kind, DiagnosticKind::TooDeep { .. }), "{d}");
}

/// `depth` levels of alternating AND/OR groups (which do not collapse), each behind a NOT
/// when `nots`: as deep as the text in the tree and in the plan.
fn nested(depth: usize, nots: bool) -> String {
    let mut q = "f1:float > 1".to_string();
    for i in 0..depth {
        let op = if i % 2 == 0 { "AND" } else { "OR" };
        let not = if nots { "NOT " } else { "" };
        q = format!("{not}(f1:float < {i} {op} {q})");
    }
    q
}

#[test]
fn nesting_at_the_limit_is_planned() {
    let max = nql::syntax::MAX_NESTING;
    assert!(matches!(run(nested(max, false)), Outcome::Planned));
    assert!(matches!(run(nested(max / 2, true)), Outcome::Planned));
    let d = run(nested(max + 1, false)).unwrap_refused();
    assert!(matches!(d.0[0].kind, DiagnosticKind::TooDeep { .. }), "{d}");
    // NOTs count as levels too.
    let d = run(nested(max / 2 + 1, true)).unwrap_refused();
    assert!(matches!(d.0[0].kind, DiagnosticKind::TooDeep { .. }), "{d}");
    let d = run(format!("NOT {}", nested(max, false))).unwrap_refused();
    assert!(matches!(d.0[0].kind, DiagnosticKind::TooDeep { .. }), "{d}");
}

#[test]
fn the_limit_leaves_half_the_stack_free() {
    // Lowering and DataFusion's optimizer at the deepest nesting, on 1 MiB: MAX_NESTING
    // leaves the other half of a 2 MiB thread to the rest of the engine.
    for q in [
        nested(nql::syntax::MAX_NESTING, false),
        nested(nql::syntax::MAX_NESTING / 2, true),
    ] {
        std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || {
                let checked = nql::check(&q, catalog(), now()).unwrap();
                let source = std::sync::Arc::new(LogicalTableSource::new(table().schema.clone()));
                let plan = nql::lower::plan(&checked, catalog(), "runs", source).unwrap();
                let state = datafusion::prelude::SessionContext::new().state();
                let optimized = state.optimize(&plan).unwrap();
                // LogicalTableSource takes the whole filter into the scan.
                assert!(optimized.display_indent().to_string().contains("full_filters"));
            })
            .unwrap()
            .join()
            .unwrap();
    }
}

#[test]
fn nots_at_the_limit_are_planned() {
    let max = nql::syntax::MAX_NESTING;
    assert!(matches!(
        run(format!("{}f1:float > 1", "NOT ".repeat(max))),
        Outcome::Planned
    ));
    let d = run(format!("{}f1:float > 1", "NOT ".repeat(max + 1))).unwrap_refused();
    assert!(matches!(d.0[0].kind, DiagnosticKind::TooDeep { .. }), "{d}");
}

#[test]
fn a_small_stack_gives_an_error_not_a_crash() {
    // On a 128 KiB thread, pest's stack guard stops the parser: still a diagnostic.
    let q = nested(nql::syntax::MAX_NESTING, false);
    let d = std::thread::Builder::new()
        .stack_size(128 << 10)
        .spawn(move || nql::parse(&q).err())
        .unwrap()
        .join()
        .unwrap();
    if let Some(d) = d {
        assert!(matches!(d.0[0].kind, DiagnosticKind::TooDeep { .. }), "{d}");
    }
}

#[test]
fn ten_thousand_nots() {
    let d = refused(format!("{}f1:float > 1", "NOT ".repeat(10_000)));
    assert!(matches!(d.0[0].kind, DiagnosticKind::TooDeep { .. }), "{d}");
    assert_eq!(d.0.len(), 1, "one error, not one per NOT");
}

#[test]
fn ten_thousand_nots_without_a_clause() {
    let d = refused("NOT ".repeat(10_000));
    assert!(!d.0.is_empty());
}

#[test]
fn hundred_thousand_clause_or() {
    let q = (0..100_000)
        .map(|i| format!("`params/batch_size`:int = {i}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    assert!(matches!(
        timed(Duration::from_secs(60), || run(q)),
        Outcome::Planned
    ));
}

// The parser takes some 70 µs per clause in the dev profile (pest is not optimised there), so
// only the OR has the full 100,000 clauses; 30,000 are enough to show that the other paths
// are not quadratic.

#[test]
fn thirty_thousand_clause_and_of_unknown_attributes() {
    // Every clause warns (with a did-you-mean search): the warnings must not be quadratic.
    let q = (0..30_000)
        .map(|i| format!("`nosuch/{i}`:float > 1"))
        .collect::<Vec<_>>()
        .join(" AND ");
    assert!(matches!(
        timed(Duration::from_secs(60), || run(q)),
        Outcome::Planned
    ));
}

#[test]
fn thirty_thousand_clause_or_of_errors() {
    let q = (0..30_000)
        .map(|i| format!("`sys/failed`:bool > {i}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let d = timed(Duration::from_secs(60), || refused(q));
    assert_eq!(d.0.len(), 30_000, "every error is reported");
}

#[test]
fn one_megabyte_string_value() {
    let q = format!("`sys/name`:string CONTAINS \"{}\"", "x".repeat(1 << 20));
    assert!(matches!(run(q), Outcome::Planned));
}

#[test]
fn one_megabyte_name() {
    let q = format!("`{}`:string EXISTS", "n".repeat(1 << 20));
    assert!(matches!(run(q), Outcome::Planned));
}

#[test]
fn one_megabyte_of_white_space() {
    assert!(matches!(run(" \n\t".repeat(350_000)), Outcome::Planned));
}

#[test]
fn one_megabyte_unterminated_string() {
    let q = format!("`sys/name`:string = \"{}", "x\\\"".repeat(350_000));
    let d = refused(q);
    assert!(matches!(d.0[0].kind, DiagnosticKind::UnterminatedString), "{d}");
}

#[test]
fn one_megabyte_of_garbage() {
    let q = "=(\"'`)!<".repeat(130_000);
    let _ = timed(Duration::from_secs(10), || refused(q));
}

#[test]
fn many_strings_then_an_unterminated_one() {
    // Many strings: the unterminated-string search must stay linear.
    let q = "x:string = \"\" OR ".repeat(20_000) + "x:string = \"";
    let d = timed(Duration::from_secs(10), || refused(q));
    assert!(matches!(d.0[0].kind, DiagnosticKind::UnterminatedString), "{d}");
}

#[test]
fn long_regex() {
    // 200 KB (the regex crate compiles slowly without optimisations).
    let q = format!("`sys/name`:string MATCHES \"{}\"", "(a|b)*".repeat(35_000));
    // Either compiled or refused as too big: never a hang.
    let _ = timed(Duration::from_secs(30), || run(q));
}

#[test]
fn nul_bytes() {
    assert!(matches!(
        run("`sys/name`:string = \"a\0b\"".into()),
        Outcome::Planned
    ));
    assert!(matches!(run("`a\0b`:string EXISTS".into()), Outcome::Planned));
    let _ = refused("sys/name:string = a\0b AND \0".into());
    let _ = refused("\0".into());
}

#[test]
fn invalid_regexes() {
    for pattern in [
        "(",
        ")",
        "[",
        "a{5,1}",
        "\\\\",
        "(?<",
        "\\p{Nope}",
        "a{99999999}",
        "x{2}{",
        "(?z)",
    ] {
        let q = format!("`sys/name`:string MATCHES '{pattern}'");
        let d = refused(q.clone());
        assert!(matches!(d.0[0].kind, DiagnosticKind::BadRegex { .. }), "{q}: {d}");
    }
}

#[test]
fn huge_regex_repetition_is_refused() {
    let d = refused("`sys/name`:string MATCHES \"(\\w{1000}){1000}\"".into());
    assert!(matches!(d.0[0].kind, DiagnosticKind::BadRegex { .. }), "{d}");
}

#[test]
fn numbers_with_huge_exponents() {
    for value in [
        "1e999999999999999999",
        "0e999999999999999999",
        "0e-999999999999999999",
        "1e-999999999999999999",
        "0e9223372036854775807kB",
        "1e9223372036854775807kB",
        "1e-9223372036854775808",
        "99999999999999999999999999999999999999999999999999999999999999999",
        "1e308KiB",
    ] {
        let q = format!("`f1`:float > {value}");
        let _ = timed(Duration::from_secs(2), || run(q.clone()));
        let q = format!("`sys/size`:int > {value}");
        let _ = timed(Duration::from_secs(2), || run(q.clone()));
    }
}

#[test]
fn datetimes_at_the_edges() {
    for value in [
        "-999999999y",
        "-999999999M",
        "-999999999w",
        "-999999999d",
        "-999999999s",
        "9999-12-31T23:59:59.999999999+23:59",
        "0000-01-01T00:00:00-23:59",
        "2262-04-12T00:00:00Z",
        "1677-09-21T00:00:00Z",
    ] {
        for column in [
            "sys/creation_time",
            "sys/ping_time",
            "sys/modification_time",
            "info/release_date",
        ] {
            let _ = run(format!("`{column}`:datetime > \"{value}\""));
        }
    }
}

#[test]
fn long_lines_of_unicode() {
    let q = format!(
        "`{}`:string = \"{}\"",
        "模型".repeat(100_000),
        "🐢".repeat(100_000)
    );
    assert!(matches!(run(q), Outcome::Planned));
    let _ = refused(format!("{} = 1", "χ²".repeat(100_000)).replace("= 1", "1"));
}

impl Outcome {
    fn unwrap_refused(self) -> Diagnostics {
        match self {
            Outcome::Refused(d) => d,
            Outcome::Planned => panic!("the query was planned"),
        }
    }
}

#[test]
fn long_multi_line_queries_keep_their_line_and_column() {
    let filler = "`sys/name`:string = \"x\" OR ".repeat(120);
    let q = format!("{filler}\n{filler}`sys/failed`:bool = maybe\nOR f1:float > 1");
    let d = refused(q.clone());
    let out = d.render(&q, false);
    assert!(out.contains(" 2 │ "), "{out}");
    assert!(out.contains("not a bool"), "{out}");
    assert!(out.lines().all(|l| l.chars().count() < 400), "{out}");
}

#[test]
fn excerpts_cut_at_character_boundaries() {
    // Multi-byte characters and multi-byte white space (U+3000) around the cut points.
    for filler in ["模型", "🚀\u{3000}", "\u{3000}", "é "] {
        for pad in 0..4 {
            let q = format!(
                "`{}{}`:bool = maybe OR `{}`:string EXISTS",
                "x".repeat(pad),
                filler.repeat(700),
                filler.repeat(700)
            );
            let d = refused(q.clone());
            assert!(d.render(&q, false).contains("not a bool"));
        }
    }
}
