//! `nql shell`: an interactive prompt over a project loaded once, with line editing and
//! history (in `~/.nql_history`).

use std::io::{IsTerminal, Write};

use datasets::layout::ObjectKind;
use engine::{Engine, FetchOptions, Trashed};
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use super::output::{self, Format};
use super::{Failure, print_warnings};

const HELP: &str = "\
Type an NQL query to run it on the current table, or a command:
  .table runs|models|model_versions   switch table (.model ID for one model's versions;
         |experiments                 experiments: a Neptune 3.x export's heads)
  .columns a,b,...                    columns to show (.columns alone: all)
  .sort PATH [asc|desc]               sort key (.sort alone: sys/creation_time)
  .limit N                            show at most N rows (.limit alone: no limit)
  .trashed exclude|only|all           trashed objects
  .format table|csv|json              output format
  .schema                             attributes of the current table
  .explain QUERY                      the checked query and the plans
  .help  .quit                        this text; leave (also Ctrl-D)";

/// The settings the shell's commands change.
struct Session {
    table: ObjectKind,
    model: Option<String>,
    options: FetchOptions,
    format: Format,
}

/// Runs the prompt until `.quit` or end of input.
pub fn run(engine: Engine) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut editor =
        DefaultEditor::new().map_err(|e| Failure::Other(format!("error: starting the prompt: {e}\n")))?;
    let history = std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".nql_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        writeln!(
            std::io::stdout(),
            "nql shell: {} runs loaded. Type .help for commands.",
            engine.num_objects(ObjectKind::Runs).unwrap_or(0)
        )?;
    }
    let mut session = Session {
        table: ObjectKind::Runs,
        model: None,
        options: FetchOptions {
            limit: Some(20),
            ..FetchOptions::default()
        },
        format: Format::Table,
    };
    loop {
        let prompt = format!("nql:{}> ", session.table.table_name());
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            // The prompt goes to standard output on a terminal rustyline does not support.
            Err(ReadlineError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
            Err(ReadlineError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(Failure::Usage(
                    "error: standard input: not valid UTF-8; queries are UTF-8 text\n".into(),
                ));
            }
            Err(e) => return Err(Failure::Other(format!("error: reading input: {e}\n"))),
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line);
        if matches!(line, ".quit" | ".exit" | "\\q") {
            break;
        }
        match runtime.block_on(step(&engine, &mut session, line)) {
            Ok(()) => {}
            // Nobody reads what the shell prints any more: leave quietly.
            Err(Failure::BrokenPipe) => break,
            Err(Failure::Usage(m) | Failure::Other(m)) => eprint!("{m}"),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

/// One line: a command or a query.
async fn step(engine: &Engine, s: &mut Session, line: &str) -> Result<(), Failure> {
    let (command, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let usage = |m: &str| Err(Failure::Usage(format!("error: {m}\n")));
    match command {
        ".help" => writeln!(std::io::stdout(), "{HELP}")?,
        ".table" => match ObjectKind::from_table_name(rest) {
            Some(k) => {
                s.table = k;
                s.model = None;
            }
            None => return usage("tables are runs, models, model_versions, experiments"),
        },
        ".model" => {
            s.table = ObjectKind::ModelVersions;
            s.model = (!rest.is_empty()).then(|| rest.to_string());
        }
        ".columns" => {
            s.options.columns =
                (!rest.is_empty()).then(|| rest.split(',').map(|c| c.trim().to_string()).collect())
        }
        ".sort" => {
            let mut parts = rest.split_whitespace();
            s.options.sort_by = parts.next().map(String::from);
            s.options.ascending = matches!(parts.next(), Some("asc"));
        }
        ".limit" => match rest {
            "" => s.options.limit = None,
            n => match n.parse() {
                Ok(n) => s.options.limit = Some(n),
                Err(_) => return usage("`.limit N` takes a number"),
            },
        },
        ".trashed" => match rest.parse::<Trashed>() {
            Ok(t) => s.options.trashed = t,
            Err(e) => return usage(&e),
        },
        ".format" => {
            s.format = match rest {
                "table" => Format::Table,
                "csv" => Format::Csv,
                "json" => Format::Json,
                _ => return usage("formats are table, csv, json"),
            }
        }
        ".schema" => {
            let attributes = engine.attributes(s.table).unwrap_or_default();
            output::print_schema(
                engine.kind(),
                s.table.table_name(),
                engine.num_objects(s.table).unwrap_or(0),
                &attributes,
                true,
            )?;
        }
        ".explain" => {
            let e = engine
                .explain(s.table, rest, &s.options, s.model.as_deref())
                .await?;
            print_warnings(rest, &e.warnings);
            writeln!(std::io::stdout(), "{}\n\n{}", e.checked, e.physical)?;
        }
        c if c.starts_with('.') => return usage(&format!("unknown command `{c}` (type .help)")),
        _ => {
            let result = engine
                .fetch(s.table, line, &s.options, s.model.as_deref())
                .await?;
            print_warnings(line, &result.warnings);
            let terminal = std::io::stdout().is_terminal();
            output::write(s.format, &result, Box::new(std::io::stdout()), terminal)?;
        }
    }
    Ok(())
}
