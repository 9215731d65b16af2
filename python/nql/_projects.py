"""How the Neptune mirrors (`nql.neptune`, `nql.query`) find and open the project a script names:
a directory or store file, or a `workspace/project` id under the data root `NQL_DATA`, opened
once per process (the index built or refreshed then). With `NQL_CLUSTER=df://HOST:PORT` set, the
project is a bucketed one (`nql partition`) and its queries run on that cluster. Each mirror
turns the errors below into its own client's exceptions."""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Dict, Optional, Tuple

import nql

__all__ = ["NoProjectName", "UnknownProject", "open_project", "clear_cache"]


class NoProjectName(Exception):
    """Neither the argument nor `NEPTUNE_PROJECT` names a project."""


class UnknownProject(Exception):
    """The name is no directory or store, and not a project of the export under `NQL_DATA`."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


_OPENED: Dict[Tuple[str, Optional[str], Optional[str], Optional[str]], "nql.Project"] = {}
_OPENING = threading.Lock()


def index_dir(key: str) -> Optional[str]:
    """`NQL_INDEX_DIR/<name>-<hash>` when `NQL_INDEX_DIR` is set (an index per project there),
    else None: the engine's default place."""
    root = os.getenv("NQL_INDEX_DIR")
    if not root:
        return None
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    name = os.path.basename(key.rstrip("/\\")) or "project"
    return os.path.join(root, f"{''.join(c if c.isalnum() else '_' for c in name)}-{digest}")


def open_project(project, *, who: str) -> Tuple["nql.Project", str]:
    """The project that `project` (else `NEPTUNE_PROJECT`) names, opened once per process, and
    its name for messages. `who` names the mirror in messages. Raises `NoProjectName`,
    `UnknownProject`, or `TypeError` for a project that is not a str or path."""
    if project is None:
        project = os.getenv("NEPTUNE_PROJECT")
    if project is None or project == "":
        raise NoProjectName()
    if not isinstance(project, (str, os.PathLike)):
        raise TypeError("project must be a str or NoneType (was {})".format(type(project)))
    name = os.fspath(project)
    if os.path.exists(name):
        path, within = os.path.abspath(name), None
    else:
        root = os.getenv("NQL_DATA")
        if not root:
            raise UnknownProject(
                name,
                f"{who}: no such directory or store, and NQL_DATA, the data directory of a Neptune "
                "export to look the project up in, is not set",
            )
        path, within = os.path.abspath(root), name
    cluster = os.getenv("NQL_CLUSTER") or None
    if cluster is not None and within is not None:
        raise UnknownProject(
            name,
            f"{who}: NQL_CLUSTER is set, so the project must be the directory of a bucketed "
            "project (nql partition), not an id under NQL_DATA",
        )
    idx = None if cluster else index_dir(path if within is None else f"{path}#{within}")
    key = (path, within, idx, cluster)
    with _OPENING:
        opened = _OPENED.get(key)
        if opened is None:
            try:
                if cluster:
                    opened = nql.open(path, cluster=cluster)
                else:
                    opened = nql.open(path, project=within, index_dir=idx)
            except nql.ProjectError as e:
                raise UnknownProject(name, f"{who}: {e}") from None
            _OPENED[key] = opened
    return opened, name


def clear_cache() -> None:
    """Forgets every project opened so far (the next call opens it again, seeing new files)."""
    with _OPENING:
        _OPENED.clear()
