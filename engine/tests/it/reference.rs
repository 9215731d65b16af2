//! A row-at-a-time reference evaluator: reads the raw project (object rows and series points,
//! not the engine's normalized tables or summaries) and decides each object with the spec's
//! rules written as plainly as possible. The differential test checks the engine against it.

use std::cmp::Ordering;
use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datasets::ProjectBatches;
use datasets::layout::{natural_type, split_column_name};
use nql::hir::{Comparison, Condition, ExperimentState, Literal, Number, Predicate, Test};
use nql::{Aggregate, AttrType};

/// A value of one attribute of one object.
#[derive(Clone, Debug)]
enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    /// Nanoseconds since the epoch.
    Time(i128),
    List(Vec<String>),
}

/// A series point: step, timestamp (ns, `i64::MIN` when absent), value.
type Point<V> = (f64, i64, V);

#[derive(Debug, Default)]
struct Object {
    id: String,
    attributes: HashMap<(String, AttrType), Value>,
    floats: HashMap<String, Vec<Point<f64>>>,
    strings: HashMap<String, Vec<Point<String>>>,
}

/// The objects of one table, read from raw batches.
#[derive(Debug)]
pub struct Reference {
    objects: Vec<Object>,
}

impl Reference {
    /// Reads the runs of `project`, with their series.
    pub fn runs(project: &ProjectBatches) -> Reference {
        let mut objects = Vec::new();
        for batch in &project.runs {
            read_objects(batch, &mut objects);
        }
        let index: HashMap<String, usize> = objects
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id.clone(), i))
            .collect();
        for batch in &project.float_series {
            for (id, path, point) in points(batch, float_at) {
                if let (Some(&o), Some(v)) = (index.get(&id), point.2) {
                    objects[o]
                        .floats
                        .entry(path)
                        .or_default()
                        .push((point.0, point.1, v));
                }
            }
        }
        for batch in &project.string_series {
            for (id, path, point) in points(batch, string_at) {
                if let (Some(&o), Some(v)) = (index.get(&id), point.2) {
                    objects[o]
                        .strings
                        .entry(path)
                        .or_default()
                        .push((point.0, point.1, v));
                }
            }
        }
        Reference { objects }
    }

    /// A float series aggregate of an object, computed from its raw points.
    pub fn aggregate(&self, id: &str, path: &str, agg: Aggregate) -> Option<f64> {
        let o = self.objects.iter().find(|o| o.id == id)?;
        o.floats
            .get(path)
            .filter(|p| !p.is_empty())
            .map(|p| aggregate(agg, p))
    }

    /// The last entry of an object's string series.
    pub fn last_entry(&self, id: &str, path: &str) -> Option<String> {
        let o = self.objects.iter().find(|o| o.id == id)?;
        o.strings
            .get(path)?
            .iter()
            .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)))
            .map(|x| x.2.clone())
    }

    /// The sorted ids of the objects `predicate` accepts (`None`: all), leaving out trashed
    /// objects unless `include_trashed`.
    pub fn matching(&self, predicate: Option<&Predicate>, include_trashed: bool) -> Vec<String> {
        let mut ids: Vec<String> = self
            .objects
            .iter()
            .filter(|o| {
                include_trashed
                    || !matches!(
                        o.attributes.get(&("sys/trashed".into(), AttrType::Bool)),
                        Some(Value::Bool(true))
                    )
            })
            .filter(|o| predicate.is_none_or(|p| eval(p, o)))
            .map(|o| o.id.clone())
            .collect();
        ids.sort();
        ids
    }
}

fn read_objects(batch: &RecordBatch, objects: &mut Vec<Object>) {
    let start = objects.len();
    objects.extend((0..batch.num_rows()).map(|_| Object::default()));
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        let (path, suffix) = split_column_name(field.name());
        let ty = suffix
            .or_else(|| natural_type(array.data_type()))
            .expect("test data uses supported types");
        for row in 0..batch.num_rows() {
            let Some(value) = value_at(ty, array, row) else {
                continue;
            };
            let object = &mut objects[start + row];
            if path == "sys/id"
                && let Value::Str(s) = &value
            {
                object.id = s.clone();
            }
            object.attributes.insert((path.to_string(), ty), value);
        }
    }
}

fn value_at(ty: AttrType, array: &ArrayRef, row: usize) -> Option<Value> {
    if array.is_null(row) {
        return None;
    }
    Some(match ty {
        AttrType::Int => Value::Int(int_at(array, row)),
        AttrType::Float => match array.data_type() {
            DataType::Float64 | DataType::Float32 => Value::Float(float_at(array, row)?),
            _ => Value::Float(int_at(array, row) as f64),
        },
        AttrType::Bool => Value::Bool(array.as_boolean().value(row)),
        AttrType::Datetime => Value::Time(time_at(array, row)),
        AttrType::StringSet => {
            let list = cast(
                array,
                &DataType::List(std::sync::Arc::new(
                    datafusion::arrow::datatypes::Field::new_list_field(DataType::Utf8, true),
                )),
            )
            .unwrap();
            let items = list.as_list::<i32>().value(row);
            Value::List(
                items
                    .as_string::<i32>()
                    .iter()
                    .map(|s| s.unwrap_or_default().to_string())
                    .collect(),
            )
        }
        AttrType::ExperimentState => {
            let s = string_at(array, row)?;
            Value::Str(ExperimentState::parse(&s).map_or(s, |st| st.name().to_string()))
        }
        _ => Value::Str(string_at(array, row)?),
    })
}

fn int_at(array: &ArrayRef, row: usize) -> i64 {
    cast(&array.slice(row, 1), &DataType::Int64)
        .unwrap()
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
        .value(0)
}

fn float_at(array: &ArrayRef, row: usize) -> Option<f64> {
    if array.is_null(row) {
        return None;
    }
    Some(
        cast(&array.slice(row, 1), &DataType::Float64)
            .unwrap()
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
            .value(0),
    )
}

fn string_at(array: &ArrayRef, row: usize) -> Option<String> {
    if array.is_null(row) {
        return None;
    }
    Some(
        cast(&array.slice(row, 1), &DataType::Utf8)
            .unwrap()
            .as_string::<i32>()
            .value(0)
            .to_string(),
    )
}

fn time_at(array: &ArrayRef, row: usize) -> i128 {
    let (target, per) = match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => (DataType::Int64, 1_000_000_000),
        DataType::Timestamp(TimeUnit::Millisecond, _) => (DataType::Int64, 1_000_000),
        DataType::Timestamp(TimeUnit::Microsecond, _) => (DataType::Int64, 1_000),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => (DataType::Int64, 1),
        DataType::Date32 => (DataType::Int32, 86_400_000_000_000),
        DataType::Date64 => (DataType::Int64, 1_000_000),
        other => panic!("not a datetime: {other}"),
    };
    let raw = match target {
        DataType::Int32 => array
            .as_primitive::<datafusion::arrow::datatypes::Date32Type>()
            .value(row) as i128,
        _ => {
            let a = cast(&array.slice(row, 1), &DataType::Int64).unwrap();
            a.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .value(0) as i128
        }
    };
    raw * per
}

/// Every point of a series batch as (id, path, (step, timestamp, value)).
fn points<V>(
    batch: &RecordBatch,
    value: impl Fn(&ArrayRef, usize) -> Option<V>,
) -> Vec<(String, String, Point<Option<V>>)> {
    let column = |n: &str| batch.column_by_name(n).unwrap().clone();
    let (ids, paths, steps, values) = (column("sys/id"), column("path"), column("step"), column("value"));
    let times = batch.column_by_name("timestamp");
    (0..batch.num_rows())
        .map(|i| {
            let time = times
                .filter(|t| !t.is_null(i))
                .map_or(i64::MIN, |t| time_at(t, i) as i64);
            (
                string_at(&ids, i).unwrap(),
                string_at(&paths, i).unwrap(),
                (float_at(&steps, i).unwrap(), time, value(&values, i)),
            )
        })
        .collect()
}

/// Floats as the spec compares them: every NaN is one value above all numbers, and -0.0 is 0.0.
fn canonical(x: f64) -> f64 {
    if x.is_nan() {
        f64::NAN
    } else if x == 0.0 {
        0.0
    } else {
        x
    }
}

fn eval(p: &Predicate, o: &Object) -> bool {
    match p {
        Predicate::And(items) => items.iter().all(|i| eval(i, o)),
        Predicate::Or(items) => items.iter().any(|i| eval(i, o)),
        Predicate::Not(inner) => !eval(inner, o),
        Predicate::Test(t) => test(t, o),
    }
}

/// The values a test reads: both numeric columns of a path, a series summary, or the one
/// attribute.
fn values(t: &Test, o: &Object) -> Vec<Value> {
    let path = t.target.path.clone();
    match t.target.ty {
        AttrType::Int | AttrType::Float => [AttrType::Int, AttrType::Float]
            .iter()
            .filter_map(|ty| o.attributes.get(&(path.clone(), *ty)).cloned())
            .collect(),
        AttrType::FloatSeries => o
            .floats
            .get(&path)
            .filter(|p| !p.is_empty())
            .map(|p| {
                vec![Value::Float(aggregate(
                    t.target.aggregate.unwrap_or(Aggregate::Last),
                    p,
                ))]
            })
            .unwrap_or_default(),
        AttrType::StringSeries => o
            .strings
            .get(&path)
            .and_then(|p| {
                p.iter()
                    .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)))
                    .map(|x| vec![Value::Str(x.2.clone())])
            })
            .unwrap_or_default(),
        ty => o.attributes.get(&(path, ty)).cloned().into_iter().collect(),
    }
}

/// A float series aggregate, by the definitions in spec 2.
fn aggregate(agg: Aggregate, points: &[Point<f64>]) -> f64 {
    let values: Vec<f64> = points.iter().map(|p| canonical(p.2)).collect();
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    canonical(match agg {
        Aggregate::Average => mean,
        Aggregate::Max => values.iter().copied().max_by(|a, b| a.total_cmp(b)).unwrap(),
        Aggregate::Min => values.iter().copied().min_by(|a, b| a.total_cmp(b)).unwrap(),
        Aggregate::Variance => values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n,
        Aggregate::Last => {
            points
                .iter()
                .max_by(|a, b| {
                    a.0.total_cmp(&b.0)
                        .then(a.1.cmp(&b.1))
                        .then(canonical(a.2).total_cmp(&canonical(b.2)))
                })
                .unwrap()
                .2
        }
    })
}

fn test(t: &Test, o: &Object) -> bool {
    if !t.target.known {
        return false;
    }
    values(t, o).iter().any(|v| holds(&t.condition, v))
}

fn holds(condition: &Condition, v: &Value) -> bool {
    match condition {
        Condition::Exists => true,
        Condition::Contains(s) => match v {
            Value::Str(x) => x.contains(s.as_str()),
            Value::List(items) => items.iter().any(|i| i == s),
            _ => false,
        },
        Condition::Matches(p) => match v {
            Value::Str(x) => regex::Regex::new(p).unwrap().is_match(x),
            _ => false,
        },
        Condition::Compare(op, literal) => compare(v, literal).is_some_and(|ord| op_holds(*op, ord)),
    }
}

fn op_holds(op: Comparison, ord: Ordering) -> bool {
    match op {
        Comparison::Eq => ord == Ordering::Equal,
        Comparison::Lt => ord == Ordering::Less,
        Comparison::Le => ord != Ordering::Greater,
        Comparison::Gt => ord == Ordering::Greater,
        Comparison::Ge => ord != Ordering::Less,
    }
}

/// How the value compares with the literal, in the attribute type's order.
fn compare(v: &Value, literal: &Literal) -> Option<Ordering> {
    Some(match (v, literal) {
        (Value::Int(i), Literal::Number(Number::Int(n))) => i.cmp(n),
        // Test data keeps integers small, so converting to f64 is exact; NaN is above all.
        (Value::Int(i), Literal::Number(Number::Float(x))) => (*i as f64).total_cmp(&canonical(*x)),
        (Value::Float(f), Literal::Number(n)) => canonical(*f).total_cmp(&canonical(n.as_f64())),
        (Value::Bool(b), Literal::Bool(l)) => b.cmp(l),
        (Value::Str(s), Literal::String(l)) => s.as_bytes().cmp(l.as_bytes()),
        (Value::Str(s), Literal::State(st)) => s.as_str().cmp(st.name()),
        (Value::Time(t), Literal::Datetime(d)) => {
            t.cmp(&(d.timestamp() as i128 * 1_000_000_000 + d.timestamp_subsec_nanos() as i128))
        }
        _ => return None,
    })
}
