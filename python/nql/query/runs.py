"""`neptune_query.runs`: neptune-query 1.x's functions over runs instead of experiments
(`runs=` selects by `sys/custom_run_id`; frames are indexed by `run`)."""

from __future__ import annotations

from typing import List, Literal, Optional, Tuple, Union

from . import _core
from .exceptions import NeptuneUserError
from .filters import Attribute, AttributeFilter, Filter

__all__ = [
    "list_runs",
    "list_attributes",
    "fetch_runs_table",
    "fetch_metrics",
    "fetch_series",
    "download_files",
]

_RUN = _core.RUN


def list_runs(
    *,
    project: Optional[str] = None,
    runs: Optional[Union[str, List[str], Filter]] = None,
) -> List[str]:
    """The sorted ids (`sys/custom_run_id`) of the runs that `runs` selects (a regex on the id,
    a list of ids, a `Filter`; default every run)."""
    return _core.list_containers(container=_RUN, project=project, filter_=_core.resolve_runs_filter(runs))


def list_attributes(
    *,
    project: Optional[str] = None,
    runs: Optional[Union[str, List[str], Filter]] = None,
    attributes: Optional[Union[str, List[str], AttributeFilter]] = None,
) -> List[str]:
    """The sorted names of the attributes that the selected runs have and `attributes` selects."""
    return _core.list_attributes(
        container=_RUN,
        project=project,
        filter_=_core.resolve_runs_filter(runs),
        attributes=_core.resolve_attributes_filter(attributes),
    )


def fetch_runs_table(
    *,
    project: Optional[str] = None,
    runs: Optional[Union[str, List[str], Filter]] = None,
    attributes: Union[str, List[str], AttributeFilter] = [],  # noqa: B006 - neptune-query's default
    sort_by: Union[str, Attribute] = Attribute("sys/creation_time", type="datetime"),
    sort_direction: Literal["asc", "desc"] = "desc",
    limit: Optional[int] = None,
    type_suffix_in_column_names: bool = False,
):
    """A DataFrame of the selected runs (index `run`, their `sys/custom_run_id`) by the
    attributes `attributes` selects, as `nql.query.fetch_experiments_table` makes it."""
    return _core.fetch_table(
        container=_RUN,
        project=project,
        filter_=_core.resolve_runs_filter(runs),
        attributes=_core.resolve_attributes_filter(attributes),
        sort_by=_core.resolve_sort_by(sort_by),
        sort_direction=sort_direction,
        limit=limit,
        type_suffix_in_column_names=type_suffix_in_column_names,
        exact_attribute_names=attributes if isinstance(attributes, list) else None,
    )


def fetch_metrics(
    *,
    project: Optional[str] = None,
    runs: Union[str, List[str], Filter],
    attributes: Union[str, List[str], AttributeFilter],
    include_time: Optional[Literal["absolute"]] = None,
    step_range: Tuple[Optional[float], Optional[float]] = (None, None),
    lineage_to_the_root: bool = True,
    tail_limit: Optional[int] = None,
    type_suffix_in_column_names: bool = False,
    include_point_previews: bool = False,
):
    """The points of the selected runs' float series, rows `(run, step)` (see
    `nql.query.fetch_metrics`)."""
    return _core.fetch_series_frame(
        container=_RUN,
        project=project,
        filter_=_core.resolve_runs_filter(runs),
        attributes=_core.resolve_attributes_filter(attributes),
        kind="float",
        include_time=include_time,
        step_range=step_range,
        lineage_to_the_root=lineage_to_the_root,
        tail_limit=tail_limit,
        type_suffix_in_column_names=type_suffix_in_column_names,
        include_point_previews=include_point_previews,
    )


def fetch_series(
    *,
    project: Optional[str] = None,
    runs: Union[str, List[str], Filter],
    attributes: Union[str, List[str], AttributeFilter],
    include_time: Optional[Literal["absolute"]] = None,
    step_range: Tuple[Optional[float], Optional[float]] = (None, None),
    lineage_to_the_root: bool = True,
    tail_limit: Optional[int] = None,
):
    """The values of the selected runs' string series, rows `(run, step)` (see
    `nql.query.fetch_series`)."""
    return _core.fetch_series_frame(
        container=_RUN,
        project=project,
        filter_=_core.resolve_runs_filter(runs),
        attributes=_core.resolve_attributes_filter(attributes),
        kind="string",
        include_time=include_time,
        step_range=step_range,
        lineage_to_the_root=lineage_to_the_root,
        tail_limit=tail_limit,
    )


def download_files(*, files, destination=None):
    """Not mirrored (see `nql.query.download_files`): raises `NeptuneUserError`."""
    raise NeptuneUserError(
        "nql.query does not download files: a Neptune export keeps them in its files directory, "
        "where File.path (relative to it) names each one"
    )
