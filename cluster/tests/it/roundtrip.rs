//! Every plan the conformance cases lower to survives a round trip through the proto
//! encoding Ballista ships plans in (datafusion-proto), and the decoded plan, run in one
//! plain session, gives the answer of the original.

use std::sync::Arc;

use datafusion::datasource::provider_as_source;
use datafusion::prelude::SessionContext;
use datafusion_proto::bytes::{logical_plan_from_bytes, logical_plan_to_bytes};
use engine::bucketed::SummaryTable;
use engine::{QueryError, QueryResult};

use crate::common::{Answer, answer, bucketed, cases};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lowered_plan_round_trips_through_the_proto_encoding() {
    let tables = SummaryTable::open_all(bucketed()).unwrap();
    let ctx = SessionContext::new();
    let sources: Vec<_> = tables
        .iter()
        .map(|t| provider_as_source(t.listing_table().unwrap()))
        .collect();
    let run = async |plan| -> Result<QueryResult, QueryError> {
        let batches = ctx.execute_logical_plan(plan).await?.collect().await?;
        let schema = batches
            .first()
            .map(|b| b.schema())
            .unwrap_or_else(|| Arc::new(datafusion::arrow::datatypes::Schema::empty()));
        Ok(QueryResult {
            schema,
            batches,
            warnings: Vec::new(),
        })
    };
    let mut planned = 0;
    for case in cases() {
        let i = tables.iter().position(|t| t.kind() == case.kind()).unwrap();
        let Ok((plan, _)) = tables[i].plan(&case.query, &case.options(), None, Arc::clone(&sources[i]))
        else {
            continue;
        };
        planned += 1;
        let bytes = logical_plan_to_bytes(&plan).unwrap();
        let decoded = logical_plan_from_bytes(&bytes, &ctx.task_ctx()).unwrap();
        assert_eq!(
            format!("{}", decoded.display_indent_schema()),
            format!("{}", plan.display_indent_schema()),
            "{}: the decoded plan",
            case.id
        );
        let (a, b) = (answer(run(plan).await), answer(run(decoded).await));
        assert!(matches!(a, Answer::Ids(_)), "{}: {a:?}", case.id);
        assert_eq!(a, b, "{}", case.id);
    }
    assert!(planned > 250, "{planned} cases planned");
}
