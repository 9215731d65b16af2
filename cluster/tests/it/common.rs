//! Shared helpers: the conformance project, bucketed once per test binary; the engine in
//! one process over it; the cases with their options; comparing answers.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use cluster::Distributed;
use datasets::layout::ObjectKind;
use engine::{Engine, FetchOptions, IndexLocation, LoadOptions, QueryError, QueryResult, Trashed};
use serde::Deserialize;

/// The conformance suite of the engine's tests.
pub fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/conformance")
}

/// The conformance project bucketed 8 ways (`nql partition`), written once per run.
pub fn bucketed() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cluster-it-bucketed");
        let _ = std::fs::remove_dir_all(&dir);
        engine::bucketed::partition(&conformance_dir().join("data"), &dir, 8, &in_memory())
            .expect("the conformance project partitions");
        dir
    })
}

fn in_memory() -> LoadOptions {
    LoadOptions {
        index: IndexLocation::None,
        ..LoadOptions::default()
    }
}

/// The conformance project in one process, read into memory.
pub fn local_engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            Arc::new(Engine::open_with(conformance_dir().join("data"), &in_memory()).expect("the data loads"))
        })
        .clone()
}

/// One conformance case (tests/conformance/README.md).
#[derive(Debug, Deserialize)]
pub struct Case {
    pub id: String,
    pub table: String,
    pub trashed: String,
    pub now: String,
    pub query: String,
}

impl Case {
    pub fn kind(&self) -> ObjectKind {
        ObjectKind::from_table_name(&self.table).expect("a table name")
    }

    pub fn options(&self) -> FetchOptions {
        FetchOptions {
            trashed: self.trashed.parse::<Trashed>().expect("a trash mode"),
            now: Some(
                DateTime::parse_from_rfc3339(&self.now)
                    .expect("RFC 3339")
                    .with_timezone(&Utc),
            ),
            ..FetchOptions::default()
        }
    }
}

/// Every case of the suite.
pub fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(conformance_dir().join("cases.jsonl")).expect("the cases");
    let cases: Vec<Case> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a case"))
        .collect();
    assert!(cases.len() >= 300, "the suite has {} cases", cases.len());
    cases
}

/// The answer of a query as the comparison sees it: the ids in result order, or that the
/// query was refused as the caller's mistake, or another error.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Ids(Vec<String>),
    Refused,
    Failed(String),
}

pub fn answer(result: Result<QueryResult, QueryError>) -> Answer {
    match result {
        Ok(r) => Answer::Ids(r.ids()),
        Err(e) if e.is_user_error() => Answer::Refused,
        Err(e) => Answer::Failed(e.to_string()),
    }
}

/// Runs every case on the cluster and in one process, 16 at a time on the cluster, and
/// returns the cases whose answers differ.
pub async fn differences(dist: &Distributed, cases: &[Case]) -> Vec<String> {
    use futures::StreamExt;
    let local = local_engine();
    futures::stream::iter(cases)
        .map(|case| {
            let local = Arc::clone(&local);
            async move {
                let options = case.options();
                let here = answer(local.fetch(case.kind(), &case.query, &options, None).await);
                let there = answer(dist.fetch(case.kind(), &case.query, &options, None).await);
                (here != there).then(|| {
                    format!(
                        "{} {:?}: one process {here:?}, cluster {there:?}",
                        case.id, case.query
                    )
                })
            }
        })
        .buffer_unordered(16)
        .filter_map(|d| async move { d })
        .collect()
        .await
}
