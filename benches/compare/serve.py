#!/usr/bin/env python3
"""`nql serve` against the goals of its issue, on a generated project (default: the M project
of compare.py, target/bench-data/gen-M): the first page of a query and its count, the curves of
10 runs downsampled to 2,000 points per run, and the check endpoint, each timed from request to
response (median of --reps after one warm-up) over HTTP on 127.0.0.1 from this Python process.

    python3 benches/compare/serve.py [--data DIR] [--nql target/release/nql] [--reps 30]

Prints a table and writes JSON to target/bench-data/serve.json. Needs only the standard library."""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO / "target" / "bench-data" / "gen-M"))
    ap.add_argument("--nql", default=str(REPO / "target" / "release" / "nql"))
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args()
    child = subprocess.Popen([args.nql, "serve", "--port", "0", "--data", args.data], stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while "listening" not in line:
            line = child.stderr.readline()
            if not line:
                raise SystemExit("nql serve did not start")
        base = re.search(r"http://\S+/", line).group(0)

        def get(endpoint, **params):
            t = time.perf_counter()
            with urllib.request.urlopen(base + endpoint + "?" + urllib.parse.urlencode(params)) as r:
                body = json.load(r)
            return time.perf_counter() - t, body

        def timed(name, goal_ms, endpoint, **params):
            get(endpoint, **params)
            times = [get(endpoint, **params)[0] for _ in range(args.reps)]
            ms = statistics.median(times) * 1000
            return {"name": name, "ms": ms, "goal_ms": goal_ms, "met": ms <= goal_ms}

        _, first = get("api/query", q="", columns="sys/name", limit=10)
        ids = [r["sys/id"] for r in first["rows"]]
        _, schema = get("api/schema")
        metric = next(a["path"] for a in schema["tables"]["runs"]["attributes"] if a["type"] == "floatSeries")
        results = [
            timed("first page (100 rows) and count of a plain query", 20, "api/query",
                  q="`params/lr`:float > 0.001", columns="params/lr,sys/name", limit=100),
            timed("first page and count of a series query, sorted", 20, "api/query",
                  q="last(`metrics/accuracy`):float > 0.9", columns="metrics/accuracy", sort_by="metrics/accuracy", limit=100),
            timed(f"curves of 10 runs ({metric}), width 2,000", 30, "api/series", ids=",".join(ids), path=metric, width=2000),
            timed("check", 2, "api/check", q="(`params/lr`:float > 0.001 AND last(`metrics/accuracy`):float > 0.9) OR `sys/tags`:stringSet CONTAINS \"x\""),
        ]
        _, series = get("api/series", ids=",".join(ids), path=metric, width=2000)
        points = sum(s["count"] for s in series["series"])
        for r in results:
            print(f"{r['name']:58s} {r['ms']:8.2f} ms  goal <= {r['goal_ms']} ms  {'MET' if r['met'] else 'MISSED'}")
        print(f"(the 10 runs hold {points:,} points of {metric} in all)")
        out = REPO / "target" / "bench-data" / "serve.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"data": args.data, "points": points, "results": results}, indent=1))
    finally:
        child.kill()
        child.wait()


if __name__ == "__main__":
    main()
