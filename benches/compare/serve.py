#!/usr/bin/env python3
"""`nql serve` against the goals of its issue: the first page of a query and its count and the
check endpoint on the M project of compare.py (target/bench-data/gen-M), and the curves of 10
runs x 100,000 points downsampled to 2,000 points per run on a project of long series
(target/bench-data/gen-long: `nql generate --runs 10 --points 100000 --full`, written when missing).
Each request is timed from request to response (median of --reps after one warm-up) over HTTP
on 127.0.0.1 from this Python process.

    python3 benches/compare/serve.py [--data DIR] [--long DIR] [--nql target/release/nql] [--reps 30]

On a machine busy with other work, run it as `chrt -f 20 python3 ...` (root): the server and
this client then get the CPU whenever they want it, as on an idle machine.

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
BENCH = REPO / "target" / "bench-data"


class Server:
    """A running `nql serve --data DIR` on a free port."""

    def __init__(self, nql: str, data: str):
        self.child = subprocess.Popen([nql, "serve", "--port", "0", "--data", data], stderr=subprocess.PIPE, text=True)
        line = ""
        while "listening" not in line:
            line = self.child.stderr.readline()
            if not line:
                raise SystemExit(f"nql serve did not start on {data}")
        self.base = re.search(r"http://\S+/", line).group(0)

    def get(self, endpoint: str, **params):
        t = time.perf_counter()
        with urllib.request.urlopen(self.base + endpoint + "?" + urllib.parse.urlencode(params)) as r:
            body = json.load(r)
        return time.perf_counter() - t, body

    def timed(self, reps: int, name: str, goal_ms: float, endpoint: str, **params) -> dict:
        self.get(endpoint, **params)
        ms = statistics.median(self.get(endpoint, **params)[0] for _ in range(reps)) * 1000
        return {"name": name, "ms": ms, "goal_ms": goal_ms, "met": ms <= goal_ms}

    def first_ids(self, n: int) -> list:
        return [r["sys/id"] for r in self.get("api/query", q="", columns="sys/name", limit=n)[1]["rows"]]

    def first_float_series(self) -> str:
        attributes = self.get("api/schema")[1]["tables"]["runs"]["attributes"]
        return next(a["path"] for a in attributes if a["type"] == "floatSeries")

    def stop(self):
        self.child.kill()
        self.child.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(BENCH / "gen-M"))
    ap.add_argument("--long", default=str(BENCH / "gen-long"))
    ap.add_argument("--nql", default=str(REPO / "target" / "release" / "nql"))
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args()
    if not Path(args.long, "runs.parquet").exists():
        subprocess.run([args.nql, "generate", "--runs", "10", "--points", "100000", "--full", "--out", args.long], check=True)
    results = []
    server = Server(args.nql, args.data)
    try:
        results += [
            server.timed(args.reps, "first page (100 rows) and count of a plain query", 20, "api/query",
                         q="`params/lr`:float > 0.001", columns="params/lr,sys/name", limit=100),
            server.timed(args.reps, "first page and count of a series query, sorted", 20, "api/query",
                         q="last(`metrics/accuracy`):float > 0.9", columns="metrics/accuracy",
                         sort_by="metrics/accuracy", limit=100),
            server.timed(args.reps, "check", 2, "api/check",
                         q="(`params/lr`:float > 0.001 AND last(`metrics/accuracy`):float > 0.9) OR "
                           "`sys/tags`:stringSet CONTAINS \"x\""),
        ]
    finally:
        server.stop()
    server = Server(args.nql, args.long)
    try:
        ids, metric = ",".join(server.first_ids(10)), server.first_float_series()
        results.append(server.timed(args.reps, f"curves of 10 runs ({metric}), width 2,000", 30, "api/series",
                                    ids=ids, path=metric, width=2000))
        points = sum(s["count"] for s in server.get("api/series", ids=ids, path=metric, width=2000)[1]["series"])
    finally:
        server.stop()
    for r in results:
        print(f"{r['name']:58s} {r['ms']:8.2f} ms  goal <= {r['goal_ms']} ms  {'MET' if r['met'] else 'MISSED'}")
    print(f"(the 10 runs hold {points:,} points of {metric} in all)")
    out = BENCH / "serve.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"data": args.data, "long": args.long, "points": points, "results": results}, indent=1))


if __name__ == "__main__":
    main()
