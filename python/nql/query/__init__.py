"""A mirror of neptune-query 1.x (`import neptune_query as nq`, the Neptune 3.x read API),
answered by the NQL engine over a Neptune 3.x export (or any project nql opens):

    import nql.query as nq               # or: nql.compat.install(); import neptune_query as nq

    nq.fetch_experiments_table(project="acme/llm", experiments="^lr", attributes=r"config/ | val/loss")
    nq.fetch_metrics(project="acme/llm", experiments=["lr-sweep"], attributes="loss$")

`project=` is a directory, or a `workspace/project` id looked up in the export whose data
directory `NQL_DATA` names (else `NEPTUNE_PROJECT`). Experiments are the export's head runs (the
engine's `experiments` table); `nql.query.runs` has the same functions over every run. The
arguments, checks, exceptions, NQL text of filters and DataFrame shapes are neptune-query's;
docs/python.md lists what differs and what is left out.
"""

from __future__ import annotations

from typing import List, Literal, Optional, Tuple, Union

from . import exceptions, filters, runs, types, warnings
from . import _core
from .exceptions import NeptuneUserError
from .filters import Attribute, AttributeFilter, Filter

__all__ = [
    "set_api_token",
    "list_experiments",
    "list_attributes",
    "fetch_experiments_table",
    "fetch_metrics",
    "fetch_series",
    "download_files",
    "filters",
    "runs",
    "types",
    "exceptions",
    "warnings",
]

_EXPERIMENT = _core.EXPERIMENT


def set_api_token(api_token: str) -> None:
    """Accepted and ignored: an export needs no token."""


def list_experiments(
    *,
    project: Optional[str] = None,
    experiments: Optional[Union[str, List[str], Filter]] = None,
) -> List[str]:
    """The sorted names of the experiments that `experiments` selects (a regex on the name, a
    list of names, a `Filter`; default every experiment)."""
    return _core.list_containers(
        container=_EXPERIMENT, project=project, filter_=_core.resolve_experiments_filter(experiments)
    )


def list_attributes(
    *,
    project: Optional[str] = None,
    experiments: Optional[Union[str, List[str], Filter]] = None,
    attributes: Optional[Union[str, List[str], AttributeFilter]] = None,
) -> List[str]:
    """The sorted names of the attributes that the selected experiments have and `attributes`
    selects."""
    return _core.list_attributes(
        container=_EXPERIMENT,
        project=project,
        filter_=_core.resolve_experiments_filter(experiments),
        attributes=_core.resolve_attributes_filter(attributes),
    )


def fetch_experiments_table(
    *,
    project: Optional[str] = None,
    experiments: Optional[Union[str, List[str], Filter]] = None,
    attributes: Union[str, List[str], AttributeFilter] = [],  # noqa: B006 - neptune-query's default
    sort_by: Union[str, Attribute] = Attribute("sys/creation_time", type="datetime"),
    sort_direction: Literal["asc", "desc"] = "desc",
    limit: Optional[int] = None,
    type_suffix_in_column_names: bool = False,
):
    """A DataFrame of the selected experiments (index `experiment`, their names) by the
    attributes `attributes` selects (columns named by path, sorted; a series gives its last
    value, a set a `set`, a datetime an aware UTC one). The default `attributes=[]` gives no
    columns."""
    return _core.fetch_table(
        container=_EXPERIMENT,
        project=project,
        filter_=_core.resolve_experiments_filter(experiments),
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
    experiments: Union[str, List[str], Filter],
    attributes: Union[str, List[str], AttributeFilter],
    include_time: Optional[Literal["absolute"]] = None,
    step_range: Tuple[Optional[float], Optional[float]] = (None, None),
    lineage_to_the_root: bool = True,
    tail_limit: Optional[int] = None,
    type_suffix_in_column_names: bool = False,
    include_point_previews: bool = False,
):
    """The points of the selected float series: rows `(experiment, step)`, sorted, one float64
    column per metric path (sorted); with `include_time="absolute"` or previews, columns
    `(path, value | absolute_time | is_preview | preview_completion)`. `step_range` is
    inclusive; `tail_limit` keeps each series' last points; `lineage_to_the_root` puts a
    fork's ancestors' points first."""
    return _core.fetch_series_frame(
        container=_EXPERIMENT,
        project=project,
        filter_=_core.resolve_experiments_filter(experiments),
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
    experiments: Union[str, List[str], Filter],
    attributes: Union[str, List[str], AttributeFilter],
    include_time: Optional[Literal["absolute"]] = None,
    step_range: Tuple[Optional[float], Optional[float]] = (None, None),
    lineage_to_the_root: bool = True,
    tail_limit: Optional[int] = None,
):
    """The values of the selected string series, shaped as `fetch_metrics` shapes metrics
    (object values). Histogram and file series are not in an export's index: none are given."""
    return _core.fetch_series_frame(
        container=_EXPERIMENT,
        project=project,
        filter_=_core.resolve_experiments_filter(experiments),
        attributes=_core.resolve_attributes_filter(attributes),
        kind="string",
        include_time=include_time,
        step_range=step_range,
        lineage_to_the_root=lineage_to_the_root,
        tail_limit=tail_limit,
    )


def download_files(*, files, destination=None):
    """Not mirrored: an export keeps its files in its files directory (`File.path` is relative
    to it). Raises `NeptuneUserError`."""
    raise NeptuneUserError(
        "nql.query does not download files: a Neptune export keeps them in its files directory, "
        "where File.path (relative to it) names each one"
    )
