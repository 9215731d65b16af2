//! ruff-style fixture directories: every `tests/queries/ok/*.nql` must parse and pass
//! analysis against the test catalog, every `tests/queries/err/*.nql` must be refused.
//! Each file gets one insta snapshot (`tests/snapshots/`): the tree, the canonical text and
//! the checked query for good ones, the rendered diagnostics for bad ones.
//!
//! A fixture file holds one query; a single trailing newline is not part of it.

use std::fmt::Write as _;
use std::path::Path;

use nql::ast::{Expr, ExprKind, Query, Test};
use nql::{Diagnostics, Span};

use crate::common::check;

fn read_query(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.strip_suffix('\n').unwrap_or(&text).to_string()
}

fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}

#[test]
fn ok() {
    snapshot_settings().bind(|| {
        insta::glob!("../queries", "ok/*.nql", |path| {
            let source = read_query(path);
            let mut out = String::new();
            let query = nql::parse(&source).unwrap_or_else(|e| {
                panic!("{} does not parse:\n{}", path.display(), e.render(&source, false))
            });
            check_spans(&source, &query);
            let canonical = query.to_string();
            // Canonical text parses back to the same tree and prints identically.
            let mut again = nql::parse(&canonical)
                .unwrap_or_else(|e| panic!("canonical {canonical:?} does not parse: {e}"));
            assert_eq!(again.to_string(), canonical, "canonical text is not a fixpoint");
            let mut cleared = query.clone();
            cleared.clear_spans();
            again.clear_spans();
            assert_eq!(cleared, again, "canonical text parses to another tree");

            writeln!(out, "---- query\n{source}\n---- canonical\n{canonical}").unwrap();
            match check(&source) {
                Ok(checked) => {
                    let predicate = checked.predicate.map_or_else(|| "TRUE".into(), |p| p.to_string());
                    writeln!(out, "---- checked\n{predicate}").unwrap();
                    for w in &checked.warnings {
                        assert!(!w.is_error());
                        writeln!(out, "---- warning\n{}", w.render(&source, false).trim_end()).unwrap();
                    }
                }
                Err(e) => panic!("{} is refused:\n{}", path.display(), e.render(&source, false)),
            }
            writeln!(out, "---- ast\n{query:#?}").unwrap();
            insta::assert_snapshot!(out);
        });
    });
}

#[test]
fn err() {
    snapshot_settings().bind(|| {
        insta::glob!("../queries", "err/*.nql", |path| {
            let source = read_query(path);
            let diagnostics: Diagnostics = match check(&source) {
                Ok(c) => panic!(
                    "{} is accepted as {:?}",
                    path.display(),
                    c.predicate.map(|p| p.to_string())
                ),
                Err(e) => e,
            };
            assert!(diagnostics.errors().next().is_some(), "refused without an error");
            for d in &diagnostics.0 {
                assert!(
                    d.span.start <= d.span.end && d.span.end <= source.len(),
                    "span {:?} outside the query",
                    d.span
                );
                assert!(!d.label.is_empty(), "no label: {d}");
                for (s, _) in &d.related {
                    assert!(s.end <= source.len(), "related span {s:?} outside the query");
                }
            }
            let out = format!(
                "---- query\n{source}\n---- diagnostics\n{}",
                diagnostics.render(&source, false)
            );
            insta::assert_snapshot!(out);
        });
    });
}

/// ruff's harness checks that node ranges nest and stay inside the source; so do we.
fn check_spans(source: &str, query: &Query) {
    let within = |outer: Span, inner: Span, what: &str| {
        assert!(
            outer.start <= inner.start && inner.end <= outer.end && inner.start <= inner.end,
            "{what} span {inner:?} is not inside {outer:?}"
        );
    };
    within(Span::new(0, source.len()), query.span, "query");
    fn walk(e: &Expr, parent: Span, within: &dyn Fn(Span, Span, &str)) {
        within(parent, e.span, "expression");
        match &e.kind {
            ExprKind::Or(items) | ExprKind::And(items) => {
                assert!(items.len() >= 2, "an n-ary node with {} items", items.len());
                for w in items.windows(2) {
                    assert!(
                        w[0].span.end <= w[1].span.start,
                        "operands overlap or are out of order"
                    );
                }
                items.iter().for_each(|i| walk(i, e.span, within));
            }
            ExprKind::Not(inner) => walk(inner, e.span, within),
            ExprKind::Clause(c) => {
                within(e.span, c.span, "clause");
                let r = &c.reference;
                within(c.span, r.span, "reference");
                within(r.span, r.name.span, "name");
                for s in [
                    r.attr_type.map(|t| t.span),
                    r.result_type.map(|t| t.span),
                    r.aggregate.map(|a| a.span),
                ]
                .into_iter()
                .flatten()
                {
                    within(r.span, s, "type or aggregate");
                }
                match &c.test {
                    Test::Exists { span, .. } => within(c.span, *span, "EXISTS"),
                    Test::Compare { op, value, .. } => {
                        within(c.span, op.span, "operator");
                        within(c.span, value.span, "value");
                        assert!(r.span.end <= op.span.start && op.span.end <= value.span.start);
                    }
                }
            }
        }
    }
    if let Some(e) = &query.expr {
        walk(e, query.span, &within);
    }
}
