#!/usr/bin/env python3
"""Our engine on the data users have: a Neptune export and an MLflow SQLite store, side by side
with DuckDB, SQLite and MLflow's own search.

    python3 benches/compare/sources.py [--write-docs]                       # full size
    python3 benches/compare/sources.py --export-runs 200 --mlflow-runs 500  # a smoke test

Re-runs itself inside benches/compare/.venv (created on first use with duckdb, pyarrow and
mlflow from PyPI; mlflow is installed into an existing venv that lacks it); builds nothing but
uses the release `nql` binary (--nql, else $CARGO_TARGET_DIR/release/nql, else
target/release/nql). Everything it writes goes under --data-root (default target/bench-data,
git-ignored), in `sources/`; progress goes to standard error.

The data (each written once and kept, `.complete` records how and how long it took):

  export   `nql generate --format neptune3 --runs 10000 --series 50 --points 1000 --full`
           (--export-runs/--series/--points): a neptune-exporter 3.x export written by the
           datasets export writer, 500 M float-series points in 10,000 run files (one file
           per run, the exporter's long format: a row per parameter and per series point).
  mlflow   an MLflow SQLite tracking store of 20,000 runs (--mlflow-runs). The first
           --mlflow-base-runs (200) are logged with MLflow's own client, as MLflow users log
           them: four experiments, runs created with tags and a name, params and tags with
           log_batch, then per training step a log_batch of `loss`, `accuracy` and `lr`,
           `val_loss` every fifth step with log_metric (20 steps), set_terminated as FINISHED,
           FAILED or KILLED, a few runs deleted. The other runs are replicated from those with
           plain SQL INSERTs into the same tables (runs, params, tags, metrics, latest_metrics)
           and the same shape MLflow writes: a fresh random run_uuid, a new name, shifted
           times, new draws of lr, batch_size, optimizer and the team tag, the metric values
           scaled per run, latest_metrics recomputed as MLflow keeps it (greatest step, then
           timestamp, then value). The script then checks with mlflow.search_runs that MLflow
           reads every run, and with get_run and get_metric_history that a replicated run
           reads as logged. No NaN metric is logged, so SQL needs no is_nan handling.

What is measured, for each source:

  first    the first query on a store without an index: `nql query` of one series-aggregate
           query (average of a series) with XDG_CACHE_HOME pointed at an empty directory
           (foreign sources keep their index in the user's cache, so the query builds it);
           wall time around the process and peak resident memory (GNU time's %M, else
           wait4). Against the median time of the same question asked of DuckDB over the
           export's Parquet files (SQLite for the MLflow store, see below) one-shot.
  index    `nql index` into the benchmark's own cache directory (timed), which the warm
           queries then use.
  oneshot  a handful of queries, each asked of every tool: ours a fresh `nql query --data
           SOURCE --columns sys/id --format csv` process per query (wall time around the
           process); DuckDB a fresh duckdb.connect() per query with a view over
           read_parquet() of the export's files and hand-written SQL over its long format;
           for the MLflow store, a fresh read-only sqlite3 connection per query with
           hand-written SQL over MLflow's tables (DuckDB's sqlite scanner is an extension that
           DuckDB downloads from its own site, which this machine cannot reach, and PyPI's
           packaged extensions are built for DuckDB 1.x, not the 2.x here); and for the
           filters MLflow can express, mlflow.search_runs(filter_string=...) over a copy of
           the store (so that nothing MLflow does can touch the file our index covers) in a
           warm Python process (MLflow imported and one search made before timing). DuckDB,
           SQLite and MLflow run in worker processes driven a query at a time and are timed
           inside them (interpreter start-up and imports excluded). Per query: a warm-up round
           (each tool once; it warms the page cache for all), then --reps rounds in which the
           tools take turns, and each tool's median.

Every tool returns run ids: ours `sys/id` (the export's `sys/id` attribute, which the SQL
reads from the export's `sys/id` rows; the MLflow run_uuid, which SQLite and MLflow return as
run_uuid and run_id). The script checks that all tools return the same set of ids for every
query and reports any mismatch loudly (MISMATCH on standard error, "NO" in the tables). The
SQL follows NQL's rules: a clause on a missing value is false and NOT negates that (every
clause is an `id IN (subquery)` with no NULL ids), trashed runs are left out (`sys/trashed`
rows in the export; deleted runs and experiments in MLflow, as search_runs' ACTIVE_ONLY),
a null float_value with a timestamp is a NaN point (the exporter writes NaN so), `last` is the
value at the greatest step (then timestamp, then value).

Prints a table, writes sources/result.json, and with --write-docs writes the section "Neptune
exports and MLflow stores" at the end of docs/benchmarks.md (after the hand-written part that
compare.py keeps, so that compare.py's regeneration keeps it too).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import compare  # the worker protocol and helpers shared with compare.py, beside this file

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VENV = HERE / ".venv"
PACKAGES = ["duckdb", "pyarrow", "mlflow"]
GNU_TIME = Path("/usr/bin/time")
NOW_RFC3339 = "2025-01-15T00:00:00Z"
DOC_BEGIN = "<!-- sources.py writes the section below; everything above it is compare.py's or by hand. -->"
DOC_END = "<!-- end of the section written by sources.py -->"

# ---------------------------------------------------------------------------------------------
# The questions. Each: name, kind (plain or series), NQL, SQL condition (over the runs of the
# source), MLflow filter (or None where MLflow cannot say it).
#
# Export SQL: `ex` is a view over every part file of the export; `i` is the run (its run_id
# and its sys/id). P() and S() give `i.run_id IN (...)` clauses.
# ---------------------------------------------------------------------------------------------


def xp(path: str, typ: str, pred: str) -> str:
    """The export's runs whose attribute `path` of `attribute_type` `typ` satisfies `pred` (a
    phantom row's null value satisfies nothing)."""
    return (f"i.run_id IN (SELECT run_id FROM ex WHERE attribute_path = '{path}' "
            f"AND attribute_type = '{typ}' AND step IS NULL AND {pred})")


# A point's value: a null float_value with a timestamp is a NaN point.
XV = "coalesce(float_value, 'NaN'::DOUBLE)"
XAGG = {
    "last": f'arg_max({XV}, (step, "timestamp", {XV}))',
    "average": f"avg({XV})",
    "max": f"max({XV})",
    "min": f"min({XV})",
}


def xs(agg: str, path: str, op: str, value) -> str:
    """The export's runs whose `agg` of float series `path` satisfies `op value`."""
    return (f"i.run_id IN (SELECT run_id FROM ex WHERE attribute_path = '{path}' "
            f"AND attribute_type = 'float_series' AND step IS NOT NULL "
            f'AND (float_value IS NOT NULL OR "timestamp" IS NOT NULL) '
            f"GROUP BY run_id HAVING {XAGG[agg]} {op} {value!r})")


EXPORT_QUERIES = [
    ("param_cmp", "plain", "`config/lr`:float > 0.001", xp("config/lr", "float", "float_value > 0.001")),
    ("string_eq", "plain", '`config/optimizer`:string = "sgd"',
     xp("config/optimizer", "string", "string_value = 'sgd'")),
    ("tags_contains", "plain", '`sys/tags`:stringSet CONTAINS "baseline"',
     xp("sys/tags", "string_set", "list_contains(string_set_value, 'baseline')")),
    ("last_agg", "series", "last(`metrics/accuracy`):float > 0.9", xs("last", "metrics/accuracy", ">", 0.9)),
    ("average_agg", "series", "average(`metrics/loss`:floatSeries) < 0.5",
     xs("average", "metrics/loss", "<", 0.5)),
    ("max_agg", "series", "max(`val/loss`):float > 2.4", xs("max", "val/loss", ">", 2.4)),
    ("and_mixed", "series", '`config/optimizer`:string = "adam" AND last(`metrics/accuracy`):float > 0.8',
     xp("config/optimizer", "string", "string_value = 'adam'") + " AND " + xs("last", "metrics/accuracy", ">", 0.8)),
    ("not_of_or", "plain", 'NOT (`sys/tags`:stringSet CONTAINS "baseline" OR `config/lr`:float > 0.001)',
     "NOT (" + xp("sys/tags", "string_set", "list_contains(string_set_value, 'baseline')") + " OR "
     + xp("config/lr", "float", "float_value > 0.001") + ")"),
]
# The series-aggregate query of the first-query measurement.
FIRST_QUERY = "average_agg"


def export_sql(cond: str) -> str:
    return ("SELECT i.id FROM (SELECT run_id, string_value AS id FROM ex WHERE attribute_path = 'sys/id' "
            "AND attribute_type = 'string' AND step IS NULL) i "
            f"WHERE NOT {xp('sys/trashed', 'bool', 'bool_value')} AND ({cond})")


# MLflow SQL (SQLite): `r` is a run of an active experiment, not deleted.
def mp(key: str, pred: str) -> str:
    return f"r.run_uuid IN (SELECT run_uuid FROM params WHERE key = '{key}' AND {pred})"


def mt(key: str, pred: str) -> str:
    return f"r.run_uuid IN (SELECT run_uuid FROM tags WHERE key = '{key}' AND {pred})"


def mlast(key: str, op: str, value) -> str:
    """last(metric): MLflow's latest_metrics row (greatest step, then timestamp, then value)."""
    return f"r.run_uuid IN (SELECT run_uuid FROM latest_metrics WHERE key = '{key}' AND value {op} {value!r})"


def magg(agg: str, key: str, op: str, value) -> str:
    fn = {"average": "avg", "max": "max", "min": "min"}[agg]
    return (f"r.run_uuid IN (SELECT run_uuid FROM metrics WHERE key = '{key}' "
            f"GROUP BY run_uuid HAVING {fn}(value) {op} {value!r})")


MLFLOW_QUERIES = [
    ("param_cmp", "plain", "`params/lr`:float > 0.001", mp("lr", "CAST(value AS REAL) > 0.001"), None),
    ("param_eq", "plain", '`params/optimizer`:string = "adam"', mp("optimizer", "value = 'adam'"),
     "params.optimizer = 'adam'"),
    ("tag_eq", "plain", '`tags/team`:string = "nlp"', mt("team", "value = 'nlp'"), "tags.team = 'nlp'"),
    ("status_eq", "plain", '`sys/mlflow/status`:string = "FAILED"', "r.status = 'FAILED'",
     "attributes.status = 'FAILED'"),
    ("last_agg", "series", "last(`metrics/accuracy`):float > 0.9", mlast("accuracy", ">", 0.9),
     "metrics.accuracy > 0.9"),
    ("and_mixed", "series", '`params/optimizer`:string = "adam" AND last(`metrics/loss`):float < 0.3',
     mp("optimizer", "value = 'adam'") + " AND " + mlast("loss", "<", 0.3),
     "params.optimizer = 'adam' AND metrics.loss < 0.3"),
    ("average_agg", "series", "average(`metrics/loss`:floatSeries) < 0.5", magg("average", "loss", "<", 0.5), None),
    ("max_agg", "series", "max(`metrics/val_loss`):float > 1.2", magg("max", "val_loss", ">", 1.2), None),
    ("not_of_or", "plain", 'NOT (`tags/team`:string = "nlp" OR `params/lr`:float > 0.001)',
     "NOT (" + mt("team", "value = 'nlp'") + " OR " + mp("lr", "CAST(value AS REAL) > 0.001") + ")",
     None),
]


def mlflow_sql(cond: str) -> str:
    return ("SELECT r.run_uuid FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id "
            f"WHERE r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active' AND ({cond})")


# ---------------------------------------------------------------------------------------------
# Small helpers (as in compare.py).
# ---------------------------------------------------------------------------------------------

def log(msg: str):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ensure_venv():
    """Re-runs this script inside benches/compare/.venv, creating it (or adding mlflow) first."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    python = VENV / "bin" / "python"
    if not python.exists():
        log(f"creating {VENV} with {', '.join(PACKAGES)}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PACKAGES], check=True)
    missing = [p for p in PACKAGES if subprocess.run(
        [str(python), "-c", f"import importlib.util, sys; sys.exit(importlib.util.find_spec('{p}') is None)"]
    ).returncode != 0]
    if missing:
        log(f"installing {', '.join(missing)} into {VENV}")
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *missing], check=True)
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def find_nql(arg: str | None) -> Path:
    candidates = [arg] if arg else [
        os.environ.get("CARGO_TARGET_DIR", "") and f"{os.environ['CARGO_TARGET_DIR']}/release/nql",
        str(REPO / "target" / "release" / "nql"),
    ]
    for cand in candidates:
        if cand and Path(cand).exists():
            return Path(cand).resolve()
    sys.exit("no release nql binary: build it with `cargo build --release -p nql-cli` or pass --nql PATH")


def run_child(cmd: list, stdout: Path | None = None, check: bool = True, memory: bool = False,
              env: dict | None = None) -> dict:
    """Runs `cmd` to its end: wall seconds, exit code, standard error; with `memory` its peak
    resident memory (GNU time's %M around it, since wait4's ru_maxrss of a child started by
    Python carries the parent's high-water mark across exec; GNU time adds a process, so timed
    runs go without it)."""
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    err_path = tmp / f"sources-{os.getpid()}.stderr"
    mem_path = tmp / f"sources-{os.getpid()}.maxrss"
    wrapped = [str(c) for c in cmd]
    if memory and GNU_TIME.exists():
        wrapped = [str(GNU_TIME), "-f", "%M", "-o", str(mem_path), *wrapped]
    with open(stdout or os.devnull, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        p = subprocess.Popen(wrapped, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - start
    rc = os.waitstatus_to_exitcode(status)
    stderr = err_path.read_text(errors="replace")
    err_path.unlink()
    peak = None
    if memory:
        if mem_path.exists():
            peak = int(mem_path.read_text().split()[-1]) * 1024
            mem_path.unlink()
        else:
            peak = usage.ru_maxrss * 1024
    if check and rc != 0:
        sys.exit(f"failed ({rc}): {' '.join(map(str, cmd))}\n{stderr}")
    return {"s": seconds, "peak_bytes": peak, "rc": rc, "stderr": stderr}


def dir_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        total += sum((Path(root) / f).stat().st_size for f in files)
    return total


def nql_env(cache: Path) -> dict:
    env = dict(os.environ)
    env["XDG_CACHE_HOME"] = str(cache)
    return env


def nql_query_cmd(nql: Path, data: Path, query: str) -> list:
    return [nql, "query", "--data", data, "--columns", "sys/id", "--format", "csv", "--now", NOW_RFC3339,
            "--", query]


def csv_ids(path: Path) -> list[str]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header[:1] != ["sys/id"]:
            sys.exit(f"{path}: expected a sys/id column first, got {header}")
        return [row[0] for row in reader]


def write_ids(ids_dir: Path, name: str, ids: list[str]):
    ids_dir.mkdir(parents=True, exist_ok=True)
    (ids_dir / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))


def read_ids(ids_dir: Path, name: str) -> list[str] | None:
    path = ids_dir / f"{name}.txt"
    return sorted(path.read_text().splitlines()) if path.exists() else None


def same_ids(source: str, name: str, ids: dict[str, list[str] | None]) -> bool:
    """Whether every tool returned the same set of ids as ours; a mismatch is printed loudly."""
    ids = {t: v for t, v in ids.items() if v is not None}
    ref = ids["ours"]
    ok = all(v == ref for v in ids.values())
    if not ok:
        for t, v in ids.items():
            extra, lacking = sorted(set(v) - set(ref)), sorted(set(ref) - set(v))
            print(f"MISMATCH {source} {name}: {t} has {len(v)} ids; {len(extra)} that ours has not "
                  f"{extra[:5]}, lacks {len(lacking)} of ours {lacking[:5]}", file=sys.stderr, flush=True)
    return ok


def geomean(xs):
    xs = [x for x in xs if x is not None]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def ratio(x) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if x < 1 else f"{x:.2f}"


def ms(x) -> str:
    if x is None:
        return "-"
    return f"{x:.1f}" if x < 1000 else f"{x:,.0f}"


def mib(b) -> str:
    if not b:
        return "-"
    return f"{b / 2**20:,.0f} MiB" if b < 10 * 2**30 else f"{b / 2**30:,.1f} GiB"


def size(b) -> str:
    return f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:,.0f} MiB"


# ---------------------------------------------------------------------------------------------
# The export.
# ---------------------------------------------------------------------------------------------

def generate_export(nql: Path, out: Path, runs: int, series: int, points: int, seed: int) -> dict:
    """Writes the export once (`.complete` records how, and how long it took); progress is the
    number of runs whose part_0 exists, every 30 s."""
    args = ["--format", "neptune3", "--runs", str(runs), "--series", str(series), "--points", str(points),
            "--full", "--seed", str(seed)]
    marker = out / ".complete"
    if marker.exists():
        try:
            info = json.loads(marker.read_text())
            if info.get("args") == args:
                log(f"export: present ({out}, written in {info['seconds']:.0f} s)")
                return info
        except ValueError:
            pass
    if out.exists():
        shutil.rmtree(out)
    log(f"export: generating {runs:,} runs x {series} series x {points:,} points into {out}")
    done = threading.Event()

    def progress():
        start = time.perf_counter()
        while not done.wait(30):
            n = sum(1 for _ in (out / "data").glob("*/*_part_0.parquet")) if (out / "data").exists() else 0
            el = time.perf_counter() - start
            eta = f", about {el / n * (runs - n) / 60:.0f} min left" if n else ""
            log(f"  export: {n:,}/{runs:,} runs written, {el / 60:.1f} min{eta}")

    t = threading.Thread(target=progress, daemon=True)
    t.start()
    r = run_child([nql, "generate", "--out", out, *args], memory=True)
    done.set()
    info = {"args": args, "seconds": r["s"], "peak_bytes": r["peak_bytes"], "bytes": dir_bytes(out),
            "message": r["stderr"].strip()[-2000:]}
    log(f"  export written in {r['s']:.0f} s, {size(info['bytes'])}")
    marker.write_text(json.dumps(info))
    return info


def export_project_dir(out: Path) -> Path:
    dirs = [d for d in (out / "data").iterdir() if d.is_dir()]
    if len(dirs) != 1:
        sys.exit(f"{out / 'data'}: expected one exported project, found {dirs}")
    return dirs[0]


# ---------------------------------------------------------------------------------------------
# The MLflow store.
# ---------------------------------------------------------------------------------------------

MLFLOW_BASE_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
EXPERIMENTS = ["vision", "nlp", "recsys", "speech"]
TEAMS = ["cv", "nlp", "recsys", "speech", "platform"]
OPTIMIZERS = ["adamw", "adam", "sgd", "lion"]
USERS = ["alice", "bob", "carol", "dave", "erin", "frank"]
STEPS = 20


def draw_lr(rng: random.Random) -> str:
    """A learning rate as MLflow users log it (str of a float: '0.0012', '3.4e-05'), never
    an integer."""
    return repr(round(10 ** rng.uniform(-4.5, -1.5), 6 + rng.randrange(3)))


def mlflow_env():
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["DO_NOT_TRACK"] = "true"
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)
    import warnings
    import logging

    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)


def worker_mlflow_build(db: Path, total: int, base: int, seed: int, out: Path):
    """Builds the store: `base` runs through MLflow's client, then SQL replicas up to `total`;
    checks that MLflow reads the result. Writes a JSON report to `out`."""
    mlflow_env()
    import uuid

    rng = random.Random(seed)
    id_rng = random.Random(seed + 1)
    # MLflow takes run ids from uuid4: seeded, so that the store is the same each time.
    uuid.uuid4 = lambda: uuid.UUID(int=id_rng.getrandbits(128), version=4)
    import mlflow
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    started = time.perf_counter()
    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri)
    exps = [client.create_experiment(name, artifact_location=str(db.parent / "artifacts" / name))
            for name in EXPERIMENTS]
    base = min(base, total)
    for i in range(base):
        e = i % len(exps)
        t0 = MLFLOW_BASE_MS + i * 60_000 + rng.randrange(30_000)
        team = TEAMS[e] if rng.random() < 0.8 else rng.choice(TEAMS)
        tags = {"team": team, "mlflow.user": rng.choice(USERS), "mlflow.source.name": "train.py",
                "mlflow.source.type": "LOCAL"}
        if rng.random() < 0.3:
            tags["priority"] = rng.choice(["high", "low"])
        if rng.random() < 0.2:
            tags["mlflow.note.content"] = "sweep over the learning rate"
        run = client.create_run(exps[e], start_time=t0, tags=tags, run_name=f"{EXPERIMENTS[e]}-{i:05}")
        rid = run.info.run_id
        params = {
            "lr": draw_lr(rng),
            "batch_size": str(rng.choice([16, 32, 64, 128, 256])),
            "optimizer": rng.choice(OPTIMIZERS),
            "epochs": str(rng.randrange(1, 100)),
            "dropout": repr(round(rng.uniform(0, 0.5), 3)),
            "use_amp": rng.choice(["True", "False"]),
            "seed": str(rng.randrange(10_000)),
            "model": rng.choice(["resnet50", "vit-b16", "bert-base", "wav2vec2", "dlrm"]),
        }
        client.log_batch(rid, params=[Param(k, v) for k, v in params.items()],
                         tags=[RunTag("framework", rng.choice(["pytorch", "jax"]))])
        lr = float(params["lr"])
        speed = rng.uniform(0.5, 2.0)
        floor = rng.uniform(0.05, 0.6)
        status = rng.choices(["FINISHED", "FAILED", "KILLED"], [0.85, 0.10, 0.05])[0]
        steps = STEPS if status == "FINISHED" else rng.randrange(3, STEPS)
        for step in range(steps):
            ts = t0 + 1000 * (step + 1)
            loss = floor + 2.0 * math.exp(-speed * (step + 1) / 5) + rng.gauss(0, 0.02)
            acc = max(0.0, min(1.0, 1.0 - loss / 2.5 + rng.gauss(0, 0.01)))
            client.log_batch(rid, metrics=[Metric("loss", loss, ts, step), Metric("accuracy", acc, ts, step),
                                           Metric("lr", lr * (1 - step / STEPS), ts, step)])
            if step % 5 == 4:
                client.log_metric(rid, "val_loss", loss * rng.uniform(1.0, 1.3), timestamp=ts, step=step)
        client.set_terminated(rid, status, end_time=t0 + 1000 * (steps + 2))
        if rng.random() < 0.02:
            client.delete_run(rid)
        if i % 50 == 49:
            log(f"  mlflow: {i + 1}/{base} runs logged with MLflow's client")
    logged_s = time.perf_counter() - started
    for store in (client._tracking_client.store,):
        engine = getattr(store, "engine", None)
        if engine is not None:
            engine.dispose()

    # Replicas, in the same tables and shapes.
    started = time.perf_counter()
    con = sqlite3.connect(db)
    cols = {t: [r[1] for r in con.execute(f"PRAGMA table_info({t})")] for t in
            ("runs", "params", "tags", "metrics", "latest_metrics")}
    # Any other table that refers to runs must be empty for the base runs (nothing else was
    # logged), else the replicas would lack its rows.
    others = []
    for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        if t in cols:
            continue
        c = [r[1] for r in con.execute(f"PRAGMA table_info({t})")]
        for k in ("run_uuid", "run_id", "source_run_id"):
            if k in c and con.execute(f"SELECT count(*) FROM {t} WHERE {k} IS NOT NULL").fetchone()[0]:
                others.append(t)
    if others:
        sys.exit(f"tables other than the five replicated ones refer to runs: {others}")

    def rows(table, run_uuid):
        return [dict(zip(cols[table], r)) for r in
                con.execute(f"SELECT * FROM {table} WHERE run_uuid = ?", (run_uuid,))]

    bases = [dict(zip(cols["runs"], r)) for r in con.execute("SELECT * FROM runs ORDER BY start_time")]
    base_data = {b["run_uuid"]: {t: rows(t, b["run_uuid"]) for t in ("params", "tags", "metrics")} for b in bases}

    def insert(table, recs):
        if recs:
            c = cols[table]
            con.executemany(f"INSERT INTO {table} ({', '.join(c)}) VALUES ({', '.join('?' * len(c))})",
                            [tuple(r[k] for k in c) for r in recs])

    n = len(bases)
    copy = 0
    while n < total:
        copy += 1
        for b in bases:
            if n >= total:
                break
            new = uuid.UUID(int=id_rng.getrandbits(128), version=4).hex
            old = b["run_uuid"]
            shift = copy * len(bases) * 60_000
            name = f"{b['name']}-r{copy}"
            run = dict(b, run_uuid=new, name=name, start_time=b["start_time"] + shift,
                       end_time=b["end_time"] + shift if b["end_time"] is not None else None,
                       artifact_uri=(b["artifact_uri"] or "").replace(old, new))
            if run.get("deleted_time") is not None:
                run["deleted_time"] += shift
            d = base_data[old]
            redraw = {"lr": draw_lr(rng), "batch_size": str(rng.choice([16, 32, 64, 128, 256])),
                      "optimizer": rng.choice(OPTIMIZERS), "seed": str(rng.randrange(10_000))}
            params = [dict(p, run_uuid=new, value=redraw.get(p["key"], p["value"])) for p in d["params"]]
            team = rng.choice(TEAMS) if rng.random() < 0.3 else None
            tags = [dict(t, run_uuid=new, value=name if t["key"] == "mlflow.runName"
                         else (team if t["key"] == "team" and team else t["value"])) for t in d["tags"]]
            scale = rng.uniform(0.7, 1.3)
            metrics = []
            for m in d["metrics"]:
                v = m["value"]
                if m["key"] in ("loss", "val_loss"):
                    v *= scale
                elif m["key"] == "accuracy":
                    v = max(0.0, min(1.0, 1.0 - (1.0 - v) * scale))
                metrics.append(dict(m, run_uuid=new, value=v, timestamp=m["timestamp"] + shift))
            latest = {}
            for m in metrics:
                key = (m["step"], m["timestamp"], m["value"])
                if m["key"] not in latest or key > latest[m["key"]][0]:
                    latest[m["key"]] = (key, m)
            lm = [{c: (m[c] if c in m else None) for c in cols["latest_metrics"]} for _, m in latest.values()]
            insert("runs", [run])
            insert("params", params)
            insert("tags", tags)
            insert("metrics", metrics)
            insert("latest_metrics", lm)
            n += 1
        con.commit()
        log(f"  mlflow: {n:,}/{total:,} runs")
    con.commit()
    con.close()
    replicated_s = time.perf_counter() - started

    # MLflow reads it: every active run, and a replica as logged.
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri)
    df = mlflow.search_runs(search_all_experiments=True, max_results=100_000)
    con = sqlite3.connect(db)
    active = con.execute("SELECT count(*) FROM runs WHERE lifecycle_stage = 'active'").fetchone()[0]
    runs_n, points = (con.execute("SELECT count(*) FROM runs").fetchone()[0],
                      con.execute("SELECT count(*) FROM metrics").fetchone()[0])
    last_uuid = con.execute("SELECT run_uuid FROM runs WHERE lifecycle_stage = 'active' "
                            "ORDER BY start_time DESC LIMIT 1").fetchone()[0]
    con.close()
    if len(df) != active:
        sys.exit(f"mlflow.search_runs found {len(df)} runs, the store has {active} active ones")
    r = client.get_run(last_uuid)
    hist = client.get_metric_history(last_uuid, "loss")
    if not r.data.params.get("lr") or not hist or r.data.metrics.get("loss") != max(
            hist, key=lambda m: (m.step, m.timestamp, m.value)).value:
        sys.exit(f"MLflow does not read replicated run {last_uuid} as logged")
    report = {"runs": runs_n, "active_runs": active, "base_runs": base, "metric_points": points,
              "logged_s": logged_s, "replicated_s": replicated_s, "mlflow": mlflow.__version__,
              "search_runs_found": len(df)}
    out.write_text(json.dumps(report, indent=1))
    log(f"  mlflow: {runs_n:,} runs ({active:,} active), {points:,} metric points; MLflow's search "
        f"reads all {len(df):,} active runs")


def build_mlflow(dir_: Path, total: int, base: int, seed: int) -> dict:
    args = {"runs": total, "base_runs": base, "seed": seed}
    marker = dir_ / ".complete"
    db = dir_ / "mlflow.db"
    if marker.exists():
        try:
            info = json.loads(marker.read_text())
            if info.get("args") == args:
                log(f"mlflow: present ({db})")
                return info
        except ValueError:
            pass
    if dir_.exists():
        shutil.rmtree(dir_)
    dir_.mkdir(parents=True)
    log(f"mlflow: building a store of {total:,} runs ({base} logged with MLflow's client) in {db}")
    report = dir_ / "build.json"
    r = run_child([sys.executable, __file__, "--worker", "mlflow-build", "--data", db, "--out", report,
                   "--runs", str(total), "--base", str(base), "--seed", str(seed)])
    sys.stderr.write(r["stderr"])
    info = {"args": args, "seconds": r["s"], "bytes": db.stat().st_size, **json.loads(report.read_text())}
    marker.write_text(json.dumps(info))
    return info


# ---------------------------------------------------------------------------------------------
# Workers: DuckDB over the export, SQLite and mlflow.search_runs over the store.
# ---------------------------------------------------------------------------------------------

def fetch_arrow(con, sql):
    rel = con.sql(sql)
    fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
    return fetch()


def runner(tool: str, data: Path):
    """A function answering the query `name` from nothing, and what to report of the tool."""
    if tool == "duckdb":
        import duckdb

        conds = {n: c for n, _, _, c in EXPORT_QUERIES}
        glob = str(data / "*.parquet")

        def run(name):
            con = duckdb.connect()  # a new database each call: nothing cached survives it
            con.execute("SET enable_progress_bar = false")
            con.execute(f"CREATE VIEW ex AS SELECT * FROM read_parquet('{glob}')")
            ids = fetch_arrow(con, export_sql(conds[name])).column(0).to_pylist()
            con.close()
            return ids

        with duckdb.connect() as con:
            threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
        return run, {"threads": threads, "version": duckdb.__version__}
    if tool == "sqlite":
        conds = {n: c for n, _, _, c, _ in MLFLOW_QUERIES}

        def run(name):
            con = sqlite3.connect(f"file:{data}?mode=ro", uri=True)
            ids = [r[0] for r in con.execute(mlflow_sql(conds[name]))]
            con.close()
            return ids

        return run, {"version": sqlite3.sqlite_version}
    mlflow_env()
    import mlflow

    filters = {n: f for n, _, _, _, f in MLFLOW_QUERIES if f}
    mlflow.set_tracking_uri(f"sqlite:///{data}")

    def run(name):
        df = mlflow.search_runs(search_all_experiments=True, filter_string=filters[name], max_results=100_000)
        return list(df["run_id"]) if len(df) else []

    run(next(iter(filters)))  # the store opened and its schema checked: not timed
    return run, {"version": mlflow.__version__}


def worker_oneshot(tool: str, data: Path, ids_root: Path):
    """Reads `NAME<TAB>WRITE_IDS` lines, answers each, writes a JSON line {"ms", "rows"} (the
    ids to ids_root/TOOL when asked). The first line says it is ready (imports not timed)."""
    run, info = runner(tool, data)
    print(json.dumps({"ready": True, **info}), flush=True)
    for line in sys.stdin:
        name, write = line.rstrip("\n").split("\t")
        start = time.perf_counter()
        ids = run(name)
        t = (time.perf_counter() - start) * 1e3
        if write == "1":
            write_ids(ids_root / tool, name, ids)
        print(json.dumps({"ms": t, "rows": len(ids)}), flush=True)


class Worker(compare.Worker):
    """A worker process of this script (`--worker TOOL`), driven a query at a time."""

    def __init__(self, tool: str, data: Path, ids_root: Path):
        super().__init__(__file__, tool, data, ids_root, "sources")


# ---------------------------------------------------------------------------------------------
# The measurements.
# ---------------------------------------------------------------------------------------------

def measure(source: str, nql: Path, data: Path, queries: list[tuple], workers: dict[str, Worker],
            work: Path, reps: int) -> dict:
    """The first query with no index, the index, then the one-shot rounds. `queries`: (name,
    kind, NQL, tools that answer it); `workers`: tool -> Worker."""
    ids = work / "ids"
    out_dir = work / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    text = {q[0]: q[2] for q in queries}
    res = {"source": source, "data": str(data), "queries": [], "reps": reps}

    # (a) The first query: an empty cache, so the query builds the index.
    fresh = work / "cache-fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    log(f"{source}: first query ({FIRST_QUERY}) with an empty cache: builds the index")
    out = out_dir / f"first-{FIRST_QUERY}.csv"
    r = run_child(nql_query_cmd(nql, data, text[FIRST_QUERY]), out, memory=True, env=nql_env(fresh))
    write_ids(ids / "ours_first", FIRST_QUERY, csv_ids(out))
    res["first"] = {"query": FIRST_QUERY, "s": r["s"], "peak_bytes": r["peak_bytes"],
                    "index_bytes": dir_bytes(fresh), "stderr": r["stderr"][-2000:]}
    log(f"  {r['s']:.2f} s, peak {mib(r['peak_bytes'])}, index {size(dir_bytes(fresh))}")
    shutil.rmtree(fresh)
    # Nothing may be written beside the source.
    beside = list(data.rglob("_nql")) if data.is_dir() else [p for p in [data.parent / "_nql"] if p.exists()]
    res["index_beside_source"] = [str(p) for p in beside]
    if beside:
        print(f"WARNING: an index was written beside the source: {beside}", file=sys.stderr)

    # (b) The index in the benchmark's cache, then the one-shot rounds.
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    log(f"{source}: nql index")
    r = run_child([nql, "index", "--data", data], memory=True, env=nql_env(cache))
    res["index"] = {"s": r["s"], "peak_bytes": r["peak_bytes"], "bytes": dir_bytes(cache),
                    "message": r["stderr"].strip()[-500:]}
    log(f"  {r['s']:.2f} s, peak {mib(r['peak_bytes'])}, {size(dir_bytes(cache))}: {res['index']['message']}")
    env = nql_env(cache)
    for name, kind, query, tools in queries:
        cmd = nql_query_cmd(nql, data, query)
        out = out_dir / f"{name}.csv"
        warm = run_child(cmd, out, memory=True, env=env)
        if "index" in warm["stderr"].lower() and "up to date" not in warm["stderr"].lower() and warm["stderr"].strip():
            log(f"  note: ours said: {warm['stderr'].strip()[:300]}")
        write_ids(ids / "ours", name, csv_ids(out))
        first = {t: workers[t].run(name, write_ids=True) for t in tools}
        samples = {"ours": [], **{t: [] for t in tools}}
        for _ in range(reps):
            samples["ours"].append(run_child(cmd, out, env=env)["s"] * 1e3)
            for t in tools:
                samples[t].append(workers[t].run(name)["ms"])
        row = {"name": name, "kind": kind, "query": query, "tools": tools,
               "rows": len(csv_ids(out)), "ours_peak_bytes": warm["peak_bytes"],
               "samples": samples, "first_ms": {t: v["ms"] for t, v in first.items()}}
        for t, v in samples.items():
            row[t] = statistics.median(v)
        for t in tools:
            row[f"vs_{t}"] = row["ours"] / row[t]
        row["same_ids"] = same_ids(source, name, {"ours": read_ids(ids / "ours", name),
                                                 **{t: read_ids(ids / t, name) for t in tools}})
        if name == FIRST_QUERY:
            row["same_ids"] &= same_ids(source, name + " (first query)",
                                        {"ours": read_ids(ids / "ours", name),
                                         "ours_first": read_ids(ids / "ours_first", name)})
        res["queries"].append(row)
        log(f"  {name:<14} {row['rows']:>6,} ids  ours {row['ours']:8.1f} ms  " + "  ".join(
            f"{t} {row[t]:9.1f} ms ({ratio(row['vs_' + t])}x)" for t in tools)
            + ("" if row["same_ids"] else "  IDS DIFFER"))
    for t, w in workers.items():
        res[f"{t}_info"] = w.info
        res[f"{t}_peak_bytes"] = w.close()
    shutil.rmtree(cache)
    # The first query against the other side's one-shot time for the same question.
    ref = "duckdb" if source == "export" else "sqlite"
    row = next(q for q in res["queries"] if q["name"] == FIRST_QUERY)
    res["first"]["ref_tool"] = ref
    res["first"]["ref_ms"] = row[ref]
    res["first"]["vs_ref"] = res["first"]["s"] * 1e3 / row[ref]
    res["first"]["same_ids"] = row["same_ids"]
    for t in {t for q in res["queries"] for t in q["tools"]}:
        xs = [q[f"vs_{t}"] for q in res["queries"] if t in q["tools"]]
        top = max((q for q in res["queries"] if t in q["tools"]), key=lambda q: q[f"vs_{t}"])
        res[f"stats_{t}"] = {"geomean": geomean(xs), "max": top[f"vs_{t}"], "max_query": top["name"], "n": len(xs)}
    res["all_same_ids"] = all(q["same_ids"] for q in res["queries"])
    return res


def run_export(nql: Path, root: Path, args) -> dict:
    out = root / f"export-{args.export_runs}x{args.series}x{args.points}"
    gen = generate_export(nql, out, args.export_runs, args.series, args.points, args.seed)
    project = export_project_dir(out)
    work = root / "work-export"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    files = sorted(project.glob("*.parquet"))
    queries = [(n, k, q, ["duckdb"]) for n, k, q, _ in EXPORT_QUERIES]
    workers = {"duckdb": Worker("duckdb", project, work / "ids")}
    res = measure("export", nql, out / "data", queries, workers, work, args.reps)
    res.update({"generate": gen, "runs": args.export_runs, "series": args.series, "points": args.points,
                "files": len(files), "parquet_bytes": sum(f.stat().st_size for f in files),
                "sql": {n: export_sql(c) for n, _, _, c in EXPORT_QUERIES}})
    return res


def run_mlflow(nql: Path, root: Path, args) -> dict:
    dir_ = root / f"mlflow-{args.mlflow_runs}"
    build = build_mlflow(dir_, args.mlflow_runs, args.mlflow_base_runs, args.seed)
    db = dir_ / "mlflow.db"
    work = root / "work-mlflow"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # MLflow searches a copy, so that whatever it writes cannot make our index stale.
    copy = work / "mlflow-search.db"
    shutil.copy2(db, copy)
    before = (db.stat().st_size, db.stat().st_mtime_ns)
    queries = [(n, k, q, ["sqlite"] + (["mlflow"] if f else [])) for n, k, q, _, f in MLFLOW_QUERIES]
    workers = {"sqlite": Worker("sqlite", db, work / "ids"), "mlflow": Worker("mlflow", copy, work / "ids")}
    res = measure("mlflow", nql, db, queries, workers, work, args.reps)
    if (db.stat().st_size, db.stat().st_mtime_ns) != before:
        print("WARNING: the MLflow store changed while it was measured", file=sys.stderr)
    copy.unlink()
    res.update({"build": build, "runs": args.mlflow_runs, "db_bytes": db.stat().st_size,
                "sql": {n: mlflow_sql(c) for n, _, _, c, _ in MLFLOW_QUERIES},
                "filters": {n: f for n, _, _, _, f in MLFLOW_QUERIES if f}})
    return res


# ---------------------------------------------------------------------------------------------
# Reporting.
# ---------------------------------------------------------------------------------------------

LABEL = {"duckdb": "DuckDB", "sqlite": "SQLite", "mlflow": "mlflow.search_runs"}
NAME = {"export": "Neptune export", "mlflow": "MLflow store"}
GOAL = {"duckdb": 0.2, "sqlite": 0.2, "mlflow": 0.01}


def goals(results: dict) -> list[tuple[str, str, str, bool]]:
    out = []
    for src, res in results.items():
        f = res["first"]
        out.append((f"first query (`{f['query']}`, index build included) <= 1.5x {LABEL[f['ref_tool']]}'s "
                    "one-shot time for it", src, f"{f['s']:.2f} s = {ratio(f['vs_ref'])}x", f["vs_ref"] <= 1.5))
        out.append(("first query: peak memory <= 2 GiB", src, mib(f["peak_bytes"]), f["peak_bytes"] <= 2 * 2**30))
        for t in ("duckdb", "sqlite", "mlflow"):
            s = res.get(f"stats_{t}")
            if s:
                out.append((f"warm one-shot <= {GOAL[t]}x {LABEL[t]} (geomean of {s['n']})", src,
                            ratio(s["geomean"]), s["geomean"] <= GOAL[t]))
                out.append((f"warm one-shot <= {GOAL[t]}x {LABEL[t]} (every query)", src,
                            f"max {ratio(s['max'])} (`{s['max_query']}`)", s["max"] <= GOAL[t]))
    same = all(r["all_same_ids"] for r in results.values())
    out.append(("every tool returns the same ids", ",".join(results), "yes" if same else "NO", same))
    return out


def print_results(results: dict):
    for src, res in results.items():
        tools = [t for t in ("duckdb", "sqlite", "mlflow") if res.get(f"stats_{t}")]
        f = res["first"]
        print(f"\n{src}: first query {f['query']} {f['s']:.2f} s ({ratio(f['vs_ref'])}x {LABEL[f['ref_tool']]} "
              f"{ms(f['ref_ms'])} ms), peak {mib(f['peak_bytes'])}; nql index {res['index']['s']:.2f} s, "
              f"{size(res['index']['bytes'])}")
        print(f"{'query':<14} {'kind':<6} {'ids':>7} {'ours ms':>9} " + " ".join(
            f"{LABEL[t][:12] + ' ms':>15} {'/' + LABEL[t][:8]:>10}" for t in tools) + "  same")
        for q in res["queries"]:
            print(f"{q['name']:<14} {q['kind']:<6} {q['rows']:>7,} {q['ours']:>9.1f} " + " ".join(
                f"{ms(q.get(t)):>15} {ratio(q.get('vs_' + t)):>10}" for t in tools)
                + f"  {'yes' if q['same_ids'] else 'NO'}")
        for t in tools:
            s = res[f"stats_{t}"]
            print(f"  ours/{LABEL[t]}: geomean {ratio(s['geomean'])}, max {ratio(s['max'])} ({s['max_query']})")
    print("\ngoals:")
    for g, src, v, ok in goals(results):
        print(f"  {'MET   ' if ok else 'MISSED'} {g} [{src}]: {v}")


def code_commit() -> str:
    out = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h", "--", ".", ":!benches", ":!docs"],
                         capture_output=True, text=True).stdout.strip()
    return out or "unknown"


def machine() -> dict:
    cpu = "unknown"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem), "os": platform.platform(),
            "python": platform.python_version(), "rustc": rustc, "commit": code_commit()}


def write_docs(result: dict):
    results, m = result["sources"], result["machine"]
    lines = [DOC_BEGIN, "## Neptune exports and MLflow stores", "",
             "`benches/compare/sources.py` asks the same questions of the data users bring: a Neptune "
             "export (neptune-exporter's long format, read where it lies) and an MLflow SQLite tracking "
             "store. Ours is a fresh `nql query` process per query; the others are hand-written SQL over "
             "the same files (DuckDB over the export's Parquet, SQLite over the store) and, for the "
             "filters MLflow can express, `mlflow.search_runs`. "
             f"Measured in one run on {m['date']} ({result['elapsed_s'] / 60:.0f} min), "
             f"nql at commit {m['commit']}.", ""]
    e, f = results.get("export"), results.get("mlflow")
    if e:
        g = e["generate"]
        lines += [f"- **Export**: `nql generate --format neptune3 --runs {e['runs']:,} --series {e['series']} "
                  f"--points {e['points']:,} --full` (the datasets export writer): {e['files']:,} run files, "
                  f"{e['runs'] * e['series'] * e['points'] / 1e6:,.0f} M float-series points, "
                  f"{size(e['parquet_bytes'])} of Parquet, written in {g['seconds']:,.0f} s (peak {mib(g['peak_bytes'])})."]
    if f:
        b = f["build"]
        lines += [f"- **MLflow store**: {b['runs']:,} runs ({b['active_runs']:,} active), "
                  f"{b['metric_points']:,} metric points, {size(f['db_bytes'])}. The first {b['base_runs']} "
                  f"runs were logged with MLflow {b['mlflow']}'s client as users log them (params and tags "
                  "with `log_batch`, a `log_batch` of three metrics per step and `log_metric` every fifth "
                  "step, 20 steps, `set_terminated`, a few runs deleted); the rest are SQL replicas of "
                  "those in MLflow's own tables and shapes (fresh run ids, new draws of some params, "
                  "scaled metric values, `latest_metrics` recomputed), which `mlflow.search_runs` reads "
                  "in full."]
    lines += ["", "### The first query (no index yet: the query builds it)", "",
              "| source | query | ours s | ours peak | index | against | their ms | ratio | goal | same ids |",
              "|---|---|--:|--:|--:|---|--:|--:|:-:|:-:|"]
    for src, r in results.items():
        fr = r["first"]
        lines.append(f"| {src} | `{fr['query']}` | {fr['s']:.2f} | {mib(fr['peak_bytes'])} | "
                     f"{size(fr['index_bytes'])} | {LABEL[fr['ref_tool']]} one-shot | {ms(fr['ref_ms'])} | "
                     f"{ratio(fr['vs_ref'])} | <= 1.5x, <= 2 GiB: "
                     f"{'met' if fr['vs_ref'] <= 1.5 and fr['peak_bytes'] <= 2 * 2**30 else '**missed**'} | "
                     f"{'yes' if fr['same_ids'] else '**no**'} |")
    lines += [""]
    for src, r in results.items():
        lines.append(f"`nql index` of the {NAME[src]} afterwards (into the benchmark's cache directory): "
                     f"{r['index']['s']:.2f} s, peak {mib(r['index']['peak_bytes'])}, "
                     f"{size(r['index']['bytes'])} of index.")
    lines += [""]
    for src, r in results.items():
        tools = [t for t in ("duckdb", "sqlite", "mlflow") if r.get(f"stats_{t}")]
        lines += [f"### Warm one-shot queries, {NAME[src]} (median of {r['reps']} rounds after one warm-up round)", "",
                  "| query | kind | ids | ours ms | ours peak | " + " | ".join(f"{LABEL[t]} ms" for t in tools)
                  + " | " + " | ".join(f"ours/{LABEL[t]}" for t in tools) + " | same ids |",
                  "|---|---|--:|--:|--:|" + "--:|" * (2 * len(tools)) + ":-:|"]
        for q in r["queries"]:
            lines.append(f"| `{q['name']}` | {q['kind']} | {q['rows']:,} | {ms(q['ours'])} | "
                         f"{mib(q['ours_peak_bytes'])} | " + " | ".join(ms(q.get(t)) for t in tools) + " | "
                         + " | ".join(ratio(q.get('vs_' + t)) for t in tools)
                         + f" | {'yes' if q['same_ids'] else '**no**'} |")
        lines.append("| " + " | ".join(["**geomean**", "", "", "", ""] + [""] * len(tools)
                                       + [f"**{ratio(r[f'stats_{t}']['geomean'])}**" for t in tools] + [""]) + " |")
        lines.append("")
        peaks = ", ".join(f"{LABEL[t]} {mib(r.get(f'{t}_peak_bytes'))}" for t in tools)
        lines += [f"Worker processes' peak memory (Python included): {peaks}.", ""]
    lines += ["### Goals", "", "| goal | source | measured | met |", "|---|---|--:|:-:|"]
    for g, src, v, ok in goals(results):
        lines.append(f"| {g} | {src} | {v} | {'yes' if ok else '**no**'} |")
    lines += ["", "### What each side reads", "",
              "- **Ours, first query**: lists the export's run files (or opens the SQLite store read-only), "
              "reads every file once, run by run, summarizes every series (last, average, max, min, "
              "variance) and writes the index to the user's cache (`$XDG_CACHE_HOME/nql/index/`; nothing "
              "is written beside the data), then answers from it. **Warm**: each process opens the "
              "index's manifest, checks the source's files for changes and reads only the index columns "
              "the query names.",
              "- **DuckDB** (export): a fresh connection per query, a view over `read_parquet()` of every "
              "run file; each query scans the long-format rows it filters on (attribute path and type, the "
              "value columns, `step`, `timestamp`) in every file, and keeps nothing.",
              "- **SQLite** (MLflow store, Python's `sqlite3`): a fresh read-only connection per query, "
              "using MLflow's own indexes (the primary keys of `params`, `tags`, `metrics` and "
              "`latest_metrics` start with the key); `last` reads MLflow's `latest_metrics`, the other "
              "aggregates the `metrics` table. "
              "DuckDB's sqlite scanner could not be used: DuckDB downloads it from its own extension site, "
              "which this machine cannot reach, and the extension packages on PyPI are for DuckDB 1.x.",
              "- **mlflow.search_runs** (default pandas output, `search_all_experiments=True`, "
              "`max_results=100000`): MLflow's SQLAlchemy store turns the filter into SQL over the same "
              "tables, then loads each matching run's params, tags and latest metrics into a DataFrame, "
              "in a Python process that has imported MLflow and searched once before (not timed). It "
              "searches a copy of the store. MLflow cannot compare params as numbers (they are strings), "
              "has no OR or NOT and no aggregate other than the latest value, so those queries have no "
              "MLflow column.",
              "- Every tool returns run ids, checked to be the same set (ours `sys/id`: the export's "
              "`sys/id` attribute, the MLflow `run_uuid`). The SQL and the filters are in "
              "`benches/compare/sources.py` and in `target/bench-data/sources/result.json` after a run.",
              "", "### The queries", "", "| source | name | NQL | MLflow filter |", "|---|---|---|---|"]
    for src, r in results.items():
        filters = r.get("filters", {})
        for q in r["queries"]:
            fl = filters.get(q["name"])
            lines.append(f"| {src} | `{q['name']}` | `` {q['query']} `` | {('`' + fl + '`') if fl else '-'} |")
    lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores (shared with other work while measuring), "
              f"{m['memory_gib']} GiB; {m['rustc']}; DuckDB "
              f"{(results.get('export') or {}).get('duckdb_info', {}).get('version', '-')}, SQLite "
              f"{(results.get('mlflow') or {}).get('sqlite_info', {}).get('version', '-')}, MLflow "
              f"{(results.get('mlflow') or {}).get('mlflow_info', {}).get('version', '-')}, Python {m['python']}.",
              DOC_END]
    doc = REPO / "docs" / "benchmarks.md"
    text = doc.read_text() if doc.exists() else ""
    if DOC_BEGIN in text:
        head, rest = text.split(DOC_BEGIN, 1)
        tail = rest.split(DOC_END, 1)[1] if DOC_END in rest else ""
    else:
        head, tail = text, ""
    doc.write_text(head.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n" + tail.lstrip("\n"))
    log(f"wrote the section in {doc}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--export-runs", type=int, default=10_000, help="runs of the export (default 10,000)")
    ap.add_argument("--series", type=int, default=50, help="float series per run (default 50)")
    ap.add_argument("--points", type=int, default=1_000, help="points per series (default 1,000)")
    ap.add_argument("--mlflow-runs", type=int, default=20_000, help="runs of the MLflow store (default 20,000)")
    ap.add_argument("--mlflow-base-runs", type=int, default=200,
                    help="of those, runs logged with MLflow's client (the rest are SQL replicas; default 200)")
    ap.add_argument("--sources", default="export,mlflow", help="comma-separated: export, mlflow")
    ap.add_argument("--reps", type=int, default=5, help="timed rounds per query after the warm-up (default 5)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data-root", default=str(REPO / "target" / "bench-data"))
    ap.add_argument("--nql", help="the release nql binary")
    ap.add_argument("--write-docs", action="store_true", help="write the section of docs/benchmarks.md")
    ap.add_argument("--docs-only", action="store_true", help="write the docs from the last result.json")
    ap.add_argument("--worker", choices=["duckdb", "sqlite", "mlflow", "mlflow-build"], help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--ids-root", help=argparse.SUPPRESS)
    ap.add_argument("--runs", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--base", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    ensure_venv()
    if args.worker == "mlflow-build":
        worker_mlflow_build(Path(args.data), args.runs, args.base, args.seed, Path(args.out))
        return
    if args.worker:
        worker_oneshot(args.worker, Path(args.data), Path(args.ids_root))
        return
    root = Path(args.data_root) / "sources"
    root.mkdir(parents=True, exist_ok=True)
    if args.docs_only:
        write_docs(json.loads((root / "result.json").read_text()))
        return
    nql = find_nql(args.nql)
    started = time.perf_counter()
    results = {}
    for src in args.sources.split(","):
        if src == "export":
            results["export"] = run_export(nql, root, args)
        elif src == "mlflow":
            results["mlflow"] = run_mlflow(nql, root, args)
        else:
            sys.exit(f"unknown source {src}: export or mlflow")
    m = machine()
    m["date"] = dt.date.today().isoformat()
    result = {"sources": results, "machine": m, "elapsed_s": time.perf_counter() - started,
              "args": {k: v for k, v in vars(args).items() if not k.startswith(("worker", "data", "out", "ids"))},
              "binary": str(nql), "disk_bytes": dir_bytes(root)}
    (root / "result.json").write_text(json.dumps(result, indent=1))
    print_results(results)
    print(f"\n{result['elapsed_s'] / 60:.1f} min; {size(result['disk_bytes'])} under {root}; "
          f"results in {root / 'result.json'}")
    if not all(r["all_same_ids"] for r in results.values()):
        print("\nMISMATCH: some tools returned different ids (see MISMATCH lines above)", file=sys.stderr)
    if args.write_docs:
        write_docs(result)


if __name__ == "__main__":
    main()
