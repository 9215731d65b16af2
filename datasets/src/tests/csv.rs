use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::DataType;
use nql::AttrType;

use super::*;
use crate::ProjectBatches;
use crate::import::csv::{
    CsvError, CsvOptions, RawTable, import_runs, infer_type, read_objects, read_series,
};
use crate::layout::{natural_type, split_column_name};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn objects(text: &str) -> Result<RecordBatch, CsvError> {
    RawTable::from_reader(text.as_bytes(), "runs.csv", &CsvOptions::default())?
        .to_objects(&CsvOptions::default())
}

fn series(text: &str, ids: Option<&[&str]>) -> Result<crate::import::csv::SeriesBatches, CsvError> {
    let ids: Option<Vec<String>> = ids.map(|ids| ids.iter().map(|s| s.to_string()).collect());
    RawTable::from_reader(text.as_bytes(), "series.csv", &CsvOptions::default())?.to_series(ids.as_deref())
}

/// (path, type) of every column after `sys/id`.
fn types(batch: &RecordBatch) -> Vec<(String, AttrType)> {
    batch.schema().fields()[1..]
        .iter()
        .map(|f| {
            let (path, suffix) = split_column_name(f.name());
            (
                path.to_string(),
                suffix.or_else(|| natural_type(f.data_type())).unwrap(),
            )
        })
        .collect()
}

const RUNS: &str = "\
sys/id,sys/name,sys/tags,sys/creation_time,sys/failed,sys/state,sys/size,params/lr,params/lr:string,epochs,ok,when,note,labels:stringSet,dataset_version:artifact,n:float,big
R-1,first,baseline|my tag| v2 ,2024-01-01T10:00:00Z,false,Idle,123,0.001,,10,true,2024-03-01,hello,a|b|a,abc123,1,1e3
R-2,second,,2024-01-02 11:30:00,True,running,456,,3e-4,20,FALSE,2024-03-02T12:00:00+09,\"quoted, with comma\",,,2.5,nan
R-3,,exploration,2024-01-03,false,inactive,,0.01,,,,,,||,,,inf
";

#[test]
fn objects_csv_types_from_suffixes_well_known_names_and_values() {
    let b = objects(RUNS).unwrap();
    assert_eq!(b.num_rows(), 3);
    let expected = [
        ("sys/name", AttrType::String),
        ("sys/tags", AttrType::StringSet),
        ("sys/creation_time", AttrType::Datetime),
        ("sys/failed", AttrType::Bool),
        ("sys/state", AttrType::ExperimentState),
        ("sys/size", AttrType::Int),
        ("params/lr", AttrType::Float),
        ("params/lr", AttrType::String),
        ("epochs", AttrType::Int),
        ("ok", AttrType::Bool),
        ("when", AttrType::Datetime),
        ("note", AttrType::String),
        ("labels", AttrType::StringSet),
        ("dataset_version", AttrType::Artifact),
        ("n", AttrType::Float),
        ("big", AttrType::Float),
    ];
    let got = types(&b);
    assert_eq!(
        got,
        expected
            .iter()
            .map(|(p, t)| (p.to_string(), *t))
            .collect::<Vec<_>>()
    );
    assert_eq!(b.schema().field(5).name(), "sys/state:experimentState");
    assert_eq!(
        strings(&b, "sys/id"),
        [Some("R-1".into()), Some("R-2".into()), Some("R-3".into())]
    );
    assert_eq!(strings(&b, "sys/name")[2], None, "empty cell: no attribute");
    assert_eq!(
        sets(&b, "sys/tags"),
        [
            Some(vec!["baseline".into(), "my tag".into(), "v2".into()]),
            None,
            Some(vec!["exploration".into()])
        ]
    );
    assert_eq!(
        sets(&b, "labels:stringSet")[0],
        Some(vec!["a".into(), "b".into()])
    );
    assert_eq!(
        sets(&b, "labels:stringSet")[2],
        Some(vec![]),
        "only separators: an empty set"
    );
    assert_eq!(
        times(&b, "sys/creation_time"),
        [
            Some(micros("2024-01-01T10:00:00Z")),
            Some(micros("2024-01-02T11:30:00Z")),
            Some(micros("2024-01-03T00:00:00Z"))
        ]
    );
    assert_eq!(times(&b, "when")[1], Some(micros("2024-03-02T12:00:00+09:00")));
    assert_eq!(bools(&b, "sys/failed"), [Some(false), Some(true), Some(false)]);
    assert_eq!(bools(&b, "ok"), [Some(true), Some(false), None]);
    assert_eq!(
        strings(&b, "sys/state:experimentState"),
        [
            Some("inactive".into()),
            Some("active".into()),
            Some("inactive".into())
        ]
    );
    assert_eq!(ints(&b, "sys/size"), [Some(123), Some(456), None]);
    assert_eq!(floats(&b, "params/lr"), [Some(0.001), None, Some(0.01)]);
    assert_eq!(strings(&b, "params/lr:string")[1].as_deref(), Some("3e-4"));
    assert_eq!(strings(&b, "note")[1].as_deref(), Some("quoted, with comma"));
    assert_eq!(
        floats(&b, "n:float"),
        [Some(1.0), Some(2.5), None],
        ":float on integers gives floats"
    );
    assert_eq!(
        b.column_by_name("n:float").unwrap().data_type(),
        &DataType::Float64
    );
    let big = floats(&b, "big");
    assert!(big[1].unwrap().is_nan() && big[2] == Some(f64::INFINITY));
}

#[test]
fn inference_rules() {
    assert_eq!(infer_type(["1", " 2 ", ""]), AttrType::Int);
    assert_eq!(infer_type(["1", "2.5"]), AttrType::Float);
    assert_eq!(
        infer_type(["nan", "inf"]),
        AttrType::String,
        "no finite number: not a float column"
    );
    assert_eq!(infer_type(["True", "false"]), AttrType::Bool);
    assert_eq!(infer_type(["1", "0"]), AttrType::Int);
    assert_eq!(
        infer_type(["2024-01-01", "2024-01-01T00:00:00Z"]),
        AttrType::Datetime
    );
    assert_eq!(infer_type(["2024-01-01", "soon"]), AttrType::String);
    assert_eq!(infer_type(["", ""]), AttrType::String);
    assert_eq!(infer_type(["1", "x"]), AttrType::String);
}

#[test]
fn run_id_is_an_alias_and_separators_are_options() {
    let options = CsvOptions {
        delimiter: b';',
        set_separator: ',',
    };
    let raw = RawTable::from_reader("run_id;tags:stringSet\nA;x,y\n".as_bytes(), "a.csv", &options).unwrap();
    let b = raw.to_objects(&options).unwrap();
    assert_eq!(b.schema().field(0).name(), "sys/id");
    assert_eq!(sets(&b, "tags:stringSet")[0], Some(vec!["x".into(), "y".into()]));
}

#[test]
fn series_csv_float_and_string_paths() {
    let text = "\
run_id,metric_path,step,value,timestamp
B,loss,1,0.5,2024-01-01T00:00:01Z
A,loss,2,0.25,
A,loss,1,0.5,1704067200
A,logs/stdout,0,starting,
A,logs/stdout,1,,
A,code:stringSeries,0,42,
A,acc,0,nan,
";
    let s = series(text, Some(&["A", "B"])).unwrap();
    let f = s.float.unwrap();
    assert_eq!(f.num_columns(), 5);
    assert_eq!(
        strings(&f, "sys/id"),
        ["A", "A", "A", "B"].map(|x| Some(x.to_string()))
    );
    assert_eq!(
        strings(&f, "path"),
        ["acc", "loss", "loss", "loss"].map(|x| Some(x.to_string()))
    );
    assert_eq!(floats(&f, "step"), [Some(0.0), Some(1.0), Some(2.0), Some(1.0)]);
    assert_eq!(
        times(&f, "timestamp"),
        [
            None,
            Some(micros("2024-01-01T00:00:00Z")),
            None,
            Some(micros("2024-01-01T00:00:01Z"))
        ]
    );
    let st = s.string.unwrap();
    assert_eq!(
        strings(&st, "path"),
        ["code", "logs/stdout", "logs/stdout"].map(|x| Some(x.to_string()))
    );
    assert_eq!(
        strings(&st, "value"),
        ["42", "starting", ""].map(|x| Some(x.to_string()))
    );
    assert_eq!(st.column_by_name("value").unwrap().data_type(), &DataType::Utf8);

    // Without a step column, steps count per object and path.
    let s = series("sys/id,path,value\nA,x,1\nA,y,5\nA,x,2\n", None)
        .unwrap()
        .float
        .unwrap();
    assert_eq!(floats(&s, "step"), [Some(0.0), Some(1.0), Some(0.0)]);
    assert_eq!(floats(&s, "value"), [Some(1.0), Some(2.0), Some(5.0)]);
    assert_eq!(s.num_columns(), 4, "no timestamp column");
}

#[test]
fn import_and_write_a_project() {
    let dir = tempfile::tempdir().unwrap();
    let runs = write(dir.path(), "runs.csv", RUNS);
    let s1 = write(
        dir.path(),
        "s1.csv",
        "sys/id,path,step,value\nR-1,acc,0,0.5\nR-2,log,0,hi\n",
    );
    let s2 = write(
        dir.path(),
        "s2.csv",
        "sys/id,path,step,value,timestamp\nR-3,acc,0,0.7,2024-01-01\n",
    );
    let p = import_runs(&runs, [&s1, &s2], &CsvOptions::default()).unwrap();
    assert_eq!(p.num_rows("runs"), 3);
    assert_eq!(p.num_rows("float_series"), 2);
    assert_eq!(p.num_rows("string_series"), 1);
    let out = dir.path().join("project");
    p.write_dir(&out).unwrap();
    let back = ProjectBatches::read_dir(&out).unwrap();
    for table in crate::TABLE_NAMES {
        assert_eq!(back.num_rows(table), p.num_rows(table), "{table}");
    }
    assert_eq!(concat(&back.runs), concat(&p.runs));
    assert!(
        !out.join("models.parquet").exists(),
        "absent tables are not written"
    );
    assert!(read_objects(&runs, &CsvOptions::default()).is_ok());
    assert!(read_series(&s1, &CsvOptions::default()).is_ok());
}

/// The error of a bad file, and its message, which must name the file and the line.
fn bad_objects(text: &str) -> (CsvError, String) {
    let e = objects(text).unwrap_err();
    let msg = e.to_string();
    (e, msg)
}

#[test]
fn bad_object_rows() {
    let (e, msg) = bad_objects("sys/id,a\nA,1\nB,1,2\n");
    assert!(
        matches!(
            e,
            CsvError::RowLength {
                line: 3,
                expected: 2,
                found: 3,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(msg, "runs.csv:3: 3 fields, but the header has 2");

    let (e, msg) = bad_objects("sys/id,a\nA,1\nB,2\nA,3\n");
    assert!(
        matches!(
            e,
            CsvError::DuplicateId {
                line: 4,
                first_line: 2,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(msg, "runs.csv:4: duplicate id `A` (first on line 2)");

    let (e, msg) = bad_objects("sys/id,a\nA,1\n ,2\n");
    assert!(matches!(e, CsvError::MissingValue { line: 3, .. }), "{e:?}");
    assert_eq!(msg, "runs.csv:3: column `sys/id`: empty, but a value is required");

    let (e, msg) = bad_objects("sys/id,epochs:int\nA,1\nB,1.5\n");
    assert!(matches!(e, CsvError::BadValue { line: 3, .. }), "{e:?}");
    assert_eq!(msg, "runs.csv:3: column `epochs:int`: cannot read \"1.5\" as int");

    let (_, msg) = bad_objects("sys/id,sys/creation_time\nA,yesterday\n");
    assert_eq!(
        msg,
        "runs.csv:2: column `sys/creation_time`: cannot read \"yesterday\" as datetime"
    );
    let (_, msg) = bad_objects("sys/id,sys/state\nA,paused\n");
    assert_eq!(
        msg,
        "runs.csv:2: column `sys/state`: cannot read \"paused\" as experimentState"
    );
    let (_, msg) = bad_objects("sys/id,done:bool\nA,yes\n");
    assert_eq!(msg, "runs.csv:2: column `done:bool`: cannot read \"yes\" as bool");

    let (e, msg) = bad_objects("sys/id,a,b,a\nA,1,2,3\n");
    assert!(
        matches!(
            e,
            CsvError::DuplicateColumn {
                first: 2,
                second: 4,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(msg, "runs.csv: column 4 `a` repeats column 2");
    let (e, _) = bad_objects("sys/id,x,x:float\nA,1.5,2\n");
    assert!(
        matches!(e, CsvError::DuplicateColumn { .. }),
        "x (inferred float) and x:float are one attribute: {e:?}"
    );

    let (e, msg) = bad_objects("sys/id,loss:floatSeries\nA,1\n");
    assert!(matches!(e, CsvError::BadHeader { index: 2, .. }), "{e:?}");
    assert!(
        msg.starts_with("runs.csv: column 2 `loss:floatSeries`: series belong in a series CSV"),
        "{msg}"
    );

    let (e, msg) = bad_objects("name,a\nA,1\n");
    assert!(matches!(e, CsvError::MissingColumn { .. }), "{e:?}");
    assert_eq!(msg, "runs.csv: no `sys/id` column");

    let (e, _) = bad_objects("");
    assert!(matches!(e, CsvError::NoHeader { .. }), "{e:?}");
    let (e, _) = bad_objects("sys/id,,b\nA,1,2\n");
    assert!(matches!(e, CsvError::BadHeader { index: 2, .. }), "{e:?}");

    let e = RawTable::from_reader(&b"sys/id,a\nA,\xff\xfe\n"[..], "runs.csv", &CsvOptions::default())
        .unwrap_err();
    assert!(
        matches!(e, CsvError::Malformed { line: 2, .. }),
        "invalid UTF-8: {e:?}"
    );

    let e = read_objects("/nonexistent/runs.csv", &CsvOptions::default()).unwrap_err();
    assert!(
        matches!(e, CsvError::Io { .. }) && e.to_string().contains("/nonexistent/runs.csv"),
        "{e}"
    );
}

#[test]
fn bad_series_rows() {
    let ids = Some(&["A", "B"][..]);
    let msg = |text: &str| series(text, ids).unwrap_err().to_string();
    assert_eq!(
        msg("sys/id,path,step,value\nA,x,0,1\nC,x,0,1\n"),
        "series.csv:3: `C` names no object of the project"
    );
    assert_eq!(
        msg("sys/id,path,step,value\nA,x,zero,1\n"),
        "series.csv:2: column `step`: cannot read \"zero\" as a step (a finite number)"
    );
    assert_eq!(
        msg("sys/id,path,step,value\nA,x,,1\n"),
        "series.csv:2: column `step`: empty, but a value is required"
    );
    assert_eq!(
        msg("sys/id,path,step,value\nA,x,0,1\nA,x,1,\n"),
        "series.csv:3: column `value`: empty, but a value is required"
    );
    assert_eq!(
        msg("sys/id,path,step,value\nA,x:floatSeries,0,1\nA,x:floatSeries,1,oops\n"),
        "series.csv:3: column `value`: cannot read \"oops\" as float (the path is a floatSeries)"
    );
    assert!(
        msg("sys/id,path,step,value\nA,x:int,0,1\n")
            .starts_with("series.csv:2: column `path`: cannot read \"x:int\"")
    );
    assert_eq!(
        msg("sys/id,path,step,value\nA,,0,1\n"),
        "series.csv:2: column `path`: empty, but a value is required"
    );
    assert_eq!(msg("sys/id,path,step\nA,x,0\n"), "series.csv: no `value` column");
    assert!(
        msg("sys/id,path,step,value,unit\nA,x,0,1,s\n")
            .starts_with("series.csv: column 5 `unit`: unexpected column")
    );
    assert_eq!(
        msg("sys/id,path,step,value,timestamp\nA,x,0,1,later\n"),
        "series.csv:2: column `timestamp`: cannot read \"later\" as a datetime or Unix seconds"
    );
    // A path with a non-number is a string series unless declared.
    let s = series("sys/id,path,step,value\nA,x,0,1\nA,x,1,oops\n", ids).unwrap();
    assert!(s.float.is_none() && s.string.unwrap().num_rows() == 2);
}
