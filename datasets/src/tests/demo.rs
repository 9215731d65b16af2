//! The demo must answer every example query of Neptune's NQL page. Each query is evaluated
//! here with plain Arrow and iteration, not with the engine.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use nql::AttrType;

use super::*;
use crate::demo;
use crate::layout::{natural_type, split_column_name};

struct Demo {
    ids: Vec<String>,
    runs: RecordBatch,
    floats: BTreeMap<(String, String), Vec<(f64, f64)>>,
    last_log: HashMap<(String, String), String>,
}

impl Demo {
    fn load() -> Demo {
        let p = demo::project();
        let runs = concat(&p.runs);
        let ids = strings(&runs, "sys/id").into_iter().map(Option::unwrap).collect();
        let logs = concat(&p.string_series);
        let mut last_log = HashMap::new();
        for ((id, path), value) in strings(&logs, "sys/id")
            .into_iter()
            .zip(strings(&logs, "path"))
            .zip(strings(&logs, "value"))
        {
            last_log.insert((id.unwrap(), path.unwrap()), value.unwrap());
        }
        Demo {
            ids,
            floats: float_points(&p.float_series),
            runs,
            last_log,
        }
    }

    /// Ids of runs, trashed included, where `pred(row)` holds.
    fn select(&self, pred: impl Fn(usize) -> bool) -> Vec<&str> {
        (0..self.ids.len())
            .filter(|&i| pred(i))
            .map(|i| self.ids[i].as_str())
            .collect()
    }

    fn series(&self, i: usize, path: &str) -> Option<&Vec<(f64, f64)>> {
        self.floats.get(&(self.ids[i].clone(), path.to_string()))
    }
}

fn some<T: PartialOrd + Copy>(v: &[Option<T>], i: usize, pred: impl Fn(T) -> bool) -> bool {
    v[i].is_some_and(pred)
}

#[test]
fn demo_is_deterministic_and_fast() {
    let start = Instant::now();
    let a = demo::project();
    let elapsed = start.elapsed();
    assert!(elapsed.as_secs_f64() < 2.0, "demo took {elapsed:?}");
    let b = demo::project();
    for table in crate::TABLE_NAMES {
        assert_eq!(a.table(table), b.table(table), "{table}");
    }
    assert_eq!(a.num_rows("runs"), 2000);
    assert_eq!(a.num_rows("models"), 20);
    assert_eq!(a.num_rows("model_versions"), 100);
    // Ids are unique across the project; model versions name their models.
    let mut all = HashSet::new();
    for table in ["runs", "models", "model_versions"] {
        for id in strings(&concat(a.table(table).unwrap()), "sys/id") {
            assert!(all.insert(id.unwrap()));
        }
    }
    for model in strings(&a.model_versions[0], "sys/model_id") {
        assert!(all.contains(&model.unwrap()));
    }
}

#[test]
fn demo_has_every_type() {
    let p = demo::project();
    let mut types = BTreeSet::new();
    for batch in [&p.runs[0], &p.models[0], &p.model_versions[0]] {
        for field in batch.schema().fields() {
            let (_, suffix) = split_column_name(field.name());
            types.insert(suffix.or_else(|| natural_type(field.data_type())).unwrap());
        }
    }
    types.insert(AttrType::FloatSeries);
    types.insert(AttrType::StringSeries);
    assert!(!p.float_series.is_empty() && !p.string_series.is_empty());
    assert_eq!(types.len(), AttrType::ALL.len(), "{types:?}");
}

#[test]
fn demo_answers_the_seed_examples() {
    let d = Demo::load();
    let r = &d.runs;
    let tags = sets(r, "sys/tags");
    let has_tag = |i: usize, t: &str| tags[i].as_ref().is_some_and(|s| s.iter().any(|x| x == t));
    let f1 = floats(r, "f1");
    let name = strings(r, "sys/name");
    let owner = strings(r, "sys/owner");
    let failed = bools(r, "sys/failed");
    let trashed = bools(r, "sys/trashed");
    let created = times(r, "sys/creation_time");
    let ping = times(r, "sys/ping_time");
    let size = ints(r, "sys/size");
    let description = strings(r, "sys/description");
    let state = strings(r, "sys/state:experimentState");
    let artifact = strings(r, "dataset_version:artifact");
    let lr = floats(r, "learning_rate");
    let size_mb = floats(r, "model_info/size_MB");
    let test_acc = floats(r, "test/acc");
    let scores_f1 = floats(r, "scores/f1");
    let f1_score = floats(r, "f1_score");
    let id = |i: usize| d.ids[i].as_str();
    let last_of = |i: usize, path: &str| d.series(i, path).map(|p| last(p));
    let n = d.ids.len();
    // Each example must have answers, and (where the query can be false) not every run.
    let check = |what: &str, hits: Vec<&str>| {
        assert!(!hits.is_empty(), "no run for {what}");
        assert!(hits.len() < n, "every run matches {what}");
        hits.len()
    };

    check(
        "tags CONTAINS some-tag AND f1 >= 0.85",
        d.select(|i| has_tag(i, "some-tag") && some(&f1, i, |x| x >= 0.85)),
    );
    check(
        "scores/f1 >= 0.60",
        d.select(|i| some(&scores_f1, i, |x| x >= 0.60)),
    );
    check("tags CONTAINS my tag", d.select(|i| has_tag(i, "my tag")));
    check(
        "average(accuracy) > 0.8",
        d.select(|i| {
            d.series(i, "accuracy")
                .is_some_and(|p| p.iter().map(|x| x.1).sum::<f64>() / p.len() as f64 > 0.8)
        }),
    );
    check(
        "last(metrics/acc) >= 0.85 AND learning_rate = 0.002",
        d.select(|i| last_of(i, "metrics/acc").is_some_and(|x| x >= 0.85) && lr[i] == Some(0.002)),
    );
    let blobfish = |i: usize| name[i].as_ref().unwrap().contains("blobfish");
    check("name NOT CONTAINS blobfish", d.select(|i| !blobfish(i)));
    check("blobfish runs", d.select(blobfish));
    check(
        "failed blobfish runs",
        d.select(|i| blobfish(i) && failed[i] == Some(true)),
    );
    check(
        "NOT (blobfish AND failed), among blobfish",
        d.select(|i| blobfish(i) && failed[i] != Some(true)),
    );
    check(
        "last(metrics/accuracy) >= 0.80",
        d.select(|i| last_of(i, "metrics/accuracy").is_some_and(|x| x >= 0.8)),
    );
    check(
        "size_MB <= 50 AND test/acc > 0.90",
        d.select(|i| some(&size_mb, i, |x| x <= 50.0) && some(&test_acc, i, |x| x > 0.90)),
    );
    assert!(size_mb.iter().any(|x| x.unwrap() > 50.0));
    check(
        "owner = jackie AND tags CONTAINS exploration",
        d.select(|i| owner[i].as_deref() == Some("jackie") && has_tag(i, "exploration")),
    );
    check(
        "created > 2024-01-01 AND failed",
        d.select(|i| some(&created, i, |t| t > micros("2024-01-01T00:00:00Z")) && failed[i] == Some(true)),
    );
    check("f1_score < 0.50", d.select(|i| some(&f1_score, i, |x| x < 0.5)));
    assert!(name.iter().any(|x| x.as_deref() == Some("cunning-blobfish")));
    assert_eq!(name[41].as_deref(), Some("cunning-blobfish"));
    check(
        "stdout CONTAINS error",
        d.select(|i| {
            d.last_log
                .get(&(id(i).to_string(), "my_monitoring_namespace/stdout".into()))
                .is_some_and(|l| l.contains("error"))
        }),
    );
    for tag in ["tag-name", "tag1", "tag2", "some-tag", "exploration"] {
        check(tag, d.select(|i| has_tag(i, tag)));
    }
    check(
        "tag1 AND tag2",
        d.select(|i| has_tag(i, "tag1") && has_tag(i, "tag2")),
    );
    check(
        "ping > 2024-02-06T05:00:00Z",
        d.select(|i| some(&ping, i, |t| t > micros("2024-02-06T05:00:00Z"))),
    );
    check(
        "ping > 2024-02-06T05:00:00+09:00",
        d.select(|i| some(&ping, i, |t| t > micros("2024-02-06T05:00:00+09:00"))),
    );
    check(
        "created < 2025-10-01 (-3M from early 2026)",
        d.select(|i| some(&created, i, |t| t < micros("2025-10-01T00:00:00Z"))),
    );
    assert!(
        created
            .iter()
            .all(|t| (micros("2024-01-01T00:00:00Z")..micros("2026-01-01T00:00:00Z")).contains(&t.unwrap()))
    );
    check(
        "description = test run on new data",
        d.select(|i| description[i].as_deref() == Some("test run on new data")),
    );
    check(
        "description CONTAINS new data",
        d.select(|i| description[i].as_ref().unwrap().contains("new data")),
    );
    for wanted in ["NLI-345", "NLI-35", "NLI-36", "NLI-1", "NLI-2000"] {
        assert!(d.ids.iter().any(|x| x == wanted), "{wanted}");
    }
    check(
        "owner = jackie",
        d.select(|i| owner[i].as_deref() == Some("jackie")),
    );
    check(
        "owner CONTAINS @ml-team",
        d.select(|i| owner[i].as_ref().unwrap().contains("@ml-team")),
    );
    check("size > 100MB", d.select(|i| some(&size, i, |s| s > 100_000_000)));
    check(
        "size > 100MB, trashed",
        d.select(|i| some(&size, i, |s| s > 100_000_000) && trashed[i] == Some(true)),
    );
    check(
        "size > 100MB, not trashed",
        d.select(|i| some(&size, i, |s| s > 100_000_000) && trashed[i] == Some(false)),
    );
    check("size > 10MB", d.select(|i| some(&size, i, |s| s > 10_000_000)));
    check("size > 800kb", d.select(|i| some(&size, i, |s| s > 800_000)));
    check(
        "state = inactive",
        d.select(|i| state[i].as_deref() == Some("inactive")),
    );
    check(
        "state = active",
        d.select(|i| state[i].as_deref() == Some("active")),
    );
    check("failed = True", d.select(|i| failed[i] == Some(true)));
    check(
        "dataset_version = 9a113b...",
        d.select(|i| artifact[i].as_deref() == Some(demo::DATASET_HASH)),
    );
    // The series the page names exist as float series, and logs as string series.
    for path in [
        "metrics/acc",
        "metrics/accuracy",
        "accuracy",
        "metrics/loss",
        "val/loss",
    ] {
        assert!(d.floats.keys().any(|(_, p)| p == path), "{path}");
    }
    assert!(
        d.floats.values().any(|p| p.iter().any(|x| x.1.is_nan())),
        "a NaN point somewhere"
    );
}
