"""A drop-in for the read API of Neptune 1.x (`import neptune`), answered by the NQL engine
over a Neptune export, a native project or an MLflow store instead of Neptune's servers:

    import nql.neptune as neptune          # the only line a Neptune script changes

    project = neptune.init_project(project="ml-team/classification", mode="read-only")
    runs = project.fetch_runs_table(query="`train/loss`:floatSeries < 0.5", columns=["train/loss"]).to_pandas()
    run = neptune.init_run(with_id="CLS-12", mode="read-only")
    run["train/loss"].fetch_values()

`project=` is a directory (or an MLflow store file), or a `workspace/project` id looked up in the
export whose data directory the environment variable `NQL_DATA` names. The arguments, checks,
exceptions, defaults and DataFrame shapes are Neptune 1.x's; docs/python.md lists what is
mirrored, what differs on purpose (Neptune's trash clause defect) and what is left out.
`nql.compat.install()` makes `import neptune` itself give this module.
"""

from __future__ import annotations

import datetime as _dt
import enum
import os
import warnings
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import pyarrow as pa
import pyarrow.compute as pc

import nql as _nql
from nql import _projects

from . import exceptions
from .exceptions import (
    MissingFieldException,
    ModelNotFound,
    NeedExistingModelForReadOnlyMode,
    NeedExistingRunForReadOnlyMode,
    NeptuneException,
    NeptuneInvalidQueryException,
    NeptuneMissingProjectNameException,
    NeptuneMissingRequiredInitParameter,
    NeptuneReadOnlyException,
    NeptuneRunResumeAndCustomIdCollision,
    NeptuneWarning,
    ProjectNotFound,
    RunNotFound,
    TypeDoesNotSupportAttributeException,
)
from .table import LeaderboardHandler, Table, TableEntry, python_values
from .typing import ProgressBarCallback

__all__ = [
    "ANONYMOUS_API_TOKEN",
    "LeaderboardHandler",
    "NeptuneWarning",
    "init_model",
    "init_project",
    "init_run",
    "Model",
    "Project",
    "Run",
    "Table",
    "TableEntry",
    "exceptions",
    "__version__",
]

__version__ = _nql.__version__

ANONYMOUS_API_TOKEN = "ANONYMOUS"

# Neptune's defaults (neptune.internal.init.parameters).
DEFAULT_FLUSH_PERIOD = 5
ASYNC_LAG_THRESHOLD = 1800.0
ASYNC_NO_PROGRESS_THRESHOLD = 300.0

# The instant relative datetimes in queries (`-2d`) count from: None, the clock. Tests set it
# to replay cases written against a fixed "now".
_NOW: Optional[str] = None

# The types Neptune sorts by as they are (hosted_neptune_backend.ATOMIC_ATTRIBUTE_TYPES).
_ATOMIC = {"int", "float", "string", "bool", "datetime", "experimentState"}


class Mode(str, enum.Enum):
    ASYNC = "async"
    SYNC = "sync"
    OFFLINE = "offline"
    DEBUG = "debug"
    READ_ONLY = "read-only"


# --- Neptune's argument checks (neptune.internal.utils), with its messages ---------------------


def _type_name(t) -> str:
    return t.__name__ if hasattr(t, "__name__") else str(t)


def verify_type(var_name: str, var: Any, expected_type) -> None:
    if isinstance(expected_type, tuple):
        type_name = " or ".join(_type_name(t) for t in expected_type)
    else:
        type_name = _type_name(expected_type)
    if not isinstance(var, expected_type):
        raise TypeError("{} must be a {} (was {})".format(var_name, type_name, type(var)))


def verify_value(var_name: str, var: Any, expected_values) -> None:
    if var not in expected_values:
        raise ValueError(f"{var_name} must be one of {expected_values} (was `{var}`)")


def verify_collection_type(var_name: str, var: Any, expected_type) -> None:
    verify_type(var_name, var, (list, set, tuple))
    for value in var:
        verify_type("elements of collection '{}'".format(var_name), value, expected_type)


def as_list(name: str, value) -> list:
    verify_type(name, value, (type(None), str, Iterable))
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    verify_collection_type(name, value, str)
    return list(value)


def _mode(mode: Optional[str]) -> Mode:
    verify_type("mode", mode, (str, type(None)))
    return Mode(mode or os.getenv("NEPTUNE_MODE") or Mode.ASYNC.value)


def _verify_fetch_arguments(query, limit, sort_by, ascending, progress_bar) -> None:
    """The checks of fetch_models_table and fetch_model_versions_table, in Neptune's order."""
    verify_type("query", query, (str, type(None)))
    verify_type("limit", limit, (int, type(None)))
    verify_type("sort_by", sort_by, str)
    verify_type("ascending", ascending, bool)
    verify_type("progress_bar", progress_bar, (type(None), bool, type(ProgressBarCallback)))
    _verify_limit(limit)


def _verify_limit(limit) -> None:
    if isinstance(limit, int) and limit <= 0:
        raise ValueError(f"Parameter 'limit' must be a positive integer or None. Got {limit}.")


# --- NQL as Neptune builds it (neptune.internal.backends.nql) ----------------------------------


def _nql_value(value, escape: bool) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value)
    if escape:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _nql_attribute(name: str, type_: str, operator: str, value, escape: bool) -> str:
    return f"(`{name}`:{type_} {operator} {_nql_value(value, escape)})"


def _nql_aggregate(items: List[str], aggregator: str) -> str:
    """Neptune's NQLQueryAggregate: empty items drop out, one item stands alone, several are
    joined and parenthesized (an item is never parenthesized itself: a raw query stays as
    written)."""
    items = [i for i in items if i != ""]
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return "(" + f" {aggregator} ".join(items) + ")"


def _trash_clause(trashed) -> str:
    return _nql_attribute("sys/trashed", "bool", "=", trashed, escape=False)


def _raw_with_trash(query: str, trashed) -> str:
    """What Neptune sends for a raw query: `(<query> AND (trash clause))`, the query not
    parenthesized (`a OR b` then reads `a OR (b AND trash)`: Neptune's defect)."""
    if trashed is None:
        return query
    return _nql_aggregate([query, _trash_clause(trashed)], "AND")


_API_STATES = {"active": "running", "inactive": "idle"}


def _legacy_query(ids, states, owners, tags, trashed, escape: bool) -> str:
    """Neptune's prepare_nql_query: trash, then OR of ids, OR of states, OR of owners, AND of
    tags. `escape`: quote and backslash escaped (what the engine is sent; Neptune did not)."""
    items = []
    if trashed is not None:
        items.append(_trash_clause(trashed))
    if ids:
        items.append(_nql_aggregate([_nql_attribute("sys/id", "string", "=", i, escape) for i in ids], "OR"))
    if states:
        items.append(
            _nql_aggregate(
                [
                    _nql_attribute("sys/state", "experimentState", "=", _API_STATES[s.lower()], escape)
                    for s in states
                ],
                "OR",
            )
        )
    if owners:
        items.append(_nql_aggregate([_nql_attribute("sys/owner", "string", "=", o, escape) for o in owners], "OR"))
    if tags:
        items.append(
            _nql_aggregate([_nql_attribute("sys/tags", "stringSet", "CONTAINS", t, escape) for t in tags], "AND")
        )
    return _nql_aggregate(items, "AND")


def _trashed_mode(trashed) -> str:
    if trashed is None:
        return "all"
    return "only" if trashed else "exclude"


# --- opening projects ---------------------------------------------------------------------------

def _open(project) -> Tuple["_nql.Project", str]:
    """The project that `project` (else `NEPTUNE_PROJECT`) names, opened once per process,
    and its name for messages."""
    try:
        return _projects.open_project(project, who="nql.neptune")
    except _projects.NoProjectName:
        raise NeptuneMissingProjectNameException() from None
    except _projects.UnknownProject as e:
        raise ProjectNotFound(e.name, e.reason) from None


_clear_cache = _projects.clear_cache


# --- fetching tables ----------------------------------------------------------------------------


def _fetch_table(
    project: "_nql.Project",
    table: str,
    *,
    query: str,
    sent: str,
    trashed: Optional[bool],
    columns,
    limit: Optional[int],
    sort_by: str,
    ascending: bool,
    model: Optional[str] = None,
) -> Table:
    """A table of the engine's answer to `query` with Neptune's options (`trashed`: True only
    trashed objects, False none, None all); `sent` is the NQL that Neptune would have sent (for
    the message of an invalid query)."""
    if table not in project.tables:
        return Table(None, [])
    described = project._inner.columns(table)  # (result name, path, NQL type)
    by_name = {c[0]: c for c in described}
    sort_columns = [c for c in described if c[1] == sort_by]
    engine_sort: Optional[str]
    python_sort: Optional[str] = None
    if sort_by == "sys/id":
        engine_sort = "sys/id"
    elif not sort_columns:
        if sort_by != "sys/creation_time":
            raise ValueError(f"Column '{sort_by}' chosen for sorting is not present in the table")
        # Every Neptune object has a creation time; a project without one sorts by id.
        engine_sort = "sys/id"
    elif len(sort_columns) == 1:
        engine_sort = sort_columns[0][0]
    else:
        types = {c[2] for c in sort_columns}
        if not types <= _ATOMIC:
            raise ValueError(
                f"Column {sort_by} used for sorting is a complex type. For more, "
                f"see https://docs-legacy.neptune.ai/api/field_types/#simple-types"
            )
        if types == {"int", "float"}:
            python_sort = "float"
        else:
            warnings.warn(
                f"Column {sort_by} contains more than one simple data type. Sorting result might be inaccurate.",
                NeptuneWarning,
                stacklevel=3,
            )
            python_sort = "string"
        engine_sort = None
    if columns is None:
        wanted = None
    else:
        paths = set(columns)
        paths.add("sys/id")
        paths.add(sort_by)
        # Paths the table lacks are left out, as Neptune's server leaves them out.
        wanted = [c[0] for c in described if c[1] in paths and c[0] != "sys/id"]
    try:
        answer = project.query(
            query,
            table=table,
            columns=wanted,
            sort_by=engine_sort,
            ascending=ascending,
            limit=None if python_sort else limit,
            trashed=_trashed_mode(trashed),
            model=model,
            now=_NOW,
        )
    except _nql.NqlSyntaxError as e:
        raise NeptuneInvalidQueryException(sent, e.render(), query) from None
    if python_sort:
        answer = _sort(answer, [c[0] for c in sort_columns], python_sort, ascending, limit)
    return Table(answer, [by_name[name] for name in answer.column_names])


def _sort(answer: pa.Table, names: List[str], as_type: str, ascending: bool, limit: Optional[int]) -> pa.Table:
    """Sorts by the first non-null of `names` read as float or string (one path with several
    types), missing values last, ties by sys/id."""
    target = pa.float64() if as_type == "float" else pa.string()
    keys = [answer.column(n).cast(target) for n in names]
    key = pc.coalesce(*keys) if len(keys) > 1 else keys[0]
    # Missing keys last in either direction: sorted first on whether the key is missing.
    order = pa.table({"missing": pc.is_null(key), "key": key, "id": answer.column("sys/id").cast(pa.string())})
    indices = pc.sort_indices(
        order,
        sort_keys=[("missing", "ascending"), ("key", "ascending" if ascending else "descending"), ("id", "ascending")],
    )
    # (pyarrow cannot take from string_view columns: those become plain strings first.)
    answer = pa.table(
        [c.cast(pa.string()) if pa.types.is_string_view(c.type) else c for c in answer.columns],
        names=answer.column_names,
    ).take(indices)
    return answer.slice(0, limit) if limit is not None else answer


# --- objects: project, run, model ---------------------------------------------------------------


def _join(*paths: str) -> str:
    return "/".join(part for p in paths for part in str(p).split("/") if part)


class _Container:
    """What a project, a run and a model share: attributes read once, handlers, and writes
    refused (read-only mode: ignored with Neptune's warning)."""

    _kind = "object"
    _table: Optional[str] = None

    def __init__(self, project: "_nql.Project", name: str, mode: Mode, attributes: Dict[str, Tuple[str, Any]]):
        self._project = project
        self._project_name = name
        self._mode = mode
        self._attributes = attributes
        self._stopped = False

    # Neptune objects are context managers that stop on exit.
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.stop()

    def stop(self, *, seconds: Optional[Union[float, int]] = None) -> None:
        self._stopped = True

    def wait(self, *, disk_only: bool = False) -> None:
        pass

    def sync(self, *, wait: bool = True) -> None:
        pass

    def __getitem__(self, path: str) -> "Handler":
        return Handler(self, path)

    def __setitem__(self, key: str, value) -> None:
        self._write(key)

    def __delitem__(self, path: str) -> None:
        self._write(path)

    def pop(self, path: str, *, wait: bool = False) -> None:
        self._write(path)

    def assign(self, value, *, wait: bool = False) -> None:
        self._write("")

    def _write(self, path: str) -> None:
        if self._mode == Mode.READ_ONLY:
            warnings.warn("Client in read-only mode, nothing will be saved to server.", NeptuneWarning, stacklevel=3)
            return
        raise NeptuneReadOnlyException(f"writing {self._kind} field {path!r}")

    def get_attribute(self, path: str) -> Optional["_Attribute"]:
        path = _join(path)
        found = self._attributes.get(path)
        if found is not None:
            return _ATTRIBUTES.get(found[0], _Attribute)(self, path, found[0], found[1])
        prefix = f"{path}/" if path else ""
        if any(p.startswith(prefix) for p in self._attributes):
            return Namespace(self, path, "namespace", None)
        return None

    def exists(self, path: str) -> bool:
        """Whether there is a field or namespace under `path`."""
        verify_type("path", path, str)
        return self.get_attribute(path) is not None

    def fetch(self) -> dict:
        """Every atom field's value, nested by namespace (series, sets and files left out)."""
        return Namespace(self, "", "namespace", None).fetch()

    def get_structure(self) -> Dict[str, Any]:
        """The fields as a nested dictionary of field objects."""
        structure: Dict[str, Any] = {}
        for path in sorted(self._attributes):
            *namespaces, leaf = path.split("/")
            node = structure
            for n in namespaces:
                node = node.setdefault(n, {})
            node[leaf] = self.get_attribute(path)
        return structure

    def print_structure(self) -> None:
        def show(node, indent):
            for key in sorted(node):
                value = node[key]
                if isinstance(value, dict):
                    print(f"{'    ' * indent}'{key}':")
                    show(value, indent + 1)
                else:
                    print(f"{'    ' * indent}'{key}': {type(value).__name__}")

        show(self.get_structure(), 0)

    def get_url(self) -> str:
        return f"file://{self._project_name}"

    def _series(self, path: str, kind: str) -> pa.Table:
        return self._project.series([self._id], [path], table=self._table, kind=kind)


def _atom_attributes(project: "_nql.Project", table: str, object_id: str) -> Optional[Dict[str, Tuple[str, Any]]]:
    """Every attribute of one object, path -> (NQL type, value), as a run handle reads them;
    None when the table has no such object."""
    if table not in project.tables:
        return None
    query = _nql_attribute("sys/id", "string", "=", object_id, escape=True)
    answer = project.query(query, table=table, trashed="all")
    if answer.num_rows == 0:
        return None
    attributes: Dict[str, Tuple[str, Any]] = {}
    for name, path, t in project._inner.columns(table):
        value = python_values(answer.column(name), t)[0]
        if value is not None and path not in attributes:
            if t == "datetime":
                value = value.replace(tzinfo=_dt.timezone.utc)
            attributes[path] = (t, value)
    return attributes


class Project(_Container):
    """A Neptune project: `fetch_runs_table`, `fetch_models_table`. `project` is a directory (or
    an MLflow store file), or a `workspace/project` id looked up under `NQL_DATA`."""

    _kind = "project"

    def __init__(
        self,
        project: Optional[str] = None,
        *,
        api_token: Optional[str] = None,
        mode: Optional[str] = None,
        flush_period: float = DEFAULT_FLUSH_PERIOD,
        proxies: Optional[dict] = None,
        async_lag_callback=None,
        async_lag_threshold: float = ASYNC_LAG_THRESHOLD,
        async_no_progress_callback=None,
        async_no_progress_threshold: float = ASYNC_NO_PROGRESS_THRESHOLD,
    ):
        mode_ = _mode(mode)
        if mode_ == Mode.OFFLINE:
            raise NeptuneException("Project can't be initialized in OFFLINE mode")
        opened, name = _open(project)
        super().__init__(opened, name, mode_, {})

    def __repr__(self) -> str:
        return f"<Project {self._project_name}>"

    def fetch_runs_table(
        self,
        *,
        query: Optional[str] = None,
        id: Optional[Union[str, Iterable[str]]] = None,  # noqa: A002 - Neptune's name
        state: Optional[Union[str, Iterable[str]]] = None,
        owner: Optional[Union[str, Iterable[str]]] = None,
        tag: Optional[Union[str, Iterable[str]]] = None,
        columns: Optional[Iterable[str]] = None,
        trashed: Optional[bool] = False,
        limit: Optional[int] = None,
        sort_by: str = "sys/creation_time",
        ascending: bool = False,
        progress_bar=None,
    ) -> Table:
        """Runs matching the criteria, as Neptune 1.x's `fetch_runs_table`. `query` (NQL) is
        exclusive with `id`, `state`, `owner` and `tag` (any id, state or owner; every tag)."""
        if any((id, state, owner, tag)) and query is not None:
            raise ValueError(
                "You can't use the 'query' parameter together with the 'id', 'state', 'owner', or 'tag' parameters."
            )
        ids = as_list("id", id)
        states = as_list("state", state)
        owners = as_list("owner", owner)
        tags = as_list("tag", tag)
        verify_type("query", query, (str, type(None)))
        verify_type("trashed", trashed, (bool, type(None)))
        verify_type("limit", limit, (int, type(None)))
        verify_type("sort_by", sort_by, str)
        verify_type("ascending", ascending, bool)
        verify_type("progress_bar", progress_bar, (type(None), bool, type(ProgressBarCallback)))
        verify_collection_type("state", states, str)
        _verify_limit(limit)
        for s in states:
            verify_value("state", s.lower(), ("inactive", "active"))
        if query is not None:
            engine_query, sent = query, _raw_with_trash(query, trashed)
        else:
            engine_query = _legacy_query(ids, states, owners, tags, None, escape=True)
            sent = _legacy_query(ids, states, owners, tags, trashed, escape=False)
        return _fetch_table(
            self._project,
            "runs",
            query=engine_query,
            sent=sent,
            trashed=trashed,
            columns=columns,
            limit=limit,
            sort_by=sort_by,
            ascending=ascending,
        )

    def fetch_models_table(
        self,
        *,
        query: Optional[str] = None,
        columns: Optional[Iterable[str]] = None,
        trashed: Optional[bool] = False,
        limit: Optional[int] = None,
        sort_by: str = "sys/creation_time",
        ascending: bool = False,
        progress_bar=None,
    ) -> Table:
        """Models matching `query`, as Neptune 1.x's `fetch_models_table`."""
        _verify_fetch_arguments(query, limit, sort_by, ascending, progress_bar)
        query = query if query is not None else ""
        sent = _raw_with_trash(query, trashed)
        if trashed is not None and not isinstance(trashed, bool):
            # Neptune does not check `trashed` here: it sends `sys/trashed:bool = "<value>"`,
            # which its server refuses as invalid NQL.
            raise NeptuneInvalidQueryException(sent, None, query)
        return _fetch_table(
            self._project,
            "models",
            query=query,
            sent=sent,
            trashed=trashed,
            columns=columns,
            limit=limit,
            sort_by=sort_by,
            ascending=ascending,
        )


class Run(_Container):
    """A run opened for reading (`init_run(with_id=..., mode="read-only")`): `run[path].fetch()`,
    `.fetch_last()`, `.fetch_values()`, `run.fetch()`."""

    _kind = "run"
    _table = "runs"

    def __init__(
        self,
        with_id: Optional[str] = None,
        *,
        project: Optional[str] = None,
        api_token: Optional[str] = None,
        custom_run_id: Optional[str] = None,
        mode: Optional[str] = None,
        name: Optional[str] = None,
        description: Optional[str] = None,
        tags=None,
        source_files=None,
        capture_stdout: Optional[bool] = None,
        capture_stderr: Optional[bool] = None,
        capture_hardware_metrics: Optional[bool] = None,
        fail_on_exception: bool = True,
        monitoring_namespace: Optional[str] = None,
        flush_period: float = DEFAULT_FLUSH_PERIOD,
        proxies: Optional[dict] = None,
        capture_traceback: bool = True,
        git_ref=None,
        dependencies=None,
        async_lag_callback=None,
        async_lag_threshold: float = ASYNC_LAG_THRESHOLD,
        async_no_progress_callback=None,
        async_no_progress_threshold: float = ASYNC_NO_PROGRESS_THRESHOLD,
        **kwargs,
    ):
        if kwargs:
            raise TypeError(f"Run() got an unexpected keyword argument '{next(iter(kwargs))}'")
        verify_type("with_id", with_id, (str, type(None)))
        verify_type("project", project, (str, os.PathLike, type(None)))
        verify_type("custom_run_id", custom_run_id, (str, type(None)))
        verify_type("mode", mode, (str, type(None)))
        verify_type("name", name, (str, type(None)))
        verify_type("description", description, (str, type(None)))
        verify_type("capture_stdout", capture_stdout, (bool, type(None)))
        verify_type("capture_stderr", capture_stderr, (bool, type(None)))
        verify_type("capture_hardware_metrics", capture_hardware_metrics, (bool, type(None)))
        verify_type("fail_on_exception", fail_on_exception, bool)
        verify_type("monitoring_namespace", monitoring_namespace, (str, type(None)))
        verify_type("capture_traceback", capture_traceback, bool)
        verify_type("dependencies", dependencies, (str, os.PathLike, type(None)))
        if tags is not None and not isinstance(tags, str):
            verify_collection_type("tags", tags, str)
        if source_files is not None and not isinstance(source_files, str):
            verify_collection_type("source_files", source_files, str)
        mode_ = _mode(mode)
        custom_run_id = custom_run_id or os.getenv("NEPTUNE_CUSTOM_RUN_ID")
        if with_id and custom_run_id:
            raise NeptuneRunResumeAndCustomIdCollision()
        if mode_ in (Mode.OFFLINE, Mode.DEBUG):
            raise NeptuneReadOnlyException(f"a run in {mode_.value} mode")
        opened, project_name = _open(project)
        if not with_id:
            if mode_ == Mode.READ_ONLY:
                raise NeedExistingRunForReadOnlyMode()
            raise NeptuneReadOnlyException("creating a run")
        attributes = _atom_attributes(opened, "runs", with_id)
        if attributes is None:
            raise RunNotFound(f"{project_name}/{with_id}")
        self._id = with_id
        super().__init__(opened, project_name, mode_, attributes)

    def __repr__(self) -> str:
        return f"<Run {self._id} of {self._project_name}>"


class Model(_Container):
    """A model opened for reading (`init_model(with_id=...)`): its fields and
    `fetch_model_versions_table`."""

    _kind = "model"
    _table = "models"

    def __init__(
        self,
        with_id: Optional[str] = None,
        *,
        name: Optional[str] = None,
        key: Optional[str] = None,
        project: Optional[str] = None,
        api_token: Optional[str] = None,
        mode: Optional[str] = None,
        flush_period: float = DEFAULT_FLUSH_PERIOD,
        proxies: Optional[dict] = None,
        async_lag_callback=None,
        async_lag_threshold: float = ASYNC_LAG_THRESHOLD,
        async_no_progress_callback=None,
        async_no_progress_threshold: float = ASYNC_NO_PROGRESS_THRESHOLD,
    ):
        verify_type("with_id", with_id, (str, type(None)))
        verify_type("name", name, (str, type(None)))
        verify_type("key", key, (str, type(None)))
        verify_type("project", project, (str, os.PathLike, type(None)))
        verify_type("mode", mode, (str, type(None)))
        mode_ = _mode(mode)
        if mode_ == Mode.OFFLINE:
            raise NeptuneException("Model can't be initialized in OFFLINE mode")
        opened, project_name = _open(project)
        if with_id is None:
            if key is None:
                raise NeptuneMissingRequiredInitParameter(called_function="init_model", parameter_name="key")
            if mode_ == Mode.READ_ONLY:
                raise NeedExistingModelForReadOnlyMode()
            raise NeptuneReadOnlyException("creating a model")
        attributes = _atom_attributes(opened, "models", with_id)
        if attributes is None:
            raise ModelNotFound(f"{project_name}/{with_id}")
        self._id = with_id
        super().__init__(opened, project_name, mode_, attributes)

    def __repr__(self) -> str:
        return f"<Model {self._id} of {self._project_name}>"

    def fetch_model_versions_table(
        self,
        *,
        query: Optional[str] = None,
        columns: Optional[Iterable[str]] = None,
        limit: Optional[int] = None,
        sort_by: str = "sys/creation_time",
        ascending: bool = False,
        progress_bar=None,
    ) -> Table:
        """This model's versions matching `query` (trashed ones left out), as Neptune 1.x's."""
        _verify_fetch_arguments(query, limit, sort_by, ascending, progress_bar)
        query = query if query is not None else ""
        sent = _nql_aggregate(
            [
                _raw_with_trash(query, False),
                _nql_attribute("sys/model_id", "string", "=", self._id, escape=False),
            ],
            "AND",
        )
        return _fetch_table(
            self._project,
            "model_versions",
            query=query,
            sent=sent,
            trashed=False,
            columns=columns,
            limit=limit,
            sort_by=sort_by,
            ascending=ascending,
            model=self._id,
        )


init_project = Project
init_run = Run
init_model = Model


# --- handlers and fields ------------------------------------------------------------------------


class Handler:
    """`object[path]`: the field at `path`, or a namespace of fields."""

    _OBJECT_METHODS = {"exists", "get_structure", "print_structure", "stop", "sync", "wait"}

    def __init__(self, container: _Container, path: str):
        self._container = container
        self._path = str(path)

    def __repr__(self) -> str:
        attr = self._container.get_attribute(self._path)
        if attr is None:
            return f"Unassigned field at path '{self._path}' of {self._container!r}"
        return repr(attr)

    def __getitem__(self, path: str) -> "Handler":
        return Handler(self._container, _join(self._path, path))

    def __setitem__(self, key: str, value) -> None:
        self._container._write(_join(self._path, key))

    def __getattr__(self, item: str):
        if item in Handler._OBJECT_METHODS:
            raise AttributeError(
                "You're invoking an object-level method on a handler for a namespace inside the object.",
                f"""
                                 For example: You're trying run[{self._path}].{item}()
                                 but you probably want run.{item}().

                                 To obtain the root object of the namespace handler, you can do the following:
                                 root_run = run[{self._path}].get_root_object()
                                 root_run.{item}()
                                """,
            )
        return object.__getattribute__(self, item)

    @property
    def container(self) -> _Container:
        return self._container

    def get_root_object(self) -> _Container:
        return self._container

    def _get_attribute(self) -> "_Attribute":
        attr = self._container.get_attribute(self._path)
        if attr is None:
            raise MissingFieldException(self._path)
        return attr

    def _pass(self, name: str, **kwargs):
        return getattr(self._get_attribute(), name)(**kwargs)

    def fetch(self):
        """The field's value; for a namespace, a dictionary of its atom fields' values."""
        return self._pass("fetch")

    def fetch_last(self):
        """A series' last value."""
        return self._pass("fetch_last")

    def fetch_values(self, *, include_timestamp: Optional[bool] = True, progress_bar=None):
        """A series' points as a DataFrame: `step`, `value`, `timestamp` (naive local time)."""
        return self._pass("fetch_values", include_timestamp=include_timestamp, progress_bar=progress_bar)

    def fetch_hash(self) -> str:
        return self._pass("fetch_hash")

    def fetch_extension(self) -> str:
        return self._pass("fetch_extension")

    def fetch_files_list(self):
        return self._pass("fetch_files_list")

    def download(self, destination: Optional[str] = None, progress_bar=None) -> None:
        return self._pass("download", destination=destination)

    def download_last(self, destination: Optional[str] = None) -> None:
        return self._pass("download_last", destination=destination)

    def _write(self, *args, **kwargs) -> None:
        self._container._write(self._path)

    assign = append = extend = log = add = remove = clear = upload = upload_files = _write
    track_files = delete_files = pop = change_stage = _write


class _Attribute:
    """A field of an object. A method its type does not have raises Neptune's
    TypeDoesNotSupportAttributeException."""

    def __init__(self, container: _Container, path: str, nql_type: str, value: Any):
        self._container = container
        self._path = path
        self._type = nql_type
        self._value = value

    def __getattr__(self, attr):
        raise TypeDoesNotSupportAttributeException(type_=type(self), attribute=attr)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} field at \"{self._path}\">"


class _Atom(_Attribute):
    def fetch(self):
        return self._value


class Float(_Atom):
    pass


class Integer(_Atom):
    pass


class Boolean(_Atom):
    pass


class String(_Atom):
    pass


class Datetime(_Atom):
    """`fetch()` gives an aware datetime in UTC (what Neptune's API client parses)."""


class RunState(_Attribute):
    """Neptune 1.x's RunState field has no fetch(): read `sys/state` from a table instead."""


class StringSet(_Attribute):
    def fetch(self) -> set:
        return set(self._value)


class ArtifactVal:
    def __init__(self, hash: str):  # noqa: A002 - Neptune's name
        self.hash = hash

    def __eq__(self, other) -> bool:
        return isinstance(other, ArtifactVal) and other.hash == self.hash

    def __repr__(self) -> str:
        return f"ArtifactVal({self.hash!r})"


class Artifact(_Attribute):
    def fetch(self) -> ArtifactVal:
        return ArtifactVal(self.fetch_hash())

    def fetch_hash(self) -> str:
        return self._value


class _Series(_Attribute):
    _kind = "float"

    def fetch_last(self):
        return self._value

    def fetch_values(self, *, include_timestamp: Optional[bool] = True, progress_bar=None):
        import pandas as pd

        points = self._container._series(self._path, self._kind)
        n = points.num_rows
        if n == 0:
            return pd.DataFrame.from_dict(data={}, orient="index")
        data: Dict[str, list] = {
            "step": points.column("step").to_pylist(),
            "value": points.column("value").to_pylist(),
        }
        if include_timestamp:
            micros = points.column("timestamp").cast(pa.int64()).to_pylist()
            data["timestamp"] = [None if us is None else _local_time(us) for us in micros]
        frame = pd.DataFrame(data)
        frame.index = pd.Index(list(range(n)), dtype="int64")
        return frame


def _local_time(micros: int) -> _dt.datetime:
    # Neptune: datetime.fromtimestamp(timestampMillis / 1000), a naive local time.
    if micros % 1000 == 0:
        return _dt.datetime.fromtimestamp((micros // 1000) / 1000)
    return _dt.datetime.fromtimestamp(micros / 1_000_000)


class FloatSeries(_Series):
    _kind = "float"


class StringSeries(_Series):
    _kind = "string"


def _no_download(*args, **kwargs):
    raise NeptuneException(
        "nql.neptune does not download files: a Neptune export keeps them in its files directory"
    )


class File(_Attribute):
    download = staticmethod(_no_download)


class FileSeries(_Attribute):
    download = download_last = staticmethod(_no_download)


# Neptune's atom types, whose values a namespace's fetch() gathers.
_NAMESPACE_ATOMS = {"float", "int", "bool", "string", "datetime", "experimentState"}


class Namespace(_Attribute):
    def fetch(self) -> dict:
        """The atom fields below this namespace, nested (a state as the API's `running`/`idle`)."""
        prefix = f"{self._path}/" if self._path else ""
        result: dict = {}
        for path in sorted(self._container._attributes):
            t, value = self._container._attributes[path]
            if not path.startswith(prefix) or t not in _NAMESPACE_ATOMS:
                continue
            if t == "experimentState":
                value = {"Active": "running", "Inactive": "idle"}.get(value, value)
            *namespaces, leaf = path[len(prefix) :].split("/")
            node = result
            for n in namespaces:
                node = node.setdefault(n, {})
                if not isinstance(node, dict):  # a field and a namespace of one name
                    break
            else:
                node[leaf] = value
        return result


_ATTRIBUTES = {
    "float": Float,
    "int": Integer,
    "bool": Boolean,
    "string": String,
    "datetime": Datetime,
    "experimentState": RunState,
    "stringSet": StringSet,
    "artifact": Artifact,
    "floatSeries": FloatSeries,
    "stringSeries": StringSeries,
    "fileRef": File,
    "fileRefSeries": FileSeries,
}
