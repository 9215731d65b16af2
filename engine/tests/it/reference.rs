//! A row-at-a-time reference evaluator: reads the raw project (object rows and series points,
//! not the engine's normalized tables or summaries) and decides each object with the spec's
//! rules written as plainly as possible. The differential test checks the engine against it.
//!
//! Each column is converted to one plain type once (not cell by cell), and a query's names
//! are looked up once before its objects are decided one by one (a regular expression is
//! compiled once), so that projects of 100,000 runs are checked in the dev profile too.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Float64Type, Int64Type, TimeUnit};
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
    /// A string set; `None` is a null element, which equals no value.
    List(Vec<Option<String>>),
}

/// A series point: step, timestamp (ns, `i64::MIN` when absent), value.
type Point<V> = (f64, i64, V);

#[derive(Debug, Default)]
struct Object {
    id: String,
    /// By attribute slot ([`Reference::attributes`]); `None` where the object lacks it.
    attributes: Vec<Option<Value>>,
    /// By float series slot; empty where the object has no points.
    floats: Vec<Vec<Point<f64>>>,
    /// By string series slot.
    strings: Vec<Vec<Point<String>>>,
}

/// The objects of one table, read from raw batches.
#[derive(Debug)]
pub struct Reference {
    objects: Vec<Object>,
    /// The slot of each attribute (path, type) in [`Object::attributes`].
    attributes: HashMap<(String, AttrType), usize>,
    float_series: HashMap<String, usize>,
    string_series: HashMap<String, usize>,
    /// The position of each object by `sys/id`.
    ids: HashMap<String, usize>,
}

impl Reference {
    /// Reads the runs of `project`, with their series.
    pub fn runs(project: &ProjectBatches) -> Reference {
        let mut reference = Reference {
            objects: Vec::new(),
            attributes: HashMap::new(),
            float_series: HashMap::new(),
            string_series: HashMap::new(),
            ids: HashMap::new(),
        };
        for batch in &project.runs {
            reference.read_objects(batch);
        }
        reference.ids = reference
            .objects
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id.clone(), i))
            .collect();
        for batch in &project.float_series {
            for (id, path, point) in points(
                batch,
                |a| cast(a, &DataType::Float64).unwrap(),
                |a, i| a.as_primitive::<Float64Type>().value(i),
            ) {
                reference.add_point(&id, &path, point, |r| &mut r.float_series, |o| &mut o.floats);
            }
        }
        for batch in &project.string_series {
            for (id, path, point) in points(
                batch,
                |a| cast(a, &DataType::Utf8).unwrap(),
                |a, i| a.as_string::<i32>().value(i).to_string(),
            ) {
                reference.add_point(&id, &path, point, |r| &mut r.string_series, |o| &mut o.strings);
            }
        }
        reference
    }

    fn add_point<V>(
        &mut self,
        id: &str,
        path: &str,
        point: Point<Option<V>>,
        slots: impl Fn(&mut Reference) -> &mut HashMap<String, usize>,
        series: impl Fn(&mut Object) -> &mut Vec<Vec<Point<V>>>,
    ) {
        let (Some(&o), (step, time, Some(v))) = (self.ids.get(id), point) else {
            return;
        };
        let slots = slots(self);
        let next = slots.len();
        let slot = *slots.entry(path.to_string()).or_insert(next);
        let points = series(&mut self.objects[o]);
        if points.len() <= slot {
            points.resize_with(slot + 1, Vec::new);
        }
        points[slot].push((step, time, v));
    }

    /// The points of an object's series, if it has any.
    fn float_points(&self, id: &str, path: &str) -> Option<&[Point<f64>]> {
        let o = &self.objects[*self.ids.get(id)?];
        let slot = *self.float_series.get(path)?;
        o.floats.get(slot).filter(|p| !p.is_empty()).map(|p| p.as_slice())
    }

    /// A float series aggregate of an object, computed from its raw points.
    pub fn aggregate(&self, id: &str, path: &str, agg: Aggregate) -> Option<f64> {
        self.float_points(id, path).map(|p| aggregate(agg, p))
    }

    /// The last entry of an object's string series.
    pub fn last_entry(&self, id: &str, path: &str) -> Option<String> {
        let o = &self.objects[*self.ids.get(id)?];
        last_string(o.strings.get(*self.string_series.get(path)?)?)
    }

    /// The sorted ids of the objects `predicate` accepts (`None`: all), leaving out trashed
    /// objects unless `include_trashed`.
    pub fn matching(&self, predicate: Option<&Predicate>, include_trashed: bool) -> Vec<String> {
        let mut ids: Vec<String> = self
            .mask(predicate, include_trashed)
            .into_iter()
            .zip(&self.objects)
            .filter(|(m, _)| *m)
            .map(|(_, o)| o.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Whether each object, in the order of the project's rows, is one of
    /// [`Reference::matching`].
    pub fn mask(&self, predicate: Option<&Predicate>, include_trashed: bool) -> Vec<bool> {
        let trashed = self.attributes.get(&("sys/trashed".into(), AttrType::Bool));
        let node = predicate.map(|p| self.resolve(p));
        self.objects
            .iter()
            .map(|o| {
                (include_trashed
                    || !matches!(
                        trashed.and_then(|&s| o.attributes[s].as_ref()),
                        Some(Value::Bool(true))
                    ))
                    && node.as_ref().is_none_or(|n| eval(n, o))
            })
            .collect()
    }

    /// A description of the values `predicate` reads on the object `id`, for failure messages.
    pub fn describe(&self, id: &str, predicate: Option<&Predicate>) -> String {
        let Some(&o) = self.ids.get(id) else {
            return format!("{id}: no such object");
        };
        let o = &self.objects[o];
        let mut tests = Vec::new();
        if let Some(p) = predicate {
            collect_tests(p, &mut tests);
        }
        let mut out = format!("{id}:");
        for t in tests {
            let reads = self.reads(t);
            let shown: Vec<String> = match &reads {
                Reads::Series(slot, _) => o
                    .floats
                    .get(*slot)
                    .map(|p| p.iter().map(|x| format!("{x:?}")).collect())
                    .unwrap_or_default(),
                Reads::Strings(slot) => o
                    .strings
                    .get(*slot)
                    .map(|p| p.iter().map(|x| format!("{x:?}")).collect())
                    .unwrap_or_default(),
                _ => values(&reads, o).iter().map(|v| format!("{v:?}")).collect(),
            };
            out.push_str(&format!(
                " {}:{}{} = [{}];",
                t.target.path,
                t.target.ty,
                t.target.aggregate.map(|a| format!(" ({a})")).unwrap_or_default(),
                shown.join(", ")
            ));
        }
        out
    }

    fn read_objects(&mut self, batch: &RecordBatch) {
        let start = self.objects.len();
        self.objects
            .extend((0..batch.num_rows()).map(|_| Object::default()));
        for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
            let (path, suffix) = split_column_name(field.name());
            let ty = suffix
                .or_else(|| natural_type(array.data_type()))
                .expect("test data uses supported types");
            let next = self.attributes.len();
            let slot = *self.attributes.entry((path.to_string(), ty)).or_insert(next);
            let column = Column::new(ty, array);
            for row in 0..batch.num_rows() {
                let Some(value) = column.value_at(row) else {
                    continue;
                };
                let object = &mut self.objects[start + row];
                if path == "sys/id"
                    && let Value::Str(s) = &value
                {
                    object.id = s.clone();
                }
                if object.attributes.len() <= slot {
                    object.attributes.resize(slot + 1, None);
                }
                object.attributes[slot] = Some(value);
            }
        }
    }

    /// What a test reads, by slot: both numeric attributes of a path, a series, or the one
    /// attribute; nothing for an attribute no object has.
    fn reads(&self, t: &Test) -> Reads {
        let slot = |ty: AttrType| self.attributes.get(&(t.target.path.clone(), ty)).copied();
        match t.target.ty {
            AttrType::Int | AttrType::Float => Reads::Attributes(
                [AttrType::Int, AttrType::Float]
                    .into_iter()
                    .filter_map(slot)
                    .collect(),
            ),
            AttrType::FloatSeries => match self.float_series.get(&t.target.path) {
                Some(&s) => Reads::Series(s, t.target.aggregate.unwrap_or(Aggregate::Last)),
                None => Reads::Attributes(Vec::new()),
            },
            AttrType::StringSeries => match self.string_series.get(&t.target.path) {
                Some(&s) => Reads::Strings(s),
                None => Reads::Attributes(Vec::new()),
            },
            ty => Reads::Attributes(slot(ty).into_iter().collect()),
        }
    }

    /// `p` with its names looked up and its patterns compiled.
    fn resolve(&self, p: &Predicate) -> Node {
        match p {
            Predicate::And(items) => Node::And(items.iter().map(|i| self.resolve(i)).collect()),
            Predicate::Or(items) => Node::Or(items.iter().map(|i| self.resolve(i)).collect()),
            Predicate::Not(inner) => Node::Not(Box::new(self.resolve(inner))),
            Predicate::Test(t) if !t.target.known => Node::False,
            Predicate::Test(t) => Node::Test {
                reads: self.reads(t),
                condition: match &t.condition {
                    Condition::Exists => Check::Exists,
                    Condition::Contains(s) => Check::Contains(s.clone()),
                    Condition::Matches(p) => Check::Matches(regex::Regex::new(p).unwrap()),
                    Condition::Compare(op, literal) => Check::Compare(*op, literal.clone()),
                },
            },
        }
    }
}

fn collect_tests<'p>(p: &'p Predicate, out: &mut Vec<&'p Test>) {
    match p {
        Predicate::And(items) | Predicate::Or(items) => items.iter().for_each(|i| collect_tests(i, out)),
        Predicate::Not(inner) => collect_tests(inner, out),
        Predicate::Test(t) => out.push(t),
    }
}

/// A predicate with its names resolved to slots.
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// A test of an attribute the table does not have.
    False,
    Test {
        reads: Reads,
        condition: Check,
    },
}

enum Reads {
    Attributes(Vec<usize>),
    Series(usize, Aggregate),
    Strings(usize),
}

/// A test's condition, with a compiled pattern.
enum Check {
    Exists,
    Compare(Comparison, Literal),
    Contains(String),
    Matches(regex::Regex),
}

/// A column converted once to the plain type the reference reads it as.
enum Column {
    Int(ArrayRef),
    Float(ArrayRef),
    Bool(ArrayRef),
    /// Raw values in units of the given nanoseconds.
    Time(ArrayRef, i128),
    Date(ArrayRef),
    Set(ArrayRef),
    State(ArrayRef),
    Str(ArrayRef),
}

impl Column {
    fn new(ty: AttrType, array: &ArrayRef) -> Column {
        match ty {
            AttrType::Int => Column::Int(cast(array, &DataType::Int64).unwrap()),
            AttrType::Float => Column::Float(cast(array, &DataType::Float64).unwrap()),
            AttrType::Bool => Column::Bool(array.clone()),
            AttrType::Datetime => {
                let per = match array.data_type() {
                    DataType::Timestamp(TimeUnit::Second, _) => 1_000_000_000,
                    DataType::Timestamp(TimeUnit::Millisecond, _) => 1_000_000,
                    DataType::Timestamp(TimeUnit::Microsecond, _) => 1_000,
                    DataType::Timestamp(TimeUnit::Nanosecond, _) => 1,
                    DataType::Date32 => return Column::Date(array.clone()),
                    DataType::Date64 => 1_000_000,
                    other => panic!("not a datetime: {other}"),
                };
                Column::Time(cast(array, &DataType::Int64).unwrap(), per)
            }
            AttrType::StringSet => Column::Set(
                cast(
                    array,
                    &DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
                )
                .unwrap(),
            ),
            AttrType::ExperimentState => Column::State(cast(array, &DataType::Utf8).unwrap()),
            _ => Column::Str(cast(array, &DataType::Utf8).unwrap()),
        }
    }

    fn value_at(&self, row: usize) -> Option<Value> {
        let (Column::Int(a)
        | Column::Float(a)
        | Column::Bool(a)
        | Column::Time(a, _)
        | Column::Date(a)
        | Column::Set(a)
        | Column::State(a)
        | Column::Str(a)) = self;
        if a.is_null(row) {
            return None;
        }
        Some(match self {
            Column::Int(a) => Value::Int(a.as_primitive::<Int64Type>().value(row)),
            Column::Float(a) => Value::Float(a.as_primitive::<Float64Type>().value(row)),
            Column::Bool(a) => Value::Bool(a.as_boolean().value(row)),
            Column::Time(a, per) => Value::Time(a.as_primitive::<Int64Type>().value(row) as i128 * per),
            Column::Date(a) => {
                Value::Time(a.as_primitive::<Date32Type>().value(row) as i128 * 86_400_000_000_000)
            }
            Column::Set(a) => {
                let items = a.as_list::<i32>().value(row);
                Value::List(
                    items
                        .as_string::<i32>()
                        .iter()
                        .map(|s| s.map(str::to_string))
                        .collect(),
                )
            }
            Column::State(a) => {
                let s = a.as_string::<i32>().value(row).to_string();
                Value::Str(ExperimentState::parse(&s).map_or(s, |st| st.name().to_string()))
            }
            Column::Str(a) => Value::Str(a.as_string::<i32>().value(row).to_string()),
        })
    }
}

/// Every point of a series batch as (id, path, (step, timestamp, value)); `convert` casts the
/// value column once, `value` reads one of its cells.
fn points<V>(
    batch: &RecordBatch,
    convert: impl Fn(&ArrayRef) -> ArrayRef,
    value: impl Fn(&ArrayRef, usize) -> V,
) -> Vec<(String, String, Point<Option<V>>)> {
    let column = |n: &str| batch.column_by_name(n).unwrap().clone();
    let utf8 = |n: &str| cast(&column(n), &DataType::Utf8).unwrap();
    let (ids, paths) = (utf8("sys/id"), utf8("path"));
    let (ids, paths) = (ids.as_string::<i32>(), paths.as_string::<i32>());
    let steps = cast(&column("step"), &DataType::Float64).unwrap();
    let steps = steps.as_primitive::<Float64Type>();
    let values = convert(&column("value"));
    let times = batch
        .column_by_name("timestamp")
        .map(|t| Column::new(AttrType::Datetime, t));
    (0..batch.num_rows())
        .map(|i| {
            let time = match times.as_ref().and_then(|t| t.value_at(i)) {
                Some(Value::Time(t)) => t as i64,
                _ => i64::MIN,
            };
            (
                ids.value(i).to_string(),
                paths.value(i).to_string(),
                (
                    steps.value(i),
                    time,
                    (!values.is_null(i)).then(|| value(&values, i)),
                ),
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

fn eval(n: &Node, o: &Object) -> bool {
    match n {
        Node::And(items) => items.iter().all(|i| eval(i, o)),
        Node::Or(items) => items.iter().any(|i| eval(i, o)),
        Node::Not(inner) => !eval(inner, o),
        Node::False => false,
        Node::Test { reads, condition } => match reads {
            Reads::Attributes(slots) => slots
                .iter()
                .filter_map(|&s| o.attributes.get(s)?.as_ref())
                .any(|v| holds(condition, v)),
            _ => values(reads, o).iter().any(|v| holds(condition, v)),
        },
    }
}

/// The values a test reads: both numeric attributes of a path, a series summary, or the one
/// attribute.
fn values(reads: &Reads, o: &Object) -> Vec<Value> {
    match reads {
        Reads::Attributes(slots) => slots
            .iter()
            .filter_map(|&s| o.attributes.get(s)?.clone())
            .collect(),
        Reads::Series(slot, agg) => o
            .floats
            .get(*slot)
            .filter(|p| !p.is_empty())
            .map(|p| vec![Value::Float(aggregate(*agg, p))])
            .unwrap_or_default(),
        Reads::Strings(slot) => o
            .strings
            .get(*slot)
            .and_then(|p| last_string(p))
            .map(|s| vec![Value::Str(s)])
            .unwrap_or_default(),
    }
}

/// The last entry of a string series: greatest step, then timestamp, then value.
fn last_string(points: &[Point<String>]) -> Option<String> {
    points
        .iter()
        .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)))
        .map(|x| x.2.clone())
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

fn holds(condition: &Check, v: &Value) -> bool {
    match condition {
        Check::Exists => true,
        Check::Contains(s) => match v {
            Value::Str(x) => x.contains(s.as_str()),
            // A null element equals no value, not even "".
            Value::List(items) => items.iter().any(|i| i.as_deref() == Some(s.as_str())),
            _ => false,
        },
        Check::Matches(re) => match v {
            Value::Str(x) => re.is_match(x),
            _ => false,
        },
        Check::Compare(op, literal) => compare(v, literal).is_some_and(|ord| op_holds(*op, ord)),
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
