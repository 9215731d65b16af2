//! `nql bench`: load a project once, then time queries many times in the same process, the
//! way an embedding program runs them. Prints JSON (for scripts) or a table.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use engine::{Engine, FetchOptions};

use super::Failure;

/// One timed query.
struct Timing {
    name: String,
    query: String,
    rows: usize,
    samples: Vec<Duration>,
}

impl Timing {
    fn percentile(&self, p: f64) -> f64 {
        let mut s = self.samples.clone();
        s.sort();
        let i = ((s.len() - 1) as f64 * p).round() as usize;
        s[i].as_secs_f64() * 1e3
    }
}

/// Reads `name<TAB>query` lines (or bare queries, named by their position); `#` starts a
/// comment line.
pub fn read_queries(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .enumerate()
        .map(|(i, l)| match l.split_once('\t') {
            Some((name, query)) => (name.trim().to_string(), query.to_string()),
            None => (format!("q{}", i + 1), l.to_string()),
        })
        .collect()
}

/// How `run` times and reports.
pub struct Settings {
    /// Timed runs of each query (after three warm-up runs).
    pub iterations: usize,
    /// Print JSON instead of a table.
    pub json: bool,
    /// Write each query's ids, one per line in result order, to `DIR/NAME.txt`.
    pub ids_dir: Option<PathBuf>,
}

/// Times each query `iterations` times after three warm-up runs, returning ids only (as the
/// comparison with other tools does), and reports load time and memory.
pub async fn run(
    engine: Engine,
    load_time: Duration,
    queries: Vec<(String, String)>,
    options: FetchOptions,
    settings: Settings,
) -> Result<(), Failure> {
    let Settings {
        iterations,
        json,
        ids_dir,
    } = settings;
    let mut timings = Vec::new();
    for (name, query) in queries {
        let mut rows = 0;
        for i in 0..3 {
            let result = engine.fetch_runs_table(&query, &options).await?;
            rows = result.num_rows();
            if let (0, Some(dir)) = (i, &ids_dir) {
                let path = dir.join(format!("{name}.txt"));
                let mut text = result.ids().join("\n");
                if !text.is_empty() {
                    text.push('\n');
                }
                std::fs::write(&path, text)
                    .map_err(|e| Failure::Other(format!("error: {}: {e}\n", path.display())))?;
            }
        }
        let mut samples = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let start = Instant::now();
            let result = engine.fetch_runs_table(&query, &options).await?;
            samples.push(start.elapsed());
            std::hint::black_box(result);
        }
        timings.push(Timing {
            name,
            query,
            rows,
            samples,
        });
    }
    let mut out = std::io::stdout().lock();
    let arrow = engine.memory_size();
    let rss = resident_bytes();
    if json {
        let queries: Vec<serde_json::Value> = timings
            .iter()
            .map(|t| {
                serde_json::json!({
                    "name": t.name, "query": t.query, "rows": t.rows,
                    "p10_ms": t.percentile(0.1), "median_ms": t.percentile(0.5), "p90_ms": t.percentile(0.9),
                    "iterations": t.samples.len(),
                })
            })
            .collect();
        let report = serde_json::json!({
            "load_seconds": load_time.as_secs_f64(),
            "arrow_bytes": arrow,
            "rss_bytes": rss,
            "runs": engine.num_objects(datasets::layout::ObjectKind::Runs),
            "queries": queries,
        });
        writeln!(out, "{report:#}")?;
    } else {
        writeln!(
            out,
            "load: {:.3} s; Arrow data {} MB; resident {} MB",
            load_time.as_secs_f64(),
            arrow >> 20,
            rss.unwrap_or(0) >> 20
        )?;
        for t in &timings {
            writeln!(
                out,
                "{:<24} {:>8} rows  median {:>9.3} ms  p90 {:>9.3} ms",
                t.name,
                t.rows,
                t.percentile(0.5),
                t.percentile(0.9)
            )?;
        }
    }
    Ok(())
}

/// The process's resident set size, from /proc (Linux); `None` elsewhere.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
