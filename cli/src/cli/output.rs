//! Printing results: a table that fits the terminal, exact CSV and JSON, or Parquet.

use std::io::Write;
use std::sync::Arc;

use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::json::ArrayWriter;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::parquet::arrow::ArrowWriter;
use engine::{ProgressFn, QueryResult};
use indicatif::{ProgressBar, ProgressStyle};
use nql::AttributeInfo;

use super::Failure;

/// Output formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// A table sized to the terminal (long values are cut).
    Table,
    /// Comma-separated values with a header line; values printed exactly.
    Csv,
    /// A JSON array of objects, one per row.
    Json,
    /// A Parquet file (needs --output).
    Parquet,
}

/// Writes `result` in `format` to `out`. `terminal` fits tables to the terminal's width.
pub fn write(
    format: Format,
    result: &QueryResult,
    mut out: Box<dyn Write + Send>,
    terminal: bool,
) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::writing("writing the result", &e);
    match format {
        Format::Table => {
            let width = terminal.then(|| terminal_size::terminal_size().map_or(120, |(w, _)| w.0 as usize));
            writeln!(out, "{}", table(result, width)?).map_err(io)?;
            writeln!(out, "{} rows", result.num_rows()).map_err(io)?;
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(&mut out);
            let header: Vec<&str> = result.schema.fields().iter().map(|f| f.name().as_str()).collect();
            writer.write_record(&header).map_err(csv_error)?;
            let options = FormatOptions::default().with_null("");
            let mut text = String::new();
            for batch in &result.batches {
                let formatters = formatters(batch.columns(), &options)?;
                // Strings are written as they are, other values formatted into one buffer:
                // no allocation per cell.
                let strings: Vec<Option<&datafusion::arrow::array::StringViewArray>> =
                    batch.columns().iter().map(|c| c.as_string_view_opt()).collect();
                for row in 0..batch.num_rows() {
                    for (f, s) in formatters.iter().zip(&strings) {
                        match s {
                            Some(s) if s.is_valid(row) => writer.write_field(s.value(row)),
                            _ => {
                                text.clear();
                                std::fmt::Write::write_fmt(&mut text, format_args!("{}", f.value(row)))
                                    .map_err(|e| Failure::writing("writing CSV", &e))?;
                                writer.write_field(&text)
                            }
                        }
                        .map_err(csv_error)?;
                    }
                    writer.write_record(None::<&[u8]>).map_err(csv_error)?;
                }
            }
            writer.flush().map_err(io)?;
        }
        Format::Json => {
            let mut writer = ArrayWriter::new(&mut out);
            for batch in &result.batches {
                writer
                    .write(batch)
                    .map_err(|e| Failure::writing("writing JSON", &e))?;
            }
            writer
                .finish()
                .map_err(|e| Failure::writing("writing JSON", &e))?;
            drop(writer);
            writeln!(out).map_err(io)?;
        }
        Format::Parquet => {
            let mut writer = ArrowWriter::try_new(&mut out, Arc::clone(&result.schema), None)
                .map_err(|e| Failure::writing("writing Parquet", &e))?;
            for batch in &result.batches {
                writer
                    .write(batch)
                    .map_err(|e| Failure::writing("writing Parquet", &e))?;
            }
            writer
                .close()
                .map_err(|e| Failure::writing("writing Parquet", &e))?;
        }
    }
    out.flush().map_err(io)
}

/// The result as a table. With a terminal `width`, only the columns that fit are shown (from
/// the left; `sys/id` always), and a last line says how many were left out.
fn table(result: &QueryResult, width: Option<usize>) -> Result<String, Failure> {
    let options = FormatOptions::default().with_null("");
    let mut rows: Vec<Vec<String>> = Vec::new();
    for batch in &result.batches {
        let formatters = formatters(batch.columns(), &options)?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| cell(&f.value(row).to_string()))
                    .collect(),
            );
        }
    }
    let headers: Vec<String> = result.schema.fields().iter().map(|f| cell(f.name())).collect();
    let mut shown = headers.len();
    if let Some(width) = width {
        let mut used = 1;
        shown = 0;
        for (c, h) in headers.iter().enumerate() {
            let w = rows
                .iter()
                .map(|r| r[c].chars().count())
                .chain([h.chars().count()])
                .max()
                .unwrap_or(0)
                + 3;
            if c > 0 && used + w > width {
                break;
            }
            used += w;
            shown = c + 1;
        }
    }
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(&headers[..shown]);
    for r in &rows {
        table.add_row(&r[..shown]);
    }
    let mut text = table.to_string();
    if shown < headers.len() {
        text.push_str(&format!(
            "\n{} more columns not shown: {} (choose with --columns)",
            headers.len() - shown,
            clip(&headers[shown..].join(", "), 200)
        ));
    }
    Ok(text)
}

/// A value as a table cell: control characters escaped, long text cut.
fn cell(s: &str) -> String {
    clip(
        &s.replace('\n', "\\n").replace('\t', "\\t").replace('\r', "\\r"),
        40,
    )
}

fn formatters<'a>(
    columns: &'a [Arc<dyn Array>],
    options: &'a FormatOptions<'a>,
) -> Result<Vec<ArrayFormatter<'a>>, Failure> {
    columns
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), options))
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::Other(format!("error: formatting the result: {e}\n")))
}

fn csv_error(e: csv::Error) -> Failure {
    // `csv::Error` has no `source()`: its I/O error is reached through its kind.
    match e.kind() {
        csv::ErrorKind::Io(io) => Failure::writing("writing CSV", io),
        _ => Failure::writing("writing CSV", &e),
    }
}

/// Cuts `s` to `max` characters, marking the cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

/// Prints a table's attributes: path, type, how many objects have it.
pub fn print_schema(
    kind: &str,
    table: &str,
    objects: usize,
    attributes: &[AttributeInfo],
    terminal: bool,
) -> std::io::Result<()> {
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(["path", "type", "objects"]);
    if terminal {
        t.set_content_arrangement(ContentArrangement::Dynamic);
    }
    for a in attributes {
        t.add_row([a.path.clone(), a.ty.to_string(), a.count.to_string()]);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{kind}")?;
    writeln!(out, "{table}: {objects} objects, {} attributes", attributes.len())?;
    writeln!(out, "{t}")
}

/// A progress bar on standard error when it is a terminal; nothing otherwise. It shows only
/// for loads that take more than a moment.
pub fn progress_bar() -> Option<ProgressFn> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}: {bar:30} {pos}/{len} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let shown = std::sync::atomic::AtomicBool::new(false);
    Some(Arc::new(move |p: &engine::LoadProgress| {
        if !shown.load(std::sync::atomic::Ordering::Relaxed) && started.elapsed().as_millis() > 300 {
            shown.store(true, std::sync::atomic::Ordering::Relaxed);
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        bar.set_message(p.stage);
        bar.set_length(p.total);
        bar.set_position(p.done);
        if p.stage == "ready" {
            bar.finish_and_clear();
        }
    }))
}

/// A progress bar for generation, on standard error when it is a terminal.
pub fn generation_bar(runs: u64) -> ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(runs);
    bar.set_style(
        ProgressStyle::with_template("generating {bar:30} {pos}/{len} runs ({elapsed}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}
