//! Canonical printing, sqlparser style: `verified(q)` parses `q`, prints it and requires the
//! same text back; `parses_to(q, canonical)` covers the spellings that normalise. A proptest
//! prints generated trees and parses them again.

use nql::ast::{Clause, Expr, ExprKind, Query, Reference, Test, Value};
use nql::{Aggregate, AttrType, Operator, Span, Spanned};
use proptest::prelude::*;

/// Parses `q`, requires its canonical text to be `q` itself, and returns the tree.
#[track_caller]
fn verified(q: &str) -> Query {
    let query = nql::parse(q).unwrap_or_else(|e| panic!("{q:?} does not parse: {e}"));
    assert_eq!(query.to_string(), q, "canonical text differs");
    query
}

/// Parses `q`, requires its canonical text to be `canonical`, and that text to be verified.
#[track_caller]
fn parses_to(q: &str, canonical: &str) -> Query {
    let query = nql::parse(q).unwrap_or_else(|e| panic!("{q:?} does not parse: {e}"));
    assert_eq!(query.to_string(), canonical, "canonical text of {q:?}");
    let mut again = verified(canonical);
    let mut first = query.clone();
    first.clear_spans();
    again.clear_spans();
    assert_eq!(
        first, again,
        "{q:?} and its canonical text parse to different trees"
    );
    query
}

#[test]
fn canonical_text_is_verified() {
    for q in [
        "",
        "`f1`:float >= 0.85",
        "`sys/tags`:stringSet CONTAINS \"some-tag\" AND `f1`:float >= 0.85",
        "`a`:int = 1 OR `b`:int = 2 AND `c`:int = 3",
        "(`a`:int = 1 OR `b`:int = 2) AND `c`:int = 3",
        "`a`:int = 1 OR (`b`:int = 2 OR `c`:int = 3)",
        "`a`:int = 1 AND (`b`:int = 2 AND `c`:int = 3)",
        "NOT (`a`:int = 1 AND `b`:int = 2)",
        "NOT NOT `a`:int = 1",
        "NOT `a` EXISTS",
        "`a` NOT EXISTS",
        "`a`:string NOT CONTAINS \"x\"",
        "`a`:string NOT MATCHES \"^x\"",
        "`a`:int NOT != 1",
        "last(`metrics/acc`):float >= 0.85",
        "average(`accuracy`:floatSeries) > 0.8",
        "max(`m`:floatSeries):float < 1",
        "variance(`m`) = 0",
        "min(`m`) NOT < -inf",
        "`sys/size`:float > 800kb",
        "`sys/size`:float > \"800 kb\"",
        "`x` = bare-value",
        "`x`:string = \"say \\\"hi\\\"\"",
        "`x`:string = \"back\\\\slash\"",
        "`x`:string = \"exp\\\\d\"",
        "`weird name: (with) \"quotes\" and 'more'`:string EXISTS",
        "`line1\nline2`:int >= 2",
        "`zażółć/χ²/模型` < 10",
        "``:string EXISTS",
        "`x`:string = \"\"",
        "`x`:string = \"tab\tand\nnewline\"",
    ] {
        verified(q);
    }
}

#[test]
fn spellings_normalise() {
    parses_to(
        "sys/tags:stringSet CONTAINS 'it\\'s'",
        "`sys/tags`:stringSet CONTAINS \"it's\"",
    );
    parses_to("`a`:string == 'x'", "`a`:string = \"x\"");
    parses_to("a:integer=1", "`a`:int = 1");
    parses_to(
        "not a:bool = true and b:bool = false",
        "NOT `a`:bool = true AND `b`:bool = false",
    );
    parses_to(
        "x:string contains y or z:string matches w",
        "`x`:string CONTAINS y OR `z`:string MATCHES w",
    );
    parses_to("a exists", "`a` EXISTS");
    parses_to("a not exists", "`a` NOT EXISTS");
    parses_to(
        "LAST(a) > 1 AND Average(b:floatSeries):float < 2",
        "last(`a`) > 1 AND average(`b`:floatSeries):float < 2",
    );
    parses_to("((((a:int = 1))))", "`a`:int = 1");
    parses_to(
        "((a:int = 1) AND (b:int = 2)) AND (c:int = 3)",
        "(`a`:int = 1 AND `b`:int = 2) AND `c`:int = 3",
    );
    parses_to(
        "(a:int = 1 AND b:int = 2) OR c:int = 3",
        "`a`:int = 1 AND `b`:int = 2 OR `c`:int = 3",
    );
    parses_to("  \t\n a : int\n=\t1  ", "`a`:int = 1");
    parses_to(
        "last ( a : floatSeries ) : float > 1",
        "last(`a`:floatSeries):float > 1",
    );
    parses_to("a:string = \"exp\\d\"", "`a`:string = \"exp\\\\d\"");
    parses_to("a:string = 'say \"hi\"'", "`a`:string = \"say \\\"hi\\\"\"");
    parses_to("a:string = 'back\\\\slash'", "`a`:string = \"back\\\\slash\"");
    parses_to("a:string = 'keep\\\"'", "`a`:string = \"keep\\\\\\\"\"");
    parses_to(" \n\t ", "");
}

#[test]
fn printing_keeps_values_as_written() {
    // Values are text until analysis reads them: `True`, `0.50`, `800kb` print unchanged.
    verified("`a`:bool = True");
    verified("`a`:float < 0.50");
    verified("`a`:float > 1E2");
    verified("`a`:experimentState = IDLE");
}

// ---- proptest: print a generated tree, parse it back -------------------------------------

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        // Anything but a backquote: spaces, colons, quotes, parentheses, newlines, unicode.
        "[^`]{0,12}",
        "[a-z/_.-]{1,12}",
        Just("sys/creation_time".to_string()),
        Just("NOT".to_string()),
        Just("a OR b".to_string()),
        Just("f(x) = \"y\"".to_string()),
        Just("with:colon:string".to_string()),
        Just("line\nbreak\ttab".to_string()),
        Just("模型/χ²/🚀".to_string()),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let quoted = prop_oneof![
        "\\PC{0,10}",
        "[\"'\\\\ ()`\n\t]{0,6}",
        Just(String::new()),
        Just("a\\".to_string()),
        Just("\\\"".to_string()),
        Just("exp\\d".to_string()),
    ]
    .prop_map(|text| Value {
        text,
        quoted: true,
        span: Span::default(),
    });
    // A bare word: no white space or parentheses, not starting with a quote.
    let bare = prop_oneof![
        "[^ \t\r\n()\"']([^ \t\r\n()]{0,8})",
        Just("-1.5e3".to_string()),
        Just("800kb".to_string()),
        Just("2024-01-01T00:00:00+09:00".to_string()),
        Just("AND".to_string()),
        Just("NOT".to_string()),
        Just("==".to_string()),
        Just("a\"b'c`d".to_string()),
    ]
    .prop_map(|text| Value {
        text,
        quoted: false,
        span: Span::default(),
    });
    prop_oneof![quoted, bare]
}

fn attr_type() -> impl Strategy<Value = AttrType> {
    proptest::sample::select(AttrType::ALL.to_vec())
}

fn spanned<T: std::fmt::Debug + Clone>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Spanned<T>> {
    s.prop_map(|node| Spanned::new(node, Span::default()))
}

fn reference() -> impl Strategy<Value = Reference> {
    let plain =
        (name(), proptest::option::of(spanned(attr_type()))).prop_map(|(name, attr_type)| Reference {
            aggregate: None,
            name: Spanned::new(name, Span::default()),
            attr_type,
            result_type: None,
            span: Span::default(),
        });
    let aggregated = (
        spanned(proptest::sample::select(Aggregate::ALL.to_vec())),
        name(),
        proptest::option::of(spanned(attr_type())),
        proptest::option::of(spanned(attr_type())),
    )
        .prop_map(|(aggregate, name, attr_type, result_type)| Reference {
            aggregate: Some(aggregate),
            name: Spanned::new(name, Span::default()),
            attr_type,
            result_type,
            span: Span::default(),
        });
    prop_oneof![plain, aggregated]
}

fn operator() -> impl Strategy<Value = Operator> {
    use Operator::*;
    proptest::sample::select(vec![Eq, Ne, Lt, Le, Gt, Ge, Contains, Matches])
}

fn clause() -> impl Strategy<Value = Expr> {
    let test = prop_oneof![
        any::<bool>().prop_map(|negated| Test::Exists {
            negated,
            span: Span::default()
        }),
        (any::<bool>(), spanned(operator()), value()).prop_map(|(negated, op, value)| Test::Compare {
            negated,
            op,
            value
        }),
    ];
    (reference(), test).prop_map(|(reference, test)| Expr {
        kind: ExprKind::Clause(Clause {
            reference,
            test,
            span: Span::default(),
        }),
        span: Span::default(),
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = clause();
    // Depth 5 at most: parentheses and NOTs stay far below MAX_NESTING.
    leaf.prop_recursive(5, 40, 4, |inner| {
        let node = |kind| Expr {
            kind,
            span: Span::default(),
        };
        prop_oneof![
            inner.clone().prop_map(move |e| node(ExprKind::Not(Box::new(e)))),
            proptest::collection::vec(inner.clone(), 2..5).prop_map(move |items| node(ExprKind::And(items))),
            proptest::collection::vec(inner, 2..5).prop_map(move |items| node(ExprKind::Or(items))),
        ]
    })
}

fn query() -> impl Strategy<Value = Query> {
    proptest::option::of(expr()).prop_map(|expr| Query {
        expr,
        span: Span::default(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn printed_trees_parse_back(ast in query()) {
        let text = ast.to_string();
        let mut parsed = nql::parse(&text)
            .map_err(|e| TestCaseError::fail(format!("{text:?} does not parse: {e}")))?;
        prop_assert_eq!(parsed.to_string(), text.clone(), "printing is not a fixpoint");
        parsed.clear_spans();
        prop_assert_eq!(parsed, ast, "{:?} parses to another tree", text);
    }

    #[test]
    fn parsing_never_panics(text in "\\PC{0,40}") {
        let _ = nql::parse(&text).map_err(|e| e.render(&text, false));
    }

    #[test]
    fn parsing_query_like_text_never_panics(text in "[a-z`\"'()=<>!: NOTANDORXIScm0-9\\\\.-]{0,40}") {
        match nql::parse(&text) {
            Ok(q) => {
                // What parses prints to text that parses to the same tree.
                let mut again = nql::parse(&q.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let mut q = q;
                q.clear_spans();
                again.clear_spans();
                prop_assert_eq!(q, again);
            }
            Err(e) => {
                for d in &e.0 {
                    prop_assert!(d.span.end <= text.len());
                }
                let _ = e.render(&text, false);
            }
        }
    }
}
