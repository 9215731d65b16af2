//! Writes a generated project to a directory.
//!
//! ```text
//! cargo run --release -p nql-datasets --example generate -- --runs 1000000 --out /tmp/big
//!     [--series 4] [--points 100] [--seed 42] [--threads 0] [--runs-per-file 250000]
//!     [--compression zstd|snappy|none] [--full]
//! ```
//!
//! `--full`: every run logs every point (no early stops, failures, active runs or runs
//! without series), so that the float series hold exactly runs × series × points points.

use std::time::Instant;

use datasets::{Compression, ProjectSpec, generate_to_dir};

fn main() {
    let mut spec = ProjectSpec::default();
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--runs" => spec.runs = number(&value()),
            "--series" => spec.float_series_per_run = number(&value()),
            "--points" => spec.points_per_series = number(&value()),
            "--seed" => spec.seed = number(&value()),
            "--threads" => spec.threads = number(&value()),
            "--runs-per-file" => spec.runs_per_file = number(&value()),
            "--compression" => {
                spec.compression = match value().as_str() {
                    "zstd" => Compression::Zstd(1),
                    "snappy" => Compression::Snappy,
                    "none" => Compression::None,
                    other => usage(&format!("unknown compression {other}")),
                }
            }
            "--out" => out = Some(value()),
            "--full" => {
                spec.early_stop_rate = 0.0;
                spec.failed_rate = 0.0;
                spec.no_series_rate = 0.0;
                spec.active_rate = 0.0;
            }
            _ => usage(&format!("unknown argument {flag}")),
        }
    }
    let out = out.unwrap_or_else(|| usage("--out is required"));
    let started = Instant::now();
    let mut shown = 0;
    let result = generate_to_dir(&spec, &out, |p| {
        let percent = p.runs_done * 100 / p.runs_total.max(1);
        if percent >= shown + 5 || p.runs_done == p.runs_total {
            shown = percent;
            eprintln!(
                "{percent:3}%  {} runs  {} points  {:.1}s",
                p.runs_done,
                p.float_points,
                started.elapsed().as_secs_f64()
            );
        }
    });
    match result {
        Ok(summary) => eprintln!(
            "wrote {} runs, {} float points, {} log entries, {} models, {} model versions to {out} in {:.1}s",
            summary.runs,
            summary.float_points,
            summary.string_entries,
            summary.models,
            summary.model_versions,
            started.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

fn number<T: std::str::FromStr>(s: &str) -> T {
    s.replace('_', "")
        .parse()
        .unwrap_or_else(|_| usage(&format!("not a number: {s}")))
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "{msg}\nusage: generate --runs N --out DIR [--series N] [--points N] [--seed N] [--threads N] [--runs-per-file N] [--compression zstd|snappy|none] [--full]"
    );
    std::process::exit(2)
}
