//! Indexing a project in a foreign format (a Neptune export, an MLflow store: see
//! [`crate::source`]). Its tables are written into the index as packs of columns, as a
//! native project's are, and its series summarized alike; the source is only read.
//!
//! The source comes in units (a run, a store). A unit whose files are unchanged keeps what
//! an earlier build stored of it: its objects' rows in the written tables, its summaries in
//! that build's state files (`state/G-float.pack`, `state/G-string.pack`, one row per
//! unit, table, object and series). New and changed units are read and summarized, their
//! states written into this build's state files; the tables are written anew from the kept
//! and the new rows; each table's summaries are computed from the merged states.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datasets::layout::ObjectKind;

use super::build::read_state;
use super::columns::{old_chunks, summary_columns, write_table as write_columns};
use super::manifest::{self, FileIdentity, Manifest, TableEntry, UnitEntry, segment_file};
use super::pack;
use super::{IndexReport, index_error};
use crate::error::LoadError;
use crate::load::objects::{self, ObjectChunk};
use crate::load::series::{FloatSummaries, IdIndex, SeriesProblem, StringSummaries};
use crate::load::{self, LoadOptions, guarded, parallel_map};
use crate::source::{Source, Unit};

/// The columns of a state file that say whose state a row is.
const UNIT_COLUMN: &str = "nql:unit";
const TABLE_COLUMN: &str = "nql:table";

/// The path of `file` relative to the source's `root`, `/`-separated (absolute when it is
/// not below the root).
fn relative(root: &Path, file: &Path) -> String {
    match file.strip_prefix(root) {
        Ok(rel) => rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => file.to_string_lossy().into_owned(),
    }
}

/// Whether the stored unit `entry` still describes `unit`: the same files, unchanged.
fn unchanged(entry: &UnitEntry, unit: &Unit, root: &Path) -> bool {
    entry.label == unit.label
        && entry.files.len() == unit.files.len()
        && entry
            .files
            .iter()
            .zip(&unit.files)
            .all(|(e, f)| e.path == relative(root, f) && e.matches(f))
}

/// Whether the index of `manifest` describes exactly `units`, unchanged.
pub(super) fn is_fresh(manifest: &Manifest, units: &[Unit], root: &Path) -> bool {
    manifest.source.is_some()
        && manifest.units.len() == units.len()
        && manifest
            .units
            .iter()
            .zip(units)
            .all(|(e, u)| unchanged(e, u, root))
}

/// Whether the index of `manifest` is fresh for a source whose units, listed without
/// reading, are `listed` ([`crate::source::Source::listed_units`]): each is in the manifest
/// unchanged, and every other unit of the manifest is made of their files only.
pub(super) fn is_fresh_listed(manifest: &Manifest, listed: &[Unit], root: &Path) -> bool {
    if manifest.source.is_none() {
        return false;
    }
    let entries: HashMap<&str, &UnitEntry> = manifest.units.iter().map(|u| (u.label.as_str(), u)).collect();
    let files: HashSet<String> = listed
        .iter()
        .flat_map(|u| u.files.iter().map(|f| relative(root, f)))
        .collect();
    listed.iter().all(|u| {
        entries
            .get(u.label.as_str())
            .is_some_and(|e| unchanged(e, u, root))
    }) && manifest
        .units
        .iter()
        .all(|e| e.files.iter().all(|f| files.contains(&f.path)))
}

/// What a build keeps or learns of one unit.
struct UnitPart {
    label: String,
    /// Object rows by table.
    chunks: Vec<(ObjectKind, ObjectChunk)>,
    /// States read from the unit now (none for a kept unit: those are in older files).
    floats: Vec<RecordBatch>,
    strings: Vec<RecordBatch>,
    warnings: Vec<String>,
}

/// Builds the index of `source` (whose files lie below `root`) in `dir`, keeping what
/// `previous` stored of units that have not changed. The caller holds the lock.
pub(super) fn build(
    source: &dyn Source,
    root: &Path,
    units: Vec<Unit>,
    dir: &Path,
    previous: Option<Manifest>,
    options: &LoadOptions,
) -> Result<(Manifest, IndexReport), LoadError> {
    let previous = previous.filter(|m| m.source.is_some()).unwrap_or_default();
    let generation = previous.generation + 1;
    super::build::remove_leftovers(dir);
    let known: HashMap<&str, &UnitEntry> = previous.units.iter().map(|u| (u.label.as_str(), u)).collect();
    let kept: Vec<Option<&UnitEntry>> = units
        .iter()
        .map(|u| {
            known
                .get(u.label.as_str())
                .copied()
                .filter(|e| unchanged(e, u, root))
        })
        .collect();

    // The rows kept units have in the tables written last time.
    let old_rows = old_rows(&previous, dir, &kept)?;
    // New and changed units, read and summarized in parallel.
    let fresh: Vec<(usize, &Unit)> = units
        .iter()
        .enumerate()
        .filter(|(i, _)| kept[*i].is_none())
        .collect();
    let progress = load::Progress::new("units", fresh.len());
    let read = parallel_map(&fresh, options.threads(), |(_, unit)| {
        let part = read_unit(source, unit)?;
        progress.advance(options);
        Ok(part)
    })?;
    let mut read = read.into_iter();
    let mut parts: Vec<UnitPart> = Vec::with_capacity(units.len());
    let mut old_rows = old_rows.into_iter();
    for (unit, keep) in units.iter().zip(&kept) {
        parts.push(match keep {
            Some(_) => old_rows.next().expect("a part per kept unit"),
            None => read.next().expect("a part per read unit"),
        });
        debug_assert_eq!(parts.last().map(|p| p.label.as_str()), Some(unit.label.as_str()));
    }
    for w in parts.iter().flat_map(|p| &p.warnings) {
        options.warn(w);
    }

    // This build's state files.
    let segment = |kind: &str, states: Vec<RecordBatch>| -> Result<(), LoadError> {
        let path = dir.join(segment_file(generation, kind));
        let batch = match states.first() {
            Some(first) => {
                concat_batches(&first.schema(), &states).map_err(|e| index_error(&path, e.to_string()))?
            }
            None => RecordBatch::new_empty(Arc::new(Schema::new(vec![
                Field::new(UNIT_COLUMN, DataType::Utf8, false),
                Field::new(TABLE_COLUMN, DataType::Utf8, false),
            ]))),
        };
        pack::write_batch(&path, &batch)
    };
    segment("float", parts.iter().flat_map(|p| p.floats.clone()).collect())?;
    segment("string", parts.iter().flat_map(|p| p.strings.clone()).collect())?;

    // Tables: objects, summaries from every live state, serving files.
    let live: HashMap<&str, u64> = units
        .iter()
        .zip(&kept)
        .map(|(u, k)| (u.label.as_str(), k.map_or(generation, |e| e.segment)))
        .collect();
    let mut states: HashMap<u64, (RecordBatch, RecordBatch)> = HashMap::new();
    for &g in live.values().collect::<HashSet<_>>() {
        let read = |kind| read_state(&dir.join(segment_file(g, kind)));
        states.insert(g, (read("float")?, read("string")?));
    }
    let mut kinds: Vec<ObjectKind> = Vec::new();
    for (kind, _) in parts.iter().flat_map(|p| &p.chunks) {
        if !kinds.contains(kind) {
            kinds.push(*kind);
        }
    }
    kinds.sort();
    let mut tables = Vec::new();
    for kind in kinds {
        tables.push(write_table(dir, generation, kind, &parts, &live, &states)?);
    }
    let unit_entries = units
        .iter()
        .zip(&parts)
        .zip(&kept)
        .map(|((unit, part), keep)| {
            let mut rows: Vec<(String, usize)> = Vec::new();
            for (kind, chunk) in &part.chunks {
                match rows.iter_mut().find(|(t, _)| t == kind.table_name()) {
                    Some((_, n)) => *n += chunk.rows,
                    None => rows.push((kind.table_name().to_string(), chunk.rows)),
                }
            }
            let files = match keep {
                Some(e) => e.files.clone(),
                None => unit
                    .files
                    .iter()
                    .map(|f| {
                        FileIdentity::of(f, relative(root, f)).map_err(|source| LoadError::Io {
                            file: f.clone(),
                            source,
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            };
            Ok(UnitEntry {
                label: unit.label.clone(),
                files,
                segment: keep.map_or(generation, |e| e.segment),
                rows,
            })
        })
        .collect::<Result<Vec<_>, LoadError>>()?;
    let summarized = fresh.len();
    let reused = kept.iter().flatten().count();
    let removed = previous
        .units
        .iter()
        .filter(|e| !units.iter().any(|u| u.label == e.label))
        .count();
    let manifest = Manifest {
        format: manifest::FORMAT,
        engine: env!("CARGO_PKG_VERSION").to_string(),
        generation,
        tables,
        series: Vec::new(),
        source: Some(source.describe()),
        units: unit_entries,
    };
    manifest
        .write(dir)
        .map_err(|e| index_error(&dir.join(manifest::MANIFEST), format!("cannot write: {e}")))?;
    super::build::remove_unreferenced(dir, &manifest);
    Ok((
        manifest,
        IndexReport {
            dir: dir.to_path_buf(),
            built: true,
            summarized,
            reused,
            removed,
        },
    ))
}

/// Reads a unit and summarizes its points: its objects' rows by table, its states.
fn read_unit(source: &dyn Source, unit: &Unit) -> Result<UnitPart, LoadError> {
    let file = unit
        .files
        .first()
        .cloned()
        .unwrap_or_else(|| PathBuf::from(&unit.label));
    let data = guarded(&file, || source.read(unit))?;
    let mut chunks = Vec::new();
    for (kind, batch) in &data.objects {
        chunks.push((*kind, objects::normalize(&file, batch)?));
    }
    // Points name objects of their table within this unit.
    let mut indexes: HashMap<ObjectKind, IdIndex> = HashMap::new();
    for (kind, chunk) in &chunks {
        indexes.entry(*kind).or_default().insert_file(&file, &chunk.ids)?;
    }
    let problem = |p: SeriesProblem| crate::load::series_error(&file, p);
    let empty = IdIndex::default();
    let mut floats = Vec::new();
    let mut kinds: Vec<ObjectKind> = data.float_points.iter().map(|(k, _)| *k).collect();
    kinds.dedup();
    for kind in kinds {
        let index = indexes.get(&kind).unwrap_or(&empty);
        let mut summaries = FloatSummaries::new(index.len());
        for (_, batch) in data.float_points.iter().filter(|(k, _)| *k == kind) {
            summaries.add_batch(batch, index).map_err(problem)?;
        }
        floats.push(tagged(&summaries.state_batch(index), &unit.label, kind));
    }
    let mut strings = Vec::new();
    let mut kinds: Vec<ObjectKind> = data.string_points.iter().map(|(k, _)| *k).collect();
    kinds.dedup();
    for kind in kinds {
        let index = indexes.get(&kind).unwrap_or(&empty);
        let mut summaries = StringSummaries::new(index.len());
        for (_, batch) in data.string_points.iter().filter(|(k, _)| *k == kind) {
            summaries.add_batch(batch, index).map_err(problem)?;
        }
        strings.push(tagged(&summaries.state_batch(index), &unit.label, kind));
    }
    Ok(UnitPart {
        label: unit.label.clone(),
        chunks,
        floats,
        strings,
        warnings: data.warnings,
    })
}

/// `states` with the unit and table they belong to, as the first two columns.
fn tagged(states: &RecordBatch, unit: &str, kind: ObjectKind) -> RecordBatch {
    let rows = states.num_rows();
    let mut fields = vec![
        Field::new(UNIT_COLUMN, DataType::Utf8, false),
        Field::new(TABLE_COLUMN, DataType::Utf8, false),
    ];
    fields.extend(states.schema().fields().iter().map(|f| f.as_ref().clone()));
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![unit; rows])),
        Arc::new(StringArray::from(vec![kind.table_name(); rows])),
    ];
    columns.extend(states.columns().iter().cloned());
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("the columns fit")
}

/// The rows that the kept units (`Some` in `kept`) have in the tables `previous` wrote, as
/// one part per kept unit, in order.
fn old_rows(
    previous: &Manifest,
    dir: &Path,
    kept: &[Option<&UnitEntry>],
) -> Result<Vec<UnitPart>, LoadError> {
    let kept_labels: HashSet<&str> = kept.iter().flatten().map(|e| e.label.as_str()).collect();
    let mut by_unit: HashMap<&str, Vec<(ObjectKind, ObjectChunk)>> = HashMap::new();
    for table in &previous.tables {
        let Some(kind) = ObjectKind::from_table_name(&table.table) else {
            continue;
        };
        // The kept units' rows of this table: units own consecutive rows, in unit order.
        let mut at = 0;
        let mut ranges = Vec::new();
        let mut owners = Vec::new();
        for unit in &previous.units {
            let rows = unit
                .rows
                .iter()
                .find(|(t, _)| *t == table.table)
                .map_or(0, |(_, n)| *n);
            if rows > 0 && kept_labels.contains(unit.label.as_str()) {
                ranges.push((at, rows));
                owners.push(unit.label.as_str());
            }
            at += rows;
        }
        let chunks = old_chunks(dir, table, &ranges, &dir.join(&table.pack))?;
        for (owner, chunk) in owners.into_iter().zip(chunks) {
            by_unit.entry(owner).or_default().push((kind, chunk));
        }
    }
    Ok(kept
        .iter()
        .flatten()
        .map(|e| UnitPart {
            label: e.label.clone(),
            chunks: by_unit.remove(e.label.as_str()).unwrap_or_default(),
            floats: Vec::new(),
            strings: Vec::new(),
            warnings: Vec::new(),
        })
        .collect())
}

/// Writes one table: its rows (in unit order) and its summaries from every live unit's
/// states, as a pack of columns.
fn write_table(
    dir: &Path,
    generation: u64,
    kind: ObjectKind,
    parts: &[UnitPart],
    live: &HashMap<&str, u64>,
    states: &HashMap<u64, (RecordBatch, RecordBatch)>,
) -> Result<TableEntry, LoadError> {
    let chunks: Vec<ObjectChunk> = parts
        .iter()
        .flat_map(|p| &p.chunks)
        .filter(|(k, _)| *k == kind)
        .map(|(_, c)| ObjectChunk {
            file: c.file.clone(),
            rows: c.rows,
            ids: c.ids.clone(),
            attributes: c.attributes.clone(),
        })
        .collect();
    let mut index = IdIndex::default();
    for c in &chunks {
        index.insert_file(&c.file, &c.ids)?;
    }
    let rows = index.len();
    // Summaries: every live unit's rows of this table, from the state file holding them.
    let mut floats = FloatSummaries::new(rows);
    let mut strings = StringSummaries::new(rows);
    let problem = |file: PathBuf| move |p: SeriesProblem| super::build::state_error(&file, &file, p);
    for (g, (float_states, string_states)) in states {
        for (states, float) in [(float_states, true), (string_states, false)] {
            let mine = rows_of(states, kind, live, *g);
            if mine.num_rows() == 0 {
                continue;
            }
            let file = dir.join(segment_file(*g, if float { "float" } else { "string" }));
            let merged = if float {
                floats.add_states(&mine, &index)
            } else {
                strings.add_batch(&mine, &index)
            };
            merged.map_err(problem(file))?;
        }
    }
    write_columns(
        dir,
        generation,
        kind,
        chunks,
        summary_columns(&floats, &strings, 0..rows),
    )
}

/// The rows of a state file that belong to table `kind` and to units whose live state is
/// in generation `g`.
fn rows_of(states: &RecordBatch, kind: ObjectKind, live: &HashMap<&str, u64>, g: u64) -> RecordBatch {
    let (Some(units), Some(tables)) = (
        states.column_by_name(UNIT_COLUMN),
        states.column_by_name(TABLE_COLUMN),
    ) else {
        return RecordBatch::new_empty(states.schema());
    };
    let (units, tables) = (string_values(units), string_values(tables));
    let keep: datafusion::arrow::array::BooleanArray = (0..states.num_rows())
        .map(|r| {
            Some(
                tables[r].as_deref() == Some(kind.table_name())
                    && units[r].as_deref().and_then(|u| live.get(u)) == Some(&g),
            )
        })
        .collect();
    filter_record_batch(states, &keep).unwrap_or_else(|_| RecordBatch::new_empty(states.schema()))
}

fn string_values(array: &ArrayRef) -> Vec<Option<String>> {
    match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        DataType::Utf8View => array
            .as_string_view()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        DataType::LargeUtf8 => array
            .as_string::<i64>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        _ => vec![None; array.len()],
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    };
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datasets::layout::ObjectKind;

    use super::super::{Project, refresh, tables_of};
    use crate::load::{IndexLocation, LoadOptions, LoadedProject};
    use crate::source::{Source, Unit, UnitData};
    use crate::{Engine, FetchOptions, Trashed};

    /// A source whose units are the `*.run` files of a directory; a file holds
    /// `name value value ...`: a run of that id with those points of `m`, and in the
    /// `experiments` table the same object with the points doubled.
    #[derive(Debug)]
    struct Fake(std::path::PathBuf);

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }

    impl Source for Fake {
        fn describe(&self) -> String {
            "a fake source".into()
        }

        fn units(&self) -> Result<Vec<Unit>, crate::LoadError> {
            let mut files: Vec<_> = std::fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.retain(|f| f.extension().is_some_and(|e| e == "run"));
            files.sort();
            Ok(files
                .into_iter()
                .map(|f| Unit {
                    label: f.file_stem().unwrap().to_string_lossy().into_owned(),
                    files: vec![f],
                })
                .collect())
        }

        fn read(&self, unit: &Unit) -> Result<UnitData, crate::LoadError> {
            let text = std::fs::read_to_string(&unit.files[0]).unwrap();
            let mut words = text.split_whitespace();
            let id = words.next().unwrap().to_string();
            let values: Vec<f64> = words.map(|w| w.parse().unwrap()).collect();
            let n = values.len();
            let object = |extra: &str| {
                batch(vec![
                    (
                        "sys/id",
                        Arc::new(StringArray::from(vec![id.as_str()])) as ArrayRef,
                    ),
                    (
                        "sys/name:string",
                        Arc::new(StringArray::from(vec![format!("{id}{extra}")])),
                    ),
                    (
                        "sys/creation_time:datetime",
                        Arc::new(TimestampMillisecondArray::from(vec![n as i64 * 1000]).with_timezone("UTC")),
                    ),
                ])
            };
            let points = |factor: f64| {
                let ts: ArrayRef =
                    Arc::new(TimestampMillisecondArray::from(vec![None::<i64>; n]).with_timezone("UTC"));
                let b = batch(vec![
                    (
                        "sys/id",
                        Arc::new(StringArray::from(vec![id.as_str(); n])) as ArrayRef,
                    ),
                    ("path", Arc::new(StringArray::from(vec!["m"; n]))),
                    (
                        "step",
                        Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64))),
                    ),
                    (
                        "value",
                        Arc::new(Float64Array::from_iter_values(values.iter().map(|v| v * factor))),
                    ),
                    ("timestamp", ts),
                ]);
                assert_eq!(
                    b.schema().field(4).data_type(),
                    &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
                );
                b
            };
            Ok(UnitData {
                objects: vec![
                    (ObjectKind::Runs, object("")),
                    (ObjectKind::Experiments, object("-exp")),
                ],
                float_points: vec![
                    (ObjectKind::Runs, points(1.0)),
                    (ObjectKind::Experiments, points(2.0)),
                ],
                string_points: Vec::new(),
                warnings: Vec::new(),
            })
        }
    }

    fn open(data: &std::path::Path, index: &std::path::Path) -> (Engine, crate::IndexReport) {
        let options = LoadOptions {
            index: IndexLocation::Dir(index.to_path_buf()),
            ..LoadOptions::default()
        };
        let project = Project::Foreign {
            root: data.to_path_buf(),
            path: data.to_path_buf(),
            source: Box::new(Fake(data.to_path_buf())),
        };
        let (manifest, report) = refresh(&project, &options, false).unwrap();
        let (tables, series) = tables_of(&project, &manifest, &report.dir).unwrap();
        (
            Engine::new(
                LoadedProject {
                    tables,
                    series,
                    kind: String::new(),
                    foreign: None,
                },
                &options,
            )
            .unwrap(),
            report,
        )
    }

    fn answer(engine: &Engine, kind: ObjectKind, query: &str) -> Vec<String> {
        let options = FetchOptions {
            trashed: Trashed::All,
            sort_by: Some("sys/id".into()),
            ascending: true,
            ..FetchOptions::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(engine.fetch(kind, query, &options, None))
            .unwrap()
            .ids()
    }

    #[test]
    fn units_are_indexed_kept_replaced_and_dropped() {
        let (data, index) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let write =
            |name: &str, text: &str| std::fs::write(data.path().join(format!("{name}.run")), text).unwrap();
        write("a", "R-1 1 2 3");
        write("b", "R-2 5 5");
        write("c", "R-3 0.5");
        let (engine, report) = open(data.path(), index.path());
        assert_eq!((report.summarized, report.reused), (3, 0));
        assert_eq!(
            answer(&engine, ObjectKind::Runs, "average(m) > 1"),
            ["R-1", "R-2"]
        );
        assert_eq!(answer(&engine, ObjectKind::Runs, "last(m) = 3"), ["R-1"]);
        assert_eq!(answer(&engine, ObjectKind::Experiments, "last(m) = 6"), ["R-1"]);
        assert_eq!(
            answer(&engine, ObjectKind::Experiments, "sys/name:string = \"R-2-exp\""),
            ["R-2"]
        );
        let (_, report) = open(data.path(), index.path());
        assert!(!report.built);

        // One unit changed, one removed, one added: only two are read.
        write("b", "R-2 0.1 0.2 0.3");
        std::fs::remove_file(data.path().join("c.run")).unwrap();
        write("d", "R-4 9");
        let (engine, report) = open(data.path(), index.path());
        assert_eq!(
            (report.summarized, report.reused, report.removed),
            (2, 1, 1),
            "{report:?}"
        );
        assert_eq!(answer(&engine, ObjectKind::Runs, ""), ["R-1", "R-2", "R-4"]);
        assert_eq!(
            answer(&engine, ObjectKind::Runs, "average(m) > 1"),
            ["R-1", "R-4"]
        );
        assert_eq!(answer(&engine, ObjectKind::Runs, "max(m) = 0.3"), ["R-2"]);
        assert_eq!(answer(&engine, ObjectKind::Experiments, "min(m) = 18"), ["R-4"]);

        // The same as an index built at once.
        let fresh = tempfile::tempdir().unwrap();
        let (at_once, _) = open(data.path(), fresh.path());
        for q in [
            "",
            "variance(m) > 0",
            "last(m) < 1",
            "sys/creation_time:datetime > \"1970-01-01T00:00:02Z\"",
        ] {
            for kind in [ObjectKind::Runs, ObjectKind::Experiments] {
                assert_eq!(
                    answer(&engine, kind, q),
                    answer(&at_once, kind, q),
                    "{kind:?} {q}"
                );
            }
        }
        // The source itself was never written to.
        let names: Vec<String> = std::fs::read_dir(data.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");

        // Converted to the native layout, it answers the same (runs only: the native layout
        // has no experiments).
        let out = tempfile::tempdir().unwrap();
        let converted = out.path().join("project");
        let report = crate::convert::write_native(
            &Fake(data.path().to_path_buf()),
            &converted,
            &LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(report.objects, vec![("runs".to_string(), 3)]);
        assert_eq!(report.float_points, 7);
        assert_eq!(report.left_out.len(), 1, "{:?}", report.left_out);
        let native = Engine::open_with(
            &converted,
            &LoadOptions {
                index: IndexLocation::None,
                ..LoadOptions::default()
            },
        )
        .unwrap();
        for q in [
            "",
            "variance(m) > 0",
            "last(m) < 1",
            "average(m) > 1",
            "sys/name:string = \"R-4\"",
        ] {
            assert_eq!(
                answer(&native, ObjectKind::Runs, q),
                answer(&engine, ObjectKind::Runs, q),
                "{q}"
            );
        }
    }
}
