"""`neptune.typing` of Neptune 1.x: the progress bar callback type that the fetch methods take
(`nql.neptune` accepts it and shows no progress: answers come at once)."""

from __future__ import annotations

import abc
import contextlib
from typing import Any, Optional, Type, Union

__all__ = ["ProgressBarCallback", "ProgressBarType"]


class ProgressBarCallback(contextlib.AbstractContextManager):
    """Abstract base class for progress bar callbacks, as in Neptune; pass the class, not an
    instance, as `progress_bar`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    @abc.abstractmethod
    def update(self, *, by: int, total: Optional[int] = None) -> None:
        ...


ProgressBarType = Union[bool, Type[ProgressBarCallback]]
