//! `nql serve`: the JSON API and the page, through the real binary on the demo project.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A running `nql serve` on a free port, stopped when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cache = crate::scratch_dir(&format!("serve-cache-{n}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_nql"))
            .args(["serve", "--port", "0"])
            .args(args)
            .env("XDG_CACHE_HOME", cache)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        assert!(
            line.contains("127.0.0.1") && line.contains("this machine only"),
            "{line}"
        );
        Server {
            child,
            base: url.trim_end_matches('/').to_string(),
        }
    }

    /// GET `path` with `params`: the status and the body as JSON.
    fn get(&self, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let (status, text) = self.get_text(path, params);
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
        )
    }

    /// GET `path` with `params`: the status, the content type and the body.
    fn get_bytes(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> (u16, String, Vec<u8>, ureq::http::HeaderMap) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut request = agent.get(format!("{}{path}", self.base));
        for (k, v) in params {
            request = request.query(*k, *v);
        }
        let mut response = request.call().unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let kind = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, kind, response.body_mut().read_to_vec().unwrap(), headers)
    }

    fn get_text(&self, path: &str, params: &[(&str, &str)]) -> (u16, String) {
        let (status, _, body, _) = self.get_bytes(path, params);
        (status, String::from_utf8(body).expect("a UTF-8 body"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ids(body: &Value) -> Vec<String> {
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sys/id"].as_str().unwrap().to_string())
        .collect()
}

/// What `nql query` answers for `query` on the demo project, in order.
fn cli_ids(extra: &[&str], query: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_nql"))
        .args(["query", "--columns", "sys/id", "--format", "csv"])
        .args(extra)
        .args(["--", query])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(String::from)
        .collect()
}

#[test]
fn the_api_answers_as_the_command_line_does() {
    let server = Server::start(&[]);
    let (status, page) = server.get_text("/", &[]);
    assert_eq!(status, 200);
    assert!(page.contains("<title>nql</title>") && page.contains("/api/query"));

    let (status, schema) = server.get("/api/schema", &[]);
    assert_eq!(status, 200);
    assert_eq!(schema["tables"]["runs"]["count"], 2000);
    let runs = schema["tables"]["runs"]["attributes"].as_array().unwrap();
    assert!(
        runs.iter()
            .any(|a| a["path"] == "metrics/acc" && a["type"] == "floatSeries")
    );

    // Pages of a query put together are what `nql query` prints, in its order.
    let query = "last(`metrics/acc`):float >= 0.5";
    let expected = cli_ids(&["--sort-by", "metrics/acc"], query);
    assert!(expected.len() > 250, "several pages: {}", expected.len());
    let mut pages = Vec::new();
    let mut offset = 0;
    loop {
        let o = offset.to_string();
        let (status, body) = server.get(
            "/api/query",
            &[
                ("q", query),
                ("sort_by", "metrics/acc"),
                ("columns", "metrics/acc"),
                ("offset", &o),
                ("limit", "100"),
            ],
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["count"].as_u64().unwrap() as usize, expected.len());
        assert_eq!(body["columns"], serde_json::json!(["sys/id", "metrics/acc"]));
        let page = ids(&body);
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 100);
        offset += page.len();
        pages.extend(page);
    }
    assert_eq!(pages, expected);
    // Ascending, trashed only.
    let (_, body) = server.get(
        "/api/query",
        &[
            ("q", ""),
            ("sort_by", "sys/size"),
            ("ascending", "true"),
            ("trashed", "only"),
            ("limit", "1000"),
        ],
    );
    assert_eq!(
        ids(&body),
        cli_ids(&["--sort-by", "sys/size", "--ascending", "--trashed", "only"], "")
    );
}

#[test]
fn bad_requests_are_400s_that_say_what_is_wrong() {
    let server = Server::start(&[]);
    let (status, body) = server.get("/api/check", &[("q", "`params/lr`:float CONTAINS 0.5")]);
    assert_eq!(status, 400);
    let d = &body["diagnostics"][0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["code"], "nql::operator");
    assert!(d["start"].as_u64() < d["end"].as_u64());
    assert!(body["rendered"].as_str().unwrap().contains("CONTAINS"));
    let (status, body) = server.get("/api/check", &[("q", "`nosuch`:float > 1")]);
    assert_eq!(status, 200);
    assert_eq!(body["diagnostics"][0]["severity"], "warning");
    assert!(
        body["canonical"]
            .as_str()
            .unwrap()
            .starts_with("`nosuch`:float > 1"),
        "{body}"
    );
    let (status, _) = server.get("/api/query", &[("q", "((")]);
    assert_eq!(status, 400);
    let (status, body) = server.get("/api/query", &[("q", ""), ("columns", "no/such")]);
    assert_eq!(status, 400, "{body}");
    let (status, _) = server.get("/api/query", &[("q", ""), ("trashed", "maybe")]);
    assert_eq!(status, 400);
    let (status, _) = server.get("/api/query", &[("q", ""), ("table", "nope")]);
    assert_eq!(status, 400);
    let long = "x".repeat(20_000);
    let (status, _) = server.get("/api/check", &[("q", &long)]);
    assert_eq!(status, 400);
    let (status, _) = server.get("/api/series", &[("ids", ""), ("path", "metrics/acc")]);
    assert_eq!(status, 400);
    // Nothing outside the API and the page is served.
    for path in ["/../../etc/passwd", "/api/../../Cargo.toml", "/index.html"] {
        assert_eq!(server.get_text(path, &[]).0, 404, "{path}");
    }
    // A page is at most 1,000 rows.
    let (_, body) = server.get("/api/query", &[("q", ""), ("limit", "5000"), ("trashed", "all")]);
    assert_eq!(body["rows"].as_array().unwrap().len(), 1000);
    assert_eq!(body["count"], 2000);
}

#[test]
fn series_come_downsampled_with_their_extremes() {
    let server = Server::start(&[]);
    let (_, top) = server.get(
        "/api/query",
        &[
            ("q", "`metrics/acc`:floatSeries EXISTS"),
            ("columns", "metrics/acc"),
            ("limit", "2"),
        ],
    );
    let two = ids(&top);
    assert_eq!(two.len(), 2);
    let joined = two.join(",");
    let (status, full) = server.get(
        "/api/series",
        &[("ids", &joined), ("path", "metrics/acc"), ("width", "10000")],
    );
    assert_eq!(status, 200, "{full}");
    let (_, small) = server.get(
        "/api/series",
        &[("ids", &joined), ("path", "metrics/acc"), ("width", "10")],
    );
    for (f, s) in full["series"]
        .as_array()
        .unwrap()
        .iter()
        .zip(small["series"].as_array().unwrap())
    {
        let all: Vec<(f64, f64)> = f["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
            .collect();
        assert_eq!(f["count"].as_u64().unwrap() as usize, all.len());
        assert!(all.len() > 10, "{}", all.len());
        let kept: Vec<(f64, f64)> = s["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
            .collect();
        assert!(kept.len() <= 10 && kept.len() >= 2);
        assert!(kept.iter().all(|p| all.contains(p)));
        let max = all.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        let min = all.iter().map(|p| p.1).fold(f64::MAX, f64::min);
        assert!(kept.iter().any(|p| p.1 == max) && kept.iter().any(|p| p.1 == min));
    }
}

/// A step range (a zoomed chart) gets the points of those steps, downsampled among them only.
#[test]
fn a_step_range_downsamples_only_the_steps_in_it() {
    let server = Server::start(&[]);
    let (_, top) = server.get(
        "/api/query",
        &[("q", "`metrics/acc`:floatSeries EXISTS"), ("limit", "1")],
    );
    let id = ids(&top).remove(0);
    let points = |params: &[(&str, &str)]| -> Vec<(f64, f64)> {
        let (status, body) = server.get(
            "/api/series",
            &[&[("ids", id.as_str()), ("path", "metrics/acc")][..], params].concat(),
        );
        assert_eq!(status, 200, "{body}");
        body["series"][0]["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
            .collect()
    };
    let all = points(&[("width", "10000")]);
    assert!(all.len() > 12, "{}", all.len());
    let (from, to) = (all[2].0, all[all.len() - 3].0);
    let (f, t) = (from.to_string(), to.to_string());
    let inside: Vec<(f64, f64)> = all.iter().copied().filter(|p| p.0 >= from && p.0 <= to).collect();
    assert_eq!(points(&[("width", "10000"), ("from", &f), ("to", &t)]), inside);
    let few = points(&[("width", "4"), ("from", &f), ("to", &t)]);
    assert!(
        few.len() <= 4 && few.iter().all(|p| inside.contains(p)),
        "{few:?}"
    );
    let highest = inside.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    assert!(few.iter().any(|p| p.1 == highest));
    let (status, _) = server.get_text(
        "/api/series",
        &[("ids", &id), ("path", "metrics/acc"), ("from", "x")],
    );
    assert_eq!(status, 400);
}

#[test]
fn many_requests_at_once_get_their_own_answers() {
    let server = Server::start(&[]);
    let queries: Vec<String> = (0..16)
        .map(|i| format!("`sys/size`:int > {}MB", i * 20))
        .collect();
    let expected: Vec<usize> = queries.iter().map(|q| cli_ids(&[], q).len()).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = queries
            .iter()
            .map(|q| {
                scope.spawn(|| {
                    server.get("/api/query", &[("q", q), ("limit", "1")]).1["count"]
                        .as_u64()
                        .unwrap() as usize
                })
            })
            .collect();
        let got: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(got, expected);
    });
}

#[test]
fn the_curves_of_a_neptune_export_come_from_its_files() {
    let export =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/neptune-export/v2-vision");
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(export.join("truth.json")).unwrap()).unwrap();
    // A run and a float series of it, with its number of points, as Neptune had them.
    let (id, path, count) = truth["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|run| {
            run["attributes"].as_array().unwrap().iter().find_map(|a| {
                (a["type"] == "float_series" || a["type"] == "floatSeries")
                    .then(|| {
                        a["count"].as_u64().map(|c| {
                            (
                                run["sys_id"].as_str().unwrap().to_string(),
                                a["path"].as_str().unwrap().to_string(),
                                c,
                            )
                        })
                    })
                    .flatten()
            })
        })
        .expect("a run with a float series in truth.json");
    let data = export.join("data");
    let server = Server::start(&["--data", data.to_str().unwrap()]);
    let (status, body) = server.get(
        "/api/series",
        &[("ids", &id), ("path", &path), ("width", "10000")],
    );
    assert_eq!(status, 200, "{body}");
    let points = body["series"][0]["points"].as_array().unwrap().len() as u64;
    // NaN points are not drawn: at most the series' count, and some.
    assert!(points > 0 && points <= count, "{points} of {count}");
}

/// The batches of an Arrow IPC stream.
fn arrow_batches(body: &[u8]) -> Vec<datafusion::arrow::array::RecordBatch> {
    datafusion::arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn results_come_as_arrow_ipc_when_asked() {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float64Type;
    let server = Server::start(&[]);
    let query = [
        ("q", "`params/lr`:float > 0.001"),
        ("columns", "params/lr"),
        ("offset", "3"),
    ];
    let (_, json) = server.get("/api/query", &[&query[..], &[("limit", "1000")]].concat());
    let (status, kind, body, headers) = server.get_bytes(
        "/api/query",
        &[&query[..], &[("limit", "2000"), ("format", "arrow")]].concat(),
    );
    assert_eq!(
        (status, kind.as_str()),
        (200, "application/vnd.apache.arrow.stream")
    );
    assert_eq!(
        headers["x-nql-count"].to_str().unwrap(),
        json["count"].to_string()
    );
    assert_eq!(headers["x-nql-offset"].to_str().unwrap(), "3");
    let batches = arrow_batches(&body);
    let arrow_ids: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let ids = datafusion::arrow::compute::cast(
                b.column_by_name("sys/id").unwrap(),
                &datafusion::arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            let ids = ids.as_string::<i32>().clone();
            (0..ids.len()).map(move |r| ids.value(r).to_string())
        })
        .collect();
    // An Arrow page may be longer than a JSON one (1,000 rows at most).
    let count = json["count"].as_u64().unwrap() as usize;
    assert_eq!(arrow_ids.len(), (count - 3).min(2000));
    assert_eq!(arrow_ids[..ids(&json).len()], ids(&json)[..]);

    let (_, top) = server.get(
        "/api/query",
        &[("q", "`metrics/acc`:floatSeries EXISTS"), ("limit", "2")],
    );
    let joined = ids(&top).join(",");
    let series = [("ids", joined.as_str()), ("path", "metrics/acc"), ("width", "10")];
    let (_, json) = server.get("/api/series", &series);
    let (status, _, body, _) =
        server.get_bytes("/api/series", &[&series[..], &[("format", "arrow")]].concat());
    assert_eq!(status, 200);
    let batch = &arrow_batches(&body)[0];
    let (steps, values) = (
        batch.column(1).as_primitive::<Float64Type>(),
        batch.column(2).as_primitive::<Float64Type>(),
    );
    let mut row = 0;
    for s in json["series"].as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        assert_eq!(
            batch.schema().metadata()[&format!("count:{id}")],
            s["count"].to_string()
        );
        for p in s["points"].as_array().unwrap() {
            assert_eq!(batch.column(0).as_string::<i32>().value(row), id);
            // (serde_json reads floats to within an ulp.)
            let close = |a: f64, b: f64| (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(1.0);
            assert_eq!(steps.value(row), p[0].as_f64().unwrap());
            assert!(
                close(values.value(row), p[1].as_f64().unwrap()),
                "{p} at row {row}"
            );
            row += 1;
        }
    }
    assert_eq!(row, batch.num_rows());
    let (status, bad) = server.get("/api/query", &[("q", ""), ("format", "xml")]);
    assert_eq!(status, 400);
    assert!(bad["error"].as_str().unwrap().contains("xml"), "{bad}");
}
