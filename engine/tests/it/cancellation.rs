//! A long query stops when its token is cancelled (from another thread or task) or when its
//! timeout passes, and the engine then answers the next query as before. Time bounds are
//! generous: the slow query below would take minutes in the dev profile.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datasets::layout::ObjectKind;
use engine::{CancelToken, Engine, FetchOptions, QueryError};

use crate::common::{block_on, runs_engine};

const ROWS: usize = 20_000;

/// 20,000 runs, each with a distinct 1 KB name.
fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let ids: Vec<String> = (0..ROWS).map(|i| format!("R-{i:05}")).collect();
            let names: Vec<String> = (0..ROWS)
                .map(|i| {
                    let word = format!("run{i} ");
                    word.repeat(1024 / word.len() + 1)[..1024].to_string()
                })
                .collect();
            let columns: Vec<(&str, ArrayRef)> = vec![
                ("sys/id", Arc::new(StringArray::from(ids))),
                ("sys/name", Arc::new(StringArray::from(names))),
                ("n", Arc::new(Int64Array::from_iter_values(0..ROWS as i64))),
            ];
            Arc::new(runs_engine(columns))
        })
        .clone()
}

/// 100 regular expressions that match nothing, each over 20 MB of names without a literal
/// to search for: about a second each in the dev profile, so a minute or more in all, and
/// quick to parse, so that a cancellation arrives during evaluation, inside a clause.
fn slow_query() -> String {
    (0..100)
        .map(|i| {
            format!(
                "`sys/name`:string MATCHES \"[a-z]{{3}}[0-9]{{2,}}[a-z]{{{}}}x\"",
                i + 5
            )
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// A normal query and its answer, to show the engine is still well after an interruption.
fn still_answers(engine: &Engine) {
    let options = FetchOptions {
        limit: Some(5),
        sort_by: Some("n".into()),
        ascending: true,
        ..FetchOptions::default()
    };
    let r = block_on(engine.fetch_runs_table("n:int < 3 OR `sys/name`:string MATCHES \"^run7 \"", &options))
        .unwrap();
    assert_eq!(r.ids(), ["R-00000", "R-00001", "R-00002", "R-00007"]);
}

/// Generous, and still far less than the slow query takes.
const PROMPTLY: Duration = Duration::from_secs(10);

#[test]
fn a_query_cancelled_from_another_thread_stops() {
    let engine = engine();
    let token = CancelToken::new();
    let canceller = {
        let token = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            token.cancel();
            Instant::now()
        })
    };
    let options = FetchOptions {
        cancel: Some(token),
        ..FetchOptions::default()
    };
    let e = block_on(engine.fetch_runs_table(&slow_query(), &options)).unwrap_err();
    let stopped = Instant::now();
    let cancelled = canceller.join().unwrap();
    assert!(matches!(e, QueryError::Cancelled), "{e}");
    assert_eq!(e.to_string(), "the query was cancelled");
    assert!(!e.is_user_error());
    assert!(stopped.duration_since(cancelled) < PROMPTLY);
    still_answers(&engine);
}

#[test]
fn a_query_past_its_timeout_stops() {
    let engine = engine();
    let options = FetchOptions {
        timeout: Some(Duration::from_millis(200)),
        ..FetchOptions::default()
    };
    let start = Instant::now();
    let e = block_on(engine.fetch_runs_table(&slow_query(), &options)).unwrap_err();
    assert!(
        matches!(e, QueryError::TimedOut { timeout } if timeout == Duration::from_millis(200)),
        "{e}"
    );
    assert!(e.to_string().contains("timeout of 200ms"), "{e}");
    assert!(start.elapsed() < PROMPTLY);
    // A timeout long enough changes nothing.
    let options = FetchOptions {
        timeout: Some(Duration::from_secs(3600)),
        ..FetchOptions::default()
    };
    assert_eq!(
        block_on(engine.fetch_runs_table("n:int < 2", &options))
            .unwrap()
            .num_rows(),
        2
    );
    still_answers(&engine);
}

#[test]
fn async_tasks_cancel_and_drop_queries_without_blocking_the_runtime() {
    let engine = engine();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Cancelled by another task while other tasks keep running.
        let token = CancelToken::new();
        let slow = {
            let engine = Arc::clone(&engine);
            let options = FetchOptions {
                cancel: Some(token.clone()),
                ..FetchOptions::default()
            };
            tokio::spawn(async move { engine.fetch_runs_table(&slow_query(), &options).await })
        };
        for _ in 0..4 {
            let r = engine
                .fetch_runs_table("n:int < 10", &FetchOptions::default())
                .await;
            assert_eq!(r.unwrap().num_rows(), 10);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let start = Instant::now();
        token.cancel();
        let e = slow.await.unwrap().unwrap_err();
        assert!(matches!(e, QueryError::Cancelled), "{e}");
        assert!(start.elapsed() < PROMPTLY);

        // Dropped by its caller (here by `tokio::time::timeout`): the work stops too.
        let dropped = tokio::time::timeout(
            Duration::from_millis(200),
            engine.fetch_runs_table(&slow_query(), &FetchOptions::default()),
        )
        .await;
        assert!(
            dropped.is_err(),
            "the slow query finished in 200 ms: {:?}",
            dropped.map(|r| r.map(|x| x.num_rows()))
        );
    });
    // Dropping the runtime waits for its blocking pool: the dropped query has stopped.
    let start = Instant::now();
    drop(runtime);
    assert!(start.elapsed() < PROMPTLY);
    still_answers(&engine);
}

#[test]
fn a_cancelled_token_stops_every_path() {
    let engine = engine();
    let token = CancelToken::new();
    token.cancel();
    assert!(token.is_cancelled());
    let options = FetchOptions {
        cancel: Some(token.clone()),
        ..FetchOptions::default()
    };
    let e = block_on(engine.fetch_runs_table("n:int < 3", &options)).unwrap_err();
    assert!(matches!(e, QueryError::Cancelled), "{e}");
    let e = block_on(engine.explain(ObjectKind::Runs, "n:int < 3", &options, None));
    assert!(
        e.is_ok(),
        "explain runs nothing, so a cancelled token does not stop it"
    );
    // `cancelled` completes for a token cancelled before or after it is awaited.
    block_on(token.cancelled());
    let later = CancelToken::new();
    let waiter = {
        let later = later.clone();
        std::thread::spawn(move || block_on(later.cancelled()))
    };
    later.cancel();
    waiter.join().unwrap();
    still_answers(&engine);
}
