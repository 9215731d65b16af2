//! An MLflow SQLite store: the whole file is one unit, read in one read transaction of a
//! read-only connection (so a store that MLflow is writing to gives what was committed when
//! the read began), with the metrics table streamed into batches of points.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, Row};

use super::{
    Experiment, Model, ModelVersion, POINT_BATCH_ROWS, Points, Run, Status, problem, registry_batches,
    runs_batch, select_experiments,
};
use crate::error::LoadError;
use crate::source::{Source, Unit, UnitData};
use datasets::layout::ObjectKind;

/// The first 16 bytes of every SQLite database file.
const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// How long a read waits for a writer's lock before it gives up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The tables and columns read, by name (MLflow's migrations made them; newer versions add
/// columns, such as `workspace`, which are not read). Every one must be there.
const REQUIRED: &[(&str, &[&str])] = &[
    ("experiments", &["experiment_id", "name", "lifecycle_stage"]),
    (
        "runs",
        &[
            "run_uuid",
            "name",
            "user_id",
            "status",
            "start_time",
            "end_time",
            "lifecycle_stage",
            "experiment_id",
        ],
    ),
    ("params", &["run_uuid", "key", "value"]),
    ("tags", &["run_uuid", "key", "value"]),
    (
        "metrics",
        &["run_uuid", "key", "step", "timestamp", "value", "is_nan"],
    ),
    (
        "registered_models",
        &["name", "creation_time", "last_updated_time", "description"],
    ),
    ("registered_model_tags", &["name", "key", "value"]),
    (
        "model_versions",
        &[
            "name",
            "version",
            "creation_time",
            "last_updated_time",
            "description",
            "user_id",
            "current_stage",
            "run_id",
        ],
    ),
    ("model_version_tags", &["name", "version", "key", "value"]),
];

/// Whether `path` starts with SQLite's header.
pub(super) fn is_sqlite_file(path: &Path) -> Result<bool, LoadError> {
    Ok(header(path)?.starts_with(MAGIC))
}

/// The first 100 bytes of the file (fewer if it is shorter).
fn header(path: &Path) -> Result<Vec<u8>, LoadError> {
    let io = |source| LoadError::Io {
        file: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::with_capacity(100);
    file.by_ref().take(100).read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes)
}

/// An MLflow SQLite store.
#[derive(Debug)]
pub(super) struct SqliteStore {
    /// The database file, absolute.
    db: PathBuf,
    /// The experiments whose runs are read (`None`: all).
    selected: Option<BTreeSet<String>>,
    busy_timeout: Duration,
    batch_rows: usize,
}

impl SqliteStore {
    /// Opens the store at `db` and checks that it has MLflow's tables. `named`: the caller
    /// named it as a SQLite store (a `sqlite://` URI), so a file that is not SQLite is an
    /// error rather than another kind of project.
    pub(super) fn open(db: PathBuf, experiments: &[String], named: bool) -> Result<SqliteStore, LoadError> {
        let db = std::path::absolute(&db).map_err(|source| LoadError::Io {
            file: db.clone(),
            source,
        })?;
        match std::fs::metadata(&db) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(problem(&db, "not a file: an MLflow SQLite store is one file")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && named => {
                return Err(problem(
                    &db,
                    "no such file (a store is only read here, never created)",
                ));
            }
            Err(source) => return Err(LoadError::Io { file: db, source }),
        }
        if !is_sqlite_file(&db)? {
            return Err(problem(&db, "not a SQLite database (no SQLite header)"));
        }
        let mut store = SqliteStore {
            db,
            selected: None,
            busy_timeout: BUSY_TIMEOUT,
            batch_rows: POINT_BATCH_ROWS,
        };
        let conn = store.connect()?;
        let experiments_all = {
            let tx = store.begin(&conn)?;
            store.check_schema(&conn)?;
            let all = store.experiments(&conn)?;
            tx.end()?;
            all
        };
        store.selected = select_experiments(&store.db, &experiments_all, experiments)?;
        Ok(store)
    }

    #[cfg(test)]
    pub(super) fn set_busy_timeout(&mut self, timeout: Duration) {
        self.busy_timeout = timeout;
    }

    #[cfg(test)]
    pub(super) fn set_batch_rows(&mut self, rows: usize) {
        self.batch_rows = rows;
    }

    fn wal_file(&self) -> PathBuf {
        let mut name = self.db.as_os_str().to_owned();
        name.push("-wal");
        PathBuf::from(name)
    }

    fn err(&self, what: &str, e: rusqlite::Error) -> LoadError {
        let hint = match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                " (a writer, such as a running MLflow, holds the database locked; try again)"
            }
            Some(ErrorCode::DatabaseCorrupt) => " (the file is damaged or truncated)",
            Some(ErrorCode::NotADatabase) => " (not a SQLite database, or a damaged one)",
            Some(ErrorCode::ReadOnly) => {
                " (a write was interrupted and only MLflow, writing, can recover the journal)"
            }
            _ => "",
        };
        problem(&self.db, format!("{what}: {e}{hint}"))
    }

    /// A read-only connection that takes no part in writing: `mode=ro`, and for a database
    /// in WAL mode that nobody has open (no `-wal` file) `immutable=1`, since SQLite would
    /// otherwise create the `-wal` and `-shm` files beside it.
    fn connect(&self) -> Result<Connection, LoadError> {
        let header = header(&self.db)?;
        let wal_mode = header.len() >= 20 && (header[18] == 2 || header[19] == 2);
        let immutable = wal_mode && !self.wal_file().exists();
        let uri = file_uri(&self.db, immutable);
        let flags =
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&uri, flags).map_err(|e| self.err("opening", e))?;
        conn.busy_timeout(self.busy_timeout)
            .map_err(|e| self.err("setting the busy timeout", e))?;
        conn.execute_batch("PRAGMA query_only = ON")
            .map_err(|e| self.err("opening", e))?;
        Ok(conn)
    }

    /// Begins the read transaction: every query until [`ReadTx::end`] sees one committed
    /// state of the store.
    fn begin<'c>(&self, conn: &'c Connection) -> Result<ReadTx<'c, '_>, LoadError> {
        conn.execute_batch("BEGIN DEFERRED")
            .map_err(|e| self.err("beginning a read", e))?;
        Ok(ReadTx {
            conn,
            store: self,
            open: true,
        })
    }

    /// Every table and column this reader needs is there.
    fn check_schema(&self, conn: &Connection) -> Result<(), LoadError> {
        for (table, columns) in REQUIRED {
            let have = self.columns_of(conn, table)?;
            if have.is_empty() {
                return Err(problem(
                    &self.db,
                    format!("no table `{table}`: not an MLflow tracking store (MLflow 2 or later)"),
                ));
            }
            if let Some(missing) = columns.iter().find(|c| !have.contains(**c)) {
                return Err(problem(
                    &self.db,
                    format!("table `{table}` has no column `{missing}`"),
                ));
            }
        }
        Ok(())
    }

    fn columns_of(&self, conn: &Connection, table: &str) -> Result<BTreeSet<String>, LoadError> {
        let what = format!("reading the columns of table `{table}`");
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .map_err(|e| self.err(&what, e))?;
        let names = stmt
            .query_map([table], |row| row.get::<_, String>(0))
            .map_err(|e| self.err(&what, e))?;
        names
            .collect::<Result<BTreeSet<String>, _>>()
            .map_err(|e| self.err(&what, e))
    }

    fn experiments(&self, conn: &Connection) -> Result<Vec<Experiment>, LoadError> {
        let mut out = Vec::new();
        self.each(
            conn,
            "experiments",
            "SELECT experiment_id, name, lifecycle_stage FROM experiments ORDER BY experiment_id",
            &[],
            |c| {
                out.push(Experiment {
                    id: c.text(0, "experiment_id")?.unwrap_or_default(),
                    name: c.text(1, "name")?.unwrap_or_default(),
                    deleted: c.text(2, "lifecycle_stage")?.as_deref() == Some("deleted"),
                });
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Runs `sql` (which reads `table`) and gives every row to `f`.
    fn each(
        &self,
        conn: &Connection,
        table: &str,
        sql: &str,
        params: &[rusqlite::types::Value],
        mut f: impl FnMut(&Cells<'_, '_>) -> Result<(), LoadError>,
    ) -> Result<(), LoadError> {
        let what = format!("reading table `{table}`");
        let mut stmt = conn.prepare(sql).map_err(|e| self.err(&what, e))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(|e| self.err(&what, e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(&what, e))? {
            f(&Cells {
                row,
                table,
                store: self,
            })?;
        }
        Ok(())
    }

    /// ` WHERE run_uuid IN (runs of the selected experiments)`, or nothing, with its
    /// parameters.
    fn run_filter(&self, experiments: &[Experiment]) -> (String, Vec<rusqlite::types::Value>) {
        let Some(selected) = &self.selected else {
            return (String::new(), Vec::new());
        };
        // The ids as the table holds them: integers (MLflow's column), else text.
        let values: Vec<rusqlite::types::Value> = experiments
            .iter()
            .filter(|e| selected.contains(&e.id))
            .map(|e| match e.id.parse::<i64>() {
                Ok(i) => rusqlite::types::Value::Integer(i),
                Err(_) => rusqlite::types::Value::Text(e.id.clone()),
            })
            .collect();
        let marks = vec!["?"; values.len()].join(", ");
        (
            format!(" WHERE run_uuid IN (SELECT run_uuid FROM runs WHERE experiment_id IN ({marks}))"),
            values,
        )
    }

    fn read_all(&self, conn: &Connection) -> Result<UnitData, LoadError> {
        let mut data = UnitData::default();
        let experiments = self.experiments(conn)?;
        let by_id: HashMap<&str, &Experiment> = experiments.iter().map(|e| (e.id.as_str(), e)).collect();

        let mut runs: Vec<Run> = Vec::new();
        self.each(
            conn,
            "runs",
            "SELECT run_uuid, name, user_id, status, start_time, end_time, lifecycle_stage, experiment_id \
             FROM runs ORDER BY run_uuid",
            &[],
            |c| {
                let experiment_id = c.text(7, "experiment_id")?.unwrap_or_default();
                if let Some(selected) = &self.selected
                    && !selected.contains(&experiment_id)
                {
                    return Ok(());
                }
                let Some(id) = c.text(0, "run_uuid")? else {
                    return Err(c.bad("run_uuid", "a run without an id (NULL)"));
                };
                let status = match c.text(3, "status")? {
                    None => Status::Running,
                    Some(name) => Status::from_name(&name).ok_or_else(|| {
                        c.bad(
                            "status",
                            &format!(
                                "`{name}` is not a run status (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED)"
                            ),
                        )
                    })?,
                };
                let experiment = by_id.get(experiment_id.as_str());
                let trashed = c.text(6, "lifecycle_stage")?.as_deref() == Some("deleted")
                    || experiment.is_some_and(|e| e.deleted);
                runs.push(Run {
                    id,
                    name: c.text(1, "name")?,
                    user_id: c.text(2, "user_id")?,
                    status,
                    start_time: c.int(4, "start_time")?,
                    end_time: c.int(5, "end_time")?,
                    trashed,
                    experiment_name: experiment.map(|e| e.name.clone()),
                    experiment_id,
                    params: Vec::new(),
                    tags: Vec::new(),
                    last_point: None,
                });
                Ok(())
            },
        )?;
        let index: HashMap<String, usize> = runs.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
        let (filter, params) = self.run_filter(&experiments);
        let mut orphans = 0usize;

        for table in ["params", "tags"] {
            let sql = format!("SELECT run_uuid, key, value FROM {table}{filter} ORDER BY run_uuid, key");
            self.each(conn, table, &sql, &params, |c| {
                let Some(&i) = c.str(0, "run_uuid")?.and_then(|id| index.get(id)) else {
                    orphans += 1;
                    return Ok(());
                };
                let key = c.text(1, "key")?.unwrap_or_default();
                let value = c.text(2, "value")?.unwrap_or_default();
                let run = &mut runs[i];
                if table == "params" {
                    run.params.push((key, value));
                } else {
                    run.tags.push((key, value));
                }
                Ok(())
            })?;
        }

        let mut points = Points::new(self.batch_rows);
        let sql = format!("SELECT run_uuid, key, step, timestamp, value, is_nan FROM metrics{filter}");
        self.each(conn, "metrics", &sql, &params, |c| {
            let Some(id) = c.str(0, "run_uuid")? else {
                orphans += 1;
                return Ok(());
            };
            let Some(&i) = index.get(id) else {
                orphans += 1;
                return Ok(());
            };
            let key = c.str(1, "key")?.unwrap_or_default();
            let step = c.int(2, "step")?.unwrap_or(0);
            let timestamp = c.int(3, "timestamp")?;
            let value = if c.int(5, "is_nan")?.unwrap_or(0) != 0 {
                f64::NAN
            } else {
                c.real(4, "value")?
                    .ok_or_else(|| c.bad("value", "a point without a value (NULL)"))?
            };
            points.push(id, key, step, value, timestamp);
            runs[i].see_point(timestamp);
            Ok(())
        })?;
        if orphans > 0 {
            data.warnings.push(format!(
                "{}: {orphans} params, tags or metric points of runs that are not in table `runs` were left out",
                self.db.display()
            ));
        }
        if let Some(batch) = runs_batch(&runs) {
            data.objects.push((ObjectKind::Runs, batch));
        }
        data.float_points = points
            .finish()
            .into_iter()
            .map(|b| (ObjectKind::Runs, b))
            .collect();

        let (models, versions) = self.registry(conn)?;
        registry_batches(&models, &versions, &mut data);
        Ok(data)
    }

    fn registry(&self, conn: &Connection) -> Result<(Vec<Model>, Vec<ModelVersion>), LoadError> {
        let mut models: Vec<Model> = Vec::new();
        self.each(
            conn,
            "registered_models",
            "SELECT name, creation_time, last_updated_time, description FROM registered_models ORDER BY name",
            &[],
            |c| {
                models.push(Model {
                    name: c.text(0, "name")?.unwrap_or_default(),
                    creation_time: c.int(1, "creation_time")?,
                    last_updated_time: c.int(2, "last_updated_time")?,
                    description: c.text(3, "description")?,
                    ..Model::default()
                });
                Ok(())
            },
        )?;
        let model_index: HashMap<String, usize> = models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        self.each(
            conn,
            "registered_model_tags",
            "SELECT name, key, value FROM registered_model_tags ORDER BY name, key",
            &[],
            |c| {
                if let Some(&i) = c.str(0, "name")?.and_then(|n| model_index.get(n)) {
                    let tag = (
                        c.text(1, "key")?.unwrap_or_default(),
                        c.text(2, "value")?.unwrap_or_default(),
                    );
                    models[i].tags.push(tag);
                }
                Ok(())
            },
        )?;
        // Aliases came with MLflow 2.3: an older store has none.
        if !self.columns_of(conn, "registered_model_aliases")?.is_empty() {
            self.each(
                conn,
                "registered_model_aliases",
                "SELECT name, alias, version FROM registered_model_aliases ORDER BY name, alias",
                &[],
                |c| {
                    if let Some(&i) = c.str(0, "name")?.and_then(|n| model_index.get(n)) {
                        let alias = (
                            c.text(1, "alias")?.unwrap_or_default(),
                            c.text(2, "version")?.unwrap_or_default(),
                        );
                        models[i].aliases.push(alias);
                    }
                    Ok(())
                },
            )?;
        }

        let has_model_id = self.columns_of(conn, "model_versions")?.contains("model_id");
        let sql = format!(
            "SELECT name, version, creation_time, last_updated_time, description, user_id, current_stage, run_id{} \
             FROM model_versions ORDER BY name, version",
            if has_model_id { ", model_id" } else { "" }
        );
        let mut versions: Vec<ModelVersion> = Vec::new();
        self.each(conn, "model_versions", &sql, &[], |c| {
            versions.push(ModelVersion {
                name: c.text(0, "name")?.unwrap_or_default(),
                version: c.text(1, "version")?.unwrap_or_default(),
                creation_time: c.int(2, "creation_time")?,
                last_updated_time: c.int(3, "last_updated_time")?,
                description: c.text(4, "description")?,
                user_id: c.text(5, "user_id")?,
                current_stage: c.text(6, "current_stage")?,
                run_id: c.text(7, "run_id")?,
                model_id: if has_model_id {
                    c.text(8, "model_id")?
                } else {
                    None
                },
                tags: Vec::new(),
            });
            Ok(())
        })?;
        let version_index: HashMap<(String, String), usize> = versions
            .iter()
            .enumerate()
            .map(|(i, v)| ((v.name.clone(), v.version.clone()), i))
            .collect();
        self.each(
            conn,
            "model_version_tags",
            "SELECT name, version, key, value FROM model_version_tags ORDER BY name, version, key",
            &[],
            |c| {
                let key = (
                    c.text(0, "name")?.unwrap_or_default(),
                    c.text(1, "version")?.unwrap_or_default(),
                );
                if let Some(&i) = version_index.get(&key) {
                    let tag = (
                        c.text(2, "key")?.unwrap_or_default(),
                        c.text(3, "value")?.unwrap_or_default(),
                    );
                    versions[i].tags.push(tag);
                }
                Ok(())
            },
        )?;
        Ok((models, versions))
    }
}

impl Source for SqliteStore {
    fn describe(&self) -> String {
        "MLflow SQLite store".to_string()
    }

    fn units(&self) -> Result<Vec<Unit>, LoadError> {
        let mut files = vec![self.db.clone()];
        let wal = self.wal_file();
        if wal.exists() {
            files.push(wal);
        }
        let name = self.db.file_name().map_or_else(
            || self.db.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        // The filter changes what the unit holds, so it is part of its name.
        let label = match &self.selected {
            None => name,
            Some(ids) => format!(
                "{name} (experiments {})",
                ids.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        };
        Ok(vec![Unit { label, files }])
    }

    fn read(&self, _unit: &Unit) -> Result<UnitData, LoadError> {
        let conn = self.connect()?;
        let tx = self.begin(&conn)?;
        self.check_schema(&conn)?;
        let data = self.read_all(&conn)?;
        tx.end()?;
        Ok(data)
    }
}

/// The read transaction; ended by [`ReadTx::end`], or rolled back when dropped on an error.
struct ReadTx<'c, 's> {
    conn: &'c Connection,
    store: &'s SqliteStore,
    open: bool,
}

impl ReadTx<'_, '_> {
    fn end(mut self) -> Result<(), LoadError> {
        self.open = false;
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| self.store.err("ending the read", e))
    }
}

impl Drop for ReadTx<'_, '_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// The cells of one row of `table`, read by their position in the query and named by their
/// column in errors.
struct Cells<'r, 's> {
    row: &'r Row<'r>,
    table: &'s str,
    store: &'s SqliteStore,
}

impl Cells<'_, '_> {
    fn get(&self, i: usize, column: &str) -> Result<ValueRef<'_>, LoadError> {
        self.row.get_ref(i).map_err(|e| {
            self.store
                .err(&format!("reading table `{}`, column `{column}`", self.table), e)
        })
    }

    fn bad(&self, column: &str, what: &str) -> LoadError {
        problem(
            &self.store.db,
            format!("table `{}`, column `{column}`: {what}", self.table),
        )
    }

    /// A text cell (an integer one is read as its decimal digits).
    fn text(&self, i: usize, column: &str) -> Result<Option<String>, LoadError> {
        Ok(match self.get(i, column)? {
            ValueRef::Integer(n) => Some(n.to_string()),
            _ => self.str(i, column)?.map(str::to_string),
        })
    }

    /// A text cell, borrowed (not for integer cells).
    fn str(&self, i: usize, column: &str) -> Result<Option<&str>, LoadError> {
        match self.get(i, column)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|_| self.bad(column, "text that is not UTF-8")),
            ValueRef::Integer(_) => Err(self.bad(column, "expected text, found an integer")),
            ValueRef::Real(_) => Err(self.bad(column, "expected text, found a real number")),
            ValueRef::Blob(_) => Err(self.bad(column, "expected text, found a blob")),
        }
    }

    fn int(&self, i: usize, column: &str) -> Result<Option<i64>, LoadError> {
        match self.get(i, column)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(n) => Ok(Some(n)),
            ValueRef::Real(r) if r.fract() == 0.0 && r.abs() < 9.0e18 => Ok(Some(r as i64)),
            ValueRef::Real(r) => Err(self.bad(column, &format!("expected an integer, found {r}"))),
            ValueRef::Text(t) => Err(self.bad(
                column,
                &format!("expected an integer, found text `{}`", String::from_utf8_lossy(t)),
            )),
            ValueRef::Blob(_) => Err(self.bad(column, "expected an integer, found a blob")),
        }
    }

    fn real(&self, i: usize, column: &str) -> Result<Option<f64>, LoadError> {
        match self.get(i, column)? {
            ValueRef::Null => Ok(None),
            ValueRef::Real(r) => Ok(Some(r)),
            ValueRef::Integer(n) => Ok(Some(n as f64)),
            ValueRef::Text(t) => Err(self.bad(
                column,
                &format!("expected a number, found text `{}`", String::from_utf8_lossy(t)),
            )),
            ValueRef::Blob(_) => Err(self.bad(column, "expected a number, found a blob")),
        }
    }
}

/// `file:` URI of an absolute path for SQLite, read-only.
fn file_uri(path: &Path, immutable: bool) -> String {
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?mode=ro");
    if immutable {
        uri.push_str("&immutable=1");
    }
    uri
}
