#!/usr/bin/env python3
"""NQL on a Ballista cluster, side by side with one process and with DuckDB.

    python3 benches/compare/cluster.py [--scale L] [--buckets 16] [--executors 2] [--vcores 1]
        [--reps 3] [--write-docs]

Needs the release binaries built with the cluster (docs/cluster.md):

    cargo build --release -p nql-cli --features nql-cli/cluster -p nql-cluster

(`nql`, `nql-scheduler` and `nql-executor` in the same directory: --nql, else
$CARGO_TARGET_DIR/release, else target/release). Runs inside compare.py's venv (created on first
use) and shares its projects: `gen-SCALE` under --data-root is compare.py's project, generated
if missing.

Steps, each timed (wall time around the process; peak resident memory by GNU time):

  1. one process: `nql index --rebuild` of the project (the single-process index build);
  2. `nql partition --buckets N --no-summaries` into `gen-SCALE-bN` (object and series files);
  3. one process over the buckets: `nql summarize --bucket K` for each bucket, one at a time
     (the per-bucket cost the scaling estimate is made of), then the files kept;
  4. a scheduler and --executors executor processes on 127.0.0.1 (--vcores task slots each);
     `nql index --cluster` builds every bucket's summaries there (a task per bucket), and the
     files it writes must be those of step 3, byte for byte;
  5. every query of queries.tsv one-shot (a fresh process per query): `nql query` in one
     process over the indexed project, `nql query --cluster` over the buckets, and DuckDB
     (compare.py's one-shot runner: a fresh connection, views over read_parquet of the same
     project's files); a warm-up round, then --reps rounds in which the three take turns;
     medians; the three must return the same ids;
  6. the cluster's fixed overhead: the same one-shot queries on a project of --tiny-runs runs
     bucketed the same way, on the cluster and in one process; the difference of the medians.

Results go to `cluster-SCALE/result.json` under --data-root; --write-docs rewrites the measured
section of docs/cluster.md (between its markers), keeping the rest of the page.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import compare  # noqa: E402  (its venv, projects, queries, SQL and process timing)

REPO = compare.REPO
DOC = REPO / "docs" / "cluster.md"
DOC_BEGIN = "<!-- cluster.py writes the section below; everything else on this page is by hand. -->"
DOC_END = "<!-- end of the section written by cluster.py -->"
SUMMARY_DIRS = ("runs_summary", "models_summary", "model_versions_summary")


def ensure_venv():
    """Re-runs this script inside compare.py's venv (DuckDB for the comparison)."""
    if Path(sys.prefix).resolve() == compare.VENV.resolve():
        return
    python = compare.VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {compare.VENV}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(compare.VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *compare.PACKAGES], check=True)
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def binaries(nql_arg: str | None) -> dict[str, Path]:
    nql = compare.find_nql(nql_arg)
    bins = {"nql": nql, "scheduler": nql.parent / "nql-scheduler", "executor": nql.parent / "nql-executor"}
    for name, path in bins.items():
        if not path.exists():
            sys.exit(f"no {path}: build with `cargo build --release -p nql-cli --features "
                     "nql-cli/cluster -p nql-cluster`")
    help_text = subprocess.run([nql, "query", "--help"], capture_output=True, text=True).stdout
    if "--cluster" not in help_text:
        sys.exit(f"{nql} has no --cluster: build it with `--features nql-cli/cluster`")
    return bins


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, what: str, process: subprocess.Popen, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{what} ended ({process.returncode}) before it listened on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit(f"{what} did not listen on {port} within {seconds} s")


class Cluster:
    """A scheduler and executor processes on 127.0.0.1, each under GNU time (peak memory)."""

    def __init__(self, bins: dict[str, Path], work: Path, executors: int, vcores: int):
        self.work = work
        self.port = free_port()
        self.url = f"df://127.0.0.1:{self.port}"
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []
        self._start("scheduler", [bins["scheduler"], "--port", self.port])
        wait_port(self.port, "the scheduler", self.procs[0][1])
        for i in range(executors):
            flight, grpc = free_port(), free_port()
            scratch = work / f"executor-{i}"
            scratch.mkdir(parents=True, exist_ok=True)
            self._start(f"executor-{i}", [bins["executor"], "--scheduler-port", self.port, "--port", flight,
                                          "--grpc-port", grpc, "--vcores", vcores, "--work-dir", scratch])
            wait_port(flight, f"executor {i}", self.procs[-1][1])
        time.sleep(1)  # the executors register with the scheduler on their first heartbeat

    def _start(self, name: str, cmd: list):
        mem = self.work / f"{name}.maxrss"
        log = open(self.work / f"{name}.log", "wb")
        wrapped = [str(c) for c in cmd]
        if compare.GNU_TIME.exists():
            wrapped = [str(compare.GNU_TIME), "-f", "%M", "-o", str(mem), *wrapped]
        self.procs.append((name, subprocess.Popen(wrapped, stdout=log, stderr=log), mem))

    def stop(self) -> dict[str, int | None]:
        """Stops every process; their peak resident memory, by name."""
        peaks = {}
        for name, p, mem in reversed(self.procs):
            # The process under GNU time: signal it, not time, so that time reports its peak.
            if compare.GNU_TIME.exists():
                subprocess.run(["pkill", "-TERM", "-P", str(p.pid)], check=False)
            else:
                p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            peaks[name] = int(mem.read_text().split()[-1]) * 1024 if mem.exists() and mem.read_text().strip() else None
        return peaks


def summary_files(bucketed: Path) -> list[Path]:
    return sorted(p for d in SUMMARY_DIRS if (bucketed / d).is_dir() for p in (bucketed / d).glob("*.parquet"))


def remove_summaries(bucketed: Path):
    for d in SUMMARY_DIRS:
        if (bucketed / d).exists():
            shutil.rmtree(bucketed / d)


def partition(nql: Path, data: Path, out: Path, buckets: int, summaries: bool) -> dict:
    if out.exists():
        shutil.rmtree(out)
    cmd = [nql, "partition", "--data", data, "--out", out, "--buckets", str(buckets)]
    r = compare.run_child(cmd + ([] if summaries else ["--no-summaries"]), memory=True)
    return {"s": r["s"], "peak_bytes": r["peak_bytes"], "bytes": compare.dir_bytes(out)}


def series_points(data: Path) -> int:
    """The number of float series points of a generated project (from its Parquet footers)."""
    import pyarrow.parquet as pq

    files = sorted((data / "float_series").glob("*.parquet"))
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def per_bucket(nql: Path, bucketed: Path, buckets: int) -> dict:
    """Step 3: each bucket summarized alone in one process, one after the other."""
    remove_summaries(bucketed)
    rows = []
    for k in range(buckets):
        r = compare.run_child([nql, "summarize", "--data", bucketed, "--bucket", str(k)], memory=True)
        rows.append({"bucket": k, "s": r["s"], "peak_bytes": r["peak_bytes"]})
        print(f"  bucket {k}: {r['s']:.2f} s, peak {compare.mib(r['peak_bytes'])}", file=sys.stderr)
    seconds = [r["s"] for r in rows]
    return {"rows": rows, "total_s": sum(seconds), "median_s": statistics.median(seconds),
            "max_s": max(seconds), "peak_bytes": max(r["peak_bytes"] or 0 for r in rows)}


def cluster_build(nql: Path, cluster: Cluster, bucketed: Path, reference: Path, reps: int) -> dict:
    """Step 4: `nql index --cluster`, timed `reps` times; its files against step 3's."""
    samples, same = [], True
    for _ in range(reps):
        remove_summaries(bucketed)
        r = compare.run_child([nql, "index", "--cluster", cluster.url, "--data", bucketed])
        samples.append(r["s"])
        built = summary_files(bucketed)
        expected = summary_files(reference)
        names = [p.relative_to(bucketed) for p in built]
        same = same and names == [p.relative_to(reference) for p in expected] and all(
            filecmp.cmp(a, b, shallow=False) for a, b in zip(built, expected))
        print(f"  nql index --cluster: {r['s']:.2f} s, files {'the same' if same else 'DIFFERENT'}", file=sys.stderr)
    return {"s": statistics.median(samples), "samples": samples, "same_files": same}


def query_cmd(nql: Path, data: Path, name: str, query: str, url: str | None) -> list:
    cmd = compare.nql_query_cmd(nql, data, name, query)
    return cmd[:2] + (["--cluster", url] if url else []) + cmd[2:]


def run_queries(nql: Path, data: Path, bucketed: Path, cluster: Cluster, work: Path, queries, reps: int,
                duckdb: bool) -> dict:
    """Steps 5 and 6: each query one-shot in one process, on the cluster and (when `duckdb`)
    with DuckDB over `data`, taking turns; medians and ids."""
    out_dir = work / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    duck = compare.OneshotWorker("duckdb", data, work / "ids") if duckdb else None
    rows = []
    for name, query in queries:
        local = query_cmd(nql, data, name, query, None)
        remote = query_cmd(nql, bucketed, name, query, cluster.url)
        local_out, remote_out = out_dir / f"{name}.local.csv", out_dir / f"{name}.cluster.csv"
        warm = {"local": compare.run_child(local, local_out, memory=True),
                "cluster": compare.run_child(remote, remote_out, memory=True)}
        if duck:
            duck.run(name, write_ids=True)
        samples = {"local": [], "cluster": [], "duckdb": []}
        for _ in range(reps):
            samples["local"].append(compare.run_child(local, local_out)["s"] * 1e3)
            samples["cluster"].append(compare.run_child(remote, remote_out)["s"] * 1e3)
            if duck:
                samples["duckdb"].append(duck.run(name)["ms"])
        ids = {"local": compare.csv_ids(local_out), "cluster": compare.csv_ids(remote_out)}
        for tool in ("local", "cluster"):
            compare.write_ids(work / "ids" / tool, name, ids[tool])
        tools = ["local", "cluster"] + (["duckdb_oneshot"] if duck else [])
        same = compare.same_ids(data.name, name, {t: compare.read_ids(work, t, name) for t in tools}, "local")
        r = {"name": name, "query": query, "series": compare.is_series(query), "rows": len(ids["local"]),
             "same_ids": same, "samples": samples,
             "local": statistics.median(samples["local"]), "cluster": statistics.median(samples["cluster"]),
             "duckdb": statistics.median(samples["duckdb"]) if duck else None,
             "local_peak_bytes": warm["local"]["peak_bytes"], "cluster_peak_bytes": warm["cluster"]["peak_bytes"]}
        r["cluster_vs_local"] = r["cluster"] / r["local"]
        r["cluster_vs_duckdb"] = r["cluster"] / r["duckdb"] if duck else None
        r["local_vs_duckdb"] = r["local"] / r["duckdb"] if duck else None
        r["overhead_ms"] = r["cluster"] - r["local"]
        rows.append(r)
        print(f"  {name:<15} one process {r['local']:8.1f} ms  cluster {r['cluster']:8.1f} ms  DuckDB "
              f"{compare.ms(r['duckdb']):>9} ms  ({r['rows']:,} ids{'' if same else ', NOT THE SAME'})",
              file=sys.stderr)
    if duck:
        duck.close()
    stats = {key: compare.group_stats(rows, key) for key in ("cluster_vs_local", "cluster_vs_duckdb", "local_vs_duckdb")
             if all(r[key] is not None for r in rows)}
    return {"rows": rows, "reps": reps, "stats": stats, "all_same_ids": all(r["same_ids"] for r in rows),
            "overhead_ms": statistics.median(r["overhead_ms"] for r in rows)}


def run(args) -> dict:
    bins = binaries(args.nql)
    nql = bins["nql"]
    root = Path(args.data_root)
    scale, buckets = args.scale, args.buckets
    data = root / f"gen-{scale}"
    bucketed = root / f"gen-{scale}-b{buckets}"
    reference = root / f"gen-{scale}-b{buckets}-summaries"
    work = root / f"cluster-{scale}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    queries = compare.read_queries()
    res = {"scale": scale, "runs": compare.SCALES[scale], "buckets": buckets, "executors": args.executors,
           "vcores": args.vcores, "commit": compare.code_commit(), "binary": compare.binary_identity(nql),
           "machine": compare.machine(), "machine_note": args.machine_note}
    res["generate"] = compare.generate(nql, data, compare.SCALES[scale], compare.RUNS_PER_FILE[scale])
    res["points"] = series_points(data)
    res["series_bytes"] = compare.dir_bytes(data / "float_series")

    print(f"[1] one process: nql index --rebuild over {data}", file=sys.stderr)
    res["index"] = compare.build_index(nql, data)
    print(f"  {res['index']['s']:.2f} s, peak {compare.mib(res['index']['peak_bytes'])}", file=sys.stderr)

    print(f"[2] nql partition --buckets {buckets} --no-summaries", file=sys.stderr)
    res["partition"] = partition(nql, data, bucketed, buckets, summaries=False)
    print(f"  {res['partition']['s']:.2f} s, peak {compare.mib(res['partition']['peak_bytes'])}", file=sys.stderr)

    print("[3] one process: nql summarize --bucket K, bucket by bucket", file=sys.stderr)
    res["per_bucket"] = per_bucket(nql, bucketed, buckets)
    if reference.exists():
        shutil.rmtree(reference)
    reference.mkdir(parents=True)
    for d in SUMMARY_DIRS:
        if (bucketed / d).is_dir():
            shutil.copytree(bucketed / d, reference / d)

    print(f"[4] a scheduler and {args.executors} executors of {args.vcores} slots", file=sys.stderr)
    cluster = Cluster(bins, work, args.executors, args.vcores)
    try:
        res["cluster_build"] = cluster_build(nql, cluster, bucketed, reference, args.build_reps)
        print(f"[5] {len(queries)} queries one-shot, {args.reps} rounds", file=sys.stderr)
        res["queries"] = run_queries(nql, data, bucketed, cluster, work, queries, args.reps, duckdb=True)

        tiny = root / f"tiny-{args.tiny_runs}"
        tiny_bucketed = root / f"tiny-{args.tiny_runs}-b{buckets}"
        compare.generate(nql, tiny, args.tiny_runs, args.tiny_runs, key="TINY")
        compare.build_index(nql, tiny)
        partition(nql, tiny, tiny_bucketed, buckets, summaries=True)
        print(f"[6] the fixed overhead: {args.tiny_runs:,} runs in {buckets} buckets", file=sys.stderr)
        res["tiny"] = run_queries(nql, tiny, tiny_bucketed, cluster, work / "tiny", queries, args.reps, duckdb=False)
        res["tiny"]["runs"] = args.tiny_runs
    finally:
        res["cluster_peaks"] = cluster.stop()
    (work / "result.json").write_text(json.dumps(res, indent=1))
    return res


# ---------------------------------------------------------------------------------------------
# Reporting.
# ---------------------------------------------------------------------------------------------

def estimate(res: dict, executors: int = 100, slots: int = 8, points: float = 1e11) -> dict:
    """The scaling estimate from the measured per-bucket costs: build seconds per million
    points of one task, and the query's per-bucket scan cost over the fixed overhead."""
    pb = res["per_bucket"]
    per_bucket_points = res["points"] / res["buckets"]
    build_s_per_mpoint = pb["median_s"] / (per_bucket_points / 1e6)
    tasks = executors * slots
    build_s = points / 1e6 * build_s_per_mpoint / tasks
    return {"executors": executors, "slots": slots, "points": points, "tasks": tasks,
            "build_s_per_mpoint": build_s_per_mpoint, "build_s": build_s,
            "per_bucket_points": per_bucket_points, "bytes_per_point": res["series_bytes"] / res["points"]}


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} minutes"


def table(rows: list[dict]) -> list[str]:
    lines = ["| query | kind | ids | one process ms | cluster ms | DuckDB ms | cluster / one process | "
             "cluster / DuckDB | one process / DuckDB |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        lines.append(f"| `{r['name']}` | {'series' if r['series'] else 'plain'} | {r['rows']:,} | "
                     f"{compare.ms(r['local'])} | {compare.ms(r['cluster'])} | {compare.ms(r['duckdb'])} | "
                     f"{compare.ratio(r['cluster_vs_local'])} | {compare.ratio(r['cluster_vs_duckdb'])} | "
                     f"{compare.ratio(r['local_vs_duckdb'])} |")
    return lines


def report(res: dict) -> list[str]:
    m = res["machine"]
    q, tiny, pb, cb = res["queries"], res["tiny"], res["per_bucket"], res["cluster_build"]
    ix, part = res["index"], res["partition"]
    est = estimate(res)
    peaks = res["cluster_peaks"]
    executor_peak = max((v or 0) for k, v in peaks.items() if k.startswith("executor"))
    lines = [
        DOC_BEGIN,
        "",
        f"## Measured: the {res['scale']} project on a cluster",
        "",
        f"`benches/compare/cluster.py --scale {res['scale']} --buckets {res['buckets']} --executors "
        f"{res['executors']} --vcores {res['vcores']} --reps {q['reps']}` at commit `{res['commit']}` (release "
        f"binaries), on {m['cpu']}, {m['cores']} cores ({res['machine_note']}), {m['memory_gib']} GiB; DuckDB "
        f"{m['duckdb']}, Python {m['python']}. The project: compare.py's {res['scale']} "
        f"({res['runs']:,} runs, {res['points']:,} float series points, "
        f"{res['generate']['bytes'] / 2**30:.1f} GiB of Parquet). The cluster: a scheduler and "
        f"{res['executors']} executor processes of {res['vcores']} task slot(s) each on the same machine, "
        f"over the project bucketed {res['buckets']} ways on the local disk.",
        "",
        "**The index.**",
        "",
        "| step | time | peak memory |",
        "|---|--:|--:|",
        f"| one process: `nql index --rebuild` of the project | {ix['s']:.1f} s | {compare.mib(ix['peak_bytes'])} |",
        f"| `nql partition --buckets {res['buckets']} --no-summaries` (once, before a cluster) | {part['s']:.1f} s "
        f"| {compare.mib(part['peak_bytes'])} |",
        f"| one process: `nql summarize --bucket K`, the {res['buckets']} buckets one after the other | "
        f"{pb['total_s']:.1f} s (median {pb['median_s']:.2f} s a bucket, max {pb['max_s']:.2f} s) | "
        f"{compare.mib(pb['peak_bytes'])} a bucket |",
        f"| the cluster: `nql index --cluster` (a task per bucket, median of {len(cb['samples'])}) | "
        f"{cb['s']:.1f} s | {compare.mib(executor_peak)} an executor |",
        "",
        f"The cluster's summary files were {'the same bytes as' if cb['same_files'] else 'NOT the same as'} "
        f"those of the buckets summarized one by one. Cluster build / one-process index build: "
        f"{compare.ratio(cb['s'] / ix['s'])}.",
        "",
        f"**Queries**, one-shot (a fresh `nql` process per query; DuckDB as in compare.py's one-shot mode, "
        f"timed inside its worker), a warm-up round, then {q['reps']} rounds taking turns, medians. "
        f"Every query gave the same ids in all three: {'yes' if q['all_same_ids'] else 'NO'}.",
        "",
        *table(q["rows"]),
        "",
        "| geometric mean (max) | plain | series | all |",
        "|---|--:|--:|--:|",
    ]
    names = {"cluster_vs_local": "cluster / one process", "cluster_vs_duckdb": "cluster / DuckDB",
             "local_vs_duckdb": "one process / DuckDB"}
    for key, label in names.items():
        s = q["stats"].get(key, {})
        cells = [f"{compare.ratio(s[g]['geomean'])} ({compare.ratio(s[g]['max'])})" if g in s else "-"
                 for g in ("plain", "series", "all")]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    lines += [
        "",
        f"**The fixed overhead per query.** On {tiny['runs']:,} runs in the same {res['buckets']} buckets, "
        f"where the work itself is nothing, a one-shot query took {statistics.median(r['cluster'] for r in tiny['rows']):.0f} ms "
        f"on the cluster and {statistics.median(r['local'] for r in tiny['rows']):.0f} ms in one process "
        f"(medians over the {len(tiny['rows'])} queries): **{tiny['overhead_ms']:.0f} ms** of the cluster's "
        f"own (connecting, reading the summary files' footers, planning, shipping the plan, scheduling two "
        f"stages, polling for their end, fetching the result). On the {res['scale']} project the "
        f"difference was {q['overhead_ms']:.0f} ms (median over the queries).",
        "",
        f"**The per-bucket costs the estimate below is made of.** One task summarized a bucket of "
        f"{est['per_bucket_points'] / 1e6:.1f} million points ({est['per_bucket_points'] * est['bytes_per_point'] / 2**20:,.0f} MiB "
        f"of Parquet, {est['bytes_per_point']:.1f} bytes a point) in {pb['median_s']:.2f} s (median, a fresh process: "
        f"reading, summarizing, writing the summary file), {est['build_s_per_mpoint'] * 1e3:.0f} ms per million "
        f"points, with a peak of {compare.mib(pb['peak_bytes'])}. At that rate {est['points'] / 1e9:.0f} billion points "
        f"are {duration(est['points'] / 1e6 * est['build_s_per_mpoint'])} of one core; on "
        f"{est['executors']} executors of {est['slots']} slots ({est['tasks']} tasks at once) "
        f"{duration(est['build_s'])} if the storage keeps up, which takes "
        f"{est['points'] * est['bytes_per_point'] / 2**30 / max(est['build_s'], 1):,.0f} GiB/s; at a shared store's "
        f"10 GiB/s, reading the {est['points'] * est['bytes_per_point'] / 2**40:,.1f} TiB takes "
        f"{duration(est['points'] * est['bytes_per_point'] / (10 * 2**30))}.",
        "",
        DOC_END,
    ]
    return lines


def write_docs(res: dict):
    text = DOC.read_text()
    section = "\n".join(report(res))
    if DOC_BEGIN in text and DOC_END in text:
        before, rest = text.split(DOC_BEGIN, 1)
        after = rest.split(DOC_END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)
    print(f"wrote {DOC}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="L", choices=sorted(compare.SCALES), help="compare.py's project (default L)")
    ap.add_argument("--buckets", type=int, default=16)
    ap.add_argument("--executors", type=int, default=2)
    ap.add_argument("--vcores", type=int, default=1, help="task slots per executor (default 1)")
    ap.add_argument("--reps", type=int, default=3, help="timed rounds per query after one warm-up (default 3)")
    ap.add_argument("--build-reps", type=int, default=2, help="timed cluster index builds (default 2)")
    ap.add_argument("--tiny-runs", type=int, default=1000, help="runs of the fixed-overhead project")
    ap.add_argument("--data-root", default=str(REPO / "target" / "bench-data"))
    ap.add_argument("--nql", help="the release nql binary built with the cluster feature")
    ap.add_argument("--machine-note", default="shared with other work while measuring")
    ap.add_argument("--write-docs", action="store_true", help="rewrite the measured section of docs/cluster.md")
    ap.add_argument("--docs-only", action="store_true", help="write the docs from the last result.json")
    args = ap.parse_args()
    ensure_venv()
    if args.docs_only:
        res = json.loads((Path(args.data_root) / f"cluster-{args.scale}" / "result.json").read_text())
    else:
        started = time.perf_counter()
        res = run(args)
        print(f"done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print("\n".join(report(res)[2:-2]))
    if args.write_docs:
        write_docs(res)


if __name__ == "__main__":
    main()
