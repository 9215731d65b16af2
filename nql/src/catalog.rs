//! What the analyzer and the planner need to know about a table of objects.

use std::collections::HashMap;

use datafusion::arrow::datatypes::DataType;

use crate::types::{Aggregate, AttrType};

/// An attribute (path and type) and how many objects in the table have it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeInfo {
    pub path: String,
    pub ty: AttrType,
    pub count: usize,
}

/// The column a planner reads for an attribute (or for a series aggregate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnInfo {
    /// The column's name in the table the plan scans (used with `ident`, never parsed).
    pub name: String,
    pub data_type: DataType,
}

/// The attributes of one table of objects (runs, models or model versions), and where the
/// planner finds their values. The analyzer and the planner see the data only through this
/// trait, so both can be tested without an engine.
pub trait Catalog {
    /// The attributes stored under `path`, one per type.
    fn attributes_at(&self, path: &str) -> Vec<AttributeInfo>;

    /// Every attribute of the table, for "did you mean" suggestions.
    fn attributes(&self) -> Vec<AttributeInfo>;

    /// The column holding `path:ty`. For `floatSeries` and `stringSeries`, `aggregate` names
    /// the per-object summary column (`last` for string series); otherwise it is `None`.
    fn column(&self, path: &str, ty: AttrType, aggregate: Option<Aggregate>) -> Option<ColumnInfo>;
}

/// A [`Catalog`] held in maps: what the engine builds for each table, and what tests use.
#[derive(Clone, Debug, Default)]
pub struct TableCatalog {
    attributes: Vec<AttributeInfo>,
    by_path: HashMap<String, Vec<usize>>,
    columns: HashMap<(String, AttrType, Option<Aggregate>), ColumnInfo>,
}

impl TableCatalog {
    /// An empty catalog.
    pub fn new() -> Self {
        TableCatalog::default()
    }

    /// Records that `count` objects have `path:ty`, stored in `column`. For series, pass the
    /// `last` column here and the other aggregates with [`TableCatalog::add_aggregate`].
    pub fn add_attribute(&mut self, path: &str, ty: AttrType, count: usize, column: ColumnInfo) {
        let index = self.attributes.len();
        self.attributes.push(AttributeInfo {
            path: path.to_string(),
            ty,
            count,
        });
        self.by_path.entry(path.to_string()).or_default().push(index);
        let aggregate =
            matches!(ty, AttrType::FloatSeries | AttrType::StringSeries).then_some(Aggregate::Last);
        self.columns.insert((path.to_string(), ty, aggregate), column);
    }

    /// Records the column holding `aggregate` of the float series at `path`.
    pub fn add_aggregate(&mut self, path: &str, aggregate: Aggregate, column: ColumnInfo) {
        self.columns
            .insert((path.to_string(), AttrType::FloatSeries, Some(aggregate)), column);
    }
}

impl Catalog for TableCatalog {
    fn attributes_at(&self, path: &str) -> Vec<AttributeInfo> {
        self.by_path
            .get(path)
            .map(|ix| ix.iter().map(|&i| self.attributes[i].clone()).collect())
            .unwrap_or_default()
    }

    fn attributes(&self) -> Vec<AttributeInfo> {
        self.attributes.clone()
    }

    fn column(&self, path: &str, ty: AttrType, aggregate: Option<Aggregate>) -> Option<ColumnInfo> {
        self.columns.get(&(path.to_string(), ty, aggregate)).cloned()
    }
}
