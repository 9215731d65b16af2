//! The engine on generated projects at two scales (S = 10,000 runs, M = 100,000 runs; 30
//! attributes, 4 float series × 100 points per run): loading (with the series summaries) and
//! one query per class, warm. `NQL_BENCH_SCALES=S` runs only the small scale.
//!
//! `cargo bench -p nql-benches --bench engine`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use engine::{Engine, FetchOptions};
use nql_benches::{QUERIES, SCALES, project_dir};

fn scales() -> Vec<(&'static str, u64)> {
    let wanted = std::env::var("NQL_BENCH_SCALES").unwrap_or_else(|_| "S,M".into());
    SCALES
        .into_iter()
        .filter(|(name, _)| wanted.split(',').any(|w| w == *name))
        .collect()
}

fn load(c: &mut Criterion) {
    let mut group = c.benchmark_group("load");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    for (name, runs) in scales() {
        let dir = project_dir(runs);
        group.throughput(Throughput::Elements(runs * 400));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| black_box(Engine::open(&dir).expect("the project loads")))
        });
    }
    group.finish();
}

fn queries(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for (name, runs) in scales() {
        let engine = Engine::open(project_dir(runs)).expect("the project loads");
        let mut group = c.benchmark_group(format!("query/{name}"));
        group.throughput(Throughput::Elements(runs));
        for (class, query, sort, limit) in QUERIES {
            let options = FetchOptions {
                columns: Some(vec!["sys/id".into()]),
                sort_by: sort.map(String::from),
                limit,
                ..FetchOptions::default()
            };
            group.bench_function(class, |b| {
                b.iter(|| {
                    runtime
                        .block_on(engine.fetch_runs_table(query, &options))
                        .expect("the query runs")
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, load, queries);
criterion_main!(benches);
