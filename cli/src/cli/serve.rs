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
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::ipc::writer::StreamWriter;
use datasets::layout::{ObjectKind, SeriesKind};
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
/// Pages in Arrow IPC (`format=arrow`) may be larger: they cost no JSON.
const MAX_ARROW_PAGE_ROWS: usize = 100_000;
const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";
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
    format: Option<String>,
}

/// How a response is encoded: JSON (the default) or an Arrow IPC stream (`format=arrow`).
fn wants_arrow(format: Option<&str>) -> Result<bool, ApiError> {
    match format.unwrap_or("json") {
        "json" => Ok(false),
        "arrow" => Ok(true),
        other => Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("format: `{other}` is neither `json` nor `arrow`"),
        )),
    }
}

/// `batch` as an Arrow IPC stream, with `headers`.
fn arrow_response(batch: &RecordBatch, headers: Vec<(&'static str, String)>) -> Response {
    let mut body = Vec::new();
    let written = StreamWriter::try_new(&mut body, &batch.schema()).and_then(|mut writer| {
        writer.write(batch)?;
        writer.finish()
    });
    if let Err(e) = written {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    let mut response = ([(header::CONTENT_TYPE, ARROW_STREAM)], body).into_response();
    for (name, value) in headers {
        if let Ok(value) = header::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
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
    let arrow = match wants_arrow(p.format.as_deref()) {
        Ok(arrow) => arrow,
        Err(e) => return e.into_response(),
    };
    let limit = p
        .limit
        .unwrap_or(100)
        .min(if arrow { MAX_ARROW_PAGE_ROWS } else { MAX_PAGE_ROWS });
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
    if arrow {
        let headers = vec![
            ("x-nql-count", count.to_string()),
            ("x-nql-offset", start.to_string()),
        ];
        return arrow_response(&page, headers);
    }
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
    format: Option<String>,
    /// Only points with `from <= step <= to` (a zoomed chart).
    from: Option<f64>,
    to: Option<f64>,
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
    let arrow = match wants_arrow(p.format.as_deref()) {
        Ok(arrow) => arrow,
        Err(e) => return e.into_response(),
    };
    let table = match table_of(p.table.as_deref()) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let request = SeriesRequest {
        ids: Some(ids.iter().map(|i| i.to_string()).collect()),
        paths: Some(vec![p.path.clone()]),
        step_range: (p.from, p.to),
        timeout: Some(QUERY_TIMEOUT),
        ..SeriesRequest::new(table, SeriesKind::Float)
    };
    let curves = match engine.curves(&request, width).await {
        Ok(curves) => curves,
        Err(e) => {
            let status = if e.is_user_error() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            return ApiError(status, e.to_string()).into_response();
        }
    };
    // In the order of the request's ids, with none for an id without points.
    let ordered: Vec<(&str, Option<&engine::Curve>)> = ids
        .iter()
        .map(|id| (*id, curves.iter().find(|c| c.id == *id)))
        .collect();
    if arrow {
        return curves_arrow(&ordered, &p.path, width);
    }
    // Written as it goes: 100 curves of 10,000 points are a million pairs.
    #[derive(serde::Serialize)]
    struct Series<'a> {
        id: &'a str,
        count: usize,
        points: &'a [(f64, f64)],
    }
    #[derive(serde::Serialize)]
    struct Body<'a> {
        path: &'a str,
        width: usize,
        series: Vec<Series<'a>>,
    }
    let body = Body {
        path: &p.path,
        width,
        series: ordered
            .iter()
            .map(|(id, curve)| Series {
                id,
                count: curve.map_or(0, |c| c.points),
                points: curve.map_or(&[][..], |c| &c.kept[..]),
            })
            .collect(),
    };
    axum::Json(body).into_response()
}

/// Curves as an Arrow IPC stream: a row per point kept (`sys/id`, `step`, `value`, in the
/// order of the ids), each id's point count in the schema's metadata (`count:<id>`).
fn curves_arrow(curves: &[(&str, Option<&engine::Curve>)], path: &str, width: usize) -> Response {
    use datafusion::arrow::array::{Float64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let rows: Vec<(&str, (f64, f64))> = curves
        .iter()
        .filter_map(|(_, c)| *c)
        .flat_map(|c| c.kept.iter().map(move |p| (c.id.as_str(), *p)))
        .collect();
    let ids = StringArray::from(rows.iter().map(|(id, _)| *id).collect::<Vec<&str>>());
    let steps = Float64Array::from_iter_values(rows.iter().map(|(_, p)| p.0));
    let values = Float64Array::from_iter_values(rows.iter().map(|(_, p)| p.1));
    let metadata = curves
        .iter()
        .map(|(id, c)| (format!("count:{id}"), c.map_or(0, |c| c.points).to_string()))
        .chain([
            ("path".to_string(), path.to_string()),
            ("width".to_string(), width.to_string()),
        ])
        .collect();
    let schema = Schema::new(vec![
        Field::new("sys/id", DataType::Utf8, false),
        Field::new("step", DataType::Float64, false),
        Field::new("value", DataType::Float64, false),
    ])
    .with_metadata(metadata);
    match RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(ids), Arc::new(steps), Arc::new(values)],
    ) {
        Ok(batch) => arrow_response(&batch, Vec::new()),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
