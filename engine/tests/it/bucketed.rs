//! A project bucketed for a cluster (`engine::bucketed`): the single-process engine reads
//! the layout with the same answers, each bucket's summaries are the whole project's index
//! values bit for bit, and the portable plans over the summary files answer every
//! conformance case in a plain DataFusion session.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, new_null_array};
use datafusion::arrow::compute::{concat_batches, sort_to_indices, take_record_batch};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::datasource::provider_as_source;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::SessionContext;
use datasets::layout::ObjectKind;
use engine::bucketed::{SummaryTable, bucket_file_name, bucket_of, partition, summary_dir};
use engine::{Engine, IndexLocation, LoadError, LoadOptions, QueryError};

use crate::common::{block_on, conformance_dir, scratch_dir};
use crate::conformance::{run_every_case, run_every_case_with};
use crate::index::{assert_same, project};

fn in_memory() -> LoadOptions {
    LoadOptions {
        index: IndexLocation::None,
        ..LoadOptions::default()
    }
}

#[test]
fn a_bucketed_project_answers_every_conformance_case_in_one_process() {
    let out = tempfile::tempdir().unwrap();
    let report = partition(&conformance_dir().join("data"), out.path(), 4, &in_memory()).unwrap();
    assert_eq!(report.buckets, 4);
    let runs = report.objects.iter().find(|(t, _)| t == "runs").unwrap().1;
    assert!(runs > 100, "{report:?}");
    // Every run is in the bucket its id hashes to.
    for bucket in 0..4 {
        let file = out.path().join("runs").join(bucket_file_name(bucket));
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let ids = datafusion::arrow::compute::cast(
                batch.column_by_name("sys/id").unwrap(),
                &datafusion::arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            use datafusion::arrow::array::AsArray;
            for id in ids.as_string::<i32>().iter() {
                assert_eq!(bucket_of(id.unwrap(), 4), bucket);
            }
        }
    }
    let options = LoadOptions {
        index: IndexLocation::Dir(scratch_dir("bucketed-conformance-index")),
        ..LoadOptions::default()
    };
    run_every_case(&Engine::open_with(out.path(), &options).unwrap());
}

/// Every row of a table's summary files, aligned to `schema` (missing columns as nulls) and
/// sorted by `sys/id`.
fn summary_rows(table: &SummaryTable, schema: &Arc<Schema>) -> RecordBatch {
    let mut batches = Vec::new();
    for file in table.files() {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let columns = schema
                .fields()
                .iter()
                .map(|f| {
                    batch
                        .column_by_name(f.name())
                        .cloned()
                        .unwrap_or_else(|| new_null_array(f.data_type(), batch.num_rows()))
                })
                .collect();
            batches.push(RecordBatch::try_new(Arc::clone(schema), columns).unwrap());
        }
    }
    sorted_by_id(&concat_batches(schema, &batches).unwrap())
}

fn sorted_by_id(batch: &RecordBatch) -> RecordBatch {
    let order = sort_to_indices(batch.column(0), None, None).unwrap();
    take_record_batch(batch, &order).unwrap()
}

/// The whole table as the engine's session holds it, columns nullable, sorted by `sys/id`.
fn engine_rows(engine: &Engine, kind: ObjectKind) -> RecordBatch {
    let ctx = engine.session();
    let batches = block_on(async {
        ctx.table(kind.table_name())
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
    });
    let schema = Arc::new(Schema::new(
        batches[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<Field>>(),
    ));
    let batches: Vec<RecordBatch> = batches
        .into_iter()
        .map(|b| RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec()).unwrap())
        .collect();
    sorted_by_id(&concat_batches(&schema, &batches).unwrap())
}

#[test]
fn each_buckets_summaries_are_the_project_index_values_bit_for_bit() {
    let (data, out, index) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    project(data.path(), "B", 400, 150, 7);
    let whole = Engine::open_with(
        data.path(),
        &LoadOptions {
            index: IndexLocation::Dir(index.path().to_path_buf()),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    partition(data.path(), out.path(), 5, &in_memory()).unwrap();
    let tables = SummaryTable::open_all(out.path()).unwrap();
    assert_eq!(
        tables.iter().map(|t| t.kind()).collect::<Vec<_>>(),
        whole.tables(),
        "the same tables"
    );
    for table in &tables {
        let kind = table.kind();
        // The same attributes, counts and result columns, in the same order.
        assert_eq!(table.attributes(), whole.attributes(kind).unwrap(), "{kind:?}");
        assert_eq!(table.columns(), whole.columns(kind).unwrap(), "{kind:?}");
        assert_eq!(table.rows(), whole.num_objects(kind).unwrap());
        let expected = engine_rows(&whole, kind);
        assert_eq!(table.schema(), expected.schema(), "{kind:?}: the schema");
        let got = summary_rows(table, &expected.schema());
        assert_same(&got, &expected, kind.table_name());
    }
}

#[test]
fn portable_plans_over_the_summary_files_answer_every_conformance_case() {
    let out = tempfile::tempdir().unwrap();
    partition(&conformance_dir().join("data"), out.path(), 3, &in_memory()).unwrap();
    let tables = SummaryTable::open_all(out.path()).unwrap();
    let ctx = SessionContext::new();
    let sources: Vec<_> = tables
        .iter()
        .map(|t| provider_as_source(t.listing_table().unwrap()))
        .collect();
    run_every_case_with(|kind, query, options| {
        let Some(i) = tables.iter().position(|t| t.kind() == kind) else {
            return Err(QueryError::NoSuchTable(kind.table_name()));
        };
        let (plan, _) = tables[i].plan(query, options, None, Arc::clone(&sources[i]))?;
        let batches = block_on(async { ctx.execute_logical_plan(plan).await?.collect().await })?;
        let schema = batches
            .first()
            .map(|b| b.schema())
            .unwrap_or_else(|| Arc::new(Schema::empty()));
        Ok(engine::QueryResult {
            schema,
            batches,
            warnings: Vec::new(),
        }
        .ids())
    });
}

#[test]
fn a_foreign_source_is_bucketed_through_the_native_layout() {
    let export = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/neptune-export/v2-vision/data");
    let out = tempfile::tempdir().unwrap();
    let report = partition(&export, out.path(), 2, &in_memory()).unwrap();
    assert!(report.points > 0, "{report:?}");
    assert!(
        !out.path().join(".nql-partition-source").exists(),
        "the conversion is removed"
    );
    let direct = Engine::open_with(&export, &in_memory()).unwrap();
    let bucketed = Engine::open_with(out.path(), &in_memory()).unwrap();
    let all = engine::FetchOptions {
        trashed: engine::Trashed::All,
        ..engine::FetchOptions::default()
    };
    let query = "last(`val/accuracy`) > 0.7";
    let a = block_on(direct.fetch_runs_table(query, &all)).unwrap();
    let b = block_on(bucketed.fetch_runs_table(query, &all)).unwrap();
    assert!(a.num_rows() > 0);
    assert_eq!(a.ids(), b.ids());
    assert!(
        summary_dir(out.path(), ObjectKind::Runs)
            .join(bucket_file_name(0))
            .is_file()
    );
}

#[test]
fn partitioning_refuses_bad_bucket_counts_and_a_used_directory() {
    let out = tempfile::tempdir().unwrap();
    let data = conformance_dir().join("data");
    for buckets in [0, 70_000] {
        let e = partition(&data, out.path(), buckets, &in_memory()).unwrap_err();
        assert!(matches!(e, LoadError::Choice(_)), "{e}");
    }
    partition(&data, out.path(), 2, &in_memory()).unwrap();
    let again = partition(&data, out.path(), 2, &in_memory()).unwrap_err();
    assert!(again.to_string().contains("runs"), "{again}");
    // A directory that is not bucketed has no summaries to query.
    let e = SummaryTable::open_all(&data).unwrap_err();
    assert!(e.to_string().contains("nql partition"), "{e}");
}
