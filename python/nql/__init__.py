"""NQL, the Neptune Query Language, answered over Parquet projects, Neptune exports and MLflow
stores, from Python.

    import nql
    project = nql.open("path/to/project")      # or a Neptune export, an MLflow store
    table = project.query('last(`metrics/acc`):float > 0.9', columns=["metrics/acc"])
    table.to_pandas()

Answers are `pyarrow.Table`s that share the engine's buffers (no copy is made); queries run
with the GIL released and stop on Ctrl-C. `Project.series` gives raw series points.
`nql.neptune` mirrors the read API of Neptune 1.x and `nql.query` that of neptune-query 1.x
(Neptune 3.x) (docs/python.md); `nql.compat.install()` makes `import neptune` and
`import neptune_query` give them.
"""

from __future__ import annotations

import datetime as _dt
import os as _os
import warnings as _warnings
from typing import NamedTuple, Sequence

import pyarrow as _pa

from . import _nql
from ._errors import Diagnostic, NqlError, NqlSyntaxError, NqlWarning, ProjectError

__all__ = [
    "open",
    "Project",
    "Attribute",
    "Diagnostic",
    "NqlError",
    "NqlSyntaxError",
    "NqlWarning",
    "ProjectError",
    "__version__",
]

__version__: str = _nql.__version__

_TABLES = ("runs", "models", "model_versions", "experiments")
_TRASHED = ("exclude", "only", "all")


class Attribute(NamedTuple):
    """An attribute of a table: its path, its NQL type, and how many objects have it."""

    path: str
    type: str
    count: int


def open(  # noqa: A001 - the package's entry point, as `io.open` is io's
    path: str | _os.PathLike,
    *,
    project: str | None = None,
    files: str | _os.PathLike | None = None,
    experiments: Sequence[str] | None = None,
    index_dir: str | _os.PathLike | None = None,
    index: bool = True,
    cluster: str | None = None,
) -> "Project":
    """Opens the project at `path`: a directory in the native layout, a neptune-exporter export
    (a project's directory, or the data root with `project="workspace/name"`), or an MLflow
    store (`mlflow.db`, `sqlite:///...`, an `mlruns/` directory; `experiments` limits it to
    some experiments, by name or id).

    The project's index is built or refreshed first when it is not fresh (`_nql/` in a native
    project, the user's cache for the others, or `index_dir`); `index=False` reads everything
    into memory instead.

    `cluster="df://HOST:PORT"` runs the queries on that Ballista cluster, over the bucketed
    project at `path` (written by `nql partition`, seen at the same path by the scheduler and
    every executor); `Project.series` is not available there (docs/cluster.md). The package
    must be built with its `cluster` feature for it.
    """
    if not isinstance(path, (str, _os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, not {type(path).__name__}")
    if experiments is not None and (isinstance(experiments, str) or not all(isinstance(e, str) for e in experiments)):
        raise TypeError("experiments must be a sequence of str")
    if cluster is not None and not isinstance(cluster, str):
        raise TypeError(f"cluster must be a str (df://HOST:PORT), not {type(cluster).__name__}")
    inner = _nql.Project.open(
        _os.fspath(path),
        project=project,
        files=None if files is None else _os.fspath(files),
        experiments=None if experiments is None else list(experiments),
        index_dir=None if index_dir is None else _os.fspath(index_dir),
        index=bool(index),
        cluster=cluster,
    )
    return Project(inner)


def _now_text(now: _dt.datetime | str | None) -> str | None:
    if now is None:
        return None
    if isinstance(now, str):
        return now
    if isinstance(now, _dt.datetime):
        if now.tzinfo is None:
            now = now.replace(tzinfo=_dt.timezone.utc)
        return now.isoformat()
    raise TypeError(f"now must be a datetime or an RFC 3339 str, not {type(now).__name__}")


def _strings(name: str, values) -> list[str] | None:
    """`None`, a str, or an iterable of str, as a list (or `None`)."""
    if values is None:
        return None
    if isinstance(values, str):
        return [values]
    try:
        values = list(values)
    except TypeError:
        raise TypeError(f"{name} must be a str or a sequence of str, not {type(values).__name__}") from None
    if not all(isinstance(v, str) for v in values):
        raise TypeError(f"{name} must be a str or a sequence of str")
    return values


def _step_range(step_range) -> tuple[float | None, float | None]:
    if step_range is None:
        return None, None
    if not isinstance(step_range, tuple) or len(step_range) != 2:
        raise ValueError(f"step_range must be a tuple (start, end) of numbers or None, not {step_range!r}")
    ends = []
    for end in step_range:
        if end is not None and (isinstance(end, bool) or not isinstance(end, (int, float))):
            raise ValueError(f"step_range must be a tuple (start, end) of numbers or None, not {step_range!r}")
        ends.append(None if end is None else float(end))
    start, end = ends
    if start is not None and end is not None and start > end:
        raise ValueError(f"step_range: start {start} is after end {end}")
    return start, end


def _table(batches) -> _pa.Table:
    """The engine's answer (an Arrow C stream) as a `pyarrow.Table`, without a copy. (Not
    `pa.table(...)`: that checks for a pandas DataFrame first, importing pandas.)"""
    return _pa.RecordBatchReader.from_stream(batches).read_all()


def _check_table(table: str) -> str:
    if table not in _TABLES:
        raise ValueError(f"table must be one of {', '.join(_TABLES)}, not {table!r}")
    return table


class Project:
    """An open project. Safe to share between threads; each query runs with the GIL released."""

    def __init__(self, inner: "_nql.Project"):
        self._inner = inner

    def __repr__(self) -> str:
        return f"<nql.Project: {self.kind}>"

    @property
    def kind(self) -> str:
        """What the project is, as detected: the native layout, a Neptune export, an MLflow store."""
        return self._inner.kind

    @property
    def tables(self) -> list[str]:
        """The tables the project has (`runs`, and `models`, `model_versions`, `experiments` when present)."""
        return list(self._inner.tables())

    def schema(self) -> dict[str, list[Attribute]]:
        """Every table's attributes, from metadata and the index (no values are read)."""
        return {t: [Attribute(*a) for a in self._inner.attributes(t)] for t in self._inner.tables()}

    def query(
        self,
        query: str = "",
        *,
        table: str = "runs",
        columns: Sequence[str] | None = None,
        sort_by: str | None = None,
        ascending: bool = False,
        limit: int | None = None,
        trashed: str = "exclude",
        model: str | None = None,
        now: _dt.datetime | str | None = None,
        timeout: float | None = None,
    ) -> _pa.Table:
        """The objects of `table` that `query` matches, as a `pyarrow.Table` (`sys/id` first).

        `columns`: paths, `path:type` or `agg(path)` to return after `sys/id` (default: every
        attribute). `sort_by` (default `sys/creation_time`), descending unless `ascending`, ties
        by `sys/id`; `limit` keeps the first ones. `trashed`: `exclude`, `only` or `all`. `model`:
        the model whose versions `table="model_versions"` returns. `now`: the instant relative
        datetimes (`-2d`) count from. `timeout`: seconds, then `TimeoutError`.

        Warnings about the query are issued as `NqlWarning`s; an invalid query raises
        `NqlSyntaxError` with the diagnostics.
        """
        if not isinstance(query, str):
            raise TypeError(f"query must be a str, not {type(query).__name__}")
        _check_table(table)
        if trashed not in _TRASHED:
            raise ValueError(f"trashed must be one of {', '.join(_TRASHED)}, not {trashed!r}")
        if columns is not None:
            if isinstance(columns, str):
                columns = [columns]
            columns = list(columns)
            if not all(isinstance(c, str) for c in columns):
                raise TypeError("columns must be a sequence of str")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise ValueError(f"limit must be a non-negative int, not {limit!r}")
        batches, warnings = self._inner.query(
            query,
            table=table,
            columns=columns,
            sort_by=sort_by,
            ascending=bool(ascending),
            limit=limit,
            trashed=trashed,
            model=model,
            now=_now_text(now),
            timeout=None if timeout is None else float(timeout),
        )
        for w in warnings:
            _warnings.warn(w, NqlWarning, stacklevel=2)
        return _table(batches)

    def series(
        self,
        ids: str | Sequence[str] | None = None,
        paths: str | Sequence[str] | None = None,
        step_range: tuple[float | None, float | None] | None = None,
        tail: int | None = None,
        *,
        table: str = "runs",
        kind: str = "float",
        timeout: float | None = None,
    ) -> _pa.Table:
        """The raw points of series, as a `pyarrow.Table` with the columns `sys/id`, `path`,
        `step` (float64), `timestamp` (UTC, null where a point has none) and `value` (float64,
        or string with `kind="string"`), sorted by `sys/id`, `path`, `step`.

        `ids`: the objects of `table` (default: every one); `paths`: the series (default:
        every one); `step_range=(start, end)`: only points with `start <= step <= end`, either
        end open as `None`; `tail`: only the last `tail` points of each series (after the
        range). A Neptune 3.x export's `table="experiments"` gives each experiment's series
        with its ancestors' points up to the fork.
        """
        ids = _strings("ids", ids)
        paths = _strings("paths", paths)
        start, end = _step_range(step_range)
        if tail is not None and (not isinstance(tail, int) or isinstance(tail, bool) or tail <= 0):
            raise ValueError(f"tail must be a positive int or None, not {tail!r}")
        if kind not in ("float", "string"):
            raise ValueError(f"kind must be 'float' or 'string', not {kind!r}")
        batches = self._inner.series(
            ids,
            paths,
            table=_check_table(table),
            kind=kind,
            start=start,
            end=end,
            tail=tail,
            timeout=None if timeout is None else float(timeout),
        )
        return _table(batches)

    def check(self, query: str, *, table: str = "runs") -> str:
        """The canonical form of `query` against `table` (`""` for the empty query), or
        `NqlSyntaxError` carrying every diagnostic. Warnings are issued as `NqlWarning`s."""
        if not isinstance(query, str):
            raise TypeError(f"query must be a str, not {type(query).__name__}")
        canonical, warnings = self._inner.check(query, table=_check_table(table))
        for w in warnings:
            _warnings.warn(w, NqlWarning, stacklevel=2)
        return canonical
