"""nql.query, the mirror of neptune-query 1.x: every function and argument on the sample Neptune
3.x export v3-llm, the NQL text of filters (as neptune-query's own code renders it), the frames'
shapes (notes/python-api.md 1.2), neptune-query's checks and exceptions, and differential checks
against the engine (`nql.open(...).query` / `.series`) and truth.json."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import pandas as pd
import pytest

import nql
import nql.query as nq
from conftest import NEPTUNE
from nql.query import exceptions as nqe
from nql.query.filters import Attribute, AttributeFilter, Filter
from nql.query.types import File
from nql.query.warnings import AttributeWarning

V3 = NEPTUNE / "v3-llm"
V2 = NEPTUNE / "v2-vision"
PROJECT = "acme/llm"


@pytest.fixture(autouse=True)
def v3_data(monkeypatch):
    monkeypatch.setenv("NQL_DATA", str(V3 / "data"))


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((V3 / "truth.json").read_text())


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> nql.Project:
    return nql.open(V3 / "data", project=PROJECT, index_dir=tmp_path_factory.mktemp("v3-index"))


def attrs(run: dict) -> dict:
    return {a["path"]: a for a in run["attributes"]}


def heads(truth) -> list[dict]:
    return [r for r in truth["runs"] if r["is_head"] and not attrs(r)["sys/trashed"]["value"]]


def live(truth) -> list[dict]:
    return [r for r in truth["runs"] if not attrs(r)["sys/trashed"]["value"]]


# --- filters: the NQL text ------------------------------------------------------------------------


def test_filters_render_neptune_querys_nql():
    assert str(Filter.eq("config/lr", 0.01)) == '`config/lr` == "0.01"'
    assert str(Filter.ne(Attribute("a", type="int"), 3)) == '`a`:int != "3"'
    assert str(Filter.gt("a", 1)) == '`a` > "1"'
    assert str(Filter.ge("a", 1)) == '`a` >= "1"'
    assert str(Filter.lt("a", 1.5)) == '`a` < "1.5"'
    assert str(Filter.le("a", True)) == '`a` <= "True"'
    assert str(Filter.exists(Attribute("m", type="float_series"))) == "`m`:floatSeries EXISTS"
    assert str(Filter.matches("s", "x")) == '((`s` MATCHES "x"))'
    assert str(Filter.matches("s", "x & !y | z")) == '((`s` MATCHES "x") AND (`s` NOT MATCHES "y")) OR ((`s` MATCHES "z"))'
    assert str(Filter.name("^lr")) == '((`sys/name`:string MATCHES "^lr"))'
    assert str(Filter.name(["a", "b"])) == '(`sys/name`:string == "a") OR (`sys/name`:string == "b")'
    assert str(Filter.contains_all("sys/tags", ["a", "b"])) == '(`sys/tags` CONTAINS "a") AND (`sys/tags` CONTAINS "b")'
    assert str(Filter.contains_all("sys/tags", "a")) == '(`sys/tags` CONTAINS "a")'
    assert str(Filter.contains_none("sys/tags", "a")) == '(`sys/tags` NOT CONTAINS "a")'
    assert str(Filter.eq("s", 'say "hi" \\ bye')) == '`s` == "say \\"hi\\" \\\\ bye"'
    both = Filter.eq("a", 1) & (Filter.eq("b", 2) | ~Filter.exists("c"))
    assert str(both) == '(`a` == "1") AND ((`b` == "2") OR (NOT (`c` EXISTS)))'
    when = dt.datetime(2025, 6, 2, 10, 0, tzinfo=dt.timezone.utc)
    assert str(Filter.gt("sys/creation_time", when)) == f'`sys/creation_time` > "{when.astimezone().isoformat()}"'
    assert str(Attribute("x", type="string_set")) == "`x`:stringSet"
    assert str(Attribute("x")) == "`x`"


def test_filter_and_attribute_checks_raise_what_neptune_query_raises():
    with pytest.raises(ValueError, match="Invalid value for `contains_all` filter"):
        Filter.contains_all("sys/tags", [])
    with pytest.raises(ValueError, match="Invalid value for `contains_none` filter"):
        Filter.contains_none("sys/tags", [])
    with pytest.raises(TypeError, match="Invalid value type: list. Expected int, float, str, or datetime."):
        Filter.eq("a", [1])
    with pytest.raises(ValueError, match="type must be one of: "):
        Attribute("a", type="floatSeries")
    with pytest.raises(ValueError, match=r"type must be a list of valid values: .* \(got \['nope'\]\)"):
        AttributeFilter(type="nope")
    with pytest.raises(ValueError, match="name must be a string or list of strings"):
        AttributeFilter(name=3)
    assert AttributeFilter(type="int").type == ["int"]
    assert AttributeFilter().type == list(nq.filters.KNOWN_TYPES)


# --- fetch_experiments_table ----------------------------------------------------------------------


def test_fetch_experiments_table_default_is_the_index_only_sorted_by_creation_time(truth):
    frame = nq.fetch_experiments_table(project=PROJECT)
    want = sorted(heads(truth), key=lambda r: attrs(r)["sys/creation_time"]["value"], reverse=True)
    assert list(frame.index) == [r["experiment"] for r in want]
    assert frame.index.name == "experiment"
    assert list(frame.columns) == [] and frame.columns.name == "attribute"
    asc = nq.fetch_experiments_table(project=PROJECT, sort_direction="asc")
    assert list(asc.index) == list(reversed(frame.index))
    assert list(nq.fetch_experiments_table(project=PROJECT, limit=2).index) == list(frame.index[:2])


def test_fetch_experiments_table_values_types_and_order_against_truth(truth):
    frame = nq.fetch_experiments_table(
        project=PROJECT, attributes=r"^config/ & !warmup | ^metrics/val/loss$ | sys/creation_time | data/sample"
    )
    assert list(frame.columns) == sorted(frame.columns)
    assert not isinstance(frame.columns, pd.MultiIndex)
    assert str(frame["sys/creation_time"].dtype).endswith(", UTC]")
    assert frame["config/batch_size"].dtype == "int64"
    for run in heads(truth):
        a = attrs(run)
        row = frame.loc[run["experiment"]]
        assert row["config/lr"] == a["config/lr"]["value"]
        assert row["config/labels"] == set(a["config/labels"]["value"])
        assert row["config/optimizer"] == a["config/optimizer"]["value"]
        got = row["sys/creation_time"].to_pydatetime()
        assert got.tzinfo is not None and got.isoformat(timespec="milliseconds").replace("+00:00", "Z") == a[
            "sys/creation_time"
        ]["value"]
        # A series gives its last value, over the experiment's lineage.
        loss = (run.get("lineage_aggregates") or {}).get("metrics/val/loss") or a["metrics/val/loss"]
        assert row["metrics/val/loss"] == pytest.approx(loss["last"])
        if "data/sample" in a:
            f = row["data/sample"]
            assert isinstance(f, File) and f.experiment_name == run["experiment"] and f.run_id is None
            assert f.path == a["data/sample"]["file"] and f.attribute_path == "data/sample"
        else:
            assert pd.isna(row["data/sample"])
    # `config/dropout` exists on one head only: NaN on the others.
    assert frame["config/dropout"].isna().sum() == len(frame) - 1


def test_fetch_experiments_table_equals_the_engines_answer(engine):
    query = Filter.gt(Attribute("config/lr", type="float"), 0.002) | Filter.contains_all("sys/tags", "x")
    frame = nq.fetch_experiments_table(project=PROJECT, experiments=query, attributes=["config/lr", "config/seed"])
    answer = engine.query(str(Filter.gt(Attribute("config/lr", type="float"), 0.002) | Filter.contains_all(Attribute("sys/tags", type="string_set"), "x")), table="experiments", columns=["sys/name", "config/lr", "config/seed"])
    assert list(frame.index) == answer.column("sys/name").to_pylist()
    assert list(frame["config/lr"]) == answer.column("config/lr").to_pylist()
    assert list(frame["config/seed"]) == answer.column("config/seed").to_pylist()
    assert len(frame) >= 1


def test_experiments_are_head_runs_selected_by_name(truth):
    assert nq.list_experiments(project=PROJECT) == sorted(r["experiment"] for r in heads(truth))
    assert nq.list_experiments(project=PROJECT, experiments="^lr|dropout$") == ["ablation-dropout", "lr-sweep"]  # a plain regex
    assert nq.list_experiments(project=PROJECT, experiments="^lr | dropout$") == ["ablation-dropout", "lr-sweep"]
    assert nq.list_experiments(project=PROJECT, experiments="sweep & !^lr") == []
    assert nq.list_experiments(project=PROJECT, experiments=["lr-sweep", "nope"]) == ["lr-sweep"]
    assert nq.list_experiments(project=PROJECT, experiments=Filter.eq("config/optimizer", "sgd")) == sorted(
        r["experiment"] for r in heads(truth) if attrs(r)["config/optimizer"]["value"] == "sgd"
    )


def test_type_suffix_and_conflicting_types():
    # config/warmup is an int in two heads and a float in one.
    with pytest.raises(nqe.ConflictingAttributeTypes, match="config/warmup"):
        nq.fetch_experiments_table(project=PROJECT, attributes="warmup")
    frame = nq.fetch_experiments_table(project=PROJECT, attributes="warmup", type_suffix_in_column_names=True)
    assert list(frame.columns) == ["config/warmup:float", "config/warmup:int"]
    assert frame.notna().sum().sum() == len(frame)
    only_int = nq.fetch_experiments_table(project=PROJECT, attributes=AttributeFilter("warmup", type="int"))
    assert list(only_int.columns) == ["config/warmup"]
    series = nq.fetch_experiments_table(
        project=PROJECT, attributes=AttributeFilter("loss$", type=["float_series"]), type_suffix_in_column_names=True
    )
    assert list(series.columns) == ["metrics/train/loss:float_series", "metrics/val/loss:float_series"]


def test_attribute_filter_alternatives_and_exact_names():
    either = AttributeFilter(name=["config/lr"]) | AttributeFilter(name="optimizer$")
    frame = nq.fetch_experiments_table(project=PROJECT, attributes=either)
    assert list(frame.columns) == ["config/lr", "config/optimizer"]
    # An exact name gives every type the path has; sys/state (experimentState) is unsupported.
    with pytest.warns(nqe.NeptuneWarning, match="experimentState"):
        frame = nq.fetch_experiments_table(project=PROJECT, attributes=["sys/state", "sys/id", "nope"])
    assert list(frame.columns) == ["sys/id", "sys/state"]
    assert frame["sys/state"].isna().all()
    # Every attribute: config/warmup has two types, so only with type suffixes.
    with pytest.raises(nqe.ConflictingAttributeTypes):
        nq.fetch_experiments_table(project=PROJECT, attributes=None)
    assert nq.fetch_experiments_table(project=PROJECT, attributes=None, type_suffix_in_column_names=True).shape[1] > 30


def test_sort_by_attributes_and_their_types(truth):
    by_lr = nq.fetch_experiments_table(project=PROJECT, attributes=["config/seed"], sort_by="config/seed", sort_direction="asc")
    assert list(by_lr["config/seed"]) == sorted(by_lr["config/seed"])
    by_loss = nq.fetch_experiments_table(project=PROJECT, attributes=["metrics/val/loss"], sort_by=Attribute("metrics/val/loss", type="float_series"))
    assert list(by_loss["metrics/val/loss"]) == sorted(by_loss["metrics/val/loss"], reverse=True)
    with pytest.warns(AttributeWarning, match="conflicting types"):
        nq.fetch_experiments_table(project=PROJECT, sort_by="config/warmup")
    with pytest.warns(AttributeWarning, match="Attribute 'nope': Attribute doesn't exist in the project"):
        frame = nq.fetch_experiments_table(project=PROJECT, sort_by="nope")
    assert len(frame) == len(heads(truth))
    with pytest.raises(ValueError, match="Invalid type for `sort_by`"):
        nq.fetch_experiments_table(project=PROJECT, sort_by=3)


def test_type_inference_of_filters():
    with pytest.raises(nqe.AttributeTypeInferenceError, match="config/warmup"):
        nq.list_experiments(project=PROJECT, experiments=Filter.eq("config/warmup", 500))
    assert nq.list_experiments(project=PROJECT, experiments=Filter.eq(Attribute("config/warmup", type="int"), 500)) != []
    with pytest.warns(AttributeWarning, match="Attribute 'nope'"):
        assert nq.list_experiments(project=PROJECT, experiments=Filter.eq("nope", "x")) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error", AttributeWarning)
        # Known system attributes and the project's own types need no lookup warnings.
        nq.list_experiments(project=PROJECT, experiments=Filter.gt("config/lr", 0.001) & Filter.eq("sys/owner", "bob"))


def test_bad_arguments_raise_what_neptune_query_raises():
    with pytest.raises(ValueError, match="an empty list"):
        nq.fetch_experiments_table(project=PROJECT, experiments=[])
    with pytest.raises(ValueError, match="Invalid type for `experiments` filter"):
        nq.list_experiments(project=PROJECT, experiments=3)
    with pytest.raises(ValueError, match="Invalid type for `attributes` filter"):
        nq.list_attributes(project=PROJECT, attributes=3)
    with pytest.raises(ValueError, match="limit must be greater than 0"):
        nq.fetch_experiments_table(project=PROJECT, limit=0)
    with pytest.raises(ValueError, match="limit must be None or an integer"):
        nq.fetch_experiments_table(project=PROJECT, limit="3")
    with pytest.raises(ValueError, match="sort_direction 'up' is invalid; must be 'asc' or 'desc'"):
        nq.fetch_experiments_table(project=PROJECT, sort_direction="up")
    with pytest.raises(ValueError, match="include_time must be 'absolute'"):
        nq.fetch_metrics(project=PROJECT, experiments="lr", attributes="loss", include_time="relative")
    with pytest.raises(ValueError, match="step_range must be a tuple of two values"):
        nq.fetch_metrics(project=PROJECT, experiments="lr", attributes="loss", step_range=[1, 2])
    with pytest.raises(ValueError, match="step_range start must be None or a number"):
        nq.fetch_metrics(project=PROJECT, experiments="lr", attributes="loss", step_range=("1", 2))
    with pytest.raises(ValueError, match="step_range start must be less than or equal to end"):
        nq.fetch_metrics(project=PROJECT, experiments="lr", attributes="loss", step_range=(3, 2))
    with pytest.raises(ValueError, match="tail_limit must be greater than 0"):
        nq.fetch_series(project=PROJECT, experiments="lr", attributes="logs", tail_limit=-1)
    with pytest.raises(ValueError, match="Only float_series type is supported for attribute filters in this function"):
        nq.fetch_metrics(project=PROJECT, experiments="lr", attributes=AttributeFilter(type="string"))
    with pytest.raises(ValueError, match="Only string_series, histogram_series or file_series types are supported"):
        nq.fetch_series(project=PROJECT, experiments="lr", attributes=AttributeFilter(type="float_series"))
    with pytest.raises(TypeError, match="missing 2 required keyword-only arguments"):
        nq.fetch_metrics(project=PROJECT)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        nq.list_experiments(PROJECT)  # type: ignore[misc] - keyword-only, as in neptune-query


def test_projects_resolve_as_in_nql_neptune(monkeypatch, tmp_path):
    monkeypatch.delenv("NQL_DATA")
    with pytest.raises(nqe.NeptuneProjectNotProvided):
        nq.list_experiments()
    with pytest.raises(nqe.NeptuneProjectInaccessible, match="NQL_DATA"):
        nq.list_experiments(project="acme/llm")
    # A directory works without NQL_DATA; NEPTUNE_PROJECT is the default.
    project_dir = str(V3 / "data" / json.loads((V3 / "truth.json").read_text())["project_dir"])
    monkeypatch.setenv("NEPTUNE_PROJECT", project_dir)
    assert len(nq.list_experiments()) == 3
    monkeypatch.setenv("NQL_DATA", str(V3 / "data"))
    with pytest.raises(nqe.NeptuneProjectInaccessible, match="acme/nope"):
        nq.list_experiments(project="acme/nope")
    # A project without experiments (a Neptune 2.x export) has none, but runs.
    monkeypatch.setenv("NQL_DATA", str(V2 / "data"))
    assert nq.list_experiments(project="acme/vision") == []
    empty = nq.fetch_experiments_table(project="acme/vision")
    assert empty.shape == (0, 0) and empty.index.name == "experiment" and empty.columns.name == "attribute"
    assert nq.fetch_metrics(project="acme/vision", experiments="x", attributes="loss").shape == (0, 0)
    assert len(nq.runs.list_runs(project="acme/vision")) > 0


def test_an_invalid_query_raises_with_the_diagnostics():
    # MATCHES on an int: valid Filter, invalid NQL for the engine.
    with pytest.raises(nqe.NeptuneInvalidQuery) as e:
        nq.list_experiments(project=PROJECT, experiments=Filter.matches(Attribute("config/seed", type="int"), "1"))
    assert "config/seed" in str(e.value) and e.value.diagnostics
    assert isinstance(e.value, ValueError) and isinstance(e.value, nqe.NeptuneError)


def test_set_api_token_and_download_files():
    nq.set_api_token("anything")
    with pytest.raises(nqe.NeptuneUserError, match="files directory"):
        nq.download_files(files=[])
    with pytest.raises(nqe.NeptuneUserError, match="files directory"):
        nq.runs.download_files(files=[])


# --- list_attributes ------------------------------------------------------------------------------


def test_list_attributes_are_the_selected_objects_attributes(truth):
    everything = nq.list_attributes(project=PROJECT)
    want = sorted({p for r in heads(truth) for p, a in attrs(r).items() if a["type"] != "experimentState"})
    assert everything == want
    assert nq.list_attributes(project=PROJECT, attributes="^config/d") == ["config/dropout"]
    # config/dropout: only baseline-resnet's head has it.
    assert nq.list_attributes(project=PROJECT, experiments=["lr-sweep"], attributes="^config/d") == []
    assert nq.list_attributes(project=PROJECT, attributes=AttributeFilter(type=["histogram_series", "file_series"])) == [
        "debug/grad_hist",
        "predictions/samples",
    ]
    runs_attrs = nq.runs.list_attributes(project=PROJECT, runs=["sweep-001"])
    assert runs_attrs == sorted(attrs(next(r for r in truth["runs"] if r["run_id"] == "sweep-001")))


# --- fetch_metrics / fetch_series -----------------------------------------------------------------


def test_fetch_metrics_frame_shape(truth):
    frame = nq.fetch_metrics(project=PROJECT, experiments=".", attributes="loss$")
    assert list(frame.index.names) == ["experiment", "step"]
    assert frame.index.get_level_values("step").dtype == "float64"
    assert frame.index.is_monotonic_increasing
    assert list(frame.columns) == ["metrics/train/loss", "metrics/val/loss"] and frame.columns.name is None
    assert (frame.dtypes == "float64").all()
    for run in heads(truth):
        a = attrs(run)
        lineage = run.get("lineage_aggregates") or {}
        for path in ["metrics/train/loss", "metrics/val/loss"]:
            want = lineage.get(path) or a[path]
            got = frame.loc[run["experiment"]][path].dropna()
            assert len(got) == want["count"]
            assert got.index[0] == want["first_step"] and got.index[-1] == want["last_step"]
            assert got.iloc[-1] == pytest.approx(want["last"])
            assert got.min() == pytest.approx(want["min"]) and got.max() == pytest.approx(want["max"])
    suffixed = nq.fetch_metrics(project=PROJECT, experiments=".", attributes="loss$", type_suffix_in_column_names=True)
    assert list(suffixed.columns) == ["metrics/train/loss:float_series", "metrics/val/loss:float_series"]


def test_fetch_metrics_equals_the_engines_series(engine):
    frame = nq.fetch_metrics(project=PROJECT, experiments=".", attributes=["metrics/val/accuracy"])
    ids = engine.query("", table="experiments", columns=["sys/name"])
    names = dict(zip(ids.column("sys/id").to_pylist(), ids.column("sys/name").to_pylist()))
    points = engine.series(list(names), ["metrics/val/accuracy"], table="experiments").to_pandas()
    want = {(names[i], s): v for i, s, v in zip(points["sys/id"], points["step"], points["value"])}
    got = frame["metrics/val/accuracy"].dropna().to_dict()
    assert got == pytest.approx(want) and len(got) == len(want) > 0


def test_fetch_metrics_time_previews_range_tail_and_lineage(truth):
    timed = nq.fetch_metrics(project=PROJECT, experiments=["lr-sweep"], attributes="val/loss", include_time="absolute")
    assert list(timed.columns) == [("metrics/val/loss", "value"), ("metrics/val/loss", "absolute_time")]
    assert str(timed[("metrics/val/loss", "absolute_time")].dtype).endswith(", UTC]")
    previews = nq.fetch_metrics(
        project=PROJECT, experiments=["lr-sweep"], attributes="val/loss", include_time="absolute", include_point_previews=True
    )
    assert [c[1] for c in previews.columns] == ["value", "absolute_time", "is_preview", "preview_completion"]
    assert not previews[("metrics/val/loss", "is_preview")].any()
    ranged = nq.fetch_metrics(project=PROJECT, experiments=".", attributes="val/loss", step_range=(10, 40))
    steps = ranged.index.get_level_values("step")
    assert steps.min() >= 10 and steps.max() <= 40
    open_end = nq.fetch_metrics(project=PROJECT, experiments=".", attributes="val/loss", step_range=(50, None))
    assert open_end.index.get_level_values("step").min() >= 50
    tail = nq.fetch_metrics(project=PROJECT, experiments=".", attributes="val/loss", tail_limit=2)
    assert tail.groupby(level="experiment").size().tolist() == [2, 2, 2]
    full = nq.fetch_metrics(project=PROJECT, experiments=".", attributes="val/loss")
    for exp in tail.index.get_level_values("experiment").unique():
        assert list(tail.loc[exp].index) == list(full.loc[exp].index[-2:])
    # baseline-resnet's head is a fork: its own points only without the lineage.
    own = nq.fetch_metrics(project=PROJECT, experiments=["baseline-resnet"], attributes="val/loss", lineage_to_the_root=False)
    head = next(r for r in heads(truth) if r["experiment"] == "baseline-resnet")
    assert len(own) == attrs(head)["metrics/val/loss"]["count"] < head["lineage_aggregates"]["metrics/val/loss"]["count"]


def test_runs_fetch_metrics_follows_every_forks_lineage(truth):
    forks = [r for r in live(truth) if r.get("lineage_aggregates")]
    assert len(forks) >= 5
    frame = nq.runs.fetch_metrics(project=PROJECT, runs=[r["run_id"] for r in forks], attributes="^metrics/val/loss$")
    assert list(frame.index.names) == ["run", "step"]
    for run in forks:
        want = run["lineage_aggregates"]["metrics/val/loss"]
        got = frame.loc[run["run_id"]]["metrics/val/loss"].dropna()
        assert (len(got), got.index[0], got.index[-1]) == (want["count"], want["first_step"], want["last_step"])
        assert got.mean() == pytest.approx(want["average"]) and got.iloc[-1] == pytest.approx(want["last"])
    own = nq.runs.fetch_metrics(
        project=PROJECT, runs=[r["run_id"] for r in forks], attributes="^metrics/val/loss$", lineage_to_the_root=False
    )
    for run in forks:
        assert len(own.loc[run["run_id"]]) == attrs(run)["metrics/val/loss"]["count"]


def test_fetch_series_gives_string_series(truth):
    frame = nq.fetch_series(project=PROJECT, experiments=".", attributes="logs/")
    assert list(frame.index.names) == ["experiment", "step"] and list(frame.columns) == ["logs/messages"]
    assert frame["logs/messages"].dtype != "float64"  # pandas' string dtype, as neptune-query's pivot gives
    for run in heads(truth):
        want = attrs(run)["logs/messages"]
        got = frame.loc[run["experiment"]]["logs/messages"].dropna()
        assert got.iloc[-1] == want["last"] and got.index[-1] == want["last_step"]
    timed = nq.fetch_series(project=PROJECT, experiments=["lr-sweep"], attributes="logs/", include_time="absolute", tail_limit=1)
    assert list(timed.columns) == [("logs/messages", "value"), ("logs/messages", "absolute_time")] and len(timed) == 1
    none = nq.fetch_series(project=PROJECT, experiments=["nope"], attributes="logs/")
    assert none.shape == (0, 0) and list(none.index.names) == ["experiment", "step"]


# --- nql.query.runs -------------------------------------------------------------------------------


def test_runs_table_and_list_runs(truth, engine):
    everyone = sorted(r["run_id"] for r in live(truth))
    assert nq.runs.list_runs(project=PROJECT) == everyone
    assert nq.runs.list_runs(project=PROJECT, runs="^sweep-00") == [r for r in everyone if r.startswith("sweep-00")]
    assert nq.runs.list_runs(project=PROJECT, runs=["ft-008", "nope"]) == ["ft-008"]
    with pytest.raises(ValueError, match="Invalid type for `runs` filter"):
        nq.runs.list_runs(project=PROJECT, runs=[])
    with pytest.raises(ValueError, match="Invalid type for `runs` filter"):
        nq.runs.list_runs(project=PROJECT, runs=1)
    table = nq.runs.fetch_runs_table(project=PROJECT, runs=Filter.eq("config/optimizer", "sgd"), attributes=["config/lr", "sys/name"])
    assert table.index.name == "run" and list(table.columns) == ["config/lr", "sys/name"]
    answer = engine.query('`config/optimizer`:string = "sgd"', columns=["sys/custom_run_id", "config/lr"])
    assert list(table.index) == answer.column("sys/custom_run_id").to_pylist()
    assert list(table["config/lr"]) == answer.column("config/lr").to_pylist()
    files = nq.runs.fetch_runs_table(project=PROJECT, attributes=["data/sample"], runs=["sweep-001"])
    assert files.empty or isinstance(files.iloc[0, 0], File)


def test_compat_makes_neptune_query_imports_work():
    import sys

    import nql.compat

    nql.compat.install()
    try:
        import neptune_query as real_name
        from neptune_query.filters import Filter as F
        from neptune_query.runs import fetch_runs_table

        assert real_name.fetch_experiments_table is nq.fetch_experiments_table
        assert F is Filter and fetch_runs_table is nq.runs.fetch_runs_table
        assert sys.modules["neptune_query.types"] is nq.types
    finally:
        nql.compat.uninstall()
    assert sys.modules.get("neptune_query") is not nq
