//! One loaded engine serves many queries at once, from threads and from async tasks, with
//! the same answers as one at a time.

use std::sync::Arc;

use engine::{Engine, FetchOptions, Trashed};

use crate::common::{conformance_engine, options, run_ids, runs_engine};

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

    let queries = QUERIES.map(String::from);
    fan_out(&engine, &queries, &options(Trashed::Exclude), 4, &expected);
}

/// 2,000 runs named `run{i}`, with `n` = i: enough rows for MATCHES to run on tokio's
/// blocking pool.
fn named_runs() -> Arc<Engine> {
    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "sys/id",
            Arc::new(StringArray::from_iter_values(
                (0..2_000).map(|i| format!("R-{i:04}")),
            )),
        ),
        (
            "sys/name",
            Arc::new(StringArray::from_iter_values(
                (0..2_000).map(|i| format!("run{i}")),
            )),
        ),
        ("n", Arc::new(Int64Array::from_iter_values(0..2_000))),
    ];
    Arc::new(runs_engine(columns))
}

#[test]
fn sixty_four_queries_on_the_blocking_pool_answer_as_one_at_a_time() {
    let engine = named_runs();
    let queries = [
        "`sys/name`:string MATCHES \"^run7\"",
        "`sys/name`:string MATCHES \"^run1[0-9]{3}$\" AND n:int > 1500",
        "n:int < 100 OR `sys/name`:string MATCHES \"9$\"",
        "n:int < 100",
    ]
    .map(String::from);
    let expected: Vec<Vec<String>> = queries
        .iter()
        .map(|q| run_ids(&engine, q, &FetchOptions::default()).unwrap())
        .collect();
    assert_eq!(
        expected.iter().map(Vec::len).collect::<Vec<_>>(),
        [1 + 10 + 100, 499, 100 + 190, 100]
    );

    fan_out(&engine, &queries, &FetchOptions::default(), 2, &expected);
}

/// Runs query `i % n` for i in 0..64, on 64 threads and then as 64 tasks of a runtime with
/// `workers` threads, and checks every answer against `expected[i % n]`.
fn fan_out(
    engine: &Arc<Engine>,
    queries: &[String],
    options: &FetchOptions,
    workers: usize,
    expected: &[Vec<String>],
) {
    let handles: Vec<_> = (0..64)
        .map(|i| {
            let (engine, options) = (Arc::clone(engine), options.clone());
            let q = queries[i % queries.len()].clone();
            std::thread::spawn(move || run_ids(&engine, &q, &options).unwrap())
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), expected[i % queries.len()], "thread {i}");
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .unwrap();
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let (engine, options) = (Arc::clone(engine), options.clone());
                let q = queries[i % queries.len()].clone();
                tokio::spawn(async move {
                    let mut ids = engine.fetch_runs_table(&q, &options).await.unwrap().ids();
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
        assert_eq!(ids, expected[i % queries.len()], "task {i}");
    }
}
