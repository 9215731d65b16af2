#!/usr/bin/env python3
"""Our engine side by side with DuckDB and Polars on generated projects.

    python3 benches/compare/compare.py [--scales S,M] [--write-docs]

Creates benches/compare/.venv (duckdb, polars, pyarrow, matplotlib from PyPI) on first use and
re-runs itself inside it; builds nothing but uses the release `nql` binary (--nql, else
$CARGO_TARGET_DIR/release/nql, else target/release/nql); generates the projects with
`nql generate --full` under --data-root (default target/bench-data in the clone, git-ignored).

For each query of queries.tsv it times
  - ours:   `nql bench` (loads once, times each query --iterations times in-process),
  - DuckDB: hand-written SQL over tables loaded in memory (CREATE TABLE ... AS SELECT * FROM
            read_parquet) from the same files; series aggregates computed by GROUP BY per query,
  - DuckDB tuned: the same, with series clauses answered from a summary table (last, average,
            max, min, variance per object and path) built once after loading,
  - Polars: the equivalent expressions over DataFrames read from the same files,
each returning the ids only. It checks that the four return the same ids (the same list, in
order, for the sorted query), and reports medians, our/their ratios and their geometric means,
and load times. Each tool runs in its own process, one after another.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
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
SCALES = {"S": 10_000, "M": 100_000}

# The instant relative datetimes count back from, passed to all tools.
NOW = dt.datetime(2025, 1, 15, tzinfo=dt.timezone.utc)
NOW_RFC3339 = "2025-01-15T00:00:00Z"


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


def time_reps(fn, reps: int, warmup: int = 1):
    result = None
    for _ in range(warmup):
        result = fn()
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples), result


def write_ids(ids_dir: Path, name: str, ids: list[str]):
    ids_dir.mkdir(parents=True, exist_ok=True)
    (ids_dir / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))


def fetch_arrow(con, sql):
    """The result as an Arrow table (DuckDB 2 names it to_arrow_table, 1.x arrow)."""
    rel = con.sql(sql)
    fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
    return fetch()


def worker_duckdb(data: Path, out: Path, ids_root: Path, reps: int, names: list[str]):
    import duckdb

    con = duckdb.connect()  # in memory; PRAGMA threads left at its default (all cores)
    con.execute("SET enable_progress_bar = false").fetchall()
    files = table_files(data)
    start = time.perf_counter()
    for table, glob in files.items():
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{glob}')").fetchall()
    create_s = time.perf_counter() - start
    start = time.perf_counter()
    con.execute("""CREATE TABLE summary AS SELECT "sys/id", path, arg_max(value, step) AS "last",
        avg(value) AS "average", max(value) AS "max", min(value) AS "min",
        var_pop(value) AS "variance" FROM float_series GROUP BY "sys/id", path""").fetchall()
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
            ms, table = time_reps(lambda: fetch_arrow(con, sql), reps)
            ids = table.column(0).to_pylist()
            write_ids(ids_root / variant, name, ids)
            report["queries"].setdefault(name, {})[variant] = {"median_ms": ms, "rows": len(ids),
                                                               "sql": sql}
    out.write_text(json.dumps(report, indent=1))


def worker_polars(data: Path, out: Path, ids_root: Path, reps: int, names: list[str]):
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
    defs = polars_queries()
    not_trashed = ~pl.col("sys/trashed").fill_null(False)
    for name in names:
        pred, series = defs[name]

        def run(pred=pred, series=series, name=name):
            ids = [f(fs) for f in series]
            lf = runs.lazy().filter(not_trashed & pred(*ids))
            if name in SORTED:
                column, asc, limit = SORTED[name]
                lf = lf.sort([column, "sys/id"], descending=[not asc, False],
                             nulls_last=True).head(limit)
            return lf.select("sys/id").collect()

        ms, frame = time_reps(run, reps)
        ids = frame.to_series().to_list()
        write_ids(ids_root / "polars", name, ids)
        report["queries"][name] = {"polars": {"median_ms": ms, "rows": len(ids)}}
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
            return Path(cand)
    sys.exit("no release nql binary: build it with `cargo build --release -p nql-cli` "
             "or pass --nql PATH")


def generate(nql: Path, data: Path, runs: int):
    if (data / ".complete").exists():
        return
    if data.exists():
        shutil.rmtree(data)
    print(f"generating {runs} runs into {data}", file=sys.stderr)
    start = time.perf_counter()
    subprocess.run([str(nql), "generate", "--out", str(data), "--runs", str(runs), "--full"], check=True)
    print(f"  {time.perf_counter() - start:.1f} s", file=sys.stderr)
    (data / ".complete").write_text("")


def run_ours(nql: Path, data: Path, work: Path, queries, iterations: int) -> dict:
    """Unsorted queries in one `nql bench` run; each sorted query in its own (its options)."""
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


def run_worker(tool: str, data: Path, work: Path, reps: int, names: list[str]) -> dict:
    out = work / f"{tool}.json"
    subprocess.run([sys.executable, __file__, "--worker", tool, "--data", str(data), "--out", str(out),
                    "--ids-root", str(work / "ids"), "--reps", str(reps), "--names", ",".join(names)],
                   check=True)
    return json.loads(out.read_text())


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def run_scale(nql: Path, scale: str, args) -> dict:
    runs = SCALES[scale]
    data = Path(args.data_root) / f"gen-{scale}"
    work = Path(args.data_root) / f"compare-{scale}"
    generate(nql, data, runs)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    queries = read_queries()
    names = [n for n, _ in queries]
    missing = set(names) ^ set(sql_queries(False))
    if missing:
        sys.exit(f"queries.tsv and compare.py disagree on: {sorted(missing)}")
    reps = args.reps or (20 if runs <= 10_000 else 5)
    iterations = args.iterations or (100 if runs <= 10_000 else 50)
    print(f"[{scale}] ours", file=sys.stderr)
    ours = run_ours(nql, data, work, queries, iterations)
    print(f"[{scale}] duckdb", file=sys.stderr)
    duck = run_worker("duckdb", data, work, reps, names)
    print(f"[{scale}] polars", file=sys.stderr)
    polars = run_worker("polars", data, work, reps, names)
    if duck["duplicate_steps"]:
        print(f"warning: {duck['duplicate_steps']} series have repeated steps: `last` in SQL "
              "and Polars does not break their ties as NQL does", file=sys.stderr)

    rows = []
    for name, query in queries:
        r = {"name": name, "query": query}
        for src in (ours, duck, polars):
            for tool, v in src["queries"][name].items():
                r[tool] = v["median_ms"]
                r[f"{tool}_rows"] = v["rows"]
        ids = {}
        for tool in ("ours", "duckdb", "duckdb_tuned", "polars"):
            lines = (work / "ids" / tool / f"{name}.txt").read_text().splitlines()
            ids[tool] = lines if name in SORTED else sorted(lines)
        r["same_ids"] = all(ids[t] == ids["ours"] for t in ids)
        if not r["same_ids"]:
            for t in ids:
                extra = set(ids[t]) - set(ids["ours"])
                lacking = set(ids["ours"]) - set(ids[t])
                print(f"MISMATCH {scale} {name}: {t} has {len(ids[t])} ids, {len(extra)} not ours "
                      f"{sorted(extra)[:3]}, lacks {len(lacking)} {sorted(lacking)[:3]}", file=sys.stderr)
        r["series"] = "(" in query and any(a in query for a in SQL_AGG)
        r["vs_duckdb"] = r["ours"] / r["duckdb"]
        r["vs_tuned"] = r["ours"] / r["duckdb_tuned"]
        r["vs_polars"] = r["ours"] / r["polars"]
        rows.append(r)
    result = {
        "scale": scale,
        "runs": runs,
        "rows": rows,
        "geomean_vs_duckdb": geomean([r["vs_duckdb"] for r in rows]),
        "geomean_vs_tuned": geomean([r["vs_tuned"] for r in rows]),
        "geomean_vs_polars": geomean([r["vs_polars"] for r in rows]),
        "max_vs_duckdb": max(r["vs_duckdb"] for r in rows),
        "all_same_ids": all(r["same_ids"] for r in rows),
        "ours_load_s": ours["load_seconds"],
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
    result["load_ratio"] = result["ours_load_s"] / (result["duckdb_create_s"] + result["duckdb_summary_s"])
    result["commit"] = git_commit()
    (work / "result.json").write_text(json.dumps(result, indent=1))
    return result


def print_table(res: dict, out=sys.stdout):
    print(f"\nscale {res['scale']} ({res['runs']:,} runs)", file=out)
    head = f"{'query':<15} {'rows':>7} {'ours':>8} {'duckdb':>8} {'tuned':>8} {'polars':>8} " \
           f"{'/duckdb':>8} {'/tuned':>8} {'/polars':>8} same"
    print(head, file=out)
    for r in res["rows"]:
        print(f"{r['name']:<15} {r['ours_rows']:>7} {r['ours']:>8.3f} {r['duckdb']:>8.2f} "
              f"{r['duckdb_tuned']:>8.2f} {r['polars']:>8.2f} {r['vs_duckdb']:>8.3f} {r['vs_tuned']:>8.3f} "
              f"{r['vs_polars']:>8.3f} {'yes' if r['same_ids'] else 'NO'}", file=out)
    print(f"geomean ours/DuckDB {res['geomean_vs_duckdb']:.3f}, ours/DuckDB tuned "
          f"{res['geomean_vs_tuned']:.3f}, ours/Polars {res['geomean_vs_polars']:.3f}; "
          f"max ours/DuckDB {res['max_vs_duckdb']:.3f}", file=out)
    print(f"load: ours {res['ours_load_s']:.2f} s (with summaries); DuckDB {res['duckdb_create_s']:.2f} s "
          f"CREATE TABLE + {res['duckdb_summary_s']:.2f} s GROUP BY; Polars {res['polars_read_s']:.2f} s "
          f"read + {res['polars_summary_s']:.2f} s GROUP BY; ratio {res['load_ratio']:.2f}", file=out)


def targets(res: dict) -> list[tuple[str, str, bool]]:
    return [
        ("geomean ours/DuckDB <= 0.1", f"{res['geomean_vs_duckdb']:.3f}", res["geomean_vs_duckdb"] <= 0.1),
        ("no query above 0.5x DuckDB", f"max {res['max_vs_duckdb']:.3f}", res["max_vs_duckdb"] <= 0.5),
        ("geomean ours/DuckDB-with-summary-table <= 0.25", f"{res['geomean_vs_tuned']:.3f}",
         res["geomean_vs_tuned"] <= 0.25),
        ("load (with summaries) <= 1.5x DuckDB load + aggregation", f"{res['load_ratio']:.2f}",
         res["load_ratio"] <= 1.5),
        ("every tool returns the same ids", "yes" if res["all_same_ids"] else "NO", res["all_same_ids"]),
    ]


def git_commit() -> str:
    """The repository's commit, recorded with each result (the binary measured is built from it)."""
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def ratio(x: float) -> str:
    """A ratio with three significant digits, so that 0.0003 does not print as 0.000."""
    return f"{x:.3g}" if x < 1 else f"{x:.2f}"


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

    rows = res["rows"]
    names = [r["name"] for r in rows]
    series = [("ours", "ours (nql)", "#1f77b4"), ("duckdb", "DuckDB", "#ff7f0e"),
              ("duckdb_tuned", "DuckDB + summary table", "#2ca02c"), ("polars", "Polars", "#9467bd")]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.5))
    h = 0.2
    for i, (key, label, color) in enumerate(series):
        ax.barh([y + (i - 1.5) * h for y in range(len(rows))], [r[key] for r in rows], h, label=label,
                color=color)
    ax.set_yticks(range(len(rows)), names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("median time per query, ms (log scale; ids only, data in memory)")
    ax.set_title(f"{res['runs']:,} runs: ours vs DuckDB vs Polars "
                 f"(geomean ours/DuckDB {res['geomean_vs_duckdb']:.3f})")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def mib(b):
    return f"{b / 2**20:,.0f} MiB" if b else "-"


NOTES_MARKER = "<!-- Everything below this line is written by hand and kept by compare.py. -->"


def write_docs(results: dict[str, dict]):
    main = results.get("M") or next(iter(results.values()))
    m = machine()
    m["commit"] = main.get("commit") or git_commit()
    chart(main, REPO / "docs" / "benchmarks.png")
    lines = [
        "# Benchmarks: our engine, DuckDB and Polars side by side",
        "",
        "Written by `python3 benches/compare/compare.py --scales "
        f"{','.join(results)} --write-docs` (see benches/compare/README.md). "
        "Every number below comes from that one run.",
        "",
        f"**Headline (scale {main['scale']}, {main['runs']:,} runs): our median query time is "
        f"{main['geomean_vs_duckdb']:.3f}x DuckDB's (geometric mean over {len(main['rows'])} queries), "
        f"{main['geomean_vs_tuned']:.3f}x DuckDB's with a precomputed summary table, and "
        f"{main['geomean_vs_polars']:.3f}x Polars'.** All tools returned the same ids for every query: "
        f"{'yes' if all(r['all_same_ids'] for r in results.values()) else 'NO'}.",
        "",
        "![median query times at scale M](benchmarks.png)",
        "",
        "## What is measured",
        "",
        "- Projects from `nql generate --runs N --full` (seed 42): S = 10,000 and M = 100,000 runs, "
        "25 attributes plus 4 float series of 100 points and a 5-entry string series per run "
        "(the scales of the Criterion benches); 1% of runs hold a NaN point, 2% have `params/lr` "
        "and `params/batch_size` as strings (so those are null in the float/int columns), 10% lack "
        "each extra attribute, 3% are trashed.",
        "- **ours**: `nql bench` loads the project once (with the float series summaries it "
        "computes at load) and times each query in-process: "
        f"{main['iterations_ours']} timed runs after 3 warm-ups, median. Results are ids only, "
        "sorted by the default `sys/creation_time` (descending) as Neptune's `fetch_runs_table` "
        "does; the other tools return theirs unsorted, so this sort is extra work on our side.",
        "- **DuckDB**: every Parquet file loaded into in-memory tables (`CREATE TABLE t AS SELECT * "
        "FROM read_parquet(...)`), `threads` at its default "
        f"({main['duckdb_threads']}), then each query's hand-written SQL, "
        f"{main['reps_others']} timed runs after one warm-up, median, fetching the ids as Arrow. "
        "Series aggregates are `GROUP BY \"sys/id\" HAVING agg(value) ...` over the points table, "
        "in the query.",
        "- **DuckDB tuned**: as an expert would set it up: a summary table (last, average, max, min, "
        "variance per object and path) built once after loading, and the series clauses "
        "answered from it (`\"sys/id\" IN (SELECT \"sys/id\" FROM summary WHERE path = ... AND max > "
        "...)`).",
        "- **Polars**: DataFrames read with `pl.read_parquet`, each query as lazy expressions "
        "(`filter` on runs, series aggregates by `group_by` over the points, `is_in`), collected; "
        f"{main['reps_others']} timed runs, median.",
        "- The SQL and the expressions follow NQL's rules (docs/nql.md): a clause on a missing "
        "value is false and `NOT` negates that (so every positive clause is `coalesce(..., "
        "false)`), trashed runs are left out, NaN is the greatest value and equals itself (as in "
        "DuckDB and Polars), `max` of a series with NaN is NaN (Polars' `nan_max`), variance is "
        "the population variance, relative datetimes count back from one fixed `now` "
        f"({NOW_RFC3339}) given to all tools, `-2M` is calendar months. The script checks "
        "that every tool returns the same set of ids (the same list for the sorted query, whose "
        "ties are broken by `sys/id`).",
        "- Load: ours is `Engine::open` (reading every file, building the in-memory tables and "
        "the per-series summaries); DuckDB's is its CREATE TABLEs plus the GROUP BY that builds "
        "the summary table (the same aggregates).",
        "",
        "## Machine and versions",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores (shared with other builds while measuring), "
        f"{m['memory_gib']} GiB RAM, {m['os']}",
        f"- nql at commit {m['commit']}, {m['rustc']}, release profile",
        f"- DuckDB {m['duckdb']}, Polars {m['polars']}, pyarrow {m['pyarrow']}, Python {m['python']}",
        "",
    ]
    for scale, res in results.items():
        lines += [f"## Scale {scale}: {res['runs']:,} runs", "",
                  "| query | ids | ours ms | DuckDB ms | DuckDB tuned ms | Polars ms | ours/DuckDB "
                  "| ours/tuned | ours/Polars | same ids |",
                  "|---|--:|--:|--:|--:|--:|--:|--:|--:|:-:|"]
        for r in res["rows"]:
            lines.append(f"| `{r['name']}` | {r['ours_rows']:,} | {r['ours']:.3f} | {r['duckdb']:.2f} | "
                         f"{r['duckdb_tuned']:.2f} | {r['polars']:.2f} | {ratio(r['vs_duckdb'])} | "
                         f"{ratio(r['vs_tuned'])} | {ratio(r['vs_polars'])} | "
                         f"{'yes' if r['same_ids'] else '**no**'} |")
        lines += [f"| **geometric mean** | | | | | | **{res['geomean_vs_duckdb']:.3f}** | "
                  f"**{res['geomean_vs_tuned']:.3f}** | **{res['geomean_vs_polars']:.3f}** | |", "",
                  "| load | seconds | resident memory after load |", "|---|--:|--:|",
                  f"| ours (with summaries) | {res['ours_load_s']:.2f} | {mib(res['ours_rss_bytes'])} |",
                  f"| DuckDB CREATE TABLE | {res['duckdb_create_s']:.2f} | {mib(res['duckdb_rss_bytes'])} |",
                  f"| DuckDB summary table (GROUP BY) | {res['duckdb_summary_s']:.2f} | |",
                  f"| Polars read_parquet | {res['polars_read_s']:.2f} | {mib(res['polars_rss_bytes'])} |",
                  f"| Polars summary (group_by) | {res['polars_summary_s']:.2f} | |",
                  "",
                  f"Load ratio ours / (DuckDB CREATE TABLE + GROUP BY): **{res['load_ratio']:.2f}**. "
                  "Resident memory is each process's after loading (DuckDB's and Polars' include "
                  "the Python interpreter and, for DuckDB, the summary table).", ""]
    lines += ["## Targets", "", f"Measured at scale {main['scale']} in the run above.", "",
              "| target | measured | met |", "|---|--:|:-:|"]
    for t, v, ok in targets(main):
        lines.append(f"| {t} | {v} | {'yes' if ok else '**no**'} |")
    lines += ["", "## The queries", "", "The NQL is benches/compare/queries.tsv; the SQL and the "
              "Polars expressions are in benches/compare/compare.py.", "", "| name | NQL |", "|---|---|"]
    for r in main["rows"]:
        extra = ""
        if r["name"] in SORTED:
            column, asc, limit = SORTED[r["name"]]
            extra = f" (sort by `{NQL_SORT_COLUMN.get(column, column)}` {'ascending' if asc else 'descending'}, limit {limit})"
        lines.append(f"| `{r['name']}` | `` {r['query'].replace('|', '&#124;')} ``{extra} |")
    # A hand-written section (findings, profiles) after the marker survives regeneration.
    doc = REPO / "docs" / "benchmarks.md"
    kept = doc.read_text().split(NOTES_MARKER, 1)[1] if doc.exists() and NOTES_MARKER in doc.read_text() else ""
    lines += ["", NOTES_MARKER + kept.rstrip("\n")]
    doc.write_text("\n".join(lines) + "\n")
    print(f"wrote {REPO / 'docs' / 'benchmarks.md'} and docs/benchmarks.png", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", default="S,M", help="comma-separated: S (10,000 runs), M (100,000)")
    ap.add_argument("--data-root", default=str(REPO / "target" / "bench-data"), help="where projects and results go (default: target/bench-data)")
    ap.add_argument("--nql", help="the release nql binary")
    ap.add_argument("--reps", type=int, help="timed runs per query for DuckDB and Polars, after one warm-up (default 20 at S, 5 at M)")
    ap.add_argument("--iterations", type=int, help="timed runs per query for ours (default 100 at S, 50 at M)")
    ap.add_argument("--write-docs", action="store_true", help="write docs/benchmarks.md and docs/benchmarks.png")
    ap.add_argument("--docs-only", action="store_true",
                    help="write the docs from the last run's results under --data-root, measuring nothing")
    ap.add_argument("--worker", choices=["duckdb", "polars"], help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--ids-root", help=argparse.SUPPRESS)
    ap.add_argument("--names", help=argparse.SUPPRESS)
    args = ap.parse_args()
    ensure_venv()
    if args.worker:
        worker = worker_duckdb if args.worker == "duckdb" else worker_polars
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
        results[scale] = run_scale(nql, scale, args)
        print_table(results[scale])
    main_res = results.get("M") or next(iter(results.values()))
    print(f"\ntargets at {main_res['scale']}:")
    for t, v, ok in targets(main_res):
        print(f"  {'MET   ' if ok else 'MISSED'} {t}: {v}")
    if args.write_docs:
        write_docs(results)


if __name__ == "__main__":
    main()
