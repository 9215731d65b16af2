"""`neptune_query.types`: the values a fetch returns for files and histograms (ported from
neptune-query's `types.py`, Apache-2.0)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

__all__ = ["File", "Histogram"]


@dataclass(frozen=True)
class Histogram:
    """A histogram: its type, bin edges and values."""

    type: str
    edges: List[float]
    values: List[float]


@dataclass(frozen=True)
class File:
    """A file attribute's value. An export records a file's path (relative to the export's
    files directory) but not always its size and type: those are `None` when unknown."""

    project_identifier: str
    experiment_name: Optional[str]
    run_id: Optional[str]
    attribute_path: str
    step: Optional[float]
    path: str
    size_bytes: Optional[int]
    mime_type: Optional[str]

    def __post_init__(self) -> None:
        if not (self.experiment_name or self.run_id):
            raise ValueError("Either 'experiment_name' or 'run_id' must be set for File.")
        if self.experiment_name and self.run_id:
            raise ValueError("Only one of 'experiment_name' or 'run_id' should be set for File.")

    def __repr__(self) -> str:
        size = "unknown" if self.size_bytes is None else _humanize_size(self.size_bytes)
        return f"File(size={size}, mime_type={self.mime_type})"

    @property
    def container_identifier(self) -> str:
        """The experiment's name or the run's id the file belongs to."""
        return self.experiment_name or self.run_id  # type: ignore[return-value]


def _humanize_size(size_bytes: int) -> str:
    if size_bytes < 1024:
        return f"{size_bytes} B"
    elif size_bytes < 1024**2:
        return f"{size_bytes / 1024:.2f} KB"
    elif size_bytes < 1024**3:
        return f"{size_bytes / (1024 ** 2):.2f} MB"
    else:
        return f"{size_bytes / (1024 ** 3):.2f} GB"
