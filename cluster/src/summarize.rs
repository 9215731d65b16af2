//! The index built on the cluster: a map-only Ballista job whose tasks each summarize one
//! bucket of a bucketed project where the executor runs ([`engine::bucketed::summarize_bucket`]:
//! the bucket's object and series files in, `TABLE_summary/bNNNNN.parquet` out), with no
//! shuffle of points. The job is a physical plan of our own operator, [`SummarizeExec`],
//! sent with Ballista's `execute_physical_plan`; [`NqlPhysicalCodec`] carries it to the
//! scheduler and the executors, which must have it (`nql-scheduler`, `nql-executor`,
//! [`crate::LocalCluster`] do).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ballista::prelude::SessionConfigExt;
use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::arrow::array::{AsArray, RecordBatch, UInt32Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::datatypes::{UInt32Type, UInt64Type};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};
use datafusion::prelude::SessionConfig;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use datafusion_proto::protobuf::PhysicalPlanNode;
use engine::LoadOptions;
use futures::StreamExt;

use crate::error::ClusterError;

/// Summarizes the buckets its input names: partition `i` of its input holds bucket numbers
/// (a `bucket` column), and partition `i` of its output one row per bucket summarized
/// (`bucket`, `files` written, `objects` summarized). The input is an in-memory scan (see
/// [`SummarizeExec::over`]), which Ballista restricts to each task's partitions: a custom
/// leaf would be run whole by every task.
#[derive(Debug)]
pub struct SummarizeExec {
    dir: PathBuf,
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl SummarizeExec {
    /// Summarizes the buckets of `input` (one `bucket` column of UInt32) of the bucketed
    /// project in `dir` (a path every executor sees).
    pub fn new(dir: PathBuf, input: Arc<dyn ExecutionPlan>) -> SummarizeExec {
        let partitions = input.properties().output_partitioning().partition_count();
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(summary_report_schema()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        SummarizeExec {
            dir,
            input,
            properties,
        }
    }

    /// Summarizes `buckets` of the project in `dir`, a partition (a task) per bucket.
    pub fn over(dir: PathBuf, buckets: &[u32]) -> Result<SummarizeExec> {
        let schema = Arc::new(Schema::new(vec![Field::new("bucket", DataType::UInt32, false)]));
        let partitions = buckets
            .iter()
            .map(|&b| {
                RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(UInt32Array::from(vec![b]))])
                    .map(|batch| vec![batch])
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let input = MemorySourceConfig::try_new_exec(&partitions, schema, None)?;
        Ok(SummarizeExec::new(dir, input))
    }
}

/// The rows a summarize job returns: per bucket, the summary files written and the objects
/// they hold.
pub fn summary_report_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("bucket", DataType::UInt32, false),
        Field::new("files", DataType::UInt32, false),
        Field::new("objects", DataType::UInt64, false),
    ]))
}

impl DisplayAs for SummarizeExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SummarizeExec: dir={}", self.dir.display())
    }
}

impl ExecutionPlan for SummarizeExec {
    fn name(&self) -> &str {
        "SummarizeExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        // A partition per bucket already: no repartitioning (and no shuffle) of the input.
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match <[_; 1]>::try_from(children) {
            Ok([input]) => Ok(Arc::new(SummarizeExec::new(self.dir.clone(), input))),
            Err(_) => Err(DataFusionError::Internal("SummarizeExec has one input".into())),
        }
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let dir = self.dir.clone();
        let rows = input.then(move |batch| {
            let dir = dir.clone();
            async move {
                let batch = batch?;
                let buckets = batch
                    .column(0)
                    .as_primitive_opt::<UInt32Type>()
                    .ok_or_else(|| DataFusionError::Internal("SummarizeExec's input is not UInt32".into()))?
                    .values()
                    .to_vec();
                let done = tokio::task::spawn_blocking(move || {
                    buckets
                        .into_iter()
                        .map(|b| summarize(&dir, b).map(|(files, objects)| (b, files as u32, objects)))
                        .collect::<Result<Vec<_>>>()
                })
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))??;
                RecordBatch::try_new(
                    summary_report_schema(),
                    vec![
                        Arc::new(UInt32Array::from_iter_values(done.iter().map(|d| d.0))),
                        Arc::new(UInt32Array::from_iter_values(done.iter().map(|d| d.1))),
                        Arc::new(UInt64Array::from_iter_values(done.iter().map(|d| d.2))),
                    ],
                )
                .map_err(DataFusionError::from)
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            summary_report_schema(),
            rows,
        )))
    }
}

/// Summarizes one bucket with one thread (an executor runs a task per slot): the files
/// written and the objects they hold.
fn summarize(dir: &Path, bucket: u32) -> Result<(usize, u64)> {
    let options = LoadOptions {
        threads: 1,
        index: engine::IndexLocation::None,
        ..LoadOptions::default()
    };
    let files = engine::bucketed::summarize_bucket(dir, bucket, &options)
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let mut objects = 0u64;
    for file in &files {
        let reader = std::fs::File::open(file).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let builder =
            datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(reader)?;
        objects += builder.metadata().file_metadata().num_rows() as u64;
    }
    Ok((files.len(), objects))
}

/// Ballista's physical codec, plus [`SummarizeExec`]: what our scheduler and executors
/// decode plans with, and what a client encodes a summarize job with.
#[derive(Debug, Default)]
pub struct NqlPhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

/// What an encoded [`SummarizeExec`] starts with (anything else is Ballista's).
const SUMMARIZE_TAG: &[u8] = b"nql.summarize.v1\n";

impl PhysicalExtensionCodec for NqlPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(rest) = buf.strip_prefix(SUMMARIZE_TAG) else {
            return self.ballista.try_decode(buf, inputs, ctx, proto_converter);
        };
        let dir = std::str::from_utf8(rest)
            .map_err(|_| DataFusionError::Internal("a SummarizeExec whose directory is not UTF-8".into()))?;
        match inputs {
            [input] => Ok(Arc::new(SummarizeExec::new(
                PathBuf::from(dir),
                Arc::clone(input),
            ))),
            _ => Err(DataFusionError::Internal(
                "a SummarizeExec without its one input".into(),
            )),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let Some(summarize) = node.downcast_ref::<SummarizeExec>() else {
            return self.ballista.try_encode(node, buf, proto_converter);
        };
        let dir = summarize
            .dir
            .to_str()
            .ok_or_else(|| DataFusionError::Plan(format!("{}: not UTF-8", summarize.dir.display())))?;
        buf.extend_from_slice(SUMMARIZE_TAG);
        buf.extend_from_slice(dir.as_bytes());
        Ok(())
    }
}

/// What [`summarize_on`] did, bucket by bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummarizeReport {
    /// (bucket, summary files written, objects summarized), by bucket.
    pub buckets: Vec<(u32, u32, u64)>,
}

/// Summarizes every bucket of the bucketed project in `dir` on the cluster at `url`
/// (`df://HOST:PORT`), a task per bucket, each where an executor has a free slot; the
/// executors write the summary files into `dir` (which every one of them must see at that
/// path). Written by `nql partition --no-summaries` (or `engine::bucketed::split`), the
/// project is then ready for [`crate::Distributed`].
pub async fn summarize_on(
    url: &str,
    dir: &Path,
    config: SessionConfig,
) -> Result<SummarizeReport, ClusterError> {
    let scheduler = crate::distributed::scheduler_address(url)?;
    if let Some(data) = dir.to_str().filter(|d| crate::stores::is_url(d)) {
        return Err(ClusterError::Project(engine::LoadError::Choice(format!(
            "{data}: the cluster builds an index from a directory every executor sees (a shared \
             mount), not from an object store: summarize the buckets there, then copy the \
             project to the store (queries read it there)"
        ))));
    }
    crate::distributed::reachable(url, &scheduler).await?;
    let buckets = engine::bucketed::buckets(dir)?;
    let dir = std::path::absolute(dir).map_err(|source| engine::LoadError::Io {
        file: dir.to_path_buf(),
        source,
    })?;
    let plan: Arc<dyn ExecutionPlan> = Arc::new(CoalescePartitionsExec::new(Arc::new(SummarizeExec::over(
        dir, &buckets,
    )?)));
    let config = config.upgrade_for_ballista();
    let stream = ballista_core::execution_plans::execute_physical_plan::<PhysicalPlanNode>(
        scheduler,
        &config.ballista_config(),
        plan,
        &NqlPhysicalCodec::default(),
        format!("nql-summarize-{}", std::process::id()),
        config,
    )
    .await?;
    let batches = datafusion::physical_plan::common::collect(stream).await?;
    let mut rows = Vec::new();
    for batch in &batches {
        let (buckets, files, objects) = (
            batch.column(0).as_primitive_opt::<UInt32Type>(),
            batch.column(1).as_primitive_opt::<UInt32Type>(),
            batch.column(2).as_primitive_opt::<UInt64Type>(),
        );
        let (Some(buckets), Some(files), Some(objects)) = (buckets, files, objects) else {
            return Err(ClusterError::DataFusion(DataFusionError::Internal(
                "a summarize job returned rows of another shape".into(),
            )));
        };
        for i in 0..batch.num_rows() {
            rows.push((buckets.value(i), files.value(i), objects.value(i)));
        }
    }
    rows.sort_unstable();
    Ok(SummarizeReport { buckets: rows })
}
