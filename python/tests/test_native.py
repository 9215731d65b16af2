"""The native API: nql.open, Project.query/check/schema, over every kind of project."""

from __future__ import annotations

import _thread
import json
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pytest

import nql
from conftest import MLFLOW, NEPTUNE

NOW = "2026-06-01T00:00:00Z"


def ids(table: pa.Table) -> list[str]:
    return table.column("sys/id").to_pylist()


def test_every_conformance_case_answers_as_the_spec_says(conformance, cases):
    failures = []
    for case in cases:
        try:
            got = sorted(
                ids(
                    conformance.query(
                        case["query"], table=case["table"], trashed=case["trashed"], now=case["now"], columns=[]
                    )
                )
            )
        except nql.NqlSyntaxError:
            got = "error"
        except ValueError:
            got = "error"
        if got != case["expect"]:
            failures.append((case["id"], case["query"]))
    assert not failures, failures[:10]
    assert len(cases) > 300


def test_results_are_arrow_tables_that_become_pandas(conformance):
    table = conformance.query("`params/lr`:float > 0.001", columns=["params/lr:float", "sys/tags"], now=NOW)
    assert isinstance(table, pa.Table)
    assert table.column_names == ["sys/id", "params/lr:float", "sys/tags"]
    frame = table.to_pandas()
    assert list(frame.columns) == ["sys/id", "params/lr:float", "sys/tags"]
    assert (frame["params/lr:float"] > 0.001).all()
    assert len(frame) == table.num_rows > 0


def test_the_answer_shares_the_engines_buffers(conformance):
    inner = conformance._inner
    batches, _ = inner.query(
        "", table="runs", columns=["params/lr"], sort_by=None, ascending=False, limit=None,
        trashed="all", model=None, now=NOW, timeout=None,
    )
    engine_addresses = set(batches._buffer_addresses())
    table = pa.table(batches)
    python_addresses = {
        b.address for column in table.columns for chunk in column.chunks for b in chunk.buffers() if b is not None
    }
    assert python_addresses, "buffers to compare"
    assert python_addresses <= engine_addresses, "pyarrow holds copies"


def test_sort_limit_trash_and_columns(conformance):
    top = conformance.query("", sort_by="params/lr:float", limit=5, columns=["params/lr:float"], trashed="all")
    values = top.column("params/lr:float").to_pylist()
    assert len(values) == 5 and values == sorted(values, reverse=True)
    bottom = conformance.query("", sort_by="params/lr:float", ascending=True, limit=5, columns=["params/lr:float"])
    assert bottom.column("params/lr:float").to_pylist() == sorted(bottom.column("params/lr:float").to_pylist())
    every = len(conformance.query("", trashed="all", columns=[]))
    kept = len(conformance.query("", trashed="exclude", columns=[]))
    trashed = len(conformance.query("", trashed="only", columns=[]))
    assert every == kept + trashed and trashed > 0
    with pytest.raises(ValueError, match="trashed"):
        conformance.query("", trashed="some")
    with pytest.raises(ValueError, match="table"):
        conformance.query("", table="nope")
    with pytest.raises(ValueError, match="limit"):
        conformance.query("", limit=-1)
    with pytest.raises(ValueError):
        conformance.query("", columns=["no/such/column"])
    with pytest.raises(TypeError):
        conformance.query(5)


def test_a_bad_query_raises_with_every_diagnostic(conformance):
    with pytest.raises(nql.NqlSyntaxError) as info:
        conformance.query("`params/lr`:float CONTAINS 0.5")
    e = info.value
    assert isinstance(e, ValueError)
    assert "CONTAINS" in str(e) and "^" in e.render() or "─" in e.render()
    assert e.diagnostics and e.diagnostics[0].start < e.diagnostics[0].end
    assert e.diagnostics[0].code.startswith("nql::")
    assert e.query == "`params/lr`:float CONTAINS 0.5"


def test_check_gives_the_canonical_form_and_warnings(conformance):
    assert conformance.check("") == ""
    canonical = conformance.check("params/lr:float>0.1 and not sys/tags:stringSet contains 'x'")
    assert "params/lr" in canonical and canonical != "params/lr:float>0.1 and not sys/tags:stringSet contains 'x'"
    with pytest.warns(nql.NqlWarning, match="nosuch"):
        conformance.check("`nosuch`:float > 5")
    with pytest.raises(nql.NqlSyntaxError):
        conformance.check("((")


def test_schema_lists_every_table_and_attribute(conformance):
    schema = conformance.schema()
    assert set(schema) == set(conformance.tables) >= {"runs"}
    runs = {a.path: a for a in schema["runs"]}
    assert "sys/id" in runs or "sys/name" in runs
    assert all(a.count >= 0 and isinstance(a.type, str) for a in schema["runs"])
    assert "native" in conformance.kind


def test_timeout_raises_timeout_error(conformance):
    # A clause per id: a filter long enough to outlast a nanosecond.
    query = " OR ".join(f'`sys/name`:string MATCHES "^{i}.*x"' for i in range(300))
    with pytest.raises(TimeoutError):
        conformance.query(query, timeout=1e-9)


def test_one_project_answers_from_many_threads(conformance, cases):
    chosen = [c for c in cases if c["expect"] != "error" and c["table"] == "runs"][:40]

    def answer(case):
        return sorted(ids(conformance.query(case["query"], trashed=case["trashed"], now=case["now"], columns=[])))

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(answer, chosen * 3))
    assert answers == [c["expect"] for c in chosen * 3]


def test_neptune_exports_answer_as_neptune_did():
    for name in ["v2-vision", "v3-llm"]:
        truth = json.loads((NEPTUNE / name / "truth.json").read_text())
        project = nql.open(NEPTUNE / name / "data")
        assert "Neptune" in project.kind
        every = sorted(ids(project.query("", trashed="all", columns=[])))
        assert every == sorted(r["sys_id"] for r in truth["runs"]), name
        # An int parameter, as truth.json has it: each run with the value is found by it.
        for run in truth["runs"]:
            for a in run["attributes"]:
                if a["type"] == "int" and a["path"].startswith("parameters/"):
                    found = ids(project.query(f'`{a["path"]}`:int = {a["value"]}', trashed="all", columns=[]))
                    assert run["sys_id"] in found, (name, a)


def test_mlflow_stores_answer_as_mlflow_did():
    expected = json.loads((MLFLOW / "expected.json").read_text())
    for store, path in [("sqlite", MLFLOW / "mlflow.db"), ("files", MLFLOW / "mlruns")]:
        runs = expected[store]["runs"]
        project = nql.open(path)
        assert "MLflow" in project.kind
        every = sorted(ids(project.query("", trashed="all", columns=[])))
        assert every == sorted(r["run_id"] for r in runs), store
        # A string parameter: exactly the runs MLflow has it on with that value.
        value = next(r["params"]["optimizer/name"] for r in runs if "optimizer/name" in r.get("params", {}))
        found = sorted(ids(project.query(f'`params/optimizer/name`:string = "{value}"', trashed="all", columns=[])))
        assert found == sorted(r["run_id"] for r in runs if r.get("params", {}).get("optimizer/name") == value)


def test_a_bad_project_raises_naming_it(tmp_path):
    with pytest.raises(nql.ProjectError, match="nothing-here"):
        nql.open(tmp_path / "nothing-here")
    with pytest.raises(TypeError):
        nql.open(42)


def test_a_rust_panic_is_an_exception_not_a_crash():
    from nql import _nql

    with pytest.raises(BaseException, match="boom"):
        _nql._panic("boom")


def test_ctrl_c_stops_a_waiting_query_at_once(conformance):
    from nql import _nql

    # A process started in the background by a non-interactive shell inherits SIGINT ignored,
    # and then `interrupt_main` does nothing: give SIGINT Python's own handler for the test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _ctrl_c_stops_a_waiting_query_at_once(conformance, _nql)
    finally:
        signal.signal(signal.SIGINT, previous)


def _ctrl_c_stops_a_waiting_query_at_once(conformance, _nql):
    threading.Timer(0.2, _thread.interrupt_main).start()
    with pytest.raises(KeyboardInterrupt):
        _nql._wait_for(20.0)
    assert not _nql._slept(), "the wait ran to its end: Ctrl-C was not seen while waiting"
    # A query interrupted in the middle leaves the project usable.
    slow = " OR ".join(f'`sys/name`:string MATCHES "^(a|b)+{i}(c|d)*$"' for i in range(4000))
    threading.Timer(0.2, _thread.interrupt_main).start()
    with pytest.raises(KeyboardInterrupt):
        conformance.query(slow, columns=[])
    assert len(conformance.query("", columns=[])) > 0
