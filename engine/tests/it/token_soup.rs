//! Token soup through the engine: strings of NQL tokens, the small project's attribute names
//! and random characters, answered by `fetch_runs_table` on one random project of the
//! differential tests. Each answer is a result or an error in the query, never a panic or an
//! execution failure. (`fuzz/` runs the same check under libFuzzer.)

use std::sync::OnceLock;

use engine::{Engine, FetchOptions, Trashed};
use proptest::prelude::*;

use crate::common::{block_on, now};
use crate::differential::project;

/// Keywords, operators, types, aggregates, quotes, values, and the project's attribute names.
const TOKENS: &[&str] = &[
    "AND",
    "OR",
    "NOT",
    "not",
    "CONTAINS",
    "MATCHES",
    "EXISTS",
    "=",
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
    ":",
    ":int",
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
    "average(",
    "last(",
    "max(",
    "min(",
    "variance(",
    "true",
    "FALSE",
    "nan",
    "inf",
    "-inf",
    "-0",
    "0.5",
    "2",
    "1e20",
    "1kB",
    "2024-01-01",
    "\"2024-01-01T00:00:00.5Z\"",
    "-2d",
    "-1y",
    "active",
    "idle",
    "\"^a\"",
    "\"[ab]+\"",
    "\"(?i)A\"",
    "\"\"",
    "a",
    "'a b'",
    "é",
    "h1",
    "done",
    "i",
    "f",
    "n",
    "s",
    "b",
    "t",
    "d",
    "st",
    "tags",
    "art",
    "fs",
    "ss",
    "sys/id",
    "sys/trashed",
    "`n`:float",
    "nosuch",
];

/// (references, operators, values) that fit together on the project's attributes.
const KINDS: &[(&[&str], &[&str], &[&str])] = &[
    (
        &[
            "i",
            "f:float",
            "n",
            "n:int",
            "last(fs)",
            "variance(fs)",
            "fs",
            "nosuch:float",
        ],
        &["=", "!=", "<", "<=", ">", ">=", "NOT >"],
        &["0", "-0", "0.5", "2", "nan", "-inf", "1e20", "1kB", "\"2\""],
    ),
    (
        &["s", "s:string", "ss", "last(ss)"],
        &["=", "!=", "<", "CONTAINS", "MATCHES", "NOT CONTAINS"],
        &["a", "\"\"", "'a b'", "é", "\"^a\"", "\"[ab]+\"", "done"],
    ),
    (&["b", "b:bool"], &["=", "!="], &["true", "FALSE"]),
    (
        &["t", "d", "t:datetime"],
        &["=", "<", ">="],
        &["2024-01-01", "\"2024-01-01T00:00:00.5Z\"", "-2d", "-1y"],
    ),
    (&["st"], &["=", "!="], &["active", "idle", "Running"]),
    (
        &["tags", "tags:stringSet"],
        &["CONTAINS", "NOT CONTAINS"],
        &["a", "\"c d\"", "\"\""],
    ),
    (&["art"], &["=", "!="], &["h1", "h2"]),
    (
        &["i", "fs", "ss", "tags", "nosuch:bool"],
        &["EXISTS", "NOT EXISTS"],
        &[""],
    ),
];

/// A clause whose reference, operator and value fit together.
fn clause() -> impl Strategy<Value = String> {
    (
        0..KINDS.len(),
        any::<proptest::sample::Index>(),
        any::<proptest::sample::Index>(),
        any::<proptest::sample::Index>(),
    )
        .prop_map(|(k, n, o, v)| {
            let (names, ops, values) = KINDS[k];
            format!("{} {} {}", n.get(names), o.get(ops), v.get(values))
        })
}

/// A random token or character, to break a well-formed query.
fn noise() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(TOKENS).prop_map(String::from),
        1 => any::<char>().prop_map(String::from),
    ]
}

/// One to four fitting clauses joined by AND, OR or NOT, then up to three pieces of noise put
/// in between words: about half the queries are accepted and executed.
fn soup() -> impl Strategy<Value = String> {
    let joiner = proptest::sample::select(&[" AND ", " OR ", " AND NOT ", " OR NOT "][..]);
    (
        clause(),
        proptest::collection::vec((joiner, clause()), 0..4),
        proptest::collection::vec((any::<proptest::sample::Index>(), noise()), 0..4),
    )
        .prop_map(|(first, rest, noise)| {
            let text = rest.into_iter().fold(first, |q, (j, c)| q + j + &c);
            let mut words: Vec<String> = text.split(' ').map(String::from).collect();
            // Zero to three pieces: one query in two has none.
            for (at, piece) in noise.into_iter().skip(1) {
                words.insert(at.index(words.len() + 1), piece);
            }
            words.join(" ")
        })
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::from_batches(project(0x5eed_f00d)).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_is_answered_or_refused(text in soup()) {
        let options = FetchOptions {
            trashed: Trashed::All,
            now: Some(now("2026-06-01T00:00:00Z")),
            ..FetchOptions::default()
        };
        match block_on(engine().fetch_runs_table(&text, &options)) {
            Ok(result) => drop(result.ids()),
            Err(e) => prop_assert!(e.is_user_error(), "{:?} failed to execute: {}", text, e),
        }
    }
}
