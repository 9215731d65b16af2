//! An MLflow file store (`mlruns/`): one unit per run directory (its `meta.yaml`, its
//! experiment's `meta.yaml` and every params, metrics and tags file) and one per registered
//! model of the registry in `mlruns/models/` (its files and its versions' files).
//!
//! The layout, as MLflow's `FileStore` writes it: `<experiment_id>/meta.yaml`,
//! `<experiment_id>/<run_id>/meta.yaml`, `.../params/<key>` (the value), `.../tags/<key>`,
//! `.../metrics/<key>` (a point a line: `timestamp value [step [dataset_name
//! dataset_digest]]`), a key with `/` being nested directories; deleted experiments in
//! `.trash/`; `models/<name>/meta.yaml`, `models/<name>/tags/`, `models/<name>/aliases/<alias>`
//! (the version), `models/<name>/version-<n>/meta.yaml` and its `tags/`.

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use datasets::layout::ObjectKind;
use yaml_rust2::{Yaml, YamlLoader};

use super::{
    Experiment, Model, ModelVersion, POINT_BATCH_ROWS, Points, Run, Status, problem, registry_batches,
    runs_batch, select_experiments,
};
use crate::error::LoadError;
use crate::source::{Source, Unit, UnitData};

const META: &str = "meta.yaml";
const TRASH: &str = ".trash";
const REGISTRY: &str = "models";
/// Folders of an experiment directory that are not runs (MLflow's reserved names).
const RESERVED: &[&str] = &["tags", "datasets", "traces", "models"];

const RUN_LABEL: &str = "experiment ";
const TRASHED_RUN_LABEL: &str = "trashed experiment ";
const MODEL_LABEL: &str = "model ";

/// Whether `dir` is a file store: it holds an experiment directory with a `meta.yaml`
/// (directly or in `.trash/`). An `mlruns/` that holds only artifacts has none.
pub(super) fn is_file_store(dir: &Path) -> Result<bool, LoadError> {
    for (name, path) in subdirs(dir)? {
        if name == REGISTRY || name.starts_with('.') {
            continue;
        }
        if path.join(META).is_file() {
            return Ok(true);
        }
    }
    let trash = dir.join(TRASH);
    if trash.is_dir() {
        for (_, path) in subdirs(&trash)? {
            if path.join(META).is_file() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// An MLflow file store.
#[derive(Debug)]
pub(super) struct FileStore {
    root: PathBuf,
    /// The experiments whose runs are read (`None`: all).
    selected: Option<BTreeSet<String>>,
    batch_rows: usize,
}

/// An experiment directory.
#[derive(Debug)]
struct ExperimentDir {
    experiment: Experiment,
    dir: PathBuf,
    trash: bool,
}

impl FileStore {
    pub(super) fn open(root: &Path, experiments: &[String]) -> Result<FileStore, LoadError> {
        let root = std::path::absolute(root).map_err(|source| LoadError::Io {
            file: root.to_path_buf(),
            source,
        })?;
        let mut store = FileStore {
            root,
            selected: None,
            batch_rows: POINT_BATCH_ROWS,
        };
        let all: Vec<Experiment> = store
            .experiment_dirs()?
            .into_iter()
            .map(|e| e.experiment)
            .collect();
        store.selected = select_experiments(&store.root, &all, experiments)?;
        Ok(store)
    }

    #[cfg(test)]
    pub(super) fn set_batch_rows(&mut self, rows: usize) {
        self.batch_rows = rows;
    }

    /// Every experiment directory, the active ones first, each group by name.
    fn experiment_dirs(&self) -> Result<Vec<ExperimentDir>, LoadError> {
        let mut out = Vec::new();
        for (name, dir) in subdirs(&self.root)? {
            if name == REGISTRY || name.starts_with('.') || !dir.join(META).is_file() {
                continue;
            }
            out.push(read_experiment(&dir, false)?);
        }
        let trash = self.root.join(TRASH);
        if trash.is_dir() {
            for (_, dir) in subdirs(&trash)? {
                if dir.join(META).is_file() {
                    out.push(read_experiment(&dir, true)?);
                }
            }
        }
        Ok(out)
    }

    fn run_units(&self, experiment: &ExperimentDir, units: &mut Vec<Unit>) -> Result<(), LoadError> {
        let experiment_meta = experiment.dir.join(META);
        for (name, dir) in subdirs(&experiment.dir)? {
            if RESERVED.contains(&name.as_str()) || name.starts_with('.') {
                continue;
            }
            let meta_path = dir.join(META);
            if !meta_path.is_file() {
                // Not a run: MLflow skips such folders too (artifacts kept beside runs).
                continue;
            }
            let meta = Meta::read(&meta_path)?;
            if meta.string("run_id")?.or(meta.string("run_uuid")?).is_none() {
                continue;
            }
            let mut files = vec![meta_path, experiment_meta.clone()];
            for sub in ["params", "metrics", "tags"] {
                files.extend(walk(&dir.join(sub))?.into_iter().map(|(_, path)| path));
            }
            let prefix = if experiment.trash {
                TRASHED_RUN_LABEL
            } else {
                RUN_LABEL
            };
            units.push(Unit {
                label: format!("{prefix}{} run {name}", experiment.experiment.id),
                files,
            });
        }
        Ok(())
    }

    fn model_units(&self, units: &mut Vec<Unit>) -> Result<(), LoadError> {
        let registry = self.root.join(REGISTRY);
        if !registry.is_dir() {
            return Ok(());
        }
        for (name, dir) in subdirs(&registry)? {
            let meta = dir.join(META);
            if name.starts_with('.') || !meta.is_file() {
                continue;
            }
            let mut files = vec![meta];
            for sub in ["tags", "aliases"] {
                files.extend(walk(&dir.join(sub))?.into_iter().map(|(_, path)| path));
            }
            for (version, version_dir) in subdirs(&dir)? {
                let meta = version_dir.join(META);
                if !version.starts_with("version-") || !meta.is_file() {
                    continue;
                }
                files.push(meta);
                files.extend(walk(&version_dir.join("tags"))?.into_iter().map(|(_, path)| path));
            }
            units.push(Unit {
                label: format!("{MODEL_LABEL}{name}"),
                files,
            });
        }
        Ok(())
    }

    fn read_run(&self, unit: &Unit) -> Result<UnitData, LoadError> {
        let (Some(meta_path), Some(experiment_meta)) = (unit.files.first(), unit.files.get(1)) else {
            return Err(problem(&self.root, format!("unit `{}` names no run", unit.label)));
        };
        let run_dir = meta_path.parent().unwrap_or(&self.root);
        let experiment_dir = experiment_meta.parent().unwrap_or(&self.root);
        let trash = unit.label.starts_with(TRASHED_RUN_LABEL);
        let experiment = read_experiment(experiment_dir, trash)?.experiment;
        let meta = Meta::read(meta_path)?;
        let mut data = UnitData::default();

        let id = meta
            .string("run_id")?
            .or(meta.string("run_uuid")?)
            .ok_or_else(|| problem(meta_path, "no `run_id`"))?;
        let dir_name = run_dir.file_name().map(|n| n.to_string_lossy().into_owned());
        let recorded_experiment = meta.string("experiment_id")?;
        // MLflow ignores such runs (with a warning); so does this reader.
        if dir_name.as_deref() != Some(id.as_str()) {
            data.warnings.push(format!(
                "{}: run `{id}` is in a directory of another name: left out, as MLflow does",
                meta_path.display()
            ));
            return Ok(data);
        }
        if recorded_experiment.as_deref() != Some(experiment.id.as_str()) {
            data.warnings.push(format!(
                "{}: run `{id}` records experiment `{}` but is in experiment `{}`'s directory: left out, as MLflow does",
                meta_path.display(),
                recorded_experiment.unwrap_or_default(),
                experiment.id
            ));
            return Ok(data);
        }
        let status = match meta.get("status") {
            None => Status::Running,
            Some(Yaml::Integer(n)) => Status::from_number(*n).ok_or_else(|| {
                problem(
                    meta_path,
                    format!("`status`: {n} is not a run status (1 RUNNING to 5 KILLED)"),
                )
            })?,
            Some(Yaml::String(s)) => s
                .parse::<i64>()
                .ok()
                .and_then(Status::from_number)
                .or_else(|| Status::from_name(s))
                .ok_or_else(|| problem(meta_path, format!("`status`: `{s}` is not a run status")))?,
            Some(_) => return Err(problem(meta_path, "`status`: expected a number from 1 to 5")),
        };
        let deleted = meta.string("lifecycle_stage")?.as_deref() == Some("deleted");
        let mut run = Run {
            id,
            name: meta.string("run_name")?,
            user_id: meta.string("user_id")?,
            status,
            start_time: meta.int("start_time")?,
            end_time: meta.int("end_time")?,
            trashed: deleted || experiment.deleted,
            experiment_id: experiment.id.clone(),
            experiment_name: Some(experiment.name.clone()),
            params: read_values(&run_dir.join("params"))?,
            tags: read_values(&run_dir.join("tags"))?,
            last_point: None,
        };
        let mut points = Points::new(self.batch_rows);
        for (key, path) in walk(&run_dir.join("metrics"))? {
            read_metric(&path, &key, &mut run, &mut points, &mut data.warnings)?;
        }
        if let Some(batch) = runs_batch(std::slice::from_ref(&run)) {
            data.objects.push((ObjectKind::Runs, batch));
        }
        data.float_points = points
            .finish()
            .into_iter()
            .map(|b| (ObjectKind::Runs, b))
            .collect();
        Ok(data)
    }

    fn read_model(&self, unit: &Unit) -> Result<UnitData, LoadError> {
        let Some(meta_path) = unit.files.first() else {
            return Err(problem(
                &self.root,
                format!("unit `{}` names no model", unit.label),
            ));
        };
        let dir = meta_path.parent().unwrap_or(&self.root);
        let meta = Meta::read(meta_path)?;
        let name = meta
            .string("name")?
            .ok_or_else(|| problem(meta_path, "no `name`"))?;
        let mut aliases = Vec::new();
        for (alias, path) in walk(&dir.join("aliases"))? {
            aliases.push((alias, read_text(&path)?.trim().to_string()));
        }
        let model = Model {
            name: name.clone(),
            creation_time: meta.int("creation_timestamp")?,
            last_updated_time: meta.int("last_updated_timestamp")?,
            description: meta.string("description")?,
            tags: read_values(&dir.join("tags"))?,
            aliases,
        };
        let mut versions = Vec::new();
        for (dir_name, version_dir) in subdirs(dir)? {
            let meta_path = version_dir.join(META);
            let Some(number) = dir_name.strip_prefix("version-") else {
                continue;
            };
            if !meta_path.is_file() {
                continue;
            }
            let meta = Meta::read(&meta_path)?;
            let version = meta.string("version")?.unwrap_or_else(|| number.to_string());
            versions.push(ModelVersion {
                name: name.clone(),
                version,
                creation_time: meta.int("creation_timestamp")?,
                last_updated_time: meta.int("last_updated_timestamp")?,
                description: meta.string("description")?,
                user_id: meta.string("user_id")?,
                current_stage: meta.string("current_stage")?,
                run_id: meta.string("run_id")?,
                model_id: meta.string("model_id")?,
                tags: read_values(&version_dir.join("tags"))?,
            });
        }
        versions.sort_by(|a, b| {
            let number = |v: &ModelVersion| v.version.parse::<u64>().unwrap_or(u64::MAX);
            number(a).cmp(&number(b)).then_with(|| a.version.cmp(&b.version))
        });
        let mut data = UnitData::default();
        registry_batches(std::slice::from_ref(&model), &versions, &mut data);
        Ok(data)
    }
}

impl Source for FileStore {
    fn describe(&self) -> String {
        "MLflow file store".to_string()
    }

    fn units(&self) -> Result<Vec<Unit>, LoadError> {
        let mut units = Vec::new();
        for experiment in self.experiment_dirs()? {
            if let Some(selected) = &self.selected
                && !selected.contains(&experiment.experiment.id)
            {
                continue;
            }
            self.run_units(&experiment, &mut units)?;
        }
        self.model_units(&mut units)?;
        Ok(units)
    }

    fn read(&self, unit: &Unit) -> Result<UnitData, LoadError> {
        if unit.label.starts_with(MODEL_LABEL) {
            self.read_model(unit)
        } else {
            self.read_run(unit)
        }
    }
}

fn read_experiment(dir: &Path, trash: bool) -> Result<ExperimentDir, LoadError> {
    let path = dir.join(META);
    let meta = Meta::read(&path)?;
    let id = meta
        .string("experiment_id")?
        .ok_or_else(|| problem(&path, "no `experiment_id`"))?;
    let dir_name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    if dir_name.as_deref() != Some(id.as_str()) {
        return Err(problem(
            &path,
            format!(
                "`experiment_id` is `{id}` but the directory is `{}`",
                dir_name.unwrap_or_default()
            ),
        ));
    }
    let name = meta.string("name")?.ok_or_else(|| problem(&path, "no `name`"))?;
    let deleted = trash || meta.string("lifecycle_stage")?.as_deref() == Some("deleted");
    Ok(ExperimentDir {
        experiment: Experiment { id, name, deleted },
        dir: dir.to_path_buf(),
        trash,
    })
}

/// The points of one metric file, one a line: `timestamp value`, then optionally `step`,
/// then optionally `dataset_name dataset_digest`. A last line without its newline that does
/// not read is a write still under way: left out, with a warning.
fn read_metric(
    path: &Path,
    key: &str,
    run: &mut Run,
    points: &mut Points,
    warnings: &mut Vec<String>,
) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        file: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, file);
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(io)? == 0 {
            return Ok(());
        }
        number += 1;
        let terminated = line.last() == Some(&b'\n');
        match parse_metric_line(&line) {
            Ok((timestamp, value, step)) => {
                points.push(&run.id, key, step, value, Some(timestamp));
                run.see_point(Some(timestamp));
            }
            Err(found) if !terminated => {
                warnings.push(format!(
                    "{}: line {number}: `{found}` is not a whole point (a write under way?): left out",
                    path.display()
                ));
                return Ok(());
            }
            Err(found) => {
                return Err(problem(
                    path,
                    format!("line {number}: expected \"timestamp value [step]\", found \"{found}\""),
                ));
            }
        }
    }
}

/// `(timestamp, value, step)` of a metric line, or the line as found (shortened) when it
/// does not read.
pub(super) fn parse_metric_line(line: &[u8]) -> Result<(i64, f64, i64), String> {
    let found = || {
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        let mut short: String = text.chars().take(80).collect();
        if short.len() < text.len() {
            short.push('…');
        }
        short
    };
    let text = std::str::from_utf8(line).map_err(|_| found())?.trim();
    let fields: Vec<&str> = text.split(' ').collect();
    if !matches!(fields.len(), 2 | 3 | 5) {
        return Err(found());
    }
    let timestamp = fields[0].parse::<i64>().map_err(|_| found())?;
    let value = fields[1].parse::<f64>().map_err(|_| found())?;
    let step = match fields.get(2) {
        Some(step) => step.parse::<i64>().map_err(|_| found())?,
        None => 0,
    };
    Ok((timestamp, value, step))
}

/// The files under `dir` as (key, path): the key is the path below `dir` with `/` between
/// its parts; sorted by key. A missing `dir` has none. Symbolic links to files are files;
/// links to directories are not followed.
fn walk(dir: &Path) -> Result<Vec<(String, PathBuf)>, LoadError> {
    let mut out = Vec::new();
    if dir.is_dir() {
        walk_into(dir, "", &mut out)?;
    }
    out.sort();
    Ok(out)
}

fn walk_into(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        file: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| problem(&path, "a file name that is not UTF-8"))?;
        let key = format!("{prefix}{name}");
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            walk_into(&path, &format!("{key}/"), out)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            out.push((key, path));
        }
    }
    Ok(())
}

/// The directories in `dir` as (name, path), sorted by name; names that are not UTF-8 are
/// not MLflow's and are skipped.
fn subdirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, LoadError> {
    let io = |source| LoadError::Io {
        file: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if let Ok(name) = entry.file_name().into_string() {
            out.push((name, path));
        }
    }
    out.sort();
    Ok(out)
}

/// The (key, value) of every file under `dir` (params or tags): the file's content is the
/// value, exactly.
fn read_values(dir: &Path) -> Result<Vec<(String, String)>, LoadError> {
    walk(dir)?
        .into_iter()
        .map(|(key, path)| Ok((key, read_text(&path)?)))
        .collect()
}

fn read_text(path: &Path) -> Result<String, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| problem(path, "not UTF-8 text"))
}

/// A `meta.yaml`: a mapping of keys to values.
struct Meta {
    path: PathBuf,
    map: yaml_rust2::yaml::Hash,
}

impl Meta {
    fn read(path: &Path) -> Result<Meta, LoadError> {
        let text = read_text(path)?;
        let parsed = std::panic::catch_unwind(|| YamlLoader::load_from_str(&text))
            .map_err(|_| problem(path, "not readable YAML (the parser failed)"))?;
        let docs = parsed.map_err(|e| problem(path, format!("not valid YAML: {e}")))?;
        match docs.into_iter().next() {
            Some(Yaml::Hash(map)) => Ok(Meta {
                path: path.to_path_buf(),
                map,
            }),
            None | Some(Yaml::Null) => Err(problem(path, "empty")),
            Some(_) => Err(problem(path, "expected a mapping of keys to values")),
        }
    }

    /// The value of `key`; `None` when it is missing or null.
    fn get(&self, key: &str) -> Option<&Yaml> {
        match self.map.get(&Yaml::String(key.to_string())) {
            None | Some(Yaml::Null) => None,
            Some(value) => Some(value),
        }
    }

    fn string(&self, key: &str) -> Result<Option<String>, LoadError> {
        Ok(match self.get(key) {
            None => None,
            Some(Yaml::String(s) | Yaml::Real(s)) => Some(s.clone()),
            Some(Yaml::Integer(i)) => Some(i.to_string()),
            Some(Yaml::Boolean(b)) => Some(b.to_string()),
            Some(_) => return Err(problem(&self.path, format!("`{key}`: expected a single value"))),
        })
    }

    fn int(&self, key: &str) -> Result<Option<i64>, LoadError> {
        match self.get(key) {
            None => Ok(None),
            Some(Yaml::Integer(i)) => Ok(Some(*i)),
            Some(Yaml::String(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| problem(&self.path, format!("`{key}`: expected an integer, found `{s}`"))),
            Some(_) => Err(problem(&self.path, format!("`{key}`: expected an integer"))),
        }
    }
}
