//! A project exported by neptune-exporter (docs/neptune-export.md): `DATA/<S(project_id)>/`
//! holding `<S(run_id)>_part_N.parquet` files, one run per file, and the downloaded files under
//! `FILES/<S(project_id)>/`.
//!
//! Units of work: one per complete run (its `part_0.parquet` exists; all its parts, in
//! order), one per 2.x model and model version (`models/`, `model_versions/`), and for 3.x one
//! per experiment head (table `experiments`: the head's parts and all its ancestors', whose
//! float series points up to each fork step are part of the experiment's series).
//!
//! Detection never writes anything and reads little: the directory listing, the first
//! `project_id` of one file per project, and the parameter row groups of one run (to tell
//! 2.x from 3.x). Listing the units of a 3.x export reads the parameter row groups of every
//! run (their `step` statistics tell them apart from series row groups) to find the heads
//! and the lineages.

mod artifact;
mod read;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datasets::layout::ObjectKind;
pub(crate) use datasets::neptune_export::NeptuneVersion;
use nql::AttrType;

use super::{Source, Unit, UnitData};
use crate::error::LoadError;
use crate::load::parallel_map;
use read::{Value, Want};

/// An opened export of one project.
#[derive(Debug)]
pub(crate) struct NeptuneExport {
    project_id: String,
    project_dir: PathBuf,
    files_dir: PathBuf,
    /// 2.x, with a files directory other than where the exporter puts them: ` (files DIR)`,
    /// the end of every unit's label. Artifacts' hashes are read from that directory, so
    /// an index built with one must not answer for another.
    files_label: String,
    version: NeptuneVersion,
    objects: Vec<ObjectFiles>,
    /// Runs without `part_0.parquet` (still being written, or a crashed export).
    incomplete: usize,
    plan: Mutex<Option<Arc<Plan>>>,
}

/// The parts of one exported object (run, model or model version).
#[derive(Clone, Debug)]
struct ObjectFiles {
    kind: ObjectKind,
    /// `S(run_id)`, the file names' common prefix.
    prefix: String,
    parts: Vec<PathBuf>,
}

/// What [`Source::units`] found: the units and what each one is.
#[derive(Debug)]
struct Plan {
    units: Vec<Unit>,
    kinds: HashMap<String, UnitKind>,
    /// 3.x: the object index of each run id.
    by_run_id: HashMap<String, usize>,
}

#[derive(Clone, Debug)]
enum UnitKind {
    /// An object of `objects`.
    Object(usize),
    /// The experiment whose head is object `head`.
    Experiment { head: usize },
}

/// Opens `path` as an export: an exported project directory `DATA/<S(project_id)>/`, or the
/// `DATA` root holding one such directory per project, chosen by `project`
/// (`workspace/project`, read from the files' `project_id` column) or the only one.
/// `Ok(None)` when `path` is no export (a native project, anything else). `files` is the
/// exporter's files root (`--files-path`; the project's files are in `<files>/<S(project_id)>/`,
/// or in `<files>` itself when that has no such directory); by default `files/` beside the
/// `DATA` root.
pub(crate) fn open(
    path: &Path,
    project: Option<&str>,
    files: Option<&Path>,
) -> Result<Option<NeptuneExport>, LoadError> {
    if !path.is_dir() || path.join("runs.parquet").is_file() || path.join("runs").is_dir() {
        return Ok(None);
    }
    if is_project_dir(path)? {
        let found = project_id_of(path)?;
        if let Some(wanted) = project
            && wanted != found
        {
            return Err(LoadError::Choice(format!(
                "{}: the export holds the project `{found}`, not `{wanted}`",
                path.display()
            )));
        }
        return NeptuneExport::new(path, found, files).map(Some);
    }
    let mut projects = Vec::new();
    for dir in sorted_entries(path)? {
        if dir.is_dir() && is_project_dir(&dir)? {
            projects.push((project_id_of(&dir)?, dir));
        }
    }
    if projects.is_empty() {
        return Ok(None);
    }
    let ids = || {
        projects
            .iter()
            .map(|(id, _)| format!("`{id}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen = match project {
        Some(wanted) => projects.iter().find(|(id, _)| id == wanted).ok_or_else(|| {
            LoadError::Choice(format!(
                "{}: the export has no project `{wanted}`; it holds {}",
                path.display(),
                ids()
            ))
        })?,
        None if projects.len() == 1 => &projects[0],
        None => {
            return Err(LoadError::Choice(format!(
                "{}: the export holds {} projects: choose one of {}",
                path.display(),
                projects.len(),
                ids()
            )));
        }
    };
    NeptuneExport::new(&chosen.1, chosen.0.clone(), files).map(Some)
}

fn io_error(file: &Path, source: std::io::Error) -> LoadError {
    LoadError::Io {
        file: file.to_path_buf(),
        source,
    }
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        entries.push(entry.map_err(|e| io_error(dir, e))?.path());
    }
    entries.sort();
    Ok(entries)
}

/// `PREFIX_part_N.parquet` (or `.parquet.tmp`): (prefix, N, is_tmp).
fn part_name(name: &str) -> Option<(&str, usize, bool)> {
    let (stem, tmp) = match name.strip_suffix(".parquet.tmp") {
        Some(stem) => (stem, true),
        None => (name.strip_suffix(".parquet")?, false),
    };
    let (prefix, n) = stem.rsplit_once("_part_")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || prefix.is_empty() {
        return None;
    }
    Some((prefix, n.parse().ok()?, tmp))
}

fn has_parts(dir: &Path) -> Result<bool, LoadError> {
    Ok(sorted_entries(dir)?.iter().any(|p| {
        p.is_file()
            && p.file_name()
                .and_then(|n| n.to_str())
                .and_then(part_name)
                .is_some()
    }))
}

/// A directory of part files, or of `models/` and `model_versions/` directories of them.
fn is_project_dir(dir: &Path) -> Result<bool, LoadError> {
    if has_parts(dir)? {
        return Ok(true);
    }
    for sub in ["models", "model_versions"] {
        let sub = dir.join(sub);
        if sub.is_dir() && has_parts(&sub)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The complete objects of a directory of parts, and the number of incomplete ones.
fn list_objects(dir: &Path, kind: ObjectKind) -> Result<(Vec<ObjectFiles>, usize), LoadError> {
    let mut groups: BTreeMap<String, (BTreeMap<usize, PathBuf>, bool)> = BTreeMap::new();
    for path in sorted_entries(dir)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if !path.is_file() || name.starts_with('.') {
            continue;
        }
        match part_name(&name) {
            Some((prefix, n, tmp)) => {
                let entry = groups.entry(prefix.to_string()).or_default();
                if tmp {
                    entry.1 = true;
                } else {
                    entry.0.insert(n, path.clone());
                }
            }
            None if name.ends_with(".parquet") => {
                return Err(LoadError::Source {
                    path,
                    problem: "not a part file of a neptune-exporter export (`<run>_part_<N>.parquet`; exports of exporter versions before 2025-11-11, with many runs per file, are not supported)".into(),
                });
            }
            None => {}
        }
    }
    let mut objects = Vec::new();
    let mut incomplete = 0;
    for (prefix, (parts, _)) in groups {
        if !parts.contains_key(&0) {
            incomplete += 1;
            continue;
        }
        if let Some(missing) = (0..parts.len()).find(|n| !parts.contains_key(n)) {
            return Err(LoadError::Source {
                path: dir.join(format!("{prefix}_part_{missing}.parquet")),
                problem: format!(
                    "missing: the run has parts up to part_{}, and the exporter writes them without gaps",
                    parts.keys().max().copied().unwrap_or(0)
                ),
            });
        }
        objects.push(ObjectFiles {
            kind,
            prefix,
            parts: parts.into_values().collect(),
        });
    }
    Ok((objects, incomplete))
}

/// The `project_id` of an exported project directory: the first one of its first complete
/// file; the directory's name when it has none.
fn project_id_of(dir: &Path) -> Result<String, LoadError> {
    for (sub, kind) in [
        (dir.to_path_buf(), ObjectKind::Runs),
        (dir.join("models"), ObjectKind::Models),
        (dir.join("model_versions"), ObjectKind::ModelVersions),
    ] {
        if !sub.is_dir() {
            continue;
        }
        let (objects, _) = list_objects(&sub, kind)?;
        if let Some(first) = objects.first()
            && let Some(id) = read::first_project_id(&first.parts[0])?
        {
            return Ok(id);
        }
    }
    Ok(dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default())
}

impl NeptuneExport {
    fn new(project_dir: &Path, project_id: String, files: Option<&Path>) -> Result<NeptuneExport, LoadError> {
        let name = project_dir
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        let default_files = {
            let data_root = project_dir.parent().unwrap_or(project_dir);
            data_root.parent().unwrap_or(data_root).join("files").join(&name)
        };
        let files_dir = match files {
            Some(root) if root.join(&name).is_dir() => root.join(&name),
            Some(root) => root.to_path_buf(),
            None => default_files.clone(),
        };
        let (mut objects, mut incomplete) = list_objects(project_dir, ObjectKind::Runs)?;
        let mut registry = false;
        for (sub, kind) in [
            ("models", ObjectKind::Models),
            ("model_versions", ObjectKind::ModelVersions),
        ] {
            let dir = project_dir.join(sub);
            if dir.is_dir() {
                let (found, skipped) = list_objects(&dir, kind)?;
                registry |= !found.is_empty();
                objects.extend(found);
                incomplete += skipped;
            }
        }
        let version = match objects.iter().find(|o| o.kind == ObjectKind::Runs) {
            _ if registry => NeptuneVersion::V2,
            Some(run) => {
                let facts = read::read_facts(&run.parts[0])?;
                let v3 = facts.v3_markers || facts.sys_id.as_ref().is_some_and(|id| *id != facts.run_id);
                if v3 {
                    NeptuneVersion::V3
                } else {
                    NeptuneVersion::V2
                }
            }
            None => NeptuneVersion::V2,
        };
        let absolute = |p: &Path| {
            std::fs::canonicalize(p).unwrap_or_else(|_| std::path::absolute(p).unwrap_or(p.to_path_buf()))
        };
        let files_label = if version == NeptuneVersion::V2 && absolute(&files_dir) != absolute(&default_files)
        {
            format!(" (files {})", absolute(&files_dir).display())
        } else {
            String::new()
        };
        Ok(NeptuneExport {
            project_id,
            project_dir: project_dir.to_path_buf(),
            files_dir,
            files_label,
            version,
            objects,
            incomplete,
            plan: Mutex::new(None),
        })
    }

    #[cfg(test)]
    pub(crate) fn project_id(&self) -> &str {
        &self.project_id
    }

    #[cfg(test)]
    pub(crate) fn version(&self) -> NeptuneVersion {
        self.version
    }

    #[cfg(test)]
    /// Where the downloaded files are looked for.
    pub(crate) fn files_dir(&self) -> &Path {
        &self.files_dir
    }

    #[cfg(test)]
    /// The exported project directory.
    pub(crate) fn project_dir(&self) -> &Path {
        &self.project_dir
    }

    /// What the user should know about the export as a whole (runs left out), one line each.
    fn incomplete_runs(&self) -> Vec<String> {
        match self.incomplete {
            0 => Vec::new(),
            1 => vec![format!(
                "{}: 1 run still being written (no part_0.parquet) was left out",
                self.project_dir.display()
            )],
            n => vec![format!(
                "{}: {n} runs still being written (no part_0.parquet) were left out",
                self.project_dir.display()
            )],
        }
    }

    fn label(&self, o: &ObjectFiles) -> String {
        let (project, files) = (&self.project_id, &self.files_label);
        match o.kind {
            ObjectKind::Models => format!("{project} models/{}{files}", o.prefix),
            ObjectKind::ModelVersions => format!("{project} model_versions/{}{files}", o.prefix),
            _ => format!("{project} {}{files}", o.prefix),
        }
    }

    fn plan(&self) -> Result<Arc<Plan>, LoadError> {
        let mut guard = self.plan.lock().expect("not poisoned");
        if let Some(plan) = guard.as_ref() {
            return Ok(plan.clone());
        }
        let plan = Arc::new(self.make_plan()?);
        *guard = Some(plan.clone());
        Ok(plan)
    }

    /// A unit per exported object (run, model, model version): its parts, from the listing.
    fn object_units(&self) -> Vec<Unit> {
        self.objects
            .iter()
            .map(|o| Unit {
                label: self.label(o),
                files: o.parts.clone(),
            })
            .collect()
    }

    fn make_plan(&self) -> Result<Plan, LoadError> {
        let units = self.object_units();
        let mut kinds: HashMap<String, UnitKind> = units
            .iter()
            .enumerate()
            .map(|(i, u)| (u.label.clone(), UnitKind::Object(i)))
            .collect();
        let mut units = units;
        let mut by_run_id = HashMap::new();
        if self.version == NeptuneVersion::V3 {
            let runs: Vec<usize> = (0..self.objects.len())
                .filter(|&i| self.objects[i].kind == ObjectKind::Runs)
                .collect();
            let threads = crate::load::cores();
            let facts = parallel_map(&runs, threads, |&i| read::read_facts(&self.objects[i].parts[0]))?;
            for (&i, f) in runs.iter().zip(&facts) {
                if let Some(other) = by_run_id.insert(f.run_id.clone(), i) {
                    return Err(LoadError::Source {
                        path: self.objects[i].parts[0].clone(),
                        problem: format!(
                            "column `run_id`: the run `{}` is also exported in {}",
                            f.run_id,
                            self.objects[other].parts[0].display()
                        ),
                    });
                }
            }
            for (&head, f) in runs.iter().zip(&facts) {
                if !f.is_head {
                    continue;
                }
                let mut files = self.objects[head].parts.clone();
                let mut seen = HashSet::from([f.run_id.clone()]);
                let mut parent = f.parent.clone();
                while let Some(p) = parent {
                    let Some(&a) = by_run_id.get(&p) else { break };
                    if !seen.insert(p) {
                        break;
                    }
                    files.extend(self.objects[a].parts.iter().cloned());
                    parent = facts[runs.iter().position(|&r| r == a).expect("a run")]
                        .parent
                        .clone();
                }
                let label = format!("{} experiment {}", self.project_id, f.run_id);
                kinds.insert(label.clone(), UnitKind::Experiment { head });
                units.push(Unit { label, files });
            }
        }
        Ok(Plan {
            units,
            kinds,
            by_run_id,
        })
    }

    /// An object's table row and points.
    fn read_object(&self, o: &ObjectFiles, data: &mut UnitData) -> Result<(), LoadError> {
        let mut rows = read::read_run(&o.parts, &self.project_id, Want::All)?;
        let id = rows.sys_id();
        if matches!(o.kind, ObjectKind::Runs) {
            rows.attributes.insert(
                ("sys/state".into(), AttrType::ExperimentState),
                Value::Str("inactive".into()),
            );
        }
        self.finish(o.kind, &id, rows, data)
    }

    /// Hashes the artifacts and hands the object row and the points on.
    fn finish(
        &self,
        kind: ObjectKind,
        id: &str,
        rows: read::RunRows,
        data: &mut UnitData,
    ) -> Result<(), LoadError> {
        let mut hashes = BTreeMap::new();
        for ((path, _), value) in &rows.attributes {
            if let Value::Artifact(list) = value {
                let file = self.files_dir.join(list);
                match artifact::artifact_hash_of_file(&file)? {
                    Some(hash) => {
                        hashes.insert(list.clone(), hash);
                    }
                    None => data.warnings.push(format!(
                        "{id}: the artifact `{path}` reads as absent: its files list {} was not downloaded",
                        file.display()
                    )),
                }
            }
        }
        data.objects
            .push((kind, read::object_batch(id, &rows.attributes, &hashes)));
        data.float_points
            .extend(rows.floats.into_batches(id).into_iter().map(|b| (kind, b)));
        data.string_points
            .extend(rows.strings.into_batches(id).into_iter().map(|b| (kind, b)));
        Ok(())
    }

    /// An experiment: its head's row, with the lineage's float series (section 8 of the
    /// format spec): each ancestor's points up to the fork step at its level, then the head's.
    fn read_experiment(&self, plan: &Plan, head: usize, data: &mut UnitData) -> Result<(), LoadError> {
        let o = &self.objects[head];
        let mut rows = read::read_run(&o.parts, &self.project_id, Want::All)?;
        let id = rows.sys_id();
        rows.attributes.insert(
            ("sys/state".into(), AttrType::ExperimentState),
            Value::Str("inactive".into()),
        );
        let mut seen = HashSet::from([rows.run_id.clone()]);
        let (mut parent, mut step) = (rows.parent.clone(), rows.fork_step);
        let mut inherited = read::Points::<f64>::default();
        while let Some(p) = parent.take() {
            let Some(&a) = plan.by_run_id.get(&p) else {
                data.warnings.push(format!(
                    "experiment {id}: the ancestor run `{p}` is not in the export: its points are not part of the experiment's series"
                ));
                break;
            };
            let Some(up_to) = step else {
                data.warnings.push(format!(
                    "experiment {id}: a fork of `{p}` has no `sys/forking/step`: the lineage stops there"
                ));
                break;
            };
            if !seen.insert(p.clone()) {
                return Err(LoadError::Source {
                    path: self.objects[a].parts[0].clone(),
                    problem: format!(
                        "`sys/forking/parent`: the lineage of experiment {id} returns to the run `{p}`"
                    ),
                });
            }
            let ancestor = read::read_run(&self.objects[a].parts, &self.project_id, Want::Lineage { up_to })?;
            inherited.extend(ancestor.floats);
            parent = ancestor.parent;
            step = ancestor.fork_step;
        }
        inherited.extend(std::mem::take(&mut rows.floats));
        rows.floats = inherited;
        self.finish(ObjectKind::Experiments, &id, rows, data)
    }
}

impl Source for NeptuneExport {
    fn warnings(&self) -> Vec<String> {
        self.incomplete_runs()
    }

    fn describe(&self) -> String {
        let v = match self.version {
            NeptuneVersion::V2 => "2.x",
            NeptuneVersion::V3 => "3.x",
        };
        format!("Neptune {v} export of {}", self.project_id)
    }

    fn units(&self) -> Result<Vec<Unit>, LoadError> {
        Ok(self.plan()?.units.clone())
    }

    /// A 3.x export's experiments are found by reading every run; they are made of runs'
    /// files and follow from them.
    fn listed_units(&self) -> Option<Vec<Unit>> {
        (self.version == NeptuneVersion::V3).then(|| self.object_units())
    }

    fn read(&self, unit: &Unit) -> Result<UnitData, LoadError> {
        let plan = self.plan()?;
        let kind = plan
            .kinds
            .get(&unit.label)
            .cloned()
            .ok_or_else(|| LoadError::Source {
                path: self.project_dir.clone(),
                problem: format!("no unit `{}` in the export", unit.label),
            })?;
        let mut data = UnitData::default();
        match kind {
            UnitKind::Object(i) => self.read_object(&self.objects[i], &mut data)?,
            UnitKind::Experiment { head } => self.read_experiment(&plan, head, &mut data)?,
        }
        Ok(data)
    }
}
