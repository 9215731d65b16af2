"""`nql.open(path, cluster=...)` and `NQL_CLUSTER`: the same answers on a Ballista cluster (a
scheduler and two executors inside this process) over the conformance project bucketed 4 ways
as in one process over the project itself.

These tests need the extension built with its `cluster` feature (scripts/test builds it so and
sets NQL_REQUIRE_CLUSTER=1, which turns a missing feature into a failure instead of a skip)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import nql
import nql.neptune as neptune
from conftest import CONFORMANCE
from nql import _nql, _projects

NOW = "2026-06-01T00:00:00Z"

if not hasattr(_nql, "_local_cluster"):
    if os.getenv("NQL_REQUIRE_CLUSTER") == "1":
        raise RuntimeError("NQL_REQUIRE_CLUSTER=1, but the extension was built without the cluster feature")
    pytest.skip("the extension was built without the cluster feature", allow_module_level=True)


@pytest.fixture(scope="module")
def url() -> str:
    return _nql._local_cluster(2, 2)


@pytest.fixture(scope="module")
def bucketed(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("bucketed") / "project"
    _nql._partition(str(CONFORMANCE / "data"), str(out), 4)
    return str(out)


@pytest.fixture(scope="module")
def on_cluster(url, bucketed) -> nql.Project:
    return nql.open(bucketed, cluster=url)


def ids(table: pa.Table) -> list[str]:
    return table.column("sys/id").to_pylist()


def test_conformance_cases_give_the_same_ids_on_the_cluster(on_cluster, conformance, cases):
    # Every third case: the Rust tests run all of them on a cluster three ways (cluster/tests);
    # here the path through Python is what is tested, at about 0.25 s a query in the dev profile.
    chosen = [c for c in cases if c["table"] in on_cluster.tables][::3]
    assert len(chosen) > 90
    failures = []
    for case in chosen:
        answers = []
        for project in (conformance, on_cluster):
            try:
                answers.append(
                    sorted(ids(project.query(case["query"], table=case["table"], trashed=case["trashed"],
                                             now=case["now"], columns=[])))
                )
            except (nql.NqlSyntaxError, ValueError):
                answers.append("error")
        if answers[0] != answers[1] or answers[1] != case["expect"]:
            failures.append((case["id"], case["query"]))
    assert not failures, failures[:10]


def test_columns_sort_limit_and_trash_as_in_one_process(on_cluster, conformance):
    for kwargs in [
        dict(columns=["params/lr:float", "sys/tags", "last(metrics/acc)"], sort_by="params/lr:float", limit=7),
        dict(columns=["sys/name"], sort_by="sys/name", ascending=True, trashed="all"),
        dict(columns=None, limit=0),
        dict(columns=["sys/state"], trashed="only"),
    ]:
        local = conformance.query("`params/lr`:float > 0.0001 OR `sys/failed`:bool = true", now=NOW, **kwargs)
        remote = on_cluster.query("`params/lr`:float > 0.0001 OR `sys/failed`:bool = true", now=NOW, **kwargs)
        assert remote.column_names == local.column_names, kwargs
        assert remote.num_rows == local.num_rows, kwargs
        # As text, so that NaN (a series whose last value is NaN) equals NaN.
        assert repr(remote.to_pylist()) == repr(local.to_pylist()), kwargs


def test_check_schema_and_kind(on_cluster, conformance, url):
    assert url in on_cluster.kind and "bucketed" in on_cluster.kind
    assert on_cluster.check("`params/lr`:float > 0.1") == conformance.check("`params/lr`:float > 0.1")
    with pytest.raises(nql.NqlSyntaxError):
        on_cluster.check("`params/lr` >")
    local = {t: sorted(a) for t, a in conformance.schema().items() if t in on_cluster.tables}
    assert {t: sorted(a) for t, a in on_cluster.schema().items()} == local


def test_series_and_the_options_of_one_process_are_refused(on_cluster, bucketed, url):
    with pytest.raises(nql.NqlError, match="one process"):
        on_cluster.series(paths="metrics/acc")
    with pytest.raises(ValueError, match="by its path alone"):
        nql.open(bucketed, cluster=url, index_dir="/tmp/x")
    with pytest.raises(TypeError, match="cluster must be a str"):
        nql.open(bucketed, cluster=8)


def test_bad_addresses_and_projects_raise(bucketed, url, tmp_path):
    with pytest.raises(ValueError, match="df://HOST:PORT"):
        nql.open(bucketed, cluster="http://localhost:1")
    with pytest.raises(ConnectionError, match="no scheduler answers"):
        nql.open(bucketed, cluster="df://127.0.0.1:1")
    with pytest.raises(nql.ProjectError):
        nql.open(tmp_path, cluster=url)


def test_a_neptune_script_runs_on_the_cluster_through_nql_cluster(bucketed, url, monkeypatch):
    query = "`sys/tags`:stringSet CONTAINS \"best\" OR last(`metrics/acc`):float > 0.5"
    local = neptune.init_project(project=str(CONFORMANCE / "data"), mode="read-only")
    expected = local.fetch_runs_table(query=query, columns=["sys/id", "params/lr"]).to_pandas()
    monkeypatch.setenv("NQL_CLUSTER", url)
    _projects.clear_cache()
    try:
        remote = neptune.init_project(project=bucketed, mode="read-only")
        got = remote.fetch_runs_table(query=query, columns=["sys/id", "params/lr"]).to_pandas()
    finally:
        _projects.clear_cache()
    assert len(expected) > 0
    pd.testing.assert_frame_equal(got, expected)


def test_a_project_in_s3_answers_as_on_disk(on_cluster, bucketed, url, monkeypatch):
    """The bucketed project uploaded to an S3 server (moto's, on 127.0.0.1) and queried there
    by `s3://` URL: the client lists and reads the footers through S3, the in-process
    scheduler and executors scan the files through S3."""
    import boto3  # with moto (python/requirements-test.txt)
    import moto.server as moto_server
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name, value in {
            "AWS_ENDPOINT": endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
        s3.create_bucket(Bucket="nql-test")
        root = Path(bucketed)
        for file in sorted(root.rglob("*.parquet")):
            s3.upload_file(str(file), "nql-test", f"project/{file.relative_to(root).as_posix()}")
        in_s3 = nql.open("s3://nql-test/project", cluster=url)
        assert in_s3.schema() == on_cluster.schema()
        for query in ["", "`sys/tags`:stringSet CONTAINS \"best\"", "last(`metrics/acc`):float > 0.5",
                      "NOT `sys/failed`:bool = true OR `params/lr`:float > 0.001"]:
            expected = on_cluster.query(query, columns=["sys/name"], trashed="all", now=NOW)
            got = in_s3.query(query, columns=["sys/name"], trashed="all", now=NOW)
            assert got.num_rows > 0 and repr(got.to_pylist()) == repr(expected.to_pylist()), query
        with pytest.raises(nql.ProjectError, match="no runs summaries"):
            nql.open("s3://nql-test/nothing-here", cluster=url)
    finally:
        server.stop()
