//! One test per rule of the spec's sections 1 to 3 and 4.3 to 4.4, most of them one line
//! (jaq style). `shape!` shows the tree as an s-expression, `checks!` the checked query,
//! `refuses!` the first diagnostic's kind and the text under its caret, `warns!` the
//! warnings.

use chrono::{DateTime, TimeZone, Utc};
use nql::ast::{Expr, ExprKind};
use nql::{AttrType, DiagnosticKind, Severity};

use crate::common::{catalog, check, checked, refused};

/// The tree as an s-expression: `(or a (and b (not c)))`, a clause as its attribute path.
fn shape(query: &str) -> String {
    fn sexp(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Or(items) => format!("(or {})", items.iter().map(sexp).collect::<Vec<_>>().join(" ")),
            ExprKind::And(items) => format!("(and {})", items.iter().map(sexp).collect::<Vec<_>>().join(" ")),
            ExprKind::Not(inner) => format!("(not {})", sexp(inner)),
            ExprKind::Clause(c) => c.reference.name.node.clone(),
        }
    }
    let q = nql::parse(query).unwrap_or_else(|e| panic!("{query:?}: {e}"));
    q.expr.as_ref().map(sexp).unwrap_or_default()
}

/// `name: "query" => "(or a b)";`: the query parses to this shape.
macro_rules! shape {
    ($($name:ident: $q:expr => $s:expr;)*) => {$(
        #[test]
        fn $name() {
            assert_eq!(shape($q), $s, "{:?}", $q);
        }
    )*};
}

/// `name: "query" => "checked query";`: the query passes analysis and reads as this.
macro_rules! checks {
    ($($name:ident: $q:expr => $hir:expr;)*) => {$(
        #[test]
        fn $name() {
            assert_eq!(checked($q), $hir, "{:?}", $q);
        }
    )*};
}

/// `name: "query" => Kind { .. } @ "text";`: the query is refused; its first diagnostic is of
/// this kind and points at this text.
macro_rules! refuses {
    ($($name:ident: $q:expr => $kind:pat $(if $guard:expr)? , @ $at:expr;)*) => {$(
        #[test]
        fn $name() {
            let q: &str = $q;
            let d = refused(q);
            let first = &d.0[0];
            assert!(matches!(first.kind, $kind $(if $guard)?), "{q:?}: {d}");
            assert_eq!(first.span.text(q), $at, "{q:?}: {d}");
            assert_eq!(first.severity, Severity::Error);
        }
    )*};
}

/// `name: "query" => ["warning", ...];`: the query is accepted with these warnings
/// (`Diagnostic`'s one-line Display).
macro_rules! warns {
    ($($name:ident: $q:expr => [$($w:expr),* $(,)?];)*) => {$(
        #[test]
        fn $name() {
            let c = check($q).unwrap_or_else(|e| panic!("{:?}: {e}", $q));
            let warnings: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
            assert_eq!(warnings, [$($w),*] as [&str; 0 $(+ { let _ = $w; 1 })*], "{:?}", $q);
        }
    )*};
}

// ---- 1. Shape of a query ----------------------------------------------------------------

shape! {
    empty_query_matches_everything: "" => "";
    whitespace_only_query: " \t\r\n " => "";
    single_clause: "a:int = 1" => "a";
    and_binds_tighter_than_or: "a:int = 1 OR b:int = 2 AND c:int = 3" => "(or a (and b c))";
    and_binds_tighter_than_or_on_the_left: "a:int = 1 AND b:int = 2 OR c:int = 3" => "(or (and a b) c)";
    not_binds_tighter_than_and: "NOT a:int = 1 AND b:int = 2" => "(and (not a) b)";
    not_binds_tighter_than_or: "NOT a:int = 1 OR b:int = 2" => "(or (not a) b)";
    not_of_a_group: "NOT (a:int = 1 OR b:int = 2)" => "(not (or a b))";
    chains_are_flat: "a:int = 1 AND b:int = 2 AND c:int = 3 AND d:int = 4" => "(and a b c d)";
    or_chains_are_flat: "a:int = 1 OR b:int = 2 OR c:int = 3" => "(or a b c)";
    groups_keep_their_structure: "(a:int = 1 AND b:int = 2) AND c:int = 3" => "(and (and a b) c)";
    groups_on_the_right: "a:int = 1 OR (b:int = 2 OR c:int = 3)" => "(or a (or b c))";
    mixed_chain: "a:int = 1 OR b:int = 2 AND c:int = 3 OR d:int = 4 AND e:int = 5" => "(or a (and b c) (and d e))";
    redundant_parentheses_vanish: "((a:int = 1))" => "a";
    not_not_is_kept_in_the_tree: "NOT NOT a:int = 1" => "(not (not a))";
    not_before_a_clause_and_before_its_operator: "NOT a:int NOT = 1" => "(not a)";
    keywords_in_any_case: "a:int = 1 and b:int = 2 Or NoT c:int = 3" => "(or (and a b) (not c))";
    keywords_as_backquoted_names: "`AND`:int = 1 OR `NOT` EXISTS" => "(or AND NOT)";
    keyword_prefixes_are_names: "notes:int = 1 AND order:int = 2 AND android EXISTS" => "(and notes order android)";
    whitespace_is_free: "(a:int=1)OR(b:int=2)AND`c`:int=3" => "(or a (and b c))";
    whitespace_before_and_after_colons: "sys/state : experimentState = idle" => "sys/state";
    glued_keyword_after_backquote: "`a`:int=1 AND`b`:int=2" => "(and a b)";
    newlines_between_tokens: "a:int = 1\nAND\nb:int = 2" => "(and a b)";
    bare_name_characters: "sys/creation_time-2.x_y > 1" => "sys/creation_time-2.x_y";
    bare_unicode_names: "zażółć/χ²/模型 < 10" => "zażółć/χ²/模型";
    backquoted_odd_names: "`with space/and:colon (x) \"q\" 'q'` EXISTS" => "with space/and:colon (x) \"q\" 'q'";
    backquoted_raw_newline: "`line1\nline2` EXISTS" => "line1\nline2";
}

#[test]
fn aggregate_names_in_any_case() {
    for agg in ["average", "LAST", "Max", "mIn", "VARIANCE"] {
        let q = nql::parse(&format!("{agg}(`m`) > 1")).unwrap();
        assert!(q.to_string().starts_with(&agg.to_lowercase()), "{q}");
    }
}

#[test]
fn both_aggregate_spellings_read_the_same_series() {
    let a = checked("last(`metrics/acc`):float > 0.5");
    assert_eq!(a, checked("last(`metrics/acc`:floatSeries) > 0.5"));
    assert_eq!(a, checked("`metrics/acc`:floatSeries > 0.5"));
    assert_eq!(a, checked("last(`metrics/acc`:floatSeries):float > 0.5"));
    assert_eq!(a, "last(`metrics/acc`:floatSeries) > 0.5");
}

checks! {
    type_names_are_camel_case: "sys/state:experimentState = idle AND sys/tags:stringSet EXISTS" =>
        "`sys/state`:experimentState = inactive AND `sys/tags`:stringSet EXISTS";
    integer_is_int: "params/batch_size:integer = 64" => "`params/batch_size`:int = 64";
    not_not_x_is_x: "NOT NOT flag:bool = true" => "NOT NOT `flag`:bool = true";
    not_before_the_operator_is_not_of_the_clause: "f1:float NOT > 1" => "NOT `f1`:float > 1";
    not_equal_is_not_of_equal: "f1:float != 1" => "NOT `f1`:float = 1";
    not_not_equal: "f1:float NOT != 1" => "NOT NOT `f1`:float = 1";
    postfix_exists: "f1:float EXISTS" => "`f1`:float EXISTS";
    postfix_not_exists: "f1:float NOT EXISTS" => "NOT `f1`:float EXISTS";
    empty_query_is_true: "" => "TRUE";
}

refuses! {
    empty_parentheses: "()" => DiagnosticKind::EmptyGroup, @ "()";
    empty_parentheses_inside: "(f1:float > 1) AND ()" => DiagnosticKind::EmptyGroup, @ "()";
    dangling_and: "f1:float > 1 AND" => DiagnosticKind::Syntax { .. }, @ "";
    dangling_or_before_parenthesis: "(f1:float > 1 OR)" => DiagnosticKind::Syntax { .. }, @ ")";
    leading_and: "AND f1:float > 1" => DiagnosticKind::Syntax { .. }, @ "AND";
    dangling_operator: "f1:float >" => DiagnosticKind::Syntax { .. }, @ "";
    operator_without_value_before_and: "f1:float > AND flag:bool = true" => DiagnosticKind::Syntax { .. }, @ "AND";
    not_not_alone: "NOT NOT" => DiagnosticKind::Syntax { .. }, @ "";
    exists_exists: "f1:float EXISTS EXISTS" => DiagnosticKind::Syntax { .. }, @ "EXISTS";
    bang_alone: "flag:bool ! true" => DiagnosticKind::Syntax { .. }, @ "!";
    empty_aggregate: "last() > 1" => DiagnosticKind::Syntax { .. }, @ "()";
    unknown_aggregate: "median(`m`) > 1" => DiagnosticKind::Syntax { .. }, @ "median";
    unterminated_double_quote: "a:string = \"abc" => DiagnosticKind::UnterminatedString, @ "\"";
    unterminated_single_quote: "a:string = 'abc" => DiagnosticKind::UnterminatedString, @ "'";
    unterminated_name: "`abc = 1" => DiagnosticKind::UnterminatedName, @ "`";
    backquote_inside_a_name: "`weird`name` = 1" => DiagnosticKind::BackquoteInName, @ "`weird`name`";
    capitalised_type: "f1:Float > 1" => DiagnosticKind::UnknownType { .. }, @ "Float";
    capitalised_string_set: "sys/tags:StringSet CONTAINS x" => DiagnosticKind::UnknownType { .. }, @ "StringSet";
    lower_case_experiment_state: "sys/state:experimentstate = idle" => DiagnosticKind::UnknownType { .. }, @ "experimentstate";
}

#[test]
fn a_wrong_type_name_suggests_the_closest() {
    for (wrong, right) in [
        ("Float", "float"),
        ("StringSet", "stringSet"),
        ("experimentstate", "experimentState"),
        ("Integer", "int"),
        ("floatseries", "floatSeries"),
        ("bol", "bool"),
        ("datetme", "datetime"),
    ] {
        let d = refused(&format!("x:{wrong} EXISTS"));
        let help = d.0[0].help.clone().unwrap_or_default();
        assert!(help.contains(&format!("`{right}`")), "{wrong}: {help}");
    }
    let d = refused("x:timestamp EXISTS");
    assert!(
        d.0[0]
            .help
            .as_deref()
            .unwrap_or_default()
            .contains("the types are"),
        "{d}"
    );
}

#[test]
fn the_backquote_message_says_why() {
    let d = refused("`weird`name` == \"weird`name\"");
    assert_eq!(
        d.0[0].kind.to_string(),
        "a backquoted name cannot contain a backquote"
    );
    assert!(d.0[0].help.as_deref().unwrap().contains("no escape"));
}

// Strings: double or single quotes; `\"` (`\'`) is the quote, `\\` a backslash, any other
// backslash is kept; raw newlines and tabs belong to the value.
checks! {
    double_quoted_string: r#"sys/name:string = "a b""# => r#"`sys/name`:string = "a b""#;
    single_quoted_string: "sys/name:string = 'a b'" => r#"`sys/name`:string = "a b""#;
    escaped_double_quote: r#"sys/name:string = "say \"hi\"""# => r#"`sys/name`:string = "say \"hi\"""#;
    escaped_single_quote: r"sys/name:string = 'it\'s'" => r#"`sys/name`:string = "it's""#;
    escaped_backslash: r#"sys/name:string = "a\\b""# => r#"`sys/name`:string = "a\\b""#;
    other_backslashes_are_kept: r#"sys/name:string MATCHES "exp\d""# => r#"`sys/name`:string MATCHES "exp\\d""#;
    backslash_before_the_other_quote_is_kept: r#"sys/name:string = "it\'s""# => r#"`sys/name`:string = "it\\'s""#;
    other_quote_inside: r#"sys/name:string = 'say "hi"'"# => r#"`sys/name`:string = "say \"hi\"""#;
    raw_tab_and_newline_are_part_of_the_value: "sys/name:string = \"a\tb\nc\"" => "`sys/name`:string = \"a\tb\nc\"";
    bare_values_are_text: "sys/name:string = blob-fish_1" => r#"`sys/name`:string = "blob-fish_1""#;
}

#[test]
fn the_exact_text_of_strings() {
    let text = |q: &str| match nql::parse(q).unwrap().expr.unwrap().kind {
        ExprKind::Clause(c) => match c.test {
            nql::ast::Test::Compare { value, .. } => value.text,
            t => panic!("{t:?}"),
        },
        k => panic!("{k:?}"),
    };
    assert_eq!(text(r#"a = "exp\d""#), r"exp\d");
    assert_eq!(text(r#"a = "\"""#), "\"");
    assert_eq!(text(r"a = '\''"), "'");
    assert_eq!(text(r#"a = "\\""#), "\\");
    assert_eq!(text(r#"a = "\\\"""#), "\\\"");
    assert_eq!(text(r"a = 'a\\\'b'"), r"a\'b");
    assert_eq!(text("a = \"\t\n\""), "\t\n");
    assert_eq!(text("a = \"\""), "");
    assert_eq!(text("a = '(x) AND `y`'"), "(x) AND `y`");
}

// ---- 2. Types and operators ---------------------------------------------------------------

/// The spec's operator table, row by row: the operators each type allows, as written in the
/// spec (not taken from the code).
const TABLE: [(&str, &str, &[&str]); 13] = [
    ("int", "1", &["=", "==", "!=", "<", "<=", ">", ">=", "EXISTS"]),
    ("float", "1.5", &["=", "==", "!=", "<", "<=", ">", ">=", "EXISTS"]),
    ("bool", "true", &["=", "==", "!=", "EXISTS"]),
    (
        "string",
        "x",
        &[
            "=", "==", "!=", "<", "<=", ">", ">=", "CONTAINS", "MATCHES", "EXISTS",
        ],
    ),
    (
        "datetime",
        "2024-01-01",
        &["=", "==", "!=", "<", "<=", ">", ">=", "EXISTS"],
    ),
    ("experimentState", "idle", &["=", "==", "!=", "EXISTS"]),
    ("artifact", "9a11", &["=", "==", "!=", "EXISTS"]),
    ("stringSet", "tag", &["CONTAINS", "EXISTS"]),
    (
        "floatSeries",
        "0.5",
        &["=", "==", "!=", "<", "<=", ">", ">=", "EXISTS"],
    ),
    (
        "stringSeries",
        "done",
        &["=", "==", "!=", "CONTAINS", "MATCHES", "EXISTS"],
    ),
    ("fileRef", "x", &["EXISTS"]),
    ("fileRefSeries", "x", &["EXISTS"]),
    ("histogramSeries", "x", &["EXISTS"]),
];

const OPERATORS: [&str; 10] = [
    "=", "==", "!=", "<", "<=", ">", ">=", "CONTAINS", "MATCHES", "EXISTS",
];

#[test]
fn operator_table_row_by_row() {
    let mut failures = Vec::new();
    for (ty, value, allowed) in TABLE {
        for op in OPERATORS {
            for not in ["", "NOT "] {
                let q = if op == "EXISTS" {
                    format!("`x`:{ty} {not}EXISTS")
                } else {
                    format!("`x`:{ty} {not}{op} \"{value}\"")
                };
                let result = check(&q);
                let ok = allowed.contains(&op);
                match (&result, ok) {
                    (Ok(_), true) => {}
                    (Err(d), false) if matches!(d.0[0].kind, DiagnosticKind::OperatorNotAllowed { .. }) => {
                        // The error names the operator, the type and what the type allows.
                        let d = &d.0[0];
                        let text = d.to_string();
                        assert!(text.contains(&format!("`{}`", op.replace("==", "="))), "{text}");
                        assert!(text.contains(&format!("`{ty}`")), "{text}");
                        assert!(d.help.as_deref().unwrap_or_default().contains("EXISTS"), "{text}");
                        assert_eq!(d.span.text(&q), op);
                    }
                    _ => failures.push(format!(
                        "{q}: {:?}",
                        result.map(|c| c.predicate.map(|p| p.to_string()))
                    )),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn operator_table_on_aggregates() {
    // An aggregate yields a float: the float operators, nothing else.
    for agg in ["average", "last", "max", "min", "variance"] {
        for op in OPERATORS {
            let q = if op == "EXISTS" {
                format!("{agg}(`x`:floatSeries) EXISTS")
            } else {
                format!("{agg}(`x`:floatSeries) {op} 0.5")
            };
            let allowed = !matches!(op, "CONTAINS" | "MATCHES");
            assert_eq!(check(&q).is_ok(), allowed, "{q}");
        }
    }
    // `last` of a string series reads the last entry: string series operators.
    for op in OPERATORS {
        let q = if op == "EXISTS" {
            "last(`x`:stringSeries) EXISTS".to_string()
        } else {
            format!("last(`x`:stringSeries) {op} \"a\"")
        };
        let allowed = matches!(op, "=" | "==" | "!=" | "CONTAINS" | "MATCHES" | "EXISTS");
        assert_eq!(check(&q).is_ok(), allowed, "{q}");
    }
}

refuses! {
    aggregates_apply_to_float_series_only: "average(`f1`:float) > 1" => DiagnosticKind::AggregateNotAllowed { .. }, @ "average";
    only_last_applies_to_string_series: "max(`logs/stdout`:stringSeries) = \"x\"" => DiagnosticKind::AggregateNotAllowed { .. }, @ "max";
    aggregate_of_an_untyped_plain_attribute: "max(f1) > 1" => DiagnosticKind::AggregateNotAllowed { .. }, @ "max";
    aggregate_result_is_a_float: "last(`metrics/acc`):bool = true" => DiagnosticKind::ConflictingTypes { .. }, @ "bool";
    aggregate_result_and_series_disagree: "last(`logs/stdout`:stringSeries):float > 1" => DiagnosticKind::ConflictingTypes { .. }, @ "float";
    operator_error_points_at_the_operator: "sys/tags:stringSet NOT MATCHES \"x\"" => DiagnosticKind::OperatorNotAllowed { .. }, @ "MATCHES";
    bad_pattern_points_into_the_pattern: "sys/name:string MATCHES \"ab(c\"" => DiagnosticKind::BadRegex { .. }, @ "(";
    bad_pattern_after_escapes_points_at_the_value: r#"sys/name:string MATCHES "\"(\"""# => DiagnosticKind::BadRegex { .. }, @ r#""\"(\"""#;
}

checks! {
    float_series_without_aggregate_means_last: "`metrics/acc`:floatSeries < 1" => "last(`metrics/acc`:floatSeries) < 1";
    string_series_reads_the_last_entry: "`logs/stdout`:stringSeries CONTAINS \"x\"" => "last(`logs/stdout`:stringSeries) CONTAINS \"x\"";
    plain_float_never_reads_the_series: "`accuracy`:float > 0.5" => "`accuracy`:float > 0.5";
    every_aggregate: "average(`accuracy`) > 0 AND variance(`accuracy`) > 0 AND max(`accuracy`) > 0 AND min(`accuracy`) > 0" =>
        "average(`accuracy`:floatSeries) > 0 AND variance(`accuracy`:floatSeries) > 0 AND max(`accuracy`:floatSeries) > 0 AND min(`accuracy`:floatSeries) > 0";
    string_set_contains_is_an_element_test: "sys/tags:stringSet CONTAINS \"my tag\"" => "`sys/tags`:stringSet CONTAINS \"my tag\"";
    contains_and_matches_keep_case: "sys/name:string CONTAINS \"BlobFish\" AND sys/name:string MATCHES \"^Exp\"" =>
        "`sys/name`:string CONTAINS \"BlobFish\" AND `sys/name`:string MATCHES \"^Exp\"";
    matches_takes_re2_syntax: r#"sys/name:string MATCHES "(?i)^exp-\d+$|\p{Greek}""# => r#"`sys/name`:string MATCHES "(?i)^exp-\\d+$|\\p{Greek}""#;
}

// ---- 3. Values ------------------------------------------------------------------------------

checks! {
    value_quoted_or_not: "f1:float = \"0.01\" AND f1:float = 0.01 AND flag:bool = \"True\" AND flag:bool = true AND sys/state:experimentState = idle" =>
        "`f1`:float = 0.01 AND `f1`:float = 0.01 AND `flag`:bool = true AND `flag`:bool = true AND `sys/state`:experimentState = inactive";
    integers: "sys/size:int = 64 AND sys/size:int = -3 AND sys/size:int = +7 AND sys/size:int = 64.0" =>
        "`sys/size`:int = 64 AND `sys/size`:int = -3 AND `sys/size`:int = 7 AND `sys/size`:int = 64";
    decimals_and_exponents: "f1:float = 0.5 AND f1:float = .5 AND f1:float = 5. AND f1:float = 1e-3 AND f1:float = 2.5E+2" =>
        "`f1`:float = 0.5 AND `f1`:float = 0.5 AND `f1`:float = 5 AND `f1`:float = 0.001 AND `f1`:float = 250";
    inf_and_nan_in_any_case: "f1:float = inf AND f1:float = -INF AND f1:float = NaN AND f1:float = \"Infinity\" AND f1:float = nan" =>
        "`f1`:float = inf AND `f1`:float = -inf AND `f1`:float = NaN AND `f1`:float = inf AND `f1`:float = NaN";
    sizes_in_powers_of_1000: "sys/size:int = 1B AND sys/size:int = 1kB AND sys/size:int = 1KB AND sys/size:int = 1kb AND sys/size:int = 1MB AND sys/size:int = 1gb AND sys/size:int = 1TB AND sys/size:int = 1PB" =>
        "`sys/size`:int = 1 AND `sys/size`:int = 1000 AND `sys/size`:int = 1000 AND `sys/size`:int = 1000 AND `sys/size`:int = 1000000 AND `sys/size`:int = 1000000000 AND `sys/size`:int = 1000000000000 AND `sys/size`:int = 1000000000000000";
    sizes_in_powers_of_1024: "sys/size:int = 1KiB AND sys/size:int = 1MiB AND sys/size:int = 1gib AND sys/size:int = 1TiB" =>
        "`sys/size`:int = 1024 AND `sys/size`:int = 1048576 AND `sys/size`:int = 1073741824 AND `sys/size`:int = 1099511627776";
    sizes_with_or_without_a_space: "sys/size:float > 800kb AND sys/size:float > \"800 kb\" AND sys/size:float > 800000 AND sys/size:int >= \"1.5 GB\" AND sys/size:int = 0.5KiB" =>
        "`sys/size`:float > 800000 AND `sys/size`:float > 800000 AND `sys/size`:float > 800000 AND `sys/size`:int >= 1500000000 AND `sys/size`:int = 512";
    fractional_sizes_stay_fractional: "sys/size:float = 0.0001kB" => "`sys/size`:float = 0.1";
    int_clause_with_a_fraction: "params/epochs:int > 2.5" => "`params/epochs`:int > 2.5";
    bools_in_any_case: "flag:bool = TRUE AND flag:bool = False AND flag:bool = 'true' AND flag:bool != fAlSe" =>
        "`flag`:bool = true AND `flag`:bool = false AND `flag`:bool = true AND NOT `flag`:bool = false";
    datetime_forms: "sys/ping_time:datetime = \"2024-01-01T00:00:00Z\" AND sys/ping_time:datetime = \"2024-01-01T09:00:00+09\" AND sys/ping_time:datetime = \"2024-01-01T09:00:00+09:00\" AND sys/ping_time:datetime = \"2024-01-01T09:00:00+0900\" AND sys/ping_time:datetime = \"2023-12-31T19:00:00-05:00\"" =>
        "`sys/ping_time`:datetime = \"2024-01-01T00:00:00Z\" AND `sys/ping_time`:datetime = \"2024-01-01T00:00:00Z\" AND `sys/ping_time`:datetime = \"2024-01-01T00:00:00Z\" AND `sys/ping_time`:datetime = \"2024-01-01T00:00:00Z\" AND `sys/ping_time`:datetime = \"2024-01-01T00:00:00Z\"";
    datetime_without_offset_is_utc: "sys/ping_time:datetime = \"2024-01-01T09:30:00\"" => "`sys/ping_time`:datetime = \"2024-01-01T09:30:00Z\"";
    datetime_date_alone_is_midnight_utc: "sys/ping_time:datetime = 2024-01-01" => "`sys/ping_time`:datetime = \"2024-01-01T00:00:00Z\"";
    datetime_fractional_seconds: "sys/ping_time:datetime = \"2024-01-01T00:00:00.123456789Z\" AND sys/ping_time:datetime = \"2024-01-01T00:00:00.5+01:00\"" =>
        "`sys/ping_time`:datetime = \"2024-01-01T00:00:00.123456789Z\" AND `sys/ping_time`:datetime = \"2023-12-31T23:00:00.500Z\"";
    experiment_states_and_aliases: "sys/state:experimentState = active AND sys/state:experimentState = RUNNING AND sys/state:experimentState = Inactive AND sys/state:experimentState = idle" =>
        "`sys/state`:experimentState = active AND `sys/state`:experimentState = active AND `sys/state`:experimentState = inactive AND `sys/state`:experimentState = inactive";
    text_values_as_written: "dataset_version:artifact = 9A11 AND sys/tags:stringSet CONTAINS \" padded \" AND `logs/stdout`:stringSeries = Done" =>
        "`dataset_version`:artifact = \"9A11\" AND `sys/tags`:stringSet CONTAINS \" padded \" AND last(`logs/stdout`:stringSeries) = \"Done\"";
    string_values_are_not_numbers: "params/lr:string = 0.10" => "`params/lr`:string = \"0.10\"";
}

/// The checked text of a datetime clause read against `now`.
fn relative(value: &str, now: DateTime<Utc>) -> String {
    let q = format!("sys/ping_time:datetime > {value}");
    let c = nql::check(&q, catalog(), now).unwrap_or_else(|e| panic!("{q}: {e}"));
    let text = c.predicate.unwrap().to_string();
    text.trim_start_matches("`sys/ping_time`:datetime > ")
        .trim_matches('"')
        .to_string()
}

#[test]
fn relative_datetimes_count_back_from_now() {
    let now = Utc.with_ymd_and_hms(2024, 3, 31, 12, 0, 0).unwrap();
    assert_eq!(relative("-30s", now), "2024-03-31T11:59:30Z");
    assert_eq!(relative("-15m", now), "2024-03-31T11:45:00Z");
    assert_eq!(relative("-2h", now), "2024-03-31T10:00:00Z");
    assert_eq!(relative("-5d", now), "2024-03-26T12:00:00Z");
    assert_eq!(relative("-2w", now), "2024-03-17T12:00:00Z");
    assert_eq!(relative("\"-3M\"", now), "2023-12-31T12:00:00Z");
    assert_eq!(relative("-0d", now), "2024-03-31T12:00:00Z");
}

#[test]
fn relative_months_and_years_are_calendar_ones() {
    // March 31 minus a month is the last day of February (a leap year's 29th).
    let now = Utc.with_ymd_and_hms(2024, 3, 31, 12, 0, 0).unwrap();
    assert_eq!(relative("-1M", now), "2024-02-29T12:00:00Z");
    assert_eq!(relative("-13M", now), "2023-02-28T12:00:00Z");
    let leap_day = Utc.with_ymd_and_hms(2024, 2, 29, 0, 0, 0).unwrap();
    assert_eq!(relative("-1y", leap_day), "2023-02-28T00:00:00Z");
    assert_eq!(relative("-4y", leap_day), "2020-02-29T00:00:00Z");
    // `m` is minutes, `M` months.
    assert_ne!(relative("-1m", now), relative("-1M", now));
}

#[test]
fn now_is_a_parameter_of_every_query() {
    let a = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let b = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(relative("-1d", a), "2019-12-31T00:00:00Z");
    assert_eq!(relative("-1d", b), "2029-12-31T00:00:00Z");
    assert_eq!(nql::check("", catalog(), a).unwrap().now, a);
}

refuses! {
    number_word: "f1:float = abc" => DiagnosticKind::BadValue { .. }, @ "abc";
    number_empty: "sys/size:int = \"\"" => DiagnosticKind::BadValue { .. }, @ "\"\"";
    number_two_points: "f1:float = 1.2.3" => DiagnosticKind::BadValue { .. }, @ "1.2.3";
    number_hex: "f1:float = 0x1F" => DiagnosticKind::BadValue { .. }, @ "0x1F";
    size_unknown_unit: "sys/size:int > 3 parsecs" => DiagnosticKind::Syntax { .. }, @ "parsecs";
    size_unknown_unit_quoted: "sys/size:int > \"3 parsecs\"" => DiagnosticKind::BadValue { .. }, @ "\"3 parsecs\"";
    size_bits_are_not_bytes: "sys/size:int > 1Mbit" => DiagnosticKind::BadValue { .. }, @ "1Mbit";
    float_series_value: "max(`metrics/acc`) > high" => DiagnosticKind::BadValue { .. }, @ "high";
    bool_yes: "flag:bool = yes" => DiagnosticKind::BadValue { .. }, @ "yes";
    bool_one: "flag:bool = 1" => DiagnosticKind::BadValue { .. }, @ "1";
    datetime_month_13: "sys/ping_time:datetime > \"2024-13-01\"" => DiagnosticKind::BadValue { .. }, @ "\"2024-13-01\"";
    datetime_slashes: "sys/ping_time:datetime > \"2024/01/01\"" => DiagnosticKind::BadValue { .. }, @ "\"2024/01/01\"";
    datetime_february_30: "sys/ping_time:datetime > 2023-02-29" => DiagnosticKind::BadValue { .. }, @ "2023-02-29";
    datetime_relative_without_minus: "sys/ping_time:datetime > 5d" => DiagnosticKind::BadValue { .. }, @ "5d";
    datetime_relative_unknown_unit: "sys/ping_time:datetime > -5q" => DiagnosticKind::BadValue { .. }, @ "-5q";
    datetime_offset_out_of_range: "sys/ping_time:datetime > \"2024-01-01T00:00:00+24:00\"" => DiagnosticKind::BadValue { .. }, @ "\"2024-01-01T00:00:00+24:00\"";
    state_done: "sys/state:experimentState = done" => DiagnosticKind::BadValue { .. }, @ "done";
    state_failed: "sys/state:experimentState = \"failed\"" => DiagnosticKind::BadValue { .. }, @ "\"failed\"";
}

// A number takes one sign at most: `+-inf` is not -inf.
refuses! {
    number_plus_minus_inf: "f1:float = +-inf" => DiagnosticKind::BadValue { .. }, @ "+-inf";
    number_plus_plus_inf: "f1:float = ++inf" => DiagnosticKind::BadValue { .. }, @ "++inf";
    number_minus_plus_nan: "f1:float = -+nan" => DiagnosticKind::BadValue { .. }, @ "-+nan";
    number_plus_minus_inf_quoted: "f1:float = \"+-Infinity\"" => DiagnosticKind::BadValue { .. }, @ "\"+-Infinity\"";
    number_minus_plus_one: "sys/size:int = -+1" => DiagnosticKind::BadValue { .. }, @ "-+1";
    number_minus_minus_one: "sys/size:int = --1" => DiagnosticKind::BadValue { .. }, @ "--1";
    number_two_signs_with_exponent: "f1:float > +-1e3" => DiagnosticKind::BadValue { .. }, @ "+-1e3";
    number_two_signs_on_a_size: "sys/size:int < \"--5 MB\"" => DiagnosticKind::BadValue { .. }, @ "\"--5 MB\"";
    number_two_signs_on_an_aggregate: "max(`metrics/acc`) < +-inf" => DiagnosticKind::BadValue { .. }, @ "+-inf";
}

checks! {
    number_one_sign_is_fine: "f1:float = +inf AND f1:float = -inf AND f1:float = +nan AND f1:float = -nan AND sys/size:int = +1 AND sys/size:int = -1 AND f1:float = -1e3" =>
        "`f1`:float = inf AND `f1`:float = -inf AND `f1`:float = NaN AND `f1`:float = NaN AND `sys/size`:int = 1 AND `sys/size`:int = -1 AND `f1`:float = -1000";
}

#[test]
fn two_signs_say_that_a_number_takes_one() {
    for (value, help) in [
        ("+-inf", "a number takes one sign at most: write -inf or inf"),
        ("-+1", "a number takes one sign at most: write -1 or 1"),
        ("--1", "a number takes one sign at most: write -1 or 1"),
        ("+-1e3", "a number takes one sign at most: write -1e3 or 1e3"),
        (
            "\"+ -5 MB\"",
            "a number takes one sign at most: write -5 MB or 5 MB",
        ),
    ] {
        let q = format!("f1:float = {value}");
        let d = refused(&q);
        assert_eq!(
            d.0[0].kind.to_string(),
            format!("expected a number, found `{}`", value.trim_matches('"'))
        );
        assert_eq!(d.0[0].span.text(&q), value);
        assert_eq!(d.0[0].help.as_deref(), Some(help), "{q}");
    }
}

// A date alone is midnight UTC; an offset (or `Z`) belongs to an instant with a time of day.
refuses! {
    datetime_date_with_hour_offset: "sys/ping_time:datetime > 2024-01-01+09" => DiagnosticKind::BadValue { .. }, @ "2024-01-01+09";
    datetime_date_with_negative_offset: "sys/ping_time:datetime > \"2024-01-01-05:00\"" => DiagnosticKind::BadValue { .. }, @ "\"2024-01-01-05:00\"";
    datetime_date_with_compact_offset: "sys/ping_time:datetime = 2024-01-01+0900" => DiagnosticKind::BadValue { .. }, @ "2024-01-01+0900";
    datetime_date_with_spaced_offset: "sys/ping_time:datetime = \"2024-01-01 +09:00\"" => DiagnosticKind::BadValue { .. }, @ "\"2024-01-01 +09:00\"";
    datetime_date_with_z: "sys/ping_time:datetime < 2024-01-01Z" => DiagnosticKind::BadValue { .. }, @ "2024-01-01Z";
    datetime_date_with_lower_case_z: "info/release_date:datetime = 2024-01-01z" => DiagnosticKind::BadValue { .. }, @ "2024-01-01z";
}

#[test]
fn a_date_with_an_offset_says_to_write_a_full_instant() {
    for (value, help) in [
        (
            "2024-01-01+09",
            "a date alone means midnight UTC and takes no offset: write a full instant such as 2024-01-01T00:00:00+09:00",
        ),
        (
            "\"2024-01-01-05:00\"",
            "a date alone means midnight UTC and takes no offset: write a full instant such as 2024-01-01T00:00:00-05:00",
        ),
        (
            "2024-02-06+0930",
            "a date alone means midnight UTC and takes no offset: write a full instant such as 2024-02-06T00:00:00+09:30",
        ),
        (
            "2024-01-01Z",
            "a date alone means midnight UTC and takes no offset: write 2024-01-01, or a full instant such as 2024-01-01T00:00:00Z",
        ),
    ] {
        let q = format!("sys/ping_time:datetime > {value}");
        let d = refused(&q);
        assert_eq!(
            d.0[0].kind.to_string(),
            format!("expected a datetime, found `{}`", value.trim_matches('"'))
        );
        assert_eq!(d.0[0].help.as_deref(), Some(help), "{q}");
    }
    // A date that does not exist is reported as such, offset or not.
    let d = refused("sys/ping_time:datetime > 2024-02-30+09");
    assert_eq!(d.0[0].help.as_deref(), Some("2024-02 has no day 30"));
}

#[test]
fn value_errors_say_what_was_expected() {
    for (q, message) in [
        ("f1:float = abc", "expected a number, found `abc`"),
        ("flag:bool = yes", "expected a bool, found `yes`"),
        (
            "sys/ping_time:datetime > soon",
            "expected a datetime, found `soon`",
        ),
        (
            "sys/state:experimentState = done",
            "expected an experiment state, found `done`",
        ),
        ("sys/size:int = \"\"", "expected a number, found `\"\"`"),
    ] {
        let d = refused(q);
        assert_eq!(d.0[0].kind.to_string(), message);
        assert!(d.0[0].help.is_some(), "{q}: no help");
    }
}

// ---- 4.3 References without a type ---------------------------------------------------------

checks! {
    untyped_takes_the_type_of_the_data: "sys/owner = jackie AND sys/failed = true AND sys/tags CONTAINS x AND `metrics/acc` > 0.5" =>
        "`sys/owner`:string = \"jackie\" AND `sys/failed`:bool = true AND `sys/tags`:stringSet CONTAINS \"x\" AND last(`metrics/acc`:floatSeries) > 0.5";
    untyped_int_and_float_are_one_numeric_type: "params/epochs = 2.5" => "`params/epochs`:float = 2.5";
    untyped_int_only: "params/batch_size >= \"64\"" => "`params/batch_size`:int >= 64";
    untyped_aggregate_reads_the_series: "max(accuracy) > 0.5" => "max(`accuracy`:floatSeries) > 0.5";
    untyped_unknown_path_matches_nothing: "nosuch = 1" => "FALSE";
    untyped_unknown_path_negated_matches_everything: "nosuch != 1 AND NOT nosuch EXISTS AND nosuch NOT CONTAINS x" => "NOT FALSE AND NOT FALSE AND NOT FALSE";
}

refuses! {
    untyped_path_with_float_and_string: "params/lr = 0.1" => DiagnosticKind::AmbiguousType { ref types, .. } if types == "float, string", @ "params/lr";
    untyped_path_with_float_and_series: "accuracy > 0.9" => DiagnosticKind::AmbiguousType { ref types, .. } if types == "float, floatSeries", @ "accuracy";
    untyped_path_with_string_and_set: "labels CONTAINS cat" => DiagnosticKind::AmbiguousType { ref types, .. } if types == "string, stringSet", @ "labels";
    untyped_value_must_fit_the_data_type: "sys/failed = maybe" => DiagnosticKind::BadValue { .. }, @ "maybe";
    untyped_operator_must_fit_the_data_type: "sys/tags = x" => DiagnosticKind::OperatorNotAllowed { .. }, @ "=";
}

#[test]
fn an_ambiguous_path_lists_its_types_and_shows_how_to_choose() {
    let d = refused("params/lr = 0.1");
    assert_eq!(
        d.0[0].kind.to_string(),
        "`params/lr` has several types in this table (float, string); write the one you mean"
    );
    assert_eq!(d.0[0].help.as_deref(), Some("for example `params/lr`:float"));
}

// ---- 4.4 Attributes that do not exist ------------------------------------------------------

warns! {
    unknown_path_warns: "nosuch = 1" => ["unknown attribute `nosuch`: the clause matches nothing at 0..6: no attribute has this path"];
    unknown_path_suggests: "params/lrr > 1" => ["unknown attribute `params/lrr`: the clause matches nothing at 0..10: no attribute has this path (help: did you mean `params/lr:float`?)"];
    unknown_attribute_suggests_the_closest: "metrics/accuracy:floatSeries > 0.5" => ["attribute `metrics/accuracy:floatSeries` does not exist: the clause matches nothing at 0..28: no object has this attribute (help: did you mean `metrics/acc:floatSeries`?)"];
    same_path_other_type_is_suggested_first: "sys/tags:string = best" => ["attribute `sys/tags:string` does not exist: the clause matches nothing at 0..15: no object has this attribute (help: did you mean `sys/tags:stringSet`?)"];
    no_suggestion_when_nothing_is_close: "qq:string EXISTS" => ["attribute `qq:string` does not exist: the clause matches nothing at 0..9: no object has this attribute"];
    known_attributes_do_not_warn: "f1:float > 0 AND params/lr:string = x AND params/batch_size:float > 1" => [];
    every_unknown_attribute_warns: "a1:int = 1 OR NOT b2:bool = true" => [
        "attribute `a1:int` does not exist: the clause matches nothing at 0..6: no object has this attribute (help: did you mean `f1:float`?)",
        "attribute `b2:bool` does not exist: the clause matches nothing at 18..25: no object has this attribute",
    ];
}

// The warning says what the clause itself matches: a clause with its negation written
// inside it (`!=`, `NOT =`, `NOT CONTAINS`, `NOT MATCHES`, `NOT EXISTS`) matches every object;
// a NOT in front of the clause is another node and leaves the message alone.
warns! {
    unknown_path_not_equal_matches_everything: "nosuch != 5" => ["unknown attribute `nosuch`: the clause matches every object at 0..6: no attribute has this path"];
    unknown_path_not_exists_matches_everything: "nosuch NOT EXISTS" => ["unknown attribute `nosuch`: the clause matches every object at 0..6: no attribute has this path"];
    unknown_path_not_contains_matches_everything: "nosuch NOT CONTAINS x" => ["unknown attribute `nosuch`: the clause matches every object at 0..6: no attribute has this path"];
    unknown_path_negative_keeps_the_suggestion: "params/lrr != 1" => ["unknown attribute `params/lrr`: the clause matches every object at 0..10: no attribute has this path (help: did you mean `params/lr:float`?)"];
    unknown_path_not_not_equal_matches_nothing: "nosuch NOT != 5" => ["unknown attribute `nosuch`: the clause matches nothing at 0..6: no attribute has this path"];
    unknown_path_under_not_is_about_the_clause: "NOT nosuch EXISTS" => ["unknown attribute `nosuch`: the clause matches nothing at 4..10: no attribute has this path"];
    unknown_attribute_not_equal_matches_everything: "nosuch:int != 5" => ["attribute `nosuch:int` does not exist: the clause matches every object at 0..10: no object has this attribute"];
    unknown_attribute_not_exists_matches_everything: "nosuch:int NOT EXISTS" => ["attribute `nosuch:int` does not exist: the clause matches every object at 0..10: no object has this attribute"];
    unknown_attribute_not_greater_matches_everything: "nosuch:int NOT > 5" => ["attribute `nosuch:int` does not exist: the clause matches every object at 0..10: no object has this attribute"];
    unknown_attribute_not_contains_matches_everything: "nope:string NOT CONTAINS x" => ["attribute `nope:string` does not exist: the clause matches every object at 0..11: no object has this attribute"];
    unknown_attribute_not_matches_matches_everything: "nope:string NOT MATCHES x" => ["attribute `nope:string` does not exist: the clause matches every object at 0..11: no object has this attribute"];
    unknown_attribute_not_not_equal_matches_nothing: "nosuch:int NOT != 5" => ["attribute `nosuch:int` does not exist: the clause matches nothing at 0..10: no object has this attribute"];
    unknown_attribute_under_not_is_about_the_clause: "NOT nosuch:int = 5" => ["attribute `nosuch:int` does not exist: the clause matches nothing at 4..14: no object has this attribute"];
    unknown_attribute_negative_keeps_the_suggestion: "metrics/accuracy:floatSeries != 0.5" => ["attribute `metrics/accuracy:floatSeries` does not exist: the clause matches every object at 0..28: no object has this attribute (help: did you mean `metrics/acc:floatSeries`?)"];
    unknown_aggregate_not_equal_matches_everything: "last(`metrics/accuracy`):float != 0.5" => ["attribute `metrics/accuracy:floatSeries` does not exist: the clause matches every object at 0..30: no object has this attribute (help: did you mean `metrics/acc:floatSeries`?)"];
}

checks! {
    unknown_attribute_is_false: "metrics/accuracy:floatSeries > 0.5" => "last(`metrics/accuracy`:floatSeries) > 0.5 /* no such attribute: false */";
    negated_unknown_attribute_is_true: "nope:string != x" => "NOT `nope`:string = \"x\" /* no such attribute: false */";
    float_reads_int_attributes: "params/batch_size:float > 1" => "`params/batch_size`:float > 1";
    int_reads_float_attributes: "params/lr:int EXISTS" => "`params/lr`:int EXISTS";
}

refuses! {
    unknown_attribute_operator_still_checked: "nosuch:bool > true" => DiagnosticKind::OperatorNotAllowed { .. }, @ ">";
    unknown_attribute_value_still_checked: "nosuch:datetime > tomorrow" => DiagnosticKind::BadValue { .. }, @ "tomorrow";
}

#[test]
fn warnings_are_warnings() {
    let c = check("nosuch:int = 1").unwrap();
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(c.warnings[0].severity, Severity::Warning);
    assert!(matches!(
        c.warnings[0].kind,
        DiagnosticKind::UnknownAttribute { .. }
    ));
}

// ---- Every error is collected, not just the first ------------------------------------------

#[test]
fn all_analysis_errors_are_collected() {
    let q = "flag:bool > true OR f1:float CONTAINS x OR f1:float = abc OR sys/name:string MATCHES \"(\" \
             OR params/lr = 1 OR average(`f1`:float) > 1 OR sys/state:experimentState = done";
    let d = refused(q);
    let kinds: Vec<&str> = d.0.iter().map(|d| d.kind.code()).collect();
    assert_eq!(
        kinds,
        [
            "nql::operator",
            "nql::operator",
            "nql::value",
            "nql::regex",
            "nql::ambiguous_type",
            "nql::aggregate",
            "nql::value"
        ]
    );
    assert!(
        d.0.windows(2).all(|w| w[0].span.start < w[1].span.start),
        "in source order"
    );
}

#[test]
fn all_unknown_type_names_are_collected() {
    let d = refused("a:Int = 1 AND b:Bool = true AND c:floatseries EXISTS");
    let found: Vec<String> =
        d.0.iter()
            .map(|d| match &d.kind {
                DiagnosticKind::UnknownType { found } => found.clone(),
                k => panic!("{k:?}"),
            })
            .collect();
    assert_eq!(found, ["Int", "Bool", "floatseries"]);
}

#[test]
fn errors_come_without_the_warnings_of_the_same_query() {
    // A refused query reports its errors; warnings only matter for queries that run.
    let d = refused("nosuch:int = 1 AND flag:bool > true");
    assert!(d.0.iter().all(|d| d.is_error()), "{d}");
}

#[test]
fn the_type_table_in_types_matches_the_spec() {
    for (ty, _, allowed) in TABLE {
        let t = AttrType::from_name(ty).unwrap();
        let mut ops: Vec<&str> = t.allowed_operators().iter().map(|o| o.symbol()).collect();
        ops.sort();
        let mut spec: Vec<&str> = allowed.iter().copied().filter(|o| *o != "==").collect();
        spec.sort();
        assert_eq!(ops, spec, "{ty}");
    }
}
