//! One loaded engine serves many queries at once, from threads and from async tasks, with
//! the same answers as one at a time.

use std::sync::Arc;

use engine::{Engine, Trashed};

use crate::common::{conformance_engine, options, run_ids};

const QUERIES: [&str; 8] = [
    "",
    "params/lr:float > 0.01",
    "sys/tags:stringSet CONTAINS \"exploration\"",
    "last(`metrics/acc`:floatSeries) > 0.9 OR sys/failed:bool = true",
    "NOT (sys/owner:string CONTAINS \"@\")",
    "sys/creation_time:datetime > -1y",
    "`logs/stdout`:stringSeries MATCHES \"done\"",
    "variance(`metrics/acc`:floatSeries) = 0",
];

#[test]
fn engine_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
}

#[test]
fn sixty_four_queries_at_once_answer_as_one_at_a_time() {
    let engine = conformance_engine();
    let expected: Vec<Vec<String>> = QUERIES
        .iter()
        .map(|q| run_ids(&engine, q, &options(Trashed::Exclude)).unwrap())
        .collect();

    // Threads.
    let handles: Vec<_> = (0..64)
        .map(|i| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                run_ids(&engine, QUERIES[i % QUERIES.len()], &options(Trashed::Exclude)).unwrap()
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), expected[i % QUERIES.len()]);
    }

    // Async tasks on one multi-threaded runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let engine = Arc::clone(&engine);
                tokio::spawn(async move {
                    let r = engine
                        .fetch_runs_table(QUERIES[i % QUERIES.len()], &options(Trashed::Exclude))
                        .await
                        .unwrap();
                    let mut ids = r.ids();
                    ids.sort();
                    ids
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    for (i, ids) in results.into_iter().enumerate() {
        assert_eq!(ids, expected[i % QUERIES.len()]);
    }
}
