//! The one integration-test binary of the `nql` crate (each extra binary would link
//! DataFusion again).
//!
//! * `fixtures`: `tests/queries/{ok,err}/*.nql`, one insta snapshot per file.
//! * `roundtrip`: sqlparser-style `verified(q)` and a proptest over generated trees.
//! * `rules`: one test per rule of spec sections 1 to 4.4, mostly one line each.
//! * `plans`: inline snapshots of the DataFusion plans the lowering builds.
//! * `hostile`: deep nesting, huge queries, NUL bytes: an answer or an error, never a crash.
//! * `token_soup`: a proptest of NQL tokens mixed with random characters through the front end.

mod common;
mod fixtures;
mod hostile;
mod plans;
mod roundtrip;
mod rules;
mod token_soup;
