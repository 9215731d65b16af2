"""The exceptions and warnings of the `nql` package."""

from __future__ import annotations

from dataclasses import dataclass


class NqlError(Exception):
    """A query could not be answered, for a reason other than what was asked."""


class ProjectError(NqlError):
    """A project, export or store could not be opened: the message names the file and the problem."""


@dataclass(frozen=True)
class Diagnostic:
    """One problem of a query: where it is (character offsets), what it is, what to do."""

    start: int
    end: int
    message: str
    label: str
    help: str | None
    code: str


class NqlSyntaxError(NqlError, ValueError):
    """The query is not valid NQL for the table. `str(e)` and `e.render()` show it with carets
    under the query; `e.diagnostics` lists each problem with its span."""

    def __init__(self, rendered: str, query: str, diagnostics):
        super().__init__(rendered)
        self.query = query
        self.diagnostics = [Diagnostic(*d) for d in diagnostics]
        self._rendered = rendered

    def render(self) -> str:
        """Every diagnostic with carets under the query text."""
        return self._rendered


class NqlWarning(UserWarning):
    """A query is valid but probably not what was meant (an attribute no object has, ...)."""
