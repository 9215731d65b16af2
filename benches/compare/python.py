#!/usr/bin/env python3
"""The Python side of the comparison: a Neptune 1.x script's question, answered by nql from
Python, against DuckDB's and Polars' Python APIs straight over the Parquet files.

    python benches/compare/python.py [--data DIR] [--reps 3] [--queries a,b,...] [--json OUT]

Run it with an interpreter that has `nql` (built in release: `maturin develop --release -m
python/Cargo.toml`), duckdb, polars, pyarrow and pandas. `--data` is a generated project (default
target/bench-M: a copy of `nql generate`'s M project, its index `_nql/` inside, built before
the runs; the script only reads it).

Every answer comes from a fresh Python process per query and tool (one warm-up round first,
which also warms the OS page cache, then --reps rounds in which the tools take turns; medians):

  nql     `import nql.neptune as neptune`, `neptune.init_project(project=DIR)` (opens the
          project through its index), `project.fetch_runs_table(query=NQL, columns=["sys/id"])
          .to_pandas()`, and the ids from the frame.
  duckdb  compare.py's one-shot runner: `import duckdb`, a fresh `duckdb.connect()`, views
          over read_parquet (runs and float_series), compare.py's SQL, ids fetched as Arrow.
  duckdb-pandas
          the same, the answer fetched as a pandas DataFrame (`.df()`, which imports pandas)
          instead of Arrow: what a user who wants a DataFrame writes.
  polars  compare.py's one-shot runner: `import polars`, fresh `pl.scan_parquet` scans,
          compare.py's lazy expressions, collected.

Each worker times itself from its first line (before any import) to the ids in hand
("in-process"); the driver also times the whole process (interpreter start-up included, the
same for every tool). The queries, the SQL, the Polars expressions and the fixed `now` of
relative datetimes are compare.py's (imported, not copied); the three tools' ids must be the
same set. `sorted_limit` is left out: Neptune's `sort_by="params/lr"` sorts a path that has a
float and a string type as strings (nql.neptune does as Neptune did), which is not the question
compare.py asks (the float column, numerically).

The nql worker also times, on its answer, `Table.to_pandas()` against
`pyarrow.Table.to_pandas()` of the same Arrow table (`Table.to_arrow()`), each the median of 5
calls, alternating.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TOOLS = ["nql", "duckdb", "duckdb-pandas", "polars"]
SKIPPED = {"sorted_limit": "Neptune sorts a path of two types as strings"}


def _compare():
    sys.path.insert(0, str(HERE))
    import compare

    return compare


def floor() -> dict:
    """What any Python answer that ends in a pandas DataFrame pays before it starts: importing
    pyarrow and pandas, timed from the process's first line."""
    import pyarrow  # noqa: F401
    import pandas  # noqa: F401

    return {"ms": (time.perf_counter() - _T0) * 1e3}


def worker(tool: str, name: str, data: Path) -> dict:
    """Answers query `name` with `tool` in this (fresh) process; times from the process's first
    line. Returns the timings and the ids."""
    if tool == "nql":
        import nql.neptune as neptune

        imported = time.perf_counter()
        compare = _compare()
        query = dict(compare.read_queries())[name]
        neptune._NOW = compare.NOW.isoformat()  # compare.py's fixed `now` for -30d and -2M
        project = neptune.init_project(project=str(data), mode="read-only")
        opened = time.perf_counter()
        table = project.fetch_runs_table(query=query, columns=["sys/id"])
        fetched = time.perf_counter()
        import pandas  # noqa: F401 - what to_pandas() imports first, timed apart

        pandas_imported = time.perf_counter()
        frame = table.to_pandas()
        ids = frame["sys/id"].tolist() if len(frame) else []
        done = time.perf_counter()
        ours, theirs = [], []
        arrow = table.to_arrow()
        for _ in range(5):
            start = time.perf_counter()
            table.to_pandas()
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            arrow.to_pandas()
            theirs.append(time.perf_counter() - start)
        return {
            "ms": (done - _T0) * 1e3,
            "import_ms": (imported - _T0) * 1e3,
            "open_ms": (opened - imported) * 1e3,
            "fetch_ms": (fetched - opened) * 1e3,
            "pandas_import_ms": (pandas_imported - fetched) * 1e3,
            "frame_ms": (done - pandas_imported) * 1e3,
            "ids": ids,
            "to_pandas_ms": statistics.median(ours) * 1e3,
            "pyarrow_to_pandas_ms": statistics.median(theirs) * 1e3,
            "columns": arrow.num_columns,
        }
    compare = _compare()
    if tool == "duckdb-pandas":
        import duckdb

        imported = time.perf_counter()
        files = compare.table_files(data)
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        for view in ("runs", "float_series"):
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{files[view]}')")
        frame = con.sql(compare.sql_for(name, compare.sql_queries(False)[name])).df()
        ids = frame["sys/id"].tolist()
        con.close()
        done = time.perf_counter()
        return {"ms": (done - _T0) * 1e3, "import_ms": (imported - _T0) * 1e3, "ids": ids}
    run, _threads = compare.oneshot_runner(tool, data)
    imported = time.perf_counter()
    ids = run(name)
    done = time.perf_counter()
    return {"ms": (done - _T0) * 1e3, "import_ms": (imported - _T0) * 1e3, "ids": ids}


def spawn(tool: str, name: str, data: Path) -> dict:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--worker", tool, name, "--data", str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = (time.perf_counter() - start) * 1e3
    if done.returncode != 0:
        sys.exit(f"{tool} {name} failed:\n{done.stderr}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall_ms"] = wall
    return out


def geomean(values):
    values = [v for v in values if v > 0]
    return statistics.geometric_mean(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "target" / "bench-M")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--queries", help="comma-separated names from queries.tsv (default: all)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--worker", nargs=2, metavar=("TOOL", "NAME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker[0] == "floor":
            print(json.dumps(floor()))
        else:
            print(json.dumps(worker(args.worker[0], args.worker[1], args.data)))
        return
    compare = _compare()
    names = [n for n, _ in compare.read_queries() if n not in SKIPPED]
    if args.queries:
        names = [n for n in args.queries.split(",")]
    series = {n: compare.is_series(q) for n, q in compare.read_queries()}
    floors = [spawn("floor", "-", args.data) for _ in range(args.reps + 1)][1:]
    floor_ms = statistics.median(f["ms"] for f in floors)
    floor_wall_ms = statistics.median(f["wall_ms"] for f in floors)
    print(f"floor: import pyarrow and pandas {floor_ms:.0f} ms in-process, {floor_wall_ms:.0f} ms the whole process")
    results = {}
    for name in names:
        runs = {tool: [] for tool in TOOLS}
        for tool in TOOLS:  # warm-up: the page cache, and the ids checked
            runs[tool].append(spawn(tool, name, args.data))
        ids = {tool: sorted(runs[tool][0]["ids"]) for tool in TOOLS}
        if any(ids[tool] != ids["nql"] for tool in TOOLS):
            sys.exit(f"{name}: the tools disagree: " + ", ".join(f"{t} {len(i)} ids" for t, i in ids.items()))
        samples = {tool: [] for tool in TOOLS}
        for _ in range(args.reps):
            for tool in TOOLS:
                samples[tool].append(spawn(tool, name, args.data))
        row = {"rows": len(ids["nql"]), "series": series[name]}
        for tool in TOOLS:
            for key in ["ms", "wall_ms", "import_ms"]:
                row[f"{tool}_{key}"] = statistics.median(s[key] for s in samples[tool])
        for key in ["open_ms", "fetch_ms", "pandas_import_ms", "frame_ms", "to_pandas_ms", "pyarrow_to_pandas_ms"]:
            row[f"nql_{key}"] = statistics.median(s[key] for s in samples["nql"])
        results[name] = row
        print(
            f"{name:14} {row['rows']:>6} ids  nql {row['nql_ms']:7.1f} ms (wall {row['nql_wall_ms']:6.0f})"
            f"  duckdb {row['duckdb_ms']:7.1f} ({row['duckdb_wall_ms']:6.0f})"
            f"  duckdb-pandas {row['duckdb-pandas_ms']:7.1f} ({row['duckdb-pandas_wall_ms']:6.0f})"
            f"  polars {row['polars_ms']:7.1f} ({row['polars_wall_ms']:6.0f})"
            f"  nql/duckdb {row['nql_ms'] / row['duckdb_ms']:.2f}"
            f"  to_pandas {row['nql_to_pandas_ms']:.2f} vs pyarrow {row['nql_pyarrow_to_pandas_ms']:.2f} ms",
            flush=True,
        )
    summary = {}
    for label, pick in [("all", lambda r: True), ("plain", lambda r: not r["series"]), ("series", lambda r: r["series"])]:
        chosen = [r for r in results.values() if pick(r)]
        if not chosen:
            continue
        summary[label] = {
            "queries": len(chosen),
            "nql/duckdb": geomean([r["nql_ms"] / r["duckdb_ms"] for r in chosen]),
            "nql/duckdb-pandas": geomean([r["nql_ms"] / r["duckdb-pandas_ms"] for r in chosen]),
            "nql/polars": geomean([r["nql_ms"] / r["polars_ms"] for r in chosen]),
            "nql/duckdb wall": geomean([r["nql_wall_ms"] / r["duckdb_wall_ms"] for r in chosen]),
            "nql/polars wall": geomean([r["nql_wall_ms"] / r["polars_wall_ms"] for r in chosen]),
            "to_pandas/pyarrow": geomean([r["nql_to_pandas_ms"] / r["nql_pyarrow_to_pandas_ms"] for r in chosen]),
            "nql import_ms": statistics.median(r["nql_import_ms"] for r in chosen),
            "nql open_ms": statistics.median(r["nql_open_ms"] for r in chosen),
            "nql fetch_ms": statistics.median(r["nql_fetch_ms"] for r in chosen),
            "nql pandas_import_ms": statistics.median(r["nql_pandas_import_ms"] for r in chosen),
            "nql frame_ms": statistics.median(r["nql_frame_ms"] for r in chosen),
            "duckdb import_ms": statistics.median(r["duckdb_import_ms"] for r in chosen),
            "max nql/duckdb": max(r["nql_ms"] / r["duckdb_ms"] for r in chosen),
            "polars import_ms": statistics.median(r["polars_import_ms"] for r in chosen),
        }
    print("\ngeometric means of the ratios (in-process; wall = the whole process):")
    for label, s in summary.items():
        print(f"  {label:6} ({s['queries']:2}): " + ", ".join(f"{k} {v:.2f}" for k, v in s.items() if k != "queries"))
    if args.json:
        args.json.write_text(
            json.dumps({"queries": results, "summary": summary, "floor_ms": floor_ms, "floor_wall_ms": floor_wall_ms}, indent=1)
        )


if __name__ == "__main__":
    main()
