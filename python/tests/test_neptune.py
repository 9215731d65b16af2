"""nql.neptune, the Neptune 1.x read API: every function and argument, Neptune's checks and
messages, the DataFrame shapes of docs/python.md (from the notes on the real client), and
answers equal to the engine's for the shared conformance cases."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import pandas as pd
import pyarrow as pa
import pytest

import nql
import nql.neptune as neptune
from conftest import CONFORMANCE, NEPTUNE
from nql.neptune import exceptions as nx

DATA = str(CONFORMANCE / "data")
V2 = NEPTUNE / "v2-vision"
V2_DATA = str(V2 / "data")
NOW = "2026-06-01T00:00:00Z"


@pytest.fixture
def project():
    return neptune.init_project(project=DATA, mode="read-only")


@pytest.fixture
def v2():
    return neptune.init_project(project=V2_DATA, mode="read-only")


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch):
    monkeypatch.setattr(neptune, "_NOW", NOW)


def ids(table: neptune.Table) -> list[str]:
    return [e["sys/id"].get() for e in table]


def native_ids(conformance, query, trashed="exclude", table="runs", **kw) -> list[str]:
    return conformance.query(query, table=table, trashed=trashed, columns=[], now=NOW, **kw).column("sys/id").to_pylist()


# --- init_project ------------------------------------------------------------------------------


def test_init_project_opens_a_directory_an_id_under_nql_data_or_neptune_project(monkeypatch):
    assert neptune.init_project is neptune.Project
    a = neptune.init_project(project=V2_DATA)
    assert len(a.fetch_runs_table().to_pandas()) == 33
    # A workspace/project id, looked up in the export NQL_DATA names.
    monkeypatch.setenv("NQL_DATA", V2_DATA)
    b = neptune.init_project(project="acme/vision", mode="read-only")
    assert ids(b.fetch_runs_table()) == ids(a.fetch_runs_table())
    assert b._project is neptune.init_project(project="acme/vision")._project, "opened once per process"
    # NEPTUNE_PROJECT when project is None.
    monkeypatch.setenv("NEPTUNE_PROJECT", "acme/vision")
    assert ids(neptune.init_project().fetch_runs_table(limit=3)) == ids(a.fetch_runs_table(limit=3))
    with pytest.raises(nx.ProjectNotFound, match="No existing Project was found at acme/nothing"):
        neptune.init_project(project="acme/nothing")
    monkeypatch.delenv("NQL_DATA")
    with pytest.raises(nx.ProjectNotFound, match="NQL_DATA"):
        neptune.init_project(project="acme/vision")
    monkeypatch.delenv("NEPTUNE_PROJECT")
    with pytest.raises(nx.NeptuneMissingProjectNameException, match="couldn't find your project name"):
        neptune.init_project()


def test_init_project_modes_and_arguments(monkeypatch):
    with pytest.raises(nx.NeptuneException, match="^Project can't be initialized in OFFLINE mode$"):
        neptune.init_project(project=DATA, mode="offline")
    monkeypatch.setenv("NEPTUNE_MODE", "offline")
    with pytest.raises(nx.NeptuneException, match="OFFLINE"):
        neptune.init_project(project=DATA)
    monkeypatch.delenv("NEPTUNE_MODE")
    with pytest.raises(ValueError, match="'nope' is not a valid Mode"):
        neptune.init_project(project=DATA, mode="nope")
    with pytest.raises(TypeError, match=r"^mode must be a str or NoneType \(was <class 'int'>\)$"):
        neptune.init_project(project=DATA, mode=1)
    # Connection arguments are taken and have no effect; the object is a context manager.
    with neptune.init_project(project=DATA, api_token=neptune.ANONYMOUS_API_TOKEN, flush_period=1, proxies={}) as p:
        assert len(p.fetch_runs_table(limit=1).to_rows()) == 1
    assert neptune.ANONYMOUS_API_TOKEN == "ANONYMOUS"


# --- fetch_runs_table: checks ------------------------------------------------------------------


def test_fetch_runs_table_checks_arguments_as_neptune_does(project):
    f = project.fetch_runs_table
    exclusive = "You can't use the 'query' parameter together with the 'id', 'state', 'owner', or 'tag' parameters."
    for kw in [{"id": "NQ-1"}, {"state": "active"}, {"owner": "bob"}, {"tag": ["x"]}, {"id": 5}]:
        with pytest.raises(ValueError) as e:
            f(query="", **kw)
        assert str(e.value) == exclusive
    f(query="", id=[], tag="")  # empty filters do not count
    cases = [
        ({"id": 5}, TypeError, "id must be a NoneType or str or Iterable (was <class 'int'>)"),
        ({"owner": ("a", 1)}, TypeError, "elements of collection 'owner' must be a str (was <class 'int'>)"),
        ({"tag": (t for t in ["a"])}, TypeError, "tag must be a list or set or tuple (was <class 'generator'>)"),
        ({"query": 5}, TypeError, "query must be a str or NoneType (was <class 'int'>)"),
        ({"trashed": "yes"}, TypeError, "trashed must be a bool or NoneType (was <class 'str'>)"),
        ({"limit": "3"}, TypeError, "limit must be a int or NoneType (was <class 'str'>)"),
        ({"sort_by": None}, TypeError, "sort_by must be a str (was <class 'NoneType'>)"),
        ({"ascending": 1}, TypeError, "ascending must be a bool (was <class 'int'>)"),
        ({"progress_bar": 1}, TypeError, "progress_bar must be a NoneType or bool or ABCMeta (was <class 'int'>)"),
        ({"limit": 0}, ValueError, "Parameter 'limit' must be a positive integer or None. Got 0."),
        ({"limit": -2}, ValueError, "Parameter 'limit' must be a positive integer or None. Got -2."),
        ({"state": "running"}, ValueError, "state must be one of ('inactive', 'active') (was `running`)"),
        ({"state": ["active", "Idle"]}, ValueError, "state must be one of ('inactive', 'active') (was `idle`)"),
        ({"sort_by": "no/such"}, ValueError, "Column 'no/such' chosen for sorting is not present in the table"),
    ]
    for kw, error, message in cases:
        with pytest.raises(error) as e:
            f(**kw)
        assert str(e.value) == message, kw

    class Bar(neptune.typing.ProgressBarCallback):
        def update(self, *, by, total=None):
            pass

    for bar in [None, True, False, Bar]:
        assert len(f(progress_bar=bar, limit=2).to_rows()) == 2


def test_an_invalid_query_raises_neptunes_exception_naming_what_neptune_sent(project):
    with pytest.raises(nx.NeptuneInvalidQueryException) as e:
        project.fetch_runs_table(query="`params/lr`:float CONTAINS 1")
    message = str(e.value)
    assert message.startswith(
        "\nThe provided NQL query is invalid: (`params/lr`:float CONTAINS 1 AND (`sys/trashed`:bool = false)).\n"
        "For syntax help, see https://docs-legacy.neptune.ai/usage/nql/\n"
    )
    assert "CONTAINS" in e.value.diagnostics and e.value.query == "`params/lr`:float CONTAINS 1"
    assert isinstance(e.value, nx.NeptuneException)
    with pytest.raises(nx.NeptuneInvalidQueryException, match="is invalid: \\(\\(\\(` AND"):
        project.fetch_runs_table(query="((`")
    with pytest.raises(nx.NeptuneInvalidQueryException, match=r"invalid: \(\(\(\( AND \(`sys/trashed`.*\) AND \(`sys/model_id`"):
        neptune.init_model(with_id="MDL-1", project=DATA).fetch_model_versions_table(query="((")


# --- fetch_runs_table: what it returns ----------------------------------------------------------


def test_trashed_true_false_none(project, conformance):
    assert sorted(ids(project.fetch_runs_table())) == sorted(native_ids(conformance, "", "exclude"))
    assert sorted(ids(project.fetch_runs_table(trashed=False))) == sorted(native_ids(conformance, "", "exclude"))
    assert sorted(ids(project.fetch_runs_table(trashed=True))) == sorted(native_ids(conformance, "", "only"))
    assert sorted(ids(project.fetch_runs_table(trashed=None))) == sorted(native_ids(conformance, "", "all"))
    assert 0 < len(native_ids(conformance, "", "only")) < len(native_ids(conformance, "", "all"))


def test_the_trash_clause_applies_to_the_whole_query_not_its_last_term(project, conformance):
    # Neptune sends `(A OR B AND trashed = false)`, which is `A OR (B AND not trashed)`: a
    # trashed run matching A comes back. nql.neptune answers what the user meant.
    a, b = '`sys/owner`:string = "alice"', '`sys/owner`:string = "bob"'
    trashed_alice = set(native_ids(conformance, a, "only"))
    assert trashed_alice, "the data must tell the two readings apart"
    got = set(ids(project.fetch_runs_table(query=f"{a} OR {b}")))
    assert got == set(native_ids(conformance, f"{a} OR {b}", "exclude"))
    literal = set(native_ids(conformance, f"{a} OR {b} AND (`sys/trashed`:bool = false)", "all"))
    assert literal != got and trashed_alice <= literal - got
    # trashed=None adds no clause at all.
    assert set(ids(project.fetch_runs_table(query=f"{a} OR {b}", trashed=None))) == set(
        native_ids(conformance, f"{a} OR {b}", "all")
    )


def test_id_state_owner_and_tag_filters(project, conformance):
    every = native_ids(conformance, "")
    some = every[:3]
    assert sorted(ids(project.fetch_runs_table(id=some))) == sorted(some)
    assert ids(project.fetch_runs_table(id=some[0])) == [some[0]]
    for state in ["active", "inactive", "Active"]:
        want = native_ids(conformance, f'`sys/state`:experimentState = "{state.lower()}"')
        assert sorted(ids(project.fetch_runs_table(state=state))) == sorted(want) and want
    assert sorted(ids(project.fetch_runs_table(state=["active", "inactive"]))) == sorted(
        native_ids(conformance, "`sys/state`:experimentState EXISTS")
    )
    owners = native_ids(conformance, '`sys/owner`:string = "bob" OR `sys/owner`:string = "vidar"')
    assert sorted(ids(project.fetch_runs_table(owner=["bob", "vidar"]))) == sorted(owners) and owners
    # Tags: every one of them (AND), values with quotes and backslashes kept as they are.
    both = native_ids(conformance, '`sys/tags`:stringSet CONTAINS "best" AND `sys/tags`:stringSet CONTAINS "v2.1"')
    assert sorted(ids(project.fetch_runs_table(tag=["best", "v2.1"]))) == sorted(both) and both
    odd = 'tag with "quotes" and \\ backslash'
    with_odd = native_ids(conformance, '`sys/tags`:stringSet CONTAINS "tag with \\"quotes\\" and \\\\ backslash"', "all")
    assert "NQ-324" in with_odd
    assert sorted(ids(project.fetch_runs_table(tag=odd, trashed=None))) == sorted(with_odd)
    # Combined: AND of the groups, and the trash.
    combined = project.fetch_runs_table(owner="alice", tag="best", state="inactive", trashed=None)
    want = native_ids(
        conformance,
        '`sys/owner`:string = "alice" AND `sys/tags`:stringSet CONTAINS "best" AND `sys/state`:experimentState = inactive',
        "all",
    )
    assert sorted(ids(combined)) == sorted(want) and want


def test_columns_sort_and_limit(project, conformance):
    frame = project.fetch_runs_table(columns=["params/optimizer", "no/such/path"]).to_pandas()
    # sys/id and the sort column are always there; paths the project lacks are left out.
    assert list(frame.columns) == ["sys/creation_time", "sys/id", "params/optimizer"]
    only = project.fetch_runs_table(columns=[]).to_pandas()
    assert list(only.columns) == ["sys/creation_time", "sys/id"]
    frame = project.fetch_runs_table(columns=["f1"], sort_by="f1", ascending=True, limit=5).to_pandas()
    assert list(frame.columns) == ["sys/id", "f1"]
    assert list(frame["sys/id"]) == conformance.query(
        "", sort_by="f1", ascending=True, limit=5, columns=[], now=NOW
    ).column("sys/id").to_pylist()
    assert list(frame["f1"]) == sorted(frame["f1"])
    # The default: newest first.
    created = project.fetch_runs_table(columns=[]).to_pandas()["sys/creation_time"]
    assert list(created) == sorted(created, reverse=True)
    assert list(project.fetch_runs_table(sort_by="sys/id", ascending=True, columns=[]).to_pandas()["sys/id"]) == sorted(
        native_ids(conformance, "")
    )
    # A series sorts by its last value.
    s = project.fetch_runs_table(columns=["metrics/acc"], sort_by="metrics/acc", limit=8).to_pandas()["sys/id"]
    assert list(s) == conformance.query("", sort_by="metrics/acc", limit=8, columns=[], now=NOW).column("sys/id").to_pylist()


def test_sorting_by_a_path_of_several_types(project):
    # int and float: one numeric order.
    frame = project.fetch_runs_table(columns=[], sort_by="params/epochs", ascending=True).to_pandas()
    values = [v for v in frame["params/epochs"] if v == v]
    assert values == sorted(values) and len(values) > 10
    assert frame["params/epochs"].isna().sum() == 0 or frame["params/epochs"].iloc[-1] != frame["params/epochs"].iloc[-1]
    top = project.fetch_runs_table(columns=[], sort_by="params/epochs", limit=3).to_pandas()
    assert list(top["params/epochs"]) == sorted(values, reverse=True)[:3]
    # Another mix: sorted as strings, with Neptune's warning.
    with pytest.warns(nx.NeptuneWarning, match="params/lr contains more than one simple data type"):
        frame = project.fetch_runs_table(columns=[], sort_by="params/lr", ascending=True).to_pandas()
    # (as Arrow writes a float: the engine's strings)
    text = [v if isinstance(v, str) else pa.scalar(v).cast(pa.string()).as_py() for v in frame["params/lr"] if v == v]
    assert text == sorted(text)
    # A series among the types: refused.
    with pytest.raises(ValueError) as e:
        project.fetch_runs_table(sort_by="accuracy")
    assert str(e.value) == (
        "Column accuracy used for sorting is a complex type. For more, "
        "see https://docs-legacy.neptune.ai/api/field_types/#simple-types"
    )


# --- to_pandas and TableEntry: Neptune's shapes -------------------------------------------------


def test_to_pandas_follows_neptunes_rules(v2):
    truth = json.loads((V2 / "truth.json").read_text())
    frame = v2.fetch_runs_table(trashed=None).to_pandas()
    assert list(frame.index) == list(range(len(frame))) and frame.index.dtype == "int64"
    columns = list(frame.columns)
    groups = [0 if c.startswith("sys/") else 2 if c.startswith("monitoring/") else 1 for c in columns]
    assert groups == sorted(groups) and columns[0].startswith("sys/") and columns[-1].startswith("monitoring/")
    for g in (0, 1, 2):
        mine = [c for c, k in zip(columns, groups) if k == g]
        assert mine == sorted(mine)
    assert not any(":" in c for c in columns), "no type suffix"
    assert "model/summary" not in columns and "predictions/samples" not in columns, "files are left out"
    assert frame["sys/creation_time"].dtype.kind == "M" and frame["sys/creation_time"].dt.tz is None
    rows = frame.set_index("sys/id")
    checked = 0
    for run in truth["runs"]:
        row = rows.loc[run["sys_id"]]
        for a in run["attributes"]:
            if a.get("in_export") is not None or a["path"] not in rows.columns:
                continue
            got, t = row[a["path"]], a["type"]
            if t == "datetime":
                want = dt.datetime.strptime(a["value"], "%Y-%m-%dT%H:%M:%S.%fZ")
                assert got == pd.Timestamp(want), (run["sys_id"], a)
            elif t == "stringSet":
                assert got == ",".join(sorted(a["value"])), (run["sys_id"], a)
            elif t in ("floatSeries", "stringSeries"):
                assert got == pytest.approx(a["last"]) if t == "floatSeries" else got == a["last"]
            elif t == "float" and isinstance(a["value"], str):
                special = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[a["value"]]
                assert (pd.isna(got) and special != special) or got == special, (run["sys_id"], a, got)
            elif t in ("string", "int", "float", "bool", "artifact"):
                assert got == a["value"], (run["sys_id"], a)
            else:
                continue
            checked += 1
    assert checked > 1000
    # RunState as Neptune names it.
    assert set(frame["sys/state"]) == {"Inactive"}


def test_missing_values_absent_columns_and_the_empty_result(project, conformance):
    frame = project.fetch_runs_table(columns=["params/momentum", "flag"], trashed=None).to_pandas()
    assert frame["params/momentum"].isna().any() and frame["params/momentum"].notna().any()
    # An attribute that no matching row has gives no column.
    lacking = native_ids(conformance, "NOT `params/momentum`:float EXISTS")[0]
    none = project.fetch_runs_table(id=lacking, columns=["params/momentum"]).to_pandas()
    assert "params/momentum" not in none.columns
    empty = project.fetch_runs_table(query='`sys/name`:string = "no such run"').to_pandas()
    assert empty.shape == (0, 0) and list(empty.columns) == []
    # One path of two types is one column, holding each row's value.
    mixed = project.fetch_runs_table(columns=["params/lr"], trashed=None).to_pandas()
    assert "params/lr" in mixed.columns and not any(c.startswith("params/lr:") for c in mixed.columns)
    kinds = {type(v) for v in mixed["params/lr"].dropna()}
    assert kinds == {float, str}


def test_table_entries_and_iteration(project, v2):
    table = project.fetch_runs_table(columns=["sys/tags", "params/optimizer", "model/weights"], limit=20, trashed=None)
    rows = table.to_rows()
    assert len(rows) == 20 and all(isinstance(r, neptune.TableEntry) for r in rows)
    assert [r["sys/id"].get() for r in rows] == [r["sys"]["id"].get() for r in table]
    assert ids(table) == [r["sys/id"].get() for r in rows], "a table can be read again"
    assert next(table)["sys/id"].get() == rows[0]["sys/id"].get()
    tagged = next(r for r in rows if r["sys/tags"].get())
    assert isinstance(tagged["sys/tags"].get(), set)
    assert tagged.get_attribute_type("sys/tags") == neptune.table.AttributeType.STRING_SET
    with pytest.raises(ValueError, match="^Could not find no/such attribute$"):
        rows[0]["no/such"].get()
    entry = v2.fetch_runs_table(id="VIS-1", columns=["model/summary", "predictions/samples", "datasets/train"]).to_rows()[0]
    with pytest.raises(nx.MetadataInconsistency, match=r"^Cannot get value for file attribute. Use download\(\) instead.$"):
        entry["model/summary"].get()
    with pytest.raises(nx.MetadataInconsistency, match="^Cannot get value for image series.$"):
        entry["predictions/samples"].get()
    assert entry.get_attribute_type("predictions/samples") == neptune.table.AttributeType.IMAGE_SERIES
    assert len(entry["datasets/train"].get()) == 64, "an artifact is its hash"
    assert isinstance(table.to_arrow(), pa.Table)


# --- models and model versions ------------------------------------------------------------------


def test_fetch_models_table(project, conformance, v2):
    for trashed, mode in [(False, "exclude"), (True, "only"), (None, "all")]:
        got = ids(project.fetch_models_table(trashed=trashed))
        assert sorted(got) == sorted(native_ids(conformance, "", mode, table="models")) and (got or mode == "only")
    q = '`info/framework`:string = "jax"'
    assert sorted(ids(project.fetch_models_table(query=q))) == sorted(native_ids(conformance, q, table="models"))
    with pytest.raises(ValueError, match="Parameter 'limit' must be a positive integer or None. Got 0."):
        project.fetch_models_table(limit=0)
    with pytest.raises(TypeError, match="query must be a str or NoneType"):
        project.fetch_models_table(query=1)
    with pytest.raises(nx.NeptuneInvalidQueryException, match='`sys/trashed`:bool = "yes"'):
        project.fetch_models_table(trashed="yes")
    # An export without models: an empty table, as Neptune's server gives.
    assert v2.fetch_models_table().to_pandas().shape == (0, 0)


def test_model_versions_of_a_model(project, conformance):
    models = native_ids(conformance, "", "all", table="models")
    seen = 0
    for m in models:
        model = neptune.init_model(with_id=m, project=DATA, mode="read-only")
        got = ids(model.fetch_model_versions_table())
        want = native_ids(conformance, "", "exclude", table="model_versions", model=m)
        assert sorted(got) == sorted(want), m
        seen += len(got)
        frame = model.fetch_model_versions_table(columns=["sys/model_id"]).to_pandas()
        assert set(frame.get("sys/model_id", pd.Series(dtype=object))) <= {m}
    assert seen > 0
    with pytest.raises(nx.ModelNotFound, match=f"^No existing Model was found at {DATA}/NOPE.$"):
        neptune.init_model(with_id="NOPE", project=DATA)
    with pytest.raises(nx.NeptuneMissingRequiredInitParameter, match="missing key"):
        neptune.init_model(project=DATA)
    with pytest.raises(nx.NeedExistingModelForReadOnlyMode):
        neptune.init_model(key="NEW", project=DATA, mode="read-only")
    with pytest.raises(nx.NeptuneException, match="^Model can't be initialized in OFFLINE mode$"):
        neptune.init_model(with_id=models[0], project=DATA, mode="offline")
    with pytest.raises(TypeError, match=r"with_id must be a str or NoneType \(was <class 'int'>\)"):
        neptune.init_model(with_id=3, project=DATA)


# --- init_run and fields ------------------------------------------------------------------------


def test_init_run_arguments():
    with pytest.raises(nx.NeedExistingRunForReadOnlyMode, match="Read-only mode can be used only with an existing run"):
        neptune.init_run(project=DATA, mode="read-only")
    with pytest.raises(nx.NeptuneRunResumeAndCustomIdCollision):
        neptune.init_run(with_id="NQ-1", custom_run_id="x", project=DATA)
    with pytest.raises(nx.RunNotFound, match=f"^No existing Run was found at {DATA}/NQ-99999.$"):
        neptune.init_run(with_id="NQ-99999", project=DATA, mode="read-only")
    with pytest.raises(TypeError, match="^Run\\(\\) got an unexpected keyword argument 'colour'$"):
        neptune.init_run(with_id="NQ-1", project=DATA, colour="red")
    with pytest.raises(TypeError, match=r"^with_id must be a str or NoneType \(was <class 'int'>\)$"):
        neptune.init_run(with_id=1, project=DATA)
    with pytest.raises(nx.NeptuneReadOnlyException):
        neptune.init_run(project=DATA)  # a new run cannot be created
    assert neptune.init_run is neptune.Run


def test_fetch_values_is_neptunes_frame(conformance):
    run = neptune.init_run(with_id="NQ-100", project=DATA, mode="read-only")
    values = run["metrics/acc"].fetch_values()
    points = conformance.series(["NQ-100"], ["metrics/acc"])
    # The frame Neptune builds: a dict of row dicts, from_dict(orient="index"); local time.
    rows = {
        n: {
            "step": s,
            "value": v,
            "timestamp": dt.datetime.fromtimestamp(t.replace(tzinfo=dt.timezone.utc).timestamp()),
        }
        for n, (s, v, t) in enumerate(
            zip(*(points.column(c).to_pylist() for c in ["step", "value", "timestamp"]))
        )
    }
    pd.testing.assert_frame_equal(values, pd.DataFrame.from_dict(data=rows, orient="index"), check_exact=True)
    assert list(values.columns) == ["step", "value", "timestamp"] and len(values) == 15
    assert list(run["metrics/acc"].fetch_values(include_timestamp=False).columns) == ["step", "value"]
    assert run["metrics/acc"].fetch_last() == values["value"].iloc[-1]
    logs = neptune.init_run(with_id="NQ-41", project=DATA)["logs/stdout"]
    frame = logs.fetch_values(progress_bar=False)
    assert list(frame["step"]) == sorted(frame["step"]) and frame["value"].iloc[-1] == logs.fetch_last()


def test_fetch_of_fields_and_namespaces():
    run = neptune.init_run(with_id="NQ-312", project=DATA, mode="read-only")
    assert run["params/lr"].fetch() == 0.003
    assert run["params/epochs"].fetch() == 15 and isinstance(run["params/epochs"].fetch(), int)
    assert run["sys/owner"].fetch() == "sigurd"
    assert run["sys/tags"].fetch() == {"Exploration", "best", "v2.1", "ü-tag"}
    created = run["sys/creation_time"].fetch()
    assert created.tzinfo is not None and created.utcoffset() == dt.timedelta(0)
    assert run["sys"]["owner"].fetch() == "sigurd"
    params = run["params"].fetch()
    assert params["lr"] == 0.003 and params["epochs"] == 15
    whole = run.fetch()
    assert whole["params"] == params and whole["sys"]["state"] == "running"
    assert "tags" not in whole["sys"], "a namespace's fetch gives atoms only"
    assert run.exists("params/lr") and run.exists("params") and not run.exists("params/nope")
    assert run["dataset_version"].fetch_hash() == run["dataset_version"].fetch().hash
    with pytest.raises(nx.MissingFieldException, match='The field "params/nope" was not found') as e:
        run["params/nope"].fetch()
    assert isinstance(e.value, KeyError) and isinstance(e.value, AttributeError)
    with pytest.raises(nx.TypeDoesNotSupportAttributeException, match="has no attribute fetch_values"):
        run["params/lr"].fetch_values()
    with pytest.raises(nx.TypeDoesNotSupportAttributeException, match="RunState'> has no attribute fetch"):
        run["sys/state"].fetch()
    with pytest.raises(AttributeError, match="object-level method"):
        run["params"].stop()
    assert isinstance(run.get_structure()["params"]["lr"], neptune.Float)


def test_writes_are_refused(recwarn):
    run = neptune.init_run(with_id="NQ-1", project=DATA, mode="read-only")
    with pytest.warns(nx.NeptuneWarning, match="^Client in read-only mode, nothing will be saved to server.$"):
        run["params/lr"] = 0.5
    with pytest.warns(nx.NeptuneWarning):
        run["metrics/acc"].append(0.1)
    assert run["params/lr"].fetch() != 0.5
    writable = neptune.init_run(with_id="NQ-1", project=DATA)
    with pytest.raises(nx.NeptuneReadOnlyException):
        writable["params/lr"] = 0.5
    with neptune.init_run(with_id="NQ-1", project=DATA, mode="read-only") as r:
        assert r["sys/id"].fetch() == "NQ-1"


# --- differential: the conformance cases through nql.neptune ------------------------------------


def test_every_conformance_case_answers_as_the_engine(cases):
    project = neptune.init_project(project=DATA, mode="read-only")
    trash = {"exclude": False, "only": True, "all": None}
    models = [m for m in neptune.init_project(project=DATA)._project.query("", table="models", trashed="all").column("sys/id").to_pylist()]
    failures, checked = [], 0
    for case in cases:
        neptune._NOW = case["now"]
        try:
            if case["table"] == "runs":
                got = sorted(ids(project.fetch_runs_table(query=case["query"], trashed=trash[case["trashed"]], columns=[])))
            elif case["table"] == "models":
                got = sorted(ids(project.fetch_models_table(query=case["query"], trashed=trash[case["trashed"]], columns=[])))
            elif case["trashed"] == "exclude":
                got = sorted(
                    i
                    for m in models
                    for i in ids(neptune.init_model(with_id=m, project=DATA).fetch_model_versions_table(query=case["query"], columns=[]))
                )
            else:
                continue  # Neptune 1.x always leaves trashed versions out
        except (nx.NeptuneInvalidQueryException, ValueError):
            got = "error"
        checked += 1
        if got != case["expect"]:
            failures.append((case["id"], case["query"], got, case["expect"]))
    assert not failures, failures[:5]
    assert checked > 300


@pytest.mark.parametrize("query", [None, "`sys/failed`:bool = true", '`parameters/optimizer`:string MATCHES "^adam"'])
@pytest.mark.parametrize("trashed", [False, None, True])
def test_to_pandas_by_columns_equals_neptunes_from_dict_construction(monkeypatch, query, trashed):
    """to_pandas() builds the frame column by column from Arrow; it must equal, dtypes
    included, what Neptune's own row-dict construction gives."""
    monkeypatch.setenv("NQL_DATA", str(NEPTUNE / "v2-vision" / "data"))
    table = neptune.init_project(project="acme/vision", mode="read-only").fetch_runs_table(query=query, trashed=trashed)
    paths = [p for _, p, t in table._columns if t not in ("fileRef", "fileRefSeries", "histogramSeries")]
    assert len(paths) == len(set(paths))  # the column-by-column path is the one taken
    fast, slow = table.to_pandas(), table._to_pandas_by_rows()
    pd.testing.assert_frame_equal(fast, slow)
    if len(fast):
        assert {str(t) for t in fast.dtypes} >= {"float64", "str", "datetime64[us]"}


@pytest.mark.parametrize("query", [None, "`sys/failed`:bool = true", "`sys/tags`:stringSet CONTAINS \"x\""])
@pytest.mark.parametrize("trashed", [False, None])
def test_to_pandas_of_paths_with_several_types_equals_neptunes_construction(query, trashed):
    """The conformance project has paths with columns of several types (int and float, float and
    string, ...): to_pandas() takes each row's first value as Neptune's rows do."""
    table = neptune.init_project(project=str(CONFORMANCE / "data"), mode="read-only").fetch_runs_table(
        query=query, trashed=trashed
    )
    paths = [p for _, p, _ in table._columns]
    assert len(paths) > len(set(paths))
    pd.testing.assert_frame_equal(table.to_pandas(), table._to_pandas_by_rows())
