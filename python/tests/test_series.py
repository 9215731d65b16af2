"""Project.series: raw points as Arrow, against the series files read with pyarrow, the
engine's own summaries and the Neptune samples' truth.json."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import nql
from conftest import CONFORMANCE, NEPTUNE

COLUMNS = ["sys/id", "path", "step", "timestamp", "value"]


def file_points(kind: str) -> pa.Table:
    data = CONFORMANCE / "data"
    files = [data / f"{kind}_series.parquet"] if (data / f"{kind}_series.parquet").exists() else sorted(
        (data / f"{kind}_series").iterdir()
    )
    tables = []
    for f in files:
        t = pq.read_table(f)
        tables.append(
            pa.table(
                {
                    "sys/id": t["sys/id"].cast(pa.string()),
                    "path": t["path"].cast(pa.string()),
                    "step": t["step"].cast(pa.float64()),
                    "timestamp": t["timestamp"].cast(pa.timestamp("us", "UTC")),
                    "value": t["value"],
                }
            )
        )
    return pa.concat_tables(tables)


def same(a, b) -> bool:
    return a == b or (a != a and b != b)  # NaN is the same NaN


def as_rows(table: pa.Table) -> list[tuple]:
    rows = [tuple("NaN" if v != v else v for v in r) for r in zip(*(table.column(c).to_pylist() for c in COLUMNS))]
    return sorted(
        rows,
        key=lambda r: (r[0], r[1], r[2], r[3] is not None, r[3] or 0, str(r[4])),
    )


def test_the_points_are_the_files_points_for_each_kind(conformance):
    runs = set(conformance.query("", trashed="all", columns=[]).column("sys/id").to_pylist())
    for kind in ["float", "string"]:
        got = conformance.series(kind=kind)
        assert got.column_names == COLUMNS
        assert got.schema.field("step").type == pa.float64()
        assert got.schema.field("timestamp").type == pa.timestamp("us", "UTC")
        assert got.schema.field("value").type == (pa.float64() if kind == "float" else pa.string())
        files = file_points(kind)
        files = files.filter(pc.is_in(files["sys/id"], pa.array(sorted(runs))))
        assert got.num_rows == files.num_rows > 0
        # Sorted by id, path, step: the rows come in the order the engine promises.
        keys = list(zip(*(got.column(c).to_pylist() for c in ["sys/id", "path", "step"])))
        assert keys == sorted(keys)
        assert as_rows(got) == as_rows(files)


def test_ids_paths_step_range_and_tail(conformance):
    every = conformance.series(paths="metrics/acc")
    ids = [i for i in sorted(set(every.column("sys/id").to_pylist()))][:5]
    got = conformance.series(ids, ["metrics/acc"], step_range=(2, 6))
    steps = got.column("step").to_pylist()
    assert steps and all(2 <= s <= 6 for s in steps)
    assert set(got.column("sys/id").to_pylist()) <= set(ids)
    assert set(got.column("path").to_pylist()) == {"metrics/acc"}
    tail = conformance.series(ids, "metrics/acc", tail=2).to_pandas()
    for (_, _), group in tail.groupby(["sys/id", "path"]):
        full = every.to_pandas()
        mine = full[(full["sys/id"] == group["sys/id"].iloc[0])]
        assert list(group["step"]) == sorted(mine["step"])[-2:]
    # The last point of each series is the table's last().
    lasts = conformance.query("", columns=["metrics/acc"], trashed="all").to_pandas().set_index("sys/id")["metrics/acc"]
    one = conformance.series(paths="metrics/acc", tail=1).to_pandas().set_index("sys/id")["value"]
    assert len(one) > 10
    for i, v in one.items():
        assert same(lasts[i], v), (i, lasts[i], v)
    # Open ends.
    assert min(conformance.series(ids, "metrics/acc", step_range=(3, None)).column("step").to_pylist()) >= 3
    assert max(conformance.series(ids, "metrics/acc", step_range=(None, 3)).column("step").to_pylist()) <= 3


def test_nothing_matched_is_an_empty_table_with_the_columns(conformance):
    empty = conformance.series(["no-such-run"])
    assert empty.num_rows == 0 and empty.column_names == COLUMNS
    assert conformance.series([], None).num_rows == 0


def test_bad_arguments_raise(conformance):
    with pytest.raises(ValueError, match="step_range"):
        conformance.series(step_range=(5, 1))
    with pytest.raises(ValueError, match="step_range"):
        conformance.series(step_range=[1, 2])
    with pytest.raises(ValueError, match="step_range"):
        conformance.series(step_range=("a", 2))
    with pytest.raises(ValueError, match="tail"):
        conformance.series(tail=0)
    with pytest.raises(ValueError, match="kind"):
        conformance.series(kind="int")
    with pytest.raises(ValueError, match="table"):
        conformance.series(table="nope")
    with pytest.raises(ValueError, match="experiments"):
        conformance.series(table="experiments")
    with pytest.raises(TypeError):
        conformance.series(ids=[1, 2])
    with pytest.raises(TypeError):
        conformance.series(paths=5)


def test_the_points_share_the_engines_buffers(conformance):
    batches = conformance._inner.series(
        None, None, table="runs", kind="float", start=None, end=None, tail=None, timeout=None
    )
    engine = set(batches._buffer_addresses())
    table = pa.table(batches)
    python = {b.address for col in table.columns for ch in col.chunks for b in ch.buffers() if b is not None}
    assert python and python <= engine


def test_neptune_exports_points_are_what_neptune_logged():
    checked = 0
    for name in ["v2-vision", "v3-llm"]:
        truth = json.loads((NEPTUNE / name / "truth.json").read_text())
        project = nql.open(NEPTUNE / name / "data")
        points = project.series().to_pandas()
        groups = {k: g for k, g in points.groupby(["sys/id", "path"])}
        for run in truth["runs"]:
            for a in run["attributes"]:
                if a["type"] != "floatSeries" or "in_export" in a:
                    continue
                g = groups[(run["sys_id"], a["path"])]
                assert len(g) == a["count"], (name, run["sys_id"], a["path"])
                assert g["step"].iloc[0] == a["first_step"] and g["step"].iloc[-1] == a["last_step"]
                assert g["value"].iloc[-1] == pytest.approx(a["last"])
                assert g["value"].max() == pytest.approx(a["max"])
                checked += 1
    assert checked > 200
