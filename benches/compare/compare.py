#!/usr/bin/env python3
"""Our engine side by side with DuckDB and Polars on generated projects.

    python3 benches/compare/compare.py [--scales S,M[,L]] [--modes warm,oneshot,index] [--write-docs]

Creates benches/compare/.venv (duckdb, polars, pyarrow, matplotlib from PyPI) on first use and
re-runs itself inside it; builds nothing but uses the release `nql` binary (--nql, else
$CARGO_TARGET_DIR/release/nql, else target/release/nql); generates the projects with
`nql generate --full --runs-per-file N` under --data-root (default target/bench-data in the
clone, git-ignored), and builds each project's index (`nql index --rebuild`, timed) first.

Modes (all in one run by default, so that every ratio is measured side by side):

  warm     the in-process comparison: ours `nql bench` (opens the project once through its
           index, times each query --iterations times); DuckDB over tables loaded in memory
           (CREATE TABLE ... AS SELECT * FROM read_parquet), plain and with a summary table;
           Polars over DataFrames read in memory. Only at S and M (at L the in-memory tables
           of 400 million points do not fit DuckDB's and Polars' memory).
  oneshot  a fresh process per query for ours (`nql query --data DIR --columns sys/id
           --format csv`, wall time around the process, peak resident memory from wait4);
           DuckDB from a fresh `duckdb.connect()` with views over read_parquet (no CREATE
           TABLE) and Polars from a fresh pl.scan_parquet, both timed inside their worker
           process (connect + query + fetch ids; Python start-up and imports excluded). Each
           query: one warm-up round (which also warms the OS page cache for every tool), then
           --oneshot-reps rounds in which the three tools take turns, and each tool's median.
  index    the index: its build (`nql index --rebuild`: time, peak memory, size) against
           DuckDB's CREATE TABLE of the points plus the summary GROUP BY; the first query on
           a fresh copy of the project (no index yet: the query answers from the files and
           starts the build in the background), and again with the index built inside it
           (NQL_BACKGROUND_INDEX=0); the first query after adding 10% more runs
           as new files to an indexed copy (the query refreshes the stale index first);
           one plain and one series-aggregate query each, ids checked.

Every tool returns ids only; the script checks that all of them return the same ids (the same
list, in order, for the sorted query) and reports medians, our/their ratios and their
geometric means, separately for plain-column and series-aggregate queries.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VENV = HERE / ".venv"
PACKAGES = ["duckdb", "polars", "pyarrow", "matplotlib"]
SCALES = {"S": 10_000, "M": 100_000, "L": 1_000_000}
# Runs per file: every project uses the directory layout (TABLE/part-NNNNN.parquet), so that
# runs can be added to it as new files.
RUNS_PER_FILE = {"S": 5_000, "M": 50_000, "L": 250_000}
# The warm mode loads every point into DuckDB's and Polars' memory: not at L.
WARM_SCALES = {"S", "M"}
# (b) and (c): one plain-column query and one series-aggregate query.
FRESH_QUERIES = ["float_cmp", "last_agg"]
# (e): the scalar query whose one-shot peak memory is the target's.
SCALAR_QUERY = "float_cmp"

# The previous page's in-process numbers for ours at M (docs/benchmarks.md at commit b29e0c8:
# no index, every column and every series summary in memory, one `nql bench` process), kept as
# the reference for the warm mode.
PREVIOUS_COMMIT = "b29e0c8"
PREVIOUS_M_MS = {
    "float_cmp": 0.426, "int_range": 0.502, "string_eq": 0.525, "bool_eq": 0.245,
    "tags_contains": 1.189, "not_tags": 1.121, "owner_contains": 0.526, "name_matches": 0.749,
    "datetime_abs": 0.394, "datetime_rel": 0.343, "state_size": 0.581, "exists": 0.070,
    "last_agg": 0.260, "average_agg": 0.212, "max_agg": 0.213, "min_agg": 0.286,
    "variance_agg": 0.251, "two_series": 0.386, "mixed": 0.783, "not_of_or": 1.205,
    "or_nesting": 1.036, "sorted_limit": 1.049,
}
PREVIOUS_M_LOAD_S = 2.64
PREVIOUS_M_RSS_MIB = 124

# The instant relative datetimes count back from, passed to all tools.
NOW = dt.datetime(2025, 1, 15, tzinfo=dt.timezone.utc)
NOW_RFC3339 = "2025-01-15T00:00:00Z"

# A series-aggregate query names an aggregate of a series or a floatSeries; the rest are
# plain-column queries.
SERIES_RE = re.compile(r"\b(last|average|max|min|variance)\s*\(|:floatSeries\b")


def is_series(query: str) -> bool:
    return bool(SERIES_RE.search(query))


def months_before(t: dt.datetime, months: int) -> dt.datetime:
    """Calendar months back, the day clamped to the month's length (as `-1M` reads)."""
    y, m = divmod(t.year * 12 + (t.month - 1) - months, 12)
    m += 1
    days = [31, 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28, 31, 30, 31, 30,
            31, 31, 30, 31, 30, 31][m - 1]
    return t.replace(year=y, month=m, day=min(t.day, days))


T_JUL = dt.datetime(2024, 7, 1, tzinfo=dt.timezone.utc)
T_SEP = dt.datetime(2024, 9, 30, 10, 0, tzinfo=dt.timezone.utc)  # 12:00+02:00
T_30D = NOW - dt.timedelta(days=30)
T_2M = months_before(NOW, 2)


def ts(t: dt.datetime) -> str:
    return f"TIMESTAMPTZ '{t.isoformat()}'"


# ---------------------------------------------------------------------------------------------
# The queries: for each name in queries.tsv, the DuckDB condition and the Polars predicate.
#
# NQL is two-valued: a clause on a missing value is false, and NOT negates that. SQL and Polars
# are three-valued (NULL), so every positive clause is wrapped so that NULL reads as false
# (`c(...)` in SQL, `.fill_null(False)` in Polars) before NOT, AND and OR combine them.
# Trashed runs are left out, as NQL does by default. Float comparisons: DuckDB and Polars both
# order NaN above every number and equal to itself, as NQL does. Series aggregates: last = the
# value at the greatest step (steps are unique within a series in generated projects, which the
# script checks), average, max (NaN if the series holds one: Polars' nan_max), min (skips NaN),
# population variance.
# ---------------------------------------------------------------------------------------------

SQL_AGG = {
    "last": "arg_max(value, step)",
    "average": "avg(value)",
    "max": "max(value)",
    "min": "min(value)",
    "variance": "var_pop(value)",
}


def c(expr: str) -> str:
    return f"coalesce({expr}, false)"


def series_sql(agg: str, path: str, op: str, value: float, tuned: bool) -> str:
    """A series clause: the ids whose aggregate satisfies it (no NULL ids, so NOT IN is safe)."""
    if tuned:
        return (f'"sys/id" IN (SELECT "sys/id" FROM summary WHERE path = \'{path}\' '
                f'AND "{agg}" {op} {value!r})')
    return (f'"sys/id" IN (SELECT "sys/id" FROM float_series WHERE path = \'{path}\' '
            f'GROUP BY "sys/id" HAVING {SQL_AGG[agg]} {op} {value!r})')


def sql_queries(tuned: bool) -> dict[str, str]:
    def s(agg, path, op, value):
        return series_sql(agg, path, op, value, tuned)

    return {
        "float_cmp": c('"params/lr" > 0.001'),
        "int_range": f'{c(""""params/batch_size" >= 64""")} AND {c(""""params/epochs" < 50""")}',
        "string_eq": c(""""params/optimizer" = 'sgd'"""),
        "bool_eq": c('"params/use_amp" = false'),
        "tags_contains": c("""list_contains("sys/tags", 'baseline')"""),
        "not_tags": f"""NOT {c('''list_contains("sys/tags", 'exploration')''')}""",
        "owner_contains": c("""contains("sys/owner", '@')"""),
        "name_matches": c("""regexp_matches("sys/name", '^(brave|calm)-[a-c]')"""),
        "datetime_abs": f'{c(f""""sys/creation_time" > {ts(T_JUL)}""")} AND '
                        f'{c(f""""sys/creation_time" <= {ts(T_SEP)}""")}',
        "datetime_rel": f'{c(f""""sys/ping_time" > {ts(T_30D)}""")} OR '
                        f'{c(f""""sys/modification_time" > {ts(T_2M)}""")}',
        "state_size": f"""{c('''"sys/state:experimentState" = 'inactive' ''')} AND """
                      f'{c(""""sys/size" > 50000000""")}',
        "exists": '"params/weight_decay" IS NOT NULL AND NOT ("params/use_amp" IS NOT NULL)',
        "last_agg": s("last", "metrics/accuracy", ">", 0.9),
        "average_agg": s("average", "metrics/loss", "<", 0.5),
        "max_agg": s("max", "val/loss", ">", 2.4),
        "min_agg": s("min", "train/lr", "<", 0.00001),
        "variance_agg": s("variance", "metrics/accuracy", ">", 0.045),
        "two_series": f'{s("last", "metrics/accuracy", ">", 0.8)} AND {s("min", "val/loss", "<", 0.2)}',
        "mixed": f'({c(""""sys/failed" = false""")} AND {s("average", "metrics/loss", "<", 0.5)}) '
                 f"""OR NOT {c('''"params/optimizer" = 'adam' ''')}""",
        "not_of_or": f"""NOT ({c('''list_contains("sys/tags", 'baseline')''')} """
                     f'OR {c(""""params/lr" > 0.001""")} '
                     f'OR {c(""""params/weight_decay" < 0.0001""")})',
        "or_nesting": f"""({c('''"params/optimizer" = 'sgd' ''')} AND """
                      f'({c(""""params/batch_size" > 256""")} OR {c(""""params/dropout" = 0""")})) '
                      f"""OR ({c('''"env/gpu" = 'H100' ''')} AND NOT {s("max", "val/loss", ">", 2.2)})""",
        "sorted_limit": c('"params/lr" > 0.0001'),
    }


# Sorted queries: (sort column, ascending, limit); the rest are returned in any order. Ours
# names the column `params/lr:float` (the project also has `params/lr:string`).
SORTED = {"sorted_limit": ("params/lr", False, 10)}
NQL_SORT_COLUMN = {"params/lr": "params/lr:float"}


def sql_for(name: str, cond: str) -> str:
    sql = f'SELECT "sys/id" FROM runs WHERE NOT coalesce("sys/trashed", false) AND ({cond})'
    if name in SORTED:
        col, asc, limit = SORTED[name]
        sql += f' ORDER BY "{col}" {"ASC" if asc else "DESC"} NULLS LAST, "sys/id" ASC LIMIT {limit}'
    return sql


def polars_queries():
    import polars as pl

    col = pl.col

    def p(e):
        return e.fill_null(False)

    aggs = {
        "last": lambda: col("value").get(col("step").arg_max()),
        "average": lambda: col("value").mean(),
        "max": lambda: col("value").nan_max(),
        "min": lambda: col("value").min(),
        "variance": lambda: col("value").var(ddof=0),
    }
    ops = {
        ">": lambda a, b: a > b,
        "<": lambda a, b: a < b,
    }

    def s(agg, path, op, value):
        # Evaluated when the query runs: the ids whose aggregate satisfies the clause.
        def ids(fs):
            return (fs.lazy().filter(col("path") == path).group_by("sys/id")
                    .agg(aggs[agg]().alias("a")).filter(ops[op](col("a"), value))
                    .select("sys/id").collect().to_series())
        return ids

    def q(pred, *series):
        return pred, series

    # Each query: a function (series ids...) -> predicate on runs, and its series clauses.
    return {
        "float_cmp": q(lambda: p(col("params/lr") > 0.001)),
        "int_range": q(lambda: p(col("params/batch_size") >= 64) & p(col("params/epochs") < 50)),
        "string_eq": q(lambda: p(col("params/optimizer") == "sgd")),
        "bool_eq": q(lambda: p(col("params/use_amp") == False)),  # noqa: E712
        "tags_contains": q(lambda: p(col("sys/tags").list.contains("baseline"))),
        "not_tags": q(lambda: ~p(col("sys/tags").list.contains("exploration"))),
        "owner_contains": q(lambda: p(col("sys/owner").str.contains("@", literal=True))),
        "name_matches": q(lambda: p(col("sys/name").str.contains("^(brave|calm)-[a-c]"))),
        "datetime_abs": q(lambda: p(col("sys/creation_time") > T_JUL)
                          & p(col("sys/creation_time") <= T_SEP)),
        "datetime_rel": q(lambda: p(col("sys/ping_time") > T_30D)
                          | p(col("sys/modification_time") > T_2M)),
        "state_size": q(lambda: p(col("sys/state:experimentState") == "inactive")
                        & p(col("sys/size") > 50_000_000)),
        "exists": q(lambda: col("params/weight_decay").is_not_null() & ~col("params/use_amp").is_not_null()),
        "last_agg": q(lambda a: col("sys/id").is_in(a.implode()), s("last", "metrics/accuracy", ">", 0.9)),
        "average_agg": q(lambda a: col("sys/id").is_in(a.implode()), s("average", "metrics/loss", "<", 0.5)),
        "max_agg": q(lambda a: col("sys/id").is_in(a.implode()), s("max", "val/loss", ">", 2.4)),
        "min_agg": q(lambda a: col("sys/id").is_in(a.implode()), s("min", "train/lr", "<", 0.00001)),
        "variance_agg": q(lambda a: col("sys/id").is_in(a.implode()), s("variance", "metrics/accuracy", ">", 0.045)),
        "two_series": q(lambda a, b: col("sys/id").is_in(a.implode()) & col("sys/id").is_in(b.implode()),
                        s("last", "metrics/accuracy", ">", 0.8), s("min", "val/loss", "<", 0.2)),
        "mixed": q(lambda a: (p(col("sys/failed") == False) & col("sys/id").is_in(a.implode()))  # noqa: E712
                   | ~p(col("params/optimizer") == "adam"),
                   s("average", "metrics/loss", "<", 0.5)),
        "not_of_or": q(lambda: ~(p(col("sys/tags").list.contains("baseline")) | p(col("params/lr") > 0.001)
                                 | p(col("params/weight_decay") < 0.0001))),
        "or_nesting": q(lambda a: (p(col("params/optimizer") == "sgd")
                                   & (p(col("params/batch_size") > 256) | p(col("params/dropout") == 0)))
                        | (p(col("env/gpu") == "H100") & ~col("sys/id").is_in(a.implode())),
                        s("max", "val/loss", ">", 2.2)),
        "sorted_limit": q(lambda: p(col("params/lr") > 0.0001)),
    }


# ---------------------------------------------------------------------------------------------
# Workers: one process per tool.
# ---------------------------------------------------------------------------------------------

def read_queries() -> list[tuple[str, str]]:
    out = []
    for line in (HERE / "queries.tsv").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, query = line.split("\t", 1)
            out.append((name.strip(), query))
    return out


def table_files(data: Path) -> dict[str, str]:
    """The Parquet files of each table present, as a glob DuckDB and Polars both read."""
    out = {}
    for table in ["runs", "models", "model_versions", "float_series", "string_series"]:
        if (data / f"{table}.parquet").exists():
            out[table] = str(data / f"{table}.parquet")
        elif (data / table).is_dir():
            out[table] = str(data / table / "*.parquet")
    return out


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_bytes() -> int:
    """This process's peak resident memory (ru_maxrss, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def time_reps(fn, reps: int, warmup: int = 1):
    """The median of `reps` timed calls after `warmup` untimed ones (reps 0: one timed call)."""
    result = None
    for _ in range(warmup if reps else 0):
        result = fn()
    samples = []
    for _ in range(max(reps, 1)):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples), result, samples


def write_ids(ids_dir: Path, name: str, ids: list[str]):
    ids_dir.mkdir(parents=True, exist_ok=True)
    (ids_dir / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))


def fetch_arrow(con, sql):
    """The result as an Arrow table (DuckDB 2 names it to_arrow_table, 1.x arrow)."""
    rel = con.sql(sql)
    fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
    return fetch()


def worker_duckdb(data: Path, out: Path, ids_root: Path, reps: int, names: list[str]):
    """Warm: every table loaded in memory once, then each query timed `reps` times."""
    import duckdb

    con = duckdb.connect()  # in memory; PRAGMA threads left at its default (all cores)
    con.execute("SET enable_progress_bar = false").fetchall()
    files = table_files(data)
    start = time.perf_counter()
    for table, glob in files.items():
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{glob}')").fetchall()
    create_s = time.perf_counter() - start
    start = time.perf_counter()
    con.execute(SUMMARY_SQL).fetchall()
    summary_s = time.perf_counter() - start
    dup_steps = con.execute("""SELECT count(*) FROM (SELECT 1 FROM float_series
        GROUP BY "sys/id", path, step HAVING count(*) > 1)""").fetchall()[0][0]
    report = {"create_s": create_s, "summary_s": summary_s, "rss_bytes": resident_bytes(),
              "duplicate_steps": dup_steps, "threads": con.execute(
                  "SELECT current_setting('threads')").fetchall()[0][0], "queries": {}}
    for variant, tuned in [("duckdb", False), ("duckdb_tuned", True)]:
        conds = sql_queries(tuned)
        for name in names:
            sql = sql_for(name, conds[name])
            ms, table, _ = time_reps(lambda: fetch_arrow(con, sql), reps)
            ids = table.column(0).to_pylist()
            write_ids(ids_root / variant, name, ids)
            report["queries"].setdefault(name, {})[variant] = {"median_ms": ms, "rows": len(ids),
                                                               "sql": sql}
    out.write_text(json.dumps(report, indent=1))


SUMMARY_SQL = """CREATE TABLE summary AS SELECT "sys/id", path, arg_max(value, step) AS "last",
    avg(value) AS "average", max(value) AS "max", min(value) AS "min",
    var_pop(value) AS "variance" FROM float_series GROUP BY "sys/id", path"""


def worker_polars(data: Path, out: Path, ids_root: Path, reps: int, names: list[str]):
    """Warm: every table read into DataFrames once, then each query timed `reps` times."""
    import polars as pl

    files = table_files(data)
    start = time.perf_counter()
    frames = {table: pl.read_parquet(glob) for table, glob in files.items()}
    read_s = time.perf_counter() - start
    runs, fs = frames["runs"], frames["float_series"]
    start = time.perf_counter()
    summary = fs.group_by("sys/id", "path").agg(
        pl.col("value").get(pl.col("step").arg_max()).alias("last"), pl.col("value").mean().alias("average"),
        pl.col("value").nan_max().alias("max"), pl.col("value").min().alias("min"),
        pl.col("value").var(ddof=0).alias("variance"))
    summary_s = time.perf_counter() - start
    del summary
    report = {"read_s": read_s, "summary_s": summary_s, "rss_bytes": resident_bytes(),
              "threads": pl.thread_pool_size(), "queries": {}}
    for name in names:
        run = polars_query(name, lambda: runs, lambda: fs)
        ms, frame, _ = time_reps(run, reps)
        ids = frame.to_series().to_list()
        write_ids(ids_root / "polars", name, ids)
        report["queries"][name] = {"polars": {"median_ms": ms, "rows": len(ids)}}
    out.write_text(json.dumps(report, indent=1))


def polars_query(name: str, runs, fs):
    """The query `name` as a function collecting its ids; `runs()` and `fs()` give the runs
    and points (DataFrames, or fresh lazy scans)."""
    import polars as pl

    pred, series = polars_queries()[name]
    not_trashed = ~pl.col("sys/trashed").fill_null(False)

    def run():
        points = fs()
        ids = [f(points) for f in series]
        lf = runs().lazy().filter(not_trashed & pred(*ids))
        if name in SORTED:
            column, asc, limit = SORTED[name]
            lf = lf.sort([column, "sys/id"], descending=[not asc, False], nulls_last=True).head(limit)
        return lf.select("sys/id").collect()

    return run


def oneshot_runner(tool: str, data: Path):
    """For the one-shot mode: a function that answers the query `name` from nothing and
    returns its ids. DuckDB: a fresh in-memory database (duckdb.connect()), views over the
    Parquet files (no CREATE TABLE), the query, the ids fetched as Arrow, the connection
    closed. Polars: fresh pl.scan_parquet scans of runs and points, the lazy expressions,
    collected."""
    files = table_files(data)
    if tool == "duckdb":
        import duckdb

        conds = sql_queries(False)

        def run(name):
            con = duckdb.connect()  # a new database each call: no cache survives it
            con.execute("SET enable_progress_bar = false")
            for table in ("runs", "float_series"):
                con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{files[table]}')")
            table = fetch_arrow(con, sql_for(name, conds[name]))
            con.close()
            return table.column(0).to_pylist()

        with duckdb.connect() as con:
            threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
        return run, threads
    import polars as pl

    def run(name):
        frame = polars_query(name, lambda: pl.scan_parquet(files["runs"]),
                             lambda: pl.scan_parquet(files["float_series"]))()
        return frame.to_series().to_list()

    return run, pl.thread_pool_size()


def worker_oneshot(tool: str, data: Path, ids_root: Path):
    """Serves one-shot runs: reads `NAME<TAB>WRITE_IDS` lines on standard input, answers each
    query from nothing, timed from the connection (or scan) to the fetched ids, and writes a
    JSON line {"ms", "rows"} to standard output (with its ids to ids_root when asked). The
    first line says it is ready (imports done: they are not timed)."""
    run, threads = oneshot_runner(tool, data)
    print(json.dumps({"ready": True, "threads": threads}), flush=True)
    for line in sys.stdin:
        name, write = line.rstrip("\n").split("\t")
        start = time.perf_counter()
        ids = run(name)
        ms = (time.perf_counter() - start) * 1e3
        if write == "1":
            write_ids(ids_root / f"{tool}_oneshot", name, ids)
        print(json.dumps({"ms": ms, "rows": len(ids)}), flush=True)


def worker_duckdb_load(data: Path, out: Path, tmp: Path):
    """DuckDB's load of the points: CREATE TABLE float_series in memory, then the summary
    GROUP BY (last, average, max, min, variance per run and path). It may spill to `tmp`."""
    import duckdb

    files = table_files(data)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    tmp.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = '{tmp}'")
    start = time.perf_counter()
    con.execute(f"CREATE TABLE float_series AS SELECT * FROM read_parquet('{files['float_series']}')")
    create_s = time.perf_counter() - start
    rss_create = resident_bytes()
    spilled = con.execute("SELECT coalesce(sum(size), 0) FROM duckdb_temporary_files()").fetchall()[0][0]
    start = time.perf_counter()
    con.execute(SUMMARY_SQL)
    summary_s = time.perf_counter() - start
    spilled = max(spilled, con.execute(
        "SELECT coalesce(sum(size), 0) FROM duckdb_temporary_files()").fetchall()[0][0])
    report = {
        "create_s": create_s, "summary_s": summary_s, "rss_after_create": rss_create,
        "rss_after_summary": resident_bytes(), "peak_bytes": peak_bytes(),
        "points": con.execute("SELECT count(*) FROM float_series").fetchall()[0][0],
        "summaries": con.execute("SELECT count(*) FROM summary").fetchall()[0][0],
        "threads": con.execute("SELECT current_setting('threads')").fetchall()[0][0],
        "memory_limit": con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0],
        "spilled_bytes": int(spilled),
    }
    con.close()
    shutil.rmtree(tmp, ignore_errors=True)
    out.write_text(json.dumps(report, indent=1))


# ---------------------------------------------------------------------------------------------
# The driver.
# ---------------------------------------------------------------------------------------------

def ensure_venv():
    """Re-runs this script inside benches/compare/.venv, creating it first if needed."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV} with {', '.join(PACKAGES)}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PACKAGES], check=True)
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def find_nql(arg: str | None) -> Path:
    candidates = [arg] if arg else [
        os.environ.get("CARGO_TARGET_DIR", "") and f"{os.environ['CARGO_TARGET_DIR']}/release/nql",
        str(REPO / "target" / "release" / "nql"),
    ]
    for cand in candidates:
        if cand and Path(cand).exists():
            return Path(cand).resolve()
    sys.exit("no release nql binary: build it with `cargo build --release -p nql-cli` "
             "or pass --nql PATH")


GNU_TIME = Path("/usr/bin/time")


def run_child(cmd: list, stdout: Path | None = None, check: bool = True, memory: bool = False,
              env: dict | None = None) -> dict:
    """Runs `cmd` to its end: wall seconds around the process (start to exit), exit code and
    standard error; with `memory`, its peak resident memory too.

    The peak is GNU time's %M (the child's ru_maxrss) when /usr/bin/time exists, else
    ru_maxrss from wait4. Not wait4 alone: Python starts children with vfork and exec, and
    Linux carries the parent's high-water mark into the child's ru_maxrss across exec, so a
    small child of a large driver would read as large as the driver. GNU time adds a process
    around the child, so timed runs are run without it."""
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    err_path = tmp / f"compare-{os.getpid()}.stderr"
    mem_path = tmp / f"compare-{os.getpid()}.maxrss"
    wrapped = [str(c) for c in cmd]
    if memory and GNU_TIME.exists():
        wrapped = [str(GNU_TIME), "-f", "%M", "-o", str(mem_path), *wrapped]
    with open(stdout or os.devnull, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        p = subprocess.Popen(wrapped, stdout=out, stderr=err, env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    stderr = err_path.read_text(errors="replace")
    err_path.unlink()
    peak = None
    if memory:
        if mem_path.exists():
            peak = int(mem_path.read_text().split()[-1]) * 1024
            mem_path.unlink()
        else:
            peak = usage.ru_maxrss * 1024
    if check and p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(map(str, cmd))}\n{stderr}")
    return {"s": seconds, "peak_bytes": peak, "rc": p.returncode, "stderr": stderr}


def dir_bytes(path: Path, skip: tuple[str, ...] = ()) -> int:
    total = 0
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d not in skip]
        total += sum((Path(root) / f).stat().st_size for f in files)
    return total


def generate(nql: Path, data: Path, runs: int, runs_per_file: int, key: str = "GEN", seed: int = 42) -> dict:
    """Writes the project once (`.complete` records how, and how long it took)."""
    args = ["--runs", str(runs), "--full", "--runs-per-file", str(runs_per_file), "--key", key,
            "--seed", str(seed)]
    marker = data / ".complete"
    if marker.exists():
        try:
            info = json.loads(marker.read_text())
            if info.get("args") == args:
                return info
        except ValueError:
            pass
    if data.exists():
        shutil.rmtree(data)
    print(f"generating {runs:,} runs into {data}", file=sys.stderr)
    r = run_child([nql, "generate", "--out", data, *args])
    info = {"args": args, "seconds": r["s"], "peak_bytes": r["peak_bytes"], "bytes": dir_bytes(data),
            "message": r["stderr"].strip()}
    print(f"  {r['s']:.1f} s, {info['bytes'] / 2**20:,.0f} MiB", file=sys.stderr)
    marker.write_text(json.dumps(info))
    return info


def index_message(stderr: str) -> str:
    """What `nql index` said it did (its "indexed ..." or "the index of ... is up to date" line)."""
    lines = [l for l in stderr.splitlines() if l.startswith(("indexed ", "the index of "))]
    return " ".join(lines) or stderr.strip()


def build_index(nql: Path, data: Path) -> dict:
    """`nql index --rebuild`: builds the index from nothing, timed."""
    r = run_child([nql, "index", "--data", data, "--rebuild"], memory=True)
    return {"s": r["s"], "peak_bytes": r["peak_bytes"], "message": index_message(r["stderr"]),
            "index_bytes": dir_bytes(data / "_nql"), "data_bytes": dir_bytes(data, skip=("_nql",))}


def nql_query_cmd(nql: Path, data: Path, name: str, query: str) -> list:
    flags = []
    if name in SORTED:
        column, asc, limit = SORTED[name]
        flags = ["--sort-by", NQL_SORT_COLUMN.get(column, column), "--limit", str(limit)] + (["--ascending"] if asc else [])
    return [nql, "query", "--data", data, "--columns", "sys/id", "--format", "csv", "--now", NOW_RFC3339,
            *flags, "--", query]


def csv_ids(path: Path) -> list[str]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header[:1] != ["sys/id"]:
            sys.exit(f"{path}: expected a sys/id column first, got {header}")
        return [row[0] for row in reader]


def run_ours(nql: Path, data: Path, work: Path, queries, iterations: int) -> dict:
    """Warm: unsorted queries in one `nql bench` run; each sorted query in its own (its options)."""
    groups = [([q for q in queries if q[0] not in SORTED], [])]
    for name, query in queries:
        if name in SORTED:
            column, asc, limit = SORTED[name]
            flags = ["--sort-by", NQL_SORT_COLUMN.get(column, column), "--limit", str(limit)] + (["--ascending"] if asc else [])
            groups.append(([(name, query)], flags))
    report = {"queries": {}}
    for i, (group, flags) in enumerate(groups):
        tsv = work / f"ours-{i}.tsv"
        tsv.write_text("".join(f"{n}\t{q}\n" for n, q in group))
        out = subprocess.run(
            [str(nql), "bench", "--data", str(data), "--queries", str(tsv), "--json", "--now", NOW_RFC3339,
             "--iterations", str(iterations), "--ids-dir", str(work / "ids" / "ours"), *flags],
            check=True, capture_output=True, text=True).stdout
        result = json.loads(out)
        if i == 0:
            report.update({k: v for k, v in result.items() if k != "queries"})
        for q in result["queries"]:
            report["queries"][q["name"]] = {"ours": {"median_ms": q["median_ms"], "rows": q["rows"]}}
    return report


class Worker:
    """A worker process of `script` (`script --worker WORKER`), driven a query at a time, so that
    the tools take turns run by run (a shared machine's load then falls on all of them alike).
    It answers each query name with a JSON line; its first line says what it is (`info`). Its
    peak memory is read by GNU time when it ends. (sources.py's workers are these too.)"""

    def __init__(self, script: str, worker: str, data: Path, ids_root: Path, label: str):
        tmp = Path(os.environ.get("TMPDIR", "/tmp"))
        self.mem = tmp / f"{label}-{os.getpid()}-{worker}.maxrss"
        cmd = [sys.executable, str(script), "--worker", worker, "--data", str(data), "--ids-root", str(ids_root)]
        if GNU_TIME.exists():
            cmd = [str(GNU_TIME), "-f", "%M", "-o", str(self.mem), *cmd]
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._read()

    def _read(self) -> dict:
        line = self.p.stdout.readline()
        if not line:
            sys.exit(f"the {self.p.args} worker ended early ({self.p.wait()})")
        return json.loads(line)

    def run(self, name: str, write_ids: bool = False) -> dict:
        self.p.stdin.write(f"{name}\t{int(write_ids)}\n")
        self.p.stdin.flush()
        return self._read()

    def close(self) -> int | None:
        self.p.stdin.close()
        if self.p.wait() != 0:
            sys.exit(f"the {self.p.args} worker failed ({self.p.returncode})")
        if self.mem.exists():
            peak = int(self.mem.read_text().split()[-1]) * 1024
            self.mem.unlink()
            return peak
        return None


class OneshotWorker(Worker):
    """A DuckDB or Polars one-shot worker process (`--worker duckdb-oneshot`)."""

    def __init__(self, tool: str, data: Path, ids_root: Path):
        super().__init__(__file__, f"{tool}-oneshot", data, ids_root, "compare")
        self.threads = self.info["threads"]


def run_worker(tool: str, data: Path, work: Path, reps: int, names: list[str],
               ids_root: Path | None = None, out_name: str | None = None) -> dict:
    out = work / f"{out_name or tool}.json"
    r = run_child([sys.executable, __file__, "--worker", tool, "--data", data, "--out", out,
                   "--ids-root", ids_root or work / "ids", "--reps", str(reps), "--names", ",".join(names)],
                  memory=True)
    report = json.loads(out.read_text())
    report["process_peak_bytes"] = r["peak_bytes"]
    return report


def geomean(xs):
    xs = list(xs)
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def group_stats(rows: list[dict], key: str) -> dict:
    """Geometric mean and maximum of `key` over plain-column, series-aggregate and all queries."""
    out = {}
    for group, keep in (("plain", lambda r: not r["series"]), ("series", lambda r: r["series"]),
                        ("all", lambda r: True)):
        xs = [r for r in rows if keep(r) and r.get(key) is not None]
        if not xs:
            continue
        top = max(xs, key=lambda r: r[key])
        out[group] = {"geomean": geomean(r[key] for r in xs), "max": top[key], "max_query": top["name"],
                      "n": len(xs)}
    return out


def read_ids(work: Path, tool: str, name: str) -> list[str] | None:
    path = work / "ids" / tool / f"{name}.txt"
    if not path.exists():
        return None
    lines = path.read_text().splitlines()
    return lines if name in SORTED else sorted(lines)


def same_ids(scale: str, name: str, ids: dict[str, list[str] | None], reference: str) -> bool:
    """Whether every tool returned the reference's ids; prints examples of a mismatch."""
    ids = {t: v for t, v in ids.items() if v is not None}
    ok = all(v == ids[reference] for v in ids.values())
    if not ok:
        for t, v in ids.items():
            extra = set(v) - set(ids[reference])
            lacking = set(ids[reference]) - set(v)
            print(f"MISMATCH {scale} {name}: {t} has {len(v)} ids, {len(extra)} not {reference}'s "
                  f"{sorted(extra)[:3]}, lacks {len(lacking)} {sorted(lacking)[:3]}", file=sys.stderr)
    return ok


def run_warm(nql: Path, scale: str, data: Path, work: Path, queries, args) -> dict:
    runs = SCALES[scale]
    names = [n for n, _ in queries]
    reps = args.reps or (20 if runs <= 10_000 else 5)
    iterations = args.iterations or (100 if runs <= 10_000 else 50)
    print(f"[{scale}] warm: ours (nql bench)", file=sys.stderr)
    ours = run_ours(nql, data, work, queries, iterations)
    print(f"[{scale}] warm: duckdb", file=sys.stderr)
    duck = run_worker("duckdb", data, work, reps, names)
    print(f"[{scale}] warm: polars", file=sys.stderr)
    polars = run_worker("polars", data, work, reps, names)
    if duck["duplicate_steps"]:
        print(f"warning: {duck['duplicate_steps']} series have repeated steps: `last` in SQL "
              "and Polars does not break their ties as NQL does", file=sys.stderr)
    rows = []
    for name, query in queries:
        r = {"name": name, "query": query, "series": is_series(query)}
        for src in (ours, duck, polars):
            for tool, v in src["queries"][name].items():
                r[tool] = v["median_ms"]
                r[f"{tool}_rows"] = v["rows"]
        r["same_ids"] = same_ids(scale, name, {t: read_ids(work, t, name) for t in
                                               ("ours", "duckdb", "duckdb_tuned", "polars")}, "ours")
        r["vs_duckdb"] = r["ours"] / r["duckdb"]
        r["vs_tuned"] = r["ours"] / r["duckdb_tuned"]
        r["vs_polars"] = r["ours"] / r["polars"]
        r["previous_ms"] = PREVIOUS_M_MS.get(name) if scale == "M" else None
        rows.append(r)
    return {
        "rows": rows,
        "stats_vs_duckdb": group_stats(rows, "vs_duckdb"),
        "stats_vs_tuned": group_stats(rows, "vs_tuned"),
        "stats_vs_polars": group_stats(rows, "vs_polars"),
        "series_max_ms": max(r["ours"] for r in rows if r["series"]),
        "all_same_ids": all(r["same_ids"] for r in rows),
        "ours_open_s": ours["load_seconds"],
        "ours_rss_bytes": ours.get("rss_bytes"),
        "ours_arrow_bytes": ours.get("arrow_bytes"),
        "duckdb_create_s": duck["create_s"],
        "duckdb_summary_s": duck["summary_s"],
        "duckdb_rss_bytes": duck["rss_bytes"],
        "duckdb_threads": duck["threads"],
        "polars_read_s": polars["read_s"],
        "polars_summary_s": polars["summary_s"],
        "polars_rss_bytes": polars["rss_bytes"],
        "polars_threads": polars["threads"],
        "duplicate_steps": duck["duplicate_steps"],
        "iterations_ours": iterations,
        "reps_others": reps,
    }


def run_oneshot(nql: Path, scale: str, data: Path, work: Path, queries, args) -> dict:
    """Each query: a warm-up round (ours, DuckDB, Polars once each: it fills the page cache
    for every tool and measures our peak memory), then `reps` rounds, the tools taking turns."""
    reps = args.oneshot_reps or (3 if scale == "L" else 5)
    with_polars = scale in args.polars_scales.split(",")
    print(f"[{scale}] one-shot: ours, DuckDB{', Polars' if with_polars else ''} taking turns", file=sys.stderr)
    out_dir = work / "oneshot-out"
    out_dir.mkdir(parents=True, exist_ok=True)
    duck = OneshotWorker("duckdb", data, work / "ids")
    polars = OneshotWorker("polars", data, work / "ids") if with_polars else None
    rows = []
    for name, query in queries:
        cmd = nql_query_cmd(nql, data, name, query)
        out = out_dir / f"{name}.csv"
        warmup = run_child(cmd, out, memory=True)
        rows_duck = duck.run(name, write_ids=True)["rows"]
        if polars:
            polars.run(name, write_ids=True)
        samples = {"ours": [], "duckdb": [], "polars": []}
        for _ in range(reps):
            samples["ours"].append(run_child(cmd, out)["s"] * 1e3)
            samples["duckdb"].append(duck.run(name)["ms"])
            if polars:
                samples["polars"].append(polars.run(name)["ms"])
        ids = csv_ids(out)
        write_ids(work / "ids" / "ours_oneshot", name, ids)
        r = {"name": name, "query": query, "series": is_series(query), "rows": len(ids),
             "ours": statistics.median(samples["ours"]), "ours_samples": samples["ours"],
             "ours_peak_bytes": warmup["peak_bytes"],
             "duckdb": statistics.median(samples["duckdb"]), "duckdb_samples": samples["duckdb"],
             "polars": statistics.median(samples["polars"]) if polars else None,
             "polars_samples": samples["polars"]}
        tools = ["ours_oneshot", "duckdb_oneshot"] + (["polars_oneshot"] if polars else [])
        r["same_ids"] = same_ids(scale, name, {t: read_ids(work, t, name) for t in tools}
                                 | {"ours_warm": read_ids(work, "ours", name)}, "ours_oneshot")
        r["vs_duckdb"] = r["ours"] / r["duckdb"]
        r["vs_polars"] = r["ours"] / r["polars"] if polars else None
        rows.append(r)
        print(f"  {name:<15} ours {r['ours']:8.2f} ms  DuckDB {r['duckdb']:9.2f} ms  Polars "
              f"{ms(r['polars']):>9} ms  ({rows_duck:,} ids)", file=sys.stderr)
    duck_threads, polars_threads = duck.threads, polars.threads if polars else None
    duck_peak = duck.close()
    polars_peak = polars.close() if polars else None
    scalar = next(r for r in rows if r["name"] == SCALAR_QUERY)
    return {
        "rows": rows, "reps": reps, "with_polars": with_polars, "interleaved": True,
        "stats_vs_duckdb": group_stats(rows, "vs_duckdb"),
        "stats_vs_polars": group_stats(rows, "vs_polars") if polars else {},
        "all_same_ids": all(r["same_ids"] for r in rows),
        "scalar_query": SCALAR_QUERY, "scalar_peak_bytes": scalar["ours_peak_bytes"],
        "plain_peak_bytes": max(r["ours_peak_bytes"] for r in rows if not r["series"]),
        "all_peak_bytes": max(r["ours_peak_bytes"] for r in rows),
        "duckdb_threads": duck_threads, "duckdb_peak_bytes": duck_peak,
        "polars_threads": polars_threads, "polars_peak_bytes": polars_peak,
    }


def link_tree(src: Path, dst: Path, with_index: bool):
    """A copy of the project `src` at `dst`: its files hard-linked (the same bytes, already in
    the page cache), without `_nql`, or with a real copy of it."""
    if dst.exists():
        shutil.rmtree(dst)
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d != "_nql"]
        rel = Path(root).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for f in files:
            try:
                os.link(Path(root) / f, dst / rel / f)
            except OSError:
                shutil.copy2(Path(root) / f, dst / rel / f)
    if with_index:
        shutil.copytree(src / "_nql", dst / "_nql")


def add_runs(add: Path, dst: Path) -> int:
    """Adds the runs of project `add` (and their series) to `dst` as new part files."""
    n = 0
    for table in ("runs", "float_series", "string_series"):
        files = [add / f"{table}.parquet"] if (add / f"{table}.parquet").exists() \
            else sorted((add / table).glob("*.parquet"))
        for i, f in enumerate(files):
            target = dst / table / f"added-{i:05}.parquet"
            try:
                os.link(f, target)
            except OSError:
                shutil.copy2(f, target)
            n += 1
    return n


def run_fresh(nql: Path, scale: str, data: Path, work: Path, queries) -> dict:
    """(b) The first query on a copy of the project with no index: the query answers from the
    files and leaves the index to an `nql index` it starts in the background."""
    text = dict(queries)
    out = {}
    for name in FRESH_QUERIES:
        print(f"[{scale}] first query on a fresh copy: {name}", file=sys.stderr)
        copy = work / f"fresh-{name}"
        link_tree(data, copy, with_index=False)
        result = work / f"fresh-{name}.csv"
        r = run_child(nql_query_cmd(nql, copy, name, text[name]), result, memory=True)
        write_ids(work / "ids" / "ours_fresh", name, csv_ids(result))
        # The query answered from the files and started `nql index` in the background:
        # `nql index` waits for its lock (the time until the index is ready, after the answer).
        ready = run_child([nql, "index", "--data", copy])
        out[name] = {"s": r["s"], "peak_bytes": r["peak_bytes"], "index_bytes": dir_bytes(copy / "_nql"),
                     "index_ready_s": ready["s"], "index_after": index_message(ready["stderr"]),
                     "same_ids": same_ids(scale, name, {"ours_fresh": read_ids(work, "ours_fresh", name),
                                                        "ours_oneshot": read_ids(work, "ours_oneshot", name),
                                                        "duckdb_oneshot": read_ids(work, "duckdb_oneshot", name)},
                                          "ours_fresh")}
        # The first query as the index issue defines it: the index built inside it
        # (`NQL_BACKGROUND_INDEX=0`), what the query did before it could answer from files.
        link_tree(data, copy, with_index=False)
        built = run_child(nql_query_cmd(nql, copy, name, text[name]), work / f"fresh-built-{name}.csv",
                          memory=True, env={"NQL_BACKGROUND_INDEX": "0"})
        same = csv_ids(work / f"fresh-built-{name}.csv") == csv_ids(result)
        out[name].update({"built_s": built["s"], "built_peak_bytes": built["peak_bytes"], "built_same_ids": same})
        out[name]["same_ids"] &= same
        shutil.rmtree(copy)
    return out


def run_append(nql: Path, scale: str, data: Path, add: Path, work: Path, queries) -> dict:
    """(c) The first query after adding 10% more runs as new files to an indexed copy: the
    query refreshes the index (summarizing the new series files only)."""
    text = dict(queries)
    out = {"added_runs": SCALES[scale] // 10, "queries": {}}
    for i, name in enumerate(FRESH_QUERIES):
        print(f"[{scale}] first query after adding runs: {name}", file=sys.stderr)
        copy = work / f"append-{name}"
        link_tree(data, copy, with_index=True)
        out["files_added"] = add_runs(add, copy)
        result = work / f"append-{name}.csv"
        r = run_child(nql_query_cmd(nql, copy, name, text[name]), result, memory=True)
        write_ids(work / "ids" / "ours_append", name, csv_ids(result))
        after = index_message(run_child([nql, "index", "--data", copy])["stderr"])
        out["queries"][name] = {"s": r["s"], "peak_bytes": r["peak_bytes"], "index_after": after}
        if i == len(FRESH_QUERIES) - 1:
            # DuckDB over the grown project, for its ids (one run each, no warm-up).
            duck = OneshotWorker("duckdb", copy, work / "ids-append")
            out["duckdb_ms"] = {n: duck.run(n, write_ids=True)["ms"] for n in FRESH_QUERIES}
            duck.close()
        shutil.rmtree(copy)
    for name in FRESH_QUERIES:
        ours = (work / "ids" / "ours_append" / f"{name}.txt").read_text().splitlines()
        duck = (work / "ids-append" / "duckdb_oneshot" / f"{name}.txt").read_text().splitlines()
        if name not in SORTED:
            ours, duck = sorted(ours), sorted(duck)
        q = out["queries"][name]
        q["rows"] = len(ours)
        q["same_ids"] = ours == duck
        if not q["same_ids"]:
            print(f"MISMATCH {scale} {name} after adding runs: ours {len(ours)} ids, DuckDB {len(duck)}",
                  file=sys.stderr)
    return out


def run_scale(nql: Path, scale: str, args) -> dict:
    runs = SCALES[scale]
    root = Path(args.data_root)
    data = root / f"gen-{scale}"
    work = root / f"compare-{scale}"
    modes = args.modes.split(",")
    result = {"scale": scale, "runs": runs, "runs_per_file": RUNS_PER_FILE[scale],
              "commit": args.nql_commit or code_commit(), "binary": binary_identity(nql),
              "modes": modes, "machine_note": args.machine_note}
    result["generate"] = generate(nql, data, runs, RUNS_PER_FILE[scale])
    add = root / f"gen-{scale}-add"
    if "index" in modes:
        result["generate_add"] = generate(nql, add, runs // 10, RUNS_PER_FILE[scale], key="ADD", seed=43)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    queries = read_queries()
    names = [n for n, _ in queries]
    missing = set(names) ^ set(sql_queries(False))
    if missing:
        sys.exit(f"queries.tsv and compare.py disagree on: {sorted(missing)}")
    print(f"[{scale}] nql index --rebuild", file=sys.stderr)
    result["index"] = build_index(nql, data)
    print(f"  {result['index']['message']}", file=sys.stderr)
    if "warm" in modes:
        if scale in WARM_SCALES:
            result["warm"] = run_warm(nql, scale, data, work, queries, args)
        else:
            print(f"[{scale}] warm mode skipped: DuckDB's and Polars' in-memory tables would not fit",
                  file=sys.stderr)
    if "oneshot" in modes:
        result["oneshot"] = run_oneshot(nql, scale, data, work, queries, args)
    if "index" in modes:
        result["fresh"] = run_fresh(nql, scale, data, work, queries)
        one = result.get("oneshot")
        for name, f in result["fresh"].items():
            if one:
                row = next(r for r in one["rows"] if r["name"] == name)
                f["duckdb_oneshot_ms"] = row["duckdb"]
                f["vs_duckdb"] = f["s"] * 1e3 / row["duckdb"]
        result["append"] = run_append(nql, scale, data, add, work, queries)
        for name, a in result["append"]["queries"].items():
            a["vs_fresh"] = a["s"] / result["fresh"][name]["s"]
            a["vs_built"] = a["s"] / result["fresh"][name]["built_s"]
        print(f"[{scale}] DuckDB: CREATE TABLE of the points + summary GROUP BY", file=sys.stderr)
        load = run_child([sys.executable, __file__, "--worker", "duckdb-load", "--data", data,
                          "--out", work / "duckdb-load.json", "--tmp", work / "duckdb-tmp"], memory=True)
        result["duckdb_load"] = json.loads((work / "duckdb-load.json").read_text())
        result["duckdb_load"]["process_peak_bytes"] = load["peak_bytes"]
        d = result["duckdb_load"]
        result["index_vs_duckdb_load"] = result["index"]["s"] / (d["create_s"] + d["summary_s"])
    (work / "result.json").write_text(json.dumps(result, indent=1))
    return result


# ---------------------------------------------------------------------------------------------
# Reporting.
# ---------------------------------------------------------------------------------------------

def ratio(x: float | None) -> str:
    """A ratio with three significant digits, so that 0.0003 does not print as 0.000."""
    if x is None:
        return "-"
    return f"{x:.3g}" if x < 1 else f"{x:.2f}"


def ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 10 else f"{x:,.1f}"


def mib(b) -> str:
    return f"{b / 2**20:,.0f} MiB" if b else "-"


def stat_text(stats: dict, group: str) -> str:
    s = stats.get(group)
    if not s:
        return "-"
    return f"{ratio(s['geomean'])} (max {ratio(s['max'])}, `{s['max_query']}`)"


def print_results(res: dict, out=sys.stdout):
    print(f"\nscale {res['scale']} ({res['runs']:,} runs)", file=out)
    ix = res["index"]
    print(f"index build: {ix['s']:.2f} s, peak {mib(ix['peak_bytes'])}, index {mib(ix['index_bytes'])} "
          f"for {mib(ix['data_bytes'])} of Parquet", file=out)
    if res.get("warm"):
        w = res["warm"]
        print("warm (in-process):", file=out)
        print(f"{'query':<15} {'rows':>7} {'ours':>8} {'prev':>7} {'duckdb':>8} {'tuned':>8} {'polars':>8} "
              f"{'/duckdb':>8} {'/tuned':>8} {'/polars':>8} same", file=out)
        for r in w["rows"]:
            print(f"{r['name']:<15} {r['ours_rows']:>7} {r['ours']:>8.3f} {ms(r['previous_ms']):>7} "
                  f"{r['duckdb']:>8.2f} {r['duckdb_tuned']:>8.2f} {r['polars']:>8.2f} {ratio(r['vs_duckdb']):>8} "
                  f"{ratio(r['vs_tuned']):>8} {ratio(r['vs_polars']):>8} {'yes' if r['same_ids'] else 'NO'}", file=out)
        for g in ("plain", "series", "all"):
            print(f"  {g:<6} ours/DuckDB {stat_text(w['stats_vs_duckdb'], g)}; ours/tuned "
                  f"{stat_text(w['stats_vs_tuned'], g)}; ours/Polars {stat_text(w['stats_vs_polars'], g)}", file=out)
        print(f"  open {w['ours_open_s']:.3f} s; slowest series-aggregate query {w['series_max_ms']:.3f} ms", file=out)
    if res.get("oneshot"):
        o = res["oneshot"]
        print(f"one-shot (median of {o['reps']} after one warm-up):", file=out)
        print(f"{'query':<15} {'kind':<6} {'rows':>7} {'ours':>8} {'peak':>8} {'duckdb':>9} {'polars':>9} "
              f"{'/duckdb':>8} {'/polars':>8} same", file=out)
        for r in o["rows"]:
            print(f"{r['name']:<15} {'series' if r['series'] else 'plain':<6} {r['rows']:>7} {r['ours']:>8.2f} "
                  f"{r['ours_peak_bytes'] / 2**20:>7.0f}M {ms(r['duckdb']):>9} {ms(r['polars']):>9} "
                  f"{ratio(r['vs_duckdb']):>8} {ratio(r['vs_polars']):>8} {'yes' if r['same_ids'] else 'NO'}", file=out)
        for g in ("plain", "series", "all"):
            print(f"  {g:<6} ours/DuckDB {stat_text(o['stats_vs_duckdb'], g)}; ours/Polars "
                  f"{stat_text(o['stats_vs_polars'], g)}", file=out)
    if res.get("fresh"):
        for name, f in res["fresh"].items():
            print(f"first query on a fresh copy, {name}: {f['s']:.2f} s ({ratio(f.get('vs_duckdb'))}x DuckDB "
                  f"one-shot), peak {mib(f['peak_bytes'])}, same ids {f['same_ids']}", file=out)
        a = res["append"]
        for name, q in a["queries"].items():
            print(f"after adding {a['added_runs']:,} runs ({a['files_added']} files), {name}: {q['s']:.2f} s "
                  f"({ratio(q['vs_built'])}x the first query building the index, {ratio(q['vs_fresh'])}x the one "
                  f"answering from the files), same ids {q['same_ids']}", file=out)
        d = res["duckdb_load"]
        print(f"DuckDB CREATE TABLE points {d['create_s']:.2f} s + GROUP BY {d['summary_s']:.2f} s, peak "
              f"{mib(d['process_peak_bytes'])}; index build / that = {ratio(res['index_vs_duckdb_load'])}", file=out)


def targets(results: dict[str, dict]) -> list[tuple[str, str, str, bool]]:
    """(target, scale, measured, met) for the goals of the project-index issue that the
    results measure (docs/benchmarks.md lists them)."""
    out = []
    m = results.get("M")
    if m and m.get("oneshot"):
        o = m["oneshot"]["stats_vs_duckdb"]["all"]
        out += [
            ("one-shot through the index: geomean ours/DuckDB-over-Parquet <= 0.2", "M", ratio(o["geomean"]),
             o["geomean"] <= 0.2),
            ("one-shot through the index: no query above 0.5x DuckDB-over-Parquet", "M",
             f"max {ratio(o['max'])} (`{o['max_query']}`)", o["max"] <= 0.5),
        ]
    if m and m.get("fresh"):
        for name, f in m["fresh"].items():
            if f.get("vs_duckdb") is not None:
                out.append((f"first query on a fresh copy (`{name}`, answered from the files) <= 1.5x DuckDB's "
                            "time for that query", "M", ratio(f["vs_duckdb"]), f["vs_duckdb"] <= 1.5))
    if m and m.get("append"):
        for name, a in m["append"]["queries"].items():
            out.append((f"10% more runs as new files, then one query (`{name}`) <= 0.3x the first query "
                        "(index built inside it)", "M", ratio(a["vs_built"]), a["vs_built"] <= 0.3))
    if m and m.get("warm"):
        w = m["warm"]
        out.append(("in-process: every series-aggregate (summary-answered) query <= 0.5 ms", "M",
                    f"max {w['series_max_ms']:.3f} ms", w["series_max_ms"] <= 0.5))
    if m and m.get("oneshot"):
        b = m["oneshot"]["scalar_peak_bytes"]
        out.append((f"one-shot `{SCALAR_QUERY}`: peak resident memory <= 64 MiB", "M", mib(b), b <= 64 * 2**20))
    lres = results.get("L")
    if lres:
        b = lres["index"]["peak_bytes"]
        out.append(("`nql index --rebuild`: peak resident memory <= 2 GiB", "L", mib(b), b <= 2 * 2**30))
        if lres.get("duckdb_load"):
            x = lres["index_vs_duckdb_load"]
            out.append(("index build <= DuckDB CREATE TABLE (points) + summary GROUP BY", "L", ratio(x), x <= 1.0))
    same = all_same(results)
    out.append(("every tool returns the same ids", ",".join(results), "yes" if same else "NO", same))
    return out


def all_same(results: dict[str, dict]) -> bool:
    ok = True
    for r in results.values():
        for mode in ("warm", "oneshot"):
            if r.get(mode):
                ok &= r[mode]["all_same_ids"]
        ok &= all(f["same_ids"] for f in r.get("fresh", {}).values())
        ok &= all(q["same_ids"] for q in r.get("append", {}).get("queries", {}).values())
    return ok


def code_commit() -> str:
    """The last commit that changed the code (anything but benches/compare and docs): the
    release binary measured is built from it."""
    try:
        return subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h", "--", ".",
                               ":!benches/compare", ":!docs"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def binary_identity(nql: Path) -> dict:
    """Which binary was measured: its sha256 (first 12 hex digits) and modification time."""
    import hashlib

    digest = hashlib.sha256(nql.read_bytes()).hexdigest()[:12]
    mtime = dt.datetime.fromtimestamp(nql.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return {"path": str(nql), "sha256": digest, "modified": mtime}


def machine() -> dict:
    import duckdb
    import polars
    import pyarrow

    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass

    def cmd(*a):
        try:
            return subprocess.run(a, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
        "duckdb": duckdb.__version__, "polars": polars.__version__, "pyarrow": pyarrow.__version__,
        "rustc": cmd("rustc", "--version"),
    }


def chart(res: dict, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    if res.get("oneshot"):
        panels.append(("one-shot: a process per query for ours; fresh connection or scan\n"
                       "inside a worker for DuckDB and Polars", res["oneshot"]["rows"],
                       [("ours", "ours (nql query)", "#1f77b4"), ("duckdb", "DuckDB over Parquet", "#ff7f0e"),
                        ("polars", "Polars scan_parquet", "#9467bd")]))
    if res.get("warm"):
        panels.append(("in-process, data loaded", res["warm"]["rows"],
                       [("ours", "ours (nql bench)", "#1f77b4"), ("duckdb", "DuckDB tables", "#ff7f0e"),
                        ("duckdb_tuned", "DuckDB + summary table", "#2ca02c"), ("polars", "Polars DataFrames", "#9467bd")]))
    rows = panels[0][1]
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 0.42 * len(rows) + 1.6), sharey=True,
                             squeeze=False)
    for ax, (title, prow, series) in zip(axes[0], panels):
        h = 0.8 / len(series)
        for i, (key, label, color) in enumerate(series):
            vals = [r.get(key) or 0 for r in prow]
            ax.barh([y + (i - (len(series) - 1) / 2) * h for y in range(len(prow))], vals, h, label=label,
                    color=color)
        ax.set_yticks(range(len(prow)), [r["name"] + (" *" if r["series"] else "") for r in prow])
        ax.set_xscale("log")
        ax.set_xlabel("median ms per query (log scale)")
        ax.set_title(title, fontsize=10)
        ax.legend(loc="lower right", fontsize=7)
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[0][0].invert_yaxis()
    fig.suptitle(f"{res['runs']:,} runs, ids only (* series-aggregate query)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


NOTES_MARKER = "<!-- Everything below this line is written by hand and kept by compare.py. -->"


def headline_rows(results: dict[str, dict]) -> list[tuple[str, dict[str, str]]]:
    """The headline measures (a)-(f), one value per scale."""
    rows: list[tuple[str, dict[str, str]]] = []

    def add(label, fn):
        vals = {}
        for scale, r in results.items():
            try:
                v = fn(r)
            except (KeyError, TypeError, StopIteration):
                v = None
            vals[scale] = v if v is not None else "-"
        if any(v != "-" for v in vals.values()):
            rows.append((label, vals))

    def st(r, mode, key, group):
        return stat_text(r[mode][key], group) if r.get(mode) and r[mode].get(key) else None

    add("(a) one-shot, plain-column queries: geomean ours/DuckDB (max)",
        lambda r: st(r, "oneshot", "stats_vs_duckdb", "plain"))
    add("(a) one-shot, series-aggregate queries: geomean ours/DuckDB (max)",
        lambda r: st(r, "oneshot", "stats_vs_duckdb", "series"))
    add("(a) one-shot, all queries: geomean ours/DuckDB (max)", lambda r: st(r, "oneshot", "stats_vs_duckdb", "all"))
    add("(a) one-shot, plain-column queries: geomean ours/Polars (max)",
        lambda r: st(r, "oneshot", "stats_vs_polars", "plain"))
    add("(a) one-shot, series-aggregate queries: geomean ours/Polars (max)",
        lambda r: st(r, "oneshot", "stats_vs_polars", "series"))
    for name in FRESH_QUERIES:
        add(f"(b) first query, no index yet (`{name}`): ours s; / DuckDB one-shot",
            lambda r, n=name: f"{r['fresh'][n]['s']:.2f} s; {ratio(r['fresh'][n]['vs_duckdb'])}")
    for name in FRESH_QUERIES:
        add(f"(b) first query, no index yet, index built inside it (`{name}`): ours s; / DuckDB one-shot",
            lambda r, n=name: f"{r['fresh'][n]['built_s']:.2f} s; "
                              f"{ratio(r['fresh'][n]['built_s'] * 1e3 / r['fresh'][n]['duckdb_oneshot_ms'])}")
    for name in FRESH_QUERIES:
        add(f"(c) first query after adding 10% runs as new files (`{name}`): ours s; / (b) built inside; / (b)",
            lambda r, n=name: f"{r['append']['queries'][n]['s']:.2f} s; {ratio(r['append']['queries'][n]['vs_built'])}; "
                              f"{ratio(r['append']['queries'][n]['vs_fresh'])}")
    add("(d) in-process, plain-column queries: geomean ours/DuckDB in memory (max)",
        lambda r: st(r, "warm", "stats_vs_duckdb", "plain"))
    add("(d) in-process, series-aggregate queries: geomean ours/DuckDB in memory (max)",
        lambda r: st(r, "warm", "stats_vs_duckdb", "series"))
    add("(d) in-process: slowest series-aggregate query, ours",
        lambda r: f"{r['warm']['series_max_ms']:.3f} ms" if r.get("warm") else None)
    add(f"(e) one-shot `{SCALAR_QUERY}`: peak resident memory, ours",
        lambda r: mib(r["oneshot"]["scalar_peak_bytes"]) if r.get("oneshot") else None)
    add("(e) `nql index --rebuild`: peak resident memory",
        lambda r: mib(r["index"]["peak_bytes"]))
    add("(f) index build s; / (DuckDB CREATE TABLE of the points + summary GROUP BY)",
        lambda r: f"{r['index']['s']:.2f} s; {ratio(r['index_vs_duckdb_load'])}" if r.get("duckdb_load") else None)
    return rows


def write_docs(results: dict[str, dict]):
    main = results.get("M") or next(iter(results.values()))
    m = machine()
    m["commit"] = main.get("commit") or code_commit()
    chart(main, REPO / "docs" / "benchmarks.png")
    scales = list(results)
    one = main.get("oneshot") or {}
    warm = main.get("warm") or {}
    note = main.get("machine_note") or "shared with other work while measuring"
    lines = [
        "# Benchmarks: our engine, DuckDB and Polars side by side",
        "",
        "Written by `python3 benches/compare/compare.py --scales "
        f"{','.join(scales)} --write-docs` (see benches/compare/README.md). "
        "Every number below comes from that one run; each ratio is ours over theirs, measured side "
        f"by side in that run, on a machine with {m['cores']} cores {note}.",
        "",
        "## Headline",
        "",
        "Ratios below 1 mean ours is faster. Plain-column and series-aggregate queries are "
        "reported apart: on series aggregates we answer from summaries stored in the index while "
        "DuckDB and Polars aggregate every point, so they would dominate a single geometric mean.",
        "",
        "| measure | " + " | ".join(f"{s} ({results[s]['runs']:,} runs)" for s in scales) + " |",
        "|---|" + "--:|" * len(scales),
    ]
    for label, vals in headline_rows(results):
        lines.append(f"| {label} | " + " | ".join(vals[s] for s in scales) + " |")
    lines += [
        "",
        f"All tools returned the same ids for every query in every mode: "
        f"{'yes' if all_same(results) else '**no**'}.",
        "",
        f"![median query times at scale {main['scale']}](benchmarks.png)",
        "",
        "## What is measured",
        "",
        "- Projects from `nql generate --runs N --full --runs-per-file K` (seed 42): S = 10,000, "
        "M = 100,000 and L = 1,000,000 runs (K = 5,000, 50,000 and 250,000: the runs, float "
        "series and string series tables are directories of part files), 25 attributes plus 4 "
        "float series of 100 points and a 5-entry string series per run; 1% of runs hold a NaN "
        "point, 2% have `params/lr` and `params/batch_size` as strings (so those are null in the "
        "float/int columns), 10% lack each extra attribute, 3% are trashed.",
        "- Each scale starts with `nql index --data DIR --rebuild` (timed: the index build). Every "
        "query of ours then goes through that index, as any `nql` command does by default.",
        "- **One-shot** (a): each query run in a fresh process, the way a script or a shell "
        "user runs it. Ours: `nql query --data DIR --columns sys/id --format csv --now ... -- QUERY` "
        "(with `--sort-by`, `--limit` for the sorted query), the wall time measured around the "
        "process from start to exit (start, open the project through its index, answer, write the "
        "CSV to a file). DuckDB: a fresh `duckdb.connect()` "
        "(a new in-memory database), views over `read_parquet(...)` of the runs and points files "
        "(no CREATE TABLE), the query, the ids fetched as Arrow, the connection closed. Polars: "
        "fresh `pl.scan_parquet(...)` scans, the same lazy expressions as in-process, collected. "
        "DuckDB and Polars are timed inside their worker process per query (connect or scan, query, "
        "fetch the ids): their Python start-up and imports are not counted, ours is a whole "
        f"process. Each query: one warm-up round (each tool once), then "
        f"{one.get('reps', 5)} rounds ({results.get('L', {}).get('oneshot', {}).get('reps', 3)} at L) "
        "in which ours, DuckDB and Polars take turns, run by run, so that the load of the shared "
        "machine falls on all three alike; each tool's median. The warm-up also brings the files "
        "each tool reads into the OS page cache, for every tool alike, so no tool reads from the "
        "disk in the timed runs.",
        "- **First query on a fresh copy** (b): the project copied without `_nql` (its files "
        "hard-linked, so already in the page cache), then one `nql query`. With no index, it "
        "answers straight from the files (the object columns it names, the summaries of the "
        "series it names, computed from the row groups holding them) and starts `nql index` in "
        "the background as it exits; the time is the query process's, start to exit. Against "
        "DuckDB's one-shot time for the same query over the same Parquet files. The script then "
        "waits for the background build (`nql index`, which takes its lock in turn) before it "
        "goes on. Then the same on a new copy with `NQL_BACKGROUND_INDEX=0`: the query builds the "
        "index inside it before it answers (\"index built inside it\", the first query as the "
        "index issue defined it, and what every first query did before it could answer from the "
        "files).",
        "- **Adding runs** (c): a project with 10% more runs (`nql generate --key ADD --seed 43`) "
        "added to a copy of the indexed project as new part files of `runs/`, `float_series/` and "
        "`string_series/`; then one `nql query`, which finds the index stale and refreshes it "
        "(summarizing the new series files only) before it answers; its time over (b)'s with the "
        "index built inside it (the goal's ratio: what the refresh costs against the build it "
        "saves) and over (b)'s answered from the files. Its ids "
        "are checked against DuckDB's over the grown project.",
        f"- **In-process** (d): `nql bench` opens the project once (through the index) and times "
        f"each query in-process, {warm.get('iterations_ours', 50)} timed runs after 3 warm-ups, "
        "median. DuckDB: every Parquet file loaded into in-memory tables (`CREATE TABLE t AS SELECT "
        f"* FROM read_parquet(...)`), then each query's SQL, {warm.get('reps_others', 5)} timed runs "
        "after one warm-up, median, ids fetched as Arrow; series aggregates are `GROUP BY \"sys/id\" "
        "HAVING agg(value) ...` over the points, in the query. DuckDB tuned: as an expert would set "
        "it up, a summary table (last, average, max, min, variance per run and path) built once "
        "after loading, the series clauses answered from it. Polars: DataFrames read with "
        "`pl.read_parquet`, each query as lazy expressions over them, collected. Only at S and M: "
        "at L the points alone are 400 million rows, which DuckDB's and Polars' in-memory tables "
        "do not hold in this machine's memory.",
        "- Our results are ids in the default order (`sys/creation_time`, descending, as Neptune's "
        "`fetch_runs_table` returns them); the other tools return theirs unsorted. This is no "
        "extra work on our side: the index keeps the default order precomputed, so a result comes "
        "out of the scan already in that order and no sort runs at query time.",
        "- Memory (e): peak resident memory (`ru_maxrss` of the child alone, read by GNU time's "
        "`%M` around an untimed run: the one-shot warm-up run of each query, `nql index "
        "--rebuild`, the first queries of (b) and (c), the DuckDB and Polars workers).",
        "- Load (f): the index build against DuckDB's `CREATE TABLE float_series AS SELECT * FROM "
        "read_parquet(...)` plus the summary `GROUP BY` (the same five aggregates per run and path), "
        "in a fresh worker with `temp_directory` set so that it may spill.",
        "- The SQL and the expressions follow NQL's rules (docs/nql.md): a clause on a missing "
        "value is false and `NOT` negates that (so every positive clause is `coalesce(..., "
        "false)`), trashed runs are left out, NaN is the greatest value and equals itself (as in "
        "DuckDB and Polars), `max` of a series with NaN is NaN (Polars' `nan_max`), variance is "
        "the population variance, relative datetimes count back from one fixed `now` "
        f"({NOW_RFC3339}) given to all tools, `-2M` is calendar months. The script checks "
        "that every tool returns the same set of ids (the same list for the sorted query, whose "
        "ties are broken by `sys/id`), in every mode.",
        "- A query is a series-aggregate query when it names `last`, `average`, `max`, `min` or "
        "`variance` of a series, or a `floatSeries`; the others are plain-column queries (see the "
        "kind column and the list of queries at the end).",
        "",
        "## What each side reads and keeps",
        "",
        "- Ours, index build (`nql index`, or the first query on a project without an index): "
        "reads every Parquet file of the project once, computes the exact per-(run, series) "
        "summaries (last, average, max, min, variance) and the object tables in the default order, "
        "and keeps them on disk in `_nql/` (the size is in each scale's table); nothing stays in "
        "memory after the process ends.",
        "- Ours, warm open (every later `nql` process, and `nql bench`'s open): reads the index's "
        "manifest and the Parquet footers; a query then reads only the columns it names, from the "
        "index's files. After files are added, changed or removed, the next open summarizes only "
        "those (c).",
        "- DuckDB in-process: `CREATE TABLE` reads every file and keeps every row, every point "
        "included, in memory; the tuned variant adds the summary table. DuckDB one-shot: reads, "
        "per query, the columns of the runs and points files that the query needs, and keeps "
        "nothing.",
        "- Polars in-process: `read_parquet` reads and keeps every row, points included, in "
        "memory. Polars one-shot: the lazy scans read, per query, the columns the query needs, "
        "and keep nothing.",
        "",
        "## Machine and versions",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores ({note}), {m['memory_gib']} GiB RAM, {m['os']}",
        f"- nql at commit {m['commit']}, {m['rustc']}, release profile"
        + (f" (binary sha256 {main['binary']['sha256']}..., built {main['binary']['modified']})"
           if main.get("binary") else ""),
        f"- DuckDB {m['duckdb']} (threads {one.get('duckdb_threads') or warm.get('duckdb_threads')}), "
        f"Polars {m['polars']} (threads {one.get('polars_threads') or warm.get('polars_threads')}), "
        f"pyarrow {m['pyarrow']}, Python {m['python']}",
        "",
    ]
    for scale, res in results.items():
        lines += scale_section(scale, res)
    lines += ["## Targets", "", "| target | scale | measured | met |", "|---|:-:|--:|:-:|"]
    for t, s, v, ok in targets(results):
        lines.append(f"| {t} | {s} | {v} | {'yes' if ok else '**no**'} |")
    rows = (main.get("oneshot") or main.get("warm"))["rows"]
    lines += ["", "## The queries", "", "The NQL is benches/compare/queries.tsv; the SQL and the "
              "Polars expressions are in benches/compare/compare.py.", "", "| name | kind | NQL |", "|---|---|---|"]
    for r in rows:
        extra = ""
        if r["name"] in SORTED:
            column, asc, limit = SORTED[r["name"]]
            extra = f" (sort by `{NQL_SORT_COLUMN.get(column, column)}` {'ascending' if asc else 'descending'}, limit {limit})"
        lines.append(f"| `{r['name']}` | {'series' if r['series'] else 'plain'} | "
                     f"`` {r['query'].replace('|', '&#124;')} ``{extra} |")
    # A hand-written section (findings, profiles) after the marker survives regeneration.
    doc = REPO / "docs" / "benchmarks.md"
    kept = doc.read_text().split(NOTES_MARKER, 1)[1] if doc.exists() and NOTES_MARKER in doc.read_text() else ""
    lines += ["", NOTES_MARKER + kept.rstrip("\n")]
    doc.write_text("\n".join(lines) + "\n")
    print(f"wrote {REPO / 'docs' / 'benchmarks.md'} and docs/benchmarks.png", file=sys.stderr)


def scale_section(scale: str, res: dict) -> list[str]:
    lines = [f"## Scale {scale}: {res['runs']:,} runs", ""]
    gen, ix = res["generate"], res["index"]
    lines += [f"Generated in {gen['seconds']:.1f} s ({mib(gen['bytes'])} of Parquet). Index build "
              f"(`nql index --rebuild`): {ix['s']:.2f} s, peak {mib(ix['peak_bytes'])}, "
              f"`_nql/` {mib(ix['index_bytes'])}.", ""]
    o = res.get("oneshot")
    if o:
        lines += [f"### One-shot: a process per query (median of {o['reps']} rounds after one warm-up round)", "",
                  "| query | kind | ids | ours ms | ours peak | DuckDB ms | Polars ms | ours/DuckDB | ours/Polars "
                  "| same ids |", "|---|---|--:|--:|--:|--:|--:|--:|--:|:-:|"]
        for r in o["rows"]:
            lines.append(f"| `{r['name']}` | {'series' if r['series'] else 'plain'} | {r['rows']:,} | "
                         f"{ms(r['ours'])} | {mib(r['ours_peak_bytes'])} | {ms(r['duckdb'])} | {ms(r['polars'])} | "
                         f"{ratio(r['vs_duckdb'])} | {ratio(r['vs_polars'])} | {'yes' if r['same_ids'] else '**no**'} |")
        for g, label in (("plain", "plain-column"), ("series", "series-aggregate"), ("all", "all")):
            sd, sp = o["stats_vs_duckdb"].get(g), (o["stats_vs_polars"] or {}).get(g)
            if sd:
                lines.append(f"| **geomean, {label} ({sd['n']})** | | | | | | | **{ratio(sd['geomean'])}** | "
                             f"**{ratio(sp['geomean']) if sp else '-'}** | |")
        lines += ["", f"Peak memory of the worker processes (Python included): DuckDB "
                  f"{mib(o['duckdb_peak_bytes'])}, Polars {mib(o['polars_peak_bytes'])}.", ""]
    w = res.get("warm")
    if w:
        prev = scale == "M"
        lines += ["### In-process, data loaded once", "",
                  "| query | kind | ids | ours ms |" + (f" ours ms before the index ({PREVIOUS_COMMIT}) |" if prev else "")
                  + " DuckDB ms | DuckDB tuned ms | Polars ms | ours/DuckDB | ours/tuned | ours/Polars | same ids |",
                  "|---|---|--:|--:|" + ("--:|" if prev else "") + "--:|--:|--:|--:|--:|--:|:-:|"]
        for r in w["rows"]:
            lines.append(f"| `{r['name']}` | {'series' if r['series'] else 'plain'} | {r['ours_rows']:,} | "
                         f"{r['ours']:.3f} |" + (f" {ms(r['previous_ms'])} |" if prev else "")
                         + f" {ms(r['duckdb'])} | {ms(r['duckdb_tuned'])} | {ms(r['polars'])} | "
                         f"{ratio(r['vs_duckdb'])} | {ratio(r['vs_tuned'])} | {ratio(r['vs_polars'])} | "
                         f"{'yes' if r['same_ids'] else '**no**'} |")
        for g, label in (("plain", "plain-column"), ("series", "series-aggregate"), ("all", "all")):
            a, b, c = (w[k].get(g) for k in ("stats_vs_duckdb", "stats_vs_tuned", "stats_vs_polars"))
            lines.append(f"| **geomean, {label} ({a['n']})** | | | |" + (" |" if prev else "")
                         + f" | | | **{ratio(a['geomean'])}** | **{ratio(b['geomean'])}** | **{ratio(c['geomean'])}** | |")
        lines += [""]
        lines += [f"Open: ours {w['ours_open_s']:.3f} s (manifest and footers; resident "
                  f"{mib(w['ours_rss_bytes'])} after the queries)"
                  + (f", against {PREVIOUS_M_LOAD_S} s and {PREVIOUS_M_RSS_MIB} MiB for the in-memory load "
                     f"with summaries before the index ({PREVIOUS_COMMIT})" if prev else "")
                  + f". DuckDB CREATE TABLE (all tables) {w['duckdb_create_s']:.2f} s + summary table "
                  f"{w['duckdb_summary_s']:.2f} s, resident {mib(w['duckdb_rss_bytes'])}; Polars read_parquet "
                  f"{w['polars_read_s']:.2f} s + group_by {w['polars_summary_s']:.2f} s, resident "
                  f"{mib(w['polars_rss_bytes'])} (both with the Python interpreter).", ""]
    if res.get("fresh"):
        a = res["append"]
        d = res["duckdb_load"]
        lines += ["### The index: build, first query, adding runs", "",
                  "| step | seconds | peak memory | ratio | same ids |", "|---|--:|--:|--:|:-:|",
                  f"| `nql index --rebuild` | {ix['s']:.2f} | {mib(ix['peak_bytes'])} | "
                  f"{ratio(res['index_vs_duckdb_load'])} of DuckDB's load below | |",
                  f"| DuckDB CREATE TABLE of the points ({d['points']:,} rows) | {d['create_s']:.2f} | "
                  f"{mib(d['process_peak_bytes'])} | | |",
                  f"| DuckDB summary GROUP BY ({d['summaries']:,} rows) | {d['summary_s']:.2f} | | | |"]
        for name, f in res["fresh"].items():
            lines.append(f"| first `{name}` on a copy with no index | {f['s']:.2f} | {mib(f['peak_bytes'])} | "
                         f"{ratio(f.get('vs_duckdb'))} of DuckDB one-shot ({ms(f.get('duckdb_oneshot_ms'))} ms) | "
                         f"{'yes' if f['same_ids'] else '**no**'} |")
            if f.get("built_s") is not None and f.get("duckdb_oneshot_ms"):
                lines.append(f"| first `{name}` with no index, index built inside it | {f['built_s']:.2f} | "
                             f"{mib(f['built_peak_bytes'])} | {ratio(f['built_s'] * 1e3 / f['duckdb_oneshot_ms'])} "
                             f"of DuckDB one-shot | {'yes' if f['built_same_ids'] else '**no**'} |")
        for name, q in a["queries"].items():
            lines.append(f"| first `{name}` after adding {a['added_runs']:,} runs ({a['files_added']} files) | "
                         f"{q['s']:.2f} | {mib(q['peak_bytes'])} | {ratio(q['vs_built'])} of the first `{name}` "
                         f"building the index, {ratio(q['vs_fresh'])} of the one answering from the files | "
                         f"{'yes' if q['same_ids'] else '**no**'} |")
        after = re.search(r"up to date \((\d+) series files\)", next(iter(a["queries"].values()))["index_after"])
        lines += ["", f"DuckDB's load ran with memory_limit {d['memory_limit']} and {d['threads']} threads "
                  f"(spilled {d.get('spilled_bytes', 0) / 2**20:,.0f} MiB to its temp_directory); its process peak includes "
                  "Python. After each first query on the grown copy, `nql index` found the index "
                  + (f"up to date ({after.group(1)} series files)." if after else
                     f"not up to date: \"{next(iter(a['queries'].values()))['index_after']}\".") , ""]
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", default="S,M", help="comma-separated: S (10,000 runs), M (100,000), L (1,000,000)")
    ap.add_argument("--modes", default="warm,oneshot,index", help="comma-separated: warm, oneshot, index (default all)")
    ap.add_argument("--data-root", default=str(REPO / "target" / "bench-data"), help="where projects and results go (default: target/bench-data)")
    ap.add_argument("--nql", help="the release nql binary")
    ap.add_argument("--reps", type=int, help="warm: timed runs per query for DuckDB and Polars, after one warm-up (default 20 at S, 5 at M)")
    ap.add_argument("--iterations", type=int, help="warm: timed runs per query for ours (default 100 at S, 50 at M)")
    ap.add_argument("--oneshot-reps", type=int, help="one-shot: timed runs per query and tool, after one warm-up (default 5; 3 at L)")
    ap.add_argument("--polars-scales", default="S,M,L", help="scales at which Polars runs one-shot (default all)")
    ap.add_argument("--nql-commit", help="the commit the binary was built from, for the page "
                    "(default: the last commit of this clone outside benches/compare and docs)")
    ap.add_argument("--machine-note", default="shared with other work while measuring",
                    help="what the page says of the machine's cores")
    ap.add_argument("--write-docs", action="store_true", help="write docs/benchmarks.md and docs/benchmarks.png")
    ap.add_argument("--docs-only", action="store_true",
                    help="write the docs from the last run's results under --data-root, measuring nothing")
    ap.add_argument("--worker", choices=["duckdb", "polars", "duckdb-oneshot", "polars-oneshot", "duckdb-load"],
                    help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--ids-root", help=argparse.SUPPRESS)
    ap.add_argument("--names", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args()
    ensure_venv()
    if args.worker == "duckdb-load":
        worker_duckdb_load(Path(args.data), Path(args.out), Path(args.tmp))
        return
    if args.worker in ("duckdb-oneshot", "polars-oneshot"):
        worker_oneshot(args.worker.split("-")[0], Path(args.data), Path(args.ids_root))
        return
    if args.worker:
        worker = {"duckdb": worker_duckdb, "polars": worker_polars}[args.worker]
        worker(Path(args.data), Path(args.out), Path(args.ids_root), args.reps, args.names.split(","))
        return
    if args.docs_only:
        results = {scale: json.loads((Path(args.data_root) / f"compare-{scale}" / "result.json").read_text())
                   for scale in args.scales.split(",")}
        write_docs(results)
        return
    nql = find_nql(args.nql)
    results = {}
    for scale in args.scales.split(","):
        if scale not in SCALES:
            sys.exit(f"unknown scale {scale}: S, M or L")
        started = time.perf_counter()
        results[scale] = run_scale(nql, scale, args)
        print_results(results[scale])
        print(f"[{scale}] done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print("\ntargets:")
    for t, s, v, ok in targets(results):
        print(f"  {'MET   ' if ok else 'MISSED'} {t} [{s}]: {v}")
    if args.write_docs:
        write_docs(results)


if __name__ == "__main__":
    main()
