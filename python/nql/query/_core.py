"""What `nql.query` and `nql.query.runs` share: neptune-query's argument resolution and checks,
its type inference for filters, and its DataFrame construction (`internal/output_format.py`),
answered by the engine instead of Neptune's API."""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.compute as pc

import nql as _nql
from nql import _projects

from . import filters
from .exceptions import (
    AttributeTypeInferenceError,
    ConflictingAttributeTypes,
    NeptuneInvalidQuery,
    NeptuneProjectInaccessible,
    NeptuneProjectNotProvided,
    warn_unsupported_value_type,
)
from .types import File
from .warnings import AttributeWarning

# The instant relative datetimes in queries count from (None: the clock); tests set it.
_NOW: Optional[str] = None


@dataclass(frozen=True)
class Container:
    """Experiments (`nql.query`) or runs (`nql.query.runs`): the engine's table, the attribute
    that labels an object, and the frames' index name."""

    table: str
    label: str
    index: str


EXPERIMENT = Container(table="experiments", label="sys/name", index="experiment")
RUN = Container(table="runs", label="sys/custom_run_id", index="run")


# --- arguments (neptune_query._internal) --------------------------------------------------------


def resolve_experiments_filter(experiments) -> Optional[filters._Filter]:
    """`experiments=` as neptune-query reads it: a regex on `sys/name`, a non-empty list of
    names, a `Filter`, or None (every experiment)."""
    if experiments is None:
        return None
    if isinstance(experiments, str):
        return filters.Filter.name(experiments)._to_internal()
    if experiments == []:
        raise ValueError(
            "Invalid type for `experiments` filter. Expected str, non-empty list of str, or Filter object, but got "
            "an empty list"
        )
    if isinstance(experiments, list):
        name = filters.Attribute("sys/name", type="string")._to_internal()
        return filters._Filter.any([filters._Filter.eq(name, e) for e in experiments])
    if isinstance(experiments, filters.Filter):
        return experiments._to_internal()
    raise ValueError(
        "Invalid type for `experiments` filter. Expected str, non-empty list of str, or Filter object, but got "
        f"{type(experiments)}."
    )


def resolve_runs_filter(runs) -> Optional[filters._Filter]:
    """`runs=` as neptune-query reads it, over `sys/custom_run_id`."""
    if isinstance(runs, str):
        return filters.Filter.matches(filters.Attribute("sys/custom_run_id", type="string"), runs)._to_internal()
    if runs == []:
        raise ValueError(
            "Invalid type for `runs` filter. Expected str, non-empty list of str, or Filter object, but got "
            "an empty list"
        )
    if isinstance(runs, list):
        run_id = filters._Attribute("sys/custom_run_id", type="string")
        return filters._Filter.any([filters._Filter.eq(run_id, r) for r in runs])
    if isinstance(runs, filters.Filter):
        return runs._to_internal()
    if runs is None:
        return None
    raise ValueError(
        f"Invalid type for `runs` filter. Expected str, non-empty list of str, or Filter object, but got {type(runs)}."
    )


def resolve_attributes_filter(attributes):
    """`attributes=`: a regex on names, a list of exact names, an `AttributeFilter` (or an
    alternative of them), or None (every attribute)."""
    if attributes is None:
        return filters.AttributeFilter()._to_internal()
    if isinstance(attributes, (str, list)):
        return filters.AttributeFilter(name=attributes)._to_internal()
    if isinstance(attributes, filters.BaseAttributeFilter):
        return attributes._to_internal()
    raise ValueError(
        "Invalid type for `attributes` filter. Expected str, non-empty list of str, or AttributeFilter object, "
        f"but got {type(attributes)}."
    )


def resolve_sort_by(sort_by) -> filters._Attribute:
    if isinstance(sort_by, str):
        return filters.Attribute(sort_by)._to_internal()
    if isinstance(sort_by, filters.Attribute):
        return sort_by._to_internal()
    raise ValueError(f"Invalid type for `sort_by`. Expected str or Attribute object, but got {type(sort_by)}.")


# --- checks (internal/composition/validation.py) ------------------------------------------------


def _validate_optional_positive_int(value, name: str) -> None:
    if value is not None:
        if not isinstance(value, int):
            raise ValueError(f"{name} must be None or an integer")
        if value <= 0:
            raise ValueError(f"{name} must be greater than 0")


def validate_limit(limit) -> None:
    _validate_optional_positive_int(limit, "limit")


def validate_tail_limit(tail_limit) -> None:
    _validate_optional_positive_int(tail_limit, "tail_limit")


def validate_sort_direction(sort_direction) -> str:
    if sort_direction not in ("asc", "desc"):
        raise ValueError(f"sort_direction '{sort_direction}' is invalid; must be 'asc' or 'desc'")
    return sort_direction


def validate_include_time(include_time) -> None:
    if include_time is not None and include_time not in ["absolute"]:
        raise ValueError("include_time must be 'absolute'")


def validate_step_range(step_range) -> None:
    if not isinstance(step_range, tuple) or len(step_range) != 2:
        raise ValueError("step_range must be a tuple of two values")
    start, end = step_range
    if start is not None and not isinstance(start, (int, float)):
        raise ValueError("step_range start must be None or a number")
    if end is not None and not isinstance(end, (int, float)):
        raise ValueError("step_range end must be None or a number")
    if start is not None and end is not None and start > end:
        raise ValueError("step_range start must be less than or equal to end")


def restrict_attribute_filter_type(attribute_filter, type_in: Sequence[str]):
    """The filter with its types cut down to `type_in`; a leaf with none of them raises."""

    def restrict(leaf: filters._AttributeFilter) -> filters._AttributeFilter:
        intersection = [t for t in leaf.type_in if t in type_in]
        if intersection:
            return filters._AttributeFilter(
                name_eq=leaf.name_eq, type_in=intersection, must_match_any=leaf.must_match_any
            )
        types = list(type_in)
        label = f"{types[0]} type is" if len(types) == 1 else f"{', '.join(types[:-1])} or {types[-1]} types are"
        raise ValueError(
            f"Only {label} supported for attribute filters in this function "
            f"and the filter contains types: {', '.join(leaf.type_in)}"
        )

    def walk(f):
        if isinstance(f, filters._AttributeFilterAlternative):
            return filters._AttributeFilterAlternative([walk(x) for x in f.filters])
        return restrict(f)

    return walk(attribute_filter)


# --- the project ----------------------------------------------------------------------------------


@dataclass
class Opened:
    """An open project and what a call needs of it: its name, and its tables' columns as
    (result column, path, NQL type)."""

    project: "_nql.Project"
    name: str

    def has(self, table: str) -> bool:
        return table in self.project.tables

    def columns(self, table: str) -> List[Tuple[str, str, str]]:
        return [tuple(c) for c in self.project._inner.columns(table)]  # type: ignore[misc]


def open_project(project) -> Opened:
    """`project=` as nql.neptune reads it (a directory, or `workspace/project` under
    `NQL_DATA`), else `NEPTUNE_PROJECT`, with neptune-query's exceptions."""
    if project is not None and not isinstance(project, (str,)) and not hasattr(project, "__fspath__"):
        raise TypeError("project must be a str or NoneType (was {})".format(type(project)))
    try:
        opened, name = _projects.open_project(project or None, who="nql.query")
    except _projects.NoProjectName:
        raise NeptuneProjectNotProvided() from None
    except _projects.UnknownProject as e:
        error = NeptuneProjectInaccessible()
        error.args = (f"{error.args[0]}\n{e.reason}",)
        raise error from None
    return Opened(opened, name)


# --- type inference (internal/composition/type_inference.py) ---------------------------------------

_KNOWN_SYS_ATTRIBUTES = {
    "sys/archived": "bool",
    "sys/creation_time": "datetime",
    "sys/custom_run_id": "string",
    "sys/description": "string",
    "sys/diagnostics/attributes/bool_count": "int",
    "sys/diagnostics/attributes/file_ref_count": "int",
    "sys/diagnostics/attributes/file_ref_series_count": "int",
    "sys/diagnostics/attributes/float_count": "int",
    "sys/diagnostics/attributes/float_series_count": "int",
    "sys/diagnostics/attributes/histogram_count": "int",
    "sys/diagnostics/attributes/histogram_series_count": "int",
    "sys/diagnostics/attributes/int_count": "int",
    "sys/diagnostics/attributes/string_count": "int",
    "sys/diagnostics/attributes/string_series_count": "int",
    "sys/diagnostics/attributes/string_set_count": "int",
    "sys/diagnostics/attributes/total_count": "int",
    "sys/diagnostics/attributes/total_series_datapoints": "int",
    "sys/diagnostics/project_uuid": "string",
    "sys/diagnostics/run_uuid": "string",
    "sys/experiment/is_head": "bool",
    "sys/experiment/name": "string",
    "sys/experiment/running_time_seconds": "float",
    "sys/failed": "bool",
    "sys/family": "string",
    "sys/forking/depth": "int",
    "sys/group_tags": "string_set",
    "sys/id": "string",
    "sys/modification_time": "datetime",
    "sys/name": "string",
    "sys/owner": "string",
    "sys/ping_time": "datetime",
    "sys/relative_creation_time_ms": "int",
    "sys/running_time_seconds": "float",
    "sys/size": "int",
    "sys/tags": "string_set",
    "sys/trashed": "bool",
}


def _project_types(opened: Opened) -> Dict[str, set]:
    """Every attribute path of the project (all its runs) and its neptune-query types."""
    types: Dict[str, set] = {}
    for _, path, t in opened.columns("runs"):
        types.setdefault(path, set()).add(filters.python_type(t))
    return types


def _infer(attributes: List[filters._Attribute], opened: Opened, *, conflicts_as_string: bool) -> List[str]:
    """Gives each untyped attribute its type, as neptune-query does: a known system attribute's,
    else the one type the project has for it; unknown ones become `string` with a warning.
    Returns the errors (conflicting types), or raises nothing itself."""
    pending = [a for a in attributes if a.type is None]
    for a in pending:
        if a.name in _KNOWN_SYS_ATTRIBUTES:
            a.type = _KNOWN_SYS_ATTRIBUTES[a.name]
    pending = [a for a in pending if a.type is None]
    if not pending:
        return []
    project_types = _project_types(opened)
    errors = []
    for a in pending:
        found = project_types.get(a.name, set())
        if len(found) == 1:
            a.type = next(iter(found))
        elif len(found) > 1:
            error = (
                "Neptune found the attribute name in multiple runs and experiments across the project "
                f"with conflicting types: {', '.join(sorted(found))}"
            )
            if conflicts_as_string:
                a.type = "string"
                warnings.warn(AttributeWarning(f"Attribute '{a.name}': {error}"), stacklevel=4)
            else:
                errors.append(f"{a.name}: {error}")
        else:
            a.type = "string"
            warnings.warn(AttributeWarning(f"Attribute '{a.name}': Attribute doesn't exist in the project"), stacklevel=4)
    return errors


def infer_filter(filter_: Optional[filters._Filter], opened: Opened) -> Optional[filters._Filter]:
    """A copy of the filter with every attribute typed (or AttributeTypeInferenceError)."""
    if filter_ is None:
        return None
    filter_ = copy.deepcopy(filter_)
    attributes = list(filter_.attributes())
    if all(a.type is not None for a in attributes):
        return filter_
    names = [a.name for a in attributes if a.type is None]
    errors = _infer(attributes, opened, conflicts_as_string=False)
    if errors:
        failed = [n for n in dict.fromkeys(names) if any(e.startswith(f"{n}:") for e in errors)]
        raise AttributeTypeInferenceError(attribute_names=failed, details=errors)
    return filter_


def infer_sort_by(sort_by: filters._Attribute, opened: Opened) -> filters._Attribute:
    sort_by = copy.deepcopy(sort_by)
    _infer([sort_by], opened, conflicts_as_string=True)
    return sort_by


# --- fetching -------------------------------------------------------------------------------------

# NQL types whose values neptune-query gives (others: experimentState is "unsupported", None).
_VALUE_TYPES = {
    "float",
    "int",
    "string",
    "bool",
    "datetime",
    "stringSet",
    "floatSeries",
    "stringSeries",
    "fileRef",
}


# Histogram and file series: the index records that an object has one, not its last value.
_NO_VALUE = {"histogramSeries", "fileRefSeries"}


def _query(opened: Opened, container: Container, filter_: Optional[filters._Filter], **options) -> pa.Table:
    query = "" if filter_ is None else str(filter_)
    try:
        return opened.project.query(query, table=container.table, trashed="exclude", now=_NOW, **options)
    except _nql.NqlSyntaxError as e:
        raise NeptuneInvalidQuery(query, e.render(), e.diagnostics) from None


def _label_column(described: List[Tuple[str, str, str]], container: Container) -> Optional[str]:
    for name, path, t in described:
        if path == container.label and t == "string":
            return name
    return None


def _labels(answer: pa.Table, label_column: Optional[str]) -> List[str]:
    """Each object's label (`sys/name`, `sys/custom_run_id`), its `sys/id` where it has none."""
    ids = answer.column("sys/id").to_pylist()
    if label_column is None:
        return ids
    labels = answer.column(label_column).to_pylist()
    return [label if label is not None else i for label, i in zip(labels, ids)]


def _sort_column(described, sort_by: filters._Attribute) -> str:
    """The engine's column for neptune-query's (typed) sort attribute; `sys/id` when the table
    has no such attribute (every object's key is missing, so ties order them)."""
    for name, path, t in described:
        if path == sort_by.name and filters.python_type(t) == sort_by.type:
            return name
    return "sys/id"


def empty_table(container: Container):
    import pandas as pd

    return pd.DataFrame(index=pd.Index([], name=container.index), columns=pd.Index([], name="attribute"))


def fetch_table(
    *,
    container: Container,
    project,
    filter_,
    attributes,
    sort_by: filters._Attribute,
    sort_direction: str,
    limit: Optional[int],
    type_suffix_in_column_names: bool,
    exact_attribute_names: Optional[List[str]],
):
    """neptune-query's `fetch_table`: one row per object (index: its label), one column per
    attribute that the filter selects and some returned object has, sorted by name."""
    import pandas as pd

    validate_limit(limit)
    ascending = validate_sort_direction(sort_direction) == "asc"
    opened = open_project(project)
    if not opened.has(container.table):
        return empty_table(container)
    filter_ = infer_filter(filter_, opened)
    sort_by = infer_sort_by(sort_by, opened)
    described = opened.columns(container.table)
    label_column = _label_column(described, container)
    if exact_attribute_names is not None:
        # neptune-query asks the server for these paths with every type they have.
        names = set(exact_attribute_names)
        wanted = [c for c in described if c[1] in names]
    else:
        wanted = [
            c for c in described if c[2] in _VALUE_TYPES and attributes.matches(c[1], filters.python_type(c[2]))
        ]
    columns = [c[0] for c in wanted if c[0] != "sys/id"]
    if label_column is not None and label_column not in columns:
        columns.append(label_column)
    answer = _query(
        opened,
        container,
        filter_,
        columns=columns,
        sort_by=_sort_column(described, sort_by),
        ascending=ascending,
        limit=limit,
    )
    if answer.num_rows == 0:
        return empty_table(container)
    labels = _labels(answer, label_column)
    rows: List[dict] = [{} for _ in labels]
    for name, path, t in wanted:
        column_name = f"{path}:{filters.python_type(t)}"
        if t in _NO_VALUE:
            continue
        if t not in _VALUE_TYPES:
            warn_unsupported_value_type(t)
            for row in rows:
                row[column_name] = None
            continue
        values = answer.column(name).to_pylist()
        for row, label, value in zip(rows, labels, values):
            if value is None:
                continue
            if t == "stringSet":
                value = set(value)
            elif t == "fileRef":
                value = _file(opened, container, label, path, None, value)
            row[column_name] = value
    for row, label in zip(rows, labels):
        row[container.index] = label
    frame = pd.DataFrame(rows)
    if not type_suffix_in_column_names:
        original = list(frame.columns)
        frame.columns = pd.Index([c.rsplit(":", 1)[0] if c != container.index else c for c in original])
        duplicated = frame.columns.duplicated(keep=False)
        if duplicated.any():
            raise ConflictingAttributeTypes(list(dict.fromkeys(frame.columns[duplicated])))
    frame = frame.set_index(container.index, drop=True)
    frame.columns.name = "attribute"
    return frame[sorted(frame.columns)]


def _file(opened: Opened, container: Container, label: str, path: str, step, value: str) -> File:
    return File(
        project_identifier=opened.name,
        experiment_name=label if container is EXPERIMENT else None,
        run_id=label if container is RUN else None,
        attribute_path=path,
        step=step,
        path=value,
        size_bytes=None,
        mime_type=None,
    )


def list_containers(*, container: Container, project, filter_) -> List[str]:
    """The sorted labels of the objects the filter matches."""
    opened = open_project(project)
    if not opened.has(container.table):
        return []
    filter_ = infer_filter(filter_, opened)
    label_column = _label_column(opened.columns(container.table), container)
    answer = _query(opened, container, filter_, columns=[label_column] if label_column else [])
    return sorted(_labels(answer, label_column))


def _present(column: pa.ChunkedArray, nql_type: str) -> bool:
    """Whether some object has this attribute (histogram and file series read as present/absent)."""
    if pa.types.is_boolean(column.type) and nql_type in ("histogramSeries", "fileRefSeries"):
        return bool(pc.any(column).as_py())
    return column.null_count < len(column)


def list_attributes(*, container: Container, project, filter_, attributes) -> List[str]:
    """The sorted, unique names of the attributes the filter selects that the matching objects
    have."""
    opened = open_project(project)
    if not opened.has(container.table):
        return []
    filter_ = infer_filter(filter_, opened)
    described = opened.columns(container.table)
    wanted = [c for c in described if attributes.matches(c[1], filters.python_type(c[2]))]
    if not wanted:
        return []
    answer = _query(opened, container, filter_, columns=[c[0] for c in wanted if c[0] != "sys/id"])
    if answer.num_rows == 0:
        return []
    return sorted({path for name, path, t in wanted if _present(answer.column(name), t)})


# --- series -------------------------------------------------------------------------------------


def _objects(opened: Opened, container: Container, filter_) -> Tuple[List[str], Dict[str, str]]:
    """The ids of the objects the filter matches, and their labels."""
    filter_ = infer_filter(filter_, opened)
    label_column = _label_column(opened.columns(container.table), container)
    answer = _query(opened, container, filter_, columns=[label_column] if label_column else [])
    ids = answer.column("sys/id").to_pylist()
    return ids, dict(zip(ids, _labels(answer, label_column)))


def _series_paths(opened: Opened, container: Container, attributes, nql_types: Sequence[str]) -> List[str]:
    return sorted(
        {
            path
            for _, path, t in opened.columns(container.table)
            if t in nql_types and attributes.matches(path, filters.python_type(t))
        }
    )


def _points(
    opened: Opened,
    ids: List[str],
    paths: List[str],
    *,
    kind: str,
    lineage: bool,
    step_range: Tuple[Optional[float], Optional[float]],
    tail: Optional[int],
):
    """The points of these objects' series as a pandas frame `sys/id, path, step, timestamp,
    value`, read from the runs table. With `lineage`, a fork's series start with its ancestors'
    points (following `sys/forking/parent`, each ancestor's up to the lowest fork step below it),
    as Neptune's `lineage_to_the_root=True` shows them; then the range and the tail apply."""
    if not ids or not paths:
        return None
    chains = _lineages(opened, ids) if lineage else {i: [(i, math.inf)] for i in ids}
    if all(len(chain) == 1 for chain in chains.values()):
        return opened.project.series(ids, paths, step_range, tail, table="runs", kind=kind).to_pandas()
    import pandas as pd

    every = sorted({rid for chain in chains.values() for rid, _ in chain})
    points = opened.project.series(every, paths, table="runs", kind=kind).to_pandas()
    by_run = dict(tuple(points.groupby("sys/id", sort=False)))
    start, end = step_range
    parts = []
    for target in ids:
        pieces = []
        for rid, limit in chains[target]:
            own = by_run.get(rid)
            if own is None:
                continue
            pieces.append(own[own["step"] <= limit] if limit != math.inf else own)
        if not pieces:
            continue
        series = pd.concat(pieces, ignore_index=True).assign(**{"sys/id": target})
        series = series.sort_values(["path", "step"], kind="stable")
        if start is not None:
            series = series[series["step"] >= start]
        if end is not None:
            series = series[series["step"] <= end]
        if tail is not None:
            series = series.groupby("path", sort=False).tail(tail)
        parts.append(series)
    if not parts:
        return points.iloc[0:0]
    return pd.concat(parts, ignore_index=True)


def _lineages(opened: Opened, ids: List[str]) -> Dict[str, List[Tuple[str, float]]]:
    """Per object, its run and ancestors, each with the highest step of its own points that
    belongs to the object's lineage."""
    described = opened.columns("runs")
    need = {}
    for name, path, t in described:
        if (path, t) in (("sys/custom_run_id", "string"), ("sys/forking/parent", "string"), ("sys/forking/step", "float")):
            need[path] = name
    if "sys/forking/parent" not in need or "sys/custom_run_id" not in need:
        return {i: [(i, math.inf)] for i in ids}
    answer = opened.project.query("", table="runs", columns=list(need.values()), trashed="all")
    run_ids = answer.column("sys/id").to_pylist()
    custom = answer.column(need["sys/custom_run_id"]).to_pylist()
    parents = answer.column(need["sys/forking/parent"]).to_pylist()
    steps = (
        answer.column(need["sys/forking/step"]).to_pylist() if "sys/forking/step" in need else [None] * len(run_ids)
    )
    by_custom = {c: r for r, c in zip(run_ids, custom) if c is not None}
    fork = {r: (p, s) for r, p, s in zip(run_ids, parents, steps)}
    chains = {}
    for target in ids:
        chain = [(target, math.inf)]
        seen = {target}
        limit = math.inf
        current = target
        while True:
            parent, step = fork.get(current, (None, None))
            if parent is None or step is None:
                break
            ancestor = by_custom.get(parent)
            if ancestor is None or ancestor in seen:
                break
            limit = min(limit, step)
            chain.append((ancestor, limit))
            seen.add(ancestor)
            current = ancestor
        chains[target] = chain
    return chains


def _pivot(df, index_column_name: str, timestamp_column_name: Optional[str], extra_value_columns: List[str]):
    """neptune-query's `_pivot_df`: (object, step) rows by path columns, keeping every observed
    (object, step) and path."""
    import pandas as pd

    observed_idx = pd.MultiIndex.from_frame(
        df[[index_column_name, "step"]].astype({index_column_name: "uint32", "step": "float64"}).drop_duplicates()
    )
    if df.empty and timestamp_column_name:
        df[timestamp_column_name] = pd.Series(dtype="datetime64[ns]")
    if extra_value_columns:
        value_columns = ["value"] + extra_value_columns
        observed_columns = pd.MultiIndex.from_tuples(
            [(value, path) for path in df["path"].unique() for value in value_columns], names=[None, "path"]
        )
        df = df.pivot_table(
            index=[index_column_name, "step"], columns="path", aggfunc="first", observed=True, dropna=True, sort=False
        )
    else:
        observed_columns = df["path"].unique()
        df = df.pivot_table(
            index=[index_column_name, "step"],
            columns="path",
            values="value",
            aggfunc="first",
            observed=True,
            dropna=True,
            sort=False,
        )
    return df.reindex(index=observed_idx, columns=observed_columns)


def _restore_labels(df, column_name: str, labels: List[str]):
    if df.index.empty:
        df.index = df.index.set_levels(df.index.get_level_values(column_name).astype(str), level=column_name)
        return df
    return df.rename(index={i: label for i, label in enumerate(labels)}, level=column_name)


def _restore_paths(df, paths: List[str], type_suffix: Optional[str]):
    import pandas as pd

    if df.columns.empty:
        if isinstance(df.columns, pd.MultiIndex):
            df.columns = df.columns.set_levels(df.columns.get_level_values("path").astype(str), level="path")
        else:
            df.columns = df.columns.astype(str)
        return df
    if type_suffix:
        mapping = {i: f"{p}:{type_suffix}" for i, p in enumerate(paths)}
    else:
        mapping = dict(enumerate(paths))
    return df.rename(columns=mapping)


def _sort(df, index_column_name: str):
    import pandas as pd

    if isinstance(df.columns, pd.MultiIndex):
        df.columns.names = (None, None)
        df = df.swaplevel(axis="columns")
        df = df.sort_index(axis="columns", level=0, kind="stable", sort_remaining=False)
    else:
        df.columns.name = None
        df = df.sort_index(axis="columns")
    return df.sort_index(axis="index", level=[index_column_name, "step"])


def fetch_series_frame(
    *,
    container: Container,
    project,
    filter_,
    attributes,
    kind: str,
    include_time,
    step_range,
    lineage_to_the_root: bool,
    tail_limit,
    type_suffix_in_column_names: bool = False,
    include_point_previews: bool = False,
):
    """neptune-query's `fetch_metrics` (kind `float`) and `fetch_series` (kind `string`): rows
    `(object, step)` sorted, one column per series path (sorted), or `(path, value |
    absolute_time | is_preview | preview_completion)` columns."""
    import numpy as np
    import pandas as pd

    validate_step_range(step_range)
    validate_tail_limit(tail_limit)
    validate_include_time(include_time)
    if kind == "float":
        attributes = restrict_attribute_filter_type(attributes, ["float_series"])
        nql_types = ["floatSeries"]
    else:
        attributes = restrict_attribute_filter_type(attributes, ["string_series", "histogram_series", "file_series"])
        nql_types = ["stringSeries"]
    opened = open_project(project)
    timestamp_column = "absolute_time" if include_time == "absolute" else None
    previews = include_point_previews and kind == "float"
    if opened.has(container.table):
        ids, labels = _objects(opened, container, filter_)
        paths = _series_paths(opened, container, attributes, nql_types)
        points = _points(
            opened, ids, paths, kind=kind, lineage=lineage_to_the_root, step_range=step_range, tail=tail_limit
        )
    else:
        ids, labels, paths, points = [], {}, [], None
    codes = {i: n for n, i in enumerate(ids)}
    path_codes = {p: n for n, p in enumerate(paths)}
    if points is None or len(points) == 0:
        data = {
            container.index: np.array([], dtype="uint32"),
            "path": np.array([], dtype="uint32"),
            "step": np.array([], dtype="float64"),
            "value": np.array([], dtype="float64" if kind == "float" else "object"),
        }
        timestamps = np.array([], dtype="int64")
    else:
        data = {
            container.index: points["sys/id"].map(codes).to_numpy(dtype="uint32"),
            "path": points["path"].map(path_codes).to_numpy(dtype="uint32"),
            "step": points["step"].to_numpy(dtype="float64"),
            "value": points["value"].to_numpy(dtype="float64" if kind == "float" else "object"),
        }
        timestamps = _milliseconds(points["timestamp"])
    extra: List[str] = []
    if timestamp_column:
        data[timestamp_column] = timestamps
        extra.append(timestamp_column)
    if previews:
        n = len(data["step"])
        # Every exported point is committed: none is a preview, each complete.
        data["is_preview"] = np.zeros(n, dtype="bool")
        data["preview_completion"] = np.ones(n, dtype="float64")
        extra += ["is_preview", "preview_completion"]
    df = pd.DataFrame(data)
    if timestamp_column:
        df[timestamp_column] = pd.to_datetime(df[timestamp_column], unit="ms", origin="unix", utc=True)
    df = _pivot(df, container.index, timestamp_column, extra)
    df = _restore_labels(df, container.index, [labels[i] for i in ids])
    suffix = "float_series" if (kind == "float" and type_suffix_in_column_names) else None
    df = _restore_paths(df, paths, suffix)
    return _sort(df, container.index)


def _milliseconds(stamps):
    """Timestamps as int64 milliseconds since the epoch (what Neptune's API sends), a missing
    one as <NA>."""
    import pandas as pd

    missing = stamps.isna().to_numpy()
    micros = stamps.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]").to_numpy().astype("int64")
    millis = micros // 1000
    if missing.any():
        return pd.arrays.IntegerArray(millis, missing)
    return millis
