"""Fixtures: the repository's test projects, each opened with its index in a temporary directory
(a test never writes into the repository)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nql

REPO = Path(__file__).resolve().parents[2]
CONFORMANCE = REPO / "engine" / "tests" / "conformance"
NEPTUNE = REPO / "engine" / "tests" / "neptune-export"
MLFLOW = REPO / "engine" / "tests" / "mlflow"


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    """Indexes of exports and stores go to the user's cache: here, a temporary one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def conformance(tmp_path_factory) -> nql.Project:
    return nql.open(CONFORMANCE / "data", index_dir=tmp_path_factory.mktemp("conformance-index"))


@pytest.fixture(scope="session")
def cases() -> list[dict]:
    return [json.loads(line) for line in (CONFORMANCE / "cases.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def neptune_index_in_tmp(tmp_path_factory, monkeypatch):
    """nql.neptune opens projects with their index under NQL_INDEX_DIR: a temporary one, shared
    by the session (so that the repository's data is never written)."""
    monkeypatch.setenv("NQL_INDEX_DIR", str(_index_root(tmp_path_factory)))
    for name in ["NEPTUNE_PROJECT", "NEPTUNE_MODE", "NEPTUNE_CUSTOM_RUN_ID", "NQL_DATA", "NQL_CLUSTER"]:
        monkeypatch.delenv(name, raising=False)


_ROOT: list = []


def _index_root(factory) -> Path:
    if not _ROOT:
        _ROOT.append(factory.mktemp("neptune-index"))
    return _ROOT[0]
