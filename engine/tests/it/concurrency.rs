//! One loaded engine serves many queries at once, from threads and from async tasks, with
//! the same answers as one at a time.

use std::sync::Arc;

use engine::{Engine, FetchOptions, Trashed};

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

/// 2,000 runs named `run{i}`, with `n` = i: enough rows for MATCHES to run on tokio's
/// blocking pool.
fn named_runs() -> Arc<Engine> {
    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
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
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), false))
        .collect();
    let runs = RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let project = datasets::ProjectBatches {
        runs: vec![runs],
        ..datasets::ProjectBatches::default()
    };
    Arc::new(Engine::from_batches(project).unwrap())
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

    let handles: Vec<_> = (0..64)
        .map(|i| {
            let engine = Arc::clone(&engine);
            let q = queries[i % queries.len()].clone();
            std::thread::spawn(move || run_ids(&engine, &q, &FetchOptions::default()).unwrap())
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), expected[i % queries.len()]);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let engine = Arc::clone(&engine);
                let q = queries[i % queries.len()].clone();
                tokio::spawn(async move {
                    let mut ids = engine
                        .fetch_runs_table(&q, &FetchOptions::default())
                        .await
                        .unwrap()
                        .ids();
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
        assert_eq!(ids, expected[i % queries.len()]);
    }
}
