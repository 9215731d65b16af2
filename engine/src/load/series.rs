//! Per-(object, path) series summaries, computed in one vectorized pass over the points.
//!
//! Float series get `last`, `average`, `max`, `min` and `variance` (spec 2); string series get
//! `last`. Points are read in Arrow batches; `sys/id` and `path` arrive dictionary-encoded
//! from Parquet, so mapping a point to its object is an array lookup per point and a hash
//! lookup per distinct id per batch, never a string hash per point. Each summary lives in a
//! flat slot table indexed by (path, object); workers summarize disjoint chunks of the input
//! and their partial summaries are merged.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Float64Array, PrimitiveArray, StringArray, StringBuilder,
    new_null_array,
};
use datafusion::arrow::compute::{cast, interleave};
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Int32Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::arrow::record_batch::RecordBatch;
use datasets::layout::{ID_COLUMN, PATH_COLUMN, STEP_COLUMN, TIMESTAMP_COLUMN, VALUE_COLUMN};

use super::state;
use super::summary::{Finals, FloatSummary};

/// Maps every `sys/id` in the project to a dense object number, and back.
#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    ids: HashMap<Arc<str>, u32, ahash::RandomState>,
    names: Vec<Arc<str>>,
    /// The first object number of each file inserted, with the file.
    files: Vec<(u32, std::path::PathBuf)>,
}

impl IdIndex {
    /// Numbers the objects of a file (or batch) of an object table, in order. An id that is
    /// already taken is an error naming both files.
    pub fn insert_file(
        &mut self,
        file: &std::path::Path,
        ids: &datafusion::arrow::array::StringViewArray,
    ) -> Result<(), crate::error::LoadError> {
        self.files.push((self.len() as u32, file.to_path_buf()));
        for id in ids.iter().flatten() {
            if !self.insert(id) {
                let first = self.get(id).expect("a duplicate is present");
                let other = self
                    .files
                    .iter()
                    .rev()
                    .find(|(start, _)| *start <= first)
                    .map(|(_, f)| f.clone());
                return Err(crate::error::LoadError::DuplicateId {
                    file: file.to_path_buf(),
                    id: id.to_string(),
                    other: other.unwrap_or_default(),
                });
            }
        }
        Ok(())
    }

    /// Registers the next object; `false` if the id is already taken.
    pub fn insert(&mut self, id: &str) -> bool {
        let next = self.ids.len() as u32;
        match self.ids.entry(id.into()) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                self.names.push(Arc::clone(v.key()));
                v.insert(next);
                true
            }
        }
    }

    /// The id of object number `object`.
    pub fn id(&self, object: u32) -> &str {
        &self.names[object as usize]
    }

    pub fn get(&self, id: &str) -> Option<u32> {
        self.ids.get(id).copied()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }
}

/// A problem with one series batch, turned into a `LoadError` (with the file) by the caller.
#[derive(Debug)]
pub(crate) enum SeriesProblem {
    Column { column: &'static str, problem: String },
    UnknownObject(String),
}

/// No slot yet for this (path, object).
const EMPTY: u32 = u32::MAX;

/// The columns of one series batch, in the types the summarizer reads.
struct Points<'a> {
    /// Dictionary-encoded ids and paths: keys per point, distinct values per batch.
    ids: DictionaryArray<Int32Type>,
    paths: DictionaryArray<Int32Type>,
    steps: Float64Array,
    /// Nanoseconds since the epoch, `i64::MIN` where there is no timestamp.
    timestamps: Vec<i64>,
    batch: &'a RecordBatch,
}

impl<'a> Points<'a> {
    fn read(batch: &'a RecordBatch) -> Result<Self, SeriesProblem> {
        let column = |name: &'static str| {
            batch.column_by_name(name).ok_or(SeriesProblem::Column {
                column: name,
                problem: "missing".into(),
            })
        };
        let ids = dictionary(column(ID_COLUMN)?, ID_COLUMN)?;
        let paths = dictionary(column(PATH_COLUMN)?, PATH_COLUMN)?;
        let steps = float64(column(STEP_COLUMN)?, STEP_COLUMN)?;
        for (name, array) in [
            (ID_COLUMN, &ids as &dyn Array),
            (PATH_COLUMN, &paths),
            (STEP_COLUMN, &steps),
        ] {
            if let Some(row) = first_null(array) {
                return Err(SeriesProblem::Column {
                    column: name,
                    problem: format!("row {row} is null"),
                });
            }
        }
        let timestamps = match batch.column_by_name(TIMESTAMP_COLUMN) {
            Some(t) => timestamps_ns(t)?,
            None => vec![i64::MIN; batch.num_rows()],
        };
        Ok(Points {
            ids,
            paths,
            steps,
            timestamps,
            batch,
        })
    }

    fn object_of_keys(&self, index: &IdIndex) -> Result<Vec<u32>, SeriesProblem> {
        object_of_keys(&self.ids, index)
    }
}

/// The `sys/id` and `path` columns of a state batch, dictionary-encoded: the ids of
/// `objects` (numbered by `index`) and `paths`, runs of equal paths sharing one key.
fn key_columns(index: &IdIndex, objects: &[u32], paths: &[&str]) -> (ArrayRef, ArrayRef) {
    let mut used: Vec<u32> = objects.to_vec();
    used.sort_unstable();
    used.dedup();
    let key_of = |o: u32| used.binary_search(&o).expect("an object in use") as i32;
    let id_values = StringArray::from_iter_values(used.iter().map(|&o| index.id(o)));
    let ids = DictionaryArray::<Int32Type>::new(
        datafusion::arrow::array::Int32Array::from_iter_values(objects.iter().map(|&o| key_of(o))),
        Arc::new(id_values),
    );
    let mut distinct: Vec<&str> = Vec::new();
    let mut keys = Vec::with_capacity(paths.len());
    for p in paths {
        if distinct.last() != Some(p) {
            distinct.push(p);
        }
        keys.push(distinct.len() as i32 - 1);
    }
    let paths = DictionaryArray::<Int32Type>::new(
        datafusion::arrow::array::Int32Array::from(keys),
        Arc::new(StringArray::from(distinct)),
    );
    (Arc::new(ids), Arc::new(paths))
}

/// For each dictionary key of `ids`, the object number (resolved lazily, so that unused
/// dictionary entries do not matter).
fn object_of_keys(ids: &DictionaryArray<Int32Type>, index: &IdIndex) -> Result<Vec<u32>, SeriesProblem> {
    let values = ids.values().as_string::<i32>();
    let mut map = vec![EMPTY; values.len()];
    for key in ids.keys().values().iter() {
        let k = *key as usize;
        if map[k] == EMPTY {
            let id = values.value(k);
            map[k] = index
                .get(id)
                .ok_or_else(|| SeriesProblem::UnknownObject(id.to_string()))?;
        }
    }
    Ok(map)
}

fn first_null(a: &dyn Array) -> Option<usize> {
    a.logical_nulls()
        .filter(|n| n.null_count() > 0)
        .and_then(|n| (0..n.len()).find(|&i| n.is_null(i)))
}

/// A string column as `Dictionary(Int32, Utf8)`, whatever string encoding it came in.
fn dictionary(array: &ArrayRef, name: &'static str) -> Result<DictionaryArray<Int32Type>, SeriesProblem> {
    let target = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let is_string = match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => {
            matches!(**v, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
        }
        _ => false,
    };
    if !is_string {
        return Err(SeriesProblem::Column {
            column: name,
            problem: format!("must be a string column, not {}", array.data_type()),
        });
    }
    let converted = if array.data_type() == &target {
        array.clone()
    } else {
        cast(array, &target).map_err(|e| SeriesProblem::Column {
            column: name,
            problem: e.to_string(),
        })?
    };
    Ok(converted.as_dictionary::<Int32Type>().clone())
}

/// A numeric column as Float64.
fn float64(array: &ArrayRef, name: &'static str) -> Result<Float64Array, SeriesProblem> {
    if !array.data_type().is_numeric() {
        return Err(SeriesProblem::Column {
            column: name,
            problem: format!(
                "must be a number column (float64 or an integer), not {}",
                array.data_type()
            ),
        });
    }
    let a = cast(array, &DataType::Float64).map_err(|e| SeriesProblem::Column {
        column: name,
        problem: e.to_string(),
    })?;
    Ok(a.as_primitive::<Float64Type>().clone())
}

/// Timestamps of any unit as nanoseconds (saturating), `i64::MIN` for nulls.
fn timestamps_ns(array: &ArrayRef) -> Result<Vec<i64>, SeriesProblem> {
    fn scaled<T: datafusion::arrow::datatypes::ArrowPrimitiveType<Native = i64>>(
        a: &ArrayRef,
        factor: i64,
    ) -> Vec<i64> {
        let a: &PrimitiveArray<T> = a.as_primitive::<T>();
        (0..a.len())
            .map(|i| {
                if a.is_null(i) {
                    i64::MIN
                } else {
                    a.value(i).saturating_mul(factor)
                }
            })
            .collect()
    }
    Ok(match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => scaled::<TimestampSecondType>(array, 1_000_000_000),
        DataType::Timestamp(TimeUnit::Millisecond, _) => scaled::<TimestampMillisecondType>(array, 1_000_000),
        DataType::Timestamp(TimeUnit::Microsecond, _) => scaled::<TimestampMicrosecondType>(array, 1_000),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => scaled::<TimestampNanosecondType>(array, 1),
        other => {
            return Err(SeriesProblem::Column {
                column: TIMESTAMP_COLUMN,
                problem: format!("must be a timestamp column, not {other}"),
            });
        }
    })
}

/// The float as NQL compares it: every NaN becomes the positive quiet NaN, above every number
/// (arithmetic such as `inf + -inf` yields a NaN with the sign bit set on x86), and -0.0
/// becomes 0.0, so that equality and Arrow's totalOrder agree.
#[inline]
pub(crate) fn canonical(v: f64) -> f64 {
    if v.is_nan() {
        f64::NAN
    } else if v == 0.0 {
        0.0
    } else {
        v
    }
}

/// A slot table: for each path, for each object, the index of its summary.
#[derive(Debug, Default)]
struct Slots {
    paths: Vec<String>,
    by_name: HashMap<String, u32>,
    table: Vec<Vec<u32>>,
}

impl Slots {
    fn path_index(&mut self, path: &str, objects: usize) -> u32 {
        if let Some(&p) = self.by_name.get(path) {
            return p;
        }
        let p = self.paths.len() as u32;
        self.paths.push(path.to_string());
        self.by_name.insert(path.to_string(), p);
        self.table.push(vec![EMPTY; objects]);
        p
    }

    /// Every (path, object number, slot) that has a summary, by path, then object number.
    fn entries(&self) -> impl Iterator<Item = (&str, u32, u32)> {
        let mut order: Vec<usize> = (0..self.paths.len()).collect();
        order.sort_by(|&a, &b| self.paths[a].cmp(&self.paths[b]));
        order.into_iter().flat_map(move |p| {
            self.table[p]
                .iter()
                .enumerate()
                .filter(|(_, slot)| **slot != EMPTY)
                .map(move |(object, &slot)| (self.paths[p].as_str(), object as u32, slot))
        })
    }

    /// For each dictionary key of `paths`, the path number.
    fn path_of_keys(&mut self, paths: &DictionaryArray<Int32Type>, objects: usize) -> Vec<u32> {
        let values = paths.values().as_string::<i32>();
        (0..values.len())
            .map(|k| {
                if values.is_null(k) {
                    EMPTY
                } else {
                    self.path_index(values.value(k), objects)
                }
            })
            .collect()
    }
}

/// Float series summaries for every (path, object) seen.
#[derive(Debug)]
pub(crate) struct FloatSummaries {
    objects: usize,
    slots: Slots,
    summaries: Vec<FloatSummary>,
}

impl FloatSummaries {
    pub fn new(objects: usize) -> Self {
        FloatSummaries {
            objects,
            slots: Slots::default(),
            summaries: Vec::new(),
        }
    }

    /// Adds a batch of points (`sys/id`, `path`, `step`, `value`, optional `timestamp`).
    /// Points with a null value are not points: they are skipped.
    pub fn add_batch(&mut self, batch: &RecordBatch, index: &IdIndex) -> Result<(), SeriesProblem> {
        let points = Points::read(batch)?;
        let values = match batch.column_by_name(VALUE_COLUMN) {
            Some(v) => float64(v, VALUE_COLUMN)?,
            None => {
                return Err(SeriesProblem::Column {
                    column: VALUE_COLUMN,
                    problem: "missing".into(),
                });
            }
        };
        let objects = points.object_of_keys(index)?;
        let paths = self.slots.path_of_keys(&points.paths, self.objects);
        let id_keys = points.ids.keys().values();
        let path_keys = points.paths.keys().values();
        let steps = points.steps.values();
        let nulls = values.nulls().filter(|n| n.null_count() > 0).cloned();
        let vals = values.values();
        let rows = points.batch.num_rows();
        let is_null = |i: usize| nulls.as_ref().is_some_and(|n| n.is_null(i));
        // Points come in runs of one series (a writer logs a series at a time, a file is
        // sorted by run): each run finds its summary once and adds its points at once.
        let mut i = 0;
        while i < rows {
            if is_null(i) {
                i += 1;
                continue;
            }
            let (id_key, path_key) = (id_keys[i], path_keys[i]);
            let mut end = i + 1;
            while end < rows && id_keys[end] == id_key && path_keys[end] == path_key {
                end += 1;
            }
            let object = objects[id_key as usize] as usize;
            let path = paths[path_key as usize] as usize;
            let slot = self.slots.table[path][object];
            let summary = if slot == EMPTY {
                let (step, time, value) = (canonical(steps[i]), points.timestamps[i], canonical(vals[i]));
                self.slots.table[path][object] = self.summaries.len() as u32;
                self.summaries.push(FloatSummary::first(step, time, value));
                i += 1;
                self.summaries.last_mut().expect("just pushed")
            } else {
                &mut self.summaries[slot as usize]
            };
            match &nulls {
                Some(n) if n.slice(i, end - i).null_count() > 0 => {
                    for k in (i..end).filter(|&k| !is_null(k)) {
                        summary.add(canonical(steps[k]), points.timestamps[k], canonical(vals[k]));
                    }
                }
                _ => summary.add_run(&steps[i..end], &points.timestamps[i..end], &vals[i..end]),
            }
            i = end;
        }
        Ok(())
    }

    /// Every (path, object number) that has a summary.
    pub fn keys(&self) -> impl Iterator<Item = (&str, u32)> {
        self.slots.entries().map(|(path, object, _)| (path, object))
    }

    /// Whether the last point of some series may share its step with another point (see
    /// [`FloatSummary::last_step_shared`]).
    pub fn any_last_step_shared(&self) -> bool {
        self.summaries.iter().any(FloatSummary::last_step_shared)
    }

    /// How many objects these summaries are numbered over.
    pub fn objects(&self) -> usize {
        self.objects
    }

    /// Folds another worker's summaries into these.
    pub fn merge(&mut self, other: FloatSummaries) {
        if self.summaries.is_empty() && self.objects == other.objects {
            *self = other;
            return;
        }
        let mut theirs: Vec<Option<FloatSummary>> = other.summaries.into_iter().map(Some).collect();
        for (p, name) in other.slots.paths.iter().enumerate() {
            let mine = self.slots.path_index(name, self.objects) as usize;
            for (object, &slot) in other.slots.table[p].iter().enumerate() {
                let Some(summary) = (slot != EMPTY).then(|| theirs[slot as usize].take()).flatten() else {
                    continue;
                };
                self.put(mine, object, summary);
            }
        }
    }

    /// Merges `summary` into the one of (path number, object), or makes it that one.
    fn put(&mut self, path: usize, object: usize, summary: FloatSummary) {
        let target = &mut self.slots.table[path][object];
        if *target == EMPTY {
            *target = self.summaries.len() as u32;
            self.summaries.push(summary);
        } else {
            self.summaries[*target as usize].merge(&summary);
        }
    }

    /// The whole state as a batch, one row per (object, path), objects named by `index`:
    /// what the project index stores per series file ([`FloatSummaries::add_states`] reads it
    /// back). Rows are sorted by path, then object number, so the same state always gives
    /// the same batch.
    pub fn state_batch(&self, index: &IdIndex) -> RecordBatch {
        let (mut objects, mut paths, mut parts) = (Vec::new(), Vec::new(), Vec::new());
        for (path, object, slot) in self.slots.entries() {
            objects.push(object);
            paths.push(path);
            parts.push(self.summaries[slot as usize].raw());
        }
        let (ids, paths) = key_columns(index, &objects, &paths);
        state::float_batch(ids, paths, &parts)
    }

    /// Merges a state batch written by [`FloatSummaries::state_batch`] into these.
    pub fn add_states(&mut self, batch: &RecordBatch, index: &IdIndex) -> Result<(), SeriesProblem> {
        let ids = dictionary(state::column(batch, ID_COLUMN)?, ID_COLUMN)?;
        let paths = dictionary(state::column(batch, PATH_COLUMN)?, PATH_COLUMN)?;
        let objects = object_of_keys(&ids, index)?;
        let path_numbers = self.slots.path_of_keys(&paths, self.objects);
        let parts = state::float_parts(batch)?;
        for (row, part) in parts.into_iter().enumerate() {
            let summary = FloatSummary::from_parts(&part).map_err(|e| SeriesProblem::Column {
                column: "state",
                problem: format!("row {row}: {e}"),
            })?;
            let object = objects[ids.keys().value(row) as usize] as usize;
            let path = path_numbers[paths.keys().value(row) as usize] as usize;
            self.put(path, object, summary);
        }
        Ok(())
    }

    /// The summary columns of every path for the objects `range` (one table's objects),
    /// as `(path, [last, average, max, min, variance], objects with points)`, sorted by path
    /// (workers meet paths in any order); paths with no points in the range are left out.
    pub fn columns(&self, range: std::ops::Range<usize>) -> Vec<(String, [ArrayRef; 5], usize)> {
        let paths: Vec<(usize, &String)> = self.slots.paths.iter().enumerate().collect();
        let threads = crate::load::cores();
        // Finalizing (exact averages and variances) is most of a build's last step: the
        // paths are finalized in parallel.
        let columns = super::parallel_map(&paths, threads, |&(p, path)| {
            let slots = &self.slots.table[p][range.clone()];
            let present = slots.iter().filter(|&&s| s != EMPTY).count();
            if present == 0 {
                return Ok(None);
            }
            let finals: Vec<Option<Finals>> = slots
                .iter()
                .map(|&s| (s != EMPTY).then(|| self.summaries[s as usize].finalize()))
                .collect();
            let column = |f: fn(&Finals) -> f64| -> ArrayRef {
                Arc::new(Float64Array::from_iter(
                    finals.iter().map(|x| x.as_ref().map(|x| canonical(f(x)))),
                ))
            };
            let arrays = [
                column(|s| s.last),
                column(|s| s.average),
                column(|s| s.max),
                column(|s| s.min),
                column(|s| s.variance),
            ];
            Ok(Some((path.clone(), arrays, present)))
        })
        .expect("finalizing does not fail");
        let mut out: Vec<_> = columns.into_iter().flatten().collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// Where the last entry of a string series is: (step, timestamp, batch, row).
#[derive(Clone, Copy, Debug)]
struct LastString {
    step: f64,
    time: i64,
    batch: u32,
    row: u32,
}

/// The last entry of every string series seen.
#[derive(Debug)]
pub(crate) struct StringSummaries {
    objects: usize,
    slots: Slots,
    last: Vec<LastString>,
    /// The value column of every batch added, as Utf8.
    values: Vec<StringArray>,
}

impl StringSummaries {
    pub fn new(objects: usize) -> Self {
        StringSummaries {
            objects,
            slots: Slots::default(),
            last: Vec::new(),
            values: Vec::new(),
        }
    }

    fn value(&self, at: &LastString) -> &str {
        self.values[at.batch as usize].value(at.row as usize)
    }

    fn is_later(&self, a: &LastString, b: &LastString) -> bool {
        a.step
            .total_cmp(&b.step)
            .then(a.time.cmp(&b.time))
            .then_with(|| self.value(a).cmp(self.value(b)))
            == Ordering::Greater
    }

    /// Adds a batch of entries; entries with a null value are skipped.
    pub fn add_batch(&mut self, batch: &RecordBatch, index: &IdIndex) -> Result<(), SeriesProblem> {
        let points = Points::read(batch)?;
        let values = match batch.column_by_name(VALUE_COLUMN) {
            Some(v)
                if matches!(
                    v.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) || matches!(v.data_type(), DataType::Dictionary(_, _)) =>
            {
                cast(v, &DataType::Utf8).map_err(|e| SeriesProblem::Column {
                    column: VALUE_COLUMN,
                    problem: e.to_string(),
                })?
            }
            Some(v) => {
                return Err(SeriesProblem::Column {
                    column: VALUE_COLUMN,
                    problem: format!("must be a string column, not {}", v.data_type()),
                });
            }
            None => {
                return Err(SeriesProblem::Column {
                    column: VALUE_COLUMN,
                    problem: "missing".into(),
                });
            }
        };
        let objects = points.object_of_keys(index)?;
        let paths = self.slots.path_of_keys(&points.paths, self.objects);
        let batch_no = self.values.len() as u32;
        self.values.push(values.as_string::<i32>().clone());
        let id_keys = points.ids.keys().values();
        let path_keys = points.paths.keys().values();
        let steps = points.steps.values();
        for i in 0..points.batch.num_rows() {
            if self.values[batch_no as usize].is_null(i) {
                continue;
            }
            let object = objects[id_keys[i] as usize] as usize;
            let path = paths[path_keys[i] as usize] as usize;
            let entry = LastString {
                step: canonical(steps[i]),
                time: points.timestamps[i],
                batch: batch_no,
                row: i as u32,
            };
            let slot = self.slots.table[path][object];
            if slot == EMPTY {
                self.slots.table[path][object] = self.last.len() as u32;
                self.last.push(entry);
            } else if self.is_later(&entry, &self.last[slot as usize]) {
                self.last[slot as usize] = entry;
            }
        }
        Ok(())
    }

    /// Every (path, object number) that has an entry.
    pub fn keys(&self) -> impl Iterator<Item = (&str, u32)> {
        self.slots.entries().map(|(path, object, _)| (path, object))
    }

    /// How many objects these summaries are numbered over.
    pub fn objects(&self) -> usize {
        self.objects
    }

    /// Folds another worker's summaries into these.
    pub fn merge(&mut self, other: StringSummaries) {
        if self.last.is_empty() && self.objects == other.objects {
            *self = other;
            return;
        }
        let offset = self.values.len() as u32;
        self.values.extend(other.values);
        for (p, name) in other.slots.paths.iter().enumerate() {
            let mine = self.slots.path_index(name, self.objects) as usize;
            for (object, &slot) in other.slots.table[p].iter().enumerate() {
                if slot == EMPTY {
                    continue;
                }
                let mut theirs = other.last[slot as usize];
                theirs.batch += offset;
                let target = self.slots.table[mine][object];
                if target == EMPTY {
                    self.slots.table[mine][object] = self.last.len() as u32;
                    self.last.push(theirs);
                } else if self.is_later(&theirs, &self.last[target as usize]) {
                    self.last[target as usize] = theirs;
                }
            }
        }
    }

    /// The state as a batch of one entry per (object, path), its last: a batch of points
    /// (`sys/id`, `path`, `step`, `value`, `timestamp`) that [`StringSummaries::add_batch`]
    /// merges like any other. Rows are sorted by path, then object number.
    pub fn state_batch(&self, index: &IdIndex) -> RecordBatch {
        let (mut objects, mut paths) = (Vec::new(), Vec::new());
        let mut values = StringBuilder::new();
        let mut steps = Vec::new();
        let mut times = Vec::new();
        for (path, object, slot) in self.slots.entries() {
            let last = &self.last[slot as usize];
            objects.push(object);
            paths.push(path);
            values.append_value(self.value(last));
            steps.push(last.step);
            times.push((last.time != i64::MIN).then_some(last.time));
        }
        let (ids, paths) = key_columns(index, &objects, &paths);
        state::string_batch(ids, paths, steps, values.finish(), times)
    }

    /// The `last` column of every path for the objects `range`, with the number of objects
    /// that have entries, sorted by path; paths with no entries in the range are left out.
    pub fn columns(&self, range: std::ops::Range<usize>) -> Vec<(String, ArrayRef, usize)> {
        let null: ArrayRef = new_null_array(&DataType::Utf8, 1);
        let mut sources: Vec<&dyn Array> = vec![null.as_ref()];
        sources.extend(self.values.iter().map(|v| v as &dyn Array));
        let mut out = Vec::new();
        for (p, path) in self.slots.paths.iter().enumerate() {
            let slots = &self.slots.table[p][range.clone()];
            let present = slots.iter().filter(|&&s| s != EMPTY).count();
            if present == 0 {
                continue;
            }
            let indices: Vec<(usize, usize)> = slots
                .iter()
                .map(|&s| match s {
                    EMPTY => (0, 0),
                    s => {
                        let at = &self.last[s as usize];
                        (at.batch as usize + 1, at.row as usize)
                    }
                })
                .collect();
            let array = interleave(&sources, &indices).expect("all sources are Utf8");
            out.push((path.clone(), array, present));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::datatypes::{Field, Schema};

    fn batch(ids: &[&str], steps: &[f64], values: &[Option<f64>]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new(ID_COLUMN, DataType::Utf8, false),
            Field::new(PATH_COLUMN, DataType::Utf8, false),
            Field::new(STEP_COLUMN, DataType::Float64, false),
            Field::new(VALUE_COLUMN, DataType::Float64, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(ids.to_vec())),
                Arc::new(StringArray::from(vec!["m"; ids.len()])),
                Arc::new(Float64Array::from(steps.to_vec())),
                Arc::new(Float64Array::from(values.to_vec())),
            ],
        )
        .unwrap()
    }

    fn index(ids: &[&str]) -> IdIndex {
        let mut index = IdIndex::default();
        for id in ids {
            assert!(index.insert(id));
        }
        index
    }

    fn summary(values: &[f64]) -> Vec<Option<f64>> {
        let index = index(&["a", "b"]);
        let steps: Vec<f64> = (0..values.len()).map(|i| i as f64).collect();
        let mut s = FloatSummaries::new(2);
        let v: Vec<Option<f64>> = values.iter().map(|&x| Some(x)).collect();
        s.add_batch(&batch(&vec!["a"; values.len()], &steps, &v), &index)
            .unwrap();
        let cols = s.columns(0..2);
        cols[0]
            .1
            .iter()
            .map(|a| a.as_primitive::<Float64Type>().iter().next().unwrap())
            .collect()
    }

    #[test]
    fn aggregates() {
        let s = summary(&[0.25, 0.75, 0.5]);
        assert_eq!(
            s,
            vec![Some(0.5), Some(0.5), Some(0.75), Some(0.25), Some(1.0 / 24.0)]
        );
        // A constant series has variance exactly zero.
        assert_eq!(summary(&[0.3, 0.3, 0.3])[4], Some(0.0));
        // NaN is the greatest value: max is NaN, min skips it; average and variance are NaN.
        let s = summary(&[1.0, f64::NAN, -1.0]);
        assert!(s[2].unwrap().is_nan());
        assert_eq!(s[3], Some(-1.0));
        assert!(s[1].unwrap().is_nan() && s[4].unwrap().is_nan());
        assert!(summary(&[f64::NAN, -f64::NAN])[3].unwrap().is_nan());
    }

    #[test]
    fn last_is_greatest_step_then_value() {
        let index = index(&["a"]);
        let mut s = FloatSummaries::new(1);
        s.add_batch(
            &batch(
                &["a", "a", "a"],
                &[2.0, 1.0, 2.0],
                &[Some(0.1), Some(9.0), Some(0.2)],
            ),
            &index,
        )
        .unwrap();
        let last = s.columns(0..1)[0].1[0].as_primitive::<Float64Type>().value(0);
        assert_eq!(last, 0.2);
    }

    #[test]
    fn unknown_objects_and_null_values() {
        let index = index(&["a"]);
        let mut s = FloatSummaries::new(1);
        let err = s.add_batch(&batch(&["a", "zz"], &[0.0, 1.0], &[Some(1.0), Some(2.0)]), &index);
        assert!(matches!(err, Err(SeriesProblem::UnknownObject(id)) if id == "zz"));
        let mut s = FloatSummaries::new(1);
        s.add_batch(&batch(&["a", "a"], &[0.0, 1.0], &[Some(1.0), None]), &index)
            .unwrap();
        assert_eq!(
            s.columns(0..1)[0].1[0].as_primitive::<Float64Type>().value(0),
            1.0
        );
    }

    #[test]
    fn merging_partial_summaries_matches_one_pass() {
        let index = index(&["a", "b"]);
        let ids = ["a", "b", "a", "a", "b"];
        let steps = [0.0, 0.0, 1.0, 2.0, 1.0];
        let values = [Some(1.0), Some(5.0), Some(3.0), Some(2.0), Some(-1.0)];
        let mut whole = FloatSummaries::new(2);
        whole.add_batch(&batch(&ids, &steps, &values), &index).unwrap();
        let mut left = FloatSummaries::new(2);
        left.add_batch(&batch(&ids[..2], &steps[..2], &values[..2]), &index)
            .unwrap();
        let mut right = FloatSummaries::new(2);
        right
            .add_batch(&batch(&ids[2..], &steps[2..], &values[2..]), &index)
            .unwrap();
        left.merge(right);
        let (a, b) = (whole.columns(0..2), left.columns(0..2));
        for (x, y) in a[0].1.iter().zip(b[0].1.iter()) {
            let (x, y) = (x.as_primitive::<Float64Type>(), y.as_primitive::<Float64Type>());
            for i in 0..2 {
                assert!((x.value(i) - y.value(i)).abs() < 1e-12, "{x:?} vs {y:?}");
            }
        }
    }
}
