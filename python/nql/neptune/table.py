"""`neptune.table` of Neptune 1.x: the `Table` that `fetch_runs_table` and friends return, its
`TableEntry` rows, and `to_pandas()` with Neptune's rules (see docs/python.md)."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute

from .exceptions import MetadataInconsistency, NeptuneException

if TYPE_CHECKING:
    import pandas

__all__ = ["Table", "TableEntry", "LeaderboardHandler", "AttributeType"]


class AttributeType(enum.Enum):
    """Neptune 1.x's attribute types (`neptune.internal.backends.api_model.AttributeType`)."""

    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    STRING = "string"
    DATETIME = "datetime"
    FILE = "file"
    FILE_SET = "fileSet"
    FLOAT_SERIES = "floatSeries"
    STRING_SERIES = "stringSeries"
    IMAGE_SERIES = "imageSeries"
    STRING_SET = "stringSet"
    GIT_REF = "gitRef"
    RUN_STATE = "experimentState"
    NOTEBOOK_REF = "notebookRef"
    ARTIFACT = "artifact"


# NQL types as Neptune 1.x names them: a fileRef is a `file`, a file series an `imageSeries`.
# A histogram series has no 1.x type (Neptune 1.x shows nothing for it).
_NEPTUNE_TYPES = {
    "float": AttributeType.FLOAT,
    "int": AttributeType.INT,
    "bool": AttributeType.BOOL,
    "string": AttributeType.STRING,
    "datetime": AttributeType.DATETIME,
    "experimentState": AttributeType.RUN_STATE,
    "artifact": AttributeType.ARTIFACT,
    "stringSet": AttributeType.STRING_SET,
    "floatSeries": AttributeType.FLOAT_SERIES,
    "stringSeries": AttributeType.STRING_SERIES,
    "fileRef": AttributeType.FILE,
    "fileRefSeries": AttributeType.IMAGE_SERIES,
}

# Types whose values a table leaves out (Neptune gives None for them, so to_pandas drops them).
_NO_VALUE = {"fileRef", "fileRefSeries", "histogramSeries"}

_STATES = {"active": "Active", "inactive": "Inactive", "running": "Active", "idle": "Inactive"}


def neptune_type(nql_type: str) -> Optional[AttributeType]:
    return _NEPTUNE_TYPES.get(nql_type)


def python_values(column: pa.ChunkedArray, nql_type: str) -> list:
    """A result column as Neptune's values: datetimes naive UTC, states `Active`/`Inactive`,
    sets as lists (sorted), series as their last value, everything else as it is."""
    if nql_type == "datetime":
        utc = column.cast(pa.timestamp("us", "UTC"))
        return utc.cast(pa.timestamp("us")).to_pylist()
    values = column.to_pylist()
    if nql_type == "experimentState":
        return [None if v is None else _STATES.get(v.lower(), v) for v in values]
    if nql_type == "stringSet":
        return [None if v is None else sorted(v) for v in values]
    return values


class Table:
    """The objects a fetch matched, in the fetch's order. Iterating gives `TableEntry`s;
    unlike Neptune's (a one-shot generator), a table can be iterated and converted again."""

    def __init__(self, arrow: Optional[pa.Table], columns: Sequence[Tuple[str, str, str]]):
        # columns: (result column name, path, NQL type) of every column of `arrow`.
        self._arrow = arrow if arrow is not None else pa.table({})
        self._columns = list(columns)
        self._values: Optional[List[list]] = None
        self._cursor: Optional[Iterator[TableEntry]] = None

    def _cells(self) -> List[list]:
        if self._values is None:
            self._values = [python_values(self._arrow.column(name), t) for name, _, t in self._columns]
        return self._values

    def _rows(self) -> List[dict]:
        """Per row, path -> (NQL type, value) of the attributes it has (non-null). A path with
        several types here takes its first non-null value."""
        cells = self._cells()
        rows = []
        for r in range(self._arrow.num_rows):
            row: dict = {}
            for (_, path, t), values in zip(self._columns, cells):
                v = values[r]
                if v is not None and path not in row:
                    row[path] = (t, v)
            rows.append(row)
        return rows

    def to_arrow(self) -> pa.Table:
        """The fetch's answer as the engine gave it (an nql addition)."""
        return self._arrow

    def to_rows(self) -> List["TableEntry"]:
        return list(iter(self))

    def __iter__(self) -> Iterator["TableEntry"]:
        return iter([TableEntry(row) for row in self._rows()])

    def __next__(self) -> "TableEntry":
        if self._cursor is None:
            self._cursor = iter(self)
        return next(self._cursor)

    def __len__(self) -> int:
        return self._arrow.num_rows

    def to_pandas(self) -> "pandas.DataFrame":
        """A DataFrame as Neptune 1.x makes it: one row per object (index 0..n-1), one column
        per attribute path (no type suffix) holding its value (a series' last value, a set's
        elements joined with `,`, a state as `Active`/`Inactive`, a datetime naive in UTC);
        files and file series left out; a missing value is NaN and an attribute no row has is
        no column; columns ordered `sys/*`, then the rest, then `monitoring/*`, each sorted.

        The frame equals Neptune's `DataFrame.from_dict(rows, orient="index")` (dtypes
        included); it is built column by column from the Arrow answer, which is as fast as
        `pyarrow.Table.to_pandas()` (a path with columns of two types takes, per row, the first
        value, converted through Python objects when the types differ)."""
        if self._arrow.num_rows == 0:
            return self._to_pandas_by_rows()
        import numpy as np
        import pandas as pd

        n = self._arrow.num_rows
        index = pd.Index(np.arange(n, dtype=np.int64), copy=False)
        by_path: dict = {}
        for name, path, t in self._columns:
            by_path.setdefault(path, []).append((name, t))
        columns = {}
        for path in sorted(by_path, key=_column_order):
            typed = by_path[path]
            if len(typed) == 1:
                name, t = typed[0]
                column = self._arrow.column(name)
                if t in _NO_VALUE or column.null_count == n:
                    continue
                columns[path] = _pandas_values(column, t)
            else:
                values = self._first_values(typed, index)
                if values is not None:
                    columns[path] = values
        return pd.DataFrame(columns, index=index, copy=False)

    def _first_values(self, typed, index):
        """A path with columns of several types: each row's first non-null value in the table's
        column order (a file's counts as none), as pandas infers them from the rows that have
        one and aligns them to every row (NaN elsewhere), which is what Neptune's from_dict
        does."""
        import numpy as np
        import pandas as pd

        n = len(index)
        chosen = np.full(n, -1, dtype=np.int64)
        for k, (name, _) in enumerate(typed):
            valid = self._arrow.column(name).is_valid().to_numpy(zero_copy_only=False)
            chosen[valid & (chosen == -1)] = k
        kinds = [k for k in np.unique(chosen) if k >= 0 and typed[k][1] not in _NO_VALUE]
        if not kinds:
            return None
        if len(kinds) == 1:
            # One type gives every value: that column, without the rows another type took.
            name, t = typed[kinds[0]]
            keep = pa.array(chosen == kinds[0])
            return _pandas_values(pa.compute.if_else(keep, _no_view(self._arrow.column(name)), None), t)
        rows = np.flatnonzero(np.isin(chosen, kinds))
        values = np.empty(n, dtype=object)
        for k in kinds:
            name, t = typed[k]
            where = np.flatnonzero(chosen == k)
            taken = python_values(_no_view(self._arrow.column(name)).take(pa.array(where)), t)
            if t == "stringSet":
                taken = [",".join(v) for v in taken]
            values[where] = taken
        # From a list, so that pandas infers the dtype as it does from Neptune's rows.
        return pd.Series(values[rows].tolist(), index=pd.Index(rows, dtype="int64")).reindex(index).array

    def _to_pandas_by_rows(self) -> "pandas.DataFrame":
        """Neptune's own construction: a dict per row, `DataFrame.from_dict(orient="index")`."""
        import pandas as pd

        rows = {}
        for n, row in enumerate(self._rows()):
            out = {}
            for path, (t, v) in row.items():
                if t in _NO_VALUE:
                    continue
                out[path] = ",".join(v) if t == "stringSet" else v
            rows[n] = out
        frame = pd.DataFrame.from_dict(data=rows, orient="index")
        return frame.reindex(sorted(frame.columns, key=_column_order), axis="columns")


def _no_view(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """string_view as string (pyarrow's take and if_else have no string_view kernels)."""
    return column.cast(pa.string()) if pa.types.is_string_view(column.type) else column


def _pandas_values(column: pa.ChunkedArray, nql_type: str):
    """One result column as the values pandas infers from Neptune's Python values (missing as
    NaN): int64 (float64 with NaN when some are missing), float64, bool (object with NaN when
    some are missing), pandas strings, naive datetime64[us] (UTC)."""
    import numpy as np

    if nql_type == "datetime":
        # Naive UTC in microseconds (a zone-aware timestamp's values are UTC): microseconds
        # are only relabelled, without a copy.
        naive = pa.timestamp("us")
        if column.type.unit == "us":
            column = pa.chunked_array([c.view(naive) for c in column.chunks], naive)
        else:
            column = column.cast(naive)
        return column.to_pandas().array
    if nql_type in ("stringSet", "experimentState"):
        values = python_values(column, nql_type)
        if nql_type == "stringSet":
            values = [None if v is None else ",".join(v) for v in values]
        column = pa.chunked_array([pa.array(values, pa.string())])
    if pa.types.is_boolean(column.type) and column.null_count:
        values = column.to_numpy(zero_copy_only=False)
        return np.where(pa.compute.is_null(column).to_numpy(zero_copy_only=False), np.nan, values).astype(object)
    return column.to_pandas().array


def _column_order(path: str) -> Tuple[int, str]:
    domain = path.split("/")[0]
    if domain == "sys":
        return 0, path
    if domain == "monitoring":
        return 2, path
    return 1, path


def _join(*paths: str) -> str:
    return "/".join(part for p in paths for part in str(p).split("/") if part)


class TableEntry:
    """One object of a table: `entry["path"].get()` is its value."""

    def __init__(self, attributes: dict):
        self._attributes = attributes
        self._id = attributes.get("sys/id", (None, None))[1]

    def __repr__(self) -> str:
        return f"<TableEntry {self._id}>"

    def __getitem__(self, path: str) -> "LeaderboardHandler":
        return LeaderboardHandler(table_entry=self, path=path)

    def get_attribute_type(self, path: str) -> Optional[AttributeType]:
        found = self._attributes.get(path)
        if found is None:
            raise ValueError("Could not find {} attribute".format(path))
        return neptune_type(found[0])

    def get_attribute_value(self, path: str) -> Any:
        found = self._attributes.get(path)
        if found is None:
            raise ValueError("Could not find {} attribute".format(path))
        t, v = found
        if t == "stringSet":
            return set(v)
        if t == "fileRefSeries":
            raise MetadataInconsistency("Cannot get value for image series.")
        if t == "fileRef":
            raise MetadataInconsistency("Cannot get value for file attribute. Use download() instead.")
        if t == "histogramSeries":
            return None
        return v

    def download_file_attribute(self, path: str, destination: Optional[str], progress_bar=None) -> None:
        self.get_attribute_type(path)
        raise NeptuneException("nql.neptune does not download files: an export keeps them in its files directory")

    download_file_set_attribute = download_file_attribute


class LeaderboardHandler:
    def __init__(self, table_entry: TableEntry, path: str) -> None:
        self._table_entry = table_entry
        self._path = path

    def __getitem__(self, path: str) -> "LeaderboardHandler":
        return LeaderboardHandler(table_entry=self._table_entry, path=_join(self._path, path))

    def get(self) -> Any:
        return self._table_entry.get_attribute_value(path=self._path)

    def download(self, destination: Optional[str]) -> None:
        attr_type = self._table_entry.get_attribute_type(self._path)
        if attr_type in (AttributeType.FILE, AttributeType.FILE_SET):
            return self._table_entry.download_file_attribute(self._path, destination)
        raise MetadataInconsistency("Cannot download file from attribute of type {}".format(attr_type))

