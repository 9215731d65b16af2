//! `nql`: query a Neptune project stored as Parquet from the command line.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
