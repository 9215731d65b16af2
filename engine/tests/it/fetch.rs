//! The calls around a query (spec 5): columns, sorting with missing values last and ties by
//! `sys/id`, limits, trash, model versions of one model, warnings, explain.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datasets::ProjectBatches;
use datasets::layout::ObjectKind;
use engine::{Engine, FetchOptions, QueryError, Trashed};

use crate::common::{block_on, conformance_engine, options, run_ids};

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

/// Five runs; `score` has a tie and a missing value.
fn scored() -> Engine {
    let runs = batch(vec![
        (
            "sys/id",
            Arc::new(StringArray::from(vec!["R-3", "R-1", "R-2", "R-5", "R-4"])),
        ),
        (
            "score",
            Arc::new(Float64Array::from(vec![
                Some(0.5),
                Some(0.9),
                None,
                Some(0.5),
                Some(0.1),
            ])),
        ),
        (
            "epochs",
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3), Some(4), Some(5)])),
        ),
        (
            "epochs:string",
            Arc::new(StringArray::from(vec![None, Some("ten"), None, None, None])),
        ),
    ]);
    Engine::from_batches(ProjectBatches {
        runs: vec![runs],
        ..ProjectBatches::default()
    })
    .unwrap()
}

fn ids_in_order(engine: &Engine, options: &FetchOptions) -> Vec<String> {
    block_on(engine.fetch_runs_table("", options)).unwrap().ids()
}

#[test]
fn sorting_puts_missing_values_last_and_breaks_ties_by_id() {
    let engine = scored();
    let mut o = FetchOptions {
        sort_by: Some("score".into()),
        ..FetchOptions::default()
    };
    assert_eq!(ids_in_order(&engine, &o), ["R-1", "R-3", "R-5", "R-4", "R-2"]);
    o.ascending = true;
    assert_eq!(ids_in_order(&engine, &o), ["R-4", "R-3", "R-5", "R-1", "R-2"]);
    o.limit = Some(2);
    assert_eq!(ids_in_order(&engine, &o), ["R-4", "R-3"]);
    // Without a creation time, the order is by id.
    assert_eq!(
        ids_in_order(&engine, &FetchOptions::default()),
        ["R-1", "R-2", "R-3", "R-4", "R-5"]
    );
}

#[test]
fn columns_are_named_by_path_or_path_and_type() {
    let engine = scored();
    let names = |columns: Option<Vec<&str>>| {
        let o = FetchOptions {
            columns: columns.map(|c| c.into_iter().map(String::from).collect()),
            ..FetchOptions::default()
        };
        let r = block_on(engine.fetch_runs_table("", &o)).unwrap();
        r.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(None), ["sys/id", "score", "epochs:int", "epochs:string"]);
    assert_eq!(
        names(Some(vec!["epochs"])),
        ["sys/id", "epochs:int", "epochs:string"]
    );
    assert_eq!(
        names(Some(vec!["epochs:string", "sys/id"])),
        ["sys/id", "epochs:string"]
    );
    let o = FetchOptions {
        columns: Some(vec!["scor".into()]),
        ..FetchOptions::default()
    };
    let e = block_on(engine.fetch_runs_table("", &o)).unwrap_err();
    assert!(
        matches!(&e, QueryError::BadOption(m) if m.contains("did you mean `score`")),
        "{e}"
    );
    assert!(e.is_user_error());
    let o = FetchOptions {
        sort_by: Some("epochs".into()),
        ..FetchOptions::default()
    };
    assert!(matches!(
        block_on(engine.fetch_runs_table("", &o)),
        Err(QueryError::BadOption(_))
    ));
}

#[test]
fn series_columns_show_the_last_value_and_aggregates_can_be_asked_for() {
    let engine = conformance_engine();
    let o = FetchOptions {
        columns: Some(vec![
            "metrics/acc".into(),
            "max(metrics/acc)".into(),
            "logs/stdout".into(),
        ]),
        sort_by: Some("sys/id".into()),
        ascending: true,
        ..options(Trashed::All)
    };
    let r = block_on(engine.fetch_runs_table("sys/id:string = \"NQ-1\"", &o)).unwrap();
    let names: Vec<&str> = r.schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        ["sys/id", "metrics/acc", "max(metrics/acc)", "logs/stdout"]
    );
    let ids = block_on(engine.fetch_runs_table("last(`metrics/acc`) = 0.3", &options(Trashed::All)))
        .unwrap()
        .ids();
    let o = FetchOptions {
        columns: Some(vec!["metrics/acc".into()]),
        ..options(Trashed::All)
    };
    let query = format!("sys/id:string = \"{}\"", ids[0]);
    let r = block_on(engine.fetch_runs_table(&query, &o)).unwrap();
    assert_eq!(
        r.batches[0]
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
            .value(0),
        0.3
    );
}

#[test]
fn limit_and_default_sort_by_creation_time_descending() {
    let engine = conformance_engine();
    let all = block_on(engine.fetch_runs_table("", &options(Trashed::Exclude))).unwrap();
    let top = block_on(engine.fetch_runs_table(
        "",
        &FetchOptions {
            limit: Some(5),
            ..options(Trashed::Exclude)
        },
    ))
    .unwrap();
    assert_eq!(top.ids(), all.ids()[..5]);
    let times = all.batches.iter().flat_map(|b| {
        let i = b.schema().index_of("sys/creation_time").unwrap();
        let c = b
            .column(i)
            .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>()
            .clone();
        (0..c.len()).map(move |r| c.is_valid(r).then(|| c.value(r)))
    });
    let times: Vec<Option<i64>> = times.collect();
    let present: Vec<i64> = times.iter().flatten().copied().collect();
    assert!(present.windows(2).all(|w| w[0] >= w[1]), "descending");
    assert!(
        times.iter().skip_while(|t| t.is_some()).all(|t| t.is_none()),
        "missing last"
    );
}

#[test]
fn trash_modes_split_the_table() {
    let engine = conformance_engine();
    let count = |t| run_ids(&engine, "", &options(t)).unwrap().len();
    assert_eq!(
        count(Trashed::Exclude) + count(Trashed::Only),
        count(Trashed::All)
    );
    assert!(count(Trashed::Only) > 0);
}

#[test]
fn model_versions_of_one_model() {
    let engine = conformance_engine();
    let r = block_on(engine.fetch_model_versions_table(Some("MDL-1"), "", &options(Trashed::All))).unwrap();
    assert!(r.num_rows() > 0);
    let all = block_on(engine.fetch_model_versions_table(
        None,
        "sys/model_id:string = \"MDL-1\"",
        &options(Trashed::All),
    ));
    assert_eq!(r.ids().len(), all.unwrap().num_rows());
    let models = block_on(engine.fetch_models_table("", &options(Trashed::All))).unwrap();
    assert_eq!(models.num_rows(), 20);
}

#[test]
fn warnings_come_back_with_the_result() {
    let engine = conformance_engine();
    let r = block_on(engine.fetch_runs_table("metrics/accuracy:floatSeries > 0.5", &options(Trashed::All)))
        .unwrap();
    assert_eq!(r.num_rows(), 0);
    assert_eq!(r.warnings.len(), 1);
    assert!(
        r.warnings[0]
            .help
            .as_deref()
            .unwrap()
            .contains("metrics/acc:floatSeries"),
        "{:?}",
        r.warnings
    );
}

#[test]
fn explain_shows_the_checked_query_and_the_plans() {
    let engine = conformance_engine();
    let e = block_on(engine.explain(
        ObjectKind::Runs,
        "`params/lr`:float != 0.1 AND sys/tags CONTAINS best",
        &options(Trashed::Exclude),
        None,
    ))
    .unwrap();
    assert_eq!(
        e.checked,
        "NOT `params/lr`:float = 0.1 AND `sys/tags`:stringSet CONTAINS \"best\""
    );
    assert!(e.logical.contains("full_filters="), "{}", e.logical);
    // The filter is pushed into the scan, which evaluates it; the default order is the
    // stored order, so there is no sort.
    assert!(e.physical.contains("NqlScanExec: table=runs"), "{}", e.physical);
    assert!(e.physical.contains("filter="), "{}", e.physical);
    assert!(e.physical.contains("array_has"), "{}", e.physical);
    assert!(!e.physical.contains("FilterExec"), "{}", e.physical);
    assert!(!e.physical.contains("SortExec"), "{}", e.physical);
    // Another order with a limit is a top-k done by the scan; without a limit, a sort over it.
    let sorted = FetchOptions {
        sort_by: Some("params/lr:float".into()),
        limit: Some(3),
        ..options(Trashed::Exclude)
    };
    let e = block_on(engine.explain(ObjectKind::Runs, "", &sorted, None)).unwrap();
    assert!(!e.physical.contains("SortExec"), "{}", e.physical);
    assert!(
        e.physical.contains("sort=[params/lr:float@") && e.physical.contains("fetch=3"),
        "{}",
        e.physical
    );
    let everything = FetchOptions {
        limit: None,
        ..sorted
    };
    let e = block_on(engine.explain(ObjectKind::Runs, "", &everything, None)).unwrap();
    assert!(e.physical.contains("SortExec: expr="), "{}", e.physical);
}

#[test]
fn a_missing_table_is_a_user_error() {
    let e = block_on(scored().fetch_models_table("", &FetchOptions::default())).unwrap_err();
    assert!(matches!(e, QueryError::NoSuchTable("models")) && e.is_user_error());
}

/// The ids of `result` sorted the way spec 5 says, row by row: the result column `key` with
/// missing values last, ties by `sys/id` ascending.
fn sorted_by_hand(result: &engine::QueryResult, key: &str, ascending: bool) -> Vec<String> {
    let key = result.schema.index_of(key).expect("the key is a result column");
    use datafusion::common::ScalarValue;
    let ids = result.ids();
    let mut keys: Vec<(Option<ScalarValue>, String)> = Vec::new();
    let mut row = 0;
    for b in &result.batches {
        for i in 0..b.num_rows() {
            let key = Some(ScalarValue::try_from_array(b.column(key), i).unwrap());
            keys.push((key.filter(|k| !k.is_null()), ids[row].clone()));
            row += 1;
        }
    }
    keys.sort_by(|(a, ia), (b, ib)| {
        let by_key = match (a, b) {
            (Some(a), Some(b)) => {
                let o = a.partial_cmp(b).expect("keys of one column compare");
                if ascending { o } else { o.reverse() }
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        by_key.then_with(|| ia.cmp(ib))
    });
    keys.into_iter().map(|(_, id)| id).collect()
}

#[test]
fn sorts_and_limits_agree_with_a_sort_by_hand() {
    let engine = conformance_engine();
    let queries = [
        "",
        "params/lr:float > 0.01",
        "NOT sys/tags:stringSet CONTAINS \"best\"",
        "max(`metrics/acc`:floatSeries) > 0.5",
    ];
    let sorts = [
        "sys/creation_time",
        "params/lr:float",
        "metrics/acc",
        "sys/id",
        "sys/name",
    ];
    for query in queries {
        for sort_by in sorts {
            for (ascending, limit) in [
                (false, None),
                (true, None),
                (true, Some(7)),
                (false, Some(7)),
                (true, Some(1)),
                (false, Some(100_000)),
                (false, Some(0)),
            ] {
                let o = FetchOptions {
                    sort_by: Some(sort_by.to_string()),
                    ascending,
                    limit,
                    columns: Some(vec![sort_by.to_string(), "sys/name".into()]),
                    ..options(Trashed::Exclude)
                };
                let got = block_on(engine.fetch_runs_table(query, &o)).unwrap();
                let everything = FetchOptions {
                    limit: None,
                    ..o.clone()
                };
                let all = block_on(engine.fetch_runs_table(query, &everything)).unwrap();
                let mut expected = sorted_by_hand(&all, sort_by, ascending);
                expected.truncate(limit.unwrap_or(usize::MAX));
                assert_eq!(
                    got.ids(),
                    expected,
                    "{query} sorted by {sort_by} ascending={ascending} limit={limit:?}"
                );
                assert_eq!(
                    got.schema.fields().len(),
                    if matches!(sort_by, "sys/id" | "sys/name") {
                        2
                    } else {
                        3
                    },
                    "{sort_by}: {:?}",
                    got.schema
                );
            }
        }
    }
    // Without `sort_by`, the order is by creation time, descending unless asked otherwise.
    for ascending in [false, true] {
        let o = FetchOptions {
            ascending,
            columns: Some(vec!["sys/creation_time".into()]),
            ..options(Trashed::All)
        };
        let got = block_on(engine.fetch_runs_table("", &o)).unwrap();
        assert_eq!(
            got.ids(),
            sorted_by_hand(&got, "sys/creation_time", ascending),
            "default order, ascending={ascending}"
        );
    }
}

#[test]
fn a_literal_that_reads_as_negative_zero_compares_as_zero() {
    use datafusion::arrow::array::{Float64Array, StringArray};
    let engine = crate::common::runs_engine(vec![
        ("sys/id", Arc::new(StringArray::from(vec!["R-1", "R-2", "R-3"]))),
        ("x", Arc::new(Float64Array::from(vec![0.0, -0.0, 1.0]))),
    ]);
    let ids = |q: &str| run_ids(&engine, q, &options(Trashed::All)).unwrap();
    for zero in ["-1e-400", "-0.0", "0", "-0"] {
        assert_eq!(ids(&format!("x:float = {zero}")), ["R-1", "R-2"], "= {zero}");
        assert_eq!(
            ids(&format!("x:float < {zero}")),
            Vec::<String>::new(),
            "< {zero}"
        );
        assert_eq!(
            ids(&format!("x:float >= {zero}")),
            ["R-1", "R-2", "R-3"],
            ">= {zero}"
        );
        assert_eq!(ids(&format!("x:float != {zero}")), ["R-3"], "!= {zero}");
    }
}
