"""nql.query's DataFrames against neptune-query's own: the real package's frame builders
(`neptune_query.internal.output_format`, neptune-query 1.14 from PyPI, no server involved) are
fed the engine's values and points for v3-llm, and their frames must equal nql.query's, dtypes,
index and column levels included. Skipped when neptune-query is not installed."""

from __future__ import annotations

import importlib
import sys

import pandas as pd
import pytest

import nql
import nql.query as nq
from conftest import NEPTUNE

V3 = NEPTUNE / "v3-llm"
PROJECT = "acme/llm"


def _real():
    """neptune-query's own modules (not nql.query, which nql.compat may have put in its place)."""
    if sys.modules.get("neptune_query") is nq:
        pytest.skip("nql.compat is installed")
    try:
        out = importlib.import_module("neptune_query.internal.output_format")
        ids = importlib.import_module("neptune_query.internal.identifiers")
        values = importlib.import_module("neptune_query.internal.retrieval.attribute_values")
        types = importlib.import_module("neptune_query.internal.retrieval.attribute_types")
        series = importlib.import_module("neptune_query.internal.retrieval.series")
        search = importlib.import_module("neptune_query.internal.retrieval.search")
    except ImportError:
        pytest.skip("neptune-query is not installed")
    return out, ids, values, types, series, search


@pytest.fixture(autouse=True)
def v3_data(monkeypatch):
    monkeypatch.setenv("NQL_DATA", str(V3 / "data"))


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> nql.Project:
    return nql.open(V3 / "data", project=PROJECT, index_dir=tmp_path_factory.mktemp("v3-frames"))


_PY = {"floatSeries": "float_series", "stringSeries": "string_series", "stringSet": "string_set"}
_PLAIN = {"float", "int", "string", "bool", "datetime", "stringSet", "floatSeries", "stringSeries"}


@pytest.mark.parametrize("suffix", [False, True])
@pytest.mark.parametrize("table,attributes", [("experiments", r"config/ & !warmup | loss | sys/creation_time | logs"), ("runs", r"^config/(lr|seed|labels|use_amp|dropout)$ | sys/ping_time")])
def test_tables_equal_neptune_querys(engine, table, attributes, suffix):
    out, ids, values, types, _, search = _real()
    container = search.ContainerType.EXPERIMENT if table == "experiments" else search.ContainerType.RUN
    label_path = "sys/name" if table == "experiments" else "sys/custom_run_id"
    fetch = nq.fetch_experiments_table if table == "experiments" else nq.runs.fetch_runs_table
    ours = fetch(project=PROJECT, attributes=attributes, type_suffix_in_column_names=suffix)
    selected = nq.filters.AttributeFilter(name=attributes)._to_internal()
    wanted = [c for c in engine._inner.columns(table) if c[2] in _PLAIN and selected.matches(c[1], _PY.get(c[2], c[2]))]
    answer = engine.query("", table=table, columns=[c[0] for c in wanted if c[0] != "sys/id"] + [label_path])
    rows = []
    for r in range(answer.num_rows):
        sys_id = answer.column("sys/id")[r].as_py()
        run = ids.RunIdentifier(ids.ProjectIdentifier(PROJECT), ids.SysId(sys_id))
        vals = []
        for name, path, t in wanted:
            v = answer.column(name)[r].as_py()
            if v is None:
                continue
            if t == "floatSeries":
                v = types.FloatSeriesAggregations(last=v, min=0.0, max=0.0, average=0.0, variance=0.0)
            elif t == "stringSeries":
                v = types.StringSeriesAggregations(last=v, last_step=None)
            elif t == "stringSet":
                v = set(v)
            vals.append(values.AttributeValue(ids.AttributeDefinition(path, _PY.get(t, t)), v, run))
        rows.append(out.TableRow(values=vals, label=answer.column(label_path)[r].as_py()))
    theirs = out.create_runs_table(rows, type_suffix_in_column_names=suffix, container_type=container)
    pd.testing.assert_frame_equal(ours, theirs)


# fetch_series has neither previews nor type suffixes.
_SERIES_CASES = [
    (kind, time, previews, suffix, experiments)
    for kind in ["float", "string"]
    for time in [None, "absolute"]
    for previews in ([False, True] if kind == "float" else [False])
    for suffix in ([False, True] if kind == "float" else [False])
    for experiments in [".", ["nope"]]
]


@pytest.mark.parametrize("kind,include_time,previews,suffix,experiments", _SERIES_CASES)
def test_series_frames_equal_neptune_querys(engine, kind, include_time, previews, suffix, experiments):
    out, ids, _, _, series, _ = _real()
    pattern = "loss$|accuracy" if kind == "float" else "logs/"
    if kind == "float":
        ours = nq.fetch_metrics(
            project=PROJECT, experiments=experiments, attributes=pattern, include_time=include_time,
            include_point_previews=previews, type_suffix_in_column_names=suffix,
        )
    else:
        ours = nq.fetch_series(project=PROJECT, experiments=experiments, attributes=pattern, include_time=include_time)
    objects = engine.query("" if experiments == "." else '`sys/name`:string = "nope"', table="experiments", columns=["sys/name"])
    labels = dict(zip(objects.column("sys/id").to_pylist(), objects.column("sys/name").to_pylist()))
    paths = sorted({p for _, p, t in engine._inner.columns("experiments") if t == ("floatSeries" if kind == "float" else "stringSeries") and __import__("re").search(pattern, p)})
    data = {}
    if labels:
        # The points with their lineage, as nql.query reads them (test_query.py checks them
        # against the engine's and truth.json): here only the frames are compared.
        opened = nq._core.open_project(PROJECT)
        frame = nq._core._points(opened, list(labels), paths, kind=kind, lineage=True, step_range=(None, None), tail=None)
        for p in frame.to_dict("records"):
            key = ids.RunAttributeDefinition(
                ids.RunIdentifier(ids.ProjectIdentifier(PROJECT), ids.SysId(p["sys/id"])),
                ids.AttributeDefinition(p["path"], "float_series" if kind == "float" else "string_series"),
            )
            ms = int(p["timestamp"].value // 1_000_000)
            point = (ms, p["step"], p["value"], False, 1.0) if kind == "float" else series.SeriesValue(p["step"], p["value"], ms)
            data.setdefault(key, []).append(point)
    timestamp = "absolute_time" if include_time else None
    if kind == "float":
        theirs = out.create_metrics_dataframe(
            data, labels, type_suffix_in_column_names=suffix, include_point_previews=previews,
            index_column_name="experiment", timestamp_column_name=timestamp,
        )
    else:
        theirs = out.create_series_dataframe(data, PROJECT, labels, "experiment", timestamp)
    pd.testing.assert_frame_equal(ours, theirs)
