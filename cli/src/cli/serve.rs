//! `nql serve`: the runs table and learning curves in the browser. One project, opened once,
//! behind a JSON API and a single page that ships inside the binary (`serve/page.html`: no
//! CDN, no file is ever read from disk to answer a request).
//!
//! ```text
//! GET /                  the page
//! GET /api/schema        what the project is, and every table's attributes
//! GET /api/check?q=      the canonical form and warnings, or 400 with the diagnostics
//! GET /api/query?q=&table=&columns=&sort_by=&ascending=&trashed=&model=&offset=&limit=
//!                        a page of the matching objects and how many match
//! GET /api/series?ids=&path=&width=&table=
//!                        the points of a float series of some objects, downsampled to
//!                        `width` points per object (min and max of each step bucket)
//! ```
//!
//! Bounds: a query text of at most 16 KiB (it travels in the URL), pages of at most 1,000 rows, 100 objects and
//! 10,000 points per series request; every query stops after [`QUERY_TIMEOUT`]. A bad query
//! or option is a 400 whose body says what is wrong.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datasets::layout::{ID_COLUMN, ObjectKind, STEP_COLUMN, SeriesKind, VALUE_COLUMN};
use engine::{Engine, FetchOptions, QueryError, SeriesRequest, Trashed};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Failure;

/// The page, with its script and styles.
const PAGE: &str = include_str!("serve/page.html");
/// How long any one request may compute.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_QUERY_BYTES: usize = 16 * 1024;
const MAX_PAGE_ROWS: usize = 1_000;
const MAX_SERIES_OBJECTS: usize = 100;
const MAX_SERIES_WIDTH: usize = 10_000;

/// Serves `engine` on `addr` until the process is stopped. `ready` is told the address bound
/// (the port chosen when `addr` asks for port 0).
pub(crate) async fn run(
    engine: Engine,
    addr: SocketAddr,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::Other(format!("error: cannot listen on {addr}: {e}\n")))?;
    let bound = listener.local_addr().map_err(Failure::from)?;
    ready(bound);
    axum::serve(listener, router(Arc::new(engine)))
        .await
        .map_err(|e| Failure::Other(format!("error: serving: {e}\n")))
}

fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/schema", get(schema))
        .route("/api/check", get(check))
        .route("/api/query", get(query))
        .route("/api/series", get(series))
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "no such page".into()) })
        .with_state(engine)
}

/// A JSON error: `{"error": message}` with `status`.
fn problem(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

fn bad(message: impl Into<String>) -> Response {
    problem(StatusCode::BAD_REQUEST, message.into())
}

/// A request that cannot be answered: its status and why.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        problem(self.0, self.1)
    }
}

/// The diagnostics of `query` as JSON, with character offsets (what a page's text box counts).
fn diagnostics_json(query: &str, diagnostics: &[nql::Diagnostic]) -> Vec<Value> {
    let chars = |byte: usize| {
        query
            .get(..byte.min(query.len()))
            .map_or(0, |s| s.chars().count())
    };
    diagnostics
        .iter()
        .map(|d| {
            json!({
                "severity": if d.is_error() { "error" } else { "warning" },
                "code": d.kind.code(),
                "message": d.kind.to_string(),
                "label": d.label,
                "help": d.help,
                "start": chars(d.span.start),
                "end": chars(d.span.end),
                "rendered": d.render(query, false),
            })
        })
        .collect()
}

/// A query's error as a response: what the caller asked wrong is a 400.
fn query_problem(query: &str, e: QueryError) -> Response {
    match e {
        QueryError::Invalid { diagnostics, .. } => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({
                "error": "invalid query",
                "rendered": diagnostics.render(query, false),
                "diagnostics": diagnostics_json(query, &diagnostics.0),
            })),
        )
            .into_response(),
        e if e.is_user_error() => bad(e.to_string()),
        QueryError::TimedOut { .. } => problem(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        e => problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn table_of(name: Option<&str>) -> Result<ObjectKind, ApiError> {
    let name = name.unwrap_or("runs");
    ObjectKind::from_table_name(name)
        .ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, format!("no table {name:?}")))
}

async fn schema(State(engine): State<Arc<Engine>>) -> Response {
    let mut tables = serde_json::Map::new();
    for kind in engine.tables() {
        let attributes: Vec<Value> = engine
            .attributes(kind)
            .unwrap_or_default()
            .into_iter()
            .map(|a| json!({ "path": a.path, "type": a.ty.name(), "count": a.count }))
            .collect();
        let count = engine.num_objects(kind).unwrap_or(0);
        tables.insert(
            kind.table_name().to_string(),
            json!({ "count": count, "attributes": attributes }),
        );
    }
    axum::Json(json!({ "kind": engine.kind(), "tables": tables })).into_response()
}

#[derive(Debug, Deserialize)]
struct CheckParams {
    #[serde(default)]
    q: String,
    table: Option<String>,
}

async fn check(State(engine): State<Arc<Engine>>, Query(p): Query<CheckParams>) -> Response {
    if p.q.len() > MAX_QUERY_BYTES {
        return bad(format!("a query of at most {MAX_QUERY_BYTES} bytes"));
    }
    let kind = match table_of(p.table.as_deref()) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    match engine.check(kind, &p.q, &FetchOptions::default()) {
        Ok(checked) => axum::Json(json!({
            "canonical": checked.predicate.as_ref().map(|p| p.to_string()).unwrap_or_default(),
            "diagnostics": diagnostics_json(&p.q, &checked.warnings),
        }))
        .into_response(),
        Err(e) => query_problem(&p.q, e),
    }
}

#[derive(Debug, Deserialize)]
struct QueryParams {
    #[serde(default)]
    q: String,
    table: Option<String>,
    /// Comma-separated; absent: every attribute.
    columns: Option<String>,
    sort_by: Option<String>,
    #[serde(default)]
    ascending: bool,
    trashed: Option<String>,
    model: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

async fn query(State(engine): State<Arc<Engine>>, Query(p): Query<QueryParams>) -> Response {
    if p.q.len() > MAX_QUERY_BYTES {
        return bad(format!("a query of at most {MAX_QUERY_BYTES} bytes"));
    }
    let kind = match table_of(p.table.as_deref()) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let trashed: Trashed = match p.trashed.as_deref().unwrap_or("exclude").parse() {
        Ok(t) => t,
        Err(e) => return bad(format!("trashed: {e}")),
    };
    let limit = p.limit.unwrap_or(100).min(MAX_PAGE_ROWS);
    let options = FetchOptions {
        columns: p.columns.as_ref().map(|c| {
            c.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        }),
        sort_by: p.sort_by.clone().filter(|s| !s.is_empty()),
        ascending: p.ascending,
        trashed,
        timeout: Some(QUERY_TIMEOUT),
        ..FetchOptions::default()
    };
    let result = match engine.fetch(kind, &p.q, &options, p.model.as_deref()).await {
        Ok(r) => r,
        Err(e) => return query_problem(&p.q, e),
    };
    let count = result.num_rows();
    let all = match concat_batches(&result.schema, &result.batches) {
        Ok(b) => b,
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let start = p.offset.min(count);
    let page = all.slice(start, limit.min(count - start));
    let rows = match rows_json(&page) {
        Ok(r) => r,
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let columns: Vec<&str> = result.schema.fields().iter().map(|f| f.name().as_str()).collect();
    let body = format!(
        r#"{{"count":{count},"offset":{start},"columns":{},"warnings":{},"rows":{rows}}}"#,
        serde_json::to_string(&columns).unwrap_or_default(),
        Value::from(diagnostics_json(&p.q, &result.warnings)),
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The rows of `batch` as a JSON array of objects (missing values left out; NaN and
/// infinities, which JSON cannot hold, as null).
fn rows_json(batch: &RecordBatch) -> Result<String, String> {
    let mut out = Vec::new();
    {
        let mut writer = datafusion::arrow::json::ArrayWriter::new(&mut out);
        writer.write(batch).map_err(|e| e.to_string())?;
        writer.finish().map_err(|e| e.to_string())?;
    }
    let text = String::from_utf8(out).map_err(|e| e.to_string())?;
    Ok(if text.is_empty() { "[]".into() } else { text })
}

#[derive(Debug, Deserialize)]
struct SeriesParams {
    /// Comma-separated `sys/id`s.
    ids: String,
    path: String,
    width: Option<usize>,
    table: Option<String>,
}

async fn series(State(engine): State<Arc<Engine>>, Query(p): Query<SeriesParams>) -> Response {
    let ids: Vec<&str> = p
        .ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() || ids.len() > MAX_SERIES_OBJECTS {
        return bad(format!("between 1 and {MAX_SERIES_OBJECTS} ids"));
    }
    let width = p.width.unwrap_or(1_000).clamp(2, MAX_SERIES_WIDTH);
    let table = match table_of(p.table.as_deref()) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let points = match points(&engine, table, &ids, &p.path).await {
        Ok(points) => points,
        Err(e) => return e.into_response(),
    };
    let series: Vec<Value> = ids
        .iter()
        .map(|id| {
            let all = points.get(*id).map(Vec::as_slice).unwrap_or_default();
            let kept = downsample(all, width);
            json!({
                "id": id,
                "count": all.len(),
                "points": kept.iter().map(|(s, v)| json!([s, v])).collect::<Vec<_>>(),
            })
        })
        .collect();
    axum::Json(json!({ "path": p.path, "width": width, "series": series })).into_response()
}

/// The points (step, value) of float series `path` of each of `ids` (objects of `table`), in
/// step order, through [`Engine::series`] (any source); NaN and infinite values are left out
/// (a chart cannot draw them).
async fn points(
    engine: &Engine,
    table: ObjectKind,
    ids: &[&str],
    path: &str,
) -> Result<std::collections::HashMap<String, Vec<(f64, f64)>>, ApiError> {
    let internal =
        |e: datafusion::arrow::error::ArrowError| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let request = SeriesRequest {
        ids: Some(ids.iter().map(|i| i.to_string()).collect()),
        paths: Some(vec![path.to_string()]),
        timeout: Some(QUERY_TIMEOUT),
        ..SeriesRequest::new(table, SeriesKind::Float)
    };
    let batches = engine
        .series(&request)
        .await
        .map_err(|e| {
            let status = if e.is_user_error() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            ApiError(status, e.to_string())
        })?
        .batches;
    let mut out: std::collections::HashMap<String, Vec<(f64, f64)>> = std::collections::HashMap::new();
    for batch in &batches {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("no column {name}")))
        };
        let ids = cast(&column(ID_COLUMN)?, &DataType::Utf8).map_err(internal)?;
        let steps = cast(&column(STEP_COLUMN)?, &DataType::Float64).map_err(internal)?;
        let values = cast(&column(VALUE_COLUMN)?, &DataType::Float64).map_err(internal)?;
        let (ids, steps, values) = (
            ids.as_string::<i32>(),
            steps.as_primitive::<Float64Type>(),
            values.as_primitive::<Float64Type>(),
        );
        for r in 0..batch.num_rows() {
            if ids.is_null(r) || steps.is_null(r) || values.is_null(r) {
                continue;
            }
            let (step, value) = (steps.value(r), values.value(r));
            if !(step.is_finite() && value.is_finite()) {
                continue;
            }
            let id = ids.value(r);
            match out.get_mut(id) {
                Some(points) => points.push((step, value)),
                None => {
                    out.insert(id.to_string(), vec![(step, value)]);
                }
            }
        }
    }
    // In step order: `Engine::series` sorts each series by step.
    Ok(out)
}

/// At most `width` of `points` (sorted by step), keeping the shape: the steps are cut into
/// `width / 2` equal buckets and each keeps its lowest and its highest point, in step order,
/// so every extreme survives.
fn downsample(points: &[(f64, f64)], width: usize) -> Vec<(f64, f64)> {
    if points.len() <= width {
        return points.to_vec();
    }
    let buckets = (width / 2).max(1);
    let (first, last) = (points[0].0, points[points.len() - 1].0);
    let span = last - first;
    let mut out = Vec::with_capacity(buckets * 2);
    let mut i = 0;
    for b in 0..buckets {
        let end_step = first + span * (b + 1) as f64 / buckets as f64;
        let start = i;
        while i < points.len() && (points[i].0 <= end_step || b + 1 == buckets) {
            i += 1;
        }
        let bucket = &points[start..i];
        if bucket.is_empty() {
            continue;
        }
        let lowest = bucket
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.1.total_cmp(&b.1.1))
            .map(|(k, _)| k)
            .unwrap_or(0);
        let highest = bucket
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.1.total_cmp(&b.1.1))
            .map(|(k, _)| k)
            .unwrap_or(0);
        let (a, b) = (lowest.min(highest), lowest.max(highest));
        out.push(bucket[a]);
        if b != a {
            out.push(bucket[b]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::downsample;

    #[test]
    fn downsampling_keeps_every_extreme_and_at_most_width_points() {
        let points: Vec<(f64, f64)> = (0..10_000)
            .map(|i| (i as f64, ((i as f64) / 37.0).sin() * (i % 101) as f64))
            .collect();
        let kept = downsample(&points, 200);
        assert!(kept.len() <= 200, "{}", kept.len());
        assert!(kept.windows(2).all(|w| w[0].0 <= w[1].0), "in step order");
        let max = points.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        let min = points.iter().map(|p| p.1).fold(f64::MAX, f64::min);
        assert!(kept.iter().any(|p| p.1 == max) && kept.iter().any(|p| p.1 == min));
        assert!(kept.iter().all(|p| points.contains(p)), "only real points");
        assert_eq!(downsample(&points[..50], 200), points[..50].to_vec());
    }
}
