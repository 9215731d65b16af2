//! Imports MLPerf Training results (`runs.csv`, `series.csv`) and writes them as a project.
//! This is how `datasets/examples/mlperf/` was made:
//!
//! ```text
//! cargo run -p nql-datasets --example import_mlperf -- /work/shared/real-data/mlperf datasets/examples/mlperf
//! ```
//!
//! The output directory must hold no project tables (delete `*.parquet` first to regenerate);
//! other files (README.md, NOTICE.md) are left alone.

use datasets::import::mlperf;
use datasets::{Compression, WriteOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, out] = args.as_slice() else {
        eprintln!("usage: import_mlperf SOURCE_DIR OUT_DIR");
        std::process::exit(2);
    };
    let project = mlperf::import_dir(source).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1);
    });
    // A committed example: compress harder than the default.
    let options = WriteOptions {
        compression: Compression::Zstd(9),
        ..WriteOptions::default()
    };
    match project.write_dir_with(out, &options) {
        Ok(files) => {
            for file in files {
                let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                eprintln!("{}  {size} bytes", file.display());
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
