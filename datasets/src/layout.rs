//! The project dataset layout on disk (docs/dataset.md): which files hold which tables, how
//! column names carry `path:type` suffixes, and which Arrow types hold which NQL types.

use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::DataType;
use nql::AttrType;

/// A table of objects: one row per object, one column per attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    Runs,
    Models,
    ModelVersions,
    /// Neptune 3.x experiments (the head run of each, with the lineage's series); only a
    /// Neptune export has them.
    Experiments,
}

impl ObjectKind {
    /// Every kind, runs first.
    pub const ALL: [ObjectKind; 4] = [
        ObjectKind::Runs,
        ObjectKind::Models,
        ObjectKind::ModelVersions,
        ObjectKind::Experiments,
    ];

    /// The kinds of the native layout (docs/dataset.md), runs first.
    pub const NATIVE: [ObjectKind; 3] = [ObjectKind::Runs, ObjectKind::Models, ObjectKind::ModelVersions];

    /// The table's name, which is also its file stem (`runs.parquet` or `runs/`).
    pub fn table_name(self) -> &'static str {
        match self {
            ObjectKind::Runs => "runs",
            ObjectKind::Models => "models",
            ObjectKind::ModelVersions => "model_versions",
            ObjectKind::Experiments => "experiments",
        }
    }

    /// Reads a table name (`runs`, `models`, `model_versions`).
    pub fn from_table_name(name: &str) -> Option<ObjectKind> {
        ObjectKind::ALL.into_iter().find(|k| k.table_name() == name)
    }
}

/// A long table of series points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeriesKind {
    Float,
    String,
}

impl SeriesKind {
    /// The table's name and file stem.
    pub fn table_name(self) -> &'static str {
        match self {
            SeriesKind::Float => "float_series",
            SeriesKind::String => "string_series",
        }
    }

    /// The attribute type of the series this table holds.
    pub fn attr_type(self) -> AttrType {
        match self {
            SeriesKind::Float => AttrType::FloatSeries,
            SeriesKind::String => AttrType::StringSeries,
        }
    }
}

/// The column that names an object in every table.
pub const ID_COLUMN: &str = "sys/id";
/// In model versions: the `sys/id` of the model.
pub const MODEL_ID_COLUMN: &str = "sys/model_id";
/// Series tables: the attribute path of the point.
pub const PATH_COLUMN: &str = "path";
/// Series tables: the point's step.
pub const STEP_COLUMN: &str = "step";
/// Series tables: the point's value.
pub const VALUE_COLUMN: &str = "value";
/// Series tables (optional): when the point was logged.
pub const TIMESTAMP_COLUMN: &str = "timestamp";

/// The Parquet files of a table in `project`: `NAME.parquet`, or every `*.parquet` in `NAME/`
/// (sorted by name). `Ok(None)` when neither exists.
pub fn table_files(project: &Path, table: &str) -> std::io::Result<Option<Vec<PathBuf>>> {
    let file = project.join(format!("{table}.parquet"));
    let dir = project.join(table);
    if file.is_file() {
        return Ok(Some(vec![file]));
    }
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(Some(files))
}

/// Splits a column name into the attribute path and the type suffix, if it has one: a name
/// whose text after its last `:` is an NQL type name carries a suffix (`params/lr:string`);
/// any other name is all path (`a:b`).
pub fn split_column_name(name: &str) -> (&str, Option<AttrType>) {
    if let Some((path, suffix)) = name.rsplit_once(':')
        && let Some(ty) = AttrType::from_name(suffix)
    {
        return (path, Some(ty));
    }
    (name, None)
}

/// The column name for `path:ty` in a dataset: the bare path when `ty` is what the Arrow type
/// says anyway and the path does not itself look suffixed, `path:type` otherwise.
pub fn column_name(path: &str, ty: AttrType, natural: Option<AttrType>) -> String {
    if natural == Some(ty) && split_column_name(path).1.is_none() {
        path.to_string()
    } else {
        format!("{path}:{ty}")
    }
}

/// The NQL type an Arrow type holds when a column has no suffix (the dataset spec's table).
pub fn natural_type(data_type: &DataType) -> Option<AttrType> {
    use DataType::*;
    Some(match data_type {
        Utf8 | LargeUtf8 | Utf8View => AttrType::String,
        Dictionary(_, value) if matches!(**value, Utf8 | LargeUtf8 | Utf8View) => AttrType::String,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 => AttrType::Int,
        Float16 | Float32 | Float64 => AttrType::Float,
        Boolean => AttrType::Bool,
        Timestamp(_, _) | Date32 | Date64 => AttrType::Datetime,
        List(f) | LargeList(f) if matches!(f.data_type(), Utf8 | LargeUtf8 | Utf8View) => AttrType::StringSet,
        _ => return None,
    })
}

/// Whether a column of `data_type` may carry the suffix `ty`. Types that Arrow cannot tell
/// from a string (`experimentState`, `artifact`, `fileRef`) need a string column; `:float`
/// also fits an integer column; series of files and histograms only record presence, so any
/// type fits them. float and string series live in the series tables, never in a column.
pub fn suffix_fits(ty: AttrType, data_type: &DataType) -> bool {
    let natural = natural_type(data_type);
    match ty {
        AttrType::String | AttrType::ExperimentState | AttrType::Artifact | AttrType::FileRef => {
            natural == Some(AttrType::String)
        }
        AttrType::Float => matches!(natural, Some(AttrType::Float | AttrType::Int)),
        AttrType::FileRefSeries | AttrType::HistogramSeries => true,
        AttrType::FloatSeries | AttrType::StringSeries => false,
        ty => natural == Some(ty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Field;
    use std::sync::Arc;

    #[test]
    fn suffixes() {
        assert_eq!(
            split_column_name("params/lr:string"),
            ("params/lr", Some(AttrType::String))
        );
        assert_eq!(split_column_name("a:b"), ("a:b", None));
        assert_eq!(
            split_column_name("with space/and:colon:string"),
            ("with space/and:colon", Some(AttrType::String))
        );
        assert_eq!(
            split_column_name("Q1: score (%):float"),
            ("Q1: score (%)", Some(AttrType::Float))
        );
        assert_eq!(split_column_name("x:Float"), ("x:Float", None));
        assert_eq!(
            split_column_name("sys/state:experimentState"),
            ("sys/state", Some(AttrType::ExperimentState))
        );
        assert_eq!(split_column_name("n:integer"), ("n", Some(AttrType::Int)));
    }

    #[test]
    fn column_names_round_trip() {
        assert_eq!(column_name("f1", AttrType::Float, Some(AttrType::Float)), "f1");
        assert_eq!(column_name("lr", AttrType::String, Some(AttrType::String)), "lr");
        assert_eq!(
            column_name("a:int", AttrType::String, Some(AttrType::String)),
            "a:int:string"
        );
        assert_eq!(
            column_name("s", AttrType::ExperimentState, Some(AttrType::String)),
            "s:experimentState"
        );
        for (path, ty) in [
            ("a:int", AttrType::String),
            ("s", AttrType::Artifact),
            ("f1", AttrType::Float),
        ] {
            let name = column_name(path, ty, Some(AttrType::String));
            let (p, suffix) = split_column_name(&name);
            assert_eq!(p, path);
            assert_eq!(suffix.unwrap_or(AttrType::String), ty);
        }
    }

    #[test]
    fn arrow_types() {
        let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
        assert_eq!(natural_type(&list), Some(AttrType::StringSet));
        assert_eq!(natural_type(&DataType::UInt64), None);
        assert_eq!(natural_type(&DataType::Date32), Some(AttrType::Datetime));
        assert!(suffix_fits(AttrType::Artifact, &DataType::Utf8));
        assert!(!suffix_fits(AttrType::Int, &DataType::Utf8));
        assert!(suffix_fits(AttrType::Float, &DataType::Int32));
        assert!(!suffix_fits(AttrType::FloatSeries, &DataType::Float64));
    }
}
