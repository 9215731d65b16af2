//! Every conformance case, and queries with the fetch options the README's examples use,
//! give the same objects in the same order on a cluster as in one process: 8 partitions
//! with adaptive planning off and on, and 1 partition; 2 executors of 2 task slots, so
//! that the 8 buckets run in several waves.

use cluster::{Distributed, LocalCluster, SessionConfigExt, ballista_config, function_registry};
use datafusion::prelude::SessionConfig;
use engine::{FetchOptions, QueryError, Trashed};

use crate::common::{Answer, answer, bucketed, cases, differences, local_engine};

async fn cluster(config: SessionConfig) -> Distributed {
    let cluster = LocalCluster::start(2, 8, function_registry).await.unwrap();
    Distributed::connect(&cluster.url(), bucketed(), config)
        .await
        .unwrap()
}

async fn every_case_matches(config: SessionConfig) {
    let dist = cluster(config).await;
    let differences = differences(&dist, &cases()).await;
    assert!(
        differences.is_empty(),
        "{} cases differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_conformance_case_matches_one_process_with_8_partitions() {
    every_case_matches(
        ballista_config()
            .with_target_partitions(8)
            .with_ballista_adaptive_query_planner(false),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_conformance_case_matches_one_process_with_adaptive_planning() {
    every_case_matches(
        ballista_config()
            .with_target_partitions(8)
            .with_ballista_adaptive_query_planner(true),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_conformance_case_matches_one_process_with_1_partition() {
    every_case_matches(
        ballista_config()
            .with_target_partitions(1)
            .with_ballista_adaptive_query_planner(true),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorts_limits_columns_and_trash_options_match_one_process() {
    let dist = cluster(ballista_config().with_target_partitions(8)).await;
    let local = local_engine();
    let base = FetchOptions {
        now: Some(
            chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
                .unwrap()
                .into(),
        ),
        ..FetchOptions::default()
    };
    let variants = [
        FetchOptions {
            limit: Some(5),
            ..base.clone()
        },
        FetchOptions {
            limit: Some(0),
            ..base.clone()
        },
        FetchOptions {
            ascending: true,
            limit: Some(7),
            ..base.clone()
        },
        FetchOptions {
            sort_by: Some("sys/id".into()),
            ascending: true,
            ..base.clone()
        },
        FetchOptions {
            sort_by: Some("sys/size".into()),
            limit: Some(5),
            trashed: Trashed::All,
            ..base.clone()
        },
        FetchOptions {
            sort_by: Some("sys/name".into()),
            ascending: true,
            limit: Some(9),
            ..base.clone()
        },
        FetchOptions {
            trashed: Trashed::Only,
            ..base.clone()
        },
        FetchOptions {
            columns: Some(vec!["sys/name".into(), "sys/tags".into()]),
            limit: Some(3),
            ..base.clone()
        },
    ];
    let queries = [
        "",
        "`sys/tags`:stringSet CONTAINS \"exploration\"",
        "`sys/failed`:bool = true OR `sys/size`:float > 1MB",
        "NOT `sys/name`:string MATCHES \"^a\"",
    ];
    for options in &variants {
        for query in queries {
            let here = local.fetch_runs_table(query, options).await;
            let there = dist.fetch_runs_table(query, options).await;
            if let (Ok(a), Ok(b)) = (&here, &there) {
                assert_eq!(
                    a.schema.fields().len(),
                    b.schema.fields().len(),
                    "{query} {options:?}"
                );
                for (x, y) in a.schema.fields().iter().zip(b.schema.fields()) {
                    assert_eq!(x.name(), y.name(), "{query} {options:?}");
                }
            }
            assert_eq!(answer(here), answer(there), "{query} with {options:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_models_versions_match_one_process() {
    use datasets::layout::ObjectKind;
    let dist = cluster(ballista_config().with_target_partitions(8)).await;
    let local = local_engine();
    let all = FetchOptions {
        trashed: Trashed::All,
        ..FetchOptions::default()
    };
    let models = local
        .fetch(ObjectKind::Models, "", &all, None)
        .await
        .unwrap()
        .ids();
    assert!(models.len() > 1);
    for model in models.iter().take(3).map(String::as_str).chain(["no-such-model"]) {
        let here = local
            .fetch(ObjectKind::ModelVersions, "", &all, Some(model))
            .await;
        let there = dist.fetch(ObjectKind::ModelVersions, "", &all, Some(model)).await;
        assert_eq!(answer(here), answer(there), "{model}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stock_executor_registry_lacks_array_has_and_ours_has_it() {
    let query = "`sys/tags`:stringSet CONTAINS \"exploration\"";
    let stock = LocalCluster::start(1, 2, cluster::BallistaFunctionRegistry::default)
        .await
        .unwrap();
    let dist = Distributed::connect(&stock.url(), bucketed(), ballista_config())
        .await
        .unwrap();
    let e = dist
        .fetch_runs_table(query, &FetchOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, QueryError::Execution(_)), "{e}");
    assert!(e.to_string().contains("array_has"), "{e}");
    let ours = cluster(ballista_config()).await;
    let found = ours
        .fetch_runs_table(query, &FetchOptions::default())
        .await
        .unwrap();
    assert!(found.num_rows() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_query_is_cancelled_and_the_cluster_answers_the_next() {
    let dist = cluster(ballista_config()).await;
    let quick = FetchOptions {
        timeout: Some(std::time::Duration::from_millis(1)),
        ..FetchOptions::default()
    };
    let e = dist.fetch_runs_table("", &quick).await.unwrap_err();
    assert!(matches!(e, QueryError::TimedOut { .. }), "{e}");
    let token = engine::CancelToken::new();
    token.cancel();
    let cancelled = FetchOptions {
        cancel: Some(token),
        ..FetchOptions::default()
    };
    let e = dist.fetch_runs_table("", &cancelled).await.unwrap_err();
    assert!(matches!(e, QueryError::Cancelled), "{e}");
    let all = dist.fetch_runs_table("", &FetchOptions::default()).await.unwrap();
    let here = local_engine()
        .fetch_runs_table("", &FetchOptions::default())
        .await
        .unwrap();
    assert_eq!(all.ids(), here.ids());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_shows_the_stages_the_cluster_runs() {
    let dist = cluster(ballista_config().with_target_partitions(8)).await;
    let options = FetchOptions {
        limit: Some(10),
        ..FetchOptions::default()
    };
    let e = dist
        .explain(
            datasets::layout::ObjectKind::Runs,
            "`sys/failed`:bool = true",
            &options,
            None,
        )
        .await
        .unwrap();
    assert!(e.logical.contains("Filter"), "{}", e.logical);
    assert!(e.optimized.contains("TableScan: runs"), "{}", e.optimized);
    assert!(e.stages.len() >= 2, "{:?}", e.stages);
    assert!(
        e.stages.iter().any(|s| s.contains("ShuffleWriterExec")),
        "{:?}",
        e.stages
    );
    assert!(
        e.stages.last().unwrap().contains("SortPreservingMergeExec"),
        "{:?}",
        e.stages
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_without_summaries_or_a_bad_address_is_a_clear_error() {
    let data = crate::common::conformance_dir().join("data");
    let local = LocalCluster::start(1, 1, function_registry).await.unwrap();
    let e = Distributed::connect(&local.url(), &data, ballista_config())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nql partition"), "{e}");
    let e = Distributed::connect("http://localhost:1", bucketed(), ballista_config())
        .await
        .unwrap_err();
    assert!(matches!(e, cluster::ClusterError::BadUrl { .. }), "{e}");
    let e = Distributed::connect("df://127.0.0.1:1", bucketed(), ballista_config())
        .await
        .unwrap_err();
    assert!(matches!(e, cluster::ClusterError::Unreachable { .. }), "{e}");
}

/// Ballista ships plans as protobuf, which stops decoding at depth 100: the deepest queries
/// the front end accepts (it refuses more than 40 levels of nesting) and long flat chains
/// (lowered as balanced trees) run on the cluster as in one process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_and_very_long_queries_run_on_the_cluster() {
    let dist = cluster(ballista_config()).await;
    let local = local_engine();
    let mut nested = "`sys/failed`:bool = true".to_string();
    for i in 0..20 {
        nested = match i % 2 {
            0 => format!("NOT ({nested})"),
            _ => format!("(`sys/name`:string = \"x{i}\" OR {nested})"),
        };
    }
    let mut chain: Vec<String> = (0..5000)
        .map(|i| format!("`sys/name`:string = \"x{i}\""))
        .collect();
    chain.push("`sys/failed`:bool = true".into());
    for query in [nested, chain.join(" OR ")] {
        let here = answer(local.fetch_runs_table(&query, &FetchOptions::default()).await);
        assert!(matches!(&here, Answer::Ids(ids) if !ids.is_empty()), "{here:?}");
        let there = answer(dist.fetch_runs_table(&query, &FetchOptions::default()).await);
        assert_eq!(here, there, "{}", &query[..80]);
    }
}

/// A project named by a `file://` URL is opened through the object store (its files listed
/// and footers read through `object_store`, the client's, scheduler's and executors'
/// registry resolving the URL), and answers as the same project named by its path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_named_by_an_object_store_url_answers_as_by_its_path() {
    let cluster = LocalCluster::start(2, 4, function_registry).await.unwrap();
    let absolute = std::path::absolute(bucketed()).unwrap();
    let url = format!("file://{}", absolute.display());
    let dist = Distributed::connect(
        &cluster.url(),
        url.as_ref(),
        ballista_config().with_target_partitions(8),
    )
    .await
    .unwrap();
    let by_path = Distributed::connect(&cluster.url(), bucketed(), ballista_config())
        .await
        .unwrap();
    for kind in by_path.tables() {
        assert_eq!(dist.attributes(kind), by_path.attributes(kind), "{kind:?}");
    }
    let sample: Vec<_> = cases().into_iter().step_by(4).collect();
    let differences = differences(&dist, &sample).await;
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // A folder without summaries, by URL: the same error as by path.
    let e = Distributed::connect(
        &cluster.url(),
        format!("file://{}/runs", absolute.display()).as_ref(),
        ballista_config(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("no runs summaries"), "{e}");
}
